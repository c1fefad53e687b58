//! Target-tracking auto scaling for provisioned tables: a pure decision driven by the clock.
//!
//! DynamoDB auto scaling (Application Auto Scaling with CloudWatch alarms) scales out when
//! consumption stays above the target utilization for 2 consecutive minutes, and scales in
//! when it stays 20 percentage points or more below the target for 15 consecutive minutes.
//! The new capacity is `ceil(consumed per second / target)`, clamped to the policy's
//! `[min, max]`. Decreases obey DynamoDB's quota, the same rule `table/catalog.rs` enforces for
//! UpdateTable: four decreases at any time of a UTC day, then one more for each hour of the
//! day in which no decrease happened, at most 27 a day.
//!
//! The scaler never applies anything: [`AutoScaler::evaluate`] returns the new RCU/WCU and the
//! integrator applies them (UpdateTable, then [`super::TableCapacity::set_provisioned`]).

use super::clock::MICROS_PER_SEC;
use super::table::CapacityStats;
use super::CapacityMode;

const DAY_US: u64 = 86_400 * MICROS_PER_SEC;
const HOUR_US: u64 = 3_600 * MICROS_PER_SEC;
/// Decreases allowed at any time of a UTC day.
pub const FREE_DECREASES_PER_DAY: usize = 4;
/// Decreases allowed in one UTC day at most.
pub const DECREASES_PER_DAY_MAX: usize = 27;

/// A target-tracking policy for one dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalingPolicy {
    /// Target utilization, percent (20–90).
    pub target_pct: u64,
    /// Lowest capacity the scaler sets.
    pub min_units: u64,
    /// Highest capacity the scaler sets.
    pub max_units: u64,
}

/// A policy that DynamoDB would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Target outside 20–90 %.
    #[error("target utilization must be between 20 and 90 percent, got {0}")]
    Target(u64),
    /// min < 1 or min > max.
    #[error("minimum capacity must be at least 1 and at most the maximum ({0} > {1})")]
    Bounds(u64, u64),
}

impl ScalingPolicy {
    /// A checked policy.
    pub fn new(target_pct: u64, min_units: u64, max_units: u64) -> Result<Self, PolicyError> {
        if !(20..=90).contains(&target_pct) {
            return Err(PolicyError::Target(target_pct));
        }
        if min_units < 1 || min_units > max_units {
            return Err(PolicyError::Bounds(min_units, max_units));
        }
        Ok(ScalingPolicy {
            target_pct,
            min_units,
            max_units,
        })
    }

    /// Capacity that puts `per_sec` at the target, clamped to `[min, max]`.
    fn desired(&self, per_sec: f64) -> u64 {
        let want = (per_sec * 100.0 / self.target_pct as f64).ceil();
        let want = if want.is_finite() && want > 0.0 {
            want as u64
        } else {
            0
        };
        want.clamp(self.min_units, self.max_units)
    }
}

/// Alarm periods (DynamoDB's defaults; tests may shorten them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoScaleConfig {
    /// Length of one datapoint (CloudWatch period), seconds.
    pub period_secs: u64,
    /// Consecutive periods above target before scaling out.
    pub scale_out_periods: u32,
    /// Consecutive periods below target − margin before scaling in.
    pub scale_in_periods: u32,
    /// Scale-in margin below the target, percentage points.
    pub scale_in_margin_pct: u64,
}

impl Default for AutoScaleConfig {
    fn default() -> Self {
        AutoScaleConfig {
            period_secs: 60,
            scale_out_periods: 2,
            scale_in_periods: 15,
            scale_in_margin_pct: 20,
        }
    }
}

/// New provisioned values to apply; `None` keeps a dimension as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScalingDecision {
    /// New ReadCapacityUnits.
    pub read: Option<u64>,
    /// New WriteCapacityUnits.
    pub write: Option<u64>,
}

#[derive(Debug, Clone)]
struct Dim {
    policy: ScalingPolicy,
    period_start_us: Option<u64>,
    consumed_at_start: f64,
    high: u32,
    low: u32,
}

/// Target tracking for one table (reads and writes have separate policies).
#[derive(Debug, Clone)]
pub struct AutoScaler {
    cfg: AutoScaleConfig,
    dims: [Option<Dim>; 2],
    /// Times of the decreases of the current UTC day.
    decreases: Vec<u64>,
}

