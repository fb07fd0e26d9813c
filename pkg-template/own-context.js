// workerd: each call's own context (the `own` of binding.js's `host`, given by the workerd
// entry only; pacer-class.js uses it for every call where it is given).

/** The longest a waiting call's own timer sleeps before it steps the pacer again (workerd). */
const OWN_TIMER_MAX_MS = 1000;

/**
 * A call's own context (workerd, where every request has one, whose I/O and timers are its
 * alone, and which is cancelled as hung while it waits on nothing of its own): made in the
 * caller's context, it is where the call's attempts are sent from and its waits timed, whatever
 * request's code steps the shared pacer.
 * - `dispatch(id, attempt)`, the call's dispatcher (`RawPacer.fetch`): resolves a promise made
 *   here, whose continuation runs in this context (workerd runs a promise's continuations in
 *   the context that made it, whichever request resolves it) and sends the attempt
 *   (`RawPacer.dispatched`).
 * - a timer of its own while the call waits, at the pacer's next wake (at most
 *   OWN_TIMER_MAX_MS), which steps the pacer (`RawPacer.wake`): the pacer's own timer may
 *   belong to a request that ended, whose timers never fire.
 * `end()` once the call settles.
 * @param {any} raw
 */
export function ownContext(raw) {
  let fire;
  let timer;
  let ended = false;
  const arm = () =>
    new Promise((r) => {
      fire = r;
    }).then((a) => {
      if (ended) return;
      arm();
      try {
        raw.dispatched(a[0], a[1]);
      } catch {} // the module trapped: every call has been rejected
    });
  const plan = () => {
    timer = undefined;
    if (ended) return;
    let d;
    try {
      raw.wake();
      d = raw.wakeIn();
    } catch {
      return; // the module trapped: every call has been rejected
    }
    timer = setTimeout(plan, d < 0 || d > OWN_TIMER_MAX_MS ? OWN_TIMER_MAX_MS : d);
  };
  arm();
  return {
    dispatch: (id, attempt) => fire([id, attempt]),
    start: () => {
      if (!ended && timer === undefined) {
        let d;
        try {
          d = raw.wakeIn();
        } catch {
          return;
        }
        timer = setTimeout(plan, d < 0 || d > OWN_TIMER_MAX_MS ? OWN_TIMER_MAX_MS : d);
      }
    },
    end: () => {
      ended = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}
