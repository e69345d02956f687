//! The one outbox relay loop every producing service runs (users, movies, ratings): a service
//! describes one round of its outbox ([`OutboxSource::relay_round`]: publish a batch, forget what
//! the broker acknowledged), and [`run_relay`] schedules rounds: at once while there is more, on a
//! wake-up (a writer just queued an event) or the poll interval when idle, with backoff after a
//! failed round, until shutdown. [`RelayStats`] counts rounds, so a test that checks that
//! nothing was published first waits for a round to have run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use service_common::Backoff;
use tokio::sync::Notify;

/// What one round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayRound {
    /// Events the broker acknowledged in this round.
    pub published: usize,
    /// Run the next round at once (a full batch, or pending work left).
    pub more: bool,
}

/// A service's outbox, one round at a time.
pub trait OutboxSource: Send {
    /// Why a round failed (the events stay in the outbox for a later round).
    type Error: std::fmt::Display + Send;

    /// Publishes up to one batch of pending events and forgets the acknowledged ones.
    fn relay_round(&mut self) -> impl Future<Output = Result<RelayRound, Self::Error>> + Send;
}

/// When rounds run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelaySchedule {
    /// Wait between rounds while idle (a wake-up cuts it short).
    pub poll: Duration,
    /// Waits after consecutive failed rounds (its `attempts` is ignored: the relay never gives up).
    pub backoff: Backoff,
}

/// Counters of a relay, shared with whoever watches it (tests, metrics).
#[derive(Debug, Default)]
pub struct RelayStats {
    rounds: AtomicU64,
    failed_rounds: AtomicU64,
    published: AtomicU64,
}

impl RelayStats {
    /// Rounds finished (failed ones included).
    pub fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::SeqCst)
    }

    /// Rounds that failed.
    pub fn failed_rounds(&self) -> u64 {
        self.failed_rounds.load(Ordering::SeqCst)
    }

    /// Events acknowledged by the broker.
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::SeqCst)
    }
}

/// Runs rounds of `source` until `shutdown` completes (a round in progress finishes first).
/// `wake` (notified by writers) starts the next round early, except while backing off.
pub async fn run_relay<S: OutboxSource>(
    name: &'static str,
    mut source: S,
    schedule: RelaySchedule,
    wake: Option<Arc<Notify>>,
    stats: Arc<RelayStats>,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut failures = 0u32;
    loop {
        let outcome = source.relay_round().await;
        stats.rounds.fetch_add(1, Ordering::SeqCst);
        let wait = match outcome {
            Ok(round) => {
                failures = 0;
                stats.published.fetch_add(round.published as u64, Ordering::SeqCst);
                if round.published > 0 {
                    tracing::debug!(relay = name, published = round.published, "outbox round");
                }
                if round.more {
                    continue;
                }
                schedule.poll
            }
            Err(err) => {
                failures = failures.saturating_add(1);
                stats.failed_rounds.fetch_add(1, Ordering::SeqCst);
                let delay = schedule.backoff.delay(failures);
                tracing::warn!(relay = name, %err, failures, retry_in_ms = delay.as_millis() as u64, "outbox round failed; the events stay queued");
                delay
            }
        };
        let woken = async {
            match (&wake, failures) {
                (Some(wake), 0) => wake.notified().await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            () = &mut shutdown => return,
            () = woken => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// Plays back scripted round outcomes, then reports idle rounds.
    struct Scripted(VecDeque<Result<RelayRound, String>>);

    impl OutboxSource for Scripted {
        type Error = String;

        async fn relay_round(&mut self) -> Result<RelayRound, String> {
            self.0.pop_front().unwrap_or(Ok(RelayRound::default()))
        }
    }

    fn schedule() -> RelaySchedule {
        RelaySchedule {
            poll: Duration::from_secs(3600),
            backoff: Backoff {
                initial: Duration::from_millis(1),
                max: Duration::from_millis(2),
                attempts: 1,
            },
        }
    }

    /// Full batches run back to back, a failure backs off and is retried, a wake-up starts an
    /// idle relay's next round (the poll interval is an hour), and shutdown ends it.
    #[tokio::test]
    async fn rounds_follow_more_failures_wakeups_and_shutdown() {
        let more = |published| Ok(RelayRound { published, more: true });
        let script = VecDeque::from([
            more(2),
            more(3),
            Err("broker down".to_string()),
            Ok(RelayRound { published: 1, more: false }),
        ]);
        let (stats, wake) = (Arc::new(RelayStats::default()), Arc::new(Notify::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let relay = tokio::spawn(run_relay(
            "test",
            Scripted(script),
            schedule(),
            Some(Arc::clone(&wake)),
            Arc::clone(&stats),
            async {
                let _ = stopped.await;
            },
        ));
        let wait_for_rounds = async |n: u64| {
            while stats.rounds() < n {
                tokio::task::yield_now().await;
            }
        };
        wait_for_rounds(4).await;
        assert_eq!((stats.published(), stats.failed_rounds()), (6, 1));
        wake.notify_one();
        wait_for_rounds(5).await;
        stop.send(()).unwrap();
        relay.await.unwrap();
        assert_eq!(stats.rounds(), 5, "idle until woken, then one idle round, then stopped");
    }
}
