//! What goes to the store once a call is sent: its answer's figures (held until the
//! settlement of a stored call that is not a stream), a 429's pause, the settlement, the
//! refund of a refused request, and the give-back of a call the store held no bucket for
//! (the module docs of [`super`]).

use super::{learned, StoreOp, Turn};
use crate::core::call::{Engine, Id};
use crate::core::headers::RateLimitInfo;
use crate::core::keys::Slot;
use crate::core::limiter::{Dim, Ticket, Usage};
use crate::core::Ms;

impl Engine {
    /// After a response's headers: while the store answers, the store gates the fleet, so the
    /// key's local copy counts on the whole refill (no share held back for unseen others).
    /// The headers' limits and levels go to the store too (and a 429's pause:
    /// [`Engine::fleet_paused`]).
    pub(in crate::core::call) fn fleet_observed(
        &mut self,
        id: Id,
        slot: Slot,
        now_ms: Ms,
        status: u16,
        info: &RateLimitInfo,
        streaming: bool,
    ) {
        let Some(f) = &mut self.fleet else {
            return;
        };
        // Admitted with no bucket known, and refused: not given back (kept until here for
        // the probe's answer below).
        let unmetered = f.unmetered.iter().any(|(u, _)| *u == id);
        if status == 429 || status == 529 {
            f.unmetered_remove(id);
        }
        if f.down {
            // Not queued for a store that does not answer: a client that holds commands
            // while it hangs would run them late, a stale level and pause on a fleet that has
            // moved on. The first response after it resumes teaches it again.
            return;
        }
        let mut dims = [
            learned(&info.requests, now_ms),
            learned(&info.input_tokens, now_ms),
            learned(&info.output_tokens, now_ms),
            info.combined_tokens()
                .map_or((f64::NAN, f64::NAN), |d| learned(d, now_ms)),
        ];
        // A configured limit is the fleet's too: the headers' limit goes to the store no
        // higher (it would raise the shared bucket past it, each process then held only by
        // its own copy: K processes configured to 3 requests a minute sent 3 K).
        let limiter = self.keys.limiter(slot);
        for ((limit, _), dim) in dims.iter_mut().zip(Dim::ALL) {
            // (Not `min`: a limit the headers do not state stays NaN.)
            match limiter.configured(dim) {
                Some(cap) if *limit > cap => *limit = cap,
                _ => {}
            }
        }
        let ok = (200..300).contains(&status);
        if dims.iter().all(|(l, _)| l.is_nan()) && unmetered && !f.opened.contains(&slot) {
            // The answer to the key's opening probe (or to a call of an open key) taught no
            // limit: the others need not wait for it, and a 2xx's server sends none.
            if ok {
                f.ops.push(StoreOp::Probed { slot, open: true });
                f.opened.push(slot);
            } else {
                // Not given back either: an error settles no usage.
                f.unmetered_remove(id);
                f.ops.push(StoreOp::Probed { slot, open: false });
            }
        }
        if dims.iter().any(|(l, r)| !l.is_nan() || !r.is_nan()) {
            let learn = StoreOp::Learn { slot, dims };
            if ok && f.stored.contains(id) {
                // Held until its settlement (module docs).
                f.held.push((id, learn));
            } else {
                f.ops.push(learn);
                // A stream's, kept for the give-back at its settlement (module docs). An
                // answer that is no stream may have been written after the server's own
                // give-back (the mock's order): given back again at the settlement, after
                // the store admitted others on these figures, it stood that much above the
                // server (a 429 in most runs of the fleet bench at Tier 1's scale).
                let stream = ok && streaming;
                if let Some((_, kept)) = f.unmetered.iter_mut().find(|(u, _)| stream && *u == id) {
                    *kept = Some(dims.map(|(_, remaining)| remaining));
                }
            }
        }
        self.keys.limiter_mut(slot).share_alone(now_ms);
    }

    /// A 429 of the key in `slot` asked its calls to wait (not a quota's or a spend limit's:
    /// no wait helps those): the header's wait goes to the store, for the whole fleet.
    pub(in crate::core::call) fn fleet_paused(&mut self, slot: Slot, info: &RateLimitInfo) {
        let Some(f) = self.fleet.as_mut().filter(|f| !f.down) else {
            return;
        };
        if let Some(ms) = info.retry_after_ms.filter(|ms| ms.is_finite() && *ms > 0.0) {
            f.ops.push(StoreOp::Pause {
                slot,
                retry_after_ms: ms.min(crate::core::call::answer::MAX_PAUSE_MS),
            });
        }
    }

    /// The attempt of `id`, of the key in `slot`, failed with no answer (a network error): if
    /// it was the key's opening probe, the others need not wait out its lease.
    pub(in crate::core::call) fn fleet_unanswered(&mut self, id: Id, slot: Slot) {
        if let Some(f) = &mut self.fleet {
            f.end_unmetered(id, slot);
        }
    }

    /// The figures of `id`'s 2xx held until its settlement go to the store now: it settled,
    /// left, or its answer is a stream (module docs).
    pub(in crate::core::call) fn fleet_release(&mut self, id: Id) {
        if let Some(f) = &mut self.fleet {
            if let Some(i) = f.held.iter().position(|(held, _)| *held == id) {
                let (_, learn) = f.held.swap_remove(i);
                f.ops.push(learn);
            }
        }
    }

