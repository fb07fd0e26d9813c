//! The demo page's exports (cargo feature `simulator`, never in the npm package): the
//! simulator, backoff samples and the preset table, each taking and returning JSON.
//!
//! * `simulate(scenario)` runs [`crate::sim::run`] for every strategy asked for (all of them
//!   by default, llm-pacer first) and returns `{"scenario": {...}, "reports": [...]}`, each
//!   report as [`crate::sim::Report::to_json`] writes it (time series included).
//! * `backoffSamples(options)` draws `samples` whole retry sequences per jitter mode from
//!   [`crate::core::backoff::Backoff`] with a PRNG seeded by `seed` (the same draws for every
//!   mode, so the modes compare like for like) and returns the delays per attempt.
//! * `presets()` returns [`crate::core::presets::PRESETS`] with their sources.
//!
//! Inputs are a JSON string or a plain object. Keys are spelled as in JavaScript; `null` and
//! absent mean "the default". A value of the wrong type throws a `TypeError`, one out of range
//! a `RangeError`, naming the key (`workload.maxTokens`).

use super::js;
use crate::core::backoff::{Backoff, Jitter};
use crate::core::config::Config;
use crate::core::limiter::Limits;
use crate::core::presets::{self, OutputMetering, Preset};
use crate::sim::{self, Arrival, OtpmMetering, PacerLimits, Scenario, StrategyKind};
use js_sys::Array;
use std::fmt::Write;
use wasm_bindgen::prelude::*;

type R<T> = Result<T, JsValue>;

fn type_err(key: &str, expected: &str) -> JsValue {
    js_sys::TypeError::new(&format!("llm-pacer sim: `{key}` must be {expected}")).into()
}

fn range_err(key: &str, expected: &str) -> JsValue {
    js_sys::RangeError::new(&format!("llm-pacer sim: `{key}` must be {expected}")).into()
}

/// The input as an object: a JSON string is parsed, `undefined`/`null` is `{}`.
fn input(v: JsValue) -> R<JsValue> {
    if let Some(s) = v.as_string() {
        js_sys::JSON::parse(&s)
    } else if v.is_null_or_undefined() {
        Ok(js_sys::Object::new().into())
    } else if v.is_object() {
        Ok(v)
    } else {
        Err(type_err("input", "a JSON string or an object"))
    }
}

fn field(obj: &JsValue, key: &'static str) -> R<Option<JsValue>> {
    let v = js::get(obj, key)?;
    Ok((!v.is_null_or_undefined()).then_some(v))
}

fn number(obj: &JsValue, key: &'static str, path: &str) -> R<Option<f64>> {
    match field(obj, key)? {
        None => Ok(None),
        Some(v) => match v.as_f64() {
            Some(n) if n.is_finite() => Ok(Some(n)),
            Some(_) => Err(range_err(path, "a finite number")),
            None => Err(type_err(path, "a number")),
        },
    }
}

fn integer(obj: &JsValue, key: &'static str, path: &str, lo: f64, hi: f64) -> R<Option<f64>> {
    match number(obj, key, path)? {
        Some(n) if n.fract() != 0.0 || n < lo || n > hi => {
            Err(range_err(path, &format!("an integer from {lo} to {hi}")))
        }
        n => Ok(n),
    }
}

fn string(obj: &JsValue, key: &'static str, path: &str) -> R<Option<String>> {
    match field(obj, key)? {
        None => Ok(None),
        Some(v) => v
            .as_string()
            .map(Some)
            .ok_or_else(|| type_err(path, "a string")),
    }
}

fn boolean(obj: &JsValue, key: &'static str, path: &str) -> R<Option<bool>> {
    match field(obj, key)? {
        None => Ok(None),
        Some(v) => v
            .as_bool()
            .map(Some)
            .ok_or_else(|| type_err(path, "a boolean")),
    }
}

fn object(obj: &JsValue, key: &'static str, path: &str) -> R<Option<JsValue>> {
    match field(obj, key)? {
        Some(v) if !v.is_object() => Err(type_err(path, "an object")),
        v => Ok(v),
    }
}

const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

