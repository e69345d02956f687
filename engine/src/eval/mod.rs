//! Offline evaluation: splits and metrics.
