//! Limit keys, end to end through the [`Engine`] and the [`Scheduler`], in virtual time:
//! per-key isolation (a 429 on one model or organisation never delays another; one model's
//! headers never change another's learned limits), no head-of-line blocking across keys, one
//! fair order across keys, per-class configured limits and tier presets, and a bound on the
//! keys held.

use llm_pacer::core::call::{Action, CallError, Engine, Id, Request, Verdict};
use llm_pacer::core::config::Config;
use llm_pacer::core::headers::{self, RateLimitInfo};
use llm_pacer::core::keys::{LimitKey, IDLE_MS};
use llm_pacer::core::limiter::{
    Cost, Decision, Dim, Limiter, Limits, Source, Usage, EDGE_MARGIN_MS,
};
use llm_pacer::core::models::{find_tier, ModelLimits};
use llm_pacer::core::scheduler::Scheduler;
use llm_pacer::core::Ms;
use proptest::prelude::*;

const T0: Ms = 1_767_225_600_000.0;

fn key(id: u64, class: &str) -> LimitKey {
    LimitKey::new(id, class)
}

fn req(k: &LimitKey) -> Request {
    Request {
        input_tokens: 100.0,
        max_tokens: Some(100.0),
        key: k.clone(),
        ..Request::default()
    }
}

fn sends(actions: &[Action]) -> Vec<Id> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

fn none() -> RateLimitInfo {
    RateLimitInfo::default()
}

fn hint(ms: Ms) -> RateLimitInfo {
    RateLimitInfo {
        retry_after_ms: Some(ms),
        ..Default::default()
    }
}

/// Anthropic-style headers: requests limit/remaining, input tokens limit/remaining.
fn anthropic(rpm: (u32, u32), itpm: (u32, u32)) -> RateLimitInfo {
    let (rl, rr) = (rpm.0.to_string(), rpm.1.to_string());
    let (il, ir) = (itpm.0.to_string(), itpm.1.to_string());
    headers::parse(
        [
            ("anthropic-ratelimit-requests-limit", rl.as_str()),
            ("anthropic-ratelimit-requests-remaining", rr.as_str()),
            ("anthropic-ratelimit-input-tokens-limit", il.as_str()),
            ("anthropic-ratelimit-input-tokens-remaining", ir.as_str()),
        ],
        T0,
    )
}

fn config() -> Config {
    let mut c = Config::new();
    c.retry.backoff.jitter = llm_pacer::core::backoff::Jitter::None;
    c
}

fn per_class(models: &[(&str, Limits)]) -> Config {
    let mut c = config();
    c.models = models
        .iter()
        .map(|(class, limits)| ModelLimits {
            class: (*class).into(),
            limits: *limits,
        })
        .collect();
    c
}

fn rpm(n: f64) -> Limits {
    Limits {
        rpm: Some(n),
        ..Limits::default()
    }
}

#[test]
fn a_429_on_one_model_does_not_delay_another() {
    let (a, b) = (key(1, "opus"), key(1, "haiku"));
    let mut e = Engine::new(config(), T0);
    let a1 = e.submit(T0, req(&a)).unwrap();
    assert_eq!(sends(&e.poll(T0)), [a1]);
    // Model A: a 429 asking for 30 s.
    let v = e.on_response(T0 + 10.0, a1, 429, &hint(30_000.0), None, 0.0);
    assert!(matches!(v, Verdict::Retry { at_ms } if at_ms >= T0 + 30_010.0));
    // A second call on A waits for the pause; one on B goes at once.
    let a2 = e.submit(T0 + 20.0, req(&a)).unwrap();
    let b1 = e.submit(T0 + 20.0, req(&b)).unwrap();
    assert_eq!(sends(&e.poll(T0 + 20.0)), [b1]);
    assert!(e.limiter(&a).unwrap().paused_until(T0 + 20.0).is_some());
    assert_eq!(e.limiter(&b).unwrap().paused_until(T0 + 20.0), None);
    // B keeps going during A's pause.
    assert_eq!(
        e.on_response(T0 + 30.0, b1, 200, &none(), None, 0.0),
        Verdict::Deliver
    );
    e.on_done(T0 + 30.0, b1, None);
    let b2 = e.submit(T0 + 40.0, req(&b)).unwrap();
    assert_eq!(sends(&e.poll(T0 + 40.0)), [b2]);
    // A's calls go after the pause, the retry first.
    let wake = e.next_wake().unwrap();
    assert!(wake >= T0 + 30_000.0, "{}", wake - T0);
    assert_eq!(sends(&e.poll(T0 + 30_010.0)), [a1, a2]);
}

