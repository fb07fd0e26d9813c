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

use super::adaptive::{Adaptive, Signal};
use super::backoff::{with_hint, HintDecision};
use super::budget::RetryBudget;
use super::classify::{classify, classify_error, ErrorInfo, FailKind, Outcome, RetryKind};
use super::config::{Config, OutputReservation};
use super::estimate::Prefix;
use super::headers::RateLimitInfo;
use super::index::{time_key, time_of, IdMap, PairSet};
use super::keys::{KeyLimits, Keys, LimitKey, Slot};
use super::limiter::{
    figures, Blocker, Cost, Decision, Dim, Limiter, Ticket, Usage, ROUNDING_SLACK,
};
use super::models::limits_for;
use super::presets::OutputMetering;
use super::prompt_cache::PromptCache;
use super::scheduler::{Poll, Scheduler};
use super::transit;
use super::Ms;

mod fleet;
mod io;
mod reasons;
mod state;
pub use fleet::{StoreAnswer, StoreOp, MIN_STORE_WAIT_MS};
pub use io::{Action, CallError, Event, EventKind, Request, Stats, Verdict};
use reasons::{fail_reason, retry_reason, GiveUp};
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

/// The wait a failed response states: its hint ([`hints::retry_hint`](super::hints::retry_hint)),
/// else, for a 429, the reset of a dimension it reports spent with no limit
/// ([`hints::spent_reset`](super::hints::spent_reset)).
fn stated_hint(
    now_ms: Ms,
    status: u16,
    info: &RateLimitInfo,
    error: Option<&ErrorInfo>,
) -> Option<Ms> {
    super::hints::retry_hint(info.retry_after_ms, error).or_else(|| {
        (status == 429)
            .then(|| super::hints::spent_reset(info, now_ms))
            .flatten()
    })
}

