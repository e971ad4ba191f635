#!/usr/bin/perl
# Guardrails: failover, circuit breakers, Retry-After, context windows and
# max_cost.
#   - An arm failing 30 % of its requests (503): with error_page sending
#     failures to a location with llmopt_failover, the client sees no
#     failure in a bounded run; both attempts are learned; the arm's circuit
#     opens after failures in a row and closes again after a good probe,
#     as the status shows.
#   - A 429 with Retry-After opens the circuit for that long.
#   - A prompt too long for a model's context window never goes to it; one
#     too long for every model gets a 400 in the client's dialect; so does a
#     request whose estimated cost breaks max_cost on every arm.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(time sleep);
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

$t->start_mock('openai');
$t->start_mock('flaky', fail_rate => 0.3, seed => 7);
$t->start_mock('laggy', latency => 200);

$t->write_file('catalog.yaml', <<'YAML');
models:
  flaky:  {upstream: up_flaky, model: model-flaky,
           price: {input: 0.1, output: 0.4},
           headers: {X-Flaky-Key: flaky-secret}}
  good:   {upstream: up_openai, model: model-good,
           price: {input: 1, output: 2}}
  small:  {upstream: up_openai, model: model-small, context_window: 100,
           price: {input: 0.1, output: 0.4}}
  big:    {upstream: up_openai, model: model-big, context_window: 2000,
           price: {input: 10, output: 30}}
  laggy:  {upstream: up_laggy, model: model-laggy,
           price: {input: 1, output: 1}}
policies:
  chat:
    algorithm: static
    arms:
      - {model: flaky, weight: 0.7}
      - {model: good, weight: 0.3}
    breaker: {failures: 2, cooldown: 300}
  limited:
    algorithm: static
    arms:
      - {model: good, weight: 1}
    breaker: {failures: 50, cooldown: 30000}
  timed:
    algorithm: static
    arms:
      - {model: laggy, weight: 1}
      - {model: good, weight: 1}
    latency_slo: 100
  soft:
    algorithm: static
    arms:
      - {model: laggy, weight: 1}
      - {model: good, weight: 1}
    reward: {quality: 1, cost: 0, latency: 0}
    latency_slo: 100
    latency_slo_action: penalise
    latency_slo_penalty: 0.5
  rated:
    algorithm: static
    arms:
      - {model: flaky, weight: 0.7}
      - {model: good, weight: 0.3}
    breaker: {failures: 0, error_rate: 0.2, window: 5000, min_requests: 10,
              cooldown: 300}
  sized:
    algorithm: static
    arms:
      - {model: small, weight: 0.9}
      - {model: big, weight: 0.1}
    max_cost: 0.05
YAML

$t->write_conf(<<'CONF');
%%MODULE%%
worker_processes 1;
events { worker_connections 256; }
http {
    llmopt_zone name=llmopt size=2m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=20ms;

    upstream up_openai { server %%MOCK_OPENAI%%; keepalive 8; }
    upstream up_flaky { server %%MOCK_FLAKY%%; keepalive 8; }
    upstream up_laggy { server %%MOCK_LAGGY%%; keepalive 8; }

    server {
        listen 127.0.0.1:%%PORT%%;

        location /v1/chat/completions {
            llmopt_route chat;
            proxy_pass http://$llmopt_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_intercept_errors on;
            error_page 429 500 502 503 504 = @llmopt_failover;
            add_header X-Arm $llmopt_arm always;
        }

        location @llmopt_failover {
            llmopt_failover;
            proxy_pass http://$llmopt_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            add_header X-Arm $llmopt_arm always;
        }

        location /limited/v1/chat/completions {
            llmopt_route limited;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
        }

        location /timed/v1/chat/completions {
            llmopt_route timed;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
            add_header X-Arm $llmopt_arm always;
        }

        location /soft/v1/chat/completions {
            llmopt_route soft;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
            add_header X-Arm $llmopt_arm always;
        }

        location /rated/v1/chat/completions {
            llmopt_route rated;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
            add_header X-Arm $llmopt_arm always;
        }

        location /sized/v1/chat/completions {
            llmopt_route sized;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
            add_header X-Arm $llmopt_arm always;
        }

        location = /status { llmopt_status; }
    }
}
CONF

$t->start();

sub status {
    return decode_json($t->http('GET', '/status')->{body});
}

# ask($path, $content, %headers, body => {more fields of the body})
sub ask {
    my ($path, $content, %h) = @_;
    my $more = delete $h{body} // {};
    return $t->http('POST', $path, headers => {
                        'Content-Type' => 'application/json', %h },
                    body => encode_json({ model => 'x', %$more,
                        messages => [{ role => 'user',
                                       content => $content }] }));
}

