//! cinerec's movies service: the catalogue (title, year, genres, IMDb/TMDb links) in PostgreSQL
//! with full-text and trigram title search and keyset pagination; posters and trailers in S3,
//! handed to clients as short-lived presigned URLs; `MovieEvent`s to Kafka through a
//! transactional outbox; and the MovieLens importer.
//!
//! Layout: [`domain`] (types that parse), [`store`] (the storage trait) with [`postgres`] (its
//! adapter), [`media`] (S3), [`outbox`] (event encoding and relay), [`api`] (gRPC handlers and
//! status mapping), [`import`], [`config`] (clap settings) and [`app`] (wiring).

pub mod api;
pub mod app;
pub mod config;
pub mod domain;
pub mod import;
pub mod media;
pub mod outbox;
pub mod postgres;
pub mod store;

pub use app::{AppError, AppOptions, Application};
pub use config::{ImportArgs, Secret, ServeArgs};
pub use domain::{MediaKind, MovieFields, MovieId};
pub use import::{ImportError, ImportReport, import_movies};
pub use media::{MediaError, MediaStore, S3Media, S3MediaSettings};
pub use outbox::RelaySettings;
pub use postgres::{PgMovieStore, PgSettings};
pub use store::{MovieStore, StoreError};
