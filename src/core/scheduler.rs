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
//! # Limit keys: one queue per key, no head-of-line blocking across keys
//!
//! Every entry belongs to a limit key's slot ([`crate::core::keys`]) and draws on that key's
//! limiter only. Each key has its own queue, in the order above, and the rule above holds
//! within each key. Across keys, the heads of the keys that may go are taken in the same
//! order (priority, then submission): one fair queue, in which a call whose key has tokens is
//! never held behind a call whose key has none. A key whose head is blocked is set aside
//! until its wake time, or until something changes it: an entry pushed to or removed from its
//! queue, or its limiter changed by the engine ([`Scheduler::wake`]). The concurrency cap is
//! the scheduler's, over every key.
//!
//! Cost: the queue is a balanced search tree (a treap) ordered by `(priority desc, seq, id)`,
//! per key, with an index by id, and the keys that may go in another, by their heads; the
//! blocked ones in a set by wake time. So push, remove and each admission are O(log n)
//! (expected) however many keys there are; a key whose head is blocked costs one look at no
//! more than [`BACKFILL_WINDOW`] entries, each at the price of one limiter clone (a few
//! numbers), each time it wakes.
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

use super::index::{time_key, IdMap, Key, PairSet, Tree};
use super::keys::Slot;
use super::limiter::{Blocker, Cost, Decision, Dim, Limiter, Ticket};
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
    /// Removed from the queue because the `refuse` rule of [`Scheduler::poll_keys`] refused
    /// them as head: (id, the wait it gave, ms).
    pub refused: Vec<(Id, Ms)>,
    /// When to poll again (epoch ms), if anything is queued and waits on time. `None` when
    /// the queue is empty or blocked only by the concurrency cap (a `finish` will wake it).
    pub wake_at_ms: Option<Ms>,
    /// The heads its key's limiter made wait in this poll: (id, what holds it, until when).
    pub blocked: Vec<(Id, Blocker, Ms)>,
}

/// The rule that refuses a blocked head rather than let it wait: given the head's limiter, the
/// time, the head's cost and the limiter's answer (a [`Decision::Wait`]), the wait to report,
/// or `None` to let it wait.
pub type Refuse<'a> = &'a dyn Fn(&Limiter, Ms, Cost, &Decision) -> Option<Ms>;

/// The queue key: priority descending (`i32::MAX` is 0), then `seq`, then id (so equal seqs
/// stay distinct).
fn queue_key(priority: i32, seq: u64, id: Id) -> Key {
    ((i64::from(i32::MAX) - i64::from(priority)) as u64, seq, id)
}

/// One queued call.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Its place in its key's queue.
    key: Key,
    cost: Cost,
    /// Its limit key.
    slot: Slot,
    /// How far backfill has pushed this entry's projected start back, ms, while it was head.
    slack_used_ms: Ms,
}

/// One limit key's queue and where the key stands.
#[derive(Debug, Clone, Default)]
struct Lane {
    /// The queue order (values unused).
    queue: Tree,
    /// Its head's key in `ready`, while the key may go.
    ready: Option<Key>,
    /// Its entry in `blocked` (wake time key), while its head is blocked.
    blocked: Option<u64>,
}

/// The scheduler's state.
#[derive(Debug, Clone)]
pub struct Scheduler {
    /// Each queued id's entry, with its place in its lane.
    entries: IdMap<Entry>,
    /// By slot.
    lanes: Vec<Lane>,
    /// The keys that may go, by their heads' queue keys (value: the slot).
    ready: Tree,
    /// The keys whose heads are blocked: (wake time key, slot).
    blocked: PairSet,
    /// Blocked keys whose backfill the concurrency cap cut short: a `finish` wakes them.
    capped: Vec<Slot>,
    len: usize,
    concurrency: Option<u32>,
    in_flight: u32,
}

impl Scheduler {
    /// An empty scheduler; `concurrency` caps admitted-but-unfinished requests (`None` = no
    /// cap).
    pub fn new(concurrency: Option<u32>) -> Self {
        Scheduler {
            entries: IdMap::default(),
            lanes: Vec::new(),
            ready: Tree::new(),
            blocked: PairSet::default(),
            capped: Vec::new(),
            len: 0,
            concurrency,
            in_flight: 0,
        }
    }

    /// Queue `id` on the only key (slot 0): see [`Scheduler::push_to`].
    pub fn push(&mut self, id: Id, priority: i32, seq: u64, cost: Cost) {
        self.push_to(0, id, priority, seq, cost);
    }

