//! Unit tests of the header parser (private helpers included); the properties are in
//! tests/headers.rs.

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
    assert_eq!(p(&[("retry-after", ".5")], T0).retry_after_ms, Some(500.0));
}

#[test]
fn a_repeated_retry_hint_joined_by_fetch_gives_its_longest_wait() {
    assert_eq!(
        p(&[("retry-after", "2, 2")], T0).retry_after_ms,
        Some(2_000.0)
    );
    assert_eq!(
        p(&[("retry-after", "1, 5")], T0).retry_after_ms,
        Some(5_000.0)
    );
    assert_eq!(
        p(&[("retry-after-ms", "300, 1500")], T0).retry_after_ms,
        Some(1_500.0)
    );
    // A list with garbage in it is garbage; so is an empty member.
    assert_eq!(p(&[("retry-after", "2, soon")], T0).retry_after_ms, None);
    assert_eq!(p(&[("retry-after", "2, ")], T0).retry_after_ms, None);
    assert_eq!(
        p(&[("retry-after", "1,5")], T0).retry_after_ms,
        None,
        "a decimal comma?"
    );
    // A date keeps its own comma.
    let h = [
        ("date", DATE_T0),
        ("retry-after", "Sun, 22 Nov 2026 13:04:42 GMT"),
    ];
    assert_eq!(p(&h, T0).retry_after_ms, Some(10_000.0));
}

#[test]
fn a_repeated_retry_hint_with_dates_in_it_gives_its_longest_wait() {
    let wait = |v: &str| p(&[("date", DATE_T0), ("retry-after", v)], T0).retry_after_ms;
    // Delta-seconds and an HTTP-date (10 s after the response's `Date`), either way round.
    assert_eq!(wait("5, Sun, 22 Nov 2026 13:04:42 GMT"), Some(10_000.0));
    assert_eq!(wait("Sun, 22 Nov 2026 13:04:42 GMT, 20"), Some(20_000.0));
    // Two dates, the later one; RFC 850 and asctime dates too.
    assert_eq!(
        wait("Sun, 22 Nov 2026 13:04:42 GMT, Sun, 22 Nov 2026 13:04:52 GMT"),
        Some(20_000.0)
    );
    assert_eq!(wait("3, Sunday, 22-Nov-26 13:04:42 GMT"), Some(10_000.0));
    assert_eq!(wait("Sun Nov 22 13:04:42 2026, 3"), Some(10_000.0));
    // A date already past beside a delay: the delay.
    assert_eq!(wait("3, Sun, 22 Nov 2026 13:04:00 GMT"), Some(3_000.0));
    // Garbage in the list is garbage, a day's name without its date too.
    assert_eq!(wait("5, Sun"), None);
    assert_eq!(wait("5, Sun, soon"), None);
    assert_eq!(wait("Sun, 22 Nov 2026 13:04:42 GMT, x"), None);
    assert_eq!(wait("5,Sun, 22 Nov 2026 13:04:42 GMT"), None);
    // Past or zero everywhere: no hint.
    assert_eq!(wait("0, Sun, 22 Nov 2026 13:04:00 GMT"), None);
}

#[test]
fn a_zero_wait_is_no_hint_and_lets_the_other_header_in() {
    for zero in ["0", "0.0", "-0", "0e3"] {
        assert_eq!(
            p(&[("retry-after", zero)], T0).retry_after_ms,
            None,
            "{zero}"
        );
        assert_eq!(
            p(&[("retry-after-ms", zero)], T0).retry_after_ms,
            None,
            "{zero}"
        );
    }
    // Azure's name for retry-after-ms.
    assert_eq!(
        p(&[("x-ms-retry-after-ms", "250")], T0).retry_after_ms,
        Some(250.0)
    );
    let both = [("retry-after-ms", "0"), ("retry-after", "30")];
    assert_eq!(p(&both, T0).retry_after_ms, Some(30_000.0));
    let twice = [("retry-after", "0"), ("retry-after", "2")];
    assert_eq!(p(&twice, T0).retry_after_ms, Some(2_000.0));
}

#[test]
fn retry_after_ms_is_float_ms_and_wins() {
    // (In whole milliseconds, rounded up: never shorter than said.)
    assert_eq!(
        p(&[("retry-after-ms", "123.5")], T0).retry_after_ms,
        Some(124.0)
    );
    let both = [("retry-after", "30"), ("retry-after-ms", "1500")];
    assert_eq!(p(&both, T0).retry_after_ms, Some(1_500.0));
    let reversed = [("retry-after-ms", "1500"), ("retry-after", "30")];
    assert_eq!(p(&reversed, T0).retry_after_ms, Some(1_500.0));
    // Python writes floats under 1e-4 (and from 1e16) with an exponent: none is a wait (under
    // a millisecond is "now"; beyond 30 days absurd), and no other writer uses one.
    assert_eq!(p(&[("retry-after-ms", "1e-05")], T0).retry_after_ms, None);
}

