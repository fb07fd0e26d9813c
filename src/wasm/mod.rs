//! The JavaScript binding: the only module that reads a clock, draws random numbers, or calls
//! `fetch`. Compiled only for `wasm32`.
//!
//! [`RawPacer`] is a *driver* of [`Engine`]: it makes no policy decision of its own. For each
//! `fetch(input, init)` it estimates the cost, submits the call, and carries out what the
//! engine asks — send an attempt, deliver the response it holds, fail the call — feeding back
//! every response head (status, parsed headers, and for retryable statuses the error body read
//! from a clone), every network error, the usage of a delivered body (a JSON one as the caller
//! reads it, a stream from a clone), every abort, and the passing of time through one timer.
//!
//! Discipline that keeps it sound:
//! * one timer per pacer, re-armed to [`Engine::next_wake`] after every interaction, and none
//!   at all while no call is live;
//! * no JavaScript that could call back into the pacer (a user's `fetch`, `clock`,
//!   `estimate`, `onEvent`, or an abort listener) ever runs while the state is borrowed: every
//!   interaction computes a list of [`Effect`]s under the borrow and carries them out after;
//! * every call settles exactly once: its promise functions live in one map entry, and only
//!   the code that removes the entry (or marks it delivered) settles it;
//! * the decision on a failed attempt waits for its error body (read from a clone) at most
//!   64 KiB and 5 s, a wait through the pacer's clock when one is given; a virtual clock that
//!   jumps whenever the program looks idle may end that wait before a body still arriving is
//!   read, which costs the decision the body and moves that clock 5 s;
//! * an attempt of a call with a deadline (`timeoutMs`) or a signal has its own
//!   `AbortController`: the caller's signal, the deadline or a failed call aborts it (a call
//!   with neither has none: nothing can end its attempt on the wire); a stale attempt's
//!   result is recognised by its attempt number and dropped (its body cancelled).
//!
//! Request bodies: a string, a buffer, a `Blob`, `FormData` or `URLSearchParams` can be sent
//! again; a `Request` input is cloned before each attempt (the original is never consumed); a
//! `ReadableStream` body can be sent only once, so such a call is never retried: it gets the
//! first response (or the first network error) whatever it is.

mod body;
mod js;
mod keys;
mod lowlevel;
mod options;
#[cfg(feature = "simulator")]
mod sim;
mod store;
// The Durable Object's export (`storeOp`): only in the module of the entries for workerd
// (`llm-pacer/cloudflare` runs it; feature `durable-object`, scripts/build-pkg.mjs).
#[cfg(feature = "durable-object")]
mod store_core;
mod stream;
mod trap;

use crate::core::call::{
    Action, CallError, Engine, Event, EventKind, Id, Request as CallRequest, Verdict,
};
use crate::core::classify::needs_error_body;
use crate::core::estimate;
use crate::core::fingerprint::opaque as keys_opaque;
use crate::core::headers;
use crate::core::index::IdMap;
use crate::core::limiter::Usage;
use body::UsageKind;
use js_sys::{Function, Object, Promise};
use options::DriverOptions;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{AbortController, AbortSignal, Response};

/// The allocator: Talc, 2.5 KB gzipped smaller than Rust's default dlmalloc in Wasm.
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// The largest delay `setTimeout` takes (2^31 - 1 ms); longer waits are re-armed on wake.
const MAX_TIMEOUT_MS: f64 = 2_147_483_647.0;

/// The pacer as the generated bindings export it. The package's `Pacer` class wraps it (and
/// binds `fetch`); `make_error(code, details)` builds the package's error objects, so that
/// `instanceof PacerError` holds for what this module rejects with.
#[wasm_bindgen(js_name = RawPacer)]
pub struct RawPacer {
    inner: Rc<Inner>,
}

#[wasm_bindgen(js_class = RawPacer)]
impl RawPacer {
    /// Start an idle pacer with the options the package read and validated: the numbers in
    /// `options` (the list of [`options`]) and the functions in `fns` (see [`options::driver`]).
    #[wasm_bindgen(constructor)]
    pub fn new(options: &[f64], fns: JsValue, make_error: Function) -> RawPacer {
        let (mut config, seed) = options::read(options);
        config.models = options::models(&fns);
        RawPacer {
            inner: Inner::new(config, options::driver(&fns, seed), make_error),
        }
    }

    /// `fetch(input, init)`, paced and retried, queued at `priority` (higher goes first; the
    /// package validates it) moved by one for the fetch option `priority: "high" | "low"`.
    ///
    /// `body`, when given, is the body of a `Request` input, read from a clone by the package:
    /// what the estimate reads instead of `init.body`.
    pub fn fetch(&self, input: JsValue, init: JsValue, priority: i32, body: JsValue) -> Promise {
        self.inner.fetch(input, init, priority, body)
    }

    /// The JSON body of delivered call `id` as its caller read it, from the package's
    /// `jsonBody`: the parsed document (`undefined`: unreadable), or, when `text`, the
    /// body's text or bytes. Its usage settles the call.
    #[wasm_bindgen(js_name = usageDoc)]
    pub fn usage_doc(&self, id: f64, doc: JsValue, text: bool) {
        let usage = if text {
            body::usage_of_text(&doc)
        } else {
            body::usage_of(Some(doc))
        };
        self.inner.usage_done(id as Id, Ok(usage));
    }

    /// Counters now, as a plain object.
    pub fn stats(&self) -> Object {
        self.inner.stats()
    }

    /// What is known of each limit key now: `[{ key, model, requests?, inputTokens?, ... }]`.
    pub fn limits(&self) -> js_sys::Array {
        self.inner.limits()
    }

