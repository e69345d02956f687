//! The comparison with the `implicit` library: `peer prepare` writes one holdout split as an
//! exchange folder, `scripts/peer_implicit.py` trains `implicit` on it, `peer compare` trains
//! cinerec on the same matrix, loads `implicit`'s factors into an [`ImplicitAlsModel`] and
//! evaluates both with the engine's `evaluate_ranking`, so quality figures are comparable.
//!
//! Identical objective: cinerec's confidence is `c = 1 + α·r`; `implicit` 0.7.3 uses `c = α·r`,
//! so the script hands it values `1 + α·r` with its α = 1. Both then solve
//! `(YᵀY + λI + Σ (c − 1)·y yᵀ) x = Σ c·y` per row, from uniform `[0, 0.01)` factors, with 3 CG
//! steps (or an exact Cholesky solve).

use std::io::Write;
use std::path::{Path, PathBuf};

use artifacts::ModelParams;
use datasets::DatasetName;
use engine::als::{ImplicitAlsModel, ImplicitAlsParams};
use engine::eval::{evaluate_ranking, evaluate_ranking_fold_in};
use engine::{Interactions, Params, TrainingUsers};
use serde::{Deserialize, Serialize};

use crate::bench::{als_params, thread_pool, time_implicit_als};
use crate::cli::{Format, PeerCompareArgs, PeerDataset, PeerPrepareArgs, PeerTableArgs, Protocol};
use crate::data::{self, Source};
use crate::error::{Error, Result};
use crate::evaluate::{MIN_POSITIVES, TEST_FRACTION, ranking_split};
use crate::exchange::{self, ExchangeDir, ExchangeMeta, FORMAT_VERSION, PeerTiming};
use crate::output::{self, Table, num};

/// The split's description, written into the exchange metadata.
pub fn split_description(protocol: Protocol) -> String {
    let held = match protocol {
        Protocol::Temporal => "hold out their latest",
        Protocol::Strong => "(20 % of the users, never trained on, folded in from 80 %) hold out",
        _ => "hold out (seeded)",
    };
    format!(
        "{}: ratings >= {} as 1.0; users with >= {MIN_POSITIVES} positives {held} {} % of them; \
         every other rated movie is seen",
        protocol.name(),
        data::POSITIVE_THRESHOLD,
        TEST_FRACTION * 100.0
    )
}

/// `cinerec peer prepare`: loads the dataset, splits it by the protocol (as `cinerec evaluate`
/// does for implicit models), writes the folder.
pub fn prepare(args: &PeerPrepareArgs, data_dir: &Path) -> Result<ExchangeMeta> {
    let source = match args.dataset {
        PeerDataset::Ml100k => Source::Dataset(DatasetName::Ml100k),
        PeerDataset::MlLatestSmall => Source::Dataset(DatasetName::MlLatestSmall),
        PeerDataset::Synth => {
            Source::Synth { scale: args.scale, shape: data::synth_shape(args.scale, args.seed)? }
        }
    };
    let loaded = data::load(&source, data_dir)?;
    let (n_users, n_items) = (loaded.log.n_users(), loaded.log.n_items());
    // The split the implicit models train on: positives learned, lower ratings seen.
    let implicit = ModelParams::ImplicitAls(ImplicitAlsParams::default());
    let split = ranking_split(args.protocol, &loaded.log, &implicit, args.seed, None)?;
    drop(loaded.log);
    let dir = ExchangeDir::new(&args.out);
    let description = split_description(args.protocol);
    let write = |path: &Path, matrix: &engine::Csr| {
        exchange::write_csr(path, matrix, &loaded.name, &description, args.seed).map(|_| ())
    };
    write(&dir.train(), split.train.user_items())?;
    write(&dir.test(), &split.test)?;
    write(&dir.also_seen(), &split.also_seen)?;
    if let Some(fold_in) = &split.fold_in {
        write(&dir.fold_in(), fold_in)?;
    }
    let meta = ExchangeMeta {
        format_version: FORMAT_VERSION,
        dataset: loaded.name,
        split: description,
        protocol: args.protocol.name().into(),
        seed: args.seed,
        n_users,
        n_items,
        train_nnz: split.train.nnz(),
        test_nnz: split.test.nnz(),
    };
    exchange::write_json(&dir.meta(), &meta)?;
    Ok(meta)
}

/// One library's side of a comparison row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Side {
    /// Library and version.
    pub library: String,
    /// Hyperparameters, in words.
    pub params: String,
    /// Latent factors.
    pub factors: usize,
    /// Median seconds per iteration.
    pub seconds_per_iteration: f64,
    /// Timed iterations behind the median.
    pub timed_iterations: usize,
    /// Peak resident set size of the process after training, in bytes (when known).
    pub peak_rss_bytes: Option<u64>,
    /// nDCG@K on the test matrix.
    pub ndcg: f64,
    /// Precision@K.
    pub precision: f64,
    /// Recall@K.
    pub recall: f64,
    /// MAP@K.
    pub map: f64,
    /// AUC.
    pub auc: f64,
}

