//! Benchmark (b), decision cost natively: what one admission decision costs in the core.
//!
//! ```text
//! cargo bench --bench decisions                  # criterion's defaults
//! scripts/bench/decisions.sh                     # shorter, then the same across the JS boundary
//! ```
//!
//! * `limiter/acquire admit` — [`Limiter::acquire`] that admits (Tier 1 x 10^6, never short);
//! * `limiter/acquire wait` — one that must wait (an empty bucket: nothing changes);
//! * `scheduler/poll admit one, N queued` — [`Scheduler::poll`] admitting the head of a queue of
//!   N (concurrency 1; the admitted request finishes and a new one joins at the back, so N
//!   stays N);
//! * `scheduler/poll blocked, N queued` — a poll whose head must wait (the backfill window is
//!   scanned, nothing goes);
//! * `headers/parse anthropic` — [`headers::parse`] of a real Anthropic response's header set
//!   (rate-limit headers among the others);
//! * `engine/call cycle` — one whole call through [`Engine`]: `submit`, `poll` (send),
//!   `on_response` (200 with the parsed headers), `on_done` (usage).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use llm_pacer::core::call::{Engine, Request, Verdict};
use llm_pacer::core::config::Config;
use llm_pacer::core::headers::{self, RateLimitInfo};
use llm_pacer::core::limiter::{Cost, Decision, Limiter, Limits, Usage};
use llm_pacer::core::scheduler::Scheduler;
use llm_pacer::sim::{http_date, rfc3339_ceil};
use std::hint::black_box;

const T0: f64 = 1_779_000_000_000.0;

fn tier1() -> Limits {
    Limits {
        rpm: Some(50.0),
        itpm: Some(30_000.0),
        otpm: Some(8_000.0),
        tpm: None,
    }
}

fn huge() -> Limits {
    Limits {
        rpm: Some(5.0e7),
        itpm: Some(3.0e10),
        otpm: Some(8.0e9),
        tpm: None,
    }
}

const COST: Cost = Cost::exact(1_500.0, 1_024.0);

/// The header set of an Anthropic Messages response at Tier 1 (the names, formats and order
/// the API sends; made-up ids), rate-limit headers among the usual others.
pub const ANTHROPIC_HEADERS: &[(&str, &str)] = &[
    ("date", "Sun, 22 Nov 2026 13:04:32 GMT"),
    ("content-type", "application/json"),
    ("transfer-encoding", "chunked"),
    ("connection", "keep-alive"),
    ("anthropic-ratelimit-input-tokens-limit", "30000"),
    ("anthropic-ratelimit-input-tokens-remaining", "27000"),
    (
        "anthropic-ratelimit-input-tokens-reset",
        "2026-11-22T13:04:38Z",
    ),
    ("anthropic-ratelimit-output-tokens-limit", "8000"),
    ("anthropic-ratelimit-output-tokens-remaining", "7000"),
    (
        "anthropic-ratelimit-output-tokens-reset",
        "2026-11-22T13:04:40Z",
    ),
    ("anthropic-ratelimit-requests-limit", "50"),
    ("anthropic-ratelimit-requests-remaining", "49"),
    ("anthropic-ratelimit-requests-reset", "2026-11-22T13:04:33Z"),
    ("anthropic-ratelimit-tokens-limit", "8000"),
    ("anthropic-ratelimit-tokens-remaining", "7000"),
    ("anthropic-ratelimit-tokens-reset", "2026-11-22T13:04:40Z"),
    ("request-id", "req_011CVPJ8y4mZk1H2nB3fXqRt"),
    (
        "strict-transport-security",
        "max-age=31536000; includeSubDomains; preload",
    ),
    (
        "anthropic-organization-id",
        "5f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
    ),
    ("via", "1.1 google"),
    ("cf-cache-status", "DYNAMIC"),
    ("x-robots-tag", "none"),
    ("server", "cloudflare"),
    ("cf-ray", "9a1b2c3d4e5f6a7b-FRA"),
    ("content-encoding", "gzip"),
];

