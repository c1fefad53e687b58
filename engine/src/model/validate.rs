//! Validation of whole items and names, with DynamoDB's messages.

use super::keys::KeySchema;
use super::size::item_size;
use super::value::{AttributeValue, Item};
use super::ModelError;
use crate::limits::{
    ATTRIBUTE_NAME_MAX_BYTES, ITEM_SIZE_MAX_BYTES, NESTING_DEPTH_MAX, NESTING_DEPTH_MESSAGE,
    TABLE_NAME_LEN_MAX, TABLE_NAME_LEN_MIN,
};

/// `depth` as in `from_json`: DynamoDB counts an attribute as level 1 of its 32.
fn depth_ok(v: &AttributeValue, depth: usize) -> bool {
    if depth >= NESTING_DEPTH_MAX {
        return false;
    }
    match v {
        AttributeValue::M(m) => m.values().all(|e| depth_ok(e, depth + 1)),
        AttributeValue::L(l) => l.iter().all(|e| depth_ok(e, depth + 1)),
        _ => true,
    }
}

/// A value built by an update (sets non-empty, depth bounded).
pub fn validate_attribute_value(v: &AttributeValue) -> Result<(), ModelError> {
    if !depth_ok(v, 0) {
        return Err(ModelError::validation(NESTING_DEPTH_MESSAGE));
    }
    Ok(())
}

/// An item to be stored: key attributes valid, names within limits, size ≤ 400 KB.
pub fn validate_item(item: &Item, schema: &KeySchema) -> Result<(), ModelError> {
    schema.user_key(item)?;
    validate_item_values(item)
}

/// The checks of [`validate_item`] that need no table: attribute names, values and the item's
/// size. DynamoDB makes them while it validates the request, before it looks the table up, so
/// an invalid item sent to a missing table is a ValidationException.
pub fn validate_item_values(item: &Item) -> Result<(), ModelError> {
    check_values(item, |_, _| true)
}

/// [`validate_item`] for an item an update built from `old`: a value the update left as it was
/// is not checked for depth again, so an item stored under an earlier, looser rule (hashlog
/// before 2026-12 took one more level) can still be updated elsewhere.
pub fn validate_updated_item(
    item: &Item,
    old: Option<&Item>,
    schema: &KeySchema,
) -> Result<(), ModelError> {
    schema.user_key(item)?;
    check_values(item, |name, v| old.and_then(|o| o.get(name)) != Some(v))
}

fn check_values(
    item: &Item,
    check_depth: impl Fn(&str, &AttributeValue) -> bool,
) -> Result<(), ModelError> {
    for (name, v) in item {
        if name.is_empty() {
            return Err(ModelError::validation(
                "One or more parameter values were invalid: An attribute name cannot be empty",
            ));
        }
        if name.len() > ATTRIBUTE_NAME_MAX_BYTES {
            return Err(ModelError::validation(format!(
                "One or more parameter values were invalid: Attribute name {name} is too long"
            )));
        }
        if check_depth(name, v) {
            validate_attribute_value(v)?;
        }
    }
    if item_size(item) > ITEM_SIZE_MAX_BYTES {
        return Err(ModelError::validation(
            "Item size has exceeded the maximum allowed size",
        ));
    }
    Ok(())
}

