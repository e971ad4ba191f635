#!/usr/bin/perl
# The feedback endpoint: every answer, its counter in the status, and that
# no feedback ever reaches another request's outcome.  Then signed tokens
# (llmopt_feedback_secret), and request ids that are 128 random bits.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Digest::SHA qw(hmac_sha256_hex);
use Time::HiRes qw(sleep time);
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

$t->start_mock('openai');

$t->write_file('catalog.yaml', <<'YAML');
models:
  a: {upstream: up_openai, model: model-a, price: {input: 1, output: 2}}
  b: {upstream: up_openai, model: model-b, price: {input: 1, output: 2}}
policies:
  chat:
    algorithm: thompson
    seed: 2
    arms: [a, b]
    reward: {quality: 1, cost: 0, latency: 0}
    feedback_wait: 60000
  quick:
    algorithm: thompson
    seed: 2
    arms: [a, b]
    reward: {quality: 1, cost: 0, latency: 0}
    feedback_wait: 300
  now:
    algorithm: thompson
    seed: 2
    arms: [a, b]
YAML

my $CONF = <<'CONF';
%%MODULE%%
worker_processes 2;
events { worker_connections 256; }
http {
    llmopt_zone name=llmopt size=2m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=20ms;
    %%SECRET%%

    upstream up_openai { server %%MOCK_OPENAI%%; keepalive 4; }

    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/chat/completions {
            llmopt_route chat;
            proxy_pass http://$llmopt_upstream;
            add_header X-Arm $llmopt_arm always;
        }
        location /quick/v1/chat/completions {
            llmopt_route quick;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
        }
        location /now/v1/chat/completions {
            llmopt_route now;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
        }
        location = /feedback { llmopt_feedback; }
        location = /status { llmopt_status; }
    }
}
CONF

(my $conf = $CONF) =~ s/%%SECRET%%//;
$t->write_conf($conf);
$t->start();

sub status {
    return decode_json($t->http('GET', '/status')->{body});
}

sub ask {
    my ($path) = @_;
    my $r = $t->http('POST', $path // '/v1/chat/completions',
                     headers => { 'Content-Type' => 'application/json' },
                     body => '{"messages":[{"role":"user","content":"q"}]}');
    return $r;
}

