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
//!   server other than Anthropic's) mark the dimension as counted by windows: its copy then
//!   refills nothing before the reset they state ([`Bucket::hold`]).
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

use super::bucket::Bucket;
use super::headers::{DimInfo, Family, RateLimitInfo};
use super::share::{decay, Share, MIN_SHARE};
use super::transit;
use super::{clamp, Ms};

/// A metered dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dim {
    /// Requests per minute.
    Requests,
    /// Input tokens per minute.
    InputTokens,
    /// Output tokens per minute.
    OutputTokens,
    /// Combined tokens per minute.
    Tokens,
}

impl Dim {
    /// All dimensions, in order.
    pub const ALL: [Dim; 4] = [
        Dim::Requests,
        Dim::InputTokens,
        Dim::OutputTokens,
        Dim::Tokens,
    ];
    /// The JS spelling: `requests | inputTokens | outputTokens | tokens`.
    pub fn name(self) -> &'static str {
        match self {
            Dim::Requests => "requests",
            Dim::InputTokens => "inputTokens",
            Dim::OutputTokens => "outputTokens",
            Dim::Tokens => "tokens",
        }
    }
}

/// Per-minute limits; `None` = unknown (learned from headers if the server sends them).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Limits {
    /// Requests per minute.
    pub rpm: Option<f64>,
    /// Combined tokens per minute.
    pub tpm: Option<f64>,
    /// Input tokens per minute.
    pub itpm: Option<f64>,
    /// Output tokens per minute.
    pub otpm: Option<f64>,
}

/// The estimated cost of one request (the request count is always 1).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Cost {
    /// Input tokens that count against ITPM (input + cache creation), as estimated.
    pub input: f64,
    /// Output tokens to reserve against OTPM.
    pub output: f64,
    /// The input the request surely costs (at most `input`): the caller's own count vouches
    /// for all of it ([`Cost::exact`]); the built-in estimate, which errs high on purpose,
    /// for none (0, the default). Only this much input can make a request
    /// [`Decision::Never`]; an estimate above a capacity waits for a full bucket
    /// ([`Limiter::fit`]).
    pub input_floor: f64,
    /// The part of `output` that is estimated, not stated by the request: OpenAI's `n`
    /// choices beyond the first, each at `max_tokens` (0, the default: all of it is the
    /// request's own limit). Above a capacity it is lowered, as an input estimate is.
    pub output_estimated: f64,
}

impl Cost {
    /// A cost whose input is known, not guessed: a request over a capacity is refused.
    pub const fn exact(input: f64, output: f64) -> Cost {
        Cost {
            input,
            output,
            input_floor: input,
            output_estimated: 0.0,
        }
    }

    /// The output the request states (its `max_tokens`): `output` less the estimated part.
    pub fn stated_output(&self) -> f64 {
        (non_negative(self.output) - non_negative(self.output_estimated)).max(0.0)
    }

    /// What this request reserves in `dim`: 1 request, `input`, `output`, or `input + output`
    /// tokens. A negative or NaN amount counts as 0; an infinite one stays infinite (and
    /// exceeds any capacity).
    pub fn amount(&self, dim: Dim) -> f64 {
        let input = non_negative(self.input);
        let output = non_negative(self.output);
        match dim {
            Dim::Requests => 1.0,
            Dim::InputTokens => input,
            Dim::OutputTokens => output,
            Dim::Tokens => input + output,
        }
    }
}

/// The refill a full server bucket wastes while a request is in transit for `transit_ms`,
/// when our copy was `headroom` below full at its admission: the part of that refill that
/// would have lifted the copy above its capacity (0 when the copy was at least that refill
/// below full, e.g. `headroom` infinite).
fn wasted(b: &Bucket, headroom: f64, transit_ms: Ms) -> f64 {
    let in_transit = b.rate_per_ms() * transit_ms;
    clamp(in_transit - headroom, 0.0, in_transit)
}

/// `x` if it is `>= 0`, else 0 (NaN included).
fn non_negative(x: f64) -> f64 {
    if x >= 0.0 {
        x
    } else {
        0.0
    }
}

