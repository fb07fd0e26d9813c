//! The shared-store protocol (core::store), in virtual time: all-or-nothing admission, exact
//! waits, settlement, learned limits and fleet-wide pauses, with the local bucket's arithmetic.

use llm_pacer::core::bucket::Bucket;
use llm_pacer::core::limiter::{Dim, EDGE_MARGIN_MS};
use llm_pacer::core::store::{amounts, need, KeyState, Reserve, TRANSIT_MS, WINDOW_MS};

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
        s.reserve(T0, LIMITS, amounts(1_000.0, 500.0), false),
        Reserve::Admit
    );
    let l = s.levels(T0);
    assert_eq!(l, [Some(59.0), Some(9_000.0), Some(1_500.0), None]);
    // Another process configured other limits: the fleet's buckets keep theirs.
    assert_eq!(
        s.reserve(T0, [1.0, 1.0, 1.0, 0.0], amounts(0.0, 0.0), false),
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
    assert_eq!(
        s.reserve(T0, LIMITS, amounts(0.0, 1_900.0), false),
        Reserve::Admit
    );
    let before = s.levels(T0);
    // Input has room, output does not: nothing is taken from either.
    let r = s.reserve(T0, LIMITS, amounts(5_000.0, 200.0), false);
    let Reserve::Wait { wait_ms, dim } = r else {
        panic!("{r:?}")
    };
    assert_eq!(dim, Some(Dim::OutputTokens));
    // 100 output tokens short at 2000/min: 3 s, plus a transit refill and the edge margin.
    assert!(
        close(wait_ms, 3_000.0 + TRANSIT_MS + EDGE_MARGIN_MS),
        "{wait_ms}"
    );
    assert_eq!(s.levels(T0), before);
    // After exactly that wait, the same request goes.
    assert_eq!(
        s.reserve(T0 + wait_ms, LIMITS, amounts(5_000.0, 200.0), true),
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
            s.reserve(now, [0.0, 0.0, 2_000.0, 0.0], amounts(0.0, out), false),
            Reserve::Admit
        );
        b.take(now, out);
    }
    let now = T0 + 2_500.0;
    let Reserve::Wait { wait_ms, .. } = s.reserve(now, [0.0; 4], amounts(0.0, 1_000.0), false)
    else {
        panic!()
    };
    assert_eq!(
        wait_ms,
        b.time_until(now, need(&b, 1_000.0)).unwrap() + EDGE_MARGIN_MS
    );
    assert_eq!(s.levels(now)[2], Some(b.level(now)));
}

#[test]
fn the_last_tokens_go_to_one_reservation_only() {
    let mut s = KeyState::new();
    assert_eq!(
        s.reserve(T0, [0.0, 0.0, 1_000.0, 0.0], amounts(0.0, 500.0), false),
        Reserve::Admit
    );
    // Two processes ask for 400 of the remaining 500 at the same instant: the store serialises them.
    assert_eq!(
        s.reserve(T0, [0.0; 4], amounts(0.0, 400.0), false),
        Reserve::Admit
    );
    assert!(matches!(
        s.reserve(T0, [0.0; 4], amounts(0.0, 400.0), false),
        Reserve::Wait { .. }
    ));
}

