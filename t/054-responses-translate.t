#!/usr/bin/perl
# The OpenAI Responses API translated: the official SDK's
# client.responses.create() (streaming and not) and responses.stream()
# against nginx, routed to a chat-completions mock and to an Anthropic one.
# The SDK gets the response object and the response.* events, its stream
# helper the whole text; previous_response_id is a 400 naming it; the
# upstream gets its own dialect's path and body; tokens and cost in the
# access log are the mock's usage exactly.  An answer of 6,000 words,
# whose .done events repeat 40 KB, goes through whole.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

ok(-d "$FindBin::Bin/sdk/node_modules/openai",
   'openai is installed (scripts/setup)')
    or BAIL_OUT('the SDKs are missing: run scripts/setup');

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
                     '$llmopt_tokens_out $llmopt_cost $llmopt_arm '
                     '$llmopt_dialect';
    access_log %%PREFIX%%/logs/usage.log usage;

    upstream up_openai { server %%MOCK_OPENAI%%; keepalive 8; }
    upstream up_anthropic { server %%MOCK_ANTHROPIC%%; keepalive 8; }
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header X-Request-Id $llmopt_request_id;
    proxy_buffering off;

    server {
        listen 127.0.0.1:%%PORT%%;
        location /oa/v1/responses {
            llmopt_route to_openai;
            proxy_pass http://$llmopt_upstream;
        }
        location /an/v1/responses {
            llmopt_route to_anthropic;
            proxy_pass http://$llmopt_upstream;
        }
    }
}
CONF

$t->start();
my $base = 'http://127.0.0.1:' . $t->port('main');

my %MOCK = (oa => 'openai', an => 'anthropic');
my %PATH = (oa => '/oa/v1/chat/completions', an => '/an/v1/messages');
my %MODEL = (oa => 'gpt-x', an => 'claude-x');

for my $to ('oa', 'an') {
    my ($rc, $res, $raw) = $t->run_sdk('openai-responses.mjs',
                                       "$base/$to/v1");
    is($rc, 0, "$to: the SDK ran without error") or diag($raw);

    is($res->{json}{model}, $MODEL{$to}, "$to json: the arm's model");
    is($res->{json}{status}, 'completed', "$to json: completed");
    like($res->{json}{text} // '', qr/^Hello from the mock/,
         "$to json: output_text");
    cmp_ok($res->{json}{usage}{output_tokens} // 0, '==', 8,
           "$to json: usage in the Responses shape");
    cmp_ok($res->{json}{usage}{input_tokens} // 0, '>', 0,
           "$to json: input tokens");

    is($res->{stream}{events}[0], 'response.created',
       "$to stream: response.created first");
    is($res->{stream}{events}[-1], 'response.completed',
       "$to stream: response.completed last");
    ok($res->{stream}{sequence_ok}, "$to stream: sequence numbers count");
    is($res->{stream}{text}, $res->{json}{text},
       "$to stream: the deltas make the text");
    is($res->{stream}{usage}{output_tokens}, 8, "$to stream: usage");

    is($res->{helper}{text}, $res->{json}{text},
       "$to stream helper: the final response has the text");

    is($res->{previous}{status}, 400, "$to: previous_response_id is a 400");
    like($res->{previous}{message} // '', qr/previous_response_id/,
         "$to: ... naming the field");

    my @seen = @{ $t->mock_requests($MOCK{$to}) };
    is(scalar @seen, 3, "$to: three upstream requests (none for the 400)");
    for my $i (0 .. $#seen) {
        my $b = eval { decode_json($seen[$i]{body}) } // {};
        is($seen[$i]{path}, $PATH{$to}, "$to upstream $i: its own path");
        is($b->{model}, $MODEL{$to}, "$to upstream $i: model");
        if ($to eq 'oa') {
            is($b->{messages}[0]{role}, 'system',
               "$to upstream $i: instructions as a system message");
        } else {
            is($b->{system}, 'Be brief.', "$to upstream $i: system");
        }
    }
}

# a long answer: the .done events and response.completed repeat 40 KB

for my $to ('oa', 'an') {
    my $r = $t->http('POST', "/$to/v1/responses",
        headers => { 'Content-Type' => 'application/json',
                     'X-Mock-Tokens' => 6000 },
        body => encode_json({ model => 'auto', input => 'Talk.',
                              stream => JSON::PP::true }));
    is($r->{status}, 200, "$to long: answered");

    my ($deltas, $done, $completed) = ('', undef, undef);
    for my $ev (split /\n\n/, $r->{body}) {
        my ($data) = $ev =~ /^data: (.*)$/m or next;
        my $d = eval { decode_json($data) } or next;
        $deltas .= $d->{delta} if $d->{type} eq 'response.output_text.delta';
        $done = $d->{text} if $d->{type} eq 'response.output_text.done';
        $completed = $d->{response} if $d->{type} eq 'response.completed';
    }
    my @words = split / /, $deltas;
    is(scalar @words, 6000, "$to long: 6000 words in the deltas");
    is($done, $deltas, "$to long: output_text.done repeats them");
    is($completed && $completed->{output}[0]{content}[0]{text}, $deltas,
       "$to long: response.completed lists them");
    is($completed && $completed->{usage}{output_tokens}, 6000,
       "$to long: and the usage");
}

$t->stop();

# the access log: the mock's usage at the catalog's prices

my %upstream;
for my $m ('openai', 'anthropic') {
    for my $req (@{ $t->mock_requests($m) }) {
        my $id = $req->{headers}{'x-request-id'} // next;
        $upstream{$id} = $req;
    }
}

my $lines = 0;
for my $line ($t->read_lines('logs/usage.log')) {
    my ($id, $status, $in, $out, $cost, $arm, $dialect) = split / /, $line;
    next unless $status eq '200';
    my $u = $upstream{$id} or next;
    $lines++;
    my $want = ($u->{usage}{input} * $PRICE{$arm}[0]
                + $u->{usage}{output} * $PRICE{$arm}[1]) / 1e6;
    ok($in == $u->{usage}{input} && $out == $u->{usage}{output}
       && abs($cost - $want) < 1e-12 && $dialect eq 'responses',
       "log $arm: $in/$out tokens, cost $cost, client $dialect");
}
is($lines, 8, 'eight answered requests logged with the mock\'s usage');

$t->done();
done_testing();
