//! What users do with what they were shown: `POST /api/v1/events` (API clients) and
//! `POST /events` (the web app, with its session cookie) take a batch of activity events
//! (views, clicks, searches, trailer plays; the schema of `contract::activity`), checked whole:
//! any invalid event refuses the batch (400 naming `events[i].field`). The user comes from the
//! credentials: a signed-in user's events are theirs (an event naming another user is 403); an
//! API key with scope `write` may name any user; anonymous events need `anonymous_id`. Accepted
//! events go to analytics as `ActivityRecorded` through the gateway's bounded event queue (202;
//! never waits for the broker; `cinerec_gateway_activity_*_total` count them).

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use contract::activity::{ActivityInput, check_batch};
use contract::{ErrorKind, FieldError, PublicError, UserId};
use proto::events::v1::ActivityRecorded;

use crate::app::AppState;
use crate::auth::{Principal, Scope};
use crate::impressions::{EventQueue, Keyed};
use crate::problem::{Problem, ProblemDoc};

/// Activity events on their way to analytics.
pub type ActivityQueue = EventQueue<ActivityRecorded>;

impl Keyed for ActivityRecorded {
    fn key(&self) -> String {
        match self.user_id {
            0 => self.anonymous_id.clone(),
            user => user.to_string(),
        }
    }
}

/// `POST /events`: 1 to 500 activity events.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsBody {
    /// The events.
    pub events: Vec<ActivityInput>,
}

/// One activity event (the schema the body's `events` hold).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ActivityEventDoc {
    /// The client's unique id (1..=64 of `[A-Za-z0-9_-]`): a resent event is counted once.
    event_id: String,
    /// `view`, `click`, `search` or `play_trailer`.
    event_type: String,
    /// When it happened on the client (RFC 3339).
    occurred_at: String,
    /// The user: omit it (the signed-in user is used); API keys with scope `write` may name one.
    user_id: Option<u64>,
    /// An anonymous visitor's id (required without a user).
    anonymous_id: Option<String>,
    /// The browsing session.
    session_id: Option<String>,
    /// The list the movie was shown in (`recommendation_id` of a recommendation answer).
    recommendation_id: Option<String>,
    /// The movie.
    movie_id: Option<u64>,
    /// 0-based position in that list.
    position: Option<u32>,
    /// Anything else (search text, page), a JSON object.
    context: Option<serde_json::Value>,
}

/// The request body (schema only).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct EventsBodyDoc {
    /// 1 to 500 events.
    events: Vec<ActivityEventDoc>,
}

/// How many events were accepted.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Accepted {
    /// Events queued for analytics.
    pub accepted: usize,
}

/// Records activity events for analytics.
#[utoipa::path(post, path = "/events", tag = "activity", request_body = EventsBodyDoc,
    security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 202, body = Accepted),
        (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn record(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Json<EventsBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Accepted>), Problem> {
    let Json(body) = body?;
    // Checked as a batch before the user is decided: a bad batch is 400 whoever sends it.
    let explicit: Vec<Option<u64>> = body.events.iter().map(|e| e.user_id).collect();
    let signed_in = match &principal {
        Principal::User(caller) => Some(caller.user_id.get()),
        _ => None,
    };
    let events = check_batch(body.events, signed_in).map_err(|fields| {
        let mut error = PublicError::new(
            ErrorKind::Invalid,
            format!("{} invalid field(s); nothing was recorded", fields.len()),
        );
        error.fields = fields;
        Problem::from(error)
    })?;
    let mut recorded = Vec::with_capacity(events.len());
    for (i, event) in events.into_iter().enumerate() {
        let user = match explicit[i] {
            None => event.user_id,
            Some(user) => {
                let id = UserId::parse(user, &format!("events[{i}].user_id")).map_err(Problem::from)?;
                principal.may_act_for(id, Scope::Write).map_err(|mut problem| {
                    problem.error.fields =
                        vec![FieldError::new(format!("events[{i}].user_id"), "is not yours to report")];
                    problem
                })?;
                Some(user)
            }
        };
        if user.is_none() && event.anonymous_id.is_none() {
            return Err(Problem::invalid(
                &format!("events[{i}].anonymous_id"),
                "is required when not signed in",
            ));
        }
        recorded.push(ActivityRecorded {
            event_id: event.event_id,
            event_type: event.event_type,
            occurred_at_ms: event.occurred_at_ms,
            user_id: user.unwrap_or(0),
            anonymous_id: event.anonymous_id.unwrap_or_default(),
            session_id: event.session_id.unwrap_or_default(),
            recommendation_id: event.recommendation_id.unwrap_or_default(),
            movie_id: event.movie_id.unwrap_or(0),
            position: event.position,
            context_json: event.context.to_string(),
        });
    }
    let accepted = recorded.len();
    for event in recorded {
        state.activity.push(event);
    }
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted })))
}
