//! The driver's state and its sans-IO half: the live calls, the timer, and the engine's
//! actions turned into effects (`Effect`), which `Inner::run` carries out once the state is
//! released.

use super::body::UsageKind;
use super::stream::{Peek, SseUsage};
use super::{js, random_seed, store};
use crate::core::call::{Action, CallError, Engine, Event, Id, Verdict};
use crate::core::index::IdMap;
use crate::core::keys::LimitKey;
use js_sys::Function;
use wasm_bindgen::prelude::*;
use web_sys::{AbortController, AbortSignal, Response};

/// A running timer (see [`Inner::deadline`](super::inner::Inner::deadline)): a `setTimeout` with the function that settles
/// its promise, or a `clock.sleep` with its controller.
pub(super) enum Deadline {
    Timeout(JsValue, Function),
    Sleep(AbortController),
}

impl Deadline {
    /// Stop it. Its promise settles all the same (a `setTimeout`'s resolves, a sleep rejects
    /// with the abort), so nothing waits on it forever: whoever awaits it checks whether the
    /// timer is still the one it armed.
    pub(super) fn cancel(self) {
        match self {
            Deadline::Timeout(handle, resolve) => {
                if let Some(clear) = js::global_fn("clearTimeout") {
                    let _ = clear.call1(&JsValue::UNDEFINED, &handle);
                }
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
            // In workerd a controller is its request's, and another request's `abort()` of it
            // throws (the pacer's one timer with a `clock`, cancelled by whichever request
            // steps the pacer): caught rather than cut the step short; the sleep, not
            // aborted, then ends in its time, stale.
            #[cfg(feature = "durable-object")]
            Deadline::Sleep(controller) => {
                if let Some(abort) = js::method(&controller, "abort") {
                    let _ = abort.call0(&controller);
                }
            }
            #[cfg(not(feature = "durable-object"))]
            Deadline::Sleep(controller) => controller.abort(),
        }
    }
}

/// Why a call is rejected.
pub(super) enum Rejection {
    /// An engine error: made into a `PacerError` by the factory.
    Call(CallError),
    /// A JavaScript value as it is (a network error, an abort reason).
    Value(JsValue),
    /// An abort without a reason: an `AbortError`.
    Abort,
    /// An engine error with the error that led to it as its `cause` (a `TIMEOUT` after a
    /// network error).
    Caused(CallError, JsValue),
}

/// Something to do after the state is released.
pub(super) enum Effect {
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
    /// Hand an attempt to the call's own dispatcher (see [`Call::dispatch`]), which sends it
    /// from the caller's context (`RawPacer.dispatched`).
    #[cfg(feature = "durable-object")]
    Dispatch {
        dispatch: Function,
        id: Id,
        attempt: u32,
    },
    /// Resolve the caller's promise; then read the usage, if asked: a JSON body's as the
    /// caller reads it (the package's `jsonBody`, else from a clone), a stream's as it comes
    /// (resumed from its peek).
    Resolve {
        resolve: Function,
        response: Response,
        usage: Option<(Id, UsageKind)>,
        /// A stream's body as its peek left it, where it is resumed from.
        peek: Option<Peek>,
        /// A 2xx body the pacer does not read (no usage in it), with the caller's signal and
        /// the attempt's controller: the package's `follow` links the two for as long as the
        /// response lives, as `fetch` does, the call being done.
        follow: Option<(AbortSignal, AbortController)>,
    },
    /// Reject the caller's promise.
    Reject { reject: Function, error: Rejection },
    /// Abort an attempt (with a reason, unless `undefined`): through the call's own
    /// dispatcher when it has one (workerd, where a controller belongs to the request that
    /// made it, and another request's `abort()` of it throws), as `dispatch(controller,
    /// reason)`.
    Abort {
        controller: AbortController,
        reason: JsValue,
        #[cfg(feature = "durable-object")]
        dispatch: Option<Function>,
    },
    /// Drop a response nobody will read: cancel its body (through its peek's reader, if any).
    Cancel(Response, Option<Peek>),
    /// End a bound early: the read it bounds stops now.
    Stop(Deadline),
    /// Carry out `effect` from call `id`'s own context, through its dispatcher (workerd, where
    /// a timer, a body or a controller belongs to the request that made it: another
    /// request's code that touched it would resolve that request's promise, or throw):
    /// handed over as `dispatch(id, OWN_EFFECTS)`, which runs it there
    /// (`Inner::dispatched`).
    #[cfg(feature = "durable-object")]
    Own {
        dispatch: Function,
        id: Id,
        effect: Box<Effect>,
    },
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
pub(super) struct Call {
    pub(super) resolve: Function,
    pub(super) reject: Function,
    /// The caller's `input` and `init`, kept as given to send them again.
    pub(super) input: JsValue,
    pub(super) init: JsValue,
    pub(super) signal: Option<AbortSignal>,
    pub(super) listener: Option<Closure<dyn FnMut()>>,
    /// The current attempt's controller.
    pub(super) controller: Option<AbortController>,
    /// The current attempt's number (0 before the first).
    pub(super) attempt: u32,
    /// The last response, held until it is delivered or replaced by the next attempt's answer.
    pub(super) held: Option<Held>,
    /// The last network error.
    pub(super) network_error: JsValue,
    /// The promise is resolved; the call stays until its body's usage is known.
    pub(super) delivered: bool,
    /// A delivered stream's usage as its chunks come.
    pub(super) stream: Option<SseUsage>,
    /// The bound of the read under way of the current attempt's error body or stream's
    /// first event (`answer.rs`): stopped when the call ends first (an abort), so that the
    /// read, and the body it reads, end at once, not at the bound.
    pub(super) reading: Option<Deadline>,
    /// The call's own dispatcher, given by the package where each request has a context of
    /// its own (workerd): `dispatch(id, attempt)` sends the attempt from the caller's context
    /// (through `RawPacer.dispatched`, which makes the attempt's controller there), and
    /// `dispatch(controller, reason)` aborts it there, whatever request's code stepped the
    /// pacer. Only in workerd's module (feature `durable-object`).
    #[cfg(feature = "durable-object")]
    pub(super) dispatch: Option<Function>,
}

/// The attempt number that `dispatch(id, attempt)` hands over for the effects deferred to
/// call `id`'s own context ([`Effect::Own`]): no attempt has it (the first is 1).
#[cfg(feature = "durable-object")]
pub(super) const OWN_EFFECTS: u32 = 0;

impl Call {
    /// End the current attempt of call `id`: abort it on the wire (with `reason`), and stop
    /// the read of its error body or first event, if one is under way.
    #[cfg_attr(not(feature = "durable-object"), allow(unused_variables))]
    fn end_attempt(&mut self, id: Id, reason: JsValue, fx: &mut Vec<Effect>) {
        if let Some(controller) = self.controller.take() {
            fx.push(Effect::Abort {
                controller,
                reason,
                #[cfg(feature = "durable-object")]
                dispatch: self.dispatch.clone(),
            });
        }
        if let Some(d) = self.reading.take() {
            #[cfg(not(feature = "durable-object"))]
            fx.push(Effect::Stop(d));
            // Its timer is its request's (workerd).
            #[cfg(feature = "durable-object")]
            fx.push(self.own(id, Effect::Stop(d)));
        }
    }

