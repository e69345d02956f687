//! The reports computed from the raw events with plain loops (no SQL, no roll-ups), to check
//! the warehouse's answers against.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use warehouse::facts::{Batch, RatingChange};
use warehouse::reports::{Range, gini};
use warehouse::{day_of_ms, hour_of_ms};

/// Every event ingested, in one batch.
pub fn merge(batches: &[Batch]) -> Batch {
    let mut all = Batch::default();
    for b in batches {
        all.ratings.extend(b.ratings.iter().cloned());
        all.lists.extend(b.lists.iter().cloned());
        all.activity.extend(b.activity.iter().cloned());
        all.requests.extend(b.requests.iter().cloned());
        all.movies.extend(b.movies.iter().cloned());
        all.users.extend(b.users.iter().cloned());
        all.models.extend(b.models.iter().cloned());
    }
    all
}

fn within(range: Range, ms: i64) -> bool {
    (range.from..=range.to).contains(&day_of_ms(ms))
}

/// Active users per day in the range (any rating, list or activity that day).
pub fn active_users(all: &Batch, range: Range) -> BTreeMap<i32, usize> {
    let mut days: BTreeMap<i32, HashSet<u64>> = BTreeMap::new();
    let mut note = |ms: i64, user: Option<u64>| {
        if let Some(user) = user
            && within(range, ms)
        {
            days.entry(day_of_ms(ms)).or_default().insert(user);
        }
    };
    all.ratings.iter().for_each(|r| note(r.occurred_at_ms, Some(r.user_id)));
    all.lists.iter().for_each(|l| note(l.served_at_ms, l.user_id));
    all.activity.iter().for_each(|a| note(a.occurred_at_ms, a.user_id));
    days.into_iter().map(|(d, users)| (d, users.len())).collect()
}

/// (model version, surface, position or -1 for all) → (impressions, clicks, clicks rated ≥ 4 after).
pub fn funnel(all: &Batch, range: Range) -> BTreeMap<(String, String, i64), (i64, i64, i64)> {
    let mut cells: BTreeMap<(String, String, i64), (i64, i64, i64)> = BTreeMap::new();
    for l in all.lists.iter().filter(|l| within(range, l.served_at_ms)) {
        for p in 0..l.movie_ids.len() as i64 {
            for key in [p, -1] {
                cells.entry((l.model_version.clone(), l.surface.clone(), key)).or_default().0 += 1;
            }
        }
    }
    let lists: HashMap<&str, (&str, &str)> = all
        .lists
        .iter()
        .map(|l| (l.recommendation_id.as_str(), (l.model_version.as_str(), l.surface.as_str())))
        .collect();
    // One click per (list, position): the earliest, with its user and movie.
    let mut clicks: BTreeMap<(&str, u32), (i64, u64, u64)> = BTreeMap::new();
    for a in all.activity.iter().filter(|a| a.event_type == "click" && within(range, a.occurred_at_ms)) {
        if let (Some(rec), Some(pos)) = (a.recommendation_id.as_deref(), a.position) {
            let entry = clicks.entry((rec, pos)).or_insert((
                a.occurred_at_ms,
                a.user_id.unwrap_or(0),
                a.movie_id.unwrap_or(0),
            ));
            entry.0 = entry.0.min(a.occurred_at_ms);
        }
    }
    for ((rec, pos), (at, user, movie)) in clicks {
        let Some((version, surface)) = lists.get(rec) else { continue };
        let rated = all.ratings.iter().any(|r| {
            r.user_id == user
                && r.movie_id == movie
                && r.occurred_at_ms >= at
                && r.rating >= 4.0
                && r.change != RatingChange::Deleted
        });
        for key in [i64::from(pos), -1] {
            let cell = cells.entry(((*version).to_owned(), (*surface).to_owned(), key)).or_default();
            cell.1 += 1;
            cell.2 += i64::from(rated);
        }
    }
    cells
}

/// Day → (mean positive feedback rate, users, shown, positives).
pub fn feedback(all: &Batch, range: Range) -> BTreeMap<i32, (f64, i64, i64, i64)> {
    let mut shown: BTreeMap<(i32, u64), BTreeSet<u64>> = BTreeMap::new();
    for l in all.lists.iter().filter(|l| within(range, l.served_at_ms)) {
        if let Some(user) = l.user_id {
            shown.entry((day_of_ms(l.served_at_ms), user)).or_default().extend(&l.movie_ids);
        }
    }
    let mut positive: HashSet<(i32, u64, u64)> = HashSet::new();
    for r in all.ratings.iter().filter(|r| r.rating >= 4.0 && r.change != RatingChange::Deleted) {
        positive.insert((day_of_ms(r.occurred_at_ms), r.user_id, r.movie_id));
    }
    for a in all.activity.iter().filter(|a| a.event_type == "click") {
        if let (Some(user), Some(movie)) = (a.user_id, a.movie_id) {
            positive.insert((day_of_ms(a.occurred_at_ms), user, movie));
        }
    }
    let mut days: BTreeMap<i32, (f64, i64, i64, i64)> = BTreeMap::new();
    for ((day, user), movies) in &shown {
        let hits = movies.iter().filter(|m| positive.contains(&(*day, *user, **m))).count() as i64;
        let cell = days.entry(*day).or_default();
        cell.0 += hits as f64 / movies.len() as f64;
        cell.1 += 1;
        cell.2 += movies.len() as i64;
        cell.3 += hits;
    }
    for cell in days.values_mut() {
        cell.0 /= cell.1 as f64;
    }
    days
}

