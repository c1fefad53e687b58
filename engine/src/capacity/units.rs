//! Capacity-unit arithmetic, by DynamoDB's rules.
//!
//! - A read unit is one strongly consistent read per second of up to 4 KB; sizes round up to
//!   the next 4 KB. An eventually consistent read costs half, a transactional read double.
//! - A write unit is one write per second of up to 1 KB; sizes round up to the next 1 KB. A
//!   transactional write costs double.
//! - GetItem and every key of a BatchGetItem round each item up on its own; a Query or Scan page
//!   sums the sizes of every item it read (before filtering) and rounds up once.
//! - PutItem and UpdateItem charge the larger of the item before and after the write;
//!   DeleteItem charges the deleted item's size. Every request costs at least one unit (half a
//!   unit for an eventually consistent read), even when no item exists.
//!
//! Units are computed in half-unit steps on integers and returned as `f64`, which represents
//! every half-unit count exactly, so sums never drift.

/// Bytes one read unit covers.
pub const READ_UNIT_BYTES: usize = 4 * 1024;
/// Bytes one write unit covers.
pub const WRITE_UNIT_BYTES: usize = 1024;

/// How a read is served, which decides what a 4 KB block costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadKind {
    /// Eventually consistent: half a unit per 4 KB.
    Eventual,
    /// Strongly consistent: one unit per 4 KB.
    Strong,
    /// Part of TransactGetItems: two units per 4 KB.
    Transactional,
}

impl ReadKind {
    /// The kind a `ConsistentRead` flag asks for.
    pub fn from_consistent(consistent: bool) -> ReadKind {
        if consistent {
            ReadKind::Strong
        } else {
            ReadKind::Eventual
        }
    }

    /// Half units per 4 KB block.
    fn half_units_per_block(self) -> u64 {
        match self {
            ReadKind::Eventual => 1,
            ReadKind::Strong => 2,
            ReadKind::Transactional => 4,
        }
    }
}

/// How a write is made, which decides what a 1 KB block costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteKind {
    /// PutItem, UpdateItem, DeleteItem, BatchWriteItem: one unit per 1 KB.
    Standard,
    /// Part of TransactWriteItems: two units per 1 KB.
    Transactional,
}

impl WriteKind {
    fn units_per_block(self) -> u64 {
        match self {
            WriteKind::Standard => 1,
            WriteKind::Transactional => 2,
        }
    }
}

/// Blocks of `block` bytes needed for `bytes`, at least one.
fn blocks(bytes: usize, block: usize) -> u64 {
    (bytes.div_ceil(block).max(1)) as u64
}

/// Read units for one item of `bytes` (0 when no item was found): GetItem, one key of
/// BatchGetItem, one item of TransactGetItems.
pub fn item_read_units(bytes: usize, kind: ReadKind) -> f64 {
    (blocks(bytes, READ_UNIT_BYTES) * kind.half_units_per_block()) as f64 / 2.0
}

/// Read units for a Query or Scan page that read items totalling `bytes` (before any filter):
/// the sum is rounded up to 4 KB once.
pub fn page_read_units(bytes: usize, kind: ReadKind) -> f64 {
    item_read_units(bytes, kind)
}

/// Write units for writing an item of `bytes` (PutItem of a new item, a DeleteItem of an item
/// of that size, or 0 bytes when nothing existed).
pub fn item_write_units(bytes: usize, kind: WriteKind) -> f64 {
    (blocks(bytes, WRITE_UNIT_BYTES) * kind.units_per_block()) as f64
}

/// Write units for replacing or updating an item: the larger of its size before
/// (`old_bytes`, 0 when it did not exist) and after (`new_bytes`, 0 when deleted).
pub fn replace_write_units(old_bytes: usize, new_bytes: usize, kind: WriteKind) -> f64 {
    item_write_units(old_bytes.max(new_bytes), kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_round_up_to_four_kilobytes() {
        use ReadKind::*;
        assert_eq!(item_read_units(0, Strong), 1.0);
        assert_eq!(item_read_units(1, Strong), 1.0);
        assert_eq!(item_read_units(4096, Strong), 1.0);
        assert_eq!(item_read_units(4097, Strong), 2.0);
        assert_eq!(item_read_units(8192, Strong), 2.0);
        assert_eq!(item_read_units(8193, Strong), 3.0);
        assert_eq!(item_read_units(400 * 1024, Strong), 100.0);
    }

    #[test]
    fn eventual_reads_cost_half_and_transactional_double() {
        use ReadKind::*;
        assert_eq!(item_read_units(0, Eventual), 0.5);
        assert_eq!(item_read_units(4096, Eventual), 0.5);
        assert_eq!(item_read_units(4097, Eventual), 1.0);
        assert_eq!(item_read_units(12289, Eventual), 2.0);
        assert_eq!(item_read_units(0, Transactional), 2.0);
        assert_eq!(item_read_units(4096, Transactional), 2.0);
        assert_eq!(item_read_units(4097, Transactional), 4.0);
        assert_eq!(ReadKind::from_consistent(true), Strong);
        assert_eq!(ReadKind::from_consistent(false), Eventual);
    }

    #[test]
    fn pages_round_the_sum_once() {
        // Three 1.5 KB items: 4.5 KB read, two units strongly consistent (not three).
        let sum = 3 * 1536;
        assert_eq!(page_read_units(sum, ReadKind::Strong), 2.0);
        assert_eq!(page_read_units(sum, ReadKind::Eventual), 1.0);
        // An empty page still costs the minimum.
        assert_eq!(page_read_units(0, ReadKind::Eventual), 0.5);
        // 1 MB page: 256 units.
        assert_eq!(page_read_units(1024 * 1024, ReadKind::Strong), 256.0);
        assert_eq!(page_read_units(1024 * 1024 + 1, ReadKind::Strong), 257.0);
    }

    #[test]
    fn writes_round_up_to_one_kilobyte() {
        use WriteKind::*;
        assert_eq!(item_write_units(0, Standard), 1.0);
        assert_eq!(item_write_units(1, Standard), 1.0);
        assert_eq!(item_write_units(1023, Standard), 1.0);
        assert_eq!(item_write_units(1024, Standard), 1.0);
        assert_eq!(item_write_units(1025, Standard), 2.0);
        assert_eq!(item_write_units(2048, Standard), 2.0);
        assert_eq!(item_write_units(2049, Standard), 3.0);
        assert_eq!(item_write_units(400 * 1024, Standard), 400.0);
        assert_eq!(item_write_units(0, Transactional), 2.0);
        assert_eq!(item_write_units(1025, Transactional), 4.0);
    }

    #[test]
    fn replacing_charges_the_larger_item() {
        use WriteKind::*;
        assert_eq!(replace_write_units(3000, 500, Standard), 3.0);
        assert_eq!(replace_write_units(500, 3000, Standard), 3.0);
        assert_eq!(replace_write_units(0, 0, Standard), 1.0);
        assert_eq!(replace_write_units(1024, 1025, Transactional), 4.0);
    }
}
