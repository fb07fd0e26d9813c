//! The `store` option's crossings (a `PacerStore`, see `redis.d.ts` / `index.d.ts`): the
//! driver carries out the engine's [`Action::Reserve`](crate::core::call::Action::Reserve)
//! and [`StoreOp`]s and reports the answers; it decides nothing. A store that throws, rejects,
//! answers nonsense or takes longer than [`STORE_TIMEOUT_MS`] is reported as unavailable (the
//! engine sends the call on its local admission and says so in an event).
//!
//! Round trips per call: one `reserve`, and one more at the turn the store gives if it says
//! wait (`turn: true`; again only if the fleet's usage outran the store's arithmetic, and
//! once a re-check period while a token bucket holds it:
//! [`TOKEN_RECHECK_MS`](crate::core::call::TOKEN_RECHECK_MS)), one
//! `settle` once the usage is known, and one `learn` per response that carries rate-limit
//! headers (plus a `pause` after a 429 with a retry-after); those last two are optional
//! methods of a store. While the store is unavailable and calls wait on the local limiter,
//! one probe every [`STORE_PROBE_MS`](crate::core::store::STORE_PROBE_MS): a `settle` of
//! nothing, which changes no state.

use super::{js, Inner};
use crate::core::call::{Engine, Id, StoreAnswer, StoreOp};
use crate::core::keys::Slot;
use crate::core::limiter::Dim;
use crate::core::store::STORE_TIMEOUT_MS;
use js_sys::{Array, Object, Promise};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};

/// What the driver sends the store for one reservation, computed under the state's borrow.
pub(super) struct ReserveReq {
    pub id: Id,
    pub slot: Slot,
    pub key: String,
    pub limits: [f64; 4],
    pub input: f64,
    pub output: f64,
    /// What a turn books of the output (`expectedOutput`; `Action::Reserve`).
    pub booked_output: f64,
    /// This process's turn in the store's queue has come (`core::store`).
    pub turn: bool,
    /// How long its answer is waited for (the engine's: `Action::Reserve`).
    pub timeout_ms: f64,
}

/// The store's key for a limit key: its opaque id (a one-way hash of the origin and the
/// credential's fingerprint, or of the `limitKey` option's value) and model class. Never a
/// secret.
pub(super) fn key(engine: &Engine, slot: Slot) -> String {
    match engine.key_of(slot) {
        Some(k) => crate::core::fingerprint::store_key(k),
        None => "slot".to_owned() + &slot.to_string(),
    }
}

fn tokens(input: f64, output: f64) -> Object {
    let o = Object::new();
    js::set(&o, "input", &JsValue::from_f64(input));
    js::set(&o, "output", &JsValue::from_f64(output));
    o
}

fn answer(v: &JsValue) -> StoreAnswer {
    if !v.is_object() {
        return StoreAnswer::Unavailable; // the timer won the race, or nonsense
    }
    if js::get_opt(v, "admit").and_then(|a| a.as_bool()) == Some(true) {
        // A store that tells its levels (llm-pacer/redis, llm-pacer/cloudflare) and has none:
        // it held no bucket, so took nothing.
        let levels = js::get_opt(v, "levels").filter(JsValue::is_object);
        let none = levels.is_some_and(|l| Object::keys(l.unchecked_ref::<Object>()).length() == 0);
        return if none {
            StoreAnswer::AdmitUnmetered
        } else {
            StoreAnswer::Admit
        };
    }
    if let Some(w) = js::get_opt(v, "waitMs").and_then(|w| w.as_f64()) {
        if w.is_finite() && w >= 0.0 {
            let blocker = js::get_opt(v, "blocker").and_then(|b| b.as_string());
            let blocker = blocker.as_deref();
            return StoreAnswer::Wait {
                wait_ms: w,
                paused: blocker == Some("paused"),
                dim: blocker.and_then(Dim::from_name),
            };
        }
    }
    if let Some(n) = js::get_opt(v, "never").and_then(|n| n.as_string()) {
        if let Some(dim) = Dim::from_name(&n) {
            return StoreAnswer::Never { dim };
        }
    }
    StoreAnswer::Unavailable
}

/// A store's promise raced against `timeout_ms`: `Ok` with its value if it fulfilled in time;
/// `Err` if it rejected or was late, or there was no promise or no timer, carrying (when it
/// was late) the promise of its outcome: `[value]` if it fulfils after all, else `undefined`.
async fn in_time(
    inner: &Inner,
    called: Option<JsValue>,
    timeout_ms: f64,
) -> Result<JsValue, Option<Promise>> {
    let p = called.ok_or(None)?;
    let (timer, deadline) = inner.deadline(timeout_ms).map_err(|_| None)?;
    // The timer resolves with `undefined`, and so does `done` if the store rejects; `done`
    // resolves with `[value]` if it fulfils (its value may be `undefined`: `settle`).
    let (done, resolve, _) = js::promise();
    spawn_local(async move {
        let got = JsFuture::from(Promise::resolve(&p)).await;
        let boxed = got.map_or(JsValue::UNDEFINED, |v| Array::of1(&v).into());
        let _ = resolve.call1(&JsValue::UNDEFINED, &boxed);
    });
    let won = JsFuture::from(Promise::race(&Array::of2(&done, &timer))).await;
    deadline.cancel();
    match won {
        Ok(a) if Array::is_array(&a) => Ok(Array::from(&a).get(0)),
        Ok(a) if a.is_undefined() => Err(Some(done)),
        _ => Err(None),
    }
}

