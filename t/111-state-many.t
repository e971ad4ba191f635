#!/usr/bin/perl
# A state file of many entries comes back whole: 100 policies, each with a
# budget and a canary, make more than 300 entries (a state file holds an
# entry a policy, and up to 8 more for the fleet, budgets, canaries, arms
# and sparse tables); they learn, nginx quits and starts again, and every
# policy has what it learned and its budget's spending; a reader with room
# for 256 entries ignored such a file and learning started anew.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);
use Llmopt::Test;

my $N = 100;
my $t = Llmopt::Test->new(module => 1);

$t->start_mock('openai');

my $catalog = <<'YAML';
models:
  a: {upstream: up_openai, model: model-a, price: {input: 1, output: 2}}
  b: {upstream: up_openai, model: model-b, price: {input: 3, output: 4}}
policies:
YAML
$catalog .= sprintf("  p%03d: {algorithm: thompson, seed: %d, arms: [a, b],"
                    . " budget: {day: 100, tenants: 1},"
                    . " canary: {arm: b, min_requests: 1000}}\n",
                    $_, $_ + 1) for 0 .. $N - 1;
$t->write_file('catalog.yaml', $catalog);

# a location per policy asked: the first, one in the middle, the last
my @asked = (0, 50, $N - 1);
my $locations = join('', map { sprintf(<<'LOC', $_, $_) } @asked);
        location /p%03d/v1/chat/completions {
            llmopt_route p%03d;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
        }
LOC

$t->write_conf(<<"CONF");
%%MODULE%%
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=100m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=20ms;
    llmopt_state_file llmopt/state interval=100ms;
    access_log off;

    upstream up_openai { server %%MOCK_OPENAI%%; }

    server {
        listen 127.0.0.1:%%PORT%%;
$locations
        location = /status { llmopt_status; }
    }
}
CONF

$t->start();

sub status {
    return decode_json($t->http('GET', '/status')->{body});
}

sub learned {
    my ($s, $p) = @_;
    my $n = 0;
    $n += $_->{updates} for values %{ $s->{policies}{$p}{arms} };
    return $n;
}

my %want;
for my $k (@asked) {
    my $p = sprintf('p%03d', $k);
    my $ok = 0;
    for (1 .. 10) {
        my $r = $t->http('POST', "/$p/v1/chat/completions",
                         headers => { 'Content-Type' => 'application/json' },
                         body => '{"messages":[{"role":"user",'
                                 . '"content":"hello"}]}');
        $ok++ if $r->{status} == 200;
    }
    is($ok, 10, "$p: 10 answers");
    $want{$p} = 10;
}

my $s;
my $deadline = time() + 15;
while (time() < $deadline) {
    $s = status();
    last unless grep { learned($s, $_) < $want{$_} } keys %want;
    sleep(0.05);
}
is(learned($s, $_), 10, "$_: 10 outcomes learned") for sort keys %want;
is(scalar keys %{ $s->{policies} }, $N, "$N policies");
my %spent = map { $_ => $s->{policies}{$_}{budget}{day}{spent} } keys %want;
ok($spent{$_} > 0, "$_: its budget spent \$$spent{$_}") for sort keys %want;

$t->stop();
my $state = $t->prefix() . '/llmopt/state';
ok(-s $state, 'the state file exists after quit');
$t->start();

$s = status();
is($s->{trainer}{restored}, $N, "all $N policies restored");
is(learned($s, $_), 10, "$_: its 10 outcomes back") for sort keys %want;
is($s->{policies}{$_}{budget}{day}{spent}, $spent{$_},
   "$_: and its budget's spending") for sort keys %want;
like($t->read_file('logs/error.log'),
     qr/llmopt_state_file "\Q$state\E": $N of $N policies restored/,
     'the restore is logged');
unlike($t->read_file('logs/error.log'), qr/learning starts anew/,
       'nothing starts anew');

$t->done();
done_testing();
