//! What the pacer tells its caller: events, `stats()`, `limits()`, and the errors it rejects
//! with (built by the package's factory, so that `instanceof PacerError` holds).

use super::inner::Inner;
use super::js;
use crate::core::call::{CallError, Event, EventKind};
use crate::core::fingerprint::opaque as keys_opaque;
use crate::core::keys::Slot;
use js_sys::Object;
use wasm_bindgen::prelude::*;
use web_sys::AbortSignal;

#[wasm_bindgen]
extern "C" {
    /// The package's `onEvent` helper: an event's fields, one crossing an event (the package
    /// builds the object, as `PacerEvent` describes it, and hands it to every listener).
    /// NaN, `undefined` or a status of 0: the field is absent.
    type EventSink;
    #[wasm_bindgen(method, catch, js_name = call)]
    #[allow(clippy::too_many_arguments)]
    fn event(
        this: &EventSink,
        this_arg: &JsValue,
        kind: &JsValue,
        id: f64,
        attempt: f64,
        reason: &JsValue,
        delay_ms: f64,
        at: f64,
        status: f64,
        latency_ms: f64,
        key: &JsValue,
        model: &JsValue,
        usage: &[f64],
        message: &JsValue,
    ) -> Result<(), JsValue>;
}

impl Inner {
    pub(super) fn emit(&self, events: &[Event]) {
        let Some(f) = &self.driver.on_event else {
            return;
        };
        let sink: &EventSink = f.unchecked_ref();
        let none = JsValue::UNDEFINED;
        for e in events {
            let (key, model) = e
                .slot
                .and_then(|s| self.shown_key(s))
                .unwrap_or_else(|| (none.clone(), none.clone()));
            let usage = e.usage.map_or([f64::NAN; 4], |u| {
                [
                    u.input_tokens,
                    u.output_tokens,
                    u.cache_creation_input_tokens,
                    u.cache_read_input_tokens,
                ]
            });
            let message = match e.kind {
                EventKind::Warning => JsValue::from_str(warning_text(e.reason)),
                _ => none.clone(),
            };
            // An exception in the listener is the listener's: it must not break the pacer.
            let _ = sink.event(
                &none,
                &js::key_of(e.kind.name()),
                e.id as f64,
                f64::from(e.attempt),
                &js::key_of(e.reason),
                // Whole milliseconds: a wait is never announced shorter than it is.
                e.delay_ms.ceil(),
                e.at_ms.round(),
                f64::from(e.status),
                e.latency_ms.map_or(f64::NAN, f64::round),
                &key,
                &model,
                &usage,
                &message,
            );
        }
    }

    /// The limit key of `slot` as events show it, as `limits()` does: an opaque id and the
    /// model class. Opaque: a hash of the key, never the fingerprint or anything of the
    /// credential. The few keys named last are kept with their strings: a call's events name
    /// the same key, and hashing it anew was a tenth of what an event cost.
    fn shown_key(&self, slot: Slot) -> Option<(JsValue, JsValue)> {
        /// How many keys are kept.
        const KEPT: usize = 8;
        let mut st = self.state.try_borrow_mut().ok()?;
        let st = &mut *st;
        let k = st.engine.key_of(slot)?;
        let shown = &mut st.shown;
        let entry = match shown.iter().position(|(s, _, _)| s == k) {
            Some(i) => shown.remove(i),
            None => {
                let id = JsValue::from_str(&keys_opaque(k, st.shown_salt));
                let class = JsValue::from_str(&k.class);
                shown.truncate(KEPT - 1);
                (k.clone(), id, class)
            }
        };
        let strings = (entry.1.clone(), entry.2.clone());
        shown.insert(0, entry);
        Some(strings)
    }

    pub(super) fn stats(&self) -> Object {
        let o = Object::new();
        let Ok(st) = self.state.try_borrow() else {
            return o;
        };
        let s = st.engine.stats();
        let n = |v: f64| JsValue::from_f64(if v.is_finite() { v.max(0.0) } else { 0.0 });
        for (k, v) in [
            ("requests", s.requests as f64),
            ("attempts", s.attempts as f64),
            ("retries", s.retries as f64),
            ("rateLimited", s.rate_limited as f64),
            ("overloaded", s.overloaded as f64),
            ("serverErrors", s.server_errors as f64),
            ("networkErrors", s.network_errors as f64),
            ("inputTokensReserved", s.input_tokens_reserved),
            ("outputTokensReserved", s.output_tokens_reserved),
            ("inputTokensUsed", s.input_tokens_used),
            ("outputTokensUsed", s.output_tokens_used),
            ("waitMs", s.wait_ms),
            ("queued", s.queued as f64),
            ("inFlight", s.in_flight as f64),
        ] {
            js::set(&o, k, &n(v));
        }
        o
    }

