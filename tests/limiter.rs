//! The limiter, in virtual time: admission per dimension, waits that match the bucket
//! arithmetic, pauses, settlement (debt, clamped give, conservation), refunds, alignment with
//! the server's headers, snapshots, and the property that matters most: with correct limits,
//! a client that sends only what `acquire` admits never overruns the server's buckets.

use llm_pacer::core::bucket::Bucket;
use llm_pacer::core::headers::{DimInfo, Family, RateLimitInfo};
use llm_pacer::core::limiter::{
    Blocker, Cost, Decision, Dim, DimState, Limiter, Limits, Source, Ticket, Usage, EDGE_MARGIN_MS,
};
use proptest::prelude::*;

const T0: f64 = 1_700_000_000_000.0; // an epoch time, as Date.now() gives it

fn limits(rpm: Option<f64>, itpm: Option<f64>, otpm: Option<f64>, tpm: Option<f64>) -> Limits {
    Limits {
        rpm,
        itpm,
        otpm,
        tpm,
    }
}

fn cost(input: f64, output: f64) -> Cost {
    Cost::exact(input, output)
}

fn usage(input: f64, output: f64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        ..Usage::default()
    }
}

fn admit(l: &mut Limiter, now: f64, c: Cost) -> Ticket {
    match l.acquire(now, c) {
        Decision::Admit(t) => t,
        d => panic!("expected Admit at {now}, got {d:?}"),
    }
}

/// The wait's time less [`EDGE_MARGIN_MS`]: the instant the bucket arithmetic says the
/// request fits (the limiter wakes it that much later, past the floating-point edge).
fn wait(d: Decision) -> (f64, Blocker) {
    match d {
        Decision::Wait { until_ms, blocker } => (until_ms - EDGE_MARGIN_MS, blocker),
        d => panic!("expected Wait, got {d:?}"),
    }
}

fn level(l: &Limiter, now: f64, dim: Dim) -> f64 {
    l.snapshot(now)
        .into_iter()
        .find(|s| s.dim == dim)
        .unwrap_or_else(|| panic!("{dim:?} unknown"))
        .remaining
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * (1.0 + a.abs().max(b.abs()))
}

/// OpenAI-style (unrounded) figures of a 60,000 OTPM limit with `remaining` left.
fn openai_otpm(remaining: f64) -> RateLimitInfo {
    RateLimitInfo {
        output_tokens: dim_info(Some(60_000.0), Some(remaining)),
        family: Family::OpenAi,
        ..RateLimitInfo::default()
    }
}

fn dim_info(limit: Option<f64>, remaining: Option<f64>) -> DimInfo {
    DimInfo {
        limit,
        remaining,
        ..DimInfo::default()
    }
}

// ---------------------------------------------------------------- admission, per dimension

#[test]
fn requests_admit_then_wait_for_the_refill_then_never() {
    let mut l = Limiter::new(limits(Some(60.0), None, None, None), T0);
    for _ in 0..60 {
        admit(&mut l, T0, Cost::default());
    }
    let (until, blocker) = wait(l.acquire(T0, Cost::default()));
    assert_eq!(blocker, Blocker::Dim(Dim::Requests));
    assert!(
        close(until - T0, 1_000.0),
        "one request per second: {until}"
    );
    admit(&mut l, until, Cost::default());

    let tiny = Limiter::new(limits(Some(0.5), None, None, None), T0);
    assert_eq!(
        tiny.check(T0, Cost::default()),
        Decision::Never {
            dim: Dim::Requests,
            cost: 1.0,
            capacity: 0.5
        }
    );
}

#[test]
fn input_tokens_admit_wait_never() {
    // 6 000 ITPM = 0.1 token per ms.
    let mut l = Limiter::new(limits(None, Some(6_000.0), None, None), T0);
    let t = admit(&mut l, T0, cost(5_000.0, 123.0));
    assert_eq!((t.input, t.output, t.at_ms), (5_000.0, 123.0, T0));
    let (until, blocker) = wait(l.acquire(T0, cost(2_000.0, 0.0)));
    assert_eq!(blocker, Blocker::Dim(Dim::InputTokens));
    assert!(close(until - T0, 10_000.0), "(2000 - 1000) / 0.1 ms");
    assert_eq!(
        l.check(T0, cost(6_000.5, 0.0)),
        Decision::Never {
            dim: Dim::InputTokens,
            cost: 6_000.5,
            capacity: 6_000.0
        }
    );
    // Exactly the capacity fits, after a full refill.
    admit(&mut l, T0 + 60_000.0, cost(6_000.0, 0.0));
}

#[test]
fn a_configured_limit_the_server_lowers_is_no_sign_of_others() {
    // Configured at twice the server's ITPM: the first answer lowers the bucket to the
    // server's 30,000, and its level shows only what this client spent. Before, the copy
    // (clamped to the new capacity, above the server's level) read as others drawing: the
    // blind start's quarter was kept, and the bucket refilled at 28% of its rate.
    let over = |configured: f64| {
        let mut l = Limiter::new(limits(None, Some(configured), None, None), T0);
        l.start_blind(T0);
        let t = admit(&mut l, T0, cost(5_000.0, 0.0));
        let info = RateLimitInfo {
            input_tokens: DimInfo {
                reset_at_ms: Some(T0 + 10_000.0),
                ..dim_info(Some(30_000.0), Some(25_000.0))
            },
            family: Family::Anthropic,
            ..RateLimitInfo::default()
        };
        l.settle(T0, t, &usage(5_000.0, 0.0));
        l.observe(T0, &info);
        // From 25,000, a 30,000-token request waits for 5,000 tokens of refill: 10 s at the
        // full rate (30,000 a minute).
        wait(l.acquire(T0, cost(30_000.0, 0.0))).0 - T0
    };
    let matched = over(30_000.0);
    let doubled = over(60_000.0);
    assert!(
        close(matched, 10_000.0),
        "configured as the server: {matched}"
    );
    assert!(
        doubled <= 1.1 * matched,
        "configured at twice: {doubled} against {matched}"
    );
}

#[test]
fn output_counted_as_generated_is_an_estimate_never_a_refusal() {
    // Anthropic's Start, Build and Scale plans count output as it is generated: `max_tokens`
    // above the OTPM is no request the server refuses. Reserved up front (tier plans), it is.
    let up_front = Limiter::new(limits(None, Some(500_000.0), Some(100_000.0), None), T0);
    assert_eq!(
        up_front.check(T0, cost(10.0, 128_000.0)),
        Decision::Never {
            dim: Dim::OutputTokens,
            cost: 128_000.0,
            capacity: 100_000.0
        }
    );
    let mut l = up_front.clone();
    l.set_output_as_generated();
    let fitted = l.fit(cost(10.0, 128_000.0)).unwrap();
    assert_eq!((fitted.input, fitted.output), (10.0, 100_000.0));
    let t = admit(&mut l, T0, cost(10.0, 128_000.0));
    assert_eq!(t.output, 100_000.0, "the reservation fitted to the bucket");
    // With a combined limit, the TPM less the input floor.
    let mut tpm = Limiter::new(limits(None, None, None, Some(30_000.0)), T0);
    tpm.set_output_as_generated();
    let fitted = tpm.fit(cost(1_000.0, 64_000.0)).unwrap();
    assert_eq!((fitted.input, fitted.output), (1_000.0, 29_000.0));
    // A stated wait never counts it: only what the server surely counts.
    let learned = |as_generated: bool| {
        let mut l = Limiter::new(Limits::default(), T0);
        if as_generated {
            l.set_output_as_generated();
        }
        let info = RateLimitInfo {
            output_tokens: DimInfo {
                reset_at_ms: Some(T0 + 60_000.0),
                ..dim_info(Some(100_000.0), Some(0.0))
            },
            family: Family::Anthropic,
            ..RateLimitInfo::default()
        };
        l.observe(T0, &info);
        l.stated_wait(T0, cost(10.0, 50_000.0))
    };
    assert!(
        learned(false).is_some_and(|w| w >= 29_000.0),
        "{:?}",
        learned(false)
    );
    assert_eq!(learned(true), None);
}

/// An input estimate (no floor) above a capacity is not a reason to refuse: the server may
/// count fewer tokens. It is lowered to what the buckets hold and waits for a full bucket.
#[test]
fn an_input_estimate_over_a_capacity_waits_for_a_full_bucket() {
    let estimate = |input: f64, output: f64| Cost {
        input_floor: 0.0,
        ..cost(input, output)
    };
    // 6 000 ITPM = 0.1 token per ms; 10 000 TPM.
    let mut l = Limiter::new(limits(None, Some(6_000.0), None, Some(10_000.0)), T0);
    assert_eq!(
        l.fit(estimate(9_000.0, 7_000.0)),
        Ok(estimate(3_000.0, 7_000.0))
    );
    assert_eq!(l.fit(estimate(9_000.0, 0.0)), Ok(estimate(6_000.0, 0.0)));
    admit(&mut l, T0, estimate(1_000.0, 0.0));
    let (until, blocker) = wait(l.check(T0, estimate(50_000.0, 0.0)));
    assert_eq!(blocker, Blocker::Dim(Dim::InputTokens));
    assert!(
        close(until - T0, 10_000.0),
        "the 1 000 refilled: {}",
        until - T0
    );
    let t = admit(&mut l, T0 + 10_001.0, estimate(50_000.0, 0.0));
    assert_eq!(t.input, 6_000.0, "the whole bucket is reserved");
    assert!(close(level(&l, T0 + 10_001.0, Dim::InputTokens), 0.0));
    // The usage settles it: the server counted 4 000.
    l.settle(T0 + 10_001.0, t, &usage(4_000.0, 0.0));
    assert!(close(level(&l, T0 + 10_001.0, Dim::InputTokens), 2_000.0));
    // What is surely spent still can never fit: the floor, or the output.
    let floored = Cost {
        input_floor: 6_500.0,
        ..estimate(8_000.0, 0.0)
    };
    assert_eq!(
        l.check(T0, floored),
        Decision::Never {
            dim: Dim::InputTokens,
            cost: 6_500.0,
            capacity: 6_000.0
        }
    );
    assert_eq!(
        l.check(T0, estimate(9_000.0, 10_001.0)),
        Decision::Never {
            dim: Dim::Tokens,
            cost: 10_001.0,
            capacity: 10_000.0
        }
    );
    assert_eq!(l.stated_wait(T0, estimate(1e9, 0.0)), None, "configured");
}

#[test]
fn output_tokens_admit_wait_never() {
    let mut l = Limiter::new(limits(None, None, Some(1_200.0), None), T0); // 0.02 / ms
    admit(&mut l, T0, cost(1e9, 1_000.0)); // input is not metered here
    let (until, blocker) = wait(l.check(T0 + 1_000.0, cost(0.0, 500.0)));
    assert_eq!(blocker, Blocker::Dim(Dim::OutputTokens));
    // level at +1 s: 200 + 20 = 220; needs 280 more at 0.02/ms = 14 000 ms.
    assert!(close(until - (T0 + 1_000.0), 14_000.0), "{}", until - T0);
    assert!(matches!(
        l.check(T0, cost(0.0, 1_201.0)),
        Decision::Never {
            dim: Dim::OutputTokens,
            ..
        }
    ));
}

#[test]
fn combined_tokens_count_input_plus_output() {
    let mut l = Limiter::new(limits(None, None, None, Some(10_000.0)), T0);
    admit(&mut l, T0, cost(3_000.0, 4_000.0));
    assert!(close(level(&l, T0, Dim::Tokens), 3_000.0));
    let (_, blocker) = wait(l.check(T0, cost(2_000.0, 1_500.0)));
    assert_eq!(blocker, Blocker::Dim(Dim::Tokens));
    admit(&mut l, T0, cost(2_000.0, 1_000.0));
    assert_eq!(
        l.check(T0, cost(6_000.0, 4_001.0)),
        Decision::Never {
            dim: Dim::Tokens,
            cost: 10_001.0,
            capacity: 10_000.0
        }
    );
}

#[test]
fn no_limits_known_admits_everything() {
    let mut l = Limiter::new(Limits::default(), T0);
    assert!(!l.limits_known());
    for _ in 0..1_000 {
        admit(&mut l, T0, cost(1e9, 1e9));
    }
    assert!(l.snapshot(T0).is_empty());
}

#[test]
fn the_wait_is_what_the_bucket_arithmetic_says_and_waking_then_admits() {
    // Awkward numbers on purpose: the wake-up time must admit, not ask for a few more ulps.
    let lim = limits(Some(7.0), Some(12_345.678), Some(3_333.3), Some(17_000.1));
    let mut l = Limiter::new(lim, T0);
    let mut mirror = [
        Bucket::per_minute(7.0, T0),
        Bucket::per_minute(12_345.678, T0),
        Bucket::per_minute(3_333.3, T0),
        Bucket::per_minute(17_000.1, T0),
    ];
    let mut now = T0;
    let mut waits = 0;
    for i in 0..200 {
        let c = cost(
            1_000.0 + (i * 37 % 900) as f64,
            300.0 + (i * 53 % 700) as f64,
        );
        let costs = [1.0, c.input, c.output, c.input + c.output];
        match l.acquire(now, c) {
            Decision::Admit(_) => {
                for (b, n) in mirror.iter_mut().zip(costs) {
                    assert!(b.level(now) >= n);
                    b.take(now, n);
                }
            }
            Decision::Wait { until_ms, blocker } => {
                waits += 1;
                let expect = mirror
                    .iter()
                    .zip(costs)
                    .map(|(b, n)| b.time_until(now, n).unwrap())
                    .fold(0.0, f64::max);
                assert!(
                    close(until_ms - EDGE_MARGIN_MS - now, expect),
                    "{} vs {expect}",
                    until_ms - now
                );
                let longest = Dim::ALL
                    .into_iter()
                    .zip(mirror.iter().zip(costs))
                    .max_by(|a, b| {
                        let ta = a.1 .0.time_until(now, a.1 .1).unwrap();
                        let tb = b.1 .0.time_until(now, b.1 .1).unwrap();
                        ta.partial_cmp(&tb)
                            .unwrap()
                            .then(std::cmp::Ordering::Greater)
                    })
                    .unwrap()
                    .0;
                assert_eq!(blocker, Blocker::Dim(longest));
                now = until_ms;
                admit(&mut l, now, c);
                for (b, n) in mirror.iter_mut().zip(costs) {
                    b.take(now, n);
                }
            }
            d => panic!("{d:?}"),
        }
        now += 250.0;
    }
    assert!(waits > 50, "the workload must actually wait ({waits})");
}

#[test]
fn the_blocker_is_the_longest_wait() {
    let mut l = Limiter::new(limits(Some(60.0), Some(60_000.0), None, None), T0);
    admit(&mut l, T0, cost(60_000.0, 0.0)); // ITPM empty: 1 token/ms
    for _ in 0..59 {
        admit(&mut l, T0, cost(0.0, 0.0));
    }
    // RPM: 1 token in 1 000 ms; ITPM: 5 000 tokens in 5 000 ms.
    let (until, b) = wait(l.check(T0, cost(5_000.0, 0.0)));
    assert_eq!(b, Blocker::Dim(Dim::InputTokens));
    assert!(close(until - T0, 5_000.0));
    let (until, b) = wait(l.check(T0, cost(10.0, 0.0)));
    assert_eq!(b, Blocker::Dim(Dim::Requests));
    assert!(close(until - T0, 1_000.0));
}

#[test]
fn never_reports_the_first_dimension_in_order() {
    let l = Limiter::new(
        limits(Some(10.0), Some(100.0), Some(100.0), Some(150.0)),
        T0,
    );
    assert_eq!(
        l.check(T0, cost(200.0, 200.0)),
        Decision::Never {
            dim: Dim::InputTokens,
            cost: 200.0,
            capacity: 100.0
        }
    );
    assert!(matches!(
        l.check(T0, cost(100.0, 100.0)),
        Decision::Never { dim: Dim::Tokens, cost, .. } if cost == 200.0
    ));
}

#[test]
fn invalid_costs_count_as_zero_and_infinite_ones_never_fit() {
    let mut l = Limiter::new(limits(None, Some(100.0), Some(100.0), None), T0);
    let t = admit(&mut l, T0, cost(f64::NAN, -5.0));
    assert_eq!((t.input, t.output), (0.0, 0.0));
    assert_eq!(level(&l, T0, Dim::InputTokens), 100.0);
    assert!(matches!(
        l.check(T0, cost(f64::INFINITY, 0.0)),
        Decision::Never {
            dim: Dim::InputTokens,
            ..
        }
    ));
}

