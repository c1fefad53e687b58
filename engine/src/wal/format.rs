//! The WAL's bytes: segment headers, frames and batches (docs/FORMAT.md, "Write-ahead log").
//!
//! A segment file is a 40-byte header followed by batches. A batch is a BATCH frame followed by
//! its DATA frames (and any skippable frames). Every frame is
//! `length u32 | type u8 | seq u64 | checksum u64 | payload`, little-endian, where the checksum
//! is xxh3-64, seeded with the segment's salt, over the first 13 bytes and the payload. All-zero
//! bytes where a frame should start mean "end of log" (preallocated or padding space).
//!
//! The salt is drawn at random for each segment (a reused file gets a new one), so frames left
//! in a reused file by its older segment, and bytes a client stored that happen to look like
//! frames, fail the checksum of the segment now in the file. Salt 0 is the unseeded xxh3 of
//! segments of versions 1 and 2, which had reserved bytes in the salt's place.

use xxhash_rust::xxh3::Xxh3;

use crate::key::SeqNo;

/// First 8 bytes of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"HLOGWAL\x1a";
/// Format version this build writes and the newest it reads. 3: frame checksums are seeded
/// with the header's salt. 2: the segment may be a reused file, so bytes of older segments may
/// follow the log's end (checksums unseeded). 1: neither. Versions 1 and 2 read as salt 0 (the
/// unseeded checksum) by the same rules. An older reader would compute every salted checksum
/// wrong and take the log for a torn tail at its first frame, hence each bump.
pub const SEGMENT_FORMAT_VERSION: u32 = 3;
/// The first version whose header holds a salt.
pub const SALTED_SINCE_VERSION: u32 = 3;
/// Bytes of the segment header.
pub const SEGMENT_HEADER_LEN: usize = 40;
/// Bytes of a frame header (length, type, seq, checksum).
pub const FRAME_HEADER_LEN: usize = 21;
/// Bytes of a BATCH frame's payload.
pub const BATCH_PAYLOAD_LEN: usize = 24;
/// Bytes of a whole BATCH frame.
pub const BATCH_FRAME_LEN: usize = FRAME_HEADER_LEN + BATCH_PAYLOAD_LEN;

/// Frame types. 0 is never written (a zero header is end of log).
pub const FRAME_BATCH: u8 = 1;
pub const FRAME_DATA: u8 = 2;
/// Types from here up are skippable: readers that do not know them verify their checksum and
/// skip them. Unknown types below are must-understand: a reader refuses the log.
pub const FRAME_SKIPPABLE_MIN: u8 = 128;

/// A segment's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The number in the file name.
    pub id: u64,
    /// Sequence number of the segment's first record (the last record before it plus one).
    pub base_seq: SeqNo,
    /// Seed of every frame checksum in the segment (random; 0 in version 1 and 2 segments).
    pub salt: u32,
}

/// Why a segment header does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderProblem {
    /// Fewer than [`SEGMENT_HEADER_LEN`] bytes.
    Short,
    /// The magic is all zeros (space allocated but never written).
    Zero,
    /// The magic is something else: not a WAL segment.
    NotAWal,
    /// A newer format version.
    Newer(u32),
    /// Magic and version fine, checksum wrong.
    BadChecksum,
}

pub fn encode_segment_header(h: &SegmentHeader) -> [u8; SEGMENT_HEADER_LEN] {
    let mut b = [0u8; SEGMENT_HEADER_LEN];
    b[0..8].copy_from_slice(&SEGMENT_MAGIC);
    b[8..12].copy_from_slice(&SEGMENT_FORMAT_VERSION.to_le_bytes());
    b[12..16].copy_from_slice(&h.salt.to_le_bytes());
    b[16..24].copy_from_slice(&h.id.to_le_bytes());
    b[24..32].copy_from_slice(&h.base_seq.to_le_bytes());
    let sum = xxhash_rust::xxh3::xxh3_64(&b[0..32]);
    b[32..40].copy_from_slice(&sum.to_le_bytes());
    b
}

