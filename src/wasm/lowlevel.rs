//! The lower-level exports, for callers with their own HTTP stack: the core's backoff, limiter,
//! header parser and classifier, each a thin layer over [`crate::core`].
//!
//! The package's JavaScript (`pkg-template/api.js`) wraps them as `Backoff`, `Limiter`,
//! `parseRateLimitHeaders` and `classify`. The boundary is kept narrow and flat, because the
//! default entry's size is budgeted: every exported function costs a shim of its own in the
//! module and in the glue, so there is one class, [`RawLow`], with a constructor and one
//! method, [`RawLow::op`], that takes an operation code, one JavaScript value (a string or an
//! object) and numbers, and returns a number; the numbers an operation gives beyond that stay
//! in a buffer of the instance that `op` code 10 reads, and the package builds its objects
//! from them. No float is formatted here (the formatter alone would weigh some 16 KB), and the
//! options are read by the Pacer's own reader (in the package; see [`super::options`]), so a bad value
//! throws the same `TypeError` / `RangeError` naming the option.
//!
//! Headers come as one string, `name \n value \n name \n value \n ...` (the package flattens a
//! `Headers`, a `Map`, an array of pairs or a plain object into it, line breaks inside a name
//! or value replaced by spaces): one copy across the boundary, whatever the header container.

use super::{body, js, options};
use crate::core::backoff::{with_hint, Backoff, HintDecision};
use crate::core::classify::{classify, FailKind, Outcome, RetryKind};
use crate::core::config::OutputReservation;
use crate::core::headers::MIN_HINT_MS;
use crate::core::headers::{self, whole_ms, Family, RateLimitInfo};
use crate::core::hints;
use crate::core::limiter::{Blocker, Cost, Decision, Limiter, Ticket, Usage};
use crate::core::transit;
use crate::core::usage;
use crate::core::Ms;
use js_sys::Array;
use wasm_bindgen::prelude::*;

type R<T> = Result<T, JsValue>;

/// `v`, or NaN for "absent" (the package omits NaN fields).
fn opt(v: Option<f64>) -> f64 {
    v.unwrap_or(f64::NAN)
}

/// `text` up to the first line break, and the rest after it (`None` when there is none).
fn line(text: &str) -> Option<(&str, &str)> {
    // A byte search (`str::split` brings a searcher of its own into the module) and `get`
    // (indexing brings the panic message's formatting: some 4 KB).
    let i = text.bytes().position(|b| b == b'\n')?;
    Some((text.get(..i)?, text.get(i + 1..)?))
}

/// The `(name, value)` pairs of the flattened headers (see the module docs).
fn pairs(mut text: &str) -> impl Iterator<Item = (&str, &str)> {
    std::iter::from_fn(move || {
        let (name, rest) = line(text)?;
        let (value, rest) = line(rest)?;
        text = rest;
        Some((name, value))
    })
}

/// The headers, parsed as the Pacer parses a response's.
fn parse(text: &str, now_ms: Ms) -> RateLimitInfo {
    headers::parse(pairs(text), now_ms)
}

/// What a [`RawLow`] is: the kind given to its constructor.
// wasm-bindgen keeps the class on the heap: one allocation per instance whatever its size, so
// boxing the limiter would only add a second.
#[allow(clippy::large_enum_variant)]
enum Low {
    /// Kind 0: no state, for the header parser and the classifier.
    Stateless,
    /// Kind 1.
    Backoff(BackoffState),
    /// Kind 2.
    Limiter(LimiterState),
}

/// A jittered exponential backoff: the Pacer's retry delays, one at a time.
struct BackoffState {
    backoff: Backoff,
    max_retries: u32,
    max_retry_after_ms: Ms,
    /// Seeded from `seed`, else from the platform's random source at the first draw (as the
    /// Pacer's: workerd forbids it at global scope).
    rng: Option<fastrand::Rng>,
    /// Delays handed out since the start or the last reset.
    retries: u32,
    /// The last delay handed out (decorrelated jitter grows from it).
    prev_ms: Ms,
}