#[test]
fn every_hint_is_whole_milliseconds_rounded_up() {
    // A fraction the server wrote is rounded up; the decimal's own error in binary is no
    // fraction (`2.007` s times 1,000 is 2,007.0000000000002, `1.005` 1,004.9999999999999).
    for (h, ms) in [
        (("retry-after-ms", "1.5"), 2.0),
        (("retry-after-ms", "1.0001"), 2.0),
        (("retry-after-ms", "1500.5"), 1_501.0),
        (("retry-after-ms", "1"), 1.0),
        (("retry-after", "2.007"), 2_007.0),
        (("retry-after", "1.005"), 1_005.0),
        (("retry-after", "1.1"), 1_100.0),
        (("retry-after", "7.66"), 7_660.0),
        (("retry-after", "0.0015"), 2.0),
        (("retry-after", "1.0000005"), 1_001.0),
        (("retry-after", "3, 2.0005"), 3_000.0),
        (("retry-after", "2.0015, 2"), 2_002.0),
    ] {
        let got = p(&[h], T0).retry_after_ms;
        assert_eq!(got, Some(ms), "{h:?}");
    }
    // Under a millisecond is still no hint (not one rounded up to 1 ms).
    assert_eq!(p(&[("retry-after-ms", "0.5")], T0).retry_after_ms, None);
    // Body hints go through the same guard.
    use crate::core::hints::{parse_proto_duration, parse_try_again};
    assert_eq!(parse_try_again("Please try again in 1.5ms."), Some(2.0));
    assert_eq!(parse_try_again("Please try again in 7.66s."), Some(7_660.0));
    assert_eq!(
        parse_try_again("Please try again in 1.2345678s."),
        Some(1_235.0)
    );
    assert_eq!(parse_proto_duration("2.007s"), Some(2_007.0));
    assert_eq!(parse_proto_duration("0.0015s"), Some(2.0));
    for x in [0.0, 1.0, 7_660.0, 2_592_000_000.0] {
        assert_eq!(whole_ms(x), x);
        assert_eq!(whole_ms(x + 0.5), x + 1.0);
    }
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
fn a_number_with_an_exponent_is_garbage_not_a_long_wait() {
    // delay-seconds are digits (RFC 9110 §10.2.3): `1e3` is not 1,000 s. Nor does a limit or
    // a remaining count come in exponent form.
    for bad in ["1e3", "1E2", "1e0", "2.5e1"] {
        assert_eq!(
            p(&[("retry-after", bad)], T0).retry_after_ms,
            None,
            "{bad:?}"
        );
        let h = [("retry-after-ms", bad), ("retry-after", "3")];
        assert_eq!(p(&h, T0).retry_after_ms, Some(3_000.0), "{bad:?}");
        let info = p(
            &[
                ("anthropic-ratelimit-requests-limit", bad),
                ("anthropic-ratelimit-requests-remaining", bad),
            ],
            T0,
        );
        assert_eq!(info.requests.limit, None, "{bad:?}");
        assert_eq!(info.requests.remaining, None, "{bad:?}");
    }
}

#[test]
fn a_hint_under_a_millisecond_is_now_which_is_no_hint() {
    // Else `retry-after: 0.0001` sends the retries back to back, as a zero would.
    for now in ["0.0001", "0.000999"] {
        assert_eq!(
            p(&[("retry-after", now)], T0).retry_after_ms,
            None,
            "{now:?}"
        );
    }
    assert_eq!(p(&[("retry-after-ms", "0.4")], T0).retry_after_ms, None);
    // ... and lets `retry-after` in, as `retry-after-ms: 0` does.
    let h = [("retry-after-ms", "0.4"), ("retry-after", "5")];
    assert_eq!(p(&h, T0).retry_after_ms, Some(5_000.0));
    // One millisecond is a wait.
    assert_eq!(p(&[("retry-after-ms", "1")], T0).retry_after_ms, Some(1.0));
    assert_eq!(p(&[("retry-after", "0.001")], T0).retry_after_ms, Some(1.0));
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
fn retry_after_date_not_in_the_future_is_no_hint_not_negative() {
    let h = [
        ("date", DATE_T0),
        ("retry-after", "Sun, 22 Nov 2026 13:04:00 GMT"),
    ];
    assert_eq!(p(&h, T0).retry_after_ms, None);
    let h = [("date", DATE_T0), ("retry-after", DATE_T0)];
    assert_eq!(p(&h, T0).retry_after_ms, None);
    let h = [("retry-after", "Thu, 01 Jan 1970 00:00:00 GMT")];
    assert_eq!(p(&h, T0).retry_after_ms, None);
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
            ("ratelimit-limits", "100"),
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
    for bad in [
        "-1s", "1d", "soon", "", "721h", "-1", "1e3", "2592001", "12 s",
    ] {
        let info = p(&[("x-ratelimit-reset-tokens", bad)], T0);
        assert!(info.tokens.is_empty(), "{bad:?}");
    }
}

#[test]
fn openai_resets_other_servers_write_as_numbers_or_times() {
    // Servers beside OpenAI write these names with the reset as the unprefixed
    // `x-ratelimit-reset` is written: seconds from now (a bare number, decimals allowed), an
    // epoch in seconds (from 10^9) or in milliseconds (from 10^12), or an RFC 3339 time; the
    // epochs and times on the server's clock, set against its `Date` (here 5 s behind ours).
    let date = "Thu, 01 Jan 2026 00:00:00 GMT";
    let server = 1_767_225_600_000.0; // that date, epoch ms
    let now = server + 5_000.0;
    for (reset, ms) in [
        ("12", 12_000.0),
        ("0.5", 500.0),
        ("0", 0.0),
        ("1767225630", 30_000.0),
        ("1767225630000", 30_000.0),
        ("2026-01-01T00:00:30Z", 30_000.0),
        ("2026-01-01T00:00:30.250Z", 30_250.0),
        // In the past: full now (never a wait below zero).
        ("1767225590", 0.0),
    ] {
        let info = p(
            &[("date", date), ("x-ratelimit-reset-requests", reset)],
            now,
        );
        assert_eq!(info.requests.reset_at_ms, Some(now + ms), "{reset}");
        assert_eq!(info.family, Family::OpenAi, "{reset}");
    }
    // Beyond 30 days, as seconds or as an epoch: absent, never a sleep of weeks. A number
    // between 30 days of seconds and 10^9 is neither, and a time before 2001 no reset.
    for bad in [
        "2592001",
        "999999999",
        "1769817631",
        "1769817631000",
        "1970-01-01T00:00:10Z",
    ] {
        let info = p(&[("date", date), ("x-ratelimit-reset-requests", bad)], now);
        assert!(info.requests.is_empty(), "{bad}");
    }
    // A Go duration is read as before, and the first valid occurrence wins either way.
    let info = p(
        &[
            ("x-ratelimit-reset-tokens", "soon"),
            ("x-ratelimit-reset-tokens", "7"),
            ("x-ratelimit-reset-tokens", "2s"),
        ],
        T0,
    );
    assert_eq!(info.tokens.reset_at_ms, Some(T0 + 7_000.0));
    // The window follows a reset so written as it does a Go duration: a day's, 199 of 200.
    let info = p(
        &[
            ("x-ratelimit-limit-requests", "200"),
            ("x-ratelimit-remaining-requests", "199"),
            ("x-ratelimit-reset-requests", "432"),
        ],
        T0,
    );
    assert_eq!(info.requests.window_ms, Some(86_400_000.0));
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
    for bad in [
        "1e3", "1E+3", "1e-5", ".", "e3", "1e", "1e+", "+1", "-1", "1 2", "١", "0x1", "1_000",
        "inf",
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
    let imf = httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs));
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

#[test]
fn should_retry_alone_reads_as_the_full_parse_does() {
    let cases: [&[(&str, &str)]; 6] = [
        &[],
        &[("x-should-retry", "true")],
        &[("X-Should-Retry", " FALSE ")],
        &[("x-should-retry", "maybe"), ("x-should-retry", "false")],
        &[("x-should-retry", "true"), ("x-should-retry", "false")],
        &[("retry-after", "2"), ("x-should-retry-later", "true")],
    ];
    for h in cases {
        let full = parse(h.iter().copied(), T0).should_retry;
        assert_eq!(should_retry(h.iter().copied()), full, "{h:?}");
    }
    assert_eq!(
        should_retry([("x-should-retry", "maybe"), ("x-should-retry", "false")]),
        Some(false)
    );
}
