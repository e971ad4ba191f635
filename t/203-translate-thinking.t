#!/usr/bin/perl
# Thinking and reasoning through nginx, both ways, JSON and streams, with
# the official SDKs (t/sdk/thinking.mjs) and a mock whose answer reasons
# first (X-Mock-Thinking): an Anthropic answer's thinking block reaches an
# OpenAI client as reasoning_content (its redacted_thinking block and its
# signature are dropped), an OpenAI-compatible answer's reasoning_content
# reaches an Anthropic client as a thinking block; reasoning_effort goes
# up as thinking and thinking down as reasoning_effort; each client's
# own-dialect route is the reference.  Tokens and cost in the access log
# are the mock's usage exactly.

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

my %PRICE = (gpt => [2, 8], claude => [3, 15]);

$t->write_file('catalog.yaml', <<'YAML');
models:
  gpt: {upstream: up_openai, model: gpt-x, api: openai,
        price: {input: 2, output: 8}}
  claude: {upstream: up_anthropic, model: claude-x, max_tokens: 300,
           price: {input: 3, output: 15}}
policies:
  to_openai: {algorithm: static, arms: [gpt]}
  to_anthropic: {algorithm: static, arms: [claude]}
YAML

$t->write_conf(<<'CONF');
%%MODULE%%
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=1m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;

    log_format usage '$llmopt_request_id $status $llmopt_tokens_in '
                     '$llmopt_tokens_out $llmopt_cost $llmopt_arm';
    access_log %%PREFIX%%/logs/usage.log usage;

    upstream up_openai { server %%MOCK_OPENAI%%; keepalive 8; }
    upstream up_anthropic { server %%MOCK_ANTHROPIC%%; keepalive 8; }
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header X-Request-Id $llmopt_request_id;
    proxy_buffering off;

    server {
        listen 127.0.0.1:%%PORT%%;

        location /v1/chat/completions {
            llmopt_route to_anthropic;
            proxy_pass http://$llmopt_upstream;
        }
        location /v1/messages {
            llmopt_route to_openai;
            proxy_pass http://$llmopt_upstream;
        }
        location /own/v1/chat/completions {
            llmopt_route to_openai;
            proxy_pass http://$llmopt_upstream;
        }
        location /own/v1/messages {
            llmopt_route to_anthropic;
            proxy_pass http://$llmopt_upstream;
        }
    }
}
CONF

$t->start();
my $base = 'http://127.0.0.1:' . $t->port('main');
my $THOUGHT = 'Let me think about it.';
my @recs;           # every answer of the mocks, for the access log

sub body_of {
    my ($rec) = @_;
    return eval { decode_json($rec->{body} // '') } // {};
}

# --- the OpenAI SDK: reasoning_content --------------------------------------

for my $run (['anthropic', $base], ['openai', "$base/own"]) {
    my ($up, $url) = @$run;
    my $w = "openai SDK to $up";

    $t->mock_reset($up);
    my ($rc, $o, $raw) = $t->run_sdk('thinking.mjs', 'openai', $url);
    is($rc, 0, "$w: no SDK error") or diag($raw);
    $o //= {};

    for my $k ('json', 'stream') {
        is($o->{$k}{reasoning}, $THOUGHT, "$w: $k: reasoning_content");
        like($o->{$k}{text} // '', qr/^\w+( \w+){7}$/,
             "$w: $k: the text, without the thinking");
        is($o->{$k}{finish_reason}, 'stop', "$w: $k: finish_reason");
        is($o->{$k}{usage}{completion_tokens}, 8,
           "$w: $k: completion_tokens");
    }

    my @mine = @{ $t->mock_requests($up) };
    push @recs, @mine;
    my @got = map { body_of($_) } @mine;
    is(scalar @got, 2, "$w: two requests upstream");
    if ($up eq 'anthropic') {
        is(scalar(grep { ($_->{thinking}{type} // '') eq 'enabled'
                         && ($_->{thinking}{budget_tokens} // 0) == 4096
                         && !exists $_->{reasoning_effort} } @got), 2,
           "$w: reasoning_effort medium as thinking, budget 4096");
    } else {
        is(scalar(grep { ($_->{reasoning_effort} // '') eq 'medium' } @got),
           2, "$w: reasoning_effort as it was");
    }
}

# --- the Anthropic SDK: thinking blocks -------------------------------------

for my $run (['openai', $base], ['anthropic', "$base/own"]) {
    my ($up, $url) = @$run;
    my $x = $up eq 'openai';
    my $w = "anthropic SDK to $up";

    $t->mock_reset($up);
    my ($rc, $o, $raw) = $t->run_sdk('thinking.mjs', 'anthropic', $url);
    is($rc, 0, "$w: no SDK error") or diag($raw);
    $o //= {};

    for my $k ('json', 'stream') {
        # an OpenAI upstream has no redacted reasoning, nor a signature
        is_deeply($o->{$k}{blocks},
                  $x ? ['thinking', 'text']
                     : ['thinking', 'redacted_thinking', 'text'],
                  "$w: $k: the blocks");
        is($o->{$k}{thinking}[0]{thinking}, $THOUGHT,
           "$w: $k: the thinking");
        is($o->{$k}{thinking}[0]{signature}, $x ? '' : 'sig-mock',
           "$w: $k: the signature");
        like($o->{$k}{text} // '', qr/^\w+( \w+){7}$/, "$w: $k: the text");
        is($o->{$k}{stop_reason}, 'end_turn', "$w: $k: stop_reason");
        is($o->{$k}{usage}{output_tokens}, 8, "$w: $k: output_tokens");
    }
    ok((grep { $_ eq 'content_block_start' } @{ $o->{stream}{events} }),
       "$w: stream: events");

    my @mine = @{ $t->mock_requests($up) };
    push @recs, @mine;
    my @got = map { body_of($_) } @mine;
    is(scalar @got, 2, "$w: two requests upstream");
    if ($x) {
        is(scalar(grep { ($_->{reasoning_effort} // '') eq 'medium'
                         && !exists $_->{thinking} } @got), 2,
           "$w: thinking budget 4096 as reasoning_effort medium");
    } else {
        is(scalar(grep { ($_->{thinking}{budget_tokens} // 0) == 4096 }
                  @got), 2, "$w: thinking as it was");
    }
}

# --- cost and tokens: the mock's usage, exactly -----------------------------

Llmopt::Test::wait_for(sub { scalar($t->read_lines('logs/usage.log'))
                             >= 8 });

my %log;
for my $line ($t->read_lines('logs/usage.log')) {
    my @f = split / /, $line;
    $log{ $f[0] } = { status => $f[1], in => $f[2], out => $f[3],
                      cost => $f[4], arm => $f[5] };
}

my @wrong;
for my $rec (@recs) {
    my $id = $rec->{headers}{'x-request-id'} // '';
    my ($l, $u) = ($log{$id}, $rec->{usage});
    my $p = $PRICE{ $l ? $l->{arm} : 'gpt' };
    my $cost = ($u->{input} * $p->[0] + $u->{output} * $p->[1]) / 1e6;
    push @wrong, "$id: log " . encode_json($l // {}) . " mock "
                 . encode_json($u)
        unless $l && $l->{status} == 200 && $l->{in} == $u->{input}
               && $l->{out} == $u->{output}
               && abs($l->{cost} - $cost) < 1e-12;
}
is(scalar @recs, 8, 'eight answers checked, four streams');
is(scalar @wrong, 0, 'tokens and cost in the access log are the mock\'s '
   . 'usage, thinking or not') or diag(join("\n", @wrong));

$t->done();
done_testing();
