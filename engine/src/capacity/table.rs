//! One table's capacity controller: routing, two-phase admission, adaptive capacity, table
//! admission control, splits, on-demand scaling and mode switches.
//!
//! Hot path: [`TableCapacity::admit`] reads the clock once, loads the partition map (one
//! pointer), routes the hash, and checks three lock-free buckets (the partition's hard maximum,
//! the table bucket, the partition's allowance). [`TableCapacity::charge`] debits the same
//! buckets with what the request really consumed: one add to the partition's consumed counter
//! (which both partition buckets count as their debits) and one to the thread's table-debt
//! stripe. Everything slower (adaptive boosts, splits, on-demand peaks) runs
//! in a maintenance step at most once per `tick_micros`, started by whichever admission first
//! sees the tick due (or by [`TableCapacity::tick`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::Mutex;

use super::bucket::{from_milli, to_milli, CreditBucket, TokenBucket, MILLI};
use super::clock::{Clock, MICROS_PER_SEC};
use super::config::{CapacityConfig, CapacityMode};
use super::error::{Op, ThrottleReason, Throttled};
use super::hotkeys::{HotKeyReport, HotKeys};
use super::ondemand::PeakTracker;
use super::partition::{choose_split, MapCell, Partition, PartitionMap, SplitOutcome, SplitReason};
use super::routing;
use crate::partition::PartitioningStrategy;

mod grow;

/// Events kept for [`CapacityStats::events`].
pub const EVENTS_KEPT: usize = 64;

/// Proof of admission; hand it back to [`TableCapacity::charge`] with the units consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "charge the ticket with the units the request consumed"]
pub struct Ticket {
    op: Op,
    partition: u32,
    epoch: u64,
    hash: u64,
}

impl Ticket {
    /// The dimension admitted.
    pub fn op(&self) -> Op {
        self.op
    }

    /// The routing hash admitted.
    pub fn hash(&self) -> u64 {
        self.hash
    }
}

/// Something the controller did that a human may want to see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapacityEvent {
    /// A partition split in two.
    Split {
        /// When.
        at_micros: u64,
        /// Why.
        reason: SplitReason,
        /// The partition that split.
        parent_id: u64,
        /// Its range `[start, last]`.
        range: (u64, u64),
        /// First hash of the right child.
        split_at: u64,
        /// Ids of the left and right children.
        children: (u64, u64),
    },
    /// A consistent-hash table added a node to its ring (its way of splitting): the node
    /// takes about `1/nodes` of every other node's keys.
    NodeAdded {
        /// When.
        at_micros: u64,
        /// Why.
        reason: SplitReason,
        /// The new node's partition id.
        node_id: u64,
        /// Nodes on the ring after the addition.
        nodes: usize,
        /// The hot node that asked for it (heat), if any.
        hot_partition_id: Option<u64>,
    },
    /// A key range split at keys chosen from the keys it admitted.
    KeySplit {
        /// When.
        at_micros: u64,
        /// Why.
        reason: SplitReason,
        /// The range that split.
        parent_id: u64,
        /// First keys of the new ranges after the first, in order.
        split_keys: Vec<Vec<u8>>,
        /// Ids of the new ranges, in key order.
        children: Vec<u64>,
    },
    /// A partition stayed hot but its load is one key: it cannot be split.
    HotKey {
        /// When.
        at_micros: u64,
        /// The partition.
        partition_id: u64,
        /// The key's routing hash.
        hash: u64,
    },
}

/// One dimension of a partition's snapshot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PartitionOpStats {
    /// Current allowance (units per second): even share, raised by adaptive capacity.
    pub allowance_per_sec: f64,
    /// Units consumed since the partition was created.
    pub consumed_units: f64,
    /// Requests throttled since the partition was created.
    pub throttled_requests: u64,
    /// Balance of the allowance bucket (burst available; negative after an overdraft).
    pub burst_balance_units: f64,
}

/// A partition's snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionStats {
    /// Stable id (never reused within a table).
    pub id: u64,
    /// Hash range `[start, last]` (`[0, u64::MAX]` for ring nodes and key ranges, which are
    /// not hash ranges).
    pub start: u64,
    /// Last hash of the range (inclusive).
    pub last: u64,
    /// Reads.
    pub read: PartitionOpStats,
    /// Writes.
    pub write: PartitionOpStats,
    /// Size last reported by [`TableCapacity::report_size`].
    pub size_bytes: u64,
}

/// One dimension of the table's snapshot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TableOpStats {
    /// Units per second the table bucket refills at: the provisioned rate, or on-demand the
    /// instant capacity (double the previous peak, capped by the maximum).
    pub rate_per_sec: f64,
    /// Units consumed since the controller was created.
    pub consumed_units: f64,
    /// Requests throttled since the controller was created.
    pub throttled_requests: u64,
    /// Balance of the table bucket (table burst).
    pub burst_balance_units: f64,
}

