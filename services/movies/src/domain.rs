//! Domain types that cannot be invalid: movie ids, canonical genres, validated movie fields,
//! list filters with their opaque page token, and media kinds with their content checks. Every
//! parse failure is an [`FieldError`] naming the request field, which the gRPC edge turns into
//! `INVALID_ARGUMENT`.

use std::fmt;

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

/// Validated movie fields (everything but media), ready to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MovieFields {
    /// Non-empty, trimmed, at most [`MAX_TITLE_CHARS`] characters.
    pub title: String,
    /// [`MIN_YEAR`]..=[`MAX_YEAR`], or unknown.
    pub year: Option<i32>,
    /// Canonical genres, sorted, without duplicates.
    pub genres: Vec<String>,
    /// `tt` followed by 7 to 10 digits.
    pub imdb_id: Option<String>,
    /// Positive TMDb id.
    pub tmdb_id: Option<i64>,
}

impl MovieFields {
    /// Validates wire fields; errors name them as `movie.<field>`. `year` 0, an empty `imdb_id`
    /// and `tmdb_id` 0 mean unknown.
    pub fn parse(
        title: &str,
        year: i32,
        genres: &[String],
        imdb_id: &str,
        tmdb_id: u64,
    ) -> Result<Self, FieldError> {
        let title = title.trim();
        if title.is_empty() {
            return Err(FieldError::new("movie.title", "must not be empty"));
        }
        let chars = title.chars().count();
        if chars > MAX_TITLE_CHARS {
            return Err(FieldError::new(
                "movie.title",
                format!("has {chars} characters, at most {MAX_TITLE_CHARS} are allowed"),
            ));
        }
        let year = match year {
            0 => None,
            year => Some(check_year("movie.year", year)?),
        };
        let mut canonical = Vec::with_capacity(genres.len());
        for genre in genres {
            let known = canonical_genre(genre).ok_or_else(|| {
                FieldError::new(
                    "movie.genres",
                    format!("unknown genre {genre:?}; known: {}", GENRES.join(", ")),
                )
            })?;
            canonical.push(known.to_string());
        }
        canonical.sort_unstable();
        canonical.dedup();
        let imdb_id = match imdb_id.trim() {
            "" => None,
            id if is_imdb_id(id) => Some(id.to_string()),
            id => {
                return Err(FieldError::new(
                    "movie.imdb_id",
                    format!("{id:?} is not an IMDb id like \"tt0114709\""),
                ));
            }
        };
        let tmdb_id = match tmdb_id {
            0 => None,
            id => Some(i64::try_from(id).map_err(|_| {
                FieldError::new("movie.tmdb_id", format!("{id} is larger than {}", i64::MAX))
            })?),
        };
        Ok(Self { title: title.to_string(), year, genres: canonical, imdb_id, tmdb_id })
    }
}

fn check_year(field: &'static str, year: i32) -> Result<i32, FieldError> {
    if (MIN_YEAR..=MAX_YEAR).contains(&year) {
        Ok(year)
    } else {
        Err(FieldError::new(field, format!("{year} is outside {MIN_YEAR}..={MAX_YEAR} (0 means unknown)")))
    }
}

fn is_imdb_id(id: &str) -> bool {
    id.strip_prefix("tt")
        .is_some_and(|digits| (7..=10).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// The title of a MovieLens entry without its trailing `(1995)` (or `(2007-)`), when the year
/// was read from it; other titles are returned trimmed.
pub fn title_without_year(title: &str) -> &str {
    let title = title.trim();
    match (contract::year_from_title(title), title.rfind('(')) {
        (Some(_), Some(open)) if open > 0 => title[..open].trim_end(),
        _ => title,
    }
}

/// A catalogue entry as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Movie {
    /// Its id.
    pub id: MovieId,
    /// Title, year, genres and links.
    pub fields: MovieFields,
    /// The poster object, if uploaded.
    pub poster: Option<MediaObject>,
    /// The trailer object, if uploaded.
    pub trailer: Option<MediaObject>,
}

/// A stored media file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaObject {
    /// Object key in the media bucket.
    pub key: String,
    /// Its MIME type.
    pub content_type: String,
}

/// Which listing page to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// Movies with a larger id than this (keyset pagination); `None` from the start.
    pub after: Option<MovieId>,
    /// At most this many, 1..=[`MAX_PAGE_SIZE`].
    pub limit: u32,
    /// Canonical genre every movie must have.
    pub genre: Option<&'static str>,
    /// Released in or after this year.
    pub year_from: Option<i32>,
    /// Released in or before this year.
    pub year_to: Option<i32>,
}

