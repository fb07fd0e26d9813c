// A call's credentials kept out of the errors it passes on: the platform's own `fetch` errors
// may show the URL (`?key=`, a password) or a header value (Node's "invalid header value",
// Bun's `err.path`, Deno's `cause`). Each is scrubbed in place as the call rejects
// (pacer-class.js), or as a body the package hands over fails (stream-resume.js,
// body-watch.js): its `message`, `stack` and own strings, through `cause`, `errors` and the
// plain data it holds (objects, arrays, `Headers`, `Map`s). The
// secrets are read from the call's input and init then, not before: no cost on success.

import { PacerError } from "./errors.js";

const R = "[redacted]";
/** A header whose value is a credential (`authorization`, `x-api-key`, `cookie`, `x-password`, `x-signature`, ...). */
const HEADER = /key|token|secret|auth|cookie|pass|pwd|sig|hmac|jwt|bearer|credential|session/i;
/**
 * A query (or fragment) parameter that is a credential: its name and `=` (group 1), its value
 * (group 2). `code` is OAuth's, `credential` AWS's signed URLs'.
 */
const PARAM =
  /([?&;#][\w.-]*(?:key|token|secret|sig|pass|pwd|auth|code|jwt|session|credential)[\w.-]*=)([^&#\s"'`]*)/gi;
/** A URL's user information, name and password (a key may be either): `//` (group 1), the rest (group 2). */
const USERINFO = /(\/\/)([^/?#@\s]*)(?=@)/g;
/** What splits a header value into the pieces that may be keys: anything but printable ASCII (a space, a NUL, a CR). */
const SPLIT = /[^!-~]+/;

/**
 * The secrets of the call `fetch(input, init)`: its credential headers' pieces of 8
 * characters or more, its URL's credential parameters and password (as written and
 * decoded); longest first. Never throws.
 */
function secretsOf(input, init) {
  const out = new Set();
  const headers = (h) => {
    try {
      if (h && typeof h == "object")
        for (const [k, v] of typeof h[Symbol.iterator] == "function" ? h : Object.entries(h))
          if (HEADER.test(k)) for (const p of String(v).split(SPLIT)) if (p.length >= 8) out.add(p);
    } catch {}
  };
  let url = input;
  try {
    if (typeof Request == "function" && input instanceof Request) {
      url = input.url;
      headers(input.headers);
    }
    headers(init?.headers);
    url = String(url);
    for (const m of [...url.matchAll(PARAM), ...url.matchAll(USERINFO)])
      for (const x of [m[2], ...m[2].split(":")]) {
        out.add(x);
        try {
          out.add(decodeURIComponent(x));
        } catch {}
      }
  } catch {}
  out.delete("");
  return [...out].sort((a, b) => b.length - a.length);
}

/** `v` with each secret of 6 characters or more, and any credential parameter's value or URL user information, replaced. */
function clean(v, secrets) {
  for (const x of secrets) if (x.length >= 6) v = v.split(x).join(R);
  return v.replace(PARAM, `$1${R}`).replace(USERINFO, `$1${R}`);
}

/** A `Headers` object. */
const isHeaders = (v) => typeof Headers == "function" && v instanceof Headers;

/**
 * Whether the scrub looks into `v`, an object an error holds: data, as libraries attach it
 * (axios' `err.config.headers`, an `args` array, a `Headers`, a `Map`) or another error; not
 * an instance of some other class (a socket, a client), whose getters may do anything.
 */
function data(v) {
  const p = Object.getPrototypeOf(v);
  return (
    p === Object.prototype || p === null || Array.isArray(v) || v instanceof Error || v instanceof Map || isHeaders(v)
  );
}

/** The most objects one scrub looks into. */
const MAX_OBJECTS = 256;

/**
 * Scrub error `e` in place, `depth` levels down its `cause`, `errors` and the data it holds
 * ({@link data}): in its strings, each secret of 6 characters or more, and any value after a
 * credential's `key=` or in `//user:...@`; a string that cannot be assigned is defined (one
 * that cannot be defined either, frozen, stays). Never throws.
 */
function walk(e, secrets, seen, depth) {
  if (depth > 4 || typeof e != "object" || e === null || seen.has(e) || seen.size > MAX_OBJECTS) return;
  seen.add(e);
  try {
    if (isHeaders(e) || e instanceof Map) {
      for (const [k, v] of [...e])
        if (typeof v != "string") walk(v, secrets, seen, depth + 1);
        else if (clean(v, secrets) !== v)
          try {
            e.set(k, clean(v, secrets));
          } catch {}
      return;
    }
    for (const k of new Set(["message", "stack", "cause", ...Object.getOwnPropertyNames(e)]))
      try {
        let v = e[k];
        if (typeof v == "string") {
          const was = v;
          v = clean(v, secrets);
          if (v !== was)
            try {
              e[k] = v;
              if (e[k] !== v) throw 0;
            } catch {
              Object.defineProperty(e, k, { value: v });
            }
        } else if (typeof v == "object" && v !== null && (k == "cause" || data(v))) walk(v, secrets, seen, depth + 1);
      } catch {}
  } catch {}
}

/**
 * `e`, what the call `fetch(input, init)` fails with, its secrets scrubbed in place (a string
 * thrown: the string scrubbed); as it is when it is the caller's own abort reason, a
 * `PacerError` (clean: only its `cause` is scrubbed) or no object. Never throws.
 * @template T
 * @param {T} e
 * @returns {T}
 */
export function scrubbed(e, input, init) {
  const text = typeof e == "string";
  if (e instanceof PacerError) {
    // Clean itself, but its `cause` (a network error, for a TIMEOUT) is the platform's.
    if (e.cause !== undefined)
      try {
        e.cause = scrubbed(e.cause, input, init);
      } catch {}
    return e;
  }
  if (text || (typeof e == "object" && e !== null))
    try {
      const secrets = secretsOf(input, init);
      const signal = init?.signal ?? input?.signal;
      const reason = signal?.aborted ? signal.reason : undefined;
      if (reason === e) return e;
      if (text) return /** @type {T} */ (/** @type {unknown} */ (clean(e, secrets)));
      if (secrets.length > 0) walk(e, secrets, new Set([reason]), 0);
    } catch {}
  return e;
}

/**
 * The responses the package hands over whose body it reads on the caller's behalf (resumed,
 * watched), each to its `{ src }`: the call's `[input, init]`, set as it is delivered.
 * @type {WeakMap<object, { src?: [unknown, unknown] }>}
 */
export const bodies = new WeakMap();

/** The call `fetch(input, init)` resolves with `v`: the errors of its body scrubbed too. */
export function delivered(v, input, init) {
  const b = bodies.get(v);
  if (b) b.src = [input, init];
  return v;
}

/** `e`, the error of a body of {@link bodies} `b`, scrubbed of its call's secrets. */
export const bodyError = (e, b) => (b.src ? scrubbed(e, b.src[0], b.src[1]) : e);
