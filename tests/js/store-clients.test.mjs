// llm-pacer/redis on the other clients (issue 11 item 6): @upstash/redis, through a local
// stand-in for Upstash's REST API (tests/js/lib/upstash-rest.mjs: no real Upstash is
// reachable here) in front of a real redis-server, and ioredis Cluster on a real 3-master
// Redis Cluster. For each: the differential replay of the Lua script against the Rust core
// (tests/js/lib/store-replay.mjs), the NOSCRIPT fallback, and two pacers sharing one key.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import Redis from "ioredis";
import { Redis as UpstashRedis } from "@upstash/redis";
import { redisStore } from "llm-pacer/redis";
import { startRedis, startRedisCluster } from "./lib/redis-server.mjs";
import { startUpstashShim } from "./lib/upstash-rest.mjs";
import { reference, differential } from "./lib/store-replay.mjs";
import { shareOneKey } from "./lib/store-share.mjs";

/** @type {Awaited<ReturnType<typeof startRedis>>} */
let server;
/** @type {Awaited<ReturnType<typeof startUpstashShim>>} */
let shim;
/** @type {Awaited<ReturnType<typeof startRedisCluster>>} */
let cluster;
/** @type {Redis} */
let admin;
/** @type {import("./lib/store-replay.mjs").Step[]} */
let steps;

before(async () => {
  steps = reference(10, 200);
  server = await startRedis();
  shim = await startUpstashShim(server.port);
  admin = new Redis(server.port, "127.0.0.1", { maxRetriesPerRequest: 1 });
  cluster = await startRedisCluster();
});

after(async () => {
  admin?.disconnect();
  await shim?.close();
  await server?.stop();
  await cluster?.stop();
});

const upstash = () => new UpstashRedis({ url: shim.url, token: shim.token });
const clusterClient = () => new Redis.Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 1 } });

/**
 * Two pacers on one key through `stores` (one each): 65 calls each at rpm 120 (130, 10 beyond
 * the bucket, which go at the refill).
 * @param {[import("llm-pacer").PacerStore, import("llm-pacer").PacerStore]} stores
 */
const share = (stores) => shareOneKey(stores, { rpm: 120, perPacer: 65 });

test("@upstash/redis (REST, base64 responses, auto-pipelining): the Lua script makes every decision the Rust core makes", async () => {
  const before = { ...shim.stats.commands };
  const n = await differential(redisStore(upstash(), { prefix: "t-up" }), "up", steps);
  assert.equal(n, steps.length);
  assert.ok(steps.some((s) => s.kind === "wait") && steps.some((s) => s.kind === "never"));
  // It went through the REST protocol as @upstash/redis speaks it.
  assert.ok((shim.stats.commands.evalsha ?? 0) - (before.evalsha ?? 0) >= steps.length);
  assert.ok(shim.stats.base64 > 0 && shim.stats.pipelines > 0, JSON.stringify(shim.stats));
  assert.ok((await admin.keys("{t-up:diff-up-*")).length > 0);
  // A wrong token is refused by the shim (and the store's call rejects).
  const wrong = redisStore(new UpstashRedis({ url: shim.url, token: "wrong", retry: false }), { prefix: "t-up" });
  await assert.rejects(wrong.reserve("k", { limits: { rpm: 10 }, input: 0, output: 0 }), /Unauthorized/);
});

test("@upstash/redis: EVALSHA, and after SCRIPT FLUSH the NOSCRIPT fallback to EVAL", async () => {
  const store = redisStore(upstash(), { prefix: "up-flush" });
  const limits = { rpm: 1000 };
  await store.reserve("k", { limits, input: 0, output: 0 });
  await store.reserve("k", { limits, input: 0, output: 0 });
  assert.equal(store.stats().noscript, 0);
  await admin.script("FLUSH");
  const evals = shim.stats.commands.eval ?? 0;
  assert.equal((await store.reserve("k", { limits, input: 0, output: 0 })).admit, true);
  assert.equal(store.stats().noscript, 1);
  assert.equal((shim.stats.commands.eval ?? 0) - evals, 1, "one EVAL reached Redis through the REST API");
  await store.reserve("k", { limits, input: 0, output: 0 });
  assert.equal(store.stats().noscript, 1, "cached again");
  const left = (await store.levels("k")).levels.requests ?? 0;
  assert.ok(left >= 996 && left < 997, String(left));
});

test("@upstash/redis: two pacers sharing one key never exceed the server's limits together", async () => {
  await share([redisStore(upstash(), { prefix: "up-share" }), redisStore(upstash(), { prefix: "up-share" })]);
});

test("ioredis Cluster (3 masters): the Lua script makes every decision the Rust core makes, keys on several nodes", async () => {
  const c = clusterClient();
  try {
    const store = redisStore(c, { prefix: "t-cl" });
    const n = await differential(store, "cl", steps);
    assert.equal(n, steps.length);
    // The script was loaded on every master: no node answered NOSCRIPT.
    assert.equal(store.stats().noscript, 0, JSON.stringify(store.stats()));
    // Each limit key is one hash slot; the replay's keys are spread over the masters.
    const perNode = await Promise.all(c.nodes("master").map((node) => node.keys("{t-cl:*")));
    assert.equal(perNode.flat().length, new Set(steps.map((s) => s.seed)).size);
    assert.ok(perNode.filter((k) => k.length > 0).length >= 2, `keys per master: ${perNode.map((k) => k.length)}`);
  } finally {
    c.disconnect();
  }
});

test("ioredis Cluster: two pacers sharing one key never exceed the server's limits together", async () => {
  const [ca, cb] = [clusterClient(), clusterClient()];
  try {
    await share([redisStore(ca, { prefix: "cl-share" }), redisStore(cb, { prefix: "cl-share" })]);
  } finally {
    ca.disconnect();
    cb.disconnect();
  }
});