/// A snapshot for metrics, the study harness and auto scaling.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityStats {
    /// Clock time of the snapshot.
    pub at_micros: u64,
    /// The billing mode and its numbers.
    pub mode: CapacityMode,
    /// Reads.
    pub read: TableOpStats,
    /// Writes.
    pub write: TableOpStats,
    /// On-demand previous peak (read, write) in units per second; kept across mode switches.
    pub on_demand_peak: (f64, f64),
    /// Partitions in routing order: hash order; node order on a consistent-hash ring; key
    /// order for key ranges.
    pub partitions: Vec<PartitionStats>,
    /// Splits since creation.
    pub splits: u64,
    /// The latest events, oldest first (at most [`EVENTS_KEPT`]).
    pub events: Vec<CapacityEvent>,
}

const REASON_PARTITION_MAX: u8 = 0;
const REASON_PARTITION_ALLOWANCE: u8 = 1;
const REASON_TABLE_PROVISIONED: u8 = 2;
const REASON_ON_DEMAND_PEAK: u8 = 3;
const REASON_ON_DEMAND_MAX: u8 = 4;

fn reason_from(code: u8) -> ThrottleReason {
    match code {
        REASON_PARTITION_ALLOWANCE => ThrottleReason::PartitionAllowance,
        REASON_TABLE_PROVISIONED => ThrottleReason::TableProvisioned,
        REASON_ON_DEMAND_PEAK => ThrottleReason::OnDemandPeak,
        REASON_ON_DEMAND_MAX => ThrottleReason::OnDemandMax,
        _ => ThrottleReason::PartitionMax,
    }
}

#[derive(Debug)]
struct State {
    mode: CapacityMode,
    /// Even share of the provisioned rate per partition, milli-units/s.
    base_share_milli: [u64; 2],
    peak: PeakTracker,
    last_tick_us: u64,
    /// Counters of partitions that split away.
    retired_consumed_milli: [u64; 2],
    retired_throttled: [u64; 2],
    splits: u64,
    events: VecDeque<CapacityEvent>,
    next_id: u64,
    epoch: u64,
}

/// Stripes of gathered table-bucket debits (threads pick one round-robin at first use).
pub const DEBT_STRIPES: usize = 8;
/// A stripe folds into the table bucket once it holds more than 1/this of a second of the
/// table's rate (10 ms).
const DEBT_FOLD_DIVISOR: u64 = 100;

#[repr(align(64))]
#[derive(Default)]
struct PaddedI64(std::sync::atomic::AtomicI64);

/// Debits of one table bucket gathered per thread stripe, each stripe on its own cache line.
#[derive(Default)]
struct StripedDebt {
    stripes: [PaddedI64; DEBT_STRIPES],
}

#[inline]
fn debt_stripe() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    thread_local! {
        // Assigned at first use; a `const` initializer makes each access a plain
        // thread-local read (no lazy-initialization state).
        static STRIPE: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
    }
    STRIPE.with(|s| {
        let stripe = s.get();
        if stripe < DEBT_STRIPES {
            return stripe;
        }
        let stripe = NEXT.fetch_add(1, Relaxed) % DEBT_STRIPES;
        s.set(stripe);
        stripe
    })
}

impl StripedDebt {
    /// Adds `milli` to this thread's stripe; past `fold` the stripe moves into `bucket`.
    #[inline]
    fn add(&self, milli: i64, fold: i64, bucket: &TokenBucket) {
        let s = &self.stripes[debt_stripe()].0;
        if s.fetch_add(milli, Relaxed) + milli > fold {
            let taken = s.swap(0, Relaxed);
            if taken != 0 {
                bucket.debit(taken);
            }
        }
    }

    /// This thread's gathered debits (not yet in the bucket).
    #[inline]
    fn own(&self) -> i64 {
        self.stripes[debt_stripe()].0.load(Relaxed)
    }

    /// Moves every stripe into `bucket` (maintenance, statistics, mode changes).
    fn fold_all(&self, bucket: &TokenBucket) {
        for s in &self.stripes {
            let taken = s.0.swap(0, Relaxed);
            if taken != 0 {
                bucket.debit(taken);
            }
        }
    }
}

/// The capacity controller of one table (its base table; a GSI gets its own).
pub struct TableCapacity {
    cfg: CapacityConfig,
    /// How keys route to partitions and how partitions grow (`routing.rs`, `table/grow.rs`).
    partitioning: PartitioningStrategy,
    clock: Arc<dyn Clock>,
    map: MapCell,
    table: [TokenBucket; 2],
    /// Table-bucket debits not yet applied (`batched_table_debits`).
    table_debt: [StripedDebt; 2],
    /// Reason code when the table bucket refuses, per dimension.
    table_reason: [AtomicU8; 2],
    /// Reason code when a partition allowance refuses.
    allowance_reason: AtomicU8,
    /// Cost multiplier of a read and a write milli-unit in the combined maximum bucket.
    max_weight: [i64; 2],
    next_tick_us: AtomicU64,
    state: Mutex<State>,
    hot_keys: HotKeys,
}

impl std::fmt::Debug for TableCapacity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableCapacity")
            .field("mode", &self.state.lock().mode)
            .field("partitions", &self.map.load().parts.len())
            .finish()
    }
}

/// Partitions a provisioned table starts with: enough for its throughput and its size.
pub fn partitions_for(cfg: &CapacityConfig, read: u64, write: u64, size_bytes: u64) -> usize {
    let r = read.div_ceil(cfg.partition_read_max.max(1));
    let w = write.div_ceil(cfg.partition_write_max.max(1));
    let s = size_bytes.div_ceil(cfg.partition_size_max_bytes.max(1));
    r.max(w).max(s).max(1) as usize
}

