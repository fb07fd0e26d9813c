//! RPM / ITPM / OTPM / TPM admission: reservation before a request, reconciliation after.
//!
//! One [`Bucket`] per configured or learned dimension, each the server's own arithmetic (a
//! continuously refilled token bucket). What one request costs in each:
//!
//! | dimension      | reserved at admission        | counted at settlement                  |
//! |----------------|------------------------------|----------------------------------------|
//! | `Requests`     | 1                            | 1 (unchanged)                          |
//! | `InputTokens`  | `cost.input` (the estimate)¹ | `input_tokens + cache_creation_…`      |
//! | `OutputTokens` | `cost.output` (`max_tokens`) | `output_tokens`                        |
//! | `Tokens`       | `cost.input + cost.output`   | metered input + output                 |
//!
//! Cache reads (`cache_read_input_tokens`) are free: they never count against ITPM or TPM.
//!
//! ¹ At most what the buckets hold ([`Limiter::fit`]): an input estimate above a capacity is
//! not a reason to refuse the request (the server may count fewer tokens); it waits for a
//! full bucket instead. Only [`Cost::input_floor`], what the request surely costs, can make
//! it [`Decision::Never`].
//!
//! * [`Limiter::acquire`] answers admit (with a [`Ticket`] holding the reservation), wait until
//!   a time, or never (what the request surely costs exceeds a bucket's capacity: no wait
//!   can help);
//!   [`Limiter::check`] gives the same answer without reserving.
//! * [`Limiter::settle`] replaces the reservation by the real usage, so the buckets hold
//!   exactly what the server counted; [`Limiter::refund`] gives a refused request's tokens back.
//! * [`Limiter::observe`] aligns with the server's headers: it learns unknown limits, follows
//!   the server's limit (never above a configured one), never keeps a higher local level than
//!   the server reports, and shares each bucket with unseen processes of the organisation
//!   ([`crate::core::share`]). Figures no continuously refilled bucket could show (from a
//!   server other than Anthropic's or Groq's, both documented as token buckets) mark the
//!   dimension as counted by windows: its copy then refills nothing before the reset they
//!   state ([`Bucket::hold`]), or a refusal's own stated wait (its `retry-after`, else its
//!   body's), if sooner.
//! * [`Limiter::pause_until`] holds every request after a 429.
//!
//! The state is a small plain value (numbers only) and every transition is a function of
//! (state, now, input), so it can be stored and moved (e.g. into a shared store). Time never
//! runs backwards inside: a `now_ms` earlier than the latest one seen is taken as the latest.
//!
//! ```
//! use llm_pacer::core::limiter::{Cost, Decision, Limiter, Limits, Usage};
//!
//! // 60 requests and 6 000 output tokens per minute.
//! let limits = Limits { rpm: Some(60.0), otpm: Some(6_000.0), ..Limits::default() };
//! let mut lim = Limiter::new(limits, 0.0);
//! let cost = Cost::exact(500.0, 6_000.0);
//! let Decision::Admit(ticket) = lim.acquire(0.0, cost) else { panic!() };
//! // The output reservation empties OTPM: the next one waits for the refill...
//! assert!(matches!(lim.check(0.0, cost), Decision::Wait { .. }));
//! // ...until the first one reports that it used only 1 000 output tokens.
//! lim.settle(0.0, ticket, &Usage { output_tokens: 1_000.0, ..Usage::default() });
//! let small = Cost::exact(500.0, 5_000.0);
//! assert!(matches!(lim.check(0.0, small), Decision::Admit(_)));
//! ```

mod admit;
mod observe;
mod output;
mod probe;
mod settle;
mod types;

pub use admit::EDGE_MARGIN_MS;
pub(crate) use observe::level_before_reset;
pub(crate) use observe::ROUNDING_SLACK;
pub use observe::{figures, FIGURE_AGE_MS};
pub use output::{OutputMetering, OUTPUT_FLOOR, OUTPUT_MARGIN, OUTPUT_MIN_SEEN, OUTPUT_WINDOW};
pub use probe::{PROBE_MAX_MS, PROBE_STEP_MS};
pub use types::{Blocker, Cost, Decision, Dim, DimState, Limits, Source, Ticket, Usage};

use super::bucket::Bucket;
use super::share::{decay, Share, MIN_SHARE};
use super::transit;
use super::Ms;
use output::Outputs;
use probe::Probe;

/// `x` if it is `>= 0`, else 0 (NaN included).
fn non_negative(x: f64) -> f64 {
    if x >= 0.0 {
        x
    } else {
        0.0
    }
}

