//! Property tests for `core::classify`: the rules hold for every status, header and body.

use llm_pacer::core::classify::{
    classify, classify_error, needs_error_body, stream_error_status, ErrorInfo, FailKind, Outcome,
    RetryKind, DEFAULT_RETRY_ON,
};
use llm_pacer::core::peek::{FirstEvent, Peeked, MAX_PEEK_BYTES};
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
    "credit_limit",
    "token_quota_exceeded",
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
        3 => (
            word(),
            word(),
            prop::bool::weighted(0.1),
            prop::option::of(0.0..1e7f64),
            prop::bool::weighted(0.1),
            prop::bool::weighted(0.1),
        )
            .prop_map(|(error_type, code, daily_quota, hint_ms, over_limit, spent)| {
                Some(ErrorInfo { error_type, code, daily_quota, hint_ms, over_limit, spent })
            }),
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
        (
            word(),
            some("enforced_spend_limit_reached"),
            Just(false),
            Just(false),
            Just(false)
        ),
        (
            word(),
            some("insufficient_quota"),
            Just(false),
            Just(false),
            Just(false)
        ),
        (
            some("insufficient_quota"),
            word(),
            Just(false),
            Just(false),
            Just(false)
        ),
        // Together: credits used up.
        (
            word(),
            some("credit_limit"),
            Just(false),
            Just(false),
            Just(false)
        ),
        (
            some("credit_limit"),
            word(),
            Just(false),
            Just(false),
            Just(false)
        ),
        // Gemini (or Cerebras): a per-day quota, even with a `RetryInfo` wait.
        (word(), word(), Just(true), Just(false), Just(false)),
        // OpenAI: a request larger than the limit itself, with its "try again in".
        (word(), word(), Just(false), Just(true), Just(false)),
        // xAI: a spend limit in words.
        (word(), word(), Just(false), Just(false), Just(true)),
    ]
    .prop_map(
        |(error_type, code, daily_quota, over_limit, spent)| ErrorInfo {
            error_type,
            code,
            daily_quota,
            hint_ms: (daily_quota || over_limit).then_some(37_000.0),
            over_limit,
            spent,
        },
    )
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
        let spent_quota =
            |w: Option<&str>| matches!(w, Some("insufficient_quota" | "credit_limit"));
        e.code.as_deref() == Some("enforced_spend_limit_reached")
            || spent_quota(e.code.as_deref())
            || spent_quota(e.error_type.as_deref())
            || e.daily_quota
            || e.over_limit
            || e.spent
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
            matches!(
                out,
                Outcome::Fail(FailKind::SpendLimit | FailKind::InsufficientQuota | FailKind::TooLarge)
            ),
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
            Outcome::Fail(FailKind::SpendLimit | FailKind::InsufficientQuota | FailKind::TooLarge)
            | Outcome::Success => {}
        }
    }
}

#[test]
fn an_abort_is_never_retried_and_a_network_error_always_is() {
    assert_eq!(classify_error(true), Outcome::Fail(FailKind::Aborted));
    assert_eq!(classify_error(false), Outcome::Retry(RetryKind::Network));
}

fn typed(error_type: &str) -> ErrorInfo {
    ErrorInfo {
        error_type: Some(error_type.into()),
        ..ErrorInfo::default()
    }
}

/// The verdict on a 200 stream whose first event is `event` with `error`.
fn stream_verdict(event: &str, error: Option<&ErrorInfo>) -> Outcome {
    match stream_error_status(event, error, None) {
        Some(status) => classify(status, None, error, None),
        None => classify(200, None, None, None),
    }
}

#[test]
fn an_anthropic_error_event_first_is_classified_like_its_status() {
    for (t, want) in [
        ("overloaded_error", Outcome::Retry(RetryKind::Overloaded)),
        ("api_error", Outcome::Retry(RetryKind::Status(500))),
        ("rate_limit_error", Outcome::Retry(RetryKind::RateLimited)),
        ("timeout_error", Outcome::Retry(RetryKind::Status(504))),
        (
            "invalid_request_error",
            Outcome::Fail(FailKind::Status(400)),
        ),
        ("authentication_error", Outcome::Fail(FailKind::Status(401))),
        ("permission_error", Outcome::Fail(FailKind::Status(403))),
        ("not_found_error", Outcome::Fail(FailKind::Status(404))),
        ("request_too_large", Outcome::Fail(FailKind::Status(413))),
        // Anthropic documents `billing_error` as HTTP 402: not retried.
        ("billing_error", Outcome::Fail(FailKind::Status(402))),
    ] {
        assert_eq!(stream_verdict("error", Some(&typed(t))), want, "{t}");
    }
    // `event: error` with data that is no JSON error: a server error, retried.
    assert_eq!(stream_error_status("error", None, None), Some(500));
    assert_eq!(
        stream_error_status("error", Some(&typed("something_new")), None),
        Some(500)
    );
}

