//! The peer exchange folder round-trips and refuses damaged files by name.

use engine::Csr;

use super::{ExchangeDir, cinerec, exchange};

#[test]
fn prepared_folder_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ml-100k");
    let out =
        cinerec(&["peer", "prepare", "--dataset", "ml-100k", "--seed", "7", "--out", dir.to_str().unwrap()])
            .unwrap();
    assert!(out.starts_with("ml-100k: 943 users × 1682 items"), "{out}");
    let ex = ExchangeDir::new(&dir);
    let meta = ex.read_meta().unwrap();
    let (train, train_meta) = exchange::read_csr(&ex.train()).unwrap();
    let (test, _) = exchange::read_csr(&ex.test()).unwrap();
    assert_eq!((meta.n_users, meta.n_items, meta.seed), (943, 1682, 7));
    assert_eq!((train.nnz(), test.nnz()), (meta.train_nnz, meta.test_nnz));
    assert_eq!(train.nnz() + test.nnz(), 55_375);
    assert_eq!(train_meta.dataset, "ml-100k");
    assert!(train.values().iter().all(|&v| v == 1.0));
    // No (user, item) pair on both sides.
    for u in 0..943 {
        assert!(test.row(u).indices.iter().all(|&i| !train.row(u).contains(i)));
    }

    // Write → read is the identity, for matrices and factors.
    let copy = tmp.path().join("copy");
    exchange::write_csr(&copy, &train, "ml-100k", "s", 7).unwrap();
    assert_eq!(exchange::read_csr(&copy).unwrap().0, train);
    let user: Vec<f32> = (0..943 * 3).map(|i| i as f32 * 0.5 - 7.25).collect();
    let item: Vec<f32> = (0..1682 * 3).map(|i| (i as f32).sin()).collect();
    let run = ex.run("test-run");
    exchange::write_factors(&run, 3, &user, &item).unwrap();
    let read = exchange::read_factors(&run).unwrap();
    assert_eq!((read.user, read.item, read.meta.factors, read.meta.n_users), (user, item, 3, 943));
    // numpy's view: little-endian f32 bytes, row-major.
    let bytes = std::fs::read(run.join("user_factors.f32")).unwrap();
    assert_eq!(bytes[4..8], (-6.75f32).to_le_bytes());
}

#[test]
fn damaged_files_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let m = Csr::from_parts(2, 3, vec![0, 1, 3], vec![2, 0, 1], vec![1.0, 1.0, 1.0]).unwrap();
    let dir = tmp.path().join("m");
    exchange::write_csr(&dir, &m, "toy", "s", 1).unwrap();
    // Truncated indices.
    let indices = dir.join("indices.i32");
    let bytes = std::fs::read(&indices).unwrap();
    std::fs::write(&indices, &bytes[..8]).unwrap();
    let err = exchange::read_csr(&dir).unwrap_err().to_string();
    assert!(err.contains("indices.i32: 8 bytes, expected 3 values of 4 bytes = 12"), "{err}");
    // Unsorted columns in a row.
    let mut swapped = bytes.clone();
    swapped[4..12].copy_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
    std::fs::write(&indices, &swapped).unwrap();
    let err = exchange::read_csr(&dir).unwrap_err().to_string();
    assert!(err.contains("duplicate interaction for user index 1"), "{err}");
    // Another format version.
    std::fs::write(
        dir.join("meta.json"),
        r#"{"format_version":1,"n_users":2,"n_items":3,"nnz":3,"dataset":"t","split":"s","seed":1}"#,
    )
    .unwrap();
    let err = exchange::read_csr(&dir).unwrap_err().to_string();
    assert!(err.contains("format_version 1, expected 2"), "{err}");
}
