#!/usr/bin/perl
# The status page after a replay run: the test prompts through nginx to
# three arms, each answer scored with the data's correctness of the
# chosen arm's model.  Then:
#   - the JSON status holds the figures the client can compute itself:
#     requests, traffic shares, rewards with their interval, outcomes;
#     percentiles, zone and trainer figures are there and sane;
#   - the per-minute and the 10-minute series add up to the status
#     counters exactly;
#   - format by ?format= or by the Accept header; no secret anywhere;
#   - headless Chromium loads the dashboard at 1400 and 360 px without a
#     console error or anything wider than the window; its seven charts
#     hold the series' data; its arm table shows the status's counts; its
#     spend, $/hour, savings against a baseline named in its address (the
#     default: gpt4, the costliest),
#     quality difference with its interval and feedback coverage equal
#     what this client computes from the answers it got and the scores it
#     sent; screenshots are kept (build/artefacts/dashboard-1400.png and
#     -360.png, or under $LLMOPT_ARTEFACTS); its 24 h range draws the
#     10-minute series.

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
    budget: {day: 100}
  batch:
    algorithm: ucb1
    seed: 3
    arms: [gpt35, mixtral]
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
    llmopt_state_file %%PREFIX%%/state;

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
        location /v1/batch/chat/completions {
            llmopt_route batch;
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

my (%req, %n, %sum, %sq, %tin, %tout);
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

    my $u = eval { decode_json($r->{body})->{usage} } // {};
    $tin{$arm} += $u->{prompt_tokens} // 0;
    $tout{$arm} += $u->{completion_tokens} // 0;

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

    # no latency_slo: the trainer measures no recent p95 for it
    ok(exists $a->{slo}{p95_ms} && !defined $a->{slo}{p95_ms},
       "$arm: slo.p95_ms null without a latency_slo");

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

# the 10-minute series (24 hours): the same counters, in fewer points

my $day = status('?format=series&resolution=600');
my $dp = $day->{policies}{chat};
is($day->{resolution_s}, 600, 'day series: one point in 10 minutes');
ok(@{ $dp->{t} } >= 1 && @{ $dp->{t} } <= @{ $sp->{t} },
   scalar(@{ $dp->{t} }) . ' point(s), no more than the minute series\'');
ok($dp->{t}[0] <= $sp->{t}[0], 'day series: from the start of the history');

for my $arm (sort keys %MODEL) {
    my $x = $dp->{arms}{$arm};
    my $a = $p->{arms}{$arm};
    is(total($x->{requests}), $a->{requests}, "$arm: day series requests");
    is(total($x->{rewards}), $a->{reward}{n}, "$arm: day series rewards");
    ok(abs(total($x->{cost_usd}) - $a->{cost_usd}) < 1e-6,
       "$arm: day series cost");
    is(total($x->{errors}), $a->{errors}{rate_limited},
       "$arm: day series errors");
}

{
    my $r = $t->http('GET', '/status?format=series&resolution=120');
    is($r->{status}, 400, 'resolution=120: 400');
    is(eval { decode_json($r->{body})->{error}{code} }, 'invalid_resolution',
       '... a JSON error');
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

my @arms = qw(gpt4 gpt35 mixtral);
my $dir = $ENV{LLMOPT_ARTEFACTS} // Llmopt::Test->root . '/build/artefacts';
make_path($dir);
my $prefix = "$dir/dashboard";
unlink("$prefix-1400.png", "$prefix-360.png");

my $before = status('?format=series');
# the baseline: the arm with the most rewards (named in the page's
# address, so that the interval has two samples whatever the replay chose);
# the default, the costliest, is gpt4

my ($base) = sort { ($n{$b} // 0) <=> ($n{$a} // 0) || $a cmp $b } @arms;
my $url = 'http://127.0.0.1:' . $t->port
          . "/status?format=html#baseline.chat=$base";
my $js = Llmopt::Test->root . '/t/browser/dashboard.mjs';
my $outp = `node '$js' '$url' '$prefix' 1400,360 2>&1`;
is($?, 0, 'the browser ran') or diag($outp);
my ($line) = grep { /^\{/ } split /\n/, $outp;
my $b = eval { decode_json($line // '') } // {};

is($b->{status}, 200, 'browser: page 200');
is_deeply($b->{console_errors}, [], 'browser: no console error');
is_deeply($b->{page_errors}, [], 'browser: no page error');
is_deeply($b->{failed}, [], 'browser: no failed request');
is_deeply([grep { !m{^http://127\.0\.0\.1:\d+/} } @{ $b->{requests} // [] }],
          [], 'browser: nothing requested from elsewhere');

my %PRICE = (gpt4 => [10, 30], gpt35 => [1, 2], mixtral => [0.6, 0.6]);

# what this client knows: the tokens of the answers it got, the scores it
# sent; the 429s learned as rewards of 0 once their wait ended (as many as
# the status the page read says)

sub cost_at {
    my ($arm, $base) = @_;
    return (($tin{$arm} // 0) * $PRICE{$base}[0]
            + ($tout{$arm} // 0) * $PRICE{$base}[1]) / 1e6;
}

for my $arm (@arms) {
    is($p->{arms}{$arm}{tokens}{in}, $tin{$arm} // 0, "$arm: tokens in");
    is($p->{arms}{$arm}{tokens}{out}, $tout{$arm} // 0, "$arm: tokens out");
    is_deeply($p->{arms}{$arm}{price},
              { input => $PRICE{$arm}[0], output => $PRICE{$arm}[1],
                cached_input => $PRICE{$arm}[0] }, "$arm: prices");
}

sub quality_known {
    my ($seen, $base) = @_;
    my (%x);
    for my $arm (@arms) {
        my $g = $arm eq $base ? 'b' : 'r';
        my $fail = $seen->{$arm}{reward}{failures} // 0;
        $x{$g}{n} += ($n{$arm} // 0) + $fail;
        $x{$g}{s} += $sum{$arm} // 0;
        $x{$g}{q} += $sq{$arm} // 0;
    }
    # all rewards the baseline's: the policy is the baseline, exactly 0;
    # else fewer than two on a side: no interval (the page shows "-")
    return (0, 0, 0) if ($x{b}{n} // 0) > 0 && ($x{r}{n} // 0) == 0;
    return (undef) x 3 if ($x{b}{n} // 0) < 2 || ($x{r}{n} // 0) < 2;
    my ($mb, $mr) = map { $x{$_}{s} / $x{$_}{n} } qw(b r);
    my ($vb, $vr) = map {
        my $m = $x{$_}{s} / $x{$_}{n};
        ($x{$_}{q} - $x{$_}{n} * $m * $m) / ($x{$_}{n} - 1)
    } qw(b r);
    my $w = $x{b}{n} / ($x{b}{n} + $x{r}{n});
    my $diff = (1 - $w) * ($mr - $mb);
    my $half = 1.96 * (1 - $w) * sqrt($vb / $x{b}{n} + $vr / $x{r}{n});
    return ($diff, $diff - $half, $diff + $half);
}

sub num {
    my ($s) = @_;
    $s //= '';
    $s =~ s/\x{2212}/-/g;
    $s =~ s/[\$,%\s]//g;
    return $s;
}

$series = status('?format=series');
my $after = $series;

for my $width (1400, 360) {
    my $d = $b->{views}{$width} // {};
    my $shot = $d->{screenshot} // '';
    ok(-s $shot, "$width px: screenshot kept: $shot (" . (-s $shot // 0)
       . ' bytes)');
    ok($d->{scroll_width} && $d->{scroll_width} <= $width,
       "$width px: nothing wider than the window ($d->{scroll_width})");
    is($d->{clipped}, 0, "$width px: no chart wider than its box");
    is($d->{policy}, 'chat', "$width px: policy chat");
    is($d->{resolution}, 60, "$width px: all the data: the minute series");
    is($d->{titles}[0], 'Requests per minute', "$width px: ... so titled");
    is($d->{canvases}, 10, "$width px: ten charts drawn");
    is($d->{summary_rows}, 3, "$width px: a table row per arm");
    is_deeply($d->{arms}, \@arms, "$width px: the arms");

    # the arm table shows the status's counts

    my %row = map { $_->[0] => $_ } @{ $d->{rows} // [] };
    for my $arm (@arms) {
        is($row{$arm}[2], $p->{arms}{$arm}{requests},
           "$width px: $arm: $p->{arms}{$arm}{requests} requests shown");
    }

    # the figures against the known numbers

    my $seen = $d->{status}{policies}{chat}{arms} // {};
    my $f = $d->{figures}{policies}[0] // {};
    my $spend = 0;
    $spend += cost_at($_, $_) for @arms;
    my $cf = 0;
    $cf += cost_at($_, $base) for @arms;
    my ($diff, $lo, $hi) = quality_known($seen, $base);

    is($f->{costliest}, 'gpt4', "$width px: the default baseline: gpt4");
    is($f->{baseline}, $base, "$width px: the baseline named: $base");
    ok(abs($f->{spend} - $spend) < 1e-6,
       sprintf("%d px: spend %.6f (%.6f)", $width, $f->{spend}, $spend));
    ok(abs($f->{counterfactual} - $cf) < 1e-9,
       sprintf("%d px: at %s's prices %.6f", $width, $base, $cf));
    ok(abs($f->{savings} - ($cf - $spend)) < 1e-6,
       sprintf("%d px: saved %.6f", $width, $cf - $spend));
    my $q = $f->{quality} // {};
    ok(!defined $diff ? !defined $q->{diff} && !defined $q->{lo}
       : defined $q->{diff} && abs($q->{diff} - $diff) < 5e-4
       && abs($q->{lo} - $lo) < 5e-4 && abs($q->{hi} - $hi) < 5e-4,
       !defined $diff ? "$width px: no quality interval: a side has < 2"
       : sprintf("%d px: quality %+.4f [%+.4f, %+.4f]", $width, $diff, $lo,
                 $hi));

    my $scored = 0;
    $scored += $n{$_} // 0 for @arms;
    my $answered = 0;
    $answered += $seen->{$_}{outcomes} - $seen->{$_}{errors}{rate_limited}
        for @arms;
    ok(abs($f->{coverage} - $scored / $answered) < 1e-9,
       "$width px: feedback coverage $scored of $answered");

    # what the cards show is what the figures hold

    my $c = $d->{cards} // {};
    ok(abs(num($c->{spend}{value}) - $spend) < 2e-6,
       "$width px: spend shown: $c->{spend}{value}");
    ok(abs(num($c->{savings}{value}) - ($cf - $spend)) < 2e-6,
       "$width px: savings shown: $c->{savings}{value}");
    like($c->{savings}{title} // '', qr/\Q$base\E/,
         "$width px: ... against $base");
    my $sn = qr/[+\x{2212}-]?[\d.]+/;
    my @qs = map { num($_) } ($c->{quality}{value} // '')
        =~ /($sn)\s*\[($sn),\s*($sn)\]/;
    ok(!defined $diff ? ($c->{quality}{value} // '') eq "\x{2013}"
       : @qs == 3 && abs($qs[0] - $diff) < 2e-3 && abs($qs[1] - $lo) < 2e-3
       && abs($qs[2] - $hi) < 2e-3,
       "$width px: quality shown: " . join(' ', @qs));
    ok(abs(num($c->{coverage}{value}) - 100 * $scored / $answered) < 0.06,
       "$width px: coverage shown: $c->{coverage}{value}");

    # the budget's burn: this instance's spend of the day's cap

    my $bd = $d->{status}{policies}{chat}{budget}{day} // {};
    my ($bs, $bc, $bp) = ($c->{budget}{value} // '')
        =~ /day \$([\d.]+) of \$([\d.]+) \(([\d.]+) %\)/;
    ok(defined $bs && abs($bs - $bd->{spent}) < 2e-6 && $bc == 100
       && abs($bp - $bd->{spent}) < 0.06,
       "$width px: budget shown: " . ($c->{budget}{value} // ''));
    ok($bd->{spent} > 0 && abs($bd->{spent} - $spend) < 1e-3,
       "$width px: ... $bd->{spent} of the day's 100 spent");

    # $/hour: the last hour's spend (all of it) over the time it covers

    my $now = $d->{status}{time_ms} / 1000;
    my $t0 = $d->{charts}{spend}[0][0];
    my $ph = $spend * 3600 / ($now - $t0 < 60 ? 60 : $now - $t0);
    ok(abs($d->{figures}{total}{per_hour} - $ph) < 1e-4 * ($ph + 1),
       sprintf("%d px: %.4f USD per hour", $width, $ph));
    like($c->{spend}{sub} // '', qr/per hour/, "$width px: ... shown");

    # the charts hold the series' values

    my $charts = $d->{charts} // {};
    $sp = $after->{policies}{chat};
    if (!eq_array($charts->{share}[0] // [], $sp->{t})) {
        $sp = $before->{policies}{chat};
    }

    for my $name (qw(requests spend share reward cost latency errors
                     breaker health lag)) {
        my $ch = $charts->{$name} // [];
        my $lines = $name eq 'health' ? 2 : $name eq 'lag' ? 1 : 3;
        is(scalar @$ch, $lines + 1, "$width px: $name: time and $lines");
        is_deeply($ch->[0], $sp->{t}, "$width px: $name: the series' times");
        my $nonempty = grep { defined } map { @{ $ch->[$_] // [] } }
                       1 .. $lines;
        ok($nonempty > 0, "$width px: $name: $nonempty values");
    }
    is_deeply($charts->{health}[1], $sp->{failovers},
              "$width px: failovers: the series'");
    is_deeply($charts->{health}[2], $sp->{drops},
              "$width px: ring drops: the series'");
    is_deeply($charts->{lag}[1], $sp->{lag_ms},
              "$width px: trainer lag: the series'");
    is_deeply([map { $_->{label} } @{ $d->{markers} // [] }], ['start'],
              "$width px: one marker, the start");

    my $match = 1;
    for my $i (0 .. $#{ $sp->{t} }) {
        my $all = 0;
        $all += $sp->{arms}{$_}{requests}[$i] for @arms;
        for my $k (0 .. $#arms) {
            my $x = $sp->{arms}{ $arms[$k] };
            my %want = (
                requests => $x->{requests}[$i],
                spend => $x->{cost_usd}[$i],
                errors => $x->{errors}[$i],
                breaker => $x->{breaker_open}[$i],
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
    ok($match, "$width px: every chart value is its series value");
}

# the series' policy-wide figures add up to the status's

for my $f ([failovers => $p->{failovers}], [drops => $s->{ring}{drops}]) {
    is(total($after->{policies}{chat}{$f->[0]}), $f->[1],
       "series $f->[0] add up to $f->[1]");
}
is(total($after->{policies}{chat}{reloads}), 0, 'series: no reload yet');

# a controlled run: policy batch, every answer of gpt35 scored 1 but one in
# four (0), of mixtral 1, 0.5, 0.5 in turn; the tokens of each answer and
# every score are this client's, so the page's savings against gpt35 (the
# costliest) and the quality difference with its interval are known

my (%bn, %bsum, %bsq, %btin, %btout);
for my $i (0 .. 79) {
    my $r = $t->http('POST', '/v1/batch/chat/completions',
                     headers => { 'Content-Type' => 'application/json',
                                  'X-Mock-Tokens' => 10 + $i % 7 },
                     body => encode_json({ model => 'auto', messages => [
                         { role => 'user', content => "question $i" }] }));
    next unless $r->{status} == 200;
    my $arm = $r->{headers}{'x-arm'};
    my $u = decode_json($r->{body})->{usage};
    $btin{$arm} += $u->{prompt_tokens};
    $btout{$arm} += $u->{completion_tokens};
    my $score = $arm eq 'gpt35' ? ($bn{$arm} // 0) % 4 == 3 ? 0 : 1
                                : ($bn{$arm} // 0) % 3 ? 0.5 : 1;
    my $f = $t->http('POST', '/feedback',
                     headers => { 'Content-Type' => 'application/json' },
                     body => encode_json({
                         id => $r->{headers}{'x-llmopt-request-id'},
                         score => $score }));
    next unless $f->{status} == 200;
    $bn{$arm}++;
    $bsum{$arm} += $score;
    $bsq{$arm} += $score * $score;
}
ok(($bn{gpt35} // 0) >= 2 && ($bn{mixtral} // 0) >= 2,
   "batch: gpt35 scored $bn{gpt35} times, mixtral $bn{mixtral}");

for (1 .. 200) {
    my $b = status()->{policies}{batch}{arms};
    last if ($b->{gpt35}{reward}{n} // 0) == $bn{gpt35}
            && ($b->{mixtral}{reward}{n} // 0) == $bn{mixtral};
    sleep(0.05);
}

(my $batch_url = $url) =~ s/#.*//;
my $v = browse('batch', "$batch_url#policy=batch");
{
    my $f = $v->{figures}{policies}[0] // {};
    my $bcost = sub {
        my ($arm, $base) = @_;
        return (($btin{$arm} // 0) * $PRICE{$base}[0]
                + ($btout{$arm} // 0) * $PRICE{$base}[1]) / 1e6;
    };
    my $spend = $bcost->('gpt35', 'gpt35') + $bcost->('mixtral', 'mixtral');
    my $cf = $bcost->('gpt35', 'gpt35') + $bcost->('mixtral', 'gpt35');
    my ($nb, $nr) = ($bn{gpt35}, $bn{mixtral});
    my ($mb, $mr) = ($bsum{gpt35} / $nb, $bsum{mixtral} / $nr);
    my $vb = ($bsq{gpt35} - $nb * $mb * $mb) / ($nb - 1);
    my $vr = ($bsq{mixtral} - $nr * $mr * $mr) / ($nr - 1);
    my $w = $nb / ($nb + $nr);
    my $diff = (1 - $w) * ($mr - $mb);
    my $half = 1.96 * (1 - $w) * sqrt($vb / $nb + $vr / $nr);
    my $q = $f->{quality} // {};

    is($f->{policy}, 'batch', 'batch: the page shows batch');
    is($f->{baseline}, 'gpt35', 'batch: baseline gpt35, the costliest');
    ok(abs($f->{spend} - $spend) < 1e-6,
       sprintf('batch: spend %.6f', $spend));
    ok(abs($f->{counterfactual} - $cf) < 1e-9,
       sprintf("batch: at gpt35's prices %.6f", $cf));
    ok($cf - $spend > 0 && abs($f->{savings} - ($cf - $spend)) < 1e-6,
       sprintf('batch: saved %.6f', $cf - $spend));
    ok(defined $q->{diff} && abs($q->{diff} - $diff) < 5e-4
       && abs($q->{lo} - ($diff - $half)) < 5e-4
       && abs($q->{hi} - ($diff + $half)) < 5e-4,
       sprintf('batch: quality %+.4f [%+.4f, %+.4f] (%d and %d rewards)',
               $diff, $diff - $half, $diff + $half, $nb, $nr));
    my $sn = qr/[+\x{2212}-]?[\d.]+/;
    my @qs = map { num($_) } ($v->{cards}{quality}{value} // '')
        =~ /($sn)\s*\[($sn),\s*($sn)\]/;
    ok(@qs == 3 && abs($qs[0] - $diff) < 2e-3
       && abs($qs[1] - ($diff - $half)) < 2e-3
       && abs($qs[2] - ($diff + $half)) < 2e-3,
       'batch: quality shown: ' . join(' ', @qs));
    ok(abs(num($v->{cards}{savings}{value}) - ($cf - $spend)) < 2e-6,
       "batch: savings shown: $v->{cards}{savings}{value}");
}

# a reload: marked where it happened

ok($t->reload(), 'reload');
my $reloaded = status('?format=series');
is(total($reloaded->{policies}{chat}{reloads}), 1,
   'series: one reload, in the last point');

sub browse {
    my ($name, $where) = @_;
    $where //= $url;
    my $o = `node '$js' '$where' '$prefix-$name' 1400 2>&1`;
    is($?, 0, "$name: the browser ran") or diag($o);
    my ($l) = grep { /^\{/ } split /\n/, $o;
    my $res = eval { decode_json($l // '') } // {};
    is_deeply($res->{page_errors}, [], "$name: no page error");
    ok(-s "$prefix-$name-1400.png", "$name: screenshot kept");
    return $res->{views}{1400} // {};
}

$v = browse('reload');
is_deeply([map { $_->{label} } @{ $v->{markers} // [] }], [qw(start reload)],
          'reload: marked after the start');
is($v->{markers}[1]{t}, $reloaded->{policies}{chat}{t}[-1],
   '... at the last point');

# all policies: one row each, the figures summed

(my $all_url = $url) =~ s/#.*//;
$all_url .= '#policy=%E2%80%94%20all%20policies%20%E2%80%94';
$v = browse('all', $all_url);
is_deeply([map { $_->[0] } @{ $v->{rows} // [] }],
          [qw(policy chat batch)], 'all policies: a row each');
is_deeply($v->{arms}, [qw(chat batch)], 'all policies: a line each');
is($v->{canvases}, 10, 'all policies: ten charts drawn');
is_deeply([map { $_->{label} } @{ $v->{markers} // [] }], [qw(start reload)],
          'all policies: the reload marked once');
my $fp = $v->{figures}{policies} // [];
ok(@$fp == 2 && $fp->[1]{spend} > 0
   && abs($v->{figures}{total}{spend} - $fp->[0]{spend} - $fp->[1]{spend})
      < 1e-12,
   "all policies: spend $v->{figures}{total}{spend}, chat's and batch's");
my $rq = $v->{charts}{requests} // [];
is(total($rq->[1] // []), $v->{status}{policies}{chat}{requests},
   'all policies: chat\'s requests charted');

# the 24 h range: the charts draw the 10-minute series

my $day_before = status('?format=series&resolution=600');
$v = browse('day', "$batch_url#policy=chat&range=86400");
my $day_after = status('?format=series&resolution=600');
is($v->{range}, 86400, '24 h: the range chosen');
is($v->{resolution}, 600, '24 h: the 10-minute series drawn');
is_deeply([grep { /minute/ } @{ $v->{titles} // [] }],
          ['Requests per 10 minutes', 'Spend per 10 minutes, USD',
           'Errors per 10 minutes',
           'Breaker not closed (1) at the end of each 10 minutes',
           'Failovers and ring drops per 10 minutes',
           'Trainer lag at the end of each 10 minutes, ms'],
          '24 h: the charts say so');
{
    my $dp = $day_after->{policies}{chat};
    $dp = $day_before->{policies}{chat}
        if !eq_array($v->{charts}{requests}[0] // [], $dp->{t});
    is_deeply($v->{charts}{requests}[0], $dp->{t},
              "24 h: the day series' times (" . scalar(@{ $dp->{t} })
              . ' point(s))');
    my $match = 1;
    for my $k (0 .. $#arms) {
        my $x = $dp->{arms}{ $arms[$k] };
        $match &&= eq_array($v->{charts}{requests}[ $k + 1 ], $x->{requests})
                   && eq_array($v->{charts}{errors}[ $k + 1 ], $x->{errors});
    }
    ok($match, '24 h: requests and errors per arm: the day series\'');
    my $shown = 0;
    $shown += total($v->{charts}{requests}[ $_ + 1 ]) for 0 .. $#arms;
    is($shown, $v->{status}{policies}{chat}{requests},
       "24 h: all $shown requests charted");
    is_deeply($v->{charts}{lag}[1], $dp->{lag_ms}, '24 h: the lag too');
}

# a restart: the counters start again, the learned state is restored and
# shown (the model's updates and mean), not 0 and "-"

# ... with the catalog naming the baseline now: the page takes it when
# its address names none

is($p->{baseline}, undef, 'no baseline in the catalog: null');
my %pulls = map { $_ => $p->{arms}{$_}{params}{pulls} } @arms;
$t->stop();
my $cat = $t->read_file('catalog.yaml');
$cat =~ s/^(    feedback_wait: 30000\n)/$1    baseline: mixtral\n/m
    or die 'catalog: no feedback_wait line';
$t->write_file('catalog.yaml', $cat);
$t->start();
my $r2 = status();
is($r2->{trainer}{restored}, 2, 'restart: both policies restored');
is($r2->{policies}{chat}{arms}{gpt4}{requests}, 0, '... its counters at 0');
is($r2->{policies}{chat}{baseline}, 'mixtral', 'the catalog names mixtral');

$url =~ s/#.*//;
$v = browse('restart');
is($v->{figures}{policies}[0]{baseline}, 'mixtral',
   "restart: the page compares with the catalog's baseline");
like($v->{cards}{savings}{title} // '', qr/mixtral/, '... and says so');
my %row = map { $_->[0] => $_ } @{ $v->{rows} // [] };
for my $arm (@arms) {
    my $a = $r2->{policies}{chat}{arms}{$arm};
    # the page rounds as JavaScript does (0.5625 -> 0.563), Perl to even
    my ($n, $mean) = ($row{$arm}[6] // '') =~ m{^(\d+) / ([\d.]+)$};
    ok(defined $n && $n == $a->{params}{pulls}
       && abs($mean - $a->{mean_reward}) <= 0.0005 + 1e-9,
       "restart: $arm: learned $a->{params}{pulls} shown ($pulls{$arm}"
       . " before): " . ($row{$arm}[6] // 'nothing'));
}
my $sum = 0;
$sum += $r2->{policies}{chat}{arms}{$_}{params}{pulls} for @arms;
ok($sum > 0, "restart: $sum updates restored");
like($v->{cards}{learned}{value} // '', qr/^\Q$sum\E updates/,
     "restart: $sum learned updates shown");
like($v->{cards}{learned}{sub} // '', qr/restored/, '... as restored');
like($v->{meta} // '', qr/learned state restored/, '... in the header too');
is($v->{markers}[0]{label}, 'start, state restored',
   '... and at the start of the charts');

$t->done();
done_testing();
