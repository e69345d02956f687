//! What the two factor models (implicit ALS in [`crate::als`], explicit ALS in
//! [`crate::explicit_als`]) share: their matrices as the rest of the engine sees them
//! ([`FactorView`]), the row access and cosine similarities over factor rows
//! ([`FactorMatrices`], with the row norms in [`FactorNorms`]).
//!
//! Cosine similarity of rows `a` and `b` is `a·b / (|a|·|b|)`, and 0 when either row is all
//! zeros (e.g. an explicit ALS user without ratings).

use crate::als::ImplicitAlsModel;
use crate::error::{EngineError, Result};
use crate::explicit_als::ExplicitAlsModel;
use crate::interactions::Row;
use crate::recommend::{Recommender, check_item, check_scores_len, check_user};
use crate::simd::matvec_rows;

/// A factor model's matrices, borrowed, and how its scores are formed from them. Returned by
/// [`Recommender::factors`] for implicit and explicit ALS.
#[derive(Clone, Copy, Debug)]
pub struct FactorView<'a> {
    source: Source<'a>,
}

#[derive(Clone, Copy, Debug)]
enum Source<'a> {
    Implicit(&'a ImplicitAlsModel),
    Explicit(&'a ExplicitAlsModel),
}

/// The biases of an explicit model: `score = u·v + ((global_mean + user[u]) + item[i])`.
#[derive(Clone, Copy, Debug)]
pub struct FactorBiases<'a> {
    /// μ, the mean training rating.
    pub global_mean: f32,
    /// One bias per user.
    pub user: &'a [f32],
    /// One bias per item.
    pub item: &'a [f32],
}

impl<'a> FactorView<'a> {
    pub(crate) fn implicit(model: &'a ImplicitAlsModel) -> Self {
        Self { source: Source::Implicit(model) }
    }

    pub(crate) fn explicit(model: &'a ExplicitAlsModel) -> Self {
        Self { source: Source::Explicit(model) }
    }

    /// Latent dimension k.
    pub fn n_factors(&self) -> usize {
        match self.source {
            Source::Implicit(m) => m.n_factors(),
            Source::Explicit(m) => m.n_factors(),
        }
    }

    /// User factors, row-major `n_users × k`.
    pub fn user_factors(&self) -> &'a [f32] {
        match self.source {
            Source::Implicit(m) => m.user_factors(),
            Source::Explicit(m) => &m.parts().user_factors,
        }
    }

    /// Item factors, row-major `n_items × k`.
    pub fn item_factors(&self) -> &'a [f32] {
        match self.source {
            Source::Implicit(m) => m.item_factors(),
            Source::Explicit(m) => &m.parts().item_factors,
        }
    }

    /// The biases added to `u·v`, for explicit (biased) models; `None` when a score is `u·v`.
    pub fn biases(&self) -> Option<FactorBiases<'a>> {
        match self.source {
            Source::Implicit(_) => None,
            Source::Explicit(m) => Some(FactorBiases {
                global_mean: m.global_mean(),
                user: &m.parts().user_biases,
                item: &m.parts().item_biases,
            }),
        }
    }

    /// The user vector and user bias (0 without biases) of someone known by `history`, from
    /// the model's own fold-in (the one `score_history` uses).
    pub fn fold_in(&self, history: Row<'_>) -> Result<(Vec<f32>, f32)> {
        match self.source {
            Source::Implicit(m) => Ok((m.fold_in(history)?, 0.0)),
            Source::Explicit(m) => m.fold_in(history),
        }
    }

    /// Items of the model.
    pub(crate) fn n_items(&self) -> usize {
        self.item_factors().len() / self.n_factors().max(1)
    }

    /// The model's kind name, for errors.
    pub(crate) fn kind(&self) -> &'static str {
        match self.source {
            Source::Implicit(m) => m.kind(),
            Source::Explicit(m) => m.kind(),
        }
    }
}

/// The Euclidean norm of every row of a row-major matrix with `k` columns.
fn row_norms(rows: &[f32], k: usize) -> Vec<f32> {
    rows.chunks_exact(k).map(|r| r.iter().map(|v| v * v).sum::<f32>().sqrt()).collect()
}

/// Turns dot products with one row (norm `own_norm`) into cosine similarities; 0 where either
/// norm is 0.
fn cosine_normalise(dots: &mut [f32], norms: &[f32], own_norm: f32) {
    for (d, n) in dots.iter_mut().zip(norms) {
        let denom = n * own_norm;
        *d = if denom > 0.0 { *d / denom } else { 0.0 };
    }
}

