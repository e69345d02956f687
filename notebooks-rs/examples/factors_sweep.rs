//! Implicit ALS by number of factors: test nDCG@10 and training time for 16, 32, 64, 128 and
//! 256 factors (every other hyperparameter at `ImplicitAlsParams::default()`: λ 20, α 3, w₀ 0.3,
//! 15 CG iterations), on ml-100k and ml-latest-small under the PROTOCOLS holdout (ratings ≥ 4,
//! 20 % of each user's positives held out, seed 42). Time is the fastest of 3 fits on the global
//! rayon pool (all cores), so other work on the machine shows less.
//!
//! Run (data from `CINEREC_DATA_DIR`, else `../shared/datasets` beside the repository):
//!
//! ```sh
//! cargo run --release -p notebooks-rs --example factors_sweep
//! ```
//!
//! Prints one line per point and writes `notebooks-rs/out/factors_sweep.svg`.

use std::time::{Duration, Instant};

use anyhow::Result;
use datasets::DatasetName;
use engine::als::{ImplicitAlsParams, fit};
use engine::{FitContext, Params};
use notebooks::{Panel, SeriesLabelPosition, draw_panels, holdout, ndcg, out_dir};

const FACTORS: [usize; 5] = [16, 32, 64, 128, 256];
const TIMED_FITS: usize = 3;

fn main() -> Result<()> {
    let mut quality = Panel::new("Test nDCG@10", "factors (log scale)", "nDCG@10")
        .log2_x()
        .legend(SeriesLabelPosition::LowerRight);
    let mut cost = Panel::new(
        "Training time (15 iterations, best of 3 fits)",
        "factors (log scale)",
        "seconds (wall time)",
    )
    .log2_x()
    .y_from_zero()
    .legend(SeriesLabelPosition::UpperLeft);
    for dataset in [DatasetName::Ml100k, DatasetName::MlLatestSmall] {
        let split = holdout(dataset)?;
        let (mut ndcg_points, mut time_points) = (Vec::new(), Vec::new());
        for factors in FACTORS {
            let params = ImplicitAlsParams { factors, ..ImplicitAlsParams::default() }.check()?;
            let mut fastest = Duration::MAX;
            let mut model = None;
            for _ in 0..TIMED_FITS {
                let started = Instant::now();
                model = Some(fit(&params, &split.train, &FitContext::new())?);
                fastest = fastest.min(started.elapsed());
            }
            let score = ndcg(&model.expect("at least one fit"), &split)?;
            println!(
                "{:<16} factors {factors:>3}  nDCG@10 {score:.4}  fit {:.3} s",
                dataset.as_str(),
                fastest.as_secs_f64()
            );
            ndcg_points.push((factors as f64, score));
            time_points.push((factors as f64, fastest.as_secs_f64()));
        }
        quality = quality.line(dataset.as_str(), ndcg_points);
        cost = cost.line(dataset.as_str(), time_points);
    }
    let path = out_dir()?.join("factors_sweep.svg");
    draw_panels(&path, "Implicit ALS (engine defaults) by number of factors", 2, &[quality, cost])?;
    println!("wrote {}", path.display());
    Ok(())
}
