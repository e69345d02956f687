//! cinerec's recommendation service: answers the `cinerec.recommendation.v1` gRPC API from the
//! newest model in a [`artifacts::ModelStore`].
//!
//! - [`model_slot`]: the serving model behind an `ArcSwap` ([`model_slot::Models`]); a refresher
//!   swaps in newer versions, refusing corrupt or incompatible ones while the old model keeps
//!   serving.
//! - [`loaded_model`]: one loaded model ([`loaded_model::ModelState`]) and the queries on it
//!   (top-N, fold-in, popularity fallback, similar movies, explanations); pure compute, run off
//!   the executor.
//! - [`cache`]: the Redis cache of per-user top lists keyed by model version.
//! - [`overlay`]: per-user additions on top of the model (rating changes since it was trained,
//!   blocked movies), bounded; [`consumer`] fills them from Kafka events.
//! - [`requests`]: the request logic ([`requests::Serving`]: cache, overlays, semaphore,
//!   errors); [`grpc_api`] the tonic adapter; [`convert`] the hand-written wire ↔ engine
//!   conversions.
//! - [`app`]: [`app::Application::build`] binds the ports and returns the addresses, so tests
//!   spawn the server on `127.0.0.1:0`.

pub mod app;
pub mod cache;
pub mod config;
pub mod consumer;
pub mod convert;
pub mod error;
pub mod grpc_api;
pub mod loaded_model;
pub mod metrics;
pub mod model_slot;
pub mod overlay;
pub mod precompute;
pub mod requests;
pub mod scans;

pub use app::Application;
pub use config::{RedisUrl, ServingConfig, parse_duration};
pub use error::ServeError;
pub use requests::Serving;
