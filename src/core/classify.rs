//! Response or error -> retry, fail, or success.
//!
//! Default retryable statuses: 408, 409, 429, 500, 502, 503, 504, 529, and network errors.
//! Never other 4xx, never an abort. `x-should-retry` overrides the status list. A 429 whose
//! error says the spend limit is reached (`enforced_spend_limit_reached`) or the quota is
//! used up (OpenAI `insufficient_quota`, Together `credit_limit`), or that the request is
//! larger than the limit itself (OpenAI's `Request too large`), is never retried: waiting
//! will not help.
//!
//! The rules of [`classify`], in the order they apply:
//!
//! 1. 1xx, 2xx and 3xx are [`Outcome::Success`], whatever the headers or body say.
//! 2. An error whose `code` names a spend limit (`enforced_spend_limit_reached`,
//!    `organization_spend_limit_exceeded`, ...) or a billing stop
//!    (`billing_hard_limit_reached`, `billing_not_active`), or that says so in words only
//!    (xAI, [`ErrorInfo::spent`]), fails with [`FailKind::SpendLimit`]; one whose `code` or
//!    `type` is `insufficient_quota` (OpenAI) or `credit_limit` (Together: `"Credit limit
//!    exceeded. ... add credit or upgrade your plan."`), or that names a per-day quota
//!    (Gemini `QuotaFailure`, Cerebras `Tokens per day limit exceeded`,
//!    [`ErrorInfo::daily_quota`]), fails with [`FailKind::InsufficientQuota`]; one whose
//!    message states a request larger than the limit itself ([`ErrorInfo::over_limit`])
//!    fails with [`FailKind::TooLarge`]. On any status, and even against
//!    `x-should-retry: true`: no wait can help.
//! 3. `x-should-retry: true` retries and `x-should-retry: false` fails
//!    ([`FailKind::ServerSaidNo`]), whatever the status list says.
//! 4. A status in `retry_on` (or [`DEFAULT_RETRY_ON`] when it is not given; an empty list
//!    retries nothing) is retried; any other fails with [`FailKind::Status`].
//!
//! The kind of a retry: 429 is [`RetryKind::RateLimited`]; 529 or an `overloaded_error` is
//! [`RetryKind::Overloaded`]; anything else is [`RetryKind::Status`].
//!
//! ```
//! use llm_pacer::core::classify::*;
//!
//! assert_eq!(classify(200, None, None, None), Outcome::Success);
//! assert_eq!(classify(429, None, None, None), Outcome::Retry(RetryKind::RateLimited));
//! assert_eq!(classify(400, None, None, None), Outcome::Fail(FailKind::Status(400)));
//! assert_eq!(
//!     classify(400, Some(true), None, None),
//!     Outcome::Retry(RetryKind::Status(400))
//! );
//!
//! // OpenAI: out of credits. Waiting will not help.
//! let quota = ErrorInfo {
//!     error_type: Some("insufficient_quota".into()),
//!     code: Some("insufficient_quota".into()),
//!     ..ErrorInfo::default()
//! };
//! assert_eq!(
//!     classify(429, Some(true), Some(&quota), None),
//!     Outcome::Fail(FailKind::InsufficientQuota)
//! );
//! ```

/// The statuses retried when `retryOn` is not given.
pub const DEFAULT_RETRY_ON: &[u16] = &[408, 409, 429, 500, 502, 503, 504, 529];

