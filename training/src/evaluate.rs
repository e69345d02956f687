//! `cinerec evaluate`: trains a model under one of the protocols of docs/PROTOCOLS.md and
//! reports its quality with the engine's evaluation drivers.
//!
//! - `folds`: ml-100k's official `u1..u5.base/.test`; any other data a seeded 5-fold split in
//!   which every user keeps a training rating. `explicit-als` reports RMSE/MAE on the test
//!   ratings; the implicit models train on the fold's positives (ratings ≥ 4, as 1.0) and are
//!   ranked against the test fold's positives.
//! - `holdout`: positives, users with ≥ 5 of them hold out 20 % (seeded); ranking metrics.
//! - `temporal`: as `holdout`, but the held-out positives are each user's latest 20 %.
//! - `strong`: held-out users are removed from training, folded in from 80 % of their positives
//!   and ranked against the other 20 %.
//!
//! Every protocol measures what users get: every rating that is not held out stays in the
//! training data (implicit models learn from its positives), and every movie a user rated there,
//! whatever the value, is left out of their ranking and never counted as a hit.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use artifacts::{ModelParams, TrainedModel};
use engine::eval::{self, RankingReport, RatingReport};
use engine::{Csr, Duplicates, Interaction, Interactions, TrainingUsers};
use serde::Serialize;

use datasets::DatasetName;

use crate::bench::thread_pool;
use crate::cli::{EvaluateArgs, Format, Protocol};
use crate::data::{self, Source};
use crate::error::{Error, Result};
use crate::fit::{self, model_spec};
use crate::output::{self, Table, num};

/// Folds of the `folds` protocol.
pub const N_FOLDS: usize = 5;
/// Share of each eligible user's positives held out by `holdout` and `temporal`.
pub const TEST_FRACTION: f64 = 0.2;
/// Users need this many positives to be evaluated by `holdout` and `temporal`.
pub const MIN_POSITIVES: usize = 5;

/// Quality figures of one train/test part (or their mean).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Root mean squared error (rating models).
    pub rmse: Option<f64>,
    /// Mean absolute error (rating models).
    pub mae: Option<f64>,
    /// Users evaluated (ranking).
    pub users: Option<usize>,
    /// Precision@K.
    pub precision: Option<f64>,
    /// Recall@K.
    pub recall: Option<f64>,
    /// nDCG@K.
    pub ndcg: Option<f64>,
    /// MAP@K.
    pub map: Option<f64>,
    /// AUC.
    pub auc: Option<f64>,
    /// Catalogue coverage@K.
    pub coverage: Option<f64>,
}

impl From<&RankingReport> for Metrics {
    fn from(r: &RankingReport) -> Self {
        Self {
            users: Some(r.n_users),
            precision: Some(r.precision),
            recall: Some(r.recall),
            ndcg: Some(r.ndcg),
            map: Some(r.map),
            auc: Some(r.auc),
            coverage: Some(r.coverage),
            ..Self::default()
        }
    }
}

impl From<&RatingReport> for Metrics {
    fn from(r: &RatingReport) -> Self {
        Self { rmse: Some(r.rmse), mae: Some(r.mae), ..Self::default() }
    }
}

impl Metrics {
    /// The field-wise mean of `parts` (a field is set when every part has it; `users` is not).
    pub fn mean(parts: &[Metrics]) -> Metrics {
        let n = parts.len() as f64;
        let avg = |f: fn(&Metrics) -> Option<f64>| -> Option<f64> {
            parts
                .iter()
                .map(f)
                .collect::<Option<Vec<f64>>>()
                .filter(|v| !v.is_empty())
                .map(|v| v.iter().sum::<f64>() / n)
        };
        Metrics {
            rmse: avg(|m| m.rmse),
            mae: avg(|m| m.mae),
            users: None,
            precision: avg(|m| m.precision),
            recall: avg(|m| m.recall),
            ndcg: avg(|m| m.ndcg),
            map: avg(|m| m.map),
            auc: avg(|m| m.auc),
            coverage: avg(|m| m.coverage),
        }
    }
}