impl TableCapacity {
    /// A controller for a table in `mode` holding `size_bytes` of data, deciding by `clock`,
    /// partitioned by hash ranges that split for heat.
    pub fn new(
        mode: CapacityMode,
        size_bytes: u64,
        cfg: CapacityConfig,
        clock: Arc<dyn Clock>,
    ) -> TableCapacity {
        Self::with_partitioning(
            mode,
            size_bytes,
            cfg,
            clock,
            PartitioningStrategy::HashSplit,
        )
    }

    /// [`TableCapacity::new`] with the table's partitioning strategy (docs/CAPACITY.md,
    /// "Partitioning strategies").
    pub fn with_partitioning(
        mode: CapacityMode,
        size_bytes: u64,
        cfg: CapacityConfig,
        clock: Arc<dyn Clock>,
        partitioning: PartitioningStrategy,
    ) -> TableCapacity {
        let now = clock.now_micros();
        let peak = PeakTracker::new(
            [
                cfg.on_demand_initial_read_peak * MILLI as u64,
                cfg.on_demand_initial_write_peak * MILLI as u64,
            ],
            cfg.on_demand_peak_window_secs,
            now,
            [0, 0],
        );
        let n = match mode {
            CapacityMode::Provisioned { read, write } => {
                partitions_for(&cfg, read, write, size_bytes)
            }
            CapacityMode::OnDemand { .. } => {
                let inst = peak.instant_milli();
                partitions_for(
                    &cfg,
                    inst[0] / MILLI as u64,
                    inst[1] / MILLI as u64,
                    size_bytes,
                )
            }
        };
        let max_weight = [
            cfg.partition_write_max.max(1) as i64,
            cfg.partition_read_max.max(1) as i64,
        ];
        let hot_keys = HotKeys::new(
            cfg.hot_key_counters,
            cfg.hot_key_sample_one_in,
            cfg.hot_key_window_secs,
            now,
        );
        let tc = TableCapacity {
            table: [
                TokenBucket::new(0, 0, 0, now),
                TokenBucket::new(0, 0, 0, now),
            ],
            table_debt: Default::default(),
            table_reason: [AtomicU8::new(0), AtomicU8::new(0)],
            allowance_reason: AtomicU8::new(REASON_PARTITION_ALLOWANCE),
            max_weight,
            next_tick_us: AtomicU64::new(now + cfg.tick_micros),
            map: MapCell::new(PartitionMap::new(0, Vec::new())),
            state: Mutex::new(State {
                mode,
                base_share_milli: [0, 0],
                peak,
                last_tick_us: now,
                retired_consumed_milli: [0, 0],
                retired_throttled: [0, 0],
                splits: 0,
                events: VecDeque::new(),
                next_id: 0,
                epoch: 0,
            }),
            hot_keys,
            cfg,
            partitioning,
            clock,
        };
        {
            let mut st = tc.state.lock();
            let (ranges, layout) = routing::initial(partitioning, n);
            let n = ranges.len();
            let parts: Vec<Arc<Partition>> = ranges
                .into_iter()
                .map(|(s, l)| {
                    let id = st.next_id;
                    st.next_id += 1;
                    Arc::new(tc.new_partition(id, s, l, [0, 0], now))
                })
                .collect();
            for p in &parts {
                p.size_bytes.store(size_bytes / n as u64, Relaxed);
            }
            tc.map.publish(PartitionMap::with_layout(0, parts, layout));
            tc.apply_mode(&mut st, mode, now, true);
            // Partitions start with `initial_burst_secs` of their allowance.
            let secs = tc.initial_burst_secs();
            for p in &tc.map.load().parts {
                for (b, ops) in p.share.iter().zip(&p.ops) {
                    b.set_balance((b.rate_milli() * secs) as i64, &ops.consumed_milli);
                }
            }
        }
        tc
    }

    /// Seconds of its rate a new table's buckets start with (1 to the burst window).
    fn initial_burst_secs(&self) -> u64 {
        self.cfg
            .initial_burst_secs
            .clamp(1, self.cfg.burst_window_secs.max(1))
    }

    /// The configuration.
    pub fn config(&self) -> &CapacityConfig {
        &self.cfg
    }

    /// Microseconds now, by the controller's clock.
    pub fn now_micros(&self) -> u64 {
        self.clock.now_micros()
    }

    // ---- hot path ----

    /// Phase one: may a request of `op` on the key with routing hash `hash` start? Admits
    /// while every bucket it draws from has a positive balance. (A key-range table, given no
    /// key bytes, admits on the partition the hash scales to; use [`TableCapacity::admit_key`].)
    #[inline]
    pub fn admit(&self, op: Op, hash: u64) -> Result<Ticket, Throttled> {
        self.admit_routed(op, hash, None)
    }

