//! Items answered straight from their stored bytes, without decoding them into an [`Item`].
//!
//! A read that returns whole items (no projection, no filter) does not need the decoded item:
//! a [`StoredItem`] keeps the bytes the codec stored (see `codec.rs`) and serialises DynamoDB
//! JSON from them, making exactly the serializer calls `Item`'s `Serialize` makes for
//! `decode_item(bytes)`: attributes in stored order, numbers as their stored text, base64 for
//! binary. The bytes then give the same JSON only if they are exactly what `encode_item`
//! writes ("canonical"): attribute names in strictly increasing byte order (a `BTreeMap`'s
//! order, no duplicates), UTF-8 text, numbers in canonical text (`Number`'s `Display`),
//! booleans 0 or 1, nesting within the decoder's limit, no trailing bytes.
//! [`StoredItem::new`] checks all of that, and computes the item's size, without allocating.
//! Bytes that are not canonical (corrupt, or written by a future format) go back to the
//! caller, which decodes them with `decode_item` and so gets the same item, or the same
//! error, as before.

use std::cell::Cell;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::codec::{DEPTH_MAX, ITEM_FORMAT_VERSION};
use super::json::base64;
use super::value::Item;
use super::{decode_item, ModelError};
use crate::limits::NUMBER_DIGITS_MAX;

/// An item's stored bytes, checked canonical; serialises as `decode_item(bytes)` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredItem {
    bytes: Vec<u8>,
}

impl StoredItem {
    /// The item and its size (DynamoDB's rules, as `item_size`), if `bytes` are canonical;
    /// otherwise the bytes back, for `decode_item`.
    pub fn new(bytes: Vec<u8>) -> Result<(StoredItem, usize), Vec<u8>> {
        match canonical_size(&bytes) {
            Some(size) => Ok((StoredItem { bytes }, size)),
            None => Err(bytes),
        }
    }

