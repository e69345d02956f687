//! `cinerec-loadgen`: a load generator for the recommendation service, the movies service and
//! the REST gateway in front of them, closed or open loop.
//!
//! For each concurrency level it opens that many clients (each with its own HTTP/2 connection
//! unless `--connections` caps them), each sending one request at a time, until `--requests`
//! requests are done or `--duration` has passed. Closed loop (the default): each client sends
//! its next request when the previous one returns, and latency is measured from the send. Open
//! loop (`--rate R`): a scheduler thread releases requests at R per second in all, dealt round
//! robin to the clients; a client that is still busy queues them, and latency is measured from
//! the *scheduled* send time, so a slow answer also counts against the requests it held up (no
//! coordinated omission). The table then shows the offered rate and the p99 lag from schedule
//! to send (the generator's own lateness plus queueing behind a busy client). User ids are drawn (seeded) from the users of
//! the model in `--store`, the same store the server reads. It talks to loopback addresses
//! only. `--method model-info` measures the gRPC round trip without engine work; `--method
//! in-process` runs the same queries in this process without gRPC, for comparison.
//!
//! The gateway's cost is measured as a pair in the same run: `--method recommend` (gRPC to
//! serving) against `--method rest-recommend` (`GET /api/v1/me/recommendations` through
//! `--gateway`, with tokens signed for the drawn users by `--jwt-secret`), and `--method
//! get-movie` (gRPC `GetMovie` to `--movies`) against `--method rest-movie`
//! (`GET /api/v1/movies/{id}`); movie ids are drawn from the model's catalogue. Each REST client
//! keeps one HTTP/1.1 connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use proto::movies::v1 as movies_pb;
use proto::movies::v1::movies_service_client::MoviesServiceClient;
use proto::recommendation::v1 as pb;
use proto::recommendation::v1::recommendation_service_client::RecommendationServiceClient;
use tonic::transport::{Channel, Endpoint};

use service_common::parse_duration;
use serving::loaded_model::{ModelState, RecommendQuery, Scoring};

/// What each request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// `Recommend` for a random known user (top `--n`, seen movies left out).
    Recommend,
    /// `ModelInfo`: the gRPC round trip with no engine work.
    ModelInfo,
    /// The same query as `recommend`, called in this process (no gRPC, no cache).
    InProcess,
    /// `GetMovie` of a random movie, over gRPC to the movies service.
    GetMovie,
    /// `GET /api/v1/me/recommendations?n=` through the gateway, as a random known user.
    RestRecommend,
    /// `GET /api/v1/movies/{id}` through the gateway.
    RestMovie,
}

impl Method {
    /// Whether requests name movies (else users).
    fn by_movie(self) -> bool {
        matches!(self, Self::GetMovie | Self::RestMovie)
    }

    /// The name in the table.
    fn label(self) -> &'static str {
        match self {
            Self::Recommend => "Recommend (gRPC)",
            Self::ModelInfo => "ModelInfo (gRPC)",
            Self::InProcess => "in-process",
            Self::GetMovie => "GetMovie (gRPC)",
            Self::RestRecommend => "GET /me/recommendations",
            Self::RestMovie => "GET /movies/{id}",
        }
    }
}

