//! What a DynamoDB table holds: attribute values of the ten types, exact numbers, items, key
//! schemas and the order-preserving storage key, DynamoDB's size rules and limits, the JSON
//! wire form and the compact binary form items are stored in.

mod codec;
mod json;
mod keys;
pub mod number;
mod size;
mod stored;
mod validate;
mod value;

pub use codec::{decode_item, encode_item, ITEM_FORMAT_VERSION};
pub(crate) use json::token_name;
pub use json::{item_from_json, item_to_json, json_bool};
pub use keys::{KeyAttr, KeySchema, ScalarType};
pub use number::{Number, NumberError};
pub use size::{attribute_value_size, item_size};
pub use stored::{canonical_size, StoredItem};
pub use validate::{
    validate_attribute_value, validate_item, validate_item_values, validate_table_name,
    validate_updated_item,
};
pub use value::{AttributeValue, Item};

/// Which DynamoDB error an invalid value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelErrorKind {
    /// ValidationException.
    Validation,
    /// ValidationException for a value that reads but is no valid attribute value (empty, two
    /// types, NULL not true, an empty string or binary set): DynamoDB finds these while it
    /// validates a request, after reading it (numbers and set duplicates are found while
    /// reading), and words a start key's as "The provided starting key is invalid: …".
    InvalidValue,
    /// SerializationException (the JSON does not have the shape the API expects).
    Serialization,
    /// Stored bytes that do not decode: InternalServerError (nothing the caller sent is wrong).
    Corrupt,
}

/// An invalid value, with DynamoDB's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ModelError {
    pub kind: ModelErrorKind,
    pub message: String,
}

impl ModelError {
    pub fn validation(message: impl Into<String>) -> ModelError {
        ModelError {
            kind: ModelErrorKind::Validation,
            message: message.into(),
        }
    }
    pub fn invalid_value(message: impl Into<String>) -> ModelError {
        ModelError {
            kind: ModelErrorKind::InvalidValue,
            message: message.into(),
        }
    }
    pub fn corrupt(message: impl Into<String>) -> ModelError {
        ModelError {
            kind: ModelErrorKind::Corrupt,
            message: message.into(),
        }
    }
    pub fn serialization(message: impl Into<String>) -> ModelError {
        ModelError {
            kind: ModelErrorKind::Serialization,
            message: message.into(),
        }
    }
}

impl From<NumberError> for ModelError {
    fn from(e: NumberError) -> Self {
        ModelError::validation(e.to_string())
    }
}

impl From<ModelError> for crate::api::ApiError {
    fn from(e: ModelError) -> Self {
        match e.kind {
            ModelErrorKind::Validation | ModelErrorKind::InvalidValue => {
                crate::api::ApiError::validation(e.message)
            }
            ModelErrorKind::Serialization => crate::api::ApiError::serialization(e.message),
            ModelErrorKind::Corrupt => crate::api::ApiError::internal(e.message),
        }
    }
}