/// The votes that settle whether a server's answers count their own give-back
/// ([`Slot::back_votes`]).
const BACK_VOTES: i8 = 2;

/// The window of a configured (per-minute) limit, ms.
const MINUTE_MS: Ms = 60_000.0;

/// What was added in the last `window` ms: the sum since the window last started empty,
/// forgotten once `window` has passed since the last addition.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Recent {
    sum: f64,
    /// When the last amount was added.
    at: Ms,
    window: Ms,
}

impl Recent {
    fn new(window: Ms) -> Self {
        Recent {
            sum: 0.0,
            at: Ms::NEG_INFINITY,
            window,
        }
    }
    /// The sum at `now`: 0 once the window has passed.
    fn sum(&self, now: Ms) -> f64 {
        if now - self.at < self.window {
            self.sum
        } else {
            0.0
        }
    }
    /// Add `amount` at `now`; whether the window started anew with it.
    fn add(&mut self, now: Ms, amount: f64) -> bool {
        let before = self.sum(now);
        self.sum = before + amount;
        self.at = now;
        before <= 0.0
    }
}

/// One known dimension.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Slot {
    /// The local copy of the server's bucket, refilled at this client's share of the rate.
    bucket: Bucket,
    /// This client's share of the bucket among unseen others, and its reservations in flight.
    share: Share,
    /// The configured per-minute limit, if one was given (then the source is `Configured`).
    configured: Option<f64>,
    /// The admission serial from which this bucket counts. A ticket admitted earlier reserved
    /// nothing here, so settling or refunding it must not touch this bucket. (A serial, not a
    /// time: a response can arrive, and teach a bucket, in the very millisecond its request
    /// was admitted.)
    since: u64,
    /// Transit given back ([`Limiter::arrived`]) since the server's figures last placed the
    /// level. The figures may already show those tokens (the request reached the server
    /// sooner than reserved): a copy above the server by this much is our own transit
    /// counted twice, not others' draw, and is corrected without cutting the share. Kept
    /// while the figures agree with the copy, forgotten over [`transit::MAX_MS`] (by then the
    /// figures show every transit), and when.
    transit_back: f64,
    transit_back_at: Ms,
    /// When the server's figures last placed the level (moved it, or created the bucket). A
    /// request admitted before then has its transit's waste counted in them, as the server
    /// had it: what [`Limiter::arrived`] would recount for it is void here.
    placed_at: Ms,
    /// How far above the truth the copy may be as the server's figures last left it: placed
    /// at a rounded figure, it is up to that figure's distance from the low end of its
    /// interval above the server. A later, tighter figure may show that much: it is this
    /// client's own rounding, not others' draw.
    above: f64,
    /// All this client's settlements gave back here ([`Limiter::settle`]), a running total
    /// ([`Ticket::given`]).
    given: f64,
    /// What the requests this client let go of used here, a running total: a settled one its
    /// usage, a refunded one nothing (but the request, where the server counted it), one
    /// lost its reservation ([`Ticket::spent`]).
    spent: f64,
    /// All this client reserved here at its admissions, a running total ([`Ticket::taken`]).
    taken: f64,
    /// The refill up to this time is counted as wasted in transit already
    /// ([`Limiter::arrived`]).
    wasted_until: Ms,
    /// The server counts this dimension by windows: it said it had less than a continuous
    /// refill would have given it by its reset, or more than one would leave it (see
    /// [`Limiter::observe`]). Its figures then hold the copy's refill until their reset.
    windowed: bool,
    /// The reset the last of those figures stated, and when it was first stated.
    window_end: Ms,
    window_seen_at: Ms,
    /// The end of the last hold that ended full (`-inf`: none yet).
    whole_at: Ms,
    /// The quota may be taken to come back whole at a window's end: no request was refused
    /// in the window after such an end (a sliding log, whose reset is when its oldest
    /// request expires, gives back one request there, not all).
    resets_whole: bool,
    /// Its capacity is inferred, not stated: a server that sends `remaining` and a reset but
    /// no limit (an IETF `RateLimit` without its policy). At least one more than the most it
    /// said remained after a request it served; raised when a figure shows more.
    inferred: bool,
    /// Give-backs this client's settlements left out since figures last placed the level,
    /// taken as counted by the answers that placed it ([`Limiter::settle`]). If the server
    /// wrote those answers before its settlement, the next figures raise the copy by this
    /// much: no sign that they counted their own give-back.
    withheld: f64,
    /// What give-backs lifted the copy by since figures last placed the level, though each
    /// one's own answer had placed it (read as written before the server's settlement).
    credited: f64,
    /// Whether this server's answers count their own give-back, as the figures after such
    /// give-backs voted: each that came below the copy by about what they lifted it, or
    /// refused a request the copy had room for only by them, counts one for; each that bore
    /// out a copy lifted by more than twice a rounding, or (beside others' draw) raised the
    /// copy by about the give-backs left out since it was last placed, one against (within
    /// `-BACK_VOTES..=BACK_VOTES`). At [`BACK_VOTES`], no give-back is read as unread again;
    /// at `-BACK_VOTES`, each is, though others draw.
    back_votes: i8,
    /// Give-backs of this client's settlements in the last [`transit::WITH_HEADERS_MS`]: an
    /// answer arriving that soon after may have been written before them on the server
    /// (overtaken on the way back by theirs: one process at `max_tokens` 4,096 with 0-300 ms
    /// of transit took the drop for others' draw, halved its share and ran one request at a
    /// time for the rest of the run).
    late_given: Recent,
    /// Reservations this client made in the last two [`transit::WITH_HEADERS_MS`]. Those
    /// requests may reach the server after it settled a request whose answer comes only
    /// now: a give-back then lifts its level no higher than the capacity less them, the rest
    /// lost at the capacity there.
    late_reserved: Recent,
    /// The admission serial of the first of them.
    late_reserved_from: u64,
}

