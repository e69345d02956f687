//! Events through Kafka into the warehouse: every topic's kind reaches its report; the same
//! events published again change nothing; with the warehouse unreachable mid-stream the
//! consumer pauses (not ready, `cinerec_analytics_consumer_paused 1`) and, once it is back,
//! every event is stored exactly once.

use std::net::SocketAddr;
use std::time::Duration;

use events::EventPublisher;
use events::kafka::KafkaPublisher;
use prost::Message;
use proto::events::v1::{
    ActivityRecorded, MovieChange, MovieEvent, RatingChange, RatingEvent, RecommendationServed,
    RequestLogged, ServedMovie,
};
use tokio::net::{TcpListener, TcpStream};

use super::{Running, config, eventually, fresh_database, send};

const DAY_MS: i64 = 86_400_000;
/// 2026-12-04 12:00 UTC.
const NOON: i64 = 20_791 * DAY_MS + 12 * 3_600_000;

struct Topics {
    group: String,
    ratings: String,
    movies: String,
    served: String,
    requests: String,
    activity: String,
    preferences: String,
    deleted: String,
}

impl Topics {
    fn fresh() -> Self {
        let unique = |kind: &str| format!("analytics-it-{kind}-{}", uuid::Uuid::new_v4().simple());
        Self {
            group: unique("group"),
            ratings: unique("ratings"),
            movies: unique("movies"),
            served: unique("served"),
            requests: unique("requests"),
            activity: unique("activity"),
            preferences: unique("preferences"),
            deleted: unique("deleted"),
        }
    }

    fn flags(&self, brokers: &str) -> Vec<String> {
        [
            ("--kafka-brokers", brokers),
            ("--kafka-group", &self.group),
            ("--ratings-topic", &self.ratings),
            ("--movies-topic", &self.movies),
            ("--recommendations-served-topic", &self.served),
            ("--request-logs-topic", &self.requests),
            ("--activity-topic", &self.activity),
            ("--user-preferences-topic", &self.preferences),
            ("--user-deleted-topic", &self.deleted),
            ("--ingest-linger", "20ms"),
        ]
        .iter()
        .flat_map(|(flag, value)| [flag.to_string(), value.to_string()])
        .collect()
    }
}

/// One served list of `n` movies with a click at position 0 and a 4.5 rating of that movie
/// afterwards, one request log, and the movies' catalogue events: (topic, key, payload)s.
fn story(topics: &Topics, k: u64) -> Vec<(String, String, Vec<u8>)> {
    let user = 100 + k;
    let rec = format!("rec-{k}");
    let mut out = Vec::new();
    let served = RecommendationServed {
        event_id: format!("served-{k}"),
        recommendation_id: rec.clone(),
        user_id: user,
        model_version: "v7".into(),
        source: "model".into(),
        surface: "me".into(),
        movies: (0..3).map(|p| ServedMovie { movie_id: 1 + p as u64, position: p }).collect(),
        timestamp_ms: NOON + k as i64,
        ..RecommendationServed::default()
    };
    out.push((topics.served.clone(), user.to_string(), served.encode_to_vec()));
    let click = ActivityRecorded {
        event_id: format!("click-{k}"),
        event_type: "click".into(),
        occurred_at_ms: NOON + 1000 + k as i64,
        user_id: user,
        recommendation_id: rec,
        movie_id: 1,
        position: Some(0),
        context_json: "{}".into(),
        ..ActivityRecorded::default()
    };
    out.push((topics.activity.clone(), user.to_string(), click.encode_to_vec()));
    let rating = RatingEvent {
        event_id: format!("rating-{k}"),
        user_id: user,
        movie_id: 1,
        rating: 4.5,
        timestamp_ms: NOON + 5000 + k as i64,
        change: RatingChange::Created.into(),
    };
    out.push((topics.ratings.clone(), user.to_string(), rating.encode_to_vec()));
    let request = RequestLogged {
        event_id: format!("request-{k}"),
        route: "/api/v1/me/recommendations".into(),
        method: "GET".into(),
        status: 200,
        latency_ms: 1.0 + k as f64,
        request_id: format!("req-{k}"),
        timestamp_ms: NOON + k as i64,
    };
    out.push((topics.requests.clone(), format!("req-{k}"), request.encode_to_vec()));
    out
}

fn catalogue(topics: &Topics) -> Vec<(String, String, Vec<u8>)> {
    (1..=3u64)
        .map(|m| {
            let event = MovieEvent {
                event_id: format!("movie-{m}"),
                movie_id: m,
                change: MovieChange::Created.into(),
                title: format!("Movie {m}"),
                timestamp_ms: NOON - DAY_MS,
                genres: vec!["Drama".into()],
                year: 1999,
            };
            (topics.movies.clone(), m.to_string(), event.encode_to_vec())
        })
        .collect()
}

async fn publish(publisher: &KafkaPublisher, events: &[(String, String, Vec<u8>)]) {
    for (topic, key, payload) in events {
        publisher.publish(topic, key, payload.clone()).await.unwrap();
    }
}

