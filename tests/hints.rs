//! Body hints (`core::hints`): Gemini `RetryInfo.retryDelay` and `QuotaFailure`, OpenAI's
//! "try again in ..." message and its "Request too large ... Limit N, Requested M"; their
//! guards, their place behind the header hints, and the
//! engine waiting on them (capped by `maxRetryAfterMs` like any server hint).

use llm_pacer::core::call::{Action, Engine, Request, Verdict};
use llm_pacer::core::classify::{classify, ErrorInfo, FailKind, Outcome};
use llm_pacer::core::config::Config;
use llm_pacer::core::headers::{RateLimitInfo, ABSURD_MS};
use llm_pacer::core::hints::*;
use proptest::prelude::*;

#[test]
fn retry_delay_is_decimal_seconds_then_s() {
    for (s, want) in [
        ("37s", Some(37_000.0)),
        ("1.5s", Some(1_500.0)),
        ("0.200s", Some(200.0)),
        ("0s", None), // a zero wait is no hint: the backoff applies
        ("0.000s", None),
        (" 2s ", Some(2_000.0)),
        // Under a millisecond is "now", no hint (back-to-back retries otherwise).
        ("0.000000001s", None),
        ("0.000999s", None),
        ("0.001s", Some(1.0)),
        // Garbage: absent.
        ("37", None),
        ("-5s", None),
        ("+5s", None),
        ("1e3s", None),
        ("NaNs", None),
        ("infs", None),
        (".5s", None),
        ("5.s", None),
        ("1.0000000001s", None),
        ("5 s", None),
        ("s", None),
        ("", None),
        ("5m", None),
        // Beyond 30 days: absent, never a multi-day sleep.
        ("2592001s", None),
        ("99999999999999999999999s", None),
    ] {
        assert_eq!(parse_proto_duration(s), want, "{s:?}");
    }
    assert_eq!(parse_proto_duration("2592000s"), Some(ABSURD_MS));
    assert_eq!(parse_proto_duration(&format!("{}s", "1".repeat(300))), None);
}

#[test]
fn try_again_reads_the_go_duration_in_openais_message() {
    let m = |s: &str| parse_try_again(s);
    assert_eq!(
        m("Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Used 29000, Requested 1500. Please try again in 1.5s. Visit https://platform.openai.com/account/rate-limits to learn more."),
        Some(1_500.0)
    );
    assert_eq!(m("Please try again in 20ms."), Some(20.0));
    assert_eq!(m("Please try again in 6m0s."), Some(360_000.0));
    assert_eq!(m("please TRY AGAIN IN 1m30s, thanks"), Some(90_000.0));
    assert_eq!(m("Please try again in 8.64s"), Some(8_640.0));
    // Not a Go duration, negative, absent, absurd: no hint.
    for s in [
        "Please try again in a few seconds.",
        "Please try again in 7 seconds.",
        "Please try again in -1s.",
        "Please try again in NaNs.",
        "Please try again later.",
        "Please try again in 1000h.",
        "try again in",
        "",
    ] {
        assert_eq!(m(s), None, "{s:?}");
    }
    // Only the start of a message is searched.
    let far = format!("{} Please try again in 2s.", "x".repeat(MAX_MESSAGE_BYTES));
    assert_eq!(m(&far), None);
    let near = format!("{} Please try again in 2s.", "x".repeat(100));
    assert_eq!(m(&near), Some(2_000.0));
    // The search never splits a multi-byte character into a panic.
    assert_eq!(m(&format!("{}try again in 1s", "é".repeat(3000))), None);
}

#[test]
fn a_per_day_quota_is_named_so() {
    for id in [
        "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
        "generativelanguage.googleapis.com/generate_requests_per_model_per_day",
        "requests-per-day",
    ] {
        assert!(is_per_day_quota(id), "{id}");
    }
    for id in [
        "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
        "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count",
        "",
    ] {
        assert!(!is_per_day_quota(id), "{id}");
    }
}

#[test]
fn a_cerebras_quota_per_day_is_told_from_one_per_minute_by_its_message() {
    // Cerebras sends the same code and type for every window (its error at the top level).
    let tokens = Some("token_quota_exceeded");
    let requests = Some("request_quota_exceeded");
    for (code, m) in [
        (
            tokens,
            "Tokens per day limit exceeded - too many tokens processed.",
        ),
        (
            requests,
            "Requests per day limit exceeded - too many requests sent.",
        ),
        (tokens, "tokens PER DAY limit exceeded"),
    ] {
        assert!(names_daily_limit(code, m), "{m}");
    }
    for (code, m) in [
        (
            tokens,
            "Tokens per minute limit exceeded - too many tokens processed.",
        ),
        (
            requests,
            "Requests per minute limit exceeded - too many requests sent.",
        ),
        (
            requests,
            "Requests per hour limit exceeded - too many requests sent.",
        ),
        (tokens, ""),
        // The words alone, under any other code (or none), are not read.
        (Some("rate_limit_exceeded"), "Tokens per day limit exceeded"),
        (None, "Tokens per day limit exceeded"),
    ] {
        assert!(!names_daily_limit(code, m), "{code:?} {m}");
    }
    // Within the first MAX_MESSAGE_BYTES only.
    let far = format!("{} per day", "x".repeat(MAX_MESSAGE_BYTES));
    assert!(!names_daily_limit(tokens, &far));
}

