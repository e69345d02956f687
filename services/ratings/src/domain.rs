//! Request values parsed once into types that cannot be invalid: ids, star ratings in half
//! steps, reviews, page sizes and page tokens. Each parse error names the request field.

/// Longest review, in characters.
pub const MAX_REVIEW_CHARS: usize = 10_000;
/// Largest page size a client may ask for.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Page size when the client asks for 0.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

pub use contract::ratings_redis::Stars;
pub use contract::{FieldError, MovieId, UserId};

/// An optional review text of at most [`MAX_REVIEW_CHARS`] characters (empty = none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Review(String);

impl Review {
    /// `text` if it is short enough.
    pub fn parse(text: String) -> Result<Self, FieldError> {
        let chars = text.chars().count();
        if chars > MAX_REVIEW_CHARS {
            return Err(FieldError::new(
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
    pub fn parse(page_size: u32, page_token: &str) -> Result<Self, FieldError> {
        let size = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            1..=MAX_PAGE_SIZE => page_size,
            _ => {
                return Err(FieldError::new(
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
                    FieldError::new("page_token", "not a token from a previous response of this listing")
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
