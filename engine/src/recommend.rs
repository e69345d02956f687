//! The query side shared by every model: the [`Recommender`] trait and top-N, batch, fold-in,
//! similar-item/user and explanation queries built on it.
//!
//! **Seen means rated.** A model learns from some of a user's ratings (implicit models: the
//! positives), but every movie the user rated, whatever the value, is *seen*: `exclude_seen`
//! leaves out the scoring history's items *and* the other rated items ([`TrainingUsers`] for
//! training users, `also_seen` for fold-in).

use rayon::prelude::*;

use crate::error::{EngineError, Result};
use crate::factors::FactorView;
use crate::interactions::{Csr, Row};
use crate::topk::{ScoredItem, TopK, top_k};

/// What a top-N query returns and which items it may return.
#[derive(Clone, Copy, Debug)]
pub struct RecommendOptions<'a> {
    /// How many items to return.
    pub n: usize,
    /// Leave out every item the user rated: the history's items and the other rated items.
    pub exclude_seen: bool,
    /// When set, only these items may be returned.
    pub allow: Option<&'a [u32]>,
    /// These items are never returned.
    pub deny: &'a [u32],
}

impl Default for RecommendOptions<'_> {
    fn default() -> Self {
        Self { n: 10, exclude_seen: true, allow: None, deny: &[] }
    }
}

/// The training users as queries see them: `learned`, the matrix the model was trained on (its
/// rows are the histories that scoring and explanations read), and `also_seen`, the items each
/// user rated that the model did not learn from (for implicit models the ratings below the
/// positive threshold; an empty matrix when the model learned from every rating). Both are
/// `n_users × n_items`; `exclude_seen` leaves out the items of both rows.
#[derive(Clone, Copy, Debug)]
pub struct TrainingUsers<'a> {
    learned: &'a Csr,
    also_seen: Option<&'a Csr>,
}

impl<'a> TrainingUsers<'a> {
    /// The training matrix and the other rated items; their shapes must agree.
    pub fn new(learned: &'a Csr, also_seen: &'a Csr) -> Result<Self> {
        for (what, expected, got) in [
            ("also-seen matrix rows", learned.n_rows(), also_seen.n_rows()),
            ("also-seen matrix columns", learned.n_cols(), also_seen.n_cols()),
        ] {
            if expected != got {
                return Err(EngineError::Shape { what, expected, got });
            }
        }
        Ok(Self { learned, also_seen: Some(also_seen) })
    }

    /// Users whose every rated item is in the training matrix (e.g. explicit models, which
    /// learn from every rating).
    pub fn learned_only(learned: &'a Csr) -> Self {
        Self { learned, also_seen: None }
    }

    /// The training matrix.
    pub fn learned(&self) -> &'a Csr {
        self.learned
    }

    /// A user's training row (what scoring reads) and other rated items; checks the index.
    pub fn checked(&self, user_idx: u32) -> Result<(Row<'a>, Seen<'a>)> {
        let history = self.learned.checked_row(user_idx)?;
        Ok((history, self.seen_with(user_idx, history)))
    }

    fn seen_with(&self, user_idx: u32, history: Row<'a>) -> Seen<'a> {
        let also = self.also_seen.map_or(&[][..], |m| m.row(user_idx as usize).indices);
        Seen { history: history.indices, also }
    }

    /// A user's row and seen items, for an index already checked.
    pub(crate) fn unchecked(&self, user_idx: u32) -> (Row<'a>, Seen<'a>) {
        let history = self.learned.row(user_idx as usize);
        (history, self.seen_with(user_idx, history))
    }
}

/// The items a query leaves out as seen: the scoring history's items and `also` (other rated
/// items), both sorted ascending.
#[derive(Clone, Copy, Debug, Default)]
pub struct Seen<'a> {
    /// The history's items.
    pub history: &'a [u32],
    /// The other rated items.
    pub also: &'a [u32],
}

impl Seen<'_> {
    /// Whether `item` is seen.
    pub fn contains(&self, item: u32) -> bool {
        self.history.binary_search(&item).is_ok() || self.also.binary_search(&item).is_ok()
    }

    /// Every seen item (an item in both lists comes twice).
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.history.iter().chain(self.also).copied()
    }

    /// The sorted union of both lists.
    pub fn union(&self) -> Vec<u32> {
        let mut res: Vec<u32> = self.iter().collect();
        res.sort_unstable();
        res.dedup();
        res
    }
}