/// The scenario, and the strategies to run.
fn scenario(o: &JsValue) -> R<(Scenario, Vec<StrategyKind>)> {
    let mut s = Scenario::issue_default(1);
    if let Some(n) = integer(o, "seed", "seed", 0.0, MAX_SAFE)? {
        s.seed = n as u64;
    }
    if let Some(n) = integer(o, "clients", "clients", 1.0, 10_000.0)? {
        s.clients = n as u32;
    }
    if let Some(n) = integer(o, "concurrency", "concurrency", 1.0, 1_000_000.0)? {
        s.concurrency = n as u32;
    }

    // Limits: a preset, then explicit keys over it; explicit keys alone replace the default
    // limits entirely (an absent key is then unlimited).
    let explicit = match object(o, "limits", "limits")? {
        Some(l) => Some(Limits {
            rpm: number(&l, "rpm", "limits.rpm")?,
            tpm: number(&l, "tpm", "limits.tpm")?,
            itpm: number(&l, "itpm", "limits.itpm")?,
            otpm: number(&l, "otpm", "limits.otpm")?,
        }),
        None => None,
    };
    let preset = match string(o, "preset", "preset")? {
        // A simulated server meters one model class: a whole tier names several.
        Some(name) if crate::core::models::find_tier(&name).is_some() => {
            return Err(js_sys::RangeError::new(&format!(
                "llm-pacer: option `preset` must be one model class's preset here (the simulated \
                 server meters one class), such as \"{name}:sonnet\"; a whole tier names several"
            ))
            .into())
        }
        Some(name) => Some(super::options::preset(&name)?),
        None => None,
    };
    // The plan's metering too (`metering` below replaces it): a plan that counts output as
    // it is generated takes a `max_tokens` above its OTPM.
    if preset.and_then(|p| p.metering()) == Some(crate::core::presets::OutputMetering::RealTime) {
        s.server.metering = OtpmMetering::RealTime;
    }
    s.server.limits = match (preset, explicit) {
        (Some(p), e) => p.merged(&e.unwrap_or_default()),
        (None, Some(e)) => e,
        (None, None) => s.server.limits,
    };

    if let Some(w) = object(o, "workload", "workload")? {
        let wl = &mut s.workload;
        if let Some(n) = integer(&w, "requests", "workload.requests", 1.0, 100_000.0)? {
            wl.requests = n as u32;
        }
        if let Some(n) = number(&w, "inputMedian", "workload.inputMedian")? {
            wl.input_median = n;
        }
        if let Some(n) = number(&w, "inputSigma", "workload.inputSigma")? {
            wl.input_sigma = n;
        }
        let tokens = |key: &'static str, path: &str| integer(&w, key, path, 0.0, 10_000_000.0);
        if let Some(n) = integer(&w, "maxTokens", "workload.maxTokens", 1.0, 10_000_000.0)? {
            wl.max_tokens = n as u32;
        }
        if let Some(n) = tokens("outputMin", "workload.outputMin")? {
            wl.output_min = n as u32;
        }
        if let Some(n) = tokens("outputMax", "workload.outputMax")? {
            wl.output_max = n as u32;
        }
        if let Some(per_s) = number(&w, "arrivalPerS", "workload.arrivalPerS")? {
            wl.arrival = Arrival::Poisson { per_s };
        }
    }

    if let Some(p) = number(o, "p529", "p529")? {
        s.server.p_overloaded = p;
    }
    if let Some(m) = string(o, "metering", "metering")? {
        s.server.metering = match m.as_str() {
            "reservation" => OtpmMetering::Reservation,
            "realtime" => OtpmMetering::RealTime,
            _ => return Err(range_err("metering", "\"reservation\" or \"realtime\"")),
        };
    }
    if boolean(o, "learnLimits", "learnLimits")? == Some(true) {
        s.pacer_limits = PacerLimits::Learned;
    }
    if let Some(ms) = number(o, "skewMs", "skewMs")? {
        s.server.clock_offset_ms = ms;
    }
    if let Some(ms) = number(o, "storeMs", "storeMs")? {
        s.store_ms = Some(ms);
    }
    if let Some(n) = integer(o, "outside", "outside", 0.0, 10_000.0)? {
        s.outside = n as u32;
    }
    if boolean(o, "models", "models")? == Some(true) {
        s.mix = Some(sim::Mix::two_models());
    }
    if let Some(n) = integer(o, "orgs", "orgs", 1.0, 64.0)? {
        match s.mix.as_mut() {
            Some(m) => m.orgs = n as u32,
            None => return Err(range_err("orgs", "given with models: true")),
        }
    }
    // The scenario's own checks, which name the config's key (`workload.maxTokens`).
    s.validate()
        .map_err(|e| JsValue::from(js_sys::RangeError::new(&format!("llm-pacer sim: {e}"))))?;

    let strategies = match field(o, "strategies")? {
        None => StrategyKind::ALL.to_vec(),
        Some(v) if Array::is_array(&v) => {
            let bad = || {
                range_err(
                    "strategies",
                    "a list of one or more of \"llm-pacer\", \"naive-backoff\", \
                     \"token-window\", \"sdk-default\"",
                )
            };
            let mut out = Vec::new();
            for v in Array::from(&v).iter() {
                let k = v
                    .as_string()
                    .and_then(|n| StrategyKind::from_name(&n))
                    .ok_or_else(bad)?;
                if !out.contains(&k) {
                    out.push(k);
                }
            }
            if out.is_empty() {
                return Err(bad());
            }
            out
        }
        Some(_) => return Err(type_err("strategies", "an array of strategy names")),
    };
    Ok((s, strategies))
}

