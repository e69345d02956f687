//! One loaded model, ready to serve: the [`Artifact`], what is precomputed from it (titles by
//! item, the popularity ranking for users with no history, the int8 candidate index of factor
//! models) and the queries on it. Everything here is synchronous compute over dense indices;
//! callers run it off the async executor.
//!
//! Top-N of factor models (implicit and explicit ALS) goes through [`QuantizedIndex`]: int8
//! scores of every item shortlist `max(4n, n + 64)` candidates, which are re-scored exactly. The
//! returned scores are the model's exact f32 scores; only which items make the list can differ
//! from scoring every item exactly, when a true top-N item falls outside the shortlist (recall@10
//! against the exact scan is measured in the tests). [`Scoring::Exact`] turns the index off.

use std::time::{Instant, SystemTime};

use artifacts::{Artifact, ModelKind, VersionId};
use engine::{
    EngineError, Explanation, QuantizedIndex, RecommendOptions, Recommender, Row, ScoredItem, TopK,
};
use thiserror::Error;

/// Largest `n` a query may ask for.
pub const MAX_N: usize = 1000;

/// How top-N lists of factor models are computed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Scoring {
    /// The int8 candidate index with exact re-ranking (factor models; others score exactly).
    #[default]
    Quantized,
    /// Every item scored in f32.
    Exact,
}

/// Where a recommendation list came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The model's vector for a user it was trained on.
    Model,
    /// A vector folded in from the user's recent movies (plus their training history).
    FoldIn,
    /// The popularity ranking: the user is unknown and gave no history.
    Popularity,
}

/// A validated top-N query in the model's index space (see [`crate::convert`]).
#[derive(Clone, Debug, PartialEq)]
pub struct RecommendQuery {
    /// External user id.
    pub user_id: u64,
    /// The user's index, when the model was trained on them.
    pub user_idx: Option<u32>,
    /// How many movies to return (1..=[`MAX_N`]).
    pub n: usize,
    /// Leave out movies in the user's history.
    pub exclude_seen: bool,
    /// When set, only these items (sorted, unique).
    pub allow: Option<Vec<u32>>,
    /// Never these items (sorted, unique).
    pub deny: Vec<u32>,
    /// Recent interactions to fold in: `(item_idx, value)` sorted by item, unique.
    pub recent: Vec<(u32, f32)>,
}

impl RecommendQuery {
    /// A plain query for a known user (no filters, no recent history, seen movies left out):
    /// the only kind answered from, and stored in, the cache.
    pub fn is_cacheable(&self) -> bool {
        self.user_idx.is_some()
            && self.exclude_seen
            && self.allow.is_none()
            && self.deny.is_empty()
            && self.recent.is_empty()
    }
}

/// A top-N answer in index space.
#[derive(Clone, Debug, PartialEq)]
pub struct Recommendations {
    /// Best first.
    pub items: Vec<ScoredItem>,
    /// How they were made.
    pub source: Source,
}

