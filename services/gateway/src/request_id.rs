//! Request ids: `X-Request-Id` is taken from the request (when it is a sane token) or generated,
//! returned on the response, logged (one access line per request, with its status and
//! duration), available to the handler's task (problem documents carry
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
    let span = tracing::info_span!("request", request_id = %id, http.request.method = %request.method(), url.path = %path);
    let started = std::time::Instant::now();
    let health = path.starts_with("/health/");
    let mut response = CURRENT.scope((id.clone(), path), next.run(request)).instrument(span.clone()).await;
    if !health {
        span.in_scope(|| log_answered(response.status().as_u16(), started.elapsed()));
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

/// The access line of one request (target `access`; the probes' `/health/*` are not logged):
/// WARN for a 5xx, INFO otherwise, with the status and `event.duration` in nanoseconds.
fn log_answered(status: u16, elapsed: std::time::Duration) {
    let duration_ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
    if status >= 500 {
        tracing::event!(target: "access", tracing::Level::WARN, http.response.status_code = status, event.duration = duration_ns, "request failed");
    } else {
        tracing::event!(target: "access", tracing::Level::INFO, http.response.status_code = status, event.duration = duration_ns, "request answered");
    }
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
