//! The simulator: reproducibility, the server model's rules, the lower bound, the baselines,
//! and llm-pacer itself on the issue's scenarios.

use llm_pacer::core::limiter::{Dim, Limits};
use llm_pacer::sim::{
    compare, lower_bound_ms, run, Body, Head, OtpmMetering, PacerLimits, Reply, Report,
    RequestSpec, Rounding, Scenario, Server, ServerConfig, StrategyKind, Table, Totals, Workload,
    START_MS,
};

const BASELINES: [StrategyKind; 3] = [
    StrategyKind::NaiveBackoff,
    StrategyKind::TokenWindow,
    StrategyKind::SdkDefault,
];

fn small(clients: u32, seed: u64) -> Scenario {
    let mut s = Scenario::issue_default(clients);
    s.workload.requests = 150;
    s.seed = seed;
    s
}

fn req(index: usize, input: u32, max_tokens: u32, output: u32) -> RequestSpec {
    RequestSpec {
        index,
        client: 0,
        arrival_ms: START_MS,
        input_tokens: input,
        max_tokens,
        output_tokens: output,
        prefix_tokens: 0,
    }
}

/// Every request is accounted for, the series adds up, and the server never let more through
/// in any minute than its buckets allow.
fn check_consistent(s: &Scenario, r: &Report) {
    assert!(!r.truncated, "{}: stopped early", r.strategy);
    assert_eq!(r.completed + r.failures, u64::from(r.requests), "{r:?}");
    assert!(r.attempts >= r.completed + r.rate_limited + r.overloaded);
    assert_eq!(
        r.series.iter().map(|x| u64::from(x.sent)).sum::<u64>(),
        r.attempts
    );
    assert_eq!(
        r.series
            .iter()
            .map(|x| u64::from(x.rate_limited))
            .sum::<u64>(),
        r.rate_limited
    );
    assert_eq!(
        r.series
            .iter()
            .map(|x| u64::from(x.overloaded))
            .sum::<u64>(),
        r.overloaded
    );
    assert_eq!(r.series.last().map(|x| x.queued), Some(0));
    // Within any 60 s (6 slots) the server admits at most a full bucket plus a minute of
    // refill: twice the limit.
    let itpm = s.server.limits.itpm.unwrap();
    for w in r.series.windows(6) {
        let input: f64 = w.iter().map(|x| x.input_tokens).sum();
        assert!(
            input <= 2.0 * itpm,
            "{}: {input} input tokens in 60 s",
            r.strategy
        );
    }
    if r.failures == 0 {
        assert!(
            r.makespan_ms >= r.lower_bound_ms,
            "{}: makespan {} below the lower bound {}",
            r.strategy,
            r.makespan_ms,
            r.lower_bound_ms
        );
    }
    assert!(r.latency_p50_ms <= r.latency_p99_ms);
}

#[test]
fn same_seed_same_report_different_seed_different_report() {
    for k in BASELINES {
        let a = run(&small(2, 7), k);
        assert_eq!(a, run(&small(2, 7), k), "{k}");
        let b = run(&small(2, 8), k);
        assert_ne!(a, b, "{k}: the seed changed nothing");
    }
}

#[test]
fn a_blasting_client_is_refused_with_sensible_retry_after_values() {
    let mut server = Server::new(&ServerConfig::default(), START_MS, 1);
    // 8,000 OTPM reserved 1,024 at a time: 7 fit in a full bucket; the 8th must wait for
    // 192 more tokens at 133.3 per second: 1.44 s, so `retry-after: 2`.
    let mut admitted = 0;
    for i in 0..7 {
        assert!(matches!(
            server.receive(START_MS, &req(i, 1_000, 1_024, 500)),
            Reply::Admitted { .. }
        ));
        admitted += 1;
    }
    let Reply::Refused { response, at_ms } = server.receive(START_MS, &req(7, 1_000, 1_024, 500))
    else {
        panic!("the 8th request must be refused")
    };
    assert_eq!(admitted, 7);
    assert_eq!(response.status, 429);
    assert_eq!(response.header("retry-after"), Some("2"));
    assert!(at_ms > START_MS && at_ms < START_MS + 200.0);
    assert_eq!(
        response.body,
        Body::Error {
            error_type: "rate_limit_error"
        }
    );
    assert_eq!(
        server.level(Dim::OutputTokens, START_MS),
        Some(8_000.0 - 7.0 * 1_024.0),
        "a refusal debits nothing"
    );

    // Now blast for ten virtual minutes, retrying exactly when told: every retry-after is
    // at least 1 s, too early by one second is refused, on time is admitted, and no
    // admission ever takes a bucket below zero.
    let mut now = START_MS;
    let mut i = 8;
    let mut refusals = 0;
    while now < START_MS + 600_000.0 {
        let r = req(i, 2_500, 1_024, 300);
        match server.clone().receive(now, &r) {
            Reply::Admitted { .. } => {
                server.receive(now, &r);
                i += 1;
            }
            Reply::Refused { response, .. } => {
                refusals += 1;
                let secs: f64 = response.header("retry-after").unwrap().parse().unwrap();
                assert!(secs >= 1.0 && secs.fract() == 0.0 && secs <= 60.0, "{secs}");
                if secs > 1.0 {
                    let early = server.clone().receive(now + (secs - 1.0) * 1_000.0, &r);
                    assert!(
                        matches!(early, Reply::Refused { .. }),
                        "retry-after too long"
                    );
                }
                now += secs * 1_000.0;
                assert!(
                    matches!(server.clone().receive(now, &r), Reply::Admitted { .. }),
                    "retry-after too short"
                );
            }
        }
        assert!(server.stats().min_level_after_admission >= 0.0);
    }
    assert!(refusals > 50);
    // The blast ran at the limits' pace: about 8000/min of output reserved 1024 at a time
    // (the tightest here), i.e. ~7.8 per minute, plus the initial bucket.
    let per_min = (i - 8) as f64 / 10.0;
    assert!((7.0..=9.0).contains(&per_min), "{per_min} per minute");
}

