// The module's life: a panic in it (a bug) turned into one `INTERNAL` error for every call,
// and the stateless `RawLow` that the options' reader and the lower-level exports share.

import { glue } from "./binding.js";
import { PacerError } from "./errors.js";

// --- A trap (a panic in the Wasm module: a bug) leaves that instance of the module unusable
// and the promises of its calls unsettled (src/wasm/trap.rs): the panic hook calls back here
// first, and every pending call, and every later use, gets one `INTERNAL` error instead.
let trapped;
/** The `reject` functions of the calls in progress, across every pacer of this module. */
const pending = new Set();
let hooked = false;
/** Throw the `INTERNAL` error once the module trapped; register the trap hook once. */
function live() {
  if (trapped) throw trapped;
  if (!hooked) {
    hooked = true;
    glue.onTrap(() => {
      trapped ??= new PacerError(
        "INTERNAL",
        "llm-pacer: internal error (a bug in llm-pacer: please report it); this instance of the module can no longer be used",
      );
      for (const reject of pending) reject(trapped);
      pending.clear();
    });
  }
}
/**
 * A call's promise: `run(resolve, reject)` starts the call and hands it the promise's own
 * functions (the module settles it through them); rejected with the `INTERNAL` error if the
 * module traps meanwhile. (No closure here is bound to a name: the bundler's `keepNames` would
 * name each with a `defineProperty`, every call.)
 * @param {(resolve: (v: any) => void, reject: (e: any) => void) => void} run
 */
function guarded(run) {
  try {
    live();
  } catch (e) {
    return Promise.reject(e);
  }
  return new Promise((resolve, reject) => {
    pending.add(reject);
    try {
      run(
        (v) => {
          pending.delete(reject);
          resolve(v);
        },
        (e) => {
          pending.delete(reject);
          reject(trapped ?? e);
        },
      );
    } catch (e) {
      pending.delete(reject);
      reject(trapped ?? e);
    }
  });
}

let stateless;
/** The stateless `RawLow` (for the parser and the classifier), made at first use. */
const low = () => (live(), (stateless ??= new glue.RawLow(0, [])));
/** One operation of a `RawLow`, unless the module trapped. */
const op = (raw, ...args) => (live(), raw.op(...args));

export { live, guarded, low, op };
