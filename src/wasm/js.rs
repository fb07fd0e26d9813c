//! Small helpers over `js_sys` for reading plain JavaScript objects.

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};

/// `obj[key]`, or `undefined` when `obj` is not an object. A throwing getter (or Proxy trap)
/// is returned as the error.
pub fn get(obj: &JsValue, key: &'static str) -> Result<JsValue, JsValue> {
    if obj.is_object() || obj.is_function() {
        Reflect::get(obj, &key_of(key))
    } else {
        Ok(JsValue::UNDEFINED)
    }
}

/// Property names made into JavaScript strings once: each `JsValue::from_str` crosses the
/// boundary and decodes UTF-8 in JavaScript, a cost paid for every property read of every
/// call. The names are the driver's own literals, so a name is known by its address and
/// length (a `&'static str` never changes); at most [`MAX_KEYS`] are kept (the driver reads a
/// few dozen).
const MAX_KEYS: usize = 96;

thread_local! {
    static KEYS: core::cell::RefCell<Vec<(usize, usize, JsValue)>> = const { core::cell::RefCell::new(Vec::new()) };
}

/// `key` as a JavaScript string, from the cache when it is there.
#[inline(never)]
pub fn key_of(key: &'static str) -> JsValue {
    let (at, len) = (key.as_ptr() as usize, key.len());
    KEYS.with_borrow_mut(|k| {
        if let Some((_, _, v)) = k.iter().find(|(a, l, _)| *a == at && *l == len) {
            return v.clone();
        }
        let v = JsValue::from_str(key);
        if k.len() < MAX_KEYS {
            k.push((at, len, v.clone()));
        }
        v
    })
}

/// `obj[key]` with `undefined` and `null` both read as absent; errors read as absent too (for
/// best-effort reads of response bodies, where nothing may throw into the pacer).
pub fn get_opt(obj: &JsValue, key: &'static str) -> Option<JsValue> {
    get(obj, key).ok().filter(|v| !v.is_null_or_undefined())
}

/// `obj[key]` as a function, if it is one.
pub fn method(obj: &JsValue, key: &'static str) -> Option<Function> {
    get_opt(obj, key).and_then(|v| v.dyn_into::<Function>().ok())
}

/// Set `obj[key] = value` on an object we created (cannot fail).
pub fn set(obj: &Object, key: &'static str, value: &JsValue) {
    let _ = Reflect::set(obj, &key_of(key), value);
}

/// `obj[key]` as a number, if it is a finite one.
pub fn number(obj: &JsValue, key: &'static str) -> Option<f64> {
    get_opt(obj, key)
        .and_then(|v| v.as_f64())
        .filter(|n| n.is_finite())
}

/// `obj[key]` as a string, if it is one.
pub fn string(obj: &JsValue, key: &'static str) -> Option<String> {
    get_opt(obj, key).and_then(|v| v.as_string())
}

/// A global by name (`globalThis[name]`), through `js_sys::global()`, so that it works with or
/// without `window`: Node, workerd, Deno, Bun, browsers, workers.
pub fn global_fn(name: &'static str) -> Option<Function> {
    method(&js_sys::global(), name)
}

/// Wait for `p` and ignore how it ends, so a rejection is never reported as unhandled.
pub fn ignore(p: Promise) {
    spawn_local(async move {
        let _ = JsFuture::from(p).await;
    });
}

/// A new pending promise with its resolve and reject functions.
pub fn promise() -> (Promise, Function, Function) {
    let mut slots: Option<(Function, Function)> = None;
    let p = Promise::new(&mut |resolve, reject| slots = Some((resolve, reject)));
    // The executor runs synchronously inside the Promise constructor, so the slots are full.
    let (resolve, reject) = slots.unwrap_or_else(|| {
        let noop: Function = JsValue::UNDEFINED.unchecked_into();
        (noop.clone(), noop)
    });
    (p, resolve, reject)
}

#[wasm_bindgen]
extern "C" {
    /// The host's `TextEncoder` (every runtime the package supports has one).
    #[wasm_bindgen(js_name = TextEncoder)]
    type Encoder;
    #[wasm_bindgen(constructor, js_class = TextEncoder)]
    fn new() -> Encoder;
    /// `encodeInto(s, dest)`: as much of `s` as fits, whole code points, into `dest`, which
    /// is a view of the Wasm memory; `{ read, written }`.
    #[wasm_bindgen(method, js_name = encodeInto)]
    fn encode_into(this: &Encoder, s: &js_sys::JsString, dest: &mut [u8]) -> Encoded;
    /// What `encodeInto` returns: its two numbers read as numbers, one crossing each.
    type Encoded;
    #[wasm_bindgen(method, getter)]
    fn read(this: &Encoded) -> f64;
    #[wasm_bindgen(method, getter)]
    fn written(this: &Encoded) -> f64;
}

thread_local! {
    static ENCODER: core::cell::RefCell<Option<Encoder>> = const { core::cell::RefCell::new(None) };
}

/// Encode `s` into `dest` as UTF-8 (a lone surrogate as U+FFFD, as `TextEncoder` does):
/// (UTF-16 units read, bytes written). The host writes straight into the Wasm memory;
/// wasm-bindgen's own string passing copies ASCII one character at a time in JavaScript, some
/// 20 to 60 times slower (a 16 K request body: about 40 µs against 1 to 2).
pub fn encode_into(s: &js_sys::JsString, dest: &mut [u8]) -> (u32, usize) {
    let r = ENCODER.with_borrow_mut(|e| e.get_or_insert_with(Encoder::new).encode_into(s, dest));
    (r.read() as u32, r.written() as usize)
}

/// `s` as a Rust string, through [`encode_into`].
pub fn utf8(s: &js_sys::JsString) -> String {
    let mut buf = vec![0; 3 * s.length() as usize];
    let (_, written) = encode_into(s, &mut buf);
    buf.truncate(written);
    String::from_utf8(buf).unwrap_or_default()
}
