//! Retry hints and rate-limit headers, from every family a provider may send, into one struct.
//!
//! Families understood (names are matched case-insensitively, values are trimmed):
//!
//! * **Retry hints.** `retry-after-ms` (milliseconds, decimals allowed) wins over
//!   `retry-after`, which is delta-seconds (decimals allowed, e.g. `1.5`) or an HTTP-date
//!   (IMF-fixdate, RFC 850 or asctime). An HTTP-date is turned into a wait against the
//!   response's own `Date` header when it has a valid one (free of clock skew), else against
//!   `now_ms`; a date in the past is a wait of 0 (the server said "now"). A `retry-after-ms`
//!   that is garbage falls back to `retry-after`. `x-should-retry` is exactly `true` or
//!   `false` (any case).
//! * **Anthropic.** `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,
//!   remaining,reset}` and, on Priority Tier, `anthropic-priority-{input,output}-tokens-{limit,
//!   remaining,reset}`. The reset is an RFC 3339 time (`2026-11-22T13:04:32Z`, fractional
//!   seconds and numeric offsets accepted) on the *server's* clock; it is moved to the local
//!   clock through the `Date` header: `reset_at_ms = now_ms + (reset - date)`. Token
//!   `remaining` values are rounded by the server to the nearest thousand
//!   ([`DimInfo::rounded`]); the request count is exact.
//! * **OpenAI-style.** `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`; the reset is a
//!   Go duration (`1s`, `6m0s`, `8.64s`, `20ms`, `1m30s`, see [`parse_go_duration`]) from
//!   now. `-tokens` is the combined TPM. Only Go durations are accepted for the reset: a bare
//!   number is ambiguous (seconds? an epoch?) and is treated as absent.
//! * **Groq** sends the OpenAI names, but `x-ratelimit-*-requests` counts requests per *day*
//!   (RPD; tokens stay per minute). Its responses carry `x-groq-region`: with it, the request
//!   dimension's window is a day ([`Family::Groq`]).
//! * **Azure OpenAI** sends `x-ratelimit-remaining-{requests,tokens}`, mostly without limits
//!   or resets (and `-1` where it knows nothing: absent): read as the OpenAI family, remaining
//!   counts only.
//! * **Mistral**: `x-ratelimit-{limit,remaining,reset}-{req,tokens}-{second,minute,hour,day}`
//!   (the window is in the name; a reset is seconds from now), and the older
//!   `ratelimitbysize-{limit,remaining,reset}` (tokens per minute, reset in seconds)
//!   ([`Family::Mistral`]).
//! * **Unprefixed `x-ratelimit-{limit,remaining,reset}`** (requests): OpenRouter sends
//!   `X-RateLimit-Reset` as epoch *milliseconds*; others as epoch seconds, or seconds from
//!   now. A number of at least 10^12 is epoch ms, of at least 10^9 epoch seconds (both on the
//!   server's clock, moved to ours through `Date`), anything smaller seconds from now; the
//!   window is a minute ([`Family::XRateLimit`]).
//! * **Together** sends the same three for requests *per second*, and
//!   `x-tokenlimit-{limit,remaining}` (tokens per second); the `x-tokenlimit-*` headers mark
//!   it: with them the windows are a second ([`Family::Together`]).
//! * **DeepSeek** (and vLLM, Ollama, most gateways) send none: see
//!   [adaptive mode](super::adaptive).
//! * **IETF draft-ietf-httpapi-ratelimit-headers-10.** `RateLimit-Policy: "burst";q=100;w=60,
//!   "daily";q=1000;w=86400` and `RateLimit: "burst";r=50;t=30`, parsed as RFC 9651
//!   structured-field Lists (see [below](#ietf-ratelimit-and-ratelimit-policy)).
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
//! Anthropic, OpenAI (Groq), Mistral, Together / unprefixed, IETF, that says anything about it (fields of different families are
//! never mixed within one dimension); [`RateLimitInfo::family`] is the first family, in that
//! order, that yielded any dimension field.
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

mod families;

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

/// Parse a Go `time.Duration` string (`1h2m3.5s`, `20ms`, `1.5us`, `0s`) into milliseconds.
/// Negative, overflowing or malformed input gives `None`.
///
/// The grammar is Go's `time.ParseDuration`: an optional `+`, then one or more decimal
/// numbers (`1`, `1.5`, `.5`, `1.`), each followed by a unit among `ns`, `us`, `µs` (U+00B5),
/// `μs` (U+03BC), `ms`, `s`, `m`, `h`; or `0` alone. Like Go, it computes in whole
/// nanoseconds and fails beyond `i64::MAX` ns (about 292 years). Unlike Go, a leading `-` is
/// refused outright: a wait is never negative.
///
/// ```
/// use llm_pacer::core::headers::parse_go_duration;
///
/// assert_eq!(parse_go_duration("6m0s"), Some(360_000.0));
/// assert_eq!(parse_go_duration("8.64s"), Some(8_640.0));
/// assert_eq!(parse_go_duration("1h2m3.5s"), Some(3_723_500.0));
/// assert_eq!(parse_go_duration("1.5us"), Some(0.0015));
/// assert_eq!(parse_go_duration("0"), Some(0.0));
/// assert_eq!(parse_go_duration("-1s"), None);
/// assert_eq!(parse_go_duration("10"), None); // a unit is required
/// ```
pub fn parse_go_duration(s: &str) -> Option<Ms> {
    const CAP: u64 = 1 << 63;
    let mut b = s.as_bytes();
    match b.first() {
        Some(b'-') => return None,
        Some(b'+') => b = &b[1..],
        _ => {}
    }
    if b == b"0" {
        return Some(0.0);
    }
    if b.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    while !b.is_empty() {
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return None;
        }
        // The integer part.
        let mut v: u64 = 0;
        let mut i = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            if v > CAP / 10 {
                return None;
            }
            v = v * 10 + u64::from(b[i] - b'0');
            if v > CAP {
                return None;
            }
            i += 1;
        }
        let pre = i > 0;
        b = &b[i..];
        // The fraction: digits past what fits are ignored, as in Go.
        let (mut f, mut scale, mut post) = (0u64, 1.0f64, false);
        if b.first() == Some(&b'.') {
            b = &b[1..];
            let mut i = 0;
            let mut overflow = false;
            while i < b.len() && b[i].is_ascii_digit() {
                if !overflow {
                    if f > (CAP - 1) / 10 {
                        overflow = true;
                    } else {
                        let y = f * 10 + u64::from(b[i] - b'0');
                        if y > CAP {
                            overflow = true;
                        } else {
                            f = y;
                            scale *= 10.0;
                        }
                    }
                }
                i += 1;
            }
            post = i > 0;
            b = &b[i..];
        }
        if !pre && !post {
            return None;
        }
        // The unit: everything up to the next number.
        let mut i = 0;
        while i < b.len() && b[i] != b'.' && !b[i].is_ascii_digit() {
            i += 1;
        }
        let unit: u64 = match &b[..i] {
            b"ns" => 1,
            b"us" | b"\xc2\xb5s" | b"\xce\xbcs" => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60_000_000_000,
            b"h" => 3_600_000_000_000,
            _ => return None,
        };
        b = &b[i..];
        if v > CAP / unit {
            return None;
        }
        v *= unit;
        if f > 0 {
            // As Go does it: through a float, truncated.
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > CAP {
                return None;
            }
        }
        total += v;
        if total > CAP {
            return None;
        }
    }
    if total > CAP - 1 {
        return None;
    }
    Some(total as f64 / 1e6)
}

