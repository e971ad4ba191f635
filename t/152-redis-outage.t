#!/usr/bin/perl
# The merged model outlives Redis: two nginx instances share one Redis;
# B learns from feedback, A routes on what B learned.  Then Redis goes
# away, and A is reloaded, loses its trainer (SIGKILL of the cache
# manager) and is restarted: each time A's served pulls are the merged
# count of before the outage and A routes each prompt class as before.
# When Redis comes back nothing is counted twice; a reload while Redis is
# frozen (SIGSTOP) keeps the merge too, and an exchange that fails half
# way leaves the last whole merge in service.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(time sleep);
use Llmopt::Test;

my $A = Llmopt::Test->new(module => 1);
my $B = Llmopt::Test->new(module => 1);

my $SYNC = 300;                 # ms
my $RPORT = $A->start_redis('redis');

*wait_for = \&Llmopt::Test::wait_for;

my $catalog = <<'YAML';
models:
  strong: {upstream: up_openai, model: model-strong,
           price: {input: 10, output: 30}}
  cheap:  {upstream: up_openai, model: model-cheap,
           price: {input: 0.1, output: 0.4}}
policies:
  chat:
    algorithm: linucb
    alpha: 0.5
    lambda: 1
    seed: 5
    arms: [strong, cheap]
    features: [bias, has_code]
    reward: {quality: 1, cost: 0, latency: 0}
    feedback_wait: 600000
YAML

for my $t ($A, $B) {
    my $name = $t == $A ? 'a' : 'b';
    $t->start_mock('openai');
    $t->write_file('catalog.yaml', $catalog);
    $t->write_conf(<<"CONF");
%%MODULE%%
worker_processes 2;
events { worker_connections 256; }
http {
    llmopt_zone name=llmopt size=4m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=20ms;
    llmopt_state_file llmopt/state interval=100ms;
    llmopt_redis 127.0.0.1:$RPORT instance=$name sync=${SYNC}ms
                 prefix=outage;

    upstream up_openai { server %%MOCK_OPENAI%%; keepalive 8; }

    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/chat/completions {
            llmopt_route chat;
            proxy_pass http://\$llmopt_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            add_header X-Arm \$llmopt_arm always;
        }
        location = /feedback { llmopt_feedback; }
        location = /status { llmopt_status; }
    }
}
CONF
    $t->start();
}

sub status { return $_[0]->status_json(or_empty => 1) }

