//! Scenario tests of the capacity layer on a simulated clock: burst, adaptive capacity, split
//! for heat, hot keys, on-demand peaks, mode switches and auto scaling end to end.

use std::sync::Arc;
use std::time::Duration;

use super::clock::MICROS_PER_SEC;
use super::*;

/// Midnight UTC of some day, so UTC-day rules are easy to read.
const START_US: u64 = 20_000 * 86_400 * MICROS_PER_SEC;
const GB: u64 = 1024 * 1024 * 1024;

/// A table on a simulated clock. These tests measure steady-state mechanics, so a new table
/// starts cold (one second of its rate, `initial_burst_secs: 1`), not with the default burst.
fn table(mode: CapacityMode, size: u64, cfg: CapacityConfig) -> (SimClock, TableCapacity) {
    let clock = SimClock::new(START_US);
    let cfg = CapacityConfig {
        initial_burst_secs: 1,
        ..cfg
    };
    let tc = TableCapacity::new(mode, size, cfg, Arc::new(clock.clone()));
    (clock, tc)
}

#[test]
fn a_new_provisioned_table_absorbs_a_first_burst_then_throttles() {
    // The default: a new table starts with its whole burst window, 300 s of its rate.
    let clock = SimClock::new(START_US);
    let tc = TableCapacity::new(
        CapacityMode::provisioned(5, 5),
        0,
        CapacityConfig::default(),
        Arc::new(clock.clone()),
    );
    let burst = |from: u64| {
        let mut n = 0u64;
        for i in from..from + 3000 {
            match tc.admit(Op::Write, i.wrapping_mul(0x9e37_79b9_7f4a_7c15)) {
                Ok(t) => {
                    tc.charge(t, 1.0);
                    n += 1;
                }
                Err(_) => break,
            }
        }
        n
    };
    // At once: as much as its one partition serves in a second (1,000 WCU), far past the
    // 5 a second it is provisioned for.
    let first = burst(0);
    assert!((990..=1010).contains(&first), "{first}");
    // A second later, the rest of the 1,500 units of burst (5 WCU x 300 s), then no more.
    clock.advance(Duration::from_secs(1));
    let second = burst(10_000);
    assert!((480..=520).contains(&second), "{second}");
    assert_eq!(burst(20_000), 0);
}

#[derive(Debug, Default, Clone, Copy)]
struct Outcome {
    admitted_units: f64,
    throttled: u64,
}

/// Offers `per_sec` requests of `units` each for `secs` simulated seconds, in 1 ms steps; the
/// i-th request goes to `hash(i)`.
#[expect(clippy::too_many_arguments, reason = "a test driver")]
fn offer(
    clock: &SimClock,
    tc: &TableCapacity,
    op: Op,
    per_sec: u64,
    units: f64,
    secs: u64,
    hash: &mut dyn FnMut(u64) -> u64,
    next: &mut u64,
) -> Outcome {
    let mut out = Outcome::default();
    let mut due = 0u64; // requests owed, in thousandths
    for _ in 0..secs * 1000 {
        clock.advance(Duration::from_millis(1));
        due += per_sec;
        while due >= 1000 {
            due -= 1000;
            let h = hash(*next);
            *next += 1;
            match tc.admit(op, h) {
                Ok(t) => {
                    tc.charge(t, units);
                    out.admitted_units += units;
                }
                Err(_) => out.throttled += 1,
            }
        }
    }
    out
}

/// 64 hashes spread evenly over the hash space.
fn spread(i: u64) -> u64 {
    ((i % 64) << 58) | 0x1234
}

#[test]
fn idle_table_absorbs_its_burst_then_throttles_at_the_provisioned_rate() {
    let (clock, tc) = table(
        CapacityMode::provisioned(100, 100),
        0,
        CapacityConfig::default(),
    );
    clock.advance(Duration::from_secs(300));
    let mut n = 0;
    // 500 WCU/s offered for 100 s: 300 s × 100 of burst plus 100 s × 100 of refill.
    let burst = offer(&clock, &tc, Op::Write, 500, 1.0, 100, &mut spread, &mut n);
    let expected = 300.0 * 100.0 + 100.0 * 100.0;
    assert!(
        (burst.admitted_units - expected).abs() <= expected * 0.005,
        "{burst:?}"
    );
    // Burst spent: the next minute admits the steady 100/s.
    let steady = offer(&clock, &tc, Op::Write, 500, 1.0, 60, &mut spread, &mut n);
    assert!(
        (steady.admitted_units - 6000.0).abs() <= 6000.0 * 0.01,
        "{steady:?}"
    );
    assert!(steady.throttled > 20_000);
    // Reads were untouched.
    assert!(tc.admit(Op::Read, 1).is_ok());
}

