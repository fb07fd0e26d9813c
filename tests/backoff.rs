//! Property tests for `core::backoff`: every jitter mode stays within its documented bounds
//! for every valid policy, and a server hint is never shortened.

use llm_pacer::core::backoff::{with_hint, Backoff, HintDecision, Jitter};
use proptest::prelude::*;

/// The largest `u` in `[0, 1)`.
const TOP: f64 = 1.0 - f64::EPSILON / 2.0;

/// Valid policies, as `core::config` accepts them (delays up to 1e6 ms here).
fn policy() -> impl Strategy<Value = Backoff> {
    (
        0.0..=1e6f64,
        0.0..=1e7f64,
        1.0..=100.0f64,
        prop::sample::select(Jitter::ALL.to_vec()),
    )
        .prop_map(|(initial, extra, multiplier, jitter)| Backoff {
            initial_delay_ms: initial,
            max_delay_ms: initial + extra,
            multiplier,
            jitter,
        })
}

/// Uniform draws, including both ends of `[0, 1)`.
fn draw() -> impl Strategy<Value = f64> {
    prop_oneof![1 => Just(0.0), 1 => Just(TOP), 8 => 0.0..1.0f64]
}

/// Is `d` in `[lo, hi)`, or exactly `lo` when that interval is empty?
fn in_half_open(d: f64, lo: f64, hi: f64) -> bool {
    if hi > lo {
        lo <= d && d < hi
    } else {
        d == lo
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn base_delay_follows_the_formula(b in policy(), n in 1u32..200) {
        let base = b.base_delay(n);
        let formula = (b.initial_delay_ms * b.multiplier.powi(n as i32 - 1)).min(b.max_delay_ms);
        prop_assert!(base.is_finite());
        prop_assert!((base - formula).abs() <= 1e-9 * formula.max(1.0), "{base} vs {formula}");
        prop_assert!(b.initial_delay_ms <= base && base <= b.max_delay_ms);
        prop_assert!(b.base_delay(n + 1) >= base, "non-decreasing in n");
    }

    #[test]
    fn every_mode_stays_within_its_bounds(
        b in policy(),
        n in 1u32..200,
        prev in prop_oneof![Just(0.0), 0.0..=3e7f64],
        u in draw(),
    ) {
        let base = b.base_delay(n);
        let d = b.delay(n, prev, u);
        prop_assert!(d.is_finite() && d >= 0.0, "{d}");
        match b.jitter {
            Jitter::None => prop_assert_eq!(d, base),
            Jitter::Full => prop_assert!(in_half_open(d, 0.0, base), "{d} base {base}"),
            Jitter::Equal => prop_assert!(in_half_open(d, base / 2.0, base), "{d} base {base}"),
            Jitter::Additive => prop_assert!(
                in_half_open(d, base, base + 1_000.0),
                "{d} base {base}"
            ),
            Jitter::Decorrelated => {
                let initial = b.initial_delay_ms;
                let hi = (3.0 * prev.max(initial)).min(b.max_delay_ms);
                prop_assert!(in_half_open(d, initial, hi), "{d} in [{initial}, {hi})");
                prop_assert!(
                    d < b.max_delay_ms || initial == b.max_delay_ms,
                    "never exactly on the cap: {d}"
                );
            }
        }
    }

    #[test]
    fn delays_grow_with_u(b in policy(), n in 1u32..200, prev in 0.0..=3e7f64,
                          u1 in draw(), u2 in draw()) {
        let (lo, hi) = if u1 <= u2 { (u1, u2) } else { (u2, u1) };
        prop_assert!(b.delay(n, prev, lo) <= b.delay(n, prev, hi));
    }

    #[test]
    fn iterated_delays_stay_within_the_policy(
        b in policy(),
        draws in prop::collection::vec(draw(), 1..40),
    ) {
        let count = draws.len();
        let mut it = draws.into_iter();
        let delays: Vec<f64> = b.iter(move || it.next().unwrap_or(0.5)).take(count).collect();
        prop_assert_eq!(delays.len(), count);
        for (i, &d) in delays.iter().enumerate() {
            let base = b.base_delay(i as u32 + 1);
            let upper = match b.jitter {
                Jitter::Additive => base + 1_000.0,
                Jitter::Decorrelated => b.max_delay_ms,
                _ => base,
            };
            prop_assert!(d.is_finite() && 0.0 <= d && d <= upper, "retry {}: {d}", i + 1);
            if b.jitter == Jitter::Decorrelated {
                prop_assert!(d >= b.initial_delay_ms);
            }
        }
    }

    #[test]
    fn a_hint_is_kept_or_too_long(
        hint in prop_oneof![Just(0.0), 0.0..=1e9f64],
        max in 0.0..=1e9f64,
        u in draw(),
    ) {
        match with_hint(hint, max, u) {
            HintDecision::TooLong { hint_ms } => {
                prop_assert!(hint > max, "TooLong only beyond the maximum");
                prop_assert_eq!(hint_ms, hint);
            }
            HintDecision::Wait(w) => {
                prop_assert!(hint <= max, "Wait only within the maximum");
                let spread = (hint / 10.0).min(1_000.0);
                prop_assert!(in_half_open(w, hint, hint + spread), "{w} for hint {hint}");
                prop_assert!(w <= max, "{w} for hint {hint}: past maxRetryAfterMs {max}");
            }
        }
    }

    #[test]
    fn a_hint_just_under_the_maximum_is_never_stretched_past_it(
        max in 0.0..=1e7f64,
        below in prop_oneof![Just(0.0), 0.0..=2_000.0f64],
        u in draw(),
    ) {
        // The spread (up to min(10%, 1 s)) is cut where it would pass maxRetryAfterMs: only a
        // wait the server itself states may be that long.
        let hint = (max - below).max(0.0);
        let HintDecision::Wait(w) = with_hint(hint, max, u) else {
            return Err(TestCaseError::fail(format!("{hint} <= {max} is not too long")));
        };
        prop_assert!(w >= hint, "{w} < hint {hint}");
        prop_assert!(w <= max, "{w} for hint {hint}: past maxRetryAfterMs {max}");
    }
}

#[test]
fn take_bounds_the_number_of_retries() {
    let max_retries = 6;
    let delays: Vec<f64> = Backoff::default()
        .iter(|| 0.999)
        .take(max_retries)
        .collect();
    assert_eq!(delays.len(), max_retries);
    // Full jitter at u = 0.999 is just under each base delay.
    for (d, base) in delays.iter().zip([1e3, 2e3, 4e3, 8e3, 16e3, 32e3]) {
        assert!(*d < base && *d >= 0.999 * base - 1e-6, "{d} vs {base}");
    }
}
