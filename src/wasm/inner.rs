//! The driver's I/O half: one `Inner` per pacer carries out what the engine decides. It
//! reads the clock, sends the attempts through `fetch`, reads the answers (headers, error
//! bodies, usage), keeps the one timer and follows the callers' abort signals; every decision
//! is the engine's, made in `step` under the state's borrow, and the effects run after it.
//! What an attempt comes back with is taken in [`super::answer`].

use super::body::{self, BodyEnd, UsageKind};
use super::options::DriverOptions;
use super::reader::BodyReader;
use super::state::{Call, Calls, Deadline, Effect, Rejection, State, Timer};
use super::{js, keys};
use crate::core::call::{Engine, Event, EventKind, Id, Request as CallRequest};
use crate::core::estimate;
use crate::core::fingerprint::Memo;
use js_sys::{Function, Object, Promise};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{AbortController, Response};

/// The largest delay `setTimeout` takes (2^31 - 1 ms); longer waits are re-armed on wake.
pub(super) const MAX_TIMEOUT_MS: f64 = 2_147_483_647.0;

pub(super) struct Inner {
    pub(super) driver: DriverOptions,
    pub(super) make_error: Function,
    /// The last good reading of the clock (used if the clock ever returns garbage).
    pub(super) last_now: Cell<f64>,
    pub(super) state: RefCell<State>,
    pub(super) weak: Weak<Inner>,
    /// A strong reference to the pacer held while any call is live, so that a pacer the
    /// program no longer references still settles its calls (and never leaves a timer or an
    /// abort listener pointing at freed closures). Dropped when the pacer is idle.
    pub(super) keep_alive: RefCell<Option<Rc<Inner>>>,
    /// The last limit key derived, kept so that a run of calls with one origin, credential and
    /// model does not hash them again each time.
    pub(super) key_memo: RefCell<Memo>,
    /// Effects handed to calls' own contexts ([`Effect::Own`]), by call, until their
    /// dispatchers run them there (`dispatched(id, OWN_EFFECTS)`).
    #[cfg(feature = "durable-object")]
    pub(super) deferred: RefCell<Vec<(Id, Effect)>>,
}