sub arms {
    my ($s, $field) = @_;
    my $a = $s->{policies}{chat}{arms} // {};
    return { map { $_ => $a->{$_}{params}{$field} // -1 } keys %$a };
}

sub show { my $h = shift; join(', ', map { "$_ $h->{$_}" } sort keys %$h) }

my %prompt = (
    code => "```python\nprint(%d)\n```\nWhat does this print?",
    text => "Tell me a short story about the number %d.",
);
my %better = (code => 'strong', text => 'cheap');

sub ask {
    my ($t, $kind, $i) = @_;
    return $t->http('POST', '/v1/chat/completions',
                    headers => { 'Content-Type' => 'application/json' },
                    body => encode_json({ model => 'auto', messages => [
                        { role => 'user',
                          content => sprintf($prompt{$kind}, $i) }] }));
}

# --- B learns, A merges it ----------------------------------------------------

ok(defined wait_for(sub {
       my ($a, $b) = (status($A), status($B));
       ($a->{redis}{state} // '') eq 'up' && ($b->{redis}{state} // '') eq 'up'
       && $a->{redis}{instances} == 2 && $b->{redis}{instances} == 2 }),
   'both instances sync with Redis');

my $LEARN = 200;
my $scored = 0;
for my $i (0 .. $LEARN - 1) {
    my $kind = $i % 2 ? 'code' : 'text';
    my $r = ask($B, $kind, $i);
    next unless $r->{status} == 200;
    my $arm = $r->{headers}{'x-arm'} // '';
    my $f = $B->http('POST', '/feedback',
                     headers => { 'Content-Type' => 'application/json' },
                     body => encode_json({
                         id => $r->{headers}{'x-llmopt-request-id'},
                         score => $arm eq $better{$kind} ? 1 : 0 }));
    $scored++ if $f->{status} == 200;
}
is($scored, $LEARN, "B: $LEARN answers scored");

my $b_local;
ok(defined wait_for(sub {
       $b_local = arms(status($B), 'local_pulls');
       my $a = arms(status($A), 'pulls');
       my $n = 0;
       $n += $_ for values %$b_local;
       $n == $LEARN && !grep { $a->{$_} != $b_local->{$_} } keys %$b_local }),
   'A serves what B learned: ' . show($b_local));

is_deeply(arms(status($A), 'local_pulls'), { strong => 0, cheap => 0 },
          'A learned nothing itself');

# A's routing of each class, with answers left waiting for feedback (so
# that routing leaves the model as it is)

my $N = 10;
my $round = 0;

sub routes {
    my %arm;
    for my $kind (sort keys %better) {
        my %seen;
        for my $i (1 .. $N) {
            my $r = ask($A, $kind, 1000 * ++$round + $i);
            $seen{ $r->{status} == 200 ? $r->{headers}{'x-arm'} // '?'
                                       : "status $r->{status}" }++;
        }
        $arm{$kind} = join('+', map { "$seen{$_}x$_" } sort keys %seen);
    }
    return \%arm;
}

my $before = routes();
is_deeply($before, { code => "${N}xstrong", text => "${N}xcheap" },
          "A routes each class to its better arm: code $before->{code}, "
          . "text $before->{text}");

my $merged = arms(status($A), 'pulls');

# --- Redis goes away ----------------------------------------------------------

$A->stop_redis('redis');

ok(defined wait_for(sub { (status($A)->{redis}{state} // '') eq 'down' }),
   'A sees Redis down');
is_deeply(arms(status($A), 'pulls'), $merged,
          'A still serves the merged model: ' . show($merged));

# 1. a reload

ok($A->reload(), 'A reloaded while Redis is down');
ok(defined wait_for(sub { status($A)->{trainer}{ticks} }), '... and ticks');
sleep(3 * $SYNC / 1000);        # a few failed exchanges of the new trainer

my $after = arms(status($A), 'pulls');
is_deeply($after, $merged,
          'after the reload A serves the merged count: ' . show($after));
is_deeply(routes(), $before, '... and routes each class as before');

# 2. the trainer killed and respawned by the master

$A->allow_log(qr/cache manager process \d+ exited on signal 9/);
my $takeovers = status($A)->{trainer}{takeovers};
my @helpers = $A->helper_pids(wait => 1);
ok(@helpers, 'the trainer runs in the cache manager');
kill('KILL', @helpers);
ok(defined wait_for(sub {
       my @now = $A->helper_pids();
       @now && !grep { my $p = $_; grep { $_ == $p } @helpers } @now }),
   'a new cache manager runs');
ok(defined wait_for(sub {
       (status($A)->{trainer}{takeovers} // 0) > $takeovers }, 10),
   '... and took the lease over');
sleep(3 * $SYNC / 1000);

$after = arms(status($A), 'pulls');
is_deeply($after, $merged,
          'after the respawn A serves the merged count: ' . show($after));
is_deeply(routes(), $before, '... and routes each class as before');

# 3. a restart: the state file keeps the fleet's part.  The master's last
# drain learns the answers still waiting for feedback (this instance's
# own part); the fleet's part is what A merged before the outage.

my $a_local = arms(status($A), 'local_pulls');
$A->stop();
$A->start();

ok(defined wait_for(sub { (status($A)->{redis}{state} // '') eq 'down' }),
   'A restarted while Redis is down');

$a_local = arms(status($A), 'local_pulls');
$after = arms(status($A), 'pulls');
is_deeply($after, { map { $_ => $merged->{$_} + $a_local->{$_} }
                    keys %$merged },
          'after the restart A serves the merged count and its own: '
          . show($after) . ' (own ' . show($a_local) . ')');
is_deeply(routes(), $before, '... and routes each class as before');

# --- Redis returns (empty: no persistence): nothing counted twice ------------

$A->start_redis('redis');

ok(defined wait_for(sub {
       my ($a, $b) = (status($A), status($B));
       ($a->{redis}{state} // '') eq 'up' && ($b->{redis}{state} // '') eq 'up'
       && $a->{redis}{instances} == 2 && $b->{redis}{instances} == 2 }, 20),
   'both instances sync with Redis again');

my ($mine, $theirs, $served, $errors);
ok(defined wait_for(sub {
       $mine = arms(status($A), 'local_pulls');
       $theirs = arms(status($B), 'local_pulls');
       $served = arms(status($A), 'pulls');
       !grep { $served->{$_} != $mine->{$_} + $theirs->{$_} } keys %$served }),
   'A serves its own counts plus B\'s, once: ' . show($served));

# --- Redis frozen (SIGSTOP) rather than gone: A reloaded meanwhile ----------

our $rpid;
($rpid) = $A->redis_cli('redis', 'INFO', 'server') =~ /process_id:(\d+)/;
ok($rpid, "Redis runs as process $rpid");
END { kill('CONT', $rpid) if $rpid }    # so that a failed test can stop it
$errors = status($A)->{redis}{errors};
kill('STOP', $rpid);

ok(defined wait_for(sub { status($A)->{redis}{errors} > $errors }),
   'A\'s exchanges with the frozen Redis time out');
ok($A->reload(), 'A reloaded while Redis is frozen');
sleep(3 * $SYNC / 1000);

$after = arms(status($A), 'pulls');
is_deeply($after, $served, 'A serves the merged count: ' . show($after));
is_deeply(routes(), $before, '... and routes each class as before');

kill('CONT', $rpid);
ok(defined wait_for(sub { (status($A)->{redis}{state} // '') eq 'up' }, 20),
   'A syncs again once Redis goes on');
$mine = arms(status($A), 'local_pulls');
$served = arms(status($A), 'pulls');

# --- an exchange that fails half way keeps the last whole merge ---------------
# B's hash turns into a string: A's read of it fails after A has read the
# instance set, so the merge A was building is left half made

my $shape = status($A)->{policies}{chat}{shape};
my $key = "'{outage:chat}:$shape:i:b'";
$errors = status($A)->{redis}{errors};
$A->redis_cli('redis', 'SET', $key, 'not-a-hash');

ok(defined wait_for(sub { status($A)->{redis}{errors} > $errors }),
   'A\'s exchange fails');

my $r = ask($A, 'code', 7);
my $arm = $r->{headers}{'x-arm'} // '';
$A->http('POST', '/feedback',
         headers => { 'Content-Type' => 'application/json' },
         body => encode_json({ id => $r->{headers}{'x-llmopt-request-id'},
                               score => 1 }));
ok(defined wait_for(sub {
       arms(status($A), 'local_pulls')->{$arm} == $mine->{$arm} + 1 }),
   "A learns one more answer ($arm)");

$served->{$arm}++;
is_deeply(arms(status($A), 'pulls'), $served,
          'A serves it with the last whole merge: ' . show($served));

$A->redis_cli('redis', 'DEL', $key);

$A->done();
$B->done();
done_testing();
