package Llmopt::Test;

# The integration-test harness: a real nginx (with the llmopt module when
# $LLMOPT_MODULE names it) in a temp prefix, on free loopback ports, with
# mock providers; raw HTTP/1.1, HTTP/2 through curl, SSE parsing, the
# official SDKs, and an error-log check at the end of every test.  Core
# Perl only.  t/README.md describes the API; t/000-harness.t tests it.

use strict;
use warnings;

use Test::More;
use File::Temp qw(tempdir);
use File::Path qw(make_path remove_tree);
use File::Basename qw(basename dirname);
use File::Spec;
use Cwd qw(abs_path);
use IO::Socket::INET;
use IO::Select;
use POSIX qw(WNOHANG);
use Scalar::Util qw(weaken refaddr);
use Time::HiRes qw(sleep time);
use JSON::PP;
use Llmopt::Ports;
use MIME::Base64 qw(decode_base64);

our $NGINX = $ENV{LLMOPT_NGINX} // '/usr/sbin/nginx';
our $ROOT = abs_path(File::Spec->catdir(dirname(abs_path(__FILE__)),
                                        '..', '..', '..'));

# Lines that fail the error-log check.
our @LOG_BAD = (
    qr/\[alert\]/, qr/\[crit\]/, qr/\[emerg\]/, qr/count is zero/,
    qr/open socket/, qr/AddressSanitizer/, qr/runtime error:/,
    qr/LeakSanitizer/, qr/ERROR: \w*Sanitizer/,
);

# Every harness alive in this process, and every prefix made, for END.
my %LIVE;
my @DIRS;

# A harness with its own temp prefix.  Options: module => 1 (the test needs
# the module: need_module), keep => 1 (keep the prefix even on success),
# timeout => seconds (a watchdog for the whole test, default 300, 0: none).
# The prefix is removed at the end of a passing test, else kept and named.