impl Slot {
    /// A slot for `bucket` (as of its own time), counting from admission serial `since`:
    /// nothing given back in transit yet, nor any window seen.
    fn new(bucket: Bucket, share: Share, configured: Option<f64>, since: u64) -> Self {
        Slot {
            transit_back_at: bucket.raw().1,
            bucket,
            share,
            configured,
            since,
            transit_back: 0.0,
            placed_at: Ms::NEG_INFINITY,
            above: 0.0,
            given: 0.0,
            spent: 0.0,
            taken: 0.0,
            wasted_until: Ms::NEG_INFINITY,
            windowed: false,
            window_end: Ms::NEG_INFINITY,
            window_seen_at: Ms::NEG_INFINITY,
            whole_at: Ms::NEG_INFINITY,
            resets_whole: true,
            inferred: false,
            withheld: 0.0,
            credited: 0.0,
            back_votes: 0,
            late_given: Recent::new(transit::WITH_HEADERS_MS),
            late_reserved: Recent::new(2.0 * transit::WITH_HEADERS_MS),
            late_reserved_from: 0,
        }
    }
    /// This client reserved `amount` at `now` for admission `serial` ([`Slot::late_reserved`]).
    fn reserved(&mut self, now: Ms, amount: f64, serial: u64) {
        if self.late_reserved.add(now, amount) {
            self.late_reserved_from = serial;
        }
    }
    /// Of this client's reservations in flight besides `ticket`'s (`others`), those made in
    /// the last two [`transit::WITH_HEADERS_MS`]: requests that may reach the server after it
    /// settled `ticket`'s.
    fn late_in_flight(&self, now: Ms, ticket: &Ticket, dim: Dim, others: f64) -> f64 {
        let own = if ticket.serial >= self.late_reserved_from {
            ticket.amount(dim)
        } else {
            0.0
        };
        non_negative(self.late_reserved.sum(now) - own).min(others)
    }
    /// How far the settlement of `ticket`'s request (no longer in flight) may lift the copy
    /// now: to the capacity less the reservations the server may have admitted after it
    /// settled that request ([`Slot::late_in_flight`]), refilled since.
    fn give_room(&self, now: Ms, ticket: &Ticket, dim: Dim) -> f64 {
        let b = &self.bucket;
        let late = self.late_in_flight(now, ticket, dim, self.share.inflight());
        if late <= 0.0 {
            return f64::INFINITY;
        }
        let refilled = non_negative(now - self.late_reserved.at) * b.rate_per_ms();
        non_negative(b.capacity() - late + refilled - b.level(now))
    }
    /// A settlement gave `amount` back at `now` ([`Slot::given`], [`Slot::late_given`]).
    fn gave(&mut self, now: Ms, amount: f64) {
        self.given += amount;
        self.late_given.add(now, amount);
    }
    /// [`Slot::transit_back`] now.
    fn transit_back(&self, now: Ms) -> f64 {
        decay(
            self.transit_back,
            now - self.transit_back_at,
            transit::MAX_MS,
        )
    }
    fn source(&self) -> Source {
        if self.configured.is_some() {
            Source::Configured
        } else {
            Source::Headers
        }
    }
    /// What the level must be to admit a request costing `n`: see [`Share::need`].
    fn need(&self, now: Ms, n: f64) -> f64 {
        let b = &self.bucket;
        self.share
            .need(now, n, b.capacity(), b.rate_per_ms(), b.window_ms())
    }
    /// Grow the share up to `now` and refill the copy at that share of the rate from now on.
    fn grow(&mut self, now: Ms) {
        let s = self.share.grow(now, self.bucket.window_ms());
        self.apply_share(now, s);
    }
    fn apply_share(&mut self, now: Ms, share: f64) {
        let others = (1.0 - share) * self.bucket.rate_per_ms();
        self.bucket.set_drain(now, others, 1.0 - MIN_SHARE);
    }
    /// Did the request with this admission serial reserve in this bucket?
    fn covers(&self, serial: u64) -> bool {
        serial >= self.since
    }
}

