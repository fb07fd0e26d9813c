//! Property tests for `core::headers`: no input panics or yields an out-of-range number, and
//! every value a server could send parses back to what it meant.

use llm_pacer::core::classify::{classify, ErrorInfo, FailKind, Outcome};
use llm_pacer::core::headers::{
    parse, parse_go_duration, parse_http_date, parse_rfc3339, DimInfo, Family, RateLimitInfo,
    ABSURD_MS, MAX_COUNT,
};
use proptest::prelude::*;

/// Every header name `parse` understands.
const KNOWN: &[&str] = &[
    "retry-after-ms",
    "retry-after",
    "x-should-retry",
    "date",
    "anthropic-ratelimit-requests-limit",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-tokens-limit",
    "anthropic-ratelimit-tokens-remaining",
    "anthropic-ratelimit-tokens-reset",
    "anthropic-ratelimit-input-tokens-limit",
    "anthropic-ratelimit-input-tokens-remaining",
    "anthropic-ratelimit-input-tokens-reset",
    "anthropic-ratelimit-output-tokens-limit",
    "anthropic-ratelimit-output-tokens-remaining",
    "anthropic-ratelimit-output-tokens-reset",
    "anthropic-priority-input-tokens-limit",
    "anthropic-priority-input-tokens-remaining",
    "anthropic-priority-input-tokens-reset",
    "anthropic-priority-output-tokens-limit",
    "anthropic-priority-output-tokens-remaining",
    "anthropic-priority-output-tokens-reset",
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
    "ratelimit-policy",
    "ratelimit",
    // The families beyond (kept last: the slices above index the first 30).
    "x-groq-region",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-tokenlimit-limit",
    "x-tokenlimit-remaining",
    "x-tokenlimit-reset",
    "ratelimitbysize-limit",
    "ratelimitbysize-remaining",
    "ratelimitbysize-reset",
    "x-ratelimit-limit-req-minute",
    "x-ratelimit-remaining-req-minute",
    "x-ratelimit-limit-tokens-minute",
    "x-ratelimit-remaining-tokens-minute",
    "x-ratelimit-reset-tokens-minute",
    "x-ratelimit-limit-tokens-day",
    "x-ratelimit-remaining-requests-day",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
];

/// 2026-11-22T13:04:32Z.
const T0: f64 = 1_795_352_672_000.0;

// --- invariants ------------------------------------------------------------------------------

fn check_dim(d: &DimInfo, now: f64, what: &str) -> Result<(), TestCaseError> {
    if let Some(l) = d.limit {
        prop_assert!(
            l.is_finite() && l > 0.0 && l <= MAX_COUNT,
            "{what}.limit = {l}"
        );
    }
    if let Some(r) = d.remaining {
        prop_assert!(
            r.is_finite() && (0.0..=MAX_COUNT).contains(&r),
            "{what}.remaining = {r}"
        );
        prop_assert!(r.is_sign_positive(), "{what}.remaining = -0");
    }
    if let Some(t) = d.reset_at_ms {
        prop_assert!(t.is_finite(), "{what}.reset_at_ms = {t}");
        prop_assert!(
            t >= now && t - now <= ABSURD_MS,
            "{what}.reset_at_ms = {t}, now {now}"
        );
    }
    if let Some(w) = d.window_ms {
        prop_assert!(
            w.is_finite() && w > 0.0 && w <= ABSURD_MS,
            "{what}.window_ms = {w}"
        );
        prop_assert!(!d.is_empty(), "{what}: a window with nothing else");
    }
    if d.rounded {
        prop_assert!(d.remaining.is_some(), "{what}: rounded without remaining");
    }
    Ok(())
}

fn check(info: &RateLimitInfo, now: f64) -> Result<(), TestCaseError> {
    if let Some(w) = info.retry_after_ms {
        prop_assert!(w.is_finite() && (0.0..=ABSURD_MS).contains(&w), "wait {w}");
        prop_assert!(w.is_sign_positive(), "wait -0");
    }
    if let Some(d) = info.server_date_ms {
        prop_assert!(d.is_finite() && d >= 0.0, "date {d}");
    }
    let dims = [
        (&info.requests, "requests"),
        (&info.input_tokens, "input_tokens"),
        (&info.output_tokens, "output_tokens"),
        (&info.tokens, "tokens"),
        (&info.priority_input_tokens, "priority_input_tokens"),
        (&info.priority_output_tokens, "priority_output_tokens"),
    ];
    for (d, what) in dims {
        check_dim(d, now, what)?;
    }
    let any = dims.iter().any(|(d, _)| !d.is_empty());
    prop_assert_eq!(any, info.family != Family::None);
    if info.family == Family::Ietf {
        prop_assert!(info.tokens.is_empty() && info.input_tokens.is_empty());
    }
    Ok(())
}

// --- strategies -------------------------------------------------------------------------------

/// A known name in a random case, or any string.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (prop::sample::select(KNOWN), any::<u64>()).prop_map(|(n, bits)| {
            n.chars()
                .enumerate()
                .map(|(i, c)| if bits >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c })
                .collect()
        }),
        1 => any::<String>(),
        1 => prop::collection::vec(any::<u8>(), 0..48)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

/// Values: arbitrary strings, arbitrary bytes made UTF-8, and strings built from the
/// characters the parsers care about (so that they get deep into every grammar).
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(any::<u8>(), 0..64)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        "[-+0-9.eE]{0,24}",
        "[0-9.]{0,6}(ns|us|µs|μs|ms|s|m|h|d)?[0-9.]{0,6}(ns|us|µs|ms|s|m|h)?",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?([Zz]|[-+][0-9]{2}:[0-9]{2})?",
        "(19[7-9][0-9]|20[0-9]{2})-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-9]|3[01])T([01][0-9]|2[0-4]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]{1,12})?(Z|[-+]([01][0-9]|2[0-4]):[0-6][0-9])",
        "(Sun|Mon|Sunday|Xyz),? [0-9 ]{1,2}[- ](Nov|Jan|Feb)[- ][0-9]{2,4} [0-9]{2}:[0-9]{2}:[0-9]{2}( GMT)?",
        sf_list(),
        "((\"[a-z\\\\\"]{0,4}\"|[a-z*]{1,4}|\\([a-z \"]{0,6}\\)|[0-9]{1,16}|\\?[01]|:[A-Za-z0-9+/=]{0,6}:)(;[a-z]{1,2}(=(-?[0-9]{1,16}(\\.[0-9]{1,4})?|\"[a-z-]{0,8}\"|[a-z]{1,4}|:[a-z=]{0,4}:|@[0-9]{1,3}|%\"[a-z%0-9]{0,4}\"))?){0,4}[ ,\t]{0,3}){0,4}",
    ]
}

/// Structured-field Lists, mostly well-formed, with the parameters that matter.
fn sf_list() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        8 => "=[0-9]{1,4}",
        1 => "",
        1 => "=-[0-9]{1,3}",
        1 => "=[0-9]{13,16}",
        1 => "=[0-9]{1,3}\\.[0-9]{1,3}",
        2 => "=\"(requests|request|content-bytes)\"",
        1 => "=(:[A-Za-z0-9=]{0,4}:|@[0-9]{1,3}|%\"[a-z%0-9]{0,4}\"|\\?[01]|[a-z]{1,3})",
    ];
    let key = prop_oneof![4 => "q|w|r|t", 1 => "qu|pk|x"];
    let param = (key, value).prop_map(|(k, v)| format!(";{k}{v}"));
    let item = prop_oneof![
        8 => "\"[ab]\"|[ab]|\"[a-c]{1,2}\"",
        1 => "\\([a-c \"]{0,6}\\)|-?[0-9]{1,3}|\\?[01]",
    ];
    let member = (item, prop::collection::vec(param, 0..5))
        .prop_map(|(item, params)| item + &params.concat());
    prop::collection::vec(member, 1..4).prop_map(|m| m.join(", "))
}

