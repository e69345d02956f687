//! cinerec's movies service: the catalogue (title, year, genres, IMDb/TMDb links) in PostgreSQL
//! with full-text and trigram title search and keyset pagination; posters and trailers in S3,
//! handed to clients as short-lived presigned URLs; `MovieEvent`s to Kafka through a
//! transactional outbox. The MovieLens importer is `cinerec-import movies` (`tools/import`), so
//! this service links no dataset or engine code.
//!
//! Layout: [`domain`] (types that parse), [`store`] (the storage trait) with [`postgres`] (its
//! adapter), [`media`] (S3), [`outbox`] (event encoding and relay), [`api`] (gRPC handlers and
//! status mapping), [`config`] (clap settings) and [`app`] (wiring).

pub mod api;
pub mod app;
pub mod config;
pub mod domain;
pub mod media;
pub mod outbox;
pub mod postgres;
pub mod store;

pub use app::{AppError, AppOptions, Application};
pub use config::{DatabaseArgs, Secret, ServeArgs};
pub use domain::{MediaKind, MovieFields, MovieId};
pub use media::{MediaError, MediaStore, S3Media, S3MediaSettings};
pub use outbox::RelaySettings;
pub use postgres::{PgMovieStore, PgSettings};
pub use store::{MovieStore, StoreError};