    /// [`TableCapacity::admit`] of the key with hash `hash` and, when known, bytes `key`.
    #[inline]
    fn admit_routed(&self, op: Op, hash: u64, key: Option<&[u8]>) -> Result<Ticket, Throttled> {
        let now = self.clock.now_micros();
        if now >= self.next_tick_us.load(Relaxed) {
            self.tick_at(now, false);
        }
        let i = op.idx();
        let map = self.map.load();
        let idx = routing::route(map, hash, key);
        let Some(p) = map.parts.get(idx) else {
            // Unreachable: a map always has a partition starting at 0.
            return Err(Throttled {
                op,
                reason: ThrottleReason::PartitionMax,
                partition_id: 0,
                on_demand: self.on_demand(),
            });
        };
        let max_debits = p.max_debits(self.max_weight.map(|w| w as u64));
        let refused = if !p.max.admits(now, &max_debits) {
            Some(ThrottleReason::PartitionMax)
        } else if self.cfg.table_admission_control && !self.table_admits(i, now) {
            Some(reason_from(self.table_reason[i].load(Relaxed)))
        } else if !p.share[i].admits(now, &p.ops[i].consumed_milli) {
            Some(reason_from(self.allowance_reason.load(Relaxed)))
        } else {
            None
        };
        match refused {
            None => {
                routing::admitted(map, idx, op, key);
                Ok(Ticket {
                    op,
                    partition: idx as u32,
                    epoch: map.epoch,
                    hash,
                })
            }
            Some(reason) => {
                p.ops[i].throttled.fetch_add(1, Relaxed);
                Err(Throttled {
                    op,
                    reason,
                    partition_id: p.id,
                    on_demand: self.on_demand(),
                })
            }
        }
    }

    /// Whether the table is on demand: its partitions' allowances are then the partition
    /// maximum (`apply_mode`), so their refusals name it.
    #[inline]
    fn on_demand(&self) -> bool {
        self.allowance_reason.load(Relaxed) == REASON_PARTITION_MAX
    }

    /// Does the table bucket of dimension `i` admit? Counts this thread's gathered debits, so
    /// one thread sees its own consumption exactly; other threads' lag by at most a stripe
    /// each.
    #[inline]
    fn table_admits(&self, i: usize, now: u64) -> bool {
        self.table[i].refill(now);
        let own = if self.cfg.batched_table_debits {
            self.table_debt[i].own()
        } else {
            0
        };
        self.table[i].balance_milli() - own > 0
    }

    /// Phase two: debits what an admitted request consumed (units as `units.rs` computes
    /// them). The balances may go negative; later requests then wait.
    #[inline]
    pub fn charge(&self, ticket: Ticket, units: f64) {
        let map = self.map.load();
        let p = if ticket.epoch == map.epoch {
            map.parts.get(ticket.partition as usize)
        } else {
            map.parts.get(routing::reroute(
                map,
                ticket.epoch,
                ticket.partition as usize,
                ticket.hash,
            ))
        };
        if let Some(p) = p {
            self.debit(p, ticket.op, ticket.hash, to_milli(units));
        }
    }

    /// Debits consumption that was not admitted through a ticket (e.g. work the integrator
    /// must account for after the fact). Same effect as `charge`.
    pub fn charge_unadmitted(&self, op: Op, hash: u64, units: f64) {
        let map = self.map.load();
        if let Some(p) = map.parts.get(routing::route(map, hash, None)) {
            self.debit(p, op, hash, to_milli(units));
        }
    }

    #[inline]
    fn debit(&self, p: &Partition, op: Op, hash: u64, milli: i64) {
        let i = op.idx();
        // Debits the allowance bucket `share[i]` and the maximum `max`, and counts the
        // consumption, at once (`Partition`).
        p.ops[i].consumed_milli.fetch_add(milli as u64, Relaxed);
        if self.cfg.batched_table_debits {
            let fold = (self.table[i].rate_milli() / DEBT_FOLD_DIVISOR) as i64;
            self.table_debt[i].add(milli, fold, &self.table[i]);
        } else {
            self.table[i].debit(milli);
        }
        p.maybe_sample(hash, milli as u64);
    }

    /// [`TableCapacity::admit`] by partition-key bytes, also feeding the hot-key sketch
    /// (sampled, see `hot_key_sample_one_in`).
    pub fn admit_key(&self, op: Op, partition_key: &[u8]) -> Result<Ticket, Throttled> {
        let hash = crate::key::key_hash(partition_key);
        let r = self.admit_routed(op, hash, Some(partition_key));
        self.hot_keys
            .note(self.clock.now_micros(), hash, partition_key, r.is_err());
        r
    }

    /// Feeds the hot-key sketch without admitting (when the integrator admits by hash).
    pub fn note_key(&self, hash: u64, partition_key: &[u8], throttled: bool) {
        self.hot_keys
            .note(self.clock.now_micros(), hash, partition_key, throttled);
    }

    /// The `n` most accessed and most throttled keys of the sliding window.
    pub fn hot_keys(&self, n: usize) -> HotKeyReport {
        self.hot_keys.top(self.clock.now_micros(), n)
    }

    // ---- control plane ----

    /// Switches to (or re-provisions) provisioned mode. Partitions are added if the new rate
    /// needs them and never merged.
    pub fn set_provisioned(&self, read: u64, write: u64) {
        let now = self.clock.now_micros();
        let mut st = self.state.lock();
        self.apply_mode(
            &mut st,
            CapacityMode::Provisioned { read, write },
            now,
            false,
        );
    }