impl BackoffState {
    /// The delay before the next retry, ms, or `None` when `maxRetries` delays were handed
    /// out or the server's hint is longer than `maxRetryAfterMs` (stop retrying).
    ///
    /// With a hint (at least [`MIN_HINT_MS`]; less, NaN or a negative number is no hint, as a
    /// zero `retry-after` is none to the Pacer) the delay is the Pacer's: at least the hint, at
    /// most 10% and at most 1 s longer. Each call draws one uniform, as the
    /// Pacer draws one per response, so a seeded backoff repeats the seeded Pacer's delays.
    fn next(&mut self, hint_ms: f64) -> Option<Ms> {
        if self.retries >= self.max_retries {
            return None;
        }
        let u = self
            .rng
            .get_or_insert_with(|| fastrand::Rng::with_seed(super::random_seed()))
            .f64();
        let delay = if hint_ms >= MIN_HINT_MS {
            match with_hint(hint_ms, self.max_retry_after_ms, u) {
                HintDecision::Wait(w) => w,
                HintDecision::TooLong { .. } => return None,
            }
        } else {
            self.backoff.delay(self.retries + 1, self.prev_ms, u)
        };
        self.retries += 1;
        self.prev_ms = delay;
        Some(delay)
    }
}

/// The Pacer's limiter (token buckets, headers, pauses) on its own, in explicit time.
struct LimiterState {
    limiter: Limiter,
    reservation: OutputReservation,
    /// The configured limits (to tell a limit the server lowered).
    configured: crate::core::limiter::Limits,
}

impl LimiterState {
    /// Admit (0; `out` = input and output reserved, admission serial: the ticket), wait (1;
    /// `out` = ms from now, blocker: a dimension index or 4 for a pause), or never (2; `out` =
    /// dimension index, cost, capacity, the limit's window in ms). `output` is the request's `max_tokens`, reserved as
    /// the `outputReservation` option says: both exactly as the Pacer reserves an estimate.
    fn acquire(&mut self, input: f64, output: f64, now_ms: Ms, out: &mut Out) -> f64 {
        // As the Pacer cleans an estimate: NaN, negative or infinite counts as 0.
        let clean = |v: f64| {
            if v.is_finite() && v > 0.0 {
                v.min(Usage::MAX_TOKENS)
            } else {
                0.0
            }
        };
        // The caller's input is its own count, as a Pacer's `estimate` option is.
        let cost = Cost::exact(
            clean(input),
            match self.reservation {
                OutputReservation::MaxTokens => clean(output),
                OutputReservation::None => 0.0,
                OutputReservation::Fixed(n) => n,
            },
        );
        let (kind, v) = match self.limiter.acquire(now_ms, cost) {
            Decision::Admit(t) => {
                out[3] = t.at_ms;
                (0.0, [t.input, t.output, t.serial as f64])
            }
            Decision::Wait { until_ms, blocker } => {
                let blocker = match blocker {
                    Blocker::Dim(d) => d as usize as f64,
                    // A bare limiter has no store: `Store` never comes; read as a pause.
                    Blocker::Paused | Blocker::Store => 4.0,
                    Blocker::FirstResponse => 5.0,
                };
                (1.0, [(until_ms - now_ms).max(0.0), blocker, 0.0])
            }
            Decision::Never {
                dim,
                cost,
                capacity,
            } => {
                out[3] = self.limiter.window_ms(dim).unwrap_or(60_000.0);
                (2.0, [dim as usize as f64, cost, capacity])
            }
        };
        out[..3].copy_from_slice(&v);
        kind
    }

    /// What is known of each dimension now, into `out`, 5 numbers per dimension in
    /// [`Dim::ALL`] order: limit (NaN when unknown), remaining (at least 0, as `pacer.limits()`
    /// shows it), full again at, source (0 configured, 1 headers, 2 configured and lowered by
    /// the headers), the window (ms).
    ///
    /// [`Dim::ALL`]: crate::core::limiter::Dim::ALL
    fn limits(&self, now_ms: Ms, out: &mut Out) {
        out[..20].fill(f64::NAN);
        for d in self.limiter.snapshot(now_ms) {
            let i = 5 * d.dim as usize;
            out[i..i + 5].copy_from_slice(&[
                d.limit,
                d.remaining.max(0.0),
                d.reset_at_ms,
                f64::from(crate::core::config::source(&self.configured, &d)),
                d.window_ms,
            ]);
        }
    }
}

