//! Fixtures: implicit ALS models trained in-process on ml-100k, local and S3 stores, and a
//! server spawned on 127.0.0.1:0 with a tonic client.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use artifacts::{
    Artifact, Metadata, ModelStore, MovieInfo, S3Connection, S3Settings, S3Store, TrainedModel, VersionId,
};
use datasets::DatasetName;
use engine::als::ImplicitAlsParams;
use engine::explicit_als::ExplicitAlsParams;
use engine::{Duplicates, FitContext, Interaction, InteractionLog, Params};
use proto::recommendation::v1::recommendation_service_client::RecommendationServiceClient;
use serving::{Application, Serving, ServingConfig};
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// The recommendation client.
pub type Client = RecommendationServiceClient<Channel>;

/// Every ml-100k rating (stars; every user and movie in the id maps), with the catalogue.
pub fn ml100k() -> &'static (InteractionLog, Vec<MovieInfo>) {
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

/// An implicit ALS model of ml-100k's ratings ≥ 4 (as 1.0; 16 factors) whose factors depend
/// on `seed`, as `cinerec train` builds it: the lower ratings are recorded as also seen.
pub fn train(seed: u64) -> Artifact {
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
        ImplicitAlsParams { factors: 16, iterations: 4, seed, ..Default::default() }.check().unwrap();
    let model = engine::als::fit(&params, &data, &FitContext::new()).unwrap();
    let mut meta = Metadata::new(format!("ml-100k ratings >= 4, seed {seed}"), None);
    meta.metrics = BTreeMap::from([("ndcg@10".to_string(), 0.25)]);
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
}

/// A model of `kind` on ml-100k as `cinerec train` builds it: implicit kinds learn the ratings
/// ≥ 4 (as 1.0) and record the lower ones as also seen; explicit ALS learns every rating.
pub fn train_kind(kind: artifacts::ModelKind) -> Artifact {
    use artifacts::ModelKind;
    let mut res = match kind {
        ModelKind::ExplicitAls => return train_explicit(1),
        _ => train(1),
    };
    let data = engine::Interactions::from_csr(res.seen.clone());
    let ctx = FitContext::new();
    res.model = match kind {
        ModelKind::ImplicitAls | ModelKind::ExplicitAls => res.model,
        ModelKind::ItemKnn => {
            let params = engine::knn::ItemKnnParams::default().check().unwrap();
            TrainedModel::ItemKnn(engine::knn::fit(&params, &data, &ctx).unwrap())
        }
        ModelKind::Ease => {
            let params = engine::ease::EaseParams::default().check().unwrap();
            TrainedModel::Ease {
                model: engine::ease::fit(&params, &data, &ctx).unwrap(),
                params: params.into_inner(),
            }
        }
        ModelKind::Popularity => {
            let params = engine::popularity::PopularityParams::default().check().unwrap();
            let model = engine::popularity::fit(&params, &data).unwrap();
            TrainedModel::Popularity { model, params: params.into_inner() }
        }
        ModelKind::Blend => {
            // The blend learns the lower ratings too (as its low-rating value): nothing is
            // left as also seen.
            let params = engine::blend::BlendParams::default().check().unwrap();
            let mut entries = Vec::new();
            for (matrix, value) in [(&res.seen, None), (&res.also_seen, Some(params.low_rating_weight))] {
                for user_idx in 0..matrix.n_rows() {
                    let row = matrix.row(user_idx);
                    for (&item_idx, &v) in row.indices.iter().zip(row.values) {
                        let value = value.unwrap_or(v);
                        entries.push(engine::Interaction {
                            user_idx: user_idx as u32,
                            item_idx,
                            value,
                            timestamp: 0,
                        });
                    }
                }
            }
            let (n_users, n_items) = (res.seen.n_rows(), res.seen.n_cols());
            let learned =
                engine::Interactions::from_entries(n_users, n_items, &entries, engine::Duplicates::Reject)
                    .unwrap();
            res.also_seen = engine::Csr::empty(n_users, n_items);
            res.seen = learned.user_items().clone();
            TrainedModel::Blend(engine::blend::fit(&params, &learned, &ctx).unwrap())
        }
    };
    res
}

/// An explicit ALS model of every ml-100k rating (16 factors, 8 Gibbs draws averaged).
pub fn train_explicit(seed: u64) -> Artifact {
    let (log, movies) = ml100k();
    let data = log.to_interactions(Duplicates::KeepLatest).unwrap();
    let params =
        ExplicitAlsParams { factors: 16, iterations: 4, seed, samples: 8, thin: 1, ..Default::default() }
            .check()
            .unwrap();
    let model = engine::explicit_als::fit(&params, &data, &FitContext::new()).unwrap();
    Artifact {
        model: TrainedModel::ExplicitAls(model),
        users: log.users.clone(),
        items: log.items.clone(),
        seen: data.user_items().clone(),
        also_seen: engine::Csr::empty(log.n_users(), log.n_items()),
        movies: movies.clone(),
        meta: Metadata::new(format!("ml-100k all ratings, seed {seed}"), None),
        upgraded_from: None,
    }
}