#[test]
fn an_openai_error_chunk_first_is_classified_like_its_status() {
    let chunk = |t: Option<&str>, c: Option<&str>| ErrorInfo {
        error_type: t.map(String::from),
        code: c.map(String::from),
        ..ErrorInfo::default()
    };
    // No `event` field: the type is `message`; the data holds an `error` object.
    let cases = [
        (
            chunk(Some("server_error"), None),
            Some(500),
            Outcome::Retry(RetryKind::Status(500)),
        ),
        (
            chunk(None, Some("rate_limit_exceeded")),
            Some(429),
            Outcome::Retry(RetryKind::RateLimited),
        ),
        (
            chunk(Some("tokens"), Some("rate_limit_exceeded")),
            Some(429),
            Outcome::Retry(RetryKind::RateLimited),
        ),
        (
            chunk(Some("insufficient_quota"), Some("insufficient_quota")),
            Some(429),
            Outcome::Fail(FailKind::InsufficientQuota),
        ),
        (
            chunk(None, Some("200")),
            Some(500),
            Outcome::Retry(RetryKind::Status(500)),
        ),
    ];
    for (e, status, want) in cases {
        assert_eq!(
            stream_error_status("message", Some(&e), None),
            status,
            "{e:?}"
        );
        assert_eq!(stream_verdict("message", Some(&e)), want, "{e:?}");
    }
}

#[test]
fn vllm_states_the_status_as_a_numeric_code() {
    let e = ErrorInfo {
        error_type: Some("BadRequestError".into()),
        ..ErrorInfo::default()
    };
    assert_eq!(
        stream_error_status("message", Some(&e), Some(400.0)),
        Some(400)
    );
    assert_eq!(
        stream_error_status("message", Some(&e), Some(503.0)),
        Some(503)
    );
    // A known type wins; a code that is no error status is no status.
    let typed = ErrorInfo {
        error_type: Some("overloaded_error".into()),
        ..ErrorInfo::default()
    };
    assert_eq!(
        stream_error_status("error", Some(&typed), Some(400.0)),
        Some(529)
    );
    for bad in [200.0, 400.5, 600.0, f64::NAN, -429.0] {
        assert_eq!(
            stream_error_status("message", Some(&e), Some(bad)),
            Some(500),
            "{bad}"
        );
    }
}

#[test]
fn a_content_event_first_is_a_healthy_stream() {
    for event in [
        "message_start",
        "message",
        "ping",
        "content_block_delta",
        "response.created",
    ] {
        assert_eq!(stream_error_status(event, None, None), None, "{event}");
        assert_eq!(stream_verdict(event, None), Outcome::Success);
    }
}

#[path = "support/first_event.rs"]
mod first_event;
use first_event::first_event;