    /// Switches to (or updates the maxima of) on-demand mode. From provisioned, the previous
    /// peak becomes at least half the provisioned rate (DynamoDB's rule).
    pub fn set_on_demand(&self, max_read: Option<u64>, max_write: Option<u64>) {
        let now = self.clock.now_micros();
        let mut st = self.state.lock();
        self.apply_mode(
            &mut st,
            CapacityMode::OnDemand {
                max_read,
                max_write,
            },
            now,
            false,
        );
    }

    /// The current mode.
    pub fn mode(&self) -> CapacityMode {
        self.state.lock().mode
    }

    /// Tells the controller the data size of the partition holding `hash`; a partition past
    /// `partition_size_max_bytes` splits at the middle of its range.
    pub fn report_size(&self, hash: u64, size_bytes: u64) {
        let now = self.clock.now_micros();
        let mut st = self.state.lock();
        let map = self.map.load();
        let Some(p) = map.parts.get(routing::route(map, hash, None)) else {
            return;
        };
        p.size_bytes.store(size_bytes, Relaxed);
        // Other strategies split for size in maintenance (`table/grow.rs`), or never.
        if size_bytes > self.cfg.partition_size_max_bytes
            && p.last > p.start
            && self.partitioning.is_hash_split()
        {
            let mid = p.start + (p.last - p.start) / 2 + 1;
            self.split(&mut st, &[(p.id, mid, SplitReason::Size)], now);
        }
    }

    /// Adds `delta` bytes (negative when items shrink or go) to the data size of the partition
    /// holding `hash` — the request path calls this after every committed write, so size-based
    /// splits follow the data actually stored. Lock-free unless the partition must split.
    pub fn add_size(&self, hash: u64, delta: i64) {
        self.add_size_routed(hash, None, delta);
    }

    /// [`TableCapacity::add_size`] for the partition key with hash `hash` and bytes
    /// `partition_key` (a key-range table needs the bytes to find the partition).
    pub fn add_size_key(&self, hash: u64, partition_key: &[u8], delta: i64) {
        self.add_size_routed(hash, Some(partition_key), delta);
    }

    fn add_size_routed(&self, hash: u64, key: Option<&[u8]>, delta: i64) {
        if delta == 0 {
            return;
        }
        let map = self.map.load();
        let Some(p) = map.parts.get(routing::route(map, hash, key)) else {
            return;
        };
        let after = if delta > 0 {
            p.size_bytes
                .fetch_add(delta as u64, Relaxed)
                .saturating_add(delta as u64)
        } else {
            let d = delta.unsigned_abs();
            let mut cur = p.size_bytes.load(Relaxed);
            loop {
                let next = cur.saturating_sub(d);
                match p
                    .size_bytes
                    .compare_exchange_weak(cur, next, Relaxed, Relaxed)
                {
                    Ok(_) => break next,
                    Err(c) => cur = c,
                }
            }
        };
        if after > self.cfg.partition_size_max_bytes
            && p.last > p.start
            && self.partitioning.is_hash_split()
        {
            let now = self.clock.now_micros();
            let mut st = self.state.lock();
            // Another writer may have split it meanwhile: split only the partition still mapped.
            let map = self.map.load();
            if let Some(q) = map.parts.get(map.route(hash)) {
                if q.size_bytes.load(Relaxed) > self.cfg.partition_size_max_bytes
                    && q.last > q.start
                {
                    let mid = q.start + (q.last - q.start) / 2 + 1;
                    self.split(&mut st, &[(q.id, mid, SplitReason::Size)], now);
                }
            }
        }
    }

    /// The partition map's version: it changes whenever partitions split.
    pub fn layout_epoch(&self) -> u64 {
        self.map.load().epoch
    }

    /// The partitions' hash ranges (`start..=last`), in hash order.
    pub fn ranges(&self) -> Vec<(u64, u64)> {
        self.map
            .load()
            .parts
            .iter()
            .map(|p| (p.start, p.last))
            .collect()
    }

    /// Runs maintenance now (adaptive capacity, split detection, on-demand peaks). Admission
    /// runs it by itself once per tick; call this from a background worker or a test.
    pub fn tick(&self) {
        self.tick_at(self.clock.now_micros(), true);
    }

    /// A snapshot of rates, counters and events.
    pub fn stats(&self) -> CapacityStats {
        let now = self.clock.now_micros();
        let st = self.state.lock();
        let map = self.map.load();
        let part_op = |p: &Partition, i: usize| {
            p.share[i].refill(now, &p.ops[i].consumed_milli);
            PartitionOpStats {
                allowance_per_sec: from_milli(p.share[i].rate_milli() as i64),
                consumed_units: from_milli(p.ops[i].consumed_milli.load(Relaxed) as i64),
                throttled_requests: p.ops[i].throttled.load(Relaxed),
                burst_balance_units: from_milli(p.share[i].balance_milli(&p.ops[i].consumed_milli)),
            }
        };
        let partitions: Vec<PartitionStats> = map
            .parts
            .iter()
            .map(|p| PartitionStats {
                id: p.id,
                start: p.start,
                last: p.last,
                read: part_op(p, 0),
                write: part_op(p, 1),
                size_bytes: p.size_bytes.load(Relaxed),
            })
            .collect();
        let consumed = self.consumed_totals(&st, map);
        let table_op = |i: usize| {
            self.table_debt[i].fold_all(&self.table[i]);
            self.table[i].refill(now);
            let throttled = st.retired_throttled[i]
                + map
                    .parts
                    .iter()
                    .map(|p| p.ops[i].throttled.load(Relaxed))
                    .sum::<u64>();
            TableOpStats {
                rate_per_sec: from_milli(self.table[i].rate_milli() as i64),
                consumed_units: from_milli(consumed[i] as i64),
                throttled_requests: throttled,
                burst_balance_units: from_milli(self.table[i].balance_milli()),
            }
        };
        let peak = st.peak.peak_milli();
        CapacityStats {
            at_micros: now,
            mode: st.mode,
            read: table_op(0),
            write: table_op(1),
            on_demand_peak: (from_milli(peak[0] as i64), from_milli(peak[1] as i64)),
            partitions,
            splits: st.splits,
            events: st.events.iter().cloned().collect(),
        }
    }

