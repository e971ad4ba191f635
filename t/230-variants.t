#!/usr/bin/perl
# Prompt variants through nginx: each edit (system prompt prepended and
# replaced, an instruction appended to the last user turn, few-shot
# examples, structured output) in both dialects, streaming and not; the
# upstream gets the client's body byte for byte around the edit, with the
# arm's params and the right Content-Length; $llmopt_variant logs the
# variant and a policy with a control and a variant serves both; the
# trainer's tallies show in the status and the metrics and outlive a
# restart (llmopt_state_file).

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

# one policy per edit (its one variant is chosen with propensity 1), and
# one with a control and a variant

my %edit = (
    pre   => '{system: "Be brief, \"friend\"."}',
    rep   => '{system: "Only this.", system_mode: replace}',
    app   => '{append: "Answer in one line.\n"}',
    shots => "{examples: [{user: \"2+2?\", assistant: \"4\"}]}",
    json  => '{response_format: {type: json_object}}',
);

my $yaml = <<'YAML';
models:
  oa: {upstream: up_openai, model: gpt-x, price: {input: 1, output: 2}}
  an: {upstream: up_anthropic, model: claude-x, api: anthropic,
       price: {input: 1, output: 2}}
policies:
  ab:
    algorithm: thompson
    arms: [{model: oa, params: {temperature: 0.3}}]
    variants: {control: ~, brief: {system: "Be brief."}}
YAML

my @locations;
for my $e (sort keys %edit) {
    for my $d ('o', 'a') {
        next if $e eq 'json' && $d eq 'a';     # refused at load (t/unit)
        my $model = $d eq 'o' ? 'oa' : 'an';
        $yaml .= "  ${d}_$e:\n    algorithm: thompson\n"
               . "    arms: [{model: $model, params: {temperature: 0.3}}]\n"
               . "    variants: {$e: $edit{$e}}\n";
        my $path = $d eq 'o' ? 'v1/chat/completions' : 'v1/messages';
        push @locations, <<"LOC";
        location /${d}_$e/$path {
            llmopt_route ${d}_$e;
            proxy_pass http://\$llmopt_upstream/$path;
        }
LOC
    }
}

$t->write_file('catalog.yaml', $yaml);

my $locations = join('', @locations);

$t->write_conf(<<"CONF");
%%MODULE%%
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=4m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_state_file %%PREFIX%%/state interval=100ms;

    log_format variants '\$llmopt_policy \$llmopt_variant '
                        '\$llmopt_variant_propensity';
    access_log %%PREFIX%%/logs/variants.log variants;

    upstream up_openai { server %%MOCK_OPENAI%%; }
    upstream up_anthropic { server %%MOCK_ANTHROPIC%%; }

    server {
        listen 127.0.0.1:%%PORT%%;

$locations
        location = /status { llmopt_status; }

        # an OpenAI client to an Anthropic arm: translated, then edited
        location /x_pre/v1/chat/completions {
            llmopt_route a_pre;
            proxy_pass http://\$llmopt_upstream/v1/messages;
        }

        location /ab/v1/chat/completions {
            llmopt_route ab;
            proxy_pass http://\$llmopt_upstream/v1/chat/completions;
        }
    }
}
CONF

$t->start();

# The expected upstream bodies, written out: the client's bytes with the
# edit, the model and temperature set (replaced in place or appended
# before the closing brace), an OpenAI stream's usage asked for.

my $UA = '{"role":"user","content":';
my $OPTS = ',"stream_options":{"include_usage":true}';
my $SHOT = '{"role":"user","content":"2+2?"},'
         . '{"role":"assistant","content":"4"}';

