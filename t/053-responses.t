#!/usr/bin/perl
# The OpenAI Responses API (POST /v1/responses) as a client dialect routed
# to Responses-dialect arms (catalog api: responses): the official SDK's
# client.responses.create(), streaming and not, and its stream helper get
# valid answers; the upstream saw the rewritten model, the arm's params
# and key; previous_response_id goes through to the upstream that stores
# answers.  Tokens, cached tokens, cost and finish in the access log equal
# what the mock sent, for JSON answers and event streams cut anywhere, and
# for clients that leave before the answer, in its middle, after its last
# item but before response.completed (which has the usage), or at its end.
# A location of another dialect refuses a Responses policy.

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

# prices per 1M tokens: fractional, so that a wrong count shows in the cost
my %PRICE = (input => 0.45, output => 1.875, cached => 0.1125);

$t->write_file('catalog.yaml', <<'YAML');
models:
  mini: {upstream: up_openai, model: gpt-4.1-mini, api: responses,
         price: {input: 0.45, output: 1.875, cached_input: 0.1125},
         headers: {Authorization: "Bearer sk-upstream"}}
policies:
  responses:
    algorithm: linucb
    arms: [{model: mini, params: {temperature: 0.3}}]
YAML

$t->write_conf(<<'CONF');
%%MODULE%%
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=1m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    upstream up_openai { server %%MOCK_OPENAI%%; keepalive 8; }
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_buffering off;

    log_format usage '$llmopt_request_id $status $llmopt_tokens_in '
                     '$llmopt_tokens_out $llmopt_tokens_cached $llmopt_cost '
                     '$llmopt_finish $llmopt_dialect $llmopt_model';
    access_log %%PREFIX%%/logs/usage.log usage;
    log_format gone escape=json '{"case":"$http_x_case","cost":"$llmopt_cost",'
        '"source":"$llmopt_cost_source","gone":"$llmopt_client_gone",'
        '"in":"$llmopt_tokens_in","out":"$llmopt_tokens_out"}';
    access_log %%PREFIX%%/logs/gone.log gone if=$http_x_case;

    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/responses {
            llmopt_route responses;
            proxy_pass http://$llmopt_upstream;
            proxy_set_header X-Request-Id $llmopt_request_id;
        }
    }
}
CONF

# a Responses policy in a chat-completions location is a config error

my ($rc, $out) = $t->nginx_t(<<'CONF');
%%MODULE%%
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=1m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    upstream up_openai { server %%MOCK_OPENAI%%; }
    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/chat/completions {
            llmopt_route responses;
            proxy_pass http://$llmopt_upstream;
        }
    }
}
CONF
isnt($rc, 0, 'nginx -t: a Responses policy in a chat location fails');
my $why = 'arm "mini" of policy "responses" speaks the responses API, '
          . 'which only the clients of a responses location can be routed '
          . 'to, and location "/v1/chat/completions" is an openai endpoint';
like($out, qr/\Q$why\E/, '... saying which API each speaks');

$t->start();
my $base = 'http://127.0.0.1:' . $t->port('main');

# --- the SDK -----------------------------------------------------------------

my ($sdk_rc, $res, $raw) = $t->run_sdk('openai-responses.mjs', "$base/v1");
is($sdk_rc, 0, 'openai SDK, responses: no error') or diag($raw);

