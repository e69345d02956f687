//! The `cinerec` command line (clap derive): every flag with its default, parsed once into these
//! types and handed to the command functions.

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use engine::als::{ImplicitAlsParams, Solver};
use engine::ease::EaseParams;
use engine::explicit_als::ExplicitAlsParams;
use engine::knn::{ItemKnnParams, Similarity};

/// cinerec: train movie recommenders into versioned model artifacts, query them, evaluate and
/// benchmark them. Start with `cinerec quickstart`.
#[derive(Debug, Parser)]
#[command(name = "cinerec", version, max_term_width = 110)]
pub struct Cli {
    /// Folder holding the MovieLens datasets, one sub-folder per dataset (`ml-100k/u.data`,
    /// `ml-latest-small/ratings.csv`, ...) [default: $XDG_CACHE_HOME/cinerec/datasets, else
    /// ~/.cache/cinerec/datasets].
    #[arg(long, global = true, env = "CINEREC_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The ids of the [`DataArgs`] flags.
const DATA_FLAGS: [(&str, &str, &str); 5] = [
    ("dataset", "--dataset", "CINEREC_DATASET"),
    ("ratings", "--ratings", "CINEREC_RATINGS"),
    ("synth_scale", "--synth-scale", "CINEREC_SYNTH_SCALE"),
    ("ratings_redis", "--ratings-redis", "CINEREC_RATINGS_REDIS_URL"),
    ("ratings_warehouse", "--ratings-warehouse", "CINEREC_RATINGS_WAREHOUSE_URL"),
];

impl Cli {
    /// Parses a command line (`args[0]` is the program name), flags over environment: a
    /// ratings source given as a flag replaces one from `CINEREC_DATASET`, `CINEREC_RATINGS` or
    /// `CINEREC_SYNTH_SCALE`, so an exported variable never conflicts with a flag.
    pub fn parse_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = Self::command().try_get_matches_from(args)?;
        let mut cli = Self::from_arg_matches(&matches)?;
        let Some(sub) = data_matches(&matches) else { return Ok(cli) };
        let given = |from: ValueSource| -> Vec<&str> {
            DATA_FLAGS
                .iter()
                .filter(|(id, ..)| sub.value_source(id) == Some(from))
                .map(|(id, ..)| *id)
                .collect()
        };
        let (flags, vars) = (given(ValueSource::CommandLine), given(ValueSource::EnvVariable));
        let name = |id: &str, env: bool| {
            let (_, flag, var) = DATA_FLAGS.iter().find(|(i, ..)| *i == id).expect("a data flag");
            if env { format!("the variable {var}") } else { format!("the argument '{flag}'") }
        };
        let conflict = |a: &str, b: &str, env: bool| {
            Self::command().error(
                clap::error::ErrorKind::ArgumentConflict,
                format!("{} cannot be used with {}", name(a, env), name(b, env)),
            )
        };
        match (flags.as_slice(), vars.as_slice()) {
            ([a, b, ..], _) => return Err(conflict(b, a, false)),
            ([], [a, b, ..]) => return Err(conflict(b, a, true)),
            ([_], vars) if !vars.is_empty() => {
                if let Some(data) = cli.command.data_args_mut() {
                    for id in vars {
                        match *id {
                            "dataset" => data.dataset = None,
                            "ratings" => data.ratings = None,
                            "ratings_redis" => data.ratings_redis = None,
                            "ratings_warehouse" => data.ratings_warehouse = None,
                            _ => data.synth_scale = None,
                        }
                    }
                }
            }
            _ => {}
        }
        if !matches!(cli.command, Command::Train(_))
            && let Some(data) = cli.command.data_args_mut()
        {
            for (given, flag, var) in [
                (data.ratings_redis.is_some(), "--ratings-redis", "CINEREC_RATINGS_REDIS_URL"),
                (data.ratings_warehouse.is_some(), "--ratings-warehouse", "CINEREC_RATINGS_WAREHOUSE_URL"),
            ] {
                if given {
                    return Err(Self::command().error(
                        clap::error::ErrorKind::ArgumentConflict,
                        format!("{flag} ({var}) is a source for `cinerec train` only"),
                    ));
                }
            }
        }
        Ok(cli)
    }

