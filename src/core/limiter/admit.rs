//! Admission: may a request go now, and its reservation taken when it does.

use super::{non_negative, Blocker, Cost, Decision, Dim, Limiter, Ticket, MINUTE_MS};
use crate::core::bucket::Bucket;
use crate::core::share::decay;
use crate::core::{clamp, Ms};

/// A request that must wait is woken this long after the exact instant its bucket holds its
/// cost: the server reaches the same level through other floating-point steps and may be a
/// hair short at that instant (seen in the simulator as 429s at a server level of
/// 1023.99999 for a cost of 1024).
pub const EDGE_MARGIN_MS: Ms = 1.0;

/// The refill a full server bucket wastes while a request is in transit for `transit_ms`,
/// when our copy was `headroom` below full at its admission: the part of that refill that
/// would have lifted the copy above its capacity (0 when the copy was at least that refill
/// below full, e.g. `headroom` infinite).
pub(super) fn wasted(b: &Bucket, headroom: f64, transit_ms: Ms) -> f64 {
    let in_transit = b.rate_per_ms() * transit_ms;
    clamp(in_transit - headroom, 0.0, in_transit)
}

/// The earliest time, from `now`, at which `bucket` holds `n` (`n <= capacity`), such that
/// [`Bucket::level`] at that time is really `>= n` despite rounding: a caller woken at the
/// returned time is admitted, not told to wait a few more ulps.
fn ready_at(bucket: &Bucket, now: Ms, n: f64) -> Ms {
    let Some(wait) = bucket.time_until(now, n) else {
        return Ms::INFINITY; // n > capacity: callers rule this out first
    };
    let mut t = now + wait;
    let mut step = (t.abs() * f64::EPSILON).max(1e-9);
    // A step of a few ulps nearly always suffices; doubling bounds the loop in any case.
    for _ in 0..128 {
        if bucket.level(t) >= n {
            break;
        }
        t += step;
        step *= 2.0;
    }
    t
}

impl Limiter {
    /// Would `cost` be admitted now? Same answer as [`Limiter::acquire`], without reserving.
    ///
    /// The cost is first [fitted](Limiter::fit) to the buckets. Then, in this order:
    /// 1. [`Decision::Never`] if the fitted cost in some known dimension exceeds its capacity
    ///    (the first such one in [`Dim::ALL`] order): no wait can help, and no pause changes
    ///    that.
    /// 2. [`Decision::Wait`] with [`Blocker::Paused`] while a pause is in force, until the pause
    ///    ends or, if a bucket needs longer, until that bucket is ready; then, the same way,
    ///    with [`Blocker::Store`] while the fleet's store holds the key
    ///    ([`Limiter::set_hold`]).
    /// 3. [`Decision::Admit`] if every known bucket holds at least its cost (`level >= cost`).
    ///    A dimension in debt (level below 0) therefore holds even a request that costs 0
    ///    there, as the server's bucket would: the debt is real usage the server counted.
    /// 4. Otherwise [`Decision::Wait`] until every bucket is ready, blocked by the dimension
    ///    with the longest wait (the first in [`Dim::ALL`] order on a tie). At `until_ms` the
    ///    same request is admitted, provided nothing else changed the buckets meanwhile.
    pub fn check(&self, now_ms: Ms, cost: Cost) -> Decision {
        let now = self.clock(now_ms);
        let cost = match self.fit(cost) {
            Ok(fitted) => fitted,
            Err(never) => return never,
        };
        let mut until = now;
        let mut blocker = None;
        for dim in Dim::ALL {
            if let Some(slot) = self.slot(dim) {
                let n = cost.amount(dim);
                let need = slot.need(now, n);
                if slot.bucket.level(now) < need {
                    let t = ready_at(&slot.bucket, now, need) + EDGE_MARGIN_MS;
                    if t > until {
                        until = t;
                        blocker = Some(dim);
                    }
                }
            }
        }
        if let Some(p) = self.paused_until(now) {
            return Decision::Wait {
                until_ms: until.max(p),
                blocker: Blocker::Paused,
            };
        }
        if let Some(h) = self.held_until_ms.filter(|&h| now < h) {
            return Decision::Wait {
                until_ms: until.max(h),
                blocker: Blocker::Store,
            };
        }
        if let Some(end) = self.probe.and_then(|p| p.wait_until()) {
            if now < end && blocker.is_none() {
                return Decision::Wait {
                    until_ms: end,
                    blocker: Blocker::FirstResponse,
                };
            }
        }
        match blocker {
            None => Decision::Admit(Ticket {
                input: cost.amount(Dim::InputTokens),
                output: cost.amount(Dim::OutputTokens),
                at_ms: now,
                serial: self.admissions,
                // (A server that counts by windows refills nothing while it is in transit:
                // nothing to waste, as where there is no bucket.)
                headroom: Dim::ALL.map(|dim| match self.slot(dim) {
                    Some(s) if !s.windowed => (s.bucket.capacity() - s.bucket.level(now)).max(0.0),
                    _ => f64::INFINITY,
                }),
                latency_ms: self.latency_ms,
                placed: [false; 4],
                raised: [0.0; 4],
                learned: [false; 4],
                learned_at_ms: now,
                counted: [false; 4],
                given: Dim::ALL.map(|dim| self.slot(dim).map_or(0.0, |s| s.given)),
                spent: Dim::ALL.map(|dim| self.slot(dim).map_or(0.0, |s| s.spent)),
                taken: Dim::ALL.map(|dim| self.slot(dim).map_or(0.0, |s| s.taken)),
            }),
            Some(dim) => Decision::Wait {
                until_ms: until,
                blocker: Blocker::Dim(dim),
            },
        }
    }