is($res->{json}{model}, 'gpt-4.1-mini', 'json: answered by the arm');
is($res->{json}{status}, 'completed', 'json: status completed');
like($res->{json}{text} // '', qr/^Hello from/, 'json: output_text');
cmp_ok($res->{json}{usage}{input_tokens} // 0, '>', 0, 'json: usage');

is($res->{stream}{events}[0], 'response.created',
   'stream: response.created first');
is($res->{stream}{events}[-1], 'response.completed',
   'stream: response.completed last');
ok($res->{stream}{sequence_ok}, 'stream: sequence numbers count from 0');
is($res->{stream}{text}, $res->{json}{text},
   'stream: the deltas make the same text');
is($res->{stream}{model}, 'gpt-4.1-mini', 'stream: model');
is($res->{stream}{usage}{output_tokens}, 8, 'stream: usage at the end');

is($res->{helper}{text}, $res->{json}{text},
   'stream helper: its final response has the text');
is($res->{helper}{status}, 'completed', 'stream helper: status');

is($res->{previous}{status}, 400,
   'previous_response_id reaches the Responses upstream (its 400 back)');
like($res->{previous}{message} // '', qr/resp_1.*not found/,
     '... with the upstream\'s message');

my @seen = @{ $t->mock_requests('openai') };
is(scalar @seen, 4, 'four upstream requests');
for my $i (0 .. $#seen) {
    my $b = eval { decode_json($seen[$i]{body}) } // {};
    like($seen[$i]{path}, qr{^/v1/responses$}, "upstream $i: /v1/responses");
    is($b->{model}, 'gpt-4.1-mini', "upstream $i: model rewritten");
    is($b->{temperature}, 0.3, "upstream $i: arm param set");
    is($b->{instructions}, 'Be brief.', "upstream $i: body kept");
    is($seen[$i]{headers}{authorization}, 'Bearer sk-upstream',
       "upstream $i: arm key");
}
ok(!exists decode_json($seen[1]{body})->{stream_options},
   'a stream is sent as it came: the usage is in response.completed');
is(decode_json($seen[3]{body})->{previous_response_id}, 'resp_1',
   'previous_response_id passed through');

# --- clients that leave ----------------------------------------------------

my %LEAVE = (
    before => { headers => { 'X-Mock-Latency' => 400 }, until => 0.15 },
    mid    => { until => qr/"delta":"[A-Za-z]|"text":"Hello/ },
    done   => { until => qr/response\.output_item\.done/ },
    end    => { until => undef },
);
my $n = 0;
for my $stream (0, 1) {
    for my $when (qw(before mid done end)) {
        next if !$stream && $when eq 'done';
        my $case = 'c' . ++$n;
        my $what = ($stream ? 'stream' : 'json') . ", leaves $when";
        my %h = ('X-Case' => $case, 'X-Mock-Tokens' => 120,
                 'X-Mock-Chunk-Delay' => 5,
                 %{ $LEAVE{$when}{headers} // {} });
        $h{'X-Mock-Split'} = 8 unless $stream;
        my %body = (model => 'auto', input => 'Tell me about the sea.');
        $body{stream} = JSON::PP::true if $stream;

        my $got = $t->leave('/v1/responses', encode_json(\%body),
                            $LEAVE{$when}{until}, %h);
        my $whole = $stream ? $got =~ /response\.completed/
                            : $got =~ /"total_tokens":\d+\}/;

        my $line;
        Llmopt::Test::wait_for(sub {
            ($line) = grep { $_->{case} eq $case }
                      map { decode_json($_) } $t->read_lines('logs/gone.log');
            defined $line }, 15);
        ok($line, "$what: logged") or next;
        my ($up) = grep { ($_->{headers}{'x-case'} // '') eq $case }
                   @{ $t->mock_requests('openai') };

        if ($when eq 'before') {
            is($line->{gone}, 'before', "$what: gone before");
            like($line->{source}, qr/^(estimate|none)$/,
                 "$what: the prompt's estimate, or nothing if not sent");
            next;
        }

        ok($up && $up->{usage}, "$what: the mock answered") or next;
        is($line->{source}, 'usage', "$what: charged by the usage");
        is("$line->{in}/$line->{out}",
           "$up->{usage}{input}/$up->{usage}{output}",
           "$what: the mock's tokens");
        my $cost = (($up->{usage}{input} - $up->{usage}{cached})
                    * $PRICE{input} + $up->{usage}{output} * $PRICE{output})
                   / 1e6;
        ok(abs($line->{cost} - $cost) < 1e-12, "$what: cost $line->{cost}");
        is($line->{gone}, ($when eq 'end' || $whole) ? '' : 'during',
           "$what: client_gone");
        # 120 words still to come: it did leave early
        ok(!$whole, "$what: it left before the end") if $when eq 'mid';
    }
}

# --- exact usage, JSON and streams, cut anywhere ------------------------------

$t->mock_reset('openai');

my %sent;
my $i = 0;
for my $mode ('json', 'sse') {
    for my $split (0, 5, 37) {
        for my $case (0 .. 2) {
            my $tokens = 1 + ($i * 7) % 30;
            my %body = (model => 'auto',
                        input => "question $i about nginx maps");
            $body{stream} = JSON::PP::true if $mode eq 'sse';
            my %h = ('Content-Type' => 'application/json',
                     'X-Mock-Tokens' => $tokens, 'X-Mock-Split' => $split);
            $h{'X-Mock-Cached'} = 3 + $i if $case == 1;
            $h{'X-Mock-Finish'} = 'length' if $case == 2;

            my $r = $t->http('POST', '/v1/responses', headers => \%h,
                             body => encode_json(\%body));
            is($r->{status}, 200, "$mode split $split case $case answered");
            my $id = $r->{headers}{'x-llmopt-request-id'} // "none-$i";
            $sent{$id} = { i => $i, mode => $mode, case => $case };
            $i++;
        }
    }
}

$t->stop();

my %upstream;
for my $req (@{ $t->mock_requests('openai') }) {
    my $id = $req->{headers}{'x-request-id'} // next;
    $upstream{$id} = $req;
}

my %log;
for my $line ($t->read_lines('logs/usage.log')) {
    my @f = split / /, $line;
    $log{ $f[0] } = { status => $f[1], in => $f[2], out => $f[3],
                      cached => $f[4], cost => $f[5], finish => $f[6],
                      dialect => $f[7], model => $f[8] };
}

for my $id (sort { $sent{$a}{i} <=> $sent{$b}{i} } keys %sent) {
    my $s = $sent{$id};
    my $u = $upstream{$id};
    my $l = $log{$id};

    unless ($u && $u->{usage} && $l) {
        fail("request $s->{i} ($s->{mode}): found upstream and in the log");
        next;
    }

    my $usage = $u->{usage};
    my $cost = (($usage->{input} - $usage->{cached}) * $PRICE{input}
                + $usage->{cached} * $PRICE{cached}
                + $usage->{output} * $PRICE{output}) / 1e6;

    my $ok = $l->{in} eq $usage->{input} && $l->{out} eq $usage->{output}
             && $l->{cached} eq $usage->{cached}
             && abs($l->{cost} - $cost) < 1e-12
             && $l->{finish} eq $usage->{finish}
             && $l->{dialect} eq 'responses' && $l->{model} eq 'gpt-4.1-mini';
    ok($ok, "request $s->{i} ($s->{mode}, case $s->{case}): tokens "
            . "$l->{in}/$l->{out} cached $l->{cached}, cost $l->{cost}, "
            . "finish $l->{finish}")
        or diag(explain({ log => $l, upstream => $usage,
                          cost => sprintf('%.12f', $cost) }));
}

$t->done();
done_testing();