#[test]
fn a_cost_above_a_capacity_is_never_admitted() {
    let mut s = KeyState::new();
    assert_eq!(
        s.reserve(T0, LIMITS, amounts(10_001.0, 0.0), false),
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
    assert_eq!(s.reserve(T0, LIMITS, reserved, false), Reserve::Admit);
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
    assert_eq!(s.reserve(T0, LIMITS, r, false), Reserve::Admit);
    s.refund(T0, r);
    assert_eq!(
        s.levels(T0),
        [Some(60.0), Some(10_000.0), Some(2_000.0), None]
    );
}

#[test]
fn headers_resize_and_only_ever_lower_the_shared_level() {
    let mut s = KeyState::new();
    assert_eq!(
        s.reserve(T0, LIMITS, amounts(1_000.0, 0.0), false),
        Reserve::Admit
    );
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

/// The settlement of a request the store never held raises the level by what it gave back,
/// to no more than the request's own figure; its queue alike (the turns booked stay booked).
/// It never lowers.
#[test]
fn a_give_back_the_store_never_held_raises_the_level_up_to_the_figures() {
    let mut s = KeyState::new();
    s.learn(T0, Dim::OutputTokens, 8_000.0, 5_000.0);
    // A request told to wait books its 5 500 in the queue.
    let r = s.reserve(T0, [0.0; 4], amounts(0.0, 5_500.0), false);
    assert!(matches!(r, Reserve::Wait { .. }), "{r:?}");
    let queue = |s: &KeyState| s.queue[2].map(|q| q.level(T0));
    assert_eq!(queue(&s), Some(-500.0));
    // A figure 300 above the level, 900 given back: raised 300, to the figure.
    s.give_back(T0, Dim::OutputTokens, 900.0, 5_300.0);
    assert_eq!(s.levels(T0)[2], Some(5_300.0));
    assert_eq!(queue(&s), Some(-200.0));
    // A figure far above: raised by the give-back alone.
    s.give_back(T0, Dim::OutputTokens, 900.0, 7_000.0);
    assert_eq!(s.levels(T0)[2], Some(6_200.0));
    // A figure below (as old as a long stream): no change, never lowered.
    s.give_back(T0, Dim::OutputTokens, 900.0, 3_000.0);
    assert_eq!(s.levels(T0)[2], Some(6_200.0));
    // No figure, nothing given, or no bucket: no change.
    s.give_back(T0, Dim::OutputTokens, 900.0, f64::NAN);
    s.give_back(T0, Dim::OutputTokens, f64::NAN, 7_000.0);
    s.give_back(T0, Dim::OutputTokens, -5.0, 7_000.0);
    s.give_back(T0, Dim::InputTokens, 900.0, 7_000.0);
    assert_eq!(s.levels(T0), [None, None, Some(6_200.0), None]);
}

#[test]
fn a_429_pauses_the_whole_fleet_until_its_retry_after() {
    let mut s = KeyState::new();
    assert_eq!(
        s.reserve(T0, LIMITS, amounts(0.0, 0.0), false),
        Reserve::Admit
    );
    s.pause(T0, 5_000.0);
    s.pause(T0 + 1_000.0, 1_000.0); // a shorter, later one does not shorten it
    let r = s.reserve(T0 + 2_000.0, LIMITS, amounts(0.0, 0.0), false);
    assert_eq!(
        r,
        Reserve::Wait {
            wait_ms: 3_000.0,
            dim: None
        }
    );
    assert_eq!(
        s.reserve(T0 + 5_000.0, LIMITS, amounts(0.0, 0.0), true),
        Reserve::Admit
    );
}

#[test]
fn a_wait_is_named_after_its_longer_part_the_pause_or_a_bucket() {
    // The pacer holds a wait named `paused` to maxRetryAfterMs (the server's word), so that
    // name goes only to a wait the pause sets: a bucket that needs longer names itself.
    let mut s = KeyState::new();
    s.reserve(T0, [0.0, 0.0, 1_000.0, 0.0], amounts(0.0, 1_000.0), false);
    s.pause(T0, 1_000.0);
    let Reserve::Wait { wait_ms, dim } = s.reserve(T0, [0.0; 4], amounts(0.0, 500.0), false) else {
        panic!("not a wait");
    };
    assert_eq!(dim, Some(Dim::OutputTokens));
    assert!(wait_ms > 29_000.0, "{wait_ms}");
    let mut s = KeyState::new();
    s.reserve(T0, [0.0, 0.0, 1_000.0, 0.0], amounts(0.0, 1_000.0), false);
    s.pause(T0, 60_000.0);
    let r = s.reserve(T0, [0.0; 4], amounts(0.0, 500.0), false);
    assert_eq!(
        r,
        Reserve::Wait {
            wait_ms: 60_000.0,
            dim: None
        }
    );
}

#[test]
fn waits_are_durations_from_the_stores_clock() {
    // The answer depends on the store's now only: two callers whose own clocks differ by
    // seconds get the same duration, which each sleeps on its own clock.
    let mut a = KeyState::new();
    a.reserve(T0, [0.0, 0.0, 1_000.0, 0.0], amounts(0.0, 1_000.0), false);
    let mut b = a;
    let ra = a.reserve(T0 + 10.0, [0.0; 4], amounts(0.0, 100.0), false);
    let rb = b.reserve(T0 + 10.0, [0.0; 4], amounts(0.0, 100.0), false);
    assert_eq!(ra, rb);
    let Reserve::Wait { wait_ms, .. } = ra else {
        panic!()
    };
    assert!(close(wait_ms, 6_000.0 - 10.0 + TRANSIT_MS + EDGE_MARGIN_MS));
}

#[test]
fn callers_told_to_wait_are_given_turns_in_order() {
    // 1 000 output tokens a minute (1 every 60 ms), emptied: three processes ask for 100 each
    // at once. Each is given its own turn, 100 tokens apart, instead of all waking together.
    let lim = [0.0, 0.0, 1_000.0, 0.0];
    let mut s = KeyState::new();
    assert_eq!(
        s.reserve(T0, lim, amounts(0.0, 1_000.0), false),
        Reserve::Admit
    );
    let step = 100.0 * 60.0; // ms to refill 100
    let first = (100.0 + 1_000.0 / 60_000.0 * TRANSIT_MS) * 60.0 + EDGE_MARGIN_MS;
    let mut turns = Vec::new();
    for k in 0..3 {
        let Reserve::Wait { wait_ms, .. } = s.reserve(T0, lim, amounts(0.0, 100.0), false) else {
            panic!()
        };
        assert!(close(wait_ms, first + step * k as f64), "{k}: {wait_ms}");
        turns.push(T0 + wait_ms);
    }
    // A new request now goes behind them, though the bucket itself is just as short.
    let Reserve::Wait { wait_ms, .. } = s.reserve(T0, lim, amounts(0.0, 100.0), false) else {
        panic!()
    };
    assert!(close(wait_ms, first + 3.0 * step));
    // Each turn, taken at its time, is admitted: one ask each.
    for t in turns {
        assert_eq!(s.reserve(t, lim, amounts(0.0, 100.0), true), Reserve::Admit);
        // Taking the turn early, or as a new request, would not have been.
    }
    // The fourth's turn comes next, measured against the bucket alone.
    let t4 = T0 + wait_ms;
    assert!(matches!(
        s.reserve(t4 - 50.0, lim, amounts(0.0, 100.0), true),
        Reserve::Wait { .. }
    ));
    assert_eq!(
        s.reserve(t4, lim, amounts(0.0, 100.0), true),
        Reserve::Admit
    );
}

#[test]
fn a_turn_books_the_output_expected_and_takes_the_rest_at_its_admission() {
    // OTPM 24 000 (400 a second) at 8 000: a request of `max_tokens` 8 000 is told to wait.
    // Its turn books the 800 its key's requests are expected to use, not 8 000: the next new
    // request queues behind 800, not behind a bucket's third (2.25 s, not 20.25 s).
    let lim = [0.0, 0.0, 24_000.0, 0.0];
    let (cost, book) = (amounts(0.0, 8_000.0), amounts(0.0, 800.0));
    let wait_of = |r| match r {
        Reserve::Wait { wait_ms, .. } => wait_ms,
        r => panic!("{r:?}"),
    };
    let mut waits = Vec::new();
    for b in [book, cost] {
        let mut s = KeyState::new();
        s.learn(T0, Dim::OutputTokens, 24_000.0, 8_000.0);
        wait_of(s.reserve_booking(T0, lim, cost, b, false));
        waits.push(wait_of(s.reserve_booking(T0, lim, cost, cost, false)));
        if b == book {
            // At its turn, admitted: the rest of its cost comes off the queue too, which then
            // stands where an admission leaves it (the bucket less the one turn booked since).
            let t = T0 + 300.0;
            assert_eq!(s.reserve_booking(t, lim, cost, book, true), Reserve::Admit);
            let (b, q) = (s.buckets[2].unwrap().level(t), s.queue[2].unwrap().level(t));
            assert!(close(b - q, 8_000.0), "{b} {q}");
        }
    }
    let per_ms = 24_000.0 / 60_000.0;
    let need = 8_000.0 + per_ms * TRANSIT_MS;
    assert!(
        close(waits[0], (need - 7_200.0) / per_ms + EDGE_MARGIN_MS),
        "{waits:?}"
    );
    assert!(close(waits[1], need / per_ms + EDGE_MARGIN_MS), "{waits:?}");
    // The compact form: the eighth argument, absent or NaN, books the whole cost.
    let mut a = KeyState::new();
    let mut b = KeyState::new();
    for s in [&mut a, &mut b] {
        s.learn(T0, Dim::OutputTokens, 24_000.0, 8_000.0);
    }
    let args = [0.0, 0.0, 24_000.0, 0.0, 0.0, 8_000.0, 0.0];
    a.apply(T0, 1, &args);
    b.apply(T0, 1, &[&args[..], &[f64::NAN]].concat());
    assert_eq!(a.save().map(f64::to_bits), b.save().map(f64::to_bits));
    b.apply(T0, 1, &[&args[..], &[800.0]].concat());
    assert!(b.queue[2].unwrap().level(T0) > a.queue[2].unwrap().level(T0) - 8_000.0 + 1.0);
}

#[test]
fn a_turn_never_taken_is_lost_but_not_the_capacity() {
    // A process killed while waiting leaves its booked cost in the queue bucket, which
    // refills like the bucket: a minute later every request is admitted again at once.
    let lim = [0.0, 0.0, 1_000.0, 0.0];
    let mut s = KeyState::new();
    assert_eq!(
        s.reserve(T0, lim, amounts(0.0, 1_000.0), false),
        Reserve::Admit
    );
    for _ in 0..5 {
        assert!(matches!(
            s.reserve(T0, lim, amounts(0.0, 150.0), false),
            Reserve::Wait { .. }
        ));
    }
    let later = T0 + 2.0 * WINDOW_MS;
    assert_eq!(
        s.reserve(later, lim, amounts(0.0, 900.0), false),
        Reserve::Admit
    );
    // Settlement, refunds and learned levels move the bucket and its queue alike.
    s.refund(later, amounts(0.0, 900.0));
    s.learn(later, Dim::OutputTokens, 1_000.0, 400.0);
    assert_eq!(s.levels(later)[2], Some(400.0));
    assert_eq!(s.queue[2].unwrap().level(later), 400.0);
}

// ---- The engine with a store (Action::Reserve / Engine::on_reserved), in virtual time. ----

/// No process knows a limit: one request goes as the key's probe, the others wait for its
/// answer's figures (no bucket, so nothing else would hold them), and those figures meter
/// the key from then on.
#[test]
fn a_key_that_knows_no_limit_lets_one_probe_go_and_the_others_wait_for_its_figures() {
    use llm_pacer::core::limiter::PROBE_MAX_MS;
    let none = [0.0; 4];
    let mut s = KeyState::new();
    assert_eq!(
        s.reserve(T0, none, amounts(10.0, 1_000.0), false),
        Reserve::Admit
    );
    assert_eq!(s.levels(T0), [None; 4], "nothing taken: no bucket");
    for (t, turn) in [(0.0, false), (3_000.0, true), (9_000.0, false)] {
        assert_eq!(
            s.reserve(T0 + t, none, amounts(10.0, 1_000.0), turn),
            Reserve::Probing {
                wait_ms: PROBE_MAX_MS - t
            },
            "at +{t} ms"
        );
    }
    // The probe's head: the output bucket exists, and meters the others.
    s.learn(T0 + 9_500.0, Dim::OutputTokens, 6_000.0, 5_000.0);
    let now = T0 + 9_500.0;
    assert_eq!(
        s.reserve(now, none, amounts(10.0, 1_000.0), true),
        Reserve::Admit
    );
    assert!(matches!(
        s.reserve(now, none, amounts(10.0, 4_500.0), false),
        Reserve::Wait {
            dim: Some(Dim::OutputTokens),
            ..
        }
    ));
    // A process that knows a limit creates the bucket itself: no probe at all.
    let mut s = KeyState::new();
    for _ in 0..3 {
        assert_eq!(
            s.reserve(T0, LIMITS, amounts(10.0, 100.0), false),
            Reserve::Admit
        );
    }
}

/// A probe that never answers (its process killed, an answer slower than the lease: one that
/// is no stream comes whole) holds the others for the lease only: then one more goes, and
/// twice as many as are out after each step, as one process's limiter opens: 2, 4, 8, 16 out
/// at 10, 12.5, 15 and 17.5 s. (One more a step had four out at 17.5 s, sixteen processes
/// waiting on answers of 3 to 34 s.) A step counts from the request that doubled the count,
/// so a key nobody asked about for a while does not open at once.
#[test]
fn a_probes_lease_that_runs_out_lets_twice_as_many_go_each_step() {
    use llm_pacer::core::limiter::{PROBE_MAX_MS, PROBE_STEP_MS};
    let none = [0.0; 4];
    let cost = amounts(10.0, 1_000.0);
    let mut s = KeyState::new();
    assert_eq!(s.reserve(T0, none, cost, false), Reserve::Admit);
    let mut now = T0 + PROBE_MAX_MS;
    for out in [2, 4, 8, 16] {
        while s.probe_sent < out {
            assert_eq!(s.reserve(now, none, cost, false), Reserve::Admit, "{out}");
        }
        assert_eq!(
            s.reserve(now + 1.0, none, cost, false),
            Reserve::Probing {
                wait_ms: PROBE_STEP_MS - 1.0
            },
            "{out} out"
        );
        now += PROBE_STEP_MS;
    }
    // Asked again long after: one goes, then the second waits a step from it.
    now += 60_000.0;
    assert_eq!(s.reserve(now, none, cost, false), Reserve::Admit);
    assert_eq!(s.probe_sent, 17);
    for _ in 17..32 {
        assert_eq!(s.reserve(now, none, cost, false), Reserve::Admit);
    }
    assert_eq!(
        s.reserve(now, none, cost, false),
        Reserve::Probing {
            wait_ms: PROBE_STEP_MS
        }
    );
    // Any answer without figures ends it: the next goes as a first probe, on the whole lease.
    s.probed(false);
    assert_eq!(s.reserve(now, none, cost, false), Reserve::Admit);
    assert_eq!(
        s.reserve(now, none, cost, false),
        Reserve::Probing {
            wait_ms: PROBE_MAX_MS
        }
    );
}

/// The probe's answer had no limit: a refusal (a 529, no headers) ends its lease, so the next
/// request goes as a probe at once; a 2xx opens the key (its server sends no figures: a
/// self-hosted one), whose requests all go from then on, until a figure names a limit.
#[test]
fn a_probe_answered_without_figures_ends_its_lease_and_a_2xx_opens_the_key() {
    use llm_pacer::core::limiter::PROBE_MAX_MS;
    let none = [0.0; 4];
    let cost = amounts(10.0, 1_000.0);
    let mut s = KeyState::new();
    assert_eq!(s.reserve(T0, none, cost, false), Reserve::Admit);
    s.probed(false);
    assert_eq!(s.reserve(T0 + 1.0, none, cost, false), Reserve::Admit);
    assert_eq!(
        s.reserve(T0 + 2.0, none, cost, false),
        Reserve::Probing {
            wait_ms: PROBE_MAX_MS - 1.0
        },
        "a fresh lease, the whole of it"
    );
    s.probed(true);
    for t in 3..10 {
        assert_eq!(s.reserve(T0 + t as f64, none, cost, false), Reserve::Admit);
    }
    assert_eq!(s.levels(T0 + 10.0), [None; 4]);
    // A 429's pause still holds an open key, and a figure still meters it.
    s.pause(T0 + 10.0, 2_000.0);
    assert!(matches!(
        s.reserve(T0 + 11.0, none, cost, false),
        Reserve::Wait { dim: None, .. }
    ));
    s.learn(T0 + 3_000.0, Dim::Requests, 2.0, 0.0);
    assert!(matches!(
        s.reserve(T0 + 3_000.0, none, cost, false),
        Reserve::Wait {
            dim: Some(Dim::Requests),
            ..
        }
    ));
}

/// A 429's pause is the server's word: it holds a key that knows no limit too, and names
/// itself (not the probe) as the blocker.
#[test]
fn a_pause_holds_a_key_with_no_limit_before_its_probe() {
    let mut s = KeyState::new();
    s.pause(T0, 5_000.0);
    assert_eq!(
        s.reserve(T0 + 1_000.0, [0.0; 4], amounts(1.0, 1.0), false),
        Reserve::Wait {
            wait_ms: 4_000.0,
            dim: None
        }
    );
    assert_eq!(
        s.reserve(T0 + 5_000.0, [0.0; 4], amounts(1.0, 1.0), false),
        Reserve::Admit,
        "the probe, once the pause is over"
    );
}

mod engine {
    use super::T0;
    use llm_pacer::core::backoff::Jitter;
    use llm_pacer::core::bucket::Bucket;
    use llm_pacer::core::call::{
        Action, Engine, Id, Request, StoreAnswer, StoreOp, Verdict, TOKEN_RECHECK_MS,
    };
    use llm_pacer::core::config::Config;
    use llm_pacer::core::headers::RateLimitInfo;
    use llm_pacer::core::limiter::{Dim, Limits, Usage};
    use llm_pacer::core::store::{amounts, KeyState, Reserve, WINDOW_MS};

    fn engine(otpm: f64) -> Engine {
        engine_with(otpm, None)
    }

    fn engine_with(otpm: f64, timeout_ms: Option<f64>) -> Engine {
        let mut c = Config::new();
        c.timeout_ms = timeout_ms;
        c.retry.backoff.jitter = Jitter::None;
        c.limits = Limits {
            rpm: Some(1_000.0),
            otpm: Some(otpm),
            ..Limits::default()
        };
        let mut e = Engine::new(c, T0);
        e.set_store(true);
        e.set_record_events(true);
        e
    }

    fn req(max_tokens: f64) -> Request {
        Request {
            input_tokens: 10.0,
            max_tokens: Some(max_tokens),
            ..Request::default()
        }
    }

    fn reserves(actions: &[Action]) -> Vec<(Id, f64)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Reserve { id, output, .. } => Some((*id, *output)),
                _ => None,
            })
            .collect()
    }

    fn warnings(e: &mut Engine) -> Vec<&'static str> {
        e.drain_events()
            .into_iter()
            .filter(|ev| ev.reason.starts_with("store_"))
            .map(|ev| ev.reason)
            .collect()
    }

    /// The store work queued is one refund of a whole reservation (not a turn only).
    fn assert_one_refund(e: &mut Engine) {
        let ops = e.drain_store_ops();
        assert!(
            matches!(
                ops[..],
                [StoreOp::Refund {
                    turn_only: false,
                    ..
                }]
            ),
            "{ops:?}"
        );
    }

    /// The driver's part: carry out a Reserve against a shared KeyState at `now`.
    fn carry(e: &mut Engine, store: &mut KeyState, now: f64, a: &Action) -> Vec<Action> {
        let (id, answer) = e.reserve_in(store, now, a).expect("a reservation");
        e.on_reserved(now, id, answer)
    }

    #[test]
    fn admission_goes_through_the_store_then_the_send() {
        let mut e = engine(6_000.0);
        let mut store = KeyState::new();
        let id = e.submit(T0, req(1_000.0)).unwrap();
        let acts = e.poll(T0);
        assert_eq!(
            reserves(&acts),
            vec![(id, 1_000.0)],
            "no Send before the store answers"
        );
        let next = carry(&mut e, &mut store, T0, &acts[0]);
        assert_eq!(next, vec![Action::Send { id, attempt: 1 }]);
        assert_eq!(store.levels(T0)[Dim::OutputTokens as usize], Some(5_000.0));
    }

    /// The local reservations in flight, every key's output.
    /// The key slot and the amounts of a store reservation the engine asks for.
    fn reserved(a: &Action) -> (u32, f64, f64) {
        let Action::Reserve {
            slot,
            input,
            output,
            ..
        } = *a
        else {
            panic!("{a:?}")
        };
        (slot, input, output)
    }

    fn out(e: &Engine, now: f64) -> f64 {
        e.limits(now)
            .iter()
            .map(|k| {
                e.limiter(&k.key)
                    .map_or(0.0, |l| l.in_flight(Dim::OutputTokens))
            })
            .sum()
    }

    /// Each local reservation leaves the count of reservations in flight once, whatever the
    /// store answered: a call sent on its admission and settled, one aborted while the store
    /// had not answered (its answer coming late), one sent on the local limiter when the store
    /// was unavailable and lost to a network error.
    #[test]
    fn each_reservation_leaves_the_count_in_flight_once_whatever_the_store_said() {
        let mut e = engine(6_000.0);
        let mut store = KeyState::new();
        let a = e.submit(T0, req(1_000.0)).unwrap();
        let acts = e.poll(T0);
        assert_eq!(
            carry(&mut e, &mut store, T0, &acts[0]),
            vec![Action::Send { id: a, attempt: 1 }]
        );
        assert_eq!(out(&e, T0), 1_000.0);
        let none = RateLimitInfo::default();
        assert_eq!(
            e.on_response(T0 + 10.0, a, 200, &none, None, 0.5),
            Verdict::Deliver
        );
        e.on_done(T0 + 20.0, a, Some(used(300.0)));
        assert_eq!(out(&e, T0 + 20.0), 0.0);

        let b = e.submit(T0 + 30.0, req(2_000.0)).unwrap();
        let acts = e.poll(T0 + 30.0);
        let (slot, input, output) = reserved(&acts[0]);
        assert_eq!(out(&e, T0 + 30.0), 2_000.0);
        assert!(e.abort(T0 + 40.0, b));
        assert_eq!(out(&e, T0 + 40.0), 0.0);
        e.on_late_reserve(slot, input, (output, output), StoreAnswer::Admit);
        assert_eq!(out(&e, T0 + 50.0), 0.0);

        let c = e.submit(T0 + 60.0, req(1_500.0)).unwrap();
        let acts = e.poll(T0 + 60.0);
        assert_eq!(reserves(&acts).len(), 1, "{acts:?}");
        let sent = e.on_reserved(T0 + 70.0, c, StoreAnswer::Unavailable);
        assert_eq!(sent, vec![Action::Send { id: c, attempt: 1 }]);
        assert_eq!(out(&e, T0 + 70.0), 1_500.0);
        e.on_network_error(T0 + 80.0, c, 0.5);
        assert_eq!(out(&e, T0 + 80.0), 0.0);
        assert!(e.abort(T0 + 90.0, c));
        assert_eq!(out(&e, T0 + 90.0), 0.0);
    }

    #[test]
    fn a_429_gives_the_stores_reservation_back_as_the_local_one() {
        // The server refused without processing: its tokens were never counted. The local
        // limiter refunds them, and so does the store (a probe: a call with four 429s left the
        // store 3 500 output tokens below the server).
        let mut e = engine(6_000.0);
        let mut store = KeyState::new();
        let id = e.submit(T0, req(1_000.0)).unwrap();
        let acts = e.poll(T0);
        assert_eq!(
            carry(&mut e, &mut store, T0, &acts[0]),
            vec![Action::Send { id, attempt: 1 }]
        );
        let info = RateLimitInfo {
            retry_after_ms: Some(1_000.0),
            ..RateLimitInfo::default()
        };
        assert!(matches!(
            e.on_response(T0, id, 429, &info, None, 0.5),
            Verdict::Retry { .. }
        ));
        let refunds: Vec<StoreOp> = e
            .drain_store_ops()
            .into_iter()
            .filter(|op| matches!(op, StoreOp::Refund { .. }))
            .collect();
        assert!(
            matches!(
                refunds[..],
                [StoreOp::Refund { output, turn_only: false, .. }] if output == 1_000.0
            ),
            "{refunds:?}"
        );
    }

    #[test]
    fn a_turn_no_call_is_left_to_take_is_given_back() {
        // Told to wait, the key books a turn in the store's queue. Its only call then leaves
        // (aborted here; a deadline and close() alike): the turn is given back, or the fleet
        // would queue behind it until its cost refilled (a probe: 10.3 s instead of 0.4 s).
        // With another call of the key still waiting, the turn stays: that call takes it.
        for others in [0, 1] {
            let mut e = engine(60_000.0);
            let mut store = KeyState::new();
            store.learn(T0, Dim::OutputTokens, 6_000.0, 0.0);
            let ids: Vec<Id> = (0..1 + others)
                .map(|_| e.submit(T0, req(2_000.0)).unwrap())
                .collect();
            for act in e.poll(T0) {
                assert!(
                    carry(&mut e, &mut store, T0, &act).is_empty(),
                    "told to wait"
                );
            }
            e.drain_store_ops();
            assert!(e.abort(T0 + 1.0, ids[0]));
            let back: Vec<StoreOp> = e.drain_store_ops();
            if others == 0 {
                assert!(
                    matches!(
                        back[..],
                        [StoreOp::Refund { output, turn_only: true, .. }] if output == 2_000.0
                    ),
                    "{back:?}"
                );
            } else {
                assert!(back.is_empty(), "{back:?}");
            }
        }
    }

    #[test]
    fn close_rejects_a_call_still_waiting_for_the_stores_answer() {
        // Not sent yet: for the server it is queued still. close() rejects it with CLOSED (it
        // was sent after close, and answered 200, in a probe); the store's answer, when it
        // comes, is undone.
        use llm_pacer::core::call::CallError;
        let mut e = engine(6_000.0);
        let id = e.submit(T0, req(1_000.0)).unwrap();
        let acts = e.poll(T0);
        let Some(&Action::Reserve { id: asked, .. }) = acts.first() else {
            panic!("{acts:?}")
        };
        let closed = e.close(T0 + 1.0);
        assert_eq!(
            closed,
            vec![Action::Fail {
                id,
                error: CallError::Closed
            }]
        );
        assert!(e
            .on_reserved(T0 + 2.0, asked, StoreAnswer::Admit)
            .is_empty());
        assert_one_refund(&mut e);
    }

    #[test]
    fn a_key_the_store_told_to_wait_reserves_one_call_at_a_time() {
        // Four calls ask at once and are all told to wait: one turn is kept, three given
        // back. Once the turn is taken, the other three do not all ask (and book a turn each,
        // all but one given back, every time: 28 refunds for 8 calls in a probe): one asks,
        // the others wait for its answer.
        let mut e = engine(60_000.0);
        let mut store = KeyState::new();
        store.learn(T0, Dim::OutputTokens, 6_000.0, 0.0);
        for _ in 0..4 {
            e.submit(T0, req(1_000.0)).unwrap();
        }
        let first = e.poll(T0);
        assert_eq!(reserves(&first).len(), 4, "not contended yet: all ask");
        for act in &first {
            assert!(carry(&mut e, &mut store, T0, act).is_empty());
        }
        assert!(reserves(&e.poll(T0)).is_empty(), "held until the turn");
        e.drain_store_ops();
        let (turn, taking) = to_turn(&mut e, &mut store);
        assert_eq!(reserves(&taking).len(), 1, "the turn");
        assert_eq!(carry(&mut e, &mut store, turn, &taking[0]).len(), 1, "sent");
        let next = e.poll(turn);
        assert_eq!(reserves(&next).len(), 1, "one at a time: {next:?}");
        let answer = carry(&mut e, &mut store, turn, &next[0]);
        assert!(answer.is_empty(), "told to wait: its turn booked");
        let ops = e.drain_store_ops();
        assert!(
            !ops.iter().any(|op| matches!(op, StoreOp::Refund { .. })),
            "no turn booked to be given back: {ops:?}"
        );
        assert!(
            reserves(&e.poll(turn)).is_empty(),
            "the others wait for that turn"
        );
    }

    /// The driver's part for the work that needs no answer: `ops` in order, at `now`.
    fn apply(store: &mut KeyState, now: f64, ops: Vec<StoreOp>) {
        for op in ops {
            op.carry(store, now);
        }
    }

    /// [`carry`], with the answer a store that knows no limit gives (`levels: {}`).
    fn carry_unmetered(e: &mut Engine, store: &mut KeyState, a: &Action) -> Vec<Action> {
        let Action::Reserve {
            id,
            slot,
            input,
            output,
            turn,
            ..
        } = *a
        else {
            panic!("{a:?}")
        };
        let limits = e.store_limits(slot);
        assert_eq!(
            store.reserve(T0, limits, amounts(input, output), turn),
            Reserve::Admit
        );
        assert_eq!(store.levels(T0), [None; 4], "no bucket held");
        // Each process's first call goes (as its own probe, or through a store that keeps
        // none): the lease is not held against the next.
        store.probed(false);
        e.on_reserved(T0, id, StoreAnswer::AdmitUnmetered)
    }

    /// A pacer with a store and no limit, its first call sent (the store held no bucket).
    fn unmetered_first(store: &mut KeyState, max: f64) -> (Engine, Id) {
        let mut e = Engine::new(Config::new(), T0);
        e.set_store(true);
        let id = e.submit(T0, req(max)).unwrap();
        let acts = e.poll(T0);
        let sent = carry_unmetered(&mut e, store, &acts[0]);
        assert_eq!(sent, vec![Action::Send { id, attempt: 1 }]);
        (e, id)
    }

    /// The output headers of a server whose OTPM bucket is at `level`.
    fn otpm(limit: f64, level: f64) -> RateLimitInfo {
        let mut info = RateLimitInfo::default();
        info.output_tokens.limit = Some(limit);
        info.output_tokens.remaining = Some(level);
        info
    }

    fn used(output: f64) -> Usage {
        Usage {
            input_tokens: 10.0,
            output_tokens: output,
            ..Usage::default()
        }
    }

    /// A stream's head is written at its admission, with the whole fleet's calls in flight
    /// counted at their `max_tokens`; other processes' give-backs would reach this process's
    /// copy only through a later head. While a store answers, it gates the fleet: the copy
    /// keeps its own level (its reservation taken), not the head's. Without a store, or while
    /// it is down, the head places the copy as before.
    #[test]
    fn a_stream_heads_token_levels_are_left_to_a_store_that_answers() {
        let level_after_head = |store: bool| {
            let mut c = Config::new();
            c.limits = Limits {
                otpm: Some(6_000.0),
                ..Limits::default()
            };
            let mut e = Engine::new(c, T0);
            e.set_store(store);
            let id = e.submit(T0, req(1_000.0)).unwrap();
            e.poll(T0);
            if store {
                e.on_reserved(T0, id, StoreAnswer::Admit);
            }
            e.streaming(id);
            e.on_response(T0 + 100.0, id, 200, &otpm(6_000.0, 1_000.0), None, 0.5);
            e.limits(T0 + 100.0)[0]
                .dims
                .iter()
                .find(|d| d.dim == Dim::OutputTokens)
                .map(|d| d.remaining)
                .unwrap()
        };
        let with_store = level_after_head(true);
        assert!(
            with_store > 4_900.0,
            "its own reservation only: {with_store}"
        );
        let alone = level_after_head(false);
        assert!(alone < 1_100.0, "the head's figure: {alone}");
    }

    /// Two processes whose first calls go before any limit is known (no probe: a lease run
    /// out, or each its own): the store holds no bucket and takes nothing. The server
    /// (Anthropic's OTPM: `max_tokens` reserved at the start, the unused part given back at
    /// the end) counts both. The first answer's figures create the store's bucket, which
    /// counts the second call's whole reservation. Neither call is settled there (the store
    /// took nothing for them). A stream's head comes before its give-back: at its settlement
    /// the store raises its level by what it gave back, up to its figures. An answer that
    /// is no stream may have been written after the server gave back (as here, the mock's
    /// order): nothing is given back again (the store admitting others between its figures
    /// and its settlement then stood that much above the server: a 429 in most runs of the
    /// fleet bench at Tier 1's scale), and the store stays below by its unused output, the
    /// cautious side. Never above the server either way.
    #[test]
    fn calls_the_store_held_no_bucket_for_are_not_settled_there() {
        let (limit, max, out) = (10_000.0, 1_000.0, 100.0);
        for stream in [false, true] {
            let mut server = Bucket::new(limit, WINDOW_MS, T0);
            let mut store = KeyState::new();
            let mut first = Vec::new();
            for _ in 0..2 {
                first.push(unmetered_first(&mut store, max));
                server.take(T0, max);
            }
            for (k, (e, id)) in first.iter_mut().enumerate() {
                let id = *id;
                let now = T0 + 1_000.0 * (k as f64 + 1.0);
                let head = if stream {
                    e.streaming(id);
                    let head = otpm(limit, server.level(now));
                    server.give(now, max - out);
                    head
                } else {
                    server.give(now, max - out);
                    otpm(limit, server.level(now))
                };
                assert_eq!(
                    e.on_response(now, id, 200, &head, None, 0.5),
                    Verdict::Deliver
                );
                e.on_done(now, id, Some(used(out)));
                let ops = e.drain_store_ops();
                let gives = ops
                    .iter()
                    .filter(|op| matches!(op, StoreOp::GiveBack { .. }))
                    .count();
                assert_eq!(gives, usize::from(stream), "stream {stream}: {ops:?}");
                apply(&mut store, now, ops);
                let (s, want) = (
                    store.levels(now)[Dim::OutputTokens as usize].unwrap(),
                    server.level(now),
                );
                assert!(
                    s <= want + 1e-6,
                    "stream {stream}, call {k}: store {s}, server {want}"
                );
                assert!(s >= want - 2.0 * (max - out) - 1e-6, "call {k}: {s} {want}");
            }
        }
    }

    /// Servers differ: one writes the head before it gives the unused output back (as a
    /// stream's head, or a server that settles later), another reserves nothing up front
    /// and takes the output at the end. The give-back of the fleet's first calls is capped
    /// by the call's own figure: with the first, it never lifts the store above the server;
    /// with the second, which gives nothing back, it changes nothing (the store learns such
    /// a call's output from the next figures only, as without it).
    #[test]
    fn a_first_calls_give_back_never_lifts_the_store_above_other_servers() {
        let (limit, max, out) = (10_000.0, 1_000.0, 100.0);
        for reserves_up_front in [true, false] {
            let mut server = Bucket::new(limit, WINDOW_MS, T0);
            let (mut store, mut plain) = (KeyState::new(), KeyState::new());
            let mut first = Vec::new();
            for _ in 0..3 {
                first.push(unmetered_first(&mut store, max));
                if reserves_up_front {
                    server.take(T0, max);
                }
            }
            for (k, (e, id)) in first.iter_mut().enumerate() {
                let id = *id;
                let now = T0 + 500.0 * (k as f64 + 1.0);
                // The head first, then the server's settlement.
                let head = otpm(limit, server.level(now));
                if reserves_up_front {
                    server.give(now, max - out);
                } else {
                    server.take(now, out);
                }
                e.on_response(now, id, 200, &head, None, 0.5);
                e.on_done(now, id, Some(used(out)));
                let ops = e.drain_store_ops();
                let learned = ops.iter().filter(|op| matches!(op, StoreOp::Learn { .. }));
                apply(&mut plain, now, learned.copied().collect());
                apply(&mut store, now, ops);
                let level = |s: &KeyState| s.levels(now)[Dim::OutputTokens as usize];
                let (s, want) = (level(&store), server.level(now));
                if reserves_up_front {
                    assert!(
                        s.is_some_and(|s| s <= want + 1e-6),
                        "call {k}: store {s:?}, server {want}"
                    );
                } else {
                    assert_eq!(s, level(&plain), "call {k}");
                }
            }
        }
    }

    /// The other order: a process with configured limits creates the store's bucket full,
    /// after another's first call went unmetered; the server counted that call, the bucket
    /// did not. Its answer's give-back then raises nothing: the store is at or above the
    /// figures, which it comes down to (never above the server).
    #[test]
    fn a_give_back_the_stores_bucket_never_counted_raises_nothing() {
        let (limit, max, out) = (10_000.0, 1_000.0, 100.0);
        let mut server = Bucket::new(limit, WINDOW_MS, T0);
        let mut store = KeyState::new();
        let (mut a, id) = unmetered_first(&mut store, max);
        server.take(T0, max);
        let mut b = engine(limit);
        b.submit(T0, req(max)).unwrap();
        let acts = b.poll(T0);
        assert_eq!(carry(&mut b, &mut store, T0, &acts[0]).len(), 1, "sent");
        server.take(T0, max);
        // A stream: its head before its give-back.
        let now = T0 + 1_000.0;
        let figure = server.level(now);
        a.streaming(id);
        a.on_response(now, id, 200, &otpm(limit, figure), None, 0.5);
        server.give(now, max - out);
        let ops = a.drain_store_ops();
        assert!(
            matches!(ops[..], [StoreOp::Learn { .. }]),
            "the figures go at once: {ops:?}"
        );
        apply(&mut store, now, ops);
        a.on_done(now, id, Some(used(out)));
        let ops = a.drain_store_ops();
        assert!(
            matches!(ops[..], [StoreOp::GiveBack { dims, .. }] if dims[Dim::OutputTokens as usize] == (max - out, figure)),
            "and the give-back: {ops:?}"
        );
        apply(&mut store, now, ops);
        let s = store.levels(now)[Dim::OutputTokens as usize];
        assert!(
            s.is_some_and(|s| (s - figure).abs() < 1e-6 && s <= server.level(now)),
            "store {s:?}, figure {figure}, server {}",
            server.level(now)
        );
    }

    /// A first call refused (429) goes again once a bucket exists: admitted by the store
    /// then, it is settled there, with no give-back of its own.
    #[test]
    fn a_first_call_retried_after_the_store_learned_is_settled_there() {
        let (limit, max, out) = (10_000.0, 1_000.0, 100.0);
        let mut store = KeyState::new();
        let (mut e, id) = unmetered_first(&mut store, max);
        let mut refused = otpm(limit, 0.0);
        refused.retry_after_ms = Some(1_000.0);
        e.on_response(T0 + 10.0, id, 429, &refused, None, 0.5);
        apply(&mut store, T0 + 10.0, e.drain_store_ops());
        let later = T0 + 60_000.0;
        let retry: Vec<Action> = e
            .poll(later)
            .into_iter()
            .filter(|a| matches!(a, Action::Reserve { .. }))
            .collect();
        assert_eq!(retry.len(), 1, "the retry asks the store");
        assert_eq!(carry(&mut e, &mut store, later, &retry[0]).len(), 1, "sent");
        e.on_response(later, id, 200, &otpm(limit, 9_000.0), None, 0.5);
        e.on_done(later, id, Some(used(out)));
        let ops = e.drain_store_ops();
        assert!(
            matches!(ops[..], [StoreOp::Settle { .. }, StoreOp::Learn { .. }]),
            "{ops:?}"
        );
    }

    /// A call the store held, while traffic from outside the fleet lowered the server's
    /// level: its figures go to the store after its settlement, raised by its unused output
    /// (the store gates, so the give-back is read as not in them, `Limiter::settle_shared`).
    /// A server that writes its head before it settles (the unused part given back after the
    /// figures) leaves the store where the server is, outside traffic taken. A stream's
    /// figures (written at its start, counting the whole reservation) go at once. A server
    /// that settles first leaves the store there too without outside traffic; with it, the
    /// store stands above the server by the call's unused output at most (the price of the
    /// reading: the two orders cannot be told apart where others draw).
    #[test]
    fn a_calls_own_figures_follow_its_settlement_unless_it_is_a_stream() {
        // (stream, the server settles before the head, outside traffic, the store above by)
        let (limit, max, out) = (6_000.0, 1_000.0, 100.0);
        for (stream, settled_first, outside, above) in [
            (false, false, 2_000.0, 0.0),
            (true, false, 2_000.0, 0.0),
            (false, true, 0.0, 0.0),
            (false, true, 2_000.0, max - out),
        ] {
            let mut server = Bucket::new(limit, WINDOW_MS, T0);
            let mut store = KeyState::new();
            store.learn(T0, Dim::OutputTokens, limit, limit);
            let mut e = engine(limit);
            let id = e.submit(T0, req(max)).unwrap();
            let acts = e.poll(T0);
            carry(&mut e, &mut store, T0, &acts[0]);
            server.take(T0, max + outside);
            let now = T0 + 1_000.0;
            if settled_first {
                server.give(now, max - out);
            }
            let head = otpm(limit, server.level(now));
            assert_eq!(
                e.on_response(now, id, 200, &head, None, 0.5),
                Verdict::Deliver
            );
            if stream {
                e.on_stream(id);
                let ops = e.drain_store_ops();
                assert!(matches!(ops[..], [StoreOp::Learn { .. }]), "{ops:?}");
                apply(&mut store, now, ops);
            } else {
                assert!(e.drain_store_ops().is_empty(), "held until the settlement");
            }
            if !settled_first {
                server.give(now, max - out);
            }
            e.on_done(now, id, Some(used(out)));
            apply(&mut store, now, e.drain_store_ops());
            let (s, want) = (
                store.levels(now)[Dim::OutputTokens as usize],
                server.level(now) + above,
            );
            assert!(
                s.is_some_and(|s| (s - want).abs() < 1e-6),
                "stream {stream}, settled first {settled_first}, outside {outside}: \
                 store {s:?}, server {want} - {above}"
            );
        }
    }

    /// A call that leaves before its settlement (its body never read to the end, aborted)
    /// still sends its figures.
    #[test]
    fn held_figures_go_when_the_call_leaves_unsettled() {
        let mut e = engine(6_000.0);
        let mut store = KeyState::new();
        let id = e.submit(T0, req(1_000.0)).unwrap();
        let acts = e.poll(T0);
        carry(&mut e, &mut store, T0, &acts[0]);
        e.on_response(T0 + 10.0, id, 200, &otpm(6_000.0, 4_000.0), None, 0.5);
        assert!(e.drain_store_ops().is_empty());
        assert!(e.abort(T0 + 20.0, id));
        let ops = e.drain_store_ops();
        assert!(matches!(ops[..], [StoreOp::Learn { .. }]), "{ops:?}");
    }

    /// Calls that leave unsettled (aborted in flight, a body ended with no usage), whether
    /// the store held them or not, leave no entry in the store link behind.
    #[test]
    fn calls_that_leave_unsettled_leave_no_store_entry() {
        for unmetered in [false, true] {
            let mut store = KeyState::new();
            let mut e = if unmetered {
                let mut e = Engine::new(Config::new(), T0);
                e.set_store(true);
                e
            } else {
                engine(60_000.0)
            };
            let mut now = T0;
            for k in 0..2 {
                now += 1_000.0;
                let id = e.submit(now, req(100.0)).unwrap();
                let acts: Vec<Action> = e
                    .poll(now)
                    .into_iter()
                    .filter(|a| matches!(a, Action::Reserve { .. }))
                    .collect();
                assert_eq!(acts.len(), 1, "unmetered {unmetered}: {acts:?}");
                let sent = if unmetered {
                    carry_unmetered(&mut e, &mut store, &acts[0])
                } else {
                    carry(&mut e, &mut store, now, &acts[0])
                };
                assert_eq!(sent, vec![Action::Send { id, attempt: 1 }]);
                assert!(e.store_entries() > 0);
                if k == 0 {
                    assert!(e.abort(now, id));
                } else {
                    e.on_response(now, id, 200, &otpm(60_000.0, 50_000.0), None, 0.5);
                    e.on_done(now, id, None);
                }
                assert_eq!(e.store_entries(), 0, "unmetered {unmetered}, call {id:?}");
            }
        }
    }

    #[test]
    fn two_engines_sharing_a_store_never_exceed_its_limits_and_sleep_its_exact_wait() {
        // Each engine alone would admit its 4 calls of 1 000 output tokens at once; together
        // they share one bucket of 6 000: 5 go (the 6th would leave no transit refill), and the others wait exactly what the store says.
        // Each is configured with 60 000 (its opening share: 15 000); the server's headers
        // told the store the truth, 6 000.
        let (mut a, mut b) = (engine(60_000.0), engine(60_000.0));
        let mut store = KeyState::new();
        store.learn(T0, Dim::OutputTokens, 6_000.0, 6_000.0);
        let mut sent = 0;
        for _ in 0..4 {
            a.submit(T0, req(1_000.0)).unwrap();
            b.submit(T0, req(1_000.0)).unwrap();
        }
        let mut waits = Vec::new();
        for e in [&mut a, &mut b] {
            for act in e.poll(T0) {
                let next = carry(e, &mut store, T0, &act);
                sent += next.len();
            }
            // As a driver does after every answer: the held key asks nothing more.
            assert!(reserves(&e.poll(T0)).is_empty(), "one ask per held key");
            for ev in e.drain_events() {
                if ev.reason == "store" {
                    waits.push(ev.delay_ms);
                }
            }
        }
        assert_eq!(sent, 5);
        // 1 000 left, 1 000 plus a transit's refill needed at 100/s: the first waits the
        // transit (+ the edge margin); each next one is given the turn after it, 1 000 tokens
        // (10 s) later. The engine wakes at the first turn, not before.
        let exact = llm_pacer::core::store::TRANSIT_MS + llm_pacer::core::limiter::EDGE_MARGIN_MS;
        assert_eq!(waits.len(), 3);
        for (k, w) in waits.iter().enumerate() {
            let want = exact + 10_000.0 * k as f64;
            assert!((w - want).abs() < 1e-6, "{w} vs {want}");
        }
        let wake = b.next_wake().unwrap();
        assert!((wake - (T0 + exact)).abs() < 1e-3, "{}", wake - T0);
        assert!(
            b.poll(wake - 1.0).is_empty(),
            "no polling before the store's wait is over"
        );
        let again = b.poll(wake);
        assert!(!reserves(&again).is_empty());
        let next = carry(&mut b, &mut store, wake, &again[0]);
        assert_eq!(next.len(), 1, "admitted after exactly the wait");
    }

    #[test]
    fn a_store_wait_holds_the_key_so_queued_calls_do_not_poll_the_store() {
        // Locally 3 of the 6 calls fit (the opening share of 60 000 is 15 000); the store,
        // which the fleet has emptied, says wait to each. The 3 queued behind them ask
        // nothing until the wait is over: one round of asks per wait, not one per call.
        let mut e = engine(60_000.0);
        let mut store = KeyState::new();
        store.learn(T0, Dim::OutputTokens, 6_000.0, 0.0);
        for _ in 0..6 {
            e.submit(T0, req(4_000.0)).unwrap();
        }
        let first = e.poll(T0);
        assert_eq!(reserves(&first).len(), 3);
        for act in &first {
            assert!(carry(&mut e, &mut store, T0, act).is_empty());
        }
        assert!(reserves(&e.poll(T0)).is_empty(), "the queue does not ask");
        // One turn per key: the two booked besides the first are given back at once.
        let unbooked = e
            .drain_store_ops()
            .into_iter()
            .filter(|op| matches!(op, StoreOp::Refund { turn_only: true, output, .. } if *output == 4_000.0))
            .count();
        assert_eq!(unbooked, 2);
        e.drain_events();
        // 4 000 plus a transit's refill at 100/s, from 0: the first call's stated turn. A token
        // bucket's wait counts nothing the fleet's calls in flight give back, so the first
        // call asks again once a re-check period, alone, silently; a store whose level only
        // refills admits it at exactly the time it stated.
        let exact = (4_000.0 + 25.0) / 0.1 + llm_pacer::core::limiter::EDGE_MARGIN_MS;
        let firsts: Vec<Id> = reserves(&first).iter().map(|(id, _)| *id).collect();
        let (mut now, mut asks) = (T0, 0);
        loop {
            let wake = e.next_wake().unwrap();
            assert!(wake - now <= TOKEN_RECHECK_MS + 1e-6, "{}", wake - now);
            assert!(reserves(&e.poll(wake - 1.0)).is_empty());
            now = wake;
            let again = e.poll(now);
            let asked = reserves(&again);
            assert_eq!(asked.len(), 1, "one ask per key: {asked:?}");
            assert_eq!(asked[0].0, firsts[0], "the first call keeps its place");
            asks += 1;
            if !carry(&mut e, &mut store, now, &again[0]).is_empty() {
                break;
            }
            // As a driver does after every answer.
            assert!(reserves(&e.poll(now)).is_empty());
        }
        assert!((now - (T0 + exact)).abs() < 1e-3, "{}", now - T0);
        assert_eq!(asks, 41, "40 re-checks a second apart, then the turn");
        let said: Vec<_> = e
            .drain_events()
            .into_iter()
            .filter(|ev| ev.reason == "store")
            .collect();
        assert!(said.is_empty(), "re-checks announce no wait: {said:?}");
    }

    /// A key whose calls hold their reservations 200 ms re-checks a token bucket's wait after
    /// 100 ms; each re-check told to wait again doubles the next, up to a second: a long wait
    /// on a small bucket costs about one ask a second, not ten.
    #[test]
    fn re_checks_told_to_wait_again_back_off_to_a_second() {
        let mut e = engine(60_000.0);
        let mut store = KeyState::new();
        store.learn(T0, Dim::OutputTokens, 6_000.0, 6_000.0);
        let id = e.submit(T0, req(1_000.0)).unwrap();
        let acts = e.poll(T0);
        assert_eq!(carry(&mut e, &mut store, T0, &acts[0]).len(), 1);
        e.on_response(T0 + 200.0, id, 200, &RateLimitInfo::default(), None, 0.5);
        e.on_done(T0 + 200.0, id, Some(used(1_000.0)));
        apply(&mut store, T0 + 200.0, e.drain_store_ops());
        store.learn(T0 + 200.0, Dim::OutputTokens, 6_000.0, 0.0);
        let mut now = T0 + 200.0;
        e.submit(now, req(4_000.0)).unwrap();
        let acts = e.poll(now);
        assert!(
            carry(&mut e, &mut store, now, &acts[0]).is_empty(),
            "told to wait"
        );
        assert!(reserves(&e.poll(now)).is_empty());
        let mut gaps = Vec::new();
        while gaps.len() < 7 {
            let wake = e.next_wake().unwrap();
            let acts = e.poll(wake);
            let asked: Vec<&Action> = acts
                .iter()
                .filter(|a| matches!(a, Action::Reserve { .. }))
                .collect();
            if asked.is_empty() {
                continue;
            }
            gaps.push(wake - now);
            now = wake;
            let asked = *asked[0];
            assert!(
                carry(&mut e, &mut store, now, &asked).is_empty(),
                "still waiting"
            );
            assert!(reserves(&e.poll(now)).is_empty());
        }
        let rounded: Vec<f64> = gaps.iter().map(|g| g.round()).collect();
        assert_eq!(
            rounded,
            [100.0, 200.0, 400.0, 800.0, 1_000.0, 1_000.0, 1_000.0]
        );
    }

    /// A turn books the output the key's requests are expected to use: `max_tokens` until one
    /// has settled, then twice the largest of the last outputs (at least 256). A turn's own
    /// ask names what it booked.
    #[test]
    fn a_reservation_books_the_output_its_keys_requests_used() {
        let mut e = engine(200_000.0);
        let mut store = KeyState::new();
        store.learn(T0, Dim::OutputTokens, 24_000.0, 24_000.0);
        let booked = |a: &Action| match *a {
            Action::Reserve { booked_output, .. } => booked_output,
            _ => panic!("{a:?}"),
        };
        let id = e.submit(T0, req(8_000.0)).unwrap();
        let acts = e.poll(T0);
        assert_eq!(booked(&acts[0]), 8_000.0, "nothing seen yet");
        assert_eq!(carry(&mut e, &mut store, T0, &acts[0]).len(), 1);
        e.on_response(T0 + 300.0, id, 200, &RateLimitInfo::default(), None, 0.5);
        e.on_done(T0 + 300.0, id, Some(used(400.0)));
        apply(&mut store, T0 + 300.0, e.drain_store_ops());
        e.submit(T0 + 300.0, req(8_000.0)).unwrap();
        let acts = e.poll(T0 + 300.0);
        assert_eq!(booked(&acts[0]), 800.0);
    }

    /// Poll at each wake until a poll asks for a reservation the store would admit (carrying
    /// the re-checks it answers "wait"): that time and those actions.
    fn to_turn(e: &mut Engine, store: &mut KeyState) -> (f64, Vec<Action>) {
        loop {
            let now = e.next_wake().unwrap();
            let acts = e.poll(now);
            let Some(a) = acts.iter().find(|a| matches!(a, Action::Reserve { .. })) else {
                continue;
            };
            let (slot, input, output) = reserved(a);
            let limits = e.store_limits(slot);
            if store
                .clone()
                .reserve(now, limits, amounts(input, output), true)
                == Reserve::Admit
            {
                return (now, acts);
            }
            assert!(carry(e, store, now, a).is_empty());
            assert!(reserves(&e.poll(now)).is_empty());
        }
    }

    /// The fleet-store probe of session 27: processes at `concurrency: 1` whose `max_tokens`
    /// times their number exceed the OTPM. One process's calls hold the bucket; another's,
    /// with nothing in flight, is told to wait until the bucket refills its `max_tokens`
    /// (10 s). The first calls settle 300 ms later, having used 400 each: the tokens are back
    /// in the store. The waiting process takes them at its next re-check, not after 10 s
    /// (before: 4 processes did 32 calls in 49.3 s, one process 10.1 s, the server's bucket
    /// 93% full throughout).
    #[test]
    fn a_process_with_nothing_in_flight_takes_the_tokens_others_give_back_within_a_recheck() {
        // Configured above the server (their opening share, a quarter, holds three calls).
        let (mut a, mut b) = (engine(200_000.0), engine(200_000.0));
        let mut store = KeyState::new();
        store.learn(T0, Dim::OutputTokens, 24_000.0, 24_000.0);
        let ids: Vec<Id> = (0..3)
            .map(|_| a.submit(T0, req(7_000.0)).unwrap())
            .collect();
        let asked = a.poll(T0);
        assert_eq!(reserves(&asked).len(), 3);
        for act in asked {
            assert_eq!(carry(&mut a, &mut store, T0, &act).len(), 1, "sent");
        }
        let late = b.submit(T0, req(7_000.0)).unwrap();
        let acts = b.poll(T0);
        assert!(
            carry(&mut b, &mut store, T0, &acts[0]).is_empty(),
            "told to wait"
        );
        assert!(b.poll(T0).is_empty());
        let stated = b
            .drain_events()
            .into_iter()
            .find(|ev| ev.reason == "store")
            .unwrap();
        assert!(stated.delay_ms > 10_000.0, "{}", stated.delay_ms);
        for &id in &ids {
            a.on_response(T0 + 300.0, id, 200, &RateLimitInfo::default(), None, 0.5);
            a.on_done(T0 + 300.0, id, Some(used(400.0)));
        }
        apply(&mut store, T0 + 300.0, a.drain_store_ops());
        let wake = b.next_wake().unwrap();
        assert!(wake <= T0 + TOKEN_RECHECK_MS + 1e-6, "{}", wake - T0);
        let turn = b.poll(wake);
        assert_eq!(reserves(&turn), vec![(late, 7_000.0)]);
        assert_eq!(
            carry(&mut b, &mut store, wake, &turn[0]),
            vec![Action::Send {
                id: late,
                attempt: 1
            }]
        );
    }

    #[test]
    fn a_call_aborted_while_taking_its_turn_frees_the_key() {
        // The key is held while a turn is being taken; if that call goes (aborted), the
        // others ask again at once instead of waiting for an answer that no longer matters.
        let mut e = engine(60_000.0);
        let mut store = KeyState::new();
        store.learn(T0, Dim::OutputTokens, 6_000.0, 0.0);
        let a = e.submit(T0, req(4_000.0)).unwrap();
        let acts = e.poll(T0);
        assert!(carry(&mut e, &mut store, T0, &acts[0]).is_empty());
        let b = e.submit(T0, req(4_000.0)).unwrap();
        assert!(reserves(&e.poll(T0)).is_empty(), "b waits for a's turn");
        let (turn, taking) = to_turn(&mut e, &mut store);
        assert_eq!(
            reserves(&taking).iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![a]
        );
        assert!(e.abort(turn + 1.0, a));
        let next = reserves(&e.poll(turn + 1.0));
        assert_eq!(next.iter().map(|r| r.0).collect::<Vec<_>>(), vec![b]);
        // a's answer, when it comes, is undone: the store admitted it at its turn.
        e.drain_store_ops();
        assert!(carry(&mut e, &mut store, turn + 2.0, &taking[0]).is_empty());
        assert_one_refund(&mut e);
    }

    #[test]
    fn a_late_answer_is_undone_in_the_store() {
        // The driver gave up on the store (the call went on its local admission); the answer
        // that comes afterwards is undone: an admission refunded, a booked turn given back.
        let mut e = engine(6_000.0);
        let id = e.submit(T0, req(1_000.0)).unwrap();
        let acts = e.poll(T0);
        let (slot, input, output) = reserved(&acts[0]);
        let sent = e.on_reserved(T0 + 1_000.0, id, StoreAnswer::Unavailable);
        assert_eq!(sent, vec![Action::Send { id, attempt: 1 }]);
        e.drain_store_ops();
        for (late, turn_only) in [
            (StoreAnswer::Admit, Some(false)),
            (
                StoreAnswer::Wait {
                    wait_ms: 500.0,
                    paused: false,
                    dim: None,
                },
                Some(true),
            ),
            (StoreAnswer::Unavailable, None),
        ] {
            e.on_late_reserve(slot, input, (output, output), late);
            let ops = e.drain_store_ops();
            let want: Vec<StoreOp> = turn_only
                .map(|turn_only| StoreOp::Refund {
                    slot,
                    input,
                    output,
                    turn_only,
                })
                .into_iter()
                .collect();
            assert_eq!(ops, want, "{late:?}");
        }
        // And the store's arithmetic: a booked turn given back lets the next one in at once.
        let mut store = KeyState::new();
        let lim = [0.0, 0.0, 1_000.0, 0.0];
        store.reserve(T0, lim, amounts(0.0, 900.0), false);
        let booked = amounts(0.0, 500.0);
        assert!(matches!(
            store.reserve(T0, lim, booked, false),
            Reserve::Wait { .. }
        ));
        let Reserve::Wait {
            wait_ms: behind, ..
        } = store.reserve(T0, lim, amounts(0.0, 100.0), false)
        else {
            panic!()
        };
        store.unbook(T0, booked);
        store.unbook(T0, amounts(0.0, 100.0));
        let Reserve::Wait { wait_ms: now, .. } = store.reserve(T0, lim, amounts(0.0, 100.0), false)
        else {
            panic!()
        };
        assert!(now < behind - 29_000.0, "{now} vs {behind}");
        // 100 left; both turns given back; the last ask booked its 100.
        assert_eq!(store.queue[2].unwrap().level(T0), 0.0);
    }

    #[test]
    fn usage_is_settled_in_the_store_once() {
        let mut e = engine(6_000.0);
        let mut store = KeyState::new();
        let id = e.submit(T0, req(1_000.0)).unwrap();
        let acts = e.poll(T0);
        carry(&mut e, &mut store, T0, &acts[0]);
        let v = e.on_response(T0 + 10.0, id, 200, &RateLimitInfo::default(), None, 0.5);
        assert_eq!(v, Verdict::Deliver);
        let usage = Usage {
            input_tokens: 10.0,
            output_tokens: 100.0,
            ..Usage::default()
        };
        e.on_done(T0 + 20.0, id, Some(usage));
        let ops = e.drain_store_ops();
        assert_eq!(ops.len(), 1);
        let StoreOp::Settle {
            reserved_output,
            output,
            ..
        } = ops[0]
        else {
            panic!("{ops:?}")
        };
        assert_eq!((reserved_output, output), (1_000.0, 100.0));
        assert!(e.drain_store_ops().is_empty());
    }

    /// A slow store costs no call that has a deadline: its answer is waited for half the time
    /// left at most (a probe: `timeoutMs` 300 against a store hung for 5 s, 9 of 9 calls timed
    /// out, none sent), and once it is found down the other reservations out go on their local
    /// admission at once, not each after its own timeout; what it did for them, if it answers
    /// after all, is undone.
    #[test]
    fn a_slow_store_costs_no_call_with_a_deadline_and_one_found_down_holds_no_other() {
        let mut e = engine_with(6_000.0, Some(300.0));
        let timeouts = |acts: &[Action]| -> Vec<f64> {
            acts.iter()
                .filter_map(|a| match a {
                    Action::Reserve { timeout_ms, .. } => Some(*timeout_ms),
                    _ => None,
                })
                .collect()
        };
        let a = e.submit(T0, req(100.0)).unwrap();
        let b = e.submit(T0, req(100.0)).unwrap();
        let acts = e.poll(T0);
        assert_eq!(timeouts(&acts), vec![150.0, 150.0]);
        // No deadline: the store's whole timeout.
        let mut plain = engine(6_000.0);
        plain.submit(T0, req(100.0)).unwrap();
        let store_timeout = llm_pacer::core::store::STORE_TIMEOUT_MS;
        assert_eq!(timeouts(&plain.poll(T0)), vec![store_timeout]);
        // a's wait ends first: b goes with it.
        let sent = e.on_reserved(T0 + 150.0, a, StoreAnswer::Unavailable);
        assert_eq!(
            sent,
            vec![
                Action::Send { id: a, attempt: 1 },
                Action::Send { id: b, attempt: 1 }
            ]
        );
        assert_eq!(warnings(&mut e), vec!["store_unavailable"]);
        // The store admitted b after all: given back.
        e.drain_store_ops();
        assert!(e.on_reserved(T0 + 160.0, b, StoreAnswer::Admit).is_empty());
        assert_one_refund(&mut e);
    }

    /// A fleet-wide pause the store states past the asking call's deadline: TIMEOUT at once,
    /// as for a 429 of its own (it slept to its deadline first).
    #[test]
    fn a_store_pause_past_the_asking_calls_deadline_times_it_out_at_once() {
        let mut e = engine_with(6_000.0, Some(1_500.0));
        let a = e.submit(T0, req(100.0)).unwrap();
        let acts = e.poll(T0);
        let waited = StoreAnswer::Wait {
            wait_ms: 20_000.0,
            paused: true,
            dim: None,
        };
        assert!(e.on_reserved(T0, reserves(&acts)[0].0, waited).is_empty());
        assert_eq!(
            e.poll(T0),
            vec![Action::Fail {
                id: a,
                error: llm_pacer::core::call::CallError::WaitPastDeadline { hint_ms: 20_000.0 }
            }]
        );
    }

    #[test]
    fn a_store_that_fails_costs_no_call_and_says_so_then_resumes() {
        let mut e = engine(6_000.0);
        let mut store = KeyState::new();
        let a = e.submit(T0, req(100.0)).unwrap();
        let acts = e.poll(T0);
        let next = e.on_reserved(T0, reserves(&acts)[0].0, StoreAnswer::Unavailable);
        assert_eq!(
            next,
            vec![Action::Send { id: a, attempt: 1 }],
            "sent on the local admission"
        );
        assert_eq!(warnings(&mut e), vec!["store_unavailable"]);
        // Still down: the next call goes on its local admission at once, with no reservation
        // (which would cost it the store's whole timeout again), and no second warning.
        let b = e.submit(T0, req(100.0)).unwrap();
        assert_eq!(e.poll(T0), vec![Action::Send { id: b, attempt: 1 }]);
        assert!(warnings(&mut e).is_empty());
        // A probe period later, a call goes at once all the same, a probe of the store beside
        // it: it did wait for the store's answer, which cost a call with a `timeoutMs` under
        // twice the server's time its deadline, each probe period of an outage.
        let t = T0 + llm_pacer::core::store::STORE_PROBE_MS;
        let p = e.submit(t, req(100.0)).unwrap();
        let acts = e.poll(t);
        assert!(
            matches!(acts[..], [Action::Send { id, attempt: 1 }, Action::ProbeStore { .. }] if id == p),
            "{acts:?}"
        );
        assert!(e.poll(t).is_empty(), "one probe at a time");
        // The probe answers: the next call reserves, and that answer says `store_resumed`.
        e.on_probed(t + 1.0, true);
        e.submit(t + 1.0, req(100.0)).unwrap();
        let acts = e.poll(t + 1.0);
        assert_eq!(reserves(&acts).len(), 1, "{acts:?}");
        let next = carry(&mut e, &mut store, t + 1.0, &acts[0]);
        assert_eq!(next.len(), 1);
        assert_eq!(warnings(&mut e), vec!["store_resumed"]);
        // Never from the store is not a failure on an estimate: the call goes.
        let c = e.submit(t, req(100.0)).unwrap();
        let acts = e.poll(t + 2.0);
        let r = reserves(&acts);
        assert_eq!(r[0].0, c);
        let next = e.on_reserved(
            t + 2.0,
            c,
            StoreAnswer::Never {
                dim: Dim::OutputTokens,
            },
        );
        assert_eq!(next, vec![Action::Send { id: c, attempt: 1 }]);
    }

    #[test]
    fn a_store_that_is_back_is_probed_while_calls_wait_locally_and_sharing_resumes_at_once() {
        use llm_pacer::core::store::STORE_PROBE_MS;
        let mut e = engine(6_000.0);
        let mut store = KeyState::new();
        // Down: the first call goes on its local admission; the local limiter, on its blind
        // share (a quarter of 6 000 beyond the refill), holds the second for about 5 s.
        let a = e.submit(T0, req(1_000.0)).unwrap();
        let acts = e.poll(T0);
        assert_eq!(
            e.on_reserved(T0, reserves(&acts)[0].0, StoreAnswer::Unavailable),
            vec![Action::Send { id: a, attempt: 1 }]
        );
        assert_eq!(warnings(&mut e), vec!["store_unavailable"]);
        let b = e.submit(T0, req(1_000.0)).unwrap();
        assert!(
            reserves(&e.poll(T0)).is_empty(),
            "b waits on the local limiter"
        );
        // The engine wakes to probe the store after STORE_PROBE_MS, once.
        let wake = e.next_wake().unwrap();
        assert_eq!(wake, T0 + STORE_PROBE_MS);
        let acts = e.poll(wake);
        assert!(matches!(acts[..], [Action::ProbeStore { .. }]), "{acts:?}");
        assert!(e.poll(wake).is_empty(), "one probe at a time");
        // No answer in time: still down, the next probe a STORE_PROBE_MS later.
        e.on_probed(wake, false);
        assert!(warnings(&mut e).is_empty());
        assert!(reserves(&e.poll(wake)).is_empty());
        assert_eq!(e.next_wake(), Some(wake + STORE_PROBE_MS));
        let acts = e.poll(wake + STORE_PROBE_MS);
        assert!(matches!(acts[..], [Action::ProbeStore { .. }]), "{acts:?}");
        // Answered: b goes to the store at once (not in ~5 s), and its answer ends the
        // outage: store_resumed.
        e.on_probed(wake + STORE_PROBE_MS, true);
        assert!(warnings(&mut e).is_empty());
        let acts = e.poll(wake + STORE_PROBE_MS);
        assert_eq!(reserves(&acts), vec![(b, 1_000.0)]);
        let next = carry(&mut e, &mut store, wake + STORE_PROBE_MS, &acts[0]);
        assert_eq!(next, vec![Action::Send { id: b, attempt: 1 }]);
        assert_eq!(warnings(&mut e), vec!["store_resumed"]);
        assert!(warnings(&mut e).is_empty(), "resumed once");
        // Up, nothing waits: no probe.
        assert!(e.next_wake().is_none_or(|w| w > wake + 10_000.0));
    }

    #[test]
    fn the_first_call_of_a_pacer_that_knows_no_limit_takes_its_turn_at_the_stores_wait() {
        // No limits configured (the README's Redis example): the first call opens as the
        // probe that the key's others wait for. Told by the store to wait 80 ms, it was not
        // sent; at its turn it asks again, not after the probe's 10 s for its own answer.
        let mut c = Config::new();
        c.retry.backoff.jitter = Jitter::None;
        let mut e = Engine::new(c, T0);
        e.set_store(true);
        let id = e.submit(T0, req(100.0)).unwrap();
        assert_eq!(reserves(&e.poll(T0)), vec![(id, 100.0)]);
        assert!(e
            .on_reserved(
                T0,
                id,
                StoreAnswer::Wait {
                    wait_ms: 80.0,
                    paused: false,
                    dim: None,
                }
            )
            .is_empty());
        // As a driver does after every answer.
        assert!(e.poll(T0).is_empty());
        let wake = e.next_wake().unwrap();
        assert!((wake - (T0 + 80.0)).abs() < 1e-6, "{}", wake - T0);
        let acts = e.poll(wake);
        assert!(
            matches!(acts[..], [Action::Reserve { id: i, turn: true, .. }] if i == id),
            "{acts:?}"
        );
        assert_eq!(
            e.on_reserved(wake, id, StoreAnswer::Admit),
            vec![Action::Send { id, attempt: 1 }]
        );
    }

    /// A pacer with a store and no limit configured (the README's Redis example).
    fn bare() -> Engine {
        let mut c = Config::new();
        c.retry.backoff.jitter = Jitter::None;
        let mut e = Engine::new(c, T0);
        e.set_store(true);
        e.set_record_events(true);
        e
    }

    /// `e`'s next reservation (polling from `now` on), carried out against `store`: when it
    /// asked, and what the engine did with the answer.
    fn next_ask(e: &mut Engine, store: &mut KeyState, now: f64) -> (f64, Vec<Action>) {
        let mut t = now;
        loop {
            let acts = e.poll(t);
            if let Some(a) = acts.iter().find(|a| matches!(a, Action::Reserve { .. })) {
                return (t, carry(e, store, t, a));
            }
            t = e.next_wake().expect("a wake while a call waits");
        }
    }

    /// Two processes that know no limit share a store: the first one's call goes as the key's
    /// probe, the second's waits, asking again after 100 ms, then twice as long each time up
    /// to 500 ms (one "store" wait event, not one per ask), and goes once the probe's figures
    /// have reached the store, metered by them.
    #[test]
    fn a_process_waits_for_the_fleets_probe_asking_again_sooner_and_sooner_not_once_per_process() {
        let mut store = KeyState::new();
        let (mut a, mut b) = (bare(), bare());
        let pa = a.submit(T0, req(1_000.0)).unwrap();
        let (_, sent) = next_ask(&mut a, &mut store, T0);
        assert_eq!(sent, vec![Action::Send { id: pa, attempt: 1 }]);
        let pb = b.submit(T0, req(1_000.0)).unwrap();
        let pb2 = b.submit(T0, req(1_000.0)).unwrap();
        let (_, sent) = next_ask(&mut b, &mut store, T0);
        assert!(sent.is_empty(), "told to wait for the probe");
        let mut now = T0;
        let mut gaps = Vec::new();
        while gaps.len() < 6 {
            let (t, sent) = next_ask(&mut b, &mut store, now);
            assert!(sent.is_empty());
            gaps.push((t - now).round());
            now = t;
        }
        assert_eq!(gaps, [100.0, 200.0, 400.0, 500.0, 500.0, 500.0]);
        // The probe's head, its figures learned.
        a.on_response(now, pa, 200, &otpm(6_000.0, 5_000.0), None, 0.5);
        apply(&mut store, now, a.drain_store_ops());
        assert!(store.levels(now)[Dim::OutputTokens as usize].is_some());
        let (t, sent) = next_ask(&mut b, &mut store, now);
        assert_eq!(sent, vec![Action::Send { id: pb, attempt: 1 }]);
        assert!(t - now <= 500.0 + 1e-6, "{}", t - now);
        // The store meters the key now: b's second call asks at once, not after its first
        // one's answer (its own opening probe would have held it).
        let acts = b.poll(t);
        assert_eq!(reserves(&acts), vec![(pb2, 1_000.0)], "{acts:?}");
        assert!(
            store.levels(t)[Dim::OutputTokens as usize].is_some_and(|l| l < 4_100.0),
            "metered: its 1,000 taken"
        );
        let waits = b
            .drain_events()
            .into_iter()
            .filter(|ev| ev.reason == "store")
            .count();
        assert_eq!(waits, 1);
    }

    /// The probe's answer carried no limit. A 2xx: the server sends no figures, so the key
    /// opens and the others go (one `Probed` per process and key, not one per call). A 529
    /// with no figures: the lease ends (the next request is the probe at once) and the key
    /// stays closed. An answer with figures is learned instead.
    #[test]
    fn a_probe_answered_without_figures_tells_the_store_once() {
        let mut store = KeyState::new();
        let (mut a, mut b) = (bare(), bare());
        let pa = a.submit(T0, req(1_000.0)).unwrap();
        next_ask(&mut a, &mut store, T0);
        let pb = b.submit(T0, req(1_000.0)).unwrap();
        assert!(next_ask(&mut b, &mut store, T0).1.is_empty());
        let now = T0 + 50.0;
        assert!(matches!(
            a.on_response(now, pa, 529, &RateLimitInfo::default(), None, 0.5),
            Verdict::Retry { .. }
        ));
        let ops = a.drain_store_ops();
        assert!(
            matches!(ops[..], [StoreOp::Probed { open: false, .. }]),
            "{ops:?}"
        );
        apply(&mut store, now, ops);
        assert_eq!((store.probe_until_ms, store.open), (0.0, false));
        // b's next ask goes as the probe now; its 2xx has no figures either.
        let (t, sent) = next_ask(&mut b, &mut store, now);
        assert_eq!(sent, vec![Action::Send { id: pb, attempt: 1 }]);
        b.on_response(t, pb, 200, &RateLimitInfo::default(), None, 0.5);
        let ops = b.drain_store_ops();
        assert!(
            matches!(ops[..], [StoreOp::Probed { open: true, .. }]),
            "{ops:?}"
        );
        apply(&mut store, t, ops);
        assert!(store.open);
        // a's retry goes (the key is open), and so do b's next calls, with no more `Probed`.
        let (t2, sent) = next_ask(&mut a, &mut store, t);
        assert_eq!(sent, vec![Action::Send { id: pa, attempt: 2 }]);
        a.on_response(t2, pa, 200, &RateLimitInfo::default(), None, 0.5);
        assert!(matches!(
            a.drain_store_ops()[..],
            [StoreOp::Probed { open: true, .. }]
        ));
        b.on_done(t2, pb, Some(used(100.0)));
        for _ in 0..2 {
            let id = b.submit(t2, req(1_000.0)).unwrap();
            let (t3, sent) = next_ask(&mut b, &mut store, t2);
            assert_eq!(sent, vec![Action::Send { id, attempt: 1 }]);
            b.on_response(t3, id, 200, &RateLimitInfo::default(), None, 0.5);
            b.on_done(t3, id, Some(used(100.0)));
        }
        assert!(b.drain_store_ops().is_empty(), "told once");
        // A probe with no answer at all (a network error; an abort) ends its lease too.
        for abort in [false, true] {
            let mut store = KeyState::new();
            let mut c = bare();
            let id = c.submit(T0, req(1_000.0)).unwrap();
            next_ask(&mut c, &mut store, T0);
            if abort {
                assert!(c.abort(T0 + 50.0, id));
            } else {
                c.on_network_error(T0 + 50.0, id, 0.5);
            }
            let ops = c.drain_store_ops();
            assert!(
                matches!(ops[..], [StoreOp::Probed { open: false, .. }]),
                "abort {abort}: {ops:?}"
            );
        }
        // An answer with figures is learned, not reported as a probe without any.
        let mut store = KeyState::new();
        let mut c = bare();
        let id = c.submit(T0, req(1_000.0)).unwrap();
        next_ask(&mut c, &mut store, T0);
        c.on_response(T0 + 50.0, id, 200, &otpm(6_000.0, 5_000.0), None, 0.5);
        let ops = c.drain_store_ops();
        assert!(matches!(ops[..], [StoreOp::Learn { .. }]), "{ops:?}");
    }

    #[test]
    fn a_store_that_answers_its_probe_but_fails_reservations_is_one_outage_not_a_warning_each_probe(
    ) {
        use llm_pacer::core::store::STORE_PROBE_MS;
        // Redis out of memory, or a read-only replica: the probe (which writes nothing) is
        // answered, every reservation fails.
        let mut e = engine(6_000.0);
        let mut t = T0;
        let mut warned = Vec::new();
        for _ in 0..4 {
            e.submit(t, req(1_000.0)).unwrap();
            e.submit(t, req(1_000.0)).unwrap();
            let mut acts = e.poll(t);
            for _ in 0..3 {
                for a in &acts {
                    if let Action::Reserve { id, .. } = a {
                        e.on_reserved(t, *id, StoreAnswer::Unavailable);
                    }
                }
                if let Some(w) = e.next_wake() {
                    t = t.max(w);
                }
                acts = e.poll(t);
                if acts.iter().any(|a| matches!(a, Action::ProbeStore { .. })) {
                    e.on_probed(t, true);
                    acts = e.poll(t);
                }
            }
            warned.extend(warnings(&mut e));
            t += STORE_PROBE_MS;
        }
        assert_eq!(warned, vec!["store_unavailable"]);
    }

    #[test]
    fn a_call_held_while_a_turn_is_being_taken_reports_a_wait_of_at_most_the_stores_timeout() {
        let mut e = engine(6_000.0);
        let a = e.submit(T0, req(100.0)).unwrap();
        e.poll(T0);
        let wait = StoreAnswer::Wait {
            wait_ms: 300.0,
            paused: false,
            dim: None,
        };
        assert!(e.on_reserved(T0, a, wait).is_empty());
        e.poll(T0);
        let wake = e.next_wake().unwrap();
        assert!(matches!(
            e.poll(wake)[..],
            [Action::Reserve { turn: true, .. }]
        ));
        e.drain_events();
        // b comes while a's turn is out: held until its answer, which has no time of its own.
        e.submit(wake, req(100.0)).unwrap();
        assert!(e.poll(wake).is_empty());
        let waits: Vec<f64> = e
            .drain_events()
            .into_iter()
            .filter(|ev| ev.kind.name() == "wait")
            .map(|ev| ev.delay_ms)
            .collect();
        assert_eq!(waits, vec![llm_pacer::core::store::STORE_TIMEOUT_MS]);
    }

    #[test]
    fn a_store_that_says_wait_0_is_asked_again_after_a_floor_not_in_a_loop() {
        // A store of the caller's answering `{ admit: false, waitMs: 0 }` (or garbage) had
        // the call ask again at once: some 60,000 reserves a second until its timeout.
        for wait_ms in [0.0, -5.0, f64::NAN, 0.001] {
            let mut e = engine(6_000.0);
            let a = e.submit(T0, req(100.0)).unwrap();
            e.poll(T0);
            let wait = StoreAnswer::Wait {
                wait_ms,
                paused: false,
                dim: Some(Dim::OutputTokens),
            };
            assert!(e.on_reserved(T0, a, wait).is_empty());
            assert!(e.poll(T0).is_empty(), "{wait_ms}: asked again at once");
            let wake = e.next_wake().unwrap();
            assert!(
                wake >= T0 + llm_pacer::core::call::MIN_STORE_WAIT_MS,
                "{wait_ms}: woken at +{}",
                wake - T0
            );
        }
    }

    #[test]
    fn a_call_the_store_makes_wait_is_admitted_once_when_it_is_sent() {
        // Admitted locally, told to wait 5 s, sent at its turn: one attempt, one `admitted`
        // event (for the OpenTelemetry bridge, one attempt counted), and its whole wait.
        let mut e = engine(6_000.0);
        let id = e.submit(T0, req(100.0)).unwrap();
        e.poll(T0);
        assert!(e
            .on_reserved(
                T0,
                id,
                StoreAnswer::Wait {
                    wait_ms: 5_000.0,
                    paused: false,
                    dim: None,
                }
            )
            .is_empty());
        e.poll(T0);
        let wake = e.next_wake().unwrap();
        assert_eq!(reserves(&e.poll(wake)), vec![(id, 100.0)]);
        assert_eq!(
            e.on_reserved(wake, id, StoreAnswer::Admit),
            vec![Action::Send { id, attempt: 1 }]
        );
        let admitted: Vec<f64> = e
            .drain_events()
            .into_iter()
            .filter(|ev| ev.kind.name() == "admitted")
            .map(|ev| ev.delay_ms)
            .collect();
        assert_eq!(admitted, vec![wake - T0]);
        let s = e.stats();
        assert_eq!((s.attempts, s.wait_ms), (1, wake - T0));
        assert_eq!(s.output_tokens_reserved, 100.0);
    }

    #[test]
    fn a_store_wait_beyond_the_deadline_ends_in_timeout_not_a_longer_wait() {
        let mut e = engine_with(6_000.0, Some(5_000.0));
        let id = e.submit(T0, req(100.0)).unwrap();
        let acts = e.poll(T0);
        assert!(e
            .on_reserved(
                T0,
                id,
                StoreAnswer::Wait {
                    wait_ms: 60_000.0,
                    paused: false,
                    dim: None,
                }
            )
            .is_empty());
        assert_eq!(acts.len(), 1);
        let wake = e.next_wake().unwrap();
        assert!(wake <= T0 + 5_000.0 + 1e-6);
        let out = e.poll(wake);
        assert!(
            out.iter()
                .any(|a| matches!(a, Action::Fail { id: i, .. } if *i == id)),
            "{out:?}"
        );
    }

    #[test]
    fn a_pause_the_store_holds_beyond_max_retry_after_refuses_the_call_as_a_429_of_its_own_would() {
        // Another process's 429 said retry after 400 s, fleet-wide: the store's wait names the
        // pause. That is the server's word, beyond maxRetryAfterMs (300 s by default): the
        // call is refused at once, and the key's later calls too, not held for 400 s.
        let mut e = engine(6_000.0);
        let id = e.submit(T0, req(100.0)).unwrap();
        e.poll(T0);
        let paused = StoreAnswer::Wait {
            wait_ms: 400_000.0,
            paused: true,
            dim: None,
        };
        assert!(e.on_reserved(T0, id, paused).is_empty());
        let out = e.poll(T0);
        let refused = |out: &[Action], id| {
            out.iter().any(|a| {
                matches!(a, Action::Fail { id: i, error } if *i == id && error.code() == "RETRY_AFTER_TOO_LONG")
            })
        };
        assert!(refused(&out, id), "{out:?}");
        let later = e.submit(T0 + 10.0, req(100.0)).unwrap();
        assert!(refused(&e.poll(T0 + 10.0), later));
        // The same wait from the store's buckets (its estimate of the fleet's use) is waited
        // on: the pacer never fails a call on an estimate.
        let mut e = engine(6_000.0);
        let id = e.submit(T0, req(100.0)).unwrap();
        e.poll(T0);
        let estimate = StoreAnswer::Wait {
            wait_ms: 400_000.0,
            paused: false,
            dim: None,
        };
        assert!(e.on_reserved(T0, id, estimate).is_empty());
        assert!(!refused(&e.poll(T0), id));
        assert_eq!(e.stats().queued, 1);
    }
}

