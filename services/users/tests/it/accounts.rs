//! Registration, login, profile reads and updates, deletion, unique fields, unknown ids.

use proto::users::v1 as pb;
use tonic::Code;
use users::store::FIRST_USER_ID;

use crate::helpers::{PASSWORD, assert_status, spawn_app};

#[tokio::test]
async fn an_account_lives_from_registration_to_deletion() {
    let mut app = spawn_app().await;
    let ann = app.register("ann").await;
    assert_eq!(ann.user_id, FIRST_USER_ID);
    assert_eq!((ann.username.as_str(), ann.email.as_str()), ("ann", "ann@example.org"));
    assert_eq!(ann.display_name, "ann display");
    assert_eq!(ann.preferences, Some(pb::Preferences::default()));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((now - ann.created_at_unix).abs() < 60, "{}", ann.created_at_unix);
    assert_eq!(app.register("bob").await.user_id, FIRST_USER_ID + 1);

    for login in ["ann", "ANN", "ann@example.org", " Ann@Example.ORG "] {
        let response = app.login(login).await.unwrap().into_inner();
        assert_eq!(response.user_id, ann.user_id, "{login}");
        assert!(response.expires_at_unix > now, "{login}");
        let verified = app
            .client
            .verify_token(pb::VerifyTokenRequest { token: response.token })
            .await
            .unwrap()
            .into_inner();
        assert_eq!((verified.user_id, verified.username.as_str()), (ann.user_id, "ann"));
        assert_eq!(verified.expires_at_unix, response.expires_at_unix);
    }
    assert_eq!(app.get(ann.user_id).await.unwrap().into_inner(), ann);

    let update = pb::UpdateProfileRequest {
        user_id: ann.user_id,
        display_name: "Ann Lee".into(),
        email: "Ann.Lee@Example.org".into(),
    };
    let updated = app.client.update_profile(update).await.unwrap().into_inner();
    assert_eq!((updated.display_name.as_str(), updated.email.as_str()), ("Ann Lee", "ann.lee@example.org"));
    assert_eq!(app.get(ann.user_id).await.unwrap().into_inner(), updated);
    let unchanged = pb::UpdateProfileRequest { user_id: ann.user_id, ..Default::default() };
    assert_eq!(app.client.update_profile(unchanged).await.unwrap().into_inner(), updated);
    assert!(app.login("ann.lee@example.org").await.is_ok());
    assert_status(app.login("ann@example.org").await, Code::Unauthenticated, "invalid login or password");

    app.client.delete_user(pb::DeleteUserRequest { user_id: ann.user_id }).await.unwrap();
    assert_status(app.get(ann.user_id).await, Code::NotFound, &format!("user {}", ann.user_id));
    assert_status(app.login("ann").await, Code::Unauthenticated, "invalid login or password");
    let again = app.client.delete_user(pb::DeleteUserRequest { user_id: ann.user_id }).await;
    assert_status(again, Code::NotFound, "not found");
    // The UserDeleted event went out, so the document is gone and the name is free again.
    let reborn = app.register("ann").await;
    assert_eq!(reborn.user_id, FIRST_USER_ID + 2, "ids are never reused");
}

#[tokio::test]
async fn duplicate_username_and_email_are_already_exists_naming_the_field() {
    let mut app = spawn_app().await;
    let ann = app.register("ann").await;
    let request = |username: &str, email: &str| pb::RegisterRequest {
        username: username.into(),
        email: email.into(),
        password: PASSWORD.into(),
        display_name: String::new(),
    };
    let status = assert_status(
        app.client.register(request("ann", "other@example.org")).await,
        Code::AlreadyExists,
        "username",
    );
    assert!(!status.message().contains("email"), "{status:?}");
    let status = assert_status(
        app.client.register(request("ann2", "ANN@example.org")).await,
        Code::AlreadyExists,
        "email",
    );
    assert!(!status.message().contains("username"), "{status:?}");

    let bob = app.register("bob").await;
    let steal = pb::UpdateProfileRequest {
        user_id: bob.user_id,
        display_name: String::new(),
        email: ann.email.clone(),
    };
    assert_status(app.client.update_profile(steal).await, Code::AlreadyExists, "email");
    assert_eq!(app.get(bob.user_id).await.unwrap().into_inner().email, "bob@example.org");
}

