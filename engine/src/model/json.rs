//! DynamoDB's JSON wire form of attribute values: `{"S": "x"}`, `{"N": "1"}`, `{"B": "<base64>"}`,
//! `{"BOOL": true}`, `{"NULL": true}`, `{"M": {...}}`, `{"L": [...]}`, `{"SS": [...]}`,
//! `{"NS": [...]}`, `{"BS": [...]}`.

use base64::Engine as _;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::number::{Number, NumberError};
use super::value::{AttributeValue, Item};
use super::ModelError;
use crate::limits::{NESTING_DEPTH_MAX, NESTING_DEPTH_MESSAGE};

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// The JSON token name Jackson uses in SerializationException messages. `one_boolean_name`:
/// a boolean is `VALUE_BOOLEAN`, as the request's own members have always been reported
/// (`api::request`), rather than `VALUE_TRUE` / `VALUE_FALSE`, as inside an attribute value.
pub(crate) fn token_name(v: &Value, one_boolean_name: bool) -> &'static str {
    match v {
        Value::Null => "VALUE_NULL",
        Value::Bool(_) if one_boolean_name => "VALUE_BOOLEAN",
        Value::Bool(true) => "VALUE_TRUE",
        Value::Bool(false) => "VALUE_FALSE",
        // DynamoDB's current parser names a JSON number NUMBER_VALUE ("NUMBER_VALUE cannot be
        // converted to String", as reported from the service in 2023 and 2024); the other
        // names are Jackson's, as older reports show them.
        Value::Number(_) => "NUMBER_VALUE",
        Value::String(_) => "VALUE_STRING",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
    }
}

fn not_a(what: &str, v: &Value) -> ModelError {
    ModelError::serialization(format!(
        "{} cannot be converted to {what}",
        token_name(v, false)
    ))
}

fn string(v: &Value) -> Result<&str, ModelError> {
    v.as_str().ok_or_else(|| not_a("String", v))
}

fn binary(v: &Value) -> Result<Vec<u8>, ModelError> {
    let s = v.as_str().ok_or_else(|| not_a("Blob", v))?;
    b64().decode(s).map_err(|_| {
        ModelError::serialization(
            "Base64 encoded length is expected a multiple of 4 bytes but found: ".to_string()
                + &s.len().to_string(),
        )
    })
}

/// A number attribute value; text that is not a number gets DynamoDB's message naming it.
fn number(s: &str) -> Result<Number, ModelError> {
    Number::parse(s).map_err(|e| match e {
        NumberError::Syntax if s.is_empty() => {
            ModelError::validation("The parameter cannot be converted to a numeric value")
        }
        NumberError::Syntax => ModelError::validation(format!(
            "The parameter cannot be converted to a numeric value: {s}"
        )),
        e => ModelError::from(e),
    })
}

fn array<'a>(v: &'a Value, what: &str) -> Result<&'a Vec<Value>, ModelError> {
    v.as_array().ok_or_else(|| not_a(what, v))
}

fn duplicates(items: &[String]) -> ModelError {
    ModelError::validation(format!(
        "One or more parameter values were invalid: Input collection [{}] contains duplicates.",
        items.join(", ")
    ))
}

impl AttributeValue {
    /// Decodes DynamoDB's JSON form, with DynamoDB's errors.
    pub fn from_json(v: &Value) -> Result<AttributeValue, ModelError> {
        from_json_depth(v, 0, NESTING_DEPTH_MAX)
    }

    /// [`AttributeValue::from_json`] without the nesting limit, for the values DynamoDB reads
    /// without checking their depth (a transaction's ExpressionAttributeValues); a value an
    /// expression then stores is checked as part of the item.
    pub fn from_json_any_depth(v: &Value) -> Result<AttributeValue, ModelError> {
        from_json_depth(v, 0, usize::MAX)
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::with_capacity(1);
        let (k, v) = match self {
            AttributeValue::S(s) => ("S", Value::String(s.clone())),
            AttributeValue::N(n) => ("N", Value::String(n.to_string())),
            AttributeValue::B(b) => ("B", Value::String(b64().encode(b))),
            AttributeValue::Bool(b) => ("BOOL", Value::Bool(*b)),
            AttributeValue::Null => ("NULL", Value::Bool(true)),
            AttributeValue::M(m) => ("M", item_to_json(m)),
            AttributeValue::L(l) => ("L", Value::Array(l.iter().map(|e| e.to_json()).collect())),
            AttributeValue::SS(s) => (
                "SS",
                Value::Array(s.iter().map(|e| Value::String(e.clone())).collect()),
            ),
            AttributeValue::NS(s) => (
                "NS",
                Value::Array(s.iter().map(|e| Value::String(e.to_string())).collect()),
            ),
            AttributeValue::BS(s) => (
                "BS",
                Value::Array(s.iter().map(|e| Value::String(b64().encode(e))).collect()),
            ),
        };
        m.insert(k.to_string(), v);
        Value::Object(m)
    }
}