my @cases = (
    # OpenAI
    [ 'o_pre', 0,
      qq({"model":"x", "messages":[{"role":"system","content":"Be kind."},$UA"hi"}]}),
      qq({"model":"gpt-x", "messages":[{"role":"system","content":"Be brief, \\"friend\\".\\n\\nBe kind."},$UA"hi"}],"temperature":0.3}) ],
    [ 'o_pre', 1,
      qq({"messages": [ $UA"hi"} ], "stream": true, "model": "x"}),
      qq({"messages": [{"role":"system","content":"Be brief, \\"friend\\"."}, $UA"hi"} ], "stream": true, "model": "gpt-x","temperature":0.3$OPTS}) ],
    [ 'o_rep', 0,
      qq({"model":"x","messages":[{"role":"developer","content":[{"type":"text","text":"Old"}]},$UA"hi"}],"temperature":1}),
      qq({"model":"gpt-x","messages":[{"role":"developer","content":"Only this."},$UA"hi"}],"temperature":0.3}) ],
    [ 'o_rep', 1,
      qq({"model":"x","stream":true,"messages":[{"role":"system","content":"Old"},$UA"hi"}]}),
      qq({"model":"gpt-x","stream":true,"messages":[{"role":"system","content":"Only this."},$UA"hi"}],"temperature":0.3$OPTS}) ],
    [ 'o_app', 0,
      qq({"model":"x","messages":[$UA"first"},{"role":"assistant","content":"ok"},$UA"caf\\u00e9 \xc3\xa9"}]}),
      qq({"model":"gpt-x","messages":[$UA"first"},{"role":"assistant","content":"ok"},$UA"caf\\u00e9 \xc3\xa9\\n\\nAnswer in one line.\\n"}],"temperature":0.3}) ],
    [ 'o_app', 1,
      qq({"model":"x","stream":true,"messages":[$UA\[{"type":"text","text":"a"}]}]}),
      qq({"model":"gpt-x","stream":true,"messages":[$UA\[{"type":"text","text":"a"},{"type":"text","text":"Answer in one line.\\n"}]}],"temperature":0.3$OPTS}) ],
    [ 'o_shots', 0,
      qq({"model":"x","messages":[{"role":"system","content":"S"},$UA"q"}]}),
      qq({"model":"gpt-x","messages":[{"role":"system","content":"S"},$SHOT,$UA"q"}],"temperature":0.3}) ],
    [ 'o_shots', 1,
      qq({"model":"x","stream":true,"messages":[$UA"q"}]}),
      qq({"model":"gpt-x","stream":true,"messages":[$SHOT,$UA"q"}],"temperature":0.3$OPTS}) ],
    [ 'o_json', 0,
      qq({"model":"x","messages":[$UA"q"}],"response_format":{"type":"text"}}),
      qq({"model":"gpt-x","messages":[$UA"q"}],"response_format":{"type":"json_object"},"temperature":0.3}) ],
    [ 'o_json', 1,
      qq({"model":"x","stream":true,"messages":[$UA"q"}]}),
      qq({"model":"gpt-x","stream":true,"messages":[$UA"q"}],"temperature":0.3$OPTS,"response_format":{"type":"json_object"}}) ],

    # Anthropic
    [ 'a_pre', 0,
      qq({"model":"x","max_tokens":9,"system":"Be kind.","messages":[$UA"hi"}]}),
      qq({"model":"claude-x","max_tokens":9,"system":"Be brief, \\"friend\\".\\n\\nBe kind.","messages":[$UA"hi"}],"temperature":0.3}) ],
    [ 'a_pre', 1,
      qq({"model":"x","max_tokens":9,"stream":true,"messages":[$UA"hi"}]}),
      qq({"model":"claude-x","max_tokens":9,"stream":true,"messages":[$UA"hi"}],"temperature":0.3,"system":"Be brief, \\"friend\\"."}) ],
    [ 'a_rep', 0,
      qq({"model":"x","max_tokens":9,"system":[{"type":"text","text":"Old"}],"messages":[$UA"hi"}]}),
      qq({"model":"claude-x","max_tokens":9,"system":"Only this.","messages":[$UA"hi"}],"temperature":0.3}) ],
    [ 'a_rep', 1,
      qq({"model":"x","max_tokens":9,"stream":true,"system":"Old","messages":[$UA"hi"}]}),
      qq({"model":"claude-x","max_tokens":9,"stream":true,"system":"Only this.","messages":[$UA"hi"}],"temperature":0.3}) ],
    [ 'a_app', 0,
      qq({"model":"x","max_tokens":9,"messages":[$UA"q"}]}),
      qq({"model":"claude-x","max_tokens":9,"messages":[$UA"q\\n\\nAnswer in one line.\\n"}],"temperature":0.3}) ],
    [ 'a_app', 1,
      qq({"model":"x","max_tokens":9,"stream":true,"messages":[$UA\[{"type":"text","text":"a"}]}]}),
      qq({"model":"claude-x","max_tokens":9,"stream":true,"messages":[$UA\[{"type":"text","text":"a"},{"type":"text","text":"Answer in one line.\\n"}]}],"temperature":0.3}) ],
    [ 'a_shots', 0,
      qq({"model":"x","max_tokens":9,"system":"S","messages":[$UA"q"}]}),
      qq({"model":"claude-x","max_tokens":9,"system":"S","messages":[$SHOT,$UA"q"}],"temperature":0.3}) ],
    [ 'a_shots', 1,
      qq({"model":"x","max_tokens":9,"stream":true,"messages":[ $UA"q"}]}),
      qq({"model":"claude-x","max_tokens":9,"stream":true,"messages":[$SHOT, $UA"q"}],"temperature":0.3}) ],
);

