//! A retry budget against retry storms, as in gRPC's retry throttling.
//!
//! The budget holds `tokens`, starting full at `max_tokens`. Each failed attempt that counts
//! against it takes one token; each success gives back `ratio`. Retries are allowed only while
//! `tokens > max_tokens / 2`. So when most calls fail, retries stop; when the service recovers,
//! successes refill the budget.
//!
//! The default `ratio` is 1, not gRPC's example 0.1: in the long run retries go on while
//! failures are fewer than successes (`ratio / (1 + ratio)` of the attempts: a half, where 0.1
//! allows one in eleven). An LLM API answers 529 (overloaded) to a part of its requests for
//! minutes at a time and asks clients to retry with backoff, as its SDKs do. With 0.1, a
//! tenth of the attempts answered 529 already failed 5.6% of the calls, and three tenths
//! 29% (`simulate --p529 0.1` and `0.3`, one client), where the SDKs' own two retries fail
//! 0.1% and 2.7%; with 1, none and 1.3%. (Those figures are from when a spent budget handed
//! every later failure back; it now holds them behind one probing call, the engine's
//! `held` module, and neither ratio fails a call there.)
//!
//! Like gRPC's own implementation, the budget counts in thousandths of a token, in integers:
//! `ratio` and `max_tokens` are taken to three decimal places (gRPC's `token_ratio` has three
//! at most), so no run of successes and failures ever drifts across the threshold. With plain
//! floating point, `ratio = 0.2` would leave 5 failures, 5 successes and 1 failure at
//! 5.000000000000001 tokens of 10 and allow a retry that the rule forbids.
//!
//! ```
//! use llm_pacer::core::budget::{BudgetConfig, RetryBudget};
//!
//! let mut budget = RetryBudget::new(BudgetConfig::default()); // 10 tokens, 1 per success
//! for _ in 0..4 {
//!     budget.on_failure();
//! }
//! assert!(budget.can_retry()); // 6 > 5
//! budget.on_failure();
//! assert!(!budget.can_retry()); // 5 is not > 5: the service is mostly failing
//! budget.on_success();
//! assert!(budget.can_retry()); // 6 > 5
//! assert_eq!(budget.tokens(), 6.0);
//! ```

/// Budget parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetConfig {
    /// Tokens given back per success. Default 1: retries stop while failures outnumber
    /// successes.
    pub ratio: f64,
    /// Capacity and start value. Default 10.
    pub max_tokens: f64,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig {
            ratio: 1.0,
            max_tokens: 10.0,
        }
    }
}

/// Thousandths of a token in one token.
const MILLI: u64 = 1_000;

/// `x` tokens in thousandths, rounded to the nearest; NaN and negatives are 0 and values too
/// large for a `u64` saturate (the `as` cast does both).
fn to_milli(x: f64) -> u64 {
    (x * MILLI as f64).round() as u64
}

/// The budget's state: one plain number (thousandths of a token), besides its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBudget {
    max_milli: u64,
    ratio_milli: u64,
    milli: u64,
}

impl RetryBudget {
    /// A full budget.
    ///
    /// `ratio` and `max_tokens` are rounded to thousandths (validated by
    /// [`crate::core::config`]); a positive `ratio` gives back at least 0.001 per success, so
    /// the budget always recovers.
    pub fn new(config: BudgetConfig) -> Self {
        let max_milli = to_milli(config.max_tokens);
        let mut ratio_milli = to_milli(config.ratio);
        if ratio_milli == 0 && config.ratio > 0.0 {
            ratio_milli = 1;
        }
        RetryBudget {
            max_milli,
            ratio_milli,
            milli: max_milli,
        }
    }

    /// Record a success: give back `ratio`, up to `max_tokens`.
    pub fn on_success(&mut self) {
        self.milli = self
            .milli
            .saturating_add(self.ratio_milli)
            .min(self.max_milli);
    }

    /// Record a failure: take one token, down to 0.
    pub fn on_failure(&mut self) {
        self.milli = self.milli.saturating_sub(MILLI);
    }

    /// May a retry be made now? True while `tokens > max_tokens / 2`.
    pub fn can_retry(&self) -> bool {
        // In integers, `milli > max_milli / 2` (rounded down) is exactly the real-valued rule.
        self.milli > self.max_milli / 2
    }

    /// Tokens now, in `[0, max_tokens]`.
    pub fn tokens(&self) -> f64 {
        self.milli as f64 / MILLI as f64
    }

