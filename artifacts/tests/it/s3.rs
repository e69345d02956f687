//! The S3 store against a real S3-protocol server (`s3s-fs`, started by `scripts/test` through
//! `scripts/start-server s3`), one fresh bucket per test.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use artifacts::{
    ModelKind, ModelStore, S3Connection, S3Settings, S3Store, StoreError, VersionId, open_store,
    read_artifact, to_bytes,
};
use s3_client::aws_sdk_s3::primitives::ByteStream;

use crate::fixtures;
use crate::store::check_store;

/// The credentials `scripts/start-server s3` gives the local test server.
const ACCESS_KEY: &str = "minioadmin";
const SECRET_KEY: &str = "minioadmin-secret";

fn endpoint() -> String {
    std::env::var("CINEREC_TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "CINEREC_TEST_S3_ENDPOINT is not set: the S3 tests need a running S3-protocol server. \
             Run the suite through scripts/test, or start one with `s3_env=\"$(scripts/start-s3)\" && eval \"$s3_env\"` \
             and export CINEREC_TEST_S3_ENDPOINT"
        )
    })
}

fn settings(bucket: &str) -> S3Settings {
    let mut connection = S3Connection::new(ACCESS_KEY, SECRET_KEY);
    connection.endpoint = Some(endpoint());
    connection.max_attempts = 2;
    connection.initial_backoff = Duration::from_millis(50);
    S3Settings::new(bucket, "cinerec/models", connection)
}

