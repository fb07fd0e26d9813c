// A delivered body the pacer does not read (no usage in it: text, audio, bytes) follows the
// caller's signal as `fetch`'s own does: its abort fails the body at once, though the call is
// done. The listener goes when the response is collected (as undici's does), so a long-lived
// signal does not keep one per response.

/** @type {FinalizationRegistry<[WeakRef<AbortSignal>, () => void]> | undefined} */
const unfollow =
  typeof FinalizationRegistry == "function"
    ? new FinalizationRegistry(([signal, listener]) => signal.deref()?.removeEventListener("abort", listener))
    : undefined;

/**
 * The caller's `signal` aborts `controller` (the attempt's, whose body `response` carries)
 * while `response` lives.
 * @param {Response} response @param {AbortSignal} signal @param {AbortController} controller
 */
export function follow(response, signal, controller) {
  if (signal.aborted) return controller.abort(signal.reason);
  // Nothing the registry holds reaches the response: the signal and the controller are held
  // weakly (the response holds its controller, `held`), for what they reach (a `fetch`
  // option's own listener on either, its promise, so the response itself) would keep the
  // response alive from the registry, and it would never be collected. (The listener is
  // made apart, `aborts`: a closure here would share this call's scope, all of it.)
  const listener = aborts(unfollow ? new WeakRef(controller) : { deref: () => controller });
  signal.addEventListener("abort", listener, { once: true });
  held.set(response, controller);
  unfollow?.register(response, [new WeakRef(signal), listener]);
}

/**
 * A listener that aborts the controller `ref` gives with its signal's reason.
 * @param {{ deref(): AbortController | undefined }} ref
 */
function aborts(ref) {
  return function (/** @type {Event} */ e) {
    ref.deref()?.abort(/** @type {AbortSignal} */ (e.target).reason);
  };
}

/** Each followed response's controller, while the response lives. */
const held = new WeakMap();
