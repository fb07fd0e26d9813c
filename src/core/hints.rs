//! Waits and verdicts that an error *body* states, when the headers say nothing.
//!
//! * **Gemini** (`google.rpc` error details in a 429 `RESOURCE_EXHAUSTED`):
//!   `RetryInfo.retryDelay`, a protobuf `Duration` in its JSON form (`"37s"`, `"1.5s"`,
//!   `"0.200s"`: decimal seconds, then `s`), read by [`parse_proto_duration`]; and
//!   `QuotaFailure.violations[].quotaId` / `quotaMetric`: a quota counted per day
//!   ([`is_per_day_quota`]) is not retried, like OpenAI's `insufficient_quota`: no wait within
//!   reason helps.
//! * **OpenAI** states the wait in the message only: `"... Please try again in 1.5s. ..."`,
//!   `"in 20ms"`, `"in 6m0s"`: a Go duration after `try again in `, read by
//!   [`parse_try_again`]. A hint of last resort: used only when no header and no `RetryInfo`
//!   gives one. A request larger than the limit itself is a 429 too, whose message states both
//!   numbers (`"Request too large for gpt-4o ... on tokens per min (TPM): Limit 30000,
//!   Requested 36278. The input or output tokens must be reduced ..."`; Groq's reads the
//!   same): [`exceeds_limit`] tells it apart, and it is not retried: no wait can help.
//! * **Cerebras** sends the same `code` for a per-minute limit and a per-day one (its error at
//!   the top level: `{"message":"Tokens per day limit exceeded - too many tokens processed.",
//!   "type":"too_many_tokens_error","param":"quota","code":"token_quota_exceeded"}`, and
//!   `"Tokens per minute limit exceeded ..."` with the same code; `request_quota_exceeded` for
//!   requests): only the message tells the day apart ([`names_daily_limit`]). A per-day limit
//!   is not retried, like Gemini's; per minute (or per hour) it is.
//! * **xAI** states a spent balance in words only: `{"code":"Some resource has been
//!   exhausted","error":"Your team ... has either used all available credits or reached its
//!   monthly spending limit. ..."}`, a 429 with the same `code` as its passing "The service is
//!   temporarily at capacity" ([`states_spent`]). Not retried, like a spend limit.
//!
//! Every wait goes through the guard of `retry-after`, `headers::valid_hint` (finite, `>= 1` ms,
//! at most [`ABSURD_MS`](super::headers::ABSURD_MS): else absent) and is then capped by
//! `maxRetryAfterMs` like any server hint.
//! Header hints win over body hints ([`retry_hint`]). Parsing is bounded: the message is
//! searched in its first [`MAX_MESSAGE_BYTES`] only, and a value longer than
//! [`MAX_VALUE_BYTES`] is no value.
//!
//! ```
//! use llm_pacer::core::hints::*;
//!
//! assert_eq!(parse_proto_duration("37s"), Some(37_000.0));
//! assert_eq!(parse_try_again("Rate limit reached. Please try again in 1.5s. Visit ..."), Some(1_500.0));
//! assert_eq!(parse_try_again("Please try again in 6m0s."), Some(360_000.0));
//! assert!(exceeds_limit("Request too large for gpt-4o ... (TPM): Limit 30000, Requested 36278."));
//! assert!(!exceeds_limit("Rate limit reached ... (TPM): Limit 30000, Used 29000, Requested 2000."));
//! assert!(is_per_day_quota("GenerateRequestsPerDayPerProjectPerModel-FreeTier"));
//! assert!(!is_per_day_quota("GenerateRequestsPerMinutePerProjectPerModel-FreeTier"));
//! assert!(names_daily_limit(Some("token_quota_exceeded"), "Tokens per day limit exceeded - too many tokens processed."));
//! assert!(!names_daily_limit(Some("token_quota_exceeded"), "Tokens per minute limit exceeded - too many tokens processed."));
//! assert!(states_spent("Your team has either used all available credits or reached its monthly spending limit."));
//! assert!(!states_spent("The service is temporarily at capacity. Please retry your request shortly."));
//! ```

use super::headers::{parse_go_duration, valid_hint, RateLimitInfo};
use super::Ms;