/// Parse an RFC 3339 timestamp into epoch milliseconds.
///
/// Accepts `YYYY-MM-DDTHH:MM:SS`, an optional fraction of any length, then `Z` or a numeric
/// offset `±HH:MM` (`T` and `Z` in either case). Dates before 1970 and malformed or
/// out-of-range fields give `None`; a leap second (`:60`) reads as `:59`; digits of the
/// fraction past the ninth (nanoseconds) are ignored. Without the offset, the answers are
/// `humantime::parse_rfc3339_weak`'s (the tests hold the two to the same answers).
///
/// ```
/// use llm_pacer::core::headers::parse_rfc3339;
///
/// let t = parse_rfc3339("2026-11-22T13:04:32Z").unwrap();
/// assert_eq!(t, 1_795_352_672_000.0);
/// assert_eq!(parse_rfc3339("2026-11-22T13:04:32.250Z"), Some(t + 250.0));
/// assert_eq!(parse_rfc3339("2026-11-22T08:04:32-05:00"), Some(t));
/// assert_eq!(parse_rfc3339("2026-11-22 13:04:32"), None); // no offset, no `T`
/// ```
pub fn parse_rfc3339(s: &str) -> Option<Ms> {
    const BASE: usize = "2026-11-22T13:04:32".len();
    const MAX_LEN: usize = 64;
    let b = s.as_bytes();
    if b.len() < BASE + 1 || b.len() > MAX_LEN || !s.is_ascii() {
        return None;
    }
    // The offset, in minutes east of UTC.
    let (body, offset_min) = match b[b.len() - 1] {
        b'Z' | b'z' => (&b[..b.len() - 1], 0i64),
        _ => {
            if b.len() < BASE + 6 {
                return None;
            }
            let (body, off) = b.split_at(b.len() - 6);
            let sign = match off[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hh = digits(&off[1..3])?;
            let mm = digits(&off[4..6])?;
            if off[3] != b':' || hh > 23 || mm > 59 {
                return None;
            }
            (body, sign * (hh * 60 + mm))
        }
    };
    // `YYYY-MM-DDTHH:MM:SS`, then `.` and at least one digit, or nothing.
    if body.len() < BASE
        || !matches!(body[10], b'T' | b't')
        || [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')]
            .iter()
            .any(|&(i, c)| body[i] != c)
    {
        return None;
    }
    let frac = &body[BASE..];
    if !frac.is_empty()
        && (frac[0] != b'.' || frac.len() < 2 || !frac[1..].iter().all(u8::is_ascii_digit))
    {
        return None;
    }
    let field = |i: usize, len: usize| digits(&body[i..i + len]);
    let (hour, minute, second) = (field(11, 2)?, field(14, 2)?, field(17, 2)?);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = epoch_days(field(0, 4)?, field(5, 2)?, field(8, 2)?)?;
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second.min(59);
    // Nanoseconds: the first nine digits of the fraction (the rest is below resolution).
    let mut nanos = 0;
    let mut unit = 100_000_000;
    for &c in frac.iter().skip(1) {
        nanos += unit * u32::from(c - b'0');
        unit /= 10;
    }
    Some(secs as f64 * 1000.0 + f64::from(nanos) / 1e6 - (offset_min * 60_000) as f64)
}

/// Parse an HTTP-date (IMF-fixdate, RFC 850 or asctime) into epoch milliseconds.
///
/// As the `httpdate` crate parses them (the tests hold the two to the same answers): ASCII
/// only, surrounding whitespace ignored, names case-sensitive, the weekday must match the
/// date, dates before 1970 or after 9999 are refused, no leap second, and RFC 850's two-digit
/// years are read as 1970–2069.
///
/// ```
/// use llm_pacer::core::headers::parse_http_date;
///
/// let t = 784_111_777_000.0;
/// assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
/// assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(t));
/// assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(t));
/// assert_eq!(parse_http_date("Mon, 06 Nov 1994 08:49:37 GMT"), None); // wrong weekday
/// ```
pub fn parse_http_date(s: &str) -> Option<Ms> {
    const WEEKDAYS: [&[u8]; 7] = [
        b"Monday",
        b"Tuesday",
        b"Wednesday",
        b"Thursday",
        b"Friday",
        b"Saturday",
        b"Sunday",
    ];
    let short_weekday = |b: &[u8]| WEEKDAYS.iter().position(|w| &w[..3] == b);
    let month = |b: &[u8]| {
        b"JanFebMarAprMayJunJulAugSepOctNovDec"
            .chunks(3)
            .position(|m| m == b)
            .map(|i| i as i64 + 1)
    };
    if !s.is_ascii() {
        return None;
    }
    // `str::trim`'s whitespace, in ASCII: HT, LF, VT, FF, CR and space.
    let space = |c: &u8| matches!(c, b'\t'..=b'\r' | b' ');
    let b = s.as_bytes();
    let start = b.iter().position(|c| !space(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !space(c)).map_or(start, |i| i + 1);
    let b = &b[start..end];
    // The fixed text of a form: (offset, text) pairs.
    let fixed = |b: &[u8], parts: &[(usize, &str)]| {
        parts
            .iter()
            .all(|&(i, lit)| b.get(i..i + lit.len()) == Some(lit.as_bytes()))
    };
    // Where the fields of each form are (after the weekday, for RFC 850): the fixed text,
    // then the offsets of the day, the month, the year (and its digits) and the time.
    struct Form {
        len: usize,
        parts: &'static [(usize, &'static str)],
        day: usize,
        month: usize,
        year: (usize, usize),
        time: usize,
    }
    // IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`
    const IMF: Form = Form {
        len: 29,
        parts: &[(3, ", "), (7, " "), (11, " "), (16, " "), (25, " GMT")],
        day: 5,
        month: 8,
        year: (12, 4),
        time: 17,
    };
    // asctime: `Sun Nov  6 08:49:37 1994` (the day may be padded with a space)
    const ASCTIME: Form = Form {
        len: 24,
        parts: &[(3, " "), (7, " "), (10, " "), (19, " ")],
        day: 8,
        month: 4,
        year: (20, 4),
        time: 11,
    };
    // RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`, from the day on (the byte after the year is
    // not checked, as in `httpdate`)
    const RFC850: Form = Form {
        len: 22,
        parts: &[(2, "-"), (6, "-"), (18, " GMT")],
        day: 0,
        month: 3,
        year: (7, 2),
        time: 10,
    };
    let (weekday, b, form) = match b.len() {
        29 => (short_weekday(b.get(..3)?)?, b, &IMF),
        24 => (short_weekday(b.get(..3)?)?, b, &ASCTIME),
        _ => {
            let w = WEEKDAYS
                .iter()
                .position(|w| b.starts_with(w) && fixed(b, &[(w.len(), ", ")]))?;
            (w, &b[WEEKDAYS[w].len() + 2..], &RFC850)
        }
    };
    let t = form.time;
    if b.len() != form.len || !fixed(b, form.parts) || !fixed(b, &[(t + 2, ":"), (t + 5, ":")]) {
        return None;
    }
    let num = |i: usize, len: usize| digits(&b[i..i + len]);
    let day = if form.len == 24 && b[form.day] == b' ' {
        num(form.day + 1, 1)?
    } else {
        num(form.day, 2)?
    };
    let (h, m, sec) = (num(t, 2)?, num(t + 3, 2)?, num(t + 6, 2)?);
    let mon = month(&b[form.month..form.month + 3])?;
    let year = match (form.year, num(form.year.0, form.year.1)?) {
        ((_, 2), yy) if yy < 70 => 2000 + yy,
        ((_, 2), yy) => 1900 + yy,
        (_, y) => y,
    };
    if h > 23 || m > 59 || sec > 59 || year > 9999 {
        return None;
    }
    let days = epoch_days(year, mon, day)?;
    // 1970-01-01 was a Thursday (3, counting from Monday = 0).
    if (days + 3) % 7 != weekday as i64 {
        return None;
    }
    Some((days * 86_400 + h * 3_600 + m * 60 + sec) as f64 * 1000.0)
}

/// The value of a run of ASCII digits (all of `b` must be digits).
fn digits(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0, |v, &c| {
        c.is_ascii_digit().then(|| v * 10 + i64::from(c - b'0'))
    })
}

/// Days from 1970-01-01 to `year-month-day` in the Gregorian calendar, if that date exists
/// and is not before 1970.
fn epoch_days(year: i64, month: i64, day: i64) -> Option<i64> {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    if year < 1970 || day < 1 || day > month_days {
        return None;
    }
    // Counted from March, so that the leap day ends the year (H. Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let shifted = (month + 9) % 12;
    let day_of_year = (153 * shifted + 2) / 5 + day - 1;
    let day_of_era = (y % 400) * 365 + (y % 400) / 4 - (y % 400) / 100 + day_of_year;
    Some(y / 400 * 146_097 + day_of_era - 719_468)
}

/// A non-negative decimal number: `12`, `1.5`, `.5`, `1.`, optionally with an exponent
/// (`1e-05`, as some float formatters write small values). No sign, no `inf`, no `NaN`.
fn parse_number(s: &str) -> Option<f64> {
    super::decimal::parse(s).filter(|v| v.is_finite())
}

/// A wait given in ms: finite, within `[0, ABSURD_MS]`.
fn valid_wait(ms: f64) -> Option<Ms> {
    (ms.is_finite() && (0.0..=ABSURD_MS).contains(&ms)).then_some(ms + 0.0)
}

