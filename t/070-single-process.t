#!/usr/bin/perl
# master_process off: one process does everything; routing and the zone
# work the same.

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
  b: {upstream: up_openai, model: model-b, price: {input: 1, output: 2}}
policies:
  chat:
    algorithm: epsilon_greedy
    epsilon: 0.5
    seed: 7
    arms: [a, b]
YAML

$t->write_conf(<<'CONF');
%%MODULE%%
master_process off;
daemon off;
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=1m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    upstream up_openai { server %%MOCK_OPENAI%%; }
    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/chat/completions {
            llmopt_route chat;
            proxy_pass http://$llmopt_upstream;
            add_header X-Arm $llmopt_arm always;
            add_header X-Propensity $llmopt_propensity always;
        }
        location = /status { llmopt_status; }
    }
}
CONF

$t->start();

my %arms;
my $ok = 0;
for (1 .. 40) {
    my $r = $t->http('POST', '/v1/chat/completions',
                     headers => { 'Content-Type' => 'application/json' },
                     body => '{"messages":[{"role":"user","content":"q"}]}');
    $ok++ if $r->{status} == 200;
    $arms{ $r->{headers}{'x-arm'} // '' }++;
    # epsilon 0.5 over 2 arms: greedy 0.75, other 0.25; while the means
    # tie (nothing learned yet) each arm is greedy half the time: 0.5
    like($r->{headers}{'x-propensity'} // '', qr/^0\.(25|50|75)0000$/,
         'epsilon-greedy propensity is exact') if $_ <= 3;
}
is($ok, 40, 'single process: 40 routed');
ok($arms{a} && $arms{b}, 'epsilon 0.5 reaches both arms');

my $s = decode_json($t->http('GET', '/status')->{body});
is($s->{policies}{chat}{requests}, 40, 'status in single-process mode');
my $pid = $t->master_pid();
my @children = grep { /\S/ } `ps -o pid= --ppid $pid`;
is(scalar @children, 0, 'one process, no children');

$t->done();
done_testing();
