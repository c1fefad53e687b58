//! The simulated-clock runner: hours of traffic in seconds, deterministic for a seed.
//!
//! Each simulated op picks a key (workload.rs), maps it through the chosen partitioner to a
//! partition, and asks the engine's capacity layer ([`TableCapacity`] on a [`SimClock`]) to
//! admit it. Fixed layouts (fixed-hash, consistent, key-range) route partition `i` to the
//! capacity layer's `i`-th even hash range, which the controller is built with exactly N of
//! and never splits (split for heat off); the split-for-heat strategy routes the real xxh3
//! key hash and lets the controller split. Ops arrive evenly spaced at the offered rate.

use std::sync::Arc;

use hashlog::capacity::units::{item_read_units, item_write_units, ReadKind, WriteKind};
use hashlog::capacity::{
    AutoScaleConfig, AutoScaler, CapacityConfig, CapacityMode, Op, ScalingPolicy, SimClock,
    TableCapacity, ThrottleReason,
};
use hashlog::key::key_hash;
use hashlog::partition::{CapacityRanges, ConsistentHash, FixedHash, KeyRange, Partitioner};
use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::cost::Prices;
use crate::workload::{key_bytes, OpKind, Workload, WorkloadSpec};

/// 2024-01-01T00:00:00Z: where simulated time starts (a UTC midnight).
pub const SIM_EPOCH_MICROS: u64 = 1_704_067_200 * 1_000_000;
/// A run counts as adapted after a shift once a window's throttle rate is below this.
pub const ADAPTED_THROTTLE_RATE: f64 = 0.01;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Strategy {
    /// N fixed hash ranges over xxh3.
    FixedHash,
    /// Consistent hashing, N nodes with virtual nodes.
    Consistent,
    /// Key ranges with split points from a key sample (order-preserving).
    KeyRange,
    /// Hash ranges that split for heat (the capacity layer decides).
    SplitForHeat,
}

impl Strategy {
    pub const ALL: [Strategy; 4] = [
        Strategy::FixedHash,
        Strategy::Consistent,
        Strategy::KeyRange,
        Strategy::SplitForHeat,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Strategy::FixedHash => "fixed-hash",
            Strategy::Consistent => "consistent",
            Strategy::KeyRange => "key-range",
            Strategy::SplitForHeat => "split-for-heat",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Policy {
    /// Provisioned at the mean offered load; even share per partition, no burst, no adaptive.
    ProvEven,
    /// Provisioned at the mean; 300 s burst and adaptive capacity (the controller's defaults).
    ProvAdaptive,
    /// Provisioned, starting at the mean, with target-tracking auto scaling (70 %).
    ProvAutoscale,
    /// On-demand (pay per request).
    OnDemand,
}

impl Policy {
    pub const ALL: [Policy; 4] = [
        Policy::ProvEven,
        Policy::ProvAdaptive,
        Policy::ProvAutoscale,
        Policy::OnDemand,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Policy::ProvEven => "prov-even",
            Policy::ProvAdaptive => "prov-adaptive",
            Policy::ProvAutoscale => "prov-autoscale",
            Policy::OnDemand => "on-demand",
        }
    }
}

/// One configuration.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Label of the workload (e.g. "zipfian-0.99").
    pub label: String,
    pub strategy: Strategy,
    pub policy: Policy,
    pub workload: WorkloadSpec,
    /// Offered operations per second.
    pub rate: u64,
    pub duration_secs: u64,
    pub window_secs: u64,
    /// Partitions at the start (N for the fixed layouts).
    pub partitions: usize,
    /// Virtual nodes per node (consistent hashing).
    pub vnodes: usize,
    /// Capacity model scale: partition maxima and on-demand starting peaks divided by this.
    pub scale: u64,
    pub seed: u64,
    pub prices: Prices,
}

