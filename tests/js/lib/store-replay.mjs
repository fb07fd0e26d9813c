// The differential replay of the store's Lua script against the Rust core (issue 11): seeded
// operation sequences from examples/store_ops.rs (the reference, core::store) driven through a
// `redisStore` on any client, every decision, wait and level compared. Used by
// store-redis.test.mjs (ioredis, node-redis) and store-clients.test.mjs (@upstash/redis
// through a local REST shim, ioredis Cluster).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../..", import.meta.url));

/**
 * One step of the reference: the operation, its arguments and store clock, and what the core
 * answered (`kind`, `wait`, `dim`, `now`, `levels`).
 * @typedef {{ seed: number, op: string, args: (string | number)[], now: number, kind: string, wait: number, dim: string, levels: (number | null)[] }} Step
 */

/**
 * The reference: core::store driven by the seeded sequences (examples/store_ops.rs).
 * @param {number} seeds @param {number} ops
 * @returns {Step[]}
 */
export function reference(seeds, ops) {
  const out = execFileSync("cargo", ["run", "-q", "--example", "store_ops", "--", String(seeds), String(ops)], {
    cwd: root,
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  return out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
}

const close = (/** @type {number} */ a, /** @type {number} */ b) =>
  Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));

/**
 * Replay `steps` through `store` (its `_op` test hook: the store's clock replaced by each
 * step's), one key per seed under `tag`; asserts every answer equals the reference's.
 * @param {{ _op: (op: string, key: string, args: any[], now: number) => Promise<any> }} store
 * @param {string} tag @param {Step[]} steps
 * @returns {Promise<number>} steps compared
 */
export async function differential(store, tag, steps) {
  let compared = 0;
  for (const s of steps) {
    const key = `diff-${tag}-${s.seed}`;
    const r = await store._op(s.op, key, s.args, s.now);
    const where = `${tag} seed ${s.seed} ${s.op}(${s.args.join(",")}) at ${s.now}`;
    assert.equal(r.kind, s.kind, where);
    assert.equal(r.now, s.now, where);
    if (s.kind === "wait") assert.ok(close(r.waitMs, s.wait), `${where}: wait ${r.waitMs} vs ${s.wait}`);
    if (s.dim !== "") assert.equal(r.dim, Number(s.dim), where);
    for (let d = 0; d < 4; d++) {
      const want = s.levels[d];
      if (want === null) assert.equal(r.levels[d], undefined, `${where}: dim ${d + 1}`);
      else assert.ok(close(r.levels[d], want), `${where}: dim ${d + 1} level ${r.levels[d]} vs ${want}`);
    }
    compared++;
  }
  return compared;
}
