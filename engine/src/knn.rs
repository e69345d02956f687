//! Item-kNN: cosine and BM25-weighted item-item similarities, top-K sparse neighbours per item.
//!
//! Like `implicit`'s `ItemItemRecommender` family: the item × user matrix is optionally
//! re-weighted (BM25, as in `implicit`'s `BM25Recommender`), item-item dot products are
//! computed sparsely (for item `i`: its users, then their items; O(Σ_u n_u²) overall), each
//! item keeps its `neighbours` most similar other items, and a user's score for item `i` is
//! `Σ_j x_uj · sim(j, i)` over the items `j` of the user's history.
//!
//! Determinism: every neighbour row is computed by one task with a fixed summation order, so
//! the model does not depend on the thread count.

use std::time::Instant;

use rayon::prelude::*;

use crate::context::FitContext;
use crate::error::{EngineError, Result};
use crate::interactions::{Csr, Interactions, Row};
use crate::params::{Params, Valid, at_least, in_range};
use crate::recommend::{Explanation, Recommender, check_history, check_item, check_scores_len, check_user};

/// How two items' user vectors are compared.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Similarity {
    /// `xᵢ·xⱼ / (‖xᵢ‖‖xⱼ‖)` over the raw values.
    #[default]
    Cosine,
    /// Raw dot product of BM25-weighted item rows (items are documents, users are terms):
    /// `w_ui = x_ui·(k1 + 1) / (k1·(1 − b + b·len_i/avg_len) + x_ui) · idf_u` with
    /// `idf_u = ln(n_items) − ln(1 + n_u)` and `len_i = Σ_u x_ui`, as `implicit`'s `bm25_weight`.
    Bm25 {
        /// Saturation of large values (`implicit`'s default: 100).
        k1: f32,
        /// Strength of the length normalisation, in `[0, 1]` (`implicit`'s default: 0.8).
        b: f32,
    },
}

/// Item-kNN hyperparameters.
///
/// Defaults: cosine similarity, 100 neighbours, no shrinkage: the best cosine setting for
/// nDCG@10 on a validation split carved from the training part of the ml-100k implicit holdout
/// (PROTOCOLS), over K ∈ {20, 50, 100, 200, 1000} and shrinkage ∈ {0, 10}. BM25 (k1 1.2,
/// b 0.3–0.75) scored higher there (0.185–0.20 against 0.178) but collapsed on ml-latest-small
/// (0.04–0.12 against 0.13: its length normalisation favours items with one or two ratings),
/// so the robust cosine is the default.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemKnnParams {
    /// Similarity measure.
    pub similarity: Similarity,
    /// Neighbours K kept per item (the item itself never counts).
    pub neighbours: usize,
    /// Shrinkage s ≥ 0: each similarity is multiplied by `n_ij / (n_ij + s)`, where `n_ij` is
    /// the number of users who interacted with both items (0: off).
    pub shrinkage: f32,
}

impl Default for ItemKnnParams {
    fn default() -> Self {
        Self { similarity: Similarity::Cosine, neighbours: 100, shrinkage: 0.0 }
    }
}

impl Params for ItemKnnParams {
    fn check(self) -> Result<Valid<Self>> {
        in_range("neighbours", self.neighbours as f64, 1.0, 1e9, "an integer in 1..=1000000000")?;
        at_least("shrinkage", self.shrinkage as f64, 0.0, "a finite number ≥ 0")?;
        if let Similarity::Bm25 { k1, b } = self.similarity {
            at_least("k1", k1 as f64, 0.0, "a finite number ≥ 0")?;
            in_range("b", b as f64, 0.0, 1.0, "a number in [0, 1]")?;
        }
        Ok(Valid::new_unchecked(self))
    }
}

/// A fitted item-kNN model: the sparse item × item neighbour matrix (row `j` holds the items
/// most similar to `j`, with their similarities).
#[derive(Clone, Debug, PartialEq)]
pub struct ItemKnnModel {
    params: ItemKnnParams,
    n_users: usize,
    neighbours: Csr,
}

impl ItemKnnModel {
    /// Rebuilds a model from stored parts; `neighbours` must be square (item × item).
    pub fn from_parts(params: &Valid<ItemKnnParams>, n_users: usize, neighbours: Csr) -> Result<Self> {
        if neighbours.n_rows() != neighbours.n_cols() {
            return Err(EngineError::Shape {
                what: "item-kNN neighbour matrix columns",
                expected: neighbours.n_rows(),
                got: neighbours.n_cols(),
            });
        }
        Ok(Self { params: (**params).clone(), n_users, neighbours })
    }