/// What one admitted request holds until it is settled or refunded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ticket {
    /// Input tokens reserved.
    pub input: f64,
    /// Output tokens reserved.
    pub output: f64,
    /// When it was admitted.
    pub at_ms: Ms,
    /// Its place in the limiter's order of admissions: tells which buckets existed when it was
    /// admitted (a bucket learned later reserved nothing for it), even within one millisecond.
    pub serial: u64,
    /// How far below full each bucket was at admission, per dimension in [`Dim::ALL`] order
    /// (infinite where there was none): what the refill wasted in transit is counted from
    /// ([`Limiter::arrived`]).
    pub headroom: [f64; 4],
    /// The transit that waste was counted for, ms ([`Limiter::set_latency`]).
    pub latency_ms: Ms,
    /// Per dimension, in [`Dim::ALL`] order: its own answer's figures placed this bucket's
    /// level (moved it to the server's, or created it; [`Limiter::observe_answer`]), so
    /// settling gives nothing back there.
    pub placed: [bool; 4],
    /// Per dimension: the bucket was learned from its own answer's figures, after its
    /// admission. Those figures count it, so its settlement adjusts that bucket too, as one
    /// it reserved in (a stream's give-back: its head counted the whole reservation), from
    /// `learned_at_ms` on.
    pub learned: [bool; 4],
    /// When its own answer's figures were read ([`Ticket::learned`]).
    pub learned_at_ms: Ms,
    /// Per dimension: what this limiter had given back there ([`Limiter::settle`]) when it
    /// was admitted, for the figures of a stream's head written then
    /// ([`Limiter::observe_stream_head`]).
    pub given: [f64; 4],
    /// Per dimension: what the requests this limiter had let go of there had used when it was
    /// admitted (a settled one its usage, a refunded one nothing, a lost one its
    /// reservation), for the same figures (and a refusal's): the requests settled since may
    /// have reached the server after it wrote them.
    pub spent: [f64; 4],
}

impl Ticket {
    /// What it reserved in `dim`.
    pub fn amount(&self, dim: Dim) -> f64 {
        Cost::exact(self.input, self.output).amount(dim)
    }
}

/// Real usage, as the response reports it. Invalid values (negative, NaN, absurd) must be
/// filtered by whoever builds this; see [`Usage::sanitized`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Usage {
    /// `input_tokens` / `prompt_tokens`.
    pub input_tokens: f64,
    /// `cache_creation_input_tokens` (counts against ITPM).
    pub cache_creation_input_tokens: f64,
    /// `cache_read_input_tokens` (does not count against ITPM).
    pub cache_read_input_tokens: f64,
    /// `output_tokens` / `completion_tokens`.
    pub output_tokens: f64,
}

impl Usage {
    /// Largest token count believed: anything above (or negative, or not finite) is garbage.
    pub const MAX_TOKENS: f64 = 1.0e9;

    /// The input that counts against ITPM: `input_tokens + cache_creation_input_tokens`.
    pub fn metered_input(&self) -> f64 {
        self.input_tokens + self.cache_creation_input_tokens
    }

    /// Whether `v` is a token count believed: finite, from 0 to [`Usage::MAX_TOKENS`].
    pub fn valid(v: f64) -> bool {
        v.is_finite() && (0.0..=Self::MAX_TOKENS).contains(&v)
    }

    /// Replace each invalid field (not [`Usage::valid`]) by 0 and say whether any field was
    /// valid-and-present. `None` if nothing valid remains.
    pub fn sanitized(self) -> Option<Usage> {
        let ok = Self::valid;
        let all = [
            self.input_tokens,
            self.cache_creation_input_tokens,
            self.cache_read_input_tokens,
            self.output_tokens,
        ];
        if !all.iter().any(|&v| ok(v)) {
            return None;
        }
        let f = |v: f64| if ok(v) { v } else { 0.0 };
        Some(Usage {
            input_tokens: f(self.input_tokens),
            cache_creation_input_tokens: f(self.cache_creation_input_tokens),
            cache_read_input_tokens: f(self.cache_read_input_tokens),
            output_tokens: f(self.output_tokens),
        })
    }
}

/// The opening of a limiter that knows no limit: one request goes first, and the others wait
/// for its answer (which may teach the limits). While none comes, one more may go after
/// [`PROBE_MAX_MS`], and twice as many as are out after each such time again (a slow start).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Probe {
    /// When the first request went out; `None` until it does.
    sent_at: Option<Ms>,
    /// The admission serial of that request.
    serial: u64,
    /// The requests sent since (that one included), none answered yet.
    sent: u64,
}