pub fn decode_segment_header(b: &[u8]) -> Result<SegmentHeader, HeaderProblem> {
    if b.len() >= 8 && b[0..8] != SEGMENT_MAGIC {
        return Err(if b[0..8].iter().all(|x| *x == 0) {
            HeaderProblem::Zero
        } else {
            HeaderProblem::NotAWal
        });
    }
    if b.len() < SEGMENT_HEADER_LEN {
        return Err(HeaderProblem::Short);
    }
    let version = u32_at(b, 8);
    if version > SEGMENT_FORMAT_VERSION {
        return Err(HeaderProblem::Newer(version));
    }
    if u64_at(b, 32) != xxhash_rust::xxh3::xxh3_64(&b[0..32]) || version == 0 {
        return Err(HeaderProblem::BadChecksum);
    }
    Ok(SegmentHeader {
        id: u64_at(b, 16),
        base_seq: u64_at(b, 24),
        // Bytes 12..16 were reserved before the salt: versions before it are unsalted.
        salt: if version >= SALTED_SINCE_VERSION {
            u32_at(b, 12)
        } else {
            0
        },
    })
}

/// What a BATCH frame says about the batch it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchInfo {
    /// DATA frames in the batch.
    pub records: u32,
    /// Bytes of the whole batch, this frame included.
    pub batch_len: u64,
    /// Offset in the segment up to which the file was known durable when the batch was
    /// written: damage below it, followed by this batch, is corruption, not a torn write.
    pub synced_through: u64,
}

/// The frame checksum of one segment: xxh3-64 seeded with the segment's salt. Holds the
/// seeded hasher (its secret is derived from the seed once, not per frame).
pub struct FrameSum {
    salt: u32,
    h: Box<Xxh3>,
}

impl FrameSum {
    pub fn new(salt: u32) -> Self {
        FrameSum {
            salt,
            h: Box::new(Xxh3::with_seed(u64::from(salt))),
        }
    }

    /// The salt this checksum is seeded with.
    pub fn salt(&self) -> u32 {
        self.salt
    }

    fn sum(&mut self, head: &[u8], payload: &[u8]) -> u64 {
        self.h.reset();
        self.h.update(head);
        self.h.update(payload);
        self.h.digest()
    }
}

impl std::fmt::Debug for FrameSum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameSum")
            .field("salt", &self.salt)
            .finish()
    }
}

/// Appends one frame to `out`.
pub fn encode_frame(out: &mut Vec<u8>, sum: &mut FrameSum, kind: u8, seq: SeqNo, payload: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.push(kind);
    out.extend_from_slice(&seq.to_le_bytes());
    let sum = sum.sum(&out[start..start + 13], payload);
    out.extend_from_slice(&sum.to_le_bytes());
    out.extend_from_slice(payload);
}

/// Appends a BATCH frame.
pub fn encode_batch_frame(
    out: &mut Vec<u8>,
    sum: &mut FrameSum,
    first_seq: SeqNo,
    info: &BatchInfo,
) {
    let mut p = [0u8; BATCH_PAYLOAD_LEN];
    p[0..4].copy_from_slice(&info.records.to_le_bytes());
    // 4..8 reserved (zero)
    p[8..16].copy_from_slice(&info.batch_len.to_le_bytes());
    p[16..24].copy_from_slice(&info.synced_through.to_le_bytes());
    encode_frame(out, sum, FRAME_BATCH, first_seq, &p);
}

/// Bytes a DATA frame with a `payload_len`-byte payload takes.
pub fn data_frame_len(payload_len: usize) -> usize {
    FRAME_HEADER_LEN + payload_len
}

/// One decoded frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub kind: u8,
    pub seq: SeqNo,
    /// Byte range of the payload in the buffer.
    pub payload_start: usize,
    pub payload_end: usize,
}