    /// `cost` as the known buckets can hold it. An input estimate above what a bucket holds
    /// (the ITPM capacity, or the TPM capacity less the output) is lowered to that, but never
    /// below [`Cost::input_floor`]: the request then waits for a full bucket and is sent, and
    /// its usage settles the difference. The server may count fewer tokens than the estimate
    /// (which errs high), so refusing on it would fail calls the server would serve; if the
    /// server does not take it, its 429 says so.
    ///
    /// So is an output reservation where the server counts output as it is generated
    /// ([`Limiter::set_output_as_generated`]): lowered to the OTPM capacity (and the TPM
    /// capacity less the input floor). And so is the output a request states (its
    /// `max_tokens`) while the metering is not known ([`Limiter::output_metering_known`]): that
    /// the server would refuse it is the pacer's model, not the server's word, so such a
    /// request goes once and the server's answer settles it (the engine learns the metering
    /// from it).
    ///
    /// `Err` with [`Decision::Never`] when what the request surely costs (the output, where
    /// the server reserves it, the default of [`Limiter::set_output_metering`]; the floor of the input)
    /// exceeds a capacity: the first such dimension in [`Dim::ALL`] order, with that cost.
    // (The error is the same plain `Copy` value `acquire` returns: an admission's ticket makes
    // it large, but nothing is allocated.)
    #[allow(clippy::result_large_err)]
    pub fn fit(&self, cost: Cost) -> Result<Cost, Decision> {
        // `n` lowered to what its own bucket holds and the combined one less `other`, never
        // below `floor`.
        let lowered = |n: f64, own: Dim, other: f64, floor: f64| {
            [(own, 0.0), (Dim::Tokens, other)]
                .into_iter()
                .filter_map(|(dim, less)| Some(self.slot(dim)?.bucket.capacity() - less))
                .fold(n, |n, room| n.min(room.max(floor)))
        };
        let mut output = non_negative(cost.output);
        let input = non_negative(cost.input);
        let floor = non_negative(cost.input_floor).min(input);
        // What the request states of its output: not lowered (but metered as generated).
        let stated = cost.stated_output();
        if self.output_as_generated() {
            if let Some(e) = self.output_estimate() {
                output = output.min(e);
            }
            output = lowered(output, Dim::OutputTokens, floor, 0.0);
        } else {
            // Where the server is not known to reserve it, the stated output is lowered too.
            let keep = if self.metering.is_some() { stated } else { 0.0 };
            if keep < output {
                output = lowered(output, Dim::OutputTokens, floor, keep);
            }
        }
        let input = lowered(input, Dim::InputTokens, output, floor);
        let fitted = Cost {
            input,
            output,
            input_floor: floor,
            output_estimated: (output - stated).max(0.0),
        };
        for dim in Dim::ALL {
            if let Some(slot) = self.slot(dim) {
                let n = fitted.amount(dim);
                let capacity = slot.bucket.capacity();
                if n > capacity {
                    return Err(Decision::Never {
                        dim,
                        cost: n,
                        capacity,
                    });
                }
            }
        }
        Ok(fitted)
    }