impl ListQuery {
    /// Validates a `ListMovies` request's fields (`page_size`, `page_token`, `genre`,
    /// `year_from`, `year_to`).
    pub fn parse(
        page_size: u32,
        page_token: &str,
        genre: &str,
        year_from: i32,
        year_to: i32,
    ) -> Result<Self, FieldError> {
        let limit = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n > MAX_PAGE_SIZE => {
                return Err(FieldError::new(
                    "page_size",
                    format!("{n} is above the maximum of {MAX_PAGE_SIZE}"),
                ));
            }
            n => n,
        };
        let genre = match genre.trim() {
            "" => None,
            name => Some(canonical_genre(name).ok_or_else(|| {
                FieldError::new("genre", format!("unknown genre {name:?}; known: {}", GENRES.join(", ")))
            })?),
        };
        let year_from = (year_from != 0).then(|| check_year("year_from", year_from)).transpose()?;
        let year_to = (year_to != 0).then(|| check_year("year_to", year_to)).transpose()?;
        if let (Some(from), Some(to)) = (year_from, year_to)
            && from > to
        {
            return Err(FieldError::new("year_to", format!("{to} is before year_from {from}")));
        }
        let mut query = Self { after: None, limit, genre, year_from, year_to };
        if !page_token.is_empty() {
            query.after = Some(PageToken::decode(page_token, &query)?);
        }
        Ok(query)
    }

    /// The token of the page after the one that ended with `last`.
    pub fn next_page_token(&self, last: MovieId) -> String {
        PageToken::encode(last, self)
    }

    /// A fingerprint of the filters, so that a token is refused with other filters.
    fn filter_hash(&self) -> u32 {
        let mut hash = Fnv::new();
        hash.write(self.genre.unwrap_or("").as_bytes());
        hash.write(&[0xff]);
        hash.write(&self.year_from.unwrap_or(0).to_le_bytes());
        hash.write(&self.year_to.unwrap_or(0).to_le_bytes());
        hash.finish() as u32
    }
}

/// The opaque page token: 32 hex digits of `[version 1][last id 8][filter hash 4][check 3]`.
/// It is not secret (anyone may start a listing at any id); the check only tells a token from
/// garbage, and the filter hash refuses a token reused with other filters.
struct PageToken;

impl PageToken {
    const VERSION: u8 = 1;

    fn encode(last: MovieId, query: &ListQuery) -> String {
        let mut bytes = [0u8; 16];
        bytes[0] = Self::VERSION;
        bytes[1..9].copy_from_slice(&last.as_i64().to_be_bytes());
        bytes[9..13].copy_from_slice(&query.filter_hash().to_be_bytes());
        let check = Self::check(&bytes[..13]);
        bytes[13..].copy_from_slice(&check);
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn decode(token: &str, query: &ListQuery) -> Result<MovieId, FieldError> {
        let bad = |reason: &str| FieldError::new("page_token", reason.to_string());
        if token.len() != 32 || !token.is_ascii() {
            return Err(bad("is not a token from a previous ListMovies response"));
        }
        let mut bytes = [0u8; 16];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&token[2 * i..2 * i + 2], 16)
                .map_err(|_| bad("is not a token from a previous ListMovies response"))?;
        }
        if bytes[0] != Self::VERSION || bytes[13..] != Self::check(&bytes[..13]) {
            return Err(bad("is not a token from a previous ListMovies response"));
        }
        let hash = u32::from_be_bytes(bytes[9..13].try_into().expect("4 bytes"));
        if hash != query.filter_hash() {
            return Err(bad("was issued for other filters (genre, year_from, year_to)"));
        }
        let id = i64::from_be_bytes(bytes[1..9].try_into().expect("8 bytes"));
        MovieId::from_i64(id).ok_or_else(|| bad("is not a token from a previous ListMovies response"))
    }

    fn check(bytes: &[u8]) -> [u8; 3] {
        let mut hash = Fnv::new();
        hash.write(b"cinerec-movies-page");
        hash.write(bytes);
        let [a, b, c, ..] = hash.finish().to_be_bytes();
        [a, b, c]
    }
}

/// FNV-1a, 64 bits: stable across builds and platforms (unlike `DefaultHasher`).
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A validated title search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchQuery {
    /// The words, trimmed, non-empty.
    pub text: String,
    /// At most this many results, 1..=[`MAX_SEARCH_LIMIT`].
    pub limit: u32,
}