/// The ticket the package kept (its numbers, handed back): what it reserved, its admission
/// serial and time (a give-back is void once the bucket was full since then).
fn ticket(input: f64, output: f64, serial: f64, at_ms: f64) -> Ticket {
    Ticket {
        input,
        output,
        at_ms,
        serial: serial as u64,
        headroom: [f64::INFINITY; 4], // `arrived` is not exposed: no transit to count
        latency_ms: 0.0,
        placed: [false; 4],
        raised: [0.0; 4],
        learned: [false; 4],
        learned_at_ms: at_ms,
        counted: [false; 4],
        given: [0.0; 4],
        spent: [0.0; 4],
        taken: [0.0; 4],
    }
}

/// Parse rate-limit headers into `out`: retry hint ms, `x-should-retry` (1/0), the server's
/// `Date` ms, the family (0 none, 1 Anthropic, 2 OpenAI, 3 IETF, 4 Groq, 5 Mistral, 6
/// unprefixed x-ratelimit, 7 Together), then for each of requests,
/// input tokens, output tokens, tokens, priority input and priority output tokens: limit,
/// remaining, reset at (local epoch ms), window ms, rounded (1); then a spent quota (1:
/// [`RateLimitInfo::quota_spent`](crate::core::headers::RateLimitInfo::quota_spent)). NaN =
/// absent.
fn parse_headers(headers: &str, now_ms: Ms, out: &mut Out) {
    let info = parse(headers, now_ms);
    let family = match info.family {
        Family::None => 0.0,
        Family::Anthropic => 1.0,
        Family::OpenAi => 2.0,
        Family::Ietf => 3.0,
        Family::Groq => 4.0,
        Family::Mistral => 5.0,
        Family::XRateLimit => 6.0,
        Family::Together => 7.0,
    };
    out[..4].copy_from_slice(&[
        opt(info.retry_after_ms),
        opt(info.should_retry.map(|b| f64::from(u8::from(b)))),
        opt(info.server_date_ms),
        family,
    ]);
    for (k, d) in [
        &info.requests,
        &info.input_tokens,
        &info.output_tokens,
        &info.tokens,
        &info.priority_input_tokens,
        &info.priority_output_tokens,
    ]
    .into_iter()
    .enumerate()
    {
        let found = !d.is_empty();
        let field = |v: Option<f64>| if found { opt(v) } else { f64::NAN };
        let i = 4 + 5 * k;
        out[i..i + 5].copy_from_slice(&[
            field(d.limit),
            field(d.remaining),
            field(d.reset_at_ms),
            field(d.window_ms),
            if found && d.rounded { 1.0 } else { f64::NAN },
        ]);
    }
    out[34] = if info.quota_spent { 1.0 } else { f64::NAN };
}

