//! What an artifact holds: a [`TrainedModel`] of one of the engine's kinds, the id maps, the
//! training interactions, the movie catalogue and the run's [`Metadata`].

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use engine::als::ImplicitAlsModel;
use engine::blend::BlendModel;
use engine::ease::{EaseModel, EaseParams};
use engine::explicit_als::ExplicitAlsModel;
use engine::knn::ItemKnnModel;
use engine::popularity::{PopularityModel, PopularityParams};
use engine::{Csr, EngineError, IdMap, Recommender, TrainingUsers};
use serde::{Deserialize, Serialize};

use crate::error::ArtifactError;
use crate::params::ModelParams;

/// The model kinds an artifact can hold; spelled as the engine's `Recommender::kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Implicit-feedback ALS (`implicit-als`).
    ImplicitAls,
    /// Explicit biased ALS (`explicit-als`).
    ExplicitAls,
    /// Item-kNN (`item-knn`).
    ItemKnn,
    /// EASE (`ease`).
    Ease,
    /// Popularity (`popularity`).
    Popularity,
    /// EASE + implicit ALS blend (`blend`).
    Blend,
}

impl ModelKind {
    /// Every kind, in a fixed order.
    pub const ALL: [ModelKind; 6] =
        [Self::ImplicitAls, Self::ExplicitAls, Self::ItemKnn, Self::Ease, Self::Popularity, Self::Blend];

    /// The kind's name (`implicit-als`, `explicit-als`, `item-knn`, `ease`, `popularity`,
    /// `blend`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ImplicitAls => "implicit-als",
            Self::ExplicitAls => "explicit-als",
            Self::ItemKnn => "item-knn",
            Self::Ease => "ease",
            Self::Popularity => "popularity",
            Self::Blend => "blend",
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|k| k.as_str()).collect();
            format!("unknown model kind `{s}`: expected one of {}", names.join(", "))
        })
    }
}

/// A trained model of any kind.
///
/// EASE and popularity models do not keep their hyperparameters, so their variants carry them
/// beside the model (they are written to the header for the record).
#[derive(Clone, Debug, PartialEq)]
pub enum TrainedModel {
    /// Implicit ALS factors.
    ImplicitAls(ImplicitAlsModel),
    /// Explicit ALS factors, biases and global mean.
    ExplicitAls(ExplicitAlsModel),
    /// Item-kNN neighbour lists.
    ItemKnn(ItemKnnModel),
    /// EASE weight matrix.
    Ease {
        /// The model.
        model: EaseModel,
        /// The params it was fitted with.
        params: EaseParams,
    },
    /// Popularity scores.
    Popularity {
        /// The model.
        model: PopularityModel,
        /// The params it was fitted with.
        params: PopularityParams,
    },
    /// EASE weights and implicit ALS factors, blended.
    Blend(BlendModel),
}

impl TrainedModel {
    /// The model as the engine's query interface.
    pub fn as_recommender(&self) -> &dyn Recommender {
        match self {
            Self::ImplicitAls(m) => m,
            Self::ExplicitAls(m) => m,
            Self::ItemKnn(m) => m,
            Self::Ease { model, .. } => model,
            Self::Popularity { model, .. } => model,
            Self::Blend(m) => m,
        }
    }

    /// The model's kind.
    pub fn kind(&self) -> ModelKind {
        match self {
            Self::ImplicitAls(_) => ModelKind::ImplicitAls,
            Self::ExplicitAls(_) => ModelKind::ExplicitAls,
            Self::ItemKnn(_) => ModelKind::ItemKnn,
            Self::Ease { .. } => ModelKind::Ease,
            Self::Popularity { .. } => ModelKind::Popularity,
            Self::Blend(_) => ModelKind::Blend,
        }
    }

    /// The hyperparameters the model was trained with.
    pub fn params(&self) -> ModelParams {
        match self {
            Self::ImplicitAls(m) => ModelParams::ImplicitAls(m.params().clone()),
            Self::ExplicitAls(m) => ModelParams::ExplicitAls(m.params().clone()),
            Self::ItemKnn(m) => ModelParams::ItemKnn(m.params().clone()),
            Self::Ease { params, .. } => ModelParams::Ease(params.clone()),
            Self::Popularity { params, .. } => ModelParams::Popularity(params.clone()),
            Self::Blend(m) => ModelParams::Blend(m.params().clone()),
        }
    }
}

/// A movie of the catalogue, as shown next to recommendations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MovieInfo {
    /// External (MovieLens) movie id, the item id of the model's item map.
    pub movie_id: u64,
    /// Title, year included as the dataset gives it.
    pub title: String,
    /// Release year, when known (stored as 0 when unknown, so year 0 reads back as `None`).
    pub year: Option<u16>,
    /// Genre names.
    pub genres: Vec<String>,
}