impl Inner {
    /// Ask the store to reserve; report its answer to the engine.
    pub(super) fn store_reserve(&self, r: ReserveReq) {
        let (Some(inner), Some(store)) = (self.rc(), self.driver.store.clone()) else {
            return;
        };
        let req = tokens(r.input, r.output);
        let limits = Object::new();
        for (name, l) in ["rpm", "itpm", "otpm", "tpm"].iter().zip(r.limits) {
            if l > 0.0 {
                js::set(&limits, name, &JsValue::from_f64(l));
            }
        }
        js::set(&req, "limits", &limits);
        if r.booked_output < r.output {
            js::set(&req, "expectedOutput", &JsValue::from_f64(r.booked_output));
        }
        if r.turn {
            js::set(&req, "turn", &JsValue::TRUE);
        }
        let called = js::method(&store, "reserve")
            .and_then(|f| f.call2(&store, &JsValue::from_str(&r.key), &req).ok());
        let ReserveReq {
            id,
            slot,
            input,
            output,
            booked_output,
            timeout_ms,
            ..
        } = r;
        spawn_local(async move {
            let (got, late) = match in_time(&inner, called, timeout_ms).await {
                Ok(v) => (answer(&v), None),
                Err(late) => (StoreAnswer::Unavailable, late),
            };
            inner.step(|st, now, fx| {
                let actions = st.engine.on_reserved(now, id, got);
                st.apply(now, actions, fx);
            });
            // Too late for the call; what the store did for it is undone (the engine decides).
            let Some(late) = late else { return };
            let Ok(a) = JsFuture::from(late).await else {
                return;
            };
            if Array::is_array(&a) {
                let got = answer(&Array::from(&a).get(0));
                let out = (output, booked_output);
                inner.step(|st, _, _| st.engine.on_late_reserve(slot, input, out, got));
            }
        });
    }

    /// Probe a store that was unavailable: a `settle` of nothing on `key` (it changes nothing),
    /// raced against [`STORE_TIMEOUT_MS`] like a reservation; report whether it answered.
    pub(super) fn store_probe(&self, key: String) {
        let (Some(inner), Some(store)) = (self.rc(), self.driver.store.clone()) else {
            return;
        };
        let zero = tokens(0.0, 0.0);
        let called = js::method(&store, "settle")
            .and_then(|f| f.call3(&store, &JsValue::from_str(&key), &zero, &zero).ok());
        spawn_local(async move {
            let answered = in_time(&inner, called, STORE_TIMEOUT_MS).await.is_ok();
            inner.step(|st, now, _| st.engine.on_probed(now, answered));
        });
    }

    /// Carry out store work that needs no answer (a failure is the store's to report).
    pub(super) fn store_ops(&self, ops: Vec<(String, StoreOp)>) {
        let Some(store) = &self.driver.store else {
            return;
        };
        for (key, op) in ops {
            let key = JsValue::from_str(&key);
            let (name, args) = match op {
                StoreOp::Settle {
                    reserved_input,
                    reserved_output,
                    input,
                    output,
                    ..
                } => (
                    "settle",
                    Array::of3(
                        &key,
                        &tokens(reserved_input, reserved_output),
                        &tokens(input, output),
                    ),
                ),
                StoreOp::Refund {
                    input,
                    output,
                    turn_only,
                    ..
                } => {
                    let reserved = tokens(input, output);
                    if turn_only {
                        js::set(&reserved, "turnOnly", &JsValue::TRUE);
                    }
                    ("refund", Array::of2(&key, &reserved))
                }
                StoreOp::Pause { retry_after_ms, .. } => (
                    "pause",
                    Array::of2(&key, &JsValue::from_f64(retry_after_ms)),
                ),
                StoreOp::Learn { dims, .. } => {
                    let list = Array::new();
                    for (dim, (limit, remaining)) in Dim::ALL.into_iter().zip(dims) {
                        if limit.is_nan() && remaining.is_nan() {
                            continue;
                        }
                        let o = Object::new();
                        js::set(&o, "dim", &JsValue::from_str(dim.name()));
                        if !limit.is_nan() {
                            js::set(&o, "limit", &JsValue::from_f64(limit));
                        }
                        if !remaining.is_nan() {
                            js::set(&o, "remaining", &JsValue::from_f64(remaining));
                        }
                        list.push(&o);
                    }
                    ("learn", Array::of2(&key, &list))
                }
                StoreOp::GiveBack { dims, .. } => {
                    let list = Array::new();
                    for (dim, (given, up_to)) in Dim::ALL.into_iter().zip(dims) {
                        if given > 0.0 && up_to.is_finite() {
                            let o = Object::new();
                            js::set(&o, "dim", &JsValue::from_str(dim.name()));
                            js::set(&o, "given", &JsValue::from_f64(given));
                            js::set(&o, "upTo", &JsValue::from_f64(up_to));
                            list.push(&o);
                        }
                    }
                    ("giveBack", Array::of2(&key, &list))
                }
                StoreOp::Probed { open, .. } => {
                    ("probed", Array::of2(&key, &JsValue::from_bool(open)))
                }
            };
            // `refund`, `pause`, `learn`, `giveBack` and `probed` are optional in a PacerStore.
            if let Some(f) = js::method(store, name) {
                if let Ok(p) = f.apply(store, &args) {
                    js::ignore(Promise::resolve(&p));
                }
            }
        }
    }
}