    /// The hyperparameters the model was trained with.
    pub fn params(&self) -> &ItemKnnParams {
        &self.params
    }

    /// The item × item neighbour matrix.
    pub fn neighbours(&self) -> &Csr {
        &self.neighbours
    }

    /// Similarity of `from` to `to` as stored (0 when `to` is not among `from`'s neighbours).
    fn similarity(&self, from: u32, to: u32) -> f32 {
        let row = self.neighbours.row(from as usize);
        row.indices.binary_search(&to).map_or(0.0, |pos| row.values[pos])
    }
}

/// The item × user matrix to compare, and per-item scale factors of the similarity.
fn weighted_item_users(params: &ItemKnnParams, data: &Interactions) -> (Csr, Vec<f32>) {
    let item_users = data.item_users();
    match params.similarity {
        Similarity::Cosine => {
            let inv_norms = (0..item_users.n_rows())
                .map(|i| {
                    let norm = item_users.row(i).values.iter().map(|v| v * v).sum::<f32>().sqrt();
                    if norm > 0.0 { 1.0 / norm } else { 0.0 }
                })
                .collect();
            (item_users.clone(), inv_norms)
        }
        Similarity::Bm25 { k1, b } => {
            let n_items = item_users.n_rows();
            let user_items = data.user_items();
            let idf: Vec<f32> = (0..user_items.n_rows())
                .map(|u| ((n_items as f64).ln() - (user_items.row_len(u) as f64).ln_1p()) as f32)
                .collect();
            let lengths: Vec<f64> =
                (0..n_items).map(|i| item_users.row(i).values.iter().map(|&v| v as f64).sum()).collect();
            let average = lengths.iter().sum::<f64>() / n_items.max(1) as f64;
            let mut values = Vec::with_capacity(item_users.nnz());
            for (i, length) in lengths.iter().enumerate() {
                let relative = if average > 0.0 { length / average } else { 1.0 };
                let norm = (k1 as f64 * ((1.0 - b as f64) + b as f64 * relative)) as f32;
                for (u, x) in item_users.row(i).iter() {
                    values.push(x * (k1 + 1.0) / (norm + x) * idf[u as usize]);
                }
            }
            let weighted = Csr::from_parts(
                n_items,
                item_users.n_cols(),
                item_users.indptr().to_vec(),
                item_users.indices().to_vec(),
                values,
            )
            .expect("BM25 keeps the structure of a valid matrix");
            (weighted, vec![1.0; n_items])
        }
    }
}

/// One worker's dense accumulators for neighbour rows.
struct Accumulator {
    dots: Vec<f32>,
    counts: Vec<u32>,
    touched: Vec<u32>,
    candidates: Vec<(u32, f32)>,
}

impl Accumulator {
    fn new(n_items: usize) -> Self {
        Self {
            dots: vec![0.0; n_items],
            counts: vec![0; n_items],
            touched: Vec::new(),
            candidates: Vec::new(),
        }
    }

    /// The top-K neighbour row of `item` (sorted by column), leaving the buffers zeroed.
    fn row(
        &mut self,
        params: &ItemKnnParams,
        item_users: &Csr,
        user_items: &Csr,
        scale: &[f32],
        item: usize,
    ) -> (Vec<u32>, Vec<f32>) {
        for (u, w_ui) in item_users.row(item).iter() {
            for (j, w_uj) in user_items.row(u as usize).iter() {
                let j = j as usize;
                if self.counts[j] == 0 {
                    self.touched.push(j as u32);
                }
                self.counts[j] += 1;
                self.dots[j] += w_ui * w_uj;
            }
        }
        let kept = &mut self.candidates;
        for &j in &self.touched {
            let j = j as usize;
            if j != item {
                let mut sim = self.dots[j] * scale[item] * scale[j];
                if params.shrinkage > 0.0 {
                    let n = self.counts[j] as f32;
                    sim *= n / (n + params.shrinkage);
                }
                if sim != 0.0 && sim.is_finite() {
                    kept.push((j as u32, sim));
                }
            }
            self.dots[j] = 0.0;
            self.counts[j] = 0;
        }
        self.touched.clear();
        // The K best under a total order (score descending, then index ascending): the same
        // set whatever order the candidates arrived in.
        let better = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if kept.len() > params.neighbours {
            kept.select_nth_unstable_by(params.neighbours, better);
            kept.truncate(params.neighbours);
        }
        kept.sort_unstable_by_key(|c| c.0);
        kept.drain(..).unzip()
    }
}

