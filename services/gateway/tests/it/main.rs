//! The gateway against real users and ratings services (in-process on port 0, over the
//! MongoDB-protocol server and Redis `scripts/test` starts), spoken to over HTTP like a browser
//! or a partner would: the account flow, ratings, every 401 case, problem documents naming
//! fields, body limits and types, readiness and metrics.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use contract::token::{Claims, JwtSecret, sign};
use events::MemoryPublisher;
use service_common::ServiceSettings;

const SECRET: &str = "gateway-tests-secret-0123456789abcdef";

fn secret() -> JwtSecret {
    JwtSecret::new(SECRET.as_bytes()).unwrap()
}

/// A users service and a gateway in front of it; both stop when this is dropped.
struct Platform {
    gateway: SocketAddr,
    gateway_metrics: SocketAddr,
    _stops: Vec<tokio::sync::oneshot::Sender<()>>,
}

async fn platform() -> Platform {
    let database = format!("gateway_it_{}", uuid::Uuid::new_v4().simple());
    let users_config = users::Config::local(
        &service_common::testing::server_url("CINEREC_TEST_MONGO_URL"),
        &database,
        secret(),
    );
    let users = users::Application::build(&users_config, Arc::new(MemoryPublisher::new())).await.unwrap();
    let users_addr = users.local_addr();
    let (users_stop, users_stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(users.run_until(async {
        let _ = users_stopped.await;
    }));
    let prefix = format!("gateway-it-{}", uuid::Uuid::new_v4().simple());
    let redis = service_common::testing::server_url("CINEREC_TEST_REDIS_URL");
    let ratings_config = ratings::Config::local(&redis, &prefix, "unused:9092", "ratings-test");
    let ratings = ratings::Application::with_publisher(ratings_config, MemoryPublisher::new()).await.unwrap();
    let movies: Vec<contract::MovieId> =
        (1..=20).map(|id| contract::MovieId::parse(id, "movie_id").unwrap()).collect();
    ratings::RatingStore::add_movies(&*ratings.store(), &movies).await.unwrap();
    let ratings_addr = ratings.addr();
    let (ratings_stop, ratings_stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(ratings.run_until(async {
        let _ = ratings_stopped.await;
    }));
    let config = gateway::Config {
        service: ServiceSettings::loopback(),
        users_url: format!("http://{users_addr}"),
        ratings_url: format!("http://{ratings_addr}"),
        jwt_secret: secret(),
        upstream_deadline: Duration::from_secs(2),
        max_body_bytes: 4096,
    };
    let app = gateway::Application::build(&config).await.unwrap();
    let (gateway, gateway_metrics) = (app.addr(), app.metrics_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    Platform { gateway, gateway_metrics, _stops: vec![users_stop, ratings_stop, stop] }
}

/// One HTTP exchange's outcome.
#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    www_authenticate: Option<String>,
    request_id: Option<String>,
    body: serde_json::Value,
}

/// Sends `method path` with optional bearer token, content type and body (blocking client on
/// the blocking pool).
async fn call(
    addr: SocketAddr,
    method: &'static str,
    path: &str,
    token: Option<&str>,
    content_type: Option<&'static str>,
    body: Option<String>,
) -> Answer {
    let url = format!("http://{addr}{path}");
    let token = token.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let authorization = token.map(|token| format!("Bearer {token}"));
        let mut response = match method {
            "GET" | "DELETE" => {
                let mut request = if method == "GET" { agent.get(&url) } else { agent.delete(&url) };
                if let Some(authorization) = &authorization {
                    request = request.header("authorization", authorization);
                }
                request.call()
            }
            _ => {
                let mut request = match method {
                    "PUT" => agent.put(&url),
                    "PATCH" => agent.patch(&url),
                    _ => agent.post(&url),
                };
                if let Some(authorization) = &authorization {
                    request = request.header("authorization", authorization);
                }
                if let Some(content_type) = content_type {
                    request = request.header("content-type", content_type);
                }
                request.send(body.unwrap_or_default())
            }
        }
        .expect("the gateway answers");
        let header =
            |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (content_type, www_authenticate, request_id) =
            (header("content-type").unwrap_or_default(), header("www-authenticate"), header("x-request-id"));
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        Answer { status, content_type, www_authenticate, request_id, body }
    })
    .await
    .unwrap()
}

