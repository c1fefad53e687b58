//! What [`super::Database::respond`] answers: a JSON tree, or a read response that is
//! serialised straight from the stored items.
//!
//! GetItem, Query, Scan, BatchGetItem and TransactGetItems answer with items. Turning every
//! item into a `serde_json::Value` tree (a string copy and a map per attribute) and then
//! serialising the tree cost more server CPU than the read itself; a [`ReadResponse`] keeps
//! the items and writes DynamoDB JSON from them (`impl Serialize for AttributeValue`). Its
//! bytes are exactly those of [`Response::into_value`], the tree the operations built before,
//! field order included; [`super::Database::execute`] still answers that tree.
//!
//! An item returned whole (no projection, no filter) need not even be decoded: it is kept as
//! a [`StoredItem`], its stored bytes, and serialised from them ([`ReadItem`]).

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::ApiError;
use crate::model::{item_to_json, Item, StoredItem};

/// An item a read returns: decoded (projected, filtered or fetched), or its stored bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadItem {
    Decoded(Item),
    Stored(StoredItem),
}

impl ReadItem {
    fn to_json(&self) -> Result<Value, ApiError> {
        Ok(match self {
            ReadItem::Decoded(i) => item_to_json(i),
            ReadItem::Stored(s) => item_to_json(&s.decode()?),
        })
    }
}

impl From<Item> for ReadItem {
    fn from(i: Item) -> Self {
        ReadItem::Decoded(i)
    }
}

impl Serialize for ReadItem {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ReadItem::Decoded(i) => i.serialize(s),
            ReadItem::Stored(b) => b.serialize(s),
        }
    }
}

/// A successful answer of [`super::Database::respond`].
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// A response built as a JSON tree (the control plane, writes, the Streams API).
    Json(Value),
    /// A read answered from stored items, serialised without a `Value` tree per item.
    Read(ReadResponse),
}

/// The response of GetItem, Query, Scan, BatchGetItem or TransactGetItems.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadResponse(Shape);

#[derive(Debug, Clone, PartialEq)]
enum Shape {
    /// GetItem: `ConsumedCapacity`, then `Item` when there is one.
    Get {
        consumed: Option<Value>,
        item: Option<ReadItem>,
    },
    /// Query and Scan.
    Page {
        /// `None` for `Select: COUNT`.
        items: Option<Vec<ReadItem>>,
        count: usize,
        scanned: usize,
        last_key: Option<Item>,
        consumed: Option<Value>,
    },
    /// BatchGetItem: found items per table (as the request named it, in request order), the
    /// per-table requests left unprocessed, the `ConsumedCapacity` list.
    BatchGet {
        responses: Vec<(String, Vec<ReadItem>)>,
        unprocessed: Map<String, Value>,
        consumed: Option<Value>,
    },
    /// TransactGetItems: one entry per action, `{"Item": ...}` or `{}`.
    TransactGet {
        responses: Vec<Option<Item>>,
        consumed: Option<Value>,
    },
}

impl ReadResponse {
    /// GetItem's response; `consumed` is the rendered `ConsumedCapacity`, if asked for.
    pub(crate) fn get(consumed: Option<Value>, item: Option<ReadItem>) -> ReadResponse {
        ReadResponse(Shape::Get { consumed, item })
    }

    /// A Query or Scan page; `items` is `None` when only the count was asked for.
    pub(crate) fn page(
        items: Option<Vec<ReadItem>>,
        count: usize,
        scanned: usize,
        last_key: Option<Item>,
        consumed: Option<Value>,
    ) -> ReadResponse {
        ReadResponse(Shape::Page {
            items,
            count,
            scanned,
            last_key,
            consumed,
        })
    }

    pub(crate) fn batch_get(
        responses: Vec<(String, Vec<ReadItem>)>,
        unprocessed: Map<String, Value>,
        consumed: Option<Value>,
    ) -> ReadResponse {
        ReadResponse(Shape::BatchGet {
            responses,
            unprocessed,
            consumed,
        })
    }

    pub(crate) fn transact_get(
        responses: Vec<Option<Item>>,
        consumed: Option<Value>,
    ) -> ReadResponse {
        ReadResponse(Shape::TransactGet {
            responses,
            consumed,
        })
    }

    /// The response's `Count` (Query and Scan only).
    pub fn count(&self) -> Option<u64> {
        match &self.0 {
            Shape::Page { count, .. } => Some(*count as u64),
            _ => None,
        }
    }

