//! The users service (`cinerec.users.v1.UsersService`): registration, argon2id passwords,
//! HS256 login tokens, profiles, preferences and account deletion over MongoDB, publishing
//! `UserPreferencesChanged` and `UserDeleted` events.
//!
//! # Layout
//! - [`config`]: the binary's settings (clap + `CINEREC_*` variables) and the [`Secret`]
//!   wrappers that keep the Mongo URL and the token secret out of logs.
//! - [`domain`]: request fields parsed into types that cannot be invalid; every error names the
//!   field it is about.
//! - [`password`]: argon2id hashing off the async executor, behind a semaphore.
//! - tokens: HS256 JWTs (`sub`, `username`, `iat`, `exp`) from [`contract::token`]; this
//!   service issues them, and [`verify_token`] is what every other service calls in-process.
//! - [`store`]: the [`UserStore`] trait and its MongoDB adapter [`MongoUserStore`].
//! - [`outbox`]: delivers the events the store queued, in order per user.
//! - [`service`]: the gRPC handlers and the mapping of errors to status codes.
//! - [`startup`]: [`Application::build`] binds the ports (tests use `127.0.0.1:0`) and runs the
//!   server, the outbox drainer and `/metrics`.
//!
//! # Storage
//! One collection `users` (`_id` = the numeric user id) with unique indexes `username_unique`
//! and `email_unique`; a duplicate (`E11000`) is mapped to the field of the index it names.
//! Ids come from the counter document `counters/{_id: "user_id"}` (`findOneAndUpdate` with
//! `$inc`) and start at [`store::FIRST_USER_ID`], above every MovieLens user id, so accounts
//! never collide with imported ratings. Calls are retried with backoff on connection errors
//! (`service_common::retry`); when MongoDB stays down the request fails with `UNAVAILABLE`.
//!
//! # Events and consistency
//! A change and its event are written **in one single-document update**: the event (encoded
//! protobuf, topic, key, event id) is pushed onto the user document's `outbox` array in the same
//! `$set`/`$push` that changes the preferences (deletion first marks the document deleted and
//! queues `UserDeleted` the same way, the document itself is removed once that event is out).
//! So no change is ever committed without its event and no event exists without its change; no
//! multi-document transaction is needed.
//!
//! After the write the request tries to deliver the queued events at once (bounded retry,
//! bounded by `CINEREC_PUBLISH_TIMEOUT`). **If the broker is down the request still succeeds**:
//! the change is durable and its event stays in the outbox, where a background drainer
//! (`CINEREC_OUTBOX_INTERVAL`) delivers it when the broker is back. Delivery is at-least-once
//! (a crash between the broker's acknowledgement and the `$pull` re-sends the event with the same
//! `event_id`; consumers de-duplicate by it) and in order per user within one process (a striped
//! lock per user id serialises delivery). Until a deleted account's `UserDeleted` event is out,
//! its username and email stay reserved.
//!
//! # Secrets
//! Passwords live in [`domain::Password`] and hashes in [`domain::PasswordHash`], whose `Debug`
//! is redacted; requests are never logged whole; responses never carry the hash; tokens are
//! returned to their owner only and never logged.

pub mod config;
pub mod domain;
pub mod metrics;
pub mod outbox;
pub mod password;
pub mod service;
pub mod startup;
pub mod store;

pub use config::{Config, JwtSecret, Secret};
pub use contract::token::{self, TokenError, VerifiedToken, verify_token};
pub use startup::{Application, StartupError};
pub use store::{MongoUserStore, StoreError, UserStore};
