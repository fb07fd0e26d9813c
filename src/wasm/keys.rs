//! The limit key of a request, as the driver reads it from the request: its URL, its
//! credential header and its JSON body's `model` go through [`crate::core::fingerprint`]; or,
//! with the `limitKey` option, the caller's function gives the string that replaces the origin
//! and the credential.

use super::{body, js};
use crate::core::fingerprint::{custom, derive, origin, CREDENTIAL_HEADERS};
use crate::core::keys::LimitKey;
use js_sys::{Function, Object};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::Headers;

/// The request's headers as `fetch` picks them (`init.headers` if given, else a `Request`
/// input's), as a new `Headers`; `None` if there are none or they are not valid headers.
pub fn request_headers(input: &JsValue, init: &JsValue) -> Option<Headers> {
    let mut v = js::get(init, "headers").unwrap_or(JsValue::UNDEFINED);
    if v.is_undefined() && body::is_request(input) {
        v = js::get(input, "headers").unwrap_or(JsValue::UNDEFINED);
    }
    if v.is_undefined() || v.is_null() {
        return None;
    }
    Headers::new_with_str_sequence_sequence(&v).ok()
}

/// The limit key of a request: `limit_key` (the option) called with `{ url, model, headers }`
/// when given, else derived from the origin and the credential. `model` is the JSON body's
/// `model` (`""` if none). An error is the option's: a throw, or a result that is not a string.
pub fn of_request(
    input: &JsValue,
    init: &JsValue,
    model: &str,
    limit_key: Option<&Function>,
) -> Result<LimitKey, JsValue> {
    let url = body::url_of(input);
    let headers = request_headers(input, init);
    if let Some(f) = limit_key {
        let arg = Object::new();
        js::set(&arg, "url", &url);
        js::set(&arg, "model", &JsValue::from_str(model));
        let h = headers.or_else(|| Headers::new().ok());
        js::set(
            &arg,
            "headers",
            h.as_ref()
                .map_or(&JsValue::UNDEFINED, |h| h.unchecked_ref()),
        );
        let r = f.call1(&JsValue::UNDEFINED, &arg)?;
        return match r.as_string() {
            Some(text) => Ok(custom(&text, model)),
            None => Err(js_sys::TypeError::new(
                "llm-pacer: option `limitKey` must return a string",
            )
            .into()),
        };
    }
    let credential = headers.as_ref().and_then(|h| {
        CREDENTIAL_HEADERS
            .iter()
            .find_map(|name| h.get(name).ok().flatten().filter(|v| !v.is_empty()))
    });
    let url = url.as_string().unwrap_or_default();
    Ok(derive(&origin(&url), credential.as_deref(), model))
}