#[test]
fn a_spent_balance_is_said_in_xais_words() {
    for m in [
        "Your team 0a1b has either used all available credits or reached its monthly spending \
         limit. To continue making API requests, please purchase more credits or raise your \
         spending limit.",
        "monthly SPENDING LIMIT reached",
        "You have used all available credits.",
    ] {
        assert!(states_spent(m), "{m}");
    }
    for m in [
        // The same code, a passing overload: retried.
        "The service is temporarily at capacity. Please retry your request shortly.",
        "Too many requests. Please try again in 2s.",
        "credits",
        "",
    ] {
        assert!(!states_spent(m), "{m}");
    }
    let far = format!("{} spending limit", "x".repeat(MAX_MESSAGE_BYTES));
    assert!(!states_spent(&far));
}

#[test]
fn retry_info_wins_over_the_message_and_headers_win_over_both() {
    assert_eq!(
        body_hint(Some("37s"), Some("Please try again in 2s.")),
        Some(37_000.0)
    );
    assert_eq!(
        body_hint(Some("soon"), Some("Please try again in 2s.")),
        Some(2_000.0)
    );
    assert_eq!(body_hint(None, None), None);
    let body = ErrorInfo {
        hint_ms: Some(37_000.0),
        ..ErrorInfo::default()
    };
    assert_eq!(retry_hint(Some(1_000.0), Some(&body)), Some(1_000.0));
    assert_eq!(retry_hint(Some(0.0), Some(&body)), Some(0.0));
    assert_eq!(retry_hint(None, Some(&body)), Some(37_000.0));
    assert_eq!(retry_hint(None, None), None);
    // A body hint that slipped past its parser's guard is still no hint.
    for bad in [f64::NAN, -1.0, f64::INFINITY, ABSURD_MS * 2.0] {
        let body = ErrorInfo {
            hint_ms: Some(bad),
            ..ErrorInfo::default()
        };
        assert_eq!(retry_hint(None, Some(&body)), None, "{bad}");
    }
}

#[test]
fn a_per_day_quota_fails_like_insufficient_quota() {
    let e = ErrorInfo {
        code: Some("429".into()),
        hint_ms: Some(37_000.0),
        daily_quota: true,
        ..ErrorInfo::default()
    };
    assert_eq!(
        classify(429, Some(true), Some(&e), None),
        Outcome::Fail(FailKind::InsufficientQuota)
    );
    let per_minute = ErrorInfo {
        daily_quota: false,
        ..e
    };
    assert!(matches!(
        classify(429, None, Some(&per_minute), None),
        Outcome::Retry(_)
    ));
}

const NOW: f64 = 1_767_225_600_000.0;

/// One call, its first attempt answered `status` with `headers` and `error`: the verdict.
fn first_answer(
    status: u16,
    headers: &RateLimitInfo,
    error: Option<&ErrorInfo>,
    max_retry_after_ms: f64,
) -> Verdict {
    let mut config = Config::new();
    config.retry.max_retry_after_ms = max_retry_after_ms;
    let mut e = Engine::new(config, NOW);
    let id = e.submit(NOW, Request::default()).expect("open");
    assert_eq!(e.poll(NOW), vec![Action::Send { id, attempt: 1 }]);
    e.on_response(NOW, id, status, headers, error, 0.5)
}

fn gemini(delay_ms: f64) -> ErrorInfo {
    ErrorInfo {
        code: Some("429".into()),
        hint_ms: Some(delay_ms),
        ..ErrorInfo::default()
    }
}

