//! `cinerec-analytics`: what users do, what the recommender achieves and how the system
//! performs, kept in the warehouse (the `warehouse` crate: PostgreSQL here, Oracle behind its
//! feature).
//!
//! - [`ingest`]: the Kafka consumer (ratings, movies, users, impressions, request logs, the web
//!   app's activity through the gateway) in batches, one warehouse transaction each.
//! - [`models`]: model versions and their offline metrics, read from serving.
//! - [`app`]: [`Application`]: `POST /api/v1/events`, the reports, the OpenAPI document.
//! - [`bench`]: the ingest and report benchmark (`cinerec-analytics-bench`).

pub mod app;
pub mod bench;
pub mod config;
pub mod ingest;
pub mod models;

pub use app::Application;
pub use config::Config;