    /// `id`, of the key in `slot`, left the engine (aborted, timed out, closed). A reservation
    /// it has out stays listed: its answer is undone when it comes ([`Engine::on_reserved`]).
    /// A turn it was taking ends: the key's other calls need not wait for that answer. A turn
    /// booked that no call of the key is left to take is given back to the store: the fleet
    /// would otherwise queue behind it until its cost refilled.
    pub(in crate::core::call) fn fleet_forget(&mut self, now_ms: Ms, id: Id, slot: Slot) {
        self.fleet_release(id);
        let Some(f) = &mut self.fleet else {
            return;
        };
        // Gone unsettled (aborted in flight, no usage): its reservation stays in the store,
        // the best estimate, as it does locally; the id is not kept. One the store held no
        // bucket for ends the probe's lease if no figures came.
        f.stored.remove(&id);
        f.end_unmetered(id, slot);
        if let Some((slot, ..)) = f.end_turn(id) {
            self.unhold(slot);
            return;
        }
        if f.reserving.iter().any(|a| a.id == id) {
            // The key's other calls waited on this answer (contended): not any more.
            self.unhold(slot);
            return;
        }
        let Some(Turn::At {
            booked: (input, output),
            ..
        }) = f.turn(slot, now_ms)
        else {
            return;
        };
        if self.calls.values().any(|c| c.slot == slot) {
            return;
        }
        let Some(f) = &mut self.fleet else {
            return;
        };
        f.set_turn(slot, None);
        f.ops.push(StoreOp::Refund {
            slot,
            input,
            output,
            turn_only: true,
        });
        self.unhold(slot);
    }

    /// The server refused a request the store admitted (429, 529): it never counted its
    /// tokens, so the store gives them back, as the local limiter does.
    pub(in crate::core::call) fn fleet_refused(&mut self, id: Id, slot: Slot, ticket: Ticket) {
        let Some(f) = &mut self.fleet else {
            return;
        };
        // (An unmetered call's entry goes in `fleet_observed`, which reads it first.)
        if f.stored.remove(&id) {
            f.ops.push(StoreOp::Refund {
                slot,
                input: ticket.input,
                output: ticket.output,
                turn_only: false,
            });
        }
    }

    /// A call the store admitted settled: its usage goes to the store. If the key holds a
    /// turn still to come, it is taken now, after the settlement (the driver carries out store
    /// work in order): what was given back may let it in early (module docs of
    /// [`crate::core::store`]). `uncounted`: per dimension, the give-back the local limiter
    /// read as written after the figures of this call's answer ([`Limiter::settle`]): its
    /// figures, held until now, go to the store that much higher. `kept`: the unused output
    /// the local copy kept rather than gave back ([`Limiter::settle_shared`]); for an answer
    /// whose figures the store holds until now, the store gives back no more than the copy
    /// did.
    ///
    /// [`Limiter::settle_shared`]: crate::core::limiter::Limiter::settle_shared
    ///
    /// [`Limiter::settle`]: crate::core::limiter::Limiter::settle
    pub(in crate::core::call) fn fleet_settled(
        &mut self,
        now_ms: Ms,
        id: Id,
        slot: Slot,
        ticket: Ticket,
        usage: &Usage,
        (uncounted, kept): ([f64; 4], f64),
    ) {
        let Some(f) = &mut self.fleet else {
            return;
        };
        if let Some(kept) = f.unmetered_remove(id) {
            // Not settled in the store, which never held it: what the server's settlement gave
            // back (the output reserved and not used; the server counted the input when it
            // admitted the request), up to the figures of its answer.
            let back = (ticket.output - usage.output_tokens).max(0.0);
            if let Some(figures) = kept.filter(|_| back > 0.0) {
                let given = [0.0, 0.0, back, back];
                let dims = [0, 1, 2, 3].map(|d| (given[d], figures[d]));
                f.ops.push(StoreOp::GiveBack { slot, dims });
            }
            return;
        }
        if !f.stored.remove(&id) {
            return;
        }
        if let Some(held) = self.calls.get(&id).map(|c| now_ms - c.sent_at) {
            if held.is_finite() && held >= 0.0 {
                let avg = f.held_ms;
                f.held_ms = if avg > 0.0 {
                    avg + (held - avg) / 4.0
                } else {
                    held
                };
            }
        }
        let held = f.held.iter_mut().find(|(h, _)| *h == id);
        // The store gives back no more of the output than the copy did, for an answer whose
        // figures it holds until now (no stream: a stream's head came at its admission, and
        // the copy's room counts on its level, which in a fleet stands above the server by
        // what the others drew since the last figures; two to eight processes with stream
        // heads at admission took 1.09 to 1.17 times the bound at `max_tokens` 1,024 with it,
        // and up to 4.6 on a workload that gives most of its reservation back).
        let kept = if held.is_some() { kept } else { 0.0 };
        f.ops.push(StoreOp::Settle {
            slot,
            reserved_input: ticket.input,
            reserved_output: ticket.output,
            input: usage.metered_input(),
            output: usage.output_tokens + kept,
        });
        // Figures written before the server's settlement (its head first) do not count the
        // give-back the store has just made: lowered to them, the store would take it back
        // again, and stand below the server by every such call's unused output.
        if let Some((_, StoreOp::Learn { dims, .. })) = held {
            for (d, (_, remaining)) in dims.iter_mut().enumerate() {
                if uncounted[d] > 0.0 && remaining.is_finite() {
                    *remaining += uncounted[d];
                }
            }
        }
        self.fleet_release(id);
        let Some(f) = &mut self.fleet else {
            return;
        };
        if let Some(Turn::At {
            at,
            due,
            booked,
            gap,
        }) = f.turn(slot, now_ms)
        {
            if at > now_ms {
                f.set_turn(
                    slot,
                    Some(Turn::At {
                        at: now_ms,
                        due,
                        booked,
                        gap,
                    }),
                );
                self.unhold(slot);
            }
        }
    }
}