#[test]
fn headers_are_emitted_like_anthropic_on_200_and_429() {
    let mut server = Server::new(&ServerConfig::default(), START_MS, 1);
    let Reply::Admitted {
        admission,
        done_at_ms,
        ..
    } = server.receive(START_MS, &req(0, 1_499, 1_024, 24))
    else {
        panic!()
    };
    let ok = server.complete(done_at_ms, &admission);
    let dims = ["requests", "input-tokens", "output-tokens", "tokens"];
    for d in dims {
        for f in ["limit", "remaining", "reset"] {
            let name = format!("anthropic-ratelimit-{d}-{f}");
            assert!(ok.header(&name).is_some(), "missing {name}");
        }
    }
    // 30,000 - 1,499 refilled for a few seconds: rounded to the nearest thousand.
    let input: f64 = ok
        .header("anthropic-ratelimit-input-tokens-remaining")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(input % 1_000.0, 0.0);
    assert!(input == 29_000.0 || input == 30_000.0, "{input}");
    assert_eq!(
        ok.header("anthropic-ratelimit-input-tokens-limit"),
        Some("30000")
    );
    assert_eq!(ok.header("anthropic-ratelimit-requests-limit"), Some("50"));
    assert_eq!(
        ok.header("anthropic-ratelimit-requests-remaining"),
        Some("49")
    );
    assert_eq!(
        ok.body,
        Body::Message {
            input_tokens: 1_499,
            output_tokens: 24,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
        }
    );
    let reset = ok
        .header("anthropic-ratelimit-output-tokens-reset")
        .unwrap();
    assert!(
        reset.starts_with("2026-01-01T00:00:") && reset.ends_with('Z'),
        "{reset}"
    );

    // Drain the requests bucket: the 429 carries the same family plus retry-after.
    let mut now = done_at_ms;
    let refused = loop {
        match server.receive(now, &req(1, 10, 10, 10)) {
            Reply::Admitted { .. } => now += 1.0,
            Reply::Refused { response, .. } => break response,
        }
    };
    assert_eq!(refused.status, 429);
    assert_eq!(
        refused.header("anthropic-ratelimit-requests-remaining"),
        Some("0")
    );
    // One whole request refills in 1.2 s: the hint is the wait for it, rounded up.
    let level = server.level(Dim::Requests, now).unwrap();
    let wait_s = (1.0 - level) * 1.2;
    let expected = wait_s.ceil().max(1.0).to_string();
    assert_eq!(refused.header("retry-after"), Some(expected.as_str()));
    assert!(refused.header("date").unwrap().ends_with(" GMT"));
}

#[test]
fn a_skewed_server_clock_shows_in_date_and_reset() {
    let cfg = ServerConfig {
        clock_offset_ms: 3_600_000.0,
        ..ServerConfig::default()
    };
    let server = Server::new(&cfg, START_MS, 1);
    let h = server.headers(START_MS);
    let get = |k: &str| h.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(
        get("date").as_deref(),
        Some("Thu, 01 Jan 2026 01:00:00 GMT")
    );
    assert_eq!(
        get("anthropic-ratelimit-requests-reset").as_deref(),
        Some("2026-01-01T01:00:00Z")
    );
}

#[test]
fn the_lower_bound_of_a_hand_computed_workload() {
    let w = Workload {
        requests: 4,
        input_median: 1_000.0,
        input_sigma: 0.0,
        max_tokens: 500,
        output_min: 500,
        output_max: 500,
        ..Workload::default()
    };
    let reqs = w.generate(1, START_MS, 1);
    assert!(reqs
        .iter()
        .all(|r| r.input_tokens == 1_000 && r.output_tokens == 500));
    let totals = Totals::of(&reqs, START_MS);
    let limits = Limits {
        rpm: Some(2.0),
        itpm: Some(1_500.0),
        otpm: Some(1_000.0),
        tpm: None,
    };
    // requests: (4 - 2) / (2/min) = 60 s; input: (4000 - 1500) / (1500/min) = 100 s;
    // output: (2000 - 1000) / (1000/min) = 60 s.
    assert_eq!(lower_bound_ms(&limits, &totals, 1.0), 100_000.0);
}