/// Only this many bytes of a message are searched for `try again in`.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// A duration or quota id longer than this is garbage.
pub const MAX_VALUE_BYTES: usize = 256;

/// A protobuf `Duration` in JSON (`google.rpc.RetryInfo.retryDelay`): decimal seconds
/// (digits, optionally `.` and up to 9 fraction digits) then `s`. No sign (a wait is never
/// negative), no exponent, surrounding spaces trimmed.
pub fn parse_proto_duration(s: &str) -> Option<Ms> {
    let s = s.trim();
    if s.len() > MAX_VALUE_BYTES {
        return None;
    }
    let num = s.strip_suffix('s')?;
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || frac.len() > 9 {
        return None;
    }
    if num.ends_with('.') {
        return None;
    }
    super::decimal::parse(num).and_then(|secs| valid_hint(secs * 1000.0))
}

/// The wait in an OpenAI message: the Go duration right after the first `try again in `
/// (any case) within the first [`MAX_MESSAGE_BYTES`], ending at a space, a comma, a
/// semicolon, a closing parenthesis or the end, with a final `.` (the end of the sentence)
/// removed.
pub fn parse_try_again(message: &str) -> Option<Ms> {
    const NEEDLE: &[u8] = b"try again in ";
    let b = message.as_bytes();
    let b = &b[..b.len().min(MAX_MESSAGE_BYTES)];
    let at = find_any_case(b, NEEDLE)?;
    let rest = &b[at + NEEDLE.len()..];
    let end = rest
        .iter()
        .position(|c| matches!(c, b' ' | b',' | b';' | b')' | b'\n' | b'\r' | b'\t'))
        .unwrap_or(rest.len());
    let mut word = &rest[..end];
    if let Some(w) = word.strip_suffix(b".") {
        word = w;
    }
    if word.len() > MAX_VALUE_BYTES {
        return None;
    }
    let word = core::str::from_utf8(word).ok()?;
    parse_go_duration(word).and_then(valid_hint)
}

/// Does the message state a request larger than the limit itself: a number after `Limit `
/// below the number after `Requested ` (the first of each, any case, within the first
/// [`MAX_MESSAGE_BYTES`]; digits with `,` separators allowed)? Such a request can never be
/// served, however long one waits (OpenAI's and Groq's `Request too large ...`). An ordinary
/// 429 (`Limit 30000, Used 29000, Requested 2000`) requests less than the limit.
pub fn exceeds_limit(message: &str) -> bool {
    let b = message.as_bytes();
    let b = &b[..b.len().min(MAX_MESSAGE_BYTES)];
    match (number_after(b, b"limit "), number_after(b, b"requested ")) {
        (Some(limit), Some(requested)) => requested > limit,
        _ => false,
    }
}

/// The number right after the first `needle` (any case) that is followed by one: a digit,
/// then digits and `,` (a final `,` is punctuation), at most 20 characters.
fn number_after(b: &[u8], needle: &[u8]) -> Option<u128> {
    let mut from = 0;
    while let Some(at) = find_any_case(&b[from..], needle) {
        let rest = &b[from + at + needle.len()..];
        let len = rest
            .iter()
            .position(|c| !(c.is_ascii_digit() || *c == b','))
            .unwrap_or(rest.len());
        let word = &rest[..len];
        let word = word.strip_suffix(b",").unwrap_or(word);
        if !word.is_empty() && word[0].is_ascii_digit() && word.len() <= 20 {
            let digits = word.iter().filter(|c| c.is_ascii_digit());
            return Some(digits.fold(0, |n, &c| n * 10 + u128::from(c - b'0')));
        }
        from += at + needle.len();
    }
    None
}

/// Is this Gemini quota (a `QuotaFailure` violation's `quotaId` or `quotaMetric`) counted per
/// day? `PerDay` (`GenerateRequestsPerDayPerProjectPerModel`) or `per_day`
/// (`..._requests_per_model_per_day`), any case.
pub fn is_per_day_quota(id: &str) -> bool {
    let b = id.as_bytes();
    if b.len() > MAX_VALUE_BYTES {
        return false;
    }
    let has = |n: &[u8]| find_any_case(b, n).is_some();
    has(b"perday") || has(b"per_day") || has(b"per-day")
}

