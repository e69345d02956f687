//! Evaluation metrics as plain functions: rating error (RMSE, MAE), per-user ranking quality
//! (Precision@K, Recall@K, nDCG@K, AP@K, AUC) and catalogue coverage.
//!
//! Ranking metrics take `ranked` (distinct item indices, best first; only the first `k` count)
//! and `relevant` (the user's test items, sorted ascending and distinct, as in a
//! [`Row`](crate::Row)). Relevance is binary. They return 0 when `k == 0` or `relevant` is empty.

/// Root mean squared error over `(predicted, actual)` pairs; `None` when there are none.
pub fn rmse(pairs: impl IntoIterator<Item = (f32, f32)>) -> Option<f64> {
    let (sum, n) = pairs.into_iter().fold((0.0f64, 0usize), |(sum, n), (predicted, actual)| {
        let err = predicted as f64 - actual as f64;
        (sum + err * err, n + 1)
    });
    (n > 0).then(|| (sum / n as f64).sqrt())
}

/// Mean absolute error over `(predicted, actual)` pairs; `None` when there are none.
pub fn mae(pairs: impl IntoIterator<Item = (f32, f32)>) -> Option<f64> {
    let (sum, n) = pairs.into_iter().fold((0.0f64, 0usize), |(sum, n), (predicted, actual)| {
        (sum + (predicted as f64 - actual as f64).abs(), n + 1)
    });
    (n > 0).then(|| sum / n as f64)
}

/// Whether each of the first `k` ranked items is relevant.
fn hits<'a>(ranked: &'a [u32], relevant: &'a [u32], k: usize) -> impl Iterator<Item = bool> + 'a {
    debug_assert!(relevant.windows(2).all(|w| w[0] < w[1]), "relevant items must be sorted and distinct");
    ranked.iter().take(k).map(|item| relevant.binary_search(item).is_ok())
}

/// Discount of the hit at 0-based rank `rank`: `1 / log2(rank + 2)`.
fn discount(rank: usize) -> f64 {
    1.0 / ((rank + 2) as f64).log2()
}

/// Precision@K: relevant items among the first `k` ranked, divided by `k`.
pub fn precision_at_k(ranked: &[u32], relevant: &[u32], k: usize) -> f64 {
    if k == 0 || relevant.is_empty() {
        return 0.0;
    }
    hits(ranked, relevant, k).filter(|&hit| hit).count() as f64 / k as f64
}

/// Recall@K: relevant items among the first `k` ranked, divided by `min(k, |relevant|)` (so a
/// perfect list scores 1 even when the user has more than `k` test items).
pub fn recall_at_k(ranked: &[u32], relevant: &[u32], k: usize) -> f64 {
    if k == 0 || relevant.is_empty() {
        return 0.0;
    }
    hits(ranked, relevant, k).filter(|&hit| hit).count() as f64 / k.min(relevant.len()) as f64
}

/// nDCG@K with binary relevance: `Σ_{hits at 0-based rank r < k} 1/log2(r + 2)`, divided by the
/// ideal DCG of `min(k, |relevant|)` hits at the top.
pub fn ndcg_at_k(ranked: &[u32], relevant: &[u32], k: usize) -> f64 {
    if k == 0 || relevant.is_empty() {
        return 0.0;
    }
    let dcg: f64 =
        hits(ranked, relevant, k).enumerate().filter(|&(_, hit)| hit).map(|(r, _)| discount(r)).sum();
    let ideal: f64 = (0..k.min(relevant.len())).map(discount).sum();
    dcg / ideal
}

/// Average precision@K: the sum of Precision@(r + 1) over the hits at 0-based ranks `r < k`,
/// divided by `min(k, |relevant|)`. Its mean over users is MAP@K.
pub fn average_precision_at_k(ranked: &[u32], relevant: &[u32], k: usize) -> f64 {
    if k == 0 || relevant.is_empty() {
        return 0.0;
    }
    let mut n_hits = 0usize;
    let mut sum = 0.0f64;
    for (r, hit) in hits(ranked, relevant, k).enumerate() {
        if hit {
            n_hits += 1;
            sum += n_hits as f64 / (r + 1) as f64;
        }
    }
    sum / k.min(relevant.len()) as f64
}

