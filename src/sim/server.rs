//! A model of a rate-limited LLM API server, with Anthropic's rules and headers.
//!
//! One continuously refilled [`Bucket`] per configured limit (RPM, ITPM, OTPM, and optionally
//! a combined TPM), all shared by every client of the organisation. A request is admitted when
//! every bucket holds its cost:
//!
//! | bucket | cost at admission | at completion |
//! |---|---|---|
//! | RPM | 1 | — |
//! | ITPM | metered input tokens | — |
//! | OTPM, [`OtpmMetering::Reservation`] | `max_tokens` | gives back `max_tokens - output` |
//! | OTPM, [`OtpmMetering::RealTime`] | nothing, but the level must be above 0 | takes `output` |
//! | TPM | input + the OTPM cost | as OTPM |
//!
//! A refused request gets a 429 `rate_limit_error` with `retry-after` = the whole seconds
//! (rounded up, at least 1) until every blocking bucket holds enough, and nothing is debited.
//! A request that would be admitted gets, with probability `p_overloaded`, a 529
//! `overloaded_error` instead (nothing debited). An admitted request answers after a lognormal
//! time to first byte plus its output at `tokens_per_s` (or, when
//! [`ServerConfig::response_latency_ms`] is set, after a uniform time in that range); the
//! response head (non-streaming) arrives at completion. Refusals answer after a short uniform delay.
//!
//! Headers are emitted exactly as Anthropic does, on 2xx and 429 alike:
//! `anthropic-ratelimit-{requests,input-tokens,output-tokens,tokens}-{limit,remaining,reset}`
//! with token `remaining` rounded to the thousand ([`Rounding`]: to the nearest, as Anthropic
//! documents, by default; down or up as variants) (requests exact: the whole requests left), `reset` the RFC 3339 time (whole seconds, rounded up) at which the bucket is full
//! again, `tokens-*` the most restrictive token bucket (the least remaining), and a `date`.
//! A 529 carries only `date`: an overloaded front end answers before the rate limiter.
//!
//! A 2xx's headers describe the buckets at completion, *before* that request's own
//! correction (the give-back of its unused reservation, or its real-time output), as a server
//! that writes the head before it has the final usage would; the client learns that usage from
//! the body. With [`Head::After`] they describe the buckets after it, as a server that settles
//! first and then answers would. Absolute times (`date`, `reset`) are in the server's clock, which may run
//! `clock_offset_ms` ahead of the simulation's.

use super::invalid::Invalid;
use super::random;
use super::workload::RequestSpec;
use crate::core::bucket::Bucket;
use crate::core::limiter::{Dim, Limits};
use crate::core::Ms;
use fastrand::Rng;

/// How the server meters output tokens against OTPM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OtpmMetering {
    /// Reserve `max_tokens` at admission; give back the unused part at completion. Default.
    #[default]
    Reservation,
    /// Admit while the OTPM level is above zero; take the real output at completion (the
    /// level may go into debt, which the refill pays back).
    RealTime,
}

impl OtpmMetering {
    /// `reservation` or `realtime`.
    pub fn name(self) -> &'static str {
        match self {
            OtpmMetering::Reservation => "reservation",
            OtpmMetering::RealTime => "realtime",
        }
    }
}

/// How the server rounds token `remaining` to the thousand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rounding {
    /// To the nearest thousand (Anthropic's documented convention). Default.
    #[default]
    Nearest,
    /// Down to the thousand (the true level is up to 1,000 higher).
    Down,
    /// Up to the thousand (the true level is up to 1,000 lower).
    Up,
}

impl Rounding {
    /// `nearest`, `down` or `up`.
    pub fn name(self) -> &'static str {
        match self {
            Rounding::Nearest => "nearest",
            Rounding::Down => "down",
            Rounding::Up => "up",
        }
    }
    /// `level` rounded to the thousand by this convention, never below 0.
    pub fn apply(self, level: f64) -> f64 {
        let k = level / 1_000.0;
        let r = match self {
            Rounding::Nearest => k.round(),
            Rounding::Down => k.floor(),
            Rounding::Up => k.ceil(),
        };
        (r * 1_000.0).max(0.0)
    }
}

