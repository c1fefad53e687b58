//! Where small reads run: on the reactor thread (inline) while recent ones were served from
//! memory quickly, on the blocking pool while many had to leave the reactor (a data block read
//! from the device, a long Query page).
//!
//! An inline GetItem costs about half the server CPU of one sent to the blocking pool (no two
//! thread handoffs) and answers sooner, as long as it finds its block in the block cache. A
//! block it must read from the file is read through `tokio::task::block_in_place`, which hands
//! the reactor's other connections to another thread; that costs more than offloading the
//! whole request would have, so a workload whose reads often miss the block cache is better
//! served from the pool (docs/results/2026-12-05-server-inline-reads.md). [`ReadPlacer`]
//! watches every eligible read, wherever it ran, through the engine's blocking hook
//! (`hashlog::io::blocking`), whose server hooks count on the running thread each read that
//! may wait for the device. (The rest of a long Query page also goes through the hook, off the
//! reactor, but is counted apart: it says nothing about whether other reads find memory.)

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hashlog::io::blocking::Wait;

/// Eligible reads per decision.
pub const WINDOW: u64 = 1024;
/// Inline while at most this share of a window's reads read a block from the file (1 in 64).
pub const MISS_SHARE_MAX_DIVISOR: u64 = 64;

thread_local! {
    /// Reads that may wait for the device, made through the blocking hook on this thread.
    static FILE_READS: Cell<u64> = const { Cell::new(0) };
    /// Long work (the rest of long pages) done through the blocking hook on this thread.
    static LONG_WORK: Cell<u64> = const { Cell::new(0) };
}

/// Reads that may wait for the device made on this thread so far (compare before and after a
/// request).
pub fn file_reads_on_thread() -> u64 {
    FILE_READS.with(|c| c.get())
}

/// Long work done through the hook on this thread so far.
pub fn long_work_on_thread() -> u64 {
    LONG_WORK.with(|c| c.get())
}

fn count(why: Wait) {
    let cell = match why {
        Wait::Device => &FILE_READS,
        Wait::LongWork => &LONG_WORK,
    };
    cell.with(|c| c.set(c.get().wrapping_add(1)));
}

/// The hook of inline reads: counts the work, then runs it through `block_in_place` (on a
/// multi-thread runtime; elsewhere it just runs).
pub fn read_in_place(why: Wait, read: &mut dyn FnMut()) {
    count(why);
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(read)
        }
        _ => read(),
    }
}

/// The hook of offloaded reads: counts the work and runs it (a pool thread may block).
pub fn read_counted(why: Wait, read: &mut dyn FnMut()) {
    count(why);
    read();
}

/// Decides, window by window, whether eligible reads run inline.
#[derive(Debug, Default)]
pub struct ReadPlacer {
    reads: AtomicU64,
    missed: AtomicU64,
    offload: AtomicBool,
    /// Windows that ended in offloading (for `/metrics` and tests).
    offload_windows: AtomicU64,
}

impl ReadPlacer {
    /// Whether the next eligible read runs inline.
    pub fn inline(&self) -> bool {
        !self.offload.load(Ordering::Relaxed)
    }

    /// Records one eligible read, and whether it read from the device. The read that completes
    /// a window (every `WINDOW`-th, counted without end) decides for the next one.
    pub fn observe(&self, missed: bool) {
        if missed {
            self.missed.fetch_add(1, Ordering::Relaxed);
        }
        let n = self.reads.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if n.is_multiple_of(WINDOW) {
            let m = self.missed.swap(0, Ordering::Relaxed);
            let offload = m * MISS_SHARE_MAX_DIVISOR > WINDOW;
            self.offload.store(offload, Ordering::Relaxed);
            if offload {
                self.offload_windows.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Windows after which eligible reads went to the pool.
    pub fn offload_windows(&self) -> u64 {
        self.offload_windows.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_go_to_the_pool_after_a_window_of_misses_and_come_back_after_one_of_hits() {
        let p = ReadPlacer::default();
        assert!(p.inline(), "inline until a window says otherwise");
        // A window with exactly the tolerated share of misses stays inline.
        for i in 0..WINDOW {
            p.observe(i < WINDOW / MISS_SHARE_MAX_DIVISOR);
        }
        assert!(p.inline());
        // One miss more: the next window goes to the pool.
        for i in 0..WINDOW {
            p.observe(i <= WINDOW / MISS_SHARE_MAX_DIVISOR);
        }
        assert!(!p.inline());
        assert_eq!(p.offload_windows(), 1);
        // The decision holds for a whole window, whatever its reads do ...
        for _ in 0..WINDOW - 1 {
            p.observe(false);
            assert!(!p.inline());
        }
        // ... and the window of hits brings the reads back.
        p.observe(false);
        assert!(p.inline());
    }

    #[test]
    fn windows_close_exactly_under_concurrent_reads() {
        let p = std::sync::Arc::new(ReadPlacer::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let p = std::sync::Arc::clone(&p);
                std::thread::spawn(move || {
                    for _ in 0..WINDOW * 5 {
                        p.observe(true);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        // 20 windows of misses: each closed once and sent reads to the pool.
        assert_eq!(p.offload_windows(), 20);
        assert_eq!(p.reads.load(Ordering::Relaxed), 20 * WINDOW);
        assert!(!p.inline());
    }

    #[test]
    fn the_hooks_count_reads_from_the_file_on_their_thread() {
        std::thread::spawn(|| {
            let before = file_reads_on_thread();
            let long = long_work_on_thread();
            let got = hashlog::io::blocking::with_blocking_hook(read_counted, || {
                hashlog::io::blocking::blocking(Wait::Device, || Ok(5))
            });
            assert_eq!(got.expect("read"), 5);
            // Outside a runtime the inline hook just runs the read.
            let got = hashlog::io::blocking::with_blocking_hook(read_in_place, || {
                hashlog::io::blocking::blocking(Wait::Device, || Ok(6))
            });
            assert_eq!(got.expect("read"), 6);
            assert_eq!(file_reads_on_thread() - before, 2);
            // Long work is counted apart.
            let got = hashlog::io::blocking::with_blocking_hook(read_in_place, || {
                hashlog::io::blocking::blocking(Wait::LongWork, || Ok(7))
            });
            assert_eq!(got.expect("work"), 7);
            assert_eq!(file_reads_on_thread() - before, 2);
            assert_eq!(long_work_on_thread() - long, 1);
        })
        .join()
        .expect("thread");
    }
}