/// Why a loaded artifact is not served.
#[derive(Debug, Error)]
pub enum ModelError {
    /// The artifact's parts disagree.
    #[error("inconsistent artifact: {0}")]
    Inconsistent(#[from] artifacts::ArtifactError),
    /// The model has no items to recommend.
    #[error("the model has no items")]
    NoItems,
    /// A trial query failed.
    #[error("trial query ({query}) failed: {source}")]
    TrialQuery {
        /// The query.
        query: &'static str,
        /// The engine's error.
        source: EngineError,
    },
    /// A trial query returned a non-finite score.
    #[error("trial query ({query}) returned the non-finite score {score} for item {item_idx}")]
    NonFiniteScore {
        /// The query.
        query: &'static str,
        /// The item.
        item_idx: u32,
        /// The score.
        score: f32,
    },
}

/// A model ready to serve: immutable once built, shared by `Arc` between requests.
#[derive(Debug)]
pub struct ModelState {
    version: VersionId,
    artifact: Artifact,
    loaded_at: SystemTime,
    prepare_time: std::time::Duration,
    /// Title of each item (empty when the catalogue does not have it).
    titles: Vec<String>,
    /// Each item's number of training users.
    popularity: Vec<f32>,
    /// Every item, most popular first (ties: lower index first).
    popular: Vec<u32>,
    /// The value a recent interaction gets in a fold-in history.
    recent_value: f32,
    /// The candidate index (factor models, unless scoring is exact).
    index: Option<QuantizedIndex>,
}

impl ModelState {
    /// Checks `artifact` (consistency, a trial user query and a trial fold-in with finite
    /// scores) and precomputes what serving needs. Runs for a fraction of a second on large
    /// models: call it off the executor.
    pub fn prepare(version: VersionId, artifact: Artifact, scoring: Scoring) -> Result<Self, ModelError> {
        let started = Instant::now();
        artifact.check_consistent()?;
        let model = artifact.recommender();
        let n_items = model.n_items();
        if n_items == 0 {
            return Err(ModelError::NoItems);
        }
        let mut titles = vec![String::new(); n_items];
        for movie in &artifact.movies {
            if let Some(idx) = artifact.items.dense(movie.movie_id) {
                titles[idx as usize].clone_from(&movie.title);
            }
        }
        let mut popularity = vec![0f32; n_items];
        for &item in artifact.seen.indices() {
            popularity[item as usize] += 1.0;
        }
        let mut popular: Vec<u32> = (0..n_items as u32).collect();
        popular.sort_by(|&a, &b| popularity[b as usize].total_cmp(&popularity[a as usize]).then(a.cmp(&b)));
        let recent_value = recent_value(artifact.model.kind());
        let index = match scoring {
            Scoring::Quantized => QuantizedIndex::build(artifact.recommender()),
            Scoring::Exact => None,
        };
        let mut res = Self {
            version,
            artifact,
            loaded_at: SystemTime::now(),
            prepare_time: Default::default(),
            titles,
            popularity,
            popular,
            recent_value,
            index,
        };
        res.trial_queries()?;
        res.prepare_time = started.elapsed();
        Ok(res)
    }

    /// A top-10 of the first user and a fold-in of the most popular item, through the same
    /// path requests take (index included).
    fn trial_queries(&self) -> Result<(), ModelError> {
        let trial = |query: &'static str, user_idx: Option<u32>, recent: Vec<(u32, f32)>| {
            let request = RecommendQuery {
                user_id: 0,
                user_idx,
                n: 10,
                exclude_seen: false,
                allow: None,
                deny: Vec::new(),
                recent,
            };
            let items = self
                .recommend(&request, 10)
                .map_err(|source| ModelError::TrialQuery { query, source })?
                .items;
            match items.iter().find(|s| !s.score.is_finite()) {
                Some(bad) => {
                    Err(ModelError::NonFiniteScore { query, item_idx: bad.item_idx, score: bad.score })
                }
                None => Ok(()),
            }
        };
        if self.n_users() > 0 {
            trial("top-10 of user index 0", Some(0), Vec::new())?;
        }
        trial("fold-in of the most popular item", None, vec![(self.popular[0], self.recent_value)])
    }

    /// The store version.
    pub fn version(&self) -> &VersionId {
        &self.version
    }

    /// The artifact.
    pub fn artifact(&self) -> &Artifact {
        &self.artifact
    }

    /// The model as the engine's query interface.
    pub fn recommender(&self) -> &dyn Recommender {
        self.artifact.recommender()
    }

    /// The model kind.
    pub fn kind(&self) -> ModelKind {
        self.artifact.model.kind()
    }

    /// When this process loaded it.
    pub fn loaded_at(&self) -> SystemTime {
        self.loaded_at
    }

    /// The candidate index, when top-N goes through one.
    pub fn index(&self) -> Option<&QuantizedIndex> {
        self.index.as_ref()
    }

    /// How long the checks and precomputation took.
    pub fn prepare_time(&self) -> std::time::Duration {
        self.prepare_time
    }

    /// Users the model was trained on.
    pub fn n_users(&self) -> usize {
        self.artifact.users.len()
    }

    /// Movies the model can recommend.
    pub fn n_items(&self) -> usize {
        self.artifact.items.len()
    }

    /// The dense index of a user the model was trained on.
    pub fn user_idx(&self, user_id: u64) -> Option<u32> {
        self.artifact.users.dense(user_id)
    }

    /// The dense index of a movie the model knows.
    pub fn item_idx(&self, movie_id: u64) -> Option<u32> {
        self.artifact.items.dense(movie_id)
    }

    /// The external id of an item index (0 for an index out of range).
    pub fn movie_id(&self, item_idx: u32) -> u64 {
        self.artifact.items.external(item_idx).unwrap_or_default()
    }

    /// The title of an item index (empty when unknown).
    pub fn title(&self, item_idx: u32) -> &str {
        self.titles.get(item_idx as usize).map_or("", String::as_str)
    }