/// One time window of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub t_end_secs: u64,
    pub offered: u64,
    pub admitted: u64,
    pub throttled: u64,
    /// Throttles by a partition limit (allowance or maximum) versus by the table.
    pub throttled_partition: u64,
    pub throttled_table: u64,
    pub read_units: f64,
    pub write_units: f64,
    /// Provisioned RCU/WCU at the window's end (0 on-demand).
    pub prov_read: u64,
    pub prov_write: u64,
    pub partitions: usize,
    /// max / mean of the per-partition offered load (reads weigh 1/3, as in the maximum).
    pub imbalance: f64,
    /// Splits so far.
    pub splits: u64,
}

impl Window {
    pub fn throttle_rate(&self) -> f64 {
        self.throttled as f64 / self.offered.max(1) as f64
    }
}

/// The result of one configuration.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub config: SimConfig,
    pub mean_read_units: u64,
    pub mean_write_units: u64,
    pub windows: Vec<Window>,
    /// Share of the offered load per partition in the last window, hottest first, as a
    /// multiple of the mean partition.
    pub heat: Vec<f64>,
    /// Per window, each partition's offered load as a multiple of the mean, in partition order.
    pub window_heat: Vec<Vec<f64>>,
    /// Seconds from each hot-set shift until a window's throttle rate fell below 1 %
    /// (None: not within the shift period).
    pub adapt_secs: Vec<Option<u64>>,
    /// Bill of the run under its own policy.
    pub cost_usd: f64,
    /// The same admitted traffic billed on-demand.
    pub on_demand_usd: f64,
    /// Provisioned at the mean for the whole run, for comparison.
    pub provisioned_mean_usd: f64,
}

impl RunResult {
    pub fn offered(&self) -> u64 {
        self.windows.iter().map(|w| w.offered).sum()
    }
    pub fn throttled(&self) -> u64 {
        self.windows.iter().map(|w| w.throttled).sum()
    }
    pub fn throttled_pct(&self) -> f64 {
        100.0 * self.throttled() as f64 / self.offered().max(1) as f64
    }
    pub fn mean_imbalance(&self) -> f64 {
        let n = self.windows.len().max(1) as f64;
        self.windows.iter().map(|w| w.imbalance).sum::<f64>() / n
    }
    pub fn final_partitions(&self) -> usize {
        self.windows.last().map_or(0, |w| w.partitions)
    }
    pub fn splits(&self) -> u64 {
        self.windows.last().map_or(0, |w| w.splits)
    }
    /// Mean adaptation time over the shifts, counting a shift that never adapted as the whole
    /// period; and how many adapted.
    pub fn adapt_summary(&self) -> Option<(f64, usize, usize)> {
        if self.adapt_secs.is_empty() {
            return None;
        }
        let period = self.config.workload.shift_every_secs.unwrap_or(0);
        let sum: u64 = self.adapt_secs.iter().map(|a| a.unwrap_or(period)).sum();
        let ok = self.adapt_secs.iter().filter(|a| a.is_some()).count();
        Some((
            sum as f64 / self.adapt_secs.len() as f64,
            ok,
            self.adapt_secs.len(),
        ))
    }
}

fn op_units(op: OpKind, size: usize) -> (f64, f64) {
    let r = item_read_units(size, ReadKind::Eventual);
    let w = item_write_units(size, WriteKind::Standard);
    match op {
        OpKind::Read => (r, 0.0),
        OpKind::Update | OpKind::Insert => (0.0, w),
        OpKind::Scan(n) => (item_read_units(size * n as usize, ReadKind::Eventual), 0.0),
        OpKind::ReadModifyWrite => (r, w),
    }
}

/// Mean read and write units per second the workload offers at `rate` (estimated from a
/// deterministic sample of 100,000 ops), rounded up.
pub fn mean_units(spec: &WorkloadSpec, rate: u64, seed: u64) -> (u64, u64) {
    let mut w = Workload::new(spec.clone());
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
    let n = 100_000;
    let (mut r, mut wr) = (0.0, 0.0);
    for _ in 0..n {
        let (op, k) = w.next(&mut rng, 0);
        let (a, b) = op_units(op, spec.item_size.of(k));
        r += a;
        wr += b;
    }
    let per = |x: f64| ((x / n as f64) * rate as f64).ceil().max(1.0) as u64;
    (per(r), per(wr))
}

