//! The output a request reserves: how the server meters output, and the estimate learned
//! from a key's real outputs where it counts them as generated.

#[cfg(doc)]
use super::Decision;
use super::{Limiter, Usage};

/// Where the server counts output as it is generated ([`Limiter::set_output_as_generated`]),
/// the default reservation of a request's output ([`Limiter::learn_output`]) is learned from
/// the outputs its key really produced: the largest of the last [`OUTPUT_WINDOW`] settled
/// outputs, times [`OUTPUT_MARGIN`], never below [`OUTPUT_FLOOR`], and never above the
/// request's own `max_tokens` (nor, as before, the bucket's capacity). Until
/// [`OUTPUT_MIN_SEEN`] outputs have been seen, `max_tokens` is reserved as it was.
///
/// Why an estimate, and why this one. Such a server admits a request while its output level
/// is above 0 and takes the output as it is produced; `max_tokens` is no cost to it. The
/// copy here reserves at admission and settles the difference at the end, so it stands below
/// the server by what it reserved for the calls in progress, less what they have produced so
/// far: it can run *ahead* of the server only by the output of a call in progress beyond its
/// reservation. A reservation of `max_tokens` (an agent's 32k–64k, against an OTPM of 8k)
/// keeps the copy far below the server and lets one call run at a time (the simulator,
/// 8,000 OTPM, `max_tokens` 20,000, outputs of 100–1,024 tokens: 2.2 times the shortest
/// makespan); a reservation of nothing (`outputReservation: "none"`) is the other extreme,
/// as far ahead as all the output in progress. A high estimate of the real output is the
/// copy the server will stand at once the calls in progress end, which is what an admission
/// predicts.
///
/// The numbers: the largest of the last 16 is above about 94% of a stable distribution's
/// draws (1 - 1/17); twice that covers the rest and a drift upwards between samples (a margin
/// of 1 or 1.25 drew 429s in the simulator, 3 held one client back, 1.37 times the shortest
/// makespan); 8 outputs before any estimate, so that the first calls of a key (with nothing
/// learned) reserve as before (4 moved the figures of a `max_tokens` of 1,024); the floor of
/// 256 tokens keeps a key that has seen only tiny outputs from sending a burst of calls on
/// nearly nothing. An output beyond the estimate is a debt taken at settlement (as with
/// `outputReservation: "none"`), and enters the window at once. The estimate only ever lowers what is waited for: no call is ever
/// refused on it.
pub const OUTPUT_WINDOW: usize = 16;

/// See [`OUTPUT_WINDOW`].
pub const OUTPUT_MARGIN: f64 = 2.0;

/// See [`OUTPUT_WINDOW`].
pub const OUTPUT_FLOOR: f64 = 256.0;

/// See [`OUTPUT_WINDOW`].
pub const OUTPUT_MIN_SEEN: u32 = 8;

/// The outputs a key's requests really produced, most recent last ([`OUTPUT_WINDOW`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Outputs {
    /// A ring of the last outputs; `seen` of them are filled (at most the window).
    last: [f64; OUTPUT_WINDOW],
    /// Where the next output goes in the ring.
    next: usize,
    /// Outputs seen so far (saturating).
    seen: u32,
}

impl Outputs {
    pub(super) const fn new() -> Self {
        Outputs {
            last: [0.0; OUTPUT_WINDOW],
            next: 0,
            seen: 0,
        }
    }

    fn record(&mut self, output: f64) {
        if !(output.is_finite() && output >= 0.0) {
            return;
        }
        self.last[self.next] = output;
        self.next = (self.next + 1) % OUTPUT_WINDOW;
        self.seen = self.seen.saturating_add(1);
    }

    /// The reservation to use for a request's output, or `None` while too few were seen.
    fn estimate(&self) -> Option<f64> {
        if self.seen < OUTPUT_MIN_SEEN {
            return None;
        }
        self.high()
    }

    /// The largest of the last outputs seen, times [`OUTPUT_MARGIN`], at least
    /// [`OUTPUT_FLOOR`]; `None` before any.
    fn high(&self) -> Option<f64> {
        if self.seen == 0 {
            return None;
        }
        let n = (self.seen as usize).min(OUTPUT_WINDOW);
        let max = self.last[..n].iter().fold(0.0f64, |m, &v| m.max(v));
        Some((max * OUTPUT_MARGIN).max(OUTPUT_FLOOR))
    }
}

