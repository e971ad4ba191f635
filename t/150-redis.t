#!/usr/bin/perl
# Scale-out through Redis: two nginx instances (own prefixes, ports,
# zones and state files) and one redis-server of the test's own.
#   1. Feedback reaches A only; within two sync intervals B's status shows
#      A's per-arm counts, and B routes as A does.
#   2. Redis stops and comes back during a bounded load run on both: no
#      request fails, and afterwards the counts in Redis are the sum of
#      the two instances' own counts, which both merged models show.
#   3. B restarts with an empty state file: it takes its counts back from
#      Redis.
#   4. The event stream holds one entry per learned reward, with the
#      documented fields, and scripts/offline-eval evaluates policies on
#      it (inverse propensity and doubly robust).
#   5. Redis with a worker trainer is refused at configuration time.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(time sleep);
use Llmopt::Test;
use Llmopt::RouterBench;

my $A = Llmopt::Test->new(module => 1);
my $B = Llmopt::Test->new(module => 1);

my $SYNC = 500;                 # ms
my $STREAM = 'llmopt:test:events';

# --- redis-server, ours, with an append-only file so a restart keeps data

my @RARGS = ('--appendonly', 'yes', '--appendfsync', 'always');
my $RPORT = $A->start_redis('redis', @RARGS);

sub rcli_raw { return $A->redis_cli('redis', @_) }

*wait_for = \&Llmopt::Test::wait_for;

# --- two instances ------------------------------------------------------------

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
    seed: 11
    arms: [strong, cheap]
    features: [bias, has_code]
    # B must decide as A from the synced state alone: no decaying floor,
    # whose uniform picks each instance draws on its own
    exploration_decay: 0
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
                 prefix=test stream=$STREAM timeout=1s;

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
    return { map { $_ => ($field eq 'updates' ? $a->{$_}{updates}
                                              : $a->{$_}{params}{$field}) }
             keys %$a };
}

sub kind {
    return $_[0] =~ /\b(function|python|program)\b/i ? 'code' : 'text';
}

my %better = (code => 'strong', text => 'cheap');

sub ask {
    my ($t, $prompt) = @_;
    return $t->http('POST', '/v1/chat/completions',
                    headers => { 'Content-Type' => 'application/json' },
                    body => encode_json({ model => 'auto', messages => [
                        { role => 'user', content => $prompt }] }));
}

sub score {
    my ($t, $r, $prompt) = @_;
    my $arm = $r->{headers}{'x-arm'} // '';
    return $t->http('POST', '/feedback',
                    headers => { 'Content-Type' => 'application/json' },
                    body => encode_json({
                        id => $r->{headers}{'x-llmopt-request-id'},
                        score => $arm eq $better{ kind($prompt) } ? 1 : 0 }));
}

my @prompts = Llmopt::RouterBench::prompts(600);

# both are connected and know of each other

