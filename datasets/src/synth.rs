//! A seeded synthetic ratings generator shaped like MovieLens 20M.
//!
//! At scale 1.0: 138,493 users, 26,744 items and 20,000,263 ratings. Users and items scale with
//! `scale`, ratings too (capped at half the user × item matrix when the catalogue gets too small
//! for ~144 ratings per user, below scale ≈ 0.01). The shape:
//! - user activity: 20 + a Lomax (Pareto II) tail, so every user has at least 20 ratings, the
//!   median is about 69 (ML-20M: 68) and a few users rate thousands of movies (at most half the
//!   catalogue);
//! - item popularity: shifted Zipf, weight ∝ (rank + r0)^-2.4 with r0 = 300·scale; at scale 1 the
//!   most popular item is rated by ~38% of users, the top 1% of items hold ~40% of the ratings,
//!   and every item has at least one rating;
//! - no (user, item) pair twice; ratings in half stars from user and item biases plus 8 latent
//!   factors plus noise, ~45% of users using half stars (mean ≈ 3.55, 4.0 the most common);
//! - timestamps from 1995-01 to 2015-03, strictly increasing within each user, users' first
//!   ratings in id order (MovieLens ids are assigned at sign-up).
//!
//! Output is user-major (user 1's ratings in time order, then user 2's, ...), ids are 1-based and
//! dense. Everything depends only on the seed: user `u` draws from its own [`Rng`] stream, so the
//! output is identical across runs and platforms with the same float math.

use std::io::{BufWriter, Write};
use std::path::Path;

use engine::rng::Rng;
use engine::{IdMap, Interaction, InteractionLog};
use rayon::prelude::*;

use crate::error::{DatasetError, Result};
use crate::parse::RATINGS_CSV_HEADER;
use crate::types::Rating;

/// Users in ML-20M.
pub const ML20M_USERS: usize = 138_493;
/// Rated items in ML-20M.
pub const ML20M_ITEMS: usize = 26_744;
/// Ratings in ML-20M.
pub const ML20M_RATINGS: u64 = 20_000_263;
/// Minimum ratings per user (as in every MovieLens dataset).
pub const MIN_PER_USER: usize = 20;
/// The largest allowed scale.
pub const MAX_SCALE: f64 = 10.0;

const T_START: i64 = 789_652_009; // 1995-01-09, the first ML-20M rating
const T_END: i64 = 1_427_784_002; // 2015-03-31, the last ML-20M rating
const N_FACTORS: usize = 8;
const LOMAX_ALPHA: f64 = 1.85;
const LOMAX_SCALE: f64 = 105.0;
const ZIPF_EXPONENT: f64 = 2.4;
const ZIPF_SHIFT: f64 = 300.0;

/// Unchecked generator parameters; [`SynthParams::check`] turns them into a [`SynthShape`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SynthParams {
    /// Size relative to ML-20M (1.0 = 20M ratings); at least ~0.0015 (40 items).
    pub scale: f64,
    /// The seed; the same seed gives the same output.
    pub seed: u64,
}

/// Checked parameters: the exact counts the generator will produce. Only
/// [`SynthParams::check`] makes one, so the counts are always consistent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynthShape {
    n_users: usize,
    n_items: usize,
    n_ratings: u64,
    seed: u64,
}

impl SynthShape {
    /// Number of users (ids `1..=n_users`), each with at least [`MIN_PER_USER`] ratings.
    pub fn n_users(&self) -> usize {
        self.n_users
    }

