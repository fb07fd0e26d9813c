//! The llm-pacer strategy: one [`Engine`] per client, driven exactly as the Wasm driver
//! drives it.
//!
//! * a request arrives: [`Engine::submit`] with its exact metered input and `max_tokens`;
//! * after every event: [`Engine::poll`], carrying out its [`Action`]s (`Send` goes to the
//!   server, `Deliver` hands the held response to the caller, `Fail` rejects), then one timer
//!   at [`Engine::next_wake`] (a superseded timer is ignored when it fires);
//! * a response arrives: its headers go through [`headers::parse`] as received,
//!   [`Engine::on_response`] with the error type of the body and a uniform draw from the
//!   client's stream, and after a delivered 2xx, [`Engine::on_done`] with the body's usage.
//!
//! With a store (`--store-ms`), each engine has [`Engine::set_store`]: its
//! [`Action::Reserve`] goes to the run's [`SimStore`], whose answer comes back a round trip
//! later through a timer of the client's ([`Engine::on_reserved`]), and the store work it
//! queues is carried out after each event.
//!
//! In a scenario that mixes model classes ([`super::Mix`]), each request carries its limit
//! key (organisation and class), as the Wasm driver derives it; or, to compare, the client
//! keeps one limiter for everything ([`PacerKeys::Single`]) or one engine per (organisation,
//! class) ([`PacerKeys::PerModel`]).

use super::mix::PacerKeys;
use super::scenario::Scenario;
use super::server::{Body, Response};
use super::store::SimStore;
use super::strategy::{Client, Cx};
use crate::core::call::{Action, Engine, Id, Request, StoreAnswer, Verdict};
use crate::core::classify::ErrorInfo;
use crate::core::estimate::Prefix;
use crate::core::headers;
use crate::core::keys::LimitKey;
use crate::core::limiter::Usage;
use crate::core::Ms;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// A call: (engine, engine id).
type Call = (usize, Id);

/// The bit that marks a timer's tag as a store's answer coming back (the others count the
/// client's own wake-ups).
const STORE_TAG: u64 = 1 << 63;

/// A client running llm-pacer.
pub(crate) struct PacerClient {
    engines: Vec<Engine>,
    /// How a request finds its engine and key.
    keys: PacerKeys,
    mix: Option<super::mix::Mix>,
    /// Call -> request index.
    requests: HashMap<Call, usize>,
    /// Request index -> call.
    ids: HashMap<usize, Call>,
    /// The last response received per call (what `Deliver` hands over).
    held: HashMap<Call, Response>,
    /// Calls whose stream's head was delivered: their end settles them.
    streaming: HashSet<Call>,
    timer_at: Option<Ms>,
    generation: u64,
    /// [`Scenario::input_estimate`].
    input_estimate: Option<f64>,
    /// [`Scenario::cache_prefixes`].
    cache_prefixes: bool,
    /// The fleet's store and its round trip, ms ([`Scenario::store_ms`]).
    store: Option<(Rc<RefCell<SimStore>>, Ms)>,
    /// The store's answers on their way back, by their timer's tag.
    answers: HashMap<u64, (Call, StoreAnswer)>,
    /// Store answers sent so far (their tags).
    sent_answers: u64,
}

impl PacerClient {
    /// A client of `scenario` (valid), starting at `now_ms`; with `store` (the run's, when
    /// [`Scenario::store_ms`] says), its limits shared through it.
    pub fn new(scenario: &Scenario, now_ms: Ms, store: Option<Rc<RefCell<SimStore>>>) -> Self {
        let config = scenario.pacer_config();
        let (keys, n) = match &scenario.mix {
            Some(m) if m.pacer == PacerKeys::PerModel => (m.pacer, m.lanes()),
            Some(m) => (m.pacer, 1),
            None => (PacerKeys::Single, 1),
        };
        PacerClient {
            engines: (0..n)
                .map(|_| {
                    let mut e = Engine::new(config.clone(), now_ms);
                    e.set_store(store.is_some());
                    e
                })
                .collect(),
            keys,
            mix: scenario.mix.clone(),
            requests: HashMap::new(),
            ids: HashMap::new(),
            held: HashMap::new(),
            streaming: HashSet::new(),
            timer_at: None,
            generation: 0,
            input_estimate: scenario.input_estimate,
            cache_prefixes: scenario.cache_prefixes,
            store: store.zip(scenario.store_ms),
            answers: HashMap::new(),
            sent_answers: 0,
        }
    }

