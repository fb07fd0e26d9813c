//! An attempt's answer: the response head (its figures, its status, its error body) or a
//! network error, and the verdict: deliver, retry after a wait, or fail.

use super::held::BudgetTurn;
use super::io::{CallError, EventKind, Verdict};
use super::reasons::{fail_reason, retry_reason, GiveUp};
use super::state::{Call, State};
use super::{Engine, Id};
use crate::core::adaptive::Signal;
use crate::core::backoff::{with_hint, HintDecision};
use crate::core::classify::{classify, classify_error, ErrorInfo, FailKind, Outcome, RetryKind};
use crate::core::headers::RateLimitInfo;
use crate::core::index::time_key;
use crate::core::keys::Slot;
use crate::core::limiter::{figures, Dim, Ticket, ROUNDING_SLACK};
use crate::core::presets::OutputMetering;
use crate::core::transit;
use crate::core::Ms;
#[cfg(doc)]
use crate::core::{call::Request, limiter::Limiter};

/// The shortest wait before retry `attempt` (1 for the first) when the server states one:
/// [`MIN_HINTED_MS`], doubled each retry, up to a second (and `max_retry_after_ms`). A server
/// that says "in 1 ms" each time it refuses gets no loop of requests back to back.
fn hinted_floor(attempt: u32, max_retry_after_ms: Ms) -> Ms {
    let doubled = MIN_HINTED_MS * f64::from(1u32 << attempt.clamp(1, 7).saturating_sub(1));
    doubled.min(1_000.0).min(max_retry_after_ms)
}

/// The longest a key is paused by one answer's hint, ms (a day, the longest
/// `maxRetryAfterMs`): after it, a call asks the server again. A hint of weeks (a gateway's
/// garbage, a monthly quota) held every call of the key, fleet-wide, for all of it; now it
/// costs one request a day. The call that got it is still told the whole wait.
pub const MAX_PAUSE_MS: Ms = crate::core::config::MAX_DURATION_MS;

/// The shortest wait before a first retry the server's hint times, ms ([`hinted_floor`]).
pub const MIN_HINTED_MS: Ms = 25.0;

/// A failed attempt's next step, when it is retried ([`Engine::retry_decision`]).
enum Next {
    /// The next attempt goes after this wait, ms.
    After(Ms),
    /// Held by a spent retry budget ([`super::held`]).
    Hold,
}

