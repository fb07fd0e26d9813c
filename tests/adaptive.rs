//! The adaptive controller (`core::adaptive`) alone, inside the engine, and against the
//! simulator's server with a hidden capacity (`sim::capacity`).

use llm_pacer::core::adaptive::*;
use llm_pacer::core::call::{Action, Engine, Request, Verdict};
use llm_pacer::core::config::Config;
use llm_pacer::core::headers::{DimInfo, RateLimitInfo};
use llm_pacer::sim::capacity::{run, variants, HiddenServer, Setting, SETTINGS};

#[test]
fn slow_start_doubles_the_window_per_round_trip_until_a_refusal() {
    let mut a = Adaptive::new();
    let mut next = 0u64;
    let mut t = 0.0;
    for round in 0..4 {
        let w = a.window();
        assert_eq!(w, INITIAL_WINDOW * 2f64.powi(round));
        let ids: Vec<u64> = (0..w as u64).map(|i| next + i).collect();
        for (i, &id) in ids.iter().enumerate() {
            assert!(a.gate(t, i as u32).cap >= 1);
            a.on_admit(id, t, i as u32 + 1);
        }
        assert_eq!(a.gate(t, ids.len() as u32).cap, 0, "the window is full");
        next += ids.len() as u64;
        t += 1_000.0;
        for &id in &ids {
            a.on_result(id, t, Signal::Success);
        }
        assert!(a.rate().is_infinite(), "no rate limit in slow start");
    }
    // A refusal: the window goes below what was in flight, the rate below the higher of the
    // last second's admissions (8) and the rate slow start's 60 successes were served at
    // (over 4.05 s: 14.8 a second).
    let w = a.window();
    for i in 0..8 {
        a.on_admit(next + i, t, i as u32 + 1);
    }
    a.on_result(next, t + 50.0, Signal::Refused);
    assert!(
        a.window() < w && a.window() <= 8.0 * DECREASE + 1e-9,
        "{}",
        a.window()
    );
    let served = 60.0 * 1000.0 / (t + 50.0);
    assert!((a.rate() - served * DECREASE).abs() < 1e-9, "{}", a.rate());
    assert_eq!(a.decreases(), 1);
    // Refusals of requests admitted before that decrease: the same congestion.
    for i in 1..8 {
        a.on_result(next + i, t + 60.0, Signal::Refused);
    }
    assert_eq!(a.decreases(), 1);
}

#[test]
fn on_a_fast_server_slow_start_ends_at_the_rate_it_was_served() {
    // 8 slots answered in 20 ms: slow start's successes come some 350 a second, and its
    // first refusal comes 100 ms in, when the second's admissions were 37. The rate is set
    // from what was served (303 a second), not from that count (31: a probe saw 300 calls
    // take 9.8 s, against 0.75 s at a fixed concurrency of 8, as the rate climbed back).
    let mut a = Adaptive::new();
    let (mut t, mut next, mut served) = (0.0, 0u64, 0u32);
    while t < 100.0 {
        let ids: Vec<u64> = (0..a.window().min(8.0) as u64).map(|i| next + i).collect();
        for (i, &id) in ids.iter().enumerate() {
            a.on_admit(id, t, i as u32 + 1);
        }
        next += ids.len() as u64;
        t += 20.0;
        for &id in &ids {
            a.on_result(id, t, Signal::Success);
            served += 1;
        }
    }
    a.on_admit(next, t, 9);
    a.on_result(next, t + 1.0, Signal::Refused);
    let rate = f64::from(served) * 1000.0 / (t + 1.0) * DECREASE;
    assert!((a.rate() - rate).abs() < 1e-9, "{} vs {rate}", a.rate());
    assert!(a.rate() > 100.0, "{}", a.rate());
}

