//! Errors as callers see them: [`FieldError`] (a request field and why it is invalid), the one
//! classification [`ErrorKind`] every service maps its errors into, with its one mapping to gRPC
//! codes and one to HTTP statuses, and [`PublicError`] (kind, message, field violations). With
//! feature `grpc`, a `PublicError` becomes a `tonic::Status` carrying the violations as
//! `google.rpc.BadRequest` details, and back: the REST gateway answers a structured 400 from them
//! without parsing strings.

use std::fmt;

/// A request field that failed validation, and why.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    /// The field as the request names it (`movie.title`, `page_size`, `favorite_genres[2]`).
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FieldError {
    /// `field` is invalid because of `reason`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { field: field.into(), reason: reason.into() }
    }
}

/// What kind of failure an error is: decides the gRPC code, the HTTP status, whether a client
/// may retry and whether the server logs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request is malformed or a field is out of range (fix the request).
    Invalid,
    /// What the request names does not exist.
    NotFound,
    /// The request conflicts with the current state (a taken username, an existing id).
    Conflict,
    /// No valid credentials.
    Unauthenticated,
    /// Valid credentials that may not do this.
    Forbidden,
    /// The caller sent too many requests; retry after a while.
    RateLimited,
    /// This server cannot do that (e.g. explain with a model kind that has no explanation).
    Unsupported,
    /// A dependency is down or the server is starting or stopping; retry with backoff.
    Unavailable,
    /// A bug or an unexpected state; logged by the server, shown to the caller without detail.
    Internal,
}

impl ErrorKind {
    /// Every kind.
    pub const ALL: [ErrorKind; 9] = [
        Self::Invalid,
        Self::NotFound,
        Self::Conflict,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::RateLimited,
        Self::Unsupported,
        Self::Unavailable,
        Self::Internal,
    ];

    /// The HTTP status of this kind.
    pub fn http_status(self) -> u16 {
        match self {
            Self::Invalid => 400,
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::Conflict => 409,
            Self::RateLimited => 429,
            Self::Internal => 500,
            Self::Unsupported => 501,
            Self::Unavailable => 503,
        }
    }

    /// Whether the same request may succeed later without change.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Unavailable | Self::RateLimited)
    }

    /// The snake_case name (`not_found`), as in JSON error bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invalid => "invalid",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::RateLimited => "rate_limited",
            Self::Unsupported => "unsupported",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as a caller may see it: its kind, a message without internal detail, and for
/// [`ErrorKind::Invalid`] the fields that were wrong.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct PublicError {
    /// The classification.
    pub kind: ErrorKind,
    /// What went wrong, for people.
    pub message: String,
    /// The invalid fields (empty unless the kind is `Invalid`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

impl PublicError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), fields: Vec::new() }
    }

    /// Dependency down: "`what` is unavailable; try again later".
    pub fn unavailable(what: &str) -> Self {
        Self::new(ErrorKind::Unavailable, format!("{what} is unavailable; try again later"))
    }

    /// An internal error; the caller learns nothing more (the server logs the cause).
    pub fn internal() -> Self {
        Self::new(ErrorKind::Internal, "internal error")
    }
}

impl From<FieldError> for PublicError {
    fn from(field: FieldError) -> Self {
        Self { kind: ErrorKind::Invalid, message: field.to_string(), fields: vec![field] }
    }
}

#[cfg(feature = "grpc")]
mod grpc {
    use tonic::{Code, Status};
    use tonic_types::{ErrorDetails, StatusExt};

    use super::{ErrorKind, FieldError, PublicError};

    impl ErrorKind {
        /// The gRPC code of this kind.
        pub fn grpc_code(self) -> Code {
            match self {
                Self::Invalid => Code::InvalidArgument,
                Self::NotFound => Code::NotFound,
                Self::Conflict => Code::AlreadyExists,
                Self::Unauthenticated => Code::Unauthenticated,
                Self::Forbidden => Code::PermissionDenied,
                Self::RateLimited => Code::ResourceExhausted,
                Self::Unsupported => Code::Unimplemented,
                Self::Unavailable => Code::Unavailable,
                Self::Internal => Code::Internal,
            }
        }

