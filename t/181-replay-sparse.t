#!/usr/bin/perl
# The replay decides what nginx decides for a sparse policy: the same
# catalog (algorithm sparse, seeded), the same stream of requests sent end
# to end through nginx and given to build/replay --catalog, the same arms
# with the same propensities.  Nothing is learned (the trainer's interval
# outlasts the test), so the table stays cold and SquareCB draws over the
# allowed arms; what must agree is the path (the sparse learner's choice,
# not epsilon_greedy's), the masks (context windows) and the random
# stream, which the choice's carry draws from after the choice only when
# a request has more than 32 text features: short and long prompts, with
# and without a system prompt, are mixed, so a featurization that counts
# otherwise puts every later draw out of step.

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
  small: {upstream: up_openai, model: model-small, context_window: 400,
          price: {input: 0.1, output: 0.4}}
  mid:   {upstream: up_openai, model: model-mid, context_window: 2500,
          price: {input: 1, output: 2}}
  big:   {upstream: up_openai, model: model-big,
          price: {input: 5, output: 15}}
policies:
  chat:
    algorithm: sparse
    sparse: {bits: 12, ngrams: 2}
    seed: 5150
    features: [bias, input_tokens]
    arms: [small, mid, big]
    fallback: big
YAML

$t->write_conf(<<'CONF');
%%MODULE%%
worker_processes 1;
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=4m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=60s;
    upstream up_openai { server %%MOCK_OPENAI%%; }

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

# the stream: few words (under 32 features) or many distinct ones, some
# with a system prompt, some long enough to leave the small arms out

my @bodies;
my $state = 29;
my ($few, $many) = (0, 0);

for my $i (1 .. 90) {
    $state = ($state * 1103515245 + 12345) % 2147483648;
    my $kind = $state % 3;
    my $n = $kind == 0 ? 5 : $kind == 1 ? 60 : 900;
    my $text = join(' ', map { 'w' . (($i * 7 + $_ * 13) % 997) } 1 .. $n);
    my @msgs = ({ role => 'user', content => "$i: $text" });
    unshift @msgs, { role => 'system', content => "be brief $i" }
        if $state % 4 == 0;
    push @bodies, JSON::PP->new->canonical->encode({ model => 'auto',
                                                     messages => \@msgs });
    $kind == 0 ? $few++ : $many++;
}

ok($few > 10 && $many > 10, "short ($few) and long ($many) prompts");
$t->write_file('requests.jsonl', join("\n", @bodies) . "\n");

my (@nginx, %arms);

for my $body (@bodies) {
    my $r = $t->http('POST', '/v1/chat/completions', body => $body,
                     headers => { 'Content-Type' => 'application/json' });
    push @nginx, [$r->{headers}{'x-arm'} // '-',
                  $r->{headers}{'x-propensity'} // '-', $r->{status}];
    $arms{$nginx[-1][0]}++;
}

is(scalar(grep { $_->[2] == 200 } @nginx), scalar @bodies,
   'nginx answered every request');
ok($arms{small} && $arms{mid} && $arms{big},
   'every arm was chosen: ' . join(', ', map { "$_ $arms{$_}" }
                                         sort keys %arms));
is($t->status_json->{trainer}{updates} // 0, 0,
   'nginx learned nothing: the table stayed cold');

my $root = $t->root;
is(system("make -s -C $root build/replay >/dev/null"), 0, 'build/replay');

my $prefix = $t->prefix;
my $cmd = "$root/build/replay --catalog $prefix/catalog.yaml --policy chat"
          . " --requests $prefix/requests.jsonl";
my @replay = map { chomp; [split / /] } `$cmd`;
is($?, 0, 'build/replay --catalog ran');
is(scalar @replay, scalar @bodies, 'a decision per request');

Llmopt::Test::same_decisions(\@nginx, \@replay);

$t->done();
done_testing();
