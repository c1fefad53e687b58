//! Key schemas and the storage key.
//!
//! Storage key of an item: `xxh3(pk bytes)` (8 bytes, big-endian) ‖ `len(pk bytes)` (u16
//! big-endian) ‖ pk bytes ‖ sort key bytes. pk bytes: S as UTF-8, B as is, N as its sortable
//! encoding (so numerically equal keys are one key). Sort key bytes order as DynamoDB orders
//! sort keys: S by UTF-8 bytes, B by unsigned bytes, N numerically ([`Number::sortable_bytes`]).
//! The sort key comes last, so it needs no terminator.

use serde_json::Value;

use super::number::Number;
use super::value::{AttributeValue, Item};
use super::ModelError;
use crate::limits::{PARTITION_KEY_SIZE_MAX_BYTES, SORT_KEY_SIZE_MAX_BYTES};

/// A key attribute's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarType {
    S,
    N,
    B,
}

impl ScalarType {
    pub fn parse(s: &str) -> Option<ScalarType> {
        match s {
            "S" => Some(ScalarType::S),
            "N" => Some(ScalarType::N),
            "B" => Some(ScalarType::B),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ScalarType::S => "S",
            ScalarType::N => "N",
            ScalarType::B => "B",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyAttr {
    pub name: String,
    pub ty: ScalarType,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeySchema {
    pub partition: KeyAttr,
    pub sort: Option<KeyAttr>,
}

fn invalid(msg: String) -> ModelError {
    ModelError::validation(format!("One or more parameter values were invalid: {msg}"))
}

/// The bytes of a key value of the declared type (checks type and emptiness).
fn key_value_bytes(attr: &KeyAttr, v: &AttributeValue) -> Result<Vec<u8>, ModelError> {
    match (attr.ty, v) {
        (ScalarType::S, AttributeValue::S(s)) => {
            if s.is_empty() {
                return Err(ModelError::validation(format!(
                    "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: {}",
                    attr.name
                )));
            }
            Ok(s.as_bytes().to_vec())
        }
        (ScalarType::B, AttributeValue::B(b)) => {
            if b.is_empty() {
                return Err(ModelError::validation(format!(
                    "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty binary value. Key: {}",
                    attr.name
                )));
            }
            Ok(b.clone())
        }
        (ScalarType::N, AttributeValue::N(n)) => Ok(n.sortable_bytes()),
        (ty, other) => Err(invalid(format!(
            "Type mismatch for key {} expected: {} actual: {}",
            attr.name,
            ty.as_str(),
            other.type_descriptor()
        ))),
    }
}

fn key_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::B(b) => b.len(),
        AttributeValue::N(n) => n.size_bytes(),
        _ => 0,
    }
}

fn value_from_bytes(ty: ScalarType, b: &[u8]) -> Result<AttributeValue, ModelError> {
    Ok(match ty {
        ScalarType::S => AttributeValue::S(
            String::from_utf8(b.to_vec())
                .map_err(|_| ModelError::validation("stored key is not UTF-8"))?,
        ),
        ScalarType::B => AttributeValue::B(b.to_vec()),
        ScalarType::N => AttributeValue::N(Number::from_sortable_bytes(b)?),
    })
}

impl KeySchema {
    /// Key attribute names, partition first.
    pub fn names(&self) -> Vec<&str> {
        let mut v = vec![self.partition.name.as_str()];
        if let Some(s) = &self.sort {
            v.push(s.name.as_str());
        }
        v
    }

    pub fn is_key_attribute(&self, name: &str) -> bool {
        self.partition.name == name || self.sort.as_ref().is_some_and(|s| s.name == name)
    }

    /// The storage key of an item (PutItem): key attributes must be present, typed, non-empty
    /// and within size limits.
    pub fn user_key(&self, item: &Item) -> Result<Vec<u8>, ModelError> {
        let pk = item.get(&self.partition.name).ok_or_else(|| {
            invalid(format!(
                "Missing the key {} in the item",
                self.partition.name
            ))
        })?;
        let sk = match &self.sort {
            Some(s) => Some(
                item.get(&s.name)
                    .ok_or_else(|| invalid(format!("Missing the key {} in the item", s.name)))?,
            ),
            None => None,
        };
        self.encode(pk, sk)
    }

    /// The storage key of a `Key` parameter (GetItem, UpdateItem, DeleteItem, ...): exactly the
    /// key attributes, or "The provided key element does not match the schema".
    pub fn key_of(&self, key: &Item) -> Result<Vec<u8>, ModelError> {
        let mismatch =
            || ModelError::validation("The provided key element does not match the schema");
        let want = if self.sort.is_some() { 2 } else { 1 };
        if key.len() != want {
            return Err(mismatch());
        }
        let pk = key.get(&self.partition.name).ok_or_else(mismatch)?;
        let sk = match &self.sort {
            Some(s) => Some(key.get(&s.name).ok_or_else(mismatch)?),
            None => None,
        };
        let type_ok = |attr: &KeyAttr, v: &AttributeValue| v.type_descriptor() == attr.ty.as_str();
        if !type_ok(&self.partition, pk)
            || self
                .sort
                .as_ref()
                .zip(sk)
                .is_some_and(|(a, v)| !type_ok(a, v))
        {
            return Err(mismatch());
        }
        self.encode(pk, sk)
    }

    fn encode(
        &self,
        pk: &AttributeValue,
        sk: Option<&AttributeValue>,
    ) -> Result<Vec<u8>, ModelError> {
        let mut key = self.partition_prefix(pk)?;
        if let (Some(attr), Some(v)) = (&self.sort, sk) {
            let b = key_value_bytes(attr, v)?;
            if key_size(v) > SORT_KEY_SIZE_MAX_BYTES {
                return Err(invalid(format!(
                    "Aggregated size of all range keys has exceeded the size limit of {SORT_KEY_SIZE_MAX_BYTES} bytes"
                )));
            }
            key.extend_from_slice(&b);
        }
        Ok(key)
    }

    /// The prefix every storage key with this partition key value starts with.
    pub fn partition_prefix(&self, pk: &AttributeValue) -> Result<Vec<u8>, ModelError> {
        let b = key_value_bytes(&self.partition, pk)?;
        if key_size(pk) > PARTITION_KEY_SIZE_MAX_BYTES {
            return Err(invalid(format!(
                "Size of hashkey has exceeded the maximum size limit of{PARTITION_KEY_SIZE_MAX_BYTES} bytes"
            )));
        }
        let mut key = Vec::with_capacity(10 + b.len() + 16);
        key.extend_from_slice(&crate::key::key_hash(&b).to_be_bytes());
        key.extend_from_slice(&(b.len() as u16).to_be_bytes());
        key.extend_from_slice(&b);
        Ok(key)
    }

    /// The order-preserving bytes of a sort key value stored in a key (an index entry's): as
    /// [`KeySchema::sort_key_bytes`], and within the sort key size limit.
    pub fn stored_sort_key_bytes(&self, v: &AttributeValue) -> Result<Vec<u8>, ModelError> {
        let b = self.sort_key_bytes(v)?;
        if key_size(v) > SORT_KEY_SIZE_MAX_BYTES {
            return Err(invalid(format!(
                "Aggregated size of all range keys has exceeded the size limit of {SORT_KEY_SIZE_MAX_BYTES} bytes"
            )));
        }
        Ok(b)
    }

    /// The order-preserving bytes of a sort key value (for Query bounds).
    pub fn sort_key_bytes(&self, v: &AttributeValue) -> Result<Vec<u8>, ModelError> {
        match &self.sort {
            Some(attr) => key_value_bytes(attr, v),
            None => Err(ModelError::validation("The table has no sort key")),
        }
    }

    /// The key attributes back from a storage key.
    pub fn decode_user_key(&self, key: &[u8]) -> Result<Item, ModelError> {
        let bad = || ModelError::validation("stored key is malformed");
        if key.len() < 10 {
            return Err(bad());
        }
        let len = u16::from_be_bytes([key[8], key[9]]) as usize;
        let pk_end = 10 + len;
        if key.len() < pk_end {
            return Err(bad());
        }
        let mut item = Item::new();
        item.insert(
            self.partition.name.clone(),
            value_from_bytes(self.partition.ty, &key[10..pk_end])?,
        );
        if let Some(s) = &self.sort {
            item.insert(s.name.clone(), value_from_bytes(s.ty, &key[pk_end..])?);
        }
        Ok(item)
    }

    /// Just the key attributes of an item.
    pub fn extract_key(&self, item: &Item) -> Result<Item, ModelError> {
        let mut k = Item::new();
        for name in self.names() {
            let v = item
                .get(name)
                .ok_or_else(|| invalid(format!("Missing the key {name} in the item")))?;
            k.insert(name.to_string(), v.clone());
        }
        Ok(k)
    }

    /// `KeySchema` JSON as DescribeTable shows it.
    pub fn to_json(&self) -> Value {
        let mut v =
            vec![serde_json::json!({"AttributeName": self.partition.name, "KeyType": "HASH"})];
        if let Some(s) = &self.sort {
            v.push(serde_json::json!({"AttributeName": s.name, "KeyType": "RANGE"}));
        }
        Value::Array(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(sk: ScalarType) -> KeySchema {
        KeySchema {
            partition: KeyAttr {
                name: "pk".into(),
                ty: ScalarType::S,
            },
            sort: Some(KeyAttr {
                name: "sk".into(),
                ty: sk,
            }),
        }
    }

    fn item(pk: &str, sk: AttributeValue) -> Item {
        let mut i = Item::new();
        i.insert("pk".into(), AttributeValue::S(pk.into()));
        i.insert("sk".into(), sk);
        i
    }

    #[test]
    fn numeric_sort_keys_order_numerically_and_decode() {
        let s = schema(ScalarType::N);
        let nums = ["-100", "-1.5", "-1", "0", "0.001", "1", "2", "10", "1e10"];
        let keys: Vec<Vec<u8>> = nums
            .iter()
            .map(|n| {
                s.user_key(&item("p", AttributeValue::N(Number::parse(n).expect("n"))))
                    .expect("key")
            })
            .collect();
        for w in keys.windows(2) {
            assert!(w[0] < w[1]);
        }
        let prefix = s
            .partition_prefix(&AttributeValue::S("p".into()))
            .expect("prefix");
        assert!(keys.iter().all(|k| k.starts_with(&prefix)));
        let back = s.decode_user_key(&keys[1]).expect("decode");
        assert_eq!(
            back,
            item("p", AttributeValue::N(Number::parse("-1.5").expect("n")))
        );
    }

    #[test]
    fn key_errors_carry_dynamodb_messages() {
        let s = schema(ScalarType::S);
        let e = s
            .user_key(&item("", AttributeValue::S("x".into())))
            .expect_err("empty");
        assert!(
            e.message
                .contains("cannot contain an empty string value. Key: pk"),
            "{}",
            e.message
        );
        let e = s
            .user_key(&item("a", AttributeValue::N(Number::from_i64(1))))
            .expect_err("type");
        assert_eq!(e.message, "One or more parameter values were invalid: Type mismatch for key sk expected: S actual: N");
        let mut missing = Item::new();
        missing.insert("pk".into(), AttributeValue::S("a".into()));
        let e = s.user_key(&missing).expect_err("missing");
        assert_eq!(
            e.message,
            "One or more parameter values were invalid: Missing the key sk in the item"
        );
        assert_eq!(
            s.key_of(&missing).expect_err("schema").message,
            "The provided key element does not match the schema"
        );
        let big = "x".repeat(2049);
        let e = s
            .user_key(&item(&big, AttributeValue::S("x".into())))
            .expect_err("big");
        assert!(
            e.message.contains("Size of hashkey has exceeded"),
            "{}",
            e.message
        );
    }
}