const COUNT: &str = "[0-9]{1,7}|-?[0-9]{1,14}(\\.[0-9]{1,3})?";
const RFC3339: &str = "2026-11-22T13:0[0-9]:[0-5][0-9](\\.[0-9]{1,4})?(Z|[-+]0[0-9]:[0-5][0-9])";
const GO: &str = "[0-9]{1,3}(\\.[0-9]{1,3})?(ns|us|µs|ms|s|m|h)([0-9]{1,2}(s|ms))?|0";
const HTTP_DATE: &str = "(Sun, 22 Nov 2026|Sunday, 22-Nov-26) 1[0-9]:[0-5][0-9]:[0-5][0-9] GMT";

/// Inputs for the helpers: anything, and their own valid shapes.
fn helper_input() -> impl Strategy<Value = String> {
    prop_oneof![
        value(),
        RFC3339,
        GO,
        HTTP_DATE,
        "[0-9]{1,22}(\\.[0-9]{0,22})?(ns|us|ms|s|m|h)([0-9]{1,22}(ns|h))?",
    ]
}

/// A header of a known name with a value of the right shape (often valid, sometimes not).
fn typed_header() -> impl Strategy<Value = (String, String)> {
    let (count, rfc3339, go, http_date) = (COUNT, RFC3339, GO, HTTP_DATE);
    let pick = |names: &'static [&'static str], v: &'static str| {
        (prop::sample::select(names), v).prop_map(|(n, v)| (n.to_string(), v))
    };
    prop_oneof![
        pick(&KNOWN[4..22], count),
        pick(
            &[
                "anthropic-ratelimit-requests-reset",
                "anthropic-ratelimit-tokens-reset",
                "anthropic-ratelimit-input-tokens-reset",
                "anthropic-priority-output-tokens-reset",
            ],
            rfc3339
        ),
        pick(&KNOWN[22..28], count),
        pick(
            &["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"],
            go
        ),
        pick(&["retry-after", "date"], http_date),
        pick(&["retry-after", "retry-after-ms"], count),
        pick(&["x-should-retry"], "true|false|TRUE|False|maybe"),
        (prop::sample::select(&KNOWN[28..30]), sf_list()).prop_map(|(n, v)| (n.to_string(), v)),
        pick(
            &["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"],
            OLDER_FIELD
        ),
        pick(&["ratelimit"], OLDER_DICT),
        pick(&["ratelimit-policy"], OLDER_POLICY),
    ]
}

/// A field of the IETF drafts up to 06 (`RateLimit-Limit: 10, 10;w=1`).
const OLDER_FIELD: &str =
    "-?[0-9]{1,16}(;w=-?[0-9]{1,7})?(, [0-9]{1,4};w=[0-9]{1,5})?|[0-9]{1,3}|(1|2|10|20)";
/// The earlier drafts' `RateLimit-Policy` (`10;w=1, 20;w=10`), quotas often a limit above.
const OLDER_POLICY: &str = "((1|2|10|20);w=[0-9]{1,3}, ){0,2}(1|2|10|20|[0-9]{1,3});w=-?[0-9]{1,3}";
/// draft-07's `RateLimit` Dictionary, mostly valid.
const OLDER_DICT: &str = "((limit|remaining|reset|x)(=(-?[0-9]{1,16}|[0-9]\\.[0-9]|\"a\"|\\?1))?, ?){0,3}(limit|remaining|reset)=([0-9]{1,4}|1|2|10|20)";

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(prop_oneof![(name(), value()), typed_header()], 0..12)
}

fn now() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(T0),
        0.0..4.0e12f64,
        Just(0.0),
        Just(-1.0e12),
        Just(f64::NAN),
        Just(f64::INFINITY),
    ]
}

/// `PROPTEST_CASES` (if set) or `default`: `PROPTEST_CASES=200000 cargo test --release`
/// runs a deep fuzz.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(1000)))]

    #[test]
    fn never_panics_and_every_number_is_in_range(
        headers in headers(),
        now in now(),
    ) {
        let info = parse(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())), now);
        check(&info, now)?;
    }

    #[test]
    fn helpers_never_panic(s in helper_input()) {
        for ms in [parse_go_duration(&s), parse_rfc3339(&s), parse_http_date(&s)].into_iter().flatten() {
            prop_assert!(ms.is_finite());
        }
        if let Some(ms) = parse_go_duration(&s) {
            prop_assert!(ms >= 0.0);
        }
    }
}

// --- formatting as servers do ---------------------------------------------------------------

/// (year, month, day) of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

const WDAY: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MON: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

struct Civil {
    y: i64,
    mo: u32,
    d: u32,
    h: i64,
    mi: i64,
    s: i64,
    wday: &'static str,
}

fn civil_time(secs: i64) -> Civil {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, mo, d) = civil(days);
    Civil {
        y,
        mo,
        d,
        h: sod / 3600,
        mi: sod / 60 % 60,
        s: sod % 60,
        wday: WDAY[(days + 4).rem_euclid(7) as usize],
    }
}

fn imf_fixdate(secs: i64) -> String {
    let c = civil_time(secs);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        &c.wday[..3],
        c.d,
        MON[c.mo as usize - 1],
        c.y,
        c.h,
        c.mi,
        c.s
    )
}

fn rfc850(secs: i64) -> String {
    let c = civil_time(secs);
    format!(
        "{}, {:02}-{}-{:02} {:02}:{:02}:{:02} GMT",
        c.wday,
        c.d,
        MON[c.mo as usize - 1],
        c.y % 100,
        c.h,
        c.mi,
        c.s
    )
}

fn asctime(secs: i64) -> String {
    let c = civil_time(secs);
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {:04}",
        &c.wday[..3],
        MON[c.mo as usize - 1],
        c.d,
        c.h,
        c.mi,
        c.s,
        c.y
    )
}

/// RFC 3339 of `ms` as seen from a zone `offset_min` minutes east of UTC, with `frac` digits
/// of fraction (0 = none).
fn rfc3339(ms: i64, offset_min: i64, frac: usize) -> String {
    let local = ms + offset_min * 60_000;
    let c = civil_time(local.div_euclid(1000));
    let millis = local.rem_euclid(1000);
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        c.y, c.mo, c.d, c.h, c.mi, c.s
    );
    if frac > 0 {
        let digits = format!("{millis:03}000000");
        s.push('.');
        s.push_str(&digits[..frac]);
    }
    if offset_min == 0 && frac % 2 == 0 {
        s.push('Z');
    } else {
        let sign = if offset_min < 0 { '-' } else { '+' };
        let o = offset_min.abs();
        s.push_str(&format!("{sign}{:02}:{:02}", o / 60, o % 60));
    }
    s
}

/// Go's `time.Duration.String()`.
fn go_string(ns: u64) -> String {
    fn frac(v: u64, prec: u32) -> String {
        let div = 10u64.pow(prec);
        let (int, f) = (v / div, v % div);
        if f == 0 {
            return int.to_string();
        }
        let digits = format!("{f:0width$}", width = prec as usize);
        format!("{int}.{}", digits.trim_end_matches('0'))
    }
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", frac(ns, 3));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", frac(ns, 6));
    }
    let secs = ns / 1_000_000_000;
    let sub = ns % 1_000_000_000;
    let s = frac((secs % 60) * 1_000_000_000 + sub, 9);
    let (m, h) = (secs / 60 % 60, secs / 3600);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

#[test]
fn formatters_agree_with_reference_implementations() {
    for secs in [
        0i64,
        784_111_777,
        951_782_400,
        1_795_352_672,
        4_102_444_800,
        253_402_300_799,
    ] {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64);
        assert_eq!(imf_fixdate(secs), httpdate::fmt_http_date(t));
        assert_eq!(
            rfc3339(secs * 1000, 0, 0),
            humantime::format_rfc3339_seconds(t).to_string()
        );
    }
    assert_eq!(rfc850(784_111_777), "Sunday, 06-Nov-94 08:49:37 GMT");
    assert_eq!(asctime(784_111_777), "Sun Nov  6 08:49:37 1994");
    for (ns, s) in [
        (0, "0s"),
        (1_000_000_000, "1s"),
        (360_000_000_000, "6m0s"),
        (8_640_000_000, "8.64s"),
        (20_000_000, "20ms"),
        (90_000_000_000, "1m30s"),
        (3_723_500_000_000, "1h2m3.5s"),
        (1_500, "1.5µs"),
        (7, "7ns"),
    ] {
        assert_eq!(go_string(ns), s);
    }
}

