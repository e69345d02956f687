//! Submit, change, delete, listings with paging, stats after every kind of change, and every
//! INVALID_ARGUMENT and NOT_FOUND case.

use std::time::Duration;

use prost::Message;
use proto::events::v1::{RatingChange, RatingEvent};
use proto::ratings::v1::{
    DeleteRatingRequest, GetMovieStatsRequest, ListMovieRatingsRequest, ListUserRatingsRequest,
};
use tonic::Code;

use crate::{TestApp, eventually, raw_redis, recomputed_and_stored, redis_url};

#[tokio::test]
async fn submit_change_delete_keep_stats_and_publish_events() {
    let (mut app, publisher) = TestApp::memory().await;
    assert_eq!(app.stats(7).await.count, 0, "a catalogue movie without ratings");

    let created = app.try_submit(1, 7, 4.0, "good").await.unwrap();
    assert!(!created.updated);
    let rating = created.rating.unwrap();
    assert_eq!((rating.user_id, rating.movie_id, rating.rating, rating.review.as_str()), (1, 7, 4.0, "good"));
    assert!(rating.timestamp_ms > 1_600_000_000_000);
    let stats = app.stats(7).await;
    assert_eq!((stats.movie_id, stats.count, stats.mean), (7, 1, 4.0));

    app.submit(2, 7, 2.5).await;
    let stats = app.stats(7).await;
    assert_eq!((stats.count, stats.mean), (2, 3.25));

    let changed = app.submit(1, 7, 5.0).await;
    assert!(changed.updated);
    let stats = app.stats(7).await;
    assert_eq!((stats.count, stats.mean), (2, 3.75));
    let listed = app.client.list_user_ratings(ListUserRatingsRequest { user_id: 1, ..Default::default() });
    let listed = listed.await.unwrap().into_inner();
    assert_eq!(listed.ratings[0].review, "", "a new submit replaces the review");

    let deleted = app.client.delete_rating(DeleteRatingRequest { user_id: 2, movie_id: 7 }).await.unwrap();
    let stats = app.stats(7).await;
    assert_eq!((stats.count, stats.mean), (1, 5.0));
    app.client.delete_rating(DeleteRatingRequest { user_id: 1, movie_id: 7 }).await.unwrap();
    let stats = app.stats(7).await;
    assert_eq!((stats.count, stats.mean), (0, 0.0));
    let redis = raw_redis(&redis_url()).await;
    assert_eq!(recomputed_and_stored(&redis, &app.prefix, 7).await, ((0, 0), (0, 0)));

    // Five changes, five events in order, with the ids the responses gave.
    eventually(Duration::from_secs(10), "five events", async || publisher.events().len() == 5).await;
    let events: Vec<RatingEvent> =
        publisher.events().iter().map(|e| RatingEvent::decode(e.payload.as_slice()).unwrap()).collect();
    let summary: Vec<(u64, u64, f32, RatingChange)> =
        events.iter().map(|e| (e.user_id, e.movie_id, e.rating, e.change())).collect();
    assert_eq!(
        summary,
        [
            (1, 7, 4.0, RatingChange::Created),
            (2, 7, 2.5, RatingChange::Created),
            (1, 7, 5.0, RatingChange::Updated),
            (2, 7, 0.0, RatingChange::Deleted),
            (1, 7, 0.0, RatingChange::Deleted),
        ]
    );
    assert_eq!(events[0].event_id, created.event_id);
    assert_eq!(events[3].event_id, deleted.into_inner().event_id);
    let keys: Vec<String> = publisher.events().into_iter().map(|e| e.key).collect();
    assert_eq!(keys, ["1", "2", "1", "2", "1"]);
    assert!(publisher.events().iter().all(|e| e.topic == "ratings-test"));
    app.stop().await;
}

