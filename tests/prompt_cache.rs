//! Anthropic's prompt cache: the prefixes a request body's scan finds
//! (`core::estimate::prefix`), and the engine reserving only what the server will count
//! (`core::prompt_cache`): a prefix a response of the same key reported cached is not
//! reserved again within its time to live; one never reported is.

use llm_pacer::core::call::{Action, Engine, Request, Verdict};
use llm_pacer::core::config::Config;
use llm_pacer::core::estimate::{self, Prefix, Scan};
use llm_pacer::core::headers::RateLimitInfo;
use llm_pacer::core::keys::LimitKey;
use llm_pacer::core::limiter::{Dim, Limits, Usage};
use llm_pacer::core::Ms;
use serde_json::{json, Value};

const T0: Ms = 1_767_225_600_000.0;

/// A system prompt of about `n` thousand estimated tokens.
fn system(n: usize) -> String {
    "You are a careful assistant. ".repeat(n * 100)
}

fn text(t: &str, mark: bool) -> Value {
    let mut b = json!({ "type": "text", "text": t });
    if mark {
        b["cache_control"] = json!({ "type": "ephemeral" });
    }
    b
}

/// A conversation of `turns` user/assistant pairs and a last user question, its last block
/// marked, as an agent sends it each turn.
fn conversation(sys: &str, turns: usize) -> Value {
    let mut messages = Vec::new();
    for i in 0..turns {
        messages
            .push(json!({ "role": "user", "content": [text(&format!("question {i}"), false)] }));
        messages
            .push(json!({ "role": "assistant", "content": [text(&format!("answer {i}"), false)] }));
    }
    messages.push(json!({ "role": "user", "content": [text(&format!("question {turns}"), true)] }));
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": [text(sys, true)],
        "messages": messages,
    })
}

/// [`conversation`] with neither of its breakpoints.
fn unmarked(sys: &str, turns: usize) -> Value {
    let mut body = conversation(sys, turns);
    body["system"][0]
        .as_object_mut()
        .unwrap()
        .remove("cache_control");
    let last = body["messages"].as_array().unwrap().len() - 1;
    body["messages"][last]["content"][0]
        .as_object_mut()
        .unwrap()
        .remove("cache_control");
    body
}

fn prefixes(body: &Value) -> Vec<Prefix> {
    estimate::scan(body.to_string().as_bytes())
        .expect("JSON")
        .prefixes
}

/// The breakpoints, the shortest prefix first (serde_json writes `messages` before `system`).
fn breakpoints(body: &Value) -> Vec<Prefix> {
    let mut b: Vec<Prefix> = prefixes(body)
        .into_iter()
        .filter(|p| p.ttl_ms.is_some())
        .collect();
    b.sort_by(|x, y| x.tokens.total_cmp(&y.tokens));
    b
}

/// Does `later` hold the prefix `p` (as many tokens, but for its breakpoint's own text)?
fn holds(later: &[Prefix], p: &Prefix) -> bool {
    later
        .iter()
        .any(|q| q.hash == p.hash && (q.tokens - p.tokens).abs() <= 20.0)
}

#[test]
fn the_next_turn_holds_the_last_turn_s_breakpoints_no_longer_marked() {
    let sys = system(2);
    let one = breakpoints(&conversation(&sys, 3));
    assert_eq!(one.len(), 2, "the system block and the last question");
    assert!(one[0].tokens < one[1].tokens);
    let two = prefixes(&conversation(&sys, 4));
    for p in &one {
        assert!(holds(&two, p), "{p:?} not among the next turn's prefixes");
    }
    // The whole estimate covers the prefix: the rest is what the server counts.
    let total = estimate::estimate(conversation(&sys, 4).to_string().as_bytes())
        .unwrap()
        .input_tokens;
    assert!(one[1].tokens < total);
}

