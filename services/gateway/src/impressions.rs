//! Events the gateway publishes as it serves: every recommendation list it serves as a
//! `RecommendationServed` event (so that analytics can join what was shown with what was then
//! opened and rated), and every request it answers as a `RequestLogged` event (route pattern,
//! status, latency, request id: analytics' system-performance data). Publishing never touches
//! a request's latency or outcome: handlers put the event in a bounded in-memory queue
//! ([`EventQueue::push`], never waits); a background task publishes from it with a bounded
//! number of publishes in flight. When the queue is full (broker slow or down) new events are
//! dropped and counted (`cinerec_gateway_{impressions,request_logs}_dropped_total`); failed
//! publishes are counted too (`…_failed_total`), published ones in `…_published_total`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use events::EventPublisher;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use prost::Message;
use proto::events::v1::{RecommendationServed, RequestLogged, ServedMovie};
use service_common::StopSignal;
use tokio::sync::{Semaphore, mpsc};

/// Events queued at most while the broker is slow.
pub const BUFFER: usize = 10_000;
/// Publishes in flight at most: with the producer's 20 ms batches, up to ~100,000 events/s.
const IN_FLIGHT: usize = 2048;

/// The counters of one queue.
#[derive(Clone, Debug, Default)]
pub struct QueueMetrics {
    /// Acknowledged by the broker.
    pub published: Counter,
    /// Refused or timed out by the broker.
    pub failed: Counter,
    /// Dropped because the queue was full (or publishing is off).
    pub dropped: Counter,
}

impl QueueMetrics {
    /// Registers `cinerec_gateway_{name}_{published,failed,dropped}` for `what` (the events'
    /// kind, for the help text).
    pub fn register(registry: &mut Registry, name: &str, what: &str) -> Self {
        let metrics = Self::default();
        let counters = [
            ("published", "acknowledged by the broker", &metrics.published),
            ("failed", "the broker refused or did not acknowledge in time", &metrics.failed),
            ("dropped", "dropped because the queue was full", &metrics.dropped),
        ];
        for (suffix, help, counter) in counters {
            registry.register(
                format!("cinerec_gateway_{name}_{suffix}"),
                format!("{what} events {help}"),
                counter.clone(),
            );
        }
        metrics
    }
}

/// An event's Kafka key.
pub trait Keyed: Message + Send + 'static {
    /// The key (user id, anonymous id, request id).
    fn key(&self) -> String;
}

impl Keyed for RecommendationServed {
    fn key(&self) -> String {
        match self.user_id {
            0 => self.anonymous_id.clone(),
            user => user.to_string(),
        }
    }
}

impl Keyed for RequestLogged {
    fn key(&self) -> String {
        self.request_id.clone()
    }
}

/// The handlers' side: a bounded queue to the publishing task.
#[derive(Clone, Debug)]
pub struct EventQueue<M> {
    sender: Option<mpsc::Sender<M>>,
    metrics: QueueMetrics,
}

/// Impressions: served lists.
pub type Impressions = EventQueue<RecommendationServed>;
/// Request logs.
pub type RequestLogs = EventQueue<RequestLogged>;

impl<M: Keyed> EventQueue<M> {
    /// A queue whose events are counted as dropped and go nowhere (no broker configured).
    pub fn off(metrics: QueueMetrics) -> Self {
        Self { sender: None, metrics }
    }

    /// A queue of [`BUFFER`] events and the task that publishes them to `topic` until the stop
    /// signal (then it publishes what is queued, bounded by the server's grace period).
    pub fn start<P: EventPublisher + 'static>(
        publisher: Arc<P>,
        topic: String,
        metrics: QueueMetrics,
    ) -> (Self, impl FnOnce(StopSignal) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) {
        let (sender, receiver) = mpsc::channel(BUFFER);
        let task_metrics = metrics.clone();
        let task = move |stop: StopSignal| -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
            Box::pin(publish_all(publisher, topic, receiver, task_metrics, stop))
        };
        (Self { sender: Some(sender), metrics }, task)
    }

    /// Queues `event` without waiting; a full queue drops it (counted).
    pub fn push(&self, event: M) {
        let Some(sender) = &self.sender else {
            return;
        };
        if sender.try_send(event).is_err() {
            self.metrics.dropped.inc();
        }
    }
}

/// The middleware that queues a `RequestLogged` event for every answered request (the route's
/// pattern, `unmatched` for paths no route serves).
pub async fn log_request(State(logs): State<RequestLogs>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    logs.push(RequestLogged {
        event_id: uuid::Uuid::new_v4().to_string(),
        route,
        method,
        status: u32::from(response.status().as_u16()),
        latency_ms,
        request_id: crate::request_id::current().map(|(id, _)| id).unwrap_or_default(),
        timestamp_ms: unix_ms(),
    });
    response
}