    /// The response's `ConsumedCapacity`: one object, or a list for the multi-table reads.
    pub fn consumed_capacity(&self) -> Option<&Value> {
        match &self.0 {
            Shape::Get { consumed, .. }
            | Shape::Page { consumed, .. }
            | Shape::BatchGet { consumed, .. }
            | Shape::TransactGet { consumed, .. } => consumed.as_ref(),
        }
    }

    /// The JSON tree of this response, as the operations built it before they kept items.
    /// Stored items are decoded; bytes that do not decode give `decode_item`'s error.
    pub fn into_value(self) -> Result<Value, ApiError> {
        let mut out = Map::new();
        match self.0 {
            Shape::Get { consumed, item } => {
                if let Some(c) = consumed {
                    out.insert("ConsumedCapacity".into(), c);
                }
                if let Some(i) = item {
                    out.insert("Item".into(), i.to_json()?);
                }
            }
            Shape::Page {
                items,
                count,
                scanned,
                last_key,
                consumed,
            } => {
                if let Some(items) = items {
                    let list = items
                        .iter()
                        .map(ReadItem::to_json)
                        .collect::<Result<_, _>>()?;
                    out.insert("Items".into(), Value::Array(list));
                }
                out.insert("Count".into(), Value::from(count));
                out.insert("ScannedCount".into(), Value::from(scanned));
                if let Some(k) = last_key {
                    out.insert("LastEvaluatedKey".into(), item_to_json(&k));
                }
                if let Some(c) = consumed {
                    out.insert("ConsumedCapacity".into(), c);
                }
            }
            Shape::BatchGet {
                responses,
                unprocessed,
                consumed,
            } => {
                let mut found = Map::new();
                for (t, items) in responses {
                    let list = items
                        .iter()
                        .map(ReadItem::to_json)
                        .collect::<Result<_, _>>()?;
                    found.insert(t, Value::Array(list));
                }
                out.insert("Responses".into(), Value::Object(found));
                out.insert("UnprocessedKeys".into(), Value::Object(unprocessed));
                if let Some(c) = consumed {
                    out.insert("ConsumedCapacity".into(), c);
                }
            }
            Shape::TransactGet {
                responses,
                consumed,
            } => {
                let list = responses
                    .into_iter()
                    .map(|r| {
                        let mut one = Map::new();
                        if let Some(i) = r {
                            one.insert("Item".into(), item_to_json(&i));
                        }
                        Value::Object(one)
                    })
                    .collect();
                out.insert("Responses".into(), Value::Array(list));
                if let Some(c) = consumed {
                    out.insert("ConsumedCapacity".into(), c);
                }
            }
        }
        Ok(Value::Object(out))
    }
}

impl Response {
    /// The response as a JSON tree (see [`ReadResponse::into_value`]).
    pub fn into_value(self) -> Result<Value, ApiError> {
        match self {
            Response::Json(v) => Ok(v),
            Response::Read(r) => r.into_value(),
        }
    }
}

impl Response {
    /// The response body: the bytes `serde_json::to_vec(self)` gives. A GetItem, Query or
    /// Scan answer writes its whole stored items straight from their bytes
    /// ([`StoredItem::write_json`]: the string escape is most of the work of a page of text
    /// items, and serde_json's goes a byte at a time).
    pub fn to_json_vec(&self) -> Result<Vec<u8>, serde_json::Error> {
        match self {
            Response::Json(v) => serde_json::to_vec(v),
            Response::Read(r) => {
                let mut out = Vec::with_capacity(r.json_capacity());
                r.write_json(&mut out)?;
                Ok(out)
            }
        }
    }
}

impl ReadItem {
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        match self {
            ReadItem::Decoded(i) => serde_json::to_writer(&mut *out, i),
            ReadItem::Stored(b) => b.write_json(out),
        }
    }

    /// About the bytes of its JSON (for a first allocation).
    fn json_capacity(&self) -> usize {
        match self {
            ReadItem::Decoded(_) => 256,
            ReadItem::Stored(b) => b.as_bytes().len() + b.as_bytes().len() / 4 + 16,
        }
    }
}

impl ReadResponse {
    fn json_capacity(&self) -> usize {
        match &self.0 {
            Shape::Get { item, .. } => 128 + item.as_ref().map_or(0, ReadItem::json_capacity),
            Shape::Page { items, .. } => {
                256 + items
                    .iter()
                    .flatten()
                    .map(ReadItem::json_capacity)
                    .sum::<usize>()
            }
            _ => 1024,
        }
    }

