#!/usr/bin/perl
# scripts/replay-cache (build/replay-cache) on the tests' RouterBench
# sample, written as a CSV with one model and a cost a row: with no
# repeats nothing hits; with repeats at 30 % the exact cache hits about
# as often and saves that share of the cost, losing no quality; reworded
# repeats hit the near-duplicate cache of short prompts, never a wrong
# one (the exact cache only when the same rewording came twice).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Llmopt::Test;
use Llmopt::RouterBench;

my $t = Llmopt::Test->new();
my $bin = $t->root . '/build/replay-cache';
ok(-x $bin, 'build/replay-cache is built (make check builds it)')
    or BAIL_OUT('make build/replay-cache');

# the sample's prompts as a RouterBench CSV: a Python list literal of one
# string, model "m" with gpt-4's correctness (the first model's, by name,
# where it has none) and a cost of $0.001 a row; a prompt the sample holds
# twice is kept once, so that only the injected repeats are repeats

my $csv = ",sample_id,prompt,eval_name,m,m|total_cost\n";
my $i = 0;
my %seen;
for my $row (Llmopt::RouterBench::rows(384)) {
    next if $seen{ $row->{prompt} }++;
    my $p = $row->{prompt};
    $p =~ s/\\/\\\\/g;
    $p =~ s/'/\\'/g;
    $p =~ s/\n/\\n/g;
    my $lit = "['$p']";
    $lit =~ s/"/""/g;
    my $c = $row->{correct};
    my ($model) = (grep({ $_ eq 'gpt-4-1106-preview' } keys %$c),
                   sort keys %$c);
    my $ok = defined $model ? $c->{$model} : 0;
    $csv .= sprintf(qq(%d,s.%d,"%s",sample,%.1f,0.001\n), $i, $i, $lit, $ok);
    $i++;
}
$t->write_file('data/sample.csv', $csv);
my $data = $t->path('data');

sub run {
    my (@args) = @_;
    my $out = `$bin --data $data --model m --requests 300 --seeds 4 @args 2>&1`;
    is($? >> 8, 0, "replay-cache @args") or diag($out);
    my %v;
    $v{$1} = [$2, $3]
        while $out =~ /^\s+(exact hit rate|near hit rate|cost saved|quality lost|false near hits)\s+(-?[\d.]+) % \+- ([\d.]+)/mg;
    return (\%v, $out);
}

my ($none) = run('--repeat 0 --near 0 --near-cache');
is($none->{'exact hit rate'}[0], '0.000', 'no repeats: no exact hits');
is($none->{'near hit rate'}[0], '0.000',
   'no repeats: no near hits (no two sample prompts are near duplicates)');

my ($rep, $out) = run('--repeat 0.3 --near 0');
my ($hit, $se) = @{ $rep->{'exact hit rate'} };
ok(abs($hit - 30) < 5, "repeats 30 %: exact hit rate $hit % +- $se");
ok($se > 0, 'a standard error from the seeds');
is($rep->{'cost saved'}[0], $hit,
   'one cost a row: the cost saved is the hit rate');
is($rep->{'quality lost'}[0], '0.000', 'exact hits lose no quality');
diag($out);

my ($near, $nout) = run('--repeat 0 --near 0.3 --near-cache');
ok($near->{'exact hit rate'}[0] < $near->{'near hit rate'}[0],
   "reworded: exact hits $near->{'exact hit rate'}[0] % only where the "
   . 'same rewording came twice');
ok($near->{'near hit rate'}[0] > 5,
   "reworded: near hits $near->{'near hit rate'}[0] % (short prompts)");
is($near->{'false near hits'}[0], '0.000', 'no false near hit');
is($near->{'quality lost'}[0], '0.000', 'no quality lost');
diag($nout);

$t->done();
done_testing();
