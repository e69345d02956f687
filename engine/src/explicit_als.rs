//! Explicit biased ALS for rating prediction (global mean, user/item biases, ALS-WR regularization).
//!
//! A rating is predicted as `μ + b_u + b_i + p_u·q_i`, clipped to the rating range. Alternating,
//! each user solves the ridge regression of `r_ui − μ − b_i` on `[q_i, 1]` over the items they
//! rated, for `[p_u, b_u]`:
//!
//! `(Σᵢ [q_i,1][q_i,1]ᵀ + n_u·diag(λ, …, λ, λ_b)) [p_u, b_u] = Σᵢ (r_ui − μ − b_i)·[q_i, 1]`
//!
//! and then each item symmetrically. Scaling λ by the row's number of ratings `n_u` is the
//! weighted-λ regularization of ALS-WR (Zhou et al. 2008). `μ` is the training mean and stays
//! fixed. Rows without ratings get zero factors and bias.
//!
//! Determinism: each row's solve reads only the fixed side, and losses are summed over
//! fixed-size chunks in a fixed order, so the same seed gives bit-identical models whatever
//! the thread count.

use std::time::Instant;

use rayon::prelude::*;

use crate::context::FitContext;
use crate::error::{EngineError, Result};
use crate::factors::{FactorMatrices, FactorNorms, FactorView};
use crate::interactions::{Csr, Interactions, Row};
use crate::linalg::cholesky_solve_lower;
use crate::params::{Params, Valid, in_range};
use crate::recommend::{Explanation, Recommender, check_history, check_item, check_scores_len, check_user};
use crate::rng::Rng;
use crate::simd::{Kernels, matvec_rows};
use crate::with_kernels;

/// Explicit ALS hyperparameters.
///
/// The defaults (64 factors, 15 iterations, λ = 0.13, λ_b = 0.05) were chosen by grid search
/// (factors 10–128, λ 0.05–0.5, λ_b 0–0.1) on a validation split carved from ml-100k's
/// `u1.base` (20 % of its ratings at random), never on the `u*.test` files. The validation RMSE
/// is flat within ±0.001 for λ in 0.11–0.15 and factors ≥ 64; results settle after ~5 iterations.
#[derive(Clone, Debug, PartialEq)]
pub struct ExplicitAlsParams {
    /// Latent dimension k.
    pub factors: usize,
    /// Full alternations (users then items).
    pub iterations: usize,
    /// λ of the factors, multiplied by each row's number of ratings (ALS-WR).
    pub regularization: f32,
    /// λ_b of the biases, multiplied by each row's number of ratings (0 allowed).
    pub bias_regularization: f32,
    /// Lowest rating predicted; `None`: the smallest training rating.
    pub rating_min: Option<f32>,
    /// Highest rating predicted; `None`: the largest training rating.
    pub rating_max: Option<f32>,
    /// Item factors start uniform in `[−init_scale, init_scale)` (users are solved first).
    pub init_scale: f32,
    /// Seed of the initialisation.
    pub seed: u64,
}

impl Default for ExplicitAlsParams {
    fn default() -> Self {
        Self {
            factors: 64,
            iterations: 15,
            regularization: 0.13,
            bias_regularization: 0.05,
            rating_min: None,
            rating_max: None,
            init_scale: 0.1,
            seed: 42,
        }
    }
}

impl Params for ExplicitAlsParams {
    fn check(self) -> Result<Valid<Self>> {
        in_range("factors", self.factors as f64, 1.0, 4096.0, "an integer in 1..=4096")?;
        in_range("iterations", self.iterations as f64, 1.0, 10_000.0, "an integer in 1..=10000")?;
        in_range(
            "regularization",
            self.regularization as f64,
            f64::MIN_POSITIVE,
            1e6,
            "a number in (0, 1e6]",
        )?;
        in_range("bias_regularization", self.bias_regularization as f64, 0.0, 1e6, "a number in [0, 1e6]")?;
        in_range("init_scale", self.init_scale as f64, f64::MIN_POSITIVE, 10.0, "a number in (0, 10]")?;
        if let Some(min) = self.rating_min {
            in_range("rating_min", min as f64, f64::MIN, f64::MAX, "a finite number")?;
        }
        if let Some(max) = self.rating_max {
            in_range("rating_max", max as f64, f64::MIN, f64::MAX, "a finite number")?;
            if let Some(min) = self.rating_min
                && max <= min
            {
                return Err(EngineError::InvalidParam {
                    name: "rating_max",
                    value: max.to_string(),
                    allowed: "a finite number greater than rating_min",
                });
            }
        }
        Ok(Valid::new_unchecked(self))
    }
}

