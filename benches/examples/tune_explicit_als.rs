//! How the explicit ALS defaults were chosen: validation RMSE on a split carved from ml-100k's
//! `u1.base` (20 % of its ratings, seeded), never on the `u*.test` files; ALS points and Gibbs
//! sampler points (module docs of `engine::explicit_als`) side by side.
//!
//! Run: `CINEREC_DATA_DIR=../shared/datasets cargo run --release -p benches --example tune_explicit_als`

use std::time::Instant;

use benches::data_dir;
use datasets::DatasetName;
use engine::eval::random_split;
use engine::explicit_als::{ExplicitAlsParams, fit};
use engine::{Duplicates, FitContext, Interaction, Params};

const VALIDATION_SEED: u64 = 7;

fn main() {
    let log = datasets::load_ratings_log(&data_dir(), DatasetName::Ml100k).expect("ml-100k present");
    let (base, _) = datasets::load_ml100k_fold(&data_dir(), 1).expect("u1.base");
    let entries: Vec<Interaction> = base
        .iter()
        .map(|r| Interaction {
            user_idx: log.users.dense(r.user_id).expect("user in u.data"),
            item_idx: log.items.dense(r.movie_id).expect("movie in u.data"),
            value: r.rating,
            timestamp: r.timestamp,
        })
        .collect();
    let split = random_split(&entries, 0.2, VALIDATION_SEED).expect("split");
    let train = log.interactions_of(&split.train, Duplicates::Reject).expect("matrix");
    let mut grid = vec![ExplicitAlsParams::default()];
    for (factors, samples, thin) in
        [(4, 100, 4), (8, 100, 4), (8, 50, 8), (8, 100, 8), (12, 100, 4), (6, 100, 4)]
    {
        grid.push(ExplicitAlsParams { factors, samples, burn_in: 10, thin, ..Default::default() });
    }
    let mut results = Vec::new();
    for params in grid {
        let started = Instant::now();
        let model =
            fit(&params.clone().check().expect("grid params"), &train, &FitContext::new()).expect("fit");
        let squared: f64 = split
            .test
            .iter()
            .map(|e| {
                let known = (e.user_idx as usize) < train.n_users()
                    && !train.user_items().row(e.user_idx as usize).is_empty();
                let item_known = !train.item_users().row(e.item_idx as usize).is_empty();
                let predicted = match (known, item_known) {
                    (true, true) => model.predict(e.user_idx, e.item_idx),
                    (u, i) => model.baseline(u.then_some(e.user_idx), i.then_some(e.item_idx)),
                }
                .expect("prediction");
                ((predicted - e.value) as f64).powi(2)
            })
            .sum();
        let rmse = (squared / split.test.len() as f64).sqrt();
        println!(
            "factors={:<3} samples={:<4} burn_in={:<3} thin={:<2} validation RMSE={rmse:.4} ({:.1} s)",
            params.factors,
            params.samples,
            params.burn_in,
            params.thin,
            started.elapsed().as_secs_f64()
        );
        results.push((rmse, params));
    }
    results.sort_by(|a, b| a.0.total_cmp(&b.0));
    println!("\nbest three:");
    for (rmse, p) in results.iter().take(3) {
        println!("  {rmse:.4}  factors={} samples={} burn_in={}", p.factors, p.samples, p.burn_in);
    }
}
