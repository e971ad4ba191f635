#!/usr/bin/perl
# Upstream request headers, the cross product: arms whose header sets
# differ (none, the same names with other values, other names, more than
# one) crossed with every path that edits headers (routed, pinned, shadow,
# canary, failover from each set to each other, a breaker's probe), in both
# dialects, for clients that send no credentials, their own, the same one
# twice, or the other dialect's.  What the upstream must get:
#   - each header the arm sets, once, with the arm's value;
#   - none of the client's credential headers (Authorization, x-api-key,
#     api-key, ...) when the arm sends credentials of its own; the
#     client's, as sent, when it sends none;
#   - after a failover, nothing of the failed arm's headers;
#   - the client's other headers as they were; no empty header line; never
#     the pin header.
# A worker that crashes shows as a failed request and as [alert] in the
# error log, which the harness checks.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

$t->start_mock('openai');
$t->start_mock('anthropic');
$t->start_mock('down', status => 503);

# the header sets an arm may have, by name

my %SETS = (
    none  => {},
    same1 => { 'Authorization' => 'Bearer key-one' },
    same2 => { 'Authorization' => 'Bearer key-two' },
    other => { 'x-api-key' => 'key-three', 'X-Org' => 'org-three' },
);
my @SETS = sort keys %SETS;

my %DIALECT = (
    openai    => { path => '/v1/chat/completions', mock => 'openai',
                   up => 'up_openai', api => 'openai' },
    anthropic => { path => '/v1/messages', mock => 'anthropic',
                   up => 'up_anthropic', api => 'anthropic' },
);

my @CRED = qw(authorization proxy-authorization x-api-key api-key
              x-goog-api-key);

sub yaml_headers {
    my ($set) = @_;
    my $h = $SETS{$set};
    return '' unless %$h;
    return ', headers: {'
        . join(', ', map { "$_: \"$h->{$_}\"" } sort keys %$h) . '}';
}

my ($models, $policies, $locations) = ('', '', '');

for my $d (sort keys %DIALECT) {
    my $D = $DIALECT{$d};

    for my $s (@SETS) {
        $models .= "  ${d}_$s: {upstream: $D->{up}, model: m-$s, "
                 . "api: $D->{api}, price: {input: 1, output: 1}"
                 . yaml_headers($s) . "}\n";
        $models .= "  ${d}_down_$s: {upstream: up_down, model: down-$s, "
                 . "api: $D->{api}, price: {input: 1, output: 1}"
                 . yaml_headers($s) . "}\n";
    }

    $policies .= <<"YAML";
  ${d}_alone:
    algorithm: static
    arms:
      - {model: ${d}_down_same1, name: x}
YAML

    for my $s (@SETS) {
        my $other = $s eq 'none' ? 'same1' : 'none';
        $policies .= <<"YAML";
  ${d}_routed_$s:
    algorithm: static
    arms:
      - {model: ${d}_$s, name: x, weight: 1}
      - {model: ${d}_$other, name: y, weight: 0}
  ${d}_shadow_$s:
    algorithm: static
    arms:
      - {model: ${d}_$other, name: y, weight: 1}
      - {model: ${d}_$s, name: x, weight: 0}
    fallback: x
  ${d}_canary_$s:
    algorithm: static
    arms:
      - {model: ${d}_$other, name: y, weight: 1}
      - {model: ${d}_$s, name: x, weight: 0}
    canary: {arm: x, stages: [100], min_requests: 100000}
  ${d}_probe_$s:
    algorithm: static
    arms:
      - {model: ${d}_down_$s, name: x, weight: 1}
      - {model: ${d}_$other, name: y, weight: 0.000001}
    breaker: {failures: 2, cooldown: 300}
YAML
        for my $s2 (@SETS) {
            next if $s2 eq $s;
            $policies .= <<"YAML";
  ${d}_fail_${s}_$s2:
    algorithm: static
    arms:
      - {model: ${d}_down_$s, name: x, weight: 1}
      - {model: ${d}_$s2, name: y, weight: 0.000001}
YAML
        }
    }

    $locations .= <<"CONF";
        location \@failover_$d {
            llmopt_failover;
            proxy_pass http://\$llmopt_upstream$D->{path};
            add_header X-Arm \$llmopt_arm always;
        }
CONF
}

# one location a policy, /<policy>/; $extra goes into each

