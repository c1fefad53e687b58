//! Every bound the engine enforces, in one place, with units last in the names.
//!
//! DynamoDB's documented limits come first; the engine's own sizing follows. Compile-time
//! assertions pin how the bounds relate to each other.

/// Largest item: attribute names (UTF-8 bytes) plus values, by DynamoDB's size rules.
pub const ITEM_SIZE_MAX_BYTES: usize = 400 * 1024;
/// Largest partition key value (bytes of its S/B value, or the N size rule).
pub const PARTITION_KEY_SIZE_MAX_BYTES: usize = 2048;
/// Largest sort key value.
pub const SORT_KEY_SIZE_MAX_BYTES: usize = 1024;
/// Largest attribute name of a key attribute.
pub const KEY_ATTRIBUTE_NAME_MAX_BYTES: usize = 255;
/// Largest attribute name of any attribute.
pub const ATTRIBUTE_NAME_MAX_BYTES: usize = 65_535;
/// Deepest nesting of values: an attribute is level 1, a value in a map or list one level
/// deeper than it (so an attribute takes 31 levels of maps or lists around a scalar; 32 is
/// refused, as the service answered in eu-west-2 and us-east-1 in 2026).
pub const NESTING_DEPTH_MAX: usize = 32;

/// DynamoDB's answer to a value nested deeper than [`NESTING_DEPTH_MAX`] (as the service words
/// it in 2026; older recordings end at "limits").
pub const NESTING_DEPTH_MESSAGE: &str = "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit";
/// Significant digits of a Number.
pub const NUMBER_DIGITS_MAX: usize = 38;
/// Table and index name length bounds.
pub const TABLE_NAME_LEN_MIN: usize = 3;
pub const TABLE_NAME_LEN_MAX: usize = 255;
/// Length of the attribute name UpdateTimeToLive names, in characters.
pub const TTL_ATTRIBUTE_NAME_LEN_MAX: usize = 255;
/// Bytes of data a Query or Scan reads for one page, before filtering.
pub const QUERY_PAGE_MAX_BYTES: usize = 1024 * 1024;
/// BatchGetItem keys per request.
pub const BATCH_GET_KEYS_MAX: usize = 100;
/// BatchWriteItem put/delete requests per request.
pub const BATCH_WRITE_REQUESTS_MAX: usize = 25;
/// BatchWriteItem / BatchGetItem response and request size.
pub const BATCH_SIZE_MAX_BYTES: usize = 16 * 1024 * 1024;
/// Actions per TransactWriteItems / TransactGetItems.
pub const TRANSACT_ACTIONS_MAX: usize = 100;
/// Aggregate item size in one transaction.
pub const TRANSACT_SIZE_MAX_BYTES: usize = 4 * 1024 * 1024;
/// How long a ClientRequestToken keeps a transaction idempotent.
pub const TRANSACT_TOKEN_TTL_SECS: u64 = 600;
/// Expression string length.
pub const EXPRESSION_SIZE_MAX_BYTES: usize = 4096;
/// Parallel Scan segments.
pub const SCAN_TOTAL_SEGMENTS_MAX: u32 = 1_000_000;
/// GSIs and LSIs per table.
pub const GSI_PER_TABLE_MAX: usize = 20;
pub const LSI_PER_TABLE_MAX: usize = 5;
/// HTTP request body the server accepts (DynamoDB rejects bodies over 16 MB).
pub const REQUEST_BODY_MAX_BYTES: usize = 16 * 1024 * 1024;

// ---- engine sizing ----

/// Largest user key the storage layer accepts: hash prefix + partition key + sort key + framing.
pub const USER_KEY_SIZE_MAX_BYTES: usize =
    8 + 2 + PARTITION_KEY_SIZE_MAX_BYTES + SORT_KEY_SIZE_MAX_BYTES * 2 + 16;
/// Largest value the storage layer accepts (an encoded item plus headroom for framing).
pub const VALUE_SIZE_MAX_BYTES: usize = 2 * ITEM_SIZE_MAX_BYTES;
/// Largest WAL record payload (a transaction of 100 items of 400 KB is bounded by 4 MB of items,
/// but index and stream effects ride along).
pub const WAL_RECORD_SIZE_MAX_BYTES: usize = 64 * 1024 * 1024;
/// Default memtable size at which it is rotated to immutable and flushed.
pub const MEMTABLE_SIZE_DEFAULT_BYTES: usize = 8 * 1024 * 1024;
/// Immutable memtables per partition before writers stall.
pub const IMMUTABLE_MEMTABLES_MAX: usize = 4;
/// L0 tables per partition at which compaction is triggered, and at which writers stall.
pub const L0_COMPACTION_TRIGGER_TABLES: usize = 4;
pub const L0_STALL_TABLES: usize = 20;
/// Nice value of the background flush and compaction threads: they get about a tenth of a
/// contended core's share against a request thread, and still all of an idle one.
pub const BACKGROUND_NICE_DEFAULT: i32 = 10;
/// SSTable data block target size.
pub const SST_BLOCK_SIZE_DEFAULT_BYTES: usize = 4096;
/// Bloom filter bits per key.
pub const BLOOM_BITS_PER_KEY_DEFAULT: usize = 10;
/// Block cache budget.
pub const BLOCK_CACHE_DEFAULT_BYTES: usize = 64 * 1024 * 1024;
/// WAL segment size at which a new segment is started.
pub const WAL_SEGMENT_SIZE_DEFAULT_BYTES: u64 = 64 * 1024 * 1024;
/// Writers one group commit batches at most.
pub const GROUP_COMMIT_BATCH_MAX: usize = 1024;
/// Largest N of a table's partitioning setting (`fixed-hash:N`, `consistent-hash:N`,
/// `key-range:N`), and most nodes a consistent-hash table's ring grows to.
pub const PARTITIONING_PARTITIONS_MAX: u32 = 1024;
/// Most virtual nodes per node of a consistent-hash table.
pub const PARTITIONING_VNODES_MAX: u32 = 1024;

const _: () = assert!(SORT_KEY_SIZE_MAX_BYTES < PARTITION_KEY_SIZE_MAX_BYTES);
const _: () = assert!(VALUE_SIZE_MAX_BYTES < WAL_RECORD_SIZE_MAX_BYTES);
const _: () = assert!(L0_COMPACTION_TRIGGER_TABLES < L0_STALL_TABLES);
const _: () = assert!(TRANSACT_SIZE_MAX_BYTES < WAL_RECORD_SIZE_MAX_BYTES);
