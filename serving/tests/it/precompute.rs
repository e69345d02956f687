//! The precompute job against the real Redis: the recently active users known to the model get
//! their lists under the published version's keys (the inactive and the unknown do not), and
//! their first request to a server that loads that version is a cache hit with the very list
//! the model computes; without a ratings Redis every user of the model is written.

use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;
use fred::prelude::{ClientLike, Config, KeysInterface, SetsInterface, SortedSetsInterface};
use proto::recommendation::v1::RecommendRequest;
use serving::precompute::{PrecomputeConfig, run_with_store};

use crate::helpers::{self, TestApp};

fn precompute_config(cache_prefix: &str, ratings_prefix: Option<&str>) -> PrecomputeConfig {
    let url = helpers::redis_url();
    let mut args = vec![
        "cinerec-precompute",
        "--cache-redis-url",
        &url,
        "--cache-prefix",
        cache_prefix,
        "--threads",
        "2",
    ];
    if let Some(prefix) = ratings_prefix {
        args.extend(["--ratings-redis-url", &url, "--ratings-prefix", prefix, "--active-within", "7d"]);
    }
    PrecomputeConfig::parse_from(args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_users_first_request_after_a_swap_is_a_cache_hit() {
    let (dir, store) = helpers::local_store();
    let reopen = || artifacts::open_store(dir.path().to_str().unwrap(), None).unwrap();
    let version = helpers::publish(&store, helpers::model()).await;
    let redis = fred::prelude::Builder::from_config(Config::from_url(&helpers::redis_url()).unwrap())
        .build()
        .unwrap();
    redis.init().await.unwrap();

    // The ratings service's keys: users 7 and 8 rated today, 9 a month ago, 10 never (only in
    // the set), 99999 today but the model does not know them.
    let ratings_prefix = helpers::unique("cinerec-ratings");
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as f64;
    let users: Vec<String> = ["7", "8", "9", "10", "99999"].map(String::from).into();
    let () = redis.sadd(format!("{ratings_prefix}:users"), users).await.unwrap();
    for (user, at) in
        [(7, now_ms), (8, now_ms - 3_600_000.0), (9, now_ms - 30.0 * 86_400_000.0), (99999, now_ms)]
    {
        let () = redis
            .zadd(format!("{ratings_prefix}:user:{user}:recent"), None, None, false, false, (at, "50"))
            .await
            .unwrap();
    }

    let cache_prefix = helpers::unique("cinerec-precomputed");
    let report =
        run_with_store(&precompute_config(&cache_prefix, Some(&ratings_prefix)), &store).await.unwrap();
    assert_eq!(report.version, version.to_string());
    assert_eq!((report.active_users, report.unknown_users, report.written), (3, 1, 2), "{report:?}");
    for (user, written) in [(7, true), (8, true), (9, false), (10, false), (99999, false)] {
        let exists: u64 = redis.exists(format!("{cache_prefix}:{version}:{user}")).await.unwrap();
        assert_eq!(exists == 1, written, "user {user}");
    }
    let ttl: i64 = redis.ttl(format!("{cache_prefix}:{version}:7")).await.unwrap();
    assert!(ttl > 23 * 3600, "the job's 24 h TTL, not serving's: {ttl}");

    // A server that loads the version answers user 7's first request from the cache, with the
    // list a server without a cache computes; user 9's first request is computed.
    let mut with_cache = helpers::config(&helpers::redis_url());
    with_cache.cache_prefix = cache_prefix.clone();
    let app = TestApp::spawn(with_cache, reopen()).await;
    let reference = TestApp::spawn(helpers::config(""), reopen()).await;
    let request = |user_id| RecommendRequest { user_id, n: 20, ..Default::default() };
    let first = app.client.clone().recommend(request(7)).await.unwrap().into_inner();
    let expected = reference.client.clone().recommend(request(7)).await.unwrap().into_inner();
    assert!(first.cached, "the first request after the swap is a cache hit");
    assert_eq!(first.movies.len(), 20);
    assert_eq!(first.movies, expected.movies);
    let inactive = app.client.clone().recommend(request(9)).await.unwrap().into_inner();
    assert!(!inactive.cached);
    app.stop().await;
    reference.stop().await;

    // Without a ratings Redis, every user of the model.
    let every_prefix = helpers::unique("cinerec-precomputed-all");
    let report = run_with_store(&precompute_config(&every_prefix, None), &store).await.unwrap();
    assert_eq!((report.written, report.unknown_users), (helpers::model().users.len(), 0));
    let exists: u64 = redis.exists(format!("{every_prefix}:{version}:943")).await.unwrap();
    assert_eq!(exists, 1);
    let _ = redis.quit().await;
}

#[tokio::test]
async fn a_missing_cache_or_model_is_a_clear_error() {
    let (_dir, store) = helpers::local_store();
    let mut config = precompute_config("unused", None);
    config.cache_redis_url = serving::RedisUrl::new("");
    let err = run_with_store(&config, &store).await.unwrap_err().to_string();
    assert!(err.contains("--cache-redis-url (CINEREC_CACHE_REDIS_URL) is required"), "{err}");
    let err = run_with_store(&precompute_config("unused", None), &store).await.unwrap_err().to_string();
    assert!(err.starts_with("no model in ") && err.ends_with("nothing to precompute"), "{err}");
}
