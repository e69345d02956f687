//! Which ratings the command line names (a MovieLens dataset in the data directory, a ratings
//! file, or the seeded synthetic generator; loaded through [`crate::source::RatingsSource`]),
//! and the implicit-feedback matrices built from them.

use std::path::{Path, PathBuf};

use artifacts::ModelParams;
use datasets::synth::SynthShape;
use datasets::{DatasetName, Movie, Rating, SynthParams};
use engine::{Csr, Duplicates, Interaction, InteractionLog, Interactions};

use crate::cli::DataArgs;
use crate::error::{Error, Result};
use crate::source::{MovieLensDataset, RatingsFile, RatingsSource, Synthetic};

pub use artifacts::POSITIVE_THRESHOLD;

/// Ratings loaded from somewhere, keyed by external ids.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// Display name (`ml-100k`, `synth-0.25`, or the file name).
    pub name: String,
    /// The ratings.
    pub log: InteractionLog,
    /// The movie catalogue (empty when the source has none).
    pub movies: Vec<Movie>,
}

/// A source of ratings.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// A MovieLens dataset in the data directory.
    Dataset(DatasetName),
    /// A ratings file (format from its name: `u.data`, `*.base`, `*.test`, `*.dat`, `*.csv`).
    Ratings(PathBuf),
    /// The synthetic ML-20M-shaped generator.
    Synth {
        /// The scale asked for (1.0 = ML-20M).
        scale: f64,
        /// The checked shape at that scale.
        shape: SynthShape,
    },
}

/// Parses a dataset name.
pub fn dataset_name(name: &str) -> Result<DatasetName> {
    Ok(name.parse::<DatasetName>()?)
}

/// The checked shape of the synthetic set at `scale`.
pub fn synth_shape(scale: f64, seed: u64) -> Result<SynthShape> {
    Ok(SynthParams::new(scale, seed).check()?)
}

/// The source the `--dataset` / `--ratings` / `--synth-scale` flags name.
pub fn source(args: &DataArgs, seed: u64) -> Result<Source> {
    match (&args.dataset, &args.ratings, args.synth_scale) {
        (Some(name), None, None) => Ok(Source::Dataset(dataset_name(name)?)),
        (None, Some(path), None) => Ok(Source::Ratings(path.clone())),
        (None, None, Some(scale)) => Ok(Source::Synth { scale, shape: synth_shape(scale, seed)? }),
        _ => Err(Error::Usage("give exactly one of --dataset, --ratings, --synth-scale".into())),
    }
}

impl Source {
    /// The [`RatingsSource`] that loads this source (named datasets are read from `data_dir`).
    pub fn open(&self, data_dir: &Path) -> Box<dyn RatingsSource> {
        match self {
            Source::Dataset(name) => {
                Box::new(MovieLensDataset { data_dir: data_dir.to_owned(), name: *name })
            }
            Source::Ratings(path) => Box::new(RatingsFile { path: path.clone() }),
            Source::Synth { scale, shape } => Box::new(Synthetic { scale: *scale, shape: *shape }),
        }
    }
}

/// Loads every rating of `source`, and its catalogue.
pub fn load(source: &Source, data_dir: &Path) -> Result<Loaded> {
    source.open(data_dir).load()
}

/// `synth-<scale>`, the display name of the synthetic set.
pub fn synth_name(scale: f64) -> String {
    format!("synth-{scale}")
}

/// `ratings` as entries in `log`'s index space; an id `log` does not know is an error.
pub fn entries_in(log: &InteractionLog, ratings: &[Rating], what: &str) -> Result<Vec<Interaction>> {
    ratings
        .iter()
        .map(|r| match (log.users.dense(r.user_id), log.items.dense(r.movie_id)) {
            (Some(user_idx), Some(item_idx)) => {
                Ok(Interaction { user_idx, item_idx, value: r.rating, timestamp: r.timestamp })
            }
            _ => Err(Error::Usage(format!(
                "{what}: user {} / movie {} is not in the full dataset",
                r.user_id, r.movie_id
            ))),
        })
        .collect()
}

/// The positive entries (rating ≥ [`POSITIVE_THRESHOLD`]) with value 1.0.
pub fn binary_positives(entries: &[Interaction]) -> Vec<Interaction> {
    engine::eval::positives(entries, POSITIVE_THRESHOLD)
        .into_iter()
        .map(|e| Interaction { value: 1.0, ..e })
        .collect()
}