#[test]
fn the_baselines_complete_and_the_token_window_is_safe_but_slow() {
    for clients in [1, 4] {
        let s = Scenario::issue_default(clients);
        let reports: Vec<Report> = BASELINES.iter().map(|&k| run(&s, k)).collect();
        println!("{s}\n{}", Table(&reports));
        for r in &reports {
            check_consistent(&s, r);
        }
        let window = &reports[1];
        if clients == 1 {
            // One client alone never passes its own (exact) window...
            assert_eq!(window.rate_limited, 0);
            assert_eq!(window.failures, 0);
            // ...but counting max_tokens for 60 s halves its throughput here.
            assert!(window.ratio > 1.5, "{}", window.ratio);
        }
        // The retry recipes without admission control hit the limits hard and give up on
        // some requests.
        assert!(reports[0].rate_limited > 100 && reports[0].failures > 0);
        assert!(reports[2].rate_limited > 100 && reports[2].failures > 0);
    }
}

#[test]
fn overloads_and_realtime_metering_run_through() {
    let mut s = small(2, 3);
    s.server.p_overloaded = 0.05;
    s.server.metering = OtpmMetering::RealTime;
    for k in BASELINES {
        let r = run(&s, k);
        check_consistent(&s, &r);
        assert!(r.overloaded > 0, "{k}");
    }
}

