//! The MovieLens importer on ml-100k: counts, aggregates equal to the dataset's, idempotence,
//! and a live rating newer than the file surviving a re-import.

use std::collections::HashMap;

use datasets::{DatasetName, checkout_data_dir};
use importer::ratings::{ImportOptions, import_dataset};
use ratings::domain::{MovieId, PageRequest, UserId};
use ratings::outbox::Outbox;
use ratings::{Config, RatingStore, RedisStore};

use crate::{fresh, raw_redis, recomputed_and_stored, redis_url};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ml_100k_imports_idempotently_with_exact_aggregates() {
    let config = Config::local(&redis_url(), &fresh("import"), "unused:9092", "import");
    let store = RedisStore::connect(&config.redis.url, config.redis.store_settings(&config.topics.ratings))
        .await
        .unwrap();
    let dir = checkout_data_dir();
    let report = import_dataset(&store, &dir, DatasetName::Ml100k, ImportOptions::default()).await.unwrap();
    assert_eq!((report.movies, report.ratings, report.created, report.updated), (1682, 100_000, 100_000, 0));
    eprintln!(
        "ml-100k import: {:.2} s ({:.0} ratings/s)",
        report.seconds,
        report.ratings as f64 / report.seconds
    );
    assert_eq!(store.backlog().await.unwrap(), 0, "no events unless asked for");

    // Aggregates equal the dataset's own.
    let ratings = datasets::load_ratings(&dir, DatasetName::Ml100k).unwrap();
    let mut expected: HashMap<u64, (u64, u64)> = HashMap::new();
    for r in &ratings {
        let entry = expected.entry(r.movie_id).or_default();
        entry.0 += 1;
        entry.1 += (r.rating * 2.0) as u64;
    }
    let redis = raw_redis(&redis_url()).await;
    for movie in [1u64, 50, 181, 1682] {
        let stats = store.movie_stats(MovieId::parse(movie, "movie_id").unwrap()).await.unwrap();
        assert_eq!((stats.count, stats.half_star_sum), expected[&movie], "movie {movie}");
        let (recomputed, stored) = recomputed_and_stored(&redis, config.redis.prefix.as_str(), movie).await;
        assert_eq!(recomputed, stored);
    }
    let user_1 = store
        .user_ratings(UserId::parse(1, "user_id").unwrap(), PageRequest { offset: 0, size: 1000 })
        .await
        .unwrap();
    assert_eq!(user_1.total, 272);

    // A live rating made after the file's survives a re-import; the rest is unchanged.
    let live = ratings::store::NewRating {
        user: UserId::parse(1, "user_id").unwrap(),
        movie: MovieId::parse(1, "movie_id").unwrap(),
        stars: ratings::domain::Stars::parse(0.5).unwrap(),
        review: ratings::domain::Review::default(),
        timestamp_ms: ratings::service::now_ms(),
        event_id: uuid::Uuid::new_v4(),
    };
    store.submit(&live).await.unwrap();
    let again = import_dataset(&store, &dir, DatasetName::Ml100k, ImportOptions::default()).await.unwrap();
    assert_eq!((again.created, again.updated, again.kept), (0, 0, 100_000));
    let stats = store.movie_stats(MovieId::parse(1, "movie_id").unwrap()).await.unwrap();
    let (count, sum) = expected[&1];
    let file_rating = ratings.iter().find(|r| r.user_id == 1 && r.movie_id == 1).unwrap().rating;
    assert_eq!((stats.count, stats.half_star_sum), (count, sum - (file_rating * 2.0) as u64 + 1));
    store.quit().await;
}