    /// `effect`, to be carried out from the call's own context when it has one (workerd:
    /// its timers and bodies are its request's), else as it is.
    #[cfg(feature = "durable-object")]
    fn own(&self, id: Id, effect: Effect) -> Effect {
        if let Some(dispatch) = &self.dispatch {
            return Effect::Own {
                dispatch: dispatch.clone(),
                id,
                effect: Box::new(effect),
            };
        }
        effect
    }
}

/// An attempt's response, held until it is delivered or replaced by the next attempt's
/// answer (`Action::Send`).
pub(super) struct Held {
    pub(super) response: Response,
    /// Of which attempt: an earlier one than the call's current while the next is on the wire.
    pub(super) attempt: u32,
    /// How its usage is read (a 2xx's).
    pub(super) kind: Option<UsageKind>,
    /// A stream's body as its first event's peek left it (read from it, and locked).
    pub(super) peek: Option<Peek>,
}

impl Held {
    /// Drop it unread.
    pub(super) fn cancel(self) -> Effect {
        Effect::Cancel(self.response, self.peek)
    }
}

/// The live calls, by id: the core's map (an index to a slab; a sorted vector removed from
/// its front at every settlement cost O(n) a call, some 10 us a call with 32,000 in flight).
pub(super) type Calls = IdMap<Call>;

/// The pacer's single timer.
#[derive(Default)]
pub(super) enum Timer {
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
    pub(super) fn at(&self) -> Option<f64> {
        match self {
            Timer::Off => None,
            Timer::Arming { at, .. } | Timer::Armed { at, .. } => Some(*at),
        }
    }
}

pub(super) struct State {
    pub(super) engine: Engine,
    /// The jitter PRNG: seeded at construction from the `seed` option, else at the first draw
    /// from the platform's secure random source (workerd forbids `crypto.getRandomValues` at
    /// global scope, where Workers often create their pacer; drawing it there would give
    /// every isolate the same fallback seed and so the same jitter, in lockstep).
    pub(super) rng: Option<fastrand::Rng>,
    pub(super) calls: Calls,
    pub(super) timer: Timer,
    pub(super) timer_gen: u64,
    /// The `headers_hidden` event was emitted (once per pacer).
    pub(super) told_hidden: bool,
    /// The `stream_usage_missing` warning was emitted (once per pacer).
    pub(super) told_stream: bool,
    /// The limit keys events named last, each with its opaque id and model class as the
    /// strings events show ([`Inner::emit`](super::inner::Inner::emit)), most recent first.
    pub(super) shown: Vec<(LimitKey, JsValue, JsValue)>,
    /// The salt of the keys shown ([`crate::core::fingerprint::opaque`]): random, this
    /// pacer's own.
    pub(super) shown_salt: u64,
    /// The live calls without a dispatcher of their own (workerd's module, whose calls all
    /// have one from the package): only for them is the pacer's one timer armed; the others
    /// are stepped by their own timers (own-context.js), each in its own request.
    #[cfg(feature = "durable-object")]
    pub(super) shared: usize,
    /// A `clock` is given: its `sleep` is the pacer's one timer, whatever the calls (a
    /// virtual clock moves only through it; the calls' own timers run on `setTimeout`).
    #[cfg(feature = "durable-object")]
    pub(super) clocked: bool,
}

impl State {
    /// Does the pacer's one timer step it? Not where every live call has a dispatcher, and so
    /// a timer of its own in its own request (workerd: own-context.js), unless a `clock` is
    /// given: a timer one request armed, cancelled (its promise resolved) by another after
    /// the first ended, made workerd warn of a promise resolved from a different request
    /// context.
    #[inline]
    pub(super) fn timed(&self) -> bool {
        #[cfg(feature = "durable-object")]
        return self.shared > 0 || self.clocked;
        #[cfg(not(feature = "durable-object"))]
        true
    }

