//! [`Models`]: the serving model behind an `ArcSwap`, and the refresh that replaces it.
//!
//! Readers take the current model with one atomic load ([`Models::current`]) and keep their
//! `Arc` for the whole request, so a swap never blocks them and in-flight requests finish on the
//! model they started with. [`Models::refresh`] (on an interval and on the RefreshModel RPC)
//! checks the store's `LATEST`; a newer version is fetched, checked and prepared off the
//! executor, then swapped in. A version that cannot be served (corrupt, incompatible, failing
//! its trial queries) is refused once — logged, counted — and remembered, so the old model keeps
//! serving without the bad version being fetched again at every interval.

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwapOption;
use artifacts::{ModelStore, StoreError, VersionId};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tracing::{error, info, warn};

use crate::loaded_model::{ModelState, Scoring};
use crate::metrics::Metrics;

/// The gRPC service name whose health follows the model (`""`, the server, follows it too).
pub const SERVICE_NAME: &str = "cinerec.recommendation.v1.RecommendationService";

/// What a refresh did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The store has no version yet.
    Empty,
    /// The newest version is already serving.
    Unchanged(VersionId),
    /// A newer version was swapped in.
    Swapped {
        /// The version served before (none at the first load).
        previous: Option<VersionId>,
        /// The version serving now.
        version: VersionId,
    },
    /// The newest version cannot be served; the previous model (if any) keeps serving.
    Refused {
        /// The refused version.
        version: VersionId,
        /// Why.
        reason: String,
    },
}

/// Why a refresh could not check the store.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The store could not be read (unreachable, I/O); retried at the next interval.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Called with each model right after it is swapped in.
pub type SwapHook = Box<dyn Fn(&ModelState) + Send + Sync>;

/// The serving model and the store it comes from.
pub struct Models {
    current: ArcSwapOption<ModelState>,
    store: ModelStore,
    /// Serializes refreshes; holds the last refused version.
    refresh: tokio::sync::Mutex<Option<(VersionId, String)>>,
    metrics: Arc<Metrics>,
    health: HealthReporter,
    scoring: Scoring,
    on_swap: std::sync::OnceLock<SwapHook>,
}

impl std::fmt::Debug for Models {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Models")
            .field("store", &self.store.to_string())
            .field("version", &self.current().map(|m| m.version().to_string()))
            .finish_non_exhaustive()
    }
}

impl Models {
    /// No model yet; health is set to NOT_SERVING until the first successful refresh.
    pub async fn new(
        store: ModelStore,
        scoring: Scoring,
        metrics: Arc<Metrics>,
        health: HealthReporter,
    ) -> Self {
        for service in ["", SERVICE_NAME] {
            health.set_service_status(service, ServingStatus::NotServing).await;
        }
        Self {
            current: ArcSwapOption::empty(),
            store,
            refresh: Default::default(),
            metrics,
            health,
            scoring,
            on_swap: Default::default(),
        }
    }

    /// Sets the function called with each model right after it is swapped in (e.g. to drop the
    /// overlay ratings it was trained on); only the first call takes effect.
    pub fn on_swap(&self, hook: SwapHook) {
        let _ = self.on_swap.set(hook);
    }

    /// The model serving now (one atomic load; keep the `Arc` for the whole request).
    pub fn current(&self) -> Option<Arc<ModelState>> {
        self.current.load_full()
    }

    /// The store's URI (no secrets: the S3 store shows bucket and prefix only).
    pub fn store(&self) -> &ModelStore {
        &self.store
    }

