//! UTC calendar conversions for RFC 3339 timestamps and version ids (no time-zone database
//! needed: everything is UTC).

use contract::civil::{civil_from_days, days_from_civil};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// UTC date and time of day, to the millisecond.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

impl Utc {
    /// The calendar fields of `time` (times before 1970 clamp to the epoch).
    pub fn from_system(time: SystemTime) -> Self {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs() as i64;
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        Self {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
            millis: since.subsec_millis(),
        }
    }

    /// The instant, or `None` when a field is out of range or before 1970.
    pub fn to_system(self) -> Option<SystemTime> {
        let valid = (1..=12).contains(&self.month)
            && (1..=days_in_month(self.year, self.month)).contains(&self.day)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60
            && self.millis < 1000;
        if !valid {
            return None;
        }
        let days = days_from_civil(self.year, self.month, self.day);
        let secs = days * 86_400 + (self.hour * 3600 + self.minute * 60 + self.second) as i64;
        let secs = u64::try_from(secs).ok()?;
        Some(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(self.millis as u64))
    }
}

/// `2026-11-24T09:15:00Z`: a time in UTC to the whole second (RFC 3339), as artifact headers
/// and the CLI show it.
pub fn format_rfc3339(time: SystemTime) -> String {
    let t = Utc::from_system(time);
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", t.year, t.month, t.day, t.hour, t.minute, t.second)
}

/// Parses what [`format_rfc3339`] writes (`YYYY-MM-DDTHH:MM:SSZ`).
pub(crate) fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if b[19] != b'Z' {
        return None;
    }
    Utc {
        year: digits(&text[0..4])? as i64,
        month: digits(&text[5..7])?,
        day: digits(&text[8..10])?,
        hour: digits(&text[11..13])?,
        minute: digits(&text[14..16])?,
        second: digits(&text[17..19])?,
        millis: 0,
    }
    .to_system()
}

/// A decimal number made of ASCII digits only.
pub(crate) fn digits(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips() {
        for days in [-1000, 0, 59, 10_957, 11_016, 20_781, 40_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(format_rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_511_700);
        assert_eq!(format_rfc3339(t), "2026-11-24T09:15:00Z");
        assert_eq!(parse_rfc3339("2026-11-24T09:15:00Z"), Some(t));
        for bad in
            ["2026-11-24T09:15:00", "2026-02-30T00:00:00Z", "2026-11-24 09:15:00Z", "+026-11-24T09:15:00Z"]
        {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
