//! What one ingestion stored for the first time, as the increments of the daily roll-ups: one
//! definition both adapters use, so that "counted once" and "positive feedback" mean the same
//! in PostgreSQL and Oracle. The adapters only decide which events were new and write the sums.

use std::collections::{BTreeMap, BTreeSet};

use crate::day_of_ms;
use crate::facts::ServedList;

/// Events stored for the first time: per (day, kind) for `events_daily`, and the positive
/// feedback (a click, or a rating of 4 or more) per (day, user, movie).
#[derive(Debug, Default)]
pub(crate) struct NewEvents {
    /// (day, kind) → events.
    pub by_day: BTreeMap<(i32, String), i64>,
    /// (day, user, movie) of new positives.
    pub positives: BTreeSet<(i32, i64, i64)>,
}

impl NewEvents {
    /// `n` new events of `kind` on `day`.
    pub fn count(&mut self, day: i32, kind: &str, n: i64) {
        *self.by_day.entry((day, kind.to_owned())).or_default() += n;
    }

    /// A newly stored rating event: counted; positive when 4 or more and not a deletion.
    pub fn rating(&mut self, day: i32, user: i64, movie: i64, rating: f32, deleted: bool) {
        self.count(day, "rating", 1);
        if rating >= 4.0 && !deleted {
            self.positives.insert((day, user, movie));
        }
    }

    /// A newly stored activity event: counted by its type; a signed-in user's click on a movie
    /// is positive.
    pub fn activity(&mut self, day: i32, kind: &str, user: Option<i64>, movie: Option<i64>) {
        self.count(day, kind, 1);
        if let (true, Some(user), Some(movie)) = (kind == "click", user, movie) {
            self.positives.insert((day, user, movie));
        }
    }
}

/// What newly stored lists add to the roll-ups.
#[derive(Debug, Default)]
pub(crate) struct ListRollups<'a> {
    /// (day, model version, surface, position) → impressions.
    pub by_position: BTreeMap<(i32, &'a str, &'a str, i32), i64>,
    /// (day, movie) → impressions.
    pub by_movie: BTreeMap<(i32, i64), i64>,
    /// (day, user, movie) shown to signed-in users.
    pub shown: BTreeSet<(i32, i64, i64)>,
}

impl<'a> ListRollups<'a> {
    /// The roll-ups of `fresh` lists; their impressions are counted in `new` too.
    pub fn of(fresh: &[&'a ServedList], new: &mut NewEvents) -> Self {
        let mut rollups = Self::default();
        for list in fresh {
            let d = day_of_ms(list.served_at_ms);
            new.count(d, "impression", list.movie_ids.len() as i64);
            for (p, &m) in list.movie_ids.iter().enumerate() {
                if let Some(u) = list.user_id {
                    rollups.shown.insert((d, u as i64, m as i64));
                }
                *rollups.by_position.entry((d, &list.model_version, &list.surface, p as i32)).or_default() +=
                    1;
                *rollups.by_movie.entry((d, m as i64)).or_default() += 1;
            }
        }
        rollups
    }
}