#[test]
fn check_gives_the_answer_acquire_gives_and_changes_nothing() {
    let mut l = Limiter::new(limits(Some(30.0), Some(9_000.0), Some(2_000.0), None), T0);
    let mut now = T0;
    for i in 0..300u32 {
        let c = cost((i * 97 % 3_000) as f64, (i * 31 % 900) as f64);
        let before = l.clone();
        let checked = l.check(now, c);
        assert_eq!(l, before, "check must not mutate");
        let got = l.acquire(now, c);
        assert_eq!(checked, got);
        if i % 3 == 0 {
            if let Decision::Admit(t) = got {
                l.settle(now + 10.0, t, &usage(t.input * 0.8, t.output * 0.5));
            }
        }
        now += 97.0;
    }
}

#[test]
fn a_dimension_in_debt_holds_even_a_request_that_costs_nothing_there() {
    // Output reservation "none": the output is paid at settlement, and can put OTPM in debt.
    let mut l = Limiter::new(limits(None, None, Some(600.0), None), T0); // 0.01 / ms
    let t = admit(&mut l, T0, cost(100.0, 0.0));
    l.settle(T0, t, &usage(100.0, 900.0));
    assert!(close(level(&l, T0, Dim::OutputTokens), -300.0));
    let (until, b) = wait(l.check(T0, cost(100.0, 0.0)));
    assert_eq!(b, Blocker::Dim(Dim::OutputTokens));
    assert!(close(until - T0, 30_000.0), "the debt is paid back first");
    admit(&mut l, until, cost(100.0, 0.0));
}

// ---------------------------------------------------------------- pause

#[test]
fn a_pause_holds_everything_and_a_later_pause_wins() {
    let mut l = Limiter::new(limits(Some(60.0), None, None, None), T0);
    assert_eq!(l.paused_until(T0), None);
    l.pause_until(T0 + 5_000.0);
    l.pause_until(T0 + 2_000.0); // earlier: ignored
    l.pause_until(f64::NAN); // garbage: ignored
    assert_eq!(l.paused_until(T0), Some(T0 + 5_000.0));
    assert_eq!(
        l.acquire(T0, Cost::default()),
        Decision::Wait {
            until_ms: T0 + 5_000.0,
            blocker: Blocker::Paused
        }
    );
    l.pause_until(T0 + 8_000.0);
    assert_eq!(l.paused_until(T0 + 7_999.0), Some(T0 + 8_000.0));
    assert_eq!(l.paused_until(T0 + 8_000.0), None);
    admit(&mut l, T0 + 8_000.0, Cost::default());
}

#[test]
fn a_pause_works_without_any_known_limit() {
    let mut l = Limiter::new(Limits::default(), T0);
    l.pause_until(T0 + 1_000.0);
    // A pause ends at its own time: no margin is added to it.
    let d = l.check(T0 + 10.0, Cost::default());
    assert_eq!(
        d,
        Decision::Wait {
            until_ms: T0 + 1_000.0,
            blocker: Blocker::Paused
        }
    );
    admit(&mut l, T0 + 1_000.0, Cost::default());
}

#[test]
fn a_bucket_that_needs_longer_than_the_pause_sets_the_time() {
    let mut l = Limiter::new(limits(Some(6.0), None, None, None), T0); // one per 10 s
    for _ in 0..6 {
        admit(&mut l, T0, Cost::default());
    }
    l.pause_until(T0 + 3_000.0);
    let (until, b) = wait(l.check(T0, Cost::default()));
    assert_eq!(b, Blocker::Paused);
    assert!(close(until - T0, 10_000.0));
}

#[test]
fn never_is_reported_at_once_even_while_paused() {
    let mut l = Limiter::new(limits(None, Some(100.0), None, None), T0);
    l.pause_until(T0 + 60_000.0);
    assert!(matches!(
        l.check(T0, cost(101.0, 0.0)),
        Decision::Never { .. }
    ));
}

// ---------------------------------------------------------------- settle and refund

#[test]
fn settle_replaces_the_reservation_by_the_metered_usage() {
    let lim = limits(
        Some(100.0),
        Some(100_000.0),
        Some(50_000.0),
        Some(200_000.0),
    );
    let mut l = Limiter::new(lim, T0);
    let t = admit(&mut l, T0, cost(10_000.0, 8_000.0));
    let u = Usage {
        input_tokens: 7_000.0,
        cache_creation_input_tokens: 2_000.0, // counts
        cache_read_input_tokens: 50_000.0,    // free
        output_tokens: 1_500.0,
    };
    l.settle(T0, t, &u);
    assert_eq!(
        level(&l, T0, Dim::Requests),
        99.0,
        "the request stays counted"
    );
    assert!(close(level(&l, T0, Dim::InputTokens), 100_000.0 - 9_000.0));
    assert!(close(level(&l, T0, Dim::OutputTokens), 50_000.0 - 1_500.0));
    assert!(close(level(&l, T0, Dim::Tokens), 200_000.0 - 10_500.0));
}

// ------------------------------------------------------------ transit (set_latency, arrived)

#[test]
fn an_admission_from_full_counts_the_refill_wasted_in_transit_and_arrival_recounts_it() {
    // 60 RPM and 6 000 OTPM: 1 request and 100 output tokens per second.
    let mut l = Limiter::new(limits(Some(60.0), None, Some(6_000.0), None), T0);
    l.set_latency(3_000.0);
    let t = admit(&mut l, T0, cost(0.0, 500.0));
    assert_eq!(t.latency_ms, 3_000.0);
    assert_eq!(t.headroom[Dim::Requests as usize], 0.0);
    assert_eq!(
        t.headroom[Dim::InputTokens as usize],
        f64::INFINITY,
        "no bucket"
    );
    // Full: the cost plus 3 s of refill.
    assert!(close(level(&l, T0, Dim::Requests), 60.0 - 1.0 - 3.0));
    assert!(close(
        level(&l, T0, Dim::OutputTokens),
        6_000.0 - 500.0 - 300.0
    ));
    // The round trip shows at most 1 s of transit: 2 s of refill come back, in each bucket.
    let mut shorter = l.clone();
    shorter.arrived(T0, t, 1_000.0);
    assert!(close(level(&shorter, T0, Dim::Requests), 60.0 - 1.0 - 1.0));
    assert!(close(
        level(&shorter, T0, Dim::OutputTokens),
        6_000.0 - 500.0 - 100.0
    ));
    // Or 5 s: 2 s more are taken.
    let mut longer = l.clone();
    longer.arrived(T0, t, 5_000.0);
    assert!(close(level(&longer, T0, Dim::Requests), 60.0 - 1.0 - 5.0));
    assert!(close(
        level(&longer, T0, Dim::OutputTokens),
        6_000.0 - 500.0 - 500.0
    ));
    // Exactly the latency counted, or nonsense: nothing changes.
    for transit in [3_000.0, f64::NAN, -1.0, f64::INFINITY] {
        let mut same = l.clone();
        same.arrived(T0, t, transit);
        assert_eq!(same, l, "{transit}");
    }
}

/// A burst of 30 calls from a full bucket of 600 a minute whose answers take 10 s, with no
/// figures: each round trip bounds its transit at 10 s, but the refill of those 10 s is
/// wasted once, not once a call. (Counted for each, the copy fell to 0, and the next burst
/// waited two minutes for a server that had counted 30 requests.)
#[test]
fn the_refill_wasted_in_transit_is_counted_once_for_requests_in_transit_together() {
    let mut l = Limiter::new(limits(Some(600.0), None, None, None), T0);
    l.set_latency(3_000.0);
    let tickets: Vec<Ticket> = (0..30).map(|_| admit(&mut l, T0, cost(0.0, 0.0))).collect();
    // The first admission from full counts 3 s of refill (30 requests), the others none.
    assert!(close(level(&l, T0, Dim::Requests), 600.0 - 30.0 - 30.0));
    let now = T0 + 10_000.0;
    for t in &tickets {
        l.arrived(now, *t, 10_000.0);
        l.lost(now, t);
    }
    // Refilled to full by T0 + 6 s; then the 7 s of transit beyond the 3 s counted at
    // admission, once: 70 requests.
    let left = level(&l, now, Dim::Requests);
    assert!(close(left, 530.0), "{left}");
}

#[test]
fn only_the_refill_above_the_headroom_is_wasted() {
    let mut l = Limiter::new(limits(Some(60.0), None, None, None), T0);
    l.set_latency(3_000.0);
    let _ = admit(&mut l, T0, cost(0.0, 0.0)); // 60 - 1 - 3 = 56
                                               // 2 s later: 58, two below full. A 3 s transit wastes the third second only.
    let t = admit(&mut l, T0 + 2_000.0, cost(0.0, 0.0));
    assert!(close(t.headroom[Dim::Requests as usize], 2.0));
    assert!(close(
        level(&l, T0 + 2_000.0, Dim::Requests),
        58.0 - 1.0 - 1.0
    ));
    // A transit of 2 s or less wasted nothing: the 1 comes back.
    let mut short = l.clone();
    short.arrived(T0 + 2_000.0, t, 1_500.0);
    assert!(close(level(&short, T0 + 2_000.0, Dim::Requests), 57.0));
    // No latency counted (the default, the simulator's exact mirror): nothing is wasted.
    let mut exact = Limiter::new(limits(Some(60.0), None, None, None), T0);
    let _ = admit(&mut exact, T0, cost(0.0, 0.0));
    assert!(close(level(&exact, T0, Dim::Requests), 59.0));
}

#[test]
fn a_give_back_is_void_once_the_bucket_was_full_since_the_admission() {
    // 1 RPM (the fuzz target's case): A is admitted from full at T0, counting 3 s of refill
    // wasted in transit. 64 s later the bucket is full again and B empties it. A's response
    // then comes, showing a short transit: the 3 s it held back were lost at the capacity
    // meanwhile (on the server too), so nothing comes back. Before, they did, and the next
    // request went 2.75 s early.
    let mut l = Limiter::new(limits(Some(1.0), None, None, None), T0);
    l.set_latency(3_000.0);
    let a = admit(&mut l, T0, cost(0.0, 0.0));
    let later = T0 + 64_000.0;
    let _b = admit(&mut l, later, cost(0.0, 0.0));
    let after_b = level(&l, later, Dim::Requests);
    let mut arrived = l.clone();
    arrived.arrived(later, a, 250.0);
    assert_eq!(level(&arrived, later, Dim::Requests), after_b);
    // Nor does a refund of A (a refusal answered after the bucket refilled).
    let mut refunded = l.clone();
    refunded.refund(later, a, false);
    assert_eq!(level(&refunded, later, Dim::Requests), after_b);
    // Within the same fill, a give-back still comes: B's own, at once.
    let b = admit(&mut l, later + 64_000.0, cost(0.0, 0.0));
    let before = level(&l, later + 64_000.0, Dim::Requests);
    l.arrived(later + 64_000.0, b, 0.0);
    assert!(level(&l, later + 64_000.0, Dim::Requests) > before);
}

/// The server's figures that place the copy after a request's admission count its transit's
/// waste as the server had it: recounting it when its own answer comes would count it twice.
/// (In the simulator, with transits up to 300 ms, an opening request's 3 s reserved came back
/// after another's figures had raised the copy: 1,800 output tokens above the server, and a
/// 429 six seconds later.)
#[test]
fn a_copy_placed_by_figures_since_an_admission_keeps_no_transit_to_recount_for_it() {
    let mut l = Limiter::new(limits(None, None, Some(60_000.0), None), T0);
    l.set_latency(3_000.0);
    // Y from full: its 10,000 and 3 s of refill (3,000) counted; then Z.
    let y = admit(&mut l, T0, cost(0.0, 10_000.0));
    let mut z = admit(&mut l, T0, cost(0.0, 10_000.0));
    assert!(close(level(&l, T0, Dim::OutputTokens), 37_000.0));
    // Z's answer places the copy at its figures.
    let now = T0 + 100.0;
    l.observe_answer(now, &openai_otpm(30_000.0), &mut z);
    let placed = level(&l, now, Dim::OutputTokens);
    assert!(close(placed, 30_000.0), "{placed}");
    // Y's answer shows a short transit: nothing more comes back.
    l.arrived(now, y, 250.0);
    assert!(close(level(&l, now, Dim::OutputTokens), placed));
}

#[test]
fn a_give_back_on_arrival_never_lifts_a_level_past_capacity() {
    let mut l = Limiter::new(limits(Some(60.0), None, None, None), T0);
    l.set_latency(3_000.0);
    let t = admit(&mut l, T0, cost(0.0, 0.0));
    // 10 s later the bucket is full again; giving back 3 s of refill finds no room.
    l.arrived(T0 + 10_000.0, t, 0.0);
    assert_eq!(level(&l, T0 + 10_000.0, Dim::Requests), 60.0);
}

#[test]
fn usage_above_the_reservation_is_a_debt_paid_back_by_the_refill() {
    let mut l = Limiter::new(limits(None, Some(6_000.0), None, None), T0);
    let t = admit(&mut l, T0, cost(6_000.0, 0.0));
    l.settle(T0 + 1_000.0, t, &usage(9_000.0, 0.0));
    // Refilled 100 meanwhile, then 3 000 more taken.
    assert!(close(level(&l, T0 + 1_000.0, Dim::InputTokens), -2_900.0));
    let (until, _) = wait(l.check(T0 + 1_000.0, cost(100.0, 0.0)));
    assert!(close(until - (T0 + 1_000.0), 30_000.0));
}

#[test]
fn giving_back_never_lifts_a_level_above_capacity() {
    let mut l = Limiter::new(limits(None, None, Some(6_000.0), None), T0);
    let t = admit(&mut l, T0, cost(0.0, 4_000.0));
    // A minute later the bucket has refilled to full; the unused 3 900 have nowhere to go.
    l.settle(T0 + 60_000.0, t, &usage(0.0, 100.0));
    assert_eq!(level(&l, T0 + 60_000.0, Dim::OutputTokens), 6_000.0);
}

#[test]
fn garbage_usage_keeps_the_reservation_and_bad_fields_count_as_zero() {
    let mut l = Limiter::new(limits(None, Some(10_000.0), Some(10_000.0), None), T0);
    let t = admit(&mut l, T0, cost(1_000.0, 2_000.0));
    let garbage = Usage {
        input_tokens: f64::NAN,
        cache_creation_input_tokens: -1.0,
        cache_read_input_tokens: f64::INFINITY,
        output_tokens: 1e30,
    };
    l.settle(T0, t, &garbage);
    assert_eq!(level(&l, T0, Dim::InputTokens), 9_000.0);
    assert_eq!(level(&l, T0, Dim::OutputTokens), 8_000.0);
    let t = admit(&mut l, T0, cost(1_000.0, 2_000.0));
    l.settle(
        T0,
        t,
        &Usage {
            input_tokens: 500.0,
            output_tokens: f64::NAN,
            ..Usage::default()
        },
    );
    assert_eq!(level(&l, T0, Dim::InputTokens), 8_500.0);
    assert_eq!(level(&l, T0, Dim::OutputTokens), 8_000.0, "NaN output = 0");
}

#[test]
fn refund_gives_the_tokens_back_and_the_request_unless_kept() {
    let lim = limits(Some(10.0), Some(10_000.0), Some(10_000.0), Some(20_000.0));
    let mut l = Limiter::new(lim, T0);
    let a = admit(&mut l, T0, cost(3_000.0, 2_000.0));
    let b = admit(&mut l, T0, cost(1_000.0, 1_000.0));
    l.refund(T0, a, true);
    assert_eq!(level(&l, T0, Dim::Requests), 8.0);
    assert_eq!(level(&l, T0, Dim::InputTokens), 9_000.0);
    assert_eq!(level(&l, T0, Dim::OutputTokens), 9_000.0);
    assert_eq!(level(&l, T0, Dim::Tokens), 18_000.0);
    l.refund(T0, b, false);
    assert_eq!(level(&l, T0, Dim::Requests), 9.0);
    assert_eq!(level(&l, T0, Dim::InputTokens), 10_000.0);
    assert_eq!(level(&l, T0, Dim::Tokens), 20_000.0);
}

// ---------------------------------------------------------------- observe