/// `cinerec-loadgen`'s flags.
#[derive(Clone, Debug, Parser)]
#[command(name = "cinerec-loadgen", version, about = "Load generator for cinerec-serve (loopback only)")]
pub struct LoadgenConfig {
    /// The server's gRPC address; must resolve to loopback addresses only.
    #[arg(long, env = "CINEREC_LOADGEN_TARGET", default_value = "127.0.0.1:50051")]
    pub target: String,
    /// The movies service's gRPC address (`--method get-movie`).
    #[arg(long = "movies", env = "CINEREC_LOADGEN_MOVIES", default_value = "127.0.0.1:50054")]
    pub movies: String,
    /// The gateway's HTTP address (`--method rest-*`).
    #[arg(long = "gateway", env = "CINEREC_LOADGEN_GATEWAY", default_value = "127.0.0.1:8080")]
    pub gateway: String,
    /// The users service's token secret, to sign tokens for the drawn users
    /// (`--method rest-recommend`); never printed.
    #[arg(long, env = "CINEREC_JWT_SECRET", hide_env_values = true, default_value = "")]
    pub jwt_secret: String,
    /// The model store the server reads, for the user ids (and the in-process model).
    #[arg(long = "store", env = "CINEREC_MODEL_STORE", default_value = "./models")]
    pub store: String,
    /// The S3 connection of an `s3://` model store.
    #[command(flatten)]
    pub s3: s3_client::S3Args,
    /// Concurrent clients, one run per value (`1,16,64`).
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub concurrency: Vec<usize>,
    /// Requests per run (the run also stops at `--duration`).
    #[arg(long, default_value_t = 100_000)]
    pub requests: u64,
    /// Longest run.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// HTTP/2 connections shared by the clients (0: one per client).
    #[arg(long, default_value_t = 0)]
    pub connections: usize,
    /// What each request is.
    #[arg(long, value_enum, default_value_t = Method::Recommend)]
    pub method: Method,
    /// Movies per recommendation.
    #[arg(long, default_value_t = 10)]
    pub n: u32,
    /// Distinct users drawn from the model (0: all of them).
    #[arg(long, default_value_t = 10_000)]
    pub users: usize,
    /// Request every drawn user once before the runs (fills the server's cache).
    #[arg(long)]
    pub warm: bool,
    /// Seed of the user draw.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Scoring of the in-process model (`--method in-process`).
    #[arg(long, value_enum, default_value_t = Scoring::Quantized)]
    pub scoring: Scoring,
    /// Worker threads of the load generator's runtime.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Open loop: offered requests per second in all, spread over the clients (0: closed loop).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
}

/// Why a load test could not run.
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    /// The target is not a loopback address.
    #[error(
        "--target {target} resolves to {addr}, which is not a loopback address: the load generator only targets this machine"
    )]
    NotLoopback {
        /// The target as given.
        target: String,
        /// The offending address.
        addr: SocketAddr,
    },
    /// The target cannot be resolved.
    #[error("--target {target}: {source}")]
    Resolve {
        /// The target as given.
        target: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// The store has no model or cannot be read.
    #[error("model store: {0}")]
    Store(String),
    /// Connecting failed.
    #[error("connecting to {addr}: {source}")]
    Connect {
        /// The address.
        addr: SocketAddr,
        /// tonic's error.
        source: tonic::transport::Error,
    },
    /// The warm-up pass failed.
    #[error("warm-up request failed: {0}")]
    Warmup(tonic::Status),
    /// An HTTP connection to the gateway failed.
    #[error("connecting to the gateway at {addr}: {reason}")]
    Http {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        reason: String,
    },
    /// Flags that do not go together.
    #[error("{0}")]
    Usage(String),
}

/// One run's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct RunReport {
    /// Concurrent clients.
    pub concurrency: usize,
    /// Requests completed (successful or not).
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Responses flagged `cached`.
    pub cached: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Latency percentiles (open loop: from the scheduled send time).
    pub latency: Percentiles,
    /// Open loop: the offered rate, requests per second.
    pub offered: Option<f64>,
    /// Open loop: percentiles of the lag from the scheduled to the actual send.
    pub send_lag: Percentiles,
}