mod shared_headers {
    use super::T0;
    use llm_pacer::core::call::{Action, Engine, Request, StoreAnswer, StoreOp};
    use llm_pacer::core::config::Config;
    use llm_pacer::core::headers::RateLimitInfo;
    use llm_pacer::core::limiter::Limits;

    #[test]
    fn a_429s_pause_and_the_headers_go_to_the_store() {
        let mut c = Config::new();
        c.limits = Limits {
            rpm: Some(100.0),
            ..Limits::default()
        };
        let mut e = Engine::new(c, T0);
        e.set_store(true);
        let id = e
            .submit(
                T0,
                Request {
                    max_tokens: Some(10.0),
                    ..Request::default()
                },
            )
            .unwrap();
        let acts = e.poll(T0);
        assert!(matches!(acts[0], Action::Reserve { .. }));
        e.on_reserved(T0, id, StoreAnswer::Admit);
        let mut info = RateLimitInfo {
            retry_after_ms: Some(7_000.0),
            ..RateLimitInfo::default()
        };
        info.requests.limit = Some(50.0);
        info.requests.remaining = Some(0.0);
        e.on_response(T0 + 5.0, id, 429, &info, None, 0.5);
        let ops = e.drain_store_ops();
        assert!(ops.iter().any(|op| matches!(op, StoreOp::Pause { retry_after_ms, .. } if *retry_after_ms == 7_000.0)), "{ops:?}");
        let learned = ops.iter().find_map(|op| match op {
            StoreOp::Learn { dims, .. } => Some(dims[0]),
            _ => None,
        });
        assert_eq!(learned, Some((50.0, 0.0)));
    }

