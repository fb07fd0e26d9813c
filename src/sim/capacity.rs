//! A server with a hidden capacity and no rate-limit headers (a self-hosted model server, a
//! gateway): at most `max_concurrent` requests in progress and `rate_per_s` admissions per
//! second (a bucket of `burst`), refusing beyond with a bare 503 (no header, no hint, no
//! body). The pacer knows none of it: it runs the real [`Engine`], with no limits
//! configured, either with a fixed concurrency or with the adaptive controller
//! ([`crate::core::adaptive`]).
//!
//! [`run`] measures one client setting on one server; [`table`] the comparison the README
//! shows (adaptive against fixed concurrencies 4, 16 and 64) on several server variants
//! (latency short, medium, long: the rate, both, or the concurrency binds), with the worst
//! case of each setting.

use super::random;
use crate::core::call::{Action, Engine, Request, Verdict};
use crate::core::config::Config;
use crate::core::headers::RateLimitInfo;
use crate::core::Ms;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt::Write as _;

/// The hidden server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HiddenServer {
    /// Requests in progress at most.
    pub max_concurrent: u32,
    /// Admissions per second (sustained).
    pub rate_per_s: f64,
    /// The bucket's size (admissions at once after a pause).
    pub burst: f64,
    /// Service time of an admitted request, uniform in this range, ms.
    pub latency_ms: (Ms, Ms),
    /// How long a refusal takes to come back, ms.
    pub refusal_ms: Ms,
    /// A request reaches the server U[lo, hi] ms after it is sent, and its answer the client
    /// another such time after it is written (each on its own: they may cross).
    pub transit_ms: (Ms, Ms),
    /// The client's event loop is held this long at the start (its calls being submitted):
    /// what it sends, and what comes back, before then is handled only then.
    pub stall_ms: Ms,
}

impl HiddenServer {
    /// The issue's server: 8 concurrent, 2 requests/s, with service times `latency_ms`.
    pub fn issue(latency_ms: (Ms, Ms)) -> Self {
        HiddenServer {
            max_concurrent: 8,
            rate_per_s: 2.0,
            burst: 2.0,
            latency_ms,
            refusal_ms: 50.0,
            transit_ms: (0.0, 0.0),
            stall_ms: 0.0,
        }
    }

    /// A fast local server: 8 slots answering in 16-24 ms, no rate of its own, a refusal in
    /// 2 ms; 1-4 ms each way, and the client's loop held 400 ms at the start (2,000 calls
    /// submitted at once in Node: session 40's review).
    pub fn fast() -> Self {
        HiddenServer {
            max_concurrent: 8,
            rate_per_s: f64::INFINITY,
            burst: f64::INFINITY,
            latency_ms: (16.0, 24.0),
            refusal_ms: 2.0,
            transit_ms: (1.0, 4.0),
            stall_ms: 400.0,
        }
    }

    /// The most it can serve, requests per second.
    pub fn capacity_per_s(&self) -> f64 {
        let mean_s = (self.latency_ms.0 + self.latency_ms.1) / 2000.0;
        self.rate_per_s.min(f64::from(self.max_concurrent) / mean_s)
    }
}

/// How the client paces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// llm-pacer's adaptive controller, no concurrency cap.
    Adaptive,
    /// llm-pacer with `concurrency: n` and nothing else.
    Fixed(u32),
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Setting::Adaptive => write!(f, "llm-pacer adaptive"),
            Setting::Fixed(n) => write!(f, "fixed concurrency {n}"),
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// Requests that succeeded.
    pub succeeded: u32,
    /// Requests that failed (out of retries or retry budget).
    pub failed: u32,
    /// Attempts sent.
    pub attempts: u64,
    /// Attempts refused with 503.
    pub refused: u64,
    /// From the start to the last request's end, ms.
    pub makespan_ms: Ms,
}

impl Outcome {
    /// Successful requests per second.
    pub fn throughput(&self) -> f64 {
        f64::from(self.succeeded) / (self.makespan_ms / 1000.0)
    }
    /// Refused attempts, percent of attempts.
    pub fn refused_pct(&self) -> f64 {
        100.0 * self.refused as f64 / (self.attempts.max(1)) as f64
    }
}