/// Computes every item's top-K neighbours over `data` (values are interaction strengths).
/// Progress reports one "iteration" per phase: weighting, then neighbours.
pub fn fit(params: &Valid<ItemKnnParams>, data: &Interactions, ctx: &FitContext<'_>) -> Result<ItemKnnModel> {
    if data.nnz() == 0 {
        return Err(EngineError::Empty("training interactions"));
    }
    let started = Instant::now();
    ctx.install(|| {
        ctx.check_cancel(0)?;
        let (item_users, scale) = weighted_item_users(params, data);
        let user_items = item_users.transpose();
        ctx.report(started, 1, 2, None);
        ctx.check_cancel(1)?;
        let n_items = data.n_items();
        let rows: Vec<(Vec<u32>, Vec<f32>)> = (0..n_items)
            .into_par_iter()
            .map_init(
                || Accumulator::new(n_items),
                |acc, item| {
                    ctx.check_cancel(1)?;
                    Ok(acc.row(params, &item_users, &user_items, &scale, item))
                },
            )
            .collect::<Result<_>>()?;
        let mut indptr = Vec::with_capacity(n_items + 1);
        indptr.push(0);
        let nnz = rows.iter().map(|r| r.0.len()).sum();
        let (mut indices, mut values) = (Vec::with_capacity(nnz), Vec::with_capacity(nnz));
        for (cols, sims) in rows {
            indices.extend_from_slice(&cols);
            values.extend_from_slice(&sims);
            indptr.push(indices.len());
        }
        let neighbours = Csr::from_parts(n_items, n_items, indptr, indices, values)?;
        ctx.report(started, 2, 2, None);
        ItemKnnModel::from_parts(params, data.n_users(), neighbours)
    })
}

impl ItemKnnModel {
    fn accumulate(&self, history: Row<'_>, scores: &mut [f32]) {
        scores.fill(0.0);
        for (j, x) in history.iter() {
            for (i, sim) in self.neighbours.row(j as usize).iter() {
                scores[i as usize] += x * sim;
            }
        }
    }
}

