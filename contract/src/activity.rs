//! Activity events sent by clients (`POST /api/v1/events` of analytics, and of the gateway for
//! the web app), in the spirit of Segment's track
//! spec: what happened (`event_type`), when on the client (`occurred_at`; the server adds
//! `received_at`), who (`user_id` or `anonymous_id`, `session_id`) and on what (`movie_id`,
//! the `recommendation_id` and `position` of the list it was shown in, free `context`). A batch
//! is checked whole: every invalid event is named by its index and field, and nothing of an
//! invalid batch is stored.

use serde::Deserialize;

use crate::{FieldError, MovieId, UserId};

/// Largest batch accepted.
pub const MAX_BATCH: usize = 500;

/// The kinds of activity accepted.
pub const EVENT_TYPES: [&str; 4] = ["view", "click", "search", "play_trailer"];

/// A checked event, ready to store or forward.
#[derive(Clone, Debug, PartialEq)]
pub struct Activity {
    /// Unique id.
    pub event_id: String,
    /// One of [`EVENT_TYPES`].
    pub event_type: String,
    /// Client time, milliseconds since the Unix epoch.
    pub occurred_at_ms: i64,
    /// The user.
    pub user_id: Option<u64>,
    /// The anonymous visitor.
    pub anonymous_id: Option<String>,
    /// The session.
    pub session_id: Option<String>,
    /// The list it was shown in.
    pub recommendation_id: Option<String>,
    /// The movie.
    pub movie_id: Option<u64>,
    /// Position in the list.
    pub position: Option<u32>,
    /// Context object (search text, page, device).
    pub context: serde_json::Value,
}

/// An event as a client sends it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityInput {
    /// The client's unique id of the event (1..=64 of `[A-Za-z0-9_-]`): a resent event is stored once.
    pub event_id: String,
    /// One of [`EVENT_TYPES`].
    pub event_type: String,
    /// When it happened on the client, RFC 3339 (e.g. `2026-12-04T21:05:00Z`).
    pub occurred_at: String,
    /// The signed-in user.
    #[serde(default)]
    pub user_id: Option<u64>,
    /// The anonymous visitor (when no user).
    #[serde(default)]
    pub anonymous_id: Option<String>,
    /// The browsing session.
    #[serde(default)]
    pub session_id: Option<String>,
    /// The recommendation list the movie was shown in.
    #[serde(default)]
    pub recommendation_id: Option<String>,
    /// The movie.
    #[serde(default)]
    pub movie_id: Option<u64>,
    /// 0-based position in that list.
    #[serde(default)]
    pub position: Option<u32>,
    /// Anything else (search text, page, device), a JSON object.
    #[serde(default)]
    pub context: Option<serde_json::Value>,
}

fn token_ok(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Milliseconds since the epoch of an RFC 3339 UTC or offset time (`YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`).
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded: String = fraction[..digits].chars().chain("000".chars()).take(3).collect();
        millis = padded.parse::<i64>().ok()?;
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(rest.as_bytes()[0], b'+' | b'-') && rest.as_bytes()[3] == b':' => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (rest[1..3].parse::<i64>().ok()? * 60 + rest[4..6].parse::<i64>().ok()?)
        }
        _ => return None,
    };
    let days = crate::civil::days_from_civil(year, month as u32, day as u32);
    Some(((days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60) * 1000) + millis)
}

