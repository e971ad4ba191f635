#!/usr/bin/perl
# Translation on every path that edits a request, with a policy that mixes
# an OpenAI and an Anthropic arm: routed, pinned, shadow mode, a canary,
# and failover from an arm of one dialect to one of the other, both ways;
# a field without counterpart refused with a 400 in the client's dialect
# that names it (or left out with drop_unsupported); a JSON answer above
# the translator's bound as a clean 502; a client that leaves a
# translated stream charged what the upstream reported; and the
# configuration a mixed policy needs.

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
$t->start_mock('down', status => 503);

$t->write_file('catalog.yaml', <<'YAML');
models:
  gpt: {upstream: up_openai, model: gpt-x, api: openai,
        price: {input: 2, output: 8, cached_input: 0.5}}
  claude: {upstream: up_anthropic, model: claude-x,
           price: {input: 3, output: 15, cached_input: 0.3}}
  gpt_down: {upstream: up_down, model: gpt-down, api: openai,
             price: {input: 1, output: 1}}
  claude_down: {upstream: up_down, model: claude-down, api: anthropic,
                price: {input: 1, output: 1}}
policies:
  pinned:
    algorithm: static
    arms: [{model: gpt, weight: 1}, {model: claude, weight: 0}]
  shadow:
    algorithm: static
    arms: [{model: gpt, weight: 1}, {model: claude, weight: 0}]
    fallback: claude
  canary:
    algorithm: static
    arms: [gpt, claude]
    canary: {arm: claude, stages: [100], min_requests: 1000}
  to_openai_then_anthropic:
    algorithm: static
    arms: [{model: gpt_down, weight: 1}, {model: claude, weight: 0.000001}]
  to_anthropic_then_openai:
    algorithm: static
    arms: [{model: claude_down, weight: 1}, {model: gpt, weight: 0.000001}]
  strict:
    algorithm: static
    arms: [{model: gpt, weight: 0}, {model: claude, weight: 1}]
  lenient:
    algorithm: static
    arms: [{model: gpt, weight: 0}, {model: claude, weight: 1}]
    drop_unsupported: true
YAML

my $conf = <<'CONF';
%%MODULE%%
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=8m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;

    log_format paths escape=json '{"id":"$llmopt_request_id",'
        '"case":"$http_x_case","status":"$status","arm":"$llmopt_arm",'
        '"in":"$llmopt_tokens_in","out":"$llmopt_tokens_out",'
        '"cost":"$llmopt_cost","source":"$llmopt_cost_source",'
        '"cached":"$llmopt_tokens_cached","finish":"$llmopt_finish",'
        '"gone":"$llmopt_client_gone","shadow":"$llmopt_shadow_arm"}';
    access_log %%PREFIX%%/logs/paths.log paths;

    upstream up_openai { server %%MOCK_OPENAI%%; keepalive 8; }
    upstream up_anthropic { server %%MOCK_ANTHROPIC%%; keepalive 8; }
    upstream up_down { server %%MOCK_DOWN%%; }
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header X-Request-Id $llmopt_request_id;
    proxy_buffering off;

    server {
        listen 127.0.0.1:%%PORT%%;
        llmopt_pin_header X-LLMOpt-Arm;
        llmopt_drain_timeout 5s;
        add_header X-Arm $llmopt_arm always;

        location /pinned/ {
            llmopt_route pinned dialect=openai;
            proxy_pass http://$llmopt_upstream;
        }
        location /shadow/ {
            llmopt_route shadow dialect=openai;
            llmopt_shadow on;
            proxy_pass http://$llmopt_upstream;
        }
        location /canary/ {
            llmopt_route canary dialect=anthropic;
            proxy_pass http://$llmopt_upstream;
        }
%%BOTH%%
        location /buffered/v1/chat/completions {
            llmopt_route strict;
            proxy_pass http://$llmopt_upstream;
            proxy_buffering on;
            proxy_buffers 4 4k;
            proxy_busy_buffers_size 4k;
        }
        location /buffered/v1/messages {
            llmopt_route strict;
            proxy_pass http://$llmopt_upstream;
            proxy_buffering on;
            proxy_buffers 4 4k;
            proxy_busy_buffers_size 4k;
        }
        location @failover {
            llmopt_failover;
            proxy_pass http://$llmopt_upstream;
        }
    }
}
CONF
# a location each endpoint: its name says the clients' dialect
my $both = '';
for my $p (['strict', 'strict', ''], ['lenient', 'lenient', ''],
           ['fo-oa', 'to_openai_then_anthropic', 'fo'],
           ['fo-an', 'to_anthropic_then_openai', 'fo'])
{
    my ($prefix, $policy, $fo) = @$p;
    for my $e ('/v1/chat/completions', '/v1/messages') {
        $both .= "        location /$prefix$e {\n"
               . "            llmopt_route $policy;\n"
               . "            proxy_pass http://\$llmopt_upstream;\n"
               . ($fo ? "            proxy_intercept_errors on;\n"
                        . "            error_page 503 = \@failover;\n" : '')
               . "        }\n";
    }
}
$conf =~ s/%%BOTH%%\n/$both/;
$t->write_conf($conf);

