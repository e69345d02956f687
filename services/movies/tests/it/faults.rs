//! Storage outages: with PostgreSQL or S3 unreachable (a closed port) requests fail with
//! UNAVAILABLE after the bounded retries, quickly, without leaking addresses or credentials.

use std::sync::Arc;
use std::time::{Duration, Instant};

use events::MemoryPublisher;
use movies::{PgMovieStore, PgSettings, S3Media, Secret};
use proto::movies::v1 as pb;
use service_common::testing::free_port;
use tonic::Code;

use crate::helpers::{TestApp, TestDb, failure, fresh_media, s3_settings, unique};

#[tokio::test]
async fn postgres_down_is_unavailable() {
    let mut settings = PgSettings::new(Secret::new(format!(
        "postgres://postgres:pw-secret@127.0.0.1:{}/movies",
        free_port()
    )));
    settings.acquire_timeout = Duration::from_millis(300);
    let store = PgMovieStore::connect_lazy(&settings).unwrap();
    let media = fresh_media(s3_settings).await;
    let mut app =
        TestApp::serve(store, media, Arc::new(MemoryPublisher::new()), &unique("movies-events")).await;
    let started = Instant::now();
    let c = &mut app.client;
    for (name, (code, message)) in [
        ("get", failure(c.get_movie(pb::GetMovieRequest { movie_id: 1 }).await)),
        ("list", failure(c.list_movies(pb::ListMoviesRequest::default()).await)),
        ("search", failure(c.search_movies(pb::SearchMoviesRequest { query: "toy".into(), limit: 0 }).await)),
        (
            "create",
            failure(
                c.create_movie(pb::CreateMovieRequest {
                    movie: Some(pb::Movie { title: "A".into(), ..Default::default() }),
                })
                .await,
            ),
        ),
    ] {
        assert_eq!(code, Code::Unavailable, "{name}: {message}");
        assert!(!message.contains("127.0.0.1") && !message.contains("pw-secret"), "{name}: {message}");
    }
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(10), "four calls took {elapsed:?}");
    // Validation still answers without the database.
    let (code, _) = failure(app.client.get_movie(pb::GetMovieRequest { movie_id: 0 }).await);
    assert_eq!(code, Code::InvalidArgument);
    app.finish().await;
}

#[tokio::test]
async fn s3_down_is_unavailable_and_keeps_the_movie() {
    let db = TestDb::create().await;
    let store = PgMovieStore::connect(&db.settings()).await.unwrap();
    let mut settings = s3_settings("movies-down");
    settings.connection.endpoint = Some(format!("http://127.0.0.1:{}", free_port()));
    settings.connection.connect_timeout = Duration::from_millis(300);
    let media = S3Media::new(&settings).unwrap();
    let mut app =
        TestApp::serve(store, media, Arc::new(MemoryPublisher::new()), &unique("movies-events")).await;
    app.db = Some(db);
    app.create(1, "Toy Story", 1995, &[]).await;

    let started = Instant::now();
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let upload = pb::UploadMediaRequest {
        movie_id: 1,
        kind: pb::MediaKind::Poster as i32,
        content_type: "image/png".into(),
        data: png,
    };
    let (code, message) = failure(app.client.upload_media(upload).await);
    assert_eq!(code, Code::Unavailable, "{message}");
    let (code, message) = failure(app.client.delete_movie(pb::DeleteMovieRequest { movie_id: 1 }).await);
    assert_eq!(code, Code::Unavailable, "{message}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    // Nothing changed: the movie is still there, without a poster.
    let movie = app.client.get_movie(pb::GetMovieRequest { movie_id: 1 }).await.unwrap().into_inner();
    assert_eq!((movie.title.as_str(), movie.poster_url.as_str()), ("Toy Story", ""));
    app.finish().await;
}
