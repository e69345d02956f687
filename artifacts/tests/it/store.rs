//! `ModelStore` behaviour, one suite run against every store, plus each store's own cases.

use std::time::Duration;

use artifacts::{
    ArtifactError, LocalStore, ModelKind, ModelStore, StoreError, StoreUri, VersionId, open_store, to_bytes,
    to_bytes_in_version,
};

use crate::fixtures;

/// The behaviour every store must have. `corrupt` flips a byte of a stored version behind the
/// store's back.
pub async fn check_store(store: &ModelStore, corrupt: impl AsyncFnOnce(&VersionId)) {
    // An empty store.
    assert_eq!(store.latest().await.unwrap(), None, "{store}: empty store has no latest");
    assert!(store.list().await.unwrap().is_empty());
    assert!(store.load_latest().await.unwrap().is_none());

    // Garbage is refused before anything is written.
    let err = store.put(b"CINEREC\0 but not really".to_vec()).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Artifact { source, .. } if matches!(**source, ArtifactError::UnsupportedVersion { .. })),
        "{err:?}"
    );
    assert!(store.list().await.unwrap().is_empty(), "{store}: refused bytes left no version");

    // Round trip.
    let first = fixtures::artifact(ModelKind::ImplicitAls);
    let v1 = store.put_artifact(&first).await.unwrap();
    assert_eq!(store.latest().await.unwrap(), Some(v1.clone()));
    assert_eq!(store.get(&v1).await.unwrap(), to_bytes(&first).unwrap());
    assert_eq!(store.load(&v1).await.unwrap(), first);

    // `latest` follows several puts; `list` sorts by time.
    let second = to_bytes(&fixtures::artifact(ModelKind::ItemKnn)).unwrap();
    let third = fixtures::artifact(ModelKind::Popularity);
    let v2 = store.put(second.clone()).await.unwrap();
    let v3 = store.put(to_bytes(&third).unwrap()).await.unwrap();
    assert!(v1 < v2 && v2 < v3, "{v1} < {v2} < {v3}");
    assert_eq!(store.latest().await.unwrap(), Some(v3.clone()));
    let listed = store.list().await.unwrap();
    assert_eq!(
        listed.iter().map(|v| v.version.clone()).collect::<Vec<_>>(),
        vec![v1.clone(), v2.clone(), v3.clone()]
    );
    assert_eq!(listed[1].size, second.len() as u64);
    assert!(listed.windows(2).all(|w| w[0].created <= w[1].created));
    let age = listed[2].created.elapsed().unwrap_or_default();
    assert!(age < Duration::from_secs(600), "{store}: created {age:?} ago");
    let (latest, loaded) = store.load_latest().await.unwrap().unwrap();
    assert_eq!((latest, loaded), (v3.clone(), third));

    // Prune keeps the newest versions.
    assert_eq!(store.prune(2).await.unwrap(), vec![v1.clone()]);
    let left: Vec<_> = store.list().await.unwrap().into_iter().map(|v| v.version).collect();
    assert_eq!(left, vec![v2.clone(), v3.clone()]);
    assert!(matches!(store.get(&v1).await, Err(StoreError::VersionNotFound { .. })));
    assert_eq!(store.prune(5).await.unwrap(), Vec::<VersionId>::new());
    assert_eq!(store.prune(0).await.unwrap(), vec![v2], "{store}: the latest version is always kept");
    assert_eq!(store.latest().await.unwrap(), Some(v3.clone()));

    // A version that never existed.
    let unknown = VersionId::parse("20000101T000000.000Z-000000").unwrap();
    let err = store.get(&unknown).await.unwrap_err();
    assert!(err.to_string().contains("model version 20000101T000000.000Z-000000 not found"), "{err}");

    // A corrupted object is refused at load, naming the store and version.
    corrupt(&v3).await;
    let err = store.load(&v3).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Artifact { source, version, .. }
            if matches!(**source, ArtifactError::ChecksumMismatch { .. }) && *version == v3.to_string()),
        "{err:?}"
    );
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
}

fn flip_byte(bytes: &mut [u8]) {
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
}