/// The limiter: plain state, pure transitions.
///
/// Every field is a number (or an `Option` of one), so the value is cheap to clone and easy to
/// serialise. [`Limiter::check`] is `&self`; everything that changes the buckets takes `now_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Limiter {
    /// One slot per [`Dim`], indexed by `Dim as usize`; `None` = limit unknown (not metered).
    slots: [Option<Slot>; 4],
    /// Set by [`Limiter::pause_until`]; in force while `now < paused_until_ms`.
    paused_until_ms: Option<Ms>,
    /// Set by [`Limiter::set_hold`]; in force while `now < held_until_ms`.
    held_until_ms: Option<Ms>,
    /// The latest `now_ms` seen by a transition: time never runs backwards here.
    clock_ms: Ms,
    /// Admissions so far: the next ticket's serial.
    admissions: u64,
    /// What this client admitted in each dimension it knows no limit for yet, forgotten over
    /// a minute, and when: once a limit is learned, what the server's level lacks beyond
    /// this was taken by others.
    unmetered: [f64; 4],
    unmetered_at_ms: Ms,
    /// How long a request may take to reach the server after admission (0: at once, the
    /// exact mirror); see [`Limiter::set_latency`].
    latency_ms: Ms,
    /// While no limit is known and no response has come: `None` before the first admission's
    /// probe starts, else when the others stop waiting for its answer.
    probe: Option<Probe>,
    /// How the server meters output ([`Limiter::set_output_metering`]; `None`: not known).
    metering: Option<OutputMetering>,
    /// The output reservation is learned from the outputs settled ([`Limiter::learn_output`]).
    learn_output: bool,
    /// The outputs settled so far (recorded while `learn_output`).
    outputs: Outputs,
    /// The outputs settled so far, whatever the metering ([`Limiter::expected_output`]).
    seen_outputs: Outputs,
    /// Votes on when the server writes a 2xx's figures: above zero, at the request's
    /// admission ([`Limiter::figures_at_admission`]).
    at_admission: i32,
}

impl Limiter {
    /// A limiter with the configured limits, buckets full at `now_ms`. Limits must be finite
    /// and positive ([`crate::core::config::Config::validate`]); any other value is taken as
    /// "unknown" (learned from headers if the server sends them). Each configured limit is a
    /// bucket of that capacity per minute.
    pub fn new(limits: Limits, now_ms: Ms) -> Self {
        let now_ms = if now_ms.is_finite() { now_ms } else { 0.0 };
        let mut slots = [None; 4];
        for (dim, limit) in [
            (Dim::Requests, limits.rpm),
            (Dim::InputTokens, limits.itpm),
            (Dim::OutputTokens, limits.otpm),
            (Dim::Tokens, limits.tpm),
        ] {
            if let Some(l) = limit.filter(|l| l.is_finite() && *l > 0.0) {
                slots[dim as usize] = Some(Slot::new(
                    Bucket::new(l, MINUTE_MS, now_ms),
                    Share::alone(now_ms),
                    Some(l),
                    0,
                ));
            }
        }
        Limiter {
            slots,
            paused_until_ms: None,
            held_until_ms: None,
            clock_ms: now_ms,
            admissions: 0,
            unmetered: [0.0; 4],
            unmetered_at_ms: now_ms,
            latency_ms: 0.0,
            at_admission: 0,
            probe: None,
            metering: Some(OutputMetering::Reservation),
            learn_output: false,
            outputs: Outputs::new(),
            seen_outputs: Outputs::new(),
        }
    }

