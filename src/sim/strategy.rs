//! Client strategies: how a client decides when to send, and what to do with an answer.
//!
//! Each client of a scenario runs its own instance of one strategy. The event loop drives it
//! through [`Client`]: a request arrives, a response arrives, a timer the strategy set fires.
//! The strategy answers through a [`Cx`]: send a request, declare it done or failed, set a
//! timer, draw a random number from the client's own seeded stream.
//!
//! The baselines are transcribed from the usual recipes; each holds one of its
//! `concurrency` slots for a request from its first attempt to its last (sleeps included), as
//! a semaphore around a retrying call does, except the token window, which frees the slot
//! when an attempt's answer arrives and requeues the request (as the cookbook does).

use super::server::{Body, Response};
use super::workload::RequestSpec;
use crate::core::limiter::Limits;
use crate::core::Ms;
use fastrand::Rng;
use std::collections::{HashMap, VecDeque};
use std::fmt;

/// The strategies the simulator compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StrategyKind {
    /// llm-pacer itself: [`crate::core::call::Engine`], driven as the Wasm driver drives it.
    Pacer,
    /// Exponential backoff: 1 s doubling, `+ U[0, 1 s)` jitter, capped at 60 s, 7 attempts,
    /// no admission control.
    NaiveBackoff,
    /// A 60 s sliding window of the client's own requests and tokens (output counted as
    /// `max_tokens`), checked again every 2 s when full; after a 429, everything pauses 15 s
    /// and the request is requeued, at most 5 attempts (the OpenAI cookbook's parallel
    /// processor).
    TokenWindow,
    /// The official SDKs' retry: 2 retries, `min(0.5 * 2^n, 8) s * (1 - 0.25 U)` with `n`
    /// the retries so far, or the server's `retry-after` when it is from 0 to 60 s; retries
    /// 408, 409, 429, 5xx and 529.
    SdkDefault,
}

impl StrategyKind {
    /// Every strategy, in report order.
    pub const ALL: [StrategyKind; 4] = [
        StrategyKind::Pacer,
        StrategyKind::NaiveBackoff,
        StrategyKind::TokenWindow,
        StrategyKind::SdkDefault,
    ];

    /// A short name: `llm-pacer`, `naive-backoff`, `token-window`, `sdk-default`.
    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::Pacer => "llm-pacer",
            StrategyKind::NaiveBackoff => "naive-backoff",
            StrategyKind::TokenWindow => "token-window",
            StrategyKind::SdkDefault => "sdk-default",
        }
    }

    /// The strategy named `name` (as [`StrategyKind::name`] spells it).
    pub fn from_name(name: &str) -> Option<StrategyKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a strategy asks the event loop to do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Effect {
    /// Send (an attempt of) request `.0` to the server now.
    Send(usize),
    /// Request `.0` succeeded: its response is with the caller.
    Done(usize),
    /// Request `.0` is given up on (no success).
    Fail(usize),
    /// Call [`Client::timer`] with tag `.1` at time `.0`.
    Timer(Ms, u64),
}

/// The strategy's view of the world during one callback.
pub(crate) struct Cx<'a> {
    /// Now, epoch ms.
    pub now: Ms,
    /// The client's own random stream.
    pub rng: &'a mut Rng,
    /// The whole workload (a strategy only ever sees its own requests' indices).
    pub reqs: &'a [RequestSpec],
    pub(crate) effects: &'a mut Vec<Effect>,
}

impl Cx<'_> {
    pub fn send(&mut self, req: usize) {
        self.effects.push(Effect::Send(req));
    }
    pub fn done(&mut self, req: usize) {
        self.effects.push(Effect::Done(req));
    }
    pub fn fail(&mut self, req: usize) {
        self.effects.push(Effect::Fail(req));
    }
    /// A timer at `at_ms` (not earlier than now).
    pub fn timer(&mut self, at_ms: Ms, tag: u64) {
        self.effects.push(Effect::Timer(at_ms.max(self.now), tag));
    }
}

