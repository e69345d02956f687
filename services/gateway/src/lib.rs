//! `cinerec-gateway`: the platform's REST front door (`/api/v1`, JSON) over the internal gRPC
//! services, built on the service kit's [`service_common::HttpServer`].
//!
//! - [`problem`]: every error is an RFC 9457 `application/problem+json` document built from the
//!   contract's [`contract::PublicError`] (status from its [`contract::ErrorKind`], one `errors[]`
//!   entry per invalid field taken from the services' `google.rpc.BadRequest` details) with the
//!   request's id.
//! - [`auth`]: `Authorization: Bearer <token>` verified in-process with the users service's
//!   HS256 secret ([`contract::token`]); 401 with `WWW-Authenticate` otherwise.
//! - [`request_id`]: `X-Request-Id` accepted (or generated), returned, and sent to every upstream
//!   call as `x-request-id` metadata with the route's deadline as `grpc-timeout`.
//! - [`upstream`]: the gRPC clients and their readiness (health checks of the upstreams).
//! - [`accounts`]: `POST /auth/register`, `POST /auth/login`, `GET|PATCH|DELETE /me`,
//!   `GET|PUT /me/preferences`.
//! - [`ratings`]: `PUT|DELETE /me/ratings/{movie_id}`, `GET /me/ratings`,
//!   `GET /movies/{movie_id}/ratings`.
//! - [`app`]: [`Application`] (settings, router, server).

pub mod accounts;
pub mod app;
pub mod auth;
pub mod config;
pub mod problem;
pub mod ratings;
pub mod request_id;
pub mod upstream;

pub use app::Application;
pub use config::Config;
