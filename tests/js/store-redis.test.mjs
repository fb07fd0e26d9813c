// llm-pacer/redis (issue 11): the Lua script against the Rust core (differential, seeded
// operation sequences from examples/store_ops.rs), on a real redis-server started here, through
// the real ioredis and node-redis clients; EVALSHA with the NOSCRIPT fallback; hash-tagged keys.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import Redis from "ioredis";
import { createClient } from "redis";
import { redisStore, redisScript } from "llm-pacer/redis";
import { startRedis } from "./lib/redis-server.mjs";
import { reference, differential } from "./lib/store-replay.mjs";

let server, ioredis, noderedis;

before(async () => {
  server = await startRedis();
  ioredis = new Redis(server.port, "127.0.0.1", { lazyConnect: false, maxRetriesPerRequest: 1 });
  noderedis = createClient({ url: server.url });
  await noderedis.connect();
});

after(async () => {
  ioredis?.disconnect();
  await noderedis?.quit().catch(() => {});
  await server?.stop();
});

test("the Lua script makes every decision and level the Rust core makes (ioredis)", async () => {
  const steps = reference(30, 300);
  const n = await differential(redisStore(ioredis, { prefix: "t-io" }), "io", steps);
  assert.equal(n, steps.length);
  assert.ok(
    steps.some((s) => s.kind === "wait") &&
      steps.some((s) => s.kind === "never") &&
      steps.some((s) => s.kind === "admit") &&
      steps.some((s) => s.dim === "5"), // the opening probe's wait
  );
});

test("the same through node-redis", async () => {
  const steps = reference(10, 200);
  await differential(redisStore(noderedis, { prefix: "t-nr" }), "nr", steps);
});

test("keys are hash-tagged under the prefix and carry the limit key id only", async () => {
  const store = redisStore(ioredis, { prefix: "tag" });
  await store.reserve("org-abc:claude-sonnet", { limits: { rpm: 10 }, input: 1, output: 1 });
  assert.deepEqual(await ioredis.keys("{tag:*"), ["{tag:org-abc:claude-sonnet}"]);
  assert.ok((await ioredis.pttl("{tag:org-abc:claude-sonnet}")) > 0, "the key expires");
  assert.throws(() => redisStore(ioredis, { prefix: "a{b" }), TypeError);
  assert.throws(() => redisStore(ioredis, { prefix: "" }), /non-empty string/);
  assert.throws(() => redisStore({}), TypeError);
  // ioredis's own `keyPrefix` (or a typo) is not taken silently for the default prefix.
  assert.throws(
    () => redisStore(ioredis, { keyPrefix: "tag" }),
    (e) => e instanceof TypeError && /unknown option "keyPrefix"; did you mean "prefix"/.test(e.message),
  );
  assert.throws(() => redisStore(ioredis, []), TypeError);
});

test("two clients share one key: all-or-nothing, the last tokens go once", async () => {
  const a = redisStore(ioredis, { prefix: "share" });
  const b = redisStore(noderedis, { prefix: "share" });
  const limits = { rpm: 100, otpm: 1000 };
  // 500 of 1000 taken; two ask for 400 (which needs 400 plus a transit's refill, ~4).
  assert.equal((await a.reserve("k", { limits, input: 0, output: 500 })).admit, true);
  const [x, y] = await Promise.all([
    a.reserve("k", { limits, input: 0, output: 400 }),
    b.reserve("k", { limits, input: 0, output: 400 }),
  ]);
  assert.equal([x, y].filter((r) => r.admit).length, 1);
  const waiting = x.admit ? y : x;
  assert.equal(waiting.blocker, "outputTokens");
  assert.ok(waiting.waitMs > 0);
  // Settlement gives back what was not used; the waiting request then goes.
  await a.settle("k", { input: 0, output: 500 }, { input: 0, output: 0 });
  assert.equal((await b.reserve("k", { limits, input: 0, output: 400, turn: true })).admit, true);
  const lv = await b.levels("k");
  // 1000 - 500 - 400 + 500 given back - 400 = 200, plus the refill of the few ms since (~0.017/ms).
  assert.ok(lv.levels.outputTokens >= 200 && lv.levels.outputTokens < 210, JSON.stringify(lv));
  // A 429 pauses the whole fleet; headers lower the level.
  await a.pause("k", 5_000);
  const p = await b.reserve("k", { limits, input: 0, output: 0 });
  assert.equal(p.blocker, "paused");
  assert.ok(p.waitMs > 4_000 && p.waitMs <= 5_000);
  await b.learn("k", [{ dim: "requests", limit: 50, remaining: 10 }]);
  const req = (await a.levels("k")).levels.requests; // 10, plus the refill of a few ms
  assert.ok(req >= 10 && req < 10.1, String(req));
  const n = await a.reserve("k", { limits, input: 0, output: 2000 });
  assert.equal(n.never, "outputTokens");
});

test("EVALSHA, and after SCRIPT FLUSH the NOSCRIPT fallback to EVAL (both clients)", async () => {
  for (const [i, client] of [ioredis, noderedis].entries()) {
    const store = redisStore(client, { prefix: `flush${i}` });
    await store.reserve("k", { limits: { rpm: 1000 }, input: 0, output: 0 });
    await store.reserve("k", { limits: { rpm: 1000 }, input: 0, output: 0 });
    assert.equal(store.stats().noscript, 0);
    assert.ok(store.stats().evalsha >= 1);
    const sha = createHash("sha1").update(redisScript).digest("hex");
    assert.deepEqual((await ioredis.script("EXISTS", sha)).map(Number), [1]);
    await ioredis.script("FLUSH");
    const r = await store.reserve("k", { limits: { rpm: 1000 }, input: 0, output: 0 });
    assert.equal(r.admit, true);
    assert.equal(store.stats().noscript, 1);
    const left = (await store.levels("k")).levels.requests; // 3 taken, refilled ~0.017/ms since
    assert.ok(left >= 997 && left < 998, String(left));
    assert.deepEqual((await ioredis.script("EXISTS", sha)).map(Number), [1], "EVAL cached it again");
  }
});

test("the store's clock answers: waits are durations from Redis TIME", async () => {
  const store = redisStore(ioredis, { prefix: "clock" });
  const t = await ioredis.time();
  const redisNow = Number(t[0]) * 1000 + Number(t[1]) / 1000;
  const r = await store.reserve("k", { limits: { rpm: 1 }, input: 0, output: 0 });
  assert.ok(Math.abs(r.now - redisNow) < 5_000);
  const w = await store.reserve("k", { limits: { rpm: 1 }, input: 0, output: 0 });
  assert.equal(w.admit, false);
  assert.ok(w.waitMs > 50_000 && w.waitMs <= 60_001);
});
