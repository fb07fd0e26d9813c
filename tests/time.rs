//! Time, end to end through the [`Engine`], in virtual time: a server whose `Date` is hours,
//! days or years away from our clock; `retry-after` HTTP-dates in the past, near and far
//! future; reset headers in the past, in the year 9999, or garbage; absurd Go durations; a
//! local clock that stands still or steps back.
//!
//! What every scenario holds the engine to:
//! * **No negative wait.** A `Retry` is never scheduled before now.
//! * **No multi-day sleep.** Every wait the driver is asked to sleep (from now to
//!   [`Engine::next_wake`]) is at most the longest the options allow: `maxRetryAfterMs` plus
//!   the hint's spread (min(10 %, 1 s)), or `maxDelayMs` for a backoff, or a bucket's window.
//!   A hint beyond `maxRetryAfterMs` is returned at once, and calls queued behind the pause it
//!   imposes reject with `RETRY_AFTER_TOO_LONG`.
//! * **No busy loop.** Every poll makes progress: a bounded number of polls completes every
//!   call, and polling at a wake time that is not later than now happens at most once in a row.
//! * **Finite state.** The limiter's learned limits, levels, reset times and pause are finite.

use llm_pacer::core::call::{Action, CallError, Engine, Id, Request, Verdict};
use llm_pacer::core::config::Config;
use llm_pacer::core::headers::{self, ABSURD_MS};
use llm_pacer::core::limiter::Limits;
use llm_pacer::core::Ms;
use llm_pacer::sim::{http_date, rfc3339_ceil as rfc3339};
use proptest::prelude::*;

/// Our clock at the start: 2026-01-01T00:00:00Z.
const T0: Ms = 1_767_225_600_000.0;
const HOUR: Ms = 3_600_000.0;
const DAY: Ms = 24.0 * HOUR;
const YEAR: Ms = 365.0 * DAY;

/// Server clock offsets from ours.
const SKEWS: [Ms; 9] = [
    -10.0 * YEAR,
    -2.0 * DAY,
    -3.0 * HOUR,
    -1_500.0,
    0.0,
    1_500.0,
    3.0 * HOUR,
    2.0 * DAY,
    10.0 * YEAR,
];

// ---------------------------------------------------------------------------------------------
// Formatting the server's times: the simulator's server formats them as Anthropic does
// (`Date` rounded down to the second, resets rounded up).