impl RunReport {
    /// Completed requests per second.
    pub fn throughput(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Latency percentiles.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest.
    pub max: Duration,
}

impl Percentiles {
    /// Percentiles of latencies in nanoseconds (sorted in place); nearest-rank definition.
    pub fn of(latencies_ns: &mut [u64]) -> Self {
        if latencies_ns.is_empty() {
            return Self::default();
        }
        latencies_ns.sort_unstable();
        let rank = |p: f64| {
            let idx = ((p * latencies_ns.len() as f64).ceil() as usize).clamp(1, latencies_ns.len()) - 1;
            Duration::from_nanos(latencies_ns[idx])
        };
        Self { p50: rank(0.50), p90: rank(0.90), p99: rank(0.99), max: rank(1.0) }
    }
}

/// Resolves `target`, refusing anything that is not loopback.
pub async fn loopback_target(target: &str) -> Result<SocketAddr, LoadgenError> {
    let resolve = |source| LoadgenError::Resolve { target: target.to_string(), source };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(target).await.map_err(resolve)?.collect();
    if let Some(&addr) = addrs.iter().find(|a| !a.ip().is_loopback()) {
        return Err(LoadgenError::NotLoopback { target: target.to_string(), addr });
    }
    addrs.first().copied().ok_or_else(|| resolve(std::io::Error::other("no address")))
}

/// `count` user ids drawn without replacement from `users` (all of them for 0), seeded.
pub fn draw_users(users: &[u64], count: usize, seed: u64) -> Vec<u64> {
    let mut res = users.to_vec();
    let count = if count == 0 { res.len() } else { count.min(res.len()) };
    let mut state = seed;
    for i in 0..count {
        let j = i + (splitmix(&mut state) % (res.len() - i) as u64) as usize;
        res.swap(i, j);
    }
    res.truncate(count);
    res
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Runs every concurrency level of `config` and returns one report per level.
pub async fn run(config: &LoadgenConfig) -> Result<Vec<RunReport>, LoadgenError> {
    if !(config.rate.is_finite() && config.rate >= 0.0) {
        return Err(LoadgenError::Usage(format!(
            "--rate must be 0 or a positive number, got {}",
            config.rate
        )));
    }
    if config.rate > 0.0 && config.method == Method::InProcess {
        return Err(LoadgenError::Usage("--rate applies to the gRPC methods, not in-process".into()));
    }
    let store = artifacts::open_store(&config.store, config.s3.connection().as_ref())
        .map_err(|e| LoadgenError::Store(e.to_string()))?;
    let (version, artifact) = store
        .load_latest()
        .await
        .map_err(|e| LoadgenError::Store(e.to_string()))?
        .ok_or_else(|| LoadgenError::Store(format!("{store} has no model")))?;
    let ids = if config.method.by_movie() { artifact.items.as_slice() } else { artifact.users.as_slice() };
    let users = Arc::new(draw_users(ids, config.users, config.seed));
    if config.method == Method::InProcess {
        let scoring = config.scoring;
        let model = Arc::new(
            tokio::task::spawn_blocking(move || ModelState::prepare(version, artifact, scoring))
                .await
                .map_err(|e| LoadgenError::Store(e.to_string()))?
                .map_err(|e| LoadgenError::Store(e.to_string()))?,
        );
        let mut res = Vec::new();
        for &concurrency in &config.concurrency {
            res.push(in_process(config, &model, &users, concurrency).await);
        }
        return Ok(res);
    }
    drop(artifact);
    let serving_addr = loopback_target(&config.target).await?;
    if config.warm && !config.method.by_movie() {
        let client = RecommendationServiceClient::new(connect(&endpoint(serving_addr), serving_addr).await?);
        for &user_id in users.iter() {
            client.clone().recommend(request(user_id, config.n)).await.map_err(LoadgenError::Warmup)?;
        }
    }
    let target = match config.method {
        Method::GetMovie => loopback_target(&config.movies).await?,
        Method::RestRecommend | Method::RestMovie => loopback_target(&config.gateway).await?,
        _ => serving_addr,
    };
    let tokens = match config.method {
        Method::RestRecommend => Arc::new(tokens(&config.jwt_secret, &users)?),
        _ => Arc::default(),
    };
    let mut res = Vec::new();
    for &concurrency in &config.concurrency {
        res.push(over_the_wire(config, target, &users, &tokens, concurrency).await?);
    }
    Ok(res)
}

fn endpoint(addr: SocketAddr) -> Endpoint {
    Endpoint::from_shared(format!("http://{addr}"))
        .expect("a socket address is a valid URI")
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
}

/// `Authorization` header values for `users` (an hour's tokens), in the same order.
fn tokens(secret: &str, users: &[u64]) -> Result<Vec<String>, LoadgenError> {
    let secret = contract::token::JwtSecret::new(secret.as_bytes())
        .map_err(|e| LoadgenError::Usage(format!("--jwt-secret (needed by rest-recommend): {e}")))?;
    let now = contract::token::now_unix();
    users
        .iter()
        .map(|&user| {
            let id = contract::UserId::parse(user, "user")
                .map_err(|e| LoadgenError::Usage(format!("user {user}: {}", e.reason)))?;
            let (token, _) = contract::token::issue(
                &secret,
                id,
                &format!("loadgen-{user}"),
                now,
                Duration::from_secs(3600),
            );
            Ok(format!("Bearer {token}"))
        })
        .collect()
}

/// One client's connection.
enum Conn {
    Serving(RecommendationServiceClient<Channel>),
    Movies(MoviesServiceClient<Channel>),
    Rest(hyper::client::conn::http1::SendRequest<http_body_util::Empty<bytes::Bytes>>),
}

impl Conn {
    /// Sends one request about `id` (a user or a movie); `Ok(cached)` when it succeeded.
    async fn send(
        &mut self,
        method: Method,
        id: u64,
        n: u32,
        authorization: Option<&str>,
    ) -> Result<bool, ()> {
        match self {
            Self::Serving(client) => match method {
                Method::ModelInfo => {
                    client.model_info(pb::ModelInfoRequest {}).await.map(|_| false).map_err(drop)
                }
                _ => client.recommend(request(id, n)).await.map(|r| r.get_ref().cached).map_err(drop),
            },
            Self::Movies(client) => client
                .get_movie(movies_pb::GetMovieRequest { movie_id: id })
                .await
                .map(|_| false)
                .map_err(drop),
            Self::Rest(sender) => {
                let uri = match method {
                    Method::RestMovie => format!("/api/v1/movies/{id}"),
                    _ => format!("/api/v1/me/recommendations?n={n}"),
                };
                let mut request = hyper::Request::get(uri).header(hyper::header::HOST, "loadgen");
                if let Some(authorization) = authorization {
                    request = request.header(hyper::header::AUTHORIZATION, authorization);
                }
                let request = request.body(http_body_util::Empty::new()).map_err(drop)?;
                sender.ready().await.map_err(drop)?;
                let response = sender.send_request(request).await.map_err(drop)?;
                let ok = response.status() == hyper::StatusCode::OK;
                http_body_util::BodyExt::collect(response.into_body()).await.map_err(drop)?;
                if ok { Ok(false) } else { Err(()) }
            }
        }
    }
}

/// An HTTP/1.1 connection to the gateway, its driver on its own task.
async fn rest_connection(addr: SocketAddr) -> Result<Conn, LoadgenError> {
    let fail = |reason: String| LoadgenError::Http { addr, reason };
    let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| fail(e.to_string()))?;
    stream.set_nodelay(true).map_err(|e| fail(e.to_string()))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(|e| fail(e.to_string()))?;
    tokio::spawn(connection);
    Ok(Conn::Rest(sender))
}

async fn connect(endpoint: &Endpoint, addr: SocketAddr) -> Result<Channel, LoadgenError> {
    endpoint.connect().await.map_err(|source| LoadgenError::Connect { addr, source })
}

fn request(user_id: u64, n: u32) -> pb::RecommendRequest {
    pb::RecommendRequest { user_id, n, ..Default::default() }
}

/// Shared budget of one run.
struct Budget {
    issued: AtomicU64,
    limit: u64,
    deadline: Instant,
}

impl Budget {
    fn take(&self) -> bool {
        Instant::now() < self.deadline && self.issued.fetch_add(1, Ordering::Relaxed) < self.limit
    }
}

/// What one client saw.
#[derive(Default)]
struct ClientTally {
    latencies_ns: Vec<u64>,
    /// Open loop: scheduled → actual send.
    lags_ns: Vec<u64>,
    errors: u64,
    cached: u64,
}

/// Releases `limit` send times at `rate` per second from `start` until `deadline`, dealt round
/// robin to `clients` (runs on its own thread: `std::thread::sleep` wakes within tens of
/// microseconds, the async timer only to the millisecond). Every send time already due at a
/// wake-up is released at once.
fn schedule(
    clients: Vec<tokio::sync::mpsc::UnboundedSender<Instant>>,
    rate: f64,
    start: Instant,
    deadline: Instant,
    limit: u64,
) {
    let mut next = 0u64;
    while next < limit {
        let due = start + Duration::from_secs_f64(next as f64 / rate);
        if due >= deadline {
            break;
        }
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
            continue;
        }
        if clients[(next % clients.len() as u64) as usize].send(due).is_err() {
            break;
        }
        next += 1;
    }
}

