//! WAL behaviour: round trips on every backend, group commit, torn tails, corruption, rotation,
//! and I/O faults with crashes.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::Duration;

use super::format::{
    encode_batch_frame, encode_frame, BatchInfo, FrameSum, BATCH_FRAME_LEN, FRAME_DATA,
    FRAME_HEADER_LEN,
};
use super::{Durability, Wal, WalOptions};
use crate::error::StorageError;
use crate::io::faulty::{FaultConfig, FaultyBackend};
use crate::io::std_backend::StdBackend;
use crate::io::uring::UringBackend;
use crate::io::IoBackend;
use crate::key::SeqNo;

type Records = Vec<(SeqNo, Vec<u8>)>;

fn std_io() -> Arc<dyn IoBackend> {
    Arc::new(StdBackend::new())
}

fn backends() -> Vec<Arc<dyn IoBackend>> {
    let mut v = vec![std_io()];
    if let Ok(u) = UringBackend::new() {
        v.push(Arc::new(u));
    }
    v
}

fn open(
    io: Arc<dyn IoBackend>,
    dir: &Path,
    opts: WalOptions,
) -> crate::error::Result<(Wal, Records)> {
    let mut got = Vec::new();
    let wal = Wal::open(io, dir, opts, &mut |seq, p| {
        got.push((seq, p.to_vec()));
        Ok(())
    })?;
    Ok((wal, got))
}

fn reopen(dir: &Path, opts: WalOptions) -> crate::error::Result<Records> {
    let (wal, got) = open(std_io(), dir, opts)?;
    wal.close()?;
    Ok(got)
}

fn payload(i: u64) -> Vec<u8> {
    format!("record-{i}-{}", "x".repeat((i % 13) as usize)).into_bytes()
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

/// Buffered durability, synced every `ms` milliseconds.
fn buffered(ms: u64) -> WalOptions {
    WalOptions {
        durability: Durability::Buffered {
            interval: Duration::from_millis(ms),
        },
        ..WalOptions::default()
    }
}

fn small_segments() -> WalOptions {
    WalOptions {
        segment_size_bytes: 300,
        ..WalOptions::default()
    }
}

#[test]
fn appended_records_replay_after_reopen_on_every_backend() {
    for io in backends() {
        for opts in [
            WalOptions::default(),
            WalOptions {
                preallocate: false,
                ..WalOptions::default()
            },
            WalOptions {
                direct_io: true,
                ..WalOptions::default()
            },
            buffered(5),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let (wal, got) = open(Arc::clone(&io), dir.path(), opts).expect("open");
            assert!(got.is_empty());
            assert_eq!(wal.last_seq(), 0);
            let mut want = Vec::new();
            for i in 0..50 {
                let seq = wal.append(&payload(i)).expect("append");
                assert_eq!(seq, i + 1, "{} {opts:?}", io.name());
                want.push((seq, payload(i)));
            }
            wal.append(&[]).expect("empty record");
            want.push((51, Vec::new()));
            wal.sync().expect("sync");
            assert_eq!(wal.last_seq(), 51);
            wal.close().expect("close");
            assert!(matches!(wal.append(b"late"), Err(StorageError::Closed)));
            let (wal, got) = open(Arc::clone(&io), dir.path(), opts).expect("reopen");
            assert_eq!(got, want, "{} {opts:?}", io.name());
            assert_eq!(wal.append(b"next").expect("append after reopen"), 52);
            drop(wal);
            assert_eq!(reopen(dir.path(), opts).expect("reopen").len(), 52);
        }
    }
}

#[test]
fn concurrent_appenders_get_unique_increasing_seqs_and_all_replay() {
    for io in backends() {
        concurrent_appenders_on(io);
    }
}

fn concurrent_appenders_on(io: Arc<dyn IoBackend>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = open(io, dir.path(), small_segments()).expect("open");
    let per_thread: Vec<Vec<(SeqNo, Vec<u8>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8u64)
            .map(|t| {
                let wal = &wal;
                s.spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0..60u64 {
                        let p = format!("t{t}-{i}").into_bytes();
                        let seq = wal.append(&p).expect("append");
                        if let Some((prev, _)) = mine.last() {
                            assert!(seq > *prev, "seqs of one thread must increase");
                        }
                        mine.push((seq, p));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let mut all: Records = per_thread.into_iter().flatten().collect();
    all.sort();
    let seqs: Vec<SeqNo> = all.iter().map(|r| r.0).collect();
    assert_eq!(
        seqs,
        (1..=480).collect::<Vec<_>>(),
        "seqs are unique and dense"
    );
    assert!(wal.stats().segments > 1, "small segments rotate");
    wal.close().expect("close");
    assert_eq!(reopen(dir.path(), small_segments()).expect("reopen"), all);
}

#[test]
fn group_commit_shares_fdatasyncs_between_concurrent_writers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = open(std_io(), dir.path(), WalOptions::default()).expect("open");
    std::thread::scope(|s| {
        for t in 0..16u64 {
            let wal = &wal;
            s.spawn(move || {
                for i in 0..40u64 {
                    wal.append(format!("{t}:{i}").as_bytes()).expect("append");
                }
            });
        }
    });
    let st = wal.stats();
    assert_eq!(st.records, 640);
    assert!(st.batches < st.records, "no batching: {st:?}");
    assert!(st.syncs < st.records, "one fdatasync per record: {st:?}");
    eprintln!("group commit: {st:?}");
}

#[test]
fn appenders_racing_close_are_answered_and_none_hangs() {
    // Appenders keep the sync queue busy while the log closes: each append is either
    // acknowledged (and replays) or refused with Closed, and every thread returns.
    for round in 0..20u64 {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wal, _) = open(std_io(), dir.path(), small_segments()).expect("open");
        let started = std::sync::Barrier::new(9);
        let acked: Vec<Records> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8u64)
                .map(|t| {
                    let (wal, started) = (&wal, &started);
                    s.spawn(move || {
                        started.wait();
                        let mut mine = Vec::new();
                        for i in 0..500u64 {
                            let p = format!("r{round}-t{t}-{i}").into_bytes();
                            match wal.append(&p) {
                                Ok(seq) => mine.push((seq, p)),
                                Err(StorageError::Closed) => break,
                                Err(e) => panic!("unexpected error {e}"),
                            }
                        }
                        mine
                    })
                })
                .collect();
            started.wait();
            std::thread::sleep(std::time::Duration::from_micros(200 * round));
            wal.close().expect("close");
            assert!(matches!(wal.append(b"late"), Err(StorageError::Closed)));
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        let mut acked: Records = acked.into_iter().flatten().collect();
        acked.sort();
        assert_eq!(reopen(dir.path(), small_segments()).expect("reopen"), acked);
    }
}

fn inodes_with_suffix(dir: &Path, suffix: &str) -> Vec<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry"))
        .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
        .map(|e| e.metadata().expect("metadata").ino())
        .collect()
}

/// 4 KiB segments whose released files are reused.
fn reusing_small_segments() -> WalOptions {
    WalOptions {
        segment_size_bytes: 4096,
        reuse_segments: true,
        ..WalOptions::default()
    }
}

