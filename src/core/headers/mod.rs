//! Retry hints and rate-limit headers, from every family a provider may send, into one struct.
//!
//! Families understood (names are matched case-insensitively, values are trimmed):
//!
//! * **Retry hints.** `retry-after-ms` (milliseconds, decimals allowed) wins over
//!   `retry-after`, which is delta-seconds (decimals allowed, e.g. `1.5`) or an HTTP-date
//!   (IMF-fixdate, RFC 850 or asctime). An HTTP-date is turned into a wait against the
//!   response's own `Date` header when it has a valid one (free of clock skew), else against
//!   `now_ms`. A wait of zero (`0`, a date not in the future) is no hint: retried at once, a
//!   server that keeps saying so would get back-to-back requests, so the backoff applies (as
//!   in the Anthropic SDK). A `retry-after-ms` that is zero or garbage falls back
//!   to `retry-after`. `x-should-retry` is exactly `true` or `false` (any case).
//! * **Anthropic.** `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,
//!   remaining,reset}` and, on Priority Tier, `anthropic-priority-{input,output}-tokens-{limit,
//!   remaining,reset}`. The reset is an RFC 3339 time (`2026-11-22T13:04:32Z`, fractional
//!   seconds and numeric offsets accepted) on the *server's* clock; it is moved to the local
//!   clock through the `Date` header: `reset_at_ms = now_ms + (reset - date)`. Token
//!   `remaining` values are rounded by the server to the nearest thousand
//!   ([`DimInfo::rounded`]); the request count is exact.
//! * **OpenAI-style.** `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`; the reset is a
//!   Go duration (`1s`, `6m0s`, `8.64s`, `20ms`, `1m30s`, see [`parse_go_duration`]) from
//!   now. `-tokens` is the combined TPM. Other servers write the same names otherwise: a
//!   bare number is read as the unprefixed `x-ratelimit-reset` is (below: seconds from now,
//!   or an epoch in seconds from 10^9, in milliseconds from 10^12), and an RFC 3339 time as
//!   Anthropic's; anything else (`1d`, a negative number) is absent, and so is a reset
//!   beyond [`ABSURD_MS`]. A reset more than a
//!   minute and a half out cannot be a minute's: the window is then an hour or a day, as the
//!   refill's arithmetic says (`window_of`; the free tier's requests per day).
//! * **Groq** sends the OpenAI names, but `x-ratelimit-*-requests` counts requests per *day*
//!   (RPD; tokens stay per minute). Its responses carry `x-groq-region`: with it, the request
//!   dimension's window is a day ([`Family::Groq`]).
//! * **Azure OpenAI** sends `x-ratelimit-remaining-{requests,tokens}`, mostly without limits
//!   or resets (and `-1` where it knows nothing: absent): read as the OpenAI family, remaining
//!   counts only.
//! * **Mistral**: `x-ratelimit-{limit,remaining,reset}-{req,tokens}-{second,minute,hour,day}`
//!   (the window is in the name, the shortest paced; a reset is seconds from now), and
//!   `-month` (a quota: with a longer window of a dimension beside its shortest, spent while
//!   no paced figure is, it is [`RateLimitInfo::quota_spent`]), and the older
//!   `ratelimitbysize-{limit,remaining,reset}` (tokens per minute, reset in seconds)
//!   ([`Family::Mistral`]). Cerebras sends the same names with `requests` for `req`
//!   (`x-ratelimit-limit-requests-day`, `x-ratelimit-reset-tokens-minute`), read alike.
//! * **Unprefixed `x-ratelimit-{limit,remaining,reset}`** (requests): OpenRouter sends
//!   `X-RateLimit-Reset` as epoch *milliseconds*; others as epoch seconds, or seconds from
//!   now. A number of at least 10^12 is epoch ms, of at least 10^9 epoch seconds (both on the
//!   server's clock, moved to ours through `Date`), anything smaller seconds from now; the
//!   window is a minute, or longer when the reset says so, as for OpenAI
//!   ([`Family::XRateLimit`]).
//! * **Together** sends the same three for requests *per second*, and
//!   `x-tokenlimit-{limit,remaining}` (tokens per second); the `x-tokenlimit-*` headers mark
//!   it: with them the windows are a second ([`Family::Together`]).
//! * **DeepSeek** (and vLLM, Ollama, most gateways) send none: see
//!   [adaptive mode](super::adaptive).
//! * **IETF draft-ietf-httpapi-ratelimit-headers-10.** `RateLimit-Policy: "burst";q=100;w=60,
//!   "daily";q=1000;w=86400` and `RateLimit: "burst";r=50;t=30`, parsed as RFC 9651
//!   structured-field Lists (see [below](#ietf-ratelimit-and-ratelimit-policy)).
//! * **The earlier IETF drafts**, still sent by many gateways (express-rate-limit's `draft-7`
//!   and `draft-6` modes, for one): draft-07's `RateLimit: limit=20, remaining=0, reset=7`
//!   (a Dictionary), and the separate `RateLimit-Limit: 20`, `RateLimit-Remaining: 0`,
//!   `RateLimit-Reset: 7` of draft-06 and before, each with `RateLimit-Policy: 20;w=10` (see
//!   [below](#the-earlier-drafts)). Also [`Family::Ietf`].
//!
//! Every limit, remaining count and reset is validated: a limit must be finite and `> 0`, a
//! remaining count finite and `>= 0`, both at most [`MAX_COUNT`]; a wait or a reset lies
//! within `[0, ABSURD_MS]` from now. Garbage in gives "absent": never a panic, a NaN, a
//! negative wait, or an absurd one. Unknown headers are ignored.
//!
//! **Duplicates.** When a header occurs several times, the first *valid* occurrence wins
//! (`retry-after: soon` followed by `retry-after: 2` gives 2 s). Valid means valid on its
//! own: a number in range, a date or a time that parses. An HTTP-date in `retry-after` and
//! an Anthropic reset are set against the `Date` header, which may come later, only once
//! every header is read; one that then lies beyond [`ABSURD_MS`] makes the field absent, it
//! does not let a later occurrence in. The exception is the two IETF fields, which are
//! Lists: their field lines combine into one list (RFC 9651 §3.1).
//!
//! **Several families.** Each dimension is taken whole from the first family, in the order
//! Anthropic, OpenAI (Groq), Mistral, Together / unprefixed, IETF (any draft), that says
//! anything about it (fields of different families are never mixed within one dimension);
//! [`RateLimitInfo::family`] is the first family, in that order, that yielded any dimension
//! field.
//!
//! # IETF `RateLimit` and `RateLimit-Policy`
//!
//! Both fields are parsed by hand as the subset of RFC 9651 they need: a List whose members
//! are Items (a String, or a Token, naming the policy) with Parameters. A syntax error makes
//! the whole field absent (the draft: "malformed RateLimit header fields MUST be ignored");
//! a member that parses but makes no sense (no `q`, a negative `r`, a `t` that is not an
//! Integer, an Inner List, ...) is skipped on its own.
//!
//! * A policy gives `q` (the quota, required, a non-negative Integer), `w` (the window in
//!   seconds, an Integer `> 0`), `qu` (the quota unit, default `"requests"`) and `pk` (a
//!   partition key, ignored). A policy without a valid `w` gives no limit (a quota without a
//!   window is not a rate), and a quota of 0 gives no limit.
//! * A service limit gives `r` (remaining) and `t` (seconds until more quota is available);
//!   it is matched to the policy of the same name. One with no matching policy still gives
//!   its remaining and reset.
//! * Only the request unit (`"requests"`, or `"request"` as the draft's IANA table spells it)
//!   maps to [`RateLimitInfo::requests`]; policies in other units (`content-bytes`,
//!   `concurrent-requests`, ...) are ignored for now.
//! * With several request policies, the most restrictive is kept: the service limit with the
//!   least remaining (ties: the longer reset) together with its policy; when no service limit
//!   is present, the policy with the lowest sustained rate `q / w`.
//! * `limit = q`, `window_ms = w * 1000`, `remaining = r`, `reset_at_ms = now_ms + t * 1000`.
//! * Field lines past the 8th, and members past the 32nd of a field, are ignored.
//!
//! ## The earlier drafts
//!
//! Of the drafts' forms, the newest that gives any valid value is read, whole (fields of two
//! drafts are never mixed): draft-10's named members above (draft-08 brought that form in),
//! else draft-07's `RateLimit` Dictionary, else draft-06's `RateLimit-Limit`,
//! `RateLimit-Remaining` and `RateLimit-Reset`. (Both forms of `RateLimit` in one response
//! make one field that is neither a List nor a Dictionary: absent.)
//!
//! * draft-07: the Dictionary's `limit`, `remaining` and `reset` (other keys ignored; of a key
//!   that repeats, the last counts, as RFC 9651 says). A syntax error makes the field absent.
//! * draft-06 and before: each field an Integer Item, read as a List (`fetch` joins a repeated
//!   field into one): the first occurrence that is a valid List, and its first member.
//!   `RateLimit-Limit` may carry its window (`100;w=60`), and in drafts 00 to 03 the quota
//!   policies after the limit (`RateLimit-Limit: 10, 10;w=1, 50;w=60`).
//! * Every value is an Integer: a limit in `[1, MAX_COUNT]`, a remaining count in
//!   `[0, MAX_COUNT]`; anything else (a Decimal, a String, a negative number) is absent on
//!   its own. The reset is delta-seconds; a number of at least 10^9 is no delay of 30 days or
//!   less but an epoch, read as for the unprefixed `x-ratelimit-reset` (seconds, or
//!   milliseconds from 10^12, on the server's clock through `Date`); beyond [`ABSURD_MS`]
//!   either way, absent.
//! * The window: the limit's own `w`, else that of the first quota policy (in
//!   `RateLimit-Limit` after the limit, then in `RateLimit-Policy: 10;w=1, 20;w=10`) whose
//!   quota is the limit and whose `w` is an Integer `> 0`, else inferred as for the
//!   per-minute names (`window_of`: a minute, or an hour or a day when the reset says so).
//!   Without a limit there is no window, and policies alone give no limit (which of them a
//!   remaining count is of, nothing says).
//!
//! ```
//! use llm_pacer::core::headers::{parse, Family};
//!
//! let now = 1_000_000.0;
//! let info = parse(
//!     [
//!         ("x-ratelimit-limit-requests", "60"),
//!         ("x-ratelimit-remaining-requests", "59"),
//!         ("x-ratelimit-reset-requests", "1s"),
//!         ("X-RateLimit-Limit-Tokens", "150000"),
//!         ("x-ratelimit-remaining-tokens", "149984"),
//!         ("x-ratelimit-reset-tokens", "6m0s"),
//!         ("retry-after", "2"),
//!     ],
//!     now,
//! );
//! assert_eq!(info.family, Family::OpenAi);
//! assert_eq!(info.retry_after_ms, Some(2_000.0));
//! assert_eq!(info.requests.limit, Some(60.0));
//! assert_eq!(info.requests.reset_at_ms, Some(now + 1_000.0));
//! assert_eq!(info.tokens.reset_at_ms, Some(now + 360_000.0));
//! assert_eq!(info.tokens.window_ms, Some(60_000.0));
//! ```

