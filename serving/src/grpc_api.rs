//! The tonic adapter: each RPC calls [`Serving`], records latency and outcome, and maps
//! [`ServeError`] to a gRPC status. Internal causes are logged here and never sent.

use contract::{ErrorKind, FieldError, PublicError};
use std::sync::Arc;

use proto::recommendation::v1 as pb;
use proto::recommendation::v1::recommendation_service_server::{
    RecommendationService, RecommendationServiceServer,
};
use tonic::{Request, Response, Status};
use tracing::{error, warn};

use crate::error::ServeError;
use crate::requests::Serving;

/// `cinerec.recommendation.v1.RecommendationService` over a [`Serving`].
#[derive(Clone, Debug)]
pub struct RecommendationApi {
    serving: Arc<Serving>,
}

impl RecommendationApi {
    /// The service over `serving`.
    pub fn new(serving: Arc<Serving>) -> Self {
        Self { serving }
    }

    /// The tonic server of the service.
    pub fn into_server(self) -> RecommendationServiceServer<Self> {
        RecommendationServiceServer::new(self)
    }

    async fn handle<T>(
        &self,
        method: &'static str,
        work: impl Future<Output = Result<T, ServeError>>,
    ) -> Result<Response<T>, Status> {
        // The service kit's layer counts the call and times it.
        work.await.map(Response::new).map_err(|err| status(method, err))
    }
}

/// The gRPC status of an error through the contract's classification: a bad field travels as
/// `google.rpc.BadRequest` details; server-side causes are logged and answered with a generic
/// message.
pub fn status(method: &'static str, err: ServeError) -> Status {
    let public = match err {
        ServeError::InvalidArgument { field, problem } => PublicError::from(FieldError::new(field, problem)),
        ServeError::NotFound { .. } => PublicError::new(ErrorKind::NotFound, err.to_string()),
        ServeError::Unsupported { .. } => PublicError::new(ErrorKind::Unsupported, err.to_string()),
        ServeError::NoModel | ServeError::ShuttingDown => {
            PublicError::new(ErrorKind::Unavailable, err.to_string())
        }
        ServeError::Store(cause) => {
            warn!(method, error = %cause, "model store unreachable");
            PublicError::unavailable("the model store")
        }
        ServeError::Engine(_) | ServeError::Task(_) | ServeError::TurnLost => {
            error!(method, error = %err, "request failed");
            PublicError::internal()
        }
    };
    public.into()
}

#[tonic::async_trait]
impl RecommendationService for RecommendationApi {
    async fn recommend(
        &self,
        request: Request<pb::RecommendRequest>,
    ) -> Result<Response<pb::RecommendResponse>, Status> {
        self.handle("Recommend", self.serving.recommend(request.into_inner())).await
    }

    async fn recommend_batch(
        &self,
        request: Request<pb::RecommendBatchRequest>,
    ) -> Result<Response<pb::RecommendBatchResponse>, Status> {
        self.handle("RecommendBatch", self.serving.recommend_batch(request.into_inner())).await
    }

    async fn similar_movies(
        &self,
        request: Request<pb::SimilarMoviesRequest>,
    ) -> Result<Response<pb::SimilarMoviesResponse>, Status> {
        self.handle("SimilarMovies", self.serving.similar_movies(request.into_inner())).await
    }

    async fn explain(
        &self,
        request: Request<pb::ExplainRequest>,
    ) -> Result<Response<pb::ExplainResponse>, Status> {
        self.handle("Explain", self.serving.explain(request.into_inner())).await
    }

    async fn model_info(
        &self,
        _: Request<pb::ModelInfoRequest>,
    ) -> Result<Response<pb::ModelInfoResponse>, Status> {
        self.handle("ModelInfo", async { self.serving.model_info() }).await
    }

    async fn refresh_model(
        &self,
        _: Request<pb::RefreshModelRequest>,
    ) -> Result<Response<pb::RefreshModelResponse>, Status> {
        self.handle("RefreshModel", self.serving.refresh_model()).await
    }
}