    /// Is `attempt` still the current one of live, undelivered call `id`?
    pub(super) fn is_current(&self, id: Id, attempt: u32) -> bool {
        self.calls
            .get(&id)
            .is_some_and(|c| c.attempt == attempt && !c.delivered)
    }

    /// A uniform draw in `[0, 1)` for the engine's jitter.
    pub(super) fn draw(&mut self) -> f64 {
        self.rng
            .get_or_insert_with(|| fastrand::Rng::with_seed(random_seed()))
            .f64()
    }
}

impl State {
    /// The store work the engine queued, as one effect (none without a store).
    pub(super) fn store_ops(&mut self, fx: &mut Vec<Effect>) {
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
    pub(super) fn apply(&mut self, now: f64, actions: Vec<Action>, fx: &mut Vec<Effect>) {
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
                    booked_output,
                    turn,
                    timeout_ms,
                } => fx.push(Effect::Reserve(store::ReserveReq {
                    id,
                    slot,
                    key: store::key(&self.engine, slot),
                    limits: self.engine.store_limits(slot),
                    input,
                    output,
                    booked_output,
                    turn,
                    timeout_ms,
                })),
                Action::ProbeStore { slot } => {
                    fx.push(Effect::Probe(store::key(&self.engine, slot)))
                }
            }
        }
    }

