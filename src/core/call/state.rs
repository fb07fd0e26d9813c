//! One call as the engine keeps it: where it is, and what its next decision needs.

use crate::core::estimate::Prefix;
use crate::core::keys::Slot;
use crate::core::limiter::{Cost, Ticket};
use crate::core::Ms;

/// Where a call is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum State {
    /// In the scheduler's queue.
    Queued,
    /// Waiting out a retry delay; re-queued at `until`.
    Backoff { until: Ms },
    /// Held by a spent retry budget ([`super::held`]): no timer; it goes when the budget
    /// recovers or its turn comes, or gives up with the probe.
    Held,
    /// An attempt is on the wire, holding a reservation and a concurrency slot.
    InFlight { ticket: Ticket },
    /// A 2xx was delivered; its body is still being read for usage (the slot stays held).
    Delivered { ticket: Ticket },
    /// Out of the queue and off the wire while the engine decides what the call does next
    /// (retry, deliver, fail). Never seen outside that one transition.
    Deciding,
}

impl State {
    /// Whether the call waits to be sent (queued, backing off, or held): not on the wire,
    /// not delivered, not in the middle of a decision.
    pub(super) fn waiting(self) -> bool {
        matches!(self, State::Queued | State::Backoff { .. } | State::Held)
    }
}

#[derive(Debug, Clone)]
pub(super) struct Call {
    /// Its limit key.
    pub(super) slot: Slot,
    pub(super) seq: u64,
    pub(super) priority: i32,
    pub(super) cost: Cost,
    /// Attempts sent so far.
    pub(super) attempt: u32,
    pub(super) state: State,
    pub(super) deadline: Option<Ms>,
    /// The driver holds a response of an attempt (a retryable one), until the next
    /// attempt's answer: a response replaces it, a network error drops it.
    pub(super) has_response: bool,
    /// The previous retry delay (decorrelated jitter needs it).
    pub(super) prev_delay: Ms,
    /// Since when it waits (queue or backoff); for `Stats::wait_ms`.
    pub(super) waiting_since: Ms,
    /// Set by `close`: finish the attempt on the wire, retry no more.
    pub(super) no_retry: bool,
    /// False when the request can be sent only once (its body is a stream).
    pub(super) replayable: bool,
    /// `fetch` refused the request itself, its URL or init (a `TypeError` before anything
    /// was sent): no attempt can succeed ([`super::Engine::invalid`]).
    pub(super) invalid: bool,
    /// When the current attempt was sent.
    pub(super) sent_at: Ms,
    /// The current attempt's response: its status and latency (for events).
    pub(super) response: Option<(u16, Ms)>,
    /// 429s it got while its input estimate was lowered to what the buckets hold (or, for a
    /// fixed-priced one, its input bucket was full) and the server's own headers showed room
    /// for all it reserved ([`super::Engine::on_response`]).
    pub(super) refused_with_room: u8,
    /// Its input estimate prices a part of unknown size at a fixed amount
    /// ([`super::Request::fixed_priced`]).
    pub(super) fixed_priced: bool,
    /// Its prompt's prefixes ([`crate::core::prompt_cache`]): its breakpoints are noted as
    /// cached when its usage reports a cache write or read.
    pub(super) prefixes: Vec<Prefix>,
    /// Its input estimate before the prompt cache's share was taken off.
    pub(super) estimate: f64,
    /// The prefix it is expected to read from the server's prompt cache.
    pub(super) cache_read: Option<u64>,
    /// The answer on its way is a stream's head ([`super::Engine::streaming`]).
    pub(super) streaming: bool,
    /// The reason of the last `wait` event it was given (empty before any): told again only
    /// when what holds it changes ([`super::waits`]).
    pub(super) told: &'static str,
}
