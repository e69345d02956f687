//! The platform behind the gateway, in-process on port 0 over the real servers `scripts/test`
//! starts: users (MongoDB-protocol server), ratings (Redis, events to Kafka), movies
//! (PostgreSQL, S3, the ml-100k catalogue imported), serving (an implicit ALS model of ml-100k
//! trained once per test binary, rating and preference events from Kafka, cache on Redis); and
//! an HTTP client that speaks to the gateway like a browser or a partner would.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use artifacts::{Artifact, Metadata, MovieInfo, TrainedModel};
use contract::token::JwtSecret;
use datasets::DatasetName;
use engine::als::ImplicitAlsParams;
use engine::{Duplicates, FitContext, Interaction, InteractionLog, Params};
use events::kafka::KafkaPublisher;
use service_common::ServiceSettings;
use service_common::testing::server_url;
use sqlx::Connection;

/// The users service's token secret in these tests.
pub const SECRET: &str = "gateway-tests-secret-0123456789abcdef";

/// The token secret.
pub fn secret() -> JwtSecret {
    JwtSecret::new(SECRET.as_bytes()).unwrap()
}

/// A name no other test uses.
pub fn unique(tag: &str) -> String {
    format!("{tag}_{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// ml-100k's ratings and catalogue.
fn ml100k() -> &'static (InteractionLog, Vec<MovieInfo>) {
    static DATA: OnceLock<(InteractionLog, Vec<MovieInfo>)> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = datasets::checkout_data_dir();
        let ratings = datasets::load_ratings(&dir, DatasetName::Ml100k)
            .unwrap_or_else(|e| panic!("ml-100k under {} (CINEREC_DATA_DIR): {e}", dir.display()));
        let mut log = InteractionLog::new();
        for r in &ratings {
            log.push(r.user_id, r.movie_id, r.rating, r.timestamp);
        }
        let movies = datasets::load_movies(&dir, DatasetName::Ml100k)
            .unwrap()
            .into_iter()
            .map(|m| MovieInfo { movie_id: m.movie_id, title: m.title, year: m.year, genres: m.genres })
            .collect();
        (log, movies)
    })
}

/// An implicit ALS model of ml-100k's ratings ≥ 4, trained once per test binary.
pub fn model() -> &'static Artifact {
    static MODEL: OnceLock<Artifact> = OnceLock::new();
    MODEL.get_or_init(|| {
        let (log, movies) = ml100k();
        let matrix = |positive: bool| {
            let entries: Vec<Interaction> = log
                .entries
                .iter()
                .filter(|e| (e.value >= 4.0) == positive)
                .map(|e| Interaction { value: if positive { 1.0 } else { e.value }, ..*e })
                .collect();
            log.interactions_of(&entries, Duplicates::KeepLatest).unwrap()
        };
        let data = matrix(true);
        let params =
            ImplicitAlsParams { factors: 16, iterations: 4, seed: 1, ..Default::default() }.check().unwrap();
        let model = engine::als::fit(&params, &data, &FitContext::new()).unwrap();
        let mut meta = Metadata::new("ml-100k ratings >= 4 (gateway tests)".to_string(), None);
        meta.metrics = BTreeMap::new();
        Artifact {
            model: TrainedModel::ImplicitAls(model),
            users: log.users.clone(),
            items: log.items.clone(),
            seen: data.user_items().clone(),
            also_seen: matrix(false).into_user_items(),
            movies: movies.clone(),
            meta,
            upgraded_from: None,
        }
    })
}

/// A stop button for an in-process service.
pub struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    fn spawn<E: std::fmt::Debug + Send + 'static>(
        run: impl FnOnce(
            std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
        ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), E>> + Send>>,
    ) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = run(Box::pin(async {
            let _ = stopped.await;
        }));
        let task = tokio::spawn(async move {
            served.await.expect("the service stops cleanly");
        });
        Self { stop: Some(stop), task }
    }

    /// Stops the service and waits until it has.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let _ = (&mut self.task).await;
    }
}

/// Event topics of one platform.
#[derive(Clone, Debug)]
pub struct Topics {
    /// Rating events.
    pub ratings: String,
    /// Preference changes.
    pub preferences: String,
    /// Deleted users.
    pub deleted: String,
    /// Impressions.
    pub served: String,
    /// Client activity.
    pub activity: String,
    /// Request logs.
    pub requests: String,
}