use super::Ms;

/// Hints beyond this many milliseconds (30 days) are not a hint but garbage: treated as absent.
pub const ABSURD_MS: Ms = 30.0 * 24.0 * 3_600_000.0;

/// Limits and remaining counts above this (a trillion) are garbage: treated as absent.
pub const MAX_COUNT: f64 = 1.0e12;

/// The window of the per-minute limits (Anthropic, OpenAI).
const MINUTE_MS: Ms = 60_000.0;

/// The window of Groq's request limit (requests per day).
const DAY_MS: Ms = 86_400_000.0;

/// An hour, the window between a minute and a day.
const HOUR_MS: Ms = 3_600_000.0;

/// The window of a limit sent under per-minute names, checked against its reset (ms from
/// now). A bucket refills whole within its window, so a reset more than a minute (and a
/// half, for a late clock) out says the window is longer: OpenAI's free tier sends its
/// requests per day under the same names (limit 200, remaining 199, reset `7m12s`), and
/// OpenRouter its free models' requests per day. The window is then the one the refill's
/// arithmetic gives, `reset × limit / (limit − remaining)` (the reset itself with nothing
/// left or no count), if that is within 15% of an hour or a day.
///
/// Anything else stays a minute, as the names say. A minute taken for a day costs a 429
/// (whose hint then says the rest); a day taken for a minute would slow the pacer down
/// 1,440-fold, so only figures that agree on the longer window count. The OpenAI docs' own
/// example (16 tokens of 150,000 spent, `6m0s` to refill them: 39 days) does not, nor does
/// 100 of 30,000 with `6m0s` (30 hours).
pub(crate) fn window_of(limit: Option<f64>, remaining: Option<f64>, reset_in: Option<Ms>) -> Ms {
    let Some(reset) = reset_in.filter(|&r| r > 1.5 * MINUTE_MS) else {
        return MINUTE_MS;
    };
    let spent = match (limit, remaining) {
        (Some(l), Some(r)) if r < l => (l - r) / l,
        // A count left of no known limit, or a full bucket: nothing to go by.
        (_, Some(r)) if r > 0.0 => return MINUTE_MS,
        _ => 1.0,
    };
    let w = reset / spent;
    [HOUR_MS, DAY_MS]
        .into_iter()
        .find(|&d| (0.85 * d..=1.15 * d).contains(&w))
        .unwrap_or(MINUTE_MS)
}