// --- round trips -----------------------------------------------------------------------------

/// Epoch seconds from 1970 to 9999.
const MAX_SECS: i64 = 253_402_300_799;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(512)))]

    #[test]
    fn retry_after_ms_round_trips(ms in 1.0..=ABSURD_MS) {
        // Written to the microsecond (13 significant digits at most): read exactly, and
        // rounded up to the next whole millisecond (never shorter than said).
        let v = format!("{ms:.3}");
        let (int, frac) = v.split_once('.').unwrap();
        let whole = int.parse::<f64>().unwrap() + if frac == "000" { 0.0 } else { 1.0 };
        let info = parse([("retry-after-ms", v.as_str())], T0);
        prop_assert_eq!(info.retry_after_ms, Some(whole));
        // A later `retry-after` does not override it.
        let info = parse([("retry-after-ms", v.as_str()), ("retry-after", "1")], T0);
        prop_assert_eq!(info.retry_after_ms, Some(whole));
        // Written with every digit of the double (17): read within 10^-14, rounded up (what
        // is within 10^-13 of a whole number is that number: the decimal's error in binary).
        let got = parse([("retry-after-ms", ms.to_string().as_str())], T0).retry_after_ms;
        let slack = ms * 1e-13;
        prop_assert!(
            got.is_some_and(|g| g.fract() == 0.0 && g >= ms - slack && g < ms + 1.0 + slack),
            "{got:?} vs {ms}"
        );
    }

    #[test]
    fn retry_after_seconds_round_trip(secs in 1u32..=2_592_000, tenths in 0u32..10) {
        let info = parse([("retry-after", secs.to_string().as_str())], T0);
        prop_assert_eq!(info.retry_after_ms, Some(f64::from(secs) * 1000.0));
        // A tenth of a second is whole milliseconds: exactly those, whatever the decimal's
        // error in binary (`16.1` times 1,000 is 16,100.000000000002).
        let v = format!("{secs}.{tenths}");
        let want = f64::from(secs) * 1000.0 + f64::from(tenths) * 100.0;
        let got = parse([("retry-after", v.as_str())], T0).retry_after_ms;
        if want <= ABSURD_MS {
            prop_assert_eq!(got, Some(want));
        } else {
            prop_assert_eq!(got, None);
        }
    }

    #[test]
    fn retry_after_http_date_round_trips(
        date in 0i64..MAX_SECS - 2_592_000,
        wait in 0i64..=2_592_000,
        skew_ms in -86_400_000.0..86_400_000.0f64,
        fmt in 0usize..3,
    ) {
        // RFC 850 has two-digit years, read as 1970-2069.
        let date = if fmt == 1 { date % (3_155_760_000 - 2_592_001) } else { date };
        let at = date + wait;
        let format = [imf_fixdate, rfc850, asctime][fmt];
        let (d, a) = (imf_fixdate(date), format(at));
        let now = date as f64 * 1000.0 + skew_ms;
        let info = parse([("date", d.as_str()), ("retry-after", a.as_str())], now);
        prop_assert_eq!(info.server_date_ms, Some(date as f64 * 1000.0));
        // A date not after the server's is no hint (a zero wait would be a retry at once).
        prop_assert_eq!(info.retry_after_ms, (wait > 0).then_some(wait as f64 * 1000.0));
        let info = parse([("retry-after", d.as_str()), ("date", a.as_str())], now);
        prop_assert_eq!(info.retry_after_ms, None);
    }

    #[test]
    fn counts_round_trip(limit in 1u64..=1_000_000_000_000, remaining in 0u64..=1_000_000_000_000) {
        let (l, r) = (limit.to_string(), remaining.to_string());
        for (prefix, rounded) in [
            ("anthropic-ratelimit-tokens", true),
            ("anthropic-ratelimit-requests", false),
        ] {
            let info = parse(
                [
                    (format!("{prefix}-limit").as_str(), l.as_str()),
                    (format!("{prefix}-remaining").as_str(), r.as_str()),
                ],
                T0,
            );
            let dim = if rounded { info.tokens } else { info.requests };
            prop_assert_eq!(dim.limit, Some(limit as f64));
            prop_assert_eq!(dim.remaining, Some(remaining as f64));
            prop_assert_eq!(dim.rounded, rounded);
            prop_assert_eq!(dim.window_ms, Some(60_000.0));
        }
        let info = parse(
            [("x-ratelimit-limit-tokens", l.as_str()), ("x-ratelimit-remaining-tokens", r.as_str())],
            T0,
        );
        prop_assert_eq!(info.tokens.limit, Some(limit as f64));
        prop_assert_eq!(info.tokens.remaining, Some(remaining as f64));
        prop_assert!(!info.tokens.rounded);
    }

    #[test]
    fn rfc3339_round_trips(
        ms in 86_400_000i64..MAX_SECS * 1000 - 86_400_000,
        offset_min in -(23 * 60 + 59)..=(23 * 60 + 59i64),
        frac in 0usize..=9,
    ) {
        // Without a fraction, the time is whole seconds.
        let ms = if frac == 0 { ms - ms.rem_euclid(1000) } else { ms };
        let s = rfc3339(ms, offset_min, frac);
        let got = parse_rfc3339(&s);
        let want = ms - if frac > 0 && frac < 3 { ms.rem_euclid(1000) % 10i64.pow(3 - frac as u32) } else { 0 };
        prop_assert_eq!(got, Some(want as f64), "{}", s);
    }

    #[test]
    fn anthropic_reset_round_trips(
        server in 0i64..MAX_SECS - 2_592_000,
        ahead_ms in 0i64..=2_592_000_000,
        skew_ms in -86_400_000.0..86_400_000.0f64,
        offset_min in -(23 * 60 + 59)..=(23 * 60 + 59i64),
    ) {
        let date = imf_fixdate(server);
        let reset = rfc3339(server * 1000 + ahead_ms, offset_min, 3);
        let now = server as f64 * 1000.0 + skew_ms;
        let info = parse(
            [("date", date.as_str()), ("anthropic-ratelimit-output-tokens-reset", reset.as_str())],
            now,
        );
        prop_assert_eq!(info.output_tokens.reset_at_ms, Some(now + ahead_ms as f64), "{}", reset);
    }

    #[test]
    fn go_durations_round_trip(
        h in 0u64..=720,
        m in 0u64..60,
        s in 0u64..60,
        ms in 0u64..1000,
        us in 0u64..1000,
        ns in 0u64..1000,
    ) {
        let total = ((h * 60 + m) * 60 + s) * 1_000_000_000 + ms * 1_000_000 + us * 1_000 + ns;
        // As Go prints it ...
        let printed = go_string(total);
        prop_assert_eq!(parse_go_duration(&printed), Some(total as f64 / 1e6), "{}", printed);
        // ... and as components, in any unit spelling.
        let spelled = format!("{h}h{m}m{s}s{ms}ms{us}us{ns}ns");
        prop_assert_eq!(parse_go_duration(&spelled), Some(total as f64 / 1e6), "{}", spelled);
        let micro = format!("+{h}h{m}m{s}s{ms}ms{us}μs{ns}ns");
        prop_assert_eq!(parse_go_duration(&micro), Some(total as f64 / 1e6), "{}", micro);
        // Decimal seconds.
        let decimal = format!("{}s", total as f64 / 1e9);
        let got = parse_go_duration(&decimal).unwrap();
        prop_assert!((got - total as f64 / 1e6).abs() <= 1e-6 * (total as f64 / 1e6).max(1.0), "{}", decimal);
        // Through the header, as a reset from now.
        let info = parse([("x-ratelimit-reset-requests", printed.as_str())], T0);
        if total as f64 / 1e6 <= ABSURD_MS {
            prop_assert_eq!(info.requests.reset_at_ms, Some(T0 + total as f64 / 1e6));
        } else {
            prop_assert_eq!(info.requests.reset_at_ms, None);
        }
    }

    #[test]
    fn ietf_round_trips(
        name in "[a-z][a-z0-9_-]{0,8}",
        q in 1u64..=1_000_000,
        w in 1u64..=86_400,
        r in 0u64..=1_000_000,
        t in 0u64..=86_400,
        quoted in any::<bool>(),
    ) {
        let n = if quoted { format!("\"{name}\"") } else { name.clone() };
        let policy = format!("\"other\";q=1;w=1;qu=\"content-bytes\", {n};q={q};w={w};pk=:cHsdsRa894==:");
        let limit = format!("\"{name}\";r={r};t={t}");
        let info = parse([("RateLimit-Policy", policy.as_str()), ("RateLimit", limit.as_str())], T0);
        prop_assert_eq!(info.family, Family::Ietf);
        prop_assert_eq!(
            info.requests,
            DimInfo {
                limit: Some(q as f64),
                remaining: Some(r as f64),
                reset_at_ms: Some(T0 + t as f64 * 1000.0),
                window_ms: Some(w as f64 * 1000.0),
                rounded: false,
            }
        );
    }
}

