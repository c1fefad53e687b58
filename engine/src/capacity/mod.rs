//! Capacity: DynamoDB's throttling machinery, as a pure layer in front of the data path.
//!
//! Read it in this order:
//! - [`units`]: what a request costs (capacity-unit arithmetic).
//! - [`clock`]: time, real or simulated; every decision takes it from a [`Clock`].
//! - [`bucket`]: the lock-free fixed-point token bucket with burst and overdraft.
//! - [`partition`]: hash-range partitions, the routing map, and split-point choice.
//! - `routing`: how a key finds its partition under the table's
//!   [`crate::partition::PartitioningStrategy`] (hash ranges, a consistent-hashing ring, key
//!   ranges) and the layout a table starts with.
//! - [`table`]: [`TableCapacity`], one table's controller: two-phase admission
//!   ([`TableCapacity::admit`] then [`TableCapacity::charge`]), adaptive capacity, table
//!   admission control, split for heat and size, on-demand scaling, mode switches, stats.
//! - [`ondemand`]: the on-demand previous-peak tracker.
//! - [`autoscale`]: target-tracking auto scaling for provisioned tables (a pure decision).
//! - [`hotkeys`]: most accessed / most throttled keys (Space-Saving sketch).
//! - [`error`]: [`Throttled`] and how it maps to DynamoDB's errors.
//!
//! The rules and their parameters are in docs/CAPACITY.md.

pub mod autoscale;
pub mod bucket;
pub mod clock;
pub mod config;
pub mod error;
pub mod hotkeys;
pub mod ondemand;
pub mod partition;
mod routing;
pub mod table;
pub mod units;

#[cfg(test)]
mod strategy_tests;
#[cfg(test)]
mod tests;

pub use autoscale::{AutoScaleConfig, AutoScaler, ScalingDecision, ScalingPolicy};
pub use clock::{Clock, SimClock, SystemClock};
pub use config::{CapacityConfig, CapacityMode};
pub use error::{Op, ThrottleReason, Throttled};
pub use hotkeys::{HotKey, HotKeyReport};
pub use partition::{SplitOutcome, SplitReason};
pub use table::{
    CapacityEvent, CapacityStats, PartitionOpStats, PartitionStats, TableCapacity, TableOpStats,
    Ticket,
};
