//! `cinerec-gateway`: the platform's REST front door (`/api/v1`, JSON) over the internal gRPC
//! services, built on the service kit's [`service_common::HttpServer`].
//!
//! - [`problem`]: every error is an RFC 9457 `application/problem+json` document built from the
//!   contract's [`contract::PublicError`] (status from its [`contract::ErrorKind`], one `errors[]`
//!   entry per invalid field taken from the services' `google.rpc.BadRequest` details) with the
//!   request's id.
//! - [`auth`]: `Authorization: Bearer <token>` verified in-process with the users service's
//!   HS256 secret ([`contract::token`]) and scoped API keys stored as SHA-256 hashes; 401 with
//!   `WWW-Authenticate` otherwise, 403 for what the caller may not do.
//! - [`rate_limit`]: GCRA per API key, user or client address, local or shared on Redis; 429
//!   with `Retry-After` and the IETF `RateLimit` headers.
//! - [`query`]: query parameters read one by one (400 naming each bad or unknown one).
//! - [`request_id`]: `X-Request-Id` accepted (or generated), returned, and sent to every upstream
//!   call as `x-request-id` metadata with the route's deadline as `grpc-timeout`.
//! - [`upstream`]: the gRPC clients and their readiness (health checks of the upstreams).
//! - [`accounts`]: `POST /auth/register`, `POST /auth/login`, `GET|PATCH|DELETE /me`,
//!   `GET|PUT /me/preferences`.
//! - [`ratings`]: `PUT|DELETE /me/ratings/{movie_id}`, `GET /me/ratings`, the same under
//!   `/users/{user_id}` for that user or a scoped key, `GET /movies/{movie_id}/ratings`.
//! - [`movies`]: search, pages, one movie with media URLs; admin writes and uploads.
//! - [`recommendations`]: the user's list, why, session lists, popular and similar movies.
//! - [`impressions`]: each served list published as `RecommendationServed` and each answered
//!   request as `RequestLogged` (analytics' data), through bounded queues that never block.
//! - [`activity`]: `POST /events` (API and web app): views, clicks and searches for analytics.
//! - [`openapi`]: `GET /openapi.json` (OpenAPI 3.1 from the handlers) and the `/docs` page.
//! - [`web`]: the web app at `/` (server-rendered pages, session cookie, same-site form posts).
//! - [`app`]: [`Application`] (settings, router, server).

pub mod accounts;
pub mod activity;
pub mod app;
pub mod auth;
pub mod config;
pub mod impressions;
pub mod movies;
pub mod openapi;
pub mod problem;
pub mod query;
pub mod rate_limit;
pub mod ratings;
pub mod recommendations;
pub mod request_id;
pub mod upstream;
pub mod web;

pub use app::Application;
pub use config::Config;
