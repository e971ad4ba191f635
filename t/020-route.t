#!/usr/bin/perl
# The request path: routing in both dialects, streaming and not, the
# rewritten body and headers, variables, static weights, pass-through of
# other methods where llmopt_passthrough lets them, internal redirects,
# HTTP/2, chunked bodies, 100-continue.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);
my $json = JSON::PP->new->canonical;

$t->start_mock('openai');
$t->start_mock('anthropic');

$t->write_file('catalog.yaml', <<'YAML');
models:
  big:   {upstream: up_openai, model: gpt-big, price: {input: 5, output: 15},
          headers: {Authorization: "Bearer sk-test-secret-big"}}
  small: {upstream: up_openai, model: gpt-small, price: {input: 0.1, output: 0.4},
          headers: {Authorization: "Bearer sk-test-secret-small",
                    OpenAI-Organization: org-test}}
  sonnet: {upstream: up_anthropic, model: claude-sonnet, api: anthropic,
           price: {input: 3, output: 15},
           headers: {x-api-key: sk-ant-test, anthropic-version: "2023-06-01"}}
policies:
  only_small:
    algorithm: static
    arms:
      - {model: big, weight: 0}
      - {model: small, name: small-cold, weight: 1,
         params: {temperature: 0.2, max_tokens: 77, top_p: 0.5}}
    fallback: big
  only_big:
    algorithm: static
    arms:
      - {model: big}
    fallback: big
  split:
    algorithm: static
    arms:
      - {model: big, weight: 1}
      - {model: small, weight: 3}
  learner:
    algorithm: linucb
    arms: [big, small]
    features: [bias, input_tokens, messages, system_len, has_code, has_tools,
               json_format, max_tokens, stream, hour, tenant, words]
  claude:
    algorithm: thompson
    arms: [sonnet]
YAML

$t->write_conf(<<'CONF');
%%MODULE%%
worker_processes 2;
events { worker_connections 256; }
http {
    llmopt_zone name=llmopt size=2m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;

    upstream up_openai { server %%MOCK_OPENAI%%; }
    upstream up_anthropic { server %%MOCK_ANTHROPIC%%; }

    log_format llmopt escape=none '$llmopt_policy|$llmopt_arm|$llmopt_model|'
                      '$llmopt_upstream|$llmopt_reason|$llmopt_explore|'
                      '$llmopt_propensity|$llmopt_dialect|$llmopt_request_id|'
                      '$llmopt_decision_us|$llmopt_body_in|$llmopt_body_out|'
                      '$llmopt_features';
    access_log %%PREFIX%%/logs/llmopt.log llmopt;

    llmopt_tenant_key $http_x_tenant;
    proxy_http_version 1.1;
    proxy_buffering off;

    server {
        listen 127.0.0.1:%%PORT%%;
        listen 127.0.0.1:%%PORT_H2%% http2;

        location /v1/chat/completions {
            llmopt_route only_small;
            proxy_pass http://$llmopt_upstream;
            add_header X-Arm $llmopt_arm always;
            add_header X-Model $llmopt_model always;
            add_header X-Reason $llmopt_reason always;
        }

        location /split/v1/chat/completions {
            llmopt_route split;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
            add_header X-Arm $llmopt_arm always;
        }

        location /learner/v1/chat/completions {
            llmopt_route learner;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
            add_header X-Arm $llmopt_arm always;
        }

        location /v1/messages {
            llmopt_route claude;
            proxy_pass http://$llmopt_upstream;
            add_header X-Arm $llmopt_arm always;
        }

        # the decision survives an internal redirect, and is not redone
        location /redirect/v1/chat/completions {
            llmopt_route only_small;
            proxy_pass http://127.0.0.1:%%PORT_DEAD%%;
            error_page 502 = @again;
        }

        location @again {
            llmopt_route only_big;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
            add_header X-Arm $llmopt_arm always;
            add_header X-Policy $llmopt_policy always;
        }

        # other methods and paths only by the operator's leave
        location /v1/models {
            llmopt_route only_small;
            llmopt_passthrough methods=GET;
            proxy_pass http://$llmopt_upstream;
            add_header X-Reason $llmopt_reason always;
        }
    }
}
CONF

$t->start();

my $body = '{"model":"auto", "messages":[{"role":"user","content":"Say hi"}],'
           . "\n  \"temperature\": 1.5, \"user\":\"u1\"}";

# --- OpenAI, not streaming ----------------------------------------------

my $r = $t->http('POST', '/v1/chat/completions',
                 headers => { 'Content-Type' => 'application/json',
                              'Authorization' => 'Bearer client-key',
                              'X-Tenant' => 'acme' },
                 body => $body);

is($r->{status}, 200, 'openai: 200');
is($r->{headers}{'x-arm'}, 'small-cold', 'openai: arm chosen by weight');
is($r->{headers}{'x-model'}, 'gpt-small', 'openai: model variable');
is($r->{headers}{'x-reason'}, 'exploit', 'openai: reason');
my $resp = eval { decode_json($r->{body}) };
is($resp->{object}, 'chat.completion', 'openai: a chat completion came back');
is($resp->{model}, 'gpt-small', 'openai: the upstream answered as gpt-small');

