//! `headers`: arbitrary header lines through `core::headers::parse`.
//!
//! Input: text. The first line is the local time (`now_ms`, a decimal number; anything else
//! means [`NOW`]); every further line is a header `name: value`.
//!
//! Checks:
//! * every number is finite and within the documented bounds (limits in `(0, MAX_COUNT]`,
//!   remaining counts in `[0, MAX_COUNT]`, waits in `[0, ABSURD_MS]`, resets within
//!   `[now, now + ABSURD_MS]`, a window with every limit and never on an empty dimension);
//! * the retry hint, `x-should-retry`, the server's `Date` and every Anthropic and OpenAI
//!   limit and remaining count are what a reference reading gives: numbers of the
//!   documented grammar (valued as `numbers` checks), dates by `httpdate`, the first valid occurrence winning, each
//!   dimension taken whole from the first family that says anything about it. A wait of 0
//!   ("retry now") therefore only ever comes from a header that validly says so;
//! * IETF fields give whole numbers;
//! * the parse is deterministic, blind to the case of names, and to unknown headers.

use super::{header_lines, reference_http_date, reference_number, NOW};
use llm_pacer::core::headers::{
    parse, parse_go_duration, parse_rfc3339, DimInfo, Family, RateLimitInfo, ABSURD_MS, MAX_COUNT,
};

/// The per-minute window of the Anthropic and OpenAI limits.
const MINUTE_MS: f64 = 60_000.0;

/// The window of a dimension sent under per-minute names (OpenAI's, the unprefixed ones), as
/// the documentation gives it: a minute, unless the reset lies more than 90 s out and
/// `reset × limit / spent` (the reset alone with none left or no count) is within 15% of an
/// hour or a day: then that one.
fn window_for(d: &DimInfo, now: f64) -> f64 {
    let (hour, day) = (3_600_000.0, 86_400_000.0);
    let Some(reset) = d.reset_at_ms.map(|t| t - now).filter(|&r| r > 90_000.0) else {
        return MINUTE_MS;
    };
    let w = match (d.limit, d.remaining) {
        (Some(l), Some(r)) if r < l => reset * l / (l - r),
        (_, Some(r)) if r > 0.0 => return MINUTE_MS,
        _ => reset,
    };
    [hour, day]
        .into_iter()
        .find(|&x| w >= x * 0.85 && w <= x * 1.15)
        .unwrap_or(MINUTE_MS)
}

/// Run the checks on one input.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let now = match first.trim().parse::<f64>() {
        Ok(t) if t.is_finite() && t.abs() <= 1e15 => t,
        _ => NOW,
    };
    let headers = header_lines(rest);
    check_headers(&headers, now);
}

/// The checks, on headers already split.
pub fn check_headers(headers: &[(&str, &str)], now: f64) {
    let info = parse(headers.iter().copied(), now);
    check_bounds(&info, now);
    let want = reference(headers, now);
    assert_eq!(info.retry_after_ms, want.retry_after_ms, "retry hint");
    if let Some(w) = info.retry_after_ms {
        assert!(w.is_sign_positive(), "a wait of -0");
    }
    assert_eq!(info.should_retry, want.should_retry, "x-should-retry");
    assert_eq!(info.server_date_ms, want.server_date_ms, "Date");
    assert_eq!(info.quota_spent, want.quota_spent, "a spent quota");
    for (what, got, want) in [
        ("input_tokens", info.input_tokens, want.input_tokens),
        ("output_tokens", info.output_tokens, want.output_tokens),
        (
            "priority_input",
            info.priority_input_tokens,
            want.priority_input_tokens,
        ),
        (
            "priority_output",
            info.priority_output_tokens,
            want.priority_output_tokens,
        ),
        ("tokens", info.tokens, want.tokens),
    ] {
        assert_eq!(got, want, "{what}");
    }
    if want.requests.is_empty() {
        // Neither Anthropic nor OpenAI spoke of requests: the IETF fields did, if anyone.
        check_ietf(&info.requests);
    } else {
        assert_eq!(info.requests, want.requests, "requests");
    }
    if want.family == Family::Ietf {
        // Neither Anthropic nor OpenAI spoke at all.
        let ietf = if info.requests.is_empty() {
            Family::None
        } else {
            Family::Ietf
        };
        assert_eq!(info.family, ietf, "family");
    } else {
        assert_eq!(info.family, want.family, "family");
    }

    // Deterministic, blind to the case of names and to headers it does not know.
    assert_eq!(
        parse(headers.iter().copied(), now),
        info,
        "not deterministic"
    );
    let upper: Vec<(String, &str)> = headers
        .iter()
        .map(|&(n, v)| (n.to_ascii_uppercase(), v))
        .collect();
    assert_eq!(
        parse(upper.iter().map(|(n, v)| (n.as_str(), *v)), now),
        info,
        "header names are not case-insensitive"
    );
    let noisy = headers
        .iter()
        .flat_map(|&h| [("x-unknown", "1"), h, ("retry-after-seconds", "0")]);
    assert_eq!(
        parse(noisy, now),
        info,
        "an unknown header changed the result"
    );
}

