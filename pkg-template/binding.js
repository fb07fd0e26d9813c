// The wasm-bindgen bindings of an entry's module, shared with the API's modules: each entry
// loads its module, calls `bind`, and re-exports api.js (scripts/build-pkg.mjs bundles each
// entry).

/**
 * The bindings: already initialised (or, for `llm-pacer/slim`, initialised before first use).
 * Set once by `bind`; read only when a `Pacer` or lower-level object is used.
 * @type {{ RawPacer: any, RawLow: any, onTrap: any, panicForTests: any }}
 */
export let glue;
/** For `llm-pacer/slim`: has `init` run? (`undefined`: always ready.) @type {(() => boolean) | undefined} */
let isReady;

/**
 * Give the API its entry's bindings (once, when the module is loaded).
 * @param {typeof glue} bindings
 * @param {() => boolean} [ready]
 */
export function bind(bindings, ready) {
  glue = bindings;
  isReady = ready;
}

/** Throw unless the Wasm module is ready (only `llm-pacer/slim` can be used too early). */
export function ensureReady(what) {
  if (isReady && !isReady()) {
    throw new Error(`llm-pacer/slim: call \`await init()\` (or \`initSync(module)\`) before \`${what}\``);
  }
}
