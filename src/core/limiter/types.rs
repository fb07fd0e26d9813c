//! The limiter's vocabulary: the dimensions, a request's cost, the ticket of its
//! reservation, a response's usage, and the answers to "may this request go now?".

use super::non_negative;
#[cfg(doc)]
use super::Limiter;
use crate::core::Ms;

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
    /// The dimension whose [`Dim::name`] is `name`, if any.
    pub fn from_name(name: &str) -> Option<Dim> {
        Dim::ALL.into_iter().find(|d| d.name() == name)
    }
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
    /// Per dimension: how far those figures raised the bucket's level, less the give-backs
    /// earlier settlements left out since it was last placed (0 where they did not raise it;
    /// the least positive number where they raised it by no more than those; for a bucket its
    /// first answer created, the raise over a full bucket less its reservation, and the least
    /// positive number for one within a rounding below it). A raise smaller than half the
    /// request's give-back is no sign that they counted the give-back ([`Limiter::settle`]).
    pub raised: [f64; 4],
    /// Per dimension: the bucket was learned from its own answer's figures, after its
    /// admission. Those figures count it, so its settlement adjusts that bucket too, as one
    /// it reserved in (a stream's give-back: its head counted the whole reservation), from
    /// `learned_at_ms` on.
    pub learned: [bool; 4],
    /// When its own answer's figures were read ([`Ticket::learned`]).
    pub learned_at_ms: Ms,
    /// Per dimension: its own answer's figures counted the reservations this client made
    /// just before it settled, so the server admitted those requests before it settled this
    /// one. Otherwise its give-back lifts the copy no higher than the capacity less them
    /// ([`Limiter::settle`]): on the server, it may have come first and met a full bucket.
    pub counted: [bool; 4],
    /// Per dimension: what this limiter had given back there ([`Limiter::settle`]) when it
    /// was admitted, for the figures of a stream's head written then
    /// ([`Limiter::observe_stream_head`]).
    pub given: [f64; 4],
    /// Per dimension: what the requests this limiter had let go of there had used when it was
    /// admitted (a settled one its usage, a refunded one nothing, a lost one its
    /// reservation), for the same figures (and a refusal's): the requests settled since may
    /// have reached the server after it wrote them.
    pub spent: [f64; 4],
    /// Per dimension: what this limiter had reserved there in all before this request, a
    /// running total ([`Limiter::observe_stream_head`]: the requests admitted after it are
    /// not in figures written at its admission).
    pub taken: [f64; 4],
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
// (The ticket is held by value: one decision a call's admission, moved once; a box would
// allocate each time.)
#[allow(clippy::large_enum_variant)]
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
