//! EASE (Steck 2019): closed-form item-item model from one regularized Gram-matrix inverse.
//!
//! `G = XᵀX + λI`, `P = G⁻¹`, `B = −P / diag(P)` (column `j` divided by `P_jj`) with a zero
//! diagonal; a user's score for item `j` is `Σᵢ x_ui·B_ij`.
//!
//! `G` is built sparsely, one column per task (its lower triangle only), in `f64`; faer factors
//! it (Cholesky, in place), inverts the factor and forms `P = L⁻ᵀL⁻¹`, all on the context's
//! pool. `B` is stored dense, row-major, in `f32`. Peak memory is two dense `f64`
//! `m × m` matrices over the `m` items that have interactions (items without any have zero
//! rows and columns in `B` and are left out of the inverse), plus the `f32` weights:
//! at most `16·m² + 4·n_items²` bytes (1.9 GB for ml-latest-small's 9,724 items; the measured
//! peak RSS is 0.86 GB, as the upper triangles of the `f64` buffers are never touched). Larger
//! catalogues are refused up front (see [`EaseParams::max_memory_bytes`]). Fit time on all of
//! ml-latest-small (9,724 items): 11.7 s on 2 threads, 21 s on 1 (release build, shared host).

use std::time::Instant;

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{cholesky_in_place, cholesky_in_place_scratch};
use faer::linalg::matmul::triangular::{BlockStructure, matmul};
use faer::linalg::triangular_inverse::invert_lower_triangular;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use crate::context::FitContext;
use crate::error::{EngineError, Result};
use crate::interactions::{Interactions, Row};
use crate::params::{Params, Valid, in_range};
use crate::recommend::{Explanation, Recommender, check_history, check_item, check_scores_len, check_user};
use crate::simd::Kernels;
use crate::with_kernels;

/// EASE hyperparameters.
#[derive(Clone, Debug, PartialEq)]
pub struct EaseParams {
    /// L2 regularization λ added to the Gram matrix's diagonal. The default, 300, maximised
    /// nDCG@10 on a validation split carved from the training part of the ml-100k implicit
    /// holdout (PROTOCOLS); Steck used 500 on ML-20M.
    pub regularization: f32,
    /// Refuse catalogues whose fit needs more than this many bytes ([`fit_memory_bytes`]).
    /// Default 8 GiB, about 20,000 items.
    pub max_memory_bytes: u64,
}

impl Default for EaseParams {
    fn default() -> Self {
        Self { regularization: 300.0, max_memory_bytes: 8 << 30 }
    }
}

impl Params for EaseParams {
    fn check(self) -> Result<Valid<Self>> {
        in_range(
            "regularization",
            self.regularization as f64,
            f64::MIN_POSITIVE,
            1e12,
            "a number in (0, 1e12]",
        )?;
        in_range("max_memory_bytes", self.max_memory_bytes as f64, 1.0, u64::MAX as f64, "at least 1")?;
        Ok(Valid::new_unchecked(self))
    }
}

/// Bytes a fit needs at most: two dense `f64` matrices over the items that have interactions,
/// plus the `f32` weights over all items.
pub fn fit_memory_bytes(n_active_items: usize, n_items: usize) -> u128 {
    16 * (n_active_items as u128).pow(2) + 4 * (n_items as u128).pow(2)
}

/// A fitted EASE model: the dense item × item weight matrix `B` (row `i`: how much having
/// item `i` adds to every item's score).
#[derive(Clone, Debug, PartialEq)]
pub struct EaseModel {
    n_users: usize,
    n_items: usize,
    weights: Vec<f32>,
}

impl EaseModel {
    /// Rebuilds a model from stored parts, checking the shape and that all weights are finite.
    pub fn from_parts(n_users: usize, n_items: usize, weights: Vec<f32>) -> Result<Self> {
        let expected = n_items.checked_mul(n_items).ok_or(EngineError::Shape {
            what: "EASE weights (n_items² overflows)",
            expected: usize::MAX,
            got: weights.len(),
        })?;
        if weights.len() != expected {
            return Err(EngineError::Shape { what: "EASE weights", expected, got: weights.len() });
        }
        if let Some(pos) = weights.iter().position(|v| !v.is_finite()) {
            return Err(EngineError::Numerical(format!(
                "EASE weights: non-finite value at row {}, column {}",
                pos / n_items,
                pos % n_items
            )));
        }
        Ok(Self { n_users, n_items, weights })
    }