    /// Record events for `onEvent` or not (the package turns them on when anyone listens).
    pub fn events(&self, on: bool) {
        if let Ok(mut st) = self.inner.state.try_borrow_mut() {
            st.engine.set_record_events(on);
        }
    }

    /// Reject queued calls with `CLOSED`, let in-flight attempts finish without retries,
    /// refuse later calls; no timer stays armed once nothing is live.
    pub fn close(&self) {
        self.inner.step(|st, now, fx| {
            let actions = st.engine.close(now);
            st.apply(now, actions, fx);
        });
    }
}

/// A running timer (see [`Inner::deadline`]): a `setTimeout` with the function that settles
/// its promise, or a `clock.sleep` with its controller.
enum Deadline {
    Timeout(JsValue, Function),
    Sleep(AbortController),
}

impl Deadline {
    /// Stop it. Its promise settles all the same (a `setTimeout`'s resolves, a sleep rejects
    /// with the abort), so nothing waits on it forever: whoever awaits it checks whether the
    /// timer is still the one it armed.
    fn cancel(self) {
        match self {
            Deadline::Timeout(handle, resolve) => {
                if let Some(clear) = js::global_fn("clearTimeout") {
                    let _ = clear.call1(&JsValue::UNDEFINED, &handle);
                }
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
            Deadline::Sleep(controller) => controller.abort(),
        }
    }
}

/// Why a call is rejected.
enum Rejection {
    /// An engine error: made into a `PacerError` by the factory.
    Call(CallError),
    /// A JavaScript value as it is (a network error, an abort reason).
    Value(JsValue),
    /// An abort without a reason: an `AbortError`.
    Abort,
}

/// Something to do after the state is released.
enum Effect {
    /// Follow the caller's signal.
    Listen {
        id: Id,
        signal: AbortSignal,
        listener: Function,
    },
    /// Send an attempt.
    Send {
        id: Id,
        attempt: u32,
        input: JsValue,
        init: JsValue,
        /// Ours, when the call has a deadline; else the caller's signal (if any) is the
        /// attempt's.
        controller: Option<AbortController>,
    },
    /// Resolve the caller's promise; then read the usage, if asked: a JSON body's as the
    /// caller reads it (the package's `jsonBody`), any other's from a clone.
    Resolve {
        resolve: Function,
        response: Response,
        usage: Option<(Id, UsageKind)>,
    },
    /// Reject the caller's promise.
    Reject { reject: Function, error: Rejection },
    /// Abort an attempt (with a reason, unless `undefined`).
    Abort {
        controller: AbortController,
        reason: JsValue,
    },
    /// Drop a response nobody will read: cancel its body.
    Cancel(Response),
    /// Stop following the caller's signal.
    Unlisten {
        signal: AbortSignal,
        listener: Closure<dyn FnMut()>,
    },
    /// Hand events to `onEvent`.
    Events(Vec<Event>),
    /// Ask the store to reserve (the `store` option; see store.rs).
    Reserve(store::ReserveReq),
    /// Ask a store that was unavailable whether it answers again (for this key).
    Probe(String),
    /// Store work that needs no answer (settlements), by store key.
    StoreOps(Vec<(String, crate::core::call::StoreOp)>),
}

/// One call, from `fetch` until its promise settled and its body's usage is known.
struct Call {
    resolve: Function,
    reject: Function,
    /// The caller's `input` and `init`, kept as given to send them again.
    input: JsValue,
    init: JsValue,
    signal: Option<AbortSignal>,
    listener: Option<Closure<dyn FnMut()>>,
    /// The current attempt's controller.
    controller: Option<AbortController>,
    /// The current attempt's number (0 before the first).
    attempt: u32,
    /// The last response, held until it is delivered or replaced by the next attempt, with
    /// how its usage is read (a 2xx's).
    held: Option<(Response, Option<UsageKind>)>,
    /// The last network error.
    network_error: JsValue,
    /// The promise is resolved; the call stays until its body's usage is known.
    delivered: bool,
}

/// The live calls, by id: the core's map (an index to a slab; a sorted vector removed from
/// its front at every settlement cost O(n) a call, some 10 us a call with 32,000 in flight).
type Calls = IdMap<Call>;

/// The pacer's single timer.
#[derive(Default)]
enum Timer {
    #[default]
    Off,
    /// Being armed (between deciding and getting the handle).
    Arming { at: f64, gen: u64 },
    /// Armed: a `setTimeout` or a `clock.sleep`.
    Armed {
        at: f64,
        gen: u64,
        deadline: Deadline,
    },
}

impl Timer {
    fn at(&self) -> Option<f64> {
        match self {
            Timer::Off => None,
            Timer::Arming { at, .. } | Timer::Armed { at, .. } => Some(*at),
        }
    }
}

struct State {
    engine: Engine,
    /// The jitter PRNG: seeded at construction from the `seed` option, else at the first draw
    /// from the platform's secure random source (workerd forbids `crypto.getRandomValues` at
    /// global scope, where Workers often create their pacer; drawing it there would give
    /// every isolate the same fallback seed and so the same jitter, in lockstep).
    rng: Option<fastrand::Rng>,
    calls: Calls,
    timer: Timer,
    timer_gen: u64,
    /// A strong reference to the pacer held while any call is live, so that a pacer the
    /// program no longer references still settles its calls (and never leaves a timer or an
    /// abort listener pointing at freed closures). Dropped when the pacer is idle.
    keep_alive: Option<Rc<Inner>>,
    /// The `headers_hidden` event was emitted (once per pacer).
    told_hidden: bool,
    /// The `stream_usage_missing` warning was emitted (once per pacer).
    told_stream: bool,
}

impl State {
    /// A uniform draw in `[0, 1)` for the engine's jitter.
    fn draw(&mut self) -> f64 {
        self.rng
            .get_or_insert_with(|| fastrand::Rng::with_seed(random_seed()))
            .f64()
    }
}

struct Inner {
    driver: DriverOptions,
    make_error: Function,
    /// The last good reading of the clock (used if the clock ever returns garbage).
    last_now: Cell<f64>,
    state: RefCell<State>,
    weak: Weak<Inner>,
}

impl Inner {
    fn new(
        config: crate::core::config::Config,
        driver: DriverOptions,
        make_error: Function,
    ) -> Rc<Inner> {
        Rc::new_cyclic(|weak: &Weak<Inner>| {
            // A clock that fails at once gives 0 (with a clock, `Date.now` is never read).
            let now = Self::read_clock(&driver).unwrap_or(0.0);
            let mut engine = Engine::new(config, now);
            engine.set_record_events(driver.on_event.is_some());
            engine.set_store(driver.store.is_some());
            Inner {
                make_error,
                last_now: Cell::new(now),
                state: RefCell::new(State {
                    engine,
                    rng: driver.seed.map(fastrand::Rng::with_seed),
                    calls: Calls::default(),
                    timer: Timer::Off,
                    timer_gen: 0,
                    keep_alive: None,
                    told_hidden: false,
                    told_stream: false,
                }),
                weak: weak.clone(),
                driver,
            }
        })
    }