/// What a model of these params learns from `ratings`, by [`ModelParams::interaction_value`]
/// (every rating for explicit ALS; positives as 1.0, and for the blend lower ratings as its
/// `low_rating_weight`); an `n_users × n_items` matrix. A re-rating keeps the latest rating.
pub fn learned(
    n_users: usize,
    n_items: usize,
    ratings: &[Interaction],
    model: &ModelParams,
) -> Result<Interactions> {
    let learns = |e: &Interaction| model.interaction_value(e.value).is_some();
    let learned = Csr::from_entries_where(n_users, n_items, ratings, Duplicates::KeepLatest, learns)?;
    Ok(Interactions::from_csr(learned.map_values(|v| model.interaction_value(v).unwrap_or(0.0))))
}

/// The movies users rated that a model of these params does not learn from, as an `n_users ×
/// n_items` matrix whose values are the ratings (the ratings below [`POSITIVE_THRESHOLD`] for
/// implicit ALS, kNN, EASE and popularity; nothing for explicit ALS and the blend, which learn
/// from every rating). With the training matrix it is every movie a user rated, which
/// recommendations leave out ("seen" means rated).
pub fn also_seen(
    n_users: usize,
    n_items: usize,
    ratings: &[Interaction],
    model: &ModelParams,
) -> Result<Csr> {
    let not_learned = |e: &Interaction| model.interaction_value(e.value).is_none();
    Ok(Csr::from_entries_where(n_users, n_items, ratings, Duplicates::KeepLatest, not_learned)?)
}

/// The ratings a model of these params does not learn from, values kept.
pub fn not_learned(ratings: &[Interaction], model: &ModelParams) -> Vec<Interaction> {
    ratings.iter().filter(|e| model.interaction_value(e.value).is_none()).copied().collect()
}

/// The ratings a model of these params learns from, as its interaction values.
pub fn learned_entries(ratings: &[Interaction], model: &ModelParams) -> Vec<Interaction> {
    ratings
        .iter()
        .filter_map(|e| model.interaction_value(e.value).map(|value| Interaction { value, ..*e }))
        .collect()
}

/// The `n_users × n_items` matrix of `entries` (re-ratings keep the latest).
pub fn matrix(n_users: usize, n_items: usize, entries: &[Interaction]) -> Result<Interactions> {
    Ok(Interactions::from_entries(n_users, n_items, entries, Duplicates::KeepLatest)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::blend::BlendParams;
    use engine::explicit_als::ExplicitAlsParams;

    #[test]
    fn each_kind_learns_its_ratings_and_sees_the_rest() {
        let e = |user_idx, item_idx, value, timestamp| Interaction { user_idx, item_idx, value, timestamp };
        // A re-rating (item 0: 5 then 2), a low rating, a positive.
        let ratings = [e(0, 0, 5.0, 1), e(0, 1, 2.0, 2), e(0, 0, 2.0, 3), e(1, 2, 4.0, 4)];
        let blend = ModelParams::Blend(BlendParams::default());
        let implicit = ModelParams::ImplicitAls(Default::default());
        let explicit = ModelParams::ExplicitAls(ExplicitAlsParams::default());
        for (params, learned_values, seen_nnz) in [
            (&blend, vec![0.25, 0.25, 1.0], 0),
            (&implicit, vec![1.0, 1.0], 2),
            (&explicit, vec![2.0, 2.0, 4.0], 0),
        ] {
            let m = learned(2, 3, &ratings, params).unwrap();
            assert_eq!(m.user_items().values(), learned_values.as_slice(), "{:?}", params.kind());
            assert_eq!(also_seen(2, 3, &ratings, params).unwrap().nnz(), seen_nnz, "{:?}", params.kind());
        }
        // Implicit ALS keeps the 5 among the positives and sees the later 2 (as before).
        assert_eq!(learned(2, 3, &ratings, &implicit).unwrap().user_items().row(0).indices, &[0]);
        assert_eq!(not_learned(&ratings, &implicit).len(), 2);
        assert_eq!(
            learned_entries(&ratings, &blend).iter().map(|e| e.value).collect::<Vec<_>>(),
            [1.0, 0.25, 0.25, 1.0]
        );
    }
}
