//! The rows the warehouse ingests, one struct per fact kind and per dimension change, and
//! [`Batch`], what one transaction stores. Ids are external ids; times are epoch milliseconds
//! (the adapter derives the UTC day and hour numbers the reports group by).

/// What happened to a rating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RatingChange {
    /// A new rating.
    Created = 1,
    /// A new value for an existing rating.
    Updated = 2,
    /// The rating was removed.
    Deleted = 3,
}

/// A rating event (`RatingEvent` from the ratings service).
#[derive(Clone, Debug, PartialEq)]
pub struct RatingFact {
    /// Unique id.
    pub event_id: String,
    /// The user.
    pub user_id: u64,
    /// The movie.
    pub movie_id: u64,
    /// 0.5..=5.0; 0 when deleted.
    pub rating: f32,
    /// What happened.
    pub change: RatingChange,
    /// When the rating was made.
    pub occurred_at_ms: i64,
}

/// A recommendation list shown to someone (`RecommendationServed` from the gateway); each
/// movie in it is one impression at its position.
#[derive(Clone, Debug, PartialEq)]
pub struct ServedList {
    /// Unique id of the event.
    pub event_id: String,
    /// The list's id (what clicks refer to).
    pub recommendation_id: String,
    /// The signed-in user.
    pub user_id: Option<u64>,
    /// The anonymous visitor.
    pub anonymous_id: Option<String>,
    /// The model version that made it (empty when no model did).
    pub model_version: String,
    /// How it was made (`model`, `fold_in`, `popularity`, `similar`).
    pub source: String,
    /// Where it was shown (`me`, `session`, `popular`, `similar`).
    pub surface: String,
    /// The movies in the order shown: position = index.
    pub movie_ids: Vec<u64>,
    /// When it was served.
    pub served_at_ms: i64,
}

/// A client activity event (a view, click, search or trailer play), as checked by
/// [`contract::activity::check_batch`].
pub use contract::activity::Activity as ActivityFact;

/// One request the gateway answered (`RequestLogged`).
#[derive(Clone, Debug, PartialEq)]
pub struct RequestFact {
    /// Unique id.
    pub event_id: String,
    /// The route's pattern (`/api/v1/movies/{id}`), not the path: a bounded set.
    pub route: String,
    /// HTTP method.
    pub method: String,
    /// Response status.
    pub status: u16,
    /// Time to the response head, milliseconds.
    pub latency_ms: f64,
    /// The request id (`X-Request-Id`).
    pub request_id: String,
    /// When it was answered.
    pub occurred_at_ms: i64,
}

/// A movie as its latest event describes it (`MovieEvent`).
#[derive(Clone, Debug, PartialEq)]
pub struct MovieFact {
    /// Unique id of the event.
    pub event_id: String,
    /// The movie.
    pub movie_id: u64,
    /// Title (empty when deleted).
    pub title: String,
    /// Release year.
    pub year: Option<i32>,
    /// MovieLens genre names.
    pub genres: Vec<String>,
    /// The movie was deleted.
    pub deleted: bool,
    /// When.
    pub occurred_at_ms: i64,
}

/// A change to a user (`UserPreferencesChanged`, `UserDeleted`).
#[derive(Clone, Debug, PartialEq)]
pub struct UserFact {
    /// Unique id of the event.
    pub event_id: String,
    /// The user.
    pub user_id: u64,
    /// New favourite genres; `None` when the account was deleted.
    pub favourite_genres: Option<Vec<String>>,
    /// When.
    pub occurred_at_ms: i64,
}

/// A model version serving reported, with the offline metrics stored in its artifact.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFact {
    /// Store version id.
    pub version: String,
    /// Model kind (`implicit-als`).
    pub kind: String,
    /// What it was trained on.
    pub dataset: String,
    /// Training time.
    pub trained_at_ms: i64,
    /// Offline metrics (name → value).
    pub metrics: std::collections::BTreeMap<String, f64>,
    /// When analytics first saw it served.
    pub seen_at_ms: i64,
}

/// The latest event per key by (time, event id), in key order: what a dimension upsert stores
/// (a statement cannot upsert one row twice). Shared by the adapters.
pub(crate) fn latest_per_key<T, K: Ord>(
    events: &[T],
    key: impl Fn(&T) -> K,
    at: impl Fn(&T) -> (i64, &str),
) -> Vec<&T> {
    let mut latest: std::collections::BTreeMap<K, &T> = std::collections::BTreeMap::new();
    for event in events {
        let slot = latest.entry(key(event)).or_insert(event);
        if at(event) > at(slot) {
            *slot = event;
        }
    }
    latest.into_values().collect()
}

/// What one ingestion stores, in one transaction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    /// Rating events.
    pub ratings: Vec<RatingFact>,
    /// Served recommendation lists.
    pub lists: Vec<ServedList>,
    /// Client activity.
    pub activity: Vec<ActivityFact>,
    /// Gateway requests.
    pub requests: Vec<RequestFact>,
    /// Movie changes.
    pub movies: Vec<MovieFact>,
    /// User changes.
    pub users: Vec<UserFact>,
    /// Model versions seen.
    pub models: Vec<ModelFact>,
}

impl Batch {
    /// Events in the batch.
    pub fn len(&self) -> usize {
        self.ratings.len()
            + self.lists.len()
            + self.activity.len()
            + self.requests.len()
            + self.movies.len()
            + self.users.len()
            + self.models.len()
    }

    /// No events.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every (user, time) the batch's events show a user active at, as (day, user) pairs,
    /// sorted and unique (one lock order for concurrent transactions).
    pub fn active_user_days(&self) -> Vec<(i32, u64)> {
        let day = crate::day_of_ms;
        let mut pairs: Vec<(i32, u64)> = self
            .ratings
            .iter()
            .map(|r| (day(r.occurred_at_ms), r.user_id))
            .chain(self.lists.iter().filter_map(|l| Some((day(l.served_at_ms), l.user_id?))))
            .chain(self.activity.iter().filter_map(|a| Some((day(a.occurred_at_ms), a.user_id?))))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        pairs
    }
}
