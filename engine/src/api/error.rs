//! DynamoDB's error shapes: every failure of an API call is an [`ApiError`] carrying the
//! `__type` name, HTTP status and message DynamoDB gives, plus extra fields some errors carry
//! (`Item` on ConditionalCheckFailedException, `CancellationReasons` on
//! TransactionCanceledException).

use serde_json::{Map, Value};

/// DynamoDB's error names. `type_name()` is the suffix after
/// `com.amazonaws.dynamodb.v20120810#`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    ValidationException,
    SerializationException,
    ResourceNotFoundException,
    ResourceInUseException,
    ConditionalCheckFailedException,
    TransactionCanceledException,
    TransactionConflictException,
    IdempotentParameterMismatchException,
    TransactionInProgressException,
    ProvisionedThroughputExceededException,
    RequestLimitExceeded,
    ThrottlingException,
    ItemCollectionSizeLimitExceededException,
    LimitExceededException,
    UnknownOperationException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
    InvalidSignatureException,
    AccessDeniedException,
    IncompleteSignatureException,
    TableNotFoundException,
    TableAlreadyExistsException,
    BackupNotFoundException,
    ContinuousBackupsUnavailableException,
    PointInTimeRecoveryUnavailableException,
    ExpiredIteratorException,
    TrimmedDataAccessException,
    InternalServerError,
    ServiceUnavailable,
}

impl ErrorCode {
    pub fn type_name(self) -> &'static str {
        use ErrorCode::*;
        match self {
            ValidationException => "ValidationException",
            SerializationException => "SerializationException",
            ResourceNotFoundException => "ResourceNotFoundException",
            ResourceInUseException => "ResourceInUseException",
            ConditionalCheckFailedException => "ConditionalCheckFailedException",
            TransactionCanceledException => "TransactionCanceledException",
            TransactionConflictException => "TransactionConflictException",
            IdempotentParameterMismatchException => "IdempotentParameterMismatchException",
            TransactionInProgressException => "TransactionInProgressException",
            ProvisionedThroughputExceededException => "ProvisionedThroughputExceededException",
            RequestLimitExceeded => "RequestLimitExceeded",
            ThrottlingException => "ThrottlingException",
            ItemCollectionSizeLimitExceededException => "ItemCollectionSizeLimitExceededException",
            LimitExceededException => "LimitExceededException",
            UnknownOperationException => "UnknownOperationException",
            MissingAuthenticationTokenException => "MissingAuthenticationTokenException",
            UnrecognizedClientException => "UnrecognizedClientException",
            InvalidSignatureException => "InvalidSignatureException",
            AccessDeniedException => "AccessDeniedException",
            IncompleteSignatureException => "IncompleteSignatureException",
            TableNotFoundException => "TableNotFoundException",
            TableAlreadyExistsException => "TableAlreadyExistsException",
            BackupNotFoundException => "BackupNotFoundException",
            ContinuousBackupsUnavailableException => "ContinuousBackupsUnavailableException",
            PointInTimeRecoveryUnavailableException => "PointInTimeRecoveryUnavailableException",
            ExpiredIteratorException => "ExpiredIteratorException",
            TrimmedDataAccessException => "TrimmedDataAccessException",
            InternalServerError => "InternalServerError",
            ServiceUnavailable => "ServiceUnavailable",
        }
    }

    /// The `__type` prefix: DynamoDB's service namespace (clients read the part after `#`).
    pub fn namespace(self) -> &'static str {
        "com.amazonaws.dynamodb.v20120810#"
    }

    /// HTTP status: 500 for InternalServerError, 503 for ServiceUnavailable, 400 otherwise.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InternalServerError => 500,
            ErrorCode::ServiceUnavailable => 503,
            _ => 400,
        }
    }
}

/// A failed API call, as DynamoDB reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Extra top-level fields of the error body (e.g. `Item`, `CancellationReasons`).
    pub extra: Map<String, Value>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            extra: Map::new(),
        }
    }
    pub fn validation(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::ValidationException, message)
    }
    pub fn serialization(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::SerializationException, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::ResourceNotFoundException, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InternalServerError, message)
    }
    pub fn with_extra(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_string(), value);
        self
    }

    /// The JSON body DynamoDB sends: `{"__type": "...#Name", "message": "...", ...extra}`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            "__type".into(),
            Value::String(format!(
                "{}{}",
                self.code.namespace(),
                self.code.type_name()
            )),
        );
        m.insert("message".into(), Value::String(self.message.clone()));
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.type_name(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<crate::error::StorageError> for ApiError {
    fn from(e: crate::error::StorageError) -> Self {
        ApiError::internal(format!("storage error: {e}"))
    }
}
