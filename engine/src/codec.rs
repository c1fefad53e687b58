//! Little helpers for fixed-width little-endian encoding with bounds-checked decoding. Every
//! decoder in the engine reads through [`Reader`], so truncated or garbage input becomes a
//! `Corruption` error, never a panic.

use crate::error::{Result, StorageError};

pub fn put_u8(out: &mut Vec<u8>, v: u8) {
    out.push(v);
}
pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}
/// A length-prefixed (u32) byte string.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, b.len() as u32);
    out.extend_from_slice(b);
}

/// A cursor over bytes being decoded; `what` names the structure in error messages.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, pos: 0, what }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn err(&self, msg: &str) -> StorageError {
        StorageError::Corruption(format!("{}: {} at offset {}", self.what, msg, self.pos))
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(self.err("truncated"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    /// A count of items that each take at least `min_item_bytes`: refuses counts the remaining
    /// input cannot hold, so garbage cannot make the decoder allocate gigabytes.
    pub fn count(&mut self, min_item_bytes: usize) -> Result<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_item_bytes.max(1)) > self.remaining() {
            return Err(self.err("count larger than the remaining input"));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_input_is_corruption_not_panic() {
        let mut out = Vec::new();
        put_u64(&mut out, 7);
        put_bytes(&mut out, b"hello");
        let mut r = Reader::new(&out, "test");
        assert_eq!(r.u64().expect("u64"), 7);
        assert_eq!(r.bytes().expect("bytes"), b"hello");
        assert!(r.is_empty());
        let mut short = Reader::new(&out[..10], "test");
        assert_eq!(short.u64().expect("u64"), 7);
        assert!(matches!(short.bytes(), Err(StorageError::Corruption(_))));
        let mut huge = Reader::new(&[0xff, 0xff, 0xff, 0xff], "test");
        assert!(huge.count(1).is_err());
    }
}
