//! On-demand "previous peak" tracking.
//!
//! DynamoDB serves an on-demand table instantly up to double its previous peak and scales up
//! as traffic sustains. We define the peak as the highest average consumption over a completed
//! window of `window_secs` (default 60 s, like a CloudWatch minute); it only ratchets up (a
//! scaled-out table keeps its partitions). A new table starts with the peak DynamoDB documents
//! (2,000 WCU / 6,000 RCU, so 4,000 / 12,000 instantly).

use super::clock::MICROS_PER_SEC;

/// The ratcheting peak of one table, per dimension, in milli-units per second.
#[derive(Debug, Clone)]
pub struct PeakTracker {
    window_us: u64,
    window_start_us: u64,
    consumed_at_start: [u64; 2],
    peak_milli: [u64; 2],
}

impl PeakTracker {
    /// A tracker starting at `now_us` with peaks `initial_milli` (read, write) and the
    /// cumulative consumption counters `consumed_milli` as they are now.
    pub fn new(
        initial_milli: [u64; 2],
        window_secs: u64,
        now_us: u64,
        consumed_milli: [u64; 2],
    ) -> PeakTracker {
        PeakTracker {
            window_us: window_secs.max(1) * MICROS_PER_SEC,
            window_start_us: now_us,
            consumed_at_start: consumed_milli,
            peak_milli: initial_milli,
        }
    }

    /// Feeds the cumulative consumption at `now_us`; closes the window if it is complete and
    /// returns true when a peak rose.
    pub fn observe(&mut self, now_us: u64, consumed_milli: [u64; 2]) -> bool {
        let span = now_us.saturating_sub(self.window_start_us);
        if span < self.window_us {
            return false;
        }
        let mut rose = false;
        for (i, peak) in self.peak_milli.iter_mut().enumerate() {
            let used = consumed_milli[i].saturating_sub(self.consumed_at_start[i]);
            let avg = (used as u128 * MICROS_PER_SEC as u128 / span as u128) as u64;
            if avg > *peak {
                *peak = avg;
                rose = true;
            }
        }
        self.window_start_us = now_us;
        self.consumed_at_start = consumed_milli;
        rose
    }

    /// Raises the peak to at least `milli` (switching from provisioned carries half the
    /// provisioned rate over).
    pub fn raise_to(&mut self, milli: [u64; 2]) {
        for (peak, m) in self.peak_milli.iter_mut().zip(milli) {
            *peak = (*peak).max(m);
        }
    }

    /// The previous peak, milli-units per second.
    pub fn peak_milli(&self) -> [u64; 2] {
        self.peak_milli
    }

    /// What the table serves instantly: double the previous peak.
    pub fn instant_milli(&self) -> [u64; 2] {
        [
            self.peak_milli[0].saturating_mul(2),
            self.peak_milli[1].saturating_mul(2),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = MICROS_PER_SEC;

    #[test]
    fn peak_ratchets_on_complete_windows_only() {
        let mut p = PeakTracker::new([6_000_000, 2_000_000], 60, 0, [0, 0]);
        assert_eq!(p.instant_milli(), [12_000_000, 4_000_000]);
        // 3,000 WCU/s for 59 s: window not complete.
        assert!(!p.observe(59 * S, [0, 3_000_000 * 59]));
        // 3,000 WCU/s for the full minute: the write peak becomes 3,000.
        assert!(p.observe(60 * S, [0, 3_000_000 * 60]));
        assert_eq!(p.peak_milli(), [6_000_000, 3_000_000]);
        // A quiet minute never lowers it.
        assert!(!p.observe(120 * S, [0, 3_000_000 * 60]));
        assert_eq!(p.instant_milli()[1], 6_000_000);
    }
}
