#!/usr/bin/perl
# Fleet budgets: two nginx instances share day caps through one Redis of
# the test's own, and the fleet never spends more than the cap plus one
# estimate per instance, whatever Redis does.  One policy (its own cap)
# per case; in each, four clients (two at each instance) drive both
# instances until they refuse at the cap, after
#   - Redis frozen (SIGSTOP) for 3 s and for 10 s at 0 %, 60 % and 95 %
#     of the cap, the clients sending all the while;
#   - Redis restarted without persistence at 60 % (down for 2 s);
#   - FLUSHALL at 60 %;
#   - both instances restarted without their state files at 60 %;
#   - with an outage allowance of 40 % of the cap, a 3 s freeze at 60 %
#     (the bound grows by the allowance; Redis's records count it).
# What the fleet spent is what the mock providers were asked to answer,
# priced: it is printed against cap + instances x one estimate, with the
# margin, and must stay within.  Then: the budget's mode (outage,
# reseeding) shows in the status, the metrics and the log; Redis is used
# again within 2 s of its return; an instance spent out during an outage
# refuses with the time of the next reconnect attempt; "near" starts at
# 80 % of the fleet's spend with two evenly loaded instances; an
# instance idle for longer than "idle" is no longer counted alive; an
# earlier version's integer key becomes a record, and another program's
# key of the wrong type under a budget's name fails that key alone.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use POSIX ();
use List::Util qw(max sum0);
use Time::HiRes qw(time sleep);
use Llmopt::Test;

my $A = Llmopt::Test->new(module => 1);
my $B = Llmopt::Test->new(module => 1);
my $RPORT = $A->start_redis();

# what an earlier version left: an integer, granted to all
my $DAY = int(time() / 86400);
$A->redis_cli('redis', 'SET', "'{fleet:freeze3_0}:budget:d$DAY:all'", 0);

*wait_for = \&Llmopt::Test::wait_for;

my $CAP = 0.02;
my $NEAR_CAP = 0.1;
my %PRICE = ('model-strong' => [10, 30], 'model-cheap' => [1, 3]);

# name, what happens, seconds, share of the cap spent before
my @CASES = (
    [freeze3_0   => 'freeze', 3,  0],
    [freeze3_60  => 'freeze', 3,  0.6],
    [freeze3_95  => 'freeze', 3,  0.95],
    [freeze10_0  => 'freeze', 10, 0],
    [freeze10_60 => 'freeze', 10, 0.6],
    [freeze10_95 => 'freeze', 10, 0.95],
    [restart60   => 'restart', 2, 0.6],
    [flush60     => 'flush',   0, 0.6],
    [state60     => 'state',   0, 0.6],
    [allow3_60   => 'freeze',  3, 0.6, 0.4],   # outage: 0.4 of the cap
);

my $catalog = <<'YAML';
models:
  strong: {upstream: up_openai, model: model-strong,
           price: {input: 10, output: 30}}
  cheap:  {upstream: up_openai, model: model-cheap,
           price: {input: 1, output: 3}}
policies:
  near:
    algorithm: static
    arms: [strong, cheap]
    budget: {day: 0.1}
YAML

$catalog .= "  $_->[0]:\n    algorithm: static\n    arms: [strong]\n"
            . "    budget: {day: $CAP"
            . ($_->[4] ? ", outage: $_->[4]" : '') . "}\n" for @CASES;

my $locations = '';
for my $p ('near', map { $_->[0] } @CASES) {
    $locations .= <<"CONF";
        location /$p/v1/chat/completions {
            llmopt_route $p;
            proxy_pass http://\$llmopt_upstream/$p/v1/chat/completions;
        }
CONF
}

for my $t ($A, $B) {
    my $name = $t == $A ? 'a' : 'b';
    $t->start_mock('openai');
    $t->write_file('catalog.yaml', $catalog);
    $t->write_conf(<<"CONF");
%%MODULE%%
worker_processes 1;
events { worker_connections 256; }
http {
    llmopt_zone name=llmopt size=8m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=20ms;
    llmopt_state_file llmopt/state interval=100ms;
    llmopt_redis 127.0.0.1:$RPORT instance=$name sync=200ms idle=2s
                 prefix=fleet timeout=100ms;

    upstream up_openai { server %%MOCK_OPENAI%%; keepalive 8; }

    server {
        listen 127.0.0.1:%%PORT%%;
        add_header X-Arm \$llmopt_arm always;
$locations
        location = /status { llmopt_status; }
    }
}
CONF
    mkdir($t->prefix . '/llmopt');
    chmod(0777, $t->prefix . '/llmopt');
    $t->start();
}

sub status { return $_[0]->status_json(or_empty => 1) }

