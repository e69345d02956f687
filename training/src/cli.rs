//! The `cinerec` command line (clap derive): every flag with its default, parsed once into these
//! types and handed to the command functions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use engine::als::{ImplicitAlsParams, Solver};
use engine::ease::EaseParams;
use engine::explicit_als::ExplicitAlsParams;
use engine::knn::{ItemKnnParams, Similarity};

/// cinerec: train, evaluate and benchmark movie recommenders.
#[derive(Debug, Parser)]
#[command(name = "cinerec", version, max_term_width = 110)]
pub struct Cli {
    /// Folder holding the MovieLens datasets, one sub-folder per dataset (`ml-100k/u.data`,
    /// `ml-latest-small/ratings.csv`, ...).
    #[arg(long, global = true, env = "CINEREC_DATA_DIR", default_value = "../shared/datasets")]
    pub data_dir: PathBuf,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List, verify and download MovieLens datasets; write the synthetic ML-20M-shaped set.
    #[command(subcommand)]
    Datasets(DatasetsCommand),
    /// Train a model under an evaluation protocol and report its quality.
    Evaluate(EvaluateArgs),
    /// Measure training speed.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Compare cinerec with the `implicit` library on identical data (see scripts/compare-implicit).
    #[command(subcommand)]
    Peer(PeerCommand),
}

/// `cinerec datasets ...`.
#[derive(Debug, Subcommand)]
pub enum DatasetsCommand {
    /// List the known datasets and how each is present in the data directory.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Check a dataset's files against the known (or recorded) sha256 checksums.
    Verify {
        /// Dataset name (`cinerec datasets list` shows them).
        name: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Download a dataset into the data directory and verify it.
    Download {
        /// Dataset name (`cinerec datasets list` shows them).
        name: String,
    },
    /// Write the seeded synthetic ratings (ML-20M shape at scale 1.0) as a ratings CSV.
    Synth {
        /// Fraction of ML-20M's users and items (1.0 = 138,493 users, 26,744 items, ~20M ratings).
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Generator seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Output file (`userId,movieId,rating,timestamp` CSV).
        #[arg(long)]
        out: PathBuf,
    },
}

/// Where ratings come from: exactly one of the three.
#[derive(Clone, Debug, Args)]
#[group(required = true, multiple = false)]
pub struct DataArgs {
    /// A dataset in the data directory (ml-100k, ml-1m, ml-10m, ml-20m, ml-25m, ml-latest,
    /// ml-latest-small).
    #[arg(long)]
    pub dataset: Option<String>,
    /// A MovieLens ratings file; its name tells the format (`u.data`, `*.base`, `*.test`: tabs;
    /// `*.dat`: `::`; `*.csv`: CSV with a header).
    #[arg(long)]
    pub ratings: Option<PathBuf>,
    /// The seeded synthetic ML-20M-shaped ratings at this scale (1.0 = full size).
    #[arg(long)]
    pub synth_scale: Option<f64>,
}

/// Output format of a command's result (progress goes to stderr and only to a terminal).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// An aligned text table.
    #[default]
    Table,
    /// One JSON document on stdout (no progress bar).
    Json,
}

/// The model to train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelKind {
    /// Implicit-feedback ALS (Hu, Koren & Volinsky 2008) on positives, for top-N.
    ImplicitAls,
    /// Explicit-rating ALS (biased matrix factorisation), for rating prediction.
    ExplicitAls,
    /// Item-based k-nearest neighbours.
    ItemKnn,
    /// EASE (Steck 2019), a closed-form item-item model.
    Ease,
    /// Most popular items: the baseline.
    Popularity,
}

impl ModelKind {
    /// The name as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::ImplicitAls => "implicit-als",
            ModelKind::ExplicitAls => "explicit-als",
            ModelKind::ItemKnn => "item-knn",
            ModelKind::Ease => "ease",
            ModelKind::Popularity => "popularity",
        }
    }
}

/// Evaluation protocol (see docs/PROTOCOLS.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// 5 folds: ml-100k's official u1..u5 base/test files; elsewhere a seeded 5-fold split
    /// where every user keeps a training rating.
    Folds,
    /// Per-user holdout: ratings ≥ 4 are positives; users with ≥ 5 positives lose 20 % of
    /// them (seeded) to the test set.
    Holdout,
    /// Strong generalization: held-out users never trained on, folded in from 80 % of their
    /// positives and tested on the rest.
    Strong,
}

impl Protocol {
    /// The name as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Folds => "folds",
            Protocol::Holdout => "holdout",
            Protocol::Strong => "strong",
        }
    }
}