fn append_and_release(wal: &Wal, n: u64) {
    for i in 0..n {
        wal.append(&payload(i)).expect("append");
    }
    wal.release_up_to(wal.last_seq()).expect("release");
}

/// Where in `acked` the replay `got` starts; panics unless `got` is exactly the rest of it.
fn replayed_from(acked: &Records, got: &Records) -> usize {
    let k = acked
        .iter()
        .position(|r| r == &got[0])
        .expect("replay starts at an acknowledged record");
    assert_eq!(&acked[k..], &got[..]);
    k
}

#[test]
fn released_segments_are_reused_and_the_log_replays_after_a_crash_and_a_close() {
    for direct_io in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = WalOptions {
            segment_size_bytes: 4096,
            direct_io,
            reuse_segments: true,
            ..WalOptions::default()
        };
        let io = faulty_over_std(FaultConfig::default(), 2);
        let (wal, _) = open(io.clone(), dir.path(), opts).expect("open");
        let mut acked = Records::new();
        let mut freed = std::collections::BTreeSet::new();
        let mut reused = false;
        let mut released = 0;
        for i in 0..400u64 {
            let p = payload(i);
            acked.push((wal.append(&p).expect("append"), p));
            if i % 40 == 39 {
                released = wal.last_seq();
                wal.release_up_to(released).expect("release");
                freed.extend(inodes_with_suffix(dir.path(), ".wal.free"));
            }
            reused |= inodes_with_suffix(dir.path(), ".wal")
                .iter()
                .any(|ino| freed.contains(ino));
            assert!(inodes_with_suffix(dir.path(), ".wal.free").len() <= 2);
        }
        assert!(reused, "no released segment file was reused");
        // A crash: the active segment (a reused file) keeps older segments' bytes after its
        // end (no close cuts them), and recovery must stop at its own last batch.
        io.simulate_crash().expect("crash");
        drop(wal);
        let got = reopen(dir.path(), opts).expect("reopen after a crash");
        let k = replayed_from(&acked, &got);
        assert!(
            acked[k].0 <= released + 1,
            "records after the last release were lost"
        );
        // A close cuts the reused file's older bytes; the next open replays the same.
        let (wal, again) = open(std_io(), dir.path(), opts).expect("open");
        assert_eq!(again, got);
        let p = b"after the reopen".to_vec();
        acked.push((wal.append(&p).expect("append"), p));
        wal.close().expect("close");
        assert_eq!(&reopen(dir.path(), opts).expect("reopen")[..], &acked[k..]);
    }
}

#[test]
fn a_kept_file_holding_another_logs_batches_replays_none_of_them() {
    // A file kept for reuse may hold anything: here whole segments of another log with the
    // same ids and sequence numbers. Reused, its bytes after the new header never read as
    // this log's records.
    let other = tempfile::tempdir().expect("tempdir");
    let opts = WalOptions {
        segment_size_bytes: 4096,
        ..WalOptions::default()
    };
    let (wal, _) = open(std_io(), other.path(), opts).expect("open");
    for i in 0..200u64 {
        wal.append(format!("other-{i}").as_bytes()).expect("append");
    }
    wal.close().expect("close");
    let dir = tempfile::tempdir().expect("tempdir");
    for (k, seg) in segments(other.path()).iter().take(2).enumerate() {
        std::fs::copy(seg, dir.path().join(format!("{:020}.wal.free", 1000 + k))).expect("copy");
    }
    let io = faulty_over_std(FaultConfig::default(), 3);
    let (wal, _) = open(io.clone(), dir.path(), opts).expect("open");
    let mut acked = Records::new();
    for i in 0..200u64 {
        let p = payload(i);
        acked.push((wal.append(&p).expect("append"), p));
    }
    // A crash, so no close cuts the other log's bytes after the active segment's end.
    io.simulate_crash().expect("crash");
    drop(wal);
    assert_eq!(reopen(dir.path(), opts).expect("reopen"), acked);
}

#[test]
fn without_reuse_released_segments_are_deleted_and_kept_files_are_dropped_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reuse = reusing_small_segments();
    let (wal, _) = open(std_io(), dir.path(), reuse).expect("open");
    append_and_release(&wal, 200);
    wal.close().expect("close");
    assert_eq!(inodes_with_suffix(dir.path(), ".wal.free").len(), 2);
    // Reopened without reuse: the kept files go, and released segments are deleted.
    let plain = WalOptions {
        reuse_segments: false,
        ..reuse
    };
    let (wal, _) = open(std_io(), dir.path(), plain).expect("open");
    assert!(inodes_with_suffix(dir.path(), ".wal.free").is_empty());
    append_and_release(&wal, 200);
    assert!(inodes_with_suffix(dir.path(), ".wal.free").is_empty());
    assert_eq!(inodes_with_suffix(dir.path(), ".wal").len(), 1);
    wal.close().expect("close");
}

#[test]
fn concurrent_releases_leave_no_gap_and_keep_at_most_two_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = reusing_small_segments();
    let (wal, _) = open(std_io(), dir.path(), opts).expect("open");
    let mut acked = Records::new();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let releasers: Vec<_> = (0..3)
            .map(|_| {
                let (wal, stop) = (&wal, &stop);
                s.spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        wal.release_up_to(wal.last_seq().saturating_sub(30))
                            .expect("release");
                        std::thread::yield_now();
                    }
                })
            })
            .collect();
        for i in 0..600u64 {
            let p = payload(i);
            acked.push((wal.append(&p).expect("append"), p));
            assert!(inodes_with_suffix(dir.path(), ".wal.free").len() <= 2);
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for r in releasers {
            r.join().expect("releaser");
        }
    });
    drop(wal);
    // Segment ids stay consecutive (a gap would be refused as corruption) and the replay is
    // a suffix of what was acknowledged that holds at least the last 30 records.
    let got = reopen(dir.path(), opts).expect("reopen");
    let k = replayed_from(&acked, &got);
    assert!(acked.len() - k > 30);
}

/// A waker that counts its wakes and unparks the thread polling the futures (a one-thread
/// executor, as a runtime's worker thread is).
struct CountingWaker {
    wakes: std::sync::atomic::AtomicUsize,
    thread: std::thread::Thread,
}

impl std::task::Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.thread.unpark();
    }
}

fn counting_waker() -> (Arc<CountingWaker>, std::task::Waker) {
    let w = Arc::new(CountingWaker {
        wakes: std::sync::atomic::AtomicUsize::new(0),
        thread: std::thread::current(),
    });
    (Arc::clone(&w), std::task::Waker::from(w))
}

