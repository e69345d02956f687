//! Bad command lines fail with messages that name the flag and what is expected.

use super::cinerec;

/// `args` fail, and the message contains `expected`.
fn check(args: &[&str], expected: &str) {
    match cinerec(args) {
        Ok(out) => panic!("cinerec {args:?} succeeded: {out}"),
        Err(err) => assert!(err.contains(expected), "cinerec {args:?}: {err:?} lacks {expected:?}"),
    }
}

#[test]
fn bad_flags_give_clear_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["evaluate", "--dataset", "ml-100k"], "--model <MODEL>"),
        (&["evaluate", "--model", "popularity"], "--dataset <DATASET>|--ratings <RATINGS>|--synth-scale"),
        (
            &["evaluate", "--dataset", "ml-100k", "--ratings", "x.csv", "--model", "ease"],
            "cannot be used with",
        ),
        (
            &["evaluate", "--dataset", "ml-100k", "--model", "svd"],
            "invalid value 'svd' for '--model <MODEL>'",
        ),
        (
            &["evaluate", "--dataset", "ml-100k", "--model", "implicit-als", "--solver", "lu"],
            "[possible values: cg, cholesky]",
        ),
        (
            &["evaluate", "--dataset", "ml-100m", "--model", "popularity"],
            "unknown dataset \"ml-100m\": expected one of ml-100k",
        ),
        (
            &["evaluate", "--dataset", "ml-100k", "--model", "popularity", "--factors", "8"],
            "--factors does not apply to --model popularity",
        ),
        (
            &["evaluate", "--dataset", "ml-100k", "--model", "implicit-als", "--factors", "0"],
            "invalid parameter `factors` = 0",
        ),
        (
            &["evaluate", "--dataset", "ml-100k", "--model", "popularity", "--k", "0"],
            "--k must be at least 1",
        ),
        (
            &["evaluate", "--ratings", "/nonexistent/ratings.csv", "--model", "popularity"],
            "/nonexistent/ratings.csv",
        ),
        (&["bench", "als", "--dataset", "ml-100k", "--repeats", "2"], "at least 3 timed fits"),
        (&["bench", "als", "--dataset", "ml-100k", "--factors", "64,x"], "invalid value 'x' for '--factors"),
        (&["peer", "compare", "/nonexistent/peer"], "not an exchange folder"),
    ];
    for (args, expected) in cases {
        check(args, expected);
    }
}

#[test]
fn the_data_directory_defaults_to_the_datasets_crate_choice() {
    use training::cli::Cli;
    let cli = Cli::parse_args(["cinerec", "--data-dir", "/srv/movielens", "datasets", "list"]).unwrap();
    assert_eq!(cli.data_dir().unwrap(), std::path::Path::new("/srv/movielens"));
    // Without the flag: CINEREC_DATA_DIR (clap reads it) or the user cache directory, exactly
    // as the datasets crate decides.
    let cli = Cli::parse_args(["cinerec", "datasets", "list"]).unwrap();
    assert_eq!(cli.data_dir().unwrap(), datasets::data_dir().unwrap());
}