    /// A quota's or a spend limit's 429 pauses no process of the fleet: its wait is no time
    /// the key's calls could go after (Gemini's per-day `QuotaFailure` comes with a
    /// `retryDelay` of seconds). Its figures still go to the store.
    #[test]
    fn a_spent_quotas_429_sends_no_pause_to_the_store() {
        for (code, paused) in [
            (Some("insufficient_quota"), false),
            (Some("enforced_spend_limit_reached"), false),
            (None, true),
        ] {
            let mut e = Engine::new(Config::new(), T0);
            e.set_store(true);
            let id = e.submit(T0, Request::default()).unwrap();
            let acts = e.poll(T0);
            assert!(matches!(acts[0], Action::Reserve { .. }));
            e.on_reserved(T0, id, StoreAnswer::Admit);
            let mut info = RateLimitInfo {
                retry_after_ms: Some(20_000.0),
                ..RateLimitInfo::default()
            };
            info.requests.limit = Some(50.0);
            info.requests.remaining = Some(10.0);
            let body = llm_pacer::core::classify::ErrorInfo {
                code: code.map(Into::into),
                ..Default::default()
            };
            e.on_response(T0 + 5.0, id, 429, &info, Some(&body), 0.5);
            let ops = e.drain_store_ops();
            let pause = ops.iter().any(|op| matches!(op, StoreOp::Pause { .. }));
            assert_eq!(pause, paused, "{code:?}: {ops:?}");
            assert!(
                ops.iter().any(|op| matches!(op, StoreOp::Learn { .. })),
                "{ops:?}"
            );
        }
    }

