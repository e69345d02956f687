//! Every RPC through a real client answers exactly what the engine answers for the same model:
//! known users (with filters), batch, fold-in, popularity fallback, similar movies, explain and
//! model info; overlay ratings folded in by the rule each model kind was trained with.

use engine::recommend::{self as rec, RecommendOptions};
use engine::{Row, ScoredItem};
use proto::recommendation::v1::{
    ExplainRequest, ModelInfoRequest, RecommendBatchRequest, RecommendRequest, ScoredMovie,
    SimilarMoviesRequest, Source,
};

use serving::overlay::RecentRating;
use serving::requests::RatingOutcome;

use crate::helpers::{self, TestApp, metric};

/// The engine's answer in wire form.
fn expected(artifact: &artifacts::Artifact, items: &[ScoredItem]) -> Vec<ScoredMovie> {
    items
        .iter()
        .map(|s| {
            let movie_id = artifact.items.external(s.item_idx).unwrap();
            let title = artifact.movies.iter().find(|m| m.movie_id == movie_id).map(|m| m.title.clone());
            ScoredMovie { movie_id, score: s.score, title: title.unwrap_or_default() }
        })
        .collect()
}

fn dense(artifact: &artifacts::Artifact, movie_ids: &[u64]) -> Vec<u32> {
    let mut res: Vec<u32> = movie_ids.iter().map(|&m| artifact.items.dense(m).unwrap()).collect();
    res.sort_unstable();
    res
}

