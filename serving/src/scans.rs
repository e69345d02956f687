//! Coalesced index scans. A known user's top-N through the int8 index reads every item's codes
//! (~3.4 MB for the ML-20M shape at 128 factors), which costs more in memory traffic than in
//! arithmetic; the engine answers up to four such queries in one pass over the codes
//! ([`QuantizedIndex::recommend_group`](engine::QuantizedIndex::recommend_group)). Each model
//! keeps a [`ScanQueue`]: a request adds its [`ScanJob`] and waits for a query permit; whoever
//! gets a permit first takes every waiting job (up to [`MAX_COALESCED`]) and answers them
//! together on its own task. A request alone is answered at once, as before; under load the
//! requests that arrive while both permits are busy share the next pass.

use std::sync::Mutex;

use engine::{EngineError, RecommendOptions, ScoredItem};
use tokio::sync::oneshot;

/// Most jobs one turn takes from the queue (two passes of four): enough to share the codes
/// between the requests of a busy moment, few enough that no request waits for many scans.
pub const MAX_COALESCED: usize = 8;

/// What a job's requester receives.
pub type ScanAnswer = Result<Vec<ScoredItem>, EngineError>;

/// One known user's top-N scan, waiting for its turn.
#[derive(Debug)]
pub struct ScanJob {
    /// The user's dense index.
    pub user_idx: u32,
    /// How many items to return.
    pub n: usize,
    /// Leave out the items the user rated.
    pub exclude_seen: bool,
    /// Items never returned (sorted).
    pub deny: Vec<u32>,
    reply: oneshot::Sender<ScanAnswer>,
}

impl ScanJob {
    /// A job and the receiver of its answer.
    pub fn new(
        user_idx: u32,
        n: usize,
        exclude_seen: bool,
        deny: Vec<u32>,
    ) -> (Self, oneshot::Receiver<ScanAnswer>) {
        let (reply, answer) = oneshot::channel();
        (Self { user_idx, n, exclude_seen, deny, reply }, answer)
    }

    /// The job as engine query options.
    pub fn options(&self) -> RecommendOptions<'_> {
        RecommendOptions { n: self.n, exclude_seen: self.exclude_seen, allow: None, deny: &self.deny }
    }

    /// Sends the answer (a requester that has gone away is not waiting for it).
    pub fn reply(self, answer: ScanAnswer) {
        let _gone = self.reply.send(answer);
    }
}

/// The jobs of one model waiting for a turn.
#[derive(Debug, Default)]
pub struct ScanQueue {
    waiting: Mutex<Vec<ScanJob>>,
}

impl ScanQueue {
    /// Adds a job.
    pub fn push(&self, job: ScanJob) {
        self.waiting.lock().expect("the scan queue is never poisoned").push(job);
    }

    /// Takes the oldest waiting jobs, at most [`MAX_COALESCED`].
    pub fn take(&self) -> Vec<ScanJob> {
        let mut waiting = self.waiting.lock().expect("the scan queue is never poisoned");
        let n = waiting.len().min(MAX_COALESCED);
        waiting.drain(..n).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_takes_the_oldest_jobs_up_to_the_bound_and_replies_reach_their_requesters() {
        let queue = ScanQueue::default();
        let answers: Vec<_> = (0..MAX_COALESCED as u32 + 3)
            .map(|user| {
                let (job, answer) = ScanJob::new(user, 10, true, vec![user]);
                queue.push(job);
                answer
            })
            .collect();
        let first = queue.take();
        assert_eq!(
            first.iter().map(|j| j.user_idx).collect::<Vec<_>>(),
            (0..MAX_COALESCED as u32).collect::<Vec<_>>()
        );
        assert_eq!(first[2].options().deny, [2]);
        let second = queue.take();
        assert_eq!(second.iter().map(|j| j.user_idx).collect::<Vec<_>>(), [8, 9, 10]);
        assert!(queue.take().is_empty());
        for job in first.into_iter().chain(second) {
            let user_idx = job.user_idx;
            job.reply(Ok(vec![ScoredItem { item_idx: user_idx, score: 1.0 }]));
        }
        for (user, mut answer) in answers.into_iter().enumerate() {
            assert_eq!(answer.try_recv().unwrap().unwrap()[0].item_idx, user as u32);
        }
    }
}