    /// The capacity and start value, as used (rounded to thousandths).
    pub fn max_tokens(&self) -> f64 {
        self.max_milli as f64 / MILLI as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn budget(ratio: f64, max_tokens: f64) -> RetryBudget {
        RetryBudget::new(BudgetConfig { ratio, max_tokens })
    }

    #[test]
    fn starts_full() {
        let b = RetryBudget::new(BudgetConfig::default());
        assert_eq!(b.tokens(), 10.0);
        assert_eq!(b.max_tokens(), 10.0);
        assert!(b.can_retry());
    }

    #[test]
    fn retries_stop_after_the_fifth_failure_and_resume_after_enough_successes() {
        let mut b = RetryBudget::new(BudgetConfig::default());
        let mut allowed = Vec::new();
        for _ in 0..10 {
            b.on_failure();
            allowed.push(b.can_retry());
        }
        assert_eq!(
            allowed,
            [true, true, true, true, false, false, false, false, false, false],
            "tokens 9, 8, 7, 6 allow retries; 5 and below do not"
        );
        assert_eq!(b.tokens(), 0.0);
        b.on_failure();
        assert_eq!(b.tokens(), 0.0, "floored at 0");

        // From 0, 5 successes reach exactly 5 (not enough); the 6th crosses the threshold.
        for i in 1..=5 {
            b.on_success();
            assert!(!b.can_retry(), "after {i} successes");
        }
        assert_eq!(b.tokens(), 5.0);
        b.on_success();
        assert!(b.can_retry());
        assert_eq!(b.tokens(), 6.0);
        // gRPC's example ratio, 0.1: 50 successes reach 5 again, the 51st crosses.
        let mut b = budget(0.1, 10.0);
        for _ in 0..10 {
            b.on_failure();
        }
        for _ in 0..50 {
            b.on_success();
        }
        assert!(!b.can_retry());
        b.on_success();
        assert_eq!(b.tokens(), 5.1);
        assert!(b.can_retry());

        // Successes refill it up to the capacity, never past.
        for _ in 0..100 {
            b.on_success();
        }
        assert_eq!(b.tokens(), 10.0);
    }

    #[test]
    fn no_floating_point_drift_across_the_threshold() {
        // Exactly 5 of 10 tokens, which f64 arithmetic makes 5.000000000000001.
        let mut b = budget(0.2, 10.0);
        for _ in 0..5 {
            b.on_failure();
        }
        for _ in 0..5 {
            b.on_success();
        }
        b.on_failure();
        assert_eq!(b.tokens(), 5.0);
        assert!(!b.can_retry(), "5 is not > 5");
    }

    #[test]
    fn odd_capacities_use_the_real_half() {
        // max 3: the threshold is 1.5; 2 tokens allow a retry, 1.5 does not, 1.501 does.
        let mut b = budget(0.5, 3.0);
        b.on_failure();
        assert!(b.can_retry(), "2 > 1.5");
        b.on_failure();
        b.on_success();
        assert_eq!(b.tokens(), 1.5);
        assert!(!b.can_retry(), "1.5 is not > 1.5");

        let mut b = budget(0.001, 3.001);
        b.on_failure();
        b.on_failure();
        assert_eq!(b.tokens(), 1.001);
        assert!(!b.can_retry(), "1.001 < 1.5005");
        for _ in 0..500 {
            b.on_success();
        }
        assert_eq!(b.tokens(), 1.501);
        assert!(b.can_retry(), "1.501 > 1.5005");
    }

    #[test]
    fn ratios_are_taken_to_three_decimals_and_a_positive_one_never_to_zero() {
        let mut b = budget(0.0001, 10.0);
        for _ in 0..10 {
            b.on_failure();
        }
        b.on_success();
        assert_eq!(b.tokens(), 0.001, "a tiny positive ratio still refills");

        let mut b = budget(0.0, 10.0);
        b.on_failure();
        b.on_success();
        assert_eq!(b.tokens(), 9.0, "ratio 0 never refills");

        let mut b = budget(0.1234, 10.0);
        b.on_failure();
        b.on_success();
        assert_eq!(b.tokens(), 9.123);
    }

    #[test]
    fn invalid_parameters_do_not_panic() {
        for (ratio, max) in [
            (f64::NAN, f64::NAN),
            (-1.0, -1.0),
            (f64::INFINITY, f64::INFINITY),
        ] {
            let mut b = budget(ratio, max);
            b.on_success();
            b.on_failure();
            let t = b.tokens();
            assert!(t.is_finite() && t >= 0.0 && t <= b.max_tokens(), "{t}");
        }
        let b = budget(0.1, f64::NAN);
        assert!(!b.can_retry(), "no capacity, no retries");
    }

    proptest! {
        #[test]
        fn tokens_stay_within_zero_and_the_capacity(
            ratio in 0.0..=1_000.0f64,
            max_tokens in 1.0..=1e6f64,
            events in prop::collection::vec(any::<bool>(), 0..300),
        ) {
            let mut b = budget(ratio, max_tokens);
            let cap = b.max_tokens();
            prop_assert!((cap - max_tokens).abs() <= 0.0005 + 1e-9);
            for success in events {
                let before = b.tokens();
                if success {
                    b.on_success();
                    prop_assert!(b.tokens() >= before);
                } else {
                    b.on_failure();
                    prop_assert!(b.tokens() <= before);
                    prop_assert!(b.tokens() == 0.0 || (before - b.tokens() - 1.0).abs() < 1e-9);
                }
                prop_assert!(0.0 <= b.tokens() && b.tokens() <= cap, "{}", b.tokens());
                prop_assert_eq!(b.can_retry(), 2.0 * b.tokens() > cap);
            }
        }
    }
}
