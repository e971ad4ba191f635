#!/usr/bin/perl
# What comes back is counted exactly: tokens, cached tokens, cost and the
# finish reason equal what the mock provider sent, for JSON answers and
# event streams in both dialects, with the body arriving in odd pieces.
# The client's stream is the upstream's byte for byte when it asked for
# usage; when it did not, the usage chunk the router asked for is the only
# thing missing.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use Llmopt::Test;
use Llmopt::RouterBench;

my $t = Llmopt::Test->new(module => 1);

$t->start_mock('openai');
$t->start_mock('anthropic');

# prices per 1M tokens: fractional, so that a wrong count shows in the cost
my %PRICE = (
    oa => { input => 2.5, output => 10.125, cached => 1.25 },
    an => { input => 3.3, output => 15.7, cached => 0.33 },
);

$t->write_file('catalog.yaml', <<'YAML');
models:
  oa: {upstream: up_openai, model: gpt-x, api: openai,
       price: {input: 2.5, output: 10.125, cached_input: 1.25}}
  an: {upstream: up_anthropic, model: claude-x, api: anthropic,
       price: {input: 3.3, output: 15.7, cached_input: 0.33}}
policies:
  chat:
    algorithm: static
    arms: [oa]
  messages:
    algorithm: static
    arms: [an]
YAML

$t->write_conf(<<'CONF');
%%MODULE%%
worker_processes 2;
events { worker_connections 256; }
http {
    llmopt_zone name=llmopt size=2m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;

    log_format usage '$llmopt_request_id $status $llmopt_tokens_in '
                     '$llmopt_tokens_out $llmopt_tokens_cached $llmopt_cost '
                     '$llmopt_finish $llmopt_reward';
    access_log %%PREFIX%%/logs/usage.log usage;

    upstream up_openai { server %%MOCK_OPENAI%%; keepalive 4; }
    upstream up_anthropic { server %%MOCK_ANTHROPIC%%; keepalive 4; }

    server {
        listen 127.0.0.1:%%PORT%%;

        location /v1/chat/completions {
            llmopt_route chat;
            proxy_pass http://$llmopt_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Request-Id $llmopt_request_id;
            proxy_buffering off;
        }

        location /v1/messages {
            llmopt_route messages;
            proxy_pass http://$llmopt_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Request-Id $llmopt_request_id;
            proxy_buffering off;
        }

        # buffered answers, as with the default proxy_buffering on
        location /buffered/v1/chat/completions {
            llmopt_route chat;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
            proxy_set_header X-Request-Id $llmopt_request_id;
        }
    }
}
CONF

$t->start();

my @prompts = Llmopt::RouterBench::prompts(60);
my @modes = ('openai-json', 'openai-sse', 'openai-sse-usage',
             'openai-buffered', 'anthropic-json', 'anthropic-sse');
my @splits = (0, 7, 13, 64, 0, 5);

my %sent;        # request id -> what the client asked and got

my $i = 0;
for my $p (@prompts) {
    my $mode = $modes[$i % @modes];
    my $split = $splits[int($i / @modes) % @splits];
    my $tokens = 1 + ($i * 7) % 40;
    my $length = ($i % 5 == 4);
    my $cached = ($i % 3) ? 0 : 1 + $i % 9;
    my $anthropic = $mode =~ /^anthropic/;
    my $stream = $mode =~ /sse/;

    my %body = (model => 'auto',
                messages => [{ role => 'user', content => $p }]);
    $body{stream} = JSON::PP::true if $stream;
    $body{max_tokens} = 256 if $anthropic;
    $body{stream_options} = { include_usage => JSON::PP::true }
        if $mode eq 'openai-sse-usage';

    my %h = ('Content-Type' => 'application/json',
             'X-Mock-Tokens' => $tokens,
             'X-Mock-Split' => $split);
    $h{'X-Mock-Finish'} = 'length' if $length;
    if ($anthropic) {
        $h{'X-Mock-Cache-Read'} = $cached;
        $h{'X-Mock-Cache-Write'} = $i % 4 == 1 ? 3 : 0;
    } else {
        $h{'X-Mock-Cached'} = $cached;
    }

    my $path = $anthropic ? '/v1/messages'
             : $mode eq 'openai-buffered' ? '/buffered/v1/chat/completions'
             : '/v1/chat/completions';

    my $r = $t->http('POST', $path, headers => \%h,
                     body => encode_json(\%body));
    is($r->{status}, 200, "$mode #$i answered");

    my $id = $r->{headers}{'x-llmopt-request-id'} // "none-$i";
    $sent{$id} = { mode => $mode, body => $r->{body}, i => $i,
                   dialect => $anthropic ? 'an' : 'oa' };
    $i++;
}

# errors: the client gets the upstream's error unchanged; no usage

