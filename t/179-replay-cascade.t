#!/usr/bin/perl
# scripts/replay --cascade runs the cascade core over a data set's
# answers beside the router: a cheap pair that agrees when it is right
# and disagrees when it is wrong, before a dear model that is always
# right; the cascade learns from a cold start to accept the pair's
# agreement and escalate its disagreement, and pays the pair on every row
# and the dear model on the escalated ones.  Bad --cascade values are one
# line each.  The CSV is one the test writes itself.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Llmopt::Test;

my $t = Llmopt::Test->new();
my $prefix = $t->prefix;

sub replay { return $t->replay(@_) }

my (@rows, $wrong);
my $state = 11;

for my $i (1 .. 600) {
    $state = ($state * 1103515245 + 12345) % 2147483648;
    my $bad = ($state >> 8) % 3 == 0;
    $wrong += $bad;
    my ($cheap, $twin) = $bad ? ("['C']", "['D']") : ("['B']", "['B\\n']");
    push @rows, join(',', $i, "\"['Question $i?\\nA) x\\nB) y\\nC) z']\"",
                     $bad ? 0 : 1, 1, 1, '0.0001', '0.0001', '0.01',
                     "\"$cheap\"", "\"$twin\"", "\"['B']\"");
}

my $header = 'id,prompt,cheap,twin,dear,cheap|total_cost,twin|total_cost,'
           . 'dear|total_cost,cheap|model_response,twin|model_response,'
           . 'dear|model_response';

$t->write_file('pair.csv', join("\n", $header, @rows) . "\n");

my ($rc, $out) = replay("--data $prefix/pair.csv --seeds 20",
                        "--weights 0.1 --cascade cheap+twin,dear");
is($rc, 0, 'replay --cascade ran') or diag($out);

my ($router, $cascade) = split /^cascade cheap\+twin,dear/m, $out;
ok(defined $cascade, 'the cascade has its report after the router\'s')
    or diag($out);

my $row = qr/^\s+0\.100\s+(\S+)\s+(\S+)\s+\S+\s+(\S+)\s+(\S+)/m;
my ($acc, $se_acc, $cost, $se_cost) = ($cascade // '') =~ $row;
ok(defined $acc, 'a figure at w 0.1') or diag($cascade);

# the pair costs 600 x 0.0002 = 0.12 $ whatever is decided; the dear model
# 0.01 $ per escalation: all the wrong rows, a share of the others while
# the model learns and forced escalations

my $pair = 600 * 0.0002;
my $all = $pair + $wrong * 0.01;
ok($acc >= 0.97, "the cascade is right on nearly every row ($acc)");
ok($se_acc > 0 && $se_cost > 0, 'with standard errors over the seeds');
ok($cost > $all - 1e-9, "it pays the pair and at least the wrong rows "
   . "($cost >= $all)");
ok($cost < $pair + 0.6 * 600 * 0.01,
   "and escalates far fewer than every row ($cost)");
like($cascade // '', qr/d\/se/, 'the same report: the distance to the hull');

($rc, $out) = replay("--data $prefix/pair.csv --seeds 2 --weights 0.1",
                     "--cascade cheap+nobody,dear");
is($rc, 1, 'an unknown model fails');
like($out, qr/--cascade: "nobody" is not a model of the data set/,
     'and is named');

($rc, $out) = replay("--data $prefix/pair.csv --seeds 2 --weights 0.1",
                     "--cascade cheap+twin");
is($rc, 1, 'one tier fails');
like($out, qr/--cascade needs two tiers or more/, 'and says so');

($rc, $out) = replay("--data $prefix/pair.csv --seeds 2 --weights 0.1",
                     "--cascade cheap+twin+dear,dear");
is($rc, 1, 'a tier of three fails');
like($out, qr/a tier is one model or a pair/, 'and says so');

done_testing();
