//! A fair queue over the limiter: priority, FIFO within a priority, a concurrency cap.
//!
//! Order: higher priority first; within a priority, lower `seq` first (the submission order;
//! a retried call keeps its `seq`, so it keeps its place).
//!
//! # Head-of-line rule, with bounded backfill
//!
//! The first entry in that order is the *head*. [`Scheduler::poll`] works like this:
//!
//! 1. While a concurrency slot is free, the head asks the limiter. Admitted: it goes, and the
//!    next entry becomes the head. Never (it cannot fit a limit): it is removed and reported.
//! 2. Blocked until `until` (a bucket is short, or a 429 paused everything): the head keeps its
//!    place; `until` is its *projected start*. Then the [`BACKFILL_WINDOW`] entries right
//!    behind it are offered the idle capacity, in queue order. A candidate goes now only if
//!    * the limiter admits it now, and
//!    * the head's projected start, recomputed as if the candidate had been admitted, moves
//!      back by at most what remains of the head's slack: all the backfill admitted while
//!      an entry is head may push its start back by at most [`BACKFILL_SLACK_MS`] in total
//!      (the account belongs to the entry and is kept if it stops being head for a while), and
//!    * a concurrency slot stays free for the head after it (with a cap of 1, nothing
//!      backfills): otherwise a backfilled request could hold the head's slot for as long as
//!      it runs, a delay no slack bounds.
//!
//!    A candidate that can never fit is removed and reported; one that does not fit now is
//!    skipped (and its own `until` may wake the queue earlier).
//!
//! Why a large request is never starved: nothing ever jumps the head except through step 2,
//! and step 2 admits only what costs the head at most [`BACKFILL_SLACK_MS`] of start time in
//! all. So, with usage equal to the reservations and no other traffic, the head starts no
//! later than its solo start (when it would start with nothing admitted behind it) plus
//! [`BACKFILL_SLACK_MS`], however many small requests keep arriving behind it.
//!
//! How idle capacity is used: a candidate that draws only on dimensions the head is not short
//! of costs the head nothing and goes at once (a small request while a large one waits for
//! input tokens still needs only one request token, and, while RPM is plentiful, does not
//! delay the head). A candidate that competes with the head for the same bucket goes only
//! within the slack: for a 1 s slack and a 60 000 ITPM limit that is up to 1 000 input tokens
//! of small requests per head.
//!
//! Cost: the queue is a balanced search tree (a treap) ordered by `(priority desc, seq, id)`,
//! with an index by id, so push, remove and each admission are O(log n) (expected); a blocked
//! poll looks at no more than [`BACKFILL_WINDOW`] entries, each at the price of one limiter
//! clone (a few numbers).
//!
//! ```
//! use llm_pacer::core::limiter::{Cost, Limiter, Limits};
//! use llm_pacer::core::scheduler::Scheduler;
//!
//! let mut limiter = Limiter::new(Limits { rpm: Some(2.0), ..Limits::default() }, 0.0);
//! let mut s = Scheduler::new(None);
//! s.push(1, 0, 1, Cost::default());
//! s.push(2, 0, 2, Cost::default());
//! s.push(3, 5, 3, Cost::default()); // higher priority: first
//! let p = s.poll(0.0, &mut limiter);
//! let ids: Vec<u64> = p.admitted.iter().map(|&(id, _)| id).collect();
//! assert_eq!(ids, [3, 1]);
//! // One request token per 30 s; the wake comes 1 ms past the exact edge.
//! assert_eq!(p.wake_at_ms, Some(30_001.0));
//! ```

use super::index::{IdMap, Key, Tree};
use super::limiter::{Cost, Decision, Dim, Limiter, Ticket};
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

/// The queue key: priority descending (`i32::MAX` is 0), then `seq`, then id (so equal seqs
/// stay distinct).
fn queue_key(priority: i32, seq: u64, id: Id) -> Key {
    ((i64::from(i32::MAX) - i64::from(priority)) as u64, seq, id)
}

/// One queued call.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Its place in the queue.
    key: Key,
    cost: Cost,
    /// How far backfill has pushed this entry's projected start back, ms, while it was head.
    slack_used_ms: Ms,
}

/// The scheduler's state.
#[derive(Debug, Clone)]
pub struct Scheduler {
    /// The queue order (values unused).
    queue: Tree,
    /// Each queued id's entry, with its place in `queue`.
    entries: IdMap<Entry>,
    concurrency: Option<u32>,
    in_flight: u32,
}