/// One fold (or the single holdout part).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PartReport {
    /// `u1` .. `u5`, `fold 1` .., `holdout` or `strong`.
    pub name: String,
    /// Training entries.
    pub n_train: usize,
    /// Test entries.
    pub n_test: usize,
    /// Seconds spent fitting.
    pub fit_seconds: f64,
    /// The figures.
    pub metrics: Metrics,
}

/// The result of `cinerec evaluate`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvaluationReport {
    /// Dataset name.
    pub dataset: String,
    /// Model kind.
    pub model: &'static str,
    /// Protocol name.
    pub protocol: &'static str,
    /// The model's hyperparameters, as an artifact's header writes them (a JSON object with
    /// `kind` and every field).
    pub params: serde_json::Value,
    /// Cut-off K of the ranking metrics.
    pub k: usize,
    /// Training threads.
    pub threads: usize,
    /// Split and model seed.
    pub seed: u64,
    /// Per part.
    pub parts: Vec<PartReport>,
    /// Mean over the parts.
    pub mean: Metrics,
}

/// Train and test entries of one part.
struct Part {
    name: String,
    train: Vec<Interaction>,
    test: Vec<Interaction>,
}

/// The `folds` parts: ml-100k's official files, else a seeded k-fold split.
fn fold_parts(
    source: &Source,
    data_dir: &Path,
    log: &engine::InteractionLog,
    seed: u64,
) -> Result<Vec<Part>> {
    if *source == Source::Dataset(DatasetName::Ml100k) {
        return (1..=N_FOLDS as u8)
            .map(|i| {
                let (train, test) = datasets::load_ml100k_fold(data_dir, i)?;
                Ok(Part {
                    name: format!("u{i}"),
                    train: data::entries_in(log, &train, &format!("u{i}.base"))?,
                    test: data::entries_in(log, &test, &format!("u{i}.test"))?,
                })
            })
            .collect();
    }
    Ok(eval::k_fold(&log.entries, N_FOLDS, seed)?
        .into_iter()
        .enumerate()
        .map(|(i, s)| Part { name: format!("fold {}", i + 1), train: s.train, test: s.test })
        .collect())
}

/// The entries of `all` whose (user, item) pair is not in `test` and whose user `keep`s.
pub(crate) fn ratings_without(
    all: &[Interaction],
    test: &[Interaction],
    keep: impl Fn(u32) -> bool,
) -> Vec<Interaction> {
    let mut res = eval::without(all, &[test]);
    res.retain(|e| keep(e.user_idx));
    res
}

/// The matrices of one ranking protocol (`holdout`, `temporal`, `strong`), by the rules of
/// PROTOCOLS: every rating that is not held out stays in training, and every movie a ranked
/// user rated there is seen.
#[derive(Clone, Debug)]
pub struct RankingSplit {
    /// What the model trains on (`n_users × n_items`), by `ModelParams::interaction_value`: the
    /// positives as 1.0 (the blend: lower ratings as its low-rating value), or every rating for
    /// explicit ALS.
    pub train: Interactions,
    /// `strong` only: the held-out users' histories to fold in (row `r` is held-out user `r`).
    pub fold_in: Option<Csr>,
    /// The other rated movies of the ranked rows (training users, or the held-out users).
    pub also_seen: Csr,
    /// The held-out positives of the ranked rows.
    pub test: Csr,
    /// The part's name in reports (`holdout`, `temporal`, `strong (N users)`).
    pub label: String,
}

impl RankingSplit {
    /// The ranked rows: what is scored and what is seen.
    pub fn ranked(&self) -> Result<TrainingUsers<'_>> {
        Ok(TrainingUsers::new(self.fold_in.as_ref().unwrap_or(self.train.user_items()), &self.also_seen)?)
    }

    /// Ranks `model` (trained on `train`) on the test rows, on the current rayon pool.
    pub fn evaluate(&self, model: &dyn engine::Recommender, k: usize) -> Result<RankingReport> {
        let ranked = self.ranked()?;
        Ok(match self.fold_in {
            Some(_) => eval::evaluate_ranking_fold_in(model, ranked, &self.test, k)?,
            None => eval::evaluate_ranking(model, ranked, &self.test, k)?,
        })
    }
}