    /// The decoded item (for the callers that need the tree).
    pub fn decode(&self) -> Result<Item, ModelError> {
        decode_item(&self.bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// `item_size(&decode_item(buf))` if `buf` is exactly `encode_item` of an item, else `None`.
pub fn canonical_size(buf: &[u8]) -> Option<usize> {
    let c = Cursor::new(buf);
    if c.u8()? != ITEM_FORMAT_VERSION {
        return None;
    }
    let size = map_size(&c, 0, false)?;
    c.is_empty().then_some(size)
}

/// A read position over the stored bytes. Every read is bounds-checked and gives `None` past
/// the end. The position is a `Cell` so that the nested `Serialize` values share it.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: Cell<usize>,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Cursor {
            buf,
            pos: Cell::new(0),
        }
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos.get())
    }

    fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn take(&self, n: usize) -> Option<&'a [u8]> {
        let start = self.pos.get();
        let end = start.checked_add(n)?;
        let s = self.buf.get(start..end)?;
        self.pos.set(end);
        Some(s)
    }

    fn u8(&self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u32(&self) -> Option<usize> {
        let b = self.take(4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    fn bytes(&self) -> Option<&'a [u8]> {
        let n = self.u32()?;
        self.take(n)
    }

    fn text(&self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }

    /// A count, refused as the decoder's `Reader::count` refuses it.
    fn count(&self, min_item_bytes: usize) -> Option<usize> {
        let n = self.u32()?;
        (n.saturating_mul(min_item_bytes) <= self.remaining()).then_some(n)
    }
}

/// The size of a map's attributes (`nested`: as an `M` value, with its overheads), checking
/// that names are strictly increasing.
fn map_size(c: &Cursor<'_>, depth: usize, nested: bool) -> Option<usize> {
    if depth > DEPTH_MAX {
        return None;
    }
    let n = c.count(5)?;
    let mut size = if nested { 3 } else { 0 };
    let mut prev: Option<&[u8]> = None;
    for _ in 0..n {
        let name = c.text()?.as_bytes();
        if prev.is_some_and(|p| p >= name) {
            return None;
        }
        prev = Some(name);
        size += name.len() + value_size(c, depth + 1)? + usize::from(nested);
    }
    Some(size)
}

fn value_size(c: &Cursor<'_>, depth: usize) -> Option<usize> {
    if depth > DEPTH_MAX {
        return None;
    }
    Some(match c.u8()? {
        1 => c.text()?.len(),
        2 => number_size(c.bytes()?)?,
        3 => c.bytes()?.len(),
        4 => match c.u8()? {
            0 | 1 => 1,
            _ => return None,
        },
        5 => 1,
        6 => map_size(c, depth, true)?,
        7 => {
            let n = c.count(1)?;
            let mut size = 3;
            for _ in 0..n {
                size += 1 + value_size(c, depth + 1)?;
            }
            size
        }
        8 => {
            let n = c.count(4)?;
            let mut size = 0;
            for _ in 0..n {
                size += c.text()?.len();
            }
            size
        }
        9 => {
            let n = c.count(4)?;
            let mut size = 0;
            for _ in 0..n {
                size += number_size(c.bytes()?)?;
            }
            size
        }
        10 => {
            let n = c.count(4)?;
            let mut size = 0;
            for _ in 0..n {
                size += c.bytes()?.len();
            }
            size
        }
        _ => return None,
    })
}

/// Largest exponent of a number's canonical text (its integer digits): `Number`'s limit.
const INT_DIGITS_MAX: usize = 126;
/// Most zeros after `0.` before the first significant digit: `Number`'s limit (1E-130).
const FRACTION_ZEROS_MAX: usize = 129;

/// A number's size (`Number::size_bytes`) if `text` is canonical: exactly what `Number`'s
/// `Display` writes for a number within DynamoDB's limits.
fn number_size(text: &[u8]) -> Option<usize> {
    if text == b"0" {
        return Some(1);
    }
    let neg = text.starts_with(b"-");
    // The size from the significant digits and the exponent (value 0.d… × 10^exp).
    let size = |digits: usize, exp: usize| {
        (1..=NUMBER_DIGITS_MAX)
            .contains(&digits)
            .then(|| super::number::number_size(neg, exp as i32, digits))
    };
    let body = text.strip_prefix(b"-").unwrap_or(text);
    let digits_only = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    match body.iter().position(|b| *b == b'.') {
        Some(dot) => {
            let (int, frac) = (&body[..dot], &body[dot + 1..]);
            if !digits_only(frac) || frac.last() == Some(&b'0') || !digits_only(int) {
                return None;
            }
            if int == b"0" {
                // 0.000ddd: the exponent is minus the zeros after the point.
                let zeros = frac.iter().take_while(|b| **b == b'0').count();
                if zeros > FRACTION_ZEROS_MAX {
                    return None;
                }
                let digits = frac.len() - zeros;
                (1..=NUMBER_DIGITS_MAX)
                    .contains(&digits)
                    .then(|| super::number::number_size(neg, -(zeros as i32), digits))
            } else if int[0] == b'0' || int.len() > INT_DIGITS_MAX {
                None
            } else {
                size(int.len() + frac.len(), int.len())
            }
        }
        None => {
            if !digits_only(body) || body[0] == b'0' || body.len() > INT_DIGITS_MAX {
                return None;
            }
            let trailing = body.iter().rev().take_while(|b| **b == b'0').count();
            size(body.len() - trailing, body.len())
        }
    }
}

fn corrupt<E: serde::ser::Error>() -> E {
    E::custom("stored item is corrupt")
}

impl Serialize for StoredItem {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = Cursor::new(&self.bytes);
        if c.u8() != Some(ITEM_FORMAT_VERSION) {
            return Err(corrupt());
        }
        let out = StoredMap(&c).serialize(s)?;
        // `new` checked the whole buffer; a mismatch here would be a bug, and is an error.
        if !c.is_empty() {
            return Err(corrupt());
        }
        Ok(out)
    }
}

/// A map at the cursor: as a `BTreeMap<String, AttributeValue>` serialises.
struct StoredMap<'c, 'a>(&'c Cursor<'a>);

impl Serialize for StoredMap<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let n = c.count(5).ok_or_else(corrupt)?;
        let mut m = s.serialize_map(Some(n))?;
        for _ in 0..n {
            let name = c.text().ok_or_else(corrupt)?;
            m.serialize_entry(name, &StoredValue(c))?;
        }
        m.end()
    }
}

