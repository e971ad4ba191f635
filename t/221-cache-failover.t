#!/usr/bin/perl
# The exact cache with llmopt_failover: the first arm's upstream fails
# (500), the second answers; the key nginx stores under is the second
# arm's, so the same request later fails over again and is a hit there.
# A stream that fails over gets the second arm's own stream (the client's
# body, streamed as it comes, not buffered), and nothing of it is stored.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

$t->start_mock('good');
$t->start_mock('bad', status => 500);

$t->write_file('catalog.yaml', <<'YAML');
models:
  bad:  {upstream: up_bad, model: model-bad, price: {input: 1, output: 2}}
  good: {upstream: up_good, model: model-good, price: {input: 1, output: 2}}
policies:
  chat:
    algorithm: static
    arms: [bad, good]
    cache: {}
YAML

$t->write_conf(<<'CONF');
%%MODULE%%
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=1m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    proxy_cache_path %%PREFIX%%/cache levels=1:2 keys_zone=llm:1m;

    upstream up_bad { server %%MOCK_BAD%%; }
    upstream up_good { server %%MOCK_GOOD%%; }

    server {
        listen 127.0.0.1:%%PORT%%;
        llmopt_pin_header X-Arm;

        proxy_http_version 1.1;
        proxy_cache llm;
        proxy_cache_key $llmopt_cache_key;
        proxy_cache_methods POST;
        proxy_cache_bypass $llmopt_cache_bypass;
        proxy_no_cache $llmopt_no_cache;
        proxy_cache_valid 200 10m;
        add_header X-Cache $upstream_cache_status always;

        location /v1/chat/completions {
            llmopt_route chat;
            proxy_pass http://$llmopt_upstream;
            proxy_intercept_errors on;
            error_page 429 500 502 503 504 = @llmopt_failover;
        }

        location @llmopt_failover {
            llmopt_failover;
            proxy_pass http://$llmopt_upstream;
        }

        location = /status {
            llmopt_status;
        }
    }
}
CONF
$t->start();

my %h = ('Content-Type' => 'application/json', 'X-Arm' => 'bad');
my $body = '{"model":"auto","messages":[{"role":"user","content":"fo"}]}';

sub count { scalar @{ $t->mock_requests($_[0]) } }

my $r1 = $t->http('POST', '/v1/chat/completions', headers => \%h,
                  body => $body);
is($r1->{status}, 200, 'failed over');
is(decode_json($r1->{body})->{model}, 'model-good', "the good arm's answer");
is(count('bad'), 1, 'the bad arm was tried');
is(count('good'), 1, 'the good arm answered');

my $r2 = $t->http('POST', '/v1/chat/completions', headers => \%h,
                  body => $body);
is($r2->{status}, 200, 'again');
is($r2->{headers}{'x-cache'}, 'HIT', "a hit under the good arm's key");
is($r2->{body}, $r1->{body}, 'the same answer');
is(count('bad'), 2, 'the bad arm was tried again (its key has no entry)');
is(count('good'), 1, 'the good arm was not asked again');

my $sbody = '{"model":"auto","stream":true,'
            . '"messages":[{"role":"user","content":"fo stream"}]}';
for my $i (1 .. 2) {
    my $s = $t->http('POST', '/v1/chat/completions', headers => \%h,
                     body => $sbody);
    is($s->{status}, 200, "stream $i failed over");
    like($s->{headers}{'content-type'}, qr{^text/event-stream},
         "stream $i: an event stream");
    my @ev = $t->sse_events($s->{body});
    is($ev[-1]{data}, '[DONE]', "stream $i: whole");
    ok(!grep({ $_->{data} ne '[DONE]' && !$_->{json} } @ev),
       "stream $i: every chunk JSON");
    like($t->mock_last('good')->{body}, qr/"stream":true/,
         "stream $i: the good arm got the client's stream");
}
is(count('good'), 3, 'both streams went to the good arm: nothing stored');

# ... and it flows as it comes (not buffered for a cache it cannot enter)

my $slow = $t->http('POST', '/v1/chat/completions',
                    headers => { %h, 'X-Mock-Chunk-Delay' => 60 },
                    body => $sbody);
is($slow->{status}, 200, 'a slow stream failed over');
ok($slow->{ttfb} < $slow->{elapsed} / 4,
   sprintf('its first bytes came at %.2f s of %.2f s', $slow->{ttfb},
           $slow->{elapsed}));

my $st = $t->status_json();
is($st->{policies}{chat}{arms}{good}{cache}{hits}, 1, 'one hit counted');
is($st->{policies}{chat}{failovers} // $st->{policies}{chat}{failover},
   5, 'five failovers');

$t->done();
done_testing();