    /// Number of items (ids `1..=n_items`), each rated at least once.
    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// Number of ratings.
    pub fn n_ratings(&self) -> u64 {
        self.n_ratings
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

impl SynthParams {
    /// Parameters for `scale` and `seed`.
    pub fn new(scale: f64, seed: u64) -> Self {
        Self { scale, seed }
    }

    /// Checks the scale and derives the counts.
    pub fn check(&self) -> Result<SynthShape> {
        let invalid = |allowed: String| DatasetError::InvalidParam {
            name: "synthetic scale",
            value: self.scale.to_string(),
            allowed,
        };
        if !(self.scale > 0.0 && self.scale <= MAX_SCALE) {
            return Err(invalid(format!("0 < scale <= {MAX_SCALE}")));
        }
        let n_users = ((ML20M_USERS as f64 * self.scale).round() as usize).max(1);
        let n_items = (ML20M_ITEMS as f64 * self.scale).round() as usize;
        if n_items < 2 * MIN_PER_USER {
            let min_scale = (2 * MIN_PER_USER) as f64 / ML20M_ITEMS as f64;
            return Err(invalid(format!("scale >= {min_scale:.4} (at least {} items)", 2 * MIN_PER_USER)));
        }
        let target = (ML20M_RATINGS as f64 * self.scale).round() as u64;
        let n_ratings = target.min(max_ratings(n_users, n_items));
        Ok(SynthShape { n_users, n_items, n_ratings, seed: self.seed })
    }
}

/// The most ratings a shape can hold: every user at the per-user cap.
fn max_ratings(n_users: usize, n_items: usize) -> u64 {
    n_users as u64 * max_per_user(n_items) as u64
}

fn max_per_user(n_items: usize) -> usize {
    n_items / 2
}

/// Calls `f` with every rating, user-major, without storing them (memory: O(users + items)).
pub fn for_each_rating(shape: &SynthShape, mut f: impl FnMut(Rating)) {
    let plan = Plan::new(shape);
    let mut user = UserScratch::new(shape.n_items);
    for user_idx in 0..shape.n_users {
        plan.user_ratings(user_idx, &mut user);
        for &(item_idx, rating, timestamp) in &user.out {
            f(Rating { user_id: user_idx as u64 + 1, movie_id: item_idx as u64 + 1, rating, timestamp });
        }
    }
}

/// All ratings in a vector (32 bytes each: prefer [`generate_log`] or [`write_ratings_csv`] at
/// large scales).
pub fn generate(shape: &SynthShape) -> Vec<Rating> {
    let mut res = Vec::with_capacity(usize::try_from(shape.n_ratings).unwrap_or(0));
    for_each_rating(shape, |rating| res.push(rating));
    res
}

/// All ratings as an engine log, identical to `ratings_to_log(&generate(shape))` but without the
/// intermediate vector or hashing per rating, generated on the current rayon pool: every user's
/// ratings go straight to their place in the one entry vector (the counts are known up front),
/// then movies get dense indices in order of first appearance, as a sequential pass gives them.
pub fn generate_log(shape: &SynthShape) -> Result<InteractionLog> {
    /// Users per parallel task.
    const CHUNK_USERS: usize = 2048;
    let plan = Plan::new(shape);
    let blank = Interaction { user_idx: 0, item_idx: 0, value: 0.0, timestamp: 0 };
    let total: usize = plan.counts.iter().map(|&c| c as usize).sum();
    let mut entries = vec![blank; total];
    let mut chunks = Vec::with_capacity(shape.n_users.div_ceil(CHUNK_USERS));
    let mut rest = entries.as_mut_slice();
    for first in (0..shape.n_users).step_by(CHUNK_USERS) {
        let users = first..(first + CHUNK_USERS).min(shape.n_users);
        let len: usize = plan.counts[users.clone()].iter().map(|&c| c as usize).sum();
        let (chunk, after) = rest.split_at_mut(len);
        chunks.push((users, chunk));
        rest = after;
    }
    chunks.into_par_iter().for_each_init(
        || UserScratch::new(shape.n_items),
        |scratch, (users, chunk)| {
            let mut slots = chunk.iter_mut();
            for user_idx in users {
                plan.user_ratings(user_idx, scratch);
                assert_eq!(scratch.out.len(), plan.counts[user_idx] as usize, "user {user_idx}'s count");
                for (&(item_idx, value, timestamp), slot) in scratch.out.iter().zip(&mut slots) {
                    *slot = Interaction { user_idx: user_idx as u32, item_idx, value, timestamp };
                }
            }
        },
    );
    let mut item_idx_of = vec![u32::MAX; shape.n_items];
    let mut items = Vec::with_capacity(shape.n_items);
    for entry in &mut entries {
        let slot = &mut item_idx_of[entry.item_idx as usize];
        if *slot == u32::MAX {
            *slot = items.len() as u32;
            items.push(u64::from(entry.item_idx) + 1);
        }
        entry.item_idx = *slot;
    }
    let users = IdMap::from_external((1..=shape.n_users as u64).collect())?;
    Ok(InteractionLog { users, items: IdMap::from_external(items)?, entries })
}

/// Writes the ratings as an ML-20M `ratings.csv` (header `userId,movieId,rating,timestamp`,
/// ratings with one decimal), streaming.
pub fn write_ratings_csv(shape: &SynthShape, writer: impl Write) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, writer);
    out.write_all(RATINGS_CSV_HEADER.as_bytes())?;
    out.write_all(b"\n")?;
    let mut line = Vec::with_capacity(64);
    let mut res = Ok(());
    for_each_rating(shape, |r| {
        if res.is_err() {
            return;
        }
        line.clear();
        push_int(&mut line, r.user_id);
        line.push(b',');
        push_int(&mut line, r.movie_id);
        line.push(b',');
        line.extend_from_slice(half_star_text(r.rating).as_bytes());
        line.push(b',');
        push_int(&mut line, r.timestamp.max(0) as u64);
        line.push(b'\n');
        res = out.write_all(&line);
    });
    res?;
    out.flush()
}

