#!/usr/bin/perl
# Budgets: USD caps a day per policy and per tenant key, shared by two
# nginx instances through one Redis of the test's own.
#   1. Six clients (three at each instance) spend a policy's day cap of
#      $0.05 until both instances refuse at the cap: the two instances'
#      spend together never exceeds the cap by more than one request's
#      estimate, and Redis granted no more than the cap; the refusals are
#      429s in the client's dialect with a Retry-After that points at the
#      end of the UTC day.
#   2. Near a cap (near: 0.5) only the cheaper arm is chosen.
#   3. A tenant key at its cap is refused while another tenant is served;
#      an Anthropic client gets the refusal in its own dialect.
#   4. An instance alone (no Redis) keeps its budget's spend in its state
#      file: after a restart it has not got the day's cap to spend again.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(time sleep);
use Llmopt::Test;

my $A = Llmopt::Test->new(module => 1);
my $B = Llmopt::Test->new(module => 1);

my $RPORT = $A->start_redis();

*wait_for = \&Llmopt::Test::wait_for;

my $CAP = 0.05;

my $catalog = <<"YAML";
models:
  strong:  {upstream: up_openai, model: model-strong,
            price: {input: 10, output: 30}}
  strong2: {upstream: up_openai, model: model-strong2,
            price: {input: 10, output: 30}}
  cheap:   {upstream: up_openai, model: model-cheap,
            price: {input: 1, output: 3}}
  claude:  {upstream: up_openai, model: model-claude, api: anthropic,
            price: {input: 3, output: 15}}
policies:
  capped:
    algorithm: static
    arms: [strong, strong2]
    budget: {day: $CAP, chunk: 0.1}
  mixed:
    algorithm: static
    arms: [strong, cheap]
    budget: {day: 0.02, near: 0.5}
  tenants:
    algorithm: static
    arms: [cheap]
    budget: {tenant_day: 0.002}
  messages:
    algorithm: static
    arms: [claude]
    budget: {tenant_day: 0.003}
YAML

for my $t ($A, $B) {
    my $name = $t == $A ? 'a' : 'b';
    $t->start_mock('openai');
    $t->write_file('catalog.yaml', $catalog);
    $t->write_conf(<<"CONF");
%%MODULE%%
worker_processes 2;
events { worker_connections 256; }
http {
    llmopt_zone name=llmopt size=4m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=20ms;
    llmopt_redis 127.0.0.1:$RPORT instance=$name sync=200ms prefix=budget
                 timeout=1s;

    upstream up_openai { server %%MOCK_OPENAI%%; keepalive 8; }

    server {
        listen 127.0.0.1:%%PORT%%;
        llmopt_tenant_key \$http_x_tenant;
        add_header X-Arm \$llmopt_arm always;

        location /capped/v1/chat/completions {
            llmopt_route capped;
            proxy_pass http://\$llmopt_upstream/v1/chat/completions;
        }
        location /mixed/v1/chat/completions {
            llmopt_route mixed;
            proxy_pass http://\$llmopt_upstream/v1/chat/completions;
        }
        location /tenants/v1/chat/completions {
            llmopt_route tenants;
            proxy_pass http://\$llmopt_upstream/v1/chat/completions;
        }
        location /v1/messages {
            llmopt_route messages;
            proxy_pass http://\$llmopt_upstream/v1/messages;
        }
        location = /status { llmopt_status; }
    }
}
CONF
    $t->start();
}

sub status { return $_[0]->status_json(or_empty => 1) }

