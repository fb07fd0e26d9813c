//! The limit key of a request, as the driver reads it from the request: its URL, its
//! credential (a header, or Gemini's `?key=`) and its JSON body's `model` (else the model its
//! URL names) go through [`crate::core::fingerprint`]; or,
//! with the `limitKey` option, the caller's function gives the string that replaces the origin
//! and the credential.

use super::{body, js};
use crate::core::fingerprint::{credential, custom, model_in_url, origin, url_credential, Memo};
use crate::core::keys::LimitKey;
use js_sys::{Function, Object};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::Headers;

/// The request's headers as `fetch` picks them (`init.headers` if given, else a `Request`
/// input's), as a new `Headers`; `None` if there are none or they are not valid headers.
pub fn request_headers(input: &JsValue, init: &JsValue) -> Option<Headers> {
    Headers::new_with_str_sequence_sequence(&request_headers_init(input, init)?).ok()
}

/// The request's headers as given (`init.headers` if any, else a `Request` input's): a
/// `Headers`, an array of pairs or a record; `None` if there are none.
fn request_headers_init(input: &JsValue, init: &JsValue) -> Option<JsValue> {
    let mut v = js::get(init, "headers").unwrap_or(JsValue::UNDEFINED);
    if v.is_undefined() && body::is_request(input) {
        v = js::get(input, "headers").unwrap_or(JsValue::UNDEFINED);
    }
    (!v.is_null_or_undefined()).then_some(v)
}

/// The limit key of a request (`url`, and `text`, its string: [`body::url_of`]): `limit_key`
/// (the option) called with `{ url, model, headers }`
/// when given, else derived from the origin and the credential (found among the header lines
/// the package's `headerLines` gives, one crossing, rather than through a `Headers` copy and a
/// `get` per name). `model` is the JSON body's `model` (`""` if none: then the model the
/// URL names, if any). An error is the
/// option's: a throw, or a result that is not a string. A derived key comes through `memo`
/// (the pacer's last one, when the parts are the same).
#[allow(clippy::too_many_arguments)]
pub fn of_request(
    memo: &RefCell<Memo>,
    input: &JsValue,
    init: &JsValue,
    url: &JsValue,
    text: &str,
    model: &str,
    limit_key: Option<&Function>,
    header_lines: Option<&Function>,
) -> Result<LimitKey, JsValue> {
    // A body that names no model: the one the URL's path names (Gemini, Vertex AI, Bedrock,
    // an Azure OpenAI deployment), if any.
    let from_url;
    let model = if model.is_empty() {
        from_url = model_in_url(text);
        from_url.as_str()
    } else {
        model
    };
    if let Some(f) = limit_key {
        let headers = request_headers(input, init);
        let arg = Object::new();
        js::set(&arg, "url", url);
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
    let lines = request_headers_init(input, init)
        .map(|h| body::header_text(&h, header_lines))
        .unwrap_or_default();
    // Gemini's API also takes its key in the URL's query (`?key=`).
    let credential = credential(&lines).or_else(|| url_credential(text));
    // Borrowed only here: `limitKey` above may call into the pacer again.
    let key = memo
        .borrow_mut()
        .derive(&origin(text), credential.as_deref(), model);
    Ok(key)
}
