//! Request values parsed once into types that cannot be invalid: ids, star ratings in half
//! steps, reviews, page sizes and page tokens. Each parse error names the request field.

use std::fmt;

/// Longest review, in characters.
pub const MAX_REVIEW_CHARS: usize = 10_000;
/// Largest page size a client may ask for.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Page size when the client asks for 0.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// A request field that failed validation: the field's name and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidField {
    /// The request field (`rating`, `movie_id`, `page_token`, ...).
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl InvalidField {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self { field, reason: reason.into() }
    }
}

/// An external user id (non-zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(u64);

impl UserId {
    /// `id` if it is non-zero.
    pub fn parse(id: u64) -> Result<Self, InvalidField> {
        if id == 0 { Err(InvalidField::new("user_id", "must be a non-zero id")) } else { Ok(Self(id)) }
    }

    /// The id.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An external movie id (non-zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MovieId(u64);

impl MovieId {
    /// `id` if it is non-zero.
    pub fn parse(id: u64) -> Result<Self, InvalidField> {
        if id == 0 { Err(InvalidField::new("movie_id", "must be a non-zero id")) } else { Ok(Self(id)) }
    }

    /// The id.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for MovieId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A rating of 0.5..=5.0 stars in half steps, kept as the number of half stars (1..=10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stars(u8);

impl Stars {
    /// `rating` if it is one of 0.5, 1.0, ..., 5.0.
    pub fn parse(rating: f32) -> Result<Self, InvalidField> {
        let half = rating * 2.0;
        if rating.is_finite() && half.fract() == 0.0 && (1.0..=10.0).contains(&half) {
            Ok(Self(half as u8))
        } else {
            Err(InvalidField::new("rating", format!("must be 0.5 to 5.0 in steps of 0.5, got {rating}")))
        }
    }

    /// From a half-star count as stored in Redis (1..=10).
    pub fn from_half_stars(half: u8) -> Option<Self> {
        (1..=10).contains(&half).then_some(Self(half))
    }

    /// Half stars (1..=10).
    pub fn half_stars(self) -> u8 {
        self.0
    }

    /// Stars (0.5..=5.0).
    pub fn value(self) -> f32 {
        f32::from(self.0) / 2.0
    }
}

/// An optional review text of at most [`MAX_REVIEW_CHARS`] characters (empty = none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Review(String);

impl Review {
    /// `text` if it is short enough.
    pub fn parse(text: String) -> Result<Self, InvalidField> {
        let chars = text.chars().count();
        if chars > MAX_REVIEW_CHARS {
            return Err(InvalidField::new(
                "review",
                format!("at most {MAX_REVIEW_CHARS} characters, got {chars}"),
            ));
        }
        Ok(Self(text))
    }

    /// The text (empty when there is no review).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which page of a newest-first listing: an offset and a size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// Ratings to skip.
    pub offset: u64,
    /// Ratings to return (1..=[`MAX_PAGE_SIZE`]).
    pub size: u32,
}

impl PageRequest {
    /// Parses `page_size` (0 means [`DEFAULT_PAGE_SIZE`]) and `page_token` (empty for the first
    /// page, else a token from [`PageRequest::next_token`]).
    pub fn parse(page_size: u32, page_token: &str) -> Result<Self, InvalidField> {
        let size = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            1..=MAX_PAGE_SIZE => page_size,
            _ => {
                return Err(InvalidField::new(
                    "page_size",
                    format!("at most {MAX_PAGE_SIZE}, got {page_size}"),
                ));
            }
        };
        let offset = if page_token.is_empty() {
            0
        } else {
            page_token
                .strip_prefix("o")
                .and_then(|digits| digits.parse::<u64>().ok())
                .filter(|offset| *offset > 0)
                .ok_or_else(|| {
                    InvalidField::new("page_token", "not a token from a previous response of this listing")
                })?
        };
        Ok(Self { offset, size })
    }

    /// The token of the page after this one, or empty when this page reaches `total`.
    pub fn next_token(&self, total: u64) -> String {
        let next = self.offset + u64::from(self.size);
        if next < total { format!("o{next}") } else { String::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_accept_half_steps_only() {
        for (rating, half) in [(0.5, 1), (1.0, 2), (3.5, 7), (5.0, 10)] {
            assert_eq!(Stars::parse(rating).map(Stars::half_stars), Ok(half), "{rating}");
        }
        for rating in [0.0, -0.5, 5.5, 4.2, 0.25, f32::NAN, f32::INFINITY] {
            let err = Stars::parse(rating).unwrap_err();
            assert_eq!(err.field, "rating", "{rating}");
        }
        assert_eq!(Stars::parse(4.5).unwrap().value(), 4.5);
    }

    #[test]
    fn ids_must_be_non_zero() {
        assert_eq!(UserId::parse(0).unwrap_err().field, "user_id");
        assert_eq!(MovieId::parse(0).unwrap_err().field, "movie_id");
        assert_eq!(UserId::parse(7).unwrap().get(), 7);
    }

    #[test]
    fn reviews_are_counted_in_characters() {
        assert!(Review::parse("é".repeat(MAX_REVIEW_CHARS)).is_ok());
        assert_eq!(Review::parse("a".repeat(MAX_REVIEW_CHARS + 1)).unwrap_err().field, "review");
    }

    #[test]
    fn pages_round_trip_through_tokens() {
        let first = PageRequest::parse(0, "").unwrap();
        assert_eq!(first, PageRequest { offset: 0, size: DEFAULT_PAGE_SIZE });
        let page = PageRequest::parse(10, "").unwrap();
        let token = page.next_token(25);
        assert_eq!(PageRequest::parse(10, &token).unwrap().offset, 10);
        assert_eq!(PageRequest { offset: 20, size: 10 }.next_token(25), "");
        assert_eq!(PageRequest::parse(1001, "").unwrap_err().field, "page_size");
        for bad in ["x", "o", "o-1", "o0", "12", "o1x"] {
            assert_eq!(PageRequest::parse(10, bad).unwrap_err().field, "page_token", "{bad}");
        }
    }
}
