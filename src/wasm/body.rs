//! What the driver reads from requests and responses: the caller's signal, the body for the
//! estimate, the headers, the error body of a failed attempt, and the usage of a delivered one.
//!
//! Nothing here consumes anything the caller will read: request bodies are only looked at
//! when they are strings or byte buffers, and response bodies are read from clones, or (a
//! delivered JSON body) seen as the caller reads it, through the package's `jsonBody`.

use super::js;
use crate::core::classify::ErrorInfo;
use crate::core::estimate;
use crate::core::hints;
use crate::core::limiter::Usage;
use crate::core::usage::{self, Report};
use js_sys::{Array, ArrayBuffer, JsString, Uint8Array, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Response};

/// Bodies larger than this (bytes, or UTF-16 code units for a string) are not read for the
/// estimate (it then prices their length, see [`estimate::unread`], and no output): 32 MiB,
/// the Anthropic Messages API's own request size limit, which refuses them anyway. Below it
/// the work is bounded too: the body is read in [`CHUNK`]-sized pieces, never whole, and the
/// counts stop at [`estimate::MAX_NODES`] values.
pub const MAX_ESTIMATE_BYTES: u32 = 32 << 20;

/// A body's text goes into the Wasm memory (which grows and never shrinks) this many bytes at
/// a time: a string's as UTF-8, encoded by the host's `TextEncoder` straight into the buffer
/// ([`js::encode_into`]), whole code points.
pub const CHUNK: u32 = 1 << 14;

/// Is `input` a `Request` (or something shaped like one: a `url` string and a `clone`
/// method)? Duck-typed, so a polyfilled or cross-realm `Request` counts too.
pub fn is_request(input: &JsValue) -> bool {
    input.is_object() && js::string(input, "url").is_some() && js::method(input, "clone").is_some()
}

/// Whether the platform's `Request` can be built from `input` and `init` for HTTP: `false`
/// when that throws (a malformed URL...), as `fetch` itself rejects such a request with a
/// `TypeError` before sending anything; when it is a `GET` or `HEAD` with a body, which the
/// Fetch standard forbids (checked here: Bun builds such a `Request`); or when its URL's
/// scheme is not `http:` or `https:` (`ftp:`: `fetch` fails it at once, every time). No
/// attempt can succeed.
/// Asked only after an attempt's network error. `true` when there is no `Request` to ask, or
/// when the body is a stream (building would take it; such a call is not sent again anyway).
pub fn can_build_request(input: &JsValue, init: &JsValue) -> bool {
    let Some(ctor) = js::global_fn("Request") else {
        return true;
    };
    let body = member(input, init, "body");
    if js::method(&body, "getReader").is_some() {
        return true;
    }
    let bodiless = member(input, init, "method")
        .as_string()
        .is_none_or(|m| m.eq_ignore_ascii_case("GET") || m.eq_ignore_ascii_case("HEAD"));
    if bodiless && !body.is_null_or_undefined() {
        return false;
    }
    // Without the caller's signal: a `Request` follows it with a listener of its own, which
    // undici drops only when that `Request` is collected (a long-lived signal shared by many
    // calls gathered hundreds, and Node's MaxListenersExceededWarning).
    let unsignalled = js_sys::Object::new();
    if init.is_object() {
        js_sys::Object::assign(&unsignalled, init.unchecked_ref());
    }
    js::set(&unsignalled, "signal", &JsValue::NULL);
    js_sys::Reflect::construct(&ctor, &js_sys::Array::of2(input, &unsignalled)).is_ok_and(|r| {
        js::string(&r, "url").is_none_or(|u| u.starts_with("http:") || u.starts_with("https:"))
    })
}

/// `fetch` refused the request in a way that is the same every time, no retry can help: a
/// port it blocks (`bad port`: 6000, 6665…), a redirect the request forbids (`redirect:
/// "error"`), a redirect loop or a redirect to another scheme. undici says so in the error's
/// `cause`, by these messages; where nothing says so, it stays a network error.
pub fn refused_for_good(error: &JsValue) -> bool {
    js::get_opt(error, "cause")
        .and_then(|c| js::string(&c, "message"))
        // (Equality: `str::contains` brings the pattern searcher, 5 KB gzipped.)
        .is_some_and(|m| {
            matches!(
                m.as_str(),
                "bad port"
                    | "unexpected redirect"
                    | "redirect count exceeded"
                    | "URL scheme must be a HTTP(S) scheme"
            )
        })
}

