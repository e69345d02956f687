//! cinerec against the `implicit` library (0.7.3, CPU): seconds per ALS iteration by number of
//! factors and solver (CG, Cholesky), one panel per dataset, from the rows that
//! `scripts/compare-implicit` measured (same split, objective, threads and iterations on both
//! sides; median over the timed iterations). The "defaults" rows (each library's own defaults,
//! different factor counts) are quality comparisons and are left out.
//!
//! Run, after `scripts/compare-implicit` (e.g. `scripts/compare-implicit --datasets
//! ml-100k,ml-latest-small`):
//!
//! ```sh
//! cargo run --release -p notebooks-rs --example peer_speed               # reads the script's work folder
//! cargo run --release -p notebooks-rs --example peer_speed -- peer.json  # or saved --format json output
//! ```
//!
//! The argument may be the JSON printed by `scripts/compare-implicit --format json > peer.json`,
//! one `compare.json`, or a folder: the script's work folder (`$CINEREC_PEER_DIR`, default
//! `~/.cache/cinerec/peer`, holding `<dataset>-s<seed>/runs/<run>/compare.json`) or one dataset's
//! folder in it. Writes `notebooks-rs/out/peer_speed.svg`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use notebooks::{Panel, SeriesLabelPosition, draw_panels, out_dir};
use serde::Deserialize;

/// The fields used here of one row of `cinerec peer table --format json`
/// (`training::peer::CompareRow`; other fields are ignored).
#[derive(Debug, Deserialize)]
struct Row {
    dataset: String,
    mode: String,
    solver: String,
    threads: usize,
    cinerec: Side,
    implicit: Side,
}

/// One library's side of a row.
#[derive(Debug, Deserialize)]
struct Side {
    factors: usize,
    seconds_per_iteration: f64,
}

/// The script's work folder (`--work`, env `CINEREC_PEER_DIR`).
fn default_work_dir() -> PathBuf {
    std::env::var_os("CINEREC_PEER_DIR").filter(|dir| !dir.is_empty()).map(PathBuf::from).unwrap_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/cinerec/peer"),
    )
}

/// Every `compare.json` under `dir` (a work folder or one dataset's exchange folder), sorted.
fn compare_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut dataset_dirs = vec![dir.to_owned()];
    for entry in fs_err::read_dir(dir)? {
        dataset_dirs.push(entry?.path());
    }
    let mut files = Vec::new();
    for runs in dataset_dirs.iter().map(|d| d.join("runs")).filter(|r| r.is_dir()) {
        for entry in fs_err::read_dir(&runs)? {
            let file = entry?.path().join("compare.json");
            if file.is_file() {
                files.push(file);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The rows in `path`: a JSON array or one row, or the `compare.json` files of a folder.
fn read_rows(path: &Path) -> Result<Vec<Row>> {
    let files = if path.is_dir() { compare_files(path)? } else { vec![path.to_owned()] };
    let mut rows = Vec::new();
    for file in files {
        let text = fs_err::read_to_string(&file)?;
        let value: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
        let parsed = if value.is_array() {
            serde_json::from_value(value)
        } else {
            serde_json::from_value(value).map(|r| vec![r])
        };
        rows.extend(parsed.with_context(|| format!("{}: not cinerec peer comparison rows", file.display()))?);
    }
    Ok(rows)
}

/// Says which command writes the rows, and exits with status 2 (a missing input, not a bug).
fn exit_with(problem: String) -> ! {
    eprintln!(
        "{problem}\nRun `scripts/compare-implicit` (e.g. `--datasets ml-100k,ml-latest-small`): it leaves its rows \
         in its work folder ($CINEREC_PEER_DIR, default ~/.cache/cinerec/peer), which is read by default; \
         `scripts/compare-implicit --format json > peer.json` also saves them as one file to pass here."
    );
    std::process::exit(2)
}

fn main() -> Result<()> {
    let path = std::env::args_os().nth(1).map(PathBuf::from).unwrap_or_else(default_work_dir);
    if !path.exists() {
        exit_with(format!("{} does not exist.", path.display()));
    }
    let mut rows = read_rows(&path)?;
    rows.retain(|r| r.mode != "defaults" && r.cinerec.factors == r.implicit.factors);
    if rows.is_empty() {
        exit_with(format!("{} holds no comparison rows with equal factors on both sides.", path.display()));
    }
    rows.sort_by(|a, b| {
        (&a.dataset, &a.solver, a.cinerec.factors).cmp(&(&b.dataset, &b.solver, b.cinerec.factors))
    });
    let mut datasets: Vec<&str> = rows.iter().map(|r| r.dataset.as_str()).collect();
    datasets.dedup();
    // One row of panels per dataset, one column per solver measured: two lines each.
    let solvers: Vec<(&str, &str)> = [("cg", "CG"), ("cholesky", "Cholesky")]
        .into_iter()
        .filter(|(solver, _)| rows.iter().any(|r| r.solver == *solver))
        .collect();
    let mut panels = Vec::new();
    for dataset in datasets {
        for &(solver, solver_name) in &solvers {
            let measured: Vec<&Row> =
                rows.iter().filter(|r| r.dataset == dataset && r.solver == solver).collect();
            let line = |side: fn(&Row) -> &Side| -> Vec<(f64, f64)> {
                measured
                    .iter()
                    .map(|r| (side(r).factors as f64, side(r).seconds_per_iteration * 1e3))
                    .collect()
            };
            let threads = measured.first().map_or(String::from("-"), |r| r.threads.to_string());
            let caption = format!("{dataset}, {solver_name} ({threads} threads)");
            panels.push(
                Panel::new(&caption, "factors (log scale)", "milliseconds per iteration")
                    .log2_x()
                    .y_from_zero()
                    .legend(SeriesLabelPosition::UpperLeft)
                    .line("cinerec", line(|r| &r.cinerec))
                    .line("implicit 0.7.3", line(|r| &r.implicit)),
            );
        }
    }
    for r in &rows {
        println!(
            "{:<16} {:<8} factors {:>3}  cinerec {:>8.2} ms/iter  implicit {:>8.2} ms/iter  implicit/cinerec {:.2}x",
            r.dataset,
            r.solver,
            r.cinerec.factors,
            r.cinerec.seconds_per_iteration * 1e3,
            r.implicit.seconds_per_iteration * 1e3,
            r.implicit.seconds_per_iteration / r.cinerec.seconds_per_iteration
        );
    }
    let out = out_dir()?.join("peer_speed.svg");
    draw_panels(
        &out,
        "Time per ALS iteration: cinerec vs implicit 0.7.3 (same objective and split)",
        solvers.len(),
        &panels,
    )?;
    println!("wrote {}", out.display());
    Ok(())
}