impl Engine {
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
            self.pause_key(slot, now_ms + h.min(MAX_PAUSE_MS));
        }
        if !self.paced(kind) {
            if let Some(b) = self.budget.as_mut() {
                b.on_failure();
            }
        }
    }

    /// The server asked every call of the key in `slot` to wait until `until`: the key is
    /// paused, and its waiting calls with a deadline are checked against it at the next poll.
    pub(super) fn pause_key(&mut self, slot: Slot, until: Ms) {
        self.keys.limiter_mut(slot).pause_until(until);
        self.scheduler.wake(slot);
        if self.config.timeout_ms.is_some() {
            for id in self.calls.ids() {
                let c = &self.calls[&id];
                if c.slot == slot && c.state.waiting() {
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

    /// Whether a failed attempt of `id` is retried: after how long, or held by a spent budget
    /// ([`Next`]), or why not. A query: the failure's effects are [`Engine::note_failure`]'s.
    fn retry_decision(
        &self,
        now_ms: Ms,
        id: Id,
        kind: RetryKind,
        hint: Option<Ms>,
        u: f64,
    ) -> Result<Next, GiveUp> {
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
        if !self.paced(kind) {
            match self.budget_turn(id) {
                BudgetTurn::Retry => {}
                BudgetTurn::Hold => return Ok(Next::Hold),
                BudgetTurn::HandBack => return Err(GiveUp::Budget),
            }
        }
        let wait = match hint {
            Some(h) => match with_hint(h, retry.max_retry_after_ms, u) {
                // The server's own wait ends before the deadline, only the spread added to it
                // would cross it: the retry goes at the hint, with the time left to be
                // answered (given up, a call whose deadline left it 500 ms after a 30 s
                // hint was failed by the pacer's own jitter).
                HintDecision::Wait(w) => {
                    let floor = hinted_floor(call.attempt, retry.max_retry_after_ms);
                    match call.deadline {
                        Some(d) if now_ms + w.max(floor) > d && now_ms + h.max(floor) < d => {
                            h.max(floor)
                        }
                        _ => w.max(floor),
                    }
                }
                HintDecision::TooLong { .. } => return Err(GiveUp::RetryAfterTooLong),
            },
            None => retry.backoff.delay(call.attempt, call.prev_delay, u),
        };
        if call.deadline.is_some_and(|d| now_ms + wait > d) {
            return Err(GiveUp::Timeout);
        }
        Ok(Next::After(wait))
    }

    /// A failed attempt of `id`: its retry scheduled, or held by a spent budget (the verdict),
    /// or the call given up (`giveup` event, forgotten; why).
    fn retry_or_give_up(
        &mut self,
        now_ms: Ms,
        id: Id,
        kind: RetryKind,
        hint: Option<Ms>,
        u: f64,
    ) -> Result<Verdict, GiveUp> {
        match self.retry_decision(now_ms, id, kind, hint, u) {
            Ok(Next::After(wait)) => {
                self.budget_retries(id, self.paced(kind));
                Ok(Verdict::Retry {
                    at_ms: self.schedule_retry(now_ms, id, wait, retry_reason(kind)),
                })
            }
            Ok(Next::Hold) => {
                self.hold_for_budget(now_ms, id, retry_reason(kind));
                Ok(Verdict::Retry {
                    at_ms: Ms::INFINITY,
                })
            }
            Err(why) => {
                if why == GiveUp::MaxRetries {
                    self.budget_probe_gave_up(id);
                }
                self.event(EventKind::GiveUp, id, why.name(), 0.0, now_ms);
                self.forget(now_ms, id);
                Err(why)
            }
        }
    }

    /// Schedule the retry of `id` after `wait`; the time it is due, on the caller's clock.
    pub(super) fn schedule_retry(
        &mut self,
        now_ms: Ms,
        id: Id,
        wait: Ms,
        reason: &'static str,
    ) -> Ms {
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
        // refusal's do not count it (refunded above). A server that writes a JSON answer's
        // figures at admission is read as it writes them, but not while a store gates the
        // fleet: the store keeps the levels, and the copy placed at figures a whole
        // generation old held each process back on its own (two processes of the
        // simulator's `--head admission-json` through a store, with a trial build whose votes
        // said so: 1.14 times the bound, against 1.01 read as settled).
        let streamed = self
            .calls
            .get_mut(&id)
            .is_some_and(|c| std::mem::take(&mut c.streaming));
        let at_admission = (200..300).contains(&status)
            && self
                .keys
                .limiter_mut(slot)
                .figures_at_admission(now_ms, info, &ticket);
        let streaming = streamed || at_admission && !self.store_gates();
        // A stream's head is written at its admission, with every call of the fleet that is
        // in flight counted at its `max_tokens`; the give-backs of other processes' calls
        // reach this copy only through a later head. While a store answers, the store gates
        // the fleet on its own levels, and the copy, placed at each head, held the process's
        // calls back on its own (Tier 1's fleet of streams: 1.18 to 1.19 times the lower
        // bound, 1.08 to 1.14 without the token levels of stream heads). So their token
        // levels are left to the store; their limits are still learned.
        let heads_tokens = !self.store_gates();
        let limiter = self.keys.limiter_mut(slot);
        let changed = if (200..300).contains(&status) && streaming {
            let mut bare;
            let info = if heads_tokens {
                info
            } else {
                bare = info.clone();
                for d in [
                    &mut bare.input_tokens,
                    &mut bare.output_tokens,
                    &mut bare.tokens,
                ] {
                    d.remaining = None;
                    d.reset_at_ms = None;
                }
                &bare
            };
            limiter.observe_stream_head(now_ms, info, &mut ticket)
        } else if (200..300).contains(&status) {
            limiter.observe_answer(now_ms, info, &mut ticket)
        } else if status == 429 {
            let hint = crate::core::hints::retry_hint(info.retry_after_ms, error);
            limiter.observe_refusal(now_ms, info, &ticket, hint)
        } else {
            limiter.observe(now_ms, info)
        };
        if changed {
            self.event(EventKind::Limits, id, "headers", 0.0, now_ms);
        }
        // A 429 whose headers show a spent month's (or day's) quota fails as one.
        let spent = info.quota_error(status, error);
        let error = spent.as_ref().or(error);
        let classified = classify(
            status,
            info.should_retry,
            error,
            self.config.retry.retry_on.as_deref(),
        );
        // A quota spent for the day or a spend limit: its wait is no time the key's other
        // calls could go after, here or across the fleet (Gemini sends a `retryDelay` of
        // seconds with a per-day `QuotaFailure`: every later call waited it out, then failed).
        let quota = matches!(
            classified,
            Outcome::Fail(FailKind::InsufficientQuota | FailKind::SpendLimit)
        );
        let pauses = status == 429 && !quota;
        self.fleet_observed(id, slot, now_ms, status, info, streamed);
        if pauses {
            self.fleet_paused(slot, info);
        }
        if streaming && !streamed {
            ticket.placed = [false; 4];
            ticket.counted = [false; 4];
        }
        if let Some(a) = self.adaptive.as_mut() {
            a.on_result(id, now_ms, Signal::of_status(status));
        }
        match status {
            429 => self.stats.rate_limited += 1,
            529 => self.stats.overloaded += 1,
            500..=599 => self.stats.server_errors += 1,
            _ => {}
        }
        let outcome = match classified {
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
                self.budget_recovered(now_ms, u);
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
                if pauses {
                    // Not retried, but its wait holds every call of its key all the same.
                    let hint = crate::core::hints::stated_hint(now_ms, status, info, error);
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
                let hint = crate::core::hints::stated_hint(now_ms, status, info, error);
                self.note_failure(now_ms, slot, kind, hint);
                self.retry_or_give_up(now_ms, id, kind, hint, u)
                    .unwrap_or(Verdict::Deliver)
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
        self.fleet_unanswered(id, slot);
        let call = self.calls.get_mut(&id).expect("checked above");
        call.has_response = false;
        call.state = State::Deciding;
        let kind = match classify_error(false) {
            Outcome::Retry(kind) => kind,
            _ => RetryKind::Network,
        };
        self.note_failure(now_ms, slot, kind, None);
        match self.retry_or_give_up(now_ms, id, kind, None, u) {
            Ok(verdict) => verdict,
            Err(why) => Verdict::Fail(if why == GiveUp::Timeout {
                CallError::Timeout
            } else {
                CallError::Network
            }),
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
            ticket.counted = [false; 4];
        }
        self.fleet_release(id);
    }
}
