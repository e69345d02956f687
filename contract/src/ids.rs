//! The platform's id types. Ids are positive integers that fit an `i64` (PostgreSQL `bigint`,
//! MongoDB `long`), on the wire as `uint64`; `0` means "not set" in protobuf and is refused.

use std::fmt;

use crate::error::FieldError;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "u64", into = "u64")]
        pub struct $name(u64);

        impl $name {
            /// Checks a wire id from the request field `field` (1 ..= `i64::MAX`).
            pub fn parse(id: u64, field: &str) -> Result<Self, FieldError> {
                match id {
                    0 => Err(FieldError::new(field, concat!("must be set (a positive ", $what, " id)"))),
                    id if id > i64::MAX as u64 => {
                        Err(FieldError::new(field, format!("{id} is larger than {}", i64::MAX)))
                    }
                    id => Ok(Self(id)),
                }
            }

            /// An id read back from a database `bigint` column; `None` unless it is positive.
            pub fn from_i64(id: i64) -> Option<Self> {
                u64::try_from(id).ok().filter(|&id| id > 0).map(Self)
            }

            /// The id as on the wire.
            pub fn get(self) -> u64 {
                self.0
            }

            /// The id as a database `bigint` (always positive).
            pub fn as_i64(self) -> i64 {
                self.0 as i64
            }
        }

        impl TryFrom<u64> for $name {
            type Error = FieldError;

            fn try_from(id: u64) -> Result<Self, FieldError> {
                Self::parse(id, concat!($what, "_id"))
            }
        }

        impl From<$name> for u64 {
            fn from(id: $name) -> u64 {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = FieldError;

            /// Decimal text, as in Redis keys and URL paths.
            fn from_str(text: &str) -> Result<Self, FieldError> {
                let id = text.parse::<u64>().map_err(|_| {
                    FieldError::new(concat!($what, "_id"), format!("{text:?} is not a positive integer"))
                })?;
                Self::try_from(id)
            }
        }
    };
}

id_type!(
    /// A user (an account of the users service; MovieLens user ids are imported as they are).
    UserId,
    "user"
);
id_type!(
    /// A movie of the catalogue (MovieLens movie ids are kept as they are).
    MovieId,
    "movie"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positive_and_fit_a_bigint() {
        assert_eq!(MovieId::parse(42, "movie_id").unwrap().get(), 42);
        assert_eq!(UserId::parse(i64::MAX as u64, "user_id").unwrap().as_i64(), i64::MAX);
        let zero = UserId::parse(0, "user_id").unwrap_err();
        assert_eq!(zero.field, "user_id");
        assert!(zero.reason.contains("must be set"), "{zero}");
        let huge = MovieId::parse(u64::MAX, "movie.movie_id").unwrap_err();
        assert_eq!(huge.field, "movie.movie_id");
        assert!(huge.reason.contains("larger than"), "{huge}");
        assert_eq!(MovieId::from_i64(7).map(MovieId::get), Some(7));
        assert_eq!(MovieId::from_i64(0), None);
        assert_eq!(MovieId::from_i64(-3), None);
    }

    #[test]
    fn ids_parse_from_text_and_json() {
        assert_eq!("17".parse::<MovieId>().unwrap().get(), 17);
        assert_eq!("x".parse::<MovieId>().unwrap_err().field, "movie_id");
        assert_eq!(serde_json::to_string(&UserId::parse(5, "u").unwrap()).unwrap(), "5");
        assert_eq!(serde_json::from_str::<UserId>("5").unwrap().get(), 5);
        assert!(serde_json::from_str::<UserId>("0").is_err());
    }
}
