//! The engine's unit tests: a call's life through each path of the state machine.

use super::*;
use crate::core::backoff::Jitter;
use crate::core::classify::ErrorInfo;
use crate::core::headers::{DimInfo, RateLimitInfo};
use crate::core::limiter::{Dim, Limits, Usage};
use crate::core::limiter::{PROBE_MAX_MS, PROBE_STEP_MS};
use crate::core::presets::OutputMetering;

const T0: Ms = 1_767_225_600_000.0;

fn config() -> Config {
    let mut c = Config::new();
    c.retry.backoff.jitter = Jitter::None;
    c
}

/// A config with a limit too large to matter: the key knows a limit, so its calls go
/// at once (no opening probe; see `a_key_that_knows_no_limit_sends_one_request_first`).
fn config_known() -> Config {
    let mut c = config();
    c.limits.rpm = Some(1e9);
    c
}

fn req(input: f64, max_tokens: f64) -> Request {
    Request {
        input_tokens: input,
        max_tokens: Some(max_tokens),
        priority: 0,
        ..Request::default()
    }
}

fn hint(ms: Ms) -> RateLimitInfo {
    RateLimitInfo {
        retry_after_ms: Some(ms),
        ..Default::default()
    }
}

fn none() -> RateLimitInfo {
    RateLimitInfo::default()
}