/// A limit: finite, `> 0`, at most [`MAX_COUNT`].
fn parse_limit(s: &str) -> Option<f64> {
    parse_number(s).filter(|&v| v > 0.0 && v <= MAX_COUNT)
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
        b"retry-after-ms" => Key::RetryAfterMs,
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
enum RetryAfter {
    /// Delta-seconds, already in ms and valid.
    Delay(Ms),
    /// An HTTP-date, epoch ms on the server's clock.
    At(Ms),
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
    policy: Lines<'a>,
    ratelimit: Lines<'a>,
    more: families::Raw,
}

impl<'a> Raw<'a> {
    fn feed(&mut self, key: Key, v: &'a str) {
        match key {
            Key::RetryAfterMs => {
                if self.retry_after_ms.is_none() {
                    self.retry_after_ms = parse_number(v).and_then(valid_wait);
                }
            }
            Key::RetryAfter => {
                if self.retry_after.is_none() {
                    self.retry_after = match parse_number(v) {
                        Some(secs) => valid_wait(secs * 1000.0).map(RetryAfter::Delay),
                        None => parse_http_date(v).map(RetryAfter::At),
                    };
                }
            }
            Key::ShouldRetry => {
                if self.should_retry.is_none() {
                    if v.eq_ignore_ascii_case("true") {
                        self.should_retry = Some(true);
                    } else if v.eq_ignore_ascii_case("false") {
                        self.should_retry = Some(false);
                    }
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
            Key::OpenAi(dim, field) => self.openai[dim].fill(
                field,
                v,
                match field {
                    Field::Limit => parse_limit,
                    Field::Remaining => parse_remaining,
                    Field::Reset => parse_go_reset,
                },
            ),
            Key::Policy => self.policy.push(v),
            Key::RateLimit => self.ratelimit.push(v),
            Key::GroqMarker | Key::Mistral(..) | Key::Plain(_) | Key::TokenLimit(_) => {
                self.more.feed(key, v)
            }
        }
    }

    fn finish(&self, now_ms: Ms) -> RateLimitInfo {
        let date = self.date;
        let retry_after_ms = self.retry_after_ms.or(match self.retry_after {
            Some(RetryAfter::Delay(ms)) => Some(ms),
            Some(RetryAfter::At(at)) => {
                let wait = at - date.unwrap_or(now_ms);
                if wait.is_finite() {
                    valid_wait(wait.max(0.0))
                } else {
                    None
                }
            }
            None => None,
        });

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
            let reset_at_ms = r.reset.and_then(|d| reset_after(now_ms, d));
            let window = if groq && i == O_REQUESTS {
                DAY_MS
            } else {
                MINUTE_MS
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
        let ietf = ietf_requests(self.policy.get(), self.ratelimit.get(), now_ms);
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

// ---------------------------------------------------------------------------------------------
// IETF RateLimit / RateLimit-Policy.

/// The `requests` dimension from the IETF fields (empty if they say nothing about requests).
fn ietf_requests(policy: &[&str], ratelimit: &[&str], now_ms: Ms) -> DimInfo {
    // A syntax error anywhere in a field makes the whole field absent.
    let policy: &[&str] = if sf::list_ok(policy) { policy } else { &[] };
    let ratelimit: &[&str] = if sf::list_ok(ratelimit) {
        ratelimit
    } else {
        &[]
    };

    // The most restrictive service limit in requests: least remaining, then longest reset.
    let mut best: Option<(Limit, Option<Policy>)> = None;
    sf::for_each_member(ratelimit, |m| {
        let Some(limit) = Limit::from_member(&m) else {
            return;
        };
        let policy = find_policy(policy, limit.name);
        if policy.is_some_and(|p| !p.in_requests) {
            return;
        }
        let rank = |l: &Limit| {
            (
                l.remaining.unwrap_or(f64::INFINITY),
                -l.reset_s.unwrap_or(0.0),
            )
        };
        if best.as_ref().is_none_or(|(b, _)| rank(&limit) < rank(b)) {
            best = Some((limit, policy));
        }
    });
    let (remaining, reset_s, policy) = match best {
        Some((l, p)) => (l.remaining, l.reset_s, p),
        None => {
            // Policies alone: the lowest sustained rate (ties: the smaller quota).
            let mut best: Option<Policy> = None;
            sf::for_each_member(policy, |m| {
                if let Some(p) = Policy::from_member(&m) {
                    if p.in_requests && p.rate().is_some() {
                        let rank = |p: &Policy| (p.rate(), p.quota);
                        if best.is_none_or(|b| rank(&p) < rank(&b)) {
                            best = Some(p);
                        }
                    }
                }
            });
            (None, None, best)
        }
    };
    let (limit, window_ms) = match policy.and_then(|p| Some((p.quota, p.window_s?))) {
        Some((q, w)) if q > 0.0 => (Some(q), Some(w * 1000.0)),
        _ => (None, None),
    };
    let reset_at_ms = reset_s.and_then(|t| reset_after(now_ms, t * 1000.0));
    let d = DimInfo {
        limit,
        remaining,
        reset_at_ms,
        window_ms,
        rounded: false,
    };
    if d.is_empty() {
        DimInfo::default()
    } else {
        d
    }
}

/// A quota policy item of `RateLimit-Policy`.
#[derive(Debug, Clone, Copy)]
struct Policy {
    quota: f64,
    window_s: Option<f64>,
    in_requests: bool,
}

impl Policy {
    fn from_member(m: &sf::Member<'_>) -> Option<Policy> {
        m.name()?;
        let quota = match m.param(b"q")? {
            sf::Bare::Int(q) if q >= 0 && (q as f64) <= MAX_COUNT => q as f64,
            _ => return None,
        };
        let window_s = match m.param(b"w") {
            None => None,
            Some(sf::Bare::Int(w)) if w > 0 && (w as f64) * 1000.0 <= ABSURD_MS => Some(w as f64),
            // A window that is not an Integer > 0 (or absurd): the policy gives no limit.
            Some(_) => None,
        };
        let in_requests = match m.param(b"qu") {
            None => true,
            Some(sf::Bare::Str(u) | sf::Bare::Token(u)) => {
                sf::text_eq(u, b"requests") || sf::text_eq(u, b"request")
            }
            Some(_) => return None,
        };
        Some(Policy {
            quota,
            window_s,
            in_requests,
        })
    }

    /// Quota per second, if the policy has a window and a quota > 0.
    fn rate(&self) -> Option<f64> {
        let w = self.window_s?;
        (self.quota > 0.0).then(|| self.quota / w)
    }
}

/// The first valid policy named `name`.
fn find_policy(policy: &[&str], name: &[u8]) -> Option<Policy> {
    let mut found = None;
    sf::for_each_member(policy, |m| {
        if found.is_none() && m.name().is_some_and(|n| sf::text_eq(n, name)) {
            found = Policy::from_member(&m);
        }
    });
    found
}

/// A service limit item of `RateLimit`.
#[derive(Debug, Clone, Copy)]
struct Limit<'a> {
    name: &'a [u8],
    remaining: Option<f64>,
    reset_s: Option<f64>,
}

impl<'a> Limit<'a> {
    fn from_member(m: &sf::Member<'a>) -> Option<Limit<'a>> {
        let name = m.name()?;
        let remaining = match m.param(b"r") {
            None => None,
            Some(sf::Bare::Int(r)) if r >= 0 && (r as f64) <= MAX_COUNT => Some(r as f64),
            Some(_) => return None,
        };
        let reset_s = match m.param(b"t") {
            None => None,
            Some(sf::Bare::Int(t)) if t >= 0 && (t as f64) * 1000.0 <= ABSURD_MS => Some(t as f64),
            Some(_) => return None,
        };
        // The draft requires `r`, but its own examples send `t` alone: take what there is.
        if remaining.is_none() && reset_s.is_none() {
            return None;
        }
        Some(Limit {
            name,
            remaining,
            reset_s,
        })
    }
}

/// The subset of RFC 9651 (Structured Field Values) the IETF fields need: Lists of Items
/// and Inner Lists with Parameters, every bare-item type recognised (so that a valid field
/// never fails), values kept as borrowed slices.
mod sf {
    /// A bare item. Strings and Tokens keep their raw text (Strings with their escapes).
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub(super) enum Bare<'a> {
        Int(i64),
        Decimal,
        Str(&'a [u8]),
        Token(&'a [u8]),
        Other,
    }

    /// A List member: an Item (`item` is `Some`) or an Inner List, with its parameters.
    #[derive(Debug, Clone, Copy)]
    pub(super) struct Member<'a> {
        item: Option<Bare<'a>>,
        /// The raw parameters, already validated: `;a=1;b`.
        params: &'a [u8],
    }

    impl<'a> Member<'a> {
        /// The name of an Item whose bare item is a String or a Token.
        pub(super) fn name(&self) -> Option<&'a [u8]> {
            match self.item? {
                Bare::Str(s) | Bare::Token(s) => Some(s),
                _ => None,
            }
        }
        /// A parameter's value (the last one when a key repeats, as RFC 9651 says); a key
        /// without a value is the Boolean true.
        pub(super) fn param(&self, key: &[u8]) -> Option<Bare<'a>> {
            let mut p = Parser {
                s: self.params,
                i: 0,
            };
            let mut found = None;
            while p.peek() == Some(b';') {
                p.i += 1;
                p.skip_sp();
                let k = p.key().ok()?;
                let v = if p.peek() == Some(b'=') {
                    p.i += 1;
                    p.bare().ok()?
                } else {
                    Bare::Other
                };
                if k == key {
                    found = Some(v);
                }
            }
            found
        }
    }

    /// Compare the texts of two Strings (escapes resolved) or Tokens.
    pub(super) fn text_eq(a: &[u8], b: &[u8]) -> bool {
        fn unescaped(raw: &[u8]) -> impl Iterator<Item = u8> + '_ {
            let mut it = raw.iter();
            std::iter::from_fn(move || match it.next()? {
                b'\\' => it.next().copied(),
                &c => Some(c),
            })
        }
        unescaped(a).eq(unescaped(b))
    }

    /// True when every line parses as a List.
    pub(super) fn list_ok(lines: &[&str]) -> bool {
        lines
            .iter()
            .all(|l| parse_list(l.as_bytes(), |_| {}).is_ok())
    }

    /// Members past this many in one field are ignored (servers send a handful; the cap
    /// bounds the work of matching limits to policies on hostile input).
    pub(super) const MAX_MEMBERS: usize = 32;

    /// Call `f` with each of the first [`MAX_MEMBERS`] members of a field (whose lines must
    /// be valid, see [`list_ok`]).
    pub(super) fn for_each_member<'a>(lines: &[&'a str], mut f: impl FnMut(Member<'a>)) {
        let mut n = 0;
        for l in lines {
            let _ = parse_list(l.as_bytes(), |m| {
                if n < MAX_MEMBERS {
                    n += 1;
                    f(m);
                }
            });
        }
    }

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    type Res<T> = Result<T, ()>;

    fn parse_list<'a>(s: &'a [u8], mut f: impl FnMut(Member<'a>)) -> Res<()> {
        let mut p = Parser { s, i: 0 };
        p.skip_ows();
        if p.peek().is_none() {
            return Ok(()); // an empty field line adds no member
        }
        loop {
            f(p.member()?);
            p.skip_ows();
            match p.peek() {
                None => return Ok(()),
                Some(b',') => p.i += 1,
                Some(_) => return Err(()),
            }
            p.skip_ows();
            if p.peek().is_none() {
                return Err(()); // a trailing comma
            }
        }
    }

    impl<'a> Parser<'a> {
        fn peek(&self) -> Option<u8> {
            self.s.get(self.i).copied()
        }
        fn skip_sp(&mut self) {
            while self.peek() == Some(b' ') {
                self.i += 1;
            }
        }
        fn skip_ows(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t')) {
                self.i += 1;
            }
        }

        fn member(&mut self) -> Res<Member<'a>> {
            let item = if self.peek() == Some(b'(') {
                self.inner_list()?;
                None
            } else {
                Some(self.bare()?)
            };
            let start = self.i;
            self.params()?;
            Ok(Member {
                item,
                params: &self.s[start..self.i],
            })
        }

        fn inner_list(&mut self) -> Res<()> {
            self.i += 1; // (
            loop {
                self.skip_sp();
                match self.peek() {
                    Some(b')') => {
                        self.i += 1;
                        return Ok(());
                    }
                    None => return Err(()),
                    Some(_) => {
                        self.bare()?;
                        self.params()?;
                        if !matches!(self.peek(), Some(b' ' | b')')) {
                            return Err(());
                        }
                    }
                }
            }
        }

        fn params(&mut self) -> Res<()> {
            while self.peek() == Some(b';') {
                self.i += 1;
                self.skip_sp();
                self.key()?;
                if self.peek() == Some(b'=') {
                    self.i += 1;
                    self.bare()?;
                }
            }
            Ok(())
        }

        fn key(&mut self) -> Res<&'a [u8]> {
            let start = self.i;
            match self.peek() {
                Some(c) if c.is_ascii_lowercase() || c == b'*' => self.i += 1,
                _ => return Err(()),
            }
            while let Some(c) = self.peek() {
                if c.is_ascii_lowercase()
                    || c.is_ascii_digit()
                    || matches!(c, b'_' | b'-' | b'.' | b'*')
                {
                    self.i += 1;
                } else {
                    break;
                }
            }
            Ok(&self.s[start..self.i])
        }

        fn bare(&mut self) -> Res<Bare<'a>> {
            match self.peek().ok_or(())? {
                b'-' | b'0'..=b'9' => self.number(),
                b'"' => self.string().map(Bare::Str),
                b'*' | b'A'..=b'Z' | b'a'..=b'z' => Ok(Bare::Token(self.token())),
                b':' => self.byte_sequence(),
                b'?' => {
                    self.i += 1;
                    match self.peek() {
                        Some(b'0' | b'1') => {
                            self.i += 1;
                            Ok(Bare::Other)
                        }
                        _ => Err(()),
                    }
                }
                b'@' => {
                    // A Date (RFC 9651): an Integer of seconds.
                    self.i += 1;
                    match self.number()? {
                        Bare::Int(_) => Ok(Bare::Other),
                        _ => Err(()),
                    }
                }
                b'%' => self.display_string(),
                _ => Err(()),
            }
        }

        fn number(&mut self) -> Res<Bare<'a>> {
            let neg = self.peek() == Some(b'-');
            if neg {
                self.i += 1;
            }
            let (mut int_digits, mut frac_digits, mut dot) = (0usize, 0usize, false);
            let mut value: i64 = 0;
            loop {
                match self.peek() {
                    Some(c @ b'0'..=b'9') => {
                        if dot {
                            frac_digits += 1;
                        } else {
                            int_digits += 1;
                            value = value * 10 + i64::from(c - b'0');
                        }
                    }
                    Some(b'.') if !dot && int_digits > 0 => {
                        if int_digits > 12 {
                            return Err(());
                        }
                        dot = true;
                    }
                    _ => break,
                }
                self.i += 1;
                if int_digits > 15 || frac_digits > 3 {
                    return Err(());
                }
            }
            if int_digits == 0 || (dot && frac_digits == 0) {
                return Err(());
            }
            Ok(if dot {
                Bare::Decimal
            } else if neg {
                Bare::Int(-value)
            } else {
                Bare::Int(value)
            })
        }

        fn string(&mut self) -> Res<&'a [u8]> {
            self.i += 1; // "
            let start = self.i;
            loop {
                match self.peek().ok_or(())? {
                    b'\\' => {
                        self.i += 1;
                        match self.peek() {
                            Some(b'"' | b'\\') => self.i += 1,
                            _ => return Err(()),
                        }
                    }
                    b'"' => {
                        let s = &self.s[start..self.i];
                        self.i += 1;
                        return Ok(s);
                    }
                    0x20..=0x7e => self.i += 1,
                    _ => return Err(()),
                }
            }
        }

        fn token(&mut self) -> &'a [u8] {
            let start = self.i;
            self.i += 1;
            while let Some(c) = self.peek() {
                let tchar = c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&c);
                if !tchar {
                    break;
                }
                self.i += 1;
            }
            &self.s[start..self.i]
        }

        fn byte_sequence(&mut self) -> Res<Bare<'a>> {
            self.i += 1; // :
            loop {
                match self.peek().ok_or(())? {
                    b':' => {
                        self.i += 1;
                        return Ok(Bare::Other);
                    }
                    c if c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=') => {
                        self.i += 1;
                    }
                    _ => return Err(()),
                }
            }
        }

        fn display_string(&mut self) -> Res<Bare<'a>> {
            self.i += 1; // %
            if self.peek() != Some(b'"') {
                return Err(());
            }
            self.i += 1;
            let lower_hex = |c: Option<u8>| matches!(c, Some(b'0'..=b'9' | b'a'..=b'f'));
            loop {
                match self.peek().ok_or(())? {
                    b'"' => {
                        self.i += 1;
                        return Ok(Bare::Other);
                    }
                    b'%' => {
                        if !(lower_hex(self.s.get(self.i + 1).copied())
                            && lower_hex(self.s.get(self.i + 2).copied()))
                        {
                            return Err(());
                        }
                        self.i += 3;
                    }
                    0x20..=0x7e => self.i += 1,
                    _ => return Err(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-22T13:04:32Z, a Sunday.
    const T0: Ms = 1_795_352_672_000.0;
    const DATE_T0: &str = "Sun, 22 Nov 2026 13:04:32 GMT";

    fn p(headers: &[(&str, &str)], now: Ms) -> RateLimitInfo {
        parse(headers.iter().copied(), now)
    }

    // --- retry hints -------------------------------------------------------------------------

    #[test]
    fn retry_after_delta_seconds() {
        assert_eq!(p(&[("retry-after", "2")], T0).retry_after_ms, Some(2_000.0));
        assert_eq!(
            p(&[("Retry-After", " 1.5 ")], T0).retry_after_ms,
            Some(1_500.0)
        );
        assert_eq!(p(&[("retry-after", "0")], T0).retry_after_ms, Some(0.0));
        assert_eq!(p(&[("retry-after", ".5")], T0).retry_after_ms, Some(500.0));
    }

    #[test]
    fn retry_after_ms_is_float_ms_and_wins() {
        assert_eq!(
            p(&[("retry-after-ms", "123.5")], T0).retry_after_ms,
            Some(123.5)
        );
        let both = [("retry-after", "30"), ("retry-after-ms", "1500")];
        assert_eq!(p(&both, T0).retry_after_ms, Some(1_500.0));
        let reversed = [("retry-after-ms", "1500"), ("retry-after", "30")];
        assert_eq!(p(&reversed, T0).retry_after_ms, Some(1_500.0));
        // Python writes small floats with an exponent.
        assert_eq!(
            p(&[("retry-after-ms", "1e-05")], T0).retry_after_ms,
            Some(1e-5)
        );
    }

    #[test]
    fn garbage_retry_after_ms_falls_back_to_retry_after() {
        for bad in [
            "NaN", "nan", "inf", "Infinity", "-1", "-0", "+5", "abc", "", "1e400", "1,5",
        ] {
            let h = [("retry-after-ms", bad), ("retry-after", "3")];
            assert_eq!(p(&h, T0).retry_after_ms, Some(3_000.0), "{bad:?}");
            assert_eq!(
                p(&[("retry-after-ms", bad)], T0).retry_after_ms,
                None,
                "{bad:?}"
            );
        }
        // Above ABSURD_MS is garbage too.
        let h = [("retry-after-ms", "2592000001"), ("retry-after", "3")];
        assert_eq!(p(&h, T0).retry_after_ms, Some(3_000.0));
    }

    #[test]
    fn garbage_retry_after_is_absent() {
        for bad in [
            "NaN", "-1", "-0.5", "inf", "soon", "1s", "2592001", "1e9", "0x10",
        ] {
            assert_eq!(
                p(&[("retry-after", bad)], T0).retry_after_ms,
                None,
                "{bad:?}"
            );
        }
        // Exactly 30 days is still believed.
        assert_eq!(
            p(&[("retry-after", "2592000")], T0).retry_after_ms,
            Some(ABSURD_MS)
        );
    }

    #[test]
    fn retry_after_http_date_against_server_date() {
        // The server's clock is an hour ahead of ours: only the difference counts.
        let h = [
            ("date", DATE_T0),
            ("retry-after", "Sun, 22 Nov 2026 13:04:37 GMT"),
        ];
        assert_eq!(p(&h, T0 - 3_600_000.0).retry_after_ms, Some(5_000.0));
        // Order does not matter: Date may come after Retry-After.
        let h = [
            ("retry-after", "Sun, 22 Nov 2026 13:04:37 GMT"),
            ("Date", DATE_T0),
        ];
        assert_eq!(p(&h, T0 + 123.0).retry_after_ms, Some(5_000.0));
    }

    #[test]
    fn retry_after_http_date_without_date_uses_now() {
        let h = [("retry-after", "Sun, 22 Nov 2026 13:04:37 GMT")];
        assert_eq!(p(&h, T0).retry_after_ms, Some(5_000.0));
        assert_eq!(p(&h, T0 + 1_000.0).retry_after_ms, Some(4_000.0));
        // An invalid Date header is as good as none.
        let h = [
            ("date", "yesterday"),
            ("retry-after", "Sun, 22 Nov 2026 13:04:37 GMT"),
        ];
        assert_eq!(p(&h, T0 + 1_000.0).retry_after_ms, Some(4_000.0));
    }

    #[test]
    fn retry_after_http_date_formats() {
        for date in [
            "Sun, 22 Nov 2026 13:04:42 GMT",
            "Sunday, 22-Nov-26 13:04:42 GMT",
            "Sun Nov 22 13:04:42 2026",
        ] {
            let h = [("date", DATE_T0), ("retry-after", date)];
            assert_eq!(p(&h, 0.0).retry_after_ms, Some(10_000.0), "{date}");
        }
    }

    #[test]
    fn retry_after_date_in_the_past_is_now_not_negative() {
        let h = [
            ("date", DATE_T0),
            ("retry-after", "Sun, 22 Nov 2026 13:04:00 GMT"),
        ];
        assert_eq!(p(&h, T0).retry_after_ms, Some(0.0));
        let h = [("retry-after", "Thu, 01 Jan 1970 00:00:00 GMT")];
        assert_eq!(p(&h, T0).retry_after_ms, Some(0.0));
    }

    #[test]
    fn retry_after_date_absurdly_far_is_absent() {
        let h = [
            ("date", DATE_T0),
            ("retry-after", "Fri, 01 Jan 2100 00:00:00 GMT"),
        ];
        assert_eq!(p(&h, T0).retry_after_ms, None);
    }

    #[test]
    fn duplicates_first_valid_wins() {
        let h = [
            ("retry-after", "soon"),
            ("retry-after", "2"),
            ("retry-after", "9"),
        ];
        assert_eq!(p(&h, T0).retry_after_ms, Some(2_000.0));
        let h = [
            ("x-should-retry", "maybe"),
            ("x-should-retry", "false"),
            ("x-should-retry", "true"),
        ];
        assert_eq!(p(&h, T0).should_retry, Some(false));
        let h = [
            ("x-ratelimit-limit-requests", "-5"),
            ("x-ratelimit-limit-requests", "60"),
            ("x-ratelimit-limit-requests", "70"),
        ];
        assert_eq!(p(&h, T0).requests.limit, Some(60.0));
        let h = [
            ("date", "garbage"),
            ("date", DATE_T0),
            ("date", "Sun, 22 Nov 2026 13:04:33 GMT"),
        ];
        assert_eq!(p(&h, 0.0).server_date_ms, Some(T0));
    }

    #[test]
    fn should_retry_is_exactly_true_or_false() {
        for (v, want) in [
            ("true", Some(true)),
            ("TRUE", Some(true)),
            (" True ", Some(true)),
            ("false", Some(false)),
            ("False", Some(false)),
            ("yes", None),
            ("1", None),
            ("0", None),
            ("", None),
            ("truee", None),
            ("t", None),
        ] {
            assert_eq!(p(&[("X-Should-Retry", v)], T0).should_retry, want, "{v:?}");
        }
    }

    #[test]
    fn unknown_headers_are_ignored_and_nothing_is_default() {
        let info = p(
            &[
                ("content-type", "application/json"),
                ("request-id", "req_018EeWyXxfu5pfWkrYcMdjWG"),
                ("x-ratelimit-limit-minute", "100"),
                ("x-ratelimit-reset-minute", "1700000000"),
                ("anthropic-ratelimit-unified-status", "allowed"),
                ("anthropic-ratelimit-requests", "5"),
                ("ratelimit-limit", "100"),
            ],
            T0,
        );
        assert_eq!(info, RateLimitInfo::default());
        assert!(!info.has_limits());
    }

    #[test]
    fn server_date() {
        assert_eq!(p(&[("Date", DATE_T0)], 0.0).server_date_ms, Some(T0));
        assert_eq!(p(&[("date", "22 Nov 2026")], 0.0).server_date_ms, None);
        // Wrong weekday.
        let wrong = "Mon, 22 Nov 2026 13:04:32 GMT";
        assert_eq!(p(&[("date", wrong)], 0.0).server_date_ms, None);
    }

    // --- Anthropic -----------------------------------------------------------------------------

    /// A 200 from the Messages API, in the shape of Anthropic's rate-limit documentation.
    fn anthropic_200() -> Vec<(&'static str, &'static str)> {
        vec![
            ("date", DATE_T0),
            ("content-type", "application/json"),
            ("request-id", "req_011CSHoEeqs5C35K2UUqR7Fy"),
            ("anthropic-ratelimit-requests-limit", "50"),
            ("anthropic-ratelimit-requests-remaining", "49"),
            ("anthropic-ratelimit-requests-reset", "2026-11-22T13:04:33Z"),
            ("anthropic-ratelimit-input-tokens-limit", "30000"),
            ("anthropic-ratelimit-input-tokens-remaining", "29000"),
            (
                "anthropic-ratelimit-input-tokens-reset",
                "2026-11-22T13:04:34Z",
            ),
            ("anthropic-ratelimit-output-tokens-limit", "8000"),
            ("anthropic-ratelimit-output-tokens-remaining", "8000"),
            (
                "anthropic-ratelimit-output-tokens-reset",
                "2026-11-22T13:04:32Z",
            ),
            ("anthropic-ratelimit-tokens-limit", "38000"),
            ("anthropic-ratelimit-tokens-remaining", "37000"),
            ("anthropic-ratelimit-tokens-reset", "2026-11-22T13:04:34Z"),
        ]
    }

    #[test]
    fn anthropic_full_set() {
        // Our clock is 10 s behind the server's: resets move onto our clock.
        let now = T0 - 10_000.0;
        let info = p(&anthropic_200(), now);
        assert_eq!(info.family, Family::Anthropic);
        assert_eq!(info.server_date_ms, Some(T0));
        assert_eq!(
            info.requests,
            DimInfo {
                limit: Some(50.0),
                remaining: Some(49.0),
                reset_at_ms: Some(now + 1_000.0),
                window_ms: Some(60_000.0),
                rounded: false,
            }
        );
        assert_eq!(
            info.input_tokens,
            DimInfo {
                limit: Some(30_000.0),
                remaining: Some(29_000.0),
                reset_at_ms: Some(now + 2_000.0),
                window_ms: Some(60_000.0),
                rounded: true,
            }
        );
        assert_eq!(info.output_tokens.remaining, Some(8_000.0));
        assert_eq!(info.output_tokens.reset_at_ms, Some(now));
        assert!(info.output_tokens.rounded);
        assert_eq!(info.tokens.limit, Some(38_000.0));
        assert!(info.tokens.rounded);
        assert!(info.priority_input_tokens.is_empty());
        assert!(info.has_limits());
        assert_eq!(info.retry_after_ms, None);
    }

    #[test]
    fn anthropic_429() {
        let mut h = anthropic_200();
        h.extend([
            ("retry-after", "1"),
            ("x-should-retry", "true"),
            ("anthropic-ratelimit-requests-remaining", "0"), // a duplicate: the first wins
        ]);
        let info = p(&h, T0);
        assert_eq!(info.retry_after_ms, Some(1_000.0));
        assert_eq!(info.should_retry, Some(true));
        assert_eq!(info.requests.remaining, Some(49.0));
    }

    #[test]
    fn anthropic_priority_tier() {
        let info = p(
            &[
                ("date", DATE_T0),
                ("anthropic-priority-input-tokens-limit", "100000"),
                ("anthropic-priority-input-tokens-remaining", "99000"),
                (
                    "anthropic-priority-input-tokens-reset",
                    "2026-11-22T13:04:33Z",
                ),
                ("anthropic-priority-output-tokens-limit", "20000"),
                ("anthropic-priority-output-tokens-remaining", "20000"),
                (
                    "anthropic-priority-output-tokens-reset",
                    "2026-11-22T13:04:32Z",
                ),
            ],
            T0,
        );
        assert_eq!(info.family, Family::Anthropic);
        assert_eq!(
            info.priority_input_tokens,
            DimInfo {
                limit: Some(100_000.0),
                remaining: Some(99_000.0),
                reset_at_ms: Some(T0 + 1_000.0),
                window_ms: Some(60_000.0),
                rounded: true,
            }
        );
        assert_eq!(info.priority_output_tokens.limit, Some(20_000.0));
        // Priority dimensions are not among the four the limiter meters.
        assert!(!info.has_limits());
        // Unknown priority dimensions are ignored.
        let info = p(&[("anthropic-priority-requests-limit", "5")], T0);
        assert_eq!(info.family, Family::None);
    }

    #[test]
    fn anthropic_reset_forms() {
        let now = T0 - 60_000.0;
        for (reset, delta) in [
            ("2026-11-22T13:04:42Z", 10_000.0),
            ("2026-11-22T13:04:42.5Z", 10_500.0),
            ("2026-11-22T13:04:42.123456789Z", 10_123.456789),
            ("2026-11-22T13:04:42+00:00", 10_000.0),
            ("2026-11-22T13:04:42-00:00", 10_000.0),
            ("2026-11-22T14:04:42+01:00", 10_000.0),
            ("2026-11-22T07:34:42-05:30", 10_000.0),
            ("2026-11-22T07:34:42.250-05:30", 10_250.0),
            ("2026-11-22t13:04:42z", 10_000.0),
        ] {
            let h = [
                ("date", DATE_T0),
                ("anthropic-ratelimit-requests-reset", reset),
            ];
            let got = p(&h, now).requests.reset_at_ms.unwrap();
            assert!((got - (now + delta)).abs() < 1e-3, "{reset}: {got}");
        }
    }

    #[test]
    fn anthropic_reset_without_date_is_taken_as_is() {
        let h = [("anthropic-ratelimit-requests-reset", "2026-11-22T13:04:42Z")];
        assert_eq!(p(&h, T0).requests.reset_at_ms, Some(T0 + 10_000.0));
        assert_eq!(
            p(&h, T0 - 5_000.0).requests.reset_at_ms,
            Some(T0 + 10_000.0)
        );
    }

    #[test]
    fn anthropic_reset_in_the_past_is_now_and_absurd_is_absent() {
        let h = [
            ("date", DATE_T0),
            ("anthropic-ratelimit-tokens-reset", "2026-11-22T13:00:00Z"),
        ];
        assert_eq!(p(&h, T0 + 7.0).tokens.reset_at_ms, Some(T0 + 7.0));
        let h = [
            ("date", DATE_T0),
            ("anthropic-ratelimit-tokens-reset", "2027-11-22T13:00:00Z"),
        ];
        let info = p(&h, T0);
        assert_eq!(info.tokens.reset_at_ms, None);
        assert!(info.tokens.is_empty());
        assert_eq!(info.family, Family::None);
    }

    #[test]
    fn anthropic_garbage_values_are_absent() {
        for (name, bad) in [
            ("anthropic-ratelimit-requests-limit", "0"),
            ("anthropic-ratelimit-requests-limit", "-50"),
            ("anthropic-ratelimit-requests-limit", "NaN"),
            ("anthropic-ratelimit-requests-limit", "inf"),
            ("anthropic-ratelimit-requests-limit", "1e13"),
            ("anthropic-ratelimit-requests-limit", "fifty"),
            ("anthropic-ratelimit-requests-remaining", "-1"),
            ("anthropic-ratelimit-requests-remaining", "2000000000000"),
            ("anthropic-ratelimit-requests-remaining", ""),
            ("anthropic-ratelimit-requests-reset", "2026-11-22"),
            ("anthropic-ratelimit-requests-reset", "2026-11-22T13:04:32"),
            ("anthropic-ratelimit-requests-reset", "2026-11-22 13:04:32Z"),
            ("anthropic-ratelimit-requests-reset", "2026-13-22T13:04:32Z"),
            ("anthropic-ratelimit-requests-reset", "2026-02-30T13:04:32Z"),
            ("anthropic-ratelimit-requests-reset", "2026-11-22T24:04:32Z"),
            (
                "anthropic-ratelimit-requests-reset",
                "2026-11-22T13:04:32.Z",
            ),
            (
                "anthropic-ratelimit-requests-reset",
                "2026-11-22T13:04:32.5ZZ",
            ),
            (
                "anthropic-ratelimit-requests-reset",
                "2026-11-22T13:04:32+0100",
            ),
            (
                "anthropic-ratelimit-requests-reset",
                "2026-11-22T13:04:32+24:00",
            ),
            ("anthropic-ratelimit-requests-reset", "1969-12-31T23:59:59Z"),
            ("anthropic-ratelimit-requests-reset", "1700000000"),
            ("anthropic-ratelimit-requests-reset", "60s"),
        ] {
            let info = p(&[(name, bad)], T0);
            assert!(
                info.requests.is_empty(),
                "{name}: {bad:?} gave {:?}",
                info.requests
            );
            assert_eq!(info.family, Family::None, "{name}: {bad:?}");
        }
        // Remaining 0 is valid.
        let info = p(&[("anthropic-ratelimit-requests-remaining", "0")], T0);
        assert_eq!(info.requests.remaining, Some(0.0));
    }

    // --- OpenAI ----------------------------------------------------------------------------------

    #[test]
    fn openai_full_set() {
        // The example of OpenAI's rate-limit guide.
        let info = p(
            &[
                ("x-ratelimit-limit-requests", "60"),
                ("x-ratelimit-limit-tokens", "150000"),
                ("x-ratelimit-remaining-requests", "59"),
                ("x-ratelimit-remaining-tokens", "149984"),
                ("x-ratelimit-reset-requests", "1s"),
                ("x-ratelimit-reset-tokens", "6m0s"),
            ],
            T0,
        );
        assert_eq!(info.family, Family::OpenAi);
        assert_eq!(
            info.requests,
            DimInfo {
                limit: Some(60.0),
                remaining: Some(59.0),
                reset_at_ms: Some(T0 + 1_000.0),
                window_ms: Some(60_000.0),
                rounded: false,
            }
        );
        assert_eq!(
            info.tokens,
            DimInfo {
                limit: Some(150_000.0),
                remaining: Some(149_984.0),
                reset_at_ms: Some(T0 + 360_000.0),
                window_ms: Some(60_000.0),
                rounded: false,
            }
        );
        assert!(info.input_tokens.is_empty() && info.output_tokens.is_empty());
    }

    #[test]
    fn openai_resets() {
        for (reset, ms) in [
            ("8.64s", 8_640.0),
            ("20ms", 20.0),
            ("1m30s", 90_000.0),
            ("0s", 0.0),
            ("0", 0.0),
            ("2m59.56s", 179_560.0),
        ] {
            let info = p(&[("X-RateLimit-Reset-Tokens", reset)], T0);
            assert_eq!(info.tokens.reset_at_ms, Some(T0 + ms), "{reset}");
        }
        for bad in ["12", "-1s", "1d", "soon", "", "721h"] {
            let info = p(&[("x-ratelimit-reset-tokens", bad)], T0);
            assert!(info.tokens.is_empty(), "{bad:?}");
        }
    }

    // --- several families --------------------------------------------------------------------

    #[test]
    fn family_priority_and_per_dimension_fallback() {
        let info = p(
            &[
                ("x-ratelimit-limit-requests", "60"),
                ("x-ratelimit-limit-tokens", "150000"),
                ("anthropic-ratelimit-tokens-limit", "38000"),
                ("ratelimit-policy", "\"burst\";q=100;w=60"),
            ],
            T0,
        );
        assert_eq!(info.family, Family::Anthropic);
        // tokens from Anthropic, requests from OpenAI (Anthropic said nothing about them).
        assert_eq!(info.tokens.limit, Some(38_000.0));
        assert!(!info.tokens.rounded && info.tokens.remaining.is_none());
        assert_eq!(info.requests.limit, Some(60.0));

        let info = p(
            &[
                ("ratelimit-policy", "\"burst\";q=100;w=60"),
                ("x-ratelimit-remaining-tokens", "5"),
            ],
            T0,
        );
        assert_eq!(info.family, Family::OpenAi);
        assert_eq!(info.requests.limit, Some(100.0));
        assert_eq!(info.requests.window_ms, Some(60_000.0));
    }

    #[test]
    fn a_dimension_is_never_mixed_across_families() {
        let info = p(
            &[
                ("x-ratelimit-remaining-requests", "10"),
                ("anthropic-ratelimit-requests-limit", "50"),
            ],
            T0,
        );
        assert_eq!(info.requests.limit, Some(50.0));
        assert_eq!(info.requests.remaining, None);
    }

    // --- IETF ------------------------------------------------------------------------------------

    fn ietf(policy: Option<&str>, ratelimit: Option<&str>) -> RateLimitInfo {
        let mut h = vec![];
        if let Some(v) = policy {
            h.push(("RateLimit-Policy", v));
        }
        if let Some(v) = ratelimit {
            h.push(("RateLimit", v));
        }
        p(&h, T0)
    }

    #[test]
    fn ietf_policy_and_limit() {
        let info = ietf(
            Some("\"fixedwindow\";q=100;w=60"),
            Some("\"fixedwindow\";r=99;t=50"),
        );
        assert_eq!(info.family, Family::Ietf);
        assert_eq!(
            info.requests,
            DimInfo {
                limit: Some(100.0),
                remaining: Some(99.0),
                reset_at_ms: Some(T0 + 50_000.0),
                window_ms: Some(60_000.0),
                rounded: false,
            }
        );
        assert!(info.tokens.is_empty());
    }

    #[test]
    fn ietf_several_policies_keep_the_least_remaining() {
        // Draft-10 appendix B.3.2.
        let info = ietf(
            Some("\"hour\";q=1000;w=3600, \"day\";q=5000;w=86400"),
            Some("\"day\";r=100;t=36000"),
        );
        assert_eq!(info.requests.limit, Some(5_000.0));
        assert_eq!(info.requests.window_ms, Some(86_400_000.0));
        assert_eq!(info.requests.remaining, Some(100.0));
        assert_eq!(info.requests.reset_at_ms, Some(T0 + 36_000_000.0));

        let info = ietf(
            Some("\"burst\";q=100;w=60, \"daily\";q=1000;w=86400"),
            Some("\"burst\";r=50;t=30, \"daily\";r=20;t=3000"),
        );
        assert_eq!(info.requests.limit, Some(1_000.0));
        assert_eq!(info.requests.remaining, Some(20.0));
        let info = ietf(
            Some("\"burst\";q=100;w=60, \"daily\";q=1000;w=86400"),
            Some("\"daily\";r=900;t=3000, \"burst\";r=50;t=30"),
        );
        assert_eq!(info.requests.limit, Some(100.0));
        assert_eq!(info.requests.remaining, Some(50.0));
        assert_eq!(info.requests.reset_at_ms, Some(T0 + 30_000.0));
    }

    #[test]
    fn ietf_tie_on_remaining_keeps_the_longer_reset() {
        let info = ietf(
            Some("\"a\";q=10;w=1, \"b\";q=1000;w=3600"),
            Some("\"a\";r=0;t=1, \"b\";r=0;t=600"),
        );
        assert_eq!(info.requests.limit, Some(1_000.0));
        assert_eq!(info.requests.reset_at_ms, Some(T0 + 600_000.0));
        let info = ietf(None, Some("\"b\";r=0;t=600, \"a\";r=0;t=1"));
        assert_eq!(info.requests.reset_at_ms, Some(T0 + 600_000.0));
    }

    #[test]
    fn ietf_limit_without_policy() {
        // Draft-10 appendix B.1.1.
        let info = ietf(None, Some("\"default\";r=0;t=50"));
        assert_eq!(info.family, Family::Ietf);
        assert_eq!(info.requests.remaining, Some(0.0));
        assert_eq!(info.requests.reset_at_ms, Some(T0 + 50_000.0));
        assert_eq!(info.requests.limit, None);
        assert_eq!(info.requests.window_ms, None);
        // A policy under another name does not apply.
        let info = ietf(Some("\"other\";q=5;w=1"), Some("\"default\";r=3"));
        assert_eq!(info.requests.remaining, Some(3.0));
        assert_eq!(info.requests.limit, None);
        assert_eq!(info.requests.reset_at_ms, None);
    }

    #[test]
    fn ietf_policy_alone_keeps_the_lowest_rate() {
        let info = ietf(Some("\"burst\";q=100;w=60, \"daily\";q=1000;w=86400"), None);
        assert_eq!(info.requests.limit, Some(1_000.0));
        assert_eq!(info.requests.window_ms, Some(86_400_000.0));
        assert_eq!(info.requests.remaining, None);
        let info = ietf(Some("\"default\";q=100;w=10"), None);
        assert_eq!(info.requests.limit, Some(100.0));
        assert_eq!(info.requests.window_ms, Some(10_000.0));
    }

    #[test]
    fn ietf_tokens_as_names_and_t_alone() {
        // Draft-10 appendix B.3.1 names its policy with a Token and sends `t` alone.
        let info = ietf(Some("quota;q=100;w=1"), Some("quota;t=1"));
        assert_eq!(info.requests.limit, Some(100.0));
        assert_eq!(info.requests.window_ms, Some(1_000.0));
        assert_eq!(info.requests.remaining, None);
        assert_eq!(info.requests.reset_at_ms, Some(T0 + 1_000.0));
        // A String and a Token with the same text name the same policy.
        let info = ietf(Some("quota;q=100;w=1"), Some("\"quota\";r=4"));
        assert_eq!(info.requests.limit, Some(100.0));
        // A policy without a window gives no limit.
        let info = ietf(Some("quota;q=10"), Some("quota;t=1"));
        assert_eq!(info.requests.limit, None);
        assert_eq!(info.requests.reset_at_ms, Some(T0 + 1_000.0));
    }

    #[test]
    fn ietf_only_request_units() {
        let info = ietf(
            Some("\"peruser\";q=65535;qu=\"content-bytes\";w=10;pk=:sdfjLJUOUH==:"),
            Some("\"peruser\";r=300;t=10"),
        );
        assert!(info.requests.is_empty());
        assert_eq!(info.family, Family::None);
        let info = ietf(Some("\"p\";q=5;qu=\"concurrent-requests\";w=1"), None);
        assert!(info.requests.is_empty());
        for unit in ["\"requests\"", "\"request\"", "requests"] {
            let info = ietf(Some(&format!("\"p\";q=5;qu={unit};w=1")), Some("\"p\";r=2"));
            assert_eq!(info.requests.limit, Some(5.0), "{unit}");
        }
        // A byte-unit policy next to a request one: the request one is kept.
        let info = ietf(
            Some("\"bytes\";q=1000000;qu=\"content-bytes\";w=60, \"req\";q=100;w=60"),
            Some("\"bytes\";r=0;t=60, \"req\";r=80;t=20"),
        );
        assert_eq!(info.requests.limit, Some(100.0));
        assert_eq!(info.requests.remaining, Some(80.0));
    }

    #[test]
    fn ietf_partition_keys_escapes_and_extensions() {
        let info = ietf(
            Some("\"peruser\";q=100;w=60;pk=:cHsdsRa894==:;acme-burst=?1"),
            Some("\"peruser\";r=999;pk=:dHJpYWwxMjEzMjM=:;acme-x=\"a\\\"b\""),
        );
        assert_eq!(info.requests.limit, Some(100.0));
        assert_eq!(info.requests.remaining, Some(999.0));
        let info = ietf(Some("\"a\\\"b\";q=7;w=1"), Some("\"a\\\"b\";r=3"));
        assert_eq!(info.requests.limit, Some(7.0));
        let info = ietf(Some("\"a\\\\b\";q=7;w=1"), Some("\"a\\\"b\";r=3"));
        assert_eq!(info.requests.limit, None);
    }

    #[test]
    fn ietf_malformed_members_are_skipped_alone() {
        for member in [
            "\"bad\";r=-1;t=5",
            "\"bad\";r=1.5;t=5",
            "\"bad\";r=\"3\";t=5",
            "\"bad\";r=3;t=-5",
            "\"bad\";r=3;t=2.0",
            "\"bad\";r=2000000000000",
            "\"bad\"",
            "\"bad\";pk=:AAAA:",
            "(\"bad\" \"worse\");r=0;t=9",
            "17;r=0;t=9",
            "?1;r=0;t=9",
            "\"bad\";r=0;t=2592001",
        ] {
            let info = ietf(None, Some(&format!("{member}, \"good\";r=5;t=10")));
            assert_eq!(info.requests.remaining, Some(5.0), "{member}");
            assert_eq!(info.requests.reset_at_ms, Some(T0 + 10_000.0), "{member}");
        }
        for policy in [
            "\"good\";w=60",
            "\"good\";q=-100;w=60",
            "\"good\";q=1.5;w=60",
            "\"good\";q=\"100\";w=60",
            "\"good\";q=100;w=60;qu=5",
        ] {
            let info = ietf(
                Some(&format!("{policy}, \"good\";q=7;w=1")),
                Some("\"good\";r=5"),
            );
            assert_eq!(info.requests.limit, Some(7.0), "{policy}");
        }
        // q = 0, a zero or fractional or absurd window: no limit, remaining still counts.
        for policy in [
            "\"p\";q=0;w=60",
            "\"p\";q=10;w=0",
            "\"p\";q=10;w=1.5",
            "\"p\";q=10;w=2592001",
        ] {
            let info = ietf(Some(policy), Some("\"p\";r=5"));
            assert_eq!(info.requests.limit, None, "{policy}");
            assert_eq!(info.requests.remaining, Some(5.0), "{policy}");
        }
    }

    #[test]
    fn ietf_malformed_field_is_ignored_whole() {
        for bad in [
            "\"good\";r=5;t=10,",
            "\"good\";r=5;t=10,, \"x\";r=1",
            "\"good\";r=5;t=10 \"x\";r=1",
            "\"good;r=5;t=10",
            "\"good\";R=5;t=10",
            "\"good\";r=5;t=10;",
            "\"good\";r=1234567890123456",
            "\"good\";r=5;t=10, \"é\";r=1",
            "\"good\";r=5; t =10",
            "good\";r=5",
            "\"good\";r=5, :abc",
            "\"good\";r=5, (\"a\"",
            "\"good\";r=5, %\"x%ZZ\"",
            "\"good\";r=5, @1.5",
        ] {
            let info = ietf(None, Some(bad));
            assert!(info.requests.is_empty(), "{bad:?} gave {:?}", info.requests);
        }
        // A malformed RateLimit-Policy leaves the RateLimit field usable.
        let info = ietf(Some("\"p\";q=100;w=60,"), Some("\"p\";r=5"));
        assert_eq!(info.requests.remaining, Some(5.0));
        assert_eq!(info.requests.limit, None);
    }

    #[test]
    fn ietf_every_bare_item_type_parses() {
        let info = ietf(
            None,
            Some(
                "\"p\";r=5;t=10;a=-3;b=1.25;c=tok/en:x;d=:YWJj:;e=?0;f=@1700000000;\
                 g=%\"caf%c3%a9\";h, (1 \"two\" three);x=1, \"q\";r=9",
            ),
        );
        assert_eq!(info.requests.remaining, Some(5.0));
    }

    #[test]
    fn ietf_field_lines_combine() {
        let info = p(
            &[
                ("ratelimit-policy", "\"burst\";q=100;w=60"),
                ("ratelimit-policy", "\"daily\";q=1000;w=86400"),
                ("ratelimit", "\"burst\";r=50;t=30"),
                ("ratelimit", "\"daily\";r=10;t=8000"),
            ],
            T0,
        );
        assert_eq!(info.requests.limit, Some(1_000.0));
        assert_eq!(info.requests.remaining, Some(10.0));
        // One bad line spoils the field, as it would once combined.
        let info = p(
            &[
                ("ratelimit", "\"burst\";r=50;t=30"),
                ("ratelimit", "\"daily\";r=10;t=8000,"),
            ],
            T0,
        );
        assert!(info.requests.is_empty());
        // An empty line adds nothing.
        let info = p(
            &[("ratelimit", ""), ("ratelimit", "\"burst\";r=50;t=30")],
            T0,
        );
        assert_eq!(info.requests.remaining, Some(50.0));
    }

    #[test]
    fn ietf_members_past_the_cap_are_ignored() {
        let many: Vec<String> = (0..40).map(|i| format!("\"p{i}\";r={}", 100 - i)).collect();
        let info = ietf(None, Some(&many.join(", ")));
        assert_eq!(info.requests.remaining, Some(69.0)); // the 32nd member, p31
        let policies: Vec<String> = (0..40).map(|i| format!("\"p{i}\";q=5;w=1")).collect();
        let info = ietf(Some(&policies.join(", ")), Some("\"p31\";r=1, \"p32\";r=0"));
        assert_eq!(info.requests.remaining, Some(0.0));
        assert_eq!(info.requests.limit, None); // p32 is past the cap
                                               // A hostile field stays cheap and harmless.
        let huge = vec!["\"x\";r=1;t=1"; 5_000].join(", ");
        let info = ietf(Some(&huge), Some(&huge));
        assert_eq!(info.requests.remaining, Some(1.0));
    }

    #[test]
    fn ietf_with_retry_after() {
        // Draft-10 appendix B.1.4: Retry-After as an HTTP-date, with Date.
        let info = p(
            &[
                ("Date", "Mon, 05 Aug 2019 09:27:00 GMT"),
                ("Retry-After", "Mon, 05 Aug 2019 09:27:05 GMT"),
                ("RateLimit", "\"default\";r=0;t=5"),
            ],
            T0,
        );
        assert_eq!(info.retry_after_ms, Some(5_000.0));
        assert_eq!(info.requests.remaining, Some(0.0));
        assert_eq!(info.requests.reset_at_ms, Some(T0 + 5_000.0));
    }

    // --- helpers ---------------------------------------------------------------------------------

    /// Go's own `ParseDuration` test table (time/time_test.go), in nanoseconds.
    #[test]
    fn go_duration_matches_go() {
        const S: u64 = 1_000_000_000;
        const M: u64 = 60 * S;
        const H: u64 = 60 * M;
        for (s, ns) in [
            ("0", 0),
            ("5s", 5 * S),
            ("30s", 30 * S),
            ("1478s", 1478 * S),
            ("+5s", 5 * S),
            ("+0", 0),
            ("5.0s", 5 * S),
            ("5.6s", 5 * S + 600_000_000),
            ("5.s", 5 * S),
            (".5s", S / 2),
            ("1.0s", S),
            ("1.00s", S),
            ("1.004s", S + 4_000_000),
            ("1.0040s", S + 4_000_000),
            ("100.00100s", 100 * S + 1_000_000),
            ("10ns", 10),
            ("11us", 11_000),
            ("12µs", 12_000),
            ("12μs", 12_000),
            ("13ms", 13_000_000),
            ("14s", 14 * S),
            ("15m", 15 * M),
            ("16h", 16 * H),
            ("3h30m", 3 * H + 30 * M),
            ("10.5s4m", 4 * M + 10 * S + S / 2),
            ("1h2m3s4ms5us6ns", H + 2 * M + 3 * S + 4_000_000 + 5_000 + 6),
            ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425_000_000),
            ("52763797000ns", 52_763_797_000),
            ("0.3333333333333333333h", 20 * M),
            ("9007199254740993ns", (1 << 53) + 1),
            ("9223372036854775807ns", i64::MAX as u64),
            ("9223372036854775.807us", i64::MAX as u64),
            ("9223372036854ms775us807ns", i64::MAX as u64),
            ("0.100000000000000000000h", 6 * M),
            ("0.830103483285477580700h", 49 * M + 48 * S + 372_539_827),
        ] {
            assert_eq!(parse_go_duration(s), Some(ns as f64 / 1e6), "{s}");
        }
        for bad in [
            "",
            "3",
            "-",
            "s",
            ".",
            "-.",
            ".s",
            "+.s",
            "1d",
            "\u{85}\u{85}",
            "\u{ff}ff",
            "hello \u{ff}ff world",
            "9223372036854775810ns",
            "9223372036854775808ns",
            "9223372036854775.808us",
            "9223372036854ms775us808ns",
            "3000000h",
            // Go accepts these; a wait is never negative.
            "-5s",
            "-0",
            "-2m3.4s",
            "-9223372036854775808ns",
            // Spaces are not part of the grammar.
            " 1s",
            "1 s",
            "1s ",
        ] {
            assert_eq!(parse_go_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rfc3339_numeric_offsets() {
        let t = parse_rfc3339("2026-11-22T13:04:32Z").unwrap();
        assert_eq!(t, T0);
        assert_eq!(parse_rfc3339("2026-11-22T13:04:32+00:00"), Some(T0));
        assert_eq!(parse_rfc3339("2026-11-23T00:34:32+11:30"), Some(T0));
        assert_eq!(parse_rfc3339("2026-11-21T23:04:32-14:00"), Some(T0));
        assert_eq!(parse_rfc3339("2026-11-22T13:04:60Z"), Some(T0 + 27_000.0));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z"),
            Some(1_709_164_800_000.0)
        );
        assert_eq!(parse_rfc3339("2023-02-29T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2026-11-22T13:04:32+01"), None);
        assert_eq!(parse_rfc3339("2026-11-22T13:04:32+1:00"), None);
        assert_eq!(parse_rfc3339("2026-11-22T13:04:32+01:60"), None);
        assert_eq!(parse_rfc3339("2026-11-22T13:04:32.+01:00"), None);
        assert_eq!(parse_rfc3339("2026-11-22T13:04:32.1+01:00Z"), None);
        assert_eq!(parse_rfc3339("2026-11-22T13:04:32.1.2Z"), None);
        assert_eq!(parse_rfc3339("2026-11-22T13:04:3éZ"), None);
        assert_eq!(parse_rfc3339("2026-11-22é13:04:32+01:00"), None);
        assert_eq!(parse_rfc3339(""), None);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("1."), Some(1.0));
        assert_eq!(parse_number(".5"), Some(0.5));
        assert_eq!(parse_number("1e3"), Some(1000.0));
        assert_eq!(parse_number("1E+3"), Some(1000.0));
        for bad in [
            ".", "e3", "1e", "1e+", "+1", "-1", "1 2", "١", "0x1", "1_000", "inf",
        ] {
            assert_eq!(parse_number(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn names_longer_than_any_known_are_ignored_without_panic() {
        let long = "anthropic-ratelimit-output-tokens-remaining-and-then-some-more-text";
        assert_eq!(key_of(long), None);
        assert_eq!(key_of("ÄNTHROPIC-RATELIMIT-REQUESTS-LIMIT"), None);
        assert_eq!(
            key_of("ANTHROPIC-RATELIMIT-REQUESTS-LIMIT"),
            Some(Key::Anthropic(A_REQUESTS, Field::Limit))
        );
    }

    #[test]
    fn non_finite_now_yields_no_non_finite_number() {
        let mut h = anthropic_200();
        h.push(("retry-after", "Sun, 22 Nov 2026 13:04:37 GMT"));
        h.push(("x-ratelimit-reset-requests", "1s"));
        for now in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let info = p(&h, now);
            for d in [
                info.requests,
                info.input_tokens,
                info.output_tokens,
                info.tokens,
            ] {
                assert!(d.reset_at_ms.is_none_or(f64::is_finite));
            }
            assert_eq!(info.retry_after_ms, Some(5_000.0)); // against Date
            let no_date: Vec<_> = h.iter().copied().filter(|(n, _)| *n != "date").collect();
            assert_eq!(p(&no_date, now).retry_after_ms, None);
        }
    }

    // --- dates, against the crates they replace ----------------------------------------------

    /// What `httpdate` says, in epoch ms.
    fn httpdate_ms(s: &str) -> Option<Ms> {
        let t = httpdate::parse_http_date(s).ok()?;
        Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as f64 * 1000.0)
    }

    /// What the `humantime`-based parser said (for a UTC stamp whose fraction, if any, is
    /// `.` and digits; other fractions were refused before `humantime` was asked, and so
    /// was a separator other than `T` or `t`).
    fn humantime_ms(body: &str) -> Option<Ms> {
        if !matches!(body.as_bytes().get(10), Some(b'T' | b't')) {
            return None;
        }
        let body = format!("{}T{}", &body[..10], &body[11..]);
        let t = humantime::parse_rfc3339_weak(&body).ok()?;
        let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
        Some(d.as_secs() as f64 * 1000.0 + f64::from(d.subsec_nanos()) / 1e6)
    }

    /// Each of the three HTTP-date forms of `secs`, as `httpdate` and RFC 850 write them.
    fn http_dates(secs: u64) -> [String; 3] {
        let imf =
            httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs));
        let b = imf.as_bytes();
        let wd = [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ]
        .into_iter()
        .find(|w| w.as_bytes()[..3] == b[..3])
        .unwrap();
        let (day, mon, year, time) = (&imf[5..7], &imf[8..11], &imf[12..16], &imf[17..25]);
        let rfc850 = format!("{wd}, {day}-{mon}-{} {time} GMT", &year[2..]);
        let day_sp = day
            .strip_prefix('0')
            .map_or(day.to_string(), |d| format!(" {d}"));
        let asctime = format!("{} {mon} {day_sp} {time} {year}", &imf[..3]);
        [imf, rfc850, asctime]
    }

    #[test]
    fn http_dates_agree_with_httpdate_on_edge_cases() {
        let mut cases: Vec<String> = [
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "Wed, 31 Dec 1969 23:59:59 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "Tue, 29 Feb 2000 12:00:00 GMT",
            "Sun, 29 Feb 2100 12:00:00 GMT",
            "Mon, 01 Mar 2100 12:00:00 GMT",
            "Thu, 29 Feb 2024 00:00:00 GMT",
            "Wed, 31 Apr 2024 00:00:00 GMT",
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov 1994 08:49:60 GMT",
            "Sun, 06 nov 1994 08:49:37 GMT",
            "sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 gmt",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun,  6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sunday, 06-Nov-94_08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 UTC",
            "Sunday 06-Nov-94 08:49:37 GMT",
            "Sun, 06-Nov-94 08:49:37 GMT",
            "Thursday, 01-Jan-70 00:00:00 GMT",
            "Wednesday, 31-Dec-69 23:59:59 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun Nov 06 08:49:37 1994",
            "Sun Nov 6  08:49:37 1994",
            "Sun Nov  0 08:49:37 1994",
            "Sun Nov  6 08:49:37 94",
            " \t\x0b\x0c\r\nSun, 06 Nov 1994 08:49:37 GMT \t\x0b\x0c\r\n",
            "Sun, 06 Nov 1994 08:49:37 GMT\x1f",
            "Sun, 06 Nov 1994 08:49:37 GMT\u{a0}",
            "Sun, 06 Nov 1994 08:49:37 GMT\u{85}",
            "Sun, 06 Nov 1994 08:49:3７ GMT",
            "",
            " ",
            "Sun",
            "Sunday, ",
        ]
        .map(String::from)
        .to_vec();
        for secs in [
            0,
            951_782_400,
            4_107_542_400,
            3_029_529_600,
            253_402_300_799,
        ] {
            cases.extend(http_dates(secs));
        }
        for s in &cases {
            assert_eq!(parse_http_date(s), httpdate_ms(s), "{s:?}");
        }
    }

    #[test]
    fn rfc3339_agrees_with_humantime_on_edge_cases() {
        for body in [
            "1970-01-01T00:00:00",
            "1969-12-31T23:59:59",
            "9999-12-31T23:59:60",
            "2000-02-29T00:00:00",
            "2100-02-29T00:00:00",
            "2026-04-31T00:00:00",
            "2026-00-10T00:00:00",
            "2026-13-10T00:00:00",
            "2026-01-00T00:00:00",
            "2026-01-32T00:00:00",
            "2026-11-22T24:00:00",
            "2026-11-22T23:60:00",
            "2026-11-22T23:59:61",
            "2026-11-22T13:04:32.1",
            "2026-11-22T13:04:32.123456789",
            "2026-11-22T13:04:32.1234567899999",
            "2026-11-22T13:04:32.000000001",
            "2026-11-22T13:04:32.0000000009",
            "2026-11-22X13:04:32",
            "2026/11-22T13:04:32",
            "2026-11/22T13:04:32",
            "2026-11-22T13-04:32",
            "2026-11-22T13:04-32",
            "2026-1a-22T13:04:32",
            "+026-11-22T13:04:32",
        ] {
            assert_eq!(
                parse_rfc3339(&format!("{body}Z")),
                humantime_ms(body),
                "{body}"
            );
        }
    }

    mod differential {
        use super::*;
        use proptest::prelude::*;

        /// A byte that keeps a date string close to well-formed.
        fn near_byte() -> impl Strategy<Value = u8> {
            prop_oneof![
                (b'0'..=b'9'),
                Just(b' '),
                Just(b':'),
                Just(b'-'),
                Just(b','),
                Just(b'.'),
                Just(b'T'),
                Just(b'Z'),
                (b'A'..=b'z'),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(3000))]

            /// Every date from 1970 to 9999 in each form, and the same with a byte or two
            /// changed, reads as `httpdate` reads it.
            #[test]
            fn http_dates_agree_with_httpdate(
                secs in 0u64..=253_402_300_799,
                form in 0usize..3,
                edits in proptest::collection::vec((any::<prop::sample::Index>(), near_byte()), 0..3),
            ) {
                let mut b = http_dates(secs)[form].clone().into_bytes();
                for (i, c) in edits {
                    let i = i.index(b.len());
                    b[i] = c;
                }
                let s = String::from_utf8(b).unwrap();
                prop_assert_eq!(parse_http_date(&s), httpdate_ms(&s), "{:?}", s);
            }

            /// RFC 3339 stamps with a byte or two changed read as `humantime` read them.
            #[test]
            fn rfc3339_agrees_with_humantime(
                secs in 0u64..=253_402_300_799,
                frac in "(\\.[0-9]{1,12})?",
                edits in proptest::collection::vec((any::<prop::sample::Index>(), near_byte()), 0..3),
            ) {
                let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
                let mut b = humantime::format_rfc3339_seconds(t).to_string().into_bytes();
                b.pop(); // the Z
                for (i, c) in edits {
                    let i = i.index(b.len());
                    b[i] = c;
                }
                let body = format!("{}{frac}", String::from_utf8(b).unwrap());
                prop_assert_eq!(parse_rfc3339(&format!("{body}Z")), humantime_ms(&body), "{}", body);
            }
        }
    }
}
