//! The server's figures: unknown limits learned, the copy placed at the level they show
//! (within their rounding and their age), and the share of unseen others adjusted.

use super::{non_negative, Dim, Limiter, Slot, Ticket, BACK_VOTES, MINUTE_MS};
use crate::core::bucket::Bucket;
use crate::core::headers::{DimInfo, Family, RateLimitInfo};
use crate::core::share::{decay, Share};
use crate::core::{clamp, Ms};

/// How far a rounded `remaining` may be from the true value, either way. Anthropic documents
/// "rounded to the nearest thousand" (±500), but the client cannot tell which convention a
/// server uses: rounded down, the truth is up to 1,000 higher; rounded up, up to 1,000 lower.
/// The interval covers all three; the reset time, sent alongside, narrows it.
pub(crate) const ROUNDING_SLACK: f64 = 1_000.0;

/// How precisely a reset time places the level: RFC 3339 resets carry whole seconds.
const RESET_PRECISION_MS: Ms = 2_000.0;

/// A reset stated in whole seconds (OpenAI's `1s` or `6m0s`, IETF's `t`, `x-ratelimit-reset`
/// in seconds) may have been rounded down, to the nearest or up: the server's own reset is up
/// to this much either side of it.
const WHOLE_SECOND_MS: Ms = 1_000.0;

/// Is a reset `reset_at` ms stated at `now` (epoch ms) a whole number of seconds ahead, or
/// now (to within a millisecond: the clock's own fraction of a ms aside)?
fn whole_seconds(reset_at: Ms, now: Ms) -> bool {
    let s = (reset_at - now) / WHOLE_SECOND_MS;
    (s - s.round()).abs() * WHOLE_SECOND_MS < 1.0
}

/// The level a bucket of `limit` per `window_ms` that refills continuously stands at `now`
/// if it is full again at `reset_at`: below zero when the reset is further than the window
/// refills a spent bucket in.
pub(crate) fn level_before_reset(limit: f64, window_ms: Ms, reset_at: Ms, now: Ms) -> f64 {
    limit - non_negative(reset_at - now) * (limit / window_ms)
}

/// How old a stream head's figures may be, ms, as [`Limiter::observe_stream_head`] allows
/// for: a long time to first byte. Older, the refill since is taken as others' use.
pub const FIGURE_AGE_MS: Ms = 5_000.0;

/// The figures of a response for each dimension, in [`Dim::ALL`] order, as the limiter reads
/// them ([`Limiter::observe`]): `tokens` only where it is a bucket of its own
/// ([`RateLimitInfo::combined_tokens`]).
pub fn figures(info: &RateLimitInfo) -> [(Dim, Option<&DimInfo>); 4] {
    [
        (Dim::Requests, Some(&info.requests)),
        (Dim::InputTokens, Some(&info.input_tokens)),
        (Dim::OutputTokens, Some(&info.output_tokens)),
        (Dim::Tokens, info.combined_tokens()),
    ]
}

/// The bucket no looser than either `(c1 per w1)` or `(c2 per w2)`: the smaller burst and the
/// smaller refill rate. A sequence of admissions that fits it fits both.
fn stricter(c1: f64, w1: Ms, c2: f64, w2: Ms) -> (f64, Ms) {
    if w1 == w2 {
        return (c1.min(c2), w1);
    }
    let capacity = c1.min(c2);
    let rate = (c1 / w1).min(c2 / w2);
    (capacity, capacity / rate)
}

