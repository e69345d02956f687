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
//! With `samples > 0` the ALS solution is the starting point of a Gibbs sampler (Bayesian
//! matrix factorisation: Salakhutdinov & Mnih 2008, with biases and per-dimension priors as in
//! Rendle's libFM MCMC). Ratings are `N(prediction, 1/α)`; each side's factor dimensions and
//! its biases have Gaussian priors `N(μ_j, 1/λ_j)` whose `μ_j, λ_j` (Normal–Gamma hyperprior)
//! and `α` (Gamma) are drawn from their posteriors at every sweep, so no regularization is
//! tuned. A sweep draws every user's `[p_u, b_u]` from its Gaussian posterior (the ALS system
//! with the prior in place of ALS-WR's ridge, plus `L⁻ᵀz`), then every item's. The model
//! predicts the mean of the `samples` draws after `burn_in`: since a mean of dot products is
//! one dot product of the draws side by side, each stored factor row holds the draws'
//! factors concatenated and scaled by `1/√samples` (width `k × samples`), and the biases are
//! the draws' means. Fold-in solves each draw's block by ALS-WR against the stored item
//! factors (λ scaled to the block) and averages, as the sampled users' predictions are.
//!
//! Determinism: each row's solve reads only the fixed side, each row's draws come from its
//! own random stream, hyperparameters are drawn in order on one thread, and losses are summed
//! over fixed-size chunks in a fixed order, so the same seed gives bit-identical models
//! whatever the thread count.

use std::time::Instant;

use rayon::prelude::*;

use crate::context::FitContext;
use crate::error::{EngineError, Result};
use crate::factors::{FactorMatrices, FactorNorms, FactorView};
use crate::interactions::{Csr, Interactions, Row};
use crate::linalg::{cholesky_solve_lower, solve_lower_transposed};
use crate::params::{Params, Valid, in_range};
use crate::recommend::{Explanation, Recommender, check_history, check_item, check_scores_len, check_user};
use crate::rng::Rng;
use crate::simd::{Kernels, matvec_rows};
use crate::with_kernels;

/// Explicit ALS hyperparameters.
///
/// The defaults are the Gibbs sampler of the module docs: 4 factors, 15 ALS iterations as the
/// starting point, 10 sweeps of burn-in, then one draw kept every 4 sweeps until 100 are
/// averaged (stored rows of 400 values). They were chosen on a validation split carved from
/// ml-100k's `u1.base` (20 % of its ratings at random), never on the `u*.test` files
/// (`cargo run --release -p benches --example tune_explicit_als`): validation RMSE 0.9077,
/// against 0.9224 for the best ALS point (64 factors, λ = 0.13, λ_b = 0.05, found by an
/// earlier grid over factors 10–128, λ 0.05–0.5, λ_b 0–0.1, and still the ALS
/// regularization, used for the starting point and by fold-in). More factors did not help
/// the sampler (16: 0.9099, 32: 0.9117); more draws help a little (800 draws of 8 factors:
/// 0.9073). `samples: 0` trains the ALS point estimate alone.
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
    /// Seed of the initialisation and of the Gibbs sampler's draws.
    pub seed: u64,
    /// Gibbs sweeps after the ALS iterations whose draws the model averages; 0: the ALS
    /// point estimate alone.
    pub samples: usize,
    /// Gibbs sweeps drawn and discarded before the averaged ones.
    pub burn_in: usize,
    /// One sweep in `thin` is averaged after the burn-in (consecutive draws are correlated,
    /// so a thinned chain stores fewer draws for nearly the same mean); at least 1.
    pub thin: usize,
}

impl ExplicitAlsParams {
    /// Length of a stored factor row: `factors`, or `factors × samples` for a sampled model
    /// (each draw's factors side by side).
    pub fn width(&self) -> usize {
        self.factors * self.samples.max(1)
    }
}