for my $c (@cases) {
    my ($policy, $stream, $body, $want) = @$c;
    my $anthropic = $policy =~ /^a_/;
    my $mock = $anthropic ? 'anthropic' : 'openai';
    my $path = "/$policy/"
             . ($anthropic ? 'v1/messages' : 'v1/chat/completions');
    my $name = "$policy " . ($stream ? 'stream' : 'json');

    $t->mock_reset($mock);

    my $r = $t->http('POST', $path,
                     headers => { 'Content-Type' => 'application/json' },
                     body => $body);
    is($r->{status}, 200, "$name: answered");

    if ($stream) {
        my @ev = $t->sse_events($r->{body});
        ok(@ev > 1, "$name: the answer streamed");
    } else {
        ok(eval { decode_json($r->{body}) }, "$name: a JSON answer");
    }

    my $up = $t->mock_last($mock);
    is($up->{body}, $want, "$name: upstream body byte-exact around the edit");
    is($up->{headers}{'content-length'}, length($want),
       "$name: Content-Length of the new body");
    ok(eval { decode_json($up->{body}) }, "$name: valid JSON upstream");
}

# translated first: the variant is written in the arm's dialect

{
    $t->mock_reset('anthropic');
    my $r = $t->http('POST', '/x_pre/v1/chat/completions',
        headers => { 'Content-Type' => 'application/json' },
        body => qq({"model":"x","messages":[{"role":"system","content":"Be kind."},$UA"hi"}]}));
    is($r->{status}, 200, 'translated: answered');
    ok(eval { decode_json($r->{body})->{choices} }, 'translated: an OpenAI answer');
    my $up = eval { decode_json($t->mock_last('anthropic')->{body}) } // {};
    my $system = ref $up->{system} ? join('', map { $_->{text} } @{ $up->{system} })
                                   : $up->{system} // '';
    like($system, qr/^Be brief, "friend"\.\n\nBe kind\.$/s,
         'translated: the Anthropic system prompt has the variant\'s text first');
    is($up->{messages}[-1]{content}, 'hi', 'translated: the user turn kept');
}

# a control and a variant: both serve, the log names them

my %seen;
for my $i (1 .. 40) {
    $t->mock_reset('openai');
    my $r = $t->http('POST', '/ab/v1/chat/completions',
                     headers => { 'Content-Type' => 'application/json' },
                     body => qq({"model":"x","messages":[$UA"q$i"}]}));
    is($r->{status}, 200, "ab #$i answered") if $r->{status} != 200;
    my $up = $t->mock_last('openai')->{body};
    my $brief = $up =~ /"role":"system","content":"Be brief\."/ ? 1 : 0;
    $seen{$brief ? 'brief' : 'control'}++;
    $seen{bad}++ unless $up eq ($brief
        ? qq({"model":"gpt-x","messages":[{"role":"system","content":"Be brief."},$UA"q$i"}],"temperature":0.3})
        : qq({"model":"gpt-x","messages":[$UA"q$i"}],"temperature":0.3}));
}

