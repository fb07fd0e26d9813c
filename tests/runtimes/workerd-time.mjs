// Deployed Workers freeze time: `Date.now()` is the time of the last I/O event (0 at global
// scope) and does not move while code runs; a timer firing or a fetch settling moves it
// (https://developers.cloudflare.com/workers/runtime-apis/performance/). Local workerd
// (Miniflare, `wrangler dev`) lets the clock run instead. Imported first by worker.mjs, this
// module gives the worker the deployed semantics, so the tests see what production would:
// a pacer wait that no I/O ends must still end on its own timer.
const realNow = Date.now;
let frozen = 0;
/** An I/O event: time moves to now. */
export const ioEvent = () => {
  frozen = realNow();
};
Date.now = () => frozen;

const realSetTimeout = globalThis.setTimeout;
globalThis.setTimeout = (callback, ms, ...args) =>
  realSetTimeout(() => {
    ioEvent();
    callback(...args);
  }, ms);

const realFetch = globalThis.fetch;
globalThis.fetch = (...args) => realFetch(...args).finally(ioEvent);
