#!/usr/bin/perl
# Drift: the best arm's quality drops mid-run.  Two policies see the same
# traffic and the same scores: one configured to forget on drift, one to
# detect only.  The change detectors (Page-Hinkley, ADWIN) in the trainer
# raise an alarm -- a WARN line and a counter -- within a bounded number of
# the arm's answers; with forgetting, traffic moves to the new best arm
# within a bounded number of requests, sooner than without.  The figures
# are printed.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

$t->start_mock('openai');

my $policy = <<'YAML';
    algorithm: linucb
    alpha: 0.3
    lambda: 1
    prior_mean: 0.9
    exploration_floor: 0.02
    seed: 3
    arms: [a, b]
    features: [bias]
    reward: {quality: 1, cost: 0, latency: 0}
    feedback_wait: 600000
YAML

$t->write_file('catalog.yaml', <<"YAML");
models:
  a: {upstream: up_openai, model: model-a, price: {input: 1, output: 1}}
  b: {upstream: up_openai, model: model-b, price: {input: 1, output: 1}}
policies:
  forget:
$policy    drift: {response: forget, keep: 0.1}
  detect:
$policy
  boost:
$policy    drift: {response: explore, explore: 0.4, explore_for: 60000}
YAML

$t->write_conf(<<'CONF');
%%MODULE%%
worker_processes 1;
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=2m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=10ms;

    upstream up_openai { server %%MOCK_OPENAI%%; keepalive 4; }

    server {
        listen 127.0.0.1:%%PORT%%;
        location /forget/ {
            llmopt_route forget;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
            add_header X-Arm $llmopt_arm always;
        }
        location /boost/ {
            llmopt_route boost;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
            add_header X-Arm $llmopt_arm always;
        }
        location /detect/ {
            llmopt_route detect;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
            add_header X-Arm $llmopt_arm always;
        }
        location = /feedback { llmopt_feedback; }
        location = /status { llmopt_status; }
    }
}
CONF

$t->start();

# a fixed sequence of uniform draws, the same for both policies
my $seed = 12345;
sub draw { $seed = (1103515245 * $seed + 12345) % 2147483648;
           return $seed / 2147483648 }

my %quality = (a => 0.9, b => 0.6);

sub step {
    my ($p, $u) = @_;
    my $r = $t->http('POST', "/$p/v1/chat/completions", headers => {
                         'Content-Type' => 'application/json' },
                     body => '{"model":"x","messages":[{"role":"user",'
                             . '"content":"hi"}]}');
    my $arm = $r->{headers}{'x-arm'} // 'none';
    my $score = $u < ($quality{$arm} // 0) ? 1 : 0;
    $t->http('POST', '/feedback', headers => {
                 'Content-Type' => 'application/json' },
             body => encode_json({ id => $r->{headers}{'x-llmopt-request-id'},
                                   score => $score }));
    return $arm;
}

sub status { decode_json($t->http('GET', '/status')->{body}) }

sub explored {
    my $n = 0;
    $n += $_->{explore} for values %{ status()->{policies}{$_[0]}{arms} };
    return $n;
}

sub learned {
    my ($p, $want) = @_;
    for (1 .. 200) {
        my $n = 0;
        $n += $_->{updates} for values %{ status()->{policies}{$p}{arms} };
        return 1 if $n >= $want;
        sleep(0.01);
    }
    return 0;
}

# before: a is the better arm; both policies learn it

my $N = 300;
for my $i (1 .. $N) {
    my $u = draw();
    step('forget', $u);
    step('detect', $u);
    step('boost', $u);
    learned('forget', $i) && learned('detect', $i) && learned('boost', $i);
}

my $s = status();
my $share = $s->{policies}{forget}{arms}{a}{requests} / $N;
ok($share > 0.8, sprintf('before: %.0f %% of the traffic to a', 100 * $share));
is($s->{policies}{forget}{arms}{a}{drift}{reward}, 0,
   'no drift alarm on a stable arm');

# the change: a falls to 0.2, b is the best now

$quality{a} = 0.2;

my (%alarm_after, %moved_after, %a_answers, @last, %boosted);
for my $i (1 .. 600) {
    my $u = draw();
    for my $p (qw(forget detect boost)) {
        my $arm = step($p, $u);
        $a_answers{$p}++ if $arm eq 'a';
        push @{ $last[0]{$p} }, $arm eq 'b' ? 1 : 0;
        shift @{ $last[0]{$p} } if @{ $last[0]{$p} } > 50;
        learned($p, $N + $i);
        if (!$alarm_after{$p}
            && status()->{policies}{$p}{arms}{a}{drift}{reward} > 0)
        {
            $alarm_after{$p} = $a_answers{$p};
            %boosted = (at => $i, explore => explored('boost'))
                if $p eq 'boost';
        }
        $boosted{n}++ if $p eq 'boost' && $boosted{at};
        my $b = 0;
        $b += $_ for @{ $last[0]{$p} };
        $moved_after{$p} //= $i if @{ $last[0]{$p} } == 50 && $b >= 45;
    }
    last if $moved_after{forget} && $moved_after{detect}
            && ($boosted{n} // 0) >= 100 && $i > 100;
}

for my $p (qw(forget detect)) {
    my $st = status()->{policies}{$p}{arms};
    diag("$p: " . join('; ', map { "$_ requests $st->{$_}{requests}, mean"
                                   . " $st->{$_}{mean_reward}, weight"
                                   . " $st->{$_}{params}{weight}" } qw(a b)));
}

diag(sprintf('forget: alarm after %s of a\'s answers, 90 %% of traffic to b'
             . ' after %s requests; detect only: alarm after %s, moved after'
             . ' %s', $alarm_after{forget} // 'never',
             $moved_after{forget} // 'never', $alarm_after{detect} // 'never',
             $moved_after{detect} // 'never'));

ok($alarm_after{forget} && $alarm_after{forget} <= 100,
   "the alarm fires within 100 of the arm's answers"
   . " ($alarm_after{forget})");
ok($alarm_after{detect}, 'the detect-only policy sees the drift too');
ok($moved_after{forget} && $moved_after{forget} <= 200,
   "with forgetting, 90 % of the traffic is on b within 200 requests"
   . " ($moved_after{forget})");
ok(!$moved_after{detect} || $moved_after{forget} <= $moved_after{detect},
   'sooner than without');

# response: explore
my $bs = status()->{policies}{boost};
my $after = explored('boost') - ($boosted{explore} // 0);
ok($alarm_after{boost}, "explore: the alarm fired after $alarm_after{boost}"
   . " of a's answers");
ok($bs->{drift_explore_ms} > 0, "... the policy explores more for a while"
   . " ($bs->{drift_explore_ms} ms left)");
ok($boosted{n} && $after / $boosted{n} >= 0.15,
   sprintf('... %d of the %d decisions since were explorations (%.0f %%; '
           . 'the boost sends 40 %% at random, half of them elsewhere)',
           $after, $boosted{n} // 0, 100 * $after / ($boosted{n} || 1)));

my $log = $t->read_file('logs/error.log');
like($log, qr/\[warn\].*policy "forget" arm "a": drift, its reward falls short of its model \((Page-Hinkley|ADWIN)\); its model forgets/,
     'a WARN line says what happened and what was done');
like($log, qr/policy "detect" arm "a": drift.*no response configured/,
     '... and for the detect-only policy');

my $m = $t->http('GET', '/status?format=prometheus')->{body};
like($m, qr/^llmopt_arm_drift_alarms_total\{policy="forget",arm="a",kind="reward"\} [1-9]/m,
     'metrics count the alarm');

$t->done();
done_testing();
