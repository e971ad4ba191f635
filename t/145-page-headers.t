#!/usr/bin/perl
# llmopt's own endpoints are nobody's frame and are not sniffed: every
# answer of llmopt_status (JSON, Prometheus, the dashboard, the series,
# its errors) and of llmopt_feedback (accepted or refused) has
# X-Content-Type-Options: nosniff, X-Frame-Options: DENY and one
# Content-Security-Policy with frame-ancestors 'none' -- the dashboard's
# allowing its inline code and its own origin, the others nothing.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

$t->start_mock('openai');

$t->write_file('catalog.yaml', <<'YAML');
models:
  m: {upstream: up_openai, model: model-m, price: {input: 1, output: 2}}
policies:
  chat: {algorithm: static, arms: [m], feedback_wait: 60000}
YAML

$t->write_conf(<<'CONF');
%%MODULE%%
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=1m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    upstream up_openai { server %%MOCK_OPENAI%%; }

    server {
        listen 127.0.0.1:%%PORT%%;
        listen 127.0.0.1:%%PORT_H2%% http2;

        location /v1/chat/completions {
            llmopt_route chat;
            proxy_pass http://$llmopt_upstream;
        }
        location = /status { llmopt_status; }
        location = /feedback { llmopt_feedback; }
    }
}
CONF
$t->start();

my $DATA = "default-src 'none'; frame-ancestors 'none'";
my $PAGE = "default-src 'none'; script-src 'unsafe-inline'; "
           . "style-src 'unsafe-inline'; connect-src 'self'; "
           . "img-src 'self' data:; frame-ancestors 'none'";

sub guarded {
    my ($r, $name, $status, $csp) = @_;
    is($r->{status}, $status, "$name: $status");
    is_deeply($r->{header_list}{'x-content-type-options'}, ['nosniff'],
              "$name: X-Content-Type-Options: nosniff");
    is_deeply($r->{header_list}{'x-frame-options'}, ['DENY'],
              "$name: X-Frame-Options: DENY");
    is_deeply($r->{header_list}{'content-security-policy'}, [$csp],
              "$name: one Content-Security-Policy, frame-ancestors 'none'");
}

my $msgs = '"messages":[{"role":"user","content":"hi"}]';
my $r = $t->http('POST', '/v1/chat/completions',
                 headers => { 'Content-Type' => 'application/json' },
                 body => "{$msgs}");
is($r->{status}, 200, 'a routed request');
my $id = $r->{headers}{'x-llmopt-request-id'};
ok(!exists $r->{headers}{'x-frame-options'},
   'a routed answer is the provider\'s: no page headers of ours');

# --- llmopt_status --------------------------------------------------------------

my @status = (
    [ 'JSON', '/status', {}, 200, $DATA, qr{^application/json} ],
    [ 'JSON by ?format=', '/status?format=json', {}, 200, $DATA,
      qr{^application/json} ],
    [ 'Prometheus by ?format=', '/status?format=prometheus', {}, 200, $DATA,
      qr{^text/plain} ],
    [ 'Prometheus by Accept', '/status',
      { Accept => 'application/openmetrics-text' }, 200, $DATA, qr{^text/} ],
    [ 'dashboard by Accept', '/status',
      { Accept => 'text/html,application/xhtml+xml' }, 200, $PAGE,
      qr{^text/html} ],
    [ 'dashboard by ?format=', '/status?format=html', {}, 200, $PAGE,
      qr{^text/html} ],
    [ 'series', '/status?format=series', {}, 200, $DATA,
      qr{^application/json} ],
    [ 'a bad format', '/status?format=xml', {}, 400, $DATA,
      qr{^application/json} ],
);

for my $c (@status) {
    my ($name, $path, $headers, $status, $csp, $type) = @$c;
    $r = $t->http('GET', $path, headers => $headers);
    guarded($r, "status, $name", $status, $csp);
    like($r->{headers}{'content-type'}, $type, "status, $name: its type");
}

like($t->http('GET', '/status?format=html')->{body}, qr/<html/i,
     'the dashboard is still the page');

$r = $t->http('HEAD', '/status');
guarded($r, 'status, HEAD', 200, $DATA);

$r = $t->http('POST', '/status', body => 'x');
guarded($r, 'status, POST', 405, $DATA);

$r = $t->http('POST', '/status', body => 'x',
              headers => { Accept => 'text/html' });
guarded($r, 'status, POST from a browser', 405, $PAGE);

$r = $t->curl_h2('GET', '/status', port => $t->port('h2'));
guarded($r, 'status over HTTP/2', 200, $DATA);

# --- llmopt_feedback ------------------------------------------------------------

my $json = { 'Content-Type' => 'application/json' };
my @feedback = (
    [ 'accepted', 'POST', $json, qq({"id":"$id","score":1}), 200 ],
    [ 'a duplicate', 'POST', $json, qq({"id":"$id","score":1}), 409 ],
    [ 'unknown', 'POST', $json, '{"id":"' . ('0' x 32) . '","score":1}', 404 ],
    [ 'malformed', 'POST', $json, '{"id":1}', 400 ],
    [ 'not JSON', 'POST', { 'Content-Type' => 'text/plain' }, '{}', 415 ],
    [ 'too large', 'POST', $json, '{"x":"' . ('x' x 5000) . '"}', 413 ],
    [ 'GET', 'GET', {}, undef, 405 ],
);

for my $c (@feedback) {
    my ($name, $method, $headers, $body, $status) = @$c;
    $r = $t->http($method, '/feedback', headers => $headers,
                  defined $body ? (body => $body) : ());
    guarded($r, "feedback, $name", $status, $DATA);
    like($r->{headers}{'content-type'}, qr{^application/json},
         "feedback, $name: JSON");
}

$t->done();
done_testing();
