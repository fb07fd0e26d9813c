//! `new Pacer(options)`: the JavaScript options object read into a [`Config`] and the
//! driver's own options.
//!
//! Rules, in order:
//! 1. `undefined` and `null` mean "not given" everywhere (the default applies);
//! 2. a value of the wrong type is a `TypeError` naming the option as JavaScript spells it
//!    (`retry.maxRetries`);
//! 3. a value of the right type out of its range is a `RangeError` naming it (counts that must
//!    be integers are checked here, everything else by [`Config::validate`]);
//! 4. unknown keys are ignored (so an options object can be shared with other libraries, and
//!    a newer option passed to an older version does no harm).

use super::js;
use crate::core::backoff::Jitter;
use crate::core::budget::BudgetConfig;
use crate::core::config::{Config, ConfigError, ErrorKind, OutputReservation};
use crate::core::presets;
use js_sys::{Array, Function};
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
}

/// Turn a [`ConfigError`] into the JavaScript error to throw.
pub fn to_js_error(e: &ConfigError) -> JsValue {
    let msg = e.to_string();
    match e.kind {
        ErrorKind::Type => js_sys::TypeError::new(&msg).into(),
        ErrorKind::Range => js_sys::RangeError::new(&msg).into(),
    }
}

type R<T> = Result<T, JsValue>;

fn type_err(option: &str, expected: &str) -> JsValue {
    to_js_error(&ConfigError::type_(option, expected))
}

fn range_err(option: &str, expected: &str) -> JsValue {
    to_js_error(&ConfigError::range(option, expected))
}

/// `obj[key]`, with `undefined`/`null` as `None`. A throwing getter propagates.
fn field(obj: &JsValue, key: &str) -> R<Option<JsValue>> {
    let v = js::get(obj, key)?;
    Ok(if v.is_undefined() || v.is_null() {
        None
    } else {
        Some(v)
    })
}

fn number(obj: &JsValue, key: &str, path: &str) -> R<Option<f64>> {
    match field(obj, key)? {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| type_err(path, "a number")),
    }
}

fn integer(
    obj: &JsValue,
    key: &str,
    path: &str,
    lo: f64,
    hi: f64,
    expected: &str,
) -> R<Option<u32>> {
    match number(obj, key, path)? {
        None => Ok(None),
        Some(n) if n.fract() == 0.0 && n >= lo && n <= hi => Ok(Some(n as u32)),
        Some(_) => Err(range_err(path, expected)),
    }
}

fn function(obj: &JsValue, key: &str, path: &str) -> R<Option<Function>> {
    match field(obj, key)? {
        None => Ok(None),
        Some(v) => v
            .dyn_into::<Function>()
            .map(Some)
            .map_err(|_| type_err(path, "a function")),
    }
}

fn object(obj: &JsValue, key: &str, path: &str, expected: &str) -> R<Option<JsValue>> {
    match field(obj, key)? {
        None => Ok(None),
        Some(v) if v.is_object() => Ok(Some(v)),
        Some(_) => Err(type_err(path, expected)),
    }
}

/// The preset named `name`, or a `RangeError` naming `preset` with the nearest valid names.
pub fn preset(name: &str) -> R<&'static presets::Preset> {
    presets::find(name).ok_or_else(|| {
        let mut expected = String::from("a known preset name, such as");
        for (i, near) in presets::suggest(name, 4).into_iter().enumerate() {
            expected.push_str(if i == 0 { " \"" } else { ", \"" });
            expected.push_str(near);
            expected.push('"');
        }
        range_err("preset", &expected)
    })
}

