//! Rate limits: a flood from one client is refused with 429, `Retry-After` and the `RateLimit`
//! headers while another client goes on; two gateways sharing Redis spend one budget; with
//! Redis down the local limiter decides. These need no upstream: the limiter answers before
//! any handler, and `GET /api/v1/openapi.json` calls none.

use crate::helpers::{Gateway, Req, assert_problem, redis};

/// A gateway whose upstreams are not running (addresses nothing listens on).
fn config(change: impl FnOnce(&mut gateway::Config)) -> gateway::Config {
    let mut config: gateway::Config = service_common::parse_with_default_ports(
        service_common::Service::Gateway,
        None,
        ["cinerec-gateway", "--jwt-secret", crate::helpers::SECRET, "--kafka-brokers", ""],
    )
    .unwrap();
    config.service = service_common::ServiceSettings::loopback();
    for url in
        [&mut config.users_url, &mut config.ratings_url, &mut config.movies_url, &mut config.serving_url]
    {
        *url = format!("http://127.0.0.1:{}", service_common::testing::free_port());
    }
    change(&mut config);
    config
}

fn from(gateway: &Gateway, client: &str) -> Req {
    Req::new(gateway.addr, "GET", "/api/v1/openapi.json").header("x-forwarded-for", client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_client_is_refused_while_another_goes_on() {
    let gateway = Gateway::start(&config(|c| {
        c.rate_limit_anonymous = "3/m".parse().unwrap();
        c.trusted_proxies = "127.0.0.1/32".parse().unwrap();
    }))
    .await;
    let mut answers = Vec::new();
    for _ in 0..5 {
        answers.push(from(&gateway, "203.0.113.7").send().await);
    }
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    assert_eq!(answers[0].header("ratelimit-policy"), Some("\"anonymous\";q=3;w=60"));
    assert_eq!(
        answers[1].header("ratelimit").map(|h| h.starts_with("\"anonymous\";r=1;")),
        Some(true),
        "{:?}",
        answers[1]
    );
    let refused = &answers[3];
    assert_problem(refused, 429);
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "one request costs 20 s: {retry}");
    // A second client (another address behind the trusted proxy) is unaffected.
    assert_eq!(from(&gateway, "203.0.113.8").send().await.status, 200);
    // X-Forwarded-For is believed only from trusted proxies: the refused client cannot escape
    // by naming another address behind an untrusted hop it adds itself.
    assert_eq!(from(&gateway, "198.51.100.1, 203.0.113.7").send().await.status, 429);
    let page = service_common::testing::scrape_metrics(gateway.metrics).await;
    service_common::testing::assert_lines(
        &page,
        &[r#"cinerec_gateway_rate_limited_total{tier="anonymous"} 3"#],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_sharing_redis_enforce_one_budget() {
    let shared = |c: &mut gateway::Config| {
        c.rate_limit_anonymous = "4/m".parse().unwrap();
        c.trusted_proxies = "127.0.0.1/32".parse().unwrap();
        c.rate_limit_redis = contract::SecretUrl::new(redis());
        // A loaded test machine must not turn a slow answer into a local decision.
        c.rate_limit_redis_timeout = std::time::Duration::from_secs(2);
    };
    let (one, two) = (Gateway::start(&config(shared)).await, Gateway::start(&config(shared)).await);
    // A client address no other run uses: the budget in Redis is fresh.
    let client = format!("2001:db8::{:x}", rand_suffix());
    let mut statuses = Vec::new();
    for i in 0..6 {
        let gateway = if i % 2 == 0 { &one } else { &two };
        statuses.push(from(gateway, &client).send().await.status);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429], "one budget of 4 across both replicas");
    for gateway in [&one, &two] {
        let page = service_common::testing::scrape_metrics(gateway.metrics).await;
        service_common::testing::assert_lines(&page, &["cinerec_gateway_rate_limit_fallbacks_total 0"]);
    }
    // Without the shared limiter each replica would have allowed 4 on its own.
    let local = |c: &mut gateway::Config| {
        c.rate_limit_anonymous = "4/m".parse().unwrap();
        c.trusted_proxies = "127.0.0.1/32".parse().unwrap();
    };
    let (three, four) = (Gateway::start(&config(local)).await, Gateway::start(&config(local)).await);
    let mut statuses = Vec::new();
    for i in 0..6 {
        let gateway = if i % 2 == 0 { &three } else { &four };
        statuses.push(from(gateway, &client).send().await.status);
    }
    assert_eq!(statuses, [200; 6]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_the_local_limiter_decides_and_is_counted() {
    let down = format!("redis://127.0.0.1:{}", service_common::testing::free_port());
    let gateway = Gateway::start(&config(|c| {
        c.rate_limit_anonymous = "2/m".parse().unwrap();
        c.rate_limit_redis = contract::SecretUrl::new(down);
    }))
    .await;
    let statuses: Vec<u16> = {
        let mut res = Vec::new();
        for _ in 0..3 {
            res.push(Req::new(gateway.addr, "GET", "/api/v1/openapi.json").send().await.status);
        }
        res
    };
    assert_eq!(statuses, [200, 200, 429]);
    let page = service_common::testing::scrape_metrics(gateway.metrics).await;
    service_common::testing::assert_lines(&page, &["cinerec_gateway_rate_limit_fallbacks_total 3"]);
}

fn rand_suffix() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32 & 0xffff
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_the_configured_origins_only() {
    let gateway = Gateway::start(&config(|c| c.cors_origins = vec!["https://app.example".into()])).await;
    let preflight = |origin: &str| {
        Req::new(gateway.addr, "OPTIONS", "/api/v1/me/ratings/1")
            .header("origin", origin)
            .header("access-control-request-method", "PUT")
            .header("access-control-request-headers", "authorization, content-type")
    };
    let allowed = preflight("https://app.example").send().await;
    assert_eq!(allowed.header("access-control-allow-origin"), Some("https://app.example"), "{allowed:?}");
    assert!(allowed.header("access-control-allow-methods").is_some_and(|m| m.contains("PUT")), "{allowed:?}");
    let refused = preflight("https://evil.example").send().await;
    assert_eq!(refused.header("access-control-allow-origin"), None, "{refused:?}");
    let simple = Req::new(gateway.addr, "GET", "/api/v1/openapi.json")
        .header("origin", "https://app.example")
        .send()
        .await;
    assert_eq!(simple.header("access-control-allow-origin"), Some("https://app.example"));
    assert!(
        simple.header("access-control-expose-headers").is_some_and(|h| h.contains("x-request-id")),
        "{simple:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_speaks_http2_without_tls_too() {
    let gateway = Gateway::start(&config(|_| {})).await;
    let stream = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("an HTTP/2 (prior knowledge) connection");
    tokio::spawn(connection);
    let request = hyper::Request::get(format!("http://{}/api/v1/openapi.json", gateway.addr))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!((response.version(), response.status()), (hyper::Version::HTTP_2, hyper::StatusCode::OK));
    let body = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
    assert!(body.starts_with(b"{\"openapi\":\"3.1"), "{:?}", &body[..40.min(body.len())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_pages_share_the_limits_and_their_assets_do_not_count() {
    let gateway = Gateway::start(&config(|c| c.rate_limit_anonymous = "2/m".parse().unwrap())).await;
    for _ in 0..5 {
        assert_eq!(Req::new(gateway.addr, "GET", "/static/app.css").send().await.status, 200);
    }
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(Req::new(gateway.addr, "GET", "/search").send().await);
    }
    assert_eq!(answers.iter().map(|a| a.status).collect::<Vec<_>>(), [200, 200, 429]);
    let refused = &answers[2];
    assert!(refused.header("content-type").is_some_and(|t| t.starts_with("text/html")), "{refused:?}");
    assert!(
        refused.header("retry-after").is_some()
            && refused.body.as_str().unwrap().contains("too many requests")
    );
}
