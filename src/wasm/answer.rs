//! An attempt's answer, as the driver takes it: what `fetch` gave back (a response, or a
//! network error), the response's head read at once, its error body or a stream's first
//! event read when the decision needs it, and then the engine's verdict carried out. The
//! rest of the driver is in [`super::inner`].

use super::body::{self, UsageKind};
use super::inner::Inner;
use super::state::{Effect, Held, Rejection};
use super::{js, stream};
use crate::core::call::{Event, EventKind, Id};
use crate::core::classify::{needs_error_body, ErrorInfo};
use crate::core::headers;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::Response;

/// How long before the call's deadline the read of an error body or a stream's first event
/// ends, ms: far enough that its timer fires before the deadline's, on any runtime's timer
/// granularity.
const READ_BEFORE_DEADLINE_MS: f64 = 5.0;

impl Inner {
    /// Attempt `attempt` of call `id` ended: with `value` if `ok` (a response, unless a
    /// `fetch` option resolved with something that has no numeric `status`: no `Response` of
    /// any realm), else with `value` as its error.
    pub(super) fn answered(self: Rc<Self>, id: Id, attempt: u32, value: JsValue, ok: bool) {
        let has_status =
            |v: &JsValue| js::get_opt(v, "status").is_some_and(|s| s.as_f64().is_some());
        match ok {
            true if has_status(&value) => self.on_response(id, attempt, value.unchecked_into()),
            true => self.on_network_error(
                id,
                attempt,
                js_sys::TypeError::new("llm-pacer: fetch resolved with no Response").into(),
            ),
            false => self.on_network_error(id, attempt, value),
        }
    }

    /// Is this attempt still the current one of a live, undelivered call?
    pub(super) fn is_current(&self, id: Id, attempt: u32) -> bool {
        self.state
            .try_borrow()
            .is_ok_and(|st| st.is_current(id, attempt))
    }

    /// The attempt cannot even be made (its `Request` cannot be cloned): reject with the
    /// error, as `fetch` would, without a retry.
    pub(super) fn on_unsendable(&self, id: Id, attempt: u32, error: JsValue) {
        if !self.is_current(id, attempt) {
            return;
        }
        self.step(|st, now, fx| {
            st.engine.abort(now, id);
            st.settle_fail(id, Rejection::Value(error), JsValue::UNDEFINED, fx);
        });
    }

    pub(super) fn on_network_error(&self, id: Id, attempt: u32, error: JsValue) {
        if !self.is_current(id, attempt) {
            return;
        }
        self.step(|st, now, fx| {
            let Some(call) = st.calls.get_mut(&id) else {
                return;
            };
            call.network_error = error;
            // An earlier attempt's response is no longer the call's last word.
            if let Some(earlier) = call.held.take() {
                fx.push(earlier.cancel());
            }
            if !body::can_build_request(&call.input, &call.init)
                || body::refused_for_good(&call.network_error)
            {
                st.engine.invalid(id);
            }
            let u = st.draw();
            let verdict = st.engine.on_network_error(now, id, u);
            st.verdict(now, id, verdict, fx);
        });
    }