/// How a server meters output tokens against an output (or combined) limit: as a preset's
/// source page states it ([`crate::core::presets`]), or as the engine learns it from answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMetering {
    /// Reserved from `max_tokens` when the request starts, corrected to the actual output at
    /// the end (the pacer's default `outputReservation: "max_tokens"` mirrors it).
    Reservation,
    /// Counted as the output is produced; `max_tokens` does not count
    /// (`outputReservation: "none"` mirrors it, at the cost of a little debt at the end).
    RealTime,
}

impl OutputMetering {
    /// `reservation` or `realtime` (the simulator's spelling).
    pub fn name(self) -> &'static str {
        match self {
            OutputMetering::Reservation => "reservation",
            OutputMetering::RealTime => "realtime",
        }
    }
}

impl Limiter {
    /// How the server meters output. [`OutputMetering::Reservation`] (a new limiter's, the
    /// exact mirror of Anthropic's tiers): a request's `max_tokens` is reserved up front and
    /// one above a capacity is [`Decision::Never`]. [`OutputMetering::RealTime`] (Anthropic's
    /// Start, Build and Scale plans): a reservation of `max_tokens` is the pacer's own estimate
    /// of the output: fitted to the buckets ([`Limiter::fit`]) like an input estimate, never a
    /// reason to refuse a request, and no part of a stated wait.
    pub fn set_output_metering(&mut self, metering: OutputMetering) {
        self.metering = Some(metering);
    }

    /// The server counts output as it is generated ([`OutputMetering::RealTime`]).
    pub fn set_output_as_generated(&mut self) {
        self.set_output_metering(OutputMetering::RealTime);
    }

    /// The way the server meters output is not known (the engine's limiters, unless a
    /// preset says it): until [`Limiter::set_output_metering`], a request stating more output
    /// than a bucket holds is sent once with its output lowered to what the buckets hold
    /// ([`Limiter::fit`]), not refused on the pacer's model; the server's answer says which.
    pub fn forget_output_metering(&mut self) {
        self.metering = None;
    }

    /// Is the way the server meters output known ([`Limiter::forget_output_metering`])?
    pub fn output_metering_known(&self) -> bool {
        self.metering.is_some()
    }

    /// Does the server count output as it is generated?
    pub(super) fn output_as_generated(&self) -> bool {
        self.metering == Some(OutputMetering::RealTime)
    }

    /// The output a request reserves is its `max_tokens` (`outputReservation: "max_tokens"`,
    /// the default): where the server counts output as it is generated
    /// ([`Limiter::set_output_as_generated`]), lower it to an estimate learned from the
    /// outputs this key's requests really produced ([`OUTPUT_WINDOW`] says how), once a few
    /// were seen. The difference is settled at the end, as for any reservation. Does nothing
    /// where output is reserved by the server (the reservation then mirrors the server's).
    pub fn learn_output(&mut self) {
        self.learn_output = true;
    }

    /// A request of this key produced `output` tokens, as its usage states (not an output
    /// settled as reserved because the usage did not say): learned from, while
    /// [`Limiter::learn_output`] is on where the server counts output as generated. A value
    /// that is not a token count ([`Usage::valid`]) is ignored.
    pub fn output_seen(&mut self, output: f64) {
        if !Usage::valid(output) {
            return;
        }
        self.seen_outputs.record(output);
        if self.learn_output && self.output_as_generated() {
            self.outputs.record(output);
        }
    }

    /// The output a request of this key is expected to use, at most `reserved` (its output
    /// reservation): the largest of the last outputs seen ([`OUTPUT_WINDOW`]), times
    /// [`OUTPUT_MARGIN`], at least [`OUTPUT_FLOOR`]; `reserved` before any was seen. What a
    /// store's turn books ([`crate::core::store::KeyState::reserve_booking`]): a queue of
    /// turns at `max_tokens` stood far below where the fleet would be once its calls settled.
    pub fn expected_output(&self, reserved: f64) -> f64 {
        self.seen_outputs
            .high()
            .map_or(reserved, |h| h.min(reserved))
    }

    /// The output reservation learned so far ([`Limiter::learn_output`]): `None` while it is
    /// off, where the server reserves output itself, or before enough outputs were seen.
    pub fn output_estimate(&self) -> Option<f64> {
        if !(self.learn_output && self.output_as_generated()) {
            return None;
        }
        self.outputs.estimate()
    }
}
