#!/usr/bin/perl
# Configurations that would be wrong at run time: no proxy_pass, an arm
# the location's dialect cannot reach, an upstream nothing can resolve
# fail "nginx -t" saying what to write; errors in an included file name
# that file and line.

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

$t->write_file('catalog.yaml', <<'YAML');
models:
  gpt:    {upstream: up_openai, model: gpt-x, price: {input: 1, output: 2},
           headers: {Authorization: "Bearer sk-catalog-openai"}}
  claude: {upstream: up_anthropic, model: claude-x, api: anthropic,
           price: {input: 3, output: 15},
           headers: {x-api-key: sk-catalog-anthropic,
                     anthropic-version: "2023-06-01"}}
  typo:   {upstream: up_opneai, model: gpt-typo, price: {input: 1, output: 2}}
  host:   {upstream: "api.openai.invalid:443", price: {input: 1, output: 2}}
policies:
  chat:     {algorithm: static, arms: [gpt]}
  messages: {algorithm: static, arms: [claude]}
  typoed:   {algorithm: static, arms: [typo]}
  hosted:   {algorithm: static, arms: [gpt, host]}
YAML

# --- nginx -t: what cannot work is refused -------------------------------

sub conf_t {
    my ($loc, %o) = @_;
    my $http = $o{http} // '';
    return <<"CONF";
%%MODULE%%
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=1m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    upstream up_openai { server %%MOCK_OPENAI%%; }
    upstream up_anthropic { server %%MOCK_ANTHROPIC%%; }
    $http
    server {
        listen 127.0.0.1:%%PORT%%;
        $loc
    }
}
CONF
}

