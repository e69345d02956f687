//! cinerec's recommender engine: pure compute over in-memory matrices.
//!
//! No I/O, no async, no logging: callers pass data in, get data back, and drive training through
//! a [`FitContext`] (thread pool, cancel flag, progress callback).

pub mod als;
pub mod blend;
pub mod context;
pub mod ease;
pub mod error;
pub mod eval;
pub mod explicit_als;
pub mod factors;
pub mod ids;
pub mod interactions;
pub mod knn;
pub mod linalg;
pub mod params;
pub mod popularity;
pub mod quantized;
pub mod recommend;
pub mod rng;
pub mod simd;
pub mod topk;

pub use context::{FitContext, Progress};
pub use error::{EngineError, Result};
pub use factors::FactorView;
pub use ids::IdMap;
pub use interactions::{Csr, Duplicates, Interaction, InteractionLog, Interactions, Row};
pub use params::{Params, Valid};
pub use quantized::QuantizedIndex;
pub use recommend::{Explanation, RecommendOptions, Recommender, Seen, TrainingUsers};
pub use topk::{ScoredItem, TopK, top_k};
