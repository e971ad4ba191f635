package Llmopt::Test;

# The integration-test harness: a real nginx with the built module in a
# temp prefix, on free loopback ports, with mock providers; raw HTTP/1.1,
# HTTP/2 through curl, SSE parsing, and an error-log check at the end of
# every test.  Core Perl only.  t/README.md describes the API.

use strict;
use warnings;

use Test::More;
use File::Temp qw(tempdir);
use File::Path qw(make_path remove_tree);
use File::Spec;
use Cwd qw(abs_path);
use IO::Socket::INET;
use Fcntl qw(:flock);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use JSON::PP;
use MIME::Base64;

our $NGINX = $ENV{LLMOPT_NGINX} // '/usr/sbin/nginx';
our $ROOT = abs_path(File::Spec->catdir(
                (File::Spec->splitpath(abs_path(__FILE__)))[1],
                '..', '..', '..'));
our $PORT_LOCKS = '/tmp/llmopt-test-ports';

my @LOG_BAD = (
    qr/\[alert\]/, qr/\[crit\]/, qr/\[emerg\]/, qr/count is zero/,
    qr/open socket/, qr/AddressSanitizer/, qr/runtime error:/,
    qr/LeakSanitizer/, qr/ERROR: .*Sanitizer/,
);

sub new {
    my ($class, %opt) = @_;

    my $self = bless {
        prefix   => tempdir('llmopt-t-XXXXXX', TMPDIR => 1),
        ports    => {},
        locks    => {},
        mocks    => {},
        allow    => [],
        started  => 0,
        module   => $opt{module} // 1,
        master   => 1,
        checked  => 0,
        pid      => $$,
    }, $class;

    for my $dir (qw(logs conf client_body_temp proxy_temp)) {
        make_path("$self->{prefix}/$dir");
    }

    if ($self->{module}) {
        my $so = $ENV{LLMOPT_MODULE};
        if (!defined $so || !-f $so) {
            BAIL_OUT('LLMOPT_MODULE does not name the built module; '
                     . 'run the tests with "make test"');
        }
        $self->{so} = $so;
    }

    return $self;
}

sub prefix { $_[0]{prefix} }
sub root { $ROOT }

# --- ports -----------------------------------------------------------------

# A free loopback port per name, held with a lock file so that parallel
# test files (prove -j) never pick the same one.

sub port {
    my ($self, $name) = @_;
    $name = lc($name // 'main');

    return $self->{ports}{$name} if $self->{ports}{$name};

    make_path($PORT_LOCKS);

    for (1 .. 500) {
        my $port = 20000 + int(rand(30000));
        next if grep { $_ == $port } values %{ $self->{ports} };

        open(my $fh, '>', "$PORT_LOCKS/$port") or next;
        if (!flock($fh, LOCK_EX | LOCK_NB)) {
            close($fh);
            next;
        }

        my $probe = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                          LocalPort => $port,
                                          Proto => 'tcp', ReuseAddr => 1,
                                          Listen => 1);
        if (!$probe) {
            close($fh);
            next;
        }
        close($probe);

        $self->{locks}{$port} = $fh;
        $self->{ports}{$name} = $port;
        return $port;
    }

    die "no free port";
}

# --- files -----------------------------------------------------------------

sub path {
    my ($self, $rel) = @_;
    return $rel =~ m{^/} ? $rel : "$self->{prefix}/$rel";
}

sub write_file {
    my ($self, $rel, $content) = @_;
    my $path = $self->path($rel);
    open(my $fh, '>:raw', $path) or die "$path: $!";
    print $fh $content;
    close($fh);
    return $path;
}

sub read_file {
    my ($self, $rel) = @_;
    my $path = $self->path($rel);
    open(my $fh, '<:raw', $path) or return '';
    local $/;
    my $s = <$fh>;
    close($fh);
    return $s // '';
}

sub read_lines {
    my ($self, $rel) = @_;
    return split /\n/, $self->read_file($rel);
}

# --- configuration ---------------------------------------------------------

