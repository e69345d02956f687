//! Who is asking. The [`authenticate`] middleware reads the credentials once per request and
//! leaves a [`Principal`] for the rate limiter and the handlers:
//!
//! - `Authorization: Bearer <token>`: a user, the token verified in-process with the users
//!   service's secret ([`contract::token::verify_token`]: HS256 only, signature before claims,
//!   expiry).
//! - `X-Api-Key: <key>`: a machine client. Keys are configured as SHA-256 hashes with a name and
//!   scopes (`read`, `write`, `admin`; see [`ApiKeys::parse`]); the presented key is hashed and
//!   compared with every configured hash in constant time. Keys and tokens are never logged.
//! - Neither: anonymous (public routes only).
//!
//! Bad credentials are 401 with `WWW-Authenticate` on every route, public ones included. A user
//! acts only on themselves; a key acts on any user with `read` (reads) or `write` (changes);
//! movie writes need `admin` (403 otherwise).

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use contract::{ErrorKind, UserId};
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::problem::Problem;

/// The API key header.
pub const API_KEY_HEADER: &str = "x-api-key";

/// What an API key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Read any user's ratings and recommendations.
    Read,
    /// Also change any user's ratings.
    Write,
    /// Also create, change and delete movies and their media.
    Admin,
}

impl Scope {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "read" => Some(Self::Read),
            "write" => Some(Self::Write),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// The name used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }
}

/// One configured key: its name, scopes and the SHA-256 of the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Shown in logs and metrics instead of the key.
    pub name: Arc<str>,
    /// What it may do.
    pub scopes: Vec<Scope>,
    hash: [u8; 32],
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// Why the API key configuration was refused.
#[derive(Debug, thiserror::Error)]
#[error("API key entry {entry} ({name:?}): {reason}")]
pub struct ApiKeyConfigError {
    /// 1-based entry number.
    pub entry: usize,
    /// The entry's name, when it got that far.
    pub name: String,
    /// What is wrong.
    pub reason: String,
}

/// The configured API keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiKeys(Vec<ApiKey>);

