//! Implicit-feedback ALS (Hu, Koren & Volinsky 2008) with conjugate-gradient and Cholesky solvers.
//!
//! Each observed entry `r` becomes a confidence `c` (`1 + α·r`, or `1 + α·ln(1 + r/ε)`) and a
//! preference `p` (1, or 0 for negative `r`). Unobserved cells have preference 0 and weight
//! `w₀` (`unobserved_weight`, 1 in the classic model). Alternating, each user row solves
//!
//! `(w₀·YᵀY + λ_u·I + Σᵢ (cᵢ − w₀)·yᵢyᵢᵀ) x_u = Σᵢ cᵢ·pᵢ·yᵢ`
//!
//! and then each item row symmetrically. `λ_u = λ·(n_u + w₀·n_other)^ν` with
//! `ν = regularization_exponent` (0: plain L2, as in `implicit`; 1: frequency-scaled, as in
//! Rendle et al. 2022, "iALS revisited").
//!
//! The conjugate-gradient solver (Takács et al. 2011, as in `implicit`) never forms the k × k
//! matrix: it warm-starts from the previous factors and runs `cg_steps` steps. Before each
//! half-step both sides are rotated into the eigenbasis of the fixed side's Gram matrix
//! (`Y ← YQ`, `X ← XQ` with `w₀YᵀY = QΛQᵀ`: the model `XYᵀ` and every row's loss are unchanged,
//! and CG's iterates are the same, rotated), so the dense part of a step is the diagonal `Λ·p`,
//! O(n_u·k) per step instead of O(k² + n_u·k), for two compute-bound GEMMs per half-step.
//! The Cholesky solver forms the matrix with triangular GEMMs over the row's gathered
//! entries (64 at a time) and solves exactly through faer's blocked Cholesky factorisation.
//!
//! Determinism: each row's solve reads only the fixed side and its own previous value, the Gram
//! matrices are summed over fixed-size chunks in a fixed order, the rotations are GEMMs over
//! fixed-size chunks of rows and the eigendecompositions run on one thread, so the same seed
//! gives bit-identical factors whatever the thread count.

use std::time::Instant;

use faer::linalg::matmul::triangular::BlockStructure;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use crate::context::FitContext;
use crate::error::{EngineError, Result};
use crate::factors::{FactorMatrices, FactorNorms, FactorView};
use crate::interactions::{Csr, Interactions, Row};
use crate::linalg::cholesky_solve;
use crate::params::{Params, Valid, at_least, in_range};
use crate::recommend::{Explanation, Recommender, check_history, check_scores_len};
use crate::rng::Rng;
use crate::simd::{Element, Kernels, matvec_rows, prefetch_lines};
use crate::with_kernels;

/// How each row's least-squares problem is solved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Solver {
    /// Warm-started conjugate gradient, `cg_steps` steps per row: fast, approximate.
    #[default]
    ConjugateGradient,
    /// Exact solve through a Cholesky factorisation of the k × k system.
    Cholesky,
}

/// How an interaction value `r` becomes a confidence.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Confidence {
    /// `c = 1 + α·|r|`.
    #[default]
    Linear,
    /// `c = 1 + α·ln(1 + |r|/ε)` (Hu et al.'s log variant, for heavy-tailed counts).
    Log {
        /// Scale ε of the counts.
        epsilon: f32,
    },
}

/// Implicit ALS hyperparameters.
///
/// The defaults (64 factors, λ = 20, α = 3, w₀ = 0.3, 15 iterations, CG with 3 steps) are the best
/// 64-factor point of a grid search on a validation split carved from the *training* part of the
/// PROTOCOLS holdout (ratings ≥ 4, 20 % per user) of ml-100k and ml-latest-small, by mean
/// nDCG@10; the test part was never looked at (README, "Choosing the implicit ALS defaults").
/// 128 factors scored 0.001 higher there; 64 halves training and serving cost. λ is not
/// normalised by the number of entries, hence its size next to `implicit`'s 0.01.
#[derive(Clone, Debug, PartialEq)]
pub struct ImplicitAlsParams {
    /// Latent dimension k.
    pub factors: usize,
    /// Full alternations (users then items).
    pub iterations: usize,
    /// L2 regularization λ.
    pub regularization: f32,
    /// Confidence scale α.
    pub alpha: f32,
    /// Value → confidence mapping.
    pub confidence: Confidence,
    /// Row solver.
    pub solver: Solver,
    /// Conjugate-gradient steps per row (CG solver only).
    pub cg_steps: usize,
    /// Weight w₀ of unobserved cells (1 = the classic model).
    pub unobserved_weight: f32,
    /// Exponent ν of the frequency scaling of λ (0 = plain λ).
    pub regularization_exponent: f32,
    /// Factors start uniform in `[0, init_scale)`.
    pub init_scale: f32,
    /// Seed of the initialisation.
    pub seed: u64,
    /// Compute the training loss after each iteration for progress reports (costs about one
    /// extra CG step).
    pub compute_loss: bool,
}

impl Default for ImplicitAlsParams {
    fn default() -> Self {
        Self {
            factors: 64,
            iterations: 15,
            regularization: 20.0,
            alpha: 3.0,
            confidence: Confidence::Linear,
            solver: Solver::ConjugateGradient,
            cg_steps: 3,
            unobserved_weight: 0.3,
            regularization_exponent: 0.0,
            init_scale: 0.01,
            seed: 42,
            compute_loss: false,
        }
    }
}

impl ImplicitAlsParams {
    /// The `implicit` library's `AlternatingLeastSquares` defaults expressed in these params
    /// (factors 100, λ 0.01, 15 iterations, CG with 3 steps; its α = 1 on a binary matrix means
    /// confidence 1, i.e. our α = 0, and its unobserved weight is 1).
    pub fn implicit_library_defaults() -> Self {
        Self { factors: 100, regularization: 0.01, alpha: 0.0, unobserved_weight: 1.0, ..Self::default() }
    }
}

impl Params for ImplicitAlsParams {
    fn check(self) -> Result<Valid<Self>> {
        in_range("factors", self.factors as f64, 1.0, 4096.0, "an integer in 1..=4096")?;
        in_range("iterations", self.iterations as f64, 1.0, 10_000.0, "an integer in 1..=10000")?;
        at_least("regularization", self.regularization as f64, 0.0, "a finite number ≥ 0")?;
        at_least("alpha", self.alpha as f64, 0.0, "a finite number ≥ 0")?;
        if let Confidence::Log { epsilon } = self.confidence {
            in_range("epsilon", epsilon as f64, f64::MIN_POSITIVE, f64::MAX, "a finite number > 0")?;
        }
        if self.solver == Solver::ConjugateGradient {
            in_range("cg_steps", self.cg_steps as f64, 1.0, 1000.0, "an integer in 1..=1000")?;
        }
        in_range(
            "unobserved_weight",
            self.unobserved_weight as f64,
            f64::MIN_POSITIVE,
            1e6,
            "a number in (0, 1e6]",
        )?;
        in_range(
            "regularization_exponent",
            self.regularization_exponent as f64,
            0.0,
            2.0,
            "a number in [0, 2]",
        )?;
        in_range("init_scale", self.init_scale as f64, f64::MIN_POSITIVE, 10.0, "a number in (0, 10]")?;
        if self.regularization == 0.0 && self.solver == Solver::Cholesky {
            return Err(EngineError::InvalidParam {
                name: "regularization",
                value: "0".into(),
                allowed: "> 0 with the Cholesky solver (the system must be positive definite)",
            });
        }
        Ok(Valid::new_unchecked(self))
    }
}

impl ImplicitAlsParams {
    /// Signed confidence of one stored value: magnitude `c`, sign = preference (negative values
    /// mean "seen and disliked": preference 0).
    #[inline]
    fn signed_confidence(&self, value: f32) -> f32 {
        let magnitude = match self.confidence {
            Confidence::Linear => 1.0 + self.alpha * value.abs(),
            Confidence::Log { epsilon } => 1.0 + self.alpha * (1.0 + value.abs() / epsilon).ln(),
        };
        if value < 0.0 { -magnitude } else { magnitude }
    }

    /// λ for a row with `n_row` observed entries, opposite a side of `n_other` rows.
    #[inline]
    fn row_regularization(&self, n_row: usize, n_other: usize) -> f32 {
        if self.regularization_exponent == 0.0 {
            self.regularization
        } else {
            let count = n_row as f64 + self.unobserved_weight as f64 * n_other as f64;
            (self.regularization as f64 * count.powf(self.regularization_exponent as f64)) as f32
        }
    }
}

