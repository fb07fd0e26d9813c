//! What goes into the engine and what comes out of it: the request a driver describes, the
//! actions and verdicts it carries out, the errors a call may end with, the events and the
//! counters.

use super::Id;
use crate::core::estimate::Prefix;
use crate::core::keys::{LimitKey, Slot};
use crate::core::limiter::{Dim, Usage};
use crate::core::Ms;

/// What the driver knows about a request before sending it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Request {
    /// Estimated input tokens that count against ITPM.
    pub input_tokens: f64,
    /// The input tokens it surely costs: `input_tokens` when they are the caller's own count
    /// (its `estimate` option), 0 for the built-in estimate, which errs high. Only this much
    /// input can make the call [`CallError::TooLarge`]
    /// ([`crate::core::limiter::Limiter::fit`]).
    pub input_floor: f64,
    /// Its input estimate prices a part of unknown size at a fixed amount (a document): a 429
    /// whose headers show room for all it reserved then raises it ([`Engine::on_response`]).
    ///
    /// [`Engine::on_response`]: super::Engine::on_response
    pub fixed_priced: bool,
    /// OpenAI's `n`: how many choices the server generates, each up to `max_tokens` (0 or 1:
    /// one). The output reservation is `max_tokens` for each.
    pub choices: f64,
    /// The request's `max_tokens` / `max_completion_tokens`, if any: the output reservation
    /// under the default `outputReservation: "max_tokens"`.
    pub max_tokens: Option<f64>,
    /// Higher goes first. Default 0.
    pub priority: i32,
    /// The limits it draws on: its organisation and model class ([`crate::core::keys`]).
    /// Headers, usage and a 429's pause of this call apply to this key only.
    pub key: LimitKey,
    /// The prompt's prefixes the server may read from its prompt cache (from the estimate,
    /// [`crate::core::estimate::prefix`]): `input_tokens` less the longest one this key's
    /// responses reported cached is reserved ([`crate::core::prompt_cache`]).
    pub prefixes: Vec<Prefix>,
}

/// Why a call was rejected without a response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CallError {
    /// The request can never fit a limit: what it surely costs in `dim` (its output, its
    /// caller-counted input) exceeds the `capacity`.
    TooLarge {
        /// The dimension.
        dim: Dim,
        /// The request's cost there.
        cost: f64,
        /// The limit.
        capacity: f64,
        /// The limit's window, ms (60,000 for a limit per minute; a gateway's may be a
        /// second or a day).
        window_ms: Ms,
    },
    /// The server asked everyone to wait longer than `maxRetryAfterMs`.
    RetryAfterTooLong {
        /// How long the server asked for, ms from now.
        hint_ms: Ms,
    },
    /// `timeoutMs` passed before any response arrived.
    Timeout,
    /// The server asked every call of the key to wait `hint_ms` (within `maxRetryAfterMs`),
    /// past this waiting call's `timeoutMs` deadline: it cannot be answered in time, and fails
    /// now rather than at the deadline. Its code is `TIMEOUT` too.
    WaitPastDeadline {
        /// How long the server asked for, ms from now.
        hint_ms: Ms,
    },
    /// The pacer was closed.
    Closed,
    /// The last attempt failed at the network level and no retry is left.
    Network,
}

impl CallError {
    /// The public error code: `REQUEST_TOO_LARGE`, `RETRY_AFTER_TOO_LONG`, `TIMEOUT`, `CLOSED`,
    /// `NETWORK`.
    pub fn code(&self) -> &'static str {
        match self {
            CallError::TooLarge { .. } => "REQUEST_TOO_LARGE",
            CallError::RetryAfterTooLong { .. } => "RETRY_AFTER_TOO_LONG",
            CallError::Timeout | CallError::WaitPastDeadline { .. } => "TIMEOUT",
            CallError::Closed => "CLOSED",
            CallError::Network => "NETWORK",
        }
    }
}

