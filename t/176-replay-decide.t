#!/usr/bin/perl
# The replay decides what nginx decides: the same catalog, the same seed
# and the same stream of requests, sent end to end through nginx (to the
# mock provider) and given to build/replay --catalog, come out as the same
# sequence of arms with the same propensities.  The policy draws (static
# weights, seeded) and a guardrail is active: the arms' context windows
# leave the small arms out of the longer requests, so the draws are over
# masks that change from request to request, and the longest fit no arm
# but the fallback's.

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
    algorithm: static
    seed: 4242
    arms:
      - {model: small, weight: 3}
      - {model: mid, weight: 2}
      - {model: big, weight: 1}
    fallback: big
YAML

$t->write_conf(<<'CONF');
%%MODULE%%
worker_processes 1;
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=1m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    upstream up_openai { server %%MOCK_OPENAI%%; }

    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/chat/completions {
            llmopt_route chat;
            proxy_pass http://$llmopt_upstream;
            add_header X-Arm $llmopt_arm always;
            add_header X-Propensity $llmopt_propensity always;
        }
    }
}
CONF

$t->start();

# the stream: short, middling and long prompts in a fixed shuffled order,
# some with max_tokens (which counts toward the window)

my @words = qw(route the request to a model that fits its context window
               and its budget while the bandit learns which arm pays);
my @bodies;
my $state = 17;

for my $i (1 .. 90) {
    $state = ($state * 1103515245 + 12345) % 2147483648;
    my $kind = $state % 3;
    my $n = $kind == 0 ? 12 : $kind == 1 ? 700 : 3000;
    my $text = join(' ', map { $words[($i + $_) % @words] } 1 .. $n);
    my %req = (model => 'auto',
               messages => [{ role => 'user', content => "$i: $text" }]);
    $req{max_tokens} = 200 if $state % 5 == 0;
    push @bodies, JSON::PP->new->canonical->encode(\%req);
}

$t->write_file('requests.jsonl', join("\n", @bodies) . "\n");

# nginx, one request at a time

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

# the replay, in process

my $root = $t->root;
is(system("make -s -C $root build/replay >/dev/null"), 0, 'build/replay');

my $prefix = $t->prefix;
my @replay = map { chomp; [split / /] }
             `$root/build/replay --catalog $prefix/catalog.yaml --policy chat --requests $prefix/requests.jsonl`;
is($?, 0, 'build/replay --catalog ran');
is(scalar @replay, scalar @bodies, 'a decision per request');

Llmopt::Test::same_decisions(\@nginx, \@replay);

# the guardrail shaped it: no long request went to a small window

my $misfit = 0;

for my $i (0 .. $#bodies) {
    my $len = length $bodies[$i];
    $misfit++ if $nginx[$i][0] eq 'small' && $len > 1600;
    $misfit++ if $nginx[$i][0] eq 'mid' && $len > 10000;
}

is($misfit, 0, 'no request went to an arm whose window it does not fit');

$t->done();
done_testing();