/// Splits `log` by a ranking protocol: `holdout` (20 % of the positives of users with ≥ 5,
/// seeded), `temporal` (their latest 20 %), or `strong` (`heldout_users` users, default 20 % of
/// those with positives, never trained on, folded in from 80 % of their positives, or every
/// non-test rating for explicit ALS).
pub fn ranking_split(
    protocol: Protocol,
    log: &engine::InteractionLog,
    model: &ModelParams,
    seed: u64,
    heldout_users: Option<usize>,
) -> Result<RankingSplit> {
    let (n_users, n_items) = (log.n_users(), log.n_items());
    let positives = data::binary_positives(&log.entries);
    let split = match protocol {
        Protocol::Holdout => eval::per_user_holdout(&positives, TEST_FRACTION, MIN_POSITIVES, seed)?,
        Protocol::Temporal => eval::temporal_per_user(&positives, TEST_FRACTION, MIN_POSITIVES)?,
        Protocol::Strong => {
            let mut with_positives = vec![false; n_users];
            positives.iter().for_each(|e| with_positives[e.user_idx as usize] = true);
            let n_with = with_positives.iter().filter(|s| **s).count();
            let heldout = heldout_users.unwrap_or(((n_with as f64) * 0.2).round() as usize).max(1);
            let mut split = eval::strong_generalization(&positives, n_users, heldout, 0.8, seed)?;
            let is_heldout = |u: u32| split.heldout_users.binary_search(&u).is_ok();
            // The held-out users' ratings but the test positives: what the model learns from
            // is folded in (every rating for explicit ALS and the blend; the 80 % of positives
            // for the others), the rest is seen.
            let heldout_rated = ratings_without(&log.entries, &split.test, is_heldout);
            let also_seen = split.heldout_rows(&data::not_learned(&heldout_rated, model), n_items)?;
            let train_rated = ratings_without(&log.entries, &[], |u| !is_heldout(u));
            if model.learns_low_ratings() {
                split.fold_in = data::learned_entries(&heldout_rated, model);
            }
            let (fold_in, test) = split.heldout_matrices(n_items)?;
            return Ok(RankingSplit {
                train: data::learned(n_users, n_items, &train_rated, model)?,
                fold_in: Some(fold_in),
                also_seen,
                test,
                label: format!("strong ({heldout} users)"),
            });
        }
        Protocol::Folds => return Err(Error::Usage("folds is not a ranking split".into())),
    };
    // Every rating but the held-out positives stays in training.
    let rated = ratings_without(&log.entries, &split.test, |_| true);
    Ok(RankingSplit {
        train: data::learned(n_users, n_items, &rated, model)?,
        fold_in: None,
        also_seen: data::also_seen(n_users, n_items, &rated, model)?,
        test: Csr::from_entries(n_users, n_items, &split.test, Duplicates::KeepLatest)?,
        label: protocol.name().into(),
    })
}