/// The fuzz strategies are only as good as the states they reach: make sure they produce
/// every family, both hints, and valid values for every helper, not just garbage.
#[test]
fn fuzz_strategies_reach_deep_states() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let headers = headers();
    let mut families = [0usize; 8];
    let (mut waits, mut should) = (0, 0);
    for _ in 0..500 {
        let h = headers.new_tree(&mut runner).unwrap().current();
        let info = parse(h.iter().map(|(n, v)| (n.as_str(), v.as_str())), T0);
        families[info.family as usize] += 1;
        waits += usize::from(info.retry_after_ms.is_some());
        should += usize::from(info.should_retry.is_some());
    }
    assert!(
        families[..3].iter().all(|&n| n >= 20),
        "families {families:?}"
    );
    assert!(
        waits >= 20 && should >= 5,
        "waits {waits}, should-retry {should}"
    );

    // The IETF fields alone (with other families present they rarely decide).
    let pair = (sf_list(), sf_list());
    let (mut ietf, mut ietf_limits) = (0, 0);
    for _ in 0..500 {
        let (policy, limit) = pair.new_tree(&mut runner).unwrap().current();
        let info = parse(
            [
                ("RateLimit-Policy", policy.as_str()),
                ("RateLimit", limit.as_str()),
            ],
            T0,
        );
        ietf += usize::from(info.family == Family::Ietf);
        ietf_limits += usize::from(info.requests.limit.is_some());
    }
    assert!(
        ietf >= 50 && ietf_limits >= 10,
        "ietf {ietf}, with a limit {ietf_limits}"
    );

    // The earlier drafts' fields alone.
    let older = (
        OLDER_DICT,
        prop::collection::vec(
            (
                prop::sample::select(
                    &["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"][..],
                ),
                OLDER_FIELD,
            ),
            0..4,
        ),
        OLDER_POLICY,
    );
    let (mut older_ietf, mut older_windows) = (0, 0);
    for i in 0..500 {
        let (dict, fields, policy) = older.new_tree(&mut runner).unwrap().current();
        let mut h: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
        h.push(("RateLimit-Policy", &policy));
        if i % 2 == 0 {
            h.push(("RateLimit", &dict));
        }
        let info = parse(h.iter().copied(), T0);
        older_ietf += usize::from(info.family == Family::Ietf);
        older_windows += usize::from(info.requests.window_ms.is_some_and(|w| w != 60_000.0));
    }
    assert!(
        older_ietf >= 200 && older_windows >= 20,
        "older drafts {older_ietf}, with a policy's window {older_windows}"
    );

    let values = helper_input();
    let (mut go, mut rfc, mut http) = (0, 0, 0);
    for _ in 0..1000 {
        let v = values.new_tree(&mut runner).unwrap().current();
        go += usize::from(parse_go_duration(&v).is_some());
        rfc += usize::from(parse_rfc3339(&v).is_some());
        http += usize::from(parse_http_date(&v).is_some());
    }
    assert!(
        go >= 50 && rfc >= 50 && http >= 50,
        "go {go}, rfc3339 {rfc}, http-date {http}"
    );
}

// --- regressions found by the fuzzer (tests/fuzz) --------------------------------------------

/// Fuzz `headers`: a duplicated Anthropic reset whose first occurrence parses but lies
/// absurdly far ahead of the server's `Date` leaves the reset absent; the later, sane
/// occurrence does not replace it (the `Date` is known only at the end of the one pass).
/// Same for a `retry-after` HTTP-date. The module docs say so under "Duplicates".
#[test]
fn fuzz_absurd_first_reset_is_absent_not_replaced() {
    let info = parse(
        [
            (
                "anthropic-ratelimit-tokens-reset",
                "3940-01-01T00:00:00+01:00",
            ),
            ("anthropic-ratelimit-tokens-reset", "2026-11-22T13:04:42Z"),
            ("anthropic-ratelimit-tokens-limit", "40000"),
        ],
        T0,
    );
    assert_eq!(info.tokens.limit, Some(40_000.0));
    assert_eq!(info.tokens.reset_at_ms, None);

    let info = parse(
        [
            ("date", "Sun, 22 Nov 2026 13:04:32 GMT"),
            ("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT"),
            ("retry-after", "2"),
        ],
        T0,
    );
    assert_eq!(info.retry_after_ms, None);
    // A first occurrence that does not parse at all lets the next one in.
    let info = parse([("retry-after", "soon"), ("retry-after", "2")], T0);
    assert_eq!(info.retry_after_ms, Some(2_000.0));
}

/// Fuzz `headers`: an IETF service limit with no matching policy gives its remaining count
/// and reset, but no limit and no window (a quota without a window is not a rate).
#[test]
fn fuzz_ietf_limit_without_policy_has_no_window() {
    let info = parse(
        [
            ("RateLimit-Policy", "\"other\";q=100;w=60"),
            ("RateLimit", "\"burst\";r=50;t=30"),
        ],
        T0,
    );
    assert_eq!(info.family, Family::Ietf);
    assert_eq!(info.requests.remaining, Some(50.0));
    assert_eq!(info.requests.reset_at_ms, Some(T0 + 30_000.0));
    assert_eq!((info.requests.limit, info.requests.window_ms), (None, None));
}

// --- families beyond Anthropic, OpenAI and IETF ----------------------------------------------

const DATE_T0: &str = "Sun, 22 Nov 2026 13:04:32 GMT";

fn p(h: &[(&str, &str)], now: f64) -> RateLimitInfo {
    parse(h.iter().copied(), now)
}

fn dim(
    limit: Option<f64>,
    remaining: Option<f64>,
    reset_at_ms: Option<f64>,
    window_ms: f64,
) -> DimInfo {
    DimInfo {
        limit,
        remaining,
        reset_at_ms,
        window_ms: Some(window_ms),
        rounded: false,
    }
}

