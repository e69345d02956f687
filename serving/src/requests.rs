//! [`Serving`]: the request logic behind every RPC, independent of tonic. Each request takes the
//! current model once and uses it throughout; engine work runs behind a semaphore
//! ([`ServingConfig::query_limit`](crate::ServingConfig::query_limit) permits): on the blocking
//! pool, except a known user's top-N through the int8 index of a model within
//! [`INLINE_SCAN_CODES`], which takes tens of microseconds (less than handing it to another
//! thread costs) and runs on the request's task, coalesced with the other such scans waiting
//! for a permit ([`crate::scans`]).

use std::sync::Arc;

use engine::{EngineError, ScoredItem};
use proto::recommendation::v1 as pb;
use rayon::prelude::*;
use tokio::sync::Semaphore;
use tracing::info;

use crate::cache::{CACHE_DEPTH, CacheError, RecCache};
use crate::convert::{self, MAX_BATCH};
use crate::error::ServeError;
use crate::loaded_model::{ModelState, RecommendQuery, Recommendations, Source};
use crate::metrics::{Metrics, PoolLabels};
use crate::model_slot::{Models, RefreshError, RefreshOutcome};
use crate::overlay::{Overlays, RecentRating, Updated};

/// The shared state of a running service.
#[derive(Debug)]
pub struct Serving {
    models: Models,
    cache: RecCache,
    overlays: Arc<Overlays>,
    limiter: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

/// What [`Serving::record_rating`] did with a rating change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RatingOutcome {
    /// Added to the user's overlay: their next answers fold it in.
    Applied,
    /// Made before the serving model was trained, so the model has it: not added.
    OlderThanModel,
}

/// One top-N query on its way through cache and engine.
struct Entry {
    query: RecommendQuery,
    /// Use the cache for it (plain query, no rating changes, n within the cached depth).
    cacheable: bool,
    /// The user's cache generation, read before anything was computed.
    generation: u64,
    /// Blocked movies of a cacheable query, taken out of it: the cached list is the plain one,
    /// filtered at read time.
    blocked: Vec<u32>,
    /// The plain list was found (cached or computed) but too short once blocked movies are out.
    short: bool,
    /// A plain list computed to be cached.
    fresh: Option<Vec<ScoredItem>>,
    /// The answer and whether it came from the cache.
    answer: Option<(Recommendations, bool)>,
}

/// The largest index (items × factors) whose known-user scan runs inline: the ML-20M shape at
/// 128 factors (26,744 × 128 ≈ 3.4 M codes, ~50–65 µs per top-10 on one core) fits.
pub const INLINE_SCAN_CODES: usize = 4 << 20;

impl Entry {
    /// Whether answering takes only a scan of `model`'s int8 index: a known user, nothing to
    /// fold in, no allow list, and an index within [`INLINE_SCAN_CODES`].
    fn is_inline_scan(&self, model: &ModelState) -> bool {
        self.query.scan_user().is_some()
            && model.index().is_some_and(|index| index.n_items() * index.n_factors() <= INLINE_SCAN_CODES)
    }

    fn new(mut query: RecommendQuery, cacheable: bool, cache: &RecCache) -> Self {
        let (generation, blocked) = match cacheable {
            true => (cache.generation(query.user_id), std::mem::take(&mut query.blocked)),
            false => (0, Vec::new()),
        };
        Self { query, cacheable, generation, blocked, short: false, fresh: None, answer: None }
    }

    /// Answers from a cached plain list if it still holds `n` movies without the blocked ones.
    fn use_cached(&mut self, items: Vec<ScoredItem>) {
        match without_blocked(items, &self.blocked, self.query.n) {
            Some(items) => self.answer = Some((Recommendations { items, source: Source::Model }, true)),
            None => self.short = true,
        }
    }

    /// Computes the answer if the cache did not give one: the plain list to cache (then
    /// filtered), or, when that is not possible or too short, the query with its blocked movies.
    fn compute(&mut self, model: &ModelState) -> Result<(), EngineError> {
        while let Some(step) = self.next_step() {
            let answer = model.recommend(&self.query, self.depth(step))?;
            self.take(step, answer);
        }
        Ok(())
    }

    /// What [`Self::compute`] asks the model next, `None` once answered.
    fn next_step(&mut self) -> Option<Step> {
        if self.answer.is_some() {
            None
        } else if self.cacheable && !self.short && self.fresh.is_none() {
            Some(Step::Plain)
        } else {
            self.query.blocked.append(&mut self.blocked);
            Some(Step::Final)
        }
    }

