//! Passwords, hashes and tokens never appear in logs or responses.

use prost::Message;
use proto::users::v1 as pb;
use users::domain::NewAccount;

use crate::helpers::{captured_logs, spawn_app, test_config};

#[tokio::test]
async fn passwords_hashes_and_tokens_stay_out_of_logs_and_responses() {
    let mut app = spawn_app().await;
    let password = format!("Pa55word-{}", uuid::Uuid::new_v4().simple());
    let register = pb::RegisterRequest {
        username: "ann".into(),
        email: "ann@example.org".into(),
        password: password.clone(),
        display_name: "Ann".into(),
    };
    assert!(!format!("{:?}", NewAccount::parse(&register).unwrap()).contains(&password));
    let registered = app.client.register(register).await.unwrap().into_inner();
    let user_id = registered.user.as_ref().unwrap().user_id;
    let login = pb::LoginRequest { login: "ann".into(), password: password.clone() };
    let logged_in = app.client.login(login).await.unwrap().into_inner();
    let token = logged_in.token.clone();
    let verified = app.client.verify_token(pb::VerifyTokenRequest { token: token.clone() }).await.unwrap();
    let profile = app.get(user_id).await.unwrap().into_inner();
    let refused = pb::LoginRequest { login: "ann@example.org".into(), password: format!("{password}!") };
    assert!(app.client.login(refused).await.is_err());

    let responses = [
        registered.encode_to_vec(),
        profile.encode_to_vec(),
        verified.into_inner().encode_to_vec(),
        pb::LoginResponse { token: String::new(), ..logged_in }.encode_to_vec(),
    ];
    for bytes in responses {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&password) && !text.contains("argon2"), "{text}");
    }

    let logs = captured_logs();
    assert!(logs.contains(&format!("user_id={user_id}")), "the capture works: {logs}");
    assert!(!logs.contains(&password), "a password was logged");
    let signature = token.rsplit('.').next().unwrap();
    assert!(!logs.contains(signature), "a token was logged");
    assert!(!logs.contains("$argon2"), "a hash was logged");
    assert!(!logs.contains(crate::helpers::SECRET), "the token secret was logged");
    let config = format!("{:?}", test_config());
    assert!(!config.contains(crate::helpers::SECRET), "{config}");
}
