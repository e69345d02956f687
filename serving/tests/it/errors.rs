//! Every refused request: the gRPC code and a message naming the field (and the id), as data
//! through one `check` helper; and UNAVAILABLE + NOT_SERVING while no model exists.

use proto::recommendation::v1::{
    ExplainRequest, ModelInfoRequest, RecommendBatchRequest, RecommendRequest, SimilarMoviesRequest,
};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::helpers::{self, Client, TestApp, metric};

/// An id no ml-100k movie or user has.
const UNKNOWN: u64 = 987_654;

enum Call {
    Recommend(RecommendRequest),
    Batch(RecommendBatchRequest),
    Similar(SimilarMoviesRequest),
    Explain(ExplainRequest),
}

async fn check(client: &mut Client, call: Call, code: Code, field: &str, mentions: &str) {
    let status = match call {
        Call::Recommend(r) => client.recommend(r).await.map(drop),
        Call::Batch(r) => client.recommend_batch(r).await.map(drop),
        Call::Similar(r) => client.similar_movies(r).await.map(drop),
        Call::Explain(r) => client.explain(r).await.map(drop),
    }
    .expect_err("the request must be refused");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(status.message().starts_with(&format!("{field}: ")), "field `{field}` in {status:?}");
    assert!(status.message().contains(mentions), "`{mentions}` in {status:?}");
    // A client (the REST gateway) reads the field from the google.rpc.BadRequest details.
    let public = contract::PublicError::from(&status);
    if code == Code::InvalidArgument {
        assert_eq!(public.fields.len(), 1, "one BadRequest violation in {status:?}");
        assert_eq!(public.fields[0].field, field, "{status:?}");
    } else {
        assert!(public.fields.is_empty(), "no BadRequest details on {status:?}");
    }
}

fn user(n: u32) -> RecommendRequest {
    RecommendRequest { user_id: 1, n, ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_invalid_argument_naming_the_field() {
    let (_dir, store) = helpers::local_store();
    helpers::publish(&store, helpers::model()).await;
    let app = TestApp::spawn(helpers::config(""), store).await;
    let mut client = app.client.clone();
    let unknown = format!("movie {UNKNOWN} is not known");
    let invalid = Code::InvalidArgument;
    let cases = [
        (Call::Recommend(user(1001)), invalid, "n", "at most 1000, got 1001".to_string()),
        (
            Call::Recommend(RecommendRequest { allow_movie_ids: vec![1, UNKNOWN], ..user(5) }),
            invalid,
            "allow_movie_ids",
            unknown.clone(),
        ),
        (
            Call::Recommend(RecommendRequest { deny_movie_ids: vec![UNKNOWN], ..user(5) }),
            invalid,
            "deny_movie_ids",
            unknown.clone(),
        ),
        (
            Call::Recommend(RecommendRequest {
                user_id: UNKNOWN,
                recent_movie_ids: vec![50, UNKNOWN],
                n: 5,
                ..Default::default()
            }),
            invalid,
            "recent_movie_ids",
            unknown.clone(),
        ),
        (
            Call::Batch(RecommendBatchRequest { requests: vec![] }),
            invalid,
            "requests",
            "at least one".to_string(),
        ),
        (
            Call::Batch(RecommendBatchRequest { requests: vec![user(5); 1001] }),
            invalid,
            "requests",
            "at most 1000 requests, got 1001".to_string(),
        ),
        (
            Call::Batch(RecommendBatchRequest { requests: vec![user(5), user(5000)] }),
            invalid,
            "requests[1].n",
            "got 5000".to_string(),
        ),
        (
            Call::Batch(RecommendBatchRequest {
                requests: vec![
                    user(5),
                    user(5),
                    RecommendRequest { deny_movie_ids: vec![UNKNOWN], ..user(5) },
                ],
            }),
            invalid,
            "requests[2].deny_movie_ids",
            unknown.clone(),
        ),
        (
            Call::Similar(SimilarMoviesRequest { movie_id: UNKNOWN, n: 5 }),
            invalid,
            "movie_id",
            unknown.clone(),
        ),
        (Call::Similar(SimilarMoviesRequest { movie_id: 1, n: 1001 }), invalid, "n", "got 1001".to_string()),
        (
            Call::Explain(ExplainRequest { user_id: 1, movie_id: UNKNOWN, ..Default::default() }),
            invalid,
            "movie_id",
            unknown.clone(),
        ),
        (
            Call::Explain(ExplainRequest { user_id: 1, movie_id: 1, n: 1001, ..Default::default() }),
            invalid,
            "n",
            "got 1001".to_string(),
        ),
        (
            Call::Explain(ExplainRequest { user_id: 1, movie_id: 1, recent_movie_ids: vec![UNKNOWN], n: 3 }),
            invalid,
            "recent_movie_ids",
            unknown.clone(),
        ),
        (
            Call::Explain(ExplainRequest { user_id: UNKNOWN, movie_id: 1, ..Default::default() }),
            Code::NotFound,
            "user_id",
            format!("user {UNKNOWN} is not known"),
        ),
    ];
    let n_cases = cases.len();
    for (call, code, field, mentions) in cases {
        check(&mut client, call, code, field, &mentions).await;
    }
    // The largest allowed values pass.
    client.recommend(user(1000)).await.unwrap();
    client.recommend_batch(RecommendBatchRequest { requests: vec![user(1); 1000] }).await.unwrap();
    let page = app.metrics().await;
    let refused: f64 = ["Recommend", "RecommendBatch", "SimilarMovies", "Explain"]
        .iter()
        .map(|m| {
            let count = |code: &str| {
                let sample =
                    format!(r#"cinerec_rpc_requests_total{{service="serving",method="{m}",code="{code}"}}"#);
                metric(&page, &sample)
            };
            count("INVALID_ARGUMENT") + count("NOT_FOUND")
        })
        .sum();
    assert_eq!(refused as usize, n_cases, "{page}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_model_health_is_not_serving_and_queries_are_unavailable_until_one_is_published() {
    let (_dir, store) = helpers::local_store();
    let publisher = artifacts::open_store(_dir.path().to_str().unwrap(), None).unwrap();
    let app = TestApp::spawn(helpers::config(""), store).await;
    let mut client = app.client.clone();
    assert_eq!(app.health().await, ServingStatus::NotServing);
    let status = client.recommend(user(5)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("no model is loaded yet"), "{status:?}");
    assert_eq!(client.model_info(ModelInfoRequest {}).await.unwrap_err().code(), Code::Unavailable);

    let version = helpers::publish(&publisher, helpers::model()).await;
    let refreshed = client.refresh_model(proto::recommendation::v1::RefreshModelRequest {}).await.unwrap();
    assert_eq!(
        (refreshed.get_ref().swapped, refreshed.get_ref().model_version.as_str()),
        (true, version.as_str())
    );
    assert_eq!(app.health().await, ServingStatus::Serving);
    let response = client.recommend(user(5)).await.unwrap().into_inner();
    assert_eq!((response.movies.len(), response.model_version), (5, version.to_string()));
    app.stop().await;
}
