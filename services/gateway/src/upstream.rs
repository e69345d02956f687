//! The internal services the gateway calls: lazily connected gRPC channels (the gateway starts
//! while they are down; readiness says so), every request stamped with the route's deadline
//! (`grpc-timeout`) and the request id (`x-request-id`).

use std::time::Duration;

use proto::movies::v1::movies_service_client::MoviesServiceClient;
use proto::ratings::v1::ratings_service_client::RatingsServiceClient;
use proto::recommendation::v1::recommendation_service_client::RecommendationServiceClient;
use proto::users::v1::users_service_client::UsersServiceClient;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::request_id;

/// Why an upstream address is unusable.
#[derive(Debug, thiserror::Error)]
#[error("upstream {name} at {url:?}: {source}")]
pub struct UpstreamError {
    /// Which upstream.
    pub name: &'static str,
    /// The address given.
    pub url: String,
    /// What is wrong with it.
    #[source]
    pub source: tonic::transport::Error,
}

/// Where the upstream services listen.
#[derive(Clone, Debug)]
pub struct UpstreamUrls {
    /// Users (accounts, preferences).
    pub users: String,
    /// Ratings.
    pub ratings: String,
    /// Movies (catalogue, media).
    pub movies: String,
    /// Serving (recommendations).
    pub serving: String,
}

/// The gateway's gRPC clients.
#[derive(Clone, Debug)]
pub struct Upstreams {
    users: Channel,
    ratings: Channel,
    movies: Channel,
    serving: Channel,
    deadline: Duration,
}

fn channel(name: &'static str, url: &str, deadline: Duration) -> Result<Channel, UpstreamError> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|source| UpstreamError { name, url: url.to_owned(), source })?
        .connect_timeout(deadline)
        .tcp_nodelay(true);
    Ok(endpoint.connect_lazy())
}

impl Upstreams {
    /// Channels to the services at these addresses (nothing is contacted yet).
    pub fn new(urls: &UpstreamUrls, deadline: Duration) -> Result<Self, UpstreamError> {
        Ok(Self {
            users: channel("users", &urls.users, deadline)?,
            ratings: channel("ratings", &urls.ratings, deadline)?,
            movies: channel("movies", &urls.movies, deadline)?,
            serving: channel("serving", &urls.serving, deadline)?,
            deadline,
        })
    }

    /// A movies service client (uploads up to the trailer limit).
    pub fn movies(&self) -> MoviesServiceClient<Channel> {
        MoviesServiceClient::new(self.movies.clone())
            .max_encoding_message_size(contract::media::MAX_TRAILER_BYTES + (1 << 20))
    }

    /// A serving (recommendation) client.
    pub fn serving(&self) -> RecommendationServiceClient<Channel> {
        RecommendationServiceClient::new(self.serving.clone())
    }

    /// A ratings service client.
    pub fn ratings(&self) -> RatingsServiceClient<Channel> {
        RatingsServiceClient::new(self.ratings.clone())
    }

    /// A users service client.
    pub fn users(&self) -> UsersServiceClient<Channel> {
        UsersServiceClient::new(self.users.clone())
    }

    /// `message` as a request with the deadline and the current request id.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.deadline);
        if let Some((id, _)) = request_id::current()
            && let Ok(value) = id.parse()
        {
            request.metadata_mut().insert(request_id::HEADER, value);
        }
        request
    }
}

/// Whether the server behind `channel` answers its health check with SERVING in time.
async fn serving(channel: &Channel, deadline: Duration) -> bool {
    let mut request = tonic::Request::new(HealthCheckRequest { service: String::new() });
    request.set_timeout(deadline);
    let answer = HealthClient::new(channel.clone()).check(request).await;
    matches!(answer, Ok(response) if response.get_ref().status == ServingStatus::Serving as i32)
}

/// Ready while every upstream's health check answers SERVING within the deadline.
impl service_common::ReadinessProbe for Upstreams {
    async fn is_ready(&self) -> bool {
        let deadline = self.deadline;
        let (users, ratings, movies, recommendations) = tokio::join!(
            serving(&self.users, deadline),
            serving(&self.ratings, deadline),
            serving(&self.movies, deadline),
            serving(&self.serving, deadline),
        );
        users && ratings && movies && recommendations
    }
}
