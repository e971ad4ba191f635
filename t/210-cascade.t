#!/usr/bin/perl
# Cascades in nginx, for clients that do not stream, both dialects: an
# accepted cheap answer; an escalated one (the client sees the strong
# answer alone, the access log and the status both attempts and both
# costs); a failed tier escalated and, its circuit open, skipped; the
# time budget; a client that leaves during the escalation (charged,
# nothing left reserved); an answer too big for the subrequest's buffer;
# logprobs asked of an OpenAI tier, stripped for a client that did not;
# a pair asked in parallel.

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

# forced escalations off: each decision is the rule's alone.  "keep"
# weighs cost so that the strong tier is never worth its price; "climb"
# weighs quality alone, so that an unknown answer (p 0.5) is escalated.

$t->write_file('catalog.yaml', <<'YAML');
models:
  cheap:  {upstream: up_openai, model: gpt-cheap,
           price: {input: 0.1, output: 0.1},
           headers: {Authorization: "Bearer sk-cheap"}}
  strong: {upstream: up_openai, model: gpt-strong,
           price: {input: 100, output: 100},
           headers: {Authorization: "Bearer sk-strong"}}
  cheap2: {upstream: up_openai, model: gpt-cheap2,
           price: {input: 0.1, output: 0.1}}
  dead:   {upstream: up_dead, model: gpt-dead, price: {input: 0.1, output: 0.1}}
  haiku:  {upstream: up_anthropic, model: claude-haiku, api: anthropic,
           price: {input: 0.1, output: 0.1},
           headers: {x-api-key: sk-ant-cheap, anthropic-version: "2023-06-01"}}
  opus:   {upstream: up_anthropic, model: claude-opus, api: anthropic,
           price: {input: 100, output: 100},
           headers: {x-api-key: sk-ant-strong, anthropic-version: "2023-06-01"}}
policies:
  keep:
    algorithm: static
    arms: [cheap, strong]
    reward: {quality: 0.5, cost: 0.5, cost_ref: 0.0001}
    cascade: {tiers: [cheap, strong], forced_share: 0, forced_floor: 0}
  climb:
    algorithm: static
    arms: [cheap, strong]
    reward: {quality: 1}
    budget: {day: 1000, output_tokens: 16}
    cascade: {tiers: [cheap, strong], forced_share: 0, forced_floor: 0}
  hurry:
    algorithm: static
    arms: [cheap, strong]
    reward: {quality: 1}
    cascade: {tiers: [cheap, strong], time_budget_ms: 150, forced_share: 0,
              forced_floor: 0}
  broken:
    algorithm: static
    arms: [dead, strong]
    reward: {quality: 1}
    breaker: {failures: 1, cooldown: 60000}
    cascade: {tiers: [dead, strong], forced_share: 0, forced_floor: 0}
  probe:
    algorithm: static
    arms: [cheap, strong]
    reward: {quality: 0.5, cost: 0.5, cost_ref: 0.0001}
    cascade: {tiers: [{arm: cheap, logprobs: true}, strong], forced_share: 0,
              forced_floor: 0}
  climb_probe:
    algorithm: static
    arms: [cheap, strong]
    reward: {quality: 1}
    cascade: {tiers: [{arm: cheap, logprobs: true}, strong], forced_share: 0,
              forced_floor: 0}
  duo:
    algorithm: static
    arms: [cheap, cheap2, strong]
    reward: {quality: 0.5, cost: 0.5, cost_ref: 0.0001}
    cascade: {tiers: [{pair: [cheap, cheap2]}, strong], forced_share: 0,
              forced_floor: 0}
  duo_climb:
    algorithm: static
    arms: [cheap, cheap2, strong]
    reward: {quality: 1}
    cascade: {tiers: [{pair: [cheap, cheap2]}, strong], forced_share: 0,
              forced_floor: 0}
  claude_keep:
    algorithm: static
    arms: [haiku, opus]
    reward: {quality: 0.5, cost: 0.5, cost_ref: 0.0001}
    cascade: {tiers: [haiku, opus], forced_share: 0, forced_floor: 0}
  claude_climb:
    algorithm: static
    arms: [haiku, opus]
    reward: {quality: 1}
    cascade: {tiers: [haiku, opus], forced_share: 0, forced_floor: 0}
YAML

my $locations = '';

for my $p (qw(keep climb hurry broken probe climb_probe duo duo_climb)) {
    $locations .= "location /$p/v1/chat/completions {\n"
                . "    llmopt_route $p;\n"
                . "    proxy_pass http://\$llmopt_upstream/v1/chat/completions;\n"
                . "}\n";
}

