//! The event consumer: reads `RatingEvent`, `UserPreferencesChanged` and `UserDeleted` from
//! Kafka and applies them to the serving state, so that recommendations react to new ratings
//! without a retrain.
//!
//! - A rating created or updated is added to the user's overlay (deleted: recorded as removed);
//!   the next Recommend for that user folds in the training history changed by the overlay
//!   (source FOLD_IN), with the rule the model was trained with (see
//!   [`crate::loaded_model::ModelState::interaction_value`]). Ratings made before the serving model
//!   was trained are already in it and are not added (outcome `ignored`).
//! - Preferences replace the user's blocked movies, which are never returned (cached lists are
//!   filtered at read time); a deletion forgets the user's overlay and blocked movies, and later
//!   events of that user stamped before the deletion are ignored (topics are not ordered with
//!   each other).
//! - Every applied event, and every rating ignored as older than the model, invalidates the
//!   user's cached list (bounded retries; a failure is counted and logged, the event still
//!   counts as applied: a user with rating changes bypasses the cache anyway).
//! - Events are de-duplicated by `event_id` ([`events::Deduplicator`]); offsets are committed
//!   after an event is applied, and undecodable events are counted as `invalid` and skipped.
//! - The loop itself (subscribe and create the topics, retry with backoff while the broker is
//!   unreachable, commit after handling, re-subscribe after repeated receive errors) is the
//!   events crate's [`run_consumer`]; it never stops the server, and the server's health does not
//!   depend on it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use events::Deduplicator;
use events::consumer::{EventHandler, Stage, Throttle, run_consumer};
use events::kafka::ReceivedEvent;
use prost::Message;
use proto::events::v1::{RatingChange, RatingEvent, UserDeleted, UserPreferencesChanged};
use service_common::Backoff;
use tracing::{debug, warn};

use crate::cache::CacheError;
use crate::overlay::RecentRating;
use crate::requests::{RatingOutcome, Serving};

/// Event ids remembered for de-duplication.
pub const DEDUP_CAPACITY: usize = 100_000;

/// Deleted users remembered, to ignore their older events still arriving on other topics.
pub const TOMBSTONE_CAPACITY: usize = 100_000;

/// Backoff between attempts to reach the broker (unbounded attempts).
const RECONNECT: Backoff =
    Backoff { initial: Duration::from_millis(200), max: Duration::from_secs(5), attempts: u32::MAX };

/// Retries of one cache invalidation (not when Redis is known to be unreachable).
const INVALIDATE: Backoff =
    Backoff { initial: Duration::from_millis(50), max: Duration::from_millis(500), attempts: 3 };

/// Where the events come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerSettings {
    /// Bootstrap servers.
    pub brokers: String,
    /// Consumer group (one per replica: see [`crate::ServingConfig::kafka_group`]).
    pub group: String,
    /// Topic of `RatingEvent`s.
    pub ratings_topic: String,
    /// Topic of `UserPreferencesChanged`.
    pub preferences_topic: String,
    /// Topic of `UserDeleted`.
    pub user_deleted_topic: String,
}

impl ConsumerSettings {
    fn topics(&self) -> [&str; 3] {
        [&self.ratings_topic, &self.preferences_topic, &self.user_deleted_topic]
    }
}

/// The kind label of an event in metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Rating,
    Preferences,
    UserDeleted,
    Unknown,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Rating => "rating",
            Kind::Preferences => "preferences",
            Kind::UserDeleted => "user_deleted",
            Kind::Unknown => "unknown",
        }
    }
}

/// What handling one event did (the outcome label in metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Changed the serving state.
    Applied,
    /// Older than the model (ratings) or than the user's deletion.
    Ignored,
    /// An event id seen before.
    Duplicate,
    /// Undecodable, out of range, or from an unknown topic.
    Invalid,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Ignored => "ignored",
            Outcome::Duplicate => "duplicate",
            Outcome::Invalid => "invalid",
        }
    }
}

/// Consumes events into `serving` until `shutdown` completes, through the events crate's
/// consumer loop; see the [module docs](self).
pub async fn run(serving: Arc<Serving>, settings: ConsumerSettings, shutdown: impl Future<Output = ()>) {
    let loop_settings = events::consumer::ConsumerSettings::one_at_a_time(
        settings.brokers.clone(),
        settings.group.clone(),
        settings.topics().map(str::to_string).to_vec(),
        RECONNECT,
    );
    run_consumer(loop_settings, Handler::new(serving, settings), shutdown).await;
}

/// Applies events to the serving state; keeps the de-duplication window and the tombstones of
/// deleted users across re-subscriptions.
struct Handler {
    serving: Arc<Serving>,
    settings: ConsumerSettings,
    dedup: Deduplicator,
    tombstones: Tombstones,
    log: Throttle,
}

impl Handler {
    fn new(serving: Arc<Serving>, settings: ConsumerSettings) -> Self {
        Self {
            serving,
            settings,
            dedup: Deduplicator::new(DEDUP_CAPACITY),
            tombstones: Tombstones::default(),
            log: Throttle::default(),
        }
    }

    async fn apply(&mut self, event: &ReceivedEvent) {
        let (kind, res) = if event.topic == self.settings.ratings_topic {
            (Kind::Rating, self.rating(&event.payload).await)
        } else if event.topic == self.settings.preferences_topic {
            (Kind::Preferences, self.preferences(&event.payload).await)
        } else if event.topic == self.settings.user_deleted_topic {
            (Kind::UserDeleted, self.user_deleted(&event.payload).await)
        } else {
            (Kind::Unknown, Err(format!("unexpected topic `{}`", event.topic)))
        };
        let outcome = res.unwrap_or_else(|problem| {
            if let Some(suppressed) = self.log.allow() {
                warn!(topic = %event.topic, offset = event.offset, key = %event.key, problem, suppressed, "skipping an invalid event");
            }
            Outcome::Invalid
        });
        debug!(kind = kind.label(), outcome = outcome.label(), topic = %event.topic, offset = event.offset, key = %event.key, "event");
        self.serving.metrics().event(kind.label(), outcome.label());
    }