/// One row of the comparison table, written to `runs/<run>/compare.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareRow {
    /// Dataset name.
    pub dataset: String,
    /// Split description.
    pub split: String,
    /// The protocol of the split (`holdout`, `temporal`, `strong`).
    pub protocol: String,
    /// Users, items and training positives.
    pub shape: (usize, usize, usize),
    /// `identical` (same objective) or `defaults` (each library's defaults).
    pub mode: String,
    /// `cg` or `cholesky`.
    pub solver: String,
    /// Iterations per fit.
    pub iterations: usize,
    /// Threads on both sides.
    pub threads: usize,
    /// Metric cut-off K.
    pub k: usize,
    /// implicit's s/iter divided by cinerec's (> 1: cinerec is faster).
    pub ratio: f64,
    /// cinerec.
    pub cinerec: Side,
    /// implicit.
    pub implicit: Side,
}

fn side_metrics(side: &mut Side, report: &engine::eval::RankingReport) {
    side.ndcg = report.ndcg;
    side.precision = report.precision;
    side.recall = report.recall;
    side.map = report.map;
    side.auc = report.auc;
}

/// `cinerec peer compare`: trains and times cinerec, loads `implicit`'s run, evaluates both.
pub fn compare(args: &PeerCompareArgs, progress: bool) -> Result<CompareRow> {
    if args.repeats < 3 {
        return Err(Error::Usage(format!("--repeats {}: at least 3 timed fits are required", args.repeats)));
    }
    let dir = ExchangeDir::new(&args.dir);
    let meta = dir.read_meta()?;
    let run = exchange::run_name(
        args.factors,
        args.solver.name(),
        args.iterations,
        args.threads,
        args.implicit_defaults,
    );
    let run_dir = dir.run(&run);
    let timing_path = run_dir.join("timing.json");
    if !timing_path.exists() {
        return Err(Error::Exchange {
            path: run_dir,
            message: "no implicit run here: run scripts/peer_implicit.py with the same settings first".into(),
        });
    }
    let peer: PeerTiming = exchange::read_json(&timing_path)?;

    let (train, _) = exchange::read_csr(&dir.train())?;
    let data = Interactions::from_csr(train);
    let (params, peer_params) = if args.implicit_defaults {
        let ours = ImplicitAlsParams { seed: args.seed, ..ImplicitAlsParams::default() };
        let solver = ours.solver;
        let iterations = ours.iterations;
        (
            ours.check()?,
            ImplicitAlsParams {
                factors: peer.factors,
                solver,
                iterations,
                ..ImplicitAlsParams::implicit_library_defaults()
            }
            .check()?,
        )
    } else {
        let p = als_params(
            args.factors,
            args.solver,
            args.iterations,
            args.regularization,
            args.alpha,
            args.seed,
        )?;
        (p.clone(), p)
    };
    let pool = thread_pool(args.threads)?;
    let bar = output::bar(progress, (args.repeats * params.iterations) as u64, format!("cinerec {run}"));
    let timing = time_implicit_als(&params, &data, &pool, args.repeats, true, &bar)?;
    bar.finish_and_clear();
    let peak_rss_bytes = output::peak_rss_bytes();

    let (test, _) = exchange::read_csr(&dir.test())?;
    let (also_seen, _) = exchange::read_csr(&dir.also_seen())?;
    let fold_in = match meta.protocol.as_str() {
        "strong" => Some(exchange::read_csr(&dir.fold_in())?.0),
        _ => None,
    };
    let ranked = TrainingUsers::new(fold_in.as_ref().unwrap_or(data.user_items()), &also_seen)?;
    let rank = |model: &ImplicitAlsModel| match fold_in {
        Some(_) => evaluate_ranking_fold_in(model, ranked, &test, args.k),
        None => evaluate_ranking(model, ranked, &test, args.k),
    };
    let factors = exchange::read_factors(&run_dir)?;
    if (factors.meta.n_users, factors.meta.n_items) != (meta.n_users, meta.n_items)
        || factors.meta.factors != peer_params.factors
    {
        return Err(Error::Exchange {
            path: run_dir.join("factors.json"),
            message: format!(
                "factors of shape {}×{} / {}×{} do not match the data ({} users, {} items, {} factors)",
                factors.meta.n_users,
                factors.meta.factors,
                factors.meta.n_items,
                factors.meta.factors,
                meta.n_users,
                meta.n_items,
                peer_params.factors
            ),
        });
    }
    let theirs =
        ImplicitAlsModel::from_factors(&peer_params, meta.n_users, meta.n_items, factors.user, factors.item)?;
    let (ours_report, theirs_report) =
        pool.install(|| -> Result<_> { Ok((rank(&timing.model)?, rank(&theirs)?)) })?;

    let describe = |p: &ImplicitAlsParams| {
        format!(
            "factors {} λ {} α {} {:?} iterations {}",
            p.factors, p.regularization, p.alpha, p.solver, p.iterations
        )
    };
    let mut cinerec = Side {
        library: format!("cinerec {}", env!("CARGO_PKG_VERSION")),
        params: describe(&params),
        factors: params.factors,
        seconds_per_iteration: timing.seconds_per_iteration,
        timed_iterations: timing.iteration_seconds.len(),
        peak_rss_bytes,
        ndcg: 0.0,
        precision: 0.0,
        recall: 0.0,
        map: 0.0,
        auc: 0.0,
    };
    side_metrics(&mut cinerec, &ours_report);
    let mut implicit = Side {
        library: format!("{} {}", peer.library, peer.version),
        params: peer.objective.clone(),
        factors: peer.factors,
        seconds_per_iteration: peer.seconds_per_iteration,
        timed_iterations: peer.iteration_seconds.len(),
        peak_rss_bytes: Some(peer.peak_rss_bytes),
        ..cinerec.clone()
    };
    side_metrics(&mut implicit, &theirs_report);
    let row = CompareRow {
        dataset: meta.dataset,
        split: meta.split,
        protocol: meta.protocol,
        shape: (meta.n_users, meta.n_items, meta.train_nnz),
        mode: if args.implicit_defaults { "defaults" } else { "identical" }.into(),
        solver: peer.solver.clone(),
        iterations: params.iterations,
        threads: args.threads,
        k: args.k,
        ratio: peer.seconds_per_iteration / timing.seconds_per_iteration,
        cinerec,
        implicit,
    };
    exchange::write_json(&dir.run(&run).join("compare.json"), &row)?;
    Ok(row)
}

