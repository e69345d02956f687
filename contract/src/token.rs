//! Login tokens: compact HS256 JWTs (RFC 7519) written by hand over `hmac` + `sha2`, with the
//! claims `sub` (user id as decimal text), `username`, `iat` and `exp` (seconds since the Unix
//! epoch). Verification accepts only `alg: HS256`, compares the MAC in constant time before
//! reading the claims, and refuses tokens at or after `exp`. The users service issues tokens;
//! every other service (the gateway first) verifies them in-process with the same secret.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};

use crate::ids::UserId;
use crate::secret::Secret;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The HMAC key for login tokens: at least [`JwtSecret::MIN_LEN`] bytes; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct JwtSecret(Secret<Vec<u8>>);

/// Why a token secret was refused.
#[derive(Debug, thiserror::Error)]
#[error("CINEREC_JWT_SECRET must be at least {min} bytes long, got {len}")]
pub struct WeakSecretError {
    /// Minimum length.
    pub min: usize,
    /// Length given.
    pub len: usize,
}

impl JwtSecret {
    /// Shortest accepted secret, in bytes (HS256's key size).
    pub const MIN_LEN: usize = 32;

    /// Checks the length of `bytes`.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, WeakSecretError> {
        let bytes = bytes.into();
        if bytes.len() < Self::MIN_LEN {
            return Err(WeakSecretError { min: Self::MIN_LEN, len: bytes.len() });
        }
        Ok(Self(Secret::new(bytes)))
    }

    /// The key bytes; do not log them.
    pub fn expose(&self) -> &[u8] {
        self.0.expose()
    }
}

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtSecret([redacted])")
    }
}

/// The header of every token we issue.
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;
/// Longer tokens are refused before any work.
const MAX_TOKEN_LEN: usize = 4096;

/// Why a token was refused. The messages say what is wrong with the token, never what it holds.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts with JSON header and claims.
    #[error("token is malformed")]
    Malformed,
    /// The header names another algorithm than HS256 (including `none`).
    #[error("token algorithm is not HS256")]
    UnsupportedAlgorithm,
    /// The signature does not match (tampered, or signed with another secret).
    #[error("token signature is invalid")]
    BadSignature,
    /// `exp` has passed.
    #[error("token has expired")]
    Expired,
}

/// The claims of a token.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Claims {
    /// Subject: the user id as decimal text.
    pub sub: String,
    /// Username when the token was issued.
    pub username: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: i64,
}

/// A token that passed verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedToken {
    /// Whose token it is.
    pub user_id: UserId,
    /// Their username when the token was issued.
    pub username: String,
    /// Issued at, seconds since the Unix epoch.
    pub issued_at_unix: i64,
    /// Expiry, seconds since the Unix epoch.
    pub expires_at_unix: i64,
}

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64
}

/// Signs a token for `user_id`/`username`, valid for `ttl` from `issued_at_unix`; returns it with
/// its expiry.
pub fn issue(
    secret: &JwtSecret,
    user_id: UserId,
    username: &str,
    issued_at_unix: i64,
    ttl: Duration,
) -> (String, i64) {
    let exp = issued_at_unix.saturating_add(ttl.as_secs().min(i64::MAX as u64) as i64);
    let claims =
        Claims { sub: user_id.to_string(), username: username.to_string(), iat: issued_at_unix, exp };
    (sign(secret, &claims), exp)
}

/// Signs arbitrary `claims` (tests use it to make expired tokens).
pub fn sign(secret: &JwtSecret, claims: &Claims) -> String {
    let claims = serde_json::to_vec(claims).expect("claims serialize to JSON");
    let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(HEADER), URL_SAFE_NO_PAD.encode(claims));
    let signature = mac(secret, signing_input.as_bytes()).finalize().into_bytes();
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn mac(secret: &JwtSecret, input: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.expose()).expect("HMAC takes keys of any length");
    mac.update(input);
    mac
}

