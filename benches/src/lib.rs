//! Shared data loading for the criterion benchmarks: MovieLens from `CINEREC_DATA_DIR` (falling
//! back to `../shared/datasets` beside the repository) and the seeded synthetic ML-20M-shaped set.

use datasets::{DatasetName, SynthParams};
use engine::eval::positives;
use engine::{Duplicates, InteractionLog, Interactions};

/// The data directory of the benchmarks: `CINEREC_DATA_DIR`, else `shared/datasets` beside the
/// repository.
pub use datasets::checkout_data_dir as data_dir;

/// The PROTOCOLS implicit matrix of a log: ratings ≥ 4 as interactions of value 1.
pub fn positives_matrix(log: &InteractionLog) -> Interactions {
    let entries = positives(&log.entries, 4.0);
    log.interactions_of(&entries, Duplicates::KeepLatest)
        .expect("entries come from the log")
        .map_values(|_| 1.0)
}

/// A MovieLens dataset's positives (panics with the loader's message if the data is missing).
pub fn movielens_positives(name: DatasetName) -> Interactions {
    let log = datasets::load_ratings_log(&data_dir(), name)
        .unwrap_or_else(|err| panic!("benchmarks need {name} in {}: {err}", data_dir().display()));
    positives_matrix(&log)
}

/// The synthetic ML-20M-shaped set at `scale`, as positives.
pub fn synthetic_positives(scale: f64) -> Interactions {
    let shape = SynthParams::new(scale, 42).check().expect("valid synthetic scale");
    positives_matrix(&datasets::synth::generate_log(&shape).expect("synthetic log"))
}