sub expand {
    my ($self, $text) = @_;

    my $module = $self->{so} ? "load_module $self->{so};" : '';

    $text =~ s/%%MODULE%%/$module/g;
    $text =~ s/%%PREFIX%%/$self->{prefix}/g;
    $text =~ s/%%ROOT%%/$ROOT/g;
    $text =~ s/%%PORT%%/$self->port('main')/ge;
    $text =~ s/%%PORT_(\w+)%%/$self->port(lc $1)/ge;
    $text =~ s/%%MOCK_(\w+)%%/'127.0.0.1:' . $self->port('mock_' . lc $1)/ge;

    return $text;
}

sub write_conf {
    my ($self, $text) = @_;

    $text = $self->expand($text);
    $self->{master} = $text =~ /^\s*master_process\s+off\s*;/m ? 0 : 1;

    my $defaults = "pid $self->{prefix}/logs/nginx.pid;\n"
                   . "error_log $self->{prefix}/logs/error.log info;\n";
    $defaults .= "daemon on;\n" unless $text =~ /^\s*daemon\s/m;

    # load_module must come first: put the defaults after it
    if ($text =~ s/^(\s*load_module[^\n]*\n)//) {
        $text = $1 . $defaults . $text;
    } else {
        $text = $defaults . $text;
    }

    $self->{conf_text} = $text;
    return $self->write_file('conf/nginx.conf', $text);
}

# LLMOPT_NGINX_PRELOAD (make sanitize) is preloaded into nginx alone.

sub nginx_env {
    my %env = %ENV;
    $env{LD_PRELOAD} = $ENV{LLMOPT_NGINX_PRELOAD}
        if $ENV{LLMOPT_NGINX_PRELOAD};
    return %env;
}

sub nginx_args {
    my ($self, $errlog) = @_;
    return ($NGINX, '-p', "$self->{prefix}/", '-c',
            "$self->{prefix}/conf/nginx.conf", '-e', $errlog);
}

# "nginx -t": returns (exit code, output).  Writes to a log of its own so
# that expected [emerg] lines do not fail the error-log check.

sub nginx_t {
    my ($self) = @_;
    my @cmd = $self->nginx_args("$self->{prefix}/logs/nginx-t.log");
    my $cmd = join(' ', map { quotemeta } @cmd, '-t') . ' 2>&1';
    local %ENV = nginx_env();
    my $out = `$cmd`;
    return ($? >> 8, $out);
}

# --- nginx -----------------------------------------------------------------

sub start {
    my ($self) = @_;

    my @cmd = $self->nginx_args("$self->{prefix}/logs/error.log");
    local %ENV = nginx_env();

    if ($self->{master} == 0 || $self->{conf_text} =~ /^\s*daemon\s+off/m) {
        # runs in the foreground: fork it
        my $pid = fork();
        die "fork: $!" unless defined $pid;
        if ($pid == 0) {
            open(STDOUT, '>>', "$self->{prefix}/logs/stdout.log");
            open(STDERR, '>>', "$self->{prefix}/logs/stderr.log");
            exec(@cmd) or POSIX::_exit(127);
        }
        $self->{fg_pid} = $pid;
    } else {
        system(@cmd) == 0 or die "nginx did not start: "
                                 . $self->read_file('logs/error.log');
    }

    $self->{started} = 1;
    $self->wait_port($self->port('main'))
        or die "nginx is not listening: " . $self->read_file('logs/error.log');

    return $self;
}

sub master_pid {
    my ($self) = @_;
    return $self->{fg_pid} if $self->{fg_pid};
    my $pid = $self->read_file('logs/nginx.pid');
    $pid =~ s/\s+//g;
    return $pid || undef;
}

sub worker_pids {
    my ($self) = @_;
    my $master = $self->master_pid() or return ();
    return () unless $self->{master};
    my @pids;
    for my $line (`ps -o pid=,args= --ppid $master 2>/dev/null`) {
        my ($pid, $args) = $line =~ /^\s*(\d+)\s+(.*)$/ or next;
        push @pids, $pid if $args =~ /worker process/;
    }
    return @pids;
}

