//! `peer compare` without Python: a stand-in "implicit" run made of cinerec's own factors must
//! score exactly what cinerec scores, since training is deterministic for a seed.

use engine::als;
use training::cli::SolverArg;

use super::{ExchangeDir, cinerec, exchange, f, json};

#[test]
fn compare_evaluates_both_sides_with_the_same_code() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ml-100k");
    let dir_str = dir.to_str().unwrap();
    cinerec(&["peer", "prepare", "--dataset", "ml-100k", "--out", dir_str]).unwrap();
    let ex = ExchangeDir::new(&dir);
    let (train, _) = exchange::read_csr(&ex.train()).unwrap();
    let params = training::bench::als_params(16, SolverArg::Cholesky, 4, 0.01, 1.0, 42).unwrap();
    let model =
        als::fit(&params, &engine::Interactions::from_csr(train), &engine::FitContext::new()).unwrap();
    let run = ex.run(&exchange::run_name(16, "cholesky", 4, 1, false));
    exchange::write_factors(&run, 16, model.user_factors(), model.item_factors()).unwrap();
    let timing = serde_json::json!({
        "library": "stand-in", "version": "0", "run": "r", "factors": 16, "iterations": 4,
        "regularization": 0.01, "alpha": 1.0, "solver": "cholesky", "threads": 1,
        "implicit_defaults": false, "objective": "same", "seconds_per_iteration": 0.5,
        "iteration_seconds": [0.5, 0.5, 0.5], "peak_rss_bytes": 1048576
    });
    std::fs::write(run.join("timing.json"), timing.to_string()).unwrap();

    let args = ["peer", "compare", dir_str, "--factors", "16", "--solver", "cholesky", "--iterations", "4"];
    let rows = json(&[&args[..], &["--threads", "1"]].concat());
    let row = &rows[0];
    assert_eq!(row["cinerec"]["ndcg"], row["implicit"]["ndcg"], "{row:#}");
    assert_eq!(row["cinerec"]["precision"], row["implicit"]["precision"]);
    assert!((0.15..0.5).contains(&f(&row["cinerec"]["ndcg"])), "{row:#}");
    assert_eq!(f(&row["cinerec"]["timed_iterations"]), 12.0);
    assert!((f(&row["ratio"]) - 0.5 / f(&row["cinerec"]["seconds_per_iteration"])).abs() < 1e-9);

    // The row was saved, and `peer table` prints it.
    let table = cinerec(&["peer", "table", dir_str]).unwrap();
    let cells: Vec<&str> = table.lines().nth(2).unwrap().split_whitespace().take(5).collect();
    assert_eq!(cells, ["ml-100k", "holdout", "identical", "16", "cholesky"], "{table}");
    // A run that implicit has not made is named.
    let err = cinerec(&[&args[..], &["--threads", "2"]].concat()).unwrap_err();
    assert!(err.contains("implicit-f16-cholesky-i4-t2: no implicit run here"), "{err}");
}