/// Classify a response as the Pacer does (default retryable statuses). Returns 0 success;
/// 1 retry, rate limited; 2 retry, overloaded; 3 retry, status; 4 fail, status; 5 fail,
/// `x-should-retry: false`; 6 fail, spend limit; 7 fail, insufficient quota; 8 fail, larger
/// than the limit itself. `out[0]` is the
/// retry hint, ms (NaN when none): the headers', else the body's, else a 429's spent reset
/// with no limit, by the Pacer's own rule ([`hints::stated_hint`]).
/// `arg` is `[body, headers]`: the error body as parsed JSON (read by the Pacer's own reader,
/// [`body::error_of`]) and the headers as one string. `now_ms` places a `retry-after`
/// HTTP-date when the response has no `Date`.
fn classify_response(status: f64, arg: &JsValue, now_ms: Ms, out: &mut Out) -> f64 {
    let arg = Array::from(arg);
    let error = body::error_of(&arg.get(0));
    let info = parse(&arg.get(1).as_string().unwrap_or_default(), now_ms);
    // As the pacer reads it: a 429 whose headers show a spent quota fails as one.
    let error = info.quota_error(status as u16, error.as_ref()).or(error);
    // In whole milliseconds, rounded up: a spent reset against a `now` with a fraction too.
    out[0] = opt(hints::stated_hint(now_ms, status as u16, &info, error.as_ref()).map(whole_ms));
    // A status beyond `u16` saturates: any such number is no HTTP status, so it fails.
    let kind = match classify(status as u16, info.should_retry, error.as_ref(), None) {
        Outcome::Success => 0,
        Outcome::Retry(RetryKind::RateLimited) => 1,
        Outcome::Retry(RetryKind::Overloaded) => 2,
        Outcome::Retry(_) => 3,
        Outcome::Fail(FailKind::ServerSaidNo(_)) => 5,
        Outcome::Fail(FailKind::SpendLimit) => 6,
        Outcome::Fail(FailKind::InsufficientQuota) => 7,
        Outcome::Fail(FailKind::TooLarge) => 8,
        Outcome::Fail(_) => 4,
    };
    f64::from(kind)
}

/// Where an operation leaves the numbers it returns beyond the first, for [`RawLow::op`]'s
/// code 10 to read: a fixed buffer in the instance (no allocation, no call into JavaScript per
/// number).
type Out = [f64; 35];

/// A backoff, a limiter, or neither (for the stateless operations), behind one exported class.
#[wasm_bindgen(js_name = RawLow)]
pub struct RawLow {
    low: Low,
    out: Out,
}

#[wasm_bindgen(js_class = RawLow)]
impl RawLow {
    /// Kind 0 (stateless), 1 (a backoff) or 2 (a limiter), from `options` read and validated
    /// by the package's reader of the Pacer's options, as the list of [`options`].
    /// The package hands over only what applies: a backoff's options as the Pacer's `retry`
    /// (and `seed`), a limiter's `limits`, `preset` and `outputReservation`; and `latency_ms`,
    /// a limiter's assumed transit (checked by the package; 0 mirrors a server that receives
    /// each request at its admission; NaN, not given: the Pacer's once a response carries
    /// rate-limit figures, [`transit::WITH_HEADERS_MS`]).
    #[wasm_bindgen(constructor)]
    pub fn new(kind: u32, options: &[f64], latency_ms: f64) -> RawLow {
        let (config, seed) = options::read(options);
        let low = match kind {
            1 => {
                let r = config.retry;
                Low::Backoff(BackoffState {
                    backoff: r.backoff,
                    max_retries: r.max_retries,
                    max_retry_after_ms: r.max_retry_after_ms,
                    rng: seed.map(fastrand::Rng::with_seed),
                    retries: 0,
                    prev_ms: 0.0,
                })
            }
            2 => {
                // Built at time 0: buckets full at 0 are full at any later time, and the
                // limiter's clock (which never runs backwards) then follows the caller's `now`
                // from its first call, virtual or real.
                let mut limiter = Limiter::new(config.limits, 0.0);
                // As the pacer's limiters: unless a preset says how the server meters output,
                // a `max_tokens` beyond a limit is lowered to it, not refused on the pacer's
                // model (the server's answer decides).
                match config.output_metering {
                    Some(m) => limiter.set_output_metering(m),
                    None => limiter.forget_output_metering(),
                }
                if config.output_reservation == OutputReservation::MaxTokens {
                    limiter.learn_output();
                }
                limiter.set_latency(if latency_ms.is_nan() {
                    transit::WITH_HEADERS_MS
                } else {
                    latency_ms
                });
                Low::Limiter(LimiterState {
                    limiter,
                    reservation: config.output_reservation,
                    configured: config.limits,
                })
            }
            _ => Low::Stateless,
        };
        RawLow {
            low,
            out: [f64::NAN; 35],
        }
    }