impl Limiter {
    /// Align with what the server's headers say. Returns `true` when the limits changed: a
    /// dimension was learned, or a capacity (or window) changed. Levels are not "limits": a
    /// lowered level alone returns `false`.
    ///
    /// Which header feeds which dimension: `requests` → `Requests`, `input_tokens` →
    /// `InputTokens`, `output_tokens` → `OutputTokens`, and `tokens` → `Tokens` **only** when
    /// this response carries neither `input_tokens` nor `output_tokens`. (Anthropic's
    /// `tokens-*` is the most restrictive of its limits in effect, not a combined bucket: the
    /// specific headers govern ITPM/OTPM, and `tokens-*` stands for a combined limit only
    /// where nothing more specific is sent, as with OpenAI's `x-ratelimit-*-tokens`.)
    /// Priority Tier dimensions (`anthropic-priority-*`) are ignored: they meter a separate
    /// committed capacity that only requests sent with `service_tier` use, and the limiter
    /// cannot tell which pool a request draws from.
    ///
    /// Per dimension:
    /// * **Limit.** Unknown: learned (capacity = `limit`, window = `window_ms` or 60 s). Known
    ///   from headers: follows the server's latest limit. Configured: the capacity is the
    ///   smaller of the configured and the server's limit (when the windows differ, both the
    ///   burst and the refill rate are the smaller ones); a server limit above the configured
    ///   one never raises it (the user may share the organisation's limit on purpose).
    /// * **Level.** The server's figures give an interval around its true level: `remaining`
    ///   ±1 (a whole count of a level that refills continuously), or ±1,000 when rounded (Anthropic documents "to the nearest thousand", but
    ///   the interval holds for rounding down or up as well); `reset` (full again at
    ///   `reset_at`) gives `limit - (reset_at - now) * rate` to within two seconds of refill
    ///   (whole-second reset and `Date`); with both, their intersection (or `remaining` alone
    ///   when they disagree). A local level *inside* the interval is left alone: a client
    ///   alone keeps its exact copy rather than being dragged about by rounding. A local level
    ///   *above* it comes down to the server's `remaining` (at most the interval's top), or to the
    ///   interval's low end when only a reset places it: never trust a higher local number
    ///   over a lower server one. A level *below* it is raised, but only to its low end (and
    ///   never above `remaining`) less this client's own reservations in flight, which the
    ///   server may not have counted yet; never when a configured limit is below the server's
    ///   (a budget of the caller's own within the organisation's bucket).
    /// * **Others.** A copy above the interval means unseen clients of the same organisation
    ///   took more than was left to them (beyond what the copy's own placement at a rounded
    ///   figure explains, or this client's give-backs of the last half second, on a copy
    ///   within the figures without them: an answer overtaken on the way back by a later
    ///   one, its figures older than those settlements): this client's share of the refill
    ///   is halved
    ///   (additive increase, multiplicative decrease: see [`crate::core::share`]), so the copy
    ///   refills at the rate left to it, and a request needs headroom for the others' lumps.
    ///   A configured bucket is blind until the first response (a quarter of it may be spent
    ///   beyond the refill, when the engine asks: [`Limiter::start_blind`]);
    ///   a bucket learned from headers starts at a quarter share.
    /// * `remaining`/`reset` for a dimension whose limit is neither known nor sent are ignored:
    ///   there is no bucket to hold them.
    ///
    /// `retry_after_ms` is not the limiter's business: the caller turns it into
    /// [`Limiter::pause_until`].
    pub fn observe(&mut self, now_ms: Ms, info: &RateLimitInfo) -> bool {
        self.observe_dims(now_ms, info, None, None, false).0
    }

    /// [`Limiter::observe`] for the figures of a 429 refusing `ticket`'s request (refunded
    /// already). The server had less than the request's amount in some bucket, and the copy
    /// here let it go: each bucket whose figures allow a level below the amount (the low end
    /// of their interval is) comes down to that low end, less the reservations in flight the
    /// server may not count yet. A copy left inside the interval (rounded figures, a level
    /// learned from a figure rounded up) would let the same request be refused again and
    /// again. The server wrote those figures when the request reached it, a round trip ago:
    /// as for a stream's head ([`Limiter::observe_stream_head`]), what came back since is no
    /// sign of other clients. `hint_ms`: the wait the refusal states, its `retry-after` or else
    /// its body's ([`retry_hint`](crate::core::hints::retry_hint)): a hold its figures set
    /// ends there at the latest.
    pub fn observe_refusal(
        &mut self,
        now_ms: Ms,
        info: &RateLimitInfo,
        ticket: &Ticket,
        hint_ms: Option<Ms>,
    ) -> bool {
        self.observe_dims(now_ms, info, None, Some((ticket, hint_ms)), false)
            .0
    }

    /// [`Limiter::observe`] for the figures of the final answer to `ticket`'s request, sent
    /// when the server has its usage (a non-streaming 2xx). Those figures count the request:
    /// a copy raised to them keeps only the *other* reservations in flight off. Marks in the
    /// ticket the buckets whose level they placed, which its settlement then leaves there
    /// ([`Limiter::settle`]). A stream's head comes before its output: the engine clears the
    /// marks ([`crate::core::call::Engine::on_stream`]).
    pub fn observe_answer(
        &mut self,
        now_ms: Ms,
        info: &RateLimitInfo,
        ticket: &mut Ticket,
    ) -> bool {
        self.answer_figures(now_ms, info, ticket, false)
    }