    /// Queue `id` on the key of `slot`. Higher `priority` goes first; within a priority,
    /// lower `seq` goes first (callers pass the submission order, and a retried call keeps its
    /// original `seq`, so it keeps its place). Re-pushing a queued id replaces the entry (and
    /// its slack account).
    pub fn push_to(&mut self, slot: Slot, id: Id, priority: i32, seq: u64, cost: Cost) {
        self.remove(id);
        let key = queue_key(priority, seq, id);
        let i = slot as usize;
        if self.lanes.len() <= i {
            self.lanes.resize_with(i + 1, Lane::default);
        }
        self.lanes[i].queue.insert(key, 0);
        self.len += 1;
        self.entries.insert(
            id,
            Entry {
                key,
                cost,
                slot,
                slack_used_ms: 0.0,
            },
        );
        self.wake(slot);
    }

    /// Remove a queued id (abort, deadline, close). False if it was not queued.
    pub fn remove(&mut self, id: Id) -> bool {
        match self.entries.get(&id).copied() {
            Some(entry) => {
                self.take(&entry);
                // Its key's head may have changed.
                self.wake(entry.slot);
                true
            }
            None => false,
        }
    }

    /// The key of `slot` may be able to go now (its limiter changed, or its queue): look at it
    /// at the next poll.
    pub fn wake(&mut self, slot: Slot) {
        let Some(lane) = self.lanes.get_mut(slot as usize) else {
            return;
        };
        if let Some(k) = lane.blocked.take() {
            self.blocked.remove(&(k, u64::from(slot)));
        }
        if let Some(k) = lane.ready.take() {
            self.ready.remove(&k);
        }
        if let Some((head, _)) = lane.queue.first() {
            lane.ready = Some(head);
            self.ready.insert(head, u64::from(slot));
        }
    }

    /// Look at every key at the next poll.
    fn wake_all(&mut self) {
        for s in 0..self.lanes.len() {
            self.wake(s as Slot);
        }
    }

    /// An admitted request finished (or was cancelled): free its concurrency slot. Extra
    /// calls are ignored (the count never goes below 0).
    pub fn finish(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
        for s in std::mem::take(&mut self.capped) {
            if self.lanes[s as usize].blocked.is_some() {
                self.wake(s);
            }
        }
    }

    /// True when `extra` more admissions would exceed the concurrency cap.
    fn exceeds_cap(&self, extra: u32) -> bool {
        self.concurrency
            .is_some_and(|c| self.in_flight.saturating_add(extra) > c)
    }

    /// Take an entry out of its queue (its key's place in `ready` is left to the caller).
    fn take(&mut self, entry: &Entry) {
        self.lanes[entry.slot as usize].queue.remove(&entry.key);
        self.entries.remove(&entry.key.2);
        self.len -= 1;
    }

    /// Admit what can go now on the only key (slot 0), reserving through `limiter`: see
    /// [`Scheduler::poll_keys`]. Every key is looked at (the limiter may have changed since
    /// the last poll without the scheduler being told).
    pub fn poll(&mut self, now_ms: Ms, limiter: &mut Limiter) -> Poll {
        self.wake_all();
        self.poll_keys(now_ms, std::slice::from_mut(limiter), &|_, _, _, _| None)
    }

    /// Admit what can go now, reserving through each entry's key's limiter (`limiters`,
    /// indexed by slot), by the head-of-line rule of the [module docs](self): within a key,
    /// the head goes as soon as its limiter admits it, and behind a blocked head up to
    /// [`BACKFILL_WINDOW`] entries may backfill within the head's slack; across keys, the
    /// heads that may go go in queue order. A blocked head that `refuse` refuses is removed
    /// and reported, and its key's next entry becomes head.
    ///
    /// `wake_at_ms` is the earliest time at which a poll could admit something that this one
    /// could not: the earliest blocked key's projected start (or a backfill candidate's, if
    /// it waits for less). `None` when the queue is empty or the concurrency cap is reached.
    pub fn poll_keys(&mut self, now_ms: Ms, limiters: &mut [Limiter], refuse: Refuse<'_>) -> Poll {
        let mut out = Poll::default();
        // Blocked keys whose time came.
        let now_key = time_key(now_ms);
        while let Some((k, s)) = self.blocked.first() {
            if k > now_key {
                break;
            }
            self.wake(s as Slot);
        }
        while let Some((head, s)) = self.ready.first() {
            if self.exceeds_cap(1) {
                return out;
            }
            let slot = s as Slot;
            let entry = self.entries[&head.2];
            let Some(limiter) = limiters.get_mut(slot as usize) else {
                // No limiter for this key (cannot happen): it can never go.
                self.take(&entry);
                self.wake(slot);
                out.never.push((head.2, Dim::Requests, 1.0, 0.0));
                continue;
            };
            match limiter.acquire(now_ms, entry.cost) {
                Decision::Admit(ticket) => {
                    self.take(&entry);
                    self.in_flight += 1;
                    out.admitted.push((head.2, ticket));
                }
                Decision::Never {
                    dim,
                    cost,
                    capacity,
                } => {
                    self.take(&entry);
                    out.never.push((head.2, dim, cost, capacity));
                }
                decision @ Decision::Wait { until_ms, blocker } => {
                    if let Some(wait) = refuse(limiter, now_ms, entry.cost, &decision) {
                        self.take(&entry);
                        out.refused.push((head.2, wait));
                    } else {
                        out.blocked.push((head.2, blocker, until_ms));
                        // Short of requests, or paused: so is every entry behind it (each
                        // needs one request too), no sooner than the head. Nothing to offer.
                        let (wake, capped) = match blocker {
                            Blocker::Paused
                            | Blocker::Store
                            | Blocker::FirstResponse
                            | Blocker::Dim(Dim::Requests) => (until_ms, false),
                            Blocker::Dim(_) => {
                                self.backfill(now_ms, limiter, head, until_ms, &mut out)
                            }
                        };
                        let lane = &mut self.lanes[slot as usize];
                        if let Some(k) = lane.ready.take() {
                            self.ready.remove(&k);
                        }
                        let k = time_key(wake);
                        lane.blocked = Some(k);
                        self.blocked.insert((k, s));
                        if capped {
                            self.capped.push(slot);
                        }
                        continue;
                    }
                }
            }
            self.wake(slot);
        }
        out.wake_at_ms = self
            .blocked
            .first()
            .map(|(k, _)| f64::from_bits(k).max(now_ms));
        out
    }

