#!/usr/bin/perl
# The zone across reloads: a policy of unchanged shape keeps its block and
# counters; a changed shape keeps each arm's that still applies, says which
# start anew, and keeps its counters; routing goes on through all of it;
# killed workers come back.  (t/062-reload-arms.t: arm by arm.)

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

$t->start_mock('openai');

my $catalog = <<'YAML';
models:
  a: {upstream: up_openai, model: model-a, price: {input: 1, output: 2}}
  b: {upstream: up_openai, model: model-b, price: {input: 1, output: 2}}
policies:
  stay:
    algorithm: linucb
    arms: [a, b]
    features: [bias, input_tokens]
  change:
    algorithm: thompson
    arms: [a, b]
YAML

$t->write_file('catalog.yaml', $catalog);

$t->write_conf(<<'CONF');
%%MODULE%%
worker_processes 2;
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=4m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    upstream up_openai { server %%MOCK_OPENAI%%; }

    server {
        listen 127.0.0.1:%%PORT%%;
        location /stay/ { llmopt_route stay;
                          proxy_pass http://$llmopt_upstream/v1/chat/completions; }
        location /change/ { llmopt_route change;
                            proxy_pass http://$llmopt_upstream/v1/chat/completions; }
        location = /status { llmopt_status; }
    }
}
CONF

$t->start();

my $body = '{"messages":[{"role":"user","content":"hello"}]}';

sub send_n {
    my ($path, $n) = @_;
    my $ok = 0;
    for (1 .. $n) {
        my $r = $t->http('POST', "${path}v1/chat/completions",
                         headers => { 'Content-Type' => 'application/json' },
                         body => $body);
        $ok++ if $r->{status} == 200;
    }
    return $ok;
}

sub status {
    my $r = $t->http('GET', '/status');
    return eval { decode_json($r->{body}) } // {};
}

is(send_n('/stay/', 10), 10, 'stay: 10 routed');
is(send_n('/change/', 6), 6, 'change: 6 routed');

my $s = status();
is($s->{policies}{stay}{requests}, 10, 'status: stay counted 10');
is($s->{policies}{change}{requests}, 6, 'status: change counted 6');
my $arms = $s->{policies}{stay}{arms};
is($arms->{a}{requests} + $arms->{b}{requests}, 10, 'status: per-arm sums');
is($s->{policies}{stay}{algorithm}, 'linucb', 'status: algorithm');
is($s->{policies}{stay}{d}, 2, 'status: d');
my $gen = $s->{zone}{generation};
ok($gen, 'status: zone generation');

# reload with the same catalog: everything is kept
$t->reload();
is(send_n('/stay/', 4), 4, 'after reload: routed');
$s = status();
is($s->{policies}{stay}{requests}, 14, 'same shape: counters kept');
is($s->{policies}{change}{requests}, 6, 'same shape: other policy kept');
is($s->{zone}{generation}, $gen + 1, 'the zone was reused');
unlike($t->read_file('logs/error.log'), qr/starts anew/,
       'no policy restarted its learning');

# change the shape of one policy (a third arm), and the price of another
(my $changed = $catalog) =~ s/(algorithm: thompson\n    arms: )\[a, b\]/$1\[a, b, {model: a, name: a-cold, params: {temperature: 0}}]/;
$changed =~ s/input: 1, output: 2\}\}\n  b:/input: 3, output: 4}}\n  b:/;
$t->write_file('catalog.yaml', $changed);
$t->reload();

like($t->read_file('logs/error.log'),
     qr/\[error\].*policy "change": arm "a-cold" starts learning anew/,
     'changed shape: the new arm is reported');
unlike($t->read_file('logs/error.log'), qr/policy "change": arm "[ab]" starts/,
       '... the arms kept are not');
unlike($t->read_file('logs/error.log'), qr/policy "stay"/,
       'a price change is no change of shape');
is(send_n('/change/', 3), 3, 'changed policy routes');
$s = status();
is($s->{policies}{change}{requests}, 9, 'changed shape: counters kept');
is(scalar keys %{ $s->{policies}{change}{arms} }, 3, 'the new arm is there');
is($s->{policies}{stay}{requests}, 14, 'the other policy is untouched');
is($s->{zone}{retired}, 2,
   'the 2-arm counters and history wait for the old workers');

# more reloads than the retired list would hold without freeing
for my $i (1 .. 5) {
    my $c = $changed;
    $c =~ s/a-cold/a-cold$i/;
    $t->write_file('catalog.yaml', $c);
    $t->reload();
    is(send_n('/change/', 1), 1, "reload $i: routing goes on");
}

# two reloads later the old workers are gone and all of it is freed
$t->reload() for 1 .. 2;
is(send_n('/change/', 2), 2, 'routing goes on');
is(status()->{zone}{retired}, 0, 'what reloads dropped is freed in time');

# a catalog error on reload keeps the running configuration
$t->write_file('catalog.yaml', "models: {}\n");
$t->reload(expect_fail => 1);
is(send_n('/stay/', 2), 2, 'a bad catalog on reload: old config serves');
like($t->read_file('logs/error.log'), qr/\[emerg\].*llmopt_catalog/,
     'and the error is logged');
$t->allow_log(qr/\[emerg\].*llmopt_catalog/);

# killed workers are respawned and find the zone as it was
$t->kill_workers('KILL');
$t->allow_log(qr/\[alert\].*exited on signal 9/);
select(undef, undef, undef, 0.5);
is(send_n('/stay/', 2), 2, 'after SIGKILL of the workers: routed');
$s = status();
is($s->{policies}{stay}{requests}, 18, 'counters survive killed workers');

$t->done();
done_testing();
