// A delivered JSON response's usage without a copy of its body: the caller's own read is
// watched, and what it gives (the parsed document, or the text or bytes) handed to the pacer
// (pacer-class.js gives each Pacer one `jsonBodies`; the driver calls it for every JSON answer it
// delivers); a parsed document's usage goes over as its numbers (`usageNumbers`).

import { isObject } from "./read-options.js";
import { bodies, bodyError } from "./scrub.js";

/**
 * Byte chunks as one array.
 * @param {Uint8Array[]} chunks
 */
export function joined(chunks) {
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return all;
}

/**
 * The body reads the pacer watches: a read's result is handed over as the parsed document
 * (`json()`), or as the text or bytes it is (`text: true`), which the pacer reads for its
 * usage itself: nothing is parsed twice.
 */
const WATCHED_READS = { json: false, text: true, arrayBuffer: true, bytes: true };
/** The other ways to read or copy a body: the pacer clones it first. */
const OTHER_READS = ["blob", "formData", "clone"];

/**
 * Where a response's document goes: `report(id, doc, text)`.
 * @typedef {{ id: number, report: (id: number, doc: unknown, text?: boolean) => void }} Sink
 */
/**
 * A watched response's state: whether its body was read yet, where its document goes (a
 * {@link Sink}: no closure per response, which the bundler's `keepNames` would name with a
 * `defineProperty` each), the prototype it had, and the set of unread responses it is in
 * until then. `cloned`: the read of the clone the pacer made (`readClone`), until the
 * caller's first read of its own has looked at it.
 * @typedef {Sink & { started: boolean, proto: any, unread: Set<any>, src?: [unknown, unknown], stream?: ReadableStream | null, cloned?: Promise<unknown> }} Watch
 */
const WATCH = Symbol("llm-pacer.watch");

/**
 * The watch of `response` as its body's read starts (no longer unread); `undefined` if it is
 * not watched or was read already.
 * @param {any} response
 * @returns {Watch | undefined}
 */
function start(response) {
  const w = /** @type {Watch | undefined} */ (response[WATCH]);
  if (!w || w.started) return undefined;
  w.started = true;
  w.unread.delete(response);
  return w;
}

/**
 * Hand `to` what `p` gives (`text`: a body's text or bytes, not a document); `undefined` if
 * `p` fails, whose error is first scrubbed of the call's credentials (scrub.js; this handler
 * runs before the caller's).
 * @param {Promise<any>} p
 * @param {Watch} to
 * @param {boolean} [text]
 */
const handOver = (p, to, text = false) =>
  p.then(
    (v) => to.report(to.id, v, text),
    (e) => {
      bodyError(e, to);
      to.report(to.id, undefined);
    },
  );

/**
 * Hand `to` the bytes of a clone of `response`, made by `proto`'s own `clone` (not a watched
 * one); `undefined` if it cannot be cloned or read.
 * @param {any} proto
 * @param {any} response
 * @param {Watch} to
 */
function cloneRead(proto, response, to) {
  try {
    const read = proto.clone.call(response).arrayBuffer();
    to.cloned = read;
    return handOver(read, to, true);
  } catch {
    to.report(to.id, undefined);
  }
}

/**
 * The body of a watched response read from a clone, unless it was read already.
 * @param {any} response
 */
function readClone(response) {
  const w = start(response);
  if (w) return cloneRead(w.proto, response, w);
}

/**
 * What the caller's first read `p` of `response` gives, where the pacer read a clone of it
 * first: if it fails with a `TypeError` (the body "already read": a fetch abort cancels the
 * original's stream once a clone of it exists, undici's rule) while the clone's read failed,
 * the clone's error, which is what that read gives without a clone (the signal's reason, an
 * `AbortError`). Any other read: `p` as it is.
 * @param {any} response
 * @param {Promise<unknown>} p
 */
function behindClone(response, p) {
  const w = /** @type {Watch | undefined} */ (response[WATCH]);
  const cloned = w?.cloned;
  if (!cloned) return p;
  w.cloned = undefined;
  return p.catch((e) =>
    e instanceof TypeError
      ? cloned.then(
          () => Promise.reject(e),
          (c) => Promise.reject(c),
        )
      : Promise.reject(e),
  );
}

