//! Training-speed measurement: seconds per implicit-ALS iteration, taken from the engine's
//! progress callback, as a median over iterations of repeated fits after a warm-up
//! (`cinerec bench als`, and the cinerec side of `cinerec peer compare`).

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
            rows.push(BenchRow {
                factors,
                solver: solver.name(),
                seconds_per_iteration: timing.seconds_per_iteration,
                min_seconds: fold(f64::min, f64::INFINITY),
                max_seconds: fold(f64::max, 0.0),
                iteration_seconds: timing.iteration_seconds,
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
        let mut t = Table::new(&["dataset", "factors", "solver", "s/iter", "min", "max", "threads"]);
        for r in &report.rows {
            t.push(vec![
                report.dataset.clone(),
                r.factors.to_string(),
                r.solver.to_owned(),
                num(Some(r.seconds_per_iteration), 4),
                num(Some(r.min_seconds), 4),
                num(Some(r.max_seconds), 4),
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
