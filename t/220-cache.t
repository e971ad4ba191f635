#!/usr/bin/perl
# The exact cache through nginx's own proxy_cache, driven by
# $llmopt_cache_key, $llmopt_cache_bypass and $llmopt_no_cache:
#   1. identical requests (any key order, whitespace, "user") hit after
#      routing, and a different arm chosen for the same body is a miss;
#   2. no hit across tenant keys unless the rule is shared;
#   3. Cache-Control: no-cache bypasses (and stores the fresh answer),
#      no-store neither reads nor stores;
#   4. hits cost 0 and are not learned: the arm's outcomes, the trainer's
#      events and the budget's spend count the misses alone, and the
#      saved cost is the cached usage at the arm's price, to the nano-USD;
#   5. temperature_le, never, ttl; a stream that may be cached goes
#      upstream as a JSON request, and its answer, fresh or cached, is
#      replayed as a stream of the client's dialect (one entry for both);
#   6. errors (5xx, 429) and answers the upstream broke off are not
#      stored; an answer whose client left is stored whole;
#   7. both SDKs: a call and its streams are one entry.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

*wait_for = \&Llmopt::Test::wait_for;

$t->start_mock('openai');
$t->start_mock('anthropic');

# an upstream that announces 2000 bytes and sends 60 of them
my $broken_port = $t->port('broken');
my $broken = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                   LocalPort => $broken_port, Listen => 8,
                                   ReuseAddr => 1)
    or die "listen $broken_port: $!\n";
my $broken_hits = 0;
my $bpid = fork();
die "fork: $!\n" unless defined $bpid;
if ($bpid == 0) {
    $SIG{TERM} = sub { POSIX::_exit(0) };
    while (my $c = $broken->accept()) {
        my $req = '';
        while ($req !~ /\r\n\r\n/) {
            my $n = sysread($c, $req, 4096, length $req);
            last unless $n;
        }
        my ($len) = $req =~ /content-length:\s*(\d+)/i;
        my ($head, $rest) = split /\r\n\r\n/, $req, 2;
        $rest //= '';
        while (length($rest) < ($len // 0)) {
            my $n = sysread($c, $rest, 4096, length $rest);
            last unless $n;
        }
        print $c "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 . "Content-Length: 2000\r\n\r\n"
                 . '{"id":"x","object":"chat.completion","choices":[{"';
        close $c;
    }
    exit 0;
}
close $broken;

$t->write_file('catalog.yaml', <<'YAML');
models:
  big:    {upstream: up_openai, model: model-big,
           price: {input: 2.5, output: 10}}
  small:  {upstream: up_openai, model: model-small,
           price: {input: 0.15, output: 0.6}}
  claude: {upstream: up_anthropic, model: claude-x, api: anthropic,
           price: {input: 3, output: 15}}
  broken: {upstream: up_broken, model: model-broken,
           price: {input: 1, output: 1}}
policies:
  cached:
    algorithm: static
    arms: [big]
    cache: {when: always}
    budget: {day: 100}
  two:
    algorithm: static
    arms: [big, small]
    cache: {}
  shared:
    algorithm: static
    arms: [small]
    cache: {shared: true}
  cold:
    algorithm: static
    arms: [{model: small, params: {temperature: 0.2}}]
    cache: {when: temperature_le, temperature_le: 0.3}
  hot:
    algorithm: static
    arms: [{model: small, params: {temperature: 0.9}}]
    cache: {when: {temperature_le: 0.3}}
  never:
    algorithm: static
    arms: [small]
    cache: {when: never}
  nocache:
    algorithm: static
    arms: [small]
  brief:
    algorithm: static
    arms: [small]
    cache: {ttl: 1s}
  messages:
    algorithm: static
    arms: [claude]
    cache: {}
  broken:
    algorithm: static
    arms: [broken]
    cache: {}
  cross:
    algorithm: static
    arms: [claude]
    cache: {}
YAML

my $loc = '';
for my $p (qw(cached two shared cold hot never nocache brief broken cross)) {
    $loc .= <<"L";
        location /$p/v1/chat/completions {
            llmopt_route $p;
            proxy_pass http://\$llmopt_upstream;
        }
L
}

$t->write_conf(<<"CONF");
%%MODULE%%
worker_processes 2;
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=4m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=20ms;

    proxy_cache_path %%PREFIX%%/cache levels=1:2 keys_zone=llm:1m
                     max_size=10m inactive=1h;

    upstream up_openai { server %%MOCK_OPENAI%%; }
    upstream up_anthropic { server %%MOCK_ANTHROPIC%%; }
    upstream up_broken { server 127.0.0.1:$broken_port; }

    log_format cache '\$llmopt_policy \$llmopt_arm \$llmopt_cache_status '
                     '\$upstream_cache_status \$llmopt_cost '
                     '\$llmopt_cache_saved \$llmopt_cache_key';

    server {
        listen 127.0.0.1:%%PORT%%;
        access_log %%PREFIX%%/logs/cache.log cache;
        llmopt_tenant_key \$http_x_tenant;
        llmopt_pin_header X-Arm;

        proxy_http_version 1.1;
        proxy_cache llm;
        proxy_cache_key \$llmopt_cache_key;
        proxy_cache_methods POST;
        proxy_cache_bypass \$llmopt_cache_bypass;
        proxy_no_cache \$llmopt_no_cache;
        proxy_cache_valid 200 10m;
        add_header X-Cache \$upstream_cache_status always;

$loc
        location /v1/messages {
            llmopt_route messages;
            proxy_pass http://\$llmopt_upstream;
        }

        location = /status {
            llmopt_status;
        }
    }
}
CONF
$t->start();