#[test]
fn a_request_larger_than_expected_is_served_and_later_ones_wait() {
    let (clock, tc) = table(
        CapacityMode::provisioned(10, 10),
        0,
        CapacityConfig::default(),
    );
    let t = tc.admit(Op::Read, 5).expect("admitted");
    tc.charge(t, 100.0); // a 400 KB item read strongly: 100 units, 10 s of capacity
    let e = tc.admit(Op::Read, 5).expect_err("throttled while in debt");
    assert_eq!(e.error_type(), "ProvisionedThroughputExceededException");
    clock.advance(Duration::from_secs(9));
    assert!(tc.admit(Op::Read, 5).is_err());
    clock.advance(Duration::from_secs(2));
    assert!(tc.admit(Op::Read, 5).is_ok());
}

/// 90 % of the traffic to partition 0 of a 4-partition table (4 by size), 10 % spread.
fn skewed(i: u64) -> u64 {
    if i % 10 != 9 {
        (i % 1000) << 40 // partition 0 (the first quarter)
    } else {
        (1 + i % 3) << 62 | (i % 997)
    }
}

#[test]
fn adaptive_capacity_serves_a_skewed_workload_within_the_table_rate() {
    // 400 WCU over 4 partitions (35 GB): even share 100 WCU each.
    let (clock, tc) = table(
        CapacityMode::provisioned(400, 400),
        35 * GB,
        CapacityConfig::default(),
    );
    assert_eq!(tc.partition_count(), 4);
    let mut n = 0;
    // 360 WCU/s, 324 of them to partition 0. Adaptive capacity doubles the allowance once a
    // second while the partition is busy and the table has headroom: 100 → 200 → 400.
    let warm = offer(&clock, &tc, Op::Write, 360, 1.0, 5, &mut skewed, &mut n);
    assert!(
        warm.throttled > 0,
        "the even share throttles at first: {warm:?}"
    );
    let after = offer(&clock, &tc, Op::Write, 360, 1.0, 60, &mut skewed, &mut n);
    assert_eq!(after.throttled, 0, "{after:?}");
    let st = tc.stats();
    assert!(st.partitions[0].write.allowance_per_sec >= 324.0, "{st:?}");
    assert!(st.write.consumed_units <= 400.0 * 65.0 + 400.0);

    // Without adaptive capacity the hot partition stays at its share.
    let cfg = CapacityConfig {
        adaptive_capacity: false,
        ..CapacityConfig::default()
    };
    let (clock, tc) = table(CapacityMode::provisioned(400, 400), 35 * GB, cfg);
    let mut n = 0;
    offer(&clock, &tc, Op::Write, 360, 1.0, 5, &mut skewed, &mut n);
    let strict = offer(&clock, &tc, Op::Write, 360, 1.0, 60, &mut skewed, &mut n);
    assert!(strict.throttled > 60 * 200, "{strict:?}");
}

#[test]
fn reads_and_writes_share_the_partition_maximum_linearly() {
    // 4 partitions of 3,000 RCU / 1,000 WCU allowance each; one partition is offered 2,000
    // reads and 700 writes per second: under both allowances and the table rate, but 1.37
    // times its maximum (2,000/3,000 + 700/1,000).
    let cfg = CapacityConfig {
        adaptive_capacity: false,
        split_for_heat: false,
        ..CapacityConfig::default()
    };
    let (clock, tc) = table(CapacityMode::provisioned(12_000, 4_000), 0, cfg);
    let (mut reads, mut writes, mut throttled) = (0u64, 0u64, 0u64);
    let secs = 20;
    for ms in 0..secs * 1000 {
        clock.advance(Duration::from_millis(1));
        let writes_now = if ms % 10 == 0 { 7 } else { 0 };
        let ops =
            std::iter::repeat_n(Op::Read, 2).chain(std::iter::repeat_n(Op::Write, writes_now));
        for op in ops {
            match tc.admit(op, 42) {
                Ok(t) => {
                    tc.charge(t, 1.0);
                    match op {
                        Op::Read => reads += 1,
                        Op::Write => writes += 1,
                    }
                }
                Err(e) => {
                    assert_eq!(e.reason, ThrottleReason::PartitionMax, "{e:?}");
                    throttled += 1;
                }
            }
        }
    }
    // The maximum, linear in reads and writes: 1 s of it to start with (its window), then
    // its rate.
    let used = reads as f64 / 3_000.0 + writes as f64 / 1_000.0;
    assert!(
        (used - (secs + 1) as f64).abs() < 0.01,
        "{used} s of the maximum"
    );
    assert!(throttled > 5_000, "{throttled}");
    // The consumed counters the buckets debit are what was charged.
    let p = &tc.stats().partitions[0];
    assert_eq!(p.read.consumed_units, reads as f64);
    assert_eq!(p.write.consumed_units, writes as f64);
}

