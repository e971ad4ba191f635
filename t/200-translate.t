#!/usr/bin/perl
# Translation, end to end: the official SDKs (t/sdk/translate.mjs) against
# nginx, each routed to a mock of the other dialect and to one of its own:
# plain, streaming, system prompts, images, stop sequences, JSON output, a
# tool call and its result, a streamed tool call, errors of the upstream
# (4xx, 429, 5xx, 529) as the SDK's own error types, and broken upstream
# streams as an error event the SDK raises.  The upstream gets its own
# dialect's path, body and credential header; cost and tokens in the
# access log are the mock's usage exactly, streams included.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

$t->start_mock('openai');
$t->start_mock('anthropic');

my %PRICE = (gpt => [2, 8], claude => [3, 15]);

$t->write_file('catalog.yaml', <<'YAML');
models:
  gpt: {upstream: up_openai, model: gpt-x, api: openai,
        price: {input: 2, output: 8}}
  claude: {upstream: up_anthropic, model: claude-x, max_tokens: 300,
           price: {input: 3, output: 15}}
policies:
  to_openai: {algorithm: static, arms: [gpt]}
  to_anthropic: {algorithm: static, arms: [claude]}
YAML

$t->write_conf(<<'CONF');
%%MODULE%%
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=1m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;

    log_format usage '$llmopt_request_id $status $llmopt_tokens_in '
                     '$llmopt_tokens_out $llmopt_tokens_cached $llmopt_cost '
                     '$llmopt_arm';
    access_log %%PREFIX%%/logs/usage.log usage;

    upstream up_openai { server %%MOCK_OPENAI%%; keepalive 8; }
    upstream up_anthropic { server %%MOCK_ANTHROPIC%%; keepalive 8; }
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header X-Request-Id $llmopt_request_id;
    proxy_buffering off;

    server {
        listen 127.0.0.1:%%PORT%%;

        # each client to the other dialect
        location /v1/chat/completions {
            llmopt_route to_anthropic;
            proxy_pass http://$llmopt_upstream;
        }
        location /v1/messages {
            llmopt_route to_openai;
            proxy_pass http://$llmopt_upstream;
        }

        # and to its own
        location /own/v1/chat/completions {
            llmopt_route to_openai;
            proxy_pass http://$llmopt_upstream;
        }
        location /own/v1/messages {
            llmopt_route to_anthropic;
            proxy_pass http://$llmopt_upstream;
        }
    }
}
CONF

$t->start();
my $base = 'http://127.0.0.1:' . $t->port('main');