/// AUC over the candidate items: every item of `0..scores.len()` not in `excluded` (the user's
/// training items). Positives are the candidates in `relevant`, negatives the other candidates;
/// the result is the fraction of (positive, negative) pairs where the positive scores higher, ties
/// counting half. NaN scores rank lowest. `relevant` and `excluded` are sorted ascending and
/// distinct. `None` when there is no positive or no negative candidate.
///
/// Cost: O(n log p) for n items and p positives (each negative is located among the sorted
/// positive scores by binary search).
pub fn auc(scores: &[f32], relevant: &[u32], excluded: &[u32]) -> Option<f64> {
    debug_assert!(relevant.windows(2).all(|w| w[0] < w[1]), "relevant items must be sorted and distinct");
    debug_assert!(excluded.windows(2).all(|w| w[0] < w[1]), "excluded items must be sorted and distinct");
    // NaN → −∞ and −0 → +0, so that `<` and `==` order every score.
    let key = |score: f32| if score.is_nan() { f32::NEG_INFINITY } else { score + 0.0 };
    let mut positive: Vec<f32> = relevant
        .iter()
        .filter(|&&item| (item as usize) < scores.len() && excluded.binary_search(&item).is_err())
        .map(|&item| key(scores[item as usize]))
        .collect();
    if positive.is_empty() {
        return None;
    }
    positive.sort_unstable_by(f32::total_cmp);
    let (mut correct, mut ties, mut n_negative) = (0u64, 0u64, 0u64);
    let (mut next_excluded, mut next_relevant) = (excluded.iter().peekable(), relevant.iter().peekable());
    for (item, &score) in scores.iter().enumerate() {
        let item = item as u32;
        let mut skip = false;
        for next in [&mut next_excluded, &mut next_relevant] {
            while next.next_if(|&&i| i < item).is_some() {}
            skip |= next.peek() == Some(&&item);
        }
        if skip {
            continue;
        }
        let score = key(score);
        let below = positive.partition_point(|&p| p < score);
        let up_to = positive.partition_point(|&p| p <= score);
        correct += (positive.len() - up_to) as u64;
        ties += (up_to - below) as u64;
        n_negative += 1;
    }
    (n_negative > 0)
        .then(|| (correct as f64 + 0.5 * ties as f64) / (positive.len() as f64 * n_negative as f64))
}