/// When a 2xx's head is written, relative to the request's own settlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Head {
    /// Before the settlement: the headers still count the whole reservation. Default.
    #[default]
    Before,
    /// After it: the headers already count the give-back (or the real-time output), as a
    /// server that settles first and then answers does (the demo's server does this).
    After,
    /// Every 2xx is a stream: its head, with the figures as they stood right after the
    /// request's admission, arrives after the time to first byte; its end, with the usage,
    /// when the output is done. The other clients' give-backs in between are not in those
    /// figures (Anthropic writes a stream's head before its output).
    Admission,
    /// Every 2xx is a JSON answer sent when the output is done, its figures as they stood
    /// right after the request's admission: the reservation of its `max_tokens` in them, and
    /// none of the give-backs since (the second opinion's mock, a gateway that writes the
    /// headers first).
    AdmissionJson,
}

impl Head {
    /// `before` or `after`.
    pub fn name(self) -> &'static str {
        match self {
            Head::Before => "before",
            Head::After => "after",
            Head::Admission => "admission",
            Head::AdmissionJson => "admission-json",
        }
    }
}

/// The server's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Per-minute limits of the organisation; `None` = not limited in that dimension.
    pub limits: Limits,
    /// How OTPM (and the output part of TPM) is metered.
    pub metering: OtpmMetering,
    /// Probability that a request which would be admitted gets a 529 instead.
    pub p_overloaded: f64,
    /// Median time to first byte, ms (lognormal).
    pub ttfb_median_ms: Ms,
    /// Shape of the time to first byte: the standard deviation of its logarithm.
    pub ttfb_sigma: f64,
    /// Output speed, tokens per second.
    pub tokens_per_s: f64,
    /// When set, an admitted request answers after a uniform time in `[lo, hi)` ms instead of
    /// the time to first byte plus its output at `tokens_per_s`.
    pub response_latency_ms: Option<(Ms, Ms)>,
    /// How token `remaining` is rounded to the thousand.
    pub rounding: Rounding,
    /// Whether a 2xx's headers count that request's own settlement.
    pub head: Head,
    /// With [`Head::Admission`], the part of the requests answered by a stream (the others
    /// as with [`Head::Before`]): each request by its place in the workload, evenly spread.
    pub stream_fraction: f64,
    /// A 429 or 529 answers after a uniform delay in `[lo, hi)` ms.
    pub reject_latency_ms: (Ms, Ms),
    /// A request reaches the server a uniform time in `[lo, hi)` ms after its client sends
    /// it, each on its own: requests sent in one order may arrive in another, and the
    /// server's figures are written at arrival. What the server sends back (a head, the end
    /// of the answer, a refusal) takes another such time, drawn once per attempt, to reach
    /// the client. `(0, 0)` (default): at once, both ways.
    pub transit_ms: (Ms, Ms),
    /// The server's clock runs this many ms ahead of the simulation's (negative: behind).
    pub clock_offset_ms: Ms,
    /// How full each bucket is at the start, from 0 to 1: 1 (default) for an organisation
    /// idle until then, 0 for one whose limits an earlier run (a process restarted, a
    /// deployment rolled) has just spent.
    pub start_level: f64,
}

impl Default for ServerConfig {
    /// The server: RPM 50, ITPM 30,000, OTPM 8,000, reservation metering, no 529s,
    /// time to first byte ~600 ms, 80 tokens/s, token counts rounded to the nearest thousand,
    /// refusals after 50-150 ms, requests reaching it at once, no clock skew.
    fn default() -> Self {
        ServerConfig {
            limits: Limits {
                rpm: Some(50.0),
                tpm: None,
                itpm: Some(30_000.0),
                otpm: Some(8_000.0),
            },
            metering: OtpmMetering::Reservation,
            p_overloaded: 0.0,
            ttfb_median_ms: 600.0,
            ttfb_sigma: 0.4,
            tokens_per_s: 80.0,
            response_latency_ms: None,
            rounding: Rounding::Nearest,
            head: Head::Before,
            stream_fraction: 1.0,
            reject_latency_ms: (50.0, 150.0),
            transit_ms: (0.0, 0.0),
            clock_offset_ms: 0.0,
            start_level: 1.0,
        }
    }
}

