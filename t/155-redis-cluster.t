#!/usr/bin/perl
# llmopt_redis against a Redis Cluster of three nodes (ours, on loopback):
# both instances are given one node; the keys of a policy live in one slot
# (hash tag), which may be on another node; the trainer follows MOVED.
# Feedback to A only reaches B through the cluster, for a policy served by
# the given node and for one served by another; the event stream's key
# lives on a third.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(time sleep);
use Llmopt::Test;

my $A = Llmopt::Test->new(module => 1);
my $B = Llmopt::Test->new(module => 1);

my @ports = map {
    my $bus = $A->port("bus$_");
    $A->start_redis("redis$_", '--cluster-enabled', 'yes',
                    '--cluster-port', $bus,
                    '--cluster-config-file',
                    $A->prefix . "/redis$_/nodes.conf")
} 1 .. 3;

my $create = `redis-cli --cluster create @{[ map { "127.0.0.1:$_" } @ports ]} --cluster-replicas 0 --cluster-yes 2>&1`;
ok($? == 0, 'a cluster of three nodes') or diag($create);

my $ready;
for (1 .. 200) {
    $ready = !grep { `redis-cli -p $_ CLUSTER INFO` !~ /cluster_state:ok/ }
             @ports;
    last if $ready;
    sleep(0.1);
}
ok($ready, 'the cluster is ok');

# which node serves a key: a policy on the given node (the first), one
# elsewhere; the stream elsewhere too

sub node_of {
    my ($key) = @_;
    my $slot = `redis-cli -p $ports[0] CLUSTER KEYSLOT '$key'` + 0;
    for my $line (split /\n/, `redis-cli -p $ports[0] CLUSTER NODES`) {
        my @f = split / /, $line;
        my ($port) = $f[1] =~ /:(\d+)/;
        for my $range (@f[8 .. $#f]) {
            my ($lo, $hi) = split /-/, $range;
            $hi //= $lo;
            return $port if $slot >= $lo && $slot <= $hi;
        }
    }
    return 0;
}

my ($here, $there);
for my $name (qw(chat code docs mail news talk help math poem plan)) {
    my $n = node_of("{c:$name}");
    $here //= $name if $n == $ports[0];
    $there //= $name if $n != $ports[0];
}
ok($here && $there, "policy \"$here\" on the given node, \"$there\" on"
                    . ' another');

my $stream;
for my $k (1 .. 50) {
    if (node_of("events$k") != $ports[0]) { $stream = "events$k"; last; }
}
ok($stream, "stream key \"$stream\" on another node");

my $catalog = <<"YAML";
models:
  strong: {upstream: up_openai, model: model-strong,
           price: {input: 10, output: 30}}
  cheap:  {upstream: up_openai, model: model-cheap,
           price: {input: 0.1, output: 0.4}}
policies:
  $here:
    algorithm: thompson
    seed: 3
    arms: [strong, cheap]
    reward: {quality: 1, cost: 0, latency: 0}
    feedback_wait: 600000
  $there:
    algorithm: linucb
    seed: 4
    arms: [strong, cheap]
    features: [bias, has_code]
    reward: {quality: 1, cost: 0, latency: 0}
    feedback_wait: 600000
YAML

for my $t ($A, $B) {
    my $name = $t == $A ? 'a' : 'b';
    $t->start_mock('openai');
    $t->write_file('catalog.yaml', $catalog);
    $t->write_conf(<<"CONF");
%%MODULE%%
worker_processes 1;
events { worker_connections 128; }
http {
    llmopt_zone name=llmopt size=4m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=20ms;
    llmopt_redis 127.0.0.1:$ports[0] instance=$name sync=300ms prefix=c
                 stream=$stream;

    upstream up_openai { server %%MOCK_OPENAI%%; keepalive 4; }

    server {
        listen 127.0.0.1:%%PORT%%;
        location /$here/ {
            llmopt_route $here;
            proxy_pass http://\$llmopt_upstream/v1/chat/completions;
            add_header X-Arm \$llmopt_arm always;
        }
        location /$there/ {
            llmopt_route $there;
            proxy_pass http://\$llmopt_upstream/v1/chat/completions;
            add_header X-Arm \$llmopt_arm always;
        }
        location = /feedback { llmopt_feedback; }
        location = /status { llmopt_status; }
    }
}
CONF
    $t->start();
}

sub status { return $_[0]->status_json(or_empty => 1) }

sub wait_for { return Llmopt::Test::wait_for($_[0], $_[1], 0.05) }

ok(wait_for(sub {
       my ($a, $b) = (status($A), status($B));
       ($a->{redis}{state} // '') eq 'up' && ($b->{redis}{state} // '') eq 'up'
       && $a->{redis}{instances} == 2 && $b->{redis}{instances} == 2 }),
   'both instances sync through the cluster');
ok(status($A)->{redis}{redirects} > 0,
   'the trainer followed MOVED (' . status($A)->{redis}{redirects} . ')');

my $n = 0;
for my $i (1 .. 60) {
    for my $p ($here, $there) {
        my $r = $A->http('POST', "/$p/v1/chat/completions", headers => {
                             'Content-Type' => 'application/json' },
                         body => encode_json({ model => 'x', messages => [
                             { role => 'user', content => "q $i" }] }));
        my $f = $A->http('POST', '/feedback', headers => {
                             'Content-Type' => 'application/json' },
                         body => encode_json({
                             id => $r->{headers}{'x-llmopt-request-id'},
                             score => ($r->{headers}{'x-arm'} // '') eq 'cheap'
                                      ? 1 : 0 }));
        $n++ if $r->{status} == 200 && $f->{status} == 200;
    }
}
is($n, 120, 'A: 120 answers scored over both policies');

my %a;
ok(wait_for(sub {
       my ($sa, $sb) = (status($A), status($B));
       for my $p ($here, $there) {
           for my $arm (qw(strong cheap)) {
               my $x = $sa->{policies}{$p}{arms}{$arm}{updates} // -1;
               my $y = $sb->{policies}{$p}{arms}{$arm}{updates} // -2;
               $a{"$p $arm"} = $x;
               return 0 unless $x == $y;
           }
       }
       my $sum = 0;
       $sum += $_ for values %a;
       $sum == 120 }),
   'B shows A\'s counts for both policies: '
   . join(', ', map { "$_ $a{$_}" } sort keys %a));

ok(wait_for(sub { `redis-cli -c -p $ports[0] XLEN $stream` == 120 }),
   'the stream, on its node, holds 120 entries');

$A->done();
$B->done();
done_testing();
