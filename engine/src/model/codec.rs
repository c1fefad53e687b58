//! The compact binary form items are stored in (the value of a storage key).
//!
//! `version: u8` (1) ‖ map. A map: `count: u32 LE`, then per attribute: name (u32 LE length ‖
//! UTF-8) ‖ value. A value: a tag byte and its payload — 1 S (bytes), 2 N (canonical text as
//! bytes), 3 B (bytes), 4 BOOL (u8), 5 NULL, 6 M (map), 7 L (count, values), 8 SS (count,
//! bytes…), 9 NS (count, text…), 10 BS (count, bytes…). Decoding bounds every length and the
//! nesting depth, so arbitrary bytes give an error, never a panic.

use super::number::Number;
use super::value::{AttributeValue, Item};
use super::ModelError;
use crate::codec::{put_bytes, put_u32, put_u8, Reader};

pub const ITEM_FORMAT_VERSION: u8 = 1;
pub(super) const DEPTH_MAX: usize = 64;

pub fn encode_item(item: &Item) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + item.len() * 16);
    put_u8(&mut out, ITEM_FORMAT_VERSION);
    encode_map(&mut out, item);
    out
}

fn encode_map(out: &mut Vec<u8>, m: &Item) {
    put_u32(out, m.len() as u32);
    for (k, v) in m {
        put_bytes(out, k.as_bytes());
        encode_value(out, v);
    }
}

fn encode_value(out: &mut Vec<u8>, v: &AttributeValue) {
    match v {
        AttributeValue::S(s) => {
            put_u8(out, 1);
            put_bytes(out, s.as_bytes());
        }
        AttributeValue::N(n) => {
            put_u8(out, 2);
            put_bytes(out, n.to_string().as_bytes());
        }
        AttributeValue::B(b) => {
            put_u8(out, 3);
            put_bytes(out, b);
        }
        AttributeValue::Bool(b) => {
            put_u8(out, 4);
            put_u8(out, *b as u8);
        }
        AttributeValue::Null => put_u8(out, 5),
        AttributeValue::M(m) => {
            put_u8(out, 6);
            encode_map(out, m);
        }
        AttributeValue::L(l) => {
            put_u8(out, 7);
            put_u32(out, l.len() as u32);
            for e in l {
                encode_value(out, e);
            }
        }
        AttributeValue::SS(s) => {
            put_u8(out, 8);
            put_u32(out, s.len() as u32);
            for e in s {
                put_bytes(out, e.as_bytes());
            }
        }
        AttributeValue::NS(s) => {
            put_u8(out, 9);
            put_u32(out, s.len() as u32);
            for e in s {
                put_bytes(out, e.to_string().as_bytes());
            }
        }
        AttributeValue::BS(s) => {
            put_u8(out, 10);
            put_u32(out, s.len() as u32);
            for e in s {
                put_bytes(out, e);
            }
        }
    }
}

fn bad(e: impl std::fmt::Display) -> ModelError {
    ModelError::corrupt(format!("stored item is corrupt: {e}"))
}

pub fn decode_item(buf: &[u8]) -> Result<Item, ModelError> {
    let mut r = Reader::new(buf, "item");
    let v = r.u8().map_err(bad)?;
    if v != ITEM_FORMAT_VERSION {
        return Err(bad(format!("unknown item format version {v}")));
    }
    let item = decode_map(&mut r, 0)?;
    if !r.is_empty() {
        return Err(bad("trailing bytes"));
    }
    Ok(item)
}

fn text(r: &mut Reader<'_>) -> Result<String, ModelError> {
    String::from_utf8(r.bytes().map_err(bad)?.to_vec()).map_err(|_| bad("string is not UTF-8"))
}

fn num(r: &mut Reader<'_>) -> Result<Number, ModelError> {
    Number::parse(&text(r)?).map_err(bad)
}

