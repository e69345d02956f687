//! The file format: round trips of every model kind, and every way a file can be refused.

use std::ops::Range;

use artifacts::{
    Artifact, ArtifactError, FORMAT_VERSION, ModelKind, read_artifact, read_info, to_bytes,
    to_bytes_in_version, write_artifact,
};
use engine::recommend::{recommend, recommend_for_history, similar_items};
use engine::{RecommendOptions, Row};
use serde_json::{Value, json};
use xxhash_rust::xxh3::xxh3_64;

use crate::fixtures::{self, N_ITEMS, N_USERS};

/// Every query an artifact answers gives the same result after a write/read round trip.
fn check_round_trip(kind: ModelKind) {
    let original = fixtures::artifact(kind);
    let mut bytes = Vec::new();
    let written = write_artifact(&original, &mut bytes).unwrap();
    assert_eq!(written, bytes.len() as u64);
    assert_eq!(to_bytes(&original).unwrap(), bytes, "{kind}: to_bytes and write_artifact agree");
    let loaded = read_artifact(&bytes).unwrap();
    assert_eq!(loaded, original, "{kind}: every part survives the round trip");

    let options = RecommendOptions { n: 5, ..Default::default() };
    for user_idx in 0..N_USERS as u32 {
        let training = original.training_users().unwrap();
        let before = recommend(original.recommender(), training, user_idx, &options).unwrap();
        let after =
            recommend(loaded.recommender(), loaded.training_users().unwrap(), user_idx, &options).unwrap();
        assert_eq!(before, after, "{kind}: recommendations of user {user_idx}");
        assert!(!after.is_empty());
        let rated = |item: u32| {
            original.seen.row(user_idx as usize).contains(item)
                || original.also_seen.row(user_idx as usize).contains(item)
        };
        assert!(after.iter().all(|s| !rated(s.item_idx)), "{kind}: user {user_idx} gets a rated movie");
    }
    let history = Row::new(&[0, 3, 7], &[5.0, 4.0, 1.0]);
    assert_eq!(
        recommend_for_history(original.recommender(), history, &[1, 2], &options).unwrap(),
        recommend_for_history(loaded.recommender(), history, &[1, 2], &options).unwrap(),
        "{kind}: fold-in"
    );
    for item_idx in [0, 11, N_ITEMS as u32 - 1] {
        let before = similar_items(original.recommender(), item_idx, 5);
        let after = similar_items(loaded.recommender(), item_idx, 5);
        assert_eq!(before.is_ok(), after.is_ok(), "{kind}: similar items");
        if let (Ok(before), Ok(after)) = (before, after) {
            assert_eq!(before, after, "{kind}: items similar to {item_idx}");
        }
    }

    let info = read_info(&bytes).unwrap();
    assert_eq!((info.kind, info.format_version, info.size), (kind, FORMAT_VERSION, bytes.len() as u64));
    assert_eq!((info.n_users, info.n_items), (N_USERS as u64, N_ITEMS as u64));
    assert_eq!(info.nnz, original.seen.nnz() as u64);
    assert_eq!(header_json(&bytes)["also_seen_nnz"], original.also_seen.nnz() as u64);
    assert_eq!(info.n_movies, original.movies.len() as u64);
    assert_eq!(info.params, original.model.params());
    assert_eq!(info.metrics, original.meta.metrics);
    assert_eq!(info.code_version, format!("{}+abc1234", env!("CARGO_PKG_VERSION")));
    for s in &info.sections {
        assert_eq!(s.offset % 64, 0, "{kind}: section {} aligned", s.name);
    }
}

#[test]
fn implicit_als_round_trips() {
    check_round_trip(ModelKind::ImplicitAls);
}

#[test]
fn explicit_als_round_trips() {
    check_round_trip(ModelKind::ExplicitAls);
}

#[test]
fn item_knn_round_trips() {
    check_round_trip(ModelKind::ItemKnn);
}

#[test]
fn ease_round_trips() {
    check_round_trip(ModelKind::Ease);
}

#[test]
fn popularity_round_trips() {
    check_round_trip(ModelKind::Popularity);
}