impl Recommender for ItemKnnModel {
    fn kind(&self) -> &'static str {
        "item-knn"
    }

    fn n_users(&self) -> usize {
        self.n_users
    }

    fn n_items(&self) -> usize {
        self.neighbours.n_rows()
    }

    fn score_user(&self, user_idx: u32, history: Row<'_>, scores: &mut [f32]) -> Result<()> {
        check_user(user_idx, self.n_users)?;
        self.score_history(history, scores)
    }

    fn score_history(&self, history: Row<'_>, scores: &mut [f32]) -> Result<()> {
        check_history(history, self.n_items())?;
        check_scores_len(scores, self.n_items())?;
        self.accumulate(history, scores);
        Ok(())
    }

    fn item_similarities(&self, item_idx: u32, out: &mut [f32]) -> Result<()> {
        check_item(item_idx, self.n_items())?;
        check_scores_len(out, self.n_items())?;
        out.fill(0.0);
        for (j, sim) in self.neighbours.row(item_idx as usize).iter() {
            out[j as usize] = sim;
        }
        Ok(())
    }

    /// Each history item's `x_uj · sim(j, item)`; they sum (in history order) to the score.
    fn explain(&self, user_idx: Option<u32>, history: Row<'_>, item_idx: u32) -> Result<Explanation> {
        if let Some(user) = user_idx {
            check_user(user, self.n_users)?;
        }
        check_history(history, self.n_items())?;
        check_item(item_idx, self.n_items())?;
        let mut contributions: Vec<(u32, f32)> =
            history.iter().map(|(j, x)| (j, x * self.similarity(j, item_idx))).collect();
        // Summed in history order, as `score_history` accumulates them.
        let score = contributions.iter().fold(0.0, |acc, (_, c)| acc + c);
        contributions.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(Explanation { score, contributions })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interactions::{Duplicates, Interaction};
    use crate::recommend::{
        RecommendOptions, TrainingUsers, explain, recommend, recommend_for_history, similar_items,
    };

    /// Two disjoint communities: users 0..6 use items 0..5, users 6..12 use items 5..10, each
    /// user missing one item of their community; values 1..=3 so that BM25 has lengths to
    /// normalise.
    fn communities() -> Interactions {
        let mut entries = Vec::new();
        for user in 0..12u32 {
            let base = if user < 6 { 0 } else { 5 };
            for item in base..base + 5 {
                if item != base + user % 5 {
                    let value = 1.0 + ((user + item) % 3) as f32;
                    entries.push(Interaction { user_idx: user, item_idx: item, value, timestamp: 0 });
                }
            }
        }
        Interactions::from_entries(12, 10, &entries, Duplicates::Reject).unwrap()
    }

    fn all_similarities() -> [Similarity; 2] {
        [Similarity::Cosine, Similarity::Bm25 { k1: 1.2, b: 0.75 }]
    }

    fn params(similarity: Similarity, neighbours: usize, shrinkage: f32) -> Valid<ItemKnnParams> {
        ItemKnnParams { similarity, neighbours, shrinkage }.check().unwrap()
    }

    #[test]
    fn recommends_within_the_users_community() {
        let data = communities();
        for similarity in all_similarities() {
            let model = fit(&params(similarity, 4, 1.0), &data, &FitContext::new()).unwrap();
            for user in 0..12u32 {
                let base = if user < 6 { 0 } else { 5 };
                let top = recommend(
                    &model,
                    TrainingUsers::learned_only(data.user_items()),
                    user,
                    &RecommendOptions { n: 1, ..Default::default() },
                )
                .unwrap();
                assert_eq!(top[0].item_idx, base + user % 5, "{similarity:?} user {user}");
                assert!(top[0].score > 0.0, "{similarity:?} user {user}");
            }
            let truncated = fit(&params(similarity, 2, 0.0), &data, &FitContext::new()).unwrap();
            for item in 0..10u32 {
                for m in [&model, &truncated] {
                    let row = m.neighbours().row(item as usize);
                    assert!(!row.contains(item), "{similarity:?} item {item}");
                    assert!(row.indices.iter().all(|&j| (j < 5) == (item < 5)), "{similarity:?} item {item}");
                }
                assert_eq!(model.neighbours().row_len(item as usize), 4);
                assert_eq!(truncated.neighbours().row_len(item as usize), 2);
            }
            let similar = similar_items(&model, 7, 3).unwrap();
            assert!(similar.iter().all(|s| (5..10).contains(&s.item_idx) && s.score > 0.0), "{similar:?}");
        }
    }

    #[test]
    fn cosine_matches_a_hand_computed_value() {
        // Item 0: users 0, 1 with values 1, 2; item 1: users 1, 2 with values 3, 4.
        let e = |u, i, v| Interaction { user_idx: u, item_idx: i, value: v, timestamp: 0 };
        let data = Interactions::from_entries(
            3,
            2,
            &[e(0, 0, 1.0), e(1, 0, 2.0), e(1, 1, 3.0), e(2, 1, 4.0)],
            Duplicates::Reject,
        )
        .unwrap();
        let cosine = 6.0 / (5f32.sqrt() * 5.0);
        let model = fit(&params(Similarity::Cosine, 10, 0.0), &data, &FitContext::new()).unwrap();
        let mut out = [0f32; 2];
        model.item_similarities(0, &mut out).unwrap();
        assert!((out[1] - cosine).abs() < 1e-6 && out[0] == 0.0, "{out:?}");
        // One common user: shrinkage 1 halves the similarity.
        let shrunk = fit(&params(Similarity::Cosine, 10, 1.0), &data, &FitContext::new()).unwrap();
        shrunk.item_similarities(1, &mut out).unwrap();
        assert!((out[0] - cosine / 2.0).abs() < 1e-6, "{out:?}");
    }

    #[test]
    fn bm25_matches_a_hand_computed_value() {
        // Items are documents, users are terms. Only user 1 has both items 0 and 1.
        let e = |u, i, v| Interaction { user_idx: u, item_idx: i, value: v, timestamp: 0 };
        let entries = [
            e(0, 0, 1.0),
            e(1, 0, 2.0),
            e(1, 1, 3.0),
            e(2, 1, 1.0),
            e(3, 2, 1.0),
            e(3, 3, 1.0),
            e(2, 3, 1.0),
        ];
        let data = Interactions::from_entries(4, 4, &entries, Duplicates::Reject).unwrap();
        let (k1, b) = (1.2f64, 0.75f64);
        let idf_user1 = 4f64.ln() - 3f64.ln(); // 4 items; user 1 has 2.
        let average_length = (3.0 + 4.0 + 1.0 + 2.0) / 4.0;
        let weight =
            |x: f64, length: f64| x * (k1 + 1.0) / (k1 * (1.0 - b + b * length / average_length) + x);
        let want = weight(2.0, 3.0) * idf_user1 * weight(3.0, 4.0) * idf_user1;
        let bm25 = Similarity::Bm25 { k1: k1 as f32, b: b as f32 };
        let model = fit(&params(bm25, 10, 0.0), &data, &FitContext::new()).unwrap();
        let mut out = [0f32; 4];
        model.item_similarities(1, &mut out).unwrap();
        assert!((out[0] as f64 - want).abs() < 1e-6, "{out:?} vs {want}");
    }

    #[test]
    fn explain_contributions_sum_to_the_score() {
        let data = communities();
        for similarity in all_similarities() {
            let model = fit(&params(similarity, 4, 0.0), &data, &FitContext::new()).unwrap();
            let mut scores = vec![0f32; 10];
            let history = data.user_items().row(8);
            model.score_user(8, history, &mut scores).unwrap();
            for item in 0..10u32 {
                let why = explain(&model, data.user_items(), 8, item).unwrap();
                assert_eq!(why.score, scores[item as usize], "{similarity:?} item {item}");
                assert_eq!(why.contributions.len(), history.len());
                let sum: f32 = why.contributions.iter().map(|c| c.1).sum();
                assert!((sum - why.score).abs() < 1e-5);
                assert!(why.contributions.windows(2).all(|w| w[0].1 >= w[1].1));
            }
            let by_history =
                recommend_for_history(&model, history, &[], &RecommendOptions { n: 1, ..Default::default() })
                    .unwrap();
            assert_eq!(by_history[0].item_idx, 8);
        }
    }

    #[test]
    fn same_result_on_one_and_two_threads_and_cancel_stops() {
        let mut rng = crate::rng::Rng::new(11);
        let entries: Vec<Interaction> = (0..3000)
            .map(|_| Interaction {
                user_idx: rng.below(200) as u32,
                item_idx: (rng.below(300) * rng.below(300) / 300) as u32,
                value: 1.0 + rng.below(5) as f32,
                timestamp: 0,
            })
            .collect();
        let data = Interactions::from_entries(200, 300, &entries, Duplicates::Sum).unwrap();
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for similarity in all_similarities() {
            let p = params(similarity, 20, 2.0);
            let a = fit(&p, &data, &FitContext::new().with_pool(&one)).unwrap();
            let b = fit(&p, &data, &FitContext::new().with_pool(&two)).unwrap();
            assert_eq!(a, b);
            assert!(a.neighbours().nnz() > 200 * 10, "{}", a.neighbours().nnz());
        }
        let flag = std::sync::atomic::AtomicBool::new(true);
        let err =
            fit(&ItemKnnParams::default().check().unwrap(), &data, &FitContext::new().with_cancel(&flag))
                .unwrap_err();
        assert_eq!(err, EngineError::Cancelled { completed_iterations: 0 });
    }

    #[test]
    fn invalid_params_and_queries_are_named() {
        let err = ItemKnnParams { neighbours: 0, ..Default::default() }.check().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid parameter `neighbours` = 0: expected an integer in 1..=1000000000"
        );
        let err = ItemKnnParams { shrinkage: -1.0, ..Default::default() }.check().unwrap_err();
        assert!(err.to_string().contains("`shrinkage` = -1"), "{err}");
        let bm25 = Similarity::Bm25 { k1: 1.0, b: 1.5 };
        let err = ItemKnnParams { similarity: bm25, ..Default::default() }.check().unwrap_err();
        assert!(err.to_string().contains("`b` = 1.5"), "{err}");
        let data = communities();
        let model = fit(&ItemKnnParams::default().check().unwrap(), &data, &FitContext::new()).unwrap();
        let err = recommend(
            &model,
            TrainingUsers::learned_only(data.user_items()),
            12,
            &RecommendOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err, EngineError::UnknownUser { user_idx: 12, n_users: 12 });
        assert_eq!(
            model.item_similarities(10, &mut [0.0; 10]).unwrap_err(),
            EngineError::UnknownItem { item_idx: 10, n_items: 10 }
        );
        assert!(matches!(
            model.score_history(Row::new(&[11], &[1.0]), &mut [0.0; 10]),
            Err(EngineError::UnknownItem { item_idx: 11, .. })
        ));
        assert!(matches!(model.user_similarities(0, &mut [0.0; 12]), Err(EngineError::Unsupported { .. })));
        let empty = Interactions::from_entries(2, 2, &[], Duplicates::Reject).unwrap();
        assert_eq!(
            fit(&ItemKnnParams::default().check().unwrap(), &empty, &FitContext::new()).unwrap_err(),
            EngineError::Empty("training interactions")
        );
        let rect = Csr::empty(2, 3);
        assert!(matches!(
            ItemKnnModel::from_parts(&ItemKnnParams::default().check().unwrap(), 1, rect),
            Err(EngineError::Shape { .. })
        ));
    }
}