mod families;
mod ietf;
mod sf;
#[cfg(test)]
mod tests;

pub use super::time::{parse_go_duration, parse_http_date, parse_rfc3339};
use ietf::ietf_requests;

/// What the headers say about one metered dimension.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DimInfo {
    /// The limit: the bucket's capacity, in requests or tokens per `window_ms`.
    pub limit: Option<f64>,
    /// What the server says remains now.
    pub remaining: Option<f64>,
    /// When the bucket is full again, as a *local* epoch-ms time (corrected for the server's
    /// clock through its `Date` header when present). Never before the `now_ms` given to
    /// [`parse`] (a reset in the past means "full now"), never more than [`ABSURD_MS`] after.
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

/// Which header family a [`RateLimitInfo`] came from: the first, in the order Anthropic,
/// OpenAI, IETF, that yielded any dimension field.
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
    /// Groq: the OpenAI names, requests per day (`x-groq-region` present).
    Groq,
    /// Mistral: `x-ratelimit-*-{req,tokens}-{minute,...}` or `ratelimitbysize-*`.
    Mistral,
    /// Unprefixed `x-ratelimit-{limit,remaining,reset}` (OpenRouter and others), per minute.
    XRateLimit,
    /// Together: unprefixed `x-ratelimit-*` and `x-tokenlimit-*`, per second.
    Together,
}

