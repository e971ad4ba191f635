#!/usr/bin/perl
# Offline evaluation on a decision stream nginx logged: one nginx with
# llmopt_redis stream=, a redis-server of the test's own, the mock
# provider.  A bounded run of requests of two kinds (code or not: the
# feature has_code) goes to a LinUCB policy with an exploration floor,
# and the client scores every answer through the feedback endpoint, at
# random with a chance that depends on the arm and the kind.  Then
# scripts/offline-eval --catalog scores the catalog's policies on the
# stream:
#   1. the logging policy itself: its doubly robust estimate's 95 %
#      interval holds the mean reward it earned (both printed);
#   2. a candidate with fewer features (bias alone, epsilon_greedy) is
#      scored from the logged x, its arms and features mapped by name;
#   3. a candidate that needs a feature the stream lacks, one of
#      algorithm sparse and one not in the catalog are refused, each with
#      one line that says why.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(time sleep);
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

my $N = 300;
my $STREAM = 'llmopt:test:offline';

my $RPORT = $t->start_redis('redis');

$t->start_mock('openai');
$t->write_file('catalog.yaml', <<'YAML');
models:
  strong: {upstream: up_openai, model: model-strong,
           price: {input: 10, output: 30}}
  cheap:  {upstream: up_openai, model: model-cheap,
           price: {input: 0.1, output: 0.4}}
policies:
  chat:
    algorithm: linucb
    alpha: 0.3
    seed: 5
    arms: [strong, cheap]
    features: [bias, has_code]
    exploration_floor: 0.3
    reward: {quality: 1, cost: 0, latency: 0}
    feedback_wait: 60000
  plain:
    algorithm: epsilon_greedy
    epsilon: 0.2
    seed: 6
    arms: [cheap, strong]
    features: [bias]
    reward: {quality: 1, cost: 0, latency: 0}
  timed:
    algorithm: linucb
    arms: [strong, cheap]
    features: [bias, hour]
  words:
    algorithm: sparse
    arms: [strong, cheap]
    features: [bias]
    sparse: {bits: 10}
YAML