#[test]
fn a_reset_no_minute_can_give_makes_the_window_an_hour_or_a_day() {
    const DAY: f64 = 86_400_000.0;
    const HOUR: f64 = 3_600_000.0;
    let openai = |limit: &str, remaining: &str, reset: &str| {
        let h = [
            ("x-ratelimit-limit-requests", limit),
            ("x-ratelimit-remaining-requests", remaining),
            ("x-ratelimit-reset-requests", reset),
        ];
        p(&h, T0).requests.window_ms
    };
    // OpenAI's free tier: 200 requests a day under the per-minute names; one spent refills
    // in 86,400 s / 200.
    assert_eq!(openai("200", "199", "7m12s"), Some(DAY));
    // Spent: the reset is the whole window.
    assert_eq!(openai("200", "0", "23h59m59.974s"), Some(DAY));
    assert_eq!(openai("200", "0", "59m"), Some(HOUR));
    assert_eq!(openai("200", "0", "45m"), Some(60_000.0)); // no window of the provider's
                                                           // ... and not 6 minutes: read as a minute's (a continuous bucket's reset), as before.
    assert_eq!(openai("10000", "0", "6m0s"), Some(60_000.0));
    // 10,000 a day, the shape of `8.64s` a request.
    assert_eq!(openai("10000", "9980", "2m52.8s"), Some(DAY));
    // An hourly limit.
    assert_eq!(openai("100", "90", "6m"), Some(HOUR));
    // A minute's resets.
    assert_eq!(openai("60", "59", "1s"), Some(60_000.0));
    assert_eq!(openai("60", "0", "59.9s"), Some(60_000.0));
    assert_eq!(openai("60", "0", "1m20s"), Some(60_000.0)); // a late clock's slack
                                                            // No window of the provider's gives this (the OpenAI docs' example: 16 of 150,000 tokens
                                                            // spent, `6m0s` to refill): read as the names say, a minute.
    let h = [
        ("x-ratelimit-limit-tokens", "150000"),
        ("x-ratelimit-remaining-tokens", "149984"),
        ("x-ratelimit-reset-tokens", "6m0s"),
    ];
    assert_eq!(p(&h, T0).tokens.window_ms, Some(60_000.0));
    // 100 of 30,000 tokens spent and `6m0s` to refill them: 30 hours, no window either.
    let h = [
        ("x-ratelimit-limit-tokens", "30000"),
        ("x-ratelimit-remaining-tokens", "29900"),
        ("x-ratelimit-reset-tokens", "6m0s"),
    ];
    assert_eq!(p(&h, T0).tokens.window_ms, Some(60_000.0));
    // Beyond a day, spent (a monthly quota): no window of ours; a minute, as before.
    assert_eq!(openai("1000", "0", "240h"), Some(60_000.0));
    // OpenRouter's unprefixed names, the reset an epoch in ms: 50 free requests a day, one
    // spent (refilled in 1,728 s).
    let plain = |remaining: &str, reset: f64| {
        let reset = reset.to_string();
        let h = [
            ("x-ratelimit-limit", "50"),
            ("x-ratelimit-remaining", remaining),
            ("x-ratelimit-reset", reset.as_str()),
            ("date", "Sun, 22 Nov 2026 13:04:32 GMT"),
        ];
        let info = p(&h, T0);
        assert_eq!(info.family, Family::XRateLimit);
        info.requests.window_ms
    };
    assert_eq!(plain("49", T0 + 1_728_000.0), Some(DAY));
    // Spent, and back at midnight (in 18.9 h): a fixed window's reset, which says nothing of
    // its length; read as the names say.
    assert_eq!(plain("0", 1_795_420_800_000.0), Some(60_000.0));
}

#[test]
fn groq_requests_are_per_day_tokens_per_minute() {
    let h = [
        ("x-groq-region", "us-west-1"),
        ("x-ratelimit-limit-requests", "14400"),
        ("x-ratelimit-remaining-requests", "14370"),
        ("x-ratelimit-reset-requests", "2m59.56s"),
        ("x-ratelimit-limit-tokens", "18000"),
        ("x-ratelimit-remaining-tokens", "17997"),
        ("x-ratelimit-reset-tokens", "7.66s"),
        ("retry-after", "2"),
    ];
    let info = p(&h, T0);
    assert_eq!(info.family, Family::Groq);
    assert_eq!(
        info.requests,
        dim(
            Some(14_400.0),
            Some(14_370.0),
            Some(T0 + 179_560.0),
            86_400_000.0
        )
    );
    assert_eq!(
        info.tokens,
        dim(Some(18_000.0), Some(17_997.0), Some(T0 + 7_660.0), 60_000.0)
    );
    assert_eq!(info.retry_after_ms, Some(2_000.0));
    // The same headers without the marker are OpenAI's names, whose reset (3 min for 30 of
    // 14,400) no minute can give: the refill's arithmetic says a day too.
    let openai = p(&h[1..], T0);
    assert_eq!(openai.family, Family::OpenAi);
    assert_eq!(openai.requests.window_ms, Some(86_400_000.0));
    assert_eq!(openai.tokens.window_ms, Some(60_000.0));
    // The marker alone is no limit.
    assert_eq!(p(&[("x-groq-region", "fra")], T0), RateLimitInfo::default());
}

#[test]
fn azure_sends_remaining_counts_without_limits_and_minus_one_for_unknown() {
    let info = p(
        &[
            ("x-ratelimit-remaining-requests", "119"),
            ("x-ratelimit-remaining-tokens", "119850"),
            ("retry-after-ms", "1500"),
        ],
        T0,
    );
    assert_eq!(info.family, Family::OpenAi);
    assert_eq!(info.requests, dim(None, Some(119.0), None, 60_000.0));
    assert_eq!(info.tokens, dim(None, Some(119_850.0), None, 60_000.0));
    assert_eq!(info.retry_after_ms, Some(1_500.0));
    // The Responses API's "-1" / "0" where it knows nothing: absent, not a limit of 0.
    let unknown = p(
        &[
            ("x-ratelimit-limit-tokens", "-1"),
            ("x-ratelimit-remaining-tokens", "-1"),
        ],
        T0,
    );
    assert_eq!(unknown.family, Family::None);
    assert!(!unknown.has_limits());
    // Its reset "0" (a bare number, not a Go duration): "full now" is all it can say.
    let zero = p(
        &[
            ("x-ratelimit-limit-tokens", "-1"),
            ("x-ratelimit-reset-tokens", "0"),
        ],
        T0,
    );
    assert_eq!(zero.tokens.limit, None);
    assert_eq!(zero.tokens.reset_at_ms, Some(T0));
}

#[test]
fn cerebras_requests_per_day_and_tokens_per_minute() {
    // The example of inference-docs.cerebras.ai/support/rate-limits, resets in seconds.
    let info = p(
        &[
            ("x-ratelimit-limit-requests-day", "1000000000"),
            ("x-ratelimit-limit-tokens-minute", "1000000000"),
            ("x-ratelimit-remaining-requests-day", "999997455"),
            ("x-ratelimit-remaining-tokens-minute", "999998298"),
            ("x-ratelimit-reset-requests-day", "33011.382867097855"),
            ("x-ratelimit-reset-tokens-minute", "11.382867097854614"),
        ],
        T0,
    );
    assert_eq!(info.family, Family::Mistral);
    let day = info.requests;
    assert_eq!(day.limit, Some(1_000_000_000.0));
    assert_eq!(day.remaining, Some(999_997_455.0));
    assert_eq!(day.window_ms, Some(86_400_000.0));
    assert!((day.reset_at_ms.unwrap() - (T0 + 33_011_382.867)).abs() < 1.0);
    assert_eq!(info.tokens.limit, Some(1_000_000_000.0));
    assert_eq!(info.tokens.window_ms, Some(60_000.0));
}