async fn over_the_wire(
    config: &LoadgenConfig,
    addr: SocketAddr,
    ids: &Arc<Vec<u64>>,
    tokens: &Arc<Vec<String>>,
    concurrency: usize,
) -> Result<RunReport, LoadgenError> {
    let method = config.method;
    let rest = matches!(method, Method::RestRecommend | Method::RestMovie);
    let connections =
        if config.connections == 0 || rest { concurrency } else { config.connections.min(concurrency) };
    let mut conns = Vec::with_capacity(concurrency);
    if rest {
        for _ in 0..concurrency {
            conns.push(rest_connection(addr).await?);
        }
    } else {
        let mut channels = Vec::with_capacity(connections);
        for _ in 0..connections {
            channels.push(connect(&endpoint(addr), addr).await?);
        }
        for client_idx in 0..concurrency {
            let channel = channels[client_idx % connections].clone();
            conns.push(match method {
                Method::GetMovie => Conn::Movies(MoviesServiceClient::new(channel)),
                _ => Conn::Serving(RecommendationServiceClient::new(channel)),
            });
        }
    }
    let started = Instant::now();
    let deadline = started + config.duration;
    let budget = Arc::new(Budget { issued: AtomicU64::new(0), limit: config.requests, deadline });
    let open_loop = config.rate > 0.0;
    let mut senders = Vec::with_capacity(concurrency);
    let mut tasks = Vec::with_capacity(concurrency);
    for (client_idx, mut conn) in conns.into_iter().enumerate() {
        let (budget, ids, tokens, n) = (budget.clone(), ids.clone(), tokens.clone(), config.n);
        let mut state = config.seed ^ (client_idx as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d);
        let (tx, mut schedule) = tokio::sync::mpsc::unbounded_channel::<Instant>();
        senders.push(tx);
        tasks.push(tokio::spawn(async move {
            let mut tally = ClientTally::default();
            loop {
                // Closed loop: now, while the budget lasts; open loop: the next scheduled time.
                let scheduled = match open_loop {
                    false if budget.take() => None,
                    false => break,
                    true => match schedule.recv().await {
                        Some(at) => Some(at),
                        None => break,
                    },
                };
                let pick = (splitmix(&mut state) % ids.len() as u64) as usize;
                let authorization = tokens.get(pick).map(String::as_str);
                let sent = Instant::now();
                let outcome = conn.send(method, ids[pick], n, authorization).await;
                let done = Instant::now();
                // Never earlier than the actual send, so the latency is not understated.
                let from = scheduled.map_or(sent, |at| at.min(sent));
                tally.latencies_ns.push((done - from).as_nanos() as u64);
                if let Some(at) = scheduled {
                    tally.lags_ns.push(sent.saturating_duration_since(at).as_nanos() as u64);
                }
                match outcome {
                    Ok(cached) => tally.cached += u64::from(cached),
                    Err(_) => tally.errors += 1,
                }
            }
            tally
        }));
    }
    let scheduler = open_loop.then(|| {
        let (rate, limit) = (config.rate, config.requests);
        std::thread::spawn(move || schedule(senders, rate, started, deadline, limit))
    });
    let mut all = ClientTally::default();
    for task in tasks {
        let tally = task.await.expect("load generator client task");
        all.latencies_ns.extend(tally.latencies_ns);
        all.lags_ns.extend(tally.lags_ns);
        all.errors += tally.errors;
        all.cached += tally.cached;
    }
    if let Some(scheduler) = scheduler {
        scheduler.join().expect("the scheduler thread");
    }
    let mut res = report(concurrency, all, started.elapsed());
    res.offered = open_loop.then_some(config.rate);
    Ok(res)
}

