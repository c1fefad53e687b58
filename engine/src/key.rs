//! Internal keys: what every layer below the table agrees on.
//!
//! A *user key* is the byte string the table layer hands to storage:
//! `xxh3(pk) (8 bytes, big-endian) ‖ encoded pk ‖ encoded sort key`. The 8-byte hash prefix
//! routes the key to a partition (hash ranges) and makes Scan walk hash order, as DynamoDB does.
//! Below the memtable every version of a user key is an *entry*: the user key, a sequence
//! number and a kind. Entries order by user key ascending (bytewise), then sequence number
//! descending, so the newest version of a key comes first.

use std::cmp::Ordering;

use bytes::Bytes;

/// Sequence number of a committed write batch. 0 is never assigned to a write.
pub type SeqNo = u64;

/// The largest sequence number: a snapshot at `SEQ_MAX` sees everything.
pub const SEQ_MAX: SeqNo = u64::MAX >> 8;

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ValueKind {
    /// A tombstone: the key was deleted at this sequence number.
    Delete = 0,
    /// A value.
    Put = 1,
}

impl ValueKind {
    pub fn from_u8(b: u8) -> Option<ValueKind> {
        match b {
            0 => Some(ValueKind::Delete),
            1 => Some(ValueKind::Put),
            _ => None,
        }
    }
}

/// One version of one user key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub user_key: Vec<u8>,
    pub seq: SeqNo,
    pub kind: ValueKind,
    /// Empty for tombstones. A range of the buffer it was read from (a memtable's value, a
    /// cached SSTable block), not a copy: a merge that skips older versions copies nothing,
    /// and only what a read returns is copied out (`Vec::from`).
    pub value: Bytes,
}

/// Order of entries: user key ascending, then sequence number descending.
pub fn entry_cmp(a_key: &[u8], a_seq: SeqNo, b_key: &[u8], b_seq: SeqNo) -> Ordering {
    a_key.cmp(b_key).then_with(|| b_seq.cmp(&a_seq))
}

/// The 64-bit hash that prefixes every user key (and routes it to a partition).
pub fn key_hash(partition_key_bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(partition_key_bytes)
}

/// Reads the routing hash back from a user key (the first 8 bytes, big-endian);
/// keys shorter than 8 bytes route by their zero-padded prefix.
pub fn routing_hash(user_key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = user_key.len().min(8);
    b[..n].copy_from_slice(&user_key[..n]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_versions_sort_first() {
        assert_eq!(entry_cmp(b"a", 5, b"a", 3), Ordering::Less);
        assert_eq!(entry_cmp(b"a", 3, b"b", 5), Ordering::Less);
        assert_eq!(entry_cmp(b"ab", 1, b"a", 9), Ordering::Greater);
    }

    #[test]
    fn routing_hash_reads_the_prefix() {
        let mut k = 0x0102_0304_0506_0708u64.to_be_bytes().to_vec();
        k.extend_from_slice(b"rest");
        assert_eq!(routing_hash(&k), 0x0102_0304_0506_0708);
        assert_eq!(routing_hash(&[0xff]), 0xff00_0000_0000_0000);
    }
}