/// Checks `token`'s signature with `secret` and its expiry against the clock. This is the
/// in-process form of the `VerifyToken` RPC (the gateway uses it).
pub fn verify_token(secret: &JwtSecret, token: &str) -> Result<VerifiedToken, TokenError> {
    verify_token_at(secret, token, now_unix())
}

/// [`verify_token`] at the time `now_unix` (seconds since the Unix epoch).
pub fn verify_token_at(secret: &JwtSecret, token: &str, now_unix: i64) -> Result<VerifiedToken, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let (signing_input, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let (header, claims) = signing_input.split_once('.').ok_or(TokenError::Malformed)?;
    if claims.contains('.') {
        return Err(TokenError::Malformed);
    }
    let header: serde_json::Value = decode_json(header)?;
    if header.get("alg").and_then(|alg| alg.as_str()) != Some("HS256") {
        return Err(TokenError::UnsupportedAlgorithm);
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| TokenError::Malformed)?;
    mac(secret, signing_input.as_bytes()).verify_slice(&signature).map_err(|_| TokenError::BadSignature)?;
    let claims: Claims = decode_json(claims)?;
    let user_id = claims.sub.parse::<UserId>().map_err(|_| TokenError::Malformed)?;
    if now_unix >= claims.exp {
        return Err(TokenError::Expired);
    }
    Ok(VerifiedToken {
        user_id,
        username: claims.username,
        issued_at_unix: claims.iat,
        expires_at_unix: claims.exp,
    })
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: u64) -> UserId {
        UserId::parse(id, "user_id").unwrap()
    }

    fn secret(byte: u8) -> JwtSecret {
        JwtSecret::new(vec![byte; 32]).unwrap()
    }

    #[test]
    fn issued_tokens_verify_until_they_expire() {
        let (token, exp) =
            issue(&secret(1), user(1_000_001), "ann", 1_700_000_000, Duration::from_secs(3600));
        assert_eq!(exp, 1_700_003_600);
        let verified = verify_token_at(&secret(1), &token, 1_700_003_599).unwrap();
        assert_eq!(
            verified,
            VerifiedToken {
                user_id: user(1_000_001),
                username: "ann".into(),
                issued_at_unix: 1_700_000_000,
                expires_at_unix: 1_700_003_600
            }
        );
        assert_eq!(verify_token_at(&secret(1), &token, 1_700_003_600), Err(TokenError::Expired));
    }

    /// The RFC 7519 §3.1 example shape, checked against an independent HMAC: the header and
    /// claims are base64url without padding and the signature covers `header.claims`.
    #[test]
    fn tokens_are_standard_hs256_jwts() {
        let (token, _) = issue(&secret(7), user(42), "bob", 10, Duration::from_secs(5));
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[0]).unwrap(), HEADER.as_bytes());
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims, serde_json::json!({"sub": "42", "username": "bob", "iat": 10, "exp": 15}));
        let mut independent = HmacSha256::new_from_slice(&[7; 32]).unwrap();
        independent.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[2]).unwrap(), independent.finalize().into_bytes().as_slice());
    }

    #[test]
    fn tampered_foreign_and_malformed_tokens_are_refused() {
        let (token, _) = issue(&secret(1), user(5), "ann", 100, Duration::from_secs(60));
        let now = 110;
        assert_eq!(verify_token_at(&secret(2), &token, now), Err(TokenError::BadSignature));
        let parts: Vec<&str> = token.split('.').collect();
        let forged_claims = URL_SAFE_NO_PAD.encode(r#"{"sub":"6","username":"ann","iat":100,"exp":160}"#);
        let forged = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
        assert_eq!(verify_token_at(&secret(1), &forged, now), Err(TokenError::BadSignature));
        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{none_header}.{}.", parts[1]);
        assert_eq!(verify_token_at(&secret(1), &unsigned, now), Err(TokenError::UnsupportedAlgorithm));
        for bad in ["", "a.b", "a.b.c.d", "!!!.???.***", &"x".repeat(5000)] {
            assert_eq!(verify_token_at(&secret(1), bad, now), Err(TokenError::Malformed), "{bad}");
        }
    }
}
