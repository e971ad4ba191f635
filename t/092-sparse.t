#!/usr/bin/perl
# The sparse learner, end to end: two arms, each better on one of two
# vocabularies.  The prompts are of one template and one length, words of
# seven letters, so no dense feature (bias, input_tokens, messages,
# has_code) tells them apart: only the words do.  A client scores every
# answer of a bounded warm-up through the feedback endpoint; afterwards at
# least 90 % of each vocabulary must go to its better arm.  The weights
# then survive a reload and a restart (llmopt_state_file).

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

my $WARM = 300;
my $MEASURE = 160;

my %vocabulary = (
    maths  => [qw(algebra integer vectors tensors numbers modulus radians
                  fourier)],
    poetry => [qw(sonnets couplet stanzas rhyming ballads elegies refrain
                  lyrical)],
);
my %better = (maths => 'alpha', poetry => 'beta');

# a fixed sequence: vocabularies alternate, words drawn with a fixed seed
srand(17);

sub prompt {
    my ($v) = @_;
    my $w = $vocabulary{$v};
    return sprintf('Please write about the %s and the %s of %s today.',
                   map { $w->[int(rand(@$w))] } 1 .. 3);
}

$t->write_file('catalog.yaml', <<'YAML');
models:
  a: {upstream: up_openai, model: model-a, price: {input: 1, output: 1}}
  b: {upstream: up_openai, model: model-b, price: {input: 1, output: 1}}
policies:
  chat:
    algorithm: sparse
    seed: 3
    arms: [{name: alpha, model: a}, {name: beta, model: b}]
    features: [bias, input_tokens, messages, has_code]
    sparse: {bits: 16}
    reward: {quality: 1, cost: 0, latency: 0}
    feedback_wait: 30000
    unscored: skip      # the measurements, never scored, teach nothing
YAML

my $CONF = <<'CONF';
%%MODULE%%
worker_processes 2;
events { worker_connections 256; }
http {
    llmopt_zone name=llmopt size=8m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=20ms;
    llmopt_state_file llmopt/state interval=100ms;

    upstream up_openai { server %%MOCK_OPENAI%%; keepalive 8; }

    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/chat/completions {
            llmopt_route chat;
            proxy_pass http://$llmopt_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            add_header X-Arm $llmopt_arm always;
            llmopt_pin_header X-LLMOpt-Arm;
        }
        location = /feedback { llmopt_feedback; }
        location = /status { llmopt_status; }
    }
}
CONF

# the zone holds the table: nginx -t asks for room for it

sub conf {
    my ($size) = @_;
    (my $c = $CONF) =~ s/size=8m/size=$size/;
    return $c;
}

my ($rc, $out) = $t->nginx_t(conf('256k'));
my ($need) = $out =~ /it needs size=(\d+)k/;
ok($rc != 0 && $need, 'nginx -t with a 256k zone fails and says the size '
                      . 'needed') or diag($out);