    /// Number of partitions.
    pub fn partition_count(&self) -> usize {
        self.map.load().parts.len()
    }

    /// The table's partitioning strategy.
    pub fn partitioning(&self) -> PartitioningStrategy {
        self.partitioning
    }

    /// Index (in [`CapacityStats::partitions`] order) of the partition that holds the
    /// partition key `partition_key` now.
    pub fn route_key(&self, partition_key: &[u8]) -> usize {
        let map = self.map.load();
        routing::route(
            map,
            crate::key::key_hash(partition_key),
            Some(partition_key),
        )
    }

    /// A key-range table's split points (the first key of every range after the first);
    /// `None` for the other strategies.
    pub fn key_splits(&self) -> Option<Vec<Vec<u8>>> {
        match &self.map.load().layout {
            routing::Layout::Keys(k) => Some(k.ranges.splits().to_vec()),
            _ => None,
        }
    }

    // ---- internals ----

    fn new_partition(
        &self,
        id: u64,
        start: u64,
        last: u64,
        allowance_milli: [u64; 2],
        now: u64,
    ) -> Partition {
        let cfg = &self.cfg;
        let max_rate = cfg.partition_read_max * cfg.partition_write_max * MILLI as u64;
        let max_cap = (max_rate * cfg.partition_max_window_secs.max(1)) as i64;
        let share = |i: usize| {
            let a = allowance_milli[i];
            CreditBucket::new(a, (a * cfg.burst_window_secs.max(1)) as i64, a as i64, now)
        };
        Partition::new(
            id,
            start,
            last,
            CreditBucket::new(max_rate, max_cap, max_cap, now),
            [share(0), share(1)],
        )
    }

    fn part_max_milli(&self, i: usize) -> u64 {
        self.cfg.partition_max(i) * MILLI as u64
    }

    fn consumed_totals(&self, st: &State, map: &PartitionMap) -> [u64; 2] {
        let mut c = st.retired_consumed_milli;
        for p in &map.parts {
            for (i, ci) in c.iter_mut().enumerate() {
                *ci += p.ops[i].consumed_milli.load(Relaxed);
            }
        }
        c
    }

    fn push_event(&self, st: &mut State, e: CapacityEvent) {
        if st.events.len() == EVENTS_KEPT {
            st.events.pop_front();
        }
        st.events.push_back(e);
    }

    /// Applies `mode`'s rates to the table bucket, the partition allowances and the partition
    /// count.
    fn apply_mode(&self, st: &mut State, mode: CapacityMode, now: u64, initial: bool) {
        for (debt, bucket) in self.table_debt.iter().zip(&self.table) {
            debt.fold_all(bucket);
        }
        let was = st.mode;
        st.mode = mode;
        match mode {
            CapacityMode::Provisioned { read, write } => {
                let rate = [read * MILLI as u64, write * MILLI as u64];
                for (i, r) in rate.iter().enumerate() {
                    let cap = (r * self.cfg.burst_window_secs.max(1)) as i64;
                    self.table[i].set_rate(*r, cap, now);
                    self.table_reason[i].store(REASON_TABLE_PROVISIONED, Relaxed);
                }
                if initial {
                    let secs = self.initial_burst_secs();
                    for (i, r) in rate.iter().enumerate() {
                        // A new table starts with `initial_burst_secs` of its rate.
                        self.table[i].set_balance((*r * secs) as i64);
                    }
                }
                self.allowance_reason
                    .store(REASON_PARTITION_ALLOWANCE, Relaxed);
                self.fit_partitions(st, rate, now);
                self.reset_allowances(st, now);
            }
            CapacityMode::OnDemand { .. } => {
                if let CapacityMode::Provisioned { read, write } = was {
                    st.peak
                        .raise_to([read * MILLI as u64 / 2, write * MILLI as u64 / 2]);
                }
                self.allowance_reason.store(REASON_PARTITION_MAX, Relaxed);
                self.apply_on_demand_rates(st, now, initial);
                self.reset_allowances(st, now);
            }
        }
    }