impl ApiKeys {
    /// Parses entries `name:scope[+scope…]:sha256-hex`, separated by commas or newlines (blank
    /// lines and `#` comments ignored), e.g. `partner:read+write:9f86d0…`. The hash is of the
    /// key's bytes (`printf %s "$KEY" | sha256sum`).
    pub fn parse(text: &str) -> Result<Self, ApiKeyConfigError> {
        let entries = text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|entry| !entry.is_empty() && !entry.starts_with('#'));
        let mut keys: Vec<ApiKey> = Vec::new();
        for (i, entry) in entries.enumerate() {
            let fail =
                |name: &str, reason: String| ApiKeyConfigError { entry: i + 1, name: name.into(), reason };
            let mut parts = entry.split(':');
            let (Some(name), Some(scopes), Some(hash), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(fail("", "expected name:scopes:sha256-hex".into()));
            };
            if name.is_empty() || keys.iter().any(|k| &*k.name == name) {
                return Err(fail(name, "the name is empty or used twice".into()));
            }
            let scopes = scopes
                .split('+')
                .map(|s| {
                    Scope::parse(s)
                        .ok_or_else(|| fail(name, format!("unknown scope {s:?} (read, write, admin)")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let hash = decode_hex(hash).ok_or_else(|| fail(name, "the hash is not 64 hex digits".into()))?;
            keys.push(ApiKey { name: name.into(), scopes, hash });
        }
        Ok(Self(keys))
    }

    /// Adds `more` (from the keys file); a name used twice is refused.
    pub fn extend(&mut self, more: Self) -> Result<(), ApiKeyConfigError> {
        for (i, key) in more.0.into_iter().enumerate() {
            if self.0.iter().any(|k| k.name == key.name) {
                let reason = "the name is used twice".into();
                return Err(ApiKeyConfigError { entry: i + 1, name: key.name.to_string(), reason });
            }
            self.0.push(key);
        }
        Ok(())
    }

    /// How many keys are configured.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The key whose hash matches `presented`: every configured hash is compared, each in
    /// constant time, so timing tells nothing about which (or how much of one) matched.
    pub fn find(&self, presented: &str) -> Option<&ApiKey> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for key in &self.0 {
            let difference = key.hash.iter().zip(digest).fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if difference == 0 {
                found = Some(key);
            }
        }
        found
    }
}

fn decode_hex(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let digit = |b: u8| (b as char).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

/// The authenticated user of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Whose token it is.
    pub user_id: UserId,
    /// Their username when the token was issued.
    pub username: String,
}

impl Caller {
    /// The user of `token` (a header's or the web session cookie's), verified in-process.
    pub fn from_token(
        secret: &contract::token::JwtSecret,
        token: &str,
    ) -> Result<Self, contract::token::TokenError> {
        let verified = contract::token::verify_token(secret, token)?;
        Ok(Self { user_id: verified.user_id, username: verified.username })
    }
}

/// Who sent a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// No credentials.
    Anonymous,
    /// A signed-in user.
    User(Caller),
    /// A machine client.
    Key(ApiKey),
}

impl Principal {
    /// Reads the request's credentials: `Ok(Anonymous)` when there are none, 401 when they are
    /// wrong.
    pub fn from_headers(headers: &HeaderMap, state: &AppState) -> Result<Self, Problem> {
        if let Some(key) = headers.get(API_KEY_HEADER) {
            let key = key.to_str().unwrap_or_default();
            return match state.api_keys.find(key) {
                Some(key) => Ok(Self::Key(key.clone())),
                None => Err(Problem::new(ErrorKind::Unauthenticated, "unknown API key")),
            };
        }
        let Some(header) = headers.get(header::AUTHORIZATION) else {
            return Ok(Self::Anonymous);
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or_else(|| {
                Problem::new(ErrorKind::Unauthenticated, "the Authorization header is not `Bearer <token>`")
            })?;
        let caller = Caller::from_token(&state.jwt_secret, token).map_err(|err| {
            tracing::debug!(error = %err, "token refused");
            Problem::new(ErrorKind::Unauthenticated, err.to_string())
        })?;
        Ok(Self::User(caller))
    }

    /// The rate-limit key and tier of this principal (`None`: key by client address).
    pub fn limit_key(&self) -> Option<(crate::rate_limit::Tier, String)> {
        match self {
            Self::Anonymous => None,
            Self::User(caller) => {
                Some((crate::rate_limit::Tier::User, format!("user:{}", caller.user_id.get())))
            }
            Self::Key(key) => Some((crate::rate_limit::Tier::Key, format!("key:{}", key.name))),
        }
    }

    /// Ok when this principal may act on `user`'s data with `scope` (a key needs `scope` or
    /// higher; a user may act only on themselves): 401 for anonymous, 403 otherwise.
    pub fn may_act_for(&self, user: UserId, scope: Scope) -> Result<(), Problem> {
        match self {
            Self::Anonymous => Err(Problem::new(ErrorKind::Unauthenticated, "this route needs credentials")),
            Self::User(caller) if caller.user_id == user => Ok(()),
            Self::User(_) => {
                Err(Problem::new(ErrorKind::Forbidden, "a user may act only on their own account"))
            }
            Self::Key(key) => key.require(scope),
        }
    }

    /// Ok for an API key with `admin`: 401 for anonymous, 403 for users and other keys.
    pub fn require_admin(&self) -> Result<(), Problem> {
        match self {
            Self::Anonymous => {
                Err(Problem::new(ErrorKind::Unauthenticated, "this route needs an admin API key"))
            }
            Self::User(_) => {
                Err(Problem::new(ErrorKind::Forbidden, "this route needs an API key with scope admin"))
            }
            Self::Key(key) => key.require(Scope::Admin),
        }
    }
}

impl ApiKey {
    fn require(&self, scope: Scope) -> Result<(), Problem> {
        if self.scopes.iter().any(|&s| s >= scope) {
            Ok(())
        } else {
            tracing::info!(api_key = %self.name, needed = scope.as_str(), "API key lacks the scope");
            Err(Problem::new(ErrorKind::Forbidden, format!("this API key lacks scope {}", scope.as_str())))
        }
    }
}

/// The middleware: 401 for bad credentials, else the [`Principal`] in the request's extensions.
pub async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    match Principal::from_headers(request.headers(), &state) {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(problem) => problem.into_response(),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        Ok(parts.extensions.get::<Self>().cloned().unwrap_or(Self::Anonymous))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    /// The signed-in user; 401 for anonymous requests and API keys (`/me` routes need a user).
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        match parts.extensions.get::<Principal>() {
            Some(Principal::User(caller)) => Ok(caller.clone()),
            Some(Principal::Key(_)) => Err(Problem::new(
                ErrorKind::Unauthenticated,
                "this route acts on the signed-in user: it needs `Authorization: Bearer <token>`, not an API key",
            )),
            _ => Err(Problem::new(
                ErrorKind::Unauthenticated,
                "this route needs `Authorization: Bearer <token>`",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA_OF_TEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn keys_parse_and_match_by_hash_only() {
        let keys = ApiKeys::parse(&format!("# partners\npartner:read+write:{SHA_OF_TEST}\n")).unwrap();
        let key = keys.find("test").expect("the key whose SHA-256 is configured");
        assert_eq!((&*key.name, key.scopes.as_slice()), ("partner", &[Scope::Read, Scope::Write][..]));
        assert!(keys.find("Test").is_none());
        assert!(keys.find(SHA_OF_TEST).is_none(), "the hash itself is not a key");
        assert!(!format!("{key:?}").contains("9f86"), "{key:?}");
        assert!(key.require(Scope::Write).is_ok());
        assert_eq!(key.require(Scope::Admin).unwrap_err().status.as_u16(), 403);
    }

    #[test]
    fn bad_entries_are_named() {
        for (text, needle) in [
            ("a:read", "expected name:scopes"),
            (&*format!("a:root:{SHA_OF_TEST}"), "unknown scope \"root\""),
            ("a:read:abc", "64 hex digits"),
            (&*format!("a:read:{SHA_OF_TEST},a:admin:{SHA_OF_TEST}"), "used twice"),
        ] {
            let err = ApiKeys::parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
        assert!(ApiKeys::parse(" , ").unwrap().is_empty());
    }

    #[test]
    fn users_act_on_themselves_only() {
        let me = UserId::parse(7, "user_id").unwrap();
        let other = UserId::parse(8, "user_id").unwrap();
        let user = Principal::User(Caller { user_id: me, username: "a".into() });
        assert!(user.may_act_for(me, Scope::Write).is_ok());
        assert_eq!(user.may_act_for(other, Scope::Read).unwrap_err().status.as_u16(), 403);
        assert_eq!(user.require_admin().unwrap_err().status.as_u16(), 403);
        assert_eq!(Principal::Anonymous.may_act_for(me, Scope::Read).unwrap_err().status.as_u16(), 401);
    }
}
