//! The int8 candidate index against the exact top-N on models trained on ml-latest-small: recall,
//! top-1 agreement and exact scores over every user, for implicit and explicit ALS, by user
//! index and by fold-in.
//!
//! Data: `$CINEREC_DATA_DIR/ml-latest-small`, else `<repo>/../shared/datasets/ml-latest-small`.

use std::path::PathBuf;

use engine::als::{self, ImplicitAlsParams};
use engine::explicit_als::{self, ExplicitAlsParams};
use engine::recommend::{TrainingUsers, recommend_batch, recommend_for_history};
use engine::{
    Duplicates, FitContext, IdMap, Interaction, Interactions, Params, QuantizedIndex, RecommendOptions,
    Recommender, ScoredItem,
};

/// ml-latest-small's `ratings.csv` as a user × item matrix of ratings.
fn ratings() -> Interactions {
    let root = std::env::var_os("CINEREC_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets"));
    let path = root.join("ml-latest-small/ratings.csv");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = String::from_utf8(bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (mut users, mut items) = (IdMap::new(), IdMap::new());
    let entries: Vec<Interaction> = text
        .lines()
        .skip(1)
        .enumerate()
        .map(|(n, line)| {
            let fields: Vec<&str> = line.split(',').collect();
            let field = |i: usize| -> f64 {
                fields
                    .get(i)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("{}:{}: bad field {i} in {line:?}", path.display(), n + 2))
            };
            Interaction {
                user_idx: users.get_or_insert(field(0) as u64),
                item_idx: items.get_or_insert(field(1) as u64),
                value: field(2) as f32,
                timestamp: 0,
            }
        })
        .collect();
    Interactions::from_entries(users.len(), items.len(), &entries, Duplicates::Reject).unwrap()
}

/// How the quantized lists compare with the exact ones.
#[derive(Debug)]
struct Agreement {
    recall: f64,
    same_top1: f64,
    identical: f64,
}

/// Compares lists user by user; every quantized score must be bit-identical to the exact score
/// of that item (`exact_scores(user)` returns the model's scores of all items).
fn agreement(
    quantized: &[Vec<ScoredItem>],
    exact: &[Vec<ScoredItem>],
    mut exact_scores: impl FnMut(usize) -> Vec<f32>,
) -> Agreement {
    let (mut hits, mut wanted, mut same_top1, mut identical) = (0, 0, 0, 0);
    for (user, (q, e)) in quantized.iter().zip(exact).enumerate() {
        assert_eq!(q.len(), e.len(), "user {user}");
        wanted += e.len();
        hits += q.iter().filter(|s| e.iter().any(|x| x.item_idx == s.item_idx)).count();
        same_top1 += usize::from(q.first().map(|s| s.item_idx) == e.first().map(|s| s.item_idx));
        identical += usize::from(q == e);
        let scores = exact_scores(user);
        for s in q {
            assert_eq!(s.score.to_bits(), scores[s.item_idx as usize].to_bits(), "user {user}");
        }
    }
    let n = quantized.len() as f64;
    Agreement {
        recall: hits as f64 / wanted as f64,
        same_top1: same_top1 as f64 / n,
        identical: identical as f64 / n,
    }
}

fn check(name: &str, model: &dyn Recommender, data: &Interactions) {
    let seen = data.user_items();
    let index = QuantizedIndex::build(model).unwrap();
    let options = RecommendOptions::default();
    let users: Vec<u32> = (0..data.n_users() as u32).collect();
    let training = TrainingUsers::learned_only(seen);
    let quantized = index.recommend_batch(model, training, &users, &options).unwrap();
    let exact = recommend_batch(model, training, &users, &options).unwrap();
    let by_user = agreement(&quantized, &exact, |user| {
        let mut scores = vec![0f32; data.n_items()];
        model.score_user(user as u32, seen.row(user), &mut scores).unwrap();
        scores
    });
    // Fold-in of each user's training row.
    let fold_in = |f: &dyn Fn(usize) -> Vec<ScoredItem>| (0..data.n_users()).map(f).collect::<Vec<_>>();
    let quantized =
        fold_in(&|user| index.recommend_for_history(model, seen.row(user), &[], &options).unwrap());
    let exact = fold_in(&|user| recommend_for_history(model, seen.row(user), &[], &options).unwrap());
    let by_history = agreement(&quantized, &exact, |user| {
        let mut scores = vec![0f32; data.n_items()];
        model.score_history(seen.row(user), &mut scores).unwrap();
        scores
    });
    eprintln!("{name}: by user {by_user:?}, by history {by_history:?}");
    for (what, a) in [("by user", by_user), ("by history", by_history)] {
        assert!(a.recall >= 0.99, "{name} {what}: recall@10 {:.4}", a.recall);
        assert!(a.same_top1 >= 0.99, "{name} {what}: same top-1 for {:.4} of users", a.same_top1);
        assert!(a.identical >= 0.9, "{name} {what}: identical lists for {:.4} of users", a.identical);
    }
}

#[test]
fn quantized_top10_agrees_with_exact_on_ml_latest_small() {
    let data = ratings();
    assert_eq!((data.n_users(), data.n_items(), data.nnz()), (610, 9_724, 100_836));
    let ctx = FitContext::new();
    let implicit = ImplicitAlsParams { factors: 128, ..Default::default() }.check().unwrap();
    check("implicit-als", &als::fit(&implicit, &data, &ctx).unwrap(), &data);
    let explicit = ExplicitAlsParams::default().check().unwrap();
    check("explicit-als", &explicit_als::fit(&explicit, &data, &ctx).unwrap(), &data);
}
