package Llmopt::RouterBench;

# Reads prompts and per-model correctness from CSVs in RouterBench's layout
# (mbpp_test.csv, arc_challenge_test.csv, winograde_test.csv).  Tests read
# the sample shipped in t/data/prompts (t/data/README.md); the full-size
# replays and benchmarks call full() first, which switches to RouterBench
# itself when the directory $LLMOPT_ROUTERBENCH names holds it (read in
# place, never copied; the scripts that want it set the variable's
# default).  Without it the sample stays.  Core Perl only.

use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Spec;

# the repository root, from this file's place in t/lib/Llmopt
my $ROOT = abs_path(File::Spec->catdir(dirname(__FILE__), '..', '..', '..'));

our $SAMPLE = File::Spec->catdir($ROOT, 't', 'data', 'prompts');
our $DIR = $SAMPLE;

my @SETS = qw(mbpp_test.csv arc_challenge_test.csv winograde_test.csv);

# Makes prompts() and rows() read the full RouterBench set when
# $LLMOPT_ROUTERBENCH names a directory that holds it:
# returns its directory, or undef (and the sample stays) when it is not.

sub full {
    my $full = $ENV{LLMOPT_ROUTERBENCH};
    return undef unless defined $full && length $full;
    return undef if grep { !-r File::Spec->catfile($full, $_) } @SETS;
    $DIR = $full;
    return $DIR;
}

# Splits a CSV text into rows of fields: quoted fields with "" escapes and
# embedded newlines.

sub parse_csv {
    my ($text) = @_;
    my (@rows, @row, $field);
    my $i = 0;
    my $n = length $text;

    $field = '';

    while ($i < $n) {
        my $c = substr($text, $i, 1);

        if ($c eq '"') {
            $i++;
            while ($i < $n) {
                my $d = substr($text, $i, 1);
                if ($d eq '"') {
                    if (substr($text, $i + 1, 1) eq '"') {
                        $field .= '"';
                        $i += 2;
                        next;
                    }
                    $i++;
                    last;
                }
                $field .= $d;
                $i++;
            }
            next;
        }

        if ($c eq ',') {
            push @row, $field;
            $field = '';
        } elsif ($c eq "\n") {
            push @row, $field;
            push @rows, [@row];
            @row = ();
            $field = '';
        } elsif ($c ne "\r") {
            $field .= $c;
        }

        $i++;
    }

    if (@row || length $field) {
        push @row, $field;
        push @rows, [@row];
    }

    return \@rows;
}

# Returns up to $count prompt texts taken round-robin from the three test
# sets.  The prompt column is a Python list literal of strings: its first
# string is taken, with \n, \' and \\ undone.

sub prompts {
    my ($count) = @_;

    return map { $_->{prompt} } rows($count);
}

# Returns up to $count rows, round-robin as prompts(), each
# { prompt => text, set => file name, correct => { model => 0|1 } } for the
# models whose correctness the row gives.

sub rows {
    my ($count) = @_;
    my @sets;

    for my $name (@SETS) {
        my $path = File::Spec->catfile($DIR, $name);
        open(my $fh, '<:raw', $path) or die "routerbench: $path: $!";
        local $/;
        my $rows = parse_csv(<$fh>);
        close($fh);

        my $head = shift @$rows;
        my ($col) = grep { $head->[$_] eq 'prompt' } 0 .. $#$head;
        die "routerbench: $path: no prompt column" unless defined $col;

        # correctness columns: a model's name alone (its response and cost
        # columns carry a "|" suffix)
        my %models = map { $head->[$_] => $_ }
                     grep { $head->[$_] =~ m{^[\w./-]+$}
                            && $head->[$_] !~ /^(sample_id|prompt|eval_name)$/
                            && $head->[$_] ne '' } 0 .. $#$head;

        my @set;
        for my $row (@$rows) {
            next unless defined $row->[$col] && length $row->[$col];
            my %correct;
            for my $m (keys %models) {
                my $v = $row->[ $models{$m} ];
                $correct{$m} = $v + 0 if defined $v && $v =~ /^\d+(\.\d+)?$/;
            }
            push @set, { prompt => unquote($row->[$col]), set => $name,
                         correct => \%correct };
        }

        push @sets, \@set;
    }

    my @out;
    my $k = 0;

    while (@out < $count) {
        my $set = $sets[$k % @sets];
        my $p = $set->[int($k / @sets)];
        last unless defined $p;
        push @out, $p;
        $k++;
    }

    return @out;
}

sub unquote {
    my ($s) = @_;

    if ($s =~ /^\[\s*(['"])(.*)\1\s*\]\s*$/s) {
        $s = $2;
        $s =~ s/\\(n|t|'|"|\\)/$1 eq 'n' ? "\n" : $1 eq 't' ? "\t" : $1/ge;
    }

    return $s;
}

1;
