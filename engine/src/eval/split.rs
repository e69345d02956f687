//! Train/test splits of interaction lists: random, k-fold, per-user holdout, leave-k-out,
//! temporal and strong generalization (held-out users).
//!
//! Every function takes entries in dense indices and returns new vectors; each side of a split
//! keeps the input order. Results depend only on the arguments: choices about one user draw from
//! `Rng::for_stream(seed, user_idx + 1)`, so a user's split depends only on the seed and that
//! user's own entries (in input order); global shuffles draw from `Rng::new(seed)`.
//!
//! **Rounding.** Taking a fraction `f` of a user's `n` entries means [`rounded_share`]:
//! `round(f·n)` (halves away from zero) clamped to `1..=n-1`, so both sides get at least one
//! entry; e.g. 20 % of 5, 6 or 7 entries is 1, of 8 to 12 is 2.
//!
//! Entries are taken as given: a (user, item) pair listed twice may land on both sides of a
//! split. Deduplicate first when that matters.

use crate::error::{EngineError, Result};
use crate::interactions::{Csr, Duplicates, Interaction};
use crate::rng::Rng;

/// A train/test partition of interaction entries, each side in input order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Split {
    /// Entries to train on.
    pub train: Vec<Interaction>,
    /// Entries to evaluate on.
    pub test: Vec<Interaction>,
}

/// A strong-generalization split: held-out users appear only in `fold_in` and `test`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StrongSplit {
    /// Every entry of the users that are not held out.
    pub train: Vec<Interaction>,
    /// The part of each held-out user's entries given to the model at query time.
    pub fold_in: Vec<Interaction>,
    /// The rest of each held-out user's entries, to be predicted.
    pub test: Vec<Interaction>,
    /// The held-out users' indices, ascending.
    pub heldout_users: Vec<u32>,
}

impl StrongSplit {
    /// The fold-in and test matrices (held-out user × item) for
    /// [`evaluate_ranking_fold_in`](super::evaluate_ranking_fold_in): row `r` belongs to user
    /// `heldout_users[r]`. Repeated (user, item) pairs keep the latest entry.
    pub fn heldout_matrices(&self, n_items: usize) -> Result<(Csr, Csr)> {
        Ok((self.heldout_rows(&self.fold_in, n_items)?, self.heldout_rows(&self.test, n_items)?))
    }