impl ServerConfig {
    /// Check the parameters; the message names the field.
    pub fn validate(&self) -> Result<(), Invalid> {
        let l = &self.limits;
        for (name, v) in [
            ("limits.rpm", l.rpm),
            ("limits.tpm", l.tpm),
            ("limits.itpm", l.itpm),
            ("limits.otpm", l.otpm),
        ] {
            if let Some(v) = v {
                // As the pacer's own option: below 1 no request ever fits.
                if !(1.0..=1e12).contains(&v) {
                    return Err(Invalid::new(name, "must be a number from 1 to 1e12"));
                }
            }
        }
        if !(0.0..=1.0).contains(&self.start_level) {
            return Err(Invalid::new(
                "--start-level",
                "must be a fraction from 0 to 1",
            ));
        }
        if !(0.0..=1.0).contains(&self.stream_fraction) {
            return Err(Invalid::new("--streams", "must be a fraction from 0 to 1"));
        }
        if !(0.0..=1.0).contains(&self.p_overloaded) {
            return Err(Invalid::new("p529", "must be a probability from 0 to 1"));
        }
        if !(self.ttfb_median_ms.is_finite() && self.ttfb_median_ms >= 0.0) {
            return Err(Invalid::new(
                "ttfb_median_ms",
                "must be a number of ms >= 0",
            ));
        }
        if !(self.ttfb_sigma.is_finite() && (0.0..=5.0).contains(&self.ttfb_sigma)) {
            return Err(Invalid::new("ttfb_sigma", "must be from 0 to 5"));
        }
        if !(self.tokens_per_s.is_finite() && self.tokens_per_s > 0.0) {
            return Err(Invalid::new("tokens_per_s", "must be a positive number"));
        }
        let (lo, hi) = self.reject_latency_ms;
        if !(lo.is_finite() && hi.is_finite() && 0.0 <= lo && lo <= hi) {
            return Err(Invalid::new(
                "reject_latency_ms",
                "must be a range of ms with 0 <= lo <= hi",
            ));
        }
        let (lo, hi) = self.transit_ms;
        if !(lo.is_finite() && hi.is_finite() && 0.0 <= lo && lo <= hi) {
            return Err(Invalid::new(
                "--transit-ms",
                "must be a range of ms with 0 <= lo <= hi",
            ));
        }
        if let Some((lo, hi)) = self.response_latency_ms {
            if !(lo.is_finite() && hi.is_finite() && 0.0 <= lo && lo <= hi) {
                return Err(Invalid::new(
                    "--latency-ms",
                    "must be a range of ms with 0 <= lo <= hi",
                ));
            }
        }
        // A day either way: beyond it the server's dates say nothing a client could use
        // (and 1e308 made its `Date` header unwritable).
        if !(-86_400_000.0..=86_400_000.0).contains(&self.clock_offset_ms) {
            return Err(Invalid::new(
                "skewMs",
                "must be a number of ms from -86400000 to 86400000",
            ));
        }
        Ok(())
    }
}

/// The body of a response, as far as a client needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// A message, with its `usage`.
    Message {
        /// `usage.input_tokens`.
        input_tokens: u32,
        /// `usage.output_tokens`.
        output_tokens: u32,
        /// `usage.cache_creation_input_tokens`.
        cache_creation_input_tokens: u32,
        /// `usage.cache_read_input_tokens`.
        cache_read_input_tokens: u32,
    },
    /// `{"type":"error","error":{"type": ..}}`.
    Error {
        /// `rate_limit_error` or `overloaded_error`.
        error_type: &'static str,
    },
}

/// A response as the client receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// HTTP status: 200, 429 or 529.
    pub status: u16,
    /// Header names (lower case) and values, in emission order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

