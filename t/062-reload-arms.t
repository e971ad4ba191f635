#!/usr/bin/perl
# Catalog edits keep what still applies, arm by arm: removing, adding or
# reordering one arm of a policy on reload leaves the other arms' learned
# updates and request counts as they were; a changed feature list resets
# a linear policy's arms, not a context-free one's; a removed arm put back within
# two changes gets its updates back; an arm that starts anew says so at
# [error], which an error_log at Debian's default level "error" shows; a
# policy removed on reload frees its blocks two reloads later.

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

sub catalog {
    my ($arms, $features) = @_;
    $features //= '[bias]';
    my $gone = $features eq '[bias]' ? '[bias]' : '[bias, has_code]';
    return <<"YAML";
models:
  a: {upstream: up_openai, model: model-a, price: {input: 1, output: 2}}
  b: {upstream: up_openai, model: model-b, price: {input: 3, output: 4}}
  c: {upstream: up_openai, model: model-c, price: {input: 5, output: 6}}
  d: {upstream: up_openai, model: model-d, price: {input: 7, output: 8}}
policies:
  p:
    algorithm: linucb
    arms: [$arms]
    features: $features
  gone:
    algorithm: thompson
    arms: [a, b]
    features: $gone
YAML
}

$t->write_file('catalog.yaml', catalog('a, b, c'));

my $CONF = <<'CONF';
%%MODULE%%
error_log %%PREFIX%%/logs/error.log error;
worker_processes 1;
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=4m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=20ms;
    llmopt_state_file llmopt/state interval=100ms;
    upstream up_openai { server %%MOCK_OPENAI%%; }

    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/chat/completions {
            llmopt_route p;
            llmopt_pin_header X-LLMOpt-Arm;
            proxy_pass http://$llmopt_upstream;
        }
        location /gone/ {
            llmopt_route gone;
            llmopt_pin_header X-LLMOpt-Arm;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
        }
        location = /status { llmopt_status; }
    }
}
CONF
$t->write_conf($CONF);

$t->start();

sub status {
    return decode_json($t->http('GET', '/status')->{body});
}

sub ask {
    my ($arm, $n, $path) = @_;
    my $ok = 0;
    for my $i (1 .. $n) {
        my $r = $t->http('POST', $path // '/v1/chat/completions',
                         headers => { 'Content-Type' => 'application/json',
                                      'X-LLMOpt-Arm' => $arm },
                         body => '{"messages":[{"role":"user","content":'
                                 . "\"hello $i\"}]}");
        $ok++ if $r->{status} == 200;
    }
    return $ok;
}

# {arm => [updates, requests]} of policy p
sub arms {
    my ($s) = @_;
    my $a = $s->{policies}{p}{arms};
    return { map { $_ => [$a->{$_}{updates}, $a->{$_}{requests}] } keys %$a };
}

sub wait_updates {
    my ($n) = @_;
    my $deadline = time() + 10;
    my $s;
    while (time() < $deadline) {
        $s = status();
        my $u = 0;
        $u += $_->{updates} for values %{ $s->{policies}{p}{arms} };
        return $s if $u >= $n;
        sleep(0.05);
    }
    return $s;
}

sub log_since {
    my ($offset) = @_;
    return substr($t->read_file('logs/error.log'), $offset);
}

sub edit {
    my ($catalog) = @_;
    my $offset = length($t->read_file('logs/error.log'));
    $t->write_file('catalog.yaml', $catalog);
    $t->reload();
    return $offset;
}

