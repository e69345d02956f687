//! The web app in a real browser: Debian's Chromium, headless, through ChromeDriver
//! (`scripts/start-server chromedriver`), against the platform on 127.0.0.1. One journey with
//! JavaScript on (sign up → search as you type → open → rate 5 stars without a reload → "for
//! you" changes once the rating event reaches serving → why → block → sign out), one with it
//! off (search and rate by plain forms), and the refusals (a cross-site form, a wrong password).
//! Screenshots of the home, search, movie and "for you" pages are written to
//! `$CARGO_TARGET_DIR/screenshots` (or `CINEREC_SCREENSHOT_DIR`).

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use prost::Message;
use serde_json::json;

use crate::helpers::{Platform, eventually};

/// How long an event may take to travel ratings → Kafka → serving.
const EVENTS: Duration = Duration::from_secs(60);

/// A headless Chromium session (a fresh profile each time).
async fn browser(javascript: bool) -> (Client, tempfile::TempDir) {
    let profile = tempfile::tempdir().unwrap();
    let mut options = json!({
        "binary": service_common::testing::server_url("CINEREC_CHROMIUM_BIN"),
        "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--window-size=1100,900", format!("--user-data-dir={}", profile.path().display()),
        ],
    });
    if !javascript {
        options["prefs"] = json!({"profile.managed_default_content_settings.javascript": 2});
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), options);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&service_common::testing::server_url("CINEREC_TEST_WEBDRIVER_URL"))
        .await
        .expect("a ChromeDriver session");
    (client, profile)
}

fn screenshot_dir() -> PathBuf {
    std::env::var_os("CINEREC_SCREENSHOT_DIR").map(PathBuf::from).unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"), PathBuf::from);
        target.join("screenshots")
    })
}

async fn screenshot(client: &Client, name: &str) {
    let dir = screenshot_dir();
    fs_err::create_dir_all(&dir).unwrap();
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    fs_err::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// The text of `css`, waiting (up to 10 s) for it to be on the page: after a click the next
/// page may still be loading.
async fn text(client: &Client, css: &str) -> String {
    let element = client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(css)).await;
    element.unwrap_or_else(|e| panic!("{css}: {e}")).text().await.unwrap()
}

/// The movie ids of the cards in section `id` of the current page.
async fn ids_in(client: &Client, section: &str) -> Vec<u64> {
    let script = format!(
        "return Array.from(document.querySelectorAll('#{section} [data-movie-id]')).map(e => Number(e.dataset.movieId));"
    );
    let answer = client.execute(&script, vec![]).await.unwrap();
    answer.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect()
}

