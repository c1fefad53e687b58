//! Reading a segment back: which records it holds, where valid data ends, and whether what
//! follows is a torn tail (cut it) or corruption (refuse).
//!
//! The rule: damage in a sealed (non-last) segment is corruption. In the last segment, damage
//! at offset X is a torn write when no valid BATCH frame after X claims the file was durable
//! beyond X (`synced_through > X`); then the log ends at the start of the damaged batch and
//! everything from there is cut. Otherwise the damaged bytes had been made durable before a
//! later batch was written, so they rotted: corruption.
//!
//! A segment may be a reused file (format version 2 and later), so the bytes after the log's end of the
//! last segment can be frames of older segments, intact or cut anywhere. They were checksummed
//! with the older segment's salt, so under this segment's salt they are damage by the rule
//! above, as are bytes a client stored that look like frames (they cannot carry a checksum for
//! a salt drawn after they were written). Should two salts ever be equal, the older frames are
//! still told apart: their sequence numbers are below the segment's base seq, which no frame
//! of the segment itself has, so they are damage too and never count as later batches.

use crate::error::{Result, StorageError};
use crate::key::SeqNo;
use crate::limits::WAL_RECORD_SIZE_MAX_BYTES;
use crate::wal::format::{
    batch_frame_at, batch_info, frame_at, FrameAt, FrameSum, SegmentHeader, BATCH_FRAME_LEN,
    FRAME_BATCH, FRAME_DATA, FRAME_SKIPPABLE_MIN, SEGMENT_HEADER_LEN,
};

/// What a segment holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentScan {
    /// `(seq, payload start, payload end)` of every DATA record, in log order.
    pub records: Vec<(SeqNo, usize, usize)>,
    /// Offset just past the last complete batch.
    pub valid_end: usize,
    /// Whether bytes after `valid_end` are damage to cut off (false: only zeros or nothing).
    pub torn: bool,
    /// Sequence number the next record gets.
    pub next_seq: SeqNo,
}

/// Scans a whole segment (`buf` = the file's bytes, `header` decoded from its start).
pub fn scan_segment(
    buf: &[u8],
    name: &str,
    header: &SegmentHeader,
    is_last: bool,
) -> Result<SegmentScan> {
    let base_seq = header.base_seq;
    let sum = &mut FrameSum::new(header.salt);
    let seg = Seg {
        buf,
        name,
        is_last,
        base_seq,
    };
    let mut pos = SEGMENT_HEADER_LEN;
    let mut next = base_seq;
    let mut records = Vec::new();
    let corrupt = |at: usize, what: &str| {
        StorageError::Corruption(format!("WAL segment {name} at offset {at}: {what}"))
    };
    loop {
        if pos >= buf.len() {
            return Ok(SegmentScan {
                records,
                valid_end: pos.min(buf.len()),
                torn: false,
                next_seq: next,
            });
        }
        let frame = match frame_at(buf, pos, WAL_RECORD_SIZE_MAX_BYTES, sum) {
            FrameAt::Zero if buf[pos..].iter().all(|b| *b == 0) => {
                return Ok(SegmentScan {
                    records,
                    valid_end: pos,
                    torn: false,
                    next_seq: next,
                });
            }
            FrameAt::Zero | FrameAt::Invalid => {
                return damaged(&seg, sum, pos, pos, records, next);
            }
            FrameAt::Frame(f) => f,
        };
        if is_last && older(frame.kind, frame.seq, base_seq) {
            return damaged(&seg, sum, pos, pos, records, next);
        }
        match frame.kind {
            FRAME_BATCH => {}
            FRAME_DATA => return Err(corrupt(pos, "DATA frame outside a batch")),
            k if k >= FRAME_SKIPPABLE_MIN => {
                pos = frame.payload_end;
                continue;
            }
            k => return Err(unknown_type(name, pos, k)),
        }
        let info = batch_info(&buf[frame.payload_start..frame.payload_end])
            .ok_or_else(|| corrupt(pos, "malformed BATCH frame"))?;
        if frame.seq != next {
            return Err(corrupt(
                pos,
                &format!("batch starts at seq {}, expected {next}", frame.seq),
            ));
        }
        if info.batch_len < BATCH_FRAME_LEN as u64 {
            return Err(corrupt(
                pos,
                &format!("batch length {} is too small", info.batch_len),
            ));
        }
        let end = match usize::try_from(info.batch_len)
            .ok()
            .and_then(|l| pos.checked_add(l))
        {
            Some(end) if end <= buf.len() => end,
            // The batch runs past the end of the file: it was being written.
            _ => return damaged(&seg, sum, buf.len(), pos, records, next),
        };
        let batch = &buf[..end];
        let mut q = frame.payload_end;
        let mut got: Vec<(SeqNo, usize, usize)> = Vec::with_capacity(info.records as usize);
        while q < end {
            let f = match frame_at(batch, q, WAL_RECORD_SIZE_MAX_BYTES, sum) {
                FrameAt::Frame(f) if !(is_last && older(f.kind, f.seq, base_seq)) => f,
                _ => return damaged(&seg, sum, q, pos, records, next),
            };
            match f.kind {
                FRAME_DATA => {
                    let want = next + got.len() as u64;
                    if f.seq != want {
                        return Err(corrupt(
                            q,
                            &format!("record has seq {}, expected {want}", f.seq),
                        ));
                    }
                    got.push((f.seq, f.payload_start, f.payload_end));
                }
                k if k >= FRAME_SKIPPABLE_MIN => {}
                FRAME_BATCH => return Err(corrupt(q, "BATCH frame inside a batch")),
                k => return Err(unknown_type(name, q, k)),
            }
            q = f.payload_end;
        }
        if got.len() as u64 != u64::from(info.records) {
            return Err(corrupt(
                pos,
                &format!("batch says {} records, holds {}", info.records, got.len()),
            ));
        }
        next += got.len() as u64;
        records.extend(got);
        pos = end;
    }
}

