//! Time for every capacity decision: a real monotonic clock and a simulated twin.
//!
//! Capacity policy never sleeps and never reads the system time itself; it asks a [`Clock`].
//! Both clocks count microseconds since the Unix epoch, so "the UTC day" (the provisioned
//! decrease quota) means the same thing under both. [`SystemClock`] anchors the epoch once and
//! then advances with [`std::time::Instant`], so it never goes backwards even if the wall clock
//! is stepped. [`SimClock`] moves only when a test tells it to, and its clones share one time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Microseconds in one second.
pub const MICROS_PER_SEC: u64 = 1_000_000;

/// A monotonic source of time in microseconds since the Unix epoch.
pub trait Clock: Send + Sync {
    /// Now, in microseconds since the Unix epoch; never smaller than a previous answer.
    fn now_micros(&self) -> u64;
}

/// The real clock: the Unix time read once at construction, then advanced by the kernel's
/// coarse monotonic clock (`CLOCK_MONOTONIC_COARSE`; elsewhere than Linux, by `Instant`).
///
/// The coarse clock moves once per kernel tick (1–4 ms), and reading it costs a fifth of a
/// precise read (no time-stamp counter; on the AMD VM of docs/results/2026-12-05-admission.md
/// 7.6 ns against 36 ns for `CLOCK_MONOTONIC` and 49 ns for `Instant::elapsed`): admission
/// reads the clock on every request. Capacity only sees time up to one tick late, so refill
/// credit arrives up to one tick later than with a precise clock — never more credit, and none
/// lost (the refill telescopes).
#[derive(Debug, Clone)]
pub struct SystemClock {
    origin: Instant,
    origin_unix_micros: u64,
    /// The coarse monotonic clock at construction, if it can be read.
    origin_coarse_micros: Option<u64>,
}

/// `CLOCK_MONOTONIC_COARSE` in microseconds (a vDSO read, no system call).
#[cfg(target_os = "linux")]
#[inline]
fn coarse_monotonic_micros() -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec` that outlives the call, which only writes it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    if rc != 0 {
        return None;
    }
    Some((ts.tv_sec as u64) * MICROS_PER_SEC + (ts.tv_nsec as u64) / 1_000)
}

#[cfg(not(target_os = "linux"))]
#[inline]
fn coarse_monotonic_micros() -> Option<u64> {
    None
}

impl SystemClock {
    /// A clock anchored at the current wall-clock time.
    pub fn new() -> SystemClock {
        let origin_unix_micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        SystemClock {
            origin: Instant::now(),
            origin_unix_micros,
            origin_coarse_micros: coarse_monotonic_micros(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    #[inline]
    fn now_micros(&self) -> u64 {
        if let Some(origin) = self.origin_coarse_micros {
            // `clock_gettime` fails only for an unknown clock, so a clock that read the coarse
            // clock once keeps reading it (the source never switches mid-life).
            if let Some(now) = coarse_monotonic_micros() {
                return self.origin_unix_micros + now.saturating_sub(origin);
            }
        }
        self.origin_unix_micros + self.origin.elapsed().as_micros() as u64
    }
}

/// A simulated clock: starts where it is told and moves only by [`SimClock::advance`] or
/// [`SimClock::set`]. Clones share the same time, so a test keeps one and hands one to the
/// capacity layer.
#[derive(Debug, Clone, Default)]
pub struct SimClock {
    micros: Arc<AtomicU64>,
}

impl SimClock {
    /// A simulated clock reading `start_micros`.
    pub fn new(start_micros: u64) -> SimClock {
        SimClock {
            micros: Arc::new(AtomicU64::new(start_micros)),
        }
    }

    /// Moves time forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.micros
            .fetch_add(d.as_micros() as u64, Ordering::SeqCst);
    }

    /// Moves time forward by `micros`.
    pub fn advance_micros(&self, micros: u64) {
        self.micros.fetch_add(micros, Ordering::SeqCst);
    }

    /// Sets the time; a value earlier than now is ignored (the clock is monotonic).
    pub fn set(&self, micros: u64) {
        self.micros.fetch_max(micros, Ordering::SeqCst);
    }
}

impl Clock for SimClock {
    #[inline]
    fn now_micros(&self) -> u64 {
        self.micros.load(Ordering::SeqCst)
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    #[inline]
    fn now_micros(&self) -> u64 {
        (**self).now_micros()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_clock_clones_share_time_and_never_go_back() {
        let c = SimClock::new(1_000);
        let d = c.clone();
        c.advance(Duration::from_millis(3));
        assert_eq!(d.now_micros(), 4_000);
        d.set(2_000);
        assert_eq!(c.now_micros(), 4_000);
        d.set(10_000);
        assert_eq!(c.now_micros(), 10_000);
    }

    #[test]
    fn system_clock_is_monotonic_and_near_unix_time() {
        let c = SystemClock::new();
        let a = c.now_micros();
        let b = c.now_micros();
        assert!(b >= a);
        // After 2020-01-01.
        assert!(a > 1_577_836_800 * MICROS_PER_SEC);
    }

    #[test]
    fn system_clock_follows_real_time_within_a_kernel_tick() {
        let c = SystemClock::new();
        let a = c.now_micros();
        std::thread::sleep(Duration::from_millis(30));
        let b = c.now_micros();
        // The coarse clock lags by at most one tick (10 ms at the lowest kernel HZ, 100).
        assert!(b - a >= 20_000, "advanced {} µs over a 30 ms sleep", b - a);
    }
}
