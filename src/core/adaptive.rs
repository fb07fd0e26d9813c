//! Adaptive concurrency and rate, for a server that states no limits (no rate-limit headers,
//! none configured): vLLM, Ollama, gateways, self-hosted endpoints.
//!
//! An AIMD controller over two variables, the way TCP finds a path's capacity:
//!
//! * a **window**: requests in flight at once;
//! * a **rate**: admissions per second, enforced as a minimum spacing between admissions.
//!
//! Signals: a refusal (429, 503, 529: "slow down", with or without a hint) is congestion; a
//! success (2xx) is room; latency is watched as a gradient (a short average of the latency
//! against a long one, as Netflix's concurrency-limits `Gradient2` does): while the short one
//! is more than [`LATENCY_TOLERANCE`] times the long one, the server is queueing and the window
//! stops growing.
//!
//! * **Slow start.** The window starts at [`INITIAL_WINDOW`] and grows by one per success
//!   (doubling per round trip); the rate is not limited. The first refusal ends slow start:
//!   the window is set to [`DECREASE`] times what was in flight, the rate to [`DECREASE`]
//!   times the highest of the admissions of the current second, the rate slow start's
//!   successes were served at, and that window over slow start's fastest success (the other
//!   two undercount it when the client's event loop was held at the start). The first
//!   round's answers (sent before any came back) seed no latency average: they also measure
//!   the start. Refused before any success (a server that refuses at once and
//!   answers slowly), the first success then raises the rate to [`DECREASE`] times the window
//!   per its latency.
//! * **Recovery.** A run of refusals across rounds (an outage) is regained whole: successes
//!   double the rate back to where it was before the run. One round's refusal is congestion:
//!   the cut stands, and the 2% steps below regain it.
//! * **Congestion avoidance.** A success adds `WINDOW_STEP / window` to the window (half a request per round trip)
//!   when the window was what held admissions back (the request filled it), and
//!   `RATE_STEP / window` of itself to the rate when the rate was (it is below 1.5 times the
//!   admissions per second). A refusal multiplies by [`DECREASE`] the limit that was hit:
//!   the window when the refused request filled it, else the rate (from at most the actual
//!   admissions per second, when the rate or a near-full window held them back: else they
//!   measure the client, its late timers or busy loop, not the server); once per round:
//!   refusals of requests admitted before the last decrease are the same congestion, already
//!   answered.
//!
//! Pure: time is a parameter, the controller remembers the admission time of each request
//! in flight (at most [`MAX_TRACKED`]; past that, new ones go untracked).
//!
//! ```
//! use llm_pacer::core::adaptive::{Adaptive, Signal};
//!
//! let mut a = Adaptive::new();
//! let t = 0.0;
//! assert_eq!(a.gate(t, 0).cap, 4); // slow start: 4 at once
//! for id in 0..4 { a.on_admit(id, t, id as u32 + 1); }
//! assert_eq!(a.gate(t, 4).cap, 0); // the window is full
//! a.on_result(0, 1_000.0, Signal::Success);
//! assert_eq!(a.gate(1_000.0, 3).cap, 2); // 5 now: one more than before
//! a.on_result(1, 1_000.0, Signal::Refused);
//! assert!(a.window() < 5.0 && a.rate().is_finite()); // slow start is over
//! ```

use super::index::IdMap;
use super::Ms;

/// The window at the start.
pub const INITIAL_WINDOW: f64 = 4.0;

/// The smallest window and rate (per second): the controller never stops traffic.
pub const MIN_WINDOW: f64 = 1.0;
/// See [`MIN_WINDOW`]: one admission per 5 s at the least, so that a server back from an
/// outage is found within 5 s.
pub const MIN_RATE: f64 = 0.2;

/// The largest window: beyond, the controller no longer limits.
pub const MAX_WINDOW: f64 = 1024.0;

/// The factor of a decrease.
pub const DECREASE: f64 = 0.85;

/// The window grows by this much per window of successes (past slow start).
pub const WINDOW_STEP: f64 = 0.5;

/// The rate grows by this share of itself per window of successes.
pub const RATE_STEP: f64 = 0.02;

/// A short latency average beyond this many times the long one holds the window.
pub const LATENCY_TOLERANCE: f64 = 1.5;

/// Admission times remembered at most.
pub const MAX_TRACKED: usize = 4096;

/// What became of an admitted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// 2xx.
    Success,
    /// 429, 503, 529: the server refused for load.
    Refused,
    /// Anything else (another error, a network error, an abort): no signal.
    Other,
}

impl Signal {
    /// The signal of an HTTP status.
    pub fn of_status(status: u16) -> Signal {
        match status {
            200..=299 => Signal::Success,
            429 | 503 | 529 => Signal::Refused,
            _ => Signal::Other,
        }
    }
}

/// What may be admitted now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gate {
    /// How many more requests may be admitted now (0: none).
    pub cap: u32,
    /// When the spacing allows the next admission, if it is what holds it (`cap == 0`).
    pub wake_at_ms: Option<Ms>,
}

