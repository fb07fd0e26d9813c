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

use super::server::{Body, Response};
use super::strategy::{Client, Cx};
use crate::core::call::{Action, Engine, Id, Request, Verdict};
use crate::core::classify::ErrorInfo;
use crate::core::config::Config;
use crate::core::headers;
use crate::core::limiter::Usage;
use crate::core::Ms;
use std::collections::HashMap;

/// A client running llm-pacer.
pub(crate) struct PacerClient {
    engine: Engine,
    /// Engine id -> request index.
    requests: HashMap<Id, usize>,
    /// Request index -> engine id.
    ids: HashMap<usize, Id>,
    /// The last response received per call (what `Deliver` hands over).
    held: HashMap<Id, Response>,
    timer_at: Option<Ms>,
    generation: u64,
}

impl PacerClient {
    /// A client with this (valid) configuration, starting at `now_ms`.
    pub fn new(config: Config, now_ms: Ms) -> Self {
        PacerClient {
            engine: Engine::new(config, now_ms),
            requests: HashMap::new(),
            ids: HashMap::new(),
            held: HashMap::new(),
            timer_at: None,
            generation: 0,
        }
    }

    fn forget(&mut self, id: Id) -> Option<usize> {
        self.held.remove(&id);
        let req = self.requests.remove(&id)?;
        self.ids.remove(&req);
        Some(req)
    }

    /// Hand the held response of `id` to the caller.
    fn deliver(&mut self, cx: &mut Cx<'_>, id: Id) {
        let resp = self.held.remove(&id);
        let Some(req) = self.forget(id) else { return };
        match resp {
            Some(Response {
                status: 200..=299,
                body:
                    Body::Message {
                        input_tokens,
                        output_tokens,
                    },
                ..
            }) => {
                cx.done(req);
                let usage = Usage {
                    input_tokens: f64::from(input_tokens),
                    output_tokens: f64::from(output_tokens),
                    ..Usage::default()
                };
                self.engine.on_done(cx.now, id, Some(usage));
            }
            // A final error response, or nothing held: the request never succeeded.
            _ => cx.fail(req),
        }
    }

    /// Poll until the engine has nothing more to do now, then set the timer.
    fn pump(&mut self, cx: &mut Cx<'_>) {
        loop {
            let actions = self.engine.poll(cx.now);
            if actions.is_empty() {
                break;
            }
            for a in actions {
                match a {
                    Action::Send { id, .. } => {
                        self.held.remove(&id);
                        if let Some(&req) = self.requests.get(&id) {
                            cx.send(req);
                        }
                    }
                    Action::Deliver { id } => self.deliver(cx, id),
                    Action::Fail { id, .. } => {
                        if let Some(req) = self.forget(id) {
                            cx.fail(req);
                        }
                    }
                }
            }
        }
        match self.engine.next_wake() {
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
        let request = Request {
            input_tokens: f64::from(spec.input_tokens),
            max_tokens: Some(f64::from(spec.max_tokens)),
            priority: 0,
            ..Request::default()
        };
        match self.engine.submit(cx.now, request) {
            Ok(id) => {
                self.requests.insert(id, req);
                self.ids.insert(req, id);
            }
            Err(_) => cx.fail(req),
        }
        self.pump(cx);
    }

    fn respond(&mut self, cx: &mut Cx<'_>, req: usize, resp: &Response) {
        let Some(&id) = self.ids.get(&req) else {
            return; // the call is gone (failed meanwhile): drop the response
        };
        let info = headers::parse(
            resp.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            cx.now,
        );
        let error = match resp.body {
            Body::Error { error_type } => Some(ErrorInfo {
                error_type: Some(error_type.to_string()),
                code: None,
            }),
            Body::Message { .. } => None,
        };
        let u = cx.rng.f64();
        self.held.insert(id, resp.clone());
        match self
            .engine
            .on_response(cx.now, id, resp.status, &info, error.as_ref(), u)
        {
            Verdict::Deliver => self.deliver(cx, id),
            Verdict::Retry { .. } => {} // held; a later poll sends the next attempt
            Verdict::Fail(_) => {
                if let Some(req) = self.forget(id) {
                    cx.fail(req);
                }
            }
            Verdict::Unknown => {
                // The engine no longer knows the call: it is over, without success.
                if let Some(req) = self.forget(id) {
                    cx.fail(req);
                }
            }
        }
        self.pump(cx);
    }

    fn timer(&mut self, cx: &mut Cx<'_>, tag: u64) {
        if tag != self.generation {
            return; // superseded
        }
        self.timer_at = None;
        self.pump(cx);
    }
}
