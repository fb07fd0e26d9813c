//! The life of every call, as one sans-IO state machine.
//!
//! [`Engine`] owns the limiter, the scheduler, the retry budget, the statistics and the state
//! of each call. A driver (the Wasm fetch wrapper, the simulator, a test) feeds it events —
//! a call submitted, a response head with its headers, a network error, the body's usage, an
//! abort, the time passing — and carries out the [`Action`]s it returns: send an attempt,
//! deliver the response the driver holds, or fail the call with a [`CallError`]. The driver
//! keeps one timer: it calls [`Engine::poll`] at [`Engine::next_wake`]. Nothing here reads a
//! clock or draws a random number; `now_ms` and `u` come in as arguments.
//!
//! ```text
//!  submit ─► Queued ──admit──► InFlight ──2xx──► Delivered ──on_done──► (gone)
//!              ▲                  │ retryable
//!              └──timer── Backoff ◄┘         other / out of retries ──► Delivered or Fail
//! ```

use super::classify::ErrorInfo;
use super::config::Config;
use super::headers::RateLimitInfo;
use super::limiter::{Cost, Dim, DimState, Usage};
use super::Ms;

/// Identifies a call.
pub type Id = u64;

/// What the driver knows about a request before sending it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Request {
    /// Estimated input tokens that count against ITPM.
    pub input_tokens: f64,
    /// The request's `max_tokens` / `max_completion_tokens`, if any: the output reservation
    /// under the default `outputReservation: "max_tokens"`.
    pub max_tokens: Option<f64>,
    /// Higher goes first. Default 0.
    pub priority: i32,
}

/// Why a call was rejected without a response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CallError {
    /// The request can never fit a limit: `cost` in `dim` exceeds its `capacity`.
    TooLarge {
        /// The dimension.
        dim: Dim,
        /// The request's cost there.
        cost: f64,
        /// The limit.
        capacity: f64,
    },
    /// The server asked everyone to wait longer than `maxRetryAfterMs`.
    RetryAfterTooLong {
        /// How long the server asked for, ms from now.
        hint_ms: Ms,
    },
    /// `timeoutMs` passed before any response arrived.
    Timeout,
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
            CallError::Timeout => "TIMEOUT",
            CallError::Closed => "CLOSED",
            CallError::Network => "NETWORK",
        }
    }
}

/// What the driver must do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Send attempt `attempt` (1-based) of call `id` now. If the driver still holds an earlier
    /// response of this call, it drops it (cancels its body) first.
    Send {
        /// The call.
        id: Id,
        /// 1 for the first attempt.
        attempt: u32,
    },
    /// Give the caller the last response the driver holds for `id`. After a 2xx the driver
    /// reports the body's usage with [`Engine::on_done`].
    Deliver {
        /// The call.
        id: Id,
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
        /// The earliest time of the next attempt.
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
    /// Other 5xx (and 408/409) seen.
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
    /// Queued now (including calls waiting out a backoff).
    pub queued: u64,
    /// In flight now.
    pub in_flight: u64,
}

/// The engine.
#[derive(Debug, Clone)]
pub struct Engine {
    _todo: (),
}

impl Engine {
    /// A new engine. `config` must be valid ([`Config::validate`]).
    pub fn new(config: Config, now_ms: Ms) -> Self {
        let _ = (config, now_ms);
        todo!("Engine::new")
    }
    /// Record events for [`Engine::drain_events`] (off by default: no cost when unused).
    pub fn set_record_events(&mut self, on: bool) {
        let _ = on;
        todo!()
    }
    /// Take the events recorded so far.
    pub fn drain_events(&mut self) -> Vec<Event> {
        todo!()
    }
    /// Submit a call. It is queued; call [`Engine::poll`] to admit. Fails at once with
    /// `Closed` after [`Engine::close`].
    pub fn submit(&mut self, now_ms: Ms, request: Request) -> Result<Id, CallError> {
        let _ = (now_ms, request);
        todo!()
    }
    /// Fire due timers and deadlines, admit what can go. Call it after `submit`, after every
    /// `on_*`, and at [`Engine::next_wake`].
    pub fn poll(&mut self, now_ms: Ms) -> Vec<Action> {
        let _ = now_ms;
        todo!()
    }
    /// When the driver must call [`Engine::poll`] next, if anything waits on time.
    pub fn next_wake(&self) -> Option<Ms> {
        todo!()
    }
    /// A response head arrived for `id`. `u` is a uniform draw in `[0, 1)` for jitter.
    pub fn on_response(
        &mut self,
        now_ms: Ms,
        id: Id,
        status: u16,
        info: &RateLimitInfo,
        error: Option<&ErrorInfo>,
        u: f64,
    ) -> Verdict {
        let _ = (now_ms, id, status, info, error, u);
        todo!()
    }
    /// The attempt of `id` failed with no response (not an abort).
    pub fn on_network_error(&mut self, now_ms: Ms, id: Id, u: f64) -> Verdict {
        let _ = (now_ms, id, u);
        todo!()
    }
    /// The body of a delivered 2xx ended; `usage` is what it reported (`None`: unknown).
    pub fn on_done(&mut self, now_ms: Ms, id: Id, usage: Option<Usage>) {
        let _ = (now_ms, id, usage);
        todo!()
    }
    /// The caller aborted `id`: forget it wherever it is. False if it was not known.
    pub fn abort(&mut self, now_ms: Ms, id: Id) -> bool {
        let _ = (now_ms, id);
        todo!()
    }
    /// Close: queued calls fail with `Closed` (a call waiting out a backoff gets its last
    /// response); in-flight ones finish their attempt with no retry; later submits fail.
    pub fn close(&mut self, now_ms: Ms) -> Vec<Action> {
        let _ = now_ms;
        todo!()
    }
    /// Counters now.
    pub fn stats(&self) -> Stats {
        todo!()
    }
    /// What is known of each limit now.
    pub fn limits(&self, now_ms: Ms) -> Vec<DimState> {
        let _ = now_ms;
        todo!()
    }
    /// Calls the engine still tracks (queued, backing off, in flight, awaiting usage).
    pub fn live_calls(&self) -> usize {
        todo!()
    }
}

#[allow(dead_code)]
fn _types(_: Cost) {}
