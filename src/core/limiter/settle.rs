//! The end of a request: its reservation replaced by what it used, refunded, or kept when
//! nothing says; and its transit, once known, recounted.

use super::admit::wasted;
use super::observe::ROUNDING_SLACK;
use super::{non_negative, Dim, Limiter, Ticket, Usage, BACK_VOTES};
#[cfg(doc)]
use crate::core::bucket::Bucket;
use crate::core::Ms;

impl Limiter {
    /// The request of `ticket` reached the server no later than `transit_ms` after its
    /// admission (the caller bounds it, e.g. by the attempt's round trip). A full server bucket
    /// wasted its refill for that long at most, not for the latency counted at admission:
    /// count the difference (give back when the transit was shorter, take when longer). Gives
    /// are clamped at capacity, as in [`Limiter::settle`]. A non-finite or negative transit
    /// changes nothing.
    pub fn arrived(&mut self, now_ms: Ms, ticket: Ticket, transit_ms: Ms) {
        let now = self.tick(now_ms);
        if !(transit_ms.is_finite() && transit_ms >= 0.0) {
            return;
        }
        for dim in Dim::ALL {
            let Some(slot) = self.slot(dim) else {
                continue;
            };
            if slot.placed_at >= ticket.at_ms {
                continue;
            }
            let h = ticket.headroom[dim as usize];
            let mut delta =
                wasted(&slot.bucket, h, transit_ms) - wasted(&slot.bucket, h, ticket.latency_ms);
            if delta > 0.0 {
                // The refill of a span of time is wasted once, however many requests were in
                // transit through it: of the longer transit, only the part past what is
                // counted already. (Counted for each request, a burst of 30 calls whose
                // answers took 10 s, no figures, drained a copy of 600 a minute to 0.)
                let rate = slot.bucket.rate_per_ms();
                let from =
                    (ticket.at_ms + (h / rate).max(ticket.latency_ms)).max(slot.wasted_until);
                delta = delta.min(non_negative(ticket.at_ms + transit_ms - from) * rate);
                let end = ticket.at_ms + transit_ms;
                if let Some(slot) = self.slots[dim as usize].as_mut() {
                    slot.wasted_until = slot.wasted_until.max(end);
                }
            }
            if delta != 0.0 && self.adjust(dim, now, &ticket, delta) && delta < 0.0 {
                if let Some(slot) = self.slots[dim as usize].as_mut() {
                    slot.transit_back = slot.transit_back(now) - delta;
                    slot.transit_back_at = now;
                }
            }
        }
    }

    /// The request of `ticket` ended with neither a settlement nor a refund (no answer came,
    /// an error the server may have counted, a usage not known, a call given up): its
    /// reservation stays in the buckets as the best estimate of what the server counted, and
    /// is no longer in flight. Every ticket ends once, by [`Limiter::settle`],
    /// [`Limiter::refund`] or this.
    pub fn lost(&mut self, now_ms: Ms, ticket: &Ticket) {
        self.tick(now_ms);
        self.release(ticket, Dim::ALL.map(|dim| ticket.amount(dim)));
    }

    /// The ticket's reservation is no longer in flight; its request used `used` (per
    /// dimension, in [`Dim::ALL`] order).
    fn release(&mut self, ticket: &Ticket, used: [f64; 4]) {
        for dim in Dim::ALL {
            if let Some(slot) = self.slots[dim as usize].as_mut() {
                if slot.covers(ticket.serial) {
                    slot.share.released(ticket.amount(dim));
                    let u = used[dim as usize];
                    if u.is_finite() {
                        slot.spent += u.max(0.0);
                    }
                }
            }
        }
    }

    /// This client's reservations in flight in `dim` (0 where no limit is known).
    pub fn in_flight(&self, dim: Dim) -> f64 {
        self.slot(dim).map_or(0.0, |s| s.share.inflight())
    }