sub new {
    my ($class, %opt) = @_;

    my $script = basename($0);
    $script =~ s/\.t$//;
    $script =~ s/[^\w-]/_/g;

    my $prefix = tempdir("llmopt-$script-XXXXXX", TMPDIR => 1);

    # workers run as "nobody" when the tests run as root: they must be
    # able to reach the files of the prefix
    chmod(0755, $prefix);

    my $self = bless {
        prefix   => $prefix,
        ports    => {},
        locks    => {},
        mocks    => {},
        allow    => [],
        started  => 0,
        master   => 1,
        done     => 0,
        pid      => $$,
    }, $class;

    $LIVE{ refaddr $self } = $self;
    weaken($LIVE{ refaddr $self });

    $self->{dir} = { path => $prefix, pid => $$,
                     keep => $opt{keep} // $ENV{LLMOPT_KEEP} };
    push @DIRS, $self->{dir};

    for my $dir (qw(logs conf client_body_temp proxy_temp fastcgi_temp
                    uwsgi_temp scgi_temp))
    {
        make_path("$prefix/$dir");
    }

    my $so = $ENV{LLMOPT_MODULE};
    if (defined $so && $so ne '') {
        $self->{so} = -f $so ? abs_path($so) : $so;
    }

    _install_guards($opt{timeout} // 300);

    $self->need_module() if $opt{module};

    return $self;
}

sub prefix { $_[0]{prefix} }
sub root { $ROOT }

# --- the module -------------------------------------------------------------

# The absolute path of the module; undef when $LLMOPT_MODULE is unset or
# names no file.

sub module_path {
    my ($self) = @_;
    return $self->{so} && -f $self->{so} ? $self->{so} : undef;
}

sub has_module {
    my ($self) = @_;
    return defined $self->module_path();
}

# For tests that need the module: without it the test fails right here,
# with a message that names the fix, and exits.  Never a silent skip.

sub need_module {
    my ($self) = @_;
    return $self->{so} if $self->has_module();

    my $why = defined $self->{so}
        ? "LLMOPT_MODULE=$self->{so} is not a file"
        : 'LLMOPT_MODULE is not set';

    fail("the llmopt module is available");
    diag("$why: this test needs the built module; run \"make check\", or "
         . "set LLMOPT_MODULE to the absolute path of "
         . "build/nginx/objs/ngx_http_llmopt_module.so");

    $self->{done} = 1;
    $self->_release_ports();
    remove_tree($self->{prefix});
    done_testing() unless Test::More->builder->has_plan;
    exit(1);
}

# --- ports ------------------------------------------------------------------

# A free loopback port per name, stable within the test, locked until the
# test ends (Llmopt::Ports).

sub port {
    my ($self, $name) = @_;
    $name = lc($name // 'main');

    return $self->{ports}{$name} if $self->{ports}{$name};

    my $port = Llmopt::Ports::take($self->{locks});
    my ($lo, $hi) = Llmopt::Ports::range();
    defined $port or die "no free loopback port in $lo-$hi after 1000 tries";

    $self->{ports}{$name} = $port;
    return $port;
}

sub ports {
    my ($self) = @_;
    return { %{ $self->{ports} } };
}

sub _release_ports {
    my ($self) = @_;
    Llmopt::Ports::release($self->{locks});
}

# --- the replay -------------------------------------------------------------

# Runs build/replay (made first, once) with @args, joined by spaces as a
# shell command; returns its exit status and its output, stderr too.

sub replay {
    my ($self, @args) = @_;
    $self->{replay_built} //=
        system("make -s -C $ROOT build/replay >/dev/null") == 0;
    die "build/replay does not build\n" unless $self->{replay_built};
    my $cmd = join(' ', "$ROOT/build/replay", @args);
    my $out = `$cmd 2>&1`;
    return ($? >> 8, $out);
}

# Two tests: nginx's decisions ([arm, propensity] per request, "-" when a
# header was missing) and the replay's (["n", arm, propensity] lines of
# build/replay --catalog) name the same arm, and the same propensity
# within 1e-6, for every request; the first arm that differs is named.
sub same_decisions {
    my ($nginx, $replay) = @_;
    my ($same_arm, $same_p, $first) = (0, 0, undef);

    for my $i (0 .. $#$nginx) {
        my ($n, $arm, $p) = @{ $replay->[$i] // [] };

        if (defined $arm && $arm eq $nginx->[$i][0]) {
            $same_arm++;
        } else {
            $first //= "request " . ($i + 1) . ": nginx $nginx->[$i][0], "
                       . "replay " . ($arm // 'none');
        }

        $same_p++ if defined $p && $nginx->[$i][1] ne '-'
                     && abs($p - $nginx->[$i][1]) < 1e-6;
    }

    is($same_arm, scalar @$nginx, 'the same arm for every request'
                                  . ($first ? " (first difference: $first)"
                                            : ''));
    is($same_p, scalar @$nginx, 'the same propensity for every request');
}

# --- files ------------------------------------------------------------------

sub path {
    my ($self, $rel) = @_;
    return $rel =~ m{^/} ? $rel : "$self->{prefix}/$rel";
}

sub write_file {
    my ($self, $rel, $content) = @_;
    my $path = $self->path($rel);
    make_path(dirname($path));
    open(my $fh, '>:raw', $path) or die "$path: $!";
    print $fh $content;
    close($fh) or die "$path: $!";
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

# --- configuration ----------------------------------------------------------

sub expand {
    my ($self, $text) = @_;

    my $so = $self->module_path();
    my $module = defined $so ? "load_module $so;" : '';

    $text =~ s/%%MODULE%%/$module/g;
    $text =~ s/%%PREFIX%%/$self->{prefix}/g;
    $text =~ s/%%ROOT%%/$ROOT/g;
    $text =~ s/%%PORT%%/$self->port('main')/ge;
    $text =~ s/%%PORT_(\w+?)%%/$self->port(lc $1)/ge;
    $text =~ s/%%MOCK_(\w+?)%%/$self->_mock_addr(lc $1)/ge;

    if ($text =~ /(%%\w*%%)/) {
        die "unknown placeholder $1 (known: %%MODULE%% %%PREFIX%% %%ROOT%% "
            . "%%PORT%% %%PORT_<NAME>%% %%MOCK_<NAME>%%)";
    }

    return $text;
}

sub _mock_addr {
    my ($self, $name) = @_;
    my $m = $self->{mocks}{$name}
        or die "%%MOCK_\U$name\E%%: no mock \"$name\" was started "
               . "(call start_mock before write_conf)";
    return "127.0.0.1:$m->{port}";
}

# The configuration with the harness's defaults: pid and error_log in the
# prefix (error_log at "info"), "daemon on", and temp paths in the prefix,
# each unless the text sets it already.

sub _with_defaults {
    my ($self, $text) = @_;
    my $p = $self->{prefix};
    my $main = '';

    $main .= "daemon on;\n" unless $text =~ /^\s*daemon\s/m;
    $main .= "pid $p/logs/nginx.pid;\n" unless $text =~ /^\s*pid\s/m;
    $main .= "error_log $p/logs/error.log info;\n"
        unless $text =~ m{^\s*error_log\s+\S*logs/error\.log[\s;]}m;

    my $http = '';
    for my $kind (qw(client_body proxy fastcgi uwsgi scgi)) {
        next if $text =~ /^\s*${kind}_temp_path\s/m;
        $http .= "    ${kind}_temp_path $p/${kind}_temp;\n";
    }
    $text =~ s/^(\s*http\s*\{)/$1\n$http/m;

    # load_module lines stay first: the defaults go right after them
    if ($text =~ s/\A((?:\s*(?:#[^\n]*|load_module[^\n]*)?\n)*)//) {
        return $1 . $main . $text;
    }
    return $main . $text;
}

sub write_conf {
    my ($self, $text) = @_;

    $text = $self->expand($text);

    if ($ENV{LLMOPT_SINGLE}) {
        # scripts/valgrind: every test in one process, in the foreground
        $text =~ s/^\s*(master_process|daemon)\s+\w+\s*;[ \t]*\n//mg;
        $text =~ s/^(\s*events\s*\{)/master_process off;\ndaemon off;\n$1/m;
    }

    $text = $self->_with_defaults($text);

    $self->{master} = $text =~ /^\s*master_process\s+off\s*;/m ? 0 : 1;
    $self->{daemon} = $text =~ /^\s*daemon\s+off\s*;/m ? 0 : 1;

    my ($pid) = $text =~ /^\s*pid\s+([^;\s]+)\s*;/m;
    $self->{pid_file} = $pid =~ m{^/} ? $pid : "$self->{prefix}/$pid";

    my %listen;
    while ($text =~ /^\s*listen\s+(?:[\d.]+:|\[[^\]]*\]:|localhost:)?(\d+)/mg)
    {
        $listen{$1} = 1;
    }
    $self->{listen} = [sort keys %listen];

    $self->{conf_text} = $text;
    return $self->write_file('conf/nginx.conf', $text);
}

sub conf_text { $_[0]{conf_text} }

# LLMOPT_NGINX_PRELOAD (make sanitize) is preloaded into nginx alone.

sub _nginx_env {
    my %env = %ENV;
    $env{LD_PRELOAD} = $ENV{LLMOPT_NGINX_PRELOAD}
        if $ENV{LLMOPT_NGINX_PRELOAD};
    return %env;
}

# LLMOPT_NGINX_WRAPPER (scripts/valgrind) runs nginx under another
# program, e.g. "valgrind --log-file=...".

sub _nginx_args {
    my ($self, $conf, $errlog) = @_;
    my @wrap = split ' ', $ENV{LLMOPT_NGINX_WRAPPER} // '';
    return (@wrap, $NGINX, '-p', "$self->{prefix}/", '-c', $conf,
            '-e', $errlog);
}

# "nginx -t" of conf/nginx.conf, or of $text (expanded, with the defaults,
# written to conf/nginx-t.conf).  Returns (exit code, output).  It logs to
# logs/nginx-t.log, outside the error-log check, so that a test of a bad
# configuration leaves nothing to allow.

sub nginx_t {
    my ($self, $text) = @_;
    my $conf = "$self->{prefix}/conf/nginx.conf";

    if (defined $text) {
        $conf = $self->write_file('conf/nginx-t.conf',
                                  $self->_with_defaults($self->expand($text)));
    }

    my $out = "$self->{prefix}/logs/nginx-t.out";
    unlink($out);
    my $rc = _run($out, $self->_nginx_args($conf,
                                           "$self->{prefix}/logs/nginx-t.log"),
                  '-t');
    return ($rc, $self->read_file($out));
}

# Starts a command with nginx's environment, its output appended to $out;
# returns its pid.

sub _spawn {
    my ($out, @cmd) = @_;
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        %ENV = _nginx_env();
        open(STDOUT, '>>', $out) or POSIX::_exit(127);
        open(STDERR, '>&', \*STDOUT) or POSIX::_exit(127);
        exec(@cmd) or POSIX::_exit(127);
    }
    return $pid;
}

# The same, waiting for it: returns its exit code.

sub _run {
    my ($out, @cmd) = @_;
    waitpid(_spawn($out, @cmd), 0);
    return $? >> 8;
}

# --- nginx ------------------------------------------------------------------

sub start {
    my ($self) = @_;

    die "start: write_conf first" unless defined $self->{conf_text};
    die "start: nginx runs already" if $self->{started};

    my $err = "$self->{prefix}/logs/error.log";
    my $out = "$self->{prefix}/logs/stderr.log";
    my @cmd = $self->_nginx_args("$self->{prefix}/conf/nginx.conf", $err);

    unlink($self->{pid_file});

    if ($self->{daemon}) {
        my $rc = _run($out, @cmd);
        die "nginx did not start (exit $rc):\n" . $self->_log_tail()
            if $rc != 0;
    } else {
        $self->{fg_pid} = _spawn($out, @cmd);
    }

    $self->{started} = 1;

    my $deadline = time() + 10;
    while (time() < $deadline) {
        last if $self->_up();
        if ($self->{fg_pid} && waitpid($self->{fg_pid}, WNOHANG) > 0) {
            delete $self->{fg_pid};
            $self->{started} = 0;
            die "nginx exited at start:\n" . $self->_log_tail();
        }
        sleep(0.02);
    }

    die "nginx did not come up in 10 s:\n" . $self->_log_tail()
        unless $self->_up();

    return $self;
}

# Up: the master is known and alive, a worker runs (master mode), and every
# port the configuration listens on accepts connections.

sub _up {
    my ($self) = @_;
    my $pid = $self->master_pid() or return 0;
    return 0 unless _exists($pid);
    return 0 if $self->{master} && !$self->worker_pids();
    for my $port (@{ $self->{listen} }) {
        return 0 unless $self->_accepts($port);
    }
    return 1;
}

sub _log_tail {
    my ($self) = @_;
    my @lines = ($self->read_lines('logs/stderr.log'),
                 $self->read_lines('logs/error.log'));
    splice(@lines, 0, @lines - 30) if @lines > 30;
    return join("\n", @lines) . "\n";
}

sub is_running {
    my ($self) = @_;
    my $pid = $self->{started} && $self->master_pid();
    return $pid && _exists($pid) ? 1 : 0;
}

sub master_pid {
    my ($self) = @_;
    return $self->{fg_pid} if $self->{fg_pid};
    return undef unless $self->{pid_file};
    my $pid = $self->read_file($self->{pid_file});
    $pid =~ s/\s+//g;
    return $pid =~ /^\d+$/ ? $pid : undef;
}

# Children of a process as [pid, title], from /proc.

sub _children {
    my ($ppid) = @_;
    my @kids;

    opendir(my $dh, '/proc') or return ();
    for my $pid (grep { /^\d+$/ } readdir($dh)) {
        open(my $fh, '<', "/proc/$pid/stat") or next;
        my $stat = <$fh> // '';
        close($fh);
        my ($rest) = $stat =~ /\)\s+(.*)$/ or next;
        my (undef, $parent) = split /\s+/, $rest;
        next unless $parent == $ppid;

        open($fh, '<', "/proc/$pid/cmdline") or next;
        my $title = do { local $/; <$fh> } // '';
        close($fh);
        $title =~ s/\0+$//;
        $title =~ tr/\0/ /;
        push @kids, [$pid, $title];
    }
    closedir($dh);

    @kids = sort { $a->[0] <=> $b->[0] } @kids;
    return @kids;
}

sub _processes {
    my ($self, $re) = @_;
    my $master = $self->master_pid() or return ();
    my @pids = map { $_->[0] } grep { $_->[1] =~ $re } _children($master);
    return @pids;
}

# Worker pids in service (not those shutting down after a reload); none
# with master_process off, where the one process does everything.

sub worker_pids {
    my ($self) = @_;
    my @pids = $self->{master} ? $self->_processes(qr/worker process$/) : ();
    return @pids;
}

sub _all_worker_pids {
    my ($self) = @_;
    my @pids = $self->{master} ? $self->_processes(qr/worker process/) : ();
    return @pids;
}

# The cache manager and loader; wait => 1 polls up to 5 s for one to
# appear: a helper takes its title only after its modules' init_process,
# some time after the workers accept connections (longer under ASan).

sub helper_pids {
    my ($self, %o) = @_;
    my @pids;
    for (1 .. ($o{wait} ? 100 : 1)) {
        @pids = $self->_processes(qr/cache (manager|loader) process/);
        last if @pids;
        sleep(0.05) if $o{wait};
    }
    return @pids;
}

# Graceful stop: QUIT, then KILL after quit_timeout (default 10 s) -- which
# fails the test, since nginx must be able to quit gracefully.

sub stop {
    my ($self, %opt) = @_;
    return unless $self->{started};
    $self->{started} = 0;

    my $pid = $self->master_pid() or return;
    my @children = map { $_->[0] } _children($pid);
    my $timeout = $opt{quit_timeout} // 10;

    kill('QUIT', $pid);

    my $deadline = time() + $timeout;
    while (time() < $deadline) {
        last unless $self->_alive($pid);
        sleep(0.02);
    }

    if ($self->_alive($pid)) {
        fail("nginx quits within $timeout s of SIGQUIT");
        diag("nginx $pid still runs $timeout s after SIGQUIT: killed");
        kill('KILL', $pid, @children);
        waitpid($pid, 0) if $self->{fg_pid};
    }

    delete $self->{fg_pid};

    # processes of a killed master may linger for a moment
    $deadline = time() + 5;
    while (time() < $deadline && grep { _exists($_) } @children) {
        sleep(0.02);
    }
    return;
}

sub _alive {
    my ($self, $pid) = @_;
    if ($self->{fg_pid} && $pid == $self->{fg_pid}) {
        return waitpid($pid, WNOHANG) == 0;
    }
    return _exists($pid);
}

# A process that exists and is no zombie.

sub _exists {
    my ($pid) = @_;
    return 0 unless kill(0, $pid);
    open(my $fh, '<', "/proc/$pid/stat") or return 1;
    my $stat = <$fh> // '';
    close($fh);
    return $stat =~ /\)\s+Z/ ? 0 : 1;
}

# HUP, then waits (up to timeout, default 10 s) until new workers serve and
# the old ones are gone (keep_old => 1: only until the new ones serve).
# expect_fail => 1: waits for the [emerg] that rejects the configuration
# instead, and allows those lines in the error-log check.  Returns 1 on
# success; on failure records a failed assertion and returns 0.
# nginx cannot reload with master_process off.

sub reload {
    my ($self, %opt) = @_;
    my $timeout = $opt{timeout} // 10;

    if (!$self->{master}) {
        fail('reload: nginx does not reload with master_process off');
        return 0;
    }

    my $pid = $self->master_pid() or die "reload: nginx is not running";
    my %old = map { $_ => 1 } $self->_all_worker_pids();
    my $log = "$self->{prefix}/logs/error.log";
    my $offset = (-s $log) // 0;

    kill('HUP', $pid);

    my $deadline = time() + $timeout;
    while (time() < $deadline) {
        sleep(0.02);

        my $new_log = substr($self->read_file($log), $offset);
        my @emerg = grep { /\[emerg\]/ } split /\n/, $new_log;

        if ($opt{expect_fail}) {
            next unless @emerg;
            $self->allow_log(qr/^\Q$_\E$/) for @emerg;
            return 1;
        }

        if (@emerg) {
            fail('reload: the new configuration is accepted');
            diag(join("\n", @emerg));
            return 0;
        }

        my @now = $self->_all_worker_pids();
        my @new = grep { !$old{$_} } $self->worker_pids();
        my @still = grep { $old{$_} } @now;
        return 1 if @new && ($opt{keep_old} || !@still);
    }

    fail($opt{expect_fail}
         ? "reload: the configuration is rejected within $timeout s"
         : "reload: new workers within $timeout s");
    diag($self->_log_tail());
    return 0;
}

# Sends a signal (default KILL) to every worker and waits until the master
# has replaced them all.  Returns the pids signalled.

sub kill_workers {
    my ($self, $sig) = @_;
    $sig //= 'KILL';

    die "kill_workers: no workers with master_process off"
        unless $self->{master};

    my @pids = $self->worker_pids();
    die "kill_workers: no workers" unless @pids;
    kill($sig, @pids);

    my %old = map { $_ => 1 } @pids;
    my $deadline = time() + 10;
    while (time() < $deadline) {
        sleep(0.02);
        my @now = $self->worker_pids();
        next if grep { $old{$_} } $self->_all_worker_pids();
        return @pids if @now >= @pids;
    }

    fail("kill_workers: workers replaced after SIG$sig");
    return @pids;
}

sub _accepts {
    my ($self, $port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 1)
        or return 0;
    close($s);
    return 1;
}

sub wait_port {
    my ($self, $port, $timeout) = @_;
    my $deadline = time() + ($timeout // 10);
    while (time() < $deadline) {
        return 1 if $self->_accepts($port);
        sleep(0.02);
    }
    return 0;
}

# --- mock providers ---------------------------------------------------------

# Starts scripts/mock-provider as mock $name on port('mock_<name>') and
# waits until it answers.  Options are its flags with "_" for "-":
# latency, status, fail_rate, seed, completion_tokens, chunk_delay, keep.
# Its X-Mock-Name is "mock-<name>".  Returns the port.

sub start_mock {
    my ($self, $name, %opt) = @_;
    $name = lc $name;

    die "start_mock: mock $name runs already" if $self->{mocks}{$name};

    my $port = $self->port("mock_$name");
    my @args = ('--port', $port, '--name', "mock-$name", '--parent', $$);

    for my $k (sort keys %opt) {
        (my $flag = $k) =~ s/_/-/g;
        push @args, "--$flag", $opt{$k};
    }

    my $log = "$self->{prefix}/logs/mock-$name.log";
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open(STDOUT, '>>', $log);
        open(STDERR, '>>', $log);
        exec('node', "$ROOT/scripts/mock-provider", @args)
            or POSIX::_exit(127);
    }

    $self->{mocks}{$name} = { pid => $pid, port => $port };

    my $deadline = time() + 10;
    while (time() < $deadline) {
        if (waitpid($pid, WNOHANG) > 0) {
            delete $self->{mocks}{$name};
            die "mock $name exited: " . $self->read_file($log);
        }
        my $r = $self->http('GET', '/_mock/requests?last=0', port => $port,
                            timeout => 2);
        return $port if $r->{status} == 200;
        sleep(0.02);
    }

    die "mock $name did not answer in 10 s: " . $self->read_file($log);
}

sub stop_mock {
    my ($self, $name) = @_;
    my $m = delete $self->{mocks}{lc $name} or return;
    kill('TERM', $m->{pid});

    my $deadline = time() + 5;
    while (time() < $deadline) {
        return if waitpid($m->{pid}, WNOHANG) > 0;
        sleep(0.02);
    }
    kill('KILL', $m->{pid});
    waitpid($m->{pid}, 0);
}

sub mock_port {
    my ($self, $name) = @_;
    my $m = $self->{mocks}{lc $name} or die "no mock $name";
    return $m->{port};
}

sub mock_url {
    my ($self, $name) = @_;
    return 'http://127.0.0.1:' . $self->mock_port($name);
}

# What mock $name received, oldest first (the last $last only, if given):
# [{method, path, headers (lower-case names), raw_headers, body, time}],
# body being the exact bytes.

sub mock_requests {
    my ($self, $name, $last) = @_;
    my $r = $self->http('GET', '/_mock/requests'
                               . (defined $last ? "?last=$last" : ''),
                        port => $self->mock_port($name));
    die "mock $name: GET /_mock/requests: $r->{status} "
        . ($r->{error} // '') unless $r->{status} == 200;

    my $list = decode_json($r->{body});
    for my $req (@$list) {
        $req->{body} = decode_base64(delete $req->{body_b64} // '');
    }

    return $list;
}

# The most recent request mock $name received, or undef.

sub mock_last {
    my ($self, $name) = @_;
    return $self->mock_requests($name, 1)->[0];
}

sub mock_reset {
    my ($self, $name) = @_;
    my $r = $self->http('POST', '/_mock/reset',
                        port => $self->mock_port($name));
    die "mock $name: reset: $r->{status}" unless $r->{status} == 200;
    return 1;
}

# --- Redis ------------------------------------------------------------------

# redis-servers of the tests in this process, stopped at the end
my %REDIS;

# A redis-server of the test's own on port("<name>") (default "redis"),
# so that a restart keeps its port, in <prefix>/<name>, no snapshots,
# with @args added (e.g. "--appendonly", "yes").  Dies with its log when
# it does not answer in 10 s.  Returns the port.
sub start_redis {
    my ($self, $name, @args) = @_;
    $name //= 'redis';

    my $port = $self->port($name);
    my $dir = "$self->{prefix}/$name";
    make_path($dir);

    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open(STDOUT, '>>', "$dir/redis.log");
        open(STDERR, '>&', \*STDOUT);
        exec('redis-server', '--port', $port, '--bind', '127.0.0.1',
             '--dir', $dir, '--save', '', '--daemonize', 'no', @args)
            or POSIX::_exit(127);
    }

    $self->{redis}{$name} = $pid;
    $REDIS{$pid} = 1;

    for (1 .. 200) {
        return $port if `redis-cli -p $port PING 2>/dev/null` =~ /PONG/;
        sleep(0.05);
    }

    die "redis-server $name did not start: " . `tail -5 $dir/redis.log`;
}

sub stop_redis {
    my ($self, $name) = @_;
    my $pid = delete $self->{redis}{$name // 'redis'} or return;
    kill('TERM', $pid);
    kill('CONT', $pid);
    waitpid($pid, 0);
    delete $REDIS{$pid};
}

# Sends $sig (STOP, CONT, ...) to the redis-server of start_redis($name).
sub redis_signal {
    my ($self, $name, $sig) = @_;
    my $pid = $self->{redis}{$name // 'redis'}
        or die "redis_signal: no redis " . ($name // 'redis');
    kill($sig, $pid) or die "redis_signal: kill $sig $pid: $!";
}

# redis-cli --raw @args against start_redis($name), its output chomped.
sub redis_cli {
    my ($self, $name, @args) = @_;
    my $port = $self->port($name // 'redis');
    my $out = `redis-cli -p $port --raw @args 2>&1`;
    chomp $out;
    return $out;
}

# --- HTTP -------------------------------------------------------------------

# Polls $cond every $step s (0.02) for up to $secs s (10): the seconds it
# took ("0E0" when at once: true and 0), or undef when it never held.
sub wait_for {
    my ($cond, $secs, $step) = @_;
    my $t0 = time();
    while (time() - $t0 < ($secs // 10)) {
        return (time() - $t0) || '0E0' if $cond->();
        sleep($step // 0.02);
    }
    return undef;
}

# POSTs body to path on a socket of its own, reads until what came back
# matches $until (undef: to the end; a number: for that many seconds after
# sending), then closes: a client that leaves.  Returns what it read, less
# the chunk framing.

sub leave {
    my ($self, $path, $body, $until, %h) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $self->port, Proto => 'tcp')
        or die "connect: $!";
    my $head = "POST $path HTTP/1.1\r\nHost: localhost\r\n"
             . "Content-Type: application/json\r\n"
             . "Content-Length: " . length($body) . "\r\n"
             . join('', map { "$_: $h{$_}\r\n" } sort keys %h)
             . "Connection: close\r\n\r\n";
    print $s $head . $body;

    my ($got, $sel, $start) = ('', IO::Select->new($s), time());
    my $plain = '';

    while (time() < $start + 10) {
        # the bytes without their chunk framing, to match against
        ($plain = $got) =~ s/\r\n[0-9a-fA-F]+\r\n//g;

        if (defined $until && !ref $until) {
            last if time() >= $start + $until;
        } elsif (defined $until) {
            last if $plain =~ $until;
        }
        next unless $sel->can_read(0.05);
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $got .= $buf;
    }

    close($s);
    ($plain = $got) =~ s/\r\n[0-9a-fA-F]+\r\n//g;
    return $plain;
}

# GET /status (or /status?<query>) as decoded JSON; an answer that is not
# a 200 with JSON dies, or gives {} with or_empty => 1.
sub status_json {
    my ($self, %opt) = @_;
    my $r = $self->http('GET', '/status'
                        . (defined $opt{query} ? "?$opt{query}" : ''));
    my $s = $r->{status} == 200 ? eval { decode_json($r->{body}) } : undef;
    return $s if $s;
    return {} if $opt{or_empty};
    die "GET /status: $r->{status} $r->{body}";
}

# One HTTP/1.1 request on a new connection ("Connection: close" and
# "Host: localhost" unless given).  headers: a hash ref, or an array ref of
# name/value pairs (order and repeats kept).  A body gets a Content-Length
# unless a Content-Length or Transfer-Encoding header is given.
# expect_continue => 1: sends "Expect: 100-continue" and the head alone,
# waits for the interim 100 (up to 5 s), then sends the body -- or not, if
# a final answer came first.  Other options as http_raw.

sub http {
    my ($self, $method, $path, %opt) = @_;
    my $headers = $opt{headers} // {};
    my $body = $opt{body};

    my @pairs = ref $headers eq 'ARRAY'
        ? @$headers
        : map { ($_, $headers->{$_}) } sort keys %$headers;
    my %has;
    for (my $i = 0; $i < @pairs; $i += 2) {
        $has{ lc $pairs[$i] } = 1;
    }

    unshift @pairs, 'Connection', 'close' unless $has{connection};
    unshift @pairs, 'Host', 'localhost' unless $has{host};

    if (defined $body && !$has{'content-length'}
        && !$has{'transfer-encoding'})
    {
        push @pairs, 'Content-Length', length($body);
    }

    if ($opt{expect_continue} && !$has{expect}) {
        push @pairs, 'Expect', '100-continue';
    }

    my $head = "$method $path HTTP/1.1\r\n";
    for (my $i = 0; $i < @pairs; $i += 2) {
        $head .= "$pairs[$i]: $pairs[$i + 1]\r\n";
    }
    $head .= "\r\n";

    my @parts;
    if ($opt{expect_continue}) {
        @parts = ({ send => $head },
                  { wait => qr{\AHTTP/1\.[01] \d\d\d[^\r\n]*\r\n},
                    timeout => $opt{continue_timeout} // 5 },
                  { send => $body // '', if_continue => 1 });
    } else {
        @parts = ({ send => $head . ($body // '') });
    }

    return $self->http_raw(\@parts, %opt, method => $method);
}

# Sends bytes as they are and reads the answer.  $bytes is a string, or an
# array ref of steps:
#   "bytes"                     send
#   [bytes, seconds]            send, then pause
#   {send => bytes, pause => s} send, then pause
#   {wait => qr/.../, timeout => s}
#                               read until what came back matches
#   {send => bytes, if_continue => 1}
#                               send only if an interim 1xx came back
# Reading stops at the end of the first complete final response, at EOF,
# or at timeout (default 30 s); wait_close => 1 reads until EOF.
# Returns parse_response's hash ref plus continue_received, ttfb and
# elapsed (seconds), or {status => 0, error => ...} when no connection.

sub http_raw {
    my ($self, $bytes, %opt) = @_;
    my $port = $opt{port} // $self->port('main');
    my $start = time();

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 10)
        or return { status => 0, error => "connect to $port: $!",
                    headers => {}, body => '', raw => '' };
    binmode($s);

    local $SIG{PIPE} = 'IGNORE';

    my @steps = ref $bytes ? @$bytes : ($bytes);
    my $method = $opt{method};
    my $raw = '';
    my $ttfb;
    my $eof = 0;

    my $read = sub {
        my ($wait) = @_;
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        return 0 unless select(my $rout = $rin, undef, undef, $wait);
        my $n = sysread($s, my $buf, 65536);
        if (!$n) {
            $eof = 1;
            return 0;
        }
        $ttfb //= time() - $start;
        $raw .= $buf;
        return 1;
    };

    for my $step (@steps) {
        my %st = ref $step eq 'HASH' ? %$step
               : ref $step eq 'ARRAY' ? (send => $step->[0],
                                         pause => $step->[1])
               : (send => $step);

        if (defined $st{wait}) {
            my $deadline = time() + ($st{timeout} // 5);
            while (!$eof && $raw !~ $st{wait} && time() < $deadline) {
                $read->(0.05);
            }
            next;
        }

        next if $st{if_continue} && $raw !~ m{\AHTTP/1\.[01] 1\d\d };

        if (defined $st{send} && length $st{send}) {
            if (!defined $method && $st{send} =~ /\A(\w+) /) {
                $method = $1;
            }
            _write_all($s, $st{send});
        }
        sleep($st{pause}) if $st{pause};
    }

    my $deadline = time() + ($opt{timeout} // 30);
    while (!$eof && time() < $deadline) {
        last if !$opt{wait_close} && _complete($raw, $method // 'GET');
        $read->(0.2);
    }
    close($s);

    my $r = parse_response($raw);
    $r->{continue_received} = $raw =~ m{\AHTTP/1\.[01] 100 } ? 1 : 0;
    $r->{ttfb} = $ttfb;
    $r->{elapsed} = time() - $start;
    $r->{timed_out} = 1 if !$eof && !_complete($raw, $method // 'GET');
    return $r;
}

sub _write_all {
    my ($s, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($s, $data, length($data) - $off, $off);
        return 0 unless defined $n;
        $off += $n;
    }
    return 1;
}

# Whether $raw holds a complete final response to $method.  Called after
# every read: it does not copy $raw.

sub _complete {
    my ($raw, $method) = @_;
    my $pos = 0;

    for (;;) {
        my $end = index($raw, "\r\n\r\n", $pos);
        return 0 if $end < 0;
        my ($status) = substr($raw, $pos, 12) =~ m{\AHTTP/\d\.\d (\d\d\d)}
            or return 0;
        my $body_at = $end + 4;

        if ($status =~ /^1/) {
            $pos = $body_at;
            next;
        }

        return 1 if $method eq 'HEAD' || $status == 204 || $status == 304;

        my $head = substr($raw, $pos, $end - $pos);
        if ($head =~ /^transfer-encoding:[^\r\n]*chunked/mi) {
            return 0 unless substr($raw, -4) eq "\r\n\r\n";
            return _dechunk(substr($raw, $body_at))->{complete};
        }
        if ($head =~ /^content-length:\s*(\d+)/mi) {
            return length($raw) - $body_at >= $1 ? 1 : 0;
        }
        return 0;
    }
}

sub _dechunk {
    my ($body) = @_;
    my @chunks;

    while ($body =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n//) {
        my $n = hex $1;
        if ($n == 0) {
            # trailer fields, then the final empty line
            my $end = $body =~ /\A(?:[^\r\n]+\r\n)*\r\n/;
            return { chunks => \@chunks, complete => $end ? 1 : 0 };
        }
        last if length($body) < $n + 2;
        push @chunks, substr($body, 0, $n);
        substr($body, 0, $n + 2) = '';
    }

    return { chunks => \@chunks, complete => 0 };
}

# Parses one HTTP/1.x response (interim 1xx answers skipped):
# {status, reason, version, headers => {name => value}, header_list =>
# {name => [values]}, body, chunks (the chunks' payloads, if chunked),
# raw}.  Header names are lower case; repeated headers are joined with
# ", " in headers and kept apart in header_list.

sub parse_response {
    my ($raw) = @_;
    my %r = (raw => $raw, status => 0, headers => {}, header_list => {},
             body => '');
    my $rest = $raw;

    while ($rest =~ s{\AHTTP/1\.[01] 1\d\d[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n}{})
    {
        $r{continued} = 1;
    }

    my $end = index($rest, "\r\n\r\n");
    return \%r if $end < 0;

    my @lines = split /\r\n/, substr($rest, 0, $end);
    my $body = substr($rest, $end + 4);
    my $status = shift @lines;
    @r{qw(version status reason)} = $status =~ m{^HTTP/(\d\.\d) (\d+) ?(.*)$};
    $r{status} //= 0;

    for my $l (@lines) {
        my ($k, $v) = $l =~ /^([^:]+):\s*(.*?)\s*$/ or next;
        $k = lc $k;
        $r{headers}{$k} = exists $r{headers}{$k} ? "$r{headers}{$k}, $v" : $v;
        push @{ $r{header_list}{$k} }, $v;
    }

    if (($r{headers}{'transfer-encoding'} // '') =~ /chunked/i) {
        my $d = _dechunk($body);
        $r{chunks} = $d->{chunks};
        $r{chunked_complete} = $d->{complete};
        $body = join('', @{ $d->{chunks} });
    }

    $r{body} = $body;
    return \%r;
}

# Splits a text/event-stream body into events, as a browser would: a list
# of {event, data, id, json}.  data joins the event's data lines with
# "\n"; json is data decoded when it is a JSON object or array; comments
# and blocks without data are skipped; a last block not ended by a blank
# line is kept with incomplete => 1, so that a truncated stream shows.

sub sse_events {
    my ($self, $body) = @_;
    my @events;
    my %e;
    my @data;

    my $flush = sub {
        my ($incomplete) = @_;
        if (@data) {
            my %ev = (event => $e{event} // 'message',
                      data => join("\n", @data));
            $ev{id} = $e{id} if defined $e{id};
            $ev{incomplete} = 1 if $incomplete;
            $ev{json} = eval { JSON::PP->new->decode($ev{data}) }
                if $ev{data} =~ /\A\s*[\[{]/;
            push @events, \%ev;
        }
        %e = ();
        @data = ();
    };

    my @lines = split /\r\n|\r|\n/, $body, -1;
    my $ended = @lines && $lines[-1] eq '';
    pop @lines if $ended;

    for my $line (@lines) {
        if ($line eq '') {
            $flush->(0);
            next;
        }
        next if $line =~ /^:/;
        my ($field, $value) = $line =~ /^([^:]*)(?::\s?(.*))?$/;
        $value //= '';
        if ($field eq 'data') {
            push @data, $value;
        } elsif ($field eq 'event' || $field eq 'id') {
            $e{$field} = $value;
        }
    }
    $flush->(1);

    return @events;
}

# One request over HTTP/2 (cleartext, prior knowledge) through curl, which
# must be installed (Debian package "curl").  Options: headers (hash ref),
# body, port, timeout.  Returns {status, version, headers, header_list,
# body, raw, exit}.

sub curl_h2 {
    my ($self, $method, $path, %opt) = @_;
    my $port = $opt{port} // $self->port('main');

    my $curl = _curl();
    my @cmd = ($curl, '-s', '-S', '-i', '--http2-prior-knowledge',
               '-X', $method, '--max-time', $opt{timeout} // 30);

    for my $k (sort keys %{ $opt{headers} // {} }) {
        push @cmd, '-H', "$k: $opt{headers}{$k}";
    }

    if (defined $opt{body}) {
        my $file = $self->write_file('curl-body', $opt{body});
        push @cmd, '--data-binary', "\@$file";
    }

    push @cmd, "http://127.0.0.1:$port$path";

    open(my $fh, '-|', @cmd) or die "$curl: $!";
    binmode($fh);
    my $raw = do { local $/; <$fh> } // '';
    close($fh);

    my %r = (raw => $raw, status => 0, headers => {}, header_list => {},
             body => '', exit => $? >> 8);
    my $rest = $raw;
    $rest =~ s{\A(HTTP/2 1\d\d[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n)+}{};
    my $end = index($rest, "\r\n\r\n");
    return \%r if $end < 0;

    my @lines = split /\r\n/, substr($rest, 0, $end);
    my $status = shift @lines;
    ($r{version}, $r{status}) = $status =~ m{^HTTP/([\d.]+) (\d+)};
    $r{status} //= 0;
    for my $l (@lines) {
        my ($k, $v) = $l =~ /^([^:]+):\s*(.*?)\s*$/ or next;
        $k = lc $k;
        $r{headers}{$k} = exists $r{headers}{$k} ? "$r{headers}{$k}, $v" : $v;
        push @{ $r{header_list}{$k} }, $v;
    }
    $r{body} = substr($rest, $end + 4);
    return \%r;
}

my $CURL;

sub _curl {
    return $CURL if $CURL;
    my ($curl) = grep { -x } map { "$_/curl" }
                 split(/:/, $ENV{PATH} // ''), '/usr/bin';
    die "curl is missing: install the Debian package \"curl\" "
        . "(apt-get install curl)" unless $curl;
    my $features = `$curl -V 2>&1`;
    die "$curl has no HTTP/2: install the Debian package \"curl\" "
        . "(built with nghttp2)" unless $features =~ /\bHTTP2\b/;
    return $CURL = $curl;
}

# --- the official SDKs ------------------------------------------------------

# Runs t/sdk/$script with node.  Returns (exit code, its JSON summary
# decoded or undef, stdout and stderr).  The SDKs must be installed:
# npm install --prefix t/sdk --no-audit --no-fund (scripts/setup does).

sub run_sdk {
    my ($self, $script, @args) = @_;
    my $dir = "$ROOT/t/sdk";

    for my $pkg ('openai', '@anthropic-ai/sdk') {
        next if -d "$dir/node_modules/$pkg";
        return (127, undef, "$dir/node_modules/$pkg is missing: run "
                . "\"npm install --prefix t/sdk --no-audit --no-fund\" "
                . "(scripts/setup does)\n");
    }

    my $err = "$self->{prefix}/logs/sdk-stderr.log";
    my $cmd = join(' ', 'node', map { quotemeta } "$dir/$script", @args)
              . ' 2>' . quotemeta($err);
    my $out = `$cmd`;
    my $rc = $? >> 8;
    my $stderr = $self->read_file($err);

    my ($json) = $out =~ /^(\{.*\})\s*\z/m;
    my $data = defined $json ? eval { decode_json($json) } : undef;
    return ($rc, $data, $out . $stderr);
}

# --- the error log ----------------------------------------------------------

# A line the error-log check accepts: a regex, or a string that the line
# contains.

sub allow_log {
    my ($self, $what) = @_;
    push @{ $self->{allow} }, ref $what ? $what : qr/\Q$what\E/;
}

# The lines of logs/error.log and logs/stderr.log that the check refuses
# (see @LOG_BAD), less the allowed ones.

sub log_problems {
    my ($self) = @_;
    my @bad;

    for my $file ('logs/error.log', 'logs/stderr.log') {
        for my $line ($self->read_lines($file)) {
            next unless grep { $line =~ $_ } @LOG_BAD;
            next if grep { $line =~ $_ } @{ $self->{allow} };
            push @bad, $line;
        }
    }

    return @bad;
}

# The check, as one assertion.

sub check_log {
    my ($self, $name) = @_;
    my @bad = $self->log_problems();

    is(scalar @bad, 0, $name // 'error log: no alert, crit, emerg, '
                              . '"count is zero", "open socket" or '
                              . 'sanitizer report')
        or diag(join("\n", @bad > 20 ? @bad[0 .. 19] : @bad));
    return !@bad;
}

# --- the end ----------------------------------------------------------------

# Stops nginx and the mocks, checks the error log (an assertion), releases
# the ports.  The prefix goes at the end of the test if it passed, else it
# is kept and its path printed.

sub done {
    my ($self) = @_;
    return 1 if $self->{done} || $self->{pid} != $$;
    $self->{done} = 1;

    $self->stop();
    $self->_stop_mocks();
    my $ok = $self->check_log();
    $self->_release_ports();
    return $ok;
}

sub _stop_mocks {
    my ($self) = @_;
    $self->stop_mock($_) for keys %{ $self->{mocks} };
}

# Without done(): the same, with the check as an assertion while the test
# can still take one, else as a diagnostic that fails the exit code.
# Returns 0 if that quiet check failed.  The prefix is dealt with at END,
# when the outcome of the whole test is known.

sub _finish {
    my ($self) = @_;
    return 1 if $self->{pid} != $$ || $self->{done};

    if (!Test::More->builder->has_plan) {
        return $self->done();
    }

    $self->{done} = 1;
    $self->stop();
    $self->_stop_mocks();
    $self->_release_ports();

    my @bad = $self->log_problems();
    return 1 unless @bad;

    diag("error log problems found after the plan:\n"
         . join("\n", @bad > 20 ? @bad[0 .. 19] : @bad));
    $self->{dir}{failed} = 1;
    return 0;
}

sub DESTROY {
    my ($self) = @_;
    return if $self->{pid} != $$;
    local ($?, $@, $!);

    delete $LIVE{ refaddr $self };

    if (${^GLOBAL_PHASE} eq 'DESTRUCT') {
        # END ran already; only make sure nothing keeps running
        $self->stop() if $self->{started};
        $self->_stop_mocks();
        return;
    }

    # out of scope, or a die unwinding the test
    $self->_finish();
}

my $guards;

sub _install_guards {
    my ($timeout) = @_;
    return if $guards++;

    for my $sig (qw(INT TERM HUP)) {
        next if defined $SIG{$sig} && $SIG{$sig} ne 'DEFAULT';
        $SIG{$sig} = sub { diag("caught SIG$sig"); exit(1) };
    }

    if ($timeout && !(defined $SIG{ALRM} && $SIG{ALRM} ne 'DEFAULT')) {
        $SIG{ALRM} = sub { diag("test timed out after $timeout s"); exit(1) };
        alarm($timeout);
    }
}

# Removes the prefixes of a passing test; keeps and names them otherwise.

END {
    my $exit = $?;

    for my $pid (keys %REDIS) {
        kill('TERM', $pid);
        kill('CONT', $pid);             # one a test froze
        waitpid($pid, 0);
    }

    for my $t (grep { defined } values %LIVE) {
        $exit ||= 1 unless $t->_finish();
    }

    for my $dir (grep { $_->{pid} == $$ } @DIRS) {
        next if !-d $dir->{path};
        if (Test::More->builder->is_passing && $exit == 0 && !$dir->{failed}
            && !$dir->{keep})
        {
            remove_tree($dir->{path});
        } else {
            diag("test prefix kept: $dir->{path}");
        }
    }

    $? = $exit;
}

1;