/// (impressions, clicks, rated ≥ 4 share) of v7/me, and the stored rating events of the day.
async fn funnel(addr: SocketAddr) -> Option<(i64, i64, f64, i64)> {
    let base = format!("http://{addr}/api/v1/reports");
    let funnel = send("GET", format!("{base}/funnel?from=2026-12-04&to=2026-12-04"), None, None).await.json();
    let row = funnel["tables"]["by_model_version"].as_array()?.first()?.clone();
    let overview =
        send("GET", format!("{base}/overview?from=2026-12-04&to=2026-12-04"), None, None).await.json();
    let ratings = overview["tables"]["events_by_type"]
        .as_array()?
        .iter()
        .find(|r| r["bucket"] == "all" && r["event_type"] == "rating")?["events"]
        .as_i64()?;
    Some((
        row["impressions"].as_i64()?,
        row["clicks"].as_i64()?,
        row["rated_4_plus_after_click"].as_f64()?,
        ratings,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_from_every_topic_reach_the_reports_once() {
    let brokers = service_common::testing::server_url("CINEREC_TEST_KAFKA_BROKERS");
    let topics = Topics::fresh();
    let flags = topics.flags(&brokers);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let app = Running::start(config(&fresh_database().await, &flags)).await;
    let publisher = KafkaPublisher::new(&brokers).unwrap();
    publish(&publisher, &catalogue(&topics)).await;
    let mut events = Vec::new();
    for k in 0..20 {
        events.extend(story(&topics, k));
    }
    publish(&publisher, &events).await;
    // 20 lists of 3: 60 impressions, 20 clicks each followed by a 4.5 rating.
    let want = (60, 20, 1.0, 20);
    let got = eventually("the events in the reports", Duration::from_secs(60), async || {
        funnel(app.addr).await.filter(|got| *got == want)
    })
    .await;
    assert_eq!(got, want);
    let base = format!("http://{}/api/v1/reports", app.addr);
    let top = send("GET", format!("{base}/top-movies?from=2026-12-04&to=2026-12-04&genre=Drama"), None, None)
        .await
        .json();
    assert_eq!(
        top["tables"]["top"][0]["title"], "Movie 1",
        "the movies dimension came from MovieEvents: {top}"
    );
    let perf =
        send("GET", format!("{base}/performance?from=2026-12-04&to=2026-12-04"), None, None).await.json();
    assert_eq!(perf["tables"]["by_route"][0]["requests"], 20, "{perf}");

    // The same events again (a redelivery): once they are consumed, nothing changed.
    publish(&publisher, &events).await;
    let metrics = app.metrics;
    eventually("the redelivered events to be consumed", Duration::from_secs(60), async || {
        let page = service_common::testing::scrape_metrics(metrics).await;
        page.lines()
            .find(|l| l.starts_with("cinerec_analytics_events_duplicate_total "))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .filter(|n| *n >= 80.0)
    })
    .await;
    assert_eq!(funnel(app.addr).await, Some(want), "a redelivery changes no report");
    app.stop().await;
}

/// A TCP proxy to PostgreSQL that can be cut (listener closed, connections dropped) and
/// restored on the same port: the warehouse as analytics sees it going away and coming back.
struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut proxy = Self { addr, upstream, task: None };
        proxy.serve(listener);
        proxy
    }

    fn serve(&mut self, listener: TcpListener) {
        let upstream = self.upstream;
        self.task = Some(tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        }));
    }

    /// Closes the port and every connection through it.
    async fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    async fn restore(&mut self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }
}

fn paused(page: &str) -> Option<f64> {
    page.lines()
        .find(|l| l.starts_with("cinerec_analytics_consumer_paused "))?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warehouse_outage_pauses_consumption_and_loses_nothing() {
    let brokers = service_common::testing::server_url("CINEREC_TEST_KAFKA_BROKERS");
    let url = fresh_database().await;
    let (before_host, rest) = url.split_once('@').unwrap();
    let (host_port, database) = rest.split_once('/').unwrap();
    let mut proxy = Proxy::start(host_port.parse().unwrap()).await;
    let proxied = format!("{before_host}@{}/{database}", proxy.addr);

    let topics = Topics::fresh();
    let flags = topics.flags(&brokers);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let app = Running::start(config(&proxied, &flags)).await;
    let publisher = KafkaPublisher::new(&brokers).unwrap();
    let mut first = Vec::new();
    for k in 0..10 {
        first.extend(story(&topics, k));
    }
    publish(&publisher, &first).await;
    eventually("the first events", Duration::from_secs(60), async || {
        funnel(app.addr).await.filter(|f| f.0 == 30)
    })
    .await;

    proxy.cut().await;
    let mut second = Vec::new();
    for k in 10..30 {
        second.extend(story(&topics, k));
    }
    publish(&publisher, &second).await;
    let metrics = app.metrics;
    eventually("the consumer to pause on the failing warehouse", Duration::from_secs(60), async || {
        let page = service_common::testing::scrape_metrics(metrics).await;
        (paused(&page) == Some(1.0)).then_some(())
    })
    .await;
    let api = app.addr;
    eventually("readiness to report the outage", Duration::from_secs(30), async || {
        let ready = service_common::testing::http_get(api, "/health/ready").await;
        (!ready.starts_with("HTTP/1.1 200")).then_some(())
    })
    .await;

    proxy.restore().await;
    // Lists, clicks and ratings come from three topics, stored in their own batches: wait until
    // each has reached its count (a duplicate would then show as a count above it).
    let got = eventually("every event after the outage", Duration::from_secs(90), async || {
        funnel(app.addr).await.filter(|f| f.0 >= 90 && f.1 >= 30 && f.3 >= 30)
    })
    .await;
    assert_eq!(got, (90, 30, 1.0, 30), "30 lists of 3, 30 clicks, 30 ratings: nothing lost, nothing twice");
    let page = service_common::testing::scrape_metrics(metrics).await;
    assert_eq!(paused(&page), Some(0.0));
    app.stop().await;
}
