//! `new Pacer(options)`: the options, already read and validated by the package
//! (`pkg-template/api.js`, which throws the `TypeError` / `RangeError` naming a bad option),
//! arrive here as a flat list of numbers, read into a [`Config`] and the driver's own options.
//!
//! Validation lives in JavaScript for size: the messages and the checks cost the Wasm module
//! several kilobytes, the same checks in JavaScript a few hundred bytes. The core keeps
//! [`Config::validate`] for Rust users; the list read here is valid by construction, and a
//! bad number from a caller that bypasses the package is clamped or ignored, never a panic.
//!
//! The list (NaN: not given, the default applies):
//!
//! | index | option |
//! |---|---|
//! | 0-3 | `limits.rpm`, `limits.tpm`, `limits.itpm`, `limits.otpm` |
//! | 4 | `preset`, as its index in [`presets::PRESETS`] ([`preset_index`], `RawLow` op 11); a whole tier (`"anthropic:tier-1"`) as [`TIER`] plus the index of its first row |
//! | 5-10 | `retry.maxRetries`, `.initialDelayMs`, `.maxDelayMs`, `.multiplier`, `.jitter` (index in [`Jitter::ALL`]), `.maxRetryAfterMs` |
//! | 11-13 | `budget`: 0 = `false`, 1 = an object; its `ratio`, `maxTokens` |
//! | 14 | `concurrency` (`Infinity`: no cap; -1: `"auto"`, adaptive) |
//! | 15 | `timeoutMs` |
//! | 16 | `outputReservation`: -1 `"max_tokens"`, -2 `"none"`, else the number |
//! | 17 | `seed` |
//! | 18 | `retry.retryOn` given: its length; the statuses follow from 19 |

use super::js;
use crate::core::backoff::Jitter;
use crate::core::budget::BudgetConfig;
use crate::core::config::{Config, OutputReservation};
use crate::core::limiter::Limits;
use crate::core::models::{self, ModelLimits};
use crate::core::presets;
use js_sys::Function;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// The injected clock: `now()` in epoch ms, `sleep(ms, signal)` a promise.
pub struct Clock {
    /// The clock object (the `this` of its methods).
    pub obj: JsValue,
    /// `clock.now`.
    pub now: Function,
    /// `clock.sleep`.
    pub sleep: Function,
}

/// The options that are the driver's, not the policy's.
#[derive(Default)]
pub struct DriverOptions {
    /// `fetch`: `None` looks up `globalThis.fetch` at each attempt.
    pub fetch: Option<Function>,
    /// `clock`.
    pub clock: Option<Clock>,
    /// `seed`.
    pub seed: Option<u64>,
    /// `onEvent`.
    pub on_event: Option<Function>,
    /// `estimate`.
    pub estimate: Option<Function>,
    /// `limitKey`.
    pub limit_key: Option<Function>,
    /// `store`: a PacerStore (`reserve`, `settle`), shared by a fleet.
    pub store: Option<JsValue>,
    /// The package's helper `headerLines`: a `Headers` as one string of `name:value` lines.
    pub header_lines: Option<Function>,
    /// The package's helper `awaitAttempt(p, id, attempt)`: once `p` (what `fetch` returned)
    /// settles, it calls `RawPacer::answered(id, attempt, value, ok)`.
    pub await_attempt: Option<Function>,
    /// The package's helper `jsonBody(response, id)`: watches a delivered response's JSON body
    /// as the caller reads it (no clone) and hands what it read to `usageText` or, for a
    /// parsed document, its usage numbers to `usageNumbers`.
    pub json_body: Option<Function>,
    /// The package's helper `pump(response, reader, id, bytes, pending, signal)`: the response
    /// the caller gets for a stream the pacer peeked at (its head; a body of `bytes`, then
    /// `pending`'s chunk, then the rest of `reader`'s), each chunk handed to
    /// `RawPacer::chunk(id, bytes)` on its way and the end to `RawPacer::stream_end(id,
    /// complete)` (`id` < 0: none); the caller's `signal` (if any) fails the body on abort.
    pub pump: Option<Function>,
    /// The package's helper `pin(live)`: told when the pacer's first call starts (`true`) and
    /// when its last ends (`false`), it holds the package's `RawPacer` object meanwhile. Its
    /// callbacks above reach that object only weakly: were they to hold it, this module would
    /// hold it through them, and a pacer the program dropped would never be freed.
    pub pin: Option<Function>,
    /// The package's `follow(response, signal, controller)`: the caller's `signal` aborts
    /// `controller` (the attempt's, whose body `response` carries) while `response` lives.
    pub follow: Option<Function>,
}

/// A preset index at or above this names a whole tier: the tier of the row at `index - TIER`.
pub const TIER: u32 = 10_000;

type R<T> = Result<T, JsValue>;

/// The preset named `name`, or a `RangeError` naming `preset` with the nearest valid names.
pub fn preset(name: &str) -> R<&'static presets::Preset> {
    presets::find(name).ok_or_else(|| {
        let mut msg = String::from(
            "llm-pacer: option `preset` must be a known preset name (the README lists them); did you mean",
        );
        let names: Vec<&str> = presets::names().collect();
        for (i, near) in crate::core::config::nearest(name, &names, 3).into_iter().enumerate() {
            msg.push_str(if i == 0 { " \"" } else { ", \"" });
            msg.push_str(near);
            msg.push('"');
        }
        msg.push('?');
        js_sys::RangeError::new(&msg).into()
    })
}

