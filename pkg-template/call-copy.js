// `fetch` takes its arguments as they are when it is called. A call the pacer queues or
// retries is sent later, so it keeps a copy taken at the call as well: a batch loop that
// reuses one `URL`, one headers object, one init or one byte buffer, changing it between
// calls, sends each call as it was made (not every queued one as the last).

/** The fields `fetch` reads from its init, looked for beyond its own (a class's getters). */
const INIT_FIELDS = [
  "method",
  "headers",
  "body",
  "signal",
  "redirect",
  "credentials",
  "mode",
  "cache",
  "referrer",
  "referrerPolicy",
  "integrity",
  "keepalive",
  "duplex",
  "priority",
  "window",
  "dispatcher",
];

/**
 * Headers as given (a `Headers`, pairs, another iterable of pairs, a record), copied in the
 * same form; a value that is none of them as it is (for `fetch` to refuse).
 * @param {any} h
 */
function headersCopy(h) {
  if (typeof Headers == "function" && h instanceof Headers) return new Headers(h);
  if (typeof h[Symbol.iterator] == "function")
    return Array.from(h, (pair) => (Array.isArray(pair) ? pair.slice() : pair));
  return { ...h };
}

/**
 * A body the caller may change after the call, copied: bytes (an `ArrayBuffer`, a typed
 * array, a `DataView`: their bytes), `URLSearchParams` and `FormData` (as the same kind, so
 * that `fetch` sets the same `content-type`). A string or a `Blob` cannot change, and a
 * stream is read once anyway: as they are.
 * @param {unknown} b
 */
function bodyCopy(b) {
  if (b instanceof ArrayBuffer) return b.slice(0);
  if (ArrayBuffer.isView(b)) return new Uint8Array(b.buffer, b.byteOffset, b.byteLength).slice();
  if (typeof URLSearchParams == "function" && b instanceof URLSearchParams) return new URLSearchParams(b);
  if (typeof FormData == "function" && b instanceof FormData) {
    const f = new FormData();
    for (const [k, v] of b) f.append(k, v);
    return f;
  }
  return b;
}

/**
 * `input` and `init` as `fetch` takes them now: a `URL` as its text; `init` a new object with
 * the same fields, its headers and body copied ({@link headersCopy}, {@link bodyCopy}); an
 * init that is no object as it is. A `Request` input is cloned for each attempt already.
 * @param {unknown} input
 * @param {any} init
 * @returns {[unknown, any]}
 */
export function callCopy(input, init) {
  if (typeof URL == "function" && input instanceof URL) input = input.href;
  if (init == null || typeof init != "object") return [input, init];
  const copy = { ...init };
  for (const k of INIT_FIELDS) if (!Object.hasOwn(copy, k) && k in init) copy[k] = init[k];
  if (copy.headers != null && typeof copy.headers == "object") copy.headers = headersCopy(copy.headers);
  if (copy.body != null) copy.body = bodyCopy(copy.body);
  return [input, copy];
}