#[test]
fn a_changed_system_prompt_or_model_shares_no_prefix() {
    let one = breakpoints(&conversation(&system(2), 3));
    let other = prefixes(&conversation(&(system(2) + "!"), 4));
    assert!(one.iter().all(|p| !holds(&other, p)));
    let mut body = conversation(&system(2), 4);
    body["model"] = json!("claude-opus-4-1");
    let other = prefixes(&body);
    assert!(one.iter().all(|p| !holds(&other, p)));
}

#[test]
fn an_earlier_message_changed_shares_the_system_prefix_only() {
    let sys = system(2);
    let one = breakpoints(&conversation(&sys, 3));
    let mut body = conversation(&sys, 4);
    body["messages"][0]["content"][0]["text"] = json!("question zero");
    let two = prefixes(&body);
    assert!(holds(&two, &one[0]));
    assert!(!holds(&two, &one[1]));
}

#[test]
fn the_order_of_the_fields_and_whitespace_and_pieces_do_not_matter() {
    let body = conversation(&system(2), 3);
    let want = prefixes(&body);
    // `messages` before `system`, and pretty-printed.
    let obj = body.as_object().unwrap();
    let mut text = String::from("{\n");
    for k in ["messages", "model", "system", "max_tokens"] {
        text += &format!(
            "  {:?} : {},\n",
            k,
            serde_json::to_string_pretty(&obj[k]).unwrap()
        );
    }
    text.pop();
    text.pop();
    text += "\n}";
    let got = estimate::scan(text.as_bytes()).unwrap().prefixes;
    assert_eq!(got.len(), want.len());
    for p in &want {
        assert!(holds(&got, p), "{p:?}");
    }
    // Read a byte at a time.
    let mut scan = Scan::default();
    for b in body.to_string().as_bytes() {
        scan.feed(std::slice::from_ref(b));
    }
    assert_eq!(scan.finish().unwrap().prefixes, want);
}

#[test]
fn a_body_without_a_breakpoint_has_no_prefixes() {
    assert!(prefixes(&unmarked(&system(2), 3)).is_empty());
    // OpenAI's request shape (its cache needs no breakpoint, and its cached tokens count).
    let openai =
        json!({ "model": "gpt-4o", "messages": [{ "role": "user", "content": system(2) }] });
    assert!(prefixes(&openai).is_empty());
}

#[test]
fn a_one_hour_breakpoint_lives_an_hour() {
    let mut body = conversation(&system(2), 1);
    body["system"][0]["cache_control"] = json!({ "type": "ephemeral", "ttl": "1h" });
    let b = breakpoints(&body);
    assert_eq!(b[0].ttl_ms, Some(3_600_000.0));
    assert_eq!(b[1].ttl_ms, Some(300_000.0));
}

#[test]
fn a_breakpoint_more_than_twenty_blocks_back_is_not_looked_for() {
    let sys = system(2);
    let one = breakpoints(&conversation(&sys, 3));
    // Eleven more turns: 22 blocks (and their messages) between the two breakpoints.
    let far = prefixes(&conversation(&sys, 14));
    assert!(
        holds(&far, &one[0]),
        "the system block is marked in every turn"
    );
    assert!(!holds(&far, &one[1]));
    let near = prefixes(&conversation(&sys, 6));
    assert!(holds(&near, &one[1]));
}

// --- the engine ----------------------------------------------------------------------------

/// ITPM 100,000 (nothing refills noticeably within a test), the rest large.
fn engine() -> Engine {
    let mut c = Config::new();
    c.limits = Limits {
        rpm: Some(1_000.0),
        itpm: Some(100_000.0),
        otpm: Some(1_000_000.0),
        tpm: None,
    };
    Engine::new(c, T0)
}

/// What the ITPM bucket of key `id` holds (full before the key's first call).
fn itpm_left(e: &Engine, now: Ms, id: u64) -> f64 {
    e.limits(now)
        .into_iter()
        .find(|k| k.key.id == id)
        .map_or(100_000.0, |k| {
            k.dims
                .into_iter()
                .find(|d| d.dim == Dim::InputTokens)
                .unwrap()
                .remaining
        })
}