enum Ev {
    /// The engine's wake time.
    Wake,
    /// The response to (call id, attempt): 200 or 503.
    Answer(u64, u16, bool),
    /// Request `id` reaches the server.
    Arrive(u64),
}

struct Entry(Ms, u64, Ev);
impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> Ordering {
        o.0.total_cmp(&self.0).then_with(|| o.1.cmp(&self.1))
    }
}

/// Retries per call in these runs.
pub const MAX_RETRIES: u32 = 1_000;

/// Run `requests` requests, all arriving at the start, against `server` with the client
/// `setting`, seeded by `seed`.
pub fn run(server: &HiddenServer, setting: Setting, requests: u32, seed: u64) -> Outcome {
    const START: Ms = super::START_MS;
    let mut rng = random::stream(seed, random::STREAM_SERVER);
    let mut transit_rng = random::stream(seed, random::STREAM_TRANSIT);
    let transit = |rng: &mut fastrand::Rng| match server.transit_ms {
        (lo, hi) if hi > 0.0 => random::uniform(rng, lo, hi),
        _ => 0.0,
    };
    let stalled = START + server.stall_ms;
    let mut client_rng = random::stream(seed, random::STREAM_CLIENT);
    // Every request must get through: no retry budget, retries enough for any backlog (the
    // default backoff, 1 s doubling to 60 s, with jitter). Refusals are the cost.
    let mut config = Config::new();
    config.budget = None;
    config.retry.max_retries = MAX_RETRIES;
    match setting {
        Setting::Adaptive => config.adaptive = true,
        Setting::Fixed(n) => config.concurrency = Some(n),
    }
    let mut engine = Engine::new(config, START);
    let mut queue = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |q: &mut BinaryHeap<Entry>, at: Ms, ev: Ev| {
        seq += 1;
        q.push(Entry(at, seq, ev));
    };
    for _ in 0..requests {
        engine
            .submit(START, Request::default())
            .expect("the engine is open");
    }
    let (mut in_progress, mut tokens, mut refilled) = (0u32, server.burst, START);
    let mut out = Outcome {
        succeeded: 0,
        failed: 0,
        attempts: 0,
        refused: 0,
        makespan_ms: 0.0,
    };
    let mut woken_at: BTreeMap<u64, ()> = BTreeMap::new();
    let none = RateLimitInfo::default();
    let mut now = START;
    let mut settled = 0u32;
    let mut arrivals = Vec::new();
    loop {
        for action in engine.poll(now) {
            match action {
                Action::Send { id, .. } => {
                    out.attempts += 1;
                    let at = now.max(stalled) + transit(&mut transit_rng);
                    if at > now {
                        push(&mut queue, at, Ev::Arrive(id));
                    } else {
                        arrivals.push(id);
                    }
                }
                // No store in the simulator: the engine never asks to reserve in one.
                Action::Deliver { .. } | Action::Reserve { .. } | Action::ProbeStore { .. } => {}
                Action::Fail { .. } => {
                    out.failed += 1;
                    settled += 1;
                }
            }
        }
        // The server takes what reached it: admitted, or refused.
        for id in arrivals.drain(..) {
            tokens = (tokens + (now - refilled) / 1000.0 * server.rate_per_s).min(server.burst);
            refilled = now;
            let back = transit(&mut transit_rng);
            let (at, answer) = if in_progress < server.max_concurrent && tokens >= 1.0 {
                tokens -= 1.0;
                in_progress += 1;
                let (lo, hi) = server.latency_ms;
                (random::uniform(&mut rng, lo, hi), Ev::Answer(id, 200, true))
            } else {
                out.refused += 1;
                (server.refusal_ms, Ev::Answer(id, 503, false))
            };
            push(&mut queue, (now + at + back).max(stalled), answer);
        }
        if settled >= requests {
            break;
        }
        if let Some(w) = engine.next_wake() {
            let k = w.to_bits();
            if woken_at.insert(k, ()).is_none() {
                push(&mut queue, w.max(now).max(stalled), Ev::Wake);
            }
        }
        let Some(Entry(at, _, ev)) = queue.pop() else {
            break;
        };
        now = now.max(at);
        if now - START > 30.0 * 86_400_000.0 {
            break;
        }
        if let Ev::Arrive(id) = ev {
            arrivals.push(id);
            continue;
        }
        if let Ev::Answer(id, status, admitted) = ev {
            if admitted {
                in_progress -= 1;
            }
            match engine.on_response(now, id, status, &none, None, client_rng.f64()) {
                Verdict::Deliver => {
                    if status == 200 {
                        out.succeeded += 1;
                        engine.on_done(now, id, None);
                    } else {
                        out.failed += 1;
                    }
                    settled += 1;
                }
                Verdict::Fail(_) => {
                    out.failed += 1;
                    settled += 1;
                }
                Verdict::Retry { .. } | Verdict::Unknown => {}
            }
        }
    }
    out.makespan_ms = now - START;
    out
}