    pub(super) fn send(&mut self, now: f64, id: Id, attempt: u32, fx: &mut Vec<Effect>) {
        let Some(call) = self.calls.get_mut(&id) else {
            // Not ours (cannot happen): let the engine forget it.
            self.engine.abort(now, id);
            return;
        };
        // An earlier response stays held until this attempt's answer (a deadline during the
        // attempt delivers it).
        call.attempt = attempt;
        #[cfg(feature = "durable-object")]
        if let Some(dispatch) = &call.dispatch {
            // Its controller, if it needs one, is made as it is sent, in the caller's context
            // (`Inner::dispatched`): the previous attempt's is dropped.
            call.controller = None;
            fx.push(Effect::Dispatch {
                dispatch: dispatch.clone(),
                id,
                attempt,
            });
            return;
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
        fx.push(Effect::Send {
            id,
            attempt,
            input: call.input.clone(),
            init: call.init.clone(),
            controller,
        });
    }

    /// What the engine decided about an attempt's outcome.
    pub(super) fn verdict(&mut self, now: f64, id: Id, verdict: Verdict, fx: &mut Vec<Effect>) {
        match verdict {
            Verdict::Deliver | Verdict::Unknown => self.deliver(now, id, fx),
            // Held: a later poll sends the next attempt (a call whose body is a stream was
            // marked not replayable at submission, so it never gets here). A call with a
            // context of its own (workerd) is told, so that its timer, armed for the pacer's
            // wake before this answer, follows the retry's (own-context.js re-arms it after
            // each hand-over; a 200 ms hint waited a whole second).
            Verdict::Retry { .. } => {
                #[cfg(feature = "durable-object")]
                if let Some(dispatch) = self.calls.get(&id).and_then(|c| c.dispatch.clone()) {
                    fx.push(Effect::Dispatch {
                        dispatch,
                        id,
                        attempt: OWN_EFFECTS,
                    });
                }
            }
            Verdict::Fail(error) => {
                self.settle_fail(id, Rejection::Call(error), JsValue::UNDEFINED, fx)
            }
        }
    }

    /// Resolve with the held response (reading its usage later if it is a 2xx), or reject
    /// with the last network error when there is none.
    pub(super) fn deliver(&mut self, now: f64, id: Id, fx: &mut Vec<Effect>) {
        let Some(call) = self.calls.get_mut(&id) else {
            self.engine.on_done(now, id, None);
            return;
        };
        let Some(Held {
            response,
            attempt,
            kind,
            peek,
        }) = call.held.take()
        else {
            self.engine.abort(now, id);
            self.settle_fail(
                id,
                Rejection::Call(CallError::Network),
                JsValue::UNDEFINED,
                fx,
            );
            return;
        };
        if attempt < call.attempt {
            // A deadline during a later attempt delivers this one's: the later one ends.
            call.end_attempt(id, JsValue::UNDEFINED, fx);
        }
        call.delivered = true;
        if kind == Some(UsageKind::Sse) {
            self.engine.on_stream(id);
        }
        // A 2xx body with no usage to read (text, audio) keeps following the caller's signal
        // (an error's is read by the pacer where its decision needs it, and short).
        let follow = match (kind, &call.signal, &call.controller) {
            (None, Some(s), Some(c)) if (200..300).contains(&response.status()) => {
                Some((s.clone(), c.clone()))
            }
            _ => None,
        };
        fx.push(Effect::Resolve {
            resolve: call.resolve.clone(),
            response,
            usage: kind.map(|k| (id, k)),
            peek,
            follow,
        });
        if kind.is_none() {
            // Nothing to read: done now (a no-op for the engine unless it awaits usage).
            self.engine.on_done(now, id, None);
            self.finish(id, fx);
        }
    }

    /// Reject the call (aborting its attempt with `reason`) and forget it.
    pub(super) fn settle_fail(
        &mut self,
        id: Id,
        error: Rejection,
        reason: JsValue,
        fx: &mut Vec<Effect>,
    ) {
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        #[cfg(feature = "durable-object")]
        self.forget(&call);
        call.end_attempt(id, reason, fx);
        if let Some(h) = call.held.take() {
            #[cfg(not(feature = "durable-object"))]
            fx.push(h.cancel());
            // Its body is its request's (workerd).
            #[cfg(feature = "durable-object")]
            fx.push(call.own(id, h.cancel()));
        }
        let error = match error {
            Rejection::Call(CallError::Network) if !call.network_error.is_null_or_undefined() => {
                Rejection::Value(call.network_error.clone())
            }
            Rejection::Call(CallError::Timeout) if !call.network_error.is_null_or_undefined() => {
                Rejection::Caused(CallError::Timeout, call.network_error.clone())
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
    pub(super) fn finish(&mut self, id: Id, fx: &mut Vec<Effect>) {
        if let Some(call) = self.calls.remove(&id) {
            #[cfg(feature = "durable-object")]
            self.forget(&call);
            unlisten(call, fx);
        }
    }

    /// A call leaves the map: counted off [`State::shared`] if it has no dispatcher.
    #[cfg(feature = "durable-object")]
    fn forget(&mut self, call: &Call) {
        if call.dispatch.is_none() {
            self.shared = self.shared.saturating_sub(1);
        }
    }
}

pub(super) fn unlisten(call: Call, fx: &mut Vec<Effect>) {
    if let (Some(signal), Some(listener)) = (call.signal, call.listener) {
        fx.push(Effect::Unlisten { signal, listener });
    }
}