impl Inner {
    pub(super) fn new(
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
                    told_hidden: false,
                    told_stream: false,
                    shown: Vec::new(),
                    shown_salt: super::random_seed(),
                    #[cfg(feature = "durable-object")]
                    shared: 0,
                    #[cfg(feature = "durable-object")]
                    clocked: driver.clock.is_some(),
                }),
                weak: weak.clone(),
                keep_alive: RefCell::new(None),
                key_memo: RefCell::new(Memo::default()),
                #[cfg(feature = "durable-object")]
                deferred: RefCell::new(Vec::new()),
                driver,
            }
        })
    }

    pub(super) fn read_clock(driver: &DriverOptions) -> Option<f64> {
        Self::clock_reading(driver).ok()
    }

    /// `clock.now()` (or `Date.now()`), or why it gave no time: what it threw, or a
    /// `TypeError` naming it for a value that is no finite number.
    fn clock_reading(driver: &DriverOptions) -> Result<f64, JsValue> {
        let Some(c) = &driver.clock else {
            return Ok(js_sys::Date::now());
        };
        let v = c.now.call0(&c.obj)?;
        v.as_f64().filter(|t| t.is_finite()).ok_or_else(|| {
            js_sys::TypeError::new("llm-pacer: option `clock.now()` must return a finite number")
                .into()
        })
    }

    /// Now, epoch ms: `Date.now()`, or `clock.now()` when a clock is given. Never called
    /// while the state is borrowed (the clock is the caller's code).
    pub(super) fn now(&self) -> f64 {
        match Self::read_clock(&self.driver) {
            Some(t) => {
                self.last_now.set(t);
                t
            }
            None => self.last_now.get(),
        }
    }

    pub(super) fn rc(&self) -> Option<Rc<Inner>> {
        self.weak.upgrade()
    }

    /// One interaction with the engine: `f` under the borrow, then `poll`, then the effects
    /// and the timer, with the borrow released.
    pub(super) fn step(&self, f: impl FnOnce(&mut State, f64, &mut Vec<Effect>)) {
        // One shared body for every caller (a generic body per closure costs code size).
        let mut f = Some(f);
        self.step_dyn(&mut |st, now, fx| {
            if let Some(f) = f.take() {
                f(st, now, fx);
            }
        });
    }

    pub(super) fn step_dyn(&self, f: &mut dyn FnMut(&mut State, f64, &mut Vec<Effect>)) {
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

    #[cfg_attr(feature = "durable-object", allow(clippy::too_many_arguments))]
    pub(super) fn fetch(
        &self,
        input: JsValue,
        init: JsValue,
        priority: i32,
        body: JsValue,
        resolve: Function,
        reject: Function,
        #[cfg(feature = "durable-object")] dispatch: Option<Function>,
    ) {
        let init = if init.is_object() {
            init
        } else {
            JsValue::UNDEFINED
        };
        let signal = body::caller_signal(&input, &init);
        if let Some(s) = &signal {
            if s.aborted() {
                let _ = reject.call1(&JsValue::UNDEFINED, &self.abort_reason(s));
                return;
            }
        }
        let estimated = if body.is_undefined() {
            init.clone()
        } else {
            let o = Object::new();
            js::set(&o, "body", &body);
            o.into()
        };
        // The URL, and its text, read once for the estimate and the key.
        let url = body::url_of(&input);
        let text = url.as_string().unwrap_or_default();
        let request = match self
            .estimate(&estimated, &url, &text)
            .and_then(|(r, model)| {
                let key = keys::of_request(
                    &self.key_memo,
                    &input,
                    &init,
                    &url,
                    &text,
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
            Err(e) => {
                let _ = reject.call1(&JsValue::UNDEFINED, &e);
                return;
            }
        };
        let one_shot = body::is_one_shot(&init);
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
                #[cfg(feature = "durable-object")]
                if dispatch.is_none() {
                    st.shared += 1;
                }
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
                        stream: None,
                        reading: None,
                        #[cfg(feature = "durable-object")]
                        dispatch,
                    },
                );
            }
        });
    }

    /// The engine's view of the request at `url` (`text`, its string), from the caller's
    /// `estimate` or the built-in one, and the body's `model` (for the limit key).
    pub(super) fn estimate(
        &self,
        init: &JsValue,
        url: &JsValue,
        text: &str,
    ) -> Result<(CallRequest, String), JsValue> {
        if let Some(class) = estimate::metered_apart(text) {
            // Counting tokens, or a batch's requests (served later): metered apart, no tokens.
            return Ok((CallRequest::default(), class.to_string()));
        }
        let (text, len) = body::body_text(init);
        // Read with the caller's `estimate` too, for the prompt's prefixes: a prefix the server
        // holds in its cache is not counted against ITPM, whoever counted the rest.
        let read = text.as_ref().and_then(|t| t.scan());
        let Some(f) = &self.driver.estimate else {
            let e = match &read {
                Some(b) => b.estimate_sized(len),
                None => estimate::unread(len),
            };
            let fixed_priced = read.as_ref().is_some_and(|b| b.counts.documents > 0);
            let (model, prefixes) = read.map(|b| (b.model, b.prefixes)).unwrap_or_default();
            let request = CallRequest {
                input_tokens: e.input_tokens,
                max_tokens: e.max_tokens,
                choices: e.choices.unwrap_or(1.0),
                fixed_priced,
                prefixes,
                ..CallRequest::default()
            };
            return Ok((request, model.unwrap_or_default()));
        };
        let parsed = text.map_or(JsValue::UNDEFINED, |t| t.parse());
        let arg = Object::new();
        js::set(&arg, "url", url);
        js::set(&arg, "body", &parsed);
        let r = f.call1(&JsValue::UNDEFINED, &arg)?;
        // Both numbers, given: a missing one is no 0 (`{}`, or a Promise, which is not
        // awaited, would turn pacing off without a word).
        let field = |k: &'static str| {
            js::get_opt(&r, k)
                .and_then(|v| v.as_f64())
                .filter(|n| n.is_finite() && *n >= 0.0)
        };
        match (field("input"), field("output")) {
            (Some(input), Some(output)) if r.is_object() => {
                // The caller's own count, all of it sure but a prefix the server may have
                // cached.
                let (prefixes, floor) = read.map_or((Vec::new(), input), |b| b.counted(input));
                let request = CallRequest {
                    input_tokens: input,
                    input_floor: floor,
                    max_tokens: Some(output),
                    prefixes,
                    ..CallRequest::default()
                };
                Ok((request, js::string(&parsed, "model").unwrap_or_default()))
            }
            _ => Err(js_sys::TypeError::new(
                "llm-pacer: option `estimate` must return { input, output }, both finite numbers >= 0, synchronously (a Promise is not awaited)",
            )
            .into()),
        }
    }

    /// Carry out the effects, in order, with the state released.
    pub(super) fn run(&self, fx: Vec<Effect>) {
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
                #[cfg(feature = "durable-object")]
                Effect::Dispatch {
                    dispatch,
                    id,
                    attempt,
                } => {
                    let (id_js, attempt_js) =
                        (JsValue::from_f64(id as f64), JsValue::from(attempt));
                    if dispatch
                        .call2(&JsValue::UNDEFINED, &id_js, &attempt_js)
                        .is_err()
                    {
                        // The dispatcher threw: send from here rather than never.
                        self.dispatched(id, attempt);
                    }
                }
                Effect::Resolve {
                    resolve,
                    response,
                    usage,
                    peek,
                    follow,
                } => {
                    if let (Some((signal, controller)), Some(f)) = (follow, &self.driver.follow) {
                        let _ = f.call3(&JsValue::UNDEFINED, &response, &signal, &controller);
                    }
                    // Before handing over: a JSON body is watched as the caller reads it (the
                    // package's `jsonBody`, which hands what the caller read to the module), or
                    // else cloned; a stream the peek read from is handed over resumed (`pump`),
                    // its usage read on the way.
                    let sse = match usage {
                        Some((id, UsageKind::Sse)) => Some(id),
                        _ => None,
                    };
                    let (response, clone) = match (peek, usage) {
                        (Some(peek), _) => (self.resume(response, peek, sse), None),
                        (None, Some((id, UsageKind::Json))) if !self.watch_json(&response, id) => {
                            let clone = response.clone().ok();
                            (response, Some((id, clone)))
                        }
                        // A stream that could not be peeked (no body): nothing to read.
                        (None, Some((id, UsageKind::Sse))) => (response, Some((id, None))),
                        (None, _) => (response, None),
                    };
                    let _ = resolve.call1(&JsValue::UNDEFINED, &response);
                    match (clone, self.rc()) {
                        (Some((id, Some(clone))), Some(inner)) => spawn_local(async move {
                            let usage = body::read_json_usage(clone).await;
                            inner.usage_done(id, BodyEnd::Usage(usage));
                        }),
                        (Some((id, _)), _) => self.usage_done(id, BodyEnd::Usage(None)),
                        (None, _) => {}
                    }
                }
                Effect::Reject { reject, error } => {
                    let value = match error {
                        Rejection::Value(v) => v,
                        Rejection::Call(e) => self.pacer_error(&e),
                        Rejection::Abort => self.make_abort_error(),
                        Rejection::Caused(e, cause) => {
                            let error = self.pacer_error(&e);
                            let _ = js_sys::Reflect::set(&error, &"cause".into(), &cause);
                            error
                        }
                    };
                    let _ = reject.call1(&JsValue::UNDEFINED, &value);
                }
                Effect::Abort {
                    controller,
                    reason,
                    #[cfg(feature = "durable-object")]
                    dispatch,
                } => {
                    // workerd: from the caller's context, through its dispatcher (another
                    // request's `abort()` of the controller throws, and the attempt would go
                    // on).
                    #[cfg(feature = "durable-object")]
                    if let Some(d) = dispatch {
                        if d.call2(&JsValue::UNDEFINED, &controller, &reason).is_ok() {
                            continue;
                        }
                    }
                    if reason.is_undefined() {
                        controller.abort();
                    } else {
                        controller.abort_with_reason(&reason);
                    }
                }
                Effect::Cancel(response, peek) => {
                    // An unread body, cancelled through a reader of its own (`BodyReader::of`
                    // takes none of a locked body, nor of a polyfill's that is no web stream).
                    if let Some(r) = BodyReader::of(&response) {
                        r.cancel();
                    }
                    if let Some(p) = peek {
                        p.cancel();
                    }
                }
                Effect::Stop(deadline) => deadline.cancel(),
                #[cfg(feature = "durable-object")]
                Effect::Own {
                    dispatch,
                    id,
                    effect,
                } => {
                    if let Ok(mut d) = self.deferred.try_borrow_mut() {
                        d.push((id, *effect));
                    }
                    let handed = dispatch.call2(
                        &JsValue::UNDEFINED,
                        &JsValue::from_f64(id as f64),
                        &JsValue::from(super::state::OWN_EFFECTS),
                    );
                    if handed.is_err() {
                        // The dispatcher threw: here rather than never.
                        self.dispatched(id, super::state::OWN_EFFECTS);
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

    /// Hand a delivered JSON response to the package's `jsonBody`, which passes what the
    /// caller reads (`usageText`, `usageNumbers`) on. False when there is no such helper (or it
    /// threw): then the usage is read from a clone.
    pub(super) fn watch_json(&self, response: &Response, id: Id) -> bool {
        self.driver.json_body.as_ref().is_some_and(|f| {
            f.call2(&JsValue::UNDEFINED, response, &JsValue::from_f64(id as f64))
                .is_ok()
        })
    }

    /// Attempt `attempt` of call `id`, handed to its dispatcher, is sent now (from the
    /// caller's context): with the call's input, init and controller, unless the call ended
    /// or moved on meanwhile.
    /// With `OWN_EFFECTS` for `attempt`, the effects handed to the call's context
    /// ([`Effect::Own`]) are carried out, here.
    #[cfg(feature = "durable-object")]
    pub(super) fn dispatched(&self, id: Id, attempt: u32) {
        if attempt == super::state::OWN_EFFECTS {
            let mine = match self.deferred.try_borrow_mut() {
                Ok(mut d) => {
                    let (mine, rest) = std::mem::take(&mut *d)
                        .into_iter()
                        .partition(|(i, _)| *i == id);
                    *d = rest;
                    mine
                }
                Err(_) => Vec::new(),
            };
            self.run(mine.into_iter().map(|(_, e)| e).collect());
            return;
        }
        let send = match self.state.try_borrow_mut() {
            Ok(mut st) => {
                let deadline = st.engine.deadline(id).is_some();
                st.calls.get_mut(&id).and_then(|c| {
                    if c.attempt != attempt || c.delivered {
                        return None;
                    }
                    // The attempt's controller (as `State::send` decides, for a deadline or
                    // a signal) made here, in the caller's context: workerd ties a signal to
                    // the request that made it, `fetch` refuses another's, and only its own
                    // request may abort it.
                    if deadline || c.signal.is_some() {
                        c.controller = AbortController::new().ok();
                    }
                    Some((c.input.clone(), c.init.clone(), c.controller.clone()))
                })
            }
            Err(_) => None,
        };
        if let Some((input, init, controller)) = send {
            self.send(id, attempt, &input, &init, controller.as_ref());
        }
    }

    /// How long until the pacer next needs to wake (ms, at least 0), or -1 if no wake is
    /// planned: for the package's per-call timers (workerd), which step the pacer then.
    #[cfg(feature = "durable-object")]
    pub(super) fn wake_in(&self) -> f64 {
        let now = self.now();
        match self.state.try_borrow() {
            Ok(st) => st
                .engine
                .next_wake()
                .map_or(-1.0, |at| crate::core::clamp(at - now, 0.0, MAX_TIMEOUT_MS)),
            Err(_) => -1.0,
        }
    }

    /// Send one attempt: the caller's input (a fresh clone of a `Request`) and init, with
    /// our controller's signal if there is one (else as given: the caller's signal, if any).
    pub(super) fn send(
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
        let started = (|| -> Result<JsValue, JsValue> {
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
            fetch.call2(&JsValue::UNDEFINED, &input, &init2)
        })();
        match started {
            Err(e) => inner.on_network_error(id, attempt, e),
            Ok(p) => {
                // The answer comes back through the package's `awaitAttempt`, which calls
                // `RawPacer::answered` (no closure, future or task of the driver's own).
                let (id_js, attempt_js) = (JsValue::from_f64(id as f64), JsValue::from(attempt));
                let handed = self
                    .driver
                    .await_attempt
                    .as_ref()
                    .map(|f| f.call3(&JsValue::UNDEFINED, &p, &id_js, &attempt_js));
                if !matches!(handed, Some(Ok(_))) {
                    // Not without the package's helper (which is always given): fail the
                    // attempt rather than leave the call unsettled.
                    let e =
                        js_sys::Error::new("llm-pacer: internal error (no `awaitAttempt` helper)");
                    inner.on_network_error(id, attempt, e.into());
                }
            }
        }
    }

    /// The body ended: settle on what it told of its usage. For a stream that reported none
    /// but streamed text, that is its output estimated from the text, not the whole
    /// reservation: say once how to get exact usage.
    pub(super) fn usage_done(&self, id: Id, usage: BodyEnd) {
        self.step(|st, now, fx| {
            match usage {
                BodyEnd::Usage(usage) => st.engine.on_done(now, id, usage),
                BodyEnd::Input(usage) => st.engine.on_done_input(now, id, usage),
                BodyEnd::Estimated(output_tokens) => {
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

    pub(super) fn on_abort(&self, id: Id) {
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
                        #[cfg(feature = "durable-object")]
                        dispatch: call.dispatch.clone(),
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

    /// Timer `gen` ended: it slept (`Ok`), or its `clock.sleep` rejected. A stale or
    /// cancelled timer is ignored.
    fn on_timer(&self, gen: u64, slept: Result<JsValue, JsValue>) {
        {
            let Ok(mut st) = self.state.try_borrow_mut() else {
                return;
            };
            match &st.timer {
                Timer::Armed { gen: g, .. } if *g == gen => {}
                _ => return, // stale, or cancelled by the pacer: expected
            }
            st.timer = Timer::Off;
        }
        // A sleep that failed, or a clock that gives no time once it ends: time cannot move
        // on, so the calls that wait on it never would (they were woken every few ms to no
        // end). They reject with the clock's error.
        let failed = slept
            .err()
            .or_else(|| Self::clock_reading(&self.driver).err());
        match failed {
            Some(e) => self.timer_failed(e),
            None => self.step(|_, _, _| {}),
        }
    }

    /// A promise that resolves after `ms`, through the clock when one is given, else
    /// `setTimeout`, and its timer (see [`Deadline::cancel`]); or why no timer can be set
    /// (what `clock.sleep` threw).
    pub(super) fn deadline(&self, ms: f64) -> Result<(Promise, Deadline), JsValue> {
        let ms = JsValue::from_f64(ms);
        match &self.driver.clock {
            Some(clock) => {
                let c = AbortController::new()?;
                let slept = Promise::resolve(&clock.sleep.call2(&clock.obj, &ms, &c.signal())?);
                // Its rejection on abort is expected: never report it as unhandled.
                js::ignore(slept.clone());
                Ok((slept, Deadline::Sleep(c)))
            }
            None => {
                let (p, resolve, _) = js::promise();
                // No `setTimeout` (no runtime lacks one): the calls that wait reject.
                let set = js::global_fn("setTimeout").ok_or(JsValue::UNDEFINED)?;
                let handle = set.call2(&JsValue::UNDEFINED, &resolve, &ms)?;
                Ok((p, Deadline::Timeout(handle, resolve)))
            }
        }
    }

    /// The pacer's timer could not be set, or its `clock.sleep` rejected (not by the pacer's
    /// own cancel): nothing would ever wake the calls that wait. Every call that waits on time
    /// (queued, or backing off) rejects with the clock's error, rather than hang; one on the
    /// wire goes on (it waits on its answer, which still comes), and meets the clock again if
    /// it must wait.
    fn timer_failed(&self, error: JsValue) {
        let waiting: Vec<Id> = match self.state.try_borrow() {
            Ok(st) => st
                .calls
                .ids()
                .into_iter()
                .filter(|&id| {
                    st.engine.waiting(id) && st.calls.get(&id).is_some_and(|c| !c.delivered)
                })
                .collect(),
            Err(_) => return,
        };
        if waiting.is_empty() {
            return;
        }
        self.step(|st, now, fx| {
            for id in waiting {
                st.engine.abort(now, id);
                st.settle_fail(id, Rejection::Value(error.clone()), JsValue::UNDEFINED, fx);
            }
        });
    }

    /// Keep the one timer at the engine's next wake time (none when nothing is live).
    pub(super) fn rearm(&self, now: f64) {
        // Released only after the timer is cleared; the caller holds another strong reference
        // (every entry point does), so this never frees the pacer under our feet.
        let mut pin = None;
        let (old, arm, released) = {
            let Ok(mut st) = self.state.try_borrow_mut() else {
                return;
            };
            let live = st.engine.live_calls() > 0 || st.calls.len() > 0;
            let mut released = None;
            if let Ok(mut keep) = self.keep_alive.try_borrow_mut() {
                if live && keep.is_none() {
                    *keep = self.rc();
                    pin = Some(true);
                } else if !live {
                    released = keep.take();
                    pin = released.is_some().then_some(false);
                }
            }
            // (Where every live call steps the pacer from a timer of its own, none.)
            let want = if live && st.timed() {
                st.engine.next_wake()
            } else {
                None
            };
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
        if let (Some(f), Some(live)) = (&self.driver.pin, pin) {
            let _ = f.call1(&JsValue::UNDEFINED, &JsValue::from_bool(live));
        }
        drop(released);
        let Some((at, gen)) = arm else {
            return;
        };
        let delay = crate::core::clamp(at - now, 0.0, MAX_TIMEOUT_MS).ceil();
        let (armed, failed) = match self.deadline(delay) {
            Ok((p, deadline)) => {
                let w = self.weak.clone();
                spawn_local(async move {
                    let slept = JsFuture::from(p).await;
                    if let Some(inner) = w.upgrade() {
                        inner.on_timer(gen, slept);
                    }
                });
                (Some(Timer::Armed { at, gen, deadline }), None)
            }
            Err(e) => (None, Some(e)),
        };
        {
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
        if let Some(e) = failed {
            self.timer_failed(e);
        }
    }
}
