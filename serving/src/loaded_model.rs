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

use artifacts::{Artifact, ModelKind, ModelParams, VersionId};
use engine::{
    EngineError, Explanation, QuantizedIndex, RecommendOptions, Recommender, Row, ScoredItem, TopK,
};
use thiserror::Error;

use crate::scans::{ScanAnswer, ScanJob, ScanQueue};

/// Largest `n` a query may ask for.
pub const MAX_N: usize = 1000;

/// Ratings at or above this are positive interactions (value 1.0) for every model but explicit
/// ALS, which learns from the ratings themselves: the rule `cinerec train` uses, applied to the
/// overlay so that a folded-in user is comparable to the trained ones.
pub use artifacts::POSITIVE_THRESHOLD;

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
    /// Recent movies of the request to fold in: `(item_idx, value)` sorted by item, unique;
    /// training values win for movies in both.
    pub recent: Vec<(u32, f32)>,
    /// The overlay's rating changes newer than the model, as interactions: `(item_idx, value)`
    /// sorted by item, unique; `None` removes the item from the history (a deleted rating, or
    /// one below the positive threshold). They win over training values.
    pub rated: Vec<(u32, Option<f32>)>,
    /// Movies the overlay says the user rated below the positive threshold (sorted, unique): not
    /// part of the history, but seen, so left out with the training's also-seen movies.
    pub rated_not_positive: Vec<u32>,
    /// The user's blocked movies (sorted, unique): never returned, but not part of the cached
    /// list, which is filtered at read time.
    pub blocked: Vec<u32>,
}

impl RecommendQuery {
    /// The plain query of user `user_id` (index `user_idx` when the model knows them) for `n`
    /// movies: seen movies left out, nothing else (what the cache holds for known users).
    pub fn plain(user_id: u64, user_idx: Option<u32>, n: usize) -> Self {
        Self {
            user_id,
            user_idx,
            n,
            exclude_seen: true,
            allow: None,
            deny: Vec::new(),
            recent: Vec::new(),
            rated: Vec::new(),
            rated_not_positive: Vec::new(),
            blocked: Vec::new(),
        }
    }

    /// A plain query for a known user (no filters, no recent history or rating changes, seen
    /// movies left out): the only kind answered from, and stored in, the cache. Blocked movies
    /// do not count: they are filtered out of the cached list.
    pub fn is_cacheable(&self) -> bool {
        self.user_idx.is_some()
            && self.exclude_seen
            && self.allow.is_none()
            && self.deny.is_empty()
            && self.recent.is_empty()
            && self.rated.is_empty()
    }

    /// The user of a query a scan of the index answers (a known user, nothing to fold in, no
    /// allow list), `None` for the others.
    pub fn scan_user(&self) -> Option<u32> {
        self.user_idx.filter(|_| self.recent.is_empty() && self.rated.is_empty() && self.allow.is_none())
    }

    /// The denied movies with the blocked ones, sorted.
    fn denied(&self) -> std::borrow::Cow<'_, [u32]> {
        match self.blocked.is_empty() {
            true => std::borrow::Cow::Borrowed(&self.deny),
            false => std::borrow::Cow::Owned(merge_sorted(&self.deny, &self.blocked)),
        }
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
    /// The hyperparameters: how a rating becomes an interaction.
    params: ModelParams,
    /// The candidate index (factor models, unless scoring is exact).
    index: Option<QuantizedIndex>,
    /// Known users' index scans waiting to be answered together.
    scans: ScanQueue,
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
        let params = artifact.model.params();
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
            params,
            index,
            scans: ScanQueue::default(),
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
                rated: Vec::new(),
                rated_not_positive: Vec::new(),
                blocked: Vec::new(),
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
        trial("fold-in of the most popular item", None, vec![(self.popular[0], self.recent_value())])
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

    /// The value a recent movie gets in a fold-in history: what a positive rating
    /// ([`POSITIVE_THRESHOLD`]) becomes, 1.0 for models trained on interactions, 4.0 for
    /// explicit ALS.
    pub fn recent_value(&self) -> f32 {
        self.interaction_value(POSITIVE_THRESHOLD).unwrap_or(1.0)
    }

