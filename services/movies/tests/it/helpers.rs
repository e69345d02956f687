//! Test harness: a fresh PostgreSQL database and S3 bucket per test on the servers that
//! `scripts/start-server` started (`CINEREC_TEST_POSTGRES_URL`, `CINEREC_TEST_S3_*`), the
//! service spawned on 127.0.0.1:0, and a real tonic client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use events::{EventPublisher, MemoryPublisher};
use movies::media::S3MediaSettings;
use movies::{AppOptions, Application, PgMovieStore, PgSettings, RelaySettings, S3Media, Secret};
use prost::Message;
use proto::events::v1::MovieEvent;
use proto::movies::v1 as pb;
use proto::movies::v1::movies_service_client::MoviesServiceClient;
use s3_client::S3Connection;
use service_common::testing::server_url;
use sqlx::Connection;
use tonic::transport::Channel;

/// Largest message the test client sends or accepts.
const CLIENT_MAX_BYTES: usize = 80 << 20;

/// A short random suffix for database, bucket and topic names.
pub fn unique(tag: &str) -> String {
    format!("{tag}_{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// A database created for one test (dropped by [`TestDb::drop_db`]).
pub struct TestDb {
    admin_url: String,
    name: String,
    /// URL of the fresh database.
    pub url: String,
}

impl TestDb {
    /// Creates `movies_test_<random>` on the test server.
    pub async fn create() -> Self {
        let admin_url = server_url("CINEREC_TEST_POSTGRES_URL");
        let name = unique("movies_test");
        let base = admin_url.rsplit_once('/').expect("the test URL names a database").0;
        let url = format!("{base}/{name}");
        let mut admin =
            sqlx::PgConnection::connect(&admin_url).await.expect("connecting to the test PostgreSQL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        Self { admin_url, name, url }
    }

    /// Settings for a store on this database (short timeouts for quick failures).
    pub fn settings(&self) -> PgSettings {
        let mut res = PgSettings::new(Secret::new(self.url.clone()));
        res.max_connections = 5;
        res
    }

    /// Drops the database (closing other sessions).
    pub async fn drop_db(self) {
        let mut admin = sqlx::PgConnection::connect(&self.admin_url).await.unwrap();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await.unwrap();
    }
}

/// Media settings for `bucket` on the test S3 server.
pub fn s3_settings(bucket: &str) -> S3MediaSettings {
    let mut connection =
        S3Connection::new(server_url("CINEREC_TEST_S3_ACCESS_KEY"), server_url("CINEREC_TEST_S3_SECRET_KEY"));
    connection.endpoint = Some(server_url("CINEREC_TEST_S3_ENDPOINT"));
    S3MediaSettings::new(bucket, connection)
}

/// A fresh bucket on the test S3 server and a media store over it.
pub async fn fresh_media(settings_of: impl FnOnce(&str) -> S3MediaSettings) -> S3Media {
    let bucket = unique("movies-test").replace('_', "-");
    let media = S3Media::new(&settings_of(&bucket)).unwrap();
    media.client().create_bucket().bucket(&bucket).send().await.unwrap_or_else(|e| {
        panic!("creating bucket {bucket}: {}", s3_client::aws_sdk_s3::error::DisplayErrorContext(&e))
    });
    media
}

/// Relay settings for tests: a fresh topic name and a quick poll.
pub fn relay_settings(topic: &str) -> RelaySettings {
    RelaySettings { topic: topic.to_string(), poll: Duration::from_millis(100), ..RelaySettings::default() }
}

/// A running service and a client to it.
pub struct TestApp {
    /// The client.
    pub client: MoviesServiceClient<Channel>,
    /// A store on the same database (for direct checks and imports).
    pub store: PgMovieStore,
    /// The media bucket.
    pub media: S3Media,
    /// The `/metrics` address.
    pub metrics: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), movies::AppError>>>,
    /// The test's own database, dropped by [`TestApp::finish`].
    pub db: Option<TestDb>,
}

/// What [`TestApp::spawn_with`] varies.
pub struct Spawn<P> {
    /// The publisher the relay uses.
    pub publisher: P,
    /// The relay's topic.
    pub topic: String,
    /// Media settings (bucket chosen by the harness).
    pub media: Box<dyn FnOnce(&str) -> S3MediaSettings + Send>,
}

impl TestApp {
    /// Fresh database and bucket, events to `publisher` on a fresh topic.
    pub async fn spawn(publisher: Arc<MemoryPublisher>) -> Self {
        Self::spawn_with(Spawn { publisher, topic: unique("movies-events"), media: Box::new(s3_settings) })
            .await
    }

    /// Fresh database and bucket with the given parts.
    pub async fn spawn_with<P: EventPublisher + 'static>(spawn: Spawn<P>) -> Self {
        let db = TestDb::create().await;
        let store = PgMovieStore::connect(&db.settings()).await.expect("migrating the test database");
        let media = fresh_media(spawn.media).await;
        let mut app = Self::serve(store.clone(), media.clone(), spawn.publisher, &spawn.topic).await;
        app.db = Some(db);
        app
    }

    /// Serves over any store and media (no database of its own to drop).
    pub async fn serve<P: EventPublisher + 'static>(
        store: PgMovieStore,
        media: S3Media,
        publisher: P,
        topic: &str,
    ) -> Self {
        let service = service_common::ServiceSettings::loopback();
        let options = AppOptions { service, relay: relay_settings(topic) };
        let app = Application::from_parts(options, store.clone(), media.clone(), publisher).await.unwrap();
        let (addr, metrics) = (app.addr(), app.metrics_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        let client = MoviesServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap()
            .max_decoding_message_size(CLIENT_MAX_BYTES)
            .max_encoding_message_size(CLIENT_MAX_BYTES);
        Self { client, store, media, metrics, stop: Some(stop), task: Some(task), db: None }
    }

    /// Stops the server gracefully and drops the database.
    pub async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        self.store.pool().close().await;
        if let Some(db) = self.db.take() {
            db.drop_db().await;
        }
    }

    /// Creates a movie through the API.
    pub async fn create(&mut self, id: u64, title: &str, year: i32, genres: &[&str]) -> pb::Movie {
        let movie = pb::Movie {
            movie_id: id,
            title: title.into(),
            year,
            genres: genres.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        };
        self.client.create_movie(pb::CreateMovieRequest { movie: Some(movie) }).await.unwrap().into_inner()
    }

    /// Every object key in the bucket under `prefix`.
    pub async fn object_keys(&self, prefix: &str) -> Vec<String> {
        let listed = self
            .media
            .client()
            .list_objects_v2()
            .bucket(self.media.bucket())
            .prefix(prefix)
            .send()
            .await
            .unwrap();
        listed.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect()
    }
}

/// Waits up to 10 s until `publisher` holds at least `n` events; returns them decoded with keys.
pub async fn wait_for_events(publisher: &MemoryPublisher, n: usize) -> Vec<(String, MovieEvent)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = publisher.events();
        if events.len() >= n {
            return events.into_iter().map(|e| (e.key, MovieEvent::decode(&*e.payload).unwrap())).collect();
        }
        assert!(Instant::now() < deadline, "expected {n} events, got {}", events.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The code and message of a failed call.
pub fn failure<T: std::fmt::Debug>(res: Result<tonic::Response<T>, tonic::Status>) -> (tonic::Code, String) {
    let status = res.expect_err("the call should fail");
    (status.code(), status.message().to_string())
}