/// Everything a trained model holds, for storing it and rebuilding it with
/// [`ExplicitAlsModel::from_parts`].
#[derive(Clone, Debug, PartialEq)]
pub struct ExplicitAlsParts {
    /// Number of users.
    pub n_users: usize,
    /// Number of items.
    pub n_items: usize,
    /// μ, the mean training rating.
    pub global_mean: f32,
    /// Predictions are clipped to `rating_min..=rating_max`.
    pub rating_min: f32,
    /// See `rating_min`.
    pub rating_max: f32,
    /// User factors, row-major `n_users × k`.
    pub user_factors: Vec<f32>,
    /// Item factors, row-major `n_items × k`.
    pub item_factors: Vec<f32>,
    /// One bias per user.
    pub user_biases: Vec<f32>,
    /// One bias per item.
    pub item_biases: Vec<f32>,
}

/// A trained explicit ALS model.
#[derive(Clone, Debug, PartialEq)]
pub struct ExplicitAlsModel {
    params: ExplicitAlsParams,
    parts: ExplicitAlsParts,
    norms: FactorNorms,
}

impl ExplicitAlsModel {
    /// Rebuilds a model from its parts, checking their shapes and values.
    pub fn from_parts(params: &Valid<ExplicitAlsParams>, parts: ExplicitAlsParts) -> Result<Self> {
        let k = params.factors;
        let (n_users, n_items) = (parts.n_users, parts.n_items);
        for (what, expected, data) in [
            ("user factors", n_users * k, &parts.user_factors),
            ("item factors", n_items * k, &parts.item_factors),
            ("user biases", n_users, &parts.user_biases),
            ("item biases", n_items, &parts.item_biases),
        ] {
            if data.len() != expected {
                return Err(EngineError::Shape { what, expected, got: data.len() });
            }
            if let Some(pos) = data.iter().position(|v| !v.is_finite()) {
                return Err(EngineError::Numerical(format!("{what}: non-finite value at position {pos}")));
            }
        }
        let scalars = [parts.global_mean, parts.rating_min, parts.rating_max];
        if scalars.iter().any(|v| !v.is_finite()) || parts.rating_min > parts.rating_max {
            return Err(EngineError::Numerical(format!(
                "explicit ALS: mean {} and rating range {}..={} must be finite and ordered",
                parts.global_mean, parts.rating_min, parts.rating_max
            )));
        }
        let norms = FactorNorms::new(&parts.user_factors, &parts.item_factors, k);
        Ok(Self { params: (**params).clone(), parts, norms })
    }

    /// The hyperparameters the model was trained with.
    pub fn params(&self) -> &ExplicitAlsParams {
        &self.params
    }

    /// Everything the model holds.
    pub fn parts(&self) -> &ExplicitAlsParts {
        &self.parts
    }

    /// The model's parts, by value.
    pub fn into_parts(self) -> ExplicitAlsParts {
        self.parts
    }

    /// Latent dimension k.
    pub fn n_factors(&self) -> usize {
        self.params.factors
    }

    /// μ, the mean training rating.
    pub fn global_mean(&self) -> f32 {
        self.parts.global_mean
    }

    /// The range predictions are clipped to.
    pub fn rating_range(&self) -> (f32, f32) {
        (self.parts.rating_min, self.parts.rating_max)
    }

    /// The factor row of one user.
    pub fn user_vector(&self, user_idx: u32) -> Result<&[f32]> {
        self.matrices().user_vector(user_idx)
    }

    /// The factor row of one item.
    pub fn item_vector(&self, item_idx: u32) -> Result<&[f32]> {
        self.matrices().item_vector(item_idx)
    }

