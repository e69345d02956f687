//! How the blend's defaults were chosen: a grid over the value a low rating is learned as, EASE's
//! λ and EASE's weight (implicit ALS at its own defaults) on a validation split carved from the
//! *training* part of the PROTOCOLS holdout of ml-100k and ml-latest-small (the test part is
//! never used), ranked by mean nDCG@10 over both datasets; beside it, EASE alone (on positives,
//! its default λ 300) on the same split.
//!
//! Run: `CINEREC_DATA_DIR=../shared/datasets cargo run --release -p benches --example tune_blend`

use benches::data_dir;
use datasets::DatasetName;
use engine::als::fit as fit_als;
use engine::blend::{BlendModel, BlendParams};
use engine::ease::{EaseParams, fit as fit_ease};
use engine::eval::{evaluate_ranking, per_user_holdout, positives, without};
use engine::{
    Csr, Duplicates, FitContext, Interaction, InteractionLog, Interactions, Params, Recommender,
    TrainingUsers,
};

/// A grid point: (low-rating value, EASE λ, EASE weight).
type Point = (f32, f32, f32);

const SPLIT_SEED: u64 = 42;
const VALIDATION_SEED: u64 = 7;

struct Split {
    train_pos: Vec<Interaction>,
    low: Vec<Interaction>,
    validation: Interactions,
    n_users: usize,
    n_items: usize,
}

fn split(log: &InteractionLog) -> Split {
    let holdout = per_user_holdout(&positives(&log.entries, 4.0), 0.2, 5, SPLIT_SEED).expect("holdout");
    let inner = per_user_holdout(&holdout.train, 0.2, 5, VALIDATION_SEED).expect("validation");
    let low: Vec<_> =
        without(&log.entries, &[&holdout.test, &inner.test]).into_iter().filter(|e| e.value < 4.0).collect();
    let validation = log.interactions_of(&inner.test, Duplicates::KeepLatest).expect("m").map_values(|_| 1.0);
    Split {
        train_pos: inner.train.iter().map(|e| Interaction { value: 1.0, ..*e }).collect(),
        low,
        validation,
        n_users: log.users.len(),
        n_items: log.items.len(),
    }
}

impl Split {
    /// Training matrix: positives 1.0, low ratings `w_low` (0: left out, then they are seen).
    fn train(&self, w_low: f32) -> (Interactions, Csr) {
        let mut entries = self.train_pos.clone();
        if w_low > 0.0 {
            entries.extend(self.low.iter().map(|e| Interaction { value: w_low, ..*e }));
        }
        let train =
            Interactions::from_entries(self.n_users, self.n_items, &entries, Duplicates::Max).unwrap();
        let also = if w_low > 0.0 {
            Csr::empty(self.n_users, self.n_items)
        } else {
            Csr::from_entries(self.n_users, self.n_items, &self.low, Duplicates::KeepLatest).unwrap()
        };
        (train, also)
    }
}

fn main() {
    const W_LOW: [f32; 3] = [0.0, 0.25, 0.5];
    const LAMBDAS: [f32; 4] = [100.0, 200.0, 300.0, 500.0];
    const WEIGHTS: [f32; 5] = [0.3, 0.4, 0.5, 0.6, 0.7];
    // (w_low, λ, weight) → validation nDCG@10 per dataset; EASE alone per dataset.
    let mut grid: Vec<(Point, Vec<f64>)> = Vec::new();
    let mut ease_alone = Vec::new();
    for name in [DatasetName::Ml100k, DatasetName::MlLatestSmall] {
        let log = datasets::load_ratings_log(&data_dir(), name).expect("dataset present");
        let s = split(&log);
        let eval = |model: &dyn Recommender, train: &Interactions, also: &Csr| {
            let training = TrainingUsers::new(train.user_items(), also).expect("shapes");
            evaluate_ranking(model, training, s.validation.user_items(), 10).expect("eval").ndcg
        };
        let (train, also) = s.train(0.0);
        let ease = fit_ease(&EaseParams::default().check().unwrap(), &train, &FitContext::new()).unwrap();
        ease_alone.push(eval(&ease, &train, &also));
        println!("{name:?}: EASE alone (positives, lambda 300) {:.4}", ease_alone.last().unwrap());
        let mut at = 0;
        for w_low in W_LOW {
            let (train, also) = s.train(w_low);
            let defaults = BlendParams::default();
            let als = fit_als(&defaults.als.clone().check().unwrap(), &train, &FitContext::new()).unwrap();
            for lambda in LAMBDAS {
                let ease_params = EaseParams { regularization: lambda, ..EaseParams::default() };
                let ease =
                    fit_ease(&ease_params.clone().check().unwrap(), &train, &FitContext::new()).unwrap();
                for ease_weight in WEIGHTS {
                    let params = BlendParams {
                        ease: ease_params.clone(),
                        ease_weight,
                        low_rating_weight: w_low,
                        ..defaults.clone()
                    };
                    let blend =
                        BlendModel::from_parts(&params.check().unwrap(), ease.clone(), als.clone()).unwrap();
                    let ndcg = eval(&blend, &train, &also);
                    if grid.len() <= at {
                        grid.push(((w_low, lambda, ease_weight), Vec::new()));
                    }
                    grid[at].1.push(ndcg);
                    at += 1;
                }
            }
        }
    }
    let ease_mean = ease_alone.iter().sum::<f64>() / 2.0;
    let mut means: Vec<(f64, Point, Vec<f64>)> =
        grid.into_iter().map(|(point, v)| (v.iter().sum::<f64>() / v.len() as f64, point, v)).collect();
    means.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!(
        "best ten (low-rating value, EASE lambda, EASE weight): mean, per dataset, mean / EASE alone's mean"
    );
    for (mean, (w_low, lambda, weight), v) in means.iter().take(10) {
        println!(
            "  w_low={w_low:<5} lambda={lambda:<4} weight={weight:<4} {mean:.4}  ({:.4}, {:.4})  {:.3}x",
            v[0],
            v[1],
            mean / ease_mean
        );
    }
    let d = BlendParams::default();
    let default = means
        .iter()
        .find(|(_, p, _)| *p == (d.low_rating_weight, d.ease.regularization, d.ease_weight))
        .expect("the defaults are in the grid");
    println!(
        "defaults (w_low={}, lambda={}, weight={}): {:.4} ({:.4}, {:.4})",
        d.low_rating_weight, d.ease.regularization, d.ease_weight, default.0, default.2[0], default.2[1]
    );
}