/// A value at the cursor: as an `AttributeValue` serialises.
struct StoredValue<'c, 'a>(&'c Cursor<'a>);

/// A number's stored (canonical) text, checked again.
fn number_text<'a, E: serde::ser::Error>(c: &Cursor<'a>) -> Result<&'a str, E> {
    let b = c.bytes().ok_or_else(corrupt)?;
    number_size(b).ok_or_else(corrupt)?;
    std::str::from_utf8(b).map_err(|_| corrupt())
}

impl Serialize for StoredValue<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let mut m = s.serialize_map(Some(1))?;
        match c.u8().ok_or_else(corrupt)? {
            1 => m.serialize_entry("S", c.text().ok_or_else(corrupt)?)?,
            2 => m.serialize_entry("N", number_text::<S::Error>(c)?)?,
            3 => m.serialize_entry("B", &base64(c.bytes().ok_or_else(corrupt)?))?,
            4 => m.serialize_entry("BOOL", &(c.u8().ok_or_else(corrupt)? != 0))?,
            5 => m.serialize_entry("NULL", &true)?,
            6 => m.serialize_entry("M", &StoredMap(c))?,
            t @ 7..=10 => m.serialize_entry(
                match t {
                    7 => "L",
                    8 => "SS",
                    9 => "NS",
                    _ => "BS",
                },
                &StoredList(c, t),
            )?,
            _ => return Err(corrupt()),
        }
        m.end()
    }
}

/// A list or set at the cursor (value tag `7..=10`): as a `Vec` of its elements serialises.
struct StoredList<'c, 'a>(&'c Cursor<'a>, u8);

impl Serialize for StoredList<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (c, tag) = (self.0, self.1);
        let n = c.count(if tag == 7 { 1 } else { 4 }).ok_or_else(corrupt)?;
        let mut seq = s.serialize_seq(Some(n))?;
        for _ in 0..n {
            match tag {
                7 => seq.serialize_element(&StoredValue(c))?,
                8 => seq.serialize_element(c.text().ok_or_else(corrupt)?)?,
                9 => seq.serialize_element(number_text::<S::Error>(c)?)?,
                _ => seq.serialize_element(&base64(c.bytes().ok_or_else(corrupt)?))?,
            }
        }
        seq.end()
    }
}

/// Bytes serde_json writes escaped inside a string: `"`, `\` and the controls below 0x20.
const fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Whether any of the 8 bytes of `w` needs escaping. Exact when it says no; a yes may be a
/// false alarm in a byte above a real one (a borrow), which only costs a bytewise look.
fn word_needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    (below_space
        | zero_byte(w ^ (ONES * u64::from(b'"')))
        | zero_byte(w ^ (ONES * u64::from(b'\\'))))
        != 0
}

/// How many leading bytes of `s` need no escape: exact up to the last whole 16-byte block
/// (SSE2, in every x86-64), then whole 8-byte words; it may stop short of the true run,
/// never past it (the caller looks at the next byte itself).
fn clean_run(s: &[u8]) -> usize {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    // SAFETY: SSE2 is enabled for this build (part of the x86-64 baseline).
    let mut i = unsafe { clean_blocks(s) };
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    let mut i = 0;
    while let Some(w) = s.get(i..).and_then(|r| r.first_chunk::<8>()) {
        if word_needs_escape(u64::from_le_bytes(*w)) {
            break;
        }
        i += 8;
    }
    i
}

/// [`clean_run`] over whole 16-byte blocks: the offset of the first byte needing an escape
/// in them, or the end of the last whole block.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
fn clean_blocks(s: &[u8]) -> usize {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    let controls = _mm_set1_epi8(0x1f);
    let quote = _mm_set1_epi8(b'"' as i8);
    let backslash = _mm_set1_epi8(b'\\' as i8);
    let mut i = 0;
    while let Some(block) = s.get(i..i + 16) {
        // SAFETY: `block` is 16 bytes in bounds; an unaligned load needs no alignment.
        let v = unsafe { _mm_loadu_si128(block.as_ptr().cast()) };
        // Unsigned v ≤ 0x1f exactly where min(v, 0x1f) == v.
        let hits = _mm_or_si128(
            _mm_cmpeq_epi8(_mm_min_epu8(v, controls), v),
            _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
        );
        let mask = _mm_movemask_epi8(hits);
        if mask != 0 {
            return i + mask.trailing_zeros() as usize;
        }
        i += 16;
    }
    i
}