    /// An attempt's answer: its head read at once; when the decision needs the error body or
    /// the first event of a stream, that read is awaited first (a task of its own), else the
    /// answer goes to the engine now.
    pub(super) fn on_response(self: Rc<Self>, id: Id, attempt: u32, response: Response) {
        if !self.is_current(id, attempt) {
            self.run(vec![Effect::Cancel(response, None)]);
            return;
        }
        let status = response.status();
        // The header lines, read in place (`headers::lines`) wherever they are needed.
        let head = body::header_text(
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
            let should_retry = headers::should_retry(headers::lines(&head));
            self.state.try_borrow().is_ok_and(|st| {
                let retry_on = st.engine.config().retry.retry_on.as_deref();
                needs_error_body(status, should_retry, retry_on)
            })
        };
        // How a 2xx's usage will be read, decided once from the headers already here.
        let kind = if (200..300).contains(&status) {
            body::usage_kind(response.body().is_some(), &head)
        } else {
            None
        };
        let stream = kind == Some(UsageKind::Sse);
        let held = Held {
            response,
            attempt,
            kind,
            peek: None,
        };
        if read_error || stream {
            spawn_local(async move {
                let (status, error, held, broke) = self.read_first(id, held, status, stream).await;
                match broke {
                    // Broken before its first event: nothing for the caller but the error.
                    Some(e) => {
                        self.run(vec![held.cancel()]);
                        self.on_network_error(id, attempt, e);
                    }
                    None => self.answer(id, attempt, held, status, error, &head, cors),
                }
            });
        } else {
            self.answer(id, attempt, held, status, None, &head, cors);
        }
    }

    /// The error body, or a stream's first event (an error there stands for the status it
    /// names; the bytes read and the body's reader are kept in `held.peek`), read within the
    /// bound of each and never past the call's own deadline; and the error a stream broke
    /// with before its first event, if it did.
    async fn read_first(
        &self,
        id: Id,
        mut held: Held,
        status: u16,
        stream: bool,
    ) -> (u16, Option<ErrorInfo>, Held, Option<JsValue>) {
        // Ended before the call's own deadline (`timeoutMs`): the response in hand is then
        // answered, and returned, rather than the deadline's timer, due at the same moment,
        // deciding a TIMEOUT "before any response arrived" (the two timers raced).
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
            crate::core::clamp(end - READ_BEFORE_DEADLINE_MS - self.now(), 0.0, bound)
        });
        // No timer at all (no `setTimeout`, a failing clock): no bound.
        let (deadline, mut timer) = match self.deadline(ms) {
            Ok((p, t)) => (p, Some(t)),
            Err(_) => (js::promise().0, None),
        };
        // The call keeps the timer while the read is under way: an abort stops it, and with it
        // the read. (A call gone already leaves it here, to be stopped below.)
        if let Ok(mut st) = self.state.try_borrow_mut() {
            if let Some(call) = st.calls.get_mut(&id) {
                call.reading = timer.take();
            }
        }
        let mut broke = None;
        let (status, error) = if stream {
            // An error as the stream's first event stands for the status it names.
            let look = stream::first_event(&held.response, &deadline).await;
            held.peek = look.peek;
            broke = look.broke;
            look.error.unwrap_or((status, None))
        } else {
            (status, body::error_info(&held.response, &deadline).await)
        };
        let timer = timer.or_else(|| {
            let mut st = self.state.try_borrow_mut().ok()?;
            st.calls.get_mut(&id)?.reading.take()
        });
        if let Some(t) = timer {
            t.cancel();
        }
        (status, error, held, broke)
    }

    /// The answer to the engine: the head, the error body's hints if read, and the
    /// response kept for delivery (or cancelled if the attempt is stale by now).
    #[allow(clippy::too_many_arguments)]
    #[inline(never)] // called from two places: one body
    fn answer(
        &self,
        id: Id,
        attempt: u32,
        held: Held,
        status: u16,
        error: Option<ErrorInfo>,
        head: &str,
        cors: bool,
    ) {
        self.step(|st, now, fx| {
            if !st.is_current(id, attempt) {
                fx.push(held.cancel());
                return;
            }
            let info = headers::parse(headers::lines(head), now);
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
            if held.kind == Some(UsageKind::Sse) {
                // A stream's head: its figures may be as old as the request's admission.
                st.engine.streaming(id);
            }
            if let Some(call) = st.calls.get_mut(&id) {
                if let Some(earlier) = call.held.replace(held) {
                    fx.push(earlier.cancel());
                }
            }
            let u = st.draw();
            let verdict = st
                .engine
                .on_response(now, id, status, &info, error.as_ref(), u);
            st.verdict(now, id, verdict, fx);
        });
    }
}
