//! Create, read, update and delete through the gRPC API, the events each change publishes, and
//! every bad request answered with the right code naming the field.

use std::sync::Arc;

use events::MemoryPublisher;
use proto::events::v1::MovieChange;
use proto::movies::v1 as pb;
use tonic::Code;

use crate::helpers::{TestApp, failure, wait_for_events};

#[tokio::test]
async fn crud_round_trip_publishes_created_updated_deleted() {
    let publisher = Arc::new(MemoryPublisher::new());
    let mut app = TestApp::spawn(publisher.clone()).await;

    let heat = app.create(949, " Heat ", 1995, &["crime", "Action", "Thriller", "Action"]).await;
    assert_eq!(heat.movie_id, 949);
    assert_eq!(heat.title, "Heat");
    assert_eq!(heat.genres, ["Action", "Crime", "Thriller"]);
    assert_eq!((heat.poster_url.as_str(), heat.trailer_url.as_str()), ("", ""));

    // Id 0: the service picks the next free id.
    let next = app.create(0, "Casino", 1995, &["Drama"]).await;
    assert_eq!(next.movie_id, 950);

    let (code, message) = failure(
        app.client
            .create_movie(pb::CreateMovieRequest {
                movie: Some(pb::Movie { movie_id: 949, title: "Heat again".into(), ..Default::default() }),
            })
            .await,
    );
    assert_eq!(code, Code::AlreadyExists, "{message}");
    assert!(message.contains("movie_id") && message.contains("949"), "{message}");

    let got = app.client.get_movie(pb::GetMovieRequest { movie_id: 949 }).await.unwrap().into_inner();
    assert_eq!(got, heat);

    let changed = pb::Movie {
        movie_id: 949,
        title: "Heat".into(),
        year: 1995,
        genres: vec!["Crime".into(), "Drama".into()],
        imdb_id: "tt0113277".into(),
        tmdb_id: 949,
        ..Default::default()
    };
    let updated = app
        .client
        .update_movie(pb::UpdateMovieRequest { movie: Some(changed.clone()) })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated, changed);
    assert_eq!(
        app.client.get_movie(pb::GetMovieRequest { movie_id: 949 }).await.unwrap().into_inner(),
        changed
    );

    app.client.delete_movie(pb::DeleteMovieRequest { movie_id: 949 }).await.unwrap();
    for (code, message) in [
        failure(app.client.get_movie(pb::GetMovieRequest { movie_id: 949 }).await),
        failure(app.client.delete_movie(pb::DeleteMovieRequest { movie_id: 949 }).await),
        failure(app.client.update_movie(pb::UpdateMovieRequest { movie: Some(changed.clone()) }).await),
    ] {
        assert_eq!(code, Code::NotFound, "{message}");
        assert!(message.contains("949"), "{message}");
    }

    let events = wait_for_events(&publisher, 4).await;
    let seen: Vec<_> =
        events.iter().map(|(key, e)| (key.as_str(), e.movie_id, e.change(), e.title.as_str())).collect();
    assert_eq!(
        seen,
        [
            ("949", 949, MovieChange::Created, "Heat"),
            ("950", 950, MovieChange::Created, "Casino"),
            ("949", 949, MovieChange::Updated, "Heat"),
            ("949", 949, MovieChange::Deleted, ""),
        ]
    );
    let mut ids: Vec<_> = events.iter().map(|(_, e)| e.event_id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 4, "event ids are unique");
    app.finish().await;
}

/// One bad request and what must come back.
struct Bad {
    name: &'static str,
    call: Call,
    code: Code,
    field: &'static str,
}

enum Call {
    Create(pb::Movie),
    CreateWithoutMovie,
    Update(pb::Movie),
    Get(u64),
    List(pb::ListMoviesRequest),
    Search(pb::SearchMoviesRequest),
    Upload(pb::UploadMediaRequest),
}