/// The row norms of a factor model's user and item matrices, computed once when the model is
/// built (for cosine similarities).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FactorNorms {
    user: Vec<f32>,
    item: Vec<f32>,
}

impl FactorNorms {
    /// The norms of `user_factors` and `item_factors` (row-major, `k ≥ 1` columns).
    pub(crate) fn new(user_factors: &[f32], item_factors: &[f32], k: usize) -> Self {
        Self { user: row_norms(user_factors, k), item: row_norms(item_factors, k) }
    }
}

/// A factor model's user and item matrices (row-major, `k` columns, shapes already checked)
/// and their norms, borrowed: the row access and similarity queries both ALS models answer
/// the same way.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FactorMatrices<'a> {
    /// Latent dimension k (≥ 1).
    pub(crate) k: usize,
    /// User factors, `n_users × k`.
    pub(crate) user: &'a [f32],
    /// Item factors, `n_items × k`.
    pub(crate) item: &'a [f32],
    /// The norms of both matrices' rows.
    pub(crate) norms: &'a FactorNorms,
}

impl<'a> FactorMatrices<'a> {
    fn n_users(&self) -> usize {
        self.user.len() / self.k
    }

    fn n_items(&self) -> usize {
        self.item.len() / self.k
    }

    /// The factor row of one user.
    pub(crate) fn user_vector(&self, user_idx: u32) -> Result<&'a [f32]> {
        check_user(user_idx, self.n_users())?;
        Ok(&self.user[user_idx as usize * self.k..][..self.k])
    }

    /// The factor row of one item.
    pub(crate) fn item_vector(&self, item_idx: u32) -> Result<&'a [f32]> {
        check_item(item_idx, self.n_items())?;
        Ok(&self.item[item_idx as usize * self.k..][..self.k])
    }

    /// Cosine similarity of `item_idx`'s factors to every item's ([`Recommender::item_similarities`]).
    pub(crate) fn item_similarities(&self, item_idx: u32, out: &mut [f32]) -> Result<()> {
        check_scores_len(out, self.n_items())?;
        let y = self.item_vector(item_idx)?;
        matvec_rows(self.item, y, out);
        cosine_normalise(out, &self.norms.item, self.norms.item[item_idx as usize]);
        Ok(())
    }

    /// Cosine similarity of `user_idx`'s factors to every user's ([`Recommender::user_similarities`]).
    pub(crate) fn user_similarities(&self, user_idx: u32, out: &mut [f32]) -> Result<()> {
        let n_users = self.n_users();
        if out.len() != n_users {
            return Err(EngineError::Shape {
                what: "user similarity buffer",
                expected: n_users,
                got: out.len(),
            });
        }
        let x = self.user_vector(user_idx)?;
        matvec_rows(self.user, x, out);
        cosine_normalise(out, &self.norms.user, self.norms.user[user_idx as usize]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarities_are_cosines_and_zero_rows_are_similar_to_nothing() {
        // Users: (3, 4), (0, 0), (6, 8); items: (1, 0), (0, 2), (1, 1).
        let user = [3.0, 4.0, 0.0, 0.0, 6.0, 8.0];
        let item = [1.0, 0.0, 0.0, 2.0, 1.0, 1.0];
        let norms = FactorNorms::new(&user, &item, 2);
        let m = FactorMatrices { k: 2, user: &user, item: &item, norms: &norms };
        let mut out = [0f32; 3];
        m.user_similarities(0, &mut out).unwrap();
        assert_eq!(out, [1.0, 0.0, 1.0]);
        m.user_similarities(1, &mut out).unwrap();
        assert_eq!(out, [0.0, 0.0, 0.0]);
        m.item_similarities(0, &mut out).unwrap();
        assert_eq!(out[..2], [1.0, 0.0]);
        assert!((out[2] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6, "{out:?}");
        assert_eq!(m.item_vector(2).unwrap(), &[1.0, 1.0]);
        assert_eq!(m.user_vector(3).unwrap_err(), EngineError::UnknownUser { user_idx: 3, n_users: 3 });
        assert_eq!(
            m.user_similarities(0, &mut [0f32; 2]).unwrap_err(),
            EngineError::Shape { what: "user similarity buffer", expected: 3, got: 2 }
        );
        assert_eq!(
            m.item_similarities(3, &mut out).unwrap_err(),
            EngineError::UnknownItem { item_idx: 3, n_items: 3 }
        );
    }
}