    /// A configured limit binds the whole fleet: a server that states a higher one does not
    /// raise the store's bucket past it (each process would then be held only by its own
    /// copy: three processes configured to 3 requests a minute sent 9 in under two seconds).
    /// A lower one goes as it is: the server's limit binds.
    #[test]
    fn a_configured_limit_goes_to_the_store_no_higher_whatever_the_headers_state() {
        for (stated, sent) in [(6_000.0, 3.0), (2.0, 2.0)] {
            let mut c = Config::new();
            c.limits = Limits {
                rpm: Some(3.0),
                ..Limits::default()
            };
            let mut e = Engine::new(c, T0);
            e.set_store(true);
            let id = e.submit(T0, Request::default()).unwrap();
            assert!(matches!(e.poll(T0)[0], Action::Reserve { .. }));
            e.on_reserved(T0, id, StoreAnswer::Admit);
            let mut info = RateLimitInfo::default();
            info.requests.limit = Some(stated);
            info.requests.remaining = Some(stated - 1.0);
            info.output_tokens.limit = Some(8_000.0);
            info.output_tokens.remaining = Some(7_000.0);
            // A refusal's figures go at once (a 2xx's wait for its settlement).
            e.on_response(T0 + 5.0, id, 429, &info, None, 0.5);
            let dims = e.drain_store_ops().into_iter().find_map(|op| match op {
                StoreOp::Learn { dims, .. } => Some(dims),
                _ => None,
            });
            let dims = dims.expect("the figures went to the store");
            assert_eq!(dims[0], (sent, stated - 1.0), "stated {stated}");
            // A dimension not configured goes as the server states it.
            assert_eq!(dims[2], (8_000.0, 7_000.0));
        }
    }