/// Where `needle` (ASCII, any case) first occurs in `hay`: byte windows (`str::contains`
/// would link the two-way searcher into the module), in one place for every search here.
#[inline(never)]
fn find_any_case(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

/// Does `message` hold `needle` (ASCII, any case) within its first [`MAX_MESSAGE_BYTES`]?
fn says(message: &str, needle: &[u8]) -> bool {
    let b = message.as_bytes();
    find_any_case(&b[..b.len().min(MAX_MESSAGE_BYTES)], needle).is_some()
}

/// Does a Cerebras quota error name a limit counted per day? Its `code`
/// (`token_quota_exceeded`, `request_quota_exceeded`) is the same for every window, so the
/// message decides: `per day` (`"Tokens per day limit exceeded - too many tokens
/// processed."`, `"Requests per day limit exceeded - too many requests sent."`), any case. No
/// other code counts: a message alone, in any other error, is not read for it.
pub fn names_daily_limit(code: Option<&str>, message: &str) -> bool {
    matches!(
        code,
        Some("token_quota_exceeded" | "request_quota_exceeded")
    ) && says(message, b"per day")
}

/// Does the message say the account's credits are used up or its spending limit reached?
/// `spending limit` or `used all available credits`, any case: what xAI's 429 says, whose
/// `code` (`Some resource has been exhausted`) it shares with a passing overload. Read only
/// from an error given as a string (the driver's `error_of`), never from the message of an
/// error with a code of its own.
pub fn states_spent(message: &str) -> bool {
    says(message, b"spending limit") || says(message, b"used all available credits")
}

/// The wait a failed response states: the header hint (`retry-after-ms` / `retry-after`)
/// wins; else the body's (`RetryInfo`, then the message), as [`ErrorInfo::hint_ms`] holds it.
///
/// [`ErrorInfo::hint_ms`]: super::classify::ErrorInfo::hint_ms
pub fn retry_hint(header: Option<Ms>, body: Option<&super::classify::ErrorInfo>) -> Option<Ms> {
    header.or_else(|| body.and_then(|e| e.hint_ms).and_then(valid_hint))
}

/// The wait a 429 states through its rate-limit headers when it gives no hint: the latest
/// reset of a dimension it reports spent (`remaining` under one) with no limit beside it (an
/// IETF `RateLimit` without its policy, `RateLimit-Remaining` and `-Reset` alone). With no
/// limit there is no bucket to wait on, and that reset is the server's only word on when a
/// request goes again (before, the backoff's second, and a refusal per retry). A dimension
/// with a limit is a bucket, and the limiter waits on it. `None` if none, or if that reset is
/// now or past.
pub fn spent_reset(info: &RateLimitInfo, now_ms: Ms) -> Option<Ms> {
    [
        &info.requests,
        &info.input_tokens,
        &info.output_tokens,
        &info.tokens,
    ]
    .into_iter()
    .filter(|d| d.limit.is_none() && d.remaining.is_some_and(|r| r < 1.0))
    .filter_map(|d| d.reset_at_ms)
    .map(|at| at - now_ms)
    .filter(|&ms| ms >= 1.0)
    .reduce(f64::max)
}

/// The wait a failed response states: its hint ([`retry_hint`]), else, for a 429, the reset
/// of a dimension it reports spent with no limit ([`spent_reset`]). The pacer's and the
/// exported `classify()`'s.
pub fn stated_hint(
    now_ms: Ms,
    status: u16,
    info: &RateLimitInfo,
    error: Option<&super::classify::ErrorInfo>,
) -> Option<Ms> {
    retry_hint(info.retry_after_ms, error)
        .or_else(|| (status == 429).then(|| spent_reset(info, now_ms)).flatten())
}

/// The body hint from what the driver read: `RetryInfo.retryDelay` if it parses, else the
/// message's `try again in`.
pub fn body_hint(retry_delay: Option<&str>, message: Option<&str>) -> Option<Ms> {
    retry_delay
        .and_then(parse_proto_duration)
        .or_else(|| message.and_then(parse_try_again))
}
