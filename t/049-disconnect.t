#!/usr/bin/perl
# Clients that leave, the cross product: both dialects, JSON and streamed
# answers, proxy_buffering off and on, with and without a budget, and a
# client that closes before the first byte, mid-answer, right after the
# finish reason (before the usage the provider sends last), or after the
# end.  What must hold in each:
#   - an answer that reached the client, in part or whole, is charged: the
#     rest is read, unsent, to its usage, and the cost is the provider's
#     usage at the catalog's prices ($llmopt_cost_source "usage");
#   - a client gone before the answer came is charged the prompt's
#     estimate, since the provider had it ("estimate");
#   - the access log says what happened ($llmopt_client_gone, the cost and
#     its source); a budget's spend equals the costs logged; the status
#     and the metrics count the drained answers and the estimates.
# Then the bypass that was found: a tenant capped by the day that leaves
# after each finish reason ends at the same cap as one that reads every
# answer to its end.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(time sleep);
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

$t->start_mock('openai');
$t->start_mock('anthropic');

# prices that make a token's cost visible: $1,000 and $2,000 per 1M

my $CAP = 0.5;

$t->write_file('catalog.yaml', <<"YAML");
models:
  oa: {upstream: up_openai, model: m-oa, price: {input: 1000, output: 2000}}
  an: {upstream: up_anthropic, model: m-an, api: anthropic,
       price: {input: 1000, output: 2000}}
policies:
  oa_free: {algorithm: static, arms: [oa]}
  an_free: {algorithm: static, arms: [an]}
  oa_capped:
    algorithm: static
    arms: [oa]
    budget: {day: 1000, output_tokens: 16}
  an_capped:
    algorithm: static
    arms: [an]
    budget: {day: 1000, output_tokens: 16}
  tenants:
    algorithm: static
    arms: [oa]
    budget: {tenant_day: $CAP, output_tokens: 16}
YAML

# what a dialect's clients post to (a routed location routes nothing else)
sub endpoint { $_[0] =~ /^an/ ? '/v1/messages' : '/v1/chat/completions' }

my $locations = '';
for my $p (qw(oa_free an_free oa_capped an_capped tenants)) {
    my $path = endpoint($p);
    for my $buffering (qw(on off)) {
        $locations .= <<"CONF";
        location /$buffering/$p/ {
            llmopt_route $p;
            proxy_buffering $buffering;
            proxy_pass http://\$llmopt_upstream$path;
        }
CONF
    }
}

$locations .= <<"CONF";
        location /slow/oa_free/ {
            llmopt_route oa_free;
            llmopt_drain_timeout 300ms;
            proxy_buffering off;
            proxy_pass http://\$llmopt_upstream/v1/chat/completions;
        }
CONF

$t->write_conf(<<"CONF");
%%MODULE%%
worker_processes 2;
events { worker_connections 256; }
http {
    llmopt_zone name=llmopt size=4m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=20ms;
    llmopt_tenant_key \$http_x_tenant;

    log_format gone escape=json '{"case":"\$http_x_case",'
        '"status":"\$status","cost":"\$llmopt_cost",'
        '"source":"\$llmopt_cost_source","gone":"\$llmopt_client_gone",'
        '"in":"\$llmopt_tokens_in","out":"\$llmopt_tokens_out",'
        '"tenant":"\$http_x_tenant"}';
    access_log %%PREFIX%%/logs/gone.log gone;

    upstream up_openai { server %%MOCK_OPENAI%%; }
    upstream up_anthropic { server %%MOCK_ANTHROPIC%%; }

    server {
        listen 127.0.0.1:%%PORT%%;
        listen 127.0.0.1:%%PORT_H2%% http2;
$locations
        location = /status { llmopt_status; }
    }
}
CONF

$t->start();

my $PROMPT = 'Tell me about the sea, in a few words please.';

