//! Reads that may wait for the device, on threads that must not wait.
//!
//! An async server can run a point read on its reactor thread, because nearly every point read
//! is served from memory (memtables and the block cache) in microseconds. The one exception is
//! a data block that misses the block cache: the engine then reads it from the file (the page
//! cache or the device). [`with_blocking_hook`] lets the caller say how such a read is to be
//! run on this thread; `hashlog serve` passes `tokio::task::block_in_place`, which hands the
//! reactor's other connections to another thread for the duration of the read. The engine runs
//! every such read through [`blocking`]. Without a hook (every thread by default) the read
//! simply runs.

use std::cell::Cell;

use crate::error::{Result, StorageError};

/// Why work goes through the blocking hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// A read that may wait for the device (a data block not in the page cache).
    Device,
    /// CPU work too long for a reactor thread (the rest of a long Query or Scan page).
    LongWork,
}

/// Runs the closure it is given (once), in whatever way lets the thread wait for the device
/// or work long; told why.
pub type BlockingHook = fn(Wait, &mut dyn FnMut());

thread_local! {
    static HOOK: Cell<Option<BlockingHook>> = const { Cell::new(None) };
}

/// Puts the thread's previous hook back when dropped (also when `f` unwinds).
struct Restore(Option<BlockingHook>);

impl Drop for Restore {
    fn drop(&mut self) {
        HOOK.with(|h| h.set(self.0));
    }
}

/// Runs `f` with `hook` as this thread's blocking hook (see the module docs).
pub fn with_blocking_hook<R>(hook: BlockingHook, f: impl FnOnce() -> R) -> R {
    let _restore = Restore(HOOK.with(|h| h.replace(Some(hook))));
    f()
}

/// Runs `read`, which may wait for the device or work long (`why`), through this thread's hook
/// if it has one. The hook is unset while `read` runs, so work nested in it runs directly.
pub fn blocking<T>(why: Wait, read: impl FnOnce() -> Result<T>) -> Result<T> {
    let Some(hook) = HOOK.with(|h| h.take()) else {
        return read();
    };
    let _restore = Restore(Some(hook));
    let mut read = Some(read);
    let mut out: Option<Result<T>> = None;
    hook(why, &mut || {
        if let Some(r) = read.take() {
            out = Some(r());
        }
    });
    match (out, read) {
        (Some(r), _) => r,
        // A hook that did not run the closure: run the read here.
        (None, Some(r)) => r(),
        (None, None) => Err(StorageError::Io(std::io::Error::other(
            "the blocking hook lost a read",
        ))),
    }
}

/// Whether this thread has a blocking hook set (tests and diagnostics).
pub fn hook_is_set() -> bool {
    HOOK.with(|h| h.get().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static CALLS: AtomicUsize = AtomicUsize::new(0);

    fn counting(_: Wait, f: &mut dyn FnMut()) {
        CALLS.fetch_add(1, Ordering::SeqCst);
        f();
    }

    fn dropping(_: Wait, _: &mut dyn FnMut()) {}

    #[test]
    fn reads_go_through_the_hook_only_inside_with_blocking_hook() {
        std::thread::spawn(|| {
            let before = CALLS.load(Ordering::SeqCst);
            assert_eq!(blocking(Wait::Device, || Ok(1)).expect("plain"), 1);
            assert_eq!(CALLS.load(Ordering::SeqCst), before);
            let got = with_blocking_hook(counting, || {
                assert!(hook_is_set());
                // Nested reads run directly: the hook is unset inside a hooked read.
                blocking(Wait::Device, || {
                    assert!(!hook_is_set());
                    blocking(Wait::LongWork, || Ok(2))
                })
            });
            assert_eq!(got.expect("hooked"), 2);
            assert_eq!(CALLS.load(Ordering::SeqCst), before + 1);
            assert!(!hook_is_set(), "the hook is put back");
            // Errors come back as they are; a hook that does not run the read still reads.
            let e = with_blocking_hook(counting, || {
                blocking::<()>(Wait::Device, || Err(StorageError::Corruption("x".into())))
            });
            assert!(matches!(e, Err(StorageError::Corruption(_))));
            let v = with_blocking_hook(dropping, || blocking(Wait::LongWork, || Ok(3)));
            assert_eq!(v.expect("dropping hook"), 3);
        })
        .join()
        .expect("thread");
    }

    #[test]
    fn the_hook_is_restored_when_the_work_unwinds() {
        std::thread::spawn(|| {
            let r = std::panic::catch_unwind(|| {
                with_blocking_hook(counting, || panic!("inline work panicked"))
            });
            assert!(r.is_err());
            assert!(!hook_is_set());
        })
        .join()
        .expect("thread");
    }
}
