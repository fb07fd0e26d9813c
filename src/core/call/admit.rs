//! A call submitted, and admitted when its key's limiter, the fair queue and the concurrency cap
//! let it go; what the engine waits for next.

use super::io::{Action, CallError, EventKind, Request};
use super::reasons::GiveUp;
use super::state::{Call, State};
use super::{Engine, Id, ASSUMED_LATENCY_MS};
use crate::core::config::OutputReservation;
use crate::core::index::{time_key, time_of};
use crate::core::limiter::{Blocker, Cost, Decision, Limiter, Ticket, Usage};
use crate::core::models::limits_for;
use crate::core::scheduler::Poll;
use crate::core::Ms;

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

impl Engine {
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
        let max_tokens = request.max_tokens.map_or(0.0, clean);
        let (output, estimated) = match self.config.output_reservation {
            OutputReservation::MaxTokens => {
                let more = (clean(request.choices).max(1.0) - 1.0) * max_tokens;
                ((max_tokens + more).min(Usage::MAX_TOKENS), more)
            }
            OutputReservation::None => (0.0, 0.0),
            // The caller's figure, not the request's: what exceeds its `max_tokens` (all of it
            // without one) is an estimate, lowered to a capacity rather than refused (a fixed
            // 9,000 under a preset's OTPM of 8,000 refused every call of `max_tokens` 100).
            OutputReservation::Fixed(n) => (n, (n - max_tokens).max(0.0)),
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
                told: "",
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

    /// A waiting call gives up: its last response if it has one, else `error`.
    pub(super) fn give_up_waiting(
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
        // Held calls the budget's probe gave up on ([`super::held`]).
        self.budget_give_up(now_ms, &mut out);

        // Backoff timers that are due: back into the queue, at their original place.
        while let Some((k, id)) = self.timers.first() {
            if k > now_key {
                break;
            }
            self.timers.pop_first();
            if let Some(call) = self.calls.get_mut(&id) {
                call.state = State::Queued;
                call.told = ""; // told again why it waits, if it does
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
                State::Queued | State::Backoff { .. } | State::Held | State::Deciding => {
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
            let waiting = call.state.waiting();
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
        let mut blocked = Vec::new();
        loop {
            let mut poll = self.admit(now_ms);
            if self.record {
                blocked.append(&mut poll.blocked);
            }
            for (id, hint_ms) in poll.refused {
                if let Some(call) = self.calls.get_mut(&id) {
                    call.state = State::Deciding; // out of the queue, given up below
                }
                let error = CallError::RetryAfterTooLong { hint_ms };
                self.give_up_waiting(now_ms, id, error, "retry_after_too_long", &mut out);
            }
            for (id, dim, cost, capacity) in poll.never {
                let mut window_ms = 60_000.0;
                if let Some(call) = self.calls.get_mut(&id) {
                    call.state = State::Deciding; // out of the queue; see above
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
            self.wait_events(now_ms, fresh, blocked);
        }
        if let Some(probe) = self.fleet_probe(now_ms) {
            out.push(probe);
        }
        out
    }

    /// The scheduler's admissions, key by key. Each key's head is refused, rather than kept
    /// waiting, by `refusal` (a server-imposed pause, or a learned limit's refill, longer than
    /// maxRetryAfterMs). While no key in use knows a limit, admissions also stay within the
    /// adaptive controller's window and spacing ([`crate::core::adaptive`]), which learns of each.
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
}