impl Probe {
    /// Until when the next request waits for an answer, if it must: `2^k` requests may be
    /// out once `k` times [`PROBE_MAX_MS`] passed without one.
    fn wait_until(&self) -> Option<Ms> {
        let t = self.sent_at?;
        let k = self.sent.max(1).ilog2() + 1;
        Some(t + f64::from(k) * PROBE_MAX_MS)
    }
}

/// How long the others wait for the first response of a limiter that knows no limit before
/// one more request goes (and again before twice as many are out: a slow start). An answer
/// that takes longer (a long answer that is no stream comes whole) is no sign of room: each
/// process of a fleet that let its whole concurrency go then drew 429s by the dozen.
pub const PROBE_MAX_MS: Ms = 10_000.0;

/// Why a request cannot go now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Blocker {
    /// A bucket is short.
    Dim(Dim),
    /// A 429 paused everything.
    Paused,
    /// No limit is known yet and the first request is out: the rest wait for its answer
    /// ([`Limiter::start_blind`]).
    FirstResponse,
    /// The fleet's shared store said wait ([`Limiter::set_hold`]).
    Store,
}

/// The answer to "may this request go now?".
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// Go; the reservation is held in the ticket.
    Admit(Ticket),
    /// Not yet: ask again at `until_ms`.
    Wait {
        /// Earliest time it could go (no earlier than now).
        until_ms: Ms,
        /// What holds it.
        blocker: Blocker,
    },
    /// Never: `cost` exceeds the `capacity` of `dim`.
    Never {
        /// The dimension.
        dim: Dim,
        /// The request's cost in that dimension.
        cost: f64,
        /// The bucket's capacity.
        capacity: f64,
    },
}

/// Where a dimension's numbers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Given in the options.
    Configured,
    /// Learned from response headers.
    Headers,
}

/// What is known now about one dimension.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DimState {
    /// Which.
    pub dim: Dim,
    /// The limit (capacity per window).
    pub limit: f64,
    /// The window, ms (60,000 for a limit per minute).
    pub window_ms: Ms,
    /// The level now (may be negative while in debt).
    pub remaining: f64,
    /// When it is full again, epoch ms (a whole ms, rounded up).
    pub reset_at_ms: Ms,
    /// Where the limit came from.
    pub source: Source,
}

/// The window of a configured (per-minute) limit, ms.
const MINUTE_MS: Ms = 60_000.0;

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

/// A request that must wait is woken this long after the exact instant its bucket holds its
/// cost: the server reaches the same level through other floating-point steps and may be a
/// hair short at that instant (seen in the simulator as 429s at a server level of
/// 1023.99999 for a cost of 1024).
pub const EDGE_MARGIN_MS: Ms = 1.0;

/// Where the server counts output as it is generated ([`Limiter::set_output_as_generated`]),
/// the default reservation of a request's output ([`Limiter::learn_output`]) is learned from
/// the outputs its key really produced: the largest of the last [`OUTPUT_WINDOW`] settled
/// outputs, times [`OUTPUT_MARGIN`], never below [`OUTPUT_FLOOR`], and never above the
/// request's own `max_tokens` (nor, as before, the bucket's capacity). Until
/// [`OUTPUT_MIN_SEEN`] outputs have been seen, `max_tokens` is reserved as it was.
///
/// Why an estimate, and why this one. Such a server admits a request while its output level
/// is above 0 and takes the output as it is produced; `max_tokens` is no cost to it. The
/// copy here reserves at admission and settles the difference at the end, so it stands below
/// the server by what it reserved for the calls in progress, less what they have produced so
/// far: it can run *ahead* of the server only by the output of a call in progress beyond its
/// reservation. A reservation of `max_tokens` (an agent's 32k–64k, against an OTPM of 8k)
/// keeps the copy far below the server and lets one call run at a time (the simulator,
/// 8,000 OTPM, `max_tokens` 20,000, outputs of 100–1,024 tokens: 2.2 times the shortest
/// makespan); a reservation of nothing (`outputReservation: "none"`) is the other extreme,
/// as far ahead as all the output in progress. A high estimate of the real output is the
/// copy the server will stand at once the calls in progress end, which is what an admission
/// predicts.
///
/// The numbers: the largest of the last 16 is above about 94% of a stable distribution's
/// draws (1 - 1/17); twice that covers the rest and a drift upwards between samples (a margin
/// of 1 or 1.25 drew 429s in the simulator, 3 held one client back, 1.37 times the shortest
/// makespan); 8 outputs before any estimate, so that the first calls of a key (with nothing
/// learned) reserve as before (4 moved the figures of a `max_tokens` of 1,024); the floor of
/// 256 tokens keeps a key that has seen only tiny outputs from sending a burst of calls on
/// nearly nothing. An output beyond the estimate is a debt taken at settlement (as with
/// `outputReservation: "none"`), and enters the window at once. The estimate only ever lowers what is waited for: no call is ever
/// refused on it.
pub const OUTPUT_WINDOW: usize = 16;
/// See [`OUTPUT_WINDOW`].
pub const OUTPUT_MARGIN: f64 = 2.0;
/// See [`OUTPUT_WINDOW`].
pub const OUTPUT_FLOOR: f64 = 256.0;
/// See [`OUTPUT_WINDOW`].
pub const OUTPUT_MIN_SEEN: u32 = 8;