/// One client running one strategy.
pub(crate) trait Client {
    /// Request `req` arrived at this client.
    fn arrive(&mut self, cx: &mut Cx<'_>, req: usize);
    /// The response to the last attempt of `req` arrived (a stream's: its end, with the
    /// usage).
    fn respond(&mut self, cx: &mut Cx<'_>, req: usize, resp: &Response);
    /// The head of a stream answering `req` arrived, with these headers; its end comes
    /// through [`Client::respond`]. The baselines wait for the end.
    fn head(&mut self, _cx: &mut Cx<'_>, _req: usize, _headers: &[(String, String)]) {}
    /// A timer set with `tag` fired.
    fn timer(&mut self, cx: &mut Cx<'_>, tag: u64);
}

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// The retry policies of the slot-holding baselines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryPolicy {
    Naive,
    Sdk,
}

impl RetryPolicy {
    fn max_attempts(self) -> u32 {
        match self {
            RetryPolicy::Naive => 7,
            RetryPolicy::Sdk => 3,
        }
    }

    /// The delay before the next attempt, ms, or `None` to give up on this response.
    /// `attempts` is the number of attempts made so far (>= 1).
    fn next_delay(self, resp: &Response, attempts: u32, now_ms: Ms, rng: &mut Rng) -> Option<Ms> {
        if attempts >= self.max_attempts() {
            return None;
        }
        match self {
            RetryPolicy::Naive => {
                if !(resp.status == 408 || resp.status == 429 || resp.status >= 500) {
                    return None;
                }
                // Retry n (1-based) waits min(1 s * 2^(n-1), 60 s) + U[0, 1 s).
                let n = attempts;
                let base = (1_000.0 * 2f64.powi(n as i32 - 1)).min(60_000.0);
                Some(base + 1_000.0 * rng.f64())
            }
            RetryPolicy::Sdk => {
                let retry = match resp.header("x-should-retry") {
                    Some("true") => true,
                    Some("false") => false,
                    _ => matches!(resp.status, 408 | 409 | 429) || resp.status >= 500,
                };
                if !retry {
                    return None;
                }
                if let Some(hint) = sdk_retry_after(resp, now_ms) {
                    if (0.0..=60_000.0).contains(&hint) {
                        return Some(hint);
                    }
                }
                // n = retries made so far (0 before the first retry).
                let n = attempts - 1;
                let secs = (0.5 * 2f64.powi(n as i32)).min(8.0);
                Some(secs * (1.0 - 0.25 * rng.f64()) * 1_000.0)
            }
        }
    }
}

/// The SDKs' reading of the hint: `retry-after-ms`, else `retry-after` as seconds, else as an
/// HTTP-date (against the client's clock).
fn sdk_retry_after(resp: &Response, now_ms: Ms) -> Option<Ms> {
    if let Some(ms) = resp
        .header("retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        return Some(ms);
    }
    let v = resp.header("retry-after")?.trim();
    if let Ok(s) = v.parse::<f64>() {
        return Some(s * 1_000.0);
    }
    Some(crate::core::time::parse_http_date(v)? - now_ms)
}

/// Attempts made per request, for the requests under way only: a client holds as many as it
/// has in flight or waiting to retry, not one per request of the whole workload (which, times
/// the clients, would grow as clients x requests).
#[derive(Default)]
struct Attempts(HashMap<usize, u32>);

impl Attempts {
    /// One more attempt of `r`; how many it has made now.
    fn bump(&mut self, r: usize) -> u32 {
        let n = self.0.entry(r).or_insert(0);
        *n += 1;
        *n
    }
    /// How many attempts `r` has made.
    fn of(&self, r: usize) -> u32 {
        self.0.get(&r).copied().unwrap_or(0)
    }
    /// `r` is over.
    fn end(&mut self, r: usize) {
        self.0.remove(&r);
    }
}

/// "Naive backoff" and "SDK default": a pool of `concurrency` slots, each holding one request
/// through all its attempts and sleeps.
pub(crate) struct SlotRetry {
    policy: RetryPolicy,
    concurrency: usize,
    active: usize,
    queue: VecDeque<usize>,
    attempts: Attempts,
}

impl SlotRetry {
    pub fn new(policy: RetryPolicy, concurrency: u32) -> Self {
        SlotRetry {
            policy,
            concurrency: concurrency.max(1) as usize,
            active: 0,
            queue: VecDeque::new(),
            attempts: Attempts::default(),
        }
    }

    fn fill(&mut self, cx: &mut Cx<'_>) {
        while self.active < self.concurrency {
            let Some(r) = self.queue.pop_front() else {
                break;
            };
            self.active += 1;
            self.attempts.bump(r);
            cx.send(r);
        }
    }
}

impl Client for SlotRetry {
    fn arrive(&mut self, cx: &mut Cx<'_>, req: usize) {
        self.queue.push_back(req);
        self.fill(cx);
    }

    fn respond(&mut self, cx: &mut Cx<'_>, req: usize, resp: &Response) {
        if is_success(resp.status) {
            cx.done(req);
        } else if let Some(d) = self
            .policy
            .next_delay(resp, self.attempts.of(req), cx.now, cx.rng)
        {
            cx.timer(cx.now + d, req as u64);
            return;
        } else {
            cx.fail(req);
        }
        self.attempts.end(req);
        self.active -= 1;
        self.fill(cx);
    }

    fn timer(&mut self, cx: &mut Cx<'_>, tag: u64) {
        let r = tag as usize;
        self.attempts.bump(r);
        cx.send(r);
    }
}

/// The token-window baseline (see [`StrategyKind::TokenWindow`]).
pub(crate) struct TokenWindow {
    limits: Limits,
    concurrency: usize,
    in_flight: usize,
    /// (sent at, input tokens, output estimate) of every attempt sent in the last 60 s.
    window: VecDeque<(Ms, f64, f64)>,
    input_sum: f64,
    output_sum: f64,
    queue: VecDeque<usize>,
    retry_queue: VecDeque<usize>,
    attempts: Attempts,
    paused_until: Ms,
    timer_at: Option<Ms>,
    generation: u64,
}

impl TokenWindow {
    /// Look-back of the window, ms.
    pub const WINDOW_MS: Ms = 60_000.0;
    /// How often a blocked client looks again, ms.
    pub const POLL_MS: Ms = 2_000.0;
    /// The pause after a 429, ms.
    pub const PAUSE_MS: Ms = 15_000.0;
    /// Attempts per request.
    pub const MAX_ATTEMPTS: u32 = 5;

    pub fn new(limits: Limits, concurrency: u32) -> Self {
        TokenWindow {
            limits,
            concurrency: concurrency.max(1) as usize,
            in_flight: 0,
            window: VecDeque::new(),
            input_sum: 0.0,
            output_sum: 0.0,
            queue: VecDeque::new(),
            retry_queue: VecDeque::new(),
            attempts: Attempts::default(),
            paused_until: f64::NEG_INFINITY,
            timer_at: None,
            generation: 0,
        }
    }

    /// Set the one timer to `at_ms` unless one is pending no later.
    fn wake_at(&mut self, cx: &mut Cx<'_>, at_ms: Ms) {
        if self.timer_at.is_some_and(|t| t > cx.now && t <= at_ms) {
            return;
        }
        self.generation += 1;
        self.timer_at = Some(at_ms);
        cx.timer(at_ms, self.generation);
    }

    /// Does a request of `(input, output)` fit limits of which `used` = (requests, input,
    /// output) are taken?
    fn fits(limits: &Limits, used: (f64, f64, f64), input: f64, output: f64) -> bool {
        let ok = |limit: Option<f64>, used: f64, cost: f64| limit.is_none_or(|l| used + cost <= l);
        ok(limits.rpm, used.0, 1.0)
            && ok(limits.itpm, used.1, input)
            && ok(limits.otpm, used.2, output)
            && ok(limits.tpm, used.1 + used.2, input + output)
    }

    fn pump(&mut self, cx: &mut Cx<'_>) {
        while let Some(&(t, i, o)) = self.window.front() {
            if t > cx.now - Self::WINDOW_MS {
                break;
            }
            self.window.pop_front();
            self.input_sum -= i;
            self.output_sum -= o;
        }
        if self.window.is_empty() {
            // No drift from float sums.
            self.input_sum = 0.0;
            self.output_sum = 0.0;
        }
        loop {
            let from_retry = !self.retry_queue.is_empty();
            let Some(&r) = self.retry_queue.front().or(self.queue.front()) else {
                return;
            };
            if cx.now < self.paused_until {
                let until = self.paused_until;
                self.wake_at(cx, until);
                return;
            }
            if self.in_flight >= self.concurrency {
                return; // an answer frees a slot and pumps again
            }
            let spec = cx.reqs[r];
            let (input, output) = (f64::from(spec.input_tokens), f64::from(spec.max_tokens));
            if !Self::fits(&self.limits, (0.0, 0.0, 0.0), input, output) {
                // Larger than a whole window: the recipe would wait forever.
                self.pop(from_retry);
                cx.fail(r);
                continue;
            }
            let used = (self.window.len() as f64, self.input_sum, self.output_sum);
            if !Self::fits(&self.limits, used, input, output) {
                let at = cx.now + Self::POLL_MS;
                self.wake_at(cx, at);
                return;
            }
            self.pop(from_retry);
            self.window.push_back((cx.now, input, output));
            self.input_sum += input;
            self.output_sum += output;
            self.attempts.bump(r);
            self.in_flight += 1;
            cx.send(r);
        }
    }

    fn pop(&mut self, from_retry: bool) {
        if from_retry {
            self.retry_queue.pop_front();
        } else {
            self.queue.pop_front();
        }
    }
}

impl Client for TokenWindow {
    fn arrive(&mut self, cx: &mut Cx<'_>, req: usize) {
        self.queue.push_back(req);
        self.pump(cx);
    }

    fn respond(&mut self, cx: &mut Cx<'_>, req: usize, resp: &Response) {
        self.in_flight -= 1;
        if is_success(resp.status) {
            self.attempts.end(req);
            cx.done(req);
        } else if self.attempts.of(req) < Self::MAX_ATTEMPTS {
            if matches!(
                resp.body,
                Body::Error {
                    error_type: "rate_limit_error"
                }
            ) || resp.status == 429
            {
                self.paused_until = self.paused_until.max(cx.now + Self::PAUSE_MS);
            }
            self.retry_queue.push_back(req);
        } else {
            self.attempts.end(req);
            cx.fail(req);
        }
        self.pump(cx);
    }

    fn timer(&mut self, cx: &mut Cx<'_>, tag: u64) {
        if tag != self.generation {
            return; // superseded
        }
        self.timer_at = None;
        self.pump(cx);
    }
}