fn movie(title: &str, year: i32, genres: &[&str]) -> pb::Movie {
    pb::Movie {
        movie_id: 0,
        title: title.into(),
        year,
        genres: genres.iter().map(|g| g.to_string()).collect(),
        ..Default::default()
    }
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01";

fn upload(movie_id: u64, kind: pb::MediaKind, content_type: &str, data: Vec<u8>) -> Call {
    Call::Upload(pb::UploadMediaRequest {
        movie_id,
        kind: kind as i32,
        content_type: content_type.into(),
        data,
    })
}

#[tokio::test]
async fn bad_requests_are_refused_naming_the_field() {
    let mut app = TestApp::spawn(Arc::new(MemoryPublisher::new())).await;
    app.create(1, "Toy Story", 1995, &["Animation"]).await;
    let mut too_big = b"\xff\xd8\xff\xe0".to_vec();
    too_big.resize((5 << 20) + 1, 0);
    let cases = [
        Bad {
            name: "empty title",
            call: Call::Create(movie("  ", 1995, &[])),
            code: Code::InvalidArgument,
            field: "movie.title",
        },
        Bad {
            name: "year too early",
            call: Call::Create(movie("A", 1800, &[])),
            code: Code::InvalidArgument,
            field: "movie.year",
        },
        Bad {
            name: "year too late",
            call: Call::Create(movie("A", 2500, &[])),
            code: Code::InvalidArgument,
            field: "movie.year",
        },
        Bad {
            name: "unknown genre",
            call: Call::Create(movie("A", 2000, &["Space Opera"])),
            code: Code::InvalidArgument,
            field: "movie.genres",
        },
        Bad {
            name: "bad imdb id",
            call: Call::Create(pb::Movie { imdb_id: "0114709".into(), ..movie("A", 2000, &[]) }),
            code: Code::InvalidArgument,
            field: "movie.imdb_id",
        },
        Bad { name: "no movie", call: Call::CreateWithoutMovie, code: Code::InvalidArgument, field: "movie" },
        Bad {
            name: "update without id",
            call: Call::Update(movie("A", 2000, &[])),
            code: Code::InvalidArgument,
            field: "movie.movie_id",
        },
        Bad { name: "get id 0", call: Call::Get(0), code: Code::InvalidArgument, field: "movie_id" },
        Bad { name: "get unknown id", call: Call::Get(424242), code: Code::NotFound, field: "424242" },
        Bad {
            name: "page too large",
            call: Call::List(pb::ListMoviesRequest { page_size: 501, ..Default::default() }),
            code: Code::InvalidArgument,
            field: "page_size",
        },
        Bad {
            name: "bad page token",
            call: Call::List(pb::ListMoviesRequest {
                page_token: "not-a-token".into(),
                ..Default::default()
            }),
            code: Code::InvalidArgument,
            field: "page_token",
        },
        Bad {
            name: "unknown genre filter",
            call: Call::List(pb::ListMoviesRequest { genre: "Cartoon".into(), ..Default::default() }),
            code: Code::InvalidArgument,
            field: "genre",
        },
        Bad {
            name: "inverted years",
            call: Call::List(pb::ListMoviesRequest { year_from: 2000, year_to: 1990, ..Default::default() }),
            code: Code::InvalidArgument,
            field: "year_to",
        },
        Bad {
            name: "empty search",
            call: Call::Search(pb::SearchMoviesRequest { query: " ".into(), limit: 0 }),
            code: Code::InvalidArgument,
            field: "query",
        },
        Bad {
            name: "search limit",
            call: Call::Search(pb::SearchMoviesRequest { query: "toy".into(), limit: 101 }),
            code: Code::InvalidArgument,
            field: "limit",
        },
        Bad {
            name: "no media kind",
            call: upload(1, pb::MediaKind::Unspecified, "image/png", PNG.to_vec()),
            code: Code::InvalidArgument,
            field: "kind",
        },
        Bad {
            name: "wrong content type",
            call: upload(1, pb::MediaKind::Poster, "image/gif", PNG.to_vec()),
            code: Code::InvalidArgument,
            field: "content_type",
        },
        Bad {
            name: "video as poster",
            call: upload(1, pb::MediaKind::Poster, "video/mp4", PNG.to_vec()),
            code: Code::InvalidArgument,
            field: "content_type",
        },
        Bad {
            name: "mislabelled file",
            call: upload(1, pb::MediaKind::Poster, "image/jpeg", PNG.to_vec()),
            code: Code::InvalidArgument,
            field: "data",
        },
        Bad {
            name: "oversized poster",
            call: upload(1, pb::MediaKind::Poster, "image/jpeg", too_big),
            code: Code::InvalidArgument,
            field: "data",
        },
        Bad {
            name: "upload for an unknown movie",
            call: upload(424242, pb::MediaKind::Poster, "image/png", PNG.to_vec()),
            code: Code::NotFound,
            field: "424242",
        },
    ];
    for case in cases {
        let c = &mut app.client;
        let (code, message) = match case.call {
            Call::Create(m) => failure(c.create_movie(pb::CreateMovieRequest { movie: Some(m) }).await),
            Call::CreateWithoutMovie => failure(c.create_movie(pb::CreateMovieRequest { movie: None }).await),
            Call::Update(m) => failure(c.update_movie(pb::UpdateMovieRequest { movie: Some(m) }).await),
            Call::Get(id) => failure(c.get_movie(pb::GetMovieRequest { movie_id: id }).await),
            Call::List(r) => failure(c.list_movies(r).await),
            Call::Search(r) => failure(c.search_movies(r).await),
            Call::Upload(r) => failure(c.upload_media(r).await),
        };
        assert_eq!(code, case.code, "{}: {message}", case.name);
        if code == Code::InvalidArgument {
            assert!(message.starts_with(&format!("{}: ", case.field)), "{}: {message}", case.name);
        } else {
            assert!(message.contains(case.field), "{}: {message}", case.name);
        }
    }
    // Nothing was stored by the refused calls.
    let all = app.client.list_movies(pb::ListMoviesRequest::default()).await.unwrap().into_inner();
    assert_eq!(all.movies.len(), 1);
    assert!(app.object_keys("movies/").await.is_empty());
    app.finish().await;
}

/// Every RPC is counted by the service kit's layer, with its code, in the family every service
/// shares.
#[tokio::test]
async fn rpcs_are_counted_by_method_and_code() {
    let app = TestApp::spawn(Arc::new(MemoryPublisher::new())).await;
    let mut client = app.client.clone();
    let missing = client.get_movie(pb::GetMovieRequest { movie_id: 424_242 }).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    client.list_movies(pb::ListMoviesRequest { page_size: 5, ..Default::default() }).await.unwrap();
    let page = service_common::testing::scrape_metrics(app.metrics).await;
    service_common::testing::assert_lines(
        &page,
        &[
            r#"cinerec_rpc_requests_total{service="movies",method="GetMovie",code="NOT_FOUND"} 1"#,
            r#"cinerec_rpc_requests_total{service="movies",method="ListMovies",code="OK"} 1"#,
            r#"cinerec_rpc_duration_seconds_count{service="movies",method="GetMovie"} 1"#,
        ],
    );
    app.finish().await;
}