/// Whether a queued head of cost `cost`, blocked by its key's `limiter` (`decision`, a wait),
/// is refused with `RETRY_AFTER_TOO_LONG` rather than kept waiting, and the wait to report:
/// a server-imposed pause longer than `max_ms`, or a limit learned from headers whose refill,
/// by the server's own arithmetic ([`Limiter::stated_wait`]), would keep it waiting longer
/// than that (an IETF window of days, say). Those are the server's terms, and nobody waits
/// them out. A configured limit is the caller's own choice, and is waited on; the estimate of
/// other clients' share only ever delays a call, never fails one.
fn refusal(
    limiter: &Limiter,
    now_ms: Ms,
    cost: Cost,
    decision: &Decision,
    max_ms: Ms,
) -> Option<Ms> {
    if let Some(until) = limiter.paused_until(now_ms) {
        // (Rounded to the ms: a difference of two times may carry float noise, 999.0000000000005.)
        let hint_ms = (until - now_ms).round();
        return (hint_ms > max_ms).then_some(hint_ms);
    }
    if !matches!(
        decision,
        Decision::Wait {
            blocker: Blocker::Dim(_),
            ..
        }
    ) {
        return None;
    }
    let hint_ms = limiter.stated_wait(now_ms, cost)?.round();
    (hint_ms > max_ms).then_some(hint_ms)
}

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

    /// Does this 429 show that the call's request can never fit? The server refused it
    /// although its own headers show room for everything the call reserved (every bucket
    /// they report holds the ticket's amount, an input bucket among them). For a call whose
    /// estimate prices a part of unknown size at a fixed amount (a document,
    /// [`Request::fixed_priced`]), that says it costs more input than was reserved, and more
    /// than that bucket held: its input is raised above it (at least doubled), and the retry
    /// waits for that much room rather than go again into the same refusal. (Another call's
    /// estimate errs high: such a 429 is about something else, an acceleration limit, and
    /// raising it would hold its key for nothing.) Refused so with its input estimate lowered
    /// to a full bucket ([`Limiter::fit`]), or with a full input bucket for a fixed-priced
    /// one, once, a request may merely have come early (rounded figures, another client's
    /// draw); a second time, after the server's own wait, it is larger than the limit
    /// itself, and no wait can help. Counted per call.
    fn never_fits(&mut self, id: Id, ticket: &Ticket, info: &RateLimitInfo) -> bool {
        let Some(call) = self.calls.get_mut(&id) else {
            return false;
        };
        let lowered = ticket.input < call.cost.amount(Dim::InputTokens);
        let output_lowered = ticket.output < call.cost.stated_output();
        // As the limiter reads them: Anthropic's `tokens-*` is no bucket of its own.
        let reported = figures(info)
            .into_iter()
            .filter_map(|(dim, d)| d.and_then(|d| d.remaining.map(|r| (dim, r, d))));
        if reported.clone().any(|(dim, r, _)| r < ticket.amount(dim)) {
            return false; // no room: an ordinary 429
        }
        let mut full = false;
        for (dim, remaining, d) in reported {
            // Its stated output lowered to what the buckets hold, and refused with room: the
            // server may count `max_tokens` up front (or the room was not there yet).
            full |= output_lowered && matches!(dim, Dim::OutputTokens | Dim::Tokens);
            let slack = if d.rounded { ROUNDING_SLACK } else { 1.0 };
            let limit = d.limit;
            let besides = match dim {
                Dim::InputTokens => 0.0,
                Dim::Tokens => ticket.output,
                _ => continue,
            };
            if !call.fixed_priced {
                full |= lowered;
                continue;
            }
            full |= lowered || limit.is_some_and(|l| remaining >= l - slack);
            // At least double: by how much the estimate was short is not known, and a step
            // to just above each refusal's room climbs one server wait at a time.
            let raised = (remaining - besides + 1.0).max(2.0 * ticket.input);
            call.cost.input = call.cost.input.max(raised);
        }
        if full {
            call.refused_with_room = call.refused_with_room.saturating_add(1);
        }
        call.refused_with_room >= 2
    }

    /// What call `id`'s answer says of the way its key's server meters output, while that is
    /// not known ([`Limiter::output_metering_known`]): a request whose stated output was
    /// lowered to what the buckets hold ([`Limiter::fit`]) and was `served` shows output
    /// counted as generated (its `max_tokens` above what a bucket holds did not count); one
    /// refused as larger than a limit shows output reserved up front.
    fn learn_metering(&mut self, id: Id, slot: Slot, ticket: &Ticket, served: bool) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let limiter = self.keys.limiter_mut(slot);
        if limiter.output_metering_known() || ticket.output >= call.cost.stated_output() {
            return;
        }
        limiter.set_output_metering(if served {
            OutputMetering::RealTime
        } else {
            OutputMetering::Reservation
        });
    }

    /// The cost the limiter reserves for `request`.
    fn cost_of(&self, request: &Request) -> Cost {
        let clean = |v: f64| {
            if v.is_finite() && v > 0.0 {
                v.min(Usage::MAX_TOKENS)
            } else {
                0.0
            }
        };
        // OpenAI's `n` choices each may run to `max_tokens` (its limiter counts them all);
        // those beyond the first are an estimate, lowered to a capacity rather than refused.
        let (output, estimated) = match self.config.output_reservation {
            OutputReservation::MaxTokens => {
                let max_tokens = request.max_tokens.map_or(0.0, clean);
                let more = (clean(request.choices).max(1.0) - 1.0) * max_tokens;
                ((max_tokens + more).min(Usage::MAX_TOKENS), more)
            }
            OutputReservation::None => (0.0, 0.0),
            OutputReservation::Fixed(n) => (n, 0.0),
        };
        let input = clean(request.input_tokens);
        Cost {
            input,
            output,
            input_floor: clean(request.input_floor).min(input),
            output_estimated: estimated.min(output),
        }
    }

    /// Submit a call. It is queued; call [`Engine::poll`] to admit. Fails at once with
    /// `Closed` after [`Engine::close`].
    pub fn submit(&mut self, now_ms: Ms, request: Request) -> Result<Id, CallError> {
        let now_ms = self.clock(now_ms);
        if self.closed {
            return Err(CallError::Closed);
        }
        let id = self.next_id;
        self.next_id += 1;
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut cost = self.cost_of(&request);
        let estimate = cost.input;
        let (input, cache_read) = self.less_cached(
            request.key.id,
            &request.prefixes,
            estimate,
            cost.input_floor,
            now_ms,
        );
        cost.input = input;
        let prefixed = !request.prefixes.is_empty();
        let config = &self.config;
        let slot = self.keys.slot(&request.key, now_ms, |k| {
            let mut limiter = Limiter::new(limits_for(config, &k.class), now_ms);
            match config.output_metering {
                Some(m) => limiter.set_output_metering(m),
                None => limiter.forget_output_metering(),
            }
            if config.output_reservation == OutputReservation::MaxTokens {
                limiter.learn_output();
            }
            limiter.set_latency(ASSUMED_LATENCY_MS);
            limiter.start_blind(now_ms);
            if !config.adaptive {
                limiter.start_probe();
            }
            limiter
        });
        self.keys.retain(slot);
        let deadline = self.config.timeout_ms.map(|t| now_ms + t);
        if let Some(d) = deadline {
            self.deadlines.insert((time_key(d), id));
        }
        self.calls.insert(
            id,
            Call {
                slot,
                seq,
                priority: request.priority,
                cost,
                attempt: 0,
                state: State::Queued,
                deadline,
                has_response: false,
                prev_delay: 0.0,
                waiting_since: now_ms,
                no_retry: false,
                replayable: true,
                invalid: false,
                sent_at: now_ms,
                response: None,
                refused_with_room: 0,
                fixed_priced: request.fixed_priced,
                prefixes: request.prefixes,
                estimate,
                cache_read,
                streaming: false,
            },
        );
        if prefixed {
            if self.prefixed.len() > 2 * self.calls.len() + 16 {
                self.prune_prefixed();
            }
            self.prefixed.push(id);
        }
        self.scheduler
            .push_to(slot, id, request.priority, seq, cost);
        self.stats.requests += 1;
        self.fresh.push(id);
        if deadline.is_some() && self.keys.limiter(slot).paused_until(now_ms).is_some() {
            self.paused.push(id);
        }
        self.event(EventKind::Queued, id, "submitted", 0.0, now_ms);
        Ok(id)
    }

    /// `id`, admitted with `ticket`, is sent now (with a store, once the store took it): its
    /// attempt and wait are counted, and the `admitted` event says so, once an attempt.
    pub(super) fn sent(&mut self, now_ms: Ms, id: Id, ticket: Ticket) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let waited = (now_ms - call.waiting_since).max(0.0);
        self.stats.wait_ms += waited;
        self.stats.attempts += 1;
        self.stats.input_tokens_reserved += ticket.input;
        self.stats.output_tokens_reserved += ticket.output;
        self.event(EventKind::Admitted, id, "admitted", waited, now_ms);
    }

    /// Remove a call that leaves while waiting (queue or backoff): count its wait.
    fn end_wait(&mut self, now_ms: Ms, id: Id) -> Option<Call> {
        let call = self.calls.remove(&id)?;
        let waited = (now_ms - call.waiting_since).max(0.0);
        match call.state {
            State::Queued => {
                self.scheduler.remove(id);
                self.stats.wait_ms += waited;
            }
            State::Deciding => self.stats.wait_ms += waited,
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
        if let Some(d) = call.deadline {
            self.deadlines.remove(&(time_key(d), id));
        }
        self.keys.release(call.slot, now_ms);
        Some(call)
    }

    /// A waiting call gives up: its last response if it has one, else `error`.
    fn give_up_waiting(
        &mut self,
        now_ms: Ms,
        id: Id,
        error: CallError,
        reason: &'static str,
        out: &mut Vec<Action>,
    ) {
        self.event(EventKind::GiveUp, id, reason, 0.0, now_ms);
        if let Some(call) = self.end_wait(now_ms, id) {
            out.push(if call.has_response {
                Action::Deliver { id }
            } else {
                Action::Fail { id, error }
            });
        }
    }

    /// The request of `id` can be sent only once (e.g. its body is a stream): it is never
    /// retried; its first response (or network error) is final.
    pub fn not_replayable(&mut self, id: Id) {
        if let Some(call) = self.calls.get_mut(&id) {
            call.replayable = false;
        }
    }

    /// `fetch` refused the request of `id` itself, its URL or init (the driver saw that the
    /// same request cannot even be built): its attempt's network error, which the driver
    /// reports next, ends the call at once (`invalid_request`), for no attempt can succeed.
    /// Without it, a malformed URL was retried as a network error until the budget stopped
    /// it (five attempts, 8.9 s).
    pub fn invalid(&mut self, id: Id) {
        if let Some(call) = self.calls.get_mut(&id) {
            call.invalid = true;
        }
    }

    /// Fire due timers and deadlines, admit what can go. Call it after `submit`, after every
    /// `on_*`, and at [`Engine::next_wake`].
    pub fn poll(&mut self, now_ms: Ms) -> Vec<Action> {
        let now_ms = self.clock(now_ms);
        let mut out = Vec::new();
        let now_key = time_key(now_ms);

        // Backoff timers that are due: back into the queue, at their original place.
        while let Some((k, id)) = self.timers.first() {
            if k > now_key {
                break;
            }
            self.timers.pop_first();
            if let Some(call) = self.calls.get_mut(&id) {
                call.state = State::Queued;
                self.scheduler
                    .push_to(call.slot, id, call.priority, call.seq, call.cost);
                self.fresh.push(id);
            }
        }

        // Deadlines: the last response if one is held, else TIMEOUT; an attempt on the wire
        // is ended (the driver aborts it), and the response of an earlier one delivered: a
        // response arrived, so the call resolves with it, as when a wait would cross the
        // deadline.
        while let Some((k, id)) = self.deadlines.first() {
            if k > now_key {
                break;
            }
            self.deadlines.pop_first();
            let Some(call) = self.calls.get(&id) else {
                continue;
            };
            let slot = call.slot;
            match call.state {
                State::InFlight { ticket } => {
                    let held = call.has_response;
                    self.keys.limiter_mut(slot).lost(now_ms, &ticket);
                    self.event(EventKind::GiveUp, id, GiveUp::Timeout.name(), 0.0, now_ms);
                    self.forget(now_ms, id);
                    self.scheduler.finish();
                    self.unanswered(slot);
                    out.push(if held {
                        Action::Deliver { id }
                    } else {
                        Action::Fail {
                            id,
                            error: CallError::Timeout,
                        }
                    });
                }
                State::Queued | State::Backoff { .. } | State::Deciding => {
                    let reason = GiveUp::Timeout.name();
                    self.give_up_waiting(now_ms, id, CallError::Timeout, reason, &mut out);
                }
                State::Delivered { .. } => {}
            }
        }

        // A call its key's server-stated pause holds until its deadline or later: TIMEOUT now,
        // as a retry whose wait would cross the deadline (not a sleep to the deadline first).
        // A pause longer than `maxRetryAfterMs` is left to the queue's refusal below: the
        // server's wait is then the reason (RETRY_AFTER_TOO_LONG), whatever the deadline.
        let max_ms = self.config.retry.max_retry_after_ms;
        for id in std::mem::take(&mut self.paused) {
            let Some(call) = self.calls.get(&id) else {
                continue;
            };
            let waiting = matches!(call.state, State::Queued | State::Backoff { .. });
            let until = self.keys.limiter(call.slot).paused_until(now_ms);
            let Some((_, p)) = call.deadline.zip(until).filter(|&(d, p)| waiting && p >= d) else {
                continue;
            };
            let hint_ms = (p - now_ms).round();
            if hint_ms <= max_ms {
                let error = CallError::WaitPastDeadline { hint_ms };
                let reason = GiveUp::Timeout.name();
                self.give_up_waiting(now_ms, id, error, reason, &mut out);
            }
        }

        // Keys idle and full for a while are dropped.
        self.keys.sweep(now_ms);

        // Again after a call the store's turns put back ([`Engine::send_or_reserve`]): its key
        // is held now, and the wake time must say so.
        loop {
            let poll = self.admit(now_ms);
            for (id, hint_ms) in poll.refused {
                if let Some(call) = self.calls.get_mut(&id) {
                    call.state = State::Queued; // already out of the queue
                }
                let error = CallError::RetryAfterTooLong { hint_ms };
                self.give_up_waiting(now_ms, id, error, "retry_after_too_long", &mut out);
            }
            for (id, dim, cost, capacity) in poll.never {
                let mut window_ms = 60_000.0;
                if let Some(call) = self.calls.get_mut(&id) {
                    call.state = State::Queued; // already out of the queue; see above
                    let slot = call.slot;
                    window_ms = self.keys.limiter(slot).window_ms(dim).unwrap_or(window_ms);
                }
                let error = CallError::TooLarge {
                    dim,
                    cost,
                    capacity,
                    window_ms,
                };
                self.give_up_waiting(now_ms, id, error, dim.name(), &mut out);
            }
            let mut deferred = false;
            for (id, ticket) in poll.admitted {
                let Some(call) = self.calls.get_mut(&id) else {
                    // Not ours (cannot happen): give the concurrency slot back (the tokens stay
                    // reserved; their key's refill heals it).
                    self.scheduler.finish();
                    continue;
                };
                call.attempt += 1;
                call.state = State::InFlight { ticket };
                // `has_response` stays: the driver keeps an earlier response until this
                // attempt's answer, for a deadline that comes first.
                call.sent_at = now_ms;
                call.response = None;
                let attempt = call.attempt;
                match self.send_or_reserve(now_ms, id, attempt, ticket) {
                    Some(a) => {
                        if matches!(a, Action::Send { .. }) {
                            self.sent(now_ms, id, ticket);
                        }
                        out.push(a);
                    }
                    None => deferred = true,
                }
            }
            self.sched_wake = poll.wake_at_ms;
            if !deferred {
                break;
            }
        }

        let fresh = std::mem::take(&mut self.fresh);
        if self.record {
            for id in fresh {
                let Some(call) = self.calls.get(&id) else {
                    continue;
                };
                if call.state != State::Queued {
                    continue;
                }
                let reason = match self.keys.limiter(call.slot).check(now_ms, call.cost) {
                    Decision::Wait {
                        blocker: Blocker::Paused,
                        ..
                    } => "paused",
                    Decision::Wait {
                        blocker: Blocker::FirstResponse,
                        ..
                    } => "first_response",
                    Decision::Wait {
                        blocker: Blocker::Store,
                        ..
                    } => "store",
                    Decision::Wait {
                        blocker: Blocker::Dim(d),
                        ..
                    } => d.name(),
                    Decision::Never { dim, .. } => dim.name(),
                    Decision::Admit(_) => match self.config.concurrency {
                        Some(c) if self.scheduler.in_flight() >= c => "concurrency",
                        _ => "queue",
                    },
                };
                // Held until a store's answer (no time of its own): at most its timeout.
                let delay = self
                    .sched_wake
                    .map_or(0.0, |w| match w >= fleet::UNTIL_ANSWERED {
                        true => crate::core::store::STORE_TIMEOUT_MS,
                        false => (w - now_ms).max(0.0),
                    });
                self.event(EventKind::Wait, id, reason, delay, now_ms);
            }
        }
        if let Some(probe) = self.fleet_probe(now_ms) {
            out.push(probe);
        }
        out
    }

    /// The scheduler's admissions, key by key. Each key's head is refused, rather than kept
    /// waiting, by `refusal` (a server-imposed pause, or a learned limit's refill, longer than
    /// maxRetryAfterMs). While no key in use knows a limit, admissions also stay within the
    /// adaptive controller's window and spacing ([`super::adaptive`]), which learns of each.
    fn admit(&mut self, now_ms: Ms) -> Poll {
        let max_ms = self.config.retry.max_retry_after_ms;
        let refuse =
            move |l: &Limiter, now: Ms, c: Cost, d: &Decision| refusal(l, now, c, d, max_ms);
        let gate = match &self.adaptive {
            Some(a) if !self.keys.any_limits_known() => a.gate(now_ms, self.scheduler.in_flight()),
            _ => {
                return self
                    .scheduler
                    .poll_keys(now_ms, self.keys.limiters_mut(), &refuse)
            }
        };
        let mut poll = Poll::default();
        if gate.cap > 0 {
            let configured = self.scheduler.concurrency();
            let cap = self.scheduler.in_flight().saturating_add(gate.cap);
            self.scheduler
                .set_concurrency(Some(configured.map_or(cap, |c| c.min(cap))));
            poll = self
                .scheduler
                .poll_keys(now_ms, self.keys.limiters_mut(), &refuse);
            self.scheduler.set_concurrency(configured);
        }
        let a = self.adaptive.as_mut().expect("matched above");
        let before = self.scheduler.in_flight() - poll.admitted.len() as u32;
        for (i, (id, _)) in poll.admitted.iter().enumerate() {
            a.on_admit(*id, now_ms, before + i as u32 + 1);
        }
        if !self.scheduler.is_empty() {
            if let Some(w) = a.gate(now_ms, self.scheduler.in_flight()).wake_at_ms {
                poll.wake_at_ms = Some(poll.wake_at_ms.map_or(w, |p| p.min(w)));
            }
        }
        poll
    }

    /// When the driver must call [`Engine::poll`] next, if anything waits on time.
    pub fn next_wake(&self) -> Option<Ms> {
        let timer = self.timers.first().map(|(k, _)| time_of(k));
        let deadline = self.deadlines.first().map(|(k, _)| time_of(k));
        let sched = if self.scheduler.is_empty() {
            None
        } else {
            self.sched_wake
        };
        [timer, deadline, sched, self.fleet_wake()]
            .into_iter()
            .flatten()
            .reduce(f64::min)
            .map(|t| self.external(t))
    }

    /// What a failed attempt tells its key and the retry budget, whatever the call does next:
    /// a 429 with a hint pauses every call of the key, and so does a 503 or 529 that states
    /// one (RFC 9110 §10.2.3: how long the service is expected to be unavailable, not to one
    /// request); any other failure (5xx, 529, network) spends the budget, which guards
    /// against storms of them as gRPC's retry throttling does (rate limits are paced by the
    /// limiter and the pause instead).
    fn note_failure(&mut self, now_ms: Ms, slot: Slot, kind: RetryKind, hint: Option<Ms>) {
        let pauses = matches!(
            kind,
            RetryKind::RateLimited | RetryKind::Overloaded | RetryKind::Status(503)
        );
        if let (true, Some(h)) = (pauses, hint) {
            self.pause_key(slot, now_ms + h);
        }
        if !self.paced(kind) {
            if let Some(b) = self.budget.as_mut() {
                b.on_failure();
            }
        }
    }

    /// The server asked every call of the key in `slot` to wait until `until`: the key is
    /// paused, and its waiting calls with a deadline are checked against it at the next poll.
    fn pause_key(&mut self, slot: Slot, until: Ms) {
        self.keys.limiter_mut(slot).pause_until(until);
        self.scheduler.wake(slot);
        if self.config.timeout_ms.is_some() {
            for id in self.calls.ids() {
                let c = &self.calls[&id];
                if c.slot == slot && matches!(c.state, State::Queued | State::Backoff { .. }) {
                    self.paused.push(id);
                }
            }
        }
    }

    /// Whether a failure of `kind` is paced rather than a fault: a 429, or, while the adaptive
    /// controller steers (`concurrency: "auto"`, no limit known), a refusal for load (503,
    /// 529) that it answers by slowing down ([`Signal::Refused`]). Paced failures spend no
    /// retry budget: the controller's own search for the server's capacity draws some
    /// (slow start's overshoot), and spending the budget on them handed the caller a 503.
    fn paced(&self, kind: RetryKind) -> bool {
        match kind {
            RetryKind::RateLimited => true,
            RetryKind::Overloaded | RetryKind::Status(503) => {
                self.adaptive.is_some() && !self.keys.any_limits_known()
            }
            _ => false,
        }
    }

    /// Whether a failed attempt of `id` is retried: the wait, or why not. A query: the
    /// failure's effects are [`Engine::note_failure`]'s.
    fn retry_decision(
        &self,
        now_ms: Ms,
        id: Id,
        kind: RetryKind,
        hint: Option<Ms>,
        u: f64,
    ) -> Result<Ms, GiveUp> {
        let retry = &self.config.retry;
        let call = &self.calls[&id];
        if self.closed || call.no_retry {
            return Err(GiveUp::Closed);
        }
        if call.invalid {
            return Err(GiveUp::Invalid);
        }
        if !call.replayable {
            return Err(GiveUp::NotReplayable);
        }
        if call.attempt > retry.max_retries {
            return Err(GiveUp::MaxRetries);
        }
        if !self.paced(kind) && !self.budget.as_ref().is_none_or(RetryBudget::can_retry) {
            return Err(GiveUp::Budget);
        }
        let wait = match hint {
            Some(h) => match with_hint(h, retry.max_retry_after_ms, u) {
                HintDecision::Wait(w) => w,
                HintDecision::TooLong { .. } => return Err(GiveUp::RetryAfterTooLong),
            },
            None => retry.backoff.delay(call.attempt, call.prev_delay, u),
        };
        if call.deadline.is_some_and(|d| now_ms + wait > d) {
            return Err(GiveUp::Timeout);
        }
        Ok(wait)
    }

    /// Schedule the retry of `id` after `wait`; the time it is due, on the caller's clock.
    fn schedule_retry(&mut self, now_ms: Ms, id: Id, wait: Ms, reason: &'static str) -> Ms {
        let at = now_ms + wait;
        let call = self.calls.get_mut(&id).expect("call exists");
        call.state = State::Backoff { until: at };
        call.prev_delay = wait;
        call.waiting_since = now_ms;
        self.timers.insert((time_key(at), id));
        self.stats.retries += 1;
        self.event(EventKind::Retry, id, reason, wait, now_ms);
        self.external(at)
    }

    /// Forget a call whose attempt ended (it holds a concurrency slot, not a queue place).
    fn finish_call(&mut self, now_ms: Ms, id: Id) {
        if self.forget(now_ms, id).is_some() {
            self.scheduler.finish();
        }
    }

    /// A response head arrived for `id`. `u` is a uniform draw in `[0, 1)` for jitter.
    pub fn on_response(
        &mut self,
        now_ms: Ms,
        id: Id,
        status: u16,
        info: &RateLimitInfo,
        error: Option<&ErrorInfo>,
        u: f64,
    ) -> Verdict {
        let now_ms = self.clock(now_ms);
        let Some(&Call {
            state: State::InFlight { mut ticket },
            slot,
            ..
        }) = self.calls.get(&id)
        else {
            return Verdict::Unknown;
        };
        if let Some(c) = self.calls.get_mut(&id) {
            c.response = Some((status, (now_ms - c.sent_at).max(0.0)));
        }
        // The call's own key learns from its response, and may go again sooner.
        self.scheduler.wake(slot);
        // The request reached the server within the round trip: give back the waste counted
        // for a longer transit. A server that sends its figures corrects the rest, so later
        // admissions reserve less (see `transit`).
        let figures = info.has_limits();
        let transit_ms = transit::bound(ticket.at_ms, now_ms, figures);
        let limiter = self.keys.limiter_mut(slot);
        limiter.arrived(now_ms, ticket, transit_ms);
        limiter.set_latency(transit::reserve(figures));
        // The server refused without processing (429, 529, and any other 4xx: an invalid
        // request, a key refused, a body too large): its tokens were never counted. Give them
        // back *before* reading its headers, which already leave this request out; the other
        // order would count the refund twice and send the next request too early. (Kept, a run
        // of 400s held back the valid calls behind them for tokens no one used.)
        let refused = status == 529 || (400..500).contains(&status);
        if refused {
            // A request refused as invalid passed the rate limiter: it stays counted.
            let counted = status != 429 && status != 529;
            self.keys.limiter_mut(slot).refund(now_ms, ticket, counted);
            if !counted {
                // (The store's refund gives the request back too: for an invalid request,
                // the store keeps the reservation, the cautious side.)
                self.fleet_refused(id, slot, ticket);
            }
        }
        // Reset times are on the caller's clock: move them onto ours.
        let shifted;
        let info = if self.shift == 0.0 {
            info
        } else {
            let mut i = info.clone();
            for d in [
                &mut i.requests,
                &mut i.input_tokens,
                &mut i.output_tokens,
                &mut i.tokens,
            ] {
                d.reset_at_ms = d.reset_at_ms.map(|t| t + self.shift);
            }
            shifted = i;
            &shifted
        };
        // A 2xx's figures are taken as its final answer's ([`Engine::on_stream`] says when they
        // were not): they count the request, which its settlement must not count again. A
        // refusal's do not count it (refunded above).
        let streaming = self
            .calls
            .get_mut(&id)
            .is_some_and(|c| std::mem::take(&mut c.streaming));
        let limiter = self.keys.limiter_mut(slot);
        let changed = if (200..300).contains(&status) && streaming {
            limiter.observe_stream_head(now_ms, info, &mut ticket)
        } else if (200..300).contains(&status) {
            limiter.observe_answer(now_ms, info, &mut ticket)
        } else if status == 429 {
            limiter.observe_refusal(now_ms, info, &ticket)
        } else {
            limiter.observe(now_ms, info)
        };
        if changed {
            self.event(EventKind::Limits, id, "headers", 0.0, now_ms);
        }
        self.fleet_observed(id, slot, now_ms, status, info);
        if let Some(a) = self.adaptive.as_mut() {
            a.on_result(id, now_ms, Signal::of_status(status));
        }
        match status {
            429 => self.stats.rate_limited += 1,
            529 => self.stats.overloaded += 1,
            500..=599 => self.stats.server_errors += 1,
            _ => {}
        }
        let outcome = match classify(
            status,
            info.should_retry,
            error,
            self.config.retry.retry_on.as_deref(),
        ) {
            Outcome::Retry(RetryKind::RateLimited) if self.never_fits(id, &ticket, info) => {
                Outcome::Fail(FailKind::TooLarge)
            }
            outcome => outcome,
        };
        if !refused && outcome != Outcome::Success {
            // An error the server may have counted: the reservation stays, no longer in flight.
            self.keys.limiter_mut(slot).lost(now_ms, &ticket);
        }
        match outcome {
            Outcome::Success => {
                if let Some(b) = self.budget.as_mut() {
                    b.on_success();
                }
                self.learn_metering(id, slot, &ticket, true);
                let call = self.calls.get_mut(&id).expect("checked above");
                call.state = State::Delivered { ticket };
                call.has_response = true;
                if let Some(d) = call.deadline.take() {
                    self.deadlines.remove(&(time_key(d), id));
                }
                Verdict::Deliver
            }
            Outcome::Fail(kind) => {
                if kind == FailKind::TooLarge {
                    self.learn_metering(id, slot, &ticket, false);
                }
                if status == 429 {
                    // Not retried, but its wait holds every call of its key all the same.
                    let slot = self.calls[&id].slot;
                    let hint = stated_hint(now_ms, status, info, error);
                    self.note_failure(now_ms, slot, RetryKind::RateLimited, hint);
                }
                self.event(EventKind::GiveUp, id, fail_reason(kind), 0.0, now_ms);
                self.finish_call(now_ms, id);
                Verdict::Deliver
            }
            Outcome::Retry(kind) => {
                self.scheduler.finish();
                let call = self.calls.get_mut(&id).expect("checked above");
                call.has_response = true;
                call.state = State::Deciding;
                let slot = call.slot;
                let hint = stated_hint(now_ms, status, info, error);
                self.note_failure(now_ms, slot, kind, hint);
                match self.retry_decision(now_ms, id, kind, hint, u) {
                    Ok(wait) => Verdict::Retry {
                        at_ms: self.schedule_retry(now_ms, id, wait, retry_reason(kind)),
                    },
                    Err(why) => {
                        self.event(EventKind::GiveUp, id, why.name(), 0.0, now_ms);
                        self.forget(now_ms, id);
                        Verdict::Deliver
                    }
                }
            }
        }
    }

    /// The attempt of `id` failed with no response (not an abort).
    pub fn on_network_error(&mut self, now_ms: Ms, id: Id, u: f64) -> Verdict {
        let now_ms = self.clock(now_ms);
        let Some(&Call {
            state: State::InFlight { ticket },
            slot,
            ..
        }) = self.calls.get(&id)
        else {
            return Verdict::Unknown;
        };
        self.stats.network_errors += 1;
        self.keys.limiter_mut(slot).lost(now_ms, &ticket);
        if let Some(a) = self.adaptive.as_mut() {
            a.forget(id);
        }
        // The reservation stays: the server may have counted the request. No answer came:
        // the others of its key stop waiting for one (an opening probe).
        self.scheduler.finish();
        let call = self.calls.get_mut(&id).expect("checked above");
        let slot = call.slot;
        self.unanswered(slot);
        let call = self.calls.get_mut(&id).expect("checked above");
        call.has_response = false;
        call.state = State::Deciding;
        let kind = match classify_error(false) {
            Outcome::Retry(kind) => kind,
            _ => RetryKind::Network,
        };
        self.note_failure(now_ms, slot, kind, None);
        match self.retry_decision(now_ms, id, kind, None, u) {
            Ok(wait) => Verdict::Retry {
                at_ms: self.schedule_retry(now_ms, id, wait, retry_reason(kind)),
            },
            Err(why) => {
                self.event(EventKind::GiveUp, id, why.name(), 0.0, now_ms);
                self.forget(now_ms, id);
                Verdict::Fail(if why == GiveUp::Timeout {
                    CallError::Timeout
                } else {
                    CallError::Network
                })
            }
        }
    }

    /// The answer about to be given to [`Engine::on_response`] for `id` is a stream's head
    /// (`text/event-stream`): its figures may have been written when the server admitted the
    /// request ([`Limiter::observe_stream_head`]).
    pub fn streaming(&mut self, id: Id) {
        if let Some(c) = self.calls.get_mut(&id) {
            c.streaming = true;
        }
    }

    /// The delivered 2xx of `id` is a stream: its head was sent before the output, so its
    /// figures counted the whole reservation, and its settlement gives back the unused part
    /// everywhere ([`crate::core::limiter::Limiter::settle`]); with a store, its figures go
    /// there now rather than after its settlement (the engine's `fleet` module).
    pub fn on_stream(&mut self, id: Id) {
        if let Some(Call {
            state: State::Delivered { ticket },
            ..
        }) = self.calls.get_mut(&id)
        {
            ticket.placed = [false; 4];
        }
        self.fleet_release(id);
    }

    /// The body of a delivered 2xx ended; `usage` is what it reported (`None`: unknown).
    pub fn on_done(&mut self, now_ms: Ms, id: Id, usage: Option<Usage>) {
        self.settle_as(now_ms, id, usage, "usage");
    }

    /// The body of a delivered 2xx ended with no usage, but `output_tokens` were estimated
    /// from its streamed text: settle the input as reserved and the output as estimated.
    pub fn on_done_estimated(&mut self, now_ms: Ms, id: Id, output_tokens: f64) {
        if let Some(&Call {
            state: State::Delivered { ticket },
            ..
        }) = self.calls.get(&id)
        {
            let usage = Usage {
                input_tokens: ticket.input,
                output_tokens,
                ..Usage::default()
            };
            self.settle_as(now_ms, id, Some(usage), "estimated");
        }
    }

    /// The body of a delivered 2xx stream stopped before its final usage (its reader
    /// cancelled it), after it reported its input (Anthropic's `message_start`): settle the
    /// input as reported and the output as reserved (what the server billed for the output
    /// of a stream cut short is not known). The usage known, the input, is what stats and the
    /// `settled` event count.
    pub fn on_done_input(&mut self, now_ms: Ms, id: Id, usage: Usage) {
        self.settle_with(now_ms, id, Some(usage), "input_only", true);
    }

    /// The input to reserve for an `estimate` whose prompt has `prefixes`, on key `key`: less
    /// the longest prefix the server holds in its prompt cache, never below `floor`; and
    /// that prefix's hash.
    fn less_cached(
        &self,
        key: u64,
        prefixes: &[Prefix],
        estimate: f64,
        floor: f64,
        now_ms: Ms,
    ) -> (f64, Option<u64>) {
        let (cached, read) = self.prompt_cache.cached(key, prefixes, now_ms);
        ((estimate - cached).max(floor), read)
    }

    /// Forget the calls with prompt prefixes that have ended.
    fn prune_prefixed(&mut self) {
        let calls = &self.calls;
        self.prefixed.retain(|i| calls.contains_key(i));
    }

    /// A delivered call's usage reports a prompt cache write or read: its breakpoints are
    /// cached now, and the prefix it read stays so. When that is news, the calls of its key
    /// still waiting (its next turn, sent as soon as the caller had read this one) are priced
    /// again.
    fn note_cached(&mut self, now_ms: Ms, id: Id, usage: &Usage) {
        if usage.cache_creation_input_tokens <= 0.0 && usage.cache_read_input_tokens <= 0.0 {
            return;
        }
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let slot = call.slot;
        let Some(key) = self.keys.key(slot).map(|k| k.id) else {
            return;
        };
        if !self
            .prompt_cache
            .wrote(key, &call.prefixes, call.cache_read, now_ms)
        {
            return;
        }
        self.prune_prefixed();
        for &other in &self.prefixed {
            let Some(c) = self.calls.get(&other) else {
                continue;
            };
            if c.slot != slot || !matches!(c.state, State::Queued | State::Backoff { .. }) {
                continue;
            }
            let (input, read) =
                self.less_cached(key, &c.prefixes, c.estimate, c.cost.input_floor, now_ms);
            let Some(c) = self.calls.get_mut(&other).filter(|c| input < c.cost.input) else {
                continue;
            };
            c.cost.input = input;
            c.cache_read = read;
            if c.state == State::Queued {
                self.scheduler
                    .push_to(slot, other, c.priority, c.seq, c.cost);
            }
        }
    }

    fn settle_as(&mut self, now_ms: Ms, id: Id, usage: Option<Usage>, reason: &'static str) {
        self.settle_with(now_ms, id, usage, reason, false);
    }

    /// [`Engine::settle_as`], with the output left as reserved when `output_reserved` (and
    /// then not counted as used). A usage that reports one of input and output validly but
    /// not the other (a stream's `null`, a string) leaves that other as reserved too: what
    /// the server counted there is not known, and giving the whole reservation back would
    /// count it as nothing.
    fn settle_with(
        &mut self,
        now_ms: Ms,
        id: Id,
        usage: Option<Usage>,
        reason: &'static str,
        output_reserved: bool,
    ) {
        let now_ms = self.clock(now_ms);
        let Some(&Call {
            state: State::Delivered { ticket },
            slot,
            ..
        }) = self.calls.get(&id)
        else {
            return;
        };
        let input_reserved = usage.is_some_and(|u| !Usage::valid(u.input_tokens));
        let output_reserved =
            output_reserved || usage.is_some_and(|u| !Usage::valid(u.output_tokens));
        if let Some(mut usage) = usage.and_then(Usage::sanitized) {
            self.note_cached(now_ms, id, &usage);
            let mut settled = usage;
            if input_reserved {
                // The reservation counted the prompt whole, cache writes included.
                settled.input_tokens = ticket.input;
                settled.cache_creation_input_tokens = 0.0;
            }
            if output_reserved {
                settled.output_tokens = ticket.output;
            }
            let limiter = self.keys.limiter_mut(slot);
            limiter.settle(now_ms, ticket, &settled);
            if !output_reserved {
                limiter.output_seen(usage.output_tokens);
            }
            self.fleet_settled(now_ms, id, slot, ticket, &settled);
            self.scheduler.wake(slot);
            if output_reserved {
                usage.output_tokens = 0.0;
            }
            self.stats.input_tokens_used += usage.metered_input();
            self.stats.output_tokens_used += usage.output_tokens;
            self.event(EventKind::Settled, id, reason, 0.0, now_ms);
            if let Some(e) = self.events.last_mut().filter(|e| e.id == id) {
                e.usage = Some(usage);
            }
        } else {
            // Unknown usage: the reservation stands as the best estimate.
            self.keys.limiter_mut(slot).lost(now_ms, &ticket);
            self.event(EventKind::Settled, id, "no_usage", 0.0, now_ms);
        }
        self.finish_call(now_ms, id);
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
            let waiting = reserving
                || matches!(
                    call.state,
                    State::Queued | State::Backoff { .. } | State::Deciding
                );
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
            queued: (self.scheduler.len() + self.timers.len()) as u64,
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

    /// Calls the engine still tracks (queued, backing off, in flight, awaiting usage).
    pub fn live_calls(&self) -> usize {
        self.calls.len()
    }
}

#[cfg(test)]
mod tests;
