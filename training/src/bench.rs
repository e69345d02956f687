//! Training-speed measurement: seconds per implicit-ALS iteration, taken from the engine's
//! progress callback, as a median over iterations of repeated fits after a warm-up
//! (`cinerec bench als`, and the cinerec side of `cinerec peer compare`), with a roofline: the
//! iteration's counted floating-point operations per second, the rate of its dense part alone
//! (the conjugate-gradient solver's rotation of every row into the fixed side's eigenbasis, a
//! `k × k` product in fixed-size chunks) and the rate of a plain f32 GEMM of the same shape on
//! the same threads, measured in the same run, so every figure says how far it is from what
//! this machine does.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use engine::als::{self, Confidence, ImplicitAlsModel, ImplicitAlsParams};
use engine::{FitContext, Interactions, Params, Progress, Valid};
use indicatif::ProgressBar;
use rayon::ThreadPool;
use serde::Serialize;

use crate::cli::{BenchAlsArgs, Format, SolverArg};
use crate::data;
use crate::error::{Error, Result};
use crate::output::{self, Table, num};

/// A rayon pool of `threads` threads (0 = one per core).
pub fn thread_pool(threads: usize) -> Result<ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("cinerec-{i}"))
        .build()
        .map_err(|source| Error::ThreadPool { threads, source })
}

/// The median of `values` (mean of the middle two for an even count); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 { sorted[mid] } else { (sorted[mid - 1] + sorted[mid]) / 2.0 }
}

/// The outcome of timing repeated fits.
#[derive(Clone, Debug)]
pub struct AlsTiming {
    /// Median seconds per iteration over every timed iteration.
    pub seconds_per_iteration: f64,
    /// Each timed iteration's seconds, fit after fit.
    pub iteration_seconds: Vec<f64>,
    /// Each timed fit's total seconds (including setup outside the iterations).
    pub fit_seconds: Vec<f64>,
    /// The model of the last timed fit.
    pub model: ImplicitAlsModel,
}

/// Fits `params` on `data` in `pool`: one untimed warm-up fit of at most 2 iterations (when
/// `warmup`), then `repeats` timed fits. An iteration's time is the difference of consecutive
/// `Progress::elapsed` values (the first one also covers the fit's setup: confidences and
/// initialisation, O(nnz)). `bar` advances by one per timed iteration.
pub fn time_implicit_als(
    params: &Valid<ImplicitAlsParams>,
    data: &Interactions,
    pool: &ThreadPool,
    repeats: usize,
    warmup: bool,
    bar: &ProgressBar,
) -> Result<AlsTiming> {
    if repeats == 0 {
        return Err(Error::Usage("--repeats must be at least 1".into()));
    }
    if warmup {
        let short =
            ImplicitAlsParams { iterations: params.iterations.min(2), ..(**params).clone() }.check()?;
        als::fit(&short, data, &FitContext::new().with_pool(pool))?;
    }
    let mut iteration_seconds = Vec::with_capacity(repeats * params.iterations);
    let mut fit_seconds = Vec::with_capacity(repeats);
    let mut model = None;
    for _ in 0..repeats {
        let elapsed = Mutex::new(Vec::with_capacity(params.iterations));
        let callback = |p: &Progress| {
            elapsed.lock().expect("progress lock").push(p.elapsed.as_secs_f64());
            bar.inc(1);
        };
        let start = Instant::now();
        model = Some(als::fit(params, data, &FitContext::new().with_pool(pool).with_progress(&callback))?);
        fit_seconds.push(start.elapsed().as_secs_f64());
        let elapsed = elapsed.into_inner().expect("progress lock");
        let mut previous = 0.0;
        for t in elapsed {
            iteration_seconds.push(t - previous);
            previous = t;
        }
    }
    Ok(AlsTiming {
        seconds_per_iteration: median(&iteration_seconds),
        iteration_seconds,
        fit_seconds,
        model: model.expect("repeats >= 1"),
    })
}

