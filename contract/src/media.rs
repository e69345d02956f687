//! Media files of movies: the kinds (poster, trailer) with the size and type limits the movies
//! service enforces and the gateway checks before it forwards an upload.

use std::fmt;

/// Poster or trailer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// An image: JPEG, PNG or WebP, at most 5 MiB.
    Poster,
    /// A video: MP4 or WebM, at most 64 MiB.
    Trailer,
}

/// Largest poster, in bytes.
pub const MAX_POSTER_BYTES: usize = 5 << 20;
/// Largest trailer, in bytes.
pub const MAX_TRAILER_BYTES: usize = 64 << 20;

impl MediaKind {
    /// `poster` or `trailer` (also the object name under the movie's prefix).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Poster => "poster",
            Self::Trailer => "trailer",
        }
    }

    /// The largest file of this kind, in bytes.
    pub fn max_bytes(self) -> usize {
        match self {
            Self::Poster => MAX_POSTER_BYTES,
            Self::Trailer => MAX_TRAILER_BYTES,
        }
    }

    /// `(MIME type, file extension)` pairs this kind accepts.
    pub fn formats(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Poster => &[("image/jpeg", "jpg"), ("image/png", "png"), ("image/webp", "webp")],
            Self::Trailer => &[("video/mp4", "mp4"), ("video/webm", "webm")],
        }
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
