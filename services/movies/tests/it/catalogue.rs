//! The imported MovieLens catalogue through the API: import idempotency, walking every page,
//! genre and year filters, and ranked title search.

use std::collections::BTreeSet;
use std::sync::Arc;

use datasets::DatasetName;
use events::MemoryPublisher;
use importer::movies::{import_movies, read_movies};
use movies::MovieStore;
use proto::movies::v1 as pb;
use proto::movies::v1::movies_service_client::MoviesServiceClient;
use tonic::transport::Channel;

use crate::helpers::{TestApp, wait_for_events};

/// Every movie id of a listing with these filters, page by page; checks that ids increase and
/// that only the last page has no token.
async fn walk(client: &mut MoviesServiceClient<Channel>, request: pb::ListMoviesRequest) -> Vec<pb::Movie> {
    let mut res: Vec<pb::Movie> = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_movies(pb::ListMoviesRequest { page_token: token.clone(), ..request.clone() })
            .await
            .unwrap()
            .into_inner();
        let size = if request.page_size == 0 { 50 } else { request.page_size as usize };
        assert!(page.movies.len() <= size);
        if !page.next_page_token.is_empty() {
            assert_eq!(page.movies.len(), size, "only the last page may be short");
        }
        for movie in page.movies {
            if let Some(last) = res.last() {
                assert!(movie.movie_id > last.movie_id, "ids increase across pages");
            }
            res.push(movie);
        }
        if page.next_page_token.is_empty() {
            return res;
        }
        token = page.next_page_token;
    }
}

#[tokio::test]
async fn imported_ml_latest_small_pages_filters_and_search() {
    let publisher = Arc::new(MemoryPublisher::new());
    let mut app = TestApp::spawn(publisher.clone()).await;
    let data_dir = datasets::checkout_data_dir();
    let expected = read_movies(&data_dir, DatasetName::MlLatestSmall).unwrap();
    assert_eq!(expected.len(), 9742);

    let first = import_movies(&app.store, &data_dir, DatasetName::MlLatestSmall).await.unwrap();
    assert_eq!(
        (first.read, first.counts.inserted, first.counts.updated, first.counts.unchanged),
        (9742, 9742, 0, 0)
    );
    assert_eq!(first.linked, 9742);
    // One MovieCreated per imported movie reaches the broker through the outbox.
    assert_eq!(wait_for_events(&publisher, 9742).await.len(), 9742);

    // Idempotent: a second run changes nothing and publishes nothing.
    let second = import_movies(&app.store, &data_dir, DatasetName::MlLatestSmall).await.unwrap();
    assert_eq!((second.counts.inserted, second.counts.updated, second.counts.unchanged), (0, 0, 9742));
    // A movie changed through the API is put back by the next import, and only that one.
    let toy = app.client.get_movie(pb::GetMovieRequest { movie_id: 1 }).await.unwrap().into_inner();
    let renamed = pb::Movie { title: "Toy Story (edited)".into(), ..toy.clone() };
    app.client.update_movie(pb::UpdateMovieRequest { movie: Some(renamed) }).await.unwrap();
    let third = import_movies(&app.store, &data_dir, DatasetName::MlLatestSmall).await.unwrap();
    assert_eq!((third.counts.inserted, third.counts.updated, third.counts.unchanged), (0, 1, 9741));
    assert_eq!(app.client.get_movie(pb::GetMovieRequest { movie_id: 1 }).await.unwrap().into_inner(), toy);
    // Rows the re-imports left alone keep the `updated_at` of their insertion.
    let touched: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM movies WHERE updated_at > (SELECT max(created_at) FROM movies)",
    )
    .fetch_one(app.store.pool())
    .await
    .unwrap();
    assert_eq!(touched, 1, "only the edited movie was written again");
    assert_eq!(wait_for_events(&publisher, 9744).await.len(), 9744);

    // Every page, no duplicates, no misses, with two page sizes.
    let want: Vec<u64> = expected.iter().map(|(id, _)| id.get()).collect();
    for page_size in [500, 137] {
        let all = walk(&mut app.client, pb::ListMoviesRequest { page_size, ..Default::default() }).await;
        let ids: Vec<u64> = all.iter().map(|m| m.movie_id).collect();
        assert_eq!(ids.len(), 9742, "page size {page_size}");
        assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 9742);
        let mut sorted = want.clone();
        sorted.sort_unstable();
        assert_eq!(ids, sorted, "page size {page_size}");
    }

    // Filters: genre and year range agree with the files.
    for (genre, from, to) in
        [("Sci-Fi", 1990, 1999), ("film-noir", 0, 0), ("", 2015, 0), ("Children", 0, 1970)]
    {
        let request = pb::ListMoviesRequest {
            page_size: 200,
            genre: genre.into(),
            year_from: from,
            year_to: to,
            ..Default::default()
        };
        let got: Vec<u64> = walk(&mut app.client, request).await.iter().map(|m| m.movie_id).collect();
        let canonical = movies::domain::canonical_genre(genre);
        let mut want: Vec<u64> = expected
            .iter()
            .filter(|(_, f)| canonical.is_none_or(|g| f.genres.iter().any(|have| have == g)))
            .filter(|(_, f)| from == 0 || f.year.is_some_and(|y| y >= from))
            .filter(|(_, f)| to == 0 || f.year.is_some_and(|y| y <= to))
            .map(|(id, _)| id.get())
            .collect();
        want.sort_unstable();
        assert!(!want.is_empty());
        assert_eq!(got, want, "genre {genre:?}, years {from}..={to}");
    }

    // Search: the exact title first, then its sequels; typos still find it.
    let search = async |client: &mut MoviesServiceClient<Channel>, query: &str| -> Vec<String> {
        let request = pb::SearchMoviesRequest { query: query.into(), limit: 5 };
        client
            .search_movies(request)
            .await
            .unwrap()
            .into_inner()
            .movies
            .into_iter()
            .map(|m| m.title)
            .collect()
    };
    let toy = search(&mut app.client, "toy story").await;
    assert_eq!(toy[0], "Toy Story", "{toy:?}");
    assert!(
        toy[1..].iter().any(|t| t == "Toy Story 2") && toy[1..].iter().any(|t| t == "Toy Story 3"),
        "{toy:?}"
    );
    assert_eq!(search(&mut app.client, "Toy Stroy").await[0], "Toy Story");
    assert_eq!(search(&mut app.client, "matrix").await[0], "Matrix, The");
    assert!(search(&mut app.client, "qqqxxzz").await.is_empty());
    app.finish().await;
}

#[tokio::test]
async fn ml_100k_u_item_imports_once() {
    let mut app = TestApp::spawn(Arc::new(MemoryPublisher::new())).await;
    let data_dir = datasets::checkout_data_dir();
    let first = import_movies(&app.store, &data_dir, DatasetName::Ml100k).await.unwrap();
    assert_eq!((first.read, first.counts.inserted, first.linked), (1682, 1682, 0));
    let again = import_movies(&app.store, &data_dir, DatasetName::Ml100k).await.unwrap();
    assert_eq!(again.counts.unchanged, 1682);
    let toy = app.client.get_movie(pb::GetMovieRequest { movie_id: 1 }).await.unwrap().into_inner();
    assert_eq!((toy.title.as_str(), toy.year), ("Toy Story", 1995));
    assert_eq!(toy.genres, ["Animation", "Children", "Comedy"]);
    let page = app.store.list(&movies::domain::ListQuery::parse(500, "", "", 0, 0).unwrap()).await.unwrap();
    assert!(page.more);
    app.finish().await;
}