/// Row solver of implicit ALS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SolverArg {
    /// Conjugate gradient (3 steps per row by default; `implicit`'s default).
    Cg,
    /// Exact Cholesky solve.
    Cholesky,
}

impl SolverArg {
    /// The engine's solver.
    pub fn solver(self) -> Solver {
        match self {
            SolverArg::Cg => Solver::ConjugateGradient,
            SolverArg::Cholesky => Solver::Cholesky,
        }
    }

    /// The name as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SolverArg::Cg => "cg",
            SolverArg::Cholesky => "cholesky",
        }
    }
}

/// Model hyperparameters; each unset flag keeps the chosen model's own default.
#[derive(Clone, Debug, Default, Args)]
pub struct ModelArgs {
    /// Latent factors (ALS models).
    #[arg(long, help = defaults_help("Latent factors (ALS models)", &[
        ("implicit-als", ImplicitAlsParams::default().factors.to_string()),
        ("explicit-als", ExplicitAlsParams::default().factors.to_string()),
    ]))]
    pub factors: Option<usize>,
    /// Training iterations (ALS models).
    #[arg(long, help = defaults_help("Training iterations (ALS models)", &[
        ("implicit-als", ImplicitAlsParams::default().iterations.to_string()),
        ("explicit-als", ExplicitAlsParams::default().iterations.to_string()),
    ]))]
    pub iterations: Option<usize>,
    /// L2 regularization λ (ALS models, ease).
    #[arg(long, help = defaults_help("L2 regularization λ (ALS models, ease)", &[
        ("implicit-als", ImplicitAlsParams::default().regularization.to_string()),
        ("explicit-als", ExplicitAlsParams::default().regularization.to_string()),
        ("ease", EaseParams::default().regularization.to_string()),
    ]))]
    pub regularization: Option<f32>,
    /// Confidence scale α of implicit ALS: c = 1 + α·r.
    #[arg(long, help = defaults_help("Confidence scale α of implicit ALS: c = 1 + α·r", &[
        ("implicit-als", ImplicitAlsParams::default().alpha.to_string()),
    ]))]
    pub alpha: Option<f32>,
    /// Row solver of implicit ALS.
    #[arg(long, value_enum, help = defaults_help("Row solver of implicit ALS", &[
        ("implicit-als", match ImplicitAlsParams::default().solver {
            Solver::ConjugateGradient => "cg".into(),
            Solver::Cholesky => "cholesky".into(),
        }),
    ]))]
    pub solver: Option<SolverArg>,
    /// Neighbours kept per item (item-knn).
    #[arg(long, visible_alias = "neighbors", help = defaults_help("Neighbours kept per item", &[
        ("item-knn", ItemKnnParams::default().neighbours.to_string()),
    ]))]
    pub neighbours: Option<usize>,
    /// Item similarity of item-knn.
    #[arg(long, value_enum, help = defaults_help("Item similarity", &[
        ("item-knn", match ItemKnnParams::default().similarity {
            Similarity::Cosine => "cosine".into(),
            Similarity::Bm25 { .. } => "bm25".into(),
        }),
    ]))]
    pub similarity: Option<SimilarityArg>,
    /// Similarity shrinkage s of item-knn: sim · n / (n + s) for n co-raters.
    #[arg(long, help = defaults_help("Similarity shrinkage s: sim · n / (n + s) for n co-raters", &[
        ("item-knn", ItemKnnParams::default().shrinkage.to_string()),
    ]))]
    pub shrinkage: Option<f32>,
}

/// Help text listing the models a flag applies to with their current defaults, read from the
/// engine so it never goes stale; other models refuse the flag.
fn defaults_help(text: &str, defaults: &[(&str, String)]) -> String {
    let list: Vec<String> = defaults.iter().map(|(model, value)| format!("{model}: {value}")).collect();
    format!("{text} [default: {}]", list.join(", "))
}

/// Item similarity of item-knn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SimilarityArg {
    /// Cosine of the items' user vectors.
    Cosine,
    /// Dot product of BM25-weighted item rows (k1 = 100, b = 0.8, as `implicit`'s `bm25_weight`).
    Bm25,
}

impl SimilarityArg {
    /// The engine's similarity.
    pub fn similarity(self) -> Similarity {
        match self {
            SimilarityArg::Cosine => Similarity::Cosine,
            SimilarityArg::Bm25 => Similarity::Bm25 { k1: 100.0, b: 0.8 },
        }
    }
}