#[test]
fn the_rate_spaces_admissions_once_known() {
    let mut a = Adaptive::new();
    for i in 0..4 {
        a.on_admit(i, 0.0, i as u32 + 1);
    }
    a.on_result(0, 10.0, Signal::Refused); // 4 in the last second -> 3.4/s
    let spacing = 1000.0 / a.rate();
    a.on_admit(10, 20.0, 1);
    let g = a.gate(20.0, 1);
    assert_eq!(g.cap, 0);
    assert_eq!(g.wake_at_ms, Some(20.0 + spacing));
    assert_eq!(a.gate(20.0 + spacing, 1).cap, 1, "one at a time");
}

#[test]
fn a_refusal_cuts_the_limit_that_was_hit() {
    // Past slow start, with a window of about 4 and a rate of about 3.4/s.
    let mut a = Adaptive::new();
    for i in 0..4 {
        a.on_admit(i, 0.0, i as u32 + 1);
    }
    a.on_result(3, 10.0, Signal::Refused);
    let (w, r) = (a.window(), a.rate());
    // A request that did not fill the window is refused: the rate was hit.
    a.on_admit(100, 2_000.0, 1);
    a.on_result(100, 2_050.0, Signal::Refused);
    assert_eq!(a.window(), w);
    assert!(a.rate() < r);
    // One that filled it: the window.
    let r = a.rate();
    let full = a.window().round() as u32;
    a.on_admit(101, 4_000.0, full);
    a.on_result(101, 4_050.0, Signal::Refused);
    assert!(a.window() < w);
    assert_eq!(a.rate(), r);
}

#[test]
fn it_never_stops_traffic_and_forgets_what_it_is_told_to() {
    let mut a = Adaptive::new();
    let mut t = 0.0;
    for i in 0..200u64 {
        a.on_admit(i, t, 1);
        t += 1_000.0;
        a.on_result(i, t, Signal::Refused);
    }
    assert!(a.window() >= MIN_WINDOW && a.rate() >= MIN_RATE);
    assert!(a.gate(t + 1.0e6, 0).cap >= 1);
    // Unknown ids and `Other` change nothing.
    let before = (a.window(), a.rate(), a.decreases());
    a.on_result(9_999, t, Signal::Refused);
    a.on_admit(500, t, 1);
    a.forget(500);
    a.on_result(500, t, Signal::Refused);
    a.on_admit(501, t, 1);
    a.on_result(501, t, Signal::Other);
    assert_eq!((a.window(), a.rate(), a.decreases()), before);
    assert_eq!(Signal::of_status(503), Signal::Refused);
    assert_eq!(Signal::of_status(529), Signal::Refused);
    assert_eq!(Signal::of_status(429), Signal::Refused);
    assert_eq!(Signal::of_status(500), Signal::Other);
    assert_eq!(Signal::of_status(204), Signal::Success);
}

/// One request admitted alone at `t`, answered `signal` 1 ms later.
fn alone(a: &mut Adaptive, t: &mut f64, id: &mut u64, signal: Signal) {
    a.on_admit(*id, *t, 1);
    *t += 1.0;
    a.on_result(*id, *t, signal);
    *id += 1;
}