/// A request member as `fetch` picks it: `init[key]` when `init` has that member (`null`
/// included), else the `Request` input's own.
fn member(input: &JsValue, init: &JsValue, key: &'static str) -> JsValue {
    let from_init = js::get(init, key).unwrap_or(JsValue::UNDEFINED);
    if !from_init.is_undefined() {
        from_init
    } else if is_request(input) {
        js::get(input, key).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

/// The caller's signal, as `fetch` picks it ([`member`]; `null` in `init` means none).
pub fn caller_signal(input: &JsValue, init: &JsValue) -> Option<AbortSignal> {
    let v = member(input, init, "signal");
    // Only something with `aborted` and `addEventListener` is a signal we can follow.
    if v.is_object() && js::method(&v, "addEventListener").is_some() {
        Some(v.unchecked_into())
    } else {
        None
    }
}

/// The fetch option `priority`, as `fetch` picks it ([`member`]): `"high"` moves a call one
/// step ahead in the pacer's queue, `"low"` one step behind; anything else, nothing.
pub fn priority_hint(input: &JsValue, init: &JsValue) -> i32 {
    match member(input, init, "priority").as_string().as_deref() {
        Some("high") => 1,
        Some("low") => -1,
        _ => 0,
    }
}

/// Can the body of `init` be sent only once? A `ReadableStream` (or a Node async iterable)
/// is consumed by the first attempt; strings, buffers, `Blob`, `FormData` and
/// `URLSearchParams` can be sent again.
pub fn is_one_shot(init: &JsValue) -> bool {
    let Some(body) = js::get_opt(init, "body") else {
        return false;
    };
    if !body.is_object() {
        return false;
    }
    if js::method(&body, "getReader").is_some() {
        return true;
    }
    let key = js_sys::Symbol::async_iterator();
    js_sys::Reflect::get(&body, &key)
        .map(|v| v.is_function())
        .unwrap_or(false)
}

/// The URL of the request as a string, for the user's `estimate` and `limitKey`: `""` when
/// the input is neither a string nor has a string `url` (a `Request`) or `href` (a `URL`).
pub fn url_of(input: &JsValue) -> JsValue {
    if input.is_string() {
        return input.clone();
    }
    JsValue::from_str(
        &js::string(input, "url")
            .or_else(|| js::string(input, "href"))
            .unwrap_or_default(),
    )
}

/// A request body's text: a string, or bytes that are UTF-8 text.
pub enum Text {
    /// A string.
    Str(JsString),
    /// Bytes.
    Bytes(Uint8Array),
}

/// The request body's text, when it is a string or a byte buffer of at most
/// [`MAX_ESTIMATE_BYTES`], with its length (UTF-16 code units, or bytes). Otherwise `None`,
/// with the body's length where it is known without reading it: a string's or a byte
/// buffer's over the cap, a `Blob`'s `size`, or a number (the byte length of a `Request`'s
/// body too large to read, as the package passes it); 0 for a stream or `FormData`. Never
/// reads a stream, a `Blob` or `FormData`.
pub fn body_text(init: &JsValue) -> (Option<Text>, f64) {
    let none = (None, 0.0);
    let Some(body) = js::get_opt(init, "body") else {
        return none;
    };
    let (text, len) = if let Some(s) = body.dyn_ref::<JsString>() {
        (Text::Str(s.clone()), s.length())
    } else if let Some(bytes) = bytes_of(&body) {
        let len = bytes.length();
        (Text::Bytes(bytes), len)
    } else if let Some(n) = body.as_f64() {
        return (None, n.max(0.0));
    } else if js::method(&body, "arrayBuffer").is_some() {
        // A `Blob` (or `File`): its size is known, its content is not read.
        return (None, js::number(&body, "size").unwrap_or(0.0).max(0.0));
    } else {
        return none;
    };
    if len > MAX_ESTIMATE_BYTES {
        return (None, f64::from(len));
    }
    (Some(text), f64::from(len))
}

impl Text {
    /// `JSON.parse` of it (for the caller's own `estimate`), or `undefined` if it is not JSON.
    pub fn parse(&self) -> JsValue {
        let text = match self {
            Text::Str(s) => Some(JsValue::from(s)),
            Text::Bytes(b) => decode(b),
        };
        text.and_then(|t| parse_json(&t))
            .unwrap_or(JsValue::UNDEFINED)
    }

    /// A string's or bytes' text (`None` for anything else).
    pub fn of(v: &JsValue) -> Option<Text> {
        match v.dyn_ref::<JsString>() {
            Some(s) => Some(Text::Str(s.clone())),
            None => bytes_of(v).map(Text::Bytes),
        }
    }

    /// Read by the estimate, [`CHUNK`] at a time: `None` if it is not JSON.
    pub fn scan(&self) -> Option<estimate::Body> {
        let mut scan = estimate::Scan::default();
        self.pieces(&mut |piece| {
            scan.feed(piece);
            !scan.failed()
        });
        scan.finish()
    }

    /// Its UTF-8 text, [`CHUNK`] at a time (a byte order mark left out, as `TextDecoder`
    /// leaves it), to `take`, until `take` says no more.
    fn pieces(&self, take: &mut dyn FnMut(&[u8]) -> bool) {
        match self {
            Text::Str(s) => {
                // Encoded by the host into one buffer, whole code points at a time.
                let len = s.length();
                let mut buf = vec![0; (CHUNK.min(len) as usize).max(4)];
                let mut start = 0;
                while start < len {
                    let rest = if start == 0 {
                        s.clone()
                    } else {
                        s.slice(start, len)
                    };
                    let (read, written) = js::encode_into(&rest, &mut buf);
                    if read == 0 || !take(&buf[..written]) {
                        return;
                    }
                    start += read;
                }
            }
            Text::Bytes(b) => {
                let len = b.length();
                let mut buf = vec![0; CHUNK.min(len) as usize];
                let mut start = 0;
                while start < len {
                    let end = (start + CHUNK).min(len);
                    let piece = &mut buf[..(end - start) as usize];
                    b.subarray(start, end).copy_to(piece);
                    let skip = if start == 0 && piece.starts_with(b"\xEF\xBB\xBF") {
                        3
                    } else {
                        0
                    };
                    if !take(&piece[skip..]) {
                        return;
                    }
                    start = end;
                }
            }
        }
    }
}

/// `JSON.parse(text)`, with the text staying a JavaScript string (`js_sys::JSON::parse` would
/// copy it into the Wasm memory and back).
fn parse_json(text: &JsValue) -> Option<JsValue> {
    let json = js::get_opt(&js_sys::global(), "JSON")?;
    js::method(&json, "parse")?.call1(&json, text).ok()
}

/// UTF-8 bytes decoded by a `TextDecoder` (invalid sequences replaced, as `fetch` reads
/// text), into a JavaScript string.
fn decode(bytes: &Uint8Array) -> Option<JsValue> {
    let ctor = js::global_fn("TextDecoder")?;
    let decoder = js_sys::Reflect::construct(&ctor, &Array::new()).ok()?;
    js::method(&decoder, "decode")?.call1(&decoder, bytes).ok()
}

/// A byte view of an `ArrayBuffer` or an `ArrayBufferView` (typed array, `DataView`).
fn bytes_of(v: &JsValue) -> Option<Uint8Array> {
    if let Some(buf) = v.dyn_ref::<ArrayBuffer>() {
        return Some(Uint8Array::new(buf));
    }
    if ArrayBuffer::is_view(v) {
        let buffer = js::get_opt(v, "buffer")?;
        let offset = js::number(v, "byteOffset")?;
        let length = js::number(v, "byteLength")?;
        return Some(Uint8Array::new_with_byte_offset_and_length(
            &buffer,
            offset as u32,
            length as u32,
        ));
    }
    None
}

/// Headers (a response's `Headers`, or a request's as given) as the one string of
/// `name:value` lines the package's helper `lines` writes (one crossing, where iterating a
/// `Headers` from here took some eight per header; read in place by
/// [`crate::core::headers::lines`]); empty without it, or if it fails.
pub fn header_text(headers: &JsValue, lines: Option<&js_sys::Function>) -> String {
    lines
        .and_then(|f| f.call1(&JsValue::UNDEFINED, headers).ok())
        .and_then(|t| t.dyn_into::<JsString>().ok())
        .map(|t| js::utf8(&t))
        .unwrap_or_default()
}

/// At most this much of an error body is read for the retry decision (an API's error JSON is
/// a few hundred bytes; a proxy's HTML error page may be large, and is not JSON anyway).
pub const MAX_ERROR_BODY_BYTES: u32 = 64 << 10;

/// How long the retry decision waits for an error body, ms (through the pacer's clock): past
/// it, or past [`MAX_ERROR_BODY_BYTES`], the decision is made on the status and headers alone.
pub const ERROR_BODY_TIMEOUT_MS: f64 = 5_000.0;

/// Read the error body of a failed attempt from a clone: `error.type`, and
/// `error.details.error_code` (Anthropic) or else `error.code` (OpenAI). Any failure (no body,
/// not JSON, aborted, longer than [`MAX_ERROR_BODY_BYTES`], or not complete when `deadline`
/// resolves) gives `None`; the clone is then cancelled, the response itself left as it is.
pub async fn error_info(response: &Response, deadline: &js_sys::Promise) -> Option<ErrorInfo> {
    let mut bytes = Vec::new();
    let ended = super::reader::read_clone(response, deadline, &mut |chunk| {
        if bytes.len() + chunk.len() > MAX_ERROR_BODY_BYTES as usize {
            return false;
        }
        bytes.extend_from_slice(chunk);
        true
    })
    .await;
    if !ended {
        return None;
    }
    let v = JSON::parse(&String::from_utf8_lossy(&bytes)).ok()?;
    error_of(&v)
}

/// How many `details` entries (Gemini) and quota violations in each are looked at.
const MAX_DETAILS: u32 = 16;

/// The parts of a parsed error document that decide a retry: `error.type`;
/// `error.details.error_code` (Anthropic), else `error.code` (a string, or a number such as
/// vLLM's status); the body's retry hint (Gemini `google.rpc.RetryInfo.retryDelay` in
/// `error.details[]`, else OpenAI's "try again in ..." in `error.message`); and whether a
/// `google.rpc.QuotaFailure` names a per-day quota; and whether the message states a request
/// larger than the limit itself. A document with no `error` object is the error itself
/// ([`located`]: Cerebras, Mistral, xAI, TGI). A document that is an array (Gemini's
/// OpenAI-compatible endpoint) is read through its first element. The decisions on the
/// strings are the core's ([`hints`]).
pub fn error_of(doc: &JsValue) -> Option<ErrorInfo> {
    located(&first_of(doc), true)
}

/// The error a stream's first event carries (its type `event`, its data parsed as `doc`),
/// with the error's `code` when that is a number (vLLM, llama.cpp, OpenRouter: the HTTP
/// status); `None` when it carries none. Where it is, by the shapes servers send
/// ([`located`]): in the data, which is itself the error when the event is `error`
/// (Anthropic's holds an `error` object; OpenAI Responses' and llama.cpp's data is the
/// error); in the data's `response` for an OpenAI Responses `response.failed`
/// (`response.error`). Which event is an error, and the status it stands for, the core
/// decides ([`stream_error_status`](crate::core::classify::stream_error_status)).
pub fn event_error(event: &str, doc: &JsValue) -> (Option<ErrorInfo>, Option<f64>) {
    let mut doc = first_of(doc);
    if event == "response.failed" {
        doc = js::get_opt(&doc, "response").unwrap_or_default();
    }
    // The code of the error object: `error.code`, else the data's own.
    let holder = js::get_opt(&doc, "error").filter(JsValue::is_object);
    let code = js::number(holder.as_ref().unwrap_or(&doc), "code");
    (located(&doc, event == "error"), code)
}

/// An array's first element (Gemini's OpenAI-compatible endpoint wraps its error so), else the
/// document.
fn first_of(doc: &JsValue) -> JsValue {
    if Array::is_array(doc) {
        Array::from(doc).get(0)
    } else {
        doc.clone()
    }
}

/// The error a document holds: its `error` object (with that object's `type`); else the
/// document itself when its `error` is a string (not empty), the message (xAI `{"code":"Some resource has
/// been exhausted","error":"..."}`; TGI `{"error":"..","error_type":"overloaded"}`, its type
/// in `error_type`), or when its `object` is `error` (Mistral, older vLLM) or `whole` (an
/// error body, or an `error` event: Cerebras `{"message":..,"type":..,"code":..}` at the top
/// level), with its `type` unless that is `error` (an OpenAI Responses `error` event's: it
/// names the event). `None` for no object, or one that holds no error.
fn located(doc: &JsValue, whole: bool) -> Option<ErrorInfo> {
    if !doc.is_object() {
        return None;
    }
    let (err, error_type, said) =
        if let Some(err) = js::get_opt(doc, "error").filter(JsValue::is_object) {
            let error_type = js::string(&err, "type");
            (err, error_type, None)
        } else if let Some(said) = js::string(doc, "error").filter(|e| !e.is_empty()) {
            (doc.clone(), js::string(doc, "error_type"), Some(said))
        } else if whole || js::string(doc, "object").as_deref() == Some("error") {
            let error_type = js::string(doc, "type").filter(|t| t != "error");
            (doc.clone(), error_type, None)
        } else {
            return None;
        };
    Some(error_fields(&err, error_type, said))
}

/// [`error_of`]'s reading of one error object (`type` given apart, and its message when the
/// error is that string).
fn error_fields(err: &JsValue, error_type: Option<String>, said: Option<String>) -> ErrorInfo {
    let err = err.clone();
    let details = js::get_opt(&err, "details");
    let code = details
        .as_ref()
        .and_then(|d| js::string(d, "error_code"))
        .or_else(|| js::string(&err, "code"));
    let mut retry_delay = None;
    let mut daily_quota = false;
    // `details[i]` and `violations[i]`, up to the bound, the objects only.
    let item = |list: &JsValue, i: u32| {
        js_sys::Reflect::get_u32(list, i)
            .ok()
            .filter(JsValue::is_object)
    };
    for d in (0..MAX_DETAILS).map_while(|i| details.as_ref().and_then(|l| item(l, i))) {
        let kind = js::string(&d, "@type").unwrap_or_default();
        if kind.ends_with("google.rpc.RetryInfo") {
            retry_delay = retry_delay.or_else(|| js::string(&d, "retryDelay"));
        } else if kind.ends_with("google.rpc.QuotaFailure") {
            let vs = js::get_opt(&d, "violations");
            for v in (0..MAX_DETAILS).map_while(|i| vs.as_ref().and_then(|l| item(l, i))) {
                daily_quota |= ["quotaId", "quotaMetric"]
                    .iter()
                    .filter_map(|k| js::string(&v, k))
                    .any(|id| hints::is_per_day_quota(&id));
            }
        }
    }
    let spent = said.as_deref().is_some_and(hints::states_spent);
    let message = said.or_else(|| js::string(&err, "message"));
    let message = message.as_deref();
    ErrorInfo {
        hint_ms: hints::body_hint(retry_delay.as_deref(), message),
        daily_quota: daily_quota
            || message.is_some_and(|m| hints::names_daily_limit(code.as_deref(), m)),
        over_limit: message.is_some_and(hints::exceeds_limit),
        spent,
        error_type,
        code,
    }
}

/// How the usage of a 2xx response can be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageKind {
    /// One JSON document with a top-level `usage`.
    Json,
    /// A `text/event-stream`.
    Sse,
}

/// What a delivered body's end tells of its usage.
pub enum BodyEnd {
    /// The usage it reported (`None`: none; the reservation stands).
    Usage(Option<Usage>),
    /// A stream that reported none but streamed text: its output tokens, estimated from it.
    Estimated(f64),
    /// A stream cut short after it reported its input (Anthropic's `message_start`): that
    /// usage; its output stays as reserved.
    Input(Usage),
}

/// How to read the usage of a response with these header lines (`head`, names in lower case
/// as `Headers` gives them), from its `content-type`; `None` when there is no body (`has_body`
/// false, or `content-length: 0`) or it is neither JSON nor an event stream (nothing to read,
/// nothing to clone).
pub fn usage_kind(has_body: bool, head: &str) -> Option<UsageKind> {
    if !has_body {
        return None;
    }
    // The first of each, in one pass over the lines.
    let (mut length, mut ct) = (None, None);
    for (k, v) in crate::core::headers::lines(head) {
        match k {
            "content-length" => length = length.or(Some(v)),
            "content-type" => ct = ct.or(Some(v)),
            _ => {}
        }
    }
    // An empty body says so (`content-length: 0`): nothing to clone or read.
    if length == Some("0") {
        return None;
    }
    let ct = ct.unwrap_or_default().to_ascii_lowercase();
    // A byte search: `str::contains` brings the two-way searcher (kilobytes of Wasm).
    let has = |needle: &[u8]| crate::core::find(ct.as_bytes(), needle).is_some();
    if has(b"text/event-stream") {
        Some(UsageKind::Sse)
    } else if ct.is_empty() || has(b"json") {
        Some(UsageKind::Json)
    } else {
        None
    }
}

/// Read the usage of a delivered JSON response from a clone of it (the caller reads the
/// original). `None` when the body fails (network error, abort) or reports no usage.
pub async fn read_json_usage(clone: Response) -> Option<Usage> {
    JsFuture::from(clone.array_buffer().ok()?)
        .await
        .ok()
        .and_then(|b| usage_of_text(&b))
}

/// The usage a delivered body reports, as the caller read it: a string or bytes, read here
/// in pieces (not parsed again in JavaScript).
pub fn usage_of_text(text: &JsValue) -> Option<Usage> {
    let mut scan = usage::Scan::default();
    Text::of(text)?.pieces(&mut |piece| {
        scan.feed(piece);
        !scan.failed()
    });
    let mut report = Report::default();
    scan.finish(&mut report);
    report.finish()
}
