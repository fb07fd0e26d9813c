// A delivered body the pacer does not read (no usage in it: text, audio, bytes) follows the
// caller's signal as `fetch`'s own does: its abort fails the body at once, though the call is
// done. The listener goes when the response is collected (as undici's does), so a long-lived
// signal does not keep one per response.

/** @type {FinalizationRegistry<[AbortSignal, () => void]> | undefined} */
const unfollow =
  typeof FinalizationRegistry == "function"
    ? new FinalizationRegistry(([signal, listener]) => signal.removeEventListener("abort", listener))
    : undefined;

/**
 * The caller's `signal` aborts `controller` (the attempt's, whose body `response` carries)
 * while `response` lives.
 * @param {Response} response @param {AbortSignal} signal @param {AbortController} controller
 */
export function follow(response, signal, controller) {
  if (signal.aborted) return controller.abort(signal.reason);
  const listener = () => controller.abort(signal.reason);
  signal.addEventListener("abort", listener, { once: true });
  unfollow?.register(response, [signal, listener]);
}