/// [`ANTHROPIC_HEADERS`] with the limits of [`huge`] and times around `T0`, parsed: what an
/// engine that never has to wait observes on every response.
fn huge_info() -> RateLimitInfo {
    let reset = rfc3339_ceil(T0 + 1_000.0);
    let date = http_date(T0);
    let owned: Vec<(&str, String)> = ANTHROPIC_HEADERS
        .iter()
        .map(|&(name, value)| {
            let v = match name {
                "date" => date.clone(),
                n if n.ends_with("-reset") => reset.clone(),
                "anthropic-ratelimit-requests-limit" => "50000000".into(),
                "anthropic-ratelimit-requests-remaining" => "49999999".into(),
                "anthropic-ratelimit-input-tokens-limit" => "30000000000".into(),
                "anthropic-ratelimit-input-tokens-remaining" => "29999990000".into(),
                n if n.contains("output-tokens-limit")
                    || n == "anthropic-ratelimit-tokens-limit" =>
                {
                    "8000000000".into()
                }
                n if n.ends_with("-remaining") => "7999990000".into(),
                _ => value.to_string(),
            };
            (name, v)
        })
        .collect();
    headers::parse(owned.iter().map(|(n, v)| (*n, v.as_str())), T0)
}

fn limiter(c: &mut Criterion) {
    let mut g = c.benchmark_group("limiter");
    g.bench_function("acquire admit", |b| {
        let mut lim = Limiter::new(huge(), T0);
        let mut now = T0;
        b.iter(|| {
            now += 1.0;
            black_box(lim.acquire(black_box(now), black_box(COST)))
        });
    });
    g.bench_function("acquire wait", |b| {
        let mut lim = Limiter::new(tier1(), T0);
        while matches!(lim.acquire(T0, COST), Decision::Admit(_)) {}
        b.iter(|| black_box(lim.acquire(black_box(T0), black_box(COST))));
    });
    g.finish();
}

fn scheduler(c: &mut Criterion) {
    let mut g = c.benchmark_group("scheduler");
    for n in [1usize, 100, 10_000] {
        g.bench_with_input(
            BenchmarkId::new("poll admit one, N queued", n),
            &n,
            |b, &n| {
                let mut lim = Limiter::new(huge(), T0);
                let mut s = Scheduler::new(Some(1));
                for id in 0..n as u64 {
                    s.push(id, 0, id, COST);
                }
                let mut next = n as u64;
                let mut now = T0;
                b.iter(|| {
                    now += 1.0;
                    let p = s.poll(black_box(now), &mut lim);
                    assert_eq!(p.admitted.len(), 1);
                    s.finish();
                    s.push(next, 0, next, COST);
                    next += 1;
                    black_box(p)
                });
            },
        );
        g.bench_with_input(
            BenchmarkId::new("poll blocked, N queued", n),
            &n,
            |b, &n| {
                let mut lim = Limiter::new(tier1(), T0);
                let mut s = Scheduler::new(None);
                for id in 0..n as u64 {
                    s.push(id, 0, id, COST);
                }
                // Drain what the full buckets admit; the rest waits.
                let _ = s.poll(T0, &mut lim);
                b.iter(|| black_box(s.poll(black_box(T0), &mut lim)));
            },
        );
    }
    g.finish();
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("headers");
    g.bench_function("parse anthropic", |b| {
        b.iter(|| {
            black_box(headers::parse(
                black_box(ANTHROPIC_HEADERS).iter().copied(),
                T0,
            ))
        })
    });
    g.finish();
}

fn engine(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine");
    g.bench_function("call cycle", |b| {
        let mut config = Config::new();
        config.limits = huge();
        let mut e = Engine::new(config, T0);
        let info = huge_info();
        let usage = Usage {
            input_tokens: 1_400.0,
            output_tokens: 600.0,
            ..Usage::default()
        };
        let request = Request {
            input_tokens: 1_500.0,
            max_tokens: Some(1_024.0),
            priority: 0,
            ..Request::default()
        };
        let mut now = T0;
        b.iter(|| {
            now += 1.0;
            let id = e.submit(now, request.clone()).expect("open");
            let actions = e.poll(now);
            assert_eq!(actions.len(), 1, "sent at once");
            let v = e.on_response(now, id, 200, &info, None, 0.5);
            assert_eq!(v, Verdict::Deliver);
            e.on_done(now, id, Some(usage));
            black_box((actions, v))
        });
    });
    g.finish();
}

criterion_group!(benches, limiter, scheduler, parse, engine);
criterion_main!(benches);