/// A trained implicit ALS model: user and item factor matrices (row-major, `factors` columns).
#[derive(Clone, Debug, PartialEq)]
pub struct ImplicitAlsModel {
    params: ImplicitAlsParams,
    n_users: usize,
    n_items: usize,
    user_factors: Vec<f32>,
    item_factors: Vec<f32>,
    /// YᵀY of the item factors (k × k), for fold-in and explanations.
    item_gram: Vec<f32>,
    norms: FactorNorms,
}

impl ImplicitAlsModel {
    /// Rebuilds a model from factor matrices (e.g. loaded from an artifact, or trained by another
    /// library), checking their shapes and values.
    pub fn from_factors(
        params: &Valid<ImplicitAlsParams>,
        n_users: usize,
        n_items: usize,
        user_factors: Vec<f32>,
        item_factors: Vec<f32>,
    ) -> Result<Self> {
        let k = params.factors;
        for (what, rows, data) in
            [("user factors", n_users, &user_factors), ("item factors", n_items, &item_factors)]
        {
            if data.len() != rows * k {
                return Err(EngineError::Shape { what, expected: rows * k, got: data.len() });
            }
            if let Some(pos) = data.iter().position(|v| !v.is_finite()) {
                return Err(EngineError::Numerical(format!("{what}: non-finite value at row {}", pos / k)));
            }
        }
        let item_gram = gram(&item_factors, k, 1.0);
        let norms = FactorNorms::new(&user_factors, &item_factors, k);
        Ok(Self {
            params: (**params).clone(),
            n_users,
            n_items,
            user_factors,
            item_factors,
            item_gram,
            norms,
        })
    }

    /// The hyperparameters the model was trained with.
    pub fn params(&self) -> &ImplicitAlsParams {
        &self.params
    }

    /// Latent dimension k.
    pub fn n_factors(&self) -> usize {
        self.params.factors
    }

    /// All user factors, row-major `n_users × k`.
    pub fn user_factors(&self) -> &[f32] {
        &self.user_factors
    }

    /// All item factors, row-major `n_items × k`.
    pub fn item_factors(&self) -> &[f32] {
        &self.item_factors
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
            user: &self.user_factors,
            item: &self.item_factors,
            norms: &self.norms,
        }
    }

    /// The system `(A, b)` of a user with `history`, against the fixed item factors.
    fn user_system(&self, history: Row<'_>) -> (Vec<f32>, Vec<f32>) {
        let k = self.n_factors();
        let w0 = self.params.unobserved_weight;
        let mut a: Vec<f32> = self.item_gram.iter().map(|g| g * w0).collect();
        let reg = self.params.row_regularization(history.len(), self.n_items);
        for d in 0..k {
            a[d * k + d] += reg;
        }
        let mut b = vec![0f32; k];
        for (item, value) in history.iter() {
            let y = &self.item_factors[item as usize * k..][..k];
            let signed = self.params.signed_confidence(value);
            let c = signed.abs();
            let weight = c - w0;
            for row in 0..k {
                let s = weight * y[row];
                for (a_rc, y_c) in a[row * k..][..k].iter_mut().zip(y) {
                    *a_rc += s * y_c;
                }
            }
            if signed > 0.0 {
                for (b_r, y_r) in b.iter_mut().zip(y) {
                    *b_r += c * y_r;
                }
            }
        }
        (a, b)
    }

    /// The exact least-squares user vector for someone with `history` against the trained item
    /// factors (`implicit`'s `recalculate_user`). A training user gets (nearly) their training
    /// vector back.
    pub fn fold_in(&self, history: Row<'_>) -> Result<Vec<f32>> {
        check_history(history, self.n_items)?;
        let (mut a, mut b) = self.user_system(history);
        cholesky_solve(&mut a, self.n_factors(), &mut b)?;
        Ok(b)
    }
}

/// `w · XᵀX` for a row-major `n × k` matrix, summed over fixed-size chunks in a fixed order so
/// that the result does not depend on the thread count.
pub fn gram(rows: &[f32], k: usize, w: f32) -> Vec<f32> {
    const CHUNK_ROWS: usize = 4096;
    // Each chunk's lower triangle (half the work of the full product), summed, then mirrored.
    let partials: Vec<Vec<f32>> = rows
        .par_chunks(CHUNK_ROWS * k)
        .map(|chunk| {
            let n = chunk.len() / k;
            let x = MatRef::from_row_major_slice(chunk, n, k);
            let mut g = vec![0f32; k * k];
            faer::linalg::matmul::triangular::matmul(
                MatMut::from_row_major_slice_mut(&mut g, k, k),
                BlockStructure::TriangularLower,
                Accum::Replace,
                x.transpose(),
                BlockStructure::Rectangular,
                x,
                BlockStructure::Rectangular,
                w,
                Par::Seq,
            );
            g
        })
        .collect();
    let mut res = vec![0f32; k * k];
    for partial in partials {
        res.iter_mut().zip(&partial).for_each(|(r, p)| *r += p);
    }
    for row in 0..k {
        for col in row + 1..k {
            res[row * k + col] = res[col * k + row];
        }
    }
    res
}

/// Per-entry signed confidences aligned with a matrix's values.
fn signed_confidences(params: &ImplicitAlsParams, m: &Csr) -> Vec<f32> {
    m.values().iter().map(|&v| params.signed_confidence(v)).collect()
}

/// Everything one half-iteration reads.
struct HalfStep<'a> {
    params: &'a ImplicitAlsParams,
    /// Rows to solve for: this side's matrix (row = solved entity, columns = fixed side).
    matrix: &'a Csr,
    /// Signed confidences aligned with `matrix`'s values.
    confidence: &'a [f32],
    /// The fixed side's factors.
    fixed: &'a [f32],
    /// The same as IEEE half floats when `fixed` is too large to stay in cache
    /// ([`HALF_GATHER_BYTES`]): the conjugate-gradient solver then gathers these, half the
    /// bytes, in each row's first pass.
    fixed_h: Option<&'a [u16]>,
    /// `w₀·YᵀY` of the fixed side.
    dense: Dense<'a>,
    k: usize,
}

/// The fixed side's `G = w₀·YᵀY`, the dense part of every row's system.
#[derive(Clone, Copy)]
enum Dense<'a> {
    /// In full, `k × k` (the Cholesky solver, the loss).
    Gram(&'a [f32]),
    /// Its diagonal, the fixed side being in `G`'s eigenbasis (the conjugate-gradient solver).
    Eigenvalues(&'a [f32]),
}

impl<'a> Dense<'a> {
    /// `out = G·v`.
    #[inline(always)]
    fn times<K: Kernels>(self, kern: K, v: &[f32], out: &mut [f32]) {
        match self {
            Dense::Gram(gram) => symmetric_times(kern, gram, v, out),
            Dense::Eigenvalues(values) => {
                out.iter_mut().zip(values.iter().zip(v)).for_each(|(o, (l, v))| *o = l * v);
            }
        }
    }

    /// `G` in full, which the Cholesky solver reads (`fit` gives it its half-steps so).
    fn full(self) -> &'a [f32] {
        match self {
            Dense::Gram(gram) => gram,
            Dense::Eigenvalues(_) => unreachable!("the Cholesky solver is given the full Gram matrix"),
        }
    }
}

/// Rows solved per parallel task: enough to amortise dispatch, few enough to balance.
const ROWS_PER_TASK: usize = 32;

/// Most entries one parallel task of a half-step takes (a row with more is a task alone).
const TASK_ENTRIES: usize = 1 << 15;

/// Most bytes of a row's gathered fixed-side vectors the conjugate-gradient solver keeps as f32
/// from its first pass for the later steps, which read them in order from the core's L2 cache
/// without converting half floats again. A longer row keeps its other vectors as gathered (half
/// floats when the fixed side is), also in order, so no step gathers at random again. (synth
/// 1.0, 256 factors, s/iteration, everything kept as gathered against 512 KiB in f32 first:
/// 2.27 / 2.16 against 2.06 / 2.04; 64 KiB to 256 KiB measured within this machine's noise.)
const CG_KEPT_BYTES: usize = 512 * 1024;

/// Above this many bytes of fixed-side factors (f32), the conjugate-gradient steps gather
/// their half-float copy: such a side no longer stays in a core's share of the last-level cache,
/// so each gathered row costs memory bandwidth, and half floats halve it (measured: synth 1.0 at
/// 128 factors 1.92 s/iteration against 2.96). Below it the rows are cache hits and the
/// conversions would only add work (ml-latest-small: up to 1.75× slower in half floats).
const HALF_GATHER_BYTES: usize = 16 << 20;

/// Entries the Cholesky solver gathers for one triangular GEMM update of its system.
const GATHER_ROWS: usize = 64;