impl Default for ExplicitAlsParams {
    fn default() -> Self {
        Self {
            factors: 4,
            iterations: 15,
            regularization: 0.13,
            bias_regularization: 0.05,
            rating_min: None,
            rating_max: None,
            init_scale: 0.1,
            seed: 42,
            samples: 100,
            burn_in: 10,
            thin: 4,
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
        in_range("samples", self.samples as f64, 0.0, 10_000.0, "an integer in 0..=10000")?;
        in_range("burn_in", self.burn_in as f64, 0.0, 10_000.0, "an integer in 0..=10000")?;
        in_range("thin", self.thin as f64, 1.0, 1_000.0, "an integer in 1..=1000")?;
        in_range(
            "samples",
            self.width() as f64,
            0.0,
            65_536.0,
            "at most 65536 / factors (the stored rows hold factors × samples values)",
        )?;
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
    /// User factors, row-major `n_users × width` (see [`ExplicitAlsParams::width`]).
    pub user_factors: Vec<f32>,
    /// Item factors, row-major `n_items × width`.
    pub item_factors: Vec<f32>,
    /// One bias per user (the draws' mean for a sampled model).
    pub user_biases: Vec<f32>,
    /// One bias per item (the draws' mean for a sampled model).
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
        let k = params.width();
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

    /// Length of the stored factor rows: k, or k × samples for a sampled model (whose rows
    /// hold every draw's factors, scaled so that one dot product is the draws' mean).
    pub fn n_factors(&self) -> usize {
        self.params.width()
    }

    /// The averaged draws (1 for an ALS model).
    fn n_blocks(&self) -> usize {
        self.params.samples.max(1)
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

    /// The ALS-WR system of a user with ratings `history` against block `block` of the trained
    /// item rows (draw `block` of a sampled model; 0 of an ALS one), λ divided by the number
    /// of blocks because the stored blocks are scaled by `1/√blocks`; `a` is `(k+1)²`, `b` is
    /// `k+1`. The solution divided by the number of blocks is the block's share of the
    /// prediction.
    fn user_system<K: Kernels>(&self, kern: K, history: Row<'_>, block: usize, a: &mut [f32], b: &mut [f32]) {
        let k = self.params.factors;
        let system = System {
            k,
            stride: self.n_factors(),
            offset: block * k,
            fixed: &self.parts.item_factors,
            fixed_biases: &self.parts.item_biases,
            global_mean: self.parts.global_mean,
            ridge: Ridge::PerRating {
                factors: self.params.regularization / self.n_blocks() as f32,
                bias: self.params.bias_regularization,
            },
        };
        system.build(kern, history.indices, history.values, a, &mut vec![0f32; 4 * (k + 1)], b);
    }

    /// The least-squares `(p, b_u)` of someone with ratings `history` against the trained items
    /// (the same solve as a training half-step; for a sampled model one per draw, combined as
    /// in the module docs). Empty history: zeros.
    pub fn fold_in(&self, history: Row<'_>) -> Result<(Vec<f32>, f32)> {
        check_history(history, self.parts.n_items)?;
        let (k, blocks) = (self.params.factors, self.n_blocks() as f32);
        let d = k + 1;
        let mut p = vec![0f32; self.n_factors()];
        let mut bias = 0f32;
        if !history.is_empty() {
            let mut a = vec![0f32; d * d];
            let mut x = vec![0f32; d];
            for (block, p) in p.chunks_exact_mut(k).enumerate() {
                with_kernels!(|kern| {
                    self.user_system(kern, history, block, &mut a, &mut x);
                    cholesky_solve_lower(kern, &mut a, d, &mut x)
                })
                .map_err(|pivot| {
                    EngineError::Numerical(format!("fold-in system not positive definite (pivot {pivot})"))
                })?;
                for (p, x) in p.iter_mut().zip(&x) {
                    *p = x / blocks;
                }
                bias += x[k] / blocks;
            }
        }
        Ok((p, bias))
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

/// What a row's system adds to `Σ [q,1][q,1]ᵀ` and `Σ (r − μ − b_j)·[q,1]`.
enum Ridge<'a> {
    /// ALS-WR: `n·diag(λ, …, λ, λ_b)` for a row with `n` ratings.
    PerRating { factors: f32, bias: f32 },
    /// A Gaussian prior in units of the noise variance (the Gibbs sampler).
    Prior(&'a Prior),
}

/// One side's least-squares problem: rows are solved against `k` columns starting at
/// `offset` of the `fixed` side's rows (`stride` values each) and its biases.
struct System<'a> {
    k: usize,
    stride: usize,
    offset: usize,
    fixed: &'a [f32],
    fixed_biases: &'a [f32],
    global_mean: f32,
    ridge: Ridge<'a>,
}

impl<'a> System<'a> {
    /// The training system against `fixed` (`k` per row), with `ridge`.
    fn new(k: usize, global_mean: f32, fixed: &'a [f32], fixed_biases: &'a [f32], ridge: Ridge<'a>) -> Self {
        Self { k, stride: k, offset: 0, fixed, fixed_biases, global_mean, ridge }
    }

    /// Fills the lower triangle of `A` (`(k+1)²`, row-major) and `b` (`k+1`) for a row with
    /// entries `cols`/`ratings` (non-empty):
    /// `A = Σ [q,1][q,1]ᵀ + ridge`, `b = Σ (r − μ − b_j)·[q,1]` (plus a prior's mean term).
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
        let q = |col: u32| &self.fixed[col as usize * self.stride + self.offset..][..k];
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
        a[k * d + k] = n;
        match self.ridge {
            Ridge::PerRating { factors, bias } => {
                for i in 0..k {
                    a[i * d + i] += factors * n;
                }
                a[k * d + k] += bias * n;
            }
            Ridge::Prior(prior) => {
                for i in 0..d {
                    a[i * d + i] += prior.precision[i];
                    b[i] += prior.mean_term[i];
                }
            }
        }
    }

    /// Solves every row of `matrix` into `factors` (`k` per row) and `biases`; with `draw`,
    /// each row gets a draw from its Gaussian posterior instead of its mean.
    fn solve_all(
        &self,
        matrix: &Csr,
        factors: &mut [f32],
        biases: &mut [f32],
        draw: Option<Draw>,
    ) -> Result<()> {
        const ROWS_PER_TASK: usize = 32;
        let (k, d) = (self.k, self.k + 1);
        factors
            .par_chunks_mut(ROWS_PER_TASK * k)
            .zip(biases.par_chunks_mut(ROWS_PER_TASK))
            .enumerate()
            .try_for_each_init(
                || vec![0f32; d * d + 6 * d],
                |scratch, (task, (rows, row_biases))| {
                    let (a, rest) = scratch.split_at_mut(d * d);
                    let (coefs, rest) = rest.split_at_mut(4 * d);
                    let (x, z) = rest.split_at_mut(d);
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
                            if let Some(draw) = draw {
                                // a holds L with A = L Lᵀ, so L⁻ᵀz ~ N(0, A⁻¹): the posterior
                                // covariance in units of the noise variance.
                                let mut rng = Rng::for_stream(draw.seed, row_idx as u64);
                                z.iter_mut().for_each(|v| *v = rng.normal() as f32);
                                solve_lower_transposed(kern, a, d, z);
                                kern.axpy(draw.noise_sd, z, x);
                            }
                            p.copy_from_slice(&x[..k]);
                            *bias = x[k];
                        }
                        Ok(())
                    })
                },
            )
    }
}