/// 3–255 characters of `[a-zA-Z0-9_.-]`, in DynamoDB's "1 validation error detected" form.
pub fn validate_table_name(name: &str, field: &str) -> Result<(), ModelError> {
    let prefix = format!(
        "1 validation error detected: Value '{name}' at '{field}' failed to satisfy constraint: "
    );
    if name.len() < TABLE_NAME_LEN_MIN {
        return Err(ModelError::validation(format!(
            "{prefix}Member must have length greater than or equal to {TABLE_NAME_LEN_MIN}"
        )));
    }
    if name.len() > TABLE_NAME_LEN_MAX {
        return Err(ModelError::validation(format!(
            "{prefix}Member must have length less than or equal to {TABLE_NAME_LEN_MAX}"
        )));
    }
    if !name
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
    {
        return Err(ModelError::validation(format!(
            "{prefix}Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{KeyAttr, ScalarType};

    /// A table keyed by a string `pk` alone.
    fn pk_schema() -> KeySchema {
        KeySchema {
            partition: KeyAttr {
                name: "pk".into(),
                ty: ScalarType::S,
            },
            sort: None,
        }
    }

    #[test]
    fn oversize_items_and_bad_names_are_rejected() {
        let schema = pk_schema();
        let mut item = Item::new();
        item.insert("pk".into(), AttributeValue::S("a".into()));
        item.insert(
            "big".into(),
            AttributeValue::S("x".repeat(ITEM_SIZE_MAX_BYTES)),
        );
        assert_eq!(
            validate_item(&item, &schema).expect_err("too big").message,
            "Item size has exceeded the maximum allowed size"
        );
        item.insert("big".into(), AttributeValue::S("x".repeat(1000)));
        assert!(validate_item(&item, &schema).is_ok());
        assert!(validate_table_name("ab", "tableName").is_err());
        assert!(validate_table_name("a b c", "tableName")
            .expect_err("pattern")
            .message
            .contains("regular expression"));
        assert!(validate_table_name("My_Table-1.0", "tableName").is_ok());
    }

    /// `levels` containers, outermost first (`'M'` or `'L'`), around a string.
    fn nested(levels: &[u8]) -> AttributeValue {
        let mut v = AttributeValue::S("leaf".into());
        for &k in levels.iter().rev() {
            v = if k == b'M' {
                AttributeValue::M(Item::from([("x".to_string(), v)]))
            } else {
                AttributeValue::L(vec![v])
            };
        }
        v
    }

    #[test]
    fn every_nesting_validation_accepts_is_stored_read_and_served() {
        // Maps were counted twice by the decoders: 32 nested maps passed validation and
        // the stored item then never decoded again.
        let schema = pk_schema();
        let mut accepted = 0;
        for depth in [1usize, 31, 32, 33, 34] {
            for pattern in [&b"M"[..], b"L", b"ML", b"LLM"] {
                let levels: Vec<u8> = pattern.iter().copied().cycle().take(depth).collect();
                let mut item = Item::new();
                item.insert("pk".into(), AttributeValue::S("k".into()));
                item.insert("d".into(), nested(&levels));
                let ok = validate_item(&item, &schema).is_ok();
                // An attribute is level 1: 31 containers around a scalar is the deepest.
                assert_eq!(ok, depth <= 31, "depth {depth} of {pattern:?}");
                if !ok {
                    continue;
                }
                accepted += 1;
                let bytes = crate::model::encode_item(&item);
                assert_eq!(crate::model::decode_item(&bytes).as_ref(), Ok(&item));
                let (stored, size) = crate::model::StoredItem::new(bytes)
                    .expect("the stored-bytes reader accepts it too");
                assert_eq!(size, item_size(&item));
                assert_eq!(stored.decode().as_ref(), Ok(&item));
            }
        }
        assert_eq!(accepted, 8);
    }

    #[test]
    fn an_update_does_not_recheck_the_depth_of_what_it_left_alone() {
        let schema = pk_schema();
        // Stored under the earlier rule: 32 maps around a scalar.
        let mut old = Item::new();
        old.insert("pk".into(), AttributeValue::S("k".into()));
        old.insert("d".into(), nested(&[b'M'; 32]));
        let mut new = old.clone();
        new.insert("t".into(), AttributeValue::S("x".into()));
        assert!(validate_item(&new, &schema).is_err());
        assert!(validate_updated_item(&new, Some(&old), &schema).is_ok());
        // A value the update wrote is checked.
        new.insert("e".into(), nested(&[b'L'; 32]));
        assert_eq!(
            validate_updated_item(&new, Some(&old), &schema)
                .expect_err("too deep")
                .message,
            NESTING_DEPTH_MESSAGE
        );
        assert!(validate_updated_item(&new, None, &schema).is_err());
    }

    #[test]
    fn stored_bytes_that_do_not_decode_are_an_internal_error() {
        let e = crate::model::decode_item(&[1, 9, 9]).expect_err("garbage");
        let api: crate::api::ApiError = e.into();
        assert_eq!(api.code, crate::api::ErrorCode::InternalServerError);
    }
}