/// One thread's buffers for [`HalfStep::solve_row_cholesky`] on `k` factors: the system and
/// the gathered entries, and the factorisation's scratch.
struct CholeskyScratch {
    /// The `k × k` system, then `GATHER_ROWS` gathered vectors and as many weighted ones.
    system: Vec<f32>,
    factor: faer::dyn_stack::MemBuffer,
}

impl CholeskyScratch {
    fn new(k: usize) -> Self {
        Self {
            system: vec![0f32; k * k + 2 * GATHER_ROWS * k],
            factor: crate::linalg::blocked_cholesky_scratch(k),
        }
    }
}

impl HalfStep<'_> {
    fn solve_all(&self, solve: &mut [f32]) -> Result<()> {
        let k = self.k;
        match self.params.solver {
            Solver::ConjugateGradient => {
                match self.fixed_h {
                    Some(fixed) => self.solve_all_cg(fixed, solve),
                    None => self.solve_all_cg(self.fixed, solve),
                }
                Ok(())
            }
            Solver::Cholesky => {
                // With one λ for every row, (w₀YᵀY + λI)⁻¹ is shared, and rows with few entries
                // are solved exactly through the Woodbury identity in O(n·k²) instead of O(k³).
                let inverse = (self.params.regularization_exponent == 0.0)
                    .then(|| shifted_inverse(self.dense.full(), self.params.regularization, k))
                    .transpose()?;
                self.tasks(solve).try_for_each_init(
                    || (CholeskyScratch::new(k), WoodburyScratch::default()),
                    |(scratch, woodbury), (first, rows)| {
                        with_kernels!(|kern| {
                            for (offset, x) in rows.chunks_exact_mut(k).enumerate() {
                                let row = first + offset;
                                if !self.has_target(row) {
                                    x.fill(0.0);
                                    continue;
                                }
                                let done = match &inverse {
                                    Some(m) => self.solve_row_woodbury(kern, row, x, m, woodbury),
                                    None => false,
                                };
                                if !done {
                                    self.solve_row_cholesky(kern, row, x, scratch)?;
                                }
                            }
                            Ok(())
                        })
                    },
                )
            }
        }
    }

    /// The conjugate-gradient half-step, the fixed side's vectors gathered from `fixed` (its
    /// f32 factors or their half floats).
    fn solve_all_cg<E: Element>(&self, fixed: &[E], solve: &mut [f32]) {
        let k = self.k;
        self.tasks(solve).for_each_init(CgScratch::default, |scratch, (first, rows)| {
            with_kernels!(|kern| {
                for (offset, x) in rows.chunks_exact_mut(k).enumerate() {
                    let row = first + offset;
                    // A row without a positive entry has b = 0 and so the exact solution x = 0:
                    // it is set, not iterated towards (as in `implicit`).
                    match self.has_target(row) {
                        true => self.solve_row_cg(kern, fixed, row, x, scratch),
                        false => x.fill(0.0),
                    }
                }
            })
        });
    }

    /// `out += Σₑ coef(signed cₑ, yₑ·v) · yₑ` over a row's entries `e`, four at a time, with
    /// `y(e)` the fixed-side vector of entry `e` and `confidence[e]` its signed confidence.
    #[inline(always)]
    fn sparse_times<'y, K: Kernels, E: Element + 'y>(
        kern: K,
        y: impl Fn(usize) -> &'y [E],
        confidence: &[f32],
        v: &[f32],
        out: &mut [f32],
        coef: impl Fn(f32, f32) -> f32,
    ) {
        let done = confidence.len() / 4 * 4;
        for (quad, conf) in confidence.chunks_exact(4).enumerate() {
            let e = 4 * quad;
            let ys = [y(e), y(e + 1), y(e + 2), y(e + 3)];
            let d = E::dot4(kern, ys, v);
            E::axpy4(
                kern,
                [coef(conf[0], d[0]), coef(conf[1], d[1]), coef(conf[2], d[2]), coef(conf[3], d[3])],
                ys,
                out,
            );
        }
        for (e, &signed) in confidence.iter().enumerate().skip(done) {
            let y = y(e);
            E::axpy(kern, coef(signed, E::dot(kern, y, v)), y, out);
        }
    }

    /// The first pass of a row: [`Self::sparse_times`] over the entries `indices`, whose
    /// vectors it gathers from `fixed` (asking for the next quad's rows while one computes: they
    /// come in no order the hardware can predict) and keeps them, in order, for the later
    /// steps: as f32 in `kept`, as many as it has room for (`kept.len() / k`, from the first),
    /// and the others as gathered in `rest_kept`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn gather_times<K: Kernels, E: Element>(
        &self,
        kern: K,
        fixed: &[E],
        (indices, confidence): (&[u32], &[f32]),
        (kept, rest_kept): (&mut [f32], &mut [E]),
        v: &[f32],
        out: &mut [f32],
        coef: impl Fn(f32, f32) -> f32,
    ) {
        let k = self.k;
        let source = |e: usize| {
            if e.is_multiple_of(4) {
                let next = indices.iter().skip(e + 4).take(4);
                next.for_each(|&col| prefetch_lines(&fixed[col as usize * k..][..k]));
            }
            &fixed[indices[e] as usize * k..][..k]
        };
        let n_kept = kept.len() / k;
        let (kept_conf, rest_conf) = confidence.split_at(n_kept);
        let widen = |e: usize, row: &mut [f32]| E::widen(kern, source(e), row);
        Self::keep_times(kern, k, kept, kept_conf, widen, v, out, &coef);
        let copy = |e: usize, row: &mut [E]| row.copy_from_slice(source(n_kept + e));
        Self::keep_times(kern, k, rest_kept, rest_conf, copy, v, out, &coef);
    }

    /// [`Self::sparse_times`] over entries whose vectors `keep(e, row)` writes into `kept`
    /// (`k` values each), four at a time: each quad is kept, then its terms added while it is
    /// hot.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn keep_times<K: Kernels, T: Element>(
        kern: K,
        k: usize,
        kept: &mut [T],
        confidence: &[f32],
        keep: impl Fn(usize, &mut [T]),
        v: &[f32],
        out: &mut [f32],
        coef: impl Fn(f32, f32) -> f32,
    ) {
        for (quad, (rows, conf)) in kept.chunks_mut(4 * k).zip(confidence.chunks(4)).enumerate() {
            for (r, row) in rows.chunks_exact_mut(k).enumerate() {
                keep(4 * quad + r, row);
            }
            let rows = &*rows;
            Self::sparse_times(kern, |e| &rows[e * k..][..k], conf, v, out, &coef);
        }
    }

    /// The parallel tasks of a half-step: consecutive rows, at most [`ROWS_PER_TASK`] of them
    /// and at most [`TASK_ENTRIES`] entries (a longer row alone), as `(first row, their
    /// vectors)`, each a rayon job of its own (`with_max_len(1)`). Bounding the entries keeps
    /// one task from holding the most popular items together; one job per task keeps rayon's
    /// adaptive splitting from leaving the first quarter of the rows (the most popular items,
    /// numbered first) unsplit on one thread, as it did while the other core idled through
    /// ~40 % of the item half on the synthetic set. Tasks depend only on the matrix, so the
    /// result does not depend on the thread count.
    fn tasks<'s>(&self, solve: &'s mut [f32]) -> impl IndexedParallelIterator<Item = (usize, &'s mut [f32])> {
        let (k, indptr) = (self.k, self.matrix.indptr());
        let mut tasks = Vec::with_capacity(solve.len() / k / ROWS_PER_TASK + 1);
        let (mut rest, mut first) = (solve, 0);
        while !rest.is_empty() {
            let n_rows = rest.len() / k;
            let mut end = first + 1;
            while end - first < ROWS_PER_TASK
                && end < first + n_rows
                && indptr[end + 1] - indptr[first] <= TASK_ENTRIES
            {
                end += 1;
            }
            let (task, after) = rest.split_at_mut((end - first) * k);
            tasks.push((first, task));
            (rest, first) = (after, end);
        }
        tasks.into_par_iter().with_max_len(1)
    }

    /// Whether `row` has an entry with a positive preference: without one, its right-hand side
    /// `b = Σᵢ cᵢpᵢ·yᵢ` is zero and so is its exact solution.
    fn has_target(&self, row: usize) -> bool {
        let range = self.matrix.indptr()[row]..self.matrix.indptr()[row + 1];
        self.confidence[range].iter().any(|&signed| signed > 0.0)
    }

    /// Conjugate-gradient steps for `row`, whose vector `x` is warm-started from the previous
    /// iteration, the fixed side being in its Gram matrix's eigenbasis or not ([`Dense`]). The
    /// first pass (the residual) gathers the row's vectors from `fixed` and keeps them for the
    /// steps (the first [`CG_KEPT_BYTES`] as f32, the others as gathered), which read them in
    /// order.
    #[inline(always)]
    fn solve_row_cg<K: Kernels, E: Element>(
        &self,
        kern: K,
        fixed: &[E],
        row: usize,
        x: &mut [f32],
        scratch: &mut CgScratch<E>,
    ) {
        let k = self.k;
        let w0 = self.params.unobserved_weight;
        let CgScratch { r, p, ap, kept, rest } = scratch;
        for buffer in [&mut *r, &mut *p, &mut *ap] {
            buffer.resize(k, 0.0);
        }
        let start = self.matrix.indptr()[row];
        let entries = self.matrix.row(row);
        let confidence = &self.confidence[start..start + entries.len()];
        let reg = self.params.row_regularization(entries.len(), self.matrix.n_cols());
        let n_kept = entries.len().min(CG_KEPT_BYTES / std::mem::size_of::<f32>() / k);
        kept.resize(kept.len().max(n_kept * k), 0.0);
        let kept = &mut kept[..n_kept * k];
        rest.resize(rest.len().max((entries.len() - n_kept) * k), E::default());
        let rest = &mut rest[..(entries.len() - n_kept) * k];
        // r = b − A·x, p = r.
        self.dense.times(kern, x, r);
        r.iter_mut().zip(x.iter()).for_each(|(r, x)| *r = -(*r + reg * x));
        self.gather_times(kern, fixed, (entries.indices, confidence), (kept, rest), x, r, |signed, dot| {
            let c = signed.abs();
            let target = if signed > 0.0 { c } else { 0.0 };
            target - (c - w0) * dot
        });
        p.copy_from_slice(r);
        let mut rs = kern.dot(r, r);
        let (kept_conf, rest_conf) = confidence.split_at(n_kept);
        let (kept, rest) = (&*kept, &*rest);
        for _ in 0..self.params.cg_steps {
            if rs < 1e-20 {
                break;
            }
            // ap = A·p.
            self.dense.times(kern, p, ap);
            ap.iter_mut().zip(p.iter()).for_each(|(a, p)| *a += reg * p);
            let coef = |signed: f32, dot| (signed.abs() - w0) * dot;
            Self::sparse_times(kern, |e| &kept[e * k..][..k], kept_conf, p, ap, coef);
            Self::sparse_times(kern, |e| &rest[e * k..][..k], rest_conf, p, ap, coef);
            let step = rs / kern.dot(p, ap);
            kern.axpy(step, p, x);
            kern.axpy(-step, ap, r);
            let rs_new = kern.dot(r, r);
            let beta = rs_new / rs;
            for (p_d, r_d) in p.iter_mut().zip(r.iter()) {
                *p_d = r_d + beta * *p_d;
            }
            rs = rs_new;
        }
    }

    /// Exact solve of a row with few entries through the Woodbury identity, given
    /// `m = (w₀YᵀY + λI)⁻¹`: with `U` the row's factor columns and `D = diag(cᵢ − w₀)`,
    /// `A⁻¹ = M − MU (D⁻¹ + UᵀMU)⁻¹ UᵀM`. Costs O(n·k² + n²·k) instead of O(k³). Returns false
    /// (and leaves `x` alone) when the row is too long for that to pay or has a weight ≤ 0.
    #[inline(always)]
    fn solve_row_woodbury<K: Kernels>(
        &self,
        kern: K,
        row: usize,
        x: &mut [f32],
        m: &[f32],
        scratch: &mut WoodburyScratch,
    ) -> bool {
        let k = self.k;
        let start = self.matrix.indptr()[row];
        let entries = self.matrix.row(row);
        let confidence = &self.confidence[start..start + entries.len()];
        let w0 = self.params.unobserved_weight;
        if 4 * entries.len() > k || confidence.iter().any(|c| c.abs() - w0 < 0.0) {
            return false;
        }
        let y = |col: u32| &self.fixed[col as usize * k..][..k];
        // b = Σ cᵢpᵢyᵢ, z = M·b.
        let WoodburyScratch { b, used, v, s } = scratch;
        b.clear();
        b.resize(k, 0.0);
        used.clear();
        for (&col, &signed) in entries.indices.iter().zip(confidence) {
            if signed > 0.0 {
                kern.axpy(signed, y(col), b);
            }
            let weight = signed.abs() - w0;
            if weight > 0.0 {
                used.push((col, weight));
            }
        }
        symmetric_times(kern, m, b, x);
        let n = used.len();
        if n == 0 {
            return true;
        }
        // V = M·U (row i: M yᵢ); S = D⁻¹ + UᵀV (lower); rhs = Uᵀz.
        v.resize(n * k, 0.0);
        for (i, &(col, _)) in used.iter().enumerate() {
            symmetric_times(kern, m, y(col), &mut v[i * k..][..k]);
        }
        s.resize(n * n + n, 0.0);
        let (s_mat, rhs) = s.split_at_mut(n * n);
        for (i, &(col_i, weight)) in used.iter().enumerate() {
            let y_i = y(col_i);
            for j in 0..=i {
                s_mat[i * n + j] = kern.dot(y_i, &v[j * k..][..k]);
            }
            s_mat[i * n + i] += 1.0 / weight;
            rhs[i] = kern.dot(y_i, x);
        }
        if crate::linalg::cholesky_solve_lower(kern, s_mat, n, rhs).is_err() {
            return false;
        }
        // x = z − V·w.
        for (i, &w) in rhs.iter().enumerate() {
            kern.axpy(-w, &v[i * k..][..k], x);
        }
        true
    }

    #[inline(always)]
    fn solve_row_cholesky<K: Kernels>(
        &self,
        kern: K,
        row: usize,
        x: &mut [f32],
        scratch: &mut CholeskyScratch,
    ) -> Result<()> {
        let k = self.k;
        let CholeskyScratch { system, factor } = scratch;
        let (a, gathered) = system.split_at_mut(k * k);
        let (ys, weighted) = gathered.split_at_mut(GATHER_ROWS * k);
        let start = self.matrix.indptr()[row];
        let entries = self.matrix.row(row);
        let confidence = &self.confidence[start..start + entries.len()];
        let w0 = self.params.unobserved_weight;

        // A = w₀YᵀY + λI + Σᵢ (cᵢ − w₀)·yᵢyᵢᵀ (the lower triangle, column-major), b = Σᵢ cᵢpᵢ·yᵢ.
        a.copy_from_slice(self.dense.full());
        let reg = self.params.row_regularization(entries.len(), self.matrix.n_cols());
        for d in 0..k {
            a[d * k + d] += reg;
        }
        let b = x;
        b.fill(0.0);
        let y = |col: u32| &self.fixed[col as usize * k..][..k];
        // The sum over the entries, GATHER_ROWS at a time: their rows Y and (cᵢ − w₀)·yᵢ gathered
        // side by side, then the lower triangle of A += (DY)ᵀ·Y as one triangular GEMM, which
        // runs near the machine's GEMM rate where row-by-row rank-one updates are bound by
        // loading and storing A.
        let rows = entries.indices.chunks(GATHER_ROWS).zip(confidence.chunks(GATHER_ROWS));
        for (chunk, (cols, conf)) in rows.enumerate() {
            if let Some(next) = entries.indices.get((chunk + 1) * GATHER_ROWS..) {
                next.iter().take(8).for_each(|&col| kern.prefetch(y(col)));
            }
            let n = cols.len();
            let (ys, weighted) = (&mut ys[..n * k], &mut weighted[..n * k]);
            let pairs = ys.chunks_exact_mut(k).zip(weighted.chunks_exact_mut(k));
            for ((&col, &signed), (row_y, row_w)) in cols.iter().zip(conf).zip(pairs) {
                let y = y(col);
                row_y.copy_from_slice(y);
                let w = signed.abs() - w0;
                row_w.iter_mut().zip(y).for_each(|(o, &v)| *o = w * v);
                if signed > 0.0 {
                    kern.axpy(signed, y, b);
                }
            }
            faer::linalg::matmul::triangular::matmul(
                MatMut::from_column_major_slice_mut(a, k, k),
                BlockStructure::TriangularLower,
                Accum::Add,
                MatRef::from_row_major_slice(weighted, n, k).transpose(),
                BlockStructure::Rectangular,
                MatRef::from_row_major_slice(ys, n, k),
                BlockStructure::Rectangular,
                1.0,
                Par::Seq,
            );
        }
        crate::linalg::cholesky_solve_blocked(a, k, b, factor).map_err(|pivot| {
            EngineError::Numerical(format!("row {row}: system is not positive definite (pivot {pivot})"))
        })
    }

    /// This side's part of the loss: Σ_rows [xᵀGx + λ|x|² + Σᵢ (cᵢ(pᵢ − sᵢ)² − w₀sᵢ²)].
    fn loss(&self, solved: &[f32]) -> f64 {
        let k = self.k;
        let w0 = self.params.unobserved_weight;
        solved
            .par_chunks(ROWS_PER_TASK * k)
            .enumerate()
            .map(|(task, rows)| {
                let mut gx = vec![0f32; k];
                let mut total = 0f64;
                for (offset, x) in rows.chunks_exact(k).enumerate() {
                    with_kernels!(|kern| self.dense.times(kern, x, &mut gx));
                    let row = task * ROWS_PER_TASK + offset;
                    let entries = self.matrix.row(row);
                    let start = self.matrix.indptr()[row];
                    let reg = self.params.row_regularization(entries.len(), self.matrix.n_cols());
                    let xx = crate::simd::dot(x, x) as f64;
                    total += crate::simd::dot(&gx, x) as f64 + reg as f64 * xx;
                    for (&col, &signed) in entries.indices.iter().zip(&self.confidence[start..]) {
                        let s = crate::simd::dot(&self.fixed[col as usize * k..][..k], x) as f64;
                        let c = signed.abs() as f64;
                        let p = if signed > 0.0 { 1.0 } else { 0.0 };
                        total += c * (p - s) * (p - s) - w0 as f64 * s * s;
                    }
                }
                total
            })
            .collect::<Vec<f64>>()
            .iter()
            .sum()
    }
}