/// A version-1 file (no also-seen movies) is upgraded on read: every part but the also-seen
/// matrix is as written, the also-seen matrix is empty, and the artifact says it was upgraded
/// and must be retrained.
#[test]
fn version_1_files_are_upgraded_on_read_with_a_warning() {
    for kind in ModelKind::ALL {
        let current = fixtures::artifact(kind);
        let bytes = to_bytes_in_version(&current, 1).unwrap();
        assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 1, "{kind}: written as v1");
        assert!(header_json(&bytes).get("also_seen_nnz").is_none(), "{kind}: a v1 header");
        assert_eq!(read_info(&bytes).unwrap().format_version, 1);
        let upgraded = read_artifact(&bytes).unwrap();
        assert_eq!(upgraded.upgraded_from, Some(1), "{kind}");
        assert_eq!(upgraded.also_seen.nnz(), 0, "{kind}: v1 stored no also-seen movies");
        let expected = Artifact {
            also_seen: engine::Csr::empty(N_USERS, N_ITEMS),
            upgraded_from: Some(1),
            ..current.clone()
        };
        assert_eq!(upgraded, expected, "{kind}: everything else as written");
        let warning = upgraded.upgrade_warning().unwrap();
        assert!(warning.contains("format v1") && warning.contains("retrain"), "{warning}");
        assert_eq!(current.upgrade_warning(), None);
        // Written again, it is a current file.
        assert_eq!(read_artifact(&to_bytes(&upgraded).unwrap()).unwrap().upgraded_from, None);
    }
    assert!(matches!(
        to_bytes_in_version(&fixtures::artifact(ModelKind::Ease), 3),
        Err(ArtifactError::UnsupportedVersion { found: 3, .. })
    ));
}

#[test]
fn a_version_2_file_without_its_also_seen_sections_is_refused() {
    let bytes = to_bytes(&fixtures::artifact(ModelKind::ItemKnn)).unwrap();
    // Rename the section in the header (same length, so the layout stays valid).
    let renamed =
        edit_header(&bytes, |h| section_mut(h, "also_seen.indices")["name"] = json!("also_seen.indicez"));
    match read_artifact(&renamed) {
        Err(ArtifactError::MissingSection { name }) => assert_eq!(name, "also_seen.indices"),
        other => panic!("expected a missing section, got {other:?}"),
    }
}

#[test]
fn artifact_without_movies_or_interactions_round_trips() {
    let mut artifact = fixtures::artifact(ModelKind::Popularity);
    artifact.movies.clear();
    artifact.seen = engine::Csr::empty(N_USERS, N_ITEMS);
    artifact.also_seen = engine::Csr::empty(N_USERS, N_ITEMS);
    let bytes = to_bytes(&artifact).unwrap();
    assert_eq!(read_artifact(&bytes).unwrap(), artifact);
}

#[test]
fn header_is_readable_json_naming_kind_params_and_provenance() {
    let bytes = to_bytes(&fixtures::artifact(ModelKind::ImplicitAls)).unwrap();
    assert_eq!(&bytes[..8], b"CINEREC\0");
    let header = header_json(&bytes);
    assert_eq!(header["kind"], "implicit-als");
    assert_eq!(header["params"]["kind"], "implicit-als");
    assert_eq!(header["params"]["factors"], 8);
    assert_eq!(header["params"]["confidence"], json!({ "kind": "linear" }));
    assert_eq!(header["created_at"], "2026-11-24T09:15:00Z");
    assert_eq!(header["dataset"], "synthetic 40x30, implicit-als");
    assert_eq!(header["metrics"]["ndcg@10"], 0.3125);
    let names: Vec<&str> =
        header["sections"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    for name in ["users.ids", "items.ids", "seen.indptr", "movies.titles.bytes", "als.user_factors"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------------

fn header_len(bytes: &[u8]) -> usize {
    u64::from_le_bytes(bytes[16..24].try_into().unwrap()) as usize
}

fn header_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(&bytes[64..64 + header_len(bytes)]).unwrap()
}

/// Recomputes the trailing checksum, so that a deliberate edit reaches the later checks.
fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
    let body = bytes.len() - 8;
    let sum = xxh3_64(&bytes[..body]);
    bytes[body..].copy_from_slice(&sum.to_le_bytes());
    bytes
}

/// Edits the JSON header in place (it may shrink, never grow) and reseals the file.
fn edit_header(bytes: &[u8], edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let len = header_len(bytes);
    let mut header = header_json(bytes);
    header["dataset"] = json!(""); // room for edits that lengthen other fields
    edit(&mut header);
    let mut text = serde_json::to_vec(&header).unwrap();
    assert!(text.len() <= len, "the edited header must not grow");
    text.resize(len, b' ');
    let mut res = bytes.to_vec();
    res[64..64 + len].copy_from_slice(&text);
    reseal(res)
}

fn section_mut<'a>(header: &'a mut Value, name: &str) -> &'a mut Value {
    header["sections"].as_array_mut().unwrap().iter_mut().find(|s| s["name"] == name).unwrap()
}