sub feedback {
    my ($body, %h) = @_;
    my $r = $t->http($h{method} // 'POST', '/feedback',
                     headers => { 'Content-Type' => $h{type}
                                                    // 'application/json' },
                     body => ref $body ? encode_json($body) : $body);
    $r->{json} = eval { decode_json($r->{body}) };
    return $r;
}

sub pulls {
    my ($s, $policy) = @_;
    my $n = 0;
    $n += $_->{updates} for values %{ $s->{policies}{$policy}{arms} };
    return $n;
}

sub unscored {
    my ($s, $policy) = @_;
    my $n = 0;
    $n += $_->{unscored} // 0 for values %{ $s->{policies}{$policy}{arms} };
    return $n;
}

my %count;

# accepted, then duplicate

my $r = ask();
my $id = $r->{headers}{'x-llmopt-request-id'};
like($id, qr/^[0-9a-f]{32}$/, 'the response carries a 32-hex request id');
ok(!exists $r->{headers}{'x-llmopt-feedback-token'},
   'no token without a secret');

my $f = feedback({ id => $id, score => 0.75 });
is($f->{status}, 200, 'feedback accepted');
is_deeply($f->{json}, { status => 'accepted', id => $id },
          '... {"status":"accepted","id":...}');
$count{accepted}++;

my $s;
for (1 .. 100) {
    $s = status();
    last if pulls($s, 'chat') == 1;
    sleep(0.05);
}
is(pulls($s, 'chat'), 1, 'the score was learned at once');
my $arm = $r->{headers}{'x-arm'};
is($s->{policies}{chat}{arms}{$arm}{mean_reward}, 0.75,
   "the arm's reward is the score");

$f = feedback({ id => $id, score => 1 });
is($f->{status}, 409, 'a second score for the same id: 409');
is($f->{json}{error}{code}, 'duplicate_feedback', '... duplicate_feedback');
$count{duplicate}++;

# unknown, in upper case too

$f = feedback({ id => 'f' x 32, score => 1 });
is($f->{status}, 404, 'an id never routed: 404');
is($f->{json}{error}{code}, 'unknown_request', '... unknown_request');
$count{unknown}++;

$f = feedback({ id => uc($id), score => 1 });
is($f->{status}, 409, 'ids are case-insensitive hex');
$count{duplicate}++;

# malformed

my @malformed = (
    [ '{bad json', 'invalid_json' ],
    [ '[1, 2]', 'invalid_json' ],
    [ { score => 1 }, 'invalid_id' ],
    [ { id => 'xyz', score => 1 }, 'invalid_id' ],
    [ { id => 'g' x 32, score => 1 }, 'invalid_id' ],
    [ { id => 'a' x 31, score => 1 }, 'invalid_id' ],
    [ { id => 12345, score => 1 }, 'invalid_id' ],
    [ { id => $id }, 'invalid_score' ],
    [ { id => $id, score => '0.5' }, 'invalid_score' ],
    [ { id => $id, score => -0.1 }, 'invalid_score' ],
    [ { id => $id, score => 1.5 }, 'invalid_score' ],
    [ { id => $id, score => JSON::PP::true }, 'invalid_score' ],
    [ '{"id":"' . $id . '","score":1e400}', 'invalid_score' ],
);

for my $m (@malformed) {
    my $body = ref $m->[0] ? encode_json($m->[0]) : $m->[0];
    $f = feedback($m->[0]);
    is($f->{status}, 400, "malformed $body: 400");
    is($f->{json}{error}{code}, $m->[1], "... $m->[1]");
    $count{malformed}++;
}

$f = feedback('', method => 'GET');
is($f->{status}, 405, 'GET: 405');
is($f->{headers}{allow}, 'POST', '... Allow: POST');
$count{malformed}++;

$f = feedback({ id => $id, score => 1 }, type => 'text/plain');
is($f->{status}, 415, 'text/plain: 415');
$count{malformed}++;

$f = feedback('{"id":"' . $id . '","score":1,"pad":"' . ('x' x 5000) . '"}');
is($f->{status}, 413, 'a body over 4 KB: 413');
$count{malformed}++;

# expired: the wait ended, the reward is final

$r = ask('/quick/v1/chat/completions');
my $late = $r->{headers}{'x-llmopt-request-id'};
for (1 .. 100) {
    last if unscored(status(), 'quick') == 1;
    sleep(0.05);
}
is(unscored(status(), 'quick'), 1, 'the wait of 300 ms ended: unscored');
is(pulls(status(), 'quick'), 0,
   '... and not learned: its arm has no scored answer (unscored: observed)');
$f = feedback({ id => $late, score => 1 });
is($f->{status}, 410, 'feedback after the wait: 410');
is($f->{json}{error}{code}, 'feedback_expired', '... feedback_expired');
$count{expired}++;

# a policy without a wait: its requests are not waiting for feedback

$r = ask('/now/v1/chat/completions');
$f = feedback({ id => $r->{headers}{'x-llmopt-request-id'}, score => 1 });
is($f->{status}, 404, 'feedback_wait 0: nothing waits, 404');
$count{unknown}++;

# nothing above reached another request: one pending request, untouched

my $other = ask();
my $other_id = $other->{headers}{'x-llmopt-request-id'};
$s = status();
is(pulls($s, 'chat'), 1, 'no bad feedback changed what chat learned');

for my $k (qw(accepted malformed forbidden unknown duplicate expired)) {
    is($s->{feedback}{$k}, $count{$k} // 0, "status feedback.$k");
}
is($s->{feedback}{pending}, 1, 'one request waits for feedback');

$f = feedback({ id => $other_id, score => 0 });
is($f->{status}, 200, 'its own feedback is still accepted');

# ids: 1000 distinct

my %ids;
for (1 .. 1000) {
    my $x = ask('/now/v1/chat/completions');
    $ids{ $x->{headers}{'x-llmopt-request-id'} // '' }++;
}
is(scalar(grep { /^[0-9a-f]{32}$/ } keys %ids), 1000,
   '1000 requests, 1000 distinct 32-hex ids');

$t->stop();

# signed tokens

my $secret = 'correct horse battery staple';
($conf = $CONF) =~ s/%%SECRET%%/llmopt_feedback_secret "$secret";/;
$t->write_conf($conf);
$t->start();

$r = ask();
$id = $r->{headers}{'x-llmopt-request-id'};
my $token = $r->{headers}{'x-llmopt-feedback-token'} // '';
is($token, "$id." . hmac_sha256_hex($id, $secret),
   'X-LLMOpt-Feedback-Token is the id and its HMAC-SHA256');

$f = feedback({ id => $id, score => 1 });
is($f->{status}, 403, 'a bare id is refused when tokens are on');
is($f->{json}{error}{code}, 'token_required', '... token_required');

(my $forged = $token) =~ s/.$/$& eq '0' ? '1' : '0'/e;
$f = feedback({ token => $forged, score => 1 });
is($f->{status}, 403, 'a tampered token: 403');
is($f->{json}{error}{code}, 'invalid_token', '... invalid_token');

my $x = ask();
my $other_token = $x->{headers}{'x-llmopt-feedback-token'};
(my $swapped = $token) =~ s/^[0-9a-f]{32}/substr($other_token, 0, 32)/e;
$f = feedback({ token => $swapped, score => 1 });
is($f->{status}, 403, "another id with this token's signature: 403");

$f = feedback({ token => $token, score => 0.5 });
is($f->{status}, 200, 'the real token is accepted');
is($f->{json}{id}, $id, '... for its id');

$s = status();
is($s->{feedback}{forbidden}, 3, 'status counts 3 forbidden');

$t->done();
done_testing();
