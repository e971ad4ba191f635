#!/usr/bin/perl
# An undersized llmopt_zone: "nginx -t" says the size the catalog needs,
# and the size that leaves room for reloads, before anything fails (no
# [crit] ngx_slab_alloc() first).  The figures are enough: nginx starts
# with exactly the size needed and serves; with the roomy one it takes a
# reload that changes every policy's arms.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

$t->start_mock('openai');

my @arms = map { "m$_" } 1 .. 8;
my $models = join('', map { "  $_: {upstream: up_openai, model: $_, "
                            . "price: {input: 1, output: 2}}\n" } @arms);

sub catalog {
    my ($extra) = @_;
    my $y = "models:\n$models" . "policies:\n";
    for my $p (qw(p1 p2 p3 p4)) {
        $y .= "  $p:\n    algorithm: linucb\n"
            . "    arms: [" . join(', ', @arms, @{ $extra // [] }) . "]\n"
            . "    features: [bias, input_tokens, has_code, messages, "
            . "tenant, words]\n    tenant_buckets: 8\n"
            . "    word_buckets: 8\n";
    }
    $y .= "  b:\n    algorithm: thompson\n    arms: [m1, m2]\n"
        . "    budget: {day: 100, tenants: 1000}\n";
    return $y;
}

$t->write_file('catalog.yaml', catalog());

sub conf {
    my ($size) = @_;
    return <<"CONF";
%%MODULE%%
worker_processes 2;
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=$size;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=20ms;
    upstream up_openai { server %%MOCK_OPENAI%%; }

    server {
        listen 127.0.0.1:%%PORT%%;
        location /p1/ {
            llmopt_route p1;
            proxy_pass http://\$llmopt_upstream/v1/chat/completions;
        }
        location /p2/ {
            llmopt_route p2;
            proxy_pass http://\$llmopt_upstream/v1/chat/completions;
        }
        location /p3/ {
            llmopt_route p3;
            proxy_pass http://\$llmopt_upstream/v1/chat/completions;
        }
        location /p4/ {
            llmopt_route p4;
            proxy_pass http://\$llmopt_upstream/v1/chat/completions;
        }
        location /b/ {
            llmopt_route b;
            proxy_pass http://\$llmopt_upstream/v1/chat/completions;
        }
        location = /status { llmopt_status; }
    }
}
CONF
}

my ($rc, $out) = $t->nginx_t(conf('64k'));
isnt($rc, 0, 'nginx -t with a 64k zone fails');
like($out, qr/\[emerg\].*llmopt_zone "llmopt" of 64k is too small for the catalog ".*catalog\.yaml": it needs size=(\d+)k, and size=(\d+)k leaves room for reloads that change arms/,
     '... and says the size needed');
my ($need, $roomy) = $out =~ /it needs size=(\d+)k, and size=(\d+)k/;
unlike($out, qr/ngx_slab_alloc|\[crit\]/, '... before any allocation fails');
ok($need && $roomy > $need, "needed ${need}k, roomy ${roomy}k");
note("nginx -t: $out");

# one kilobyte less is refused too, the figure exactly is accepted
($rc, $out) = $t->nginx_t(conf(($need - 1) . 'k'));
like($out, qr/it needs size=${need}k/, 'one kilobyte less: refused');
($rc, $out) = $t->nginx_t(conf("${need}k"));
is($rc, 0, "nginx -t with size=${need}k passes") or diag($out);

sub drive {
    my $ok = 0;
    for my $i (1 .. 40) {
        my $p = (qw(p1 p2 p3 p4 b))[$i % 5];
        my $r = $t->http('POST', "/$p/v1/chat/completions",
                         headers => { 'Content-Type' => 'application/json' },
                         body => '{"messages":[{"role":"user","content":'
                                 . "\"hello $i\"}]}");
        $ok++ if $r->{status} == 200;
    }
    return $ok;
}

$t->write_conf(conf("${need}k"));
$t->start();
is(drive(), 40, "size=${need}k: 40 requests over 5 policies routed");
my $s = decode_json($t->http('GET', '/status')->{body});
is(scalar keys %{ $s->{policies} }, 5, '... every policy in the zone');
note("zone: $s->{zone}{used} of $s->{zone}{size} bytes used");
ok($s->{policies}{p1}{history}, '... with its history')
    or diag(join ',', keys %{ $s->{policies}{p1} });
$t->stop();

$t->write_conf(conf("${roomy}k"));
$t->start();
is(drive(), 40, "size=${roomy}k: routed");
$t->write_file('catalog.yaml', catalog(['{model: m1, name: extra}']));
$t->reload();
is(drive(), 40, '... and after a reload that changes every arm list');
unlike($t->read_file('logs/error.log'), qr/no room|too small/,
       '... with room for it all');

$t->done();
done_testing();
