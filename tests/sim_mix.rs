//! The simulator with several model classes and organisations: each class has its own
//! buckets and headers, `simulate` reports per-class figures, and one pacer with limit keys
//! does as well as one pacer per model, where one limiter for every class could not.

use llm_pacer::sim::{cli, run, Mix, PacerKeys, PacerLimits, Scenario, StrategyKind};

fn mixed(pacer: PacerKeys, learned: bool, seed: u64) -> Scenario {
    let mut s = Scenario::issue_default(1);
    s.workload.requests = 400;
    s.seed = seed;
    let mut m = Mix::two_models();
    m.pacer = pacer;
    s.mix = Some(m);
    if learned {
        s.pacer_limits = PacerLimits::Learned;
    }
    s
}

#[test]
fn per_class_figures_add_up() {
    let s = mixed(PacerKeys::Keyed, true, 1);
    let r = run(&s, StrategyKind::Pacer);
    assert_eq!(r, run(&s, StrategyKind::Pacer), "reproducible");
    assert_eq!(r.classes.len(), 2);
    assert_eq!(r.classes.iter().map(|c| c.requests).sum::<u32>(), 400);
    assert_eq!(
        r.classes.iter().map(|c| c.completed).sum::<u64>(),
        r.completed
    );
    assert_eq!(
        r.classes.iter().map(|c| c.rate_limited).sum::<u64>(),
        r.rate_limited
    );
    let worst = r.classes.iter().map(|c| c.makespan_ms).fold(0.0, f64::max);
    assert_eq!(worst, r.makespan_ms);
    // Haiku's limits are looser: its lower bound is shorter.
    assert!(r.classes[1].lower_bound_ms < r.classes[0].lower_bound_ms);
    assert!(r
        .to_json()
        .contains(r#""classes":[{"name":"sonnet","requests":200,"#));
}

#[test]
fn limit_keys_do_as_well_as_one_pacer_per_model() {
    for learned in [false, true] {
        for seed in 1..=3 {
            let ratio = |p| run(&mixed(p, learned, seed), StrategyKind::Pacer);
            let (keyed, single, per_model) = (
                ratio(PacerKeys::Keyed),
                ratio(PacerKeys::Single),
                ratio(PacerKeys::PerModel),
            );
            for r in [&keyed, &single, &per_model] {
                assert_eq!(r.failures, 0);
            }
            assert!(keyed.ratio <= 1.06, "keyed {}", keyed.ratio);
            assert!(
                keyed.ratio <= per_model.ratio + 0.02,
                "{} vs {}",
                keyed.ratio,
                per_model.ratio
            );
            assert_eq!(keyed.rate_limited, 0, "learned {learned} seed {seed}");
        }
    }
}

#[test]
fn organisations_have_buckets_of_their_own() {
    let mut s = mixed(PacerKeys::Keyed, true, 2);
    s.mix.as_mut().unwrap().orgs = 2;
    // Four lanes of buckets: enough requests in progress not to be bound by concurrency.
    s.concurrency = 20;
    let two = run(&s, StrategyKind::Pacer);
    let one = run(&mixed(PacerKeys::Keyed, true, 2), StrategyKind::Pacer);
    // Twice the buckets for the same requests: a lower bound about half as long.
    assert!(two.lower_bound_ms < 0.6 * one.lower_bound_ms);
    s.mix.as_mut().unwrap().pacer = PacerKeys::PerModel;
    let per_model = run(&s, StrategyKind::Pacer);
    assert!(
        two.ratio <= 1.1 && two.ratio <= per_model.ratio + 0.02,
        "{} vs {}",
        two.ratio,
        per_model.ratio
    );
    assert_eq!(two.failures, 0);
}

#[test]
fn the_command_line_compares_the_three_ways() {
    let out = cli::run(
        ["--models", "--requests", "100", "--learn-limits"].map(String::from),
        "simulate",
    )
    .unwrap();
    for row in [
        "one pacer, limit keys",
        "one pacer, one limiter",
        "one pacer per model",
    ] {
        assert!(out.contains(row), "{out}");
    }
    assert!(out.contains("sonnet") && out.contains("haiku"), "{out}");
    assert_eq!(
        cli::run(["--orgs", "2"].map(String::from), "simulate").unwrap_err(),
        "--orgs needs --models"
    );
}

#[test]
fn a_cached_prompt_is_each_model_s_own() {
    // Both classes' prompts start with the same 20,000-token system prompt, which each
    // model caches on its own (the estimate's prefix hash includes the model): a write by
    // one model is no read for the other. With limit keys the pacer does as well as one
    // pacer per model, and far better than reserving every prompt whole.
    for learned in [false, true] {
        for seed in 1..=2 {
            let mut s = mixed(PacerKeys::Keyed, learned, seed);
            s.workload.prefix_tokens = 20_000;
            let keyed = run(&s, StrategyKind::Pacer);
            assert_eq!((keyed.failures, keyed.rate_limited), (0, 0), "seed {seed}");
            assert!(
                keyed.ratio <= 1.06,
                "seed {seed}, learned {learned}: {}",
                keyed.ratio
            );
            s.cache_prefixes = false;
            let blind = run(&s, StrategyKind::Pacer);
            assert!(
                blind.ratio >= 1.5,
                "seed {seed}: not shown the prefix {}",
                blind.ratio
            );
        }
    }
}