    /// An engine with a store and one call of 10 `max_tokens` the store admitted.
    fn stored_call() -> (Engine, llm_pacer::core::call::Id) {
        let mut e = Engine::new(Config::new(), T0);
        e.set_store(true);
        let id = e
            .submit(
                T0,
                Request {
                    max_tokens: Some(10.0),
                    ..Request::default()
                },
            )
            .unwrap();
        e.poll(T0);
        e.on_reserved(T0, id, StoreAnswer::Admit);
        (e, id)
    }

    /// A rounded `remaining` (Anthropic's tokens: to the thousand) goes to the store no lower
    /// than the level its reset places, and no more than the rounding's slack above itself:
    /// the store comes down to any figure below it, and a count rounded down pulled it up to
    /// a thousand below the server at each answer (Tier 1's fleet: 1.13 to 1.16 times the
    /// lower bound, 1.05 with exact counts). An exact count, or a reset that places the
    /// level lower, is passed on as it is.
    #[test]
    fn a_rounded_figure_goes_to_the_store_no_lower_than_its_reset_places_the_level() {
        let learned = |remaining: f64, rounded: bool, full_in_ms: f64| {
            let (mut e, id) = stored_call();
            let mut info = RateLimitInfo {
                retry_after_ms: Some(1_000.0),
                ..RateLimitInfo::default()
            };
            info.output_tokens.limit = Some(6_000.0);
            info.output_tokens.remaining = Some(remaining);
            info.output_tokens.rounded = rounded;
            info.output_tokens.reset_at_ms = Some(T0 + 5.0 + full_in_ms);
            e.on_response(T0 + 5.0, id, 429, &info, None, 0.5);
            e.drain_store_ops().into_iter().find_map(|op| match op {
                StoreOp::Learn { dims, .. } => Some(dims[2]),
                _ => None,
            })
        };
        // Full in 12 s at 100 a second: 4,800, where the count says 4,000.
        assert_eq!(learned(4_000.0, true, 12_000.0), Some((6_000.0, 4_800.0)));
        // Full now: no more than a thousand above the count.
        assert_eq!(learned(4_000.0, true, 0.0), Some((6_000.0, 5_000.0)));
        // The reset places it lower, or the count is exact: the count.
        assert_eq!(learned(4_000.0, true, 30_000.0), Some((6_000.0, 4_000.0)));
        assert_eq!(learned(4_000.0, false, 12_000.0), Some((6_000.0, 4_000.0)));
        // No count: none made up from the reset.
        assert!(learned(f64::NAN, true, 12_000.0).is_some_and(|(_, r)| r.is_nan()));
    }

