//! The one duration grammar of every cinerec flag and variable that takes a time: a
//! non-negative number (fractions allowed) and a unit: `300ms`, `1.5s`, `5m` (or `5min`), `2h`,
//! `7d`; a bare number is seconds.

use std::time::Duration;

/// Why a duration setting was refused; names the text and the grammar.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not a duration: use a number and a unit (ms, s, m, h, d), e.g. `300ms`, `1.5s`, `5m`, `2h`, `7d`"
)]
pub struct DurationError {
    /// The text given.
    pub text: String,
}

/// Parses a duration (see the module docs); `value_parser = parse_duration` in clap.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let err = || DurationError { text: text.to_string() };
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    if number.is_empty() {
        return Err(err());
    }
    let value: f64 = number.parse().map_err(|_| err())?;
    let seconds_per = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return Err(err()),
    };
    Duration::try_from_secs_f64(value * seconds_per).map_err(|_| err())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_parses() {
        for (text, ms) in [
            ("300ms", 300),
            ("250ms", 250),
            ("1.5s", 1_500),
            ("30s", 30_000),
            ("30", 30_000),
            (" 3600 ", 3_600_000),
            ("5m", 300_000),
            ("15min", 900_000),
            ("2h", 7_200_000),
            ("1.5h", 5_400_000),
            ("7d", 7 * 86_400_000),
            ("0s", 0),
        ] {
            assert_eq!(parse_duration(text), Ok(Duration::from_millis(ms)), "{text}");
        }
    }

    #[test]
    fn bad_durations_name_the_text() {
        for bad in ["", "h", "s", "1 week", "5 parsecs", "-1s", "1..5s", "1e3s", "1.5.2m"] {
            let err = parse_duration(bad).unwrap_err();
            assert_eq!(err.text, bad);
            assert!(err.to_string().contains(&format!("`{bad}` is not a duration")), "{err}");
        }
    }
}