/// A served list, as handlers describe it.
#[derive(Clone, Debug)]
pub struct Served {
    /// The list's id.
    pub recommendation_id: String,
    /// The signed-in user, if any.
    pub user_id: Option<u64>,
    /// The anonymous visitor's id, if any.
    pub anonymous_id: Option<String>,
    /// The model's version.
    pub model_version: String,
    /// How the list was made.
    pub source: &'static str,
    /// Where it was shown.
    pub surface: &'static str,
    /// The movies in the order shown.
    pub movie_ids: Vec<u64>,
}

impl Impressions {
    /// Queues the event for `served` without waiting; a full queue drops it (counted).
    pub fn record(&self, served: Served) {
        if self.sender.is_none() {
            return;
        }
        let movies = served
            .movie_ids
            .iter()
            .enumerate()
            .map(|(position, &movie_id)| ServedMovie { movie_id, position: position as u32 })
            .collect();
        let event = RecommendationServed {
            event_id: uuid::Uuid::new_v4().to_string(),
            recommendation_id: served.recommendation_id,
            user_id: served.user_id.unwrap_or(0),
            anonymous_id: served.anonymous_id.unwrap_or_default(),
            model_version: served.model_version,
            source: served.source.to_owned(),
            surface: served.surface.to_owned(),
            movies,
            timestamp_ms: unix_ms(),
        };
        self.push(event);
    }
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

async fn publish_all<P: EventPublisher + 'static, M: Keyed>(
    publisher: Arc<P>,
    topic: String,
    mut receiver: mpsc::Receiver<M>,
    metrics: QueueMetrics,
    stop: StopSignal,
) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let topic: Arc<str> = topic.into();
    let mut stop = std::pin::pin!(stop.stopped());
    let mut stopping = false;
    let mut log = events::consumer::Throttle::default();
    let (failures, mut failed) = mpsc::unbounded_channel::<String>();
    loop {
        let event = if stopping {
            receiver.recv().await
        } else {
            tokio::select! {
                event = receiver.recv() => event,
                () = &mut stop => {
                    // Publish what is buffered, then end.
                    stopping = true;
                    receiver.close();
                    receiver.recv().await
                }
            }
        };
        let Some(event) = event else { break };
        while let Ok(error) = failed.try_recv() {
            if let Some(held_back) = log.allow() {
                tracing::warn!(%error, held_back, %topic, "publishing an event failed");
            }
        }
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else { break };
        let (publisher, topic, metrics, failures) =
            (Arc::clone(&publisher), Arc::clone(&topic), metrics.clone(), failures.clone());
        tokio::spawn(async move {
            let key = event.key();
            match publisher.publish(&topic, &key, event.encode_to_vec()).await {
                Ok(()) => {
                    metrics.published.inc();
                }
                Err(err) => {
                    metrics.failed.inc();
                    let _ = failures.send(err.to_string());
                }
            }
            drop(slot);
        });
    }
    // Wait for the publishes in flight.
    let _ = slots.acquire_many(IN_FLIGHT as u32).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(n: u64) -> Served {
        Served {
            recommendation_id: format!("r{n}"),
            user_id: Some(n),
            anonymous_id: None,
            model_version: "v1".into(),
            source: "model",
            surface: "me",
            movie_ids: vec![10, 20],
        }
    }

    #[tokio::test]
    async fn events_are_published_with_positions_and_a_full_buffer_drops_without_waiting() {
        let publisher = Arc::new(events::MemoryPublisher::new());
        let metrics = QueueMetrics::default();
        let (impressions, task) =
            Impressions::start(Arc::clone(&publisher), "served".into(), metrics.clone());
        // Not running yet: the buffer fills, then drops.
        for n in 0..BUFFER as u64 + 5 {
            impressions.record(served(n + 1));
        }
        assert_eq!(metrics.dropped.get(), 5);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(task(service_common::StopSignal::from_watch(stopped)));
        stop.send(true).unwrap();
        running.await.unwrap();
        let published = publisher.events();
        assert_eq!(published.len(), BUFFER);
        assert_eq!(metrics.published.get(), BUFFER as u64);
        let first =
            RecommendationServed::decode(published.iter().find(|e| e.key == "1").unwrap().payload.as_slice())
                .unwrap();
        assert_eq!(first.recommendation_id, "r1");
        let positions: Vec<_> = first.movies.iter().map(|m| (m.movie_id, m.position)).collect();
        assert_eq!(positions, [(10, 0), (20, 1)]);
    }

    #[tokio::test]
    async fn a_broker_that_is_down_is_counted_not_waited_for() {
        let publisher = Arc::new(events::MemoryPublisher::new());
        publisher.set_down(true);
        let metrics = QueueMetrics::default();
        let (impressions, task) =
            Impressions::start(Arc::clone(&publisher), "served".into(), metrics.clone());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(task(service_common::StopSignal::from_watch(stopped)));
        for n in 0..3 {
            impressions.record(served(n + 1));
        }
        stop.send(true).unwrap();
        running.await.unwrap();
        assert_eq!((metrics.failed.get(), metrics.published.get()), (3, 0));
        assert_eq!(publisher.refused(), 3);
    }
}