/// Why an item scored as it did for a user: the seen items that contributed most.
#[derive(Clone, Debug, PartialEq)]
pub struct Explanation {
    /// The model's score for the item.
    pub score: f32,
    /// `(seen item_idx, contribution)` pairs, largest contribution first. For item-based
    /// models they sum to `score`; for factor models they sum to the score of the user's
    /// implied (least-squares) vector, as in `implicit`'s `explain`.
    pub contributions: Vec<(u32, f32)>,
}

/// A trained model that can score items. Implemented by every model kind.
pub trait Recommender: Sync {
    /// Short model kind name (e.g. `implicit-als`), used in errors.
    fn kind(&self) -> &'static str;

    /// Users the model was trained on.
    fn n_users(&self) -> usize;

    /// Items the model knows.
    fn n_items(&self) -> usize;

    /// Writes a score for every item (`scores.len() == n_items`) for a training user;
    /// `history` is that user's row of the training matrix.
    fn score_user(&self, user_idx: u32, history: Row<'_>, scores: &mut [f32]) -> Result<()>;

    /// Writes a score for every item for someone known only by their interactions
    /// (fold-in for factor models).
    fn score_history(&self, history: Row<'_>, scores: &mut [f32]) -> Result<()>;

    /// Similarity of `item_idx` to every item.
    fn item_similarities(&self, item_idx: u32, out: &mut [f32]) -> Result<()>;

    /// Similarity of `user_idx` to every training user.
    fn user_similarities(&self, user_idx: u32, out: &mut [f32]) -> Result<()> {
        let _ = (user_idx, out);
        Err(EngineError::Unsupported { model: self.kind(), operation: "similar users" })
    }

    /// Why `item_idx` scores as it does given `history` (the user's interactions).
    fn explain(&self, user_idx: Option<u32>, history: Row<'_>, item_idx: u32) -> Result<Explanation>;

    /// The factor matrices behind the scores, for factor models (implicit and explicit ALS);
    /// `None` (the default) for the others. [`crate::quantized::QuantizedIndex`] builds on it.
    fn factors(&self) -> Option<FactorView<'_>> {
        None
    }
}

pub(crate) fn check_item(item_idx: u32, n_items: usize) -> Result<()> {
    if (item_idx as usize) < n_items { Ok(()) } else { Err(EngineError::UnknownItem { item_idx, n_items }) }
}

pub(crate) fn check_user(user_idx: u32, n_users: usize) -> Result<()> {
    if (user_idx as usize) < n_users { Ok(()) } else { Err(EngineError::UnknownUser { user_idx, n_users }) }
}

pub(crate) fn check_scores_len(scores: &[f32], n_items: usize) -> Result<()> {
    if scores.len() == n_items {
        Ok(())
    } else {
        Err(EngineError::Shape { what: "scores buffer", expected: n_items, got: scores.len() })
    }
}

/// Checks a history row against the model's item count.
pub(crate) fn check_history(history: Row<'_>, n_items: usize) -> Result<()> {
    match history.indices.last() {
        Some(&last) => check_item(last, n_items),
        None => Ok(()),
    }
}

fn check_options(options: &RecommendOptions<'_>, n_items: usize) -> Result<()> {
    for &item in options.allow.unwrap_or(&[]).iter().chain(options.deny) {
        check_item(item, n_items)?;
    }
    Ok(())
}

/// Checks a list of other rated items: sorted ascending, each a known item.
pub(crate) fn check_also_seen(also_seen: &[u32], n_items: usize) -> Result<()> {
    if let Some(pair) = also_seen.windows(2).find(|w| w[0] >= w[1]) {
        return Err(EngineError::InvalidParam {
            name: "also_seen",
            value: format!("{} before {}", pair[0], pair[1]),
            allowed: "item indices sorted ascending without repeats",
        });
    }
    match also_seen.last() {
        Some(&last) => check_item(last, n_items),
        None => Ok(()),
    }
}

/// Picks the best `options.n` items from `scores`, applying seen/allow/deny filters.
fn select(scores: &[f32], seen: Seen<'_>, options: &RecommendOptions<'_>) -> Vec<ScoredItem> {
    let denied = |item: u32| options.deny.contains(&item) || (options.exclude_seen && seen.contains(item));
    match options.allow {
        Some(allow) => {
            let mut top = TopK::new(options.n);
            for &item in allow {
                if !denied(item) {
                    top.push(item, scores[item as usize]);
                }
            }
            let mut res = top.into_sorted_vec();
            res.dedup_by_key(|s| s.item_idx);
            res
        }
        None if options.deny.is_empty() => {
            // Seen items: binary search per candidate that passes the threshold.
            top_k(scores, options.n, |item| !(options.exclude_seen && seen.contains(item)))
        }
        None => top_k(scores, options.n, |item| !denied(item)),
    }
}

/// Top-N for a training user, scored from their row of the training matrix; with
/// `exclude_seen` every item they rated is left out.
pub fn recommend(
    model: &dyn Recommender,
    users: TrainingUsers<'_>,
    user_idx: u32,
    options: &RecommendOptions<'_>,
) -> Result<Vec<ScoredItem>> {
    check_user(user_idx, model.n_users())?;
    check_options(options, model.n_items())?;
    let (history, seen) = users.checked(user_idx)?;
    let mut scores = vec![0f32; model.n_items()];
    model.score_user(user_idx, history, &mut scores)?;
    Ok(select(&scores, seen, options))
}

/// Top-N for many training users in parallel; results in the order of `users`.
pub fn recommend_batch(
    model: &dyn Recommender,
    training: TrainingUsers<'_>,
    users: &[u32],
    options: &RecommendOptions<'_>,
) -> Result<Vec<Vec<ScoredItem>>> {
    check_options(options, model.n_items())?;
    for &user in users {
        check_user(user, model.n_users())?;
        training.checked(user)?;
    }
    users
        .par_iter()
        .map_init(
            || vec![0f32; model.n_items()],
            |scores, &user| {
                let (history, seen) = training.unchecked(user);
                model.score_user(user, history, scores)?;
                Ok(select(scores, seen, options))
            },
        )
        .collect()
}

/// Top-N for someone known by their interactions (`history`: sorted item indices and values,
/// what the model scores from; factor models fold it in) and `also_seen`, the other items they
/// rated (sorted ascending), which `exclude_seen` leaves out with the history's items.
pub fn recommend_for_history(
    model: &dyn Recommender,
    history: Row<'_>,
    also_seen: &[u32],
    options: &RecommendOptions<'_>,
) -> Result<Vec<ScoredItem>> {
    check_history(history, model.n_items())?;
    check_also_seen(also_seen, model.n_items())?;
    check_options(options, model.n_items())?;
    let mut scores = vec![0f32; model.n_items()];
    model.score_history(history, &mut scores)?;
    Ok(select(&scores, Seen { history: history.indices, also: also_seen }, options))
}

/// The `n` items most similar to `item_idx` (itself excluded).
pub fn similar_items(model: &dyn Recommender, item_idx: u32, n: usize) -> Result<Vec<ScoredItem>> {
    check_item(item_idx, model.n_items())?;
    let mut sims = vec![0f32; model.n_items()];
    model.item_similarities(item_idx, &mut sims)?;
    Ok(top_k(&sims, n, |item| item != item_idx))
}

/// The `n` training users most similar to `user_idx` (itself excluded); `item_idx` in the
/// result holds the *user* index.
pub fn similar_users(model: &dyn Recommender, user_idx: u32, n: usize) -> Result<Vec<ScoredItem>> {
    check_user(user_idx, model.n_users())?;
    let mut sims = vec![0f32; model.n_users()];
    model.user_similarities(user_idx, &mut sims)?;
    Ok(top_k(&sims, n, |user| user != user_idx))
}

/// Why `item_idx` is recommended to training user `user_idx`.
pub fn explain(model: &dyn Recommender, seen: &Csr, user_idx: u32, item_idx: u32) -> Result<Explanation> {
    check_user(user_idx, model.n_users())?;
    check_item(item_idx, model.n_items())?;
    model.explain(Some(user_idx), seen.checked_row(user_idx)?, item_idx)
}
