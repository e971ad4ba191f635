#!/usr/bin/perl
# The bad-input matrix: hostile or malformed requests of every kind --
# JSON, types, encodings, sizes, HTTP framing, slow clients, HTTP/2 --
# each with the status and error body it must get.  llmopt's own answers
# are JSON errors in the client's dialect; what nginx refuses before llmopt
# sees the request keeps nginx's answer.  Nothing bad reaches the
# upstream, and the error log has no [alert], [crit] or [emerg].

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

$t->start_mock('openai');
$t->start_mock('anthropic');

$t->write_file('catalog.yaml', <<'YAML');
models:
  m: {upstream: up_openai, model: model-m, price: {input: 1, output: 2}}
  c: {upstream: up_anthropic, api: anthropic, model: model-c,
      price: {input: 1, output: 2}}
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
    client_max_body_size 1m;
    client_body_buffer_size 16k;
    client_body_timeout 1s;
    client_header_timeout 1s;
    large_client_header_buffers 4 8k;

    server {
        listen 127.0.0.1:%%PORT%%;
        listen 127.0.0.1:%%PORT_H2%% http2;

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

my $ok = '"messages":[{"role":"user","content":"hi"}]';
my $OA = '/v1/chat/completions';
my $AN = '/v1/messages';
my $an_ok = '"max_tokens":16,"messages":[{"role":"user","content":"hi"}]';

# [ name, path, body, status, message regex, content type ]
# status 200: the request is fine after all and goes upstream
my @json = (
    # truncated and malformed JSON
    [ 'truncated in a string', $OA, '{"messages":[{"role":"user","content":"ab', 400, qr/Invalid JSON at byte \d+/ ],
    [ 'truncated after a key', $OA, '{"messages"', 400, qr/Invalid JSON at byte \d+/ ],
    [ 'unclosed object', $OA, '{', 400, qr/Invalid JSON/ ],
    [ 'whitespace only', $OA, "  \n\t ", 400, qr/./ ],
    [ 'null root', $OA, 'null', 400, qr/object/ ],
    [ 'number root', $OA, '42', 400, qr/object/ ],
    [ 'missing colon', $OA, '{"messages" []}', 400, qr/Invalid JSON at byte 12/ ],
    [ 'single quotes', $OA, "{'messages':[]}", 400, qr/Invalid JSON at byte 1\b/ ],
    [ 'NUL byte', $OA, "{$ok,\"x\":\"a\0b\"}", 400, qr/Invalid JSON/ ],
    [ 'raw control character', $OA, "{$ok,\"x\":\"a\x01b\"}", 400, qr/Invalid JSON/ ],
    [ 'data after the root', $OA, "{$ok}{}", 400, qr/Invalid JSON/ ],
    [ 'UTF-8 byte order mark', $OA, "\xef\xbb\xbf{$ok}", 400, qr/Invalid JSON at byte 0/ ],
    [ 'bad number', $OA, "{$ok,\"temperature\":01}", 400, qr/Invalid JSON/ ],
    [ 'NaN literal', $OA, "{$ok,\"temperature\":NaN}", 400, qr/Invalid JSON/ ],
    # encodings
    [ 'invalid UTF-8 in a key', $OA, "{$ok,\"\xc3\x28\":1}", 400, qr/Invalid JSON|UTF-8/ ],
    [ 'overlong UTF-8', $OA, "{\"messages\":[{\"role\":\"user\",\"content\":\"\xc0\xaf\"}]}", 400, qr/Invalid JSON|UTF-8/ ],
    [ 'UTF-8 surrogate', $OA, "{\"messages\":[{\"role\":\"user\",\"content\":\"\xed\xa0\x80\"}]}", 400, qr/Invalid JSON|UTF-8/ ],
    [ 'lone surrogate escape', $OA, '{"messages":[{"role":"user","content":"\ud800"}]}', 400, qr/Invalid JSON|surrogate/ ],
    [ 'valid astral escape pair', $OA, '{"messages":[{"role":"user","content":"\ud83d\ude00"}]}', 200 ],
    # nesting and sizes
    [ 'deep arrays', $OA, "{$ok,\"x\":" . ('[' x 100) . (']' x 100) . '}', 400, qr/nest|deep/i ],
    [ 'deep objects', $OA, "{$ok,\"x\":" . ('{"a":' x 30) . '1' . ('}' x 30) . '}', 400, qr/nest|deep/i ],
    [ 'huge string under the limit', $OA, '{"messages":[{"role":"user","content":"' . ('x' x 60000) . '"}]}', 200 ],
    [ 'huge string over the limit', $OA, '{"messages":[{"role":"user","content":"' . ('x' x 70000) . '"}]}', 413, qr/larger/ ],
    [ 'many small tokens', $OA, "{$ok,\"x\":[" . join(',', (1) x 20000) . ']}', 200 ],
    [ 'a 400-digit number', $OA, "{$ok,\"x\":" . ('9' x 400) . '}', 200 ],
    # numbers out of range and wrong types
    [ 'max_tokens huge', $OA, "{$ok,\"max_tokens\":1e20}", 400, qr/max_tokens/ ],
    [ 'max_tokens fractional', $OA, "{$ok,\"max_tokens\":1.5}", 400, qr/max_tokens/ ],
    [ 'max_tokens a string', $OA, "{$ok,\"max_tokens\":\"5\"}", 400, qr/max_tokens/ ],
    # values llmopt does not read are the provider's to judge: forwarded
    [ 'temperature overflow, forwarded', $OA, "{$ok,\"temperature\":1e999}", 200 ],
    [ 'stream null', $OA, "{$ok,\"stream\":null}", 200 ],
    [ 'stream_options a string', $OA, "{$ok,\"stream\":true,\"stream_options\":\"x\"}", 400, qr/stream_options/ ],
    [ 'content null (tool calls), forwarded', $OA, '{"messages":[{"role":"user","content":null}]}', 200 ],
    [ 'content blocks of numbers', $OA, '{"messages":[{"role":"user","content":[1,2]}]}', 400, qr/messages\[0\]\.content/ ],
    [ 'role missing', $OA, '{"messages":[{"content":"x"}]}', 400, qr/messages\[0\]\.role/ ],
    [ 'tools of strings, forwarded', $OA, "{$ok,\"tools\":[\"f\"]}", 200 ],
    # duplicate keys: every occurrence must be valid; the last one counts
    [ 'duplicate messages, one invalid', $OA, "{\"messages\":\"x\",$ok}", 400, qr/messages/ ],
    [ 'duplicate messages, last invalid', $OA, "{$ok,\"messages\":5}", 400, qr/messages/ ],
    [ 'duplicate model', $OA, "{\"model\":\"a\",$ok,\"model\":\"b\"}", 200 ],
    # content types
    [ 'JSON with a charset', $OA, "{$ok}", 200, undef, 'application/json; charset=utf-8' ],
    [ 'multipart', $OA, "{$ok}", 415, qr/Content-Type/, 'multipart/form-data; boundary=x' ],
    # Anthropic
    [ 'anthropic: invalid JSON', $AN, '{"model":', 400, qr/Invalid JSON/ ],
    [ 'anthropic: no max_tokens, forwarded', $AN, "{$ok}", 200 ],
    [ 'anthropic: system a number', $AN, "{\"system\":5,$an_ok}", 400, qr/system/ ],
    [ 'anthropic: block without type, forwarded', $AN, '{"max_tokens":5,"messages":[{"role":"user","content":[{"text":"x"}]}]}', 200 ],
    [ 'anthropic: messages a string', $AN, '{"max_tokens":5,"messages":"hi"}', 400, qr/messages/ ],
    [ 'anthropic: a good one', $AN, "{$an_ok}", 200 ],
);

my ($n_cases, $upstream_ok) = (0, 0);

for my $c (@json) {
    my ($name, $path, $body, $status, $re, $ctype) = @$c;
    my $r = $t->http('POST', $path, headers => {
                         'Content-Type' => $ctype // 'application/json',
                         'anthropic-version' => '2023-06-01' },
                     body => $body);
    $n_cases++;
    is($r->{status}, $status, "$name: $status") or diag(substr($r->{body}, 0, 300));
    if ($status == 200) {
        $upstream_ok++;
        next;
    }
    like($r->{headers}{'content-type'} // '', qr{^application/json},
         "$name: a JSON error");
    my $e = eval { decode_json($r->{body}) } // {};
    like($e->{error}{message} // '', $re, "$name: the message says what")
        or diag($r->{body});
    if ($path eq $AN) {
        is($e->{type}, 'error', "$name: Anthropic's shape");
    } else {
        is($e->{error}{type}, 'invalid_request_error', "$name: OpenAI's shape");
    }
}

is(scalar @{ $t->mock_requests('openai') } + scalar @{ $t->mock_requests('anthropic') },
   $upstream_ok, "only the $upstream_ok good ones reached an upstream");

# --- HTTP framing, sizes, slow clients ----------------------------------------

sub raw {
    my ($bytes, %o) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port,
                                  Timeout => 5) or die "connect: $!";
    print $s $bytes;
    if ($o{then}) {
        sleep($o{then}[0]);
        print $s $o{then}[1];
    }
    shutdown($s, 1) if $o{half_close};
    my $resp = '';
    my $end = time() + ($o{wait} // 5);
    my $sel = IO::Select->new($s);
    # until nginx closes, or the time is up: a kept-alive connection must
    # not hold a read for the whole keepalive timeout
    while ((my $left = $end - time()) > 0) {
        last unless $sel->can_read($left);
        my $n = sysread($s, $resp, 65536, length $resp);
        last unless $n;
    }
    close($s);
    my ($status) = $resp =~ m{^HTTP/1\.[01] (\d{3})};
    my ($body) = $resp =~ /\r\n\r\n(.*)$/s;
    return { status => $status // 0, body => $body // '', raw => $resp };
}

my $json = "{$ok}";
my $len = length $json;
my $head = "POST $OA HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";

my @http = (
    [ 'Content-Length larger than the body, then EOF',
      sub { raw($head . "Content-Length: " . ($len + 50) . "\r\n\r\n$json",
                half_close => 1) },
      sub { $_[0]{status} == 0 || $_[0]{status} == 400 } ],
    [ 'Content-Length smaller than the body',
      sub { raw($head . "Content-Length: " . ($len - 5)
                . "\r\nConnection: close\r\n\r\n$json") },
      sub { $_[0]{status} == 400 && $_[0]{body} =~ /Invalid JSON/ } ],
    [ 'Content-Length and chunked both',
      sub { raw($head . "Content-Length: $len\r\nTransfer-Encoding: chunked"
                . "\r\n\r\n" . sprintf("%x\r\n%s\r\n0\r\n\r\n", $len, $json)) },
      sub { $_[0]{status} == 400 } ],
    [ 'chunked: a bad size',
      sub { raw($head . "Transfer-Encoding: chunked\r\n\r\nzz\r\n$json\r\n0\r\n\r\n") },
      sub { $_[0]{status} == 400 } ],
    [ 'chunked: a size that overflows',
      sub { raw($head . "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n") },
      sub { $_[0]{status} == 400 || $_[0]{status} == 413 } ],
    [ 'chunked: extensions and trailers are fine',
      sub { raw($head . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                . sprintf("%x;ext=1\r\n%s\r\n0\r\nX-Trailer: 1\r\n\r\n",
                          $len, $json)) },
      sub { $_[0]{status} == 200 } ],
    [ 'chunked: one byte a chunk',
      sub { raw($head . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                . join('', map { "1\r\n$_\r\n" } split //, $json) . "0\r\n\r\n") },
      sub { $_[0]{status} == 200 } ],
    [ 'Transfer-Encoding gzip',
      sub { raw($head . "Transfer-Encoding: gzip, chunked\r\n\r\n") },
      sub { $_[0]{status} == 501 || $_[0]{status} == 400 } ],
    [ 'a 64 KB header value',
      sub { raw($head . "X-Big: " . ('a' x 65536) . "\r\nContent-Length: $len\r\n\r\n$json") },
      sub { $_[0]{status} == 400 || $_[0]{status} == 494 || $_[0]{status} == 431 } ],
    [ 'slowloris body (client_body_timeout 1s)',
      sub { raw($head . "Content-Length: $len\r\n\r\n" . substr($json, 0, 10),
                wait => 4) },
      sub { $_[0]{status} == 408 || $_[0]{status} == 0 } ],
    [ 'slowloris headers (client_header_timeout 1s)',
      sub { raw("POST $OA HTTP/1.1\r\nHost: x\r\n", wait => 4) },
      sub { $_[0]{status} == 0 || $_[0]{status} == 408 } ],
    [ 'a body split over 2 s (within the timeout each)',
      sub { raw($head . "Content-Length: $len\r\nConnection: close\r\n\r\n"
                . substr($json, 0, 5), then => [0.5, substr($json, 5)]) },
      sub { $_[0]{status} == 200 } ],
    [ 'HTTP/1.0 POST without a length',
      sub { raw("POST $OA HTTP/1.0\r\nContent-Type: application/json\r\n\r\n$json",
                half_close => 1) },
      sub { $_[0]{status} == 411 || $_[0]{status} == 400 } ],
    [ 'Expect: 100-continue with a body too large',
      sub { raw($head . "Expect: 100-continue\r\nContent-Length: 2000000\r\n\r\n") },
      sub { $_[0]{status} == 413 } ],
);

for my $c (@http) {
    my ($name, $run, $check) = @$c;
    my $r = $run->();
    $n_cases++;
    ok($check->($r), "$name: " . ($r->{status} || 'closed'))
        or diag(substr($r->{raw}, 0, 400));
}

# --- HTTP/2 ------------------------------------------------------------------

my $h2 = $t->curl_h2('POST', $OA, port => $t->port('h2'),
                     headers => { 'Content-Type' => 'application/json' },
                     body => '{"messages":');
$n_cases++;
is($h2->{status}, 400, 'HTTP/2: invalid JSON gets 400');
like($h2->{body}, qr/Invalid JSON/, 'HTTP/2: with the message');

$h2 = $t->curl_h2('POST', $OA, port => $t->port('h2'),
                  headers => { 'Content-Type' => 'application/json' },
                  body => $json);
$n_cases++;
is($h2->{status}, 200, 'HTTP/2: a good request');

ok($n_cases >= 40, "$n_cases cases in the matrix");

# a good request still works after all of it
my $r = $t->http('POST', $OA, headers => { 'Content-Type' => 'application/json' },
                 body => $json);
is($r->{status}, 200, 'a good request after the matrix');

$t->done();
done_testing();