    /// The data directory: `--data-dir` / `CINEREC_DATA_DIR`, else the datasets crate's user
    /// cache directory ([`datasets::data_dir`]).
    pub fn data_dir(&self) -> Result<PathBuf, datasets::DatasetError> {
        match &self.data_dir {
            Some(dir) if !dir.as_os_str().is_empty() => Ok(dir.clone()),
            _ => datasets::data_dir(),
        }
    }
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The first run: get ml-latest-small, train and evaluate the implicit ALS, save it to the
    /// model store, and show recommendations and similar movies.
    Quickstart(QuickstartArgs),
    /// Train a model and write it to the model store as a new version (a batch job: every
    /// flag can be set through its CINEREC_* variable).
    Train(TrainArgs),
    /// Top-N movies for a user of the training data, or for a list of movies (fold-in).
    Recommend(RecommendArgs),
    /// Movies similar to one movie, by id or title.
    Similar(SimilarArgs),
    /// List, inspect and prune the versions in a model store.
    #[command(subcommand)]
    Models(ModelsCommand),
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

/// The matches of the (sub)command that holds the [`DataArgs`] flags, if any.
fn data_matches(matches: &ArgMatches) -> Option<&ArgMatches> {
    if DATA_FLAGS.iter().all(|(id, ..)| matches.try_contains_id(id).is_ok()) {
        return Some(matches);
    }
    matches.subcommand().and_then(|(_, sub)| data_matches(sub))
}

impl Command {
    /// The ratings-source flags of the commands that take them.
    fn data_args_mut(&mut self) -> Option<&mut DataArgs> {
        match self {
            Command::Train(args) => Some(&mut args.data),
            Command::Evaluate(args) => Some(&mut args.data),
            Command::Bench(BenchCommand::Als(args)) => Some(&mut args.data),
            _ => None,
        }
    }
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

/// Where ratings come from: exactly one of the four. Each also has a variable; a flag given on
/// the command line replaces a variable of the others ([`Cli::parse_args`]).
#[derive(Clone, Debug, Args)]
#[group(required = true, multiple = true)]
pub struct DataArgs {
    /// A dataset in the data directory (ml-100k, ml-1m, ml-10m, ml-20m, ml-25m, ml-latest,
    /// ml-latest-small).
    #[arg(long, env = "CINEREC_DATASET")]
    pub dataset: Option<String>,
    /// A MovieLens ratings file; its name tells the format (`u.data`, `*.base`, `*.test`: tabs;
    /// `*.dat`: `::`; `*.csv`: CSV with a header).
    #[arg(long, env = "CINEREC_RATINGS")]
    pub ratings: Option<PathBuf>,
    /// The seeded synthetic ML-20M-shaped ratings at this scale (1.0 = full size).
    #[arg(long, env = "CINEREC_SYNTH_SCALE")]
    pub synth_scale: Option<f64>,
    /// The ratings service's Redis (`redis://[:password@]host:port[/db]`): train on its live
    /// ratings (`cinerec train` only; keys under --ratings-prefix).
    #[arg(long, env = "CINEREC_RATINGS_REDIS_URL", hide_env_values = true)]
    pub ratings_redis: Option<String>,
    /// The analytics warehouse (`postgres://…`; `oracle://…` with feature `oracle`): train on the
    /// latest rating per (user, movie) its rating events hold (`cinerec train` only).
    #[arg(long, env = "CINEREC_RATINGS_WAREHOUSE_URL", hide_env_values = true)]
    pub ratings_warehouse: Option<String>,
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
    /// EASE and implicit ALS blended; learns low ratings as weak positives (best ranking).
    Blend,
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
            ModelKind::Blend => "blend",
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
    /// them (seeded) to the test set; every other rating stays in training, and every movie a
    /// user rated there is left out of their ranking.
    Holdout,
    /// Temporal: users with ≥ 5 positives lose their latest 20 % of positives (by timestamp)
    /// to the test set; otherwise as holdout.
    Temporal,
    /// Strong generalization: held-out users never trained on, folded in from 80 % of their
    /// positives (their other ratings are seen) and tested on the rest.
    Strong,
}

impl Protocol {
    /// The name as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Folds => "folds",
            Protocol::Holdout => "holdout",
            Protocol::Temporal => "temporal",
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
    #[arg(long, env = "CINEREC_FACTORS", help = defaults_help("Latent factors (ALS models)", &[
        ("implicit-als", ImplicitAlsParams::default().factors.to_string()),
        ("explicit-als", ExplicitAlsParams::default().factors.to_string()),
    ]))]
    pub factors: Option<usize>,
    /// Training iterations (ALS models).
    #[arg(long, env = "CINEREC_ITERATIONS", help = defaults_help("Training iterations (ALS models)", &[
        ("implicit-als", ImplicitAlsParams::default().iterations.to_string()),
        ("explicit-als", ExplicitAlsParams::default().iterations.to_string()),
    ]))]
    pub iterations: Option<usize>,
    /// L2 regularization λ (ALS models, ease).
    #[arg(long, env = "CINEREC_REGULARIZATION", help = defaults_help("L2 regularization λ (ALS models, ease)", &[
        ("implicit-als", ImplicitAlsParams::default().regularization.to_string()),
        ("explicit-als", ExplicitAlsParams::default().regularization.to_string()),
        ("ease", EaseParams::default().regularization.to_string()),
    ]))]
    pub regularization: Option<f32>,
    /// Confidence scale α of implicit ALS: c = 1 + α·r.
    #[arg(long, env = "CINEREC_ALPHA", help = defaults_help("Confidence scale α of implicit ALS: c = 1 + α·r", &[
        ("implicit-als", ImplicitAlsParams::default().alpha.to_string()),
    ]))]
    pub alpha: Option<f32>,
    /// Row solver of implicit ALS.
    #[arg(long, env = "CINEREC_SOLVER", value_enum, help = defaults_help("Row solver of implicit ALS", &[
        ("implicit-als", match ImplicitAlsParams::default().solver {
            Solver::ConjugateGradient => "cg".into(),
            Solver::Cholesky => "cholesky".into(),
        }),
    ]))]
    pub solver: Option<SolverArg>,
    /// Neighbours kept per item (item-knn).
    #[arg(long, env = "CINEREC_NEIGHBOURS", visible_alias = "neighbors", help = defaults_help("Neighbours kept per item", &[
        ("item-knn", ItemKnnParams::default().neighbours.to_string()),
    ]))]
    pub neighbours: Option<usize>,
    /// Item similarity of item-knn.
    #[arg(long, env = "CINEREC_SIMILARITY", value_enum, help = defaults_help("Item similarity", &[
        ("item-knn", match ItemKnnParams::default().similarity {
            Similarity::Cosine => "cosine".into(),
            Similarity::Bm25 { .. } => "bm25".into(),
        }),
    ]))]
    pub similarity: Option<SimilarityArg>,
    /// Similarity shrinkage s of item-knn: sim · n / (n + s) for n co-raters.
    #[arg(long, env = "CINEREC_SHRINKAGE", help = defaults_help("Similarity shrinkage s: sim · n / (n + s) for n co-raters", &[
        ("item-knn", ItemKnnParams::default().shrinkage.to_string()),
    ]))]
    pub shrinkage: Option<f32>,
    /// Gibbs draws averaged after the ALS iterations (explicit-als; 0: the ALS estimate).
    #[arg(long, env = "CINEREC_SAMPLES", help = defaults_help("Gibbs draws averaged after the ALS iterations, 0 for the ALS estimate alone", &[
        ("explicit-als", ExplicitAlsParams::default().samples.to_string()),
    ]))]
    pub samples: Option<usize>,
    /// Gibbs sweeps discarded before the averaged draws (explicit-als).
    #[arg(long, env = "CINEREC_BURN_IN", help = defaults_help("Gibbs sweeps discarded before the averaged draws", &[
        ("explicit-als", ExplicitAlsParams::default().burn_in.to_string()),
    ]))]
    pub burn_in: Option<usize>,
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
    /// The ranking protocol of the split: holdout, temporal or strong.
    #[arg(long, value_enum, default_value_t = Protocol::Holdout)]
    pub protocol: Protocol,
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

