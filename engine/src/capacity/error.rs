//! What a throttled request gets back, and how the API layer should name it.

use std::fmt;

/// The two capacity dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Consumes read capacity units (RCU / RRU).
    Read,
    /// Consumes write capacity units (WCU / WRU).
    Write,
}

impl Op {
    /// 0 for reads, 1 for writes (index into per-dimension arrays).
    #[inline]
    pub(crate) fn idx(self) -> usize {
        match self {
            Op::Read => 0,
            Op::Write => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Op::Read => "Read",
            Op::Write => "Write",
        }
    }
}

/// Why a request was throttled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ThrottleReason {
    /// The partition reached its hard maximum (3,000 RCU / 1,000 WCU, combined linearly).
    /// Both modes. DynamoDB's `KeyRangeThroughputExceeded`.
    PartitionMax,
    /// Provisioned: the partition spent its allowance (even share of the table, raised by
    /// adaptive capacity) and its burst. DynamoDB's `KeyRangeThroughputExceeded`.
    PartitionAllowance,
    /// Provisioned: the table spent its provisioned rate and burst (table admission control).
    /// DynamoDB's `ProvisionedThroughputExceeded`.
    TableProvisioned,
    /// On-demand: the table is above double its previous peak (its instant capacity).
    /// DynamoDB reports this as partition throttling (`KeyRangeThroughputExceeded`).
    OnDemandPeak,
    /// On-demand: above the table's `OnDemandThroughput` maximum.
    /// DynamoDB's `MaxOnDemandThroughputExceeded`.
    OnDemandMax,
}

/// A request refused by the capacity layer. Cheap to copy; carries no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// The dimension that ran out.
    pub op: Op,
    /// Which limit refused it.
    pub reason: ThrottleReason,
    /// The partition (its stable id, see [`super::PartitionStats::id`]) the key routed to.
    pub partition_id: u64,
    /// The table is on demand (DynamoDB words the exception differently there).
    pub on_demand: bool,
}

/// DynamoDB's message for `ProvisionedThroughputExceededException`.
pub const PROVISIONED_EXCEEDED_MESSAGE: &str = "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.";

/// DynamoDB's message for `ProvisionedThroughputExceededException` on an on-demand table
/// (quoted in the TransactWriteItems API reference's cancellation reasons).
pub const ON_DEMAND_EXCEEDED_MESSAGE: &str = "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly. If exceptions persist, check if you have a hot key: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html";

/// Our message for `ThrottlingException` on an on-demand maximum (DynamoDB's exact wording for
/// this case is not documented; see docs/CAPACITY.md).
pub const ON_DEMAND_MAX_MESSAGE: &str =
    "Throughput exceeds the maximum OnDemandThroughput configured on the table.";

impl Throttled {
    /// The `__type` suffix the API should answer with.
    pub fn error_type(&self) -> &'static str {
        match self.reason {
            ThrottleReason::OnDemandMax => "ThrottlingException",
            _ => "ProvisionedThroughputExceededException",
        }
    }

    /// The error message the API should answer with.
    pub fn message(&self) -> &'static str {
        match self.reason {
            ThrottleReason::OnDemandMax => ON_DEMAND_MAX_MESSAGE,
            _ if self.on_demand => ON_DEMAND_EXCEEDED_MESSAGE,
            _ => PROVISIONED_EXCEEDED_MESSAGE,
        }
    }

    /// The limit type of DynamoDB's `ThrottlingReason.reason` (prefix it with `Table` or
    /// `Index` and the operation, see [`Throttled::throttling_reason`]).
    pub fn limit_type(&self) -> &'static str {
        match self.reason {
            ThrottleReason::PartitionMax
            | ThrottleReason::PartitionAllowance
            | ThrottleReason::OnDemandPeak => "KeyRangeThroughputExceeded",
            ThrottleReason::TableProvisioned => "ProvisionedThroughputExceeded",
            ThrottleReason::OnDemandMax => "MaxOnDemandThroughputExceeded",
        }
    }

    /// DynamoDB's `ThrottlingReason.reason` for a table, e.g.
    /// `TableWriteKeyRangeThroughputExceeded`.
    pub fn throttling_reason(&self) -> String {
        format!("Table{}{}", self.op.name(), self.limit_type())
    }

    /// The same for a global secondary index, e.g. `IndexWriteKeyRangeThroughputExceeded`.
    pub fn index_throttling_reason(&self) -> String {
        format!("Index{}{}", self.op.name(), self.limit_type())
    }
}

impl fmt::Display for Throttled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Throttled {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_map_to_dynamodb_names() {
        let t = Throttled {
            op: Op::Write,
            reason: ThrottleReason::PartitionMax,
            partition_id: 3,
            on_demand: false,
        };
        assert_eq!(t.error_type(), "ProvisionedThroughputExceededException");
        assert_eq!(t.to_string(), PROVISIONED_EXCEEDED_MESSAGE);
        let od = Throttled {
            on_demand: true,
            ..t
        };
        assert_eq!(od.error_type(), "ProvisionedThroughputExceededException");
        assert_eq!(od.to_string(), ON_DEMAND_EXCEEDED_MESSAGE);
        assert_eq!(
            t.throttling_reason(),
            "TableWriteKeyRangeThroughputExceeded"
        );
        let t = Throttled {
            op: Op::Read,
            reason: ThrottleReason::OnDemandMax,
            partition_id: 0,
            on_demand: false,
        };
        assert_eq!(t.error_type(), "ThrottlingException");
        assert_eq!(
            t.throttling_reason(),
            "TableReadMaxOnDemandThroughputExceeded"
        );
        let t = Throttled {
            op: Op::Read,
            reason: ThrottleReason::TableProvisioned,
            partition_id: 0,
            on_demand: false,
        };
        assert_eq!(
            t.throttling_reason(),
            "TableReadProvisionedThroughputExceeded"
        );
    }
}