    /// Anthropic's `tokens-*` repeat the most restrictive of its input and output limits; they
    /// are no bucket of their own. Sent to the store as a TPM bucket they throttled a fleet to
    /// the output limit counted over input and output together (the fleet benchmark stalled).
    #[test]
    fn anthropics_combined_tokens_are_not_learned_as_a_bucket_of_their_own() {
        let (mut e, id) = stored_call();
        let mut info = RateLimitInfo::default();
        info.input_tokens.limit = Some(578_000.0);
        info.input_tokens.remaining = Some(577_000.0);
        info.output_tokens.limit = Some(155_000.0);
        info.output_tokens.remaining = Some(154_000.0);
        info.tokens.limit = Some(155_000.0);
        info.tokens.remaining = Some(4_000.0);
        e.on_response(T0 + 5.0, id, 200, &info, None, 0.5);
        e.on_stream(id); // its figures go at once
        let dims = e
            .drain_store_ops()
            .into_iter()
            .find_map(|op| match op {
                StoreOp::Learn { dims, .. } => Some(dims),
                _ => None,
            })
            .expect("a Learn op");
        assert_eq!(dims[1], (578_000.0, 577_000.0));
        assert_eq!(dims[2], (155_000.0, 154_000.0));
        assert!(dims[3].0.is_nan() && dims[3].1.is_nan(), "{:?}", dims[3]);

        // OpenAI's TPM, with no input/output figures, is a bucket: it goes to the store.
        let id = e.submit(T0 + 10.0, Request::default()).unwrap();
        e.poll(T0 + 10.0);
        e.on_reserved(T0 + 10.0, id, StoreAnswer::Admit);
        let mut info = RateLimitInfo::default();
        info.tokens.limit = Some(30_000.0);
        info.tokens.remaining = Some(29_000.0);
        e.on_response(T0 + 15.0, id, 200, &info, None, 0.5);
        e.on_stream(id);
        let tpm = e.drain_store_ops().into_iter().find_map(|op| match op {
            StoreOp::Learn { dims, .. } => Some(dims[3]),
            _ => None,
        });
        assert_eq!(tpm, Some((30_000.0, 29_000.0)));
    }
}