    /// Other processes of the organisation may be starting at the same time: until the first
    /// response, spend at most a quarter of each configured bucket
    /// ([`crate::core::share::BLIND_SHARE`]) beyond its refill, or the first request when
    /// that alone is larger. The first response ends it: a client alone then counts on the whole bucket again (it lost
    /// nothing if that response came before the quarter refilled), one that is not on its
    /// share. The engine starts this way; a bare limiter counts on the whole bucket.
    pub fn start_blind(&mut self, now_ms: Ms) {
        let now = self.tick(now_ms);
        for slot in self.slots.iter_mut().flatten() {
            if slot.configured.is_some() {
                // The refill is this client's until shown otherwise; the opening holds back.
                slot.share = Share::blind(now).keeping_inflight(&slot.share);
                slot.apply_share(now, 1.0);
            }
        }
    }

    /// Count on the whole refill of every bucket: a shared store sees the other processes of
    /// the organisation and gates them itself, so this copy must not also hold back a share
    /// for them (the level still follows the server's headers).
    pub fn share_alone(&mut self, now_ms: Ms) {
        let now = self.tick(now_ms);
        for slot in self.slots.iter_mut().flatten() {
            slot.share = Share::alone(now).keeping_inflight(&slot.share);
            slot.apply_share(now, 1.0);
        }
    }

    /// `now_ms`, but never earlier than the latest time seen.
    fn clock(&self, now_ms: Ms) -> Ms {
        if now_ms > self.clock_ms {
            now_ms
        } else {
            self.clock_ms
        }
    }

    /// Move the clock to `now_ms` (if later) and return the time to use.
    fn tick(&mut self, now_ms: Ms) -> Ms {
        self.clock_ms = self.clock(now_ms);
        self.clock_ms
    }

    fn slot(&self, dim: Dim) -> Option<&Slot> {
        self.slots[dim as usize].as_ref()
    }

    /// Hold every request until `until_ms` (a later pause wins; an earlier one is ignored, and
    /// so is a non-finite one).
    pub fn pause_until(&mut self, until_ms: Ms) {
        if !until_ms.is_finite() {
            return;
        }
        self.paused_until_ms = Some(match self.paused_until_ms {
            Some(p) if p >= until_ms => p,
            _ => until_ms,
        });
    }

    /// Hold every request until `until_ms` (`None`: no hold) because the fleet's shared store
    /// said so: this process's next turn there ([`crate::core::store`]). Unlike a pause it is
    /// the fleet's arithmetic, not the server's word: it delays calls and never refuses one.
    pub fn set_hold(&mut self, until_ms: Option<Ms>) {
        self.held_until_ms = until_ms.filter(|t| t.is_finite());
    }

    /// The pause in force, if any, as of `now_ms`: `Some(t)` while `now_ms < t`.
    pub fn paused_until(&self, now_ms: Ms) -> Option<Ms> {
        let now = self.clock(now_ms);
        self.paused_until_ms.filter(|&p| now < p)
    }

    /// What is known now, one entry per known dimension, in [`Dim::ALL`] order: the limit, the
    /// level (negative while in debt), when the bucket is full again, and where the limit
    /// came from.
    pub fn snapshot(&self, now_ms: Ms) -> Vec<DimState> {
        let now = self.clock(now_ms);
        Dim::ALL
            .iter()
            .filter_map(|&dim| {
                self.slot(dim).map(|s| DimState {
                    dim,
                    limit: s.bucket.capacity(),
                    window_ms: s.bucket.window_ms(),
                    remaining: s.bucket.level(now),
                    reset_at_ms: s.bucket.full_at(now).ceil(),
                    source: s.source(),
                })
            })
            .collect()
    }

    /// Where the limit of `dim` comes from, if it is known.
    pub fn source(&self, dim: Dim) -> Option<Source> {
        self.slot(dim).map(Slot::source)
    }

    /// True when at least one limit is known (configured or learned).
    pub fn limits_known(&self) -> bool {
        self.slots.iter().any(Option::is_some)
    }

    /// The configured per-minute limit of `dim`, if one was given (headers may lower the
    /// capacity in force below it, never raise it).
    pub fn configured(&self, dim: Dim) -> Option<f64> {
        self.slot(dim).and_then(|s| s.configured)
    }

    /// The capacity in force for `dim`, if known.
    pub fn capacity(&self, dim: Dim) -> Option<f64> {
        self.slot(dim).map(|s| s.bucket.capacity())
    }

    /// The window of `dim`'s limit, ms, if known (a minute unless headers said otherwise).
    pub fn window_ms(&self, dim: Dim) -> Option<Ms> {
        self.slot(dim).map(|s| s.bucket.window_ms())
    }
}
