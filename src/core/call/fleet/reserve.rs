//! Asking the store: a call the local limiter admitted reserves there, or waits for its
//! key's turn; the store's answers (admitted, wait, never, unavailable); late answers undone;
//! the probes of a store that is down (the module docs of [`super`]).

use super::{Asked, StoreAnswer, StoreOp, Turn, MIN_STORE_WAIT_MS, UNTIL_ANSWERED};
use crate::core::call::{Action, Engine, EventKind, Id, State};
use crate::core::keys::Slot;
use crate::core::limiter::{Dim, Ticket};
use crate::core::store::{STORE_PROBE_MS, STORE_TIMEOUT_MS};
use crate::core::Ms;

impl Engine {
    /// What a call the local limiter admitted does: with no store, [`Action::Send`]. With one,
    /// [`Action::Reserve`] in the store: with `turn` set if this process's turn for the key
    /// has come, as a new request if it holds none. While its turn is still to come, or being
    /// taken, nothing (`None`): the call goes back to its place and the key is held until the
    /// turn (or its answer), so that one process asks once per turn, not once per queued call.
    pub(in crate::core::call) fn send_or_reserve(
        &mut self,
        now_ms: Ms,
        id: Id,
        attempt: u32,
        ticket: Ticket,
    ) -> Option<Action> {
        let (Some(f), Some(call)) = (&mut self.fleet, self.calls.get(&id)) else {
            return Some(Action::Send { id, attempt });
        };
        let slot = call.slot;
        // Down: the local admission stands, with no round trip to a store that does not
        // answer (each would cost its call the store's whole timeout). Once a probe period,
        // a probe goes beside a call: answered, sharing resumes.
        if f.down {
            if f.probing.is_none() && f.reserving.is_empty() && now_ms >= f.probe_at {
                f.probing = Some(id);
                f.probe_due = Some(slot);
            }
            return Some(Action::Send { id, attempt });
        }
        // A new request books the output its key's requests are expected to use; a turn's
        // ask names what the turn booked.
        let mut booked_output = self.keys.limiter(slot).expected_output(ticket.output);
        let turn = match f.turn(slot, now_ms) {
            Some(Turn::At {
                at,
                due,
                booked,
                gap,
            }) if at <= now_ms => {
                f.set_turn(slot, Some(Turn::Out { id, due, gap }));
                self.keys.limiter_mut(slot).set_hold(Some(UNTIL_ANSWERED));
                booked_output = booked.1.min(ticket.output);
                true
            }
            Some(t) => {
                let until = match t {
                    Turn::At { at, .. } => at,
                    Turn::Out { .. } => UNTIL_ANSWERED,
                };
                self.keys.limiter_mut(slot).set_hold(Some(until));
                self.store_requeue(now_ms, id, ticket);
                return None;
            }
            // A contended key's calls reserve one at a time (an answer to a call gone since
            // is none of theirs to wait for).
            None if f.contended.contains(&slot)
                && f.reserving
                    .iter()
                    .any(|a| a.slot == slot && self.calls.contains_key(&a.id)) =>
            {
                self.keys.limiter_mut(slot).set_hold(Some(UNTIL_ANSWERED));
                self.store_requeue(now_ms, id, ticket);
                return None;
            }
            None => false,
        };
        f.reserving.push(Asked {
            id,
            slot,
            input: ticket.input,
            output: ticket.output,
            booked_output,
        });
        let left = call.deadline.map_or(f64::INFINITY, |d| (d - now_ms) / 2.0);
        Some(Action::Reserve {
            id,
            slot,
            timeout_ms: crate::core::clamp(left, MIN_STORE_WAIT_MS, STORE_TIMEOUT_MS),
            input: ticket.input,
            output: ticket.output,
            booked_output,
            turn,
        })
    }

    /// The key's hold ends (its turn was taken, or given up): its calls may go again.
    pub(super) fn unhold(&mut self, slot: Slot) {
        self.keys.limiter_mut(slot).set_hold(None);
        self.scheduler.wake(slot);
    }