/// Polls every future on this thread until all are ready, parking between rounds; panics
/// after 30 s (a lost wake-up would otherwise hang the test).
fn drive_all(mut futs: Vec<super::Append>) -> (Vec<crate::error::Result<SeqNo>>, usize) {
    use std::future::Future;
    use std::task::{Context, Poll};
    let (counter, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut out: Vec<Option<crate::error::Result<SeqNo>>> = futs.iter().map(|_| None).collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                if let Poll::Ready(r) = std::pin::Pin::new(f).poll(&mut cx) {
                    *o = Some(r);
                }
            }
        }
        if out.iter().all(Option::is_some) {
            let wakes = counter.wakes.load(std::sync::atomic::Ordering::SeqCst);
            return (out.into_iter().flatten().collect(), wakes);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "async appends not answered within 30 s (lost wake-up?)"
        );
        // Park without a timeout would hang on a lost wake-up; the deadline catches it, the
        // wake count below shows the wakers were used.
        std::thread::park_timeout(Duration::from_secs(1));
    }
}

#[test]
fn async_appends_from_one_thread_are_acknowledged_in_order_and_replay() {
    for io in backends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wal, _) = open(io, dir.path(), small_segments()).expect("open");
        let mut expected: Records = Vec::new();
        let mut woken = 0;
        for round in 0..5u64 {
            let payloads: Vec<Vec<u8>> = (0..64).map(|i| payload(round * 64 + i)).collect();
            let futs = payloads.iter().map(|p| wal.append_async(p)).collect();
            let (answers, wakes) = drive_all(futs);
            woken += wakes;
            for (a, p) in answers.into_iter().zip(payloads) {
                expected.push((a.expect("async append"), p));
            }
        }
        assert!(woken > 0, "the committer never woke the polling task");
        // Queued in order from one thread: consecutive seqs, in the order appended.
        let seqs: Vec<SeqNo> = expected.iter().map(|(s, _)| *s).collect();
        let first = seqs[0];
        assert_eq!(seqs, (first..first + 320).collect::<Vec<_>>());
        assert_eq!(wal.stats().records, 320);
        wal.close().expect("close");
        assert_eq!(
            reopen(dir.path(), small_segments()).expect("reopen"),
            expected
        );
    }
}

#[test]
fn async_and_blocking_appenders_share_batches_and_all_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = open(std_io(), dir.path(), WalOptions::default()).expect("open");
    let acked: Vec<Records> = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for t in 0..4u64 {
            let wal = &wal;
            handles.push(s.spawn(move || {
                (0..200u64)
                    .map(|i| {
                        let p = format!("thread-{t}-{i}").into_bytes();
                        (wal.append(&p).expect("append"), p)
                    })
                    .collect::<Records>()
            }));
        }
        let wal = &wal;
        handles.push(s.spawn(move || {
            let mut mine = Records::new();
            for round in 0..25u64 {
                let ps: Vec<Vec<u8>> = (0..32u64)
                    .map(|i| format!("task-{round}-{i}").into_bytes())
                    .collect();
                let (answers, _) = drive_all(ps.iter().map(|p| wal.append_async(p)).collect());
                for (a, p) in answers.into_iter().zip(ps) {
                    mine.push((a.expect("async append"), p));
                }
            }
            mine
        }));
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let mut acked: Records = acked.into_iter().flatten().collect();
    acked.sort();
    assert_eq!(acked.len(), 4 * 200 + 25 * 32);
    wal.close().expect("close");
    assert_eq!(
        reopen(dir.path(), WalOptions::default()).expect("reopen"),
        acked
    );
}

#[test]
fn async_appends_racing_close_are_answered_and_none_hangs() {
    for round in 0..20u64 {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wal, _) = open(std_io(), dir.path(), small_segments()).expect("open");
        let acked: Records = std::thread::scope(|s| {
            let wal = &wal;
            let h = s.spawn(move || {
                let mut mine = Records::new();
                for i in 0..50u64 {
                    let ps: Vec<Vec<u8>> = (0..16u64)
                        .map(|j| format!("r{round}-{i}-{j}").into_bytes())
                        .collect();
                    let (answers, _) = drive_all(ps.iter().map(|p| wal.append_async(p)).collect());
                    let mut closed = false;
                    for (a, p) in answers.into_iter().zip(ps) {
                        match a {
                            Ok(seq) => mine.push((seq, p)),
                            Err(StorageError::Closed) => closed = true,
                            Err(e) => panic!("unexpected error {e}"),
                        }
                    }
                    if closed {
                        break;
                    }
                }
                mine
            });
            std::thread::sleep(Duration::from_micros(300 * round));
            wal.close().expect("close");
            h.join().expect("thread")
        });
        let (late, _) = drive_all(vec![wal.append_async(b"late")]);
        assert!(matches!(late[0], Err(StorageError::Closed)));
        let mut acked = acked;
        acked.sort();
        assert_eq!(reopen(dir.path(), small_segments()).expect("reopen"), acked);
    }
}

#[test]
fn async_append_rewakes_the_latest_waker_and_a_dropped_one_still_lands() {
    use std::future::Future;
    use std::task::{Context, Poll};
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = open(std_io(), dir.path(), WalOptions::default()).expect("open");
    // Polled with one waker, then another: only the second is woken (the first was replaced).
    let mut f = wal.append_async(b"polled twice");
    let (first, first_waker) = counting_waker();
    let (second, second_waker) = counting_waker();
    let mut answered = None;
    for w in [&first_waker, &second_waker] {
        if let Poll::Ready(r) = std::pin::Pin::new(&mut f).poll(&mut Context::from_waker(w)) {
            answered = Some(r);
            break;
        }
    }
    if answered.is_none() {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while second.wakes.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            assert!(std::time::Instant::now() < deadline, "never woken");
            std::thread::park_timeout(Duration::from_millis(50));
        }
        assert_eq!(first.wakes.load(std::sync::atomic::Ordering::SeqCst), 0);
        let mut cx = Context::from_waker(&second_waker);
        match std::pin::Pin::new(&mut f).poll(&mut cx) {
            Poll::Ready(r) => answered = Some(r),
            Poll::Pending => panic!("woken but not ready"),
        }
    }
    let seq = answered.expect("answered").expect("append");
    // Polling a completed append again is an error, not a panic.
    let mut cx = Context::from_waker(&second_waker);
    assert!(matches!(
        std::pin::Pin::new(&mut f).poll(&mut cx),
        Poll::Ready(Err(StorageError::InvalidArgument(_)))
    ));
    // A future dropped unpolled does not withdraw its record.
    drop(wal.append_async(b"dropped"));
    let last = wal.append(b"after").expect("append");
    wal.close().expect("close");
    let got = reopen(dir.path(), WalOptions::default()).expect("reopen");
    let bodies: Vec<&[u8]> = got.iter().map(|(_, p)| p.as_slice()).collect();
    assert_eq!(bodies, vec![&b"polled twice"[..], b"dropped", b"after"]);
    assert_eq!(got[0].0, seq);
    assert_eq!(got[2].0, last);
}