#[test]
fn table_admission_control_caps_the_table_even_when_partitions_have_room() {
    // 400 WCU, 4 partitions, uniform 800 WCU/s: every partition is under its maximum, the
    // table is not.
    let (clock, tc) = table(
        CapacityMode::provisioned(400, 400),
        35 * GB,
        CapacityConfig::default(),
    );
    let mut n = 0;
    offer(&clock, &tc, Op::Write, 800, 1.0, 10, &mut spread, &mut n);
    let o = offer(&clock, &tc, Op::Write, 800, 1.0, 60, &mut spread, &mut n);
    assert!(
        (o.admitted_units - 400.0 * 60.0).abs() <= 400.0 * 60.0 * 0.02,
        "{o:?}"
    );
}

#[test]
fn a_sustained_hot_range_splits_inside_the_range_and_the_children_keep_up() {
    let cfg = CapacityConfig {
        split_sustain_secs: 10,
        ..CapacityConfig::default()
    };
    // 2,000 WCU: two partitions of 1,000. 1,500 WCU/s on [2^60, 2^60 + 2^40), far from the
    // middle of partition 0 ([0, 2^63)), with load skewed toward the low end of that range.
    let (clock, tc) = table(CapacityMode::provisioned(2000, 2000), 0, cfg);
    assert_eq!(tc.partition_count(), 2);
    let lo = 1u64 << 60;
    let hi = lo + (1u64 << 40);
    let mut hot = |i: u64| {
        let k = (i * 7919) % 1000;
        lo + ((k * k) << 20) // k² skews toward lo; max 999² << 20 < 2^40
    };
    let mut n = 0;
    let before = offer(&clock, &tc, Op::Write, 1500, 1.0, 15, &mut hot, &mut n);
    assert!(before.throttled > 0);
    let st = tc.stats();
    assert_eq!(st.splits, 1, "{:?}", st.events);
    let Some(CapacityEvent::Split {
        split_at, reason, ..
    }) = st.events.first().cloned()
    else {
        panic!("{:?}", st.events)
    };
    assert_eq!(reason, SplitReason::Heat);
    assert!((lo..hi).contains(&split_at), "split at {split_at:#x}");
    // Not the midpoint of the hot range: the weighted median sits low.
    assert!(split_at < lo + (1u64 << 39), "split at {split_at:#x}");
    assert_eq!(tc.partition_count(), 3);
    // Children get their allowance back within a couple of ticks, then serve it all.
    offer(&clock, &tc, Op::Write, 1500, 1.0, 3, &mut hot, &mut n);
    let after = offer(&clock, &tc, Op::Write, 1500, 1.0, 30, &mut hot, &mut n);
    assert_eq!(after.throttled, 0, "{after:?} {:?}", tc.stats().partitions);
}

#[test]
fn a_single_hot_key_is_reported_not_split() {
    let cfg = CapacityConfig {
        split_sustain_secs: 10,
        ..CapacityConfig::default()
    };
    let (clock, tc) = table(CapacityMode::provisioned(1000, 1000), 0, cfg);
    let key = b"celebrity";
    let h = crate::key::key_hash(key);
    let mut n = 0;
    // 1,200 WCU/s on one key: the partition is pinned at its maximum.
    let mut one = |_| h;
    let o = offer(&clock, &tc, Op::Write, 1200, 1.0, 20, &mut one, &mut n);
    assert!(o.throttled > 0);
    let st = tc.stats();
    assert_eq!(st.splits, 0);
    assert!(
        st.events
            .iter()
            .any(|e| matches!(e, CapacityEvent::HotKey { hash, .. } if *hash == h)),
        "{:?}",
        st.events
    );
    // Reported once per hot period, not every tick.
    assert_eq!(st.events.len(), 1);
    // The hot-key sketch names it.
    for _ in 0..2000 {
        let _ = tc.admit_key(Op::Write, key);
    }
    let top = tc.hot_keys(3);
    assert_eq!(top.accessed[0].key, key.to_vec());
    assert_eq!(top.throttled[0].key, key.to_vec());
}