    /// Undo the local admission of `id` (the store did not take it, or its turn is to come):
    /// the reservation given back, the concurrency slot freed, the call at its place in its
    /// key's queue again.
    fn store_requeue(&mut self, now_ms: Ms, id: Id, ticket: Ticket) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.attempt -= 1;
        call.state = State::Queued;
        let (slot, priority, seq, cost) = (call.slot, call.priority, call.seq, call.cost);
        let limiter = self.keys.limiter_mut(slot);
        limiter.unsent(&ticket);
        limiter.refund(now_ms, ticket, false);
        self.scheduler.finish();
        self.scheduler.push_to(slot, id, priority, seq, cost);
    }

    /// While the store is down, no reservation is out and calls wait on the local limiter:
    /// when to probe it (module docs).
    pub(in crate::core::call) fn fleet_wake(&self) -> Option<Ms> {
        let f = self.fleet.as_ref()?;
        (f.down && f.probing.is_none() && f.reserving.is_empty() && !self.scheduler.is_empty())
            .then_some(f.probe_at)
    }

    /// The probe due at `now_ms`, if any: one a call sent while down made due, or one for
    /// the calls that wait ([`Engine::fleet_wake`]).
    pub(in crate::core::call) fn fleet_probe(&mut self, now_ms: Ms) -> Option<Action> {
        if let Some(slot) = self.fleet.as_mut()?.probe_due.take() {
            return Some(Action::ProbeStore { slot });
        }
        if self.fleet_wake().is_none_or(|at| at > now_ms) {
            return None;
        }
        let id = self.scheduler.head()?;
        let slot = self.calls.get(&id)?.slot;
        self.fleet.as_mut()?.probing = Some(id);
        Some(Action::ProbeStore { slot })
    }

    /// The store answered the [`Action::ProbeStore`] in time (`answered`), or not. Answered
    /// while down: every key's local copy counts on its whole refill again, its waiting calls
    /// admitted anew (through the store); `store_resumed` comes with the first of their
    /// reservations the store answers (a store may answer a probe, which writes nothing, and
    /// still fail the writes of a reservation).
    pub fn on_probed(&mut self, now_ms: Ms, answered: bool) {
        let now_ms = self.clock(now_ms);
        let Some(f) = &mut self.fleet else {
            return;
        };
        if f.probing.take().is_none() {
            return;
        }
        if !answered {
            f.probe_at = now_ms + STORE_PROBE_MS;
            return;
        }
        if !f.down {
            return;
        }
        f.down = false;
        f.unconfirmed = true;
        let slots: Vec<Slot> = self.keys.slots().into_iter().map(|(s, _)| s).collect();
        for slot in slots {
            self.keys.limiter_mut(slot).share_alone(now_ms);
            self.scheduler.wake(slot);
        }
        // `store_resumed` comes with the first reservation answered (`unconfirmed`).
    }

    /// The store answered a reservation after the driver had reported it
    /// [`StoreAnswer::Unavailable`] (too late: the call went on its local admission), for
    /// `slot` and those tokens. What the store did for it is undone, so that a slow store
    /// neither keeps tokens no request uses nor books turns no one takes: admitted, the
    /// reservation is refunded; told to wait, the turn it booked is given back.
    /// `booked_output`: what a turn booked of the output ([`Action::Reserve`]).
    pub fn on_late_reserve(
        &mut self,
        slot: Slot,
        input: f64,
        (output, booked_output): (f64, f64),
        answer: StoreAnswer,
    ) {
        let Some(f) = &mut self.fleet else {
            return;
        };
        let (output, turn_only) = match answer {
            StoreAnswer::Admit => (output, false),
            StoreAnswer::Wait { .. } => (booked_output, true),
            StoreAnswer::AdmitUnmetered | StoreAnswer::Never { .. } | StoreAnswer::Unavailable => {
                return
            }
        };
        f.ops.push(StoreOp::Refund {
            slot,
            input,
            output,
            turn_only,
        });
    }

    /// The store answered the [`Action::Reserve`] of `id` (see the module docs). Returns the
    /// actions to carry out: a [`Action::Send`], or nothing (the call waits, or is gone).
    pub fn on_reserved(&mut self, now_ms: Ms, id: Id, answer: StoreAnswer) -> Vec<Action> {
        let now_ms = self.clock(now_ms);
        let was_down = self.fleet.as_ref().is_some_and(|f| f.down);
        let mut out = self.reserved(now_ms, id, answer);
        let Some(f) = self.fleet.as_mut().filter(|f| f.down && !was_down) else {
            return out;
        };
        // The other reservations out wait on the same store: their calls go on their local
        // admission now, not each after its own timeout; what the store does for them, if it
        // answers after all, is undone.
        f.abandoned.extend(f.reserving.iter().copied());
        let others: Vec<Id> = f.reserving.iter().map(|a| a.id).collect();
        for other in others {
            out.extend(self.reserved(now_ms, other, StoreAnswer::Unavailable));
        }
        out
    }

    /// [`Engine::on_reserved`] for one reservation.
    fn reserved(&mut self, now_ms: Ms, id: Id, answer: StoreAnswer) -> Vec<Action> {
        let Some(f) = &mut self.fleet else {
            return Vec::new();
        };
        let Some(i) = f.reserving.iter().position(|a| a.id == id) else {
            if let Some(i) = f.abandoned.iter().position(|a| a.id == id) {
                let a = f.abandoned.swap_remove(i);
                self.on_late_reserve(a.slot, a.input, (a.output, a.booked_output), answer);
            }
            return Vec::new(); // not asked, or answered already
        };
        let asked = f.reserving.swap_remove(i);
        match answer {
            StoreAnswer::Wait { .. } if !f.contended.contains(&asked.slot) => {
                f.contended.push(asked.slot);
            }
            StoreAnswer::Admit | StoreAnswer::AdmitUnmetered | StoreAnswer::Unavailable
                if f.turn(asked.slot, now_ms).is_none() =>
            {
                f.contended.retain(|&s| s != asked.slot);
            }
            _ => {}
        }
        // The answer to a turn, or to the reservation a contended key's calls waited on: the
        // key's hold ends (a new turn, if any, sets it again below). A turn asked for before
        // the time the store stated is a re-check ([`TOKEN_RECHECK_MS`]).
        let (mut recheck, mut last_gap) = (false, 0.0);
        if let Some((slot, due, gap)) = f.end_turn(id) {
            (recheck, last_gap) = (now_ms < due, gap);
            self.unhold(slot);
        } else if f.turn(asked.slot, now_ms).is_none() {
            self.unhold(asked.slot);
        }
        let Some(f) = &mut self.fleet else {
            return Vec::new();
        };
        let (was_down, unconfirmed) = (f.down, f.unconfirmed);
        f.down = answer == StoreAnswer::Unavailable;
        f.unconfirmed &= f.down;
        if f.down {
            f.probe_at = now_ms + STORE_PROBE_MS;
        }
        if f.down && !was_down {
            let slots: Vec<Slot> = self.keys.slots().into_iter().map(|(s, _)| s).collect();
            for slot in slots {
                self.keys.limiter_mut(slot).start_blind(now_ms);
            }
            if !unconfirmed {
                self.event(EventKind::Warning, id, "store_unavailable", 0.0, now_ms);
            }
        } else if (was_down || unconfirmed) && !f.down {
            self.event(EventKind::Warning, id, "store_resumed", 0.0, now_ms);
        }
        let ticket = match self.calls.get(&id).map(|c| c.state) {
            Some(State::InFlight { ticket }) => ticket,
            _ => {
                // Gone meanwhile (aborted, timed out): what the store did is undone.
                let out = (asked.output, asked.booked_output);
                self.on_late_reserve(asked.slot, asked.input, out, answer);
                return Vec::new();
            }
        };
        if let Some(f) = &mut self.fleet {
            // This attempt's admission decides how its settlement reaches the store.
            match answer {
                StoreAnswer::Admit => {
                    f.unmetered_remove(id);
                    f.stored.insert(id);
                }
                StoreAnswer::AdmitUnmetered => {
                    f.stored.remove(&id);
                    f.unmetered_remove(id);
                    f.unmetered.push((id, None));
                }
                _ => {}
            }
        }
        if answer == StoreAnswer::Admit {
            // The store holds the key's buckets (the fleet's probe taught it, or a process's
            // configured limits): it gates the fleet, so this process's own opening probe
            // has nothing left to learn first; its other calls go to the store now, not after
            // this one's answer (a second probe's latency in series with the fleet's).
            self.keys.limiter_mut(asked.slot).end_probe();
        }
        let Some(call) = self.calls.get_mut(&id) else {
            return Vec::new();
        };
        match answer {
            StoreAnswer::Admit
            | StoreAnswer::AdmitUnmetered
            | StoreAnswer::Never { .. }
            | StoreAnswer::Unavailable => {
                let attempt = call.attempt;
                self.sent(now_ms, id, ticket);
                vec![Action::Send { id, attempt }]
            }
            StoreAnswer::Wait {
                wait_ms,
                paused,
                dim,
            } => {
                // Never a spin: a store of the caller's that keeps saying "not now, wait 0"
                // (or garbage) is asked again after [`MIN_STORE_WAIT_MS`], not at once.
                let wait = if wait_ms.is_finite() {
                    wait_ms.max(MIN_STORE_WAIT_MS)
                } else {
                    MIN_STORE_WAIT_MS
                };
                // A token bucket's wait counts no tokens given back by the calls in flight
                // across the fleet: asked again sooner.
                let slot = call.slot;
                if let Some(f) = &mut self.fleet {
                    let ask_in = match dim {
                        Some(Dim::Requests) => wait,
                        Some(_) => wait.min(f.recheck_ms(recheck, last_gap, false)),
                        // The opening probe's answer is awaited: asked again soon.
                        None if !paused => wait.min(f.recheck_ms(recheck, last_gap, true)),
                        None => wait,
                    };
                    if f.turn(slot, now_ms).is_none() {
                        let (at, due) = (now_ms + ask_in, now_ms + wait);
                        let booked = (ticket.input, asked.booked_output);
                        let gap = ask_in;
                        f.set_turn(
                            slot,
                            Some(Turn::At {
                                at,
                                due,
                                booked,
                                gap,
                            }),
                        );
                        self.keys.limiter_mut(slot).set_hold(Some(at));
                    } else {
                        // One turn per key: this one, booked while another was, is given back.
                        f.ops.push(StoreOp::Refund {
                            slot,
                            input: ticket.input,
                            output: asked.booked_output,
                            turn_only: true,
                        });
                    }
                }
                self.store_requeue(now_ms, id, ticket);
                if paused {
                    // After the requeue: the call that asked is checked against its deadline too.
                    self.pause_key(slot, now_ms + wait);
                }
                self.scheduler.wake(slot);
                if !recheck {
                    self.event(EventKind::Wait, id, "store", wait, now_ms);
                }
                Vec::new()
            }
        }
    }

    /// `id` asked the store and has no answer yet.
    pub(in crate::core::call) fn reserving(&self, id: Id) -> bool {
        self.fleet
            .as_ref()
            .is_some_and(|f| f.reserving.iter().any(|a| a.id == id))
    }
}