#[test]
fn after_an_outage_the_rate_is_regained_doubling_not_by_two_percent_steps() {
    // A fast server: slow start (8 at a time) ends at some hundreds a second, then the rate
    // is what binds. A 3 s outage (every request refused, each round cutting the rate)
    // takes it to the floor. Back up, the rate doubles per success to what the outage's
    // first refusal left (a probe's repro stayed at 4 a second for 27 s after a 3 s outage,
    // growing 2% per window of successes).
    let mut a = Adaptive::new();
    let (mut t, mut id) = (0.0, 0u64);
    for round in 0..21 {
        for k in 0..8 {
            a.on_admit(id + k, t, k as u32 + 1);
        }
        t += 10.0;
        for k in 0..8 {
            let last = round == 20 && k == 0;
            a.on_result(
                id + k,
                t,
                if last {
                    Signal::Refused
                } else {
                    Signal::Success
                },
            );
        }
        id += 8;
    }
    assert!(a.window() > 2.0, "{}", a.window());
    let before = a.rate();
    assert!(before.is_finite() && before > 20.0, "{before}");
    // One refusal alone is congestion: the rate stays cut (0.85), regained by the 2% steps.
    alone(&mut a, &mut t, &mut id, Signal::Refused);
    let cut = a.rate();
    assert!(cut <= before * DECREASE, "{cut} of {before}");
    t += 1000.0 / cut;
    alone(&mut a, &mut t, &mut id, Signal::Success);
    assert!(a.rate() <= cut * (1.0 + RATE_STEP), "{}", a.rate());
    // A run of refusals across rounds is an outage: what it cut is regained whole.
    let before = a.rate();
    for _ in 0..300 {
        alone(&mut a, &mut t, &mut id, Signal::Refused);
    }
    assert_eq!(a.rate(), MIN_RATE, "the outage takes it to the floor");
    let mut successes = 0;
    while a.rate() < before && successes < 100 {
        // Admitted at the rate's spacing (the queue is full), answered in 1 ms.
        t += 1000.0 / a.rate() - 1.0;
        alone(&mut a, &mut t, &mut id, Signal::Success);
        successes += 1;
    }
    assert!(
        successes <= 12 && (a.rate() - before).abs() < 1e-9, // 0.2 x 2^12 > 661
        "{successes} successes: {} of {before}",
        a.rate()
    );
    // Past it, no doubling: at most the usual 2% step (none while the admissions' average
    // still lags the rate).
    let r = a.rate();
    t += 1000.0 / r - 1.0;
    alone(&mut a, &mut t, &mut id, Signal::Success);
    assert!(
        a.rate() >= r && a.rate() <= r * (1.0 + RATE_STEP),
        "{}",
        a.rate()
    );
}

#[test]
fn rising_latency_holds_the_window() {
    let mut a = Adaptive::new();
    let mut t = 0.0;
    let mut id = 0;
    // Steady latency of 100 ms: the window grows.
    for _ in 0..20 {
        a.on_admit(id, t, 1);
        a.on_result(id, t + 100.0, Signal::Success);
        id += 1;
        t += 200.0;
    }
    let grown = a.window();
    assert!(grown > INITIAL_WINDOW);
    // Latency jumps tenfold: the server queues; the window holds.
    for _ in 0..5 {
        a.on_admit(id, t, 1);
        a.on_result(id, t + 1_000.0, Signal::Success);
        id += 1;
        t += 2_000.0;
    }
    assert!(a.window() <= grown + 1.0, "{} after {grown}", a.window());
}

fn engine(adaptive: bool) -> Engine {
    let mut c = Config::new();
    c.adaptive = adaptive;
    Engine::new(c, 0.0)
}

fn sends(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::Send { .. }))
        .count()
}

#[test]
fn the_engine_admits_within_the_window_only_while_no_limit_is_known() {
    let mut e = engine(true);
    for _ in 0..20 {
        e.submit(0.0, Request::default()).unwrap();
    }
    assert_eq!(sends(&e.poll(0.0)), INITIAL_WINDOW as usize);
    // Off: one probe first, then (its answer taught nothing) everything goes.
    let mut off = engine(false);
    let first = off.submit(0.0, Request::default()).unwrap();
    for _ in 1..20 {
        off.submit(0.0, Request::default()).unwrap();
    }
    assert_eq!(sends(&off.poll(0.0)), 1);
    off.on_response(10.0, first, 200, &RateLimitInfo::default(), None, 0.0);
    assert_eq!(sends(&off.poll(10.0)), 19);
    // Limits learned from headers: the controller stands aside.
    let info = RateLimitInfo {
        requests: DimInfo {
            limit: Some(1_000.0),
            remaining: Some(990.0),
            reset_at_ms: Some(60_000.0),
            window_ms: Some(60_000.0),
            rounded: false,
        },
        ..RateLimitInfo::default()
    };
    assert_eq!(
        e.on_response(100.0, 1, 200, &info, None, 0.5),
        Verdict::Deliver
    );
    e.on_done(100.0, 1, None);
    assert_eq!(
        sends(&e.poll(100.0)),
        16,
        "the rest of the queue goes at once"
    );
}