async fn in_process(
    config: &LoadgenConfig,
    model: &Arc<ModelState>,
    users: &Arc<Vec<u64>>,
    concurrency: usize,
) -> RunReport {
    let started = Instant::now();
    let budget = Arc::new(Budget {
        issued: AtomicU64::new(0),
        limit: config.requests,
        deadline: started + config.duration,
    });
    let mut tasks = Vec::with_capacity(concurrency);
    for client_idx in 0..concurrency {
        let (budget, users, model, n) = (budget.clone(), users.clone(), model.clone(), config.n as usize);
        let mut state = config.seed ^ (client_idx as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d);
        tasks.push(tokio::task::spawn_blocking(move || {
            let mut tally = ClientTally::default();
            while budget.take() {
                let user_id = users[(splitmix(&mut state) % users.len() as u64) as usize];
                let query = RecommendQuery::plain(user_id, model.user_idx(user_id), n);
                let sent = Instant::now();
                let ok = model.recommend(&query, n).is_ok();
                tally.latencies_ns.push(sent.elapsed().as_nanos() as u64);
                tally.errors += u64::from(!ok);
            }
            tally
        }));
    }
    let mut all = ClientTally::default();
    for task in tasks {
        let tally = task.await.expect("in-process client task");
        all.latencies_ns.extend(tally.latencies_ns);
        all.errors += tally.errors;
    }
    report(concurrency, all, started.elapsed())
}

fn report(concurrency: usize, mut tally: ClientTally, elapsed: Duration) -> RunReport {
    RunReport {
        concurrency,
        requests: tally.latencies_ns.len() as u64,
        errors: tally.errors,
        cached: tally.cached,
        elapsed,
        latency: Percentiles::of(&mut tally.latencies_ns),
        offered: None,
        send_lag: Percentiles::of(&mut tally.lags_ns),
    }
}

