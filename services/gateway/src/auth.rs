//! Who is asking: `Authorization: Bearer <token>` verified in-process with the users service's
//! secret ([`contract::token::verify_token`]: HS256 only, signature before claims, expiry). A
//! missing, malformed, tampered, foreign-secret, `alg: none` or expired token is 401 with
//! `WWW-Authenticate`; the token itself is never logged.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use contract::{ErrorKind, UserId};

use crate::app::AppState;
use crate::problem::Problem;

/// The authenticated user of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Whose token it is.
    pub user_id: UserId,
    /// Their username when the token was issued.
    pub username: String,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            Problem::new(ErrorKind::Unauthenticated, "this route needs `Authorization: Bearer <token>`")
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or_else(|| {
                Problem::new(ErrorKind::Unauthenticated, "the Authorization header is not `Bearer <token>`")
            })?;
        let verified = contract::token::verify_token(&state.jwt_secret, token).map_err(|err| {
            tracing::debug!(error = %err, "token refused");
            Problem::new(ErrorKind::Unauthenticated, err.to_string())
        })?;
        Ok(Self { user_id: verified.user_id, username: verified.username })
    }
}
