//! Login tokens: verified by the RPC and in-process, refused when expired, tampered with, signed
//! with another secret, or malformed.

use std::time::Duration;

use proto::users::v1 as pb;
use tonic::Code;
use users::token::{Claims, now_unix, sign, verify_token_at};
use users::{JwtSecret, TokenError, verify_token};

use crate::helpers::{assert_status, secret, spawn_app, spawn_app_with, test_config};

#[tokio::test]
async fn tokens_expire_after_the_configured_ttl() {
    let mut config = test_config();
    config.token_ttl = Duration::from_secs(2);
    let mut app = spawn_app_with(config).await;
    let ann = app.register("ann").await;
    let login = app.login("ann").await.unwrap().into_inner();
    assert!((login.expires_at_unix - now_unix() - 2).abs() <= 1, "{}", login.expires_at_unix);
    let request = || pb::VerifyTokenRequest { token: login.token.clone() };
    assert_eq!(app.client.verify_token(request()).await.unwrap().into_inner().user_id, ann.user_id);
    assert_eq!(verify_token(&secret(), &login.token).unwrap().user_id.get(), ann.user_id);

    // The token lives exactly the TTL: checked with an injected clock, not by sleeping (the RPC
    // refusing expired tokens is checked with a token signed in the past, below).
    let verified = verify_token(&secret(), &login.token).unwrap();
    assert_eq!(verified.expires_at_unix - verified.issued_at_unix, 2);
    let at = |now: i64| verify_token_at(&secret(), &login.token, now);
    assert_eq!(at(verified.expires_at_unix - 1).unwrap().user_id.get(), ann.user_id);
    assert_eq!(at(verified.expires_at_unix), Err(TokenError::Expired));
    assert_eq!(at(verified.expires_at_unix + 3600), Err(TokenError::Expired));
}

#[tokio::test]
async fn expired_tampered_foreign_and_malformed_tokens_are_refused() {
    let mut app = spawn_app().await;
    app.register("ann").await;
    let token = app.login("ann").await.unwrap().into_inner().token;
    let now = now_unix();
    let claims =
        |sub: &str, exp: i64| Claims { sub: sub.into(), username: "ann".into(), iat: now - 7200, exp };

    let expired = sign(&secret(), &claims("1000001", now - 3600));
    let (header, rest) = token.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let forged_claims = sign(&secret(), &claims("1000002", now + 3600));
    let forged_claims = forged_claims.split('.').nth(1).unwrap();
    let tampered = format!("{header}.{forged_claims}.{signature}");
    let other_secret = JwtSecret::new(b"another-secret-of-at-least-32-bytes!".to_vec()).unwrap();
    let foreign = sign(&other_secret, &claims("1000001", now + 3600));
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", token.split('.').nth(1).unwrap());
    let mut flipped = token.clone().into_bytes();
    let last = flipped.len() - 2;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();

    for (token, reason) in [
        (expired, "expired"),
        (tampered, "signature"),
        (foreign, "signature"),
        (flipped, "signature"),
        (unsigned, "algorithm"),
        ("not-a-token".to_string(), "malformed"),
        (format!("{token}.extra"), "malformed"),
    ] {
        let res = app.client.verify_token(pb::VerifyTokenRequest { token: token.clone() }).await;
        assert_status(res, Code::Unauthenticated, reason);
        assert!(verify_token(&secret(), &token).is_err(), "{reason}");
    }
    // The genuine one still passes.
    assert!(app.client.verify_token(pb::VerifyTokenRequest { token }).await.is_ok());
}
