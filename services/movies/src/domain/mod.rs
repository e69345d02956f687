//! Domain types that cannot be invalid: movie ids and canonical genres (from the contract
//! crate), validated movie fields (`movie.rs`), list filters with their opaque page token
//! (`listing.rs`), and media kinds with their content checks (`media.rs`). Every
//! parse failure is an [`FieldError`] naming the request field, which the gRPC edge turns into
//! `INVALID_ARGUMENT`.

/// Earliest release year accepted (the first films date from the 1870s).
pub const MIN_YEAR: i32 = 1870;
/// Latest release year accepted.
pub const MAX_YEAR: i32 = 2100;
/// Longest title accepted, in characters.
pub const MAX_TITLE_CHARS: usize = 500;
/// Largest page of [`ListQuery`].
pub const MAX_PAGE_SIZE: u32 = 500;
/// Page size when the request leaves it 0.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Most search results.
pub const MAX_SEARCH_LIMIT: u32 = 100;
/// Search results when the request leaves the limit 0.
pub const DEFAULT_SEARCH_LIMIT: u32 = 20;

/// Ids and the field-error type every service shares.
pub use contract::{FieldError, MovieId};
/// The genre vocabulary and its canonical spelling, shared through the contract crate.
pub use contract::{GENRES, canonical_genre};

mod listing;
mod media;
mod movie;

pub use listing::{ListQuery, SearchQuery};
pub use media::{
    MAX_POSTER_BYTES, MAX_TRAILER_BYTES, MediaKind, MediaObject, MediaUpload, media_key, media_prefix, sniff,
};
pub use movie::{Movie, MovieFields, title_without_year};