#[test]
fn the_peek_ends_at_the_first_event_however_the_bytes_are_cut() {
    let wire = b"event: error\r\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}\r\n\r\nevent: message_start\r\ndata: {}\r\n\r\n";
    for cut in 0..wire.len() {
        let (a, b) = wire.split_at(cut);
        match first_event(&[a, b]) {
            Peeked::Event(e) => {
                assert_eq!(e.event, "error", "cut at {cut}");
                assert!(e.data.contains("overloaded_error"));
            }
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    // Byte by byte: no answer before the blank line that ends the event (its CR ends it:
    // a CR alone is a line break).
    let end = wire.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 3;
    let mut p = FirstEvent::new();
    for (i, byte) in wire.iter().enumerate() {
        let got = p.feed(std::slice::from_ref(byte));
        assert_eq!(got != Peeked::More, i + 1 >= end, "byte {i}");
        if got != Peeked::More {
            break;
        }
    }
}

#[test]
fn the_events_that_only_open_a_stream_are_no_first_event() {
    // Anthropic's overload after `message_start`, before any content: still the first word.
    let start = b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5}}}\n\n";
    let error =
        b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}\n\n";
    match first_event(&[start, b"event: ping\ndata: {\"type\": \"ping\"}\n\n", error]) {
        Peeked::Event(e) => assert_eq!(e.event, "error"),
        other => panic!("{other:?}"),
    }
    // Content opens: that is the first event, whatever comes after it.
    match first_event(&[start, b"event: content_block_start\ndata: {}\n\n", error]) {
        Peeked::Event(e) => assert_eq!(e.event, "content_block_start"),
        other => panic!("{other:?}"),
    }
    assert_eq!(first_event(&[start]), Peeked::More);
    // OpenAI Responses: `response.created` and `response.in_progress` open it.
    match first_event(&[
        b"event: response.created\ndata: {\"type\":\"response.created\"}\n\n",
        b"event: response.in_progress\ndata: {\"type\":\"response.in_progress\"}\n\n",
        b"event: error\ndata: {\"type\":\"error\",\"code\":\"server_error\"}\n\n",
    ]) {
        Peeked::Event(e) => assert_eq!(e.event, "error"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn llama_cpps_error_line_first_is_classified_like_its_status() {
    // llama.cpp's server: `error: <json>` (no `data`), the stream's only event.
    let wire =
        b"error: {\"code\":503,\"message\":\"Loading model\",\"type\":\"unavailable_error\"}\n\n";
    let Peeked::Event(e) = first_event(&[wire]) else {
        panic!("no first event")
    };
    assert_eq!(e.event, "error");
    // The driver reads the data as the error itself, its numeric code the status.
    let error = typed("unavailable_error");
    let status = stream_error_status(&e.event, Some(&error), Some(503.0));
    assert_eq!(status, Some(503));
    assert_eq!(
        classify(503, None, Some(&error), None),
        Outcome::Retry(RetryKind::Status(503))
    );
    // Not found (404), or a context too long (400): delivered as they are.
    for code in [400.0, 404.0] {
        let s = stream_error_status(
            "error",
            Some(&typed("exceed_context_size_error")),
            Some(code),
        );
        assert_eq!(s, Some(code as u16));
        assert!(matches!(
            classify(s.unwrap(), None, None, None),
            Outcome::Fail(FailKind::Status(_))
        ));
    }
}

#[test]
fn a_responses_failure_after_its_opening_events_is_classified_like_its_code() {
    let Peeked::Event(e) = first_event(&[
        b"event: response.created\ndata: {\"type\":\"response.created\"}\n\n",
        b"event: response.in_progress\ndata: {\"type\":\"response.in_progress\"}\n\n",
        b"event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"The model is overloaded\"}}}\n\n",
    ]) else {
        panic!("no first event")
    };
    assert_eq!(e.event, "response.failed");
    let error = ErrorInfo {
        code: Some("server_error".into()),
        ..ErrorInfo::default()
    };
    assert_eq!(
        stream_verdict(&e.event, Some(&error)),
        Outcome::Retry(RetryKind::Status(500))
    );
    let limited = ErrorInfo {
        code: Some("rate_limit_exceeded".into()),
        ..ErrorInfo::default()
    };
    assert_eq!(
        stream_verdict("response.failed", Some(&limited)),
        Outcome::Retry(RetryKind::RateLimited)
    );
    let bad = ErrorInfo {
        code: Some("invalid_prompt".into()),
        ..ErrorInfo::default()
    };
    assert_eq!(
        stream_verdict("response.failed", Some(&bad)),
        Outcome::Fail(FailKind::Status(400))
    );
    // A response that completes is no error.
    assert_eq!(stream_verdict("response.completed", None), Outcome::Success);
}

#[test]
fn tgis_string_error_first_is_classified_like_tgis_own_status() {
    // `data:{"error":"Model is overloaded","error_type":"overloaded"}`: TGI answers 429 for it
    // without a stream (its limit on concurrent requests).
    assert_eq!(
        stream_verdict("message", Some(&typed("overloaded"))),
        Outcome::Retry(RetryKind::RateLimited)
    );
    assert_eq!(
        stream_verdict("message", Some(&typed("validation"))),
        Outcome::Fail(FailKind::Status(422))
    );
    assert_eq!(
        stream_verdict("message", Some(&typed("generation"))),
        Outcome::Fail(FailKind::Status(424))
    );
}

#[test]
fn comments_empty_events_and_pings_are_no_first_event() {
    assert_eq!(
        first_event(&[b": ping\n\n", b"event: ping\n\n", b"\n\n"]),
        Peeked::More
    );
    // Anthropic's ping, with its data, at the start: an error after it is the first word.
    match first_event(&[
        b"event: ping\ndata: {\"type\": \"ping\"}\n\n",
        b"event: error\ndata: {\"type\":\"error\"}\n\n",
    ]) {
        Peeked::Event(e) => assert_eq!(e.event, "error"),
        other => panic!("{other:?}"),
    }
    match first_event(&[b": OPENROUTER PROCESSING\n\n", b"data: {\"id\":1}\n\n"]) {
        Peeked::Event(e) => assert_eq!(
            (e.event.as_str(), e.data.as_str()),
            ("message", "{\"id\":1}")
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_peek_gives_up_past_its_byte_bound_and_answers_once() {
    let mut p = FirstEvent::new();
    let comment = vec![b'x'; 1000];
    let mut fed = 0;
    let got = loop {
        let mut chunk = b": ".to_vec();
        chunk.extend_from_slice(&comment);
        chunk.push(b'\n');
        fed += chunk.len();
        match p.feed(&chunk) {
            Peeked::More => assert!(fed < MAX_PEEK_BYTES, "still reading after {fed} bytes"),
            other => break other,
        }
    };
    assert_eq!(got, Peeked::GiveUp);
    assert!((MAX_PEEK_BYTES..MAX_PEEK_BYTES + 1003).contains(&fed));
    // An event after the answer changes nothing.
    assert_eq!(p.feed(b"data: x\n\n"), Peeked::GiveUp);
    // An event complete within the bound but in a chunk that crosses it: the bytes past the
    // bound are not read.
    let mut p = FirstEvent::new();
    let mut big = vec![b':'; MAX_PEEK_BYTES - 10];
    big.push(b'\n');
    assert_eq!(p.feed(&big), Peeked::More);
    assert_eq!(p.feed(b"data: 0123456789\n\n"), Peeked::GiveUp);
}

/// The driver reads an error body exactly when `needs_error_body` says so (src/wasm/mod.rs).
/// Wherever it says no, no body can turn delivering the response into a retry or the reverse:
/// the pacer without the body decides as `classify` with it (the exported `classify()`, which
/// is given the body, agrees with the pacer; tests/js/classify-agreement.test.mjs holds the
/// same through the package).
#[test]
fn an_unread_body_never_changes_whether_a_response_is_retried() {
    let bodies: Vec<ErrorInfo> = {
        let mut v = vec![ErrorInfo::default()];
        for w in WORDS {
            v.push(ErrorInfo {
                error_type: Some((*w).into()),
                ..ErrorInfo::default()
            });
            v.push(ErrorInfo {
                code: Some((*w).into()),
                ..ErrorInfo::default()
            });
        }
        v.push(ErrorInfo {
            hint_ms: Some(30_000.0),
            ..ErrorInfo::default()
        });
        v.push(ErrorInfo {
            daily_quota: true,
            ..ErrorInfo::default()
        });
        v.push(ErrorInfo {
            spent: true,
            ..ErrorInfo::default()
        });
        v
    };
    let lists: [Option<&[u16]>; 3] = [None, Some(&[400, 418]), Some(&[])];
    let mut unread = 0;
    for status in 100..=599u16 {
        for should_retry in [None, Some(true), Some(false)] {
            for retry_on in lists {
                if needs_error_body(status, should_retry, retry_on) {
                    continue;
                }
                unread += 1;
                let without = classify(status, should_retry, None, retry_on);
                for e in &bodies {
                    let with = classify(status, should_retry, Some(e), retry_on);
                    assert_eq!(
                        matches!(with, Outcome::Retry(_)),
                        matches!(without, Outcome::Retry(_)),
                        "{status} {should_retry:?} {retry_on:?} {e:?}: {with:?} vs {without:?}"
                    );
                    assert!(
                        !matches!(with, Outcome::Retry(_)),
                        "{status}: retried unread"
                    );
                }
            }
        }
    }
    assert!(unread > 1_000, "{unread}");
    // And where it says yes, a body can change the decision (else reading it would be waste).
    let quota = ErrorInfo {
        code: Some("insufficient_quota".into()),
        ..ErrorInfo::default()
    };
    for (status, should_retry) in [(429, None), (503, None), (400, Some(true))] {
        assert!(needs_error_body(status, should_retry, None));
        assert!(matches!(
            classify(status, should_retry, None, None),
            Outcome::Retry(_)
        ));
        assert!(matches!(
            classify(status, should_retry, Some(&quota), None),
            Outcome::Fail(FailKind::InsufficientQuota)
        ));
    }
}
