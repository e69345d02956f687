//! Implicit ALS training curves, conjugate gradient against Cholesky: the training loss reported
//! through `FitContext::with_progress` (`compute_loss: true`) and the test nDCG@10 after each of
//! 1..=15 iterations, on ml-100k and ml-latest-small under the PROTOCOLS holdout (ratings ≥ 4,
//! 20 % of each user's positives held out, seed 42), engine defaults otherwise (64 factors,
//! λ 20, α 3, w₀ 0.3, 3 CG steps).
//!
//! Factors after n iterations do not depend on the total asked for (same seed, same updates), so
//! the nDCG point at n comes from a fit with `iterations = n`; the loss curve from one 15-iteration
//! fit.
//!
//! Run (data from `CINEREC_DATA_DIR`, else `../shared/datasets` beside the repository):
//!
//! ```sh
//! cargo run --release -p notebooks-rs --example training_curve
//! ```
//!
//! Prints one line per iteration and writes `notebooks-rs/out/training_curve.svg`.

use std::sync::Mutex;

use anyhow::Result;
use datasets::DatasetName;
use engine::als::{ImplicitAlsParams, Solver, fit};
use engine::{FitContext, Params, Progress};
use notebooks::{Holdout, Panel, SeriesLabelPosition, draw_panels, holdout, ndcg, out_dir};

const ITERATIONS: usize = 15;

/// `(x, y)` points of one line.
type Points = Vec<(f64, f64)>;

/// `(iteration, loss)` of one fit and `(iteration, nDCG@10)` of fits of 1..=15 iterations.
fn curves(split: &Holdout, solver: Solver) -> Result<(Points, Points)> {
    let params = |iterations| {
        ImplicitAlsParams { solver, iterations, compute_loss: true, ..ImplicitAlsParams::default() }.check()
    };
    let losses = Mutex::new(Vec::new());
    let record = |p: &Progress| {
        if let Some(loss) = p.loss {
            losses.lock().expect("no panic while recording").push((p.iteration as f64, loss));
        }
    };
    fit(&params(ITERATIONS)?, &split.train, &FitContext::new().with_progress(&record))?;
    let mut ndcgs = Vec::new();
    for iterations in 1..=ITERATIONS {
        let model = fit(&params(iterations)?, &split.train, &FitContext::new())?;
        ndcgs.push((iterations as f64, ndcg(&model, split)?));
    }
    Ok((losses.into_inner().expect("no panic while recording"), ndcgs))
}

fn main() -> Result<()> {
    let mut panels = Vec::new();
    for dataset in [DatasetName::Ml100k, DatasetName::MlLatestSmall] {
        let split = holdout(dataset)?;
        let mut loss =
            Panel::new(&format!("{dataset}: training loss"), "iterations", "loss / (users × items)")
                .legend(SeriesLabelPosition::UpperRight);
        let mut quality = Panel::new(&format!("{dataset}: test nDCG@10"), "iterations", "nDCG@10");
        for (solver, name) in [(Solver::ConjugateGradient, "CG (3 steps)"), (Solver::Cholesky, "Cholesky")] {
            let (losses, ndcgs) = curves(&split, solver)?;
            for (&(iteration, l), &(_, n)) in losses.iter().zip(&ndcgs) {
                println!(
                    "{:<16} {name:<13} iteration {iteration:>2}  loss {l:.6}  nDCG@10 {n:.4}",
                    dataset.as_str()
                );
            }
            loss = loss.line(name, losses);
            quality = quality.line(name, ndcgs);
        }
        panels.extend([loss, quality]);
    }
    let path = out_dir()?.join("training_curve.svg");
    draw_panels(&path, "Implicit ALS per iteration: conjugate gradient vs Cholesky", 2, &panels)?;
    println!("wrote {}", path.display());
    Ok(())
}
