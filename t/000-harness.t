#!/usr/bin/perl
# The harness itself, against stock nginx (no llmopt directive): ports,
# configuration templates, the nginx lifecycle (start, reload, killed
# workers, stop, master_process off, daemon off), HTTP/1.1 with chunked
# bodies, slow senders and 100-continue, HTTP/2 through curl, the mock
# providers in both dialects, SSE parsing, the official SDKs, the
# error-log check, and what a failing or dying test leaves behind.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use POSIX qw(ceil);
use File::Path qw(remove_tree);
use Fcntl qw(:flock);
use Time::HiRes qw(time sleep);
use Llmopt::Test;

my $LIB = "$FindBin::Bin/lib";
my $t = Llmopt::Test->new();

# Runs a small test script in a perl of its own: (exit code, output).

sub run_script {
    my ($name, $code, %env) = @_;
    my $file = $t->write_file("scripts/$name.t", <<"PERL" . $code);
use strict;
use warnings;
use lib '$LIB';
use Test::More;
use Llmopt::Test;
PERL
    local %ENV = (%ENV, %env);
    delete $ENV{$_} for grep { !defined $env{$_} } keys %env;
    my $out = `$^X \Q$file\E 2>&1`;
    return ($? >> 8, $out);
}

# --- ports ------------------------------------------------------------------

my $main = $t->port();
is($t->port('main'), $main, 'port: "main" is the default name');
is($t->port('MAIN'), $main, 'port: names are case-insensitive');
my $other = $t->port('other');
isnt($other, $main, 'port: another name, another port');
is($t->port('other'), $other, 'port: stable per name');
like($main, qr/^\d+$/, 'port: a number');

{
    open(my $fh, '<', "/tmp/llmopt-test-ports/$main")
        or die "lock file: $!";
    ok(!flock($fh, LOCK_EX | LOCK_NB), 'port: the lock is held');
    close($fh);
}

# three test files at once never share a port
{
    my @kids;
    for my $i (1 .. 3) {
        my $file = $t->write_file("scripts/ports$i.t", <<"PERL");
use lib '$LIB';
use Test::More;
use Llmopt::Test;
my \$t = Llmopt::Test->new();
my \@p = map { \$t->port("p\$_") } 1 .. 15;
print STDERR "PORTS \@p\\n";
select(undef, undef, undef, 0.4);
\$t->done();
done_testing();
PERL
        open(my $fh, '-|', "$^X \Q$file\E 2>&1") or die "perl: $!";
        push @kids, $fh;
    }
    my %seen;
    my $n = 0;
    for my $fh (@kids) {
        my $out = do { local $/; <$fh> };
        close($fh);
        my ($ports) = $out =~ /^PORTS (.*)$/m;
        for my $p (split ' ', $ports // '') {
            $n++;
            $seen{$p}++;
        }
    }
    is($n, 45, 'ports: 3 parallel harnesses took 15 ports each');
    is(scalar keys %seen, 45, 'ports: all different');
    ok(!$seen{$main} && !$seen{$other}, 'ports: none of ours');
}

# --- configuration ----------------------------------------------------------

$t->start_mock('openai');
$t->start_mock('anthropic', completion_tokens => 5);
ok($t->mock_port('openai') != $t->mock_port('anthropic'),
   'mocks: a port each');

my $conf = <<'CONF';
%%MODULE%%
worker_processes 2;
events { worker_connections 128; }
http {
    access_log %%PREFIX%%/logs/access.log;
    proxy_http_version 1.1;
    proxy_buffering off;

    server {
        listen 127.0.0.1:%%PORT%%;
        listen 127.0.0.1:%%PORT_H2%% http2;

        location /v1/messages {
            proxy_pass http://%%MOCK_ANTHROPIC%%;
        }
        location /v1/ {
            proxy_pass http://%%MOCK_OPENAI%%;
            add_header X-Multi one;
            add_header X-Multi two;
            add_header X-Generation GEN;
        }
        location /small/ {
            client_max_body_size 10;
            proxy_pass http://%%MOCK_OPENAI%%;
        }
        location = /root {
            return 200 "%%ROOT%%";
        }
    }
}
CONF