    /// Request `req`'s engine and limit key.
    fn route(&self, req: usize) -> (usize, LimitKey) {
        match (&self.mix, self.keys) {
            (Some(m), PacerKeys::Keyed) => (0, m.key(req)),
            (Some(m), PacerKeys::PerModel) => {
                // Its own engine, which knows its class's limits by the class name.
                let k = m.key(req);
                (m.lane(req), LimitKey::new(0, &k.class))
            }
            _ => (0, LimitKey::default()),
        }
    }

    fn forget(&mut self, call: Call) -> Option<usize> {
        self.held.remove(&call);
        let req = self.requests.remove(&call)?;
        self.ids.remove(&req);
        Some(req)
    }

    /// Hand the held response of `call` to the caller.
    fn deliver(&mut self, cx: &mut Cx<'_>, call: Call) {
        let resp = self.held.remove(&call);
        let Some(req) = self.forget(call) else { return };
        match resp {
            Some(Response {
                status: 200..=299,
                body:
                    Body::Message {
                        input_tokens,
                        output_tokens,
                        cache_creation_input_tokens,
                        cache_read_input_tokens,
                    },
                ..
            }) => {
                cx.done(req);
                let usage = Usage {
                    input_tokens: f64::from(input_tokens),
                    output_tokens: f64::from(output_tokens),
                    cache_creation_input_tokens: f64::from(cache_creation_input_tokens),
                    cache_read_input_tokens: f64::from(cache_read_input_tokens),
                };
                self.engines[call.0].on_done(cx.now, call.1, Some(usage));
            }
            // A final error response, or nothing held: the request never succeeded.
            _ => cx.fail(req),
        }
    }

    /// Carry out engine `e`'s action `a`.
    fn act(&mut self, cx: &mut Cx<'_>, e: usize, a: Action) {
        match a {
            Action::Send { id, .. } => {
                self.held.remove(&(e, id));
                if let Some(&req) = self.requests.get(&(e, id)) {
                    cx.send(req);
                }
            }
            Action::Deliver { id } => self.deliver(cx, (e, id)),
            Action::Reserve { .. } => {
                let Some((store, round_trip)) = &self.store else {
                    return;
                };
                let Some((id, answer)) = store.borrow_mut().reserve(&self.engines[e], cx.now, &a)
                else {
                    return;
                };
                self.sent_answers += 1;
                let tag = STORE_TAG | self.sent_answers;
                self.answers.insert(tag, ((e, id), answer));
                cx.timer(cx.now + round_trip, tag);
            }
            // The store never fails here: it is never asked to probe.
            Action::ProbeStore { .. } => {}
            Action::Fail { id, .. } => {
                if let Some(req) = self.forget((e, id)) {
                    cx.fail(req);
                }
            }
        }
    }

    /// Poll every engine until none has anything more to do now (its store work carried
    /// out), then set the timer.
    fn pump(&mut self, cx: &mut Cx<'_>) {
        for e in 0..self.engines.len() {
            loop {
                let actions = self.engines[e].poll(cx.now);
                if let Some((store, _)) = &self.store {
                    store.borrow_mut().carry(&mut self.engines[e], cx.now);
                }
                if actions.is_empty() {
                    break;
                }
                for a in actions {
                    self.act(cx, e, a);
                }
            }
        }
        // A key held until the store answers wakes at `f64::MAX`: the answer wakes it.
        let wake = self
            .engines
            .iter()
            .filter_map(Engine::next_wake)
            .filter(|t| *t < f64::MAX)
            .reduce(f64::min);
        match wake {
            Some(t) if self.timer_at != Some(t) => {
                self.generation += 1;
                self.timer_at = Some(t);
                cx.timer(t, self.generation);
            }
            Some(_) => {}
            None => {
                // Nothing waits on time: let any pending timer go stale.
                if self.timer_at.take().is_some() {
                    self.generation += 1;
                }
            }
        }
    }
}