ok(wait_for(sub {
       (status($A)->{redis}{state} // '') eq 'up'
       && (status($B)->{redis}{state} // '') eq 'up' }),
   'both instances sync with Redis');

# a prompt of ~200 bytes and max_tokens 64; the mock answers 8 tokens, so
# the estimate (text / 4 in, 64 out, list prices) bounds the real cost

my $prompt = 'Summarise the plot of a short story about a lighthouse keeper '
           . 'who finds a message in a bottle and decides to answer it, in '
           . 'two sentences, for a reader of nine years of age, please.';

sub ask {
    my ($t, $path, %h) = @_;
    return $t->http('POST', $path,
                    headers => { 'Content-Type' => 'application/json',
                                 %{ $h{headers} // {} } },
                    body => encode_json({ model => 'auto', max_tokens => 64,
                        messages => [{ role => 'user',
                                       content => $prompt }] }));
}

# --- 1. two instances, one cap --------------------------------------------------

my $out = $A->prefix . '/clients';
mkdir $out;
my @kids;

for my $k (0 .. 5) {
    my $t = $k % 2 ? $B : $A;
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        my ($ok, $pending, $cap, $other, $in_a_row, $retry, $body) =
            (0, 0, 0, 0, 0, '', '');
        my $deadline = time() + 30;
        while (time() < $deadline && $in_a_row < 5) {
            my $r = ask($t, '/capped/v1/chat/completions');
            if ($r->{status} == 200) {
                $ok++;
                $in_a_row = 0;
            } elsif ($r->{status} == 429
                     && ($r->{headers}{'retry-after'} // '') eq '1') {
                $pending++;
                sleep(0.02);
            } elsif ($r->{status} == 429) {
                $cap++;
                $in_a_row++;
                $retry = $r->{headers}{'retry-after'} // '';
                $body = $r->{body};
                sleep(0.05);
            } else {
                $other++;
            }
        }
        open(my $fh, '>', "$out/$k.json") or POSIX::_exit(1);
        print $fh encode_json({ ok => $ok, pending => $pending, cap => $cap,
                                other => $other, retry => $retry,
                                body => $body });
        close($fh);
        POSIX::_exit(0);
    }
    push @kids, $pid;
}

waitpid($_, 0) for @kids;

my %sum = (ok => 0, pending => 0, cap => 0, other => 0);
my ($retry, $body);
for my $k (0 .. 5) {
    my $r = decode_json($A->read_file("clients/$k.json"));
    $sum{$_} += $r->{$_} for keys %sum;
    ($retry, $body) = ($r->{retry}, $r->{body}) if $r->{cap};
}

diag(sprintf('six clients: %d answered, %d refused at the cap, %d asked to '
             . 'retry while a grant was on its way, %d other',
             @sum{qw(ok cap pending other)}));

is($sum{other}, 0, 'no answer other than 200 and 429');
ok($sum{cap} >= 6 * 5, 'every client ends refused at the cap');

# settled: nothing in flight, every cost counted
ok(wait_for(sub {
       my ($a, $b) = (status($A), status($B));
       ($a->{policies}{capped}{budget}{reserved} // 1) == 0
       && ($b->{policies}{capped}{budget}{reserved} // 1) == 0 }),
   'nothing is reserved once the clients are done');

my ($sa, $sb) = (status($A), status($B));
my ($ba, $bb) = map { $_->{policies}{capped}{budget} } $sa, $sb;
my $spent = $ba->{day}{spent} + $bb->{day}{spent};

# the largest estimate: 200-odd bytes of text / 4 in, 64 out, at 10 and 30
my $est = (POSIX::ceil(length($prompt) / 4) * 10 + 64 * 30) / 1e6;

my $costs = 0;
for my $s ($sa, $sb) {
    $costs += $_->{cost_usd} for values %{ $s->{policies}{capped}{arms} };
}

diag(sprintf('spent: A $%.6f + B $%.6f = $%.6f of a $%.2f cap; one '
             . 'estimate $%.6f', $ba->{day}{spent}, $bb->{day}{spent},
             $spent, $CAP, $est));

ok($spent <= $CAP + $est,
   sprintf('the two instances spent $%.6f <= cap + one estimate ($%.6f)',
           $spent, $CAP + $est));
ok($spent >= $CAP * 0.6,
   sprintf('... and used the budget: $%.6f >= 60 %% of the cap', $spent));
ok(abs($spent - $costs) < 1e-6,
   sprintf('the budget counts what the arms cost: $%.6f = $%.6f',
           $spent, $costs));
is($ba->{requests} + $bb->{requests}, $sum{ok},
   'a reservation for every answer');

my $day = int(time() / 86400);
my %rec = split /\n/, $A->redis_cli('redis', 'HGETALL',
                                     "'{budget:capped}:budget:d$day:all'");
my $granted = 0;
$granted += $rec{$_} for grep { /^g:/ } keys %rec;
ok(exists $rec{'g:a'} && exists $rec{'g:b'} && $granted <= $CAP * 1e9,
   "Redis recorded grants of $granted nUSD to a and b, no more than the "
   . "cap");
is($ba->{day}{granted_all} <= $CAP && $bb->{day}{granted_all} <= $CAP, 1,
   'both instances saw the grants reach at most the cap');

my $to_midnight = ($day + 1) * 86400 - time();
ok($retry =~ /^\d+$/ && abs($retry - $to_midnight) < 5,
   "Retry-After $retry s: the end of the UTC day");
my $err = eval { decode_json($body) } // {};
is($err->{error}{code}, 'budget_exceeded', 'an OpenAI error: budget_exceeded');
is($err->{error}{type}, 'insufficient_quota', '... of type insufficient_quota');
ok(($sa->{policies}{capped}{rejected}{budget} // 0) > 0,
   'rejected.budget counts them');

my $prom = $A->http('GET', '/status?format=prometheus')->{body};
like($prom, qr/^llmopt_budget_spent_usd\{policy="capped",period="day"\} [\d.]+$/m,
     'metrics: llmopt_budget_spent_usd');
like($prom, qr/^llmopt_budget_refused_total\{policy="capped",reason="cap"\} [1-9]/m,
     'metrics: llmopt_budget_refused_total');

# --- 2. near the cap: the cheaper arm -------------------------------------------

my (@arms, $limited_from);
for my $i (1 .. 400) {
    my $r = ask($A, '/mixed/v1/chat/completions');
    last if $r->{status} == 429 && ($r->{headers}{'retry-after'} // 0) > 1;
    if ($r->{status} == 429) { sleep(0.03); next; }
    push @arms, $r->{headers}{'x-arm'} // '';
    if (!defined $limited_from
        && (status($A)->{policies}{mixed}{budget}{limited} // 0) > 0) {
        $limited_from = $#arms;
    }
}

my $mixed = status($A)->{policies}{mixed}{budget};
ok(defined $limited_from, "past half of the cap the policy was limited "
   . "(from request " . ($limited_from // -1) . ")");
my @before = @arms[0 .. ($limited_from // 0)];
my @after = @arms[($limited_from // 0) + 1 .. $#arms];
ok((grep { $_ eq 'strong' } @before) > 0, 'before: both arms were used');
my $dear = grep { $_ ne 'cheap' } @after;
ok(@after >= 10 && $dear == 0,
   sprintf('after: %d answers, %d of them from the dearer arm',
           scalar @after, $dear));
ok($mixed->{day}{spent} <= 0.02 + $est,
   sprintf('mixed spent $%.6f of $0.02', $mixed->{day}{spent}));

# --- 3. tenants ----------------------------------------------------------------

my ($t1_ok, $t1_cap) = (0, 0);
for my $i (1 .. 200) {
    my $r = ask($A, '/tenants/v1/chat/completions',
                headers => { 'X-Tenant' => 'tenant-one' });
    if ($r->{status} == 200) { $t1_ok++; next; }
    if (($r->{headers}{'retry-after'} // 0) > 1) { $t1_cap++; last; }
    sleep(0.03);
}
ok($t1_ok > 0 && $t1_cap == 1,
   "tenant-one: $t1_ok answers, then refused at its cap");
is(ask($A, '/tenants/v1/chat/completions',
       headers => { 'X-Tenant' => 'tenant-two' })->{status}, 200,
   'tenant-two is still served');
my $tb = status($A)->{policies}{tenants}{budget};
is($tb->{tenants}, 2, 'two tenant accounts');
unlike($A->http('GET', '/status')->{body}, qr/tenant-one/,
       'the status does not show tenant keys');

my $msg = sub {
    return $A->http('POST', '/v1/messages',
                    headers => { 'Content-Type' => 'application/json',
                                 'X-Tenant' => 'tenant-one',
                                 'anthropic-version' => '2023-06-01' },
                    body => encode_json({ model => 'auto', max_tokens => 64,
                        messages => [{ role => 'user',
                                       content => $prompt }] }));
};
is($msg->()->{status}, 200, 'anthropic: a period\'s first request goes');
my $r;
for (1 .. 50) {
    $r = $msg->();
    last if $r->{status} == 429 && ($r->{headers}{'retry-after'} // 0) > 1;
    sleep(0.03);
}
is($r->{status}, 429, 'anthropic: then 429 at the cap');
my $aerr = eval { decode_json($r->{body}) } // {};
is($aerr->{type}, 'error', '... an Anthropic error');
is($aerr->{error}{type}, 'rate_limit_error', '... rate_limit_error');

# --- 4. a restart does not give the day's cap back ----------------------------

my $C = Llmopt::Test->new(module => 1);
$C->start_mock('openai');
$C->write_file('catalog.yaml', $catalog);
$C->write_conf(<<'CONF');
%%MODULE%%
worker_processes 1;
events { worker_connections 64; }
http {
    llmopt_zone name=llmopt size=4m;
    llmopt_catalog %%PREFIX%%/catalog.yaml;
    llmopt_trainer interval=20ms;
    llmopt_state_file llmopt/state interval=100ms;

    upstream up_openai { server %%MOCK_OPENAI%%; keepalive 8; }

    server {
        listen 127.0.0.1:%%PORT%%;
        location /capped/v1/chat/completions {
            llmopt_route capped;
            proxy_pass http://$llmopt_upstream/v1/chat/completions;
        }
        location = /status { llmopt_status; }
    }
}
CONF
mkdir($C->prefix . '/llmopt');
$C->start();

my $answered = 0;
for (1 .. 20) {
    $answered++ if ask($C, '/capped/v1/chat/completions')->{status} == 200;
}
is($answered, 20, 'alone: 20 answers within the cap');
my $before = status($C)->{policies}{capped}{budget};
ok($before->{day}{spent} > 0 && !$before->{shared},
   sprintf('spent $%.6f, counted locally', $before->{day}{spent}));
ok(wait_for(sub { (status($C)->{trainer}{updates} // 0) >= 20 }),
   'the 20 answers are learned');

$C->stop();             # the master writes the state file a last time
$C->start();

my $after = status($C)->{policies}{capped}{budget};
ok(abs($after->{day}{spent} - $before->{day}{spent}) < 1e-9,
   sprintf('after a restart the day\'s spend is still $%.6f',
           $after->{day}{spent}));
is($after->{reserved}, 0, '... with nothing reserved');
like($C->read_file('logs/error.log'),
     qr/the budget of policy "capped" restored/, 'the log says so');

$A->done();
$B->done();
$C->done();
done_testing();
