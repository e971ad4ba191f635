#!/usr/bin/perl
# Body rewrite fidelity through nginx: for 200 test prompts (t/data/prompts:
# code requests, multiple choice, fill in the blank, with quotes, newlines,
# backslashes and UTF-8) the upstream receives the client's body byte for
# byte except the rewritten fields, with the right Content-Length, for
# bodies nginx keeps in memory and for bodies it spills to a temp file,
# and for large bodies one after another (the worker's reused buffers).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Llmopt::Test;
use Llmopt::RouterBench;

my $t = Llmopt::Test->new(module => 1);
my $json = JSON::PP->new->utf8->canonical;      # bytes, not characters

my @prompts = Llmopt::RouterBench::prompts(200);
is(scalar @prompts, 200, '200 test prompts');

$t->start_mock('openai');

$t->write_file('catalog.yaml', <<'YAML');
models:
  small: {upstream: up_openai, model: "gpt-4o-mini", price: {input: 1, output: 2}}
policies:
  chat:
    algorithm: static
    arms: [{model: small, params: {temperature: 0.25, max_tokens: 1024}}]
YAML

# /mem keeps bodies in memory; /file spills every body to a temp file
$t->write_conf(<<'CONF');
%%MODULE%%
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=1m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    upstream up_openai { server %%MOCK_OPENAI%%; keepalive 4; }
    client_max_body_size 4m;
    proxy_http_version 1.1;
    proxy_set_header Connection "";

    server {
        listen 127.0.0.1:%%PORT%%;

        location /mem/ {
            client_body_buffer_size 1m;
            llmopt_route chat;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
        }

        location /file/ {
            client_body_buffer_size 1k;
            client_body_in_file_only clean;
            llmopt_route chat;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
        }
    }
}
CONF

$t->start();

# Bodies vary in layout: whitespace, key order, fields before and after,
# unicode escapes, an existing temperature to replace, none to add.

sub body_for {
    my ($i, $prompt) = @_;
    my $content = $json->encode($prompt);
    my @layouts = (
        sub { qq({"model":"auto","messages":[{"role":"user","content":$content}]}) },
        sub { qq({\n  "messages": [\n    {"role": "system", "content": "Answer."},\n    {"role": "user", "content": $content}\n  ],\n  "model": "x",\n  "temperature": 0.9\n}) },
        sub { qq({ "stream" : false , "temperature":1,"model" : "gpt-4" , "messages" : [ { "content" : $content , "role" : "user" } ] , "n" : 1 }) },
        sub { qq({"messages":[{"role":"user","content":[{"type":"text","text":$content}]}],"max_tokens":5,"metadata":{"model":"keep-me","temperature":3}}) },
    );
    return $layouts[$i % @layouts]->();
}

# the expected upstream body, made independently of the module: values of
# top-level keys replaced in place, missing ones appended before the last }

sub expected {
    my ($body) = @_;
    my %set = (model => '"gpt-4o-mini"', temperature => '0.25',
               max_tokens => '1024');
    my $out = $body;
    my @missing;

    for my $key (qw(model temperature max_tokens)) {
        # a top-level member is the only one at depth 1 in our layouts
        my $pos = top_level_value($out, $key);
        if (!defined $pos) {
            push @missing, $key;
            next;
        }
        substr($out, $pos->[0], $pos->[1] - $pos->[0]) = $set{$key};
    }

    for my $key (@missing) {
        $out =~ s/\s*\}\s*\z/$&/;       # keep trailing layout
        my $close = rindex($out, '}');
        substr($out, $close, 0) = ",\"$key\":$set{$key}";
    }

    return $out;
}