#[test]
fn the_engine_waits_the_body_hint_when_no_header_gives_one() {
    let none = RateLimitInfo::default();
    match first_answer(429, &none, Some(&gemini(37_000.0)), 60_000.0) {
        Verdict::Retry { at_ms } => assert!(
            (NOW + 37_000.0..=NOW + 38_000.0).contains(&at_ms),
            "retry {} ms later",
            at_ms - NOW
        ),
        other => panic!("{other:?}"),
    }
    // A header hint wins.
    let header = RateLimitInfo {
        retry_after_ms: Some(2_000.0),
        ..Default::default()
    };
    match first_answer(429, &header, Some(&gemini(37_000.0)), 60_000.0) {
        Verdict::Retry { at_ms } => assert!((NOW + 2_000.0..=NOW + 2_200.0).contains(&at_ms)),
        other => panic!("{other:?}"),
    }
    // Beyond maxRetryAfterMs: the response goes to the caller, as for a header hint.
    assert_eq!(
        first_answer(429, &none, Some(&gemini(37_000.0)), 10_000.0),
        Verdict::Deliver
    );
    // Garbage in the body: the pacer's own backoff (short), never a 0 ms loop nor a long sleep.
    match first_answer(429, &none, Some(&gemini(f64::NAN)), 60_000.0) {
        Verdict::Retry { at_ms } => assert!(at_ms - NOW < 5_000.0),
        other => panic!("{other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Total on any text, and every wait lies within the guard.
    #[test]
    fn every_parser_is_total_and_guarded(s in any::<String>(), pre in "[a-z ]{0,20}") {
        for v in [
            parse_proto_duration(&s),
            parse_try_again(&s),
            parse_try_again(&format!("{pre}try again in {s}")),
        ]
        .into_iter()
        .flatten()
        {
            prop_assert!(v.is_finite() && (1.0..=ABSURD_MS).contains(&v), "{v}");
        }
        let _ = is_per_day_quota(&s);
    }

    /// `<n>s` reads as n seconds, and "try again in" a Go duration as that duration.
    #[test]
    fn whole_seconds_read_back(n in 1u32..2_592_000) {
        prop_assert_eq!(parse_proto_duration(&format!("{n}s")), Some(f64::from(n) * 1000.0));
        prop_assert_eq!(
            parse_try_again(&format!("Please try again in {n}s. Visit ...")),
            Some(f64::from(n) * 1000.0)
        );
    }
}

#[test]
fn a_request_larger_than_the_limit_itself_is_told_apart() {
    // OpenAI's and Groq's words for a request that can never fit, as users report them.
    for m in [
        "Request too large for gpt-4o in organization org-abc on tokens per min (TPM): Limit \
         30000, Requested 36278. The input or output tokens must be reduced in order to run \
         successfully. Visit https://platform.openai.com/account/rate-limits to learn more.",
        "Request too large for model `openai/gpt-oss-20b` in organization `org_01` service tier \
         `on_demand` on tokens per minute (TPM): Limit 8000, Requested 34011, please reduce \
         your message size and try again.",
        "request too large: limit 1,000, requested 1,001.",
    ] {
        assert!(exceeds_limit(m), "{m}");
    }
    for m in [
        // An ordinary 429: what is asked fits the limit, once the bucket refills.
        "Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit \
         30000, Used 29500, Requested 2000. Please try again in 3s.",
        // Anthropic's 429 names no request size.
        "This request would exceed the rate limit for your organization of 20,000 input \
         tokens per minute. Please reduce the prompt length or the maximum tokens requested, \
         or try again later.",
        "Limit 30000, Requested 30000.",
        "Requested 36278, Limit 30000 of nothing",
        "Limit , Requested 5",
        "Limit 99999999999999999999999, Requested 5",
        "",
    ] {
        let want = m.starts_with("Requested 36278");
        assert_eq!(exceeds_limit(m), want, "{m}");
    }
}

#[test]
fn a_request_larger_than_the_limit_itself_is_not_retried() {
    let over = ErrorInfo {
        over_limit: true,
        hint_ms: Some(3_000.0),
        ..ErrorInfo::default()
    };
    assert_eq!(
        classify(429, Some(true), Some(&over), None),
        Outcome::Fail(FailKind::TooLarge)
    );
}

/// A 429's reset stands in for a hint only for a dimension it reports spent with no limit:
/// the four header shapes that report one so, parsed as a server sends them.
#[test]
fn a_spent_dimension_without_a_limit_states_its_reset() {
    use llm_pacer::core::headers::parse;
    const T0: f64 = 1_767_225_600_000.0;
    let reset = |headers: &[(&str, &str)]| spent_reset(&parse(headers.iter().copied(), T0), T0);
    for headers in [
        &[("ratelimit-remaining", "0"), ("ratelimit-reset", "30")][..],
        &[("ratelimit", "remaining=0, reset=30")],
        &[("ratelimit", "\"default\";r=0;t=30")],
        &[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "30s"),
        ],
    ] {
        assert_eq!(reset(headers), Some(30_000.0), "{headers:?}");
    }
    for headers in [
        // Some left, a limit beside it (a bucket: the limiter waits on it), or no reset.
        &[("ratelimit-remaining", "3"), ("ratelimit-reset", "30")][..],
        &[
            ("ratelimit-limit", "60"),
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", "30"),
        ],
        &[("ratelimit-remaining", "0")],
        &[("ratelimit-remaining", "0"), ("ratelimit-reset", "0")],
    ] {
        assert_eq!(reset(headers), None, "{headers:?}");
    }
}