#[tokio::test]
async fn local_store_behaves_like_a_model_store() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("models");
    let store = open_store(root.to_str().unwrap(), None).unwrap();
    check_store(&store, async |version: &VersionId| {
        let path = root.join(format!("{version}.cinerec"));
        let mut bytes = fs_err::read(&path).unwrap();
        flip_byte(&mut bytes);
        fs_err::write(&path, bytes).unwrap();
    })
    .await;
}

#[tokio::test]
async fn local_store_ignores_temp_files_and_names_a_corrupt_pointer() {
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::Local(LocalStore::new(dir.path()));
    let version = store.put_artifact(&fixtures::artifact(ModelKind::Popularity)).await.unwrap();
    // What a writer that crashed before its rename leaves behind.
    fs_err::write(dir.path().join(format!(".{version}.cinerec.99-0.tmp")), b"half").unwrap();
    fs_err::write(dir.path().join("notes.txt"), b"not a model").unwrap();
    let listed: Vec<_> = store.list().await.unwrap().into_iter().map(|v| v.version).collect();
    assert_eq!(listed, vec![version]);

    fs_err::write(dir.path().join("LATEST"), b"yesterday's model").unwrap();
    let err = store.latest().await.unwrap_err();
    assert!(matches!(err, StoreError::CorruptPointer { .. }), "{err:?}");
    assert!(err.to_string().contains("yesterday's model"), "{err}");
}

#[test]
fn store_uris_select_the_store() {
    use std::path::PathBuf;
    let s3 = |bucket: &str, prefix: &str| StoreUri::S3 { bucket: bucket.into(), prefix: prefix.into() };
    for (uri, expected) in [
        ("./models", StoreUri::Local(PathBuf::from("./models"))),
        ("models", StoreUri::Local(PathBuf::from("models"))),
        ("/srv/cinerec/models", StoreUri::Local(PathBuf::from("/srv/cinerec/models"))),
        ("file:///srv/models", StoreUri::Local(PathBuf::from("/srv/models"))),
        ("s3://models", s3("models", "")),
        ("s3://ml-artifacts/cinerec/prod/", s3("ml-artifacts", "cinerec/prod")),
    ] {
        assert_eq!(StoreUri::parse(uri).unwrap(), expected, "{uri}");
    }
    for (uri, problem) in [
        ("", "empty"),
        ("file://models", "absolute path"),
        ("gs://bucket/x", "unknown scheme `gs://`"),
        ("s3://", "bucket name"),
        ("s3://Bad_Bucket/x", "bucket name"),
    ] {
        let err = StoreUri::parse(uri).unwrap_err();
        assert!(err.to_string().contains(problem), "{uri}: {err}");
    }
}

#[test]
fn version_ids_sort_by_time_and_parse_strictly() {
    let ids: Vec<VersionId> = (0..50).map(|_| VersionId::generate()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    for id in &ids {
        assert_eq!(&VersionId::parse(id.as_str()).unwrap(), id);
    }
    let id = VersionId::parse("20261124T091500.123Z-3fa9c2").unwrap();
    let created = id.created().duration_since(std::time::UNIX_EPOCH).unwrap();
    assert_eq!(created, Duration::from_millis(1_795_511_700_123));
    for bad in
        ["latest", "20261124T091500Z-3fa9c2", "20261124T091500.123Z-3FA9C2", "20261324T091500.123Z-3fa9c2"]
    {
        assert!(matches!(VersionId::parse(bad), Err(StoreError::InvalidVersion { .. })), "{bad}");
    }
}

/// A version-1 file on disk (written before the also-seen matrix existed) is accepted and
/// upgraded when loaded, and says so (see the format tests for every kind).
#[tokio::test]
async fn a_version_1_file_in_a_store_loads_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::Local(LocalStore::new(dir.path()));
    let current = fixtures::artifact(ModelKind::ImplicitAls);
    let old = store.put(to_bytes_in_version(&current, 1).unwrap()).await.unwrap();
    let upgraded = store.load(&old).await.unwrap();
    assert_eq!((upgraded.upgraded_from, upgraded.also_seen.nnz()), (Some(1), 0));
    assert_eq!((upgraded.model, upgraded.seen), (current.model, current.seen));
}