/// Everything the response headers say, parsed and validated.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RateLimitInfo {
    /// How long the server asks us to wait, ms, relative to `now_ms` given to [`parse`].
    /// `retry-after-ms` wins over `retry-after`. Finite, at least [`MIN_HINT_MS`], `<= ABSURD_MS`, or absent (a
    /// zero wait, or a date not after the response's, is no hint: the backoff applies).
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
    /// A quota of a longer period than the limits paced reports nothing left, while none of
    /// those reports a spent limit: Mistral's `x-ratelimit-remaining-tokens-month: 0` (or a
    /// `-day` beside the same dimension's `-minute`) with room in the minute. A 429 then is
    /// that quota's, and no wait within reason helps: the driver marks its error so
    /// ([`RateLimitInfo::quota_error`]), and it fails like `insufficient_quota`.
    pub quota_spent: bool,
}

impl RateLimitInfo {
    /// The combined-tokens figures when they describe a bucket of their own (OpenAI's TPM):
    /// `None` when input or output tokens are reported too, as Anthropic does, whose
    /// `tokens-*` only repeat the most restrictive of those two.
    pub fn combined_tokens(&self) -> Option<&DimInfo> {
        (self.input_tokens.is_empty() && self.output_tokens.is_empty()).then_some(&self.tokens)
    }

    /// The error a response with these headers is classified with
    /// ([`classify`](crate::core::classify::classify)), when they change it: a 429's `error`
    /// (or none read) marked as a spent quota ([`ErrorInfo::daily_quota`]) when they show one
    /// ([`RateLimitInfo::quota_spent`]). `None`: `error` as it is. The pacer and the
    /// `classify()` export both read a response through it.
    ///
    /// [`ErrorInfo::daily_quota`]: crate::core::classify::ErrorInfo::daily_quota
    pub fn quota_error(
        &self,
        status: u16,
        error: Option<&crate::core::classify::ErrorInfo>,
    ) -> Option<crate::core::classify::ErrorInfo> {
        (status == 429 && self.quota_spent).then(|| crate::core::classify::ErrorInfo {
            daily_quota: true,
            ..error.cloned().unwrap_or_default()
        })
    }

    /// True when no rate-limit dimension was found (hints may still be present).
    pub fn has_limits(&self) -> bool {
        !(self.requests.is_empty()
            && self.input_tokens.is_empty()
            && self.output_tokens.is_empty()
            && self.tokens.is_empty())
    }
}

/// Header lines `name:value`, one per line, as the package's `headerLines` writes a
/// `Headers` (names are tokens, without `:`, and values hold no line break: the Fetch
/// standard); a line without `:` is skipped.
///
/// One pass over the bytes, each looked at once (a `split('\n')` then `split_once(':')` set a
/// searcher up twice a line, the larger part of reading a short line).
pub fn lines(text: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = text;
    core::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let b = rest.as_bytes();
        let mut colon = None;
        let mut end = 0;
        while end < b.len() && b[end] != b'\n' {
            if colon.is_none() && b[end] == b':' {
                colon = Some(end);
            }
            end += 1;
        }
        // Both at ASCII bytes, so on character boundaries: `get` never fails here (and,
        // unlike indexing, brings no panic's formatting into the Wasm module).
        let line = rest.get(..end).unwrap_or_default();
        rest = rest.get(end + 1..).unwrap_or_default();
        if let Some(c) = colon {
            return Some((line.get(..c)?, line.get(c + 1..)?));
        }
    })
}

/// Parse response headers. Names are matched case-insensitively; unknown headers are ignored.
/// `now_ms` is the local time the response arrived; absolute times in the headers are
/// converted to local time through the server's `Date` header when it is present.
///
/// One pass over the headers, no allocation: values are validated as they come, and the
/// conversions that need the `Date` header happen at the end.
///
/// ```
/// use llm_pacer::core::headers::{parse, Family};
///
/// // The server's clock is 2 s ahead of ours: the reset is moved onto our clock.
/// let now = 1_795_352_670_000.0; // 2026-11-22T13:04:30Z on our clock
/// let info = parse(
///     [
///         ("date", "Sun, 22 Nov 2026 13:04:32 GMT"),
///         ("anthropic-ratelimit-input-tokens-limit", "30000"),
///         ("anthropic-ratelimit-input-tokens-remaining", "29000"),
///         ("anthropic-ratelimit-input-tokens-reset", "2026-11-22T13:04:34Z"),
///     ],
///     now,
/// );
/// assert_eq!(info.family, Family::Anthropic);
/// assert_eq!(info.input_tokens.remaining, Some(29_000.0));
/// assert!(info.input_tokens.rounded);
/// assert_eq!(info.input_tokens.reset_at_ms, Some(now + 2_000.0));
/// ```
pub fn parse<'a, I>(headers: I, now_ms: Ms) -> RateLimitInfo
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut raw = Raw::default();
    for (name, value) in headers {
        if let Some(key) = key_of(name) {
            raw.feed(key, value.trim());
        }
    }
    raw.finish(now_ms)
}