    fn read_clock(driver: &DriverOptions) -> Option<f64> {
        match &driver.clock {
            Some(c) => c
                .now
                .call0(&c.obj)
                .ok()
                .and_then(|v| v.as_f64())
                .filter(|t| t.is_finite()),
            None => Some(js_sys::Date::now()),
        }
    }

    /// Now, epoch ms: `Date.now()`, or `clock.now()` when a clock is given. Never called
    /// while the state is borrowed (the clock is the caller's code).
    fn now(&self) -> f64 {
        match Self::read_clock(&self.driver) {
            Some(t) => {
                self.last_now.set(t);
                t
            }
            None => self.last_now.get(),
        }
    }

    fn rc(&self) -> Option<Rc<Inner>> {
        self.weak.upgrade()
    }

    /// One interaction with the engine: `f` under the borrow, then `poll`, then the effects
    /// and the timer, with the borrow released.
    fn step(&self, f: impl FnOnce(&mut State, f64, &mut Vec<Effect>)) {
        // One shared body for every caller (a generic body per closure costs code size).
        let mut f = Some(f);
        self.step_dyn(&mut |st, now, fx| {
            if let Some(f) = f.take() {
                f(st, now, fx);
            }
        });
    }

    fn step_dyn(&self, f: &mut dyn FnMut(&mut State, f64, &mut Vec<Effect>)) {
        let now = self.now();
        let mut fx = Vec::new();
        {
            // Never fails: nothing that can re-enter runs while the state is borrowed.
            let Ok(mut st) = self.state.try_borrow_mut() else {
                return;
            };
            f(&mut st, now, &mut fx);
            // Store work before the reservations this step makes: a settlement reaches the
            // store before the turn it lets in early (core::call::fleet).
            st.store_ops(&mut fx);
            let actions = st.engine.poll(now);
            st.apply(now, actions, &mut fx);
            st.store_ops(&mut fx);
            if self.driver.on_event.is_some() {
                let events = st.engine.drain_events();
                if !events.is_empty() {
                    fx.insert(0, Effect::Events(events));
                }
            }
        }
        self.run(fx);
        self.rearm(now);
    }

    fn fetch(&self, input: JsValue, init: JsValue, priority: i32, body: JsValue) -> Promise {
        let init = if init.is_object() {
            init
        } else {
            JsValue::UNDEFINED
        };
        let signal = body::caller_signal(&input, &init);
        if let Some(s) = &signal {
            if s.aborted() {
                return Promise::reject(&self.abort_reason(s));
            }
        }
        let estimated = if body.is_undefined() {
            init.clone()
        } else {
            let o = Object::new();
            js::set(&o, "body", &body);
            o.into()
        };
        let request = match self.estimate(&input, &estimated).and_then(|(r, model)| {
            let key = keys::of_request(
                &input,
                &init,
                &model,
                self.driver.limit_key.as_ref(),
                self.driver.header_lines.as_ref(),
            )?;
            Ok(CallRequest {
                priority: priority.saturating_add(body::priority_hint(&input, &init)),
                key,
                ..r
            })
        }) {
            Ok(r) => r,
            Err(e) => return Promise::reject(&e),
        };
        let one_shot = body::is_one_shot(&init);
        let (promise, resolve, reject) = js::promise();
        self.step(|st, now, fx| match st.engine.submit(now, request) {
            Err(error) => fx.push(Effect::Reject {
                reject,
                error: Rejection::Call(error),
            }),
            Ok(id) => {
                if one_shot {
                    // A stream body goes out once: the engine must not plan a retry.
                    st.engine.not_replayable(id);
                }
                let listener = signal.as_ref().map(|s| {
                    let w = self.weak.clone();
                    let closure = Closure::<dyn FnMut()>::new(move || {
                        if let Some(inner) = w.upgrade() {
                            inner.on_abort(id);
                        }
                    });
                    fx.push(Effect::Listen {
                        id,
                        signal: s.clone(),
                        listener: closure.as_ref().clone().unchecked_into(),
                    });
                    closure
                });
                st.calls.insert(
                    id,
                    Call {
                        resolve,
                        reject,
                        input,
                        init,
                        signal,
                        listener,
                        controller: None,
                        attempt: 0,
                        held: None,
                        network_error: JsValue::UNDEFINED,
                        delivered: false,
                    },
                );
            }
        });
        promise
    }

