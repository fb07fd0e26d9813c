//! A spent retry budget holds retries; it fails no call on its own.
//!
//! While most attempts fail (the budget spent, [`crate::core::budget`]), one call at a time,
//! the **probe**, still retries with its backoff. Every other call whose attempt fails is
//! **held**: it keeps its last response (or network error) and waits, with no timer and no
//! attempt spent, in the order it came.
//!
//! * A success (the probe's or any call's) that leaves the budget able to retry again lets
//!   the held calls go, spread over the backoff's first delay.
//! * The probe running out of retries (`maxRetries`) says the outage outlasted a whole retry
//!   schedule: the held calls give up too (`budget`), each with its last response or error,
//!   and until a success, every failure is handed back at once, as a breaker left open (a
//!   call's first attempt still goes, and is the one that finds the service back).
//! * The probe leaving otherwise (aborted, its deadline, an answer that is final) hands the
//!   turn to the first held call, which retries at once.
//!
//! A call's own deadline, `maxRetries`, abort and `close` end a held call as they end any
//! waiting one. Before, a spent budget handed back every later failure at once: a burst of 40
//! calls at a server with 8 slots and a bare 503 beyond lost 14 to 17 of them, and a server
//! restarting for 3 s lost 67 of 100, where a client that retries with backoff lost none.

use super::{Engine, Id, State};
use crate::core::budget::RetryBudget;
use crate::core::call::io::Action;
use crate::core::call::CallError;
use crate::core::Ms;

/// What a spent budget does with a failure ([`Engine::budget_turn`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BudgetTurn {
    /// Retried with its backoff (the budget can pay, or the call is the probe).
    Retry,
    /// Held until the budget recovers or the turn passes to it.
    Hold,
    /// Handed back at once: a probe ran out of retries since the last success.
    HandBack,
}

/// The probe and the held calls ([`Engine::hold_for_budget`]).
#[derive(Debug, Clone, Default)]
pub(super) struct BudgetHold {
    /// The one call whose failures still retry while the budget is spent.
    probe: Option<Id>,
    /// Held calls, in the order they came, with their last failure's retry reason.
    held: Vec<(Id, &'static str)>,
    /// Held calls to give up at the next poll (the probe ran out of retries).
    failed: Vec<Id>,
    /// A probe ran out of retries, and no success since: failures are handed back at once.
    open: bool,
}

impl Engine {
    /// Whether the budget is spent: no retry of a fault goes but the probe's.
    pub(super) fn budget_spent(&self) -> bool {
        !self.budget.as_ref().is_none_or(RetryBudget::can_retry)
    }

    /// What the budget says of a failure of `id` that spends it: retried while the budget can
    /// pay, or while `id` is the probe (or may become it); else held, or handed back at once
    /// while a probe's run-out stands since the last success.
    pub(super) fn budget_turn(&self, id: Id) -> BudgetTurn {
        if !self.budget_spent() {
            BudgetTurn::Retry
        } else if self.hold.open {
            BudgetTurn::HandBack
        } else if self.hold.probe.is_some_and(|p| p != id) {
            BudgetTurn::Hold
        } else {
            BudgetTurn::Retry
        }
    }

    /// `id` retries a failure that spends the budget (`paced` false): while the budget is
    /// spent, it is the probe.
    pub(super) fn budget_retries(&mut self, id: Id, paced: bool) {
        if !paced && self.budget_spent() {
            self.hold.probe = Some(id);
        }
    }

    /// Hold `id` (its last response or error kept) until the budget recovers or the probe
    /// gives up. `reason`: its failure's retry reason, for the `retry` event when it goes.
    pub(super) fn hold_for_budget(&mut self, now_ms: Ms, id: Id, reason: &'static str) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.state = State::Held;
        call.waiting_since = now_ms;
        self.hold.held.push((id, reason));
        self.tell_wait(now_ms, id, "budget", 0.0);
    }

    /// A success: if the budget can retry again, the held calls go, spread over the
    /// backoff's first delay by `u` (a uniform draw in `[0, 1)`).
    pub(super) fn budget_recovered(&mut self, now_ms: Ms, u: f64) {
        if self.budget_spent() {
            return;
        }
        self.hold.probe = None;
        self.hold.open = false;
        let first = self.config.retry.backoff.initial_delay_ms;
        let held = std::mem::take(&mut self.hold.held);
        for (i, (id, reason)) in held.into_iter().enumerate() {
            if self.is_held(id) {
                // Evenly spread, no draw of its own: the golden ratio's multiples mod 1.
                let v = (u + i as f64 * 0.618_033_988_749_895).fract();
                self.schedule_retry(now_ms, id, v * first, reason);
            }
        }
    }

    /// The probe `id` ran out of retries: the outage outlasted its whole schedule, and the
    /// held calls give up at the next poll.
    pub(super) fn budget_probe_gave_up(&mut self, id: Id) {
        if self.hold.probe == Some(id) {
            self.hold.probe = None;
            self.hold.open = true;
            let held = std::mem::take(&mut self.hold.held);
            self.hold.failed.extend(held.into_iter().map(|(id, _)| id));
        }
    }

    /// `id` left the engine (`held`: in [`State::Held`]): no entry of it is kept; if it was
    /// the probe, the first held call takes its turn now.
    pub(super) fn budget_forget(&mut self, now_ms: Ms, id: Id, held: bool) {
        // Only a held call has entries: the lists are not scanned at every call's end.
        if held {
            self.hold.held.retain(|(h, _)| *h != id);
            self.hold.failed.retain(|h| *h != id);
        }
        if self.hold.probe != Some(id) {
            return;
        }
        self.hold.probe = None;
        if self.closed {
            return;
        }
        while !self.hold.held.is_empty() {
            let (next, reason) = self.hold.held.remove(0);
            if self.is_held(next) {
                self.hold.probe = Some(next);
                self.schedule_retry(now_ms, next, 0.0, reason);
                return;
            }
        }
    }

    /// The held calls the probe's end gave up on: each gets its last response, or its
    /// network error.
    pub(super) fn budget_give_up(&mut self, now_ms: Ms, out: &mut Vec<Action>) {
        for id in std::mem::take(&mut self.hold.failed) {
            if self.is_held(id) {
                self.give_up_waiting(now_ms, id, CallError::Network, "budget", out);
            }
        }
    }

    /// How many calls are held now (counted as queued by [`Engine::stats`]).
    pub(super) fn held_count(&self) -> usize {
        self.hold.held.len() + self.hold.failed.len()
    }

    /// `id` is a held call still (not gone, not let go).
    fn is_held(&self, id: Id) -> bool {
        self.calls.get(&id).is_some_and(|c| c.state == State::Held)
    }
}
