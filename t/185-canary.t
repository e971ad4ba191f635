#!/usr/bin/perl
# Canary rollouts: a new arm gets 10 %, then 50 %, then 100 % of a
# policy's traffic, each stage gated on its answers against the other
# arm's of the same stage.  Quality comes from an evaluator header the
# mock adds (llmopt_quality_header), by arm.
#   - A worse new arm (quality 0.3 against 0.9) is rolled back at its first
#     stage, and then gets no traffic, across a reload too.
#   - A better one (0.95 against 0.7) reaches 100 %: every request goes to
#     it.
#   - At the first stage its share of the traffic is about 10 %.
#   - A restart keeps both where they were (the state file).

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

my $MIN = 30;

$t->write_file('catalog.yaml', <<"YAML");
models:
  old: {upstream: up_openai, model: model-old, price: {input: 1, output: 2}}
  new: {upstream: up_openai, model: model-new, price: {input: 1, output: 2}}
policies:
  worse:
    algorithm: linucb
    seed: 5
    arms: [old, new]
    features: [bias]
    reward: {quality: 1, cost: 0, latency: 0}
    canary: {arm: new, stages: [10, 50, 100], min_requests: $MIN,
             max_cost_rise: 0.5}
  better:
    algorithm: linucb
    seed: 6
    arms: [old, new]
    features: [bias]
    reward: {quality: 1, cost: 0, latency: 0}
    canary: {arm: new, stages: [10, 50, 100], min_requests: $MIN,
             max_cost_rise: 0.5}
YAML

$t->write_conf(<<'CONF');
%%MODULE%%
worker_processes 2;
events { worker_connections 256; }
http {
    llmopt_zone name=llmopt size=2m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=10ms;
    llmopt_state_file llmopt/state interval=100ms;

    upstream up_openai { server %%MOCK_OPENAI%%; keepalive 8; }

    # the evaluator's score of each arm's answers, by policy
    map "$llmopt_policy:$llmopt_arm" $score {
        "worse:new"   "X-Eval-Score: 0.3";
        "worse:old"   "X-Eval-Score: 0.9";
        "better:new"  "X-Eval-Score: 0.95";
        default       "X-Eval-Score: 0.7";
    }

    server {
        listen 127.0.0.1:%%PORT%%;
        llmopt_quality_header X-Eval-Score;
        add_header X-Arm $llmopt_arm always;

        location /worse/v1/chat/completions {
            llmopt_route worse;
            proxy_set_header X-Mock-Header $score;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
        }
        location /better/v1/chat/completions {
            llmopt_route better;
            proxy_set_header X-Mock-Header $score;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
        }
        location = /status { llmopt_status; }
    }
}
CONF

mkdir($t->prefix . '/llmopt');
$t->start();

sub canary {
    my ($policy) = @_;
    my $r = $t->http('GET', '/status');
    return $r->{status} == 200
           ? decode_json($r->{body})->{policies}{$policy}{canary} : {};
}

sub ask {
    my ($policy) = @_;
    my $r = $t->http('POST', "/$policy/v1/chat/completions",
                     headers => { 'Content-Type' => 'application/json' },
                     body => encode_json({ model => 'auto', messages => [
                         { role => 'user', content => 'Say hello.' }] }));
    return $r->{status} == 200 ? $r->{headers}{'x-arm'} // '' : "status $r->{status}";
}

# Sends requests until the canary leaves the stage it is in (or n are
# sent); returns the arms that answered.
sub run_stage {
    my ($policy, $n) = @_;
    my $c0 = canary($policy);
    my @arms;
    for my $i (1 .. $n) {
        push @arms, ask($policy);
        next if $i % 10;
        my $c = canary($policy);
        last if $c->{stage} != $c0->{stage} || $c->{state} ne $c0->{state};
    }
    # the trainer may still be learning the last answers
    for (1 .. 100) {
        my $c = canary($policy);
        last if $c->{stage} != $c0->{stage} || $c->{state} ne $c0->{state};
        sleep(0.02);
    }
    return @arms;
}

sub count { my ($arm, @arms) = @_; return scalar grep { $_ eq $arm } @arms }

my $c = canary('worse');
is($c->{state}, 'running', 'worse: the canary runs');
is($c->{share}, 0.1, '... at 10 %');
is($c->{arm}, 'new', '... of arm new');

# --- a worse arm is rolled back ---------------------------------------------------

my @arms = run_stage('worse', 3000);
$c = canary('worse');
my $new = count('new', @arms);
is($c->{state}, 'rolled_back', sprintf('worse: rolled back after %d requests '
   . '(%d to the canary)', scalar @arms, $new));
is($c->{stage}, 0, '... at its first stage');
like($c->{last}, qr/^quality 0\.300 against 0\.900/, "... why: $c->{last}");
my $share = $new / @arms;
ok($share > 0.05 && $share < 0.2,
   sprintf('at the 10 %% stage the canary had %.1f %% of the traffic',
           100 * $share));
is(scalar grep({ !/^(old|new)$/ } @arms), 0, 'every request was answered');

@arms = map { ask('worse') } 1 .. 200;
is(count('new', @arms), 0, 'after the rollback: 0 of 200 requests to it');

$t->reload();
@arms = map { ask('worse') } 1 .. 100;
is(canary('worse')->{state}, 'rolled_back', 'a reload keeps the rollback');
is(count('new', @arms), 0, '... and the arm gets nothing');

like($t->read_file('logs/error.log'),
     qr/\[warn\].*policy "worse": canary arm "new" rolled back at 10%/,
     'a WARN line says so');

# --- a better one reaches 100 % ---------------------------------------------------

my @stages;
for my $stage (1 .. 3) {
    $c = canary('better');
    last if $c->{state} ne 'running';
    my @a = run_stage('better', 3000);
    push @stages, sprintf('%.0f %%: %d requests, %d to the canary',
                          100 * $c->{share}, scalar @a, count('new', @a));
}

$c = canary('better');
diag("better: $_") for @stages;
is($c->{state}, 'complete', 'better: the rollout completed');
is($c->{share}, 1, '... at 100 %');
is($c->{stage}, 2, '... its last stage');
is($c->{changes}, 2, '... through two gates');

@arms = map { ask('better') } 1 .. 100;
is(count('new', @arms), 100, 'now every request goes to it (100 of 100)');

like($t->read_file('logs/error.log'),
     qr/\[notice\].*policy "better": canary arm "new" rolled out at 100%/,
     'a NOTICE line says so');

# --- a restart: the state file keeps both --------------------------------------

$t->stop();
$t->start();
is(canary('worse')->{state}, 'rolled_back', 'after a restart: still rolled back');
is(canary('better')->{state}, 'complete', '... and still complete');
@arms = map { ask('worse') } 1 .. 50;
is(count('new', @arms), 0, '... the rolled-back arm gets nothing');
@arms = map { ask('better') } 1 .. 50;
is(count('new', @arms), 50, '... the rolled-out one everything');

my $prom = $t->http('GET', '/status?format=prometheus')->{body};
like($prom, qr/^llmopt_canary_share\{policy="better",arm="new"\} 1\.0000$/m,
     'metrics: llmopt_canary_share');
like($prom, qr/^llmopt_canary_rolled_back\{policy="worse",arm="new"\} 1$/m,
     'metrics: llmopt_canary_rolled_back');

$t->done();
done_testing();