/// Checks a batch: the events, or every error named `events[i].field`. `signed_in` is the
/// user the credentials name (the gateway's caller): events without `user_id` are theirs.
pub fn check_batch(
    inputs: Vec<ActivityInput>,
    signed_in: Option<u64>,
) -> Result<Vec<Activity>, Vec<FieldError>> {
    let mut errors = Vec::new();
    if inputs.is_empty() || inputs.len() > MAX_BATCH {
        errors.push(FieldError::new(
            "events",
            format!("must hold 1 to {MAX_BATCH} events, got {}", inputs.len()),
        ));
        return Err(errors);
    }
    let mut events = Vec::with_capacity(inputs.len());
    for (i, mut input) in inputs.into_iter().enumerate() {
        input.user_id = input.user_id.or(signed_in);
        let field = |name: &str| format!("events[{i}].{name}");
        let before = errors.len();
        if !token_ok(&input.event_id) {
            errors.push(FieldError::new(field("event_id"), "must be 1 to 64 of A-Z, a-z, 0-9, - and _"));
        }
        if !EVENT_TYPES.contains(&input.event_type.as_str()) {
            errors.push(FieldError::new(
                field("event_type"),
                format!("must be one of {}", EVENT_TYPES.join(", ")),
            ));
        }
        let occurred_at_ms = parse_rfc3339_ms(&input.occurred_at);
        if occurred_at_ms.is_none() {
            errors.push(FieldError::new(
                field("occurred_at"),
                "must be an RFC 3339 time such as 2026-12-04T21:05:00Z",
            ));
        }
        let user_id = match input.user_id.map(|id| UserId::parse(id, &field("user_id"))) {
            Some(Err(err)) => {
                errors.push(err);
                None
            }
            other => other.and_then(Result::ok),
        };
        let movie_id = match input.movie_id.map(|id| MovieId::parse(id, &field("movie_id"))) {
            Some(Err(err)) => {
                errors.push(err);
                None
            }
            other => other.and_then(Result::ok),
        };
        for (name, value) in [
            ("anonymous_id", &input.anonymous_id),
            ("session_id", &input.session_id),
            ("recommendation_id", &input.recommendation_id),
        ] {
            if value.as_deref().is_some_and(|v| !token_ok(v)) {
                errors.push(FieldError::new(field(name), "must be 1 to 64 of A-Z, a-z, 0-9, - and _"));
            }
        }
        if user_id.is_none() && input.anonymous_id.is_none() && input.user_id.is_none() {
            errors.push(FieldError::new(field("user_id"), "either user_id or anonymous_id is required"));
        }
        if input.position.is_some() && input.recommendation_id.is_none() {
            errors.push(FieldError::new(field("position"), "needs the recommendation_id of the list"));
        }
        let context = input.context.unwrap_or_else(|| serde_json::json!({}));
        if !context.is_object() {
            errors.push(FieldError::new(field("context"), "must be a JSON object"));
        }
        if errors.len() == before
            && let Some(occurred_at_ms) = occurred_at_ms
        {
            events.push(Activity {
                event_id: input.event_id,
                event_type: input.event_type,
                occurred_at_ms,
                user_id: user_id.map(UserId::get),
                anonymous_id: input.anonymous_id,
                session_id: input.session_id,
                recommendation_id: input.recommendation_id,
                movie_id: movie_id.map(MovieId::get),
                position: input.position,
                context,
            });
        }
    }
    if errors.is_empty() { Ok(events) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(id: &str) -> ActivityInput {
        serde_json::from_value(serde_json::json!({
            "event_id": id, "event_type": "click", "occurred_at": "2026-12-04T21:05:00.25Z",
            "user_id": 7, "recommendation_id": "r-1", "movie_id": 1, "position": 0
        }))
        .unwrap()
    }

    #[test]
    fn times_parse_with_fractions_and_offsets() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_ms("2026-12-04T21:05:00.25Z"), Some(1_796_418_300_250));
        assert_eq!(parse_rfc3339_ms("2026-12-04T22:05:00+01:00"), Some(1_796_418_300_000));
        for bad in [
            "",
            "2026-12-04",
            "2026-13-01T00:00:00Z",
            "2026-12-04T21:05:00",
            "2026-12-04 21:05:00Z",
            "2026-12-04T21:05:00.Z",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_bad_event_is_named_by_index_and_field() {
        let mut bad = input("b");
        bad.event_type = "hover".into();
        bad.occurred_at = "yesterday".into();
        bad.movie_id = Some(0);
        let mut anonymous = input("c");
        anonymous.user_id = None;
        anonymous.position = Some(3);
        anonymous.recommendation_id = None;
        let errors = check_batch(vec![input("a"), bad, anonymous], None).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "events[1].event_type",
                "events[1].occurred_at",
                "events[1].movie_id",
                "events[2].user_id",
                "events[2].position"
            ]
        );
        assert_eq!(check_batch(vec![], None).unwrap_err()[0].field, "events");
        let ok = check_batch(vec![input("a")], None).unwrap();
        assert_eq!((ok[0].occurred_at_ms, ok[0].position), (1_796_418_300_250, Some(0)));
    }
}