/// The reports as a Markdown table (open-loop runs add the offered rate and the send lag).
pub fn table(method: Method, reports: &[RunReport]) -> String {
    let ms = |d: Duration| format!("{:.3}", d.as_secs_f64() * 1000.0);
    let method = method.label();
    let open_loop = reports.iter().any(|r| r.offered.is_some());
    let mut res = String::from("| method | clients | cache hits | requests | errors |");
    res.push_str(if open_loop { " offered req/s | req/s |" } else { " req/s |" });
    res.push_str(" p50 ms | p90 ms | p99 ms | max ms |");
    res.push_str(if open_loop { " lag p99 ms |\n" } else { "\n" });
    res.push_str("|---|---:|---:|---:|---:|");
    res.push_str(if open_loop { "---:|---:|" } else { "---:|" });
    res.push_str("---:|---:|---:|---:|");
    res.push_str(if open_loop { "---:|\n" } else { "\n" });
    for r in reports {
        let hits = format!("{:.0}%", 100.0 * r.cached as f64 / r.requests.max(1) as f64);
        res.push_str(&format!("| {method} | {} | {hits} | {} | {} |", r.concurrency, r.requests, r.errors));
        if open_loop {
            res.push_str(&format!(" {:.0} |", r.offered.unwrap_or(0.0)));
        }
        res.push_str(&format!(
            " {:.0} | {} | {} | {} | {} |",
            r.throughput(),
            ms(r.latency.p50),
            ms(r.latency.p90),
            ms(r.latency.p99),
            ms(r.latency.max)
        ));
        if open_loop {
            res.push_str(&format!(" {} |", ms(r.send_lag.p99)));
        }
        res.push('\n');
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut ns: Vec<u64> = (1..=100).rev().collect();
        let p = Percentiles::of(&mut ns);
        assert_eq!(
            (p.p50, p.p90, p.p99, p.max),
            (
                Duration::from_nanos(50),
                Duration::from_nanos(90),
                Duration::from_nanos(99),
                Duration::from_nanos(100)
            )
        );
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
    }

    #[test]
    fn user_draws_are_seeded_and_distinct() {
        let users: Vec<u64> = (1..=1000).collect();
        let a = draw_users(&users, 100, 7);
        assert_eq!(a, draw_users(&users, 100, 7));
        assert_ne!(a, draw_users(&users, 100, 8));
        let mut unique = a.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 100);
        assert_eq!(draw_users(&users, 0, 1).len(), 1000);
    }

    #[tokio::test]
    async fn the_schedule_releases_the_offered_rate_round_robin_until_the_deadline() {
        let (tx_a, mut a) = tokio::sync::mpsc::unbounded_channel();
        let (tx_b, mut b) = tokio::sync::mpsc::unbounded_channel();
        let start = Instant::now();
        let deadline = start + Duration::from_millis(100);
        // 1,000 req/s for 100 ms: 100 send times, 1 ms apart, alternating between the clients.
        std::thread::spawn(move || schedule(vec![tx_a, tx_b], 1000.0, start, deadline, u64::MAX));
        let (mut times_a, mut times_b) = (Vec::new(), Vec::new());
        while let Some(at) = a.recv().await {
            times_a.push(at);
        }
        while let Some(at) = b.recv().await {
            times_b.push(at);
        }
        assert_eq!((times_a.len(), times_b.len()), (50, 50));
        assert_eq!(times_a[1] - times_a[0], Duration::from_millis(2));
        assert_eq!(times_b[0] - times_a[0], Duration::from_millis(1));
        assert!(Instant::now() >= start + Duration::from_millis(99), "released no earlier than due");
        // The request limit stops it first (its own deadline is an hour away, however long the
        // part above took on a loaded machine).
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let now = Instant::now();
        std::thread::spawn(move || schedule(vec![tx], 1e6, now, now + Duration::from_secs(3600), 7));
        let mut count = 0;
        while rx.recv().await.is_some() {
            count += 1;
        }
        assert_eq!(count, 7);
    }

    #[tokio::test]
    async fn only_loopback_targets_are_accepted() {
        assert!(loopback_target("127.0.0.1:50051").await.is_ok());
        assert!(loopback_target("[::1]:50051").await.is_ok());
        let err = loopback_target("10.1.2.3:50051").await.unwrap_err();
        assert!(err.to_string().contains("not a loopback address"), "{err}");
    }
}
