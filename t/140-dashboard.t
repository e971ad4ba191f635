#!/usr/bin/perl
# The status page after a replay run: the test prompts through nginx to
# three arms, each answer scored with the data's correctness of the
# chosen arm's model.  Then:
#   - the JSON status holds the figures the client can compute itself:
#     requests, traffic shares, rewards with their interval, outcomes;
#     percentiles, zone and trainer figures are there and sane;
#   - the per-minute series add up to the status counters exactly;
#   - format by ?format= or by the Accept header; no secret anywhere;
#   - headless Chromium loads the dashboard without a console error, its
#     charts hold the series' data, and a screenshot is kept
#     (build/artefacts/dashboard.png, or $LLMOPT_ARTEFACTS).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use File::Path qw(make_path);
use Time::HiRes qw(sleep);
use Llmopt::Test;
use Llmopt::RouterBench;

my $t = Llmopt::Test->new(module => 1);

$t->start_mock('openai');

my $N = 240;
my %MODEL = (gpt4 => 'gpt-4-1106-preview', gpt35 => 'gpt-3.5-turbo-1106',
             mixtral => 'mistralai/mixtral-8x7b-chat');
my $SECRET = 'sk-llmopt-test-secret-4f1c2a';

my @rows = Llmopt::RouterBench::rows($N);
is(scalar @rows, $N, "$N test rows read");

$ENV{LLMOPT_TEST_KEY} = $SECRET;

$t->write_file('catalog.yaml', <<'YAML');
models:
  gpt4:    {upstream: up_openai, model: gpt-4-1106-preview,
            price: {input: 10, output: 30},
            headers: {Authorization: "Bearer ${LLMOPT_TEST_KEY}"}}
  gpt35:   {upstream: up_openai, model: gpt-3.5-turbo-1106,
            price: {input: 1, output: 2},
            headers: {Authorization: "Bearer ${LLMOPT_TEST_KEY}"}}
  mixtral: {upstream: up_openai, model: mixtral-8x7b-chat,
            price: {input: 0.6, output: 0.6},
            headers: {Authorization: "Bearer ${LLMOPT_TEST_KEY}"}}
policies:
  chat:
    algorithm: linucb
    alpha: 0.5
    seed: 5
    arms: [gpt4, gpt35, mixtral]
    features: [bias, input_tokens, has_code]
    reward: {quality: 1, cost: 0, latency: 0}
    feedback_wait: 30000
YAML

$t->write_conf(<<'CONF');
%%MODULE%%
worker_processes 2;
env LLMOPT_TEST_KEY;
events { worker_connections 256; }
http {
    llmopt_zone name=llmopt size=4m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=20ms;

    upstream up_openai { server %%MOCK_OPENAI%%; keepalive 8; }

    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/chat/completions {
            llmopt_route chat;
            proxy_pass http://$llmopt_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            add_header X-Arm $llmopt_arm always;
        }
        location = /feedback { llmopt_feedback; }
        location = /status {
            llmopt_status;
            allow 127.0.0.1;
            deny all;
        }
    }
}
CONF

$t->start();

