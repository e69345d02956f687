//! The ratings service: `cinerec.ratings.v1.RatingsService` over Redis, with every change
//! published to Kafka as a `RatingEvent` through an outbox. The MovieLens importer is
//! `cinerec-import ratings` (`tools/import`), so this service links no dataset or engine code.
//!
//! Modules: [`domain`] (ids, stars, reviews and paging parsed into types that cannot be
//! invalid), [`store`] (the [`store::RatingStore`] trait and its records), [`redis_store`] (the
//! Redis adapter: keys, Lua scripts, retries), [`outbox`] (the drainer that moves outbox entries
//! to an [`events::EventPublisher`]), [`event`] (`RatingEvent` encoding), [`service`] (the tonic
//! service and its error mapping), [`catalogue`] (the ratable movies follow the movies service's
//! `MovieEvent`s), [`config`] and [`startup`] (the binary's settings and
//! [`startup::Application`]).
//!
//! # Redis data layout
//!
//! The key layout and value encoding are part of the platform's contract and documented in
//! [`contract::ratings_redis`] (the `cinerec train --ratings-redis` source reads them through
//! the same [`contract::ratings_redis::Keys`]).
//!
//! Every change (submit, change, delete) is one Lua script (`EVALSHA`, loaded again after a
//! server restart) that updates both hashes, both sorted sets, the stats, the review and the
//! user set, and appends the event to the outbox stream in the same atomic step: concurrent
//! writers never lose an update and an event exists exactly when its change does. The
//! [`outbox`] drainer reads the stream through a consumer group, publishes, and acknowledges
//! and deletes entries only after the broker acknowledged them; entries of a crashed drainer
//! stay pending and are re-sent (at-least-once: consumers de-duplicate by `event_id`).

pub mod catalogue;
pub mod config;
pub mod domain;
pub mod event;
pub mod outbox;
pub mod redis_store;
pub mod service;
pub mod startup;
pub mod store;

pub use config::{Config, RedisUrl};
pub use redis_store::{RedisStore, RedisStoreSettings};
pub use startup::Application;
pub use store::{RatingStore, StoreError};
