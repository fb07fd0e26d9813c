//! A fair queue over the limiter: priority, FIFO within a priority, a concurrency cap.
//!
//! Head-of-line rule (see [`Scheduler::poll`]): the oldest request of the highest priority is
//! the *head*. It is admitted as soon as the limiter admits it, and nothing may push its start
//! back by more than a bounded slack, so a large request is never starved by a stream of small
//! ones. Behind a blocked head, requests that fit now may *backfill* (run first) while the
//! head's projected start moves back by at most [`BACKFILL_SLACK_MS`] in all; only the
//! [`BACKFILL_WINDOW`] entries right behind the head are looked at, so each decision costs
//! O(log n).

use super::limiter::{Cost, Dim, Limiter, Ticket};
use super::Ms;

/// Identifies a queued call.
pub type Id = u64;

/// How many entries behind the head are considered for backfill.
pub const BACKFILL_WINDOW: usize = 32;

/// The most a head's projected start may be pushed back by backfilled requests, ms.
pub const BACKFILL_SLACK_MS: Ms = 1_000.0;

/// What one [`Scheduler::poll`] decided.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Poll {
    /// Admitted now, in order, each with its reservation. Each takes a concurrency slot until
    /// [`Scheduler::finish`] is called for it.
    pub admitted: Vec<(Id, Ticket)>,
    /// Removed from the queue because they can never fit: (id, dimension, cost, capacity).
    pub never: Vec<(Id, Dim, f64, f64)>,
    /// When to poll again (epoch ms), if anything is queued and waits on time. `None` when
    /// the queue is empty or blocked only by the concurrency cap (a `finish` will wake it).
    pub wake_at_ms: Option<Ms>,
}

/// The scheduler's state.
#[derive(Debug, Clone)]
pub struct Scheduler {
    _todo: (),
}

impl Scheduler {
    /// An empty scheduler; `concurrency` caps admitted-but-unfinished requests (`None` = no
    /// cap).
    pub fn new(concurrency: Option<u32>) -> Self {
        let _ = concurrency;
        todo!("Scheduler::new")
    }
    /// Queue `id`. Higher `priority` goes first; within a priority, lower `seq` goes first
    /// (callers pass the submission order, and a retried call keeps its original `seq`, so it
    /// keeps its place). Re-pushing a queued id replaces the entry.
    pub fn push(&mut self, id: Id, priority: i32, seq: u64, cost: Cost) {
        let _ = (id, priority, seq, cost);
        todo!("Scheduler::push")
    }
    /// Remove a queued id (abort, deadline, close). False if it was not queued.
    pub fn remove(&mut self, id: Id) -> bool {
        let _ = id;
        todo!("Scheduler::remove")
    }
    /// An admitted request finished (or was cancelled): free its concurrency slot.
    pub fn finish(&mut self) {
        todo!("Scheduler::finish")
    }
    /// Admit what can go now, reserving through `limiter`.
    pub fn poll(&mut self, now_ms: Ms, limiter: &mut Limiter) -> Poll {
        let _ = (now_ms, limiter);
        todo!("Scheduler::poll")
    }
    /// Queued entries.
    pub fn len(&self) -> usize {
        todo!("Scheduler::len")
    }
    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Admitted and not yet finished.
    pub fn in_flight(&self) -> u32 {
        todo!("Scheduler::in_flight")
    }
    /// Remove and return every queued id, in queue order.
    pub fn drain(&mut self) -> Vec<Id> {
        todo!("Scheduler::drain")
    }
    /// Is `id` queued?
    pub fn contains(&self, id: Id) -> bool {
        let _ = id;
        todo!("Scheduler::contains")
    }
}
