//! A blend of EASE and implicit ALS: both fit on the same interactions, and an item's score is
//! a weighted sum of the two models' scores, each standardised over the catalogue per user
//! (zero mean, unit variance), so that neither scale dominates.
//!
//! The two models err differently (EASE item-to-item from the whole history, ALS through a
//! low-rank user vector), and the blend ranks better than either: chosen on a validation split
//! carved from the training part of the holdout protocol (README, "Quality of every model").
//! The model is trained, like the others, on whatever matrix the driver builds; the drivers
//! (`cinerec train` / `evaluate`, serving's fold-in) give ratings below the positive threshold
//! the weight [`BlendParams::low_rating_weight`] instead of leaving them out, which is part of
//! why it ranks better: a movie rated low was still watched.

use crate::als::{self, ImplicitAlsModel, ImplicitAlsParams};
use crate::context::FitContext;
use crate::ease::{self, EaseModel, EaseParams};
use crate::error::Result;
use crate::interactions::{Interactions, Row};
use crate::params::{Params, Valid, in_range};
use crate::recommend::{Explanation, Recommender};

/// Blend hyperparameters: the two models' own, the weight of EASE's score, and the interaction
/// value of a low rating.
#[derive(Clone, Debug, PartialEq)]
pub struct BlendParams {
    /// EASE's hyperparameters (default λ 200).
    pub ease: EaseParams,
    /// Implicit ALS's hyperparameters (its defaults).
    pub als: ImplicitAlsParams,
    /// Weight of EASE's standardised score; ALS's is `1 − ease_weight`. Default 0.4.
    pub ease_weight: f32,
    /// The interaction value drivers give a rating below the positive threshold (positives are
    /// 1.0); 0 leaves such ratings out, as the other implicit models do. Default 0.25.
    pub low_rating_weight: f32,
}

impl Default for BlendParams {
    fn default() -> Self {
        Self {
            ease: EaseParams { regularization: 200.0, ..EaseParams::default() },
            als: ImplicitAlsParams::default(),
            ease_weight: 0.4,
            low_rating_weight: 0.25,
        }
    }
}

impl Params for BlendParams {
    fn check(self) -> Result<Valid<Self>> {
        self.ease.clone().check()?;
        self.als.clone().check()?;
        in_range("ease_weight", self.ease_weight as f64, 0.0, 1.0, "a number in [0, 1]")?;
        in_range("low_rating_weight", self.low_rating_weight as f64, 0.0, 1.0, "a number in [0, 1]")?;
        Ok(Valid::new_unchecked(self))
    }
}

impl Valid<BlendParams> {
    /// EASE's params, checked with the whole.
    pub fn checked_ease(&self) -> Valid<EaseParams> {
        Valid::new_unchecked(self.ease.clone())
    }

    /// Implicit ALS's params, checked with the whole.
    pub fn checked_als(&self) -> Valid<ImplicitAlsParams> {
        Valid::new_unchecked(self.als.clone())
    }
}

/// A fitted blend: the two models and the weight.
#[derive(Clone, Debug, PartialEq)]
pub struct BlendModel {
    params: BlendParams,
    ease: EaseModel,
    als: ImplicitAlsModel,
}

impl BlendModel {
    /// Joins two fitted models of the same shape.
    pub fn from_parts(params: &Valid<BlendParams>, ease: EaseModel, als: ImplicitAlsModel) -> Result<Self> {
        for (what, expected, got) in
            [("blend users", als.n_users(), ease.n_users()), ("blend items", als.n_items(), ease.n_items())]
        {
            if expected != got {
                return Err(crate::error::EngineError::Shape { what, expected, got });
            }
        }
        Ok(Self { params: (**params).clone(), ease, als })
    }

    /// The hyperparameters.
    pub fn params(&self) -> &BlendParams {
        &self.params
    }

    /// The EASE part.
    pub fn ease(&self) -> &EaseModel {
        &self.ease
    }

    /// The implicit ALS part.
    pub fn als(&self) -> &ImplicitAlsModel {
        &self.als
    }

    /// `scores = w·z(scores) + (1 − w)·z(als)`, `z` standardising over the catalogue.
    fn mix(&self, scores: &mut [f32], mut als: Vec<f32>) {
        standardise(scores);
        standardise(&mut als);
        let w = self.params.ease_weight;
        scores.iter_mut().zip(&als).for_each(|(s, a)| *s = w * *s + (1.0 - w) * a);
    }
}

/// Shifts and scales `scores` to zero mean and unit variance (a constant row becomes zeros).
fn standardise(scores: &mut [f32]) {
    let n = scores.len().max(1) as f64;
    let mean = scores.iter().map(|&v| v as f64).sum::<f64>() / n;
    let variance = scores.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    let inverse = if variance > 0.0 { 1.0 / variance.sqrt() } else { 0.0 };
    scores.iter_mut().for_each(|v| *v = ((*v as f64 - mean) * inverse) as f32);
}

/// Fits EASE, then implicit ALS, on `data`.
pub fn fit(params: &Valid<BlendParams>, data: &Interactions, ctx: &FitContext<'_>) -> Result<BlendModel> {
    let ease = ease::fit(&params.checked_ease(), data, ctx)?;
    let als = als::fit(&params.checked_als(), data, ctx)?;
    BlendModel::from_parts(params, ease, als)
}

