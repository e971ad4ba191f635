#!/usr/bin/perl
# The catalog: every bad catalog under t/catalog/ makes "nginx -t" fail
# naming file:line:column and the problem; good ones pass; the directives'
# own configuration errors are clear.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);
my $dir = "$FindBin::Bin/catalog";

sub conf_for {
    my ($http, $loc) = @_;
    $loc //= '';
    return <<"CONF";
%%MODULE%%
events { worker_connections 64; }
http {
    $http
    upstream u { server 127.0.0.1:1; }
    upstream openai { server 127.0.0.1:1; }
    upstream anthropic { server 127.0.0.1:1; }
    upstream mock_openai { server 127.0.0.1:1; }
    upstream mock_anthropic { server 127.0.0.1:1; }
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { $loc proxy_pass http://\$llmopt_upstream; }
    }
}
CONF
}

opendir(my $dh, $dir) or die "$dir: $!";
my @bad = sort grep { /^bad-.*\.yaml$/ } readdir($dh);
closedir($dh);

cmp_ok(scalar @bad, '>=', 30, 'bad catalogs to try');

for my $name (@bad) {
    my $file = "$dir/$name";
    open(my $fh, '<', $file) or die "$file: $!";
    my $first = <$fh>;
    close($fh);

    my ($line, $col, $msg) = $first =~ /^# expect: (\d+):(\d+): (.*?)\s*$/
        or die "$name: no '# expect:' line";

    $t->write_conf(conf_for("llmopt_zone name=z size=1m; "
                            . "llmopt_catalog $file;"));
    my ($rc, $out) = $t->nginx_t();

    isnt($rc, 0, "$name: nginx -t fails");
    like($out, qr/\[emerg\].*llmopt_catalog "\Q$file\E":$line:$col: .*\Q$msg\E/,
         "$name: names $line:$col and '$msg'");
}

for my $name (qw(good-full.yaml good-minimal.yaml)) {
    $t->write_conf(conf_for("llmopt_zone name=z size=1m; "
                            . "llmopt_catalog $dir/$name;"));
    my ($rc, $out) = $t->nginx_t();
    is($rc, 0, "$name: nginx -t passes") or diag($out);
}

my $demo = "llmopt_zone name=z size=1m; "
           . "llmopt_catalog %%ROOT%%/conf/catalog.yaml;";

$t->write_conf(conf_for($demo, 'llmopt_route chat;'));
my ($rc, $out) = $t->nginx_t();
is($rc, 0, 'conf/catalog.yaml passes nginx -t') or diag($out);
unlike($out, qr/\[warn\]/, 'no warnings for the demo catalog');

my @conf_errors = (
    [ 'unknown policy', $demo, 'llmopt_route nope;',
      qr/unknown policy "nope"/ ],
    [ 'route without catalog', '', 'llmopt_route chat;',
      qr/"llmopt_route" requires "llmopt_catalog"/ ],
    [ 'catalog without zone', 'llmopt_catalog %%ROOT%%/conf/catalog.yaml;',
      '', qr/"llmopt_catalog" requires "llmopt_zone"/ ],
    [ 'zone without size', 'llmopt_zone name=z;', '',
      qr/must have "name=" and "size="/ ],
    [ 'zone bad parameter', 'llmopt_zone name=z size=1m foo=1;', '',
      qr/invalid parameter "foo=1"/ ],
    [ 'route bad parameter', $demo, 'llmopt_route chat foo;',
      qr/invalid parameter "foo"/ ],
    [ 'missing catalog file',
      'llmopt_zone name=z size=1m; llmopt_catalog /nonexistent/c.yaml;', '',
      qr{llmopt_catalog "/nonexistent/c.yaml":0:0: } ],
    [ 'bad max_depth', $demo, 'llmopt_route chat; llmopt_max_depth 0;',
      qr/value must be between 2 and 1024/ ],
);

# a policy of anthropic models for openai clients: translated, not an error
$t->write_conf(conf_for($demo, 'llmopt_route messages dialect=openai;'));
($rc, $out) = $t->nginx_t();
is($rc, 0, 'dialect=openai on a policy of anthropic models passes')
    or diag($out);

for my $c (@conf_errors) {
    my ($what, $http, $loc, $re) = @$c;
    $t->write_conf(conf_for($http, $loc));
    my ($rc, $out) = $t->nginx_t();
    isnt($rc, 0, "$what: nginx -t fails");
    like($out, $re, "$what: says why");
}

# an upstream of the catalog that is no upstream{} block: a warning
$t->write_conf(<<'CONF');
%%MODULE%%
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=1m;
    llmopt_catalog %%ROOT%%/conf/catalog.yaml;
    upstream mock_openai { server 127.0.0.1:1; }
    server { listen 127.0.0.1:%%PORT%%; }
}
CONF
($rc, $out) = $t->nginx_t();
is($rc, 0, 'a missing upstream{} block is not fatal');
like($out,
     qr/\[warn\].*upstream "mock_anthropic" of model "claude-3-5-sonnet"/,
     'but it is warned about');

# strings that reach headers or the body: control characters refused at
# nginx -t, with the position, and never echoed (issue 15)
$t->write_file('crlf.yaml', <<'YAML');
models:
  m:
    upstream: u
    model: "gpt-4o\r\nX-Injected: 1"
    price: {input: 1, output: 2}
policies:
  p: {algorithm: ucb1, arms: [m]}
YAML
my $crlf = $t->path('crlf.yaml');
$t->write_conf(conf_for("llmopt_zone name=z size=1m; llmopt_catalog $crlf;",
                        'llmopt_route p;'));
($rc, $out) = $t->nginx_t();
isnt($rc, 0, 'a model id with CR/LF fails nginx -t');
like($out, qr/\[emerg\].*llmopt_catalog "\Q$crlf\E":4:12: invalid model id/,
     'at its position');
unlike($out, qr/X-Injected/, 'the rest of the id is not echoed');

$t->write_file('env.yaml', <<'YAML');
models:
  m:
    upstream: u
    price: {input: 1, output: 2}
    headers: {Authorization: "Bearer ${LLMOPT_TEST_KEY_NL}"}
policies:
  p: {algorithm: ucb1, arms: [m]}
YAML
my $env = $t->path('env.yaml');
$t->write_conf(conf_for("llmopt_zone name=z size=1m; llmopt_catalog $env;",
                        'llmopt_route p;'));
{
    local $ENV{LLMOPT_TEST_KEY_NL} = "sk-1\r\nX-Injected: 1";
    ($rc, $out) = $t->nginx_t();
}
isnt($rc, 0, 'an environment variable with CR/LF in a header value fails');
my $why = 'environment variable "LLMOPT_TEST_KEY_NL" in the value of header'
          . ' "Authorization" in model "m" contains a control character';
like($out, qr/\[emerg\].*llmopt_catalog "\Q$env\E":5:30: \Q$why\E/,
     'naming the variable, the header and the position');
unlike($out, qr/X-Injected|sk-1/, 'the value is not echoed');
{
    local $ENV{LLMOPT_TEST_KEY_NL} = "sk-1\tok";
    ($rc, $out) = $t->nginx_t();
}
is($rc, 0, 'a tab in it is fine') or diag($out);

$t->done();
done_testing();