const TYPES: [&str; 10] = ["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"];

/// `depth` counts the containers above `v` (0: an attribute of the item); DynamoDB counts the
/// attribute itself as level 1, so a value at depth `max_levels` is one level too deep.
fn from_json_depth(
    v: &Value,
    depth: usize,
    max_levels: usize,
) -> Result<AttributeValue, ModelError> {
    if depth >= max_levels {
        return Err(ModelError::validation(NESTING_DEPTH_MESSAGE));
    }
    let obj = v.as_object().ok_or_else(|| not_a("AttributeValue", v))?;
    let mut set: Vec<(&str, &Value)> = Vec::with_capacity(1);
    for (k, val) in obj {
        // An unknown member is ignored, as the AWS JSON protocol's readers do (a value of
        // unknown members only is then empty).
        if TYPES.contains(&k.as_str()) && !val.is_null() {
            set.push((k.as_str(), val));
        }
    }
    if set.len() > 1 {
        // Numbers are converted and sets built as the request is read, before the value is
        // validated: a bad number (or a set's duplicate) is reported even beside a second type.
        for (ty, val) in &set {
            if matches!(*ty, "N" | "NS" | "SS" | "BS" | "B") {
                from_json_depth(&serde_json::json!({ *ty: *val }), depth, max_levels)?;
            }
        }
    }
    if set.is_empty() {
        return Err(ModelError::invalid_value(
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
        ));
    }
    if set.len() > 1 {
        return Err(ModelError::invalid_value(
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
        ));
    }
    let (ty, val) = set[0];
    Ok(match ty {
        "S" => AttributeValue::S(string(val)?.to_string()),
        "N" => AttributeValue::N(number(string(val)?)?),
        "B" => AttributeValue::B(binary(val)?),
        "BOOL" => AttributeValue::Bool(json_bool(val).ok_or_else(|| not_a("Boolean", val))?),
        "NULL" => match json_bool(val) {
            Some(true) => AttributeValue::Null,
            Some(false) => {
                return Err(ModelError::invalid_value(
                    "One or more parameter values were invalid: Null attribute value types must have the value of true",
                ))
            }
            None => return Err(not_a("Boolean", val)),
        },
        "M" => {
            let m = val.as_object().ok_or_else(|| not_a("Map", val))?;
            let mut out = Item::new();
            for (k, e) in m {
                out.insert(k.clone(), from_json_depth(e, depth + 1, max_levels)?);
            }
            AttributeValue::M(out)
        }
        "L" => {
            let a = array(val, "List")?;
            AttributeValue::L(
                a.iter()
                    .map(|e| from_json_depth(e, depth + 1, max_levels))
                    .collect::<Result<_, _>>()?,
            )
        }
        "SS" => {
            let a = array(val, "List")?;
            if a.is_empty() {
                return Err(ModelError::invalid_value(
                    "One or more parameter values were invalid: An string set  may not be empty",
                ));
            }
            let mut v: Vec<String> = a.iter().map(|e| string(e).map(str::to_string)).collect::<Result<_, _>>()?;
            let mut seen = std::collections::HashSet::with_capacity(v.len());
            if !v.iter().all(|s| seen.insert(s)) {
                return Err(duplicates(&v));
            }
            // DynamoDB keeps a set's members in its own order, not as written: strings and
            // binaries bytewise, numbers by value (captured from the service, eu-west-2, 2026).
            v.sort();
            AttributeValue::SS(v)
        }
        "NS" => {
            let a = array(val, "List")?;
            if a.is_empty() {
                return Err(ModelError::validation(
                    "One or more parameter values were invalid: An number set  may not be empty",
                ));
            }
            let texts: Vec<String> = a.iter().map(|e| string(e).map(str::to_string)).collect::<Result<_, _>>()?;
            let mut v: Vec<Number> = texts.iter().map(|s| number(s)).collect::<Result<_, _>>()?;
            let mut seen = std::collections::HashSet::with_capacity(v.len());
            if !v.iter().all(|n| seen.insert(n)) {
                // DynamoDB's number-set message alone names no values and has no prefix.
                return Err(ModelError::validation("Input collection contains duplicates"));
            }
            v.sort();
            AttributeValue::NS(v)
        }
        "BS" => {
            let a = array(val, "List")?;
            if a.is_empty() {
                return Err(ModelError::invalid_value(
                    "One or more parameter values were invalid: Binary sets should not be empty",
                ));
            }
            let v: Vec<Vec<u8>> = a.iter().map(binary).collect::<Result<_, _>>()?;
            let mut seen = std::collections::HashSet::with_capacity(v.len());
            if !v.iter().all(|b| seen.insert(b)) {
                let shown: Vec<String> = v.iter().map(|b| b64().encode(b)).collect();
                // Sic: DynamoDB's binary-set message has no space before "of".
                return Err(ModelError::validation(format!(
                    "One or more parameter values were invalid: Input collection [{}]of type BS contains duplicates.",
                    shown.join(", ")
                )));
            }
            let mut v = v;
            v.sort();
            AttributeValue::BS(v)
        }
        _ => unreachable_type(ty)?,
    })
}