/// The outputs a key's requests really produced, most recent last ([`OUTPUT_WINDOW`]).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Outputs {
    /// A ring of the last outputs; `seen` of them are filled (at most the window).
    last: [f64; OUTPUT_WINDOW],
    /// Where the next output goes in the ring.
    next: usize,
    /// Outputs seen so far (saturating).
    seen: u32,
}

impl Outputs {
    const fn new() -> Self {
        Outputs {
            last: [0.0; OUTPUT_WINDOW],
            next: 0,
            seen: 0,
        }
    }

    fn record(&mut self, output: f64) {
        if !(output.is_finite() && output >= 0.0) {
            return;
        }
        self.last[self.next] = output;
        self.next = (self.next + 1) % OUTPUT_WINDOW;
        self.seen = self.seen.saturating_add(1);
    }

    /// The reservation to use for a request's output, or `None` while too few were seen.
    fn estimate(&self) -> Option<f64> {
        if self.seen < OUTPUT_MIN_SEEN {
            return None;
        }
        let n = (self.seen as usize).min(OUTPUT_WINDOW);
        let max = self.last[..n].iter().fold(0.0f64, |m, &v| m.max(v));
        Some((max * OUTPUT_MARGIN).max(OUTPUT_FLOOR))
    }
}

/// How a server meters output tokens against an output (or combined) limit: as a preset's
/// source page states it ([`crate::core::presets`]), or as the engine learns it from answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMetering {
    /// Reserved from `max_tokens` when the request starts, corrected to the actual output at
    /// the end (the pacer's default `outputReservation: "max_tokens"` mirrors it).
    Reservation,
    /// Counted as the output is produced; `max_tokens` does not count
    /// (`outputReservation: "none"` mirrors it, at the cost of a little debt at the end).
    RealTime,
}

impl OutputMetering {
    /// `reservation` or `realtime` (the simulator's spelling).
    pub fn name(self) -> &'static str {
        match self {
            OutputMetering::Reservation => "reservation",
            OutputMetering::RealTime => "realtime",
        }
    }
}

