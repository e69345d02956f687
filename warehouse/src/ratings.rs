//! The ratings a model is trained on, read from the warehouse: the latest event per (user,
//! movie) — a deleted rating is gone — in canonical order (user id, then movie id), so that the
//! same ratings give the same model whichever path stored them.

use crate::{Warehouse, WarehouseError};

/// One current rating.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CurrentRating {
    /// The user.
    pub user_id: u64,
    /// The movie.
    pub movie_id: u64,
    /// 0.5..=5.0.
    pub rating: f32,
    /// When it was made, epoch milliseconds.
    pub occurred_at_ms: i64,
}

/// The latest rating event per (user, movie) by time (then event id), deletions dropped.
const LATEST: &str = "SELECT user_id, movie_id, CAST(rating AS DOUBLE PRECISION), occurred_at_ms FROM ( \
       SELECT user_id, movie_id, rating, change, occurred_at_ms, \
              ROW_NUMBER() OVER (PARTITION BY user_id, movie_id ORDER BY occurred_at_ms DESC, event_id DESC) AS rn \
       FROM rating_events) latest \
     WHERE rn = 1 AND change <> 3 ORDER BY user_id, movie_id";

/// Every current rating in canonical order.
pub async fn current_ratings<W: Warehouse>(warehouse: &W) -> Result<Vec<CurrentRating>, WarehouseError> {
    let rows = warehouse.query(LATEST, &[]).await?;
    rows.iter()
        .map(|row| {
            let id = |i: usize| row.get(i).and_then(crate::Value::as_i64).filter(|v| *v > 0);
            match (
                id(0),
                id(1),
                row.get(2).and_then(crate::Value::as_f64),
                row.get(3).and_then(crate::Value::as_i64),
            ) {
                (Some(user), Some(movie), Some(rating), Some(at)) => Ok(CurrentRating {
                    user_id: user as u64,
                    movie_id: movie as u64,
                    rating: rating as f32,
                    occurred_at_ms: at,
                }),
                _ => Err(WarehouseError::Corrupt { what: "reading ratings", reason: format!("row {row:?}") }),
            }
        })
        .collect()
}