/// `x-should-retry` alone, as [`parse`] reads it (the first valid occurrence), for a driver
/// that needs it before the rest (whether an error body matters: `classify::needs_error_body`).
pub fn should_retry<'a, I>(headers: I) -> Option<bool>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    headers
        .into_iter()
        .filter(|(name, _)| matches!(key_of(name), Some(Key::ShouldRetry)))
        .find_map(|(_, value)| retry_flag(value.trim()))
}

/// An `x-should-retry` value: exactly `true` or `false`, in any case.
fn retry_flag(v: &str) -> Option<bool> {
    if v.eq_ignore_ascii_case("true") {
        Some(true)
    } else if v.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A non-negative decimal number: `12`, `1.5`, `.5`, `1.`, optionally with an exponent
/// (`1e-05`, as some float formatters write small values). No sign, no `inf`, no `NaN`.
/// A header's number: digits with an optional fraction (`49999`, `1.5`, `.5`). No exponent:
/// no server writes one, and `retry-after: 1e3` is not the delay-seconds of RFC 9110 (only
/// digits), so it is garbage, not a 1,000 s wait.
fn parse_number(s: &str) -> Option<f64> {
    if s.bytes().any(|b| b | 0x20 == b'e') {
        return None;
    }
    super::decimal::parse(s).filter(|v| v.is_finite())
}

/// A wait given in ms: finite, within `[0, ABSURD_MS]`.
fn valid_wait(ms: f64) -> Option<Ms> {
    (ms.is_finite() && (0.0..=ABSURD_MS).contains(&ms)).then_some(ms + 0.0)
}

/// A retry hint's number, or the largest of a list of them: `fetch`'s `Headers` joins a
/// field sent more than once with `", "` (`retry-after: 2, 2`), and the safe reading of a
/// server that repeats itself is its longest wait, not none. (Only that separator: `1,5` may
/// be a decimal comma, and stays garbage.)
fn parse_hint_number(s: &str) -> Option<f64> {
    parse_number(s).or_else(|| {
        let mut parts = s.split(',');
        let mut max = parse_number(parts.next()?)?;
        for part in parts {
            max = max.max(parse_number(part.strip_prefix(' ')?)?);
        }
        Some(max)
    })
}

/// A retry hint (`retry-after`, `retry-after-ms`): a valid wait of at least [`MIN_HINT_MS`].
/// A zero wait (or a date not after the response's) is no hint: retried at once, it would
/// make a server that keeps saying so a loop of back-to-back requests, so the backoff
/// applies, as the Anthropic SDK does. So is a wait under a millisecond (`retry-after:
/// 0.0001`, `retry-after-ms: 0.4`): "now" in other words. `retry-after-ms: 0` beside
/// `retry-after: 30` gives 30 s. In whole milliseconds, rounded up ([`whole_ms`]):
/// `retry-after-ms: 1.5` is 2 ms.
pub(crate) fn valid_hint(ms: f64) -> Option<Ms> {
    valid_wait(ms).filter(|&ms| ms >= MIN_HINT_MS).map(whole_ms)
}

/// A wait in whole milliseconds, rounded up: never shorter than the server said
/// (`retry-after-ms: 1.5` is 2 ms, `1.234567s` 1,235 ms). Within 10^-13 of a whole number
/// (relative) it is that number: the decimal's error in binary, not a fraction the server
/// wrote (`retry-after: 2.007` times 1,000 is 2,007.0000000000002, `1.005` 1,004.9999999999999).
pub fn whole_ms(ms: Ms) -> Ms {
    let r = ms.round();
    if (ms - r).abs() <= r.abs() * 1e-13 {
        r
    } else {
        ms.ceil()
    }
}

/// The shortest wait that is a retry hint, ms: anything shorter is "now", no hint.
pub const MIN_HINT_MS: Ms = 1.0;

/// A limit: finite, at least 1 (below, a bucket never holds one request or token: every call
/// would be refused, and none sent again to correct it), at most [`MAX_COUNT`].
fn parse_limit(s: &str) -> Option<f64> {
    parse_number(s).filter(|v| (1.0..=MAX_COUNT).contains(v))
}

/// A remaining count: finite, `>= 0`, at most [`MAX_COUNT`].
fn parse_remaining(s: &str) -> Option<f64> {
    parse_number(s).filter(|&v| v <= MAX_COUNT).map(|v| v + 0.0)
}

/// An OpenAI reset: a Go duration, valid as a wait.
fn parse_go_reset(s: &str) -> Option<Ms> {
    parse_go_duration(s).and_then(valid_wait)
}

/// A local reset time `delta` ms after `now_ms`: a delta in the past means now, a delta
/// beyond [`ABSURD_MS`] (or not finite) means absent.
fn reset_after(now_ms: Ms, delta: Ms) -> Option<Ms> {
    if !delta.is_finite() || delta > ABSURD_MS {
        return None;
    }
    let t = now_ms + delta.max(0.0);
    t.is_finite().then_some(t)
}

// ---------------------------------------------------------------------------------------------
// Header names.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Limit,
    Remaining,
    Reset,
}

