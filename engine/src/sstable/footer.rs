//! The fixed 64-byte footer at the end of every table.
//!
//! | bytes | field |
//! |---|---|
//! | 0..12 | index block handle: offset u64 LE ‖ payload length u32 LE |
//! | 12..24 | bloom block handle |
//! | 24..36 | properties block handle |
//! | 36..40 | format version u32 LE |
//! | 40..48 | reserved, zero |
//! | 48..56 | magic `HLSSTBL\0` |
//! | 56..64 | xxh3-64 of bytes 0..56, u64 LE |
//!
//! Magic, version and checksum keep these positions in every format version, so any build can
//! tell "not an SSTable" from "damaged" from "newer than I understand".

use super::{corruption, BlockHandle, FOOTER_BYTES, SST_FORMAT_VERSION, SST_MAGIC};
use crate::error::{Result, StorageError};

const VERSION_AT: usize = 36;
const RESERVED_AT: usize = 40;
const MAGIC_AT: usize = 48;
const CHECKSUM_AT: usize = 56;

/// The decoded footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Footer {
    pub index: BlockHandle,
    pub bloom: BlockHandle,
    pub props: BlockHandle,
    pub version: u32,
}

impl Footer {
    pub(crate) fn encode(&self) -> [u8; FOOTER_BYTES] {
        let mut f = [0u8; FOOTER_BYTES];
        for (i, h) in [self.index, self.bloom, self.props].iter().enumerate() {
            f[i * 12..i * 12 + 8].copy_from_slice(&h.offset.to_le_bytes());
            f[i * 12 + 8..i * 12 + 12].copy_from_slice(&h.len.to_le_bytes());
        }
        f[VERSION_AT..RESERVED_AT].copy_from_slice(&self.version.to_le_bytes());
        f[MAGIC_AT..CHECKSUM_AT].copy_from_slice(SST_MAGIC);
        let ck = xxhash_rust::xxh3::xxh3_64(&f[..CHECKSUM_AT]);
        f[CHECKSUM_AT..].copy_from_slice(&ck.to_le_bytes());
        f
    }

    /// Decodes and verifies the footer found at file offset `at`: magic first (a foreign file),
    /// then the checksum (damage), then the version (a newer build's file).
    pub(crate) fn decode(f: &[u8; FOOTER_BYTES], table: u64, at: u64) -> Result<Footer> {
        if &f[MAGIC_AT..CHECKSUM_AT] != SST_MAGIC {
            return Err(corruption(
                table,
                "bad footer magic (not an SSTable)",
                at + MAGIC_AT as u64,
            ));
        }
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&f[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let u32_at = |i: usize| u32::from_le_bytes([f[i], f[i + 1], f[i + 2], f[i + 3]]);
        if xxhash_rust::xxh3::xxh3_64(&f[..CHECKSUM_AT]) != u64_at(CHECKSUM_AT) {
            return Err(corruption(table, "footer checksum mismatch", at));
        }
        let version = u32_at(VERSION_AT);
        if version > SST_FORMAT_VERSION {
            return Err(StorageError::UnsupportedVersion {
                what: format!("sstable {table}"),
                found: version,
                supported: SST_FORMAT_VERSION,
            });
        }
        if version == 0 {
            return Err(corruption(
                table,
                "footer format version 0",
                at + VERSION_AT as u64,
            ));
        }
        if f[RESERVED_AT..MAGIC_AT].iter().any(|&b| b != 0) {
            return Err(corruption(
                table,
                "footer reserved bytes are not zero",
                at + RESERVED_AT as u64,
            ));
        }
        let handle = |i: usize| BlockHandle {
            offset: u64_at(i * 12),
            len: u32_at(i * 12 + 8),
        };
        Ok(Footer {
            index: handle(0),
            bloom: handle(1),
            props: handle(2),
            version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Footer {
        Footer {
            index: BlockHandle {
                offset: 100,
                len: 20,
            },
            bloom: BlockHandle {
                offset: 129,
                len: 30,
            },
            props: BlockHandle {
                offset: 168,
                len: 40,
            },
            version: SST_FORMAT_VERSION,
        }
    }

    #[test]
    fn footer_round_trips() {
        let f = sample();
        assert_eq!(Footer::decode(&f.encode(), 1, 0).expect("decode"), f);
    }

    #[test]
    fn every_footer_byte_flip_is_refused() {
        let good = sample().encode();
        for at in 0..FOOTER_BYTES {
            let mut bad = good;
            bad[at] ^= 0x10;
            assert!(Footer::decode(&bad, 1, 0).is_err(), "flip at {at}");
        }
    }

    #[test]
    fn newer_version_is_unsupported_not_corrupt() {
        let f = Footer {
            version: SST_FORMAT_VERSION + 1,
            ..sample()
        };
        assert!(matches!(
            Footer::decode(&f.encode(), 9, 0),
            Err(StorageError::UnsupportedVersion { found, .. }) if found == SST_FORMAT_VERSION + 1
        ));
    }
}