#[test]
fn the_formatters_agree_with_the_parsers() {
    let t = 784_111_777_000.0;
    assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(headers::parse_http_date(&http_date(T0)), Some(T0));
    assert_eq!(headers::parse_rfc3339(&rfc3339(T0)), Some(T0));
    assert_eq!(rfc3339(T0 + 1.0), "2026-01-01T00:00:01Z");
    for skew in SKEWS {
        let t = T0 + skew;
        let whole = (t / 1000.0).floor() * 1000.0;
        assert_eq!(
            headers::parse_http_date(&http_date(t)),
            Some(whole),
            "{skew}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The driver.

/// A response: status and headers (the harness adds `date` from the server's clock unless the
/// headers already name one, or `no_date` is set).
type Reply = (u16, Vec<(String, String)>);

/// What a run saw.
#[derive(Debug, Default)]
struct Run {
    /// Polls made.
    polls: usize,
    /// Attempts sent, per call.
    attempts: Vec<u32>,
    /// The status of each call's last response.
    last: Vec<Option<u16>>,
    /// How each call ended: the last status delivered, or the error.
    outcome: Vec<Option<Result<u16, CallError>>>,
    /// Every sleep the driver was asked for (next wake - now), ms.
    sleeps: Vec<Ms>,
    /// Every retry's wait, ms.
    retry_waits: Vec<Ms>,
    /// Virtual time at the end.
    end: Ms,
}

impl Run {
    fn max_sleep(&self) -> Ms {
        self.sleeps.iter().copied().fold(0.0, f64::max)
    }
}

struct Driver {
    engine: Engine,
    now: Ms,
    /// Server clock - our clock.
    skew: Ms,
    no_date: bool,
    /// The local clock stands still: `now` never moves (the Workers clock between I/O).
    frozen: bool,
    /// The furthest a bucket may be from full, ms (its window, at most).
    max_reset: Ms,
}

impl Driver {
    fn new(config: Config, skew: Ms) -> Driver {
        Driver {
            engine: Engine::new(config, T0),
            now: T0,
            skew,
            no_date: false,
            frozen: false,
            max_reset: 2.0 * DAY,
        }
    }

    /// Submit `n` calls at once and run until every one settled. `reply(server_now, call,
    /// attempt)` answers each attempt at once.
    fn run(&mut self, n: usize, mut reply: impl FnMut(Ms, usize, u32) -> Reply) -> Run {
        let max_polls = 200 + 50 * n;
        let mut run = Run {
            attempts: vec![0; n],
            last: vec![None; n],
            outcome: vec![None; n],
            ..Run::default()
        };
        let ids: Vec<Id> = (0..n)
            .map(|_| {
                self.engine
                    .submit(
                        self.now,
                        Request {
                            input_tokens: 100.0,
                            max_tokens: Some(50.0),
                            priority: 0,
                            ..Request::default()
                        },
                    )
                    .unwrap()
            })
            .collect();
        let index = |id: Id| ids.iter().position(|&i| i == id).unwrap();
        let mut u = 0.37;
        // Polls in a row at a wake time not later than the time of the previous poll.
        let mut stuck = 0;
        loop {
            run.polls += 1;
            assert!(
                run.polls <= max_polls,
                "no progress after {max_polls} polls: {run:?}"
            );
            let actions = self.engine.poll(self.now);
            let progressed = !actions.is_empty();
            for a in actions {
                match a {
                    Action::Send { id, attempt } => {
                        let i = index(id);
                        run.attempts[i] = attempt;
                        let (status, mut hs) = reply(self.now + self.skew, i, attempt);
                        run.last[i] = Some(status);
                        if !self.no_date && !hs.iter().any(|(k, _)| k == "date") {
                            hs.push(("date".into(), http_date(self.now + self.skew)));
                        }
                        let info = headers::parse(
                            hs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                            self.now,
                        );
                        u = (u * 7.31 + 0.113) % 1.0;
                        match self
                            .engine
                            .on_response(self.now, id, status, &info, None, u)
                        {
                            // (Infinite: held by a spent retry budget, it goes when the
                            // budget's probe lets it; the polls' sleeps bound it.)
                            Verdict::Retry { at_ms } if at_ms.is_infinite() => {}
                            Verdict::Retry { at_ms } => {
                                let wait = at_ms - self.now;
                                assert!(wait >= 0.0, "a negative retry wait: {wait}");
                                run.retry_waits.push(wait);
                            }
                            Verdict::Deliver => {
                                run.outcome[i] = Some(Ok(status));
                                // Completes the call if it was a 2xx; a no-op otherwise.
                                self.engine.on_done(self.now, id, None);
                            }
                            Verdict::Fail(e) => run.outcome[i] = Some(Err(e)),
                            Verdict::Unknown => panic!("call {id} unknown"),
                        }
                    }
                    Action::Deliver { id } => {
                        // A waiting call that holds a response gives up: that response.
                        let i = index(id);
                        run.outcome[i] = Some(Ok(run.last[i].expect("a response is held")));
                        self.engine.on_done(self.now, id, None);
                    }
                    Action::Fail { id, error } => run.outcome[index(id)] = Some(Err(error)),
                    Action::Reserve { .. } | Action::ProbeStore { .. } => {
                        unreachable!("no store configured")
                    }
                }
            }
            self.check_state();
            if progressed {
                // The driver polls again after every interaction (what it was told may have
                // freed a slot or imposed a pause), before it sleeps.
                stuck = 0;
                continue;
            }
            if self.engine.live_calls() == 0 {
                break;
            }
            let wake = self
                .engine
                .next_wake()
                .expect("a live call with nothing on the wire waits on a timer");
            let sleep = (wake - self.now).max(0.0);
            assert!(sleep.is_finite(), "sleep {sleep}");
            run.sleeps.push(sleep);
            if sleep == 0.0 {
                stuck += 1;
                assert!(
                    stuck <= 1,
                    "woken at {wake} <= now {} twice without progress",
                    self.now
                );
            }
            // Frozen, the timer fires but time does not move: a wait can never end, and the
            // poll bound above catches it.
            if !self.frozen {
                self.now = self.now.max(wake);
            }
        }
        run.end = self.now;
        assert!(
            run.outcome.iter().all(Option::is_some),
            "every call settled: {run:?}"
        );
        run
    }

    /// Every number the limiter knows is finite, and any pause ends within ABSURD_MS.
    fn check_state(&self) {
        for d in self
            .engine
            .limits(self.now)
            .into_iter()
            .flat_map(|k| k.dims)
        {
            assert!(
                d.limit.is_finite() && d.limit > 0.0,
                "limit {d:?} at {}",
                self.now
            );
            assert!(d.remaining.is_finite(), "{d:?}");
            assert!(
                d.reset_at_ms.is_finite() && d.reset_at_ms >= self.now,
                "{d:?}"
            );
            assert!(d.reset_at_ms - self.now <= self.max_reset, "{d:?}");
        }
        let key = Default::default();
        if let Some(p) = self
            .engine
            .limiter(&key)
            .and_then(|l| l.paused_until(self.now))
        {
            assert!(p.is_finite() && p - self.now <= ABSURD_MS, "pause {p}");
        }
        let s = self.engine.stats();
        for v in [s.input_tokens_reserved, s.output_tokens_reserved, s.wait_ms] {
            assert!(v.is_finite() && v >= 0.0, "{s:?}");
        }
    }
}

fn config() -> Config {
    Config::new()
}

fn h(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).into(), v.clone()))
        .collect()
}

