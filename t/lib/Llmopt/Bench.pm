package Llmopt::Bench;

# What the benchmark and soak scripts share: a temp prefix, free loopback
# ports, nginx instances started from a configuration text, the fast mock
# upstream (nginx "return" of a canned chat completion with usage), 2 KB
# bodies of RouterBench prompts as a wrk Lua script, and wrk runs read
# back through that script's summary line.  A failure to measure ends the
# script with exit code 2 and a reason, never with a made-up figure.

use strict;
use warnings;
use File::Temp qw(tempdir);
use File::Path qw(remove_tree);
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(sleep);
use Llmopt::RouterBench;
use Llmopt::Ports;

our $NGINX = $ENV{LLMOPT_NGINX} // '/usr/sbin/nginx';
our $TICKS = do { my $t = `getconf CLK_TCK 2>/dev/null`; chomp $t; $t || 100 };

sub new {
    my ($class, %opt) = @_;
    my $prefix = tempdir("llmopt-$opt{name}-XXXXXX", TMPDIR => 1);
    chmod(0755, $prefix);
    return bless { prefix => $prefix, masters => [], pids => [],
                   locks => {}, keep => $opt{keep}, name => $opt{name} },
                 $class;
}

sub prefix { $_[0]{prefix} }

sub fail {
    my ($self, @why) = @_;
    print STDERR "$self->{name}: could not measure: @why\n";
    exit 2;
}

sub cleanup {
    my ($self, $ok) = @_;
    kill('QUIT', grep { $_ } @{ $self->{masters} });
    kill('TERM', @{ $self->{pids} }) if @{ $self->{pids} };
    sleep(0.3);
    Llmopt::Ports::release($self->{locks});
    remove_tree($self->{prefix}) if $ok && !$self->{keep};
}

# A free loopback port, locked like the tests' (Llmopt::Ports) until
# cleanup.

sub port {
    my ($self) = @_;
    my $port = Llmopt::Ports::take($self->{locks});
    defined $port or $self->fail('no free loopback port');
    return $port;
}

sub write_file {
    my ($self, $name, $text) = @_;
    my $path = "$self->{prefix}/$name";
    open(my $fh, '>', $path) or die "$path: $!";
    print $fh $text;
    close($fh);
    return $path;
}

sub wait_port {
    my ($self, $port, $what) = @_;
    for (1 .. 200) {
        return if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                        Timeout => 1);
        sleep(0.05);
    }
    $self->fail("$what did not listen on $port");
}

# Starts nginx from a configuration text in <prefix>/<name>/; returns the
# master's pid.

sub nginx {
    my ($self, $name, $conf) = @_;
    my $dir = "$self->{prefix}/$name";
    mkdir($dir);
    mkdir("$dir/$_") for qw(logs conf client_body_temp proxy_temp);
    $self->write_file("$name/conf/nginx.conf", "pid logs/nginx.pid;\n$conf");
    system($NGINX, '-p', "$dir/", '-c', 'conf/nginx.conf', '-e',
           'logs/error.log') == 0
        or $self->fail("nginx $name did not start: "
                       . `tail -5 $dir/logs/error.log 2>/dev/null`);
    for (1 .. 100) {
        last if -s "$dir/logs/nginx.pid";
        sleep(0.05);
    }
    chomp(my $pid = `cat $dir/logs/nginx.pid`);
    push @{ $self->{masters} }, $pid;
    return $pid;
}

# The fast mock provider: nginx answering every request with a canned
# chat completion (usage included), one worker; affinity: a
# worker_cpu_affinity mask for it.

sub upstream {
    my ($self, %o) = @_;
    my $port = $self->port();
    my $affinity = $o{affinity} ? "worker_cpu_affinity $o{affinity};" : '';
    my $answer = '{"id":"chatcmpl-bench","object":"chat.completion",'
        . '"created":1700000000,"model":"bench-model","choices":[{"index":0,'
        . '"message":{"role":"assistant","content":"The answer is 42."},'
        . '"finish_reason":"stop"}],"usage":{"prompt_tokens":512,'
        . '"completion_tokens":8,"total_tokens":520}}';
    # the same in the Anthropic dialect, for translated requests
    my $message = '{"id":"msg_bench","type":"message","role":"assistant",'
        . '"model":"bench-model","content":[{"type":"text",'
        . '"text":"The answer is 42."}],"stop_reason":"end_turn",'
        . '"stop_sequence":null,"usage":{"input_tokens":512,'
        . '"output_tokens":8}}';
    $self->nginx('upstream', <<"CONF");
worker_processes 1;
$affinity
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000;
    server {
        listen 127.0.0.1:$port reuseport;
        location / {
            client_body_buffer_size 64k;
            default_type application/json;
            return 200 '$answer';
        }
        location ~ /messages\$ {
            client_body_buffer_size 64k;
            default_type application/json;
            return 200 '$message';
        }
    }
}
CONF
    $self->wait_port($port, 'the mock upstream');
    return $port;
}

