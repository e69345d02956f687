//! The gateway in front of real users, ratings, movies and serving services (in-process on
//! port 0 over the servers `scripts/test` starts), spoken to over HTTP like a browser or a
//! partner would.

mod accounts;
mod browser;
mod catalogue;
mod flow;
mod helpers;
mod limits;
mod logs;
mod openapi;
mod web;