    /// The weight matrix `B`, row-major `n_items × n_items`.
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// Row `item_idx` of `B`.
    pub fn weight_row(&self, item_idx: u32) -> Result<&[f32]> {
        check_item(item_idx, self.n_items)?;
        Ok(&self.weights[item_idx as usize * self.n_items..][..self.n_items])
    }
}

/// The lower triangle of `XᵀX + λI` restricted to the `active` items (those with at least one
/// interaction, ascending), column-major in compact indices (`g[c·m + r]`, `r ≥ c`), one
/// column per task. Items without interactions are left out: their rows and columns of `G` are
/// `λI`, so their rows and columns of `B` are zero.
fn gram_lower(data: &Interactions, active: &[u32], compact: &[u32], regularization: f64) -> Vec<f64> {
    let m = active.len();
    let (item_users, user_items) = (data.item_users(), data.user_items());
    let mut g = vec![0f64; m * m];
    g.par_chunks_mut(m.max(1)).enumerate().for_each(|(c, col)| {
        let i = active[c];
        for (u, x_ui) in item_users.row(i as usize).iter() {
            let items = user_items.row(u as usize);
            let start = items.indices.partition_point(|&j| j < i);
            for (&j, &x_uj) in items.indices[start..].iter().zip(&items.values[start..]) {
                col[compact[j as usize] as usize] += x_ui as f64 * x_uj as f64;
            }
        }
        col[c] += regularization;
    });
    g
}

/// `B[j, i] = −P_ji / P_ii` (zero diagonal) from the lower triangle of `P` (column-major over
/// the `active` items), as row-major `n_items × n_items` `f32`. Rows are produced in tiles so
/// that reads of `P`'s columns stay contiguous.
fn weights_from_inverse(p: &[f64], active: &[u32], n_items: usize) -> Vec<f32> {
    const TILE: usize = 64;
    let (m, n) = (active.len(), n_items);
    let diag: Vec<f64> = (0..m).map(|c| p[c * m + c]).collect();
    let mut b = vec![0f32; n * n];
    b.par_chunks_mut(TILE * n.max(1)).enumerate().for_each(|(tile, rows)| {
        let first_row = tile * TILE;
        let row_of = |jc: usize| (active[jc] as usize - first_row) * n;
        // The compact indices of this tile's active rows form one range.
        let lo = active.partition_point(|&a| (a as usize) < first_row);
        let hi = active.partition_point(|&a| (a as usize) < first_row + rows.len() / n);
        // Right of the diagonal: P_ji = P_ij is column j of P, rows i > j.
        for jc in lo..hi {
            let col = &p[jc * m..][..m];
            let out = &mut rows[row_of(jc)..][..n];
            for ic in jc + 1..m {
                out[active[ic] as usize] = (-col[ic] / diag[ic]) as f32;
            }
        }
        // Left of the diagonal: P_ji is column i of P, rows lo..hi.
        for ic in 0..hi {
            let col = &p[ic * m..][..m];
            for jc in (ic + 1).max(lo)..hi {
                rows[row_of(jc) + active[ic] as usize] = (-col[jc] / diag[ic]) as f32;
            }
        }
    });
    b
}