/// The parts of an error body that decide a retry, extracted by the driver from the JSON
/// (Anthropic `{"type":"error","error":{"type":..,"details":{"error_code":..}}}`, OpenAI
/// `{"error":{"type":..,"code":..}}`; with no `error` object, the document itself: Cerebras
/// and Mistral `{"message":..,"type":..,"code":..}`, xAI `{"code":..,"error":"<message>"}`,
/// TGI `{"error":"<message>","error_type":..}`). Everything is optional: a missing body is
/// fine.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ErrorInfo {
    /// `error.type`: `rate_limit_error`, `overloaded_error`, `insufficient_quota`, ...
    pub error_type: Option<String>,
    /// `error.code` (OpenAI: `rate_limit_exceeded`, `insufficient_quota`) or
    /// `error.details.error_code` (Anthropic: `enforced_spend_limit_reached`).
    pub code: Option<String>,
    /// The wait the body states, ms ([`hints::body_hint`](super::hints::body_hint): Gemini
    /// `RetryInfo.retryDelay`, else OpenAI's "try again in ..."); used only when no header
    /// gives one ([`hints::retry_hint`](super::hints::retry_hint)).
    pub hint_ms: Option<super::Ms>,
    /// A Gemini `QuotaFailure` names a quota counted per day
    /// ([`hints::is_per_day_quota`](super::hints::is_per_day_quota)), or a Cerebras quota
    /// error's message does ([`hints::names_daily_limit`](super::hints::names_daily_limit)),
    /// or a 429's headers show a month's or day's quota spent (set by the driver:
    /// [`RateLimitInfo::quota_error`]): fails like `insufficient_quota`.
    ///
    /// [`RateLimitInfo::quota_error`]: super::headers::RateLimitInfo::quota_error
    pub daily_quota: bool,
    /// The message states a request larger than the limit itself (`Limit 30000, Requested
    /// 36278`: OpenAI's and Groq's `Request too large`;
    /// [`hints::exceeds_limit`](super::hints::exceeds_limit)).
    pub over_limit: bool,
    /// An error given as a string says the credits are used up or the spending limit reached
    /// (xAI, whose `code` does not tell it from a passing overload;
    /// [`hints::states_spent`](super::hints::states_spent)): fails like a spend limit.
    pub spent: bool,
}

/// Why a call should be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryKind {
    /// 429: over a rate limit.
    RateLimited,
    /// 529 (or `overloaded_error`): the provider is busy.
    Overloaded,
    /// 408, 409, 5xx, or a status named in `retryOn`, or `x-should-retry: true`.
    Status(u16),
    /// No response: connection reset, DNS failure, ...
    Network,
}

/// Why a call must not be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailKind {
    /// A status that is not retryable (most 4xx).
    Status(u16),
    /// `x-should-retry: false`.
    ServerSaidNo(u16),
    /// The error says `enforced_spend_limit_reached` (Anthropic; sent with a 429), or
    /// another spend limit or billing stop.
    SpendLimit,
    /// The error says `insufficient_quota` (OpenAI; sent with a 429), `credit_limit`
    /// (Together), or names a per-day quota (Gemini, Cerebras).
    InsufficientQuota,
    /// The error says the request is larger than the limit itself (OpenAI, Groq: a 429
    /// `Request too large ... Limit N, Requested M`).
    TooLarge,
    /// The caller aborted.
    Aborted,
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx / 3xx: done.
    Success,
    /// Try again (if the retry count, budget and deadline allow).
    Retry(RetryKind),
    /// Give the response (or error) to the caller as it is.
    Fail(FailKind),
}

/// An error `code` that says the account may spend no more (until someone changes its
/// settings or its billing): Anthropic's `enforced_spend_limit_reached`, any other code that
/// names a spend limit (OpenAI's per-organisation and per-project ones), and OpenAI's
/// `billing_hard_limit_reached` and `billing_not_active`.
fn is_spend_limit(code: &str) -> bool {
    // (A window search: `str::contains` would link the two-way searcher into the module.)
    let spend = b"spend_limit";
    code.as_bytes().windows(spend.len()).any(|w| w == spend)
        || code == "billing_hard_limit_reached"
        || code == "billing_not_active"
}

