//! The one classification of the SDK's errors: [`classify`] says what kind of failure an
//! `SdkError` is, [`S3Error`] keeps the kind with the operation, bucket, key and endpoint it
//! happened to, and the SDK's error chain.

use std::fmt;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// What kind of failure an S3 error is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The bucket does not exist (`NoSuchBucket`, or `HeadBucket` answered 404).
    BucketNotFound,
    /// The object (or multipart upload) does not exist: `NoSuchKey`, `NoSuchUpload`, 404.
    NotFound,
    /// The credentials or the signature were refused (`AccessDenied`, `InvalidAccessKeyId`,
    /// `SignatureDoesNotMatch`, expired or invalid tokens, 401/403): an operator must act.
    AccessDenied,
    /// The store could not be reached or kept failing after the retries: connection errors,
    /// timeouts, unreadable responses, 5xx, throttling (`SlowDown`, 429, ...).
    Unavailable,
    /// Anything else (a request the server refused as invalid, a request that could not be
    /// built, a local misconfiguration such as a malformed endpoint).
    Other,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BucketNotFound => "bucket not found",
            Self::NotFound => "not found",
            Self::AccessDenied => "access denied",
            Self::Unavailable => "unavailable",
            Self::Other => "failed",
        })
    }
}

const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AllAccessDisabled",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
];

const TRANSIENT: &[&str] = &[
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
];

/// The kind of `err`, the error of S3 operation `operation` (`HeadBucket`, `GetObject`, ...:
/// a 404 of `HeadBucket` means the bucket is missing).
pub fn classify<E>(operation: &str, err: &SdkError<E>) -> ErrorKind
where
    E: ProvideErrorMetadata,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code();
    match err {
        SdkError::ServiceError(_) => {
            if code == Some("NoSuchBucket")
                || (operation == "HeadBucket" && (status == Some(404) || code == Some("NotFound")))
            {
                ErrorKind::BucketNotFound
            } else if code.is_some_and(|c| ACCESS_DENIED.contains(&c)) || matches!(status, Some(401 | 403)) {
                ErrorKind::AccessDenied
            } else if matches!(code, Some("NoSuchKey" | "NoSuchUpload" | "NotFound")) || status == Some(404) {
                ErrorKind::NotFound
            } else if code.is_some_and(|c| TRANSIENT.contains(&c))
                || status.is_some_and(|s| s >= 500 || s == 429)
            {
                ErrorKind::Unavailable
            } else {
                ErrorKind::Other
            }
        }
        // A malformed endpoint or another local mistake is not an outage.
        SdkError::DispatchFailure(failure) if failure.is_user() => ErrorKind::Other,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            ErrorKind::Unavailable
        }
        _ => ErrorKind::Other,
    }
}

/// A classified S3 failure: what went wrong, where, and the SDK's error chain. Its message
/// names the operation, bucket, key and endpoint (never credentials).
#[derive(Debug, thiserror::Error)]
#[error("S3 {operation} of `{key}` in bucket `{bucket}` at {endpoint}: {kind}: {detail}")]
pub struct S3Error {
    /// The kind of failure.
    pub kind: ErrorKind,
    /// The S3 operation (`PutObject`, ...).
    pub operation: &'static str,
    /// The bucket.
    pub bucket: String,
    /// The object key or prefix (the bucket for bucket operations).
    pub key: String,
    /// The endpoint URL, or `AWS S3`.
    pub endpoint: String,
    /// The server's error code and message (`SignatureDoesNotMatch: ...`), the HTTP status when
    /// the response had no error code, or the kind of failure when there was no response.
    pub reason: String,
    /// The SDK's error and its causes.
    pub detail: String,
}

