//! The shared-store protocol (core::store), in virtual time: all-or-nothing admission, exact
//! waits, settlement, learned limits and fleet-wide pauses, with the local bucket's arithmetic.

use llm_pacer::core::bucket::Bucket;
use llm_pacer::core::limiter::{Dim, EDGE_MARGIN_MS};
use llm_pacer::core::store::{amounts, KeyState, Reserve, WINDOW_MS};

const T0: f64 = 1_700_000_000_000.0;
/// rpm, itpm, otpm, tpm
const LIMITS: [f64; 4] = [60.0, 10_000.0, 2_000.0, 0.0];

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * (1.0 + a.abs().max(b.abs()))
}

#[test]
fn buckets_are_created_full_from_the_first_limits_named() {
    let mut s = KeyState::new();
    assert_eq!(
        s.reserve(T0, LIMITS, amounts(1_000.0, 500.0)),
        Reserve::Admit
    );
    let l = s.levels(T0);
    assert_eq!(l, [Some(59.0), Some(9_000.0), Some(1_500.0), None]);
    // Another process configured other limits: the fleet's buckets keep theirs.
    assert_eq!(
        s.reserve(T0, [1.0, 1.0, 1.0, 0.0], amounts(0.0, 0.0)),
        Reserve::Admit
    );
    assert_eq!(
        s.levels(T0),
        [Some(58.0), Some(9_000.0), Some(1_500.0), None]
    );
}

#[test]
fn admission_is_all_or_nothing_across_dimensions() {
    let mut s = KeyState::new();
    assert_eq!(s.reserve(T0, LIMITS, amounts(0.0, 1_900.0)), Reserve::Admit);
    let before = s.levels(T0);
    // Input has room, output does not: nothing is taken from either.
    let r = s.reserve(T0, LIMITS, amounts(5_000.0, 200.0));
    let Reserve::Wait { wait_ms, dim } = r else {
        panic!("{r:?}")
    };
    assert_eq!(dim, Some(Dim::OutputTokens));
    // 100 output tokens short at 2000/min: 3 s, plus the edge margin.
    assert!(close(wait_ms, 3_000.0 + EDGE_MARGIN_MS), "{wait_ms}");
    assert_eq!(s.levels(T0), before);
    // After exactly that wait, the same request goes.
    assert_eq!(
        s.reserve(T0 + wait_ms, LIMITS, amounts(5_000.0, 200.0)),
        Reserve::Admit
    );
}

#[test]
fn the_wait_is_the_local_buckets_wait() {
    // Same arithmetic as core::bucket: a bucket driven by the same takes gives the same wait.
    let mut s = KeyState::new();
    let mut b = Bucket::new(2_000.0, WINDOW_MS, T0);
    for (i, out) in [700.0, 800.0, 400.0].into_iter().enumerate() {
        let now = T0 + 1_000.0 * i as f64;
        assert_eq!(
            s.reserve(now, [0.0, 0.0, 2_000.0, 0.0], amounts(0.0, out)),
            Reserve::Admit
        );
        b.take(now, out);
    }
    let now = T0 + 2_500.0;
    let Reserve::Wait { wait_ms, .. } = s.reserve(now, [0.0; 4], amounts(0.0, 1_000.0)) else {
        panic!()
    };
    assert_eq!(
        wait_ms,
        b.time_until(now, 1_000.0).unwrap() + EDGE_MARGIN_MS
    );
    assert_eq!(s.levels(now)[2], Some(b.level(now)));
}

#[test]
fn the_last_tokens_go_to_one_reservation_only() {
    let mut s = KeyState::new();
    assert_eq!(
        s.reserve(T0, [0.0, 0.0, 1_000.0, 0.0], amounts(0.0, 600.0)),
        Reserve::Admit
    );
    // Two processes ask for the remaining 400 at the same instant: the store serialises them.
    assert_eq!(s.reserve(T0, [0.0; 4], amounts(0.0, 400.0)), Reserve::Admit);
    assert!(matches!(
        s.reserve(T0, [0.0; 4], amounts(0.0, 400.0)),
        Reserve::Wait { .. }
    ));
}