    /// The interaction a rating becomes, by the rule the model was trained with
    /// ([`ModelParams::interaction_value`]): the rating itself for explicit ALS, else 1.0 at or
    /// above [`POSITIVE_THRESHOLD`], and below it the blend's low-rating value or nothing.
    pub fn interaction_value(&self, rating: f32) -> Option<f32> {
        self.params.interaction_value(rating)
    }

    /// When the model was trained, milliseconds since the Unix epoch: rating changes made
    /// before are in it.
    pub fn trained_at_ms(&self) -> i64 {
        let created = self.artifact.meta.created_at;
        created.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
    }

    /// Top-`n` for `query` (`n` may exceed `query.n`: the cache stores a deeper list). Blocked
    /// movies are left out like denied ones.
    pub fn recommend(&self, query: &RecommendQuery, n: usize) -> Result<Recommendations, EngineError> {
        let deny = query.denied();
        let options = RecommendOptions {
            n,
            exclude_seen: query.exclude_seen,
            allow: query.allow.as_deref(),
            deny: &deny,
        };
        let (model, training) = (self.recommender(), self.artifact.training_users()?);
        if let (Some(user_idx), true, true) =
            (query.user_idx, query.recent.is_empty(), query.rated.is_empty())
        {
            let items = match &self.index {
                Some(index) => index.recommend(model, training, user_idx, &options)?,
                None => engine::recommend::recommend(model, training, user_idx, &options)?,
            };
            return Ok(Recommendations { items, source: Source::Model });
        }
        // A known user's other rated movies (training and overlay) stay seen when their history
        // is folded in.
        let trained_also_seen = match query.user_idx {
            Some(user_idx) => training.checked(user_idx)?.1.also,
            None => &[],
        };
        let also_seen = match query.rated_not_positive.is_empty() {
            true => std::borrow::Cow::Borrowed(trained_also_seen),
            false => std::borrow::Cow::Owned(merge_sorted(trained_also_seen, &query.rated_not_positive)),
        };
        let (indices, values) = self.history(query.user_idx, &query.recent, &query.rated);
        if indices.is_empty() {
            let seen = if options.exclude_seen { &also_seen[..] } else { &[] };
            return Ok(Recommendations { items: self.popular(&options, seen), source: Source::Popularity });
        }
        let history = Row::new(&indices, &values);
        let items = match &self.index {
            Some(index) => index.recommend_for_history(model, history, &also_seen, &options)?,
            None => engine::recommend::recommend_for_history(model, history, &also_seen, &options)?,
        };
        Ok(Recommendations { items, source: Source::FoldIn })
    }

    /// A known user's top-`n` as a scan job: the query's deny list with its blocked movies.
    /// Only for queries [`RecommendQuery::scan_user`] names a user of.
    pub fn scan_job(
        &self,
        query: &RecommendQuery,
        n: usize,
    ) -> Option<(ScanJob, tokio::sync::oneshot::Receiver<ScanAnswer>)> {
        let user_idx = query.scan_user()?;
        Some(ScanJob::new(user_idx, n, query.exclude_seen, query.denied().into_owned()))
    }

    /// The known users' scans waiting to be answered together.
    pub fn scans(&self) -> &ScanQueue {
        &self.scans
    }