sub helper_pids {
    my ($self) = @_;
    my $master = $self->master_pid() or return ();
    my @pids;
    for my $line (`ps -o pid=,args= --ppid $master 2>/dev/null`) {
        my ($pid, $args) = $line =~ /^\s*(\d+)\s+(.*)$/ or next;
        push @pids, $pid if $args =~ /cache (manager|loader)/;
    }
    return @pids;
}

sub stop {
    my ($self) = @_;
    return unless $self->{started};

    my $pid = $self->master_pid();
    $self->{started} = 0;
    return unless $pid;

    kill('QUIT', $pid);
    my $deadline = time() + 10;
    while (time() < $deadline) {
        waitpid($pid, WNOHANG) if $self->{fg_pid};
        last unless kill(0, $pid);
        sleep(0.05);
    }
    if (kill(0, $pid)) {
        diag("nginx $pid did not quit in 10 s: killed");
        kill('KILL', $pid);
        waitpid($pid, 0) if $self->{fg_pid};
    }
    delete $self->{fg_pid};
}

# Reloads and waits until the new workers run (or, with expect_fail, until
# the old configuration is known to stay).

sub reload {
    my ($self, %opt) = @_;
    my $pid = $self->master_pid() or die "no master";
    my %old = map { $_ => 1 } $self->worker_pids();
    my $log_len = length($self->read_file('logs/error.log'));

    kill('HUP', $pid);

    my $deadline = time() + 10;
    while (time() < $deadline) {
        sleep(0.05);
        my $log = substr($self->read_file('logs/error.log'), $log_len);

        if ($opt{expect_fail}) {
            return 1 if $log =~ /\[emerg\]/;
            next;
        }

        my @new = grep { !$old{$_} } $self->worker_pids();
        my @still = grep { $old{$_} } $self->worker_pids();
        return 1 if @new && !@still;
    }

    diag('reload did not finish in 10 s');
    return 0;
}

sub kill_workers {
    my ($self, $sig) = @_;
    my @pids = $self->worker_pids();
    kill($sig // 'KILL', @pids);

    my %old = map { $_ => 1 } @pids;
    my $deadline = time() + 10;
    while (time() < $deadline) {
        sleep(0.05);
        my @now = $self->worker_pids();
        return @pids if @now >= @pids && !grep { $old{$_} } @now;
    }
    return @pids;
}

sub wait_port {
    my ($self, $port, $timeout) = @_;
    my $deadline = time() + ($timeout // 10);
    while (time() < $deadline) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Proto => 'tcp');
        if ($s) {
            close($s);
            return 1;
        }
        sleep(0.05);
    }
    return 0;
}

# --- mock providers ----------------------------------------------------------

sub start_mock {
    my ($self, $name, %opt) = @_;
    my $port = $self->port('mock_' . lc $name);
    my @args = ('--port', $port, '--name', "mock-$name");

    for my $k (sort keys %opt) {
        (my $flag = $k) =~ s/_/-/g;
        push @args, "--$flag", $opt{$k};
    }

    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open(STDOUT, '>>', "$self->{prefix}/logs/mock-$name.log");
        open(STDERR, '>>', "$self->{prefix}/logs/mock-$name.log");
        exec('node', "$ROOT/scripts/mock-provider", @args)
            or POSIX::_exit(127);
    }

    $self->{mocks}{$name} = { pid => $pid, port => $port };
    $self->wait_port($port) or die "mock $name did not start";
    return $port;
}

sub stop_mock {
    my ($self, $name) = @_;
    my $m = delete $self->{mocks}{$name} or return;
    kill('TERM', $m->{pid});
    waitpid($m->{pid}, 0);
}