#[test]
fn a_429_for_one_organisation_does_not_hold_another() {
    let (one, two) = (key(1, "sonnet"), key(2, "sonnet"));
    let mut c = config();
    c.retry.max_retry_after_ms = 10_000.0;
    let mut e = Engine::new(c, T0);
    let x = e.submit(T0, req(&one)).unwrap();
    assert_eq!(sends(&e.poll(T0)), [x]);
    // Organisation one: a 429 whose hint is beyond maxRetryAfterMs: returned, and the rest of
    // one's queue refused; two's calls are untouched.
    let y = e.submit(T0, req(&one)).unwrap();
    let z = e.submit(T0, req(&two)).unwrap();
    assert_eq!(
        e.on_response(T0, x, 429, &hint(600_000.0), None, 0.0),
        Verdict::Deliver
    );
    let acts = e.poll(T0);
    assert!(
        acts.contains(&Action::Fail {
            id: y,
            error: CallError::RetryAfterTooLong { hint_ms: 600_000.0 }
        }),
        "{acts:?}"
    );
    assert_eq!(sends(&acts), [z], "{acts:?}");
}

#[test]
fn one_models_headers_never_change_anothers_learned_limits() {
    let (a, b) = (key(1, "opus"), key(1, "haiku"));
    let mut e = Engine::new(config(), T0);
    let a1 = e.submit(T0, req(&a)).unwrap();
    let b1 = e.submit(T0, req(&b)).unwrap();
    assert_eq!(sends(&e.poll(T0)), [a1, b1]);
    e.on_response(
        T0,
        a1,
        200,
        &anthropic((50, 49), (30_000, 29_000)),
        None,
        0.0,
    );
    e.on_done(T0, a1, None);
    let before = e.limiter(&a).unwrap().clone();
    assert_eq!(before.capacity(Dim::InputTokens), Some(30_000.0));
    // B answers with its own, different, limits: they are B's.
    e.on_response(T0, b1, 200, &anthropic((1_000, 0), (450_000, 0)), None, 0.0);
    e.on_done(T0, b1, None);
    assert_eq!(e.limiter(&a).unwrap(), &before);
    let lb = e.limiter(&b).unwrap();
    assert_eq!(lb.capacity(Dim::InputTokens), Some(450_000.0));
    assert_eq!(lb.capacity(Dim::Requests), Some(1_000.0));
    // B's 0 remaining holds B, not A.
    let a2 = e.submit(T0 + 1.0, req(&a)).unwrap();
    let b2 = e.submit(T0 + 1.0, req(&b)).unwrap();
    assert_eq!(sends(&e.poll(T0 + 1.0)), [a2]);
    assert_eq!(e.stats().queued, 1, "b2 waits for B's requests");
    assert!(b2 > a2);
}

#[test]
fn no_head_of_line_blocking_across_keys() {
    // A: 1 request per minute; B: plenty. A's calls are older and of higher priority.
    let c = per_class(&[("a", rpm(1.0)), ("b", rpm(600.0))]);
    let mut e = Engine::new(c, T0);
    let (a, b) = (key(0, "a"), key(0, "b"));
    let a1 = e.submit(T0, req(&a)).unwrap();
    let mut a2 = req(&a);
    a2.priority = 10;
    let a2 = e.submit(T0, a2).unwrap();
    let b1 = e.submit(T0 + 1.0, req(&b)).unwrap();
    let b2 = e.submit(T0 + 2.0, req(&b)).unwrap();
    // a2 (priority) takes A's one token; a1 waits a minute; B's calls are not held behind it.
    assert_eq!(sends(&e.poll(T0 + 2.0)), [a2, b1, b2]);
    let b3 = e.submit(T0 + 3.0, req(&b)).unwrap();
    assert_eq!(sends(&e.poll(T0 + 3.0)), [b3]);
    let wake = e.next_wake().unwrap();
    // A minute for A's next token (plus the assumed transit of the first request).
    assert!(
        (T0 + 60_001.0..T0 + 60_050.0 + llm_pacer::core::call::ASSUMED_LATENCY_MS).contains(&wake),
        "{}",
        wake - T0
    );
    assert_eq!(sends(&e.poll(wake)), [a1]);
}