fn unreachable_type(ty: &str) -> Result<AttributeValue, ModelError> {
    Err(ModelError::serialization(format!(
        "Unrecognized field \"{ty}\" in AttributeValue"
    )))
}

/// An item (a JSON object of attribute name → attribute value).
/// A Boolean as DynamoDB's request parser reads one: a JSON boolean, or one of the strings
/// `true`/`yes`/`1` and `false`/`no`/`0` (ASCII case-insensitive).
pub fn json_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => {
            let is = |t: &str| s.eq_ignore_ascii_case(t);
            if is("true") || is("yes") || is("1") {
                Some(true)
            } else if is("false") || is("no") || is("0") {
                Some(false)
            } else {
                None
            }
        }
        _ => None,
    }
}

pub fn item_from_json(v: &Value) -> Result<Item, ModelError> {
    let obj = v.as_object().ok_or_else(|| not_a("Map", v))?;
    let mut out = Item::new();
    for (k, e) in obj {
        out.insert(k.clone(), AttributeValue::from_json(e)?);
    }
    Ok(out)
}

pub fn item_to_json(item: &Item) -> Value {
    Value::Object(item.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

/// `Display` written as a JSON string, without an intermediate `String`.
pub(super) struct AsStr<T>(T);

impl<T: std::fmt::Display> Serialize for AsStr<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

pub(super) fn base64(
    b: &[u8],
) -> AsStr<base64::display::Base64Display<'_, 'static, base64::engine::GeneralPurpose>> {
    AsStr(base64::display::Base64Display::new(
        b,
        &base64::engine::general_purpose::STANDARD,
    ))
}

/// The wire form, written straight to a serializer: `serde_json::to_vec(&value)` gives the same
/// bytes as `serde_json::to_vec(&value.to_json())` (same type tags, canonical numbers, base64
/// for binary), without building the `Value` tree. An [`Item`] (a `BTreeMap`) serialises as
/// [`item_to_json`] does, attributes in name order.
impl Serialize for AttributeValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        match self {
            AttributeValue::S(v) => m.serialize_entry("S", v)?,
            AttributeValue::N(n) => m.serialize_entry("N", &AsStr(n))?,
            AttributeValue::B(b) => m.serialize_entry("B", &base64(b))?,
            AttributeValue::Bool(b) => m.serialize_entry("BOOL", b)?,
            AttributeValue::Null => m.serialize_entry("NULL", &true)?,
            AttributeValue::M(item) => m.serialize_entry("M", item)?,
            AttributeValue::L(l) => m.serialize_entry("L", l)?,
            AttributeValue::SS(v) => m.serialize_entry("SS", v)?,
            AttributeValue::NS(v) => m.serialize_entry("NS", &Numbers(v))?,
            AttributeValue::BS(v) => m.serialize_entry("BS", &Binaries(v))?,
        }
        m.end()
    }
}

struct Numbers<'a>(&'a [Number]);

impl Serialize for Numbers<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(AsStr))
    }
}

struct Binaries<'a>(&'a [Vec<u8>]);

