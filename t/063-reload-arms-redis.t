#!/usr/bin/perl
# t/062-reload-arms.t's edits with llmopt_redis: the merged model, this
# instance's part and the fleet's are remade on a change of arms; the
# arms kept keep their updates through the syncs that follow, a removed
# arm put back has its updates again.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

$t->start_mock('openai');
my $rport = $t->start_redis('redis');

sub catalog {
    my ($arms) = @_;
    return <<"YAML";
models:
  a: {upstream: up_openai, model: model-a, price: {input: 1, output: 2}}
  b: {upstream: up_openai, model: model-b, price: {input: 3, output: 4}}
  c: {upstream: up_openai, model: model-c, price: {input: 5, output: 6}}
policies:
  p:
    algorithm: linucb
    arms: [$arms]
    features: [bias]
YAML
}

$t->write_file('catalog.yaml', catalog('a, b, c'));

$t->write_conf(<<"CONF");
%%MODULE%%
worker_processes 1;
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=4m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=20ms;
    llmopt_redis 127.0.0.1:$rport instance=one sync=100ms prefix=t063;
    upstream up_openai { server %%MOCK_OPENAI%%; }

    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/chat/completions {
            llmopt_route p;
            llmopt_pin_header X-LLMOpt-Arm;
            proxy_pass http://\$llmopt_upstream;
        }
        location = /status { llmopt_status; }
    }
}
CONF

$t->start();

sub status {
    return decode_json($t->http('GET', '/status')->{body});
}

sub upd {
    my $a = status()->{policies}{p}{arms};
    return { map { $_ => $a->{$_}{updates} } keys %$a };
}

sub ask {
    my ($arm, $n) = @_;
    my $ok = 0;
    for my $i (1 .. $n) {
        my $r = $t->http('POST', '/v1/chat/completions',
                         headers => { 'Content-Type' => 'application/json',
                                      'X-LLMOpt-Arm' => $arm },
                         body => '{"messages":[{"role":"user","content":'
                                 . "\"hello $i\"}]}");
        $ok++ if $r->{status} == 200;
    }
    return $ok;
}

sub syncs {
    my $n = status()->{redis}{syncs} // 0;
    my $deadline = time() + 10;
    sleep(0.05) while (status()->{redis}{syncs} // 0) < $n + 3
                      && time() < $deadline;
}

is(ask('a', 5) + ask('b', 3) + ask('c', 2), 10, '10 pinned requests routed');
my $deadline = time() + 10;
sleep(0.05) while eval { my $u = upd(); $u->{a} + $u->{b} + $u->{c} } < 10
                  && time() < $deadline;
syncs();
is_deeply(upd(), { a => 5, b => 3, c => 2 }, 'learned 5, 3, 2, synced');

$t->write_file('catalog.yaml', catalog('c, a'));
$t->reload();
is_deeply(upd(), { a => 5, c => 2 }, 'reload without b: a and c unchanged');
syncs();
is_deeply(upd(), { a => 5, c => 2 }, '... and after syncs with Redis');

$t->write_file('catalog.yaml', catalog('b, c, a'));
$t->reload();
syncs();
is_deeply(upd(), { a => 5, b => 3, c => 2 },
          'b back: its updates again, through the syncs');
is(ask('b', 1), 1, 'routed to b');
$deadline = time() + 10;
sleep(0.05) while upd()->{b} < 4 && time() < $deadline;
syncs();
is_deeply(upd(), { a => 5, b => 4, c => 2 }, '... learned on b alone');

$t->done();
done_testing();
