// One process's share of the fleet bench (fleet.mjs's Node processes, fleet-do.mjs's Workers):
// its requests at once through its own pacer, and the store's calls timed.

/**
 * Sends `work.bodies` at once through `pacer` to `work.url` (an Anthropic-like server; as
 * streams with `work.stream`) and reads each answer whole.
 * @param {{ fetch: typeof fetch, stats(): { rateLimited: number } }} pacer
 * @param {{ url: string, bodies: object[], stream?: boolean }} work
 * @returns {Promise<{ ok: number, failed: number, errors: string[], rateLimited: number }>}
 *   `errors`: the first three.
 */
export async function runShare(pacer, work) {
  let ok = 0;
  let failed = 0;
  /** @type {string[]} */
  const errors = [];
  await Promise.all(
    work.bodies.map(async (body) => {
      try {
        const res = await pacer.fetch(`${work.url}/v1/messages`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "x-api-key": "sk-ant-fleet-bench",
            "anthropic-version": "2023-06-01",
          },
          body: JSON.stringify(work.stream ? { ...body, stream: true } : body),
        });
        await res.arrayBuffer();
        if (res.ok) ok++;
        else {
          failed++;
          if (errors.length < 3) errors.push(`HTTP ${res.status}`);
        }
      } catch (e) {
        failed++;
        if (errors.length < 3) errors.push(String(/** @type {any} */ (e)?.code ?? e));
      }
    }),
  );
  return { ok, failed, errors, rateLimited: pacer.stats().rateLimited };
}

/**
 * The store with each of its methods timed (ms per call, into `into`; in workerd the clock
 * moves at I/O, which each call is) and counted (per method, into `counts`).
 * @template {object} S
 * @param {S} store @param {number[]} into @param {Record<string, number>} counts
 * @returns {S}
 */
export function timed(store, into, counts) {
  return new Proxy(store, {
    get(target, name, receiver) {
      const v = Reflect.get(target, name, receiver);
      if (typeof v !== "function") return v;
      return (/** @type {any[]} */ ...args) => {
        counts[String(name)] = (counts[String(name)] ?? 0) + 1;
        const t = performance.now();
        const p = v.apply(target, args);
        return Promise.resolve(p).finally(() => into.push(performance.now() - t));
      };
    },
  });
}