sub args_of {
    my ($json) = @_;
    return eval { decode_json($json // '') } // {};
}

# --- the OpenAI SDK ---------------------------------------------------------

for my $run (['anthropic', $base], ['openai', "$base/own"]) {
    my ($up, $url) = @$run;
    my $x = $up eq 'anthropic';
    my $w = "openai SDK to $up";

    my ($rc, $o, $raw) = $t->run_sdk('translate.mjs', 'openai', $url);
    is($rc, 0, "$w: no SDK error") or diag($raw);
    $o //= {};

    is($o->{plain}{object}, 'chat.completion', "$w: plain: a completion");
    like($o->{plain}{id} // '', qr/\S/, "$w: plain: an id");
    is($o->{plain}{model}, $x ? 'claude-x' : 'gpt-x', "$w: plain: model");
    like($o->{plain}{text} // '', qr/^saw 0 images/, "$w: plain: text");
    is($o->{plain}{finish_reason}, 'stop', "$w: plain: finish_reason");
    cmp_ok($o->{plain}{usage}{prompt_tokens} // 0, '>', 0,
           "$w: plain: prompt_tokens");
    is($o->{plain}{usage}{completion_tokens}, 8, "$w: plain: "
       . "completion_tokens");
    is($o->{plain}{usage}{total_tokens},
       ($o->{plain}{usage}{prompt_tokens} // 0) + 8, "$w: plain: total");

    like($o->{stream}{text} // '', qr/^saw 0 images; system none/,
         "$w: stream: text");
    is($o->{stream}{finish_reason}, 'stop', "$w: stream: finish_reason");
    is($o->{stream}{usage}, undef, "$w: stream: no usage chunk unasked");
    is($o->{stream_usage}{usage}{completion_tokens}, 8,
       "$w: stream with include_usage: the usage chunk");

    like($o->{system}{text} // '', qr/system Be brief\./,
         "$w: system prompt reached the model");
    like($o->{image}{text} // '', qr/^saw 1 images/,
         "$w: the image reached the model");
    is($o->{stop}{finish_reason}, 'stop', "$w: stop: finish_reason");
    is(args_of($o->{json}{text})->{answer}, 'mock', "$w: JSON output");
    is($o->{json}{finish_reason}, 'stop', "$w: JSON output: finish_reason");

    my $call = ($o->{tool}{tool_calls} // [])->[0] // {};
    is($o->{tool}{finish_reason}, 'tool_calls', "$w: tool: finish_reason");
    is($call->{type}, 'function', "$w: tool: a function call");
    is($call->{function}{name}, 'get_weather', "$w: tool: its name");
    is(args_of($call->{function}{arguments})->{q}, 'mock',
       "$w: tool: its arguments");
    like($call->{id} // '', qr/\S/, "$w: tool: its id");
    like($o->{tool_result}{text} // '', qr/tool result sunny$/,
         "$w: tool result: the model got it");
    is($o->{tool_result}{finish_reason}, 'stop',
       "$w: tool result: finish_reason");

    my $sc = ($o->{tool_stream}{tool_calls} // {})->{0} // {};
    is($sc->{name}, 'get_weather', "$w: streamed tool call: name");
    is(args_of($sc->{arguments})->{q}, 'mock',
       "$w: streamed tool call: arguments from their deltas");
    is($o->{tool_stream}{finish_reason}, 'tool_calls',
       "$w: streamed tool call: finish_reason");

    for my $e (['400', 'BadRequestError', 400],
               ['429', 'RateLimitError', 429],
               ['500', 'InternalServerError', 500],
               ['529', 'InternalServerError', $x ? 503 : 529])
    {
        my ($s, $name, $status) = @$e;
        is($o->{"error_$s"}{name}, $name, "$w: upstream $s: $name");
        is($o->{"error_$s"}{status}, $status, "$w: upstream $s: status "
           . $status);
    }
    is($o->{error_429}{type}, 'rate_limit_exceeded', "$w: 429: its type")
        if $x;

    next unless $x;

    for my $bad ('truncate', 'unknown', 'badjson') {
        isnt($o->{"bad_$bad"}{name} // 'none', 'none',
             "$w: a $bad upstream stream: the SDK raises an error");
        like($o->{"bad_$bad"}{message} // '', qr/upstream|event|JSON/i,
             "$w: a $bad upstream stream: saying why");
    }
}

# --- the Anthropic SDK ------------------------------------------------------

for my $run (['openai', $base], ['anthropic', "$base/own"]) {
    my ($up, $url) = @$run;
    my $x = $up eq 'openai';
    my $w = "anthropic SDK to $up";

    my ($rc, $o, $raw) = $t->run_sdk('translate.mjs', 'anthropic', $url);
    is($rc, 0, "$w: no SDK error") or diag($raw);
    $o //= {};

    is($o->{plain}{type}, 'message', "$w: plain: a message");
    is($o->{plain}{role}, 'assistant', "$w: plain: role");
    is($o->{plain}{model}, $x ? 'gpt-x' : 'claude-x', "$w: plain: model");
    like($o->{plain}{text} // '', qr/^saw 0 images/, "$w: plain: text");
    is($o->{plain}{stop_reason}, 'end_turn', "$w: plain: stop_reason");
    cmp_ok($o->{plain}{usage}{input_tokens} // 0, '>', 0,
           "$w: plain: input_tokens");
    is($o->{plain}{usage}{output_tokens}, 8, "$w: plain: output_tokens");

    like($o->{stream}{text} // '', qr/^saw 0 images; system none/,
         "$w: stream: text");
    is($o->{stream}{stop_reason}, 'end_turn', "$w: stream: stop_reason");
    is($o->{stream}{usage}{output_tokens}, 8, "$w: stream: output_tokens");
    cmp_ok($o->{stream}{usage}{input_tokens} // 0, '>', 0,
           "$w: stream: input_tokens");
    is(($o->{stream}{events} // [])->[0], 'message_start',
       "$w: stream: message_start first");
    is(($o->{stream}{events} // [])->[-1], 'message_stop',
       "$w: stream: message_stop last");

    like($o->{system}{text} // '', qr/system Be brief\./,
         "$w: system prompt reached the model");
    like($o->{image}{text} // '', qr/^saw 1 images/,
         "$w: the image reached the model");
    is($o->{stop}{stop_reason}, $x ? 'end_turn' : 'stop_sequence',
       "$w: stop sequences: stop_reason");

    my $json = ($o->{json}{tool_use} // [])->[0] // {};
    is($json->{name}, 'answer', "$w: JSON output: the forced tool");
    is($o->{json}{stop_reason}, 'tool_use', "$w: JSON output: stop_reason");
    ok(ref $json->{input} eq 'HASH', "$w: JSON output: its input");

    my $use = ($o->{tool}{tool_use} // [])->[0] // {};
    is($o->{tool}{stop_reason}, 'tool_use', "$w: tool: stop_reason");
    is($use->{name}, 'get_weather', "$w: tool: its name");
    is($use->{input}{q}, 'mock', "$w: tool: its input");
    like($use->{id} // '', qr/\S/, "$w: tool: its id");
    like($o->{tool_result}{text} // '', qr/tool result sunny$/,
         "$w: tool result: the model got it");
    is($o->{tool_result}{stop_reason}, 'end_turn',
       "$w: tool result: stop_reason");

    is(($o->{tool_stream}{tool} // {})->{name}, 'get_weather',
       "$w: streamed tool call: name");
    is(args_of($o->{tool_stream}{json})->{q}, 'mock',
       "$w: streamed tool call: input from input_json_delta");
    is($o->{tool_stream}{stop_reason}, 'tool_use',
       "$w: streamed tool call: stop_reason");

    for my $e (['400', 'BadRequestError', 400],
               ['429', 'RateLimitError', 429],
               ['500', 'InternalServerError', 500])
    {
        my ($s, $name, $status) = @$e;
        is($o->{"error_$s"}{name}, $name, "$w: upstream $s: $name");
        is($o->{"error_$s"}{status}, $status, "$w: upstream $s: status");
    }
    is($o->{error_429}{type}, 'rate_limit_error', "$w: 429: its type");
    is($o->{error_529}{status}, 529, "$w: upstream 529: status");
    like($o->{error_529}{name} // '', qr/Error$/, "$w: upstream 529: an "
         . "SDK error ($o->{error_529}{name})");

    next unless $x;

    for my $bad ('truncate', 'unknown', 'badjson') {
        isnt($o->{"bad_$bad"}{name} // 'none', 'none',
             "$w: a $bad upstream stream: the SDK raises an error");
        like($o->{"bad_$bad"}{message} // '', qr/upstream|event|JSON/i,
             "$w: a $bad upstream stream: saying why");
    }
}

# --- what the upstreams got -------------------------------------------------

my @an = @{ $t->mock_requests('anthropic') };
my @oa = @{ $t->mock_requests('openai') };

my @from_openai = grep { ($_->{headers}{'user-agent'} // '') =~ /^OpenAI/ }
                  @an;
my @from_anthropic = grep {
    ($_->{headers}{'user-agent'} // '') =~ /^Anthropic/ } @oa;

cmp_ok(scalar @from_openai, '>=', 15, 'the anthropic mock got the openai '
       . 'SDK\'s requests');
cmp_ok(scalar @from_anthropic, '>=', 15, 'the openai mock got the '
       . 'anthropic SDK\'s requests');

is(scalar(grep { $_->{path} ne '/v1/messages' } @from_openai), 0,
   'translated to anthropic: path /v1/messages');
is(scalar(grep { $_->{path} ne '/v1/chat/completions' } @from_anthropic), 0,
   'translated to openai: path /v1/chat/completions');
is(scalar(grep { ($_->{headers}{'x-api-key'} // '') ne 'sk-client-side'
                 || defined $_->{headers}{authorization}
                 || ($_->{headers}{'anthropic-version'} // '') eq '' }
          @from_openai), 0,
   'translated to anthropic: the client\'s key as x-api-key, an '
   . 'anthropic-version');
is(scalar(grep { ($_->{headers}{authorization} // '')
                     ne 'Bearer sk-ant-client-side'
                 || defined $_->{headers}{'x-api-key'}
                 || defined $_->{headers}{'anthropic-version'} }
          @from_anthropic), 0,
   'translated to openai: the key as Authorization: Bearer, no '
   . 'anthropic-* header');

my @bodies = map { args_of($_->{body}) } @from_openai;
is(scalar(grep { ($_->{model} // '') ne 'claude-x' } @bodies), 0,
   'translated to anthropic: the arm\'s model');
is(scalar(grep { ($_->{max_tokens} // 0) != 300
                 && ($_->{max_tokens} // 0) != 50 } @bodies), 0,
   'translated to anthropic: the catalog\'s max_tokens, or the client\'s');
ok((grep { ($_->{system} // '') eq 'Be brief.' } @bodies),
   'translated to anthropic: a top-level system');
ok((grep { ref $_->{messages}[0]{content} eq 'ARRAY'
           && grep { $_->{type} eq 'image'
                     && $_->{source}{type} eq 'base64'
                     && $_->{source}{media_type} eq 'image/png' }
                   @{ $_->{messages}[0]{content} } } @bodies),
   'translated to anthropic: an image block');
ok((grep { ref $_->{stop_sequences} eq 'ARRAY'
           && $_->{stop_sequences}[0] eq 'END' } @bodies),
   'translated to anthropic: stop_sequences');
ok((grep { ($_->{tool_choice}{type} // '') eq 'tool'
           && ($_->{tool_choice}{name} // '') eq 'answer' } @bodies),
   'translated to anthropic: JSON output as a forced tool');
ok((grep { my $m = $_->{messages}; ref $m eq 'ARRAY' && @$m == 3
           && ref $m->[2]{content} eq 'ARRAY'
           && ($m->[2]{content}[0]{type} // '') eq 'tool_result' } @bodies),
   'translated to anthropic: the tool result as a tool_result block');

@bodies = map { args_of($_->{body}) } @from_anthropic;
is(scalar(grep { ($_->{model} // '') ne 'gpt-x' } @bodies), 0,
   'translated to openai: the arm\'s model');
ok((grep { ($_->{messages}[0]{role} // '') eq 'system' } @bodies),
   'translated to openai: a system message');
ok((grep { ref $_->{messages}[0]{content} eq 'ARRAY'
           && grep { $_->{type} eq 'image_url'
                     && $_->{image_url}{url} =~ /^data:image\/png;base64,/ }
                   @{ $_->{messages}[0]{content} } } @bodies),
   'translated to openai: an image_url part');
ok((grep { ($_->{messages}[-1]{role} // '') eq 'tool' } @bodies),
   'translated to openai: the tool result as a tool message');
is(scalar(grep { $_->{stream} && !$_->{stream_options}{include_usage} }
          @bodies), 0,
   'translated to openai: every stream asks for its usage');

# --- cost and tokens: the mock's usage, exactly -----------------------------

Llmopt::Test::wait_for(sub { scalar($t->read_lines('logs/usage.log'))
                   >= @an + @oa });

my %log;
for my $line ($t->read_lines('logs/usage.log')) {
    my @f = split / /, $line;
    $log{ $f[0] } = { status => $f[1], in => $f[2], out => $f[3],
                      cached => $f[4], cost => $f[5], arm => $f[6] };
}

my ($checked, $streams, @wrong) = (0, 0);
for my $rec (@an, @oa) {
    next unless $rec->{usage} && ($rec->{status} // 0) == 200
                && !defined $rec->{headers}{'x-mock-bad'};
    my $id = $rec->{headers}{'x-request-id'} // '';
    my $l = $log{$id};
    my $u = $rec->{usage};
    my $p = $PRICE{ $l ? $l->{arm} : 'gpt' };
    my $cost = ($u->{input} * $p->[0] + $u->{output} * $p->[1]) / 1e6;
    $checked++;
    $streams++ if args_of($rec->{body})->{stream};
    push @wrong, "$id: log " . encode_json($l // {}) . " mock "
                 . encode_json($u)
        unless $l && $l->{in} == $u->{input} && $l->{out} == $u->{output}
               && abs($l->{cost} - $cost) < 1e-12;
}
cmp_ok($checked, '>=', 38, "$checked answers checked, $streams streams");
is(scalar @wrong, 0, 'tokens and cost in the access log are the mock\'s '
   . 'usage, translated or not') or diag(join("\n", @wrong[0 .. 4]));

$t->done();
done_testing();