$t->write_conf(<<"CONF");
%%MODULE%%
worker_processes 2;
events { worker_connections 256; }
http {
    llmopt_zone name=llmopt size=4m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=20ms;
    llmopt_redis 127.0.0.1:$RPORT instance=a sync=200ms prefix=test
                 stream=$STREAM timeout=1s;

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

# the chance of a score of 1, by arm and kind
my %chance = (strong => { code => 0.9, text => 0.6 },
              cheap  => { code => 0.3, text => 0.7 });

srand(23);

my ($routed, $scored) = (0, 0);
my %seen;

for my $i (1 .. $N) {
    my $kind = rand() < 0.5 ? 'code' : 'text';
    my $prompt = $kind eq 'code'
        ? "Fix this function:\n```python\ndef f(x):\n    return x[$i]\n```"
        : "Tell me something about the number $i.";
    my $r = $t->http('POST', '/v1/chat/completions',
                     headers => { 'Content-Type' => 'application/json' },
                     body => encode_json({ model => 'auto', messages => [
                         { role => 'user', content => $prompt }] }));
    next unless $r->{status} == 200;
    $routed++;

    my $arm = $r->{headers}{'x-arm'} // '';
    $seen{$arm}++;
    my $score = rand() < ($chance{$arm}{$kind} // 0) ? 1 : 0;
    my $f = $t->http('POST', '/feedback',
                     headers => { 'Content-Type' => 'application/json' },
                     body => encode_json({
                         id => $r->{headers}{'x-llmopt-request-id'} // '',
                         score => $score }));
    $scored++ if $f->{status} == 200;
}

is($routed, $N, "$N requests routed");
is($scored, $N, "$N scores accepted");
ok(($seen{strong} // 0) > 20 && ($seen{cheap} // 0) > 20,
   "both arms served (strong $seen{strong}, cheap $seen{cheap})");

ok(defined Llmopt::Test::wait_for(sub {
       $t->redis_cli('redis', 'XLEN', $STREAM) >= $N }, 15),
   "the stream holds the $N rewards");

my $first = $t->redis_cli('redis', 'XRANGE', $STREAM, '-', '+', 'COUNT', 1);
like($first, qr/^features\n+bias,has_code$/m,
     'an entry names its features');

# --- 1. the logging policy itself ----------------------------------------

my $root = Llmopt::Test->root;
my $cat = $t->prefix . '/catalog.yaml';
my $eval = "$root/scripts/offline-eval --redis 127.0.0.1:$RPORT "
           . "--stream $STREAM --catalog $cat";
my $num = qr/(-?\d+\.\d+)/;

my $out = `$eval --policy chat 2>&1`;
is($?, 0, 'offline-eval --catalog --policy chat ran') or diag($out);
diag($out);

like($out, qr/^entries $N \(policy chat, d = 2, features bias,has_code,/m,
     "... read the $N entries and their features");

my ($mean, $mlo, $mhi) =
    $out =~ /^logged policy\s+mean reward $num \[$num, $num\]/m;
my ($dr, $lo, $hi) =
    $out =~ /^candidate chat .*DR $num \[$num, $num\]/m;

ok(defined $mean && defined $dr, '... the realised mean and the DR '
                                 . 'estimate of the logging policy');
$_ //= -1 for ($mean, $mlo, $mhi, $dr, $lo, $hi);
diag(sprintf('realised mean reward %.4f [%.4f, %.4f]; DR estimate of the '
             . 'logging policy %.4f [%.4f, %.4f]',
             $mean, $mlo, $mhi, $dr, $lo, $hi));
ok($lo <= $mean && $mean <= $hi,
   'the realised mean lies within the DR estimate\'s 95 % interval');
ok($hi - $lo > 0 && $hi - $lo < 0.3,
   sprintf('... an interval of width %.4f, neither 0 nor vacuous',
           $hi - $lo));
like($out, qr/^  \(linucb, propensities exact; refused 0 of $N;/m,
     '... every entry decided, through llmopt_decide');

my $ci = qr/$num \[$num, $num\]/;
like($out, qr/^always strong .*IPS $ci.*SNIPS $ci.*DR $ci/m,
     'the fixed targets have IPS, SNIPS and DR intervals too');

# always strong is worth about its scores' chance, half code, half text
my ($always) = $out =~ /^always strong .*DR $num/m;
ok(defined $always && abs($always - 0.75) < 0.12,
   sprintf('always strong: DR %.4f, near its chance 0.75',
           $always // -1));

# --- 2. a candidate with fewer features ----------------------------------

$out = `$eval --policy plain --logged chat 2>&1`;
is($?, 0, 'offline-eval --policy plain --logged chat ran') or diag($out);
like($out, qr/^candidate plain .*DR $num \[$num, $num\]/m,
     '... scored bias-only epsilon_greedy on chat\'s stream');
like($out, qr/^  \(epsilon_greedy, propensities exact; refused 0 of $N;/m,
     '... deciding every entry');
diag($out);

# --- 3. candidates it cannot score ----------------------------------------

$out = `$eval --policy timed --logged chat 2>&1`;
isnt($?, 0, 'a candidate with a feature the stream lacks is refused');
like($out, qr/policy "timed" needs features the stream lacks \(2 dimensions/,
     '... saying which') or diag($out);

$out = `$eval --policy words --logged chat 2>&1`;
isnt($?, 0, 'a sparse candidate is refused');
like($out, qr/"words" is algorithm sparse: it decides from the requests' text/,
     '... saying why') or diag($out);

$out = `$eval --policy nosuch --logged chat 2>&1`;
isnt($?, 0, 'a policy not in the catalog is refused');
like($out, qr/no policy "nosuch" in /, '... saying so') or diag($out);

$t->done();
done_testing();