    /// How many items `step` asks for.
    fn depth(&self, step: Step) -> usize {
        match step {
            Step::Plain => CACHE_DEPTH,
            Step::Final => self.query.n,
        }
    }

    /// Takes the model's answer to `step`.
    fn take(&mut self, step: Step, answer: Recommendations) {
        match step {
            Step::Plain => {
                self.fresh = Some(answer.items.clone());
                if let Some(items) = without_blocked(answer.items, &self.blocked, self.query.n) {
                    self.answer = Some((Recommendations { items, source: answer.source }, false));
                }
            }
            Step::Final => self.answer = Some((answer, false)),
        }
    }
}

/// A query an [`Entry`] asks the model.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// The plain list of [`CACHE_DEPTH`] items to cache, blocked movies filtered out after.
    Plain,
    /// The query itself, blocked movies left out by the model.
    Final,
}

/// `items` without the `blocked` ones, unless fewer than `n` remain of a list that may have
/// had more (a full [`CACHE_DEPTH`] list).
fn without_blocked(mut items: Vec<ScoredItem>, blocked: &[u32], n: usize) -> Option<Vec<ScoredItem>> {
    if blocked.is_empty() {
        return Some(items);
    }
    let complete = items.len() < CACHE_DEPTH;
    items.retain(|s| blocked.binary_search(&s.item_idx).is_err());
    (items.len() >= n || complete).then_some(items)
}

impl Serving {
    /// The state over `models` and `cache`, running at most `query_limit` engine queries at once
    /// and holding overlays of at most `overlay_max_users` users. Every model swapped in drops
    /// the overlay ratings made before it was trained.
    pub fn new(
        models: Models,
        cache: RecCache,
        query_limit: usize,
        overlay_max_users: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        let overlays = Arc::new(Overlays::new(overlay_max_users));
        let (hook_overlays, hook_metrics) = (overlays.clone(), metrics.clone());
        models.on_swap(Box::new(move |model| {
            let trained_at_ms = model.trained_at_ms();
            let dropped = hook_overlays.drop_ratings_before(trained_at_ms);
            hook_metrics.overlay_users.set(hook_overlays.len() as i64);
            if dropped > 0 {
                info!(version = %model.version(), trained_at_ms, dropped_users = dropped, "dropped overlays the new model was trained on");
            }
        }));
        Self { models, cache, overlays, limiter: Arc::new(Semaphore::new(query_limit.max(1))), metrics }
    }

    /// The serving model and its refresh.
    pub fn models(&self) -> &Models {
        &self.models
    }

    /// The recommendation cache.
    pub fn cache(&self) -> &RecCache {
        &self.cache
    }

