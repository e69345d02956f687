//! What a caller hands to training: thread pool, cancel flag and progress callback.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rayon::ThreadPool;

use crate::error::{EngineError, Result};

/// One progress report, sent after every completed iteration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Iterations completed so far (1-based after the first one).
    pub iteration: usize,
    /// Iterations requested.
    pub n_iterations: usize,
    /// Wall time since training started.
    pub elapsed: Duration,
    /// The training objective after this iteration, when the model computes it.
    pub loss: Option<f64>,
}

/// The progress callback type.
pub type ProgressFn<'a> = dyn Fn(&Progress) + Sync + 'a;

/// Training context. The engine never spawns its own pool or logs: it runs on the pool given
/// here (or the global rayon pool), checks `cancel` at least once per half-iteration, and
/// reports progress through the callback.
#[derive(Clone, Copy, Default)]
pub struct FitContext<'a> {
    pool: Option<&'a ThreadPool>,
    cancel: Option<&'a AtomicBool>,
    progress: Option<&'a ProgressFn<'a>>,
}

impl<'a> FitContext<'a> {
    /// Global rayon pool, no cancellation, no progress.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs training on `pool`.
    pub fn with_pool(mut self, pool: &'a ThreadPool) -> Self {
        self.pool = Some(pool);
        self
    }

    /// Stops training when `flag` becomes true.
    pub fn with_cancel(mut self, flag: &'a AtomicBool) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// Calls `callback` after each iteration.
    pub fn with_progress(mut self, callback: &'a ProgressFn<'a>) -> Self {
        self.progress = Some(callback);
        self
    }

    /// Runs `f` inside the context's pool (or directly, on the global pool).
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match self.pool {
            Some(pool) => pool.install(f),
            None => f(),
        }
    }

    /// `Err(Cancelled)` once the cancel flag is set.
    pub fn check_cancel(&self, completed_iterations: usize) -> Result<()> {
        match self.cancel {
            Some(flag) if flag.load(Ordering::Relaxed) => {
                Err(EngineError::Cancelled { completed_iterations })
            }
            _ => Ok(()),
        }
    }

    /// Whether a caller wants progress reports (so that a model can skip computing the loss).
    pub fn wants_progress(&self) -> bool {
        self.progress.is_some()
    }

    /// Sends one progress report.
    pub fn report(&self, started: Instant, iteration: usize, n_iterations: usize, loss: Option<f64>) {
        if let Some(callback) = self.progress {
            callback(&Progress { iteration, n_iterations, elapsed: started.elapsed(), loss });
        }
    }
}

impl std::fmt::Debug for FitContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FitContext")
            .field("threads", &self.pool.map(|p| p.current_num_threads()))
            .field("cancellable", &self.cancel.is_some())
            .field("progress", &self.progress.is_some())
            .finish()
    }
}