/// One Gibbs sweep's posterior draws: the rows' random streams and the noise's standard
/// deviation `1/√α`.
#[derive(Clone, Copy)]
struct Draw {
    seed: u64,
    noise_sd: f32,
}

/// One side's prior, drawn at each sweep, in the systems' units (divided by the noise
/// precision α): `precision[j] = λ_j/α` and `mean_term[j] = λ_j·μ_j/α` for the `k` factor
/// dimensions and the bias (last).
struct Prior {
    precision: Vec<f32>,
    mean_term: Vec<f32>,
}

impl Prior {
    /// Draws `μ_j, λ_j` of every dimension of the rows `factors` (`k` each; rows without
    /// ratings in `rated` left out) and of `biases` from their Normal–Gamma posterior
    /// (hyperprior `μ₀ = 0`, `γ₀ = 1`, shape and rate 1), given the noise precision `alpha`.
    fn draw(rng: &mut Rng, k: usize, (factors, biases): (&[f32], &[f32]), rated: &Csr, alpha: f64) -> Self {
        let rows: Vec<usize> = (0..biases.len()).filter(|&r| !rated.row(r).is_empty()).collect();
        let n = rows.len() as f64;
        let mut prior = Self { precision: vec![0.0; k + 1], mean_term: vec![0.0; k + 1] };
        for j in 0..=k {
            let value = |r: usize| if j < k { factors[r * k + j] as f64 } else { biases[r] as f64 };
            let mean = rows.iter().map(|&r| value(r)).sum::<f64>() / n.max(1.0);
            let scatter = rows.iter().map(|&r| (value(r) - mean).powi(2)).sum::<f64>();
            let gamma_n = 1.0 + n;
            let rate = 1.0 + 0.5 * scatter + 0.5 * n * mean * mean / gamma_n;
            let lambda = rng.gamma(1.0 + 0.5 * n, rate);
            let mu = n * mean / gamma_n + rng.normal() / (gamma_n * lambda).sqrt();
            prior.precision[j] = (lambda / alpha) as f32;
            prior.mean_term[j] = (lambda * mu / alpha) as f32;
        }
        prior
    }
}

