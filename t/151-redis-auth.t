#!/usr/bin/perl
# llmopt_redis password= and db=: a Redis that requires a password.
#   1. The right password and db=3: the trainer syncs (status "up"), its
#      keys are in database 3 and none in database 0.
#   2. A wrong password: the trainer never gets in (status "down", an
#      error counted), nothing is written, requests are still routed.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Llmopt::Test;

my $A = Llmopt::Test->new(module => 1);
my $B = Llmopt::Test->new(module => 1);

my $PASS = 'llmopt-test-secret';
my $RPORT = $A->start_redis('redis');

# the harness waits for a PING without a password: the password comes after
is($A->redis_cli('redis', 'CONFIG', 'SET', 'requirepass', $PASS), 'OK',
   'Redis requires a password');
like($A->redis_cli('redis', 'DBSIZE'), qr/NOAUTH/, 'none: refused');

*wait_for = \&Llmopt::Test::wait_for;

sub rcli {
    return $A->redis_cli('redis', '-a', $PASS, '--no-auth-warning', @_);
}

my $catalog = <<'YAML';
models:
  one: {upstream: up_openai, model: model-one,
        price: {input: 1, output: 2}}
  two: {upstream: up_openai, model: model-two,
        price: {input: 1, output: 2}}
policies:
  chat:
    algorithm: ucb1
    arms: [one, two]
    feedback_wait: 0
YAML

for my $t ($A, $B) {
    my ($name, $pass) = $t == $A ? ('good', $PASS) : ('bad', 'wrong');
    $t->start_mock('openai');
    $t->write_file('catalog.yaml', $catalog);
    $t->write_conf(<<"CONF");
%%MODULE%%
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=1m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=20ms;
    llmopt_redis 127.0.0.1:$RPORT instance=$name prefix=auth
                 password=$pass db=3 sync=100ms timeout=1s;

    upstream up_openai { server %%MOCK_OPENAI%%; }

    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/chat/completions {
            llmopt_route chat;
            proxy_pass http://\$llmopt_upstream;
        }
        location = /status { llmopt_status; }
    }
}
CONF
    $t->start();
}

sub redis_status { return ($_[0]->status_json(or_empty => 1))->{redis} // {} }

my $body = encode_json({ model => 'auto',
                         messages => [{ role => 'user', content => 'hi' }] });

for my $t ($A, $B) {
    for (1 .. 4) {
        my $r = $t->http('POST', '/v1/chat/completions',
                         headers => { 'Content-Type' => 'application/json' },
                         body => $body);
        is($r->{status}, 200, ($t == $A ? 'good' : 'bad') . ': routed');
    }
}

# --- 1. the right password, database 3 -----------------------------------

ok(wait_for(sub { (redis_status($A)->{syncs} // 0) >= 2 }, 10),
   'the right password: the trainer syncs');
is(redis_status($A)->{state}, 'up', 'its Redis is up');

my @keys3 = sort split /\n/, rcli('-n', 3, 'KEYS', "'*auth*'");
ok(scalar(grep { /^\{auth:chat\}:[0-9a-f]{16}:instances$/ } @keys3),
   'its instance set is in database 3')
    or diag("keys in 3: @keys3");
ok(scalar(grep { /:i:good$/ } @keys3), 'and its hash');
is(rcli('-n', 0, 'KEYS', "'*auth*'"), '', 'nothing in database 0');

my ($set) = grep { /:instances$/ } @keys3;
is(rcli('-n', 3, 'SMEMBERS', $set), 'good',
   'the wrong password never joined the set');

# --- 2. the wrong password -----------------------------------------------

ok(wait_for(sub { (redis_status($B)->{errors} // 0) >= 1 }, 10),
   'a wrong password: an error');
my $rs = redis_status($B);
is($rs->{state}, 'down', 'its Redis is down');
is($rs->{syncs}, 0, 'it never synced');
like($rs->{last_error}, qr/^connect: /, 'the error: it could not connect')
    or diag($rs->{last_error});
my $r = $B->http('POST', '/v1/chat/completions',
                 headers => { 'Content-Type' => 'application/json' },
                 body => $body);
is($r->{status}, 200, 'requests are still routed');

$A->done();
$B->done();
done_testing();