/// One thread's buffers for [`HalfStep::solve_row_cg`]: the residual, the search direction,
/// `A·p`, and the row's kept vectors (as f32, then as gathered: `E`, f32 or half-float bits).
#[derive(Default)]
struct CgScratch<E> {
    r: Vec<f32>,
    p: Vec<f32>,
    ap: Vec<f32>,
    kept: Vec<f32>,
    rest: Vec<E>,
}

/// The eigenbasis of a Gram matrix `G` (`k × k`, symmetric positive semi-definite): `Q`
/// (row-major, one eigenvector per column, so `x·Q` rotates a row vector into the basis) and
/// `G`'s eigenvalues, `G = Q·diag(λ)·Qᵀ`. Computed on the calling thread, in f32 (at 256
/// factors 3.6 ms against 5.7 in f64; `Q` is orthogonal to ~1e-5, far inside what a few CG
/// steps leave); rounding's negative eigenvalues are clamped to 0.
pub fn eigenbasis(gram: &[f32], k: usize) -> Result<(Vec<f32>, Vec<f32>)> {
    use faer::dyn_stack::{MemBuffer, MemStack};
    use faer::linalg::evd;
    let g = MatRef::from_row_major_slice(gram, k, k);
    let (mut u, mut values) = (faer::Mat::<f32>::zeros(k, k), faer::diag::Diag::<f32>::zeros(k));
    let scratch =
        evd::self_adjoint_evd_scratch::<f32>(k, evd::ComputeEigenvectors::Yes, Par::Seq, Default::default());
    evd::self_adjoint_evd(
        g,
        values.as_mut(),
        Some(u.as_mut()),
        Par::Seq,
        MemStack::new(&mut MemBuffer::new(scratch)),
        Default::default(),
    )
    .map_err(|e| EngineError::Numerical(format!("eigendecomposition of YᵀY: {e:?}")))?;
    let q = (0..k * k).map(|at| u[(at / k, at % k)]).collect();
    let values = (0..k).map(|d| values[d].max(0.0)).collect();
    Ok((q, values))
}

