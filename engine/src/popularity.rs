//! Popularity: items ranked by how many users interacted with them. The cold-start fallback.

use crate::error::{EngineError, Result};
use crate::interactions::{Interactions, Row};
use crate::params::{Params, Valid};
use crate::recommend::{Explanation, Recommender, check_history, check_item, check_scores_len, check_user};

/// How an item's popularity is counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PopularityWeighting {
    /// Number of users with any interaction.
    #[default]
    Users,
    /// Sum of interaction values (ratings, play counts).
    SumOfValues,
}

/// Popularity hyperparameters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PopularityParams {
    /// What is counted.
    pub weighting: PopularityWeighting,
}

impl Params for PopularityParams {
    fn check(self) -> Result<Valid<Self>> {
        Ok(Valid::new_unchecked(self))
    }
}

/// A fitted popularity model: one score per item.
#[derive(Clone, Debug, PartialEq)]
pub struct PopularityModel {
    n_users: usize,
    scores: Vec<f32>,
}

impl PopularityModel {
    /// Rebuilds a model from stored parts.
    pub fn from_parts(n_users: usize, scores: Vec<f32>) -> Self {
        Self { n_users, scores }
    }

    /// Each item's popularity.
    pub fn scores(&self) -> &[f32] {
        &self.scores
    }
}

/// Counts item popularity over the training matrix.
pub fn fit(params: &Valid<PopularityParams>, data: &Interactions) -> Result<PopularityModel> {
    if data.nnz() == 0 {
        return Err(EngineError::Empty("training interactions"));
    }
    let item_users = data.item_users();
    let scores = (0..data.n_items())
        .map(|item| match params.weighting {
            PopularityWeighting::Users => item_users.row_len(item) as f32,
            PopularityWeighting::SumOfValues => item_users.row(item).values.iter().sum(),
        })
        .collect();
    Ok(PopularityModel { n_users: data.n_users(), scores })
}

impl Recommender for PopularityModel {
    fn kind(&self) -> &'static str {
        "popularity"
    }

    fn n_users(&self) -> usize {
        self.n_users
    }

    fn n_items(&self) -> usize {
        self.scores.len()
    }

    fn score_user(&self, user_idx: u32, _history: Row<'_>, scores: &mut [f32]) -> Result<()> {
        check_user(user_idx, self.n_users)?;
        check_scores_len(scores, self.n_items())?;
        scores.copy_from_slice(&self.scores);
        Ok(())
    }

    fn score_history(&self, history: Row<'_>, scores: &mut [f32]) -> Result<()> {
        check_history(history, self.n_items())?;
        check_scores_len(scores, self.n_items())?;
        scores.copy_from_slice(&self.scores);
        Ok(())
    }

    fn item_similarities(&self, _item_idx: u32, _out: &mut [f32]) -> Result<()> {
        Err(EngineError::Unsupported { model: self.kind(), operation: "similar items" })
    }

    fn explain(&self, _user_idx: Option<u32>, _history: Row<'_>, item_idx: u32) -> Result<Explanation> {
        check_item(item_idx, self.n_items())?;
        Ok(Explanation { score: self.scores[item_idx as usize], contributions: Vec::new() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interactions::{Duplicates, Interaction};
    use crate::recommend::{
        RecommendOptions, TrainingUsers, recommend, recommend_for_history, similar_items,
    };

    fn data() -> Interactions {
        let e = |u, i, v| Interaction { user_idx: u, item_idx: i, value: v, timestamp: 0 };
        Interactions::from_entries(
            3,
            4,
            &[e(0, 1, 1.0), e(1, 1, 1.0), e(2, 1, 1.0), e(0, 2, 5.0), e(1, 3, 1.0)],
            Duplicates::Sum,
        )
        .unwrap()
    }

    #[test]
    fn ranks_by_user_count_and_filters_seen() {
        let data = data();
        let model = fit(&PopularityParams::default().check().unwrap(), &data).unwrap();
        assert_eq!(model.scores(), &[0.0, 3.0, 1.0, 1.0]);
        let top = recommend(
            &model,
            TrainingUsers::learned_only(data.user_items()),
            1,
            &RecommendOptions { n: 2, ..Default::default() },
        )
        .unwrap();
        assert_eq!(top.iter().map(|s| s.item_idx).collect::<Vec<_>>(), vec![2, 0]);
        let all =
            recommend_for_history(&model, Row::new(&[], &[]), &[], &RecommendOptions::default()).unwrap();
        assert_eq!(all[0].item_idx, 1);
        let sum =
            fit(&PopularityParams { weighting: PopularityWeighting::SumOfValues }.check().unwrap(), &data)
                .unwrap();
        assert_eq!(sum.scores()[2], 5.0);
    }

    #[test]
    fn bad_queries_are_errors() {
        let data = data();
        let model = fit(&PopularityParams::default().check().unwrap(), &data).unwrap();
        let err = recommend(
            &model,
            TrainingUsers::learned_only(data.user_items()),
            3,
            &RecommendOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err, EngineError::UnknownUser { user_idx: 3, n_users: 3 });
        let opts = RecommendOptions { deny: &[9], ..Default::default() };
        assert_eq!(
            recommend(&model, TrainingUsers::learned_only(data.user_items()), 0, &opts).unwrap_err(),
            EngineError::UnknownItem { item_idx: 9, n_items: 4 }
        );
        assert!(matches!(similar_items(&model, 1, 2), Err(EngineError::Unsupported { .. })));
    }
}
