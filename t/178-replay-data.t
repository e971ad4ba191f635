#!/usr/bin/perl
# scripts/replay --data reads any CSV of the RouterBench schema: models
# from the headers, rows with a missing value skipped and counted, the
# baselines and the hull computed from the rows, each weight's figures
# with standard errors and stuck runs, --best, --json, --catalog/--policy;
# and bad input is one line naming file, row and column.  The CSVs are
# small ones the test writes itself.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Llmopt::Test;

my $t = Llmopt::Test->new();
my $root = $t->root;
my $prefix = $t->prefix;

sub replay { return $t->replay(@_) }

# a 3-model set: "cheap" right on the short prompts, "dear" always right,
# "mid" in between; prompts as RouterBench writes them (a Python list) and
# as plain text, one row with a missing cost, one with a NaN correctness

my (@rows, $oracle_cost);
my $state = 7;

for my $i (1 .. 400) {
    $state = ($state * 1103515245 + 12345) % 2147483648;
    my $long = $state % 2;
    my $prompt = $long ? '"[\'' . ('explain this at length ' x 20) . "$i']\""
                       : "question $i";
    my $cheap = $long ? 0 : 1;
    my $mid = ($state >> 8) % 3 ? 1 : 0;
    $oracle_cost += !$long ? 0.0001 : $mid ? 0.002 : 0.01;
    push @rows, join(',', $i, $prompt, $cheap, 1, $mid, '0.0001', '0.01',
                     '0.002', "\"an answer, $i\"");
}

push @rows, join(',', 401, 'missing cost', 1, 1, 1, '', '0.01', '0.002', 'x');
push @rows, join(',', 402, 'nan', 'nan', 1, 1, '0.0001', '0.01', '0.002', 'y');

my $header = 'id,prompt,cheap,dear,mid,cheap|total_cost,dear|total_cost,'
           . 'mid|total_cost,dear|model_response';

$t->write_file('three.csv', join("\n", $header, @rows) . "\n");

my ($rc, $out) = replay("--data $prefix/three.csv --seeds 4",
                        "--weights 0.1,0.5 --json $prefix/three.json");
is($rc, 0, 'replay of a 3-model CSV ran') or diag($out);
like($out, qr/400 rows \(2 with a missing value skipped\), 3 models/,
     'rows, skipped rows and models counted');

my $j = eval { decode_json($t->read_file('three.json')) };
ok($j, 'the JSON report parses') or diag($@);
is($j->{rows}, 400, 'JSON: rows');
is($j->{skipped}, 2, 'JSON: skipped');
is($j->{best}{model}, 'dear', 'the most accurate model is the best');
is(sprintf('%.4f', $j->{best}{accuracy}), '1.0000', "the best's accuracy");
is(sprintf('%.2f', $j->{best}{cost}), '4.00', "the best's cost, 400 x 0.01");

my %model = map { $_->{model} => $_ } @{ $j->{models} };
my $short = grep { !/explain/ } @rows[0 .. 399];
is(sprintf('%.4f', $model{cheap}{accuracy}), sprintf('%.4f', $short / 400),
   "cheap's accuracy is the share of short prompts");
ok($model{cheap}{se_accuracy} > 0, "a model's accuracy has its error");
is(sprintf('%.4f', $j->{oracle}{accuracy}), '1.0000',
   'the oracle is right on every row');
is(sprintf('%.4f', $j->{oracle}{cost}), sprintf('%.4f', $oracle_cost),
   'the oracle takes the cheapest right model');
ok(scalar @{ $j->{hull} } >= 2 && $j->{hull}[-1]{accuracy} == 1,
   'the hull ends at the most accurate model');
is(scalar @{ $j->{weights} }, 2, 'a figure per weight');

for my $w (@{ $j->{weights} }) {
    ok(defined $w->{se_accuracy} && defined $w->{se_cost}
       && defined $w->{distance_se} && defined $w->{stuck}
       && $w->{side} =~ /^(above|on|below)$/,
       "w $w->{w}: mean, standard errors, distance to the hull, stuck runs");
}

like($out, qr/target 1 .*not judged: 4 seeds/,
     'no target is judged on fewer than 20 seeds');

# the derived policy's options reach it through its catalog

($rc, $out) = replay("--data $prefix/three.csv --seeds 2 --weights 0.2",
                     "--algorithm ucb1 --decay 0.25");
is($rc, 0, '--algorithm ucb1 --decay 0.25 ran') or diag($out);
like($out, qr/policy "replay", ucb1, alpha 0\.3, exploration decay 0\.25/,
     'the derived policy has them (and ucb1 its own alpha)');

