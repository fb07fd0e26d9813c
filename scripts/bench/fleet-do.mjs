// The fleet bench's Durable Object store (`fleet.mjs --store do`): K Workers in one Miniflare
// (workerd), each with its own pacer (one for its one request: its whole share of the work),
// sharing `llm-pacer/cloudflare`'s `PacerLimits` (defined by the first Worker, bound by the
// others to the same class). Each Worker runs its share of the requests from one request of
// the bench and answers what fleet.mjs's Node processes report.
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const PKG = join(REPO, "pkg");
const WORKER = join(REPO, "scripts", "bench", "fleet-do.worker.mjs");

const script = `
import { Pacer } from "../../pkg/web/workerd.js";
import { PacerLimits, durableObjectStore } from "../../pkg/web/cloudflare.js";
export { PacerLimits };

export default {
  async fetch(request, env) {
    const work = await request.json();
    const storeMs = [];
    const storeOps = {};
    const store = timed(durableObjectStore(env.LIMITS), storeMs, storeOps);
    const pacer = new Pacer({ concurrency: work.concurrency, store });
    let ok = 0;
    let failed = 0;
    const errors = [];
    await Promise.all(
      work.bodies.map(async (body) => {
        try {
          const res = await pacer.fetch(work.url + "/v1/messages", {
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
            if (errors.length < 3) errors.push("HTTP " + res.status);
          }
        } catch (e) {
          failed++;
          if (errors.length < 3) errors.push(String(e?.code ?? e));
        }
      }),
    );
    // The last calls' settlements go to the store after their bodies end (in a Worker
    // waitUntil keeps them): counted once they are out. fleet.mjs takes the makespan at the
    // server's last answer, not at this response.
    await new Promise((r) => setTimeout(r, 200));
    return Response.json({ ok, failed, errors, rateLimited: pacer.stats().rateLimited, storeMs, storeOps });
  },
};

// The store with each method timed (workerd's clock moves at I/O, which each call is).
function timed(store, into, counts) {
  return new Proxy(store, {
    get(target, name, receiver) {
      const v = Reflect.get(target, name, receiver);
      if (typeof v !== "function") return v;
      return (...args) => {
        counts[String(name)] = (counts[String(name)] ?? 0) + 1;
        const t = performance.now();
        const p = v.apply(target, args);
        return Promise.resolve(p).finally(() => into.push(performance.now() - t));
      };
    },
  });
}
`;

const modules = [
  { type: "ESModule", path: WORKER, contents: script },
  ...["web/workerd.js", "web/cloudflare.js", "web/llm_pacer_do.js"].map((f) => ({
    type: "ESModule",
    path: join(PKG, f),
  })),
  { type: "CompiledWasm", path: join(PKG, "llm_pacer_do_bg.wasm") },
];

/**
 * Starts K Workers sharing one `PacerLimits` namespace. Returns `{ ready, send(i, work),
 * dispose() }`: `send` runs Worker i's share and resolves to its report.
 * @param {number} k
 */
export async function doFleet(k) {
  const { Miniflare } = await import("miniflare");
  // The Worker's own `fetch` timeout would cut a long batch; none applies in Miniflare.
  const worker = { modulesRoot: REPO, modules, compatibilityDate: "2025-09-01" };
  const mf = new Miniflare({
    workers: Array.from({ length: k }, (_, i) => ({
      name: `w${i}`,
      ...worker,
      durableObjects: { LIMITS: i === 0 ? "PacerLimits" : { className: "PacerLimits", scriptName: "w0" } },
    })),
  });
  await mf.ready;
  const workers = await Promise.all(Array.from({ length: k }, (_, i) => mf.getWorker(`w${i}`)));
  return {
    /** @param {number} i @param {object} work */
    async send(i, work) {
      const res = await workers[i].fetch("http://localhost/run", { method: "POST", body: JSON.stringify(work) });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`worker w${i}: ${res.status} ${text.slice(0, 500)}`);
      return JSON.parse(text);
    },
    dispose: () => mf.dispose(),
  };
}