# each message: [emerg], what is wrong, where, and what to write instead
my $where = qr/in \S+\/nginx-t\.conf:\d+/;
my @refused = (
    [ 'no proxy_pass',
      'location /v1/chat/completions { llmopt_route chat; }',
      qr/\[emerg\] .* "llmopt_route" \s in \s a \s location \s without
         \s "proxy_pass" \s $where: .* add \s
         "proxy_pass \s http:\/\/\$llmopt_upstream;"/x ],
    [ 'llmopt_failover without proxy_pass',
      'location /v1/chat/completions { llmopt_route chat;
           proxy_pass http://$llmopt_upstream;
           error_page 502 = @fo; }
       location @fo { llmopt_failover; }',
      qr/\[emerg\] .* "llmopt_failover" \s in \s a \s location \s without
         \s "proxy_pass" \s $where: .* add \s "proxy_pass/x ],
    [ 'anthropic policy behind /chat/completions',
      'location /v1/chat/completions { llmopt_route messages;
           proxy_pass http://$llmopt_upstream; }',
      qr/\[emerg\] .* policy \s "messages" \s speaks \s the \s anthropic
         \s API, .* location \s "\/v1\/chat\/completions" \s is \s an \s
         openai \s endpoint \s $where: .* "\/messages"/x ],
    [ 'openai policy behind = /v1/messages',
      'location = /v1/messages { llmopt_route chat;
           proxy_pass http://$llmopt_upstream; }',
      qr/\[emerg\] .* policy \s "chat" \s speaks \s the \s openai \s API,
         .* location \s "\/v1\/messages" \s is \s an \s anthropic \s
         endpoint \s $where: .* "\/chat\/completions"/x ],
    [ 'dialect= against the location',
      'location /v1/messages { llmopt_route chat dialect=openai;
           proxy_pass http://$llmopt_upstream; }',
      qr/\[emerg\] .* location \s "\/v1\/messages" \s is \s an \s
         anthropic \s endpoint/x ],
    [ 'an upstream nothing can resolve',
      'location /v1/chat/completions { llmopt_route typoed;
           proxy_pass http://$llmopt_upstream; }',
      qr/\[emerg\] .* upstream \s "up_opneai" \s of \s arm \s "typo" \s of
         \s policy \s "typoed" \s is \s no \s upstream\{\} \s block \s and
         \s this \s location \s has \s no \s resolver: \s add \s
         "upstream \s up_opneai \s \{ \s server \s \.\.\.; \s \}" .*
         $where/x ],
    [ 'a host name without a resolver',
      'location /v1/chat/completions { llmopt_route hosted;
           proxy_pass http://$llmopt_upstream; }',
      qr/\[emerg\] .* upstream \s "api\.openai\.invalid:443" \s of \s arm
         \s "host" .* has \s no \s resolver: \s add .* or \s a \s
         "resolver" .* $where/x ],
    [ 'a name no resolver finds, with a resolver',
      'resolver 127.0.0.1:1;
       location /v1/chat/completions { llmopt_route typoed;
           proxy_pass http://$llmopt_upstream; }',
      qr/\[emerg\] .* upstream \s "up_opneai" .* is \s no \s upstream\{\}
         \s block \s and \s no \s host \s name \s a \s resolver \s finds:
         \s add \s "upstream \s up_opneai/x ],
);

for my $c (@refused) {
    my ($what, $loc, $re) = @$c;
    my ($rc, $out) = $t->nginx_t(conf_t($loc));
    isnt($rc, 0, "$what: nginx -t fails");
    like($out, $re, "$what: says what to write") or diag($out);
}

my @accepted = (
    [ 'a prefix location of both endpoints',
      'location /v1/ { llmopt_route chat;
           proxy_pass http://$llmopt_upstream; }' ],
    [ 'a regex location',
      'location ~ ^/v1/messages$ { llmopt_route messages;
           proxy_pass http://$llmopt_upstream; }' ],
    [ 'a named location',
      'location /v1/chat/completions { error_page 418 = @r; return 418; }
       location @r { llmopt_route chat;
           proxy_pass http://$llmopt_upstream; }' ],
);

for my $c (@accepted) {
    my ($what, $loc) = @$c;
    my ($rc, $out) = $t->nginx_t(conf_t($loc));
    is($rc, 0, "$what: nginx -t passes") or diag($out);
}

# with a resolver a host name may be found at run time: a warning
my ($rc, $out) = $t->nginx_t(conf_t(
    'location /v1/chat/completions { llmopt_route hosted;
         proxy_pass http://$llmopt_upstream; }',
    http => 'resolver 127.0.0.1:1;'));
is($rc, 0, 'a host name with a resolver: nginx -t passes');
like($out, qr/\[warn\].*upstream "api\.openai\.invalid:443" of model "host"/,
     '... with a warning') or diag($out);

# --- errors in an included file name that file and line ---------------

my $inc = $t->write_file('conf/conf.d/routes.conf', $t->expand(<<'CONF'));
# the usual conf.d/*.conf of Debian
server {
    listen 127.0.0.1:%%PORT%%;

    location /v1/chat/completions {
        llmopt_route nope;
        proxy_pass http://$llmopt_upstream;
    }
}
CONF

my $with_include = <<'CONF';
%%MODULE%%
events { worker_connections 64; }
http {
    %%CATALOG%%
    upstream up_openai { server %%MOCK_OPENAI%%; }
    include conf.d/*.conf;
}
CONF

my $catalog = 'llmopt_zone name=llmopt size=1m; '
              . 'llmopt_catalog %%PREFIX%%/catalog.yaml;';
(my $inc_conf = $with_include) =~ s/%%CATALOG%%/$catalog/;
($rc, $out) = $t->nginx_t($inc_conf);
isnt($rc, 0, 'include: unknown policy fails');
like($out,
     qr/unknown policy "nope" \(not in catalog "[^"]+"\) in \Q$inc\E:6$/m,
     'include: names the included file and line') or diag($out);

($inc_conf = $with_include) =~ s/%%CATALOG%%//;
($rc, $out) = $t->nginx_t($inc_conf);
isnt($rc, 0, 'include: no catalog fails');
like($out, qr/"llmopt_route" requires "llmopt_catalog" in \Q$inc\E:6$/m,
     'include: names the included file and line') or diag($out);

$t->write_file('conf/conf.d/routes.conf', $t->expand(<<'CONF'));
server {
    listen 127.0.0.1:%%PORT%%;
    location /v1/ {
        llmopt_route messages dialect=openai;
        proxy_pass http://$llmopt_upstream;
    }
}
CONF
($inc_conf = $with_include) =~ s/%%CATALOG%%/$catalog/;
($rc, $out) = $t->nginx_t($inc_conf);
isnt($rc, 0, 'include: dialect= mismatch fails');
like($out,
     qr/speaks the anthropic API, not the one of "dialect=" in \Q$inc\E:4$/m,
     'include: names the included file and line') or diag($out);

$t->done();
done_testing();