/// The four services behind a gateway.
pub struct Upstreams {
    /// Their addresses, for the gateway.
    pub urls: gateway::upstream::UpstreamUrls,
    /// The topics they use.
    pub topics: Topics,
    /// The ratings service's Redis prefix and address (to restart it).
    ratings_prefix: String,
    /// The running services.
    pub running: Vec<(&'static str, Running)>,
    _model_dir: tempfile::TempDir,
}

/// Test Kafka brokers.
pub fn kafka() -> String {
    server_url("CINEREC_TEST_KAFKA_BROKERS")
}

/// Test Redis.
pub fn redis() -> String {
    server_url("CINEREC_TEST_REDIS_URL")
}

async fn start_ratings(prefix: &str, topic: &str, listen: SocketAddr) -> (SocketAddr, Running) {
    let mut config = ratings::Config::local(&redis(), prefix, &kafka(), topic);
    config.service.listen = listen;
    let app = ratings::Application::build(config).await.unwrap();
    let movies: Vec<contract::MovieId> =
        ml100k().1.iter().map(|m| contract::MovieId::parse(m.movie_id, "movie_id").unwrap()).collect();
    ratings::RatingStore::add_movies(&*app.store(), &movies).await.unwrap();
    let addr = app.addr();
    (addr, Running::spawn(move |stop| Box::pin(app.run_until(stop))))
}

async fn fresh_database() -> String {
    let admin_url = server_url("CINEREC_TEST_POSTGRES_URL");
    let name = unique("gateway_test");
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.expect("connecting to the test PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await.unwrap();
    admin.close().await.unwrap();
    format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0)
}

async fn start_movies(topic: &str) -> (SocketAddr, Running) {
    let mut settings = movies::PgSettings::new(movies::Secret::new(fresh_database().await));
    settings.max_connections = 5;
    let store = movies::PgMovieStore::connect(&settings).await.unwrap();
    importer::movies::import_movies(&store, &datasets::checkout_data_dir(), DatasetName::Ml100k)
        .await
        .unwrap();
    let bucket = unique("gateway-test").replace('_', "-");
    let mut connection = artifacts::S3Connection::new(
        server_url("CINEREC_TEST_S3_ACCESS_KEY"),
        server_url("CINEREC_TEST_S3_SECRET_KEY"),
    );
    connection.endpoint = Some(server_url("CINEREC_TEST_S3_ENDPOINT"));
    let media = movies::S3Media::new(&movies::S3MediaSettings::new(&bucket, connection)).unwrap();
    media.client().create_bucket().bucket(&bucket).send().await.unwrap();
    let relay = movies::RelaySettings {
        topic: topic.to_owned(),
        poll: Duration::from_millis(100),
        ..Default::default()
    };
    let options = movies::AppOptions { service: ServiceSettings::loopback(), relay };
    let app =
        movies::Application::from_parts(options, store, media, events::MemoryPublisher::new()).await.unwrap();
    let addr = app.addr();
    (addr, Running::spawn(move |stop| Box::pin(app.run_until(stop))))
}

impl Upstreams {
    /// Starts users, ratings, movies and serving with fresh databases, prefixes and topics.
    pub async fn start() -> Self {
        let topics = Topics {
            ratings: unique("gw-ratings"),
            preferences: unique("gw-preferences"),
            deleted: unique("gw-deleted"),
            served: unique("gw-served"),
            activity: unique("gw-activity"),
            requests: unique("gw-requests"),
        };
        let event_topics = service_common::EventTopics {
            ratings: topics.ratings.clone(),
            user_preferences: topics.preferences.clone(),
            user_deleted: topics.deleted.clone(),
            movies: unique("gw-movies"),
            ..service_common::EventTopics::default()
        };
        events::kafka::ensure_topics(
            &kafka(),
            &[
                &topics.ratings,
                &topics.preferences,
                &topics.deleted,
                &topics.served,
                &topics.activity,
                &topics.requests,
            ],
        )
        .await
        .unwrap();

        let mut users_config =
            users::Config::local(&server_url("CINEREC_TEST_MONGO_URL"), &unique("gateway_it"), secret());
        users_config.kafka_brokers = kafka();
        users_config.topics = event_topics.clone();
        let users =
            users::Application::build(&users_config, KafkaPublisher::new(&kafka()).unwrap()).await.unwrap();
        let users_addr = users.local_addr();
        let users = Running::spawn(move |stop| Box::pin(users.run_until(stop)));

        let ratings_prefix = unique("gateway-it");
        let (ratings_addr, ratings) =
            start_ratings(&ratings_prefix, &topics.ratings, ([127, 0, 0, 1], 0).into()).await;
        let (movies_addr, movies) = start_movies(&event_topics.movies).await;

        let model_dir = tempfile::tempdir().unwrap();
        let store = artifacts::open_store(model_dir.path().to_str().unwrap(), None).unwrap();
        store.put_artifact(model()).await.unwrap();
        let mut serving_config = serving::ServingConfig::for_tests("unused: the store is passed");
        serving_config.redis_url = serving::RedisUrl::new(redis());
        serving_config.cache_prefix = unique("gateway-it-cache");
        serving_config.kafka_brokers = kafka();
        serving_config.topics = event_topics;
        let serving = serving::Application::build_with_store(serving_config, store).await.unwrap();
        let serving_addr = serving.addr();
        let serving = Running::spawn(move |stop| Box::pin(serving.run_until_stopped(stop)));

        let url = |addr: SocketAddr| format!("http://{addr}");
        Self {
            urls: gateway::upstream::UpstreamUrls {
                users: url(users_addr),
                ratings: url(ratings_addr),
                movies: url(movies_addr),
                serving: url(serving_addr),
            },
            topics,
            ratings_prefix,
            running: vec![("users", users), ("ratings", ratings), ("movies", movies), ("serving", serving)],
            _model_dir: model_dir,
        }
    }