/// `cinerec evaluate`.
#[derive(Clone, Debug, Args)]
pub struct EvaluateArgs {
    /// The ratings.
    #[command(flatten)]
    pub data: DataArgs,
    /// The model to train and evaluate.
    #[arg(long, value_enum)]
    pub model: ModelKind,
    /// The evaluation protocol.
    #[arg(long, value_enum, default_value_t = Protocol::Holdout)]
    pub protocol: Protocol,
    /// Hyperparameters.
    #[command(flatten)]
    pub params: ModelArgs,
    /// Cut-off K of the ranking metrics.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Users held out by the strong protocol [default: 20 % of the users with positives].
    #[arg(long)]
    pub heldout_users: Option<usize>,
    /// Training threads (a rayon pool of this size); 0 = every core.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Seed of the split and of the model's initialisation.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `cinerec bench ...`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Seconds per implicit-ALS iteration over a grid of factors and solvers.
    Als(BenchAlsArgs),
}

/// `cinerec bench als`.
#[derive(Clone, Debug, Args)]
pub struct BenchAlsArgs {
    /// The ratings; ratings ≥ 4 become the binary training matrix.
    #[command(flatten)]
    pub data: DataArgs,
    /// Latent factors to measure (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "64,128,256")]
    pub factors: Vec<usize>,
    /// Solvers to measure (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "cg,cholesky")]
    pub solver: Vec<SolverArg>,
    /// Iterations per fit.
    #[arg(long, default_value_t = 5)]
    pub iterations: usize,
    /// Timed fits per configuration, after one untimed warm-up fit (at least 3).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Training threads; 0 = every core.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// L2 regularization λ (`implicit`'s default).
    #[arg(long, default_value_t = 0.01)]
    pub regularization: f32,
    /// Confidence scale α: c = 1 + α·r.
    #[arg(long, default_value_t = 1.0)]
    pub alpha: f32,
    /// Generator seed for --synth-scale, and initialisation seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `cinerec peer ...`.
#[derive(Debug, Subcommand)]
pub enum PeerCommand {
    /// Write the holdout split of a dataset as an exchange folder both libraries read.
    Prepare(PeerPrepareArgs),
    /// Train cinerec on an exchange folder, load `implicit`'s factors, evaluate both.
    Compare(PeerCompareArgs),
    /// Print the rows written by `peer compare` (`DIR/runs/*/compare.json`) as one table.
    Table(PeerTableArgs),
}

/// Datasets `peer prepare` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PeerDataset {
    /// MovieLens 100K (`u.data`).
    #[value(name = "ml-100k")]
    Ml100k,
    /// MovieLens latest-small (`ratings.csv`).
    #[value(name = "ml-latest-small")]
    MlLatestSmall,
    /// The seeded synthetic ML-20M-shaped ratings at --scale.
    Synth,
}

/// `cinerec peer prepare`.
#[derive(Clone, Debug, Args)]
pub struct PeerPrepareArgs {
    /// The dataset.
    #[arg(long, value_enum)]
    pub dataset: PeerDataset,
    /// Scale of the synthetic set (ignored for MovieLens).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Seed of the split and of the synthetic generator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output folder (created; existing matrices are overwritten).
    #[arg(long)]
    pub out: PathBuf,
}

/// `cinerec peer compare`.
#[derive(Clone, Debug, Args)]
pub struct PeerCompareArgs {
    /// Exchange folder written by `peer prepare`, with `implicit`'s run in `runs/`.
    pub dir: PathBuf,
    /// Latent factors.
    #[arg(long, default_value_t = 64)]
    pub factors: usize,
    /// Row solver.
    #[arg(long, value_enum, default_value_t = SolverArg::Cg)]
    pub solver: SolverArg,
    /// Iterations per fit.
    #[arg(long, default_value_t = 15)]
    pub iterations: usize,
    /// Training threads (the same number `implicit` used).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// L2 regularization λ (`implicit`'s default).
    #[arg(long, default_value_t = 0.01)]
    pub regularization: f32,
    /// Confidence scale α: c = 1 + α·r (`implicit` was given values 1 + α·r and α = 1).
    #[arg(long, default_value_t = 1.0)]
    pub alpha: f32,
    /// Timed fits after one untimed warm-up fit (at least 3).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Compare the two libraries' defaults instead: cinerec's `ImplicitAlsParams::default()`
    /// against `implicit` run with `--implicit-defaults` (other hyperparameter flags ignored).
    #[arg(long)]
    pub implicit_defaults: bool,
    /// Cut-off K of the ranking metrics.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Model initialisation seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `cinerec peer table`.
#[derive(Clone, Debug, Args)]
pub struct PeerTableArgs {
    /// Exchange folders (their `runs/*/compare.json`) or `compare.json` files.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}