impl AutoScaler {
    /// A scaler with a policy per dimension (`None`: that dimension is not scaled).
    pub fn new(
        read: Option<ScalingPolicy>,
        write: Option<ScalingPolicy>,
        cfg: AutoScaleConfig,
    ) -> AutoScaler {
        let dim = |policy| Dim {
            policy,
            period_start_us: None,
            consumed_at_start: 0.0,
            high: 0,
            low: 0,
        };
        AutoScaler {
            cfg,
            dims: [read.map(dim), write.map(dim)],
            decreases: Vec::new(),
        }
    }

    /// Records a decrease made by someone else (a manual UpdateTable), so the quota counts it.
    pub fn note_decrease(&mut self, now_us: u64) {
        self.decreases.retain(|t| t / DAY_US == now_us / DAY_US);
        self.decreases.push(now_us);
    }

    /// [`AutoScaler::evaluate`] from a [`CapacityStats`] snapshot; `None` for on-demand tables.
    pub fn evaluate_stats(&mut self, stats: &CapacityStats) -> Option<ScalingDecision> {
        let CapacityMode::Provisioned { read, write } = stats.mode else {
            return None;
        };
        self.evaluate(
            stats.at_micros,
            [stats.read.consumed_units, stats.write.consumed_units],
            [read, write],
        )
    }

    /// Feeds the cumulative consumed units (read, write) at `now_us` and the provisioned
    /// values in force; returns a decision when one is due. Call it at least once a period.
    pub fn evaluate(
        &mut self,
        now_us: u64,
        consumed_units: [f64; 2],
        provisioned: [u64; 2],
    ) -> Option<ScalingDecision> {
        let period_us = self.cfg.period_secs.max(1) * MICROS_PER_SEC;
        let mut out = [None, None];
        for (i, slot) in self.dims.iter_mut().enumerate() {
            let Some(d) = slot else { continue };
            let current = provisioned[i];
            if current < d.policy.min_units || current > d.policy.max_units {
                out[i] = Some(current.clamp(d.policy.min_units, d.policy.max_units));
            }
            let Some(start) = d.period_start_us else {
                d.period_start_us = Some(now_us);
                d.consumed_at_start = consumed_units[i];
                continue;
            };
            let span = now_us.saturating_sub(start);
            if span < period_us {
                continue;
            }
            let per_sec = (consumed_units[i] - d.consumed_at_start).max(0.0)
                / (span as f64 / MICROS_PER_SEC as f64);
            d.period_start_us = Some(now_us);
            d.consumed_at_start = consumed_units[i];
            let util_pct = per_sec * 100.0 / current.max(1) as f64;
            let target = d.policy.target_pct as f64;
            if util_pct > target {
                d.high += 1;
                d.low = 0;
            } else if util_pct < target - self.cfg.scale_in_margin_pct as f64 {
                d.low += 1;
                d.high = 0;
            } else {
                d.high = 0;
                d.low = 0;
            }
            if d.high >= self.cfg.scale_out_periods {
                let want = d.policy.desired(per_sec);
                if want > current {
                    out[i] = Some(want);
                }
                d.high = 0;
            } else if d.low >= self.cfg.scale_in_periods {
                let want = d.policy.desired(per_sec);
                if want < current {
                    out[i] = Some(want);
                }
                d.low = 0;
            }
        }
        let decreasing = (0..2).any(|i| matches!(out[i], Some(v) if v < provisioned[i]));
        if decreasing {
            self.decreases.retain(|t| t / DAY_US == now_us / DAY_US);
            if decrease_allowed(&self.decreases, now_us) {
                self.decreases.push(now_us);
            } else {
                // Keep the increases, drop the decreases; they are retried after the next
                // full scale-in run.
                for i in 0..2 {
                    if matches!(out[i], Some(v) if v < provisioned[i]) {
                        out[i] = None;
                    }
                }
            }
        }
        match out {
            [None, None] => None,
            [read, write] => Some(ScalingDecision { read, write }),
        }
    }
}