/// Where models are kept.
#[derive(Clone, Debug, Args)]
pub struct StoreArgs {
    /// The model store: a folder (`./models`, `file:///srv/models`) or `s3://bucket/prefix`
    /// (over the `--s3-*` connection flags).
    #[arg(long = "store", env = "CINEREC_MODEL_STORE", default_value = "./models")]
    pub uri: String,
    /// The S3 connection of an `s3://` store (and of `models copy --to`).
    #[command(flatten)]
    pub s3: s3_client::S3Args,
}

/// Whether `cinerec train` evaluates the model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum EvaluateWith {
    /// No evaluation: the model trains on all of the data.
    #[default]
    None,
    /// Hold out 20 % of the positives of each user with ≥ 5 (seeded), train on the rest and
    /// store that model with its ranking metrics.
    Holdout,
}

/// `cinerec train`. Every flag has a CINEREC_* variable, so a CronJob can run it unchanged.
#[derive(Clone, Debug, Args)]
pub struct TrainArgs {
    /// The ratings.
    #[command(flatten)]
    pub data: DataArgs,
    /// The model to train. Implicit models learn from positives (ratings ≥ 4), explicit-als
    /// from every rating.
    #[arg(long, value_enum, env = "CINEREC_MODEL", default_value_t = ModelKind::ImplicitAls)]
    pub model: ModelKind,
    /// Hyperparameters.
    #[command(flatten)]
    pub params: ModelArgs,
    /// Evaluate on a holdout before storing (metrics go into the artifact).
    #[arg(long, value_enum, env = "CINEREC_EVALUATE", default_value_t = EvaluateWith::None)]
    pub evaluate: EvaluateWith,
    /// Cut-off K of the ranking metrics.
    #[arg(long, env = "CINEREC_EVAL_K", default_value_t = 10)]
    pub k: usize,
    /// Training threads (a rayon pool of this size); 0 = every core.
    #[arg(long, env = "CINEREC_THREADS", default_value_t = 0)]
    pub threads: usize,
    /// Seed of the split, of the model's initialisation and of the synthetic generator.
    #[arg(long, env = "CINEREC_SEED", default_value_t = 42)]
    pub seed: u64,
    /// Key prefix of the ratings service's keys in the --ratings-redis server.
    #[arg(long, env = "CINEREC_RATINGS_PREFIX", default_value = crate::source::redis::DEFAULT_PREFIX)]
    pub ratings_prefix: String,
    /// Where the artifact goes.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Quality gate (needs `--evaluate holdout`): publish the new model only when its
    /// nDCG@K on its holdout is at most this much below the serving model's recorded nDCG@K.
    /// A refused model is stored without moving LATEST and the command exits with code 4.
    #[arg(long, env = "CINEREC_QUALITY_GATE_MARGIN")]
    pub quality_gate_margin: Option<f64>,
    /// Output format.
    #[arg(long, value_enum, env = "CINEREC_FORMAT", default_value_t = Format::Table)]
    pub format: Format,
}

