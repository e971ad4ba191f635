#!/usr/bin/perl
# The status counters of what came back -- tokens, cost, errors, response
# times -- equal what the client sent and the mock answered, exactly, in
# the JSON status and in the Prometheus exposition; and the exposition is
# well formed (every family with HELP and TYPE, cumulative histograms).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

$t->start_mock('openai');

$t->write_file('catalog.yaml', <<'YAML');
models:
  a: {upstream: up_openai, model: model-a,
      price: {input: 2.5, output: 10, cached_input: 1.25}}
  b: {upstream: up_openai, model: model-b,
      price: {input: 0.15, output: 0.6}}
policies:
  chat:
    algorithm: epsilon_greedy
    epsilon: 0.5
    seed: 21
    arms: [a, b]
YAML

$t->write_conf(<<'CONF');
%%MODULE%%
worker_processes 2;
events { worker_connections 256; }
http {
    llmopt_zone name=llmopt size=2m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=20ms;

    upstream up_openai { server %%MOCK_OPENAI%%; keepalive 4; }

    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/chat/completions {
            llmopt_route chat;
            proxy_pass http://$llmopt_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Request-Id $llmopt_request_id;
            proxy_buffering off;
            add_header X-Arm $llmopt_arm always;
        }
        location = /status { llmopt_status; }
    }
}
CONF

$t->start();

my %PRICE = (a => [2.5, 10, 1.25], b => [0.15, 0.6, 0.15]);
my (%want, %arm_of);