#[test]
fn the_engine_spaces_admissions_after_a_refusal_and_wakes_for_the_next() {
    let mut e = engine(true);
    for _ in 0..20 {
        e.submit(0.0, Request::default()).unwrap();
    }
    assert_eq!(sends(&e.poll(0.0)), 4);
    let none = RateLimitInfo::default();
    // The server refuses #4 (a bare 503): a retry is planned, and the rate is now known.
    assert!(matches!(
        e.on_response(10.0, 4, 503, &none, None, 0.5),
        Verdict::Retry { .. }
    ));
    for id in 1..=3 {
        assert_eq!(
            e.on_response(20.0, id, 200, &none, None, 0.5),
            Verdict::Deliver
        );
        e.on_done(20.0, id, None);
    }
    // Refused before any success, slow start took the last second's 4 admissions for the
    // rate (3.4/s); its first success's latency corrects that guess: the window (3) per
    // 20 ms, less 15%: 127.5/s, one every ~7.8 ms.
    let spacing = 1000.0 / (3.0 * 1000.0 / 20.0 * DECREASE);
    assert_eq!(sends(&e.poll(20.0)), 1, "one at a time once spaced");
    assert_eq!(sends(&e.poll(20.0 + spacing - 1.0)), 0);
    let wake = e.next_wake().expect("a wake for the next admission");
    assert!((wake - (20.0 + spacing)).abs() < 1.5, "{wake}");
    assert_eq!(sends(&e.poll(wake)), 1);
}

#[test]
fn against_a_hidden_capacity_adaptive_is_near_the_best_fixed_setting_with_few_refusals() {
    // The README's table in small: 1000 requests, seeds 1..=2, every variant.
    for (name, server) in variants() {
        let mean = |s: Setting| {
            let runs: Vec<_> = (1..=2).map(|seed| run(&server, s, 1000, seed)).collect();
            let n = runs.len() as f64;
            (
                runs.iter().map(|o| o.throughput()).sum::<f64>() / n,
                runs.iter().map(|o| o.refused_pct()).sum::<f64>() / n,
                runs.iter().map(|o| o.failed).sum::<u32>(),
            )
        };
        let (tp, refused, failed) = mean(Setting::Adaptive);
        let best = SETTINGS[1..].iter().map(|&s| mean(s).0).fold(0.0, f64::max);
        assert_eq!(failed, 0, "{name}");
        assert!(tp >= 0.9 * best, "{name}: {tp:.3} req/s against {best:.3}");
        assert!(refused <= 5.0, "{name}: {refused:.1}% refused");
        assert!(
            tp <= server.capacity_per_s() * 1.02,
            "{name}: {tp} beyond capacity"
        );
    }
}

#[test]
fn fixed_concurrency_above_the_hidden_capacity_hammers_it() {
    // The baseline the controller is measured against really is refused a lot (else the
    // comparison would prove nothing).
    let server = HiddenServer::issue((1_000.0, 7_000.0));
    let o = run(&server, Setting::Fixed(64), 300, 1);
    assert!(o.refused_pct() > 50.0, "{}", o.refused_pct());
    assert_eq!(o.succeeded, 300);
}

/// Slow start's first answers handled late, as when 2,000 calls submitted at once hold the
/// event loop for 500 ms: the first 4 admitted at 0 and answered at 500 ms; then rounds of a
/// window of requests (8 at once at most) answered `ms(round)` ms after they are sent, until
/// a 9th at once is refused in 2 ms.
fn held_start(a: &mut Adaptive, ms: impl Fn(u32) -> f64) -> f64 {
    let mut t = 0.0;
    let mut next = 0u64;
    for round in 0.. {
        let n = if round == 0 { 4 } else { a.window() as u32 };
        for i in 0..n.min(8) {
            a.on_admit(next + u64::from(i), t, i + 1);
        }
        if n > 8 {
            a.on_admit(next + 8, t, 9);
            a.on_result(next + 8, t + 2.0, Signal::Refused);
            return t + 2.0;
        }
        let back = if round == 0 { 500.0 } else { t + ms(round) };
        for i in 0..n {
            a.on_result(next + u64::from(i), back, Signal::Success);
        }
        next += u64::from(n) + 1;
        t = back;
    }
    unreachable!()
}

