//! The engine's integration tests: one binary, one module per feature.

mod models;
mod quantized;