for my $i (1 .. 60) {
    my %h = ('Content-Type' => 'application/json',
             'X-Mock-Tokens' => 1 + $i % 17,
             'X-Mock-Cached' => $i % 4 ? 0 : 3);
    $h{'X-Mock-Status'} = 429 if $i % 10 == 3;
    $h{'X-Mock-Status'} = 500 if $i % 10 == 7;

    my $body = { model => 'x', messages => [{ role => 'user',
                                              content => "question $i " x $i }] };
    $body->{stream} = JSON::PP::true if $i % 3 == 0;

    my $r = $t->http('POST', '/v1/chat/completions', headers => \%h,
                     body => encode_json($body));
    my $arm = $r->{headers}{'x-arm'} // 'none';
    $arm_of{ $r->{headers}{'x-llmopt-request-id'} // '' } = $arm;
    $want{$arm}{requests}++;
    $want{$arm}{rate_limited}++ if $r->{status} == 429;
    $want{$arm}{server}++ if $r->{status} == 500;
}

ok(keys %want >= 2, 'both arms were chosen');

# what the mock answered, request by request

for my $req (@{ $t->mock_requests('openai') }) {
    my $arm = $arm_of{ $req->{headers}{'x-request-id'} // '' } // next;
    my $u = $req->{usage} // next;          # errors carry no usage
    my $p = $PRICE{$arm};
    $want{$arm}{in} += $u->{input};
    $want{$arm}{out} += $u->{output};
    $want{$arm}{cached} += $u->{cached};
    $want{$arm}{nusd} += int((($u->{input} - $u->{cached}) * $p->[0]
                              + $u->{cached} * $p->[2]
                              + $u->{output} * $p->[1]) / 1e6 * 1e9 + 0.5);
}

my $s = decode_json($t->http('GET', '/status')->{body});
my $r = $t->http('GET', '/status?format=prometheus');
is($r->{status}, 200, 'prometheus exposition');
like($r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4},
     '... text/plain version 0.0.4');
my $prom = $r->{body};

my %sample;
for my $line (split /\n/, $prom) {
    next if $line =~ /^#/;
    my ($key, $value) = $line =~ /^(\S+) (\S+)$/ or next;
    $sample{$key} = $value;
}

for my $arm (sort keys %want) {
    my $j = $s->{policies}{chat}{arms}{$arm};
    my $w = $want{$arm};
    my $lbl = qq{policy="chat",arm="$arm"};
    my $cost = sprintf('%d.%09d', int(($w->{nusd} // 0) / 1e9),
                       ($w->{nusd} // 0) % 1e9);

    is($j->{requests}, $w->{requests}, "$arm: JSON requests");
    is($j->{outcomes}, $w->{requests}, "$arm: JSON outcomes");
    is($j->{tokens}{in}, $w->{in} // 0, "$arm: JSON tokens in");
    is($j->{tokens}{out}, $w->{out} // 0, "$arm: JSON tokens out");
    is($j->{tokens}{cached}, $w->{cached} // 0, "$arm: JSON tokens cached");
    is(sprintf('%.9f', $j->{cost_usd}), $cost, "$arm: JSON cost $cost");
    is($j->{errors}{rate_limited}, $w->{rate_limited} // 0,
       "$arm: JSON 429s");
    is($j->{errors}{server}, $w->{server} // 0, "$arm: JSON 5xx");

    is($sample{"llmopt_arm_requests_total{$lbl}"}, $w->{requests},
       "$arm: prometheus requests");
    is($sample{"llmopt_arm_tokens_total{$lbl,kind=\"in\"}"}, $w->{in} // 0,
       "$arm: prometheus tokens in");
    is($sample{"llmopt_arm_tokens_total{$lbl,kind=\"out\"}"}, $w->{out} // 0,
       "$arm: prometheus tokens out");
    is($sample{"llmopt_arm_cost_usd_total{$lbl}"}, $cost,
       "$arm: prometheus cost");
    is($sample{"llmopt_arm_errors_total{$lbl,kind=\"rate_limited\"}"},
       $w->{rate_limited} // 0, "$arm: prometheus 429s");
    is($sample{"llmopt_arm_errors_total{$lbl,kind=\"server\"}"},
       $w->{server} // 0, "$arm: prometheus 5xx");
    is($sample{"llmopt_upstream_seconds_count{$lbl}"}, $w->{requests},
       "$arm: one response time per request");
}

is($sample{'llmopt_requests_total{policy="chat"}'}, 60, 'requests: 60');
is($sample{'llmopt_decision_seconds_count{policy="chat"}'}, 60,
   'decision histogram: 60');

# well formed: HELP and TYPE before each family's samples, names and
# labels in the grammar, histograms cumulative up to +Inf = count

my (%help, %type, @bad, %buckets);
for my $line (split /\n/, $prom) {
    if ($line =~ /^# HELP (\w+) \S/) { $help{$1} = 1; next; }
    if ($line =~ /^# TYPE (\w+) (counter|gauge|histogram)$/) {
        $type{$1} = $2; next;
    }
    my ($name, $labels, $value) =
        $line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/;
    if (!defined $name || $value !~ /^[-+]?(\d+(\.\d+)?|\.\d+)([eE][-+]?\d+)?$/)
    {
        push @bad, $line;
        next;
    }
    (my $family = $name) =~ s/_(bucket|sum|count)$// if !$type{$name};
    $family //= $name;
    push @bad, "no TYPE before: $line" unless $type{$family} && $help{$family};
    if ($labels && $labels !~ /^\{(\w+="(?:[^"\\]|\\.)*")(,\w+="(?:[^"\\]|\\.)*")*\}$/) {
        push @bad, "labels: $line";
    }
    if ($name =~ /_bucket$/) {
        (my $series = $labels) =~ s/,le="[^"]*"//;
        push @{ $buckets{"$name$series"} }, [$labels =~ /le="([^"]+)"/, $value];
    }
}
is_deeply(\@bad, [], 'every line is a valid sample with HELP and TYPE');

my $hist_ok = 1;
for my $series (keys %buckets) {
    my @b = @{ $buckets{$series} };
    for my $k (1 .. $#b) {
        $hist_ok = 0 if $b[$k][1] < $b[$k - 1][1];
    }
    $hist_ok = 0 unless $b[-1][0] eq '+Inf';
    (my $count = $series) =~ s/_bucket\{/_count{/;
    $hist_ok = 0 unless defined $sample{$count} && $sample{$count} == $b[-1][1];
}
ok($hist_ok && keys %buckets >= 5, 'histograms are cumulative, +Inf = count ('
                                   . scalar(keys %buckets) . ' series)');

# promtool (Debian's prometheus package) lints the live exposition

my $file = $t->write_file('metrics.txt', $prom);
my $lint = `promtool check metrics < '$file' 2>&1`;
is($?, 0, 'promtool check metrics passes') or diag($lint);
is($lint, '', '... without a remark') or diag($lint);

$r = $t->http('GET', '/status?format=xml');
is($r->{status}, 400, 'an unknown format: 400');

$t->done();
done_testing();