/// The documented bounds of every field.
pub fn check_bounds(info: &RateLimitInfo, now: f64) {
    if let Some(w) = info.retry_after_ms {
        assert!(
            w.is_finite() && (1.0..=ABSURD_MS).contains(&w),
            "retry hint {w}"
        );
    }
    if let Some(d) = info.server_date_ms {
        assert!(d.is_finite() && d >= 0.0, "Date {d}");
    }
    let dims = [
        info.requests,
        info.input_tokens,
        info.output_tokens,
        info.tokens,
        info.priority_input_tokens,
        info.priority_output_tokens,
    ];
    for d in dims {
        check_dim(&d, now);
    }
    let any = dims.iter().any(|d| !d.is_empty());
    assert_eq!(
        any,
        info.family != Family::None,
        "family {:?} vs dims",
        info.family
    );
    assert_eq!(
        info.has_limits(),
        !(info.requests.is_empty()
            && info.input_tokens.is_empty()
            && info.output_tokens.is_empty()
            && info.tokens.is_empty())
    );
}

fn check_dim(d: &DimInfo, now: f64) {
    if let Some(l) = d.limit {
        assert!((1.0..=MAX_COUNT).contains(&l), "limit {l}");
    }
    if let Some(r) = d.remaining {
        assert!(
            (0.0..=MAX_COUNT).contains(&r) && r.is_sign_positive(),
            "remaining {r}"
        );
    }
    if let Some(t) = d.reset_at_ms {
        assert!(
            t.is_finite() && t >= now && t <= now + ABSURD_MS,
            "reset {t} (now {now})"
        );
    }
    match d.window_ms {
        Some(w) => {
            assert!(!d.is_empty(), "a window without a field");
            assert!(w.is_finite() && w > 0.0 && w <= ABSURD_MS, "window {w}");
        }
        // An IETF service limit without its policy gives a remaining count and a reset, but
        // no window; a limit always comes with one.
        None => assert!(d.limit.is_none(), "a limit without its window: {d:?}"),
    }
    if d.rounded {
        assert!(d.remaining.is_some(), "rounded without a remaining count");
    }
}

/// IETF values are Integers (and the window whole seconds).
fn check_ietf(d: &DimInfo) {
    for v in [d.limit, d.remaining].into_iter().flatten() {
        assert_eq!(v.fract(), 0.0, "IETF count {v}");
    }
    if let Some(w) = d.window_ms {
        assert_eq!((w / 1000.0).fract(), 0.0, "IETF window {w}");
        assert!(d.limit.is_some(), "an IETF window without its quota");
    }
    assert!(!d.rounded);
}

// ---------------------------------------------------------------------------------------------
// The reference reading, field by field, from the module's documentation.

/// A wait in `[0, ABSURD_MS]`, with `-0` made `+0`.
fn wait(ms: f64) -> Option<f64> {
    (ms.is_finite() && (0.0..=ABSURD_MS).contains(&ms)).then_some(ms + 0.0)
}

/// The first value, in order, of a header named `name` that `read` accepts.
fn first<T>(
    headers: &[(&str, &str)],
    name: &str,
    mut read: impl FnMut(&str) -> Option<T>,
) -> Option<T> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .find_map(|(_, v)| read(v.trim()))
}

