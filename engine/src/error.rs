//! The engine's error type: every variant says which input was wrong and how.

use thiserror::Error;

/// Everything the engine can refuse. Variants carry the offending value and what was expected,
/// so that an edge (CLI, gRPC, REST) can show them to the user unchanged.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum EngineError {
    /// A hyperparameter is outside its allowed range.
    #[error("invalid parameter `{name}` = {value}: expected {allowed}")]
    InvalidParam {
        /// Parameter name as spelled in the params struct.
        name: &'static str,
        /// The rejected value, formatted.
        value: String,
        /// Human-readable description of the allowed range.
        allowed: &'static str,
    },
    /// A dense user index is not below the number of users.
    #[error("unknown user index {user_idx}: the model has {n_users} users")]
    UnknownUser {
        /// The rejected index.
        user_idx: u32,
        /// Number of users known to the model.
        n_users: usize,
    },
    /// A dense item index is not below the number of items.
    #[error("unknown item index {item_idx}: the model has {n_items} items")]
    UnknownItem {
        /// The rejected index.
        item_idx: u32,
        /// Number of items known to the model.
        n_items: usize,
    },
    /// Two inputs that must agree in size do not.
    #[error("shape mismatch in {what}: expected {expected}, got {got}")]
    Shape {
        /// What was being compared.
        what: &'static str,
        /// The size that was expected.
        expected: usize,
        /// The size that was given.
        got: usize,
    },
    /// A value that must be finite is NaN or infinite.
    #[error("non-finite value {value} for user index {user_idx}, item index {item_idx}")]
    NonFinite {
        /// Row of the offending entry.
        user_idx: u32,
        /// Column of the offending entry.
        item_idx: u32,
        /// The value.
        value: f32,
    },
    /// A (user, item) pair occurs twice and the duplicate policy rejects that.
    #[error("duplicate interaction for user index {user_idx}, item index {item_idx}")]
    Duplicate {
        /// Row of the duplicate.
        user_idx: u32,
        /// Column of the duplicate.
        item_idx: u32,
    },
    /// The input holds no data where some is required.
    #[error("empty input: {0}")]
    Empty(&'static str),
    /// Training was stopped through the cancel flag.
    #[error("training cancelled after {completed_iterations} iterations")]
    Cancelled {
        /// Iterations fully completed before the flag was seen.
        completed_iterations: usize,
    },
    /// The model kind cannot answer this kind of query.
    #[error("{model} does not support {operation}")]
    Unsupported {
        /// Model kind.
        model: &'static str,
        /// The query that was asked.
        operation: &'static str,
    },
    /// A prebuilt index (e.g. [`crate::quantized::QuantizedIndex`]) is queried with a model it
    /// was not built from.
    #[error("index does not match the {model} model: {detail}")]
    IndexMismatch {
        /// Model kind.
        model: &'static str,
        /// What differs (sizes, or the factors themselves).
        detail: String,
    },
    /// A numeric routine failed (e.g. a matrix that should be positive definite is not).
    #[error("numerical failure: {0}")]
    Numerical(String),
}

/// Shorthand for results carrying [`EngineError`].
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
