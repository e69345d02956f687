//! `RatingEvent` (proto `cinerec.events.v1`) payloads for the outbox: one encoded message per
//! change, keyed by the user id as decimal text.

use prost::Message;
use proto::events::v1::{RatingChange, RatingEvent};
use uuid::Uuid;

use crate::domain::{MovieId, Stars, UserId};

/// The encoded `RatingEvent` for a change of `user`'s rating of `movie` (`stars` is `None`
/// for a deletion, sent as 0).
pub fn encode(
    event_id: Uuid,
    user: UserId,
    movie: MovieId,
    stars: Option<Stars>,
    timestamp_ms: i64,
    change: RatingChange,
) -> Vec<u8> {
    RatingEvent {
        event_id: event_id.to_string(),
        user_id: user.get(),
        movie_id: movie.get(),
        rating: stars.map_or(0.0, Stars::value),
        timestamp_ms,
        change: change.into(),
    }
    .encode_to_vec()
}

/// The Kafka message key of `user`'s events.
pub fn key(user: UserId) -> String {
    user.get().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_decodable_event() {
        let id = Uuid::new_v4();
        let (user, movie) = (UserId::parse(3, "user_id").unwrap(), MovieId::parse(50, "movie_id").unwrap());
        let bytes = encode(id, user, movie, Stars::parse(4.5).ok(), 1_700_000_000_000, RatingChange::Updated);
        let event = RatingEvent::decode(bytes.as_slice()).unwrap();
        assert_eq!(event.event_id, id.to_string());
        assert_eq!((event.user_id, event.movie_id, event.rating), (3, 50, 4.5));
        assert_eq!(event.change(), RatingChange::Updated);
        assert_eq!(key(user), "3");
    }
}