/// A dimension as the documentation describes it: the first valid limit, remaining count and
/// reset, each on its own, and the window when any is present. The reset is the first that
/// `read` accepts, then set on the local clock by `place` (which may find it absurd: there
/// is no falling back to a later one, as the `Date` header is known only at the end).
fn dim(
    headers: &[(&str, &str)],
    names: [&str; 3],
    read: impl FnMut(&str) -> Option<f64>,
    place: impl Fn(f64) -> Option<f64>,
    rounded: bool,
) -> DimInfo {
    let limit = first(headers, names[0], |v| {
        reference_number(v).filter(|&l| (1.0..=MAX_COUNT).contains(&l))
    });
    let remaining = first(headers, names[1], |v| {
        reference_number(v)
            .filter(|&r| r <= MAX_COUNT)
            .map(|r| r + 0.0)
    });
    let reset_at_ms = first(headers, names[2], read).and_then(place);
    if limit.is_none() && remaining.is_none() && reset_at_ms.is_none() {
        return DimInfo::default();
    }
    DimInfo {
        limit,
        remaining,
        reset_at_ms,
        window_ms: Some(MINUTE_MS),
        rounded: rounded && remaining.is_some(),
    }
}

/// The first value, in order, of a header named any of `names` that `read` accepts.
fn first_of<T>(
    headers: &[(&str, &str)],
    names: &[&str],
    mut read: impl FnMut(&str) -> Option<T>,
) -> Option<T> {
    headers
        .iter()
        .filter(|(n, _)| names.iter().any(|m| n.eq_ignore_ascii_case(m)))
        .find_map(|(_, v)| read(v.trim()))
}

/// A dimension of the families beyond (Mistral, the unprefixed names, Together): like
/// [`dim`], each field under any of its names, with its own window.
fn dim_of(
    headers: &[(&str, &str)],
    names: [&[&str]; 3],
    read: impl FnMut(&str) -> Option<f64>,
    place: impl Fn(f64) -> Option<f64>,
    window_ms: f64,
) -> DimInfo {
    let limit = first_of(headers, names[0], |v| {
        reference_number(v).filter(|&l| (1.0..=MAX_COUNT).contains(&l))
    });
    let remaining = first_of(headers, names[1], |v| {
        reference_number(v)
            .filter(|&r| r <= MAX_COUNT)
            .map(|r| r + 0.0)
    });
    let reset_at_ms = first_of(headers, names[2], read).and_then(place);
    if limit.is_none() && remaining.is_none() && reset_at_ms.is_none() {
        return DimInfo::default();
    }
    DimInfo {
        limit,
        remaining,
        reset_at_ms,
        window_ms: Some(window_ms),
        rounded: false,
    }
}

