//! [`Serving`]: the request logic behind every RPC, independent of tonic. Each request takes the
//! current model once and uses it throughout; engine work runs on the blocking pool behind a
//! semaphore ([`ServingConfig::query_limit`](crate::ServingConfig::query_limit) permits), never
//! on the executor.

use std::sync::Arc;

use engine::{EngineError, ScoredItem};
use proto::recommendation::v1 as pb;
use rayon::prelude::*;
use tokio::sync::Semaphore;

use crate::cache::{CACHE_DEPTH, CacheError, RecCache};
use crate::convert::{self, MAX_BATCH};
use crate::error::ServeError;
use crate::metrics::Metrics;
use crate::model::{ModelState, RecommendQuery, Recommendations, Source};
use crate::models::{Models, RefreshError, RefreshOutcome};
use crate::overlay::Overlays;

/// The shared state of a running service.
#[derive(Debug)]
pub struct Serving {
    models: Models,
    cache: RecCache,
    overlays: Overlays,
    limiter: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

/// One batch entry on its way through cache and engine.
struct Entry {
    query: RecommendQuery,
    /// Use the cache for it (plain query, no overlay, n within the cached depth).
    cacheable: bool,
    answer: Option<(Recommendations, bool)>,
}

impl Serving {
    /// The state over `models` and `cache`, running at most `query_limit` engine queries at once.
    pub fn new(models: Models, cache: RecCache, query_limit: usize, metrics: Arc<Metrics>) -> Self {
        Self {
            models,
            cache,
            overlays: Overlays::default(),
            limiter: Arc::new(Semaphore::new(query_limit.max(1))),
            metrics,
        }
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
        let model = model.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work(&model)
        })
        .await
        .map_err(|e| ServeError::Task(e.to_string()))
    }

    /// Top-N for one user: from the cache for plain queries of known users, else the model
    /// (fold-in with recent movies, popularity for unknown users without history).
    pub async fn recommend(
        &self,
        request: pb::RecommendRequest,
    ) -> Result<pb::RecommendResponse, ServeError> {
        let model = self.model()?;
        let overlay = self.overlays.get(request.user_id);
        let query = convert::recommend_query(&request, &model, overlay.as_deref(), "")?;
        let n = query.n;
        let cacheable = self.cacheable(&query, overlay.is_some());
        if cacheable
            && let Some(items) = self.cache.get(model.version(), query.user_id, model.n_items()).await
        {
            let answer = Recommendations { items, source: Source::Model };
            return Ok(convert::recommend_response(&model, &answer, n, true));
        }
        let depth = if cacheable { CACHE_DEPTH } else { n };
        let user_id = query.user_id;
        let answer =
            self.compute(&model, move |m| m.recommend(&query, depth)).await?.map_err(engine_error)?;
        if cacheable {
            self.cache.put(model.version(), user_id, &answer.items);
        }
        Ok(convert::recommend_response(&model, &answer, n, false))
    }

    fn cacheable(&self, query: &RecommendQuery, has_overlay: bool) -> bool {
        self.cache.is_enabled() && !has_overlay && query.is_cacheable() && query.n <= CACHE_DEPTH
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
            let cacheable = self.cacheable(&query, overlay.is_some());
            entries.push(Entry { query, cacheable, answer: None });
        }
        let lookups: Vec<usize> = (0..entries.len()).filter(|&i| entries[i].cacheable).collect();
        if !lookups.is_empty() {
            let users: Vec<u64> = lookups.iter().map(|&i| entries[i].query.user_id).collect();
            let found = self.cache.get_many(model.version(), &users, model.n_items()).await;
            for (&i, items) in lookups.iter().zip(found) {
                entries[i].answer =
                    items.map(|items| (Recommendations { items, source: Source::Model }, true));
            }
        }
        let entries = self
            .compute(&model, move |m| {
                entries
                    .into_par_iter()
                    .map(|mut entry| {
                        if entry.answer.is_none() {
                            let depth = if entry.cacheable { CACHE_DEPTH } else { entry.query.n };
                            entry.answer = Some((m.recommend(&entry.query, depth)?, false));
                        }
                        Ok(entry)
                    })
                    .collect::<Result<Vec<Entry>, EngineError>>()
            })
            .await?
            .map_err(engine_error)?;
        let mut responses = Vec::with_capacity(entries.len());
        for entry in entries {
            let (answer, cached) = entry.answer.expect("every entry is answered");
            if entry.cacheable && !cached {
                self.cache.put(model.version(), entry.query.user_id, &answer.items);
            }
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
        let overlay = self.overlays.get(request.user_id);
        let recent =
            convert::recent(&model, &request.recent_movie_ids, overlay.as_deref(), "recent_movie_ids")?;
        let user_idx = model.user_idx(request.user_id);
        if user_idx.is_none() && recent.is_empty() {
            return Err(ServeError::NotFound {
                field: "user_id".into(),
                what: "user",
                id: request.user_id,
                version: model.version().to_string(),
            });
        }
        let explanation =
            self.compute(&model, move |m| m.explain(user_idx, &recent, item)).await?.map_err(engine_error)?;
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
    pub async fn invalidate_user(&self, user_id: u64) -> Result<bool, CacheError> {
        match self.models.current() {
            Some(model) => self.cache.invalidate_user(model.version(), user_id).await,
            None => Ok(false),
        }
    }

    /// Adds an interaction to the user's overlay (their next answers fold it in) and drops
    /// their cached list. The hook for the rating-event consumer.
    pub async fn record_interaction(
        &self,
        user_id: u64,
        movie_id: u64,
        value: f32,
    ) -> Result<(), CacheError> {
        self.overlays.record_interaction(user_id, movie_id, value);
        self.invalidate_user(user_id).await.map(drop)
    }

    /// Replaces the user's blocked movies and drops their cached list. The hook for the
    /// preferences-event consumer.
    pub async fn set_blocked(&self, user_id: u64, movie_ids: &[u64]) -> Result<(), CacheError> {
        self.overlays.set_blocked(user_id, movie_ids);
        self.invalidate_user(user_id).await.map(drop)
    }
}

fn engine_error(err: EngineError) -> ServeError {
    match err {
        EngineError::Unsupported { model, operation } => ServeError::Unsupported { kind: model, operation },
        err => ServeError::Engine(err),
    }
}