# --best

($rc, $out) = replay("--data $prefix/three.csv --seeds 2 --weights 0.2",
                     "--best mid");
is($rc, 0, '--best mid ran') or diag($out);
like($out, qr/% of always-mid/, '--best sets the reference');

($rc, $out) = replay("--data $prefix/three.csv --seeds 2 --best nobody");
is($rc, 1, '--best of an unknown model fails');
like($out, qr/--best "nobody" is not a model/, 'and says why');

# --catalog --policy: the policy's arms are the data's models

$t->write_file('catalog.yaml', <<'YAML');
models:
  small: {upstream: u, model: cheap, price: {input: 0, output: 0}}
  large: {upstream: u, model: dear, price: {input: 0, output: 0}}
policies:
  two:
    algorithm: lin_ts
    features: [bias, input_tokens]
    arms: [small, large]
  fixed:
    algorithm: static
    arms: [small]
YAML

$t->write_file('ghost.yaml', <<'YAML');
models:
  small: {upstream: u, model: cheap, price: {input: 0, output: 0}}
  ghost: {upstream: u, model: not-in-data, price: {input: 0, output: 0}}
policies:
  chat: {algorithm: ucb1, arms: [small, ghost]}
YAML

($rc, $out) = replay("--data $prefix/three.csv --seeds 2 --weights 0.3",
                     "--catalog $prefix/catalog.yaml --policy two");
is($rc, 0, '--catalog --policy ran') or diag($out);
like($out, qr/policy "two", lin_ts.*features \[bias, input_tokens\]/,
     'the catalog policy is what is replayed');

($rc, $out) = replay("--data $prefix/three.csv --seeds 2",
                     "--catalog $prefix/catalog.yaml --policy fixed");
is($rc, 1, 'a static policy is not replayed');
like($out, qr/policy "fixed" is static/, 'and says so');

($rc, $out) = replay("--data $prefix/three.csv --seeds 2",
                     "--catalog $prefix/ghost.yaml --policy chat");
is($rc, 1, 'an arm whose model is not in the data fails');
like($out, qr/arm "ghost" of policy "chat": model "not-in-data"/,
     'and names the arm and the model');

# bad input: one line naming file, row and column

my %bad = (
    'empty.csv'    => ['', qr/empty\.csv: row 1: empty file/],
    'noprompt.csv' => ["id,a,a|total_cost\n1,1,0.1\n",
                       qr/noprompt\.csv: row 1, column "prompt": missing/],
    'nomodel.csv'  => ["prompt,a,b|total_cost\nhi,1,0.1\n",
                       qr/nomodel\.csv: row 1: no model columns/],
    'text.csv'     => ["prompt,a,a|total_cost\nhi,1,0.1\nho,yes,0.1\n",
                       qr/text\.csv: row 3 \(line 3\), column "a": "yes" is not a correctness/],
    'range.csv'    => ["prompt,a,a|total_cost\nhi,2,0.1\n",
                       qr/range\.csv: row 2 \(line 2\), column "a": "2" is not a correctness in \[0, 1\]/],
    'cost.csv'     => ["prompt,a,a|total_cost\n\"hi\nthere\",1,0.1\nho,1,-3\n",
                       qr/cost\.csv: row 3 \(line 4\), column "a\|total_cost": "-3" is not a cost/],
    'fields.csv'   => ["prompt,a,a|total_cost\nhi,1\n",
                       qr/fields\.csv: row 2 \(line 2\): 2 columns, the header has 3/],
    'quote.csv'    => ["prompt,a,a|total_cost\n\"hi,1,0.1\n",
                       qr/quote\.csv: row 2 \(line 2\): not CSV/],
);

for my $name (sort keys %bad) {
    my ($text, $re) = @{ $bad{$name} };
    $t->write_file($name, $text);
    ($rc, $out) = replay("--data $prefix/$name --seeds 1");
    is($rc, 1, "$name: exit 1");
    like($out, $re, "$name: the error names file, row and column");
    is(scalar(() = $out =~ /\n/g), 1, "$name: one line") or diag($out);
}

# a second file must have the same models

$t->write_file('other.csv', "prompt,x,x|total_cost\nhi,1,0.1\n");
($rc, $out) = replay("--data $prefix/three.csv --data $prefix/other.csv",
                     "--seeds 1");
is($rc, 1, 'files of other models fail');
like($out, qr/other\.csv: row 1, column "x": a model .*three\.csv does not have/,
     'and say which column');

done_testing();

