//! The whole journey through the gateway alone: sign up, search, rate, recommendations that
//! follow the ratings once the rating events reach serving (no retrain), why, a blocked movie
//! gone, session recommendations for an anonymous visitor, impressions on Kafka, the account
//! deleted.

use std::time::Duration;

use events::kafka::KafkaSubscriber;
use prost::Message;
use proto::events::v1::RecommendationServed;

use crate::helpers::{Platform, assert_problem, eventually, fields, ids, kafka};

/// How long an event may take to travel ratings → Kafka → serving.
const EVENTS: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_signs_up_rates_and_gets_recommendations_that_follow() {
    let platform = Platform::start().await;
    let (ann, ann_id) = platform.sign_up("ann").await;

    let found = platform.req("GET", "/api/v1/movies?q=toy%20story").send().await;
    let toy_story = found.body["movies"][0]["movie_id"].as_u64().unwrap();
    assert_eq!(toy_story, 1, "{found:?}");

    // A new user with no ratings: the popular movies, named as such.
    let first = platform.req("GET", "/api/v1/me/recommendations?n=10").token(&ann).send().await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(
        (first.body["source"].as_str(), first.body["source_label"].as_str()),
        (Some("popularity"), Some("popular now"))
    );
    let popular = ids(&first.body);

    // Rate a few animated films: once the events reach serving, the list is folded in from them.
    for movie in [toy_story, 71, 95, 588] {
        let rated = platform
            .req("PUT", &format!("/api/v1/me/ratings/{movie}"))
            .token(&ann)
            .json(serde_json::json!({"rating": 5.0}))
            .send()
            .await;
        assert_eq!(rated.status, 201, "{rated:?}");
    }
    let folded = eventually("the ratings reach serving", EVENTS, || async {
        let list = platform.req("GET", "/api/v1/me/recommendations?n=10").token(&ann).send().await;
        (list.body["source"] == "fold_in").then_some(list)
    })
    .await;
    assert_eq!(folded.body["source_label"], "your recent ratings");
    let recommended = ids(&folded.body);
    assert_ne!(recommended, popular, "the list follows the ratings");
    assert!(!recommended.contains(&toy_story), "rated movies are not recommended again");
    let positions: Vec<u64> =
        folded.body["movies"].as_array().unwrap().iter().map(|m| m["position"].as_u64().unwrap()).collect();
    assert_eq!(positions, (0..10).collect::<Vec<u64>>());
    let page_two = platform.req("GET", "/api/v1/me/recommendations?n=5&offset=5").token(&ann).send().await;
    assert_eq!(ids(&page_two.body), recommended[5..10], "offset pages through the same list");

    // Why: the rated movies explain the first recommendation.
    let why = platform
        .req("GET", &format!("/api/v1/me/recommendations/{}/why", recommended[0]))
        .token(&ann)
        .send()
        .await;
    assert_eq!(why.status, 200, "{why:?}");
    let because: Vec<u64> =
        why.body["because"].as_array().unwrap().iter().map(|b| b["movie_id"].as_u64().unwrap()).collect();
    assert!(!because.is_empty() && because.iter().all(|m| [toy_story, 71, 95, 588].contains(m)), "{why:?}");

    // Blocking a movie removes it from the list (the preference event reaches serving).
    let blocked = recommended[0];
    let preferences =
        serde_json::json!({"favourite_genres": [], "languages": [], "blocked_movie_ids": [blocked]});
    assert_eq!(
        platform.req("PUT", "/api/v1/me/preferences").token(&ann).json(preferences).send().await.status,
        200
    );
    eventually("the blocked movie disappears", EVENTS, || async {
        let list = platform.req("GET", "/api/v1/me/recommendations?n=20").token(&ann).send().await;
        (!ids(&list.body).contains(&blocked)).then_some(())
    })
    .await;

    // An anonymous visitor's session list, folded in from the movies they liked.
    let session = platform
        .req("POST", "/api/v1/recommendations/session")
        .json(serde_json::json!({"liked_movie_ids": [1, 71, 95], "n": 5}))
        .send()
        .await;
    assert_eq!((session.status, session.body["source"].as_str()), (200, Some("fold_in")), "{session:?}");
    let visitor = session.body["anonymous_id"].as_str().unwrap().to_owned();
    assert!(!ids(&session.body).contains(&71) && ids(&session.body).len() == 5, "{session:?}");
    let unknown = platform
        .req("POST", "/api/v1/recommendations/session")
        .json(serde_json::json!({"liked_movie_ids": [999999]}))
        .send()
        .await;
    assert_problem(&unknown, 400);
    assert_eq!(fields(&unknown), ["liked_movie_ids"]);

    // Every list served is an impression on Kafka with its id, audience and positions.
    let subscriber = KafkaSubscriber::new(
        &kafka(),
        &crate::helpers::unique("gw-served-reader"),
        &[&platform.upstreams.topics.served],
    )
    .unwrap();
    let wanted = [
        folded.body["recommendation_id"].as_str().unwrap().to_owned(),
        session.body["recommendation_id"].as_str().unwrap().to_owned(),
    ];
    let mut seen = Vec::new();
    while seen.len() < wanted.len() {
        let event =
            tokio::time::timeout(EVENTS, subscriber.next()).await.expect("impressions arrive").unwrap();
        let served = RecommendationServed::decode(event.payload.as_slice()).unwrap();
        if wanted.contains(&served.recommendation_id) {
            seen.push(served);
        }
    }
    let of_ann = seen.iter().find(|s| s.user_id == ann_id).expect("ann's impression");
    assert_eq!((of_ann.surface.as_str(), of_ann.source.as_str()), ("me", "fold_in"));
    let shown: Vec<(u64, u32)> = of_ann.movies.iter().map(|m| (m.movie_id, m.position)).collect();
    assert_eq!(shown, recommended.iter().enumerate().map(|(i, &m)| (m, i as u32)).collect::<Vec<_>>());
    assert_eq!(of_ann.model_version, folded.body["model_version"].as_str().unwrap());
    let of_visitor = seen.iter().find(|s| s.user_id == 0).expect("the visitor's impression");
    assert_eq!(
        (of_visitor.anonymous_id.as_str(), of_visitor.surface.as_str()),
        (visitor.as_str(), "session")
    );

    // What ann does with the list goes to analytics: a click at its position (the user from the
    // token), and each request as a request log with its id.
    let rec_id = folded.body["recommendation_id"].as_str().unwrap().to_owned();
    let click = serde_json::json!({"events": [{"event_id": "ann-click-1", "event_type": "click",
        "occurred_at": "2026-12-05T10:00:00Z", "recommendation_id": rec_id, "position": 1, "movie_id": recommended[1]}]});
    let accepted = platform
        .req("POST", "/api/v1/events")
        .token(&ann)
        .header("x-request-id", "flow-events-1")
        .json(click)
        .send()
        .await;
    assert_eq!((accepted.status, accepted.body["accepted"].as_u64()), (202, Some(1)), "{accepted:?}");
    let someone_else = serde_json::json!({"events": [{"event_id": "x1", "event_type": "view",
        "occurred_at": "2026-12-05T10:00:00Z", "user_id": ann_id + 1, "movie_id": 1}]});
    let refused = platform.req("POST", "/api/v1/events").token(&ann).json(someone_else).send().await;
    assert_problem(&refused, 403);
    let nobody = serde_json::json!({"events": [{"event_id": "x2", "event_type": "view", "occurred_at": "2026-12-05T10:00:00Z"}]});
    let refused = platform.req("POST", "/api/v1/events").json(nobody).send().await;
    assert_problem(&refused, 400);
    assert_eq!(fields(&refused), ["events[0].user_id"]);
    let bad = serde_json::json!({"events": [{"event_id": "x3", "event_type": "hover", "occurred_at": "now", "anonymous_id": "v1"}]});
    let refused = platform.req("POST", "/api/v1/events").json(bad).send().await;
    assert_eq!(fields(&refused), ["events[0].event_type", "events[0].occurred_at"]);
    let recorded = crate::helpers::find_event(&platform.upstreams.topics.activity, |payload| {
        let event = proto::events::v1::ActivityRecorded::decode(payload).ok()?;
        (event.event_id == "ann-click-1").then_some(event)
    })
    .await;
    assert_eq!(
        (recorded.user_id, recorded.recommendation_id.as_str(), recorded.position, recorded.movie_id),
        (ann_id, rec_id.as_str(), Some(1), recommended[1])
    );
    let logged = crate::helpers::find_event(&platform.upstreams.topics.requests, |payload| {
        let event = proto::events::v1::RequestLogged::decode(payload).ok()?;
        (event.request_id == "flow-events-1").then_some(event)
    })
    .await;
    assert_eq!(
        (logged.route.as_str(), logged.method.as_str(), logged.status),
        ("/api/v1/events", "POST", 202)
    );

    // The account goes; its token then finds nothing.
    assert_eq!(platform.req("DELETE", "/api/v1/me").token(&ann).send().await.status, 204);
    assert_problem(&platform.req("GET", "/api/v1/me").token(&ann).send().await, 404);
}