#[tokio::test]
async fn unknown_ids_are_not_found() {
    let mut app = spawn_app().await;
    let ann = app.register("ann").await;
    for user_id in [1, 610, ann.user_id + 1, i64::MAX as u64] {
        assert_status(app.get(user_id).await, Code::NotFound, &user_id.to_string());
        let profile = pb::UpdateProfileRequest { user_id, display_name: "x".into(), email: String::new() };
        assert_status(app.client.update_profile(profile).await, Code::NotFound, "not found");
        assert_status(
            app.set_preferences(user_id, pb::Preferences::default()).await,
            Code::NotFound,
            "not found",
        );
        let delete = app.client.delete_user(pb::DeleteUserRequest { user_id }).await;
        assert_status(delete, Code::NotFound, "not found");
    }
    // Ids are the contract's: positive and within a database bigint, so a larger one is a bad
    // request naming the field (movies and ratings answer the same).
    assert_status(app.get(u64::MAX).await, Code::InvalidArgument, "user_id");
    assert!(app.publisher.events().is_empty(), "no events for unknown users");
}

#[tokio::test]
async fn wrong_passwords_and_unknown_logins_get_the_same_answer() {
    let mut app = spawn_app().await;
    app.register("ann").await;
    let wrong =
        app.client.login(pb::LoginRequest { login: "ann".into(), password: "not the password".into() }).await;
    let unknown =
        app.client.login(pb::LoginRequest { login: "nobody".into(), password: PASSWORD.into() }).await;
    let unknown_email = app
        .client
        .login(pb::LoginRequest { login: "nobody@example.org".into(), password: PASSWORD.into() })
        .await;
    let wrong = assert_status(wrong, Code::Unauthenticated, "");
    for other in [unknown, unknown_email] {
        let other = assert_status(other, Code::Unauthenticated, "");
        assert_eq!(other.message(), wrong.message());
    }
}

#[tokio::test]
async fn metrics_count_rpcs_by_method_and_code() {
    let mut app = spawn_app().await;
    app.register("ann").await;
    let _ = app.get(42).await;
    let body = service_common::testing::scrape_metrics(app.metrics_addr).await;
    // The family every service shares (the kit's layer).
    service_common::testing::assert_lines(
        &body,
        &[
            r#"cinerec_rpc_requests_total{service="users",method="Register",code="OK"} 1"#,
            r#"cinerec_rpc_requests_total{service="users",method="GetUser",code="NOT_FOUND"} 1"#,
            r#"cinerec_rpc_duration_seconds_count{service="users",method="Register"} 1"#,
        ],
    );
}

#[tokio::test]
async fn concurrent_registrations_of_one_name_create_one_account() {
    let app = spawn_app().await;
    let attempts: Vec<_> = (0..6)
        .map(|i| {
            let mut client = app.client.clone();
            tokio::spawn(async move {
                let request = pb::RegisterRequest {
                    username: "ann".into(),
                    email: format!("ann{i}@example.org"),
                    password: PASSWORD.into(),
                    display_name: String::new(),
                };
                client.register(request).await
            })
        })
        .collect();
    let mut created = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(_) => created += 1,
            Err(status) => {
                assert_eq!(
                    (status.code(), status.message()),
                    (Code::AlreadyExists, "username is already taken"),
                    "{}",
                    crate::helpers::captured_logs()
                        .lines()
                        .filter(|l| l.contains("ERROR"))
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            }
        }
    }
    assert_eq!(created, 1);
}