/// The request for `body` as the built-in estimate makes it, on the limit key `id`.
fn request(body: &Value, id: u64) -> Request {
    let text = body.to_string();
    let scanned = estimate::scan(text.as_bytes()).unwrap();
    Request {
        input_tokens: scanned.estimate_sized(text.len() as f64).input_tokens,
        max_tokens: Some(1024.0),
        prefixes: scanned.prefixes,
        key: LimitKey::new(id, ""),
        ..Request::default()
    }
}

/// Send `body` as the built-in estimate would, answer it, settle `usage`: the input
/// tokens it reserved.
fn call(e: &mut Engine, now: Ms, body: &Value, usage: Usage) -> f64 {
    let request = request(body, 0);
    let before = itpm_left(e, now, 0);
    let id = e.submit(now, request).unwrap();
    assert!(matches!(e.poll(now)[..], [Action::Send { .. }]));
    let reserved = before - itpm_left(e, now, 0);
    let v = e.on_response(now, id, 200, &RateLimitInfo::default(), None, 0.5);
    assert_eq!(v, Verdict::Deliver);
    e.on_done(now, id, Some(usage));
    reserved
}

fn wrote(n: f64) -> Usage {
    Usage {
        input_tokens: 50.0,
        cache_creation_input_tokens: n,
        output_tokens: 100.0,
        ..Usage::default()
    }
}

fn read(n: f64) -> Usage {
    Usage {
        input_tokens: 50.0,
        cache_read_input_tokens: n,
        output_tokens: 100.0,
        ..Usage::default()
    }
}

#[test]
fn a_prefix_the_server_reported_cached_is_not_reserved_again() {
    let sys = system(20);
    let mut e = engine();
    // The whole prompt (some 19,400 tokens) on the first turn; the engine's own margins on top
    // are the same for every call.
    let first = call(&mut e, T0, &conversation(&sys, 1), wrote(20_000.0));
    let t = T0 + 30_000.0;
    let second = call(&mut e, t, &conversation(&sys, 2), read(20_000.0));
    assert!(
        second + 19_000.0 < first,
        "the next turn reserves its new blocks only: {second} against {first}"
    );
    // Each turn refreshes what it read, as the server does: four minutes later, still held.
    let third = call(
        &mut e,
        t + 240_000.0,
        &conversation(&sys, 3),
        read(20_000.0),
    );
    assert!((third - second).abs() < 100.0, "{third} against {second}");
    // Six minutes after the last turn, the server's entry has expired: all of it again.
    let late = call(
        &mut e,
        t + 600_000.0,
        &conversation(&sys, 4),
        wrote(20_000.0),
    );
    assert!(late > first, "{late} against {first}");
}

#[test]
fn a_prefix_no_response_reported_cached_is_reserved_whole() {
    let sys = system(20);
    let mut e = engine();
    // The first turn's usage says nothing of the cache (a server without one, or too short).
    let usage = Usage {
        input_tokens: 20_000.0,
        output_tokens: 100.0,
        ..Usage::default()
    };
    let first = call(&mut e, T0, &conversation(&sys, 1), usage);
    let second = call(
        &mut e,
        T0 + 60_000.0,
        &conversation(&sys, 2),
        read(20_000.0),
    );
    assert!(second > first, "{second} against {first}");
    // Another organisation's cache is not this one's.
    let mut e = engine();
    call(&mut e, T0, &conversation(&sys, 1), wrote(20_000.0));
    e.submit(T0 + 1_000.0, request(&conversation(&sys, 2), 42))
        .unwrap();
    e.poll(T0 + 1_000.0);
    let reserved = 100_000.0 - itpm_left(&e, T0 + 1_000.0, 42);
    assert!(reserved > 19_000.0, "{reserved}");
}

