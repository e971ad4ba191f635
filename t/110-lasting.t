#!/usr/bin/perl
# Learned state lasts: a reload under traffic keeps it, a restart brings it
# back from llmopt_state_file, a killed trainer is replaced and carries on
# from the published parameters, all without a failed request.  A damaged
# or foreign state file is reported and ignored; a policy whose arms
# changed keeps those it still has.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);
use POSIX ();
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

$t->start_mock('openai');

my $CATALOG = <<'YAML';
models:
  a: {upstream: up_openai, model: model-a, price: {input: 1, output: 2}}
  b: {upstream: up_openai, model: model-b, price: {input: 3, output: 4}}
  c: {upstream: up_openai, model: model-c, price: {input: 5, output: 6}}
policies:
  chat:
    algorithm: linucb
    seed: 4
    arms: [a, b]
    features: [bias, has_code, input_tokens]
  other:
    algorithm: thompson
    seed: 4
    arms: [a, b]
YAML

$t->write_file('catalog.yaml', $CATALOG);

my $CONF = <<'CONF';
%%MODULE%%
worker_processes 2;
events { worker_connections 256; }
http {
    llmopt_zone name=llmopt size=16m;   # 8192 events: a slow takeover on a busy machine
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=20ms;
    llmopt_state_file llmopt/state interval=100ms;
    access_log off;

    upstream up_openai { server %%MOCK_OPENAI%%; keepalive 8; }

    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/chat/completions {
            llmopt_route chat;
            proxy_pass http://$llmopt_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /other/v1/chat/completions {
            llmopt_route other;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
        }
        location = /status { llmopt_status; }
    }
}
CONF

$t->write_conf($CONF);
$t->start();

my $state = $t->prefix() . '/llmopt/state';

sub status {
    return decode_json($t->http('GET', '/status')->{body});
}

sub arms {
    my ($s) = @_;
    my %u;
    for my $p (keys %{ $s->{policies} }) {
        for my $a (keys %{ $s->{policies}{$p}{arms} }) {
            $u{"$p/$a"} = $s->{policies}{$p}{arms}{$a}{updates};
        }
    }
    return \%u;
}

sub updates {
    my ($s) = @_;
    my $n = 0;
    $n += $_ for values %{ arms($s) };
    return $n;
}

# outcomes learned, and those declined: requests whose client went away
# before the end (wrk cuts its connections when its time is up), which
# say nothing of the arm

sub settled {
    my ($s) = @_;
    return updates($s) + $s->{trainer}{declined};
}

# requests routed, as counted by the module: wrk does not count those in
# flight when its time is up

sub routed {
    my ($s) = @_;
    my $n = 0;
    $n += $_->{requests} for values %{ $s->{policies} };
    return $n;
}

sub wait_for {
    my ($cond, $seconds) = @_;
    my $deadline = time() + ($seconds // 10);
    my $s;
    while (time() < $deadline) {
        $s = status();
        return $s if $cond->($s);
        sleep(0.05);
    }
    return $s;
}

sub ask {
    my ($n, $path) = @_;
    my $ok = 0;
    for my $i (1 .. $n) {
        my $r = $t->http('POST', $path // '/v1/chat/completions',
                         headers => { 'Content-Type' => 'application/json' },
                         body => '{"messages":[{"role":"user","content":"'
                                 . ($i % 2 ? 'def f(x): pass' : 'hello')
                                 . " $i\"}]}");
        $ok++ if $r->{status} == 200;
    }
    return $ok;
}

# A bounded load in the background: wrk on loopback for a few seconds,
# then its count of errors.

sub load_start {
    my ($seconds, $close) = @_;
    my $lua = $t->write_file('post.lua', <<'LUA');
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"messages":[{"role":"user","content":"write a function in C"}]}'
LUA
    if ($close) {
        # a reload closes idle keepalive connections, which a client that
        # reuses them sees as read errors (stock nginx does the same)
        $lua = $t->write_file('post.lua', $t->read_file('post.lua')
                              . qq{wrk.headers["Connection"] = "close"\n});
    }
    my $out = $t->prefix() . '/logs/wrk.out';
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open(STDOUT, '>', $out);
        open(STDERR, '>&', \*STDOUT);
        { exec('wrk', '-t1', '-c4', "-d${seconds}s", '-s', $lua,
               'http://127.0.0.1:' . $t->port() . '/v1/chat/completions'); }
        POSIX::_exit(127);
    }
    return [$pid, $out];
}