/// Indices into [`Raw::anthropic`].
const A_REQUESTS: usize = 0;
const A_TOKENS: usize = 1;
const A_INPUT: usize = 2;
const A_OUTPUT: usize = 3;
const A_PRIORITY_INPUT: usize = 4;
const A_PRIORITY_OUTPUT: usize = 5;
/// Indices into [`Raw::openai`].
const O_REQUESTS: usize = 0;
const O_TOKENS: usize = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    RetryAfterMs,
    RetryAfter,
    ShouldRetry,
    Date,
    Anthropic(usize, Field),
    OpenAi(usize, Field),
    Policy,
    RateLimit,
    /// `ratelimit-{limit,remaining,reset}`: the IETF drafts up to 06.
    Older(Field),
    /// `x-groq-region`: the response is Groq's.
    GroqMarker,
    /// Mistral: (0 requests / 1 tokens, field, window: 0 second, 1 minute, 2 hour, 3 day).
    Mistral(usize, Field, usize),
    /// Unprefixed `x-ratelimit-{limit,remaining,reset}`.
    Plain(Field),
    /// Together's `x-tokenlimit-{limit,remaining,reset}`.
    TokenLimit(Field),
}

/// What a header name means, if anything. Case-insensitive, without allocating.
fn key_of(name: &str) -> Option<Key> {
    const LONGEST: usize = 48; // "anthropic-ratelimit-output-tokens-remaining" is 43
    let n = name.as_bytes();
    if n.len() > LONGEST {
        return None;
    }
    let mut buf = [0u8; LONGEST];
    let l = &mut buf[..n.len()];
    l.copy_from_slice(n);
    l.make_ascii_lowercase();
    let l: &[u8] = l;
    Some(match l {
        // Azure's own name for it.
        b"retry-after-ms" | b"x-ms-retry-after-ms" => Key::RetryAfterMs,
        b"retry-after" => Key::RetryAfter,
        b"x-should-retry" => Key::ShouldRetry,
        b"date" => Key::Date,
        b"ratelimit-policy" => Key::Policy,
        b"ratelimit" => Key::RateLimit,
        b"x-groq-region" => Key::GroqMarker,
        _ => {
            if let Some(k) = families::key_of(l) {
                return Some(k);
            }
            if let Some(rest) = l.strip_prefix(b"anthropic-ratelimit-") {
                let (dim, field) = dim_then_field(rest)?;
                let dim = match dim {
                    b"requests" => A_REQUESTS,
                    b"tokens" => A_TOKENS,
                    b"input-tokens" => A_INPUT,
                    b"output-tokens" => A_OUTPUT,
                    _ => return None,
                };
                Key::Anthropic(dim, field)
            } else if let Some(rest) = l.strip_prefix(b"anthropic-priority-") {
                let (dim, field) = dim_then_field(rest)?;
                let dim = match dim {
                    b"input-tokens" => A_PRIORITY_INPUT,
                    b"output-tokens" => A_PRIORITY_OUTPUT,
                    _ => return None,
                };
                Key::Anthropic(dim, field)
            } else if let Some(rest) = l.strip_prefix(b"x-ratelimit-") {
                let (field, dim) = if let Some(d) = rest.strip_prefix(b"limit-") {
                    (Field::Limit, d)
                } else if let Some(d) = rest.strip_prefix(b"remaining-") {
                    (Field::Remaining, d)
                } else if let Some(d) = rest.strip_prefix(b"reset-") {
                    (Field::Reset, d)
                } else {
                    return None;
                };
                let dim = match dim {
                    b"requests" => O_REQUESTS,
                    b"tokens" => O_TOKENS,
                    _ => return None,
                };
                Key::OpenAi(dim, field)
            } else {
                return None;
            }
        }
    })
}

/// `input-tokens-remaining` -> (`input-tokens`, Remaining).
fn dim_then_field(rest: &[u8]) -> Option<(&[u8], Field)> {
    if let Some(d) = rest.strip_suffix(b"-limit") {
        Some((d, Field::Limit))
    } else if let Some(d) = rest.strip_suffix(b"-remaining") {
        Some((d, Field::Remaining))
    } else {
        rest.strip_suffix(b"-reset").map(|d| (d, Field::Reset))
    }
}

// ---------------------------------------------------------------------------------------------
// The one pass.

/// What `retry-after` said, before the `Date` header is known.
#[derive(Debug, Clone, Copy)]
struct RetryAfter {
    /// The longest delta-seconds, in ms (not yet checked as a hint).
    delay_ms: Option<Ms>,
    /// The latest HTTP-date, epoch ms on the server's clock.
    at: Option<Ms>,
}