(my $gen1 = $conf) =~ s/GEN/1/;
$t->write_conf($gen1);
my $text = $t->read_file('conf/nginx.conf');
my $prefix = $t->prefix;
like($text, qr/^daemon on;$/m, 'conf: daemon on added');
like($text, qr{^pid \Q$prefix\E/logs/nginx\.pid;$}m, 'conf: pid added');
like($text, qr{^error_log \Q$prefix\E/logs/error\.log info;$}m,
     'conf: error_log at info added');
like($text, qr{client_body_temp_path \Q$prefix\E/client_body_temp;},
     'conf: temp paths in the prefix');
like($text, qr/listen 127\.0\.0\.1:$main;/, 'conf: %%PORT%%');
like($text, qr/listen 127\.0\.0\.1:\d+ http2;/, 'conf: %%PORT_H2%%');
my $left = () = $text =~ /%%/g;
is($left, 0, 'conf: every placeholder expanded');
my $mock_addr = '127.0.0.1:' . $t->mock_port('openai');
like($text, qr/proxy_pass http:\/\/\Q$mock_addr\E;/, 'conf: %%MOCK_OPENAI%%');
if ($t->has_module) {
    like($text, qr/^load_module \/\S+\.so;$/m,
         'conf: %%MODULE%% loads $LLMOPT_MODULE');
} else {
    unlike($text, qr/load_module/, 'conf: %%MODULE%% empty without module');
}

ok(!eval { $t->expand('x %%NOPE%% y'); 1 }, 'conf: unknown placeholder');
like($@, qr/unknown placeholder %%NOPE%%/, 'conf: ... named');
ok(!eval { $t->expand('%%MOCK_ABSENT%%'); 1 }, 'conf: mock not started');
like($@, qr/no mock "absent"/, 'conf: ... named');

# nginx -t: the configuration written, then a bad one
my ($rc, $out) = $t->nginx_t();
is($rc, 0, 'nginx -t: ok') or diag($out);
like($out, qr/test is successful/, 'nginx -t: output');
($rc, $out) = $t->nginx_t("events {}\nhttp { bogus_directive on; }\n");
isnt($rc, 0, 'nginx -t: a bad configuration fails');
like($out, qr/\[emerg\] unknown directive "bogus_directive"/,
     'nginx -t: the [emerg] is in the output');
unlike($t->read_file('logs/error.log'), qr/bogus_directive/,
       'nginx -t: and not in the checked error log');

# --- start ------------------------------------------------------------------

my $t0 = time();
$t->start();
ok($t->is_running, 'start: running');
my $master = $t->master_pid;
like($master, qr/^\d+$/, 'start: master pid');
# start() returns once one worker runs; the second may still be starting
my @workers;
for (1 .. 200) {
    @workers = $t->worker_pids;
    last if @workers == 2;
    select(undef, undef, undef, 0.05);
}
is(scalar @workers, 2, 'start: two workers');

my $r = $t->http('GET', '/root');
is($r->{status}, 200, 'http: GET');
is($r->{body}, $t->root, 'conf: %%ROOT%% is the repository');
ok(-f $t->root . '/scripts/mock-provider', 'root: holds scripts/');

# --- the OpenAI dialect -----------------------------------------------------

my $body = '{"model":"gpt-test","messages":[{"role":"user",'
           . '"content":"hi"}],  "temperature" : 0.5 }';
$r = $t->http('POST', '/v1/chat/completions',
              headers => { 'Content-Type' => 'application/json' },
              body => $body);
is($r->{status}, 200, 'openai: 200');
is($r->{headers}{'x-mock-name'}, 'mock-openai', 'openai: X-Mock-Name');
is($r->{headers}{'x-multi'}, 'one, two', 'http: repeated headers joined');
is_deeply($r->{header_list}{'x-multi'}, ['one', 'two'],
          'http: and kept apart');
my $j = decode_json($r->{body});
is($j->{object}, 'chat.completion', 'openai: object');
is($j->{model}, 'gpt-test', 'openai: the request\'s model');
is($j->{choices}[0]{message}{role}, 'assistant', 'openai: message');
is($j->{choices}[0]{finish_reason}, 'stop', 'openai: finish_reason');
is($j->{usage}{prompt_tokens}, ceil(length($body) / 4),
   'openai: prompt tokens = ceil(bytes / 4)');
is($j->{usage}{completion_tokens}, 8, 'openai: completion tokens');
is($j->{usage}{total_tokens}, $j->{usage}{prompt_tokens} + 8,
   'openai: total');