sub load_finish {
    my ($l) = @_;
    waitpid($l->[0], 0);
    my $text = $t->read_file($l->[1]);
    my ($n) = $text =~ /(\d+) requests in/;
    my ($non2xx) = $text =~ /Non-2xx or 3xx responses: (\d+)/;
    my ($errors) = $text =~ /Socket errors: (.*)/;
    return ($n // 0, $non2xx // 0, $errors // '', $text);
}

# learn something

is(ask(40), 40, '40 requests routed');
is(ask(20, '/other/v1/chat/completions'), 20, '20 on a second policy');
my $s = wait_for(sub { updates($_[0]) >= 60 });
is(updates($s), 60, 'learned 60 outcomes');

# reload under traffic

my $load = load_start(3, 1);
sleep(1);
ok($t->reload(), 'reload while wrk runs');
my ($n, $bad, $errors, $out) = load_finish($load);
ok($n > 100, "wrk sent $n requests across the reload");
is($bad, 0, 'no non-2xx answer during the reload');
is($errors, '', 'no socket error during the reload') or diag($out);

$s = wait_for(sub { settled($_[0]) >= routed($_[0]) });
ok(routed($s) >= 60 + $n, 'status counts every request wrk saw answered');
is(settled($s), routed($s), 'every request routed was learned: the reload'
                            . ' lost nothing (' . updates($s) . ')');
ok($s->{trainer}{declined} <= 8, 'declined: only requests wrk cut off at'
                                 . " its end ($s->{trainer}{declined})");
is($s->{ring}{drops}, 0, 'no ring drop');

# SIGKILL of the trainer under traffic

my @helpers = $t->helper_pids();
is(scalar @helpers, 1, 'one cache manager runs the trainer');
is($s->{trainer}{lease_pid}, $helpers[0], '... and holds the lease');
my $takeovers = $s->{trainer}{takeovers};
my $before = updates($s);

$load = load_start(3);
sleep(1);
kill('KILL', $helpers[0]);
$t->allow_log(qr/\[alert\].*cache manager process $helpers[0] exited on signal 9/);

my $respawned = wait_for(sub {
    my @h = $t->helper_pids();
    return @h == 1 && $h[0] != $helpers[0]
           && $_[0]->{trainer}{lease_pid} == $h[0];
});
($n, $bad, $errors, $out) = load_finish($load);

my @now = $t->helper_pids();
ok(@now == 1 && $now[0] != $helpers[0], 'the master started a new trainer');
is($respawned->{trainer}{lease_pid}, $now[0], 'the new one holds the lease');
is($respawned->{trainer}{takeovers}, $takeovers + 1,
   'status counts the takeover');
ok($n > 100, "wrk sent $n requests across the kill");
is($bad, 0, 'no non-2xx answer while the trainer was killed');
is($errors, '', 'no socket error') or diag($out);

$s = wait_for(sub { settled($_[0]) >= routed($_[0]) });
ok(updates($s) >= $before + $n, 'learning went on from where it was');
is(settled($s), routed($s), 'parameters intact: every request routed'
                            . ' before and after the kill was learned ('
                            . updates($s) . ')');
ok($s->{trainer}{declined} <= 16, 'declined: only requests wrk cut off at'
                                  . " its end ($s->{trainer}{declined})");

# restart: a graceful quit writes the state; a start reads it back

my $learned = arms($s);
$t->stop();
ok(-s $state, 'the state file exists after quit');
$t->start();

$s = status();
is($s->{trainer}{restored}, 2, 'both policies restored from the state file');
is_deeply(arms($s), $learned, 'every arm has its learned updates back');
like($t->read_file('logs/error.log'),
     qr/llmopt_state_file "\Q$state\E": 2 of 2 policies restored/,
     'the restore is logged');

is(ask(10), 10, 'routing goes on after the restart');
$s = wait_for(sub { updates($_[0]) >= updates_of($learned) + 10 });
is(updates($s), updates_of($learned) + 10, 'and learning too');

sub updates_of {
    my ($h) = @_;
    my $n = 0;
    $n += $_ for values %$h;
    return $n;
}

# periodic checkpoints: the file changes while nginx runs

my $mtime = (stat($state))[9];
my $size = -s $state;
my $checkpoints = $s->{trainer}{checkpoints};
ask(5);
$s = wait_for(sub { $_[0]->{trainer}{checkpoints} > $checkpoints });
ok($s->{trainer}{checkpoints} > $checkpoints,
   'the trainer wrote a checkpoint after learning');
is($s->{trainer}{checkpoint_errors}, 0, 'without errors');
$t->stop();

# damaged, truncated and foreign state files: reported, ignored, no crash

my $good = $t->read_file('llmopt/state');

my @damaged = (
    [ 'garbage', "this is not a state file at all\n" x 10,
      qr/not an llmopt state file/ ],
    [ 'truncated', substr($good, 0, length($good) - 100),
      qr/checksum mismatch|truncated|malformed/ ],
    [ 'one flipped byte', flip($good, int(length($good) / 2)),
      qr/checksum mismatch/ ],
    [ 'empty', '', qr/not an llmopt state file|truncated/ ],
);

sub flip {
    my ($s, $at) = @_;
    substr($s, $at, 1) = chr(ord(substr($s, $at, 1)) ^ 0x40);
    return $s;
}

for my $d (@damaged) {
    my ($what, $bytes, $why) = @$d;
    $t->write_file('llmopt/state', $bytes);
    my $offset = -s $t->prefix() . '/logs/error.log';
    $t->start();
    my $log = substr($t->read_file('logs/error.log'), $offset);
    like($log, qr/\[error\].*llmopt_state_file "\Q$state\E": .*ignored/,
         "$what state file: an error names the file");
    like($log, $why, "... and says what is wrong");
    $s = status();
    is($s->{trainer}{restored}, 0, '... nothing restored');
    is(updates($s), 0, '... learning starts anew');
    is(ask(4), 4, '... and requests are routed');
    $t->stop();
}
$t->allow_log(qr/\[error\].*llmopt_state_file .*ignored/);

# a policy whose arms changed keeps those it still has; a new arm starts
# anew and says so (t/062-reload-arms.t: arm by arm)

$t->write_file('llmopt/state', $good);
$t->start();
my $saved = arms(status());
$t->stop();
$t->write_file('llmopt/state', $good);
(my $changed = $CATALOG) =~ s/arms: \[a, b\]\n    features/arms: [a, b, c]\n    features/;
$t->write_file('catalog.yaml', $changed);
$t->start();
$s = status();
is($s->{trainer}{restored}, 2, 'changed policy: both policies restored');
is($s->{policies}{chat}{arms}{c}{updates}, 0, 'the new arm starts anew');
ok($saved->{'chat/a'} > 0 && $saved->{'chat/b'} > 0, 'the file has both arms');
is($s->{policies}{chat}{arms}{a}{updates}, $saved->{'chat/a'},
   '... the arms kept have their state');
is($s->{policies}{chat}{arms}{b}{updates}, $saved->{'chat/b'}, '... both');
ok($s->{policies}{other}{arms}{a}{updates} + $s->{policies}{other}{arms}{b}{updates} > 0,
   'the unchanged policy has its state');
like($t->read_file('logs/error.log'),
     qr/\[error\].*policy "chat": arm "c" starts learning anew: it is a new arm/,
     'the log says which arm starts anew');
$t->stop();

# master_process off: the single process trains on a timer and saves at
# exit

$t->write_file('catalog.yaml', $CATALOG);
unlink($state);
(my $single = $CONF) =~ s/worker_processes 2;/master_process off;\ndaemon off;/;
$t->write_conf($single);
$t->start();
is(ask(12), 12, 'single process: 12 routed');
$s = wait_for(sub { updates($_[0]) >= 12 });
is(updates($s), 12, 'single process: the timer trainer learned them');
is($s->{trainer}{driver}, 'worker', 'driver worker');
$t->stop();
ok(-s $state, 'single process: state saved at exit');
$t->start();
is(updates(status()), 12, 'single process: restored at start');
$t->stop();

$t->done();
done_testing();