/// Registers `name` and returns a token.
async fn token_for(addr: SocketAddr, name: &str) -> String {
    let account = serde_json::json!({"username": name, "email": format!("{name}@example.org"), "password": "correct horse"});
    assert_eq!(post_json(addr, "/api/v1/auth/register", account).await.status, 201);
    let login = post_json(
        addr,
        "/api/v1/auth/login",
        serde_json::json!({"login": name, "password": "correct horse"}),
    )
    .await;
    login.body["token"].as_str().unwrap().to_owned()
}

async fn put_rating(addr: SocketAddr, token: &str, movie: &str, body: serde_json::Value) -> Answer {
    let path = format!("/api/v1/me/ratings/{movie}");
    call(addr, "PUT", &path, Some(token), Some("application/json"), Some(body.to_string())).await
}

async fn post_json(addr: SocketAddr, path: &str, body: serde_json::Value) -> Answer {
    call(addr, "POST", path, None, Some("application/json"), Some(body.to_string())).await
}

fn assert_problem(answer: &Answer, status: u16) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(answer.content_type, "application/problem+json", "{answer:?}");
    assert_eq!(answer.body["status"], status, "{answer:?}");
    assert!(answer.body["request_id"].is_string(), "{answer:?}");
    assert_eq!(answer.body["request_id"].as_str(), answer.request_id.as_deref(), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_log_in_and_read_the_own_profile() {
    let platform = platform().await;
    let addr = platform.gateway;
    let ann = serde_json::json!({"username": "ann", "email": "ann@example.org", "password": "correct horse"});
    let created = post_json(addr, "/api/v1/auth/register", ann.clone()).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.body["username"], "ann");
    assert!(created.body.get("password").is_none() && !created.body.to_string().contains("argon2"));
    let taken = post_json(addr, "/api/v1/auth/register", ann).await;
    assert_problem(&taken, 409);

    let login = serde_json::json!({"login": "ann", "password": "correct horse"});
    let token = post_json(addr, "/api/v1/auth/login", login).await;
    assert_eq!(token.status, 200, "{token:?}");
    let token = token.body["token"].as_str().unwrap().to_owned();
    let me = call(addr, "GET", "/api/v1/me", Some(&token), None, None).await;
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(
        (me.body["username"].as_str(), me.body["email"].as_str()),
        (Some("ann"), Some("ann@example.org"))
    );
    assert!(me.request_id.is_some(), "every answer carries a request id");

    let wrong =
        post_json(addr, "/api/v1/auth/login", serde_json::json!({"login": "ann", "password": "wrong one"}))
            .await;
    assert_problem(&wrong, 401);

    let page = service_common::testing::scrape_metrics(platform.gateway_metrics).await;
    service_common::testing::assert_lines(
        &page,
        &[
            r#"cinerec_http_requests_total{service="gateway",route="/api/v1/me",status="200"} 1"#,
            r#"cinerec_http_requests_total{service="gateway",route="/api/v1/auth/register",status="409"} 1"#,
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_token_is_401_with_www_authenticate() {
    let platform = platform().await;
    let addr = platform.gateway;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let claims = |exp: i64| Claims { sub: "1000001".into(), username: "ann".into(), iat: now - 10, exp };
    let good = sign(&secret(), &claims(now + 600));
    let expired = sign(&secret(), &claims(now - 1));
    let foreign =
        sign(&JwtSecret::new(b"another-secret-0123456789abcdef-xyz".to_vec()).unwrap(), &claims(now + 600));
    let (header, rest) = good.split_once('.').unwrap();
    let (payload, _signature) = rest.split_once('.').unwrap();
    let tampered = format!("{header}.{payload}.AAAA");
    let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
    let alg_none = format!("{none_header}.{payload}.");
    for (what, token) in [
        ("no token", None),
        ("expired", Some(expired.as_str())),
        ("foreign secret", Some(foreign.as_str())),
        ("tampered", Some(tampered.as_str())),
        ("alg none", Some(alg_none.as_str())),
        ("garbage", Some("not-a-token")),
    ] {
        let answer = call(addr, "GET", "/api/v1/me", token, None, None).await;
        assert_problem(&answer, 401);
        let challenge = answer.www_authenticate.unwrap_or_default();
        assert!(challenge.starts_with("Bearer realm=\"cinerec\""), "{what}: {challenge}");
    }
    // The good token passes authentication (its user does not exist in this database: 404).
    let answer = call(addr, "GET", "/api/v1/me", Some(&good), None, None).await;
    assert_problem(&answer, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_get_problem_documents_naming_what_is_wrong() {
    let platform = platform().await;
    let addr = platform.gateway;
    // The users service's BadRequest details become errors[] entries naming each field.
    let bad = serde_json::json!({"username": "A!", "email": "ann@example.org", "password": "correct horse"});
    let answer = post_json(addr, "/api/v1/auth/register", bad).await;
    assert_problem(&answer, 400);
    assert_eq!(answer.body["errors"][0]["field"], "username", "{answer:?}");
    assert!(answer.body["errors"][0]["reason"].as_str().unwrap().contains("3 to 32"), "{answer:?}");

    let malformed =
        call(addr, "POST", "/api/v1/auth/login", None, Some("application/json"), Some("{\"login\":".into()))
            .await;
    assert_problem(&malformed, 400);
    let unknown_field = post_json(
        addr,
        "/api/v1/auth/login",
        serde_json::json!({"login": "a", "password": "b", "admin": true}),
    )
    .await;
    assert_problem(&unknown_field, 400);
    assert!(
        unknown_field.body["errors"][0]["reason"].as_str().unwrap().contains("admin"),
        "{unknown_field:?}"
    );
    let wrong_type =
        call(addr, "POST", "/api/v1/auth/login", None, Some("text/plain"), Some("login=a".into())).await;
    assert_problem(&wrong_type, 415);
    let huge = serde_json::json!({"login": "a".repeat(10_000), "password": "b"});
    let too_large = post_json(addr, "/api/v1/auth/login", huge).await;
    assert_problem(&too_large, 413);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_once_the_upstream_answers_its_health_check() {
    let platform = platform().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let answer = call(platform.gateway, "GET", "/health/ready", None, None, None).await;
        if answer.status == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never ready: {answer:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(call(platform.gateway, "GET", "/health/live", None, None, None).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ratings_are_the_callers_own_and_bad_values_name_their_field() {
    let platform = platform().await;
    let addr = platform.gateway;
    let (ann, bob) = (token_for(addr, "ann").await, token_for(addr, "bob").await);
    let created = put_rating(addr, &ann, "1", serde_json::json!({"rating": 4.5, "review": "fun"})).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!((created.body["movie_id"].as_u64(), created.body["rating"].as_f64()), (Some(1), Some(4.5)));
    let changed = put_rating(addr, &ann, "1", serde_json::json!({"rating": 3.0})).await;
    assert_eq!(changed.status, 200, "{changed:?}");
    assert_eq!(put_rating(addr, &bob, "1", serde_json::json!({"rating": 5.0})).await.status, 201);

    // Each user sees only their own; the movie's page has both, with the mean.
    let mine = call(addr, "GET", "/api/v1/me/ratings", Some(&ann), None, None).await;
    assert_eq!((mine.status, mine.body["total"].as_u64()), (200, Some(1)), "{mine:?}");
    assert_eq!(mine.body["ratings"][0]["rating"].as_f64(), Some(3.0));
    let movie = call(addr, "GET", "/api/v1/movies/1/ratings", None, None, None).await;
    assert_eq!(
        (movie.body["total"].as_u64(), movie.body["mean"].as_f64()),
        (Some(2), Some(4.0)),
        "{movie:?}"
    );

    // Bad values: each a 400 naming the field (from the ratings service's BadRequest details).
    let bad = put_rating(addr, &ann, "2", serde_json::json!({"rating": 4.2})).await;
    assert_problem(&bad, 400);
    assert_eq!(bad.body["errors"][0]["field"], "rating", "{bad:?}");
    for movie in ["abc", "0", "999"] {
        let answer = put_rating(addr, &ann, movie, serde_json::json!({"rating": 4.0})).await;
        assert_problem(&answer, 400);
        assert_eq!(answer.body["errors"][0]["field"], "movie_id", "{movie}: {answer:?}");
    }
    let unknown_query = call(addr, "GET", "/api/v1/me/ratings?page=2", Some(&ann), None, None).await;
    assert_problem(&unknown_query, 400);
    assert_problem(&put_rating(addr, "not-a-token", "1", serde_json::json!({"rating": 4.0})).await, 401);

    // Deleting: 204, then 404; bob's rating stays.
    assert_eq!(call(addr, "DELETE", "/api/v1/me/ratings/1", Some(&ann), None, None).await.status, 204);
    assert_problem(&call(addr, "DELETE", "/api/v1/me/ratings/1", Some(&ann), None, None).await, 404);
    let movie = call(addr, "GET", "/api/v1/movies/1/ratings", None, None, None).await;
    assert_eq!(
        (movie.body["total"].as_u64(), movie.body["mean"].as_f64()),
        (Some(1), Some(5.0)),
        "{movie:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_profile_and_preferences_are_changed_and_the_account_deleted_by_its_owner() {
    let platform = platform().await;
    let addr = platform.gateway;
    let ann = token_for(addr, "ann").await;
    let json = |value: serde_json::Value| Some(value.to_string());
    let send = |method, path: &'static str, token: String, body: Option<String>| async move {
        call(addr, method, path, Some(&token), Some("application/json"), body).await
    };
    let renamed =
        send("PATCH", "/api/v1/me", ann.clone(), json(serde_json::json!({"display_name": "Ann L."}))).await;
    assert_eq!((renamed.status, renamed.body["display_name"].as_str()), (200, Some("Ann L.")), "{renamed:?}");
    assert_eq!(renamed.body["email"], "ann@example.org", "an absent field stays");
    let bad_email =
        send("PATCH", "/api/v1/me", ann.clone(), json(serde_json::json!({"email": "not-an-email"}))).await;
    assert_problem(&bad_email, 400);
    assert_eq!(bad_email.body["errors"][0]["field"], "email", "{bad_email:?}");

    let preferences = serde_json::json!({"favourite_genres": ["Drama", "Cooking"], "languages": [], "blocked_movie_ids": [7]});
    let refused = send("PUT", "/api/v1/me/preferences", ann.clone(), json(preferences)).await;
    assert_problem(&refused, 400);
    assert_eq!(refused.body["errors"][0]["field"], "preferences.favourite_genres[1]", "{refused:?}");
    let preferences =
        serde_json::json!({"favourite_genres": ["drama"], "languages": ["en"], "blocked_movie_ids": [7]});
    let stored = send("PUT", "/api/v1/me/preferences", ann.clone(), json(preferences)).await;
    assert_eq!(stored.status, 200, "{stored:?}");
    let read = call(addr, "GET", "/api/v1/me/preferences", Some(&ann), None, None).await;
    assert_eq!(
        read.body,
        serde_json::json!({"favourite_genres": ["Drama"], "languages": ["en"], "blocked_movie_ids": [7]})
    );

    assert_eq!(call(addr, "DELETE", "/api/v1/me", Some(&ann), None, None).await.status, 204);
    // The token is still well-signed, but its account is gone.
    assert_problem(&call(addr, "GET", "/api/v1/me", Some(&ann), None, None).await, 404);
    let login = post_json(
        addr,
        "/api/v1/auth/login",
        serde_json::json!({"login": "ann", "password": "correct horse"}),
    )
    .await;
    assert_problem(&login, 401);
}
