#!/usr/bin/perl
# Bad input: a clear error in the client's dialect with the right status,
# never a crash, never an upstream request, never an [alert].

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

$t->start_mock('openai');
$t->start_mock('anthropic');

$t->write_file('catalog.yaml', <<'YAML');
models:
  m: {upstream: up_openai, price: {input: 1, output: 2}}
  c: {upstream: up_anthropic, api: anthropic, price: {input: 1, output: 2}}
policies:
  chat: {algorithm: ucb1, arms: [m]}
  messages: {algorithm: ucb1, arms: [c]}
YAML

$t->write_conf(<<'CONF');
%%MODULE%%
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=1m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    upstream up_openai { server %%MOCK_OPENAI%%; }
    upstream up_anthropic { server %%MOCK_ANTHROPIC%%; }
    client_max_body_size 10m;
    client_body_buffer_size 16k;

    server {
        listen 127.0.0.1:%%PORT%%;

        location /v1/chat/completions {
            llmopt_route chat;
            llmopt_max_body 64k;
            llmopt_max_depth 16;
            proxy_pass http://$llmopt_upstream;
        }

        location /v1/messages {
            llmopt_route messages;
            llmopt_max_body 64k;
            proxy_pass http://$llmopt_upstream;
        }
    }
}
CONF

$t->start();

my $ok_msgs = '"messages":[{"role":"user","content":"hi"}]';

my @cases = (
    # [ name, body, status, message regex, content type ]
    [ 'truncated JSON', '{"messages":[{"role":"user"', 400,
      qr/Invalid JSON at byte \d+/ ],
    [ 'garbage', 'hello', 400, qr/Invalid JSON at byte 0/ ],
    [ 'trailing comma', "{$ok_msgs,}", 400, qr/Invalid JSON at byte \d+/ ],
    [ 'array root', "[$ok_msgs]", 400, qr/object/ ],
    [ 'string root', '"messages"', 400, qr/object/ ],
    [ 'empty body', '', 400, qr/./ ],
    [ 'no messages', '{"model":"x"}', 400, qr/'messages' is a required/ ],
    [ 'messages a string', '{"messages":"hi"}', 400,
      qr/Invalid type for 'messages'/ ],
    [ 'messages empty', '{"messages":[]}', 400, qr/messages/ ],
    [ 'message not object', '{"messages":["hi"]}', 400,
      qr/messages\[0\]/ ],
    [ 'role a number', '{"messages":[{"role":1,"content":"x"}]}', 400,
      qr/messages\[0\]\.role/ ],
    [ 'content a number', '{"messages":[{"role":"user","content":5}]}', 400,
      qr/messages\[0\]\.content/ ],
    [ 'model a number', "{\"model\":4,$ok_msgs}", 400, qr/'model'/ ],
    [ 'stream a string', "{\"stream\":\"yes\",$ok_msgs}", 400,
      qr/'stream'/ ],
    [ 'max_tokens negative', "{\"max_tokens\":-1,$ok_msgs}", 400,
      qr/max_tokens/ ],
    [ 'temperature a string', "{\"temperature\":\"hot\",$ok_msgs}", 400,
      qr/'temperature'/ ],
    [ 'tools an object', "{\"tools\":{},$ok_msgs}", 400, qr/'tools'/ ],
    [ 'too deep', '{"messages":[{"role":"user","content":"x"}],"x":'
                  . ('[' x 40) . (']' x 40) . '}', 400, qr/nest|deep/i ],
    [ 'invalid UTF-8', "{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}",
      400, qr/Invalid JSON|UTF-8/ ],
    [ 'bad escape', '{"messages":[{"role":"user","content":"\\q"}]}', 400,
      qr/Invalid JSON at byte/ ],
    [ 'too large', '{"messages":[{"role":"user","content":"'
                   . ('a' x 70000) . '"}]}', 413, qr/larger/ ],
    [ 'form content type', "{$ok_msgs}", 415, qr/Content-Type/,
      'application/x-www-form-urlencoded' ],
    [ 'text content type', "{$ok_msgs}", 415, qr/Content-Type/,
      'text/plain' ],
);

for my $c (@cases) {
    my ($name, $body, $status, $re, $ctype) = @$c;
    my $r = $t->http('POST', '/v1/chat/completions',
                     headers => { 'Content-Type' => $ctype
                                  // 'application/json' },
                     body => $body);
    is($r->{status}, $status, "$name: $status");
    like($r->{headers}{'content-type'} // '', qr{^application/json},
         "$name: JSON error");
    my $e = eval { decode_json($r->{body}) } // {};
    like($e->{error}{message} // '', $re, "$name: message")
        or diag($r->{body});
    is($e->{error}{type}, 'invalid_request_error', "$name: OpenAI type");
}

# the byte offset names the place
my $r = $t->http('POST', '/v1/chat/completions',
                 headers => { 'Content-Type' => 'application/json' },
                 body => '{"messages": [ {"role": "user", "content": x} ]}');
like(decode_json($r->{body})->{error}{message}, qr/at byte 43\b/,
     'offset of the bad byte');

# the same in the Anthropic dialect
for my $c (['{"messages":"hi","max_tokens":5}', 400],
           ['not json', 400])
{
    my $r = $t->http('POST', '/v1/messages',
                     headers => { 'Content-Type' => 'application/json' },
                     body => $c->[0]);
    is($r->{status}, $c->[1], "anthropic: $c->[1]");
    my $e = eval { decode_json($r->{body}) } // {};
    is($e->{type}, 'error', 'anthropic: {"type":"error"}');
    is($e->{error}{type}, 'invalid_request_error', 'anthropic: error type');
    ok(length($e->{error}{message} // ''), 'anthropic: a message');
}

# a large body over a chunked stream is measured after reading
my $big = '{"messages":[{"role":"user","content":"' . ('b' x 70000) . '"}]}';
my $chunked = join('', map { sprintf("%x\r\n%s\r\n", length $_, $_) }
                        ($big =~ /(.{1,8000})/gs)) . "0\r\n\r\n";
$r = $t->http_raw("POST /v1/chat/completions HTTP/1.1\r\n"
                  . "Host: localhost\r\nConnection: close\r\n"
                  . "Content-Type: application/json\r\n"
                  . "Transfer-Encoding: chunked\r\n\r\n" . $chunked);
is($r->{status}, 413, 'chunked too large: 413');

is(scalar @{ $t->mock_requests('openai') }, 0,
   'no bad request reached the upstream');
is(scalar @{ $t->mock_requests('anthropic') }, 0,
   'nor the anthropic one');

# and a good one still works afterwards
$r = $t->http('POST', '/v1/chat/completions',
              headers => { 'Content-Type' => 'application/json' },
              body => "{$ok_msgs}");
is($r->{status}, 200, 'a good request after all that');

$t->done();
done_testing();
