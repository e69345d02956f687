//! The service's Prometheus metrics (served by `service_common::metrics::serve_metrics` on
//! its own port). Labels are bounded: op and event names, the model version and kind. RPCs are counted
//! by the service kit's layer (`cinerec_rpc_*`).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

/// Labels of the cache error counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheOpLabels {
    /// `get`, `set` or `del`.
    pub op: &'static str,
}

/// Labels of the consumed-event counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// `rating`, `preferences` or `user_deleted`.
    pub kind: &'static str,
    /// `applied`, `ignored` (older than the serving model, or than the user's deletion),
    /// `duplicate` (an event id seen before) or `invalid` (undecodable or out of range).
    pub outcome: &'static str,
}

/// Labels of the event consumer's error counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    /// `connect` (creating topics, subscribing), `receive`, `commit` or `invalidate`.
    pub stage: &'static str,
}

/// Labels of the engine query counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    /// `inline` (a known user's top-N through the int8 index, run on the request's task) or
    /// `blocking` (everything else, on the blocking pool).
    pub pool: &'static str,
}

/// Labels of the model info gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    /// Store version id.
    pub version: String,
    /// Model kind.
    pub kind: String,
}

/// Every metric of the service.
#[derive(Debug)]
pub struct Metrics {
    /// Cache lookups that found a list.
    pub cache_hits: Counter,
    /// Cache lookups that found nothing.
    pub cache_misses: Counter,
    /// Cache commands that failed or timed out (or were skipped while Redis is unreachable).
    pub cache_errors: Family<CacheOpLabels, Counter>,
    /// `1` for the serving model's version and kind.
    pub model_info: Family<ModelLabels, Gauge>,
    /// Models swapped in (the first load included).
    pub model_swaps: Counter,
    /// Artifacts refused (corrupt, incompatible, failing the trial queries).
    pub models_refused: Counter,
    /// Store checks that failed (store unreachable); retried at the next interval.
    pub refresh_errors: Counter,
    /// Cache writes dropped because the user was invalidated while the list was computed.
    pub cache_writes_skipped: Counter,
    /// Consumed events by kind and outcome.
    pub events: Family<EventLabels, Counter>,
    /// Event consumer failures by stage (each is retried).
    pub event_errors: Family<StageLabels, Counter>,
    /// `1` while the event consumer is subscribed, else `0`.
    pub event_consumer_up: Gauge,
    /// Users with an overlay (rating changes or blocked movies).
    pub overlay_users: Gauge,
    /// Users evicted from the overlays to stay within the cap.
    pub overlay_evictions: Counter,
    /// Engine queries by where they ran.
    pub engine_queries: Family<PoolLabels, Counter>,
    /// Turns of coalesced index scans (`engine_queries{pool="inline"}` over this is the mean
    /// number of queries a turn answered together).
    pub scan_turns: Counter,
    clock: std::sync::Arc<ModelClock>,
}

impl Metrics {
    /// The metrics, registered in `registry` under `cinerec_serving_*`.
    pub fn new(registry: &mut Registry) -> Self {
        let res = Self {
            cache_hits: Counter::default(),
            cache_misses: Counter::default(),
            cache_errors: Family::default(),
            model_info: Family::default(),
            model_swaps: Counter::default(),
            models_refused: Counter::default(),
            refresh_errors: Counter::default(),
            cache_writes_skipped: Counter::default(),
            events: Family::default(),
            event_errors: Family::default(),
            event_consumer_up: Gauge::default(),
            overlay_users: Gauge::default(),
            overlay_evictions: Counter::default(),
            engine_queries: Family::default(),
            scan_turns: Counter::default(),
            clock: Default::default(),
        };
        let r = registry.sub_registry_with_prefix("cinerec_serving");
        r.register("cache_hits", "Recommendation cache lookups that found a list", res.cache_hits.clone());
        r.register(
            "cache_misses",
            "Recommendation cache lookups that found nothing",
            res.cache_misses.clone(),
        );
        r.register(
            "cache_errors",
            "Cache commands that failed, timed out or were skipped while Redis is unreachable",
            res.cache_errors.clone(),
        );
        r.register("model_info", "The serving model (value 1)", res.model_info.clone());
        r.register("model_swaps", "Models swapped in, the first load included", res.model_swaps.clone());
        r.register(
            "models_refused",
            "Artifacts refused as corrupt or incompatible",
            res.models_refused.clone(),
        );
        r.register("refresh_errors", "Model store checks that failed", res.refresh_errors.clone());
        r.register(
            "cache_writes_skipped",
            "Cache writes dropped because the user was invalidated meanwhile",
            res.cache_writes_skipped.clone(),
        );
        r.register("events", "Consumed Kafka events by kind and outcome", res.events.clone());
        r.register(
            "engine_queries",
            "Engine queries by where they ran (inline on the request task, or the blocking pool)",
            res.engine_queries.clone(),
        );
        r.register(
            "scan_turns",
            "Turns that answered waiting index scans together (inline engine queries / turns = queries per turn)",
            res.scan_turns.clone(),
        );
        r.register("event_errors", "Event consumer failures by stage", res.event_errors.clone());
        r.register(
            "event_consumer_up",
            "1 while the event consumer is subscribed",
            res.event_consumer_up.clone(),
        );
        r.register("overlay_users", "Users with an overlay", res.overlay_users.clone());
        r.register(
            "overlay_evictions",
            "Users evicted from the overlays at the cap",
            res.overlay_evictions.clone(),
        );
        r.register_collector(Box::new(res.clock.clone()));
        res
    }

    /// Records a cache command failure.
    pub fn cache_error(&self, op: &'static str) {
        self.cache_errors.get_or_create(&CacheOpLabels { op }).inc();
    }

    /// Counts one consumed event.
    pub fn event(&self, kind: &'static str, outcome: &'static str) {
        self.events.get_or_create(&EventLabels { kind, outcome }).inc();
    }

    /// Counts one event consumer failure.
    pub fn event_error(&self, stage: &'static str) {
        self.event_errors.get_or_create(&StageLabels { stage }).inc();
    }

    /// Records a model swap.
    pub fn model_swapped(&self, version: &str, kind: &str, trained_at: SystemTime, loaded_at: SystemTime) {
        self.model_info.clear();
        self.model_info.get_or_create(&ModelLabels { version: version.into(), kind: kind.into() }).set(1);
        self.model_swaps.inc();
        self.clock.trained_at.store(unix_seconds(trained_at), Ordering::Relaxed);
        self.clock.loaded_at.store(unix_seconds(loaded_at), Ordering::Relaxed);
    }
}

/// Seconds since the Unix epoch (0 before it).
pub fn unix_seconds(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Model age, computed at scrape time.
#[derive(Debug, Default)]
struct ModelClock {
    trained_at: AtomicI64,
    loaded_at: AtomicI64,
}

impl Collector for ModelClock {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let (trained_at, loaded_at) =
            (self.trained_at.load(Ordering::Relaxed), self.loaded_at.load(Ordering::Relaxed));
        if trained_at == 0 {
            return Ok(()); // no model yet
        }
        let now = unix_seconds(SystemTime::now());
        let metrics = [
            ("model_age_seconds", "Seconds since the serving model was trained", now - trained_at),
            ("model_loaded_age_seconds", "Seconds since the serving model was loaded", now - loaded_at),
        ];
        for (name, help, value) in metrics {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}