#[test]
fn async_append_refuses_oversize_and_answers_buffered_at_once() {
    use std::future::Future;
    use std::task::{Context, Poll};
    let (_c, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = buffered(10);
    let (wal, _) = open(std_io(), dir.path(), opts).expect("open");
    let big = vec![0u8; crate::limits::WAL_RECORD_SIZE_MAX_BYTES + 1];
    let mut f = wal.append_async(&big);
    assert!(matches!(
        std::pin::Pin::new(&mut f).poll(&mut cx),
        Poll::Ready(Err(StorageError::InvalidArgument(_)))
    ));
    let mut f = wal.append_async(b"buffered");
    let seq = match std::pin::Pin::new(&mut f).poll(&mut cx) {
        Poll::Ready(r) => r.expect("buffered append"),
        Poll::Pending => panic!("a buffered append waits for nothing"),
    };
    wal.close().expect("close");
    let got = reopen(dir.path(), opts).expect("reopen");
    assert_eq!(got, vec![(seq, b"buffered".to_vec())]);
}

/// Four small records and a last one; returns the segment path and where the last batch
/// starts and ends.
fn log_with_last_batch(dir: &Path, opts: WalOptions) -> (PathBuf, u64, u64) {
    let (wal, _) = open(std_io(), dir, opts).expect("open");
    for i in 0..4 {
        wal.append(&payload(i)).expect("append");
    }
    let before = wal.stats().bytes;
    wal.append(b"the last record, which a crash tears")
        .expect("append");
    let after = wal.stats().bytes;
    wal.close().expect("close");
    let seg = segments(dir).pop().expect("segment");
    let start = super::format::SEGMENT_HEADER_LEN as u64 + before;
    (seg, start, start + (after - before))
}

#[test]
fn torn_tail_is_truncated_at_every_offset_of_the_last_record() {
    for preallocate in [false, true] {
        let opts = WalOptions {
            preallocate,
            ..WalOptions::default()
        };
        let src = tempfile::tempdir().expect("tempdir");
        let (seg, start, end) = log_with_last_batch(src.path(), opts);
        let original = std::fs::read(&seg).expect("read");
        for cut in start..end {
            for zero_fill in [false, true] {
                let dir = tempfile::tempdir().expect("tempdir");
                let path = dir.path().join(seg.file_name().expect("name"));
                let mut bytes = original.clone();
                if zero_fill {
                    bytes[cut as usize..end as usize].fill(0);
                } else {
                    bytes.truncate(cut as usize);
                }
                std::fs::write(&path, &bytes).expect("write");
                let (wal, got) = open(std_io(), dir.path(), opts).expect("torn tail must open");
                assert_eq!(got.len(), 4, "cut at {cut} (zero_fill {zero_fill})");
                assert_eq!(wal.append(b"after the tear").expect("append"), 5);
                wal.close().expect("close");
                let got = reopen(dir.path(), opts).expect("reopen");
                assert_eq!(got.len(), 5);
                assert_eq!(got[4].1, b"after the tear");
            }
        }
    }
}

#[test]
fn damage_in_a_record_followed_by_valid_data_is_corruption() {
    let src = tempfile::tempdir().expect("tempdir");
    let (seg, _, _) = log_with_last_batch(src.path(), WalOptions::default());
    let original = std::fs::read(&seg).expect("read");
    // The second batch: after the header and the first batch.
    let first_batch = BATCH_FRAME_LEN + FRAME_HEADER_LEN + payload(0).len();
    let second = super::format::SEGMENT_HEADER_LEN + first_batch;
    let second_len = BATCH_FRAME_LEN + FRAME_HEADER_LEN + payload(1).len();
    for at in second..second + second_len {
        for zero in [false, true] {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut bytes = original.clone();
            if zero {
                bytes[at] = 0;
                if original[at] == 0 {
                    continue;
                }
            } else {
                bytes[at] ^= 0x40;
            }
            std::fs::write(dir.path().join(seg.file_name().expect("name")), &bytes).expect("write");
            match open(std_io(), dir.path(), WalOptions::default()) {
                Err(StorageError::Corruption(msg)) => assert!(msg.contains("offset"), "{msg}"),
                Err(e) => panic!("byte {at}: expected corruption, got {e}"),
                Ok((_, got)) => panic!(
                    "byte {at}: damage silently accepted, replayed {}",
                    got.len()
                ),
            }
        }
    }
}

#[test]
fn damage_in_an_unsynced_region_is_a_torn_tail_even_with_data_after_it() {
    // Buffered mode with a long interval: nothing after the header is synced, so writeback may
    // have persisted a later batch and not an earlier one.
    let opts = WalOptions {
        durability: Durability::Buffered {
            interval: Duration::from_secs(3600),
        },
        preallocate: false,
        ..WalOptions::default()
    };
    let src = tempfile::tempdir().expect("tempdir");
    let (wal, _) = open(std_io(), src.path(), opts).expect("open");
    for i in 0..5 {
        wal.append(&payload(i)).expect("append");
    }
    // Drop without close would sync; copy the file while it is unsynced instead.
    wal.write_out().expect("write out");
    let seg = segments(src.path()).pop().expect("segment");
    let mut bytes = std::fs::read(&seg).expect("read");
    drop(wal);
    let at = super::format::SEGMENT_HEADER_LEN + BATCH_FRAME_LEN + 3;
    bytes[at] ^= 1;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(seg.file_name().expect("name")), &bytes).expect("write");
    let got = reopen(dir.path(), opts).expect("torn, not corrupt");
    assert!(got.is_empty(), "a hole cuts everything after it: {got:?}");
}

#[test]
fn damage_in_a_sealed_segment_is_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = open(std_io(), dir.path(), small_segments()).expect("open");
    for i in 0..40 {
        wal.append(&payload(i)).expect("append");
    }
    wal.close().expect("close");
    let segs = segments(dir.path());
    assert!(segs.len() >= 3);
    let mut bytes = std::fs::read(&segs[1]).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&segs[1], &bytes).expect("write");
    assert!(matches!(
        reopen(dir.path(), small_segments()),
        Err(StorageError::Corruption(_))
    ));
}

#[test]
fn a_missing_segment_is_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = open(std_io(), dir.path(), small_segments()).expect("open");
    for i in 0..40 {
        wal.append(&payload(i)).expect("append");
    }
    wal.close().expect("close");
    let segs = segments(dir.path());
    std::fs::remove_file(&segs[1]).expect("remove");
    match reopen(dir.path(), small_segments()) {
        Err(StorageError::Corruption(msg)) => assert!(msg.contains("missing"), "{msg}"),
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn segments_rotate_and_release_up_to_deletes_only_fully_released_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = small_segments();
    let (wal, _) = open(std_io(), dir.path(), opts).expect("open");
    for i in 0..60 {
        wal.append(&payload(i)).expect("append");
    }
    let before = wal.stats().segments;
    assert!(before >= 4, "{before} segments");
    assert_eq!(segments(dir.path()).len() as u64, before);
    wal.release_up_to(30).expect("release");
    let after = wal.stats().segments;
    assert!(after < before);
    wal.close().expect("close");
    let got = reopen(dir.path(), opts).expect("reopen");
    let first = got.first().expect("records").0;
    assert!(
        first <= 31,
        "a record > 30 was released: first left is {first}"
    );
    assert!(first > 1, "nothing was released");
    assert_eq!(got.last().expect("records").0, 60);
    let seqs: Vec<SeqNo> = got.iter().map(|r| r.0).collect();
    assert_eq!(seqs, (first..=60).collect::<Vec<_>>());
    // Releasing everything keeps the active segment, and numbering continues.
    let (wal, _) = open(std_io(), dir.path(), opts).expect("reopen");
    wal.release_up_to(SeqNo::MAX).expect("release all");
    assert_eq!(wal.stats().segments, 1);
    assert_eq!(wal.append(b"more").expect("append"), 61);
    wal.close().expect("close");
    let got = reopen(dir.path(), opts).expect("reopen");
    assert_eq!(got.last().map(|r| r.0), Some(61));
}