/// One configuration's result in `cinerec bench als`.
#[derive(Clone, Debug, Serialize)]
pub struct BenchRow {
    /// Latent factors.
    pub factors: usize,
    /// `cg` or `cholesky`.
    pub solver: &'static str,
    /// Median seconds per iteration.
    pub seconds_per_iteration: f64,
    /// Fastest timed iteration.
    pub min_seconds: f64,
    /// Slowest timed iteration.
    pub max_seconds: f64,
    /// Every timed iteration's seconds.
    pub iteration_seconds: Vec<f64>,
    /// Counted flops of one iteration over its median time, in GFLOP/s (CG: Gram matrices,
    /// dense and sparse products, vector updates; Cholesky: the dense-equivalent count of
    /// building, factoring and solving every row's system, though short rows take the cheaper
    /// Woodbury path).
    pub gflops: f64,
    /// The CG solver's dense part alone (every row rotated into the fixed side's eigenbasis,
    /// as the solver does it), GFLOP/s; CG only.
    pub dense_gflops: Option<f64>,
    /// A plain f32 GEMM of the same shape (`(users + items) × k` times `k × k`) on the same
    /// threads, GFLOP/s: this machine's reference.
    pub gemm_gflops: f64,
}

/// Median seconds of `repeats` runs of `work` (after one untimed run).
fn time_median(repeats: usize, mut work: impl FnMut()) -> f64 {
    work();
    let times: Vec<f64> = (0..repeats)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed().as_secs_f64()
        })
        .collect();
    median(&times)
}

/// Counted flops of one iteration (both half steps) of `params` on a matrix of `n_users` ×
/// `n_items` with `nnz` entries and rows of `row_lens` (both sides').
fn iteration_flops(params: &ImplicitAlsParams, n_users: usize, n_items: usize, nnz: usize) -> f64 {
    let (k, rows, nnz) = (params.factors as f64, (n_users + n_items) as f64, nnz as f64);
    let gram = 2.0 * k * k * rows;
    match params.solver {
        als::Solver::ConjugateGradient => {
            let steps = params.cg_steps as f64;
            // Both sides rotated into the fixed side's eigenbasis at each half-step (2k² per row
            // and side; the k × k eigendecompositions, O(k³), are not counted). Residual and every
            // step: the diagonal dense part, k per row, and 4k per entry (dot + axpy); then two
            // dots, two axpys and the direction update per step.
            gram + 2.0 * 2.0 * k * k * rows
                + (steps + 1.0) * (k * rows + 2.0 * 4.0 * k * nnz)
                + steps * 10.0 * k * rows
        }
        als::Solver::Cholesky => {
            // Per entry a rank-one update of the lower triangle (k² + k) and the right-hand side
            // (2k); per row the factorisation (k³/3) and two triangular solves (2k²).
            gram + 2.0 * nnz * (k * k + 3.0 * k) + rows * (k * k * k / 3.0 + 2.0 * k * k)
        }
    }
}

/// The dense part's and a plain GEMM's GFLOP/s for `model` (whose factors give the shapes), in
/// `pool`.
fn dense_rates(model: &ImplicitAlsModel, pool: &ThreadPool, cg: bool) -> (Option<f64>, f64) {
    let k = model.n_factors();
    let rows: Vec<f32> = [model.user_factors(), model.item_factors()].concat();
    let n = rows.len() / k;
    let gram = pool.install(|| als::gram(model.item_factors(), k, 1.0));
    let flops = 2.0 * (k * k * n) as f64;
    let mut out = vec![0f32; rows.len()];
    let gemm = flops / pool.install(|| time_median(5, || als::gemm(&rows, &gram, &mut out, n, k, k))) / 1e9;
    let dense = cg.then(|| {
        // The rotation skips rows of zeros (rows without a positive): count the others' flops.
        let nonzero = rows.chunks_exact(k).filter(|x| x.iter().any(|&v| v != 0.0)).count();
        let q = als::eigenbasis(&gram, k).map_or(gram.clone(), |(q, _)| q);
        let mut rotated = rows.clone();
        let seconds = pool.install(|| time_median(5, || als::rotate(&mut rotated, &q, k)));
        2.0 * (k * k * nonzero) as f64 / seconds / 1e9
    });
    (dense, gemm)
}

/// The result of `cinerec bench als`.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// Dataset name.
    pub dataset: String,
    /// Users (rows of the training matrix).
    pub n_users: usize,
    /// Items (columns).
    pub n_items: usize,
    /// Positives trained on.
    pub nnz: usize,
    /// Iterations per fit.
    pub iterations: usize,
    /// Timed fits per configuration.
    pub repeats: usize,
    /// Training threads.
    pub threads: usize,
    /// λ.
    pub regularization: f32,
    /// α.
    pub alpha: f32,
    /// One row per (factors, solver).
    pub rows: Vec<BenchRow>,
}