    /// Whether this server writes the figures of an answer that is no stream when it admits
    /// the request (a gateway's rate limiter does; a stream's head is read so always), by
    /// votes of the requests' figures: with at least four requests admitted after it (less
    /// the refill since), the copy now counts them all; figures written at its admission do
    /// not, and stand above the copy by about as many. Figures within half of that of the
    /// copy vote for settlement (other processes' requests only lower them). The votes are
    /// kept within ±3, and more for admission than for settlement say "at admission"; none is
    /// cast otherwise.
    ///
    /// Read as written at settlement, such figures raised the copy by the requests sent
    /// since (9 to 13% 429s with OpenAI-style headers and exact limits), and stood below a
    /// copy that had given back unused output since, read as other clients' use: a lone
    /// pacer took 2 to 4 times the ideal on a reviewer's mock. The simulator's servers
    /// write theirs at settlement: its tables did not move.
    pub fn figures_at_admission(
        &mut self,
        now_ms: Ms,
        info: &RateLimitInfo,
        ticket: &Ticket,
    ) -> bool {
        let now = self.clock(now_ms);
        if let (Some(s), Some(r)) = (self.slot(Dim::Requests), info.requests.remaining) {
            if s.covers(ticket.serial) {
                let after = self.admissions.saturating_sub(ticket.serial + 1) as f64;
                let refill = non_negative(now - ticket.at_ms) * s.bucket.rate_per_ms();
                let gap = after - refill;
                if s.windowed {
                    // A server that counts by windows holds the copy to its resets: the two
                    // do not refill alike, and their gap says nothing of when it writes.
                    self.at_admission = self.at_admission.min(0);
                } else if gap >= 4.0 {
                    // (The copy may stand below the server by the refill its admissions
                    // counted as wasted in transit: [`RESERVED_MS`](crate::core::transit::RESERVED_MS) at most.)
                    let transit = crate::core::transit::RESERVED_MS * s.bucket.rate_per_ms();
                    let d = r - s.bucket.level(now) - transit;
                    self.at_admission = if d > gap / 2.0 {
                        (self.at_admission + 1).min(3)
                    } else {
                        (self.at_admission - 1).max(-3)
                    };
                }
            }
        }
        self.at_admission > 0
    }

    /// [`Limiter::observe_answer`] for the head of a stream, whose figures the server may have
    /// written when it admitted the request, its time to first byte ago (Anthropic's are):
    /// the refill since (up to [`FIGURE_AGE_MS`]) and what this client's settlements gave
    /// back since the request's admission ([`Ticket::given`]) are not in them. The server's
    /// level may be that much above them: a copy there is no sign of other clients' use. It
    /// comes down to them all the same (the cautious side: a copy kept above them did worse
    /// on a probe's mock). Nor need any request this client has in flight be in them, nor one
    /// that settled since the admission (it may have reached the server after this one, even
    /// if admitted before): a copy below them is raised no higher than them less this
    /// client's reservations in flight and what the requests settled since used
    /// ([`Ticket::spent`]). (Read as fresh, a lone pacer's copy stood above such figures by
    /// its own give-backs, halved its share of the refill each time and took 1.6 times the
    /// shortest makespan: the simulator's `--head admission`. Read as counting every request
    /// admitted before, with the give-backs since as news, it stood above the server when
    /// requests took up to 300 ms to reach it: `--transit-ms 0,300`.)
    pub fn observe_stream_head(
        &mut self,
        now_ms: Ms,
        info: &RateLimitInfo,
        ticket: &mut Ticket,
    ) -> bool {
        self.answer_figures(now_ms, info, ticket, true)
    }