#[test]
fn the_cli_prints_the_comparison_and_rejects_bad_flags() {
    let bin = env!("CARGO_BIN_EXE_simulate");
    let out = std::process::Command::new(bin)
        .args(["--clients", "2", "--requests", "40", "--seed=5"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("40 requests, 2 clients x concurrency 5, seed 5"),
        "{text}"
    );
    for k in StrategyKind::ALL {
        assert!(text.contains(k.name()), "{text}");
    }
    let again = std::process::Command::new(bin)
        .args(["--clients", "2", "--requests", "40", "--seed=5"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(again.stdout).unwrap(), text);

    for bad in [
        &["--clients"][..],
        &["--clients", "zero"],
        &["--clients", "0"],
        &["--metering", "sometimes"],
        &["--p529", "1.5"],
        &["--frobnicate"],
        &["--learn-limits=yes"],
        &["--rounding", "sideways"],
        &["--latency-ms", "2000"],
        &["--latency-ms", "8000,2000"],
        &["--transit-ms", "300"],
        &["--transit-ms", "300,-1"],
        &["--variant", "chaos"],
        &["--head", "sometimes"],
        &["--streams", "1.5"],
        &["--streams", "-0.1"],
    ] {
        let out = std::process::Command::new(bin).args(bad).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.starts_with("simulate: "), "{bad:?}: {err}");
    }
    let help = std::process::Command::new(bin)
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8(help.stdout)
        .unwrap()
        .contains("--metering"));
    // Streams with heads written at admission: the report says so.
    let out = std::process::Command::new(bin)
        .args([
            "--requests",
            "40",
            "--head",
            "admission",
            "--streams",
            "0.5",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("50% of the 2xx streams"), "{text}");
    let out = std::process::Command::new(bin)
        .args(["--requests", "40", "--transit-ms", "0,300"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("transit U[0, 300] ms"), "{text}");
}

// ---- llm-pacer itself ----

#[test]
fn pacer_is_reproducible() {
    let a = run(&small(2, 7), StrategyKind::Pacer);
    assert_eq!(a, run(&small(2, 7), StrategyKind::Pacer));
    assert_ne!(a, run(&small(2, 8), StrategyKind::Pacer));
}

#[test]
fn pacer_alone_with_the_right_limits_never_sees_a_429_and_is_near_the_bound() {
    let s = Scenario::issue_default(1);
    let reports = compare(&s);
    println!("{s}\n{}", Table(&reports));
    let p = &reports[0];
    assert_eq!(p.strategy, StrategyKind::Pacer);
    check_consistent(&s, p);
    assert_eq!(p.rate_limited, 0);
    assert_eq!(p.failures, 0);
    assert!(p.ratio <= 1.10, "makespan / lower bound = {}", p.ratio);
}

#[test]
fn pacer_alone_stays_clean_when_it_learns_the_limits_or_the_metering_differs() {
    type Tweak = fn(&mut Scenario);
    let variants: [(&str, Tweak); 3] = [
        ("limits learned from headers", |s| {
            s.pacer_limits = llm_pacer::sim::PacerLimits::Learned
        }),
        ("real-time output metering", |s| {
            s.server.metering = OtpmMetering::RealTime
        }),
        ("5% overloaded", |s| s.server.p_overloaded = 0.05),
    ];
    for (name, tweak) in variants {
        let mut s = Scenario::issue_default(1);
        tweak(&mut s);
        let r = run(&s, StrategyKind::Pacer);
        println!("{name}:\n{}", Table(std::slice::from_ref(&r)));
        check_consistent(&s, &r);
        assert_eq!(r.failures, 0, "{name}");
        assert!(r.rate_limited <= 5, "{name}: {} 429s", r.rate_limited);
        assert!(r.ratio <= 1.10, "{name}: ratio {}", r.ratio);
        if s.server.p_overloaded > 0.0 {
            assert!(r.overloaded > 0 && r.retries >= r.overloaded, "{name}");
        }
    }
}

/// An LLM API that answers 529 to a part of its requests for a while asks clients to retry
/// with backoff. A spent budget holds retries, one call probing at a time, instead of handing
/// the calls back: the default budget (1 token back per success) and gRPC's example (0.1)
/// ride through three tenths of the attempts overloaded (gRPC's failed 16 of 400 calls at a
/// tenth, 125 at three tenths, when a spent budget handed every later failure back). Where
/// most attempts fail, the retries still stop short of a storm (fewer than one a call), and
/// the calls whose probe ran out of retries return their 529.
#[test]
fn the_budget_retries_through_partial_overload_and_stops_where_most_attempts_fail() {
    use llm_pacer::core::budget::BudgetConfig;
    let run_at = |p: f64, budget: Option<BudgetConfig>| {
        let mut s = Scenario::issue_default(1);
        s.workload.requests = 400;
        s.server.p_overloaded = p;
        s.budget = budget;
        let r = run(&s, StrategyKind::Pacer);
        check_consistent(&s, &r);
        r
    };
    let default = Some(BudgetConfig::default());
    let grpc = Some(BudgetConfig {
        ratio: 0.1,
        max_tokens: 10.0,
    });
    for budget in [default, grpc] {
        for p in [0.1, 0.2, 0.3] {
            let r = run_at(p, budget);
            assert!(r.overloaded >= 40, "{p}: {} 529s", r.overloaded);
            assert!(
                r.failures <= 2,
                "{budget:?} {p}: {} of 400 failed",
                r.failures
            );
        }
    }
    // Most attempts failing: the retries stop short of a storm, and many calls return their
    // 529.
    let r = run_at(0.7, default);
    assert!(r.failures >= 200, "{} of 400 failed", r.failures);
    assert!(r.retries < 400, "{} retries", r.retries);
    assert!(run_at(0.7, None).failures < 100);
}

#[test]
fn pacer_with_four_clients_keeps_429s_rare() {
    let s = Scenario::issue_default(4);
    let reports = compare(&s);
    println!("{s}\n{}", Table(&reports));
    let p = &reports[0];
    check_consistent(&s, p);
    assert_eq!(p.failures, 0);
    // Measured: 0 429s, ratio 1.011 (the aims over seeds 1-8: see below).
    assert!(
        p.rate_limited_share() <= 0.05,
        "{} 429s in {} attempts",
        p.rate_limited,
        p.attempts
    );
    assert!(p.ratio <= 1.15, "makespan / lower bound = {}", p.ratio);
    // And it beats every baseline that completes everything.
    for r in &reports[1..] {
        if r.failures == 0 {
            assert!(p.makespan_ms < r.makespan_ms, "{}", r.strategy);
        }
    }
}

// ---- uncoordinated processes of one organisation (issue 10) ----

/// llm-pacer alone over seeds 1..=8 of `base` with `clients` processes: the worst ratio, the
/// 429s per request over all seeds, and the failures. Each run is checked for consistency.
fn sweep(base: &Scenario, clients: u32) -> (f64, f64, u64) {
    let (mut worst, mut limited, mut requests, mut failures) = (0.0f64, 0u64, 0u64, 0u64);
    for seed in 1..=8 {
        let mut s = base.clone();
        s.clients = clients;
        s.seed = seed;
        let r = run(&s, StrategyKind::Pacer);
        check_consistent(&s, &r);
        worst = worst.max(r.ratio);
        limited += r.rate_limited;
        requests += u64::from(r.requests);
        failures += r.failures;
    }
    (worst, limited as f64 / requests as f64, failures)
}

#[test]
fn uncoordinated_processes_meet_the_aims_on_the_standard_scenario_and_the_burst_variant() {
    // The aims: four processes at most 1.10x the lower bound with at most 2% 429s per
    // request, eight at most 1.15x with at most 3%, no failed call, over seeds 1-8, on the
    // standard scenario and on the burst variant (latency U[2 s, 8 s], `remaining` rounded
    // down). The same figures: `simulate --seeds 8 [--variant burst]`.
    for (name, base) in [
        ("standard", Scenario::issue_default(1)),
        ("burst", Scenario::burst_variant(1)),
    ] {
        for (k, max_ratio, max_429) in [(4, 1.10, 0.02), (8, 1.15, 0.03)] {
            let (worst, per_request, failures) = sweep(&base, k);
            println!("{name}, {k} processes: worst {worst:.3}, 429s {per_request:.4}");
            assert_eq!(failures, 0, "{name}, {k} processes");
            assert!(worst <= max_ratio, "{name}, {k} processes: ratio {worst}");
            assert!(
                per_request <= max_429,
                "{name}, {k} processes: {per_request} 429s per request"
            );
        }
    }
}

#[test]
fn uncoordinated_processes_that_learn_their_limits_meet_the_aims_too() {
    // No limits given: each process opens its key with one probe request and learns from its
    // answer before sending the rest, so the opening burst stays small. The same aims hold:
    // four processes at most 1.10x with at most 2% 429s, eight at most 1.15x with at most 3%,
    // no failed call (`simulate --seeds 8 --learn-limits [--variant burst]`).
    for (name, base) in [
        ("standard", Scenario::issue_default(1)),
        ("burst", Scenario::burst_variant(1)),
    ] {
        let mut base = base;
        base.pacer_limits = PacerLimits::Learned;
        for (k, max_ratio, max_429) in [(4, 1.10, 0.02), (8, 1.15, 0.03)] {
            let (worst, per_request, failures) = sweep(&base, k);
            println!("{name}, learned, {k} processes: worst {worst:.3}, 429s {per_request:.4}");
            assert_eq!(failures, 0, "{name}, {k} processes");
            assert!(worst <= max_ratio, "{name}, {k} processes: ratio {worst}");
            assert!(
                per_request <= max_429,
                "{name}, {k} processes: {per_request} 429s per request"
            );
        }
    }
}

#[test]
fn a_process_restarted_on_spent_buckets_is_not_held_to_a_fraction_of_the_refill() {
    // Its configured buckets look full to it, and its opening's first answers show them spent
    // (by its earlier run): no sign of others drawing now. Before session 18 that first
    // disagreement halved its blind quarter, and the eighth of the refill left, growing a
    // twentieth a minute, gave 1.18x on 200 requests, 1.04x on 1,000 (`simulate --seeds 8
    // --start-level 0 [--requests 200]`). Now 1.08x and 1.02x at worst, the 429s unchanged.
    // Processes starting together on full buckets, the case the blind start is for, stay
    // within the aims (the tests above).
    for (requests, max_ratio) in [(200, 1.10), (1_000, 1.025)] {
        let mut base = Scenario::issue_default(1);
        base.workload.requests = requests;
        base.server.start_level = 0.0;
        let (worst, per_request, failures) = sweep(&base, 1);
        println!(
            "spent at the start, {requests} requests: worst {worst:.3}, 429s {per_request:.4}"
        );
        assert_eq!(failures, 0);
        assert!(worst <= max_ratio, "{requests} requests: ratio {worst}");
        assert!(per_request <= 0.01, "{per_request} 429s per request");
    }
    let mut bad = Scenario::issue_default(1);
    bad.server.start_level = 1.5;
    assert_eq!(bad.server.validate().unwrap_err().field, "--start-level");
}

#[test]
fn four_engines_learning_from_headers_reject_no_call_on_their_own_estimate() {
    // The issue's measurement: four processes of one organisation, no limits given, 75 calls
    // each submitted at once, RPM 50 / ITPM 30,000 / OTPM 8,000. Before, 67 to 139 of the 300
    // calls were rejected with RETRY_AFTER_TOO_LONG, a wait no server had asked for.
    for base in [Scenario::issue_default(4), Scenario::burst_variant(4)] {
        for seed in 1..=8 {
            let mut s = base.clone();
            s.workload.requests = 300;
            s.pacer_limits = PacerLimits::Learned;
            s.seed = seed;
            let r = run(&s, StrategyKind::Pacer);
            check_consistent(&s, &r);
            assert_eq!(r.failures, 0, "seed {seed}: {r:?}");
        }
    }
}

#[test]
fn an_input_estimate_loses_no_call_the_server_would_serve() {
    // Prompts near the ITPM (median 12,000 tokens against 30,000), estimated 25% high as the
    // built-in estimate does for prose. Refusing on the estimate would fail every prompt above
    // 24,000 tokens; the server takes everything up to 30,000. Exactly the prompts above the
    // limit itself may fail, and each of those costs at most two 429s (refused twice with
    // room: the second refusal ends it).
    for learned in [false, true] {
        for seed in 1..=4 {
            let mut s = Scenario::issue_default(1);
            s.workload.requests = 300;
            s.workload.input_median = 12_000.0;
            s.input_estimate = Some(1.25);
            if learned {
                s.pacer_limits = PacerLimits::Learned;
            }
            s.seed = seed;
            let over = s
                .workload
                .generate(1, START_MS, seed)
                .iter()
                .filter(|r| f64::from(r.input_tokens) > 30_000.0)
                .count() as u64;
            let between = s
                .workload
                .generate(1, START_MS, seed)
                .iter()
                .filter(|r| (24_000.0..=30_000.0).contains(&f64::from(r.input_tokens)))
                .count();
            assert!(
                over > 0 && between > 0,
                "seed {seed}: a workload that tests it"
            );
            let r = run(&s, StrategyKind::Pacer);
            check_consistent(&s, &r);
            assert_eq!(
                r.failures, over,
                "seed {seed}, learned {learned}: failed calls against prompts over the limit"
            );
            assert!(
                r.rate_limited <= 2 * over + 2,
                "seed {seed}, learned {learned}: {} 429s for {over} prompts over the limit",
                r.rate_limited
            );
        }
    }
}

#[test]
fn a_lone_process_that_learns_its_limits_is_clean_under_every_rounding_convention() {
    // The server rounds token `remaining` to the nearest thousand (as Anthropic documents),
    // down, or up; the client cannot know which. Alone, it must stay within 1.03x of the
    // lower bound with no 429 under each.
    for rounding in [Rounding::Nearest, Rounding::Down, Rounding::Up] {
        for base in [Scenario::issue_default(1), Scenario::burst_variant(1)] {
            let mut base = base;
            base.pacer_limits = PacerLimits::Learned;
            base.server.rounding = rounding;
            for seed in 1..=8 {
                let mut s = base.clone();
                s.seed = seed;
                let r = run(&s, StrategyKind::Pacer);
                check_consistent(&s, &r);
                let ctx = format!("{rounding:?}, seed {seed}");
                assert_eq!(r.failures, 0, "{ctx}");
                assert_eq!(r.rate_limited, 0, "{ctx}");
                assert!(r.ratio <= 1.03, "{ctx}: ratio {}", r.ratio);
            }
        }
    }
}

#[test]
fn the_server_rounds_remaining_by_its_convention() {
    for (rounding, want) in [
        (Rounding::Nearest, "1000"),
        (Rounding::Down, "0"),
        (Rounding::Up, "1000"),
    ] {
        let cfg = ServerConfig {
            rounding,
            ..ServerConfig::default()
        };
        let mut server = Server::new(&cfg, START_MS, 1);
        // OTPM 8 000 less 7 168 reserved: 832 left.
        for i in 0..7 {
            assert!(matches!(
                server.receive(START_MS, &req(i, 10, 1_024, 10)),
                Reply::Admitted { .. }
            ));
        }
        let h = server.headers(START_MS);
        let get = |k: &str| h.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            get("anthropic-ratelimit-output-tokens-remaining"),
            Some(want),
            "{rounding:?}"
        );
    }
}

#[test]
fn a_uniform_response_latency_replaces_the_model_time() {
    let cfg = ServerConfig {
        response_latency_ms: Some((2_000.0, 8_000.0)),
        ..ServerConfig::default()
    };
    let mut server = Server::new(&cfg, START_MS, 1);
    for i in 0..7 {
        let Reply::Admitted { done_at_ms, .. } =
            server.receive(START_MS, &req(i, 10, 1_024, 1_000))
        else {
            panic!()
        };
        // 1 000 output tokens at 80/s alone would take 12.5 s.
        assert!(
            (2_000.0..8_000.0).contains(&(done_at_ms - START_MS)),
            "{}",
            done_at_ms - START_MS
        );
    }
    let mut bad = cfg.clone();
    bad.response_latency_ms = Some((5.0, 1.0));
    assert!(bad.validate().is_err());
}

/// A request's transit to the server (`--transit-ms`) comes before the server's own time, and
/// its answer's way back after: a fixed transit delays every answer by exactly twice that
/// much, and the server meters each request when it arrives. A transit range is drawn per
/// request, so a later request may arrive first.
#[test]
fn a_transit_delays_each_request_on_its_way_to_the_server() {
    let mut s = Scenario::issue_default(1);
    s.workload.requests = 1;
    s.server.response_latency_ms = Some((500.0, 500.0));
    let direct = run(&s, StrategyKind::Pacer);
    s.server.transit_ms = (1_000.0, 1_000.0);
    let delayed = run(&s, StrategyKind::Pacer);
    assert_eq!(direct.latency_p50_ms, 500.0);
    assert_eq!(delayed.latency_p50_ms, 2_500.0);
    // A range: the same seed draws the same transits, and the run stays consistent.
    let mut s = small(1, 3);
    s.server.transit_ms = (0.0, 2_000.0);
    let a = run(&s, StrategyKind::Pacer);
    assert_eq!(a, run(&s, StrategyKind::Pacer));
    check_consistent(&s, &a);
    assert_eq!(a.failures, 0);
    let mut bad = s.clone();
    bad.server.transit_ms = (5.0, 1.0);
    assert!(bad
        .validate()
        .unwrap_err()
        .to_string()
        .contains("--transit-ms"));
}

#[test]
fn a_lone_process_on_a_short_fast_batch_does_not_mistake_its_own_transit_for_others() {
    // Limits scaled up (a 30 s lower bound) and answers in 100-300 ms: the opening's transit
    // reservation is given back as each answer arrives. Counted after the server's figures
    // had already placed the level, it lifted the copy above the server, which read as other
    // processes drawing, and a lone process halved its share: 1.37x the bound.
    for seed in 1..=4 {
        let mut s = Scenario::issue_default(1);
        s.seed = seed;
        s.workload.requests = 400;
        s.server.limits = Limits {
            rpm: Some(937.0),
            itpm: Some(562_000.0),
            otpm: Some(150_000.0),
            tpm: None,
        };
        s.server.response_latency_ms = Some((100.0, 300.0));
        let r = run(&s, StrategyKind::Pacer);
        check_consistent(&s, &r);
        assert_eq!(r.rate_limited, 0, "seed {seed}");
        assert!(
            r.ratio <= 1.10,
            "seed {seed}: makespan / lower bound = {}",
            r.ratio
        );
    }
}

#[test]
fn a_prompt_the_server_caches_is_reserved_once_not_every_call() {
    // Every prompt starts with the same 20,000-token system prompt, marked for the server's
    // prompt cache: after the first call writes it, the server counts only the rest. A pacer
    // shown the prefix paces on what the server counts; one that reserves every prompt whole
    // holds 21,500 of 30,000 ITPM per call in flight, and so sends one call at a time.
    for learned in [false, true] {
        for seed in 1..=2 {
            let mut s = Scenario::issue_default(1);
            s.workload.requests = 300;
            s.workload.prefix_tokens = 20_000;
            if learned {
                s.pacer_limits = PacerLimits::Learned;
            }
            s.seed = seed;
            let r = run(&s, StrategyKind::Pacer);
            check_consistent(&s, &r);
            let ctx = format!("seed {seed}, learned {learned}");
            assert_eq!(r.failures, 0, "{ctx}");
            assert_eq!(r.rate_limited, 0, "{ctx}");
            assert!(r.ratio <= 1.05, "{ctx}: ratio {}", r.ratio);
            s.cache_prefixes = false;
            let blind = run(&s, StrategyKind::Pacer);
            check_consistent(&s, &blind);
            assert!(
                blind.ratio >= 1.5,
                "{ctx}: without the prefix {}",
                blind.ratio
            );
        }
    }
}

#[test]
fn a_lone_learning_process_is_not_refused_again_for_a_rounded_figure() {
    // Prompts large enough for ITPM to bind (median 4,000 tokens): the copy learned from a
    // `remaining` rounded to the thousand can sit up to 500 above the truth, inside the
    // figure's interval, where it is left alone. A large request then fits the copy and not
    // the server; after its 429 the copy comes down to the interval's low end, so it is not
    // refused again and again until its retries run out.
    for seed in 1..=4 {
        let mut s = Scenario::issue_default(1);
        s.workload.input_median = 4_000.0;
        s.pacer_limits = PacerLimits::Learned;
        s.seed = seed;
        let r = run(&s, StrategyKind::Pacer);
        check_consistent(&s, &r);
        assert_eq!(r.failures, 0, "seed {seed}");
        assert!(r.rate_limited <= 3, "seed {seed}: {} 429s", r.rate_limited);
    }
}

/// A plan that counts output as it is generated takes a `max_tokens` above its OTPM, and so
/// does the pacer told that plan (its preset's metering): sent, its reservation lowered to the
/// bucket, never REQUEST_TOO_LARGE (a probe: 0 of 5 completed, the baselines 5 of 5).
#[test]
fn a_max_tokens_above_otpm_is_sent_on_a_plan_metered_as_generated() {
    let mut s = small(1, 4);
    s.workload.requests = 40;
    s.workload.max_tokens = 20_000;
    s.server.metering = OtpmMetering::RealTime;
    let r = run(&s, StrategyKind::Pacer);
    check_consistent(&s, &r);
    assert_eq!(r.completed, 40, "{r:?}");
    assert_eq!(r.failures, 0);
    // Once 8 outputs (100 to 1,024 tokens) were seen, the reservation is learned from them,
    // not max_tokens lowered to the 8,000 of the bucket: calls run side by side (3.16 when
    // each reserved the bucket; 2.10 now, the first 8 of 40 calls still one at a time).
    assert!(r.ratio < 2.5, "ratio {}", r.ratio);
    assert_eq!(r.rate_limited, 0, "{r:?}");
}

/// The session-22 probe's workload (`--rpm 120 --itpm 40000 --otpm 40000 --max-tokens 2048
/// --output-min 100 --output-max 600 --input-median 200 --requests 300 --latency-ms 50,300`):
/// each call gives back 70-95% of its reservation.
fn give_back_heavy(clients: u32, seed: u64, head: Head) -> Scenario {
    let mut s = Scenario::issue_default(clients);
    s.seed = seed;
    s.server.limits = Limits {
        rpm: Some(120.0),
        itpm: Some(40_000.0),
        otpm: Some(40_000.0),
        tpm: None,
    };
    s.server.head = head;
    s.server.response_latency_ms = Some((50.0, 300.0));
    s.workload.requests = 300;
    s.workload.input_median = 200.0;
    s.workload.max_tokens = 2_048;
    s.workload.output_min = 100;
    s.workload.output_max = 600;
    s
}

/// Streams whose heads carry the figures of their request's admission, 50-300 ms old
/// (`--head admission`), on a workload that gives most of its reservation back (`max_tokens`
/// 2,048, output 100-600): a lone process, told its limits or learning them, stays near the
/// bound. Read as fresh, those figures stood below its copy by its own give-backs since, which
/// it took for other clients' use: 1.4 to 1.6 times the bound on these seeds.
#[test]
fn a_lone_process_reads_stream_heads_written_at_admission_without_seeing_others() {
    for limits in [PacerLimits::Configured, PacerLimits::Learned] {
        for seed in 1..=4 {
            let mut s = give_back_heavy(1, seed, Head::Admission);
            s.pacer_limits = limits;
            let r = run(&s, StrategyKind::Pacer);
            check_consistent(&s, &r);
            assert_eq!(r.failures, 0);
            assert!(r.rate_limited <= 1, "{limits:?} seed {seed}: {r:?}");
            assert!(r.ratio <= 1.10, "{limits:?} seed {seed}: ratio {}", r.ratio);
        }
    }
}

/// Streams whose heads carry the figures of their admission, `max_tokens` 4,096 against an
/// OTPM of 8,000 (outputs of 100 to 1,024: each call gives most of its reservation back, and
/// two go at once): a lone process reads each head as the server's level then, raised by the
/// refill and its own give-backs since, less what it reserved since. (Brought down to the
/// head's figures themselves, its copy lost the give-back of the call settled meanwhile at
/// nearly every head: 1.14 times the bound on these seeds, 1.06 now.)
#[test]
fn a_lone_process_keeps_the_give_backs_a_stream_head_written_at_admission_missed() {
    for seed in 1..=4 {
        let mut s = Scenario::issue_default(1);
        s.seed = seed;
        s.server.head = Head::Admission;
        s.workload.requests = 300;
        s.workload.max_tokens = 4_096;
        let r = run(&s, StrategyKind::Pacer);
        check_consistent(&s, &r);
        assert_eq!((r.failures, r.rate_limited), (0, 0), "seed {seed}: {r:?}");
        assert!(r.ratio <= 1.09, "seed {seed}: ratio {}", r.ratio);
    }
}

/// Two processes on that give-back-heavy workload, the head written before or after the
/// settlement: each leaves the other headroom by what it uses, not by what it reserves (1.25
/// to 1.31 times the bound on these seeds before, 1.29 and 1.26 on average; now about 1.20
/// and 1.15).
#[test]
fn two_processes_on_a_give_back_heavy_workload_share_the_limits_closely() {
    for head in [Head::Before, Head::After] {
        let mut sum = 0.0;
        for seed in 1..=4 {
            let s = give_back_heavy(2, seed, head);
            let r = run(&s, StrategyKind::Pacer);
            check_consistent(&s, &r);
            assert_eq!(r.failures, 0);
            assert!(r.rate_limited <= 2, "{head:?} seed {seed}: {r:?}");
            sum += r.ratio;
        }
        assert!(sum / 4.0 <= 1.22, "{head:?}: mean ratio {}", sum / 4.0);
    }
}

/// A `max_tokens` of 20,000 against an OTPM of 8,000, limits learned from headers, no preset:
/// a server that counts output as generated serves such requests, and so the pacer sends
/// them (199 of 200 failed `REQUEST_TOO_LARGE` on its own model before session 23); one that
/// reserves `max_tokens` refuses them, and the pacer learns it from two refusals with room.
/// Requests that take up to 300 ms to reach the server, and their answers as long to come
/// back, each its own time, so that a later one may arrive first (`--transit-ms 0,300`): a
/// lone process, told its limits or learning them, is never refused, on the standard scenario
/// and on the give-back-heavy one with stream heads written at arrival, and stays within 1.1
/// of the bound (which counts no transit: each reservation is held a round trip longer than
/// the server holds it; 1.03 to 1.08 on these seeds). (Before, it was refused once or twice a run: its count
/// of its reservations in flight faded with time, a stream head's figures were taken to count
/// every request admitted before its own, and an opening request's transit was recounted
/// after other figures had placed the copy.)
#[test]
fn a_lone_process_whose_requests_arrive_out_of_order_is_never_refused() {
    for limits in [PacerLimits::Configured, PacerLimits::Learned] {
        for seed in 1..=4 {
            let mut standard = small(1, seed);
            let mut heavy = give_back_heavy(1, seed, Head::Admission);
            for s in [&mut standard, &mut heavy] {
                s.pacer_limits = limits;
                s.server.transit_ms = (0.0, 300.0);
                let r = run(s, StrategyKind::Pacer);
                check_consistent(s, &r);
                assert_eq!(r.rate_limited, 0, "{limits:?} seed {seed}: {r:?}");
                assert!(r.ratio < 1.1, "{limits:?} seed {seed}: {}", r.ratio);
            }
        }
    }
}

#[test]
fn max_tokens_above_the_otpm_goes_once_and_the_server_decides() {
    for metering in [OtpmMetering::RealTime, OtpmMetering::Reservation] {
        let mut s = Scenario::issue_default(1);
        s.workload.requests = 200;
        s.workload.max_tokens = 20_000;
        s.pacer_limits = PacerLimits::Learned;
        s.server.metering = metering;
        let r = run(&s, StrategyKind::Pacer);
        assert!(!r.truncated);
        if metering == OtpmMetering::RealTime {
            check_consistent(&s, &r);
            assert_eq!(r.failures, 0, "{r:?}");
            assert!(r.ratio <= 1.2, "ratio {}", r.ratio);
        } else {
            assert_eq!(r.failures, 200, "{r:?}");
            assert!(
                r.rate_limited <= 6,
                "learned from the first refusals: {r:?}"
            );
        }
    }
}