/// DynamoDB's decrease quota (same rule as `table/catalog.rs`): four decreases at any time of
/// a UTC day, then one more for each hour of the day so far without a decrease, at most 27.
pub fn decrease_allowed(today_us: &[u64], now_us: u64) -> bool {
    if today_us.len() >= DECREASES_PER_DAY_MAX {
        return false;
    }
    if today_us.len() < FREE_DECREASES_PER_DAY {
        return true;
    }
    let day_start = now_us / DAY_US * DAY_US;
    let hours_elapsed = (now_us - day_start) / HOUR_US;
    let quiet = (0..hours_elapsed)
        .filter(|h| {
            !today_us
                .iter()
                .any(|t| t.saturating_sub(day_start) / HOUR_US == *h)
        })
        .count();
    today_us.len() < FREE_DECREASES_PER_DAY + quiet
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = MICROS_PER_SEC;

    fn run(
        a: &mut AutoScaler,
        t: &mut u64,
        consumed: &mut f64,
        prov: &mut u64,
        per_sec: f64,
        secs: u64,
    ) -> Vec<(u64, u64)> {
        let mut changes = Vec::new();
        for _ in 0..secs {
            *t += S;
            *consumed += per_sec;
            if let Some(d) = a.evaluate(*t, [0.0, *consumed], [1, *prov]) {
                if let Some(w) = d.write {
                    *prov = w;
                    changes.push((*t, w));
                }
            }
        }
        changes
    }

    #[test]
    fn scales_out_after_two_breaching_minutes_and_in_after_fifteen_quiet_ones() {
        let p = ScalingPolicy::new(70, 5, 1000).expect("policy");
        let mut a = AutoScaler::new(None, Some(p), AutoScaleConfig::default());
        let (mut t, mut c, mut prov) = (0u64, 0.0, 100u64);
        // 90 % of 100 WCU: scale out to ceil(90 / 0.7) = 129 within 2–3 minutes.
        let ch = run(&mut a, &mut t, &mut c, &mut prov, 90.0, 180);
        assert_eq!(ch.len(), 1, "{ch:?}");
        assert_eq!(ch[0].1, 129);
        assert!(ch[0].0 <= 181 * S && ch[0].0 >= 120 * S, "{ch:?}");
        // 30 WCU/s (23 % < 50 %): scale in to ceil(30 / 0.7) = 43 after 15 minutes, not before.
        let ch = run(&mut a, &mut t, &mut c, &mut prov, 30.0, 14 * 60);
        assert!(ch.is_empty(), "{ch:?}");
        let ch = run(&mut a, &mut t, &mut c, &mut prov, 30.0, 3 * 60);
        assert_eq!(ch.len(), 1, "{ch:?}");
        assert_eq!(ch[0].1, 43);
    }

    #[test]
    fn respects_min_and_max() {
        let p = ScalingPolicy::new(50, 40, 120).expect("policy");
        let mut a = AutoScaler::new(None, Some(p), AutoScaleConfig::default());
        let (mut t, mut c, mut prov) = (0u64, 0.0, 100u64);
        let ch = run(&mut a, &mut t, &mut c, &mut prov, 95.0, 200);
        assert_eq!(ch.last().map(|x| x.1), Some(120));
        let ch = run(&mut a, &mut t, &mut c, &mut prov, 0.0, 20 * 60);
        assert_eq!(ch.last().map(|x| x.1), Some(40));
        assert!(ScalingPolicy::new(95, 1, 2).is_err());
        assert!(ScalingPolicy::new(50, 3, 2).is_err());
    }

    #[test]
    fn decreases_follow_the_daily_quota() {
        let day = 20_000 * DAY_US;
        let early = day + 60 * S;
        assert!(decrease_allowed(&[early; 3], early));
        assert!(!decrease_allowed(&[early; 4], early));
        // Ten hours later with decreases only in hour 0: nine quiet hours.
        let later = day + 10 * HOUR_US + 5 * S;
        assert!(decrease_allowed(&[early; 4], later));
        assert!(!decrease_allowed(&[early; 13], later));
        assert!(!decrease_allowed(&[later; DECREASES_PER_DAY_MAX], later));
    }

    #[test]
    fn a_denied_decrease_is_not_applied() {
        let p = ScalingPolicy::new(70, 1, 1000).expect("policy");
        let cfg = AutoScaleConfig {
            scale_in_periods: 1,
            ..AutoScaleConfig::default()
        };
        let mut a = AutoScaler::new(None, Some(p), cfg);
        let t0 = 20_000 * DAY_US + 60 * S;
        for k in 0..4 {
            a.note_decrease(t0 + k);
        }
        let (mut t, mut c, mut prov) = (t0, 0.0, 100u64);
        let ch = run(&mut a, &mut t, &mut c, &mut prov, 1.0, 5 * 60);
        assert!(ch.is_empty(), "{ch:?}");
        // In the next hour, hour 0 had decreases; no quiet hour yet... two hours later one.
        let ch = run(&mut a, &mut t, &mut c, &mut prov, 1.0, 2 * 3600);
        assert_eq!(ch.len(), 1, "{ch:?}");
    }
}