sub redis_up {
    return (status($A)->{redis}{state} // '') eq 'up'
           && (status($B)->{redis}{state} // '') eq 'up';
}

ok(wait_for(\&redis_up), 'both instances sync with Redis');
ok(wait_for(sub { $A->redis_cli('redis', 'HGET',
                                "'{fleet:freeze3_0}:budget:d$DAY:all'",
                                'g:legacy') eq '0' }),
   'the integer key of an earlier version became the record "legacy"');

my $prompt = 'Summarise the plot of a short story about a lighthouse keeper '
           . 'who finds a message in a bottle and decides to answer it, in '
           . 'two sentences, for a reader of nine years of age, please.';
my $BODY = encode_json({ model => 'auto', max_tokens => 16,
                         messages => [{ role => 'user',
                                        content => $prompt }] });

# the largest estimate: the text / 4 in, 16 out, at the strong arm's prices
my $EST = (POSIX::ceil(length($prompt) / 4) * 10 + 16 * 30) / 1e6;
my $BOUND = $CAP + 2 * $EST;

sub ask {
    my ($t, $policy) = @_;
    return $t->http('POST', "/$policy/v1/chat/completions", timeout => 10,
                    headers => { 'Content-Type' => 'application/json' },
                    body => $BODY);
}

# What the fleet spent on a policy: every request the two mocks received
# for it, priced as the module prices the mock's usage (prompt tokens
# ceil(body / 4), 8 completion tokens).
sub fleet_spent {
    my ($policy) = @_;
    my $usd = 0;
    for my $t ($A, $B) {
        for my $q (@{ $t->mock_requests('openai') }) {
            next unless $q->{path} eq "/$policy/v1/chat/completions";
            my $p = $PRICE{ decode_json($q->{body})->{model} };
            $usd += (POSIX::ceil(length($q->{body}) / 4) * $p->[0]
                     + 8 * $p->[1]) / 1e6;
        }
    }
    return $usd;
}

# One request after the other, alternating instances, until the fleet
# spent $share of the cap.
sub spend_to {
    my ($policy, $share) = @_;
    my ($n, $cost) = (0, 0);
    my $deadline = time() + 20;
    while ($n * $cost < $share * $CAP && time() < $deadline) {
        for my $t ($A, $B) {
            my $r = ask($t, $policy);
            if ($r->{status} == 200) {
                $n++;
                $cost ||= fleet_spent($policy);
            } else {
                sleep(0.03);
            }
        }
    }
    return $n * $cost;
}

# Four clients, two at each instance, for $secs seconds or (to_refusal)
# until each was refused at the cap 3 times in a row.  Meanwhile the
# parent notes the budget modes both instances show.  Returns the sums
# and the modes seen.
sub drive {
    my ($policy, %o) = @_;
    my $dir = $A->prefix . "/clients";
    mkdir $dir;
    my @kids;
    for my $k (0 .. 3) {
        my $t = $k % 2 ? $B : $A;
        my $pid = fork();
        die "fork: $!" unless defined $pid;
        if ($pid == 0) {
            my %n = (ok => 0, cap => 0, wait => 0, other => 0,
                     wait_retry => 0, ended => 0);
            my $row = 0;
            my $deadline = time() + $o{secs};
            while (time() < $deadline) {
                my $r = ask($t, $policy);
                my $ra = $r->{headers}{'retry-after'} // '';
                if ($r->{status} == 200) {
                    $n{ok}++;
                    $row = 0;
                } elsif ($r->{status} == 429 && $ra =~ /^\d+$/ && $ra > 60) {
                    $n{cap}++;
                    if ($o{to_refusal} && ++$row >= 3) {
                        $n{ended} = 1;
                        last;
                    }
                    sleep(0.05);
                } elsif ($r->{status} == 429) {
                    $n{wait}++;
                    $n{wait_retry} = max($n{wait_retry}, $ra =~ /^\d+$/
                                                         ? $ra : 999);
                    sleep(0.05);
                } else {
                    $n{other}++;
                    sleep(0.05);
                }
            }
            open(my $fh, '>', "$dir/$k.json") or POSIX::_exit(1);
            print $fh encode_json(\%n);
            close($fh);
            POSIX::_exit(0);
        }
        push @kids, $pid;
    }

    my %modes;
    while (grep { waitpid($_, POSIX::WNOHANG()) == 0 } @kids) {
        for my $t ($A, $B) {
            my $m = status($t)->{policies}{$policy}{budget}{mode};
            $modes{$m}++ if defined $m;
        }
        sleep(0.2);
    }
    waitpid($_, 0) for @kids;

    my %sum = (ok => 0, cap => 0, wait => 0, other => 0, ended => 0,
               wait_retry => 0);
    for my $k (0 .. 3) {
        my $r = decode_json($A->read_file("clients/$k.json"));
        for (keys %sum) {
            $sum{$_} = $_ eq 'wait_retry' ? max($sum{$_}, $r->{$_})
                                          : $sum{$_} + $r->{$_};
        }
        unlink($A->path("clients/$k.json"));
    }
    return (\%sum, \%modes);
}

sub restart_without_state {
    for my $t ($A, $B) {
        $t->stop();
        unlink(glob($t->prefix . '/llmopt/state*'));
        $t->start();
    }
}

# --- near: 80 % of the fleet's spend (before any instance restarts) -------

my ($limited_at, $both, @after);
for my $i (1 .. 300) {
    for my $t ($A, $B) {
        my $r = ask($t, 'near');
        if ($r->{status} != 200) {
            sleep(0.03);
            next;
        }
        push @after, $r->{headers}{'x-arm'} // '' if $both;
    }
    last if @after >= 10;
    next if $both;
    my ($sa, $sb) = (status($A), status($B));
    my ($la, $lb) = map { $_->{policies}{near}{budget}{limited} // 0 }
                    $sa, $sb;
    if (!defined $limited_at && $la + $lb > 0) {
        # the first instance limited: what the fleet spent then
        $limited_at = sum0(map { $_->{cost_usd} }
                           map { values %{ $_->{policies}{near}{arms} } }
                           $sa, $sb);
    }
    $both = $la > 0 && $lb > 0;     # the other one hears of it a sync later
}

# seen after a pair of requests (2 % of the cap), the other instance's
# spend heard up to a sync (200 ms) late: 80 % to about 88 %
ok(defined $limited_at && $limited_at >= 0.75 * $NEAR_CAP
   && $limited_at <= 0.9 * $NEAR_CAP,
   sprintf('near: limited from a fleet spend of $%.6f (%.0f %% of the cap)',
           $limited_at // 0, ($limited_at // 0) / $NEAR_CAP * 100));
is(scalar(grep { $_ ne 'cheap' } @after), 0,
   'near: once both are limited only the cheaper arm answers ('
   . scalar(@after) . ')');
my $fleet = status($A)->{policies}{near}{budget}{day}{fleet_spent};
ok($fleet > status($A)->{policies}{near}{budget}{day}{spent} * 1.5,
   sprintf('status: fleet_spent $%.6f, of which this instance $%.6f',
           $fleet, status($A)->{policies}{near}{budget}{day}{spent}));

# --- the cases ------------------------------------------------------------

my (%seen, %answered_during, @back_s, $outage_refused, $outage_retry);

for my $case (@CASES) {
    my ($policy, $what, $secs, $share, $allowance) = @$case;
    my $bound = $BOUND + ($allowance // 0) * $CAP;

    my $before = $share ? spend_to($policy, $share) : 0;
    my ($during, $modes) = ({ ok => 0, other => 0, wait_retry => 0 }, {});

    if ($what eq 'freeze') {
        $A->redis_signal('redis', 'STOP');
        ($during, $modes) = drive($policy, secs => $secs);
        $A->redis_signal('redis', 'CONT');
        my $t0 = time();
        push @back_s, wait_for(\&redis_up, 10) // 99;
        $outage_refused += ($_->{policies}{$policy}{budget}{outage_refused}
                            // 0) for status($A), status($B);
        $outage_retry = max($outage_retry // 0, $during->{wait_retry});

    } elsif ($what eq 'restart') {
        $A->stop_redis('redis');
        ($during, $modes) = drive($policy, secs => $secs);
        $A->start_redis('redis');

    } elsif ($what eq 'flush') {
        $A->redis_cli('redis', 'FLUSHALL');

    } else {
        restart_without_state();
    }

    ok(wait_for(\&redis_up), "$policy: both instances sync again");
    $answered_during{$policy} = $during->{ok};

    my ($end, $m2) = drive($policy, secs => 30, to_refusal => 1);
    $seen{$_}{$policy} = 1 for keys %$modes, keys %$m2;

    my $spent = fleet_spent($policy);
    my $margin = $bound - $spent;

    diag(sprintf('%-12s %-7s %2d s at %3d %%: spent $%.6f (%.0f %% of the '
                 . 'cap; %.0f %% before, answers %d during, %d after), '
                 . 'bound $%.6f, margin $%.6f', $policy, $what, $secs,
                 $share * 100, $spent, $spent / $CAP * 100,
                 $before / $CAP * 100, $during->{ok}, $end->{ok}, $bound,
                 $margin));

    is($end->{ended}, 4, "$policy: every client ends refused at the cap");
    is($during->{other} + $end->{other}, 0,
       "$policy: no answer other than 200 and 429");
    ok($spent <= $bound,
       sprintf('%s: the fleet spent $%.6f <= cap + 2 estimates%s ($%.6f)',
               $policy, $spent, $allowance ? ' + the allowance' : '',
               $bound));

    next unless $allowance;

    # the allowance was spent, and Redis counts it against the cap
    my $day = int(time() / 86400);
    my %rec = split /\n/, $A->redis_cli('redis', 'HGETALL',
                                     "'{fleet:$policy}:budget:d$day:all'");
    my $records = sum0(map { $rec{$_} } grep { /^g:/ } keys %rec) / 1e9;
    # each instance's half of the allowance takes that many estimates
    my $each = int($allowance * $CAP / 2 / $EST);
    ok($during->{ok} >= 2 * $each,
       "$policy: $during->{ok} answers during the freeze, at least "
       . "$each at each instance on the allowance "
       . "($answered_during{freeze3_60} without one)");
    ok($records >= $spent - 1e-9,
       sprintf('%s: Redis\'s records ($%.6f) count all that was spent',
               $policy, $records));
}

ok(keys %{ $seen{outage} // {} } >= 6,
   'every freeze showed budget.mode "outage": '
   . join(' ', sort keys %{ $seen{outage} // {} }));
ok($seen{reseeding}{flush60} && $seen{reseeding}{restart60},
   'a flushed and a restarted Redis showed "reseeding": '
   . join(' ', sort keys %{ $seen{reseeding} // {} }));
ok($outage_refused > 0,
   "$outage_refused requests refused once the outage spent what was held");
ok($outage_retry >= 1 && $outage_retry <= 2,
   "... with Retry-After $outage_retry s: the next reconnect attempt");
ok(max(@back_s) <= 2,
   sprintf('Redis used again %.2f s at most after its return (%s)',
           max(@back_s), join(' ', map { sprintf('%.2f', $_) } @back_s)));

like($A->read_file('logs/error.log'),
     qr/\[warn\].*policy "freeze3_0" budget: outage/,
     'the log says when an outage starts');
like($A->read_file('logs/error.log'),
     qr/\[warn\].*policy "flush60" budget: reseeding/,
     '... and when a reseed does');
like($A->read_file('logs/error.log'),
     qr/\[warn\].*policy "flush60" budget: shared/,
     '... and when the budget is shared again');

my $prom = $A->http('GET', '/status?format=prometheus')->{body};
like($prom, qr/^llmopt_budget_mode\{policy="flush60",mode="shared"\} 1$/m,
     'metrics: llmopt_budget_mode');
like($prom, qr/^llmopt_budget_fleet_spent_usd\{policy="flush60",period="day"\} 0\.0[1-2]/m,
     'metrics: llmopt_budget_fleet_spent_usd');

# --- an idle instance is no longer alive -----------------------------------

is(status($A)->{policies}{near}{budget}{instances}, 2, 'two instances alive');
$B->stop();
ok(wait_for(sub { (status($A)->{policies}{near}{budget}{instances} // 0)
                  == 1 }, 5),
   'B stopped: after idle (2 s) one instance is alive');
is($A->redis_cli('redis', 'ZRANGE', "'{fleet:near}:budget:live'", 0, -1),
   'a', '... and Redis lists it alone');

# --- another program's key under a budget's name -----------------------------

# in one step: A's next sync (every 200 ms) would make the hash anew
# between a DEL and an RPUSH of their own, and the RPUSH then fail
my $key = "'{fleet:near}:budget:d$DAY:all'";
$A->redis_cli('redis', 'EVAL',
              q{"redis.call('DEL', KEYS[1]); }
              . q{return redis.call('RPUSH', KEYS[1], 'not', 'ours')"},
              1, $key);
is($A->redis_cli('redis', 'TYPE', $key), 'list',
   'another program made a list of the key');
my $grants0 = status($A)->{policies}{freeze3_0}{budget}{grants};
my $errors0 = status($A)->{redis}{errors};
ok(wait_for(sub { $A->read_file('logs/error.log')
                  =~ /\[error\].*budget key "\{fleet:near\}.*WRONGTYPE/ }, 15),
   'a key of the wrong type under a budget\'s name: an [error] line');
sleep(1);
my $s = status($A);
ok($s->{redis}{state} eq 'up' && $s->{redis}{errors} == $errors0
   && $s->{policies}{freeze3_0}{budget}{grants} > $grants0,
   sprintf('... Redis stays up (%s, errors %d -> %d) and the other '
           . 'budgets exchange (%d -> %d)', $s->{redis}{state}, $errors0,
           $s->{redis}{errors}, $grants0,
           $s->{policies}{freeze3_0}{budget}{grants}));

$A->done();
$B->done();
done_testing();
