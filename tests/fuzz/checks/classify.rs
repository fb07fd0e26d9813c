//! `classify`: status, headers and error body through `core::classify`, alone and inside
//! the engine.
//!
//! Input: text. The first line is `<status> [<retry-on>,<retry-on>,...]` (a status that is
//! not a `u16` ends the case), then header lines, an empty line, and the body, read as the
//! Wasm driver reads an error body (`error.type`, `error.details.error_code` or else
//! `error.code`; with no `error` object, the document's own fields, and an `error` that is a
//! string as the message).
//!
//! Checks: the function is total and follows its documented rules in order (1xx-3xx
//! succeed; a spend-limit (any code naming one, or a billing stop, or a string error that
//! says so) or insufficient-quota (`credit_limit`, a Cerebras per-day quota) error never
//! retries, whatever else is said;
//! `x-should-retry` wins over the status list; else the list decides), the kind of a retry
//! is right, and the engine turns each verdict into the matching action: no retry of a
//! failure, a wait never shorter than the server's hint.

use super::{header_lines, NOW};
use llm_pacer::core::call::{Action, Engine, Request, Verdict};
use llm_pacer::core::classify::{
    classify, ErrorInfo, FailKind, Outcome, RetryKind, DEFAULT_RETRY_ON,
};
use llm_pacer::core::config::Config;
use llm_pacer::core::headers::parse;
use llm_pacer::core::hints;

/// Run the checks on one input.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let (first, headers) = head.split_once('\n').unwrap_or((head, ""));
    let mut words = first.split_whitespace();
    let Some(Ok(status)) = words.next().map(str::parse::<u16>) else {
        return;
    };
    let retry_on: Option<Vec<u16>> = words
        .next()
        .map(|w| w.split(',').filter_map(|s| s.parse().ok()).collect());
    let headers = header_lines(headers);
    let info = parse(headers.iter().copied(), NOW);
    let error = error_info(body);
    let outcome = classify(
        status,
        info.should_retry,
        error.as_ref(),
        retry_on.as_deref(),
    );
    assert_eq!(
        outcome,
        expected(
            status,
            info.should_retry,
            error.as_ref(),
            retry_on.as_deref()
        ),
        "status {status}, x-should-retry {:?}, {error:?}, retry_on {retry_on:?}",
        info.should_retry
    );
    // Total and deterministic.
    assert_eq!(
        classify(
            status,
            info.should_retry,
            error.as_ref(),
            retry_on.as_deref()
        ),
        outcome
    );
    in_engine(status, &info, error.as_ref(), retry_on, outcome);
}

/// What the Wasm driver extracts from an error body (`src/wasm/body.rs`, `error_info`): the
/// `error` object's fields; else, for an object, its own, with an `error` string as the
/// message (and `error_type` as the type) and a `type` of `error` not taken for the error's.
pub fn error_info(body: &str) -> Option<ErrorInfo> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let v = match v {
        serde_json::Value::Array(a) => a.into_iter().next()?,
        v => v,
    };
    let string = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(String::from);
    let (err, error_type, said) = match v.get("error") {
        Some(e) if e.is_object() => (e, string(e.get("type")), None),
        Some(serde_json::Value::String(said)) => (&v, string(v.get("error_type")), Some(said)),
        _ if v.is_object() => (&v, string(v.get("type")).filter(|t| t != "error"), None),
        _ => return None,
    };
    let code = string(err.get("details").and_then(|d| d.get("error_code")))
        .or_else(|| string(err.get("code")));
    let message = said.cloned().or_else(|| string(err.get("message")));
    Some(ErrorInfo {
        error_type,
        daily_quota: message
            .as_deref()
            .is_some_and(|m| hints::names_daily_limit(code.as_deref(), m)),
        spent: said.is_some_and(|m| hints::states_spent(m)),
        code,
        ..ErrorInfo::default()
    })
}

