#!/usr/bin/env python3
# Classifies `perf script -F comm,tid,ip,sym` samples by the innermost hashlog module on their
# stack (docs/results/2026-12-05-item-layer-profile.md). Usage: perf_split.py script.txt
import collections,sys
samples=open(sys.argv[1]).read().split('\n\n')
cats=collections.Counter()
order=[('engine: WAL (append, group commit)',['hashlog::wal']),('engine: memtable, LSM, SSTables, flush, compaction, I/O layer',['hashlog::memtable','hashlog::lsm','hashlog::sstable','crossbeam_skiplist','hashlog::io::']),('engine: write and read path (db)',['hashlog::db']),
 ('item layer: expressions',['hashlog::expr']),('item layer: item model and codec',['hashlog::model']),('item layer: JSON (serde_json)',['serde_json']),('item layer: operations, item locks, capacity, request parsing',['hashlog::table','hashlog::capacity','hashlog::api']),
 ('runner (key choice, request building, histograms)',['hashlog_bench'])]
for s in samples:
    lines=[l.strip() for l in s.strip().split('\n') if l.strip()]
    if not lines: continue
    comm=lines[0].split()[0]
    frames=[ ' '.join(l.split()[1:]) for l in lines[1:]]
    txt=' '.join(frames)
    c=None
    if any(k in txt for k in ('fdatasync','io_uring_enter','ext4','blk_','iomap','jbd2')) and 'hashlog::' not in frames[0]:
        c='kernel: file I/O and fdatasync'
    if c is None:
        for f in frames:
            for name,pats in order:
                if any(p in f for p in pats):
                    c=name;break
            if c: break
    if c is None:
        if any(k in txt for k in ('schedule','futex','sched_yield','wake')): c='scheduling, futex, wakeups'
        else: c='other ('+comm+')'
    cats[c]+=1
tot=sum(cats.values())
for k,v in cats.most_common(): print(f"| {k} | {v} | {100*v/tot:.1f} % |")
print('total',tot)