    /// Take (`delta > 0`) or give back (`delta < 0`) tokens in `dim` for the request of
    /// `ticket`, if that request reserved in this bucket; whether anything changed. A give-back
    /// is void once the bucket has been full since the request's admission: what it held back
    /// was lost at the capacity since, on the server as in this copy
    /// ([`Bucket::full_since`]), and giving it now would lift the copy above the server.
    fn adjust(&mut self, dim: Dim, now: Ms, ticket: &Ticket, delta: f64) -> bool {
        let Some(slot) = self.slots[dim as usize].as_mut() else {
            return false;
        };
        let since = if slot.covers(ticket.serial) {
            ticket.at_ms
        } else if ticket.learned[dim as usize] {
            ticket.learned_at_ms
        } else {
            return false;
        };
        if !delta.is_finite() {
            return false;
        }
        if delta > 0.0 {
            slot.bucket.take(now, delta);
        } else if delta < 0.0 {
            if slot.bucket.full_since(since, now) {
                return false;
            }
            slot.bucket.give(now, -delta);
        }
        delta != 0.0
    }

    /// Replace the reservation by the real usage: in each token dimension, take
    /// `actual - reserved` (a negative difference gives tokens back). The actual amounts are
    /// the server's: `InputTokens` counts [`Usage::metered_input`] (input + cache creation;
    /// cache reads are free), `OutputTokens` counts `output_tokens`, `Tokens` their sum;
    /// `Requests` is unchanged (the request was counted at admission).
    ///
    /// After `acquire` + `settle`, each bucket has given up exactly the real usage (plus its
    /// refill meanwhile), as the server's has, with two deliberate asymmetries:
    /// * **Debt.** When the usage exceeds the reservation (the input estimate was low, or no
    ///   output was reserved), the level may go below zero. The server counted those tokens
    ///   too; the debt is paid back by the refill, and no request is admitted in that
    ///   dimension before it is, just as the server would refuse it.
    /// * **Clamped give.** Giving back never lifts a level above capacity, and a bucket that
    ///   has been full at any time since the request's admission gets nothing back: the unused
    ///   reservation was lost at the capacity then, on the server as here. Without the clamp, a
    ///   long request could bank a burst larger than the limit; without the second rule, a
    ///   give-back after the bucket refilled and was emptied again would leave the copy above
    ///   the server (the engine fuzz target found a 1 RPM bucket sending 2.5 s early that way,
    ///   through the transit's give-back, [`Limiter::arrived`]). Nor does it lift the level
    ///   above the capacity less the reservations let go in the last two
    ///   [`crate::core::transit::WITH_HEADERS_MS`] (refilled since), unless the request's own
    ///   answer counted them ([`Ticket::counted`]): those requests may reach the server after
    ///   it settled this one, the give-back meeting a bucket without them, which the capacity
    ///   clamps (one process at `max_tokens` 4,096 with 0-300 ms of transit drew 1.3% 429s
    ///   at the edge of its copy that way).
    ///
    /// Usage values are filtered by [`Usage::sanitized`]; if nothing valid remains, the
    /// reservation stands (unknown usage is taken as "what was reserved", as by
    /// [`Limiter::lost`]).
    ///
    /// A bucket learned from headers after the ticket was admitted is left alone: the request
    /// reserved nothing there, and the server's figures that created it already counted it.
    /// Unless its own answer's figures created it ([`Ticket::learned`]): they counted it as
    /// its reservation (a stream's head) or as used (marked placed), so it is settled there as
    /// in a bucket it reserved in, a give-back void once that bucket was full since.
    ///
    /// A bucket whose level the request's own response placed ([`Ticket::placed`]) gets
    /// nothing back: those figures may already count the give-back (a server that settles
    /// before it writes the head), and giving it again would leave the copy above the server.
    /// Unless they raised the copy of a client alone lately
    /// ([`crate::core::share::Share::alone_lately`])
    /// by less than half the give-back, less a rounded figure's slack, not counting what
    /// earlier settlements left out since the level was last placed (a server that writes its
    /// heads first shows those in the next figures): such figures were
    /// written before the server's settlement, with the request's reservation still held (a
    /// raise that counted the give-back is about the give-back), and the give-back stands, as
    /// after a stream's head. Otherwise, if they did not count it, the copy is low by the
    /// unused part until the next figures raise it: a cautious error, never a 429. A server
    /// seen twice to have counted such a give-back (its next figures below the copy by about
    /// that much, or a refusal the copy had room for only by it) is read the cautious way
    /// from then on; that error is this client's own, not a sign of others. Beside others'
    /// draw, one answer cannot tell; a server seen twice to raise the copy by about the
    /// give-backs left out since (its answers written before its settlement) has them read
    /// as unread from then on, even after figures that lowered the copy (before: a process
    /// beside others, or one whose stale figures looked like others, stayed a give-back
    /// below the server after every answer, and with nothing in flight waited for the
    /// refill: `--head admission-json` at `max_tokens` 4,096 took up to 2.4 times the bound
    /// alone). Nor is
    /// input beyond the estimate taken there again: a server counts a prompt's tokens when it
    /// admits it, so its figures count them all (a document priced low by the estimate, taken
    /// twice, held the next call half a minute).
    /// Output beyond the reservation (one lowered to fit, or `outputReservation`) is taken.
    ///
    /// Returns, per dimension in [`Dim::ALL`] order, the give-back read as written after the
    /// figures of this request's answer, which those figures therefore do not count: figures
    /// read so (`before` below: the server wrote its head first), or that left the copy
    /// where it stood with this request's reservation when the give-back is more than two
    /// roundings (figures that counted it would have raised the copy). A store that learns
    /// them after this settlement is told it (`call::fleet`). 0 elsewhere.
    pub fn settle(&mut self, now_ms: Ms, ticket: Ticket, usage: &Usage) -> [f64; 4] {
        self.settle_shared(now_ms, ticket, usage, false).0
    }