sub status {
    my ($query) = @_;
    my $r = $t->http('GET', '/status' . ($query // ''));
    die "status: $r->{status}" unless $r->{status} == 200;
    return decode_json($r->{body});
}

# the trainer's first snapshot comes before any traffic

my $s;
for (1 .. 100) {
    $s = status();
    last if $s->{trainer}{ticks} > 0;
    sleep(0.05);
}
ok($s->{trainer}{ticks} > 0, 'the trainer ticks');

# the replay: every answer scored with the data's correctness

my (%req, %n, %sum, %sq);
my $start = time;

for my $i (0 .. $N - 1) {
    my %h = ('Content-Type' => 'application/json',
             'X-Mock-Tokens' => 5 + $i % 23);
    $h{'X-Mock-Status'} = 429 if $i % 40 == 7;

    my $r = $t->http('POST', '/v1/chat/completions', headers => \%h,
                     body => encode_json({ model => 'auto', messages => [
                         { role => 'user', content => $rows[$i]{prompt} }] }));
    my $arm = $r->{headers}{'x-arm'} // 'none';
    $req{$arm}++;

    next if $r->{status} != 200;

    my $score = $rows[$i]{correct}{ $MODEL{$arm} } // 0;
    my $f = $t->http('POST', '/feedback',
                     headers => { 'Content-Type' => 'application/json' },
                     body => encode_json({
                         id => $r->{headers}{'x-llmopt-request-id'},
                         score => $score }));
    next unless $f->{status} == 200;
    $n{$arm}++;
    $sum{$arm} += $score;
    $sq{$arm} += $score * $score;
}

my $learned = 0;
$learned += $_ for values %n;
ok($learned >= $N - 10, "$learned answers scored");

# the 429s are learned as failures when their feedback wait ends (30 s);
# the scored ones at once

for (1 .. 200) {
    $s = status();
    my $u = 0;
    $u += $_->{reward}{n} - $_->{reward}{failures}
        for values %{ $s->{policies}{chat}{arms} };
    last if $u >= $learned;
    sleep(0.05);
}

my $p = $s->{policies}{chat};
my $total = 0;
$total += $_ for values %req;
my $elapsed = time - $start;

diag(sprintf("replay: %d requests in %d s: %s", $total, $elapsed,
             join(', ', map { "$_ " . ($req{$_} // 0) } sort keys %MODEL)));

for my $arm (sort keys %MODEL) {
    my $a = $p->{arms}{$arm};
    my $r = $req{$arm} // 0;

    is($a->{requests}, $r, "$arm: requests $r");
    ok(abs($a->{share}{total} - $r / $total) < 1e-4,
       "$arm: total share $a->{share}{total}");
    is($a->{window}{hour}, $r, "$arm: all of them in the last hour");
    ok($a->{window}{minute} <= $r, "$arm: last minute within them");
    ok(abs($a->{share}{hour} - $r / $total) < 1e-4, "$arm: hour share");
    is($a->{outcomes}, $r, "$arm: outcomes");

    my $k = $n{$arm} // 0;
    is($a->{reward}{n} - $a->{reward}{failures}, $k, "$arm: $k scores");

    if ($k > 1) {
        my $mean = $sum{$arm} / $k;
        my $var = ($sq{$arm} - $k * $mean * $mean) / ($k - 1);
        # 429s count as rewards of 0 once expired; here none has expired
        ok(abs($a->{reward}{mean} - $mean) < 1e-4,
           sprintf("%s: mean reward %.4f", $arm, $mean));
        my $half = 1.96 * sqrt($var / $k);
        my $lo = $mean - $half < 0 ? 0 : $mean - $half;
        my $hi = $mean + $half > 1 ? 1 : $mean + $half;
        ok(abs($a->{reward}{ci95}[0] - $lo) < 1e-3
           && abs($a->{reward}{ci95}[1] - $hi) < 1e-3,
           sprintf("%s: 95 %% interval [%.4f, %.4f]", $arm, $lo, $hi));

    } elsif ($k == 1) {
        ok(abs($a->{reward}{mean} - $sum{$arm}) < 1e-4,
           "$arm: mean reward, its one score $sum{$arm}");
        is_deeply($a->{reward}{ci95}, [0, 1],
                  "$arm: 95 % interval [0, 1] with one reward");

    } else {
        # the bandit may leave an arm alone: the same checks, of nothing
        ok(!defined $a->{reward}{mean}, "$arm: no mean without a reward");
        ok(!defined $a->{reward}{ci95}, "$arm: no interval without a reward");
    }

    my $l = $a->{latency_ms};
    if ($r) {
        ok(defined $l->{p50} && $l->{p50} <= $l->{p95}
           && $l->{p95} <= $l->{p99} && $l->{n} == $r,
           "$arm: latency p50 $l->{p50} <= p95 $l->{p95} <= p99 $l->{p99}");
    } else {
        ok(!defined $l->{p50} && $l->{n} == 0,
           "$arm: no latency without a request");
    }
    is($a->{params}{pulls}, $a->{updates}, "$arm: parameter pulls");
    is_deeply([sort keys %{ $a->{params}{theta} }],
              [qw(bias has_code input_tokens)], "$arm: theta by feature");
}

ok($p->{decision_us}{n} == $total && $p->{decision_us}{p50} > 0
   && $p->{decision_us}{p50} <= $p->{decision_us}{p99},
   "decision time p50 $p->{decision_us}{p50} us, p99 $p->{decision_us}{p99}");
ok($p->{explore_share} >= 0 && $p->{explore_share} <= 1,
   "exploration share $p->{explore_share}");

my $z = $s->{zone};
ok($z->{used} > 0 && $z->{used} + $z->{free} == $z->{size},
   "zone: $z->{used} of $z->{size} bytes used");
ok(defined $s->{trainer}{updates_per_s} && defined $s->{trainer}{lag_ms}
   && $s->{trainer}{lag_ms} < 60000,
   "trainer: $s->{trainer}{updates_per_s} updates/s, lag"
   . " $s->{trainer}{lag_ms} ms");
is($s->{catalog}{version} =~ /^[0-9a-f]{16}$/ ? 1 : 0, 1, 'catalog version');

# the series add up to the status counters

my $series = status('?format=series');
my $sp = $series->{policies}{chat};
is($series->{resolution_s}, 60, 'series: one point a minute');
ok(@{ $sp->{t} } >= 1, scalar(@{ $sp->{t} }) . ' point(s)');

sub total {
    my $v = 0;
    $v += $_ for @{ $_[0] };
    return $v;
}

for my $arm (sort keys %MODEL) {
    my $x = $sp->{arms}{$arm};
    my $a = $p->{arms}{$arm};
    is(scalar @{ $x->{requests} }, scalar @{ $sp->{t} }, "$arm: aligned");
    is(total($x->{requests}), $a->{requests}, "$arm: series requests");
    is(total($x->{outcomes}), $a->{outcomes}, "$arm: series outcomes");
    is(total($x->{rewards}), $a->{reward}{n}, "$arm: series rewards");
    ok(abs(total($x->{cost_usd}) - $a->{cost_usd}) < 1e-6,
       "$arm: series cost $a->{cost_usd}");
    is(total($x->{latency_n}), $a->{latency_ms}{n}, "$arm: series latencies");
    is(total($x->{errors}), $a->{errors}{rate_limited}, "$arm: series errors");
}

# formats: ?format= wins, else Accept

my $r = $t->http('GET', '/status',
                 headers => { Accept => 'text/html,application/xhtml+xml' });
like($r->{headers}{'content-type'}, qr{^text/html}, 'Accept: text/html: page');
like($r->{headers}{vary} // '', qr/Accept/, '... Vary: Accept');
like($r->{headers}{'content-security-policy'} // '', qr/default-src 'none'/,
     '... nothing from elsewhere (CSP)');
unlike($r->{body}, qr{(src|href)=["']?https?:}i, '... no external reference');
my $page = $r->{body};

$r = $t->http('GET', '/status', headers => { Accept =>
    'application/openmetrics-text;version=1.0.0;q=0.5,'
    . 'text/plain;version=0.0.4;q=0.3,*/*;q=0.1' });
like($r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4},
     "Prometheus's Accept: exposition");
my $prom = $r->{body};

$r = $t->http('GET', '/status', headers => { Accept => '*/*' });
like($r->{headers}{'content-type'}, qr{^application/json}, '*/*: JSON');

$r = $t->http('GET', '/status?format=html',
              headers => { Accept => 'application/json' });
like($r->{headers}{'content-type'}, qr{^text/html}, '?format= wins');

$r = $t->http('GET', '/status?format=xml');
is($r->{status}, 400, 'unknown format: 400');
is(eval { decode_json($r->{body})->{error}{code} }, 'invalid_format',
   '... a JSON error');

# no secret in any of them

my $all = join("\n", $page, $prom, encode_json($s), encode_json($series),
                      $t->http('GET', '/status')->{body});
unlike($all, qr/\Q$SECRET\E/, 'the API key is in no status output');
unlike($all, qr/Bearer/, 'no Authorization value either');

# headless Chromium: no console error, charts with the series' data

my $dir = $ENV{LLMOPT_ARTEFACTS} // Llmopt::Test->root . '/build/artefacts';
make_path($dir);
my $shot = "$dir/dashboard.png";
unlink($shot);

my $before = status('?format=series');
my $url = 'http://127.0.0.1:' . $t->port . '/status?format=html';
my $js = Llmopt::Test->root . '/t/browser/dashboard.mjs';
my $outp = `node '$js' '$url' '$shot' 2>&1`;
is($?, 0, 'the browser ran') or diag($outp);
my ($line) = grep { /^\{/ } split /\n/, $outp;
my $b = eval { decode_json($line // '') } // {};

is($b->{status}, 200, 'browser: page 200');
is_deeply($b->{console_errors}, [], 'browser: no console error');
is_deeply($b->{page_errors}, [], 'browser: no page error');
is_deeply($b->{failed}, [], 'browser: no failed request');
is_deeply([grep { !m{^http://127\.0\.0\.1:\d+/} } @{ $b->{requests} // [] }],
          [], 'browser: nothing requested from elsewhere');
ok(-s $shot, "screenshot kept: $shot (" . (-s $shot // 0) . ' bytes)');

my $d = $b->{dashboard} // {};
is($d->{policy}, 'chat', 'dashboard: policy chat');
is($d->{canvases}, 4, 'dashboard: four charts drawn');
is($d->{summary_rows}, 3, 'dashboard: a summary row per arm');
is_deeply($d->{arms}, [qw(gpt4 gpt35 mixtral)], 'dashboard: the arms');

# the page fetched its series between these two (a minute may have begun
# in between, adding a point): compare with the one of the same times

my $charts = $d->{charts} // {};
$series = status('?format=series');
$sp = $series->{policies}{chat};
if (!eq_array($charts->{share}[0] // [], $sp->{t})) {
    $sp = $before->{policies}{chat};
}
my @arms = qw(gpt4 gpt35 mixtral);

for my $name (qw(share reward cost latency)) {
    my $c = $charts->{$name} // [];
    is(scalar @$c, 4, "$name: time and three arms");
    is_deeply($c->[0], $sp->{t}, "$name: the series' times");
    my $nonempty = grep { defined } map { @{ $c->[$_] // [] } } 1 .. 3;
    ok($nonempty > 0, "$name: $nonempty values");
}

my $match = 1;
for my $i (0 .. $#{ $sp->{t} }) {
    my $all = 0;
    $all += $sp->{arms}{$_}{requests}[$i] for @arms;
    for my $k (0 .. $#arms) {
        my $x = $sp->{arms}{ $arms[$k] };
        my %want = (
            share => $all ? $x->{requests}[$i] / $all : undef,
            reward => $x->{rewards}[$i]
                      ? $x->{reward_sum}[$i] / $x->{rewards}[$i] : undef,
            cost => $x->{outcomes}[$i]
                    ? $x->{cost_usd}[$i] / $x->{outcomes}[$i] : undef,
            latency => $x->{latency_n}[$i]
                       ? $x->{latency_ms_sum}[$i] / $x->{latency_n}[$i]
                       : undef);
        for my $name (keys %want) {
            my $got = $charts->{$name}[ $k + 1 ][$i];
            my $w = $want{$name};
            next if !defined $w && !defined $got;
            if (!defined $w || !defined $got || abs($got - $w) > 1e-9) {
                $match = 0;
                diag("$name $arms[$k] [$i]: chart "
                     . ($got // 'null') . ", series " . ($w // 'null'));
            }
        }
    }
}
ok($match, 'every chart value is its series value');

$t->done();
done_testing();