/// Byte range of a section in the file.
fn section_range(bytes: &[u8], name: &str) -> Range<usize> {
    let data_start = (64 + header_len(bytes)).div_ceil(64) * 64;
    let info = read_info(bytes).unwrap();
    let s = info.sections.iter().find(|s| s.name == name).unwrap();
    let start = data_start + s.offset as usize;
    start..start + s.bytes as usize
}

/// Overwrites bytes of a section and reseals the file.
fn edit_section(bytes: &[u8], name: &str, at: usize, new: &[u8]) -> Vec<u8> {
    let range = section_range(bytes, name);
    let mut res = bytes.to_vec();
    res[range.start + at..range.start + at + new.len()].copy_from_slice(new);
    reseal(res)
}

/// Which error a refused file must produce.
type Expected = fn(&ArtifactError) -> bool;

/// Reading `bytes` fails with an error that `expected` accepts and whose message contains
/// `message`.
fn check_refused(case: &str, bytes: &[u8], expected: Expected, message: &str) {
    let err = match read_artifact(bytes) {
        Ok(_) => panic!("{case}: read_artifact accepted the file"),
        Err(err) => err,
    };
    assert!(expected(&err), "{case}: unexpected error {err:?}");
    assert!(err.to_string().contains(message), "{case}: {err} does not mention {message:?}");
}

fn als_bytes() -> Vec<u8> {
    to_bytes(&fixtures::artifact(ModelKind::ImplicitAls)).unwrap()
}

#[test]
fn a_corrupt_byte_anywhere_fails_the_checksum() {
    let bytes = als_bytes();
    let factors = section_range(&bytes, "als.item_factors");
    let titles = section_range(&bytes, "movies.titles.bytes");
    for (case, at) in [
        ("reserved preamble byte", 40),
        ("header", 70),
        ("first byte after the header", 64 + header_len(&bytes)),
        ("item factors", factors.start + 13),
        ("a title", titles.start + 2),
        ("last section byte", bytes.len() - 9),
        ("checksum itself", bytes.len() - 1),
    ] {
        let mut corrupt = bytes.clone();
        corrupt[at] ^= 0x20;
        check_refused(
            case,
            &corrupt,
            |e| matches!(e, ArtifactError::ChecksumMismatch { expected, actual } if expected != actual),
            "checksum mismatch",
        );
    }
}

#[test]
fn truncated_files_name_the_byte_where_they_end() {
    let bytes = als_bytes();
    let len = bytes.len() as u64;
    let factors = section_range(&bytes, "als.user_factors");
    for (at, expected, part) in [
        (0, 64, "preamble"),
        (5, 64, "preamble"),
        (11, 64, "preamble"),
        (40, 64, "preamble"),
        (64, len, "header"),
        (100, len, "header"),
        (factors.start as u64 + 100, len, "data sections"),
        (len - 8, len, "checksum"),
        (len - 1, len, "checksum"),
    ] {
        let case = format!("truncated at {at}");
        let message = format!("truncated at byte {at}: expected {expected} bytes");
        let truncated = &bytes[..at as usize];
        let err = read_artifact(truncated).unwrap_err();
        assert!(
            matches!(err, ArtifactError::Truncated { at: a, expected: e, .. } if a == at && e == expected),
            "{case}: {err:?}"
        );
        assert!(err.to_string().contains(&message), "{case}: {err}");
        assert!(err.to_string().contains(part), "{case}: {err}");
    }
}

