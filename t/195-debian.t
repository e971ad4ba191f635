#!/usr/bin/perl
# README's "Debian's nginx", as written: its blocks are taken from
# README.md (```sh debian-run and ```<lang> debian:<path>), and run with
# Debian's /usr/sbin/nginx and Debian's own /etc/nginx/nginx.conf in a copy
# of the layout under the test's folder: /etc/nginx, /usr/lib/nginx,
# /var/lib/nginx, /var/log/nginx and /run there stand for the real ones,
# which the test never writes.  What the test changes of the blocks, and
# only that: those paths, the module's source path (the module under
# test), the provider (the mock over http for api.openai.com:443 over
# https) and the listening port.  The module loads from modules-enabled, a
# routed request succeeds with the key from llmopt_env_file, the state
# lands in /var/lib/nginx/llmopt/state, and a catalog naming a ${VAR} the
# env file lacks fails "nginx -t" on the terminal even from a shell that
# has it.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use File::Path qw(make_path);
use File::Copy qw(copy);
use Time::HiRes qw(sleep time);
use Llmopt::Test;

my $t = Llmopt::Test->new(module => 1);

$t->start_mock('openai');

my $root = $t->prefix() . '/root';
my $port = $t->port('main');
my $mock = '127.0.0.1:' . $t->mock_port('openai');

# --- the README's blocks ---------------------------------------------------

my $readme = $t->read_file(Llmopt::Test->root() . '/README.md');
my (@run, %file);
while ($readme =~ /^```(\S+) (debian-run|debian:(\S+))\n(.*?)^```$/msg) {
    if ($2 eq 'debian-run') {
        push @run, $4;
    } else {
        $file{$3} = $4;
    }
}

ok(@run >= 1, 'README: a debian-run block');
for my $f ('/etc/nginx/modules-enabled/50-mod-http-llmopt.conf',
           '/etc/nginx/llmopt.env', '/etc/nginx/conf.d/llmopt.conf')
{
    ok(defined $file{$f}, "README: a block for $f");
}

sub rooted {
    my ($s) = @_;
    $s =~ s{(?<![\w./-])/(etc/nginx|usr/lib/nginx|var/lib/nginx|var/log/nginx|run/nginx\.pid)}{$root/$1}g;
    return $s;
}

# --- Debian's layout, from this machine's own files (read only) -------------

make_path(map { "$root/$_" } qw(etc/nginx/modules-enabled etc/nginx/conf.d
                                etc/nginx/sites-enabled var/log/nginx run));
copy('/etc/nginx/mime.types', "$root/etc/nginx/mime.types")
    or die "copy mime.types: $!";

my $nginx_conf = $t->read_file('/etc/nginx/nginx.conf');
like($nginx_conf, qr{include /etc/nginx/modules-enabled/\*\.conf;},
     "Debian's nginx.conf includes modules-enabled");
like($nginx_conf, qr{include /etc/nginx/conf\.d/\*\.conf;},
     '... and conf.d');

# --- the install, as the README says ---------------------------------------

