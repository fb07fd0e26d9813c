//! Exponential backoff with jitter, and its combination with a server hint.
//!
//! Retry `n` (1-based) has the base delay `min(max_delay_ms, initial_delay_ms *
//! multiplier^(n-1))`; jitter then spreads it:
//!
//! | jitter | delay for retry n |
//! |---|---|
//! | `none` | `base` |
//! | `full` | `U[0, base)` |
//! | `equal` | `base/2 + U[0, base/2)` |
//! | `decorrelated` | `U[initial, min(max, 3 * previous))`, never collapsing onto the cap |
//! | `additive` | `base + U[0, 1000)` (the common Python recipe; may pass the cap by < 1 s) |
//!
//! With a server hint `h` the wait is `h + U[0, min(h/10, 1000))`: never shorter than the
//! hint, a little longer to de-synchronise clients. A hint beyond `max_retry_after_ms` is a
//! distinct outcome ([`HintDecision::TooLong`]), never replaced by a short backoff.

use super::Ms;

/// How delays are randomised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jitter {
    /// No randomness.
    None,
    /// `U[0, base)` (AWS "full jitter").
    #[default]
    Full,
    /// `base/2 + U[0, base/2)`.
    Equal,
    /// `U[initial, min(max, 3 * previous))`.
    Decorrelated,
    /// `base + U[0, 1 s)`.
    Additive,
}

impl Jitter {
    /// Parse the JS spelling: `none | full | equal | decorrelated | additive`.
    pub fn from_name(s: &str) -> Option<Jitter> {
        let _ = s;
        todo!("Jitter::from_name")
    }
    /// The JS spelling.
    pub fn name(self) -> &'static str {
        todo!("Jitter::name")
    }
}

/// Backoff parameters (validated by [`crate::core::config`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// First delay, ms. Default 1 000.
    pub initial_delay_ms: Ms,
    /// Cap on the base delay, ms. Default 60 000.
    pub max_delay_ms: Ms,
    /// Growth factor per retry. Default 2.
    pub multiplier: f64,
    /// Jitter mode. Default full.
    pub jitter: Jitter,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial_delay_ms: 1_000.0,
            max_delay_ms: 60_000.0,
            multiplier: 2.0,
            jitter: Jitter::Full,
        }
    }
}

impl Backoff {
    /// The base delay of retry `n` (1-based), before jitter.
    pub fn base_delay(&self, n: u32) -> Ms {
        let _ = n;
        todo!("Backoff::base_delay")
    }

    /// The jittered delay of retry `n` (1-based). `prev` is the previous jittered delay (0 for
    /// the first retry; only `decorrelated` uses it); `u` is a uniform draw in `[0, 1)`.
    pub fn delay(&self, n: u32, prev: Ms, u: f64) -> Ms {
        let _ = (n, prev, u);
        todo!("Backoff::delay")
    }

    /// The delays of retries 1, 2, ... as an iterator (unbounded: `.take(max_retries)`),
    /// drawing uniforms from `rng`.
    pub fn iter<R: FnMut() -> f64>(&self, rng: R) -> Delays<R> {
        Delays {
            backoff: *self,
            rng,
            n: 0,
            prev: 0.0,
        }
    }
}

/// Iterator over jittered delays; see [`Backoff::iter`].
#[derive(Debug, Clone)]
pub struct Delays<R> {
    backoff: Backoff,
    rng: R,
    n: u32,
    prev: Ms,
}

impl<R: FnMut() -> f64> Iterator for Delays<R> {
    type Item = Ms;
    fn next(&mut self) -> Option<Ms> {
        self.n = self.n.saturating_add(1);
        let d = self.backoff.delay(self.n, self.prev, (self.rng)());
        self.prev = d;
        Some(d)
    }
}

/// What to do with a server hint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HintDecision {
    /// Wait this long (ms): `>= hint`, at most `min(hint/10, 1000)` more.
    Wait(Ms),
    /// The hint is beyond `max_retry_after_ms`: fail fast, hint attached.
    TooLong {
        /// The server's hint, ms.
        hint_ms: Ms,
    },
}

/// Combine a server hint with the policy: see the module docs. `u` in `[0, 1)`.
pub fn with_hint(hint_ms: Ms, max_retry_after_ms: Ms, u: f64) -> HintDecision {
    let _ = (hint_ms, max_retry_after_ms, u);
    todo!("backoff::with_hint")
}
