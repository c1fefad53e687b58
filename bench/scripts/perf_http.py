#!/usr/bin/env python3
# Where the CPU of an HTTP benchmark goes, per process: a system-wide `perf record -a -g` of a
# `hashlog-bench http` run against a server, printed by
#   perf script -F comm,pid,tid,ip,sym -i perf.data > script.txt
# and classified here. Usage: perf_http.py script.txt SERVER_PID CLIENT_PID [OPS]
# (CLIENT_PID `auto`: every process named hashlog-bench*).
# Each sample goes to its process (server, client, other), then to the innermost frame of a
# known kind: kernel samples by their kernel frames (TCP/loopback, scheduling and wakeups,
# epoll, futex, syscall entry), user samples by crate. With OPS and PERF_FREQ (the -F of the
# recording), µs of CPU per operation.
import collections, os, sys

samples = open(sys.argv[1]).read().split('\n\n')
server, client = sys.argv[2], sys.argv[3]
ops = int(sys.argv[4]) if len(sys.argv) > 4 else None
# The sampling frequency (`perf record -F`), for µs per operation.
freq = float(os.environ.get('PERF_FREQ', '0'))
KERNEL = [
    ('kernel: scheduling, wakeups, context switches', ['schedule', '__switch_to', 'finish_task_switch', 'pick_next', 'enqueue_task', 'dequeue_task', 'try_to_wake_up', 'ttwu', 'select_task_rq', 'update_curr', 'psi_', 'idle', 'cpuidle', 'do_idle']),
    ('kernel: futex', ['futex']),
    ('kernel: epoll', ['ep_poll', 'ep_', 'epoll']),
    ('kernel: TCP over loopback', ['tcp_', 'ip_', 'inet_', 'sock_', 'skb', 'net_rx', 'netif', '__dev_queue', 'loopback', 'sk_', '__sys_sendto', '__sys_recvfrom', 'sock_write_iter', 'sock_read_iter', 'copy_user', 'csum', '__napi', 'softirq']),
    ('kernel: file I/O and fdatasync', ['fdatasync', 'ext4', 'jbd2', 'blk_', 'iomap', 'io_uring', 'vfs_', 'filemap']),
    ('kernel: syscall entry and exit', ['entry_SYSCALL', 'syscall_exit', 'do_syscall', 'syscall_return']),
]
USER = [
    ('user: allocator', ['malloc', 'free', 'realloc', '_int_', 'calloc', 'cfree']),
    ('user: serde_json', ['serde_json', 'serde::']),
    ('user: item model and expressions', ['hashlog::model', 'hashlog::expr']),
    ('user: engine (memtable, LSM, WAL, db)', ['hashlog::memtable', 'hashlog::lsm', 'hashlog::sstable', 'hashlog::wal', 'hashlog::db', 'crossbeam_skiplist', 'hashlog::io']),
    ('user: item layer (tables, api, capacity)', ['hashlog::table', 'hashlog::api', 'hashlog::capacity', 'hashlog::kv']),
    ('user: server front (http.rs, metrics)', ['hashlog_server']),
    ('user: hyper', ['hyper', 'http::', 'httparse', 'http_body']),
    ('user: tokio', ['tokio', 'mio']),
    ('user: tracing', ['tracing']),
    ('user: crc32', ['crc32fast']),
    ('user: bench client', ['hashlog_bench', 'hdrhistogram']),
    ('user: std I/O and threads', ['std::io', 'std::net', 'std::sys', 'std::thread', 'BufReader', 'read_until']),
    ('user: libc syscall wrappers', ['__libc_', '__GI_', 'syscall', 'send', 'recv', 'write', 'read', 'epoll_wait']),
]
by = collections.defaultdict(collections.Counter)
for s in samples:
    lines = [l.strip() for l in s.strip().split('\n') if l.strip()]
    if not lines:
        continue
    head = lines[0].split()
    pid = next((h.split('/')[0] for h in head if '/' in h), '')
    if pid == server:
        proc = 'server'
    elif pid == client or (client == 'auto' and head[0].startswith('hashlog-bench')):
        proc = 'client'
    else:
        proc = 'other: ' + head[0]
    frames = [l.split(None, 1) for l in lines[1:]]
    frames = [(f[0], f[1] if len(f) > 1 else '') for f in frames]
    if not frames:
        continue
    kernel_leaf = frames[0][0].startswith('ffff')
    table = KERNEL if kernel_leaf else USER
    c = None
    for ip, sym in frames:
        if kernel_leaf and not ip.startswith('ffff'):
            break
        for name, pats in table:
            if any(p in sym for p in pats):
                c = name
                break
        if c:
            break
    if c is None:
        c = 'kernel: other' if kernel_leaf else 'user: other'
    by[proc][c] += 1
total = sum(sum(c.values()) for c in by.values())
for proc in sorted(by, key=lambda p: -sum(by[p].values())):
    n = sum(by[proc].values())
    print(f"\n### {proc}: {n} samples ({100*n/total:.1f} % of all)\n")
    print("| where | samples | share of process |" + (" µs/op |" if ops else ""))
    print("|---|---|---|" + ("---|" if ops else ""))
    for k, v in by[proc].most_common():
        extra = f" {v / freq / ops * 1e6:.1f} |" if ops and freq else (" |" if ops else "")
        print(f"| {k} | {v} | {100*v/n:.1f} % |{extra}")
print('\ntotal samples', total)
