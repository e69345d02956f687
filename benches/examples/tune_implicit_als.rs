//! How the implicit ALS defaults were chosen: a grid search on a validation split carved from the
//! *training* part of the PROTOCOLS holdout of ml-100k and ml-latest-small (the test part is
//! never used for the choice), ranked by mean nDCG@10 over both datasets. As in PROTOCOLS, every
//! training rating that is not a validation positive is seen: left out of the ranking.
//!
//! Run: `CINEREC_DATA_DIR=../shared/datasets cargo run --release -p benches --example tune_implicit_als`

use benches::data_dir;
use datasets::DatasetName;
use engine::als::{ImplicitAlsParams, fit};
use engine::eval::{evaluate_ranking, per_user_holdout, positives, without};
use engine::{Csr, Duplicates, FitContext, InteractionLog, Interactions, Params, TrainingUsers};

const SPLIT_SEED: u64 = 42;
const VALIDATION_SEED: u64 = 7;

/// (train positives, other seen training ratings, validation) carved from the training part of
/// the holdout split.
fn validation_split(log: &InteractionLog) -> (Interactions, Csr, Interactions) {
    let holdout = per_user_holdout(&positives(&log.entries, 4.0), 0.2, 5, SPLIT_SEED).expect("holdout");
    let inner = per_user_holdout(&holdout.train, 0.2, 5, VALIDATION_SEED).expect("validation");
    let matrix = |entries: &[_]| log.interactions_of(entries, Duplicates::KeepLatest).expect("matrix");
    let not_positive: Vec<_> =
        without(&log.entries, &[&holdout.test, &inner.test]).into_iter().filter(|e| e.value < 4.0).collect();
    (
        matrix(&inner.train).map_values(|_| 1.0),
        matrix(&not_positive).into_user_items(),
        matrix(&inner.test).map_values(|_| 1.0),
    )
}

fn main() {
    let logs: Vec<(DatasetName, InteractionLog)> = [DatasetName::Ml100k, DatasetName::MlLatestSmall]
        .into_iter()
        .map(|name| (name, datasets::load_ratings_log(&data_dir(), name).expect("dataset present")))
        .collect();
    let splits: Vec<_> = logs.iter().map(|(name, log)| (*name, validation_split(log))).collect();
    let mut grid = Vec::new();
    for factors in [64, 128] {
        for regularization in [1.0, 5.0, 10.0, 15.0, 20.0, 25.0, 50.0] {
            for alpha in [1.0, 2.0, 3.0, 4.0, 6.0] {
                for unobserved_weight in [0.1, 0.3, 0.5, 1.0] {
                    grid.push(ImplicitAlsParams {
                        factors,
                        regularization,
                        alpha,
                        unobserved_weight,
                        ..Default::default()
                    });
                }
            }
        }
    }
    let mut results: Vec<(f64, ImplicitAlsParams)> = grid
        .into_iter()
        .map(|params| {
            let valid = params.clone().check().expect("grid params");
            let mean = splits
                .iter()
                .map(|(_, (train, also_seen, validation))| {
                    let model = fit(&valid, train, &FitContext::new()).expect("fit");
                    let training = TrainingUsers::new(train.user_items(), also_seen).expect("shapes");
                    evaluate_ranking(&model, training, validation.user_items(), 10).expect("eval").ndcg
                })
                .sum::<f64>()
                / splits.len() as f64;
            println!(
                "factors={:<4} lambda={:<5} alpha={:<4} w0={:<4} mean validation nDCG@10={mean:.4}",
                params.factors, params.regularization, params.alpha, params.unobserved_weight
            );
            (mean, params)
        })
        .collect();
    results.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("\nbest five:");
    for (score, p) in results.iter().take(5) {
        println!(
            "  {score:.4}  factors={} lambda={} alpha={} w0={}",
            p.factors, p.regularization, p.alpha, p.unobserved_weight
        );
    }
    let defaults = ImplicitAlsParams::default();
    let default_score = results.iter().find(|(_, p)| *p == defaults).map(|(s, _)| *s);
    println!(
        "current defaults (factors={} lambda={} alpha={} w0={}): {}",
        defaults.factors,
        defaults.regularization,
        defaults.alpha,
        defaults.unobserved_weight,
        default_score.map_or("not in the grid".to_string(), |s| format!("{s:.4}"))
    );
}
