//! Guards on the engine (`core::call::Engine`) for behaviours that no other test pinned down,
//! each checked against the one-line mutant that breaks it (see scripts/mutants.sh and
//! docs/mutants.md):
//!
//! * a 429 with a hint pauses the whole queue whatever happens to its own call (out of
//!   retries, a body that cannot be re-sent, after `close()`): moving the pause after the
//!   `max_retries` check in `retry_decision` fails these;
//! * settling replaces the reservation by the usage in the buckets themselves (read through
//!   `Engine::limits`): dropping `limiter.settle` in `on_done` fails these;
//! * without rate-limit headers, a pacer with the server's exact limits never gets ahead of
//!   the server, however long (and however uneven) the transit: the engine learns the transit
//!   from round trips (`core::transit`); with the fixed 250 ms it was caught over the limits.

use llm_pacer::core::backoff::Jitter;
use llm_pacer::core::bucket::Bucket;
use llm_pacer::core::call::{Action, Engine, Id, Request, Verdict, ASSUMED_LATENCY_MS};
use llm_pacer::core::classify::ErrorInfo;
use llm_pacer::core::config::Config;
use llm_pacer::core::headers::{DimInfo, RateLimitInfo};
use llm_pacer::core::keys::LimitKey;
use llm_pacer::core::limiter::{Dim, Limits, Usage};
use llm_pacer::core::transit;
use llm_pacer::core::Ms;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

const T0: Ms = 1_767_225_600_000.0;

