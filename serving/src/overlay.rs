//! Per-user overlays: what is known about a user since the serving model was trained — rating
//! changes (folded in with the training history) and blocked movies (never returned).
//!
//! The event consumer ([`crate::consumer`]) fills them from Kafka through
//! [`crate::Serving::record_rating`], [`crate::Serving::set_blocked`] and
//! [`crate::Serving::forget_user`]. Ratings are kept raw (stars, or `None` for a deleted
//! rating) with their timestamp; the serving model turns them into interactions with the rule
//! it was trained with ([`crate::loaded_model::ModelState::interaction_value`]) at query time, and
//! ratings older than the model's training time are skipped (the model already has them) and
//! dropped at the next swap ([`Overlays::drop_ratings_before`]).
//!
//! The overlays are bounded: at most [`Overlays::max_users`] users, the least recently updated
//! one evicted first (counted in `cinerec_serving_overlay_evictions_total`), and at most
//! [`MAX_RATINGS`] ratings per user (the oldest dropped first).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

/// Most recent rating changes kept per user (older ones are dropped first).
pub const MAX_RATINGS: usize = 500;

/// Default cap on the users held ([`crate::ServingConfig::overlay_max_users`]).
pub const DEFAULT_MAX_USERS: usize = 100_000;

/// One rating change of a user, as the ratings service published it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecentRating {
    /// External movie id.
    pub movie_id: u64,
    /// The stars (0.5..=5.0), or `None` when the rating was deleted.
    pub rating: Option<f32>,
    /// When it was made, milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

/// One user's additions to the model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserOverlay {
    /// Rating changes, oldest first, one entry per movie (the latest change).
    pub ratings: Vec<RecentRating>,
    /// Movies the user never wants to see (sorted, unique).
    pub blocked: Vec<u64>,
}

impl UserOverlay {
    /// Nothing to add.
    pub fn is_empty(&self) -> bool {
        self.ratings.is_empty() && self.blocked.is_empty()
    }
}

/// What an update did to the set of users held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Updated {
    /// Users evicted to stay within the cap (0 or 1).
    pub evicted: usize,
}

/// Every user's overlay, bounded. Reads are one atomic load when no user has an overlay, else
/// one shared lock and a hash lookup.
#[derive(Debug)]
pub struct Overlays {
    inner: RwLock<Inner>,
    len: AtomicUsize,
    max_users: usize,
}

#[derive(Debug, Default)]
struct Inner {
    users: HashMap<u64, Slot>,
    /// Update tick → user: the eviction order (least recently updated first).
    order: BTreeMap<u64, u64>,
    tick: u64,
}

#[derive(Debug)]
struct Slot {
    overlay: Arc<UserOverlay>,
    tick: u64,
}

impl Default for Overlays {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_USERS)
    }
}

impl Overlays {
    /// Holds at most `max_users` users (at least 1).
    pub fn new(max_users: usize) -> Self {
        Self { inner: Default::default(), len: AtomicUsize::new(0), max_users: max_users.max(1) }
    }

    /// The cap on users held.
    pub fn max_users(&self) -> usize {
        self.max_users
    }

    /// The overlay of `user_id`, if any.
    pub fn get(&self, user_id: u64) -> Option<Arc<UserOverlay>> {
        if self.len.load(Ordering::Acquire) == 0 {
            return None;
        }
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.users.get(&user_id).map(|slot| slot.overlay.clone())
    }

    /// Changes the overlay of `user_id` (created empty if absent; removed if left empty) and
    /// makes it the most recently updated; evicts the least recently updated user when a new one
    /// exceeds the cap.
    pub fn update(&self, user_id: u64, change: impl FnOnce(&mut UserOverlay)) -> Updated {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let inner = &mut *inner;
        let old = inner.users.remove(&user_id);
        let mut overlay = match old {
            Some(slot) => {
                inner.order.remove(&slot.tick);
                Arc::unwrap_or_clone(slot.overlay)
            }
            None => UserOverlay::default(),
        };
        change(&mut overlay);
        if overlay.ratings.len() > MAX_RATINGS {
            let excess = overlay.ratings.len() - MAX_RATINGS;
            overlay.ratings.drain(..excess);
        }
        let mut res = Updated::default();
        if !overlay.is_empty() {
            inner.tick += 1;
            let tick = inner.tick;
            inner.users.insert(user_id, Slot { overlay: Arc::new(overlay), tick });
            inner.order.insert(tick, user_id);
            while inner.users.len() > self.max_users {
                let Some((_, victim)) = inner.order.pop_first() else { break };
                inner.users.remove(&victim);
                res.evicted += 1;
            }
        }
        self.len.store(inner.users.len(), Ordering::Release);
        res
    }

    /// Records one rating change (`None`: deleted); it replaces any earlier change of the same
    /// movie unless that one is newer.
    pub fn record_rating(&self, user_id: u64, rating: RecentRating) -> Updated {
        self.update(user_id, |o| {
            if o.ratings.iter().any(|r| r.movie_id == rating.movie_id && r.timestamp_ms > rating.timestamp_ms)
            {
                return;
            }
            o.ratings.retain(|r| r.movie_id != rating.movie_id);
            o.ratings.push(rating);
        })
    }