    /// The wait for `cost` that the server itself states, if any: the longest time, over the
    /// buckets learned from headers, until the bucket holds `cost` by the server's own
    /// arithmetic ([`Bucket::stated_wait`]: its level refilled at its full rate, no estimate
    /// of other clients' drain, no headroom, and nothing before the reset of a window that
    /// holds its refill). This is the only bucket wait that may exceed `maxRetryAfterMs` and
    /// reject a call (an IETF window of a day, say). The pacer's own estimates only ever delay
    /// a call; they never fail one: of the request, only what it surely costs counts (the
    /// input its caller vouched for, [`Cost::input_floor`]), and this client's token
    /// reservations in flight count as given back (their usage may settle lower; until it
    /// does, the call waits, and is judged again; a request in flight counts as one). A level
    /// is at least `-capacity`, so on a per-minute limit with no hold this is at most two
    /// minutes.
    ///
    /// The cost is [fitted](Limiter::fit) first. `None` when no learned bucket is short, or
    /// when the request can never fit ([`Decision::Never`] says so). Configured limits are
    /// the caller's own choice: always waited on, never stated by the server.
    pub fn stated_wait(&self, now_ms: Ms, cost: Cost) -> Option<Ms> {
        let now = self.clock(now_ms);
        let cost = self.fit(cost).ok()?;
        let sure = Cost {
            input: cost.input_floor,
            output: if self.output_as_generated() {
                0.0
            } else {
                cost.output - cost.output_estimated
            },
            ..cost
        };
        let mut wait: Option<Ms> = None;
        for dim in Dim::ALL {
            let Some(slot) = self.slot(dim) else { continue };
            if slot.configured.is_some() {
                continue;
            }
            let b = &slot.bucket;
            // A request sent is one request however it settles; its tokens may settle lower.
            let own = match dim {
                Dim::Requests => 0.0,
                _ => slot.share.inflight(),
            };
            let w = b.stated_wait(now, sure.amount(dim), own);
            if w > 0.0 {
                wait = Some(wait.map_or(w, |x: Ms| x.max(w)));
            }
        }
        wait
    }

    /// Requests reach the server up to `latency_ms` after they are admitted. A server bucket
    /// within that much refill of full wastes the refill meanwhile (it holds no more than its
    /// capacity) while our copy, lowered at admission, would keep it; so each admission near a
    /// full bucket also spends that refill. 0 (the default) is the exact mirror of a server
    /// that receives the request at once (the simulator's); the engine sets a real network's.
    pub fn set_latency(&mut self, latency_ms: Ms) {
        self.latency_ms = if latency_ms.is_finite() {
            latency_ms.max(0.0)
        } else {
            0.0
        };
    }

    /// Admit and reserve, or say how long to wait, or never. The decision is exactly
    /// [`Limiter::check`]'s; on [`Decision::Admit`] the [fitted](Limiter::fit) cost is taken
    /// from every known bucket and the ticket holds that token reservation (input and output)
    /// until
    /// [`Limiter::settle`] or [`Limiter::refund`].
    pub fn acquire(&mut self, now_ms: Ms, cost: Cost) -> Decision {
        let now = self.tick(now_ms);
        for slot in self.slots.iter_mut().flatten() {
            slot.grow(now);
        }
        let decision = self.check(now, cost);
        if let Decision::Admit(ticket) = &decision {
            let cost = Cost::exact(ticket.input, ticket.output);
            self.admissions += 1;
            if let Some(p) = self.probe.as_mut() {
                p.admitted(now, ticket.serial);
            }
            let dt = now - self.unmetered_at_ms;
            for dim in Dim::ALL {
                let u = &mut self.unmetered[dim as usize];
                *u = if self.slots[dim as usize].is_none() {
                    decay(*u, dt, MINUTE_MS) + cost.amount(dim)
                } else {
                    0.0
                };
            }
            self.unmetered_at_ms = self.unmetered_at_ms.max(now);
            for dim in Dim::ALL {
                if let Some(slot) = self.slots[dim as usize].as_mut() {
                    // The request reaches the server a little later. A server bucket within
                    // that much refill of full wastes it (it cannot hold more than its
                    // capacity) while our copy, lowered now, keeps it: count it as spent, or
                    // every admission near a full bucket leaves the copy a little above the
                    // server (seen in the demo: +11 to +65 tokens through an opening burst,
                    // too little for rounded headers to reveal, enough for 429s at the edge).
                    let b = &mut slot.bucket;
                    let headroom = ticket.headroom[dim as usize];
                    let waste = wasted(b, headroom, self.latency_ms);
                    b.take(now, cost.amount(dim) + waste);
                    if waste > 0.0 {
                        slot.wasted_until = slot.wasted_until.max(now + self.latency_ms);
                    }
                    let w = b.window_ms();
                    slot.share.took(now, cost.amount(dim), w);
                    slot.taken += cost.amount(dim);
                    slot.reserved(now, cost.amount(dim), ticket.serial);
                }
            }
        }
        decision
    }
}