    /// One operation, by `code`; an operation of another kind does nothing and returns NaN.
    /// NaN is "absent" everywhere. Numbers beyond the result are left in a buffer that code 10
    /// reads.
    ///
    /// | code | kind | operation | arguments | result |
    /// |---|---|---|---|---|
    /// | 0 | backoff | next delay | hint (NaN: none) | ms, or NaN: stop |
    /// | 1 | backoff | reset | | |
    /// | 2 | limiter | acquire | input, output, now | see [`LimiterState::acquire`] |
    /// | 3 | limiter | settle with the usage object `arg` | ticket (input, output, serial), now, the ticket's admission time | |
    /// | 4 | limiter | release (refund, the request included) | ticket, now, admission time | |
    /// | 5 | limiter | observe headers `arg` | now | 1 when a limit changed, else 0 |
    /// | 6 | limiter | pause until | t | |
    /// | 7 | limiter | limits | now | see [`LimiterState::limits`] |
    /// | 8 | any | parse headers `arg` | now | see [`parse_headers`] |
    /// | 9 | any | classify `arg` (`[body, headers]`) | status, now | see [`classify_response`] |
    /// | 10 | any | read the buffer | index | the number there |
    /// | 11 | any | the index of the preset named `arg` ([`options::preset_index`]) | | the index; throws a `RangeError` naming `preset` if none |
    ///
    /// `arg` is the operation's string (headers), or its object (usage), or nothing.
    #[allow(clippy::too_many_arguments)]
    pub fn op(
        &mut self,
        code: u32,
        arg: JsValue,
        a: f64,
        b: f64,
        c: f64,
        d: f64,
        e: f64,
    ) -> R<f64> {
        let text = arg.as_string().unwrap_or_default();
        if code == 11 {
            return options::preset_index(&text).map(f64::from);
        }
        Ok(self.run(code, &arg, &text, [a, b, c, d, e]))
    }
}

impl RawLow {
    /// [`RawLow::op`] but code 11.
    fn run(&mut self, code: u32, arg: &JsValue, text: &str, n: [f64; 5]) -> f64 {
        let [a, b, c, d, e] = n;
        let out = &mut self.out;
        match (&mut self.low, code) {
            (Low::Backoff(s), 0) => return s.next(a).unwrap_or(f64::NAN),
            (Low::Backoff(s), 1) => {
                s.retries = 0;
                s.prev_ms = 0.0;
            }
            (Low::Limiter(s), 2) => return s.acquire(a, b, c, out),
            (Low::Limiter(s), 3) => {
                // The response's `usage`, Anthropic's or OpenAI's (as the Pacer reads it). A
                // side it does not give is unknown, not 0: taken as reserved (`{}` keeps the
                // whole reservation; input alone, a stream cut before its output's count, keeps
                // the output's, as the Pacer settles such a stream).
                let mut usage =
                    usage::Object::read(|k| js::get_opt(arg, k).and_then(|v| v.as_f64())).usage();
                // The output the usage states, learned from (never one taken as reserved).
                let stated = usage.output_tokens;
                if stated.is_nan() {
                    usage.output_tokens = b;
                }
                let input = [
                    usage.input_tokens,
                    usage.cache_creation_input_tokens,
                    usage.cache_read_input_tokens,
                ];
                if input.iter().all(|v| v.is_nan()) {
                    usage.input_tokens = a;
                }
                s.limiter.settle(d, ticket(a, b, c, e), &usage);
                s.limiter.output_seen(stated);
            }
            (Low::Limiter(s), 4) => s.limiter.refund(d, ticket(a, b, c, e), false),
            (Low::Limiter(s), 5) => {
                let changed = s.limiter.observe(a, &parse(text, a));
                return f64::from(u8::from(changed));
            }
            (Low::Limiter(s), 6) => s.limiter.pause_until(a),
            (Low::Limiter(s), 7) => s.limits(a, out),
            (_, 8) => parse_headers(text, a, out),
            (_, 9) => return classify_response(a, arg, b, out),
            (_, 10) => return out.get(a as usize).copied().unwrap_or(f64::NAN),
            _ => return f64::NAN,
        }
        0.0
    }
}
