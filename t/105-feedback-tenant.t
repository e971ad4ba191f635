#!/usr/bin/perl
# feedback_tenant: same.  Feedback counts only when the feedback request's
# tenant key (llmopt_tenant_key, evaluated on it) is the routed request's:
# another tenant's, or none, gets a 403 tenant_mismatch and the outcome
# still waits for its own tenant.  Without a tenant key a request is a
# tenant of its own.  The default (any) takes anyone's feedback, as
# before; signed tokens are checked first, then the tenant.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

$t->start_mock('openai');

$t->write_file('catalog.yaml', <<'YAML');
models:
  a: {upstream: up_openai, model: model-a, price: {input: 1, output: 2}}
policies:
  same:
    algorithm: static
    arms: [a]
    reward: {quality: 1, cost: 0, latency: 0}
    feedback_wait: 60000
    feedback_tenant: same
  anyone:
    algorithm: static
    arms: [a]
    reward: {quality: 1, cost: 0, latency: 0}
    feedback_wait: 60000
YAML

my $CONF = <<'CONF';
%%MODULE%%
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=2m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=20ms;
    %%SECRET%%

    upstream up_openai { server %%MOCK_OPENAI%%; }

    server {
        listen 127.0.0.1:%%PORT%%;
        llmopt_tenant_key $http_x_tenant;

        location /same/v1/chat/completions {
            llmopt_route same;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
        }
        location /anyone/v1/chat/completions {
            llmopt_route anyone;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
        }
        location = /feedback { llmopt_feedback; }
        location = /status { llmopt_status; }
    }

    # no llmopt_tenant_key but in one location
    server {
        listen 127.0.0.1:%%PORT_BARE%%;

        location /same/v1/chat/completions {
            llmopt_route same;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
        }
        location = /feedback { llmopt_feedback; }
        location = /keyed/feedback {
            llmopt_tenant_key $http_x_tenant;
            llmopt_feedback;
        }
    }
}
CONF

(my $conf = $CONF) =~ s/%%SECRET%%//;
$t->write_conf($conf);
$t->start();

# a routed request of policy $policy as $tenant (undef: no X-Tenant)