#[test]
fn a_record_larger_than_a_segment_gets_a_segment_of_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = small_segments();
    let (wal, _) = open(std_io(), dir.path(), opts).expect("open");
    wal.append(b"small").expect("append");
    let big = vec![7u8; 5000];
    assert_eq!(wal.append(&big).expect("big"), 2);
    wal.append(b"after").expect("append");
    wal.close().expect("close");
    let got = reopen(dir.path(), opts).expect("reopen");
    assert_eq!(
        got.iter().map(|r| r.1.len()).collect::<Vec<_>>(),
        vec![5, 5000, 5]
    );
}

#[test]
fn oversized_records_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = open(std_io(), dir.path(), WalOptions::default()).expect("open");
    let huge = vec![0u8; crate::limits::WAL_RECORD_SIZE_MAX_BYTES + 1];
    assert!(matches!(
        wal.append(&huge),
        Err(StorageError::InvalidArgument(_))
    ));
    assert!(!wal.is_poisoned());
}

#[test]
fn newer_format_and_foreign_files_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = open(std_io(), dir.path(), WalOptions::default()).expect("open");
    wal.append(b"x").expect("append");
    wal.close().expect("close");
    let seg = segments(dir.path()).pop().expect("segment");
    let original = std::fs::read(&seg).expect("read");
    let mut newer = original.clone();
    newer[8] = 9;
    std::fs::write(&seg, &newer).expect("write");
    assert!(matches!(
        reopen(dir.path(), WalOptions::default()),
        Err(StorageError::UnsupportedVersion { found: 9, .. })
    ));
    let mut foreign = b"PK\x03\x04 this is a zip file, not a log".to_vec();
    foreign.resize(original.len(), 0);
    std::fs::write(&seg, &foreign).expect("write");
    assert!(matches!(
        reopen(dir.path(), WalOptions::default()),
        Err(StorageError::NotADatabase(..))
    ));
}

/// Salt of hand-built segments.
const TEST_SALT: u32 = 0x5EED;

/// A hand-built segment: header, then `body` (frames checksummed with [`TEST_SALT`]).
fn write_segment(dir: &Path, body: &[u8]) {
    let mut bytes = super::format::encode_segment_header(&super::format::SegmentHeader {
        id: 1,
        base_seq: 1,
        salt: TEST_SALT,
    })
    .to_vec();
    bytes.extend_from_slice(body);
    std::fs::write(dir.join(format!("{:020}.wal", 1)), bytes).expect("write");
}

fn batch(first: SeqNo, frames: &[(u8, SeqNo, &[u8])], records: u32) -> Vec<u8> {
    let mut body = Vec::new();
    let sum = &mut FrameSum::new(TEST_SALT);
    for (kind, seq, p) in frames {
        encode_frame(&mut body, sum, *kind, *seq, p);
    }
    let mut out = Vec::new();
    let info = BatchInfo {
        records,
        batch_len: (BATCH_FRAME_LEN + body.len()) as u64,
        synced_through: 40,
    };
    encode_batch_frame(&mut out, sum, first, &info);
    out.extend_from_slice(&body);
    out
}

#[test]
fn reserved_skippable_frames_are_skipped_and_must_understand_ones_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut body = Vec::new();
    encode_frame(
        &mut body,
        &mut FrameSum::new(TEST_SALT),
        200,
        0,
        b"a future top-level annotation",
    );
    body.extend(batch(
        1,
        &[
            (FRAME_DATA, 1, b"one"),
            (131, 1, b"future"),
            (FRAME_DATA, 2, b"two"),
        ],
        2,
    ));
    write_segment(dir.path(), &body);
    let got = reopen(dir.path(), WalOptions::default()).expect("skippable frames");
    assert_eq!(got, vec![(1, b"one".to_vec()), (2, b"two".to_vec())]);

    let dir = tempfile::tempdir().expect("tempdir");
    write_segment(
        dir.path(),
        &batch(1, &[(FRAME_DATA, 1, b"one"), (9, 2, b"must understand")], 1),
    );
    assert!(matches!(
        reopen(dir.path(), WalOptions::default()),
        Err(StorageError::UnsupportedVersion { found: 9, .. })
    ));
}

#[test]
fn a_segment_whose_creation_was_torn_is_discarded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = small_segments();
    let (wal, _) = open(std_io(), dir.path(), opts).expect("open");
    for i in 0..10 {
        wal.append(&payload(i)).expect("append");
    }
    wal.close().expect("close");
    let next_id = segments(dir.path()).len() + 1;
    std::fs::write(dir.path().join(format!("{next_id:020}.wal")), b"HLOGW").expect("torn header");
    let (wal, got) = open(std_io(), dir.path(), opts).expect("open");
    assert_eq!(got.len(), 10);
    assert_eq!(wal.append(b"x").expect("append"), 11);
    wal.close().expect("close");
    assert_eq!(reopen(dir.path(), opts).expect("reopen").len(), 11);

    // An O_DIRECT block the header never reached (zeros) is a torn creation too.
    let next_id = segments(dir.path()).len() + 1;
    let mut block = vec![0u8; 4096];
    let torn = dir.path().join(format!("{next_id:020}.wal"));
    std::fs::write(&torn, &block).expect("torn header");
    assert_eq!(reopen(dir.path(), opts).expect("reopen").len(), 11);
    // ... and the segment created in its place has a header.
    let bytes = std::fs::read(&torn).expect("read");
    assert!(super::format::decode_segment_header(&bytes).is_ok());

    // A header that does not decode with anything but zeros after it held data: corruption,
    // and the file stays.
    let next_id = segments(dir.path()).len() + 1;
    block[..8].copy_from_slice(&super::format::SEGMENT_MAGIC);
    block[8] = 2;
    block[100] = 1;
    let rotten = dir.path().join(format!("{next_id:020}.wal"));
    std::fs::write(&rotten, &block).expect("rotten header");
    assert!(matches!(
        reopen(dir.path(), opts),
        Err(StorageError::Corruption(_))
    ));
    assert!(rotten.exists());
}

#[test]
fn buffered_mode_syncs_on_its_timer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = buffered(20);
    let (wal, _) = open(std_io(), dir.path(), opts).expect("open");
    for i in 0..10 {
        wal.append(&payload(i)).expect("append");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while wal.stats().syncs == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(wal.stats().syncs >= 1, "the timer never synced");
    assert!(wal.stats().syncs < 10);
}

fn faulty_over_std(config: FaultConfig, seed: u64) -> Arc<FaultyBackend> {
    Arc::new(FaultyBackend::new(std_io(), config, seed))
}