/// The controller's state.
#[derive(Debug, Clone)]
pub struct Adaptive {
    window: f64,
    /// Admissions per second; infinite in slow start.
    rate: f64,
    slow_start: bool,
    /// The last admission.
    last_admit: Ms,
    /// Admissions before this time belong to an answered congestion.
    epoch: Ms,
    /// Admission time of each request in flight, and how many were in flight with it.
    sent: IdMap<(Ms, u32)>,
    /// Slow start's rate estimate: admissions since `second_start`, within a second of it.
    second_start: Ms,
    second_count: u32,
    /// Slow start's successes, and its first admission: the rate the server served.
    slow_successes: u32,
    first_admit: Option<Ms>,
    /// Slow start's fastest success, ms.
    fastest: Ms,
    /// When the first answer came.
    first_answer: Ms,
    short_latency: Option<Ms>,
    long_latency: Option<Ms>,
    /// Average gap between admissions, ms.
    gap: Option<Ms>,
    decreases: u64,
    /// What a run of refusals cut the rate below is regained at once, doubling per success
    /// (as TCP's slow start regains its threshold after a timeout), not by the 2% steps:
    /// after one decrease (congestion), the rate it left; after more (the server refused
    /// across rounds: an outage), the rate before the run.
    recover_to: f64,
    /// The rate before the run's first decrease (if it was limited).
    run_from: f64,
    /// A refusal came since the last success.
    refusing: bool,
    /// Slow start ended before any success: its rate was a guess (the admissions of its
    /// first second), which the first success's latency corrects.
    unserved: bool,
}

impl Default for Adaptive {
    fn default() -> Self {
        Adaptive::new()
    }
}

impl Adaptive {
    /// A controller in slow start.
    pub fn new() -> Self {
        Adaptive {
            window: INITIAL_WINDOW,
            rate: f64::INFINITY,
            slow_start: true,
            last_admit: f64::NEG_INFINITY,
            epoch: f64::NEG_INFINITY,
            sent: IdMap::default(),
            second_start: f64::NEG_INFINITY,
            second_count: 0,
            slow_successes: 0,
            first_admit: None,
            fastest: f64::INFINITY,
            first_answer: f64::INFINITY,
            short_latency: None,
            long_latency: None,
            gap: None,
            decreases: 0,
            recover_to: 0.0,
            run_from: 0.0,
            refusing: false,
            unserved: false,
        }
    }

    /// The window (requests in flight at once).
    pub fn window(&self) -> f64 {
        self.window
    }

    /// The rate (admissions per second; infinite in slow start).
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// How many decreases so far.
    pub fn decreases(&self) -> u64 {
        self.decreases
    }

    /// What may be admitted at `now_ms` with `in_flight` requests in flight.
    pub fn gate(&self, now_ms: Ms, in_flight: u32) -> Gate {
        let room = (self.window.round() as u32).saturating_sub(in_flight);
        if room == 0 {
            return Gate {
                cap: 0,
                wake_at_ms: None,
            };
        }
        if !self.rate.is_finite() {
            return Gate {
                cap: room,
                wake_at_ms: None,
            };
        }
        let next = self.last_admit + 1000.0 / self.rate;
        if now_ms < next {
            Gate {
                cap: 0,
                wake_at_ms: Some(next),
            }
        } else {
            // One at a time: the next one waits its spacing.
            Gate {
                cap: 1,
                wake_at_ms: None,
            }
        }
    }

    /// Request `id` was admitted at `now_ms`, making `in_flight` requests in flight.
    pub fn on_admit(&mut self, id: u64, now_ms: Ms, in_flight: u32) {
        if self.last_admit.is_finite() {
            let g = (now_ms - self.last_admit).max(0.0);
            self.gap = Some(self.gap.map_or(g, |v| v + 0.1 * (g - v)));
        }
        self.last_admit = now_ms;
        self.first_admit.get_or_insert(now_ms);
        // Past the bound (calls never answered), new ones go untracked: no signal from them.
        if self.sent.len() < MAX_TRACKED {
            self.sent.insert(id, (now_ms, in_flight));
        }
        if now_ms - self.second_start >= 1000.0 {
            self.second_start = now_ms;
            self.second_count = 0;
        }
        self.second_count += 1;
    }

