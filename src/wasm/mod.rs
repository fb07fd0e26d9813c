//! The JavaScript binding: the only module that reads a clock, draws random numbers, or calls
//! `fetch`. Compiled only for `wasm32`.
//!
//! [`RawPacer`] is a *driver* of [`Engine`](crate::core::call::Engine): it makes no policy decision of its own. For each
//! `fetch(input, init)` it estimates the cost, submits the call, and carries out what the
//! engine asks — send an attempt, deliver the response it holds, fail the call — feeding back
//! every response head (status, parsed headers, and for retryable statuses the error body read
//! from a clone), every network error, the usage of a delivered body (a JSON one as the caller
//! reads it, a stream as its chunks pass on to the caller), every abort, and the passing of time through one timer.
//!
//! Discipline that keeps it sound:
//! * one timer per pacer, re-armed to [`Engine::next_wake`](crate::core::call::Engine::next_wake) after every interaction, and none
//!   at all while no call is live (nor, in workerd's module, while every live call has a
//!   timer of its own, in its own request, and no `clock` is given: `RawPacer.wake`);
//! * no JavaScript that could call back into the pacer (a user's `fetch`, `clock`,
//!   `estimate`, `onEvent`, or an abort listener) ever runs while the state is borrowed: every
//!   interaction computes a list of [`Effect`](state::Effect)s under the borrow and carries them out after;
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

mod answer;
mod body;
mod delivered;
mod inner;
mod js;
mod keys;
mod lowlevel;
mod options;
mod reader;
mod report;
#[cfg(feature = "simulator")]
mod sim;
mod state;
mod store;
// The Durable Object's export (`storeOp`): only in the module of the entries for workerd
// (`llm-pacer/cloudflare` runs it; feature `durable-object`, scripts/build-pkg.mjs).
#[cfg(feature = "durable-object")]
mod store_core;
mod stream;
mod trap;

use crate::core::call::Id;
use body::BodyEnd;
use inner::Inner;
use js_sys::{Function, Object};
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// The allocator: Talc, 2.5 KB gzipped smaller than Rust's default dlmalloc in Wasm.
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

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
    /// what the estimate reads instead of `init.body`. The call settles through `resolve` or
    /// `reject`, the functions of the promise the package made for it (one promise a call,
    /// made where it is cheapest, in JavaScript).
    #[cfg(not(feature = "durable-object"))]
    pub fn fetch(
        &self,
        input: JsValue,
        init: JsValue,
        priority: i32,
        body: JsValue,
        resolve: Function,
        reject: Function,
    ) {
        self.inner
            .fetch(input, init, priority, body, resolve, reject)
    }

    /// The same, in workerd's module (feature `durable-object`), with `dispatch`: when a
    /// function, the call's own dispatcher. Each attempt is handed to it as
    /// `dispatch(id, attempt)` rather than sent at once, and it calls `RawPacer.dispatched`
    /// from the caller's context, so that the attempt's I/O belongs to the caller's request
    /// (in workerd each request has a context of its own); the attempt's `AbortController`,
    /// made there, is aborted there too: handed over as `dispatch(controller, reason)`.
    #[cfg(feature = "durable-object")]
    #[allow(clippy::too_many_arguments)]
    pub fn fetch(
        &self,
        input: JsValue,
        init: JsValue,
        priority: i32,
        body: JsValue,
        resolve: Function,
        reject: Function,
        dispatch: JsValue,
    ) {
        let dispatch = dispatch.dyn_into::<Function>().ok();
        self.inner
            .fetch(input, init, priority, body, resolve, reject, dispatch)
    }
}

/// workerd's calls in their callers' contexts (see `fetch`'s `dispatch`).
#[cfg(feature = "durable-object")]
#[wasm_bindgen(js_class = RawPacer)]
impl RawPacer {
    /// Send attempt `attempt` of call `id` now: its dispatcher's answer (see `fetch`).
    pub fn dispatched(&self, id: f64, attempt: u32) {
        self.inner.dispatched(id as Id, attempt);
    }

    /// Step the pacer: what is due now is done (the package's per-call timers in workerd,
    /// each in its call's own request: the pacer arms no timer of its own for such calls
    /// unless a `clock` is given, since one request's timer, cancelled by another's code, or
    /// ended with its request, would resolve a promise from another request's context, or
    /// never fire).
    pub fn wake(&self) {
        self.inner.step(|_, _, _| {});
    }

    /// How long until the pacer next needs to wake (ms), or -1 if no wake is planned.
    #[wasm_bindgen(js_name = wakeIn)]
    pub fn wake_in(&self) -> f64 {
        self.inner.wake_in()
    }
}

#[wasm_bindgen(js_class = RawPacer)]
impl RawPacer {
    /// The JSON body of delivered call `id` as its caller read it, from the package's
    /// `jsonBody`: the body's text or bytes (`undefined`: unreadable). Its usage settles the
    /// call.
    #[wasm_bindgen(js_name = usageText)]
    pub fn usage_text(&self, id: f64, text: JsValue) {
        self.inner
            .usage_done(id as Id, BodyEnd::Usage(body::usage_of_text(&text)));
    }

    /// The same for a body the caller parsed (`json()`): its usage objects' numbers, as the
    /// package's walk of the document reads them (`usageNumbers` in
    /// pkg-template/body-watch.js; see [`crate::core::usage::Report::take_numbers`]; empty:
    /// unreadable).
    #[wasm_bindgen(js_name = usageNumbers)]
    pub fn usage_numbers(&self, id: f64, numbers: &[f64]) {
        let mut report = crate::core::usage::Report::default();
        report.take_numbers(numbers);
        self.inner
            .usage_done(id as Id, BodyEnd::Usage(report.finish()));
    }

    /// The next chunk of delivered stream `id`, from the package's `pump`. True while the
    /// stream is still read (false: the package cancels it).
    pub fn chunk(&self, id: f64, bytes: &[u8]) -> bool {
        self.inner.stream_chunk(id as Id, bytes)
    }

    /// Delivered stream `id` ended (`complete`), or its read failed, from the package's
    /// `pump`: its usage settles the call.
    #[wasm_bindgen(js_name = streamEnd)]
    pub fn stream_end(&self, id: f64, complete: bool) {
        self.inner.stream_end(id as Id, complete);
    }

    /// What attempt `attempt` of call `id` came to, from the package's `awaitAttempt`: `value`
    /// is the `fetch` promise's result if `ok`, else its error.
    pub fn answered(&self, id: f64, attempt: u32, value: JsValue, ok: bool) {
        self.inner.clone().answered(id as Id, attempt, value, ok);
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

/// A seed for the jitter PRNG from the platform's secure random source.
fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        // No `crypto.getRandomValues` (no current runtime lacks it): a fixed seed still
        // gives jitter, only the same sequence in every process.
        return 0x9E37_79B9_7F4A_7C15;
    }
    u64::from_le_bytes(b)
}