#[test]
fn a_failed_fsync_surfaces_as_an_error_and_poisons_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let io = faulty_over_std(FaultConfig::default(), 1);
    let (wal, _) = open(io.clone(), dir.path(), WalOptions::default()).expect("open");
    wal.append(b"acknowledged").expect("append");
    io.set_config(FaultConfig {
        sync_error: 1.0,
        ..FaultConfig::default()
    });
    assert!(matches!(wal.append(b"lost"), Err(StorageError::Io(_))));
    assert!(wal.is_poisoned());
    io.set_config(FaultConfig::default());
    assert!(matches!(
        wal.append(b"after"),
        Err(StorageError::Poisoned(_))
    ));
    assert!(matches!(wal.sync(), Err(StorageError::Poisoned(_))));
    io.simulate_crash().expect("crash");
    drop(wal);
    assert_eq!(
        reopen(dir.path(), WalOptions::default()).expect("reopen"),
        vec![(1, b"acknowledged".to_vec())]
    );
}

#[test]
fn disk_full_fails_the_append_and_poisons_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let io = faulty_over_std(FaultConfig::default(), 2);
    let (wal, _) = open(
        io.clone(),
        dir.path(),
        WalOptions {
            preallocate: false,
            ..WalOptions::default()
        },
    )
    .expect("open");
    wal.append(b"ok").expect("append");
    io.set_disk_full(true);
    match wal.append(b"no room") {
        Err(e) => assert!(e.is_retryable(), "ENOSPC should say retryable: {e}"),
        Ok(_) => panic!("append succeeded on a full disk"),
    }
    io.set_disk_full(false);
    assert!(matches!(wal.append(b"x"), Err(StorageError::Poisoned(_))));
}

