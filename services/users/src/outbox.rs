//! Delivers the events a [`UserStore`] queued with each change: oldest first per user, each
//! removed from the outbox only after the broker acknowledged it (at-least-once; consumers
//! de-duplicate by `event_id`). A striped lock per user id keeps one user's events in order
//! within this process. Requests call [`Outbox::drain_user`] right after their write; the
//! background loop [`Outbox::run`] picks up whatever they could not deliver.

use std::sync::Arc;

use events::relay::{OutboxSource, RelayRound};
use events::{EventError, EventPublisher};
use service_common::{Backoff, retry};
use tokio::sync::Mutex;

use crate::domain::UserId;
use crate::metrics::Metrics;
use crate::store::{StoreError, UserStore};

/// Locks striping the user ids; more stripes mean fewer unrelated users waiting on each other.
const STRIPES: usize = 64;
/// Users looked at per background pass.
const BATCH: usize = 500;

/// Why a drain stopped early (the undelivered events stay queued).
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// Reading or updating the outbox failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The broker did not acknowledge an event.
    #[error(transparent)]
    Publish(#[from] EventError),
}

/// The outbox drainer.
#[derive(Debug)]
pub struct Outbox<S, P> {
    store: Arc<S>,
    publisher: P,
    backoff: Backoff,
    stripes: Box<[Mutex<()>]>,
    metrics: Metrics,
}

impl<S: UserStore, P: EventPublisher> Outbox<S, P> {
    /// A drainer over `store`, publishing with `publisher`; storage calls and in-request
    /// publishes are retried with `backoff`.
    pub fn new(store: Arc<S>, publisher: P, backoff: Backoff, metrics: Metrics) -> Self {
        let stripes = (0..STRIPES).map(|_| Mutex::new(())).collect();
        Self { store, publisher, backoff, stripes, metrics }
    }

    /// Delivers `user`'s queued events in order, then removes the document of a deleted account.
    /// Returns how many events went out; stops at the first event the broker refuses after
    /// retries (`publish_attempts` attempts each).
    pub async fn drain_user(&self, user: UserId, publish_attempts: u32) -> Result<usize, OutboxError> {
        let _in_order = self.stripes[(user.get() % STRIPES as u64) as usize].lock().await;
        let work = retry(&self.backoff, "reading a user's outbox", StoreError::is_transient, || {
            self.store.pending(user)
        })
        .await?;
        let publish_backoff = Backoff { attempts: publish_attempts.max(1), ..self.backoff };
        for event in &work.events {
            let published = retry(
                &publish_backoff,
                "publishing an event",
                |_| true,
                || self.publisher.publish(&event.topic, &event.key, event.payload.clone()),
            )
            .await;
            if let Err(err) = published {
                self.metrics.delivery_failures.inc();
                return Err(err.into());
            }
            self.metrics.events_delivered.inc();
            tracing::debug!(user_id = user.get(), event_id = %event.event_id, topic = %event.topic, "event delivered");
            retry(&self.backoff, "removing a delivered event", StoreError::is_transient, || {
                self.store.remove_event(user, &event.event_id)
            })
            .await?;
        }
        if work.deleted {
            retry(&self.backoff, "removing a deleted account", StoreError::is_transient, || {
                self.store.purge(user)
            })
            .await?;
            tracing::debug!(user_id = user.get(), "deleted account removed");
        }
        Ok(work.events.len())
    }

    /// One pass over every user with queued work; returns the events delivered. Stops at the
    /// first failure (the broker is probably down: the next pass tries again).
    pub async fn drain_all(&self) -> Result<usize, OutboxError> {
        let users = retry(&self.backoff, "listing pending outboxes", StoreError::is_transient, || {
            self.store.users_with_pending_work(BATCH)
        })
        .await?;
        let mut delivered = 0;
        for user in users {
            delivered += self.drain_user(user, 1).await?;
        }
        Ok(delivered)
    }
}

/// The outbox as the events crate's relay loop drains it: one round is one pass over every user
/// with queued work ([`Outbox::drain_all`]).
#[derive(Debug)]
pub struct OutboxRelay<S, P>(pub Arc<Outbox<S, P>>);

impl<S: UserStore, P: EventPublisher> OutboxSource for OutboxRelay<S, P> {
    type Error = OutboxError;

    async fn relay_round(&mut self) -> Result<RelayRound, OutboxError> {
        let published = self.0.drain_all().await?;
        if published > 0 {
            tracing::info!(delivered = published, "outbox drained");
        }
        Ok(RelayRound { published, more: false })
    }
}
