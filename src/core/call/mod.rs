//! The life of every call, as one sans-IO state machine.
//!
//! [`Engine`] owns the limiter, the scheduler, the retry budget, the statistics and the state
//! of each call. A driver (the Wasm fetch wrapper, the simulator, a test) feeds it events —
//! a call submitted, a response head with its headers, a network error, the body's usage, an
//! abort, the time passing — and carries out the [`Action`]s it returns: send an attempt,
//! deliver the response the driver holds, or fail the call with a [`CallError`]. The driver
//! keeps one timer: it calls [`Engine::poll`] at [`Engine::next_wake`]. Nothing here reads a
//! clock or draws a random number; `now_ms` and `u` come in as arguments.
//!
//! The caller's clock may step back (an NTP correction, a suspended machine, a `clock` option
//! that misbehaves). Inside, time never runs backwards: a step back is taken as time standing
//! still, and the times the engine hands out ([`Engine::next_wake`], [`Verdict::Retry`],
//! event times, [`Engine::limits`]) are on the caller's clock as it is now. So a one-second
//! wait stays one second from now, not one second plus the step. With a clock that never
//! steps back (the usual case) nothing is shifted at all.
//!
//! ```text
//!  submit ─► Queued ──admit──► InFlight ──2xx──► Delivered ──on_done──► (gone)
//!              ▲                  │ retryable
//!              └──timer── Backoff ◄┘         other / out of retries ──► Delivered or Fail
//! ```
//!
//! The engine's transitions, by what they handle: a call submitted and admitted (`admit.rs`),
//! an attempt's answer and its verdict (`answer.rs`), a body's end and its usage (`settle.rs`),
//! a fleet's shared store (`fleet/`: its types and state in `mod.rs`, the reservations and
//! turns in `reserve.rs`, what goes to the store after a send in `figures.rs`); its inputs
//! and outputs are in `io.rs`, one call's state in `state.rs`, the events' reasons in
//! `reasons.rs`.

use super::adaptive::Adaptive;
use super::budget::RetryBudget;
use super::config::Config;
use super::index::{time_key, IdMap, PairSet};
use super::keys::{KeyLimits, Keys, LimitKey, Slot};
use super::limiter::Limiter;
use super::prompt_cache::PromptCache;
use super::scheduler::Scheduler;
use super::transit;
use super::Ms;

mod admit;
mod answer;
mod fleet;
mod held;
mod io;
mod reasons;
mod settle;
mod state;
mod waits;
pub use fleet::{
    StoreAnswer, StoreOp, MIN_RECHECK_MS, MIN_STORE_WAIT_MS, PROBE_RECHECK_MS, TOKEN_RECHECK_MS,
};
pub use io::{Action, CallError, Event, EventKind, Request, Stats, Verdict};
use reasons::GiveUp;
use state::{Call, State};

/// Identifies a call.
pub type Id = u64;

/// How long a request may take to reach the server after it is admitted, as reserved at
/// admission: the limiter counts the refill a full server bucket wastes meanwhile
/// ([`Limiter::set_latency`]), and gives back what the attempt's round trip shows was not
/// wasted when its response head arrives ([`Limiter::arrived`]; see [`transit`]). Counted
/// too short (a fixed 250 ms), the pacer ended up ahead of a server that sends no rate-limit
/// headers on a slow path.
pub const ASSUMED_LATENCY_MS: Ms = transit::RESERVED_MS;

/// The engine: the whole policy, as plain state and pure transitions.
#[derive(Debug, Clone)]
pub struct Engine {
    config: Config,
    /// One limiter per limit key.
    keys: Keys,
    scheduler: Scheduler,
    /// Adaptive window and spacing, while no limit is known (`Config::adaptive`).
    adaptive: Option<Adaptive>,
    budget: Option<RetryBudget>,
    /// While the budget is spent: its probe and the calls it holds ([`held`]).
    hold: held::BudgetHold,
    calls: IdMap<Call>,
    /// Backoff timers: (time key, id).
    timers: PairSet,
    /// Deadlines of calls not yet delivered: (time key, id).
    deadlines: PairSet,
    /// The scheduler's wake time from the last poll.
    sched_wake: Option<Ms>,
    next_id: Id,
    next_seq: u64,
    stats: Stats,
    closed: bool,
    record: bool,
    events: Vec<Event>,
    /// Calls that entered the queue since the last poll (for `wait` events).
    fresh: Vec<Id>,
    /// Calls waiting on a key a server-stated pause holds, to check against their deadlines
    /// at the next poll ([`Engine::pause_key`]).
    paused: Vec<Id>,
    /// The latest time seen, on the engine's own clock (which never runs backwards).
    latest: Ms,
    /// The engine's clock less the caller's: the sum of the steps back the caller's clock
    /// took (0 while it never stepped back).
    shift: Ms,
    /// The shared store's link, when one is configured ([`Engine::set_store`]).
    fleet: Option<fleet::Fleet>,
    /// The prompt prefixes the server reported cached ([`PromptCache`]).
    prompt_cache: PromptCache,
    /// The calls that have prompt prefixes, while they may still wait (some may have ended:
    /// dropped when next looked at).
    prefixed: Vec<Id>,
}

