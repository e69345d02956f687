//! Where the commands' ratings come from: a named MovieLens dataset under the data directory,
//! a ratings file, or the seeded synthetic generator; and the implicit-feedback matrices built
//! from them.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use engine::{Duplicates, Interaction, InteractionLog, Interactions};

use crate::cli::DataArgs;
use crate::error::{Error, Result};

/// The datasets the CLI can find by name.
pub const DATASETS: &[&str] = &["ml-100k", "ml-latest-small", "ml-1m", "ml-10m", "ml-20m", "ml-25m"];

/// Ratings at or above this value are positive interactions (PROTOCOLS: ≥ 4).
pub const POSITIVE_THRESHOLD: f32 = 4.0;

/// Ratings loaded from somewhere, keyed by external ids.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// Display name (`ml-100k`, `synth-0.25`, or the file name).
    pub name: String,
    /// The ratings.
    pub log: InteractionLog,
}

/// A source of ratings.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// A MovieLens dataset by name, under the data directory.
    Dataset(String),
    /// A ratings file (MovieLens `u.data`, `ratings.dat` or `ratings.csv` layout).
    Ratings(PathBuf),
    /// The synthetic ML-20M-shaped generator at `scale` (1.0 = full size).
    Synth {
        /// Fraction of ML-20M's users and items.
        scale: f64,
        /// Generator seed.
        seed: u64,
    },
}

/// The source the `--dataset` / `--ratings` / `--synth-scale` flags name.
pub fn source(args: &DataArgs, seed: u64) -> Result<Source> {
    match (&args.dataset, &args.ratings, args.synth_scale) {
        (Some(name), None, None) => {
            check_dataset_name(name)?;
            Ok(Source::Dataset(name.clone()))
        }
        (None, Some(path), None) => Ok(Source::Ratings(path.clone())),
        (None, None, Some(scale)) if scale > 0.0 && scale <= 4.0 => Ok(Source::Synth { scale, seed }),
        (None, None, Some(scale)) => {
            Err(Error::Usage(format!("--synth-scale {scale}: expected a number in (0, 4]")))
        }
        _ => Err(Error::Usage("give exactly one of --dataset, --ratings, --synth-scale".into())),
    }
}

/// Checks that `name` is a known dataset.
pub fn check_dataset_name(name: &str) -> Result<()> {
    if DATASETS.contains(&name) {
        Ok(())
    } else {
        Err(Error::UnknownDataset { name: name.to_owned(), expected: DATASETS.join(", ") })
    }
}

/// The main ratings file of a named dataset.
pub fn dataset_ratings_path(data_dir: &Path, name: &str) -> Result<PathBuf> {
    check_dataset_name(name)?;
    let file = match name {
        "ml-100k" => "u.data",
        "ml-latest-small" | "ml-20m" | "ml-25m" => "ratings.csv",
        _ => "ratings.dat",
    };
    let path = data_dir.join(name).join(file);
    if path.exists() { Ok(path) } else { Err(Error::MissingDataset { name: name.to_owned(), path }) }
}

/// Loads every rating of `source`.
pub fn load(source: &Source, data_dir: &Path) -> Result<Loaded> {
    match source {
        Source::Dataset(name) => {
            let path = dataset_ratings_path(data_dir, name)?;
            Ok(Loaded { name: name.clone(), log: load_ratings_file(&path)? })
        }
        Source::Ratings(path) => {
            let name =
                path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into());
            Ok(Loaded { name, log: load_ratings_file(path)? })
        }
        Source::Synth { scale, seed } => {
            let _ = (scale, seed);
            Err(Error::Unavailable("the synthetic generator (datasets crate)".into()))
        }
    }
}

/// Parses a MovieLens ratings file: `user item rating timestamp` separated by a tab, `::` or
/// `,` (a first line that does not parse as numbers is a header).
pub fn load_ratings_file(path: &Path) -> Result<InteractionLog> {
    let mut log = InteractionLog::new();
    read_ratings(path, |user, item, rating, time| {
        log.push(user, item, rating, time);
        Ok(())
    })?;
    Ok(log)
}

/// Parses a ratings file into entries in `log`'s index space; ids `log` does not know are errors.
pub fn load_ratings_into(path: &Path, log: &InteractionLog) -> Result<Vec<Interaction>> {
    let mut res = Vec::new();
    read_ratings(path, |user, item, value, timestamp| {
        let (Some(user_idx), Some(item_idx)) = (log.users.dense(user), log.items.dense(item)) else {
            return Err(format!("user {user} / item {item} is not in the full dataset"));
        };
        res.push(Interaction { user_idx, item_idx, value, timestamp });
        Ok(())
    })?;
    Ok(res)
}

fn read_ratings(
    path: &Path,
    mut push: impl FnMut(u64, u64, f32, i64) -> std::result::Result<(), String>,
) -> Result<()> {
    let reader = std::io::BufReader::new(fs_err::File::open(path)?);
    for (pos, line) in reader.lines().enumerate() {
        let line = line?;
        let parse_err = |message: String| Error::Parse { path: path.to_path_buf(), line: pos + 1, message };
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = if line.contains("::") {
            line.split("::").collect()
        } else if line.contains('\t') {
            line.split('\t').collect()
        } else {
            line.split(',').collect()
        };
        if fields.len() < 3 {
            return Err(parse_err(format!("expected user, item, rating[, timestamp], got {line:?}")));
        }
        let parsed = (fields[0].parse::<u64>(), fields[1].parse::<u64>(), fields[2].parse::<f32>());
        let (Ok(user), Ok(item), Ok(rating)) = parsed else {
            if pos == 0 {
                continue; // header
            }
            return Err(parse_err(format!("expected numbers, got {line:?}")));
        };
        let timestamp = match fields.get(3) {
            Some(t) => t.trim().parse::<i64>().map_err(|_| parse_err(format!("bad timestamp {t:?}")))?,
            None => 0,
        };
        push(user, item, rating, timestamp).map_err(parse_err)?;
    }
    Ok(())
}

/// The positive entries (rating ≥ [`POSITIVE_THRESHOLD`]) with value 1.0.
pub fn binary_positives(entries: &[Interaction]) -> Vec<Interaction> {
    engine::eval::positives(entries, POSITIVE_THRESHOLD)
        .into_iter()
        .map(|e| Interaction { value: 1.0, ..e })
        .collect()
}

/// The `n_users × n_items` matrix of `entries` (re-ratings keep the latest).
pub fn matrix(n_users: usize, n_items: usize, entries: &[Interaction]) -> Result<Interactions> {
    Ok(Interactions::from_entries(n_users, n_items, entries, Duplicates::KeepLatest)?)
}