    /// Whether `event_id` was seen before (empty ids are never de-duplicated).
    fn duplicate(&mut self, event_id: &str) -> bool {
        !event_id.is_empty() && !self.dedup.first_time(event_id)
    }

    async fn rating(&mut self, payload: &[u8]) -> Result<Outcome, String> {
        let event = RatingEvent::decode(payload).map_err(|e| format!("not a RatingEvent: {e}"))?;
        if self.duplicate(&event.event_id) {
            return Ok(Outcome::Duplicate);
        }
        let rating = match RatingChange::try_from(event.change) {
            Ok(RatingChange::Created | RatingChange::Updated) => {
                if !(event.rating.is_finite() && (0.5..=5.0).contains(&event.rating)) {
                    return Err(format!("rating {} is outside 0.5..=5.0", event.rating));
                }
                Some(event.rating)
            }
            Ok(RatingChange::Deleted) => None,
            Ok(RatingChange::Unspecified) | Err(_) => return Err(format!("unknown change {}", event.change)),
        };
        if self.tombstones.deleted_after(event.user_id, event.timestamp_ms) {
            return Ok(Outcome::Ignored);
        }
        let recent = RecentRating { movie_id: event.movie_id, rating, timestamp_ms: event.timestamp_ms };
        let outcome = match self.serving.record_rating(event.user_id, recent) {
            RatingOutcome::Applied => Outcome::Applied,
            RatingOutcome::OlderThanModel => Outcome::Ignored,
        };
        self.invalidate(event.user_id).await;
        Ok(outcome)
    }

    async fn preferences(&mut self, payload: &[u8]) -> Result<Outcome, String> {
        let event = UserPreferencesChanged::decode(payload)
            .map_err(|e| format!("not a UserPreferencesChanged: {e}"))?;
        if self.duplicate(&event.event_id) {
            return Ok(Outcome::Duplicate);
        }
        if self.tombstones.deleted_after(event.user_id, event.timestamp_ms) {
            return Ok(Outcome::Ignored);
        }
        self.serving.set_blocked(event.user_id, &event.blocked_movie_ids);
        self.invalidate(event.user_id).await;
        Ok(Outcome::Applied)
    }

    async fn user_deleted(&mut self, payload: &[u8]) -> Result<Outcome, String> {
        let event = UserDeleted::decode(payload).map_err(|e| format!("not a UserDeleted: {e}"))?;
        if self.duplicate(&event.event_id) {
            return Ok(Outcome::Duplicate);
        }
        self.tombstones.insert(event.user_id, event.timestamp_ms);
        self.serving.forget_user(event.user_id);
        self.invalidate(event.user_id).await;
        Ok(Outcome::Applied)
    }

    /// Drops the user's cached list, retrying briefly unless Redis is known to be down.
    async fn invalidate(&mut self, user_id: u64) {
        let serving = &self.serving;
        let res = service_common::retry(
            &INVALIDATE,
            "invalidating a user's cached recommendations",
            |err: &CacheError| !matches!(err, CacheError::Disconnected),
            || serving.invalidate_user(user_id),
        )
        .await;
        if let Err(err) = res {
            serving.metrics().event_error("invalidate");
            if let Some(suppressed) = self.log.allow() {
                warn!(user_id, error = %err, suppressed, "could not invalidate a user's cached recommendations");
            }
        }
    }
}

/// Deletion times of the last [`TOMBSTONE_CAPACITY`] deleted users.
#[derive(Debug, Default)]
struct Tombstones {
    deleted_at: HashMap<u64, i64>,
    order: VecDeque<u64>,
}

impl Tombstones {
    fn insert(&mut self, user_id: u64, timestamp_ms: i64) {
        if self.deleted_at.insert(user_id, timestamp_ms).is_none() {
            self.order.push_back(user_id);
            if self.order.len() > TOMBSTONE_CAPACITY
                && let Some(oldest) = self.order.pop_front()
            {
                self.deleted_at.remove(&oldest);
            }
        }
    }

    /// The user was deleted at or after `timestamp_ms`.
    fn deleted_after(&self, user_id: u64, timestamp_ms: i64) -> bool {
        self.deleted_at.get(&user_id).is_some_and(|&deleted| deleted >= timestamp_ms)
    }
}

impl EventHandler for Handler {
    type Error = std::convert::Infallible;

    /// Applies the event; invalid ones are counted and skipped, so nothing is retried.
    async fn handle(&mut self, event: &ReceivedEvent) -> Result<(), Self::Error> {
        self.apply(event).await;
        Ok(())
    }

    fn connected(&mut self, up: bool) {
        self.serving.metrics().event_consumer_up.set(i64::from(up));
    }

    fn failed(&mut self, stage: Stage) {
        self.serving.metrics().event_error(stage.label());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tombstones_hide_older_events_only() {
        let mut tombstones = Tombstones::default();
        tombstones.insert(7, 1000);
        assert!(tombstones.deleted_after(7, 999) && tombstones.deleted_after(7, 1000));
        assert!(!tombstones.deleted_after(7, 1001), "a new account with a reused id");
        assert!(!tombstones.deleted_after(8, 0));
    }
}
