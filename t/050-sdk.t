#!/usr/bin/perl
# The official client SDKs (npm "openai" and "@anthropic-ai/sdk") against
# nginx + llmopt, streaming and not: the SDK gets a valid answer and the
# upstream saw the rewritten model.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

for my $sdk ('openai', '@anthropic-ai/sdk') {
    ok(-d "$FindBin::Bin/sdk/node_modules/$sdk",
       "$sdk is installed (scripts/setup)")
        or BAIL_OUT("the SDKs are missing: run scripts/setup");
}

$t->start_mock('openai');
$t->start_mock('anthropic');

$t->write_file('catalog.yaml', <<'YAML');
models:
  mini: {upstream: up_openai, model: gpt-4o-mini, price: {input: 0.15, output: 0.6},
         headers: {Authorization: "Bearer sk-upstream"}}
  haiku: {upstream: up_anthropic, model: claude-3-5-haiku-20241022,
          api: anthropic, price: {input: 0.8, output: 4},
          headers: {x-api-key: sk-ant-upstream}}
policies:
  chat:
    algorithm: linucb
    arms: [{model: mini, params: {temperature: 0.3}}]
  messages:
    algorithm: thompson
    arms: [haiku]
YAML

$t->write_conf(<<'CONF');
%%MODULE%%
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=1m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    upstream up_openai { server %%MOCK_OPENAI%%; keepalive 8; }
    upstream up_anthropic { server %%MOCK_ANTHROPIC%%; keepalive 8; }
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_buffering off;

    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/chat/completions {
            llmopt_route chat;
            proxy_pass http://$llmopt_upstream;
        }
        location /v1/messages {
            llmopt_route messages;
            proxy_pass http://$llmopt_upstream;
        }
    }
}
CONF

$t->start();
my $base = 'http://127.0.0.1:' . $t->port('main');

# --- OpenAI --------------------------------------------------------------

my ($rc, $out, $raw) = $t->run_sdk('openai.mjs', "$base/v1");
is($rc, 0, 'openai SDK: no error') or diag($raw);

is($out->{json}{model}, 'gpt-4o-mini', 'openai json: answered by the arm');
like($out->{json}{text} // '', qr/\w/, 'openai json: text');
is($out->{json}{finish_reason}, 'stop', 'openai json: finish_reason');
cmp_ok($out->{json}{usage}{prompt_tokens} // 0, '>', 0, 'openai json: usage');

is($out->{stream}{model}, 'gpt-4o-mini', 'openai stream: model');
cmp_ok($out->{stream}{chunks} // 0, '>=', 3, 'openai stream: chunks');
like($out->{stream}{text} // '', qr/\w/, 'openai stream: text');
is($out->{stream}{finish_reason}, 'stop', 'openai stream: finish_reason');
is($out->{stream}{usage}, undef, 'openai stream: no usage unasked');

cmp_ok($out->{stream_usage}{usage}{completion_tokens} // 0, '>', 0,
       'openai stream with include_usage: usage chunk');

my @seen = @{ $t->mock_requests('openai') };
is(scalar @seen, 3, 'openai: three upstream requests');
for my $i (0 .. $#seen) {
    my $b = eval { decode_json($seen[$i]{body}) } // {};
    is($b->{model}, 'gpt-4o-mini', "openai upstream $i: model rewritten");
    is($b->{temperature}, 0.3, "openai upstream $i: arm param set");
    is($seen[$i]{headers}{authorization}, 'Bearer sk-upstream',
       "openai upstream $i: arm key");
    like($seen[$i]{headers}{'user-agent'} // '', qr/OpenAI/i,
         "openai upstream $i: SDK headers pass through");
}

# --- Anthropic -------------------------------------------------------------

($rc, $out, $raw) = $t->run_sdk('anthropic.mjs', $base);
is($rc, 0, 'anthropic SDK: no error') or diag($raw);

is($out->{json}{model}, 'claude-3-5-haiku-20241022',
   'anthropic json: answered by the arm');
like($out->{json}{text} // '', qr/\w/, 'anthropic json: text');
is($out->{json}{stop_reason}, 'end_turn', 'anthropic json: stop_reason');
cmp_ok($out->{json}{usage}{output_tokens} // 0, '>', 0,
       'anthropic json: usage');

is($out->{stream}{model}, 'claude-3-5-haiku-20241022',
   'anthropic stream: model');
like($out->{stream}{text} // '', qr/\w/, 'anthropic stream: text');
is($out->{stream}{stop_reason}, 'end_turn', 'anthropic stream: stop_reason');
is(($out->{stream}{events} // [])->[0], 'message_start',
   'anthropic stream: events from the start');

@seen = @{ $t->mock_requests('anthropic') };
is(scalar @seen, 2, 'anthropic: two upstream requests');
for my $i (0 .. $#seen) {
    my $b = eval { decode_json($seen[$i]{body}) } // {};
    is($b->{model}, 'claude-3-5-haiku-20241022',
       "anthropic upstream $i: model rewritten");
    is($b->{system}, 'Be brief.', "anthropic upstream $i: body kept");
    is($seen[$i]{headers}{'x-api-key'}, 'sk-ant-upstream',
       "anthropic upstream $i: arm key");
}
ok(decode_json($seen[1]{body})->{stream}, 'anthropic: the second streamed');

$t->done();
done_testing();