my $seen = $t->mock_last('openai');
is($seen->{method}, 'POST', 'mock: method recorded');
is($seen->{path}, '/v1/chat/completions', 'mock: path recorded');
is($seen->{body}, $body, 'mock: body recorded exactly');
is($seen->{headers}{'content-type'}, 'application/json',
   'mock: headers recorded');

# exact bytes: every byte value, not JSON (so the mock answers 400)
my $bytes = join('', map { chr } 0 .. 255) x 3;
$r = $t->http('POST', '/v1/chat/completions', body => $bytes);
is($r->{status}, 400, 'mock: a body that is no JSON: 400');
$j = eval { decode_json($r->{body}) } // {};
is($j->{error}{type}, 'invalid_request_error', 'mock: OpenAI error body');
is($t->mock_last('openai')->{body}, $bytes, 'mock: all 256 byte values');

# per-request steering, repeated request headers kept in order
$r = $t->http('POST', '/v1/chat/completions',
              headers => ['Content-Type' => 'application/json',
                          'X-Mock-Tokens' => 3,
                          'X-Dup' => 'first', 'X-Dup' => 'second'],
              body => $body);
is(decode_json($r->{body})->{usage}{completion_tokens}, 3,
   'mock: X-Mock-Tokens');
my @raw = @{ $t->mock_last('openai')->{raw_headers} };
my @dups = map { $raw[$_ + 1] } grep { $raw[$_] eq 'X-Dup' }
           grep { $_ % 2 == 0 } 0 .. $#raw;
is_deeply(\@dups, ['first', 'second'], 'http: header pairs in order');

$r = $t->http('POST', '/v1/chat/completions',
              headers => { 'X-Mock-Status' => 503 }, body => $body);
is($r->{status}, 503, 'mock: X-Mock-Status');
is(decode_json($r->{body})->{error}{type}, 'api_error',
   'mock: 503 in the OpenAI dialect');

$r = $t->http('POST', '/v1/chat/completions',
              headers => { 'X-Mock-Latency' => 300 }, body => $body);
cmp_ok($r->{elapsed}, '>=', 0.29, 'mock: X-Mock-Latency');
cmp_ok($r->{ttfb}, '>=', 0.29, 'http: time to first byte');

# --- streaming, SSE ---------------------------------------------------------