impl Response {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What an admitted request holds until it completes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Admission {
    /// The request's index in the workload.
    pub request: usize,
    /// Output tokens reserved against OTPM (and TPM) at admission.
    pub reserved_output: f64,
    /// Output tokens the model produces.
    pub output_tokens: u32,
    /// Input tokens metered.
    pub input_tokens: u32,
    /// The shared prefix's tokens, written to the prompt cache (metered) or read from it.
    pub prefix_tokens: u32,
    /// The prefix was read from the prompt cache.
    pub cache_read: bool,
}

impl Admission {
    /// The input tokens it counted against ITPM: its own, and the shared prefix unless that
    /// was read from the prompt cache.
    pub fn metered_input(&self) -> f64 {
        let prefix = if self.cache_read {
            0
        } else {
            self.prefix_tokens
        };
        f64::from(self.input_tokens) + f64::from(prefix)
    }
}

/// The server's immediate answer to a request: admitted (the response comes at completion),
/// or refused (the response is ready now and arrives after a short delay).
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Admitted: call [`Server::complete`] at `done_at_ms` for the response.
    Admitted {
        /// What to settle at completion.
        admission: Admission,
        /// When the response head (and body) arrives, epoch ms.
        done_at_ms: Ms,
        /// With [`Head::Admission`]: a stream's head, its headers written now, and when it
        /// arrives (before `done_at_ms`).
        head: Option<(Ms, Vec<(String, String)>)>,
    },
    /// Refused with a 429 or 529.
    Refused {
        /// The response.
        response: Response,
        /// When it arrives, epoch ms.
        at_ms: Ms,
    },
}

/// The server's counters.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ServerStats {
    /// Requests admitted.
    pub admitted: u64,
    /// 429s sent.
    pub rate_limited: u64,
    /// 529s sent.
    pub overloaded: u64,
    /// The lowest level any bucket had right after an admission's debit (tokens or requests;
    /// `+inf` before the first admission). Never negative under reservation metering, so the
    /// server never admits beyond its limits.
    pub min_level_after_admission: f64,
}

/// The server: shared buckets, latency model, header emission.
#[derive(Debug, Clone)]
pub struct Server {
    config: ServerConfig,
    rpm: Option<Bucket>,
    itpm: Option<Bucket>,
    otpm: Option<Bucket>,
    tpm: Option<Bucket>,
    rng: Rng,
    stats: ServerStats,
    /// Until when its prompt cache holds the workload's shared prefix (Anthropic: 5 minutes
    /// from the last response that wrote or read it).
    cached_until: Ms,
    /// With [`Head::AdmissionJson`]: each admitted request's figures, written at its
    /// admission, until its answer goes.
    written: std::collections::HashMap<usize, Vec<(String, String)>>,
}

/// Header name fragments per dimension.
fn dim_key(dim: Dim) -> &'static str {
    match dim {
        Dim::Requests => "requests",
        Dim::InputTokens => "input-tokens",
        Dim::OutputTokens => "output-tokens",
        Dim::Tokens => "tokens",
    }
}