    /// On-demand: table bucket at min(instant, max), partitions enough for it.
    fn apply_on_demand_rates(&self, st: &mut State, now: u64, initial: bool) {
        let CapacityMode::OnDemand {
            max_read,
            max_write,
        } = st.mode
        else {
            return;
        };
        let instant = st.peak.instant_milli();
        let maxes = [max_read, max_write];
        let mut rate = [0u64; 2];
        for i in 0..2 {
            let max = maxes[i].map(|m| m.saturating_mul(MILLI as u64));
            rate[i] = match max {
                Some(m) if m < instant[i] => {
                    self.table_reason[i].store(REASON_ON_DEMAND_MAX, Relaxed);
                    m
                }
                _ => {
                    self.table_reason[i].store(REASON_ON_DEMAND_PEAK, Relaxed);
                    instant[i]
                }
            };
            let cap = (rate[i] * self.cfg.on_demand_window_secs.max(1)) as i64;
            self.table[i].set_rate(rate[i], cap, now);
            if initial {
                self.table[i].set_balance(cap);
            }
        }
        self.fit_partitions(st, rate, now);
    }

    /// Sets every partition's allowance to the mode's baseline: the even share of the
    /// provisioned rate, or on-demand the partition maximum.
    fn reset_allowances(&self, st: &mut State, now: u64) {
        let map = self.map.load();
        let n = map.parts.len().max(1) as u64;
        let base = match st.mode {
            CapacityMode::Provisioned { read, write } => {
                [read * MILLI as u64 / n, write * MILLI as u64 / n]
            }
            CapacityMode::OnDemand { .. } => [self.part_max_milli(0), self.part_max_milli(1)],
        };
        st.base_share_milli = base;
        for p in &map.parts {
            for (i, b) in base.iter().enumerate() {
                self.set_allowance(p, i, *b, now);
            }
        }
    }

    fn set_allowance(&self, p: &Partition, i: usize, milli: u64, now: u64) {
        let cap = (milli * self.cfg.burst_window_secs.max(1)) as i64;
        if p.share[i].rate_milli() != milli || p.share[i].cap_milli() != cap {
            p.share[i].set_rate(milli, cap, now, &p.ops[i].consumed_milli);
        }
    }

    /// Splits partitions at the middle of their range until each one's slice of `rate_milli`
    /// (by hash-range fraction) fits the partition maximum.
    fn fit_partitions(&self, st: &mut State, rate_milli: [u64; 2], now: u64) {
        if !self.partitioning.is_hash_split() {
            self.fit_strategy(st, rate_milli, now);
            return;
        }
        for _ in 0..64 {
            let map = self.map.load();
            let splits: Vec<(u64, u64, SplitReason)> = map
                .parts
                .iter()
                .filter(|p| {
                    p.last > p.start
                        && (0..2).any(|i| {
                            p.range_fraction() * rate_milli[i] as f64
                                > self.part_max_milli(i) as f64 * (1.0 + 1e-9)
                        })
                })
                .map(|p| {
                    (
                        p.id,
                        p.start + (p.last - p.start) / 2 + 1,
                        SplitReason::Throughput,
                    )
                })
                .collect();
            if splits.is_empty() {
                return;
            }
            self.split(st, &splits, now);
        }
    }

    /// Replaces each listed partition `(id, at, reason)` by `[start, at-1]` and `[at, last]`,
    /// swapping in a new map once.
    fn split(&self, st: &mut State, splits: &[(u64, u64, SplitReason)], now: u64) {
        let old = self.map.load();
        let n_after = old.parts.len() + splits.len();
        let provisioned_base = match st.mode {
            CapacityMode::Provisioned { read, write } => Some([
                read * MILLI as u64 / n_after as u64,
                write * MILLI as u64 / n_after as u64,
            ]),
            CapacityMode::OnDemand { .. } => None,
        };
        let mut parts = Vec::with_capacity(n_after);
        for p in &old.parts {
            let Some(&(_, at, reason)) = splits
                .iter()
                .find(|(id, at, _)| *id == p.id && *at > p.start && *at <= p.last)
            else {
                parts.push(Arc::clone(p));
                continue;
            };
            let allowance: [u64; 2] = std::array::from_fn(|i| match provisioned_base {
                Some(base) if self.cfg.adaptive_capacity => {
                    (p.share[i].rate_milli() / 2).max(base[i])
                }
                Some(base) => base[i],
                None => self.part_max_milli(i),
            });
            let (lid, rid) = (st.next_id, st.next_id + 1);
            st.next_id += 2;
            let left = self.new_partition(lid, p.start, at - 1, allowance, now);
            let right = self.new_partition(rid, at, p.last, allowance, now);
            let size = p.size_bytes.load(Relaxed) / 2;
            left.size_bytes.store(size, Relaxed);
            right.size_bytes.store(size, Relaxed);
            for i in 0..2 {
                st.retired_consumed_milli[i] += p.ops[i].consumed_milli.load(Relaxed);
                st.retired_throttled[i] += p.ops[i].throttled.load(Relaxed);
            }
            parts.push(Arc::new(left));
            parts.push(Arc::new(right));
            st.splits += 1;
            self.push_event(
                st,
                CapacityEvent::Split {
                    at_micros: now,
                    reason,
                    parent_id: p.id,
                    range: (p.start, p.last),
                    split_at: at,
                    children: (lid, rid),
                },
            );
        }
        st.epoch += 1;
        self.map.publish(PartitionMap::new(st.epoch, parts));
        let map = self.map.load();
        if let Some(base) = provisioned_base {
            st.base_share_milli = base;
            if !self.cfg.adaptive_capacity {
                for p in &map.parts {
                    for (i, b) in base.iter().enumerate() {
                        self.set_allowance(p, i, *b, now);
                    }
                }
            }
        }
    }