(my $sbody = $body) =~ s/^\{/{"stream":true,/;
$r = $t->http('POST', '/v1/chat/completions', body => $sbody,
              headers => { 'X-Mock-Chunk-Delay' => 5 });
is($r->{status}, 200, 'openai stream: 200');
like($r->{headers}{'content-type'}, qr{^text/event-stream},
     'openai stream: content type');
cmp_ok(scalar @{ $r->{chunks} // [] }, '>', 1,
       'http: chunked response, chunks kept');
my @ev = $t->sse_events($r->{body});
is(scalar @ev, 11, 'openai stream: role, 8 words, stop, [DONE]');
is($ev[-1]{data}, '[DONE]', 'openai stream: ends with [DONE]');
is($ev[0]{json}{object}, 'chat.completion.chunk', 'sse: json decoded');
is($ev[0]{event}, 'message', 'sse: default event name');
ok(!grep({ $_->{json} && exists $_->{json}{usage} } @ev),
   'openai stream: no usage without include_usage');
is(join('', map { $_->{json}{choices}[0]{delta}{content} // '' }
            @ev[0 .. $#ev - 1]),
   'Hello from the mock provider with a short',
   'openai stream: text');

(my $ubody = $sbody) =~
    s/^\{/{"stream_options":{"include_usage":true},/;
$r = $t->http('POST', '/v1/chat/completions', body => $ubody);
@ev = $t->sse_events($r->{body});
is($ev[-1]{data}, '[DONE]', 'openai usage stream: [DONE]');
is_deeply($ev[-2]{json}{choices}, [], 'openai usage stream: choices []');
is($ev[-2]{json}{usage}{completion_tokens}, 8, 'openai usage stream: usage');
is($ev[-2]{json}{usage}{prompt_tokens}, ceil(length($ubody) / 4),
   'openai usage stream: prompt tokens');
ok(!grep({ defined $_->{json}{usage} } @ev[0 .. $#ev - 2]),
   'openai usage stream: usage null before');

# --- the Anthropic dialect --------------------------------------------------

my $abody = '{"model":"claude-test","max_tokens":64,"messages":'
            . '[{"role":"user","content":"hi"}]}';
$r = $t->http('POST', '/v1/messages', body => $abody);
is($r->{status}, 200, 'anthropic: 200');
is($r->{headers}{'x-mock-name'}, 'mock-anthropic', 'anthropic: its mock');
$j = decode_json($r->{body});
is($j->{type}, 'message', 'anthropic: type');
is($j->{model}, 'claude-test', 'anthropic: model');
is($j->{content}[0]{type}, 'text', 'anthropic: a text block');
is($j->{stop_reason}, 'end_turn', 'anthropic: stop_reason');
is($j->{usage}{input_tokens}, ceil(length($abody) / 4),
   'anthropic: input tokens');
is($j->{usage}{output_tokens}, 5, 'anthropic: --completion-tokens');

(my $asbody = $abody) =~ s/^\{/{"stream":true,/;
$r = $t->http('POST', '/v1/messages', body => $asbody);
@ev = $t->sse_events($r->{body});
is(join(' ', map { $_->{event} } @ev),
   'message_start content_block_start ping ' . 'content_block_delta ' x 5
   . 'content_block_stop message_delta message_stop',
   'anthropic stream: the event sequence');
is($ev[0]{json}{message}{usage}{input_tokens}, ceil(length($asbody) / 4),
   'anthropic stream: input tokens in message_start');
is($ev[-2]{json}{usage}{output_tokens}, 5,
   'anthropic stream: output tokens in message_delta');
is($ev[-2]{json}{delta}{stop_reason}, 'end_turn',
   'anthropic stream: stop_reason');

$r = $t->http('POST', '/v1/messages', headers => { 'X-Mock-Status' => 429 },
              body => $abody);
is($r->{status}, 429, 'anthropic: X-Mock-Status');
$j = decode_json($r->{body});
is($j->{type}, 'error', 'anthropic: error envelope');
is($j->{error}{type}, 'rate_limit_error', 'anthropic: error type');

# --- sse_events on its own --------------------------------------------------

@ev = $t->sse_events(": comment\r\nevent: a\r\ndata: 1\r\ndata: 2\r\n\r\n"
                     . "id: 7\ndata: {\"x\":1}\n\nevent: empty\n\n"
                     . "data: cut");
is(scalar @ev, 3, 'sse: comments and empty events skipped');
is($ev[0]{event}, 'a', 'sse: event name');
is($ev[0]{data}, "1\n2", 'sse: data lines joined, CRLF');
is($ev[1]{id}, 7, 'sse: id');
is($ev[1]{json}{x}, 1, 'sse: json');
ok($ev[2]{incomplete} && !$ev[0]{incomplete}, 'sse: a cut stream shows');

# --- request bodies: chunked, slow, 100-continue ----------------------------

$t->mock_reset('openai');
is(scalar @{ $t->mock_requests('openai') }, 0, 'mock: reset');

my $chunked = join('', map { sprintf("%x\r\n%s\r\n", length, $_) }
                       $body =~ /(.{1,9})/gs) . "0\r\n\r\n";
my $head = "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
           . "Connection: close\r\nTransfer-Encoding: chunked\r\n"
           . "Content-Type: application/json\r\n\r\n";
$r = $t->http_raw($head . $chunked);
is($r->{status}, 200, 'chunked request: 200');
is($t->mock_last('openai')->{body}, $body,
   'chunked request: the mock got the body');

$t0 = time();
$r = $t->http_raw([[$head, 0.1], [substr($chunked, 0, 20), 0.2],
                   { send => substr($chunked, 20), pause => 0 }]);
is($r->{status}, 200, 'slow sender: 200');
cmp_ok(time() - $t0, '>=', 0.3, 'slow sender: the pauses happened');
is($t->mock_last('openai')->{body}, $body, 'slow sender: the body');

$r = $t->http('POST', '/v1/chat/completions', body => $body,
              expect_continue => 1);
ok($r->{continue_received}, '100-continue: the interim 100 came first');
is($r->{status}, 200, '100-continue: then the answer');
is($t->mock_last('openai')->{body}, $body, '100-continue: the body');

$r = $t->http('POST', '/small/', body => $body, expect_continue => 1);
is($r->{status}, 413, '100-continue: a refusal comes instead of the 100');
ok(!$r->{continue_received}, '100-continue: and no 100');

# keep-alive: the response is read to its end, not to EOF
$t0 = time();
$r = $t->http('POST', '/v1/chat/completions', body => $body,
              headers => { Connection => 'keep-alive' }, timeout => 5);
is($r->{status}, 200, 'keep-alive: 200');
ok(!$r->{timed_out} && time() - $t0 < 2, 'keep-alive: no wait for EOF');

is(scalar @{ $t->mock_requests('openai') }, 4, 'mock: four recorded');
is(scalar @{ $t->mock_requests('openai', 2) }, 2, 'mock: the last two');

# --- HTTP/2 -----------------------------------------------------------------

$r = $t->curl_h2('POST', '/v1/chat/completions', port => $t->port('h2'),
                 headers => { 'Content-Type' => 'application/json' },
                 body => $body);
is($r->{version}, '2', 'http2: spoken');
is($r->{status}, 200, 'http2: 200');
is($r->{headers}{'x-mock-name'}, 'mock-openai', 'http2: headers');
is(decode_json($r->{body})->{model}, 'gpt-test', 'http2: body');
is($t->mock_last('openai')->{body}, $body, 'http2: the mock got the body');

# --- the official SDKs ------------------------------------------------------

my $base = 'http://127.0.0.1:' . $t->port('main');
$t->mock_reset('openai');
my ($src, $sdk, $sraw) = $t->run_sdk('openai.mjs', "$base/v1", 'gpt-sdk');
is($src, 0, 'openai SDK: no error') or diag($sraw);
is($sdk->{json}{model}, 'gpt-sdk', 'openai SDK: json model');
like($sdk->{json}{text} // '', qr/^Hello from/, 'openai SDK: json text');
is($sdk->{json}{usage}{completion_tokens}, 8, 'openai SDK: json usage');
is($sdk->{stream}{chunks}, 10, 'openai SDK: stream chunks');
like($sdk->{stream}{text} // '', qr/^Hello from/, 'openai SDK: stream text');
is($sdk->{stream}{usage}, undef, 'openai SDK: no usage unasked');
is($sdk->{stream}{finish_reason}, 'stop', 'openai SDK: finish_reason');
is($sdk->{stream_usage}{usage}{completion_tokens}, 8,
   'openai SDK: include_usage gives usage');
is($sdk->{stream_usage}{chunks}, 11, 'openai SDK: one chunk more');
my @sdk_seen = @{ $t->mock_requests('openai') };
is(scalar @sdk_seen, 3, 'openai SDK: three requests');
is(decode_json($sdk_seen[2]{body})->{stream_options}{include_usage}, 1,
   'openai SDK: asked for usage');

($src, $sdk, $sraw) = $t->run_sdk('anthropic.mjs', $base, 'claude-sdk');
is($src, 0, 'anthropic SDK: no error') or diag($sraw);
is($sdk->{json}{model}, 'claude-sdk', 'anthropic SDK: json model');
is($sdk->{json}{usage}{output_tokens}, 5, 'anthropic SDK: json usage');
is($sdk->{stream}{model}, 'claude-sdk', 'anthropic SDK: stream model');
like($sdk->{stream}{text} // '', qr/^Hello from/,
     'anthropic SDK: stream text');
is($sdk->{stream}{usage}{output_tokens}, 5, 'anthropic SDK: stream usage');
is($sdk->{stream}{stop_reason}, 'end_turn', 'anthropic SDK: stop_reason');
is($sdk->{stream}{event_count}, 10, 'anthropic SDK: events');

($src, $sdk, $sraw) = $t->run_sdk('anthropic.mjs', 'http://127.0.0.1:'
                                  . $t->port('closed'));
isnt($src, 0, 'SDK: an error exits non-zero');
like($sraw, qr/anthropic\.mjs: \w*Error/, 'SDK: and says why');

# --- reload, killed workers -------------------------------------------------

(my $gen2 = $conf) =~ s/GEN/2/;
$t->write_conf($gen2);
ok($t->reload(), 'reload: done');
my @new = $t->worker_pids;
is(scalar @new, 2, 'reload: two workers');
ok(!grep({ my $w = $_; grep { $_ == $w } @workers } @new),
   'reload: all new');
is($t->master_pid, $master, 'reload: same master');
is($t->http('GET', '/v1/models')->{headers}{'x-generation'}, 2,
   'reload: the new configuration serves');

$t->write_conf("events {}\nhttp { bogus_directive on; }\n");
ok($t->reload(expect_fail => 1), 'reload: a bad configuration is refused');
is($t->http('GET', '/v1/models')->{headers}{'x-generation'}, 2,
   'reload: the old configuration still serves');
is(scalar $t->log_problems, 0, 'reload: its [emerg] is allowed');
$t->write_conf($gen2);

my @killed = $t->kill_workers('KILL');
is(scalar @killed, 2, 'kill_workers: two');
my @respawned = $t->worker_pids;
is(scalar @respawned, 2, 'kill_workers: two again');
ok(!grep({ my $w = $_; grep { $_ == $w } @killed } @respawned),
   'kill_workers: new ones');
is($t->http('GET', '/v1/models')->{status}, 200, 'kill_workers: serving');
like($t->read_file('logs/error.log'), qr/\[alert\].*exited on signal 9/,
     'kill_workers: nginx reports the crash as [alert]');
is(scalar $t->log_problems, 2, 'error log: the check sees both');
$t->allow_log(qr/\[alert\].*exited on signal 9/);
is(scalar $t->log_problems, 0, 'error log: allow_log accepts them');

# --- stop and start again ---------------------------------------------------

$t->stop();
ok(!$t->is_running, 'stop: stopped');
ok(!Llmopt::Test::_exists($master), 'stop: the master is gone');
ok(!$t->http('GET', '/v1/models', timeout => 2)->{status},
   'stop: nothing listens');
$t->start();
is($t->http('GET', '/v1/models')->{status}, 200, 'start again: serving');

# --- master_process off, daemon off -----------------------------------------

{
    my $s = Llmopt::Test->new();
    $s->write_conf(<<"CONF");
master_process off;
events { worker_connections 64; }
http {
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { proxy_pass http://$mock_addr; }
    }
}
CONF
    $s->start();
    my $pid = $s->master_pid;
    ok($pid, 'single process: running');
    is(scalar $s->worker_pids, 0, 'single process: no workers');
    is(scalar(my @c = Llmopt::Test::_children($pid)), 0,
       'single process: no children');
    $r = $s->http('POST', '/v1/chat/completions', body => $body);
    is($r->{status}, 200, 'single process: proxies');
    ok(!eval { $s->kill_workers(); 1 }, 'single process: no kill_workers');
    $s->done();
    ok(!Llmopt::Test::_exists($pid), 'single process: stopped by done');
}

{
    my $f = Llmopt::Test->new();
    $f->write_conf(<<"CONF");
daemon off;
events { worker_connections 64; }
http {
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { return 204; }
    }
}
CONF
    $f->start();
    is(scalar $f->worker_pids, 1, 'daemon off: one worker');
    is($f->http('GET', '/')->{status}, 204, 'daemon off: serving');
    ok($f->reload(), 'daemon off: reload');
    $f->done();
}

# --- the error-log check ----------------------------------------------------

{
    my $x = Llmopt::Test->new();
    my @bad = ('[alert] 1#1: a', '[crit] 1#1: b', '[emerg] 1#1: c',
               'close() socket count is zero', 'open socket #3 left in',
               '==1==ERROR: AddressSanitizer: heap-use-after-free',
               'src/x.c:3:5: runtime error: signed integer overflow',
               '==1==ERROR: LeakSanitizer: detected memory leaks');
    $x->write_file('logs/error.log',
                   join("\n", '[info] 1#1: harmless', @bad[0 .. 4]) . "\n");
    $x->write_file('logs/stderr.log', join("\n", @bad[5 .. 7]) . "\n");
    is(scalar $x->log_problems, 8, 'log check: every kind found');
    $x->allow_log(qr/\[(alert|crit|emerg)\]/);
    $x->allow_log('count is zero');
    is(scalar $x->log_problems, 4, 'log check: regexes and strings allowed');
    $x->write_file('logs/stderr.log', '');
    $x->allow_log('open socket');
    $x->done();
}

# --- what tests leave behind ------------------------------------------------

{
    my ($rc, $out) = run_script('pass', <<'PERL');
my $t = Llmopt::Test->new();
print STDERR "PREFIX ", $t->prefix, "\n";
ok(1);
$t->done();
done_testing();
PERL
    my ($p) = $out =~ /^PREFIX (\S+)/m;
    is($rc, 0, 'a passing test: exit 0') or diag($out);
    ok($p && !-d $p, 'a passing test: its prefix is removed');
}

{
    my ($rc, $out) = run_script('fail', <<'PERL');
my $t = Llmopt::Test->new();
ok(0, 'this fails');
$t->done();
done_testing();
PERL
    my ($p) = $out =~ /test prefix kept: (\S+)/;
    isnt($rc, 0, 'a failing test: fails');
    ok($p && -d $p, 'a failing test: its prefix is kept and named');
    remove_tree($p) if $p;
}

{
    my ($rc, $out) = run_script('die', <<"PERL");
my \$t = Llmopt::Test->new();
\$t->start_mock('m');
\$t->write_conf("events {}\\nhttp { server { listen 127.0.0.1:%%PORT%%; } }");
\$t->start();
print STDERR "PIDS ", \$t->master_pid, " \$t->{mocks}{m}{pid}\\n";
die "boom\\n";
PERL
    my ($nginx, $node) = $out =~ /^PIDS (\d+) (\d+)/m;
    my ($p) = $out =~ /test prefix kept: (\S+)/;
    isnt($rc, 0, 'a dying test: fails');
    like($out, qr/^ok 1 - error log/m,
         'a dying test: the log is still checked');
    ok($nginx && !Llmopt::Test::_exists($nginx),
       'a dying test: its nginx is stopped');
    ok($node && !Llmopt::Test::_exists($node),
       'a dying test: its mock is stopped');
    ok($p && -d $p, 'a dying test: its prefix is kept');
    remove_tree($p) if $p;
}

{
    my ($rc, $out) = run_script('badlog', <<'PERL');
my $t = Llmopt::Test->new();
$t->write_file('logs/error.log', "[alert] 1#1: something broke\n");
$t->done();
done_testing();
PERL
    isnt($rc, 0, 'a bad error log fails the test');
    like($out, qr/^not ok 1 - error log/m, 'as a failed assertion');
    like($out, qr/^# \[alert\] 1#1: something broke$/m,
         'with the line in the diagnostics');
    my ($p) = $out =~ /test prefix kept: (\S+)/;
    remove_tree($p) if $p;
}

{
    my ($rc, $out) = run_script('nomodule', <<'PERL', LLMOPT_MODULE => undef);
my $t = Llmopt::Test->new(module => 1);
ok(1, 'never reached');
done_testing();
PERL
    isnt($rc, 0, 'no module: a test that needs it fails');
    like($out, qr/not ok 1 - the llmopt module is available/,
         'no module: loudly');
    like($out, qr/LLMOPT_MODULE is not set.*make check/, 'no module: why');
    unlike($out, qr/never reached/, 'no module: and stops');

    ($rc, $out) = run_script('badmodule', <<'PERL',
my $t = Llmopt::Test->new();
$t->need_module();
done_testing();
PERL
                             LLMOPT_MODULE => '/nonexistent/x.so');
    isnt($rc, 0, 'a bad LLMOPT_MODULE fails need_module');
    like($out, qr/is not a file/, 'a bad LLMOPT_MODULE: named');
}

# Redis, wait_for

{
    my $port = $t->start_redis();
    is($port, $t->port('redis'), 'start_redis: on port("redis")');
    is($t->redis_cli('redis', 'PING'), 'PONG', 'redis_cli: it answers');
    is($t->redis_cli('redis', 'SET', 'k', 'v'), 'OK', 'redis_cli: a command');
    $t->stop_redis();
    ok(defined Llmopt::Test::wait_for(sub {
           `redis-cli -p $port PING 2>&1` !~ /PONG/ }, 5),
       'stop_redis: it is gone');
    is(Llmopt::Test::wait_for(sub { 0 }, 0.1), undef,
       'wait_for: undef when it never holds');
    ok(Llmopt::Test::wait_for(sub { 1 }), 'wait_for: true when it holds at once');
}

$t->done();
cmp_ok(time() - $^T, '<', 30, 'the harness test runs in under 30 s');
done_testing();