        /// The kind of an error a gRPC upstream returned with `code`.
        pub fn from_grpc_code(code: Code) -> Self {
            match code {
                Code::InvalidArgument | Code::OutOfRange => Self::Invalid,
                Code::NotFound => Self::NotFound,
                Code::AlreadyExists | Code::Aborted | Code::FailedPrecondition => Self::Conflict,
                Code::Unauthenticated => Self::Unauthenticated,
                Code::PermissionDenied => Self::Forbidden,
                Code::ResourceExhausted => Self::RateLimited,
                Code::Unimplemented => Self::Unsupported,
                Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => Self::Unavailable,
                Code::Ok | Code::Unknown | Code::Internal | Code::DataLoss => Self::Internal,
            }
        }
    }

    impl From<PublicError> for Status {
        /// The status of `error`'s kind; field violations go in `google.rpc.BadRequest` details.
        fn from(error: PublicError) -> Status {
            let code = error.kind.grpc_code();
            if error.fields.is_empty() {
                return Status::new(code, error.message);
            }
            let mut details = ErrorDetails::new();
            for field in &error.fields {
                details.add_bad_request_violation(field.field.clone(), field.reason.clone());
            }
            Status::with_error_details(code, error.message, details)
        }
    }

    impl From<FieldError> for Status {
        fn from(field: FieldError) -> Status {
            PublicError::from(field).into()
        }
    }

    impl From<&Status> for PublicError {
        /// What an upstream's status says, its `BadRequest` violations included.
        fn from(status: &Status) -> PublicError {
            let fields = status
                .get_details_bad_request()
                .map(|bad| {
                    bad.field_violations
                        .into_iter()
                        .map(|v| FieldError::new(v.field, v.description))
                        .collect()
                })
                .unwrap_or_default();
            PublicError {
                kind: ErrorKind::from_grpc_code(status.code()),
                message: status.message().into(),
                fields,
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn field_errors_travel_as_bad_request_details() {
            let status = Status::from(FieldError::new("rating", "must be 0.5 to 5.0 in half steps"));
            assert_eq!(status.code(), Code::InvalidArgument);
            assert_eq!(status.message(), "rating: must be 0.5 to 5.0 in half steps");
            let back = PublicError::from(&status);
            assert_eq!(back.kind, ErrorKind::Invalid);
            assert_eq!(back.fields, vec![FieldError::new("rating", "must be 0.5 to 5.0 in half steps")]);
        }

        #[test]
        fn every_kind_survives_a_round_trip_through_its_grpc_code() {
            for kind in ErrorKind::ALL {
                assert_eq!(ErrorKind::from_grpc_code(kind.grpc_code()), kind);
                let status = Status::from(PublicError::new(kind, "x"));
                assert_eq!(PublicError::from(&status), PublicError::new(kind, "x"), "{kind}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_distinct_http_statuses() {
        use ErrorKind::*;
        let statuses: std::collections::BTreeSet<u16> =
            ErrorKind::ALL.iter().map(|k| k.http_status()).collect();
        assert_eq!(statuses.len(), ErrorKind::ALL.len());
        assert_eq!(Invalid.http_status(), 400);
        assert_eq!(Unavailable.http_status(), 503);
        assert!(Unavailable.is_retryable() && !Invalid.is_retryable());
        assert_eq!(serde_json::to_string(&NotFound).unwrap(), "\"not_found\"");
    }

    #[test]
    fn a_field_error_is_an_invalid_public_error() {
        let error = PublicError::from(FieldError::new("page_size", "at most 500"));
        assert_eq!(error.kind, ErrorKind::Invalid);
        assert_eq!(error.message, "page_size: at most 500");
        assert_eq!(error.fields.len(), 1);
    }
}
