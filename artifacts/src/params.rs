//! The hyperparameters of every model kind as they are written in an artifact's JSON header.
//!
//! The engine's params types carry no serde (the engine is a leaf); this module mirrors them
//! field by field. Conversions destructure the engine structs exhaustively, so a field added in
//! the engine fails to compile here until the header learns it.

use engine::als::{Confidence, ImplicitAlsParams, Solver};
use engine::blend::BlendParams;
use engine::ease::EaseParams;
use engine::explicit_als::ExplicitAlsParams;
use engine::knn::{ItemKnnParams, Similarity};
use engine::popularity::{PopularityParams, PopularityWeighting};
use serde::{Deserialize, Serialize};

use crate::model::ModelKind;

/// The hyperparameters of a trained model, one variant per model kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(into = "ParamsRepr", try_from = "ParamsRepr")]
pub enum ModelParams {
    /// Implicit ALS.
    ImplicitAls(ImplicitAlsParams),
    /// Explicit (biased) ALS.
    ExplicitAls(ExplicitAlsParams),
    /// Item-kNN.
    ItemKnn(ItemKnnParams),
    /// EASE.
    Ease(EaseParams),
    /// Popularity.
    Popularity(PopularityParams),
    /// EASE + implicit ALS blend.
    Blend(BlendParams),
}

/// Ratings at or above this are positives (PROTOCOLS: ≥ 4): what the implicit models learn as
/// 1.0.
pub const POSITIVE_THRESHOLD: f32 = 4.0;

impl ModelParams {
    /// The interaction value a rating becomes in what a model of these params learns from and
    /// folds in: the rating itself for explicit ALS; else 1.0 for a positive, and for a lower
    /// rating the blend's `low_rating_weight` when above 0, or nothing (the movie is only seen).
    pub fn interaction_value(&self, rating: f32) -> Option<f32> {
        match self {
            Self::ExplicitAls(_) => Some(rating),
            _ if rating >= POSITIVE_THRESHOLD => Some(1.0),
            Self::Blend(p) if p.low_rating_weight > 0.0 => Some(p.low_rating_weight),
            _ => None,
        }
    }

    /// Whether [`ModelParams::interaction_value`] keeps ratings below the positive threshold.
    pub fn learns_low_ratings(&self) -> bool {
        self.interaction_value(0.0).is_some()
    }

    /// The model kind these params belong to.
    pub fn kind(&self) -> ModelKind {
        match self {
            Self::ImplicitAls(_) => ModelKind::ImplicitAls,
            Self::ExplicitAls(_) => ModelKind::ExplicitAls,
            Self::ItemKnn(_) => ModelKind::ItemKnn,
            Self::Ease(_) => ModelKind::Ease,
            Self::Popularity(_) => ModelKind::Popularity,
            Self::Blend(_) => ModelKind::Blend,
        }
    }
}

