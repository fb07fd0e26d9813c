// The fleet bench's Durable Object store (`fleet.mjs --store do`): K Workers in one Miniflare
// (workerd), each with its own pacer (one for its one request: its whole share of the work),
// sharing `llm-pacer/cloudflare`'s `PacerLimits` (defined by the first Worker, bound by the
// others to the same class). Each Worker runs its share of the requests from one request of
// the bench and answers what fleet.mjs's Node processes report.
import { join } from "node:path";
import { REPO, workerdModules } from "../../tests/runtimes/harness.mjs";

const WORKER = join(REPO, "scripts", "bench", "fleet-do.worker.mjs");

const script = `
import { Pacer } from "../../pkg/web/workerd.js";
import { PacerLimits, durableObjectStore } from "../../pkg/web/cloudflare.js";
import { runShare, timed } from "./fleet-share.mjs";
export { PacerLimits };

export default {
  async fetch(request, env) {
    const work = await request.json();
    const storeMs = [];
    const storeOps = {};
    const store = timed(durableObjectStore(env.LIMITS), storeMs, storeOps);
    const pacer = new Pacer({ concurrency: work.concurrency, store });
    const report = await runShare(pacer, work);
    // The last calls' settlements go to the store after their bodies end (in a Worker
    // waitUntil keeps them): counted once they are out. fleet.mjs takes the makespan at the
    // server's last answer, not at this response.
    await new Promise((r) => setTimeout(r, 200));
    return Response.json({ ...report, storeMs, storeOps });
  },
};
`;

const modules = [
  ...workerdModules(WORKER, script),
  { type: "ESModule", path: join(REPO, "scripts", "bench", "fleet-share.mjs") },
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
