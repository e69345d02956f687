//! Throughput of rating submissions end to end, in one process: the ratings service on real
//! Redis and a real Kafka broker, driven through gRPC by N concurrent clients (one HTTP/2
//! connection each); it waits until the outbox is drained and a consumer has read every event
//! from the topic, then prints ratings/s end to end and the request latency percentiles.
//!
//! ```text
//! eval "$(scripts/start-server redis)"; eval "$(scripts/start-server kafka)"
//! cargo run --release -p ratings --example submit_load -- \
//!     --redis-url "$CINEREC_TEST_REDIS_URL" --kafka-brokers "$CINEREC_TEST_KAFKA_BROKERS" \
//!     --concurrency 16 --ratings 20000
//! ```

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use clap::Parser;
use events::kafka::{KafkaSubscriber, ensure_topics};
use prost::Message;
use proto::events::v1::RatingEvent;
use proto::ratings::v1::SubmitRatingRequest;
use proto::ratings::v1::ratings_service_client::RatingsServiceClient;
use ratings::domain::MovieId;
use ratings::outbox::Outbox;
use ratings::{Application, Config, RatingStore};

/// Load generator for SubmitRating.
#[derive(Debug, Parser)]
struct Args {
    /// Redis URL.
    #[arg(long, env = "CINEREC_TEST_REDIS_URL")]
    redis_url: String,
    /// Kafka bootstrap servers.
    #[arg(long, env = "CINEREC_TEST_KAFKA_BROKERS")]
    kafka_brokers: String,
    /// Concurrent clients (each its own connection, one request at a time).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Ratings to submit in all.
    #[arg(long, default_value_t = 20_000)]
    ratings: u64,
    /// Distinct users.
    #[arg(long, default_value_t = 5_000)]
    users: u64,
    /// Distinct movies (all in the catalogue).
    #[arg(long, default_value_t = 2_000)]
    movies: u64,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (prefix, topic) = (format!("bench-{run}"), format!("bench-ratings-{run}"));
    ensure_topics(&args.kafka_brokers, &[&topic]).await?;
    let app = Application::build(Config::local(&args.redis_url, &prefix, &args.kafka_brokers, &topic))
        .await
        .context("starting the service")?;
    let (addr, store) = (app.addr(), app.store());
    let movies: Vec<MovieId> = (1..=args.movies).map(MovieId::try_from).collect::<Result<_, _>>()?;
    store.add_movies(&movies).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));

    // The consumer reads the topic from the beginning and notes when it has every event.
    let subscriber = KafkaSubscriber::new(&args.kafka_brokers, &format!("bench-{run}"), &[&topic])?;
    let total = args.ratings;
    let consumer = tokio::spawn(async move {
        let (mut ids, mut messages) = (HashSet::new(), 0u64);
        while (ids.len() as u64) < total {
            let message = tokio::time::timeout(Duration::from_secs(120), subscriber.next()).await??;
            messages += 1;
            ids.insert(RatingEvent::decode(message.payload.as_slice())?.event_id);
        }
        anyhow::Ok((Instant::now(), messages))
    });

    let mut clients = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency {
        clients.push(RatingsServiceClient::connect(format!("http://{addr}")).await?);
    }
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for mut client in clients {
        let (next, users, movies) = (Arc::clone(&next), args.users, args.movies);
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let mix = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
                let request = SubmitRatingRequest {
                    user_id: 1 + mix % users,
                    movie_id: 1 + (mix >> 20) % movies,
                    rating: 0.5 * (1 + (mix >> 40) % 10) as f32,
                    review: String::new(),
                };
                let sent = Instant::now();
                client.submit_rating(request).await?;
                latencies.push(sent.elapsed());
            }
            anyhow::Ok(latencies)
        });
    }
    let mut latencies = Vec::with_capacity(total as usize);
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done??);
    }
    let requests_done = started.elapsed();
    while store.backlog().await? > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drained = started.elapsed();
    let (consumed_at, messages) = consumer.await??;
    let end_to_end = consumed_at.duration_since(started);
    latencies.sort_unstable();
    ensure!(latencies.len() as u64 == total, "every request answered");
    let pct =
        |p: f64| latencies[((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{total} ratings, {} concurrent clients, {} users x {} movies",
        args.concurrency, args.users, args.movies
    );
    println!(
        "requests:   {:.2} s, {:.0} ratings/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        requests_done.as_secs_f64(),
        total as f64 / requests_done.as_secs_f64(),
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(pct(1.0))
    );
    println!("outbox:     drained {:.2} s after the first request", drained.as_secs_f64());
    println!(
        "end to end: {:.2} s until the consumer had every event, {:.0} ratings/s ({messages} messages, {} duplicates)",
        end_to_end.as_secs_f64(),
        total as f64 / end_to_end.as_secs_f64(),
        messages - total
    );
    let _ = stop.send(());
    server.await??;
    Ok(())
}
