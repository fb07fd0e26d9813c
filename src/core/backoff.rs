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
//! hint, a little longer to de-synchronise clients, and never past `max_retry_after_ms`. A hint beyond `max_retry_after_ms` is a
//! distinct outcome ([`HintDecision::TooLong`]), never replaced by a short backoff.
//!
//! Upper bounds are exclusive, also after floating-point rounding; every delay is finite and
//! non-negative whatever the inputs. Nothing here draws random numbers: the caller passes
//! the uniforms, so the same draws always give the same delays.
//!
//! # Example
//!
//! As in `backon`, a policy yields its delays as an iterator; the driver supplies the
//! randomness (here a fixed sequence of draws) and bounds the retries with `take`:
//!
//! ```
//! use llm_pacer::core::backoff::{with_hint, Backoff, HintDecision, Jitter};
//!
//! let mut draws = [0.5, 0.25, 0.75, 0.0, 0.875, 0.5].into_iter();
//! let rng = move || draws.next().unwrap_or(0.5);
//! // Full jitter over the base delays 1 s, 2 s, 4 s, 8 s, 16 s, 32 s.
//! let delays: Vec<f64> = Backoff::default().iter(rng).take(6).collect();
//! assert_eq!(delays, [500.0, 500.0, 3_000.0, 0.0, 14_000.0, 16_000.0]);
//!
//! // Without jitter the schedule shows: doubling, capped at 60 s.
//! let plain = Backoff { jitter: Jitter::None, ..Backoff::default() };
//! let delays: Vec<f64> = plain.iter(|| 0.0).take(8).collect();
//! assert_eq!(delays, [1e3, 2e3, 4e3, 8e3, 16e3, 32e3, 60e3, 60e3]);
//!
//! // A server hint wins: never shorter, at most 10 % (and at most 1 s) longer.
//! assert_eq!(with_hint(2_000.0, 300_000.0, 0.5), HintDecision::Wait(2_100.0));
//! assert_eq!(
//!     with_hint(600_000.0, 300_000.0, 0.5),
//!     HintDecision::TooLong { hint_ms: 600_000.0 }
//! );
//! ```

use core::fmt;
use core::iter::FusedIterator;

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
    ///
    /// The match is exact (lower case, no surrounding space); anything else is `None`, for
    /// the caller to report as an invalid option.
    pub fn from_name(s: &str) -> Option<Jitter> {
        Jitter::ALL.into_iter().find(|j| j.name() == s)
    }

    /// The JS spelling; [`Jitter::from_name`] is its inverse.
    pub fn name(self) -> &'static str {
        match self {
            Jitter::None => "none",
            Jitter::Full => "full",
            Jitter::Equal => "equal",
            Jitter::Decorrelated => "decorrelated",
            Jitter::Additive => "additive",
        }
    }

    /// Every mode, in declaration order.
    pub const ALL: [Jitter; 5] = [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
        Jitter::Additive,
    ];
}

