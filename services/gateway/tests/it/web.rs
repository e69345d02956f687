//! The web app over HTTP, as a browser without JavaScript uses it: pages, sign-up with the
//! session cookie, rating by form, "for you" following the rating, why, blocking, sign-out;
//! cross-site posts refused; a wrong password is a message on the form.

use std::time::Duration;

use crate::helpers::{Answer, Platform, eventually};

fn html(answer: &Answer) -> &str {
    answer.body.as_str().unwrap_or_default()
}

/// The `cinerec_session=…` pair of a `Set-Cookie` answer.
fn session(answer: &Answer) -> String {
    let set = answer.header("set-cookie").unwrap_or_else(|| panic!("no cookie: {answer:?}"));
    set.split(';').next().unwrap().to_owned()
}

/// The movie ids of the cards in section `id` of a page.
fn section_ids(page: &str, id: &str) -> Vec<u64> {
    let Some(start) = page.find(&format!("id=\"{id}\"")) else { return Vec::new() };
    let section = &page[start..];
    let section = &section[..section.find("</section>").unwrap_or(section.len())];
    section
        .split("data-movie-id=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_uses_the_web_app_without_javascript() {
    let platform = Platform::start().await;
    let home = platform.req("GET", "/").send().await;
    assert_eq!(home.status, 200, "{home:?}");
    assert!(html(&home).contains("Popular now") && !html(&home).contains("For you"));
    assert_eq!(section_ids(html(&home), "popular-section").len(), 12);
    let css = platform.req("GET", "/static/app.css").send().await;
    assert_eq!((css.status, css.header("content-type")), (200, Some("text/css")));

    let search = platform.req("GET", "/search?q=toy+story").send().await;
    assert!(html(&search).contains("Toy Story") && html(&search).contains("<label for=\"q\">"), "{search:?}");
    let fragment = platform.req("GET", "/search?q=toy+story&partial=1").send().await;
    assert!(html(&fragment).contains("Toy Story") && !html(&fragment).contains("<html"), "{fragment:?}");

    // Cross-site form posts are refused; a wrong password is a message, not an error page.
    let forged = platform.req("POST", "/signup").header("origin", "http://evil.example").raw(
        "application/x-www-form-urlencoded",
        b"username=eve&email=e%40example.org&password=correct+horse".to_vec(),
    );
    let forged = forged.send().await;
    assert_eq!(forged.status, 403, "{forged:?}");
    assert!(html(&forged).contains("another site"));
    let account = [("username", "webann"), ("email", "webann@example.org"), ("password", "correct horse")];
    let signed_up = platform.req("POST", "/signup").form(&account).send().await;
    assert_eq!((signed_up.status, signed_up.header("location")), (303, Some("/")), "{signed_up:?}");
    let set_cookie = signed_up.header("set-cookie").unwrap();
    assert!(
        set_cookie.contains("HttpOnly")
            && set_cookie.contains("SameSite=Lax")
            && !set_cookie.contains("Secure"),
        "{set_cookie}"
    );
    let cookie = session(&signed_up);
    let wrong =
        platform.req("POST", "/signin").form(&[("login", "webann"), ("password", "wrong one")]).send().await;
    assert_eq!(wrong.status, 401);
    assert!(
        html(&wrong).contains("Wrong username or password.") && html(&wrong).contains("<form"),
        "{wrong:?}"
    );

    // Signed in: "for you" starts from popularity; a 5-star rating by form changes it.
    let home = platform.req("GET", "/").header("cookie", &cookie).send().await;
    assert!(html(&home).contains("data-source=\"popularity\""), "{home:?}");
    let before = section_ids(html(&home), "for-you-section");
    let rated = platform
        .req("POST", "/movies/1/rating")
        .header("cookie", &cookie)
        .form(&[("rating", "5.0")])
        .send()
        .await;
    assert_eq!((rated.status, rated.header("location")), (303, Some("/movies/1")), "{rated:?}");
    let by_script = platform
        .req("POST", "/movies/71/rating")
        .header("cookie", &cookie)
        .header("x-requested-with", "fetch")
        .form(&[("rating", "4.5")])
        .send()
        .await;
    assert_eq!((by_script.status, by_script.body["rating"].as_str()), (200, Some("4.5")), "{by_script:?}");
    let after = eventually("the rating reaches serving", Duration::from_secs(60), || async {
        let home = platform.req("GET", "/").header("cookie", &cookie).send().await;
        html(&home).contains("data-source=\"fold_in\"").then(|| section_ids(html(&home), "for-you-section"))
    })
    .await;
    assert_ne!(after, before);
    let page = platform.req("GET", "/movies/1").header("cookie", &cookie).send().await;
    assert!(html(&page).contains("value=\"5.0\" checked"), "the page shows the rating");
    let why =
        platform.req("GET", &format!("/movies/{}?rec=1", after[0])).header("cookie", &cookie).send().await;
    assert!(html(&why).contains("Why: because you liked"), "{why:?}");
    let mine = platform.req("GET", "/me/ratings").header("cookie", &cookie).send().await;
    assert!(html(&mine).contains("Toy Story"), "{mine:?}");

    // Blocking a movie removes it from every list on the home page.
    let blocked = after[0];
    let block = platform
        .req("POST", &format!("/movies/{blocked}/block"))
        .header("cookie", &cookie)
        .form(&[])
        .send()
        .await;
    assert_eq!(block.status, 303, "{block:?}");
    eventually("the blocked movie disappears", Duration::from_secs(60), || async {
        let home = platform.req("GET", "/").header("cookie", &cookie).send().await;
        let page = html(&home);
        let gone = !section_ids(page, "for-you-section").contains(&blocked)
            && !section_ids(page, "popular-section").contains(&blocked);
        gone.then_some(())
    })
    .await;
    let preferences = platform.req("GET", "/me/preferences").header("cookie", &cookie).send().await;
    assert!(html(&preferences).contains(&format!("/movies/{blocked}/unblock")), "{preferences:?}");

    // Signing out clears the cookie.
    let out = platform.req("POST", "/signout").header("cookie", &cookie).form(&[]).send().await;
    assert!(out.header("set-cookie").is_some_and(|c| c.contains("Max-Age=0")), "{out:?}");
    let page = platform.req("GET", "/me/ratings").send().await;
    assert_eq!((page.status, page.header("location")), (303, Some("/signin?next=/me/ratings")), "{page:?}");
}