/// A bucket name no other test (or earlier run) uses.
fn unique_bucket(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("cinerec-{tag}-{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// A store over a freshly created bucket.
async fn fresh_store(tag: &str, settings_of: impl FnOnce(&str) -> S3Settings) -> (String, S3Store) {
    let bucket = unique_bucket(tag);
    let store = S3Store::new(settings_of(&bucket)).unwrap();
    store.client().create_bucket().bucket(&bucket).send().await.unwrap_or_else(|e| {
        panic!(
            "creating bucket {bucket} at {}: {}",
            endpoint(),
            s3_client::aws_sdk_s3::error::DisplayErrorContext(&e)
        )
    });
    (bucket, store)
}

#[tokio::test]
async fn s3_store_behaves_like_a_model_store() {
    let (bucket, s3) = fresh_store("suite", settings).await;
    let client = s3.client().clone();
    let store = ModelStore::S3(s3);
    check_store(&store, async |version: &VersionId| {
        let key = format!("cinerec/models/{version}.cinerec");
        let object = client.get_object().bucket(&bucket).key(&key).send().await.unwrap();
        let mut bytes = object.body.collect().await.unwrap().into_bytes().to_vec();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x01;
        client.put_object().bucket(&bucket).key(&key).body(ByteStream::from(bytes)).send().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn s3_large_artifacts_go_up_in_parts() {
    let (_, s3) = fresh_store("multipart", |bucket| {
        let mut s = settings(bucket);
        s.part_size = 5 << 20;
        s
    })
    .await;
    let store = ModelStore::S3(s3);
    // 30,000 items × 64 factors × 4 bytes ≈ 7.7 MB: two parts.
    let artifact = fixtures::large_artifact(30_000, 64);
    let bytes = to_bytes(&artifact).unwrap();
    assert!(bytes.len() > 5 << 20 && bytes.len() < 10 << 20, "{} bytes", bytes.len());
    let version = store.put(bytes.clone()).await.unwrap();
    assert_eq!(store.latest().await.unwrap(), Some(version.clone()));
    let fetched = store.get(&version).await.unwrap();
    assert!(fetched == bytes, "the multipart object reads back byte for byte");
    assert_eq!(read_artifact(&fetched).unwrap(), artifact);
    assert_eq!(store.list().await.unwrap()[0].size, bytes.len() as u64);
}

#[tokio::test]
async fn s3_missing_bucket_is_named() {
    let bucket = unique_bucket("missing");
    let store = ModelStore::S3(S3Store::new(settings(&bucket)).unwrap());
    let artifact = to_bytes(&fixtures::artifact(ModelKind::Popularity)).unwrap();
    for (operation, err) in [
        ("put", store.put(artifact).await.unwrap_err()),
        ("latest", store.latest().await.unwrap_err()),
        ("list", store.list().await.unwrap_err()),
        ("get", store.get(&VersionId::parse("20261124T091500.123Z-3fa9c2").unwrap()).await.unwrap_err()),
    ] {
        assert!(
            matches!(&err, StoreError::BucketNotFound { bucket: b, .. } if *b == bucket),
            "{operation}: {err:?}"
        );
        assert!(
            err.to_string().contains(&format!("S3 bucket `{bucket}` does not exist at http://")),
            "{err}"
        );
    }
}

#[tokio::test]
async fn s3_wrong_credentials_are_refused_with_a_clear_error() {
    let (bucket, _) = fresh_store("creds", settings).await;
    let artifact = to_bytes(&fixtures::artifact(ModelKind::Popularity)).unwrap();
    for (case, access, secret) in
        [("wrong secret", ACCESS_KEY, "not-the-secret"), ("unknown key", "nobody", SECRET_KEY)]
    {
        let mut s = settings(&bucket);
        (s.connection.access_key_id, s.connection.secret_access_key) = (access.into(), secret.into());
        let store = ModelStore::S3(S3Store::new(s).unwrap());
        for err in [store.put(artifact.clone()).await.unwrap_err(), store.latest().await.unwrap_err()] {
            assert!(matches!(err, StoreError::AccessDenied { .. }), "{case}: {err:?}");
            let message = err.to_string();
            assert!(
                message.contains("refused access to bucket") && message.contains("AWS_SECRET_ACCESS_KEY"),
                "{message}"
            );
            assert!(
                !message.contains(SECRET_KEY) && !message.contains("not-the-secret"),
                "{case}: {message}"
            );
        }
    }
}

#[tokio::test]
async fn s3_unreachable_endpoint_fails_after_bounded_retries() {
    // A port nobody listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut connection = S3Connection::new(ACCESS_KEY, SECRET_KEY);
    connection.endpoint = Some(format!("http://127.0.0.1:{port}"));
    connection.max_attempts = 3;
    connection.initial_backoff = Duration::from_millis(20);
    let s = S3Settings::new("cinerec-nowhere", "", connection);
    let store = ModelStore::S3(S3Store::new(s).unwrap());
    let started = Instant::now();
    let err = store.latest().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(30), "gave up after {:?}", started.elapsed());
    assert!(matches!(err, StoreError::S3 { operation: "GetObject", attempts: 3, .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("127.0.0.1:{port}")) && message.contains("at most 3 attempts"),
        "{message}"
    );
}

#[test]
fn s3_settings_never_print_the_secret() {
    let mut s = S3Settings::new("b", "p", S3Connection::new("AKIDEXAMPLE", "wJalrXUtnFEMI"));
    s.connection.session_token = Some("FwoGZXIvYXdzE".into());
    let shown = format!("{s:?}");
    assert!(
        shown.contains("AKIDEXAMPLE") && !shown.contains("wJalrXUtnFEMI") && !shown.contains("FwoGZXIvYXdzE")
    );
    s.part_size = 1 << 20;
    let err = S3Store::new(s).unwrap_err();
    assert!(err.to_string().contains("below S3's minimum"), "{err}");
}

#[test]
fn s3_uri_without_connection_names_the_flags() {
    let err = open_store("s3://models/serving", None).unwrap_err();
    assert!(matches!(err, StoreError::MissingSetting { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("s3://models/serving")
            && message.contains("--s3-access-key-id")
            && message.contains("AWS_SECRET_ACCESS_KEY"),
        "{message}"
    );
    let connection = S3Connection::new(ACCESS_KEY, SECRET_KEY);
    let store = open_store("s3://models/serving", Some(&connection)).unwrap();
    assert_eq!(store.to_string(), "s3://models/serving");
}