/// Fits EASE on `data` (values as given: binarise them first for the classic model).
/// Progress reports one "iteration" per phase: Gram matrix, Cholesky, inverse, weights.
pub fn fit(params: &Valid<EaseParams>, data: &Interactions, ctx: &FitContext<'_>) -> Result<EaseModel> {
    if data.nnz() == 0 {
        return Err(EngineError::Empty("training interactions"));
    }
    let n = data.n_items();
    let active: Vec<u32> = (0..n as u32).filter(|&i| data.item_users().row_len(i as usize) > 0).collect();
    let m = active.len();
    let need = fit_memory_bytes(m, n);
    if need > params.max_memory_bytes as u128 {
        return Err(EngineError::InvalidParam {
            name: "max_memory_bytes",
            value: format!(
                "{} (EASE over {n} items, {m} with interactions, needs {need} bytes = {:.1} GiB: \
                 two dense {m} × {m} f64 matrices and the {n} × {n} f32 weights)",
                params.max_memory_bytes,
                need as f64 / (1u64 << 30) as f64
            ),
            allowed: "at least 16·m² + 4·n_items² bytes; raise it, or use item-kNN for catalogues this large",
        });
    }
    let mut compact = vec![u32::MAX; n];
    for (c, &i) in active.iter().enumerate() {
        compact[i as usize] = c as u32;
    }
    const PHASES: usize = 4;
    let started = Instant::now();
    ctx.install(|| {
        let par = Par::rayon(rayon::current_num_threads());
        ctx.check_cancel(0)?;
        let mut g = gram_lower(data, &active, &compact, params.regularization as f64);
        ctx.report(started, 1, PHASES, None);
        ctx.check_cancel(1)?;
        {
            let mut buffer = MemBuffer::new(cholesky_in_place_scratch::<f64>(m, par, Default::default()));
            cholesky_in_place(
                MatMut::from_column_major_slice_mut(&mut g, m, m),
                Default::default(),
                par,
                MemStack::new(&mut buffer),
                Default::default(),
            )
            .map_err(|e| EngineError::Numerical(format!("EASE Gram matrix is not positive definite: {e}")))?;
        }
        ctx.report(started, 2, PHASES, None);
        ctx.check_cancel(2)?;
        // L⁻¹ into a second buffer, then P = L⁻ᵀ L⁻¹ (lower triangle) over L's buffer.
        let mut l_inv = vec![0f64; m * m];
        invert_lower_triangular(
            MatMut::from_column_major_slice_mut(&mut l_inv, m, m),
            MatRef::from_column_major_slice(&g, m, m),
            par,
        );
        let l_inv_ref = MatRef::from_column_major_slice(&l_inv, m, m);
        matmul(
            MatMut::from_column_major_slice_mut(&mut g, m, m),
            BlockStructure::TriangularLower,
            Accum::Replace,
            l_inv_ref.transpose(),
            BlockStructure::TriangularUpper,
            l_inv_ref,
            BlockStructure::TriangularLower,
            1.0,
            par,
        );
        drop(l_inv);
        ctx.report(started, 3, PHASES, None);
        ctx.check_cancel(3)?;
        let weights = weights_from_inverse(&g, &active, n);
        drop(g);
        let model = EaseModel::from_parts(data.n_users(), n, weights)?;
        ctx.report(started, 4, PHASES, None);
        Ok(model)
    })
}