/// What is at an offset where a frame should start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameAt {
    Frame(Frame),
    /// All-zero frame header (or all-zero bytes up to the end of the buffer): end of log.
    Zero,
    /// Truncated or checksum-failing bytes.
    Invalid,
}

/// Decodes the frame at `at`, refusing payloads longer than `max_payload`.
pub fn frame_at(buf: &[u8], at: usize, max_payload: usize, sum: &mut FrameSum) -> FrameAt {
    let rest = buf.get(at..).unwrap_or(&[]);
    if rest.len() < FRAME_HEADER_LEN {
        return if rest.iter().all(|b| *b == 0) {
            FrameAt::Zero
        } else {
            FrameAt::Invalid
        };
    }
    if rest[..FRAME_HEADER_LEN].iter().all(|b| *b == 0) {
        return FrameAt::Zero;
    }
    let len = u32_at(rest, 0) as usize;
    if len > max_payload || rest.len() - FRAME_HEADER_LEN < len {
        return FrameAt::Invalid;
    }
    let payload = &rest[FRAME_HEADER_LEN..FRAME_HEADER_LEN + len];
    if sum.sum(&rest[..13], payload) != u64_at(rest, 13) {
        return FrameAt::Invalid;
    }
    FrameAt::Frame(Frame {
        kind: rest[4],
        seq: u64_at(rest, 5),
        payload_start: at + FRAME_HEADER_LEN,
        payload_end: at + FRAME_HEADER_LEN + len,
    })
}

/// Decodes a BATCH frame's payload.
pub fn batch_info(payload: &[u8]) -> Option<BatchInfo> {
    if payload.len() != BATCH_PAYLOAD_LEN {
        return None;
    }
    Some(BatchInfo {
        records: u32_at(payload, 0),
        batch_len: u64_at(payload, 8),
        synced_through: u64_at(payload, 16),
    })
}