fn config() -> Config {
    let mut c = Config::new();
    c.retry.backoff.jitter = Jitter::None;
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

/// The pause in force on the (default) key of the calls here.
fn paused(e: &Engine, now: Ms) -> Option<Ms> {
    e.limiter(&LimitKey::default())
        .and_then(|l| l.paused_until(now))
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
        .filter_map(|a| match a {
            Action::Send { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

/// Concurrency 1, `a` on the wire and `b` queued behind it.
fn two_calls(c: Config) -> (Engine, Id, Id) {
    let mut c = c;
    c.concurrency = Some(1);
    let mut e = Engine::new(c, T0);
    let a = e.submit(T0, req(1.0, 1.0)).unwrap();
    let b = e.submit(T0, req(1.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![a]);
    (e, a, b)
}

/// `b` goes no earlier than the end of the 2 s pause the 429 at `T0 + 100` asked for.
fn b_waits_out_the_pause(e: &mut Engine, b: Id) {
    for t in [100.0, 101.0, 1_000.0, 2_099.0] {
        assert_eq!(
            sends(&e.poll(T0 + t)),
            Vec::<Id>::new(),
            "b went {t} ms after the start, inside the server's 2 s pause"
        );
    }
    assert!(paused(e, T0 + 2_099.0).is_some());
    let wake = e.next_wake().expect("a wake for b");
    assert!(
        wake >= T0 + 2_100.0,
        "woken {} ms early",
        T0 + 2_100.0 - wake
    );
    assert_eq!(sends(&e.poll(T0 + 2_100.0)), vec![b]);
}

#[test]
fn a_429_out_of_retries_still_pauses_the_queue() {
    let mut c = config();
    c.retry.max_retries = 0;
    let (mut e, a, b) = two_calls(c);
    let v = e.on_response(T0 + 100.0, a, 429, &hint(2_000.0), None, 0.5);
    assert_eq!(
        v,
        Verdict::Deliver,
        "no retry left: the 429 goes to the caller"
    );
    b_waits_out_the_pause(&mut e, b);
}

#[test]
fn a_429_whose_body_cannot_be_resent_still_pauses_the_queue() {
    let (mut e, a, b) = two_calls(config());
    e.not_replayable(a);
    let v = e.on_response(T0 + 100.0, a, 429, &hint(2_000.0), None, 0.5);
    assert_eq!(v, Verdict::Deliver);
    b_waits_out_the_pause(&mut e, b);
}

#[test]
fn a_429_after_close_still_pauses_the_limiter() {
    let (mut e, a, b) = two_calls(config());
    let closed = e.close(T0 + 50.0);
    assert!(closed
        .iter()
        .any(|x| matches!(x, Action::Fail { id, .. } if *id == b)));
    let v = e.on_response(T0 + 100.0, a, 429, &hint(2_000.0), None, 0.5);
    assert_eq!(v, Verdict::Deliver, "no retry after close");
    // Nothing is left to send, but the limiter (which a store may share) holds the pause.
    assert_eq!(
        paused(&e, T0 + 2_099.0),
        Some(T0 + 2_100.0),
        "the server's pause was dropped"
    );
}

#[test]
fn a_429_budget_refusal_or_a_long_hint_still_pauses() {
    // A hint beyond maxRetryAfterMs ends its call, and the pause rejects the queue.
    let mut c = config();
    c.retry.max_retry_after_ms = 1_000.0;
    let (mut e, a, _b) = two_calls(c);
    assert_eq!(
        e.on_response(T0 + 100.0, a, 429, &hint(2_000.0), None, 0.5),
        Verdict::Deliver
    );
    assert!(paused(&e, T0 + 2_099.0).is_some());
}

fn level(e: &Engine, dim: Dim, now: Ms) -> f64 {
    e.limits(now)
        .into_iter()
        .find(|k| k.key == LimitKey::default())
        .expect("the default key")
        .dims
        .into_iter()
        .find(|d| d.dim == dim)
        .unwrap_or_else(|| panic!("no {dim:?} bucket"))
        .remaining
}

/// Limits that nothing refills noticeably within the test (per minute, large).
fn token_limits() -> Config {
    let mut c = config();
    c.limits = Limits {
        rpm: Some(100.0),
        itpm: Some(100_000.0),
        otpm: Some(60_000.0),
        tpm: Some(200_000.0),
    };
    c
}

#[test]
fn settling_replaces_the_reservation_by_the_usage_in_the_buckets() {
    let mut e = Engine::new(token_limits(), T0);
    let id = e.submit(T0, req(1_000.0, 4_000.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![id]);
    let t = T0 + 10.0;
    assert_eq!(
        e.on_response(t, id, 200, &none(), None, 0.5),
        Verdict::Deliver
    );
    let before: Vec<f64> = Dim::ALL.iter().map(|&d| level(&e, d, t)).collect();
    // The reservation is held while the body is read.
    assert!(before[2] <= 60_000.0 - 4_000.0 + 1.0, "{before:?}");
    let usage = Usage {
        input_tokens: 900.0,
        cache_creation_input_tokens: 300.0, // counts against ITPM
        cache_read_input_tokens: 5_000.0,   // free
        output_tokens: 1_500.0,
    };
    e.on_done(t, id, Some(usage));
    let after: Vec<f64> = Dim::ALL.iter().map(|&d| level(&e, d, t)).collect();
    let moved: Vec<f64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    // Same instant, so no refill: exactly reserved - used in each token dimension.
    let want = [0.0, 1_000.0 - 1_200.0, 4_000.0 - 1_500.0, 5_000.0 - 2_700.0];
    for (i, dim) in Dim::ALL.iter().enumerate() {
        assert!(
            (moved[i] - want[i]).abs() < 1e-6,
            "{dim:?}: the level moved by {} at settlement, want {}",
            moved[i],
            want[i]
        );
    }
}

#[test]
fn without_usage_the_reservation_stands() {
    let mut e = Engine::new(token_limits(), T0);
    let id = e.submit(T0, req(1_000.0, 4_000.0)).unwrap();
    e.poll(T0);
    e.on_response(T0, id, 200, &none(), None, 0.5);
    let before: Vec<f64> = Dim::ALL.iter().map(|&d| level(&e, d, T0)).collect();
    e.on_done(T0, id, None);
    let after: Vec<f64> = Dim::ALL.iter().map(|&d| level(&e, d, T0)).collect();
    assert_eq!(before, after);
}

/// A small seeded PRNG (splitmix64) for the transit test: uniform in [0, 1).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What happens next in the transit test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    /// One call is submitted (the bucket is full).
    One,
    /// A burst of calls is submitted.
    Burst,
    /// Request `id` reaches the server.
    Arrive(Id),
    /// Its response head reaches the pacer.
    Head(Id),
}

/// The pacer with the server's exact RPM and no rate-limit headers: a lone call from full
/// buckets, then a burst that drains them, then a lull that refills them, 8 times; each request reaching the server after a random transit
/// in `[0, max_transit_ms]` and its response coming back as slowly. The server allows 60
/// requests per minute, the pacer believes `pacer_rpm`. Returns the admissions
/// the server saw over its bucket, and the requests it saw.
fn no_headers_run(max_transit_ms: Ms, seed: u64, pacer_rpm: f64) -> (u32, u32) {
    let rpm = 60.0;
    let mut c = config();
    c.limits = Limits {
        rpm: Some(pacer_rpm),
        ..Default::default()
    };
    let mut e = Engine::new(c, T0);
    let mut server = Bucket::per_minute(rpm, T0);
    let mut rng = Rng(seed);
    let mut queue: BinaryHeap<Reverse<(u64, Ev)>> = BinaryHeap::new();
    let at = |t: Ms| t.to_bits(); // positive times order like their bits
    for k in 0..8 {
        // A lone call from full buckets, then a burst while it may still be in transit.
        let t = T0 + k as f64 * 150_000.0;
        queue.push(Reverse((at(t), Ev::One)));
        queue.push(Reverse((at(t + max_transit_ms / 2.0), Ev::Burst)));
    }
    let (mut over, mut seen) = (0, 0);
    let mut now = T0;
    let send = |acts: Vec<Action>, now: Ms, rng: &mut Rng, q: &mut BinaryHeap<_>| {
        for id in sends(&acts) {
            let transit = rng.next() * max_transit_ms;
            q.push(Reverse((at(now + transit), Ev::Arrive(id))));
        }
    };
    loop {
        let next_ev = queue.peek().map(|Reverse((k, _))| f64::from_bits(*k));
        let wake = e.next_wake();
        let t = match (next_ev, wake) {
            (None, None) => break,
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap(),
        };
        now = now.max(t);
        if next_ev == Some(t) {
            let Reverse((_, ev)) = queue.pop().unwrap();
            match ev {
                Ev::One => {
                    e.submit(now, req(1.0, 1.0)).unwrap();
                }
                Ev::Burst => {
                    for _ in 0..90 {
                        e.submit(now, req(1.0, 1.0)).unwrap();
                    }
                }
                Ev::Arrive(id) => {
                    seen += 1;
                    if server.level(now) < 1.0 - 1e-9 {
                        over += 1;
                    }
                    server.take(now, 1.0);
                    let back = 20.0 + rng.next() * max_transit_ms;
                    queue.push(Reverse((at(now + back), Ev::Head(id))));
                }
                Ev::Head(id) => {
                    assert_eq!(
                        e.on_response(now, id, 200, &none(), None, 0.5),
                        Verdict::Deliver
                    );
                    e.on_done(now, id, None);
                }
            }
        }
        let acts = e.poll(now);
        send(acts, now, &mut rng, &mut queue);
    }
    assert_eq!(e.live_calls(), 0);
    (over, seen)
}

#[test]
fn without_headers_a_slow_uneven_transit_never_puts_the_pacer_ahead_of_the_server() {
    for seed in 1..=4 {
        for max_transit in [100.0, 1_000.0, 3_000.0, 10_000.0] {
            let (over, seen) = no_headers_run(max_transit, seed, 60.0);
            assert_eq!(seen, 8 * 91);
            assert_eq!(
                over, 0,
                "transit up to {max_transit} ms (seed {seed}): {over} of {seen} admissions \
                 reached the server over its bucket"
            );
        }
    }
}

#[test]
fn control_the_server_catches_a_pacer_that_believes_higher_limits() {
    // The test above is not vacuous: the same server and load catch a pacer 10% over.
    let (over, _) = no_headers_run(100.0, 1, 66.0);
    assert!(over > 5, "only {over} over-limit admissions caught");
}

fn rpm60() -> Engine {
    let mut c = config();
    c.limits = Limits {
        rpm: Some(60.0),
        ..Default::default()
    };
    Engine::new(c, T0)
}

#[test]
fn the_transit_reserved_at_admission_is_recounted_from_the_round_trip() {
    // RPM 60: one request per second of refill.
    let reserved = ASSUMED_LATENCY_MS / 1_000.0;
    assert_eq!(ASSUMED_LATENCY_MS, transit::RESERVED_MS);
    let mut e = rpm60();
    let a = e.submit(T0, req(1.0, 1.0)).unwrap();
    let b = e.submit(T0, req(1.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![a, b]);
    // From a full bucket, `a` holds back the refill of the reserved transit, `b` nothing more
    // (the bucket is no longer near full).
    assert!((level(&e, Dim::Requests, T0) - (60.0 - 2.0 - reserved)).abs() < 1e-9);
    // `a`'s head comes back 300 ms later: it reached the server within 0.3 s, so at most
    // 0.3 requests of refill were wasted; the rest of the reservation comes back.
    let t = T0 + 300.0;
    let before = level(&e, Dim::Requests, t);
    e.on_response(t, a, 200, &none(), None, 0.5);
    let back = level(&e, Dim::Requests, t) - before;
    assert!((back - (reserved - 0.3)).abs() < 1e-9, "gave back {back}");
    // `b` was admitted 1 + reserved below full: no transit up to that wastes anything.
    let before = level(&e, Dim::Requests, t);
    e.on_response(t, b, 200, &none(), None, 0.5);
    assert_eq!(level(&e, Dim::Requests, t), before);

    // A round trip longer than the reservation: the longer waste is taken (up to MAX_MS).
    let mut e = rpm60();
    let a = e.submit(T0, req(1.0, 1.0)).unwrap();
    e.poll(T0);
    let t = T0 + 7_000.0;
    let before = level(&e, Dim::Requests, t);
    e.on_response(t, a, 200, &none(), None, 0.5);
    let taken = before - level(&e, Dim::Requests, t);
    assert!((taken - (7.0 - reserved)).abs() < 1e-9, "took {taken}");

    // A network error keeps the reservation (the request may have been in transit all along).
    let mut e = rpm60();
    let a = e.submit(T0, req(1.0, 1.0)).unwrap();
    e.poll(T0);
    e.on_network_error(T0 + 300.0, a, 0.5);
    let l = level(&e, Dim::Requests, T0 + 300.0);
    assert!((l - (60.0 - 1.0 - reserved + 0.3)).abs() < 1e-9, "{l}");
}

#[test]
fn a_server_that_sends_its_figures_needs_only_their_rounding_covered() {
    let figures = RateLimitInfo {
        requests: DimInfo {
            limit: Some(60.0),
            remaining: Some(59.0),
            reset_at_ms: None,
            window_ms: Some(60_000.0),
            rounded: false,
        },
        ..Default::default()
    };
    let with_headers = transit::WITH_HEADERS_MS / 1_000.0;
    let mut e = rpm60();
    let a = e.submit(T0, req(1.0, 1.0)).unwrap();
    e.poll(T0);
    // The head comes back after a long generation, with the server's figures: the waste is
    // recounted for the rounding cover, not for the round trip.
    let t = T0 + 8_000.0;
    e.on_response(t, a, 200, &figures, None, 0.5);
    e.on_done(t, a, None);
    // Later admissions from full reserve only that cover.
    let t = T0 + 200_000.0;
    let b = e.submit(t, req(1.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(t)), vec![b]);
    let l = level(&e, Dim::Requests, t);
    assert!((l - (60.0 - 1.0 - with_headers)).abs() < 1e-9, "{l}");
    // A response without figures puts the full reservation back.
    e.on_response(t, b, 200, &none(), None, 0.5);
    e.on_done(t, b, None);
    let t = T0 + 400_000.0;
    let c = e.submit(t, req(1.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(t)), vec![c]);
    let l = level(&e, Dim::Requests, t);
    let reserved = transit::RESERVED_MS / 1_000.0;
    assert!((l - (60.0 - 1.0 - reserved)).abs() < 1e-9, "{l}");
}

/// A fixed `outputReservation` is the caller's figure, not the request's: above the OTPM of a
/// plan that reserves `max_tokens`, it is lowered to the bucket (the request states 100), not
/// refused as too large; the part the request states still is.
#[test]
fn a_fixed_output_reservation_above_the_otpm_is_lowered_not_refused() {
    use llm_pacer::core::config::OutputReservation;
    use llm_pacer::core::presets::OutputMetering;
    for (max_tokens, refused) in [(Some(100.0), false), (None, false), (Some(9_500.0), true)] {
        let mut c = config();
        c.limits = Limits {
            otpm: Some(8_000.0),
            ..Limits::default()
        };
        c.output_reservation = OutputReservation::Fixed(9_000.0);
        c.output_metering = Some(OutputMetering::Reservation);
        let mut e = Engine::new(c, T0);
        let id = e
            .submit(
                T0,
                Request {
                    max_tokens,
                    ..Request::default()
                },
            )
            .unwrap();
        let acts = e.poll(T0);
        let failed = acts
            .iter()
            .any(|a| matches!(a, Action::Fail { id: f, .. } if *f == id));
        assert_eq!(failed, refused, "max_tokens {max_tokens:?}: {acts:?}");
        if !refused {
            assert_eq!(sends(&acts), vec![id], "max_tokens {max_tokens:?}");
        }
    }
}

#[test]
fn error_codes_are_the_public_ones() {
    use llm_pacer::core::call::CallError;
    use llm_pacer::core::limiter::Dim;
    let cases = [
        (
            CallError::TooLarge {
                dim: Dim::Requests,
                cost: 2.0,
                capacity: 1.0,
                window_ms: 60_000.0,
            },
            "REQUEST_TOO_LARGE",
        ),
        (
            CallError::RetryAfterTooLong { hint_ms: 1.0 },
            "RETRY_AFTER_TOO_LONG",
        ),
        (CallError::Timeout, "TIMEOUT"),
        (CallError::Closed, "CLOSED"),
        (CallError::Network, "NETWORK"),
    ];
    for (e, code) in cases {
        assert_eq!(e.code(), code, "{e:?}");
    }
}

/// The reason of the event of `kind` that the response `status` (with `info`, `error`) gives.
fn reason_for(
    status: u16,
    info: &RateLimitInfo,
    error: Option<&ErrorInfo>,
    kind: &str,
) -> &'static str {
    let mut c = config();
    c.budget = None;
    let mut e = Engine::new(c, T0);
    e.set_record_events(true);
    let id = e.submit(T0, req(1.0, 1.0)).unwrap();
    e.poll(T0);
    e.on_response(T0 + 1.0, id, status, info, error, 0.5);
    e.drain_events()
        .iter()
        .find(|ev| ev.kind.name() == kind)
        .unwrap_or_else(|| panic!("no {kind} event for {status}"))
        .reason
}

#[test]
fn event_reasons_name_the_status_and_the_cause() {
    // Given up at once: the status by name, a class, or "other".
    for (status, reason) in [
        (400, "status_400"),
        (401, "status_401"),
        (403, "status_403"),
        (404, "status_404"),
        (413, "status_413"),
        (422, "status_422"),
        (418, "status_4xx"),
        (499, "status_4xx"),
        (600, "status_other"),
        (99, "status_other"),
    ] {
        assert_eq!(
            reason_for(status, &none(), None, "giveup"),
            reason,
            "{status}"
        );
    }
    // Retried: the status by name or class.
    for (status, reason) in [
        (408, "status_408"),
        (409, "status_409"),
        (500, "status_500"),
        (502, "status_502"),
        (503, "status_503"),
        (504, "status_504"),
        (429, "rate_limited"),
        (529, "overloaded"),
    ] {
        assert_eq!(
            reason_for(status, &none(), None, "retry"),
            reason,
            "{status}"
        );
    }
    let retry_on = |s: u16| {
        let mut c = config();
        c.retry.retry_on = Some(vec![s]);
        let mut e = Engine::new(c, T0);
        e.set_record_events(true);
        let id = e.submit(T0, req(1.0, 1.0)).unwrap();
        e.poll(T0);
        e.on_response(T0, id, s, &none(), None, 0.5);
        e.drain_events()
            .iter()
            .find(|ev| ev.kind.name() == "retry")
            .map(|ev| ev.reason)
    };
    assert_eq!(retry_on(507), Some("status_5xx"));
    assert_eq!(retry_on(425), Some("status_4xx"));
    // The causes the server gives.
    let said_no = RateLimitInfo {
        should_retry: Some(false),
        ..Default::default()
    };
    assert_eq!(
        reason_for(503, &said_no, None, "giveup"),
        "should_retry_false"
    );
    let body = |code: &str| ErrorInfo {
        error_type: None,
        code: Some(code.into()),
        ..Default::default()
    };
    assert_eq!(
        reason_for(
            429,
            &none(),
            Some(&body("enforced_spend_limit_reached")),
            "giveup"
        ),
        "spend_limit"
    );
    assert_eq!(
        reason_for(429, &none(), Some(&body("insufficient_quota")), "giveup"),
        "insufficient_quota"
    );
}

// ------------------------------------------------------------ pinned by mutation testing

#[test]
fn a_call_that_leaves_the_queue_counts_the_time_it_waited() {
    let mut c = config();
    c.concurrency = Some(1);
    let mut e = Engine::new(c, T0);
    let a = e.submit(T0, req(1.0, 1.0)).unwrap();
    let b = e.submit(T0, req(1.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![a]);
    assert!(e.abort(T0 + 500.0, b));
    assert_eq!(e.stats().wait_ms, 500.0);
}

#[test]
fn a_backoff_timer_fires_at_its_time_not_before() {
    let mut c = config();
    c.budget = None;
    let mut e = Engine::new(c, T0);
    let a = e.submit(T0, req(1.0, 1.0)).unwrap();
    e.poll(T0);
    let Verdict::Retry { at_ms } = e.on_response(T0, a, 503, &none(), None, 0.0) else {
        panic!()
    };
    assert_eq!(at_ms, T0 + 1_000.0);
    assert_eq!(
        sends(&e.poll(T0 + 500.0)),
        Vec::<Id>::new(),
        "retried early"
    );
    assert_eq!(e.stats().queued, 1);
    assert_eq!(sends(&e.poll(at_ms)), vec![a]);
}

#[test]
fn after_the_clock_steps_back_a_reset_time_is_read_on_the_clock_as_it_is_now() {
    // The caller's clock steps back 10 s; a response then says the bucket is full again 20 s
    // from now on the caller's clock (40 of 60 left): the level follows it. Read 20 s off (the
    // step counted the wrong way), the bucket would look full and nothing would move.
    let mut e = rpm60();
    let a = e.submit(T0, req(1.0, 1.0)).unwrap();
    e.poll(T0);
    let now = T0 - 10_000.0;
    let info = RateLimitInfo {
        requests: DimInfo {
            limit: Some(60.0),
            remaining: None,
            reset_at_ms: Some(now + 20_000.0),
            window_ms: Some(60_000.0),
            rounded: false,
        },
        ..Default::default()
    };
    e.on_response(now, a, 200, &info, None, 0.5);
    let l = level(&e, Dim::Requests, now);
    assert!(
        (40.0..=42.0).contains(&l),
        "level {l}, the server's 40 to 42"
    );
}

#[test]
fn the_wait_before_admission_and_in_a_backoff_is_counted() {
    let mut c = config();
    c.concurrency = Some(1);
    c.budget = None;
    let mut e = Engine::new(c, T0);
    e.set_record_events(true);
    let a = e.submit(T0, req(1.0, 1.0)).unwrap();
    let b = e.submit(T0, req(1.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![a]);
    e.on_response(T0 + 700.0, a, 200, &none(), None, 0.5);
    e.on_done(T0 + 700.0, a, None);
    assert_eq!(sends(&e.poll(T0 + 700.0)), vec![b]);
    assert_eq!(e.stats().wait_ms, 700.0, "b waited 700 ms in the queue");
    let admitted = e
        .drain_events()
        .into_iter()
        .find(|ev| ev.id == b && ev.kind.name() == "admitted")
        .unwrap();
    assert_eq!(admitted.delay_ms, 700.0);
    // b backs off after a 503 and is aborted 400 ms into it: 400 ms more.
    let Verdict::Retry { .. } = e.on_response(T0 + 700.0, b, 503, &none(), None, 0.0) else {
        panic!()
    };
    assert!(e.abort(T0 + 1_100.0, b));
    assert_eq!(e.stats().wait_ms, 1_100.0);
}

#[test]
fn a_pause_of_exactly_max_retry_after_is_waited_out() {
    // "A hint longer than maxRetryAfterMs is not waited on": one exactly that long is.
    let mut c = config();
    c.retry.max_retry_after_ms = 2_000.0;
    let (mut e, a, b) = two_calls(c);
    let v = e.on_response(T0, a, 429, &hint(2_000.0), None, 0.5);
    assert!(matches!(v, Verdict::Retry { .. }), "{v:?}");
    let acts = e.poll(T0);
    assert!(
        !acts.iter().any(|x| matches!(x, Action::Fail { .. })),
        "{acts:?}"
    );
    assert_eq!(e.live_calls(), 2);
    let _ = b;
}

#[test]
fn a_call_held_by_the_concurrency_cap_says_so() {
    let mut c = config();
    c.concurrency = Some(1);
    // A known limit, so no opening probe holds the second call (that reason comes first).
    c.limits = Limits {
        rpm: Some(1_000.0),
        ..Default::default()
    };
    let mut e = Engine::new(c, T0);
    assert_eq!(e.config().concurrency, Some(1));
    e.set_record_events(true);
    let a = e.submit(T0, req(1.0, 1.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![a]);
    let b = e.submit(T0, req(1.0, 1.0)).unwrap();
    e.poll(T0);
    let wait = e
        .drain_events()
        .into_iter()
        .find(|ev| ev.id == b && ev.kind.name() == "wait")
        .expect("a wait event for b");
    assert_eq!(wait.reason, "concurrency");
}

#[test]
fn a_retry_due_exactly_at_the_deadline_is_still_scheduled() {
    // Only a retry that would cross the deadline is given up at once.
    let mut c = config();
    c.timeout_ms = Some(1_000.0);
    c.budget = None;
    let mut e = Engine::new(c, T0);
    let a = e.submit(T0, req(1.0, 1.0)).unwrap();
    e.poll(T0);
    // The first backoff is 1 s (no jitter): due exactly at the deadline.
    let v = e.on_response(T0, a, 503, &none(), None, 0.0);
    assert_eq!(
        v,
        Verdict::Retry {
            at_ms: T0 + 1_000.0
        }
    );
}

/// The first call sent in `(from, until]`, polling at every wake (and every 100 ms), and when.
fn next_send(e: &mut Engine, from: Ms, until: Ms) -> Option<(Id, Ms)> {
    let mut t = from;
    while t <= until {
        if let Some(&id) = sends(&e.poll(t)).first() {
            return Some((id, t));
        }
        t = match e.next_wake() {
            Some(w) if w > t && w <= t + 100.0 => w,
            _ => t + 100.0,
        };
    }
    None
}

#[test]
fn a_429_with_an_older_ietf_drafts_fields_and_no_retry_after_holds_the_key_until_the_reset() {
    // A gateway with a fixed window of 20 requests per 10 s, spent, refuses with draft-07's
    // (or draft-06's) fields and no `retry-after`: the reset of its spent requests, 7 s out,
    // holds the key; the retry and the call behind it wait for it rather than go at once.
    let draft07 = [("RateLimit", "limit=20, remaining=0, reset=7")];
    let draft06 = [
        ("RateLimit-Limit", "20"),
        ("RateLimit-Remaining", "0"),
        ("RateLimit-Reset", "7"),
        ("RateLimit-Policy", "20;w=10"),
    ];
    for h in [&draft07[..], &draft06[..]] {
        let mut e = Engine::new(config(), T0);
        let a = e.submit(T0, req(1.0, 1.0)).unwrap();
        let b = e.submit(T0, req(1.0, 1.0)).unwrap();
        assert_eq!(sends(&e.poll(T0)), vec![a]);
        let at = T0 + 100.0;
        let info = llm_pacer::core::headers::parse(h.iter().copied(), at);
        assert_eq!(info.retry_after_ms, None);
        let v = e.on_response(at, a, 429, &info, None, 0.5);
        assert!(matches!(v, Verdict::Retry { .. }), "{h:?}: {v:?}");
        let (id, sent) = next_send(&mut e, at, at + 20_000.0).expect("a send");
        assert!([a, b].contains(&id));
        assert!(
            sent >= at + 7_000.0 && sent <= at + 8_100.0,
            "{h:?}: sent {} ms after the 429, not at its reset 7 s out",
            sent - at
        );
    }
}

/// A 429 for a spent quota or a spend limit is handed back, and its wait holds no other call
/// of the key: Gemini sends a `retryDelay` of seconds with a per-day `QuotaFailure`, and every
/// later call waited 20 s only to be refused the same way. A plain rate limit's wait still
/// holds them.
#[test]
fn a_spent_quota_hands_its_429_back_and_holds_no_other_call() {
    for (code, held) in [
        (Some("insufficient_quota"), false),
        (Some("enforced_spend_limit_reached"), false),
        (None, true),
    ] {
        let mut c = config();
        c.retry.max_retries = 0;
        let mut e = Engine::new(c, T0);
        let body = ErrorInfo {
            code: code.map(Into::into),
            ..Default::default()
        };
        let a = e.submit(T0, req(1.0, 1.0)).unwrap();
        assert_eq!(sends(&e.poll(T0)), vec![a]);
        assert_eq!(
            e.on_response(T0, a, 429, &hint(20_000.0), Some(&body), 0.5),
            Verdict::Deliver
        );
        let b = e.submit(T0 + 10.0, req(1.0, 1.0)).unwrap();
        let sent = sends(&e.poll(T0 + 10.0));
        assert_eq!(sent.is_empty(), held, "{code:?}: {sent:?}");
        if held {
            assert_eq!(sends(&e.poll(T0 + 20_010.0)), vec![b]);
        }
    }
}

/// A 429 of an OpenAI-style server whose token figures are spent (`remaining: 0` of 6,000 a
/// minute, full again in 7.66 s: figures no continuous refill shows), with `extra` headers
/// and the error body `body`, answered 100 ms after the call's admission: how long after it
/// the retry goes.
fn retry_after_spent_tokens(extra: &[(&str, &str)], body: Option<&ErrorInfo>) -> f64 {
    let mut e = Engine::new(config(), T0);
    let a = e.submit(T0, req(10.0, 50.0)).unwrap();
    assert_eq!(sends(&e.poll(T0)), vec![a]);
    let at = T0 + 100.0;
    let mut h = vec![
        ("x-ratelimit-limit-requests", "14400"),
        ("x-ratelimit-remaining-requests", "14370"),
        ("x-ratelimit-reset-requests", "2m59.56s"),
        ("x-ratelimit-limit-tokens", "6000"),
        ("x-ratelimit-remaining-tokens", "0"),
        ("x-ratelimit-reset-tokens", "7.66s"),
    ];
    h.extend_from_slice(extra);
    let info = llm_pacer::core::headers::parse(h.iter().copied(), at);
    let v = e.on_response(at, a, 429, &info, body, 0.5);
    assert!(matches!(v, Verdict::Retry { .. }), "{extra:?}: {v:?}");
    let (id, sent) = next_send(&mut e, at, at + 20_000.0).expect("a retry");
    assert_eq!(id, a);
    sent - at
}

/// A 429 whose `retry-after` is shorter than the reset of its spent token figures: Groq's
/// (`retry-after: 2`, `x-ratelimit-remaining-tokens: 0`, `x-ratelimit-reset-tokens: 7.66s` of
/// 6,000 a minute, figures no continuous refill shows). The server's wait governs: the retry
/// goes within the README's bound of it (10% longer at most), not at the reset. Groq's buckets
/// are token buckets, never read as windows; an OpenAI-style server with the same figures may
/// count by windows, but its refusal's own wait still ends the hold they set.
#[test]
fn a_429s_retry_after_governs_over_its_spent_figures_reset() {
    let groq = [("retry-after", "2"), ("x-groq-region", "us-east-1")];
    for extra in [&groq[..], &groq[..1]] {
        let gap = retry_after_spent_tokens(extra, None);
        assert!(
            (2_000.0..=2_200.0).contains(&gap),
            "{extra:?}: retried {gap} ms after a `retry-after: 2`"
        );
    }
}

/// The same spent figures (an OpenAI-style server, which may count by windows) with the wait
/// stated in the body only: Gemini's `RetryInfo.retryDelay`, OpenAI's "Please try again in
/// 2s". The body's wait is the server's word as the header's is: it ends the hold the figures
/// set, and the retry goes within the README's bound of it, not at the reset.
#[test]
fn a_429s_body_hint_governs_over_its_spent_figures_reset_as_a_header_does() {
    let body = ErrorInfo {
        error_type: Some("requests".into()),
        code: Some("rate_limit_exceeded".into()),
        hint_ms: Some(2_000.0),
        ..Default::default()
    };
    let gap = retry_after_spent_tokens(&[], Some(&body));
    assert!(
        (2_000.0..=2_200.0).contains(&gap),
        "retried {gap} ms after a body's 2 s"
    );
}

/// A 429 whose headers show Mistral's monthly tokens spent, the minute's figures full, fails
/// at once like `insufficient_quota` (its body says only "rate limited"): waiting minutes
/// will not help. Its key's other calls are not held. With the minute's figures spent too,
/// it is an ordinary 429, retried.
#[test]
fn a_429_whose_headers_show_a_spent_months_quota_fails_at_once() {
    let h = [
        ("x-ratelimit-limit-tokens-month", "1000000000"),
        ("x-ratelimit-remaining-tokens-month", "0"),
        ("x-ratelimit-limit-tokens-minute", "500000"),
        ("x-ratelimit-remaining-tokens-minute", "500000"),
        ("x-ratelimit-limit-req-minute", "60"),
        ("x-ratelimit-remaining-req-minute", "60"),
    ];
    let body = ErrorInfo {
        error_type: Some("rate_limited".into()),
        code: Some("1300".into()),
        ..Default::default()
    };
    for minute_spent in [false, true] {
        let mut h = h.to_vec();
        if minute_spent {
            h[5] = ("x-ratelimit-remaining-req-minute", "0");
        }
        let mut e = Engine::new(config(), T0);
        let a = e.submit(T0, req(1.0, 1.0)).unwrap();
        assert_eq!(sends(&e.poll(T0)), vec![a]);
        let info = llm_pacer::core::headers::parse(h.iter().copied(), T0 + 100.0);
        let v = e.on_response(T0 + 100.0, a, 429, &info, Some(&body), 0.5);
        if minute_spent {
            assert!(matches!(v, Verdict::Retry { .. }), "{v:?}");
        } else {
            assert_eq!(v, Verdict::Deliver);
            let b = e.submit(T0 + 110.0, req(1.0, 1.0)).unwrap();
            assert_eq!(sends(&e.poll(T0 + 110.0)), vec![b]);
        }
    }
}