sub ask {
    my ($policy, $tenant, %o) = @_;
    my $r = $t->http('POST', "/$policy/v1/chat/completions",
                     port => $o{port} // $t->port,
                     headers => { 'Content-Type' => 'application/json',
                                  defined $tenant ? ('X-Tenant' => $tenant)
                                                  : () },
                     body => '{"messages":[{"role":"user","content":"q"}]}');
    is($r->{status}, 200, "a request of $policy as " . ($tenant // 'nobody'));
    return $r;
}

sub feedback {
    my ($what, $tenant, %o) = @_;
    my $r = $t->http('POST', $o{path} // '/feedback',
                     port => $o{port} // $t->port,
                     headers => { 'Content-Type' => 'application/json',
                                  defined $tenant ? ('X-Tenant' => $tenant)
                                                  : () },
                     body => encode_json({ %$what, score => 0.25 }));
    $r->{json} = eval { decode_json($r->{body}) };
    return $r;
}

my $refusals = 0;

sub refused {
    my ($f, $name) = @_;
    $refusals++;
    is($f->{status}, 403, "$name: 403");
    is_deeply($f->{json}, { error => {
        message => 'This request takes feedback from its own tenant only.',
        type => 'invalid_request_error', param => undef,
        code => 'tenant_mismatch' } },
        "$name: the feedback endpoint's error, tenant_mismatch");
}

sub learned {
    my $s = decode_json($t->http('GET', '/status')->{body});
    return $s->{policies}{$_[0]}{arms}{a}{updates} // 0;
}

# --- same: the request's own tenant only ------------------------------------

my $id = ask('same', 'alice')->{headers}{'x-llmopt-request-id'};
like($id, qr/^[0-9a-f]{32}$/, 'a request id');

refused(feedback({ id => $id }, 'bob'), 'same, bob scores alice\'s request');
refused(feedback({ id => $id }, undef),
        'same, feedback without a tenant key');
refused(feedback({ id => $id }, 'Alice'), 'same, tenant keys are exact');
is(learned('same'), 0, 'same: nothing learned from refused feedback');

my $f = feedback({ id => $id }, 'alice');
is($f->{status}, 200, 'same, alice scores her own request: accepted');
is_deeply($f->{json}, { status => 'accepted', id => $id }, '... the answer');
ok(defined Llmopt::Test::wait_for(sub { learned('same') == 1 }, 10),
   'same: her score was learned');

refused(feedback({ id => $id }, 'bob'),
        'same, bob after her feedback: still refused, not told it was given');
is(feedback({ id => $id }, 'alice')->{status}, 409,
   'same, alice again: duplicate');

is(feedback({ id => 'f' x 32 }, 'bob')->{status}, 404,
   'same: an unknown id is still 404');

# a request without a tenant key is a tenant of its own

$id = ask('same', undef)->{headers}{'x-llmopt-request-id'};
refused(feedback({ id => $id }, 'alice'),
        'same, alice scores a request without a tenant key');
is(feedback({ id => $id }, undef)->{status}, 200,
   'same, feedback without a tenant key for one without: accepted');

# --- the default: anyone's feedback -------------------------------------------

$id = ask('anyone', 'alice')->{headers}{'x-llmopt-request-id'};
$f = feedback({ id => $id }, 'bob');
is($f->{status}, 200, 'default, bob scores alice\'s request: accepted');

$id = ask('anyone', 'alice')->{headers}{'x-llmopt-request-id'};
is(feedback({ id => $id }, undef)->{status}, 200,
   'default, feedback without a tenant key: accepted');

# --- no llmopt_tenant_key configured ----------------------------------------------

my $bare = $t->port('bare');

$id = ask('same', 'alice', port => $bare)->{headers}{'x-llmopt-request-id'};
refused(feedback({ id => $id }, 'alice', port => $bare,
                 path => '/keyed/feedback'),
        'no tenant key on the request: a tenant\'s feedback');
is(feedback({ id => $id }, 'alice', port => $bare)->{status}, 200,
   'no tenant key on either: accepted (X-Tenant means nothing there)');

$id = ask('same', 'alice')->{headers}{'x-llmopt-request-id'};
refused(feedback({ id => $id }, 'alice', port => $bare),
        'a tenant\'s request, feedback where no tenant key is set');
is(feedback({ id => $id }, 'alice', port => $bare,
            path => '/keyed/feedback')->{status}, 200,
   'the same tenant key in another server: accepted');

my $s = decode_json($t->http('GET', '/status')->{body});
is($s->{feedback}{forbidden}, $refusals,
   'status: every tenant_mismatch counted as forbidden');

$t->stop();

# --- signed tokens ----------------------------------------------------------------

my $secret = 'another horse battery staple';
($conf = $CONF) =~ s/%%SECRET%%/llmopt_feedback_secret "$secret";/;
$t->write_conf($conf);
$t->start();

my $r = ask('same', 'alice');
my $token = $r->{headers}{'x-llmopt-feedback-token'} // '';
like($token, qr/^[0-9a-f]{32}\.[0-9a-f]{64}$/, 'tokens: a token');

(my $forged = $token) =~ s/.$/$& eq '0' ? '1' : '0'/e;
$f = feedback({ token => $forged }, 'alice');
is($f->{json}{error}{code}, 'invalid_token',
   'tokens: a forged token is invalid_token, whoever sends it');
refused(feedback({ token => $token }, 'bob'),
        'tokens, bob with alice\'s real token');
is(feedback({ token => $token }, 'alice')->{status}, 200,
   'tokens, alice with her token: accepted');

$r = ask('anyone', 'alice');
is(feedback({ token => $r->{headers}{'x-llmopt-feedback-token'} },
            'bob')->{status}, 200,
   'tokens, default policy: bob with alice\'s token: accepted');

# --- the catalog key ----------------------------------------------------------------

$t->write_file('bad.yaml', <<'YAML');
models:
  a: {upstream: up_openai, model: model-a, price: {input: 1, output: 2}}
policies:
  p: {algorithm: static, arms: [a], feedback_tenant: mine}
YAML
my ($rc, $out) = $t->nginx_t(<<'CONF');
%%MODULE%%
events { worker_connections 64; }
http {
    llmopt_catalog %%PREFIX%%/bad.yaml;
    upstream up_openai { server 127.0.0.1:1; }
}
CONF
isnt($rc, 0, 'catalog: feedback_tenant: mine fails nginx -t');
like($out, qr/bad\.yaml":4:\d+: "feedback_tenant" in policy "p" must be any or same/,
     '... saying where and what it may be');

$t->done();
done_testing();