/// `out = A·B` for row-major `m × k` and `k × n` matrices (`out` row-major `m × n`) with the
/// current rayon pool's threads: the plain GEMM `cinerec bench als` measures the machine with.
pub fn gemm(a: &[f32], b: &[f32], out: &mut [f32], m: usize, k: usize, n: usize) {
    row_major_matmul(a, b, out, (m, k, n), Par::rayon(rayon::current_num_threads()));
}

/// `out = A·B` for row-major `m × k` and `k × n` matrices, with `par`.
fn row_major_matmul(a: &[f32], b: &[f32], out: &mut [f32], (m, k, n): (usize, usize, usize), par: Par) {
    faer::linalg::matmul::matmul(
        MatMut::from_row_major_slice_mut(out, m, n),
        Accum::Replace,
        MatRef::from_row_major_slice(a, m, k),
        MatRef::from_row_major_slice(b, k, n),
        1.0,
        par,
    );
}

/// `rows ← rows·Q` for `n × k` row-major `rows` and a `k × k` row-major `q`: one GEMM per
/// fixed-size chunk of rows, the chunks spread over the current rayon pool (the result does not
/// depend on the thread count). Rows of zeros (a row without a positive, solved to 0) stay as
/// they are and cost no product.
pub fn rotate(rows: &mut [f32], q: &[f32], k: usize) {
    const CHUNK_ROWS: usize = 256;
    rows.par_chunks_mut(CHUNK_ROWS * k).for_each_init(
        || (Vec::new(), Vec::new(), Vec::new()),
        |(at, copy, rotated), chunk| {
            at.clear();
            copy.clear();
            for (row, x) in chunk.chunks_exact(k).enumerate() {
                if x.iter().any(|&v| v != 0.0) {
                    at.push(row);
                    copy.extend_from_slice(x);
                }
            }
            rotated.resize(copy.len(), 0.0);
            row_major_matmul(copy, q, rotated, (at.len(), k, k), Par::Seq);
            for (&row, x) in at.iter().zip(rotated.chunks_exact(k)) {
                chunk[row * k..][..k].copy_from_slice(x);
            }
        },
    );
}

/// Reusable buffers of the Woodbury row solve.
#[derive(Default)]
struct WoodburyScratch {
    b: Vec<f32>,
    used: Vec<(u32, f32)>,
    v: Vec<f32>,
    s: Vec<f32>,
}

/// `out = M·v` for a dense symmetric `k × k` matrix stored in full.
#[inline(always)]
fn symmetric_times<K: Kernels>(kern: K, m: &[f32], v: &[f32], out: &mut [f32]) {
    let k = v.len();
    let mut row = 0;
    while row + 4 <= k {
        let r = |i: usize| &m[(row + i) * k..][..k];
        out[row..row + 4].copy_from_slice(&kern.dot4([r(0), r(1), r(2), r(3)], v));
        row += 4;
    }
    for r in row..k {
        out[r] = kern.dot(&m[r * k..][..k], v);
    }
}

/// `(G + λI)⁻¹` in full (symmetric), column by column through one `f64` Cholesky factorisation.
fn shifted_inverse(gram: &[f32], reg: f32, k: usize) -> Result<Vec<f32>> {
    let mut a: Vec<f64> = gram.iter().map(|&g| g as f64).collect();
    for d in 0..k {
        a[d * k + d] += reg as f64;
    }
    // Lower Cholesky in place (row-major, j ≤ i).
    for i in 0..k {
        for j in 0..=i {
            let mut sum = a[i * k + j];
            for p in 0..j {
                sum -= a[i * k + p] * a[j * k + p];
            }
            if i == j {
                if !(sum > 0.0 && sum.is_finite()) {
                    return Err(EngineError::Numerical(format!(
                        "YᵀY + λI is not positive definite (pivot {i})"
                    )));
                }
                a[i * k + i] = sum.sqrt();
            } else {
                a[i * k + j] = sum / a[j * k + j];
            }
        }
    }
    let mut res = vec![0f32; k * k];
    let mut col = vec![0f64; k];
    for c in 0..k {
        col.fill(0.0);
        col[c] = 1.0;
        for i in 0..k {
            let sum: f64 = col[i] - (0..i).map(|p| a[i * k + p] * col[p]).sum::<f64>();
            col[i] = sum / a[i * k + i];
        }
        for i in (0..k).rev() {
            let sum: f64 = col[i] - (i + 1..k).map(|p| a[p * k + i] * col[p]).sum::<f64>();
            col[i] = sum / a[i * k + i];
        }
        for (r, v) in col.iter().enumerate() {
            res[r * k + c] = *v as f32;
        }
    }
    Ok(res)
}