/// The seed-1 model, trained once per test binary.
pub fn model() -> &'static Artifact {
    static MODEL: OnceLock<Artifact> = OnceLock::new();
    MODEL.get_or_init(|| train(1))
}

/// An empty local store in a fresh temp folder.
pub fn local_store() -> (tempfile::TempDir, ModelStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = artifacts::open_store(dir.path().to_str().unwrap(), None).unwrap();
    (dir, store)
}

/// Publishes `artifact` as the newest version.
pub async fn publish(store: &ModelStore, artifact: &Artifact) -> VersionId {
    store.put_artifact(artifact).await.unwrap()
}

/// A name no other test (or earlier run) uses: `<tag>-<pid>-<nanos>-<counter>`.
pub fn unique(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{tag}-{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// An S3 model store over a fresh bucket of the test server (`scripts/start-server s3`).
pub async fn s3_store() -> ModelStore {
    let var = service_common::testing::server_url;
    let bucket = unique("cinerec-serving");
    let mut connection =
        S3Connection::new(var("CINEREC_TEST_S3_ACCESS_KEY"), var("CINEREC_TEST_S3_SECRET_KEY"));
    connection.endpoint = Some(var("CINEREC_TEST_S3_ENDPOINT"));
    connection.max_attempts = 2;
    connection.initial_backoff = Duration::from_millis(50);
    let store = S3Store::new(S3Settings::new(&bucket, "models", connection)).unwrap();
    store.client().create_bucket().bucket(&bucket).send().await.unwrap();
    ModelStore::S3(store)
}

/// The shared test Redis (`scripts/start-server redis`).
pub fn redis_url() -> String {
    service_common::testing::server_url("CINEREC_TEST_REDIS_URL")
}

/// The shared test Kafka-protocol broker (`scripts/start-server kafka`).
pub fn kafka_brokers() -> String {
    service_common::testing::server_url("CINEREC_TEST_KAFKA_BROKERS")
}

/// A config for `store` with the cache at `redis_url` (empty: off) under a fresh key prefix.
pub fn config(redis_url: &str) -> ServingConfig {
    let mut res = ServingConfig::for_tests("unused: the tests pass the store");
    res.redis_url = serving::RedisUrl::new(redis_url);
    res.cache_prefix = unique("cinerec-test");
    // Generous for a loaded test machine; the outage test checks that requests stay fast.
    res.cache_timeout = Duration::from_millis(50);
    res
}

/// A running server and a client connected to it.
pub struct TestApp {
    /// gRPC address.
    pub addr: std::net::SocketAddr,
    /// `/metrics` address.
    pub metrics_addr: std::net::SocketAddr,
    /// The shared state.
    pub serving: Arc<Serving>,
    /// A connected client (clone it per task).
    pub client: Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), serving::app::AppError>>>,
}

impl TestApp {
    /// Builds and starts a server over `store`.
    pub async fn spawn(config: ServingConfig, store: ModelStore) -> Self {
        let app = Application::build_with_store(config, store).await.unwrap();
        let (addr, metrics_addr, serving) = (app.addr(), app.metrics_addr(), app.serving());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        let client = connect(addr).await;
        Self { addr, metrics_addr, serving, client, stop: Some(stop), task: Some(task) }
    }

    /// A client with its own connection.
    pub async fn new_client(&self) -> Client {
        connect(self.addr).await
    }

    /// The server's health status for the recommendation service.
    pub async fn health(&self) -> ServingStatus {
        let channel = Channel::from_shared(format!("http://{}", self.addr)).unwrap().connect().await.unwrap();
        let request =
            tonic_health::pb::HealthCheckRequest { service: serving::model_slot::SERVICE_NAME.into() };
        let response = HealthClient::new(channel).check(request).await.unwrap().into_inner();
        ServingStatus::try_from(response.status).unwrap()
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        service_common::testing::scrape_metrics(self.metrics_addr).await
    }

    /// Stops the server gracefully and checks it ended cleanly.
    pub async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.take().unwrap().await.unwrap().unwrap();
    }
}

async fn connect(addr: std::net::SocketAddr) -> Client {
    let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    RecommendationServiceClient::new(channel)
}

/// The value of one sample line of a Prometheus text page (`name{labels} value`), 0 if absent.
pub fn metric(page: &str, sample: &str) -> f64 {
    page.lines()
        .find_map(|line| line.strip_prefix(sample).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}