#[test]
fn foreign_files_and_future_versions_are_refused() {
    let bytes = als_bytes();
    let mut zip = bytes.clone();
    zip[..4].copy_from_slice(b"PK\x03\x04");
    check_refused(
        "zip file",
        &zip,
        |e| matches!(e, ArtifactError::BadMagic { .. }),
        "not a cinerec model artifact",
    );
    check_refused(
        "text file",
        b"user,item\n1,2\n",
        |e| matches!(e, ArtifactError::BadMagic { .. }),
        "CINEREC",
    );

    let mut future = bytes.clone();
    future[8..12].copy_from_slice(&3u32.to_le_bytes());
    check_refused(
        "version 3",
        &future,
        |e| matches!(e, &ArtifactError::UnsupportedVersion { found: 3, supported: &[1, 2] }),
        "unsupported artifact format version 3: this build reads versions [1, 2]",
    );
    future[8..12].copy_from_slice(&0u32.to_le_bytes());
    check_refused(
        "version 0",
        &future,
        |e| matches!(e, ArtifactError::UnsupportedVersion { found: 0, .. }),
        "[1, 2]",
    );

    let mut longer = bytes.clone();
    longer.extend_from_slice(b"junk");
    check_refused(
        "trailing bytes",
        &longer,
        |e| matches!(e, ArtifactError::TrailingBytes { .. }),
        "trailing bytes",
    );
}

#[test]
fn header_and_section_table_problems_are_named() {
    let bytes = als_bytes();
    let n_users = N_USERS as u64;
    type Edit = Box<dyn FnOnce(&mut Value)>;
    let cases: Vec<(&str, Edit, Expected, &str)> = vec![
        (
            "section missing",
            Box::new(|h| {
                h["sections"].as_array_mut().unwrap().retain(|s| s["name"] != "als.item_factors");
            }),
            |e| matches!(e, ArtifactError::MissingSection { name } if name == "als.item_factors"),
            "section `als.item_factors` is missing",
        ),
        (
            "wrong dtype",
            Box::new(|h| section_mut(h, "als.user_factors")["dtype"] = json!("u32")),
            |e| matches!(e, ArtifactError::SectionDtype { .. }),
            "section `als.user_factors` has dtype u32, expected f32",
        ),
        (
            "shape disagrees with the factor count",
            Box::new(move |h| {
                let s = section_mut(h, "als.user_factors");
                s["shape"] = json!([n_users * 2, 4]);
            }),
            |e| matches!(e, ArtifactError::SectionShape { .. }),
            "section `als.user_factors` has shape [80, 4], expected [40, 8]",
        ),
        (
            "section beyond the data area",
            Box::new(|h| section_mut(h, "users.ids")["offset"] = json!(1u64 << 40)),
            |e| matches!(e, ArtifactError::SectionLayout { .. }),
            "lie outside the data area",
        ),
        (
            "misaligned section",
            Box::new(|h| section_mut(h, "users.ids")["offset"] = json!(8)),
            |e| matches!(e, ArtifactError::SectionLayout { .. }),
            "not a multiple of 64",
        ),
        (
            "byte length does not hold the shape",
            Box::new(|h| section_mut(h, "users.ids")["bytes"] = json!(8)),
            |e| matches!(e, ArtifactError::SectionLayout { .. }),
            "8 bytes do not hold shape [40] of u64",
        ),
        (
            "kind disagrees with params",
            Box::new(|h| h["kind"] = json!("ease")),
            |e| matches!(e, ArtifactError::HeaderField { field: "kind", .. }),
            "`ease` but the params are for `implicit-als`",
        ),
        (
            "created_at not RFC 3339",
            Box::new(|h| h["created_at"] = json!("yesterday")),
            |e| matches!(e, ArtifactError::HeaderField { field: "created_at", .. }),
            "created_at",
        ),
        (
            "unknown model kind",
            Box::new(|h| {
                h["kind"] = json!("svd");
                h["params"] = json!({ "kind": "svd" });
            }),
            |e| matches!(e, ArtifactError::Header(_)),
            "unreadable artifact header",
        ),
        (
            "params the engine refuses",
            Box::new(|h| h["params"]["regularization"] = json!(-1.0)),
            |e| matches!(e, ArtifactError::Engine { context: "implicit ALS params", .. }),
            "invalid parameter `regularization` = -1",
        ),
        (
            "header says more users than the id map has",
            Box::new(move |h| h["n_users"] = json!(n_users + 1)),
            |e| matches!(e, ArtifactError::SectionShape { name, .. } if name == "users.ids"),
            "section `users.ids` has shape [40], expected [41]",
        ),
    ];
    for (case, edit, expected, message) in cases {
        check_refused(case, &edit_header(&bytes, edit), expected, message);
    }
}