    pub(super) fn limits(&self) -> js_sys::Array {
        let now = self.now();
        let out = js_sys::Array::new();
        let Ok(st) = self.state.try_borrow() else {
            return out;
        };
        for k in st.engine.limits(now) {
            let o = Object::new();
            // Opaque: a hash of the key, never the fingerprint or anything of the credential.
            js::set(
                &o,
                "key",
                &JsValue::from_str(&keys_opaque(&k.key, st.shown_salt)),
            );
            js::set(&o, "model", &JsValue::from_str(&k.key.class));
            // What was configured for this key's class: a lower limit in force came from
            // the server's headers too.
            let configured = crate::core::models::limits_for(st.engine.config(), &k.key.class);
            for d in k.dims {
                let e = Object::new();
                js::set(&e, "limit", &JsValue::from_f64(d.limit));
                js::set(&e, "windowMs", &JsValue::from_f64(d.window_ms));
                js::set(&e, "remaining", &JsValue::from_f64(d.remaining.max(0.0)));
                js::set(&e, "resetAt", &JsValue::from_f64(d.reset_at_ms));
                let source = crate::core::config::source(&configured, &d);
                js::set(
                    &e,
                    "source",
                    &JsValue::from_str(SOURCES[usize::from(source)]),
                );
                js::set(&o, d.dim.name(), &e);
            }
            out.push(&o);
        }
        out
    }

    /// A `PacerError` for an engine error, through the package's factory.
    pub(super) fn pacer_error(&self, e: &CallError) -> JsValue {
        let details = Object::new();
        let num = |k: &'static str, v: f64| js::set(&details, k, &JsValue::from_f64(v));
        match *e {
            CallError::TooLarge {
                dim,
                cost,
                capacity,
                window_ms,
            } => {
                js::set(&details, "dimension", &JsValue::from_str(dim.name()));
                num("cost", cost);
                num("capacity", capacity);
                num("windowMs", window_ms);
            }
            CallError::RetryAfterTooLong { hint_ms } => num("hintMs", hint_ms),
            CallError::Timeout | CallError::WaitPastDeadline { .. } => {
                if let CallError::WaitPastDeadline { hint_ms } = *e {
                    num("hintMs", hint_ms);
                }
                if let Ok(st) = self.state.try_borrow() {
                    if let Some(t) = st.engine.config().timeout_ms {
                        num("timeoutMs", t);
                    }
                }
            }
            CallError::Closed | CallError::Network => {}
        }
        self.make(e.code(), &details)
    }

    pub(super) fn make(&self, code: &str, details: &Object) -> JsValue {
        self.make_error
            .call2(&JsValue::UNDEFINED, &JsValue::from_str(code), details)
            .unwrap_or_else(|e| e)
    }

    pub(super) fn make_abort_error(&self) -> JsValue {
        self.make("ABORT", &Object::new())
    }

    pub(super) fn abort_reason(&self, signal: &AbortSignal) -> JsValue {
        let r = signal.reason();
        if r.is_undefined() {
            self.make_abort_error()
        } else {
            r
        }
    }
}

/// `limits()` sources by [`crate::core::config::source`].
pub(super) const SOURCES: [&str; 3] = ["configured", "headers", "configured+headers"];

/// The advice a `warning` event carries, by reason (fixed text: never a secret).
pub(super) fn warning_text(reason: &str) -> &'static str {
    match reason {
        "stream_usage_missing" => {
            "a streamed response reported no usage, so its output tokens were \
             estimated from the streamed text; for exact usage pass \
             `stream_options: { include_usage: true }` (OpenAI Chat Completions)"
        }
        "store_unavailable" => {
            "the shared store (the `store` option) failed or did not answer in time: \
             calls go on this process's own limits, on a conservative share, until it \
             answers again"
        }
        "store_resumed" => "the shared store answers again: limits are shared again",
        _ => "",
    }
}
