//! Partial selection of the best-scoring items (no full sort).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// An item and its score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoredItem {
    /// Dense item index.
    pub item_idx: u32,
    /// Model score (higher is better).
    pub score: f32,
}

/// Heap entry ordered so that the heap's top is the *worst* kept item: lower score, then higher
/// index (so that ties resolve to the lower index, deterministically).
#[derive(Clone, Copy, PartialEq)]
struct Worst(ScoredItem);

impl Eq for Worst {}

impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.score.total_cmp(&self.0.score).then(self.0.item_idx.cmp(&other.0.item_idx))
    }
}

impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Keeps the `k` best items offered to it.
#[derive(Clone)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Worst>,
}

impl TopK {
    /// A selector for the best `k` items.
    pub fn new(k: usize) -> Self {
        Self { k, heap: BinaryHeap::with_capacity(k + 1) }
    }

    /// Offers one candidate; NaN scores are never kept.
    #[inline]
    pub fn push(&mut self, item_idx: u32, score: f32) {
        if self.k == 0 || score.is_nan() {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push(Worst(ScoredItem { item_idx, score }));
        } else if let Some(mut top) = self.heap.peek_mut() {
            let candidate = Worst(ScoredItem { item_idx, score });
            if candidate < *top {
                *top = candidate;
            }
        }
    }

    /// Score a candidate must beat to enter (−∞ while fewer than `k` are held).
    #[inline]
    pub fn threshold(&self) -> f32 {
        if self.heap.len() < self.k {
            f32::NEG_INFINITY
        } else {
            self.heap.peek().map_or(f32::NEG_INFINITY, |w| w.0.score)
        }
    }

    /// The kept items, best first.
    pub fn into_sorted_vec(self) -> Vec<ScoredItem> {
        // `into_sorted_vec` is ascending in `Worst` order, i.e. best first.
        self.heap.into_sorted_vec().into_iter().map(|w| w.0).collect()
    }
}

/// The `k` best entries of `scores` for which `keep(item_idx)` holds, best first.
pub fn top_k(scores: &[f32], k: usize, mut keep: impl FnMut(u32) -> bool) -> Vec<ScoredItem> {
    let mut top = TopK::new(k);
    let mut threshold = f32::NEG_INFINITY;
    for (idx, &score) in scores.iter().enumerate() {
        // Cheap rejection first; ties at the threshold still go through `push` (index order).
        if score >= threshold && keep(idx as u32) {
            top.push(idx as u32, score);
            threshold = top.threshold();
        }
    }
    top.into_sorted_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_best_first_with_index_tiebreak_and_filter() {
        let scores = [0.5, 2.0, f32::NAN, 2.0, -1.0, 3.0, 0.7];
        let res = top_k(&scores, 3, |i| i != 5);
        let got: Vec<(u32, f32)> = res.iter().map(|s| (s.item_idx, s.score)).collect();
        assert_eq!(got, vec![(1, 2.0), (3, 2.0), (6, 0.7)]);
        assert!(top_k(&scores, 0, |_| true).is_empty());
        assert_eq!(top_k(&scores, 100, |_| true).len(), 6);
    }

    #[test]
    fn matches_full_sort_on_random_scores() {
        let mut rng = crate::rng::Rng::new(3);
        let scores: Vec<f32> = (0..5000).map(|_| rng.next_f32()).collect();
        let mut sorted: Vec<u32> = (0..5000).collect();
        sorted.sort_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]).then(a.cmp(&b)));
        let got: Vec<u32> = top_k(&scores, 25, |_| true).iter().map(|s| s.item_idx).collect();
        assert_eq!(got, sorted[..25]);
    }
}