    /// The engine's view of the request, from the caller's `estimate` or the built-in one,
    /// and the body's `model` (for the limit key).
    fn estimate(&self, input: &JsValue, init: &JsValue) -> Result<(CallRequest, String), JsValue> {
        let (text, len) = body::body_text(init);
        let Some(f) = &self.driver.estimate else {
            let read = text.and_then(|t| t.scan());
            let e = match &read {
                Some(b) => b.estimate_sized(len),
                None => estimate::unread(len),
            };
            let request = CallRequest {
                input_tokens: e.input_tokens,
                max_tokens: e.max_tokens,
                ..CallRequest::default()
            };
            return Ok((request, read.and_then(|b| b.model).unwrap_or_default()));
        };
        let parsed = text.map_or(JsValue::UNDEFINED, |t| t.parse());
        let arg = Object::new();
        js::set(&arg, "url", &body::url_of(input));
        js::set(&arg, "body", &parsed);
        let r = f.call1(&JsValue::UNDEFINED, &arg)?;
        let field = |k: &'static str| {
            js::get_opt(&r, k)
                .map(|v| v.as_f64().filter(|n| n.is_finite() && *n >= 0.0))
                .unwrap_or(Some(0.0))
        };
        match (field("input"), field("output")) {
            (Some(input), Some(output)) if r.is_object() => {
                let request = CallRequest {
                    input_tokens: input,
                    max_tokens: Some(output),
                    ..CallRequest::default()
                };
                Ok((request, js::string(&parsed, "model").unwrap_or_default()))
            }
            _ => Err(js_sys::TypeError::new(
                "llm-pacer: option `estimate` must return { input, output } with finite numbers >= 0",
            )
            .into()),
        }
    }

    /// Carry out the effects, in order, with the state released.
    fn run(&self, fx: Vec<Effect>) {
        for e in fx {
            match e {
                Effect::Events(events) => self.emit(&events),
                Effect::Reserve(r) => self.store_reserve(r),
                Effect::StoreOps(ops) => self.store_ops(ops),
                Effect::Probe(key) => self.store_probe(key),
                Effect::Listen {
                    id,
                    signal,
                    listener,
                } => {
                    let _ = signal.add_event_listener_with_callback("abort", &listener);
                    // The caller's own code (its `estimate`) may have aborted in between.
                    if signal.aborted() {
                        self.on_abort(id);
                    }
                }
                Effect::Send {
                    id,
                    attempt,
                    input,
                    init,
                    controller,
                } => self.send(id, attempt, &input, &init, controller.as_ref()),
                Effect::Resolve {
                    resolve,
                    response,
                    usage,
                } => {
                    // Before handing over: a JSON body is watched as the caller reads it (the
                    // package's `jsonBody`, which hands the document to `usageDoc`); any other
                    // is cloned. The caller's copy is never read by us.
                    let from_clone = usage.filter(|&(id, kind)| {
                        kind != UsageKind::Json || !self.watch_json(&response, id)
                    });
                    let clone = from_clone.and_then(|_| response.clone().ok());
                    let _ = resolve.call1(&JsValue::UNDEFINED, &response);
                    if let Some((id, kind)) = from_clone {
                        match (clone, self.rc()) {
                            (Some(clone), Some(inner)) => spawn_local(async move {
                                let usage = body::read_usage(clone, kind).await;
                                inner.usage_done(id, usage);
                            }),
                            _ => self.usage_done(id, Ok(None)),
                        }
                    }
                }
                Effect::Reject { reject, error } => {
                    let value = match error {
                        Rejection::Value(v) => v,
                        Rejection::Call(e) => self.pacer_error(&e),
                        Rejection::Abort => self.make_abort_error(),
                    };
                    let _ = reject.call1(&JsValue::UNDEFINED, &value);
                }
                Effect::Abort { controller, reason } => {
                    if reason.is_undefined() {
                        controller.abort();
                    } else {
                        controller.abort_with_reason(&reason);
                    }
                }
                Effect::Cancel(response) => {
                    if let Some(b) = response.body() {
                        if !b.locked() {
                            js::ignore(b.cancel());
                        }
                    }
                }
                Effect::Unlisten { signal, listener } => {
                    let _ = signal.remove_event_listener_with_callback(
                        "abort",
                        listener.as_ref().unchecked_ref(),
                    );
                    drop(listener);
                }
            }
        }
    }

    /// Hand a delivered JSON response to the package's `jsonBody`, which passes its document
    /// to `usageDoc` when the caller reads it. False when there is no such helper (or it
    /// threw): then the usage is read from a clone.
    fn watch_json(&self, response: &Response, id: Id) -> bool {
        self.driver.json_body.as_ref().is_some_and(|f| {
            f.call2(&JsValue::UNDEFINED, response, &JsValue::from_f64(id as f64))
                .is_ok()
        })
    }