for my $p (qw(claude_keep claude_climb)) {
    $locations .= "location /$p/v1/messages {\n"
                . "    llmopt_route $p;\n"
                . "    proxy_pass http://\$llmopt_upstream/v1/messages;\n"
                . "}\n";
}

$t->write_conf(<<"CONF");
%%MODULE%%
worker_processes 1;
events { worker_connections 256; }
http {
    llmopt_zone name=llmopt size=4m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;

    upstream up_openai { server %%MOCK_OPENAI%%; }
    upstream up_anthropic { server %%MOCK_ANTHROPIC%%; }
    upstream up_dead { server 127.0.0.1:%%PORT_DEAD%%; }

    log_format tiers escape=none '\$uri|\$llmopt_arm|\$llmopt_tiers|\$status';
    access_log %%PREFIX%%/logs/tiers.log tiers;

    proxy_http_version 1.1;
    subrequest_output_buffer_size 64k;

    server {
        listen 127.0.0.1:%%PORT%%;

        $locations

        location = /status { llmopt_status; }
    }
}
CONF

$t->start();

my $json = JSON::PP->new->canonical;

sub body {
    my (%o) = @_;
    return $json->encode({ model => 'auto', max_tokens => 50,
                           messages => [{ role => 'user',
                                          content => $o{prompt}
                                                     // 'What is 2+2?' }] });
}

sub post {
    my ($policy, %h) = @_;
    my $b = delete $h{body} // body();
    return $t->http('POST', "/$policy/v1/chat/completions",
                    headers => { 'Content-Type' => 'application/json', %h },
                    body => $b);
}

sub models_seen {
    my ($mock) = @_;
    return join ',', map { (decode_json($_->{body}))->{model} }
                     @{ $t->mock_requests($mock) };
}

sub arm_status {
    my ($policy, $arm) = @_;
    return $t->status_json()->{policies}{$policy}{arms}{$arm};
}

# --- OpenAI: the cheap answer accepted -----------------------------------

$t->mock_reset('openai');
my $r = post('keep');
is($r->{status}, 200, 'keep: 200');
is($r->{headers}{'x-llmopt-tiers'}, 'cheap', 'keep: one tier tried');
my $a = eval { decode_json($r->{body}) } // {};
is($a->{model}, 'gpt-cheap', 'keep: the cheap answer');
is(models_seen('openai'), 'gpt-cheap', 'keep: the cheap arm alone asked');
is(($t->mock_requests('openai'))->[0]{headers}{authorization},
   'Bearer sk-cheap', 'keep: with its credentials');

# --- OpenAI: escalated ---------------------------------------------------

$t->mock_reset('openai');
$r = post('climb');
is($r->{status}, 200, 'climb: 200');
is($r->{headers}{'x-llmopt-tiers'}, 'cheap, strong', 'climb: both tiers');
$a = eval { decode_json($r->{body}) } // {};
is($a->{model}, 'gpt-strong', 'climb: the client sees the strong answer');
is(scalar @{ $a->{choices} // [] }, 1, 'climb: one answer, not two');
is(models_seen('openai'), 'gpt-cheap,gpt-strong',
   'climb: the cheap arm, then the strong one');
my @seen = @{ $t->mock_requests('openai') };
is($seen[1]{headers}{authorization}, 'Bearer sk-strong',
   'climb: the strong arm with its own credentials');
is((decode_json($seen[1]{body}))->{messages}[0]{content}, 'What is 2+2?',
   'climb: the client\'s request, not the cheap answer, escalated');

my $cheap = arm_status('climb', 'cheap');
my $strong = arm_status('climb', 'strong');
is($cheap->{outcomes}, 1, 'climb status: the cheap attempt is an outcome');
is($strong->{outcomes}, 1, 'climb status: the strong one too');
ok($cheap->{cost_usd} > 0 && $strong->{cost_usd} > $cheap->{cost_usd},
   "climb status: both costs ($cheap->{cost_usd}, $strong->{cost_usd})");

my $budget = $t->status_json()->{policies}{climb}{budget};
ok(abs($budget->{day}{spent} - $cheap->{cost_usd} - $strong->{cost_usd})
   < 1e-6, "climb: the budget is charged both ($budget->{day}{spent})");
is($budget->{reserved}, 0, 'climb: nothing left reserved');

# --- logprobs: asked of the OpenAI tier, stripped for a client that did not

$t->mock_reset('openai');
$r = post('probe');
is($r->{status}, 200, 'probe: 200');
is($r->{headers}{'x-llmopt-tiers'}, 'cheap', 'probe: the cheap answer kept');
@seen = @{ $t->mock_requests('openai') };
is((decode_json($seen[0]{body}))->{logprobs}, JSON::PP::true,
   'probe: llmopt asked the cheap tier for logprobs');
$a = eval { decode_json($r->{body}) } // {};
ok(exists $a->{choices}[0]{logprobs} && !defined $a->{choices}[0]{logprobs},
   'probe: the client, who did not ask, gets logprobs null');
is($a->{choices}[0]{message}{content},
   'Hello from the mock provider with a short',
   'probe: the answer itself as it came');

$t->mock_reset('openai');
$r = post('probe', body => $json->encode({ model => 'auto', logprobs => JSON::PP::true,
                                            messages => [{ role => 'user',
                                                content => 'What is 2+2?' }] }));
$a = eval { decode_json($r->{body}) } // {};
is(scalar @{ $a->{choices}[0]{logprobs}{content} // [] }, 8,
   'probe: a client that asked gets them');

$t->mock_reset('openai');
$r = post('climb_probe');
is($r->{headers}{'x-llmopt-tiers'}, 'cheap, strong', 'climb probe: escalated');
@seen = @{ $t->mock_requests('openai') };
ok(!exists((decode_json($seen[1]{body}))->{logprobs}),
   'climb probe: the strong tier is not asked for logprobs');
$a = eval { decode_json($r->{body}) } // {};
ok(!defined $a->{choices}[0]{logprobs}, 'climb probe: none in the answer');

# --- a pair asked in parallel, its agreement judged ---------------------------

$t->mock_reset('openai');
my $t0 = time();
$r = post('duo', 'X-Mock-Latency' => 400);
my $took = time() - $t0;
is($r->{status}, 200, 'pair: 200');
is($r->{headers}{'x-llmopt-tiers'}, 'cheap, cheap2',
   'pair: both arms of the first tier, no escalation');
$a = eval { decode_json($r->{body}) } // {};
is($a->{model}, 'gpt-cheap', 'pair: the first arm\'s answer served');
is(join(',', sort split /,/, models_seen('openai')), 'gpt-cheap,gpt-cheap2',
   'pair: both arms asked');
ok($took < 0.75, sprintf('pair: in parallel (%.2f s for two answers of '
                         . '0.4 s)', $took));
is(arm_status('duo', 'cheap2')->{outcomes}, 1,
   'pair: the second arm is an outcome too');

$t->mock_reset('openai');
$r = post('duo_climb');
is($r->{headers}{'x-llmopt-tiers'}, 'cheap, cheap2, strong',
   'pair climb: the pair, then the strong tier');
$a = eval { decode_json($r->{body}) } // {};
is($a->{model}, 'gpt-strong', 'pair climb: the strong answer');

# the client leaves while the pair is under way: both charged
{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port, Proto => 'tcp')
        or die "connect: $!";
    my $b = body();
    print $s "POST /duo/v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
           . "Content-Type: application/json\r\nX-Mock-Latency: 400\r\n"
           . "Content-Length: " . length($b) . "\r\nConnection: close\r\n"
           . "\r\n$b";
    sleep(0.2);
    close($s);
}

ok(Llmopt::Test::wait_for(sub {
       arm_status('duo', 'cheap')->{outcomes} == 2
       && arm_status('duo', 'cheap2')->{outcomes} == 2 }, 10),
   'pair left: both arms\' attempts are outcomes');
is(arm_status('duo', 'cheap')->{client_gone}, 1, 'pair left: the first gone');
is(arm_status('duo', 'cheap2')->{client_gone}, 1,
   'pair left: the second gone');
is(arm_status('duo', 'cheap2')->{cost_estimated}{outcomes}, 1,
   'pair left: the second charged by estimate');

# --- Anthropic -----------------------------------------------------------

sub post_anthropic {
    my ($policy, %h) = @_;
    return $t->http('POST', "/$policy/v1/messages",
                    headers => { 'Content-Type' => 'application/json',
                                 'anthropic-version' => '2023-06-01', %h },
                    body => body());
}

$t->mock_reset('anthropic');
$r = post_anthropic('claude_keep');
is($r->{status}, 200, 'claude keep: 200');
is($r->{headers}{'x-llmopt-tiers'}, 'haiku', 'claude keep: one tier');
$a = eval { decode_json($r->{body}) } // {};
is($a->{model}, 'claude-haiku', 'claude keep: the cheap answer');
is($a->{type}, 'message', 'claude keep: an Anthropic message');
is(models_seen('anthropic'), 'claude-haiku', 'claude keep: haiku alone');

$t->mock_reset('anthropic');
$r = post_anthropic('claude_climb');
is($r->{status}, 200, 'claude climb: 200');
is($r->{headers}{'x-llmopt-tiers'}, 'haiku, opus', 'claude climb: both');
$a = eval { decode_json($r->{body}) } // {};
is($a->{model}, 'claude-opus', 'claude climb: the strong answer');
is(models_seen('anthropic'), 'claude-haiku,claude-opus',
   'claude climb: haiku, then opus');
@seen = @{ $t->mock_requests('anthropic') };
is($seen[1]{headers}{'x-api-key'}, 'sk-ant-strong',
   'claude climb: opus with its own key');

# --- a failed tier: escalated, then skipped while its circuit is open --------

$t->mock_reset('openai');
$r = post('broken');
is($r->{status}, 200, 'broken: 200 from the next tier');
is($r->{headers}{'x-llmopt-tiers'}, 'dead, strong',
   'broken: the failed tier, then the strong one');
$a = eval { decode_json($r->{body}) } // {};
is($a->{model}, 'gpt-strong', 'broken: the strong answer');
is(arm_status('broken', 'dead')->{breaker}{state}, 'open',
   'broken: the dead arm\'s circuit opened');

$t->mock_reset('openai');
$r = post('broken');
is($r->{status}, 200, 'broken again: 200');
is($r->{headers}{'x-llmopt-tiers'}, 'strong',
   'broken again: the open tier skipped');
is(arm_status('broken', 'dead')->{outcomes}, 1,
   'broken again: no second attempt of the dead arm');

# --- the time budget: no escalation once it is spent -------------------------

$t->mock_reset('openai');
$r = post('hurry', 'X-Mock-Latency' => 300);
is($r->{status}, 200, 'hurry: 200');
is($r->{headers}{'x-llmopt-tiers'}, 'cheap',
   'hurry: the budget spent on the cheap tier, its answer served');
is(models_seen('openai'), 'gpt-cheap', 'hurry: no strong attempt');

$t->mock_reset('openai');
$r = post('hurry');
is($r->{headers}{'x-llmopt-tiers'}, 'cheap, strong',
   'hurry: a quick cheap answer is still escalated');

# --- the client leaves during the escalation ---------------------------------

my $before = $t->status_json()->{policies}{climb}{budget}{day}{spent};
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port,
                              Proto => 'tcp') or die "connect: $!";
my $b = body();
print $s "POST /climb/v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
       . "Content-Type: application/json\r\nX-Mock-Latency: 400\r\n"
       . "Content-Length: " . length($b) . "\r\nConnection: close\r\n\r\n$b";
# the cheap answer after 400 ms, the strong one 400 ms later
sleep(0.6);
close($s);

ok(Llmopt::Test::wait_for(sub {
       arm_status('climb', 'strong')->{outcomes} == 2 }, 10),
   'left: the strong attempt is an outcome');
$strong = arm_status('climb', 'strong');
is($strong->{client_gone}, 1, 'left: counted as the client gone');
is($strong->{cost_estimated}{outcomes}, 1,
   'left: the strong prompt charged by estimate');
is(arm_status('climb', 'cheap')->{outcomes}, 2,
   'left: the cheap attempt too');
$budget = $t->status_json()->{policies}{climb}{budget};
ok($budget->{day}{spent} > $before,
   "left: both charged to the budget ($before, $budget->{day}{spent})");
is($budget->{reserved}, 0, 'left: nothing left reserved');

# --- an answer too big for subrequest_output_buffer_size: escalated ---------

$t->mock_reset('openai');
$r = post('keep', 'X-Mock-Tokens' => 20000);
is($r->{headers}{'x-llmopt-tiers'}, 'cheap, strong',
   'too big: the cheap answer, lost, is escalated');
is($r->{status}, 502, 'too big: at the last tier, a 502');
$a = eval { decode_json($r->{body}) } // {};
is($a->{error}{code}, 'upstream_failed', 'too big: in the client\'s dialect');
like($t->read_file('logs/error.log'), qr/the answer of arm "cheap" is larger than subrequest_output_buffer_size/,
     'too big: nginx says why');

# --- the access log: every tier and its cost ---------------------------------

my @log = grep { m{^/climb/} } $t->read_lines("logs/tiers.log");
like($log[0] // '', qr{^/climb/v1/chat/completions\|strong\|cheap:0\.0000\d+,strong:0\.\d+\|200$},
     "log: the arm served, the tiers and their costs ($log[0])");

done_testing();