    /// As `serde_json::to_writer(out, self)`, with GetItem's and a page's items written by
    /// [`ReadItem::write_json`].
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        // A map's entries, each after a comma but the first: serde_json's compact form.
        fn key(out: &mut Vec<u8>, first: &mut bool, name: &str) {
            if !std::mem::take(first) {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
        }
        let mut first = true;
        match &self.0 {
            Shape::Get { consumed, item } => {
                out.push(b'{');
                if let Some(c) = consumed {
                    key(out, &mut first, "ConsumedCapacity");
                    serde_json::to_writer(&mut *out, c)?;
                }
                if let Some(i) = item {
                    key(out, &mut first, "Item");
                    i.write_json(out)?;
                }
                out.push(b'}');
            }
            Shape::Page {
                items,
                count,
                scanned,
                last_key,
                consumed,
            } => {
                out.push(b'{');
                if let Some(items) = items {
                    key(out, &mut first, "Items");
                    out.push(b'[');
                    for (n, i) in items.iter().enumerate() {
                        if n > 0 {
                            out.push(b',');
                        }
                        i.write_json(out)?;
                    }
                    out.push(b']');
                }
                key(out, &mut first, "Count");
                serde_json::to_writer(&mut *out, count)?;
                key(out, &mut first, "ScannedCount");
                serde_json::to_writer(&mut *out, scanned)?;
                if let Some(k) = last_key {
                    key(out, &mut first, "LastEvaluatedKey");
                    serde_json::to_writer(&mut *out, k)?;
                }
                if let Some(c) = consumed {
                    key(out, &mut first, "ConsumedCapacity");
                    serde_json::to_writer(&mut *out, c)?;
                }
                out.push(b'}');
            }
            Shape::BatchGet { .. } | Shape::TransactGet { .. } => {
                serde_json::to_writer(&mut *out, self)?;
            }
        }
        Ok(())
    }
}

impl Serialize for Response {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Response::Json(v) => v.serialize(s),
            Response::Read(r) => r.serialize(s),
        }
    }
}

impl Serialize for ReadResponse {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        match &self.0 {
            Shape::Get { consumed, item } => {
                if let Some(c) = consumed {
                    m.serialize_entry("ConsumedCapacity", c)?;
                }
                if let Some(i) = item {
                    m.serialize_entry("Item", i)?;
                }
            }
            Shape::Page {
                items,
                count,
                scanned,
                last_key,
                consumed,
            } => {
                if let Some(items) = items {
                    m.serialize_entry("Items", items)?;
                }
                m.serialize_entry("Count", count)?;
                m.serialize_entry("ScannedCount", scanned)?;
                if let Some(k) = last_key {
                    m.serialize_entry("LastEvaluatedKey", k)?;
                }
                if let Some(c) = consumed {
                    m.serialize_entry("ConsumedCapacity", c)?;
                }
            }
            Shape::BatchGet {
                responses,
                unprocessed,
                consumed,
            } => {
                m.serialize_entry("Responses", &PerTable(responses))?;
                m.serialize_entry("UnprocessedKeys", unprocessed)?;
                if let Some(c) = consumed {
                    m.serialize_entry("ConsumedCapacity", c)?;
                }
            }
            Shape::TransactGet {
                responses,
                consumed,
            } => {
                m.serialize_entry("Responses", &Found(responses))?;
                if let Some(c) = consumed {
                    m.serialize_entry("ConsumedCapacity", c)?;
                }
            }
        }
        m.end()
    }
}

/// BatchGetItem's `Responses`: table → items, in request order.
struct PerTable<'a>(&'a [(String, Vec<ReadItem>)]);

impl Serialize for PerTable<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(t, items)| (t, items)))
    }
}

/// TransactGetItems' `Responses`: `{"Item": ...}` per item found, `{}` per item missing.
struct Found<'a>(&'a [Option<Item>]);

impl Serialize for Found<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|i| FoundOne(i.as_ref())))
    }
}

struct FoundOne<'a>(Option<&'a Item>);

impl Serialize for FoundOne<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(usize::from(self.0.is_some())))?;
        if let Some(i) = self.0 {
            m.serialize_entry("Item", i)?;
        }
        m.end()
    }
}