/// (coverage, Gini, head impression share, head rating share, novelty, genres per list).
pub fn catalogue(all: &Batch, range: Range) -> (f64, f64, f64, f64, f64, f64) {
    let mut shown: HashMap<u64, i64> = HashMap::new();
    let lists: Vec<_> = all.lists.iter().filter(|l| within(range, l.served_at_ms)).collect();
    for l in &lists {
        for m in &l.movie_ids {
            *shown.entry(*m).or_default() += 1;
        }
    }
    let mut rated: HashMap<u64, i64> = HashMap::new();
    let mut raters = HashSet::new();
    for r in
        all.ratings.iter().filter(|r| r.change != RatingChange::Deleted && within(range, r.occurred_at_ms))
    {
        *rated.entry(r.movie_id).or_default() += 1;
        raters.insert(r.user_id);
    }
    let movies: BTreeSet<u64> = all
        .movies
        .iter()
        .map(|m| m.movie_id)
        .chain(shown.keys().copied())
        .chain(rated.keys().copied())
        .collect();
    let n = movies.len();
    let counts: Vec<i64> = movies.iter().map(|m| shown.get(m).copied().unwrap_or(0)).collect();
    let total_shown: i64 = counts.iter().sum();
    let total_rated: i64 = rated.values().sum();
    let mut by_ratings: Vec<(i64, u64)> = rated.iter().map(|(m, c)| (*c, *m)).collect();
    by_ratings.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let head = &by_ratings[..((n as f64 * 0.1).ceil() as usize).max(1).min(by_ratings.len())];
    let head_shown: i64 = head.iter().map(|(_, m)| shown.get(m).copied().unwrap_or(0)).sum();
    let head_rated: i64 = head.iter().map(|(c, _)| c).sum();
    let novelty: f64 = shown
        .iter()
        .map(|(m, c)| {
            *c as f64
                * -((rated.get(m).copied().unwrap_or(0) as f64).max(0.5) / raters.len() as f64)
                    .min(1.0)
                    .log2()
        })
        .sum::<f64>()
        / total_shown as f64;
    let genres: HashMap<u64, &Vec<String>> = all.movies.iter().map(|m| (m.movie_id, &m.genres)).collect();
    let mut latest = lists.clone();
    latest.sort_by(|a, b| b.served_at_ms.cmp(&a.served_at_ms).then(a.event_id.cmp(&b.event_id)));
    latest.truncate(warehouse::reports::DIVERSITY_SAMPLE as usize);
    let per_list: f64 = latest
        .iter()
        .map(|l| {
            l.movie_ids
                .iter()
                .flat_map(|m| genres.get(m).into_iter().flat_map(|g| g.iter()))
                .collect::<HashSet<_>>()
                .len() as f64
        })
        .sum::<f64>()
        / latest.len() as f64;
    (
        shown.len() as f64 / n as f64,
        gini(&counts),
        head_shown as f64 / total_shown as f64,
        head_rated as f64 / total_rated as f64,
        novelty,
        per_list,
    )
}

/// Day → the `n` most-rated movies that day (count desc, id asc) with their counts.
pub fn top(all: &Batch, range: Range, n: usize) -> BTreeMap<i32, Vec<(u64, i64)>> {
    let mut days: BTreeMap<i32, HashMap<u64, i64>> = BTreeMap::new();
    for r in
        all.ratings.iter().filter(|r| r.change != RatingChange::Deleted && within(range, r.occurred_at_ms))
    {
        *days.entry(day_of_ms(r.occurred_at_ms)).or_default().entry(r.movie_id).or_default() += 1;
    }
    days.into_iter()
        .map(|(d, counts)| {
            let mut ranked: Vec<(u64, i64)> = counts.into_iter().collect();
            ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            ranked.truncate(n);
            (d, ranked)
        })
        .collect()
}

/// `PERCENTILE_CONT(p)` of `values`.
pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let pos = p * (values.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    values[lo] + (values[hi] - values[lo]) * (pos - lo as f64)
}

/// (requests, p50, p95, p99, 5xx, 429).
pub type RouteStats = (i64, f64, f64, f64, i64, i64);

/// (route, hour) → its [`RouteStats`].
pub fn performance(all: &Batch, range: Range) -> BTreeMap<(String, i64), RouteStats> {
    let mut groups: BTreeMap<(String, i64), Vec<(f64, u16)>> = BTreeMap::new();
    for r in all.requests.iter().filter(|r| within(range, r.occurred_at_ms)) {
        groups
            .entry((r.route.clone(), hour_of_ms(r.occurred_at_ms)))
            .or_default()
            .push((r.latency_ms, r.status));
    }
    groups
        .into_iter()
        .map(|(key, reqs)| {
            let mut lat: Vec<f64> = reqs.iter().map(|r| r.0).collect();
            let stats = (
                reqs.len() as i64,
                percentile(&mut lat, 0.5),
                percentile(&mut lat, 0.95),
                percentile(&mut lat, 0.99),
                reqs.iter().filter(|r| r.1 >= 500).count() as i64,
                reqs.iter().filter(|r| r.1 == 429).count() as i64,
            );
            (key, stats)
        })
        .collect()
}
