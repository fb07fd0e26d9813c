//! `engine`: arbitrary sequences of calls into the sans-IO engine (`core::call::Engine`).
//!
//! Input: bytes read with `arbitrary` as a configuration and a list of operations: submit,
//! poll, time passing (and going back a little, as a wall clock may), jumping to the engine's
//! wake time, responses with arbitrary statuses, headers and error bodies, network errors,
//! the end of a body with arbitrary usage, aborts, streamed bodies, close. After the list, a
//! driver serves every call (200 OK) until none is left.
//!
//! A model of every call (waiting, in flight, delivered, ended) follows the engine's actions
//! and verdicts. Checks:
//! * every submitted call ends exactly once (delivered, failed, aborted), and every call
//!   ends once the driver serves them; no action names a call that ended; an attempt
//!   number grows by one; a held response is delivered, not failed; errors are the right
//!   ones (`CLOSED` only after close, `TIMEOUT` only past the deadline, ...);
//! * the concurrency cap holds;
//! * a retry never waits less than the server's hint nor more than the hint's documented
//!   margin, a retry without a hint at most `maxDelayMs` plus jitter, and never past the
//!   deadline; a hint beyond `maxRetryAfterMs` is never waited on;
//! * `next_wake` is never NaN, never in the past once a poll has nothing to do (no busy
//!   loop), and present whenever a call waits with nothing on the wire (no stall);
//! * the statistics are finite, non-negative, and count what happened; events carry finite
//!   non-negative delays; the limits snapshot is finite.
//!
//! With `FUZZ_TRACE` set in the environment, the configuration and every operation are
//! printed to stderr (to read a crash: `FUZZ_TRACE=1 cargo fuzz run ... engine <artifact>`).

use arbitrary::{Arbitrary, Unstructured};
use llm_pacer::core::backoff::Jitter;
use llm_pacer::core::budget::BudgetConfig;
use llm_pacer::core::call::{Action, CallError, Engine, Id, Request, Verdict};
use llm_pacer::core::classify::ErrorInfo;
use llm_pacer::core::config::{Config, OutputReservation};
use llm_pacer::core::headers::{parse, RateLimitInfo};
use llm_pacer::core::limiter::{Dim, Limits, Usage};
use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

/// The virtual time the engine starts at: 2026-01-01T00:00:00Z.
pub const T0: f64 = 1_767_225_600_000.0;

/// Operations per input, at most (a longer list is cut).
const MAX_OPS: usize = 256;

/// Polls of the final drain, at most.
const MAX_DRAIN_STEPS: usize = 20_000;

/// Run the checks on one input.
pub fn check(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let Some(config) = input.config.build() else {
        return;
    };
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let trace = *TRACE.get_or_init(|| std::env::var_os("FUZZ_TRACE").is_some());
    if trace {
        eprintln!("{config:?}");
    }
    let mut h = Harness::new(config);
    for op in input.ops.iter().take(MAX_OPS) {
        if trace {
            eprintln!("t={} {op:?}", h.now - T0);
        }
        h.step(op);
        if trace {
            eprintln!(
                "   stats {:?} wake {:?}",
                h.engine.stats(),
                h.engine.next_wake().map(|w| w - T0)
            );
        }
        h.check_state();
    }
    h.drain();
}

// ---------------------------------------------------------------------------------------------
// The input.

#[derive(Debug, Arbitrary)]
struct Input {
    config: Cfg,
    ops: Vec<Op>,
}

/// A limit per minute: small ones bind in a few calls, large ones never.
#[derive(Debug, Clone, Copy, Arbitrary)]
enum Lim {
    Tiny(u8),
    Mid(u16),
    Big(u32),
}

