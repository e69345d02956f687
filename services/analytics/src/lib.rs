//! `cinerec-analytics`: what users do and what the recommender achieves, kept in a warehouse.
//! First slice (issue 14): activity events from clients (`POST /api/v1/events`, checked as a
//! batch, stored once per event id) in PostgreSQL.
//!
//! - [`activity`]: the event schema and the batch check (every error named `events[i].field`).
//! - [`warehouse`]: the [`warehouse::Warehouse`] trait and the PostgreSQL adapter.
//! - [`app`]: [`Application`] (settings, router, server).

pub mod activity;
pub mod app;
pub mod config;
pub mod warehouse;

pub use app::Application;
pub use config::Config;