#[test]
fn a_spent_month_or_day_quota_beside_room_in_the_minute_is_a_spent_quota() {
    // Mistral once its monthly tokens are spent: the minute's figures full, the month's 0.
    let month = [
        ("x-ratelimit-limit-tokens-month", "1000000000"),
        ("x-ratelimit-remaining-tokens-month", "0"),
        ("x-ratelimit-limit-tokens-minute", "500000"),
        ("x-ratelimit-remaining-tokens-minute", "500000"),
        ("x-ratelimit-limit-req-minute", "60"),
        ("x-ratelimit-remaining-req-minute", "60"),
    ];
    let info = p(&month, T0);
    assert!(info.quota_spent);
    // The month is no window paced: the minute's figures are the buckets.
    assert_eq!(info.family, Family::Mistral);
    assert_eq!(
        info.tokens,
        dim(Some(500_000.0), Some(500_000.0), None, 60_000.0)
    );
    assert_eq!(info.requests, dim(Some(60.0), Some(60.0), None, 60_000.0));
    // So a 429's error is marked: it fails like `insufficient_quota`, with a body or none.
    let rate = ErrorInfo {
        error_type: Some("rate_limited".into()),
        code: Some("1300".into()),
        ..ErrorInfo::default()
    };
    for body in [Some(&rate), None] {
        let marked = info.quota_error(429, body);
        let e = marked.as_ref().or(body);
        assert_eq!(
            classify(429, None, e, None),
            Outcome::Fail(FailKind::InsufficientQuota)
        );
    }
    assert_eq!(info.quota_error(429, Some(&rate)).unwrap().code, rate.code);
    // Only a 429's: a 200 with the same figures succeeds, a 503 is left as it is.
    assert_eq!(info.quota_error(200, None), None);
    assert_eq!(info.quota_error(503, None), None);
    // A paced figure spent too: the 429 may be the minute's, retried as ever.
    let mut both = month.to_vec();
    both[5] = ("x-ratelimit-remaining-req-minute", "0");
    assert!(!p(&both, T0).quota_spent);
    // The month not spent, or no month figures: nothing.
    let mut left = month.to_vec();
    left[1] = ("x-ratelimit-remaining-tokens-month", "12");
    assert!(!p(&left, T0).quota_spent);
    assert!(!p(&month[2..], T0).quota_spent);
    // The month alone (nothing paced), spent: a spent quota; the requests' month too.
    assert!(p(&month[..2], T0).quota_spent);
    let req_month = [
        ("x-ratelimit-limit-req-month", "100000"),
        ("x-ratelimit-remaining-req-month", "0"),
        ("x-ratelimit-limit-tokens-minute", "500000"),
        ("x-ratelimit-remaining-tokens-minute", "499000"),
    ];
    assert!(p(&req_month, T0).quota_spent);
    // A day beside the same dimension's minute is a quota too; a day that is the shortest
    // window of its dimension is paced (Cerebras's requests per day: waited on, as ever).
    let day = [
        ("x-ratelimit-limit-tokens-day", "10000000"),
        ("x-ratelimit-remaining-tokens-day", "0"),
        ("x-ratelimit-limit-tokens-minute", "500000"),
        ("x-ratelimit-remaining-tokens-minute", "500000"),
    ];
    assert!(p(&day, T0).quota_spent);
    let cerebras = [
        ("x-ratelimit-limit-requests-day", "14400"),
        ("x-ratelimit-remaining-requests-day", "0"),
        ("x-ratelimit-reset-requests-day", "3600"),
        ("x-ratelimit-limit-tokens-minute", "60000"),
        ("x-ratelimit-remaining-tokens-minute", "60000"),
    ];
    let info = p(&cerebras, T0);
    assert!(!info.quota_spent);
    assert_eq!(info.requests.window_ms, Some(86_400_000.0));
    // Case-insensitive, as every name.
    assert!(p(&[("X-RateLimit-Remaining-Tokens-Month", "0")], T0).quota_spent);
}

#[test]
fn mistral_windowed_names_and_ratelimitbysize() {
    let info = p(
        &[
            ("x-ratelimit-limit-tokens-minute", "5000000"),
            ("x-ratelimit-remaining-tokens-minute", "4999911"),
            ("x-ratelimit-tokens-query-cost", "52"),
            ("x-ratelimit-limit-req-minute", "720"),
            ("x-ratelimit-remaining-req-minute", "717"),
            ("x-ratelimit-limit-tokens-month", "1000000000"),
        ],
        T0,
    );
    assert_eq!(info.family, Family::Mistral);
    assert_eq!(info.requests, dim(Some(720.0), Some(717.0), None, 60_000.0));
    assert_eq!(
        info.tokens,
        dim(Some(5_000_000.0), Some(4_999_911.0), None, 60_000.0)
    );
    // The shortest window that says anything wins; a month is not read.
    let info = p(
        &[
            ("x-ratelimit-limit-tokens-day", "100000000"),
            ("x-ratelimit-limit-tokens-second", "1000"),
            ("x-ratelimit-remaining-tokens-second", "990"),
            ("x-ratelimit-reset-tokens-second", "1"),
        ],
        T0,
    );
    assert_eq!(
        info.tokens,
        dim(Some(1_000.0), Some(990.0), Some(T0 + 1_000.0), 1_000.0)
    );
    let month = p(&[("x-ratelimit-limit-tokens-month", "1000000000")], T0);
    assert_eq!(month.family, Family::None);
    assert!(!month.quota_spent);
    // The older names: tokens per minute, reset in seconds.
    let old = p(
        &[
            ("ratelimitbysize-limit", "500000"),
            ("ratelimitbysize-remaining", "499800"),
            ("ratelimitbysize-reset", "37"),
            ("ratelimitbysize-query-cost", "200"),
        ],
        T0,
    );
    assert_eq!(old.family, Family::Mistral);
    assert_eq!(
        old.tokens,
        dim(
            Some(500_000.0),
            Some(499_800.0),
            Some(T0 + 37_000.0),
            60_000.0
        )
    );
    assert!(old.requests.is_empty());
}

#[test]
fn openrouter_resets_in_epoch_milliseconds_on_the_servers_clock() {
    // The server's clock is 2 s ahead: its reset 10 s after its Date is 10 s after our now.
    let now = T0 - 2_000.0;
    let reset = format!("{}", (T0 + 10_000.0) as u64);
    let info = p(
        &[
            ("date", DATE_T0),
            ("X-RateLimit-Limit", "20"),
            ("X-RateLimit-Remaining", "19"),
            ("X-RateLimit-Reset", &reset),
        ],
        now,
    );
    assert_eq!(info.family, Family::XRateLimit);
    assert_eq!(
        info.requests,
        dim(Some(20.0), Some(19.0), Some(now + 10_000.0), 60_000.0)
    );
    // Epoch seconds, and seconds from now, are read too.
    let secs = format!("{}", (T0 / 1000.0) as u64 + 30);
    let info = p(
        &[
            ("date", DATE_T0),
            ("x-ratelimit-limit", "60"),
            ("x-ratelimit-reset", &secs),
        ],
        T0,
    );
    assert_eq!(info.requests.reset_at_ms, Some(T0 + 30_000.0));
    let info = p(
        &[("x-ratelimit-limit", "60"), ("x-ratelimit-reset", "23")],
        T0,
    );
    assert_eq!(
        info.requests,
        dim(Some(60.0), None, Some(T0 + 23_000.0), 60_000.0)
    );
    // Garbage and absurd resets: absent, the rest stays.
    for bad in ["soon", "-5", "NaN", "1e300", "99999999999"] {
        let info = p(
            &[("x-ratelimit-remaining", "3"), ("x-ratelimit-reset", bad)],
            T0,
        );
        assert_eq!(info.requests, dim(None, Some(3.0), None, 60_000.0), "{bad}");
    }
}

#[test]
fn together_is_per_second_marked_by_its_token_headers() {
    let info = p(
        &[
            ("x-ratelimit-limit", "10"),
            ("x-ratelimit-remaining", "9"),
            ("x-ratelimit-reset", "1"),
            ("x-tokenlimit-limit", "20000"),
            ("x-tokenlimit-remaining", "19500"),
        ],
        T0,
    );
    assert_eq!(info.family, Family::Together);
    assert_eq!(
        info.requests,
        dim(Some(10.0), Some(9.0), Some(T0 + 1_000.0), 1_000.0)
    );
    assert_eq!(
        info.tokens,
        dim(Some(20_000.0), Some(19_500.0), None, 1_000.0)
    );
}