# a mixed policy in a location that does not say its clients' dialect
(my $bad = $conf) =~ s{llmopt_route canary dialect=anthropic;}
                      {llmopt_route canary;};
my ($rc, $out) = $t->nginx_t($bad);
isnt($rc, 0, 'a mixed policy where the location does not say: refused');
my $says = 'policy "canary" has arms of both the openai and the anthropic '
           . 'API, and location "/canary/" does not say which one its '
           . 'clients speak: add "dialect=openai" or "dialect=anthropic"';
like($out, qr/\Q$says\E/, '... saying what to add') or diag($out);

$t->start();

my %OA = (path => '/v1/chat/completions',
          body => { model => 'auto',
                    messages => [{ role => 'user', content => 'Hi.' }] });
my %AN = (path => '/v1/messages',
          body => { model => 'auto', max_tokens => 64,
                    messages => [{ role => 'user', content => 'Hi.' }] });

sub call {
    my ($prefix, $d, %opt) = @_;
    my %body = (%{ $d->{body} }, %{ $opt{body} // {} });
    return $t->http('POST', "$prefix$d->{path}",
                    headers => { 'Content-Type' => 'application/json',
                                 %{ $opt{headers} // {} } },
                    body => encode_json(\%body));
}

sub json_of { my ($r) = @_; return eval { decode_json($r->{body}) } // {} }

sub last_to {
    my ($mock) = @_;
    my $m = $t->mock_last($mock) // {};
    $m->{json} = eval { decode_json($m->{body} // '') } // {};
    return $m;
}

# --- routed, pinned --------------------------------------------------------

my $r = call('/pinned', \%OA);
is($r->{status}, 200, 'routed: 200');
is($r->{headers}{'x-arm'}, 'gpt', 'routed: the openai arm, untranslated');
is(json_of($r)->{object}, 'chat.completion', 'routed: an openai answer');

$r = call('/pinned', \%OA, headers => { 'X-LLMOpt-Arm' => 'claude' });
is($r->{status}, 200, 'pinned to the anthropic arm: 200');
is($r->{headers}{'x-arm'}, 'claude', 'pinned: the arm named');
is(json_of($r)->{object}, 'chat.completion',
   'pinned: the answer translated back');
my $m = last_to('anthropic');
is($m->{path}, '/pinned/v1/messages', 'pinned: the upstream\'s path');
is($m->{json}{model}, 'claude-x', 'pinned: the arm\'s model, translated');
is($m->{headers}{'x-llmopt-arm'}, undef, 'pinned: the pin header stays');

# --- shadow mode: decided gpt, sent to the default arm, translated ---------

$t->mock_reset('anthropic');
$r = call('/shadow', \%OA, body => { stream => JSON::PP::true });
is($r->{status}, 200, 'shadow: 200');
like($r->{body}, qr/"object":"chat\.completion\.chunk".*data: \[DONE\]/s,
     'shadow: an openai stream, translated from the default arm\'s');
$m = last_to('anthropic');
is($m->{json}{model}, 'claude-x', 'shadow: the default arm\'s model');
is($m->{path}, '/shadow/v1/messages', 'shadow: its path');

# --- a canary of the other dialect ------------------------------------------

$t->mock_reset('openai');
my %arms;
for my $i (1 .. 6) {
    $r = call('/canary', \%AN);
    $arms{ $r->{headers}{'x-arm'} // 'none' }++;
    is(json_of($r)->{type}, 'message', "canary #$i: an anthropic answer")
        or diag($r->{body});
}
is($arms{claude}, 6, 'canary at 100 %: every request to the canary arm');

$r = call('/canary', \%AN, headers => { 'X-LLMOpt-Arm' => 'gpt' });
is($r->{status}, 200, 'canary policy, pinned to the openai arm: 200');
is(json_of($r)->{type}, 'message', '... translated back');
is(last_to('openai')->{path}, '/canary/v1/chat/completions',
   '... the openai path');

# --- failover across dialects ------------------------------------------------

for my $c (['/fo-oa', \%OA, 'openai', 'claude', 'anthropic'],
           ['/fo-an', \%OA, 'openai', 'gpt', 'openai'],
           ['/fo-oa', \%AN, 'anthropic', 'claude', 'anthropic'],
           ['/fo-an', \%AN, 'anthropic', 'gpt', 'openai'])
{
    my ($prefix, $d, $client, $arm, $mock) = @$c;
    for my $stream (0, 1) {
        my $w = "failover $prefix, $client client"
                . ($stream ? ', stream' : '');
        $t->mock_reset($mock);
        $r = call($prefix, $d, body => $stream ? { stream => JSON::PP::true }
                                               : {});
        is($r->{status}, 200, "$w: 200 after the failover");
        is($r->{headers}{'x-arm'}, $arm, "$w: to $arm");
        if ($stream) {
            like($r->{body}, $client eq 'openai' ? qr/data: \[DONE\]/
                                                 : qr/event: message_stop/,
                 "$w: the client's stream");
        } else {
            is($client eq 'openai' ? json_of($r)->{object}
                                   : json_of($r)->{type},
               $client eq 'openai' ? 'chat.completion' : 'message',
               "$w: the client's answer");
        }
        $m = last_to($mock);
        is($m->{path}, "$prefix" . ($mock eq 'openai' ? '/v1/chat/completions'
                                                      : '/v1/messages'),
           "$w: the second arm's path");
        is($m->{json}{model}, $arm eq 'gpt' ? 'gpt-x' : 'claude-x',
           "$w: the second arm's model");
    }
}
my @down = @{ $t->mock_requests('down') };
is(scalar(grep { $_->{path} =~ m{^/fo-oa/v1/chat/completions$} } @down), 4,
   'the failed openai arm got its own path');
is(scalar(grep { $_->{path} =~ m{^/fo-an/v1/messages$} } @down), 4,
   'the failed anthropic arm got its own path');

# --- fields without a counterpart ------------------------------------------

$r = call('/strict', \%OA, body => { seed => 7 });
is($r->{status}, 400, 'openai client, seed to an anthropic model: 400');
is(json_of($r)->{error}{type}, 'invalid_request_error',
   '... an openai error');
like(json_of($r)->{error}{message} // '', qr/"seed" has no counterpart/,
     '... naming the field');

$r = call('/strict', \%AN, body => { top_k => 5 },
          headers => { 'X-LLMOpt-Arm' => 'gpt' });
is($r->{status}, 400, 'anthropic client, top_k to an openai model: 400');
is(json_of($r)->{type}, 'error', '... an anthropic error');
like(json_of($r)->{error}{message} // '', qr/"top_k" has no counterpart/,
     '... naming the field');

$t->mock_reset('anthropic');
$r = call('/lenient', \%OA, body => { seed => 7 });
is($r->{status}, 200, 'drop_unsupported: seed left out, 200');
$m = last_to('anthropic');
ok(!exists $m->{json}{seed}, '... not sent');

# --- a broken upstream stream: one well-formed error event, then the end ----

for my $bad ('truncate', 'unknown', 'badjson') {
    $r = call('/strict', \%OA, body => { stream => JSON::PP::true },
              headers => { 'X-Mock-Bad' => $bad });
    my @data = $r->{body} =~ /^data: (.*)$/mg;
    my $last = eval { decode_json($data[-1] // '') } // {};
    is($r->{status}, 200, "openai client, $bad anthropic stream: 200");
    is($last->{error}{type}, 'server_error',
       "openai client, $bad anthropic stream: ends with an error chunk");
    is(scalar(grep { !eval { decode_json($_); 1 } } @data), 0,
       "openai client, $bad anthropic stream: every chunk is JSON");

    $r = call('/strict', \%AN, body => { stream => JSON::PP::true },
              headers => { 'X-Mock-Bad' => $bad, 'X-LLMOpt-Arm' => 'gpt' });
    my @events = $r->{body} =~ /^event: (\S+)$/mg;
    @data = $r->{body} =~ /^data: (.*)$/mg;
    $last = eval { decode_json($data[-1] // '') } // {};
    is($events[-1], 'error',
       "anthropic client, $bad openai stream: ends with an error event");
    is($last->{error}{type}, 'api_error',
       "anthropic client, $bad openai stream: an api_error");
    is(scalar(grep { !eval { decode_json($_); 1 } } @data), 0,
       "anthropic client, $bad openai stream: every event is JSON");
}

# --- a JSON answer larger than the translator takes -------------------------

$r = call('/strict', \%OA, headers => { 'X-Mock-Tokens' => 1600000 });
is($r->{status}, 502, 'a translated answer above the bound: 502');
like(json_of($r)->{error}{message} // '', qr/larger than the proxy translates/,
     '... an openai error saying why');

# --- proxy_buffering on, answers split at odd places, some in temp files ----

for my $c (['openai', \%OA, {}], ['anthropic', \%AN, { 'X-LLMOpt-Arm' => 'gpt' }]) {
    my ($client, $d, $pin) = @$c;
    for my $case ([0, 7, 8], [1, 5, 30], [0, 0, 150000], [1, 0, 20000]) {
        my ($stream, $split, $tokens) = @$case;
        my $w = "buffered, $client client, " . ($stream ? 'stream' : 'json')
                . ", split $split, $tokens tokens";
        $r = call('/buffered', $d,
                  body => $stream ? { stream => JSON::PP::true } : {},
                  headers => { %$pin, 'X-Mock-Split' => $split,
                               'X-Mock-Tokens' => $tokens,
                               'X-Case' => "buf-$client-$stream-$tokens" });
        is($r->{status}, 200, "$w: 200");
        my $words = 0;
        if (!$stream) {
            my $a = json_of($r);
            my $text = $client eq 'openai'
                       ? $a->{choices}[0]{message}{content} // ''
                       : $a->{content}[0]{text} // '';
            $words = () = $text =~ /\S+/g;
            is($client eq 'openai' ? $a->{usage}{completion_tokens}
                                   : $a->{usage}{output_tokens},
               $tokens, "$w: the usage translated");
        } else {
            my @data = grep { $_ ne '[DONE]' } $r->{body} =~ /^data: (.*)$/mg;
            is(scalar(grep { !eval { decode_json($_); 1 } } @data), 0,
               "$w: every event is JSON");
            for (@data) {
                my $e = decode_json($_);
                my $t = $client eq 'openai'
                        ? ($e->{choices}[0]{delta}{content} // '')
                        : ($e->{delta}{text} // '');
                $words++ if $t =~ /\S/;
            }
        }
        is($words, $tokens, "$w: every word of the answer");
        my $l = logged("buf-$client-$stream-$tokens");
        is($l->{out}, $tokens, "$w: logged output tokens");
    }
}

# --- prompt caches and stop reasons: the client's shape, the upstream's cost -

my %PRICE = (gpt => [2, 8, 0.5], claude => [3, 15, 0.3]);

for my $c (['openai', \%OA, 'anthropic', 'claude',
            { 'X-Mock-Cache-Read' => 5, 'X-Mock-Cache-Write' => 3 }],
           ['anthropic', \%AN, 'openai', 'gpt',
            { 'X-Mock-Cached' => 6, 'X-LLMOpt-Arm' => 'gpt' }])
{
    my ($client, $d, $mock, $arm, $cache) = @$c;
    for my $stream (0, 1) {
        for my $length (0, 1) {
            my $case = "cache-$client-$stream-$length";
            my $w = "$client client, cached prompt, "
                    . ($stream ? 'stream' : 'json')
                    . ($length ? ', cut by max_tokens' : '');
            my %body = $stream ? (stream => JSON::PP::true) : ();
            $body{stream_options} = { include_usage => JSON::PP::true }
                if $stream && $client eq 'openai';
            $r = call('/strict', $d, body => \%body,
                      headers => { %$cache, 'X-Case' => $case,
                                   'X-Mock-Tokens' => 12,
                                   $length ? ('X-Mock-Finish' => 'length')
                                           : () });
            is($r->{status}, 200, "$w: 200");
            my $l = logged($case);
            my ($up) = grep { ($_->{headers}{'x-case'} // '') eq $case }
                       @{ $t->mock_requests($mock) };
            my $u = ($up // {})->{usage} // {};
            my $p = $PRICE{$arm};
            my $cost = (($u->{input} - $u->{cached}) * $p->[0]
                        + $u->{cached} * $p->[2] + $u->{output} * $p->[1])
                       / 1e6;
            ok($l->{in} eq ($u->{input} // '') && $l->{out} eq $u->{output}
               && $l->{cached} eq $u->{cached}
               && abs(($l->{cost} || 0) - $cost) < 1e-12
               && $l->{finish} eq $u->{finish},
               "$w: logged tokens $l->{in}/$l->{out} cached $l->{cached}, "
               . "cost $l->{cost}, finish $l->{finish}: the upstream's")
                or diag(explain({ log => $l, mock => $u }));

            # what the client saw, in its own shape
            my $usage;
            my $reason;
            if ($stream) {
                for my $data ($r->{body} =~ /^data: (.*)$/mg) {
                    my $e = eval { decode_json($data) } or next;
                    $usage = $e->{usage} if $client eq 'openai'
                                            && $e->{usage};
                    $usage = { %{ $usage // {} }, %{ $e->{message}{usage} } }
                        if $client eq 'anthropic' && $e->{message};
                    $usage = { %{ $usage // {} }, %{ $e->{usage} } }
                        if $client eq 'anthropic'
                           && ($e->{type} // '') eq 'message_delta';
                    $reason = $e->{choices}[0]{finish_reason}
                        if $client eq 'openai' && @{ $e->{choices} // [] }
                           && $e->{choices}[0]{finish_reason};
                    $reason = $e->{delta}{stop_reason}
                        if ($e->{type} // '') eq 'message_delta';
                }
            } else {
                my $a = json_of($r);
                $usage = $a->{usage};
                $reason = $client eq 'openai'
                          ? $a->{choices}[0]{finish_reason}
                          : $a->{stop_reason};
            }
            $usage //= {};
            if ($client eq 'openai') {
                is($usage->{prompt_tokens}, $u->{input},
                   "$w: prompt_tokens count the cached ones");
                is($usage->{prompt_tokens_details}{cached_tokens},
                   $u->{cached}, "$w: cached_tokens");
                is($reason, $length ? 'length' : 'stop',
                   "$w: finish_reason");
            } else {
                is($usage->{cache_read_input_tokens}, $u->{cached},
                   "$w: cache_read_input_tokens");
                is($usage->{input_tokens}, $u->{input} - $u->{cached},
                   "$w: input_tokens leave the cached ones out");
                is($reason, $length ? 'max_tokens' : 'end_turn',
                   "$w: stop_reason");
            }
            is($usage->{$client eq 'openai' ? 'completion_tokens'
                                             : 'output_tokens'},
               12, "$w: output tokens");
        }
    }
}

# --- a client that leaves a translated stream -------------------------------

sub leave {
    my ($path, $body, $until, %h) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port, Proto => 'tcp')
        or die "connect: $!";
    print $s "POST $path HTTP/1.1\r\nHost: localhost\r\n"
             . "Content-Type: application/json\r\n"
             . "Content-Length: " . length($body) . "\r\n"
             . join('', map { "$_: $h{$_}\r\n" } sort keys %h)
             . "Connection: close\r\n\r\n" . $body;
    my ($got, $sel, $start) = ('', IO::Select->new($s), time());
    my $secs = $h{'X-Leave-After'} // 10;
    while (time() < $start + $secs && $got !~ $until) {
        next unless $sel->can_read(0.05);
        last unless sysread($s, my $buf, 65536);
        $got .= $buf;
    }
    close($s);
    return $got;
}

sub logged {
    my ($case) = @_;
    my $line;
    Llmopt::Test::wait_for(sub {
        ($line) = grep { $_->{case} eq $case }
                  map { decode_json($_) } $t->read_lines('logs/paths.log');
        return $line;
    });
    return $line // {};
}

for my $c (['openai', \%OA, qr/"content":"[^"]*from/, 'anthropic'],
           ['anthropic', \%AN, qr/text_delta.*from/s, 'openai'])
{
    my ($client, $d, $until, $mock) = @$c;
    my $case = "leave-$client";
    my %body = (%{ $d->{body} }, stream => JSON::PP::true);
    my $got = leave("/strict$d->{path}", encode_json(\%body), $until,
                    'X-Case' => $case, 'X-Mock-Tokens' => 40,
                    'X-Mock-Chunk-Delay' => 20,
                    $client eq 'anthropic' ? ('X-LLMOpt-Arm' => 'gpt') : ());
    like($got, $until, "$client client left a translated stream under way");
    my $l = logged($case);
    my ($up) = grep { ($_->{headers}{'x-case'} // '') eq $case }
               @{ $t->mock_requests($mock) };
    my $u = ($up // {})->{usage} // {};
    is($l->{gone}, 'during', "$client client: gone during the answer");
    is($l->{out}, 40, "$client client: the upstream's output tokens, read on");
    is($l->{in}, $u->{input}, "$client client: its input tokens");
    is($l->{source}, 'usage', "$client client: charged the usage reported");
}

# a JSON answer is held until whole: a client that leaves before it has
# any of it is charged the usage the rest of the answer reports

for my $c (['openai', \%OA, 'anthropic'], ['anthropic', \%AN, 'openai']) {
    my ($client, $d, $mock) = @$c;
    my $case = "leave-json-$client";
    my $t0 = time();
    leave("/strict$d->{path}", encode_json($d->{body}), qr/never/,
          'X-Case' => $case, 'X-Mock-Tokens' => 200, 'X-Mock-Split' => 8,
          $client eq 'anthropic' ? ('X-LLMOpt-Arm' => 'gpt') : (),
          'X-Leave-After' => 0.15);
    my $l = logged($case);
    my ($up) = grep { ($_->{headers}{'x-case'} // '') eq $case }
               @{ $t->mock_requests($mock) };
    is($l->{gone}, 'before', "$client client left a held JSON answer: "
       . "gone before its first byte");
    is($l->{out}, 200, "$client client: the output tokens, read on");
    is($l->{in}, (($up // {})->{usage} // {})->{input},
       "$client client: the input tokens");
    is($l->{source}, 'usage', "$client client: charged the usage");
}

$t->done();
done_testing();