/// Whether a checksummed BATCH frame starts at `at` (used to look for valid data after
/// damage); returns what it says.
pub fn batch_frame_at(buf: &[u8], at: usize, sum: &mut FrameSum) -> Option<(SeqNo, BatchInfo)> {
    let head = buf.get(at..at + FRAME_HEADER_LEN)?;
    if head[4] != FRAME_BATCH || u32_at(head, 0) as usize != BATCH_PAYLOAD_LEN {
        return None;
    }
    match frame_at(buf, at, BATCH_PAYLOAD_LEN, sum) {
        FrameAt::Frame(f) => batch_info(&buf[f.payload_start..f.payload_end]).map(|i| (f.seq, i)),
        _ => None,
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_header_round_trips_and_rejects_damage() {
        let h = SegmentHeader {
            id: 7,
            base_seq: 1234,
            salt: 0xDEAD_BEEF,
        };
        let b = encode_segment_header(&h);
        assert_eq!(decode_segment_header(&b), Ok(h));
        assert_eq!(decode_segment_header(&b[..20]), Err(HeaderProblem::Short));
        assert_eq!(decode_segment_header(&[0u8; 40]), Err(HeaderProblem::Zero));
        assert_eq!(
            decode_segment_header(b"SQLite format 3\0xxxxxxxxxxxxxxxxxxxxxxxxx"),
            Err(HeaderProblem::NotAWal)
        );
        let mut bad = b;
        bad[20] ^= 1;
        assert_eq!(decode_segment_header(&bad), Err(HeaderProblem::BadChecksum));
        let next = SEGMENT_FORMAT_VERSION + 1;
        let mut newer = b;
        newer[8..12].copy_from_slice(&next.to_le_bytes());
        assert_eq!(
            decode_segment_header(&newer),
            Err(HeaderProblem::Newer(next))
        );
        // Versions 1 and 2 (before checksums were salted) still read, as salt 0, whatever
        // their reserved bytes hold.
        for v in [1u32, 2] {
            let mut old = b;
            old[8..12].copy_from_slice(&v.to_le_bytes());
            let sum = xxhash_rust::xxh3::xxh3_64(&old[0..32]);
            old[32..40].copy_from_slice(&sum.to_le_bytes());
            assert_eq!(
                decode_segment_header(&old),
                Ok(SegmentHeader { salt: 0, ..h }),
                "v{v}"
            );
        }
    }

    #[test]
    fn salt_zero_is_the_unseeded_checksum_of_version_1_and_other_salts_differ() {
        let payload = b"the same frame under two salts";
        let mut plain = Vec::new();
        encode_frame(&mut plain, &mut FrameSum::new(0), FRAME_DATA, 5, payload);
        // Version 1's definition: unseeded xxh3-64 over the first 13 bytes and the payload.
        let mut v1 = plain[..13].to_vec();
        v1.extend_from_slice(payload);
        assert_eq!(u64_at(&plain, 13), xxhash_rust::xxh3::xxh3_64(&v1));
        let mut salted = Vec::new();
        encode_frame(&mut salted, &mut FrameSum::new(77), FRAME_DATA, 5, payload);
        assert_ne!(plain, salted);
        // A frame reads only under its own salt, whatever the payload's size.
        for len in [0usize, 1, 16, 17, 128, 129, 240, 241, 1024, 5000] {
            let p = vec![0x5Au8; len];
            let mut f = Vec::new();
            encode_frame(&mut f, &mut FrameSum::new(77), FRAME_DATA, 5, &p);
            assert!(matches!(
                frame_at(&f, 0, 1 << 20, &mut FrameSum::new(77)),
                FrameAt::Frame(_)
            ));
            assert_eq!(
                frame_at(&f, 0, 1 << 20, &mut FrameSum::new(78)),
                FrameAt::Invalid,
                "{len}"
            );
            assert_eq!(
                frame_at(&f, 0, 1 << 20, &mut FrameSum::new(0)),
                FrameAt::Invalid,
                "{len}"
            );
        }
    }

    #[test]
    fn frames_round_trip_and_any_flipped_bit_is_caught() {
        let mut buf = Vec::new();
        let sum = &mut FrameSum::new(3);
        encode_frame(&mut buf, sum, FRAME_DATA, 42, b"payload bytes");
        let FrameAt::Frame(f) = frame_at(&buf, 0, 1 << 20, sum) else {
            panic!("frame expected")
        };
        assert_eq!(
            (f.kind, f.seq, &buf[f.payload_start..f.payload_end]),
            (FRAME_DATA, 42, &b"payload bytes"[..])
        );
        for i in 0..buf.len() {
            for bit in 0..8 {
                let mut b = buf.clone();
                b[i] ^= 1 << bit;
                assert!(
                    matches!(
                        frame_at(&b, 0, 1 << 20, sum),
                        FrameAt::Invalid | FrameAt::Zero
                    ),
                    "byte {i} bit {bit}"
                );
            }
        }
        assert_eq!(
            frame_at(&buf[..buf.len() - 1], 0, 1 << 20, sum),
            FrameAt::Invalid
        );
        assert_eq!(frame_at(&[0u8; 30], 0, 1 << 20, sum), FrameAt::Zero);
        assert_eq!(
            frame_at(&buf, 0, 4, sum),
            FrameAt::Invalid,
            "over-long payload accepted"
        );
    }

    #[test]
    fn batch_frames_are_found_by_offset() {
        let mut buf = vec![0xAAu8; 3];
        let info = BatchInfo {
            records: 2,
            batch_len: 100,
            synced_through: 40,
        };
        let sum = &mut FrameSum::new(11);
        encode_batch_frame(&mut buf, sum, 9, &info);
        assert_eq!(buf.len(), 3 + BATCH_FRAME_LEN);
        assert_eq!(batch_frame_at(&buf, 3, sum), Some((9, info)));
        assert_eq!(batch_frame_at(&buf, 2, sum), None);
        assert_eq!(batch_frame_at(&buf, 4, sum), None);
        assert_eq!(batch_frame_at(&buf, 3, &mut FrameSum::new(12)), None);
    }
}