impl RetryAfter {
    /// A `retry-after` value: delta-seconds or an HTTP-date, or a list of them, `fetch`'s
    /// join of a field sent more than once (`5, Sun, 06 Dec 2026 12:00:10 GMT`: a date keeps
    /// the comma after its day's name). A list gives its longest wait; a member that is
    /// neither makes the whole value garbage, as in [`parse_hint_number`].
    fn parse(v: &str) -> Option<Self> {
        if let Some(secs) = parse_hint_number(v) {
            return Some(RetryAfter {
                delay_ms: Some(valid_hint(secs * 1000.0)?),
                at: None,
            });
        }
        if let Some(at) = parse_http_date(v) {
            return Some(RetryAfter {
                delay_ms: None,
                at: Some(at),
            });
        }
        let mut out = RetryAfter {
            delay_ms: None,
            at: None,
        };
        let mut rest = v;
        loop {
            let (member, tail) = match rest.split_once(',') {
                // A day's name: the date goes on past its comma (IMF-fixdate, RFC 850).
                Some((day, after))
                    if !day.is_empty() && day.bytes().all(|b| b.is_ascii_alphabetic()) =>
                {
                    match after.split_once(',') {
                        Some((date, tail)) => (rest.get(..day.len() + 1 + date.len())?, Some(tail)),
                        None => (rest, None),
                    }
                }
                Some((member, tail)) => (member, Some(tail)),
                None => (rest, None),
            };
            if let Some(secs) = parse_number(member) {
                let ms = secs * 1000.0;
                out.delay_ms = Some(out.delay_ms.map_or(ms, |d| d.max(ms)));
            } else {
                let at = parse_http_date(member)?;
                out.at = Some(out.at.map_or(at, |a| a.max(at)));
            }
            match tail {
                // Members after the first follow `", "`, as `fetch` joins them.
                Some(tail) => rest = tail.strip_prefix(' ')?,
                None => return Some(out),
            }
        }
    }

    /// The wait it gives, against the server's `date` (else `now_ms`): its longest, if that
    /// is a valid hint ([`valid_hint`]).
    fn wait_ms(&self, date: Option<Ms>, now_ms: Ms) -> Option<Ms> {
        let until = self.at.map(|at| at - date.unwrap_or(now_ms));
        let longest = match (self.delay_ms, until) {
            (Some(d), Some(u)) => d.max(u),
            (d, u) => d.or(u)?,
        };
        valid_hint(longest)
    }
}

/// One dimension as read; `reset` is absolute on the server's clock (Anthropic) or ms from
/// now (OpenAI).
#[derive(Debug, Clone, Copy, Default)]
struct RawDim {
    limit: Option<f64>,
    remaining: Option<f64>,
    reset: Option<Ms>,
}

impl RawDim {
    /// Fill `field` from `v` with `parse`, unless an earlier valid value holds it.
    fn fill(&mut self, field: Field, v: &str, parse: impl FnOnce(&str) -> Option<f64>) {
        let slot = match field {
            Field::Limit => &mut self.limit,
            Field::Remaining => &mut self.remaining,
            Field::Reset => &mut self.reset,
        };
        if slot.is_none() {
            *slot = parse(v);
        }
    }
}

/// The field lines of one IETF List field. Lines past the capacity are dropped.
#[derive(Debug, Clone, Copy, Default)]
struct Lines<'a> {
    lines: [&'a str; Lines::CAP],
    n: usize,
}

impl<'a> Lines<'a> {
    const CAP: usize = 8;
    fn push(&mut self, line: &'a str) {
        if self.n < Self::CAP {
            self.lines[self.n] = line;
            self.n += 1;
        }
    }
    fn get(&self) -> &[&'a str] {
        &self.lines[..self.n]
    }
}

#[derive(Debug, Default)]
struct Raw<'a> {
    retry_after_ms: Option<Ms>,
    retry_after: Option<RetryAfter>,
    should_retry: Option<bool>,
    date: Option<Ms>,
    anthropic: [RawDim; 6],
    openai: [RawDim; 2],
    /// The OpenAI reset is no Go duration but a bare number or an RFC 3339 time, kept as
    /// sent (an epoch ms for a time) until the `Date` header is known
    /// ([`families::reset_number`]).
    openai_bare: [bool; 2],
    policy: Lines<'a>,
    ratelimit: Lines<'a>,
    /// `ratelimit-{limit,remaining,reset}`, by [`Field`]: the first line that is a List.
    older: [Option<&'a str>; 3],
    more: families::Raw,
}