# 32 chat bodies of about 2 KB of RouterBench prompts, JSON texts.

sub body_list {
    my ($self) = @_;
    Llmopt::RouterBench::full();
    my @prompts = Llmopt::RouterBench::prompts(300);
    @prompts >= 100 or $self->fail('RouterBench prompts not found');

    my (@bodies, $k);
    $k = 0;
    while (@bodies < 32) {
        my (@msgs, $len);
        $len = 0;
        while ($len < 1850) {
            my $p = $prompts[$k++ % @prompts];
            $p = substr($p, 0, 1850 - $len) if $len + length($p) > 1850;
            push @msgs, { role => 'user', content => $p };
            $len += length($p) + 40;
        }
        push @bodies, JSON::PP->new->canonical->encode({ model => 'auto',
            max_tokens => 64, messages => \@msgs });
    }
    return @bodies;
}

# A wrk Lua script posting the 32 bodies of body_list() in turn; its
# done() prints "RESULT requests duration_us p50_us p99_us socket_errors
# non2xx".  Returns (path, average body bytes).

sub bodies {
    my ($self) = @_;
    my @bodies = $self->body_list();

    my $lua = "local bodies = {\n"
              . join('', map { my $b = $_; $b =~ s/([\\"])/\\$1/g;
                               $b =~ s/\n/\\n/g; "  \"$b\",\n" } @bodies)
              . "}\n" . <<'LUA';
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench"
request = function()
    i = i % #bodies + 1
    return wrk.format(nil, nil, nil, bodies[i])
end
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("RESULT %d %d %d %d %d %d\n", summary.requests,
        summary.duration, latency:percentile(50), latency:percentile(99),
        e.connect + e.read + e.write + e.timeout, e.status))
end
LUA
    my $avg = 0;
    $avg += length($_) for @bodies;
    return ($self->write_file('bench.lua', $lua), int($avg / @bodies));
}

# One wrk run; extra: more wrk arguments; cpus: the CPUs wrk may run on
# (taskset's list).  Returns {rps, p50, p99 (us), n, sock, status}; fails
# on any error unless tolerate is set.

sub wrk {
    my ($self, %o) = @_;
    my $threads = $o{threads} // 1;
    my $taskset = $o{cpus} ? "taskset -c $o{cpus} " : '';
    my $out = `${taskset}wrk -t$threads -c$o{conns} -d$o{secs}s --timeout 5s -s '$o{script}' @{[
               map { "'$_'" } @{ $o{extra} // [] } ]} '$o{url}' 2>&1`;
    my ($n, $dur, $p50, $p99, $sock, $status) =
        $out =~ /^RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$/m
        or $self->fail("wrk $o{url}: $out");
    $self->fail("$o{url}: $sock socket errors, $status non-2xx of $n")
        if !$o{tolerate} && ($sock || $status);
    $self->fail("$o{url}: no request completed") unless $n;
    return { rps => $n / ($dur / 1e6), p50 => $p50, p99 => $p99, n => $n,
             sock => $sock, status => $status };
}

# The pids of the children of process $parent whose command line matches
# $re (an nginx master's "worker process" or "cache manager process").

sub children {
    my ($self, $parent, $re) = @_;
    my @pids;
    for my $line (`ps -o pid=,args= --ppid $parent`) {
        my ($pid, $args) = $line =~ /^\s*(\d+)\s+(.*)$/ or next;
        push @pids, $pid if $args =~ $re;
    }
    return @pids;
}

# CPU time (user + system, all threads) the processes have used, in
# microseconds; read from /proc, at the kernel's tick (10 ms on Debian).

sub cpu_us {
    my ($self, @pids) = @_;
    my $ticks = 0;
    for my $pid (@pids) {
        open(my $fh, '<', "/proc/$pid/stat")
            or $self->fail("no /proc/$pid/stat: $!");
        my $stat = <$fh>;
        # the fields after the command, which is in parentheses
        my @f = split(' ', substr($stat, rindex($stat, ')') + 2));
        $ticks += $f[11] + $f[12];
    }
    return $ticks * 1e6 / $TICKS;
}

sub median {
    my @v = sort { $a <=> $b } @_;
    return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

1;
