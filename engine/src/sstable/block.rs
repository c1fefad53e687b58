//! Data blocks: prefix-compressed entries with restart points.
//!
//! Entry: `shared: u16 LE` (bytes shared with the previous key; 0 at a restart point) ‖
//! `unshared: u16 LE` ‖ `value_len: u32 LE` ‖ `seq: u64 LE` ‖ `kind: u8` ‖ unshared key bytes ‖
//! value. After the entries: the restart offsets (u32 LE each) and their count (u32 LE).
//! A block on disk is followed by its trailer (see [`super::format`]).

use std::cmp::Ordering;

use crate::error::{Result, StorageError};
use crate::key::{entry_cmp, Entry, SeqNo, ValueKind};

const ENTRY_HEADER_BYTES: usize = 2 + 2 + 4 + 8 + 1;

/// Builds one block.
#[derive(Debug)]
pub struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    restart_interval: usize,
    since_restart: usize,
    last_key: Vec<u8>,
    entries: usize,
}

impl BlockBuilder {
    pub fn new(restart_interval: usize) -> Self {
        BlockBuilder {
            buf: Vec::with_capacity(8192),
            restarts: Vec::new(),
            restart_interval: restart_interval.max(1),
            since_restart: 0,
            last_key: Vec::new(),
            entries: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Bytes the block will take, before its trailer.
    pub fn size_estimate(&self) -> usize {
        self.buf.len() + 4 * (self.restarts.len() + 1)
    }

    /// Appends an entry; the caller guarantees entry order and key length ≤ u16::MAX.
    pub fn add(&mut self, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        let shared = if self.since_restart == 0 {
            self.restarts.push(self.buf.len() as u32);
            0
        } else {
            key.iter()
                .zip(self.last_key.iter())
                .take_while(|(a, b)| a == b)
                .count()
                .min(u16::MAX as usize)
        };
        let unshared = key.len() - shared;
        self.buf.extend_from_slice(&(shared as u16).to_le_bytes());
        self.buf.extend_from_slice(&(unshared as u16).to_le_bytes());
        self.buf
            .extend_from_slice(&(value.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(&seq.to_le_bytes());
        self.buf.push(kind as u8);
        self.buf.extend_from_slice(&key[shared..]);
        self.buf.extend_from_slice(value);
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.since_restart = (self.since_restart + 1) % self.restart_interval;
        self.entries += 1;
    }

    /// The finished block payload; the builder is reset.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        for r in &self.restarts {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out.extend_from_slice(&(self.restarts.len() as u32).to_le_bytes());
        self.restarts.clear();
        self.since_restart = 0;
        self.last_key.clear();
        self.entries = 0;
        self.buf = Vec::with_capacity(out.capacity());
        out
    }
}

/// A decoded block: every entry's full key, its version, and where its value lies in `raw`.
#[derive(Debug)]
pub struct Block {
    raw: Vec<u8>,
    keys: Vec<u8>,
    entries: Vec<DecodedEntry>,
}

#[derive(Debug, Clone, Copy)]
struct DecodedEntry {
    key_start: u32,
    key_len: u32,
    seq: SeqNo,
    kind: ValueKind,
    value_start: u32,
    value_len: u32,
}

fn corrupt(table: u64, offset: u64, what: &str) -> StorageError {
    StorageError::Corruption(format!(
        "sstable {table}: {what} in block at offset {offset}"
    ))
}

impl Block {
    /// Decodes a checksum-verified block payload. Every length is bounds-checked.
    pub fn decode(raw: Vec<u8>, table: u64, offset: u64) -> Result<Block> {
        let n = raw.len();
        if n < 4 {
            return Err(corrupt(table, offset, "block too short"));
        }
        let nrestarts =
            u32::from_le_bytes([raw[n - 4], raw[n - 3], raw[n - 2], raw[n - 1]]) as usize;
        let restarts_bytes = nrestarts
            .checked_mul(4)
            .ok_or_else(|| corrupt(table, offset, "restart count"))?;
        if restarts_bytes + 4 > n {
            return Err(corrupt(
                table,
                offset,
                "restart array larger than the block",
            ));
        }
        let data_end = n - 4 - restarts_bytes;
        let mut keys: Vec<u8> = Vec::with_capacity(data_end / 2);
        let mut entries = Vec::new();
        let mut pos = 0usize;
        let mut prev_start = 0usize;
        let mut prev_len = 0usize;
        while pos < data_end {
            if pos + ENTRY_HEADER_BYTES > data_end {
                return Err(corrupt(table, offset, "truncated entry header"));
            }
            let h = &raw[pos..pos + ENTRY_HEADER_BYTES];
            let shared = u16::from_le_bytes([h[0], h[1]]) as usize;
            let unshared = u16::from_le_bytes([h[2], h[3]]) as usize;
            let vlen = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
            let mut sb = [0u8; 8];
            sb.copy_from_slice(&h[8..16]);
            let seq = u64::from_le_bytes(sb);
            let kind = ValueKind::from_u8(h[16])
                .ok_or_else(|| corrupt(table, offset, "unknown value kind"))?;
            pos += ENTRY_HEADER_BYTES;
            if shared > prev_len {
                return Err(corrupt(
                    table,
                    offset,
                    "shared prefix longer than the previous key",
                ));
            }
            let end = pos.checked_add(unshared).and_then(|e| e.checked_add(vlen));
            let Some(end) = end.filter(|e| *e <= data_end) else {
                return Err(corrupt(table, offset, "entry runs past the block"));
            };
            let key_start = keys.len();
            keys.extend_from_within(prev_start..prev_start + shared);
            keys.extend_from_slice(&raw[pos..pos + unshared]);
            let key_len = shared + unshared;
            entries.push(DecodedEntry {
                key_start: key_start as u32,
                key_len: key_len as u32,
                seq,
                kind,
                value_start: (pos + unshared) as u32,
                value_len: vlen as u32,
            });
            prev_start = key_start;
            prev_len = key_len;
            pos = end;
        }
        let blk = Block { raw, keys, entries };
        for w in blk.entries.windows(2) {
            if blk.cmp_entries(&w[0], &w[1]) != Ordering::Less {
                return Err(corrupt(table, offset, "entries out of order"));
            }
        }
        Ok(blk)
    }

    fn key_of(&self, e: &DecodedEntry) -> &[u8] {
        &self.keys[e.key_start as usize..(e.key_start + e.key_len) as usize]
    }

    fn cmp_entries(&self, a: &DecodedEntry, b: &DecodedEntry) -> Ordering {
        entry_cmp(self.key_of(a), a.seq, self.key_of(b), b.seq)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn key(&self, i: usize) -> &[u8] {
        self.key_of(&self.entries[i])
    }

    pub fn seq(&self, i: usize) -> SeqNo {
        self.entries[i].seq
    }

    pub fn entry(&self, i: usize) -> Entry {
        let e = &self.entries[i];
        Entry {
            user_key: self.key_of(e).to_vec(),
            seq: e.seq,
            kind: e.kind,
            value: self.raw[e.value_start as usize..(e.value_start + e.value_len) as usize]
                .to_vec(),
        }
    }

    /// Index of the first entry ≥ (key, seq) in entry order (`len()` if none).
    pub fn seek(&self, key: &[u8], seq: SeqNo) -> usize {
        self.entries
            .partition_point(|e| entry_cmp(self.key_of(e), e.seq, key, seq) == Ordering::Less)
    }

    /// Memory the decoded block holds (for the cache budget).
    pub fn charge(&self) -> usize {
        self.raw.len()
            + self.keys.len()
            + self.entries.len() * std::mem::size_of::<DecodedEntry>()
            + 64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_with_prefix_compression() {
        let mut b = BlockBuilder::new(3);
        let keys: Vec<Vec<u8>> = (0..10)
            .map(|i| format!("user-key-{i:04}").into_bytes())
            .collect();
        for (i, k) in keys.iter().enumerate() {
            b.add(
                k,
                100 - i as u64,
                ValueKind::Put,
                format!("v{i}").as_bytes(),
            );
        }
        let raw = b.finish();
        let blk = Block::decode(raw, 1, 0).expect("decode");
        assert_eq!(blk.len(), 10);
        for (i, k) in keys.iter().enumerate() {
            let e = blk.entry(i);
            assert_eq!(&e.user_key, k);
            assert_eq!(e.value, format!("v{i}").into_bytes());
        }
        assert_eq!(blk.seek(b"user-key-0005", u64::MAX), 5);
        assert_eq!(blk.seek(b"zzz", 0), 10);
    }

    #[test]
    fn garbage_is_corruption_not_panic() {
        for len in 0..64usize {
            let raw: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let _ = Block::decode(raw, 1, 0);
        }
    }
}
