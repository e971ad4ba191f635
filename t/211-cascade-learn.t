#!/usr/bin/perl
# The cascade learns online, from a cold start: a mock whose cheap arm
# hedges instead of answering on a recognisable share of the prompts (a
# third, those that say "tricky"), the strong arm always right.  The
# escalated answers are labelled by the strong one (agreement); after a
# bounded number of requests the acceptance model escalates >= 80 % of
# the bad answers and <= 20 % of the good ones.  Prints the curve.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

$t->start_mock('openai', bad => 'gpt-cheap:tricky');

$t->write_file('catalog.yaml', <<'YAML');
models:
  cheap:  {upstream: up_openai, model: gpt-cheap,
           price: {input: 0.1, output: 0.1}}
  strong: {upstream: up_openai, model: gpt-strong,
           price: {input: 10, output: 10}}
policies:
  learn:
    algorithm: static
    arms: [cheap, strong]
    reward: {quality: 0.7, cost: 0.3, cost_ref: 0.001}
    cascade: {tiers: [cheap, strong]}
YAML

$t->write_conf(<<'CONF');
%%MODULE%%
worker_processes 1;
events { worker_connections 256; }
http {
    llmopt_zone name=llmopt size=4m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;

    upstream up_openai { server %%MOCK_OPENAI%%; keepalive 8; }

    access_log off;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    subrequest_output_buffer_size 64k;

    server {
        listen 127.0.0.1:%%PORT%%;

        location /v1/chat/completions {
            llmopt_route learn;
            proxy_pass http://$llmopt_upstream;
        }
    }
}
CONF

$t->start();

my $N = 900;
my $WINDOW = 150;
my $json = JSON::PP->new->canonical;
my (@bad, @esc);

for my $i (1 .. $N) {
    # a third of the prompts are "tricky", in an order that is no pattern
    my $tricky = (($i * 7919) % 3) == 0;
    my $prompt = ($tricky ? 'A tricky one: ' : 'A plain one: ')
                 . "what is $i plus $i?";
    my $r = $t->http('POST', '/v1/chat/completions',
                     headers => { 'Content-Type' => 'application/json' },
                     body => $json->encode({ model => 'auto',
                                             messages => [{ role => 'user',
                                                 content => $prompt }] }));
    die "request $i: $r->{status}" unless $r->{status} == 200;
    push @bad, $tricky ? 1 : 0;
    push @esc, ($r->{headers}{'x-llmopt-tiers'} // '') =~ /,/ ? 1 : 0;
}

# the curve: the share escalated of each kind, window by window

my ($last_bad, $last_good);

for (my $from = 0; $from < $N; $from += $WINDOW) {
    my ($nb, $eb, $ng, $eg) = (0, 0, 0, 0);

    for my $i ($from .. $from + $WINDOW - 1) {
        if ($bad[$i]) { $nb++; $eb += $esc[$i] } else { $ng++; $eg += $esc[$i] }
    }

    ($last_bad, $last_good) = ($eb / $nb, $eg / $ng);
    diag(sprintf("requests %4d-%4d: escalated %3d of %3d bad (%5.1f %%), "
                 . "%3d of %3d good (%5.1f %%)", $from + 1, $from + $WINDOW,
                 $eb, $nb, 100 * $eb / $nb, $eg, $ng, 100 * $eg / $ng));
}

ok($last_bad >= 0.8, sprintf("last %d requests: %.1f %% of the bad answers "
                             . "escalated (>= 80 %%)", $WINDOW,
                             100 * $last_bad));
ok($last_good <= 0.2, sprintf("last %d requests: %.1f %% of the good answers "
                              . "escalated (<= 20 %%)", $WINDOW,
                              100 * $last_good));


done_testing();
