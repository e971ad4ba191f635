#!/usr/bin/perl
# Logs and traces: the README's JSON log_format gives lines that parse as
# JSON with every llmopt field, $request_id as the correlation id; W3C
# traceparent passes through to the upstream, or is made when absent with
# llmopt_trace on, and $llmopt_trace_id shows its trace-id.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

$t->start_mock('openai');

$t->write_file('catalog.yaml', <<'YAML');
models:
  a: {upstream: up_openai, model: model-a, price: {input: 1, output: 2}}
policies:
  chat:
    algorithm: linucb
    arms: [a]
    features: [bias, input_tokens, has_code]
YAML

$t->write_conf(<<'CONF');
%%MODULE%%
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=1m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;

    log_format llmopt_json escape=json '{'
        '"time":"$time_iso8601","request_id":"$request_id",'
        '"status":$status,"policy":"$llmopt_policy","arm":"$llmopt_arm",'
        '"model":"$llmopt_model","reason":"$llmopt_reason",'
        '"explore":"$llmopt_explore","propensity":"$llmopt_propensity",'
        '"decision_us":"$llmopt_decision_us",'
        '"tokens_in":"$llmopt_tokens_in","tokens_out":"$llmopt_tokens_out",'
        '"cost":"$llmopt_cost","reward":"$llmopt_reward",'
        '"ttft_ms":"$llmopt_ttft_ms","finish":"$llmopt_finish",'
        '"llmopt_id":"$llmopt_request_id","trace_id":"$llmopt_trace_id",'
        '"features":"$llmopt_features"}';
    access_log %%PREFIX%%/logs/llmopt.json llmopt_json;

    upstream up_openai { server %%MOCK_OPENAI%%; }

    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/chat/completions {
            llmopt_route chat;
            proxy_pass http://$llmopt_upstream;
            proxy_set_header X-Nginx-Request-Id $request_id;
        }
        location /traced/v1/chat/completions {
            llmopt_route chat;
            llmopt_trace on;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
        }
    }
}
CONF

$t->start();

sub ask {
    my ($path, %h) = @_;
    return $t->http('POST', $path,
                    headers => { 'Content-Type' => 'application/json', %h },
                    body => '{"messages":[{"role":"user","content":'
                            . '"say \"hi\"\n```c\nint x;\n```"}]}');
}

my $parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

my $r1 = ask('/v1/chat/completions');
my $m1 = $t->mock_last('openai');
my $r2 = ask('/v1/chat/completions', traceparent => $parent);
my $m2 = $t->mock_last('openai');
my $r3 = ask('/traced/v1/chat/completions');
my $m3 = $t->mock_last('openai');
my $r4 = ask('/traced/v1/chat/completions', traceparent => $parent);
my $m4 = $t->mock_last('openai');
my $r5 = ask('/traced/v1/chat/completions', traceparent => '00-zz-bad');
my $m5 = $t->mock_last('openai');
my $bad = $t->http('POST', '/v1/chat/completions',
                   headers => { 'Content-Type' => 'application/json' },
                   body => '{"messages": 1}');

is($_->{status}, 200, 'routed') for $r1, $r2, $r3, $r4, $r5;
is($bad->{status}, 400, 'a bad request');

# traces

ok(!exists $m1->{headers}{traceparent}, 'no traceparent, tracing off: none'
                                        . ' upstream');
is($m2->{headers}{traceparent}, $parent, "the client's traceparent passes"
                                         . ' through');
like($m3->{headers}{traceparent}, qr/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/,
     'llmopt_trace on: a traceparent is made when absent');
is($m4->{headers}{traceparent}, $parent, '... and a valid one is kept');
like($m5->{headers}{traceparent}, qr/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/,
     '... and a malformed one replaced');
isnt(substr($m3->{headers}{traceparent}, 3, 32),
     substr($m5->{headers}{traceparent}, 3, 32), '... with a new trace-id');

$t->stop();

# the log: one JSON object a line

my @lines = $t->read_lines('logs/llmopt.json');
is(scalar @lines, 6, 'six log lines');

my @rec;
for my $line (@lines) {
    my $j = eval { decode_json($line) };
    ok($j, 'the line parses as JSON') or diag($line);
    push @rec, $j // {};
}

my $j = $rec[0];
like($j->{request_id}, qr/^[0-9a-f]{32}$/, '$request_id, the correlation id');
is($j->{request_id}, $m1->{headers}{'x-nginx-request-id'},
   '... the one the upstream got');
is($j->{llmopt_id}, $r1->{headers}{'x-llmopt-request-id'},
   '$llmopt_request_id is the X-LLMOpt-Request-Id of the answer');
is($j->{status}, 200, 'status is a number');
is($j->{policy}, 'chat', 'policy');
is($j->{arm}, 'a', 'arm');
is($j->{model}, 'model-a', 'model');
is($j->{reason}, 'exploit', 'reason');
like($j->{decision_us}, qr/^\d+\.\d{3}$/, 'decision_us');
like($j->{tokens_in}, qr/^\d+$/, 'tokens_in');
is($j->{tokens_out}, 8, 'tokens_out');
like($j->{cost}, qr/^0\.\d{12}$/, 'cost');
like($j->{reward}, qr/^[01]\.\d{4}$/, 'reward');
is($j->{finish}, 'stop', 'finish');
is($j->{trace_id}, '', 'no trace: empty');

my $f = eval { decode_json($j->{features}) };
ok($f && $f->{bias} == 1 && $f->{has_code} == 1,
   'features: JSON inside the JSON string, has_code 1')
    or diag($j->{features});

is($rec[1]{trace_id}, '4bf92f3577b34da6a3ce929d0e0e4736',
   "\$llmopt_trace_id: the client's trace-id");
is($rec[2]{trace_id}, substr($m3->{headers}{traceparent}, 3, 32),
   '$llmopt_trace_id: the one made');

is($rec[5]{status}, 400, 'the rejected request is logged');
is($rec[5]{policy}, '', '... without llmopt fields');

$t->done();
done_testing();
