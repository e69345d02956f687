//! The ingest and report benchmark behind `cinerec-analytics-bench`: a seeded synthetic stream
//! of events (`warehouse::synth`: lists of 10 impressions, clicks with a realistic CTR, ratings,
//! searches, request logs) is published to fresh Kafka topics as the platform's own messages,
//! then consumed by analytics' consumer (one process, batched transactions) into a fresh
//! PostgreSQL database, timed from the first message to the last stored; then every report is
//! run several times over the whole span and over the last 30 days, and the median printed.
//! Events are counted as the warehouse stores them: one per impression (movie shown), click,
//! view, search, rating and request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use events::EventPublisher;
use events::kafka::KafkaPublisher;
use prost::Message;
use proto::events::v1::{
    ActivityRecorded, MovieChange, MovieEvent, RatingChange as WireChange, RatingEvent, RecommendationServed,
    RequestLogged, ServedMovie,
};
use service_common::EventTopics;
use tokio::task::JoinSet;
use warehouse::facts::{Batch, RatingChange};
use warehouse::postgres::PgWarehouse;
use warehouse::reports::{self, Bucket, Range};
use warehouse::synth::{self, SynthShape};

use crate::ingest::IngestSettings;

/// What to run.
#[derive(Clone, Debug, clap::Parser)]
#[command(name = "cinerec-analytics-bench", version, about, max_term_width = 110)]
pub struct BenchArgs {
    /// Events to generate (impressions counted one per movie shown).
    #[arg(long, default_value_t = 10_000_000)]
    pub events: u64,
    /// Seed of the generator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Days the events span (ending yesterday).
    #[arg(long, default_value_t = 90)]
    pub days: i32,
    /// Users.
    #[arg(long, default_value_t = 100_000)]
    pub users: u64,
    /// Movies.
    #[arg(long, default_value_t = 20_000)]
    pub movies: u64,
    /// A PostgreSQL URL of a user who may create databases: the bench makes a fresh one.
    #[arg(long, env = "CINEREC_BENCH_POSTGRES_URL")]
    pub postgres: String,
    /// Kafka bootstrap servers.
    #[arg(long, env = "CINEREC_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    /// Events per warehouse transaction.
    #[arg(long, default_value_t = 5000)]
    pub batch: usize,
    /// Runs of each report (the median is printed).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

/// The messages of one synthetic batch, as (topic, key, payload).
fn messages(batch: &Batch, topics: &EventTopics) -> Vec<(String, String, Vec<u8>)> {
    let mut out = Vec::with_capacity(batch.len());
    for l in &batch.lists {
        let event = RecommendationServed {
            event_id: l.event_id.clone(),
            recommendation_id: l.recommendation_id.clone(),
            user_id: l.user_id.unwrap_or(0),
            anonymous_id: l.anonymous_id.clone().unwrap_or_default(),
            model_version: l.model_version.clone(),
            source: l.source.clone(),
            surface: l.surface.clone(),
            movies: l
                .movie_ids
                .iter()
                .enumerate()
                .map(|(p, &m)| ServedMovie { movie_id: m, position: p as u32 })
                .collect(),
            timestamp_ms: l.served_at_ms,
        };
        out.push((topics.recommendations_served.clone(), event.user_id.to_string(), event.encode_to_vec()));
    }
    for a in &batch.activity {
        let event = ActivityRecorded {
            event_id: a.event_id.clone(),
            event_type: a.event_type.clone(),
            occurred_at_ms: a.occurred_at_ms,
            user_id: a.user_id.unwrap_or(0),
            anonymous_id: a.anonymous_id.clone().unwrap_or_default(),
            session_id: a.session_id.clone().unwrap_or_default(),
            recommendation_id: a.recommendation_id.clone().unwrap_or_default(),
            movie_id: a.movie_id.unwrap_or(0),
            position: a.position,
            context_json: a.context.to_string(),
        };
        out.push((topics.activity.clone(), event.user_id.to_string(), event.encode_to_vec()));
    }
    for r in &batch.ratings {
        let change = match r.change {
            RatingChange::Created => WireChange::Created,
            RatingChange::Updated => WireChange::Updated,
            RatingChange::Deleted => WireChange::Deleted,
        };
        let event = RatingEvent {
            event_id: r.event_id.clone(),
            user_id: r.user_id,
            movie_id: r.movie_id,
            rating: r.rating,
            timestamp_ms: r.occurred_at_ms,
            change: change.into(),
        };
        out.push((topics.ratings.clone(), r.user_id.to_string(), event.encode_to_vec()));
    }
    for r in &batch.requests {
        let event = RequestLogged {
            event_id: r.event_id.clone(),
            route: r.route.clone(),
            method: r.method.clone(),
            status: u32::from(r.status),
            latency_ms: r.latency_ms,
            request_id: r.request_id.clone(),
            timestamp_ms: r.occurred_at_ms,
        };
        out.push((topics.request_logs.clone(), r.request_id.clone(), event.encode_to_vec()));
    }
    for m in &batch.movies {
        let event = MovieEvent {
            event_id: m.event_id.clone(),
            movie_id: m.movie_id,
            change: MovieChange::Created.into(),
            title: m.title.clone(),
            timestamp_ms: m.occurred_at_ms,
            genres: m.genres.clone(),
            year: m.year.unwrap_or(0),
        };
        out.push((topics.movies.clone(), m.movie_id.to_string(), event.encode_to_vec()));
    }
    out
}

/// The median of `values` (sorted in place).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs the benchmark and prints its figures.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let unique =
        format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis());
    let topic = |kind: &str| format!("bench-{kind}-{unique}");
    let topics = EventTopics {
        ratings: topic("ratings"),
        user_preferences: topic("preferences"),
        user_deleted: topic("deleted"),
        movies: topic("movies"),
        recommendations_served: topic("served"),
        request_logs: topic("requests"),
        activity: topic("activity"),
    };
    let today = warehouse::day_of_ms(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64,
    );
    let shape = SynthShape {
        users: args.users,
        movies: args.movies,
        days: args.days,
        last_day: today,
        list_size: 10,
    };

    // Generate and publish.
    let started = Instant::now();
    let publisher = Arc::new(KafkaPublisher::batching(
        &args.kafka_brokers,
        Duration::from_secs(60),
        Duration::from_millis(20),
    )?);
    events::kafka::ensure_topics(
        &args.kafka_brokers,
        &crate::ingest::all_topics(&topics).iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await?;
    let mut all = vec![Batch { movies: synth::movies(&shape), ..Batch::default() }];
    synth::generate(args.seed, &shape, args.events, 100_000, |b| all.push(b));
    let (mut counted, mut published) = (0u64, 0u64);
    for batch in &all {
        counted += batch.len() as u64 + batch.lists.iter().map(|l| l.movie_ids.len() as u64 - 1).sum::<u64>();
    }
    let generated = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut in_flight = JoinSet::new();
    for batch in all.drain(..) {
        for (topic, key, payload) in messages(&batch, &topics) {
            while in_flight.len() >= 5_000 {
                in_flight.join_next().await.transpose()?.transpose()?;
            }
            let publisher = Arc::clone(&publisher);
            in_flight.spawn(async move { publisher.publish(&topic, &key, payload).await });
            published += 1;
        }
    }
    while let Some(done) = in_flight.join_next().await {
        done??;
    }
    let publish_seconds = started.elapsed().as_secs_f64();
    println!(
        "generated {counted} events ({published} Kafka messages) in {generated:.1} s; published in {publish_seconds:.1} s ({:.0} messages/s)",
        published as f64 / publish_seconds
    );

    // Consume into a fresh warehouse, one process.
    let url = warehouse::postgres::fresh_database(&args.postgres, "analytics_bench").await?;
    let warehouse = Arc::new(PgWarehouse::connect(&url, 4).await?);
    let settings = IngestSettings {
        brokers: args.kafka_brokers.clone(),
        group: format!("bench-{unique}"),
        topics,
        max_batch: args.batch,
        linger: Duration::from_millis(50),
    };
    let started = Instant::now();
    crate::ingest::drain(Arc::clone(&warehouse), settings, published, Duration::from_secs(3600))
        .await
        .map_err(|done| anyhow::anyhow!("only {done} of {published} messages were stored within an hour"))?;
    let ingest_seconds = started.elapsed().as_secs_f64();
    println!(
        "ingested {counted} events ({published} messages) from Kafka into PostgreSQL in {ingest_seconds:.1} s: {:.0} events/s ({:.0} messages/s), batches of up to {} messages, one process",
        counted as f64 / ingest_seconds,
        published as f64 / ingest_seconds,
        args.batch
    );

    // Fresh statistics, as autovacuum's analyze would have them shortly after such a load.
    sqlx::query("ANALYZE").execute(warehouse.pool()).await?;
    // Reports: median of `runs` over the whole span and over the last 30 days.
    let whole = Range { from: today - args.days, to: today, bucket: Bucket::Day };
    let month = Range { from: today - 30, to: today, bucket: Bucket::Day };
    println!("report latency, median of {} runs (ms):", args.runs);
    println!("  {:<12} {:>14} {:>14}", "report", format!("{} days", args.days), "30 days");
    for name in reports::REPORTS {
        let mut row = Vec::new();
        for range in [whole, month] {
            let mut times = Vec::with_capacity(args.runs);
            for _ in 0..args.runs {
                let t = Instant::now();
                match name {
                    "overview" => reports::overview(&*warehouse, range).await.map(drop)?,
                    "funnel" => reports::funnel(&*warehouse, range).await.map(drop)?,
                    "feedback" => reports::feedback(&*warehouse, range).await.map(drop)?,
                    "catalogue" => reports::catalogue(&*warehouse, range).await.map(drop)?,
                    "top-movies" => reports::top_movies(&*warehouse, range, None, 10).await.map(drop)?,
                    "performance" => reports::performance(&*warehouse, range).await.map(drop)?,
                    _ => reports::models(&*warehouse, range).await.map(drop)?,
                }
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            row.push(median(&mut times));
        }
        println!("  {name:<12} {:>14.1} {:>14.1}", row[0], row[1]);
    }
    Ok(())
}
