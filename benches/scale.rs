//! Benchmark (e), scale: 1,000, 10,000 and 100,000 calls queued in one [`Engine`], natively.
//!
//! ```text
//! cargo bench --bench scale
//! ```
//!
//! For each queue size N, spread over K limit keys (K = 1: one organisation and model; K =
//! 1,000: as many keys, each with the same limits), on the issue's Tier 1 limits (RPM 50, ITPM 30,000, OTPM 8,000),
//! concurrency 5, in virtual time (the clock jumps to [`Engine::next_wake`]; every response
//! comes back at once, a 200 with its usage):
//! * `submit` — ns per [`Engine::submit`] while the queue grows from 0 to N;
//! * `bytes/call` — heap held per queued call (a counting global allocator: bytes allocated
//!   and not yet freed, after the N submits, divided by N);
//! * `steady` — ns per admission with N queued: each admitted call completes and a new one
//!   joins the back, so the queue stays at N (20,000 admissions, median of 5 runs);
//! * `drain` — the N calls driven to completion: total time, ns per admission, and the peak
//!   heap of the whole run.

use llm_pacer::core::call::{Action, Engine, Request, Verdict};
use llm_pacer::core::config::Config;
use llm_pacer::core::headers::RateLimitInfo;
use llm_pacer::core::keys::LimitKey;
use llm_pacer::core::limiter::{Limits, Usage};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

/// The system allocator, counting the bytes in use and their peak.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = IN_USE.fetch_add(n, Relaxed) + n;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        IN_USE.fetch_sub(layout.size(), Relaxed);
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                IN_USE.fetch_sub(layout.size() - new_size, Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const T0: f64 = 1_767_225_600_000.0;

fn engine() -> Engine {
    let mut c = Config::new();
    c.limits = Limits {
        rpm: Some(50.0),
        itpm: Some(30_000.0),
        otpm: Some(8_000.0),
        tpm: None,
    };
    c.concurrency = Some(5);
    Engine::new(c, T0)
}

/// The i-th request of `keys` limit keys: input 800..2,300 tokens, max_tokens 1,024.
fn request(i: u64, keys: u64) -> Request {
    Request {
        key: LimitKey::new(i % keys, ""),
        input_tokens: 800.0 + (i * 7_919 % 1_500) as f64,
        max_tokens: Some(1_024.0),
        priority: 0,
        ..Request::default()
    }
}

fn usage(i: u64) -> Usage {
    Usage {
        input_tokens: 800.0 + (i * 7_919 % 1_500) as f64,
        output_tokens: 100.0 + (i * 104_729 % 925) as f64,
        ..Usage::default()
    }
}

/// Poll at the next wake; answer every send at once. Returns the admissions it made.
fn step(e: &mut Engine, now: &mut f64, info: &RateLimitInfo) -> usize {
    if let Some(t) = e.next_wake() {
        *now = now.max(t);
    }
    let mut admitted = 0;
    for a in e.poll(*now) {
        if let Action::Send { id, .. } = a {
            admitted += 1;
            let v = e.on_response(*now, id, 200, info, None, 0.5);
            assert_eq!(v, Verdict::Deliver);
            e.on_done(*now, id, Some(usage(id)));
        }
    }
    admitted
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it with no flag: keep that
    // quick (the smallest size only).
    let full = std::env::args().any(|a| a == "--bench");
    let sizes: &[(u64, u64)] = if full {
        &[
            (1_000, 1),
            (10_000, 1),
            (100_000, 1),
            (10_000, 1_000),
            (100_000, 1_000),
        ]
    } else {
        &[(1_000, 1), (1_000, 100)]
    };
    let info = RateLimitInfo::default();
    println!(
        "{:>8} {:>6} {:>11} {:>11} {:>13} {:>10} {:>15} {:>10}",
        "queued",
        "keys",
        "submit ns",
        "bytes/call",
        "steady ns",
        "drain ms",
        "drain ns/adm",
        "peak MiB"
    );
    for &(n, keys) in sizes {
        let base = IN_USE.load(Relaxed);
        PEAK.store(base, Relaxed);

        // Submit N.
        let mut e = engine();
        let t = Instant::now();
        for i in 0..n {
            black_box(e.submit(T0, request(i, keys)).expect("open"));
        }
        let submit_ns = t.elapsed().as_nanos() as f64 / n as f64;
        let per_call = (IN_USE.load(Relaxed) - base) as f64 / n as f64;

        // Steady state at N queued.
        let mut runs = Vec::new();
        let mut now = T0;
        let mut next = n;
        for _ in 0..5 {
            let mut done = 0usize;
            let t = Instant::now();
            let mut idle = 0;
            while done < 20_000 {
                let k = step(&mut e, &mut now, &info);
                idle = if k == 0 { idle + 1 } else { 0 };
                assert!(idle < 1_000, "no progress");
                for _ in 0..k {
                    e.submit(now, request(next, keys)).expect("open");
                    next += 1;
                }
                done += k;
            }
            runs.push(t.elapsed().as_nanos() as f64 / done as f64);
        }
        runs.sort_by(f64::total_cmp);
        let steady_ns = runs[runs.len() / 2];

        // Drain.
        let t = Instant::now();
        let mut admissions = 0usize;
        let mut idle = 0;
        while e.live_calls() > 0 {
            let k = step(&mut e, &mut now, &info);
            admissions += k;
            idle = if k == 0 { idle + 1 } else { 0 };
            assert!(idle < 1_000, "no progress");
        }
        let drain = t.elapsed();
        assert!(admissions >= n as usize);
        let peak = (PEAK.load(Relaxed) - base) as f64 / (1024.0 * 1024.0);
        println!(
            "{:>8} {:>6} {:>11.0} {:>11.0} {:>13.0} {:>10.1} {:>15.0} {:>10.1}",
            n,
            keys,
            submit_ns,
            per_call,
            steady_ns,
            drain.as_secs_f64() * 1_000.0,
            drain.as_nanos() as f64 / admissions as f64,
            peak
        );
        drop(e);
    }
}