sub mock_requests {
    my ($self, $name, $last) = @_;
    my $m = $self->{mocks}{$name} or die "no mock $name";
    my $r = $self->http('GET', '/_mock/requests'
                               . (defined $last ? "?last=$last" : ''),
                        port => $m->{port});
    my $list = decode_json($r->{body});

    for my $req (@$list) {
        $req->{body} = decode_base64($req->{body_b64} // '');
    }

    return $list;
}

# The most recent request a mock received, or undef.

sub mock_last {
    my ($self, $name) = @_;
    return $self->mock_requests($name, 1)->[0];
}

sub mock_reset {
    my ($self, $name) = @_;
    my $m = $self->{mocks}{$name} or die "no mock $name";
    $self->http('POST', '/_mock/reset', port => $m->{port});
}

# --- HTTP --------------------------------------------------------------------

sub http {
    my ($self, $method, $path, %opt) = @_;
    my $headers = $opt{headers} // {};
    my $body = $opt{body};

    my $req = "$method $path HTTP/1.1\r\nHost: localhost\r\n"
              . "Connection: close\r\n";

    for my $k (sort keys %$headers) {
        $req .= "$k: $headers->{$k}\r\n";
    }

    if (defined $body && !grep { lc eq 'transfer-encoding' } keys %$headers)
    {
        $req .= 'Content-Length: ' . length($body) . "\r\n";
    }

    $req .= "\r\n";
    $req .= $body if defined $body;

    return $self->http_raw($req, %opt);
}

# Sends bytes as they are (in pieces with pauses, if given as an array
# ref of [bytes, seconds to wait after]) and reads the whole answer.

sub http_raw {
    my ($self, $bytes, %opt) = @_;
    my $port = $opt{port} // $self->port('main');

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 10)
        or return { status => 0, error => "connect: $!" };
    binmode($s);

    my @parts = ref $bytes ? @$bytes : ([$bytes, 0]);
    for my $p (@parts) {
        local $SIG{PIPE} = 'IGNORE';
        print $s $p->[0];
        $s->flush();
        sleep($p->[1]) if $p->[1];
    }

    my $raw = '';
    my $deadline = time() + ($opt{timeout} // 30);
    while (time() < $deadline) {
        my $buf;
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        my $n = select(my $rout = $rin, undef, undef, 0.5);
        next unless $n;
        my $got = sysread($s, $buf, 65536);
        last unless $got;
        $raw .= $buf;
    }
    close($s);

    return parse_response($raw);
}

sub parse_response {
    my ($raw) = @_;
    my %r = (raw => $raw, status => 0, headers => {}, body => '');

    # skip interim 1xx answers (100 Continue)
    while ($raw =~ s/\AHTTP\/1\.[01] 1\d\d[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n//)
    {
        $r{continued} = 1;
    }

    my $end = index($raw, "\r\n\r\n");
    return \%r if $end < 0;

    my $head = substr($raw, 0, $end);
    my $body = substr($raw, $end + 4);
    my @lines = split /\r\n/, $head;
    my $status = shift @lines;
    ($r{status}) = $status =~ m{^HTTP/\d\.\d (\d+)};
    $r{status} //= 0;

    for my $l (@lines) {
        my ($k, $v) = $l =~ /^([^:]+):\s*(.*)$/ or next;
        $k = lc $k;
        $r{headers}{$k} = exists $r{headers}{$k} ? "$r{headers}{$k}, $v" : $v;
        push @{ $r{header_list}{$k} }, $v;
    }

    if (($r{headers}{'transfer-encoding'} // '') =~ /chunked/i) {
        my $out = '';
        while ($body =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $n = hex $1;
            last if $n == 0;
            $out .= substr($body, 0, $n);
            substr($body, 0, $n + 2) = '';
        }
        $body = $out;
    }

    $r{body} = $body;
    return \%r;
}

# Splits an event stream into events: [{event => name, data => text}]

sub sse_events {
    my ($self, $body) = @_;
    my @events;

    for my $block (split /\r?\n\r?\n/, $body) {
        next unless $block =~ /\S/;
        my %e;
        my @data;
        for my $line (split /\r?\n/, $block) {
            if ($line =~ /^event:\s?(.*)$/) {
                $e{event} = $1;
            } elsif ($line =~ /^data:\s?(.*)$/) {
                push @data, $1;
            }
        }
        $e{data} = join("\n", @data);
        push @events, \%e;
    }

    return @events;
}

# An HTTP/2 request through curl (prior knowledge, cleartext).

sub curl_h2 {
    my ($self, $method, $path, %opt) = @_;
    my $port = $opt{port} // $self->port('main');
    my @cmd = ('curl', '-s', '-i', '--http2-prior-knowledge', '-X', $method,
               '--max-time', '30');

    for my $k (sort keys %{ $opt{headers} // {} }) {
        push @cmd, '-H', "$k: $opt{headers}{$k}";
    }

    if (defined $opt{body}) {
        my $file = $self->write_file('curl-body', $opt{body});
        push @cmd, '--data-binary', "\@$file";
    }

    push @cmd, "http://127.0.0.1:$port$path";

    open(my $fh, '-|', @cmd) or die "curl: $!";
    binmode($fh);
    local $/;
    my $raw = <$fh> // '';
    close($fh);

    my %r = (raw => $raw, status => 0, headers => {}, body => '');
    $raw =~ s/\A(HTTP\/2 1\d\d[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n)+//;
    my $end = index($raw, "\r\n\r\n");
    return \%r if $end < 0;
    my @lines = split /\r\n/, substr($raw, 0, $end);
    my $status = shift @lines;
    ($r{status}) = $status =~ m{^HTTP/2 (\d+)};
    $r{version} = 2 if $status =~ m{^HTTP/2};
    for my $l (@lines) {
        my ($k, $v) = $l =~ /^([^:]+):\s*(.*)$/ or next;
        $r{headers}{lc $k} = $v;
    }
    $r{body} = substr($raw, $end + 4);
    return \%r;
}

# Runs a Node.js SDK client from t/sdk; returns (exit code, decoded JSON
# of its stdout or undef, raw output).

sub run_sdk {
    my ($self, $script, @args) = @_;
    my $cmd = join(' ', 'node', quotemeta("$ROOT/t/sdk/$script"),
                   map { quotemeta } @args) . ' 2>&1';
    my $out = `$cmd`;
    my $rc = $? >> 8;
    my ($json) = $out =~ /^(\{.*\})\s*\z/ms;
    my $data = defined $json ? eval { decode_json($json) } : undef;
    return ($rc, $data, $out);
}

# --- the error log -------------------------------------------------------------

sub allow_log {
    my ($self, $re) = @_;
    push @{ $self->{allow} }, $re;
}

sub check_log {
    my ($self) = @_;
    my @bad;

    for my $file (glob("$self->{prefix}/logs/error.log"),
                  glob("$self->{prefix}/logs/stderr.log"))
    {
        my $text = $self->read_file($file);
        for my $line (split /\n/, $text) {
            next unless grep { $line =~ $_ } @LOG_BAD;
            next if grep { $line =~ $_ } @{ $self->{allow} };
            push @bad, $line;
        }
    }

    $self->{checked} = 1;
    is(scalar @bad, 0, 'error log: no alert, crit, emerg or sanitizer report')
        or diag(join("\n", @bad[0 .. ($#bad < 20 ? $#bad : 19)]));
    return !@bad;
}

sub done {
    my ($self) = @_;
    $self->stop();
    $self->check_log();
    $self->cleanup();
}

sub cleanup {
    my ($self) = @_;
    return unless $self->{pid} == $$;

    $self->stop();
    for my $name (keys %{ $self->{mocks} }) {
        $self->stop_mock($name);
    }

    for my $port (keys %{ $self->{locks} }) {
        close($self->{locks}{$port});
        unlink("$PORT_LOCKS/$port");
    }
    $self->{locks} = {};

    return if !-d $self->{prefix} || $self->{cleaned}++;

    my $builder = Test::More->builder;
    if ($builder->is_passing && !$ENV{LLMOPT_KEEP}) {
        remove_tree($self->{prefix});
    } else {
        diag("test prefix kept: $self->{prefix}");
    }
}

sub DESTROY {
    my ($self) = @_;
    return unless $self->{pid} == $$;
    local $?;
    $self->cleanup();
}

1;