    fn matrices(&self) -> FactorMatrices<'_> {
        FactorMatrices {
            k: self.n_factors(),
            user: &self.parts.user_factors,
            item: &self.parts.item_factors,
            norms: &self.norms,
        }
    }

    /// The bias of one user.
    pub fn user_bias(&self, user_idx: u32) -> Result<f32> {
        check_user(user_idx, self.parts.n_users)?;
        Ok(self.parts.user_biases[user_idx as usize])
    }

    /// The bias of one item.
    pub fn item_bias(&self, item_idx: u32) -> Result<f32> {
        check_item(item_idx, self.parts.n_items)?;
        Ok(self.parts.item_biases[item_idx as usize])
    }

    fn clip(&self, rating: f32) -> f32 {
        rating.clamp(self.parts.rating_min, self.parts.rating_max)
    }

    /// The predicted rating `μ + b_u + b_i + p_u·q_i`, clipped to the rating range.
    pub fn predict(&self, user_idx: u32, item_idx: u32) -> Result<f32> {
        let dot = crate::simd::dot(self.user_vector(user_idx)?, self.item_vector(item_idx)?);
        let biases = self.parts.user_biases[user_idx as usize] + self.parts.item_biases[item_idx as usize];
        Ok(self.clip(self.parts.global_mean + biases + dot))
    }

    /// `μ` plus the biases of whichever of the user and item are known, clipped: the prediction
    /// for a user or item the model has never seen (e.g. `baseline(None, Some(item))`).
    pub fn baseline(&self, user_idx: Option<u32>, item_idx: Option<u32>) -> Result<f32> {
        let user = user_idx.map(|u| self.user_bias(u)).transpose()?.unwrap_or(0.0);
        let item = item_idx.map(|i| self.item_bias(i)).transpose()?.unwrap_or(0.0);
        Ok(self.clip(self.parts.global_mean + user + item))
    }

    /// The system of a user with ratings `history` against the trained items (see
    /// [`build_system`]); `a` is `(k+1)²`, `b` is `k+1`.
    fn user_system<K: Kernels>(&self, kern: K, history: Row<'_>, a: &mut [f32], b: &mut [f32]) {
        let system = System::new(
            &self.params,
            self.parts.global_mean,
            &self.parts.item_factors,
            &self.parts.item_biases,
        );
        system.build(kern, history.indices, history.values, a, &mut vec![0f32; 4 * (system.k + 1)], b);
    }

    /// The least-squares `(p, b_u)` of someone with ratings `history` against the trained items
    /// (the same solve as a training half-step). Empty history: zeros.
    pub fn fold_in(&self, history: Row<'_>) -> Result<(Vec<f32>, f32)> {
        check_history(history, self.parts.n_items)?;
        let d = self.n_factors() + 1;
        let mut x = vec![0f32; d];
        if !history.is_empty() {
            let mut a = vec![0f32; d * d];
            with_kernels!(|kern| {
                self.user_system(kern, history, &mut a, &mut x);
                cholesky_solve_lower(kern, &mut a, d, &mut x)
            })
            .map_err(|pivot| {
                EngineError::Numerical(format!("fold-in system not positive definite (pivot {pivot})"))
            })?;
        }
        let bias = x.pop().unwrap_or(0.0);
        Ok((x, bias))
    }

    /// Unclipped `μ + b + b_i + p·q_i` for every item.
    fn score_all(&self, p: &[f32], bias: f32, scores: &mut [f32]) {
        matvec_rows(&self.parts.item_factors, p, scores);
        let base = self.parts.global_mean + bias;
        for (s, b_i) in scores.iter_mut().zip(&self.parts.item_biases) {
            *s += base + b_i;
        }
    }
}

/// One side's least-squares problem: rows are solved against the `fixed` side's factors
/// (row-major, `k` columns) and biases.
struct System<'a> {
    k: usize,
    fixed: &'a [f32],
    fixed_biases: &'a [f32],
    global_mean: f32,
    regularization: f32,
    bias_regularization: f32,
}

impl<'a> System<'a> {
    fn new(params: &ExplicitAlsParams, global_mean: f32, fixed: &'a [f32], fixed_biases: &'a [f32]) -> Self {
        Self {
            k: params.factors,
            fixed,
            fixed_biases,
            global_mean,
            regularization: params.regularization,
            bias_regularization: params.bias_regularization,
        }
    }

