//! Shared helpers for the criterion benchmarks (data loading).
