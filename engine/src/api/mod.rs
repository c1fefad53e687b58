//! DynamoDB's API over the table layer: JSON request in, JSON response or [`ApiError`] out.
//! The server crate is only transport, authentication and metrics around [`Database::execute`].

mod error;

pub use error::{ApiError, ErrorCode};
