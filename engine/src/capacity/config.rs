//! The capacity layer's parameters, with DynamoDB's values as defaults. Tests shrink them.

/// How a table pays for throughput.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapacityMode {
    /// `PROVISIONED`: read and write capacity units per second.
    Provisioned {
        /// ReadCapacityUnits.
        read: u64,
        /// WriteCapacityUnits.
        write: u64,
    },
    /// `PAY_PER_REQUEST`, with the optional `OnDemandThroughput` maxima.
    OnDemand {
        /// MaxReadRequestUnits, if set.
        max_read: Option<u64>,
        /// MaxWriteRequestUnits, if set.
        max_write: Option<u64>,
    },
}

impl CapacityMode {
    /// Provisioned with `read` RCU and `write` WCU.
    pub fn provisioned(read: u64, write: u64) -> CapacityMode {
        CapacityMode::Provisioned { read, write }
    }

    /// On-demand without maxima.
    pub fn on_demand() -> CapacityMode {
        CapacityMode::OnDemand {
            max_read: None,
            max_write: None,
        }
    }
}

/// Parameters of one table's capacity controller. `Default` is DynamoDB's documented
/// behaviour where it is documented, and our choice (see docs/CAPACITY.md) where it is not.
#[derive(Debug, Clone)]
pub struct CapacityConfig {
    /// Hard per-partition maximum of read units per second.
    pub partition_read_max: u64,
    /// Hard per-partition maximum of write units per second.
    pub partition_write_max: u64,
    /// Partition size at which it splits for size.
    pub partition_size_max_bytes: u64,
    /// Seconds of unused provisioned capacity a bucket keeps (burst capacity).
    pub burst_window_secs: u64,
    /// Seconds of its provisioned rate a new provisioned table (and each of its partitions)
    /// starts with, at most `burst_window_secs`. Default: the whole burst window, so a new
    /// table absorbs a first burst as DynamoDB's do (a table of 5 WCU takes a few hundred
    /// writes at once before it throttles; tests and tutorials create such tables and fill
    /// them). 1 models a cold start for studies.
    pub initial_burst_secs: u64,
    /// Seconds of the partition maximum its hard bucket may hold (how far a partition may
    /// exceed its per-second maximum in a short spike).
    pub partition_max_window_secs: u64,
    /// Seconds of instant capacity an on-demand table keeps in its table bucket.
    pub on_demand_window_secs: u64,
    /// How often maintenance (adaptive capacity, split detection, on-demand peaks) runs.
    pub tick_micros: u64,
    /// Table-level admission control: every request also draws from the table's bucket.
    pub table_admission_control: bool,
    /// Gather table-bucket debits per thread stripe and apply them in batches of up to 10 ms
    /// of the table's rate (the paper's request routers take tokens from global admission
    /// control in batches too), so concurrent requests do not all write one cache line. The
    /// table bucket may then lag by at most `DEBT_STRIPES` × 10 ms of its rate; partition
    /// buckets stay exact. Off: every debit goes to the table bucket at once.
    pub batched_table_debits: bool,
    /// Raise a hot partition's allowance above its even share while the table has headroom.
    pub adaptive_capacity: bool,
    /// Seconds a boosted partition must stay below half its allowance before it is halved.
    pub adaptive_cool_secs: u64,
    /// Split partitions that stay hot.
    pub split_for_heat: bool,
    /// A partition is hot when it uses at least this percent of its maximum.
    pub split_threshold_pct: u64,
    /// Seconds a partition must stay hot before it splits.
    pub split_sustain_secs: u64,
    /// Key-hash samples needed before a split point is chosen.
    pub split_min_samples: usize,
    /// A partition whose samples are at least this percent one hash is a hot key, not split.
    pub hot_key_share_pct: u64,
    /// On-demand "previous peak" of a new table, read units per second.
    pub on_demand_initial_read_peak: u64,
    /// On-demand "previous peak" of a new table, write units per second.
    pub on_demand_initial_write_peak: u64,
    /// On-demand peaks are averages over windows of this many seconds.
    pub on_demand_peak_window_secs: u64,
    /// Hot-key sketch: record one request in this many.
    pub hot_key_sample_one_in: u32,
    /// Hot-key sketch: counters kept (memory bound).
    pub hot_key_counters: usize,
    /// Hot-key sketch: sliding window length in seconds.
    pub hot_key_window_secs: u64,
}

impl Default for CapacityConfig {
    fn default() -> Self {
        CapacityConfig {
            partition_read_max: 3000,
            partition_write_max: 1000,
            partition_size_max_bytes: 10 * 1024 * 1024 * 1024,
            burst_window_secs: 300,
            initial_burst_secs: 300,
            partition_max_window_secs: 1,
            on_demand_window_secs: 1,
            tick_micros: 1_000_000,
            table_admission_control: true,
            batched_table_debits: true,
            adaptive_capacity: true,
            adaptive_cool_secs: 60,
            split_for_heat: true,
            split_threshold_pct: 80,
            split_sustain_secs: 30,
            split_min_samples: 32,
            hot_key_share_pct: 95,
            on_demand_initial_read_peak: 6000,
            on_demand_initial_write_peak: 2000,
            on_demand_peak_window_secs: 60,
            hot_key_sample_one_in: 16,
            hot_key_counters: 64,
            hot_key_window_secs: 60,
        }
    }
}

impl CapacityConfig {
    /// The partition maximum of `op` (read index 0, write index 1).
    pub(crate) fn partition_max(&self, idx: usize) -> u64 {
        if idx == 0 {
            self.partition_read_max
        } else {
            self.partition_write_max
        }
    }
}
