// A stream the pacer peeked at, handed to the caller: the driver read its first event from
// the body itself (src/wasm/stream.rs), so the caller gets a response with the same head
// whose body gives those bytes, then the rest of the stream, each chunk shown to the pacer on
// its way. One reader, no tee: when the caller stops reading (its reader's cancel, a `for
// await` loop left early, a pipe cancelled downstream), the stream itself is cancelled, as it
// is without the pacer; a body the caller never reads is still read to its end (buffered for
// it, as a tee would), so that its usage is known. A read's error reaches the caller with the
// call's credentials scrubbed (scrub.js).

import { bodies, bodyError } from "./scrub.js";

/** What a constructed response lacks that the original has (own values, as the original's). */
const HEAD = ["url", "redirected", "type"];

/**
 * The pacer's `pump(response, reader, id, bytes, pending, signal)`: the response to deliver.
 * Each chunk goes to `chunk(id, bytes)` while it returns true; the end to `end(id,
 * complete)`, once (`complete`: the stream ended; false when it failed or the caller
 * cancelled it). `id` < 0: nothing to hand over. `reader` undefined: the stream had ended.
 * `pending`: a read under way when the peek stopped waiting, the next chunk. `signal`: the
 * caller's; its abort fails the body with its reason and cancels the stream at once, as it
 * does a `fetch` body (even when the `fetch` option does not heed it). Never throws: with no
 * way to make a response, `undefined` (the driver then delivers the original as it is).
 * In workerd, `beating(gone)` watches the stream from its caller's request (own-context.js):
 * if that request is gone, `gone` ends the call as a cancel would.
 * @param {(id: number, bytes: Uint8Array) => boolean} chunk
 * @param {(id: number, complete: boolean) => void} end
 * @param {(gone: () => void) => () => void} [beating]
 */
export const resumer = (chunk, end, beating) => (response, reader, id, bytes, pending, signal) => {
  let feeding = id >= 0;
  let over = false;
  /** @type {(() => void) | undefined} */
  let unwatch;
  /** Where `delivered` puts the call's input and init (scrub.js). */
  const owner = {};
  /** @type {ReadableStreamDefaultController<Uint8Array>} */
  let ctl;
  const stop = (complete) => {
    over = true;
    unwatch?.();
    signal?.removeEventListener("abort", aborted);
    if (feeding) end(id, complete);
    feeding = false;
  };
  /** The caller aborted: its body fails with the reason, the stream is cancelled. */
  const aborted = () => {
    if (over) return;
    const reason = signal.reason;
    fail(reason);
    reader?.cancel(reason).catch(() => {});
  };
  /** The stream failed (a read rejected): the caller's body fails with the same error. */
  const fail = (/** @type {unknown} */ e) => {
    if (over) return;
    stop(false);
    try {
      ctl.error(e);
    } catch {}
  };
  /** @param {ReadableStreamReadResult<any>} r */
  const got = (r) => {
    if (over) return;
    try {
      if (r.done) {
        stop(true);
        ctl.close();
        return;
      }
      const value = r.value;
      if (feeding && value instanceof Uint8Array) feeding = chunk(id, value);
      ctl.enqueue(value);
      next(reader.read());
    } catch (e) {
      fail(e);
    }
  };
  /** @param {Promise<ReadableStreamReadResult<any>>} p */
  const next = (p) => p.then(got, (e) => fail(bodyError(e, owner)));
  let body;
  try {
    body = new ReadableStream({
      start(c) {
        ctl = c;
        if (bytes.length > 0) c.enqueue(bytes);
        next(pending ?? reader?.read() ?? Promise.resolve({ done: true }));
      },
      cancel(reason) {
        if (over) return;
        stop(false);
        return reader?.cancel(reason);
      },
    });
    const copy = new Response(body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
    bodies.set(copy, owner);
    /** @type {[string, unknown][]} */
    const own = [];
    for (const k of HEAD) {
      const v = response[k];
      if (v !== undefined && copy[k] !== v) own.push([k, v]);
    }
    if (own.length > 0) {
      /** @param {Response} r */
      const head = (r) => {
        for (const [k, value] of own) Object.defineProperty(r, k, { value, configurable: true });
        return r;
      };
      head(copy);
      // A clone has them too (`Response.clone` gives a new response, without own values).
      const clone = copy.clone;
      Object.defineProperty(copy, "clone", {
        value: function () {
          return head(clone.call(this));
        },
        configurable: true,
        writable: true,
      });
    }
    try {
      if (signal?.aborted) aborted();
      else signal?.addEventListener("abort", aborted, { once: true });
    } catch {} // a signal that is no EventTarget: the `fetch` option's own abort remains
    if (feeding && !over && beating) unwatch = beating(() => stop(false));
    return copy;
  } catch {
    over = true;
    return undefined;
  }
};