#[test]
fn a_held_start_does_not_set_the_rate_below_what_the_window_serves() {
    // After the held start, answers in 20 ms: 8 at once serve 400 a second. Slow start's
    // admissions (21 in its first second) and its 12 successes over its 522 ms (23 a second)
    // undercount that; the rate was set to 0.85 times those (a probe of 2,000 calls took
    // 24.9 s against 8.25 s at a fixed concurrency of 8, the rate regained by 2% steps).
    let mut a = Adaptive::new();
    held_start(&mut a, |_| 20.0);
    assert!(a.rate() >= 0.85 * 400.0 * 0.85, "{}", a.rate());
    assert!(a.window() <= 9.0 * DECREASE + 1e-9, "{}", a.window());
}

#[test]
fn the_first_rounds_answers_seed_no_latency_average() {
    // The first round answered in 500 ms (a held event loop, connections opened), then two
    // rounds in 20 ms, then slower and slower: queueing (in the client's own loop, a real
    // probe's 80-500 ms, or at the server). Measured against 20 ms, the window stops growing
    // there; against a long average that held the 500 ms, it grew on (to 256).
    let grow = |slow: bool| {
        let mut a = Adaptive::new();
        let (mut t, mut next) = (0.0, 0u64);
        for round in 0..6 {
            let n = a.window() as u32;
            for i in 0..n {
                a.on_admit(next + u64::from(i), t, i + 1);
            }
            t += match round {
                0 => 500.0,
                1 | 2 => 20.0,
                _ if slow => 40.0 * f64::from(round),
                _ => 20.0,
            };
            for i in 0..n {
                a.on_result(next + u64::from(i), t, Signal::Success);
            }
            next += u64::from(n);
        }
        a.window()
    };
    assert_eq!(grow(false), 256.0);
    let slow = grow(true);
    assert!(slow <= 64.0, "{slow}");
}

#[test]
fn a_refusal_neither_limit_held_cuts_the_rate_not_the_admissions_a_busy_client_made() {
    // Past slow start (window ~20, rate ~680), a busy client admits only every 5 ms (its
    // timers fire late: some 150 a second); 9 in flight are refused. Neither the window nor
    // the rate held admissions back: the rate goes to 0.85 times itself, not to 0.85 times
    // those admissions (then regained by 2% steps: a probe ran 2-4 in flight of 8 for seconds).
    let mut a = Adaptive::new();
    let (mut t, mut next) = (0.0, 0u64);
    let mut round = |a: &mut Adaptive, n: u32, t: &mut f64, refuse: bool| {
        for i in 0..n {
            a.on_admit(next + u64::from(i), *t, i + 1);
            *t += 5.0;
        }
        if refuse {
            a.on_result(next + u64::from(n - 1), *t, Signal::Refused);
        }
        for i in 0..n - u32::from(refuse) {
            a.on_result(next + u64::from(i), *t + 20.0, Signal::Success);
        }
        next += u64::from(n);
        *t += 20.0;
    };
    for n in [4, 8, 16] {
        round(&mut a, n, &mut t, false);
    }
    round(&mut a, 23, &mut t, true); // slow start ends
    let rate = a.rate();
    assert!(rate > 300.0 && a.window() > 18.0, "{rate} {}", a.window());
    round(&mut a, 6, &mut t, false);
    let rate = a.rate();
    round(&mut a, 9, &mut t, true);
    assert!(
        a.rate() >= rate * DECREASE - 1e-9,
        "{} from {rate}",
        a.rate()
    );
}
