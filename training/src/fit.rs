//! Model hyperparameters resolved from the command line ([`ModelSpec`]) and fitting them into
//! an artifact-ready [`TrainedModel`]; shared by `evaluate`, `train` and `quickstart`.

use artifacts::TrainedModel;
use engine::als::{self, ImplicitAlsParams};
use engine::blend::{self, BlendParams};
use engine::ease::{self, EaseParams};
use engine::explicit_als::{self, ExplicitAlsParams};
use engine::knn::{self, ItemKnnParams};
use engine::popularity::{self, PopularityParams};
use engine::{FitContext, Interactions, Params, Progress, Valid};
use indicatif::ProgressBar;
use rayon::ThreadPool;

use crate::cli::{ModelArgs, ModelKind};
use crate::error::{Error, Result};

/// A model kind with checked hyperparameters: the flags over the model's engine defaults.
#[derive(Clone, Debug)]
pub enum ModelSpec {
    /// Implicit ALS.
    ImplicitAls(Valid<ImplicitAlsParams>),
    /// Explicit biased ALS.
    ExplicitAls(Valid<ExplicitAlsParams>),
    /// Item-kNN.
    ItemKnn(Valid<ItemKnnParams>),
    /// EASE.
    Ease(Valid<EaseParams>),
    /// Popularity.
    Popularity(Valid<PopularityParams>),
    /// EASE + implicit ALS blend.
    Blend(Valid<BlendParams>),
}

impl ModelSpec {
    /// The hyperparameters, as an artifact's header holds them.
    pub fn params(&self) -> artifacts::ModelParams {
        use artifacts::ModelParams;
        match self {
            ModelSpec::ImplicitAls(p) => ModelParams::ImplicitAls((**p).clone()),
            ModelSpec::ExplicitAls(p) => ModelParams::ExplicitAls((**p).clone()),
            ModelSpec::ItemKnn(p) => ModelParams::ItemKnn((**p).clone()),
            ModelSpec::Ease(p) => ModelParams::Ease((**p).clone()),
            ModelSpec::Popularity(p) => ModelParams::Popularity((**p).clone()),
            ModelSpec::Blend(p) => ModelParams::Blend((**p).clone()),
        }
    }

    /// Progress steps of a fit: iterations (EASE reports its four phases, Gram, Cholesky,
    /// inverse, weights; kNN and popularity one step; the blend EASE's, then ALS's).
    pub fn iterations(&self) -> usize {
        match self {
            ModelSpec::ImplicitAls(p) => p.iterations,
            ModelSpec::ExplicitAls(p) => p.iterations,
            ModelSpec::Ease(_) => 4,
            ModelSpec::Blend(p) => p.als.iterations,
            ModelSpec::ItemKnn(_) | ModelSpec::Popularity(_) => 1,
        }
    }

    /// Whether the model learns from the ratings themselves (explicit ALS) rather than from
    /// positives.
    pub fn is_explicit(&self) -> bool {
        matches!(self, ModelSpec::ExplicitAls(_))
    }

    /// The command-line name of the kind.
    pub fn kind(&self) -> ModelKind {
        match self {
            ModelSpec::ImplicitAls(_) => ModelKind::ImplicitAls,
            ModelSpec::ExplicitAls(_) => ModelKind::ExplicitAls,
            ModelSpec::ItemKnn(_) => ModelKind::ItemKnn,
            ModelSpec::Ease(_) => ModelKind::Ease,
            ModelSpec::Popularity(_) => ModelKind::Popularity,
            ModelSpec::Blend(_) => ModelKind::Blend,
        }
    }
}

/// Rejects flags that the chosen model does not take, so nothing is silently ignored.
fn reject_flags(kind: ModelKind, args: &ModelArgs, allowed: &[&str]) -> Result<()> {
    let given = [
        ("--factors", args.factors.is_some()),
        ("--iterations", args.iterations.is_some()),
        ("--regularization", args.regularization.is_some()),
        ("--alpha", args.alpha.is_some()),
        ("--solver", args.solver.is_some()),
        ("--neighbours", args.neighbours.is_some()),
        ("--similarity", args.similarity.is_some()),
        ("--shrinkage", args.shrinkage.is_some()),
        ("--samples", args.samples.is_some()),
        ("--burn-in", args.burn_in.is_some()),
    ];
    match given.iter().find(|(flag, set)| *set && !allowed.contains(flag)) {
        Some((flag, _)) => Err(Error::Usage(format!("{flag} does not apply to --model {}", kind.name()))),
        None => Ok(()),
    }
}