/// Catalogue coverage: distinct items across all recommendation lists, divided by `n_items`.
/// Items at or above `n_items` are ignored; 0 when `n_items == 0`.
pub fn catalogue_coverage<'a>(lists: impl IntoIterator<Item = &'a [u32]>, n_items: usize) -> f64 {
    if n_items == 0 {
        return 0.0;
    }
    let mut seen = vec![false; n_items];
    let mut distinct = 0usize;
    for &item in lists.into_iter().flatten() {
        if let Some(slot) = seen.get_mut(item as usize)
            && !*slot
        {
            *slot = true;
            distinct += 1;
        }
    }
    distinct as f64 / n_items as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn close(got: f64, expected: f64) -> bool {
        (got - expected).abs() < 1e-12
    }

    #[test]
    fn rating_errors() {
        // errors −0.5, 0, −1, 1: squares 0.25 + 0 + 1 + 1 = 2.25, / 4 = 0.5625, √ = 0.75;
        // absolute 0.5 + 0 + 1 + 1 = 2.5, / 4 = 0.625.
        let pairs = [(3.5, 4.0), (3.0, 3.0), (4.0, 5.0), (2.0, 1.0)];
        assert_eq!(rmse(pairs), Some(0.75));
        assert_eq!(mae(pairs), Some(0.625));
        assert_eq!(rmse([]), None);
        assert_eq!(mae([]), None);
    }

    /// `(ranked, relevant, k, [precision, recall, ndcg, ap])`.
    type Case = (&'static [u32], &'static [u32], usize, [f64; 4]);

    #[test]
    fn ranking_metrics_match_hand_computed_values() {
        let cases: [Case; 7] = [
            // Hits at 1-based ranks 2 and 4 of 5; |relevant| = 3.
            // P = 2/5; R = 2/min(5,3) = 2/3;
            // DCG = 1/log2(3) + 1/log2(5) = 0.63093 + 0.43068 = 1.06161,
            // IDCG = 1 + 1/log2(3) + 1/log2(4) = 2.13093, nDCG = 0.49819;
            // AP = (1/2 + 2/4) / min(5,3) = 1/3.
            (&[5, 1, 7, 3, 9], &[1, 3, 4], 5, [0.4, 2.0 / 3.0, 0.49818925746641285, 1.0 / 3.0]),
            // Cut at k = 2: one hit at rank 2. P = 1/2; R = 1/min(2,3) = 1/2;
            // nDCG = (1/log2 3) / (1 + 1/log2 3) = 0.63093 / 1.63093 = 0.38685; AP = (1/2)/2.
            (&[5, 1, 7, 3, 9], &[1, 3, 4], 2, [0.5, 0.5, 0.38685280723454163, 0.25]),
            // k = 1: the only ranked item misses.
            (&[5, 1, 7, 3, 9], &[1, 3, 4], 1, [0.0, 0.0, 0.0, 0.0]),
            // Perfect top-3 with k = 3: everything is 1.
            (&[4, 1, 3, 0], &[1, 3, 4], 3, [1.0, 1.0, 1.0, 1.0]),
            // A short list (2 items) with k = 4 and one test item, hit at rank 2:
            // P = 1/4; R = 1/min(4,1) = 1; nDCG = (1/log2 3) / 1 = 0.63093; AP = (1/2)/1.
            (&[8, 2], &[2], 4, [0.25, 1.0, 0.6309297535714575, 0.5]),
            // No relevant items, or k = 0: all metrics are 0.
            (&[1, 2], &[], 2, [0.0; 4]),
            (&[1, 2], &[1], 0, [0.0; 4]),
        ];
        for (ranked, relevant, k, expected) in cases {
            let got = [
                precision_at_k(ranked, relevant, k),
                recall_at_k(ranked, relevant, k),
                ndcg_at_k(ranked, relevant, k),
                average_precision_at_k(ranked, relevant, k),
            ];
            assert!(
                got.iter().zip(&expected).all(|(&g, &e)| close(g, e)),
                "ranked {ranked:?}, relevant {relevant:?}, k {k}: got {got:?}, expected {expected:?}"
            );
        }
    }

    #[test]
    fn auc_matches_hand_computed_values() {
        let scores = [0.9, 0.1, 0.5, 0.5, 0.3, 0.7];
        // Item 0 is excluded. Positives 2 (0.5) and 5 (0.7); negatives 1 (0.1), 3 (0.5), 4 (0.3).
        // Pairs: (2,1) 1, (2,3) tie ½, (2,4) 1, (5,1) 1, (5,3) 1, (5,4) 1 → 5.5 / 6.
        assert!(close(auc(&scores, &[2, 5], &[0]).unwrap(), 5.5 / 6.0));
        // Without the exclusion item 0 (0.9) is a negative above both positives:
        // 5.5 + 0 + 0 over 2·4 pairs.
        assert!(close(auc(&scores, &[2, 5], &[]).unwrap(), 5.5 / 8.0));
        // A relevant but excluded item is not a positive: only item 5 remains, above all four
        // negatives 1, 2, 3, 4 → 1.
        assert_eq!(auc(&scores, &[0, 5], &[0]), Some(1.0));
        // NaN ranks lowest: positive 1 (NaN) vs negatives 0 (−∞, tie ½) and 2 (0, wrong) → ¼.
        assert_eq!(auc(&[f32::NEG_INFINITY, f32::NAN, 0.0], &[1], &[]), Some(0.25));
        // −0 and +0 tie: ½.
        assert_eq!(auc(&[-0.0, 0.0], &[0], &[]), Some(0.5));
        assert_eq!(auc(&scores, &[], &[]), None);
        assert_eq!(auc(&scores, &[0], &[0]), None);
        assert_eq!(auc(&scores, &[1, 2], &[0, 3, 4, 5]), None);
    }

    #[test]
    fn auc_matches_pair_counting_on_random_scores() {
        let mut rng = Rng::new(5);
        for _ in 0..50 {
            let n = 1 + rng.below(60) as usize;
            // Coarse scores, so that ties are common.
            let scores: Vec<f32> = (0..n).map(|_| rng.below(6) as f32).collect();
            let relevant: Vec<u32> = (0..n as u32).filter(|_| rng.below(4) == 0).collect();
            let excluded: Vec<u32> = (0..n as u32).filter(|_| rng.below(5) == 0).collect();
            let candidates: Vec<u32> = (0..n as u32).filter(|i| !excluded.contains(i)).collect();
            let (pos, neg): (Vec<u32>, Vec<u32>) = candidates.iter().partition(|i| relevant.contains(i));
            let mut score = 0.0;
            for &p in &pos {
                for &q in &neg {
                    let (sp, sq) = (scores[p as usize], scores[q as usize]);
                    score += if sp > sq {
                        1.0
                    } else if sp == sq {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
            let expected =
                (!pos.is_empty() && !neg.is_empty()).then(|| score / (pos.len() * neg.len()) as f64);
            let got = auc(&scores, &relevant, &excluded);
            assert_eq!(got.is_some(), expected.is_some());
            if let (Some(g), Some(e)) = (got, expected) {
                assert!(close(g, e), "got {g}, expected {e}");
            }
        }
    }

    #[test]
    fn coverage_counts_distinct_items() {
        // {0, 1, 2} of 8 items = 3/8; the out-of-range 9 is ignored.
        let lists: [&[u32]; 4] = [&[0, 1], &[1, 2], &[], &[9, 0]];
        assert_eq!(catalogue_coverage(lists, 8), 0.375);
        assert_eq!(catalogue_coverage(lists, 0), 0.0);
    }
}