#[test]
fn a_cost_above_a_capacity_is_never_admitted() {
    let mut s = KeyState::new();
    assert_eq!(
        s.reserve(T0, LIMITS, amounts(10_001.0, 0.0)),
        Reserve::Never {
            dim: Dim::InputTokens
        }
    );
    assert_eq!(s.levels(T0)[0], Some(60.0), "nothing taken");
}

#[test]
fn settlement_replaces_the_reservation_by_the_usage() {
    let mut s = KeyState::new();
    let reserved = amounts(1_000.0, 2_000.0);
    assert_eq!(s.reserve(T0, LIMITS, reserved), Reserve::Admit);
    assert_eq!(s.levels(T0)[2], Some(0.0));
    s.settle(T0, reserved, amounts(1_500.0, 300.0));
    assert_eq!(
        s.levels(T0),
        [Some(59.0), Some(8_500.0), Some(1_700.0), None]
    );
    // A usage far beyond the reservation is a debt of at most one capacity.
    s.settle(T0, amounts(0.0, 0.0), amounts(0.0, 1.0e9));
    assert_eq!(s.levels(T0)[2], Some(-2_000.0));
}

#[test]
fn a_refund_gives_the_whole_reservation_back() {
    let mut s = KeyState::new();
    let r = amounts(1_000.0, 500.0);
    assert_eq!(s.reserve(T0, LIMITS, r), Reserve::Admit);
    s.refund(T0, r);
    assert_eq!(
        s.levels(T0),
        [Some(60.0), Some(10_000.0), Some(2_000.0), None]
    );
}

#[test]
fn headers_resize_and_only_ever_lower_the_shared_level() {
    let mut s = KeyState::new();
    assert_eq!(s.reserve(T0, LIMITS, amounts(1_000.0, 0.0)), Reserve::Admit);
    // The server says 4 000 input tokens remain of 8 000: others took what the store never saw.
    s.learn(T0, Dim::InputTokens, 8_000.0, 4_000.0);
    assert_eq!(s.levels(T0)[1], Some(4_000.0));
    // A stale response reporting more does not raise it.
    s.learn(T0, Dim::InputTokens, 8_000.0, 7_000.0);
    assert_eq!(s.levels(T0)[1], Some(4_000.0));
    // A dimension first seen in headers is created.
    s.learn(T0, Dim::Tokens, 50_000.0, 49_000.0);
    assert_eq!(s.levels(T0)[3], Some(49_000.0));
    // Not sent: NaN remaining, invalid limit: nothing changes.
    s.learn(T0, Dim::Tokens, f64::NAN, f64::NAN);
    assert_eq!(s.levels(T0)[3], Some(49_000.0));
}

#[test]
fn a_429_pauses_the_whole_fleet_until_its_retry_after() {
    let mut s = KeyState::new();
    assert_eq!(s.reserve(T0, LIMITS, amounts(0.0, 0.0)), Reserve::Admit);
    s.pause(T0, 5_000.0);
    s.pause(T0 + 1_000.0, 1_000.0); // a shorter, later one does not shorten it
    let r = s.reserve(T0 + 2_000.0, LIMITS, amounts(0.0, 0.0));
    assert_eq!(
        r,
        Reserve::Wait {
            wait_ms: 3_000.0,
            dim: None
        }
    );
    assert_eq!(
        s.reserve(T0 + 5_000.0, LIMITS, amounts(0.0, 0.0)),
        Reserve::Admit
    );
}

#[test]
fn waits_are_durations_from_the_stores_clock() {
    // The answer depends on the store's now only: two callers whose own clocks differ by
    // seconds get the same duration, which each sleeps on its own clock.
    let mut a = KeyState::new();
    a.reserve(T0, [0.0, 0.0, 1_000.0, 0.0], amounts(0.0, 1_000.0));
    let mut b = a;
    let ra = a.reserve(T0 + 10.0, [0.0; 4], amounts(0.0, 100.0));
    let rb = b.reserve(T0 + 10.0, [0.0; 4], amounts(0.0, 100.0));
    assert_eq!(ra, rb);
    let Reserve::Wait { wait_ms, .. } = ra else {
        panic!()
    };
    assert!(close(wait_ms, 6_000.0 - 10.0 + EDGE_MARGIN_MS));
}