    /// Checks the store for a newer version and swaps it in; see the [module docs](self).
    pub async fn refresh(&self) -> Result<RefreshOutcome, RefreshError> {
        let mut refused = self.refresh.lock().await;
        let current = self.current();
        let latest = match self.store.latest().await {
            Ok(Some(latest)) => latest,
            Ok(None) => {
                if current.is_none() {
                    warn!(store = %self.store, "the model store has no model yet: answering UNAVAILABLE until one is published");
                }
                return Ok(RefreshOutcome::Empty);
            }
            Err(err) => return Err(self.store_error(err, current.is_some())),
        };
        if let Some(current) = current.as_ref().filter(|c| *c.version() == latest) {
            return Ok(RefreshOutcome::Unchanged(current.version().clone()));
        }
        if let Some((version, reason)) = refused.as_ref().filter(|(v, _)| *v == latest) {
            return Ok(RefreshOutcome::Refused { version: version.clone(), reason: reason.clone() });
        }
        let started = Instant::now();
        let artifact = match self.store.load(&latest).await {
            Ok(artifact) => artifact,
            Err(err @ (StoreError::Artifact { .. } | StoreError::VersionNotFound { .. })) => {
                return Ok(self.refuse(&mut refused, latest, err.to_string(), current.as_deref()));
            }
            Err(err) => return Err(self.store_error(err, current.is_some())),
        };
        let fetched = started.elapsed();
        if let Some(warning) = artifact.upgrade_warning() {
            warn!(version = %latest, "{warning}");
        }
        let (version, scoring) = (latest.clone(), self.scoring);
        let prepared =
            tokio::task::spawn_blocking(move || ModelState::prepare(version, artifact, scoring)).await;
        let state = match prepared {
            Ok(Ok(state)) => Arc::new(state),
            Ok(Err(err)) => {
                return Ok(self.refuse(&mut refused, latest, err.to_string(), current.as_deref()));
            }
            Err(panic) => {
                let reason = format!("preparing the model panicked: {panic}");
                return Ok(self.refuse(&mut refused, latest, reason, current.as_deref()));
            }
        };
        let meta = &state.artifact().meta;
        self.metrics.model_swapped(
            latest.as_str(),
            state.kind().as_str(),
            meta.created_at,
            state.loaded_at(),
        );
        info!(
            version = %latest,
            previous = current.as_ref().map(|c| c.version().to_string()),
            kind = %state.kind(),
            dataset = %meta.dataset,
            n_users = state.n_users(),
            n_items = state.n_items(),
            fetch_ms = fetched.as_millis() as u64,
            prepare_ms = state.prepare_time().as_millis() as u64,
            index_mb = state.index().map(|i| i.memory_bytes() as f64 / 1e6),
            "serving a new model"
        );
        self.current.store(Some(state.clone()));
        if let Some(hook) = self.on_swap.get() {
            hook(&state);
        }
        if current.is_none() {
            for service in ["", SERVICE_NAME] {
                self.health.set_service_status(service, ServingStatus::Serving).await;
            }
        }
        Ok(RefreshOutcome::Swapped { previous: current.map(|c| c.version().clone()), version: latest })
    }

    fn refuse(
        &self,
        refused: &mut Option<(VersionId, String)>,
        version: VersionId,
        reason: String,
        current: Option<&ModelState>,
    ) -> RefreshOutcome {
        self.metrics.models_refused.inc();
        error!(
            %version,
            store = %self.store,
            reason = %reason,
            still_serving = current.map(|c| c.version().to_string()),
            "refusing the newest model; the previous one keeps serving until a good version is published"
        );
        *refused = Some((version.clone(), reason.clone()));
        RefreshOutcome::Refused { version, reason }
    }

    fn store_error(&self, err: StoreError, serving: bool) -> RefreshError {
        self.metrics.refresh_errors.inc();
        warn!(store = %self.store, error = %err, serving, "checking the model store failed; retrying at the next interval");
        RefreshError::Store(err)
    }

    /// Refreshes every `interval` until `shutdown` completes (the first check happens after one
    /// interval: [`crate::Application::build`] has just loaded).
    pub async fn refresh_every(&self, interval: std::time::Duration, shutdown: impl Future<Output = ()>) {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = ticks.tick() => {
                    // Errors are logged and counted inside.
                    let _ = self.refresh().await;
                }
            }
        }
    }
}
