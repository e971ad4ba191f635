#!/usr/bin/perl
# What a routed location accepts, and configurations that would be wrong
# at run time: POSTs to the dialect's endpoint are routed; other methods
# and paths get a 405 or 404 in the client's dialect and never reach an
# upstream with a catalog key, unless llmopt_passthrough lets them; errors
# in an included file name that file and line; no proxy_pass, an arm the
# location's dialect cannot reach, an upstream nothing can resolve fail
# "nginx -t" saying what to write.

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
    [ 'dialect= against the location',
      'location /v1/messages { llmopt_route chat dialect=openai;
           proxy_pass http://$llmopt_upstream; }',
      qr/\[emerg\] .* "dialect=openai" \s in \s location \s
         "\/v1\/messages", \s which \s is \s an \s anthropic \s
         endpoint/x ],
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
    [ 'anthropic policy behind /chat/completions (translated)',
      'location /v1/chat/completions { llmopt_route messages;
           proxy_pass http://$llmopt_upstream; }' ],
    [ 'openai policy behind = /v1/messages (translated)',
      'location = /v1/messages { llmopt_route chat;
           proxy_pass http://$llmopt_upstream; }' ],
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

($rc, $out) = $t->nginx_t(conf_t(
    'location /v1/ { llmopt_route chat; llmopt_passthrough methods=GET,FOO;
         proxy_pass http://$llmopt_upstream; }'));
isnt($rc, 0, 'llmopt_passthrough: an unknown method fails');
like($out, qr/\[emerg\].*invalid method "FOO"/, '... naming it') or diag($out);

($rc, $out) = $t->nginx_t(conf_t(
    'location /v1/ { llmopt_route chat; llmopt_passthrough methods=GET,;
         proxy_pass http://$llmopt_upstream; }'));
isnt($rc, 0, 'llmopt_passthrough: an empty method fails');
like($out, qr/\[emerg\].*invalid method "" in "methods=GET,"/, '... saying so')
    or diag($out);

($rc, $out) = $t->nginx_t(conf_t(
    'location /v1/ { llmopt_route chat; llmopt_passthrough paths=v1/models;
         proxy_pass http://$llmopt_upstream; }'));
isnt($rc, 0, 'llmopt_passthrough: a path not starting with / fails');
like($out, qr/\[emerg\].*"v1\/models" does not start with "\/"/,
     '... naming it') or diag($out);

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
    location /v1/messages {
        llmopt_route messages dialect=openai;
        proxy_pass http://$llmopt_upstream;
    }
}
CONF
($inc_conf = $with_include) =~ s/%%CATALOG%%/$catalog/;
($rc, $out) = $t->nginx_t($inc_conf);
isnt($rc, 0, 'include: dialect= against the location\'s endpoint fails');
like($out,
     qr/"dialect=openai" in location "\/v1\/messages", which is an anthropic endpoint, in \Q$inc\E:4$/m,
     'include: names the included file and line') or diag($out);

# --- run time: methods and paths ------------------------------------------

$t->write_conf(<<'CONF');
%%MODULE%%
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=1m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    upstream up_openai { server %%MOCK_OPENAI%%; }
    upstream up_anthropic { server %%MOCK_ANTHROPIC%%; }
    server {
        listen 127.0.0.1:%%PORT%%;

        location /v1/chat/completions {
            llmopt_route chat;
            proxy_pass http://$llmopt_upstream;
        }

        location /v1/messages {
            llmopt_route messages;
            proxy_pass http://$llmopt_upstream;
        }

        location /v1/ {
            llmopt_route chat;
            proxy_pass http://$llmopt_upstream;
        }

        location /opt/v1/ {
            llmopt_route chat;
            llmopt_passthrough methods=GET,HEAD
                               paths=/opt/v1/models,/opt/v1/files/;
            proxy_pass http://$llmopt_upstream;
            add_header X-Reason $llmopt_reason always;
        }

        location /any/v1/ {
            llmopt_route chat;
            llmopt_passthrough methods=GET;
            proxy_pass http://$llmopt_upstream;
        }
    }
}
CONF
$t->start();

my $msgs = '"messages":[{"role":"user","content":"hi"}]';
my $json = { 'Content-Type' => 'application/json' };

sub upstream_count {
    return scalar(@{ $t->mock_requests('openai') })
           + scalar(@{ $t->mock_requests('anthropic') });
}

my $r = $t->http('POST', '/v1/chat/completions', headers => $json,
                 body => qq({"model":"auto",$msgs}));
is($r->{status}, 200, 'POST to the endpoint: routed');
is($t->mock_last('openai')->{headers}{authorization},
   'Bearer sk-catalog-openai', '... with the catalog key');

$r = $t->http('POST', '/v1/messages', headers => $json,
              body => qq({"model":"auto","max_tokens":8,$msgs}));
is($r->{status}, 200, 'POST to /v1/messages: routed');

$r = $t->http('POST', '/v1/embeddings', headers => $json,
              body => '{"input":"x"}');
is($r->{status}, 404, 'a prefix location: POST to another path is a 404');

my $before = upstream_count();

# [method, path, status, dialect, Allow]
my @refuse = (
    [ 'DELETE', '/v1/chat/completions/chatcmpl-abc', 404, 'openai' ],
    [ 'GET',    '/v1/chat/completions/chatcmpl-abc', 404, 'openai' ],
    [ 'POST',   '/v1/chat/completions/chatcmpl-abc', 404, 'openai' ],
    [ 'POST',   '/v1/chat/completionsx',             404, 'openai' ],
    [ 'GET',    '/v1/chat/completions',              405, 'openai', 'POST' ],
    [ 'DELETE', '/v1/chat/completions',              405, 'openai', 'POST' ],
    [ 'OPTIONS', '/v1/chat/completions',             405, 'openai', 'POST' ],
    [ 'GET',    '/v1/messages',                      405, 'anthropic', 'POST' ],
    [ 'POST',   '/v1/messages/count_tokens',         404, 'anthropic' ],
    [ 'DELETE', '/v1/messages/batches/x',            404, 'anthropic' ],
    [ 'GET',    '/v1/models',                        404, 'openai' ],
    [ 'POST',   '/v1/files',                         404, 'openai' ],
    [ 'GET',    '/v1/chat/completions%2Fx',          404, 'openai' ],
    [ 'POST',   '/opt/v1/files',                     404, 'openai' ],
    [ 'DELETE', '/opt/v1/models/gpt-x',              405, 'openai',
      'GET, HEAD' ],
    [ 'GET',    '/opt/v1/modelsx',                   404, 'openai' ],
    # normalised, under /opt/v1/models; as sent (and sent on), not
    [ 'GET',    '/opt/v1/files/..%2Fmodels',         404, 'openai' ],
    # as sent, under /opt/v1/models; normalised, /opt/v1/files
    [ 'GET',    '/opt/v1/models/..%2F..%2Fv1%2Ffiles', 404, 'openai' ],
    # normalised, the endpoint; as sent on, not
    [ 'POST',   '/v1/x/..%2Fchat/completions',       404, 'openai' ],
    [ 'DELETE', '/any/v1/files/x',                   405, 'openai', 'GET' ],
    [ 'PUT',    '/any/v1/chat/completions',          405, 'openai',
      'GET, POST' ],
);

for my $c (@refuse) {
    my ($m, $path, $status, $dialect, $allow) = @$c;
    my %o = (headers => { %$json, Authorization => 'Bearer client' });
    $o{body} = '{"x":1}' if $m =~ /^(POST|PUT|DELETE)$/;
    $r = $t->http($m, $path, %o);
    is($r->{status}, $status, "$m $path: $status");
    my $e = eval { decode_json($r->{body}) } // {};
    if ($dialect eq 'openai') {
        ok(ref $e->{error} eq 'HASH' && defined $e->{error}{message}
           && $e->{error}{type} eq 'invalid_request_error',
           "$m $path: an OpenAI error") or diag($r->{body});
    } else {
        ok(($e->{type} // '') eq 'error'
           && ref $e->{error} eq 'HASH'
           && ($e->{error}{type} // '') eq ($status == 404 ? 'not_found_error'
                                            : 'invalid_request_error'),
           "$m $path: an Anthropic error") or diag($r->{body});
    }
    is($r->{headers}{allow}, $allow,
       "$m $path: " . (defined $allow ? "Allow: $allow" : 'no Allow'));
}

is(upstream_count(), $before, 'none of them reached an upstream');

# a keep-alive connection goes on after a refused request with a body
my $req1 = "DELETE /v1/chat/completions/x HTTP/1.1\r\nHost: l\r\n"
           . "Content-Length: 7\r\n\r\n{\"x\":1}";
my $req2 = "POST /v1/chat/completions HTTP/1.1\r\nHost: l\r\n"
           . "Connection: close\r\nContent-Type: application/json\r\n"
           . "Content-Length: " . length(qq({"model":"a",$msgs}))
           . "\r\n\r\n" . qq({"model":"a",$msgs});
$r = $t->http_raw($req1 . $req2, wait_close => 1);
like($r->{raw}, qr/^HTTP\/1\.1 404 .*HTTP\/1\.1 200 /s,
     'keep-alive: a 404 with its body discarded, then the next is routed');

# the opt-in: GET and HEAD of /opt/v1/models go on, with the fallback's key

$t->mock_reset('openai');
$r = $t->http('GET', '/opt/v1/models',
              headers => { Authorization => 'Bearer client' });
is($r->{status}, 200, 'llmopt_passthrough: GET /opt/v1/models passes');
is($r->{headers}{'x-reason'}, 'passthrough', '... as a passthrough');
my $up = $t->mock_last('openai');
is($up->{method}, 'GET', '... reaching the upstream');
is($up->{headers}{authorization}, 'Bearer sk-catalog-openai',
   '... with the fallback arm\'s key, as the operator opted in');

$r = $t->http('GET', '/opt/v1/models/gpt-x');
is(scalar @{ $t->mock_requests('openai') }, 2,
   'llmopt_passthrough: a sub-path of a path passes too');

$r = $t->http('GET', '/opt/v1/files/file-abc');
is(scalar @{ $t->mock_requests('openai') }, 3,
   'llmopt_passthrough: a second path, ending in /: what is under it');

$r = $t->http('GET', '/any/v1/files/x');
is(scalar @{ $t->mock_requests('openai') }, 4,
   'llmopt_passthrough without paths=: any path of the location');
$r = $t->http('GET', '/any/v1/chat/completions');
is(scalar @{ $t->mock_requests('openai') }, 5,
   '... the endpoint\'s own path too, for a method it opted in');

$t->done();
done_testing();