    /// [`Limiter::observe_answer`], of figures written when the server admitted the request
    /// if `stale` ([`Limiter::observe_stream_head`]).
    fn answer_figures(
        &mut self,
        now_ms: Ms,
        info: &RateLimitInfo,
        ticket: &mut Ticket,
        stale: bool,
    ) -> bool {
        // A bucket these figures created counts the request as they do: marked placed, and
        // learned, so that a stream's settlement (placed cleared) gives back there too.
        // Give-backs left out since the level was last placed: a raise by that much is the
        // server's settlement of earlier requests, not of this one.
        let withheld = self.slots.map(|s| s.map_or(0.0, |s| s.withheld));
        let (changed, placed, learned, counted) =
            self.observe_dims(now_ms, info, Some(ticket), None, stale);
        ticket.placed = [0, 1, 2, 3].map(|d| placed[d].is_some() || learned[d]);
        ticket.raised = [0, 1, 2, 3].map(|d| match placed[d] {
            Some(p) if p > 0.0 => (p - withheld[d]).max(f64::MIN_POSITIVE),
            _ => 0.0,
        });
        // The first request of a limiter that knew no limit, alone in flight (nothing else
        // was ever admitted): the buckets its figures create had no copy to raise. What they
        // raised is measured from a full bucket less its reservation and refilled since, the
        // level of a server that still held it (one that had given back the unused part shows
        // about that much more). Below that by more than a rounding, the bucket was not full:
        // nothing is read into them. (With requests of its own in flight, their reservations,
        // or their usage, would be in the figures too.)
        if !stale && self.admissions == 1 {
            for (dim, d) in figures(info) {
                let (i, Some(d)) = (dim as usize, d) else {
                    continue;
                };
                if let (true, Some(l), Some(r)) = (learned[i], d.limit, d.remaining) {
                    // Refilled since the admission, up to full.
                    let w = d.window_ms.filter(|w| *w > 0.0).unwrap_or(MINUTE_MS);
                    let age = non_negative(now_ms - ticket.at_ms);
                    let raised = r - (l - ticket.amount(dim) + age * l / w).min(l);
                    if raised >= -ROUNDING_SLACK {
                        ticket.raised[i] = raised.max(f64::MIN_POSITIVE);
                    }
                }
            }
        }
        ticket.learned = learned;
        ticket.learned_at_ms = self.clock_ms;
        // A stream's head comes long before its settlement: nothing said of that order.
        ticket.counted = if stale { [false; 4] } else { counted };
        changed
    }

    /// Whether the limits changed, which buckets' levels the figures placed (by how much they
    /// moved them), and which they created (learned). `answer`: the ticket of the request
    /// these figures answer, which they count; `refusal`: the ticket of the request they
    /// refuse, with the wait the refusal states; `stale`: they were written at its admission
    /// ([`Limiter::observe_stream_head`]).
    fn observe_dims(
        &mut self,
        now_ms: Ms,
        info: &RateLimitInfo,
        answer: Option<&Ticket>,
        refusal: Option<(&Ticket, Option<Ms>)>,
        stale: bool,
    ) -> (bool, [Option<f64>; 4], [bool; 4], [bool; 4]) {
        let refused_ticket = refusal.map(|(t, _)| t);
        let now = self.tick(now_ms);
        // A response came: the opening probe (if any) is answered.
        self.probe = None;
        let mut changed = false;
        let mut placed = [None; 4];
        let mut learned = [false; 4];
        let mut counted = [false; 4];
        // Anthropic and Groq document continuously refilled buckets (token buckets); other
        // servers may count by windows.
        let may_window = !matches!(info.family, Family::Anthropic | Family::Groq);
        // A refusal's own hint: when the server says the refused request goes again.
        let hint_end = refusal
            .and_then(|(_, h)| h)
            .map(|h| now + h)
            .filter(|t| t.is_finite());
        for (dim, d) in figures(info) {
            let Some(d) = d else { continue };
            let covered = |t: &&Ticket| self.slot(dim).is_some_and(|s| s.covers(t.serial));
            let own = answer.filter(covered).map_or(0.0, |t| t.amount(dim));
            let known = self.slots[dim as usize].is_some();
            // A refusal's request counts against the bucket its figures create too: a first
            // 429 of a spent window (`remaining: 0`, a reset of `2m30s` on a limit per
            // minute) is held to its reset, not refilled at once to be refused again.
            let refused = refused_ticket
                .filter(|t| !known || covered(t))
                .map(|t| t.amount(dim));
            // Figures written at the request's admission: what came back since.
            // (A refusal's are written when the request arrives, as a stream head's.)
            let written_at_admission = if stale { answer } else { refused_ticket };
            // And what the requests settled since used: they may have reached the server after
            // it wrote them, or settled before (the server's figures then count them). Those
            // still in flight are left off as they are from any figures.
            // And, for an answer's, how far above them the server's level is now without
            // other clients: the refill and this client's give-backs since, less what it
            // reserved since (`ahead`).
            let (allow, drawn, ahead) = match (written_at_admission, self.slot(dim)) {
                (Some(t), Some(s)) => {
                    let age = clamp(now - t.at_ms, 0.0, FIGURE_AGE_MS);
                    let refill = age * s.bucket.rate_per_ms();
                    if s.covers(t.serial) {
                        let d = dim as usize;
                        let allow = refill + non_negative(s.given - t.given[d]);
                        let spent = non_negative(s.spent - t.spent[d]);
                        // (Only while no other client has been seen drawing: with others,
                        // the refill and the give-backs since may be theirs already.)
                        let ahead = if stale && !s.share.shared() {
                            let taken = non_negative(s.taken - t.taken[d] - t.amount(dim));
                            non_negative(allow - taken)
                        } else {
                            0.0
                        };
                        (allow, spent, ahead)
                    } else {
                        // A bucket learned after the admission has no totals of then: its
                        // give-backs, draws and reservations since are not known.
                        (refill, 0.0, 0.0)
                    }
                }
                _ => (0.0, 0.0, 0.0),
            };
            // An answer's figures, written when it was served: what settled since its
            // admission and came back just before it may have settled on the server after
            // they were written (answers overtaken on the way back).
            let late = match (answer, self.slot(dim)) {
                (Some(t), Some(s)) if !stale && s.covers(t.serial) => s
                    .late_given
                    .sum(now)
                    .min(non_negative(s.given - t.given[dim as usize])),
                _ => 0.0,
            };
            let served = answer.is_some();
            let (c, p, seen) = self.observe_dim(
                now, dim, d, own, drawn, refused, may_window, allow, ahead, late, served, hint_end,
            );
            changed |= c;
            placed[dim as usize] = p;
            // Figures that count this client's reservations made just before (the copy, which
            // counts them, within half of them of the figures' low end) were written after
            // the server admitted those requests, and so is its settlement.
            if let (Some(t), Some((level, lo)), Some(s)) = (answer, seen, self.slot(dim)) {
                let late = s.late_in_flight(now, t, dim, non_negative(s.share.inflight() - own));
                counted[dim as usize] = level + late / 2.0 >= lo;
            }
            learned[dim as usize] = !known && self.slots[dim as usize].is_some();
        }
        // A response came: the blind start of a bucket it said nothing about ends too (the
        // server does not report it, so there is nothing to share it by).
        for slot in self.slots.iter_mut().flatten() {
            if slot.share.blind_now() {
                slot.share.unreported(now);
                slot.apply_share(now, slot.share.share());
            }
        }
        (changed, placed, learned, counted)
    }