/// Classify a response.
///
/// * `should_retry`: the parsed `x-should-retry` header;
/// * `error`: what the error body said, if the driver read it;
/// * `retry_on`: replaces [`DEFAULT_RETRY_ON`] when given.
///
/// The rules and their order are in the [module documentation](self).
pub fn classify(
    status: u16,
    should_retry: Option<bool>,
    error: Option<&ErrorInfo>,
    retry_on: Option<&[u16]>,
) -> Outcome {
    if (100..400).contains(&status) {
        return Outcome::Success;
    }
    let is = |field: Option<&String>, value: &str| field.is_some_and(|f| f == value);
    if let Some(e) = error {
        if e.spent || e.code.as_deref().is_some_and(is_spend_limit) {
            return Outcome::Fail(FailKind::SpendLimit);
        }
        let spent_quota = |f: Option<&String>| is(f, "insufficient_quota") || is(f, "credit_limit");
        if spent_quota(e.code.as_ref()) || spent_quota(e.error_type.as_ref()) || e.daily_quota {
            return Outcome::Fail(FailKind::InsufficientQuota);
        }
        if e.over_limit {
            return Outcome::Fail(FailKind::TooLarge);
        }
    }
    if would_retry(status, should_retry, retry_on) {
        let overloaded = error.is_some_and(|e| is(e.error_type.as_ref(), "overloaded_error"));
        Outcome::Retry(match status {
            429 => RetryKind::RateLimited,
            529 => RetryKind::Overloaded,
            _ if overloaded => RetryKind::Overloaded,
            s => RetryKind::Status(s),
        })
    } else if should_retry == Some(false) {
        Outcome::Fail(FailKind::ServerSaidNo(status))
    } else {
        Outcome::Fail(FailKind::Status(status))
    }
}

/// Retried unless the error body says otherwise: what `x-should-retry` says, else whether the
/// status is in the list.
fn would_retry(status: u16, should_retry: Option<bool>, retry_on: Option<&[u16]>) -> bool {
    match should_retry {
        Some(said) => said,
        None => retry_on.unwrap_or(DEFAULT_RETRY_ON).contains(&status),
    }
}

/// Whether [`classify`]'s decision on a response may depend on its error body, so that a
/// driver reads the body (from a clone, within bounds) exactly when the rules need it: for an
/// error status that would be retried, the body may say the quota is gone (then it is not),
/// that the server is overloaded, or how long to wait. Any other response is delivered as it
/// is, and its body could change only the reason given.
///
/// ```
/// use llm_pacer::core::classify::needs_error_body;
///
/// assert!(needs_error_body(429, None, None));
/// assert!(needs_error_body(503, None, None));
/// assert!(needs_error_body(400, Some(true), None)); // `x-should-retry: true`
/// assert!(!needs_error_body(503, Some(false), None));
/// assert!(!needs_error_body(404, None, None));
/// assert!(!needs_error_body(200, None, None));
/// ```
pub fn needs_error_body(status: u16, should_retry: Option<bool>, retry_on: Option<&[u16]>) -> bool {
    !(100..400).contains(&status) && would_retry(status, should_retry, retry_on)
}

/// Classify a failure with no response: network errors are retried, aborts never.
pub fn classify_error(aborted: bool) -> Outcome {
    if aborted {
        Outcome::Fail(FailKind::Aborted)
    } else {
        Outcome::Retry(RetryKind::Network)
    }
}

