package Llmopt::Ports;

# Free loopback ports for the tests and the benchmark scripts alike.
# Ports come from below the kernel's ephemeral range (so an outgoing
# connection cannot take one between the choice and nginx's bind), are
# checked with a bind, and stay locked (flock on
# /tmp/llmopt-test-ports/<port>) until released, so that parallel test
# files and scripts never pick the same one.

use strict;
use warnings;
use File::Path qw(make_path);
use IO::Socket::INET;
use Fcntl qw(:flock O_RDWR O_CREAT);

our $LOCKS = '/tmp/llmopt-test-ports';

# A free port, locked; its lock goes into %$locks (port => handle).
# Returns undef when none is found.

sub take {
    my ($locks) = @_;

    make_path($LOCKS);
    chmod(01777, $LOCKS);

    my ($lo, $hi) = range();

    for (1 .. 1000) {
        my $port = $lo + int(rand($hi - $lo + 1));
        next if $locks->{$port};

        my $lock = _lock($port) or next;
        if (!_free($port)) {
            _release($port, $lock);
            next;
        }

        $locks->{$port} = $lock;
        return $port;
    }

    return undef;
}

# Unlocks every port of %$locks and empties it.

sub release {
    my ($locks) = @_;
    _release($_, $locks->{$_}) for keys %$locks;
    %$locks = ();
}

sub range {
    my ($elo, $ehi) = (32768, 60999);

    if (open(my $fh, '<', '/proc/sys/net/ipv4/ip_local_port_range')) {
        my $line = <$fh> // '';
        ($elo, $ehi) = $line =~ /(\d+)\s+(\d+)/ ? ($1, $2) : ($elo, $ehi);
        close($fh);
    }

    return (10000, $elo - 1) if $elo > 12000;
    return ($ehi + 1, 65000) if $ehi < 63000;
    return (10000, 65000);
}

sub _lock {
    my ($port) = @_;
    my $path = "$LOCKS/$port";

    sysopen(my $fh, $path, O_RDWR | O_CREAT, 0666) or return undef;
    if (!flock($fh, LOCK_EX | LOCK_NB)) {
        close($fh);
        return undef;
    }

    # the holder before us may have unlinked the file after we opened it
    my @a = stat($fh);
    my @b = stat($path);
    if (!@b || $a[0] != $b[0] || $a[1] != $b[1]) {
        close($fh);
        return undef;
    }

    return $fh;
}

sub _release {
    my ($port, $fh) = @_;
    unlink("$LOCKS/$port");
    close($fh);
    return 1;
}

sub _free {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                  LocalPort => $port, Proto => 'tcp',
                                  ReuseAddr => 1, Listen => 1)
        or return 0;
    close($s);
    return 1;
}

1;
