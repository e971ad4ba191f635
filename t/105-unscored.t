#!/usr/bin/perl
# Answers whose feedback never came (policies with feedback_wait): they
# teach what they show, not a made-up quality.  Arm "good" gets feedback
# 0.9 on 100 answers and leaves 20 unscored; arm "cheap", cheaper and as
# fast, leaves all its 40 answers unscored, which the proxies (a complete
# answer counts as quality 1) would score above good's.  With the default
# (unscored: observed) and with skip, the scored evidence wins and the
# status shows the unscored answers; unscored: proxy keeps the old rule.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

$t->start_mock('openai');

my $policy = <<'YAML';
    algorithm: linucb
    alpha: 0.5
    lambda: 1
    arms: [good, cheap]
    features: [bias]
    exploration_decay: 0
    reward: {quality: 0.8, cost: 0.1, latency: 0.1}
    feedback_wait: 300
YAML

$t->write_file('catalog.yaml', <<"YAML");
models:
  good:  {upstream: up_openai, model: model-good,
          price: {input: 10, output: 30}}
  cheap: {upstream: up_openai, model: model-cheap,
          price: {input: 0.1, output: 0.4}}
policies:
  observed:
$policy
  skip:
$policy    unscored: skip
  proxy:
$policy    unscored: proxy
YAML

my $locations = join('', map { <<"LOC" } qw(observed skip proxy));
        location /$_/v1/chat/completions {
            llmopt_route $_;
            proxy_pass http://\$llmopt_upstream/v1/chat/completions;
            add_header X-Arm \$llmopt_arm always;
        }
LOC

$t->write_conf(<<"CONF");
%%MODULE%%
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=2m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=20ms;
    llmopt_pin_header X-Pin;

    upstream up_openai { server %%MOCK_OPENAI%%; keepalive 4; }

    server {
        listen 127.0.0.1:%%PORT%%;
$locations
        location = /feedback { llmopt_feedback; }
        location = /status { llmopt_status; }
    }
}
CONF
$t->start();

my $n = 0;

sub ask {
    my ($p, $pin) = @_;
    $n++;
    return $t->http('POST', "/$p/v1/chat/completions",
                    headers => { 'Content-Type' => 'application/json',
                                 $pin ? ('X-Pin' => $pin) : () },
                    body => encode_json({ model => 'auto', messages => [
                        { role => 'user', content => "question $n" }] }));
}

my %policies = map { $_ => 1 } qw(observed skip proxy);
my %bad;

for my $p (sort keys %policies) {
    for my $i (1 .. 100) {
        my $r = ask($p, 'good');
        my $f = $t->http('POST', '/feedback',
                         headers => { 'Content-Type' => 'application/json' },
                         body => encode_json({
                             id => $r->{headers}{'x-llmopt-request-id'},
                             score => 0.9 }));
        $bad{$p}++ unless ($r->{headers}{'x-arm'} // '') eq 'good'
                          && $f->{status} == 200;
    }
    for my $i (1 .. 20) {
        $bad{$p}++ unless (ask($p, 'good')->{headers}{'x-arm'} // '') eq 'good';
    }
    for my $i (1 .. 40) {
        $bad{$p}++
            unless (ask($p, 'cheap')->{headers}{'x-arm'} // '') eq 'cheap';
    }
    is($bad{$p} // 0, 0, "$p: 100 scored and 20 unscored answers of good, "
                         . "40 unscored of cheap");
}

# every wait ends: 300 ms

my $s;
ok(defined Llmopt::Test::wait_for(sub {
       $s = $t->status_json();
       !grep { ($s->{policies}{$_}{arms}{cheap}{outcomes} // 0) < 40
               || ($s->{policies}{$_}{arms}{good}{outcomes} // 0) < 120 }
           keys %policies
       and $s->{trainer}{expired} >= 3 * 60 }, 10),
   'every wait for feedback ended');

sub arm { my ($p, $a) = @_; return $s->{policies}{$p}{arms}{$a} }

for my $p (sort keys %policies) {
    is($s->{policies}{$p}{unscored}, $p, "$p: the status names the rule");
    is($s->{policies}{$p}{feedback_wait_ms}, 300, "$p: and the wait");
    is(arm($p, 'good')->{scored}, 100, "$p: good: 100 scored");
    is(arm($p, 'good')->{unscored}, 20, "$p: good: 20 unscored");
    is(arm($p, 'cheap')->{scored}, 0, "$p: cheap: none scored");
    is(arm($p, 'cheap')->{unscored}, 40, "$p: cheap: 40 unscored");
}

my $prom = $t->http('GET', '/status?format=prometheus')->{body};
like($prom, qr{^llmopt_arm_answers_total\{policy="observed",arm="cheap",
               kind="unscored"\}\ 40$}mx,
     'Prometheus: cheap\'s 40 unscored answers');
like($prom, qr{^llmopt_arm_answers_total\{policy="observed",arm="good",
               kind="scored"\}\ 100$}mx,
     'Prometheus: good\'s 100 scored answers');

# observed: good's unscored answers learned with good's scored quality,
# cheap's not learned before it has a scored answer

is(arm('observed', 'good')->{params}{pulls}, 120,
   'observed: good learned its 120 answers');
is(arm('observed', 'cheap')->{params}{pulls}, 0,
   'observed: cheap learned none of its unscored answers');
cmp_ok(abs(arm('observed', 'good')->{reward}{mean}
           - (0.8 * 0.9 + 0.2 * 0.9)), '<', 0.1,
       'observed: good\'s rewards are of quality 0.9: mean '
       . arm('observed', 'good')->{reward}{mean});

is(arm('skip', 'good')->{params}{pulls}, 100,
   'skip: good learned its scored answers only');
is(arm('skip', 'cheap')->{params}{pulls}, 0, 'skip: cheap learned none');

is(arm('proxy', 'cheap')->{params}{pulls}, 40,
   'proxy: cheap learned its answers from the proxies');
cmp_ok(arm('proxy', 'cheap')->{mean_reward} // 0, '>',
       arm('proxy', 'good')->{mean_reward} // 1,
       'proxy: which score cheap above good');

# where the next requests go (the policies explore no more: no decaying
# floor, exploration_decay: 0, so that this is exploitation alone)

my $N = 10;
for my $p (sort keys %policies) {
    my %to;
    $to{ ask($p)->{headers}{'x-arm'} // '?' }++ for 1 .. $N;
    my $want = $p eq 'proxy' ? 'cheap' : 'good';
    is($to{$want} // 0, $N,
       "$p: $N of $N new requests go to $want ("
       . join(', ', map { "$_ $to{$_}" } sort keys %to) . ')');
}

$t->done();
done_testing();
