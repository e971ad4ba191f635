#!/usr/bin/perl
# The trainer: its directives, who holds the lease with each driver, the
# lease moving on reload, and a full ring that drops events without ever
# making a request wait or fail.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

$t->start_mock('openai');

$t->write_file('catalog.yaml', <<'YAML');
models:
  a: {upstream: up_openai, model: model-a, price: {input: 1, output: 2}}
  b: {upstream: up_openai, model: model-b, price: {input: 3, output: 4}}
policies:
  chat:
    algorithm: linucb
    seed: 3
    arms: [a, b]
    features: [bias, has_code]
YAML

my $http = <<'CONF';
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    upstream up_openai { server %%MOCK_OPENAI%%; }
    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/chat/completions {
            llmopt_route chat;
            proxy_pass http://$llmopt_upstream;
        }
        location = /status { llmopt_status; }
        location = /feedback { llmopt_feedback; }
    }
CONF

sub conf {
    my (%o) = @_;
    my $zone = $o{zone} // 'llmopt_zone name=llmopt size=1m;';
    my $trainer = $o{trainer} // '';
    my $main = $o{main} // '';
    return "%%MODULE%%\n$main\nevents { worker_connections 64; }\n"
           . "http {\n    $zone\n    $trainer\n$http}\n";
}

# directives: bad values fail nginx -t with a clear message

my @bad = (
    [ 'llmopt_trainer interval=0;', qr/invalid time "interval=0"/ ],
    [ 'llmopt_trainer interval=2m;', qr/invalid time "interval=2m"/ ],
    [ 'llmopt_trainer driver=thread;', qr/invalid parameter "driver=thread"/ ],
    [ 'llmopt_trainer budget=x;', qr/invalid time "budget=x"/ ],
    [ 'llmopt_trainer nice=20;', qr/invalid "nice=20": from 0 to 19/ ],
    [ 'llmopt_trainer nice=low;', qr/invalid "nice=low": from 0 to 19/ ],
    [ "llmopt_trainer;\n    llmopt_trainer;", qr/"llmopt_trainer" directive is duplicate/ ],
    [ 'llmopt_state_file s.bin every=1s;', qr/invalid parameter "every=1s"/ ],
    [ 'llmopt_state_file s.bin interval=never;', qr/invalid time "interval=never"/ ],
);

for my $b (@bad) {
    my ($rc, $out) = $t->nginx_t(conf(trainer => $b->[0]));
    (my $name = $b->[0]) =~ s/\s+/ /g;
    isnt($rc, 0, "nginx -t fails: $name");
    like($out, $b->[1], "... and says why");
}

for my $z ('events=100', 'events=32', 'pending=5', 'events=x') {
    my ($rc, $out) = $t->nginx_t(conf(
        zone => "llmopt_zone name=llmopt size=1m $z;"));
    isnt($rc, 0, "nginx -t fails: llmopt_zone ... $z");
    like($out, qr/\Q$z\E": (events must be a power of 2|pending must be)/,
         '... and says why');
}

my ($rc, $out) = $t->nginx_t(conf(
    trainer => 'llmopt_trainer interval=20ms budget=5ms driver=worker;'
               . ' llmopt_state_file state.bin interval=5s;',
    zone => 'llmopt_zone name=llmopt size=2m events=1024 pending=512;'));
is($rc, 0, 'a full trainer configuration passes nginx -t') or diag($out);

# the nice value of a process, from /proc/PID/stat (field 19)
sub nice_of {
    my ($pid) = @_;
    open(my $fh, '<', "/proc/$pid/stat") or return -100;
    my $stat = <$fh>;
    my @f = split(' ', substr($stat, rindex($stat, ')') + 2));
    return $f[16];
}

sub status {
    return decode_json($t->http('GET', '/status')->{body});
}

sub ask {
    my ($n) = @_;
    my $ok = 0;
    for my $i (1 .. $n) {
        my $r = $t->http('POST', '/v1/chat/completions',
                         headers => { 'Content-Type' => 'application/json' },
                         body => '{"messages":[{"role":"user","content":"q'
                                 . $i . '"}]}');
        $ok++ if $r->{status} == 200;
    }
    return $ok;
}