my @seen = @{ $t->mock_requests('openai') };
is(scalar @seen, 1, 'openai: one upstream request');
my $up = $seen[0];
my $want = '{"model":"gpt-small", "messages":[{"role":"user",'
           . '"content":"Say hi"}],' . "\n  \"temperature\": 0.2, "
           . '"user":"u1","max_tokens":77,"top_p":0.5}';
is($up->{body}, $want, 'openai: body rewritten, every other byte kept');
is($up->{headers}{'content-length'}, length($want),
   'openai: upstream Content-Length is the new length');
is($up->{headers}{'authorization'}, 'Bearer sk-test-secret-small',
   'openai: the arm\'s key replaced the client\'s');
is($up->{headers}{'openai-organization'}, 'org-test',
   'openai: extra arm header added');
is($up->{path}, '/v1/chat/completions', 'openai: path kept');

# a client's repeated header that the arm sets: one upstream, the arm's
# (nginx itself refuses a repeated Authorization)

$t->mock_reset('openai');
$r = $t->http_raw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                  . "Connection: close\r\nContent-Type: application/json\r\n"
                  . "OpenAI-Organization: org-client-one\r\n"
                  . "OpenAI-Organization: org-client-two\r\n"
                  . "Content-Length: " . length($body) . "\r\n\r\n$body");
is($r->{status}, 200, 'repeated OpenAI-Organization: 200');
@seen = @{ $t->mock_requests('openai') };
my $raw = $seen[0]{raw_headers} // [];
my @org = grep { $raw->[$_] =~ /^openai-organization$/i }
          grep { $_ % 2 == 0 } 0 .. $#$raw;
is(scalar @org, 1, '... one such header upstream');
is($raw->[ $org[0] + 1 ], 'org-test', '... the arm\'s value');
ok(!grep({ $_ eq '' } @$raw), '... and no empty header line');

# --- OpenAI, streaming ----------------------------------------------------

my $sbody = '{"model":"x","stream":true,"messages":[{"role":"user",'
            . '"content":"Count to three"}]}';
$r = $t->http('POST', '/v1/chat/completions',
              headers => { 'Content-Type' => 'application/json' },
              body => $sbody);
is($r->{status}, 200, 'openai stream: 200');
like($r->{headers}{'content-type'} // '', qr{text/event-stream},
     'openai stream: SSE content type');