sub locations {
    my ($extra) = @_;
    my $conf = '';
    for my $name ($policies =~ /^  (\w+):$/mg) {
        my ($d) = $name =~ /^([a-z]+)_/;
        $conf .= <<"CONF";
        location /$d/$name/ {
            llmopt_route $name;
            proxy_pass http://\$llmopt_upstream$DIALECT{$d}{path};
            add_header X-Arm \$llmopt_arm always;
            add_header X-Reason \$llmopt_reason always;
            add_header X-Shadow \$llmopt_shadow_arm always;
            @{[ $extra =~ s/\$d/$d/gr ]}
        }
CONF
    }
    return $conf;
}

sub conf {
    my ($extra) = @_;
    my $l = locations($extra);
    return <<"CONF";
%%MODULE%%
worker_processes 2;
events { worker_connections 256; }
http {
    llmopt_zone name=llmopt size=16m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=20ms;

    upstream up_openai { server %%MOCK_OPENAI%%; }
    upstream up_anthropic { server %%MOCK_ANTHROPIC%%; }
    upstream up_down { server %%MOCK_DOWN%%; }

    server {
        listen 127.0.0.1:%%PORT%%;
$l
$locations
        location = /status { llmopt_status; }
    }
}
CONF
}

$t->write_file('catalog.yaml', "models:\n$models" . "policies:\n$policies");