fn unknown_type(name: &str, at: usize, kind: u8) -> StorageError {
    StorageError::UnsupportedVersion {
        what: format!("WAL segment {name}: frame type {kind} at offset {at}"),
        found: u32::from(kind),
        supported: u32::from(FRAME_DATA),
    }
}

/// A checksummed BATCH or DATA frame numbered below the segment's base seq: it belongs to an
/// older segment whose file was reused.
fn older(kind: u8, seq: SeqNo, base_seq: SeqNo) -> bool {
    (kind == FRAME_BATCH || kind == FRAME_DATA) && seq < base_seq
}

/// The segment being scanned.
struct Seg<'a> {
    buf: &'a [u8],
    name: &'a str,
    is_last: bool,
    base_seq: SeqNo,
}

/// Damage at `at` in the batch starting at `cut`: a torn tail or corruption (module docs).
fn damaged(
    seg: &Seg<'_>,
    sum: &mut FrameSum,
    at: usize,
    cut: usize,
    records: Vec<(SeqNo, usize, usize)>,
    next: SeqNo,
) -> Result<SegmentScan> {
    let &Seg {
        buf,
        name,
        is_last,
        base_seq,
    } = seg;
    if !is_last {
        return Err(StorageError::Corruption(format!(
            "WAL segment {name}: damaged record at offset {at} in a sealed segment"
        )));
    }
    for y in at.saturating_add(1)..buf.len() {
        // Only a frame that could be a later batch of this log proves anything: numbered at
        // or after the damaged batch (so at or above the base seq: older frames of a reused
        // file never count), and claiming no more durability than the offset it was written
        // at (a real batch at y was written when at most y bytes were durable).
        if let Some((seq, info)) = batch_frame_at(buf, y, sum) {
            if seq >= next.max(base_seq)
                && info.synced_through <= y as u64
                && info.synced_through > at as u64
            {
                return Err(StorageError::Corruption(format!(
                    "WAL segment {name}: damaged record at offset {at} is followed by a valid batch \
                     (seq {seq}) at offset {y} written after offset {} was durable",
                    info.synced_through
                )));
            }
        }
    }
    Ok(SegmentScan {
        records,
        valid_end: cut,
        torn: true,
        next_seq: next,
    })
}