    /// Fills the lower triangle of `A` (`(k+1)²`, row-major) and `b` (`k+1`) for a row with
    /// entries `cols`/`ratings` (non-empty):
    /// `A = Σ [q,1][q,1]ᵀ + n·diag(λ,…,λ,λ_b)`, `b = Σ (r − μ − b_j)·[q,1]`.
    #[inline(always)]
    fn build<K: Kernels>(
        &self,
        kern: K,
        cols: &[u32],
        ratings: &[f32],
        a: &mut [f32],
        coefs: &mut [f32],
        b: &mut [f32],
    ) {
        let k = self.k;
        let d = k + 1;
        a.fill(0.0);
        b.fill(0.0);
        let q = |col: u32| &self.fixed[col as usize * k..][..k];
        let target = |col: u32, r: f32| r - self.global_mean - self.fixed_biases[col as usize];
        // Row i < k of the lower triangle is updated over a length rounded up to the SIMD width
        // (entries right of the diagonal are never read).
        let span = |i: usize| ((i + 8) & !7).min(k);
        let (a_top, a_last) = a.split_at_mut(k * d);
        let (b_top, b_last) = b.split_at_mut(k);
        let mut quads = cols.chunks_exact(4).zip(ratings.chunks_exact(4));
        for (c, r) in &mut quads {
            let qs = [q(c[0]), q(c[1]), q(c[2]), q(c[3])];
            for (i, coef) in coefs.chunks_exact_mut(4).take(k).enumerate() {
                coef.copy_from_slice(&[qs[0][i], qs[1][i], qs[2][i], qs[3][i]]);
            }
            for i in 0..k {
                let n = span(i);
                let coef = [coefs[4 * i], coefs[4 * i + 1], coefs[4 * i + 2], coefs[4 * i + 3]];
                kern.axpy4(
                    coef,
                    [&qs[0][..n], &qs[1][..n], &qs[2][..n], &qs[3][..n]],
                    &mut a_top[i * d..][..n],
                );
            }
            kern.axpy4([1.0; 4], qs, &mut a_last[..k]);
            let t = [target(c[0], r[0]), target(c[1], r[1]), target(c[2], r[2]), target(c[3], r[3])];
            kern.axpy4(t, qs, b_top);
            b_last[0] += (t[0] + t[1]) + (t[2] + t[3]);
        }
        let done = cols.len() / 4 * 4;
        for (&c, &r) in cols[done..].iter().zip(&ratings[done..]) {
            let qc = q(c);
            for i in 0..k {
                let n = span(i);
                kern.axpy(qc[i], &qc[..n], &mut a_top[i * d..][..n]);
            }
            kern.axpy(1.0, qc, &mut a_last[..k]);
            let t = target(c, r);
            kern.axpy(t, qc, b_top);
            b_last[0] += t;
        }
        let n = cols.len() as f32;
        for i in 0..k {
            a[i * d + i] += self.regularization * n;
        }
        a[k * d + k] = n + self.bias_regularization * n;
    }

    /// Solves every row of `matrix` into `factors` (`k` per row) and `biases`.
    fn solve_all(&self, matrix: &Csr, factors: &mut [f32], biases: &mut [f32]) -> Result<()> {
        const ROWS_PER_TASK: usize = 32;
        let (k, d) = (self.k, self.k + 1);
        factors
            .par_chunks_mut(ROWS_PER_TASK * k)
            .zip(biases.par_chunks_mut(ROWS_PER_TASK))
            .enumerate()
            .try_for_each_init(
                || vec![0f32; d * d + 5 * d],
                |scratch, (task, (rows, row_biases))| {
                    let (a, rest) = scratch.split_at_mut(d * d);
                    let (coefs, x) = rest.split_at_mut(4 * d);
                    with_kernels!(|kern| {
                        for (offset, (p, bias)) in
                            rows.chunks_exact_mut(k).zip(row_biases.iter_mut()).enumerate()
                        {
                            let row_idx = task * ROWS_PER_TASK + offset;
                            let row = matrix.row(row_idx);
                            if row.is_empty() {
                                p.fill(0.0);
                                *bias = 0.0;
                                continue;
                            }
                            self.build(kern, row.indices, row.values, a, coefs, x);
                            cholesky_solve_lower(kern, a, d, x).map_err(|pivot| {
                                EngineError::Numerical(format!(
                                    "row {row_idx}: system is not positive definite (pivot {pivot})"
                                ))
                            })?;
                            p.copy_from_slice(&x[..k]);
                            *bias = x[k];
                        }
                        Ok(())
                    })
                },
            )
    }
}