/** Per response prototype, the watched one that stands in for it (a child of it). */
const watchedProtos = new WeakMap();

/**
 * The prototype a response of prototype `proto` is given while watched: the body reads of
 * `proto`, each first seeing (`WATCHED_READS`) or cloning (`OTHER_READS`) for the pacer, and
 * `body` read through (`readThrough`). Made once per prototype.
 * @param {any} proto
 */
function watchedProto(proto) {
  let w = watchedProtos.get(proto);
  if (w) return w;
  w = Object.create(proto);
  const own = (name, value) => Object.defineProperty(w, name, { value, configurable: true, writable: true });
  for (const [name, text] of Object.entries(WATCHED_READS)) {
    const read = proto[name];
    if (typeof read == "function")
      own(name, function (...args) {
        const p = read.apply(this, args);
        const watch = start(this);
        if (watch) handOver(p, watch, text);
        return behindClone(this, p);
      });
  }
  for (const name of OTHER_READS) {
    const read = proto[name];
    if (typeof read == "function")
      own(name, function (...args) {
        readClone(this);
        return name == "clone" ? read.apply(this, args) : behindClone(this, read.apply(this, args));
      });
  }
  let at = proto;
  let body;
  while (at && !(body = Object.getOwnPropertyDescriptor(at, "body"))) at = Object.getPrototypeOf(at);
  if (body?.get) {
    const get = body.get;
    Object.defineProperty(w, "body", {
      configurable: true,
      get() {
        /** @type {Watch | undefined} */
        const watch = this[WATCH];
        if (!watch || (watch.started && !watch.stream)) return get.call(this);
        watch.stream ??= readThrough(this, get.call(this), watch);
        return watch.stream;
      },
    });
  }
  watchedProtos.set(proto, w);
  return w;
}

/**
 * The `body` of a watched response: a stream of the body's own bytes, read through one
 * reader, no tee (as a stream's, stream-resume.js), so that the caller's `cancel()` cancels
 * the body at once, and a read's error reaches the caller with the call's credentials
 * scrubbed. Nothing is read until the caller reads (`highWaterMark` 0), so a body looked at
 * and then read by `json()` is still watched as that read; once the caller reads it, the
 * bytes are kept and handed over at the end (a clone's read kept them as well), nothing if
 * it is cancelled or fails. `null` for a response without a body.
 * @param {any} response
 * @param {ReadableStream<Uint8Array> | null} native
 * @param {Watch} watch
 */
function readThrough(response, native, watch) {
  if (!native) return native;
  /** @type {ReadableStreamDefaultReader<Uint8Array> | undefined} */
  let reader;
  /** @type {Uint8Array[] | undefined} The bytes so far, while this read is the watched one. */
  let kept;
  const over = (/** @type {unknown} */ doc) => {
    if (kept) watch.report(watch.id, doc, true);
    kept = undefined;
  };
  try {
    return new ReadableStream(
      {
        async pull(ctl) {
          if (!reader) {
            if (start(response)) kept = [];
            reader = native.getReader();
          }
          let r;
          try {
            r = await reader.read();
          } catch (e) {
            over(undefined);
            throw bodyError(e, watch);
          }
          if (r.done) {
            if (kept) over(joined(kept));
            ctl.close();
            return;
          }
          if (kept && r.value instanceof Uint8Array) kept.push(r.value);
          ctl.enqueue(r.value);
        },
        cancel(reason) {
          over(undefined);
          return (reader ?? native).cancel(reason);
        },
      },
      { highWaterMark: 0 },
    );
  } catch {
    return native;
  }
}

// usage-places:begin
/**
 * Where the module looks for usage in a parsed document: the paths of its usage objects and
 * their fields' names, `core::usage::PATHS` and `FIELDS` in their order (tests/usage.rs holds
 * the two equal, between the markers).
 */
const USAGE_PLACES = [
  [["usage"], ["message", "usage"], ["response", "usage"], ["usageMetadata"]],
  [
    "input_tokens",
    "prompt_tokens",
    "promptTokenCount",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
    "completion_tokens",
    "candidatesTokenCount",
    "thoughtsTokenCount",
  ],
];
// usage-places:end