/// The index of the preset named `name` in [`presets::PRESETS`] (what
/// the package passes in the options list), or for a whole tier ([`models::find_tier`])
/// [`TIER`] plus the index of its first row, or the `RangeError` naming `preset` with the
/// nearest valid names.
pub fn preset_index(name: &str) -> R<u32> {
    if let Some(first) = models::find_tier(name).and_then(models::tier_start) {
        return Ok(TIER + first as u32);
    }
    let p = preset(name)?;
    Ok(presets::PRESETS
        .iter()
        .position(|q| core::ptr::eq(q, p))
        .unwrap_or(0) as u32)
}

/// `n[i]`, unless absent (NaN, or past the end).
fn at(n: &[f64], i: usize) -> Option<f64> {
    n.get(i).copied().filter(|v| !v.is_nan())
}

/// The policy's options and the seed, from the package's list (see the module docs).
pub fn read(n: &[f64]) -> (Config, Option<u64>) {
    let mut c = Config::new();
    c.limits.rpm = at(n, 0);
    c.limits.tpm = at(n, 1);
    c.limits.itpm = at(n, 2);
    c.limits.otpm = at(n, 3);
    let row = match at(n, 4).map(|i| i as u32) {
        Some(i) if i >= TIER => {
            c.tier = models::tier_at((i - TIER) as usize);
            presets::PRESETS.get((i - TIER) as usize)
        }
        Some(i) => {
            let p = presets::PRESETS.get(i as usize);
            if let Some(p) = p {
                c.limits = p.merged(&c.limits);
            }
            p
        }
        None => None,
    };
    // A tier's rows share one source, and so its metering.
    c.output_metering = row.and_then(|p| p.metering());
    let r = &mut c.retry;
    if let Some(v) = at(n, 5) {
        r.max_retries = v as u32;
    }
    let b = &mut r.backoff;
    if let Some(v) = at(n, 6) {
        b.initial_delay_ms = v;
    }
    if let Some(v) = at(n, 7) {
        b.max_delay_ms = v;
    }
    if let Some(v) = at(n, 8) {
        b.multiplier = v;
    }
    if let Some(j) = at(n, 9).and_then(|i| Jitter::ALL.get(i as usize)) {
        b.jitter = *j;
    }
    if let Some(v) = at(n, 10) {
        r.max_retry_after_ms = v;
    }
    if let Some(len) = at(n, 18) {
        r.retry_on = Some(
            (0..len as usize)
                .filter_map(|i| at(n, 19 + i))
                .map(|s| s as u16)
                .collect(),
        );
    }
    match at(n, 11) {
        Some(0.0) => c.budget = None,
        Some(_) => {
            let mut bc = BudgetConfig::default();
            if let Some(v) = at(n, 12) {
                bc.ratio = v;
            }
            if let Some(v) = at(n, 13) {
                bc.max_tokens = v;
            }
            c.budget = Some(bc);
        }
        None => {}
    }
    // -1: `"auto"`, the adaptive controller (while no limit is known).
    c.adaptive = at(n, 14) == Some(-1.0);
    c.concurrency = at(n, 14)
        .filter(|v| v.is_finite() && *v >= 1.0)
        .map(|v| v as u32);
    c.timeout_ms = at(n, 15);
    if let Some(v) = at(n, 16) {
        c.output_reservation = if v == -1.0 {
            OutputReservation::MaxTokens
        } else if v == -2.0 {
            OutputReservation::None
        } else {
            OutputReservation::Fixed(v)
        };
    }
    let seed = at(n, 17).map(|v| v as i64 as u64);
    (c, seed)
}

/// The driver's options: the functions in `fns` (`{ fetch, clock, now, sleep, onEvent,
/// estimate }`, each a function or absent, checked by the package) and the seed.
pub fn driver(fns: &JsValue, seed: Option<u64>) -> DriverOptions {
    let f = |k: &'static str| js::get_opt(fns, k).map(JsCast::unchecked_into::<Function>);
    DriverOptions {
        fetch: f("fetch"),
        clock: match (js::get_opt(fns, "clock"), f("now"), f("sleep")) {
            (Some(obj), Some(now), Some(sleep)) => Some(Clock { obj, now, sleep }),
            _ => None,
        },
        seed,
        on_event: f("onEvent"),
        estimate: f("estimate"),
        limit_key: f("limitKey"),
        store: js::get_opt(fns, "store").filter(JsValue::is_object),
        header_lines: f("headerLines"),
        await_attempt: f("awaitAttempt"),
        json_body: f("jsonBody"),
        pump: f("pump"),
        pin: f("pin"),
        follow: f("follow"),
    }
}

/// `limits.models`, as the package passes it in `fns.models`: a flat array of `class, rpm, tpm,
/// itpm, otpm` (NaN: not given), validated by the package.
pub fn models(fns: &JsValue) -> Vec<ModelLimits> {
    let Some(list) = js::get_opt(fns, "models").filter(js_sys::Array::is_array) else {
        return Vec::new();
    };
    let list: js_sys::Array = list.unchecked_into();
    let n = |i: u32| list.get(i).as_f64().filter(|v| !v.is_nan());
    (0..list.length() / 5)
        .filter_map(|k| {
            let i = k * 5;
            Some(ModelLimits {
                class: list.get(i).as_string()?,
                limits: Limits {
                    rpm: n(i + 1),
                    tpm: n(i + 2),
                    itpm: n(i + 3),
                    otpm: n(i + 4),
                },
            })
        })
        .collect()
}
