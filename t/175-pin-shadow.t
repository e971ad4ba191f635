#!/usr/bin/perl
# Pinning and shadow mode.
#   - llmopt_pin_header: where configured, a request naming an arm in that
#     header is sent to it (if it fits), the header goes no further, and the
#     status counts it; elsewhere the header means nothing.
#   - llmopt_shadow on: the policy decides and counts ($llmopt_shadow_arm,
#     "shadow" per arm), but the request goes to the default arm with the
#     client's body untouched.

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
  a: {upstream: up_openai, model: model-a, price: {input: 1, output: 1}}
  b: {upstream: up_openai, model: model-b, price: {input: 1, output: 1}}
policies:
  chat:
    algorithm: static
    arms:
      - {model: a, weight: 1}
      - {model: b, weight: 0}
    fallback: a
  ab:
    algorithm: static
    arms:
      - {model: a, weight: 1}
      - {model: b, weight: 1}
    reward: {quality: 1, cost: 0, latency: 0}
  split:
    algorithm: static
    arms:
      - {model: a, weight: 0}
      - {model: b, weight: 1}
    fallback: a
YAML

$t->write_conf(<<'CONF');
%%MODULE%%
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=1m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    upstream up_openai { server %%MOCK_OPENAI%%; }

    server {
        listen 127.0.0.1:%%PORT%%;
        location /pin/ {
            llmopt_route chat;
            llmopt_pin_header X-LLMOpt-Arm;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
            add_header X-Arm $llmopt_arm always;
            add_header X-Reason $llmopt_reason always;
        }
        location /ab/ {
            llmopt_route ab;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
        }
        location /nopin/ {
            llmopt_route chat;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
            add_header X-Arm $llmopt_arm always;
        }
        location /shadow/ {
            llmopt_route split;
            llmopt_shadow on;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
            add_header X-Arm $llmopt_arm always;
            add_header X-Shadow $llmopt_shadow_arm always;
            add_header X-Reason $llmopt_reason always;
        }
        location = /status { llmopt_status; }
    }
}
CONF

$t->start();

my $body = '{"model":"client-model","messages":[{"role":"user","content":"hi"}]}';

sub ask {
    my ($path, %h) = @_;
    return $t->http('POST', "${path}v1/chat/completions", body => $body,
                    headers => { 'Content-Type' => 'application/json', %h });
}

# pinning

my $r = ask('/pin/', 'X-LLMOpt-Arm' => 'b');
is($r->{headers}{"x-arm"}, "b", "pinned to b (the policy would choose a)");
is($r->{headers}{'x-reason'}, 'pinned', '$llmopt_reason is pinned');
my $seen = $t->mock_last('openai');
is(eval { decode_json($seen->{body})->{model} }, "model-b", "b's model upstream");
ok(!exists $seen->{headers}{'x-llmopt-arm'}, 'the pin header went no further');

$r = ask('/pin/', 'X-LLMOpt-Arm' => 'nosuch');
is($r->{headers}{'x-arm'}, 'a', 'an unknown arm: the policy chooses');

$r = ask('/nopin/', 'X-LLMOpt-Arm' => 'b');
is($r->{headers}{'x-arm'}, 'a', 'where not configured, the header is ignored');

is(decode_json($t->http('GET', '/status')->{body})->{policies}{chat}{pinned},
   1, 'status counts the pinned request');

# shadow mode

for (1 .. 5) {
    $r = ask('/shadow/');
    is($r->{headers}{'x-arm'}, 'a', 'shadow: served by the default arm');
    is($r->{headers}{'x-shadow'}, 'b', '... the policy\'s choice was b');
    is($r->{headers}{'x-reason'}, 'shadow', '... reason shadow');
    $seen = $t->mock_last('openai');
    is($seen->{body}, $body, '... the client\'s body, untouched');
}

my $s = decode_json($t->http('GET', '/status')->{body})->{policies}{split};
is($s->{arms}{b}{shadow}, 5, 'status: 5 shadow decisions for b');
is($s->{arms}{a}{requests}, 5, '... and 5 requests served by a');

# an A/B split (a static policy) is reported as an experiment

ask('/ab/') for 1 .. 120;
my $e;
for (1 .. 100) {
    my $p = decode_json($t->http('GET', '/status')->{body})->{policies}{ab};
    my $u = 0;
    $u += $_->{updates} for values %{ $p->{arms} };
    $e = $p->{experiment};
    last if $u >= 120;
    select(undef, undef, undef, 0.05);
}
is($e->{control}, 'a', 'experiment: a is the control');
my $x = $e->{arms}{b};
ok($x->{n} > 20, "experiment: b has $x->{n} rewards");
is_deeply([sort keys %$x], [sort qw(n reward_diff ci95 p always_valid_p
                                    significant failure_rate_diff
                                    failure_ci95 failure_p)],
          'experiment: the documented fields');
ok(!$x->{significant} && $x->{always_valid_p} >= 0.05,
   "A/A: no significant difference (p $x->{p}, always-valid"
   . " $x->{always_valid_p})");

$t->done();
done_testing();
