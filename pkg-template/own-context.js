// workerd: each call's own context (the `own` of binding.js's `host`, given by the workerd
// entry only; pacer-class.js uses it for every call where it is given).

/** The longest a waiting call's own timer sleeps before it steps the pacer again (workerd). */
const OWN_TIMER_MAX_MS = 1000;
/** How often a delivered stream's request shows it is alive (workerd). */
const BEAT_MS = 1000;
/** A silence this long: the stream's request is gone. */
const GONE_MS = 10_000;
/** The delivered streams still open: each one's last beat, and what ends its call. */
const open = new Set();

/**
 * Watch a delivered stream from its caller's request (workerd), which a timer of its own
 * shows alive while the stream is open. A client that goes away mid-stream ends that request,
 * and workerd runs none of its code again (neither the stream's `cancel` nor the end of its
 * pending read, `waitUntil` or not): the call would stay in flight for good, holding a slot of
 * `concurrency`. Its beats stop instead, and the next call of any request, or a waiting
 * call's timer, finds the silence (`sweep`) and ends it there (`gone`).
 * @param {() => void} gone
 * @returns {() => void} to call as the stream ends
 */
export function beating(gone) {
  const entry = { last: Date.now(), gone };
  open.add(entry);
  let timer;
  const beat = () => {
    entry.last = Date.now();
    timer = setTimeout(beat, BEAT_MS);
  };
  timer = setTimeout(beat, BEAT_MS);
  // (Not the timer of a request that is gone: another request's code clears none of its.)
  return () => open.delete(entry) && clearTimeout(timer);
}

/** End, from the current request, the calls of streams whose requests stopped beating. */
export function sweep() {
  if (open.size == 0) return;
  const now = Date.now();
  for (const e of open) {
    if (now - e.last <= GONE_MS) continue;
    open.delete(e);
    try {
      e.gone();
    } catch {} // the module trapped: every call has been rejected
  }
}

/**
 * A call's own context (workerd, where every request has one, whose I/O and timers are its
 * alone, and which is cancelled as hung while it waits on nothing of its own): made in the
 * caller's context, it is where the call's attempts are sent, aborted and settled from, and
 * its waits timed, whatever request's code steps the shared pacer. workerd runs a promise's
 * continuations in the context that made it, whichever request resolves it: what another
 * request's code hands over here is queued, and a promise made here is resolved to run it.
 * - `dispatch(id, attempt)`, the call's dispatcher (`RawPacer.fetch`): sends the attempt
 *   (`RawPacer.dispatched`, which makes its `AbortController` here); with attempt 0, runs
 *   what the pacer handed over to be done here (stop the timer of a read of the call's, cancel
 *   a body of its: they are its request's);
 *   `dispatch(controller, reason)`: aborts it (another request's `abort()` of that controller
 *   throws, and the attempt would go on).
 * - `end(f)`, once the call settles: ends the call's own context (its timer) and runs `f`,
 *   which settles the caller's promise, here.
 * - a timer of its own while the call waits, at the pacer's next wake (at most
 *   OWN_TIMER_MAX_MS), which steps the pacer (`RawPacer.wake`): the pacer arms no timer of
 *   its own for such calls (one request's timer, cancelled by another's code once the first
 *   ended, made workerd warn of a promise resolved from a different request context; and a
 *   timer of a request that ended never fires).
 * @param {any} raw
 */
export function ownContext(raw) {
  let fire;
  let timer;
  let ended = false;
  let queue = [];
  const arm = () =>
    new Promise((r) => {
      fire = r;
    }).then(() => {
      const q = queue;
      queue = [];
      arm();
      for (const m of q) {
        try {
          if (typeof m == "function") m();
          else if (typeof m[0] == "number") raw.dispatched(m[0], m[1]);
          else m[0].abort(m[1]);
        } catch {} // the module trapped (every call has been rejected), or an abort listener threw
      }
      // Whatever was handed over (an answer's retry among it), the pacer's next wake may
      // be nearer than this call's timer: it follows.
      if (!ended) rearm();
    });
  const post = (m) => {
    queue.push(m);
    fire();
  };
  const stop = () => {
    ended = true;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
  /** Arm the timer at the pacer's next wake (at most OWN_TIMER_MAX_MS away). */
  const rearm = () => {
    let d;
    try {
      d = raw.wakeIn();
    } catch {
      return; // the module trapped: every call has been rejected
    }
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(plan, d < 0 || d > OWN_TIMER_MAX_MS ? OWN_TIMER_MAX_MS : d);
  };
  const plan = () => {
    timer = undefined;
    if (ended) return;
    sweep();
    try {
      raw.wake();
    } catch {
      return;
    }
    rearm();
  };
  arm();
  return {
    dispatch: (a, b) => post([a, b]),
    end: (f) =>
      post(() => {
        stop();
        f();
      }),
    start: () => {
      if (!ended && timer === undefined) rearm();
    },
  };
}
