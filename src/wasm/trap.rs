//! A panic never leaves a call hanging.
//!
//! On `wasm32-unknown-unknown` a panic aborts: the module traps (a `WebAssembly.RuntimeError`
//! in JavaScript) with its state mid-change (a `RefCell` still borrowed, the allocator perhaps
//! mid-update), so nothing in this instance of the module can be trusted again, and the
//! promises of the calls in progress would never settle. The package registers one function
//! here ([`on_trap`]); the panic hook calls it before the trap, and the package then rejects
//! every pending call, and every later one, with a `PacerError` of code `INTERNAL`
//! (`pkg-template/api.js`). The hook passes no message: nothing of the request, the key or
//! the state goes out.

use js_sys::Function;
use std::cell::OnceCell;
use wasm_bindgen::prelude::*;

thread_local! {
    static ON_TRAP: OnceCell<Function> = const { OnceCell::new() };
}

/// Register the function the panic hook calls (once; later calls are ignored).
#[wasm_bindgen(js_name = onTrap)]
pub fn on_trap(f: Function) {
    ON_TRAP.with(|cell| {
        if cell.set(f).is_ok() {
            std::panic::set_hook(Box::new(|_| {
                ON_TRAP.with(|cell| {
                    if let Some(f) = cell.get() {
                        let _ = f.call0(&JsValue::UNDEFINED);
                    }
                });
            }));
        }
    });
}

/// A panic, for the package's tests of the above (not part of the API).
#[wasm_bindgen(js_name = panicForTests)]
pub fn panic_for_tests() {
    panic!("forced by a test");
}
