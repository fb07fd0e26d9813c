// The wasm-bindgen bindings of an entry's module, shared with the API's modules: each entry
// loads its module, calls `bind`, and re-exports api.js (scripts/build-pkg.mjs bundles each
// entry).

/**
 * The bindings: already initialised (or, for `llm-pacer/slim`, initialised before first use).
 * Set once by `bind`; read only when a `Pacer` or lower-level object is used.
 * @type {{ RawPacer: any, RawLow: any, onTrap: any, panicForTests: any }}
 */
export let glue;
/**
 * What the runtime asks of the package beyond the bindings (`{}` but in workerd and Node,
 * whose entries set them): `own(raw)`, each call's own context, where each request has one whose I/O and
 * timers are its alone (own-context.js: a call's attempts are sent, aborted and settled, and
 * its waits timed, from the caller's context); and `keep(promise)`, work that must go on after
 * the request's response (`waitUntil`). In Node, `shared(signal)`: each call listens to its
 * caller's signal, so the signal's limit of listeners is raised as `fetch` (undici) raises it,
 * rather than warn of a leak when a batch of calls shares one `AbortController`.
 * In workerd too, `beating(gone)` and `sweep()`: a delivered stream watched from its caller's
 * request, whose call `sweep` ends once that request is gone (own-context.js).
 * @type {{ own?: (raw: any) => { dispatch: Function, start: () => void, end: (f: () => void) => void }, beating?: (gone: () => void) => () => void, sweep?: () => void, keep?: (p: Promise<unknown>) => void, shared?: (signal: unknown) => void }}
 */
export let host = {};
/** For `llm-pacer/slim`: has `init` run? (`undefined`: always ready.) @type {(() => boolean) | undefined} */
let isReady;

/**
 * Give the API its entry's bindings (once, when the module is loaded).
 * @param {typeof glue} bindings
 * @param {() => boolean} [ready]
 * @param {typeof host} [runtime]
 */
export function bind(bindings, ready, runtime) {
  glue = bindings;
  isReady = ready;
  if (runtime) host = runtime;
}

/** Throw unless the Wasm module is ready (only `llm-pacer/slim` can be used too early). */
export function ensureReady(what) {
  if (isReady && !isReady()) {
    throw new Error(`llm-pacer/slim: call \`await init()\` (or \`initSync(module)\`) before \`${what}\``);
  }
}

/**
 * `keep(promise)` through workerd's `waitUntil` (`undefined` without one): the promise,
 * never rejecting, keeps the request's context alive until it settles; outside a request
 * (`waitUntil` throws) it is not kept.
 * @param {unknown} waitUntil
 */
export function keeper(waitUntil) {
  if (typeof waitUntil !== "function") return undefined;
  return (p) => {
    try {
      waitUntil(
        p.then(
          () => {},
          () => {},
        ),
      );
    } catch {}
  };
}
