//! A seeded generator of warehouse events with realistic shapes: users with a Zipf-like taste
//! for popular movies are shown lists of 10 (one impression per movie), click with a CTR that
//! falls with the position (~4 % at the top), rate some clicked movies (mostly 4 or more), rate
//! other movies too, and leave request logs (latency log-normal, 0.5 % errors, 1 % 429s). Used
//! by the tests (small) and by the ingest and report benchmark (10 million events).

use crate::facts::{ActivityFact, Batch, MovieFact, RatingChange, RatingFact, RequestFact, ServedList};

/// The generator's knobs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SynthShape {
    /// Users.
    pub users: u64,
    /// Movies.
    pub movies: u64,
    /// Days the events span, ending the day before `last_day`.
    pub days: i32,
    /// The last day (day number).
    pub last_day: i32,
    /// Movies per list.
    pub list_size: usize,
}

/// Genres given to synthetic movies (movie `m` gets `GENRES[m % 7]` and `GENRES[m % 5 + 7]`).
pub const GENRES: [&str; 12] = [
    "Action",
    "Comedy",
    "Drama",
    "Thriller",
    "Romance",
    "Sci-Fi",
    "Horror",
    "Adventure",
    "Crime",
    "Animation",
    "Documentary",
    "Fantasy",
];

/// xoshiro-style small generator (splitmix64): deterministic for a seed.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A popularity-skewed movie id in 1..=n (index ~ n * u^3).
    fn popular(&mut self, n: u64) -> u64 {
        let u = self.unit();
        1 + ((u * u * u) * n as f64) as u64 % n
    }
}

/// The movies of `shape` as dimension events (titles `Movie m`, two genres each).
pub fn movies(shape: &SynthShape) -> Vec<MovieFact> {
    (1..=shape.movies)
        .map(|m| MovieFact {
            event_id: format!("movie-{m}"),
            movie_id: m,
            title: format!("Movie {m}"),
            year: Some(1950 + (m % 75) as i32),
            genres: vec![GENRES[(m % 7) as usize].to_owned(), GENRES[(m % 5 + 7) as usize].to_owned()],
            deleted: false,
            occurred_at_ms: i64::from(shape.last_day - shape.days) * crate::DAY_MS,
        })
        .collect()
}