/// The rules of the module documentation, written out.
fn expected(
    status: u16,
    should_retry: Option<bool>,
    error: Option<&ErrorInfo>,
    retry_on: Option<&[u16]>,
) -> Outcome {
    let code = error.and_then(|e| e.code.as_deref());
    let error_type = error.and_then(|e| e.error_type.as_deref());
    if (100..=399).contains(&status) {
        return Outcome::Success;
    }
    // Any code naming a spend limit (Anthropic's `enforced_spend_limit_reached`, OpenAI's
    // per-organisation and per-project ones), and OpenAI's billing stops.
    // And a string error that says so in words (xAI).
    if error.is_some_and(|e| e.spent)
        || code.is_some_and(|c| {
            c.contains("spend_limit")
                || c == "billing_hard_limit_reached"
                || c == "billing_not_active"
        })
    {
        return Outcome::Fail(FailKind::SpendLimit);
    }
    // OpenAI's `insufficient_quota`, Together's `credit_limit`, a per-day quota (Cerebras).
    let spent_quota = |w: Option<&str>| matches!(w, Some("insufficient_quota" | "credit_limit"));
    if spent_quota(code) || spent_quota(error_type) || error.is_some_and(|e| e.daily_quota) {
        return Outcome::Fail(FailKind::InsufficientQuota);
    }
    let retry = match should_retry {
        Some(true) => true,
        Some(false) => return Outcome::Fail(FailKind::ServerSaidNo(status)),
        None => retry_on.unwrap_or(DEFAULT_RETRY_ON).contains(&status),
    };
    if !retry {
        return Outcome::Fail(FailKind::Status(status));
    }
    Outcome::Retry(if status == 429 {
        RetryKind::RateLimited
    } else if status == 529 || error_type == Some("overloaded_error") {
        RetryKind::Overloaded
    } else {
        RetryKind::Status(status)
    })
}

/// The same response to the first attempt of a call: the engine acts on the outcome.
fn in_engine(
    status: u16,
    info: &llm_pacer::core::headers::RateLimitInfo,
    error: Option<&ErrorInfo>,
    retry_on: Option<Vec<u16>>,
    outcome: Outcome,
) {
    let mut config = Config::new();
    config.retry.retry_on = retry_on;
    if config.validate().is_err() {
        return;
    }
    let max_retry_after = config.retry.max_retry_after_ms;
    let mut e = Engine::new(config, NOW);
    let id = e.submit(NOW, Request::default()).expect("open");
    assert_eq!(e.poll(NOW), vec![Action::Send { id, attempt: 1 }]);
    let now = NOW + 100.0;
    let v = e.on_response(now, id, status, info, error, 0.5);
    match outcome {
        Outcome::Success | Outcome::Fail(_) => {
            assert_eq!(
                v,
                Verdict::Deliver,
                "{outcome:?} must be delivered, not retried"
            )
        }
        Outcome::Retry(_) => match v {
            Verdict::Retry { at_ms } => {
                // Absolute times: `now + wait` rounds (a hint of 1e-90 ms is no wait at all).
                if let Some(h) = info.retry_after_ms {
                    assert!(h <= max_retry_after, "retried past maxRetryAfterMs");
                    let most = h + (h / 10.0).min(1000.0);
                    assert!(
                        at_ms >= now + h && at_ms <= now + most,
                        "retry at now + {} for a hint of {h}",
                        at_ms - now
                    );
                } else {
                    let wait = at_ms - now;
                    assert!((0.0..=61_000.0).contains(&wait), "backoff {wait}");
                }
            }
            // A hint beyond maxRetryAfterMs: the response goes to the caller at once.
            Verdict::Deliver => assert!(
                info.retry_after_ms.is_some_and(|h| h > max_retry_after),
                "a retryable first attempt was not retried ({info:?})"
            ),
            other => panic!("{other:?} for {outcome:?}"),
        },
    }
    if outcome == Outcome::Success {
        e.on_done(now, id, None);
    }
    assert!(matches!(e.poll(now).as_slice(), [] | [Action::Send { .. }]));
}