fn ok() -> Reply {
    (200, vec![])
}

/// The most any one sleep may last with the default options: `maxRetryAfterMs` plus the
/// spread of a hint (1 s at that size).
const MAX_SLEEP: Ms = 300_000.0 + 1_000.0;

// ---------------------------------------------------------------------------------------------
// retry-after as an HTTP-date.

#[test]
fn an_http_date_retry_after_is_read_against_the_servers_date_whatever_its_skew() {
    for skew in SKEWS {
        let mut d = Driver::new(config(), skew);
        let run = d.run(1, |server_now, _, attempt| {
            if attempt == 1 {
                (429, h(&[("retry-after", http_date(server_now + 5_000.0))]))
            } else {
                ok()
            }
        });
        assert_eq!(run.outcome, vec![Some(Ok(200))], "skew {skew}");
        assert_eq!(run.retry_waits.len(), 1);
        let w = run.retry_waits[0];
        assert!((5_000.0..=5_500.0).contains(&w), "skew {skew}: waited {w}");
        assert!(run.end - T0 <= 5_500.0 + 2.0, "skew {skew}");
    }
}

#[test]
fn without_a_date_header_a_skewed_http_date_is_absent_or_bounded_never_negative() {
    for skew in SKEWS {
        let mut d = Driver::new(config(), skew);
        d.no_date = true;
        let run = d.run(3, |server_now, _, attempt| {
            if attempt == 1 {
                (429, h(&[("retry-after", http_date(server_now + 5_000.0))]))
            } else {
                ok()
            }
        });
        // Against our clock the date is `skew + 5 s` away: in the past (retry now), within
        // maxRetryAfterMs (wait it), beyond (return the 429), or absurd (ignored: backoff).
        // The first call goes alone (no limit is known yet); a pause too long to wait out
        // then refuses the calls still queued (they never got a response).
        for (i, o) in run.outcome.iter().enumerate() {
            let too_long = skew + 5_000.0 > 300_000.0 && skew + 5_000.0 <= ABSURD_MS;
            match (too_long, i) {
                (true, 0) => assert_eq!(*o, Some(Ok(429)), "skew {skew}: {run:?}"),
                (true, _) => assert!(
                    matches!(o, Some(Err(CallError::RetryAfterTooLong { .. }))),
                    "skew {skew}, call {i}: {run:?}"
                ),
                (false, _) => assert_eq!(*o, Some(Ok(200)), "skew {skew}, call {i}: {run:?}"),
            }
        }
        assert!(run.max_sleep() <= MAX_SLEEP, "skew {skew}: {run:?}");
    }
}

#[test]
fn a_retry_after_date_not_in_the_future_is_no_hint_and_the_backoff_applies() {
    for skew in SKEWS {
        for past in [0.0, 1_000.0, HOUR, 30.0 * DAY, 40.0 * YEAR] {
            let mut d = Driver::new(config(), skew);
            // The server keeps saying "retry at a past date" (or "now"): taken at its word,
            // that is seven requests back to back. No hint: the backoff paces them, until
            // maxRetries; never a negative wait.
            let run = d.run(2, |server_now, _, _| {
                (429, h(&[("retry-after", http_date(server_now - past))]))
            });
            assert_eq!(
                run.outcome,
                vec![Some(Ok(429)); 2],
                "skew {skew}, past {past}"
            );
            assert_eq!(run.attempts, vec![7, 7], "maxRetries 6");
            assert!(run.retry_waits.iter().all(|&w| w >= 0.0), "{run:?}");
            // Full jitter over 1, 2, 4, 8, 16, 32 s: the six waits of a call are not all short.
            assert!(run.end - T0 >= 1_000.0, "{run:?}");
        }
    }
}