impl Lim {
    fn get(self) -> f64 {
        match self {
            Lim::Tiny(v) => f64::from(v) + 1.0,
            Lim::Mid(v) => f64::from(v) + 1.0,
            Lim::Big(v) => f64::from(v) * 1000.0 + 1.0,
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Cfg {
    rpm: Option<Lim>,
    tpm: Option<Lim>,
    itpm: Option<Lim>,
    otpm: Option<Lim>,
    concurrency: Option<u8>,
    timeout_ms: Option<u32>,
    max_retries: u8,
    initial_delay_ms: u16,
    extra_delay_ms: u32,
    multiplier_tenths: u8,
    jitter: u8,
    max_retry_after_ms: u32,
    budget: Option<(u8, u8)>,
    retry_on: Option<Vec<u16>>,
    output_reservation: Option<Option<u16>>,
}

impl Cfg {
    fn build(&self) -> Option<Config> {
        let mut c = Config::new();
        c.limits = Limits {
            rpm: self.rpm.map(Lim::get),
            tpm: self.tpm.map(Lim::get),
            itpm: self.itpm.map(Lim::get),
            otpm: self.otpm.map(Lim::get),
        };
        c.concurrency = self.concurrency.map(|n| u32::from(n % 8) + 1);
        c.timeout_ms = self.timeout_ms.map(|t| f64::from(t % 3_600_000) + 1.0);
        c.retry.max_retries = u32::from(self.max_retries % 12);
        let b = &mut c.retry.backoff;
        b.initial_delay_ms = f64::from(self.initial_delay_ms % 5_000);
        b.max_delay_ms = b.initial_delay_ms + f64::from(self.extra_delay_ms % 120_000);
        b.multiplier = 1.0 + f64::from(self.multiplier_tenths % 40) / 10.0;
        b.jitter = Jitter::ALL[usize::from(self.jitter) % Jitter::ALL.len()];
        c.retry.max_retry_after_ms = f64::from(self.max_retry_after_ms % 900_000);
        c.budget = self.budget.map(|(r, m)| BudgetConfig {
            ratio: f64::from(r) / 100.0,
            max_tokens: f64::from(m % 20) + 1.0,
        });
        c.retry.retry_on = self.retry_on.clone();
        c.output_reservation = match self.output_reservation {
            None => OutputReservation::MaxTokens,
            Some(None) => OutputReservation::None,
            Some(Some(n)) => OutputReservation::Fixed(f64::from(n)),
        };
        c.validate().ok()?;
        Some(c)
    }
}

/// A token amount, including the garbage a driver could pass.
#[derive(Debug, Clone, Copy, Arbitrary)]
enum Amount {
    Zero,
    Small(u8),
    Mid(u16),
    Big(u32),
    Negative,
    NaN,
    Infinite,
    Huge,
}

impl Amount {
    fn get(self) -> f64 {
        match self {
            Amount::Zero => 0.0,
            Amount::Small(v) => f64::from(v),
            Amount::Mid(v) => f64::from(v),
            Amount::Big(v) => f64::from(v),
            Amount::Negative => -5.0,
            Amount::NaN => f64::NAN,
            Amount::Infinite => f64::INFINITY,
            Amount::Huge => 1e300,
        }
    }
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Status {
    Ok,
    RateLimited,
    Overloaded,
    Unavailable,
    Server(u8),
    Client(u8),
    Any(u16),
}

impl Status {
    fn get(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::RateLimited => 429,
            Status::Overloaded => 529,
            Status::Unavailable => 503,
            Status::Server(v) => 500 + u16::from(v % 30),
            Status::Client(v) => 400 + u16::from(v % 30),
            Status::Any(v) => v,
        }
    }
}

/// Names of the headers the parser knows, and one it does not.
const NAMES: &[&str] = &[
    "retry-after",
    "retry-after-ms",
    "x-should-retry",
    "date",
    "anthropic-ratelimit-requests-limit",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-tokens-limit",
    "anthropic-ratelimit-tokens-remaining",
    "anthropic-ratelimit-tokens-reset",
    "anthropic-ratelimit-input-tokens-limit",
    "anthropic-ratelimit-input-tokens-remaining",
    "anthropic-ratelimit-input-tokens-reset",
    "anthropic-ratelimit-output-tokens-limit",
    "anthropic-ratelimit-output-tokens-remaining",
    "anthropic-ratelimit-output-tokens-reset",
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
    "ratelimit-policy",
    "ratelimit",
    "x-unknown",
];

/// A header value: the shapes servers send, relative to the engine's clock, or raw text.
#[derive(Debug, Clone, Arbitrary)]
enum Value {
    Int(u32),
    Small(u8),
    Decimal(u16, u8),
    /// A Go duration of this many ms.
    Go(u32),
    /// An HTTP-date this many seconds from now.
    HttpDate(i16),
    /// An RFC 3339 time this many seconds from now.
    Rfc3339(i16),
    /// An IETF policy `q`, `w`.
    Policy(u16, u16),
    /// An IETF limit `r`, `t`.
    Limit(u16, u16),
    Bool(bool),
    Raw(String),
}

impl Value {
    fn text(&self, now: f64) -> String {
        let at = |secs: i16| {
            let ms = (now + f64::from(secs) * 1000.0).max(0.0);
            UNIX_EPOCH + Duration::from_millis(ms as u64)
        };
        match self {
            Value::Int(v) => v.to_string(),
            Value::Small(v) => v.to_string(),
            Value::Decimal(a, b) => format!("{a}.{b}"),
            Value::Go(ms) => {
                let (m, s, r) = (ms / 60_000, ms / 1000 % 60, ms % 1000);
                match ms % 3 {
                    0 => format!("{}ms", ms),
                    1 => format!("{m}m{s}.{r:03}s"),
                    _ => format!("{}.{:03}s", ms / 1000, r),
                }
            }
            Value::HttpDate(s) => httpdate::fmt_http_date(at(*s)),
            Value::Rfc3339(s) => humantime::format_rfc3339_seconds(at(*s)).to_string(),
            Value::Policy(q, w) => format!("\"default\";q={q};w={w}"),
            Value::Limit(r, t) => format!("\"default\";r={r};t={t}"),
            Value::Bool(b) => b.to_string(),
            Value::Raw(s) => s.clone(),
        }
    }
}

/// The error body of a response, as the driver extracts it.
#[derive(Debug, Clone, Copy, Arbitrary)]
enum Error {
    None,
    RateLimit,
    Overloaded,
    SpendLimit,
    InsufficientQuota,
    Other,
}

impl Error {
    fn get(self) -> Option<ErrorInfo> {
        let e = |t: &str, c: Option<&str>| ErrorInfo {
            error_type: Some(t.into()),
            code: c.map(String::from),
            ..ErrorInfo::default()
        };
        match self {
            Error::None => None,
            Error::RateLimit => Some(e("rate_limit_error", None)),
            Error::Overloaded => Some(e("overloaded_error", None)),
            Error::SpendLimit => Some(e("rate_limit_error", Some("enforced_spend_limit_reached"))),
            Error::InsufficientQuota => Some(e("insufficient_quota", Some("insufficient_quota"))),
            Error::Other => Some(e("invalid_request_error", Some("whatever"))),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Op {
    Submit {
        input: Amount,
        max_tokens: Option<Amount>,
        priority: i8,
        /// The input is the caller's count (`input_floor` = input), not an estimate.
        counted: bool,
    },
    Poll,
    Advance(u16),
    AdvanceLong(u32),
    Back(u8),
    Wake,
    Respond {
        pick: u8,
        status: Status,
        headers: Vec<(u8, Value)>,
        error: Error,
        u: u16,
    },
    NetworkError {
        pick: u8,
        u: u16,
    },
    Done {
        pick: u8,
        usage: Option<[Amount; 4]>,
    },
    Abort(u8),
    NotReplayable(u8),
    /// `fetch` refuses a call's request itself: its next network error ends it.
    Invalid(u8),
    Close,
}

// ---------------------------------------------------------------------------------------------
// The model and the driver.

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// Queued or backing off; `held`: the driver holds a response of the last attempt.
    Waiting {
        held: bool,
    },
    InFlight,
    /// A 2xx was delivered; its body is being read.
    Delivered,
    Ended,
}

#[derive(Debug)]
struct Call {
    state: State,
    attempts: u32,
    deadline: Option<f64>,
    /// What each attempt reserves: input and output tokens, and the least input (an input
    /// estimate over a capacity is lowered to it, never below the floor).
    cost: (f64, f64, f64),
    /// In flight, the driver still holds the response of the attempt before (kept until this
    /// one answers): a deadline delivers it.
    held_before: bool,
}

/// What the statistics must say.
#[derive(Debug, Default)]
struct Counts {
    requests: u64,
    attempts: u64,
    retries: u64,
    rate_limited: u64,
    overloaded: u64,
    server_errors: u64,
    network_errors: u64,
    /// Input reserved: at least the floors, at most the estimates.
    input_reserved: (f64, f64),
    /// Output reserved: at most the requests' own.
    output_reserved: f64,
    input_used: f64,
    output_used: f64,
}

struct Harness {
    engine: Engine,
    config: Config,
    now: f64,
    calls: BTreeMap<Id, Call>,
    closed: bool,
    counts: Counts,
    /// The engine's clock less ours: the sum of our steps back. The engine's clock never runs
    /// back (a step back is time standing still, and later times are shifted by it); sends
    /// and deadlines are on it (`now + shift`).
    shift: f64,
    /// When each attempt was sent, on the engine's clock.
    sends: Vec<f64>,
    /// A 429 or 529 gave a request back to the buckets.
    refunded: bool,
    /// The latest end of a wait a 429, 529 or 503 stated (header or body), on the engine's
    /// clock: a waiting call whose deadline it passes may time out at once.
    stated_pause: f64,
}

impl Harness {
    fn new(config: Config) -> Self {
        let mut engine = Engine::new(config.clone(), T0);
        engine.set_record_events(true);
        Harness {
            engine,
            config,
            now: T0,
            calls: BTreeMap::new(),
            closed: false,
            counts: Counts::default(),
            shift: 0.0,
            sends: Vec::new(),
            refunded: false,
            stated_pause: f64::NEG_INFINITY,
        }
    }

    /// The `pick`-th call (in id order) among those in `state`, if any.
    fn pick(&self, pick: u8, state: State) -> Option<Id> {
        let ids: Vec<Id> = self
            .calls
            .iter()
            .filter(|(_, c)| c.state == state)
            .map(|(&id, _)| id)
            .collect();
        (!ids.is_empty()).then(|| ids[usize::from(pick) % ids.len()])
    }

    /// Any call ever submitted (ended ones included), or an id never given out.
    fn pick_any(&self, pick: u8) -> Id {
        let n = self.calls.len() as u64 + 1;
        u64::from(pick) % n + 1
    }

    fn call(&mut self, id: Id) -> &mut Call {
        self.calls
            .get_mut(&id)
            .unwrap_or_else(|| panic!("an action for call {id}, never submitted"))
    }

    fn end(&mut self, id: Id, how: &str) {
        let c = self.call(id);
        assert_ne!(c.state, State::Ended, "call {id} ended twice ({how})");
        c.state = State::Ended;
    }

    /// What the engine reserves per attempt of `request` (`Engine::cost_of`): sane token
    /// counts (capped at `Usage::MAX_TOKENS`), else 0; the input floor at most the input.
    fn cost(&self, request: &Request) -> (f64, f64, f64) {
        let clean = |v: f64| {
            if v.is_finite() && v > 0.0 {
                v.min(Usage::MAX_TOKENS)
            } else {
                0.0
            }
        };
        let output = match self.config.output_reservation {
            OutputReservation::MaxTokens => request.max_tokens.map_or(0.0, clean),
            OutputReservation::None => 0.0,
            OutputReservation::Fixed(n) => n,
        };
        let input = clean(request.input_tokens);
        (input, output, clean(request.input_floor).min(input))
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::Submit {
                input,
                max_tokens,
                priority,
                counted,
            } => {
                let request = Request {
                    input_tokens: input.get(),
                    input_floor: if *counted { input.get() } else { 0.0 },
                    max_tokens: max_tokens.map(Amount::get),
                    priority: i32::from(*priority),
                    ..Request::default()
                };
                match self.engine.submit(self.now, request.clone()) {
                    Ok(id) => {
                        assert!(!self.closed, "a submit after close was accepted");
                        assert!(!self.calls.contains_key(&id), "id {id} given twice");
                        self.counts.requests += 1;
                        let deadline = self.config.timeout_ms.map(|t| self.now + self.shift + t);
                        let cost = self.cost(&request);
                        self.calls.insert(
                            id,
                            Call {
                                state: State::Waiting { held: false },
                                attempts: 0,
                                deadline,
                                cost,
                                held_before: false,
                            },
                        );
                    }
                    Err(e) => {
                        assert!(self.closed, "submit refused while open: {e:?}");
                        assert_eq!(e, CallError::Closed);
                    }
                }
                // The drivers poll after every submit.
                self.pump();
            }
            Op::Poll => self.pump(),
            Op::Advance(ms) => {
                self.now += f64::from(*ms);
                self.pump();
            }
            Op::AdvanceLong(ms) => {
                self.now += f64::from(*ms % 86_400_000);
                self.pump();
            }
            Op::Back(ms) => {
                // The engine takes a step back as time standing still, and shifts later
                // times by it: deadlines run on that clock.
                self.now -= f64::from(*ms);
                self.shift += f64::from(*ms);
                self.pump();
            }
            Op::Wake => {
                if let Some(w) = self.engine.next_wake() {
                    self.now = self.now.max(w);
                }
                self.pump();
            }
            Op::Respond {
                pick,
                status,
                headers,
                error,
                u,
            } => {
                // Mostly a call on the wire; now and then any id (a stale response).
                let id = if pick & 0x80 == 0 {
                    self.pick(*pick, State::InFlight)
                } else {
                    Some(self.pick_any(*pick))
                };
                if let Some(id) = id {
                    let texts: Vec<(&str, String)> = headers
                        .iter()
                        .take(16)
                        .map(|(n, v)| (NAMES[usize::from(*n) % NAMES.len()], v.text(self.now)))
                        .collect();
                    let info = parse(texts.iter().map(|(n, v)| (*n, v.as_str())), self.now);
                    self.respond(id, status.get(), &info, error.get(), unit(*u));
                    self.pump();
                }
            }
            Op::NetworkError { pick, u } => {
                let id = if pick & 0x80 == 0 {
                    self.pick(*pick, State::InFlight)
                } else {
                    Some(self.pick_any(*pick))
                };
                if let Some(id) = id {
                    self.network_error(id, unit(*u));
                    self.pump();
                }
            }
            Op::Done { pick, usage } => {
                if let Some(id) = self.pick(*pick, State::Delivered) {
                    let usage = usage.map(|a| Usage {
                        input_tokens: a[0].get(),
                        cache_creation_input_tokens: a[1].get(),
                        cache_read_input_tokens: a[2].get(),
                        output_tokens: a[3].get(),
                    });
                    self.engine.on_done(self.now, id, usage);
                    if let Some(u) = usage.and_then(Usage::sanitized) {
                        self.counts.input_used += u.metered_input();
                        self.counts.output_used += u.output_tokens;
                    }
                    self.end(id, "on_done");
                    self.pump();
                }
            }
            Op::Abort(pick) => {
                let id = self.pick_any(*pick);
                let live = self.calls.get(&id).is_some_and(|c| c.state != State::Ended);
                assert_eq!(self.engine.abort(self.now, id), live, "abort of {id}");
                if live {
                    self.end(id, "abort");
                }
                self.pump();
            }
            Op::NotReplayable(pick) => {
                self.engine.not_replayable(self.pick_any(*pick));
            }
            Op::Invalid(pick) => {
                self.engine.invalid(self.pick_any(*pick));
            }
            Op::Close => {
                self.closed = true;
                let actions = self.engine.close(self.now);
                for a in actions {
                    self.apply(a);
                }
                self.pump();
            }
        }
    }

    fn respond(
        &mut self,
        id: Id,
        status: u16,
        info: &RateLimitInfo,
        error: Option<ErrorInfo>,
        u: f64,
    ) {
        let state = self.calls.get(&id).map(|c| c.state);
        let v = self
            .engine
            .on_response(self.now, id, status, info, error.as_ref(), u);
        if state != Some(State::InFlight) {
            assert_eq!(v, Verdict::Unknown, "a response for call {id} in {state:?}");
            return;
        }
        self.refunded |= status == 429 || status == 529;
        if matches!(status, 429 | 503 | 529) {
            let stated = info
                .retry_after_ms
                .or(error.as_ref().and_then(|e| e.hint_ms));
            if let Some(h) = stated.filter(|h| h.is_finite()) {
                self.stated_pause = self.stated_pause.max(self.now + self.shift + h);
            }
        }
        match status {
            429 => self.counts.rate_limited += 1,
            529 => self.counts.overloaded += 1,
            500..=599 => self.counts.server_errors += 1,
            _ => {}
        }
        let spend = error.as_ref().is_some_and(|e| {
            e.code.as_deref() == Some("enforced_spend_limit_reached")
                || e.code.as_deref() == Some("insufficient_quota")
        });
        match v {
            Verdict::Deliver if (100..400).contains(&status) => {
                self.call(id).state = State::Delivered;
            }
            Verdict::Deliver => self.end(id, "delivered"),
            Verdict::Retry { at_ms } => {
                assert!(!(100..400).contains(&status), "a {status} retried");
                assert!(!spend, "a spend-limit / quota error retried");
                assert_ne!(
                    info.should_retry,
                    Some(false),
                    "x-should-retry: false retried"
                );
                self.check_retry(id, at_ms, info.retry_after_ms);
                self.counts.retries += 1;
                let c = self.call(id);
                c.state = State::Waiting { held: true };
            }
            Verdict::Fail(e) => panic!("a response failed the call: {e:?}"),
            Verdict::Unknown => panic!("call {id} in flight is unknown"),
        }
    }

    fn network_error(&mut self, id: Id, u: f64) {
        let state = self.calls.get(&id).map(|c| c.state);
        let v = self.engine.on_network_error(self.now, id, u);
        if state != Some(State::InFlight) {
            assert_eq!(
                v,
                Verdict::Unknown,
                "a network error for call {id} in {state:?}"
            );
            return;
        }
        self.counts.network_errors += 1;
        match v {
            Verdict::Retry { at_ms } => {
                self.check_retry(id, at_ms, None);
                self.counts.retries += 1;
                self.call(id).state = State::Waiting { held: false };
            }
            Verdict::Fail(CallError::Network) => self.end(id, "network"),
            Verdict::Fail(CallError::Timeout) => {
                let d = self.calls[&id].deadline;
                assert!(d.is_some(), "TIMEOUT without a timeout");
                self.end(id, "timeout");
            }
            other => panic!("{other:?} for a network error"),
        }
    }

    /// A retry at `at_ms` for call `id`: within the documented bounds.
    fn check_retry(&self, id: Id, at_ms: f64, hint: Option<f64>) {
        let retry = &self.config.retry;
        assert!(!self.closed, "a retry after close");
        let c = &self.calls[&id];
        assert!(c.attempts <= retry.max_retries, "retry beyond maxRetries");
        // Absolute times: `now + wait` rounds (a hint of 1e-90 ms is no wait at all).
        let now = self.now;
        assert!(
            at_ms.is_finite() && at_ms >= now,
            "retry at {at_ms}, now {now}"
        );
        match hint {
            Some(h) => {
                assert!(h <= retry.max_retry_after_ms, "a hint of {h} ms waited on");
                let most = h + (h / 10.0).min(1_000.0);
                assert!(
                    at_ms >= now + h && at_ms <= now + most,
                    "retry at now + {} for a hint of {h}",
                    at_ms - now
                );
            }
            None => {
                let most = retry.backoff.max_delay_ms + 1_000.0;
                assert!(at_ms <= now + most, "backoff {} > {most}", at_ms - now);
            }
        }
        if let Some(d) = c.deadline {
            let at = at_ms + self.shift;
            assert!(at <= d, "a retry at {at} past the deadline {d}");
        }
    }

    /// Carry out one action of `poll` or `close`.
    fn apply(&mut self, a: Action) {
        match a {
            Action::Send { id, attempt } => {
                let cap = self.config.concurrency;
                let c = self.call(id);
                assert!(
                    matches!(c.state, State::Waiting { .. }),
                    "send of call {id} in {:?}",
                    c.state
                );
                assert_eq!(attempt, c.attempts + 1, "attempt number of {id}");
                c.attempts = attempt;
                c.held_before = c.state == State::Waiting { held: true };
                c.state = State::InFlight;
                let (input, output, floor) = c.cost;
                self.counts.attempts += 1;
                self.counts.input_reserved.0 += floor;
                self.counts.input_reserved.1 += input;
                self.counts.output_reserved += output;
                self.sends.push(self.now + self.shift);
                if let Some(cap) = cap {
                    let busy = self
                        .calls
                        .values()
                        .filter(|c| matches!(c.state, State::InFlight | State::Delivered))
                        .count();
                    assert!(busy as u32 <= cap, "{busy} in flight, cap {cap}");
                }
            }
            Action::Deliver { id } => {
                let c = self.call(id);
                let s = c.state;
                // A waiting call's held response, or, at its deadline, the one an attempt on
                // the wire still keeps.
                let held =
                    s == State::Waiting { held: true } || (s == State::InFlight && c.held_before);
                assert!(held, "deliver of call {id} in {s:?}");
                self.end(id, "deliver");
            }
            Action::Fail { id, error } => {
                let (s, deadline) = (self.call(id).state, self.calls[&id].deadline);
                let (_, output, floor) = self.calls[&id].cost;
                match error {
                    CallError::Timeout => {
                        let now = self.now + self.shift;
                        // At the deadline, or before it when a wait the server stated passes it.
                        assert!(
                            deadline.is_some_and(|d| d <= now || d <= self.stated_pause),
                            "TIMEOUT before the deadline {deadline:?} (now {now})"
                        );
                        let held_before = self.calls[&id].held_before;
                        assert!(
                            (s == State::InFlight && !held_before)
                                || s == State::Waiting { held: false },
                            "TIMEOUT of call {id} in {s:?}, a response held: {held_before}"
                        );
                    }
                    CallError::WaitPastDeadline { hint_ms } => {
                        assert!(
                            deadline.is_some_and(|d| d <= self.stated_pause),
                            "a stated wait of {hint_ms} ms does not pass the deadline {deadline:?}"
                        );
                        assert!(hint_ms <= self.config.retry.max_retry_after_ms);
                        assert_eq!(s, State::Waiting { held: false });
                    }
                    CallError::Closed => {
                        assert!(self.closed);
                        assert_eq!(s, State::Waiting { held: false });
                    }
                    CallError::RetryAfterTooLong { hint_ms } => {
                        assert!(hint_ms > self.config.retry.max_retry_after_ms);
                        assert_eq!(s, State::Waiting { held: false });
                    }
                    CallError::TooLarge {
                        dim,
                        cost,
                        capacity,
                        ..
                    } => {
                        assert!(cost > capacity, "too large: {cost} <= {capacity}");
                        // Never on the input estimate: only on what the call surely costs.
                        let sure = match dim {
                            Dim::Requests => 1.0,
                            Dim::InputTokens => floor,
                            Dim::OutputTokens => output,
                            Dim::Tokens => floor + output,
                        };
                        assert!(sure > capacity, "{dim:?} too large on an estimate: {cost}");
                        assert_eq!(s, State::Waiting { held: false });
                    }
                    CallError::Network => panic!("a poll failed call {id} with NETWORK"),
                }
                self.end(id, "fail");
            }
            Action::Reserve { id, .. } => panic!("reserve of call {id} without a store"),
            Action::ProbeStore { .. } => panic!("store probe without a store"),
        }
    }

    /// Poll until nothing more happens now, as the drivers do; then the wake time must lie
    /// ahead.
    fn pump(&mut self) {
        for _ in 0..1_000 {
            let actions = self.engine.poll(self.now);
            if actions.is_empty() {
                let wake = self.engine.next_wake();
                if let Some(w) = wake {
                    assert!(
                        w > self.now,
                        "next_wake {w} not ahead of now {} after an idle poll (busy loop)",
                        self.now
                    );
                }
                return;
            }
            for a in actions {
                self.apply(a);
            }
        }
        panic!("poll keeps acting at one instant");
    }

    fn count(&self, f: impl Fn(State) -> bool) -> u64 {
        self.calls.values().filter(|c| f(c.state)).count() as u64
    }

    /// The invariants that hold between operations.
    fn check_state(&mut self) {
        let s = self.engine.stats();
        let c = &self.counts;
        assert_eq!(
            (s.requests, s.attempts, s.retries),
            (c.requests, c.attempts, c.retries),
            "requests, attempts, retries"
        );
        assert_eq!(
            (
                s.rate_limited,
                s.overloaded,
                s.server_errors,
                s.network_errors
            ),
            (
                c.rate_limited,
                c.overloaded,
                c.server_errors,
                c.network_errors
            ),
            "status counters"
        );
        let waiting = self.count(|s| matches!(s, State::Waiting { .. }));
        let busy = self.count(|s| matches!(s, State::InFlight | State::Delivered));
        assert_eq!(s.queued, waiting, "queued");
        assert_eq!(s.in_flight, busy, "in flight");
        assert_eq!(
            self.engine.live_calls() as u64,
            waiting + busy,
            "live calls"
        );
        for v in [
            s.input_tokens_reserved,
            s.output_tokens_reserved,
            s.input_tokens_used,
            s.output_tokens_used,
            s.wait_ms,
        ] {
            assert!(v.is_finite() && v >= 0.0, "stats {s:?}");
        }
        // At most what the requests state: a `max_tokens` above what a bucket holds is
        // lowered to it while the server's metering is not known.
        assert!(
            s.output_tokens_reserved <= c.output_reserved * (1.0 + 1e-9),
            "output reserved {} above {}",
            s.output_tokens_reserved,
            c.output_reserved
        );
        let (floor, most) = c.input_reserved;
        let slack = 1e-9 * most;
        assert!(
            floor - slack <= s.input_tokens_reserved && s.input_tokens_reserved <= most + slack,
            "input reserved {} outside [{floor}, {most}]",
            s.input_tokens_reserved
        );
        assert_eq!(
            (s.input_tokens_used, s.output_tokens_used),
            (c.input_used, c.output_used),
            "tokens used"
        );
        self.check_rpm();
        let wake = self.engine.next_wake();
        if let Some(w) = wake {
            assert!(w.is_finite(), "next_wake {w}");
        }
        if waiting > 0 && busy == 0 {
            assert!(
                wake.is_some(),
                "{waiting} calls wait, none in flight, no wake: a stall"
            );
        }
        for e in self.engine.drain_events() {
            assert!(
                e.delay_ms.is_finite() && e.delay_ms >= 0.0 && e.at_ms.is_finite(),
                "event {e:?}"
            );
        }
        // Every reservation in flight ends once (settled, refunded or lost): with no call
        // out, none is left.
        if busy == 0 {
            for k in self.engine.limits(self.now) {
                let limiter = self.engine.limiter(&k.key).expect("listed");
                for dim in Dim::ALL {
                    let n = limiter.in_flight(dim);
                    let tol = 1e-9 * (1.0 + c.output_reserved + c.input_reserved.1);
                    assert!(n <= tol, "{n} of {dim:?} in flight, no call out");
                }
            }
        }
        for d in self
            .engine
            .limits(self.now)
            .into_iter()
            .flat_map(|k| k.dims)
        {
            assert!(
                d.limit.is_finite()
                    && d.limit > 0.0
                    && d.remaining.is_finite()
                    && d.reset_at_ms.is_finite(),
                "limits {d:?}"
            );
        }
    }

    /// No more attempts than a configured RPM allows: the bucket's capacity plus its refill,
    /// over any stretch of time. (Refunds of 429s and 529s give requests back: not checked
    /// then.)
    fn check_rpm(&self) {
        let Some(rpm) = self.config.limits.rpm else {
            return;
        };
        if self.refunded || self.sends.is_empty() {
            return;
        }
        let last = self.sends.len() - 1;
        let t = self.sends[last];
        // Only the newest send needs checking: the older ones were checked when they came.
        for (i, &s) in self.sends.iter().enumerate() {
            let allowed = rpm + rpm * (t - s) / 60_000.0;
            let n = (last - i + 1) as f64;
            assert!(
                n <= allowed * (1.0 + 1e-9) + 1e-9,
                "{n} attempts in {} ms under {rpm} RPM (sends {:?})",
                t - s,
                self.sends
            );
        }
    }

    /// Serve everything: every call must end.
    fn drain(&mut self) {
        for _ in 0..MAX_DRAIN_STEPS {
            for id in self.ids(State::InFlight) {
                self.respond(id, 200, &RateLimitInfo::default(), None, 0.5);
            }
            for id in self.ids(State::Delivered) {
                self.engine.on_done(self.now, id, None);
                self.end(id, "on_done");
            }
            self.pump();
            self.check_state();
            if self.calls.values().all(|c| c.state == State::Ended) {
                assert_eq!(self.engine.live_calls(), 0);
                return;
            }
            if self.count(|s| s == State::InFlight) > 0 {
                continue;
            }
            let w = self
                .engine
                .next_wake()
                .expect("calls wait and nothing can wake them");
            self.now = self.now.max(w);
        }
        panic!("calls still live after {MAX_DRAIN_STEPS} steps of the drain");
    }

    fn ids(&self, state: State) -> Vec<Id> {
        self.calls
            .iter()
            .filter(|(_, c)| c.state == state)
            .map(|(&id, _)| id)
            .collect()
    }
}

/// A draw in `[0, 1)`.
fn unit(u: u16) -> f64 {
    f64::from(u) / 65_536.0
}
