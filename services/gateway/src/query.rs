//! Query strings read parameter by parameter, so that every 400 names the parameter at fault:
//! an unknown parameter, one given twice, or a value that does not parse (`limit=abc`,
//! `year=-5`) each get their own `errors[]` entry.

use std::str::FromStr;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use contract::{ErrorKind, FieldError, PublicError};

use crate::problem::Problem;

/// A request's query parameters, taken one by one; [`QueryParams::finish`] refuses the rest.
#[derive(Debug, Default)]
pub struct QueryParams {
    given: Vec<(String, String)>,
    errors: Vec<FieldError>,
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let Query(given) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| Problem::invalid("query", rejection.body_text()))?;
        let mut params = Self { given, errors: Vec::new() };
        let mut names: Vec<&str> = params.given.iter().map(|(name, _)| name.as_str()).collect();
        names.sort_unstable();
        let twice: Vec<String> = names.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0].to_owned()).collect();
        for name in twice {
            if !params.errors.iter().any(|e| e.field == name) {
                params.errors.push(FieldError::new(name, "is given more than once"));
            }
        }
        Ok(params)
    }
}

impl QueryParams {
    /// Parameters from `pairs` (tests).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self {
            given: pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            errors: vec![],
        }
    }

    /// Takes the text of `name` (absent: `None`).
    pub fn text(&mut self, name: &str) -> Option<String> {
        let mut value = None;
        self.given.retain(|(key, v)| {
            if key == name {
                value = Some(v.clone());
                false
            } else {
                true
            }
        });
        value
    }

    /// Takes `name` parsed as `T` (absent or empty: `None`); a value that does not parse is
    /// recorded as an error saying what was `expected`.
    pub fn parse<T: FromStr>(&mut self, name: &str, expected: &str) -> Option<T> {
        let text = self.text(name).filter(|text| !text.is_empty())?;
        match text.parse() {
            Ok(value) => Some(value),
            Err(_) => {
                self.errors.push(FieldError::new(name, format!("must be {expected}, got {text:?}")));
                None
            }
        }
    }

    /// Takes `name` as an integer in `range` (absent: `None`).
    pub fn int_in(&mut self, name: &str, range: std::ops::RangeInclusive<u32>) -> Option<u32> {
        let expected = format!("an integer from {} to {}", range.start(), range.end());
        let value = self.parse::<u32>(name, &expected)?;
        if range.contains(&value) {
            Some(value)
        } else {
            self.errors.push(FieldError::new(name, format!("must be {expected}, got {value}")));
            None
        }
    }

    /// Records an error about `name` found by the caller's own check.
    pub fn reject(&mut self, name: &str, reason: impl Into<String>) {
        self.errors.push(FieldError::new(name, reason));
    }

    /// Ok when every parameter was taken and parsed; else 400 with one entry per unknown
    /// parameter and per bad value.
    pub fn finish(mut self) -> Result<(), Problem> {
        for (name, _) in std::mem::take(&mut self.given) {
            if !self.errors.iter().any(|e| e.field == name) {
                self.errors.push(FieldError::new(name, "is not a parameter of this route"));
            }
        }
        if self.errors.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = self.errors.iter().map(|e| e.field.as_str()).collect();
        let mut error = PublicError::new(ErrorKind::Invalid, format!("invalid query: {}", names.join(", ")));
        error.fields = self.errors;
        Err(error.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(problem: Problem) -> Vec<String> {
        problem.error.fields.into_iter().map(|f| f.field).collect()
    }

    #[test]
    fn each_bad_unknown_or_repeated_parameter_is_named() {
        let mut params = QueryParams::from_pairs(&[("limit", "abc"), ("year", "1995"), ("sort", "x")]);
        assert_eq!(params.int_in("limit", 1..=100), None);
        assert_eq!(params.parse::<i32>("year", "a year"), Some(1995));
        assert_eq!(fields(params.finish().unwrap_err()), ["limit", "sort"]);

        let mut params = QueryParams::from_pairs(&[("n", "0")]);
        assert_eq!(params.int_in("n", 1..=100), None);
        let problem = params.finish().unwrap_err();
        assert!(problem.error.fields[0].reason.contains("from 1 to 100"), "{problem:?}");
    }

    #[test]
    fn taken_parameters_and_empty_values_pass() {
        let mut params = QueryParams::from_pairs(&[("q", "toy story"), ("cursor", "")]);
        assert_eq!(params.text("q").as_deref(), Some("toy story"));
        assert_eq!(params.parse::<u32>("cursor", "an integer"), None);
        assert_eq!(params.text("absent"), None);
        params.finish().unwrap();
    }
}
