//! The ratings service's Redis layout, a contract between the ratings service (which writes it)
//! and its readers (`cinerec train --ratings-redis`, later analytics): change it only together.
//!
//! Every key starts with a prefix (`--redis-prefix`, default [`DEFAULT_PREFIX`]; `P` below).
//!
//! | key | type | content |
//! |---|---|---|
//! | `P:movies` | set | movie ids that may be rated (filled by the importer and by the movies service's `MovieEvent`s) |
//! | `P:users` | set | user ids with at least one rating |
//! | `P:user:{uid}:ratings` | hash | movie id → `"{half_stars}:{timestamp_ms}"` ([`encode_value`]) |
//! | `P:user:{uid}:recent` | sorted set | movie id scored by `timestamp_ms` (newest-first paging) |
//! | `P:movie:{mid}:ratings` | hash | user id → `"{half_stars}:{timestamp_ms}"` |
//! | `P:movie:{mid}:recent` | sorted set | user id scored by `timestamp_ms` |
//! | `P:movie:{mid}:stats` | hash | `sum` (of half stars) and `count`; mean = `sum / 2 / count` |
//! | `P:reviews` | hash | `"{uid}:{mid}"` → review text (absent when there is none) |
//! | `P:outbox` | stream | entries `topic`, `key`, `payload` (an encoded `RatingEvent`), consumer group [`OUTBOX_GROUP`] |
//!
//! `half_stars` is the rating times two (1..=10, [`Stars`]), so sums are exact integers. Ids are
//! decimal text. Timestamps are milliseconds since the Unix epoch.

use crate::error::FieldError;
use crate::ids::{MovieId, UserId};

/// A rating of 0.5..=5.0 stars in half steps, kept as the number of half stars (1..=10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stars(u8);

impl Stars {
    /// `rating` if it is one of 0.5, 1.0, ..., 5.0.
    pub fn parse(rating: f32) -> Result<Self, FieldError> {
        let half = rating * 2.0;
        if rating.is_finite() && half.fract() == 0.0 && (1.0..=10.0).contains(&half) {
            Ok(Self(half as u8))
        } else {
            Err(FieldError::new("rating", format!("must be 0.5 to 5.0 in steps of 0.5, got {rating}")))
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

/// The key prefix used when none is configured.
pub const DEFAULT_PREFIX: &str = "cinerec:ratings";
/// The outbox stream's consumer group.
pub const OUTBOX_GROUP: &str = "drainers";

/// The Redis keys of one prefix (the layout in the crate docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix`.
    pub fn new(prefix: &str) -> Self {
        Self { prefix: prefix.to_owned() }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Set of ratable movie ids.
    pub fn movies(&self) -> String {
        format!("{}:movies", self.prefix)
    }

    /// Set of user ids with ratings.
    pub fn users(&self) -> String {
        format!("{}:users", self.prefix)
    }

    /// Hash movie → `half_stars:timestamp_ms` of `user`.
    pub fn user_ratings(&self, user: UserId) -> String {
        format!("{}:user:{user}:ratings", self.prefix)
    }

    /// Sorted set of `user`'s movies by time.
    pub fn user_recent(&self, user: UserId) -> String {
        format!("{}:user:{user}:recent", self.prefix)
    }

    /// Hash user → `half_stars:timestamp_ms` of `movie`.
    pub fn movie_ratings(&self, movie: MovieId) -> String {
        format!("{}:movie:{movie}:ratings", self.prefix)
    }

    /// Sorted set of `movie`'s raters by time.
    pub fn movie_recent(&self, movie: MovieId) -> String {
        format!("{}:movie:{movie}:recent", self.prefix)
    }

    /// Hash `sum`, `count` of `movie`.
    pub fn movie_stats(&self, movie: MovieId) -> String {
        format!("{}:movie:{movie}:stats", self.prefix)
    }

    /// Hash `uid:mid` → review.
    pub fn reviews(&self) -> String {
        format!("{}:reviews", self.prefix)
    }

    /// The outbox stream.
    pub fn outbox(&self) -> String {
        format!("{}:outbox", self.prefix)
    }
}

/// A rating hash's value: `"{half_stars}:{timestamp_ms}"`.
pub fn encode_value(stars: Stars, timestamp_ms: i64) -> String {
    format!("{}:{timestamp_ms}", stars.half_stars())
}

/// Parses a rating hash's value ([`encode_value`]); `None` when it is not one.
pub fn parse_value(value: &str) -> Option<(Stars, i64)> {
    let (half, timestamp) = value.split_once(':')?;
    Some((Stars::from_half_stars(half.parse().ok()?)?, timestamp.parse().ok()?))
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
    fn keys_follow_the_documented_layout() {
        let keys = Keys::new("p");
        let (user, movie) = (UserId::parse(7, "user_id").unwrap(), MovieId::parse(42, "movie_id").unwrap());
        assert_eq!(keys.user_ratings(user), "p:user:7:ratings");
        assert_eq!(keys.movie_recent(movie), "p:movie:42:recent");
        assert_eq!(keys.movie_stats(movie), "p:movie:42:stats");
        assert_eq!(
            [keys.movies(), keys.users(), keys.reviews(), keys.outbox()],
            ["p:movies", "p:users", "p:reviews", "p:outbox"]
        );
    }

    #[test]
    fn stored_values_parse() {
        assert_eq!(parse_value("9:1700000000000"), Some((Stars::parse(4.5).unwrap(), 1_700_000_000_000)));
        assert_eq!(
            parse_value(&encode_value(Stars::parse(0.5).unwrap(), 3)),
            Some((Stars::parse(0.5).unwrap(), 3))
        );
        assert_eq!(parse_value("11:1"), None);
        assert_eq!(parse_value("x"), None);
    }
}