    /// What became of request `id`, at `now_ms`.
    pub fn on_result(&mut self, id: u64, now_ms: Ms, signal: Signal) {
        let Some((admitted, in_flight)) = self.sent.remove(&id) else {
            return;
        };

        let first_answer = self.first_answer;
        self.first_answer = first_answer.min(now_ms);
        // The window was what held admissions back: this request filled it.
        let window_bound = f64::from(in_flight) >= self.window.round();
        match signal {
            Signal::Other => {}
            Signal::Success => {
                let latency = (now_ms - admitted).max(0.0);
                // The first round's answers (sent before any came back) also measure the
                // start: connections opened, an event loop held while the calls were
                // submitted. They seed no average, else the long one hides queueing.
                let queueing = admitted >= first_answer && self.observe_latency(latency);
                if self.slow_start {
                    self.slow_successes = self.slow_successes.saturating_add(1);
                    self.fastest = self.fastest.min(latency);
                    if !queueing {
                        self.window = (self.window + 1.0).min(MAX_WINDOW);
                    }
                } else {
                    self.refusing = false;
                    if std::mem::take(&mut self.unserved) && latency > 0.0 {
                        // The window at this latency: what the server serves at once, a second.
                        let served = self.window.round().max(1.0) * 1000.0 / latency;
                        self.rate = self.rate.max(served * DECREASE);
                    }
                    if !queueing && window_bound {
                        self.window = (self.window + WINDOW_STEP / self.window).min(MAX_WINDOW);
                    }
                    // Below what a run of refusals cut it from, the rate doubles (up to that:
                    // a rate the server sustained). Past it, it grows only while it is what
                    // holds admissions back, by RATE_STEP per window of successes. (Per round
                    // of rate x latency successes where the rate binds, rather than per
                    // window, refused 5.8% on the simulator's 0.5-1.5 s server, against 4.3%.)
                    if self.rate < self.recover_to {
                        self.rate = (self.rate * 2.0).min(self.recover_to);
                    } else if self.rate < 1.5 * self.admit_rate() {
                        self.rate += self.rate * RATE_STEP / self.window;
                    }
                }
            }
            Signal::Refused => {
                if admitted < self.epoch {
                    return; // the congestion already answered
                }
                self.decreases += 1;
                self.epoch = now_ms;
                let before = self.rate;
                if self.slow_start {
                    // Which limit was hit is unknown: both are set below what was tried.
                    self.slow_start = false;
                    let last_second = if now_ms - self.second_start < 1000.0 {
                        f64::from(self.second_count).max(1.0)
                    } else {
                        1.0
                    };
                    // What the server served is a rate it sustained: on a fast server, slow
                    // start ends within its first second, whose admissions undercount it.
                    let served = match self.first_admit.map(|t| now_ms - t) {
                        Some(elapsed) if elapsed > 0.0 => {
                            f64::from(self.slow_successes) * 1000.0 / elapsed
                        }
                        _ => 0.0,
                    };
                    let tried = (self.sent.len() as f64 + 1.0).min(self.window);
                    self.window = (tried * DECREASE).max(MIN_WINDOW);
                    // The window at the fastest latency its successes came back in: what it
                    // serves, a second. (The other two undercount it when the client's event
                    // loop was held at the start: its first answers were handled late.)
                    let windowed = if self.fastest > 0.0 && self.fastest.is_finite() {
                        self.window.round() * 1000.0 / self.fastest
                    } else {
                        0.0
                    };
                    let per_second = last_second.max(served).max(windowed);
                    self.rate = (per_second * DECREASE).max(MIN_RATE);
                    self.unserved = self.slow_successes == 0;
                } else if window_bound {
                    self.window = (self.window * DECREASE).max(MIN_WINDOW);
                } else {
                    // From the admissions per second, when the rate or a near-full window held
                    // them back (else they measure the client: its timers, its busy loop).
                    let admitted = self.admit_rate();
                    let rate = if self.rate < 1.5 * admitted
                        || f64::from(in_flight) > DECREASE * self.window
                    {
                        self.rate.min(admitted)
                    } else {
                        self.rate
                    };
                    self.rate = (rate * DECREASE).max(MIN_RATE);
                }
                if !self.refusing {
                    self.refusing = true;
                    self.recover_to = self.rate;
                    self.run_from = if before.is_finite() {
                        before
                    } else {
                        self.rate
                    };
                } else {
                    // A second decrease of the run: an outage.
                    self.recover_to = self.run_from;
                }
            }
        }
    }

    /// The admissions per second of late (infinite before two admissions).
    fn admit_rate(&self) -> f64 {
        match self.gap {
            Some(g) if g > 0.0 => 1000.0 / g,
            _ => f64::INFINITY,
        }
    }

    /// Forget request `id` (aborted, failed without a response).
    pub fn forget(&mut self, id: u64) {
        self.sent.remove(&id);
    }

    /// Feed a latency sample; true while the server looks to be queueing (the short average
    /// well above the long one).
    fn observe_latency(&mut self, ms: Ms) -> bool {
        if !ms.is_finite() {
            return false;
        }
        let ewma = |avg: Option<Ms>, a: f64| Some(avg.map_or(ms, |v| v + a * (ms - v)));
        self.short_latency = ewma(self.short_latency, 0.2);
        self.long_latency = ewma(self.long_latency, 0.02);
        match (self.short_latency, self.long_latency) {
            (Some(s), Some(l)) => s > LATENCY_TOLERANCE * l,
            _ => false,
        }
    }
}