#[test]
fn observe_learns_unknown_limits_from_headers() {
    let mut l = Limiter::new(Limits::default(), T0);
    let info = RateLimitInfo {
        requests: dim_info(Some(50.0), Some(49.0)),
        input_tokens: DimInfo {
            limit: Some(30_000.0),
            remaining: Some(28_000.0),
            rounded: true,
            ..DimInfo::default()
        },
        output_tokens: DimInfo {
            limit: Some(8_000.0),
            window_ms: Some(30_000.0),
            ..DimInfo::default()
        },
        ..RateLimitInfo::default()
    };
    assert!(l.observe(T0, &info), "learning is a change");
    assert!(l.limits_known());
    assert_eq!(l.capacity(Dim::Requests), Some(50.0));
    assert_eq!(l.capacity(Dim::Tokens), None);
    let snap = l.snapshot(T0);
    assert_eq!(
        snap.iter().map(|s| s.dim).collect::<Vec<_>>(),
        [Dim::Requests, Dim::InputTokens, Dim::OutputTokens]
    );
    assert!(snap.iter().all(|s| s.source == Source::Headers));
    assert_eq!(snap[0].remaining, 49.0);
    assert_eq!(
        snap[1].remaining, 28_000.0,
        "rounded: the server's figure (the truth is within a thousand of it)"
    );
    assert_eq!(snap[2].remaining, 8_000.0, "no remaining: full");
    // The window came from the headers: 8 000 per 30 s.
    admit(&mut l, T0, cost(0.0, 8_000.0));
    let (until, _) = wait(l.check(T0, cost(0.0, 8_000.0)));
    assert!(close(until - T0, 30_000.0));
    // The same headers again change no limit.
    assert!(!l.observe(T0 + 1.0, &info));
}

#[test]
fn figures_at_odds_with_a_continuous_refill_hold_it_until_their_reset_unless_anthropic() {
    // Half the quota left, and full only in about a minute: a continuous bucket would be full
    // in half that. The server counts by windows: nothing comes back before the reset, then
    // all. A reset to the millisecond is taken as stated; one in whole seconds a second late
    // (the server may have rounded it down).
    let info = |family, reset| RateLimitInfo {
        requests: DimInfo {
            limit: Some(10.0),
            remaining: Some(5.0),
            reset_at_ms: Some(T0 + reset),
            ..DimInfo::default()
        },
        family,
        ..RateLimitInfo::default()
    };
    for (reset, end) in [(59_250.0, 59_250.0), (60_000.0, 61_000.0)] {
        for family in [Family::OpenAi, Family::Ietf] {
            let mut l = Limiter::new(Limits::default(), T0);
            l.observe(T0, &info(family, reset));
            let at = |t: f64| level(&l, T0 + t, Dim::Requests);
            assert_eq!(at(end - 1.0), 5.0, "{family:?} {reset}");
            assert_eq!(at(end), 10.0, "{family:?} {reset}");
            // What is left goes (less any headroom left to the others it presumes); then the
            // next request waits for the reset, not for a continuous refill.
            let mut admitted = 0;
            let until = loop {
                match l.acquire(T0 + 1_000.0, Cost::default()) {
                    Decision::Admit(_) => admitted += 1,
                    d => break wait(d).0,
                }
            };
            assert!((1..=5).contains(&admitted), "{family:?}: {admitted}");
            assert!(close(until, T0 + end), "{family:?}: {}", until - T0);
        }
    }
    // Anthropic documents continuous buckets: the same figures are clocks apart, and the
    // copy refills from the server's `remaining` as usual.
    let mut l = Limiter::new(Limits::default(), T0);
    l.observe(T0, &info(Family::Anthropic, 60_000.0));
    assert!(close(level(&l, T0 + 30_000.0, Dim::Requests), 10.0));
}

#[test]
fn a_refusal_of_a_spent_bucket_full_again_only_past_its_window_holds_it_to_its_reset() {
    // 200 requests a minute, none left, full again in 2 min 30 s, and a request refused with
    // no hint: a continuous refill would have the bucket full within the minute, so the
    // server does not refill continuously (OpenAI's names carry limits of other windows
    // too). Until this was read, the next request went 300 ms later, and every one after
    // drew the same 429 until the reset.
    let info = |family, reset| RateLimitInfo {
        requests: DimInfo {
            limit: Some(200.0),
            remaining: Some(0.0),
            reset_at_ms: Some(T0 + reset),
            ..DimInfo::default()
        },
        family,
        ..RateLimitInfo::default()
    };
    let refused = |family, reset| {
        let mut l = Limiter::new(Limits::default(), T0);
        l.observe(T0, &info(family, reset));
        let t = admit(&mut l, T0 + 300.0, Cost::default());
        l.refund(T0 + 300.0, t, false);
        l.observe_refusal(T0 + 300.0, &info(family, reset), &t, None);
        let (until, _) = wait(l.check(T0 + 300.0, Cost::default()));
        (l, until - T0)
    };
    for family in [Family::OpenAi, Family::Ietf] {
        let (l, wait_ms) = refused(family, 150_000.0);
        // (A reset in whole seconds may be a second late: the server may have rounded it.)
        assert!(
            (150_000.0..=151_001.0).contains(&wait_ms),
            "{family:?}: {wait_ms}"
        );
        assert_eq!(level(&l, T0 + 149_999.0, Dim::Requests), 0.0, "{family:?}");
        assert_eq!(
            level(&l, T0 + 151_000.0, Dim::Requests),
            200.0,
            "{family:?}"
        );
        // Within the window (and the second a reset may be rounded by), a continuous refill.
        for reset in [60_000.0, 60_900.0] {
            let (_, wait_ms) = refused(family, reset);
            assert!(wait_ms < 1_000.0, "{family:?} {reset}: {wait_ms}");
        }
        // An answer's figures alone leave the refill continuous: OpenAI documents resets
        // that no refill explains.
        let mut l = Limiter::new(Limits::default(), T0);
        l.observe(T0, &info(family, 150_000.0));
        let (until, _) = wait(l.check(T0, Cost::default()));
        assert!(until - T0 < 1_000.0, "{family:?}: {}", until - T0);
        // The refusal's figures may be the first the limiter gets (the README's example, the
        // first request of a process): its request counts against the bucket they create,
        // held to the reset too (it was refilled at once, and refused again 300 ms later).
        let mut l = Limiter::new(Limits::default(), T0);
        let t = admit(&mut l, T0 + 100.0, Cost::default());
        l.refund(T0 + 300.0, t, false);
        l.observe_refusal(T0 + 300.0, &info(family, 150_000.0), &t, None);
        let (until, _) = wait(l.check(T0 + 300.0, Cost::default()));
        assert!(
            (150_000.0..=151_001.0).contains(&(until - T0)),
            "{family:?}, first figures: {}",
            until - T0
        );
    }
    // Anthropic's buckets refill continuously: its `remaining` is read as ever (the refusal
    // presumes others took the room: a few seconds, not the reset).
    let (_, wait_ms) = refused(Family::Anthropic, 150_000.0);
    assert!(wait_ms < 10_000.0, "{wait_ms}");
}

#[test]
fn a_refusals_own_retry_after_ends_the_hold_its_figures_set_and_groqs_are_never_windows() {
    // 6,000 tokens a minute, none left, full again in 7.66 s: no continuous refill (100 a
    // second) shows that. A refusal with `retry-after: 2` of a request of 60 tokens: the server
    // says it goes in 2 s. Read as windows (an OpenAI-style server), the hold its figures set
    // ends at the hint, the refused amount back there at least; without the hint it holds to
    // the reset (a window's end: full there). Groq documents token buckets: never windows, its
    // `remaining` refilled continuously (the request fits within the hint).
    let info = |family, hint| RateLimitInfo {
        tokens: DimInfo {
            limit: Some(6_000.0),
            remaining: Some(0.0),
            reset_at_ms: Some(T0 + 300.0 + 7_660.0),
            ..DimInfo::default()
        },
        retry_after_ms: hint,
        family,
        ..RateLimitInfo::default()
    };
    let refused = |family, hint| {
        let mut l = Limiter::new(Limits::default(), T0);
        let t = admit(&mut l, T0 + 100.0, cost(10.0, 50.0));
        l.refund(T0 + 300.0, t, false);
        l.observe_refusal(T0 + 300.0, &info(family, hint), &t, hint);
        match l.check(T0 + 300.0, cost(10.0, 50.0)) {
            Decision::Admit(_) => (l, 0.0),
            d => (l, wait(d).0 - T0 - 300.0),
        }
    };
    let (l, wait_ms) = refused(Family::OpenAi, Some(2_000.0));
    assert!(wait_ms <= 2_000.0, "OpenAI, hinted: {wait_ms}");
    assert!(level(&l, T0 + 300.0 + 2_000.0, Dim::Tokens) >= 60.0);
    let (l, wait_ms) = refused(Family::OpenAi, None);
    assert!(close(wait_ms, 7_660.0), "OpenAI, no hint: {wait_ms}");
    assert_eq!(level(&l, T0 + 300.0 + 7_660.0, Dim::Tokens), 6_000.0);
    for hint in [Some(2_000.0), None] {
        let (l, wait_ms) = refused(Family::Groq, hint);
        assert!(wait_ms <= 1_000.0, "Groq, {hint:?}: {wait_ms}");
        assert!(
            close(level(&l, T0 + 1_300.0, Dim::Tokens), 100.0),
            "Groq, {hint:?}: refilled continuously"
        );
    }
    // A hint past the reset changes nothing: the hold ends at the reset, whole.
    let (l, wait_ms) = refused(Family::OpenAi, Some(9_000.0));
    assert!(close(wait_ms, 7_660.0), "OpenAI, a longer hint: {wait_ms}");
    assert_eq!(level(&l, T0 + 300.0 + 7_660.0, Dim::Tokens), 6_000.0);
}

#[test]
fn a_reset_in_whole_seconds_is_no_sign_of_windows_within_the_second_it_may_be_rounded_by() {
    // A continuous bucket of 600 a minute (10 a second), 300 left: full again in 30 s. Said
    // as "29 s" (rounded down), the reset puts the level up to 10 above `remaining`: the
    // bucket stays continuous and refills at once. "28 s" is more than rounding explains.
    let info = |reset: f64| RateLimitInfo {
        requests: DimInfo {
            limit: Some(600.0),
            remaining: Some(300.0),
            reset_at_ms: Some(T0 + reset),
            window_ms: Some(60_000.0),
            ..DimInfo::default()
        },
        family: Family::OpenAi,
        ..RateLimitInfo::default()
    };
    for (reset, windowed) in [(30_000.0, false), (29_000.0, false), (28_000.0, true)] {
        let mut l = Limiter::new(Limits::default(), T0);
        l.observe(T0, &info(reset));
        let refilled = level(&l, T0 + 1_000.0, Dim::Requests) > 300.0;
        assert_eq!(refilled, !windowed, "reset {reset}");
    }
}

#[test]
fn observe_lowers_levels_but_never_raises_them() {
    let mut l = Limiter::new(limits(Some(100.0), None, None, None), T0);
    for _ in 0..40 {
        admit(&mut l, T0, Cost::default());
    }
    let mut info = RateLimitInfo {
        requests: dim_info(Some(100.0), Some(90.0)),
        ..RateLimitInfo::default()
    };
    assert!(!l.observe(T0, &info));
    assert_eq!(
        level(&l, T0, Dim::Requests),
        60.0,
        "in-flight ones stay reserved"
    );
    info.requests.remaining = Some(20.0);
    assert!(!l.observe(T0, &info), "a level is not a limit");
    assert_eq!(level(&l, T0, Dim::Requests), 20.0);
}

#[test]
fn a_configured_limit_is_lowered_by_the_server_but_never_raised() {
    let mut l = Limiter::new(limits(Some(100.0), Some(50_000.0), None, None), T0);
    let info = RateLimitInfo {
        requests: dim_info(Some(50.0), None),
        input_tokens: dim_info(Some(400_000.0), Some(400_000.0)),
        ..RateLimitInfo::default()
    };
    assert!(l.observe(T0, &info));
    assert_eq!(l.capacity(Dim::Requests), Some(50.0));
    assert_eq!(l.capacity(Dim::InputTokens), Some(50_000.0));
    assert_eq!(level(&l, T0, Dim::InputTokens), 50_000.0);
    let snap = l.snapshot(T0);
    assert!(snap.iter().all(|s| s.source == Source::Configured));
    // The server raises its limit: back up to the configured one, no further.
    let info = RateLimitInfo {
        requests: dim_info(Some(1_000.0), None),
        ..RateLimitInfo::default()
    };
    assert!(l.observe(T0 + 1.0, &info));
    assert_eq!(l.capacity(Dim::Requests), Some(100.0));
    assert!(!l.observe(T0 + 2.0, &info));
}

#[test]
fn a_configured_limit_with_another_window_keeps_both_the_smaller_burst_and_rate() {
    let mut l = Limiter::new(limits(Some(120.0), None, None, None), T0); // 2 per s
    let info = RateLimitInfo {
        requests: DimInfo {
            limit: Some(10.0),
            window_ms: Some(1_000.0), // burst 10, 10 per s
            ..DimInfo::default()
        },
        ..RateLimitInfo::default()
    };
    assert!(l.observe(T0, &info));
    assert_eq!(l.capacity(Dim::Requests), Some(10.0));
    for _ in 0..10 {
        admit(&mut l, T0, Cost::default());
    }
    let (until, _) = wait(l.check(T0, Cost::default()));
    assert!(close(until - T0, 500.0), "the configured rate: 2 per s");
}

#[test]
fn a_limit_learned_from_headers_follows_the_server() {
    let mut l = Limiter::new(Limits::default(), T0);
    let info = |limit| RateLimitInfo {
        requests: dim_info(Some(limit), None),
        ..RateLimitInfo::default()
    };
    assert!(l.observe(T0, &info(50.0)));
    assert!(l.observe(T0, &info(1_000.0)));
    assert_eq!(l.capacity(Dim::Requests), Some(1_000.0));
    assert_eq!(
        level(&l, T0, Dim::Requests),
        50.0,
        "a higher limit adds no tokens"
    );
    assert!(l.observe(T0, &info(20.0)));
    assert_eq!(level(&l, T0, Dim::Requests), 20.0);
}

#[test]
fn remaining_without_a_known_limit_is_ignored() {
    let mut l = Limiter::new(Limits::default(), T0);
    let info = RateLimitInfo {
        requests: DimInfo {
            remaining: Some(3.0),
            reset_at_ms: Some(T0 + 1_000.0),
            ..DimInfo::default()
        },
        ..RateLimitInfo::default()
    };
    assert!(!l.observe(T0, &info));
    assert!(!l.limits_known());
}

#[test]
fn remaining_applies_to_a_configured_limit_without_the_server_limit() {
    let mut l = Limiter::new(limits(None, None, Some(8_000.0), None), T0);
    let info = RateLimitInfo {
        output_tokens: DimInfo {
            remaining: Some(3_000.0),
            rounded: true,
            ..DimInfo::default()
        },
        ..RateLimitInfo::default()
    };
    assert!(!l.observe(T0, &info));
    assert_eq!(level(&l, T0, Dim::OutputTokens), 3_000.0);
    // A rounded remaining of 0 counts as 0, never negative.
    let mut info = info;
    info.output_tokens.remaining = Some(0.0);
    l.observe(T0, &info);
    assert_eq!(level(&l, T0, Dim::OutputTokens), 0.0);
}

#[test]
fn a_reset_time_alone_bounds_the_level() {
    // 60 000 per minute = 1 per ms. Full in 20 s: at most 40 000 now.
    let mut l = Limiter::new(Limits::default(), T0);
    let info = RateLimitInfo {
        input_tokens: DimInfo {
            limit: Some(60_000.0),
            reset_at_ms: Some(T0 + 20_000.0),
            ..DimInfo::default()
        },
        ..RateLimitInfo::default()
    };
    l.observe(T0, &info);
    assert!(close(level(&l, T0, Dim::InputTokens), 40_000.0));
    assert!(close(l.snapshot(T0)[0].reset_at_ms, T0 + 20_000.0));
    // One beyond a window means empty, not debt.
    let mut later = info.clone();
    later.input_tokens.reset_at_ms = Some(T0 + 600_000.0);
    l.observe(T0, &later);
    assert_eq!(level(&l, T0, Dim::InputTokens), 0.0);
    // A reset in the past means full now: with nothing of ours in flight, the copy is raised.
    later.input_tokens.reset_at_ms = Some(T0 - 5.0);
    l.observe(T0, &later);
    assert_eq!(level(&l, T0, Dim::InputTokens), 60_000.0);
}