for my $block (@run) {
    for my $line (split /\n/, $block) {
        next if $line =~ /^\s*(#|$)/;
        my $cmd = rooted($line);
        $cmd =~ s{build/nginx/objs/ngx_http_llmopt_module\.so}{$ENV{LLMOPT_MODULE}}g;
        is(system('sh', '-c', $cmd), 0, "ran: $line");
    }
}

ok(-f "$root/usr/lib/nginx/modules/ngx_http_llmopt_module.so",
   'the module is in /usr/lib/nginx/modules');
is((getpwuid((stat("$root/var/lib/nginx/llmopt"))[4]))[0], 'www-data',
   '/var/lib/nginx/llmopt belongs to www-data');

for my $f (sort keys %file) {
    my $text = rooted($file{$f});
    if ($f =~ m{conf\.d/}) {
        $text =~ s{\bserver api\.openai\.com:443;}{server $mock;}
            or die "conf.d: no api.openai.com:443";
        $text =~ s{proxy_pass\s+https://}{proxy_pass http://}
            or die "conf.d: no https proxy_pass";
        $text =~ s{\blisten 8080;}{listen 127.0.0.1:$port;}
            or die "conf.d: no listen 8080";
    }
    $t->write_file(rooted($f), $text);
}
chmod(0600, "$root/etc/nginx/llmopt.env");

my ($key) = $file{'/etc/nginx/llmopt.env'} =~ /^OPENAI_API_KEY=(.*)$/m;
ok($key, 'the env file sets OPENAI_API_KEY');

my $catalog = <<'YAML';
models:
  small:
    upstream: api.openai.com
    model: gpt-4o-mini
    price: {input: 0.15, output: 0.6}
    headers: {Authorization: "Bearer ${OPENAI_API_KEY}"}
  large:
    upstream: api.openai.com
    model: gpt-4o
    price: {input: 2.5, output: 10}
    headers: {Authorization: "Bearer ${OPENAI_API_KEY}"}
policies:
  chat:
    algorithm: linucb
    arms: [small, large]
    features: [bias, input_tokens]
YAML
$t->write_file("$root/etc/nginx/llmopt/catalog.yaml", $catalog);

# Debian's nginx.conf, its paths under the root, with the harness's
# defaults (daemon, temp paths and its error log besides Debian's)
$t->write_conf(rooted($nginx_conf));

# --- nginx -t and the start ------------------------------------------------

delete local $ENV{OPENAI_API_KEY};

my ($rc, $out) = $t->nginx_t();
is($rc, 0, 'nginx -t passes') or diag($out);

$t->start();
ok($t->wait_port($port), 'nginx listens on the conf.d server');

my $r = $t->http('POST', '/v1/chat/completions', port => $port,
                 headers => { 'Content-Type' => 'application/json' },
                 body => '{"messages":[{"role":"user","content":"hi"}]}');
is($r->{status}, 200, 'a routed request succeeds') or diag($r->{body});
my $up = $t->mock_last('openai');
is($up->{headers}{authorization}, "Bearer $key",
   '... with the key from /etc/nginx/llmopt.env');
like($up->{body}, qr/"model":"gpt-4o(-mini)?"/, '... to an arm of the policy');

my $status = $t->http('GET', '/llmopt/status', port => $port);
is($status->{status}, 200, 'the status answers on loopback');
is(decode_json($status->{body})->{policies}{chat}{requests}, 1,
   '... and counted the request');

$t->stop();

my $state = "$root/var/lib/nginx/llmopt/state";
ok(-s $state, 'the state file is in /var/lib/nginx/llmopt');
ok(!-e $t->prefix() . '/llmopt/state', '... and not in the prefix');

# --- a ${VAR} the env file lacks: nginx -t says so on the terminal --------

(my $more = $catalog) =~ s/price: \{input: 2\.5, output: 10\}\n    headers: \{Authorization: "Bearer \$\{OPENAI_API_KEY\}"\}/price: {input: 2.5, output: 10}\n    headers: {Authorization: "Bearer \${OPENAI_API_KEY}", OpenAI-Organization: "\${OPENAI_ORG}"}/
    or die 'no second model to edit';
$t->write_file("$root/etc/nginx/llmopt/catalog.yaml", $more);

{
    local $ENV{OPENAI_ORG} = 'org-from-my-shell';
    ($rc, $out) = $t->nginx_t();
}
isnt($rc, 0, 'a ${VAR} missing from the env file: nginx -t fails, '
             . 'though the shell has it');
like($out, qr/\[emerg\].*environment variable "OPENAI_ORG" is not set.*llmopt_env_file/,
     '... and says which, on the terminal');

# with it in the file, it passes
$t->write_file("$root/etc/nginx/llmopt.env",
               rooted($file{'/etc/nginx/llmopt.env'})
               . "OPENAI_ORG='org-1'\n");
($rc, $out) = $t->nginx_t();
is($rc, 0, '... and passes once the env file has it') or diag($out);

$t->done();
done_testing();