    /// Stops the ratings service (its port is then closed).
    pub async fn stop_ratings(&mut self) {
        let i = self.running.iter().position(|(name, _)| *name == "ratings").unwrap();
        self.running.remove(i).1.stop().await;
    }

    /// Starts the ratings service again on its old port, over the same data.
    pub async fn restart_ratings(&mut self) {
        let listen: SocketAddr = self.urls.ratings.trim_start_matches("http://").parse().unwrap();
        let (_, ratings) = start_ratings(&self.ratings_prefix, &self.topics.ratings, listen).await;
        self.running.push(("ratings", ratings));
    }
}

/// A running gateway.
pub struct Gateway {
    /// API address.
    pub addr: SocketAddr,
    /// `/metrics` address.
    pub metrics: SocketAddr,
    _running: Running,
}

/// The gateway's configuration for `upstreams` with test defaults (generous limits, the test
/// topic for impressions).
pub fn gateway_config(upstreams: &Upstreams) -> gateway::Config {
    let mut config: gateway::Config = service_common::parse_with_default_ports(
        service_common::Service::Gateway,
        None,
        ["cinerec-gateway", "--jwt-secret", SECRET],
    )
    .unwrap();
    config.service = ServiceSettings::loopback();
    config.users_url = upstreams.urls.users.clone();
    config.ratings_url = upstreams.urls.ratings.clone();
    config.movies_url = upstreams.urls.movies.clone();
    config.serving_url = upstreams.urls.serving.clone();
    config.max_body_bytes = 4096;
    config.kafka_brokers = kafka();
    config.topics.recommendations_served = upstreams.topics.served.clone();
    config.topics.activity = upstreams.topics.activity.clone();
    config.topics.request_logs = upstreams.topics.requests.clone();
    config.rate_limit_anonymous = "10000/s".parse().unwrap();
    config.rate_limit_user = "10000/s".parse().unwrap();
    config.rate_limit_key = "10000/s".parse().unwrap();
    config
}

impl Gateway {
    /// Starts a gateway with `config`.
    pub async fn start(config: &gateway::Config) -> Self {
        let app = gateway::Application::build(config).await.unwrap();
        let (addr, metrics) = (app.addr(), app.metrics_addr());
        let running = Running::spawn(move |stop| Box::pin(app.run_until(stop)));
        Self { addr, metrics, _running: running }
    }
}

/// The platform and one gateway in front of it.
pub struct Platform {
    /// The services.
    pub upstreams: Upstreams,
    /// The gateway.
    pub gateway: Gateway,
}

impl Platform {
    /// Everything with the default test gateway.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Everything, the gateway's configuration changed by `change`.
    pub async fn start_with(change: impl FnOnce(&mut gateway::Config)) -> Self {
        let upstreams = Upstreams::start().await;
        let mut config = gateway_config(&upstreams);
        change(&mut config);
        let gateway = Gateway::start(&config).await;
        Self { upstreams, gateway }
    }

    /// A request to this platform's gateway.
    pub fn req(&self, method: &'static str, path: &str) -> Req {
        Req::new(self.gateway.addr, method, path)
    }