#[test]
fn size_splits_at_the_middle_of_the_range() {
    let (_clock, tc) = table(
        CapacityMode::provisioned(5, 5),
        0,
        CapacityConfig::default(),
    );
    assert_eq!(tc.partition_count(), 1);
    tc.report_size(42, 9 * GB);
    assert_eq!(tc.partition_count(), 1);
    tc.report_size(42, 11 * GB);
    assert_eq!(tc.partition_count(), 2);
    let st = tc.stats();
    assert_eq!(st.partitions[1].start, 1u64 << 63);
    assert!(matches!(
        st.events[0],
        CapacityEvent::Split {
            reason: SplitReason::Size,
            ..
        }
    ));
    // Shares are recomputed over the new count: 5 WCU / 2.
    assert_eq!(st.partitions[0].write.allowance_per_sec, 2.5);
}

#[test]
fn new_on_demand_table_serves_4000_writes_per_second_at_once() {
    let (clock, tc) = table(CapacityMode::on_demand(), 0, CapacityConfig::default());
    assert_eq!(tc.partition_count(), 4);
    let mut n = 0;
    let o = offer(&clock, &tc, Op::Write, 4000, 1.0, 10, &mut spread, &mut n);
    assert_eq!(o.throttled, 0, "{o:?}");
    let r = offer(&clock, &tc, Op::Read, 12000, 1.0, 5, &mut spread, &mut n);
    assert_eq!(r.throttled, 0, "{r:?}");
}

fn on_demand_after_peak(p: u64) -> (SimClock, TableCapacity, u64) {
    let (clock, tc) = table(CapacityMode::on_demand(), 0, CapacityConfig::default());
    let mut n = 0;
    let o = offer(&clock, &tc, Op::Write, p, 1.0, 61, &mut spread, &mut n);
    assert_eq!(o.throttled, 0);
    let peak = tc.stats().on_demand_peak.1;
    assert!((peak - p as f64).abs() < p as f64 * 0.01, "peak {peak}");
    (clock, tc, n)
}

#[test]
fn on_demand_serves_double_the_previous_peak_and_throttles_beyond() {
    let p = 3000;
    let (clock, tc, mut n) = on_demand_after_peak(p);
    assert!(tc.partition_count() >= 6);
    // 2P at once: served (a rounding hair aside).
    let o = offer(&clock, &tc, Op::Write, 2 * p, 1.0, 10, &mut spread, &mut n);
    assert!(o.throttled as f64 <= 2.0 * p as f64 * 10.0 * 0.005, "{o:?}");

    let (clock, tc, mut n) = on_demand_after_peak(p);
    // 4P at once: 2P a second admitted (plus the one second of instant capacity the table
    // bucket holds), the rest throttled.
    let o = offer(&clock, &tc, Op::Write, 4 * p, 1.0, 10, &mut spread, &mut n);
    let expected = 2.0 * p as f64 * 11.0;
    assert!(
        (o.admitted_units - expected).abs() < expected * 0.02,
        "{o:?}"
    );
    assert!(o.throttled as f64 > 4.0 * p as f64 * 10.0 * 0.4, "{o:?}");
    let e = tc.admit(Op::Write, spread(0)).err();
    assert!(e.is_some());
}