/// `v` as a JSON number, or `null`.
fn num(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v}"),
        _ => "null".into(),
    }
}

/// `s` as a JSON string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn limits_json(l: &Limits) -> String {
    format!(
        "{{\"rpm\":{},\"itpm\":{},\"otpm\":{},\"tpm\":{}}}",
        num(l.rpm),
        num(l.itpm),
        num(l.otpm),
        num(l.tpm)
    )
}

/// The `simulate` command line, as `llm-pacer simulate` runs it ([`crate::sim::cli`]): the
/// report to print, or a thrown string naming the bad flag.
#[wasm_bindgen(js_name = cli)]
pub fn cli(args: Vec<String>, prog: String) -> Result<String, JsValue> {
    sim::cli::run(args, &prog).map_err(|e| JsValue::from_str(&e))
}

/// Run the simulator: every strategy (or those in `strategies`) on the scenario.
///
/// Returns `{"scenario": {seed, clients, concurrency, limits, metering, p529, learnLimits,
/// workload, summary}, "reports": [...]}`.
#[wasm_bindgen(js_name = simulate)]
pub fn simulate(scenario_json: JsValue) -> R<String> {
    let o = input(scenario_json)?;
    let (s, strategies) = scenario(&o)?;
    let w = &s.workload;
    let mut out = String::with_capacity(4_096);
    let _ = write!(
        out,
        "{{\"scenario\":{{\"seed\":{},\"clients\":{},\"concurrency\":{},\"limits\":{},\
         \"metering\":\"{}\",\"p529\":{},\"learnLimits\":{},\"skewMs\":{},\"storeMs\":{},\"outside\":{},\
         \"workload\":{{\
         \"requests\":{},\"inputMedian\":{},\"inputSigma\":{},\"maxTokens\":{},\
         \"outputMin\":{},\"outputMax\":{},\"arrivalPerS\":{}}},\"summary\":{}}},\"reports\":[",
        s.seed,
        s.clients,
        s.concurrency,
        limits_json(&s.server.limits),
        s.server.metering.name(),
        s.server.p_overloaded,
        s.pacer_limits == PacerLimits::Learned,
        s.server.clock_offset_ms,
        num(s.store_ms),
        s.outside,
        w.requests,
        w.input_median,
        w.input_sigma,
        w.max_tokens,
        w.output_min,
        w.output_max,
        num(match w.arrival {
            Arrival::AtStart => None,
            Arrival::Poisson { per_s } => Some(per_s),
        }),
        quote(&s.to_string()),
    );
    for (i, k) in strategies.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&sim::run(&s, k).to_json());
    }
    out.push_str("]}");
    Ok(out)
}

