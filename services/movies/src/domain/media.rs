//! Posters and trailers: kinds, size and type limits, magic-byte sniffing and object keys.

use super::{FieldError, MovieId};

/// A stored media file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaObject {
    /// Object key in the media bucket.
    pub key: String,
    /// Its MIME type.
    pub content_type: String,
}

pub use contract::media::{MAX_POSTER_BYTES, MAX_TRAILER_BYTES, MediaKind};

/// A media upload that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaUpload {
    /// Poster or trailer.
    pub kind: MediaKind,
    /// Canonical MIME type (lower case, no parameters).
    pub content_type: &'static str,
    /// File extension for the object key.
    pub extension: &'static str,
}

impl MediaUpload {
    /// Checks the declared `content_type` against `kind`, the size, and the file's magic bytes
    /// (a mislabelled file is refused). Errors name `content_type` or `data`.
    pub fn check(kind: MediaKind, content_type: &str, data: &[u8]) -> Result<Self, FieldError> {
        let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let accepted = kind.formats();
        let Some(&(content_type, extension)) = accepted.iter().find(|(mime, _)| *mime == essence) else {
            let names: Vec<_> = accepted.iter().map(|(mime, _)| *mime).collect();
            return Err(FieldError::new(
                "content_type",
                format!("{essence:?} is not accepted for a {kind}; use one of {}", names.join(", ")),
            ));
        };
        if data.is_empty() {
            return Err(FieldError::new("data", "is empty"));
        }
        if data.len() > kind.max_bytes() {
            return Err(FieldError::new(
                "data",
                format!("{} bytes is over the {kind} limit of {} bytes", data.len(), kind.max_bytes()),
            ));
        }
        match sniff(data) {
            Some(sniffed) if sniffed == content_type => Ok(Self { kind, content_type, extension }),
            Some(sniffed) => Err(FieldError::new(
                "data",
                format!("the file is {sniffed}, not the declared {content_type}"),
            )),
            None => {
                Err(FieldError::new("data", format!("the file is not {content_type} (unrecognised content)")))
            }
        }
    }
}

/// The MIME type a file's first bytes identify, among the accepted media types.
pub fn sniff(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        Some("image/webp")
    } else if data.len() >= 8 && &data[4..8] == b"ftyp" {
        Some("video/mp4")
    } else if data.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]) {
        Some("video/webm")
    } else {
        None
    }
}

/// The stable object key of a movie's media file: `movies/{id}/{kind}.{ext}`.
pub fn media_key(id: MovieId, upload: &MediaUpload) -> String {
    format!("{}{}.{}", media_prefix(id), upload.kind, upload.extension)
}

/// The key prefix under which all of a movie's media live: `movies/{id}/`.
pub fn media_prefix(id: MovieId) -> String {
    format!("movies/{id}/")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const JPEG: &[u8] = &[0xff, 0xd8, 0xff, 0xe0, 0, 0x10, b'J', b'F', b'I', b'F'];
    const MP4: &[u8] = b"\0\0\0\x18ftypmp42\0\0\0\0";

    #[test]
    fn media_type_size_and_magic_bytes_are_checked() {
        let ok = MediaUpload::check(MediaKind::Poster, "Image/PNG; charset=binary", PNG).unwrap();
        assert_eq!((ok.content_type, ok.extension), ("image/png", "png"));
        assert_eq!(media_key(MovieId::from_i64(7).unwrap(), &ok), "movies/7/poster.png");
        assert!(MediaUpload::check(MediaKind::Trailer, "video/mp4", MP4).is_ok());
        let webp = b"RIFF\x10\0\0\0WEBPVP8 ";
        assert!(MediaUpload::check(MediaKind::Poster, "image/webp", webp).is_ok());
        for (kind, content_type, data, field) in [
            (MediaKind::Poster, "image/gif", PNG, "content_type"),
            (MediaKind::Poster, "video/mp4", MP4, "content_type"),
            (MediaKind::Trailer, "image/png", PNG, "content_type"),
            (MediaKind::Poster, "image/jpeg", PNG, "data"),
            (MediaKind::Poster, "image/png", b"hello, world" as &[u8], "data"),
            (MediaKind::Poster, "image/jpeg", &[] as &[u8], "data"),
        ] {
            let err = MediaUpload::check(kind, content_type, data).unwrap_err();
            assert_eq!(err.field, field, "{kind} {content_type}: {err}");
        }
        let mut big = JPEG.to_vec();
        big.resize(MAX_POSTER_BYTES + 1, 0);
        let err = MediaUpload::check(MediaKind::Poster, "image/jpeg", &big).unwrap_err();
        assert!(err.field == "data" && err.reason.contains("limit"), "{err}");
        big.truncate(MAX_POSTER_BYTES);
        assert!(MediaUpload::check(MediaKind::Poster, "image/jpeg", &big).is_ok());
    }
}
