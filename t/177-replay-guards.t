#!/usr/bin/perl
# The replay decides what nginx decides with the guardrails that learn
# from answers: one arm's provider fails every request (its circuit
# breaker opens after three in a row), another's is slow (its p95 breaks
# the latency SLO once twenty answers are in, and it is left out), the
# third answers well.  The same catalog, seed and stream of requests go
# end to end through nginx, one at a time, each after the trainer has
# taken the last one in, and to build/replay --catalog --outcomes with
# the arms' answers: the same arm, the same propensity, every request.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

$t->start_mock('broken', status => 500);
$t->start_mock('slow', latency => 200);
$t->start_mock('good');

$t->write_file('catalog.yaml', <<'YAML');
models:
  flaky:  {upstream: up_broken, model: model-flaky,
           price: {input: 0.1, output: 0.4}}
  sloth:  {upstream: up_slow, model: model-sloth,
           price: {input: 1, output: 2}}
  steady: {upstream: up_good, model: model-steady,
           price: {input: 5, output: 15}}
policies:
  chat:
    algorithm: static
    seed: 977
    arms:
      - {model: flaky, weight: 2}
      - {model: sloth, weight: 2}
      - {model: steady, weight: 1}
    fallback: steady
    latency_slo: 100
    breaker: {failures: 3, cooldown: 600000}
YAML

$t->write_conf(<<'CONF');
%%MODULE%%
worker_processes 1;
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=1m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=20ms;
    upstream up_broken { server %%MOCK_BROKEN%%; }
    upstream up_slow { server %%MOCK_SLOW%%; }
    upstream up_good { server %%MOCK_GOOD%%; }

    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/chat/completions {
            llmopt_route chat;
            proxy_pass http://$llmopt_upstream;
            add_header X-Arm $llmopt_arm always;
            add_header X-Propensity $llmopt_propensity always;
        }
        location = /status { llmopt_status; }
    }
}
CONF

$t->start();

my @bodies = map {
    JSON::PP->new->canonical->encode({
        model => 'auto',
        messages => [{ role => 'user', content => "question $_ of the stream" }],
    })
} 1 .. 80;

$t->write_file('requests.jsonl', join("\n", @bodies) . "\n");
$t->write_file('outcomes.txt', "# how each arm's provider answers\n"
                               . "flaky 500 1\nsloth 200 200\nsteady 200 1\n");

# nginx, one request at a time; before the next, the trainer has taken
# this one in and finished a tick after it (the SLO's verdict runs at the
# end of a tick)

my (@nginx, %arms, %status);
my $lagged = 0;

for my $i (0 .. $#bodies) {
    my $r = $t->http('POST', '/v1/chat/completions', body => $bodies[$i],
                     headers => { 'Content-Type' => 'application/json' });
    push @nginx, [$r->{headers}{'x-arm'} // '-',
                  $r->{headers}{'x-propensity'} // '-', $r->{status}];
    $arms{$nginx[-1][0]}++;
    $status{$r->{status}}++;

    my $ticks;
    Llmopt::Test::wait_for(sub {
        my $tr = $t->status_json->{trainer};
        return 0 unless ($tr->{events} // 0) >= $i + 1;
        $ticks //= $tr->{ticks};
        return $tr->{ticks} >= $ticks + 2;
    }, 10) or $lagged++;
}

is($lagged, 0, 'the trainer took in every request before the next');
is(($status{200} // 0) + ($status{500} // 0), scalar @bodies,
   'every answer is the provider\'s: '
   . join(', ', map { "$_ x$status{$_}" } sort keys %status));
is($arms{flaky}, 3, 'the failing arm served three requests, then its '
                    . 'circuit opened');
ok(($arms{sloth} // 0) >= 20, "the slow arm served until its p95 was known "
                              . "($arms{sloth})");

my $st = $t->status_json->{policies}{chat}{arms};
is($st->{flaky}{breaker}{state}, 'open', 'the failing arm\'s circuit is open');
ok($st->{sloth}{slo}{breach}, 'the slow arm breaks the SLO: p95 '
                              . ($st->{sloth}{slo}{p95_ms} // 'null'));
ok(!$st->{steady}{slo}{breach}, 'the good arm does not');

# the replay, in process, told how each arm answers

my $root = $t->root;
is(system("make -s -C $root build/replay >/dev/null"), 0, 'build/replay');

my $prefix = $t->prefix;
my @replay = map { chomp; [split / /] }
             `$root/build/replay --catalog $prefix/catalog.yaml --policy chat --requests $prefix/requests.jsonl --outcomes $prefix/outcomes.txt`;
is($?, 0, 'build/replay --catalog --outcomes ran');
is(scalar @replay, scalar @bodies, 'a decision per request');

Llmopt::Test::same_decisions(\@nginx, \@replay);

# the replay without the answers decides otherwise: the guardrails shaped
# the stream

my @blind = map { chomp; [split / /] }
            `$root/build/replay --catalog $prefix/catalog.yaml --policy chat --requests $prefix/requests.jsonl`;
my $differ = grep { ($blind[$_][1] // '') ne $nginx[$_][0] } 0 .. $#bodies;
ok($differ > 0, "without the answers $differ decisions differ");

# bad outcome files are one-line errors

$t->write_file('bad1.txt', "flaky 500\n");
$t->write_file('bad2.txt', "nosuch 200 1\n");

for my $case (['bad1.txt', qr/bad1\.txt:1: not "<arm> <status> <latency ms>"/],
              ['bad2.txt', qr/bad2\.txt:1: the policy has no arm "nosuch"/])
{
    my $out = `$root/build/replay --catalog $prefix/catalog.yaml --policy chat --requests $prefix/requests.jsonl --outcomes $prefix/$case->[0] 2>&1 >/dev/null`;
    isnt($? >> 8, 0, "$case->[0]: exits non-zero");
    like($out, $case->[1], "$case->[0]: says which line and why");
}

$t->done();
done_testing();