/// [`write_ratings_csv`] into `path`, atomically: a temporary file beside it is renamed into
/// place only when complete.
pub fn write_ratings_csv_file(shape: &SynthShape, path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new().prefix(".cinerec-synth-").tempfile_in(dir).map_err(|err| {
        std::io::Error::new(err.kind(), format!("cannot create a temporary file in {}: {err}", dir.display()))
    })?;
    write_ratings_csv(shape, tmp.as_file()).map_err(|err| {
        std::io::Error::new(err.kind(), format!("cannot write {}: {err}", tmp.path().display()))
    })?;
    tmp.persist(path).map_err(|err| {
        std::io::Error::new(err.error.kind(), format!("cannot rename into {}: {}", path.display(), err.error))
    })?;
    Ok(())
}

fn push_int(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut pos = digits.len();
    loop {
        pos -= 1;
        digits[pos] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[pos..]);
}

fn half_star_text(rating: f32) -> &'static str {
    const TEXT: [&str; 11] = ["0.0", "0.5", "1.0", "1.5", "2.0", "2.5", "3.0", "3.5", "4.0", "4.5", "5.0"];
    TEXT[((rating * 2.0).round() as usize).min(10)]
}

/// A standard normal draw (Box–Muller, one of the pair).
fn normal(rng: &mut Rng) -> f64 {
    let u1 = 1.0 - rng.next_f64(); // (0, 1]
    let u2 = rng.next_f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Exponential draw with the given mean.
fn exponential(rng: &mut Rng, mean: f64) -> f64 {
    -mean * (1.0 - rng.next_f64()).ln()
}

/// Walker/Vose alias table: O(1) draws from a fixed discrete distribution.
struct Alias {
    prob: Vec<f64>,
    alias: Vec<u32>,
}

impl Alias {
    fn new(weights: &[f64]) -> Self {
        let n = weights.len();
        let total: f64 = weights.iter().sum();
        let mut prob: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut alias = vec![0u32; n];
        let (mut small, mut large): (Vec<u32>, Vec<u32>) =
            (0..n as u32).partition(|&i| prob[i as usize] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            alias[s as usize] = l;
            prob[l as usize] -= 1.0 - prob[s as usize];
            if prob[l as usize] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Leftovers are 1 up to rounding.
        for i in small.into_iter().chain(large) {
            prob[i as usize] = 1.0;
        }
        Self { prob, alias }
    }

    fn sample(&self, rng: &mut Rng) -> u32 {
        let i = rng.below(self.prob.len() as u64) as usize;
        if rng.next_f64() < self.prob[i] { i as u32 } else { self.alias[i] }
    }
}

/// Everything fixed before the per-user pass: counts, item popularity and parameters, the items
/// each user must rate so that every item is rated.
struct Plan {
    shape: SynthShape,
    counts: Vec<u32>,
    popularity: Alias,
    /// Item weights (for weighted sampling without replacement of heavy users).
    weights: Vec<f64>,
    item_bias: Vec<f32>,
    item_factors: Vec<[f32; N_FACTORS]>,
    /// CSR of items forced into each user's list.
    forced_ptr: Vec<usize>,
    forced_items: Vec<u32>,
}

const STREAM_COUNTS: u64 = u64::MAX;
const STREAM_ITEMS: u64 = u64::MAX - 1;
const STREAM_COVERAGE: u64 = u64::MAX - 2;

impl Plan {
    fn new(shape: &SynthShape) -> Self {
        let counts = user_counts(shape);
        let n_items = shape.n_items;

        let mut rng = Rng::for_stream(shape.seed, STREAM_ITEMS);
        let shift = (ZIPF_SHIFT * n_items as f64 / ML20M_ITEMS as f64).max(1.0);
        let mut ranks: Vec<u32> = (0..n_items as u32).collect();
        rng.shuffle(&mut ranks);
        let weights: Vec<f64> =
            ranks.iter().map(|&rank| (rank as f64 + shift).powf(-ZIPF_EXPONENT)).collect();
        let popularity = Alias::new(&weights);
        // Popular movies are rated a little higher, as in MovieLens.
        let item_bias = ranks
            .iter()
            .map(|&rank| (0.35 * normal(&mut rng) + 0.3 * (0.5 - rank as f64 / n_items as f64)) as f32)
            .collect();
        let factor_sd = 0.4;
        let item_factors =
            (0..n_items).map(|_| std::array::from_fn(|_| (factor_sd * normal(&mut rng)) as f32)).collect();

        let (forced_ptr, forced_items) = forced_items(shape, &counts);
        Self { shape: *shape, counts, popularity, weights, item_bias, item_factors, forced_ptr, forced_items }
    }

    /// Fills `scratch.out` with user `user_idx`'s (item, rating, timestamp), in time order.
    fn user_ratings(&self, user_idx: usize, scratch: &mut UserScratch) {
        let mut rng = Rng::for_stream(self.shape.seed, user_idx as u64);
        let count = self.counts[user_idx] as usize;
        let n_items = self.shape.n_items;
        let chosen = &mut scratch.chosen;
        chosen.clear();
        for &item in &self.forced_items[self.forced_ptr[user_idx]..self.forced_ptr[user_idx + 1]] {
            scratch.taken[item as usize / 64] |= 1 << (item % 64);
            chosen.push(item);
        }
        let need = count - chosen.len();
        if need * 8 > n_items {
            // Heavy user: weighted sampling without replacement (Efraimidis–Spirakis), O(items).
            let keys = &mut scratch.keys;
            keys.clear();
            for item in 0..n_items as u32 {
                let key = (1.0 - rng.next_f64()).ln() / self.weights[item as usize];
                if scratch.taken[item as usize / 64] & (1 << (item % 64)) == 0 {
                    keys.push((key, item));
                }
            }
            if need < keys.len() {
                keys.select_nth_unstable_by(need, |a, b| b.0.total_cmp(&a.0));
            }
            for &(_, item) in &keys[..need] {
                scratch.taken[item as usize / 64] |= 1 << (item % 64);
                chosen.push(item);
            }
        } else {
            while chosen.len() < count {
                let item = self.popularity.sample(&mut rng);
                let (word, bit) = (item as usize / 64, 1u64 << (item % 64));
                if scratch.taken[word] & bit == 0 {
                    scratch.taken[word] |= bit;
                    chosen.push(item);
                }
            }
        }
        rng.shuffle(chosen);
        for &item in chosen.iter() {
            scratch.taken[item as usize / 64] = 0;
        }

        // Taste: bias, half-star habit, latent factors.
        let user_bias = 0.4 * normal(&mut rng);
        let half_stars = rng.next_f64() < 0.45;
        let factors: [f64; N_FACTORS] = std::array::from_fn(|_| 0.4 * normal(&mut rng));
        // Time: first rating in id order over the 20 years, then mostly short gaps.
        let span = (T_END - T_START) as f64;
        let start =
            T_START + (span * 0.98 * (user_idx as f64 + rng.next_f64()) / self.shape.n_users as f64) as i64;
        let gaps = &mut scratch.gaps;
        gaps.clear();
        gaps.extend((1..count).map(|_| {
            let mean = if rng.next_f64() < 0.85 { 40.0 } else { 20.0 * 86_400.0 };
            1.0 + exponential(&mut rng, mean)
        }));
        let total: f64 = gaps.iter().sum();
        let room = (T_END - start) as f64;
        let squeeze = if total > room { room / total } else { 1.0 };

        scratch.out.clear();
        let mut timestamp = start;
        for (k, &item) in chosen.iter().enumerate() {
            if k > 0 {
                timestamp += ((gaps[k - 1] * squeeze) as i64).max(1);
            }
            let q = &self.item_factors[item as usize];
            let taste: f64 = factors.iter().zip(q).map(|(p, &q)| p * q as f64).sum();
            let raw =
                3.48 + user_bias + self.item_bias[item as usize] as f64 + taste + 0.85 * normal(&mut rng);
            let rating = if half_stars {
                ((raw * 2.0).round() / 2.0).clamp(0.5, 5.0)
            } else {
                raw.round().clamp(1.0, 5.0)
            };
            scratch.out.push((item, rating as f32, timestamp));
        }
    }
}

/// Reused per-user buffers.
struct UserScratch {
    taken: Vec<u64>,
    chosen: Vec<u32>,
    keys: Vec<(f64, u32)>,
    gaps: Vec<f64>,
    out: Vec<(u32, f32, i64)>,
}

impl UserScratch {
    fn new(n_items: usize) -> Self {
        Self {
            taken: vec![0; n_items.div_ceil(64)],
            chosen: Vec::new(),
            keys: Vec::new(),
            gaps: Vec::new(),
            out: Vec::new(),
        }
    }
}

/// Ratings per user: `MIN_PER_USER` plus a Lomax-distributed share of the rest, capped at half
/// the catalogue, summing exactly to `n_ratings` (water-filling, then whole units in user order).
fn user_counts(shape: &SynthShape) -> Vec<u32> {
    let mut rng = Rng::for_stream(shape.seed, STREAM_COUNTS);
    let n_users = shape.n_users;
    let cap = (max_per_user(shape.n_items) - MIN_PER_USER) as f64;
    let weights: Vec<f64> = (0..n_users)
        .map(|_| LOMAX_SCALE * ((1.0 - rng.next_f64()).powf(-1.0 / LOMAX_ALPHA) - 1.0) + 1e-3)
        .collect();
    let extra_total = (shape.n_ratings - (n_users * MIN_PER_USER) as u64) as f64;
    let mut capped = vec![false; n_users];
    let mut factor;
    loop {
        let n_capped = capped.iter().filter(|&&c| c).count();
        let free_weight: f64 = weights.iter().zip(&capped).filter(|(_, c)| !**c).map(|(w, _)| w).sum();
        factor = if free_weight > 0.0 { (extra_total - n_capped as f64 * cap) / free_weight } else { 0.0 };
        let mut changed = false;
        for (w, c) in weights.iter().zip(capped.iter_mut()) {
            if !*c && w * factor >= cap {
                *c = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut extra: Vec<u64> =
        weights.iter().zip(&capped).map(|(w, &c)| if c { cap as u64 } else { (w * factor) as u64 }).collect();
    let mut missing = (shape.n_ratings - (n_users * MIN_PER_USER) as u64).saturating_sub(extra.iter().sum());
    while missing > 0 {
        let before = missing;
        for e in extra.iter_mut().filter(|e| (**e as f64) < cap) {
            if missing == 0 {
                break;
            }
            *e += 1;
            missing -= 1;
        }
        if missing == before {
            break; // Unreachable for checked shapes: n_ratings <= n_users * max_per_user.
        }
    }
    extra.into_iter().map(|e| (e as usize + MIN_PER_USER) as u32).collect()
}

/// Assigns every item to one user (chosen in proportion to activity) who must rate it, so no item
/// is left without ratings. Returns a CSR (user → items).
fn forced_items(shape: &SynthShape, counts: &[u32]) -> (Vec<usize>, Vec<u32>) {
    let mut rng = Rng::for_stream(shape.seed, STREAM_COVERAGE);
    let mut ends = Vec::with_capacity(counts.len());
    let mut total = 0u64;
    for &count in counts {
        total += count as u64;
        ends.push(total);
    }
    let mut n_forced = vec![0u32; counts.len()];
    let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(shape.n_items);
    for item in 0..shape.n_items as u32 {
        loop {
            let slot = rng.below(total);
            let user = ends.partition_point(|&end| end <= slot);
            // Keep room for sampled items: at most half of a user's list is forced.
            if n_forced[user] < counts[user] / 2 {
                n_forced[user] += 1;
                pairs.push((user as u32, item));
                break;
            }
        }
    }
    pairs.sort_unstable();
    let mut ptr = vec![0usize; counts.len() + 1];
    for &(user, _) in &pairs {
        ptr[user as usize + 1] += 1;
    }
    for u in 0..counts.len() {
        ptr[u + 1] += ptr[u];
    }
    (ptr, pairs.into_iter().map(|(_, item)| item).collect())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::catalog::RatingsFormat;
    use crate::load::ratings_to_log;
    use crate::parse::parse_ratings;
    use crate::types::ParseMode;

    fn shape(scale: f64, seed: u64) -> SynthShape {
        SynthParams::new(scale, seed).check().unwrap()
    }

    #[test]
    fn checked_shapes_scale_with_ml20m() {
        let full = shape(1.0, 0);
        assert_eq!((full.n_users, full.n_items, full.n_ratings), (ML20M_USERS, ML20M_ITEMS, ML20M_RATINGS));
        let tenth = shape(0.1, 0);
        assert_eq!((tenth.n_users, tenth.n_items, tenth.n_ratings), (13_849, 2_674, 2_000_026));
        // A tiny catalogue caps ratings at half the matrix.
        let tiny = shape(0.002, 0);
        assert_eq!((tiny.n_users, tiny.n_items), (277, 53));
        assert_eq!(tiny.n_ratings, 277 * 26);
        for bad in [0.0, -1.0, f64::NAN, 11.0, 0.001] {
            let err = SynthParams::new(bad, 0).check().unwrap_err();
            assert!(err.to_string().starts_with("invalid synthetic scale"), "{err}");
        }
    }

    #[test]
    fn same_seed_same_ratings() {
        let a = generate(&shape(0.003, 7));
        assert_eq!(a, generate(&shape(0.003, 7)));
        assert_ne!(a, generate(&shape(0.003, 8)));
    }

    /// The invariants of the generator at one scale.
    fn check_invariants(shape: &SynthShape) -> Vec<Rating> {
        let ratings = generate(shape);
        assert_eq!(ratings.len() as u64, shape.n_ratings);
        let mut per_user = vec![0usize; shape.n_users];
        let mut per_item = vec![0usize; shape.n_items];
        let mut pairs = HashSet::with_capacity(ratings.len());
        let mut prev: Option<Rating> = None;
        for r in &ratings {
            assert!((1..=shape.n_users as u64).contains(&r.user_id), "{r:?}");
            assert!((1..=shape.n_items as u64).contains(&r.movie_id), "{r:?}");
            assert!((0.5..=5.0).contains(&r.rating) && (r.rating * 2.0).fract() == 0.0, "{r:?}");
            assert!(pairs.insert((r.user_id, r.movie_id)), "duplicate {r:?}");
            if let Some(p) = prev {
                assert!(p.user_id <= r.user_id, "user-major order");
                if p.user_id == r.user_id {
                    assert!(p.timestamp < r.timestamp, "time order within a user: {p:?} {r:?}");
                }
            }
            assert!((T_START..=T_END).contains(&r.timestamp), "{r:?}");
            per_user[(r.user_id - 1) as usize] += 1;
            per_item[(r.movie_id - 1) as usize] += 1;
            prev = Some(*r);
        }
        assert!(per_user.iter().all(|&n| n >= MIN_PER_USER), "min {:?}", per_user.iter().min());
        assert!(per_user.iter().all(|&n| n <= shape.n_items / 2));
        assert!(per_item.iter().all(|&n| n >= 1), "every item rated");
        ratings
    }

    #[test]
    fn counts_minimums_uniqueness_and_order_at_several_scales() {
        for (scale, seed) in [(0.002, 1), (0.01, 2), (0.02, 3)] {
            check_invariants(&shape(scale, seed));
        }
    }

    #[test]
    fn shape_looks_like_movielens() {
        // Large enough that the per-user cap (half the catalogue) does not flatten activity.
        let shape = shape(0.05, 11);
        let ratings = check_invariants(&shape);
        assert_eq!(shape.n_ratings, 1_000_013);
        // Power-law popularity (flattened at small scales, where users rate a quarter of the
        // catalogue): the top 10% of items hold far more than 10% of ratings.
        let mut per_item = vec![0u64; shape.n_items];
        ratings.iter().for_each(|r| per_item[(r.movie_id - 1) as usize] += 1);
        per_item.sort_unstable_by(|a, b| b.cmp(a));
        let top: u64 = per_item[..shape.n_items / 10].iter().sum();
        let top_share = top as f64 / shape.n_ratings as f64;
        assert!((0.25..0.6).contains(&top_share), "top 10% share {top_share}");
        assert!(
            per_item[0] > 4 * per_item[shape.n_items / 2],
            "{} vs {}",
            per_item[0],
            per_item[shape.n_items / 2]
        );
        // Skewed activity: the median user is well below the mean.
        let mut per_user = vec![0u64; shape.n_users];
        ratings.iter().for_each(|r| per_user[(r.user_id - 1) as usize] += 1);
        per_user.sort_unstable();
        let median = per_user[per_user.len() / 2] as f64;
        let mean = shape.n_ratings as f64 / shape.n_users as f64;
        assert!(median < 0.7 * mean, "median {median} mean {mean}");
        // Plausible stars: mean near 3.5, whole stars more common than half stars, 4 the mode.
        let mean_rating = ratings.iter().map(|r| r.rating as f64).sum::<f64>() / ratings.len() as f64;
        assert!((3.3..3.8).contains(&mean_rating), "mean rating {mean_rating}");
        let mut hist = [0u64; 11];
        ratings.iter().for_each(|r| hist[(r.rating * 2.0) as usize] += 1);
        let whole: u64 = hist.iter().step_by(2).sum();
        assert!(whole * 2 > shape.n_ratings, "{hist:?}");
        assert_eq!(hist.iter().enumerate().max_by_key(|(_, n)| **n).map(|(i, _)| i), Some(8), "{hist:?}");
    }

    #[test]
    fn csv_round_trips_through_the_parser_and_log_matches() {
        let shape = shape(0.003, 5);
        let ratings = generate(&shape);
        let mut csv = Vec::new();
        write_ratings_csv(&shape, &mut csv).unwrap();
        assert!(csv.starts_with(b"userId,movieId,rating,timestamp\n1,"));
        let parsed =
            parse_ratings(csv.as_slice(), RatingsFormat::Csv, "synth.csv", ParseMode::Strict).unwrap();
        assert_eq!(parsed.records, ratings);
        assert_eq!(generate_log(&shape).unwrap(), ratings_to_log(&ratings));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ratings.csv");
        write_ratings_csv_file(&shape, &path).unwrap();
        assert_eq!(fs_err::read(&path).unwrap(), csv);
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }

    #[test]
    fn alias_table_matches_weights() {
        let alias = Alias::new(&[1.0, 2.0, 0.0, 5.0]);
        let mut rng = Rng::new(3);
        let mut hist = [0u32; 4];
        for _ in 0..80_000 {
            hist[alias.sample(&mut rng) as usize] += 1;
        }
        assert_eq!(hist[2], 0);
        for (i, w) in [(0, 1.0), (1, 2.0), (3, 5.0)] {
            let share = hist[i] as f64 / 80_000.0;
            assert!((share - w / 8.0).abs() < 0.01, "{i}: {share}");
        }
    }

    #[test]
    fn text_helpers() {
        let mut out = Vec::new();
        push_int(&mut out, 0);
        out.push(b' ');
        push_int(&mut out, 1_427_784_002);
        assert_eq!(out, b"0 1427784002");
        assert_eq!(half_star_text(0.5), "0.5");
        assert_eq!(half_star_text(4.0), "4.0");
    }
}