/**
 * The numbers of a parsed document's usage objects, as the module takes them
 * (`RawPacer.usageNumbers`; `core::usage::Report::take_numbers`): for each path of
 * `USAGE_PLACES` in order, one number per field name, NaN where that field is absent or not a
 * number, or where no object is at the path. A document that is an array (Gemini's stream
 * without `alt=sse`) gives such rows for each element that has a usage object, in order. What
 * they mean is the module's: one crossing a document instead of a property read each. Empty
 * if the document cannot be walked (a getter that throws).
 * @param {unknown} doc
 * @returns {Float64Array}
 */
export function usageNumbers(doc) {
  const width = USAGE_PLACES[0].length * USAGE_PLACES[1].length;
  try {
    if (!Array.isArray(doc)) return documentNumbers(doc) ?? new Float64Array(width).fill(Number.NaN);
    /** @type {Float64Array[]} */
    const rows = [];
    for (const d of doc) {
      const r = documentNumbers(d);
      if (r) rows.push(r);
    }
    const all = new Float64Array(rows.length * width);
    for (let i = 0; i < rows.length; i++) all.set(rows[i], i * width);
    return all;
  } catch {
    return new Float64Array(0);
  }
}

/**
 * The rows of one document (an object, or an element of a top-level array) as
 * {@link usageNumbers} gives them; `undefined` if it has no usage object. Throws what a getter
 * throws.
 * @param {unknown} d
 * @returns {Float64Array | undefined}
 */
function documentNumbers(d) {
  const [paths, fields] = USAGE_PLACES;
  /** @type {Float64Array | undefined} */
  let out;
  for (let p = 0; p < paths.length; p++) {
    /** @type {any} */
    let o = d;
    for (const key of paths[p]) o = isObject(o) ? o[key] : undefined;
    if (!isObject(o)) continue;
    out ??= new Float64Array(paths.length * fields.length).fill(Number.NaN);
    for (let i = 0; i < fields.length; i++) {
      const v = o[fields[i]];
      if (typeof v == "number") out[p * fields.length + i] = v;
    }
  }
  return out;
}

/**
 * A pacer's `jsonBody(response, id)`: hands the JSON body of a delivered response to
 * `report(id, doc, text)`, for its usage, without cloning it. The caller's own `json()`,
 * `text()`, `arrayBuffer()` or `bytes()` is watched: the response is given a child of its
 * prototype whose reads see the result first (`watchedProto`; `instanceof` and every other
 * property are as they were): the parsed document, or (`text`) the text or bytes; its `body`
 * is a stream of the same bytes through one reader, kept for the pacer. Read any
 * other way (`blob()`, `formData()`, `clone()`), or not started by the time
 * `later` calls back (the next macrotask), it is cloned first and the clone's bytes are
 * read, as a stream's are. `doc` is `undefined` when the body fails. Never throws. `keep`,
 * if given, is handed each clone's read (workerd's `waitUntil`: it outlives the request).
 * @param {(f: () => void) => void} later
 * @param {(id: number, doc: unknown, text?: boolean) => void} report
 * @param {(p: Promise<unknown>) => void} [keep]
 * @returns {(response: Response, id: number) => void}
 */
export function jsonBodies(later, report, keep) {
  /**
   * Responses delivered whose body no read has started yet (each leaves as its read starts:
   * a busy loop that reads every body holds none of them until `later` calls back).
   */
  const unread = new Set();
  let asked = false;
  const due = () => {
    asked = false;
    for (const response of unread) {
      const p = readClone(response);
      if (p && keep) keep(p);
    }
  };
  return (response, id) => {
    const proto = Object.getPrototypeOf(response);
    /** @type {Watch} */
    const watch = { started: false, id, report, proto, unread };
    try {
      Object.defineProperty(response, WATCH, { value: watch });
      Object.setPrototypeOf(response, watchedProto(proto));
    } catch {
      // Not extensible (frozen, a proxy that refuses), or watched already: the clone it is.
      const p = cloneRead(proto, response, watch);
      if (p && keep) keep(p);
      return;
    }
    unread.add(response);
    bodies.set(response, watch);
    if (!asked) {
      asked = true;
      later(due);
    }
  };
}
