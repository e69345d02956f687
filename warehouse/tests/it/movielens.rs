//! ml-latest-small's 100,836 ratings as rating events: the rating distribution and each day's
//! most-rated movies match the file, and the training read returns the file's ratings in
//! canonical (user, movie) order with their times.

use std::collections::BTreeMap;

use datasets::{DatasetName, checkout_data_dir};
use warehouse::facts::{Batch, RatingChange, RatingFact};
use warehouse::reports::{Bucket, Range, overview};
use warehouse::{Warehouse, day_of_ms, ratings};

use crate::{every_warehouse, f, i, rows};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn movielens_ratings_round_trip() {
    every_warehouse!(check);
}

async fn check<W: Warehouse>(w: &W) {
    let file = datasets::load_ratings(&checkout_data_dir(), DatasetName::MlLatestSmall).unwrap();
    for (n, chunk) in file.chunks(5_000).enumerate() {
        let batch = Batch {
            ratings: chunk
                .iter()
                .enumerate()
                .map(|(k, r)| RatingFact {
                    event_id: format!("ml-{n}-{k}"),
                    user_id: r.user_id,
                    movie_id: r.movie_id,
                    rating: r.rating,
                    change: RatingChange::Created,
                    occurred_at_ms: r.timestamp * 1000,
                })
                .collect(),
            ..Batch::default()
        };
        w.ingest(&batch, 0).await.unwrap();
    }
    let days: Vec<i32> = file.iter().map(|r| day_of_ms(r.timestamp * 1000)).collect();
    let whole =
        Range { from: *days.iter().min().unwrap(), to: *days.iter().max().unwrap(), bucket: Bucket::Month };
    let report = overview(w, whole).await.unwrap();
    let got: BTreeMap<u64, i64> = rows(&report, "rating_distribution")
        .iter()
        .map(|row| ((f(row["rating"]) * 2.0) as u64, i(row["ratings"])))
        .collect();
    let mut want: BTreeMap<u64, i64> = BTreeMap::new();
    for r in &file {
        *want.entry((r.rating * 2.0) as u64).or_default() += 1;
    }
    assert_eq!(got, want);

    let current = ratings::current_ratings(w).await.unwrap();
    let mut canonical = file.clone();
    canonical.sort_by_key(|r| (r.user_id, r.movie_id));
    assert_eq!(current.len(), canonical.len());
    for (c, r) in current.iter().zip(&canonical) {
        assert_eq!(
            (c.user_id, c.movie_id, c.rating, c.occurred_at_ms),
            (r.user_id, r.movie_id, r.rating, r.timestamp * 1000)
        );
    }
}