#[test]
fn parts_the_engine_refuses_are_named_with_the_engine_error() {
    let bytes = als_bytes();
    let nan = f32::NAN.to_le_bytes();
    let repeated_id = 1000u64.to_le_bytes(); // user 0's external id, again for user 1
    let too_far = (N_ITEMS as u32 + 5).to_le_bytes();
    let backwards = 0u64.to_le_bytes();
    let cases: [(&str, Vec<u8>, Expected, &str); 4] = [
        (
            "non-finite factor",
            edit_section(&bytes, "als.item_factors", 4 * 17, &nan),
            |e| matches!(e, ArtifactError::Engine { context: "implicit ALS factors", .. }),
            "implicit ALS factors: numerical failure: item factors: non-finite value at row 2",
        ),
        (
            "repeated external id",
            edit_section(&bytes, "users.ids", 8, &repeated_id),
            |e| matches!(e, ArtifactError::Engine { context: "user id map", .. }),
            "user id map: invalid parameter `external ids` = 1000",
        ),
        (
            "training item out of range",
            edit_section(&bytes, "seen.indices", 0, &too_far),
            |e| matches!(e, ArtifactError::Engine { context: "training interactions", .. }),
            "training interactions: unknown item index 35: the model has 30 items",
        ),
        (
            "indptr not monotone",
            edit_section(&bytes, "seen.indptr", 8 * 2, &backwards),
            |e| matches!(e, ArtifactError::Engine { context: "training interactions", .. }),
            "training interactions: shape mismatch in CSR indptr monotone",
        ),
    ];
    for (case, corrupt, expected, message) in cases {
        check_refused(case, &corrupt, expected, message);
    }
}

#[test]
fn inconsistent_or_unstorable_artifacts_are_not_written() {
    let mut short_map = fixtures::artifact(ModelKind::Popularity);
    short_map.users = engine::IdMap::from_external(vec![1, 2, 3]).unwrap();
    let err = to_bytes(&short_map).unwrap_err();
    assert_eq!(err.to_string(), "inconsistent artifact: user id map length is 3, expected 40");

    let mut wrong_seen: Artifact = fixtures::artifact(ModelKind::ItemKnn);
    wrong_seen.seen = engine::Csr::empty(N_USERS, N_ITEMS + 1);
    let err = to_bytes(&wrong_seen).unwrap_err();
    assert_eq!(err.to_string(), "inconsistent artifact: training matrix columns is 31, expected 30");

    let mut nan_metric = fixtures::artifact(ModelKind::Popularity);
    nan_metric.meta.metrics.insert("rmse".into(), f64::NAN);
    let err = to_bytes(&nan_metric).unwrap_err();
    assert_eq!(err.to_string(), "metric `rmse` is NaN: metrics must be finite");
}

#[test]
fn a_multi_megabyte_artifact_round_trips_through_a_file() {
    let artifact = fixtures::large_artifact(30_000, 64);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.cinerec");
    let size =
        write_artifact(&artifact, std::io::BufWriter::new(fs_err::File::create(&path).unwrap())).unwrap();
    let bytes = fs_err::read(&path).unwrap();
    assert_eq!(bytes.len() as u64, size);
    assert!(size > 7_000_000, "{size} bytes");
    assert_eq!(read_artifact(&bytes).unwrap(), artifact);
}