#[test]
fn keys_share_one_fair_order_and_one_concurrency_cap() {
    let mut c = config();
    c.concurrency = Some(1);
    let mut e = Engine::new(c, T0);
    let keys: Vec<LimitKey> = (0..3).map(|i| key(i, "m")).collect();
    // Submitted in the order 0, 1, 2, 0, 1, 2, with one high-priority call on key 2.
    let mut ids = Vec::new();
    for round in 0..2 {
        for k in &keys {
            ids.push(e.submit(T0, req(k)).unwrap());
            let _ = round;
        }
    }
    let mut urgent = req(&keys[2]);
    urgent.priority = 1;
    let urgent = e.submit(T0, urgent).unwrap();
    let mut order = Vec::new();
    let mut now = T0;
    for _ in 0..7 {
        let s = sends(&e.poll(now));
        assert_eq!(s.len(), 1, "one at a time: the cap is the pacer's");
        order.push(s[0]);
        now += 10.0;
        e.on_response(now, s[0], 200, &none(), None, 0.0);
        e.on_done(now, s[0], None);
    }
    let mut expected = vec![urgent];
    expected.extend(&ids);
    assert_eq!(order, expected);
}

#[test]
fn configured_limits_apply_per_model_class() {
    let mut c = per_class(&[(
        "haiku",
        Limits {
            itpm: Some(50_000.0),
            ..Limits::default()
        },
    )]);
    c.limits = Limits {
        rpm: Some(50.0),
        itpm: Some(30_000.0),
        ..Limits::default()
    };
    let mut e = Engine::new(c, T0);
    let (h, s, other) = (key(0, "haiku"), key(0, "sonnet"), key(0, "my-model"));
    for k in [&h, &s, &other] {
        e.submit(T0, req(k)).unwrap();
    }
    e.poll(T0);
    let lim = |k: &LimitKey, d: Dim| e.limiter(k).unwrap().capacity(d);
    assert_eq!(lim(&h, Dim::InputTokens), Some(50_000.0));
    assert_eq!(
        lim(&h, Dim::Requests),
        Some(50.0),
        "the top-level limit fills in"
    );
    assert_eq!(lim(&s, Dim::InputTokens), Some(30_000.0));
    assert_eq!(lim(&other, Dim::InputTokens), Some(30_000.0));
    let listed: Vec<(String, usize)> = e
        .limits(T0)
        .into_iter()
        .map(|k| (k.key.class, k.dims.len()))
        .collect();
    assert_eq!(
        listed,
        [
            ("haiku".to_string(), 2),
            ("sonnet".to_string(), 2),
            ("my-model".to_string(), 2)
        ]
    );
    for k in e.limits(T0) {
        assert!(k.dims.iter().all(|d| d.source == Source::Configured));
    }
}

#[test]
fn a_tier_preset_covers_every_class_it_lists() {
    let mut c = config();
    c.tier = find_tier("anthropic:tier-1");
    assert_eq!(c.tier, Some("anthropic:tier-1"));
    assert_eq!(find_tier("anthropic:tier-9"), None);
    assert_eq!(find_tier("anthropic:tier-1:sonnet"), None);
    let mut e = Engine::new(c, T0);
    let (h, s, o) = (key(0, "haiku"), key(0, "sonnet"), key(0, "gpt-4o"));
    for k in [&h, &s, &o] {
        e.submit(T0, req(k)).unwrap();
    }
    e.poll(T0);
    let itpm = |k: &LimitKey| e.limiter(k).unwrap().capacity(Dim::InputTokens);
    assert_eq!(itpm(&h), Some(50_000.0));
    assert_eq!(itpm(&s), Some(30_000.0));
    assert_eq!(itpm(&o), None, "not an Anthropic class: learned");
}

