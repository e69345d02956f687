//! The contract every cinerec service, the gateway, training and analytics share, kept free of
//! heavy dependencies (no async runtime, no storage client; tonic only behind feature `grpc`):
//!
//! - [`activity`]: client activity events (views, clicks, searches) and their batch check;
//! - [`ids`]: one [`UserId`] and one [`MovieId`] (non-zero, at most `i64::MAX` so they fit a
//!   PostgreSQL `bigint`), parsed from the wire with the request field named on error;
//! - [`error`]: [`FieldError`] (a request field and why it is invalid; sent as
//!   `google.rpc.BadRequest` details), the [`ErrorKind`] classification with its one gRPC and one
//!   HTTP mapping, and [`PublicError`] (what a caller may see);
//! - [`catalog`]: the canonical genre vocabulary and the release year in a MovieLens title;
//! - [`civil`]: dates as day counts since 1970-01-01, both ways;
//! - [`media`]: poster and trailer kinds with their size and type limits;
//! - [`token`]: HS256 login tokens (users issues them; every service can verify them in-process);
//! - [`secret`]: values and URLs that never print their secrets;
//! - [`ratings_redis`]: the ratings service's Redis key layout and value encoding (`cinerec
//!   train --ratings-redis` reads it).

pub mod activity;
pub mod catalog;
pub mod civil;
pub mod error;
pub mod ids;
pub mod media;
pub mod ratings_redis;
pub mod secret;
pub mod token;

pub use catalog::{GENRES, canonical_genre, year_from_title};
pub use error::{ErrorKind, FieldError, PublicError};
pub use ids::{MovieId, UserId};
pub use secret::{Secret, SecretUrl};