/// Random factors in `[0, scale)`, one independent stream per row (deterministic in parallel).
fn init_factors(n_rows: usize, k: usize, scale: f32, seed: u64, side: u64) -> Vec<f32> {
    let mut res = vec![0f32; n_rows * k];
    res.par_chunks_mut(k).enumerate().for_each(|(row, x)| {
        let mut rng = Rng::for_stream(seed, (side << 40) ^ row as u64);
        x.iter_mut().for_each(|v| *v = rng.next_f32() * scale);
    });
    res
}

/// Trains implicit ALS on `data` (values are interaction strengths; negative = disliked).
pub fn fit(
    params: &Valid<ImplicitAlsParams>,
    data: &Interactions,
    ctx: &FitContext<'_>,
) -> Result<ImplicitAlsModel> {
    if data.nnz() == 0 {
        return Err(EngineError::Empty("training interactions"));
    }
    let started = Instant::now();
    ctx.install(|| {
        let k = params.factors;
        let (n_users, n_items) = (data.n_users(), data.n_items());
        let user_conf = signed_confidences(params, data.user_items());
        let item_conf = signed_confidences(params, data.item_users());
        let mut user_factors = init_factors(n_users, k, params.init_scale, params.seed, 0);
        let mut item_factors = init_factors(n_items, k, params.init_scale, params.seed, 1);
        // One half-step: solve every row of `matrix` against the fixed side's factors (for CG,
        // both sides rotated first into the eigenbasis of the fixed side's Gram matrix).
        let solve_side = |matrix: &Csr, confidence: &[f32], fixed: &mut [f32], solve: &mut [f32]| {
            let gram = gram(fixed, k, params.unobserved_weight);
            match params.solver {
                Solver::ConjugateGradient => {
                    let (q, values) = eigenbasis(&gram, k)?;
                    rotate(fixed, &q, k);
                    rotate(solve, &q, k);
                    let fixed = &*fixed;
                    let fixed_h = (std::mem::size_of_val(fixed) > HALF_GATHER_BYTES)
                        .then(|| crate::simd::to_f16(fixed));
                    let dense = Dense::Eigenvalues(&values);
                    HalfStep { params, matrix, confidence, fixed, fixed_h: fixed_h.as_deref(), dense, k }
                        .solve_all(solve)
                }
                Solver::Cholesky => HalfStep {
                    params,
                    matrix,
                    confidence,
                    fixed,
                    fixed_h: None,
                    dense: Dense::Gram(&gram),
                    k,
                }
                .solve_all(solve),
            }
        };
        for iteration in 0..params.iterations {
            ctx.check_cancel(iteration)?;
            solve_side(data.user_items(), &user_conf, &mut item_factors, &mut user_factors)?;
            ctx.check_cancel(iteration)?;
            solve_side(data.item_users(), &item_conf, &mut user_factors, &mut item_factors)?;
            let loss = (params.compute_loss && ctx.wants_progress()).then(|| {
                // The user side's sum covers every cell once; add the item rows' λ|y|² terms.
                let item_reg: f64 = item_factors
                    .chunks_exact(k)
                    .enumerate()
                    .map(|(i, y)| {
                        let reg = params.row_regularization(data.item_users().row_len(i), n_users) as f64;
                        reg * y.iter().map(|v| (*v as f64) * (*v as f64)).sum::<f64>()
                    })
                    .sum();
                let item_gram = gram(&item_factors, k, params.unobserved_weight);
                let users = HalfStep {
                    params,
                    matrix: data.user_items(),
                    confidence: &user_conf,
                    fixed: &item_factors,
                    fixed_h: None,
                    dense: Dense::Gram(&item_gram),
                    k,
                };
                (users.loss(&user_factors) + item_reg) / (n_users as f64 * n_items as f64)
            });
            ctx.report(started, iteration + 1, params.iterations, loss);
        }
        ImplicitAlsModel::from_factors(params, n_users, n_items, user_factors, item_factors)
    })
}