/// The checked hyperparameters of `kind`: each flag given in `args` over the engine's default;
/// `seed` seeds the models that have one. A flag the model does not take is an error.
pub fn model_spec(kind: ModelKind, args: &ModelArgs, seed: u64) -> Result<ModelSpec> {
    match kind {
        ModelKind::ImplicitAls => {
            reject_flags(
                kind,
                args,
                &["--factors", "--iterations", "--regularization", "--alpha", "--solver"],
            )?;
            let d = ImplicitAlsParams::default();
            let params = ImplicitAlsParams {
                factors: args.factors.unwrap_or(d.factors),
                iterations: args.iterations.unwrap_or(d.iterations),
                regularization: args.regularization.unwrap_or(d.regularization),
                alpha: args.alpha.unwrap_or(d.alpha),
                solver: args.solver.map_or(d.solver, |s| s.solver()),
                seed,
                ..d
            };
            Ok(ModelSpec::ImplicitAls(params.check()?))
        }
        ModelKind::ItemKnn => {
            reject_flags(kind, args, &["--neighbours", "--similarity", "--shrinkage"])?;
            let d = ItemKnnParams::default();
            let params = ItemKnnParams {
                neighbours: args.neighbours.unwrap_or(d.neighbours),
                similarity: args.similarity.map_or(d.similarity, |s| s.similarity()),
                shrinkage: args.shrinkage.unwrap_or(d.shrinkage),
            };
            Ok(ModelSpec::ItemKnn(params.check()?))
        }
        ModelKind::Popularity => {
            reject_flags(kind, args, &[])?;
            Ok(ModelSpec::Popularity(PopularityParams::default().check()?))
        }
        ModelKind::Ease => {
            reject_flags(kind, args, &["--regularization"])?;
            let d = EaseParams::default();
            let params = EaseParams { regularization: args.regularization.unwrap_or(d.regularization), ..d };
            Ok(ModelSpec::Ease(params.check()?))
        }
        ModelKind::Blend => {
            // The ALS part's size; EASE's λ, the weight and the low-rating value are the
            // defaults chosen on validation (README, "Quality of every model").
            reject_flags(kind, args, &["--factors", "--iterations", "--solver"])?;
            let d = BlendParams::default();
            let als = ImplicitAlsParams {
                factors: args.factors.unwrap_or(d.als.factors),
                iterations: args.iterations.unwrap_or(d.als.iterations),
                solver: args.solver.map_or(d.als.solver, |s| s.solver()),
                seed,
                ..d.als
            };
            Ok(ModelSpec::Blend(BlendParams { als, ..d }.check()?))
        }
        ModelKind::ExplicitAls => {
            reject_flags(
                kind,
                args,
                &["--factors", "--iterations", "--regularization", "--samples", "--burn-in"],
            )?;
            let d = ExplicitAlsParams::default();
            let params = ExplicitAlsParams {
                factors: args.factors.unwrap_or(d.factors),
                iterations: args.iterations.unwrap_or(d.iterations),
                regularization: args.regularization.unwrap_or(d.regularization),
                samples: args.samples.unwrap_or(d.samples),
                burn_in: args.burn_in.unwrap_or(d.burn_in),
                seed,
                ..d
            };
            Ok(ModelSpec::ExplicitAls(params.check()?))
        }
    }
}

/// Fits `spec` on `train` in `pool`, advancing `bar` once per iteration.
pub fn fit(
    spec: &ModelSpec,
    train: &Interactions,
    pool: &ThreadPool,
    bar: &ProgressBar,
) -> Result<TrainedModel> {
    let callback = |p: &Progress| bar.set_position(p.iteration as u64);
    let ctx = FitContext::new().with_pool(pool).with_progress(&callback);
    Ok(match spec {
        ModelSpec::ImplicitAls(p) => TrainedModel::ImplicitAls(als::fit(p, train, &ctx)?),
        ModelSpec::ExplicitAls(p) => TrainedModel::ExplicitAls(explicit_als::fit(p, train, &ctx)?),
        ModelSpec::ItemKnn(p) => TrainedModel::ItemKnn(knn::fit(p, train, &ctx)?),
        ModelSpec::Ease(p) => TrainedModel::Ease { model: ease::fit(p, train, &ctx)?, params: (**p).clone() },
        ModelSpec::Blend(p) => TrainedModel::Blend(blend::fit(p, train, &ctx)?),
        ModelSpec::Popularity(p) => TrainedModel::Popularity {
            model: pool.install(|| popularity::fit(p, train))?,
            params: (**p).clone(),
        },
    })
}