#[test]
fn a_turn_sent_before_the_last_one_settled_is_priced_again_when_it_does() {
    // The caller reads a turn's body and sends the next at once: the next one is queued
    // before the pacer has read the usage of the last, and the bucket cannot hold it whole.
    let sys = system(20);
    let mut c = Config::new();
    c.limits = Limits {
        itpm: Some(30_000.0),
        ..Limits::default()
    };
    let mut e = Engine::new(c, T0);
    let one = e.submit(T0, request(&conversation(&sys, 1), 0)).unwrap();
    assert!(matches!(e.poll(T0)[..], [Action::Send { .. }]));
    assert_eq!(
        e.on_response(T0, one, 200, &RateLimitInfo::default(), None, 0.5),
        Verdict::Deliver
    );
    let two = e
        .submit(T0 + 1.0, request(&conversation(&sys, 2), 0))
        .unwrap();
    assert!(e.poll(T0 + 1.0).is_empty(), "it waits for the bucket");
    e.on_done(T0 + 2.0, one, Some(wrote(20_000.0)));
    assert_eq!(
        e.poll(T0 + 2.0),
        vec![Action::Send {
            id: two,
            attempt: 1
        }],
        "its prefix is cached: it goes at once"
    );
}

#[test]
fn only_a_prefix_not_held_before_is_news() {
    use llm_pacer::core::prompt_cache::PromptCache;
    let mut cache = PromptCache::default();
    let p = [Prefix {
        hash: 7,
        tokens: 5_000.0,
        ttl_ms: Some(300_000.0),
    }];
    assert!(cache.wrote(1, &p, None, T0), "written");
    assert!(
        !cache.wrote(1, &p, None, T0 + 1_000.0),
        "refreshed: no news"
    );
    assert!(cache.wrote(2, &p, None, T0 + 1_000.0), "another key's");
    assert!(
        cache.wrote(1, &p, None, T0 + 400_000.0),
        "expired, then written again"
    );
    // A breakpoint too short for the server to cache is not remembered.
    let short = [Prefix {
        hash: 8,
        tokens: 500.0,
        ttl_ms: Some(300_000.0),
    }];
    assert!(!cache.wrote(1, &short, None, T0));
    assert_eq!(cache.cached(1, &short, T0).0, 0.0);
}

#[test]
fn automatic_caching_breaks_at_the_last_block() {
    // A top-level `cache_control` and no marked block: the server caches up to the last
    // block (the prefix kept ends with the last message), and the next turn finds that
    // prefix among its own.
    let auto = |turns: usize| {
        let mut body = unmarked(&system(2), turns);
        body["cache_control"] = json!({ "type": "ephemeral" });
        body
    };
    let one = breakpoints(&auto(3));
    assert_eq!(one.len(), 1, "{one:?}");
    assert_eq!(one[0].ttl_ms, Some(300_000.0));
    let two = prefixes(&auto(4));
    assert!(holds(&two, &one[0]));
    // Twenty-odd blocks later, the server no longer looks back that far.
    assert!(!holds(&prefixes(&auto(14)), &one[0]));
}

#[test]
fn a_changed_thinking_or_tool_choice_shares_the_system_prefix_only() {
    // Anthropic: a change to `thinking` or `tool_choice` invalidates the cached messages,
    // not the system prompt or the tools. Neither is content: the estimate does not count them.
    let sys = system(2);
    let with = |turns: usize, budget: u32, choice: &str| {
        let mut body = conversation(&sys, turns);
        body["thinking"] = json!({ "type": "enabled", "budget_tokens": budget });
        body["tool_choice"] = json!({ "type": choice });
        body
    };
    let one = breakpoints(&with(3, 4_000, "auto"));
    assert!(holds(&prefixes(&with(4, 4_000, "auto")), &one[1]));
    for other in [with(4, 8_000, "auto"), with(4, 4_000, "any")] {
        let two = prefixes(&other);
        assert!(holds(&two, &one[0]), "the system prefix stays");
        assert!(!holds(&two, &one[1]), "the messages' prefix goes");
    }
    let counted = |b: &Value| estimate::estimate(b.to_string().as_bytes()).unwrap();
    assert_eq!(
        counted(&with(3, 4_000, "auto")),
        counted(&conversation(&sys, 3))
    );
}