/// The whole reference reading (IETF fields aside: `requests` holds only the Anthropic or
/// OpenAI dimension, and `family` is `Ietf` when neither spoke).
fn reference(headers: &[(&str, &str)], now: f64) -> RateLimitInfo {
    let date = first(headers, "date", reference_http_date);
    enum Hint {
        Delay(f64),
        At(f64),
    }
    // A retry hint is a wait above zero: zero (or a date not in the future) is none.
    // Under a millisecond is "now": no hint, as zero. In whole milliseconds, rounded up;
    // within 10^-13 (relative) of a whole number, the decimal's error: that number.
    let whole = |ms: f64| {
        let r = ms.round();
        if (ms - r).abs() <= r * 1e-13 {
            r
        } else {
            ms.ceil()
        }
    };
    let hint = |ms: f64| wait(ms).filter(|&ms| ms >= 1.0).map(whole);
    // A number, or the largest of a comma-separated list of numbers (a repeated field).
    let number = |v: &str| {
        reference_number(v).or_else(|| {
            if !v.contains(", ") {
                return None;
            }
            let parts: Vec<Option<f64>> = v.split(", ").map(reference_number).collect();
            parts
                .iter()
                .all(Option::is_some)
                .then(|| parts.iter().flatten().fold(0.0, |a: f64, &b| a.max(b)))
        })
    };
    let retry_after_ms = first_of(headers, &["retry-after-ms", "x-ms-retry-after-ms"], |v| {
        number(v).and_then(hint)
    })
    .or_else(|| {
        let found = first(headers, "retry-after", |v| match number(v) {
            Some(secs) => hint(secs * 1000.0).map(Hint::Delay),
            None => reference_http_date(v).map(Hint::At),
        });
        match found? {
            Hint::Delay(ms) => Some(ms),
            Hint::At(at) => hint(at - date.unwrap_or(now)),
        }
    });
    let should_retry = first(headers, "x-should-retry", |v| {
        if v.eq_ignore_ascii_case("true") {
            Some(true)
        } else if v.eq_ignore_ascii_case("false") {
            Some(false)
        } else {
            None
        }
    });
    // A local reset `delta` after now: the past is now, beyond ABSURD_MS is absent.
    let after = |delta: f64| {
        if !delta.is_finite() || delta > ABSURD_MS {
            return None;
        }
        let t = now + delta.max(0.0);
        t.is_finite().then_some(t)
    };
    // Anthropic resets are RFC 3339 on the server's clock, moved to ours through `Date`.
    let anthropic = |prefix: &str, dim_name: &str, rounded: bool| {
        let names = ["limit", "remaining", "reset"].map(|f| format!("{prefix}-{dim_name}-{f}"));
        dim(
            headers,
            [&names[0], &names[1], &names[2]].map(String::as_str),
            parse_rfc3339,
            |t| after(t - date.unwrap_or(now)),
            rounded,
        )
    };
    // An epoch in ms (>= 1e12) or s (>= 1e9) on the server's clock, else seconds from now.
    let number_reset = |n: f64| {
        if n >= 1e12 {
            after(n - date.unwrap_or(now))
        } else if n >= 1e9 {
            after(n * 1000.0 - date.unwrap_or(now))
        } else {
            wait(n * 1000.0).and_then(after)
        }
    };
    // OpenAI resets are Go durations from now; others write a bare number (as the
    // unprefixed reset) or an RFC 3339 time (from 2001, epoch ms on the server's clock).
    // (Read as a Go duration's ms `d >= 0`, else as `-1 - n`, placed alike.)
    let openai = |dim_name: &str| {
        let names = ["limit", "remaining", "reset"].map(|f| format!("x-ratelimit-{f}-{dim_name}"));
        dim(
            headers,
            [&names[0], &names[1], &names[2]].map(String::as_str),
            |v| {
                parse_go_duration(v).and_then(wait).or_else(|| {
                    reference_number(v)
                        .or_else(|| parse_rfc3339(v).filter(|&t| t >= 1e12))
                        .map(|n| -1.0 - n)
                })
            },
            |x| {
                if x >= 0.0 {
                    after(x)
                } else {
                    number_reset(-1.0 - x)
                }
            },
            false,
        )
    };
    let a_requests = anthropic("anthropic-ratelimit", "requests", false);
    let a_tokens = anthropic("anthropic-ratelimit", "tokens", true);
    let a_input = anthropic("anthropic-ratelimit", "input-tokens", true);
    let a_output = anthropic("anthropic-ratelimit", "output-tokens", true);
    let a_prio_in = anthropic("anthropic-priority", "input-tokens", true);
    let a_prio_out = anthropic("anthropic-priority", "output-tokens", true);
    let mut o_requests = openai("requests");
    let mut o_tokens = openai("tokens");
    for d in [&mut o_requests, &mut o_tokens] {
        if !d.is_empty() {
            d.window_ms = Some(window_for(d, now));
        }
    }
    // Groq: the OpenAI names with `x-groq-region`, requests per day.
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let groq = has("x-groq-region");
    if groq && !o_requests.is_empty() {
        o_requests.window_ms = Some(86_400_000.0);
    }
    // Mistral: the window in the name (the shortest that speaks), resets in seconds;
    // `ratelimitbysize-*` is tokens per minute.
    let seconds = |v: &str| reference_number(v).and_then(|s| wait(s * 1000.0));
    // (A month is a quota, never paced: last, and left out of the dimensions.)
    let windows = [
        ("second", 1_000.0),
        ("minute", MINUTE_MS),
        ("hour", 3_600_000.0),
        ("day", 86_400_000.0),
        ("month", f64::NAN),
    ];
    let mistral_all = |d: &str| -> Vec<DimInfo> {
        windows
            .iter()
            .map(|&(w, ms)| {
                let names =
                    ["limit", "remaining", "reset"].map(|f| format!("x-ratelimit-{f}-{d}-{w}"));
                let old = ["limit", "remaining", "reset"].map(|f| format!("ratelimitbysize-{f}"));
                // Cerebras: `requests` for `req`.
                let spelled = ["limit", "remaining", "reset"]
                    .map(|f| format!("x-ratelimit-{f}-requests-{w}"));
                let with_old = d == "tokens" && w == "minute";
                let list = |i: usize| {
                    if with_old {
                        vec![names[i].as_str(), old[i].as_str()]
                    } else if d == "req" {
                        vec![names[i].as_str(), spelled[i].as_str()]
                    } else {
                        vec![names[i].as_str()]
                    }
                };
                let (l0, l1, l2) = (list(0), list(1), list(2));
                dim_of(headers, [&l0, &l1, &l2], seconds, after, ms)
            })
            .collect()
    };
    let mistral = |d: &str| {
        mistral_all(d)[..4]
            .iter()
            .copied()
            .find(|d| !d.is_empty())
            .unwrap_or_default()
    };
    let (m_requests, m_tokens) = (mistral("req"), mistral("tokens"));
    // A quota: any window of a dimension but its shortest (a month never paced) with
    // nothing left, while no shortest one has nothing left.
    let (mut quota, mut paced) = (false, false);
    for d in ["req", "tokens"] {
        let all = mistral_all(d);
        let shortest = all[..4].iter().position(|d| !d.is_empty());
        for (w, x) in all.iter().enumerate() {
            let spent = x.remaining.is_some_and(|r| r < 1.0);
            if Some(w) == shortest {
                paced |= spent;
            } else {
                quota |= spent;
            }
        }
    }
    // The unprefixed names: an epoch in ms (>= 1e12) or s (>= 1e9) on the server's clock,
    // else seconds from now; per minute, or per second with Together's `x-tokenlimit-*`.
    let together = [
        "x-tokenlimit-limit",
        "x-tokenlimit-remaining",
        "x-tokenlimit-reset",
    ]
    .iter()
    .any(|n| has(n));
    let per = if together { 1_000.0 } else { MINUTE_MS };
    let mut plain = dim_of(
        headers,
        [
            &["x-ratelimit-limit"],
            &["x-ratelimit-remaining"],
            &["x-ratelimit-reset"],
        ],
        reference_number,
        number_reset,
        per,
    );
    if !together && !plain.is_empty() {
        plain.window_ms = Some(window_for(&plain, now));
    }
    let t_tokens = if together {
        dim_of(
            headers,
            [
                &["x-tokenlimit-limit"],
                &["x-tokenlimit-remaining"],
                &["x-tokenlimit-reset"],
            ],
            seconds,
            after,
            1_000.0,
        )
    } else {
        DimInfo::default()
    };
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
    } else if !(m_requests.is_empty() && m_tokens.is_empty()) {
        Family::Mistral
    } else if !(plain.is_empty() && t_tokens.is_empty()) {
        if together {
            Family::Together
        } else {
            Family::XRateLimit
        }
    } else {
        Family::Ietf
    };
    let pick = |a: DimInfo, o: DimInfo| if a.is_empty() { o } else { a };
    RateLimitInfo {
        retry_after_ms,
        should_retry,
        requests: pick(pick(a_requests, o_requests), pick(m_requests, plain)),
        input_tokens: a_input,
        output_tokens: a_output,
        tokens: pick(pick(a_tokens, o_tokens), pick(m_tokens, t_tokens)),
        priority_input_tokens: a_prio_in,
        priority_output_tokens: a_prio_out,
        server_date_ms: date,
        family,
        quota_spent: quota && !paced,
    }
}
