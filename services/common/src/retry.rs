//! Bounded retry with exponential backoff and jitter, for calls to servers that may be briefly
//! down (Redis, PostgreSQL, MongoDB, Kafka, S3). Permanent errors are returned at once.

use std::time::Duration;

/// How often and how long to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first retry.
    pub initial: Duration,
    /// Upper bound of any one delay.
    pub max: Duration,
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
}

impl Default for Backoff {
    /// 5 attempts: waits of about 50, 100, 200 and 400 ms (at most 2 s each).
    fn default() -> Self {
        Self { initial: Duration::from_millis(50), max: Duration::from_secs(2), attempts: 5 }
    }
}

impl Backoff {
    /// The wait after failed attempt `attempt` (1-based): `initial · 2^(attempt-1)`, capped at
    /// `max`, then scaled by a jitter factor in [0.5, 1.0) so that many clients do not retry in
    /// lockstep.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponential = self.initial.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        exponential.min(self.max).mul_f64(0.5 + 0.5 * jitter_unit())
    }
}

/// A number in [0, 1) that differs between calls (not cryptographic).
fn jitter_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos()
            as u64,
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Runs `operation` until it succeeds, fails with an error `is_transient` rejects, or
/// `backoff.attempts` attempts are used; each retry is logged with `what`. Returns the last
/// error.
pub async fn retry<T, E, Op, Fut>(
    backoff: &Backoff,
    what: &str,
    is_transient: impl Fn(&E) -> bool,
    mut operation: Op,
) -> Result<T, E>
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let attempts = backoff.attempts.max(1);
    let mut attempt = 1;
    loop {
        match operation().await {
            Ok(value) => return Ok(value),
            Err(err) if attempt < attempts && is_transient(&err) => {
                let delay = backoff.delay(attempt);
                tracing::warn!(%err, attempt, attempts, delay_ms = delay.as_millis() as u64, "{what} failed; retrying");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    const FAST: Backoff =
        Backoff { initial: Duration::from_millis(1), max: Duration::from_millis(4), attempts: 4 };

    #[test]
    fn delays_double_up_to_the_cap_with_jitter() {
        let backoff =
            Backoff { initial: Duration::from_millis(100), max: Duration::from_millis(300), attempts: 5 };
        for (attempt, full) in [(1, 100), (2, 200), (3, 300), (4, 300)] {
            let delay = backoff.delay(attempt).as_secs_f64() * 1000.0;
            assert!(delay >= full as f64 * 0.5 && delay < full as f64, "attempt {attempt}: {delay} ms");
        }
    }

    #[tokio::test]
    async fn retries_transient_errors_until_success() {
        let calls = AtomicU32::new(0);
        let result: Result<u32, String> = retry(
            &FAST,
            "test call",
            |_| true,
            || async {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                if n < 3 { Err(format!("down {n}")) } else { Ok(n) }
            },
        )
        .await;
        assert_eq!(result, Ok(3));
    }

    #[tokio::test]
    async fn gives_up_after_the_last_attempt_with_the_last_error() {
        let calls = AtomicU32::new(0);
        let result: Result<(), String> = retry(
            &FAST,
            "test call",
            |_| true,
            || async { Err(format!("down {}", calls.fetch_add(1, Ordering::SeqCst) + 1)) },
        )
        .await;
        assert_eq!(result, Err("down 4".to_string()));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let result: Result<(), String> = retry(
            &FAST,
            "test call",
            |e: &String| e != "bad request",
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err("bad request".to_string())
            },
        )
        .await;
        assert_eq!(result, Err("bad request".to_string()));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
