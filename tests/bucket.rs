//! The token bucket (`core::bucket`): what the limiter's own tests leave implicit.

use llm_pacer::core::bucket::Bucket;

const T0: f64 = 1_700_000_000_000.0;

#[test]
fn a_new_capacity_keeps_the_share_others_take() {
    // 60 per minute, others estimated to take half of it: our copy refills at 0.5 per s.
    let mut b = Bucket::per_minute(60.0, T0);
    b.set_drain(T0, 0.0005, 0.9);
    assert!((b.net_rate_per_ms() - 0.0005).abs() < 1e-12);
    // The server doubles the limit: others still take half, now of 120 per minute.
    b.set_capacity(T0, 120.0, 60_000.0);
    assert!(
        (b.drain_per_ms() - 0.001).abs() < 1e-12,
        "{}",
        b.drain_per_ms()
    );
    assert!((b.net_rate_per_ms() - 0.001).abs() < 1e-12);
    // A new window too: the share holds against the new rate.
    b.set_capacity(T0, 120.0, 30_000.0);
    assert!(
        (b.drain_per_ms() - 0.002).abs() < 1e-12,
        "{}",
        b.drain_per_ms()
    );
    // And with no drain there is none after.
    let mut b = Bucket::per_minute(60.0, T0);
    b.set_capacity(T0, 30.0, 60_000.0);
    assert_eq!(b.drain_per_ms(), 0.0);
    assert_eq!(
        b.level(T0),
        30.0,
        "the level is clamped to the new capacity"
    );
}
