//! RFC 9457 problem details: every error the gateway answers is an `application/problem+json`
//! document made from a [`PublicError`]: `type`, `title`, `status`, `detail`, `instance` (the
//! request path), `request_id`, and `errors[]` (one `{field, reason}` per invalid field, taken
//! from the upstream's `google.rpc.BadRequest` details). 401 carries `WWW-Authenticate`, 503 and
//! 429 carry `Retry-After`.

use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use contract::{ErrorKind, FieldError, PublicError};

use crate::request_id;

/// The media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The problem document as the OpenAPI description shows it (the answer is built in
/// [`Problem::into_response`]).
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ProblemDoc {
    /// `https://cinerec.dev/problems/<kind>` (invalid, not_found, conflict, unauthenticated,
    /// forbidden, rate_limited, unavailable, internal, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, for people.
    pub detail: String,
    /// The request path.
    pub instance: Option<String>,
    /// The request's `X-Request-Id`.
    pub request_id: Option<String>,
    /// One entry per invalid field or parameter.
    pub errors: Vec<FieldErrorDoc>,
}

/// One invalid field.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FieldErrorDoc {
    /// The field or parameter, e.g. `rating`, `preferences.favourite_genres[1]`, `limit`.
    pub field: String,
    /// Why it is invalid.
    pub reason: String,
}

/// An error on its way to the client: the contract's classification, and the HTTP status
/// (the kind's own, or a more precise one such as 413 and 415 for an `Invalid` body).
#[derive(Debug)]
pub struct Problem {
    /// What the client may see.
    pub error: PublicError,
    /// The status answered.
    pub status: StatusCode,
}

impl Problem {
    /// A problem of `kind` with `detail`.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        PublicError::new(kind, detail).into()
    }

    /// 400 about one field.
    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        FieldError::new(field, reason).into()
    }

    /// A request refused with `status` (4xx) for `detail`.
    pub fn with_status(status: StatusCode, detail: &str) -> Self {
        Self { error: PublicError::new(ErrorKind::Invalid, detail), status }
    }
}

impl From<PublicError> for Problem {
    fn from(error: PublicError) -> Self {
        let status =
            StatusCode::from_u16(error.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self { error, status }
    }
}

impl From<FieldError> for Problem {
    fn from(field: FieldError) -> Self {
        PublicError::from(field).into()
    }
}

impl From<tonic::Status> for Problem {
    /// What an upstream answered, classified by its code; internal details are not passed on.
    fn from(status: tonic::Status) -> Self {
        let mut error = PublicError::from(&status);
        match error.kind {
            ErrorKind::Internal => error.message = "internal error".into(),
            ErrorKind::Unavailable => {
                tracing::warn!(code = ?status.code(), message = status.message(), "upstream unavailable");
                error.message = "a service the request needs is unavailable; try again later".into();
            }
            _ => {}
        }
        error.into()
    }
}

impl From<JsonRejection> for Problem {
    /// A body that is not JSON (415), too large (413), malformed or of the wrong shape (400).
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => Self::with_status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the body must be JSON (Content-Type: application/json)",
            ),
            JsonRejection::BytesRejection(_) => Self::with_status(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the body is larger than this server accepts",
            ),
            other => Self::invalid("body", other.body_text()),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let Self { error: PublicError { kind, message, fields }, status } = self;
        let (request_id, instance) = request_id::current().unzip();
        let body = serde_json::json!({
            "type": format!("https://cinerec.dev/problems/{kind}"),
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": message,
            "instance": instance,
            "request_id": request_id,
            "errors": fields,
        });
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        match kind {
            ErrorKind::Unauthenticated => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="cinerec", error="invalid_token""#),
                );
            }
            ErrorKind::Unavailable | ErrorKind::RateLimited => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}