impl SearchQuery {
    /// Validates `query` and `limit` of a `SearchMovies` request.
    pub fn parse(query: &str, limit: u32) -> Result<Self, FieldError> {
        let text = query.trim();
        if text.is_empty() {
            return Err(FieldError::new("query", "must not be empty"));
        }
        if text.chars().count() > MAX_TITLE_CHARS {
            return Err(FieldError::new("query", format!("is longer than {MAX_TITLE_CHARS} characters")));
        }
        let limit = match limit {
            0 => DEFAULT_SEARCH_LIMIT,
            n if n > MAX_SEARCH_LIMIT => {
                return Err(FieldError::new(
                    "limit",
                    format!("{n} is above the maximum of {MAX_SEARCH_LIMIT}"),
                ));
            }
            n => n,
        };
        Ok(Self { text: text.to_string(), limit })
    }
}

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
    fn formats(self) -> &'static [(&'static str, &'static str)] {
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

    fn fields(title: &str, year: i32, genres: &[&str], imdb: &str) -> Result<MovieFields, FieldError> {
        let genres: Vec<String> = genres.iter().map(|g| g.to_string()).collect();
        MovieFields::parse(title, year, &genres, imdb, 0)
    }

    #[test]
    fn movie_fields_are_checked_and_named() {
        let ok = fields("  Toy Story ", 1995, &["comedy", "Children's", "Animation", "Comedy"], "tt0114709")
            .unwrap();
        assert_eq!(ok.title, "Toy Story");
        assert_eq!(ok.genres, ["Animation", "Children", "Comedy"]);
        assert_eq!(ok.imdb_id.as_deref(), Some("tt0114709"));
        for (bad, field) in [
            (fields(" ", 1995, &[], ""), "movie.title"),
            (fields(&"x".repeat(501), 1995, &[], ""), "movie.title"),
            (fields("A", 1869, &[], ""), "movie.year"),
            (fields("A", 2101, &[], ""), "movie.year"),
            (fields("A", 0, &["Space Opera"], ""), "movie.genres"),
            (fields("A", 0, &[], "0114709"), "movie.imdb_id"),
            (MovieFields::parse("A", 0, &[], "", u64::MAX), "movie.tmdb_id"),
        ] {
            assert_eq!(bad.unwrap_err().field, field);
        }
        assert_eq!(fields("A", 0, &[], "").unwrap().year, None);
    }

    #[test]
    fn movie_ids_are_positive_bigints() {
        assert_eq!(MovieId::parse(1, "movie_id").unwrap().get(), 1);
        assert_eq!(MovieId::parse(0, "movie_id").unwrap_err().field, "movie_id");
        assert_eq!(MovieId::parse(u64::MAX, "movie_id").unwrap_err().field, "movie_id");
    }

    #[test]
    fn titles_lose_only_a_trailing_year() {
        for (title, want) in [
            ("Toy Story (1995)", "Toy Story"),
            (
                "City of Lost Children, The (Cité des enfants perdus, La) (1995)",
                "City of Lost Children, The (Cité des enfants perdus, La)",
            ),
            ("Babylon 5", "Babylon 5"),
            ("Fawlty Towers (1975-1979)", "Fawlty Towers"),
            ("Big Bang Theory (2007-)", "Big Bang Theory"),
            ("Solo (A Star Wars Story)", "Solo (A Star Wars Story)"),
        ] {
            assert_eq!(title_without_year(title), want, "{title}");
        }
    }

    #[test]
    fn list_queries_check_every_field() {
        let q = ListQuery::parse(0, "", "sci-fi", 1990, 1999).unwrap();
        assert_eq!(
            (q.limit, q.genre, q.year_from, q.year_to),
            (DEFAULT_PAGE_SIZE, Some("Sci-Fi"), Some(1990), Some(1999))
        );
        for (bad, field) in [
            (ListQuery::parse(501, "", "", 0, 0), "page_size"),
            (ListQuery::parse(10, "", "Cartoon", 0, 0), "genre"),
            (ListQuery::parse(10, "", "", 1800, 0), "year_from"),
            (ListQuery::parse(10, "", "", 0, 3000), "year_to"),
            (ListQuery::parse(10, "", "", 2000, 1990), "year_to"),
            (ListQuery::parse(10, "garbage", "", 0, 0), "page_token"),
        ] {
            assert_eq!(bad.unwrap_err().field, field);
        }
    }

    #[test]
    fn page_tokens_round_trip_and_refuse_tampering_or_other_filters() {
        let q = ListQuery::parse(10, "", "Drama", 0, 0).unwrap();
        let token = q.next_page_token(MovieId::from_i64(4242).unwrap());
        assert_eq!(token.len(), 32);
        let next = ListQuery::parse(10, &token, "drama", 0, 0).unwrap();
        assert_eq!(next.after, Some(MovieId::from_i64(4242).unwrap()));
        // Another page size is fine; other filters are not.
        assert!(ListQuery::parse(20, &token, "Drama", 0, 0).is_ok());
        let err = ListQuery::parse(10, &token, "Comedy", 0, 0).unwrap_err();
        assert!(err.reason.contains("other filters"), "{err}");
        let mut tampered = token.into_bytes();
        tampered[10] = if tampered[10] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(ListQuery::parse(10, &tampered, "Drama", 0, 0).unwrap_err().field, "page_token");
    }

    #[test]
    fn search_queries_are_checked() {
        assert_eq!(
            SearchQuery::parse(" toy story ", 0).unwrap(),
            SearchQuery { text: "toy story".into(), limit: 20 }
        );
        assert_eq!(SearchQuery::parse("  ", 5).unwrap_err().field, "query");
        assert_eq!(SearchQuery::parse("a", 101).unwrap_err().field, "limit");
    }

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