sub top_level_value {
    my ($s, $key) = @_;
    my $depth = 0;
    my $i = 0;
    my $n = length $s;

    while ($i < $n) {
        my $c = substr($s, $i, 1);

        if ($c eq '"') {
            my $start = $i;
            $i++;
            while ($i < $n) {
                my $d = substr($s, $i, 1);
                if ($d eq '\\') { $i += 2; next; }
                last if $d eq '"';
                $i++;
            }
            my $str = substr($s, $start + 1, $i - $start - 1);
            $i++;

            if ($depth == 1 && $str eq $key) {
                my $j = $i;
                $j++ while substr($s, $j, 1) =~ /\s/;
                if (substr($s, $j, 1) eq ':') {
                    $j++;
                    $j++ while substr($s, $j, 1) =~ /\s/;
                    my $k = $j;
                    if (substr($s, $k, 1) eq '"') {
                        $k++;
                        while (substr($s, $k, 1) ne '"') {
                            $k += substr($s, $k, 1) eq '\\' ? 2 : 1;
                        }
                        $k++;
                    } else {
                        $k++ while substr($s, $k, 1) =~ /[-+.0-9eEa-z]/;
                    }
                    return [$j, $k];
                }
            }
            next;
        }

        $depth++ if $c eq '{' || $c eq '[';
        $depth-- if $c eq '}' || $c eq ']';
        $i++;
    }

    return undef;
}

for my $where (qw(mem file)) {
    $t->mock_reset('openai');
    my ($same, $length_ok, $status_ok) = (0, 0, 0);
    my @bad;

    for my $i (0 .. $#prompts) {
        my $body = body_for($i, $prompts[$i]);
        my $r = $t->http('POST', "/$where/v1/chat/completions",
                         headers => { 'Content-Type' => 'application/json' },
                         body => $body);
        $status_ok++ if $r->{status} == 200;

        my $up = $t->mock_last('openai');
        my $want = expected($body);

        if (defined $up && $up->{body} eq $want) {
            $same++;
        } elsif (@bad < 3) {
            push @bad, "prompt $i: sent " . substr($body, 0, 200)
                       . "\n got " . substr($up->{body} // '', 0, 200)
                       . "\nwant " . substr($want, 0, 200);
        }

        $length_ok++ if defined $up
                        && ($up->{headers}{'content-length'} // -1)
                           == length($up->{body});
    }

    is($status_ok, 200, "$where: 200 answers");
    is($same, 200, "$where: upstream bodies byte-identical but for the "
                   . "rewritten fields") or diag(join("\n", @bad));
    is($length_ok, 200, "$where: Content-Length matches every body");
}

# a body of 0.9 MB (just under llmopt_max_body's default 1m) through the
# temp file path
my $all = join(' ', @prompts);
my $huge = body_for(1, $all x int(0.9 * 1024 * 1024 / length $all));
my $r = $t->http('POST', '/file/v1/chat/completions',
                 headers => { 'Content-Type' => 'application/json' },
                 body => $huge);
is($r->{status}, 200, 'large body through a temp file');
is($t->mock_last('openai')->{body}, expected($huge),
   'large body rewritten exactly');

# large bodies one after another in memory (the part that came with the
# headers and the rest: llmopt copies them into one piece) and through the
# file: the worker's buffers of a size class are reused, larger then
# smaller bodies of one class and of others, and no byte of an earlier
# body shows in a later one
for my $where (qw(mem file)) {
    my ($n, $ok) = (0, 0);
    for my $kb (900, 600, 700, 130, 300, 950, 65, 900) {
        my $body = body_for($n++, substr($all x 40, 0, $kb * 1000));
        my $r = $t->http('POST', "/$where/v1/chat/completions",
                         headers => { 'Content-Type' => 'application/json' },
                         body => $body);
        my $up = $t->mock_last('openai');
        diag("$where $kb KB: status $r->{status}") if $r->{status} != 200;
        $ok++ if $r->{status} == 200 && defined $up
                 && $up->{body} eq expected($body)
                 && $up->{headers}{'content-length'} == length($up->{body});
    }
    is($ok, 8, "$where: 8 large bodies of reused sizes rewritten exactly");
}

$t->done();
done_testing();
