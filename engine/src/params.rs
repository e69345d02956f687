//! Checked hyperparameters: `XParams` → [`Params::check`] → [`Valid<XParams>`], the only form
//! that `fit` accepts.

use std::ops::Deref;

use crate::error::{EngineError, Result};

/// Hyperparameters that can be validated.
pub trait Params: Sized {
    /// Checks every field, naming the first invalid one and its allowed range.
    fn check(self) -> Result<Valid<Self>>;
}

/// Parameters that passed [`Params::check`]; read-only.
#[derive(Clone, Debug, PartialEq)]
pub struct Valid<P>(P);

impl<P> Valid<P> {
    /// Wraps params whose `check` succeeded (only `check` implementations call this).
    pub(crate) fn new_unchecked(params: P) -> Self {
        Self(params)
    }

    /// The checked params.
    pub fn into_inner(self) -> P {
        self.0
    }
}

impl<P> Deref for Valid<P> {
    type Target = P;
    fn deref(&self) -> &P {
        &self.0
    }
}

/// Requires `lo <= value <= hi` (and finite).
pub(crate) fn in_range(
    name: &'static str,
    value: f64,
    lo: f64,
    hi: f64,
    allowed: &'static str,
) -> Result<()> {
    if value.is_finite() && (lo..=hi).contains(&value) {
        Ok(())
    } else {
        Err(EngineError::InvalidParam { name, value: value.to_string(), allowed })
    }
}

/// Requires `value >= lo` (and finite).
pub(crate) fn at_least(name: &'static str, value: f64, lo: f64, allowed: &'static str) -> Result<()> {
    in_range(name, value, lo, f64::MAX, allowed)
}