#[tokio::test]
async fn listings_page_newest_first_with_totals_and_mean() {
    let (mut app, _publisher) = TestApp::memory().await;
    for movie in 1..=25u64 {
        app.submit(9, movie, if movie % 2 == 0 { 4.0 } else { 3.0 }).await;
        tokio::time::sleep(Duration::from_millis(2)).await; // distinct timestamps
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let request = ListUserRatingsRequest { user_id: 9, page_size: 10, page_token: token.clone() };
        let page = app.client.list_user_ratings(request).await.unwrap().into_inner();
        assert_eq!(page.total, 25);
        assert_eq!(page.mean, 0.0, "user listings carry no mean");
        seen.extend(page.ratings.iter().map(|r| r.movie_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, (1..=25).rev().collect::<Vec<u64>>(), "newest first, each once");

    for user in 1..=3u64 {
        app.submit(user, 50, user as f32).await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    app.try_submit(2, 50, 2.0, "meh").await.unwrap(); // now the newest
    let request = ListMovieRatingsRequest { movie_id: 50, page_size: 2, page_token: String::new() };
    let page = app.client.list_movie_ratings(request).await.unwrap().into_inner();
    assert_eq!(page.total, 3);
    assert_eq!(page.mean, 2.0);
    let users: Vec<u64> = page.ratings.iter().map(|r| r.user_id).collect();
    assert_eq!(users, [2, 3]);
    assert_eq!(page.ratings[0].review, "meh");
    assert_eq!(page.next_page_token, "o2");
    let request = ListMovieRatingsRequest { movie_id: 50, page_size: 2, page_token: page.next_page_token };
    let last = app.client.list_movie_ratings(request).await.unwrap().into_inner();
    assert_eq!(last.ratings.iter().map(|r| r.user_id).collect::<Vec<_>>(), [1]);
    assert_eq!(last.next_page_token, "");

    let empty = app.client.list_user_ratings(ListUserRatingsRequest { user_id: 77, ..Default::default() });
    let empty = empty.await.unwrap().into_inner();
    assert_eq!((empty.total, empty.ratings.len(), empty.next_page_token.as_str()), (0, 0, ""));
    app.stop().await;
}

#[tokio::test]
async fn invalid_arguments_name_the_field() {
    let (mut app, publisher) = TestApp::memory().await;
    let long_review = "x".repeat(10_001);
    let cases: [(u64, u64, f32, &str, &str); 9] = [
        (1, 1, 0.0, "", "rating"),
        (1, 1, 5.5, "", "rating"),
        (1, 1, 3.3, "", "rating"),
        (1, 1, -1.0, "", "rating"),
        (1, 1, f32::NAN, "", "rating"),
        (0, 1, 3.0, "", "user_id"),
        (1, 0, 3.0, "", "movie_id"),
        (1, 1, 3.0, &long_review, "review"),
        (1, 999, 3.0, "", "movie_id"), // not in the catalogue
    ];
    for (user, movie, rating, review, field) in cases {
        let status = app.try_submit(user, movie, rating, review).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{user}/{movie}/{rating}: {status:?}");
        assert!(status.message().starts_with(&format!("{field}: ")), "{field}: {}", status.message());
    }
    app.try_submit(1, 1, 3.0, &"é".repeat(10_000)).await.expect("10,000 characters are allowed");

    let list = |user_id, page_size, page_token: &str| ListUserRatingsRequest {
        user_id,
        page_size,
        page_token: page_token.to_owned(),
    };
    for (request, field) in [
        (list(1, 1001, ""), "page_size"),
        (list(1, 10, "garbage"), "page_token"),
        (list(1, 10, "o-3"), "page_token"),
        (list(0, 10, ""), "user_id"),
    ] {
        let status = app.client.list_user_ratings(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().starts_with(&format!("{field}: ")), "{}", status.message());
    }
    let bad_movie = ListMovieRatingsRequest { movie_id: 1, page_size: 0, page_token: "o".into() };
    let status = app.client.list_movie_ratings(bad_movie).await.unwrap_err();
    assert!(status.message().starts_with("page_token: "), "{}", status.message());
    let status = app.client.get_movie_stats(GetMovieStatsRequest { movie_id: 0 }).await.unwrap_err();
    assert!(status.message().starts_with("movie_id: "), "{}", status.message());
    let status = app.client.delete_rating(DeleteRatingRequest { user_id: 0, movie_id: 1 }).await.unwrap_err();
    assert!(status.message().starts_with("user_id: "), "{}", status.message());

    eventually(Duration::from_secs(10), "the one valid submit's event", async || {
        publisher.events().len() == 1
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn unknown_ids_are_not_found() {
    let (mut app, _publisher) = TestApp::memory().await;
    let status = app.client.get_movie_stats(GetMovieStatsRequest { movie_id: 4242 }).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let request = ListMovieRatingsRequest { movie_id: 4242, ..Default::default() };
    assert_eq!(app.client.list_movie_ratings(request).await.unwrap_err().code(), Code::NotFound);
    let status = app.client.delete_rating(DeleteRatingRequest { user_id: 5, movie_id: 3 }).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert!(
        status.message().contains("user 5") && status.message().contains("movie 3"),
        "{}",
        status.message()
    );
    app.submit(5, 3, 1.5).await;
    app.client.delete_rating(DeleteRatingRequest { user_id: 5, movie_id: 3 }).await.unwrap();
    let again = app.client.delete_rating(DeleteRatingRequest { user_id: 5, movie_id: 3 }).await.unwrap_err();
    assert_eq!(again.code(), Code::NotFound);
    app.stop().await;
}

/// Every RPC is counted by the service kit's layer, with its code, in the family every service
/// shares.
#[tokio::test]
async fn rpcs_are_counted_by_method_and_code() {
    let (mut app, _publisher) = TestApp::memory().await;
    app.submit(1, 1, 4.0).await;
    app.submit(1, 2, 3.5).await;
    let refused = app.try_submit(1, 3, 7.0, "").await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let page = service_common::testing::scrape_metrics(app.metrics).await;
    service_common::testing::assert_lines(
        &page,
        &[
            r#"cinerec_rpc_requests_total{service="ratings",method="SubmitRating",code="OK"} 2"#,
            r#"cinerec_rpc_requests_total{service="ratings",method="SubmitRating",code="INVALID_ARGUMENT"} 1"#,
            r#"cinerec_rpc_duration_seconds_count{service="ratings",method="SubmitRating"} 3"#,
        ],
    );
    app.stop().await;
}
