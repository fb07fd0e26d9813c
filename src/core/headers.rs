//! Retry hints and rate-limit headers, from every family a provider may send, into one struct.
//!
//! Families understood:
//! * retry hints: `retry-after-ms` (float milliseconds, wins) and `retry-after` (delta-seconds
//!   or an HTTP-date); `x-should-retry: true|false`;
//! * Anthropic: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,
//!   remaining,reset}` (reset is RFC 3339; token `remaining` is rounded to the nearest
//!   thousand) and, on Priority Tier, `anthropic-priority-{input,output}-tokens-*`;
//! * OpenAI-style: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` with Go-style reset
//!   durations (`1s`, `6m0s`, `8.64s`, `20ms`, `1m30s`);
//! * IETF draft-10: `RateLimit-Policy: "burst";q=100;w=60` and `RateLimit: "burst";r=50;t=30`.
//!
//! Garbage in gives "absent": never a panic, a NaN, a negative wait, or an absurd one.

use super::Ms;

/// Hints beyond this many milliseconds (30 days) are not a hint but garbage: treated as absent.
pub const ABSURD_MS: Ms = 30.0 * 24.0 * 3_600_000.0;

/// What the headers say about one metered dimension.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DimInfo {
    /// The limit: the bucket's capacity, in requests or tokens per `window_ms`.
    pub limit: Option<f64>,
    /// What the server says remains now.
    pub remaining: Option<f64>,
    /// When the bucket is full again, as a *local* epoch-ms time (corrected for the server's
    /// clock through its `Date` header when present).
    pub reset_at_ms: Option<Ms>,
    /// The window the limit refers to, in ms: 60 000 for per-minute limits, `w` for IETF.
    pub window_ms: Option<Ms>,
    /// `remaining` was rounded by the server (Anthropic token counts: nearest thousand), so the
    /// true value may be up to 500 lower.
    pub rounded: bool,
}

impl DimInfo {
    /// True when no field was found.
    pub fn is_empty(&self) -> bool {
        self.limit.is_none() && self.remaining.is_none() && self.reset_at_ms.is_none()
    }
}

/// Which header family a [`RateLimitInfo`] came from (the first one seen wins per dimension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    /// No rate-limit header at all.
    #[default]
    None,
    /// `anthropic-ratelimit-*`.
    Anthropic,
    /// `x-ratelimit-*`.
    OpenAi,
    /// IETF `RateLimit` / `RateLimit-Policy`.
    Ietf,
}

/// Everything the response headers say, parsed and validated.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RateLimitInfo {
    /// How long the server asks us to wait, ms, relative to `now_ms` given to [`parse`].
    /// `retry-after-ms` wins over `retry-after`. Finite, `>= 0`, `<= ABSURD_MS`, or absent.
    pub retry_after_ms: Option<Ms>,
    /// `x-should-retry`.
    pub should_retry: Option<bool>,
    /// Requests per minute.
    pub requests: DimInfo,
    /// Input tokens per minute (Anthropic ITPM).
    pub input_tokens: DimInfo,
    /// Output tokens per minute (Anthropic OTPM).
    pub output_tokens: DimInfo,
    /// Combined tokens (OpenAI TPM; Anthropic `tokens-*`, the most restrictive in effect).
    pub tokens: DimInfo,
    /// Anthropic Priority Tier input tokens.
    pub priority_input_tokens: DimInfo,
    /// Anthropic Priority Tier output tokens.
    pub priority_output_tokens: DimInfo,
    /// The server's `Date`, epoch ms, if present and valid.
    pub server_date_ms: Option<Ms>,
    /// The family the rate-limit fields came from.
    pub family: Family,
}

impl RateLimitInfo {
    /// True when no rate-limit dimension was found (hints may still be present).
    pub fn has_limits(&self) -> bool {
        !(self.requests.is_empty()
            && self.input_tokens.is_empty()
            && self.output_tokens.is_empty()
            && self.tokens.is_empty())
    }
}

/// Parse response headers. Names are matched case-insensitively; unknown headers are ignored.
/// `now_ms` is the local time the response arrived; absolute times in the headers are
/// converted to local time through the server's `Date` header when it is present.
pub fn parse<'a, I>(headers: I, now_ms: Ms) -> RateLimitInfo
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let _ = (headers, now_ms);
    todo!("headers::parse")
}

/// Parse a Go `time.Duration` string (`1h2m3.5s`, `20ms`, `1.5us`, `0s`) into milliseconds.
/// Negative, overflowing or malformed input gives `None`.
pub fn parse_go_duration(s: &str) -> Option<Ms> {
    let _ = s;
    todo!("headers::parse_go_duration")
}

/// Parse an RFC 3339 timestamp into epoch milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<Ms> {
    let _ = s;
    todo!("headers::parse_rfc3339")
}

/// Parse an HTTP-date (IMF-fixdate, RFC 850 or asctime) into epoch milliseconds.
pub fn parse_http_date(s: &str) -> Option<Ms> {
    let _ = s;
    todo!("headers::parse_http_date")
}