impl Engine {
    /// A new engine. `config` must be valid ([`Config::validate`]).
    pub fn new(config: Config, now_ms: Ms) -> Self {
        let now_ms = if now_ms.is_finite() { now_ms } else { 0.0 };
        Engine {
            keys: Keys::default(),
            scheduler: Scheduler::new(config.concurrency),
            adaptive: config.adaptive.then(Adaptive::new),
            budget: config.budget.map(RetryBudget::new),
            hold: held::BudgetHold::default(),
            config,
            calls: IdMap::default(),
            timers: PairSet::default(),
            deadlines: PairSet::default(),
            sched_wake: None,
            next_id: 1,
            next_seq: 0,
            stats: Stats::default(),
            closed: false,
            record: false,
            events: Vec::new(),
            fresh: Vec::new(),
            paused: Vec::new(),
            latest: now_ms,
            shift: 0.0,
            fleet: None,
            prompt_cache: PromptCache::default(),
            prefixed: Vec::new(),
        }
    }

    /// The caller's `now_ms` on the engine's clock, which never runs backwards: a step back
    /// (or a non-finite time) is taken as time standing still, and later times are shifted
    /// by the step.
    fn clock(&mut self, now_ms: Ms) -> Ms {
        let t = now_ms + self.shift;
        if !t.is_finite() {
            return self.latest;
        }
        if t < self.latest {
            self.shift += self.latest - t;
            return self.latest;
        }
        self.latest = t;
        t
    }