#[test]
fn automatic_caching_for_an_hour_lives_an_hour_and_is_not_counted() {
    let auto = |ttl: Option<&str>| {
        let mut body = unmarked(&system(2), 3);
        body["cache_control"] = match ttl {
            Some(t) => json!({ "type": "ephemeral", "ttl": t }),
            None => json!({ "type": "ephemeral" }),
        };
        body
    };
    assert_eq!(breakpoints(&auto(Some("1h")))[0].ttl_ms, Some(3_600_000.0));
    assert_eq!(breakpoints(&auto(Some("5m")))[0].ttl_ms, Some(300_000.0));
    assert_eq!(breakpoints(&auto(None))[0].ttl_ms, Some(300_000.0));
    // The same prefix whatever the ttl, and the top-level object is no input.
    assert_eq!(
        breakpoints(&auto(Some("1h")))[0].hash,
        breakpoints(&auto(None))[0].hash
    );
    let counted = |b: &Value| estimate::estimate(b.to_string().as_bytes()).unwrap();
    assert_eq!(
        counted(&auto(Some("1h"))),
        counted(&unmarked(&system(2), 3))
    );
    // A block's own breakpoint keeps its own ttl (the system block and the last question).
    let mut body = conversation(&system(2), 3);
    body["cache_control"] = json!({ "type": "ephemeral", "ttl": "1h" });
    let b = breakpoints(&body);
    let own = b.iter().filter(|p| p.ttl_ms == Some(300_000.0)).count();
    assert_eq!(own, 2, "{b:?}");
}

#[test]
fn an_image_added_anywhere_shares_the_system_prefix_only() {
    // Anthropic: whether the prompt holds an image invalidates the cached messages, wherever
    // the image is; the tools and the system prompt stay cached.
    let sys = system(2);
    let image = json!({ "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo=" } });
    let one = breakpoints(&conversation(&sys, 3));
    let mut body = conversation(&sys, 4);
    let last = body["messages"].as_array().unwrap().len() - 1;
    body["messages"][last]["content"]
        .as_array_mut()
        .unwrap()
        .insert(0, image.clone());
    let two = prefixes(&body);
    assert!(holds(&two, &one[0]), "the system prefix stays");
    assert!(!holds(&two, &one[1]), "the messages' prefix goes");
    // A conversation that held an image all along keeps its prefixes from turn to turn.
    let with_image = |turns: usize| {
        let mut body = conversation(&sys, turns);
        body["messages"][0]["content"]
            .as_array_mut()
            .unwrap()
            .push(image.clone());
        body
    };
    let one = breakpoints(&with_image(3));
    let two = prefixes(&with_image(4));
    assert!(one.iter().all(|p| holds(&two, p)));
}

#[test]
fn a_callers_count_is_sure_but_for_the_longest_prefix_in_its_own_units() {
    let body = conversation(&system(2), 3);
    let scanned = estimate::scan(body.to_string().as_bytes()).unwrap();
    let whole = scanned.counts.estimate().input_tokens;
    let marks = breakpoints(&body);
    // The caller counts 80% of what the estimate does: each prefix is 80% of itself too.
    let (prefixes, sure) = scanned.clone().counted(whole * 0.8);
    assert_eq!(prefixes.len(), scanned.prefixes.len());
    for (p, q) in prefixes.iter().zip(&scanned.prefixes) {
        assert_eq!(p.hash, q.hash);
        assert_eq!(p.ttl_ms, q.ttl_ms);
        assert!((p.tokens - q.tokens * 0.8).abs() <= 1.0, "{p:?} {q:?}");
    }
    let longest = marks.last().unwrap().tokens * 0.8;
    assert!((sure - (whole * 0.8 - longest)).abs() <= 1.0);
    // No breakpoint, or no count worth the name: the whole count is sure.
    let plain = estimate::scan(unmarked(&system(2), 3).to_string().as_bytes()).unwrap();
    assert_eq!(plain.counted(5_000.0), (Vec::new(), 5_000.0));
    assert_eq!(scanned.clone().counted(0.0), (Vec::new(), 0.0));
    assert!(scanned.counted(f64::NAN).0.is_empty());
}
