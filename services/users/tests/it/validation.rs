//! Every invalid request is INVALID_ARGUMENT naming its field, and changes nothing.

use proto::users::v1 as pb;
use tonic::Code;

use crate::helpers::{PASSWORD, assert_status, spawn_app};

fn registration(username: &str, email: &str, password: &str, display_name: &str) -> pb::RegisterRequest {
    pb::RegisterRequest {
        username: username.into(),
        email: email.into(),
        password: password.into(),
        display_name: display_name.into(),
    }
}

#[tokio::test]
async fn invalid_registrations_name_the_field() {
    let mut app = spawn_app().await;
    let long_password = "p".repeat(257);
    let long_name = "n".repeat(101);
    let cases = [
        (registration("ab", "ab@example.org", PASSWORD, ""), "username"),
        (registration("Ann", "ann@example.org", PASSWORD, ""), "username"),
        (registration("ann smith", "ann@example.org", PASSWORD, ""), "username"),
        (registration(&"a".repeat(33), "ann@example.org", PASSWORD, ""), "username"),
        (registration("ann", "", PASSWORD, ""), "email"),
        (registration("ann", "ann.example.org", PASSWORD, ""), "email"),
        (registration("ann", "ann@localhost", PASSWORD, ""), "email"),
        (registration("ann", "ann@exa mple.org", PASSWORD, ""), "email"),
        (registration("ann", "ann@example.org", "short", ""), "password"),
        (registration("ann", "ann@example.org", &long_password, ""), "password"),
        (registration("ann", "ann@example.org", PASSWORD, &long_name), "display_name"),
        (registration("ann", "ann@example.org", PASSWORD, "tab\there"), "display_name"),
    ];
    for (request, field) in cases {
        let shown = format!("{}/{}/{}", request.username, request.email, request.display_name);
        let status = assert_status(app.client.register(request).await, Code::InvalidArgument, field);
        assert!(status.message().starts_with(&format!("{field}: ")), "{shown}: {status:?}");
    }
    // Nothing was stored: the valid form of the name is still free.
    assert_eq!(app.register("ann").await.username, "ann");
}

#[tokio::test]
async fn invalid_logins_profiles_preferences_ids_and_tokens_name_the_field() {
    let mut app = spawn_app().await;
    let ann = app.register("ann").await;
    let login =
        |login: &str, password: &str| pb::LoginRequest { login: login.into(), password: password.into() };
    assert_status(app.client.login(login("", PASSWORD)).await, Code::InvalidArgument, "login");
    assert_status(app.client.login(login("ann", "")).await, Code::InvalidArgument, "password");
    assert_status(app.client.login(login("ann", &"p".repeat(257))).await, Code::InvalidArgument, "password");

    assert_status(app.get(0).await, Code::InvalidArgument, "user_id");
    let delete = app.client.delete_user(pb::DeleteUserRequest { user_id: 0 }).await;
    assert_status(delete, Code::InvalidArgument, "user_id");

    let profile = |user_id: u64, display_name: &str, email: &str| pb::UpdateProfileRequest {
        user_id,
        display_name: display_name.into(),
        email: email.into(),
    };
    for (request, field) in [
        (profile(0, "x", ""), "user_id"),
        (profile(ann.user_id, "", "not-an-email"), "email"),
        (profile(ann.user_id, &"n".repeat(101), ""), "display_name"),
    ] {
        assert_status(app.client.update_profile(request).await, Code::InvalidArgument, field);
    }

    let prefs = |genres: &[&str], languages: &[&str], blocked: &[u64]| pb::Preferences {
        favourite_genres: genres.iter().map(|g| g.to_string()).collect(),
        languages: languages.iter().map(|l| l.to_string()).collect(),
        blocked_movie_ids: blocked.to_vec(),
    };
    for (preferences, field) in [
        (prefs(&["Drama", "Polka"], &[], &[]), "preferences.favourite_genres[1]"),
        (prefs(&["(no genres listed)"], &[], &[]), "preferences.favourite_genres[0]"),
        (prefs(&[], &["en", "english"], &[]), "preferences.languages[1]"),
        (prefs(&[], &["e1"], &[]), "preferences.languages[0]"),
        (prefs(&[], &[], &[1, 2, 0]), "preferences.blocked_movie_ids[2]"),
        (prefs(&[], &[], &vec![7; 10_001]), "preferences.blocked_movie_ids"),
    ] {
        assert_status(app.set_preferences(ann.user_id, preferences).await, Code::InvalidArgument, field);
    }
    assert_status(app.set_preferences(0, prefs(&[], &[], &[])).await, Code::InvalidArgument, "user_id");
    let missing = pb::UpdatePreferencesRequest { user_id: ann.user_id, preferences: None };
    assert_status(app.client.update_preferences(missing).await, Code::InvalidArgument, "preferences");

    let empty_token = pb::VerifyTokenRequest { token: String::new() };
    assert_status(app.client.verify_token(empty_token).await, Code::InvalidArgument, "token");

    assert_eq!(app.get(ann.user_id).await.unwrap().into_inner(), ann, "nothing changed");
    assert!(app.publisher.events().is_empty(), "no events for refused changes");
}