    /// The value a recent movie gets in a fold-in history: 1.0 for models trained on
    /// positive interactions, 4.0 (a positive rating) for explicit ALS.
    pub fn recent_value(&self) -> f32 {
        self.recent_value
    }

    /// Top-`n` for `query` (`n` may exceed `query.n`: the cache stores a deeper list).
    pub fn recommend(&self, query: &RecommendQuery, n: usize) -> Result<Recommendations, EngineError> {
        let options = RecommendOptions {
            n,
            exclude_seen: query.exclude_seen,
            allow: query.allow.as_deref(),
            deny: &query.deny,
        };
        let (model, seen) = (self.recommender(), &self.artifact.seen);
        match (query.user_idx, query.recent.is_empty()) {
            (Some(user_idx), true) => {
                let items = match &self.index {
                    Some(index) => index.recommend(model, seen, user_idx, &options)?,
                    None => engine::recommend::recommend(model, seen, user_idx, &options)?,
                };
                Ok(Recommendations { items, source: Source::Model })
            }
            (_, false) => {
                let (indices, values) = self.history(query.user_idx, &query.recent);
                let history = Row::new(&indices, &values);
                let items = match &self.index {
                    Some(index) => index.recommend_for_history(model, history, &options)?,
                    None => engine::recommend::recommend_for_history(model, history, &options)?,
                };
                Ok(Recommendations { items, source: Source::FoldIn })
            }
            (None, true) => Ok(Recommendations { items: self.popular(&options), source: Source::Popularity }),
        }
    }

    /// The most popular items passing the allow/deny filters (there is no history to leave
    /// out); scores are training-user counts.
    fn popular(&self, options: &RecommendOptions<'_>) -> Vec<ScoredItem> {
        let denied = |item: u32| options.deny.binary_search(&item).is_ok();
        let scored = |item: u32| ScoredItem { item_idx: item, score: self.popularity[item as usize] };
        match options.allow {
            Some(allow) => {
                let mut top = TopK::new(options.n);
                for &item in allow.iter().filter(|&&item| !denied(item)) {
                    top.push(item, self.popularity[item as usize]);
                }
                top.into_sorted_vec()
            }
            None => self
                .popular
                .iter()
                .copied()
                .filter(|&item| !denied(item))
                .take(options.n)
                .map(scored)
                .collect(),
        }
    }

    /// The training history of `user_idx` (if any) with `recent` added; training values win for
    /// movies in both.
    pub fn history(&self, user_idx: Option<u32>, recent: &[(u32, f32)]) -> (Vec<u32>, Vec<f32>) {
        let base = match user_idx {
            Some(user) => self.artifact.seen.row(user as usize),
            None => Row::new(&[], &[]),
        };
        let mut indices = Vec::with_capacity(base.len() + recent.len());
        let mut values = Vec::with_capacity(base.len() + recent.len());
        let (mut i, mut j) = (0, 0);
        while i < base.len() || j < recent.len() {
            let take_base = j == recent.len() || (i < base.len() && base.indices[i] <= recent[j].0);
            if take_base {
                if j < recent.len() && base.indices[i] == recent[j].0 {
                    j += 1;
                }
                indices.push(base.indices[i]);
                values.push(base.values[i]);
                i += 1;
            } else {
                indices.push(recent[j].0);
                values.push(recent[j].1);
                j += 1;
            }
        }
        (indices, values)
    }

    /// The `n` items most similar to `item_idx` (itself excluded).
    pub fn similar(&self, item_idx: u32, n: usize) -> Result<Vec<ScoredItem>, EngineError> {
        engine::recommend::similar_items(self.recommender(), item_idx, n)
    }

    /// Why `item_idx` scores as it does for a training user (no `recent`), or for the history
    /// of `user_idx` (if known) plus `recent`.
    pub fn explain(
        &self,
        user_idx: Option<u32>,
        recent: &[(u32, f32)],
        item_idx: u32,
    ) -> Result<Explanation, EngineError> {
        match (user_idx, recent.is_empty()) {
            (Some(user), true) => {
                engine::recommend::explain(self.recommender(), &self.artifact.seen, user, item_idx)
            }
            _ => {
                let (indices, values) = self.history(user_idx, recent);
                self.recommender().explain(None, Row::new(&indices, &values), item_idx)
            }
        }
    }
}

/// See [`ModelState::recent_value`].
fn recent_value(kind: ModelKind) -> f32 {
    match kind {
        ModelKind::ExplicitAls => 4.0,
        _ => 1.0,
    }
}