/// Draw backoff delays: for each jitter mode, `samples` sequences of `attempts` retries.
///
/// Options (all optional): `initialDelayMs` (1000), `maxDelayMs` (60000), `multiplier` (2),
/// `attempts` (6, at most 30), `samples` (400, at most 5000), `seed` (1), `jitters` (every
/// mode). Returns `{"attempts", "samples", "seed", "base": [ms per attempt], "modes":
/// [{"jitter", "delays": [[ms per sample] per attempt]}]}`, delays rounded to 0.1 ms.
#[wasm_bindgen(js_name = backoffSamples)]
pub fn backoff_samples(options: JsValue) -> R<String> {
    let o = input(options)?;
    let mut c = Config::new();
    let b = &mut c.retry.backoff;
    if let Some(n) = number(&o, "initialDelayMs", "initialDelayMs")? {
        b.initial_delay_ms = n;
    }
    if let Some(n) = number(&o, "maxDelayMs", "maxDelayMs")? {
        b.max_delay_ms = n;
    }
    if let Some(n) = number(&o, "multiplier", "multiplier")? {
        b.multiplier = n;
    }
    // The pacer's own checks, so the page accepts exactly what `retry` accepts.
    c.validate().map_err(|e| {
        JsValue::from(js_sys::RangeError::new(
            &e.to_string().replace("retry.", ""),
        ))
    })?;
    let backoff = c.retry.backoff;
    let attempts = integer(&o, "attempts", "attempts", 1.0, 30.0)?.unwrap_or(6.0) as usize;
    let samples = integer(&o, "samples", "samples", 1.0, 5_000.0)?.unwrap_or(400.0) as usize;
    let seed = integer(&o, "seed", "seed", 0.0, MAX_SAFE)?.unwrap_or(1.0) as u64;
    let jitters = match field(&o, "jitters")? {
        None => Jitter::ALL.to_vec(),
        Some(v) if Array::is_array(&v) => Array::from(&v)
            .iter()
            .map(|j| j.as_string().and_then(|n| Jitter::from_name(&n)))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                range_err(
                    "jitters",
                    "a list of \"none\", \"full\", \"equal\", \"decorrelated\", \"additive\"",
                )
            })?,
        Some(_) => return Err(type_err("jitters", "an array of jitter modes")),
    };

    let mut out = String::with_capacity(64 + jitters.len() * attempts * samples * 8);
    let _ = write!(
        out,
        "{{\"attempts\":{attempts},\"samples\":{samples},\"seed\":{seed},\"base\":["
    );
    for n in 1..=attempts {
        let _ = write!(
            out,
            "{}{}",
            if n == 1 { "" } else { "," },
            backoff.base_delay(n as u32)
        );
    }
    out.push_str("],\"modes\":[");
    for (m, jitter) in jitters.into_iter().enumerate() {
        let policy = Backoff { jitter, ..backoff };
        // Same seed for every mode: common random numbers.
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut per_attempt: Vec<Vec<f64>> = vec![Vec::with_capacity(samples); attempts];
        for _ in 0..samples {
            for (i, d) in policy.iter(|| rng.f64()).take(attempts).enumerate() {
                per_attempt[i].push(d);
            }
        }
        let _ = write!(
            out,
            "{}{{\"jitter\":\"{}\",\"delays\":[",
            if m == 0 { "" } else { "," },
            jitter.name()
        );
        for (i, ds) in per_attempt.iter().enumerate() {
            out.push_str(if i == 0 { "[" } else { ",[" });
            for (k, d) in ds.iter().enumerate() {
                let _ = write!(
                    out,
                    "{}{}",
                    if k == 0 { "" } else { "," },
                    (d * 10.0).round() / 10.0
                );
            }
            out.push(']');
        }
        out.push_str("]}");
    }
    out.push_str("]}");
    Ok(out)
}

fn preset_json(p: &Preset) -> String {
    format!(
        "{{\"name\":{},\"provider\":{},\"tier\":{},\"class\":{},\"models\":{},\"limits\":{},\
         \"metering\":{},\"source\":{},\"read\":{},\"note\":{}}}",
        quote(p.name),
        quote(p.provider()),
        quote(p.tier()),
        quote(p.class()),
        quote(p.models),
        limits_json(&p.limits()),
        p.metering()
            .map(|m: OutputMetering| quote(m.name()))
            .unwrap_or_else(|| "null".into()),
        quote(p.source().url),
        quote(p.source().read),
        quote(p.source().note),
    )
}

/// The preset table as a JSON array: `name`, `provider`, `tier`, `class`, `models`, `limits`
/// (`rpm`, `itpm`, `otpm`, `tpm`, `null` when not published), `metering` (`"reservation"`,
/// `"realtime"` or `null`), `source`, `read`, `note`.
#[wasm_bindgen(js_name = presets)]
pub fn presets_json() -> String {
    let rows: Vec<String> = presets::PRESETS.iter().map(preset_json).collect();
    format!("[{}]", rows.join(","))
}