sub body_for {
    my ($d, $stream) = @_;
    my %b = (model => 'c', messages => [{ role => 'user',
                                          content => $PROMPT }]);
    $b{max_tokens} = 16 if $d eq 'an';
    $b{stream} = JSON::PP::true if $stream;
    return JSON::PP->new->canonical->encode(\%b);
}

sub log_lines {
    return map { decode_json($_) } $t->read_lines('logs/gone.log');
}

sub log_for {
    my ($case) = @_;
    my $line;
    Llmopt::Test::wait_for(sub {
        ($line) = grep { $_->{case} eq $case } log_lines();
        defined $line }, 15);
    return $line;
}

sub mock_for {
    my ($mock, $case) = @_;
    my ($req) = grep { ($_->{headers}{'x-case'} // '') eq $case }
                @{ $t->mock_requests($mock) };
    return $req;
}

sub cost_of {
    my ($usage) = @_;
    return ($usage->{input} * 1000 + $usage->{output} * 2000) / 1e6;
}

# the prompt's own estimate: its text bytes / 4, rounded up
my $EST_IN = POSIX::ceil(length($PROMPT) / 4);

my %LEAVE = (
    # while the upstream thinks: nothing reached the client
    before => { headers => { 'X-Mock-Latency' => 400 }, until => 0.15 },
    # once the first words came
    mid    => { until => qr/"(?:content|text)":"[A-Za-z]|"text":"w/ },
    # right after the finish reason, before the usage that follows it
    finish => { until => qr/finish_reason":"stop"|content_block_stop|
                            "stop_reason":"end_turn"/x },
    # after the end
    end    => { until => undef },
);

my $n = 0;
my (%spent_logged, %gone, %estimated);

for my $d (qw(oa an)) {
    my $mock = $d eq 'oa' ? 'openai' : 'anthropic';

    for my $stream (0, 1) {
        for my $buffering (qw(off on)) {
            for my $budget (qw(free capped)) {
                for my $when (qw(before mid finish end)) {
                    my $case = "c" . ++$n;
                    my $what = "$d, " . ($stream ? 'stream' : 'json')
                             . ", buffering $buffering, $budget, leaves "
                             . "$when";
                    my $L = $LEAVE{$when};
                    # an answer long enough to be left in its middle,
                    # buffered or not: 120 words, a stream's events 5 ms
                    # apart, a JSON body in pieces of 8 bytes
                    my %h = ('X-Case' => $case, 'X-Mock-Tokens' => 120,
                             'X-Mock-Chunk-Delay' => 5,
                             %{ $L->{headers} // {} });
                    $h{'X-Mock-Split'} = 8 unless $stream;

                    my $got = $t->leave("/$buffering/${d}_$budget"
                                    . endpoint($d), body_for($d, $stream),
                                    $L->{until}, %h);

                    # did it have all of it when it closed?
                    my $whole = $stream ? $got =~ /\[DONE\]|message_stop/
                                        : $got =~ /"usage":\{[^{}]*\}\}/;

                    my $line = log_for($case);
                    ok($line, "$what: logged") or next;
                    my $up = mock_for($mock, $case);
                    $spent_logged{"${d}_$budget"} += $line->{cost}
                        if length $line->{cost};

                    if ($when eq 'before') {
                        is($line->{gone}, 'before', "$what: gone before");
                        if (!$up) {
                            # so early that nginx had not sent it on
                            is($line->{source}, 'none',
                               "$what: not sent upstream, not charged");
                            next;
                        }
                        $estimated{"${d}_$budget"}++;
                        is($line->{source}, 'estimate',
                           "$what: charged an estimate");
                        ok(abs($line->{cost} - $EST_IN * 1000 / 1e6) < 1e-9,
                           "$what: the prompt's estimate, $EST_IN tokens "
                           . "in ($line->{cost})");
                        next;
                    }

                    is($line->{source}, 'usage',
                       "$what: charged by the provider's usage");
                    ok($up && $up->{usage}, "$what: the mock answered")
                        or next;
                    ok(abs(($line->{cost} || 0) - cost_of($up->{usage}))
                       < 1e-9,
                       "$what: the cost is the usage's, "
                       . cost_of($up->{usage}) . " ($line->{cost})");
                    is($line->{in}, $up->{usage}{input}, "$what: tokens in");
                    is($line->{out}, $up->{usage}{output},
                       "$what: tokens out");

                    $gone{"${d}_$budget"}++ if $line->{gone} eq 'during';

                    if ($when eq 'end') {
                        ok($whole, "$what: the client had it all");
                        is($line->{gone}, '', "$what: the client stayed");
                    } elsif ($whole) {
                        # it had the end before it closed (buffered, or a
                        # machine too busy to close between the finish
                        # reason and the end): nginx saw no one leave
                        is($line->{gone}, '',
                           "$what: whole before it closed, not gone");
                    } else {
                        is($line->{gone}, 'during',
                           "$what: gone during the answer");
                    }

                    if ($buffering eq 'off' && $when eq 'mid') {
                        # 120 words still to come: it did leave early
                        ok(!$whole, "$what: left before the end");
                    }
                }
            }
        }
    }
}

# the budgets' spend is the costs logged; the status and metrics count

ok(Llmopt::Test::wait_for(sub {
       my $s = $t->status_json();
       ($s->{policies}{oa_capped}{budget}{reserved} // 1) == 0
       && ($s->{policies}{an_capped}{budget}{reserved} // 1) == 0 }, 10),
   'nothing is left reserved');

my $s = $t->status_json();

for my $p (qw(oa_capped an_capped)) {
    my $spent = $s->{policies}{$p}{budget}{day}{spent};
    ok(abs($spent - $spent_logged{$p}) < 1e-6,
       "$p: the budget spent what the log says ($spent, "
       . "$spent_logged{$p})");
}

for my $p (qw(oa_free an_free oa_capped an_capped)) {
    my $arm = (values %{ $s->{policies}{$p}{arms} })[0];
    # without buffering, both formats left mid-answer at least
    ok($gone{$p} >= 2, "$p: $gone{$p} answers left during the answer");
    is($arm->{drained}, $gone{$p}, "$p: status, each read to its end "
                                   . "after the client left");
    my $e = $estimated{$p} // 0;
    is($arm->{cost_estimated}{outcomes}, $e,
       "$p: status, $e prompts charged by estimate");
    ok(abs($arm->{cost_estimated}{usd} - $e * $EST_IN * 1000 / 1e6) < 1e-9,
       "$p: status, the estimates' USD");
}

my $prom = $t->http('GET', '/status?format=prometheus')->{body};
like($prom, qr/^llmopt_arm_drained_total\{policy="oa_free",arm="oa"\}
               \ $gone{oa_free}$/xm, 'metrics: llmopt_arm_drained_total');
my $e = $estimated{oa_free} // 0;
like($prom, qr/^llmopt_arm_cost_estimated_total\{policy="oa_free",arm="oa"\}
               \ $e$/xm, 'metrics: llmopt_arm_cost_estimated_total');
like($prom, qr/^llmopt_arm_cost_estimated_usd_total\{policy="oa_free",
               arm="oa"\}\ 0\.0\d+$/xm,
     'metrics: llmopt_arm_cost_estimated_usd_total');

# --- HTTP/2: a client that closes its connection mid-stream

for my $d (qw(oa an)) {
    my $case = "h2-$d";
    my $r = $t->curl_h2('POST', "/off/${d}_free" . endpoint($d),
                        port => $t->port('h2'),
                        timeout => 0.4, body => body_for($d, 1),
                        headers => { 'Content-Type' => 'application/json',
                                     'X-Case' => $case,
                                     'X-Mock-Tokens' => 40,
                                     'X-Mock-Chunk-Delay' => 25 });
    ok($r->{exit} == 28 && $r->{body} !~ /\[DONE\]|message_stop/,
       "http2, $d: curl gave up mid-stream (exit $r->{exit})");
    my $line = log_for($case);
    my $up = mock_for($d eq 'oa' ? 'openai' : 'anthropic', $case);
    is($line->{gone}, 'during', "http2, $d: gone during the answer");
    is($line->{source}, 'usage', "http2, $d: charged by the usage");
    ok($up && abs($line->{cost} - cost_of($up->{usage})) < 1e-9,
       "http2, $d: the usage's cost ($line->{cost})");
}

# --- the drain is bounded: an answer that goes on past llmopt_drain_timeout

{
    my $t0 = time();
    my $got = $t->leave('/slow/oa_free/v1/chat/completions', body_for('oa', 1),
                    qr/"content":" [a-z]+".*"content":" [a-z]+"/s,
                    'X-Case' => 'slow', 'X-Mock-Tokens' => 40,
                    'X-Mock-Chunk-Delay' => 100);
    my $line = log_for('slow');
    my $took = time() - $t0;
    my $seen = () = $got =~ /"content":"[^"]/g;

    ok($line && $took < 2.5,
       sprintf('drain bounded: the request ended %.2f s after it began, '
               . 'the answer would take 4 s', $took));
    is($line->{gone}, 'during', 'drain bounded: gone during the answer');
    is($line->{source}, 'estimate', 'drain bounded: charged an estimate');
    ok($line->{cost} >= ($EST_IN * 1000 + $seen * 2000) / 1e6 - 1e-12,
       "drain bounded: no less than the prompt and the $seen deltas the "
       . "client had ($line->{cost})");
    like($t->read_file('logs/error.log'),
         qr/did not end within llmopt_drain_timeout/,
         'drain bounded: the error log says why it ended');
}

# --- the bypass: a capped tenant that leaves after each finish reason -------

sub tenant_run {
    my ($tenant, $until) = @_;
    my ($answers, $refused) = (0, 0);

    for my $i (1 .. 200) {
        my $got = $t->leave('/off/tenants/v1/chat/completions',
                            body_for('oa', 1), $until,
                            'X-Tenant' => $tenant, 'X-Case' => "$tenant-$i",
                            'X-Mock-Chunk-Delay' => 20);
        if ($got =~ m{\AHTTP/1\.1 429}) { $refused = 1; last; }
        $answers++ if $got =~ /finish_reason":"stop"/;
        log_for("$tenant-$i");
    }

    return ($answers, $refused);
}

my ($honest, $honest_refused) = tenant_run('honest', undef);
my ($leaver, $leaver_refused) = tenant_run('leaver', $LEAVE{finish}{until});

ok($honest_refused && $leaver_refused, 'both tenants end refused at the cap');

my %tspent;
$tspent{ $_->{tenant} } += $_->{cost}
    for grep { length $_->{tenant} && length $_->{cost} } log_lines();

# one estimate: the prompt's tokens in, the budget's 16 out
my $est = ($EST_IN * 1000 + 16 * 2000) / 1e6;

diag(sprintf('honest tenant: %d answers, $%.6f; leaving tenant: %d '
             . 'answers, $%.6f; cap $%.3f, one estimate $%.6f',
             $honest, $tspent{honest}, $leaver, $tspent{leaver}, $CAP, $est));

for my $who (qw(honest leaver)) {
    ok($tspent{$who} <= $CAP + $est && $tspent{$who} >= $CAP - 2 * $est,
       sprintf('%s: spent $%.6f, within an estimate of the $%.3f cap',
               $who, $tspent{$who}, $CAP));
}
ok(abs($honest - $leaver) <= 1,
   "the leaving tenant got no more answers than the honest one "
   . "($leaver, $honest)");

$t->stop();

done_testing();