/// Appends `s` as a JSON string, escaped exactly as serde_json escapes it (`\"`, `\\`, `\b`,
/// `\t`, `\n`, `\f`, `\r`, other controls as `\u00xx` in lowercase hex; nothing else), whole
/// blocks at a time where none needs escaping ([`clean_run`]). `s` is UTF-8 (checked when it
/// was stored).
pub(crate) fn write_json_str(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut run = 0;
    let mut i = 0;
    while i < s.len() {
        i += clean_run(&s[i..]);
        let Some(&b) = s.get(i) else {
            break;
        };
        if !needs_escape(b) {
            i += 1;
            continue;
        }
        out.extend_from_slice(&s[run..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
        }
        i += 1;
        run = i;
    }
    out.extend_from_slice(&s[run..]);
    out.push(b'"');
}

impl StoredItem {
    /// Appends the item's DynamoDB JSON to `out`: exactly the bytes `serde_json::to_vec(self)`
    /// gives, written from the stored bytes with a faster string escape and without checking
    /// text as UTF-8 again ([`StoredItem::new`] did). On a failure (a bug: `new` checked the
    /// whole buffer) `out` holds a partial answer and the error is serde_json's
    /// "stored item is corrupt".
    pub fn write_json(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        let c = Cursor::new(&self.bytes);
        let ok = c.u8() == Some(ITEM_FORMAT_VERSION) && write_map(&c, out).is_some();
        if ok && c.is_empty() {
            Ok(())
        } else {
            Err(corrupt())
        }
    }
}

fn write_map(c: &Cursor<'_>, out: &mut Vec<u8>) -> Option<()> {
    let n = c.count(5)?;
    out.push(b'{');
    for i in 0..n {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(out, c.bytes()?);
        out.push(b':');
        write_value(c, out)?;
    }
    out.push(b'}');
    Some(())
}

/// A number's text, checked canonical as [`number_text`] checks it, quoted (digits, `-`
/// and `.` need no escape).
fn write_number(c: &Cursor<'_>, out: &mut Vec<u8>) -> Option<()> {
    let b = c.bytes()?;
    number_size(b)?;
    out.push(b'"');
    out.extend_from_slice(b);
    out.push(b'"');
    Some(())
}

fn write_base64(c: &Cursor<'_>, out: &mut Vec<u8>) -> Option<()> {
    use base64::Engine as _;
    let b = c.bytes()?;
    out.push(b'"');
    let at = out.len();
    out.resize(at + b.len().div_ceil(3) * 4, 0);
    let n = base64::engine::general_purpose::STANDARD
        .encode_slice(b, &mut out[at..])
        .ok()?;
    out.truncate(at + n);
    out.push(b'"');
    Some(())
}

fn write_value(c: &Cursor<'_>, out: &mut Vec<u8>) -> Option<()> {
    match c.u8()? {
        1 => {
            out.extend_from_slice(b"{\"S\":");
            write_json_str(out, c.bytes()?);
        }
        2 => {
            out.extend_from_slice(b"{\"N\":");
            write_number(c, out)?;
        }
        3 => {
            out.extend_from_slice(b"{\"B\":");
            write_base64(c, out)?;
        }
        4 => {
            let v = c.u8()? != 0;
            out.extend_from_slice(if v {
                b"{\"BOOL\":true"
            } else {
                b"{\"BOOL\":false"
            });
        }
        5 => out.extend_from_slice(b"{\"NULL\":true"),
        6 => {
            out.extend_from_slice(b"{\"M\":");
            write_map(c, out)?;
        }
        tag @ 7..=10 => {
            out.extend_from_slice(match tag {
                7 => b"{\"L\":[",
                8 => b"{\"SS\":[",
                9 => b"{\"NS\":[",
                _ => b"{\"BS\":[",
            });
            let n = c.count(if tag == 7 { 1 } else { 4 })?;
            for i in 0..n {
                if i > 0 {
                    out.push(b',');
                }
                match tag {
                    7 => write_value(c, out)?,
                    8 => write_json_str(out, c.bytes()?),
                    9 => write_number(c, out)?,
                    _ => write_base64(c, out)?,
                }
            }
            out.push(b']');
        }
        _ => return None,
    }
    out.push(b'}');
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::codec::tests::arb_value;
    use crate::model::{encode_item, item_size, AttributeValue, Number};
    use proptest::prelude::*;

    fn json_of_decoded(bytes: &[u8]) -> Vec<u8> {
        serde_json::to_vec(&decode_item(bytes).expect("decodes")).expect("serialise")
    }

    fn json_of_stored(bytes: Vec<u8>) -> Vec<u8> {
        let (s, _) = StoredItem::new(bytes).expect("canonical");
        serde_json::to_vec(&s).expect("serialise")
    }

    fn arb_item() -> impl Strategy<Value = Item> {
        prop::collection::btree_map(".{0,6}", arb_value(), 0..6)
    }

    #[test]
    fn numbers_canonical_text() {
        for (text, size) in [
            ("0", 1),
            ("1", 2),
            ("-1", 3),
            ("10", 2),
            ("1000", 2),
            ("12", 2),
            ("123", 3),
            ("1.5", 3),
            ("15", 2),
            ("-0.5", 3),
            ("0.000123", 3),
            ("0.15", 2),
            ("123.456", 5),
            ("3.14159", 5),
            ("100.5", 4),
            ("1010", 3),
        ] {
            assert_eq!(number_size(text.as_bytes()), Some(size), "{text}");
            let n = Number::parse(text).expect("number");
            assert_eq!((n.to_string().as_str(), n.size_bytes()), (text, size));
        }
        for text in [
            "", "-", "-0", "00", "01", "1.", ".5", "1.50", "0.0", "00.5", "1e3", "+1", "1.2.3",
            "- 1", "0.", "1_0", "١",
        ] {
            assert_eq!(number_size(text.as_bytes()), None, "{text}");
        }
        // DynamoDB's limits: 38 digits, 1E-130 ..= 9.99…E+125.
        let digits38 = "1".repeat(38);
        assert!(number_size(digits38.as_bytes()).is_some());
        assert_eq!(number_size("1".repeat(39).as_bytes()), None);
        let big = format!("1{}", "0".repeat(125));
        assert!(number_size(big.as_bytes()).is_some());
        assert_eq!(number_size(format!("{big}0").as_bytes()), None);
        let small = format!("0.{}1", "0".repeat(129));
        assert!(number_size(small.as_bytes()).is_some());
        assert_eq!(
            number_size(format!("0.0{}1", "0".repeat(129)).as_bytes()),
            None
        );
    }

    #[test]
    fn every_type_and_nesting() {
        let leaves = serde_json::json!({
            "s": {"S": "q\"b\\n\n\t\u{1}\u{7f} é 😀 </>"}, "empty": {"S": ""},
            "n": {"N": "1.50"}, "nz": {"N": "-0"}, "ne": {"N": "1E3"}, "nsmall": {"N": "0.000123"},
            "nbig": {"N": "-12345678901234567890123456789012345678"},
            "b0": {"B": ""}, "b1": {"B": "AA=="}, "b2": {"B": "AAE="}, "b3": {"B": "AAEC"},
            "t": {"BOOL": true}, "f": {"BOOL": false}, "z": {"NULL": true},
            "ss": {"SS": ["b", "a", "\"x\""]}, "ns": {"NS": ["10", "2.50", "-0.5"]},
            "bs": {"BS": ["AA==", "AAE=", "/+8="]}, "el": {"L": []}, "em": {"M": {}}
        });
        let mut item = crate::model::item_from_json(&leaves).expect("valid");
        let nested = AttributeValue::L(vec![
            AttributeValue::M(item.clone()),
            AttributeValue::L(item.values().cloned().collect()),
        ]);
        item.insert(
            "deep".into(),
            AttributeValue::M(Item::from([("x".into(), nested)])),
        );
        let bytes = encode_item(&item);
        let (s, size) = StoredItem::new(bytes.clone()).expect("canonical");
        assert_eq!(size, item_size(&item));
        assert_eq!(
            serde_json::to_vec(&s).expect("json"),
            json_of_decoded(&bytes)
        );
        assert_eq!(s.decode().expect("decode"), item);
        assert_eq!(json_of_stored(encode_item(&Item::new())), b"{}");
        assert_eq!(fast_json(&s), json_of_decoded(&bytes));
        assert_eq!(
            fast_json(&StoredItem::new(encode_item(&Item::new())).expect("c").0),
            b"{}"
        );
    }

    /// `write_json`'s bytes, appended after others already in the buffer.
    fn fast_json(s: &StoredItem) -> Vec<u8> {
        let mut out = b"before".to_vec();
        s.write_json(&mut out).expect("write");
        out.split_off(6)
    }

    /// The word test never misses: any byte needing an escape, at any position of a word of
    /// otherwise clean (or non-ASCII) bytes, is flagged; a clean word is not.
    #[test]
    fn word_test_flags_every_byte_needing_an_escape() {
        for fill in [b'a', 0x7f, 0x80, 0xe9, 0xff] {
            assert!(!word_needs_escape(u64::from_le_bytes([fill; 8])));
            for b in 0..=255u8 {
                for at in 0..8 {
                    let mut w = [fill; 8];
                    w[at] = b;
                    assert_eq!(
                        word_needs_escape(u64::from_le_bytes(w)),
                        needs_escape(b),
                        "byte {b:#x} at {at} among {fill:#x}"
                    );
                }
            }
        }
        // And a run never goes past the first byte needing one.
        for at in 0..64 {
            let mut t = vec![b'z'; 64];
            t[at] = b'"';
            assert!(clean_run(&t) <= at, "{at}");
        }
    }

    /// Every ASCII byte and some wider characters, alone and at every offset of a string
    /// longer than two words, before and after other escapes: serde_json's bytes.
    #[test]
    fn strings_escape_as_serde_json_escapes_them() {
        let mut specials: Vec<String> = (0u8..0x80).map(|b| char::from(b).to_string()).collect();
        specials.extend(["é", "😀", "\u{2028}", "\u{7ff}", "\u{ffff}"].map(String::from));
        for sp in &specials {
            for len in [0usize, 1, 7, 8, 9, 15, 16, 17, 23, 31, 32, 33, 47] {
                for at in 0..=len {
                    let mut t = "a".repeat(len);
                    t.insert_str(at, sp);
                    for text in [t.clone(), format!("{t}\"{sp}"), format!("\n{t}")] {
                        let mut out = Vec::new();
                        write_json_str(&mut out, text.as_bytes());
                        assert_eq!(
                            String::from_utf8_lossy(&out),
                            String::from_utf8_lossy(&serde_json::to_vec(&text).expect("json")),
                            "{text:?}"
                        );
                    }
                }
            }
        }
    }

    /// Bytes that decode but are not what `encode_item` writes: refused, so the caller decodes.
    #[test]
    fn non_canonical_bytes_are_refused() {
        let one = |name: &str, tag: u8, payload: &[u8]| {
            let mut b = vec![ITEM_FORMAT_VERSION, 1, 0, 0, 0];
            b.extend((name.len() as u32).to_le_bytes());
            b.extend(name.as_bytes());
            b.push(tag);
            b.extend(payload);
            b
        };
        let text = |s: &str| {
            let mut b = (s.len() as u32).to_le_bytes().to_vec();
            b.extend(s.as_bytes());
            b
        };
        // A number stored as non-canonical text, and a boolean stored as 2: both decode.
        for bytes in [one("n", 2, &text("1.50")), one("b", 4, &[2])] {
            assert!(decode_item(&bytes).is_ok());
            assert!(StoredItem::new(bytes).is_err());
        }
        assert!(StoredItem::new(one("n", 2, &text("1.5"))).is_ok());
        // Names out of order, or twice: decode sorts and keeps the last.
        for (a, b) in [("b", "a"), ("a", "a")] {
            let mut bytes = vec![ITEM_FORMAT_VERSION, 2, 0, 0, 0];
            for (name, v) in [(a, "1"), (b, "2")] {
                bytes.extend(text(name));
                bytes.push(1);
                bytes.extend(text(v));
            }
            assert!(decode_item(&bytes).is_ok());
            assert!(StoredItem::new(bytes).is_err());
        }
        // Nesting past the decoder's limit.
        for (levels, ok) in [(30, true), (70, false)] {
            let mut deep = AttributeValue::Null;
            for _ in 0..levels {
                deep = AttributeValue::L(vec![deep]);
            }
            let bytes = encode_item(&Item::from([("d".into(), deep)]));
            assert_eq!(decode_item(&bytes).is_ok(), ok);
            assert_eq!(StoredItem::new(bytes).is_ok(), ok, "{levels} levels");
        }
    }

    proptest! {
        #[test]
        fn stored_json_is_decoded_json(item in arb_item()) {
            let bytes = encode_item(&item);
            let (s, size) = StoredItem::new(bytes.clone()).expect("canonical");
            prop_assert_eq!(size, item_size(&item));
            let direct = serde_json::to_vec(&s).expect("serialise");
            prop_assert_eq!(&direct, &json_of_decoded(&bytes));
            prop_assert_eq!(&fast_json(&s), &direct);
            prop_assert_eq!(direct, serde_json::to_vec(&item).expect("serialise"));
        }

        /// Strings of any characters (controls, quotes, backslashes, wide ones) in names,
        /// values and sets: `write_json` gives serde_json's bytes.
        #[test]
        fn fast_json_is_serde_json(
            names in prop::collection::vec("[\\x00-\\x7f\"\\\\é😀]{0,20}", 1..4),
            texts in prop::collection::vec("[\\x00-\\x7f\"\\\\é😀]{1,40}", 1..4),
        ) {
            let mut item = Item::new();
            for (i, n) in names.iter().enumerate() {
                let mut set: Vec<String> = texts.clone();
                set.sort();
                set.dedup();
                item.insert(format!("{n}{i}"), AttributeValue::S(texts[i % texts.len()].clone()));
                item.insert(format!("{n}{i}s"), AttributeValue::SS(set));
            }
            let (s, _) = StoredItem::new(encode_item(&item)).expect("canonical");
            prop_assert_eq!(fast_json(&s), serde_json::to_vec(&item).expect("serialise"));
        }

        /// Every truncation and every byte flip of a valid encoding: either refused (the
        /// caller then decodes, and gets decode_item's answer), or accepted only when it
        /// decodes, with the decoded item's JSON and size. Never a panic.
        #[test]
        fn damaged_bytes_never_give_other_json(
            item in arb_item(),
            cut in any::<prop::sample::Index>(),
            flip in any::<prop::sample::Index>(),
            xor in 1u8..=255,
        ) {
            let bytes = encode_item(&item);
            let truncated = bytes[..cut.index(bytes.len())].to_vec();
            let mut flipped = bytes.clone();
            let at = flip.index(flipped.len());
            flipped[at] ^= xor;
            for damaged in [truncated, flipped] {
                if let Ok((s, size)) = StoredItem::new(damaged.clone()) {
                    let decoded = decode_item(&damaged).expect("accepted bytes decode");
                    prop_assert_eq!(size, item_size(&decoded));
                    prop_assert_eq!(
                        serde_json::to_vec(&s).expect("serialise"),
                        serde_json::to_vec(&decoded).expect("serialise")
                    );
                }
            }
        }

        #[test]
        fn garbage_is_refused_or_decodes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            if let Ok((s, size)) = StoredItem::new(bytes.clone()) {
                let decoded = decode_item(&bytes).expect("accepted bytes decode");
                prop_assert_eq!(size, item_size(&decoded));
                prop_assert_eq!(serde_json::to_vec(&s).expect("json"), json_of_decoded(&bytes));
            }
        }

        #[test]
        fn number_text_accepted_only_when_canonical(s in "-?[0-9]{0,4}(\\.[0-9]{0,4})?") {
            if let Some(size) = number_size(s.as_bytes()) {
                let n = Number::parse(&s).expect("accepted text parses");
                prop_assert_eq!(n.to_string(), s);
                prop_assert_eq!(n.size_bytes(), size);
            }
        }

        #[test]
        fn canonical_numbers_accepted(v in any::<i64>(), scale in 0u32..140) {
            if let Ok(n) = Number::parse(&format!("{v}e-{scale}")) {
                let text = n.to_string();
                prop_assert_eq!(number_size(text.as_bytes()), Some(n.size_bytes()), "{}", text);
            }
        }
    }
}