/// Read and validate the options. Errors are the `TypeError` / `RangeError` to throw.
pub fn parse(options: &JsValue) -> R<(Config, DriverOptions)> {
    let mut c = Config::new();
    let mut d = DriverOptions::default();
    if options.is_undefined() || options.is_null() {
        return Ok((c, d));
    }
    if !options.is_object() {
        return Err(js_sys::TypeError::new("llm-pacer: options must be an object").into());
    }
    let o = options;

    if let Some(l) = object(o, "limits", "limits", "an object")? {
        c.limits.rpm = number(&l, "rpm", "limits.rpm")?;
        c.limits.tpm = number(&l, "tpm", "limits.tpm")?;
        c.limits.itpm = number(&l, "itpm", "limits.itpm")?;
        c.limits.otpm = number(&l, "otpm", "limits.otpm")?;
    }

    // A preset supplies the limits that `limits` leaves out.
    if let Some(p) = field(o, "preset")? {
        let Some(name) = p.as_string() else {
            return Err(type_err("preset", "a string"));
        };
        c.limits = preset(&name)?.merged(&c.limits);
    }

    if let Some(r) = object(o, "retry", "retry", "an object")? {
        let rc = &mut c.retry;
        if let Some(n) = integer(
            &r,
            "maxRetries",
            "retry.maxRetries",
            0.0,
            100.0,
            "an integer from 0 to 100",
        )? {
            rc.max_retries = n;
        }
        if let Some(n) = number(&r, "initialDelayMs", "retry.initialDelayMs")? {
            rc.backoff.initial_delay_ms = n;
        }
        if let Some(n) = number(&r, "maxDelayMs", "retry.maxDelayMs")? {
            rc.backoff.max_delay_ms = n;
        }
        if let Some(n) = number(&r, "multiplier", "retry.multiplier")? {
            rc.backoff.multiplier = n;
        }
        if let Some(j) = field(&r, "jitter")? {
            let name = j
                .as_string()
                .ok_or_else(|| type_err("retry.jitter", "a string"))?;
            rc.backoff.jitter = Jitter::from_name(&name).ok_or_else(|| {
                range_err(
                    "retry.jitter",
                    "one of \"none\", \"full\", \"equal\", \"decorrelated\", \"additive\"",
                )
            })?;
        }
        if let Some(n) = number(&r, "maxRetryAfterMs", "retry.maxRetryAfterMs")? {
            rc.max_retry_after_ms = n;
        }
        if let Some(list) = field(&r, "retryOn")? {
            if !Array::is_array(&list) {
                return Err(type_err("retry.retryOn", "an array of HTTP statuses"));
            }
            let list: Array = list.unchecked_into();
            let mut statuses = Vec::with_capacity(list.length() as usize);
            for i in 0..list.length() {
                let n = list
                    .get(i)
                    .as_f64()
                    .ok_or_else(|| type_err("retry.retryOn", "an array of HTTP statuses"))?;
                if n.fract() != 0.0 || !(100.0..=599.0).contains(&n) {
                    return Err(range_err(
                        "retry.retryOn",
                        "a list of HTTP statuses from 100 to 599",
                    ));
                }
                statuses.push(n as u16);
            }
            rc.retry_on = Some(statuses);
        }
    }

    if let Some(b) = field(o, "budget")? {
        if b.as_bool() == Some(false) {
            c.budget = None;
        } else if b.is_object() {
            let mut bc = BudgetConfig::default();
            if let Some(n) = number(&b, "ratio", "budget.ratio")? {
                bc.ratio = n;
            }
            if let Some(n) = number(&b, "maxTokens", "budget.maxTokens")? {
                bc.max_tokens = n;
            }
            c.budget = Some(bc);
        } else {
            return Err(type_err("budget", "an object or false"));
        }
    }

    match number(o, "concurrency", "concurrency")? {
        None => {}
        // `Infinity` is the default: no cap.
        Some(n) if n == f64::INFINITY => c.concurrency = None,
        Some(n) if n.fract() == 0.0 && (1.0..=1_000_000.0).contains(&n) => {
            c.concurrency = Some(n as u32)
        }
        Some(_) => {
            return Err(range_err(
                "concurrency",
                "an integer from 1 to 1000000, or Infinity",
            ))
        }
    }

    c.timeout_ms = number(o, "timeoutMs", "timeoutMs")?;

    if let Some(v) = field(o, "outputReservation")? {
        const EXPECTED: &str = "\"max_tokens\", \"none\" or a number from 0 to 1e12";
        c.output_reservation = if let Some(s) = v.as_string() {
            match s.as_str() {
                "max_tokens" => OutputReservation::MaxTokens,
                "none" => OutputReservation::None,
                _ => return Err(range_err("outputReservation", EXPECTED)),
            }
        } else if let Some(n) = v.as_f64() {
            OutputReservation::Fixed(n)
        } else {
            return Err(type_err("outputReservation", EXPECTED));
        };
    }

    d.estimate = function(o, "estimate", "estimate")?;
    d.fetch = function(o, "fetch", "fetch")?;
    d.on_event = function(o, "onEvent", "onEvent")?;

    if let Some(clock) = object(
        o,
        "clock",
        "clock",
        "an object with now() and sleep(ms, signal)",
    )? {
        let now = function(&clock, "now", "clock.now")?
            .ok_or_else(|| type_err("clock.now", "a function"))?;
        let sleep = function(&clock, "sleep", "clock.sleep")?
            .ok_or_else(|| type_err("clock.sleep", "a function"))?;
        d.clock = Some(Clock {
            obj: clock,
            now,
            sleep,
        });
    }

    if let Some(n) = number(o, "seed", "seed")? {
        const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
        if n.fract() != 0.0 || n.abs() > MAX_SAFE {
            return Err(range_err("seed", "a safe integer"));
        }
        d.seed = Some(n as i64 as u64);
    }

    c.validate().map_err(|e| to_js_error(&e))?;
    Ok((c, d))
}