/// The default of `thin` in artifacts written before it existed.
fn one() -> usize {
    1
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
enum ParamsRepr {
    ImplicitAls {
        factors: usize,
        iterations: usize,
        regularization: f32,
        alpha: f32,
        confidence: ConfidenceRepr,
        solver: SolverRepr,
        cg_steps: usize,
        unobserved_weight: f32,
        regularization_exponent: f32,
        init_scale: f32,
        seed: u64,
        compute_loss: bool,
    },
    ExplicitAls {
        factors: usize,
        iterations: usize,
        regularization: f32,
        bias_regularization: f32,
        rating_min: Option<f32>,
        rating_max: Option<f32>,
        init_scale: f32,
        seed: u64,
        /// Absent in artifacts written before the Gibbs sampler (they are ALS models).
        #[serde(default)]
        samples: usize,
        /// See `samples`.
        #[serde(default)]
        burn_in: usize,
        /// See `samples` (1 when absent).
        #[serde(default = "one")]
        thin: usize,
    },
    ItemKnn {
        similarity: SimilarityRepr,
        neighbours: usize,
        shrinkage: f32,
    },
    Ease {
        regularization: f32,
        max_memory_bytes: u64,
    },
    Popularity {
        weighting: WeightingRepr,
    },
    Blend {
        ease_weight: f32,
        low_rating_weight: f32,
        ease: Box<ParamsRepr>,
        als: Box<ParamsRepr>,
    },
}

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
enum ConfidenceRepr {
    Linear,
    Log { epsilon: f32 },
}

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum SolverRepr {
    ConjugateGradient,
    Cholesky,
}

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
enum SimilarityRepr {
    Cosine,
    Bm25 { k1: f32, b: f32 },
}

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum WeightingRepr {
    Users,
    SumOfValues,
}

impl From<ModelParams> for ParamsRepr {
    fn from(params: ModelParams) -> Self {
        match params {
            ModelParams::ImplicitAls(p) => {
                let ImplicitAlsParams {
                    factors,
                    iterations,
                    regularization,
                    alpha,
                    confidence,
                    solver,
                    cg_steps,
                    unobserved_weight,
                    regularization_exponent,
                    init_scale,
                    seed,
                    compute_loss,
                } = p;
                Self::ImplicitAls {
                    factors,
                    iterations,
                    regularization,
                    alpha,
                    confidence: match confidence {
                        Confidence::Linear => ConfidenceRepr::Linear,
                        Confidence::Log { epsilon } => ConfidenceRepr::Log { epsilon },
                    },
                    solver: match solver {
                        Solver::ConjugateGradient => SolverRepr::ConjugateGradient,
                        Solver::Cholesky => SolverRepr::Cholesky,
                    },
                    cg_steps,
                    unobserved_weight,
                    regularization_exponent,
                    init_scale,
                    seed,
                    compute_loss,
                }
            }
            ModelParams::ExplicitAls(p) => {
                let ExplicitAlsParams {
                    factors,
                    iterations,
                    regularization,
                    bias_regularization,
                    rating_min,
                    rating_max,
                    init_scale,
                    seed,
                    samples,
                    burn_in,
                    thin,
                } = p;
                Self::ExplicitAls {
                    factors,
                    iterations,
                    regularization,
                    bias_regularization,
                    rating_min,
                    rating_max,
                    init_scale,
                    seed,
                    samples,
                    burn_in,
                    thin,
                }
            }
            ModelParams::ItemKnn(p) => {
                let ItemKnnParams { similarity, neighbours, shrinkage } = p;
                let similarity = match similarity {
                    Similarity::Cosine => SimilarityRepr::Cosine,
                    Similarity::Bm25 { k1, b } => SimilarityRepr::Bm25 { k1, b },
                };
                Self::ItemKnn { similarity, neighbours, shrinkage }
            }
            ModelParams::Ease(p) => {
                let EaseParams { regularization, max_memory_bytes } = p;
                Self::Ease { regularization, max_memory_bytes }
            }
            ModelParams::Popularity(p) => {
                let PopularityParams { weighting } = p;
                let weighting = match weighting {
                    PopularityWeighting::Users => WeightingRepr::Users,
                    PopularityWeighting::SumOfValues => WeightingRepr::SumOfValues,
                };
                Self::Popularity { weighting }
            }
            ModelParams::Blend(p) => {
                let BlendParams { ease, als, ease_weight, low_rating_weight } = p;
                Self::Blend {
                    ease_weight,
                    low_rating_weight,
                    ease: Box::new(ModelParams::Ease(ease).into()),
                    als: Box::new(ModelParams::ImplicitAls(als).into()),
                }
            }
        }
    }
}

impl TryFrom<ParamsRepr> for ModelParams {
    type Error = String;
    fn try_from(repr: ParamsRepr) -> Result<Self, String> {
        Ok(match repr {
            ParamsRepr::ImplicitAls {
                factors,
                iterations,
                regularization,
                alpha,
                confidence,
                solver,
                cg_steps,
                unobserved_weight,
                regularization_exponent,
                init_scale,
                seed,
                compute_loss,
            } => Self::ImplicitAls(ImplicitAlsParams {
                factors,
                iterations,
                regularization,
                alpha,
                confidence: match confidence {
                    ConfidenceRepr::Linear => Confidence::Linear,
                    ConfidenceRepr::Log { epsilon } => Confidence::Log { epsilon },
                },
                solver: match solver {
                    SolverRepr::ConjugateGradient => Solver::ConjugateGradient,
                    SolverRepr::Cholesky => Solver::Cholesky,
                },
                cg_steps,
                unobserved_weight,
                regularization_exponent,
                init_scale,
                seed,
                compute_loss,
            }),
            ParamsRepr::ExplicitAls {
                factors,
                iterations,
                regularization,
                bias_regularization,
                rating_min,
                rating_max,
                init_scale,
                seed,
                samples,
                burn_in,
                thin,
            } => Self::ExplicitAls(ExplicitAlsParams {
                factors,
                iterations,
                regularization,
                bias_regularization,
                rating_min,
                rating_max,
                init_scale,
                seed,
                samples,
                burn_in,
                thin,
            }),
            ParamsRepr::ItemKnn { similarity, neighbours, shrinkage } => Self::ItemKnn(ItemKnnParams {
                similarity: match similarity {
                    SimilarityRepr::Cosine => Similarity::Cosine,
                    SimilarityRepr::Bm25 { k1, b } => Similarity::Bm25 { k1, b },
                },
                neighbours,
                shrinkage,
            }),
            ParamsRepr::Ease { regularization, max_memory_bytes } => {
                Self::Ease(EaseParams { regularization, max_memory_bytes })
            }
            ParamsRepr::Popularity { weighting } => Self::Popularity(PopularityParams {
                weighting: match weighting {
                    WeightingRepr::Users => PopularityWeighting::Users,
                    WeightingRepr::SumOfValues => PopularityWeighting::SumOfValues,
                },
            }),
            ParamsRepr::Blend { ease_weight, low_rating_weight, ease, als } => {
                match (Self::try_from(*ease)?, Self::try_from(*als)?) {
                    (Self::Ease(ease), Self::ImplicitAls(als)) => {
                        Self::Blend(BlendParams { ease, als, ease_weight, low_rating_weight })
                    }
                    (ease, als) => {
                        return Err(format!(
                            "blend params: `ease` must be of kind ease and `als` of kind implicit-als, got {} and {}",
                            ease.kind(),
                            als.kind()
                        ));
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_become_what_each_kind_learns() {
        let blend = ModelParams::Blend(BlendParams::default());
        let implicit = ModelParams::ImplicitAls(ImplicitAlsParams::default());
        let explicit = ModelParams::ExplicitAls(ExplicitAlsParams::default());
        let none = ModelParams::Blend(BlendParams { low_rating_weight: 0.0, ..BlendParams::default() });
        for (params, low, high, learns_low) in [
            (&blend, Some(0.25), Some(1.0), true),
            (&implicit, None, Some(1.0), false),
            (&explicit, Some(2.0), Some(4.5), true),
            (&none, None, Some(1.0), false),
        ] {
            assert_eq!(params.interaction_value(2.0), low, "{:?}", params.kind());
            assert_eq!(params.interaction_value(4.5), high, "{:?}", params.kind());
            assert_eq!(params.learns_low_ratings(), learns_low, "{:?}", params.kind());
        }
    }

    #[test]
    fn blend_params_round_trip_and_parts_of_the_wrong_kind_are_refused() {
        let params = ModelParams::Blend(BlendParams { ease_weight: 0.3, ..BlendParams::default() });
        let json = serde_json::to_string(&params).unwrap();
        assert_eq!(serde_json::from_str::<ModelParams>(&json).unwrap(), params);
        let swapped =
            json.replacen("\"kind\":\"ease\"", "\"kind\":\"popularity\",\"weighting\":\"users\"", 1);
        let swapped = swapped.replacen(",\"regularization\":200.0,\"max_memory_bytes\":8589934592", "", 1);
        let err = serde_json::from_str::<ModelParams>(&swapped).unwrap_err().to_string();
        assert!(err.contains("`ease` must be of kind ease"), "{err}\n{swapped}");
    }
}