    /// Send one attempt: the caller's input (a fresh clone of a `Request`) and init, with
    /// our controller's signal if there is one (else as given: the caller's signal, if any).
    fn send(
        &self,
        id: Id,
        attempt: u32,
        input: &JsValue,
        init: &JsValue,
        controller: Option<&AbortController>,
    ) {
        let Some(inner) = self.rc() else {
            return;
        };
        // A `Request` whose body was already read cannot be cloned: `fetch` would reject it
        // with the same error, and no retry can help.
        let input = if body::is_request(input) {
            match js::method(input, "clone").map(|f| f.call0(input)) {
                Some(Ok(clone)) => clone,
                Some(Err(e)) => return inner.on_unsendable(id, attempt, e),
                None => input.clone(),
            }
        } else {
            input.clone()
        };
        let started = (|| -> Result<Promise, JsValue> {
            let init2 = match controller {
                Some(c) => {
                    let o = Object::new();
                    if init.is_object() {
                        Object::assign(&o, init.unchecked_ref());
                    }
                    js::set(&o, "signal", &c.signal());
                    o.into()
                }
                None => init.clone(),
            };
            let fetch = match &self.driver.fetch {
                Some(f) => f.clone(),
                None => js::global_fn("fetch").ok_or_else(|| {
                    JsValue::from(js_sys::TypeError::new(
                        "llm-pacer: no global fetch; pass the `fetch` option",
                    ))
                })?,
            };
            let ret = fetch.call2(&JsValue::UNDEFINED, &input, &init2)?;
            Ok(Promise::resolve(&ret))
        })();
        match started {
            Err(e) => inner.on_network_error(id, attempt, e),
            Ok(p) => spawn_local(async move {
                match JsFuture::from(p).await {
                    Ok(v) if v.is_object() => {
                        inner.on_response(id, attempt, v.unchecked_into()).await
                    }
                    // A `fetch` option that resolves with no object at all: not a response.
                    Ok(_) => inner.on_network_error(
                        id,
                        attempt,
                        js_sys::TypeError::new("llm-pacer: fetch resolved with no Response").into(),
                    ),
                    Err(e) => inner.on_network_error(id, attempt, e),
                }
            }),
        }
    }

    /// Is this attempt still the current one of a live, undelivered call?
    fn is_current(&self, id: Id, attempt: u32) -> bool {
        self.state.try_borrow().is_ok_and(|st| {
            st.calls
                .get(&id)
                .is_some_and(|c| c.attempt == attempt && !c.delivered)
        })
    }

    /// The attempt cannot even be made (its `Request` cannot be cloned): reject with the
    /// error, as `fetch` would, without a retry.
    fn on_unsendable(&self, id: Id, attempt: u32, error: JsValue) {
        if !self.is_current(id, attempt) {
            return;
        }
        self.step(|st, now, fx| {
            st.engine.abort(now, id);
            st.settle_fail(id, Rejection::Value(error), JsValue::UNDEFINED, fx);
        });
    }

    fn on_network_error(&self, id: Id, attempt: u32, error: JsValue) {
        if !self.is_current(id, attempt) {
            return;
        }
        self.step(|st, now, fx| {
            let Some(call) = st.calls.get_mut(&id) else {
                return;
            };
            call.network_error = error;
            let u = st.draw();
            let verdict = st.engine.on_network_error(now, id, u);
            st.verdict(now, id, verdict, fx);
        });
    }