fn decode_map(r: &mut Reader<'_>, depth: usize) -> Result<Item, ModelError> {
    if depth > DEPTH_MAX {
        return Err(bad("nesting too deep"));
    }
    let n = r.count(5).map_err(bad)?;
    let mut m = Item::new();
    for _ in 0..n {
        let k = text(r)?;
        let v = decode_value(r, depth + 1)?;
        m.insert(k, v);
    }
    Ok(m)
}

fn decode_value(r: &mut Reader<'_>, depth: usize) -> Result<AttributeValue, ModelError> {
    if depth > DEPTH_MAX {
        return Err(bad("nesting too deep"));
    }
    Ok(match r.u8().map_err(bad)? {
        1 => AttributeValue::S(text(r)?),
        2 => AttributeValue::N(num(r)?),
        3 => AttributeValue::B(r.bytes().map_err(bad)?.to_vec()),
        4 => AttributeValue::Bool(r.u8().map_err(bad)? != 0),
        5 => AttributeValue::Null,
        // One level per container, as validation counts them: the map's entries are one
        // deeper than the map (counting the map twice refused 32 nested maps that validation
        // had accepted, and the item could then never be read, replaced or deleted).
        6 => AttributeValue::M(decode_map(r, depth)?),
        7 => {
            let n = r.count(1).map_err(bad)?;
            let mut l = Vec::with_capacity(n);
            for _ in 0..n {
                l.push(decode_value(r, depth + 1)?);
            }
            AttributeValue::L(l)
        }
        8 => {
            let n = r.count(4).map_err(bad)?;
            AttributeValue::SS((0..n).map(|_| text(r)).collect::<Result<_, _>>()?)
        }
        9 => {
            let n = r.count(4).map_err(bad)?;
            AttributeValue::NS((0..n).map(|_| num(r)).collect::<Result<_, _>>()?)
        }
        10 => {
            let n = r.count(4).map_err(bad)?;
            AttributeValue::BS(
                (0..n)
                    .map(|_| r.bytes().map(|b| b.to_vec()).map_err(bad))
                    .collect::<Result<_, _>>()?,
            )
        }
        t => return Err(bad(format!("unknown value tag {t}"))),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn arb_value() -> impl Strategy<Value = AttributeValue> {
        let leaf = prop_oneof![
            ".{0,12}".prop_map(AttributeValue::S),
            (any::<i64>(), 0u32..6).prop_map(|(v, s)| AttributeValue::N(
                Number::parse(&format!("{v}e-{s}")).unwrap_or_else(|_| Number::from_i64(0))
            )),
            prop::collection::vec(any::<u8>(), 0..8).prop_map(AttributeValue::B),
            any::<bool>().prop_map(AttributeValue::Bool),
            Just(AttributeValue::Null),
            prop::collection::btree_set("[a-z]{1,4}", 1..4)
                .prop_map(|s| AttributeValue::SS(s.into_iter().collect())),
            prop::collection::btree_set(any::<i32>(), 1..4).prop_map(|s| AttributeValue::NS(
                s.into_iter().map(|v| Number::from_i64(v as i64)).collect()
            )),
            prop::collection::btree_set(prop::collection::vec(any::<u8>(), 0..5), 1..4)
                .prop_map(|s| AttributeValue::BS(s.into_iter().collect())),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(AttributeValue::L),
                prop::collection::btree_map("[a-z]{1,3}", inner, 0..4).prop_map(AttributeValue::M),
            ]
        })
    }

    proptest! {
        #[test]
        fn items_round_trip(item in prop::collection::btree_map("[a-zA-Z0-9_]{1,6}", arb_value(), 0..6)) {
            let bytes = encode_item(&item);
            prop_assert_eq!(decode_item(&bytes).expect("decode"), item.clone());
            let json = crate::model::item_to_json(&item);
            prop_assert_eq!(crate::model::item_from_json(&json).expect("json"), item);
        }

        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_item(&bytes);
        }
    }
}