/// What the driver must do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Send attempt `attempt` (1-based) of call `id` now. If the driver holds an earlier
    /// response of this call, it keeps it until this attempt's answer: a response replaces it
    /// (its body cancelled), a network error drops it, and a deadline that ends the attempt
    /// first delivers it ([`Action::Deliver`]).
    Send {
        /// The call.
        id: Id,
        /// 1 for the first attempt.
        attempt: u32,
    },
    /// Give the caller the last response the driver holds for `id`. After a 2xx the driver
    /// reports the body's usage with [`Engine::on_done`](super::Engine::on_done). If a later
    /// attempt is on the wire (a deadline came during it), the driver aborts that attempt.
    Deliver {
        /// The call.
        id: Id,
    },
    /// A shared store is configured ([`Engine::set_store`](super::Engine::set_store)): ask it to reserve this call's
    /// cost for its key, then report the answer with [`Engine::on_reserved`](super::Engine::on_reserved) (which gives the
    /// [`Action::Send`]). The call was admitted locally and holds its reservation meanwhile.
    Reserve {
        /// The call.
        id: Id,
        /// Its limit key ([`Engine::key_of`](super::Engine::key_of), [`Engine::store_limits`](super::Engine::store_limits)).
        slot: Slot,
        /// Input tokens to reserve.
        input: f64,
        /// Output tokens to reserve.
        output: f64,
        /// The output a turn books, if the store says wait (at most `output`): what the key's
        /// requests are expected to use, not the `max_tokens` they hold while in flight
        /// ([`KeyState::reserve_booking`]); with `turn`, what the turn booked.
        ///
        /// [`KeyState::reserve_booking`]: crate::core::store::KeyState::reserve_booking
        booked_output: f64,
        /// The store gave this process a turn for the key and it has come: the reservation is
        /// measured against the store's buckets alone, not behind the queue
        /// ([`crate::core::store`]).
        turn: bool,
        /// How long to wait for the store's answer before reporting it unavailable (the call
        /// then goes on its local admission): [`STORE_TIMEOUT_MS`], or half the time left
        /// before the call's deadline if that is shorter, so that a slow store leaves it the
        /// rest to be sent in.
        ///
        /// [`STORE_TIMEOUT_MS`]: crate::core::store::STORE_TIMEOUT_MS
        timeout_ms: Ms,
    },
    /// A shared store that was unavailable may be back, and calls wait on the local limiter:
    /// ask it something that changes nothing (a `settle` of nothing on this key), at most one
    /// at a time, then report whether it answered in time with [`Engine::on_probed`](super::Engine::on_probed).
    ProbeStore {
        /// A limit key with calls waiting.
        slot: Slot,
    },
    /// Reject the call; abort its attempt on the wire, if any.
    Fail {
        /// The call.
        id: Id,
        /// Why.
        error: CallError,
    },
}

/// The engine's answer to a response or a network error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Give this response to the caller (success, a final error, or out of retries).
    Deliver,
    /// Keep the response (it is delivered if a deadline or `close` comes first); the engine
    /// will send attempt n+1 through a later [`Action::Send`], not before `at_ms`.
    Retry {
        /// The earliest time of the next attempt: infinite for a call held by a spent retry
        /// budget, which goes when its probe lets it (or gets this response back then).
        at_ms: Ms,
    },
    /// Reject the call.
    Fail(CallError),
    /// The call is not known (already aborted, failed or closed): drop the response.
    Unknown,
}

/// What happened, for `onEvent`. Never carries a header value, URL or body.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    /// Which.
    pub kind: EventKind,
    /// The call.
    pub id: Id,
    /// Attempt number (0 before the first send).
    pub attempt: u32,
    /// A short machine-readable reason: `rate_limited`, `overloaded`, `status_503`,
    /// `network`, `paused`, `requests`, `inputTokens`, `budget`, `max_retries`, ...
    pub reason: &'static str,
    /// The wait this event announces, ms (0 if none).
    pub delay_ms: Ms,
    /// When, epoch ms.
    pub at_ms: Ms,
    /// The status of the attempt's response, once one arrived (0: none).
    pub status: u16,
    /// From sending the attempt to its response's head, ms, once one arrived.
    pub latency_ms: Option<Ms>,
    /// The usage settled (`settled` events with reason `usage` or `estimated`).
    pub usage: Option<Usage>,
    /// The call's limit key ([`Engine::key_of`](super::Engine::key_of)), when the event is a call's.
    pub slot: Option<Slot>,
}

/// Event kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Submitted and queued.
    Queued,
    /// Admitted: about to be sent.
    Admitted,
    /// Held in the queue by a limit or a pause.
    Wait,
    /// A retry is scheduled.
    Retry,
    /// No more retries: the last response or error goes to the caller.
    GiveUp,
    /// Limits were learned or changed from headers.
    Limits,
    /// Usage was reconciled.
    Settled,
    /// Advice on the set-up (emitted by the drivers, at most once per reason).
    Warning,
}

impl EventKind {
    /// The JS spelling.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Queued => "queued",
            EventKind::Admitted => "admitted",
            EventKind::Wait => "wait",
            EventKind::Retry => "retry",
            EventKind::GiveUp => "giveup",
            EventKind::Limits => "limits",
            EventKind::Settled => "settled",
            EventKind::Warning => "warning",
        }
    }
}

/// Counters; all finite and non-negative.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Stats {
    /// Calls submitted.
    pub requests: u64,
    /// Attempts sent.
    pub attempts: u64,
    /// Retries scheduled.
    pub retries: u64,
    /// 429s seen.
    pub rate_limited: u64,
    /// 529s seen.
    pub overloaded: u64,
    /// Other 5xx seen (529s count as `overloaded`).
    pub server_errors: u64,
    /// Network errors seen.
    pub network_errors: u64,
    /// Input tokens reserved at admission, in all.
    pub input_tokens_reserved: f64,
    /// Output tokens reserved at admission, in all.
    pub output_tokens_reserved: f64,
    /// Input tokens reported used (metered: input + cache creation).
    pub input_tokens_used: f64,
    /// Output tokens reported used.
    pub output_tokens_used: f64,
    /// Time calls spent waiting (queue and backoff), ms, in all.
    pub wait_ms: Ms,
    /// Queued now (including calls waiting out a backoff, or held by a spent retry budget).
    pub queued: u64,
    /// In flight now.
    pub in_flight: u64,
}