my $J = { 'Content-Type' => 'application/json' };

sub post {
    my ($path, $body, %h) = @_;
    return $t->http('POST', $path, headers => { %$J, %h }, body => $body);
}

sub upstream_count {
    my ($name) = @_;
    return scalar @{ $t->mock_requests($name // 'openai') };
}

sub body_of {
    my ($text, %more) = @_;
    my $extra = join '', map { qq(,"$_":$more{$_}) } sort keys %more;
    return qq({"model":"auto","messages":[{"role":"user",)
           . qq("content":"$text"}]$extra});
}

# ---------------------------------------------------------------------
# 1. identical requests hit; order, whitespace and "user" do not matter

my $n0 = upstream_count();
my $r1 = post('/cached/v1/chat/completions', body_of('one'));
is($r1->{status}, 200, 'first request');
is($r1->{headers}{'x-cache'}, 'MISS', 'a miss');
is(upstream_count(), $n0 + 1, 'it went upstream');
is(decode_json($t->mock_last('openai')->{body})->{model}, 'model-big',
   'routed to the arm');

my $r2 = post('/cached/v1/chat/completions', body_of('one'));
is($r2->{status}, 200, 'same request');
is($r2->{headers}{'x-cache'}, 'HIT', 'a hit');
is(upstream_count(), $n0 + 1, 'nothing went upstream');
is($r2->{body}, $r1->{body}, 'the cached answer, byte for byte');
ok($r2->{headers}{'x-llmopt-request-id'}, 'a hit has its request id');

my $r3 = post('/cached/v1/chat/completions',
              qq({ "messages" : [ { "content" : "one", "role" : "user" } ],)
              . qq( "user": "someone", "model": "gpt-whatever" }));
is($r3->{headers}{'x-cache'}, 'HIT',
   'another key order, whitespace, user and client model: a hit (the '
   . 'key is of the routed body)');
is(upstream_count(), $n0 + 1, 'still one upstream request');

my $r4 = post('/cached/v1/chat/completions', body_of('one', max_tokens => 5));
is($r4->{headers}{'x-cache'}, 'MISS', 'another parameter: a miss');

# the arm is part of the key: the same body routed to another arm

my $b2 = body_of('arms');
my $a1 = post('/two/v1/chat/completions', $b2, 'X-Arm' => 'big');
is($a1->{headers}{'x-cache'}, 'MISS', 'arm big: miss');
my $a2 = post('/two/v1/chat/completions', $b2, 'X-Arm' => 'small');
is($a2->{headers}{'x-cache'}, 'MISS', 'same body, arm small: a miss');
is(decode_json($t->mock_last('openai')->{body})->{model}, 'model-small',
   'it went to the other model');
my $a3 = post('/two/v1/chat/completions', $b2, 'X-Arm' => 'big');
is($a3->{headers}{'x-cache'}, 'HIT', 'arm big again: a hit');
is(decode_json($a3->{body})->{model}, 'model-big', "big's own answer");
my $a4 = post('/two/v1/chat/completions', $b2, 'X-Arm' => 'small');
is($a4->{headers}{'x-cache'}, 'HIT', 'arm small again: a hit');
is(decode_json($a4->{body})->{model}, 'model-small', "small's own answer");

# ---------------------------------------------------------------------
# 2. tenants

my $bt = body_of('tenant');
is(post('/two/v1/chat/completions', $bt, 'X-Tenant' => 't1',
        'X-Arm' => 'big')->{headers}{'x-cache'}, 'MISS', 'tenant t1: miss');
is(post('/two/v1/chat/completions', $bt, 'X-Tenant' => 't2',
        'X-Arm' => 'big')->{headers}{'x-cache'}, 'MISS',
   'tenant t2, same body: a miss');
is(post('/two/v1/chat/completions', $bt, 'X-Tenant' => 't1',
        'X-Arm' => 'big')->{headers}{'x-cache'}, 'HIT', 'tenant t1: hit');

is(post('/shared/v1/chat/completions', $bt, 'X-Tenant' => 't1')
       ->{headers}{'x-cache'}, 'MISS', 'shared, t1: miss');
is(post('/shared/v1/chat/completions', $bt, 'X-Tenant' => 't2')
       ->{headers}{'x-cache'}, 'HIT', 'shared, t2: a hit');

# ---------------------------------------------------------------------
# 3. the client's Cache-Control

my $n1 = upstream_count();
my $nc = post('/cached/v1/chat/completions', body_of('one'),
              'Cache-Control' => 'no-cache');
is($nc->{headers}{'x-cache'}, 'BYPASS', 'no-cache: bypassed');
is(upstream_count(), $n1 + 1, 'no-cache: went upstream');

my $bs = body_of('nostore');
is(post('/cached/v1/chat/completions', $bs, 'Cache-Control' => 'no-store')
       ->{headers}{'x-cache'}, 'BYPASS', 'no-store: bypassed');
is(post('/cached/v1/chat/completions', $bs)->{headers}{'x-cache'}, 'MISS',
   'no-store: its answer was not stored');

# ---------------------------------------------------------------------
# 4. hits cost nothing and are not learned; the saved cost

# the trainer has seen every outcome so far
ok(wait_for(sub {
    my $s = $t->status_json();
    my $a = $s->{policies}{cached}{arms}{big};
    return ($s->{trainer}{events} // 0) >= 1 && $a->{updates} == $a->{outcomes};
}, 10), 'the trainer caught up');

my $s0 = $t->status_json();
my $arm0 = $s0->{policies}{cached}{arms}{big};
my $events0 = $s0->{trainer}{events};
my $spent0 = $s0->{policies}{cached}{budget}{day}{spent};

my $bh = body_of('saved');
my $miss = post('/cached/v1/chat/completions', $bh);
is($miss->{headers}{'x-cache'}, 'MISS', 'a new body: miss');
my $usage = decode_json($miss->{body})->{usage};
my $cost = ($usage->{prompt_tokens} * 2.5
            + $usage->{completion_tokens} * 10) / 1e6;

my $HITS = 5;
for my $i (1 .. $HITS) {
    is(post('/cached/v1/chat/completions', $bh)->{headers}{'x-cache'}, 'HIT',
       "hit $i");
}

ok(wait_for(sub {
    my $s = $t->status_json();
    return $s->{trainer}{events} >= $events0 + 1
        && $s->{policies}{cached}{arms}{big}{cache}{hits}
           >= $arm0->{cache}{hits} + $HITS;
}, 10), 'counted');
sleep(0.3);    # a few trainer ticks: a hit would have been learned by now

my $s1 = $t->status_json();
my $arm1 = $s1->{policies}{cached}{arms}{big};
is($arm1->{cache}{hits} - $arm0->{cache}{hits}, $HITS,
   "$HITS hits counted for the arm");
is($arm1->{outcomes} - $arm0->{outcomes}, 1, 'one outcome: the miss');
is($arm1->{updates} - $arm0->{updates}, 1, 'one update: hits are not learned');
is($s1->{trainer}{events} - $events0, 1, 'the trainer saw one event');
is(sprintf('%.9f', $arm1->{cost_usd} - $arm0->{cost_usd}),
   sprintf('%.9f', $cost), 'the arm cost the miss alone');
is(sprintf('%.9f', $arm1->{cache}{saved_usd} - $arm0->{cache}{saved_usd}),
   sprintf('%.9f', $HITS * $cost),
   sprintf('saved: %d hits x \$%.9f, to the nano-dollar', $HITS, $cost));
is(sprintf('%.9f', $s1->{policies}{cached}{budget}{day}{spent} - $spent0),
   sprintf('%.9f', $cost), 'the budget spent the miss alone');
is($s1->{policies}{cached}{budget}{reserved} + 0, 0,
   'no reservation left behind by the hits');

my $prom = $t->http('GET', '/status?format=prometheus')->{body};
like($prom, qr/^llmopt_arm_cache_hits_total\{policy="cached",arm="big"\} (\d+)$/m,
     'prometheus: hits');
my ($ph) = $prom =~ /^llmopt_arm_cache_hits_total\{policy="cached",arm="big"\} (\d+)$/m;
is($ph, $arm1->{cache}{hits}, 'prometheus: the status figure');
my ($ps) = $prom =~ /^llmopt_arm_cache_saved_usd_total\{policy="cached",arm="big"\} ([\d.]+)$/m;
is(sprintf('%.9f', $ps), sprintf('%.9f', $arm1->{cache}{saved_usd}),
   'prometheus: saved USD');

my @log = grep { /^cached big / } split /\n/, $t->read_file('logs/cache.log');
my ($hitline) = grep { / hit HIT / } reverse @log;
ok($hitline, 'access log: a hit');
my (undef, undef, undef, undef, $lcost, $lsaved, $lkey) = split / /,
    $hitline // '';
is($lcost + 0, 0, 'access log: $llmopt_cost of a hit is 0');
is(sprintf('%.9f', $lsaved), sprintf('%.9f', $cost),
   'access log: $llmopt_cache_saved');
like($lkey, qr/^[0-9a-f]{64}$/, 'access log: $llmopt_cache_key');
my ($missline) = grep { / miss MISS / } reverse @log;
like($missline // '', qr/ miss MISS 0\.\d+ - [0-9a-f]{64}$/,
     'access log: a miss costs, saves nothing');

# ---------------------------------------------------------------------
# 5. the rule: temperature, never, no rule, streams, ttl

my $bc = body_of('temp');
post('/cold/v1/chat/completions', $bc);
is(post('/cold/v1/chat/completions', $bc)->{headers}{'x-cache'}, 'HIT',
   'temperature 0.2 <= 0.3: cached');
is(post('/hot/v1/chat/completions', $bc)->{headers}{'x-cache'}, 'BYPASS',
   'temperature 0.9: not cached');
is(post('/hot/v1/chat/completions', $bc)->{headers}{'x-cache'}, 'BYPASS',
   'temperature 0.9: never');
is(post('/cold/v1/chat/completions', body_of('temp', temperature => 0.9))
       ->{headers}{'x-cache'}, 'HIT',
   "the arm's temperature is what the upstream sees: still a hit");

for my $p (qw(never nocache)) {
    post("/$p/v1/chat/completions", $bc);
    is(post("/$p/v1/chat/completions", $bc)->{headers}{'x-cache'}, 'BYPASS',
       "$p: not cached");
}

# ---------------------------------------------------------------------
# streams: sent upstream as JSON requests, their answer (fresh or cached)
# replayed as a stream of the client's dialect

sub chunks_of {
    my ($body) = @_;
    my @ev = $t->sse_events($body);
    my ($text, $finish, $usage, $nulls, $done, $bad) = ('', undef, undef,
                                                        0, 0, 0);
    for my $e (@ev) {
        if ($e->{data} eq '[DONE]') { $done++; next; }
        my $j = $e->{json} or do { $bad++; next; };
        $bad++ if $done;
        $bad++ unless ($j->{object} // '') eq 'chat.completion.chunk';
        $nulls++ if exists $j->{usage} && !defined $j->{usage};
        if (@{ $j->{choices} }) {
            $text .= $j->{choices}[0]{delta}{content} // '';
            $finish = $j->{choices}[0]{finish_reason}
                if defined $j->{choices}[0]{finish_reason};
        } else {
            $usage = $j->{usage};
        }
    }
    return { n => scalar(@ev), text => $text, finish => $finish,
             usage => $usage, nulls => $nulls, done => $done, bad => $bad };
}

my $n2 = upstream_count();
my $sb = body_of('stream', stream => 'true');
my $st1 = post('/cached/v1/chat/completions', $sb);
is($st1->{status}, 200, 'stream: first');
is($st1->{headers}{'x-cache'}, 'MISS', 'stream: a miss');
like($st1->{headers}{'content-type'}, qr{^text/event-stream},
     'stream: an event stream');
my $up = $t->mock_last('openai')->{body};
unlike($up, qr/"stream":/, 'stream: sent upstream without "stream"');
unlike($up, qr/stream_options/, '... and without stream_options');
my $c1 = chunks_of($st1->{body});
is($c1->{bad}, 0, 'stream: every chunk well-formed');
is($c1->{done}, 1, 'stream: one [DONE], last');
like($c1->{text}, qr/Hello from the mock provider/, "stream: the answer's text");
is($c1->{finish}, 'stop', 'stream: the finish reason');
ok(!defined $c1->{usage} && $c1->{nulls} == 0,
   'stream: no usage chunk, none asked');

my $s2 = post('/cached/v1/chat/completions', $sb);
is($s2->{headers}{'x-cache'}, 'HIT', 'stream again: a hit');
is($s2->{body}, $st1->{body}, 'the same stream');
is(upstream_count(), $n2 + 1, 'one upstream request for both');

my $j1 = post('/cached/v1/chat/completions', body_of('stream'));
is($j1->{headers}{'x-cache'}, 'HIT',
   'the same request as JSON: a hit (one entry for both shapes)');
is(decode_json($j1->{body})->{choices}[0]{message}{content}, $c1->{text},
   'the JSON answer is the text the stream had');

my $su = post('/cached/v1/chat/completions',
              body_of('stream', stream => 'true',
                      stream_options => '{"include_usage":true}'));
is($su->{headers}{'x-cache'}, 'HIT', 'with include_usage: a hit');
my $cu = chunks_of($su->{body});
is_deeply($cu->{usage}, decode_json($j1->{body})->{usage},
          'include_usage: the usage chunk, the answer\'s usage');
is($cu->{nulls}, $cu->{n} - 2, 'include_usage: usage null in the others');
is($cu->{text}, $c1->{text}, 'include_usage: the same text');

# a streaming client that leaves before its replayed answer: nothing
# stored, the next one gets the whole stream, then a hit

my $sl = body_of('stream left', stream => 'true');
my $sgone = $t->http('POST', '/cached/v1/chat/completions',
                     headers => { %$J, 'X-Mock-Latency' => 400 },
                     body => $sl, timeout => 0.1);
ok($sgone->{timed_out} || !$sgone->{status},
   'a streaming client left before the answer');
sleep(0.8);
my $sl1 = post('/cached/v1/chat/completions', $sl);
is($sl1->{headers}{'x-cache'}, 'MISS', '... no entry from it');
my $cl = chunks_of($sl1->{body});
ok($cl->{done} == 1 && $cl->{bad} == 0 && length $cl->{text},
   '... the next client gets the whole stream');
is(post('/cached/v1/chat/completions', $sl)->{body}, $sl1->{body},
   '... then a hit, the same stream');

my $hot = post('/hot/v1/chat/completions', $sb);
like($hot->{headers}{'x-cache'}, qr/BYPASS/, 'a stream that may not be cached');
like($t->mock_last('openai')->{body}, qr/"stream":true/,
     '... streams upstream as it came');
like($hot->{body}, qr/data: \[DONE\]/, '... whole');

# an OpenAI client routed to an Anthropic model: the JSON request is
# keyed as translated, its cached answer translated again; a stream
# translated to the other dialect streams as it came, not stored

my $xb = '{"model":"auto","max_tokens":20,'
         . '"messages":[{"role":"user","content":"cross"}]}';
my $x1 = post('/cross/v1/chat/completions', $xb);
is($x1->{headers}{'x-cache'}, 'MISS', 'translated: a miss');
like($t->mock_last('anthropic')->{path}, qr{/messages$},
     'translated: sent to the Anthropic endpoint');
my $xj1 = eval { decode_json($x1->{body}) } // {};
is($xj1->{object}, 'chat.completion', 'translated: an OpenAI answer');
my $x2 = post('/cross/v1/chat/completions', $xb);
is($x2->{headers}{'x-cache'}, 'HIT', 'translated: a hit');
my $xj2 = eval { decode_json($x2->{body}) } // {};
is($xj2->{choices}[0]{message}{content}, $xj1->{choices}[0]{message}{content},
   'translated: the same text, translated again');
is($xj2->{object}, 'chat.completion', 'translated hit: an OpenAI answer');

my $xs = '{"model":"auto","max_tokens":20,"stream":true,'
         . '"messages":[{"role":"user","content":"cross"}]}';
for my $i (1 .. 2) {
    my $n = upstream_count('anthropic');
    my $s = post('/cross/v1/chat/completions', $xs);
    is($s->{status}, 200, "translated stream $i");
    like($s->{headers}{'x-cache'}, qr/BYPASS/,
         "translated stream $i: not cached");
    is(upstream_count('anthropic'), $n + 1, "translated stream $i: upstream");
    my $c = chunks_of($s->{body});
    ok($c->{done} == 1 && $c->{bad} == 0 && length $c->{text},
       "translated stream $i: OpenAI chunks, whole");
}

# Anthropic: message_start .. message_stop

my $mb = '{"model":"auto","max_tokens":50,"stream":true,'
         . '"messages":[{"role":"user","content":"replay"}]}';
my $m1 = post('/v1/messages', $mb);
is($m1->{headers}{'x-cache'}, 'MISS', 'anthropic stream: a miss');
unlike($t->mock_last('anthropic')->{body}, qr/"stream"/,
       'anthropic: sent as a JSON request');
my @ev = $t->sse_events($m1->{body});
is(join(',', map { $_->{event} } @ev),
   'message_start,content_block_start,content_block_delta,'
   . 'content_block_stop,message_delta,message_stop',
   'anthropic: the events of a message');
ok(!grep({ !$_->{json} || $_->{json}{type} ne $_->{event} } @ev),
   'anthropic: each event\'s data is its type');
my $m2 = post('/v1/messages', $mb);
is($m2->{headers}{'x-cache'}, 'HIT', 'anthropic stream: a hit');
is($m2->{body}, $m1->{body}, 'anthropic: the same stream');

my $bb = body_of('brief');
post('/brief/v1/chat/completions', $bb);
is(post('/brief/v1/chat/completions', $bb)->{headers}{'x-cache'}, 'HIT',
   'ttl 1s: a hit at once');
sleep(2.2);
is(post('/brief/v1/chat/completions', $bb)->{headers}{'x-cache'}, 'EXPIRED',
   'ttl 1s: expired after 2 s');

# ---------------------------------------------------------------------
# 6. what is not stored

for my $st (500, 429) {
    my $be = body_of("error $st");
    my $e = post('/cached/v1/chat/completions', $be, 'X-Mock-Status' => $st);
    is($e->{status}, $st, "upstream $st");
    my $ok = post('/cached/v1/chat/completions', $be);
    is($ok->{status}, 200, "then a 200 for the same body");
    is($ok->{headers}{'x-cache'}, 'MISS', "the $st was not stored");
}

my $bk = body_of('broken');
for my $i (1 .. 2) {
    my $r = post('/broken/v1/chat/completions', $bk);
    ok(length($r->{body}) < 2000, "broken-off answer $i: short");
    isnt($r->{headers}{'x-cache'} // '', 'HIT',
         "broken-off answer $i: not served from the cache");
}

# a client that leaves before the answer: nothing of it is stored (nginx
# stores an answer it could start to send), the next one gets it whole

my $bl = body_of('left');
my $gone = $t->http('POST', '/cached/v1/chat/completions',
                    headers => { %$J, 'X-Mock-Latency' => 400 },
                    body => $bl, timeout => 0.1);
ok($gone->{timed_out} || !$gone->{status}, 'the client left before the answer');
sleep(0.8);
my $after = post('/cached/v1/chat/completions', $bl);
is($after->{status}, 200, 'the same request again');
is($after->{headers}{'x-cache'}, 'MISS', 'no entry from the client that left');
ok(eval { decode_json($after->{body})->{choices}[0]{message}{content} },
   'a complete JSON answer');
is(post('/cached/v1/chat/completions', $bl)->{body}, $after->{body},
   'then a hit, the same answer');

# ---------------------------------------------------------------------
# 7. the SDKs

# the SDK's two streams have one key (stream and stream_options are not
# in it; its call has a temperature of its own): two upstream requests

my $base = 'http://127.0.0.1:' . $t->port() . '/cached/v1';
my $n3 = upstream_count();
my ($rc1, $sum1, $out1) = $t->run_sdk('openai.mjs', $base);
is($rc1, 0, 'openai SDK, first run') or diag($out1);
is(upstream_count(), $n3 + 2,
   'openai SDK: two upstream requests: the call, one for both streams');
like($sum1->{json}{text} // '', qr/Hello from the mock/, 'openai SDK: text');
for my $v (qw(stream stream_usage)) {
    is($sum1->{$v}{text}, $sum1->{json}{text},
       "openai SDK: $v replays the answer's text");
    is($sum1->{$v}{finish_reason}, $sum1->{json}{finish_reason},
       "openai SDK: $v: its finish reason");
}
is($sum1->{stream}{usage}, undef, 'openai SDK: stream: no usage');
ok(($sum1->{stream_usage}{usage}{prompt_tokens} // 0) > 0
   && $sum1->{stream_usage}{usage}{completion_tokens}
      == $sum1->{json}{usage}{completion_tokens},
   'openai SDK: stream_usage: the usage chunk');
my ($rc2, $sum2, $out2) = $t->run_sdk('openai.mjs', $base);
is($rc2, 0, 'openai SDK, second run') or diag($out2);
is(upstream_count(), $n3 + 2, 'second run: all hits');
is_deeply($sum2, $sum1, 'openai SDK: the second run saw the first');

my $abase = 'http://127.0.0.1:' . $t->port();
my $n4 = upstream_count('anthropic');
my ($rc3, $sum3, $out3) = $t->run_sdk('anthropic.mjs', $abase);
is($rc3, 0, 'anthropic SDK, first run') or diag($out3);
ok(length($sum3->{json}{text} // '') > 0, 'anthropic SDK: text');
is($sum3->{stream}{text}, $sum3->{json}{text},
   "anthropic SDK: the stream replays the message's text");
is($sum3->{stream}{stop_reason}, $sum3->{json}{stop_reason},
   'anthropic SDK: its stop reason');
is_deeply($sum3->{stream}{usage}, $sum3->{json}{usage},
          "anthropic SDK: the stream's final usage is the message's");
is(upstream_count('anthropic'), $n4 + 1, 'anthropic SDK: one upstream request');
my ($rc4, $sum4, $out4) = $t->run_sdk('anthropic.mjs', $abase);
is($rc4, 0, 'anthropic SDK, second run') or diag($out4);
is(upstream_count('anthropic'), $n4 + 1, 'second run: all hits');
is_deeply($sum4, $sum3, 'anthropic SDK: the second run saw the first');

kill 'TERM', $bpid;
waitpid($bpid, 0);

$t->done();
done_testing();