/// Facts about the training run stored with the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Metadata {
    /// When the model was trained; stored with whole-second precision (RFC 3339, UTC).
    pub created_at: SystemTime,
    /// The code that trained it: see [`code_version`].
    pub code_version: String,
    /// Free-form description of the training data (e.g. `ml-latest-small, ratings >= 4`).
    pub dataset: String,
    /// Evaluation metrics of the run (`ndcg@10` → 0.31, ...); values must be finite.
    pub metrics: BTreeMap<String, f64>,
}

impl Metadata {
    /// Metadata for a model trained now (to the second) on `dataset`, by this code version
    /// (`git_hash`: optional commit of the caller's checkout), with no metrics yet.
    pub fn new(dataset: impl Into<String>, git_hash: Option<&str>) -> Self {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        Self {
            created_at: UNIX_EPOCH + Duration::from_secs(secs),
            code_version: code_version(git_hash),
            dataset: dataset.into(),
            metrics: BTreeMap::new(),
        }
    }
}

/// The code version written into artifacts: the workspace version, plus `+<git hash>` when the
/// caller knows it (e.g. `0.1.0+7077e9b`).
pub fn code_version(git_hash: Option<&str>) -> String {
    match git_hash.map(str::trim).filter(|h| !h.is_empty()) {
        Some(hash) => format!("{}+{hash}", env!("CARGO_PKG_VERSION")),
        None => env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// Everything a serving process needs to answer queries: the model, the id maps that translate
/// external ids, what each user rated (the training matrix, which scoring and explanations read,
/// and the other rated movies; lists leave out both), the catalogue and the run's metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Artifact {
    /// The trained model.
    pub model: TrainedModel,
    /// External user id ↔ dense user index (`n_users` entries).
    pub users: IdMap,
    /// External movie id ↔ dense item index (`n_items` entries).
    pub items: IdMap,
    /// The training interactions, user × item (`n_users × n_items`): what the model learned
    /// from (implicit models: the positives, as 1.0; explicit ALS: every rating).
    pub seen: Csr,
    /// The movies each user rated that are not in `seen` (implicit models: the ratings below
    /// the positive threshold, values = the ratings; empty for explicit ALS), `n_users ×
    /// n_items`. Together with `seen` it is every movie the user rated, which lists leave out.
    pub also_seen: Csr,
    /// The catalogue (may be empty; may hold movies the model never saw).
    pub movies: Vec<MovieInfo>,
    /// Facts about the run.
    pub meta: Metadata,
    /// The format version the artifact was read from when it was older than the current one
    /// and upgraded on read (`Some(1)`: no also-seen movies were stored, so lists leave out only
    /// the training matrix's movies until the model is retrained); `None` otherwise.
    pub upgraded_from: Option<u32>,
}

impl Artifact {
    /// The model as the engine's query interface.
    pub fn recommender(&self) -> &dyn Recommender {
        self.model.as_recommender()
    }

    /// The training users as the engine's queries see them: the training matrix and the other
    /// rated movies. Fails only when their shapes disagree, which
    /// [`Artifact::check_consistent`] (and so every read artifact) rules out.
    pub fn training_users(&self) -> Result<TrainingUsers<'_>, EngineError> {
        TrainingUsers::new(&self.seen, &self.also_seen)
    }

    /// A warning for loaders to show when the artifact was upgraded from an older format, or
    /// `None`.
    pub fn upgrade_warning(&self) -> Option<String> {
        self.upgraded_from.map(|version| {
            format!(
                "model file format v{version} (this build writes v{}): it does not record the movies \
                 users rated below the positive threshold, so they can be recommended back; retrain \
                 the model to leave out every rated movie",
                crate::format::FORMAT_VERSION
            )
        })
    }

    /// Checks that the parts agree: the id maps and the training matrix have the model's
    /// numbers of users and items, and the metrics are finite. [`crate::write_artifact`] calls it.
    pub fn check_consistent(&self) -> Result<(), ArtifactError> {
        let model = self.recommender();
        let (n_users, n_items) = (model.n_users(), model.n_items());
        let checks = [
            ("user id map length", n_users, self.users.len()),
            ("item id map length", n_items, self.items.len()),
            ("training matrix rows", n_users, self.seen.n_rows()),
            ("training matrix columns", n_items, self.seen.n_cols()),
            ("also-seen matrix rows", n_users, self.also_seen.n_rows()),
            ("also-seen matrix columns", n_items, self.also_seen.n_cols()),
        ];
        for (what, expected, got) in checks {
            if expected != got {
                return Err(ArtifactError::Inconsistent { what, expected, got });
            }
        }
        if let Some((name, value)) = self.meta.metrics.iter().find(|(_, v)| !v.is_finite()) {
            return Err(ArtifactError::NonFiniteMetric { name: name.clone(), value: *value });
        }
        Ok(())
    }
}