sub updates {
    my ($s) = @_;
    my $n = 0;
    $n += $_->{updates} for values %{ $s->{policies}{chat}{arms} };
    return $n;
}

sub wait_updates {
    my ($want) = @_;
    my $s;
    for (1 .. 100) {
        $s = status();
        return $s if updates($s) >= $want;
        sleep(0.05);
    }
    return $s;
}

# driver=helper (the default with a master): the cache manager trains

$t->write_conf(conf(main => 'worker_processes 2;',
                    trainer => 'llmopt_trainer interval=20ms;'));
$t->start();

my @helpers = $t->helper_pids(wait => 1);
is(scalar @helpers, 1, 'driver=helper: nginx runs a cache manager');
is(ask(30), 30, '30 requests routed');
my $s = wait_updates(30);
is(updates($s), 30, 'the trainer learned all 30 outcomes');
is($s->{trainer}{driver}, 'helper', 'status: driver helper');
is($s->{trainer}{lease_pid}, $helpers[0], 'the cache manager holds the lease');
is($s->{ring}{drops}, 0, 'no ring drops');
ok($s->{trainer}{ticks} > 0, 'the trainer ticks');
is($s->{ring}{depth}, 0, 'the ring is drained');

# the cache manager trains 10 nice levels below the workers (never above
# what it inherited: a process cannot raise its own priority)

my @wpids = $t->worker_pids();
my $worker_nice = nice_of($wpids[0]);
is(nice_of($helpers[0]), $worker_nice > 10 ? $worker_nice : 10,
   'the trainer runs at nice 10 by default');
$t->stop();

$t->write_conf(conf(main => 'worker_processes 1;',
                    trainer => 'llmopt_trainer interval=20ms nice=0;'));
$t->start();
@helpers = $t->helper_pids(wait => 1);
@wpids = $t->worker_pids();
is(nice_of($helpers[0]), nice_of($wpids[0]),
   'nice=0: the trainer runs at the workers\' level');
is(ask(5), 5, '5 requests routed');
is(updates(wait_updates(5)), 5, '... and learned');
$t->stop();

# driver=worker: one worker holds the lease; on reload it moves on

$t->write_conf(conf(main => 'worker_processes 3;',
                    trainer => 'llmopt_trainer interval=20ms driver=worker;'));
$t->start();

is(scalar $t->helper_pids(), 0, 'driver=worker: no cache manager');
is(ask(20), 20, '20 requests routed');
$s = wait_updates(20);
is(updates($s), 20, 'a worker learned all 20 outcomes');
is($s->{trainer}{driver}, 'worker', 'status: driver worker');
my %workers = map { $_ => 1 } $t->worker_pids();
ok($workers{ $s->{trainer}{lease_pid} }, 'a worker holds the lease');

my $before = $s->{trainer}{lease_pid};
ok($t->reload(), 'reload');
is(ask(10), 10, '10 more requests after the reload');
$s = wait_updates(30);
is(updates($s), 30, 'learning went on after the reload: 30 updates');
%workers = map { $_ => 1 } $t->worker_pids();
ok($workers{ $s->{trainer}{lease_pid} }, 'a new worker holds the lease');
isnt($s->{trainer}{lease_pid}, $before, '... not the old one');
$t->stop();

# a ring of 64 events and a trainer that is slow to come back: pushes
# beyond 64 are dropped and counted, requests never fail

$t->write_conf(conf(main => 'worker_processes 1;',
                    zone => 'llmopt_zone name=llmopt2 size=1m events=64;',
                    trainer => 'llmopt_trainer interval=60s;'));
$t->start();

# the first tick runs at start: wait for it, then fill the ring
$s = status();
for (1 .. 50) {
    last if $s->{trainer}{ticks} > 0;
    sleep(0.05);
    $s = status();
}
is($s->{ring}{capacity}, 64, 'ring of 64 events');
my $t0 = time;
is(ask(100), 100, '100 requests routed with a full ring');
$s = status();
is($s->{ring}{depth}, 64, 'the ring holds 64 events');
is($s->{ring}{drops}, 36, '36 events dropped and counted');
is($s->{policies}{chat}{requests}, 100, 'all 100 requests counted');
$t->stop();

$t->done();
done_testing();