my %errors;
for my $code (429, 500, 503) {
    for my $path ('/v1/chat/completions', '/v1/messages') {
        my $r = $t->http('POST', $path,
            headers => { 'Content-Type' => 'application/json',
                         'X-Mock-Status' => $code },
            body => encode_json({ model => 'auto', max_tokens => 10,
                messages => [{ role => 'user', content => 'hi' }] }));
        is($r->{status}, $code, "$path: upstream $code passed on");
        my $id = $r->{headers}{'x-llmopt-request-id'} // '';
        $errors{$id} = $r;
    }
}

$t->stop();      # every log line is written

# what the mocks sent, by request id

my %upstream;
for my $m ('openai', 'anthropic') {
    for my $req (@{ $t->mock_requests($m) }) {
        my $id = $req->{headers}{'x-request-id'} // next;
        $upstream{$id} = $req;
    }
}

# nginx writes a request's log line after its last byte went out: under
# valgrind the last ones may come a little after the client is done
for (1 .. 250) {
    last if scalar($t->read_lines('logs/usage.log')) >= @prompts + 6;
    select(undef, undef, undef, 0.02);
}

my %log;
for my $line ($t->read_lines('logs/usage.log')) {
    my @f = split / /, $line;
    $log{ $f[0] } = { status => $f[1], in => $f[2], out => $f[3],
                      cached => $f[4], cost => $f[5], finish => $f[6],
                      reward => $f[7] };
}

is(scalar keys %log, @prompts + 6, 'a log line per request');

my ($exact, $bytes_same, $stripped) = (0, 0, 0);

for my $id (sort { $sent{$a}{i} <=> $sent{$b}{i} } keys %sent) {
    my $s = $sent{$id};
    my $u = $upstream{$id};
    my $l = $log{$id};

    unless ($u && $u->{usage} && $l) {
        fail("request $s->{i} ($s->{mode}): found upstream and in the log");
        next;
    }

    my $usage = $u->{usage};
    my $price = $PRICE{ $s->{dialect} };
    my $cost = (($usage->{input} - $usage->{cached}) * $price->{input}
                + $usage->{cached} * $price->{cached}
                + $usage->{output} * $price->{output}) / 1e6;

    my $ok = $l->{in} eq $usage->{input}
             && $l->{out} eq $usage->{output}
             && $l->{cached} eq $usage->{cached}
             && abs($l->{cost} - $cost) < 1e-12
             && $l->{finish} eq $usage->{finish}
             && $l->{reward} =~ /^(0|1)\.\d{4}$/;
    $exact++ if $ok;
    ok($ok, "request $s->{i} ($s->{mode}): tokens $l->{in}/$l->{out}"
            . " cached $l->{cached}, cost $l->{cost}, finish $l->{finish}")
        or diag(explain({ log => $l, upstream => $usage,
                          cost => sprintf('%.12f', $cost) }));

    my $up = decode_base64($u->{response_b64} // '');
    my $up_body = decode_json($u->{body});

    if ($s->{mode} eq 'openai-sse') {
        # asked for by the router, not by the client
        ok($up_body->{stream_options}{include_usage},
           "request $s->{i}: the upstream was asked for usage");

        my @events = split /(?<=\n\n)/, $up;
        my @kept = grep { !/^data: \{.*"choices":\[\],"usage":\{/ } @events;
        is(scalar @events - scalar @kept, 1,
           "request $s->{i}: the upstream sent one usage chunk");
        my $want = join('', @kept);
        if ($s->{body} eq $want) {
            $stripped++;
            pass("request $s->{i}: the client got the stream less the"
                 . " usage chunk, byte for byte");
        } else {
            fail("request $s->{i}: the client got the stream less the"
                 . " usage chunk, byte for byte");
            diag("got:\n$s->{body}\nwant:\n$want");
        }
        unlike($s->{body}, qr/"usage":\{/, '... no usage object reached it');
        like($s->{body}, qr/data: \[DONE\]\n\n\z/, '... [DONE] kept');

    } else {
        if ($s->{body} eq $up) {
            $bytes_same++;
            pass("request $s->{i} ($s->{mode}): the client got the"
                 . " upstream's bytes");
        } else {
            fail("request $s->{i} ($s->{mode}): the client got the"
                 . " upstream's bytes");
            diag("got:\n$s->{body}\nwant:\n$up");
        }
        if ($s->{mode} eq 'openai-sse-usage') {
            like($s->{body}, qr/"choices":\[\],"usage":\{/,
                 "request $s->{i}: the usage chunk it asked for is there");
        }
    }
}

is($exact, scalar @prompts, "usage and cost exact for all $exact requests");
diag("$bytes_same answers byte-identical, $stripped streams stripped of"
     . " the usage chunk alone");

for my $id (keys %errors) {
    my $r = $errors{$id};
    my $u = $upstream{$id};
    my $l = $log{$id};
    ok($u && $l, "error $r->{status}: upstream and log found") or next;
    is($r->{body}, decode_base64($u->{response_b64}),
       "error $r->{status}: the client got the upstream's error body");
    is(join(' ', @$l{qw(in out cached cost reward)}), '- - - - 0.0000',
       "error $r->{status}: no usage, no cost, reward 0");
}

$t->done();
done_testing();
