//! Offline evaluation: train/test splits ([`split`]), metrics ([`metrics`]) and drivers that
//! score a model over a test set.
//!
//! The drivers run on the current rayon pool (call them inside `pool.install(..)` to choose
//! one). Per-user results are collected in user order and summed sequentially, so reports do not
//! depend on the number of threads.

pub mod metrics;
pub mod split;

use rayon::prelude::*;

use crate::error::{EngineError, Result};
use crate::interactions::{Csr, Interaction, Row};
use crate::recommend::{Recommender, TrainingUsers};
use crate::topk::top_k;

pub use split::{
    Split, StrongSplit, k_fold, leave_k_out, per_user_holdout, positives, random_split, rounded_share,
    strong_generalization, temporal_per_user, without,
};

/// Mean top-K ranking quality over the evaluated users (those with at least one test item).
#[derive(Clone, Debug, PartialEq)]
pub struct RankingReport {
    /// The cut-off K.
    pub k: usize,
    /// Number of users evaluated.
    pub n_users: usize,
    /// Mean Precision@K.
    pub precision: f64,
    /// Mean Recall@K (hits / min(K, |test|)).
    pub recall: f64,
    /// Mean nDCG@K (binary relevance).
    pub ndcg: f64,
    /// MAP@K: mean average precision@K (normalised by min(K, |test|)).
    pub map: f64,
    /// Mean AUC over the users for whom it is defined (at least one test item among the
    /// candidates and one candidate that is not a test item); NaN if there is none.
    pub auc: f64,
    /// Catalogue coverage@K: distinct items recommended to the evaluated users / number of items.
    pub coverage: f64,
}

/// Rating-prediction error over a test set.
#[derive(Clone, Debug, PartialEq)]
pub struct RatingReport {
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Number of test ratings.
    pub n: usize,
}

/// Top-K evaluation of a model on its training users. For every user with test items, all
/// items are scored with [`Recommender::score_user`] (history = the user's row of the training
/// matrix), every item the user rated in training (`train`'s both rows: what users get) is
/// excluded, and the best `k` remaining items (ties to the lower index) are compared with the
/// user's row of `test`. The matrices are user × item of the model's shape; `k` must be ≥ 1.
pub fn evaluate_ranking(
    model: &dyn Recommender,
    train: TrainingUsers<'_>,
    test: &Csr,
    k: usize,
) -> Result<RankingReport> {
    check_shapes(model, train.learned(), test)?;
    rank_users(model.n_items(), train, test, k, |user_idx, history, scores| {
        model.score_user(user_idx, history, scores)
    })
}

/// Top-K evaluation of users the model never trained on (strong generalization). Row `r` of
/// `fold_in` is a held-out user's known history (its learned row is scored with
/// [`Recommender::score_history`]; both rows are excluded); row `r` of `test` is what that user
/// should be recommended. Otherwise as [`evaluate_ranking`]; see
/// [`StrongSplit::heldout_matrices`].
pub fn evaluate_ranking_fold_in(
    model: &dyn Recommender,
    fold_in: TrainingUsers<'_>,
    test: &Csr,
    k: usize,
) -> Result<RankingReport> {
    check_shapes(model, fold_in.learned(), test)?;
    rank_users(model.n_items(), fold_in, test, k, |_, history, scores| model.score_history(history, scores))
}

/// RMSE and MAE of `predict(user_idx, item_idx)` against the values of `test`, predicted in
/// parallel. Empty `test` is an error, and so is a non-finite prediction (the first one, in
/// `test` order, is named).
pub fn evaluate_ratings(
    predict: impl Fn(u32, u32) -> f32 + Sync,
    test: &[Interaction],
) -> Result<RatingReport> {
    let predicted: Vec<f32> = test.par_iter().map(|e| predict(e.user_idx, e.item_idx)).collect();
    if let Some((e, &value)) = test.iter().zip(&predicted).find(|(_, p)| !p.is_finite()) {
        return Err(EngineError::NonFinite { user_idx: e.user_idx, item_idx: e.item_idx, value });
    }
    let pairs = || predicted.iter().copied().zip(test.iter().map(|e| e.value));
    match (metrics::rmse(pairs()), metrics::mae(pairs())) {
        (Some(rmse), Some(mae)) => Ok(RatingReport { rmse, mae, n: test.len() }),
        _ => Err(EngineError::Empty("test interactions")),
    }
}

