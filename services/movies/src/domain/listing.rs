//! Listing and search requests: filters, page sizes and the opaque keyset page token.

use super::movie::check_year;
use super::{
    DEFAULT_PAGE_SIZE, DEFAULT_SEARCH_LIMIT, FieldError, GENRES, MAX_PAGE_SIZE, MAX_SEARCH_LIMIT,
    MAX_TITLE_CHARS, MovieId, canonical_genre,
};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
