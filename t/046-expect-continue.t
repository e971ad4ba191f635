#!/usr/bin/perl
# Expect: 100-continue.  A body llmopt refuses on its headers alone (too
# large for llmopt_max_body, not JSON; the feedback endpoint's method, type
# and size) is refused at once, with no "100 Continue" first, as nginx does
# for client_max_body_size; a body it takes still gets the 100.  HTTP/1.1
# through a raw socket that waits before it sends the body, HTTP/2 through
# curl.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);
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
  chat: {algorithm: static, arms: [m], feedback_wait: 60000}
  messages: {algorithm: static, arms: [c]}
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

    server {
        listen 127.0.0.1:%%PORT%%;
        listen 127.0.0.1:%%PORT_H2%% http2;

        location /v1/chat/completions {
            llmopt_route chat;
            llmopt_max_body 1k;
            proxy_pass http://$llmopt_upstream;
        }
        location /v1/messages {
            llmopt_route messages;
            llmopt_max_body 1k;
            proxy_pass http://$llmopt_upstream;
        }
        location = /feedback { llmopt_feedback; }
    }
}
CONF
$t->start();

# Sends the head alone and waits 2 s for an answer; then the body, only
# if that answer was a 100; reads the final answer.  {first}: the status of
# the first response line that came.

sub expect {
    my ($method, $path, $type, $body) = @_;
    my $head = "$method $path HTTP/1.1\r\nHost: localhost\r\n"
               . "Connection: close\r\nExpect: 100-continue\r\n"
               . ($type ? "Content-Type: $type\r\n" : '')
               . 'Content-Length: ' . length($body) . "\r\n\r\n";
    my $r = $t->http_raw([ $head, { wait => qr/\r\n\r\n/, timeout => 2 },
                           { send => $body, if_continue => 1 } ],
                         timeout => 5);
    ($r->{first}) = $r->{raw} =~ m{\AHTTP/1\.1 (\d{3}) };
    $r->{first} //= 0;
    return $r;
}

my $msgs = '"messages":[{"role":"user","content":"hi"}]';
my $big = '{"messages":[{"role":"user","content":"' . ('x' x 4000) . '"}]}';
my $OA = '/v1/chat/completions';
my $AN = '/v1/messages';

# --- routed locations: refused on the headers --------------------------------

