//! RPM / ITPM / OTPM / TPM admission: reservation before a request, reconciliation after.
//!
//! One [`Bucket`] per configured or learned dimension:
//! * `Requests` (RPM): every request costs 1;
//! * `InputTokens` (ITPM): `input_tokens + cache_creation_input_tokens` (cache reads are free);
//! * `OutputTokens` (OTPM): reserved up front (`max_tokens` by default), corrected at the end;
//! * `Tokens` (combined TPM, OpenAI style): input + output.
//!
//! [`Limiter::acquire`] answers admit (with a [`Ticket`] holding the reservation), wait until
//! a time, or never (the cost exceeds a bucket's capacity: no wait can help).
//! [`Limiter::settle`] replaces the reservation with the real usage, so the buckets hold
//! exactly what the server counted. [`Limiter::observe`] aligns with the server's headers:
//! learns unknown limits, and never keeps a higher local level than the server reports.
//! [`Limiter::pause_until`] holds every request after a 429.

use super::bucket::Bucket;
use super::headers::RateLimitInfo;
use super::Ms;

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
    /// Input tokens that count against ITPM (input + cache creation).
    pub input: f64,
    /// Output tokens to reserve against OTPM.
    pub output: f64,
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

    /// Replace each invalid field (negative, not finite, above [`Usage::MAX_TOKENS`]) by 0 and
    /// say whether any field was valid-and-present. `None` if nothing valid remains.
    pub fn sanitized(self) -> Option<Usage> {
        let ok = |v: f64| v.is_finite() && (0.0..=Self::MAX_TOKENS).contains(&v);
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
    /// The level now (may be negative while in debt).
    pub remaining: f64,
    /// When it is full again, epoch ms.
    pub reset_at_ms: Ms,
    /// Where the limit came from.
    pub source: Source,
}

/// The limiter: plain state, pure transitions.
#[derive(Debug, Clone, PartialEq)]
pub struct Limiter {
    _todo: (),
}

impl Limiter {
    /// A limiter with the configured limits, buckets full at `now_ms`.
    pub fn new(limits: Limits, now_ms: Ms) -> Self {
        let _ = (limits, now_ms);
        todo!("Limiter::new")
    }
    /// Would `cost` be admitted now? Same answer as [`Limiter::acquire`], without reserving.
    pub fn check(&self, now_ms: Ms, cost: Cost) -> Decision {
        let _ = (now_ms, cost);
        todo!("Limiter::check")
    }
    /// Admit and reserve, or say how long to wait, or never.
    pub fn acquire(&mut self, now_ms: Ms, cost: Cost) -> Decision {
        let _ = (now_ms, cost);
        todo!("Limiter::acquire")
    }
    /// Replace the reservation by the real usage.
    pub fn settle(&mut self, now_ms: Ms, ticket: Ticket, usage: &Usage) {
        let _ = (now_ms, ticket, usage);
        todo!("Limiter::settle")
    }
    /// The request was not processed (the server refused it): give back its tokens. The
    /// request itself stays counted when `keep_request` (the server may count refused ones).
    pub fn refund(&mut self, now_ms: Ms, ticket: Ticket, keep_request: bool) {
        let _ = (now_ms, ticket, keep_request);
        todo!("Limiter::refund")
    }
    /// Align with what the server's headers say. True when the limits changed (a dimension
    /// was learned or a capacity changed).
    pub fn observe(&mut self, now_ms: Ms, info: &RateLimitInfo) -> bool {
        let _ = (now_ms, info);
        todo!("Limiter::observe")
    }
    /// Hold every request until `until_ms` (a later pause wins; an earlier one is ignored).
    pub fn pause_until(&mut self, until_ms: Ms) {
        let _ = until_ms;
        todo!("Limiter::pause_until")
    }
    /// The pause in force, if any, as of `now_ms`.
    pub fn paused_until(&self, now_ms: Ms) -> Option<Ms> {
        let _ = now_ms;
        todo!("Limiter::paused_until")
    }
    /// What is known now, one entry per known dimension, in [`Dim::ALL`] order.
    pub fn snapshot(&self, now_ms: Ms) -> Vec<DimState> {
        let _ = now_ms;
        todo!("Limiter::snapshot")
    }
}