    /// [`Limiter::settle`] of a request a shared store admitted and gates (`gated`;
    /// [`crate::core::call`]'s fleet): the unused output goes back to the copy, and is
    /// returned as not counted, whatever the figures of its answer showed. Where others draw
    /// from the bucket, a copy cannot tell figures written before the server's settlement from
    /// figures written after it; read the cautious way (the give-back counted), a server that
    /// writes its head first leaves each process's copy, and the store lowered to the figures,
    /// below the server by every call's unused output: two to eight processes at `max_tokens`
    /// 4,096 against an OTPM of 8,000 took 1.75 to 1.80 times their bound in the simulator,
    /// against 1.10 for one. Read this way, a server that settles first leaves the copy above
    /// it by that much until the next figures place it; the store, which gates, only ever
    /// lowers its level to those figures (raised by the give-back) and settles each call
    /// once, so it stays where the server is. The input is never read so: the server
    /// counts a prompt when it admits it, and its figures count it all.
    ///
    /// Also returns, with `gated`, the part of the unused output this client's requests let
    /// go since may take on the server before the give-back comes there, a full bucket
    /// clamping the give-back ([`Limiter::settle`]'s room for them, unless the answer's own
    /// figures counted them). The store's settlement gives back no more: it admitted those
    /// requests too before they reached the server, and, told the whole give-back, stood
    /// above a server that had clamped it (one process with up to 300 ms of transit at
    /// `max_tokens` 4,096: 0.7% 429s, 0.2% with this). (Not the copy's other clamp, a bucket
    /// full since the admission: a copy that counts on the whole refill while the store
    /// gates is often full where the server is not, and eight processes took 1.06 to 1.15
    /// times the bound at `max_tokens` 1,024 with it.)
    pub fn settle_shared(
        &mut self,
        now_ms: Ms,
        ticket: Ticket,
        usage: &Usage,
        gated: bool,
    ) -> ([f64; 4], f64) {
        let now = self.tick(now_ms);
        let mut uncounted = [0.0; 4];
        let mut kept = 0.0;
        let Some(usage) = usage.sanitized() else {
            // Nothing known: the reservation stands, no longer in flight.
            self.lost(now, &ticket);
            return (uncounted, kept);
        };
        let input = usage.metered_input();
        let output = usage.output_tokens;
        let more_output = (output - ticket.output).max(0.0);
        let changes = [
            (Dim::InputTokens, input - ticket.input, 0.0),
            (Dim::OutputTokens, output - ticket.output, more_output),
            (
                Dim::Tokens,
                (input + output) - (ticket.input + ticket.output),
                more_output,
            ),
        ];
        // What the request used in each bucket: its reservation, changed by the settlement.
        let mut used = Dim::ALL.map(|dim| ticket.amount(dim));
        for (dim, delta, _) in changes {
            used[dim as usize] += delta;
        }
        self.release(&ticket, used);
        let output_back = (ticket.output - output).max(0.0);
        for (dim, delta, placed_delta) in changes {
            // What this client used, for the headroom it leaves others: the usage, not the
            // reservation.
            if let Some(slot) = self.slots[dim as usize].as_mut() {
                if slot.covers(ticket.serial) && delta.is_finite() {
                    let w = slot.bucket.window_ms();
                    slot.share.used(now, delta, w);
                }
            }
            // Figures that raised the copy of a client alone by less than half the give-back
            // (beyond a rounded figure's slack) did not count it: they were written before
            // the server's settlement (a server that writes the head first), the copy stood
            // near them with this request's reservation, and the give-back is the server's
            // news as for a stream. (Where others drew from the bucket lately, a copy near such
            // figures may be one above the server by their use: the cautious reading stands.
            // Alone: no other seen, or no cut of the share for two windows.)
            let d = dim as usize;
            // What the store gives back of the unused output: no more than this copy does
            // (see `settle_shared`).
            let shared = gated
                && dim == Dim::OutputTokens
                && output_back > 0.0
                && self.slots[d]
                    .as_ref()
                    .is_some_and(|s| s.covers(ticket.serial));
            // Gated by a store: the unused output, as not counted (see `settle_shared`).
            let unread = gated && dim != Dim::InputTokens && ticket.placed[d] && output_back > 0.0;
            let delta = if unread { -output_back } else { delta };
            let raised = ticket.raised[d];
            let before = unread
                || raised + ROUNDING_SLACK < -delta / 2.0
                    && self.slots[d].as_ref().is_some_and(|s| {
                        s.back_votes <= -BACK_VOTES
                            || raised > 0.0
                                && s.back_votes < BACK_VOTES
                                && s.share.alone_lately(now, s.bucket.window_ms())
                    });
            if !ticket.placed[d] || before {
                let level = |l: &Self| l.slots[d].as_ref().map_or(0.0, |s| s.bucket.level(now));
                let was = level(self);
                // A give-back comes to the server when it settled the request, maybe before it
                // admitted requests this client let go since: no higher than their room.
                let delta = match self.slots[d].as_ref() {
                    Some(s) if delta < 0.0 && !ticket.counted[d] => {
                        -(-delta).min(s.give_room(now, &ticket, dim))
                    }
                    _ => delta,
                };
                if shared {
                    kept = non_negative(output_back + delta);
                }
                if self.adjust(dim, now, &ticket, delta) && delta < 0.0 {
                    // A settlement's give-back: not in the figures of a stream head written
                    // before it ([`Ticket::given`]). (A transit's or a refusal's is in them:
                    // the server never took it.)
                    let up = level(self) - was;
                    if let Some(slot) = self.slots[dim as usize].as_mut() {
                        slot.gave(now, -delta);
                        if before {
                            // What it lifted the copy by (a full bucket takes no more).
                            slot.credited += up;
                        }
                        // Figures that counted it would have raised a copy that held this
                        // reservation by about as much: beyond two roundings, placed.
                        if before || -delta > 2.0 * ROUNDING_SLACK {
                            uncounted[d] = -delta;
                        }
                    }
                }
            } else {
                if placed_delta > 0.0 {
                    self.adjust(dim, now, &ticket, placed_delta);
                }
                if let Some(slot) = self.slots[d].as_mut() {
                    if dim == Dim::OutputTokens && delta < 0.0 && slot.covers(ticket.serial) {
                        slot.withheld -= delta;
                        // Back on the server all the same: figures written before then
                        // (a refusal's, a stream head's) do not have it.
                        slot.gave(now, -delta);
                    }
                }
            }
        }
        (uncounted, kept)
    }

    /// The request was not processed (the server refused it): give back its tokens. The
    /// request itself stays counted when `keep_request` (the server may count refused ones).
    /// Gives are clamped at capacity, as in [`Limiter::settle`].
    pub fn refund(&mut self, now_ms: Ms, ticket: Ticket, keep_request: bool) {
        let now = self.tick(now_ms);
        let mut used = [0.0; 4];
        if keep_request {
            used[Dim::Requests as usize] = ticket.amount(Dim::Requests);
        }
        self.release(&ticket, used);
        self.adjust(Dim::InputTokens, now, &ticket, -ticket.input);
        self.adjust(Dim::OutputTokens, now, &ticket, -ticket.output);
        self.adjust(Dim::Tokens, now, &ticket, -(ticket.input + ticket.output));
        if !keep_request {
            self.adjust(Dim::Requests, now, &ticket, -1.0);
        }
    }
}
