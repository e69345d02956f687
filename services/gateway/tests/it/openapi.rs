//! The OpenAPI document: valid OpenAPI 3.1 (checked against the OpenAPI Initiative's schema,
//! vendored in `tests/fixtures`), every route of the API in it and every path in it served,
//! and real answers matching their documented schemas; the docs page is served with no
//! external asset.

use std::collections::BTreeSet;

use crate::helpers::{Answer, Platform, wait_ready};

/// The routes the API offers (method, path under `/api/v1`).
const ROUTES: &[(&str, &str)] = &[
    ("post", "/auth/register"),
    ("post", "/auth/login"),
    ("get", "/me"),
    ("patch", "/me"),
    ("delete", "/me"),
    ("get", "/me/preferences"),
    ("put", "/me/preferences"),
    ("get", "/me/ratings"),
    ("put", "/me/ratings/{movie_id}"),
    ("delete", "/me/ratings/{movie_id}"),
    ("get", "/users/{user_id}/ratings"),
    ("put", "/users/{user_id}/ratings/{movie_id}"),
    ("delete", "/users/{user_id}/ratings/{movie_id}"),
    ("get", "/movies"),
    ("post", "/movies"),
    ("get", "/movies/popular"),
    ("get", "/movies/{movie_id}"),
    ("post", "/movies/{movie_id}"),
    ("patch", "/movies/{movie_id}"),
    ("delete", "/movies/{movie_id}"),
    ("put", "/movies/{movie_id}/poster"),
    ("put", "/movies/{movie_id}/trailer"),
    ("get", "/movies/{movie_id}/similar"),
    ("get", "/movies/{movie_id}/ratings"),
    ("get", "/me/recommendations"),
    ("get", "/me/recommendations/{movie_id}/why"),
    ("post", "/recommendations/session"),
    ("post", "/events"),
    ("get", "/openapi.json"),
    ("get", "/docs"),
];

/// The schema violations of `answer`'s body against the document's schema `name`.
fn violations(document: &serde_json::Value, name: &str, answer: &Answer) -> Vec<String> {
    let schema = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{name}"),
        "components": document["components"],
    });
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("schema {name}: {e}"));
    validator.iter_errors(&answer.body).map(|e| format!("{e} at {}", e.instance_path())).collect()
}

/// Checks `answer`'s body against the document's schema `name`.
fn assert_matches(document: &serde_json::Value, name: &str, answer: &Answer) {
    let errors = violations(document, name, answer);
    assert!(errors.is_empty(), "{name}: {errors:?}\n{:#}", answer.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_valid_openapi_3_1_lists_every_route_and_matches_the_answers() {
    let platform = Platform::start().await;
    wait_ready(&platform).await;
    let answer = platform.req("GET", "/api/v1/openapi.json").send().await;
    assert_eq!(answer.status, 200);
    let document = answer.body;
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1."), "{}", document["openapi"]);

    let meta: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/openapi-3.1-schema.json")).unwrap();
    let validator = jsonschema::validator_for(&meta).unwrap();
    let errors: Vec<String> =
        validator.iter_errors(&document).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "not valid OpenAPI 3.1: {errors:?}");
    for (name, schema) in document["components"]["schemas"].as_object().unwrap() {
        assert!(jsonschema::meta::is_valid(schema), "component {name} is not a valid JSON Schema");
    }

    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().unwrap().keys().map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let expected: BTreeSet<(String, String)> =
        ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
    assert_eq!(documented, expected, "the document lists exactly the API's routes");
    // Every documented route is served: the router answers it (a handler's own 4xx is a problem
    // document; a route the router does not know is a bare 404/405).
    for (method, path) in &documented {
        let concrete = path.replace("{movie_id}", "1").replace("{user_id}", "1");
        let method: &'static str = Box::leak(method.to_uppercase().into_boxed_str());
        let answer = platform.req(method, &format!("/api/v1{concrete}")).send().await;
        let routed = !matches!(answer.status, 404 | 405)
            || answer.header("content-type") == Some("application/problem+json");
        assert!(routed, "{method} {path} is documented but not served: {answer:?}");
    }

    // Real answers match their schemas.
    let (token, _) = platform.sign_up("schema").await;
    for (path, schema, token) in [
        ("/api/v1/movies/1", "MovieView", None),
        ("/api/v1/movies?q=toy", "MoviesPageView", None),
        ("/api/v1/movies/popular?n=3", "RecommendationList", None),
        ("/api/v1/movies/1/similar?n=3", "RecommendationList", None),
        ("/api/v1/movies/1/ratings", "RatingsPageView", None),
        ("/api/v1/me", "UserView", Some(&token)),
        ("/api/v1/me/recommendations", "RecommendationList", Some(&token)),
        ("/api/v1/movies?limit=0", "ProblemDoc", None),
        ("/api/v1/movies/99999", "ProblemDoc", None),
    ] {
        let mut request = platform.req("GET", path);
        if let Some(token) = token {
            request = request.token(token);
        }
        assert_matches(&document, schema, &request.send().await);
    }

    // The check can fail: a problem document is not a movie.
    let problem = platform.req("GET", "/api/v1/movies/99999").send().await;
    assert!(!violations(&document, "MovieView", &problem).is_empty());

    let docs = platform.req("GET", "/api/v1/docs").send().await;
    assert_eq!((docs.status, docs.header("content-type")), (200, Some("text/html; charset=utf-8")));
    let page = docs.body.as_str().unwrap();
    assert!(
        page.contains("openapi.json") && !page.contains("http://") && !page.contains("https://"),
        "no external asset"
    );
}