    /// Registers `name` and returns (token, user id).
    pub async fn sign_up(&self, name: &str) -> (String, u64) {
        let account = serde_json::json!({"username": name, "email": format!("{name}@example.org"), "password": "correct horse"});
        let created = self.req("POST", "/api/v1/auth/register").json(account).send().await;
        assert_eq!(created.status, 201, "{created:?}");
        let login = serde_json::json!({"login": name, "password": "correct horse"});
        let login = self.req("POST", "/api/v1/auth/login").json(login).send().await;
        assert_eq!(login.status, 200, "{login:?}");
        (login.body["token"].as_str().unwrap().to_owned(), login.body["user_id"].as_u64().unwrap())
    }
}

/// One HTTP exchange's outcome.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Response headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The body as JSON (a JSON string when it is not JSON).
    pub body: serde_json::Value,
}

impl Answer {
    /// The value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A request being built.
#[derive(Debug, Clone)]
pub struct Req {
    url: String,
    method: &'static str,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl Req {
    /// `method url` to the gateway at `addr`.
    pub fn new(addr: SocketAddr, method: &'static str, path: &str) -> Self {
        Self { url: format!("http://{addr}{path}"), method, headers: vec![], body: None }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn token(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// A JSON body.
    pub fn json(self, body: serde_json::Value) -> Self {
        self.raw("application/json", body.to_string().into_bytes())
    }

    /// A form body (`application/x-www-form-urlencoded`) from the site itself (its `Origin`).
    pub fn form(self, fields: &[(&str, &str)]) -> Self {
        let origin = self.url.split('/').take(3).collect::<Vec<_>>().join("/");
        let body: String = fields
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.bytes()
                        .map(|b| if b.is_ascii_alphanumeric() {
                            (b as char).to_string()
                        } else {
                            format!("%{b:02X}")
                        })
                        .collect::<String>()
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        self.header("origin", &origin).raw("application/x-www-form-urlencoded", body.into_bytes())
    }

    /// A body of `content_type`.
    pub fn raw(mut self, content_type: &str, body: Vec<u8>) -> Self {
        self.headers.push(("content-type".into(), content_type.into()));
        self.body = Some(body);
        self
    }

    /// Sends it (blocking client on the blocking pool).
    pub async fn send(self) -> Answer {
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .into();
            let mut builder = ureq::http::Request::builder().method(self.method).uri(&self.url);
            for (name, value) in &self.headers {
                builder = builder.header(name, value);
            }
            let request = builder.body(self.body.unwrap_or_default()).unwrap();
            let mut response = agent.run(request).expect("the gateway answers");
            let headers = response
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
                .collect();
            let status = response.status().as_u16();
            let text = response.body_mut().read_to_string().unwrap_or_default();
            let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
            Answer { status, headers, body }
        })
        .await
        .unwrap()
    }
}

/// Checks a problem document: status, media type, request id matching the header.
pub fn assert_problem(answer: &Answer, status: u16) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(answer.header("content-type"), Some("application/problem+json"), "{answer:?}");
    assert_eq!(answer.body["status"], status, "{answer:?}");
    assert!(answer.body["request_id"].is_string(), "{answer:?}");
    assert_eq!(answer.body["request_id"].as_str(), answer.header("x-request-id"), "{answer:?}");
}

/// The `errors[].field` names of a problem document.
pub fn fields(answer: &Answer) -> Vec<String> {
    answer.body["errors"].as_array().map_or_else(Vec::new, |errors| {
        errors.iter().filter_map(|e| e["field"].as_str().map(str::to_owned)).collect()
    })
}

/// Polls `probe` until it returns `Some` (at most `within`).
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the gateway reports ready (every upstream answers its health check).
pub async fn wait_ready(platform: &Platform) {
    eventually("the gateway is ready", Duration::from_secs(60), || async {
        (platform.req("GET", "/health/ready").send().await.status == 200).then_some(())
    })
    .await;
}

/// Seconds since the Unix epoch.
pub fn now_s() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The movie ids of a recommendation list.
pub fn ids(list: &serde_json::Value) -> Vec<u64> {
    list["movies"].as_array().unwrap().iter().map(|m| m["movie_id"].as_u64().unwrap()).collect()
}

/// Reads `topic` from the start until `wanted` finds what it waits for (at most 60 s).
pub async fn find_event<T>(topic: &str, mut wanted: impl FnMut(&[u8]) -> Option<T>) -> T {
    let subscriber = events::kafka::KafkaSubscriber::new(&kafka(), &unique("gw-reader"), &[topic]).unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let event = tokio::time::timeout_at(deadline, subscriber.next())
            .await
            .unwrap_or_else(|_| panic!("the awaited event did not arrive on {topic}"))
            .unwrap();
        if let Some(found) = wanted(&event.payload) {
            return found;
        }
    }
}
