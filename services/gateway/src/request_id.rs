//! Request ids: `X-Request-Id` is taken from the request (when it is a sane token) or generated,
//! returned on the response, logged, available to the handler's task (problem documents carry
//! it) and sent to every upstream call as `x-request-id` metadata, so one request can be
//! followed through every service's logs.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The header (and gRPC metadata key).
pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    /// (request id, request path) of the request this task serves.
    static CURRENT: (String, String);
}

/// The current request's id and path, inside a request.
pub fn current() -> Option<(String, String)> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Accepts 1..=128 characters of `[A-Za-z0-9._-]`, else generates a UUID.
fn accept_or_generate(given: Option<&HeaderValue>) -> String {
    given
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            (1..=128).contains(&id.len())
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned)
}

/// The middleware: sets the id for the request's task and on the response.
pub async fn layer(request: Request, next: Next) -> Response {
    let id = accept_or_generate(request.headers().get(HEADER));
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %id, method = %request.method(), path = %path);
    let mut response = CURRENT.scope((id.clone(), path), next.run(request)).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_kept_others_replaced() {
        assert_eq!(accept_or_generate(Some(&HeaderValue::from_static("abc-123_x.y"))), "abc-123_x.y");
        for bad in ["", "has space", "<script>"] {
            let generated = accept_or_generate(Some(&HeaderValue::from_str(bad).unwrap()));
            assert_eq!(generated.len(), 32, "{bad:?} → {generated}");
        }
        assert_eq!(accept_or_generate(None).len(), 32);
    }
}
