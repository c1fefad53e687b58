//! The index block: one entry per data block, naming the block's last entry (user key and
//! sequence number) and where the block lies.
//!
//! Encoding: `count: u32 LE`, then per data block in file order: last user key (u32 LE length
//! ‖ bytes), last entry's seq (u64 LE), block offset (u64 LE), block payload length (u32 LE).
//! Decoding checks that the blocks tile the data region exactly (the first at offset 0, each
//! next one right after the previous block's trailer, the last ending where the index begins)
//! and that the last entries strictly ascend in entry order.

use std::cmp::Ordering;

use super::{BlockHandle, Dec, SST_KEY_SIZE_MAX_BYTES};
use crate::error::Result;
use crate::key::{entry_cmp, SeqNo};

/// Bytes of an index entry besides its key.
const ENTRY_FIXED_BYTES: usize = 4 + 8 + 8 + 4;

/// Accumulates index entries while the writer emits data blocks.
#[derive(Debug, Default)]
pub(crate) struct IndexBuilder {
    buf: Vec<u8>,
    count: u32,
}

impl IndexBuilder {
    pub(crate) fn add(&mut self, last_key: &[u8], last_seq: SeqNo, handle: BlockHandle) {
        self.buf
            .extend_from_slice(&(last_key.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(last_key);
        self.buf.extend_from_slice(&last_seq.to_le_bytes());
        self.buf.extend_from_slice(&handle.offset.to_le_bytes());
        self.buf.extend_from_slice(&handle.len.to_le_bytes());
        self.count += 1;
    }

    /// The index block payload.
    pub(crate) fn finish(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.buf.len());
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&self.buf);
        out
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    key_start: usize,
    key_len: usize,
    seq: SeqNo,
    handle: BlockHandle,
}

/// A decoded index: the last keys packed in one buffer.
#[derive(Debug, Default)]
pub(crate) struct Index {
    keys: Vec<u8>,
    slots: Vec<Slot>,
}

impl Index {
    /// Decodes the index block payload found at file offset `base`; `data_end` is where the
    /// data blocks end (the index block's offset).
    pub(crate) fn decode(buf: &[u8], table: u64, base: u64, data_end: u64) -> Result<Index> {
        let mut d = Dec::new(buf, Some(table), base, "index block");
        let n = d.count(ENTRY_FIXED_BYTES)?;
        let mut keys = Vec::with_capacity(buf.len().saturating_sub(4 + n * ENTRY_FIXED_BYTES));
        let mut slots: Vec<Slot> = Vec::with_capacity(n);
        let mut next_offset = 0u64;
        for _ in 0..n {
            let key = d.u32_bytes(SST_KEY_SIZE_MAX_BYTES)?;
            let seq = d.u64()?;
            let handle = BlockHandle {
                offset: d.u64()?,
                len: d.u32()?,
            };
            if handle.offset != next_offset {
                return Err(d.err("data block does not follow the previous one"));
            }
            next_offset = handle
                .end_with_trailer()
                .filter(|e| *e <= data_end)
                .ok_or_else(|| d.err("data block runs past the data region"))?;
            if let Some(prev) = slots.last() {
                let prev_key = &keys[prev.key_start..prev.key_start + prev.key_len];
                if entry_cmp(prev_key, prev.seq, key, seq) != Ordering::Less {
                    return Err(d.err("last keys out of order"));
                }
            }
            slots.push(Slot {
                key_start: keys.len(),
                key_len: key.len(),
                seq,
                handle,
            });
            keys.extend_from_slice(key);
        }
        d.finish()?;
        if next_offset != data_end {
            return Err(d.err("data blocks do not reach the index"));
        }
        Ok(Index { keys, slots })
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn last_key(&self, i: usize) -> &[u8] {
        let s = &self.slots[i];
        &self.keys[s.key_start..s.key_start + s.key_len]
    }

    pub(crate) fn last_seq(&self, i: usize) -> SeqNo {
        self.slots[i].seq
    }

    pub(crate) fn handle(&self, i: usize) -> BlockHandle {
        self.slots[i].handle
    }

    /// Index of the first block whose last entry is ≥ (key, seq) in entry order (`len()` when
    /// every entry of the table is smaller).
    pub(crate) fn find(&self, key: &[u8], seq: SeqNo) -> usize {
        self.slots.partition_point(|s| {
            entry_cmp(
                &self.keys[s.key_start..s.key_start + s.key_len],
                s.seq,
                key,
                seq,
            ) == Ordering::Less
        })
    }

    /// Memory held.
    pub(crate) fn size_bytes(&self) -> usize {
        self.keys.capacity() + self.slots.capacity() * std::mem::size_of::<Slot>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sstable::TRAILER_BYTES;

    fn built(blocks: &[(&[u8], SeqNo, u32)]) -> (Vec<u8>, u64) {
        let mut b = IndexBuilder::default();
        let mut off = 0u64;
        for (k, s, len) in blocks {
            b.add(
                k,
                *s,
                BlockHandle {
                    offset: off,
                    len: *len,
                },
            );
            off += u64::from(*len) + TRAILER_BYTES as u64;
        }
        (b.finish(), off)
    }

    #[test]
    fn index_round_trips_and_finds_blocks() {
        let (buf, end) = built(&[(b"b", 5, 100), (b"b", 2, 50), (b"d", 9, 70)]);
        let idx = Index::decode(&buf, 1, end, end).expect("decode");
        assert_eq!(idx.len(), 3);
        assert_eq!(idx.last_key(2), b"d");
        assert_eq!(idx.handle(1).offset, 109);
        assert_eq!(idx.find(b"a", 1), 0);
        assert_eq!(
            idx.find(b"b", 3),
            1,
            "version 3 of b lies in the second block"
        );
        assert_eq!(idx.find(b"c", 1), 2);
        assert_eq!(idx.find(b"e", 1), 3);
    }

    #[test]
    fn gaps_overlaps_disorder_and_truncation_are_refused() {
        let (buf, end) = built(&[(b"a", 1, 10), (b"b", 1, 10)]);
        assert!(
            Index::decode(&buf, 1, end, end + 1).is_err(),
            "gap before index"
        );
        assert!(Index::decode(&buf, 1, end, end - 1).is_err(), "runs past");
        let (buf, end) = built(&[(b"b", 1, 10), (b"a", 1, 10)]);
        assert!(Index::decode(&buf, 1, end, end).is_err(), "out of order");
        let (mut buf, end) = built(&[(b"a", 1, 10)]);
        for len in 0..buf.len() {
            assert!(Index::decode(&buf[..len], 1, end, end).is_err());
        }
        buf.push(0);
        assert!(Index::decode(&buf, 1, end, end).is_err(), "trailing byte");
    }
}
