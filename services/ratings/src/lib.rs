//! The ratings service: `cinerec.ratings.v1.RatingsService` over Redis, with every change
//! published to Kafka as a `RatingEvent` through an outbox, and the MovieLens importer.
//!
//! Modules: [`domain`] (ids, stars, reviews and paging parsed into types that cannot be
//! invalid), [`store`] (the [`store::RatingStore`] trait and its records), [`redis_store`] (the
//! Redis adapter: keys, Lua scripts, retries), [`outbox`] (the drainer that moves outbox entries
//! to an [`events::EventPublisher`]), [`event`] (`RatingEvent` encoding), [`service`] (the tonic
//! service and its error mapping), [`catalogue`] (the ratable movies follow the movies service's
//! `MovieEvent`s), [`config`] and [`startup`] (the binary's settings and
//! [`startup::Application`]), [`import`] (MovieLens ratings into Redis).
//!
//! # Redis data layout
//!
//! Every key starts with a prefix (`--redis-prefix`, default `cinerec:ratings`; written `P`
//! below). Other crates read this layout (the `cinerec train --ratings-redis` source, the
//! serving crate), so it is part of the contract: change it only together with them.
//!
//! | key | type | content |
//! |---|---|---|
//! | `P:movies` | set | movie ids that may be rated (filled by the importer and by the movies service's `MovieEvent`s) |
//! | `P:users` | set | user ids with at least one rating |
//! | `P:user:{uid}:ratings` | hash | movie id → `"{half_stars}:{timestamp_ms}"` |
//! | `P:user:{uid}:recent` | sorted set | movie id scored by `timestamp_ms` (newest-first paging) |
//! | `P:movie:{mid}:ratings` | hash | user id → `"{half_stars}:{timestamp_ms}"` |
//! | `P:movie:{mid}:recent` | sorted set | user id scored by `timestamp_ms` |
//! | `P:movie:{mid}:stats` | hash | `sum` (of half stars) and `count`; mean = `sum / 2 / count` |
//! | `P:reviews` | hash | `"{uid}:{mid}"` → review text (absent when there is none) |
//! | `P:outbox` | stream | entries `topic`, `key`, `payload` (an encoded `RatingEvent`), consumer group `drainers` |
//!
//! `half_stars` is the rating times two (1..=10), so sums are exact integers. Ids are decimal
//! text. Timestamps are milliseconds since the Unix epoch.
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
pub mod import;
pub mod outbox;
pub mod redis_store;
pub mod service;
pub mod startup;
pub mod store;

pub use config::{Config, RedisUrl};
pub use redis_store::{RedisStore, RedisStoreSettings};
pub use startup::Application;
pub use store::{RatingStore, StoreError};
