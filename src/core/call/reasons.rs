//! The reason strings of the events: why a call retries, fails or gives up.

use crate::core::classify::{FailKind, RetryKind};

/// Why a call stops retrying: the `give_up` event's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GiveUp {
    /// The pacer was closed (or the call's attempt was on the wire when it was).
    Closed,
    /// Its body can be sent only once.
    NotReplayable,
    /// `fetch` refuses the request itself (its URL or init).
    Invalid,
    /// `maxRetries` attempts made.
    MaxRetries,
    /// The retry budget is spent, and a probe ran out of retries since the last success.
    Budget,
    /// The server's hint is longer than `maxRetryAfterMs`.
    RetryAfterTooLong,
    /// The wait would pass the call's deadline.
    Timeout,
}

impl GiveUp {
    pub(super) fn name(self) -> &'static str {
        match self {
            GiveUp::Closed => "closed",
            GiveUp::NotReplayable => "not_replayable",
            GiveUp::Invalid => "invalid_request",
            GiveUp::MaxRetries => "max_retries",
            GiveUp::Budget => "budget",
            GiveUp::RetryAfterTooLong => "retry_after_too_long",
            GiveUp::Timeout => "timeout",
        }
    }
}

/// The reason string of a retry kind.
pub(super) fn retry_reason(kind: RetryKind) -> &'static str {
    match kind {
        RetryKind::RateLimited => "rate_limited",
        RetryKind::Overloaded => "overloaded",
        RetryKind::Network => "network",
        RetryKind::Status(s) => status_reason(s),
    }
}

pub(super) fn fail_reason(kind: FailKind) -> &'static str {
    match kind {
        FailKind::Status(s) => status_reason(s),
        FailKind::ServerSaidNo(_) => "should_retry_false",
        FailKind::SpendLimit => "spend_limit",
        FailKind::InsufficientQuota => "insufficient_quota",
        FailKind::TooLarge => "request_too_large",
        FailKind::Aborted => "aborted",
    }
}

pub(super) fn status_reason(s: u16) -> &'static str {
    const NAMED: &[(u16, &str)] = &[
        (400, "status_400"),
        (401, "status_401"),
        (403, "status_403"),
        (404, "status_404"),
        (408, "status_408"),
        (409, "status_409"),
        (413, "status_413"),
        (422, "status_422"),
        (429, "status_429"),
        (500, "status_500"),
        (502, "status_502"),
        (503, "status_503"),
        (504, "status_504"),
        (529, "status_529"),
    ];
    match NAMED.iter().find(|(code, _)| *code == s) {
        Some((_, name)) => name,
        None if (400..500).contains(&s) => "status_4xx",
        None if (500..600).contains(&s) => "status_5xx",
        None => "status_other",
    }
}
