//! Preferences and deletion publish their events (checked on the memory publisher), and events
//! wait in the outbox while the broker is down, then go out in order.

use std::time::Duration;

use events::PublishedEvent;
use prost::Message;
use proto::events::{topics, v1 as event};
use proto::users::v1 as pb;
use tonic::Code;

use crate::helpers::{assert_status, eventually, spawn_app, spawn_app_with, test_config};

fn decode_preferences(event: &PublishedEvent) -> event::UserPreferencesChanged {
    assert_eq!(event.topic, topics::USER_PREFERENCES);
    event::UserPreferencesChanged::decode(event.payload.as_slice()).expect("a UserPreferencesChanged payload")
}

fn blocked(ids: &[u64]) -> pb::Preferences {
    pb::Preferences { blocked_movie_ids: ids.to_vec(), ..Default::default() }
}

#[tokio::test]
async fn preference_changes_and_deletions_publish_events_keyed_by_user() {
    let mut app = spawn_app().await;
    let ann = app.register("ann").await;
    let before_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let preferences = pb::Preferences {
        favourite_genres: vec!["sci-fi".into(), "Drama".into(), "Children's".into(), "drama".into()],
        languages: vec!["EN".into(), "fr".into()],
        blocked_movie_ids: vec![10, 20, 10],
    };
    let updated = app.set_preferences(ann.user_id, preferences).await.unwrap().into_inner();
    let expected = pb::Preferences {
        favourite_genres: vec!["Sci-Fi".into(), "Drama".into(), "Children".into()],
        languages: vec!["en".into(), "fr".into()],
        blocked_movie_ids: vec![10, 20],
    };
    assert_eq!(updated.preferences.as_ref(), Some(&expected));
    assert_eq!(app.get(ann.user_id).await.unwrap().into_inner().preferences, Some(expected.clone()));

    let published = app.publisher.events();
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0].key, ann.user_id.to_string());
    let changed = decode_preferences(&published[0]);
    assert_eq!(changed.user_id, ann.user_id);
    assert_eq!(changed.favourite_genres, expected.favourite_genres);
    assert_eq!(changed.languages, expected.languages);
    assert_eq!(changed.blocked_movie_ids, expected.blocked_movie_ids);
    assert!(uuid::Uuid::parse_str(&changed.event_id).is_ok(), "{}", changed.event_id);
    assert!(changed.timestamp_ms >= before_ms && changed.timestamp_ms < before_ms + 60_000);

    // Clearing is a change too.
    app.set_preferences(ann.user_id, pb::Preferences::default()).await.unwrap();
    let cleared = decode_preferences(&app.publisher.events()[1]);
    assert!(cleared.blocked_movie_ids.is_empty() && cleared.favourite_genres.is_empty());
    assert_ne!(cleared.event_id, changed.event_id);

    app.client.delete_user(pb::DeleteUserRequest { user_id: ann.user_id }).await.unwrap();
    let published = app.publisher.events();
    assert_eq!(published.len(), 3);
    assert_eq!(
        (published[2].topic.as_str(), published[2].key.clone()),
        (topics::USER_DELETED, ann.user_id.to_string())
    );
    let deleted = event::UserDeleted::decode(published[2].payload.as_slice()).unwrap();
    assert_eq!(deleted.user_id, ann.user_id);
    assert!(uuid::Uuid::parse_str(&deleted.event_id).is_ok());
}

#[tokio::test]
async fn events_wait_in_the_outbox_while_the_broker_is_down_and_go_out_in_order() {
    let mut config = test_config();
    config.storage_attempts = 2;
    config.publish_timeout = Duration::from_millis(500);
    config.outbox_interval = Duration::from_millis(100);
    let mut app = spawn_app_with(config).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;

    app.publisher.set_down(true);
    // The change is committed and answered; its event is queued.
    let first = app.set_preferences(ann.user_id, blocked(&[1])).await.unwrap().into_inner();
    assert_eq!(first.preferences.unwrap().blocked_movie_ids, [1]);
    app.set_preferences(ann.user_id, blocked(&[1, 2])).await.unwrap();
    app.set_preferences(bob.user_id, blocked(&[3])).await.unwrap();
    app.client.delete_user(pb::DeleteUserRequest { user_id: bob.user_id }).await.unwrap();
    assert_status(app.get(bob.user_id).await, Code::NotFound, "not found");
    // Until UserDeleted is out, the deleted account keeps its name.
    let reuse = pb::RegisterRequest {
        username: "bob".into(),
        email: "bob2@example.org".into(),
        password: crate::helpers::PASSWORD.into(),
        display_name: String::new(),
    };
    assert_status(app.client.register(reuse.clone()).await, Code::AlreadyExists, "username");
    // Not vacuous: first wait until the drainer has tried (and been refused) after the changes.
    let refused = app.publisher.refused();
    eventually("the drainer to try while the broker is down", || app.publisher.refused() > refused).await;
    assert!(app.publisher.events().is_empty());

    app.publisher.set_down(false);
    eventually("the drainer to deliver four events", || app.publisher.events().len() >= 4).await;
    // Not vacuous: two more drainer rounds have run since (the first may have started before the
    // last delivery), so a repeat would have been published by now.
    let rounds = app.relay.rounds();
    eventually("two more drainer rounds", || app.relay.rounds() >= rounds + 2).await;
    let published = app.publisher.events();
    assert_eq!(published.len(), 4, "each event exactly once: {published:?}");
    let for_user =
        |id: u64| -> Vec<&PublishedEvent> { published.iter().filter(|e| e.key == id.to_string()).collect() };
    let ann_events: Vec<Vec<u64>> =
        for_user(ann.user_id).into_iter().map(|e| decode_preferences(e).blocked_movie_ids).collect();
    assert_eq!(ann_events, [vec![1], vec![1, 2]], "in order");
    let bob_topics: Vec<&str> = for_user(bob.user_id).iter().map(|e| e.topic.as_str()).collect();
    assert_eq!(bob_topics, [topics::USER_PREFERENCES, topics::USER_DELETED]);
    // The deleted account's document is gone with its last event.
    app.client.register(reuse).await.expect("the name is free once UserDeleted is out");
}
