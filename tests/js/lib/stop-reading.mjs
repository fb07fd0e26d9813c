// The ways a caller stops reading a response's body early, without an abort signal: each
// cancels the body's stream, as `fetch` callers and SDKs do (instream.test.mjs,
// stream-stop.test.mjs).

/** `[how, stop(body)]` pairs. */
export const STOP_WAYS = [
  [
    "leaves its for await loop",
    async (/** @type {ReadableStream} */ body) => {
      let n = 0;
      for await (const _ of body) if (++n >= 3) break;
    },
  ],
  [
    "cancels its reader",
    async (/** @type {ReadableStream} */ body) => {
      const reader = body.getReader();
      await reader.read();
      await reader.cancel();
    },
  ],
  ["cancels the body", (/** @type {ReadableStream} */ body) => body.cancel()],
  [
    "pipes it on and cancels downstream",
    async (/** @type {ReadableStream} */ body) => {
      const reader = body.pipeThrough(new TextDecoderStream()).getReader();
      await reader.read();
      await reader.cancel();
    },
  ],
];