fn sends(actions: &[Action]) -> Vec<Id> {
    actions
        .iter()
        .filter_map(|a| {
            if let Action::Send { id, .. } = a {
                Some(*id)
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn a_successful_call_is_sent_delivered_and_settled() {
    let mut e = Engine::new(config(), T0);
    let id = e.submit(T0, req(100.0, 50.0)).unwrap();
    assert_eq!(e.poll(T0), vec![Action::Send { id, attempt: 1 }]);
    assert_eq!(
        e.on_response(T0 + 10.0, id, 200, &none(), None, 0.5),
        Verdict::Deliver
    );
    assert_eq!(
        e.stats().in_flight,
        1,
        "the slot is held while the body is read"
    );
    let usage = Usage {
        input_tokens: 90.0,
        output_tokens: 20.0,
        ..Default::default()
    };
    e.on_done(T0 + 20.0, id, Some(usage));
    let s = e.stats();
    assert_eq!(
        (s.requests, s.attempts, s.retries, s.in_flight, s.queued),
        (1, 1, 0, 0, 0)
    );
    assert_eq!(
        (s.input_tokens_reserved, s.output_tokens_reserved),
        (100.0, 50.0)
    );
    assert_eq!((s.input_tokens_used, s.output_tokens_used), (90.0, 20.0));
    assert_eq!(e.live_calls(), 0);
    assert_eq!(e.next_wake(), None, "nothing live, no timer");
}

#[test]
fn a_429_with_a_hint_pauses_everyone_and_retries_after_the_hint() {
    let mut c = config();
    c.limits = Limits {
        rpm: Some(1000.0),
        ..Default::default()
    };
    let mut e = Engine::new(c, T0);
    let a = e.submit(T0, req(10.0, 10.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![a]);
    let v = e.on_response(T0 + 100.0, a, 429, &hint(2_000.0), None, 0.5);
    let Verdict::Retry { at_ms } = v else {
        panic!("{v:?}")
    };
    // Never shorter than the hint, at most min(10%, 1 s) longer.
    assert!((T0 + 2_100.0..=T0 + 2_300.0).contains(&at_ms), "{at_ms}");
    // A second call submitted now waits for the pause too.
    let b = e.submit(T0 + 200.0, req(10.0, 10.0)).unwrap();
    assert_eq!(sends(&e.poll(T0 + 200.0)), Vec::<Id>::new());
    assert!(e.next_wake().unwrap() <= at_ms);
    assert_eq!(sends(&e.poll(T0 + 2_099.0)), Vec::<Id>::new());
    // The retried call keeps its place ahead of the later one.
    assert_eq!(sends(&e.poll(at_ms)), vec![a, b]);
    assert_eq!(e.stats().rate_limited, 1);
    assert_eq!(e.stats().retries, 1);
}

/// A 429 with no hint whose headers report a dimension spent, with its reset but no limit
/// (IETF `RateLimit-Remaining: 0`, `RateLimit-Reset: 30`): with no bucket to wait on, the
/// reset is the wait (the backoff's second before: a refusal per retry). With a limit, the
/// limiter's bucket decides, and the reset (Anthropic's: until full) is no hint.
#[test]
fn a_429_reporting_a_spent_dimension_without_a_limit_waits_for_its_reset() {
    let spent = |limit: Option<f64>| RateLimitInfo {
        requests: DimInfo {
            limit,
            remaining: Some(0.0),
            reset_at_ms: Some(T0 + 30_100.0),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut e = Engine::new(config(), T0);
    let a = e.submit(T0, req(10.0, 10.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![a]);
    let v = e.on_response(T0 + 100.0, a, 429, &spent(None), None, 0.5);
    let Verdict::Retry { at_ms } = v else {
        panic!("{v:?}")
    };
    assert!(
        (T0 + 30_100.0..=T0 + 31_100.0).contains(&at_ms),
        "{}",
        at_ms - T0
    );
    // It holds the key: a later call waits too.
    let b = e.submit(T0 + 200.0, req(10.0, 10.0)).unwrap();
    assert_eq!(sends(&e.poll(T0 + 200.0)), Vec::<Id>::new());
    assert_eq!(sends(&e.poll(at_ms)), vec![a, b]);

    // A 200 that reports the same is no refusal: nothing held.
    let mut e = Engine::new(config(), T0);
    let a = e.submit(T0, req(10.0, 10.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![a]);
    assert_eq!(
        e.on_response(T0 + 100.0, a, 200, &spent(None), None, 0.5),
        Verdict::Deliver
    );

    // With a limit of 60 a minute, the bucket refills one request a second: not 30 s.
    let mut e = Engine::new(config(), T0);
    let a = e.submit(T0, req(10.0, 10.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![a]);
    let v = e.on_response(T0 + 100.0, a, 429, &spent(Some(60.0)), None, 0.5);
    let Verdict::Retry { at_ms } = v else {
        panic!("{v:?}")
    };
    assert!(at_ms < T0 + 10_000.0, "{}", at_ms - T0);
}

#[test]
fn a_503_or_529_that_states_a_wait_holds_its_key_too() {
    // RFC 9110 §10.2.3: with a 503, Retry-After is how long the service is expected to be
    // unavailable; the key's other calls wait for it too. Without a hint, only its own call
    // backs off.
    for (status, hinted) in [(503, true), (529, true), (503, false), (500, true)] {
        let mut e = Engine::new(config(), T0);
        let a = e.submit(T0, req(10.0, 10.0)).unwrap();
        assert_eq!(sends(&e.poll(T0)), vec![a]);
        let info = if hinted { hint(2_000.0) } else { none() };
        let Verdict::Retry { .. } = e.on_response(T0 + 100.0, a, status, &info, None, 0.5) else {
            panic!("{status} is retried");
        };
        let b = e.submit(T0 + 200.0, req(10.0, 10.0)).unwrap();
        let held = sends(&e.poll(T0 + 200.0)).is_empty();
        assert_eq!(held, hinted && status != 500, "{status}, hint {hinted}");
        if held {
            assert_eq!(
                sends(&e.poll(T0 + 2_100.0)),
                vec![b],
                "{status}: after the wait"
            );
        }
    }
}

#[test]
fn a_429_that_is_not_retried_still_pauses_its_key_for_its_hint() {
    // A 429 outside the status list, or with `x-should-retry: false`: delivered at once, and
    // the other calls of its key wait out the wait it states all the same.
    for (retry_on, should_retry) in [(Some(vec![503]), None), (None, Some(false))] {
        let mut c = config();
        c.retry.retry_on = retry_on.clone();
        let mut e = Engine::new(c, T0);
        let a = e.submit(T0, req(10.0, 10.0)).unwrap();
        assert_eq!(sends(&e.poll(T0)), vec![a]);
        let mut info = hint(2_000.0);
        info.should_retry = should_retry;
        let v = e.on_response(T0 + 100.0, a, 429, &info, None, 0.5);
        assert_eq!(v, Verdict::Deliver, "{retry_on:?} {should_retry:?}");
        let b = e.submit(T0 + 200.0, req(10.0, 10.0)).unwrap();
        assert_eq!(sends(&e.poll(T0 + 200.0)), Vec::<Id>::new());
        assert_eq!(sends(&e.poll(T0 + 2_099.0)), Vec::<Id>::new());
        assert_eq!(sends(&e.poll(T0 + 2_100.0)), vec![b]);
    }
}

#[test]
fn retries_stop_at_max_retries_and_the_last_response_is_delivered() {
    let mut c = config();
    c.retry.max_retries = 2;
    c.budget = None;
    let mut e = Engine::new(c, T0);
    let id = e.submit(T0, req(1.0, 1.0)).unwrap();
    let mut now = T0;
    let mut attempts = 0;
    loop {
        let acts = e.poll(now);
        if !sends(&acts).is_empty() {
            attempts += 1;
            match e.on_response(now, id, 503, &none(), None, 0.0) {
                Verdict::Retry { at_ms } => now = at_ms,
                Verdict::Deliver => break,
                v => panic!("{v:?}"),
            }
        } else {
            now = e.next_wake().expect("a timer");
        }
    }
    assert_eq!(attempts, 3);
    // Base delays with no jitter: 1 s then 2 s.
    assert_eq!(now, T0 + 3_000.0);
    assert_eq!(e.stats().retries, 2);
    assert_eq!(e.live_calls(), 0);
}

#[test]
fn a_call_that_cannot_be_replayed_is_never_retried() {
    let mut e = Engine::new(config_known(), T0);
    e.set_record_events(true);
    let a = e.submit(T0, req(1.0, 1.0)).unwrap();
    let b = e.submit(T0, req(1.0, 1.0)).unwrap();
    e.not_replayable(a);
    e.not_replayable(b);
    e.poll(T0);
    assert_eq!(
        e.on_response(T0, a, 503, &none(), None, 0.0),
        Verdict::Deliver
    );
    assert_eq!(
        e.on_network_error(T0, b, 0.0),
        Verdict::Fail(CallError::Network)
    );
    assert_eq!(e.stats().retries, 0);
    assert!(e
        .drain_events()
        .iter()
        .any(|ev| ev.kind == EventKind::GiveUp && ev.reason == "not_replayable"));
}

#[test]
fn network_errors_are_retried_then_rejected() {
    let mut c = config();
    c.retry.max_retries = 1;
    c.budget = None;
    let mut e = Engine::new(c, T0);
    let id = e.submit(T0, req(1.0, 1.0)).unwrap();
    e.poll(T0);
    let Verdict::Retry { at_ms } = e.on_network_error(T0, id, 0.0) else {
        panic!()
    };
    assert_eq!(e.poll(at_ms), vec![Action::Send { id, attempt: 2 }]);
    assert_eq!(
        e.on_network_error(at_ms, id, 0.0),
        Verdict::Fail(CallError::Network)
    );
    assert_eq!(e.stats().network_errors, 2);
    assert_eq!(e.live_calls(), 0);
}

#[test]
fn non_retryable_and_spend_limit_responses_are_delivered_at_once() {
    let mut e = Engine::new(config_known(), T0);
    let a = e.submit(T0, req(1.0, 1.0)).unwrap();
    let b = e.submit(T0, req(1.0, 1.0)).unwrap();
    e.poll(T0);
    assert_eq!(
        e.on_response(T0, a, 400, &none(), None, 0.0),
        Verdict::Deliver
    );
    let spend = ErrorInfo {
        error_type: Some("rate_limit_error".into()),
        code: Some("enforced_spend_limit_reached".into()),
        ..ErrorInfo::default()
    };
    assert_eq!(
        e.on_response(T0, b, 429, &none(), Some(&spend), 0.0),
        Verdict::Deliver
    );
    assert_eq!(e.live_calls(), 0);
    assert_eq!(e.stats().retries, 0);
}

#[test]
fn a_hint_beyond_max_retry_after_returns_the_429_and_rejects_the_queue() {
    let mut c = config();
    c.concurrency = Some(1);
    c.retry.max_retry_after_ms = 10_000.0;
    let mut e = Engine::new(c, T0);
    let a = e.submit(T0, req(1.0, 1.0)).unwrap();
    let b = e.submit(T0, req(1.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![a]);
    assert_eq!(
        e.on_response(T0, a, 429, &hint(60_000.0), None, 0.0),
        Verdict::Deliver
    );
    let acts = e.poll(T0);
    assert_eq!(acts.len(), 1);
    let Action::Fail {
        id,
        error: CallError::RetryAfterTooLong { hint_ms },
    } = acts[0]
    else {
        panic!("{acts:?}")
    };
    assert_eq!((id, hint_ms), (b, 60_000.0));
    assert_eq!(e.live_calls(), 0);
    // What a later call is told is whole ms, not the float noise of `until - now`.
    let c = e.submit(T0 + 0.1, req(1.0, 1.0)).unwrap();
    let acts = e.poll(T0 + 0.1);
    assert!(
        matches!(acts[..], [Action::Fail { id, error: CallError::RetryAfterTooLong { hint_ms } }]
            if id == c && hint_ms == 60_000.0),
        "{acts:?}"
    );
}

#[test]
fn the_deadline_bounds_the_whole_call() {
    let mut c = config();
    c.timeout_ms = Some(5_000.0);
    c.concurrency = Some(1);
    c.budget = None;
    let mut e = Engine::new(c, T0);
    let a = e.submit(T0, req(1.0, 1.0)).unwrap();
    let b = e.submit(T0, req(1.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![a]);
    // a: a 503 whose retry would cross the deadline is delivered at once.
    assert_eq!(
        e.on_response(T0 + 4_500.0, a, 503, &none(), None, 0.0),
        Verdict::Deliver
    );
    assert_eq!(sends(&e.poll(T0 + 4_500.0)), vec![b]);
    // b: still on the wire at the deadline: TIMEOUT (the driver aborts it).
    assert_eq!(e.next_wake(), Some(T0 + 5_000.0));
    assert_eq!(
        e.poll(T0 + 5_000.0),
        vec![Action::Fail {
            id: b,
            error: CallError::Timeout
        }]
    );
    assert_eq!(e.live_calls(), 0);
    assert_eq!(e.stats().in_flight, 0);
}

#[test]
fn a_call_is_sent_however_little_time_it_has_left_against_answers_so_far() {
    // Concurrency 1, timeout 2 s. `a` is answered in 300 ms, `s` in 1.5 s. `b`, queued behind
    // them, is admitted with 220 ms left: still sent. How fast its answer comes is the
    // pacer's own estimate (a short request may be answered faster than any before it), and
    // no call fails on one: only its deadline ends it.
    let mut c = config();
    c.timeout_ms = Some(2_000.0);
    c.concurrency = Some(1);
    c.limits = Limits {
        rpm: Some(10.0),
        ..Default::default()
    };
    let mut e = Engine::new(c, T0);
    e.set_record_events(true);
    let a = e.submit(T0, req(1.0, 1.0)).unwrap();
    let s = e.submit(T0 + 10.0, req(1.0, 1.0)).unwrap();
    let b = e.submit(T0 + 20.0, req(1.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(T0 + 20.0)), vec![a]);
    e.on_response(T0 + 300.0, a, 200, &none(), None, 0.0);
    e.on_done(T0 + 300.0, a, None);
    assert_eq!(sends(&e.poll(T0 + 300.0)), vec![s]);
    let c = e.submit(T0 + 1_000.0, req(1.0, 1.0)).unwrap();
    e.on_response(T0 + 1_800.0, s, 200, &none(), None, 0.0);
    e.on_done(T0 + 1_800.0, s, None);
    assert_eq!(sends(&e.poll(T0 + 1_800.0)), vec![b]);
    // At its deadline it times out on the wire, and the next call goes.
    assert_eq!(
        e.poll(T0 + 2_020.0),
        vec![
            Action::Fail {
                id: b,
                error: CallError::Timeout
            },
            Action::Send { id: c, attempt: 1 }
        ]
    );
    assert_eq!(e.stats().in_flight, 1);
}

#[test]
fn a_hint_that_ends_before_the_deadline_is_retried_at_the_hint_when_its_spread_would_cross() {
    // retry-after 30 s, 30.5 s left: the spread (up to 10% more, at most 1 s) drawn at its
    // top would cross the deadline; the hint itself does not, so the retry goes at 30 s.
    let timed = |timeout_ms: Ms| {
        let mut c = config_known();
        c.timeout_ms = Some(timeout_ms);
        let mut e = Engine::new(c, T0);
        let a = e.submit(T0, req(1.0, 1.0)).unwrap();
        assert_eq!(sends(&e.poll(T0)), vec![a]);
        let verdict = e.on_response(T0, a, 429, &hint(30_000.0), None, 0.99);
        (verdict, e.next_wake())
    };
    let (verdict, wake) = timed(30_500.0);
    assert!(matches!(verdict, Verdict::Retry { .. }), "{verdict:?}");
    assert_eq!(wake, Some(T0 + 30_000.0));
    // With room for the spread, it is kept.
    let (_, wake) = timed(40_000.0);
    assert!(wake.is_some_and(|w| w > T0 + 30_900.0), "{wake:?}");
    // A hint past the deadline still gives up at once.
    let (verdict, _) = timed(29_000.0);
    assert_eq!(verdict, Verdict::Deliver);
}

#[test]
fn a_deadline_during_a_retry_delivers_the_response_that_arrived() {
    // A 503, then its retry hangs: at the deadline a response had arrived, so the call
    // resolves with it (the driver held it through the retry, and aborts the retry), not
    // TIMEOUT "before any response".
    let mut c = config();
    c.timeout_ms = Some(5_000.0);
    c.budget = None;
    let mut e = Engine::new(c, T0);
    let a = e.submit(T0, req(1.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![a]);
    let Verdict::Retry { at_ms } = e.on_response(T0 + 100.0, a, 503, &none(), None, 0.0) else {
        panic!("a 503 is retried");
    };
    assert_eq!(sends(&e.poll(at_ms)), vec![a]);
    assert_eq!(e.poll(T0 + 5_000.0), vec![Action::Deliver { id: a }]);
    assert_eq!(e.live_calls(), 0);
    assert_eq!(e.stats().in_flight, 0);
    // After a network error there is no response held: TIMEOUT, as before.
    let b = e.submit(T0 + 5_000.0, req(1.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(T0 + 5_000.0)), vec![b]);
    let Verdict::Retry { at_ms } = e.on_response(T0 + 5_100.0, b, 503, &none(), None, 0.0) else {
        panic!("a 503 is retried");
    };
    assert_eq!(sends(&e.poll(at_ms)), vec![b]);
    let Verdict::Retry { at_ms } = e.on_network_error(at_ms + 10.0, b, 0.0) else {
        panic!("a network error is retried");
    };
    assert_eq!(sends(&e.poll(at_ms)), vec![b]);
    assert_eq!(
        e.poll(T0 + 10_000.0),
        vec![Action::Fail {
            id: b,
            error: CallError::Timeout
        }]
    );
}

#[test]
fn the_deadline_of_a_call_is_known_until_it_is_delivered() {
    let mut c = config();
    c.timeout_ms = Some(5_000.0);
    let mut e = Engine::new(c, T0);
    let id = e.submit(T0 + 10.0, req(1.0, 1.0)).unwrap();
    assert_eq!(e.deadline(id), Some(T0 + 5_010.0));
    e.poll(T0 + 10.0);
    assert_eq!(e.deadline(id), Some(T0 + 5_010.0), "in flight");
    e.on_response(T0 + 20.0, id, 200, &none(), None, 0.0);
    assert_eq!(e.deadline(id), None, "delivered");
    assert_eq!(e.deadline(999), None);
    let mut e = Engine::new(config(), T0);
    let id = e.submit(T0, req(1.0, 1.0)).unwrap();
    assert_eq!(e.deadline(id), None, "no timeoutMs");
}

#[test]
fn a_call_still_queued_at_its_deadline_times_out() {
    let mut c = config();
    c.timeout_ms = Some(1_000.0);
    c.limits = Limits {
        rpm: Some(1.0),
        ..Default::default()
    };
    let mut e = Engine::new(c, T0);
    let a = e.submit(T0, req(1.0, 1.0)).unwrap();
    let b = e.submit(T0, req(1.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![a]);
    assert_eq!(
        e.next_wake(),
        Some(T0 + 1_000.0),
        "the deadline comes before the refill"
    );
    assert_eq!(
        e.poll(T0 + 1_000.0),
        vec![
            Action::Fail {
                id: a,
                error: CallError::Timeout
            },
            Action::Fail {
                id: b,
                error: CallError::Timeout
            }
        ]
    );
}

/// A server-stated pause that holds a waiting call past its deadline ends it at once with
/// TIMEOUT, as a retry whose wait would cross the deadline does; it used to sleep until the
/// deadline first (a probe: 1.5 s for a 20 s `retry-after`). Both a call queued when the pause
/// came and one submitted during it; one whose deadline the pause ends before waits.
#[test]
fn a_pause_past_a_waiting_calls_deadline_times_it_out_at_once() {
    let mut c = config_known();
    c.timeout_ms = Some(1_500.0);
    c.concurrency = Some(1);
    let mut e = Engine::new(c, T0);
    let a = e.submit(T0, req(1.0, 1.0)).unwrap();
    let b = e.submit(T0, req(1.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![a]);
    let v = e.on_response(T0 + 10.0, a, 429, &hint(20_000.0), None, 0.5);
    assert_eq!(v, Verdict::Deliver, "its own wait crosses its deadline");
    assert_eq!(
        e.poll(T0 + 10.0),
        vec![Action::Fail {
            id: b,
            error: CallError::WaitPastDeadline { hint_ms: 20_000.0 }
        }]
    );
    let c2 = e.submit(T0 + 60.0, req(1.0, 1.0)).unwrap();
    assert_eq!(
        e.poll(T0 + 60.0),
        vec![Action::Fail {
            id: c2,
            error: CallError::WaitPastDeadline { hint_ms: 19_950.0 }
        }]
    );

    let mut c = config_known();
    c.timeout_ms = Some(5_000.0);
    let mut e = Engine::new(c, T0);
    let a = e.submit(T0, req(1.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![a]);
    e.on_response(T0 + 10.0, a, 429, &hint(1_000.0), None, 0.5);
    let b = e.submit(T0 + 20.0, req(1.0, 1.0)).unwrap();
    assert!(
        e.poll(T0 + 20.0).is_empty(),
        "the pause ends before its deadline"
    );
    assert!(e.calls.contains_key(&b));
}

#[test]
fn close_rejects_the_queue_and_stops_retries_in_flight() {
    let mut c = config();
    c.concurrency = Some(1);
    let mut e = Engine::new(c, T0);
    let a = e.submit(T0, req(1.0, 1.0)).unwrap();
    let b = e.submit(T0, req(1.0, 1.0)).unwrap();
    e.poll(T0);
    assert_eq!(
        e.close(T0),
        vec![Action::Fail {
            id: b,
            error: CallError::Closed
        }]
    );
    assert_eq!(
        e.on_response(T0, a, 503, &none(), None, 0.0),
        Verdict::Deliver,
        "no retry after close"
    );
    assert_eq!(e.submit(T0, req(1.0, 1.0)), Err(CallError::Closed));
    assert_eq!(e.live_calls(), 0);
    assert_eq!(e.next_wake(), None);
}

#[test]
fn abort_frees_the_queue_place_or_the_slot() {
    let mut c = config_known();
    c.concurrency = Some(1);
    let mut e = Engine::new(c, T0);
    let a = e.submit(T0, req(1.0, 1.0)).unwrap();
    let b = e.submit(T0, req(1.0, 1.0)).unwrap();
    let d = e.submit(T0, req(1.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![a]);
    assert!(e.abort(T0, b), "queued");
    assert!(e.abort(T0, a), "in flight");
    assert!(!e.abort(T0, a), "already gone");
    assert_eq!(sends(&e.poll(T0)), vec![d], "the slot was freed");
    assert_eq!(
        e.on_response(T0, a, 200, &none(), None, 0.0),
        Verdict::Unknown
    );
}

/// An engine whose only limit is 1,000 input tokens a minute.
fn itpm_1000() -> Engine {
    let mut c = config();
    c.limits = Limits {
        itpm: Some(1_000.0),
        ..Default::default()
    };
    Engine::new(c, T0)
}

/// Poll from `now`, waking as the engine asks, until `id` is sent; when it was.
fn sent_at(e: &mut Engine, id: Id, mut now: Ms) -> Ms {
    while !sends(&e.poll(now)).contains(&id) {
        now = e.next_wake().expect("it waits on time");
    }
    now
}

#[test]
fn a_request_that_can_never_fit_is_rejected_not_queued_forever() {
    let mut e = itpm_1000();
    // Its input is the caller's own count (the `estimate` option), not the built-in guess.
    let counted = Request {
        input_floor: 5_000.0,
        ..req(5_000.0, 1.0)
    };
    let id = e.submit(T0, counted).unwrap();
    assert_eq!(
        e.poll(T0),
        vec![Action::Fail {
            id,
            error: CallError::TooLarge {
                dim: Dim::InputTokens,
                cost: 5_000.0,
                capacity: 1_000.0,
                window_ms: 60_000.0
            }
        }]
    );
    assert_eq!(e.live_calls(), 0);
}

#[test]
fn an_input_estimate_over_a_limit_waits_for_a_full_bucket_and_is_sent() {
    let mut e = itpm_1000(); // one token every 60 ms
    let small = e.submit(T0, req(600.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![small]);
    // The built-in estimate errs high: 5 000 may be 900 to the server. Not refused; it waits
    // until the bucket is full, and reserves the whole of it.
    let big = e.submit(T0, req(5_000.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), Vec::<Id>::new());
    assert_eq!(e.live_calls(), 2);
    let wake = e.next_wake().expect("it waits on time");
    assert!(
        (T0 + 36_000.0..T0 + 40_000.0).contains(&wake),
        "600 tokens to refill at 1/60 ms, and the first one's transit: {}",
        wake - T0
    );
    assert_eq!(sends(&e.poll(wake - 100.0)), Vec::<Id>::new());
    assert_eq!(sends(&e.poll(wake)), vec![big]);
    assert_eq!(e.stats().input_tokens_reserved, 1_600.0);
    assert_eq!(
        e.on_response(wake + 10.0, big, 200, &none(), None, 0.0),
        Verdict::Deliver
    );
    let usage = Usage {
        input_tokens: 900.0,
        ..Default::default()
    };
    e.on_done(wake + 20.0, big, Some(usage));
    let limits = e.limits(wake + 20.0);
    let itpm = limits[0].dims.iter().find(|d| d.dim == Dim::InputTokens);
    let itpm = itpm.expect("configured");
    assert!(
        (99.0..101.0).contains(&itpm.remaining),
        "the usage settled the reservation: {itpm:?}"
    );
}

/// A 429 whose headers show every bucket with room for what the call reserved, its input
/// bucket full: the first may be a request that came early; the second says it is larger than
/// the limit.
#[test]
fn a_call_refused_twice_with_room_for_all_it_could_cost_is_given_up() {
    let mut e = itpm_1000();
    e.set_record_events(true);
    let full = |remaining: f64| RateLimitInfo {
        retry_after_ms: Some(1_000.0),
        input_tokens: crate::core::headers::DimInfo {
            limit: Some(1_000.0),
            remaining: Some(remaining),
            ..Default::default()
        },
        // Anthropic's most restrictive figure: not a bucket of its own here.
        tokens: crate::core::headers::DimInfo {
            limit: Some(1.0),
            remaining: Some(1.0),
            ..Default::default()
        },
        ..Default::default()
    };
    let id = e.submit(T0, req(5_000.0, 1.0)).unwrap();
    let mut now = T0;
    let mut verdicts = Vec::new();
    // Not full: no evidence. Full, once: may have come early. Full again: never fits.
    for remaining in [400.0, 1_000.0, 1_000.0] {
        now = sent_at(&mut e, id, now) + 10.0;
        verdicts.push(e.on_response(now, id, 429, &full(remaining), None, 0.0));
    }
    assert!(matches!(verdicts[0], Verdict::Retry { .. }), "{verdicts:?}");
    assert!(matches!(verdicts[1], Verdict::Retry { .. }), "{verdicts:?}");
    assert_eq!(verdicts[2], Verdict::Deliver);
    let reasons: Vec<_> = e.drain_events().into_iter().map(|ev| ev.reason).collect();
    assert_eq!(reasons.last(), Some(&"request_too_large"), "{reasons:?}");
    assert_eq!(
        e.live_calls(),
        0,
        "the 429 goes to the caller; the call is done"
    );

    // A call whose estimate prices a document at a fixed amount, refused with room for it:
    // it costs more than that room: its input is raised above it, at least doubled, and the
    // retry waits for that much (it went again into the same refusal: a probe's PDF, 7 429s
    // in 3 minutes). Refused so with the bucket full, twice: larger than the limit itself.
    let mut e = Engine::new(config(), T0);
    let document = Request {
        fixed_priced: true,
        ..req(500.0, 1.0)
    };
    let id = e.submit(T0, document).unwrap();
    let mut now = sent_at(&mut e, id, T0) + 10.0;
    let v = e.on_response(now, id, 429, &full(700.0), None, 0.0);
    assert!(matches!(v, Verdict::Retry { .. }), "{v:?}");
    assert_eq!(e.calls[&id].cost.input, 1_000.0, "at least doubled");
    let mut verdicts = Vec::new();
    for _ in 0..2 {
        now = sent_at(&mut e, id, now) + 10.0;
        verdicts.push(e.on_response(now, id, 429, &full(1_000.0), None, 0.0));
    }
    assert!(matches!(verdicts[0], Verdict::Retry { .. }), "{verdicts:?}");
    assert_eq!(verdicts[1], Verdict::Deliver, "{verdicts:?}");

    // Any other call's estimate errs high: the 429 is about something else (an acceleration
    // limit); it is retried as any 429, full headers or not, its estimate unchanged.
    let mut e = Engine::new(config(), T0);
    let id = e.submit(T0, req(500.0, 1.0)).unwrap();
    let mut now = T0;
    for _ in 0..3 {
        now = sent_at(&mut e, id, now) + 10.0;
        let v = e.on_response(now, id, 429, &full(1_000.0), None, 0.0);
        assert!(matches!(v, Verdict::Retry { .. }), "{v:?}");
    }
    assert_eq!(e.calls[&id].cost.input, 500.0);
}

#[test]
fn a_key_that_knows_no_limit_sends_one_request_first() {
    let mut e = Engine::new(config(), T0);
    let ids: Vec<Id> = (0..3)
        .map(|_| e.submit(T0, req(1.0, 1.0)).unwrap())
        .collect();
    assert_eq!(sends(&e.poll(T0)), vec![ids[0]], "one probe, the rest wait");
    let wake = e.next_wake().expect("the others wait on time too");
    assert!(wake <= T0 + PROBE_MAX_MS, "{wake}");
    assert_eq!(sends(&e.poll(T0 + 500.0)), Vec::<Id>::new());
    // Its answer (headers or none) ends the opening: the rest go at once.
    e.on_response(T0 + 600.0, ids[0], 200, &none(), None, 0.0);
    assert_eq!(sends(&e.poll(T0 + 600.0)), ids[1..].to_vec());
    // A key whose first request never answers holds the others at most PROBE_MAX_MS.
    let mut e = Engine::new(config(), T0);
    let ids: Vec<Id> = (0..2)
        .map(|_| e.submit(T0, req(1.0, 1.0)).unwrap())
        .collect();
    assert_eq!(sends(&e.poll(T0)), vec![ids[0]]);
    assert_eq!(sends(&e.poll(T0 + PROBE_MAX_MS - 1.0)), Vec::<Id>::new());
    assert_eq!(sends(&e.poll(T0 + PROBE_MAX_MS)), vec![ids[1]]);
    // A network error is no answer, but the others stop waiting for one.
    let mut e = Engine::new(config(), T0);
    let ids: Vec<Id> = (0..2)
        .map(|_| e.submit(T0, req(1.0, 1.0)).unwrap())
        .collect();
    assert_eq!(sends(&e.poll(T0)), vec![ids[0]]);
    e.on_network_error(T0 + 5.0, ids[0], 0.0);
    assert_eq!(sends(&e.poll(T0 + 5.0)), vec![ids[1]]);
}

/// A first answer that takes long (an answer that is no stream comes whole) is no sign of
/// room: while none comes, one more request goes after PROBE_MAX_MS, then twice as many as
/// are out each PROBE_MAX_MS again; any answer ends the opening. (Letting every request go at
/// once after PROBE_MAX_MS gave eight processes learning their limits 49 of their 258 429s in
/// that one second: `simulate --seeds 8 --clients 8 --head after --learn-limits`.)
#[test]
fn a_first_answer_that_is_slow_to_come_opens_the_key_slowly() {
    let mut e = Engine::new(config(), T0);
    let ids: Vec<Id> = (0..7)
        .map(|_| e.submit(T0, req(1.0, 1.0)).unwrap())
        .collect();
    assert_eq!(sends(&e.poll(T0)), vec![ids[0]]);
    assert_eq!(e.next_wake(), Some(T0 + PROBE_MAX_MS));
    assert_eq!(sends(&e.poll(T0 + PROBE_MAX_MS - 1.0)), Vec::<Id>::new());
    assert_eq!(sends(&e.poll(T0 + PROBE_MAX_MS)), vec![ids[1]], "two out");
    let step = |k: f64| T0 + PROBE_MAX_MS + k * PROBE_STEP_MS;
    assert_eq!(e.next_wake(), Some(step(1.0)));
    assert_eq!(sends(&e.poll(step(1.0) - 1.0)), Vec::<Id>::new());
    assert_eq!(sends(&e.poll(step(1.0))), ids[2..4].to_vec(), "four out");
    assert_eq!(sends(&e.poll(step(2.0) - 1.0)), Vec::<Id>::new());
    // The first answer, from any of them, ends the opening: the rest go at once.
    e.on_response(step(1.5), ids[2], 200, &none(), None, 0.0);
    assert_eq!(sends(&e.poll(step(1.5))), ids[4..].to_vec());
}

#[test]
fn the_concurrency_cap_holds_until_the_body_is_done() {
    let mut c = config_known();
    c.concurrency = Some(2);
    let mut e = Engine::new(c, T0);
    let ids: Vec<Id> = (0..3)
        .map(|_| e.submit(T0, req(1.0, 1.0)).unwrap())
        .collect();
    assert_eq!(sends(&e.poll(T0)), ids[..2].to_vec());
    assert_eq!(
        e.on_response(T0, ids[0], 200, &none(), None, 0.0),
        Verdict::Deliver
    );
    assert_eq!(sends(&e.poll(T0)), Vec::<Id>::new(), "body still streaming");
    e.on_done(T0, ids[0], None);
    assert_eq!(sends(&e.poll(T0)), vec![ids[2]]);
}

/// Eight calls whose first attempts all fail (503, no hint) at once, on a budget of 10
/// tokens (threshold 5): the first five retry on their backoff, the fifth as the probe; the
/// last three are held, no timer set, their responses kept.
fn spent_budget(max_retries: u32) -> (Engine, Vec<Id>) {
    let mut c = config_known();
    c.retry.max_retries = max_retries;
    let mut e = Engine::new(c, T0);
    e.set_record_events(true);
    let ids: Vec<Id> = (0..8)
        .map(|_| e.submit(T0, req(1.0, 1.0)).unwrap())
        .collect();
    assert_eq!(sends(&e.poll(T0)).len(), 8);
    let verdicts: Vec<Verdict> = ids
        .iter()
        .map(|&id| e.on_response(T0, id, 503, &none(), None, 0.5))
        .collect();
    let held = verdicts
        .iter()
        .filter(|v| matches!(v, Verdict::Retry { at_ms } if at_ms.is_infinite()))
        .count();
    assert_eq!(held, 3, "{verdicts:?}");
    assert!(verdicts.iter().all(|v| matches!(v, Verdict::Retry { .. })));
    let waits: Vec<&str> = e
        .drain_events()
        .iter()
        .filter(|ev| ev.kind == EventKind::Wait)
        .map(|ev| ev.reason)
        .collect();
    assert_eq!(waits, ["budget"; 3]);
    // The held calls wait, and are counted so: five backing off, three held.
    assert_eq!(e.stats().queued, 8);
    assert!(ids.iter().all(|&id| e.waiting(id)));
    (e, ids)
}

#[test]
fn a_held_call_that_leaves_is_no_longer_counted_as_waiting() {
    // One of the three held calls is aborted: it leaves the hold's lists, and the count of
    // waiting calls drops with it; a call that was not held leaving changes nothing more.
    let (mut e, ids) = spent_budget(100);
    assert!(e.abort(T0, ids[7]));
    assert_eq!(e.stats().queued, 7);
    assert!(e.abort(T0, ids[0]));
    assert_eq!(e.stats().queued, 6);
}

#[test]
fn a_spent_budget_holds_retries_until_a_success_and_fails_no_call_on_its_own() {
    // Held: nothing of the last three goes while the probe and the others retry and fail.
    let (mut e, ids) = spent_budget(100);
    let mut now = T0;
    let mut sent = Vec::new();
    while now < T0 + 10_000.0 {
        now += 100.0;
        for id in sends(&e.poll(now)) {
            sent.push(id);
            e.on_response(now, id, 503, &none(), None, 0.5);
        }
    }
    assert!(
        !sent.is_empty() && sent.iter().all(|id| ids[..5].contains(id)),
        "{sent:?}"
    );
    // The server recovers: each success gives a token back, the probe's turn passes on as
    // each call is done, and once the budget can retry again the rest go at once. Every
    // call is answered, none handed back for want of budget.
    let mut done = Vec::new();
    while now < T0 + 120_000.0 && done.len() < 8 {
        now += 100.0;
        for id in sends(&e.poll(now)) {
            assert_eq!(
                e.on_response(now, id, 200, &none(), None, 0.5),
                Verdict::Deliver
            );
            e.on_done(now, id, None);
            done.push(id);
        }
    }
    done.sort_unstable();
    assert_eq!(done, ids, "by {now}");
    assert!(!e
        .drain_events()
        .iter()
        .any(|ev| ev.kind == EventKind::GiveUp));
    // 429s are paced by the pause and the limiter, not counted against the budget.
    let (mut e, _) = spent_budget(100);
    let id = e.submit(T0, req(1.0, 1.0)).unwrap();
    assert!(sends(&e.poll(T0)).contains(&id));
    assert!(matches!(
        e.on_response(T0, id, 429, &hint(1_000.0), None, 0.0),
        Verdict::Retry { at_ms } if at_ms.is_finite()
    ));
}

#[test]
fn the_held_calls_give_up_when_the_probe_runs_out_of_retries_or_go_when_it_leaves() {
    // The probe (the fifth call) fails its last retry: the outage outlasted its whole
    // schedule, and the held calls get their last responses at the next poll.
    let (mut e, ids) = spent_budget(2);
    let mut now = T0;
    let mut delivered = Vec::new();
    while now < T0 + 60_000.0 && delivered.len() < 7 {
        now += 100.0;
        let actions = e.poll(now);
        for a in &actions {
            if let Action::Deliver { id } = a {
                delivered.push(*id);
            }
        }
        for id in sends(&actions) {
            e.on_response(now, id, 503, &none(), None, 0.5);
        }
    }
    // (The others' own retries failed too, and were held by then.)
    delivered.sort_unstable();
    let others: Vec<Id> = ids.iter().copied().filter(|&id| id != ids[4]).collect();
    assert_eq!(delivered, others);
    assert!(e
        .drain_events()
        .iter()
        .any(|ev| ev.kind == EventKind::GiveUp && ev.reason == "budget" && ev.id == ids[5]));
    // Until successes let the budget retry again, a failure is handed back at once (the
    // outage proven); then failures retry again.
    now += 100.0;
    let id = e.submit(now, req(1.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(now)), vec![id]);
    assert_eq!(
        e.on_response(now, id, 503, &none(), None, 0.5),
        Verdict::Deliver
    );
    for _ in 0..10 {
        let ok = e.submit(now, req(1.0, 1.0)).unwrap();
        assert_eq!(sends(&e.poll(now)), vec![ok]);
        assert_eq!(
            e.on_response(now, ok, 200, &none(), None, 0.5),
            Verdict::Deliver
        );
        e.on_done(now, ok, None);
    }
    let id = e.submit(now, req(1.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(now)), vec![id]);
    assert!(matches!(
        e.on_response(now, id, 503, &none(), None, 0.5),
        Verdict::Retry { at_ms } if at_ms.is_finite()
    ));
    // The probe aborted: the first held call takes its turn at once.
    let (mut e, ids) = spent_budget(100);
    assert!(e.abort(T0 + 10.0, ids[4]));
    assert_eq!(sends(&e.poll(T0 + 10.0)), vec![ids[5]]);
}

#[test]
fn while_the_adaptive_controller_steers_its_load_refusals_spend_no_budget() {
    // `concurrency: "auto"` on a server that states no limits: slow start overshoots the
    // server's capacity and draws 503s (or 529s), which the controller answers by slowing
    // down. They are paced, as 429s are: none is handed back for want of budget. A probe saw
    // the sixth of those at once come back to its caller as a 503 (`giveup: budget`). Other
    // failures are faults, as ever: a storm of 500s meets the budget. Eight calls, each
    // attempt answered `status`; how many of the answers were retried.
    let retried = |statuses: [u16; 2]| {
        let mut c = config();
        c.adaptive = true;
        c.retry.max_retries = 100;
        let mut e = Engine::new(c, T0);
        for _ in 0..8 {
            e.submit(T0, req(1.0, 1.0)).unwrap();
        }
        let (mut answered, mut retried, mut now) = (0, 0, T0);
        while answered < 8 {
            for id in sends(&e.poll(now)) {
                let status = statuses[answered % 2];
                answered += 1;
                retried += usize::from(matches!(
                    e.on_response(now, id, status, &none(), None, 0.0),
                    Verdict::Retry { at_ms } if at_ms.is_finite()
                ));
            }
            now += 1_000.0;
        }
        retried
    };
    assert_eq!(retried([503, 529]), 8);
    // The fifth 500 spends the budget: it retries as the probe, the later ones are held.
    assert_eq!(retried([500, 500]), 5, "10 tokens, threshold 5");
}

#[test]
fn a_request_fetch_refuses_itself_fails_at_once() {
    let mut e = Engine::new(config_known(), T0);
    e.set_record_events(true);
    let id = e.submit(T0, req(1.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![id]);
    e.invalid(id);
    assert_eq!(
        e.on_network_error(T0, id, 0.5),
        Verdict::Fail(CallError::Network)
    );
    let last = e.drain_events().pop().expect("an event");
    assert_eq!(
        (last.kind, last.reason),
        (EventKind::GiveUp, "invalid_request")
    );
    // Another call's network error is retried, as ever.
    let other = e.submit(T0, req(1.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![other]);
    assert!(matches!(
        e.on_network_error(T0, other, 0.5),
        Verdict::Retry { .. }
    ));
}

#[test]
fn limits_learned_from_headers_are_reported_and_used() {
    let mut e = Engine::new(config(), T0);
    e.set_record_events(true);
    let id = e.submit(T0, req(1.0, 1.0)).unwrap();
    e.poll(T0);
    let info = RateLimitInfo {
        requests: DimInfo {
            limit: Some(50.0),
            remaining: Some(0.0),
            reset_at_ms: None,
            window_ms: Some(60_000.0),
            rounded: false,
        },
        ..Default::default()
    };
    assert_eq!(
        e.on_response(T0, id, 200, &info, None, 0.0),
        Verdict::Deliver
    );
    let lim = e.limits(T0);
    assert_eq!(lim.len(), 1);
    assert_eq!(lim[0].dims.len(), 1);
    assert_eq!(
        (lim[0].dims[0].dim, lim[0].dims[0].limit),
        (Dim::Requests, 50.0)
    );
    assert!(e
        .drain_events()
        .iter()
        .any(|ev| ev.kind == EventKind::Limits));
    // Remaining 0 at 50 rpm: the next request waits 1.2 s for one token (and one ms
    // more, the margin past the exact edge).
    let b = e.submit(T0, req(1.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), Vec::<Id>::new());
    let wake = e.next_wake().unwrap();
    assert!((wake - (T0 + 1_201.0)).abs() < 1e-3, "{}", wake - T0);
    assert_eq!(sends(&e.poll(wake)), vec![b]);
}

#[test]
fn a_wait_event_announces_its_keys_pause_though_the_adaptive_controller_looks_sooner() {
    // A 503 stating 5 s, not retried: the next call waits out the pause. The controller's
    // spacing wakes the scheduler sooner; the event said that (about 1.2 s), not the 5 s.
    for adaptive in [false, true] {
        let mut c = config();
        c.adaptive = adaptive;
        c.retry.max_retries = 0;
        let mut e = Engine::new(c, T0);
        e.set_record_events(true);
        let a = e.submit(T0, req(1.0, 1.0)).unwrap();
        assert_eq!(sends(&e.poll(T0)), vec![a]);
        assert_eq!(
            e.on_response(T0, a, 503, &hint(5_000.0), None, 0.0),
            Verdict::Deliver
        );
        e.on_done(T0, a, None);
        e.drain_events();
        e.submit(T0, req(1.0, 1.0)).unwrap();
        assert!(sends(&e.poll(T0)).is_empty());
        let waits: Vec<(&str, Ms)> = e
            .drain_events()
            .iter()
            .filter(|ev| ev.kind == EventKind::Wait)
            .map(|ev| (ev.reason, ev.delay_ms))
            .collect();
        assert_eq!(waits, [("paused", 5_000.0)], "adaptive {adaptive}");
    }
}

/// A call is told why it waits each time that changes: queued behind the concurrency cap,
/// then, at the head, held by its key's requests bucket. Told once per reason, not at
/// each poll.
#[test]
fn a_wait_event_follows_what_holds_a_call() {
    let mut c = config();
    c.concurrency = Some(1);
    c.limits.rpm = Some(100.0);
    let mut e = Engine::new(c, T0);
    e.set_record_events(true);
    let a = e.submit(T0, req(1.0, 1.0)).unwrap();
    let b = e.submit(T0, req(1.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![a]);
    // a's answer: the requests bucket is empty for 30 s.
    let mut spent = none();
    spent.requests.limit = Some(100.0);
    spent.requests.remaining = Some(0.0);
    spent.requests.reset_at_ms = Some(T0 + 30_100.0);
    e.on_response(T0 + 100.0, a, 200, &spent, None, 0.0);
    e.on_done(T0 + 100.0, a, None);
    for t in [100.0, 200.0, 300.0] {
        assert!(sends(&e.poll(T0 + t)).is_empty());
    }
    let waits: Vec<(Id, &str)> = e
        .drain_events()
        .iter()
        .filter(|ev| ev.kind == EventKind::Wait)
        .map(|ev| (ev.id, ev.reason))
        .collect();
    assert_eq!(waits, [(b, "concurrency"), (b, "requests")]);
}

#[test]
fn events_tell_the_story_of_a_retry() {
    let mut e = Engine::new(config(), T0);
    e.set_record_events(true);
    let id = e.submit(T0, req(1.0, 1.0)).unwrap();
    e.poll(T0);
    let Verdict::Retry { at_ms } = e.on_response(T0, id, 529, &none(), None, 0.0) else {
        panic!()
    };
    e.poll(at_ms);
    e.on_response(at_ms, id, 200, &none(), None, 0.0);
    e.on_done(at_ms, id, None);
    let kinds: Vec<(&str, &str)> = e
        .drain_events()
        .iter()
        .map(|ev| (ev.kind.name(), ev.reason))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("queued", "submitted"),
            ("admitted", "admitted"),
            ("retry", "overloaded"),
            ("admitted", "admitted"),
            ("settled", "no_usage")
        ]
    );
}

/// An engine with OTPM 6 000 (and requests too many to matter).
fn otpm_engine() -> Engine {
    let mut c = config();
    c.limits.rpm = Some(1e9);
    c.limits.otpm = Some(6_000.0);
    Engine::new(c, T0)
}

/// Its OTPM level at `T0`.
fn otpm(e: &Engine) -> f64 {
    let dims = &e.limits(T0)[0].dims;
    dims.iter()
        .find(|d| d.dim == Dim::OutputTokens)
        .map_or(f64::NAN, |d| d.remaining)
}

/// A key's first call, whose answer teaches the limit (no limit configured): a stream's head,
/// written before its output, counts the whole `max_tokens` (Anthropic reserves it at the
/// start), so its settlement gives the unused part back there too; a JSON answer's figures
/// may count the give-back already. The stream's bucket was left at its head's figure: the
/// next call waited some 30 s for tokens the server had back (a probe).
#[test]
fn a_bucket_learned_from_a_calls_own_stream_head_gets_its_give_back() {
    for stream in [false, true] {
        let mut e = Engine::new(config(), T0);
        let id = e.submit(T0, req(0.0, 6_000.0)).unwrap();
        assert_eq!(sends(&e.poll(T0)), vec![id]);
        let mut info = none();
        info.output_tokens = DimInfo {
            limit: Some(8_000.0),
            remaining: Some(if stream { 2_000.0 } else { 7_950.0 }),
            ..DimInfo::default()
        };
        e.on_response(T0, id, 200, &info, None, 0.5);
        if stream {
            e.on_stream(id);
        }
        let usage = Usage {
            output_tokens: 50.0,
            ..Usage::default()
        };
        e.on_done(T0, id, Some(usage));
        assert!(
            (otpm(&e) - 7_950.0).abs() < 1.0,
            "stream {stream}: {}",
            otpm(&e)
        );
    }
}

#[test]
fn an_answers_own_figures_keep_its_settlement_from_giving_back_unless_it_streams() {
    // OTPM 6 000; one call reserves 1 000 and uses 200. Its answer's figures say 4 800
    // (exact): below our 5 000, so the level comes down to them. A non-streaming answer's
    // figures may already count the give-back: settling leaves the level there. A stream's
    // head came before its output: the give-back stands.
    for stream in [false, true] {
        let mut e = otpm_engine();
        let id = e.submit(T0, req(0.0, 1_000.0)).unwrap();
        assert_eq!(sends(&e.poll(T0)), vec![id]);
        let mut info = none();
        info.output_tokens = DimInfo {
            limit: Some(6_000.0),
            remaining: Some(4_800.0),
            reset_at_ms: Some(T0 + 12_000.0),
            ..DimInfo::default()
        };
        assert_eq!(
            e.on_response(T0, id, 200, &info, None, 0.5),
            Verdict::Deliver
        );
        if stream {
            e.on_stream(id);
        }
        let usage = Usage {
            output_tokens: 200.0,
            ..Usage::default()
        };
        e.on_done(T0, id, Some(usage));
        let want = if stream { 5_600.0 } else { 4_800.0 };
        assert!(
            (otpm(&e) - want).abs() < 1.0,
            "stream {stream}: {}",
            otpm(&e)
        );
    }
}

#[test]
fn a_usage_that_reports_one_dimension_leaves_the_other_as_reserved() {
    // ITPM 10 000, OTPM 6 000; a call reserves 2 000 in and 1 000 out. A usage whose input
    // (or output) is not a number (a stream's `null`) settles that dimension as reserved:
    // what the server counted there is not known, and giving it back would count nothing.
    let level = |e: &Engine, dim: Dim| {
        let dims = &e.limits(T0)[0].dims;
        dims.iter()
            .find(|d| d.dim == dim)
            .map_or(f64::NAN, |d| d.remaining)
    };
    for (input, output, want_in, want_out) in [
        (f64::NAN, 200.0, 8_000.0, 5_800.0),
        (500.0, f64::NAN, 9_500.0, 5_000.0),
        (500.0, 200.0, 9_500.0, 5_800.0),
    ] {
        let mut c = config();
        c.limits.rpm = Some(1e9);
        c.limits.itpm = Some(10_000.0);
        c.limits.otpm = Some(6_000.0);
        let mut e = Engine::new(c, T0);
        let id = e.submit(T0, req(2_000.0, 1_000.0)).unwrap();
        assert_eq!(sends(&e.poll(T0)), vec![id]);
        let ok = e.on_response(T0, id, 200, &none(), None, 0.5);
        assert_eq!(ok, Verdict::Deliver);
        e.on_stream(id);
        let usage = Usage {
            input_tokens: input,
            output_tokens: output,
            ..Usage::default()
        };
        e.on_done(T0, id, Some(usage));
        let got = (level(&e, Dim::InputTokens), level(&e, Dim::OutputTokens));
        assert!(
            (got.0 - want_in).abs() < 1.0 && (got.1 - want_out).abs() < 1.0,
            "usage ({input}, {output}): {got:?}"
        );
    }
}

/// A 4xx other than 429 (an invalid request, a key refused, a body too large) was never
/// processed: its tokens go back, as a 429's do; the request stays counted. A 5xx may have
/// been processed: its reservation stands.
#[test]
fn a_request_the_server_refused_as_invalid_gives_its_tokens_back() {
    for (status, back) in [(400, true), (401, true), (413, true), (500, false)] {
        let mut e = otpm_engine();
        let id = e.submit(T0, req(0.0, 1_000.0)).unwrap();
        assert_eq!(sends(&e.poll(T0)), vec![id]);
        e.on_response(T0, id, status, &none(), None, 0.5);
        let want = if back { 6_000.0 } else { 5_000.0 };
        assert!((otpm(&e) - want).abs() < 1.0, "{status}: {}", otpm(&e));
    }
}

/// OpenAI's `n` choices each may run to `max_tokens`, and its limiter counts them all: the
/// output reserved is `n` times `max_tokens`. Above a capacity, the part beyond the first
/// choice is an estimate, lowered to the capacity rather than refused (the server decides).
#[test]
fn openais_n_reserves_each_choice_and_is_lowered_not_refused() {
    let n = |choices: f64, max_tokens: f64| Request {
        choices,
        ..req(0.0, max_tokens)
    };
    let level_after = |r: Request| {
        let mut e = otpm_engine();
        let id = e.submit(T0, r).unwrap();
        assert_eq!(sends(&e.poll(T0)), vec![id]);
        otpm(&e)
    };
    let four = level_after(n(4.0, 1_000.0));
    assert!((four - level_after(n(1.0, 4_000.0))).abs() < 1e-6, "{four}");
    assert!(
        (four - level_after(n(1.0, 1_000.0)) + 3_000.0).abs() < 1e-6,
        "{four}"
    );
    // 32 000 lowered to the 6 000 bucket: sent, reserving all of it.
    let eight = level_after(n(8.0, 4_000.0));
    assert!(
        (eight - level_after(n(1.0, 6_000.0))).abs() < 1e-6,
        "{eight}"
    );
}

/// `max_tokens` above the OTPM capacity: refused at once where the server is known to reserve
/// it (a tier's preset); while the metering is not known, sent once with its output lowered
/// to a full bucket, and the server's answer teaches the key: served, output is counted as
/// generated (later such calls go too); refused twice with room, it is larger than the limit
/// (the 429 goes to the caller) and later such calls are refused at once.
#[test]
fn max_tokens_above_a_limit_is_refused_only_where_the_server_reserves_it() {
    let too_large = |e: &mut Engine, now: Ms| {
        let id = e.submit(now, req(0.0, 7_000.0)).unwrap();
        matches!(
            e.poll(now)[..],
            [Action::Fail { id: failed, error: CallError::TooLarge { dim: Dim::OutputTokens, .. } }]
                if failed == id
        )
    };
    let mut c = config();
    c.limits.rpm = Some(1e9);
    c.limits.otpm = Some(6_000.0);
    c.output_metering = Some(OutputMetering::Reservation);
    assert!(too_large(&mut Engine::new(c, T0), T0));

    // Not known: sent, reserving the whole bucket.
    let mut e = otpm_engine();
    e.set_record_events(true);
    let id = e.submit(T0, req(0.0, 7_000.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![id]);
    assert!(
        otpm(&e) < 1.0,
        "the whole bucket, and its refill in transit: {}",
        otpm(&e)
    );
    let refusal = RateLimitInfo {
        retry_after_ms: Some(1_000.0),
        output_tokens: crate::core::headers::DimInfo {
            limit: Some(6_000.0),
            remaining: Some(6_000.0),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut now = T0 + 10.0;
    let first = e.on_response(now, id, 429, &refusal, None, 0.0);
    assert!(
        matches!(first, Verdict::Retry { .. }),
        "may have come early: {first:?}"
    );
    now = sent_at(&mut e, id, now) + 10.0;
    assert_eq!(
        e.on_response(now, id, 429, &refusal, None, 0.0),
        Verdict::Deliver
    );
    let reasons: Vec<_> = e.drain_events().into_iter().map(|ev| ev.reason).collect();
    assert_eq!(reasons.last(), Some(&"request_too_large"), "{reasons:?}");
    assert!(
        too_large(&mut e, now),
        "the server reserves max_tokens: refused at once"
    );

    // Served: output is counted as generated; the next such call goes too.
    let mut e = otpm_engine();
    let id = e.submit(T0, req(0.0, 7_000.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![id]);
    assert_eq!(
        e.on_response(T0 + 10.0, id, 200, &none(), None, 0.0),
        Verdict::Deliver
    );
    let usage = Usage {
        output_tokens: 500.0,
        ..Default::default()
    };
    e.on_done(T0 + 20.0, id, Some(usage));
    let next = e.submit(T0 + 20.0, req(0.0, 7_000.0)).unwrap();
    let actions = e.poll(T0 + 20.0);
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Fail { .. })),
        "{actions:?}"
    );
    assert!(e
        .keys
        .limiter_mut(e.calls[&next].slot)
        .output_metering_known());
    let at = sent_at(&mut e, next, T0 + 20.0);
    assert!(
        at < T0 + 60_000.0,
        "sent when the bucket holds it: {}",
        at - T0
    );

    // A request within the capacity, served, teaches nothing.
    let mut e = otpm_engine();
    let id = e.submit(T0, req(0.0, 5_000.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![id]);
    e.on_response(T0 + 10.0, id, 200, &none(), None, 0.0);
    assert!(!e
        .keys
        .limiter_mut(e.calls[&id].slot)
        .output_metering_known());
}

#[test]
fn a_refusals_figures_do_not_count_its_request_twice() {
    // OTPM 6 000, exact figures. C reserves 1 000 and uses 3 000; then A and B reserve
    // 1 000 each: our copy is at 1 000, below the server. A is refused (refunded: 2 000):
    // its figures say 5 000, which leaves only B in flight, so the copy is raised to
    // 5 000 less B's 1 000. (Counting A as in those figures would take A off twice.)
    let mut e = otpm_engine();
    // C first: its answer ends the blind start, then A and B go.
    let c = e.submit(T0, req(0.0, 1_000.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![c]);
    let ok = e.on_response(T0, c, 200, &none(), None, 0.5);
    assert_eq!(ok, Verdict::Deliver);
    let usage = Usage {
        output_tokens: 3_000.0,
        ..Usage::default()
    };
    e.on_done(T0, c, Some(usage));
    let a = e.submit(T0, req(0.0, 1_000.0)).unwrap();
    let b = e.submit(T0, req(0.0, 1_000.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![a, b]);
    assert!((otpm(&e) - 1_000.0).abs() < 1e-6);
    let mut info = none();
    info.output_tokens = DimInfo {
        limit: Some(6_000.0),
        remaining: Some(5_000.0),
        ..DimInfo::default()
    };
    assert!(matches!(
        e.on_response(T0, a, 429, &info, None, 0.5),
        Verdict::Retry { .. }
    ));
    assert!((otpm(&e) - 3_999.0).abs() < 1e-6, "{}", otpm(&e));
}

/// A pause longer than `maxRetryAfterMs` is RETRY_AFTER_TOO_LONG for the calls it holds, with
/// a deadline or not: the server's wait is the reason, and the error says how long it is (a
/// probe: TIMEOUT "timeoutMs (15000 ms) passed" 2 ms after a 400 s `retry-after`).
#[test]
fn a_pause_past_max_retry_after_is_too_long_whatever_the_deadline() {
    let mut c = config_known();
    c.timeout_ms = Some(15_000.0);
    c.concurrency = Some(1);
    let max = c.retry.max_retry_after_ms;
    let mut e = Engine::new(c, T0);
    let a = e.submit(T0, req(1.0, 1.0)).unwrap();
    let b = e.submit(T0, req(1.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![a]);
    let v = e.on_response(T0, a, 429, &hint(max + 340_000.0), None, 0.5);
    assert_eq!(v, Verdict::Deliver);
    assert_eq!(
        e.poll(T0),
        vec![Action::Fail {
            id: b,
            error: CallError::RetryAfterTooLong {
                hint_ms: max + 340_000.0
            }
        }]
    );
}

/// A server that says "in 1 ms" each time it refuses: the retries wait at least 25 ms, then
/// twice as long each time (up to a second), not back to back. A hint above the floor is
/// waited as it is.
#[test]
fn tiny_hints_repeated_get_no_loop_of_requests_back_to_back() {
    let mut e = Engine::new(config_known(), T0);
    let id = e.submit(T0, req(10.0, 10.0)).unwrap();
    let mut now = T0;
    assert_eq!(sends(&e.poll(now)), vec![id]);
    let mut waits = Vec::new();
    for attempt in 1..=4 {
        let v = e.on_response(now, id, 429, &hint(1.0), None, 0.0);
        let Verdict::Retry { at_ms } = v else {
            panic!("{v:?}")
        };
        waits.push(at_ms - now);
        now = at_ms;
        assert_eq!(
            e.poll(now),
            vec![Action::Send {
                id,
                attempt: attempt + 1
            }]
        );
    }
    assert_eq!(waits, vec![25.0, 50.0, 100.0, 200.0]);
    let v = e.on_response(now, id, 429, &hint(700.0), None, 0.0);
    assert_eq!(v, Verdict::Retry { at_ms: now + 700.0 });
}

/// A hint of weeks (a gateway's garbage, a monthly quota) pauses the key a day at most: the
/// queue is refused at once meanwhile, and a day later a call asks the server again.
#[test]
fn a_hint_of_weeks_pauses_its_key_a_day_at_most() {
    let mut c = config_known();
    c.retry.max_retry_after_ms = 10_000.0;
    let mut e = Engine::new(c, T0);
    let weeks = 29.0 * 86_400_000.0;
    let a = e.submit(T0, req(1.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![a]);
    assert_eq!(
        e.on_response(T0, a, 429, &hint(weeks), None, 0.0),
        Verdict::Deliver
    );
    let b = e.submit(T0 + 1.0, req(1.0, 1.0)).unwrap();
    let acts = e.poll(T0 + 1.0);
    assert!(
        matches!(acts[..], [Action::Fail { id, error: CallError::RetryAfterTooLong { .. } }] if id == b),
        "{acts:?}"
    );
    let day = T0 + answer::MAX_PAUSE_MS;
    let c = e.submit(day, req(1.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(day)), vec![c]);
}