/// Training RMSE of clipped predictions, summed over fixed chunks of users in order.
fn training_rmse(
    data: &Interactions,
    k: usize,
    mean: f32,
    range: (f32, f32),
    users: (&[f32], &[f32]),
    items: (&[f32], &[f32]),
) -> f64 {
    const CHUNK: usize = 64;
    let user_items = data.user_items();
    let partials: Vec<f64> = (0..data.n_users())
        .into_par_iter()
        .chunks(CHUNK)
        .map(|chunk| {
            with_kernels!(|kern| {
                let mut total = 0f64;
                for u in chunk {
                    let p = &users.0[u * k..][..k];
                    for (i, r) in user_items.row(u).iter() {
                        let i = i as usize;
                        let q = &items.0[i * k..][..k];
                        let pred = (mean + users.1[u] + items.1[i] + kern.dot(p, q)).clamp(range.0, range.1);
                        total += ((r - pred) as f64).powi(2);
                    }
                }
                total
            })
        })
        .collect();
    (partials.iter().sum::<f64>() / data.nnz() as f64).sqrt()
}

/// Trains explicit biased ALS on `data` (values are ratings). Progress reports the training
/// RMSE after each iteration when the context has a progress callback.
pub fn fit(
    params: &Valid<ExplicitAlsParams>,
    data: &Interactions,
    ctx: &FitContext<'_>,
) -> Result<ExplicitAlsModel> {
    if data.nnz() == 0 {
        return Err(EngineError::Empty("training interactions"));
    }
    let started = Instant::now();
    let values = data.user_items().values();
    let global_mean = (values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64) as f32;
    let rating_min =
        params.rating_min.unwrap_or_else(|| values.iter().copied().fold(f32::INFINITY, f32::min));
    let rating_max =
        params.rating_max.unwrap_or_else(|| values.iter().copied().fold(f32::NEG_INFINITY, f32::max));
    if rating_min > rating_max {
        return Err(EngineError::InvalidParam {
            name: if params.rating_min.is_some() { "rating_min" } else { "rating_max" },
            value: format!("{rating_min}..={rating_max} (with the training ratings' range filled in)"),
            allowed: "rating_min ≤ rating_max",
        });
    }
    ctx.install(|| {
        let k = params.factors;
        let (n_users, n_items) = (data.n_users(), data.n_items());
        let mut user_factors = vec![0f32; n_users * k];
        let mut user_biases = vec![0f32; n_users];
        let mut item_factors = vec![0f32; n_items * k];
        let mut item_biases = vec![0f32; n_items];
        item_factors.par_chunks_mut(k).enumerate().for_each(|(item, q)| {
            let mut rng = Rng::for_stream(params.seed, item as u64);
            q.iter_mut().for_each(|v| *v = (2.0 * rng.next_f32() - 1.0) * params.init_scale);
        });
        for iteration in 0..params.iterations {
            ctx.check_cancel(iteration)?;
            System::new(params, global_mean, &item_factors, &item_biases).solve_all(
                data.user_items(),
                &mut user_factors,
                &mut user_biases,
            )?;
            ctx.check_cancel(iteration)?;
            System::new(params, global_mean, &user_factors, &user_biases).solve_all(
                data.item_users(),
                &mut item_factors,
                &mut item_biases,
            )?;
            let loss = ctx.wants_progress().then(|| {
                training_rmse(
                    data,
                    k,
                    global_mean,
                    (rating_min, rating_max),
                    (&user_factors, &user_biases),
                    (&item_factors, &item_biases),
                )
            });
            ctx.report(started, iteration + 1, params.iterations, loss);
        }
        ExplicitAlsModel::from_parts(
            params,
            ExplicitAlsParts {
                n_users,
                n_items,
                global_mean,
                rating_min,
                rating_max,
                user_factors,
                item_factors,
                user_biases,
                item_biases,
            },
        )
    })
}