    async fn on_response(&self, id: Id, attempt: u32, response: Response) {
        if !self.is_current(id, attempt) {
            self.run(vec![Effect::Cancel(response)]);
            return;
        }
        let status = response.status();
        let pairs = body::header_pairs(
            &response.headers().into(),
            self.driver.header_lines.as_ref(),
        );
        let cors = js::get_opt(&response, "type")
            .and_then(|t| t.as_string())
            .as_deref()
            == Some("cors");
        // The error body is read only where the decision may depend on it (the core's rule).
        // (`x-should-retry` is all it takes from the headers; they are parsed in full below.)
        let read_error = !(200..300).contains(&status) && {
            let should_retry =
                headers::should_retry(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            self.state.try_borrow().is_ok_and(|st| {
                let retry_on = st.engine.config().retry.retry_on.as_deref();
                needs_error_body(status, should_retry, retry_on)
            })
        };
        // How a 2xx's usage will be read, decided once from the headers already here.
        let kind = if (200..300).contains(&status) {
            body::usage_kind(response.body().is_some(), &pairs)
        } else {
            None
        };
        let stream = kind == Some(UsageKind::Sse);
        let (status, error) = if read_error || stream {
            // Never past the call's own deadline (`timeoutMs`): the pacer sleeps no later.
            let end = self
                .state
                .try_borrow()
                .ok()
                .and_then(|st| st.engine.deadline(id));
            let bound = if stream {
                stream::PEEK_TIMEOUT_MS
            } else {
                body::ERROR_BODY_TIMEOUT_MS
            };
            let ms = end.map_or(bound, |end| {
                crate::core::clamp(end - self.now(), 0.0, bound)
            });
            // No timer at all (no `setTimeout`, a failing clock): no bound.
            let (deadline, timer) = match self.deadline(ms) {
                Some((p, t)) => (p, Some(t)),
                None => (js::promise().0, None),
            };
            let read = if stream {
                // An error as the stream's first event stands for the status it names.
                match stream::first_event_error(&response, &deadline).await {
                    Some((s, e)) => (s, e),
                    None => (status, None),
                }
            } else {
                (status, body::error_info(&response, &deadline).await)
            };
            if let Some(t) = timer {
                t.cancel();
            }
            read
        } else {
            (status, None)
        };
        self.step(|st, now, fx| {
            let current = st
                .calls
                .get(&id)
                .is_some_and(|c| c.attempt == attempt && !c.delivered);
            if !current {
                fx.push(Effect::Cancel(response));
                return;
            }
            let info = headers::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), now);
            // A cross-origin response shows only the headers the server exposes through CORS
            // (`Access-Control-Expose-Headers`). With no rate-limit header nor retry hint in
            // sight, the pacer runs on configured limits and backoff alone: say so, once.
            if !st.told_hidden
                && cors
                && !info.has_limits()
                && info.retry_after_ms.is_none()
                && self.driver.on_event.is_some()
            {
                st.told_hidden = true;
                fx.push(Effect::Events(vec![Event {
                    kind: EventKind::Limits,
                    id,
                    attempt,
                    reason: "headers_hidden",
                    delay_ms: 0.0,
                    at_ms: now,
                    status,
                    latency_ms: None,
                    usage: None,
                    slot: None,
                }]));
            }
            if let Some(call) = st.calls.get_mut(&id) {
                call.held = Some((response, kind));
            }
            let u = st.draw();
            let verdict = st
                .engine
                .on_response(now, id, status, &info, error.as_ref(), u);
            st.verdict(now, id, verdict, fx);
        });
    }

    /// The body ended: its usage (`Ok`), or, for a stream that reported none, its output
    /// estimated from the streamed text (`Err`): settle on that, not on the whole
    /// reservation, and say once how to get exact usage.
    fn usage_done(&self, id: Id, usage: Result<Option<Usage>, f64>) {
        self.step(|st, now, fx| {
            match usage {
                Ok(usage) => st.engine.on_done(now, id, usage),
                Err(output_tokens) => {
                    if !st.told_stream && self.driver.on_event.is_some() {
                        st.told_stream = true;
                        let attempt = st.calls.get(&id).map_or(0, |c| c.attempt);
                        fx.push(Effect::Events(vec![Event {
                            kind: EventKind::Warning,
                            id,
                            attempt,
                            reason: "stream_usage_missing",
                            delay_ms: 0.0,
                            at_ms: now,
                            status: 0,
                            latency_ms: None,
                            usage: None,
                            slot: None,
                        }]));
                    }
                    st.engine.on_done_estimated(now, id, output_tokens);
                }
            }
            st.finish(id, fx);
        });
    }

    fn on_abort(&self, id: Id) {
        self.step(|st, now, fx| {
            let Some(call) = st.calls.get(&id) else {
                return;
            };
            let reason = call
                .signal
                .as_ref()
                .map_or(JsValue::UNDEFINED, |s| s.reason());
            if call.delivered {
                // The caller has the response: as with `fetch`, the abort stops its body. The
                // usage reader then fails and reports no usage.
                if let Some(c) = &call.controller {
                    fx.push(Effect::Abort {
                        controller: c.clone(),
                        reason,
                    });
                }
                return;
            }
            st.engine.abort(now, id);
            let error = if reason.is_undefined() {
                Rejection::Abort
            } else {
                Rejection::Value(reason.clone())
            };
            st.settle_fail(id, error, reason, fx);
        });
    }

    fn on_timer(&self, gen: u64) {
        {
            let Ok(mut st) = self.state.try_borrow_mut() else {
                return;
            };
            match &st.timer {
                Timer::Armed { gen: g, .. } if *g == gen => {}
                _ => return, // a stale timer
            }
            st.timer = Timer::Off;
        }
        self.step(|_, _, _| {});
    }

    /// A promise that resolves after `ms`, through the clock when one is given, else
    /// `setTimeout`, and its timer (see [`Deadline::cancel`]). `None` when no timer can be
    /// set.
    fn deadline(&self, ms: f64) -> Option<(Promise, Deadline)> {
        let ms = JsValue::from_f64(ms);
        match &self.driver.clock {
            Some(clock) => {
                let c = AbortController::new().ok()?;
                let slept =
                    Promise::resolve(&clock.sleep.call2(&clock.obj, &ms, &c.signal()).ok()?);
                // Its rejection on abort is expected: never report it as unhandled.
                js::ignore(slept.clone());
                Some((slept, Deadline::Sleep(c)))
            }
            None => {
                let (p, resolve, _) = js::promise();
                let set = js::global_fn("setTimeout")?;
                let handle = set.call2(&JsValue::UNDEFINED, &resolve, &ms).ok()?;
                Some((p, Deadline::Timeout(handle, resolve)))
            }
        }
    }

    /// Keep the one timer at the engine's next wake time (none when nothing is live).
    fn rearm(&self, now: f64) {
        // Released only after the timer is cleared; the caller holds another strong reference
        // (every entry point does), so this never frees the pacer under our feet.
        let (old, arm, released) = {
            let Ok(mut st) = self.state.try_borrow_mut() else {
                return;
            };
            let live = st.engine.live_calls() > 0 || st.calls.len() > 0;
            let mut released = None;
            if live && st.keep_alive.is_none() {
                st.keep_alive = self.rc();
            } else if !live {
                released = st.keep_alive.take();
            }
            let want = if live { st.engine.next_wake() } else { None };
            if want == st.timer.at() {
                (Timer::Off, None, released)
            } else {
                let old = std::mem::take(&mut st.timer);
                let arm = want.map(|at| {
                    st.timer_gen += 1;
                    let gen = st.timer_gen;
                    st.timer = Timer::Arming { at, gen };
                    (at, gen)
                });
                (old, arm, released)
            }
        };
        if let Timer::Armed { deadline, .. } = old {
            deadline.cancel();
        }
        drop(released);
        let Some((at, gen)) = arm else {
            return;
        };
        let delay = crate::core::clamp(at - now, 0.0, MAX_TIMEOUT_MS).ceil();
        let armed = self.deadline(delay).map(|(p, deadline)| {
            let w = self.weak.clone();
            spawn_local(async move {
                if JsFuture::from(p).await.is_ok() {
                    if let Some(inner) = w.upgrade() {
                        inner.on_timer(gen);
                    }
                }
            });
            Timer::Armed { at, gen, deadline }
        });
        let Ok(mut st) = self.state.try_borrow_mut() else {
            return;
        };
        match (&st.timer, armed) {
            (Timer::Arming { gen: g, .. }, Some(t)) if *g == gen => st.timer = t,
            (Timer::Arming { gen: g, .. }, None) if *g == gen => st.timer = Timer::Off,
            // Re-armed meanwhile (the clock's code called back into the pacer): drop ours.
            (_, Some(Timer::Armed { deadline, .. })) => {
                drop(st);
                deadline.cancel();
            }
            _ => {}
        }
    }

    fn emit(&self, events: &[Event]) {
        let Some(f) = &self.driver.on_event else {
            return;
        };
        for e in events {
            let o = Object::new();
            js::set(&o, "type", &JsValue::from_str(e.kind.name()));
            js::set(&o, "id", &JsValue::from_f64(e.id as f64));
            js::set(&o, "attempt", &JsValue::from_f64(f64::from(e.attempt)));
            js::set(&o, "reason", &JsValue::from_str(e.reason));
            // Whole milliseconds: a wait is never announced shorter than it is.
            js::set(&o, "delayMs", &JsValue::from_f64(e.delay_ms.ceil()));
            js::set(&o, "at", &JsValue::from_f64(e.at_ms.round()));
            if e.status > 0 {
                js::set(&o, "status", &JsValue::from_f64(f64::from(e.status)));
            }
            if let Some(ms) = e.latency_ms {
                js::set(&o, "latencyMs", &JsValue::from_f64(ms.round()));
            }
            // The call's limit key, as `limits()` shows it: an opaque id and the model class.
            let key = e.slot.and_then(|s| {
                let st = self.state.try_borrow().ok()?;
                let k = st.engine.key_of(s)?;
                Some((keys_opaque(k), k.class.clone()))
            });
            if let Some((key, model)) = key {
                js::set(&o, "key", &JsValue::from_str(&key));
                js::set(&o, "model", &JsValue::from_str(&model));
            }
            if let Some(u) = e.usage {
                let usage = Object::new();
                for (k, v) in [
                    ("inputTokens", u.input_tokens),
                    ("outputTokens", u.output_tokens),
                    ("cacheCreationInputTokens", u.cache_creation_input_tokens),
                    ("cacheReadInputTokens", u.cache_read_input_tokens),
                ] {
                    js::set(&usage, k, &JsValue::from_f64(v));
                }
                js::set(&o, "usage", &usage);
            }
            if e.kind == EventKind::Warning {
                js::set(&o, "message", &JsValue::from_str(warning_text(e.reason)));
            }
            // An exception in the listener is the listener's: it must not break the pacer.
            let _ = f.call1(&JsValue::UNDEFINED, &o);
        }
    }

    fn stats(&self) -> Object {
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

    fn limits(&self) -> js_sys::Array {
        let now = self.now();
        let out = js_sys::Array::new();
        let Ok(st) = self.state.try_borrow() else {
            return out;
        };
        for k in st.engine.limits(now) {
            let o = Object::new();
            // Opaque: a hash of the key, never the fingerprint or anything of the credential.
            js::set(&o, "key", &JsValue::from_str(&keys_opaque(&k.key)));
            js::set(&o, "model", &JsValue::from_str(&k.key.class));
            // What was configured for this key's class: a lower limit in force came from
            // the server's headers too.
            let configured = crate::core::models::limits_for(st.engine.config(), &k.key.class);
            for d in k.dims {
                let e = Object::new();
                js::set(&e, "limit", &JsValue::from_f64(d.limit));
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
    fn pacer_error(&self, e: &CallError) -> JsValue {
        let details = Object::new();
        let num = |k: &'static str, v: f64| js::set(&details, k, &JsValue::from_f64(v));
        match *e {
            CallError::TooLarge {
                dim,
                cost,
                capacity,
            } => {
                js::set(&details, "dimension", &JsValue::from_str(dim.name()));
                num("cost", cost);
                num("capacity", capacity);
            }
            CallError::RetryAfterTooLong { hint_ms } => num("hintMs", hint_ms),
            CallError::Timeout => {
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

    fn make(&self, code: &str, details: &Object) -> JsValue {
        self.make_error
            .call2(&JsValue::UNDEFINED, &JsValue::from_str(code), details)
            .unwrap_or_else(|e| e)
    }

    fn make_abort_error(&self) -> JsValue {
        self.make("ABORT", &Object::new())
    }

    fn abort_reason(&self, signal: &AbortSignal) -> JsValue {
        let r = signal.reason();
        if r.is_undefined() {
            self.make_abort_error()
        } else {
            r
        }
    }
}

impl State {
    /// The store work the engine queued, as one effect (none without a store).
    fn store_ops(&mut self, fx: &mut Vec<Effect>) {
        if !self.engine.has_store() {
            return;
        }
        let ops = self.engine.drain_store_ops();
        if !ops.is_empty() {
            let keyed = ops
                .into_iter()
                .map(|op| (store::key(&self.engine, op.slot()), op))
                .collect();
            fx.push(Effect::StoreOps(keyed));
        }
    }

    /// Turn the engine's actions into effects.
    fn apply(&mut self, now: f64, actions: Vec<Action>, fx: &mut Vec<Effect>) {
        for a in actions {
            match a {
                Action::Send { id, attempt } => self.send(now, id, attempt, fx),
                Action::Deliver { id } => self.deliver(now, id, fx),
                Action::Fail { id, error } => {
                    self.settle_fail(id, Rejection::Call(error), JsValue::UNDEFINED, fx)
                }
                Action::Reserve {
                    id,
                    slot,
                    input,
                    output,
                    turn,
                } => fx.push(Effect::Reserve(store::ReserveReq {
                    id,
                    slot,
                    key: store::key(&self.engine, slot),
                    limits: self.engine.store_limits(slot),
                    input,
                    output,
                    turn,
                })),
                Action::ProbeStore { slot } => {
                    fx.push(Effect::Probe(store::key(&self.engine, slot)))
                }
            }
        }
    }

    fn send(&mut self, now: f64, id: Id, attempt: u32, fx: &mut Vec<Effect>) {
        let Some(call) = self.calls.get_mut(&id) else {
            // Not ours (cannot happen): let the engine forget it.
            self.engine.abort(now, id);
            return;
        };
        if let Some((r, _)) = call.held.take() {
            fx.push(Effect::Cancel(r));
        }
        // An attempt needs a controller of its own if the pacer may end it while it is on the
        // wire (the call's deadline), or to follow the caller's signal: handing a long-lived
        // signal to `fetch` itself leaves a listener on it per request in undici. With
        // neither, none (creating an `AbortController` per attempt was a tenth of the cost of
        // a call).
        let controller = if self.engine.deadline(id).is_some() || call.signal.is_some() {
            match AbortController::new() {
                Ok(c) => Some(c),
                Err(e) => {
                    self.engine.abort(now, id);
                    self.settle_fail(id, Rejection::Value(e), JsValue::UNDEFINED, fx);
                    return;
                }
            }
        } else {
            None
        };
        call.controller = controller.clone();
        call.attempt = attempt;
        fx.push(Effect::Send {
            id,
            attempt,
            input: call.input.clone(),
            init: call.init.clone(),
            controller,
        });
    }

    /// What the engine decided about an attempt's outcome.
    fn verdict(&mut self, now: f64, id: Id, verdict: Verdict, fx: &mut Vec<Effect>) {
        match verdict {
            Verdict::Deliver | Verdict::Unknown => self.deliver(now, id, fx),
            // Held: a later poll sends the next attempt (a call whose body is a stream was
            // marked not replayable at submission, so it never gets here).
            Verdict::Retry { .. } => {}
            Verdict::Fail(error) => {
                self.settle_fail(id, Rejection::Call(error), JsValue::UNDEFINED, fx)
            }
        }
    }

    /// Resolve with the held response (reading its usage later if it is a 2xx), or reject
    /// with the last network error when there is none.
    fn deliver(&mut self, now: f64, id: Id, fx: &mut Vec<Effect>) {
        let Some(call) = self.calls.get_mut(&id) else {
            self.engine.on_done(now, id, None);
            return;
        };
        let Some((response, kind)) = call.held.take() else {
            self.engine.abort(now, id);
            self.settle_fail(
                id,
                Rejection::Call(CallError::Network),
                JsValue::UNDEFINED,
                fx,
            );
            return;
        };
        call.delivered = true;
        if kind == Some(UsageKind::Sse) {
            self.engine.on_stream(id);
        }
        fx.push(Effect::Resolve {
            resolve: call.resolve.clone(),
            response,
            usage: kind.map(|k| (id, k)),
        });
        if kind.is_none() {
            // Nothing to read: done now (a no-op for the engine unless it awaits usage).
            self.engine.on_done(now, id, None);
            self.finish(id, fx);
        }
    }

    /// Reject the call (aborting its attempt with `reason`) and forget it.
    fn settle_fail(&mut self, id: Id, error: Rejection, reason: JsValue, fx: &mut Vec<Effect>) {
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        if let Some(controller) = call.controller.take() {
            fx.push(Effect::Abort { controller, reason });
        }
        if let Some((r, _)) = call.held.take() {
            fx.push(Effect::Cancel(r));
        }
        let error = match error {
            Rejection::Call(CallError::Network) if !call.network_error.is_undefined() => {
                Rejection::Value(call.network_error.clone())
            }
            other => other,
        };
        if !call.delivered {
            fx.push(Effect::Reject {
                reject: call.reject.clone(),
                error,
            });
        }
        unlisten(call, fx);
    }

    /// Forget a delivered call.
    fn finish(&mut self, id: Id, fx: &mut Vec<Effect>) {
        if let Some(call) = self.calls.remove(&id) {
            unlisten(call, fx);
        }
    }
}

fn unlisten(call: Call, fx: &mut Vec<Effect>) {
    if let (Some(signal), Some(listener)) = (call.signal, call.listener) {
        fx.push(Effect::Unlisten { signal, listener });
    }
}

/// A seed for the jitter PRNG from the platform's secure random source.
/// `limits()` sources by [`crate::core::config::source`].
const SOURCES: [&str; 3] = ["configured", "headers", "configured+headers"];

/// The advice a `warning` event carries, by reason (fixed text: never a secret).
fn warning_text(reason: &str) -> &'static str {
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

fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        // No `crypto.getRandomValues` (no current runtime lacks it): a fixed seed still
        // gives jitter, only the same sequence in every process.
        return 0x9E37_79B9_7F4A_7C15;
    }
    u64::from_le_bytes(b)
}