async fn sign_up(client: &Client, base: &str, name: &str) {
    client.goto(&format!("{base}/signup")).await.unwrap();
    let form = client.form(Locator::Css("form.account")).await.unwrap();
    form.set_by_name("username", name).await.unwrap();
    form.set_by_name("email", &format!("{name}@example.org")).await.unwrap();
    form.set_by_name("password", "correct horse").await.unwrap();
    form.submit().await.unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#for-you-section"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journey_in_a_real_browser() {
    let platform = Platform::start().await;
    let base = format!("http://{}", platform.gateway.addr);
    let (client, _profile) = browser(true).await;

    sign_up(&client, &base, "chromeann").await;
    assert_eq!(text(&client, ".source strong").await, "popular now");
    let before = ids_in(&client, "for-you-section").await;
    screenshot(&client, "home").await;

    // Search as you type: results appear without submitting.
    client.goto(&format!("{base}/search")).await.unwrap();
    client.find(Locator::Css("#q")).await.unwrap().send_keys("toy story").await.unwrap();
    let hit = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#results a[href='/movies/1']"))
        .await
        .unwrap();
    assert!(
        client.current_url().await.unwrap().as_str().contains("q=toy+story"),
        "the address follows the search"
    );
    screenshot(&client, "search").await;
    hit.click().await.unwrap();
    assert!(text(&client, "h1").await.starts_with("Toy Story"));
    screenshot(&client, "movie").await;

    // Rate 5 stars: the page is not reloaded (a marker set before survives).
    client.execute("window.__notReloaded = true; return true;", vec![]).await.unwrap();
    client.find(Locator::Css("label[for='star-1']")).await.unwrap().click().await.unwrap();
    client.find(Locator::Css("#rating-form button[type=submit]")).await.unwrap().click().await.unwrap();
    eventually("the rating is saved", Duration::from_secs(10), || async {
        (text(&client, "#rating-status").await.starts_with("Saved: 5.0")).then_some(())
    })
    .await;
    assert_eq!(client.execute("return window.__notReloaded === true;", vec![]).await.unwrap(), json!(true));

    // "For you" changes once the rating event reached serving (no retrain).
    eventually("for you follows the rating", EVENTS, || async {
        client.goto(&format!("{base}/")).await.unwrap();
        let source =
            client.find(Locator::Css("#for-you-section")).await.unwrap().attr("data-source").await.unwrap();
        (source.as_deref() == Some("fold_in")).then_some(())
    })
    .await;
    let recommended = ids_in(&client, "for-you-section").await;
    assert_ne!(recommended, before);
    assert_eq!(text(&client, ".source strong").await, "your recent ratings");
    screenshot(&client, "for-you").await;

    // Why, on a recommended movie; then block it, and it vanishes from every list.
    let card = client.find(Locator::Css("#for-you-section [data-movie-id]")).await.unwrap();
    let list_id = card.attr("data-recommendation-id").await.unwrap().expect("cards carry their list's id");
    card.find(Locator::Css("a")).await.unwrap().click().await.unwrap();
    assert!(text(&client, "#why").await.starts_with("Why: because you liked"));
    // The click (its list, position and movie) and the movie page's view reached Kafka for
    // analytics, as the signed-in user.
    let clicked = crate::helpers::find_event(&platform.upstreams.topics.activity, |payload| {
        let event = proto::events::v1::ActivityRecorded::decode(payload).ok()?;
        (event.event_type == "click" && event.recommendation_id == list_id).then_some(event)
    })
    .await;
    assert_eq!((clicked.movie_id, clicked.position), (recommended[0], Some(0)));
    assert!(clicked.user_id > 0 && clicked.anonymous_id.is_empty(), "{clicked:?}");
    crate::helpers::find_event(&platform.upstreams.topics.activity, |payload| {
        let event = proto::events::v1::ActivityRecorded::decode(payload).ok()?;
        (event.event_type == "view" && event.movie_id == recommended[0] && event.user_id == clicked.user_id)
            .then_some(())
    })
    .await;
    let blocked = recommended[0];
    client.find(Locator::Css("#block")).await.unwrap().click().await.unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(&format!("form[action='/movies/{blocked}/unblock']")))
        .await
        .unwrap();
    eventually("the blocked movie vanishes", EVENTS, || async {
        client.goto(&format!("{base}/")).await.unwrap();
        let everywhere =
            [ids_in(&client, "for-you-section").await, ids_in(&client, "popular-section").await].concat();
        (!everywhere.contains(&blocked)).then_some(())
    })
    .await;

    // A phone-width window needs no sideways scrolling.
    client.set_window_size(390, 844).await.unwrap();
    let fits = client
        .execute("return document.documentElement.scrollWidth <= window.innerWidth;", vec![])
        .await
        .unwrap();
    assert_eq!(fits, json!(true), "the home page fits a phone-width viewport");
    client.set_window_size(1100, 900).await.unwrap();

    // Sign out: the popular list, no "for you".
    client.find(Locator::Css("form[action='/signout'] button")).await.unwrap().click().await.unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#popular-section"))
        .await
        .unwrap();
    // #popular-section is on the signed-in page too: wait until the signed-out page replaced it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while client.find(Locator::Css("#for-you-section")).await.is_ok() && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(client.find(Locator::Css("#for-you-section")).await.is_err(), "signed out: no 'for you'");
    assert_eq!(ids_in(&client, "popular-section").await.len(), 12);

    // A wrong password is a message on the form.
    client.goto(&format!("{base}/signin")).await.unwrap();
    let form = client.form(Locator::Css("form.account")).await.unwrap();
    form.set_by_name("login", "chromeann").await.unwrap();
    form.set_by_name("password", "not the password").await.unwrap();
    form.submit().await.unwrap();
    assert_eq!(text(&client, "#form-error").await, "Wrong username or password.");

    // A form on another site (here a data: page) posting to the platform is refused.
    let forged = format!(
        "data:text/html,<form id=f method=post action='{base}/signup'><input name=username value=eve><input name=password value=secret123><button id=go>go</button></form>"
    );
    client.goto(&forged).await.unwrap();
    client.find(Locator::Css("#go")).await.unwrap().click().await.unwrap();
    eventually("the refusal page", Duration::from_secs(10), || async {
        client.source().await.unwrap().contains("sent from another site").then_some(())
    })
    .await;
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_javascript_search_and_rating_still_work() {
    let platform = Platform::start().await;
    let base = format!("http://{}", platform.gateway.addr);
    let (client, _profile) = browser(false).await;
    sign_up(&client, &base, "nojsbob").await;

    client.goto(&format!("{base}/search")).await.unwrap();
    let form = client.form(Locator::Css("#search-form")).await.unwrap();
    form.set_by_name("q", "toy story").await.unwrap();
    form.submit().await.unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#results a[href='/movies/1']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client.find(Locator::Css("label[for='star-2']")).await.unwrap().click().await.unwrap();
    client.find(Locator::Css("#rating-form button[type=submit]")).await.unwrap().click().await.unwrap();
    // The form posted and the page came back with the rating (with scripts on it would not
    // have reloaded, and the legend would not show it).
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#your-rating")).await.unwrap();
    assert_eq!(text(&client, "#your-rating").await, "4.5");
    assert_eq!(text(&client, "#rating-status").await, "", "no script wrote a status");
    client.goto(&format!("{base}/me/ratings")).await.unwrap();
    assert!(client.source().await.unwrap().contains("Toy Story"));
    client.close().await.unwrap();
}