/// Runs `cinerec bench als`: every (factors, solver) pair on the positives of the data.
pub fn bench_als(args: &BenchAlsArgs, data_dir: &Path, progress: bool) -> Result<BenchReport> {
    if args.repeats < 3 {
        return Err(Error::Usage(format!("--repeats {} : at least 3 timed fits are required", args.repeats)));
    }
    if args.factors.is_empty() || args.solver.is_empty() {
        return Err(Error::Usage("--factors and --solver need at least one value each".into()));
    }
    let source = data::source(&args.data, args.seed)?;
    let loaded = data::load(&source, data_dir)?;
    let positives = data::binary_positives(&loaded.log.entries);
    let matrix = data::matrix(loaded.log.n_users(), loaded.log.n_items(), &positives)?;
    let pool = thread_pool(args.threads)?;
    let mut rows = Vec::new();
    for &factors in &args.factors {
        for &solver in &args.solver {
            let params =
                als_params(factors, solver, args.iterations, args.regularization, args.alpha, args.seed)?;
            let label = format!("{} f{factors} {}", loaded.name, solver.name());
            let bar = output::bar(progress, (args.repeats * args.iterations) as u64, label);
            let timing = time_implicit_als(&params, &matrix, &pool, args.repeats, true, &bar)?;
            bar.finish_and_clear();
            let fold = |f: fn(f64, f64) -> f64, init| timing.iteration_seconds.iter().copied().fold(init, f);
            let flops = iteration_flops(&params, matrix.n_users(), matrix.n_items(), matrix.nnz());
            let cg = params.solver == als::Solver::ConjugateGradient;
            let (dense_gflops, gemm_gflops) = dense_rates(&timing.model, &pool, cg);
            rows.push(BenchRow {
                factors,
                solver: solver.name(),
                seconds_per_iteration: timing.seconds_per_iteration,
                min_seconds: fold(f64::min, f64::INFINITY),
                max_seconds: fold(f64::max, 0.0),
                iteration_seconds: timing.iteration_seconds,
                gflops: flops / timing.seconds_per_iteration / 1e9,
                dense_gflops,
                gemm_gflops,
            });
        }
    }
    Ok(BenchReport {
        dataset: loaded.name,
        n_users: matrix.n_users(),
        n_items: matrix.n_items(),
        nnz: matrix.nnz(),
        iterations: args.iterations,
        repeats: args.repeats,
        threads: pool.current_num_threads(),
        regularization: args.regularization,
        alpha: args.alpha,
        rows,
    })
}

/// Implicit-ALS params of the classic model that `implicit` also fits: `c = 1 + α·r`, plain L2
/// (no frequency scaling), unobserved weight 1, uniform `[0, 0.01)` initialisation, 3 CG steps.
/// Every field that enters the objective is set here, not inherited from the engine's defaults.
pub fn als_params(
    factors: usize,
    solver: SolverArg,
    iterations: usize,
    regularization: f32,
    alpha: f32,
    seed: u64,
) -> Result<Valid<ImplicitAlsParams>> {
    Ok(ImplicitAlsParams {
        factors,
        iterations,
        regularization,
        alpha,
        confidence: Confidence::Linear,
        solver: solver.solver(),
        cg_steps: 3,
        unobserved_weight: 1.0,
        regularization_exponent: 0.0,
        init_scale: 0.01,
        seed,
        compute_loss: false,
    }
    .check()?)
}

/// Prints a [`BenchReport`].
pub fn print_bench(out: &mut dyn Write, format: Format, report: &BenchReport) -> Result<()> {
    output::emit(out, format, report, || {
        let mut t = Table::new(&[
            "dataset",
            "factors",
            "solver",
            "s/iter",
            "min",
            "max",
            "GFLOP/s",
            "dense GFLOP/s",
            "GEMM GFLOP/s",
            "dense/GEMM",
            "threads",
        ]);
        for r in &report.rows {
            t.push(vec![
                report.dataset.clone(),
                r.factors.to_string(),
                r.solver.to_owned(),
                num(Some(r.seconds_per_iteration), 4),
                num(Some(r.min_seconds), 4),
                num(Some(r.max_seconds), 4),
                num(Some(r.gflops), 1),
                num(r.dense_gflops, 1),
                num(Some(r.gemm_gflops), 1),
                r.dense_gflops.map_or("-".into(), |d| format!("{:.0} %", 100.0 * d / r.gemm_gflops)),
                report.threads.to_string(),
            ]);
        }
        t
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