#[test]
fn the_compact_form_saves_loads_and_applies_as_the_methods_do() {
    use llm_pacer::core::store::{op, STATE_LEN};
    // The Durable Object's path: load the saved numbers, apply one operation, save again.
    let mut direct = KeyState::new();
    let mut saved = KeyState::new().save();
    assert_eq!(saved.len(), STATE_LEN);
    assert_eq!(KeyState::load(&saved), KeyState::new());
    let mut now = T0;
    let mut rng = fastrand::Rng::with_seed(7);
    for step in 0..2_000 {
        now += rng.f64() * 3_000.0;
        let mut s = KeyState::load(&saved);
        let (i, o) = ((rng.f64() * 3_000.0).round(), (rng.f64() * 1_500.0).round());
        let got = match rng.u8(0..5) {
            0 => {
                let limits = LIMITS.map(|l| if l > 0.0 { l } else { f64::NAN });
                let turn = rng.bool();
                let want = direct.reserve(now, LIMITS, amounts(i, o), turn);
                let got = s.apply(
                    now,
                    op::RESERVE,
                    &[
                        limits[0],
                        limits[1],
                        limits[2],
                        limits[3],
                        i,
                        o,
                        turn as u8 as f64,
                    ],
                );
                let expect = match want {
                    Reserve::Admit => [1.0, 0.0, 0.0],
                    Reserve::Wait { wait_ms, dim } => {
                        [2.0, wait_ms, dim.map_or(0.0, |d| d as usize as f64 + 1.0)]
                    }
                    Reserve::Never { dim } => [3.0, 0.0, dim as usize as f64 + 1.0],
                    Reserve::Probing { .. } => unreachable!("the limits make buckets"),
                };
                assert_eq!(got, expect, "step {step}");
                got
            }
            1 => {
                direct.settle(now, amounts(i, o), amounts(i / 2.0, o * 1.5));
                s.apply(now, op::SETTLE, &[i, o, i / 2.0, o * 1.5])
            }
            2 => {
                direct.refund(now, amounts(i, o));
                s.apply(now, op::REFUND, &[i, o])
            }
            3 => {
                let rem = if rng.bool() { f64::NAN } else { i };
                // The limit changes now and then, below a debt too (then held at -capacity).
                let cap = [9_000.0, 9_000.0, 300.0, 20_000.0][rng.usize(0..4)];
                direct.learn(now, Dim::InputTokens, cap, rem);
                direct.learn(now, Dim::Requests, f64::NAN, 30.0);
                let got = s.apply(
                    now,
                    op::LEARN,
                    &[2.0, cap, rem, 1.0, f64::NAN, 30.0, 9.0, 1.0, 1.0],
                );
                // Now and then a give-back of a request the store never held, up to `i`.
                if rng.bool() {
                    direct.give_back(now, Dim::InputTokens, o, i);
                    direct.give_back(now, Dim::Requests, 1.0, f64::NAN);
                    let back = s.apply(
                        now,
                        op::GIVE_BACK,
                        &[2.0, o, i, 1.0, 1.0, f64::NAN, 9.0, 1.0, 1.0],
                    );
                    assert_eq!(back, [0.0; 3]);
                }
                got
            }
            _ => {
                direct.pause(now, o);
                s.apply(now, op::PAUSE, &[o])
            }
        };
        assert!(!got[0].is_nan());
        saved = s.save();
        assert_eq!(KeyState::load(&saved), direct, "step {step}");
        assert_eq!(s.apply(now, op::LEVELS, &[]), [0.0; 3]);
    }
    assert!(KeyState::new()
        .apply(now, 99, &[])
        .iter()
        .all(|x| x.is_nan()));
    // Damaged or foreign numbers read as unknown, never as a bucket.
    let mut bad = saved;
    bad[0] = -1.0; // the first bucket's capacity
    bad[6] = f64::NAN; // the second's level
    let s = KeyState::load(&bad);
    assert!(s.buckets[0].is_none() && s.buckets[1].is_none());
    assert!(s.queue[0].is_none() && s.queue[1].is_none());
    // A damaged queue reads as its bucket (no turn booked), and so does one above it.
    let mut bad = saved;
    bad[13] = f64::NAN; // the third's queue level
    bad[8] = bad[6] + 1.0; // the second's queue above its level
    bad[9] = bad[7];
    let s = KeyState::load(&bad);
    assert_eq!(s.queue[2], s.buckets[2]);
    assert_eq!(s.queue[1], s.buckets[1]);
    assert_eq!(KeyState::load(&[1.0, 2.0]), KeyState::new());
    assert!((Bucket::from_raw(10.0, WINDOW_MS, -50.0, T0).level(T0) + 10.0).abs() < 1e-12);
}

#[test]
fn the_compact_form_carries_the_probe_and_reads_a_state_saved_before_it() {
    use llm_pacer::core::limiter::{PROBE_MAX_MS, PROBE_STEP_MS};
    use llm_pacer::core::store::{op, STATE_LEN};
    let nan = f64::NAN;
    let ask = [nan, nan, nan, nan, 10.0, 1_000.0, 0.0];
    let mut s = KeyState::new();
    assert_eq!(s.apply(T0, op::RESERVE, &ask), [1.0, 0.0, 0.0]);
    let saved = s.save();
    assert_eq!(
        (saved.len(), saved[21], saved[22]),
        (STATE_LEN, T0 + PROBE_MAX_MS, 0.0)
    );
    let mut s = KeyState::load(&saved);
    assert_eq!(
        s.apply(T0 + 1.0, op::RESERVE, &ask),
        [2.0, PROBE_MAX_MS - 1.0, 5.0]
    );
    assert_eq!(s.apply(T0 + 2.0, op::PROBED, &[1.0]), [0.0; 3]);
    let saved = s.save();
    assert_eq!((saved[21], saved[22]), (0.0, 1.0));
    let mut s = KeyState::load(&saved);
    assert!(s.open);
    assert_eq!(s.apply(T0 + 3.0, op::RESERVE, &ask), [1.0, 0.0, 0.0]);
    // `[0]` ends the lease and leaves the key closed.
    let mut s = KeyState::new();
    s.apply(T0, op::RESERVE, &ask);
    s.apply(T0 + 1.0, op::PROBED, &[0.0]);
    assert_eq!((s.probe_until_ms, s.open), (0.0, false));
    // The probes out are saved; a state saved before they were counted (23 numbers) reads
    // its lease as the first probe's.
    let mut s = KeyState::new();
    s.apply(T0, op::RESERVE, &ask);
    for _ in 0..3 {
        s.apply(T0 + PROBE_MAX_MS, op::RESERVE, &ask); // the second probe, then two waits
    }
    let saved = s.save();
    assert_eq!(
        (saved[21], saved[23]),
        (T0 + PROBE_MAX_MS + PROBE_STEP_MS, 2.0)
    );
    assert_eq!(KeyState::load(&saved), s);
    let old = KeyState::load(&saved[..23]);
    assert_eq!((old.probe_until_ms, old.probe_sent), (saved[21], 1));
    let mut bad = saved;
    bad[23] = f64::NAN;
    assert_eq!(KeyState::load(&bad).probe_sent, 1);
    // A state saved before the probe (21 numbers) still reads, with no probe out.
    let mut old = KeyState::new();
    old.learn(T0, Dim::OutputTokens, 6_000.0, 5_000.0);
    old.pause(T0, 1_000.0);
    assert_eq!(KeyState::load(&old.save()[..21]), old);
    assert_eq!(
        KeyState::load(&old.save()[..22]),
        KeyState::new(),
        "another length"
    );
}