ok(defined wait_for(sub {
       my ($a, $b) = (status($A), status($B));
       ($a->{redis}{state} // '') eq 'up' && ($b->{redis}{state} // '') eq 'up'
       && $a->{redis}{instances} == 2 && $b->{redis}{instances} == 2 }),
   'both instances sync with Redis and see two instances');

# --- 1. feedback to A only ------------------------------------------------------

my $WARM = 200;
my $fb = 0;
for my $i (0 .. $WARM - 1) {
    my $r = ask($A, $prompts[$i]);
    $fb++ if $r->{status} == 200 && score($A, $r, $prompts[$i])->{status} == 200;
}
is($fb, $WARM, "A: $WARM answers scored");

ok(defined wait_for(sub {
       (status($A)->{trainer}{updates} // 0) >= $WARM }), 'A learned them');

my $a_counts = arms(status($A), 'updates');
my $waited = wait_for(sub {
    my $b = arms(status($B), 'updates');
    !grep { ($b->{$_} // -1) != $a_counts->{$_} } keys %$a_counts }, 5);
ok(defined $waited, 'B shows A\'s per-arm counts: '
   . join(', ', map { "$_ $a_counts->{$_}" } sort keys %$a_counts));
$waited //= 99;
ok($waited <= 2 * $SYNC / 1000 + 0.1,
   sprintf('... within two sync intervals (%.0f ms <= %d ms)',
           1000 * $waited, 2 * $SYNC));

my $sb = status($B);
is_deeply(arms($sb, 'local_pulls'), { strong => 0, cheap => 0 },
          'B learned none of it itself');

# B routes as A does: the same prompts to both, no feedback until the end

my (%b_share, $agree, @held);
my $N = 140;
for my $i ($WARM .. $WARM + $N - 1) {
    my $p = $prompts[$i];
    my $rb = ask($B, $p);
    my $ra = ask($A, $p);
    my $arm = $rb->{headers}{'x-arm'} // 'none';
    $b_share{ kind($p) }{n}++;
    $b_share{ kind($p) }{good}++ if $arm eq $better{ kind($p) };
    $agree++ if $arm eq ($ra->{headers}{'x-arm'} // '');
    push @held, [$B, $rb, $p], [$A, $ra, $p];
}

for my $k (sort keys %b_share) {
    my $share = $b_share{$k}{good} / $b_share{$k}{n};
    ok($share >= 0.9, sprintf('B: %.0f %% of %d %s prompts to %s', 100 * $share,
                              $b_share{$k}{n}, $k, $better{$k}));
}
ok($agree >= 0.95 * $N, "B chose as A did for $agree of $N prompts");

# the held scores, so that nothing waits for feedback any more
my $late = 0;
$late += score(@$_[0 .. 1], $_->[2])->{status} == 200 for @held;
is($late, scalar @held, 'the held answers scored');

# the stream: one entry per reward learned

my $want_events = $WARM + scalar @held;
ok(defined wait_for(sub {
       rcli_raw('XLEN', $STREAM) == $want_events }),
   "stream: $want_events entries, one per reward learned ("
   . rcli_raw('XLEN', $STREAM) . ')');

my @entry = split /\n/, rcli_raw('XRANGE', $STREAM, '-', '+', 'COUNT', 1);
my %e = @entry[1 .. $#entry];
is_deeply([sort keys %e],
          [sort qw(id policy arm arm_index propensity x features reward
                   source status tokens_in tokens_out cost latency_ms ttft_ms time_ms
                   catalog instance)], 'an entry has the documented fields');
like($e{id}, qr/^[0-9a-f]{32}$/, '... the request id');
is($e{policy}, 'chat', '... the policy');
like($e{x}, qr/^1\.000000,[01]\.000000$/, '... x: bias, has_code');
ok($e{propensity} > 0 && $e{propensity} <= 1, "... propensity $e{propensity}");
like($e{reward}, qr/^[01]\.000000$/, '... the reward');

# --- 2. Redis goes away under load ----------------------------------------------

my ($failed, $sent, $slowest) = (0, 0, 0);
my $sleeper;
for my $i (0 .. 299) {
    if ($i == 40) {
        # a slow Redis: it answers nothing for 2 s
        $sleeper = fork();
        if ($sleeper == 0) {
            exec('redis-cli', '-p', $RPORT, 'DEBUG', 'SLEEP', '2')
                or POSIX::_exit(127);
        }
        sleep(0.1);
    }
    if ($i == 100) {
        waitpid($sleeper, 0);
        ok($slowest < 1, sprintf('while Redis slept 2 s, the slowest of 60'
                                 . ' requests took %.0f ms', 1000 * $slowest));
        $A->stop_redis('redis');
        ok(defined wait_for(sub {
               (status($A)->{redis}{state} // '') eq 'down'
               && (status($B)->{redis}{state} // '') eq 'down' }),
           'both see Redis down');
    }
    if ($i == 200) {
        my $sa = status($A);
        like($sa->{redis}{last_error} // '', qr/\S/,
             "status names the error: $sa->{redis}{last_error}");
        my $m = $A->http('GET', '/status?format=prometheus')->{body};
        like($m, qr/^llmopt_redis_up 0$/m, 'metrics: llmopt_redis_up 0');
        $A->start_redis('redis', @RARGS);
    }
    my $t = $i % 2 ? $B : $A;
    my $p = $prompts[($WARM + $N + $i) % @prompts];
    my $t0 = time();
    my $r = ask($t, $p);
    $slowest = time() - $t0 if $i >= 40 && $i < 100 && time() - $t0 > $slowest;
    $sent++;
    $failed++ if $r->{status} != 200 || score($t, $r, $p)->{status} != 200;
}
is($failed, 0, "no failed request or feedback of $sent");

my %sum;
ok(defined wait_for(sub {
       my ($sa, $sb) = (status($A), status($B));
       return 0 unless ($sa->{redis}{state} // '') eq 'up'
                       && ($sb->{redis}{state} // '') eq 'up';
       my ($la, $lb) = (arms($sa, 'local_pulls'), arms($sb, 'local_pulls'));
       my ($ga, $gb) = (arms($sa, 'updates'), arms($sb, 'updates'));
       for my $arm (qw(strong cheap)) {
           my $in_redis = 0;
           for my $inst (qw(a b)) {
               $in_redis += rcli_raw('HGET', "'{test:chat}:$sa->{policies}{chat}{shape}:i:$inst'",
                                     "arm:$arm") || 0
                   if $sa->{policies}{chat}{shape};
           }
           $sum{$arm} = [$la->{$arm} + $lb->{$arm}, $in_redis, $ga->{$arm},
                         $gb->{$arm}];
           return 0 unless $sum{$arm}[0] == $sum{$arm}[1]
                           && $sum{$arm}[0] == $sum{$arm}[2]
                           && $sum{$arm}[0] == $sum{$arm}[3];
       }
       1 }, 10), 'after the outage Redis holds exactly A + B per arm');
for my $arm (sort keys %sum) {
    diag(sprintf('%s: A + B local %d, Redis %d, merged A %d, merged B %d',
                 $arm, @{ $sum{$arm} }));
}
is($sum{strong}[0] + $sum{cheap}[0], $want_events + $sent,
   "every reward of both is counted once ($want_events + $sent)");

my $sa = status($A);
ok($sa->{redis}{stream}{dropped} + status($B)->{redis}{stream}{dropped} > 0,
   'stream entries of the outage were dropped, and counted');
{
    my $sb = status($B);
    my $added = $sa->{redis}{stream}{added} + $sb->{redis}{stream}{added};
    my $unsure = $sa->{redis}{stream}{unconfirmed}
                 + $sb->{redis}{stream}{unconfirmed};
    my $len = rcli_raw('XLEN', $STREAM);
    # entries sent when Redis slept got no answer in time: Redis may have
    # added them later
    ok($len >= $added && $len <= $added + $unsure,
       "the stream holds every entry added ($len: $added added, $unsure"
       . ' unconfirmed)');
}

# --- 3. B restarts with an empty state file ----------------------------------

my $shape = $sa->{policies}{chat}{shape};
$B->stop();
my %before = map { $_ => rcli_raw('HGET', "'{test:chat}:$shape:i:b'", "arm:$_") }
             qw(strong cheap);
unlink($B->prefix . '/llmopt/state');
ok(!-e $B->prefix . '/llmopt/state', 'B\'s state file removed');
$B->start();

ok(defined wait_for(sub {
       my $s = status($B);
       ($s->{redis}{restored} // 0) == 1
       && arms($s, 'local_pulls')->{strong} == $before{strong} }),
   "B took its counts back from Redis: strong $before{strong},"
   . " cheap $before{cheap}");
is_deeply(arms(status($B), 'local_pulls'), \%before, '... both arms');
like($B->read_file('logs/error.log'),
     qr/policy "chat" restored from Redis/, '... and said so');

# --- 4. offline evaluation from the stream ---------------------------------------

my $root = Llmopt::Test->root;
my $ev = `$root/scripts/offline-eval --redis 127.0.0.1:$RPORT --stream $STREAM 2>&1`;
is($?, 0, 'scripts/offline-eval ran') or diag($ev);
like($ev, qr/^entries\s+\d+/m, '... read the entries');
like($ev, qr/^logged policy .*mean reward\s+[01]\.\d+/m,
     '... the logging policy\'s mean reward');
like($ev, qr/^always strong .*IPS\s+[01]\.\d+.*DR\s+[01]\.\d+/m,
     '... IPS and DR estimates of a new policy');
diag($ev);

# --- 5. no Redis in a worker ----------------------------------------------------

my ($rc, $out) = $A->nginx_t(<<"CONF");
%%MODULE%%
events { }
http {
    llmopt_zone name=z size=1m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer driver=worker;
    llmopt_redis 127.0.0.1:$RPORT;
    upstream up_openai { server 127.0.0.1:1; }
}
CONF
isnt($rc, 0, 'llmopt_redis with driver=worker: nginx -t fails');
like($out, qr/"llmopt_redis" needs the helper trainer/, '... saying why');

($rc, $out) = $A->nginx_t(<<"CONF");
%%MODULE%%
master_process off;
events { }
http {
    llmopt_zone name=z size=1m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_redis unix:/nonexistent/redis.sock;
    upstream up_openai { server 127.0.0.1:1; }
}
CONF
isnt($rc, 0, 'llmopt_redis with master_process off: nginx -t fails');
like($out, qr/"llmopt_redis" needs the helper trainer/, '... saying why');

($rc, $out) = $A->nginx_t(<<"CONF");
%%MODULE%%
events { }
http {
    llmopt_zone name=z size=1m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_redis 127.0.0.1:$RPORT bogus=1;
    upstream up_openai { server 127.0.0.1:1; }
}
CONF
like($out, qr/llmopt_redis: invalid parameter "bogus=1"/,
     'an unknown parameter is named');


$A->done();
$B->done();
done_testing();
