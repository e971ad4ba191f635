#!/usr/bin/perl
# A policy that mixes an OpenAI and an Anthropic arm learns, for clients
# of both dialects, which is better where: the OpenAI mock is good at code
# prompts, the Anthropic mock at the rest (scripts/mock-provider
# --good-on, its X-Mock-Score read by llmopt_quality_header).  The
# clients of each dialect alternate; after a warm-up at least 90 % of each
# kind, from each dialect, goes to its better arm, half of them translated.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Llmopt::Test;
use Llmopt::RouterBench;

my $t = Llmopt::Test->new(module => 1);

my $CODE = '\b(function|python|program)\b';

$t->start_mock('openai', good_on => $CODE);
$t->start_mock('anthropic', good_on => "^(?![\\s\\S]*$CODE)");

my $WARM = 240;
my $MEASURE = 140;

my @prompts = Llmopt::RouterBench::prompts($WARM + $MEASURE);
is(scalar @prompts, $WARM + $MEASURE, 'test prompts read');

sub kind {
    my ($p) = @_;
    return $p =~ /$CODE/i ? 'code' : 'text';
}

$t->write_file('catalog.yaml', <<'YAML');
models:
  gpt: {upstream: up_openai, model: gpt-x, api: openai,
        price: {input: 1, output: 1}}
  claude: {upstream: up_anthropic, model: claude-x, api: anthropic,
           price: {input: 1, output: 1}}
policies:
  mixed:
    algorithm: linucb
    alpha: 0.5
    lambda: 1
    seed: 11
    arms: [gpt, claude]
    features: [bias, has_code]
    reward: {quality: 1, cost: 0, latency: 0}
YAML

$t->write_conf(<<'CONF');
%%MODULE%%
events { worker_connections 256; }
http {
    llmopt_zone name=llmopt size=4m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=20ms;

    upstream up_openai { server %%MOCK_OPENAI%%; keepalive 8; }
    upstream up_anthropic { server %%MOCK_ANTHROPIC%%; keepalive 8; }
    proxy_http_version 1.1;
    proxy_set_header Connection "";

    server {
        listen 127.0.0.1:%%PORT%%;
        llmopt_quality_header X-Mock-Score;
        add_header X-Arm $llmopt_arm always;

        location /v1/chat/completions {
            llmopt_route mixed;
            proxy_pass http://$llmopt_upstream;
        }
        location /v1/messages {
            llmopt_route mixed;
            proxy_pass http://$llmopt_upstream;
        }
        location = /status { llmopt_status; }
    }
}
CONF

$t->start();

sub updates {
    my $s = decode_json($t->http('GET', '/status')->{body});
    my $n = 0;
    $n += $_->{updates} for values %{ $s->{policies}{mixed}{arms} };
    return $n;
}

# the i-th prompt from a client of the dialect i's parity says
sub ask {
    my ($i) = @_;
    my $anthropic = $i % 2;
    my %body = (model => 'auto',
                messages => [{ role => 'user', content => $prompts[$i] }]);
    $body{max_tokens} = 64 if $anthropic;
    my $r = $t->http('POST', $anthropic ? '/v1/messages'
                                         : '/v1/chat/completions',
                     headers => { 'Content-Type' => 'application/json' },
                     body => encode_json(\%body));
    my $a = eval { decode_json($r->{body}) } // {};
    my $ok = $r->{status} == 200
             && ($anthropic ? ($a->{type} // '') eq 'message'
                            : ($a->{object} // '') eq 'chat.completion');
    return ($ok, $r->{headers}{'x-arm'} // 'none',
            $anthropic ? 'anthropic' : 'openai');
}

my %better = (code => 'gpt', text => 'claude');
my $answered = 0;

for my $i (0 .. $WARM - 1) {
    my ($ok) = ask($i);
    $answered++ if $ok;
    # every answer learned before the next choice: deterministic
    my $want = $i + 1;
    Llmopt::Test::wait_for(sub { updates() >= $want }, 5, 0.005);
}
is($answered, $WARM, "warm-up: $WARM answers in the client's dialect");
is(updates(), $WARM, "the trainer learned all $WARM scores");

my (%got, %translated);
for my $i ($WARM .. $WARM + $MEASURE - 1) {
    my ($ok, $arm, $client) = ask($i);
    $got{$client}{ kind($prompts[$i]) }{$arm}++;
    $translated{$client}++ if $ok && ($arm eq 'gpt') != ($client eq 'openai');
}

for my $client ('openai', 'anthropic') {
    for my $k ('code', 'text') {
        my $n = 0;
        $n += $_ for values %{ $got{$client}{$k} };
        my $share = $n ? ($got{$client}{$k}{ $better{$k} } // 0) / $n : 0;
        ok($n >= 20 && $share >= 0.90,
           sprintf("%s clients, %s prompts: %.1f %% of %d to %s (>= 90 %%)",
                   $client, $k, 100 * $share, $n, $better{$k}));
    }
    cmp_ok($translated{$client} // 0, '>=', 20,
           "$client clients: answers of the other dialect's arm translated");
}

$t->done();
done_testing();