#[test]
fn remaining_wins_over_the_reset_time_when_both_are_sent() {
    let mut l = Limiter::new(Limits::default(), T0);
    let info = RateLimitInfo {
        input_tokens: DimInfo {
            limit: Some(60_000.0),
            remaining: Some(50_000.0),
            reset_at_ms: Some(T0 + 50_000.0), // would say 10 000
            ..DimInfo::default()
        },
        ..RateLimitInfo::default()
    };
    l.observe(T0, &info);
    assert_eq!(level(&l, T0, Dim::InputTokens), 50_000.0);
}

#[test]
fn tokens_headers_count_only_when_the_specific_ones_are_absent() {
    let tokens = dim_info(Some(10_000.0), Some(1_000.0));
    // Anthropic with specific headers: `tokens-*` is ignored.
    let mut l = Limiter::new(Limits::default(), T0);
    let info = RateLimitInfo {
        input_tokens: dim_info(Some(40_000.0), None),
        tokens,
        ..RateLimitInfo::default()
    };
    l.observe(T0, &info);
    assert_eq!(l.capacity(Dim::Tokens), None);
    assert_eq!(l.capacity(Dim::InputTokens), Some(40_000.0));
    // Only `tokens-*` (OpenAI style): the combined bucket.
    let mut l = Limiter::new(Limits::default(), T0);
    let info = RateLimitInfo {
        requests: dim_info(Some(500.0), None),
        tokens,
        ..RateLimitInfo::default()
    };
    assert!(l.observe(T0, &info));
    assert_eq!(l.capacity(Dim::Tokens), Some(10_000.0));
    assert_eq!(level(&l, T0, Dim::Tokens), 1_000.0);
}

#[test]
fn priority_tier_headers_are_ignored() {
    let mut l = Limiter::new(Limits::default(), T0);
    let info = RateLimitInfo {
        priority_input_tokens: dim_info(Some(1_000.0), Some(0.0)),
        priority_output_tokens: dim_info(Some(1_000.0), Some(0.0)),
        ..RateLimitInfo::default()
    };
    assert!(!l.observe(T0, &info));
    assert!(!l.limits_known());
}

#[test]
fn garbage_header_numbers_are_ignored() {
    let mut l = Limiter::new(limits(Some(10.0), None, None, None), T0);
    let info = RateLimitInfo {
        requests: DimInfo {
            limit: Some(f64::NAN),
            remaining: Some(f64::INFINITY),
            reset_at_ms: Some(f64::NAN),
            window_ms: Some(-1.0),
            rounded: false,
        },
        input_tokens: dim_info(Some(-5.0), Some(3.0)),
        ..RateLimitInfo::default()
    };
    assert!(!l.observe(T0, &info));
    assert_eq!(l.capacity(Dim::Requests), Some(10.0));
    assert_eq!(level(&l, T0, Dim::Requests), 10.0);
    assert_eq!(l.capacity(Dim::InputTokens), None);
}

#[test]
fn a_ticket_admitted_before_a_limit_was_learned_leaves_that_bucket_alone() {
    let mut l = Limiter::new(Limits::default(), T0);
    let t = admit(&mut l, T0, cost(5_000.0, 4_000.0));
    // Its response teaches the limits; the server already counted this request.
    let info = RateLimitInfo {
        input_tokens: dim_info(Some(30_000.0), Some(25_000.0)),
        output_tokens: dim_info(Some(8_000.0), Some(4_000.0)),
        ..RateLimitInfo::default()
    };
    l.observe(T0 + 500.0, &info);
    l.settle(T0 + 500.0, t, &usage(4_000.0, 100.0));
    assert_eq!(level(&l, T0 + 500.0, Dim::InputTokens), 25_000.0);
    assert_eq!(level(&l, T0 + 500.0, Dim::OutputTokens), 4_000.0);
    // One admitted after learning (even at the same instant) settles normally.
    let u = admit(&mut l, T0 + 500.0, cost(1_000.0, 1_000.0));
    l.settle(T0 + 500.0, u, &usage(600.0, 200.0));
    assert!(close(level(&l, T0 + 500.0, Dim::InputTokens), 24_400.0));
    assert!(close(level(&l, T0 + 500.0, Dim::OutputTokens), 3_800.0));
}

// ---------------------------------------------------------------- snapshot, clock

#[test]
fn snapshot_reports_limit_level_reset_and_source() {
    let mut l = Limiter::new(limits(None, Some(6_000.0), None, Some(1e6)), T0);
    let t = admit(&mut l, T0, cost(3_000.0, 0.0));
    l.settle(T0, t, &usage(9_000.0, 0.0)); // 3 000 in debt
    l.observe(
        T0,
        &RateLimitInfo {
            requests: dim_info(Some(60.0), Some(59.0)),
            ..RateLimitInfo::default()
        },
    );
    let snap = l.snapshot(T0 + 10_000.0);
    assert_eq!(snap.len(), 3);
    assert_eq!(
        snap[0],
        DimState {
            dim: Dim::Requests,
            limit: 60.0,
            window_ms: 60_000.0,
            remaining: 60.0,
            reset_at_ms: T0 + 10_000.0,
            source: Source::Headers,
        }
    );
    assert_eq!(snap[1].dim, Dim::InputTokens);
    assert_eq!(snap[1].source, Source::Configured);
    assert!(close(snap[1].remaining, -2_000.0), "{}", snap[1].remaining);
    assert!(close(snap[1].reset_at_ms, T0 + 90_000.0));
    assert_eq!(snap[2].dim, Dim::Tokens);
}

#[test]
fn time_never_runs_backwards() {
    let mut l = Limiter::new(limits(Some(60.0), None, None, None), T0);
    for _ in 0..60 {
        admit(&mut l, T0 + 5_000.0, Cost::default());
    }
    // An earlier `now` is taken as the latest one seen.
    let (until, _) = wait(l.check(T0, Cost::default()));
    assert!(close(until - T0, 6_000.0));
    assert_eq!(level(&l, T0, Dim::Requests), 0.0);
    assert!(matches!(
        l.acquire(f64::NAN, Cost::default()),
        Decision::Wait { .. }
    ));
}

// ---------------------------------------------------------------- properties

#[derive(Debug, Clone)]
enum Op {
    Acquire { input: f64, output: f64 },
    Settle { pick: usize, u: Usage },
    Refund { pick: usize, keep: bool },
    Advance { ms: f64 },
}

fn op() -> impl Strategy<Value = Op> {
    let tokens = || 0.0..50_000.0f64;
    prop_oneof![
        (tokens(), tokens()).prop_map(|(input, output)| Op::Acquire { input, output }),
        (any::<usize>(), tokens(), tokens(), tokens(), tokens()).prop_map(
            |(pick, i, cc, cr, o)| Op::Settle {
                pick,
                u: Usage {
                    input_tokens: i,
                    cache_creation_input_tokens: cc,
                    cache_read_input_tokens: cr,
                    output_tokens: o,
                },
            }
        ),
        (any::<usize>(), any::<bool>()).prop_map(|(pick, keep)| Op::Refund { pick, keep }),
        (0.0..10_000.0f64).prop_map(|ms| Op::Advance { ms }),
    ]
}

proptest! {
    /// Conservation: what each bucket has given up equals the real usage of settled tickets
    /// plus the reservations of open ones (refunded ones count nothing, or one request).
    /// The limits are learned with an enormous window, so refill and clamping stay far below
    /// the tolerance.
    #[test]
    fn settle_conserves_tokens(ops in prop::collection::vec(op(), 1..120)) {
        const C: f64 = 1e9;
        let mut l = Limiter::new(Limits::default(), T0);
        let huge = |limit| DimInfo { limit: Some(limit), window_ms: Some(1e18), ..DimInfo::default() };
        l.observe(T0, &RateLimitInfo {
            requests: huge(C), input_tokens: huge(C), output_tokens: huge(C),
            ..RateLimitInfo::default()
        });
        l.observe(T0, &RateLimitInfo { tokens: huge(C), ..RateLimitInfo::default() });
        prop_assert_eq!(l.snapshot(T0).len(), 4);

        let mut now = T0;
        let mut open: Vec<Ticket> = Vec::new();
        let (mut requests, mut input, mut output) = (0.0, 0.0, 0.0);
        for op in ops {
            match op {
                Op::Acquire { input: i, output: o } => {
                    let t = match l.acquire(now, cost(i, o)) {
                        Decision::Admit(t) => t,
                        d => return Err(TestCaseError::fail(format!("{d:?}"))),
                    };
                    open.push(t);
                    requests += 1.0;
                    input += i;
                    output += o;
                }
                Op::Settle { pick, u } if !open.is_empty() => {
                    let t = open.swap_remove(pick % open.len());
                    l.settle(now, t, &u);
                    input += u.input_tokens + u.cache_creation_input_tokens - t.input;
                    output += u.output_tokens - t.output;
                }
                Op::Refund { pick, keep } if !open.is_empty() => {
                    let t = open.swap_remove(pick % open.len());
                    l.refund(now, t, keep);
                    input -= t.input;
                    output -= t.output;
                    if !keep {
                        requests -= 1.0;
                    }
                }
                Op::Advance { ms } => now += ms,
                _ => {}
            }
            let tol = 1e-2;
            prop_assert!((C - level(&l, now, Dim::Requests) - requests).abs() < tol);
            prop_assert!((C - level(&l, now, Dim::InputTokens) - input).abs() < tol);
            prop_assert!((C - level(&l, now, Dim::OutputTokens) - output).abs() < tol);
            prop_assert!((C - level(&l, now, Dim::Tokens) - input - output).abs() < tol);
        }
    }

    /// `check` never disagrees with `acquire`, whatever the state.
    #[test]
    fn check_agrees_with_acquire(ops in prop::collection::vec(op(), 1..80), paused in any::<bool>()) {
        let lim = limits(Some(20.0), Some(120_000.0), Some(60_000.0), Some(150_000.0));
        let mut l = Limiter::new(lim, T0);
        if paused {
            l.pause_until(T0 + 20_000.0);
        }
        let mut now = T0;
        let mut open = Vec::new();
        for op in ops {
            match op {
                Op::Acquire { input, output } => {
                    let c = cost(input, output);
                    let before = l.clone();
                    let checked = l.check(now, c);
                    prop_assert_eq!(&l, &before);
                    let got = l.acquire(now, c);
                    prop_assert_eq!(checked, got);
                    if let Decision::Admit(t) = got {
                        open.push(t);
                    }
                    if let Decision::Wait { until_ms, .. } = got {
                        prop_assert!(until_ms > now);
                    }
                }
                Op::Settle { pick, u } if !open.is_empty() => {
                    let t = open.swap_remove(pick % open.len());
                    l.settle(now, t, &u);
                }
                Op::Refund { pick, keep } if !open.is_empty() => {
                    let t = open.swap_remove(pick % open.len());
                    l.refund(now, t, keep);
                }
                Op::Advance { ms } => now += ms,
                _ => {}
            }
        }
    }
}

// ---------------------------------------------------------------- the client never overruns the server

/// One request of a workload.
#[derive(Debug, Clone)]
struct Job {
    gap_ms: f64,
    estimate: f64,
    input: f64,
    cache_creation: f64,
    cache_read: f64,
    max_tokens: f64,
    output_share: f64,
    duration_ms: f64,
}

fn job() -> impl Strategy<Value = Job> {
    (
        (0.0..3_000.0f64, 100.0..8_000.0f64, 0.5..1.5f64),
        (0.0..2_000.0f64, 0.0..20_000.0f64),
        (1.0..4_000.0f64, 0.0..=1.0f64, 10.0..20_000.0f64),
    )
        .prop_map(
            |((gap_ms, estimate, err), (cc, cr), (mt, share, dur))| Job {
                gap_ms,
                estimate,
                input: (estimate * err).round(),
                cache_creation: cc.round(),
                cache_read: cr.round(),
                max_tokens: mt.round(),
                output_share: share,
                duration_ms: dur,
            },
        )
}

/// The server: the same bucket arithmetic, written out independently. It debits what the
/// request reserves at admission and corrects to the real usage when the request ends.
struct Server {
    buckets: Vec<(Dim, Bucket)>,
}

impl Server {
    fn new(lim: Limits, now: f64) -> Self {
        let mut buckets = Vec::new();
        for (dim, l) in [
            (Dim::Requests, lim.rpm),
            (Dim::InputTokens, lim.itpm),
            (Dim::OutputTokens, lim.otpm),
            (Dim::Tokens, lim.tpm),
        ] {
            if let Some(l) = l {
                buckets.push((dim, Bucket::per_minute(l, now)));
            }
        }
        Server { buckets }
    }
    fn amounts(requests: f64, input: f64, output: f64) -> impl Fn(Dim) -> f64 {
        move |d| match d {
            Dim::Requests => requests,
            Dim::InputTokens => input,
            Dim::OutputTokens => output,
            Dim::Tokens => input + output,
        }
    }
    /// Accept (and debit) or refuse.
    fn admit(&mut self, now: f64, input: f64, output: f64) -> Result<(), String> {
        let a = Self::amounts(1.0, input, output);
        for (d, b) in &self.buckets {
            if b.level(now) < a(*d) - 1e-6 {
                return Err(format!(
                    "server refuses at {now}: {d:?} has {} < {}",
                    b.level(now),
                    a(*d)
                ));
            }
        }
        for (d, b) in &mut self.buckets {
            b.take(now, a(*d));
        }
        Ok(())
    }
    fn end(&mut self, now: f64, reserved: (f64, f64), job: &Job, output: f64) {
        let used_input = job.input + job.cache_creation;
        let before = Self::amounts(0.0, reserved.0, reserved.1);
        let after = Self::amounts(0.0, used_input, output);
        for (d, b) in &mut self.buckets {
            let delta = after(*d) - before(*d);
            if delta >= 0.0 {
                b.take(now, delta);
            } else {
                b.give(now, -delta);
            }
        }
    }
}