my @refused = (
    [ 'OpenAI, over llmopt_max_body', $OA, 'application/json', $big, 413,
      qr/"code":"request_too_large"/ ],
    [ 'OpenAI, not JSON', $OA, 'text/plain', "{$msgs}", 415,
      qr/"code":"unsupported_media_type"/ ],
    [ 'OpenAI, a form', $OA, 'application/x-www-form-urlencoded', "{$msgs}",
      415, qr/"code":"unsupported_media_type"/ ],
    [ 'Anthropic, over llmopt_max_body', $AN, 'application/json', $big, 413,
      qr/\A\{"type":"error","error":\{"type":"invalid_request_error"/ ],
    [ 'Anthropic, not JSON', $AN, 'text/plain', "{$msgs}", 415,
      qr/\A\{"type":"error"/ ],
);

for my $c (@refused) {
    my ($name, $path, $type, $body, $status, $shape) = @$c;
    my $r = expect('POST', $path, $type, $body);
    is($r->{first}, $status, "$name: $status is the first answer")
        or diag($r->{raw});
    ok(!$r->{continue_received}, "$name: no 100 Continue before it");
    like($r->{body}, $shape, "$name: in the dialect's error shape");
}

is(scalar @{ $t->mock_requests('openai') }, 0, 'nothing refused went upstream');
is(scalar @{ $t->mock_requests('anthropic') }, 0,
   'nothing refused went upstream (Anthropic)');

# --- a body llmopt takes still gets its 100 ------------------------------------

my $r = expect('POST', $OA, 'application/json', "{$msgs}");
ok($r->{continue_received}, 'a good request: 100 Continue first');
is($r->{status}, 200, 'a good request: then 200');
is($t->mock_last('openai')->{body}, qq({$msgs,"model":"model-m"}),
   'a good request: its body went upstream');

my $id = $r->{headers}{'x-llmopt-request-id'} // '';

$r = expect('POST', $AN, 'application/json',
            qq({"max_tokens":16,$msgs}));
ok($r->{continue_received}, 'a good Anthropic request: 100 Continue first');
is($r->{status}, 200, 'a good Anthropic request: then 200');

# --- the feedback endpoint -----------------------------------------------------

my $fb = '{"id":"' . ('0' x 32) . '","score":1}';

my @fb_refused = (
    [ 'feedback, not JSON', 'POST', 'text/plain', $fb, 415,
      qr/"code":"unsupported_media_type"/ ],
    [ 'feedback, over 4096 bytes', 'POST', 'application/json',
      '{"id":"' . ('0' x 32) . '","score":1,"x":"' . ('x' x 5000) . '"}', 413,
      qr/"code":"request_too_large"/ ],
    [ 'feedback, PUT', 'PUT', 'application/json', $fb, 405,
      qr/"code":"method_not_allowed"/ ],
);

for my $c (@fb_refused) {
    my ($name, $method, $type, $body, $status, $shape) = @$c;
    $r = expect($method, '/feedback', $type, $body);
    is($r->{first}, $status, "$name: $status is the first answer")
        or diag($r->{raw});
    ok(!$r->{continue_received}, "$name: no 100 Continue before it");
    like($r->{body}, $shape, "$name: the feedback endpoint's error");
}

$r = expect('POST', '/feedback', 'application/json',
            '{"id":"' . $id . '","score":1}');
ok($r->{continue_received}, 'good feedback: 100 Continue first');
is($r->{status}, 200, 'good feedback: then accepted');
like($r->{body}, qr/"status":"accepted"/, 'good feedback: the answer');

# --- HTTP/2 ------------------------------------------------------------------
#
# A raw client of its own: curl 7.88 loses an answer that comes before it
# has sent the body ("Empty reply from server", stock nginx's 413 too).  It
# sends the preface, SETTINGS and the request's HEADERS without END_STREAM,
# reads frames for 2 s, and sends the body (DATA, END_STREAM) only if
# $o{body_first} or once an interim 1xx came; then reads until stream 1
# ends.  {statuses}: the :status of each HEADERS frame of stream 1, in
# order; {body}: its DATA.

sub h2_frame {
    my ($type, $flags, $stream, $payload) = @_;
    my $len = length $payload;
    return pack('CnCCN', $len >> 16, $len & 0xffff, $type, $flags, $stream)
           . $payload;
}

sub hpack_literal {          # literal, not indexed, new name, no Huffman
    my ($name, $value) = @_;
    die "header too long for this client" if length($value) > 126;
    return "\x00" . chr(length $name) . $name . chr(length $value) . $value;
}

sub h2_status {              # nginx 1.22's encodings of :status
    my ($block) = @_;
    my %indexed = (0x88 => 200, 0x89 => 204, 0x8a => 206, 0x8b => 304,
                   0x8c => 400, 0x8d => 404, 0x8e => 500);
    my $b = ord $block;
    return $indexed{$b} if $indexed{$b};
    return substr($block, 2, 3) if $b == 0x48 && ord(substr $block, 1) == 3;
    return "?";
}

sub h2_expect {
    my ($path, $type, $body, %o) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port('h2'),
                                  Timeout => 5) or die "connect: $!";
    my $block = hpack_literal(':method', 'POST')
                . hpack_literal(':scheme', 'http')
                . hpack_literal(':path', $path)
                . hpack_literal(':authority', 'localhost')
                . hpack_literal('expect', '100-continue')
                . ($type ? hpack_literal('content-type', $type) : '')
                . hpack_literal('content-length', length $body);
    my $out = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" . h2_frame(4, 0, 0, '')
              . h2_frame(1, 0x4, 1, $block);
    my $data = h2_frame(0, 0x1, 1, $body);
    $out .= $data if $o{body_first};
    syswrite($s, $out) == length $out or die "write: $!";

    my %r = (statuses => [], body => '', ended => 0, reset => 0);
    my ($in, $sent) = ('', $o{body_first});
    my $sel = IO::Select->new($s);
    my $end = time() + 2;

    while (!$r{ended} && (my $left = $end - time()) > 0) {
        if ($in =~ /\A(...)(.)(.)(....)/s
            && length($in) >= 9 + (unpack('N', "\0$1")))
        {
            my $len = unpack('N', "\0$1");
            my ($ftype, $flags) = (ord $2, ord $3);
            my $stream = unpack('N', $4) & 0x7fffffff;
            my $payload = substr($in, 9, $len);
            substr($in, 0, 9 + $len) = '';

            if ($ftype == 4 && !($flags & 1)) {             # SETTINGS: ack
                syswrite($s, h2_frame(4, 1, 0, ''));
            }
            next unless $stream == 1;

            if ($ftype == 1) {                              # HEADERS
                my $status = h2_status($payload);
                push @{ $r{statuses} }, $status;
                if ($status =~ /^1/ && !$sent) {
                    syswrite($s, $data);
                    $sent = 1;
                    $end = time() + 5;
                }
            } elsif ($ftype == 0) {                         # DATA
                $r{body} .= $payload;
            } elsif ($ftype == 3) {                         # RST_STREAM
                $r{reset} = unpack('N', $payload);
                $r{ended} = 1;
            }
            $r{ended} = 1 if ($ftype == 0 || $ftype == 1) && $flags & 1;
            next;
        }
        last unless $sel->can_read($left);
        last unless sysread($s, $in, 65536, length $in);
    }

    close($s);
    $r{status} = $r{statuses}[-1] // 0;
    return \%r;
}

for my $c (@refused, map { [ $_->[0], '/feedback', @$_[2 .. 5] ] }
                      grep { $_->[1] eq 'POST' } @fb_refused)
{
    my ($name, $path, $type, $body, $status, $shape) = @$c;
    my $h2 = h2_expect($path, $type, $body);
    is("@{ $h2->{statuses} }", $status,
       "HTTP/2, $name: $status, and nothing before it");
    like($h2->{body}, $shape, "HTTP/2, $name: in the dialect's error shape");
}

my $h2 = h2_expect($OA, 'application/json', "{$msgs}", body_first => 1);
is("@{ $h2->{statuses} }", 200, 'HTTP/2, a good request with Expect: 200');
is($t->mock_last('openai')->{body}, qq({$msgs,"model":"model-m"}),
   'HTTP/2, a good request: its body went upstream');

# curl, as a client would: it sends the body after a second
$h2 = $t->curl_h2('POST', $OA, port => $t->port('h2'),
                  headers => { 'Expect' => '100-continue',
                               'Content-Type' => 'application/json' },
                  body => "{$msgs}", timeout => 10);
is($h2->{status}, 200, 'HTTP/2 through curl, a good request with Expect: 200');

$t->done();
done_testing();