    /// One dimension's figures: whether its limit changed, and whether they placed its level
    /// (by how much they moved it).
    /// `own`: the reservation in flight of the request they answer (counted in them).
    /// `drawn`: what the requests settled since they were written used (figures written at a
    /// request's admission; 0 otherwise): they may not be in them.
    /// `refused`: the amount of a request they refused ([`Limiter::observe_refusal`]).
    /// `may_window`: the server may count by windows (it is neither Anthropic's nor Groq's).
    /// `allow`: how far above the figures the server's level may be now, figures written
    /// earlier ([`Limiter::observe_stream_head`], a refusal's), before a copy above them is
    /// taken for others' use. `late_given`: what this client's settlements gave back in the
    /// half second before an answer came, since its request's admission: figures that agree
    /// with the copy without it were written before those settlements (the answer overtaken
    /// on the way back), and a copy above them by it is no sign of others either.
    /// `answered`: they answer a request the server served. `hint_end`: when a refusal's own
    /// `retry-after` says its request goes again: a hold these figures set ends there at the
    /// latest.
    #[allow(clippy::too_many_arguments)]
    fn observe_dim(
        &mut self,
        now: Ms,
        dim: Dim,
        info: &DimInfo,
        own: f64,
        drawn: f64,
        refused: Option<f64>,
        may_window: bool,
        allow: f64,
        ahead: f64,
        late_given: f64,
        answered: bool,
        hint_end: Option<Ms>,
    ) -> (bool, Option<f64>, Option<(f64, f64)>) {
        let limit = info.limit.filter(|l| l.is_finite() && *l > 0.0);
        let window = info
            .window_ms
            .filter(|w| w.is_finite() && *w > 0.0)
            .unwrap_or(MINUTE_MS);
        let mut changed = false;
        // The level the copy would have at the capacity the server states, when that lowers
        // it (a configured limit above the server's): what this client spent, taken from it.
        let mut lowered: Option<f64> = None;
        // Requests left and a reset but no limit, in an answer (not a refusal) from a server
        // that may count by windows: the quota is at least what remained plus this request,
        // and comes back at the reset (below). Without it, every queued call went at once
        // at each reset, and all but the quota drew a 429.
        let inferred = match (dim, answered, info.remaining, info.reset_at_ms) {
            (Dim::Requests, true, Some(r), Some(t)) if may_window && r.is_finite() && t > now => {
                Some((
                    r.floor().max(0.0) + 1.0,
                    ((t - now) / 1_000.0).ceil() * 1_000.0,
                ))
            }
            _ => None,
        };
        // A bucket to learn: the stated limit, else an inferred one.
        let new = limit.map(|l| (l, window)).or(inferred);
        let learned = new.is_some() && self.slots[dim as usize].is_none();
        let admissions = self.admissions;
        let entry = &mut self.slots[dim as usize];
        let slot = match (entry.as_mut(), limit) {
            (None, _) => {
                let Some((capacity, window_ms)) = new else {
                    return (false, None, None);
                };
                changed = true;
                let slot = entry.insert(Slot::new(
                    Bucket::new(capacity, window_ms, now),
                    Share::learned(now, false),
                    None,
                    admissions,
                ));
                if limit.is_none() {
                    slot.inferred = true;
                    slot.windowed = true;
                }
                slot
            }
            (Some(slot), Some(l)) => {
                let (capacity, window_ms) = match slot.configured {
                    Some(c) => stricter(c, MINUTE_MS, l, window),
                    None => (l, window),
                };
                let b = &mut slot.bucket;
                if capacity != b.capacity() || window_ms != b.window_ms() {
                    if capacity < b.capacity() {
                        lowered = Some(capacity - (b.capacity() - b.level(now)));
                    }
                    b.set_capacity(now, capacity, window_ms);
                    changed = true;
                }
                slot
            }
            (Some(slot), None) => {
                if let Some((capacity, window_ms)) = inferred.filter(|_| slot.inferred) {
                    let b = &mut slot.bucket;
                    let window_ms = window_ms.max(b.window_ms());
                    if capacity > b.capacity() || window_ms > b.window_ms() {
                        b.set_capacity(now, capacity.max(b.capacity()), window_ms);
                        changed = true;
                    }
                }
                slot
            }
        };
        let remaining = info.remaining.filter(|r| r.is_finite()).map(non_negative);
        let reset_at = info.reset_at_ms.filter(|t| t.is_finite());
        // A server that may count by windows and states its reset in whole seconds: its own
        // reset may be up to a second later than stated (rounded down, or to the nearest).
        // (Anthropic's RFC 3339 resets are read with their own precision below.)
        let late = match reset_at {
            Some(t) if may_window && whole_seconds(t, now) => WHOLE_SECOND_MS,
            _ => 0.0,
        };
        // What the server says the level is: an interval [lo, hi] around the truth, from
        // `remaining` (a rounded token count is off by up to a thousand either way) and
        // from the reset time (full again at `t`: the level is the limit less what refills
        // until then, known to within the whole-second precision of the reset and of the
        // `Date` it was read against). Where both are given, their intersection.
        let from_remaining = remaining.map(|r| {
            // An unrounded count is still a whole number of a level that refills
            // continuously: floored, or rounded either way, it is within one of the truth.
            // A server that counts by windows refills nothing between its resets: its count
            // of what is left is the level, not a level floored.
            let slack = if info.rounded { ROUNDING_SLACK } else { 1.0 };
            let below = if slot.windowed && !info.rounded {
                0.0
            } else {
                slack
            };
            (non_negative(r - below), r + slack)
        });
        let from_reset = reset_at.map(|t| {
            // The server's own limit and rate when it sent them, else the bucket's.
            let (l, w) = match limit {
                Some(l) => (l, window),
                None => (slot.bucket.capacity(), slot.bucket.window_ms()),
            };
            // Below zero, the reset is further than the window refills a spent bucket in:
            // no level of a continuous refill, but figures at odds with one (below).
            let level = level_before_reset(l, w, t, now);
            let precision = RESET_PRECISION_MS * l / w;
            let lo = non_negative(level);
            (lo, (lo + precision).min(l), (level + precision).min(l))
        });
        // Figures that disagree with a continuous refill come from a server that counts by
        // windows (its quota back whole at the reset, nothing before), unless it is
        // Anthropic's or Groq's (whose buckets refill continuously: clocks apart, rather).
        // So are a refusal's figures of a spent bucket stated full again later than its window
        // refills it (OpenAI's `remaining: 0` with a reset of `2m30s` on a limit per minute,
        // and no hint): held to the reset, not refilled at once to be refused again. (An
        // answer's figures alone are not taken so: OpenAI documents resets no continuous
        // refill explains, `6m0s` to refill 16 tokens of 150,000.)
        let view = match (from_remaining, from_reset.map(|(lo, hi, _)| (lo, hi))) {
            (Some(r), _) if slot.windowed => Some(r),
            (Some((lo1, hi1)), Some((lo2, hi2))) => {
                let top = match from_reset {
                    Some((_, _, top)) if may_window && refused.is_some() => top,
                    _ => hi2,
                };
                let (lo, hi) = (lo1.max(lo2), hi1.min(top));
                // Disjoint (clocks apart, or a server that counts by windows): trust
                // `remaining`. Not by more than a reset a second late explains.
                let late_refill = late * slot.bucket.rate_per_ms();
                if lo > hi && may_window && lo1.max(lo2 - late_refill) > hi {
                    slot.windowed = true;
                }
                Some(if lo <= hi { (lo, hi) } else { (lo1, hi1) })
            }
            (Some(v), _) => Some(v),
            (None, v) => v,
        };
        if let Some((lo, hi)) = view {
            // Figures written earlier: the server's level now may be up to `allow` above them,
            // and a copy there is no sign of others (it still comes down to them).
            let level = slot.bucket.level(now);
            // Give-backs that came back just before, on a copy that stood within the figures
            // without them: the figures are older than those settlements, no sign of others.
            // (Allowed whatever the copy without them, eight processes that give back most of
            // their reservation drew 2.3% 429s instead of 1.8%, each one's others' draw taken
            // for its own give-backs.)
            let before = level - late_given;
            let allow = if late_given > 0.0 && before >= lo && before <= hi {
                allow + late_given
            } else {
                allow
            };
            let hi_others = (hi + allow).min(slot.bucket.capacity().max(hi));
            let window = slot.bucket.window_ms();
            // Raise a copy below the interval, but never past the server's level (nor its own
            // figure) less our own reservations in flight: the server may not count them yet
            // (OTPM metered in real time, or a request still on its way, which may be one sent
            // before the request these figures answer), and settling them later must not count
            // them twice. A copy above the interval comes down to the server's own figure,
            // `remaining` (no more than the interval's top; not to its low end: a rounded
            // figure is as likely above the truth as below it), or to the low end when only a
            // reset time places it.
            // A bucket learned just now has no level of ours: it takes the server's figure.
            let figure = remaining.map_or(lo, |r| r.min(hi));
            // A configured limit below the server's is the caller's own budget within the
            // organisation's: the server's level is not its level, and never raises it.
            let raisable = match slot.configured {
                None => true,
                Some(c) => limit.is_some_and(|l| l <= c),
            };
            // The figures answering a request count it: it is not in flight for them. Written
            // at its admission, they may leave out what settled since as well. (Not a refusal
            // from a server that counts by windows: its count of what is left is exact, and
            // each of those requests was counted when it arrived there, its own figures read
            // already; taken off again, a copy nine requests below a window of 10 a minute
            // waited a whole window for the next one.)
            let drawn = if refused.is_some() && slot.windowed {
                0.0
            } else {
                drawn
            };
            let uncounted = non_negative(slot.share.inflight() - own) + drawn;
            let floor = lo.min(figure) - uncounted;
            // Refused, and the server may have had less than the amount here: down to the
            // low end (see `observe_refusal`).
            let short = refused.is_some_and(|a| lo < a) && level > floor;
            let target = if short {
                floor
            } else if learned {
                figure
            } else if level > hi + ahead {
                figure + ahead
            } else if level < floor && raisable {
                floor
            } else {
                level
            };
            // A copy above what the server can have: others took more than was left to them.
            // A bucket just learned had no level of ours to disagree with.
            if learned {
                // Others drew from it if the server has less than it would after our own
                // recent requests alone (beyond what its figures leave open).
                let ours = decay(
                    self.unmetered[dim as usize],
                    now - self.unmetered_at_ms,
                    MINUTE_MS,
                );
                let others = slot.bucket.capacity() - ours > hi;
                slot.share = Share::learned(now, others);
            } else {
                // A copy above a server that counts by windows is no sign of others: the
                // refill was ahead of its reset (and the figures place the copy anyway). Nor
                // is one above a server whose lower limit this very answer brings: the copy
                // held the configured capacity, so it is judged by what this client spent.
                let own_transit = slot.transit_back(now);
                let predicted = lowered.unwrap_or(level);
                let over = predicted - own_transit - slot.above - hi_others;
                // Give-backs were read as unread since the level was last placed (an answer
                // that raised the copy by little, [`Limiter::settle`]). A copy now above the
                // figures by about those (more than half, no more), or refused where it had
                // room only by them:
                // the server's answers had counted them, this client's own error, not
                // others' draw; a vote that they count their give-back. A copy the figures
                // bear out after a larger such give-back: a vote that they do not. (Above
                // it by less than half of them is figures written before the give-backs,
                // at admission, which lack the refill since: no vote.)
                let credited = slot.credited > 0.0 && !slot.windowed;
                let lent = refused.is_some_and(|a| lo < a && level - slot.credited < a);
                let ours = credited
                    && (lent
                        || over > slot.credited / 2.0 - ROUNDING_SLACK
                            && over <= slot.credited + ROUNDING_SLACK);
                // Beside others' draw (where no give-back is read as unread on one answer's
                // word), figures that raise the copy by about the give-backs left out since
                // (read as counted): the answers that placed it were written before the
                // server's settlement, a vote that they do not count their give-back.
                let unread = !slot.windowed
                    && slot.withheld > 2.0 * ROUNDING_SLACK
                    && target - level >= slot.withheld / 2.0
                    && !slot.share.alone_lately(now, window);
                if ours {
                    slot.back_votes = (slot.back_votes + 1).min(BACK_VOTES);
                } else if unread
                    || slot.credited > 2.0 * ROUNDING_SLACK && over <= 0.0 && level >= lo
                {
                    slot.back_votes = (slot.back_votes - 1).max(-BACK_VOTES);
                }
                slot.share
                    .observed(now, window, !slot.windowed && over > 0.0 && !ours);
            }
            slot.apply_share(now, slot.share.share());
            if target != level || learned {
                slot.transit_back = 0.0;
                slot.placed_at = now;
            }
            // Placed, or shown within the figures' own interval: what was left out or given
            // back since is the server's as the copy has it.
            if target != level || learned || level >= lo {
                slot.withheld = 0.0;
                slot.credited = 0.0;
            }
            slot.above = if target == level {
                slot.above.min(non_negative(level - floor))
            } else {
                non_negative(target - lo)
            };
            slot.bucket.set_level(now, target);
            if slot.windowed && remaining.is_some() {
                // Nothing comes back before the reset the server states. Then the quota is
                // whole if that reset ends a window; else the refill held back until then
                // comes at once (no more than a continuous refill would have given). A
                // window's end is stated well ahead (a tenth of the window at least), then
                // by every figure until it comes, and never after. A sliding log states a
                // new reset a little later each time its oldest request expires, just
                // before it does. A request refused in the window after a reset taken as
                // whole shows the server gives back less there: no reset is taken as whole
                // again. Either way a request comes back at the reset, at least: the oldest
                // of a sliding log expires, a window ends (a process that first sees a day's
                // window 20 s before its end waited 864 s, a day's refill of one request).
                let end = reset_at.unwrap_or(Ms::NEG_INFINITY);
                if refused.is_some() && now >= slot.whole_at && now < slot.whole_at + window {
                    slot.resets_whole = false;
                }
                let same =
                    now < slot.window_end && (end - slot.window_end).abs() <= RESET_PRECISION_MS;
                if !same {
                    slot.window_end = end;
                    slot.window_seen_at = now;
                }
                let at_end =
                    slot.resets_whole && slot.window_end - slot.window_seen_at >= window / 10.0;
                // A reset in whole seconds comes a second late: given back before the
                // server's own reset, the quota would be spent into a window still spent.
                let end = end + late;
                // A refusal that states its own wait (`retry-after`, else in its body: Gemini's
                // `retryDelay`, OpenAI's "try again in") is the server's word on when its
                // request goes again, over this reading of its figures: the hold ends there at
                // the latest, no window's end, and gives the refused amount back (Groq-style
                // figures, `remaining: 0` full again in 7.66 s, held a `retry-after: 2` to
                // 7.7 s).
                let capped = hint_end.filter(|&h| h < end);
                if at_end && capped.is_none() {
                    slot.whole_at = end;
                }
                // (Not while requests of this client are in flight: whether the server counted
                // them is not known, and one back may be theirs. Nor for a token count, whose
                // least back is not known.)
                match (capped, at_end, dim) {
                    (Some(h), ..) => slot.bucket.hold_giving(now, h, refused.unwrap_or(0.0)),
                    (None, false, Dim::Requests) if slot.share.inflight() <= 0.0 => {
                        slot.bucket.hold_giving(now, end, 1.0)
                    }
                    _ => slot.bucket.hold(now, end, at_end),
                }
            }
            return (
                changed,
                (!learned && target != level).then_some(target - level),
                Some((level, lo)),
            );
        }
        (changed, None, None)
    }
}