/// The comparison table of `rows`.
pub fn table(rows: &[CompareRow]) -> Table {
    let k = rows.first().map_or(10, |r| r.k);
    let mut t = Table::new(&[
        "dataset",
        "protocol",
        "mode",
        "factors",
        "solver",
        "s/iter cinerec",
        "s/iter implicit",
        "ratio",
        &format!("nDCG@{k} cinerec"),
        &format!("nDCG@{k} implicit"),
        &format!("P@{k} cinerec"),
        &format!("P@{k} implicit"),
        "RSS MiB cinerec",
        "RSS MiB implicit",
    ]);
    let mib = |b: Option<u64>| num(b.map(|b| b as f64 / (1u64 << 20) as f64), 0);
    for r in rows {
        let factors = if r.cinerec.factors == r.implicit.factors {
            r.cinerec.factors.to_string()
        } else {
            format!("{}/{}", r.cinerec.factors, r.implicit.factors)
        };
        t.push(vec![
            r.dataset.clone(),
            r.protocol.clone(),
            r.mode.clone(),
            factors,
            r.solver.clone(),
            num(Some(r.cinerec.seconds_per_iteration), 4),
            num(Some(r.implicit.seconds_per_iteration), 4),
            // Each library's defaults use different factors: their speeds do not compare.
            if r.mode == "defaults" { "-".into() } else { format!("{:.2}x", r.ratio) },
            num(Some(r.cinerec.ndcg), 4),
            num(Some(r.implicit.ndcg), 4),
            num(Some(r.cinerec.precision), 4),
            num(Some(r.implicit.precision), 4),
            mib(r.cinerec.peak_rss_bytes),
            mib(r.implicit.peak_rss_bytes),
        ]);
    }
    t
}

/// Prints rows as one table (or JSON).
pub fn print_rows(out: &mut dyn Write, format: Format, rows: &[CompareRow]) -> Result<()> {
    output::emit(out, format, &rows, || table(rows))
}

/// `cinerec peer table`: gathers `compare.json` rows from folders and files.
pub fn collect_rows(args: &PeerTableArgs) -> Result<Vec<CompareRow>> {
    let mut files: Vec<PathBuf> = Vec::new();
    for path in &args.paths {
        if path.is_dir() {
            let runs = path.join("runs");
            let mut found: Vec<PathBuf> = fs_err::read_dir(&runs)?
                .filter_map(|e| e.ok().map(|e| e.path().join("compare.json")))
                .filter(|p| p.exists())
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    files.iter().map(|f| exchange::read_json(f)).collect()
}