#[test]
fn ten_thousand_keys_do_not_stay_in_memory() {
    let mut e = Engine::new(config(), T0);
    let mut now = T0;
    for i in 0..10_000u64 {
        let id = e.submit(now, req(&key(i, "m"))).unwrap();
        assert_eq!(sends(&e.poll(now)), [id]);
        let info = anthropic((50, 49), (30_000, 29_000));
        assert_eq!(
            e.on_response(now, id, 200, &info, None, 0.0),
            Verdict::Deliver
        );
        e.on_done(
            now,
            id,
            Some(Usage {
                input_tokens: 100.0,
                output_tokens: 10.0,
                ..Usage::default()
            }),
        );
        now += 1.0;
    }
    assert_eq!(e.key_count(), 10_000);
    assert_eq!(e.live_calls(), 0);
    // Idle, and full again a minute later: all dropped at the first poll past IDLE_MS.
    e.poll(now + IDLE_MS + 60_000.0);
    assert_eq!(e.key_count(), 0);
    assert!(e.limits(now + IDLE_MS + 60_000.0).is_empty());
    // A key still in use is kept.
    let busy = key(99, "m");
    let id = e.submit(now, req(&busy)).unwrap();
    e.poll(now + 2.0 * IDLE_MS);
    e.poll(now + 4.0 * IDLE_MS);
    assert_eq!(e.key_count(), 1);
    assert!(e.abort(now + 4.0 * IDLE_MS, id));
    e.poll(now + 6.0 * IDLE_MS);
    assert_eq!(e.key_count(), 0);
}

// ------------------------------------------------------------------ the scheduler, many keys

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// After every poll without a concurrency cap, no key's head is admittable: a call whose
    /// key has tokens is never left behind another key's call. And every admission drew on
    /// its own key's limiter only.
    #[test]
    fn no_admittable_head_is_left_behind(
        ops in prop::collection::vec((0u32..4, 0i32..3, 0u64..3_000, 0u64..5_000), 1..120)
    ) {
        let limits = [1.0, 3.0, 10.0, 60.0];
        let mut lims: Vec<Limiter> = limits
            .iter()
            .map(|&r| Limiter::new(Limits { rpm: Some(r), ..Limits::default() }, T0))
            .collect();
        let mut s = Scheduler::new(None);
        let mut slot_of = std::collections::HashMap::new();
        let mut heads: Vec<std::collections::BTreeSet<(i64, u64, u64)>> = vec![Default::default(); 4];
        let mut now = T0;
        for (i, (slot, prio, dt, _)) in ops.iter().enumerate() {
            let id = i as u64;
            now += *dt as f64;
            s.push_to(*slot, id, *prio, id, Cost::default());
            slot_of.insert(id, *slot);
            heads[*slot as usize].insert((-i64::from(*prio), id, id));
            let before: Vec<f64> = lims.iter().map(|l| l.snapshot(now)[0].remaining).collect();
            let p = s.poll_keys(now, &mut lims, &|_, _, _, _| None);
            let mut taken = [0.0f64; 4];
            for (id, _) in &p.admitted {
                let k = slot_of[id] as usize;
                taken[k] += 1.0;
                let first = *heads[k].iter().next().unwrap();
                prop_assert_eq!(first.2, *id, "within a key, queue order");
                heads[k].remove(&first);
            }
            for k in 0..4 {
                let after = lims[k].snapshot(now)[0].remaining;
                prop_assert!((before[k] - after - taken[k]).abs() < 1e-6, "key {} drew {} for {}", k, before[k] - after, taken[k]);
                if !heads[k].is_empty() {
                    // A head the limiter would admit now is left only when its wait, which
                    // the limiter rounds up by EDGE_MARGIN_MS, ends within that margin: the
                    // scheduler wakes for it then, not a moment later.
                    let admittable = matches!(lims[k].check(now, Cost::default()), Decision::Admit(_));
                    let soon = p.wake_at_ms.is_some_and(|w| w <= now + EDGE_MARGIN_MS);
                    prop_assert!(!admittable || soon, "key {}'s head left behind at {}", k, now - T0);
                }
            }
            if let Some(w) = p.wake_at_ms {
                prop_assert!(w > now);
            } else {
                prop_assert!(s.is_empty());
            }
        }
    }
}