/// With preallocation (the default) a full disk refuses an append before any byte of it is
/// written, so the log is not poisoned: appends fail with DiskFull while the disk is full and
/// succeed again once space is freed, and a reopen replays exactly the acknowledged records.
/// Covers both durability modes and segment rotation (small segments: creating the next one
/// fails too).
#[test]
fn disk_full_refuses_appends_without_poisoning_and_writes_resume_when_space_returns() {
    let cases = [
        (Durability::Sync, 64 * 1024 * 1024u64),
        (Durability::Sync, 16 * 1024),
        (
            Durability::Buffered {
                interval: Duration::from_millis(5),
            },
            64 * 1024 * 1024,
        ),
        (
            Durability::Buffered {
                interval: Duration::from_millis(5),
            },
            16 * 1024,
        ),
    ];
    for (durability, segment_size_bytes) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let io = faulty_over_std(FaultConfig::default(), 3);
        let opts = WalOptions {
            durability,
            segment_size_bytes,
            ..WalOptions::default()
        };
        let (wal, _) = open(io.clone(), dir.path(), opts).expect("open");
        let mut acked: Records = Vec::new();
        let big = vec![7u8; 4096];
        for i in 0..10u64 {
            let p = payload(i);
            acked.push((wal.append(&p).expect("append before the disk fills"), p));
        }
        io.set_disk_full(true);
        // The preallocated megabyte (or the segment) runs out within this many appends.
        let mut refused = None;
        for i in 0..2_000u64 {
            let mut p = big.clone();
            p.extend_from_slice(&i.to_be_bytes());
            match wal.append(&p) {
                Ok(seq) => acked.push((seq, p)),
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
            if matches!(durability, Durability::Buffered { .. }) {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        let e = refused.unwrap_or_else(|| panic!("{durability:?}: no append was refused"));
        assert!(
            matches!(e, StorageError::DiskFull(_)),
            "{durability:?}/{segment_size_bytes}: a full disk says DiskFull, got {e}"
        );
        assert!(e.is_retryable());
        assert!(
            !wal.is_poisoned(),
            "a refused append must not poison the log"
        );
        // Still full: still refused (the committer keeps retrying in buffered mode). A record
        // small enough for the preallocated space left would still fit: use a big one.
        assert!(matches!(wal.append(&big), Err(StorageError::DiskFull(_))));
        if matches!(durability, Durability::Buffered { .. }) {
            assert!(matches!(wal.sync(), Err(StorageError::DiskFull(_))));
        }
        io.set_disk_full(false);
        // Space is back: appends succeed again (buffered: once the committer's retry wrote
        // the stuck buffer, within a bounded wait).
        let mut resumed = false;
        for i in 0..400u64 {
            let p = payload(1_000 + i);
            match wal.append(&p) {
                Ok(seq) => {
                    acked.push((seq, p));
                    resumed = true;
                    break;
                }
                Err(StorageError::DiskFull(_)) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("{durability:?}: unexpected error after space returned: {e}"),
            }
        }
        assert!(resumed, "{durability:?}: appends never resumed");
        for i in 0..20u64 {
            let p = payload(2_000 + i);
            acked.push((wal.append(&p).expect("append after space returned"), p));
        }
        wal.sync().expect("sync");
        wal.close().expect("close");
        let got = reopen(dir.path(), opts).expect("reopen");
        assert_eq!(
            got, acked,
            "{durability:?}/{segment_size_bytes}: exactly the acknowledged records, in order"
        );
    }
}

/// Random faults under concurrent appenders, then a crash: the reopened log holds exactly the
/// acknowledged records (Sync durability), for many seeds.
#[test]
fn after_faults_and_a_crash_exactly_the_acknowledged_records_replay() {
    let seeds: u64 = std::env::var("WAL_FAULT_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    for seed in 0..seeds {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = WalOptions {
            segment_size_bytes: 2048,
            preallocate: seed % 2 == 0,
            ..WalOptions::default()
        };
        let config = FaultConfig {
            write_error: 0.01 * (seed % 3) as f64,
            write_enospc: 0.005,
            torn_write: 0.01 * (seed % 4) as f64,
            sync_error: 0.01 * ((seed + 1) % 3) as f64,
            ..FaultConfig::default()
        };
        let io = faulty_over_std(FaultConfig::default(), seed);
        let (wal, _) = open(io.clone(), dir.path(), opts).expect("open");
        io.set_config(config);
        let acked: Vec<Records> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4u64)
                .map(|t| {
                    let wal = &wal;
                    s.spawn(move || {
                        let mut mine = Vec::new();
                        for i in 0..100u64 {
                            let p = format!("seed{seed}-t{t}-{i}").into_bytes();
                            match wal.append(&p) {
                                Ok(seq) => mine.push((seq, p)),
                                // Refused whole (no space for the write or a new segment):
                                // it must not replay, and the log stays usable.
                                Err(StorageError::DiskFull(_)) => {}
                                Err(StorageError::Io(_)) | Err(StorageError::Poisoned(_)) => break,
                                Err(e) => panic!("unexpected error {e}"),
                            }
                        }
                        mine
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        let mut acked: Records = acked.into_iter().flatten().collect();
        acked.sort();
        io.simulate_crash().expect("crash");
        drop(wal);
        let got =
            reopen(dir.path(), opts).unwrap_or_else(|e| panic!("seed {seed}: reopen failed: {e}"));
        assert_eq!(got, acked, "seed {seed}: {:?}", io.stats());
    }
}

#[test]
fn uring_and_direct_io_survive_a_crash_of_the_faulty_wrapper() {
    let Ok(u) = UringBackend::new() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let io = Arc::new(FaultyBackend::new(Arc::new(u), FaultConfig::default(), 3));
    let opts = WalOptions {
        direct_io: true,
        segment_size_bytes: 8192,
        ..WalOptions::default()
    };
    let (wal, _) = open(io.clone(), dir.path(), opts).expect("open");
    let mut want = Vec::new();
    for i in 0..100 {
        want.push((wal.append(&payload(i)).expect("append"), payload(i)));
    }
    io.simulate_crash().expect("crash");
    drop(wal);
    assert_eq!(reopen(dir.path(), opts).expect("reopen"), want);
}

#[test]
#[ignore = "measurement, run by hand: cargo test --lib preallocation_effect -- --ignored --nocapture"]
fn preallocation_effect() {
    for preallocate in [false, true, false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = WalOptions {
            preallocate,
            ..WalOptions::default()
        };
        let (wal, _) = open(std_io(), dir.path(), opts).expect("open");
        let p = vec![1u8; 200];
        let t = std::time::Instant::now();
        for _ in 0..500 {
            wal.append(&p).expect("append");
        }
        eprintln!(
            "preallocate={preallocate}: {:?} per synced append",
            t.elapsed() / 500
        );
    }
}

mod recovery_props {
    use proptest::prelude::*;

    use super::super::format::{encode_segment_header, SegmentHeader};
    use super::super::recover::{scan_segment, SegmentScan};
    use super::*;

    fn header(id: u64, base_seq: SeqNo, salt: u32) -> Vec<u8> {
        encode_segment_header(&SegmentHeader { id, base_seq, salt }).to_vec()
    }

    fn scan(
        seg: &[u8],
        base_seq: SeqNo,
        salt: u32,
        is_last: bool,
    ) -> crate::error::Result<SegmentScan> {
        let h = SegmentHeader {
            id: 1,
            base_seq,
            salt,
        };
        scan_segment(seg, "prop", &h, is_last)
    }

    /// A valid segment of `n` single-record batches (all synced, as in Sync mode).
    fn valid_segment(n: u64) -> (Vec<u8>, Vec<usize>) {
        let mut seg = header(1, 1, TEST_SALT);
        let starts = batches(&mut seg, TEST_SALT, 1, n, payload);
        (seg, starts)
    }

    /// Batches of one record each from `first`, the record of seq `s` holding `body(s)`,
    /// appended to `seg` (each synced-through its own start, as in Sync mode) under `salt`;
    /// the batches' start offsets.
    fn batches(
        seg: &mut Vec<u8>,
        salt: u32,
        first: SeqNo,
        n: u64,
        body: impl Fn(SeqNo) -> Vec<u8>,
    ) -> Vec<usize> {
        let sum = &mut FrameSum::new(salt);
        let mut starts = Vec::new();
        for i in 0..n {
            starts.push(seg.len());
            let mut frames = Vec::new();
            encode_frame(&mut frames, sum, FRAME_DATA, first + i, &body(first + i));
            let info = BatchInfo {
                records: 1,
                batch_len: (BATCH_FRAME_LEN + frames.len()) as u64,
                synced_through: seg.len() as u64,
            };
            encode_batch_frame(seg, sum, first + i, &info);
            seg.extend_from_slice(&frames);
        }
        starts
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Arbitrary bytes after a valid header never panic the reader.
        #[test]
        fn arbitrary_segment_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut seg = header(1, 1, TEST_SALT);
            seg.extend_from_slice(&body);
            let _ = scan(&seg, 1, TEST_SALT, true);
            let _ = scan(&seg, 1, TEST_SALT, false);
        }

        /// Damage anywhere in a synced log: recovery either reports corruption or (damage in the
        /// last batch only) returns exactly the records before the damaged batch.
        #[test]
        fn damage_yields_corruption_or_a_clean_prefix(n in 1u64..8, pos in any::<proptest::sample::Index>(), bit in 0u8..8) {
            let (mut seg, starts) = valid_segment(n);
            let at = 40 + pos.index(seg.len() - 40);
            seg[at] ^= 1 << bit;
            match scan(&seg, 1, TEST_SALT, true) {
                Ok(scan) => {
                    let last_start = *starts.last().expect("batches");
                    prop_assert!(at >= last_start, "damage at {} before the last batch accepted", at);
                    prop_assert!(scan.torn);
                    prop_assert_eq!(scan.records.len() as u64, n - 1);
                    prop_assert_eq!(scan.valid_end, last_start);
                }
                Err(StorageError::Corruption(_)) => {
                    let last_start = *starts.last().expect("batches");
                    prop_assert!(at < last_start, "damage at {} in the last batch called corruption", at);
                }
                Err(e) => prop_assert!(false, "unexpected error {}", e),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// A reused segment file: the new segment's batches over an older segment's bytes,
        /// the last new batch possibly torn. As the last segment it yields exactly the whole
        /// new batches and cuts the rest; as a sealed one it is corruption; rot in a new batch
        /// followed by a later new batch is corruption whatever the old bytes are. Salts differ
        /// as they do when drawn at random, or are equal (a 2^-32 chance the sequence numbers
        /// still cover).
        #[test]
        fn a_reused_file_ends_where_its_own_batches_end(
            n_old in 20u64..60,
            n_new in 1u64..12,
            gap in 1u64..1000,
            same_size in any::<bool>(),
            old_salt in any::<u32>(),
            same_salt in any::<bool>(),
            torn in any::<bool>(),
            cut in any::<proptest::sample::Index>(),
            rot in any::<Option<(proptest::sample::Index, u8)>>(),
        ) {
            // Same size: every payload has 40 bytes, so the older file's frames line up with
            // the newer one's; different bytes, so a torn write cannot complete a batch by chance.
            let body = |fill: u8| move |s: SeqNo| if same_size { vec![fill; 40] } else { payload(s) };
            let new_salt = if same_salt { old_salt } else { old_salt.wrapping_add(1) };
            let mut old = header(3, 1, old_salt);
            batches(&mut old, old_salt, 1, n_old, body(7));
            let base = n_old + gap;
            let mut new = header(9, base, new_salt);
            let starts = batches(&mut new, new_salt, base, n_new, body(9));
            prop_assume!(new.len() + 64 < old.len());
            let last_start = *starts.last().expect("batches");
            let full = new.clone();
            if torn {
                // The last new batch reached the disk only in part.
                let keep = last_start + cut.index(new.len() - last_start);
                new.truncate(keep);
            }
            let mut file = old.clone();
            file[..new.len()].copy_from_slice(&new);
            // A write is torn only if what is on disk differs from what was written: the old
            // bytes past the cut may happen to equal the missing ones.
            let intact = file[last_start..full.len()] == full[last_start..];
            let (whole, end) = if intact {
                (n_new, full.len())
            } else {
                (n_new - 1, last_start)
            };
            let got = match scan(&file, base, new_salt, true) {
                Ok(s) => s,
                Err(e) => return Err(TestCaseError::fail(format!("reused file refused: {e}"))),
            };
            prop_assert_eq!(got.valid_end, end);
            prop_assert!(got.torn);
            let seqs: Vec<SeqNo> = got.records.iter().map(|r| r.0).collect();
            prop_assert_eq!(seqs, (base..base + whole).collect::<Vec<_>>());
            prop_assert_eq!(got.next_seq, base + whole);
            prop_assert!(matches!(
                scan(&file, base, new_salt, false),
                Err(StorageError::Corruption(_))
            ));
            if let Some((at, bit)) = rot {
                // Rot inside a whole new batch that a later whole new batch follows.
                if whole >= 2 {
                    let rot_end = starts[(whole - 1) as usize];
                    let at = 40 + at.index(rot_end - 40);
                    let mut rotten = file.clone();
                    rotten[at] ^= 1 << (bit % 8);
                    prop_assert!(matches!(
                        scan(&rotten, base, new_salt, true),
                        Err(StorageError::Corruption(_))
                    ), "rot at {} in a synced batch was not reported", at);
                }
            }
        }
    }

    /// The attack the salt closes: a client stores a value whose bytes are a well-formed batch
    /// numbered as the log's next one. Its record sits in an older segment's file at the very
    /// offset where, after the file is reused and the machine crashes, the new log ends.
    /// Unsalted (both segments salt 0, as version 1 and 2 checksums were), recovery replays the
    /// client's bytes as a record nobody wrote; under the new segment's own salt it does not.
    #[test]
    fn bytes_a_client_stored_in_a_reused_file_are_never_replayed() {
        for (old_salt, new_salt, replayed) in
            [(0, 0, true), (0, 0x1234_5678, false), (41, 42, false)]
        {
            let base: SeqNo = 1000;
            let mut new = header(9, base, new_salt);
            batches(&mut new, new_salt, base, 3, payload);
            let end = new.len();
            // The forged batch, as its author would compute it: the checksum they can compute
            // without the (later, random) salt of the segment that will reuse the file.
            let mut forged = Vec::new();
            batches(&mut forged, old_salt, base + 3, 1, |_| {
                b"forged: never written".to_vec()
            });
            // The older segment holds one record whose value starts with the forged bytes, and
            // that value's bytes fall exactly at `end`.
            let mut old = header(3, 1, old_salt);
            let lead = end - old.len() - BATCH_FRAME_LEN - FRAME_HEADER_LEN;
            let mut value = vec![0x33u8; lead];
            value.extend_from_slice(&forged);
            value.extend_from_slice(&[0x44; 64]);
            batches(&mut old, old_salt, 1, 1, |_| value.clone());
            assert_eq!(old[end..end + forged.len()], forged[..]);
            let mut file = old;
            file[..end].copy_from_slice(&new);
            let got = scan(&file, base, new_salt, true).expect("scan");
            let seqs: Vec<SeqNo> = got.records.iter().map(|r| r.0).collect();
            if replayed {
                assert_eq!(seqs, vec![base, base + 1, base + 2, base + 3], "unsalted");
            } else {
                assert_eq!(
                    seqs,
                    vec![base, base + 1, base + 2],
                    "salts {old_salt} {new_salt}"
                );
                assert_eq!(got.valid_end, end);
            }
        }
    }
}

/// Appends `n` records with commit callbacks from one thread and polls them to the end;
/// checks each callback ran once, with its record's seq, before its writer was answered.
fn callbacks_run_before_answers(wal: &Wal, n: u64) -> Vec<SeqNo> {
    use std::future::Future;
    use std::task::{Context, Poll};
    let ran: Arc<parking_lot::Mutex<Vec<(u64, SeqNo)>>> = Arc::default();
    let mut futs: Vec<_> = (0..n)
        .map(|i| {
            let ran = Arc::clone(&ran);
            let f: super::OnCommit = Box::new(move |seq| ran.lock().push((i, seq)));
            Some(wal.append_async_then(&payload(i), Some(f)))
        })
        .collect();
    let (_c, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut seqs = vec![0; n as usize];
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while futs.iter().any(Option::is_some) {
        for (i, slot) in futs.iter_mut().enumerate() {
            let Some(f) = slot else { continue };
            if let Poll::Ready(r) = std::pin::Pin::new(f).poll(&mut cx) {
                let seq = r.expect("append");
                let calls: Vec<SeqNo> = ran
                    .lock()
                    .iter()
                    .filter(|(j, _)| *j == i as u64)
                    .map(|(_, s)| *s)
                    .collect();
                assert_eq!(
                    calls,
                    vec![seq],
                    "record {i}: its callback, once, before its answer"
                );
                seqs[i] = seq;
                *slot = None;
            }
        }
        assert!(std::time::Instant::now() < deadline, "appends not answered");
        std::thread::park_timeout(Duration::from_millis(5));
    }
    assert_eq!(ran.lock().len(), n as usize);
    seqs
}

#[test]
fn commit_callbacks_run_once_with_their_seq_before_the_writer_is_answered() {
    // Sync: on the committer's thread, or the acker's for batches over ACK_INLINE_MAX.
    for io in backends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wal, _) = open(io, dir.path(), WalOptions::default()).expect("open");
        let seqs = callbacks_run_before_answers(&wal, 3 * super::writer::ACK_INLINE_MAX as u64);
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "one thread's appends in order"
        );
        wal.close().expect("close");
        let got = reopen(dir.path(), WalOptions::default()).expect("reopen");
        assert_eq!(got.iter().map(|(s, _)| *s).collect::<Vec<_>>(), seqs);
    }
    // Buffered: before `append_async_then` returns.
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = open(std_io(), dir.path(), buffered(10)).expect("open");
    let ran = Arc::new(AtomicU64::new(0));
    let r = Arc::clone(&ran);
    let f = wal.append_async_then(b"buffered", Some(Box::new(move |seq| r.store(seq, SeqCst))));
    let seq = f.wait().expect("buffered append");
    assert_eq!(ran.load(SeqCst), seq);
    callbacks_run_before_answers(&wal, 20);
    wal.close().expect("close");
}

#[test]
fn a_failed_batch_runs_none_of_its_commit_callbacks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let io = faulty_over_std(FaultConfig::default(), 4);
    let (wal, _) = open(io.clone(), dir.path(), WalOptions::default()).expect("open");
    io.set_config(FaultConfig {
        sync_error: 1.0,
        ..FaultConfig::default()
    });
    let ran = Arc::new(AtomicU64::new(0));
    let r = Arc::clone(&ran);
    let f = wal.append_async_then(
        b"never durable",
        Some(Box::new(move |_| {
            r.fetch_add(1, SeqCst);
        })),
    );
    assert!(f.wait().is_err(), "a failed fdatasync fails the append");
    // Refused outright (the log is poisoned): the callback is dropped, not run.
    let r = Arc::clone(&ran);
    let f = wal.append_async_then(
        b"refused",
        Some(Box::new(move |_| {
            r.fetch_add(1, SeqCst);
        })),
    );
    assert!(f.wait().is_err());
    assert_eq!(ran.load(SeqCst), 0);
}
