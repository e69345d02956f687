//! `cinerec quickstart`, the README's first command: find ml-latest-small in the data directory
//! (or download and verify it), train the implicit ALS with the engine's defaults, evaluate it
//! on the holdout against the popularity baseline, store it, and show what it recommends to a
//! sample user next to the movies that user rated highly, plus similar movies for two
//! well-known titles.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use artifacts::Artifact;
use datasets::{DatasetError, DatasetName, Downloader};
use engine::eval;
use engine::popularity::{self, PopularityParams};
use engine::{Csr, Interactions, Params};

use crate::bench::thread_pool;
use crate::cli::{EvaluateWith, ModelArgs, ModelKind, QuickstartArgs};
use crate::data::Loaded;
use crate::error::{Error, Result};
use crate::evaluate::TEST_FRACTION;
use crate::fit::{ModelSpec, model_spec};
use crate::output::{self, bytes, count, truncate};
use crate::query;
use crate::source::{MovieLensDataset, RatingsSource};
use crate::store::Store;
use crate::train::{self, TrainOptions};

/// The dataset of the quick start.
pub const DATASET: DatasetName = DatasetName::MlLatestSmall;
/// Titles whose similar movies are shown (those the model knows).
pub const WELL_KNOWN: [&str; 2] = ["Toy Story (1995)", "Matrix, The (1999)"];
/// Rows of the side-by-side table.
const ROWS: usize = 10;
/// Width of the left column (the user's ratings).
const LEFT: usize = 46;
/// Similar movies shown per well-known title.
const SIMILAR: usize = 6;