my @events = $t->sse_events($r->{body});
cmp_ok(scalar @events, '>=', 3, 'openai stream: several events');
is($events[-1]{data}, '[DONE]', 'openai stream: ends with [DONE]');
my $chunk = eval { decode_json($events[0]{data}) };
is($chunk->{model}, 'gpt-small', 'openai stream: chunks from gpt-small');
$up = $t->mock_last('openai');
like($up->{body}, qr/^\{"model":"gpt-small","stream":true,/,
     'openai stream: model rewritten in place');

# --- Anthropic, both ------------------------------------------------------

my $abody = '{"model":"claude-whatever","max_tokens":100,'
            . '"system":"be brief","messages":[{"role":"user",'
            . '"content":"Hello"}]}';
$r = $t->http('POST', '/v1/messages',
              headers => { 'Content-Type' => 'application/json',
                           'x-api-key' => 'client-key',
                           'anthropic-version' => '2023-06-01' },
              body => $abody);
is($r->{status}, 200, 'anthropic: 200');
is($r->{headers}{'x-arm'}, 'sonnet', 'anthropic: arm');
$resp = eval { decode_json($r->{body}) };
is($resp->{type}, 'message', 'anthropic: a message came back');
$up = $t->mock_last('anthropic');
(my $awant = $abody) =~ s/claude-whatever/claude-sonnet/;
is($up->{body}, $awant, 'anthropic: body rewritten byte for byte');
is($up->{headers}{'x-api-key'}, 'sk-ant-test', 'anthropic: key replaced');

(my $astream = $abody) =~ s/"max_tokens":100,/"max_tokens":100,"stream":true,/;
$r = $t->http('POST', '/v1/messages',
              headers => { 'Content-Type' => 'application/json' },
              body => $astream);
is($r->{status}, 200, 'anthropic stream: 200');
@events = $t->sse_events($r->{body});
is($events[0]{event}, 'message_start', 'anthropic stream: message_start');
is($events[-1]{event}, 'message_stop', 'anthropic stream: message_stop');

# --- static weights -------------------------------------------------------

my %arms;
for (1 .. 200) {
    $r = $t->http('POST', '/split/v1/chat/completions',
                  headers => { 'Content-Type' => 'application/json' },
                  body => $body);
    $arms{ $r->{headers}{'x-arm'} // 'none' }++;
}
is(($arms{big} // 0) + ($arms{small} // 0), 200, 'split: every request routed');
# 1:3 weights: 50 expected for "big"; a 5-sigma band
cmp_ok($arms{big} // 0, '>', 20, 'split: big gets its share');
cmp_ok($arms{big} // 0, '<', 80, 'split: big gets no more than its share');

# --- linucb from shared memory, with every feature ----------------------

$r = $t->http('POST', '/learner/v1/chat/completions',
              headers => { 'Content-Type' => 'application/json',
                           'X-Tenant' => 'globex' },
              body => '{"messages":[{"role":"system","content":"You code."},'
                      . '{"role":"user","content":"```python\nprint(1)\n```"}],'
                      . '"tools":[{"type":"function","function":{"name":"f"}}],'
                      . '"response_format":{"type":"json_object"},'
                      . '"max_tokens":300,"stream":false}');
is($r->{status}, 200, 'linucb: 200');
like($r->{headers}{'x-arm'} // '', qr/^(big|small)$/, 'linucb: an arm');
$up = $t->mock_last('openai');
like($up->{body}, qr/"model":"gpt-(big|small)"}$/,
     'linucb: a missing model is added at the end');

# --- internal redirect ----------------------------------------------------

$t->mock_reset('openai');
$r = $t->http('POST', '/redirect/v1/chat/completions',
              headers => { 'Content-Type' => 'application/json' },
              body => $body);
is($r->{status}, 200, 'redirect: answered by the named location');
is($r->{headers}{'x-policy'}, 'only_small',
   'redirect: the first decision is kept');
is($r->{headers}{'x-arm'}, 'small-cold', 'redirect: not routed twice');
$up = $t->mock_last('openai');
is($up->{body}, $want, 'redirect: the rewritten body is sent');

# --- llmopt_passthrough: GET /v1/models to the fallback ------------------

$r = $t->http('GET', '/v1/models');
is($r->{headers}{'x-reason'}, 'passthrough', 'GET: passthrough');
$up = $t->mock_last('openai');
is($up->{method}, 'GET', 'GET: reached the fallback upstream');
is($up->{headers}{'authorization'}, 'Bearer sk-test-secret-big',
   'GET: with the fallback arm\'s key');

# --- transfer variants ----------------------------------------------------

# chunked request body
my $chunked = join('', map { sprintf("%x\r\n%s\r\n", length $_, $_) }
                        ($body =~ /(.{1,7})/gs)) . "0\r\n\r\n";
$r = $t->http_raw("POST /v1/chat/completions HTTP/1.1\r\n"
                  . "Host: localhost\r\nConnection: close\r\n"
                  . "Content-Type: application/json\r\n"
                  . "Transfer-Encoding: chunked\r\n\r\n" . $chunked);
is($r->{status}, 200, 'chunked: 200');
$up = $t->mock_last('openai');
is($up->{body}, $want, 'chunked: rewritten body');
is($up->{headers}{'content-length'}, length($want),
   'chunked: sent upstream with a length');
ok(!exists $up->{headers}{'transfer-encoding'},
   'chunked: no chunked encoding upstream');

# Expect: 100-continue
$r = $t->http('POST', '/v1/chat/completions',
              headers => { 'Content-Type' => 'application/json',
                           'Expect' => '100-continue' },
              body => $body);
is($r->{status}, 200, '100-continue: 200');
is($t->mock_last('openai')->{body}, $want, '100-continue: body');

# HTTP/2
{
    my $curl = $t->curl_h2('POST', '/v1/chat/completions',
                           port => $t->port('h2'),
                           headers => { 'Content-Type' => 'application/json' },
                           body => $body);
    is($curl->{status}, 200, 'http2: 200');
    is($t->mock_last('openai')->{body}, $want, 'http2: body');
}

# --- the log line ----------------------------------------------------------

my @log = $t->read_lines('logs/llmopt.log');
my ($first) = grep { /^only_small\|small-cold\|/ } @log;
ok($first, 'log: a routed line');
my @f = split /\|/, $first, 13;
is($f[3], 'up_openai', 'log: $llmopt_upstream');
is($f[4], 'exploit', 'log: $llmopt_reason');
is($f[6], '1.000000', 'log: $llmopt_propensity');
is($f[7], 'openai', 'log: $llmopt_dialect');
like($f[8], qr/^[0-9a-f]{32}$/, 'log: $llmopt_request_id is 128 bits');
like($f[9], qr/^\d+\.\d{3}$/, 'log: $llmopt_decision_us');
is($f[10], length($body), 'log: $llmopt_body_in');
is($f[11], length($want), 'log: $llmopt_body_out');
my $feat = eval { decode_json($f[12]) };
is(ref $feat, 'HASH', 'log: $llmopt_features is JSON');
my %ids = map { (split /\|/)[8] => 1 } grep { /^only_small/ } @log;
cmp_ok(scalar keys %ids, '>=', 5, 'log: request ids differ');
unlike(join("\n", @log), qr/sk-test-secret|sk-ant-test/,
       'log: no secrets in the variables');

$t->stop();
unlike($t->read_file('logs/error.log'), qr/sk-test-secret|sk-ant-test/,
       'error log: no secrets');

$t->done();
done_testing();
