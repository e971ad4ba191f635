#!/usr/bin/perl
# The sparse learner's table shared through Redis: two nginx instances
# (own prefixes, zones and state files), one redis-server of the test's
# own, a sparse policy whose two arms are each better on one of two
# vocabularies that no dense feature tells apart (t/092-sparse.t's).
#   1. Feedback reaches A only; B's table takes A's steps within two sync
#      intervals (its updates are A's, and its own part is empty), and B
#      routes >= 90 % of each vocabulary to its better arm.
#   2. Redis holds each instance's own part (field "sparse" of its hash,
#      the table's size).
#   3. B reloads: it keeps the shared table and routes as before.
#   4. B restarts with its state file: it routes as before at once; then
#      with no state file at all: it takes A's part from Redis again.
#   5. A restarts with its state file: its own part comes back from it
#      ("sparse-local:"), so Redis still holds A's steps once.

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
my $WARM = 300;
my $MEASURE = 80;
my $BITS = 16;
my $TABLE = 64 + 8 * 2 ** $BITS;

my $RPORT = $A->start_redis('redis');

sub rcli { return $A->redis_cli('redis', @_) }

*wait_for = \&Llmopt::Test::wait_for;

my %vocabulary = (
    maths  => [qw(algebra integer vectors tensors numbers modulus radians
                  fourier)],
    poetry => [qw(sonnets couplet stanzas rhyming ballads elegies refrain
                  lyrical)],
);
my %better = (maths => 'alpha', poetry => 'beta');

srand(29);

sub prompt {
    my ($v) = @_;
    my $w = $vocabulary{$v};
    return sprintf('Please write about the %s and the %s of %s today.',
                   map { $w->[int(rand(@$w))] } 1 .. 3);
}

my $catalog = <<"YAML";
models:
  a: {upstream: up_openai, model: model-a, price: {input: 1, output: 1}}
  b: {upstream: up_openai, model: model-b, price: {input: 1, output: 1}}
policies:
  chat:
    algorithm: sparse
    seed: 3
    arms: [{name: alpha, model: a}, {name: beta, model: b}]
    features: [bias, input_tokens, messages, has_code]
    sparse: {bits: $BITS}
    reward: {quality: 1, cost: 0, latency: 0}
    feedback_wait: 30000
    unscored: skip      # the measurements, never scored, teach nothing
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
    llmopt_zone name=llmopt size=8m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=20ms;
    llmopt_state_file llmopt/state interval=100ms;
    llmopt_redis 127.0.0.1:$RPORT instance=$name sync=${SYNC}ms
                 prefix=test timeout=1s;

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
sub updates { return status($_[0])->{policies}{chat}{sparse}{updates} // -1 }

sub ask {
    my ($t, $prompt) = @_;
    return $t->http('POST', '/v1/chat/completions',
                    headers => { 'Content-Type' => 'application/json' },
                    body => encode_json({ model => 'auto', messages => [
                        { role => 'user', content => $prompt }] }));
}

sub measure {
    my ($t, $label) = @_;
    my %got;

    for my $i (0 .. $MEASURE - 1) {
        my $v = $i % 2 ? 'poetry' : 'maths';
        $got{$v}{ ask($t, prompt($v))->{headers}{'x-arm'} // 'none' }++;
    }

    for my $v ('maths', 'poetry') {
        my $n = 0;
        $n += $_ for values %{ $got{$v} };
        my $share = $n ? ($got{$v}{ $better{$v} } // 0) / $n : 0;
        ok($share >= 0.90, sprintf('%s: %s prompts %.1f %% of %d to %s '
                                   . '(>= 90 %%)', $label, $v, 100 * $share,
                                   $n, $better{$v}));
    }
}

ok(defined wait_for(sub {
       my ($a, $b) = (status($A), status($B));
       ($a->{redis}{state} // '') eq 'up' && ($b->{redis}{state} // '') eq 'up'
       && $a->{redis}{instances} == 2 && $b->{redis}{instances} == 2 }),
   'both instances sync with Redis and see two instances');

# --- 1. feedback to A only -------------------------------------------------

my $scored = 0;
for my $i (0 .. $WARM - 1) {
    my $v = $i % 2 ? 'poetry' : 'maths';
    my $r = ask($A, prompt($v));
    next unless $r->{status} == 200;
    my $arm = $r->{headers}{'x-arm'} // '';
    my $f = $A->http('POST', '/feedback',
                     headers => { 'Content-Type' => 'application/json' },
                     body => encode_json({
                         id => $r->{headers}{'x-llmopt-request-id'} // '',
                         score => $arm eq $better{$v} ? 1 : 0 }));
    $scored++ if $f->{status} == 200;
}
is($scored, $WARM, "A: $WARM answers scored");

ok(defined wait_for(sub { updates($A) >= $WARM }),
   "A's table learned them (${\ updates($A)} updates)");

my $waited = wait_for(sub { updates($B) == $WARM }, 5);
ok(defined $waited, "B's table holds A's $WARM updates (${\ updates($B)})");
$waited //= 99;
ok($waited <= 2 * $SYNC / 1000 + 0.2,
   sprintf('... within two sync intervals (%.0f ms)', 1000 * $waited));

measure($B, 'B, taught by A alone');

# --- 2. what Redis holds ---------------------------------------------------

my $shape = status($A)->{policies}{chat}{shape};
for my $i ('a', 'b') {
    my $len = rcli('HSTRLEN', "{test:chat}:$shape:i:$i", 'sparse');
    is($len, $TABLE, "Redis: instance ${i}'s part of the table, $len bytes");
}

# --- 3. B reloads ------------------------------------------------------------

ok($B->reload(), 'B reloads');
ok(defined wait_for(sub { updates($B) == $WARM }, 5),
   "B kept the shared table (${\ updates($B)} updates)");
measure($B, 'B after a reload');

# --- 4. B restarts -----------------------------------------------------------

$B->stop();
$B->start();
is(updates($B), $WARM, 'B restarted with its state file: the table at once');
measure($B, 'B after a restart');

$B->stop();
unlink($B->prefix . '/llmopt/state');
$B->start();
ok(defined wait_for(sub { updates($B) == $WARM }, 5),
   'B restarted with no state file: A\'s part from Redis '
   . "(${\ updates($B)} updates)");
measure($B, 'B after a restart from nothing');

# --- 5. A restarts -----------------------------------------------------------

$A->stop();
$A->start();
like($A->read_file('logs/error.log'),
     qr/policy "chat" has its sparse weights back \(\Q$WARM\E updates\)/,
     'A restarted with its table');
sleep(3 * $SYNC / 1000);
is(updates($A), $WARM, '... and its own part: Redis counts its steps once '
                       . "(${\ updates($A)} updates)");
is(updates($B), $WARM, '... B too');
measure($A, 'A after a restart');

$A->done();
$B->done();
done_testing();