    /// A time on the engine's clock, as the caller's clock reads it.
    fn external(&self, t: Ms) -> Ms {
        t - self.shift
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Record events for [`Engine::drain_events`] (off by default: no cost when unused).
    pub fn set_record_events(&mut self, on: bool) {
        self.record = on;
        if !on {
            self.events.clear();
        }
    }

    /// Take the events recorded so far.
    pub fn drain_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    fn event(&mut self, kind: EventKind, id: Id, reason: &'static str, delay_ms: Ms, at_ms: Ms) {
        if self.record {
            let call = self.calls.get(&id);
            let attempt = call.map_or(0, |c| c.attempt);
            let response = call.and_then(|c| c.response);
            self.events.push(Event {
                kind,
                id,
                attempt,
                reason,
                delay_ms,
                at_ms: self.external(at_ms),
                status: response.map_or(0, |r| r.0),
                latency_ms: response.map(|r| r.1),
                usage: None,
                slot: call.map(|c| c.slot),
            });
        }
    }

    /// Remove a call that leaves while waiting (queue or backoff): count its wait.
    fn end_wait(&mut self, now_ms: Ms, id: Id) -> Option<Call> {
        let call = self.calls.remove(&id)?;
        let waited = (now_ms - call.waiting_since).max(0.0);
        let held = call.state == State::Held;
        match call.state {
            State::Queued => {
                self.scheduler.remove(id);
                self.stats.wait_ms += waited;
            }
            State::Deciding | State::Held => self.stats.wait_ms += waited,
            State::Backoff { until } => {
                self.timers.remove(&(time_key(until), id));
                self.stats.wait_ms += waited;
            }
            State::InFlight { ticket } => {
                // Still waiting for the store's word, not sent: that was a wait too.
                if self.reserving(id) {
                    self.stats.wait_ms += waited;
                }
                self.scheduler.finish();
                self.unanswered(call.slot);
                self.keys.limiter_mut(call.slot).lost(now_ms, &ticket);
            }
            State::Delivered { ticket } => {
                self.scheduler.finish();
                self.keys.limiter_mut(call.slot).lost(now_ms, &ticket);
            }
        }
        self.fleet_forget(now_ms, id, call.slot);
        self.budget_forget(now_ms, id, held);
        if let Some(d) = call.deadline {
            self.deadlines.remove(&(time_key(d), id));
        }
        self.keys.release(call.slot, now_ms);
        Some(call)
    }

    /// An attempt of the key in `slot` ended with no answer (aborted, timed out, a network
    /// error): the key's other calls stop waiting for its opening probe's answer.
    fn unanswered(&mut self, slot: Slot) {
        self.keys.limiter_mut(slot).end_probe();
        self.scheduler.wake(slot);
    }

    /// Forget a call that left the engine: its key is no longer in use by it.
    fn forget(&mut self, now_ms: Ms, id: Id) -> Option<Call> {
        let call = self.calls.remove(&id)?;
        self.fleet_forget(now_ms, id, call.slot);
        self.budget_forget(now_ms, id, call.state == State::Held);
        if let Some(d) = call.deadline {
            self.deadlines.remove(&(time_key(d), id));
        }
        self.keys.release(call.slot, now_ms);
        Some(call)
    }

    /// Forget a call whose attempt ended (it holds a concurrency slot, not a queue place).
    fn finish_call(&mut self, now_ms: Ms, id: Id) {
        if self.forget(now_ms, id).is_some() {
            self.scheduler.finish();
        }
    }

    /// The caller aborted `id`: forget it wherever it is. False if it was not known.
    pub fn abort(&mut self, now_ms: Ms, id: Id) -> bool {
        let now_ms = self.clock(now_ms);
        if !self.calls.contains_key(&id) {
            return false;
        }
        self.event(EventKind::GiveUp, id, "aborted", 0.0, now_ms);
        if let Some(a) = self.adaptive.as_mut() {
            a.forget(id);
        }
        self.end_wait(now_ms, id);
        true
    }

    /// Close: queued calls fail with `Closed` (a call waiting out a backoff gets its last
    /// response); in-flight ones finish their attempt with no retry; later submits fail.
    pub fn close(&mut self, now_ms: Ms) -> Vec<Action> {
        let now_ms = self.clock(now_ms);
        self.closed = true;
        let mut out = Vec::new();
        let ids: Vec<Id> = self.calls.ids();
        for id in ids {
            // A call whose reservation the store has not answered yet was not sent: it is
            // queued still, as far as the server knows (the answer is undone when it comes).
            let reserving = self.reserving(id);
            let call = self.calls.get_mut(&id).expect("listed");
            let waiting = reserving || call.state.waiting() || call.state == State::Deciding;
            if waiting {
                let reason = GiveUp::Closed.name();
                self.give_up_waiting(now_ms, id, CallError::Closed, reason, &mut out);
            } else {
                call.no_retry = true;
            }
        }
        self.fresh.clear();
        out
    }

    /// Counters now.
    pub fn stats(&self) -> Stats {
        Stats {
            queued: (self.scheduler.len() + self.timers.len() + self.held_count()) as u64,
            in_flight: u64::from(self.scheduler.in_flight()),
            ..self.stats
        }
    }

    /// What is known of each key's limits now, in the order the keys were first seen.
    pub fn limits(&self, now_ms: Ms) -> Vec<KeyLimits> {
        let now = (now_ms + self.shift).max(self.latest);
        let now = if now.is_finite() { now } else { self.latest };
        self.keys
            .slots()
            .into_iter()
            .map(|(slot, key)| {
                let mut dims = self.keys.limiter(slot).snapshot(now);
                for d in &mut dims {
                    d.reset_at_ms = self.external(d.reset_at_ms);
                }
                KeyLimits {
                    key: key.clone(),
                    dims,
                }
            })
            .collect()
    }

    /// The limiter of `key` (read-only), if the engine holds it, e.g. to inspect or persist
    /// its state. Its times are on the engine's own clock: the caller's, until the caller's
    /// clock steps back (see the [module docs](self)).
    pub fn limiter(&self, key: &LimitKey) -> Option<&Limiter> {
        self.keys.find(key).map(|s| self.keys.limiter(s))
    }

    /// Limit keys held now (see [`crate::core::keys`] for when they are dropped).
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// The limit key in `slot` (an [`Event`]'s), while the key is held.
    pub fn key_of(&self, slot: Slot) -> Option<&LimitKey> {
        self.keys.key(slot)
    }

    /// When `timeoutMs` ends call `id`, on the caller's clock: `None` without a `timeoutMs`,
    /// once its response was delivered, or for a call not known.
    pub fn deadline(&self, id: Id) -> Option<Ms> {
        self.calls.get(&id)?.deadline.map(|d| self.external(d))
    }

    /// Whether call `id` waits (queued, backing off before a retry, or held by a spent retry
    /// budget until another call's retry goes): the calls a driver whose clock fails cannot
    /// wake. Not one on the wire or delivered.
    pub fn waiting(&self, id: Id) -> bool {
        self.calls.get(&id).is_some_and(|c| c.state.waiting())
    }

    /// Calls the engine still tracks (queued, backing off, in flight, awaiting usage).
    pub fn live_calls(&self) -> usize {
        self.calls.len()
    }
}

#[cfg(test)]
mod tests;