ok($seen{brief} && $seen{control}, "ab: both variants served "
   . "(control $seen{control}, brief " . ($seen{brief} // 0) . ")");
ok(!$seen{bad}, 'ab: every body is the control\'s or the variant\'s');

# the trainer learns each answer of its variant: status and metrics

my $learned = sub {
    my $v = $t->status_json()->{policies}{ab}{variants}{by_variant};
    return ($v->{control}{n} // 0) + ($v->{brief}{n} // 0) == 40 ? $v : 0;
};
ok(defined Llmopt::Test::wait_for($learned, 10), 'status: 40 answers learned by variant');
my $v = $learned->() || {};
is($v->{control}{n}, $seen{control}, 'status: the control\'s answers');
is($v->{brief}{n}, $seen{brief}, 'status: the variant\'s answers');
ok(defined $v->{brief}{always_valid_p} && $v->{brief}{always_valid_p} <= 1
   && $v->{control}{always_valid_p} == 1,
   'status: the variant\'s always-valid p-value against the control');
is($t->status_json()->{policies}{ab}{variants}{control}, 'control',
   'status: the control named');

my $m = $t->http('GET', '/status?format=prometheus')->{body};
like($m, qr/^llmopt_variant_answers_total\{policy="ab",arm="[^"]+",variant="brief"\} \Q$seen{brief}\E$/m,
     'metrics: the variant\'s answers');
like($m, qr/^llmopt_variant_always_valid_p\{policy="ab",variant="brief"\} [0-9.]+$/m,
     'metrics: its always-valid p-value');

# a restart brings the tallies back from the state file

$t->stop();
$t->start();

my $back = $t->status_json()->{policies}{ab}{variants}{by_variant};
is(($back->{control}{n} // 0) + ($back->{brief}{n} // 0), 40,
   'restart: the variants\' tallies come back from llmopt_state_file');
is($back->{brief}{n}, $seen{brief}, 'restart: the variant\'s, by name');

# a reload that adds an arm in front: the tallies move with their arm;
# one that renames a variant: they start anew

my $ab = <<'AB';
  ab:
    algorithm: thompson
    arms: [{model: oa, params: {temperature: 0.3}}]
    variants: {control: ~, brief: {system: "Be brief."}}
AB
(my $moved = $ab) =~ s/arms: \[/arms: [{model: oa, name: other}, /;
$t->write_file('catalog.yaml', $yaml =~ s/\Q$ab\E/$moved/r);
ok($t->reload(), 'reload: an arm added before the others');

my $kept = $t->status_json()->{policies}{ab}{variants}{by_variant};
is($kept->{brief}{n}, $seen{brief}, 'reload: the tallies moved with the arm');
is($kept->{control}{n}, $seen{control}, 'reload: the control\'s too');

(my $renamed = $moved) =~ s/brief:/terse:/;
$t->write_file('catalog.yaml', $yaml =~ s/\Q$ab\E/$renamed/r);
ok($t->reload(), 'reload: a variant renamed');

my $anew = $t->status_json()->{policies}{ab}{variants}{by_variant};
ok(($anew->{control}{n} // -1) == 0 && ($anew->{terse}{n} // -1) == 0,
   'reload: other variants, the tallies start anew');

$t->stop();

my @log = $t->read_lines('logs/variants.log');
my %logged;
for my $line (@log) {
    my ($policy, $variant, $p) = split / /, $line;
    next unless $policy eq 'ab';
    $logged{$variant}++;
    $logged{bad_p}++ unless $p > 0 && $p <= 1;
}

is($logged{brief} // 0, $seen{brief} // 0,
   '$llmopt_variant logs the variant each time it served');
is($logged{control} // 0, $seen{control} // 0,
   '$llmopt_variant logs the control');
ok(!$logged{bad_p}, '$llmopt_variant_propensity in (0, 1]');

my ($one) = grep { /^o_pre / } @log;
like($one // '', qr/^o_pre pre 1\.000000$/,
     'a lone variant: propensity 1');

$t->done();
done_testing();