    /// Replaces the blocked movies.
    pub fn set_blocked(&self, user_id: u64, movie_ids: &[u64]) -> Updated {
        let mut blocked = movie_ids.to_vec();
        blocked.sort_unstable();
        blocked.dedup();
        self.update(user_id, |o| o.blocked = blocked)
    }

    /// Forgets one user (deleted).
    pub fn remove(&self, user_id: u64) {
        self.update(user_id, |o| *o = UserOverlay::default());
    }

    /// Drops every rating change made before `timestamp_ms` (a new model was trained after
    /// them, so it has them) and the users left empty; returns how many users were dropped.
    pub fn drop_ratings_before(&self, timestamp_ms: i64) -> usize {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let inner = &mut *inner;
        let mut emptied = Vec::new();
        for (&user_id, slot) in &mut inner.users {
            if slot.overlay.ratings.iter().all(|r| r.timestamp_ms >= timestamp_ms) {
                continue;
            }
            let overlay = Arc::make_mut(&mut slot.overlay);
            overlay.ratings.retain(|r| r.timestamp_ms >= timestamp_ms);
            if overlay.is_empty() {
                emptied.push((user_id, slot.tick));
            }
        }
        for &(user_id, tick) in &emptied {
            inner.users.remove(&user_id);
            inner.order.remove(&tick);
        }
        self.len.store(inner.users.len(), Ordering::Release);
        emptied.len()
    }

    /// Users with an overlay.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// No user has an overlay.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rated(movie_id: u64, rating: f32, timestamp_ms: i64) -> RecentRating {
        RecentRating { movie_id, rating: Some(rating), timestamp_ms }
    }

    fn movies(overlays: &Overlays, user_id: u64) -> Vec<(u64, Option<f32>)> {
        overlays
            .get(user_id)
            .map_or_else(Vec::new, |o| o.ratings.iter().map(|r| (r.movie_id, r.rating)).collect())
    }

    #[test]
    fn ratings_keep_the_latest_change_and_a_bounded_tail() {
        let overlays = Overlays::default();
        assert!(overlays.get(7).is_none());
        overlays.record_rating(7, rated(1, 5.0, 10));
        overlays.record_rating(7, rated(2, 4.0, 11));
        overlays.record_rating(7, RecentRating { movie_id: 1, rating: None, timestamp_ms: 12 });
        assert_eq!(movies(&overlays, 7), [(2, Some(4.0)), (1, None)]);
        overlays.record_rating(7, rated(2, 1.0, 5));
        assert_eq!(movies(&overlays, 7), [(2, Some(4.0)), (1, None)], "an older change loses");
        for movie in 0..(MAX_RATINGS as u64 + 10) {
            overlays.record_rating(8, rated(100 + movie, 4.0, 1));
        }
        let eight = overlays.get(8).unwrap();
        assert_eq!((eight.ratings.len(), eight.ratings[0].movie_id), (MAX_RATINGS, 110));
        overlays.remove(7);
        overlays.set_blocked(8, &[]);
        assert_eq!(overlays.len(), 1);
        overlays.remove(8);
        assert!(overlays.is_empty() && overlays.get(8).is_none());
    }

    #[test]
    fn the_least_recently_updated_user_is_evicted_at_the_cap() {
        let overlays = Overlays::new(2);
        assert_eq!(overlays.record_rating(1, rated(10, 5.0, 1)).evicted, 0);
        assert_eq!(overlays.set_blocked(2, &[3, 3, 1]).evicted, 0);
        assert_eq!(overlays.get(2).unwrap().blocked, [1, 3]);
        overlays.record_rating(1, rated(11, 5.0, 2)); // user 1 is now the most recent
        assert_eq!(overlays.record_rating(3, rated(12, 5.0, 3)).evicted, 1);
        assert!(overlays.get(2).is_none(), "user 2 was updated least recently");
        assert_eq!((overlays.len(), movies(&overlays, 1).len()), (2, 2));
        overlays.remove(1);
        assert_eq!(overlays.record_rating(4, rated(13, 5.0, 4)).evicted, 0, "removal freed a place");
    }

    #[test]
    fn a_new_model_drops_the_ratings_it_was_trained_on() {
        let overlays = Overlays::default();
        overlays.record_rating(1, rated(10, 5.0, 100));
        overlays.record_rating(1, rated(11, 5.0, 300));
        overlays.record_rating(2, rated(10, 5.0, 100));
        overlays.update(3, |o| {
            o.ratings.push(rated(10, 5.0, 100));
            o.blocked.push(9);
        });
        assert_eq!(overlays.drop_ratings_before(200), 1, "user 2 had nothing newer");
        assert_eq!(movies(&overlays, 1), [(11, Some(5.0))]);
        assert!(overlays.get(2).is_none());
        let three = overlays.get(3).unwrap();
        assert_eq!((three.ratings.len(), three.blocked.as_slice()), (0, &[9][..]), "blocked movies stay");
        assert_eq!(overlays.len(), 2);
    }
}