/// The dataset folder in `data_dir`, downloading (and verifying) it first when it is missing.
fn locate(data_dir: &Path, progress: bool, out: &mut dyn Write) -> Result<PathBuf> {
    match datasets::dataset_dir(data_dir, DATASET) {
        Ok(dir) => return Ok(dir),
        Err(DatasetError::NotPresent { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    writeln!(out, "{DATASET} is not in {}: downloading it from GroupLens (about 1 MB)", data_dir.display())?;
    out.flush()?;
    let bar = output::bar(progress, 0, format!("downloading {DATASET}"));
    let progress_bar = bar.clone();
    let downloader = Downloader::new(data_dir).progress(move |p| {
        if let Some(total) = p.total {
            progress_bar.set_length(total);
        }
        progress_bar.set_position(p.received);
    });
    let done = downloader.download(DATASET);
    bar.finish_and_clear();
    let done = done.map_err(|source| Error::DatasetUnavailable {
        name: DATASET.to_string(),
        dir: data_dir.to_owned(),
        source: Box::new(source),
    })?;
    Ok(done.dir)
}

/// A user's ratings, best first (latest first among equal ratings): (rating, movie id).
fn rated_highly(loaded: &Loaded, user_id: u64) -> Vec<(f32, u64)> {
    let Some(user_idx) = loaded.log.users.dense(user_id) else { return Vec::new() };
    let mut res: Vec<(f32, i64, u64)> = loaded
        .log
        .entries
        .iter()
        .filter(|e| e.user_idx == user_idx)
        .filter_map(|e| Some((e.value, e.timestamp, loaded.log.items.external(e.item_idx)?)))
        .collect();
    res.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
    res.into_iter().map(|(rating, _, id)| (rating, id)).collect()
}

/// nDCG@k of the popularity baseline on the same split (every rated movie left out).
fn popularity_ndcg(artifact: &Artifact, test: &Csr, k: usize) -> Result<f64> {
    let data = Interactions::from_csr(artifact.seen.clone());
    let model = popularity::fit(&PopularityParams::default().check()?, &data)?;
    Ok(eval::evaluate_ranking(&model, artifact.training_users()?, test, k)?.ndcg)
}

/// Runs `cinerec quickstart`, printing as it goes.
pub fn quickstart(args: &QuickstartArgs, data_dir: &Path, progress: bool, out: &mut dyn Write) -> Result<()> {
    let started = Instant::now();
    let store = Store::from_args(&args.store)?;
    let dir = locate(data_dir, progress, out)?;
    let loaded = MovieLensDataset { data_dir: data_dir.to_owned(), name: DATASET }.load()?;
    let n_movies_rated = loaded.log.n_items();
    writeln!(
        out,
        "data     {DATASET}: {} ratings by {} users of {} movies ({})",
        count(loaded.log.entries.len() as u64),
        count(loaded.log.n_users() as u64),
        count(n_movies_rated as u64),
        fs_err::canonicalize(&dir).unwrap_or(dir).display()
    )?;

    let user_id = args.user;
    let ratings = rated_highly(&loaded, user_id);
    let spec = model_spec(ModelKind::ImplicitAls, &ModelArgs::default(), 42)?;
    let ModelSpec::ImplicitAls(params) = &spec else { unreachable!("asked for implicit ALS") };
    let describe = format!(
        "implicit ALS, {} factors, {} iterations, λ {}, α {}",
        params.factors, params.iterations, params.regularization, params.alpha
    );
    let options = TrainOptions { spec: spec.clone(), evaluate: EvaluateWith::Holdout, k: 10, seed: 42 };
    let pool = thread_pool(args.threads)?;
    let bar = output::bar(progress, options.spec.iterations() as u64, "training implicit ALS");
    let trained = train::train_model(loaded, &options, &pool, &bar)?;
    bar.finish_and_clear();
    let evaluation = trained.evaluation.as_ref().expect("trained with a holdout");
    let artifact = &trained.artifact;
    let baseline = pool.install(|| popularity_ndcg(artifact, &evaluation.test, options.k))?;
    writeln!(
        out,
        "model    {describe}: trained in {:.2} s on {} threads",
        trained.fit_seconds,
        pool.current_num_threads()
    )?;
    let m = &evaluation.metrics;
    writeln!(
        out,
        "quality  nDCG@10 {:.3} (most-popular baseline {baseline:.3}) · precision@10 {:.3} · recall@10 {:.3}\n         \
         on {:.0} % of each user's liked movies, hidden from training ({} users)",
        m.ndcg.unwrap_or(f64::NAN),
        m.precision.unwrap_or(f64::NAN),
        m.recall.unwrap_or(f64::NAN),
        TEST_FRACTION * 100.0,
        m.users.unwrap_or(0),
    )?;
    let payload = artifacts::to_bytes(artifact)?;
    let size = payload.len() as u64;
    let version = store.put(payload)?.to_string();
    writeln!(out, "saved    model {version} in {} ({})", store.uri(), bytes(size))?;

    writeln!(out)?;
    show_user(out, artifact, &version, user_id, &ratings, &evaluation.test)?;
    writeln!(out)?;
    let mut columns: Vec<Vec<String>> = Vec::new();
    for title in WELL_KNOWN {
        let Ok(movie_id) = query::find_title(artifact, &version, title) else { continue };
        let similar = query::similar(artifact, &version, movie_id, SIMILAR)?;
        let mut lines = vec![format!("if you liked {title}:")];
        lines.extend(similar.movies.iter().map(|s| {
            format!("  {}", truncate(&query::display_title(s.title.as_deref(), s.movie_id), LEFT - 2))
        }));
        columns.push(lines);
    }
    match columns.as_slice() {
        [left, right, ..] => output::columns(out, LEFT, left, right)?,
        [only] => output::columns(out, LEFT, only, &[])?,
        [] => {}
    }
    writeln!(out)?;
    let mut next = "next    ";
    if args.store.uri != "./models" {
        writeln!(out, "{next} export CINEREC_MODEL_STORE={}   (this run's store)", args.store.uri)?;
        next = "        ";
    }
    writeln!(
        out,
        "{next} cinerec recommend --user 42 · cinerec recommend --history 1,260,1196\n         \
         cinerec similar --title heat · cinerec models list · cinerec --help"
    )?;
    let exe = std::env::current_exe().ok().filter(|p| p.file_stem().is_some_and(|s| s == "cinerec"));
    match exe {
        Some(exe) => {
            writeln!(out, "done in {:.1} s (cinerec is {})", started.elapsed().as_secs_f64(), exe.display())?
        }
        None => writeln!(out, "done in {:.1} s", started.elapsed().as_secs_f64())?,
    }
    Ok(())
}

/// The user's highly rated movies next to the model's recommendations; ✓ marks a recommended
/// movie the user liked but that training never saw (held out).
fn show_user(
    out: &mut dyn Write,
    artifact: &Artifact,
    version: &str,
    user_id: u64,
    ratings: &[(f32, u64)],
    heldout: &Csr,
) -> Result<()> {
    let recs = query::for_user(artifact, version, user_id, ROWS)?;
    if let Some(note) = &recs.note {
        writeln!(out, "{note}")?;
    }
    let hidden: Vec<u64> = artifact
        .users
        .dense(user_id)
        .map(|u| heldout.row(u as usize).indices.iter().filter_map(|&i| artifact.items.external(i)).collect())
        .unwrap_or_default();
    let titles = |id: u64| {
        let title = artifact.movies.iter().find(|m| m.movie_id == id).map(|m| m.title.as_str());
        query::display_title(title, id)
    };
    let mut left = vec![format!("user {user_id} rated {} movies, these highest:", ratings.len())];
    left.extend(
        ratings
            .iter()
            .take(ROWS)
            .map(|(rating, id)| format!("  {rating:.1}  {}", truncate(&titles(*id), LEFT - 7))),
    );
    let mut right = vec![format!("recommended for user {user_id}:")];
    let mut hits = 0;
    for m in &recs.movies {
        let hit = hidden.contains(&m.movie_id);
        hits += usize::from(hit);
        let title = truncate(&query::display_title(m.title.as_deref(), m.movie_id), 44);
        right.push(format!("{:>2}. {title}{}", m.rank, if hit { "  ✓" } else { "" }));
    }
    output::columns(out, LEFT, &left, &right)?;
    if !hidden.is_empty() {
        writeln!(
            out,
            "✓ {hits} of these {} are among the {} movies user {user_id} liked that training never saw",
            recs.movies.len(),
            hidden.len()
        )?;
    }
    Ok(())
}
