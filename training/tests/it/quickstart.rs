//! `cinerec quickstart` end to end on ml-latest-small, into a temporary store.

use super::cinerec;

#[test]
fn quickstart_trains_saves_and_recommends() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("models");
    let out = cinerec(&["quickstart", "--store", store.to_str().unwrap(), "--threads", "2"]).unwrap();
    for expected in [
        "data     ml-latest-small: 100,836 ratings by 610 users of 9,724 movies",
        "model    implicit ALS, 64 factors, 15 iterations",
        "(most-popular baseline",
        "user 1 rated 232 movies, these highest:",
        "recommended for user 1:",
        " 10. ",
        "if you liked Toy Story (1995):",
        "if you liked Matrix, The (1999):",
        "done in",
    ] {
        assert!(out.contains(expected), "{expected:?} missing from:\n{out}");
    }
    let ndcg: f64 = out.split("nDCG@10 ").nth(1).unwrap()[..5].parse().unwrap();
    let baseline: f64 = out.split("baseline ").nth(1).unwrap()[..5].parse().unwrap();
    assert!(ndcg > baseline + 0.05, "ALS {ndcg} vs popularity {baseline}:\n{out}");
    let saved =
        fs_err::read_dir(&store).unwrap().filter(|e| e.as_ref().unwrap().file_name() != "LATEST").count();
    assert_eq!(saved, 1);
    let wide = out.lines().filter(|l| !l.starts_with("data ")).any(|l| l.chars().count() > 100);
    assert!(!wide, "lines (but the one naming the data folder) stay within 100 columns:\n{out}");
}