    /// Entries of held-out users as a held-out user × item matrix (row `r` is user
    /// `heldout_users[r]`), e.g. their ratings that are not positives; repeated (user, item)
    /// pairs keep the latest entry. An entry of another user is an error.
    pub fn heldout_rows(&self, entries: &[Interaction], n_items: usize) -> Result<Csr> {
        let remapped = entries
            .iter()
            .map(|e| match self.heldout_users.binary_search(&e.user_idx) {
                Ok(row) => Ok(Interaction { user_idx: row as u32, ..*e }),
                Err(_) => {
                    Err(EngineError::UnknownUser { user_idx: e.user_idx, n_users: self.heldout_users.len() })
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Csr::from_entries(self.heldout_users.len(), n_items, &remapped, Duplicates::KeepLatest)
    }
}

/// How many of `n` entries a fraction `fraction` takes: `round(fraction·n)` clamped to
/// `1..=n-1`; 0 when `n < 2` (a single entry is never split off).
pub fn rounded_share(n: usize, fraction: f64) -> usize {
    if n < 2 {
        return 0;
    }
    ((fraction * n as f64).round() as usize).clamp(1, n - 1)
}

/// The entries of `all` whose (user, item) pair is in none of `held_out`, in input order: the
/// ratings a model may see once test entries are held out (PROTOCOLS: every rating that is not
/// held out stays in training).
pub fn without(all: &[Interaction], held_out: &[&[Interaction]]) -> Vec<Interaction> {
    let held: std::collections::HashSet<(u32, u32)> =
        held_out.iter().flat_map(|part| part.iter()).map(|e| (e.user_idx, e.item_idx)).collect();
    all.iter().filter(|e| !held.contains(&(e.user_idx, e.item_idx))).copied().collect()
}

/// The entries whose value is at least `threshold` (e.g. ratings ≥ 4 as implicit positives).
pub fn positives(entries: &[Interaction], threshold: f32) -> Vec<Interaction> {
    entries.iter().filter(|e| e.value >= threshold).copied().collect()
}

/// A random split of all entries: `round(test_fraction·n)` of them go to test, except that every
/// user keeps one training entry (chosen at random), so the test side can be a little smaller.
/// `test_fraction` must lie strictly between 0 and 1.
pub fn random_split(entries: &[Interaction], test_fraction: f64, seed: u64) -> Result<Split> {
    check_fraction("test_fraction", test_fraction)?;
    let mut rest = shuffled_non_anchors(entries, seed);
    let n_test = ((test_fraction * entries.len() as f64).round() as usize).min(rest.len());
    rest.truncate(n_test);
    let mut is_test = vec![false; entries.len()];
    rest.iter().for_each(|&pos| is_test[pos] = true);
    Ok(partition(entries, &is_test))
}

/// `k` folds for cross-validation: every user keeps one training entry (chosen at random) in all
/// folds; the other entries are shuffled and dealt round-robin into `k` test sets whose sizes
/// differ by at most one. Fold `i` trains on everything outside test set `i`. `k` must be ≥ 2.
pub fn k_fold(entries: &[Interaction], k: usize, seed: u64) -> Result<Vec<Split>> {
    if k < 2 {
        return Err(invalid("k", k, "at least 2 folds"));
    }
    let mut fold = vec![usize::MAX; entries.len()];
    for (slot, pos) in shuffled_non_anchors(entries, seed).into_iter().enumerate() {
        fold[pos] = slot % k;
    }
    let res = (0..k)
        .map(|i| {
            let is_test: Vec<bool> = fold.iter().map(|&f| f == i).collect();
            partition(entries, &is_test)
        })
        .collect();
    Ok(res)
}

/// For every user with at least `min_per_user` entries, a random [`rounded_share`] of
/// `test_fraction` of them goes to test; users with fewer entries keep all of theirs in train.
/// `test_fraction` must lie strictly between 0 and 1 and `min_per_user` be at least 2.
/// The implicit protocol is `per_user_holdout(&positives(entries, 4.0), 0.2, 5, seed)`.
pub fn per_user_holdout(
    entries: &[Interaction],
    test_fraction: f64,
    min_per_user: usize,
    seed: u64,
) -> Result<Split> {
    check_fraction("test_fraction", test_fraction)?;
    check_min_per_user(min_per_user)?;
    let groups = UserGroups::new(entries, None);
    let mut is_test = vec![false; entries.len()];
    for user in 0..groups.n_users() {
        let row = groups.row(user);
        if row.len() >= min_per_user {
            let n_test = rounded_share(row.len(), test_fraction);
            for &pos in &user_shuffled(row, seed, user)[..n_test] {
                is_test[pos] = true;
            }
        }
    }
    Ok(partition(entries, &is_test))
}

fn check_min_per_user(min_per_user: usize) -> Result<()> {
    if min_per_user < 2 {
        return Err(invalid(
            "min_per_user",
            min_per_user,
            "at least 2, so that every user keeps a training entry",
        ));
    }
    Ok(())
}

/// For every user with more than `k` entries, `k` random ones go to test; users with `k` or
/// fewer keep all of theirs in train. `k` must be ≥ 1.
pub fn leave_k_out(entries: &[Interaction], k: usize, seed: u64) -> Result<Split> {
    if k < 1 {
        return Err(invalid("k", k, "at least 1 entry per user"));
    }
    let groups = UserGroups::new(entries, None);
    let mut is_test = vec![false; entries.len()];
    for user in 0..groups.n_users() {
        let row = groups.row(user);
        if row.len() > k {
            for &pos in &user_shuffled(row, seed, user)[..k] {
                is_test[pos] = true;
            }
        }
    }
    Ok(partition(entries, &is_test))
}

/// For every user with at least `min_per_user` entries, the latest [`rounded_share`] of
/// `test_fraction` of them by timestamp go to test (among equal timestamps, later in the input
/// counts as later); users with fewer keep all of theirs in train. `test_fraction` must lie
/// strictly between 0 and 1 and `min_per_user` be at least 2. The temporal protocol is
/// `temporal_per_user(&positives(entries, 4.0), 0.2, 5)`.
pub fn temporal_per_user(entries: &[Interaction], test_fraction: f64, min_per_user: usize) -> Result<Split> {
    check_fraction("test_fraction", test_fraction)?;
    check_min_per_user(min_per_user)?;
    let groups = UserGroups::new(entries, None);
    let mut is_test = vec![false; entries.len()];
    for user in 0..groups.n_users() {
        let row = groups.row(user);
        let n_test = if row.len() >= min_per_user { rounded_share(row.len(), test_fraction) } else { 0 };
        if n_test > 0 {
            let mut by_time = row.to_vec();
            // Stable: positions are ascending, so ties stay in input order.
            by_time.sort_by_key(|&pos| entries[pos].timestamp);
            for &pos in &by_time[row.len() - n_test..] {
                is_test[pos] = true;
            }
        }
    }
    Ok(partition(entries, &is_test))
}

/// Strong generalization (Liang et al. 2018): `n_heldout_users` users, drawn at random among
/// those with at least one entry, are removed from train. Each held-out user's entries are split
/// at random: [`rounded_share`] of `fold_in_fraction` (0.8 in the protocol) to `fold_in`, the
/// rest to `test`; a held-out user with a single entry goes to `fold_in` only. User indices are
/// kept; user indices must be below `n_users_total`. `fold_in_fraction` must lie strictly
/// between 0 and 1, and at least one user with entries must remain for training.
pub fn strong_generalization(
    entries: &[Interaction],
    n_users_total: usize,
    n_heldout_users: usize,
    fold_in_fraction: f64,
    seed: u64,
) -> Result<StrongSplit> {
    check_fraction("fold_in_fraction", fold_in_fraction)?;
    if let Some(e) = entries.iter().find(|e| e.user_idx as usize >= n_users_total) {
        return Err(EngineError::UnknownUser { user_idx: e.user_idx, n_users: n_users_total });
    }
    let groups = UserGroups::new(entries, Some(n_users_total));
    let mut active: Vec<u32> =
        (0..n_users_total).filter(|&user| !groups.row(user).is_empty()).map(|user| user as u32).collect();
    if n_heldout_users == 0 || n_heldout_users >= active.len() {
        return Err(invalid(
            "n_heldout_users",
            n_heldout_users,
            "at least 1 and fewer than the number of users with interactions",
        ));
    }
    Rng::new(seed).shuffle(&mut active);
    let mut heldout_users = active[..n_heldout_users].to_vec();
    heldout_users.sort_unstable();

    #[derive(Clone, Copy, PartialEq)]
    enum Side {
        Train,
        FoldIn,
        Test,
    }
    let mut side = vec![Side::Train; entries.len()];
    for &user in &heldout_users {
        let row = groups.row(user as usize);
        let n_fold_in = if row.len() < 2 { row.len() } else { rounded_share(row.len(), fold_in_fraction) };
        for (slot, &pos) in user_shuffled(row, seed, user as usize).iter().enumerate() {
            side[pos] = if slot < n_fold_in { Side::FoldIn } else { Side::Test };
        }
    }
    let mut res = StrongSplit { heldout_users, ..StrongSplit::default() };
    for (e, s) in entries.iter().zip(side) {
        match s {
            Side::Train => res.train.push(*e),
            Side::FoldIn => res.fold_in.push(*e),
            Side::Test => res.test.push(*e),
        }
    }
    Ok(res)
}

/// Positions of the entries grouped by user, each group in input order (a counting sort).
struct UserGroups {
    indptr: Vec<usize>,
    positions: Vec<usize>,
}

impl UserGroups {
    /// Groups `entries`; `n_users` defaults to the largest user index + 1.
    fn new(entries: &[Interaction], n_users: Option<usize>) -> Self {
        let n_users =
            n_users.unwrap_or_else(|| entries.iter().map(|e| e.user_idx as usize + 1).max().unwrap_or(0));
        let mut indptr = vec![0usize; n_users + 1];
        for e in entries {
            indptr[e.user_idx as usize + 1] += 1;
        }
        for user in 0..n_users {
            indptr[user + 1] += indptr[user];
        }
        let mut next = indptr.clone();
        let mut positions = vec![0usize; entries.len()];
        for (pos, e) in entries.iter().enumerate() {
            positions[next[e.user_idx as usize]] = pos;
            next[e.user_idx as usize] += 1;
        }
        Self { indptr, positions }
    }

    fn n_users(&self) -> usize {
        self.indptr.len() - 1
    }

    fn row(&self, user: usize) -> &[usize] {
        &self.positions[self.indptr[user]..self.indptr[user + 1]]
    }
}

/// A user's entry positions in the user's own random order.
fn user_shuffled(row: &[usize], seed: u64, user: usize) -> Vec<usize> {
    let mut res = row.to_vec();
    Rng::for_stream(seed, user as u64 + 1).shuffle(&mut res);
    res
}

/// Picks one anchor entry per user (always trained on) and returns the positions of all other
/// entries in a seeded random order.
fn shuffled_non_anchors(entries: &[Interaction], seed: u64) -> Vec<usize> {
    let groups = UserGroups::new(entries, None);
    let mut is_anchor = vec![false; entries.len()];
    for user in 0..groups.n_users() {
        let row = groups.row(user);
        if !row.is_empty() {
            let pick = Rng::for_stream(seed, user as u64 + 1).below(row.len() as u64) as usize;
            is_anchor[row[pick]] = true;
        }
    }
    let mut res: Vec<usize> = (0..entries.len()).filter(|&pos| !is_anchor[pos]).collect();
    Rng::new(seed).shuffle(&mut res);
    res
}

fn partition(entries: &[Interaction], is_test: &[bool]) -> Split {
    let mut res = Split::default();
    for (e, &test) in entries.iter().zip(is_test) {
        if test { res.test.push(*e) } else { res.train.push(*e) }
    }
    res
}

fn check_fraction(name: &'static str, value: f64) -> Result<()> {
    if value > 0.0 && value < 1.0 {
        Ok(())
    } else {
        Err(invalid(name, value, "a fraction strictly between 0 and 1"))
    }
}

fn invalid(name: &'static str, value: impl ToString, allowed: &'static str) -> EngineError {
    EngineError::InvalidParam { name, value: value.to_string(), allowed }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(user_idx: u32, item_idx: u32, value: f32, timestamp: i64) -> Interaction {
        Interaction { user_idx, item_idx, value, timestamp }
    }

    /// `n_users` users; user `u` has `3 + u % 7` entries on distinct items, timestamps shuffled.
    fn synthetic(n_users: u32) -> Vec<Interaction> {
        let mut res = Vec::new();
        let mut rng = Rng::new(7);
        for item in 0..10 {
            for user in 0..n_users {
                if item < 3 + user % 7 {
                    res.push(e(user, item, 1.0 + rng.below(5) as f32, rng.below(1000) as i64));
                }
            }
        }
        res
    }

    fn per_user_counts(entries: &[Interaction], n_users: usize) -> Vec<usize> {
        let mut res = vec![0; n_users];
        entries.iter().for_each(|e| res[e.user_idx as usize] += 1);
        res
    }

    /// Both sides, merged back in input order, give the input (each side keeps input order).
    fn assert_partition(entries: &[Interaction], sides: &[&[Interaction]]) {
        let mut cursors = vec![0; sides.len()];
        for entry in entries {
            let side = (0..sides.len())
                .find(|&s| sides[s].get(cursors[s]) == Some(entry))
                .unwrap_or_else(|| panic!("{entry:?} is on no side, or out of order"));
            cursors[side] += 1;
        }
        let consumed: Vec<usize> = sides.iter().map(|s| s.len()).collect();
        assert_eq!(cursors, consumed);
    }

    #[test]
    fn rounded_share_rounds_to_nearest_and_leaves_one_each_side() {
        // (n, fraction, expected): 0.2·5 = 1, 0.2·7 = 1.4 → 1, 0.2·8 = 1.6 → 2, 0.2·2 = 0.4 → 1
        // (at least one), 0.8·2 = 1.6 → 2 → 1 (one must stay), 0.5·3 = 1.5 → 2, n = 1 → 0.
        let cases =
            [(5, 0.2, 1), (7, 0.2, 1), (8, 0.2, 2), (2, 0.2, 1), (2, 0.8, 1), (3, 0.5, 2), (1, 0.5, 0)];
        for (n, fraction, expected) in cases {
            assert_eq!(rounded_share(n, fraction), expected, "n = {n}, fraction = {fraction}");
        }
    }

    #[test]
    fn invalid_parameters_are_named() {
        let entries = synthetic(5);
        let name = |r: Result<Split>| match r {
            Err(EngineError::InvalidParam { name, .. }) => name,
            other => panic!("expected InvalidParam, got {other:?}"),
        };
        assert_eq!(name(random_split(&entries, 0.0, 1)), "test_fraction");
        assert_eq!(name(random_split(&entries, 1.0, 1)), "test_fraction");
        assert_eq!(name(random_split(&entries, f64::NAN, 1)), "test_fraction");
        assert_eq!(name(per_user_holdout(&entries, 1.5, 5, 1)), "test_fraction");
        assert_eq!(name(per_user_holdout(&entries, 0.2, 1, 1)), "min_per_user");
        assert_eq!(name(leave_k_out(&entries, 0, 1)), "k");
        assert_eq!(name(temporal_per_user(&entries, -0.1, 5)), "test_fraction");
        assert_eq!(name(temporal_per_user(&entries, 0.2, 1)), "min_per_user");
        assert_eq!(name(k_fold(&entries, 1, 1).map(|_| Split::default())), "k");
        let strong = |n_heldout, fraction| strong_generalization(&entries, 5, n_heldout, fraction, 1);
        for (res, expected) in [
            (strong(1, 1.0), "fold_in_fraction"),
            (strong(0, 0.8), "n_heldout_users"),
            (strong(5, 0.8), "n_heldout_users"),
        ] {
            assert!(matches!(res, Err(EngineError::InvalidParam { name, .. }) if name == expected));
        }
        let err = strong_generalization(&entries, 4, 1, 0.8, 1).unwrap_err();
        assert_eq!(err, EngineError::UnknownUser { user_idx: 4, n_users: 4 });
    }

    #[test]
    fn positives_keep_values_at_or_above_threshold() {
        let entries = [e(0, 0, 3.5, 0), e(0, 1, 4.0, 0), e(1, 0, 5.0, 0), e(1, 2, 1.0, 0)];
        assert_eq!(positives(&entries, 4.0), vec![entries[1], entries[2]]);
    }

    #[test]
    fn random_split_hits_the_fraction_and_keeps_a_training_entry_per_user() {
        let entries = synthetic(50);
        let split = random_split(&entries, 0.2, 42).unwrap();
        assert_partition(&entries, &[&split.train, &split.test]);
        // 50 users with 3 + u % 7 entries: 50·3 + 7·(0 + 1 + … + 6) + 0 = 150 + 147 = 297;
        // round(0.2·297) = round(59.4) = 59.
        assert_eq!(entries.len(), 297);
        assert_eq!(split.test.len(), 59);
        assert!(per_user_counts(&split.train, 50).iter().all(|&c| c >= 1));
        assert_eq!(random_split(&entries, 0.2, 42).unwrap(), split);
        assert_ne!(random_split(&entries, 0.2, 43).unwrap(), split);
        // A high fraction is capped so that every user still trains on one entry.
        let most = random_split(&entries, 0.99, 1).unwrap();
        assert_eq!(most.train.len(), 50);
        assert_eq!(per_user_counts(&most.train, 50), vec![1; 50]);
    }

    #[test]
    fn k_fold_tests_every_non_anchor_entry_exactly_once() {
        let entries = synthetic(50);
        let folds = k_fold(&entries, 5, 3).unwrap();
        assert_eq!(folds.len(), 5);
        let mut times_tested = vec![0; entries.len()];
        for fold in &folds {
            assert_partition(&entries, &[&fold.train, &fold.test]);
            assert!(per_user_counts(&fold.train, 50).iter().all(|&c| c >= 1));
            // 297 − 50 anchors = 247 entries dealt into 5 folds: sizes 50 (×2) or 49 (×3).
            assert!((49..=50).contains(&fold.test.len()), "{}", fold.test.len());
            for t in &fold.test {
                times_tested[entries.iter().position(|x| x == t).unwrap()] += 1;
            }
        }
        assert_eq!(times_tested.iter().filter(|&&c| c == 1).count(), 247);
        assert_eq!(times_tested.iter().filter(|&&c| c == 0).count(), 50);
        assert_eq!(k_fold(&entries, 5, 3).unwrap(), folds);
    }

    #[test]
    fn per_user_holdout_counts_follow_the_rounding_rule() {
        // user 0: 4 entries (< 5: all train); user 1: 5 → 1 test; user 2: 8 → round(1.6) = 2;
        // user 3: 12 → round(2.4) = 2.
        let mut entries = Vec::new();
        for (user, n) in [(0u32, 4u32), (1, 5), (2, 8), (3, 12)] {
            entries.extend((0..n).map(|item| e(user, item, 5.0, 0)));
        }
        let split = per_user_holdout(&entries, 0.2, 5, 9).unwrap();
        assert_partition(&entries, &[&split.train, &split.test]);
        assert_eq!(per_user_counts(&split.test, 4), vec![0, 1, 2, 2]);
        assert_eq!(per_user_counts(&split.train, 4), vec![4, 4, 6, 10]);
        // A user's split depends only on the seed and their own entries: dropping user 2
        // changes nothing for the others.
        let without_2: Vec<Interaction> = entries.iter().filter(|x| x.user_idx != 2).copied().collect();
        let split_2 = per_user_holdout(&without_2, 0.2, 5, 9).unwrap();
        let not_2 = |v: &[Interaction]| v.iter().filter(|x| x.user_idx != 2).copied().collect::<Vec<_>>();
        assert_eq!(split_2.test, not_2(&split.test));
        // Different seeds pick different entries for user 3.
        let other = per_user_holdout(&entries, 0.2, 5, 10).unwrap();
        assert_ne!(other.test, split.test);
    }

    #[test]
    fn leave_k_out_holds_out_k_from_users_with_more() {
        let entries = synthetic(20);
        let split = leave_k_out(&entries, 3, 5).unwrap();
        assert_partition(&entries, &[&split.train, &split.test]);
        let counts = per_user_counts(&entries, 20);
        let tested = per_user_counts(&split.test, 20);
        for user in 0..20 {
            // Users with exactly 3 entries (u % 7 == 0) keep everything.
            assert_eq!(tested[user], if counts[user] > 3 { 3 } else { 0 }, "user {user}");
        }
    }

    #[test]
    fn temporal_takes_the_latest_with_input_order_on_ties() {
        let entries = [
            e(0, 0, 1.0, 30),
            e(0, 1, 1.0, 10),
            e(0, 2, 1.0, 30),
            e(0, 3, 1.0, 20),
            e(0, 4, 1.0, 5),
            e(1, 0, 1.0, 99),
            e(2, 0, 1.0, 1),
            e(2, 1, 1.0, 1),
        ];
        // User 0: 5 entries, round(0.4·5) = 2 latest: both at t = 30, items 0 and 2.
        // User 1: a single entry stays in train. User 2: round(0.8) = 1 of two ties: the later
        // one in input order, item 1.
        let split = temporal_per_user(&entries, 0.4, 2).unwrap();
        assert_eq!(split.test, vec![entries[0], entries[2], entries[7]]);
        assert_partition(&entries, &[&split.train, &split.test]);
        // With at least 5 entries per user (the protocol's rule) only user 0 is split.
        let split = temporal_per_user(&entries, 0.4, 5).unwrap();
        assert_eq!(split.test, vec![entries[0], entries[2]]);
        assert_partition(&entries, &[&split.train, &split.test]);
    }

    #[test]
    fn strong_generalization_keeps_heldout_users_out_of_train() {
        let entries = synthetic(40);
        let split = strong_generalization(&entries, 45, 10, 0.8, 11).unwrap();
        assert_partition(&entries, &[&split.train, &split.fold_in, &split.test]);
        assert_eq!(split.heldout_users.len(), 10);
        assert!(split.heldout_users.windows(2).all(|w| w[0] < w[1]));
        // Users 40..45 have no entries and are never held out.
        assert!(split.heldout_users.iter().all(|&u| u < 40));
        let is_heldout = |u: u32| split.heldout_users.binary_search(&u).is_ok();
        assert!(split.train.iter().all(|x| !is_heldout(x.user_idx)));
        assert!(split.fold_in.iter().chain(&split.test).all(|x| is_heldout(x.user_idx)));
        let counts = per_user_counts(&entries, 40);
        let fold_in = per_user_counts(&split.fold_in, 40);
        for &user in &split.heldout_users {
            let n = counts[user as usize];
            // round(0.8·n) for n in 3..=9: 3 → 2, 4 → 3, 5 → 4, 6 → 5, 7 → 6, 8 → 6, 9 → 7.
            let expected = [0, 0, 0, 2, 3, 4, 5, 6, 6, 7][n];
            assert_eq!(fold_in[user as usize], expected, "user {user} with {n} entries");
        }
        assert_eq!(strong_generalization(&entries, 45, 10, 0.8, 11).unwrap(), split);

        let (fold_in_m, test_m) = split.heldout_matrices(10).unwrap();
        assert_eq!((fold_in_m.n_rows(), test_m.n_rows()), (10, 10));
        assert_eq!(fold_in_m.nnz() + test_m.nnz(), split.fold_in.len() + split.test.len());
        for (row, &user) in split.heldout_users.iter().enumerate() {
            let mut items: Vec<u32> =
                split.test.iter().filter(|x| x.user_idx == user).map(|x| x.item_idx).collect();
            items.sort_unstable();
            assert_eq!(test_m.row(row).indices, &items[..]);
        }
    }

    #[test]
    fn a_single_entry_heldout_user_is_fold_in_only() {
        let entries = [e(0, 0, 1.0, 0), e(1, 0, 1.0, 0), e(1, 1, 1.0, 0)];
        // With 2 active users and 1 held out, try seeds until user 0 is the held-out one.
        let split = (0..64)
            .map(|seed| strong_generalization(&entries, 2, 1, 0.8, seed).unwrap())
            .find(|s| s.heldout_users == [0])
            .unwrap();
        assert_eq!(split.fold_in, vec![entries[0]]);
        assert!(split.test.is_empty());
        assert_eq!(split.train, vec![entries[1], entries[2]]);
    }
}