impl<'a> Raw<'a> {
    fn feed(&mut self, key: Key, v: &'a str) {
        match key {
            Key::RetryAfterMs => {
                if self.retry_after_ms.is_none() {
                    self.retry_after_ms = parse_hint_number(v).and_then(valid_hint);
                }
            }
            Key::RetryAfter => {
                if self.retry_after.is_none() {
                    self.retry_after = RetryAfter::parse(v);
                }
            }
            Key::ShouldRetry => {
                if self.should_retry.is_none() {
                    self.should_retry = retry_flag(v);
                }
            }
            Key::Date => {
                if self.date.is_none() {
                    self.date = parse_http_date(v);
                }
            }
            Key::Anthropic(dim, field) => self.anthropic[dim].fill(
                field,
                v,
                match field {
                    Field::Limit => parse_limit,
                    Field::Remaining => parse_remaining,
                    Field::Reset => parse_rfc3339,
                },
            ),
            Key::OpenAi(dim, Field::Reset) => {
                let r = &mut self.openai[dim];
                if r.reset.is_none() {
                    r.reset = parse_go_reset(v);
                    if r.reset.is_none() {
                        // (A time before 2001 would read as epoch seconds: none is sent.)
                        let time = || parse_rfc3339(v).filter(|&t| t >= families::EPOCH_MS_FROM);
                        r.reset = parse_number(v).or_else(time);
                        self.openai_bare[dim] = r.reset.is_some();
                    }
                }
            }
            Key::OpenAi(dim, field) => self.openai[dim].fill(
                field,
                v,
                match field {
                    Field::Limit => parse_limit,
                    _ => parse_remaining,
                },
            ),
            Key::Policy => self.policy.push(v),
            Key::RateLimit => self.ratelimit.push(v),
            Key::Older(f) => {
                let first = &mut self.older[f as usize];
                if first.is_none() && sf::fields_ok(&[v], false) {
                    *first = Some(v);
                }
            }
            Key::GroqMarker | Key::Mistral(..) | Key::Plain(_) | Key::TokenLimit(_) => {
                self.more.feed(key, v)
            }
        }
    }

    fn finish(&self, now_ms: Ms) -> RateLimitInfo {
        let date = self.date;
        let retry_after_ms = self
            .retry_after_ms
            .or_else(|| self.retry_after.as_ref()?.wait_ms(date, now_ms));

        let anthropic = |i: usize, rounded_tokens: bool| {
            let r = self.anthropic[i];
            let reset_at_ms = r
                .reset
                .and_then(|reset| reset_after(now_ms, reset - date.unwrap_or(now_ms)));
            dim_info(r.limit, r.remaining, reset_at_ms, MINUTE_MS, rounded_tokens)
        };
        let groq = self.more.groq;
        let openai = |i: usize| {
            let r = self.openai[i];
            let reset_at_ms = r.reset.and_then(|d| {
                if self.openai_bare[i] {
                    families::reset_number(d, now_ms, date)
                } else {
                    reset_after(now_ms, d)
                }
            });
            let window = if groq && i == O_REQUESTS {
                DAY_MS
            } else {
                window_of(r.limit, r.remaining, reset_at_ms.map(|t| t - now_ms))
            };
            dim_info(r.limit, r.remaining, reset_at_ms, window, false)
        };
        let a_requests = anthropic(A_REQUESTS, false);
        let a_tokens = anthropic(A_TOKENS, true);
        let a_input = anthropic(A_INPUT, true);
        let a_output = anthropic(A_OUTPUT, true);
        let a_prio_in = anthropic(A_PRIORITY_INPUT, true);
        let a_prio_out = anthropic(A_PRIORITY_OUTPUT, true);
        let o_requests = openai(O_REQUESTS);
        let o_tokens = openai(O_TOKENS);
        let ietf = ietf_requests(
            self.policy.get(),
            self.ratelimit.get(),
            self.older,
            now_ms,
            date,
        );
        let more = self.more.finish(now_ms, date);

        let family = if [
            a_requests, a_tokens, a_input, a_output, a_prio_in, a_prio_out,
        ]
        .iter()
        .any(|d| !d.is_empty())
        {
            Family::Anthropic
        } else if !(o_requests.is_empty() && o_tokens.is_empty()) {
            if groq {
                Family::Groq
            } else {
                Family::OpenAi
            }
        } else if let Some(f) = more.family {
            f
        } else if !ietf.is_empty() {
            Family::Ietf
        } else {
            Family::None
        };
        let first = |dims: &[DimInfo]| dims.iter().copied().find(|d| !d.is_empty());

        RateLimitInfo {
            retry_after_ms,
            should_retry: self.should_retry,
            requests: first(&[a_requests, o_requests, more.requests, ietf]).unwrap_or_default(),
            input_tokens: a_input,
            output_tokens: a_output,
            tokens: first(&[a_tokens, o_tokens, more.tokens]).unwrap_or_default(),
            priority_input_tokens: a_prio_in,
            priority_output_tokens: a_prio_out,
            server_date_ms: date,
            family,
            quota_spent: more.quota_spent,
        }
    }
}

/// A [`DimInfo`], with the window and the rounding flag only when the fields they qualify
/// are present.
fn dim_info(
    limit: Option<f64>,
    remaining: Option<f64>,
    reset_at_ms: Option<Ms>,
    window_ms: Ms,
    rounded: bool,
) -> DimInfo {
    let d = DimInfo {
        limit,
        remaining,
        reset_at_ms,
        window_ms: None,
        rounded: rounded && remaining.is_some(),
    };
    if d.is_empty() {
        DimInfo::default()
    } else {
        DimInfo {
            window_ms: Some(window_ms),
            ..d
        }
    }
}