    fn tick_at(&self, now: u64, wait: bool) {
        let mut st = if wait {
            self.state.lock()
        } else {
            match self.state.try_lock() {
                Some(st) => st,
                None => return,
            }
        };
        if !wait && now < self.next_tick_us.load(Relaxed) {
            return;
        }
        self.next_tick_us
            .store(now.saturating_add(self.cfg.tick_micros.max(1)), Relaxed);
        self.maintain(&mut st, now);
    }

    /// Adaptive capacity, split detection and on-demand peaks over the interval since the
    /// last maintenance.
    fn maintain(&self, st: &mut State, now: u64) {
        let elapsed = now.saturating_sub(st.last_tick_us);
        if elapsed == 0 {
            return;
        }
        st.last_tick_us = now;
        let map = self.map.load();
        let provisioned = matches!(st.mode, CapacityMode::Provisioned { .. });
        // The table has headroom in a dimension when it consumed under 95 % of its rate over
        // the interval, or still holds at least a second of burst.
        let table_rate = (map.parts.iter())
            .map(|p| {
                let tr = p.track.lock();
                [0, 1].map(|i| {
                    p.ops[i]
                        .consumed_milli
                        .load(Relaxed)
                        .saturating_sub(tr.last_consumed_milli[i])
                })
            })
            .fold([0u64; 2], |a, d| [a[0] + d[0], a[1] + d[1]])
            .map(|d| (d as u128 * MICROS_PER_SEC as u128 / elapsed as u128) as u64);
        let headroom = [0, 1].map(|i| {
            self.table_debt[i].fold_all(&self.table[i]);
            self.table[i].refill(now);
            let rate = self.table[i].rate_milli();
            table_rate[i].saturating_mul(100) < rate.saturating_mul(95)
                || self.table[i].balance_milli() >= rate as i64
        });
        let cool_us = self.cfg.adaptive_cool_secs * MICROS_PER_SEC;
        let sustain_us = self.cfg.split_sustain_secs * MICROS_PER_SEC;
        let mut heat = Vec::new();
        for p in &map.parts {
            let mut tr = p.track.lock();
            let mut utilization = 0.0;
            for (i, has_headroom) in headroom.iter().enumerate() {
                let c = p.ops[i].consumed_milli.load(Relaxed);
                let t = p.ops[i].throttled.load(Relaxed);
                let dc = c.saturating_sub(tr.last_consumed_milli[i]);
                let dt = t.saturating_sub(tr.last_throttled[i]);
                tr.last_consumed_milli[i] = c;
                tr.last_throttled[i] = t;
                let rate = (dc as u128 * MICROS_PER_SEC as u128 / elapsed as u128) as u64;
                let pmax = self.part_max_milli(i);
                utilization += rate as f64 / pmax.max(1) as f64;
                if !(provisioned && self.cfg.adaptive_capacity) {
                    continue;
                }
                let a = p.share[i].rate_milli();
                let base = st.base_share_milli[i];
                let busy = dt > 0 || rate.saturating_mul(10) >= a.saturating_mul(9);
                if busy && *has_headroom && a < pmax {
                    tr.cool_us[i] = 0;
                    let boosted = a.saturating_mul(2).max(base).max(MILLI as u64).min(pmax);
                    self.set_allowance(p, i, boosted, now);
                } else if a > base && rate.saturating_mul(2) < a {
                    tr.cool_us[i] += elapsed;
                    if tr.cool_us[i] >= cool_us {
                        tr.cool_us[i] = 0;
                        self.set_allowance(p, i, (a / 2).max(base), now);
                    }
                } else {
                    tr.cool_us[i] = 0;
                }
            }
            if utilization * 100.0 >= self.cfg.split_threshold_pct as f64 {
                tr.hot_us += elapsed;
                if self.cfg.split_for_heat && tr.hot_us >= sustain_us && !tr.hot_key_reported {
                    heat.push(Arc::clone(p));
                }
            } else {
                tr.hot_us = 0;
                tr.hot_key_reported = false;
            }
        }
        // Other strategies grow their own way (`table/grow.rs`).
        let heat = if self.partitioning.is_hash_split() {
            heat
        } else {
            self.maintain_strategy(st, heat, now);
            Vec::new()
        };
        let mut splits = Vec::new();
        for p in heat {
            let mut samples = p.samples();
            match choose_split(
                p.start,
                p.last,
                &mut samples,
                self.cfg.split_min_samples,
                self.cfg.hot_key_share_pct,
            ) {
                SplitOutcome::Split { at } => splits.push((p.id, at, SplitReason::Heat)),
                SplitOutcome::HotKey(hash) => {
                    p.track.lock().hot_key_reported = true;
                    self.push_event(
                        st,
                        CapacityEvent::HotKey {
                            at_micros: now,
                            partition_id: p.id,
                            hash,
                        },
                    );
                }
                SplitOutcome::TooFewSamples => {}
            }
        }
        if !splits.is_empty() {
            self.split(st, &splits, now);
        }
        if !provisioned {
            let map = self.map.load();
            let consumed = self.consumed_totals(st, map);
            if st.peak.observe(now, consumed) {
                self.apply_on_demand_rates(st, now, false);
            }
        }
    }
}