#[test]
fn on_demand_maximum_throttles_with_its_own_reason() {
    let (clock, tc) = table(
        CapacityMode::OnDemand {
            max_read: None,
            max_write: Some(500),
        },
        0,
        CapacityConfig::default(),
    );
    let mut n = 0;
    let o = offer(&clock, &tc, Op::Write, 1000, 1.0, 10, &mut spread, &mut n);
    // 10 s at the maximum plus the one second the table bucket holds.
    assert!((o.admitted_units - 5500.0).abs() < 5500.0 * 0.01, "{o:?}");
    let mut reasons = Vec::new();
    for i in 0..100 {
        if let Err(e) = tc.admit(Op::Write, spread(i)) {
            reasons.push(e.reason);
        }
    }
    assert!(
        reasons.contains(&ThrottleReason::OnDemandMax),
        "{reasons:?}"
    );
    let e = Throttled {
        op: Op::Write,
        reason: ThrottleReason::OnDemandMax,
        partition_id: 0,
        on_demand: true,
    };
    assert_eq!(e.error_type(), "ThrottlingException");
}

#[test]
fn mode_switches_keep_the_partition_map() {
    let (_clock, tc) = table(
        CapacityMode::provisioned(9000, 8000),
        0,
        CapacityConfig::default(),
    );
    assert_eq!(tc.partition_count(), 8);
    tc.set_on_demand(None, None);
    // From provisioned, the previous peak is at least half the provisioned rate.
    let st = tc.stats();
    assert_eq!(st.on_demand_peak, (6000.0, 4000.0));
    assert_eq!(st.write.rate_per_sec, 8000.0);
    assert_eq!(tc.partition_count(), 8);
    // Back to a small provisioned rate: partitions are never merged.
    tc.set_provisioned(100, 100);
    assert_eq!(tc.partition_count(), 8);
    let st = tc.stats();
    assert_eq!(st.write.rate_per_sec, 100.0);
    assert_eq!(st.partitions[3].write.allowance_per_sec, 12.5);
    // A large increase adds partitions.
    tc.set_provisioned(100, 16_000);
    assert_eq!(tc.partition_count(), 16);
}

#[test]
fn auto_scaling_end_to_end_scales_out_a_busy_table() {
    let (clock, tc) = table(
        CapacityMode::provisioned(100, 100),
        0,
        CapacityConfig::default(),
    );
    let policy = ScalingPolicy::new(70, 10, 1000).expect("policy");
    let mut scaler = AutoScaler::new(None, Some(policy), AutoScaleConfig::default());
    let mut n = 0;
    let mut applied = None;
    for sec in 0..240 {
        offer(&clock, &tc, Op::Write, 90, 1.0, 1, &mut spread, &mut n);
        if let Some(d) = scaler.evaluate_stats(&tc.stats()) {
            if let Some(w) = d.write {
                tc.set_provisioned(100, w);
                applied = Some((sec, w));
            }
        }
    }
    let (sec, w) = applied.expect("scaled out");
    assert!((120..=181).contains(&sec), "{sec}");
    assert!((128..=130).contains(&w), "{w}");
    assert_eq!(tc.stats().write.rate_per_sec, w as f64);
}

/// Batched table debits from several threads: the table bucket lags by at most a stripe per
/// thread while requests run, and statistics (which fold every stripe) account for every
/// unit exactly.
#[test]
fn batched_table_debits_from_many_threads_are_all_accounted() {
    let cfg = CapacityConfig {
        adaptive_capacity: false,
        split_for_heat: false,
        ..CapacityConfig::default()
    };
    let (_clock, tc) = table(CapacityMode::provisioned(100, 1000), 0, cfg);
    let tc = Arc::new(tc);
    let start = tc.stats().write.burst_balance_units;
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let tc = Arc::clone(&tc);
            std::thread::spawn(move || {
                let mut admitted = 0u64;
                for i in 0..100_000u64 {
                    match tc.admit(Op::Write, spread(t * 1_000_000 + i)) {
                        Ok(ticket) => {
                            tc.charge(ticket, 1.0);
                            admitted += 1;
                        }
                        Err(_) => break,
                    }
                }
                admitted
            })
        })
        .collect();
    let admitted: u64 = threads.into_iter().map(|h| h.join().expect("join")).sum();
    // The clock stands still: only the starting balance (one second, 1,000 units) can be
    // spent, plus what the table bucket had not yet seen (≤ 10 units per stripe, 1 in
    // flight per thread).
    assert!(admitted as f64 >= start, "{admitted} of {start}");
    assert!(
        admitted as f64 <= start + (super::table::DEBT_STRIPES as f64 * 10.0) + 4.0,
        "{admitted} admitted from a balance of {start}"
    );
    let end = tc.stats().write.burst_balance_units;
    assert_eq!(
        end,
        start - admitted as f64,
        "every debit reached the bucket"
    );
}