/// Runs `cinerec evaluate`.
///
/// Implicit models train on positives (value 1.0; the blend also on lower ratings, as its
/// low-rating value). `explicit-als` trains on the ratings
/// themselves: in `folds` on every rating of the base fold (RMSE/MAE on the test fold, plus
/// ranking against the test fold's positives); in `holdout` and `strong` on every rating except
/// the held-out positives (and, in `strong`, except the held-out users, whose other ratings are
/// folded in), ranked against the same held-out positives as the implicit models.
pub fn evaluate(args: &EvaluateArgs, data_dir: &Path, progress: bool) -> Result<EvaluationReport> {
    let spec = model_spec(args.model, &args.params, args.seed)?;
    if args.k == 0 {
        return Err(Error::Usage("--k must be at least 1".into()));
    }
    let source = data::source(&args.data, args.seed)?;
    let loaded = data::load(&source, data_dir)?;
    let log = &loaded.log;
    let (n_users, n_items) = (log.n_users(), log.n_items());
    let explicit = spec.is_explicit();
    let params = spec.params();
    let pool = thread_pool(args.threads)?;
    let mut parts = Vec::new();
    let fit = |name: &str, train: &Interactions| -> Result<(TrainedModel, f64)> {
        let bar = output::bar(progress, spec.iterations() as u64, format!("{} {name}", args.model.name()));
        let start = Instant::now();
        let model = fit::fit(&spec, train, &pool, &bar)?;
        bar.finish_and_clear();
        Ok((model, start.elapsed().as_secs_f64()))
    };
    let rank = |model: &TrainedModel, learned: &Csr, also_seen: &Csr, test: &Csr| {
        let training = TrainingUsers::new(learned, also_seen)?;
        pool.install(|| eval::evaluate_ranking(model.as_recommender(), training, test, args.k))
    };
    match args.protocol {
        Protocol::Folds => {
            for part in fold_parts(&source, data_dir, log, args.seed)? {
                let train = data::learned(n_users, n_items, &part.train, &params)?;
                let also_seen = data::also_seen(n_users, n_items, &part.train, &params)?;
                let test = data::matrix(n_users, n_items, &data::binary_positives(&part.test))?;
                let (model, fit_seconds) = fit(&part.name, &train)?;
                let report = rank(&model, train.user_items(), &also_seen, test.user_items())?;
                let mut metrics = Metrics::from(&report);
                if let TrainedModel::ExplicitAls(m) = &model {
                    let predict = |u: u32, i: u32| m.predict(u, i).unwrap_or(f32::NAN);
                    let ratings = pool.install(|| eval::evaluate_ratings(predict, &part.test))?;
                    (metrics.rmse, metrics.mae) = (Some(ratings.rmse), Some(ratings.mae));
                }
                let n_test = if explicit { part.test.len() } else { test.nnz() };
                parts.push(PartReport {
                    name: part.name,
                    n_train: train.nnz(),
                    n_test,
                    fit_seconds,
                    metrics,
                });
            }
        }
        Protocol::Holdout | Protocol::Temporal | Protocol::Strong => {
            let split = ranking_split(args.protocol, log, &params, args.seed, args.heldout_users)?;
            let (model, fit_seconds) = fit(args.protocol.name(), &split.train)?;
            let report = pool.install(|| split.evaluate(model.as_recommender(), args.k))?;
            parts.push(PartReport {
                name: split.label,
                n_train: split.train.nnz(),
                n_test: split.test.nnz(),
                fit_seconds,
                metrics: Metrics::from(&report),
            });
        }
    }
    let mean = Metrics::mean(&parts.iter().map(|p| p.metrics.clone()).collect::<Vec<_>>());
    Ok(EvaluationReport {
        dataset: loaded.name,
        model: args.model.name(),
        protocol: args.protocol.name(),
        params: output::params_json(&spec.params()),
        k: args.k,
        threads: pool.current_num_threads(),
        seed: args.seed,
        parts,
        mean,
    })
}

/// Prints an [`EvaluationReport`]: one row per part plus the mean; RMSE/MAE columns when the
/// model predicts ratings, ranking columns when it was ranked.
pub fn print_evaluation(out: &mut dyn Write, format: Format, report: &EvaluationReport) -> Result<()> {
    output::emit(out, format, report, || {
        let rating = report.mean.rmse.is_some();
        let ranking = report.mean.ndcg.is_some();
        let k = report.k;
        let mut header: Vec<String> = ["part", "train", "test", "fit s"].map(String::from).to_vec();
        if rating {
            header.extend(["RMSE", "MAE"].map(String::from));
        }
        if ranking {
            header.push("users".into());
            header.extend(["P", "R", "nDCG", "MAP"].map(|m| format!("{m}@{k}")));
            header.extend(["AUC".into(), format!("cov@{k}")]);
        }
        let mut t = Table::new(&header.iter().map(String::as_str).collect::<Vec<_>>());
        let row = |name: &str, train: String, test: String, fit: String, m: &Metrics| -> Vec<String> {
            let mut r = vec![name.to_owned(), train, test, fit];
            if rating {
                r.extend([num(m.rmse, 4), num(m.mae, 4)]);
            }
            if ranking {
                r.push(m.users.map_or("-".into(), |u| u.to_string()));
                r.extend([m.precision, m.recall, m.ndcg, m.map, m.auc, m.coverage].map(|v| num(v, 4)));
            }
            r
        };
        for p in &report.parts {
            t.push(row(
                &p.name,
                p.n_train.to_string(),
                p.n_test.to_string(),
                num(Some(p.fit_seconds), 2),
                &p.metrics,
            ));
        }
        if report.parts.len() > 1 {
            t.push(row("mean", "-".into(), "-".into(), "-".into(), &report.mean));
        }
        t
    })
}
