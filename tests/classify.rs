//! Property tests for `core::classify`: the rules hold for every status, header and body.

use llm_pacer::core::classify::{
    classify, classify_error, ErrorInfo, FailKind, Outcome, RetryKind, DEFAULT_RETRY_ON,
};
use proptest::prelude::*;

const WORDS: &[&str] = &[
    "rate_limit_error",
    "overloaded_error",
    "api_error",
    "invalid_request_error",
    "rate_limit_exceeded",
    "insufficient_quota",
    "enforced_spend_limit_reached",
    "requests",
    "tokens",
    "",
];

fn word() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => prop::sample::select(WORDS).prop_map(|w| Some(w.to_string())),
        1 => Just(None),
        1 => any::<String>().prop_map(Some),
    ]
}

fn error() -> impl Strategy<Value = Option<ErrorInfo>> {
    prop_oneof![
        1 => Just(None),
        3 => (word(), word()).prop_map(|(error_type, code)| Some(ErrorInfo { error_type, code })),
    ]
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        2 => prop::sample::select(&[200u16, 201, 204, 301, 304, 400, 401, 403, 404, 408, 409,
            413, 422, 429, 500, 501, 502, 503, 504, 529][..]),
        1 => 100u16..600,
        1 => any::<u16>(),
    ]
}

/// Any status that is not 1xx-3xx.
fn error_status() -> impl Strategy<Value = u16> {
    prop_oneof![
        2 => prop::sample::select(&[400u16, 401, 403, 404, 408, 409, 413, 422, 429, 500, 501,
            502, 503, 504, 529][..]),
        1 => 400u16..600,
        1 => 0u16..100,
        1 => 400u16..=u16::MAX,
    ]
}

/// An error body that says waiting cannot help.
fn hopeless_error() -> impl Strategy<Value = ErrorInfo> {
    let some = |w: &str| Just(Some(w.to_string()));
    prop_oneof![
        (word(), some("enforced_spend_limit_reached")),
        (word(), some("insufficient_quota")),
        (some("insufficient_quota"), word()),
    ]
    .prop_map(|(error_type, code)| ErrorInfo { error_type, code })
}

/// Any error body (or none) that does not say so.
fn hopeful_error() -> impl Strategy<Value = Option<ErrorInfo>> {
    error().prop_filter("hopeless", |e| !hopeless(e.as_ref()))
}

fn retry_on() -> impl Strategy<Value = Option<Vec<u16>>> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some(vec![])),
        1 => prop::collection::vec(status(), 0..6).prop_map(Some),
    ]
}

/// The error says waiting cannot help.
fn hopeless(e: Option<&ErrorInfo>) -> bool {
    e.is_some_and(|e| {
        e.code.as_deref() == Some("enforced_spend_limit_reached")
            || e.code.as_deref() == Some("insufficient_quota")
            || e.error_type.as_deref() == Some("insufficient_quota")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn success_is_exactly_1xx_to_3xx(
        s in status(), sr in any::<Option<bool>>(), e in error(), ro in retry_on(),
    ) {
        let out = classify(s, sr, e.as_ref(), ro.as_deref());
        prop_assert_eq!(out == Outcome::Success, (100..400).contains(&s));
    }

    #[test]
    fn no_retry_for_other_4xx_without_an_override(s in 400u16..500, e in error()) {
        let out = classify(s, None, e.as_ref(), None);
        let retryable = matches!(s, 408 | 409 | 429) && !hopeless(e.as_ref());
        prop_assert_eq!(matches!(out, Outcome::Retry(_)), retryable, "{} -> {:?}", s, out);
        if !retryable && !hopeless(e.as_ref()) {
            prop_assert_eq!(out, Outcome::Fail(FailKind::Status(s)));
        }
    }

    #[test]
    fn spend_limit_and_quota_always_fail(
        s in error_status(), sr in any::<Option<bool>>(), e in hopeless_error(), ro in retry_on(),
    ) {
        let out = classify(s, sr, Some(&e), ro.as_deref());
        prop_assert!(
            matches!(out, Outcome::Fail(FailKind::SpendLimit | FailKind::InsufficientQuota)),
            "{:?}", out
        );
    }

    #[test]
    fn should_retry_decides_unless_hopeless(
        s in error_status(), sr in any::<bool>(), e in hopeful_error(), ro in retry_on(),
    ) {
        let out = classify(s, Some(sr), e.as_ref(), ro.as_deref());
        if sr {
            prop_assert!(matches!(out, Outcome::Retry(_)), "{:?}", out);
        } else {
            prop_assert_eq!(out, Outcome::Fail(FailKind::ServerSaidNo(s)));
        }
    }

    #[test]
    fn without_override_the_list_decides(
        s in error_status(), e in hopeful_error(), ro in retry_on(),
    ) {
        let out = classify(s, None, e.as_ref(), ro.as_deref());
        let list = ro.as_deref().unwrap_or(DEFAULT_RETRY_ON);
        if list.contains(&s) {
            prop_assert!(matches!(out, Outcome::Retry(_)), "{:?}", out);
        } else {
            prop_assert_eq!(out, Outcome::Fail(FailKind::Status(s)));
        }
    }

    #[test]
    fn retry_kinds_are_consistent(
        s in status(), sr in any::<Option<bool>>(), e in error(), ro in retry_on(),
    ) {
        let out = classify(s, sr, e.as_ref(), ro.as_deref());
        let overloaded = e.as_ref().and_then(|e| e.error_type.as_deref()) == Some("overloaded_error");
        match out {
            Outcome::Retry(RetryKind::RateLimited) => prop_assert_eq!(s, 429),
            Outcome::Retry(RetryKind::Overloaded) => {
                prop_assert!(s != 429 && (s == 529 || overloaded))
            }
            Outcome::Retry(RetryKind::Status(k)) => {
                prop_assert_eq!(k, s);
                prop_assert!(s != 429 && s != 529 && !overloaded);
            }
            Outcome::Retry(RetryKind::Network) => prop_assert!(false, "a response is no network error"),
            Outcome::Fail(FailKind::Status(k) | FailKind::ServerSaidNo(k)) => prop_assert_eq!(k, s),
            Outcome::Fail(FailKind::Aborted) => prop_assert!(false, "a response is no abort"),
            Outcome::Fail(FailKind::SpendLimit | FailKind::InsufficientQuota) | Outcome::Success => {}
        }
    }
}

#[test]
fn an_abort_is_never_retried_and_a_network_error_always_is() {
    assert_eq!(classify_error(true), Outcome::Fail(FailKind::Aborted));
    assert_eq!(classify_error(false), Outcome::Retry(RetryKind::Network));
}