impl fmt::Display for Jitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
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
    /// The base delay of retry `n` (1-based; 0 is taken as 1), before jitter:
    /// `min(max_delay_ms, initial_delay_ms * multiplier^(n-1))`.
    ///
    /// Always finite and in `[0, max_delay_ms]`, for every `n`: a growth factor that overflows
    /// to infinity gives the cap, and a multiplier of 1 gives the initial delay for all `n`.
    /// Parameters outside the ranges [`crate::core::config`] accepts are handled defensively
    /// rather than trusted: a NaN or negative delay is taken as 0, an infinite cap as
    /// `f64::MAX`, a NaN multiplier or one below 1 as 1.
    ///
    /// ```
    /// use llm_pacer::core::backoff::Backoff;
    ///
    /// let b = Backoff::default(); // 1 s, doubling, capped at 60 s
    /// assert_eq!(b.base_delay(1), 1_000.0);
    /// assert_eq!(b.base_delay(4), 8_000.0);
    /// assert_eq!(b.base_delay(u32::MAX), 60_000.0);
    /// ```
    pub fn base_delay(&self, n: u32) -> Ms {
        let initial = self.initial();
        if initial == 0.0 {
            // Also keeps `0 * inf` (a NaN) out of the way below.
            return 0.0;
        }
        let multiplier = if self.multiplier >= 1.0 {
            self.multiplier
        } else {
            1.0
        };
        // `multiplier^(n-1)` by squaring (at most 32 rounds, for any `u32`), not `powf`: the
        // libm `pow` would weigh 2 KB of the Wasm module. Exact for the usual integer
        // multipliers (within 2^53); otherwise within a few ulps of `powf`. The growth is in
        // [1, inf] (an overflow is inf, never NaN: no factor is 0) and `initial` is positive
        // and finite, so the product is never NaN.
        let (mut growth, mut base, mut e) = (1.0, multiplier, n.max(1) - 1);
        while e > 0 {
            if e & 1 == 1 {
                growth *= base;
            }
            base *= base;
            e >>= 1;
        }
        (initial * growth).min(self.cap())
    }

    /// The jittered delay of retry `n` (1-based). `prev` is the previous jittered delay (0 for
    /// the first retry; only `decorrelated` uses it); `u` is a uniform draw in `[0, 1)`.
    ///
    /// The result is finite, non-negative, and within the bounds of the table in the
    /// [module docs](self); every upper bound is exclusive, also after rounding (an interval
    /// that is empty gives its lower end). A `u` outside `[0, 1)` is clamped into it (NaN is
    /// taken as 0).
    ///
    /// `decorrelated` ignores `n`: a `prev` below `initial_delay_ms` (as 0 for the first retry)
    /// is taken as `initial_delay_ms`, so the first draw is in `[initial, min(max, 3 *
    /// initial))`. Once `3 * prev` reaches the cap, draws stay uniform in `[initial, max)`:
    /// unlike the usual `min(cap, U[base, 3 * prev))`, which puts about two thirds of all
    /// delays exactly on the cap once saturated, clients never synchronise there. With
    /// `initial_delay_ms = 0` the recurrence has nothing to grow from and every delay is 0.
    ///
    /// ```
    /// use llm_pacer::core::backoff::{Backoff, Jitter};
    ///
    /// let b = Backoff { jitter: Jitter::Equal, ..Backoff::default() };
    /// assert_eq!(b.delay(3, 0.0, 0.0), 2_000.0); // base 4 s: [2 s, 4 s)
    /// assert_eq!(b.delay(3, 0.0, 0.5), 3_000.0);
    /// ```
    pub fn delay(&self, n: u32, prev: Ms, u: f64) -> Ms {
        let u = unit(u);
        match self.jitter {
            Jitter::None => self.base_delay(n),
            Jitter::Full => uniform(0.0, self.base_delay(n), u),
            Jitter::Equal => {
                let base = self.base_delay(n);
                uniform(base / 2.0, base, u)
            }
            Jitter::Decorrelated => {
                let lo = self.initial();
                // A NaN `prev` fails the comparison and becomes `lo` as well.
                let prev = if prev >= lo { prev } else { lo };
                uniform(lo, (3.0 * prev).min(self.cap()), u)
            }
            Jitter::Additive => {
                let base = self.base_delay(n);
                uniform(base, base + ADDITIVE_SPREAD_MS, u)
            }
        }
    }

    /// The cap, sanitised: non-negative and finite.
    fn cap(&self) -> Ms {
        let cap = non_negative(self.max_delay_ms);
        if cap.is_finite() {
            cap
        } else {
            f64::MAX
        }
    }

    /// The initial delay, sanitised: non-negative, finite, at most the cap.
    fn initial(&self) -> Ms {
        non_negative(self.initial_delay_ms).min(self.cap())
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

impl<R: FnMut() -> f64> FusedIterator for Delays<R> {}

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
    let hint = non_negative(hint_ms);
    if hint > non_negative(max_retry_after_ms) || hint.is_infinite() {
        return HintDecision::TooLong { hint_ms: hint };
    }
    // The spread never carries the wait past `max_retry_after_ms`: that is the longest sleep.
    let spread = (hint / 10.0)
        .min(HINT_SPREAD_CAP_MS)
        .min(non_negative(max_retry_after_ms) - hint);
    HintDecision::Wait(uniform(hint, hint + spread, unit(u)))
}