impl Recommender for ExplicitAlsModel {
    fn kind(&self) -> &'static str {
        "explicit-als"
    }

    fn n_users(&self) -> usize {
        self.parts.n_users
    }

    fn n_items(&self) -> usize {
        self.parts.n_items
    }

    /// Unclipped predicted ratings (clipping would tie the top of the ranking).
    fn score_user(&self, user_idx: u32, _history: Row<'_>, scores: &mut [f32]) -> Result<()> {
        check_scores_len(scores, self.parts.n_items)?;
        let p = self.user_vector(user_idx)?;
        self.score_all(p, self.parts.user_biases[user_idx as usize], scores);
        Ok(())
    }

    /// Folds `history` (ratings) in, then scores as [`Recommender::score_user`].
    fn score_history(&self, history: Row<'_>, scores: &mut [f32]) -> Result<()> {
        check_scores_len(scores, self.parts.n_items)?;
        let (p, bias) = self.fold_in(history)?;
        self.score_all(&p, bias, scores);
        Ok(())
    }

    fn item_similarities(&self, item_idx: u32, out: &mut [f32]) -> Result<()> {
        self.matrices().item_similarities(item_idx, out)
    }

    fn user_similarities(&self, user_idx: u32, out: &mut [f32]) -> Result<()> {
        self.matrices().user_similarities(user_idx, out)
    }

    /// The fold-in prediction for `item_idx` from `history` (unclipped). Contributions are
    /// `(r_j − μ − b_j) · [q_item, 1]ᵀ A⁻¹ [q_j, 1]`; they sum to `score − μ − b_item`.
    fn explain(&self, user_idx: Option<u32>, history: Row<'_>, item_idx: u32) -> Result<Explanation> {
        if let Some(user) = user_idx {
            check_user(user, self.parts.n_users)?;
        }
        check_history(history, self.parts.n_items)?;
        let q_item = self.item_vector(item_idx)?;
        let baseline = self.parts.global_mean + self.parts.item_biases[item_idx as usize];
        if history.is_empty() {
            return Ok(Explanation { score: baseline, contributions: Vec::new() });
        }
        let (k, d) = (self.n_factors(), self.n_factors() + 1);
        let mut a = vec![0f32; d * d];
        let mut w = vec![0f32; d];
        with_kernels!(|kern| {
            self.user_system(kern, history, &mut a, &mut w);
            w[..k].copy_from_slice(q_item);
            w[k] = 1.0;
            cholesky_solve_lower(kern, &mut a, d, &mut w)
        })
        .map_err(|pivot| {
            EngineError::Numerical(format!("explain system not positive definite (pivot {pivot})"))
        })?;
        let mut contributions: Vec<(u32, f32)> = history
            .iter()
            .map(|(j, r)| {
                let q_j = &self.parts.item_factors[j as usize * k..][..k];
                let target = r - self.parts.global_mean - self.parts.item_biases[j as usize];
                (j, target * (crate::simd::dot(&w[..k], q_j) + w[k]))
            })
            .collect();
        let score = baseline + contributions.iter().map(|c| c.1).sum::<f32>();
        contributions.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(Explanation { score, contributions })
    }

    fn factors(&self) -> Option<FactorView<'_>> {
        Some(FactorView::explicit(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interactions::{Duplicates, Interaction};
    use crate::recommend::{
        RecommendOptions, TrainingUsers, explain, recommend, similar_items, similar_users,
    };

    /// Two taste groups: users 0..10 rate items 0..6 high and items 6..12 low, users 10..20 the
    /// opposite; each user has rated 8 of the 12 items (a different gap per user). Item 11 is
    /// rated by nobody, and user 20 rates nothing.
    fn groups() -> Interactions {
        let mut entries = Vec::new();
        for user in 0..20u32 {
            for item in 0..11u32 {
                if (item + user) % 3 == 0 {
                    continue;
                }
                let likes = (user < 10) == (item < 6);
                let value = if likes { 4.5 } else { 1.5 } + ((user * 7 + item) % 3) as f32 * 0.25;
                entries.push(Interaction { user_idx: user, item_idx: item, value, timestamp: 0 });
            }
        }
        Interactions::from_entries(21, 12, &entries, Duplicates::Reject).unwrap()
    }

    fn params() -> Valid<ExplicitAlsParams> {
        ExplicitAlsParams { factors: 4, iterations: 20, regularization: 0.05, ..Default::default() }
            .check()
            .unwrap()
    }

    #[test]
    fn predicts_the_groups_tastes_and_fits_the_training_data() {
        let data = groups();
        let model = fit(&params(), &data, &FitContext::new()).unwrap();
        let values = data.user_items().values();
        let lowest = values.iter().copied().fold(f32::INFINITY, f32::min);
        let highest = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        assert_eq!(model.rating_range(), (lowest, highest));
        let mut squared = 0.0;
        for u in 0..20u32 {
            for (i, r) in data.user_items().row(u as usize).iter() {
                squared += (model.predict(u, i).unwrap() - r).powi(2);
            }
            // Unrated items of the user's own group are predicted high, the others low.
            for i in 0..11u32 {
                if (i + u) % 3 == 0 {
                    let likes = (u < 10) == (i < 6);
                    let p = model.predict(u, i).unwrap();
                    assert!(if likes { p > 3.5 } else { p < 2.5 }, "user {u} item {i}: {p}");
                }
            }
        }
        let rmse = (squared / data.nnz() as f32).sqrt();
        assert!(rmse < 0.3, "training RMSE {rmse}");
        let top = recommend(
            &model,
            TrainingUsers::learned_only(data.user_items()),
            2,
            &RecommendOptions { n: 1, ..Default::default() },
        )
        .unwrap();
        assert!(top[0].item_idx < 6, "{top:?}");
        let similar = similar_items(&model, 1, 3).unwrap();
        assert!(similar.iter().all(|s| s.item_idx < 6), "{similar:?}");
        let similar = similar_users(&model, 15, 3).unwrap();
        assert!(similar.iter().all(|s| (10..20).contains(&s.item_idx)), "{similar:?}");
    }

    #[test]
    fn cold_users_and_items_get_the_mean_plus_known_biases() {
        let data = groups();
        let model = fit(&params(), &data, &FitContext::new()).unwrap();
        // User 20 and item 11 have no ratings: zero factors and biases.
        assert_eq!(model.user_bias(20).unwrap(), 0.0);
        assert!(model.user_vector(20).unwrap().iter().all(|&v| v == 0.0));
        assert_eq!(model.item_bias(11).unwrap(), 0.0);
        let mu = model.global_mean();
        assert_eq!(model.predict(20, 3).unwrap(), model.baseline(None, Some(3)).unwrap());
        assert_eq!(model.predict(3, 11).unwrap(), model.baseline(Some(3), None).unwrap());
        assert_eq!(model.baseline(None, None).unwrap(), mu);
        let (lo, hi) = model.rating_range();
        let want = (mu + model.user_bias(3).unwrap() + model.item_bias(4).unwrap()).clamp(lo, hi);
        assert_eq!(model.baseline(Some(3), Some(4)).unwrap(), want);
        assert_eq!(
            model.baseline(Some(21), None).unwrap_err(),
            EngineError::UnknownUser { user_idx: 21, n_users: 21 }
        );
    }

    #[test]
    fn fold_in_reproduces_a_training_user_and_explain_sums_to_its_score() {
        let data = groups();
        let model = fit(&params(), &data, &FitContext::new()).unwrap();
        let history = data.user_items().row(4);
        let (p, bias) = model.fold_in(history).unwrap();
        // The last half-step solved items, so the training user vector is one step stale.
        for (a, b) in p.iter().zip(model.user_vector(4).unwrap()) {
            assert!((a - b).abs() < 0.05, "{p:?}");
        }
        assert!((bias - model.user_bias(4).unwrap()).abs() < 0.05);
        let mut by_history = vec![0f32; 12];
        model.score_history(history, &mut by_history).unwrap();
        for item in 0..12u32 {
            let why = explain(&model, data.user_items(), 4, item).unwrap();
            assert!((why.score - by_history[item as usize]).abs() < 1e-4, "item {item}: {why:?}");
            let baseline = model.global_mean() + model.item_bias(item).unwrap();
            let sum: f32 = why.contributions.iter().map(|c| c.1).sum();
            assert!((baseline + sum - why.score).abs() < 1e-4);
            assert_eq!(why.contributions.len(), history.len());
            assert!(why.contributions.windows(2).all(|w| w[0].1 >= w[1].1));
        }
        let mut empty = vec![0f32; 12];
        model.score_history(Row::new(&[], &[]), &mut empty).unwrap();
        assert_eq!(empty[3], model.global_mean() + model.item_bias(3).unwrap());
    }

    #[test]
    fn same_seed_is_bit_identical_across_thread_counts() {
        let data = groups();
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let a = fit(&params(), &data, &FitContext::new().with_pool(&one)).unwrap();
        let b = fit(&params(), &data, &FitContext::new().with_pool(&two)).unwrap();
        assert_eq!(a, b);
        let other = ExplicitAlsParams { seed: 7, ..(*params()).clone() }.check().unwrap();
        let c = fit(&other, &data, &FitContext::new()).unwrap();
        assert_ne!(a.parts().user_factors, c.parts().user_factors);
    }

    #[test]
    fn progress_reports_a_falling_training_rmse_and_cancel_stops() {
        let data = groups();
        let losses = std::sync::Mutex::new(Vec::new());
        let callback = |p: &crate::context::Progress| losses.lock().unwrap().push(p.loss.unwrap());
        let model = fit(&params(), &data, &FitContext::new().with_progress(&callback)).unwrap();
        let losses = losses.into_inner().unwrap();
        assert_eq!(losses.len(), 20);
        assert!(losses[19] < losses[0] && losses[19] < 0.3, "{losses:?}");
        let k = model.n_factors();
        let parts = model.parts();
        let rmse = training_rmse(
            &data,
            k,
            parts.global_mean,
            model.rating_range(),
            (&parts.user_factors, &parts.user_biases),
            (&parts.item_factors, &parts.item_biases),
        );
        assert_eq!(rmse, losses[19]);
        let flag = std::sync::atomic::AtomicBool::new(true);
        let err = fit(&params(), &data, &FitContext::new().with_cancel(&flag)).unwrap_err();
        assert_eq!(err, EngineError::Cancelled { completed_iterations: 0 });
    }

    #[test]
    fn invalid_params_parts_and_queries_are_named() {
        let err = ExplicitAlsParams { regularization: 0.0, ..Default::default() }.check().unwrap_err();
        assert_eq!(err.to_string(), "invalid parameter `regularization` = 0: expected a number in (0, 1e6]");
        let err = ExplicitAlsParams { factors: 0, ..Default::default() }.check().unwrap_err();
        assert!(err.to_string().contains("`factors` = 0"), "{err}");
        let err = ExplicitAlsParams { rating_min: Some(5.0), rating_max: Some(1.0), ..Default::default() }
            .check()
            .unwrap_err();
        assert!(
            err.to_string().contains("`rating_max` = 1: expected a finite number greater than rating_min")
        );
        let err = ExplicitAlsParams { bias_regularization: -1.0, ..Default::default() }.check().unwrap_err();
        assert!(err.to_string().contains("`bias_regularization` = -1"), "{err}");
        let p = ExplicitAlsParams { rating_min: Some(6.0), ..(*params()).clone() }.check().unwrap();
        let err = fit(&p, &groups(), &FitContext::new()).unwrap_err();
        assert!(matches!(err, EngineError::InvalidParam { name: "rating_min", .. }), "{err}");

        let data = groups();
        let model = fit(&params(), &data, &FitContext::new()).unwrap();
        assert_eq!(model.predict(21, 0).unwrap_err(), EngineError::UnknownUser { user_idx: 21, n_users: 21 });
        assert_eq!(model.predict(0, 12).unwrap_err(), EngineError::UnknownItem { item_idx: 12, n_items: 12 });
        assert!(matches!(
            model.fold_in(Row::new(&[12], &[3.0])),
            Err(EngineError::UnknownItem { item_idx: 12, .. })
        ));
        let mut parts = model.parts().clone();
        parts.item_biases.pop();
        assert_eq!(
            ExplicitAlsModel::from_parts(&params(), parts).unwrap_err(),
            EngineError::Shape { what: "item biases", expected: 12, got: 11 }
        );
        let rebuilt = ExplicitAlsModel::from_parts(&params(), model.parts().clone()).unwrap();
        assert_eq!(rebuilt, model);
        let empty = Interactions::from_entries(2, 2, &[], Duplicates::Reject).unwrap();
        assert_eq!(
            fit(&params(), &empty, &FitContext::new()).unwrap_err(),
            EngineError::Empty("training interactions")
        );
    }
}