#[test]
fn a_retry_after_date_in_the_year_9999_is_ignored_and_the_backoff_applies() {
    for skew in SKEWS {
        let mut d = Driver::new(config(), skew);
        let run = d.run(1, |_, _, attempt| {
            if attempt <= 3 {
                (
                    429,
                    h(&[("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT".into())]),
                )
            } else {
                ok()
            }
        });
        assert_eq!(run.outcome, vec![Some(Ok(200))], "skew {skew}");
        assert_eq!(run.attempts, vec![4]);
        // Full jitter over 1 s, 2 s, 4 s.
        for (n, w) in run.retry_waits.iter().enumerate() {
            assert!(*w >= 0.0 && *w < 1_000.0 * 2f64.powi(n as i32), "{run:?}");
        }
    }
}

#[test]
fn a_retry_after_date_days_ahead_returns_the_429_and_rejects_the_queue() {
    for skew in SKEWS {
        let mut c = config();
        c.concurrency = Some(1);
        let mut d = Driver::new(c, skew);
        let run = d.run(3, |server_now, _, _| {
            (
                429,
                h(&[("retry-after", http_date(server_now + 2.0 * DAY))]),
            )
        });
        assert_eq!(run.outcome[0], Some(Ok(429)), "skew {skew}: {run:?}");
        for o in &run.outcome[1..] {
            let Some(Err(CallError::RetryAfterTooLong { hint_ms })) = o else {
                panic!("skew {skew}: {run:?}")
            };
            // The key's pause: a day at most (`MAX_PAUSE_MS`), the first call told the whole.
            assert!((hint_ms - DAY).abs() <= 1_000.0, "{hint_ms}");
        }
        assert_eq!(run.attempts, vec![1, 0, 0]);
        assert_eq!(run.end, T0, "nobody slept");
        // A call made later, while the pause holds, is refused at once too.
        let later = d.run(1, |_, _, _| ok());
        assert!(
            matches!(
                later.outcome[0],
                Some(Err(CallError::RetryAfterTooLong { .. }))
            ),
            "{later:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Reset headers.

/// Anthropic headers for `limit` requests per minute (and a thousand times as many input and
/// output tokens), `remaining` of each left, every dimension full again at `reset`.
fn anthropic(limit: &str, remaining: &str, reset: String) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for (dim, scale) in [
        ("requests", 1),
        ("input-tokens", 1_000),
        ("output-tokens", 1_000),
    ] {
        let n = |s: &str| match s.parse::<u64>() {
            Ok(x) => (x * scale).to_string(),
            Err(_) => s.to_string(),
        };
        v.push((format!("anthropic-ratelimit-{dim}-limit"), n(limit)));
        v.push((format!("anthropic-ratelimit-{dim}-remaining"), n(remaining)));
        v.push((format!("anthropic-ratelimit-{dim}-reset"), reset.clone()));
    }
    v
}

/// Resets an Anthropic server may send, relative to its own clock.
fn resets(server_now: Ms) -> Vec<(&'static str, String)> {
    vec![
        ("now", rfc3339(server_now)),
        ("in a minute", rfc3339(server_now + 60_000.0)),
        ("an hour ago", rfc3339(server_now - HOUR)),
        ("in 1970", "1970-01-01T00:00:00Z".into()),
        ("in 20 days", rfc3339(server_now + 20.0 * DAY)),
        ("in 9999", "9999-12-31T23:59:59Z".into()),
        ("with an offset", "9999-12-31T23:59:59.999+14:00".into()),
        ("garbage", "soon".into()),
        ("empty", String::new()),
        ("a number", "1767225600".into()),
        ("a negative year", "-0001-01-01T00:00:00Z".into()),
    ]
}

#[test]
fn anthropic_resets_in_the_past_far_future_or_garbage_keep_waits_bounded() {
    for skew in SKEWS {
        for no_date in [false, true] {
            for which in 0..resets(0.0).len() {
                for remaining in ["0", "1", "49"] {
                    let mut d = Driver::new(config(), skew);
                    d.no_date = no_date;
                    let label = resets(0.0)[which].0;
                    let run = d.run(20, |server_now, _, _| {
                        let reset = resets(server_now)[which].1.clone();
                        (200, anthropic("50", remaining, reset))
                    });
                    let ctx = format!(
                        "skew {skew}, no_date {no_date}, reset {label}, remaining {remaining}"
                    );
                    assert!(
                        run.outcome.iter().all(|o| *o == Some(Ok(200))),
                        "{ctx}: {run:?}"
                    );
                    // 50 per minute learned: a refill wait is never longer than the minute it
                    // takes to refill the whole bucket. A server that answers `remaining 0`
                    // every time says others take the rest: this process then counts on the
                    // floor of its share of the refill (a tenth), one request per 12 s at worst.
                    assert!(run.max_sleep() <= 60_001.0, "{ctx}: {run:?}");
                    assert!(run.end - T0 <= 20.0 * 12_001.0, "{ctx}: {}", run.end - T0);
                }
            }
        }
    }
}

#[test]
fn a_429_with_reset_headers_but_no_hint_backs_off_within_bounds() {
    for skew in SKEWS {
        for which in 0..resets(0.0).len() {
            let mut d = Driver::new(config(), skew);
            let run = d.run(5, |server_now, _, attempt| {
                let reset = resets(server_now)[which].1.clone();
                if attempt <= 2 {
                    (429, anthropic("50", "0", reset))
                } else {
                    (200, anthropic("50", "10", reset))
                }
            });
            let label = resets(0.0)[which].0;
            assert!(
                run.outcome.iter().all(|o| *o == Some(Ok(200))),
                "skew {skew}, reset {label}: {run:?}"
            );
            assert!(
                run.max_sleep() <= 60_001.0,
                "skew {skew}, reset {label}: {run:?}"
            );
        }
    }
}

#[test]
fn openai_go_duration_resets_huge_negative_or_garbage_keep_waits_bounded() {
    let cases = [
        "0s",
        "1s",
        "6m0s",
        "719h59m59s",               // just under 30 days
        "720h0m1s",                 // just over
        "1000000h",                 // 114 years
        "2562047h47m16.854775807s", // i64::MAX ns
        "9999999999999999999h",     // overflow
        "-5s",
        "1e9s",
        "NaN",
        "",
        "1",
    ];
    for reset in cases {
        for remaining in ["0", "5"] {
            let mut d = Driver::new(config(), 0.0);
            let run = d.run(12, |_, _, _| {
                let mut v = Vec::new();
                for dim in ["requests", "tokens"] {
                    v.push((format!("x-ratelimit-limit-{dim}"), "10000".to_string()));
                    v.push((
                        format!("x-ratelimit-remaining-{dim}"),
                        remaining.to_string(),
                    ));
                    v.push((format!("x-ratelimit-reset-{dim}"), reset.to_string()));
                }
                (200, v)
            });
            assert!(
                run.outcome.iter().all(|o| *o == Some(Ok(200))),
                "reset {reset:?}: {run:?}"
            );
            assert!(run.max_sleep() <= 60_001.0, "reset {reset:?}: {run:?}");
        }
    }
}

#[test]
fn a_huge_retry_after_ms_or_seconds_is_absent_or_too_long_never_slept() {
    for (name, value, too_long) in [
        ("retry-after", "301", true),
        ("retry-after", "86400", true),
        ("retry-after", "2592000", true), // 30 days exactly: a hint, too long
        ("retry-after", "2592001", false), // absurd: ignored
        ("retry-after", "99999999999", false),
        ("retry-after-ms", "300001", true),
        ("retry-after-ms", "1e15", false),
        ("retry-after", "1e400", false),
    ] {
        let mut d = Driver::new(config(), 0.0);
        let run = d.run(2, |_, _, attempt| {
            if attempt == 1 {
                (429, h(&[(name, value.into())]))
            } else {
                ok()
            }
        });
        let ctx = format!("{name}: {value}");
        if too_long {
            // The 429 is returned at once; the other call, queued behind the pause, is
            // refused (or it was sent in the same poll, before the pause, and also got one).
            assert!(run.outcome.contains(&Some(Ok(429))), "{ctx}: {run:?}");
            assert_eq!(run.end, T0, "{ctx}: slept");
        } else {
            assert_eq!(run.outcome, vec![Some(Ok(200)); 2], "{ctx}: {run:?}");
            assert!(
                run.max_sleep() <= 2_000.0,
                "{ctx}: backoff, not the hint: {run:?}"
            );
        }
        assert!(run.max_sleep() <= MAX_SLEEP, "{ctx}: {run:?}");
    }
}

#[test]
fn a_hint_just_under_max_retry_after_is_waited_within_its_spread() {
    let mut c = config();
    c.retry.max_retry_after_ms = 10_000.0;
    for hint in ["9.999", "10"] {
        let mut d = Driver::new(c.clone(), 0.0);
        let run = d.run(1, |_, _, attempt| {
            if attempt == 1 {
                (429, h(&[("retry-after", hint.into())]))
            } else {
                ok()
            }
        });
        assert_eq!(run.outcome, vec![Some(Ok(200))]);
        assert!(
            run.max_sleep() <= 10_000.0,
            "never past maxRetryAfterMs: {run:?}"
        );
    }
}

#[test]
fn a_learned_limit_whose_refill_takes_days_rejects_the_queue_instead_of_sleeping() {
    // IETF fields with a 30-day window and nothing left: the next request would wait 30 days
    // for the bucket. Like a pause that long, nobody waits it out.
    let mut c = config();
    c.concurrency = Some(1);
    let mut d = Driver::new(c, 0.0);
    d.max_reset = 30.0 * DAY;
    let run = d.run(3, |_, _, _| {
        (
            200,
            h(&[
                ("ratelimit-policy", "\"month\";q=1;w=2592000".into()),
                ("ratelimit", "\"month\";r=0;t=2592000".into()),
            ]),
        )
    });
    assert_eq!(run.outcome[0], Some(Ok(200)), "{run:?}");
    for o in &run.outcome[1..] {
        let Some(Err(CallError::RetryAfterTooLong { hint_ms })) = o else {
            panic!("{run:?}")
        };
        assert!(*hint_ms > 20.0 * DAY, "{hint_ms}");
    }
    assert!(run.max_sleep() <= MAX_SLEEP, "{run:?}");
}

#[test]
fn a_configured_limit_is_waited_on_even_past_max_retry_after() {
    // One request a minute, by the caller's own choice, with maxRetryAfterMs at 10 s: the
    // queue waits its turn (a minute each) rather than failing.
    let mut c = config();
    c.retry.max_retry_after_ms = 10_000.0;
    c.limits = Limits {
        rpm: Some(1.0),
        ..Limits::default()
    };
    let mut d = Driver::new(c, 0.0);
    let run = d.run(3, |_, _, _| ok());
    assert!(run.outcome.iter().all(|o| *o == Some(Ok(200))), "{run:?}");
    assert!(run.end - T0 >= 2.0 * 60_000.0, "{run:?}");
}

// ---------------------------------------------------------------------------------------------
// Servers that count by windows: the quota comes back whole at the reset the server states,
// nothing before it (a fixed-window gateway). Forty calls at once, ten requests a window, a
// 429 without `retry-after` when the window's quota is spent.

/// A fixed-window server's answer at `server_now`: `(status, remaining, seconds to reset)`.
struct Windows {
    limit: u32,
    window: Ms,
    start: Ms,
    used: u32,
    refused: usize,
}

impl Windows {
    fn new(limit: u32) -> Self {
        Windows {
            limit,
            window: 60_000.0,
            start: T0,
            used: 0,
            refused: 0,
        }
    }
    fn answer(&mut self, server_now: Ms) -> (u16, u32, Ms) {
        while server_now >= self.start + self.window {
            self.start += self.window;
            self.used = 0;
        }
        let status = if self.used < self.limit {
            self.used += 1;
            200
        } else {
            self.refused += 1;
            429
        };
        let reset_s = (self.start + self.window - server_now) / 1000.0;
        (status, self.limit - self.used, reset_s)
    }
}

/// Forty calls against a ten-a-minute fixed-window server whose figures `headers` writes:
/// every call answered 200, no 429, in the four windows they need (the last one opens at
/// 180 s; a reset a whole number of seconds ahead is taken a second late, as it may have
/// been rounded down).
fn windows_are_used_whole(headers: impl Fn(u32, u32, Ms) -> Vec<(String, String)>) {
    let mut server = Windows::new(10);
    let mut d = Driver::new(config(), 0.0);
    let run = d.run(40, |server_now, _, _| {
        let (status, remaining, reset_s) = server.answer(server_now);
        (status, headers(server.limit, remaining, reset_s))
    });
    assert!(run.outcome.iter().all(|o| *o == Some(Ok(200))), "{run:?}");
    assert_eq!(server.refused, 0, "{run:?}");
    assert!(run.end - T0 <= 182_000.0, "took {} ms", run.end - T0);
}

#[test]
fn a_fixed_window_server_with_openai_figures_is_used_whole_without_429s() {
    windows_are_used_whole(|limit, remaining, reset_s| {
        h(&[
            ("x-ratelimit-limit-requests", limit.to_string()),
            ("x-ratelimit-remaining-requests", remaining.to_string()),
            ("x-ratelimit-reset-requests", format!("{reset_s:.3}s")),
        ])
    });
}

#[test]
fn a_fixed_window_server_with_ietf_figures_is_used_whole_without_429s() {
    windows_are_used_whole(|limit, remaining, reset_s| {
        h(&[
            ("ratelimit-policy", format!("\"default\";q={limit};w=60")),
            (
                "ratelimit",
                format!("\"default\";r={remaining};t={}", reset_s.ceil()),
            ),
        ])
    });
}

#[test]
fn a_continuous_server_with_openai_figures_keeps_its_steady_rate() {
    // The control: figures that agree with a continuous refill (the bucket full again
    // `(limit - remaining) / rate` from now) never hold the refill back. Ten at once, then one
    // every 6 s: the fortieth goes at 180 s.
    let mut level = 10.0;
    let mut at = T0;
    let mut refused = 0;
    let mut d = Driver::new(config(), 0.0);
    let run = d.run(40, |server_now, _, _| {
        level = f64::min(10.0, level + (server_now - at) / 6_000.0);
        at = server_now;
        let status = if level >= 1.0 {
            level -= 1.0;
            200
        } else {
            refused += 1;
            429
        };
        let reset_s = (10.0 - level) * 6.0;
        (
            status,
            h(&[
                ("x-ratelimit-limit-requests", "10".into()),
                (
                    "x-ratelimit-remaining-requests",
                    format!("{}", level.floor()),
                ),
                ("x-ratelimit-reset-requests", format!("{reset_s:.3}s")),
            ]),
        )
    });
    assert!(run.outcome.iter().all(|o| *o == Some(Ok(200))), "{run:?}");
    assert!(refused <= 1, "{refused} refused: {run:?}");
    assert!(run.end - T0 <= 1.05 * 180_000.0, "took {} ms", run.end - T0);
}

// ---------------------------------------------------------------------------------------------
// Our own clock.

#[test]
fn a_clock_that_stands_still_settles_every_call_that_needs_no_wait() {
    // Time does not move (the Workers clock between I/O): calls that need no wait go, and
    // the engine never asks for a wake time that is already due without making progress.
    let mut d = Driver::new(config(), 0.0);
    d.frozen = true;
    let run = d.run(30, |server_now, _, _| {
        (200, anthropic("1000", "900", rfc3339(server_now)))
    });
    assert!(run.outcome.iter().all(|o| *o == Some(Ok(200))), "{run:?}");
    assert!(run.polls <= 3, "{run:?}");
}

#[test]
fn a_clock_that_steps_back_does_not_turn_a_short_wait_into_a_long_sleep() {
    for step in [1.0, 1_000.0, HOUR, 2.0 * DAY, 10.0 * YEAR] {
        let mut c = config();
        c.limits = Limits {
            rpm: Some(240.0),
            ..Limits::default()
        };
        c.timeout_ms = Some(30_000.0);
        let mut e = Engine::new(c, T0);
        e.set_record_events(true);
        // Use the requests an engine spends before its first response (a quarter of the
        // minute's 240, in case other processes start too), so the next one waits about a
        // second for a token.
        let ids: Vec<Id> = (0..61)
            .map(|_| e.submit(T0, Request::default()).unwrap())
            .collect();
        // (Less the transit reserved from a full bucket until a response head comes back:
        // 3 s of refill, 12 requests.)
        let sent = e.poll(T0).len();
        assert!((47..=60).contains(&sent), "{sent}");
        let wake = e.next_wake().unwrap();
        assert!(wake - T0 <= 2_001.0, "{}", wake - T0);
        // Our clock steps back (an NTP correction): inside, time stands still, and what the
        // engine hands out is on the clock as it reads now.
        let now = T0 - step;
        assert!(e.poll(now).is_empty());
        let sleep = e.next_wake().unwrap() - now;
        assert!(
            (0.0..=2_001.0).contains(&sleep),
            "step {step}: a 1 s wait became a sleep of {sleep} ms"
        );
        // A retry after a 503 from the call in flight: its backoff from now, not from before.
        let v = e.on_response(now, ids[0], 503, &Default::default(), None, 0.5);
        let Verdict::Retry { at_ms } = v else {
            panic!("{v:?}")
        };
        assert!(
            (0.0..=1_000.0).contains(&(at_ms - now)),
            "retry at {}",
            at_ms - now
        );
        // The reset the limits report is on our clock too.
        for d in e.limits(now).into_iter().flat_map(|k| k.dims) {
            assert!(
                (0.0..=60_001.0).contains(&(d.reset_at_ms - now)),
                "{d:?} vs {now}"
            );
        }
        // Events as well.
        let last = e.drain_events().last().copied().unwrap();
        assert_eq!(last.at_ms, now);
        // The deadline (timeoutMs 30 s) still comes 30 s after the calls started, as the
        // engine's time runs: polling at `wake` (our clock) makes progress.
        let at = e.next_wake().unwrap();
        assert!(
            !e.poll(at).is_empty(),
            "step {step}: nothing happened at the wake time"
        );
        let mut t = at;
        for _ in 0..200 {
            let Some(w) = e.next_wake() else { break };
            assert!(w - t <= 30_000.0, "step {step}: slept {}", w - t);
            t = t.max(w);
            for a in e.poll(t) {
                if let Action::Send { id, .. } = a {
                    e.on_response(t, id, 200, &Default::default(), None, 0.5);
                    e.on_done(t, id, None);
                }
            }
        }
        assert_eq!(e.live_calls(), 0, "step {step}");
        assert!(t - now <= 30_000.0, "step {step}: {}", t - now);
    }
}

#[test]
fn a_clock_that_never_steps_back_is_not_shifted() {
    let mut e = Engine::new(config(), T0);
    let id = e.submit(T0, Request::default()).unwrap();
    e.poll(T0);
    let v = e.on_response(T0 + 10.0, id, 529, &Default::default(), None, 0.25);
    // Full jitter over 1 s at u = 0.25: exactly 250 ms after the response.
    assert_eq!(v, Verdict::Retry { at_ms: T0 + 260.0 });
    assert_eq!(e.next_wake(), Some(T0 + 260.0));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Any server clock, any hint, any reset: bounded sleeps, bounded polls, finite state.
    #[test]
    fn any_clock_skew_hint_and_reset_keeps_the_engine_bounded(
        skew in prop_oneof![Just(0.0), -20.0 * YEAR..20.0 * YEAR, -DAY..DAY],
        hint_s in prop_oneof![Just(None), (0.0..1.0e7f64).prop_map(Some)],
        date_hint in prop_oneof![Just(None), (-1.0e11..1.0e11f64).prop_map(Some)],
        reset_offset in -1.0e11..1.0e11f64,
        remaining in 0u32..60,
        statuses in proptest::collection::vec(prop_oneof![Just(200u16), Just(429), Just(529), Just(503)], 1..8),
        n in 1usize..6,
    ) {
        let mut d = Driver::new(config(), skew);
        let run = d.run(n, |server_now, _, attempt| {
            let status = statuses[(attempt as usize - 1).min(statuses.len() - 1)];
            let mut hs = anthropic("50", &remaining.to_string(), rfc3339(server_now + reset_offset));
            if let Some(s) = hint_s {
                hs.push(("retry-after".into(), format!("{s}")));
            } else if let Some(off) = date_hint {
                hs.push(("retry-after".into(), http_date(server_now + off)));
            }
            (status, hs)
        });
        prop_assert!(run.max_sleep() <= MAX_SLEEP, "{:?}", run);
        for w in &run.retry_waits {
            prop_assert!(*w >= 0.0 && *w <= MAX_SLEEP, "{:?}", run);
        }
        prop_assert!(run.attempts.iter().all(|&a| a <= 7));
    }
}