/// The span of `additive` jitter, ms.
const ADDITIVE_SPREAD_MS: Ms = 1_000.0;

/// The most a server hint is lengthened by, ms.
const HINT_SPREAD_CAP_MS: Ms = 1_000.0;

/// The largest `f64` below 1 (`1 - 2^-53`).
const BELOW_ONE: f64 = 1.0 - f64::EPSILON / 2.0;

/// `x` when it is a number `>= 0`, else 0 (NaN and negatives).
fn non_negative(x: f64) -> f64 {
    if x >= 0.0 {
        x
    } else {
        0.0
    }
}

/// `u` clamped into `[0, 1)`; NaN is taken as 0.
fn unit(u: f64) -> f64 {
    if u >= 1.0 {
        BELOW_ONE
    } else if u >= 0.0 {
        u
    } else {
        0.0
    }
}

/// The point at fraction `u` (in `[0, 1)`) of `[lo, hi)`, kept strictly below `hi` even where
/// rounding would reach it; `lo` when the interval is empty. `lo` is finite and `>= 0`.
fn uniform(lo: f64, hi: f64, u: f64) -> f64 {
    if hi.is_nan() || hi <= lo {
        return lo;
    }
    let x = lo + u * (hi - lo);
    if x < hi {
        x
    } else {
        // `hi > lo >= 0`, so `hi` is positive: its bit pattern minus one is the next `f64`
        // down, which is still `>= lo`.
        f64::from_bits(hi.to_bits() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The largest `u` a driver can pass.
    const TOP: f64 = BELOW_ONE;

    fn with_jitter(jitter: Jitter) -> Backoff {
        Backoff {
            jitter,
            ..Backoff::default()
        }
    }

    /// SplitMix64: a tiny seeded generator, uniform in `[0, 1)` with 53 random bits.
    struct SplitMix(u64);
    impl SplitMix {
        fn next_u(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
        }
    }

    #[test]
    fn jitter_names_round_trip_and_reject_other_spellings() {
        let names: Vec<&str> = Jitter::ALL.iter().map(|j| j.name()).collect();
        assert_eq!(names, ["none", "full", "equal", "decorrelated", "additive"]);
        for j in Jitter::ALL {
            assert_eq!(Jitter::from_name(j.name()), Some(j));
            assert_eq!(j.to_string(), j.name());
        }
        for bad in ["", "Full", " full", "full ", "exponential", "decorrelate"] {
            assert_eq!(Jitter::from_name(bad), None, "{bad:?}");
        }
        assert_eq!(Jitter::default(), Jitter::Full);
    }

    #[test]
    fn base_delays_double_from_one_second_up_to_the_cap() {
        let b = Backoff::default();
        let seq: Vec<Ms> = (1..=9).map(|n| b.base_delay(n)).collect();
        assert_eq!(
            seq,
            [1e3, 2e3, 4e3, 8e3, 16e3, 32e3, 60e3, 60e3, 60e3],
            "min(60000, 1000 * 2^(n-1))"
        );
        assert_eq!(b.base_delay(0), b.base_delay(1), "n = 0 is taken as 1");
    }

    #[test]
    fn base_delay_never_overflows() {
        let steep = Backoff {
            multiplier: 100.0,
            ..Backoff::default()
        };
        assert_eq!(steep.base_delay(3), 60_000.0); // 1000 * 100^2 = 1e7, capped
        assert_eq!(steep.base_delay(200), 60_000.0); // 100^199 = inf
        assert_eq!(steep.base_delay(u32::MAX), 60_000.0);

        let flat = Backoff {
            multiplier: 1.0,
            ..Backoff::default()
        };
        assert_eq!(flat.base_delay(u32::MAX), 1_000.0);

        // 0 * inf would be NaN.
        let zero = Backoff {
            initial_delay_ms: 0.0,
            multiplier: 100.0,
            ..Backoff::default()
        };
        assert_eq!(zero.base_delay(u32::MAX), 0.0);

        for jitter in Jitter::ALL {
            let b = Backoff { jitter, ..steep };
            for u in [0.0, 0.5, TOP] {
                let d = b.delay(u32::MAX, f64::MAX, u);
                assert!(d.is_finite() && d >= 0.0, "{jitter}: {d}");
            }
        }
    }

    #[test]
    fn out_of_range_parameters_still_give_finite_non_negative_delays() {
        let weird = [f64::NAN, -1.0, f64::INFINITY, f64::NEG_INFINITY, 0.0];
        for jitter in Jitter::ALL {
            for &initial in &weird {
                for &max in &weird {
                    for &multiplier in &[f64::NAN, -2.0, 0.5, f64::INFINITY] {
                        let b = Backoff {
                            initial_delay_ms: initial,
                            max_delay_ms: max,
                            multiplier,
                            jitter,
                        };
                        for n in [0, 1, 2, 50, u32::MAX] {
                            for prev in [0.0, f64::NAN, f64::INFINITY, -5.0] {
                                let d = b.delay(n, prev, 0.5);
                                assert!(d.is_finite() && d >= 0.0, "{b:?} n={n}: {d}");
                            }
                        }
                    }
                }
            }
        }
        // A multiplier below 1 (or NaN) is taken as 1: no shrinking, no NaN.
        let b = Backoff {
            multiplier: f64::NAN,
            ..Backoff::default()
        };
        assert_eq!(b.base_delay(10), 1_000.0);
    }

    #[test]
    fn none_is_the_base_delay() {
        let b = with_jitter(Jitter::None);
        for u in [0.0, 0.5, TOP] {
            assert_eq!(b.delay(3, 0.0, u), 4_000.0);
        }
    }

    #[test]
    fn full_is_uniform_below_the_base() {
        let b = with_jitter(Jitter::Full);
        assert_eq!(b.delay(3, 0.0, 0.0), 0.0);
        assert_eq!(b.delay(3, 0.0, 0.5), 2_000.0);
        let top = b.delay(3, 0.0, TOP);
        assert!(top < 4_000.0 && top > 3_999.999, "{top}");
    }

    #[test]
    fn equal_is_half_the_base_plus_uniform_half() {
        let b = with_jitter(Jitter::Equal);
        assert_eq!(b.delay(3, 0.0, 0.0), 2_000.0);
        assert_eq!(b.delay(3, 0.0, 0.5), 3_000.0);
        let top = b.delay(3, 0.0, TOP);
        assert!(top < 4_000.0 && top > 3_999.999, "{top}");
    }

    #[test]
    fn additive_adds_up_to_one_second_even_past_the_cap() {
        let b = with_jitter(Jitter::Additive);
        assert_eq!(b.delay(3, 0.0, 0.0), 4_000.0);
        assert_eq!(b.delay(3, 0.0, 0.5), 4_500.0);
        let top = b.delay(3, 0.0, TOP);
        assert!(top < 5_000.0 && top > 4_999.999, "{top}");
        assert_eq!(b.delay(30, 0.0, 0.5), 60_500.0, "cap plus jitter");
    }

    #[test]
    fn decorrelated_grows_from_the_previous_delay() {
        let b = with_jitter(Jitter::Decorrelated);
        // First retry: prev 0 is taken as initial: [1000, 3000).
        assert_eq!(b.delay(1, 0.0, 0.0), 1_000.0);
        assert_eq!(b.delay(1, 0.0, 0.5), 2_000.0);
        let top = b.delay(1, 0.0, TOP);
        assert!(top < 3_000.0 && top > 2_999.999, "{top}");
        // n plays no part; prev does: [1000, 15000).
        assert_eq!(b.delay(1, 5_000.0, 0.5), 8_000.0);
        assert_eq!(b.delay(9, 5_000.0, 0.5), 8_000.0);
        // Saturated: [1000, 60000).
        assert_eq!(b.delay(9, 30_000.0, 0.5), 30_500.0);
        let top = b.delay(9, 1e9, TOP);
        assert!(top < 60_000.0 && top > 59_999.99, "{top}");
        // A NaN or too-small prev is taken as initial.
        assert_eq!(b.delay(4, f64::NAN, 0.5), 2_000.0);
        assert_eq!(b.delay(4, 10.0, 0.5), 2_000.0);
    }

    #[test]
    fn decorrelated_with_an_empty_range_gives_initial() {
        let b = Backoff {
            initial_delay_ms: 1_000.0,
            max_delay_ms: 1_000.0,
            multiplier: 2.0,
            jitter: Jitter::Decorrelated,
        };
        for u in [0.0, 0.5, TOP] {
            assert_eq!(b.delay(5, 1_000.0, u), 1_000.0);
        }
        let zero = Backoff {
            initial_delay_ms: 0.0,
            ..b
        };
        assert_eq!(zero.delay(1, 0.0, 0.7), 0.0);
    }

    #[test]
    fn decorrelated_does_not_collapse_onto_the_cap() {
        let b = with_jitter(Jitter::Decorrelated);
        let (initial, cap) = (b.initial_delay_ms, b.max_delay_ms);
        let prev = cap; // saturated: 3 * prev > cap
        let mut rng = SplitMix(0x5EED);
        const N: usize = 10_000;
        let (mut at_cap, mut sum) = (0, 0.0);
        let (mut classic_at_cap, mut classic_draws) = (0, SplitMix(0x5EED));
        for _ in 0..N {
            let d = b.delay(7, prev, rng.next_u());
            assert!((initial..cap).contains(&d), "{d}");
            at_cap += usize::from(d == cap);
            sum += d;
            // The classic formula, for contrast: min(cap, U[initial, 3 * prev)).
            let u = classic_draws.next_u();
            let classic = (initial + u * (3.0 * prev - initial)).min(cap);
            classic_at_cap += usize::from(classic == cap);
        }
        assert_eq!(at_cap, 0, "no draw sits exactly on the cap");
        let mean = sum / N as f64;
        let expected = (initial + cap) / 2.0; // 30 500
                                              // The standard error of the mean is about 59 000 / sqrt(12 * 10 000) = 170 ms.
        assert!((mean - expected).abs() < 700.0, "mean {mean}");
        // The classic formula puts about 2/3 of the mass on the cap: what we avoid.
        let frac = classic_at_cap as f64 / N as f64;
        assert!(
            (0.6..0.72).contains(&frac),
            "classic fraction at cap {frac}"
        );
    }

    #[test]
    fn u_is_clamped_into_the_unit_interval() {
        for jitter in Jitter::ALL {
            let b = with_jitter(jitter);
            let at = |u| b.delay(3, 5_000.0, u);
            assert_eq!(at(f64::NAN), at(0.0), "{jitter}");
            assert_eq!(at(-3.0), at(0.0), "{jitter}");
            assert_eq!(at(f64::NEG_INFINITY), at(0.0), "{jitter}");
            assert_eq!(at(1.0), at(TOP), "{jitter}");
            assert_eq!(at(f64::INFINITY), at(TOP), "{jitter}");
        }
        assert!(with_jitter(Jitter::Full).delay(3, 0.0, 1.0) < 4_000.0);
    }

    #[test]
    fn iter_yields_the_delays_of_retries_one_two_three() {
        let plain = with_jitter(Jitter::None);
        let seq: Vec<Ms> = plain.iter(|| 0.3).take(6).collect();
        assert_eq!(seq, [1e3, 2e3, 4e3, 8e3, 16e3, 32e3]);
        assert_eq!(plain.iter(|| 0.3).take(0).count(), 0);

        // Each mode: the iterator is delay(n, previous delay, next draw) for n = 1, 2, ...
        for jitter in Jitter::ALL {
            let b = with_jitter(jitter);
            let mut rng = SplitMix(7);
            let got: Vec<Ms> = b.iter(|| rng.next_u()).take(12).collect();
            let mut rng = SplitMix(7);
            let mut prev = 0.0;
            let want: Vec<Ms> = (1..=12)
                .map(|n| {
                    prev = b.delay(n, prev, rng.next_u());
                    prev
                })
                .collect();
            assert_eq!(got, want, "{jitter}");
        }

        // Decorrelated feeds each delay into the next: with u = 0.5 the first is 2000
        // ([1000, 3000)), then [1000, 6000) gives 3500, then [1000, 10500) gives 5750.
        let d: Vec<Ms> = with_jitter(Jitter::Decorrelated)
            .iter(|| 0.5)
            .take(3)
            .collect();
        assert_eq!(d, [2_000.0, 3_500.0, 5_750.0]);
    }

    #[test]
    fn a_hint_is_never_shortened_and_lengthened_by_at_most_a_tenth_or_a_second() {
        let max = 300_000.0;
        assert_eq!(with_hint(2_000.0, max, 0.0), HintDecision::Wait(2_000.0));
        assert_eq!(with_hint(2_000.0, max, 0.5), HintDecision::Wait(2_100.0));
        match with_hint(2_000.0, max, TOP) {
            HintDecision::Wait(w) => assert!(w > 2_199.999 && w < 2_200.0, "{w}"),
            other => panic!("{other:?}"),
        }
        // 10% of 20 s is 2 s; the spread is capped at 1 s.
        assert_eq!(with_hint(20_000.0, max, 0.5), HintDecision::Wait(20_500.0));
        match with_hint(20_000.0, max, TOP) {
            HintDecision::Wait(w) => assert!(w > 20_999.99 && w < 21_000.0, "{w}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(with_hint(0.0, max, 0.9), HintDecision::Wait(0.0));
    }

    #[test]
    fn the_spread_never_carries_a_wait_past_the_maximum() {
        let max = 300_000.0;
        match with_hint(max - 200.0, max, TOP) {
            HintDecision::Wait(w) => assert!((max - 1.0..=max).contains(&w), "{w}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            with_hint(max - 200.0, max, 0.5),
            HintDecision::Wait(max - 100.0)
        );
        for u in [0.0, 0.3, TOP] {
            match with_hint(max, max, u) {
                HintDecision::Wait(w) => assert_eq!(w, max),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_hint_beyond_the_maximum_is_too_long_never_a_short_backoff() {
        let max = 300_000.0;
        assert_eq!(with_hint(max, max, 0.0), HintDecision::Wait(max));
        assert_eq!(
            with_hint(max + 1.0, max, 0.0),
            HintDecision::TooLong { hint_ms: max + 1.0 }
        );
        assert_eq!(
            with_hint(1.0, 0.0, 0.5),
            HintDecision::TooLong { hint_ms: 1.0 }
        );
    }

    #[test]
    fn invalid_hints_are_handled_defensively() {
        let max = 300_000.0;
        assert_eq!(with_hint(f64::NAN, max, 0.5), HintDecision::Wait(0.0));
        assert_eq!(with_hint(-5.0, max, 0.5), HintDecision::Wait(0.0));
        assert_eq!(
            with_hint(f64::INFINITY, f64::INFINITY, 0.5),
            HintDecision::TooLong {
                hint_ms: f64::INFINITY
            }
        );
        assert_eq!(
            with_hint(100.0, f64::NAN, 0.5),
            HintDecision::TooLong { hint_ms: 100.0 }
        );
        assert_eq!(with_hint(100.0, max, f64::NAN), HintDecision::Wait(100.0));
    }
}