impl Recommender for ImplicitAlsModel {
    fn kind(&self) -> &'static str {
        "implicit-als"
    }

    fn n_users(&self) -> usize {
        self.n_users
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    fn score_user(&self, user_idx: u32, _history: Row<'_>, scores: &mut [f32]) -> Result<()> {
        check_scores_len(scores, self.n_items)?;
        matvec_rows(&self.item_factors, self.user_vector(user_idx)?, scores);
        Ok(())
    }

    fn score_history(&self, history: Row<'_>, scores: &mut [f32]) -> Result<()> {
        check_scores_len(scores, self.n_items)?;
        let x = self.fold_in(history)?;
        matvec_rows(&self.item_factors, &x, scores);
        Ok(())
    }

    fn item_similarities(&self, item_idx: u32, out: &mut [f32]) -> Result<()> {
        self.matrices().item_similarities(item_idx, out)
    }

    fn user_similarities(&self, user_idx: u32, out: &mut [f32]) -> Result<()> {
        self.matrices().user_similarities(user_idx, out)
    }

    fn explain(&self, _user_idx: Option<u32>, history: Row<'_>, item_idx: u32) -> Result<Explanation> {
        check_history(history, self.n_items)?;
        let y = self.item_vector(item_idx)?;
        // score = yᵀ A⁻¹ b = Σⱼ cⱼpⱼ · (A⁻¹y)·yⱼ : one solve, then one dot per history item.
        let (mut a, _) = self.user_system(history);
        let mut w = y.to_vec();
        cholesky_solve(&mut a, self.n_factors(), &mut w)?;
        let k = self.n_factors();
        let mut contributions: Vec<(u32, f32)> = history
            .iter()
            .map(|(item, value)| {
                let signed = self.params.signed_confidence(value);
                let weight = if signed > 0.0 { signed } else { 0.0 };
                (item, weight * crate::simd::dot(&w, &self.item_factors[item as usize * k..][..k]))
            })
            .collect();
        let score = contributions.iter().map(|(_, c)| c).sum();
        contributions.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(Explanation { score, contributions })
    }

    fn factors(&self) -> Option<FactorView<'_>> {
        Some(FactorView::implicit(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interactions::{Duplicates, Interaction};
    use crate::recommend::{
        RecommendOptions, TrainingUsers, explain, recommend, recommend_for_history, similar_items,
    };

    /// Two communities: users 0..10 like items 0..6, users 10..20 like items 6..12, each user
    /// missing one item of their community. Two factors force the model to learn the community
    /// structure rather than memorise each row.
    fn communities() -> Interactions {
        let mut entries = Vec::new();
        for user in 0..20u32 {
            let base = if user < 10 { 0 } else { 6 };
            for item in base..base + 6 {
                if item != base + user % 6 {
                    entries.push(Interaction { user_idx: user, item_idx: item, value: 1.0, timestamp: 0 });
                }
            }
        }
        Interactions::from_entries(20, 12, &entries, Duplicates::Reject).unwrap()
    }

    fn params(solver: Solver) -> Valid<ImplicitAlsParams> {
        ImplicitAlsParams {
            factors: 2,
            iterations: 10,
            solver,
            regularization: 0.1,
            alpha: 5.0,
            ..Default::default()
        }
        .check()
        .unwrap()
    }

    #[test]
    fn both_solvers_recommend_the_missing_community_item() {
        let data = communities();
        for solver in [Solver::ConjugateGradient, Solver::Cholesky] {
            let model = fit(&params(solver), &data, &FitContext::new()).unwrap();
            for user in 0..20u32 {
                let base = if user < 10 { 0 } else { 6 };
                let top = recommend(
                    &model,
                    TrainingUsers::learned_only(data.user_items()),
                    user,
                    &RecommendOptions { n: 1, ..Default::default() },
                )
                .unwrap();
                assert_eq!(top[0].item_idx, base + user % 6, "{solver:?} user {user}");
            }
            let similar = similar_items(&model, 0, 4).unwrap();
            assert!(similar.iter().all(|s| s.item_idx < 6), "{solver:?}: {similar:?}");
        }
    }

    #[test]
    fn woodbury_rows_match_the_cholesky_path() {
        // 16 factors and rows of 1..=4 entries take the Woodbury path; compare with the dense
        // Cholesky path on the same rows.
        let k = 16;
        let mut rng = Rng::new(11);
        let fixed: Vec<f32> = (0..30 * k).map(|_| rng.next_f32() - 0.3).collect();
        let mut entries = Vec::new();
        for user in 0..6u32 {
            for j in 0..=(user % 4) {
                entries.push(Interaction {
                    user_idx: user,
                    item_idx: user * 4 + j,
                    value: 1.0 + j as f32,
                    timestamp: 0,
                });
            }
        }
        let data = Interactions::from_entries(6, 30, &entries, Duplicates::Reject).unwrap();
        let params = ImplicitAlsParams {
            factors: k,
            solver: Solver::Cholesky,
            unobserved_weight: 0.5,
            ..Default::default()
        }
        .check()
        .unwrap();
        let confidence = signed_confidences(&params, data.user_items());
        let gram = gram(&fixed, k, params.unobserved_weight);
        let half = HalfStep {
            dense: Dense::Gram(&gram),
            params: &params,
            matrix: data.user_items(),
            confidence: &confidence,
            fixed: &fixed,
            fixed_h: None,
            k,
        };
        let m = shifted_inverse(&gram, params.regularization, k).unwrap();
        for row in 0..6 {
            let (mut a, mut b) = (vec![0f32; k], vec![0f32; k]);
            let mut scratch = CholeskyScratch::new(k);
            assert!(half.solve_row_woodbury(
                crate::simd::Portable,
                row,
                &mut a,
                &m,
                &mut WoodburyScratch::default()
            ));
            half.solve_row_cholesky(crate::simd::Portable, row, &mut b, &mut scratch).unwrap();
            for (p, q) in a.iter().zip(&b) {
                assert!((p - q).abs() < 1e-4 * (1.0 + q.abs()), "row {row}: {a:?} vs {b:?}");
            }
        }
    }

    /// The row-by-row conjugate gradient the blocked solver replaced, in f64 (the dense part a
    /// matrix-vector product per row; the sparse part over the same half-float vectors): the
    /// reference for the blocked one.
    fn unblocked_cg(half: &HalfStep<'_>, row: usize, x: &mut [f32]) {
        let k = half.k;
        let w0 = half.params.unobserved_weight as f64;
        let entries = half.matrix.row(row);
        let start = half.matrix.indptr()[row];
        let confidence = &half.confidence[start..start + entries.len()];
        let reg = half.params.row_regularization(entries.len(), half.matrix.n_cols()) as f64;
        if !confidence.iter().any(|&c| c > 0.0) {
            // b = 0: the exact solution, which the solver sets instead of iterating.
            x.fill(0.0);
            return;
        }
        // The sparse part reads what the solver gathers: the f32 rows or their half floats.
        let y = |col: u32| -> Vec<f64> {
            let row = col as usize * k..(col as usize + 1) * k;
            match half.fixed_h {
                Some(h) => h[row].iter().map(|&h| crate::simd::f16_to_f32(h) as f64).collect(),
                None => half.fixed[row].iter().map(|&v| v as f64).collect(),
            }
        };
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a * b).sum::<f64>();
        let times = |v: &[f64]| -> Vec<f64> {
            let mut out: Vec<f64> = (0..k)
                .map(|r| (0..k).map(|c| half.dense.full()[r * k + c] as f64 * v[c]).sum::<f64>() + reg * v[r])
                .collect();
            for (&col, &signed) in entries.indices.iter().zip(confidence) {
                let y = y(col);
                let coef = (signed.abs() as f64 - w0) * dot(&y, v);
                out.iter_mut().zip(&y).for_each(|(o, y)| *o += coef * y);
            }
            out
        };
        let mut xv: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let mut r: Vec<f64> = times(&xv).iter().map(|v| -v).collect();
        for (&col, &signed) in entries.indices.iter().zip(confidence) {
            if signed > 0.0 {
                let c = signed.abs() as f64;
                r.iter_mut().zip(y(col)).for_each(|(r, y)| *r += c * y);
            }
        }
        let mut p = r.clone();
        let mut rs = dot(&r, &r);
        for _ in 0..half.params.cg_steps {
            if rs < 1e-20 {
                break;
            }
            let ap = times(&p);
            let step = rs / dot(&p, &ap);
            xv.iter_mut().zip(&p).for_each(|(x, p)| *x += step * p);
            r.iter_mut().zip(&ap).for_each(|(r, a)| *r -= step * a);
            let rs_new = dot(&r, &r);
            p = r.iter().zip(&p).map(|(r, p)| r + rs_new / rs * p).collect();
            rs = rs_new;
        }
        x.iter_mut().zip(xv).for_each(|(x, v)| *x = v as f32);
    }

    #[test]
    fn cg_matches_the_row_by_row_solver_with_the_full_gram_and_in_its_eigenbasis() {
        // Each with the fixed side gathered in f32 and in half floats; at 128 factors one row is
        // longer than the solver keeps as f32 ([`CG_KEPT_BYTES`]), so its last entries are kept
        // as gathered.
        for (k, half_floats) in [(24, false), (24, true), (128, false), (128, true)] {
            for eigenbasis in [false, true] {
                cg_matches_at(k, half_floats, eigenbasis);
            }
        }
    }

    fn cg_matches_at(k: usize, half_floats: bool, in_eigenbasis: bool) {
        // 100 rows (three full tasks and a partial one) of 0..40 entries, some disliked, and
        // row 50 of 1,200, with frequency-scaled λ, warm-started from random vectors as in a
        // later iteration.
        let (n_rows, n_cols) = (100, 1500);
        let mut rng = Rng::new(5);
        let mut fixed: Vec<f32> = (0..n_cols * k).map(|_| (rng.next_f32() - 0.4) * 0.3).collect();
        let mut entries = Vec::new();
        for user in 0..n_rows as u32 {
            let items: Vec<u32> = match user {
                50 => (0..1200).map(|j| j + 7).collect(),
                _ => (0..(user * 7) % 41).map(|j| (user * 13 + j * 5) % 200).collect(),
            };
            for (j, item_idx) in items.into_iter().enumerate() {
                let value = if j % 9 == 4 { -1.0 } else { 1.0 + (j % 3) as f32 };
                entries.push(Interaction { user_idx: user, item_idx, value, timestamp: 0 });
            }
        }
        let data = Interactions::from_entries(n_rows, n_cols, &entries, Duplicates::KeepLatest).unwrap();
        assert!(data.user_items().row_len(50) * k * 4 > CG_KEPT_BYTES || k < 128);
        let params = ImplicitAlsParams {
            factors: k,
            cg_steps: 4,
            unobserved_weight: 0.3,
            regularization_exponent: 1.0,
            ..Default::default()
        }
        .check()
        .unwrap();
        let confidence = signed_confidences(&params, data.user_items());
        let mut start: Vec<f32> = (0..n_rows * k).map(|_| (rng.next_f32() - 0.5) * 0.1).collect();
        let (q, values) = eigenbasis(&gram(&fixed, k, params.unobserved_weight), k).unwrap();
        if in_eigenbasis {
            rotate(&mut fixed, &q, k);
            rotate(&mut start, &q, k);
        }
        // The reference reads the full Gram matrix of the fixed side as given (in the
        // eigenbasis, diagonal up to rounding); the solver its eigenvalues there.
        let gram = gram(&fixed, k, params.unobserved_weight);
        let fixed_h = half_floats.then(|| crate::simd::to_f16(&fixed));
        let half = |dense| HalfStep {
            params: &params,
            matrix: data.user_items(),
            confidence: &confidence,
            fixed: &fixed,
            fixed_h: fixed_h.as_deref(),
            dense,
            k,
        };
        let mut solved = start.clone();
        half(if in_eigenbasis { Dense::Eigenvalues(&values) } else { Dense::Gram(&gram) })
            .solve_all(&mut solved)
            .unwrap();
        let mut reference = start.clone();
        for (row, x) in reference.chunks_exact_mut(k).enumerate() {
            unblocked_cg(&half(Dense::Gram(&gram)), row, x);
        }
        // Rows 0, 41 and 82 have no entries: set to zero, from a non-zero start.
        for row in [0, 41, 82] {
            assert_eq!(data.user_items().row_len(row), 0);
            assert!(start[row * k..][..k].iter().any(|&v| v != 0.0));
            assert!(solved[row * k..][..k].iter().all(|&v| v == 0.0), "row {row}");
        }
        let scale = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (i, (b, r)) in solved.iter().zip(&reference).enumerate() {
            assert!(
                (b - r).abs() <= 1e-4 * scale,
                "k {k} half {half_floats} eigenbasis {in_eigenbasis} row {} dim {}: solver {b} vs row by row {r}",
                i / k,
                i % k
            );
        }
    }

    #[test]
    fn the_eigenbasis_diagonalises_the_gram_and_rotating_both_sides_keeps_every_score() {
        let k = 48;
        let mut rng = Rng::new(9);
        let mut rows = |n: usize| -> Vec<f32> {
            let mut m: Vec<f32> = (0..n * k).map(|_| rng.next_f32() - 0.4).collect();
            m[3 * k..4 * k].fill(0.0); // a row solved to 0
            m
        };
        let (mut users, mut items) = (rows(30), rows(700));
        let (users_before, items_before) = (users.clone(), items.clone());
        let (q, values) = eigenbasis(&gram(&items, k, 0.5), k).unwrap();
        // Q is orthogonal.
        for (i, j) in (0..k).flat_map(|i| (0..k).map(move |j| (i, j))) {
            let dot: f32 = (0..k).map(|r| q[r * k + i] * q[r * k + j]).sum();
            assert!((dot - if i == j { 1.0 } else { 0.0 }).abs() < 1e-4, "QᵀQ[{i}][{j}] = {dot}");
        }
        rotate(&mut items, &q, k);
        rotate(&mut users, &q, k);
        // The rotated side's Gram matrix is diag(λ), the zero rows stay zero, a rotated row is x·Q.
        let rotated = gram(&items, k, 0.5);
        let largest = values.iter().fold(0f32, |m, &v| m.max(v));
        for (i, j) in (0..k).flat_map(|i| (0..k).map(move |j| (i, j))) {
            let expected = if i == j { values[i] } else { 0.0 };
            assert!((rotated[i * k + j] - expected).abs() < 1e-4 * largest, "G'[{i}][{j}]");
        }
        assert!(items[3 * k..4 * k].iter().chain(&users[3 * k..4 * k]).all(|&v| v == 0.0));
        for c in 0..k {
            let naive: f32 = (0..k).map(|r| items_before[5 * k + r] * q[r * k + c]).sum();
            assert!(
                (items[5 * k + c] - naive).abs() < 1e-5,
                "row 5 dim {c}: {} vs {naive}",
                items[5 * k + c]
            );
        }
        // Every user-item score XYᵀ is unchanged.
        for (u, i) in [(0, 0), (7, 123), (29, 699), (12, 3)] {
            let score = |x: &[f32], y: &[f32]| crate::simd::dot(&x[u * k..][..k], &y[i * k..][..k]);
            let (before, after) = (score(&users_before, &items_before), score(&users, &items));
            assert!((before - after).abs() < 1e-4 * (1.0 + before.abs()), "({u}, {i}): {before} vs {after}");
        }
    }

    #[test]
    fn cg_converges_to_cholesky_with_many_steps() {
        let data = communities();
        let exact = fit(&params(Solver::Cholesky), &data, &FitContext::new()).unwrap();
        let cg = ImplicitAlsParams { cg_steps: 50, ..(*params(Solver::ConjugateGradient)).clone() }
            .check()
            .unwrap();
        let approx = fit(&cg, &data, &FitContext::new()).unwrap();
        let mut a = vec![0f32; 12];
        let mut b = vec![0f32; 12];
        exact.score_user(3, data.user_items().row(3), &mut a).unwrap();
        approx.score_user(3, data.user_items().row(3), &mut b).unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-3, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn fold_in_reproduces_a_training_user_and_explain_sums_to_its_score() {
        let data = communities();
        let model = fit(&params(Solver::Cholesky), &data, &FitContext::new()).unwrap();
        let history = data.user_items().row(4);
        let folded = model.fold_in(history).unwrap();
        // The last half-step solved items, so the user vector is one step stale: compare
        // scores, not vectors, with a tolerance.
        for (a, b) in folded.iter().zip(model.user_vector(4).unwrap()) {
            assert!((a - b).abs() < 0.05, "{folded:?}");
        }
        let options = RecommendOptions { n: 5, exclude_seen: false, ..Default::default() };
        let by_history = recommend_for_history(&model, history, &[], &options).unwrap();
        let trained = recommend(&model, TrainingUsers::learned_only(data.user_items()), 4, &options).unwrap();
        // The same five items, the same best one; near-ties among the seen items may swap.
        let ids = |v: &[crate::ScoredItem]| v.iter().map(|s| s.item_idx).collect::<Vec<_>>();
        let sorted = |mut v: Vec<u32>| {
            v.sort_unstable();
            v
        };
        assert_eq!(sorted(ids(&by_history)), sorted(ids(&trained)), "{by_history:?} vs {trained:?}");
        assert_eq!(by_history[0].item_idx, trained[0].item_idx);
        assert_eq!(by_history[0].item_idx, 4);
        let why = explain(&model, data.user_items(), 4, 4).unwrap();
        let dot = crate::simd::dot(&folded, model.item_vector(4).unwrap());
        assert!((why.score - dot).abs() < 1e-4, "{} vs {dot}", why.score);
        assert_eq!(why.contributions.len(), history.len());
        assert!(why.contributions.windows(2).all(|w| w[0].1 >= w[1].1));
    }

    #[test]
    fn tasks_bound_rows_and_entries_and_cover_every_row() {
        // Row 1 alone exceeds the entry bound; 70 light rows after it.
        let lens: Vec<usize> = [3, TASK_ENTRIES + 5].into_iter().chain(std::iter::repeat_n(2, 70)).collect();
        let n_cols = TASK_ENTRIES + 5;
        let mut indptr = vec![0];
        let mut indices = Vec::new();
        for &len in &lens {
            indices.extend(0..len as u32);
            indptr.push(indices.len());
        }
        let values = vec![1f32; indices.len()];
        let matrix = Csr::from_parts(lens.len(), n_cols, indptr, indices, values.clone()).unwrap();
        let params = params(Solver::ConjugateGradient);
        let half = HalfStep {
            params: &params,
            matrix: &matrix,
            confidence: &values,
            fixed: &[],
            fixed_h: None,
            dense: Dense::Gram(&[]),
            k: 2,
        };
        let mut solve = vec![0f32; lens.len() * 2];
        let tasks: Vec<(usize, usize)> = half.tasks(&mut solve).map(|(f, v)| (f, v.len() / 2)).collect();
        assert_eq!(tasks, [(0, 1), (1, 1), (2, 32), (34, 32), (66, 6)]);
    }

    #[test]
    fn same_seed_is_bit_identical_across_thread_counts() {
        let data = communities();
        for solver in [Solver::ConjugateGradient, Solver::Cholesky] {
            let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
            let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
            let a = fit(&params(solver), &data, &FitContext::new().with_pool(&one)).unwrap();
            let b = fit(&params(solver), &data, &FitContext::new().with_pool(&two)).unwrap();
            assert_eq!(a.user_factors(), b.user_factors());
            assert_eq!(a.item_factors(), b.item_factors());
            let other_seed = ImplicitAlsParams { seed: 7, ..(*params(solver)).clone() }.check().unwrap();
            let c = fit(&other_seed, &data, &FitContext::new()).unwrap();
            assert_ne!(a.user_factors(), c.user_factors());
        }
    }

    #[test]
    fn progress_loss_decreases_and_cancel_stops() {
        let data = communities();
        let losses = std::sync::Mutex::new(Vec::new());
        let callback = |p: &crate::context::Progress| losses.lock().unwrap().push(p.loss.unwrap());
        let p =
            ImplicitAlsParams { compute_loss: true, ..(*params(Solver::Cholesky)).clone() }.check().unwrap();
        fit(&p, &data, &FitContext::new().with_progress(&callback)).unwrap();
        let losses = losses.into_inner().unwrap();
        assert_eq!(losses.len(), 10);
        assert!(losses.windows(2).all(|w| w[1] <= w[0] + 1e-9), "{losses:?}");
        let flag = std::sync::atomic::AtomicBool::new(true);
        let err = fit(&p, &data, &FitContext::new().with_cancel(&flag)).unwrap_err();
        assert_eq!(err, EngineError::Cancelled { completed_iterations: 0 });
    }

    #[test]
    fn invalid_params_and_shapes_are_named() {
        let err = ImplicitAlsParams { factors: 0, ..Default::default() }.check().unwrap_err();
        assert_eq!(err.to_string(), "invalid parameter `factors` = 0: expected an integer in 1..=4096");
        let err = ImplicitAlsParams { alpha: -1.0, ..Default::default() }.check().unwrap_err();
        assert!(err.to_string().contains("`alpha` = -1"), "{err}");
        let valid = ImplicitAlsParams { factors: 2, ..Default::default() }.check().unwrap();
        let err = ImplicitAlsModel::from_factors(&valid, 2, 1, vec![0.0; 4], vec![0.0; 3]).unwrap_err();
        assert_eq!(err, EngineError::Shape { what: "item factors", expected: 2, got: 3 });
        let model = ImplicitAlsModel::from_factors(&valid, 2, 1, vec![0.0; 4], vec![1.0; 2]).unwrap();
        assert_eq!(model.user_vector(2).unwrap_err(), EngineError::UnknownUser { user_idx: 2, n_users: 2 });
        assert!(matches!(
            model.fold_in(Row::new(&[3], &[1.0])),
            Err(EngineError::UnknownItem { item_idx: 3, .. })
        ));
    }
}
