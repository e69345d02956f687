//! The MovieLens importers, kept out of the services so that no service but serving links the
//! `datasets` crate (and through it the engine): [`movies`] upserts a dataset's movies (and
//! `links.csv` ids) into the movies service's PostgreSQL through its `MovieStore`; [`ratings`]
//! writes a dataset's ratings into the ratings service's Redis through the same Lua script the
//! service runs. Both are idempotent.

pub mod movies;
pub mod ratings;