$t->write_conf(conf('llmopt_pin_header X-LLMOpt-Arm;
            proxy_intercept_errors on;
            error_page 503 = @failover_$d;'));
$t->start();

# what a client sends: pairs, in order (a header may come twice)

my %CLIENTS = (
    bare    => [],
    bearer  => ['Authorization' => 'Bearer client-key'],
    # nginx refuses a second Authorization line itself (400)
    twice   => ['x-api-key' => 'client-1', 'Authorization' => 'Bearer c',
                'x-api-key' => 'client-2'],
    xkey    => ['x-api-key' => 'client-x', 'api-key' => 'client-azure'],
);
my @CLIENTS = sort keys %CLIENTS;

sub body_for {
    my ($d) = @_;
    return $d eq 'openai'
        ? '{"model":"c","messages":[{"role":"user","content":"hi"}]}'
        : '{"model":"c","max_tokens":16,'
          . '"messages":[{"role":"user","content":"hi"}]}';
}

sub ask {
    my ($d, $policy, $client, @more) = @_;
    return $t->http('POST', "/$d/$policy$DIALECT{$d}{path}",
                    body => body_for($d),
                    headers => ['Content-Type' => 'application/json',
                                'X-Client' => 'keep-me',
                                @{ $CLIENTS{$client} }, @more]);
}

# the header lines a mock received, as [lowercase name, value]

sub lines_of {
    my ($req) = @_;
    my @raw = @{ $req->{raw_headers} // [] };
    my @l;
    push @l, [lc $raw[$_ * 2], $raw[$_ * 2 + 1]] for 0 .. $#raw / 2;
    return @l;
}

# checks one upstream request against the arm's set and the client's

sub check_sent {
    my ($req, $set, $client, $what) = @_;

    ok(defined $req, "$what: the upstream got the request") or return;

    my @lines = lines_of($req);
    my %got;
    push @{ $got{ $_->[0] } }, $_->[1] for @lines;

    my $arm = $SETS{$set};
    my %armlc = map { (lc $_ => $arm->{$_}) } keys %$arm;
    my $creds = grep { my $n = $_; grep { $_ eq $n } @CRED } keys %armlc;

    for my $n (sort keys %armlc) {
        is_deeply($got{$n}, [$armlc{$n}], "$what: $n is the arm's, once");
    }

    my @client = @{ $CLIENTS{$client} };
    my %sent;
    for (my $i = 0; $i < @client; $i += 2) {
        push @{ $sent{ lc $client[$i] } }, $client[$i + 1];
    }

    for my $n (@CRED) {
        next if exists $armlc{$n};
        if ($creds) {
            ok(!exists $got{$n}, "$what: no client $n beside the arm's key");
        } else {
            is_deeply($got{$n}, $sent{$n},
                      "$what: the client's own $n, as sent");
        }
    }

    for my $n (sort keys %got) {
        next if exists $armlc{$n} || grep { $_ eq $n } @CRED;
        next if $n =~ /^(host|connection|content-length|content-type|x-client)$/;
        fail("$what: a header nobody sent: $n: @{ $got{$n} }");
    }

    is_deeply($got{'x-client'}, ['keep-me'], "$what: X-Client as it came");
    ok(!exists $got{'x-llmopt-arm'}, "$what: no pin header");
    ok(!grep({ $_->[0] eq '' } @lines), "$what: no empty header line");
}

for my $d (sort keys %DIALECT) {
    my $mock = $DIALECT{$d}{mock};

    for my $s (@SETS) {
        for my $c (@CLIENTS) {
            my $what = "$d, $s arm, $c client";

            # routed: the policy's choice

            my $r = ask($d, "${d}_routed_$s", $c);
            is($r->{status}, 200, "routed, $what: 200");
            is($r->{headers}{'x-arm'}, 'x', "routed, $what: arm x");
            check_sent($t->mock_last($mock), $s, $c, "routed, $what");

            # pinned: the client names the arm the policy would not choose

            $r = ask($d, "${d}_shadow_$s", $c, 'X-LLMOpt-Arm' => 'x');
            is($r->{headers}{'x-reason'}, 'pinned', "pinned, $what: pinned");
            check_sent($t->mock_last($mock), $s, $c, "pinned, $what");

            # an unknown pin: the header goes no further either

            $r = ask($d, "${d}_routed_$s", $c, 'X-LLMOpt-Arm' => 'nosuch');
            is($r->{headers}{'x-arm'}, 'x', "bad pin, $what: arm x");
            check_sent($t->mock_last($mock), $s, $c, "bad pin, $what");

            # canary: all of the traffic at its only stage

            $r = ask($d, "${d}_canary_$s", $c);
            is($r->{headers}{'x-arm'}, 'x', "canary, $what: arm x");
            is($r->{headers}{'x-reason'}, 'canary', "canary, $what: reason");
            check_sent($t->mock_last($mock), $s, $c, "canary, $what");

            # failover from this set to every other

            for my $s2 (@SETS) {
                next if $s2 eq $s;
                my $fw = "failover $s -> $s2, $d, $c client";
                $t->mock_reset('down');
                $r = ask($d, "${d}_fail_${s}_$s2", $c);
                is($r->{status}, 200, "$fw: 200");
                is($r->{headers}{'x-arm'}, 'y', "$fw: served by y");
                check_sent($t->mock_last('down'), $s, $c, "$fw, first try");
                check_sent($t->mock_last($mock), $s2, $c, "$fw, second");
            }
        }
    }
}

# a failover with no other arm: a 502 in the client's dialect that says
# what the upstream answered

for my $d (sort keys %DIALECT) {
    my $r = ask($d, "${d}_alone", 'bare');
    is($r->{status}, 502, "$d, no arm to fail over to: 502");
    my $e = eval { decode_json($r->{body}) } // {};
    if ($d eq 'openai') {
        is($e->{error}{code}, 'upstream_failed', "$d: an OpenAI error body");
    } else {
        is($e->{type}, 'error', "$d: an Anthropic error body");
    }
    my $msg = $d eq 'openai' ? $e->{error}{message} : $e->{error}{message};
    like($msg // '', qr/\(503\)/, "$d: the message names the 503");
}

# shadow: llmopt_shadow on in its own location would need a server per
# policy; shadow's header path is the routed one with the default arm,
# which the location below covers with every set.

$t->stop();

$t->write_conf(conf('llmopt_shadow on;'));
$t->start();

for my $d (sort keys %DIALECT) {
    for my $s (@SETS) {
        for my $c (@CLIENTS) {
            my $what = "shadow, $d, $s arm, $c client";
            my $r = ask($d, "${d}_shadow_$s", $c);
            is($r->{status}, 200, "$what: 200");
            is($r->{headers}{'x-arm'}, 'x', "$what: served by the default");
            is($r->{headers}{'x-shadow'}, 'y', "$what: decided y");
            my $req = $t->mock_last($DIALECT{$d}{mock});
            check_sent($req, $s, $c, $what);
            is($req->{body}, body_for($d), "$what: the body untouched");
        }
    }
}

# a breaker's probe: the arm fails twice, its circuit opens, and after the
# cooldown one request probes it, with its own headers

$t->stop();
$t->write_conf(conf(''));
$t->start();

for my $d (sort keys %DIALECT) {
    for my $s (@SETS) {
        my $p = "${d}_probe_$s";
        ask($d, $p, 'bearer') for 1 .. 2;

        my $r = ask($d, $p, 'bearer');
        is($r->{headers}{'x-arm'}, 'y', "probe, $d, $s: open circuit, y");

        sleep(0.4);
        $t->mock_reset('down');
        $r = ask($d, $p, 'bearer');
        is($r->{headers}{'x-arm'}, 'x', "probe, $d, $s: the probe goes to x");
        check_sent($t->mock_last('down'), $s, 'bearer', "probe, $d, $s");
    }
}

$t->stop();

done_testing();