is(ask('a', 5) + ask('b', 3) + ask('c', 2), 10, '10 pinned requests routed');
is(ask('b', 2, '/gone/v1/chat/completions'), 2, '2 to the thompson policy');
my $s = wait_updates(10);
my $deadline = time() + 10;
sleep(0.05) while (status()->{policies}{gone}{arms}{b}{updates} // 0) < 2
                  && time() < $deadline;
is_deeply(arms($s), { a => [5, 5], b => [3, 3], c => [2, 2] },
          'a, b, c learned 5, 3, 2');

# remove b: a and c keep theirs
my $off = edit(catalog('a, c'));
$s = status();
is_deeply(arms($s), { a => [5, 5], c => [2, 2] },
          'reload without b: a and c unchanged');
unlike(log_since($off), qr/starts learning anew/, '... nothing starts anew');

# reorder and put b back: b has its updates again
$off = edit(catalog('c, a, b'));
$s = status();
is_deeply(arms($s), { a => [5, 5], b => [3, 0], c => [2, 2] },
          'reordered, b back: every arm has its updates');
unlike(log_since($off), qr/starts learning anew/, '... nothing starts anew');

# learning goes on at the new indexes
is(ask('b', 1) + ask('c', 1), 2, 'routed after the reorder');
$s = wait_updates(12);
is_deeply(arms($s), { a => [5, 5], b => [4, 1], c => [3, 3] },
          '... and each update lands on its own arm');

# add d: the others unchanged, d starts anew and says so at [error]
$off = edit(catalog('c, a, b, d'));
$s = status();
is_deeply(arms($s), { a => [5, 5], b => [4, 1], c => [3, 3], d => [0, 0] },
          'reload with d added: the others unchanged');
like(log_since($off),
     qr/\[error\].*llmopt policy "p": arm "d" starts learning anew: it is a new arm/,
     '... the new arm is reported at [error]');

# a new feature: every arm starts anew, each reported with the reason
$off = edit(catalog('c, a, b, d', '[bias, input_tokens]'));
$s = status();
my $u = 0;
$u += $_->[0] for values %{ arms($s) };
is($u, 0, 'a new feature: the learned state is reset');
my $log = log_since($off);
is($s->{policies}{gone}{arms}{b}{updates}, 2,
   '... but thompson, which keeps no model of the features, keeps its own');
unlike($log, qr/policy "gone": arm/, '... and reports nothing');
for my $arm (qw(a b c d)) {
    like($log, qr/\[error\].*policy "p": arm "$arm" starts learning anew: the policy's algorithm, prior or features changed/,
         "... arm $arm reported at [error] with the reason");
}

# the policy "gone" removed: said at [error], its blocks freed in time
$t->write_conf($CONF =~ s{        location /gone/ \{.*?\n        \}\n}{}sr);
$off = edit(catalog('c, a, b, d', '[bias, input_tokens]')
            =~ s/\n  gone:\n.*\z/\n/sr);
like(log_since($off), qr/\[error\].*policy "gone" was removed/,
     'a removed policy is reported');
ok(status()->{zone}{retired} >= 4,
   '... its block, counters and history wait for the old workers');
$t->reload() for 1 .. 2;
is(status()->{zone}{retired}, 0, '... and are freed two reloads later');

# on restart, from llmopt_state_file, the same: arm by arm
my $F = '[bias, input_tokens]';

sub upd {
    my ($s) = @_;
    my $a = $s->{policies}{p}{arms};
    return { map { $_ => $a->{$_}{updates} } keys %$a };
}

sub restart {
    my ($catalog) = @_;
    $t->stop();
    my $offset = length($t->read_file('logs/error.log'));
    $t->write_file('catalog.yaml', $catalog);
    $t->start();
    return $offset;
}

sub checkpointed {
    my $n = status()->{trainer}{checkpoints};
    my $deadline = time() + 5;
    sleep(0.05) while status()->{trainer}{checkpoints} < $n + 2
                      && time() < $deadline;
}

is(ask('a', 5) + ask('b', 3) + ask('c', 2) + ask('d', 1), 11,
   '11 more pinned requests');
is_deeply(upd(wait_updates(11)), { a => 5, b => 3, c => 2, d => 1 },
          'learned 5, 3, 2, 1 under the new features');

$off = restart(catalog('d, a, c', $F));
is_deeply(upd(status()), { a => 5, c => 2, d => 1 },
          'restart without b, reordered: the others restored');
unlike(log_since($off), qr/starts learning anew|starts anew/,
       '... nothing starts anew');
checkpointed();

$off = restart(catalog('b, d, a, c, {model: a, name: a2}', $F));
is_deeply(upd(status()), { a => 5, b => 3, c => 2, d => 1, a2 => 0 },
          'restart with b back and a new arm: b has its updates again');
like(log_since($off),
     qr/\[error\].*policy "p": arm "a2" starts learning anew: it is a new arm/,
     '... the new arm is reported at [error]');
unlike(log_since($off), qr/arm "[abcd]" starts/, '... the others are not');

$off = restart(catalog('b, d, a, c, {model: a, name: a2}'));
is_deeply(upd(status()), { a => 0, b => 0, c => 0, d => 0, a2 => 0 },
          'restart with a feature removed: every arm starts anew');
like(log_since($off),
     qr/\[error\].*policy "p": arm "b" starts learning anew: the policy's algorithm, prior or features changed/,
     '... reported at [error] with the reason');

$t->done();
done_testing();