impl Recommender for BlendModel {
    fn kind(&self) -> &'static str {
        "blend"
    }

    fn n_users(&self) -> usize {
        self.als.n_users()
    }

    fn n_items(&self) -> usize {
        self.als.n_items()
    }

    fn score_user(&self, user_idx: u32, history: Row<'_>, scores: &mut [f32]) -> Result<()> {
        let mut als = vec![0f32; scores.len()];
        self.als.score_user(user_idx, history, &mut als)?;
        self.ease.score_user(user_idx, history, scores)?;
        self.mix(scores, als);
        Ok(())
    }

    fn score_history(&self, history: Row<'_>, scores: &mut [f32]) -> Result<()> {
        let mut als = vec![0f32; scores.len()];
        self.als.score_history(history, &mut als)?;
        self.ease.score_history(history, scores)?;
        self.mix(scores, als);
        Ok(())
    }

    /// EASE's item-to-item weights (the blend has no single item space).
    fn item_similarities(&self, item_idx: u32, out: &mut [f32]) -> Result<()> {
        self.ease.item_similarities(item_idx, out)
    }

    /// ALS's user vectors' cosine similarity.
    fn user_similarities(&self, user_idx: u32, out: &mut [f32]) -> Result<()> {
        self.als.user_similarities(user_idx, out)
    }

    /// EASE's explanation: which movies of the history add to the item's score.
    fn explain(&self, user_idx: Option<u32>, history: Row<'_>, item_idx: u32) -> Result<Explanation> {
        self.ease.explain(user_idx, history, item_idx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interactions::{Duplicates, Interaction};

    fn communities() -> Interactions {
        // Two groups of users who like two disjoint sets of items; user 0 misses item 3.
        let mut entries = Vec::new();
        for user in 0..8u32 {
            let items: &[u32] = if user < 4 { &[0, 1, 2, 3] } else { &[4, 5, 6, 7] };
            for &item in items {
                if (user, item) != (0, 3) {
                    entries.push(Interaction { user_idx: user, item_idx: item, value: 1.0, timestamp: 0 });
                }
            }
        }
        Interactions::from_entries(8, 8, &entries, Duplicates::Reject).unwrap()
    }

    fn params(ease_weight: f32) -> Valid<BlendParams> {
        BlendParams {
            ease: EaseParams { regularization: 1.0, ..EaseParams::default() },
            als: ImplicitAlsParams {
                factors: 4,
                iterations: 10,
                regularization: 0.1,
                ..ImplicitAlsParams::default()
            },
            ease_weight,
            ..BlendParams::default()
        }
        .check()
        .unwrap()
    }

    #[test]
    fn scores_are_the_weighted_standardised_scores_of_both_parts() {
        let data = communities();
        let model = fit(&params(0.3), &data, &FitContext::new()).unwrap();
        let history = data.user_items().row(0);
        let (mut e, mut a, mut b) = (vec![0f32; 8], vec![0f32; 8], vec![0f32; 8]);
        model.ease().score_user(0, history, &mut e).unwrap();
        model.als().score_user(0, history, &mut a).unwrap();
        model.score_user(0, history, &mut b).unwrap();
        standardise(&mut e);
        standardise(&mut a);
        for i in 0..8 {
            assert!((b[i] - (0.3 * e[i] + 0.7 * a[i])).abs() < 1e-5, "item {i}");
        }
        let mean = b.iter().sum::<f32>() / 8.0;
        assert!(mean.abs() < 1e-5, "both parts are centred: {mean}");
        // The missing community item outranks every item of the other community, for a known
        // user and folded in.
        let mut folded = vec![0f32; 8];
        model.score_history(history, &mut folded).unwrap();
        for scores in [&b, &folded] {
            assert!((4..8).all(|i| scores[3] > scores[i]), "{scores:?}");
        }
    }

    #[test]
    fn weights_at_the_ends_give_one_part_alone() {
        let data = communities();
        let history = data.user_items().row(1);
        for (w, part) in [(1.0f32, "ease"), (0.0, "als")] {
            let model = fit(&params(w), &data, &FitContext::new()).unwrap();
            let (mut alone, mut blended) = (vec![0f32; 8], vec![0f32; 8]);
            match part {
                "ease" => model.ease().score_user(1, history, &mut alone).unwrap(),
                _ => model.als().score_user(1, history, &mut alone).unwrap(),
            }
            standardise(&mut alone);
            model.score_user(1, history, &mut blended).unwrap();
            assert!(alone.iter().zip(&blended).all(|(a, b)| (a - b).abs() < 1e-6), "{part}");
        }
    }

    #[test]
    fn bad_params_name_the_field() {
        let err = BlendParams { ease_weight: 1.5, ..BlendParams::default() }.check().unwrap_err();
        assert!(err.to_string().contains("ease_weight"), "{err}");
        let err = BlendParams { low_rating_weight: -0.1, ..BlendParams::default() }.check().unwrap_err();
        assert!(err.to_string().contains("low_rating_weight"), "{err}");
    }
}