/// Generates events in batches of about `batch_events` events until about `total` events
/// (impressions counted one per movie shown) were made, calling `sink` with each batch.
pub fn generate(seed: u64, shape: &SynthShape, total: u64, batch_events: usize, mut sink: impl FnMut(Batch)) {
    let mut rng = Rng(seed);
    let mut made = 0u64;
    let mut batch = Batch::default();
    let mut in_batch = 0usize;
    let first_day = i64::from(shape.last_day - shape.days);
    let routes = [
        "/api/v1/me/recommendations",
        "/api/v1/movies/{id}",
        "/api/v1/movies",
        "/api/v1/me/ratings/{movie_id}",
    ];
    let mut list_no = 0u64;
    while made < total {
        list_no += 1;
        let user = 1 + rng.below(shape.users);
        let at = (first_day + rng.below(shape.days as u64) as i64) * crate::DAY_MS
            + rng.below(crate::DAY_MS as u64) as i64;
        let version = if rng.unit() < 0.5 { "v1" } else { "v2" };
        let surface = if rng.unit() < 0.8 { "me" } else { "popular" };
        let recommendation_id = format!("rec-{seed}-{list_no}");
        let mut shown = Vec::with_capacity(shape.list_size);
        while shown.len() < shape.list_size {
            let m = rng.popular(shape.movies);
            if !shown.contains(&m) {
                shown.push(m);
            }
        }
        // Clicks: CTR 4 % at the top, falling with the position; v2 a little better.
        for (position, &movie) in shown.iter().enumerate() {
            let ctr = (0.04 / (1.0 + position as f64 * 0.3)) * if version == "v2" { 1.2 } else { 1.0 };
            if rng.unit() < ctr {
                let click_at = at + 1000 + rng.below(60_000) as i64;
                batch.activity.push(ActivityFact {
                    event_id: format!("click-{seed}-{list_no}-{position}"),
                    event_type: "click".into(),
                    occurred_at_ms: click_at,
                    user_id: Some(user),
                    anonymous_id: None,
                    session_id: Some(format!("s-{user}")),
                    recommendation_id: Some(recommendation_id.clone()),
                    movie_id: Some(movie),
                    position: Some(position as u32),
                    context: serde_json::json!({}),
                });
                in_batch += 1;
                if rng.unit() < 0.5 {
                    let stars = if rng.unit() < 0.7 {
                        4.0 + (rng.below(3) as f32) * 0.5
                    } else {
                        1.0 + rng.below(6) as f32 * 0.5
                    };
                    batch.ratings.push(RatingFact {
                        event_id: format!("rate-{seed}-{list_no}-{position}"),
                        user_id: user,
                        movie_id: movie,
                        rating: stars,
                        change: RatingChange::Created,
                        occurred_at_ms: click_at + 30_000,
                    });
                    in_batch += 1;
                }
            }
        }
        // Ratings outside recommendations, views and searches.
        if rng.unit() < 0.3 {
            batch.ratings.push(RatingFact {
                event_id: format!("own-{seed}-{list_no}"),
                user_id: user,
                movie_id: rng.popular(shape.movies),
                rating: 0.5 + rng.below(10) as f32 * 0.5,
                change: RatingChange::Created,
                occurred_at_ms: at + 5000,
            });
            in_batch += 1;
        }
        if rng.unit() < 0.2 {
            batch.activity.push(ActivityFact {
                event_id: format!("search-{seed}-{list_no}"),
                event_type: if rng.unit() < 0.5 { "search".into() } else { "view".into() },
                occurred_at_ms: at + 2000,
                user_id: Some(user),
                anonymous_id: None,
                session_id: Some(format!("s-{user}")),
                recommendation_id: None,
                movie_id: None,
                position: None,
                context: serde_json::json!({"q": "heat"}),
            });
            in_batch += 1;
        }
        let roll = rng.unit();
        let status = if roll < 0.005 {
            503
        } else if roll < 0.015 {
            429
        } else {
            200
        };
        let latency = (0.3f64.ln() + 0.6 * gaussian(&mut rng)).exp();
        batch.requests.push(RequestFact {
            event_id: format!("req-{seed}-{list_no}"),
            route: routes[rng.below(routes.len() as u64) as usize].into(),
            method: "GET".into(),
            status,
            latency_ms: latency,
            request_id: format!("r{list_no}"),
            occurred_at_ms: at,
        });
        in_batch += 1;
        batch.lists.push(ServedList {
            event_id: format!("served-{seed}-{list_no}"),
            recommendation_id,
            user_id: Some(user),
            anonymous_id: None,
            model_version: version.into(),
            source: "model".into(),
            surface: surface.into(),
            movie_ids: shown,
            served_at_ms: at,
        });
        in_batch += shape.list_size;
        if in_batch >= batch_events {
            made += in_batch as u64;
            in_batch = 0;
            sink(std::mem::take(&mut batch));
        }
    }
    if !batch.is_empty() {
        sink(batch);
    }
}

/// A standard normal draw (Box–Muller).
fn gaussian(rng: &mut Rng) -> f64 {
    let (u, v) = (rng.unit().max(1e-12), rng.unit());
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_seeded_and_makes_what_was_asked() {
        let shape = SynthShape { users: 100, movies: 50, days: 14, last_day: 20_000, list_size: 10 };
        let collect = |seed| {
            let mut batches = Vec::new();
            generate(seed, &shape, 5_000, 1_000, |b| batches.push(b));
            batches
        };
        let (a, b) = (collect(1), collect(1));
        assert_eq!(a, b);
        assert_ne!(a, collect(2));
        let impressions: usize = a.iter().flat_map(|b| &b.lists).map(|l| l.movie_ids.len()).sum();
        let clicks: usize =
            a.iter().map(|b| b.activity.iter().filter(|e| e.event_type == "click").count()).sum();
        let ctr = clicks as f64 / impressions as f64;
        assert!((0.01..0.04).contains(&ctr), "CTR {ctr}");
        assert!(
            a.iter()
                .flat_map(|b| &b.lists)
                .all(|l| (19_986..20_000).contains(&crate::day_of_ms(l.served_at_ms)))
        );
    }
}