/// Training RMSE of clipped predictions.
fn training_rmse(
    data: &Interactions,
    k: usize,
    mean: f32,
    range: (f32, f32),
    users: (&[f32], &[f32]),
    items: (&[f32], &[f32]),
) -> f64 {
    (squared_error(data, k, mean, range, users, items) / data.nnz() as f64).sqrt()
}

/// The sum of squared errors of predictions clipped to `range`, over fixed chunks of users in
/// order.
fn squared_error(
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
    partials.iter().sum::<f64>()
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
        let ridge = || Ridge::PerRating { factors: params.regularization, bias: params.bias_regularization };
        let sweeps = params.burn_in + params.samples * params.thin;
        let total = params.iterations + if params.samples > 0 { sweeps } else { 0 };
        let report = |done: usize, users: (&[f32], &[f32]), items: (&[f32], &[f32])| {
            let range = (rating_min, rating_max);
            let loss = ctx.wants_progress().then(|| training_rmse(data, k, global_mean, range, users, items));
            ctx.report(started, done, total, loss);
        };
        for iteration in 0..params.iterations {
            ctx.check_cancel(iteration)?;
            System::new(k, global_mean, &item_factors, &item_biases, ridge()).solve_all(
                data.user_items(),
                &mut user_factors,
                &mut user_biases,
                None,
            )?;
            ctx.check_cancel(iteration)?;
            System::new(k, global_mean, &user_factors, &user_biases, ridge()).solve_all(
                data.item_users(),
                &mut item_factors,
                &mut item_biases,
                None,
            )?;
            report(iteration + 1, (&user_factors, &user_biases), (&item_factors, &item_biases));
        }
        if params.samples == 0 {
            let parts = ExplicitAlsParts {
                n_users,
                n_items,
                global_mean,
                rating_min,
                rating_max,
                user_factors,
                item_factors,
                user_biases,
                item_biases,
            };
            return ExplicitAlsModel::from_parts(params, parts);
        }
        // Gibbs sampling from the ALS solution; the averaged draws are written side by side.
        let width = params.width();
        let mut mean_users = (vec![0f32; n_users * width], vec![0f64; n_users]);
        let mut mean_items = (vec![0f32; n_items * width], vec![0f64; n_items]);
        let scale = 1.0 / (params.samples as f32).sqrt();
        let mut hyper_rng = Rng::for_stream(params.seed, u64::MAX);
        let unclipped = (f32::NEG_INFINITY, f32::INFINITY);
        for sweep in 0..sweeps {
            let done = params.iterations + sweep;
            ctx.check_cancel(done)?;
            let error = squared_error(
                data,
                k,
                global_mean,
                unclipped,
                (&user_factors, &user_biases),
                (&item_factors, &item_biases),
            );
            let alpha = hyper_rng.gamma(1.0 + 0.5 * data.nnz() as f64, 1.0 + 0.5 * error);
            let draw = |side: u64| Draw {
                seed: Rng::for_stream(params.seed, 2 * sweep as u64 + side).next_u64(),
                noise_sd: (1.0 / alpha.sqrt()) as f32,
            };
            let prior =
                Prior::draw(&mut hyper_rng, k, (&user_factors, &user_biases), data.user_items(), alpha);
            System::new(k, global_mean, &item_factors, &item_biases, Ridge::Prior(&prior)).solve_all(
                data.user_items(),
                &mut user_factors,
                &mut user_biases,
                Some(draw(0)),
            )?;
            ctx.check_cancel(done)?;
            let prior =
                Prior::draw(&mut hyper_rng, k, (&item_factors, &item_biases), data.item_users(), alpha);
            System::new(k, global_mean, &user_factors, &user_biases, Ridge::Prior(&prior)).solve_all(
                data.item_users(),
                &mut item_factors,
                &mut item_biases,
                Some(draw(1)),
            )?;
            let kept = sweep.checked_sub(params.burn_in).filter(|after| (after + 1) % params.thin == 0);
            if let Some(sample) = kept.map(|after| after / params.thin) {
                for (mean, (factors, biases)) in [
                    (&mut mean_users, (&user_factors, &user_biases)),
                    (&mut mean_items, (&item_factors, &item_biases)),
                ] {
                    mean.0.par_chunks_mut(width).zip(factors.par_chunks(k)).for_each(|(row, draw)| {
                        for (slot, v) in row[sample * k..][..k].iter_mut().zip(draw) {
                            *slot = v * scale;
                        }
                    });
                    for (sum, b) in mean.1.iter_mut().zip(biases.iter()) {
                        *sum += *b as f64 / params.samples as f64;
                    }
                }
            }
            report(done + 1, (&user_factors, &user_biases), (&item_factors, &item_biases));
        }
        let to_f32 = |v: Vec<f64>| v.into_iter().map(|b| b as f32).collect();
        let parts = ExplicitAlsParts {
            n_users,
            n_items,
            global_mean,
            rating_min,
            rating_max,
            user_factors: mean_users.0,
            item_factors: mean_items.0,
            user_biases: to_f32(mean_users.1),
            item_biases: to_f32(mean_items.1),
        };
        ExplicitAlsModel::from_parts(params, parts)
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
        let (k, width, blocks) = (self.params.factors, self.n_factors(), self.n_blocks());
        let d = k + 1;
        let mut a = vec![0f32; d * d];
        let mut w = vec![0f32; d];
        let mut contributions: Vec<(u32, f32)> = history.iter().map(|(j, _)| (j, 0.0)).collect();
        for block in 0..blocks {
            let offset = block * k;
            with_kernels!(|kern| {
                self.user_system(kern, history, block, &mut a, &mut w);
                w[..k].copy_from_slice(&q_item[offset..][..k]);
                w[k] = 1.0;
                cholesky_solve_lower(kern, &mut a, d, &mut w)
            })
            .map_err(|pivot| {
                EngineError::Numerical(format!("explain system not positive definite (pivot {pivot})"))
            })?;
            for ((j, r), (_, contribution)) in history.iter().zip(contributions.iter_mut()) {
                let q_j = &self.parts.item_factors[j as usize * width + offset..][..k];
                let target = r - self.parts.global_mean - self.parts.item_biases[j as usize];
                *contribution += target * (crate::simd::dot(&w[..k], q_j) + w[k]) / blocks as f32;
            }
        }
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

    /// The ALS point estimate alone.
    fn params() -> Valid<ExplicitAlsParams> {
        ExplicitAlsParams {
            factors: 4,
            iterations: 20,
            regularization: 0.05,
            samples: 0,
            ..Default::default()
        }
        .check()
        .unwrap()
    }

    /// The Gibbs sampler: 6 ALS iterations, 5 sweeps of burn-in, 12 draws one sweep in 2.
    fn sampled() -> Valid<ExplicitAlsParams> {
        ExplicitAlsParams {
            factors: 4,
            iterations: 6,
            regularization: 0.05,
            samples: 12,
            burn_in: 5,
            thin: 2,
            ..Default::default()
        }
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
        // The ALS point estimate and the Gibbs sampler alike.
        for params in [params(), sampled()] {
            let a = fit(&params, &data, &FitContext::new().with_pool(&one)).unwrap();
            let b = fit(&params, &data, &FitContext::new().with_pool(&two)).unwrap();
            assert_eq!(a, b);
            let other = ExplicitAlsParams { seed: 7, ..(*params).clone() }.check().unwrap();
            let c = fit(&other, &data, &FitContext::new()).unwrap();
            assert_ne!(a.parts().user_factors, c.parts().user_factors);
        }
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
    fn the_gibbs_sampler_averages_its_draws_side_by_side_and_fits_the_groups() {
        let data = groups();
        let losses = std::sync::Mutex::new(Vec::new());
        let callback = |p: &crate::context::Progress| losses.lock().unwrap().push(p.loss.unwrap());
        let model = fit(&sampled(), &data, &FitContext::new().with_progress(&callback)).unwrap();
        // 6 ALS iterations, then 5 + 12 × 2 sweeps, each reported.
        assert_eq!(losses.into_inner().unwrap().len(), 6 + 5 + 24);
        assert_eq!(model.n_factors(), 4 * 12);
        assert_eq!(model.parts().user_factors.len(), 21 * 48);
        // Twelve different draws were stored: no block of a user's row repeats another.
        let row = model.user_vector(3).unwrap();
        let blocks: Vec<&[f32]> = row.chunks_exact(4).collect();
        assert!(blocks.iter().enumerate().all(|(i, b)| blocks[..i].iter().all(|o| o != b)), "{row:?}");
        let mut squared = 0.0;
        for u in 0..20u32 {
            for (i, r) in data.user_items().row(u as usize).iter() {
                squared += (model.predict(u, i).unwrap() - r).powi(2);
            }
            for i in (0..11u32).filter(|i| (i + u) % 3 == 0) {
                let likes = (u < 10) == (i < 6);
                let p = model.predict(u, i).unwrap();
                assert!(if likes { p > 3.5 } else { p < 2.5 }, "user {u} item {i}: {p}");
            }
        }
        let rmse = (squared / data.nnz() as f32).sqrt();
        assert!(rmse < 0.3, "training RMSE {rmse}");
        // User 20 and item 11 have no ratings: zero factors and biases, as with ALS.
        assert!(model.user_vector(20).unwrap().iter().all(|&v| v == 0.0));
        assert_eq!(model.item_bias(11).unwrap(), 0.0);
    }

    #[test]
    fn sampled_fold_in_averages_the_draws_and_explain_sums_to_its_score() {
        let data = groups();
        let model = fit(&sampled(), &data, &FitContext::new()).unwrap();
        let history = data.user_items().row(4);
        let (p, bias) = model.fold_in(history).unwrap();
        assert_eq!(p.len(), model.n_factors());
        // Each block's share solved on its own: the same as a one-draw model of that block.
        let k = 4;
        let mut by_history = vec![0f32; 12];
        model.score_history(history, &mut by_history).unwrap();
        for item in 0..12u32 {
            let q = model.item_vector(item).unwrap();
            let want = model.global_mean() + model.item_bias(item).unwrap() + bias + crate::simd::dot(&p, q);
            assert!((by_history[item as usize] - want).abs() < 1e-4);
            let why = explain(&model, data.user_items(), 4, item).unwrap();
            assert!((why.score - by_history[item as usize]).abs() < 1e-3, "item {item}: {why:?}");
            assert_eq!(why.contributions.len(), history.len());
        }
        // The fold-in's predictions track the sampled user's (same tastes, ALS-WR per draw).
        for (i, _) in history.iter() {
            let (folded, trained) = (by_history[i as usize], model.predict(4, i).unwrap());
            assert!((folded - trained).abs() < 0.5, "item {i}: fold-in {folded} vs trained {trained}");
        }
        // Block 0 of the fold-in is draw 0's own ALS-WR solve: a one-draw model of that draw
        // (stored unscaled, q = √12·q′) solves the same problem, so its p is √12 times block 0.
        let scale = 12f32.sqrt();
        let first_draw = |rows: &[f32]| -> Vec<f32> {
            rows.chunks_exact(48).flat_map(|r| r[..k].iter().map(|v| v * scale)).collect()
        };
        let one_draw = ExplicitAlsParams { samples: 1, ..(*sampled()).clone() }.check().unwrap();
        let parts = ExplicitAlsParts {
            user_factors: first_draw(&model.parts().user_factors),
            item_factors: first_draw(&model.parts().item_factors),
            ..model.parts().clone()
        };
        let first = ExplicitAlsModel::from_parts(&one_draw, parts).unwrap();
        assert_eq!(first.n_factors(), k);
        let (p_first, _) = first.fold_in(history).unwrap();
        for (a, b) in p[..k].iter().zip(&p_first) {
            assert!((a * scale - b).abs() < 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
        }
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
        let err = ExplicitAlsParams { thin: 0, ..Default::default() }.check().unwrap_err();
        assert!(err.to_string().contains("`thin` = 0"), "{err}");
        let err = ExplicitAlsParams { factors: 64, samples: 2000, ..Default::default() }.check().unwrap_err();
        assert!(err.to_string().contains("at most 65536 / factors"), "{err}");
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
