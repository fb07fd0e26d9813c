//! The opening of a key that knows no limit: one request goes first, the others wait for
//! its answer, and while none comes they go out slowly.

use super::{Limiter, Ticket};
use crate::core::Ms;

/// The opening of a limiter that knows no limit: one request goes first, and the others wait
/// for its answer (which may teach the limits). While none comes, one more may go after
/// [`PROBE_MAX_MS`], and twice as many as are out after each [`PROBE_STEP_MS`] more.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Probe {
    /// When the first request went out; `None` until it does.
    sent_at: Option<Ms>,
    /// The admission serial of that request.
    serial: u64,
    /// The requests sent since (that one included), none answered yet.
    sent: u64,
}

impl Probe {
    /// A request was admitted (with this serial) while no answer has come.
    pub(super) fn admitted(&mut self, now: Ms, serial: u64) {
        if self.sent_at.is_none() {
            self.sent_at = Some(now);
            self.serial = serial;
        }
        self.sent += 1;
    }

    /// Until when the next request waits for an answer, if it must: `2^k` requests may be
    /// out once [`PROBE_MAX_MS`] and `k - 1` times [`PROBE_STEP_MS`] passed without one.
    pub(super) fn wait_until(&self) -> Option<Ms> {
        let t = self.sent_at?;
        let k = self.sent.max(1).ilog2();
        Some(t + PROBE_MAX_MS + f64::from(k) * PROBE_STEP_MS)
    }
}

/// How long the others wait for the first response of a limiter that knows no limit before
/// one more request goes. An answer that takes longer (a long answer that is no stream comes
/// whole) is no sign of room: each process of a fleet that let its whole concurrency go then
/// drew 429s by the dozen.
pub const PROBE_MAX_MS: Ms = 10_000.0;

/// After [`PROBE_MAX_MS`], while no answer comes, twice as many requests may be out after
/// each such step: the processes of a fleet started together open over a few seconds, not at
/// one instant, and a process alone with answers of a minute has its concurrency out by
/// [`PROBE_MAX_MS`] + 7.5 s for up to 16 (a step of 10 s cost such a process 15–20 s of
/// its first 20 calls' two minutes; the fleets' 429s were the same).
pub const PROBE_STEP_MS: Ms = 2_500.0;

impl Limiter {
    /// Open with a probe when no limit is known: one request goes first, and the others wait
    /// for its answer (which may teach the limits); while none comes, one more goes after
    /// [`PROBE_MAX_MS`], then twice as many as are out each [`PROBE_STEP_MS`] more. Several
    /// processes that know nothing would otherwise all send their whole concurrency at once,
    /// before any header can say how much room there is. The engine opens this way unless
    /// its adaptive mode paces the opening; a bare limiter does not.
    pub fn start_probe(&mut self) {
        if self.slots.iter().all(Option::is_none) {
            self.probe = Some(Probe {
                sent_at: None,
                serial: 0,
                sent: 0,
            });
        }
    }

    /// The opening probe's request failed without an answer (a network error): the others
    /// stop waiting for it.
    pub fn end_probe(&mut self) {
        self.probe = None;
    }

    /// The request admitted with `ticket` was not sent after all (a fleet's store made it
    /// wait; its reservation is refunded apart): if it opened as the probe, the probe is still
    /// to go, and nothing waits for its answer meanwhile, itself least of all.
    pub fn unsent(&mut self, ticket: &Ticket) {
        if let Some(p) = self.probe.as_mut().filter(|p| p.sent_at.is_some()) {
            if p.serial == ticket.serial {
                p.sent_at = None;
                p.sent = 0;
            } else if ticket.serial > p.serial {
                p.sent = p.sent.saturating_sub(1);
            }
        }
    }
}