/// The HTTP status an error event at the head of a `200` event stream stands for, so that
/// [`classify`] can decide on it as on that status; `None` when the event is no error (the
/// stream is healthy and goes to the caller).
///
/// * `event` is the SSE event type (`message` when none was given; `error` for a line
///   `error: {...}` too, as llama.cpp sends it: [`peek`](super::peek)); `error` is the error
///   the event carries, as the driver read it ([`ErrorInfo`]): the data's `error` object
///   (OpenAI's error chunk `data: {"error": {...}}`); else the data itself when its `error` is
///   a string (TGI: `{"error":"Model is overloaded","error_type":"overloaded"}`), when its
///   `object` is `error` (vLLM before its errors moved under `error`:
///   `{"object":"error","message":..,"type":"ServiceUnavailableError","code":503}`) or when
///   the event is `error`; for an OpenAI Responses `response.failed`, its `response.error`.
///   `None` when the data carries none (or is not JSON).
/// * The event is an error when its type is `error` (Anthropic: `event: error`) or
///   `response.failed` (OpenAI Responses, after `response.created` and
///   `response.in_progress`, which only open the stream), or it carries an error.
/// * Its status, from `error.type` or else `error.code`: `overloaded_error` 529;
///   `rate_limit_error`, `rate_limit_exceeded`, `insufficient_quota` (which [`classify`]
///   then fails), `requests`, `tokens` 429; `api_error`, `server_error`, `internal_error`
///   500; `service_unavailable` 503; `timeout_error` 504; `authentication_error` 401,
///   `permission_error` 403, `not_found_error` 404, `request_too_large` 413,
///   `billing_error` 402; any name starting with `invalid_` 400 (`invalid_request_error`,
///   OpenAI Responses' `invalid_prompt`, `invalid_image`, ...); TGI's `error_type`s as TGI
///   answers them without a stream: `overloaded` 429 (its concurrency limit), `validation`,
///   `template_error`, `tool_error` 422, `generation` 424, `incomplete_generation` 500. Else
///   `code`, the error's `code` when it is a number (vLLM, llama.cpp and OpenRouter send the
///   HTTP status), if a whole number from 400 to 599. Any other error (no type, an unknown
///   one, such as Groq's `internal_server_error`) is a server error, 500.
/// * A numeric `code` that asks to slow down (429, 503, 529) wins over a name that stands for
///   the generic 500 (`{"type":"server_error","code":503}` is congestion, not a failure).
///
/// Only the *first* event of a stream is ever classified: once a content event has reached
/// the caller the call is never retried, and a later error event reaches it as is.
///
/// ```
/// use llm_pacer::core::classify::*;
///
/// let overloaded = ErrorInfo { error_type: Some("overloaded_error".into()), ..ErrorInfo::default() };
/// assert_eq!(stream_error_status("error", Some(&overloaded), None), Some(529));
/// assert_eq!(stream_error_status("message_start", None, None), None);
/// let openai = ErrorInfo { error_type: Some("server_error".into()), ..ErrorInfo::default() };
/// assert_eq!(stream_error_status("message", Some(&openai), None), Some(500));
/// let vllm = ErrorInfo { error_type: Some("BadRequestError".into()), ..ErrorInfo::default() };
/// assert_eq!(stream_error_status("message", Some(&vllm), Some(400.0)), Some(400));
/// let tgi = ErrorInfo { error_type: Some("overloaded".into()), ..ErrorInfo::default() };
/// assert_eq!(stream_error_status("message", Some(&tgi), None), Some(429));
/// assert_eq!(stream_error_status("response.failed", None, None), Some(500));
/// ```
pub fn stream_error_status(
    event: &str,
    error: Option<&ErrorInfo>,
    code: Option<f64>,
) -> Option<u16> {
    if event != "error" && event != "response.failed" && error.is_none() {
        return None;
    }
    let status_of = |name: &str| -> Option<u16> {
        Some(match name {
            "overloaded_error" => 529,
            "rate_limit_error"
            | "rate_limit_exceeded"
            | "insufficient_quota"
            | "requests"
            | "tokens"
            | "overloaded" => 429,
            "api_error" | "server_error" | "internal_error" | "incomplete_generation" => 500,
            "service_unavailable" => 503,
            "timeout_error" => 504,
            "authentication_error" => 401,
            "permission_error" => 403,
            "not_found_error" => 404,
            "request_too_large" => 413,
            "billing_error" => 402,
            "validation" | "template_error" | "tool_error" => 422,
            "generation" => 424,
            n if n.starts_with("invalid_") => 400,
            _ => return None,
        })
    };
    let Some(e) = error else {
        return Some(500);
    };
    let named = e
        .error_type
        .as_deref()
        .and_then(status_of)
        .or_else(|| e.code.as_deref().and_then(status_of));
    let numeric = code
        .filter(|c| c.fract() == 0.0 && (400.0..600.0).contains(c))
        .map(|c| c as u16);
    Some(match (named, numeric) {
        // A server that says "slow down" by number under a generic server error: the number
        // is the more precise (`concurrency: "auto"` backs off on congestion, not a failure).
        (Some(500), Some(n @ (429 | 503 | 529))) | (None, Some(n)) => n,
        (Some(s), _) => s,
        (None, None) => 500,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(error_type: Option<&str>, code: Option<&str>) -> ErrorInfo {
        ErrorInfo {
            error_type: error_type.map(String::from),
            code: code.map(String::from),
            ..ErrorInfo::default()
        }
    }

    fn c(status: u16) -> Outcome {
        classify(status, None, None, None)
    }

    #[test]
    fn informational_success_and_redirects_are_success() {
        for s in [100, 101, 200, 201, 204, 206, 299, 301, 304, 307, 399] {
            assert_eq!(c(s), Outcome::Success, "{s}");
            // Even when the headers or a body say otherwise.
            assert_eq!(classify(s, Some(true), None, None), Outcome::Success, "{s}");
            assert_eq!(
                classify(s, Some(false), None, None),
                Outcome::Success,
                "{s}"
            );
            let spend = err(None, Some("enforced_spend_limit_reached"));
            assert_eq!(classify(s, None, Some(&spend), Some(&[])), Outcome::Success);
        }
    }

    #[test]
    fn default_retry_list() {
        assert_eq!(c(429), Outcome::Retry(RetryKind::RateLimited));
        assert_eq!(c(529), Outcome::Retry(RetryKind::Overloaded));
        for s in [408, 409, 500, 502, 503, 504] {
            assert_eq!(c(s), Outcome::Retry(RetryKind::Status(s)), "{s}");
        }
        for s in [
            400, 401, 402, 403, 404, 405, 410, 413, 422, 451, 499, 501, 505, 599, 0, 600,
        ] {
            assert_eq!(c(s), Outcome::Fail(FailKind::Status(s)), "{s}");
        }
    }

    #[test]
    fn anthropic_error_bodies() {
        let rate = err(Some("rate_limit_error"), None);
        assert_eq!(
            classify(429, None, Some(&rate), None),
            Outcome::Retry(RetryKind::RateLimited)
        );
        let overloaded = err(Some("overloaded_error"), None);
        assert_eq!(
            classify(529, None, Some(&overloaded), None),
            Outcome::Retry(RetryKind::Overloaded)
        );
        // An overloaded_error under another retryable status is still "overloaded".
        assert_eq!(
            classify(503, None, Some(&overloaded), None),
            Outcome::Retry(RetryKind::Overloaded)
        );
        // ... but it does not make a non-retryable status retryable.
        assert_eq!(
            classify(400, None, Some(&overloaded), None),
            Outcome::Fail(FailKind::Status(400))
        );
        let invalid = err(Some("invalid_request_error"), None);
        assert_eq!(
            classify(400, None, Some(&invalid), None),
            Outcome::Fail(FailKind::Status(400))
        );
    }

    #[test]
    fn spend_limit_and_insufficient_quota_are_never_retried() {
        let spend = err(
            Some("rate_limit_error"),
            Some("enforced_spend_limit_reached"),
        );
        let quota_code = err(Some("insufficient_quota"), Some("insufficient_quota"));
        let quota_type = err(Some("insufficient_quota"), None);
        let quota_code_only = err(Some("requests"), Some("insufficient_quota"));
        for s in [429, 400, 403, 500, 529, 600] {
            for should_retry in [None, Some(true), Some(false)] {
                for retry_on in [None, Some(&[s][..])] {
                    assert_eq!(
                        classify(s, should_retry, Some(&spend), retry_on),
                        Outcome::Fail(FailKind::SpendLimit)
                    );
                    for q in [&quota_code, &quota_type, &quota_code_only] {
                        assert_eq!(
                            classify(s, should_retry, Some(q), retry_on),
                            Outcome::Fail(FailKind::InsufficientQuota)
                        );
                    }
                }
            }
        }
        // OpenAI's retryable 429 is not confused with it.
        let rate = err(Some("requests"), Some("rate_limit_exceeded"));
        assert_eq!(
            classify(429, None, Some(&rate), None),
            Outcome::Retry(RetryKind::RateLimited)
        );
        // OpenAI's spend limits and billing stops are spend limits too.
        for code in [
            "organization_spend_limit_exceeded",
            "project_spend_limit_exceeded",
            "billing_hard_limit_reached",
            "billing_not_active",
        ] {
            let e = err(Some("invalid_request_error"), Some(code));
            assert_eq!(
                classify(429, None, Some(&e), None),
                Outcome::Fail(FailKind::SpendLimit),
                "{code}"
            );
        }
        // Only the exact words count (in their case).
        let near = err(Some("Insufficient_Quota"), Some("Spend_Limit"));
        assert_eq!(
            classify(429, None, Some(&near), None),
            Outcome::Retry(RetryKind::RateLimited)
        );
    }

    #[test]
    fn credits_used_up_and_spend_limits_said_in_words_are_never_retried() {
        // Together: `credit_limit` as its type and code (either alone counts).
        for e in [
            err(Some("credit_limit"), Some("credit_limit")),
            err(Some("credit_limit"), None),
            err(None, Some("credit_limit")),
        ] {
            for should_retry in [None, Some(true)] {
                assert_eq!(
                    classify(429, should_retry, Some(&e), None),
                    Outcome::Fail(FailKind::InsufficientQuota),
                    "{e:?}"
                );
            }
        }
        // xAI: a spend limit in words, with the code its passing overload sends too.
        let spent = ErrorInfo {
            code: Some("Some resource has been exhausted".into()),
            spent: true,
            ..ErrorInfo::default()
        };
        assert_eq!(
            classify(429, Some(true), Some(&spent), None),
            Outcome::Fail(FailKind::SpendLimit)
        );
        let capacity = ErrorInfo {
            spent: false,
            ..spent
        };
        assert_eq!(
            classify(429, None, Some(&capacity), None),
            Outcome::Retry(RetryKind::RateLimited)
        );
        // Cerebras: a per-day quota (the driver reads it from the message) fails, the same
        // code per minute waits.
        let day = ErrorInfo {
            error_type: Some("too_many_tokens_error".into()),
            code: Some("token_quota_exceeded".into()),
            daily_quota: true,
            ..ErrorInfo::default()
        };
        assert_eq!(
            classify(429, None, Some(&day), None),
            Outcome::Fail(FailKind::InsufficientQuota)
        );
        let minute = ErrorInfo {
            daily_quota: false,
            ..day
        };
        assert_eq!(
            classify(429, None, Some(&minute), None),
            Outcome::Retry(RetryKind::RateLimited)
        );
        // Only the exact word.
        let near = err(Some("credit_limit_warning"), Some("Credit_Limit"));
        assert_eq!(
            classify(429, None, Some(&near), None),
            Outcome::Retry(RetryKind::RateLimited)
        );
    }

    #[test]
    fn the_error_shapes_of_other_servers_stand_for_their_status_in_a_stream() {
        let t = |name: &str| err(Some(name), None);
        // TGI, as it answers without a stream.
        for (name, status) in [
            ("overloaded", 429),
            ("validation", 422),
            ("template_error", 422),
            ("tool_error", 422),
            ("generation", 424),
            ("incomplete_generation", 500),
        ] {
            assert_eq!(
                stream_error_status("message", Some(&t(name)), None),
                Some(status),
                "{name}"
            );
        }
        assert_eq!(
            classify(429, None, Some(&t("overloaded")), None),
            Outcome::Retry(RetryKind::RateLimited)
        );
        // OpenAI Responses' `response.failed`: its `response.error.code`; none, a server error.
        for (code, status) in [
            ("server_error", 500),
            ("rate_limit_exceeded", 429),
            ("invalid_prompt", 400),
            ("invalid_image", 400),
            ("vector_store_timeout", 500),
        ] {
            let e = err(None, Some(code));
            assert_eq!(
                stream_error_status("response.failed", Some(&e), None),
                Some(status),
                "{code}"
            );
        }
        assert_eq!(
            stream_error_status("response.failed", None, None),
            Some(500)
        );
        // llama.cpp (`error:` line) and older vLLM: the numeric code under an unknown type.
        for name in ["unavailable_error", "ServiceUnavailableError"] {
            assert_eq!(
                stream_error_status("error", Some(&t(name)), Some(503.0)),
                Some(503)
            );
        }
        // Groq's `internal_server_error`: a server error, retried.
        assert_eq!(
            stream_error_status("message", Some(&t("internal_server_error")), None),
            Some(500)
        );
        // Other events with no error stay healthy.
        for event in [
            "response.completed",
            "response.output_text.delta",
            "message",
        ] {
            assert_eq!(
                stream_error_status(event, None, Some(503.0)),
                None,
                "{event}"
            );
        }
    }

    #[test]
    fn a_numeric_slow_down_code_is_more_precise_than_a_generic_server_error() {
        let t = |name: &str| err(Some(name), None);
        // `{"type":"server_error","code":503}`: congestion, not a failure.
        for name in ["server_error", "api_error", "internal_error"] {
            for code in [429, 503, 529] {
                assert_eq!(
                    stream_error_status("message", Some(&t(name)), Some(f64::from(code))),
                    Some(code),
                    "{name} {code}"
                );
            }
            // Any other code leaves the generic type's 500.
            for code in [400.0, 500.0, 502.0, 504.0] {
                assert_eq!(
                    stream_error_status("message", Some(&t(name)), Some(code)),
                    Some(500),
                    "{name} {code}"
                );
            }
        }
        // The same named as a string code (OpenAI Responses' `response.failed`).
        assert_eq!(
            stream_error_status(
                "response.failed",
                Some(&err(None, Some("server_error"))),
                Some(503.0)
            ),
            Some(503)
        );
        // A type more precise than "server error" still wins.
        assert_eq!(
            stream_error_status("error", Some(&t("overloaded_error")), Some(503.0)),
            Some(529)
        );
        assert_eq!(
            stream_error_status("error", Some(&t("rate_limit_error")), Some(503.0)),
            Some(429)
        );
        assert_eq!(
            stream_error_status("error", Some(&t("invalid_request_error")), Some(503.0)),
            Some(400)
        );
    }

    #[test]
    fn should_retry_overrides_the_status_list() {
        assert_eq!(
            classify(400, Some(true), None, None),
            Outcome::Retry(RetryKind::Status(400))
        );
        assert_eq!(
            classify(429, Some(true), None, Some(&[])),
            Outcome::Retry(RetryKind::RateLimited)
        );
        assert_eq!(
            classify(529, Some(true), None, Some(&[])),
            Outcome::Retry(RetryKind::Overloaded)
        );
        for s in [408, 409, 429, 500, 503, 529] {
            assert_eq!(
                classify(s, Some(false), None, None),
                Outcome::Fail(FailKind::ServerSaidNo(s))
            );
        }
        assert_eq!(
            classify(404, Some(false), None, None),
            Outcome::Fail(FailKind::ServerSaidNo(404))
        );
    }

    #[test]
    fn retry_on_replaces_the_default_list() {
        let only_503: &[u16] = &[503];
        assert_eq!(
            classify(503, None, None, Some(only_503)),
            Outcome::Retry(RetryKind::Status(503))
        );
        assert_eq!(
            classify(429, None, None, Some(only_503)),
            Outcome::Fail(FailKind::Status(429))
        );
        assert_eq!(
            classify(500, None, None, Some(only_503)),
            Outcome::Fail(FailKind::Status(500))
        );
        let with_404: &[u16] = &[404, 429];
        assert_eq!(
            classify(404, None, None, Some(with_404)),
            Outcome::Retry(RetryKind::Status(404))
        );
        assert_eq!(
            classify(429, None, None, Some(with_404)),
            Outcome::Retry(RetryKind::RateLimited)
        );
        for s in DEFAULT_RETRY_ON {
            assert_eq!(
                classify(*s, None, None, Some(&[])),
                Outcome::Fail(FailKind::Status(*s))
            );
        }
        // A success is a success even if listed.
        assert_eq!(classify(200, None, None, Some(&[200])), Outcome::Success);
    }

    #[test]
    fn network_errors_and_aborts() {
        assert_eq!(classify_error(false), Outcome::Retry(RetryKind::Network));
        assert_eq!(classify_error(true), Outcome::Fail(FailKind::Aborted));
    }
}