impl S3Error {
    /// Classifies `err`, the error of `operation` on `key` in `bucket` at `endpoint`.
    pub fn from_sdk<E>(
        operation: &'static str,
        bucket: &str,
        key: &str,
        endpoint: &str,
        err: &SdkError<E>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let kind = classify(operation, err);
        let status = err.raw_response().map(|r| r.status().as_u16());
        let head = match (err.code(), status) {
            (Some(code), _) => code.to_string(),
            (None, Some(status)) => format!("HTTP {status}"),
            (None, None) => kind.to_string(),
        };
        let reason = match err.message().filter(|m| !m.is_empty()) {
            Some(message) => format!("{head}: {message}"),
            None => head,
        };
        Self {
            kind,
            operation,
            bucket: bucket.to_string(),
            key: key.to_string(),
            endpoint: endpoint.to_string(),
            reason,
            detail: DisplayErrorContext(err).to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::config::http::HttpResponse;
    use aws_sdk_s3::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_s3::operation::get_object::GetObjectError;
    use aws_sdk_s3::operation::head_bucket::HeadBucketError;
    use aws_sdk_s3::primitives::SdkBody;

    use super::*;

    fn response(status: u16) -> HttpResponse {
        HttpResponse::new(status.try_into().unwrap(), SdkBody::empty())
    }

    fn service(status: u16, code: Option<&str>) -> SdkError<GetObjectError> {
        let mut meta = ErrorMetadata::builder().message("the server said no");
        if let Some(code) = code {
            meta = meta.code(code);
        }
        SdkError::service_error(GetObjectError::generic(meta.build()), response(status))
    }

    fn io(message: &str) -> Box<dyn std::error::Error + Send + Sync> {
        Box::new(std::io::Error::other(message.to_string()))
    }

    #[test]
    fn errors_are_classified() {
        let head_bucket_404 = SdkError::<HeadBucketError>::service_error(
            HeadBucketError::generic(ErrorMetadata::builder().build()),
            response(404),
        );
        assert_eq!(classify("HeadBucket", &head_bucket_404), ErrorKind::BucketNotFound);
        for (case, err, expected) in [
            ("missing bucket", service(404, Some("NoSuchBucket")), ErrorKind::BucketNotFound),
            ("missing key", service(404, Some("NoSuchKey")), ErrorKind::NotFound),
            ("bare 404", service(404, None), ErrorKind::NotFound),
            ("bad signature", service(403, Some("SignatureDoesNotMatch")), ErrorKind::AccessDenied),
            ("unknown key id", service(403, Some("InvalidAccessKeyId")), ErrorKind::AccessDenied),
            ("bare 403", service(403, None), ErrorKind::AccessDenied),
            ("throttled", service(503, Some("SlowDown")), ErrorKind::Unavailable),
            ("429", service(429, None), ErrorKind::Unavailable),
            ("500", service(500, Some("InternalError")), ErrorKind::Unavailable),
            ("bad request", service(400, Some("InvalidArgument")), ErrorKind::Other),
            ("timeout", SdkError::timeout_error(io("too slow")), ErrorKind::Unavailable),
            (
                "connection refused",
                SdkError::dispatch_failure(ConnectorError::io(io("connection refused"))),
                ErrorKind::Unavailable,
            ),
            (
                "connect timeout",
                SdkError::dispatch_failure(ConnectorError::timeout(io("connect timed out"))),
                ErrorKind::Unavailable,
            ),
            (
                "garbled response",
                SdkError::response_error(io("not xml"), response(200)),
                ErrorKind::Unavailable,
            ),
            ("unbuildable request", SdkError::construction_failure(io("no bucket")), ErrorKind::Other),
        ] {
            assert_eq!(classify("GetObject", &err), expected, "{case}");
        }
    }

    #[test]
    fn messages_name_the_request() {
        let err = S3Error::from_sdk("GetObject", "models", "p/LATEST", "http://s3:9000", &service(403, None));
        assert_eq!(err.kind, ErrorKind::AccessDenied);
        assert_eq!(err.reason, "HTTP 403: the server said no");
        let shown = err.to_string();
        assert!(
            shown.starts_with(
                "S3 GetObject of `p/LATEST` in bucket `models` at http://s3:9000: access denied: "
            ),
            "{shown}"
        );
        let err =
            S3Error::from_sdk("PutObject", "b", "k", "AWS S3", &service(403, Some("InvalidAccessKeyId")));
        assert_eq!(err.reason, "InvalidAccessKeyId: the server said no");
        let err = SdkError::<GetObjectError>::timeout_error(io("too slow"));
        assert_eq!(S3Error::from_sdk("GetObject", "b", "k", "AWS S3", &err).reason, "unavailable");
    }
}