    /// Per-user overlays (see [`crate::overlay`]).
    pub fn overlays(&self) -> &Overlays {
        &self.overlays
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Stops admitting engine queries (shutdown): waiting and later ones get UNAVAILABLE.
    pub fn close(&self) {
        self.limiter.close();
    }

    fn model(&self) -> Result<Arc<ModelState>, ServeError> {
        self.models.current().ok_or(ServeError::NoModel)
    }

    /// Runs `work` on the blocking pool once a query permit is free.
    async fn compute<T: Send + 'static>(
        &self,
        model: &Arc<ModelState>,
        work: impl FnOnce(&ModelState) -> T + Send + 'static,
    ) -> Result<T, ServeError> {
        let permit = self.limiter.clone().acquire_owned().await.map_err(|_| ServeError::ShuttingDown)?;
        self.metrics.engine_queries.get_or_create(&PoolLabels { pool: "blocking" }).inc();
        let model = model.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work(&model)
        })
        .await
        .map_err(ServeError::Task)
    }

    /// Top-N for one user: from the cache for plain queries of known users (blocked movies
    /// filtered out at read time), else the model (fold-in with recent movies and rating changes,
    /// popularity for unknown users without history).
    pub async fn recommend(
        &self,
        request: pb::RecommendRequest,
    ) -> Result<pb::RecommendResponse, ServeError> {
        let model = self.model()?;
        let overlay = self.overlays.get(request.user_id);
        let query = convert::recommend_query(&request, &model, overlay.as_deref(), "")?;
        let (n, user_id) = (query.n, query.user_id);
        let cacheable = self.cacheable(&query);
        let mut entry = Entry::new(query, cacheable, &self.cache);
        if cacheable && let Some(items) = self.cache.get(model.version(), user_id, model.n_items()).await {
            entry.use_cached(items);
        }
        if entry.answer.is_none() && entry.is_inline_scan(&model) {
            while let Some(step) = entry.next_step() {
                let answer = self.scan(&model, &entry.query, entry.depth(step)).await?;
                entry.take(step, answer);
            }
        }
        if entry.answer.is_none() {
            entry = self
                .compute(&model, move |m| entry.compute(m).map(|()| entry))
                .await?
                .map_err(engine_error)?;
        }
        if let Some(fresh) = &entry.fresh {
            self.cache.put(model.version(), user_id, fresh, entry.generation);
        }
        let (answer, cached) = entry.answer.expect("every entry is answered");
        Ok(convert::recommend_response(&model, &answer, n, cached))
    }

    /// A known user's top-`depth` through the index (an [`Entry::is_inline_scan`] query),
    /// coalesced with the scans waiting for a permit (see [`crate::scans`]): each turn of a
    /// permit answers every waiting job on this task, up to [`crate::scans::MAX_COALESCED`].
    async fn scan(
        &self,
        model: &ModelState,
        query: &RecommendQuery,
        depth: usize,
    ) -> Result<Recommendations, ServeError> {
        let (job, mut answer) = model.scan_job(query, depth).expect("inline scans are scan jobs");
        model.scans().push(job);
        self.metrics.engine_queries.get_or_create(&PoolLabels { pool: "inline" }).inc();
        // Let this worker decode the requests that came in meanwhile: their scans join the
        // queue, and the turn below answers them with this one (alone, this costs a poll).
        tokio::task::yield_now().await;
        let items = loop {
            if let Ok(items) = answer.try_recv() {
                break items;
            }
            let permit = self.limiter.acquire().await.map_err(|_| ServeError::ShuttingDown)?;
            let jobs = model.scans().take();
            if jobs.is_empty() {
                // Not answered and not waiting: another turn holds the job and replies on it.
                drop(permit);
                break answer.await.map_err(|_| ServeError::TurnLost)?;
            }
            self.metrics.scan_turns.inc();
            model.answer_scans(jobs);
        };
        Ok(Recommendations { items: items.map_err(engine_error)?, source: Source::Model })
    }

    fn cacheable(&self, query: &RecommendQuery) -> bool {
        self.cache.is_enabled() && query.is_cacheable() && query.n <= CACHE_DEPTH
    }

    /// Many users' top-N, each answered as [`Self::recommend`] would, by one model: one cache
    /// round trip for the plain entries, then the rest in parallel on one query permit.
    pub async fn recommend_batch(
        &self,
        request: pb::RecommendBatchRequest,
    ) -> Result<pb::RecommendBatchResponse, ServeError> {
        let model = self.model()?;
        match request.requests.len() {
            0 => return Err(ServeError::invalid("requests", "must hold at least one request")),
            len if len > MAX_BATCH => {
                return Err(ServeError::invalid(
                    "requests",
                    format!("must hold at most {MAX_BATCH} requests, got {len}"),
                ));
            }
            _ => {}
        }
        let mut entries = Vec::with_capacity(request.requests.len());
        for (i, request) in request.requests.iter().enumerate() {
            let overlay = self.overlays.get(request.user_id);
            let query =
                convert::recommend_query(request, &model, overlay.as_deref(), &format!("requests[{i}]."))?;
            let cacheable = self.cacheable(&query);
            entries.push(Entry::new(query, cacheable, &self.cache));
        }
        let lookups: Vec<usize> = (0..entries.len()).filter(|&i| entries[i].cacheable).collect();
        if !lookups.is_empty() {
            let users: Vec<u64> = lookups.iter().map(|&i| entries[i].query.user_id).collect();
            let found = self.cache.get_many(model.version(), &users, model.n_items()).await;
            for (&i, items) in lookups.iter().zip(found) {
                if let Some(items) = items {
                    entries[i].use_cached(items);
                }
            }
        }
        if entries.iter().any(|e| e.answer.is_none()) {
            entries = self
                .compute(&model, move |m| {
                    entries
                        .into_par_iter()
                        .map(|mut entry| entry.compute(m).map(|()| entry))
                        .collect::<Result<Vec<Entry>, EngineError>>()
                })
                .await?
                .map_err(engine_error)?;
        }
        let mut responses = Vec::with_capacity(entries.len());
        for entry in entries {
            if let Some(fresh) = &entry.fresh {
                self.cache.put(model.version(), entry.query.user_id, fresh, entry.generation);
            }
            let (answer, cached) = entry.answer.expect("every entry is answered");
            responses.push(convert::recommend_response(&model, &answer, entry.query.n, cached));
        }
        Ok(pb::RecommendBatchResponse { responses, model_version: model.version().to_string() })
    }

    /// The movies most similar to one movie.
    pub async fn similar_movies(
        &self,
        request: pb::SimilarMoviesRequest,
    ) -> Result<pb::SimilarMoviesResponse, ServeError> {
        let model = self.model()?;
        let n = convert::count(request.n, "n")?;
        let item = convert::item(&model, request.movie_id, "movie_id")?;
        let items: Vec<ScoredItem> =
            self.compute(&model, move |m| m.similar(item, n)).await?.map_err(engine_error)?;
        Ok(pb::SimilarMoviesResponse {
            movies: convert::scored_movies(&model, &items),
            model_version: model.version().to_string(),
        })
    }

    /// Why a movie scores as it does for a user (training history, plus recent movies).
    pub async fn explain(&self, request: pb::ExplainRequest) -> Result<pb::ExplainResponse, ServeError> {
        let model = self.model()?;
        let n = convert::count(request.n, "n")?;
        let item = convert::item(&model, request.movie_id, "movie_id")?;
        let recent = convert::recent(&model, &request.recent_movie_ids, "recent_movie_ids")?;
        let overlay = self.overlays.get(request.user_id);
        let rated = convert::overlay_parts(&model, overlay.as_deref()).rated;
        let user_idx = model.user_idx(request.user_id);
        if user_idx.is_none() && recent.is_empty() && rated.iter().all(|(_, value)| value.is_none()) {
            return Err(ServeError::NotFound {
                field: "user_id".into(),
                what: "user",
                id: request.user_id,
                version: model.version().to_string(),
            });
        }
        let explanation = self
            .compute(&model, move |m| m.explain(user_idx, &recent, &rated, item))
            .await?
            .map_err(engine_error)?;
        Ok(convert::explain_response(&model, &explanation, n))
    }

    /// Facts about the serving model.
    pub fn model_info(&self) -> Result<pb::ModelInfoResponse, ServeError> {
        Ok(convert::model_info(&*self.model()?))
    }

    /// Checks the store for a newer model now.
    pub async fn refresh_model(&self) -> Result<pb::RefreshModelResponse, ServeError> {
        let outcome = self.models.refresh().await.map_err(|RefreshError::Store(e)| ServeError::Store(e))?;
        let model_version = self.models.current().map(|m| m.version().to_string()).unwrap_or_default();
        Ok(pb::RefreshModelResponse {
            model_version,
            swapped: matches!(outcome, RefreshOutcome::Swapped { .. }),
        })
    }

    /// Drops the cached list of `user_id` for the serving model; `Ok(true)` if there was one.
    /// Lists computed before this call are not cached afterwards (see [`crate::cache`]).
    pub async fn invalidate_user(&self, user_id: u64) -> Result<bool, CacheError> {
        match self.models.current() {
            Some(model) => self.cache.invalidate_user(model.version(), user_id).await,
            None => {
                self.cache.bump_generation(user_id);
                Ok(false)
            }
        }
    }

    /// Adds a rating change (`rating: None` for a deleted rating) to the user's overlay, unless
    /// it was made before the serving model was trained. The caller invalidates the user's cached
    /// list ([`Self::invalidate_user`]); the event consumer does.
    pub fn record_rating(&self, user_id: u64, rating: RecentRating) -> RatingOutcome {
        if let Some(model) = self.models.current()
            && rating.timestamp_ms < model.trained_at_ms()
        {
            return RatingOutcome::OlderThanModel;
        }
        let updated = self.overlays.record_rating(user_id, rating);
        self.overlay_changed(updated);
        RatingOutcome::Applied
    }

    /// Replaces the user's blocked movies (never returned, cached lists included).
    pub fn set_blocked(&self, user_id: u64, movie_ids: &[u64]) {
        let updated = self.overlays.set_blocked(user_id, movie_ids);
        self.overlay_changed(updated);
    }

    /// Forgets the user's overlay: rating changes and blocked movies (a deleted account).
    pub fn forget_user(&self, user_id: u64) {
        self.overlays.remove(user_id);
        self.overlay_changed(Updated::default());
    }

    fn overlay_changed(&self, updated: Updated) {
        self.metrics.overlay_users.set(self.overlays.len() as i64);
        if updated.evicted > 0 {
            self.metrics.overlay_evictions.inc_by(updated.evicted as u64);
        }
    }
}

fn engine_error(err: EngineError) -> ServeError {
    match err {
        EngineError::Unsupported { model, operation } => ServeError::Unsupported { kind: model, operation },
        err => ServeError::Engine(err),
    }
}