    /// Answers `jobs` as [`Self::recommend`] would answer each, in one pass over the index's
    /// codes per group of four.
    pub fn answer_scans(&self, jobs: Vec<ScanJob>) {
        let queries: Vec<(u32, RecommendOptions<'_>)> =
            jobs.iter().map(|j| (j.user_idx, j.options())).collect();
        let answers = self.scan_group(&queries).unwrap_or_else(|err| vec![Err(err); queries.len()]);
        drop(queries);
        for (job, answer) in jobs.into_iter().zip(answers) {
            job.reply(answer);
        }
    }

    fn scan_group(&self, queries: &[(u32, RecommendOptions<'_>)]) -> Result<Vec<ScanAnswer>, EngineError> {
        let (model, training) = (self.recommender(), self.artifact.training_users()?);
        match &self.index {
            Some(index) => index.recommend_group(model, training, queries),
            None => Ok(queries
                .iter()
                .map(|(user, options)| engine::recommend::recommend(model, training, *user, options))
                .collect()),
        }
    }

    /// The most popular items passing the allow/deny filters and not in `seen` (sorted: a user
    /// with ratings but no history to fold in); scores are training-user counts.
    fn popular(&self, options: &RecommendOptions<'_>, seen: &[u32]) -> Vec<ScoredItem> {
        let denied =
            |item: u32| options.deny.binary_search(&item).is_ok() || seen.binary_search(&item).is_ok();
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

    /// The training history of `user_idx` (if any) changed by `rated` (which wins: a value
    /// replaces or adds, `None` removes), then with `recent` added (training values win).
    pub fn history(
        &self,
        user_idx: Option<u32>,
        recent: &[(u32, f32)],
        rated: &[(u32, Option<f32>)],
    ) -> (Vec<u32>, Vec<f32>) {
        let base = match user_idx {
            Some(user) => self.artifact.seen.row(user as usize),
            None => Row::new(&[], &[]),
        };
        let base = base.indices.iter().copied().zip(base.values.iter().copied().map(Some));
        // Rated first, so that it wins over the training row; recent last, so that it loses.
        let changed = merge_by_item(rated.iter().copied(), base);
        let res = merge_by_item(changed.into_iter(), recent.iter().map(|&(item, value)| (item, Some(value))));
        res.into_iter().filter_map(|(item, value)| value.map(|v| (item, v))).unzip()
    }

    /// The `n` items most similar to `item_idx` (itself excluded).
    pub fn similar(&self, item_idx: u32, n: usize) -> Result<Vec<ScoredItem>, EngineError> {
        engine::recommend::similar_items(self.recommender(), item_idx, n)
    }

    /// Why `item_idx` scores as it does for a training user (no `recent`, no `rated`), or for
    /// the history of `user_idx` (if known) changed by `rated` and with `recent` added.
    pub fn explain(
        &self,
        user_idx: Option<u32>,
        recent: &[(u32, f32)],
        rated: &[(u32, Option<f32>)],
        item_idx: u32,
    ) -> Result<Explanation, EngineError> {
        match (user_idx, recent.is_empty() && rated.is_empty()) {
            (Some(user), true) => {
                engine::recommend::explain(self.recommender(), &self.artifact.seen, user, item_idx)
            }
            _ => {
                let (indices, values) = self.history(user_idx, recent, rated);
                self.recommender().explain(None, Row::new(&indices, &values), item_idx)
            }
        }
    }
}

/// Merges two item-sorted, unique sequences; for an item in both, `first`'s entry wins.
fn merge_by_item<V>(
    first: impl Iterator<Item = (u32, V)>,
    second: impl Iterator<Item = (u32, V)>,
) -> Vec<(u32, V)> {
    let (mut first, mut second) = (first.peekable(), second.peekable());
    let mut res = Vec::with_capacity(first.size_hint().0 + second.size_hint().0);
    loop {
        let next = match (first.peek(), second.peek()) {
            (Some(a), Some(b)) if a.0 == b.0 => {
                second.next();
                first.next()
            }
            (Some(a), Some(b)) if a.0 < b.0 => first.next(),
            (Some(_), Some(_)) | (None, Some(_)) => second.next(),
            (Some(_), None) => first.next(),
            (None, None) => return res,
        };
        res.extend(next);
    }
}

/// The sorted union of two sorted, unique lists.
fn merge_sorted(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut res = Vec::with_capacity(a.len() + b.len());
    res.extend_from_slice(a);
    res.extend_from_slice(b);
    res.sort_unstable();
    res.dedup();
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_keep_the_first_sequence_on_ties() {
        let first = [(1u32, 'a'), (4, 'b')];
        let second = [(0u32, 'x'), (1, 'y'), (5, 'z')];
        let merged = merge_by_item(first.into_iter(), second.into_iter());
        assert_eq!(merged, [(0, 'x'), (1, 'a'), (4, 'b'), (5, 'z')]);
        assert_eq!(merge_by_item(std::iter::empty::<(u32, ())>(), std::iter::empty()), []);
        assert_eq!(merge_sorted(&[1, 3], &[2, 3]), [1, 2, 3]);
    }
}