/// Sixteen known users asking at once: their scans wait together and two turns (of at most
/// eight) answer all of them, each with exactly what the engine answers that user alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_scans_are_answered_together_and_each_as_alone() {
    let artifact = helpers::model();
    let (_dir, store) = helpers::local_store();
    helpers::publish(&store, artifact).await;
    let app = TestApp::spawn(helpers::config(""), store).await;
    let training = artifact.training_users().unwrap();
    let deny_ids: Vec<u64> = artifact.items.as_slice()[..30].to_vec();
    let deny = dense(artifact, &deny_ids);
    let users: Vec<u64> = (1..=16).map(|i| i * 50).collect();
    let request = |user_id: u64| RecommendRequest {
        user_id,
        n: 5 + (user_id % 7) as u32,
        deny_movie_ids: if user_id.is_multiple_of(3) { deny_ids.clone() } else { Vec::new() },
        ..Default::default()
    };
    // One task polls all sixteen: each adds its scan and yields before any takes a turn.
    let answers =
        futures_util::future::join_all(users.iter().map(|&u| app.serving.recommend(request(u)))).await;
    for (&user_id, answer) in users.iter().zip(answers) {
        let user_idx = artifact.users.dense(user_id).unwrap();
        let options = RecommendOptions {
            n: 5 + user_id as usize % 7,
            deny: if user_id.is_multiple_of(3) { &deny } else { &[] },
            ..Default::default()
        };
        let engine = rec::recommend(artifact.recommender(), training, user_idx, &options).unwrap();
        assert_eq!(answer.unwrap().movies, expected(artifact, &engine), "user {user_id}");
    }
    let page = app.metrics().await;
    assert_eq!(metric(&page, r#"cinerec_serving_engine_queries_total{pool="inline"}"#), 16.0, "{page}");
    assert_eq!(metric(&page, "cinerec_serving_scan_turns_total"), 2.0, "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_equal_the_engine_for_the_same_model() {
    let artifact = helpers::model();
    let (_dir, store) = helpers::local_store();
    let version = helpers::publish(&store, artifact).await;
    let app = TestApp::spawn(helpers::config(""), store).await;
    let mut client = app.client.clone();
    let model = artifact.recommender();
    let seen = &artifact.seen;
    let training = artifact.training_users().unwrap();

    // Known users, with and without filters.
    let allow_ids: Vec<u64> = artifact.items.as_slice()[..300].to_vec();
    let deny_ids: Vec<u64> = artifact.items.as_slice()[..40].to_vec();
    let (allow, deny) = (dense(artifact, &allow_ids), dense(artifact, &deny_ids));
    for user_id in [1u64, 13, 405, 943] {
        let user_idx = artifact.users.dense(user_id).unwrap();
        let cases = [
            (
                RecommendRequest { user_id, n: 0, ..Default::default() },
                RecommendOptions { n: 10, ..Default::default() },
            ),
            (
                RecommendRequest { user_id, n: 25, include_seen: true, ..Default::default() },
                RecommendOptions { n: 25, exclude_seen: false, ..Default::default() },
            ),
            (
                RecommendRequest {
                    user_id,
                    n: 7,
                    allow_movie_ids: allow_ids.clone(),
                    deny_movie_ids: deny_ids.clone(),
                    ..Default::default()
                },
                RecommendOptions { n: 7, allow: Some(&allow), deny: &deny, ..Default::default() },
            ),
        ];
        for (request, options) in cases {
            let response = client.recommend(request.clone()).await.unwrap().into_inner();
            let engine = rec::recommend(model, training, user_idx, &options).unwrap();
            assert_eq!(response.movies, expected(artifact, &engine), "{request:?}");
            assert_eq!((response.source(), response.cached), (Source::Model, false));
            assert_eq!(response.model_version, version.as_str());
        }
    }
    // The plain and deny-filtered queries scanned the int8 index inline; the allow-list ones
    // went to the blocking pool.
    let page = app.metrics().await;
    assert_eq!(metric(&page, r#"cinerec_serving_engine_queries_total{pool="inline"}"#), 8.0, "{page}");
    assert_eq!(metric(&page, r#"cinerec_serving_engine_queries_total{pool="blocking"}"#), 4.0, "{page}");

    // A batch answers each entry as Recommend does.
    let requests: Vec<RecommendRequest> = [5u64, 6, 7, 99_999]
        .iter()
        .map(|&user_id| RecommendRequest { user_id, n: 5, ..Default::default() })
        .collect();
    let batch = client
        .recommend_batch(RecommendBatchRequest { requests: requests.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(batch.model_version, version.as_str());
    for (request, response) in requests.into_iter().zip(batch.responses) {
        assert_eq!(response, client.recommend(request).await.unwrap().into_inner());
    }

    // Fold-in: an unknown user with recent movies, and a known one whose recent movies join
    // the training history.
    let recent_ids = vec![50u64, 181, 172, 174];
    let recent = dense(artifact, &recent_ids);
    let request = RecommendRequest {
        user_id: 5_000_000,
        n: 10,
        recent_movie_ids: recent_ids.clone(),
        ..Default::default()
    };
    let response = client.recommend(request).await.unwrap().into_inner();
    let ones = vec![1.0; recent.len()];
    let engine =
        rec::recommend_for_history(model, Row::new(&recent, &ones), &[], &RecommendOptions::default())
            .unwrap();
    assert_eq!((response.source(), response.movies), (Source::FoldIn, expected(artifact, &engine)));
    // The batch (one blocking task) and the unknown users (popularity, fold-in) did not run
    // inline; the three known users answered one by one after the batch did.
    let page = app.metrics().await;
    assert_eq!(metric(&page, r#"cinerec_serving_engine_queries_total{pool="inline"}"#), 11.0, "{page}");
    assert_eq!(metric(&page, r#"cinerec_serving_engine_queries_total{pool="blocking"}"#), 7.0, "{page}");

    let user_idx = artifact.users.dense(1).unwrap();
    let mut union: Vec<u32> = seen.row(user_idx as usize).indices.to_vec();
    union.extend(&recent);
    union.sort_unstable();
    union.dedup();
    let ones = vec![1.0; union.len()];
    let request =
        RecommendRequest { user_id: 1, n: 10, recent_movie_ids: recent_ids.clone(), ..Default::default() };
    let response = client.recommend(request).await.unwrap().into_inner();
    // The user's low ratings stay seen.
    let also_seen = artifact.also_seen.row(user_idx as usize).indices;
    assert!(!also_seen.is_empty());
    let engine =
        rec::recommend_for_history(model, Row::new(&union, &ones), also_seen, &RecommendOptions::default())
            .unwrap();
    assert_eq!((response.source(), response.movies), (Source::FoldIn, expected(artifact, &engine)));

    // Unknown user, no history: the most popular movies (training-user counts), filters applied.
    let mut counts = vec![0u32; artifact.items.len()];
    seen.indices().iter().for_each(|&i| counts[i as usize] += 1);
    let mut by_count: Vec<u32> = (0..counts.len() as u32).collect();
    by_count.sort_by_key(|&i| (std::cmp::Reverse(counts[i as usize]), i));
    let popular = |skip: &[u32], n: usize| -> Vec<ScoredItem> {
        by_count
            .iter()
            .filter(|i| !skip.contains(i))
            .take(n)
            .map(|&i| ScoredItem { item_idx: i, score: counts[i as usize] as f32 })
            .collect()
    };
    let response =
        client.recommend(RecommendRequest { user_id: 77_777, n: 20, ..Default::default() }).await.unwrap();
    let response = response.into_inner();
    assert_eq!(
        (response.source(), response.movies),
        (Source::Popularity, expected(artifact, &popular(&[], 20)))
    );
    let top3: Vec<u64> = by_count[..3].iter().map(|&i| artifact.items.external(i).unwrap()).collect();
    let request = RecommendRequest { user_id: 77_777, n: 5, deny_movie_ids: top3, ..Default::default() };
    let response = client.recommend(request).await.unwrap().into_inner();
    assert_eq!(response.movies, expected(artifact, &popular(&by_count[..3], 5)));

    // Similar movies and explanations.
    for movie_id in [1u64, 50, 181] {
        let item_idx = artifact.items.dense(movie_id).unwrap();
        let response =
            client.similar_movies(SimilarMoviesRequest { movie_id, n: 12 }).await.unwrap().into_inner();
        assert_eq!(response.movies, expected(artifact, &rec::similar_items(model, item_idx, 12).unwrap()));
        assert_eq!(response.model_version, version.as_str());

        let request = ExplainRequest { user_id: 13, movie_id, n: 3, ..Default::default() };
        let response = client.explain(request).await.unwrap().into_inner();
        let engine = rec::explain(model, seen, artifact.users.dense(13).unwrap(), item_idx).unwrap();
        assert_eq!(response.score, engine.score);
        let contributions: Vec<(u64, f32)> =
            response.contributions.iter().map(|c| (c.movie_id, c.contribution)).collect();
        let engine: Vec<(u64, f32)> = engine.contributions[..3]
            .iter()
            .map(|&(i, c)| (artifact.items.external(i).unwrap(), c))
            .collect();
        assert_eq!(contributions, engine);
    }
    // Explain for an unknown user from recent movies.
    let request = ExplainRequest { user_id: 5_000_000, movie_id: 1, recent_movie_ids: recent_ids, n: 0 };
    let response = client.explain(request).await.unwrap().into_inner();
    let ones = vec![1.0; recent.len()];
    let engine = model.explain(None, Row::new(&recent, &ones), artifact.items.dense(1).unwrap()).unwrap();
    assert_eq!(response.score, engine.score);
    assert_eq!(response.contributions.len(), recent.len());

    // Model info.
    let info = client.model_info(ModelInfoRequest {}).await.unwrap().into_inner();
    assert_eq!(info.version, version.as_str());
    assert_eq!(info.kind, "implicit-als");
    assert_eq!((info.n_users, info.n_movies), (artifact.users.len() as u64, artifact.items.len() as u64));
    assert_eq!(info.dataset, artifact.meta.dataset);
    assert_eq!(info.metrics.get("ndcg@10"), Some(&0.25));
    assert!(info.trained_at_unix > 1_700_000_000 && info.loaded_at_unix >= info.trained_at_unix);

    // Metrics count what happened.
    let page = app.metrics().await;
    // The family every service shares (the kit's layer).
    assert_eq!(
        metric(&page, r#"cinerec_rpc_requests_total{service="serving",method="Recommend",code="OK"}"#),
        20.0
    );
    assert_eq!(
        metric(&page, r#"cinerec_rpc_requests_total{service="serving",method="SimilarMovies",code="OK"}"#),
        3.0
    );
    assert_eq!(
        metric(&page, &format!(r#"cinerec_serving_model_info{{version="{version}",kind="implicit-als"}}"#)),
        1.0
    );
    assert_eq!(metric(&page, "cinerec_serving_model_swaps_total"), 1.0);
    assert!(page.contains("cinerec_serving_model_age_seconds "), "{page}");
    let recommend_bucket = |l: &str| {
        l.starts_with("cinerec_rpc_duration_seconds_bucket{")
            && l.contains(r#"service="serving",method="Recommend""#)
    };
    assert!(page.lines().any(recommend_bucket), "{page}");
    app.stop().await;
}

/// The int8 candidate index against the exact scan over every ml-100k user: the served scores
/// are the model's exact scores; recall@10 and identical lists are measured (and printed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quantized_top10_has_exact_scores_and_full_recall_against_the_exact_scan() {
    let artifact = helpers::model();
    let (_dir, store) = helpers::local_store();
    helpers::publish(&store, artifact).await;
    let app = TestApp::spawn(helpers::config(""), store).await;
    let user_ids = artifact.users.as_slice().to_vec();
    let requests =
        user_ids.iter().map(|&user_id| RecommendRequest { user_id, n: 10, ..Default::default() }).collect();
    let batch =
        app.client.clone().recommend_batch(RecommendBatchRequest { requests }).await.unwrap().into_inner();
    let model = artifact.recommender();
    let (mut hits, mut identical, mut scores) = (0usize, 0usize, vec![0f32; artifact.items.len()]);
    for (&user_id, response) in user_ids.iter().zip(&batch.responses) {
        let user_idx = artifact.users.dense(user_id).unwrap();
        model.score_user(user_idx, artifact.seen.row(user_idx as usize), &mut scores).unwrap();
        for movie in &response.movies {
            let item_idx = artifact.items.dense(movie.movie_id).unwrap();
            assert_eq!(movie.score, scores[item_idx as usize], "user {user_id} movie {}", movie.movie_id);
        }
        let exact = expected(
            artifact,
            &rec::recommend(
                model,
                artifact.training_users().unwrap(),
                user_idx,
                &RecommendOptions::default(),
            )
            .unwrap(),
        );
        hits += response.movies.iter().filter(|m| exact.iter().any(|e| e.movie_id == m.movie_id)).count();
        identical += usize::from(response.movies == exact);
    }
    let recall = hits as f64 / (10 * user_ids.len()) as f64;
    println!(
        "quantized vs exact top-10 over {} users: recall@10 {recall:.4}, identical lists {identical}",
        user_ids.len()
    );
    assert!(recall >= 0.99, "recall@10 {recall}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlay_ratings_fold_in_by_the_rule_the_model_was_trained_with() {
    for artifact in [helpers::model().clone(), helpers::train_explicit(1)] {
        let explicit = matches!(artifact.model, artifacts::TrainedModel::ExplicitAls(_));
        let (_dir, store) = helpers::local_store();
        helpers::publish(&store, &artifact).await;
        let app = TestApp::spawn(helpers::config(""), store).await;
        let (mut client, serving) = (app.client.clone(), app.serving.clone());
        let user_id = 13;
        let user_idx = artifact.users.dense(user_id).unwrap();
        let row = artifact.seen.row(user_idx as usize);
        let unseen: Vec<u32> = (0..artifact.items.len() as u32)
            .filter(|i| row.indices.binary_search(i).is_err())
            .take(2)
            .collect();
        let (liked, disliked, forgotten) = (unseen[0], unseen[1], row.indices[0]);
        let external = |idx: u32| artifact.items.external(idx).unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        let now_ms = now.as_millis() as i64;
        for (idx, rating) in [(liked, Some(4.5)), (disliked, Some(2.0)), (forgotten, None)] {
            let recent = RecentRating { movie_id: external(idx), rating, timestamp_ms: now_ms };
            assert_eq!(serving.record_rating(user_id, recent), RatingOutcome::Applied);
        }
        // Implicit models learn positives as 1.0 (a rating of 2 is not one: it only counts as
        // seen); explicit ALS learns the ratings themselves. A deleted rating leaves the history.
        let mut history: Vec<(u32, f32)> = row
            .indices
            .iter()
            .copied()
            .zip(row.values.iter().copied())
            .filter(|&(i, _)| i != forgotten)
            .collect();
        let deny = match explicit {
            true => {
                history.extend([(liked, 4.5), (disliked, 2.0)]);
                vec![]
            }
            false => {
                history.push((liked, 1.0));
                vec![disliked]
            }
        };
        history.sort_by_key(|&(i, _)| i);
        let (indices, values): (Vec<u32>, Vec<f32>) = history.into_iter().unzip();
        let options = RecommendOptions { n: 10, deny: &deny, ..Default::default() };
        let also_seen = artifact.also_seen.row(user_idx as usize).indices;
        let engine = rec::recommend_for_history(
            artifact.recommender(),
            Row::new(&indices, &values),
            also_seen,
            &options,
        )
        .unwrap();
        let response = client
            .recommend(RecommendRequest { user_id, n: 10, ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(response.source(), Source::FoldIn, "explicit: {explicit}");
        assert_eq!(response.movies, expected(&artifact, &engine), "explicit: {explicit}");
        app.stop().await;
    }
}