/// One movie of a `--history`: `MOVIE_ID` or `MOVIE_ID:RATING`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HistoryItem {
    /// MovieLens movie id.
    pub movie_id: u64,
    /// The rating, when given (explicit-als folds it in; implicit models count the movie as a
    /// positive either way).
    pub rating: Option<f32>,
}

impl std::str::FromStr for HistoryItem {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (id, rating) = match s.trim().split_once(':') {
            Some((id, rating)) => (id, Some(rating)),
            None => (s.trim(), None),
        };
        let movie_id =
            id.trim().parse().map_err(|_| format!("`{s}`: expected MOVIE_ID or MOVIE_ID:RATING"))?;
        let rating = match rating {
            Some(r) => match r.trim().parse::<f32>() {
                Ok(r) if r.is_finite() => Some(r),
                _ => return Err(format!("`{s}`: the rating after ':' must be a number")),
            },
            None => None,
        };
        Ok(Self { movie_id, rating })
    }
}

/// `cinerec recommend`.
#[derive(Clone, Debug, Args)]
#[command(group(clap::ArgGroup::new("who").required(true).args(["user", "history"])))]
pub struct RecommendArgs {
    /// The model store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Model version [default: the latest].
    #[arg(long, env = "CINEREC_MODEL_VERSION")]
    pub version: Option<String>,
    /// A user id of the training data (an unknown user gets the most popular movies, labelled
    /// as a fallback).
    #[arg(long)]
    pub user: Option<u64>,
    /// Someone not in the training data, by the movies they liked: `MOVIE_ID[:RATING],...`.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub history: Option<Vec<HistoryItem>>,
    /// How many movies.
    #[arg(short, long, default_value_t = 10)]
    pub n: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `cinerec similar`.
#[derive(Clone, Debug, Args)]
#[command(group(clap::ArgGroup::new("movie_query").required(true).args(["movie", "title"])))]
pub struct SimilarArgs {
    /// The model store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Model version [default: the latest].
    #[arg(long, env = "CINEREC_MODEL_VERSION")]
    pub version: Option<String>,
    /// A movie id.
    #[arg(long)]
    pub movie: Option<u64>,
    /// A title, or part of one (case-insensitive; an exact title, with or without its year,
    /// wins; several matches are listed).
    #[arg(long)]
    pub title: Option<String>,
    /// How many movies.
    #[arg(short, long, default_value_t = 10)]
    pub n: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `cinerec models ...`.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// The stored versions, oldest first.
    List {
        /// The model store.
        #[command(flatten)]
        store: StoreArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// One version's kind, hyperparameters, metrics, sizes and load time.
    Inspect {
        /// The version (`latest` for the newest).
        #[arg(default_value = "latest")]
        version: String,
        /// The model store.
        #[command(flatten)]
        store: StoreArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Copy a version to another store (e.g. a local model to S3), where it becomes the
    /// latest under a new version id.
    Copy {
        /// The version (`latest` for the newest).
        #[arg(default_value = "latest")]
        version: String,
        /// The model store to copy from.
        #[command(flatten)]
        store: StoreArgs,
        /// The model store to copy to (an `s3://` one over the same `--s3-*` flags).
        #[arg(long)]
        to: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Delete all but the newest versions (the latest is always kept).
    Prune {
        /// Versions to keep.
        #[arg(long, env = "CINEREC_KEEP_MODELS")]
        keep: usize,
        /// The model store.
        #[command(flatten)]
        store: StoreArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// `cinerec quickstart`.
#[derive(Clone, Debug, Args)]
pub struct QuickstartArgs {
    /// Where the model goes.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The sample user whose recommendations are shown.
    #[arg(long, default_value_t = 1)]
    pub user: u64,
    /// Training threads; 0 = every core.
    #[arg(long, env = "CINEREC_THREADS", default_value_t = 0)]
    pub threads: usize,
}