/// Both matrices have the model's items and the same rows.
fn check_shapes(model: &dyn Recommender, history: &Csr, test: &Csr) -> Result<()> {
    let n_items = model.n_items();
    for (what, got) in [("history matrix columns", history.n_cols()), ("test matrix columns", test.n_cols())]
    {
        if got != n_items {
            return Err(EngineError::Shape { what, expected: n_items, got });
        }
    }
    if test.n_rows() != history.n_rows() {
        return Err(EngineError::Shape {
            what: "test matrix rows",
            expected: history.n_rows(),
            got: test.n_rows(),
        });
    }
    Ok(())
}

/// One user's ranking metrics and top-K list.
struct UserEval {
    precision: f64,
    recall: f64,
    ndcg: f64,
    map: f64,
    auc: Option<f64>,
    ranked: Vec<u32>,
}

/// Scores every user with test items, in parallel, then averages in user order.
fn rank_users(
    n_items: usize,
    history: TrainingUsers<'_>,
    test: &Csr,
    k: usize,
    score: impl Fn(u32, Row<'_>, &mut [f32]) -> Result<()> + Sync,
) -> Result<RankingReport> {
    if k == 0 {
        return Err(EngineError::InvalidParam { name: "k", value: "0".into(), allowed: "at least 1" });
    }
    let users: Vec<u32> = (0..test.n_rows()).filter(|&u| test.row_len(u) > 0).map(|u| u as u32).collect();
    if users.is_empty() {
        return Err(EngineError::Empty("test users"));
    }
    let per_user: Vec<Result<UserEval>> = users
        .par_iter()
        .map_init(
            || vec![0f32; n_items],
            |scores, &user_idx| {
                let (row, seen) = history.unchecked(user_idx);
                let relevant = test.row(user_idx as usize).indices;
                score(user_idx, row, scores)?;
                let ranked: Vec<u32> =
                    top_k(scores, k, |item| !seen.contains(item)).into_iter().map(|s| s.item_idx).collect();
                Ok(UserEval {
                    precision: metrics::precision_at_k(&ranked, relevant, k),
                    recall: metrics::recall_at_k(&ranked, relevant, k),
                    ndcg: metrics::ndcg_at_k(&ranked, relevant, k),
                    map: metrics::average_precision_at_k(&ranked, relevant, k),
                    auc: metrics::auc(scores, relevant, &seen.union()),
                    ranked,
                })
            },
        )
        .collect();
    // Sequential, in user order: the first error wins and sums do not depend on threads.
    let per_user = per_user.into_iter().collect::<Result<Vec<_>>>()?;
    let n_users = per_user.len();
    let mean = |f: fn(&UserEval) -> f64| per_user.iter().map(f).sum::<f64>() / n_users as f64;
    let (auc_sum, auc_users) =
        per_user.iter().filter_map(|u| u.auc).fold((0.0, 0usize), |(sum, n), auc| (sum + auc, n + 1));
    Ok(RankingReport {
        k,
        n_users,
        precision: mean(|u| u.precision),
        recall: mean(|u| u.recall),
        ndcg: mean(|u| u.ndcg),
        map: mean(|u| u.map),
        auc: if auc_users > 0 { auc_sum / auc_users as f64 } else { f64::NAN },
        coverage: metrics::catalogue_coverage(per_user.iter().map(|u| &u.ranked[..]), n_items),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interactions::{Duplicates, Interactions};
    use crate::params::Params;
    use crate::popularity::{self, PopularityModel, PopularityParams};
    use crate::recommend::TrainingUsers;
    use crate::rng::Rng;

    fn e(user_idx: u32, item_idx: u32, value: f32) -> Interaction {
        Interaction { user_idx, item_idx, value, timestamp: 0 }
    }

    fn csr(n_users: usize, n_items: usize, pairs: &[(u32, u32)]) -> Csr {
        let entries: Vec<Interaction> = pairs.iter().map(|&(u, i)| e(u, i, 1.0)).collect();
        Interactions::from_entries(n_users, n_items, &entries, Duplicates::Reject)
            .unwrap()
            .user_items()
            .clone()
    }

    fn popularity_of(train: &Csr) -> PopularityModel {
        let data = Interactions::from_csr(train.clone());
        popularity::fit(&PopularityParams::default().check().unwrap(), &data).unwrap()
    }

    fn check(got: &RankingReport, expected: &RankingReport) {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        let fields = |r: &RankingReport| [r.precision, r.recall, r.ndcg, r.map, r.auc, r.coverage];
        assert!(
            got.k == expected.k
                && got.n_users == expected.n_users
                && fields(got).iter().zip(fields(expected)).all(|(&g, e)| close(g, e)),
            "got {got:#?}\nexpected {expected:#?}"
        );
    }

    /// Train: user 0 {0, 1}, user 1 {0, 2}, user 2 {0, 1, 3}; popularity over 6 items is
    /// [3, 2, 1, 1, 0, 0].
    fn train() -> Csr {
        csr(3, 6, &[(0, 0), (0, 1), (1, 0), (1, 2), (2, 0), (2, 1), (2, 3)])
    }

    #[test]
    fn ranking_on_training_users_matches_hand_computed_values() {
        let train = train();
        let model = popularity_of(&train);
        assert_eq!(model.scores(), &[3.0, 2.0, 1.0, 1.0, 0.0, 0.0]);
        // Test: user 0 {2, 5}, user 1 {1}, user 2 nothing (not evaluated).
        let test = csr(3, 6, &[(0, 2), (0, 5), (1, 1)]);
        let report = evaluate_ranking(&model, TrainingUsers::learned_only(&train), &test, 2).unwrap();
        // User 0: candidates 2..=5 scored [1, 1, 0, 0]; top-2 = [2, 3] (tie → lower index).
        //   Hit at rank 1 of test {2, 5}: P = 1/2, R = 1/min(2,2) = 1/2,
        //   nDCG = 1 / (1 + 1/log2 3) = 0.61315, AP = (1/1)/2 = 1/2.
        //   AUC: positives 2 (1), 5 (0); negatives 3 (1), 4 (0):
        //   (2,3) ½ + (2,4) 1 + (5,3) 0 + (5,4) ½ = 2 of 4 pairs = 1/2.
        // User 1: candidates 1, 3, 4, 5 scored [2, 1, 0, 0]; top-2 = [1, 3]; test {1}:
        //   P = 1/2, R = 1/min(2,1) = 1, nDCG = 1, AP = 1, AUC = 3 of 3 pairs = 1.
        // Means: P 0.5, R 0.75, nDCG (0.61315 + 1)/2 = 0.80657, MAP 0.75, AUC 0.75;
        // coverage {2, 3} ∪ {1, 3} = 3 of 6 items = 0.5.
        let expected = RankingReport {
            k: 2,
            n_users: 2,
            precision: 0.5,
            recall: 0.75,
            ndcg: 0.8065735963827292,
            map: 0.75,
            auc: 0.75,
            coverage: 0.5,
        };
        check(&report, &expected);
    }

    #[test]
    fn ranking_fold_in_matches_hand_computed_values() {
        let model = popularity_of(&train());
        // Held-out user 0 folds in {1} and is tested on {0, 4}; held-out user 1 has no test.
        let fold_in = csr(2, 6, &[(0, 1), (1, 3)]);
        let test = csr(2, 6, &[(0, 0), (0, 4)]);
        let report =
            evaluate_ranking_fold_in(&model, TrainingUsers::learned_only(&fold_in), &test, 2).unwrap();
        // Candidates 0, 2, 3, 4, 5 scored [3, 1, 1, 0, 0]; top-2 = [0, 2].
        // Hit at rank 1 of test {0, 4}: P = 1/2, R = 1/2, nDCG = 1/(1 + 1/log2 3) = 0.61315,
        // AP = 1/2. AUC: positive 0 (3) beats negatives 2, 3, 5 → 3; positive 4 (0) loses to
        // 2 and 3 and ties 5 → ½; 3.5 of 6 pairs. Coverage {0, 2} = 2 of 6.
        let expected = RankingReport {
            k: 2,
            n_users: 1,
            precision: 0.5,
            recall: 0.5,
            ndcg: 0.6131471927654584,
            map: 0.5,
            auc: 3.5 / 6.0,
            coverage: 2.0 / 6.0,
        };
        check(&report, &expected);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let train = train();
        let model = popularity_of(&train);
        let test = csr(3, 6, &[(0, 2)]);
        assert!(matches!(
            evaluate_ranking(&model, TrainingUsers::learned_only(&train), &test, 0),
            Err(EngineError::InvalidParam { name: "k", .. })
        ));
        assert_eq!(
            evaluate_ranking(&model, TrainingUsers::learned_only(&train), &Csr::empty(3, 6), 5).unwrap_err(),
            EngineError::Empty("test users")
        );
        assert!(matches!(
            evaluate_ranking(&model, TrainingUsers::learned_only(&train), &csr(2, 6, &[(0, 2)]), 5),
            Err(EngineError::Shape { what: "test matrix rows", expected: 3, got: 2 })
        ));
        assert!(matches!(
            evaluate_ranking(&model, TrainingUsers::learned_only(&train), &csr(3, 7, &[(0, 2)]), 5),
            Err(EngineError::Shape { what: "test matrix columns", expected: 6, got: 7 })
        ));
        // More rows than the model has users: the model refuses user 3.
        let wide_train = csr(4, 6, &[(0, 0)]);
        assert_eq!(
            evaluate_ranking(&model, TrainingUsers::learned_only(&wide_train), &csr(4, 6, &[(3, 2)]), 5)
                .unwrap_err(),
            EngineError::UnknownUser { user_idx: 3, n_users: 3 }
        );
    }

    #[test]
    fn rating_errors_match_hand_computed_values() {
        let test = [e(0, 0, 4.0), e(0, 1, 3.0), e(1, 0, 5.0)];
        // Predictions 3.5, 3, 4: errors 0.5, 0, 1. RMSE = √((0.25 + 0 + 1)/3) = √0.41667 =
        // 0.64550; MAE = 1.5/3 = 0.5.
        let predict = |u: u32, i: u32| [[3.5, 3.0], [4.0, 0.0]][u as usize][i as usize];
        let report = evaluate_ratings(predict, &test).unwrap();
        assert!((report.rmse - 0.6454972243679028).abs() < 1e-12, "{report:?}");
        assert_eq!((report.mae, report.n), (0.5, 3));
        assert_eq!(evaluate_ratings(predict, &[]).unwrap_err(), EngineError::Empty("test interactions"));
        let err = evaluate_ratings(|u, _| if u == 1 { f32::NAN } else { 1.0 }, &test).unwrap_err();
        assert!(matches!(err, EngineError::NonFinite { user_idx: 1, item_idx: 0, .. }));
    }

    /// A test-only model whose scores differ per user (seeded noise), to exercise ranking
    /// beyond popularity's shared scores.
    struct Noise {
        n_users: usize,
        n_items: usize,
    }

    impl Noise {
        fn fill(&self, stream: u64, scores: &mut [f32]) {
            let mut rng = Rng::for_stream(99, stream);
            // Coarse values, so that ties occur.
            scores.iter_mut().for_each(|s| *s = rng.below(8) as f32);
        }
    }

    impl Recommender for Noise {
        fn kind(&self) -> &'static str {
            "noise"
        }
        fn n_users(&self) -> usize {
            self.n_users
        }
        fn n_items(&self) -> usize {
            self.n_items
        }
        fn score_user(&self, user_idx: u32, _history: Row<'_>, scores: &mut [f32]) -> Result<()> {
            self.fill(user_idx as u64, scores);
            Ok(())
        }
        fn score_history(&self, history: Row<'_>, scores: &mut [f32]) -> Result<()> {
            self.fill(history.indices.iter().map(|&i| i as u64).sum(), scores);
            Ok(())
        }
        fn item_similarities(&self, _item_idx: u32, _out: &mut [f32]) -> Result<()> {
            Err(EngineError::Unsupported { model: "noise", operation: "similar items" })
        }
        fn explain(&self, _: Option<u32>, _: Row<'_>, _: u32) -> Result<crate::Explanation> {
            Err(EngineError::Unsupported { model: "noise", operation: "explain" })
        }
    }

    /// 300 users × 80 items, each user with 5..=24 random items and ratings 1..=5.
    fn random_entries() -> Vec<Interaction> {
        let mut rng = Rng::new(21);
        let mut res = Vec::new();
        for user in 0..300u32 {
            let mut items: Vec<u32> = (0..80).collect();
            rng.shuffle(&mut items);
            for &item in &items[..5 + rng.below(20) as usize] {
                res.push(e(user, item, 1.0 + rng.below(5) as f32));
            }
        }
        res
    }

    #[test]
    fn reports_do_not_depend_on_the_thread_count() {
        let entries = split::positives(&random_entries(), 3.0);
        let holdout = per_user_holdout(&entries, 0.2, 5, 4).unwrap();
        let to_csr = |v: &[Interaction]| {
            Interactions::from_entries(300, 80, v, Duplicates::Reject).unwrap().user_items().clone()
        };
        let (train, test) = (to_csr(&holdout.train), to_csr(&holdout.test));
        let popularity = popularity_of(&train);
        let noise = Noise { n_users: 300, n_items: 80 };
        let strong = strong_generalization(&entries, 300, 60, 0.8, 4).unwrap();
        let (fold_in, heldout_test) = strong.heldout_matrices(80).unwrap();
        let ratings = random_split(&random_entries(), 0.2, 4).unwrap();

        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                (
                    evaluate_ranking(&popularity, TrainingUsers::learned_only(&train), &test, 10).unwrap(),
                    evaluate_ranking(&noise, TrainingUsers::learned_only(&train), &test, 10).unwrap(),
                    evaluate_ranking_fold_in(
                        &noise,
                        TrainingUsers::learned_only(&fold_in),
                        &heldout_test,
                        10,
                    )
                    .unwrap(),
                    evaluate_ratings(|u, i| ((u * 7 + i) % 5) as f32 + 0.5, &ratings.test).unwrap(),
                )
            })
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(3));
        // Sanity: the reports are not degenerate (on uniform random data popularity is no
        // better than chance).
        assert!(one.0.n_users > 100 && one.0.recall > 0.0 && (0.3..0.7).contains(&one.0.auc), "{:?}", one.0);
        assert!((0.3..0.7).contains(&one.1.auc), "noise AUC near ½: {:?}", one.1);
        assert!(one.2.n_users > 40, "{:?}", one.2);
    }

    #[test]
    fn a_cut_off_beyond_the_catalogue_ranks_every_candidate() {
        let entries = random_entries();
        let holdout = per_user_holdout(&entries, 0.3, 5, 8).unwrap();
        let to_csr = |v: &[Interaction]| {
            Interactions::from_entries(300, 80, v, Duplicates::Reject).unwrap().user_items().clone()
        };
        let (train, test) = (to_csr(&holdout.train), to_csr(&holdout.test));
        // With k = 100 > 80 items every candidate is ranked: recall is 1 for every user, and
        // precision divides by k, not by the shorter list: mean |test| / 100.
        let noise = Noise { n_users: 300, n_items: 80 };
        let report = evaluate_ranking(&noise, TrainingUsers::learned_only(&train), &test, 100).unwrap();
        assert_eq!(report.n_users, 300);
        assert_eq!(report.recall, 1.0);
        let mean_test = holdout.test.len() as f64 / 300.0;
        assert!((report.precision - mean_test / 100.0).abs() < 1e-12, "{report:?}");
        assert_eq!(report.coverage, 1.0);
    }
}