/// How old a stream head's figures may be, ms, as [`Limiter::observe_stream_head`] allows
/// for: a long time to first byte. Older, the refill since is taken as others' use.
pub const FIGURE_AGE_MS: Ms = 5_000.0;

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
            windowed: false,
            window_end: Ms::NEG_INFINITY,
            window_seen_at: Ms::NEG_INFINITY,
            whole_at: Ms::NEG_INFINITY,
            resets_whole: true,
            inferred: false,
        }
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
            probe: None,
            metering: Some(OutputMetering::Reservation),
            learn_output: false,
            outputs: Outputs::new(),
        }
    }

    /// How the server meters output. [`OutputMetering::Reservation`] (a new limiter's, the
    /// exact mirror of Anthropic's tiers): a request's `max_tokens` is reserved up front and
    /// one above a capacity is [`Decision::Never`]. [`OutputMetering::RealTime`] (Anthropic's
    /// Start, Build and Scale plans): a reservation of `max_tokens` is the pacer's own estimate
    /// of the output: fitted to the buckets ([`Limiter::fit`]) like an input estimate, never a
    /// reason to refuse a request, and no part of a stated wait.
    pub fn set_output_metering(&mut self, metering: OutputMetering) {
        self.metering = Some(metering);
    }

    /// The server counts output as it is generated ([`OutputMetering::RealTime`]).
    pub fn set_output_as_generated(&mut self) {
        self.set_output_metering(OutputMetering::RealTime);
    }

    /// The way the server meters output is not known (the engine's limiters, unless a
    /// preset says it): until [`Limiter::set_output_metering`], a request stating more output
    /// than a bucket holds is sent once with its output lowered to what the buckets hold
    /// ([`Limiter::fit`]), not refused on the pacer's model; the server's answer says which.
    pub fn forget_output_metering(&mut self) {
        self.metering = None;
    }

    /// Is the way the server meters output known ([`Limiter::forget_output_metering`])?
    pub fn output_metering_known(&self) -> bool {
        self.metering.is_some()
    }

    /// Does the server count output as it is generated?
    fn output_as_generated(&self) -> bool {
        self.metering == Some(OutputMetering::RealTime)
    }

    /// The output a request reserves is its `max_tokens` (`outputReservation: "max_tokens"`,
    /// the default): where the server counts output as it is generated
    /// ([`Limiter::set_output_as_generated`]), lower it to an estimate learned from the
    /// outputs this key's requests really produced ([`OUTPUT_WINDOW`] says how), once a few
    /// were seen. The difference is settled at the end, as for any reservation. Does nothing
    /// where output is reserved by the server (the reservation then mirrors the server's).
    pub fn learn_output(&mut self) {
        self.learn_output = true;
    }

    /// A request of this key produced `output` tokens, as its usage states (not an output
    /// settled as reserved because the usage did not say): learned from, while
    /// [`Limiter::learn_output`] is on where the server counts output as generated. A value
    /// that is not a token count ([`Usage::valid`]) is ignored.
    pub fn output_seen(&mut self, output: f64) {
        if self.learn_output && self.output_as_generated() && Usage::valid(output) {
            self.outputs.record(output);
        }
    }

    /// The output reservation learned so far ([`Limiter::learn_output`]): `None` while it is
    /// off, where the server reserves output itself, or before enough outputs were seen.
    pub fn output_estimate(&self) -> Option<f64> {
        if !(self.learn_output && self.output_as_generated()) {
            return None;
        }
        self.outputs.estimate()
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

    /// Open with a probe when no limit is known: one request goes first, and the others wait
    /// for its answer (which may teach the limits); while none comes, one more goes after
    /// [`PROBE_MAX_MS`], then twice as many as are out each such time again. Several
    /// processes that know nothing would otherwise all send their whole concurrency at once,
    /// before any header can say how much room there is. The engine opens this way unless
    /// its adaptive mode paces the opening; a bare limiter does not.
    pub fn start_probe(&mut self) {
        if self.slots.iter().all(Option::is_none) {
            self.probe = Some(Probe {
                sent_at: None,
                serial: 0,
                sent: 0,
            });
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

    /// The opening probe's request failed without an answer (a network error): the others
    /// stop waiting for it.
    pub fn end_probe(&mut self) {
        self.probe = None;
    }

    /// The request admitted with `ticket` was not sent after all (a fleet's store made it
    /// wait; its reservation is refunded apart): if it opened as the probe, the probe is still
    /// to go, and nothing waits for its answer meanwhile, itself least of all.
    pub fn unsent(&mut self, ticket: &Ticket) {
        if let Some(p) = self.probe.as_mut().filter(|p| p.sent_at.is_some()) {
            if p.serial == ticket.serial {
                p.sent_at = None;
                p.sent = 0;
            } else if ticket.serial > p.serial {
                p.sent = p.sent.saturating_sub(1);
            }
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
                learned: [false; 4],
                learned_at_ms: now,
                given: Dim::ALL.map(|dim| self.slot(dim).map_or(0.0, |s| s.given)),
                spent: Dim::ALL.map(|dim| self.slot(dim).map_or(0.0, |s| s.spent)),
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
                if p.sent_at.is_none() {
                    p.sent_at = Some(now);
                    p.serial = ticket.serial;
                }
                p.sent += 1;
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
                    b.take(now, cost.amount(dim) + wasted(b, headroom, self.latency_ms));
                    let w = b.window_ms();
                    slot.share.took(now, cost.amount(dim), w);
                }
            }
        }
        decision
    }

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
            let delta =
                wasted(&slot.bucket, h, transit_ms) - wasted(&slot.bucket, h, ticket.latency_ms);
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
    ///   through the transit's give-back, [`Limiter::arrived`]).
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
    /// If they did not, the copy is low by the unused part until the next figures raise it:
    /// a cautious error, never a 429. Nor is input beyond the estimate taken there again: a
    /// server counts a prompt's tokens when it admits it, so its figures count them all (a
    /// document priced low by the estimate, taken twice, held the next call half a minute).
    /// Output beyond the reservation (one lowered to fit, or `outputReservation`) is taken.
    pub fn settle(&mut self, now_ms: Ms, ticket: Ticket, usage: &Usage) {
        let now = self.tick(now_ms);
        let Some(usage) = usage.sanitized() else {
            // Nothing known: the reservation stands, no longer in flight.
            self.lost(now, &ticket);
            return;
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
        for (dim, delta, placed_delta) in changes {
            // What this client used, for the headroom it leaves others: the usage, not the
            // reservation.
            if let Some(slot) = self.slots[dim as usize].as_mut() {
                if slot.covers(ticket.serial) && delta.is_finite() {
                    let w = slot.bucket.window_ms();
                    slot.share.used(now, delta, w);
                }
            }
            if !ticket.placed[dim as usize] {
                if self.adjust(dim, now, &ticket, delta) && delta < 0.0 {
                    // A settlement's give-back: not in the figures of a stream head written
                    // before it ([`Ticket::given`]). (A transit's or a refusal's is in them:
                    // the server never took it.)
                    if let Some(slot) = self.slots[dim as usize].as_mut() {
                        slot.given -= delta;
                    }
                }
            } else if placed_delta > 0.0 {
                self.adjust(dim, now, &ticket, placed_delta);
            }
        }
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
    ///   figure explains): this client's share of the refill is halved
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
    /// sign of other clients.
    pub fn observe_refusal(&mut self, now_ms: Ms, info: &RateLimitInfo, ticket: &Ticket) -> bool {
        self.observe_dims(now_ms, info, None, Some(ticket), false).0
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
        let (changed, placed, learned) = self.observe_dims(now_ms, info, Some(ticket), None, stale);
        ticket.placed = [0, 1, 2, 3].map(|d| placed[d] || learned[d]);
        ticket.learned = learned;
        ticket.learned_at_ms = self.clock_ms;
        changed
    }

    /// Whether the limits changed, which buckets' levels the figures placed, and which they
    /// created (learned). `answer`: the ticket of the request these figures answer, which
    /// they count; `stale`: they were written at its admission
    /// ([`Limiter::observe_stream_head`]).
    fn observe_dims(
        &mut self,
        now_ms: Ms,
        info: &RateLimitInfo,
        answer: Option<&Ticket>,
        refused_ticket: Option<&Ticket>,
        stale: bool,
    ) -> (bool, [bool; 4], [bool; 4]) {
        let now = self.tick(now_ms);
        // A response came: the opening probe (if any) is answered.
        self.probe = None;
        let mut changed = false;
        let mut placed = [false; 4];
        let mut learned = [false; 4];
        // Anthropic documents continuously refilled buckets; other servers may count by windows.
        let may_window = info.family != Family::Anthropic;
        for (dim, d) in figures(info) {
            let Some(d) = d else { continue };
            let covered = |t: &&Ticket| self.slot(dim).is_some_and(|s| s.covers(t.serial));
            let own = answer.filter(covered).map_or(0.0, |t| t.amount(dim));
            let refused = refused_ticket.filter(covered).map(|t| t.amount(dim));
            let known = self.slots[dim as usize].is_some();
            // Figures written at the request's admission: what came back since.
            // (A refusal's are written when the request arrives, as a stream head's.)
            let written_at_admission = if stale { answer } else { refused_ticket };
            // And what the requests settled since used: they may have reached the server after
            // it wrote them, or settled before (the server's figures then count them). Those
            // still in flight are left off as they are from any figures.
            let (allow, drawn) = match (written_at_admission, self.slot(dim)) {
                (Some(t), Some(s)) => {
                    let age = clamp(now - t.at_ms, 0.0, FIGURE_AGE_MS);
                    // (A bucket learned after the admission has no totals of then.)
                    let (given, spent) = if s.covers(t.serial) {
                        let d = dim as usize;
                        (
                            non_negative(s.given - t.given[d]),
                            non_negative(s.spent - t.spent[d]),
                        )
                    } else {
                        (0.0, 0.0)
                    };
                    (age * s.bucket.rate_per_ms() + given, spent)
                }
                _ => (0.0, 0.0),
            };
            let served = answer.is_some();
            let (c, p) =
                self.observe_dim(now, dim, d, own, drawn, refused, may_window, allow, served);
            changed |= c;
            placed[dim as usize] = p;
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
        (changed, placed, learned)
    }

    /// One dimension's figures: whether its limit changed, and whether they placed its level.
    /// `own`: the reservation in flight of the request they answer (counted in them).
    /// `drawn`: what the requests settled since they were written used (figures written at a
    /// request's admission; 0 otherwise): they may not be in them.
    /// `refused`: the amount of a request they refused ([`Limiter::observe_refusal`]).
    /// `may_window`: the server may count by windows (it is not Anthropic's).
    /// `allow`: how far above the figures the server's level may be now, figures written
    /// earlier ([`Limiter::observe_stream_head`], a refusal's), before a copy above them is
    /// taken for others' use. `answered`: they answer a request the server served.
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
        answered: bool,
    ) -> (bool, bool) {
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
                    return (false, false);
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
            let slack = if info.rounded { ROUNDING_SLACK } else { 1.0 };
            (non_negative(r - slack), r + slack)
        });
        let from_reset = reset_at.map(|t| {
            // The server's own limit and rate when it sent them, else the bucket's.
            let (l, w) = match limit {
                Some(l) => (l, window),
                None => (slot.bucket.capacity(), slot.bucket.window_ms()),
            };
            let level = non_negative(l - non_negative(t - now) * (l / w));
            (level, (level + RESET_PRECISION_MS * l / w).min(l))
        });
        // Figures that disagree with a continuous refill come from a server that counts by
        // windows (its quota back whole at the reset, nothing before), unless it is
        // Anthropic's (whose buckets refill continuously: clocks apart, rather).
        let view = match (from_remaining, from_reset) {
            (Some(r), _) if slot.windowed => Some(r),
            (Some((lo1, hi1)), Some((lo2, hi2))) => {
                let (lo, hi) = (lo1.max(lo2), hi1.min(hi2));
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
            let hi_others = (hi + allow).min(slot.bucket.capacity().max(hi));
            let level = slot.bucket.level(now);
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
            // at its admission, they may leave out what settled since as well.
            let uncounted = non_negative(slot.share.inflight() - own) + drawn;
            let floor = lo.min(figure) - uncounted;
            // Refused, and the server may have had less than the amount here: down to the
            // low end (see `observe_refusal`).
            let short = refused.is_some_and(|a| lo < a) && level > floor;
            let target = if short {
                floor
            } else if learned || level > hi {
                figure
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
                slot.share.observed(
                    now,
                    window,
                    !slot.windowed && predicted - own_transit - slot.above > hi_others,
                );
            }
            slot.apply_share(now, slot.share.share());
            if target != level || learned {
                slot.transit_back = 0.0;
                slot.placed_at = now;
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
                // again.
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
                if at_end {
                    slot.whole_at = end;
                }
                slot.bucket.hold(now, end, at_end);
            }
            return (changed, !learned && target != level);
        }
        (changed, false)
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

    /// The capacity in force for `dim`, if known.
    pub fn capacity(&self, dim: Dim) -> Option<f64> {
        self.slot(dim).map(|s| s.bucket.capacity())
    }

    /// The window of `dim`'s limit, ms, if known (a minute unless headers said otherwise).
    pub fn window_ms(&self, dim: Dim) -> Option<Ms> {
        self.slot(dim).map(|s| s.bucket.window_ms())
    }
}

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