impl Serialize for Binaries<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|b| base64(b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelErrorKind;
    use serde_json::json;

    fn err(v: Value) -> ModelError {
        AttributeValue::from_json(&v).expect_err("invalid")
    }

    #[test]
    fn every_type_round_trips() {
        let v = json!({"M": {
            "s": {"S": "x"}, "n": {"N": "1.50"}, "b": {"B": "AAE="}, "t": {"BOOL": true},
            "z": {"NULL": true}, "l": {"L": [{"S": ""}, {"N": "-0"}]},
            "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": ["AA=="]}
        }});
        let av = AttributeValue::from_json(&v).expect("valid");
        let back = av.to_json();
        assert_eq!(back["M"]["n"], json!({"N": "1.5"}));
        assert_eq!(back["M"]["l"]["L"][1], json!({"N": "0"}));
        assert_eq!(AttributeValue::from_json(&back).expect("again"), av);
    }

    fn direct(v: &impl serde::Serialize) -> Vec<u8> {
        serde_json::to_vec(v).expect("serialise")
    }

    #[test]
    fn serialize_writes_what_to_json_builds() {
        let leaves = json!({
            "s": {"S": "plain"}, "esc": {"S": "q\"b\\n\n\t\u{1}\u{7f} é 😀 </>"}, "empty": {"S": ""},
            "n": {"N": "1.50"}, "nz": {"N": "-0"}, "ne": {"N": "1E3"}, "nsmall": {"N": "0.000123"},
            "nbig": {"N": "-12345678901234567890123456789012345678"}, "nfrac": {"N": "123.456"},
            "b0": {"B": ""}, "b1": {"B": "AA=="}, "b2": {"B": "AAE="}, "b3": {"B": "AAEC"},
            "t": {"BOOL": true}, "f": {"BOOL": false}, "z": {"NULL": true},
            "ss": {"SS": ["b", "a", "\"x\""]}, "ns": {"NS": ["10", "2.50", "-0.5"]},
            "bs": {"BS": ["AA==", "AAE=", "/+8="]},
            "el": {"L": []}, "em": {"M": {}}
        });
        let mut item = item_from_json(&leaves).expect("valid");
        let nested = AttributeValue::L(vec![
            AttributeValue::M(item.clone()),
            AttributeValue::L(item.values().cloned().collect()),
        ]);
        item.insert(
            "deep".into(),
            AttributeValue::M(Item::from([("x".into(), nested.clone())])),
        );
        item.insert("Z upper".into(), nested);
        assert_eq!(direct(&item), direct(&item_to_json(&item)));
        for (name, v) in &item {
            assert_eq!(direct(v), direct(&v.to_json()), "attribute {name}");
        }
        assert_eq!(direct(&Item::new()), b"{}");
        assert_eq!(
            String::from_utf8(direct(&item["n"])).expect("utf-8"),
            r#"{"N":"1.5"}"#
        );
    }

    proptest::proptest! {
        #[test]
        fn serialize_matches_to_json_on_random_items(
            item in proptest::collection::btree_map(
                ".{0,6}",
                crate::model::codec::tests::arb_value(),
                0..6,
            )
        ) {
            proptest::prop_assert_eq!(direct(&item), direct(&item_to_json(&item)));
        }
    }

    #[test]
    fn dynamodb_messages() {
        assert_eq!(
            err(json!({})).message,
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
        );
        assert!(err(json!({"S": "a", "N": "1"}))
            .message
            .contains("more than one datatypes"));
        let e = err(json!({"S": 5}));
        assert_eq!(
            (e.kind, e.message.as_str()),
            (
                ModelErrorKind::Serialization,
                "NUMBER_VALUE cannot be converted to String"
            )
        );
        assert_eq!(
            err(json!({"N": "abc"})).message,
            "The parameter cannot be converted to a numeric value: abc"
        );
        assert_eq!(
            err(json!({"SS": []})).message,
            "One or more parameter values were invalid: An string set  may not be empty"
        );
        assert_eq!(
            err(json!({"SS": ["a", "a"]})).message,
            "One or more parameter values were invalid: Input collection [a, a] contains duplicates."
        );
        assert_eq!(
            err(json!({"NS": ["1", "1.0"]})).message,
            "Input collection contains duplicates"
        );
        assert_eq!(
            err(json!({"BS": ["Yg==", "Yg=="]})).message,
            "One or more parameter values were invalid: Input collection [Yg==, Yg==]of type BS contains duplicates."
        );
        assert_eq!(
            err(json!({"NS": []})).message,
            "One or more parameter values were invalid: An number set  may not be empty"
        );
        assert_eq!(
            err(json!({"BS": []})).message,
            "One or more parameter values were invalid: Binary sets should not be empty"
        );
        assert!(err(json!({"NULL": false}))
            .message
            .contains("Null attribute value types must have the value of true"));
        let mut deep = json!({"S": "x"});
        for _ in 0..40 {
            deep = json!({"L": [deep]});
        }
        assert_eq!(err(deep).message, NESTING_DEPTH_MESSAGE);
    }
}