#[test]
fn deepseek_sends_none_and_the_order_of_families_holds() {
    // DeepSeek: nothing to read (adaptive mode's case).
    let info = p(
        &[
            ("content-type", "text/event-stream"),
            ("x-ds-trace-id", "abc"),
        ],
        T0,
    );
    assert_eq!(info, RateLimitInfo::default());
    // Anthropic first, then OpenAI, then Mistral, then the unprefixed names: each dimension
    // whole from the first that speaks.
    let info = p(
        &[
            ("x-ratelimit-limit", "5"),
            ("x-ratelimit-limit-req-minute", "720"),
            ("x-ratelimit-limit-requests", "60"),
        ],
        T0,
    );
    assert_eq!(
        (info.family, info.requests.limit),
        (Family::OpenAi, Some(60.0))
    );
    let info = p(
        &[
            ("x-ratelimit-limit", "5"),
            ("x-ratelimit-limit-req-minute", "720"),
        ],
        T0,
    );
    assert_eq!(
        (info.family, info.requests.limit),
        (Family::Mistral, Some(720.0))
    );
}

proptest! {
    /// The header lines as written by the package read as a split at each line break, then
    /// at each line's first colon, lines without one skipped: whatever the text.
    #[test]
    fn header_lines_split_at_line_breaks_then_the_first_colon(
        text in "([a-zA-Z:é -]{0,12}\n?){0,8}",
    ) {
        let want: Vec<(&str, &str)> =
            text.split('\n').filter_map(|l| l.split_once(':')).collect();
        let got: Vec<(&str, &str)> = llm_pacer::core::headers::lines(&text).collect();
        prop_assert_eq!(got, want);
    }
}

// --- the IETF drafts before draft-10 ----------------------------------------------------------

#[test]
fn ietf_draft07_ratelimit_dictionary_with_its_policy() {
    // A gateway with a fixed window of 20 requests per 10 s, spent, 7 s before the reset.
    let h = [
        ("RateLimit", "limit=20, remaining=0, reset=7"),
        ("RateLimit-Policy", "20;w=10"),
    ];
    let info = p(&h, T0);
    assert_eq!(info.family, Family::Ietf);
    assert_eq!(
        info.requests,
        dim(Some(20.0), Some(0.0), Some(T0 + 7_000.0), 10_000.0)
    );
    assert!(info.tokens.is_empty());
    // Without its policy the window is inferred as for the other families: a minute here.
    assert_eq!(
        p(&h[..1], T0).requests,
        dim(Some(20.0), Some(0.0), Some(T0 + 7_000.0), 60_000.0)
    );
    // ... and a day when the reset says so (100 a day, one spent, 864 s to refill it).
    let info = p(&[("RateLimit", "limit=100, remaining=99, reset=864")], T0);
    assert_eq!(info.requests.window_ms, Some(86_400_000.0));
    // The draft's example: the policy of the same quota gives the window.
    let info = p(
        &[
            ("RateLimit-Policy", "10;w=1, 100;w=3600"),
            ("RateLimit", "limit=100, remaining=99, reset=3000"),
        ],
        T0,
    );
    assert_eq!(
        info.requests,
        dim(Some(100.0), Some(99.0), Some(T0 + 3_000_000.0), 3_600_000.0)
    );
    // Keys in any order, unknown keys and parameters ignored, lines combined, a repeated key's
    // last value counts (RFC 9651).
    let info = p(
        &[
            ("RateLimit", "reset=7;x=1, policy=\"a\", limit=30"),
            ("RateLimit", "remaining=4, limit=20"),
        ],
        T0,
    );
    assert_eq!(
        info.requests,
        dim(Some(20.0), Some(4.0), Some(T0 + 7_000.0), 60_000.0)
    );
    // Remaining and reset alone: no limit, so no window (as in draft-10).
    let info = p(&[("RateLimit", "remaining=0, reset=7")], T0);
    assert_eq!(info.family, Family::Ietf);
    assert_eq!(
        info.requests,
        DimInfo {
            remaining: Some(0.0),
            reset_at_ms: Some(T0 + 7_000.0),
            ..DimInfo::default()
        }
    );
}

#[test]
fn ietf_draft06_separate_fields() {
    // express-rate-limit's `standardHeaders: 'draft-6'`.
    let h = [
        ("RateLimit-Policy", "100;w=60"),
        ("RateLimit-Limit", "100"),
        ("RateLimit-Remaining", "99"),
        ("RateLimit-Reset", "42"),
    ];
    let info = p(&h, T0);
    assert_eq!(info.family, Family::Ietf);
    assert_eq!(
        info.requests,
        dim(Some(100.0), Some(99.0), Some(T0 + 42_000.0), 60_000.0)
    );
    // The policy of the limit's quota gives the window; without one, it is inferred.
    let fields = [
        ("RateLimit-Limit", "20"),
        ("RateLimit-Remaining", "0"),
        ("RateLimit-Reset", "7"),
    ];
    let mut with = fields.to_vec();
    with.push(("RateLimit-Policy", "20;w=10, 1000;w=86400"));
    assert_eq!(
        p(&with, T0).requests,
        dim(Some(20.0), Some(0.0), Some(T0 + 7_000.0), 10_000.0)
    );
    assert_eq!(
        p(&fields, T0).requests,
        dim(Some(20.0), Some(0.0), Some(T0 + 7_000.0), 60_000.0)
    );
    // Drafts 00 to 03: the quota policies follow the limit in `RateLimit-Limit`.
    let info = p(
        &[
            ("RateLimit-Limit", "10, 10;w=1, 50;w=60"),
            ("RateLimit-Remaining", "9"),
            ("RateLimit-Reset", "1"),
        ],
        T0,
    );
    assert_eq!(
        info.requests,
        dim(Some(10.0), Some(9.0), Some(T0 + 1_000.0), 1_000.0)
    );
    // A limit with its own window.
    let info = p(&[("RateLimit-Limit", "100;w=3600")], T0);
    assert_eq!(info.requests, dim(Some(100.0), None, None, 3_600_000.0));
    // A repeated field (fetch joins it with ", "): the first value.
    let info = p(
        &[
            ("RateLimit-Limit", "20, 20"),
            ("RateLimit-Remaining", "3"),
            ("RateLimit-Remaining", "5"),
        ],
        T0,
    );
    assert_eq!(info.requests, dim(Some(20.0), Some(3.0), None, 60_000.0));
    // Policies without a limit give none: which one the remaining count is of is unknown.
    let info = p(
        &[
            ("RateLimit-Policy", "10;w=1, 50;w=60"),
            ("RateLimit-Remaining", "3"),
        ],
        T0,
    );
    assert_eq!(
        info.requests,
        DimInfo {
            remaining: Some(3.0),
            ..DimInfo::default()
        }
    );
    assert_eq!(
        p(&[("RateLimit-Policy", "10;w=1")], T0),
        RateLimitInfo::default()
    );
    // A policy of the limit's quota without a valid window: the next one's.
    let info = p(
        &[
            ("RateLimit-Limit", "10"),
            ("RateLimit-Policy", "10;w=0, 10;w=5"),
        ],
        T0,
    );
    assert_eq!(info.requests, dim(Some(10.0), None, None, 5_000.0));
    // Names in any case; the unprefixed `x-ratelimit-*` stay their own family.
    let info = p(&[("ratelimit-limit", "5"), ("RATELIMIT-RESET", "2")], T0);
    assert_eq!(
        (info.family, info.requests.limit, info.requests.reset_at_ms),
        (Family::Ietf, Some(5.0), Some(T0 + 2_000.0))
    );
}

