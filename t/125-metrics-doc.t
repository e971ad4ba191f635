#!/usr/bin/perl
# Every metric the Prometheus code emits has a row in the README's metrics
# table, and every metric of the table is emitted: the names are taken
# from the code (its metadata tables and its "# TYPE" lines) and from the
# table's first column ("{a,b}" expanded), so the two cannot drift apart.

use strict;
use warnings;
use FindBin;
use Test::More;

my $root = "$FindBin::Bin/..";

sub slurp {
    my ($path) = @_;
    open(my $fh, '<', $path) or die "$path: $!\n";
    local $/;
    return scalar <$fh>;
}

my %code;
for my $f (glob("$root/ngx_llmopt_module/*.c")) {
    my $c = slurp($f);
    $code{$1}++
        while $c =~ /\{\s*"(llmopt_\w+)",\s*"(?:counter|gauge|histogram)"/g;
    $code{$1}++ while $c =~ /# TYPE (llmopt_\w+) /g;
}

ok(keys %code > 40, scalar(keys %code) . ' metric names in the code');

my $readme = slurp("$root/README.md");
my ($table) = $readme =~ /\n(\| metric \| type \| labels \|\n(?:\|.*\n)+)/;
ok(defined $table, "the README's metrics table");

my %doc;
for my $row (split /\n/, $table // '') {
    my ($first) = $row =~ /^\|([^|]*)\|/;
    for my $name ($first =~ /`(llmopt_[\w{},]+)`/g) {
        if ($name =~ /^(\w*)\{([\w,]+)\}(\w*)$/) {
            $doc{"$1$_$3"}++ for split /,/, $2;
        } else {
            $doc{$name}++;
        }
    }
}

for my $name (sort keys %code) {
    ok($doc{$name}, "$name: in the README's table");
}

for my $name (sort keys %doc) {
    ok($code{$name}, "$name: the README's, emitted by the code");
}

done_testing();
