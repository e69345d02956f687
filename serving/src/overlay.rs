//! Per-user overlays: what is known about a user since the serving model was trained — recent
//! interactions (folded in with the training history) and blocked movies (never returned).
//!
//! Nothing fills them yet: the event consumer of the next milestone (Kafka `RatingEvent`,
//! `UserPreferencesChanged`) calls [`crate::Serving::record_interaction`] and
//! [`crate::Serving::set_blocked`], which update the overlay and invalidate the user's cached
//! list. A user with an overlay is answered by fold-in and bypasses the cache.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

/// Most recent interactions kept per user (older ones are dropped first).
pub const MAX_INTERACTIONS: usize = 500;

/// One user's additions to the model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserOverlay {
    /// `(movie_id, value)`, oldest first, one entry per movie (the latest value).
    pub interactions: Vec<(u64, f32)>,
    /// Movies the user never wants to see.
    pub blocked: Vec<u64>,
}

impl UserOverlay {
    /// Nothing to add.
    pub fn is_empty(&self) -> bool {
        self.interactions.is_empty() && self.blocked.is_empty()
    }
}

/// Every user's overlay. Reads are one atomic load when no user has an overlay.
#[derive(Debug, Default)]
pub struct Overlays {
    users: RwLock<HashMap<u64, Arc<UserOverlay>>>,
    len: AtomicUsize,
}

impl Overlays {
    /// The overlay of `user_id`, if any.
    pub fn get(&self, user_id: u64) -> Option<Arc<UserOverlay>> {
        if self.len.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.users.read().unwrap_or_else(|e| e.into_inner()).get(&user_id).cloned()
    }

    /// Changes the overlay of `user_id` (created empty if absent; removed if left empty).
    pub fn update(&self, user_id: u64, change: impl FnOnce(&mut UserOverlay)) {
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        let mut overlay = users.get(&user_id).map(|o| (**o).clone()).unwrap_or_default();
        change(&mut overlay);
        if overlay.interactions.len() > MAX_INTERACTIONS {
            let excess = overlay.interactions.len() - MAX_INTERACTIONS;
            overlay.interactions.drain(..excess);
        }
        if overlay.is_empty() {
            users.remove(&user_id);
        } else {
            users.insert(user_id, Arc::new(overlay));
        }
        self.len.store(users.len(), Ordering::Release);
    }

    /// Adds (or refreshes) one interaction.
    pub fn record_interaction(&self, user_id: u64, movie_id: u64, value: f32) {
        self.update(user_id, |o| {
            o.interactions.retain(|&(m, _)| m != movie_id);
            o.interactions.push((movie_id, value));
        });
    }

    /// Replaces the blocked movies.
    pub fn set_blocked(&self, user_id: u64, movie_ids: &[u64]) {
        self.update(user_id, |o| o.blocked = movie_ids.to_vec());
    }

    /// Forgets one user (e.g. deleted, or a retrained model now covers their interactions).
    pub fn remove(&self, user_id: u64) {
        self.update(user_id, |o| *o = UserOverlay::default());
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

    #[test]
    fn interactions_keep_the_latest_value_and_a_bounded_tail() {
        let overlays = Overlays::default();
        assert!(overlays.get(7).is_none());
        overlays.record_interaction(7, 1, 1.0);
        overlays.record_interaction(7, 2, 1.0);
        overlays.record_interaction(7, 1, 0.5);
        assert_eq!(overlays.get(7).unwrap().interactions, vec![(2, 1.0), (1, 0.5)]);
        for movie in 0..(MAX_INTERACTIONS as u64 + 10) {
            overlays.record_interaction(8, 100 + movie, 1.0);
        }
        let eight = overlays.get(8).unwrap();
        assert_eq!(eight.interactions.len(), MAX_INTERACTIONS);
        assert_eq!(eight.interactions[0].0, 110);
        overlays.remove(7);
        overlays.set_blocked(8, &[]);
        assert_eq!(overlays.len(), 1);
        overlays.remove(8);
        assert!(overlays.is_empty() && overlays.get(8).is_none());
    }
}