#[test]
fn ietf_older_draft_resets_are_delta_seconds_or_an_epoch() {
    let reset = |v: &str, date: Option<&str>| {
        let mut h = vec![("RateLimit-Limit", "20"), ("RateLimit-Reset", v)];
        h.extend(date.map(|d| ("date", d)));
        p(&h, T0).requests.reset_at_ms
    };
    assert_eq!(reset("0", None), Some(T0));
    assert_eq!(reset("2592000", None), Some(T0 + 2_592_000_000.0)); // 30 days
                                                                    // Over 30 days of delta-seconds, and not yet an epoch: absent.
    assert_eq!(reset("2592001", None), None);
    assert_eq!(reset("999999999", None), None);
    // Epoch seconds and milliseconds, on the server's clock (2 s ahead of ours here).
    let secs = format!("{}", (T0 / 1000.0) as u64 + 12);
    assert_eq!(
        reset(&secs, Some("Sun, 22 Nov 2026 13:04:34 GMT")),
        Some(T0 + 10_000.0)
    );
    let ms = format!("{}", T0 as u64 + 10_000);
    assert_eq!(reset(&ms, None), Some(T0 + 10_000.0));
    // An epoch in the past is now; one beyond 30 days is absent.
    assert_eq!(reset("1000000000", None), Some(T0));
    let far = format!("{}", (T0 / 1000.0) as u64 + 40 * 86_400);
    assert_eq!(reset(&far, None), None);
    // The same in draft-07's Dictionary.
    let info = p(&[("RateLimit", &format!("limit=20, reset={secs}"))], T0);
    assert_eq!(info.requests.reset_at_ms, Some(T0 + 12_000.0));
}

#[test]
fn ietf_older_drafts_ignore_malformed_values() {
    // Each value out of range or not an Integer is absent on its own; the rest stays.
    // (The bool: whether `limit=20, remaining=X, reset=X` is still a valid Dictionary.)
    for (bad, dictionary) in [
        ("-1", true),
        ("1.5", true),
        ("\"7\"", true),
        ("?1", true),
        ("seven", true),
        ("(7)", true),
        ("7s", false),
        ("1e3", false),
        ("0x10", false),
        ("", false),
    ] {
        let h = [
            ("RateLimit-Limit", "20"),
            ("RateLimit-Remaining", bad),
            ("RateLimit-Reset", bad),
        ];
        assert_eq!(
            p(&h, T0).requests,
            dim(Some(20.0), None, None, 60_000.0),
            "{bad:?}"
        );
        let dict = format!("limit=20, remaining={bad}, reset={bad}");
        let info = p(&[("RateLimit", dict.as_str())], T0);
        if dictionary {
            assert_eq!(
                info.requests,
                dim(Some(20.0), None, None, 60_000.0),
                "{dict}"
            );
        } else {
            // A syntax error makes the whole field absent.
            assert_eq!(info, RateLimitInfo::default(), "{dict}");
        }
    }
    // A limit of 0, or beyond MAX_COUNT, is no limit (and gives no window).
    for limit in ["0", "1000000000001", "9999999999999999"] {
        let info = p(
            &[("RateLimit-Limit", limit), ("RateLimit-Remaining", "3")],
            T0,
        );
        assert_eq!(
            info.requests,
            DimInfo {
                remaining: Some(3.0),
                ..DimInfo::default()
            },
            "{limit}"
        );
    }
    // Not a Dictionary: the field is absent (keys are lowercase, members comma-separated).
    for bad in [
        "limit=20 remaining=0",
        "Limit=20, Remaining=0, Reset=7",
        "limit=20,, reset=7",
        "limit=20, reset=7,",
        "limit: 20",
    ] {
        assert_eq!(
            p(&[("RateLimit", bad)], T0),
            RateLimitInfo::default(),
            "{bad}"
        );
    }
    // A policy's window must be an Integer > 0 (and a quota at least 1): else it is
    // inferred.
    for policy in [
        "20;w=0",
        "20;w=-10",
        "20;w=1.5",
        "20;w=\"10\"",
        "20;w",
        "0;w=10",
        "20;w=2592001",
    ] {
        let h = [
            ("RateLimit", "limit=20, remaining=0, reset=7"),
            ("RateLimit-Policy", policy),
        ];
        assert_eq!(p(&h, T0).requests.window_ms, Some(60_000.0), "{policy}");
    }
    // Nothing valid at all is nothing.
    let none = p(
        &[
            ("RateLimit", "limit=0, remaining=-1, reset=-7"),
            ("RateLimit-Limit", "x"),
            ("RateLimit-Reset", "99999999999999999"),
        ],
        T0,
    );
    assert_eq!(none, RateLimitInfo::default());
}

#[test]
fn ietf_drafts_precedence_draft10_then_07_then_06() {
    let d10 = [
        ("RateLimit-Policy", "\"p\";q=100;w=60"),
        ("RateLimit", "\"p\";r=50;t=30"),
    ];
    let d07 = ("RateLimit", "limit=20, remaining=0, reset=7");
    let d06 = [
        ("RateLimit-Limit", "5"),
        ("RateLimit-Remaining", "1"),
        ("RateLimit-Reset", "2"),
    ];
    let draft10 = dim(Some(100.0), Some(50.0), Some(T0 + 30_000.0), 60_000.0);
    let draft07 = dim(Some(20.0), Some(0.0), Some(T0 + 7_000.0), 60_000.0);
    let draft06 = dim(Some(5.0), Some(1.0), Some(T0 + 2_000.0), 60_000.0);
    let mut h = d10.to_vec();
    h.extend(d06);
    assert_eq!(p(&h, T0).requests, draft10);
    // Both forms of `RateLimit` at once are one field, neither a List nor a Dictionary:
    // absent; draft-10's policy alone then speaks.
    h.push(d07);
    assert_eq!(p(&h, T0).requests, dim(Some(100.0), None, None, 60_000.0));
    let mut h = vec![d07];
    h.extend(d06);
    assert_eq!(p(&h, T0).requests, draft07);
    assert_eq!(p(&d06, T0).requests, draft06);
    // Each taken whole: draft-07's dimension is not completed from draft-06's fields.
    let h = [
        ("RateLimit", "limit=20"),
        ("RateLimit-Remaining", "0"),
        ("RateLimit-Reset", "7"),
    ];
    assert_eq!(p(&h, T0).requests, dim(Some(20.0), None, None, 60_000.0));
    // A draft whose values are all invalid says nothing: the older one speaks.
    let h = [("RateLimit", "limit=-1"), ("RateLimit-Limit", "5")];
    assert_eq!(p(&h, T0).requests, dim(Some(5.0), None, None, 60_000.0));
    // The unprefixed `x-ratelimit-*` (express-rate-limit's legacy headers beside its
    // draft ones) come before the IETF fields, as before.
    let mut h = vec![("x-ratelimit-limit", "7")];
    h.extend(d06);
    let info = p(&h, T0);
    assert_eq!(
        (info.family, info.requests.limit),
        (Family::XRateLimit, Some(7.0))
    );
}

proptest! {
    #[test]
    fn ietf_older_drafts_round_trip(
        q in 1u64..=1_000_000,
        w in 1u64..=86_400,
        r in 0u64..=1_000_000,
        t in 0u64..=2_592_000,
        dictionary in any::<bool>(),
    ) {
        let policy = format!("1;w=1;comment=\"x\", {q};w={w}");
        let (q_s, r_s, t_s) = (q.to_string(), r.to_string(), t.to_string());
        let dict = format!("limit={q}, remaining={r}, reset={t}");
        let h: Vec<(&str, &str)> = if dictionary {
            vec![("RateLimit-Policy", &policy), ("RateLimit", &dict)]
        } else {
            vec![
                ("RateLimit-Policy", &policy),
                ("RateLimit-Limit", &q_s),
                ("RateLimit-Remaining", &r_s),
                ("RateLimit-Reset", &t_s),
            ]
        };
        let info = p(&h, T0);
        prop_assert_eq!(info.family, Family::Ietf);
        let window = if q == 1 { 1_000.0 } else { w as f64 * 1000.0 };
        prop_assert_eq!(
            info.requests,
            dim(Some(q as f64), Some(r as f64), Some(T0 + t as f64 * 1000.0), window)
        );
    }
}