/// RFC 3339 (whole seconds, UTC) of an epoch-ms time rounded up to the next whole second.
pub fn rfc3339_ceil(epoch_ms: Ms) -> String {
    let secs = (epoch_ms / 1_000.0).ceil().max(0.0) as u64;
    let c = Civil::of(secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// The HTTP-date of an epoch-ms time (whole seconds, rounded down, as a clock shows it).
pub fn http_date(epoch_ms: Ms) -> String {
    let secs = (epoch_ms / 1_000.0).floor().max(0.0) as u64;
    let c = Civil::of(secs);
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[c.weekday],
        c.day,
        MONTHS[c.month - 1],
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

/// A UTC calendar time, from epoch seconds.
struct Civil {
    year: u64,
    month: usize,
    day: u64,
    hour: u64,
    minute: u64,
    second: u64,
    /// Monday = 0.
    weekday: usize,
}

impl Civil {
    fn of(secs: u64) -> Civil {
        let (days, rem) = (secs / 86_400, secs % 86_400);
        // H. Hinnant's civil_from_days, for days since 1970 (never negative here), counted
        // in 400-year eras from 0000-03-01.
        let z = days + 719_468;
        let era = z / 146_097;
        let doe = z % 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + u64::from(month <= 2);
        Civil {
            year,
            month: month as usize,
            day,
            hour: rem / 3_600,
            minute: rem % 3_600 / 60,
            second: rem % 60,
            // 1970-01-01 was a Thursday.
            weekday: ((days + 3) % 7) as usize,
        }
    }
}

/// Anthropic's rounding of token counts: to the nearest thousand, never below 0.
pub fn round_tokens(level: f64) -> f64 {
    Rounding::Nearest.apply(level)
}

impl Server {
    /// A server with buckets filled to [`ServerConfig::start_level`] at `start_ms`, drawing
    /// latencies and overloads from its own stream of `seed`.
    pub fn new(config: &ServerConfig, start_ms: Ms, seed: u64) -> Self {
        let bucket = |l: Option<f64>| {
            l.map(|c| {
                let mut b = Bucket::per_minute(c, start_ms);
                b.set_level(start_ms, c * config.start_level);
                b
            })
        };
        Server {
            rpm: bucket(config.limits.rpm),
            itpm: bucket(config.limits.itpm),
            otpm: bucket(config.limits.otpm),
            tpm: bucket(config.limits.tpm),
            config: config.clone(),
            rng: random::stream(seed, random::STREAM_SERVER),
            stats: ServerStats {
                min_level_after_admission: f64::INFINITY,
                ..ServerStats::default()
            },
            cached_until: f64::NEG_INFINITY,
            written: std::collections::HashMap::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Counters so far.
    pub fn stats(&self) -> ServerStats {
        self.stats
    }

    fn bucket(&self, dim: Dim) -> Option<&Bucket> {
        match dim {
            Dim::Requests => self.rpm.as_ref(),
            Dim::InputTokens => self.itpm.as_ref(),
            Dim::OutputTokens => self.otpm.as_ref(),
            Dim::Tokens => self.tpm.as_ref(),
        }
    }

    /// The exact level of a bucket at `now_ms` (`None` if that limit is not configured).
    pub fn level(&self, dim: Dim, now_ms: Ms) -> Option<f64> {
        self.bucket(dim).map(|b| b.level(now_ms))
    }

    /// The admission cost per bucket: (dimension, cost, needs only a positive level).
    fn costs(&self, req: &RequestSpec, cache_read: bool) -> [(Dim, f64, bool); 4] {
        let prefix = if cache_read { 0 } else { req.prefix_tokens };
        let input = f64::from(req.input_tokens) + f64::from(prefix);
        let realtime = self.config.metering == OtpmMetering::RealTime;
        let out = if realtime {
            0.0
        } else {
            f64::from(req.max_tokens)
        };
        [
            (Dim::Requests, 1.0, false),
            (Dim::InputTokens, input, false),
            (Dim::OutputTokens, out, realtime),
            (Dim::Tokens, input + out, false),
        ]
    }

    /// A request arrives at `now_ms`: admit it, or refuse it with a 429 or a 529.
    pub fn receive(&mut self, now_ms: Ms, req: &RequestSpec) -> Reply {
        let cache_read = req.prefix_tokens > 0 && self.cached_until > now_ms;
        let costs = self.costs(req, cache_read);
        let mut blocked_ms: Option<Ms> = None;
        for &(dim, cost, positive_only) in &costs {
            let Some(b) = self.bucket(dim) else { continue };
            let level = b.level(now_ms);
            let wait = if positive_only {
                // Above zero: a hair past the time the level reaches 0.
                (level <= 0.0).then(|| -level / b.rate_per_ms() + 1.0)
            } else if level >= cost {
                None
            } else {
                // A request larger than the bucket never fits: point at a full bucket.
                Some(
                    b.time_until(now_ms, cost)
                        .unwrap_or_else(|| b.full_at(now_ms) - now_ms),
                )
            };
            if let Some(w) = wait {
                blocked_ms = Some(blocked_ms.map_or(w, |m: Ms| m.max(w)));
            }
        }
        let (lo, hi) = self.config.reject_latency_ms;
        if let Some(wait_ms) = blocked_ms {
            self.stats.rate_limited += 1;
            let mut headers = self.headers(now_ms);
            let secs = (wait_ms / 1_000.0).ceil().max(1.0);
            headers.push(("retry-after".into(), format!("{secs}")));
            let at_ms = now_ms + random::uniform(&mut self.rng, lo, hi);
            return Reply::Refused {
                response: Response {
                    status: 429,
                    headers,
                    body: Body::Error {
                        error_type: "rate_limit_error",
                    },
                },
                at_ms,
            };
        }
        if self.config.p_overloaded > 0.0 && self.rng.f64() < self.config.p_overloaded {
            self.stats.overloaded += 1;
            let headers = vec![(
                "date".to_string(),
                http_date(now_ms + self.config.clock_offset_ms),
            )];
            let at_ms = now_ms + random::uniform(&mut self.rng, lo, hi);
            return Reply::Refused {
                response: Response {
                    status: 529,
                    headers,
                    body: Body::Error {
                        error_type: "overloaded_error",
                    },
                },
                at_ms,
            };
        }
        let mut min_after = self.stats.min_level_after_admission;
        for &(dim, cost, _) in &costs {
            let b = match dim {
                Dim::Requests => &mut self.rpm,
                Dim::InputTokens => &mut self.itpm,
                Dim::OutputTokens => &mut self.otpm,
                Dim::Tokens => &mut self.tpm,
            };
            if let Some(b) = b {
                b.take(now_ms, cost);
                min_after = min_after.min(b.level(now_ms));
            }
        }
        self.stats.min_level_after_admission = min_after;
        self.stats.admitted += 1;
        let c = &self.config;
        let (done_at_ms, ttfb) = match c.response_latency_ms {
            Some((lo, hi)) => {
                let done = now_ms + random::uniform(&mut self.rng, lo, hi);
                (done, None)
            }
            None => {
                let ttfb = random::lognormal(&mut self.rng, c.ttfb_median_ms, c.ttfb_sigma);
                let output_ms = f64::from(req.output_tokens) * 1_000.0 / c.tokens_per_s;
                (now_ms + ttfb + output_ms, Some(ttfb))
            }
        };
        // Evenly spread: request i is a stream when the fractional part of i times the
        // golden ratio's is below the fraction (no random draw: the other draws stay as they
        // were).
        let stream = (req.index as f64 * 0.618_033_988_749_895).fract() < c.stream_fraction;
        let head = if c.head == Head::Admission && stream {
            // A fixed response latency: the head comes after a time to first byte drawn too.
            let (median, sigma) = (c.ttfb_median_ms, c.ttfb_sigma);
            let ttfb = ttfb.unwrap_or_else(|| random::lognormal(&mut self.rng, median, sigma));
            Some(((now_ms + ttfb).min(done_at_ms), self.headers(now_ms)))
        } else {
            None
        };
        if c.head == Head::AdmissionJson {
            self.written.insert(req.index, self.headers(now_ms));
        }
        Reply::Admitted {
            admission: Admission {
                request: req.index,
                reserved_output: costs[2].1,
                output_tokens: req.output_tokens,
                input_tokens: req.input_tokens,
                prefix_tokens: req.prefix_tokens,
                cache_read,
            },
            done_at_ms,
            head,
        }
    }

    /// The admitted request completes at `now_ms`: the 200 response, with the headers as the
    /// buckets stand now; then its output is settled (see the module docs).
    pub fn complete(&mut self, now_ms: Ms, a: &Admission) -> Response {
        let early = match self.config.head {
            Head::After => None,
            Head::AdmissionJson => self.written.remove(&a.request),
            _ => Some(self.headers(now_ms)),
        };
        let out = f64::from(a.output_tokens);
        for b in [&mut self.otpm, &mut self.tpm].into_iter().flatten() {
            match self.config.metering {
                OtpmMetering::Reservation => b.give(now_ms, a.reserved_output - out),
                OtpmMetering::RealTime => b.take(now_ms, out),
            }
        }
        let headers = early.unwrap_or_else(|| self.headers(now_ms));
        if a.prefix_tokens > 0 {
            self.cached_until = now_ms + crate::core::estimate::prefix::TTL_MS;
        }
        let (read, written) = match a.cache_read {
            true => (a.prefix_tokens, 0),
            false => (0, a.prefix_tokens),
        };
        Response {
            status: 200,
            headers,
            body: Body::Message {
                input_tokens: a.input_tokens,
                output_tokens: a.output_tokens,
                cache_creation_input_tokens: written,
                cache_read_input_tokens: read,
            },
        }
    }

    /// The rate-limit headers and `date` as the server would send them at `now_ms`.
    pub fn headers(&self, now_ms: Ms) -> Vec<(String, String)> {
        let server_now = now_ms + self.config.clock_offset_ms;
        let mut h = vec![("date".to_string(), http_date(server_now))];
        let rounding = self.config.rounding;
        let mut push = |key: &str, b: &Bucket, rounded: bool| {
            let level = b.level(now_ms);
            let remaining = if rounded {
                rounding.apply(level)
            } else {
                level.floor().max(0.0)
            };
            let reset = b.full_at(now_ms) + self.config.clock_offset_ms;
            h.push((
                format!("anthropic-ratelimit-{key}-limit"),
                format!("{}", b.capacity().floor()),
            ));
            h.push((
                format!("anthropic-ratelimit-{key}-remaining"),
                format!("{remaining}"),
            ));
            h.push((
                format!("anthropic-ratelimit-{key}-reset"),
                rfc3339_ceil(reset),
            ));
        };
        for dim in [Dim::Requests, Dim::InputTokens, Dim::OutputTokens] {
            if let Some(b) = self.bucket(dim) {
                push(dim_key(dim), b, dim != Dim::Requests);
            }
        }
        // `tokens-*`: the most restrictive token limit in effect, i.e. the one with the least
        // left (the first on a tie).
        let tightest = [Dim::InputTokens, Dim::OutputTokens, Dim::Tokens]
            .into_iter()
            .filter_map(|d| self.bucket(d))
            .fold(None::<&Bucket>, |best, b| match best {
                Some(x) if x.level(now_ms) <= b.level(now_ms) => Some(x),
                _ => Some(b),
            });
        if let Some(b) = tightest {
            push(dim_key(Dim::Tokens), b, true);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_as_httpdate_and_humantime_write_them() {
        use std::time::{Duration, UNIX_EPOCH};
        // Every day boundary and a spread of times from 1970 to past 2100 (not a leap year).
        let mut secs: Vec<u64> = (0..80_000u64).map(|k| k * 53_731).collect();
        secs.extend([0, 86_399, 951_782_400, 4_107_542_399, 4_107_542_400]);
        for s in secs {
            let t = UNIX_EPOCH + Duration::from_secs(s);
            let ms = s as f64 * 1_000.0;
            assert_eq!(http_date(ms), httpdate::fmt_http_date(t), "{s}");
            assert_eq!(
                rfc3339_ceil(ms),
                humantime::format_rfc3339_seconds(t).to_string(),
                "{s}"
            );
        }
    }

    const T0: Ms = 1_767_225_600_000.0; // 2026-01-01T00:00:00Z

    fn req(index: usize, input: u32, max_tokens: u32, output: u32) -> RequestSpec {
        RequestSpec {
            index,
            client: 0,
            arrival_ms: T0,
            input_tokens: input,
            max_tokens,
            output_tokens: output,
            prefix_tokens: 0,
        }
    }

    #[test]
    fn formats_dates_like_the_provider() {
        assert_eq!(rfc3339_ceil(T0), "2026-01-01T00:00:00Z");
        assert_eq!(rfc3339_ceil(T0 + 1.0), "2026-01-01T00:00:01Z");
        assert_eq!(http_date(T0 + 999.0), "Thu, 01 Jan 2026 00:00:00 GMT");
        assert_eq!(round_tokens(28_501.0), 29_000.0);
        assert_eq!(round_tokens(28_499.0), 28_000.0);
        assert_eq!(round_tokens(-3_000.0), 0.0);
        assert_eq!(Rounding::Down.apply(28_999.0), 28_000.0);
        assert_eq!(Rounding::Up.apply(28_001.0), 29_000.0);
        assert_eq!(Rounding::Up.apply(28_000.0), 28_000.0);
        assert_eq!(Rounding::Down.apply(-1.0), 0.0);
    }

    #[test]
    fn reservation_gives_back_the_unused_output_at_completion() {
        let mut s = Server::new(&ServerConfig::default(), T0, 1);
        let Reply::Admitted {
            admission,
            done_at_ms,
            ..
        } = s.receive(T0, &req(0, 1_000, 1_024, 100))
        else {
            panic!("a fresh server admits")
        };
        assert_eq!(s.level(Dim::OutputTokens, T0), Some(8_000.0 - 1_024.0));
        assert_eq!(s.level(Dim::InputTokens, T0), Some(29_000.0));
        assert_eq!(s.level(Dim::Requests, T0), Some(49.0));
        assert!(done_at_ms > T0 + 100.0 / 80.0 * 1_000.0);
        let r = s.complete(T0, &admission);
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("anthropic-ratelimit-output-tokens-remaining"),
            Some("7000"),
            "headers are written before the correction"
        );
        assert_eq!(s.level(Dim::OutputTokens, T0), Some(8_000.0 - 100.0));
    }

    #[test]
    fn realtime_metering_admits_above_zero_and_debits_at_completion() {
        let cfg = ServerConfig {
            metering: OtpmMetering::RealTime,
            limits: Limits {
                otpm: Some(1_000.0),
                ..Limits::default()
            },
            ..ServerConfig::default()
        };
        let mut s = Server::new(&cfg, T0, 1);
        let Reply::Admitted { admission, .. } = s.receive(T0, &req(0, 10, 4_000, 1_600)) else {
            panic!()
        };
        assert_eq!(s.level(Dim::OutputTokens, T0), Some(1_000.0));
        s.complete(T0, &admission);
        assert_eq!(s.level(Dim::OutputTokens, T0), Some(-600.0));
        // 600 tokens of debt at 1000/60 s: 36 s until the level is above zero.
        let Reply::Refused { response, .. } = s.receive(T0, &req(1, 10, 10, 10)) else {
            panic!()
        };
        assert_eq!(response.header("retry-after"), Some("37"));
        assert!(matches!(
            s.receive(T0 + 36_100.0, &req(2, 10, 10, 10)),
            Reply::Admitted { .. }
        ));
    }

    #[test]
    fn tokens_headers_follow_the_tightest_bucket() {
        let mut s = Server::new(&ServerConfig::default(), T0, 1);
        let _ = s.receive(T0, &req(0, 1_000, 7_000, 10));
        let h = s.headers(T0);
        let get = |k: &str| h.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("anthropic-ratelimit-tokens-limit"), Some("8000"));
        assert_eq!(get("anthropic-ratelimit-tokens-remaining"), Some("1000"));
        // 7000 tokens at 8000/min: 52.5 s, rounded up.
        assert_eq!(
            get("anthropic-ratelimit-tokens-reset"),
            Some("2026-01-01T00:00:53Z")
        );
        assert_eq!(get("anthropic-ratelimit-requests-remaining"), Some("49"));
        assert_eq!(get("date"), Some("Thu, 01 Jan 2026 00:00:00 GMT"));
    }

    #[test]
    fn overloaded_responses_debit_nothing() {
        let cfg = ServerConfig {
            p_overloaded: 1.0,
            ..ServerConfig::default()
        };
        let mut s = Server::new(&cfg, T0, 1);
        let Reply::Refused { response, at_ms } = s.receive(T0, &req(0, 1_000, 1_000, 10)) else {
            panic!()
        };
        assert_eq!(response.status, 529);
        assert!((T0 + 50.0..T0 + 150.0).contains(&at_ms));
        assert_eq!(
            response.body,
            Body::Error {
                error_type: "overloaded_error"
            }
        );
        assert_eq!(s.level(Dim::Requests, T0), Some(50.0));
        assert_eq!(s.stats().overloaded, 1);
    }
}
