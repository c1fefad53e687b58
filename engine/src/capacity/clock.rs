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

/// The real clock: the Unix time read once at construction, then advanced by `Instant`.
#[derive(Debug, Clone)]
pub struct SystemClock {
    origin: Instant,
    origin_unix_micros: u64,
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
}