/// The settings of the table: adaptive, then fixed 4, 16, 64.
pub const SETTINGS: [Setting; 4] = [
    Setting::Adaptive,
    Setting::Fixed(4),
    Setting::Fixed(16),
    Setting::Fixed(64),
];

/// The server variants: service times short (the rate binds), medium (both bind), long (the
/// concurrency binds); then a fast server with no rate ([`HiddenServer::fast`]).
pub fn variants() -> [(&'static str, HiddenServer); 4] {
    [
        ("0.5-1.5 s", HiddenServer::issue((500.0, 1_500.0))),
        ("1-7 s", HiddenServer::issue((1_000.0, 7_000.0))),
        ("4-12 s", HiddenServer::issue((4_000.0, 12_000.0))),
        ("16-24 ms, no rate", HiddenServer::fast()),
    ]
}

/// The comparison table: every setting on every variant, `requests` requests, seeds
/// `1..=seeds` (the mean of each figure over the seeds), then each setting's worst case
/// against the best fixed setting of the same variant.
pub fn table(requests: u32, seeds: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Hidden capacity: 8 concurrent, 2 requests/s (bucket of 2), 503 beyond with no hint \
         (the last: 8 concurrent, no rate, a refusal in 2 ms, 1-4 ms each way, the client's \
         loop held 400 ms at the start); {requests} requests at once, no limits configured; \
         mean over seeds 1..={seeds}"
    );
    let _ = writeln!(
        out,
        "\n| service time | client | throughput (req/s) | of capacity | refused (% of attempts) | failed |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|");
    let mut worst: Vec<(f64, f64)> = vec![(f64::INFINITY, 0.0); SETTINGS.len()];
    for (name, server) in variants() {
        let rows: Vec<(f64, f64, f64)> = SETTINGS
            .iter()
            .map(|&s| {
                let (mut tp, mut rf, mut fl) = (0.0, 0.0, 0.0);
                for seed in 1..=seeds {
                    let o = run(&server, s, requests, seed);
                    tp += o.throughput();
                    rf += o.refused_pct();
                    fl += f64::from(o.failed);
                }
                let n = seeds as f64;
                (tp / n, rf / n, fl / n)
            })
            .collect();
        let best_fixed = rows[1..].iter().map(|r| r.0).fold(0.0, f64::max);
        for (i, (&s, &(tp, rf, fl))) in SETTINGS.iter().zip(&rows).enumerate() {
            let _ = writeln!(
                out,
                "| {name} | {s} | {tp:.2} | {:.0}% | {rf:.1}% | {fl:.1} |",
                100.0 * tp / server.capacity_per_s()
            );
            worst[i].0 = worst[i].0.min(tp / best_fixed);
            worst[i].1 = worst[i].1.max(rf);
        }
    }
    let _ = writeln!(
        out,
        "\nWorst over the variants: throughput / best fixed setting's, and refused attempts"
    );
    for (s, (ratio, rf)) in SETTINGS.iter().zip(&worst) {
        let _ = writeln!(out, "  {:<24} {:>6.3}  {:>5.1}%", s.to_string(), ratio, rf);
    }
    let _ = writeln!(
        out,
        "(targets for adaptive: throughput >= 0.90 of the best fixed setting, refused <= 5%)"
    );
    out
}