impl Recommender for EaseModel {
    fn kind(&self) -> &'static str {
        "ease"
    }

    fn n_users(&self) -> usize {
        self.n_users
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    fn score_user(&self, user_idx: u32, history: Row<'_>, scores: &mut [f32]) -> Result<()> {
        check_user(user_idx, self.n_users)?;
        self.score_history(history, scores)
    }

    fn score_history(&self, history: Row<'_>, scores: &mut [f32]) -> Result<()> {
        check_history(history, self.n_items)?;
        check_scores_len(scores, self.n_items)?;
        scores.fill(0.0);
        let n = self.n_items;
        with_kernels!(|k| {
            for (j, x) in history.iter() {
                k.axpy(x, &self.weights[j as usize * n..][..n], scores);
            }
        });
        Ok(())
    }

    fn item_similarities(&self, item_idx: u32, out: &mut [f32]) -> Result<()> {
        check_scores_len(out, self.n_items)?;
        out.copy_from_slice(self.weight_row(item_idx)?);
        Ok(())
    }

    /// Each history item's `x_uj · B[j, item]`; they sum to the score.
    fn explain(&self, user_idx: Option<u32>, history: Row<'_>, item_idx: u32) -> Result<Explanation> {
        if let Some(user) = user_idx {
            check_user(user, self.n_users)?;
        }
        check_history(history, self.n_items)?;
        check_item(item_idx, self.n_items)?;
        let n = self.n_items;
        let mut contributions: Vec<(u32, f32)> =
            history.iter().map(|(j, x)| (j, x * self.weights[j as usize * n + item_idx as usize])).collect();
        let score = contributions.iter().map(|c| c.1).sum();
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

    fn e(user_idx: u32, item_idx: u32) -> Interaction {
        Interaction { user_idx, item_idx, value: 1.0, timestamp: 0 }
    }

    /// Two disjoint communities: users 0..6 use items 0..5, users 6..12 use items 5..10, each
    /// user missing one item of their community.
    fn communities() -> Interactions {
        let mut entries = Vec::new();
        for user in 0..12u32 {
            let base = if user < 6 { 0 } else { 5 };
            for item in base..base + 5 {
                if item != base + user % 5 {
                    entries.push(e(user, item));
                }
            }
        }
        Interactions::from_entries(12, 10, &entries, Duplicates::Reject).unwrap()
    }

    fn params(regularization: f32) -> Valid<EaseParams> {
        EaseParams { regularization, ..Default::default() }.check().unwrap()
    }

    /// EASE's weights straight from the definition, with a textbook Gauss–Jordan inverse.
    fn naive_weights(data: &Interactions, lambda: f64) -> Vec<f64> {
        let n = data.n_items();
        let x = data.user_items();
        let mut a = vec![0f64; n * 2 * n];
        for u in 0..x.n_rows() {
            for (i, xi) in x.row(u).iter() {
                for (j, xj) in x.row(u).iter() {
                    a[i as usize * 2 * n + j as usize] += xi as f64 * xj as f64;
                }
            }
        }
        for i in 0..n {
            a[i * 2 * n + i] += lambda;
            a[i * 2 * n + n + i] = 1.0;
        }
        for c in 0..n {
            let pivot = a[c * 2 * n + c];
            for v in &mut a[c * 2 * n..(c + 1) * 2 * n] {
                *v /= pivot;
            }
            for r in 0..n {
                if r != c {
                    let f = a[r * 2 * n + c];
                    for k in 0..2 * n {
                        a[r * 2 * n + k] -= f * a[c * 2 * n + k];
                    }
                }
            }
        }
        let p = |i: usize, j: usize| a[i * 2 * n + n + j];
        (0..n * n)
            .map(|ij| if ij / n == ij % n { 0.0 } else { -p(ij / n, ij % n) / p(ij % n, ij % n) })
            .collect()
    }

    #[test]
    fn weights_match_the_definition() {
        let mut rng = crate::rng::Rng::new(4);
        // Items ≡ 3 (mod 7) have no interactions: they are left out of the inverse.
        let entries: Vec<Interaction> = (0..400)
            .map(|_| e(rng.below(40) as u32, rng.below(70) as u32))
            .filter(|e| e.item_idx % 7 != 3)
            .collect();
        let data = Interactions::from_entries(40, 70, &entries, Duplicates::Max).unwrap();
        let model = fit(&params(3.0), &data, &FitContext::new()).unwrap();
        let want = naive_weights(&data, 3.0);
        for (ij, (got, want)) in model.weights().iter().zip(&want).enumerate() {
            assert!((*got as f64 - want).abs() < 1e-5, "B[{}, {}] = {got}, want {want}", ij / 70, ij % 70);
        }
        assert!(want.iter().any(|w| w.abs() > 0.05));
    }

    #[test]
    fn recommends_within_the_users_community() {
        let data = communities();
        let model = fit(&params(1.0), &data, &FitContext::new()).unwrap();
        for user in 0..12u32 {
            let base = if user < 6 { 0 } else { 5 };
            let top = recommend(
                &model,
                TrainingUsers::learned_only(data.user_items()),
                user,
                &RecommendOptions { n: 1, ..Default::default() },
            )
            .unwrap();
            assert_eq!(top[0].item_idx, base + user % 5, "user {user}");
            assert!(top[0].score > 0.0);
        }
        for item in 0..10u32 {
            let row = model.weight_row(item).unwrap();
            assert_eq!(row[item as usize], 0.0);
            for (j, w) in row.iter().enumerate() {
                assert!((j < 5) == (item < 5) || *w == 0.0, "B[{item}, {j}] = {w}");
            }
        }
        let similar = similar_items(&model, 7, 3).unwrap();
        assert!(similar.iter().all(|s| (5..10).contains(&s.item_idx)), "{similar:?}");
    }

    #[test]
    fn explain_contributions_sum_to_the_score() {
        let data = communities();
        let model = fit(&params(1.0), &data, &FitContext::new()).unwrap();
        let history = data.user_items().row(3);
        let mut scores = vec![0f32; 10];
        model.score_user(3, history, &mut scores).unwrap();
        for item in 0..10u32 {
            let why = explain(&model, data.user_items(), 3, item).unwrap();
            assert!((why.score - scores[item as usize]).abs() < 1e-5, "item {item}");
            assert_eq!(why.contributions.len(), history.len());
            let sum: f32 = why.contributions.iter().map(|c| c.1).sum();
            assert!((sum - why.score).abs() < 1e-5);
            assert!(why.contributions.windows(2).all(|w| w[0].1 >= w[1].1));
        }
        let top =
            recommend_for_history(&model, history, &[], &RecommendOptions { n: 1, ..Default::default() })
                .unwrap();
        assert_eq!(top[0].item_idx, 3);
    }

    #[test]
    fn same_result_on_one_and_two_threads_and_cancel_stops() {
        // Large enough that faer's blocked, parallel kernels are used.
        let mut rng = crate::rng::Rng::new(8);
        let entries: Vec<Interaction> = (0..30_000)
            .map(|_| e(rng.below(500) as u32, (rng.below(600) * rng.below(600) / 600) as u32))
            .collect();
        let data = Interactions::from_entries(500, 600, &entries, Duplicates::Max).unwrap();
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let a = fit(&params(10.0), &data, &FitContext::new().with_pool(&one)).unwrap();
        let b = fit(&params(10.0), &data, &FitContext::new().with_pool(&two)).unwrap();
        assert!(a == b, "EASE weights differ between 1 and 2 threads");
        let phases = std::sync::Mutex::new(Vec::new());
        let callback = |p: &crate::context::Progress| phases.lock().unwrap().push(p.iteration);
        fit(&params(10.0), &data, &FitContext::new().with_progress(&callback)).unwrap();
        assert_eq!(phases.into_inner().unwrap(), vec![1, 2, 3, 4]);
        let flag = std::sync::atomic::AtomicBool::new(true);
        let err = fit(&params(10.0), &data, &FitContext::new().with_cancel(&flag)).unwrap_err();
        assert_eq!(err, EngineError::Cancelled { completed_iterations: 0 });
    }

    #[test]
    fn invalid_params_large_catalogues_and_bad_queries_are_named() {
        let err = EaseParams { regularization: 0.0, ..Default::default() }.check().unwrap_err();
        assert_eq!(err.to_string(), "invalid parameter `regularization` = 0: expected a number in (0, 1e12]");
        let data = communities();
        let small = EaseParams { max_memory_bytes: 1000, ..Default::default() }.check().unwrap();
        let err = fit(&small, &data, &FitContext::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid parameter `max_memory_bytes` = 1000 (EASE over 10 items, 10 with interactions, needs \
             2000 bytes = 0.0 GiB: two dense 10 × 10 f64 matrices and the 10 × 10 f32 weights): expected at \
             least 16·m² + 4·n_items² bytes; raise it, or use item-kNN for catalogues this large"
        );
        assert_eq!(fit_memory_bytes(26_744, 26_744), 14_304_830_720);
        let model = fit(&params(1.0), &data, &FitContext::new()).unwrap();
        let err = recommend(
            &model,
            TrainingUsers::learned_only(data.user_items()),
            12,
            &RecommendOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err, EngineError::UnknownUser { user_idx: 12, n_users: 12 });
        assert_eq!(model.weight_row(10).unwrap_err(), EngineError::UnknownItem { item_idx: 10, n_items: 10 });
        assert!(matches!(
            model.score_history(Row::new(&[10], &[1.0]), &mut [0.0; 10]),
            Err(EngineError::UnknownItem { item_idx: 10, .. })
        ));
        assert!(matches!(model.user_similarities(0, &mut [0.0; 12]), Err(EngineError::Unsupported { .. })));
        assert!(matches!(EaseModel::from_parts(1, 2, vec![0.0; 3]), Err(EngineError::Shape { .. })));
        assert!(matches!(EaseModel::from_parts(1, 1, vec![f32::NAN]), Err(EngineError::Numerical(_))));
        let empty = Interactions::from_entries(2, 2, &[], Duplicates::Reject).unwrap();
        assert_eq!(
            fit(&params(1.0), &empty, &FitContext::new()).unwrap_err(),
            EngineError::Empty("training interactions")
        );
    }
}