# --- failover and the breaker ------------------------------------------------

my ($n, $bad, %arm, %states) = (200, 0);
for my $i (1 .. $n) {
    my $r = ask('/v1/chat/completions', "question $i");
    $bad++ if $r->{status} != 200;
    $arm{ $r->{headers}{'x-arm'} // 'none' }++;
    my $b = status()->{policies}{chat}{arms}{flaky}{breaker};
    $states{ $b->{state} }++;
    sleep(0.01) if $i % 20 == 0;
}

is($bad, 0, "$n requests, an arm failing 30 %: no failure reached the client");

my $flaky_sent = scalar grep { $_->{path} =~ /completions/ }
                        @{ $t->mock_requests('flaky') };
my $flaky_503 = scalar grep { ($_->{status} // 0) == 503 }
                       @{ $t->mock_requests('flaky') };
my $s = status();
my $p = $s->{policies}{chat};
my $fl = $p->{arms}{flaky};

diag("answers by arm: " . join(', ', map { "$_ $arm{$_}" } sort keys %arm)
     . "; flaky got $flaky_sent requests, answered $flaky_503 with 503;"
     . " breaker opened $fl->{breaker}{opens} times, probed"
     . " $fl->{breaker}{probes}; states seen: "
     . join(', ', map { "$_ $states{$_}" } sort keys %states));

ok($flaky_503 > 0, "the flaky arm failed $flaky_503 times");
is($p->{failovers}, $flaky_503, 'every failure was failed over');
is($fl->{errors}{server}, $flaky_503, 'the failures count as its errors');
is($fl->{outcomes}, $flaky_sent, 'every attempt of the flaky arm is an'
                                 . ' outcome');
ok($fl->{breaker}{opens} >= 1, "its circuit opened ($fl->{breaker}{opens})");
ok($states{open} || $states{half_open}, 'the status showed it open');
ok($fl->{breaker}{probes} >= 1, "half-open probes were sent"
                                . " ($fl->{breaker}{probes})");

# wait out the cooldown; a good probe closes the circuit
my $closed;
for (1 .. 100) {
    ask('/v1/chat/completions', 'after');
    $closed = status()->{policies}{chat}{arms}{flaky}{breaker}{state} eq 'closed';
    last if $closed;
    sleep(0.05);
}
ok($closed, 'and closed again after a good probe');

my @leaked = grep { exists $_->{headers}{'x-flaky-key'} }
             @{ $t->mock_requests('openai') };
is(scalar @leaked, 0, "the flaky arm's key never reached the other provider"
                      . ' on a failover');
ok((grep { ($_->{headers}{'x-flaky-key'} // '') eq 'flaky-secret' }
    @{ $t->mock_requests('flaky') }) > 0, '... while its own got it');

my $log = $t->read_file('logs/error.log');
like($log, qr/arm "flaky": circuit open for 300 ms/, 'the log says it opened');
like($log, qr/arm "flaky": circuit closed, the probe succeeded/,
     '... and closed');
like($log, qr/arm "flaky" failed, failover to "good"/, '... and failed over');

# both attempts are learned: updates = answers + failed attempts
my $updates;
for (1 .. 100) {
    $s = status();
    $updates = 0;
    $updates += $_->{updates} for values %{ $s->{policies}{chat}{arms} };
    last if $updates >= $s->{policies}{chat}{requests}
                        + $s->{policies}{chat}{failovers};
    sleep(0.05);
}
is($updates, $s->{policies}{chat}{requests} + $s->{policies}{chat}{failovers},
   "both attempts learned: $updates updates for"
   . " $s->{policies}{chat}{requests} requests and"
   . " $s->{policies}{chat}{failovers} failovers");

# --- the error-rate window -------------------------------------------------------

# failures in a row are off for this policy: only the share of failures
# among the arm's answers of the last 5 s opens its circuit

my $rated_n = 0;
for my $i (1 .. 120) {
    ask('/rated/v1/chat/completions', "rate $i");
    $rated_n++;
    last if status()->{policies}{rated}{arms}{flaky}{breaker}{opens} >= 1
            && $i >= 30;
}
my $rb = status()->{policies}{rated}{arms}{flaky}{breaker};
my $ra = status()->{policies}{rated}{arms}{flaky};
ok($rb->{opens} >= 1, "error rate: the circuit opened after $rated_n "
   . "requests ($ra->{errors}{server} failures of $ra->{outcomes} answers)");
like($t->read_file('logs/error.log'),
     qr/policy "rated" arm "flaky": circuit open for 300 ms \(error rate\)/,
     '... and the log says why');

# --- Retry-After ----------------------------------------------------------------

my $r = ask('/limited/v1/chat/completions', 'slow down',
            'X-Mock-Status' => 429, 'X-Mock-Header' => 'Retry-After: 2');
is($r->{status}, 429, 'a 429 without failover reaches the client');
my $b = status()->{policies}{limited}{arms}{good}{breaker};
is($b->{state}, 'open', 'Retry-After opens the circuit at once');
ok($b->{open_ms} > 1000 && $b->{open_ms} <= 2000,
   "... for the 2 s it asked ($b->{open_ms} ms left)");

# every circuit open: a request is still tried rather than refused
$r = ask('/limited/v1/chat/completions', 'anyway');
is($r->{status}, 200, 'with every circuit open, a request is still tried');

my $m = $t->http('GET', '/status?format=prometheus')->{body};
like($m, qr/^llmopt_arm_breaker_opens_total\{policy="chat",arm="flaky"\} [1-9]/m,
     'metrics: breaker opens');
like($m, qr/^llmopt_arm_breaker_open\{policy="limited",arm="good"\} [01]$/m,
     'metrics: breaker state');

# --- latency SLO ---------------------------------------------------------------

my ($laggy, %late) = (0);
for my $i (1 .. 200) {
    my $r = ask('/timed/v1/chat/completions', "q $i");
    my $arm = $r->{headers}{'x-arm'} // 'none';
    $laggy++ if $arm eq 'laggy';
    $late{$arm}++ if $i > 150;
    last if $laggy >= 30 && $i >= 180;
}
my $slo = status()->{policies}{timed}{arms}{laggy}{slo};
ok($slo->{breach} && $slo->{p95_ms} > 100,
   "the laggy arm's p95 ($slo->{p95_ms} ms) breaks the 100 ms SLO");
is($late{laggy} // 0, 0, 'once it did, no request went to it ('
   . join(', ', map { "$_ $late{$_}" } sort keys %late) . ')');
like($t->read_file('logs/error.log'),
     qr/arm "laggy": recent p95 latency \d+ ms breaks the SLO of 100 ms/,
     '... and the log said so');

# latency_slo_action: penalise keeps the arm and takes half off its rewards

my %soft;
for my $i (1 .. 200) {
    my $r = ask('/soft/v1/chat/completions', "s $i");
    my $b = status()->{policies}{soft}{arms}{laggy}{slo}{breach};
    $soft{ ($b ? 'after' : 'before') . ' ' . ($r->{headers}{'x-arm'} // '') }++;
    last if ($soft{'after laggy'} // 0) >= 15;
}
my $sa = status()->{policies}{soft}{arms};
ok($sa->{laggy}{slo}{breach}, 'penalise: the laggy arm breaks the SLO');
ok(($soft{'after laggy'} // 0) >= 15,
   "... and still gets requests ($soft{'after laggy'} after the breach)");
ok($sa->{laggy}{reward}{mean} < 0.95 && $sa->{good}{reward}{mean} > 0.99,
   sprintf('... with rewards cut: mean %.3f against %.3f',
           $sa->{laggy}{reward}{mean}, $sa->{good}{reward}{mean}));

# --- context windows and max_cost ------------------------------------------------

my %sized;
for my $i (1 .. 20) {
    my $r = ask('/sized/v1/chat/completions', 'word ' x 150);   # ~190 tokens
    $sized{ $r->{headers}{'x-arm'} // $r->{status} }++;
}
is_deeply(\%sized, { big => 20 },
          'a prompt too long for the small window always goes to big');

$r = ask('/sized/v1/chat/completions', 'word ' x 2000);
is($r->{status}, 400, 'too long for every window: 400');
my $e = eval { decode_json($r->{body}) } // {};
is($e->{error}{code}, 'context_length_exceeded', '... context_length_exceeded');
like($e->{error}{message}, qr/needs about \d+ tokens/, '... saying how many');

$r = ask('/sized/v1/chat/completions', 'short', body => { max_tokens => 1500 });
is($r->{headers}{'x-arm'}, 'big', 'max_tokens 1500: only big fits,'
                                  . ' at $0.045 within max_cost');
$r = ask('/sized/v1/chat/completions', 'word ' x 150,
         body => { max_tokens => 1700 });
is($r->{status}, 400, 'over max_cost on the only arm that fits: 400');
$e = eval { decode_json($r->{body}) } // {};
is($e->{error}{code}, 'cost_limit', '... cost_limit') or diag($r->{body});

is(status()->{policies}{sized}{rejected}{constraint}, 2,
   'status counts both as constraint rejections');

$t->allow_log(qr/circuit open|upstream server temporarily disabled/);

$t->done();
done_testing();
