//! A preferences change reaches a real Kafka topic (the Tansu broker `scripts/start-server
//! kafka` starts), read back by a fresh consumer group and decoded.

use std::time::Duration;

use events::kafka::{KafkaPublisher, KafkaSubscriber, ensure_topics};
use prost::Message;
use proto::events::{topics, v1 as event};
use proto::users::v1 as pb;

use crate::helpers::{PASSWORD, spawn_server, test_config};

#[tokio::test]
async fn a_preferences_event_arrives_on_the_kafka_topic() {
    let brokers = service_common::testing::server_url("CINEREC_TEST_KAFKA_BROKERS");
    ensure_topics(&brokers, &[topics::USER_PREFERENCES, topics::USER_DELETED]).await.unwrap();
    let publisher = KafkaPublisher::new(&brokers).unwrap();
    let (mut client, _, _, _stop) = spawn_server(test_config(), publisher).await;
    let register = pb::RegisterRequest {
        username: "ann".into(),
        email: "ann@example.org".into(),
        password: PASSWORD.into(),
        display_name: String::new(),
    };
    let ann = client.register(register).await.unwrap().into_inner().user.unwrap();
    // Every test database starts its ids at the same number: a random blocked movie marks ours.
    let marker = u64::from(uuid::Uuid::new_v4().as_u128() as u32) + 1;
    let preferences = pb::Preferences {
        favourite_genres: vec!["Drama".into()],
        languages: vec![],
        blocked_movie_ids: vec![marker],
    };
    let request = pb::UpdatePreferencesRequest { user_id: ann.user_id, preferences: Some(preferences) };
    client.update_preferences(request).await.unwrap();

    let group = format!("users-it-{}", uuid::Uuid::new_v4().simple());
    let subscriber = KafkaSubscriber::new(&brokers, &group, &[topics::USER_PREFERENCES]).unwrap();
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let received = subscriber.next().await.expect("a message");
            let changed =
                event::UserPreferencesChanged::decode(received.payload.as_slice()).expect("protobuf");
            if changed.blocked_movie_ids == [marker] {
                return (received, changed);
            }
        }
    })
    .await
    .expect("the event arrives within a minute");
    let (received, changed) = found;
    assert_eq!(received.topic, topics::USER_PREFERENCES);
    assert_eq!(received.key, ann.user_id.to_string());
    assert_eq!(changed.user_id, ann.user_id);
    assert_eq!(changed.favourite_genres, ["Drama"]);
    assert!(uuid::Uuid::parse_str(&changed.event_id).is_ok());
}