impl Client for PacerClient {
    fn arrive(&mut self, cx: &mut Cx<'_>, req: usize) {
        let spec = cx.reqs[req];
        let (e, key) = self.route(req);
        // Counted, as a caller with a tokenizer does; or estimated, vouching for nothing. A
        // shared prefix may be read from the server's cache: only the rest is sure.
        let own = f64::from(spec.input_tokens);
        let prefix = f64::from(spec.prefix_tokens);
        let (input_tokens, input_floor, prefix) = match self.input_estimate {
            None => (own + prefix, own, prefix),
            Some(r) => (((own + prefix) * r).ceil(), 0.0, (prefix * r).ceil()),
        };
        // As the estimate finds it in a body whose system prompt has a `cache_control`: its
        // hash includes the model, as the estimate's does (each model has a cache of its own).
        let prefixes = match spec.prefix_tokens > 0 && self.cache_prefixes {
            true => vec![Prefix {
                hash: crate::core::estimate::prefix::of_bytes(key.class.as_bytes()),
                tokens: prefix,
                ttl_ms: Some(crate::core::estimate::prefix::TTL_MS),
            }],
            false => Vec::new(),
        };
        let request = Request {
            input_tokens,
            input_floor,
            fixed_priced: false,
            choices: 1.0,
            max_tokens: Some(f64::from(spec.max_tokens)),
            priority: 0,
            key,
            prefixes,
        };
        match self.engines[e].submit(cx.now, request) {
            Ok(id) => {
                self.requests.insert((e, id), req);
                self.ids.insert(req, (e, id));
            }
            Err(_) => cx.fail(req),
        }
        self.pump(cx);
    }

    fn head(&mut self, cx: &mut Cx<'_>, req: usize, headers: &[(String, String)]) {
        let Some(&call) = self.ids.get(&req) else {
            return;
        };
        let info = parse(headers, cx.now);
        let u = cx.rng.f64();
        let engine = &mut self.engines[call.0];
        engine.streaming(call.1);
        match engine.on_response(cx.now, call.1, 200, &info, None, u) {
            Verdict::Deliver => {
                engine.on_stream(call.1);
                self.streaming.insert(call);
            }
            _ => {
                if let Some(req) = self.forget(call) {
                    cx.fail(req);
                }
            }
        }
        self.pump(cx);
    }

    fn respond(&mut self, cx: &mut Cx<'_>, req: usize, resp: &Response) {
        let Some(&call) = self.ids.get(&req) else {
            return; // the call is gone (failed meanwhile): drop the response
        };
        if self.streaming.remove(&call) {
            // A stream's end: its usage settles it.
            self.held.insert(call, resp.clone());
            self.deliver(cx, call);
            self.pump(cx);
            return;
        }
        let info = parse(&resp.headers, cx.now);
        let error = match resp.body {
            Body::Error { error_type } => Some(ErrorInfo {
                error_type: Some(error_type.to_string()),
                code: None,
                ..ErrorInfo::default()
            }),
            Body::Message { .. } => None,
        };
        let u = cx.rng.f64();
        self.held.insert(call, resp.clone());
        match self.engines[call.0].on_response(
            cx.now,
            call.1,
            resp.status,
            &info,
            error.as_ref(),
            u,
        ) {
            Verdict::Deliver => self.deliver(cx, call),
            Verdict::Retry { .. } => {} // held; a later poll sends the next attempt
            Verdict::Fail(_) | Verdict::Unknown => {
                // Rejected, or no longer known: the call is over, without success.
                if let Some(req) = self.forget(call) {
                    cx.fail(req);
                }
            }
        }
        self.pump(cx);
    }

    fn timer(&mut self, cx: &mut Cx<'_>, tag: u64) {
        if let Some(((e, id), answer)) = self.answers.remove(&tag) {
            // A store's answer: what the engine does with it, then anything else due.
            for a in self.engines[e].on_reserved(cx.now, id, answer) {
                self.act(cx, e, a);
            }
            self.pump(cx);
            return;
        }
        if tag != self.generation {
            return; // superseded
        }
        self.timer_at = None;
        self.pump(cx);
    }
}

/// A response's headers as the driver reads them ([`headers::parse`]).
fn parse(h: &[(String, String)], now: Ms) -> headers::RateLimitInfo {
    headers::parse(h.iter().map(|(k, v)| (k.as_str(), v.as_str())), now)
}
