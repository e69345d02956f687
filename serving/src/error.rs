//! [`ServeError`]: why a request failed, classified where it happens; [`crate::grpc_api`] maps
//! each variant to its gRPC status at the edge, and internal causes are only logged.

use engine::EngineError;
use thiserror::Error;

/// Why a request failed.
#[derive(Debug, Error)]
pub enum ServeError {
    /// The request is malformed; `field` names the offending field (`n`,
    /// `allow_movie_ids`, `requests[3].recent_movie_ids`).
    #[error("{field}: {problem}")]
    InvalidArgument {
        /// The field, as written in the `.proto` (with its position inside a batch).
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An id the request is about is unknown to the serving model.
    #[error("{field}: {what} {id} is not known to model {version}")]
    NotFound {
        /// The field holding the id.
        field: String,
        /// `user` or `movie`.
        what: &'static str,
        /// The external id.
        id: u64,
        /// The model version that was asked.
        version: String,
    },
    /// The serving model cannot answer this kind of query (e.g. similar movies from a
    /// popularity model).
    #[error("the serving model ({kind}) does not support {operation}")]
    Unsupported {
        /// The model kind.
        kind: &'static str,
        /// The query.
        operation: &'static str,
    },
    /// No model has been loaded yet (the store is empty or unreachable since start).
    #[error("no model is loaded yet: the model store has no usable version")]
    NoModel,
    /// The server is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The model store could not be read (RefreshModel).
    #[error("the model store is unreachable: {0}")]
    Store(#[source] artifacts::StoreError),
    /// The engine failed on a request that passed validation: a bug or a broken model.
    #[error("engine query failed: {0}")]
    Engine(#[from] EngineError),
    /// The request whose turn was answering this one's coalesced scan failed before replying
    /// (a panic).
    #[error("the coalesced scan answering this request failed")]
    TurnLost,
    /// A query task panicked or was cancelled.
    #[error("query task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
}

impl ServeError {
    /// An [`ServeError::InvalidArgument`] for `field`.
    pub fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::InvalidArgument { field: field.into(), problem: problem.into() }
    }
}