fn capacity_config(c: &SimConfig) -> CapacityConfig {
    let s = c.scale.max(1);
    let d = CapacityConfig::default();
    let mut cfg = CapacityConfig {
        partition_read_max: d.partition_read_max / s,
        partition_write_max: d.partition_write_max / s,
        on_demand_initial_read_peak: d.on_demand_initial_read_peak / s,
        on_demand_initial_write_peak: d.on_demand_initial_write_peak / s,
        split_for_heat: c.strategy == Strategy::SplitForHeat,
        // Tables start cold, as the study always measured them (the server's tables start
        // with their whole burst; docs/CAPACITY.md).
        initial_burst_secs: 1,
        ..d
    };
    if c.policy == Policy::ProvEven {
        cfg.adaptive_capacity = false;
        cfg.burst_window_secs = 1;
    }
    cfg
}

enum Router {
    /// A fixed layout; partition i admits by `starts[i]`.
    Fixed(Box<dyn Partitioner>, Vec<u64>),
    Split(CapacityRanges),
}

/// Runs one configuration.
pub fn run(c: &SimConfig) -> Result<RunResult, String> {
    if c.rate == 0 || c.duration_secs == 0 || c.window_secs == 0 {
        return Err("rate, duration and window must be positive".into());
    }
    let (mean_r, mean_w) = mean_units(&c.workload, c.rate, c.seed);
    let cfg = capacity_config(c);
    let clock = SimClock::new(SIM_EPOCH_MICROS);
    let mode = match c.policy {
        Policy::OnDemand => CapacityMode::on_demand(),
        _ => CapacityMode::provisioned(mean_r, mean_w),
    };
    let n = c.partitions.max(1);
    let size = n as u64 * cfg.partition_size_max_bytes;
    let tc = Arc::new(TableCapacity::new(mode, size, cfg, Arc::new(clock.clone())));
    let mut router = match c.strategy {
        Strategy::SplitForHeat => Router::Split(CapacityRanges::new(Arc::clone(&tc))),
        s => {
            let starts: Vec<u64> = tc.stats().partitions.iter().map(|p| p.start).collect();
            // The controller starts with more than N partitions when the provisioned rate
            // needs them; the fixed layouts then use that many.
            let n = starts.len();
            let p: Box<dyn Partitioner> = match s {
                Strategy::FixedHash => Box::new(FixedHash::new(n)),
                Strategy::Consistent => Box::new(ConsistentHash::new(n, c.vnodes)),
                _ => {
                    let mut rng = SmallRng::seed_from_u64(c.seed ^ 0x5a3b1e);
                    let mut buf = [0u8; 16];
                    let sample = (0..10_000)
                        .map(|_| {
                            let k = rand::Rng::gen_range(&mut rng, 0..c.workload.records.max(1));
                            key_bytes(k, &mut buf).to_vec()
                        })
                        .collect();
                    Box::new(KeyRange::from_sample(n, sample))
                }
            };
            Router::Fixed(p, starts)
        }
    };
    let n_start = match &router {
        Router::Fixed(_, starts) => starts.len(),
        Router::Split(p) => p.partition_count(),
    };
    let mut scaler = (c.policy == Policy::ProvAutoscale)
        .then(|| -> Result<AutoScaler, String> {
            let pol = |m: u64| ScalingPolicy::new(70, m, m * 10).map_err(|e| e.to_string());
            Ok(AutoScaler::new(
                Some(pol(mean_r)?),
                Some(pol(mean_w)?),
                AutoScaleConfig::default(),
            ))
        })
        .transpose()?;

    let mut workload = Workload::new(c.workload.clone());
    let mut rng = SmallRng::seed_from_u64(c.seed);
    let mut buf = [0u8; 16];
    let mut windows = Vec::new();
    let mut cur = Window {
        t_end_secs: 0,
        offered: 0,
        admitted: 0,
        throttled: 0,
        throttled_partition: 0,
        throttled_table: 0,
        read_units: 0.0,
        write_units: 0.0,
        prov_read: 0,
        prov_write: 0,
        partitions: 0,
        imbalance: 0.0,
        splits: 0,
    };
    let mut heat: Vec<f64> = Vec::new();
    let mut window_heat: Vec<Vec<f64>> = Vec::new();
    let mut cost_prov = 0.0;
    let admit = |op: Op, h: u64, units: f64| -> Result<(), ThrottleReason> {
        match tc.admit(op, h) {
            Ok(t) => {
                tc.charge(t, units);
                Ok(())
            }
            Err(e) => Err(e.reason),
        }
    };
    for sec in 0..c.duration_secs {
        let base = SIM_EPOCH_MICROS + sec * 1_000_000;
        let parts_now = match &router {
            Router::Fixed(p, _) => p.partition_count(),
            Router::Split(p) => p.partition_count(),
        };
        if heat.len() != parts_now {
            heat = vec![0.0; parts_now];
        }
        for j in 0..c.rate {
            clock.set(base + j * 1_000_000 / c.rate);
            let (op, k) = workload.next(&mut rng, sec);
            let key = key_bytes(k, &mut buf);
            let (idx, h) = match &router {
                Router::Fixed(p, starts) => {
                    let i = p.partition_of(key);
                    (i, starts[i])
                }
                Router::Split(p) => (p.partition_of(key), key_hash(key)),
            };
            let (ru, wu) = op_units(op, c.workload.item_size.of(k));
            if let Some(x) = heat.get_mut(idx) {
                *x += ru / 3.0 + wu;
            }
            cur.offered += 1;
            let mut r = Ok(());
            if ru > 0.0 {
                r = admit(Op::Read, h, ru);
                if r.is_ok() {
                    cur.read_units += ru;
                }
            }
            if r.is_ok() && wu > 0.0 {
                r = admit(Op::Write, h, wu);
                if r.is_ok() {
                    cur.write_units += wu;
                }
            }
            match r {
                Ok(()) => cur.admitted += 1,
                Err(reason) => {
                    cur.throttled += 1;
                    match reason {
                        ThrottleReason::TableProvisioned
                        | ThrottleReason::OnDemandPeak
                        | ThrottleReason::OnDemandMax => cur.throttled_table += 1,
                        _ => cur.throttled_partition += 1,
                    }
                }
            }
        }
        // End of the simulated second.
        clock.set(base + 1_000_000);
        tc.tick();
        if let Router::Split(p) = &mut router {
            p.refresh();
        }
        let mode = tc.mode();
        if let (Some(s), CapacityMode::Provisioned { read, write }) = (scaler.as_mut(), mode) {
            if let Some(d) = s.evaluate_stats(&tc.stats()) {
                tc.set_provisioned(d.read.unwrap_or(read), d.write.unwrap_or(write));
            }
        }
        let prov = match mode {
            CapacityMode::Provisioned { read, write } => (read, write),
            CapacityMode::OnDemand { .. } => (0, 0),
        };
        cost_prov += c.prices.provisioned(prov.0 as f64, prov.1 as f64, 1.0);
        if (sec + 1) % c.window_secs == 0 || sec + 1 == c.duration_secs {
            let (parts, splits) = match &router {
                Router::Fixed(p, _) => (p.partition_count(), 0),
                Router::Split(p) => (p.partition_count(), p.splits()),
            };
            let total: f64 = heat.iter().sum();
            let mean = total / heat.len().max(1) as f64;
            let max = heat.iter().cloned().fold(0.0, f64::max);
            cur.imbalance = if mean > 0.0 { max / mean } else { 0.0 };
            cur.t_end_secs = sec + 1;
            cur.prov_read = prov.0;
            cur.prov_write = prov.1;
            cur.partitions = parts;
            cur.splits = splits;
            let last_heat: Vec<f64> = heat.iter().map(|x| x / mean.max(1e-12)).collect();
            windows.push(cur.clone());
            window_heat.push(last_heat.clone());
            if sec + 1 == c.duration_secs {
                let mut h = last_heat;
                h.sort_unstable_by(|a, b| b.total_cmp(a));
                heat = h;
            } else {
                heat.iter_mut().for_each(|x| *x = 0.0);
            }
            cur = Window {
                read_units: 0.0,
                write_units: 0.0,
                offered: 0,
                admitted: 0,
                throttled: 0,
                throttled_partition: 0,
                throttled_table: 0,
                ..cur
            };
        }
    }
    let adapt_secs = match c.workload.shift_every_secs {
        Some(t) if t > 0 => (1..)
            .map(|k| k * t)
            .take_while(|&s| s < c.duration_secs)
            .map(|s| {
                windows
                    .iter()
                    .filter(|w| w.t_end_secs > s && w.t_end_secs <= s + t)
                    .find(|w| w.throttle_rate() < ADAPTED_THROTTLE_RATE)
                    .map(|w| w.t_end_secs - s)
            })
            .collect(),
        _ => Vec::new(),
    };
    let (ru, wu) = windows
        .iter()
        .fold((0.0, 0.0), |a, w| (a.0 + w.read_units, a.1 + w.write_units));
    let on_demand_usd = c.prices.on_demand(ru, wu);
    let cost_usd = match c.policy {
        Policy::OnDemand => on_demand_usd,
        _ => cost_prov,
    };
    let provisioned_mean_usd =
        c.prices
            .provisioned(mean_r as f64, mean_w as f64, c.duration_secs as f64);
    let mut config = c.clone();
    config.partitions = n_start;
    Ok(RunResult {
        config,
        mean_read_units: mean_r,
        mean_write_units: mean_w,
        windows,
        heat,
        window_heat,
        adapt_secs,
        cost_usd,
        on_demand_usd,
        provisioned_mean_usd,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Distribution;
    use crate::workload::{ItemSize, Ycsb};

    fn config(strategy: Strategy, policy: Policy, dist: Distribution) -> SimConfig {
        SimConfig {
            label: "t".into(),
            strategy,
            policy,
            workload: WorkloadSpec {
                ycsb: Ycsb::A,
                dist,
                records: 10_000,
                item_size: ItemSize::Fixed(1000),
                shift_every_secs: None,
                max_scan: 100,
            },
            rate: 400,
            duration_secs: 60,
            window_secs: 10,
            partitions: 8,
            vnodes: 64,
            scale: 10,
            seed: 3,
            prices: Prices::default(),
        }
    }

    #[test]
    fn fixed_layout_runs_repeat_exactly_and_count_every_op() {
        let c = config(Strategy::FixedHash, Policy::ProvEven, Distribution::Uniform);
        let a = run(&c).unwrap();
        let b = run(&c).unwrap();
        assert_eq!(a.windows, b.windows);
        assert_eq!(a.offered(), 400 * 60);
        for w in &a.windows {
            assert_eq!(w.offered, w.admitted + w.throttled);
            assert_eq!(w.throttled, w.throttled_partition + w.throttled_table);
        }
    }

    #[test]
    fn key_range_concentrates_zipfian_load_and_hash_spreads_it() {
        let z = Distribution::Zipfian { theta: 0.99 };
        let kr = run(&config(Strategy::KeyRange, Policy::ProvAdaptive, z)).unwrap();
        let fh = run(&config(Strategy::FixedHash, Policy::ProvAdaptive, z)).unwrap();
        assert!(kr.mean_imbalance() > 2.0 * fh.mean_imbalance());
        assert!(kr.throttled_pct() > fh.throttled_pct());
    }

    #[test]
    fn mean_units_match_the_mix() {
        let c = config(Strategy::FixedHash, Policy::ProvEven, Distribution::Uniform);
        let (r, w) = mean_units(&c.workload, 1000, 1);
        // Half reads of 0.5 RCU, half writes of 1 WCU.
        assert!((240..=260).contains(&r), "{r}");
        assert!((490..=510).contains(&w), "{w}");
    }
}
