//! Accounts, credentials and the ratings of a user: every 401 case, 403 for another user's data,
//! scoped API keys, problem documents naming fields, body limits and types, an upstream that
//! stops and comes back.

use std::time::Duration;

use contract::token::{Claims, JwtSecret, sign};

use crate::helpers::{Platform, assert_problem, eventually, fields, now_s, secret, wait_ready};

/// `name:scopes:sha256(key)` for the key `key`.
fn key_entry(name: &str, scopes: &str, key: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{name}:{scopes}:{hex}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_profile_preferences_and_deletion() {
    let platform = Platform::start().await;
    let ann = serde_json::json!({"username": "ann", "email": "ann@example.org", "password": "correct horse"});
    let created = platform.req("POST", "/api/v1/auth/register").json(ann.clone()).send().await;
    assert_eq!(created.status, 201, "{created:?}");
    assert!(created.body.get("password").is_none() && !created.body.to_string().contains("argon2"));
    assert_problem(&platform.req("POST", "/api/v1/auth/register").json(ann).send().await, 409);
    let wrong = serde_json::json!({"login": "ann", "password": "wrong one"});
    assert_problem(&platform.req("POST", "/api/v1/auth/login").json(wrong).send().await, 401);
    let login = serde_json::json!({"login": "ann", "password": "correct horse"});
    let token = platform.req("POST", "/api/v1/auth/login").json(login.clone()).send().await;
    let token = token.body["token"].as_str().unwrap().to_owned();

    let me = platform.req("GET", "/api/v1/me").token(&token).send().await;
    assert_eq!((me.status, me.body["username"].as_str()), (200, Some("ann")), "{me:?}");
    assert!(me.header("x-request-id").is_some(), "every answer carries a request id");
    let given =
        platform.req("GET", "/api/v1/me").token(&token).header("x-request-id", "trace-me-1").send().await;
    assert_eq!(given.header("x-request-id"), Some("trace-me-1"), "a sane request id is kept");

    let renamed = platform
        .req("PATCH", "/api/v1/me")
        .token(&token)
        .json(serde_json::json!({"display_name": "Ann L."}))
        .send()
        .await;
    assert_eq!((renamed.status, renamed.body["display_name"].as_str()), (200, Some("Ann L.")), "{renamed:?}");
    assert_eq!(renamed.body["email"], "ann@example.org", "an absent field stays");
    let bad_email = platform
        .req("PATCH", "/api/v1/me")
        .token(&token)
        .json(serde_json::json!({"email": "nope"}))
        .send()
        .await;
    assert_problem(&bad_email, 400);
    assert_eq!(fields(&bad_email), ["email"]);

    let preferences = serde_json::json!({"favourite_genres": ["Drama", "Cooking"], "languages": [], "blocked_movie_ids": [7]});
    let refused = platform.req("PUT", "/api/v1/me/preferences").token(&token).json(preferences).send().await;
    assert_problem(&refused, 400);
    assert_eq!(fields(&refused), ["preferences.favourite_genres[1]"]);
    let preferences =
        serde_json::json!({"favourite_genres": ["drama"], "languages": ["en"], "blocked_movie_ids": [7]});
    assert_eq!(
        platform.req("PUT", "/api/v1/me/preferences").token(&token).json(preferences).send().await.status,
        200
    );
    let read = platform.req("GET", "/api/v1/me/preferences").token(&token).send().await;
    assert_eq!(
        read.body,
        serde_json::json!({"favourite_genres": ["Drama"], "languages": ["en"], "blocked_movie_ids": [7]})
    );

    assert_eq!(platform.req("DELETE", "/api/v1/me").token(&token).send().await.status, 204);
    assert_problem(&platform.req("GET", "/api/v1/me").token(&token).send().await, 404);
    assert_problem(&platform.req("POST", "/api/v1/auth/login").json(login).send().await, 401);

    let page = service_common::testing::scrape_metrics(platform.gateway.metrics).await;
    service_common::testing::assert_lines(
        &page,
        &[r#"cinerec_http_requests_total{service="gateway",route="/api/v1/auth/register",status="409"} 1"#],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_credential_is_401_and_every_overreach_403() {
    let keys = [
        key_entry("reader", "read", "reader-key-0001"),
        key_entry("writer", "write", "writer-key-0002"),
        key_entry("admin", "admin", "admin-key-0003"),
    ]
    .join(",");
    let platform =
        Platform::start_with(|config| config.api_keys = gateway::auth::ApiKeys::parse(&keys).unwrap()).await;
    let now = now_s();
    let claims = |exp: i64| Claims { sub: "1000001".into(), username: "ann".into(), iat: now - 10, exp };
    let good = sign(&secret(), &claims(now + 600));
    let expired = sign(&secret(), &claims(now - 1));
    let foreign =
        sign(&JwtSecret::new(b"another-secret-0123456789abcdef-xyz".to_vec()).unwrap(), &claims(now + 600));
    let (header, rest) = good.split_once('.').unwrap();
    let (payload, _signature) = rest.split_once('.').unwrap();
    let tampered = format!("{header}.{payload}.AAAA");
    let alg_none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}."); // {"alg":"none","typ":"JWT"}
    for (what, token) in [
        ("no token", None),
        ("expired", Some(expired.as_str())),
        ("foreign secret", Some(foreign.as_str())),
        ("tampered", Some(tampered.as_str())),
        ("alg none", Some(alg_none.as_str())),
        ("garbage", Some("not-a-token")),
    ] {
        let mut request = platform.req("GET", "/api/v1/me");
        if let Some(token) = token {
            request = request.token(token);
        }
        let answer = request.send().await;
        assert_problem(&answer, 401);
        let challenge = answer.header("www-authenticate").unwrap_or_default();
        assert!(challenge.starts_with("Bearer realm=\"cinerec\""), "{what}: {challenge}");
    }
    // Bad credentials are refused on public routes too; an unknown key is 401.
    assert_problem(&platform.req("GET", "/api/v1/movies/1").token(&tampered).send().await, 401);
    assert_problem(
        &platform.req("GET", "/api/v1/movies/1").header("x-api-key", "no-such-key").send().await,
        401,
    );

    // Users act on themselves only; keys by scope.
    let (ann, ann_id) = platform.sign_up("ann").await;
    let (bob, _) = platform.sign_up("bob").await;
    let rating = serde_json::json!({"rating": 4.0});
    let ann_rating = format!("/api/v1/users/{ann_id}/ratings/1");
    assert_eq!(platform.req("PUT", &ann_rating).token(&ann).json(rating.clone()).send().await.status, 201);
    assert_problem(&platform.req("PUT", &ann_rating).token(&bob).json(rating.clone()).send().await, 403);
    assert_problem(&platform.req("DELETE", &ann_rating).token(&bob).send().await, 403);
    let ann_ratings = format!("/api/v1/users/{ann_id}/ratings");
    assert_problem(&platform.req("GET", &ann_ratings).token(&bob).send().await, 403);
    let read = platform.req("GET", &ann_ratings).header("x-api-key", "reader-key-0001").send().await;
    assert_eq!((read.status, read.body["total"].as_u64()), (200, Some(1)), "{read:?}");
    let reader_writes = platform
        .req("PUT", &ann_rating)
        .header("x-api-key", "reader-key-0001")
        .json(rating.clone())
        .send()
        .await;
    assert_problem(&reader_writes, 403);
    let writer = platform
        .req("PUT", &ann_rating)
        .header("x-api-key", "writer-key-0002")
        .json(serde_json::json!({"rating": 2.5}))
        .send()
        .await;
    assert_eq!((writer.status, writer.body["rating"].as_f64()), (200, Some(2.5)), "{writer:?}");
    assert_problem(
        &platform.req("GET", "/api/v1/me").header("x-api-key", "admin-key-0003").send().await,
        401,
    );
    let movie = serde_json::json!({"title": "A Key Test", "year": 2026, "genres": ["Drama"]});
    assert_problem(&platform.req("POST", "/api/v1/movies").token(&ann).json(movie.clone()).send().await, 403);
    assert_problem(
        &platform
            .req("POST", "/api/v1/movies")
            .header("x-api-key", "writer-key-0002")
            .json(movie.clone())
            .send()
            .await,
        403,
    );
    let created =
        platform.req("POST", "/api/v1/movies").header("x-api-key", "admin-key-0003").json(movie).send().await;
    assert_eq!((created.status, created.body["title"].as_str()), (201, Some("A Key Test")), "{created:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_name_what_is_wrong() {
    let platform = Platform::start().await;
    let (ann, _) = platform.sign_up("ann").await;
    let bad = serde_json::json!({"username": "A!", "email": "x@example.org", "password": "correct horse"});
    let answer = platform.req("POST", "/api/v1/auth/register").json(bad).send().await;
    assert_problem(&answer, 400);
    assert_eq!(fields(&answer), ["username"]);
    assert!(answer.body["errors"][0]["reason"].as_str().unwrap().contains("3 to 32"), "{answer:?}");

    let malformed = platform
        .req("POST", "/api/v1/auth/login")
        .raw("application/json", b"{\"login\":".to_vec())
        .send()
        .await;
    assert_problem(&malformed, 400);
    let unknown = platform
        .req("POST", "/api/v1/auth/login")
        .json(serde_json::json!({"login": "a", "password": "b", "admin": true}))
        .send()
        .await;
    assert_problem(&unknown, 400);
    assert!(unknown.body["errors"][0]["reason"].as_str().unwrap().contains("admin"), "{unknown:?}");
    assert_problem(
        &platform.req("POST", "/api/v1/auth/login").raw("text/plain", b"login=a".to_vec()).send().await,
        415,
    );
    let huge = serde_json::json!({"login": "a".repeat(10_000), "password": "b"});
    assert_problem(&platform.req("POST", "/api/v1/auth/login").json(huge).send().await, 413);

    // Out-of-range values, each named: body fields, path and query parameters.
    let put = |movie: &str, body: serde_json::Value| {
        platform.req("PUT", &format!("/api/v1/me/ratings/{movie}")).token(&ann).json(body)
    };
    for (movie, body, field) in [
        ("2", serde_json::json!({"rating": 4.2}), "rating"),
        ("2", serde_json::json!({"rating": 6}), "rating"),
        ("abc", serde_json::json!({"rating": 4.0}), "movie_id"),
        ("0", serde_json::json!({"rating": 4.0}), "movie_id"),
        ("99999", serde_json::json!({"rating": 4.0}), "movie_id"),
    ] {
        let answer = put(movie, body).send().await;
        assert_problem(&answer, 400);
        assert_eq!(fields(&answer), [field], "{movie}: {answer:?}");
    }
    let query = platform.req("GET", "/api/v1/movies?limit=abc&year=x&sort=title&genre=Cooking").send().await;
    assert_problem(&query, 400);
    let mut named = fields(&query);
    named.sort();
    assert_eq!(named, ["genre", "limit", "sort", "year"], "{query:?}");
    let n = platform.req("GET", "/api/v1/me/recommendations?n=0&offset=5000").token(&ann).send().await;
    assert_problem(&n, 400);
    assert_eq!(fields(&n), ["n", "offset"]);
    let twice = platform.req("GET", "/api/v1/me/ratings?limit=1&limit=2").token(&ann).send().await;
    assert_problem(&twice, 400);
    assert_eq!(fields(&twice), ["limit"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_stops_is_503_with_retry_after_and_recovery_needs_no_restart() {
    let mut platform =
        Platform::start_with(|config| config.upstream_deadline = Duration::from_millis(1500)).await;
    wait_ready(&platform).await;
    let (ann, _) = platform.sign_up("ann").await;
    let rating = serde_json::json!({"rating": 4.5});
    assert_eq!(
        platform.req("PUT", "/api/v1/me/ratings/1").token(&ann).json(rating.clone()).send().await.status,
        201
    );

    platform.upstreams.stop_ratings().await;
    let down = platform.req("GET", "/api/v1/me/ratings").token(&ann).send().await;
    assert_problem(&down, 503);
    assert!(down.header("retry-after").is_some(), "{down:?}");
    let detail = down.body["detail"].as_str().unwrap();
    assert!(!detail.contains("127.0.0.1") && !detail.contains("tcp"), "no internal detail: {detail}");
    eventually("readiness reports the missing upstream", Duration::from_secs(30), || async {
        (platform.req("GET", "/health/ready").send().await.status == 503).then_some(())
    })
    .await;
    // Other upstreams still answer.
    assert_eq!(platform.req("GET", "/api/v1/movies/1").send().await.status, 200);

    platform.upstreams.restart_ratings().await;
    let back = eventually("the ratings service answers again", Duration::from_secs(30), || async {
        let answer = platform.req("GET", "/api/v1/me/ratings").token(&ann).send().await;
        (answer.status == 200).then_some(answer)
    })
    .await;
    assert_eq!(back.body["total"].as_u64(), Some(1), "{back:?}");
    wait_ready(&platform).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ratings_are_the_callers_own_and_a_movies_page_has_the_mean() {
    let platform = Platform::start().await;
    let ((ann, _), (bob, _)) = (platform.sign_up("ann").await, platform.sign_up("bob").await);
    let put = |token: &str, movie: &str, body: serde_json::Value| {
        platform.req("PUT", &format!("/api/v1/me/ratings/{movie}")).token(token).json(body)
    };
    let created = put(&ann, "1", serde_json::json!({"rating": 4.5, "review": "fun"})).send().await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!((created.body["movie_id"].as_u64(), created.body["review"].as_str()), (Some(1), Some("fun")));
    assert_eq!(
        put(&ann, "1", serde_json::json!({"rating": 3.0})).send().await.status,
        200,
        "a change is 200"
    );
    assert_eq!(put(&bob, "1", serde_json::json!({"rating": 5.0})).send().await.status, 201);

    // Each user sees only their own; the movie's page has both, with the mean.
    let mine = platform.req("GET", "/api/v1/me/ratings").token(&ann).send().await;
    assert_eq!(
        (mine.body["total"].as_u64(), mine.body["ratings"][0]["rating"].as_f64()),
        (Some(1), Some(3.0)),
        "{mine:?}"
    );
    let movie = platform.req("GET", "/api/v1/movies/1/ratings").send().await;
    assert_eq!(
        (movie.body["total"].as_u64(), movie.body["mean"].as_f64()),
        (Some(2), Some(4.0)),
        "{movie:?}"
    );

    // Deleting: 204, then 404; bob's rating stays.
    assert_eq!(platform.req("DELETE", "/api/v1/me/ratings/1").token(&ann).send().await.status, 204);
    assert_problem(&platform.req("DELETE", "/api/v1/me/ratings/1").token(&ann).send().await, 404);
    let movie = platform.req("GET", "/api/v1/movies/1/ratings").send().await;
    assert_eq!(
        (movie.body["total"].as_u64(), movie.body["mean"].as_f64()),
        (Some(1), Some(5.0)),
        "{movie:?}"
    );
}