/// Drives `jobs` through the client (limiter, or scheduler + limiter) and the server in
/// virtual time; fails if the server would ever refuse a request the client sent.
fn run_against_server(lim: Limits, jobs: &[Job], reserve_output: bool) -> Result<usize, String> {
    let mut client = Limiter::new(lim, T0);
    let mut server = Server::new(lim, T0);
    let mut now = T0;
    let mut arrivals: Vec<f64> = Vec::new();
    for j in jobs {
        now += j.gap_ms;
        arrivals.push(now);
    }
    // (end time, job index, ticket)
    let mut running: Vec<(f64, usize, Ticket)> = Vec::new();
    let mut next = 0;
    let mut now = T0;
    let mut waits = 0;
    let mut guard = 0;
    while next < jobs.len() || !running.is_empty() {
        guard += 1;
        if guard > 1_000_000 {
            return Err("no progress".into());
        }
        // Endings due now first, in time order.
        running.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        while let Some(&(end, i, t)) = running.first() {
            if end > now {
                break;
            }
            running.remove(0);
            let j = &jobs[i];
            let out = (j.max_tokens * j.output_share).round();
            server.end(end, (t.input, t.output), j, out);
            let u = Usage {
                input_tokens: j.input,
                cache_creation_input_tokens: j.cache_creation,
                cache_read_input_tokens: j.cache_read,
                output_tokens: out,
            };
            client.settle(end, t, &u);
        }
        let mut wake = f64::INFINITY;
        if next < jobs.len() && arrivals[next] <= now {
            let j = &jobs[next];
            let output = if reserve_output { j.max_tokens } else { 0.0 };
            match client.acquire(now, cost(j.estimate, output)) {
                Decision::Admit(t) => {
                    server.admit(now, t.input, t.output)?;
                    running.push((now + j.duration_ms, next, t));
                    next += 1;
                    continue;
                }
                Decision::Wait { until_ms, .. } => {
                    waits += 1;
                    wake = until_ms;
                }
                Decision::Never { .. } => next += 1,
            }
        } else if next < jobs.len() {
            wake = arrivals[next];
        }
        if let Some(&(end, _, _)) = running.iter().min_by(|a, b| a.0.partial_cmp(&b.0).unwrap()) {
            wake = wake.min(end);
        }
        if wake.is_finite() {
            now = now.max(wake);
        }
    }
    Ok(waits)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// With correct limits and no other traffic, every request the limiter admits is one the
    /// server accepts: the server's level is never below the cost at admission.
    #[test]
    fn the_client_never_overruns_the_server(
        jobs in prop::collection::vec(job(), 1..150),
        tpm in prop::option::of(40_000.0..200_000.0f64),
        reserve_output in any::<bool>(),
    ) {
        let lim = limits(Some(50.0), Some(40_000.0), Some(8_000.0), tpm);
        run_against_server(lim, &jobs, reserve_output).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn the_server_check_can_fail() {
    // The harness must catch an overrun: a server with half the client's limits refuses.
    let jobs: Vec<Job> = (0..100)
        .map(|_| Job {
            gap_ms: 10.0,
            estimate: 1_000.0,
            input: 1_000.0,
            cache_creation: 0.0,
            cache_read: 0.0,
            max_tokens: 100.0,
            output_share: 1.0,
            duration_ms: 100.0,
        })
        .collect();
    let lim = limits(Some(50.0), Some(40_000.0), Some(8_000.0), None);
    let waits = run_against_server(lim, &jobs, true).unwrap();
    assert!(waits > 0, "the workload must make the client wait");
    let mut server = Server::new(limits(Some(25.0), None, None, None), T0);
    let mut client = Limiter::new(lim, T0);
    let refused = (0..50).any(|_| {
        let t = admit(&mut client, T0, cost(1.0, 1.0));
        server.admit(T0, t.input, t.output).is_err()
    });
    assert!(refused);
}

// ---------------------------------------------------------------- sharing with unseen clients

/// OTPM 6 000 figures, rounded ([`rounded_output`]).
fn rounded_otpm(remaining: f64) -> RateLimitInfo {
    rounded_output(6_000.0, remaining)
}

/// OTPM figures as Anthropic writes them: `remaining` rounded to the thousand.
fn rounded_output(limit: f64, remaining: f64) -> RateLimitInfo {
    RateLimitInfo {
        output_tokens: DimInfo {
            limit: Some(limit),
            remaining: Some(remaining),
            rounded: true,
            ..DimInfo::default()
        },
        ..RateLimitInfo::default()
    }
}

#[test]
fn a_client_alone_within_the_rounding_is_not_moved() {
    // 6 000 OTPM; our copy says 2 300, 3 300 or 3 900 and the server says "3 000", rounded to
    // the thousand by a convention we cannot know (nearest, down or up: anything in
    // [2 000, 4 000]): consistent, nothing changes and no share is lost.
    for ours in [2_300.0, 3_300.0, 3_900.0] {
        let mut l = Limiter::new(limits(None, None, Some(6_000.0), None), T0);
        admit(&mut l, T0, cost(0.0, 6_000.0 - ours));
        assert!(!l.observe(T0, &rounded_otpm(3_000.0)));
        assert_eq!(level(&l, T0, Dim::OutputTokens), ours);
        // Still refilling at the full rate (0.1 per ms), so no headroom is asked for either.
        let (until, _) = wait(l.check(T0, cost(0.0, ours + 100.0)));
        assert!(close(until - T0, 1_000.0), "{}", until - T0);
    }
}

#[test]
fn a_refusal_brings_a_copy_within_the_rounding_down_to_its_low_end() {
    // Our copy says 3 900, the server "3 000" (the truth anywhere in [2 000, 4 000]), and it
    // refused a request of 3 500: the truth was below 3 500. Left at 3 900 (inside the
    // interval), the copy would send the request again at once, to be refused again; it
    // comes down to 2 000, the least the figure allows, so the next attempt waits for 1 500.
    let mut l = Limiter::new(limits(None, None, Some(6_000.0), None), T0);
    let used = admit(&mut l, T0, cost(0.0, 2_100.0));
    l.settle(T0, used, &usage(0.0, 2_100.0)); // ours: 3 900, nothing in flight
    let t = admit(&mut l, T0, cost(0.0, 3_500.0));
    l.refund(T0, t, false);
    l.observe_refusal(T0, &rounded_otpm(3_000.0), &t, None);
    assert_eq!(level(&l, T0, Dim::OutputTokens), 2_000.0);
    let (until, _) = wait(l.check(T0, cost(0.0, 3_500.0)));
    assert!(close(until - T0, 15_000.0), "{}", until - T0);
    // A refusal whose figures show room for the request's amount here (the low end holds
    // it: another bucket refused) leaves this copy alone.
    let mut l = Limiter::new(limits(None, None, Some(6_000.0), None), T0);
    let used = admit(&mut l, T0, cost(0.0, 2_100.0));
    l.settle(T0, used, &usage(0.0, 2_100.0));
    let t = admit(&mut l, T0, cost(0.0, 1_500.0));
    l.refund(T0, t, false);
    l.observe_refusal(T0, &rounded_otpm(3_000.0), &t, None);
    assert_eq!(level(&l, T0, Dim::OutputTokens), 3_900.0);
}

#[test]
fn a_disagreement_beyond_the_rounding_is_what_others_took() {
    let mut l = Limiter::new(limits(None, None, Some(6_000.0), None), T0);
    let t = admit(&mut l, T0, cost(0.0, 1_000.0)); // ours: 5 000
    l.settle(T0, t, &usage(0.0, 1_000.0)); // nothing of ours in flight
                                           // The server says ~2 000 (at most 3 000, whatever its rounding): others took at least
                                           // 2 000 that we did not see. The copy takes the server's figure.
    l.observe(T0, &rounded_otpm(2_000.0));
    assert_eq!(level(&l, T0, Dim::OutputTokens), 2_000.0);
    // Our share of the refill is halved: the copy refills at half the server's 0.1 per ms
    // (plus the additive increase, 5% of the rate per minute)...
    let after = level(&l, T0 + 10_000.0, Dim::OutputTokens);
    assert!((2_500.0..2_510.0).contains(&after), "{after}");
    // ...and a request needs headroom for the others' lumps (half the rate for 20 s: 1 000)
    // and for what we used ourselves lately (1 000 in the last minute: 83 for 5 s).
    let (until, _) = wait(l.check(T0, cost(0.0, 1_000.0)));
    let need = 1_000.0 + 1_000.0 + 1_000.0 / 60_000.0 * 5_000.0;
    assert!(close(until - T0, (need - 2_000.0) / 0.05), "{}", until - T0);
    // A second disagreement within 5 s is the same news: no second cut.
    let mut soon = l.clone();
    soon.observe(T0 + 1_000.0, &rounded_otpm(0.0));
    let rate = level(&soon, T0 + 2_000.0, Dim::OutputTokens)
        - level(&soon, T0 + 1_000.0, Dim::OutputTokens);
    assert!((50.0..51.0).contains(&rate), "{rate}");
    // Later, another one halves it again.
    let mut later = l.clone();
    later.observe(T0 + 6_000.0, &rounded_otpm(0.0));
    let rate = level(&later, T0 + 7_000.0, Dim::OutputTokens)
        - level(&later, T0 + 6_000.0, Dim::OutputTokens);
    assert!((25.0..26.0).contains(&rate), "{rate}");
}

#[test]
fn a_client_whose_copy_is_below_the_server_is_raised_but_keeps_its_requests_in_flight() {
    // OTPM metered in real time: the server does not count our 2 000 reserved in flight.
    let mut l = Limiter::new(limits(None, None, Some(6_000.0), None), T0);
    let t = admit(&mut l, T0, cost(0.0, 2_000.0));
    admit(&mut l, T0, cost(0.0, 3_000.0));
    l.settle(T0, t, &usage(0.0, 2_000.0)); // one of them is over: 3 000 still in flight
    assert_eq!(level(&l, T0, Dim::OutputTokens), 1_000.0);
    // The server says 6 000 (exact, say, with the reset). Raised, but to 6 000 - 3 000.
    let mut info = rounded_otpm(6_000.0);
    info.output_tokens.reset_at_ms = Some(T0);
    l.observe(T0, &info);
    assert_eq!(level(&l, T0, Dim::OutputTokens), 3_000.0);
}

#[test]
fn a_learned_bucket_takes_the_servers_level_without_learning_a_drain() {
    let mut l = Limiter::new(Limits::default(), T0);
    l.observe(T0, &rounded_otpm(0.0));
    assert_eq!(level(&l, T0, Dim::OutputTokens), 0.0);
    // Refills at the full 0.1 per ms: nothing was taken by "others", it was just unknown.
    assert!(close(level(&l, T0 + 1_000.0, Dim::OutputTokens), 100.0));
}

#[test]
fn reset_and_remaining_together_narrow_the_interval() {
    // Remaining "3 000" alone allows [2 500, 3 500]; the reset says full again in 30 s at
    // 0.1 per ms, so 3 000 now (to within 2 s of refill): [3 000, 3 200]. Ours, 3 400, is
    // above that, so it is lowered to 3 000, where remaining alone would have kept it.
    let mut l = Limiter::new(limits(None, None, Some(6_000.0), None), T0);
    admit(&mut l, T0, cost(0.0, 2_600.0));
    let mut info = rounded_otpm(3_000.0);
    info.output_tokens.reset_at_ms = Some(T0 + 30_000.0);
    l.observe(T0, &info);
    assert!(close(level(&l, T0, Dim::OutputTokens), 3_000.0));
}

#[test]
fn admissions_near_a_full_bucket_spend_the_refill_a_full_server_wastes() {
    // 6 000 OTPM = 0.1 per ms. A request reaches the server up to 100 ms after admission;
    // the server's full bucket cannot refill meanwhile, ours (lowered at admission) would.
    let mut l = Limiter::new(limits(None, None, Some(6_000.0), None), T0);
    l.set_latency(100.0);
    admit(&mut l, T0, cost(0.0, 1_000.0));
    assert!(
        close(level(&l, T0, Dim::OutputTokens), 5_000.0 - 10.0),
        "full: 10 more spent"
    );
    // Far from full, nothing is wasted on the server: the plain cost.
    admit(&mut l, T0, cost(0.0, 1_000.0));
    assert!(close(level(&l, T0, Dim::OutputTokens), 3_990.0));
    // Without a latency (the default) the mirror is exact.
    let mut exact = Limiter::new(limits(None, None, Some(6_000.0), None), T0);
    admit(&mut exact, T0, cost(0.0, 1_000.0));
    assert_eq!(level(&exact, T0, Dim::OutputTokens), 5_000.0);
}

// ---------------------------------------------------------------- waits the server states

#[test]
fn the_stated_wait_leaves_out_the_estimate_of_others() {
    // Learned 6 000 OTPM; the server shows ~0 while we thought 5 000 were left: others took
    // them. The drain estimate slows our copy's refill and asks for headroom, so `check`
    // waits far longer than the server's own arithmetic (1 000 tokens at 0.1 per ms, 10 s
    // from the level we were lowered to) — only the latter is a wait the server states.
    let mut l = Limiter::new(Limits::default(), T0);
    l.observe(T0, &rounded_otpm(6_000.0));
    let t = admit(&mut l, T0, cost(0.0, 1_000.0));
    l.settle(T0, t, &usage(0.0, 1_000.0));
    l.observe(T0, &rounded_otpm(0.0));
    let lvl = level(&l, T0, Dim::OutputTokens);
    assert_eq!(lvl, 0.0);
    let c = cost(0.0, 1_000.0);
    let (until, _) = wait(l.check(T0, c));
    let stated = l.stated_wait(T0, c).expect("short");
    assert!(close(stated, 10_000.0), "{stated}");
    assert!(until - T0 > 2.0 * stated, "{} vs {stated}", until - T0);
    // Our copy's level is the estimate of the server's (refilled at the rate left to us);
    // once it holds the cost, nothing is stated.
    assert_eq!(l.stated_wait(T0 + 120_000.0, c), None);
}

#[test]
fn the_stated_wait_leaves_out_our_own_estimates() {
    // Learned 30 000 ITPM, 29 990 left. A request estimated (the built-in estimate, vouching
    // for none of it) at 20 000 is in flight; another such waits. By our copy it is 10 000
    // short, 20 s of refill; but the first may settle at 10 tokens, and the second may cost
    // as little: the server states no wait (a probe found such a call failed with
    // RETRY_AFTER_TOO_LONG at maxRetryAfterMs 15 s, its server never short).
    let mut l = Limiter::new(Limits::default(), T0);
    let itpm = |remaining: f64| RateLimitInfo {
        input_tokens: dim_info(Some(30_000.0), Some(remaining)),
        ..RateLimitInfo::default()
    };
    l.observe(T0, &itpm(29_990.0));
    let guess = Cost {
        input: 20_000.0,
        output: 0.0,
        input_floor: 0.0,
        output_estimated: 0.0,
    };
    let first = admit(&mut l, T0, guess);
    assert!(matches!(l.check(T0, guess), Decision::Wait { .. }));
    assert_eq!(l.stated_wait(T0, guess), None);
    // Vouched for, the second's own cost counts, but not the first's reservation.
    assert_eq!(l.stated_wait(T0, cost(20_000.0, 0.0)), None);
    // Settled at what the server counted, the first is no longer in flight: a vouched cost
    // above the level is the server's word.
    l.settle(T0, first, &usage(10.0, 0.0));
    l.observe(T0, &itpm(0.0));
    let stated = l.stated_wait(T0, cost(20_000.0, 0.0)).expect("short");
    assert!(close(stated, 40_000.0), "{stated}");
    // A request in flight is one request, however it settles: not given back.
    let mut l = Limiter::new(Limits::default(), T0);
    l.observe(
        T0,
        &RateLimitInfo {
            requests: dim_info(Some(60.0), Some(1.0)),
            ..RateLimitInfo::default()
        },
    );
    admit(&mut l, T0, Cost::default());
    let stated = l.stated_wait(T0, Cost::default()).expect("short");
    assert!(close(stated, 1_000.0), "{stated}");
}

const HOUR: f64 = 3_600_000.0;

/// A learned daily window (IETF `q=1000;w=86400`) with `remaining` left, its reset 10 h after
/// `T0`.
fn daily_window(remaining: f64) -> RateLimitInfo {
    RateLimitInfo {
        family: Family::Ietf,
        requests: DimInfo {
            limit: Some(1_000.0),
            remaining: Some(remaining),
            reset_at_ms: Some(T0 + 10.0 * HOUR),
            window_ms: Some(24.0 * HOUR),
            ..DimInfo::default()
        },
        ..RateLimitInfo::default()
    }
}

/// A limiter that learned a daily window from headers, spent, its reset 10 h ahead (read
/// twice, a second apart: figures that no continuous refill explains).
fn spent_daily_window() -> Limiter {
    let mut l = Limiter::new(Limits::default(), T0);
    l.observe(T0, &daily_window(0.0));
    l.observe(T0 + 1_000.0, &daily_window(0.0));
    l
}

#[test]
fn the_stated_wait_of_a_spent_window_lasts_until_its_reset() {
    // A learned daily window (IETF `q=1000;w=86400`) spent, its reset 10 h ahead: the
    // server gives nothing back before then. One request's refill at a day's rate is 86.4 s;
    // the wait the server states is 10 h (a probe saw the call held 10 h in silence, under a
    // maxRetryAfterMs of 5 minutes).
    let l = spent_daily_window();
    let now = T0 + 1_000.0;
    let (until, _) = wait(l.check(now, Cost::default()));
    let stated = l.stated_wait(now, Cost::default()).expect("short");
    assert!(
        until - now > 9.0 * HOUR,
        "the copy waits for the reset: {}",
        until - now
    );
    assert!(stated > 9.0 * HOUR, "{stated}");
}

#[test]
fn a_window_s_count_of_what_is_left_is_the_level_not_a_level_floored() {
    // A daily window (IETF `q=1000;w=86400`) spent, its reset 10 h ahead; then the server says
    // one request is left (a sliding log's oldest expired, or a request of ours refused and
    // not counted). A server that counts by windows refills nothing in between: one request
    // goes now (before: the copy, at 0, was within one of the figure and stayed there, and
    // the request waited for the reset; a sliding log of 10 a minute with 0.3-3 s of transit
    // took 1.37 times its lower bound in `scripts/bench/windows.mjs`, 1.06 now).
    let mut l = spent_daily_window();
    let now = T0 + 2_000.0;
    assert!(matches!(
        l.check(now, Cost::default()),
        Decision::Wait { .. }
    ));
    l.observe(now, &daily_window(1.0));
    assert!(matches!(l.check(now, Cost::default()), Decision::Admit(_)));
    admit(&mut l, now, Cost::default());
    let (until, _) = wait(l.check(now, Cost::default()));
    assert!(until - now > 9.0 * HOUR, "one, not more: {}", until - now);
}

#[test]
fn a_long_window_first_seen_near_its_end_gives_a_request_back_at_its_reset() {
    // A day's quota (IETF `q=100;w=86400`) spent, its window ending in 20 s: first seen
    // that late, the reset may be a sliding log's oldest request expiring as well as the
    // window's end, so the quota is not taken as whole then; but a request comes back
    // either way. Until then, the next one waited for a day's refill of one request (864 s)
    // and failed as too long a wait.
    let mut l = Limiter::new(Limits::default(), T0);
    let info = RateLimitInfo {
        family: Family::Ietf,
        requests: DimInfo {
            limit: Some(100.0),
            remaining: Some(0.0),
            reset_at_ms: Some(T0 + 20_000.0),
            window_ms: Some(24.0 * HOUR),
            ..DimInfo::default()
        },
        ..RateLimitInfo::default()
    };
    l.observe(T0, &info);
    let now = T0 + 100.0;
    let (until, _) = wait(l.check(now, Cost::default()));
    let stated = l.stated_wait(now, Cost::default()).expect("short");
    // (A reset in whole seconds may be a second late.)
    assert!(
        (20_000.0..=21_001.0).contains(&(until - T0)),
        "{}",
        until - T0
    );
    assert!(stated <= 21_000.0, "{stated}");
    // One request, not the day's quota: the next waits for the server's next figures.
    admit(&mut l, until, Cost::default());
    let (next, _) = wait(l.check(until, Cost::default()));
    assert!(next - until > 600_000.0, "{}", next - until);
}

#[test]
fn the_stated_wait_of_a_learned_month_window_is_a_month() {
    const DAY: f64 = 86_400_000.0;
    let mut l = Limiter::new(Limits::default(), T0);
    let info = RateLimitInfo {
        requests: DimInfo {
            limit: Some(1.0),
            remaining: Some(0.0),
            window_ms: Some(30.0 * DAY),
            ..DimInfo::default()
        },
        ..RateLimitInfo::default()
    };
    l.observe(T0, &info);
    let stated = l.stated_wait(T0, Cost::default()).expect("short");
    assert!(close(stated, 30.0 * DAY), "{stated}");
}

#[test]
fn configured_limits_and_costs_that_never_fit_state_no_wait() {
    // A configured limit is the caller's choice: waited on, never "stated by the server".
    let mut l = Limiter::new(limits(Some(1.0), None, None, None), T0);
    admit(&mut l, T0, Cost::default());
    assert!(matches!(
        l.check(T0, Cost::default()),
        Decision::Wait { .. }
    ));
    assert_eq!(l.stated_wait(T0, Cost::default()), None);
    // A cost above a learned capacity is `Never`, reported as such, not as a wait.
    let mut l = Limiter::new(Limits::default(), T0);
    l.observe(T0, &rounded_otpm(0.0));
    assert_eq!(l.stated_wait(T0, cost(0.0, 7_000.0)), None);
    assert!(l.stated_wait(T0, cost(0.0, 6_000.0)).is_some());
}

// ---------------------------------------------------------------- the engine's rejections

#[test]
fn the_engine_rejects_a_call_only_on_a_wait_the_server_states() {
    use llm_pacer::core::call::{Action, Engine, Request, Verdict};
    use llm_pacer::core::config::Config;
    // maxRetryAfterMs 5 s; a learned RPM of 60. The second response shows that others took
    // everything: our share of the refill is cut and a request needs headroom, so by our own
    // estimate the next call waits longer than 5 s. The server's arithmetic says 1 s (one
    // request at 1 per second): that call waits, it is not rejected.
    let mut c = Config::new();
    c.concurrency = Some(1);
    c.retry.max_retry_after_ms = 5_000.0;
    let mut e = Engine::new(c, T0);
    let rpm = |remaining: f64| RateLimitInfo {
        requests: dim_info(Some(60.0), Some(remaining)),
        ..RateLimitInfo::default()
    };
    let mut now = T0;
    let mut sent = Vec::new();
    let ids: Vec<_> = (0..3)
        .map(|_| e.submit(now, Request::default()).unwrap())
        .collect();
    for remaining in [59.0, 0.0] {
        let actions = e.poll(now);
        let Some(&Action::Send { id, .. }) = actions.first() else {
            panic!("{actions:?}")
        };
        sent.push(id);
        now += 100.0;
        assert_eq!(
            e.on_response(now, id, 200, &rpm(remaining), None, 0.0),
            Verdict::Deliver
        );
        e.on_done(now, id, None);
    }
    // The third call: held by our estimate beyond 5 s, but never failed.
    let own_wait = match e
        .limiter(&Request::default().key)
        .expect("the key")
        .check(now, Cost::default())
    {
        Decision::Wait { until_ms, .. } => until_ms - now,
        d => panic!("{d:?}"),
    };
    assert!(own_wait > 5_000.0, "{own_wait}");
    let stated = e
        .limiter(&Request::default().key)
        .expect("the key")
        .stated_wait(now, Cost::default())
        .unwrap();
    assert!(stated <= 1_000.0, "{stated}");
    loop {
        let actions = e.poll(now);
        assert!(
            !actions.iter().any(|a| matches!(a, Action::Fail { .. })),
            "{actions:?}"
        );
        if let Some(Action::Send { id, .. }) = actions.first() {
            assert_eq!(*id, ids[2]);
            break;
        }
        now = e.next_wake().expect("waits on time");
    }
    assert!(now - T0 > 5_000.0);
}

#[test]
fn a_configured_budget_below_the_servers_limit_is_never_raised_by_its_level() {
    // The caller budgets 1 request a minute out of the organisation's 1 000: the server's
    // 999 remaining is the organisation's, not this budget's.
    let mut l = Limiter::new(limits(Some(1.0), None, None, None), T0);
    let t = admit(&mut l, T0, Cost::default());
    l.settle(T0, t, &usage(0.0, 0.0));
    let info = RateLimitInfo {
        requests: dim_info(Some(1_000.0), Some(999.0)),
        ..RateLimitInfo::default()
    };
    l.observe(T0 + 10.0, &info);
    assert!(level(&l, T0 + 10.0, Dim::Requests) < 1.0);
    assert!(matches!(
        l.check(T0 + 10.0, Cost::default()),
        Decision::Wait { .. }
    ));
    // Learned, or a server limit at or below the configured one: the server's level is ours.
    let mut learned = Limiter::new(Limits::default(), T0);
    learned.observe(
        T0,
        &RateLimitInfo {
            requests: dim_info(Some(10.0), Some(0.0)),
            ..RateLimitInfo::default()
        },
    );
    learned.observe(
        T0 + 10.0,
        &RateLimitInfo {
            requests: dim_info(Some(10.0), Some(8.0)),
            ..RateLimitInfo::default()
        },
    );
    assert!(level(&learned, T0 + 10.0, Dim::Requests) >= 7.0);
}

// ------------------------------------------------------------ pinned by mutation testing

#[test]
fn on_a_tie_the_first_dimension_in_order_is_the_blocker() {
    // RPM and ITPM of 60: a request of 1 input token waits exactly as long in both.
    let mut l = Limiter::new(limits(Some(60.0), Some(60.0), None, None), T0);
    for _ in 0..60 {
        admit(&mut l, T0, cost(1.0, 0.0));
    }
    match l.check(T0, cost(1.0, 0.0)) {
        Decision::Wait { blocker, .. } => assert_eq!(blocker, Blocker::Dim(Dim::Requests)),
        d => panic!("{d:?}"),
    }
}

#[test]
fn a_limit_of_zero_in_the_headers_is_not_learned() {
    let mut l = Limiter::new(Limits::default(), T0);
    let info = RateLimitInfo {
        requests: DimInfo {
            limit: Some(0.0),
            remaining: Some(0.0),
            reset_at_ms: None,
            window_ms: Some(60_000.0),
            rounded: false,
        },
        ..RateLimitInfo::default()
    };
    assert!(!l.observe(T0, &info));
    assert!(l.snapshot(T0).is_empty());
    assert!(matches!(l.acquire(T0, cost(1.0, 1.0)), Decision::Admit(_)));
}

#[test]
fn a_reset_time_places_the_level_only_within_its_precision() {
    // 60 RPM, 30 left. The server's reset says 29.5 left (full in 30.5 s), but a reset in
    // whole seconds places the level only within 2 s of refill: 30 is consistent with it, so
    // nothing moves (no level change, no drain by others).
    let mut l = Limiter::new(limits(Some(60.0), None, None, None), T0);
    for _ in 0..30 {
        admit(&mut l, T0, cost(0.0, 0.0));
    }
    let before = l.clone();
    let info = RateLimitInfo {
        requests: DimInfo {
            limit: Some(60.0),
            remaining: None,
            reset_at_ms: Some(T0 + 30_500.0),
            window_ms: Some(60_000.0),
            rounded: false,
        },
        ..RateLimitInfo::default()
    };
    l.observe(T0, &info);
    // The levels and what they admit are unchanged (only the mark of the last figures moved).
    assert_eq!(l.snapshot(T0), before.snapshot(T0));
    for t in [T0, T0 + 1_000.0, T0 + 30_000.0] {
        assert_eq!(l.check(t, cost(0.0, 0.0)), before.check(t, cost(0.0, 0.0)));
    }
}

#[test]
fn a_level_at_the_top_of_a_rounded_interval_is_kept() {
    // 6 000 OTPM, full. The server says 5 500, rounded to the thousand: 5 000 to 6 000. Our
    // 6 000 is within it (at its top): nothing to correct.
    let mut l = Limiter::new(limits(None, None, Some(6_000.0), None), T0);
    let info = RateLimitInfo {
        output_tokens: DimInfo {
            limit: Some(6_000.0),
            remaining: Some(5_500.0),
            reset_at_ms: None,
            window_ms: Some(60_000.0),
            rounded: true,
        },
        ..RateLimitInfo::default()
    };
    l.observe(T0, &info);
    assert_eq!(level(&l, T0, Dim::OutputTokens), 6_000.0);
}

#[test]
fn a_server_window_longer_than_the_configured_minute_gives_the_stricter_refill() {
    // Configured 60 per minute; the server allows 1 000 per hour. Fits both: a burst of 60,
    // refilled at 1 000 per hour (one request per 3.6 s).
    let mut l = Limiter::new(limits(Some(60.0), None, None, None), T0);
    let info = RateLimitInfo {
        requests: DimInfo {
            limit: Some(1_000.0),
            remaining: Some(1_000.0),
            reset_at_ms: None,
            window_ms: Some(3_600_000.0),
            rounded: false,
        },
        ..RateLimitInfo::default()
    };
    l.observe(T0, &info);
    assert_eq!(l.capacity(Dim::Requests), Some(60.0));
    admit(&mut l, T0, cost(0.0, 0.0));
    let s = l.snapshot(T0);
    let full_in = s[0].reset_at_ms - T0;
    assert!(
        (full_in - 3_600.0).abs() < 1.0,
        "full again in {full_in} ms"
    );
}

#[test]
fn dimensions_have_their_js_names() {
    let names: Vec<&str> = Dim::ALL.iter().map(|d| d.name()).collect();
    assert_eq!(names, ["requests", "inputTokens", "outputTokens", "tokens"]);
}

#[test]
fn a_window_that_is_not_a_positive_number_is_taken_as_a_minute() {
    for w in [-5.0, 0.0, f64::NAN, f64::INFINITY] {
        let mut l = Limiter::new(Limits::default(), T0);
        let info = RateLimitInfo {
            requests: DimInfo {
                limit: Some(60.0),
                remaining: Some(59.0),
                reset_at_ms: None,
                window_ms: Some(w),
                rounded: false,
            },
            ..RateLimitInfo::default()
        };
        l.observe(T0, &info);
        // One request short of 60 per minute: full again in about a second, not at once.
        let full_in = l.snapshot(T0)[0].reset_at_ms - T0;
        assert!(
            (500.0..=1_500.0).contains(&full_in),
            "window {w}: full in {full_in} ms"
        );
    }
}

// ------------------------------------------------- the figures of a request's own answer

/// OTPM 6 000, exact figures: `remaining` and the reset agree on `level` at `T0`.
fn exact_otpm(level: f64) -> RateLimitInfo {
    let mut info = RateLimitInfo {
        output_tokens: dim_info(Some(6_000.0), Some(level)),
        ..RateLimitInfo::default()
    };
    info.output_tokens.reset_at_ms = Some(T0 + (6_000.0 - level) * 10.0);
    info
}

/// OTPM 24 000 figures stating `level` exactly (a reset that agrees) at `at`.
fn exact_24k(at: f64, level: f64) -> RateLimitInfo {
    let mut info = RateLimitInfo {
        output_tokens: dim_info(Some(24_000.0), Some(level)),
        ..RateLimitInfo::default()
    };
    info.output_tokens.reset_at_ms = Some(at + (24_000.0 - level) * 2.5);
    info
}

#[test]
fn an_answer_that_lowers_the_level_keeps_its_settlement_from_giving_back_there() {
    // A server that settles before it answers: 1 000 reserved, 200 used, and its figures
    // already show the 800 given back (level 5 000: others took 800 meanwhile). Settling
    // must not give those 800 back a second time.
    let mut l = Limiter::new(limits(None, None, Some(6_000.0), None), T0);
    let mut t = admit(&mut l, T0, cost(0.0, 1_000.0));
    assert_eq!(level(&l, T0, Dim::OutputTokens), 5_000.0);
    l.observe_answer(T0, &exact_otpm(4_800.0), &mut t);
    assert!(t.placed[Dim::OutputTokens as usize]);
    assert!(close(level(&l, T0, Dim::OutputTokens), 4_800.0));
    l.settle(T0, t, &usage(0.0, 200.0));
    assert!(
        close(level(&l, T0, Dim::OutputTokens), 4_800.0),
        "not 5 600"
    );
    // The same figures as a stream's head (before the output): the give-back stands.
    let mut l = Limiter::new(limits(None, None, Some(6_000.0), None), T0);
    let t = admit(&mut l, T0, cost(0.0, 1_000.0));
    l.observe(T0, &exact_otpm(4_800.0));
    l.settle(T0, t, &usage(0.0, 200.0));
    assert!(close(level(&l, T0, Dim::OutputTokens), 5_600.0));
}

#[test]
fn an_answer_that_raises_the_level_counts_its_own_request_and_nothing_again() {
    // Two requests of 1 000 in flight; the first one's answer says 5 800 (it used 200 and
    // the server gave back 800 first). Raised to 5 800 less the other one still in flight,
    // not less both; and its settlement gives nothing back on top.
    let mut l = Limiter::new(limits(None, None, Some(6_000.0), None), T0);
    let mut t = admit(&mut l, T0, cost(0.0, 1_000.0));
    admit(&mut l, T0, cost(0.0, 1_000.0));
    // A third, over its reservation by 1 000, leaves the copy well below the server.
    let v = admit(&mut l, T0, cost(0.0, 1_000.0));
    l.settle(T0, v, &usage(0.0, 2_000.0));
    assert_eq!(level(&l, T0, Dim::OutputTokens), 2_000.0);
    l.observe_answer(T0, &exact_otpm(5_800.0), &mut t);
    assert!(close(level(&l, T0, Dim::OutputTokens), 4_800.0));
    l.settle(T0, t, &usage(0.0, 200.0));
    assert!(close(level(&l, T0, Dim::OutputTokens), 4_800.0));
}

#[test]
fn an_answer_written_before_the_servers_settlement_leaves_the_give_back_standing() {
    // OTPM 24 000, one request of `max_tokens` 8 000 that used 400. The copy counted 2.5 s
    // of transit refill as wasted at admission, so it stands 1 000 below the server. A
    // server that writes the head before its settlement says 16 120 (the reservation still
    // held): the answer raises the copy by 1 000, far less than the 7 600 given back, which
    // the figures cannot have counted: the give-back stands (before: the copy stayed 7 600
    // below the server after every answer, 1.48 times the shortest makespan at `max_tokens`
    // 4,096 on Tier 1's 8,000 OTPM). A server that settles first says 23 720: the raise is
    // the give-back, which is not given twice.
    let at = T0 + 300.0;
    for (figure, after) in [(16_120.0, 23_720.0), (23_720.0, 23_720.0)] {
        let mut l = Limiter::new(limits(None, None, Some(24_000.0), None), T0);
        l.set_latency(2_500.0);
        let mut t = admit(&mut l, T0, cost(0.0, 8_000.0));
        assert!(close(level(&l, at, Dim::OutputTokens), 15_120.0));
        l.observe_answer(at, &exact_24k(at, figure), &mut t);
        assert!(t.placed[Dim::OutputTokens as usize], "raised: {figure}");
        l.settle(at, t, &usage(0.0, 400.0));
        let got = level(&l, at, Dim::OutputTokens);
        assert!(
            (got - after).abs() < 2.0,
            "figure {figure}: {got}, not {after}"
        );
    }
}

#[test]
fn a_call_a_store_gates_gives_its_unused_output_back_whatever_its_figures_showed() {
    // The first test's answer (figures that lowered the copy: others drew 800) settled for a
    // call a shared store admitted and gates: the 800 unused go back to the copy and are
    // returned as not counted (the store's learn goes raised by them), where `settle`
    // keeps them out.
    for gated in [false, true] {
        let mut l = Limiter::new(limits(None, Some(60_000.0), Some(6_000.0), None), T0);
        let mut t = admit(&mut l, T0, cost(1_000.0, 1_000.0));
        l.observe_answer(T0, &exact_otpm(4_800.0), &mut t);
        assert!(t.placed[Dim::OutputTokens as usize]);
        let (uncounted, kept) = l.settle_shared(T0, t, &usage(600.0, 200.0), gated);
        assert_eq!(kept, 0.0, "gated {gated}: all of it given back");
        let (out, back) = if gated {
            (5_600.0, 800.0)
        } else {
            (4_800.0, 0.0)
        };
        assert!(
            close(level(&l, T0, Dim::OutputTokens), out),
            "gated {gated}"
        );
        assert_eq!(uncounted[Dim::OutputTokens as usize], back, "gated {gated}");
    }
}

#[test]
fn a_process_that_saw_others_once_reads_the_give_back_again_after_two_quiet_windows() {
    // A process restarted on a spent bucket: its first answer's figures are below its copy,
    // others presumed (the share cut). Two windows later, with no cut since, an answer that
    // raises its copy by far less than its give-back (written before the server's
    // settlement) leaves the give-back standing, as for a process alone; within them, not
    // (before: never again, and such a process took 3.75 times the shortest makespan at
    // `max_tokens` 8,000).
    for (later, given) in [(60_000.0, false), (121_000.0, true)] {
        let mut l = Limiter::new(limits(None, None, Some(24_000.0), None), T0);
        l.start_blind(T0);
        let mut t = admit(&mut l, T0, cost(0.0, 1_000.0));
        l.observe_answer(T0, &exact_24k(T0, 0.0), &mut t);
        l.settle(T0, t, &usage(0.0, 1_000.0));
        // Later, the bucket full again (its figures say so): one request of 8 000, which
        // uses 400.
        let at = T0 + later;
        l.observe(at, &exact_24k(at, 24_000.0));
        l.set_latency(2_500.0);
        let mut t = admit(&mut l, at, cost(0.0, 8_000.0));
        let copy = level(&l, at, Dim::OutputTokens);
        l.observe_answer(at, &exact_24k(at, copy + 1_000.0), &mut t);
        l.settle(at, t, &usage(0.0, 400.0));
        let got = level(&l, at, Dim::OutputTokens);
        let want = if given {
            copy + 1_000.0 + 7_600.0
        } else {
            copy + 1_000.0
        };
        assert!(
            (got - want.min(24_000.0)).abs() < 2.0,
            "{later}: {got}, not {want}"
        );
    }
}

#[test]
fn a_raise_by_what_earlier_settlements_left_out_leaves_the_next_give_back_standing() {
    // A lone process whose copy stands 8 000 below a server that writes its heads before
    // settling (a request lost on the way kept its reservation here). The first answer
    // raises the copy by more than half its give-back: read as counted, the give-back is
    // left out. The next answer raises the copy by just that (the server settled the first
    // request since): no sign that it counted its own give-back, which stands (before: left
    // out too, and again after every answer, the copy a give-back below the server for good:
    // a lone process on a bucket spent at its start, or learning its limits, took twice the
    // shortest makespan at `max_tokens` 4,096 on Tier 1's 8,000 OTPM).
    let mut l = Limiter::new(limits(None, None, Some(24_000.0), None), T0);
    let lost = admit(&mut l, T0, cost(0.0, 8_000.0));
    l.lost(T0, &lost);
    // The server: 24 000, 16 000 with the first request, 23 600 once it used 400.
    let mut t = admit(&mut l, T0, cost(0.0, 8_000.0));
    l.observe_answer(T0, &exact_24k(T0, 16_000.0), &mut t);
    l.settle(T0, t, &usage(0.0, 400.0));
    let got = level(&l, T0, Dim::OutputTokens);
    assert!((got - 15_999.0).abs() < 2.0, "{got}");
    // 15 600 with the second, whose answer says so; 23 200 once it used 400. The give-back
    // left out is back on the server all the same: figures written before it (a refusal's,
    // a stream head's, of a request admitted now) may be that much below the copy without
    // others drawing.
    let mut t = admit(&mut l, T0, cost(0.0, 8_000.0));
    assert_eq!(t.given[Dim::OutputTokens as usize], 7_600.0);
    l.observe_answer(T0, &exact_24k(T0, 15_600.0), &mut t);
    l.settle(T0, t, &usage(0.0, 400.0));
    let got = level(&l, T0, Dim::OutputTokens);
    assert!((got - 23_199.0).abs() < 2.0, "{got}, not 23 199");
}

#[test]
fn a_server_seen_twice_to_write_before_its_settlement_has_its_give_backs_read_beside_others() {
    // Others draw from the bucket (the first figures stand 3 000 below the copy, and 100 more
    // go each round): a process not alone cannot tell from one answer whether its figures
    // counted the give-back, and leaves it out. But the next figures raise the copy by about
    // what was left out: the server wrote the last ones before its settlement. Seen twice,
    // the give-backs stand from then on, though others draw (before: the copy stayed a
    // give-back below the server after every answer; `max_tokens` 4,096 with others at 30%
    // of Tier 1 finished 18 of 45 calls in 80 s on a reviewer's mock).
    let mut l = Limiter::new(limits(None, None, Some(24_000.0), None), T0);
    let mut t = admit(&mut l, T0, cost(0.0, 1_000.0));
    l.observe_answer(T0, &exact_24k(T0, 20_000.0), &mut t);
    l.settle(T0, t, &usage(0.0, 1_000.0));
    let mut server: f64 = 20_000.0;
    for round in 0..5 {
        // A request every 2 s: the server refills 800 meanwhile (the copy, with its share of
        // the refill cut for the others, less).
        let now = T0 + 2_000.0 * (round + 1) as f64;
        server = (server + 800.0).min(24_000.0);
        let mut t = admit(&mut l, now, cost(0.0, 8_000.0));
        server -= 8_000.0 + 100.0;
        l.observe_answer(now, &exact_24k(now, server), &mut t);
        l.settle(now, t, &usage(0.0, 400.0));
        server += 7_600.0;
        let got = level(&l, now, Dim::OutputTokens);
        let want = if round < 2 { server - 7_600.0 } else { server };
        assert!(
            (got - want).abs() < 100.0,
            "round {round}: {got}, not {want}"
        );
    }
}

#[test]
fn a_server_whose_answers_count_their_give_back_is_learned_and_not_taken_for_others() {
    // The same raise from a server that settles before it writes its heads: the give-back
    // read as unread was counted, and the copy stands that much above the server's next
    // figures. That is this client's error, not others' draw: the share is not cut (the
    // refill over the next 6 s stays whole). Seen twice, no give-back is read as unread
    // again: the third time, the copy stays at the answer's figure.
    let mut l = Limiter::new(limits(None, None, Some(24_000.0), None), T0);
    let mut server = 16_000.0;
    let spent = admit(&mut l, T0, cost(0.0, 8_000.0));
    l.settle(T0, spent, &usage(0.0, 8_000.0));
    for round in 0..3 {
        for _ in 0..2 {
            // Admitted, used 400, settled, answered.
            let mut t = admit(&mut l, T0, cost(0.0, 8_000.0));
            server -= 400.0;
            l.observe_answer(T0, &exact_24k(T0, server), &mut t);
            l.settle(T0, t, &usage(0.0, 400.0));
        }
        let got = level(&l, T0, Dim::OutputTokens);
        if round < 2 {
            // The second give-back was read as unread.
            assert!(got > server + 7_000.0, "round {round}: {got}");
            // Another response's figures.
            l.observe(T0, &exact_24k(T0, server));
            let placed = level(&l, T0, Dim::OutputTokens);
            assert!((placed - server).abs() < 2.0, "round {round}: {placed}");
            let refill = level(&l, T0 + 6_000.0, Dim::OutputTokens) - placed;
            assert!((refill - 2_400.0).abs() < 1.0, "round {round}: {refill}");
        } else {
            assert!((got - server).abs() < 2.0, "learned: {got}, not {server}");
        }
    }
}

#[test]
fn the_first_answer_of_a_limiter_that_knew_no_limit_reads_its_figures_the_same_way() {
    // No limit known: the first request (`max_tokens` 4 096, 500 used) goes alone, and its
    // answer creates an OTPM bucket of 8 000. A server that still held the reservation says
    // 3 904 (full less 4 096): the give-back stands, 7 500. One that had given it back says
    // 7 500: not given twice. One whose bucket was not full says less: the cautious
    // reading (before, every case stayed at its figure, and a lone process with learned
    // limits took twice the shortest makespan at `max_tokens` 4,096 on Tier 1).
    for (figure, after) in [(3_904.0, 7_500.0), (7_500.0, 7_500.0), (1_000.0, 1_000.0)] {
        let mut l = Limiter::new(Limits::default(), T0);
        let mut t = admit(&mut l, T0, cost(0.0, 4_096.0));
        let info = RateLimitInfo {
            output_tokens: dim_info(Some(8_000.0), Some(figure)),
            ..RateLimitInfo::default()
        };
        l.observe_answer(T0, &info, &mut t);
        l.settle(T0, t, &usage(0.0, 500.0));
        let got = level(&l, T0, Dim::OutputTokens);
        assert!(
            (got - after).abs() < 2.0,
            "figure {figure}: {got}, not {after}"
        );
    }
}

#[test]
fn an_answer_inside_the_interval_leaves_the_settlement_as_it_was() {
    let mut l = Limiter::new(limits(None, None, Some(6_000.0), None), T0);
    let mut t = admit(&mut l, T0, cost(0.0, 1_000.0));
    l.observe_answer(T0, &rounded_otpm(5_000.0), &mut t);
    assert_eq!(t.placed, [false; 4]);
    l.settle(T0, t, &usage(0.0, 200.0));
    assert!(close(level(&l, T0, Dim::OutputTokens), 5_800.0));
}

#[test]
fn an_answer_that_placed_the_level_counts_the_whole_prompt_already() {
    // A document the estimate priced at 3 000 was 24 000 tokens. The server counted all of
    // them when it admitted the request, and its answer's figures say so (ITPM 30 000, 6 000
    // left): settling must not take the 21 000 more a second time (-15 000 held the next
    // call half a minute while the server had 6 000 and its refill).
    let mut l = Limiter::new(limits(None, Some(30_000.0), None, None), T0);
    let mut t = admit(&mut l, T0, cost(3_000.0, 0.0));
    let mut info = RateLimitInfo {
        input_tokens: dim_info(Some(30_000.0), Some(6_000.0)),
        ..RateLimitInfo::default()
    };
    info.input_tokens.reset_at_ms = Some(T0 + 24_000.0 * 2.0);
    l.observe_answer(T0, &info, &mut t);
    assert!(t.placed[Dim::InputTokens as usize]);
    assert!(close(level(&l, T0, Dim::InputTokens), 6_000.0));
    l.settle(T0, t, &usage(24_000.0, 0.0));
    assert!(
        close(level(&l, T0, Dim::InputTokens), 6_000.0),
        "not -15 000"
    );
    // Output beyond a reservation lowered to fit is still taken: the server may meter it
    // only as it is generated.
    let mut l = Limiter::new(limits(None, None, Some(6_000.0), None), T0);
    let mut t = admit(&mut l, T0, cost(0.0, 500.0));
    l.observe_answer(T0, &exact_otpm(5_000.0), &mut t);
    assert!(t.placed[Dim::OutputTokens as usize]);
    l.settle(T0, t, &usage(0.0, 800.0));
    assert!(close(level(&l, T0, Dim::OutputTokens), 4_700.0));
}

/// Where the server counts output as it is generated, the default reservation of `max_tokens`
/// is lowered to twice the largest of the last 16 outputs once 8 were seen (never above
/// `max_tokens`, never below 256), and the difference is settled at the end as before. Off
/// where the server reserves output itself, or unless asked (`outputReservation` other than
/// `"max_tokens"`); an output settled as reserved (not stated) teaches nothing.
#[test]
fn a_plan_metered_as_generated_reserves_the_output_learned_from_settlements() {
    let otpm = limits(None, None, Some(8_000.0), None);
    let mut l = Limiter::new(otpm, T0);
    l.set_output_as_generated();
    l.learn_output();
    let mut now = T0;
    for i in 0..8 {
        assert_eq!(l.output_estimate(), None, "after {i}");
        let t = admit(&mut l, now, cost(10.0, 20_000.0));
        assert_eq!(
            t.output, 8_000.0,
            "max_tokens fitted to the bucket, as before"
        );
        now += 60_000.0;
        l.settle(now, t, &usage(10.0, 300.0 + 10.0 * f64::from(i)));
        l.output_seen(300.0 + 10.0 * f64::from(i));
    }
    assert_eq!(l.output_estimate(), Some(2.0 * 370.0));
    let t = admit(&mut l, now, cost(10.0, 20_000.0));
    assert_eq!(t.output, 740.0);
    // Never above the request's own max_tokens.
    assert_eq!(l.fit(cost(10.0, 500.0)).unwrap().output, 500.0);
    // The output beyond the reservation is taken at the end: a debt, as the server's.
    let level = |l: &Limiter, now: f64| {
        let s = l.snapshot(now);
        s.iter()
            .find(|d| d.dim == Dim::OutputTokens)
            .unwrap()
            .remaining
    };
    let before = level(&l, now);
    l.settle(now, t, &usage(10.0, 2_000.0));
    assert!((level(&l, now) - (before - 1_260.0)).abs() < 1e-6);
    // A long output enters the window at once; an unstated one (NaN) is ignored.
    l.output_seen(2_000.0);
    l.output_seen(f64::NAN);
    assert_eq!(l.output_estimate(), Some(4_000.0));
    // The floor.
    for _ in 0..16 {
        l.output_seen(5.0);
    }
    assert_eq!(l.output_estimate(), Some(256.0));

    // Not asked, or a plan that reserves output itself: max_tokens as ever.
    for (generated, learn) in [(true, false), (false, true)] {
        let mut l = Limiter::new(otpm, T0);
        if generated {
            l.set_output_as_generated();
        }
        if learn {
            l.learn_output();
        }
        for _ in 0..16 {
            l.output_seen(300.0);
        }
        assert_eq!(l.output_estimate(), None);
        assert_eq!(l.fit(cost(10.0, 4_000.0)).unwrap().output, 4_000.0);
    }
}

/// A stream's head carries the figures of its request's admission. This client's own
/// give-backs since (another call settled meanwhile) and the refill since are not in them: a
/// copy above them by that much is no sign of other clients. The copy comes down to them all
/// the same (the cautious side), but its share of the refill stays whole; read as a fresh
/// answer, the share is halved, and the next request waits twice as long.
#[test]
fn a_stream_heads_figures_written_at_admission_allow_for_what_came_back_since() {
    let otpm = |remaining: f64| RateLimitInfo {
        output_tokens: DimInfo {
            limit: Some(60_000.0),
            remaining: Some(remaining),
            ..DimInfo::default()
        },
        family: Family::OpenAi,
        ..RateLimitInfo::default()
    };
    let run = |stream: bool| {
        let mut l = Limiter::new(limits(None, None, Some(60_000.0), None), T0);
        let mut a = admit(&mut l, T0, cost(0.0, 20_000.0));
        let b = admit(&mut l, T0, cost(0.0, 20_000.0));
        // B ends 200 ms later having used 2,000 of its 20,000: 18,000 back.
        l.settle(T0 + 200.0, b, &usage(0.0, 2_000.0));
        // A's head, 300 ms after its admission: the server's figure then, both reserved.
        let now = T0 + 300.0;
        if stream {
            l.observe_stream_head(now, &otpm(20_000.0), &mut a);
        } else {
            l.observe_answer(now, &otpm(20_000.0), &mut a);
        }
        let after = level(&l, now, Dim::OutputTokens);
        // A 30,000-token request: 10,000 more to refill, at 1,000 a second, or 500.
        let (until, _) = wait(l.acquire(now, cost(0.0, 30_000.0)));
        (after, until - now)
    };
    let (level, waits) = run(true);
    assert!((19_900.0..20_100.0).contains(&level), "{level}");
    assert!((9_000.0..11_000.0).contains(&waits), "{waits}");
    let (level, waits) = run(false);
    assert!((19_900.0..20_100.0).contains(&level), "{level}");
    assert!(
        waits > 15_000.0,
        "as a fresh answer: the share halved, {waits}"
    );
}

/// Requests left and a reset but no limit (an IETF `RateLimit` without its policy): a served
/// request's figures infer a quota of at least what remained plus that request, per window
/// of that reset, held until the reset; a larger figure later raises it. A refusal's figures,
/// or Anthropic's (buckets, never windows), infer nothing.
#[test]
fn figures_without_a_limit_infer_a_quota_from_a_served_request() {
    let bare = |family: Family, remaining: f64, reset_in_ms: f64, now: f64| RateLimitInfo {
        requests: DimInfo {
            remaining: Some(remaining),
            reset_at_ms: Some(now + reset_in_ms),
            ..DimInfo::default()
        },
        family,
        ..RateLimitInfo::default()
    };
    let mut l = Limiter::new(Limits::default(), T0);
    let mut t = admit(&mut l, T0, cost(1.0, 1.0));
    l.observe_answer(
        T0 + 100.0,
        &bare(Family::Ietf, 19.0, 9_600.0, T0 + 100.0),
        &mut t,
    );
    let s = l.snapshot(T0 + 100.0);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(
        (s[0].dim, s[0].limit, s[0].window_ms),
        (Dim::Requests, 20.0, 10_000.0)
    );
    assert!((18.0..=20.0).contains(&s[0].remaining), "{s:?}");
    // Nothing back before the reset.
    for _ in 0..19 {
        admit(&mut l, T0 + 200.0, cost(1.0, 1.0));
    }
    let (until, _) = wait(l.acquire(T0 + 200.0, cost(1.0, 1.0)));
    assert!(until >= T0 + 9_700.0, "{}", until - T0);
    // A later answer that shows more: the quota grows.
    let mut t = admit(&mut l, until + 10.0, cost(1.0, 1.0));
    l.observe_answer(
        until + 20.0,
        &bare(Family::Ietf, 29.0, 9_000.0, until + 20.0),
        &mut t,
    );
    assert_eq!(l.snapshot(until + 20.0)[0].limit, 30.0);

    for (family, refusal) in [(Family::Ietf, true), (Family::Anthropic, false)] {
        let mut l = Limiter::new(Limits::default(), T0);
        let mut t = admit(&mut l, T0, cost(1.0, 1.0));
        let info = bare(family, 0.0, 9_600.0, T0 + 100.0);
        if refusal {
            l.refund(T0 + 100.0, t, false);
            l.observe_refusal(T0 + 100.0, &info, &t, None);
        } else {
            l.observe_answer(T0 + 100.0, &info, &mut t);
        }
        assert!(l.snapshot(T0 + 100.0).is_empty(), "{family:?}");
    }
}

/// A stream's head carries the figures of its request's admission: what this client drew
/// since is not in them, not even the requests admitted and settled meanwhile. A copy below
/// them is raised no higher than they are less that (the net of those admissions and their
/// give-backs), not to them less only what is still in flight, which left it above the
/// server (by 300 output tokens on the simulator's give-back-heavy workload, its share then
/// halved).
#[test]
fn a_stream_head_raises_the_copy_no_higher_than_what_was_drawn_since_allows() {
    let itpm = |remaining: f64| RateLimitInfo {
        input_tokens: dim_info(Some(60_000.0), Some(remaining)),
        family: Family::OpenAi,
        ..RateLimitInfo::default()
    };
    let mut l = Limiter::new(limits(None, Some(60_000.0), None, None), T0);
    // Prompts reserved at 20,000 and 10,000, which the server counts at 5,000 each when it
    // admits them: it holds 55,000 after A, 50,000 after B.
    let mut a = admit(&mut l, T0, cost(20_000.0, 0.0));
    let b = admit(&mut l, T0, cost(10_000.0, 0.0));
    // B ends first: 5,000 of its 10,000 back here. The copy: 35,000.
    l.settle(T0, b, &usage(5_000.0, 0.0));
    assert!(close(level(&l, T0, Dim::InputTokens), 35_000.0));
    // A's head, with the figures of A's admission: 55,000.
    l.observe_stream_head(T0, &itpm(55_000.0), &mut a);
    let after = level(&l, T0, Dim::InputTokens);
    assert!((49_998.0..=50_000.0).contains(&after), "{after}");
}

/// The reservations in flight are counted exactly, however long a request takes, and through
/// a fresh start of the share (a fleet's store going down or coming back): each leaves the
/// count once, when its request settles, is refunded or is lost.
#[test]
fn reservations_stay_in_flight_until_their_request_ends() {
    let mut l = Limiter::new(limits(None, None, Some(60_000.0), None), T0);
    let a = admit(&mut l, T0, cost(0.0, 2_000.0));
    let b = admit(&mut l, T0, cost(0.0, 3_000.0));
    let c = admit(&mut l, T0, cost(0.0, 4_000.0));
    l.start_blind(T0 + 1_000.0);
    l.share_alone(T0 + 2_000.0);
    // Ten minutes on, nothing has faded.
    let later = T0 + 600_000.0;
    assert_eq!(l.in_flight(Dim::OutputTokens), 9_000.0);
    l.settle(later, a, &usage(0.0, 500.0));
    l.refund(later, b, false);
    assert_eq!(l.in_flight(Dim::OutputTokens), 4_000.0);
    l.lost(later, &c);
    assert_eq!(l.in_flight(Dim::OutputTokens), 0.0);
    assert_eq!(
        l.in_flight(Dim::Requests),
        0.0,
        "no bucket: nothing counted"
    );
}

/// A request admitted before a stream's may reach the server after it, and settle before
/// the stream's head comes back: the head's figures, written when the stream's request
/// arrived, have none of it, neither its reservation nor its give-back. A copy below them is
/// raised no higher than they are less what the requests settled since used. (Read as
/// counting every earlier request, with their give-backs since taken as news, a lone process
/// whose requests took up to 300 ms to reach the simulator's server stood above it by a
/// settled request's usage, and was refused.)
#[test]
fn a_stream_heads_figures_may_miss_a_request_that_reached_the_server_after_it() {
    let mut l = Limiter::new(limits(None, None, Some(60_000.0), None), T0);
    // Y goes first but reaches the server after X, and settles at 2,000 of its 20,000.
    let y = admit(&mut l, T0, cost(0.0, 20_000.0));
    let mut x = admit(&mut l, T0 + 10.0, cost(0.0, 10_000.0));
    l.settle(T0 + 100.0, y, &usage(0.0, 2_000.0));
    // X's head: the figures of X's arrival, before Y's: 50,000. The server now holds
    // 48,000 and the refill since: as the copy does.
    let now = T0 + 200.0;
    let before = level(&l, now, Dim::OutputTokens);
    l.observe_stream_head(now, &openai_otpm(50_000.0), &mut x);
    let after = level(&l, now, Dim::OutputTokens);
    assert!(close(after, before), "raised from {before} to {after}");
}

/// A 429 is written when its request reaches the server, just after its admission here, and
/// arrives a round trip later: what this client's settlements gave back meanwhile, and the
/// refill, are not in its figures. A copy above them by that much is no sign of other clients:
/// the share stays whole (the copy still comes down to the figures). Read as fresh figures,
/// a lone process halved its share on such a 429 and took 1.16 times the shortest makespan
/// (the simulator's give-back-heavy workload, seed 3).
#[test]
fn a_refusals_figures_allow_for_what_came_back_since_its_admission() {
    let mut l = Limiter::new(limits(None, None, Some(60_000.0), None), T0);
    let b = admit(&mut l, T0, cost(0.0, 20_000.0));
    let a = admit(&mut l, T0, cost(0.0, 30_000.0));
    // B uses 2,000 of its 20,000: 18,000 back. Then A's 429, its figures written on arrival.
    l.settle(T0 + 100.0, b, &usage(0.0, 2_000.0));
    let now = T0 + 300.0;
    l.refund(now, a, false);
    l.observe_refusal(now, &openai_otpm(40_000.0), &a, None);
    assert!(close(level(&l, now, Dim::OutputTokens), 40_000.0));
    // 10,000 more for a 50,000-token request: 10 s at the whole refill, 20 s and more halved.
    let (until, _) = wait(l.acquire(now, cost(0.0, 50_000.0)));
    assert!(until - now < 11_000.0, "the share was cut: {}", until - now);
}

/// A copy placed at a rounded figure (Anthropic's nearest thousand) may stand up to that
/// figure's distance from the low end of its interval above the server. A later, tighter
/// figure (its reset read to the second) that shows so much is this client's own rounding,
/// not others' draw: the share stays whole.
#[test]
fn a_copy_placed_at_a_rounded_figure_is_no_sign_of_others_when_a_tighter_one_comes() {
    let otpm = |remaining: f64, reset_in_ms: Option<f64>, now: f64| RateLimitInfo {
        output_tokens: DimInfo {
            limit: Some(60_000.0),
            remaining: Some(remaining),
            reset_at_ms: reset_in_ms.map(|r| now + r),
            rounded: true,
            ..DimInfo::default()
        },
        family: Family::Anthropic,
        ..RateLimitInfo::default()
    };
    let mut l = Limiter::new(Limits::default(), T0);
    let mut a = admit(&mut l, T0, cost(0.0, 2_000.0));
    // Learned at "28,000": anywhere from 27,000 to 29,000 (the server has 27,100).
    l.observe_answer(T0, &otpm(28_000.0, None, T0), &mut a);
    assert!(close(level(&l, T0, Dim::OutputTokens), 28_000.0));
    let mut b = admit(&mut l, T0, cost(0.0, 2_000.0));
    // B's answer: "25,000", full in 35 s, so 25,000 to 26,000; the copy is at 26,100.
    let now = T0 + 100.0;
    l.observe_answer(now, &otpm(25_000.0, Some(35_000.0), now), &mut b);
    // 15,000 more for a 40,000-token request: 15 s at the whole refill, 50 s halved.
    let (until, _) = wait(l.acquire(now, cost(0.0, 40_000.0)));
    assert!(until - now < 20_000.0, "the share was cut: {}", until - now);
}

/// OTPM 24 000, a request A of 8 000 in flight from 16 000; 25 s later (the copy refilled to
/// 18 000) request B of 8 000 is let go, and A settles having used 400.
fn a_then_b(settled_after: f64) -> (Limiter, Ticket, f64) {
    let mut l = Limiter::new(limits(None, None, Some(24_000.0), None), T0);
    let spent = admit(&mut l, T0, cost(0.0, 8_000.0));
    l.settle(T0, spent, &usage(0.0, 8_000.0));
    let a = admit(&mut l, T0, cost(0.0, 8_000.0));
    let b_at = T0 + 25_000.0;
    assert!(close(level(&l, b_at, Dim::OutputTokens), 18_000.0));
    admit(&mut l, b_at, cost(0.0, 8_000.0));
    (l, a, b_at + settled_after)
}

#[test]
fn a_give_back_just_after_a_request_let_go_lifts_the_copy_no_higher_than_the_server_can_be() {
    // B may reach the server after A settled there (A's answer on its way back, B on its way
    // out): then A's 7 600 met a bucket of 18 000, which holds 6 000 more, and B took its
    // 8 000 from the full bucket: 16 000, and 80 of refill since. Not 17 680, which made the
    // next request of 4 096 at the edge a 429 (one process at `max_tokens` 4,096 with 0-300 ms
    // of transit: 1.3% 429s).
    let (mut l, a, now) = a_then_b(200.0);
    l.settle(now, a, &usage(0.0, 400.0));
    let got = level(&l, now, Dim::OutputTokens);
    assert!((got - 16_080.0).abs() < 1.0, "{got}");
    // Let go 2 s before, B reached the server first: the give-back is whole.
    let (mut l, a, now) = a_then_b(2_000.0);
    l.settle(now, a, &usage(0.0, 400.0));
    let got = level(&l, now, Dim::OutputTokens);
    assert!((got - 18_400.0).abs() < 1.0, "{got}");
}

#[test]
fn a_give_back_whose_answer_counted_the_request_let_go_just_before_is_whole() {
    // A's answer shows B counted (10 080: the copy, which counts it): the server admitted B
    // before it wrote A's head, and settled A after. A's 7 600 comes back whole.
    let (mut l, mut a, now) = a_then_b(200.0);
    l.observe_answer(now, &exact_24k(now, 10_080.0), &mut a);
    assert!(a.counted[Dim::OutputTokens as usize]);
    l.settle(now, a, &usage(0.0, 400.0));
    let got = level(&l, now, Dim::OutputTokens);
    assert!((got - 17_680.0).abs() < 1.0, "{got}");
}

#[test]
fn an_answer_overtaken_on_the_way_back_by_a_later_one_is_no_sign_of_others() {
    // Two requests of 8 000 in flight from 16 000. On the server C ends first (its head says
    // 2 000 left; then it gives back 7 600), then B (its head counts C's give-back: 9 620).
    // B's answer comes back first, 50 ms before C's: C's figures are older than B's
    // settlement, which lifted the copy by 7 600, and the copy without it stands within
    // them. The copy comes down to them (the cautious side), but the share of the refill
    // stays whole: no other client drew. (Before, the share was halved, and one process at
    // `max_tokens` 4,096 with 0-300 ms of transit ran one request at a time for the rest of
    // the run: 1.75 times the shortest makespan.)
    // The same figures a second after B's: the server wrote them after B's settlement, and
    // others took what the copy had. Or 50 ms after, but saying none left, or 5 000: the
    // copy without B's give-back stands above them, or below, not within; that was no swap,
    // others drew. The share is cut.
    for (gap, figure, whole) in [
        (50.0, 2_000.0, true),
        (1_000.0, 2_000.0, false),
        (50.0, 0.0, false),
        (50.0, 5_000.0, false),
    ] {
        let mut l = Limiter::new(limits(None, None, Some(24_000.0), None), T0);
        let spent = admit(&mut l, T0, cost(0.0, 8_000.0));
        l.settle(T0, spent, &usage(0.0, 8_000.0));
        let mut b = admit(&mut l, T0, cost(0.0, 8_000.0));
        let mut c = admit(&mut l, T0, cost(0.0, 8_000.0));
        let t = T0 + 5_100.0;
        l.observe_answer(t, &rounded_output(24_000.0, 10_000.0), &mut b);
        l.settle(t, b, &usage(0.0, 400.0));
        let t = t + gap;
        l.observe_answer(t, &rounded_output(24_000.0, figure), &mut c);
        let placed = level(&l, t, Dim::OutputTokens);
        assert!((placed - figure).abs() < 1.0, "{gap} {figure}: {placed}");
        l.settle(t, c, &usage(0.0, 400.0));
        let refill = level(&l, t + 6_000.0, Dim::OutputTokens) - level(&l, t, Dim::OutputTokens);
        if whole {
            assert!((refill - 2_400.0).abs() < 1.0, "{gap} {figure}: {refill}");
        } else {
            assert!(refill < 2_000.0, "{gap} {figure}: {refill}");
        }
    }
}

/// A server that writes a JSON answer's figures when it admits the request (a gateway's rate
/// limiter does): a lone pacer's copy, which counts the requests admitted since, stands
/// below them by about as many. Such answers say so; answers whose figures count those
/// requests (written at settlement) say the other, and the copy reads figures as it did.
#[test]
fn when_a_server_writes_an_answers_figures_is_learned_from_its_requests() {
    let requests = |remaining: f64| RateLimitInfo {
        requests: dim_info(Some(60.0), Some(remaining)),
        family: Family::OpenAi,
        ..RateLimitInfo::default()
    };
    for (at_admission, want) in [(true, true), (false, false)] {
        let mut l = Limiter::new(limits(Some(60.0), None, None, None), T0);
        let tickets: Vec<Ticket> = (0..10).map(|_| admit(&mut l, T0, cost(1.0, 1.0))).collect();
        // Copy: 50 left. At admission the server had 59 and 58 left after the first two.
        let mut votes = Vec::new();
        for (i, t) in tickets.iter().take(2).enumerate() {
            let remaining = if at_admission { 59.0 - i as f64 } else { 50.0 };
            votes.push(l.figures_at_admission(T0 + 100.0, &requests(remaining), t));
        }
        assert_eq!(votes, vec![want, want], "at admission: {at_admission}");
    }
    // Too few admitted since to tell: no vote, the reading stays as it was.
    let mut l = Limiter::new(limits(Some(60.0), None, None, None), T0);
    let t = admit(&mut l, T0, cost(1.0, 1.0));
    admit(&mut l, T0, cost(1.0, 1.0));
    assert!(!l.figures_at_admission(T0 + 100.0, &requests(59.0), &t));
}