    /// Offer the idle capacity behind the blocked head `head` (projected start `head_start`)
    /// to the entries right behind it in its key's queue. Returns the earliest wake time (the
    /// head's projected start after the backfill, or a skipped candidate's own start if that
    /// is earlier) and whether the concurrency cap cut the backfill short.
    fn backfill(
        &mut self,
        now_ms: Ms,
        limiter: &mut Limiter,
        head: Key,
        mut head_start: Ms,
        out: &mut Poll,
    ) -> (Ms, bool) {
        let mut wake = Ms::INFINITY;
        let mut capped = false;
        let Entry {
            cost: head_cost,
            slack_used_ms: mut slack_used,
            slot,
            ..
        } = self.entries[&head.2];
        let candidates = self.lanes[slot as usize]
            .queue
            .keys(Some(&head), BACKFILL_WINDOW);
        for key in candidates {
            let entry = self.entries[&key.2];
            // A check first (no copy of the limiter): most candidates behind a blocked head
            // are blocked too.
            let mut trial = match limiter.check(now_ms, entry.cost) {
                // Keep one slot for the head. Only a candidate that could go now makes the
                // key wait for a slot (and a `finish` look at it again).
                Decision::Admit(_) if self.exceeds_cap(2) => {
                    capped = true;
                    break;
                }
                Decision::Admit(_) => limiter.clone(),
                Decision::Wait { until_ms, .. } => {
                    wake = wake.min(until_ms);
                    continue;
                }
                Decision::Never {
                    dim,
                    cost,
                    capacity,
                } => {
                    self.take(&entry);
                    out.never.push((key.2, dim, cost, capacity));
                    continue;
                }
            };
            match trial.acquire(now_ms, entry.cost) {
                Decision::Never {
                    dim,
                    cost,
                    capacity,
                } => {
                    self.take(&entry);
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
                        self.take(&entry);
                        self.in_flight += 1;
                        out.admitted.push((key.2, ticket));
                    }
                }
            }
        }
        if let Some(e) = self.entries.get_mut(&head.2) {
            e.slack_used_ms = slack_used;
        }
        (wake.min(head_start), capped)
    }

    /// Queued entries.
    pub fn len(&self) -> usize {
        self.len
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
    /// Remove and return every queued id, in queue order (across keys: priority, then seq).
    pub fn drain(&mut self) -> Vec<Id> {
        let mut keys: Vec<Key> = Vec::with_capacity(self.len);
        for lane in &mut self.lanes {
            keys.extend(lane.queue.keys(None, usize::MAX));
            *lane = Lane::default();
        }
        self.entries.clear();
        self.ready.clear();
        self.blocked = PairSet::default();
        self.capped.clear();
        self.len = 0;
        keys.sort_unstable();
        keys.into_iter().map(|k| k.2).collect()
    }
    /// The entry that goes next in queue order across every key (the head), if any. O(keys).
    pub fn head(&self) -> Option<Id> {
        self.lanes
            .iter()
            .filter_map(|l| l.queue.first().map(|(k, _)| k))
            .min()
            .map(|k| k.2)
    }
    /// Is `id` queued?
    pub fn contains(&self, id: Id) -> bool {
        self.entries.contains_key(&id)
    }
}
