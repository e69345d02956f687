//! Posters and trailers on the real S3 server: upload, presigned URLs fetched with a plain HTTP
//! GET (and refused when tampered with or expired), replacement, and removal with the movie.

use std::sync::Arc;
use std::time::Duration;

use events::MemoryPublisher;
use proto::movies::v1 as pb;
use tonic::Code;

use crate::helpers::{Spawn, TestApp, failure, s3_settings, unique};

/// A plain HTTP GET without credentials: the status and, on success, the body and content type.
async fn http_get(url: &str) -> (u16, Vec<u8>, String) {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut response = agent.get(&url).call().unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = response.body_mut().read_to_vec().unwrap();
        (status, body, content_type)
    })
    .await
    .unwrap()
}

fn png(len: usize) -> Vec<u8> {
    let mut data = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    data.extend((0..len).map(|i| (i * 7 % 251) as u8));
    data
}

fn jpeg(len: usize) -> Vec<u8> {
    let mut data = vec![0xff, 0xd8, 0xff, 0xe0];
    data.extend((0..len).map(|i| (i * 13 % 251) as u8));
    data
}

fn webm(len: usize) -> Vec<u8> {
    let mut data = vec![0x1a, 0x45, 0xdf, 0xa3];
    data.extend((0..len).map(|i| (i % 256) as u8));
    data
}

fn request(movie_id: u64, kind: pb::MediaKind, content_type: &str, data: Vec<u8>) -> pb::UploadMediaRequest {
    pb::UploadMediaRequest { movie_id, kind: kind as i32, content_type: content_type.into(), data }
}

/// Replaces the last hex digit of the signature with another one.
fn tamper(url: &str) -> String {
    let at = url.find("X-Amz-Signature=").expect("a SigV4 presigned URL") + "X-Amz-Signature=".len();
    let end = url[at..].find('&').map_or(url.len(), |i| at + i);
    let last = url.as_bytes()[end - 1];
    let other = if last == b'0' { '1' } else { '0' };
    format!("{}{other}{}", &url[..end - 1], &url[end..])
}

#[tokio::test]
async fn posters_and_trailers_upload_presign_replace_and_delete() {
    let mut app = TestApp::spawn(Arc::new(MemoryPublisher::new())).await;
    app.create(1, "Toy Story", 1995, &["Animation"]).await;

    let poster = png(200_000);
    let movie = app
        .client
        .upload_media(request(1, pb::MediaKind::Poster, "image/png", poster.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(movie.poster_url.contains("movies/1/poster.png"), "{}", movie.poster_url);
    assert!(movie.poster_url.contains("X-Amz-Expires=900"), "15-minute default TTL: {}", movie.poster_url);
    assert_eq!(movie.trailer_url, "");
    assert_eq!(app.object_keys("movies/1/").await, ["movies/1/poster.png"]);

    // GetMovie hands out a URL that downloads the bytes without credentials...
    let got = app.client.get_movie(pb::GetMovieRequest { movie_id: 1 }).await.unwrap().into_inner();
    let (status, body, content_type) = http_get(&got.poster_url).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "image/png");
    assert!(body == poster, "downloaded poster differs ({} bytes)", body.len());
    // ...and a tampered one is refused.
    let (status, _, _) = http_get(&tamper(&got.poster_url)).await;
    assert_eq!(status, 403);

    // A JPEG replaces the PNG: same stable key stem, the old object is gone.
    let poster = jpeg(50_000);
    let movie = app
        .client
        .upload_media(request(1, pb::MediaKind::Poster, "image/jpeg", poster.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(movie.poster_url.contains("movies/1/poster.jpg"), "{}", movie.poster_url);
    assert_eq!(app.object_keys("movies/1/").await, ["movies/1/poster.jpg"]);
    assert_eq!(http_get(&movie.poster_url).await.1, poster);

    // A trailer (just over the poster limit: trailers may be larger).
    let trailer = webm((5 << 20) + 10);
    let movie = app
        .client
        .upload_media(request(1, pb::MediaKind::Trailer, "video/webm", trailer.clone()))
        .await
        .unwrap()
        .into_inner();
    let (status, body, content_type) = http_get(&movie.trailer_url).await;
    assert_eq!((status, content_type.as_str(), body.len()), (200, "video/webm", trailer.len()));
    // Listing shows the URLs too; updating the fields keeps the media.
    let listed = app.client.list_movies(pb::ListMoviesRequest::default()).await.unwrap().into_inner();
    assert!(
        listed.movies[0].poster_url.contains("poster.jpg")
            && listed.movies[0].trailer_url.contains("trailer.webm")
    );
    let update = pb::Movie {
        title: "Toy Story!".into(),
        poster_url: String::new(),
        trailer_url: String::new(),
        ..movie
    };
    let updated =
        app.client.update_movie(pb::UpdateMovieRequest { movie: Some(update) }).await.unwrap().into_inner();
    assert!(updated.poster_url.contains("poster.jpg"));

    // Deleting the movie removes its media, including stray objects under its prefix.
    app.media
        .client()
        .put_object()
        .bucket(app.media.bucket())
        .key("movies/1/stray")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    app.create(2, "Jumanji", 1995, &[]).await;
    app.client.upload_media(request(2, pb::MediaKind::Poster, "image/png", png(10))).await.unwrap();
    assert_eq!(app.object_keys("movies/1/").await.len(), 3);
    app.client.delete_movie(pb::DeleteMovieRequest { movie_id: 1 }).await.unwrap();
    assert!(app.object_keys("movies/1/").await.is_empty());
    assert_eq!(app.object_keys("movies/").await, ["movies/2/poster.png"], "other movies keep theirs");
    let (code, _) = failure(app.client.get_movie(pb::GetMovieRequest { movie_id: 1 }).await);
    assert_eq!(code, Code::NotFound);
    app.finish().await;
}

#[tokio::test]
async fn presigned_urls_expire() {
    let media = Box::new(|bucket: &str| {
        let mut settings = s3_settings(bucket);
        settings.url_ttl = Duration::from_secs(4);
        settings
    });
    let publisher = Arc::new(MemoryPublisher::new());
    let mut app = TestApp::spawn_with(Spawn { publisher, topic: unique("movies-events"), media }).await;
    app.create(7, "Se7en", 1995, &["Thriller"]).await;
    let movie = app
        .client
        .upload_media(request(7, pb::MediaKind::Poster, "image/png", png(100)))
        .await
        .unwrap()
        .into_inner();
    let signed_by = std::time::Instant::now(); // the URL was signed before this
    assert!(movie.poster_url.contains("X-Amz-Expires=4"), "{}", movie.poster_url);
    // A TTL long enough for a loaded machine to use the URL before it expires.
    assert_eq!(http_get(&movie.poster_url).await.0, 200);
    tokio::time::sleep(Duration::from_millis(5000).saturating_sub(signed_by.elapsed())).await;
    let (status, _, _) = http_get(&movie.poster_url).await;
    assert_eq!(status, 403, "an expired URL is refused");
    app.finish().await;
}