impl Scheduler {
    /// An empty scheduler; `concurrency` caps admitted-but-unfinished requests (`None` = no
    /// cap).
    pub fn new(concurrency: Option<u32>) -> Self {
        Scheduler {
            queue: Tree::new(),
            entries: IdMap::default(),
            concurrency,
            in_flight: 0,
        }
    }
    /// Queue `id`. Higher `priority` goes first; within a priority, lower `seq` goes first
    /// (callers pass the submission order, and a retried call keeps its original `seq`, so it
    /// keeps its place). Re-pushing a queued id replaces the entry (and its slack account).
    pub fn push(&mut self, id: Id, priority: i32, seq: u64, cost: Cost) {
        self.remove(id);
        let key = queue_key(priority, seq, id);
        self.queue.insert(key, 0);
        self.entries.insert(
            id,
            Entry {
                key,
                cost,
                slack_used_ms: 0.0,
            },
        );
    }
    /// Remove a queued id (abort, deadline, close). False if it was not queued.
    pub fn remove(&mut self, id: Id) -> bool {
        match self.entries.remove(&id) {
            Some(entry) => {
                self.queue.remove(&entry.key);
                true
            }
            None => false,
        }
    }
    /// An admitted request finished (or was cancelled): free its concurrency slot. Extra
    /// calls are ignored (the count never goes below 0).
    pub fn finish(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }
    /// True when `extra` more admissions would exceed the concurrency cap.
    fn exceeds_cap(&self, extra: u32) -> bool {
        self.concurrency
            .is_some_and(|c| self.in_flight.saturating_add(extra) > c)
    }
    /// Take `key` out of the queue.
    fn take(&mut self, key: &Key) {
        self.queue.remove(key);
        self.entries.remove(&key.2);
    }
    /// Admit what can go now, reserving through `limiter`, by the head-of-line rule of the
    /// [module docs](self): the head goes as soon as the limiter admits it; behind a blocked
    /// head, up to [`BACKFILL_WINDOW`] entries may backfill within the head's slack.
    ///
    /// `wake_at_ms` is the earliest time at which a poll could admit something that this one
    /// could not: the head's projected start, or earlier if a backfill candidate waits for
    /// less. `None` when the queue is empty or the concurrency cap is reached.
    pub fn poll(&mut self, now_ms: Ms, limiter: &mut Limiter) -> Poll {
        let mut out = Poll::default();
        loop {
            if self.exceeds_cap(1) {
                return out;
            }
            let Some((key, _)) = self.queue.first() else {
                return out;
            };
            let entry = self.entries[&key.2];
            match limiter.acquire(now_ms, entry.cost) {
                Decision::Admit(ticket) => {
                    self.take(&key);
                    self.in_flight += 1;
                    out.admitted.push((key.2, ticket));
                }
                Decision::Never {
                    dim,
                    cost,
                    capacity,
                } => {
                    self.take(&key);
                    out.never.push((key.2, dim, cost, capacity));
                }
                Decision::Wait { until_ms, .. } => {
                    let wake = self.backfill(now_ms, limiter, key, until_ms, &mut out);
                    out.wake_at_ms = Some(wake);
                    return out;
                }
            }
        }
    }

    /// Offer the idle capacity behind the blocked head `head` (projected start `head_start`)
    /// to the entries right behind it. Returns the earliest wake time: the head's projected
    /// start after the backfill, or a skipped candidate's own start if that is earlier.
    fn backfill(
        &mut self,
        now_ms: Ms,
        limiter: &mut Limiter,
        head: Key,
        mut head_start: Ms,
        out: &mut Poll,
    ) -> Ms {
        let mut wake = Ms::INFINITY;
        let Entry {
            cost: head_cost,
            slack_used_ms: mut slack_used,
            ..
        } = self.entries[&head.2];
        let candidates = self.queue.keys(Some(&head), BACKFILL_WINDOW);
        for key in candidates {
            // Keep one slot for the head.
            if self.exceeds_cap(2) {
                break;
            }
            let cost = self.entries[&key.2].cost;
            let mut trial = limiter.clone();
            match trial.acquire(now_ms, cost) {
                Decision::Never {
                    dim,
                    cost,
                    capacity,
                } => {
                    self.take(&key);
                    out.never.push((key.2, dim, cost, capacity));
                }
                Decision::Wait { until_ms, .. } => wake = wake.min(until_ms),
                Decision::Admit(ticket) => {
                    let start = match trial.check(now_ms, head_cost) {
                        Decision::Wait { until_ms, .. } => until_ms,
                        Decision::Admit(_) => now_ms,
                        // Capacities are the same as when the head was checked.
                        Decision::Never { .. } => Ms::INFINITY,
                    };
                    let delay = (start - head_start).max(0.0);
                    if slack_used + delay <= BACKFILL_SLACK_MS {
                        slack_used += delay;
                        head_start = head_start.max(start);
                        *limiter = trial;
                        self.take(&key);
                        self.in_flight += 1;
                        out.admitted.push((key.2, ticket));
                    }
                }
            }
        }
        if let Some(e) = self.entries.get_mut(&head.2) {
            e.slack_used_ms = slack_used;
        }
        wake.min(head_start)
    }

    /// Queued entries.
    pub fn len(&self) -> usize {
        self.queue.len()
    }
    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Admitted and not yet finished.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }
    /// The concurrency cap, if any.
    pub fn concurrency(&self) -> Option<u32> {
        self.concurrency
    }
    /// Set the concurrency cap (the adaptive controller's window narrows it for one poll).
    pub fn set_concurrency(&mut self, concurrency: Option<u32>) {
        self.concurrency = concurrency;
    }
    /// Remove and return every queued id, in queue order.
    pub fn drain(&mut self) -> Vec<Id> {
        self.entries.clear();
        let keys = self.queue.keys(None, usize::MAX);
        self.queue.clear();
        keys.into_iter().map(|k| k.2).collect()
    }
    /// The entry that goes next (the head), if any.
    pub fn head(&self) -> Option<Id> {
        self.queue.first().map(|(k, _)| k.2)
    }
    /// Is `id` queued?
    pub fn contains(&self, id: Id) -> bool {
        self.entries.contains_key(&id)
    }
}
