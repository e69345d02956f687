//! The MongoDB adapter on its own: ids, idempotent inserts, duplicates by field, the outbox.

use std::time::Duration;

use users::domain::{DisplayName, Email, Login, PasswordHash, Preferences, ProfileChange, UserId, Username};
use users::store::{FIRST_USER_ID, OutboxEvent, PendingWork, StoredUser, UniqueField};
use users::{MongoUserStore, Secret, StoreError, UserStore};

async fn fresh_store() -> MongoUserStore {
    let url = Secret::new(service_common::testing::server_url("CINEREC_TEST_MONGO_URL"));
    let database = format!("users_store_{}", uuid::Uuid::new_v4().simple());
    MongoUserStore::connect(&url, &database, Duration::from_secs(5)).await.unwrap()
}

fn user(id: UserId, name: &str) -> StoredUser {
    StoredUser {
        id,
        username: Username::parse(name).unwrap(),
        email: Email::parse("email", &format!("{name}@example.org")).unwrap(),
        display_name: DisplayName::parse(name).unwrap(),
        password_hash: PasswordHash::from_phc(format!("$argon2id$v=19$m=19456,t=2,p=1$salt-{name}$hash")),
        preferences: Preferences::default(),
        created_at_unix: 1_700_000_000,
    }
}

fn event(id: &str) -> OutboxEvent {
    OutboxEvent { event_id: id.into(), topic: "t".into(), key: "k".into(), payload: id.as_bytes().to_vec() }
}

#[tokio::test]
async fn ids_count_up_and_inserts_are_idempotent_but_never_overwrite() {
    let store = fresh_store().await;
    let first = store.allocate_user_id().await.unwrap();
    let second = store.allocate_user_id().await.unwrap();
    assert_eq!((first.get(), second.get()), (FIRST_USER_ID, FIRST_USER_ID + 1));
    let ann = user(first, "ann");
    store.insert(&ann).await.unwrap();
    store.insert(&ann).await.expect("a retried insert of the same account succeeds");
    let impostor = user(first, "bob");
    assert!(matches!(store.insert(&impostor).await, Err(StoreError::Other(_))));
    assert_eq!(store.get(first).await.unwrap(), Some(ann.clone()));
    let by_email = store.find_by_login(&Login::Email("ann@example.org".into())).await.unwrap();
    assert_eq!(by_email, Some(ann));

    let mut clash = user(second, "ann");
    clash.email = Email::parse("email", "other@example.org").unwrap();
    assert!(matches!(
        store.insert(&clash).await,
        Err(StoreError::Duplicate { field: UniqueField::Username })
    ));
    let mut clash = user(second, "bob");
    clash.email = Email::parse("email", "ann@example.org").unwrap();
    assert!(matches!(store.insert(&clash).await, Err(StoreError::Duplicate { field: UniqueField::Email })));
    let change =
        ProfileChange { display_name: None, email: Some(Email::parse("email", "x@example.org").unwrap()) };
    assert_eq!(store.update_profile(second, &change).await.unwrap(), None, "no such account");
}

#[tokio::test]
async fn the_outbox_keeps_events_in_order_until_removed_and_purges_deleted_accounts() {
    let store = fresh_store().await;
    let id = store.allocate_user_id().await.unwrap();
    store.insert(&user(id, "ann")).await.unwrap();
    assert_eq!(store.pending(id).await.unwrap(), PendingWork::default());
    assert!(store.users_with_pending_work(10).await.unwrap().is_empty());

    let preferences = Preferences { blocked_movie_ids: vec![7], ..Default::default() };
    let updated = store.update_preferences(id, &preferences, &event("e1")).await.unwrap().unwrap();
    assert_eq!(updated.preferences, preferences);
    assert!(store.mark_deleted(id, &event("e2")).await.unwrap());
    assert!(!store.mark_deleted(id, &event("e3")).await.unwrap(), "already deleted");
    assert_eq!(store.get(id).await.unwrap(), None);
    assert_eq!(store.update_preferences(id, &preferences, &event("e4")).await.unwrap(), None);
    assert_eq!(store.users_with_pending_work(10).await.unwrap(), [id]);
    let pending = store.pending(id).await.unwrap();
    assert_eq!(pending, PendingWork { events: vec![event("e1"), event("e2")], deleted: true });

    store.purge(id).await.unwrap();
    assert!(store.pending(id).await.unwrap().deleted, "not purged while events wait");
    store.remove_event(id, "e1").await.unwrap();
    assert_eq!(store.pending(id).await.unwrap().events, [event("e2")]);
    store.remove_event(id, "e2").await.unwrap();
    store.purge(id).await.unwrap();
    assert_eq!(store.pending(id).await.unwrap(), PendingWork::default());
    assert!(store.users_with_pending_work(10).await.unwrap().is_empty());
    store
        .insert(&user(store.allocate_user_id().await.unwrap(), "ann"))
        .await
        .expect("the name is free again");
}