ok(($need // 0) * 1024 > 64 + 8 * 65536,
   "the size needed (${\($need // 0)}k) holds the 512 KB table");
($rc, $out) = $t->nginx_t(conf("${need}k"));
is($rc, 0, "nginx -t with size=${need}k passes") or diag($out);

$t->write_conf($CONF);
$t->start();

sub status {
    return decode_json($t->http('GET', '/status')->{body});
}

sub wait_updates {
    my ($want) = @_;
    my $s;
    my $deadline = time() + 10;
    while (time() < $deadline) {
        $s = status();
        return $s if $s->{policies}{chat}{sparse}{updates} >= $want;
        sleep(0.05);
    }
    return $s;
}

sub ask {
    my ($prompt) = @_;
    my $body = encode_json({ model => 'auto',
                             messages => [{ role => 'user',
                                            content => $prompt }] });
    return $t->http('POST', '/v1/chat/completions',
                    headers => { 'Content-Type' => 'application/json' },
                    body => $body);
}

# every prompt of both vocabularies has the same length: the same dense
# features

my %len;
$len{ length(prompt($_)) }++ for (qw(maths poetry)) x 20;
is(scalar keys %len, 1, 'one prompt length for both vocabularies');

my $s = status();
is($s->{policies}{chat}{algorithm}, 'sparse', 'status: algorithm sparse');
is($s->{policies}{chat}{sparse}{bits}, 16, 'status: its bits');
is($s->{policies}{chat}{sparse}{bytes}, 64 + 8 * 65536,
   'status: its table, 512 KB and a header');

# warm-up: every answer scored by the client

my ($routed, $accepted) = (0, 0);
my %warm;

for my $i (0 .. $WARM - 1) {
    my $v = $i % 2 ? 'poetry' : 'maths';
    my $r = ask(prompt($v));
    next unless $r->{status} == 200;
    $routed++;

    my $arm = $r->{headers}{'x-arm'} // '';
    my $id = $r->{headers}{'x-llmopt-request-id'} // '';
    $warm{$v}{$arm}++;

    my $f = $t->http('POST', '/feedback',
                     headers => { 'Content-Type' => 'application/json' },
                     body => encode_json({ id => $id,
                                           score => $arm eq $better{$v}
                                                    ? 1 : 0 }));
    $accepted++ if $f->{status} == 200;
}

is($routed, $WARM, "warm-up: $WARM requests routed");
is($accepted, $WARM, "warm-up: $WARM scores accepted");

$s = wait_updates($WARM);
is($s->{policies}{chat}{sparse}{updates}, $WARM,
   "the trainer learned all $WARM scores into the sparse table");
is($s->{ring}{drops}, 0, 'no event dropped');

diag(sprintf("warm-up: maths %s; poetry %s",
             join(' ', map { "$_=$warm{maths}{$_}" }
                       sort keys %{ $warm{maths} }),
             join(' ', map { "$_=$warm{poetry}{$_}" }
                       sort keys %{ $warm{poetry} })));

# measurement: no more feedback

sub measure {
    my ($label) = @_;
    my %got;

    for my $i (0 .. $MEASURE - 1) {
        my $v = $i % 2 ? 'poetry' : 'maths';
        my $r = ask(prompt($v));
        $got{$v}{ $r->{headers}{'x-arm'} // 'none' }++;
    }

    for my $v ('maths', 'poetry') {
        my $n = 0;
        $n += $_ for values %{ $got{$v} };
        my $share = $n ? ($got{$v}{ $better{$v} } // 0) / $n : 0;
        ok($share >= 0.90, sprintf("%s: %s prompts %.1f %% of %d to %s "
                                   . "(>= 90 %%)", $label, $v, 100 * $share,
                                   $n, $better{$v}));
    }
}

measure('after the warm-up');

# a reload keeps the policy's block, and its table with it

ok($t->reload(), 'reload');
$s = status();
is($s->{policies}{chat}{sparse}{updates}, $WARM, 'the reload kept the table');
measure('after a reload');

# a pinned request is not the learner's choice, yet its arm was served:
# its score teaches the table too (its event carries the request's words)

my $pinned = 0;
for my $i (1 .. 10) {
    my $r = $t->http('POST', '/v1/chat/completions',
                     headers => { 'Content-Type' => 'application/json',
                                  'X-LLMOpt-Arm' => 'alpha' },
                     body => encode_json({ model => 'auto',
                                           messages => [{ role => 'user',
                                             content => prompt('maths') }]
                                         }));
    next unless ($r->{headers}{'x-arm'} // '') eq 'alpha';
    my $f = $t->http('POST', '/feedback',
                     headers => { 'Content-Type' => 'application/json' },
                     body => encode_json({ id => $r->{headers}
                                                   {'x-llmopt-request-id'},
                                           score => 1 }));
    $pinned++ if $f->{status} == 200;
}
is($pinned, 10, 'pinned: 10 answers of alpha scored');
$s = wait_updates($WARM + 10);
is($s->{policies}{chat}{sparse}{updates}, $WARM + 10,
   'the pinned answers were learned into the table');
$WARM += 10;

# a restart: the quit writes the state file (the measurements' outcomes,
# never scored, are skipped), the start reads it back

$t->stop();
$t->start();

$s = status();
is($s->{policies}{chat}{sparse}{updates}, $WARM,
   'the restart brought the table back');
like($t->read_file('logs/error.log'),
     qr/policy "chat" has its sparse weights back \(\Q$WARM\E updates\)/,
     'the restore is logged');
measure('after a restart');

$t->stop();
$t->done();
done_testing();
