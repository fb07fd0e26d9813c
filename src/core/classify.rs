//! Response or error -> retry, fail, or success.
//!
//! Default retryable statuses: 408, 409, 429, 500, 502, 503, 504, 529, and network errors.
//! Never other 4xx, never an abort. `x-should-retry` overrides the status list. A 429 whose
//! error says the spend limit is reached (`enforced_spend_limit_reached`) or the quota is
//! used up (OpenAI `insufficient_quota`) is never retried: waiting will not help.

/// The statuses retried when `retryOn` is not given.
pub const DEFAULT_RETRY_ON: &[u16] = &[408, 409, 429, 500, 502, 503, 504, 529];

/// The parts of an error body that decide a retry, extracted by the driver from the JSON
/// (Anthropic `{"type":"error","error":{"type":..,"details":{"error_code":..}}}`, OpenAI
/// `{"error":{"type":..,"code":..}}`). Everything is optional: a missing body is fine.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorInfo {
    /// `error.type`: `rate_limit_error`, `overloaded_error`, `insufficient_quota`, ...
    pub error_type: Option<String>,
    /// `error.code` (OpenAI: `rate_limit_exceeded`, `insufficient_quota`) or
    /// `error.details.error_code` (Anthropic: `enforced_spend_limit_reached`).
    pub code: Option<String>,
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
    /// 429 with `enforced_spend_limit_reached`.
    SpendLimit,
    /// 429 with `insufficient_quota`.
    InsufficientQuota,
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

/// Classify a response.
///
/// * `should_retry`: the parsed `x-should-retry` header;
/// * `error`: what the error body said, if the driver read it;
/// * `retry_on`: replaces [`DEFAULT_RETRY_ON`] when given.
pub fn classify(
    status: u16,
    should_retry: Option<bool>,
    error: Option<&ErrorInfo>,
    retry_on: Option<&[u16]>,
) -> Outcome {
    let _ = (status, should_retry, error, retry_on);
    todo!("classify::classify")
}

/// Classify a failure with no response: network errors are retried, aborts never.
pub fn classify_error(aborted: bool) -> Outcome {
    if aborted {
        Outcome::Fail(FailKind::Aborted)
    } else {
        Outcome::Retry(RetryKind::Network)
    }
}
