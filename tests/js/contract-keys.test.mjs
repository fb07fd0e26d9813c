// Limit keys through the package: one limiter state per (origin, organisation, model class),
// in virtual time, against a scripted `fetch` that answers per model and per API key. A 429
// on one model does not delay another; one model's headers never change another's learned
// limits; two API keys are isolated; no head-of-line blocking across keys; `limitKey`;
// per-class limits and whole-tier presets; option errors; and the keys held stay bounded.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Pacer } from "llm-pacer";
import { VirtualClock, drained, outcome, until } from "./lib/harness.mjs";

const URL_A = "https://api.anthropic.example/v1/messages";

/**
 * A scripted server: `answer({ model, apiKey, n })` gives `{ status, headers }` (default 200,
 * no headers). `log` has every attempt: `{ model, apiKey, t }` (virtual time).
 */
function server(clock, answer = () => ({})) {
  const log = [];
  const fetch = async (input, init) => {
    const body = JSON.parse(init.body);
    const h = new Headers(init.headers);
    const apiKey = h.get("x-api-key") ?? h.get("authorization");
    log.push({ model: body.model, apiKey, t: clock.t, url: String(input) });
    const { status = 200, headers = {} } = answer({ model: body.model, apiKey, n: log.length }) ?? {};
    const json =
      status === 200
        ? { type: "message", usage: { input_tokens: 10, output_tokens: 5 } }
        : { type: "error", error: { type: "rate_limit_error", message: "slow down" } };
    return new Response(JSON.stringify(json), { status, headers: { "content-type": "application/json", ...headers } });
  };
  return { fetch, log };
}

const init = (model, apiKey = "sk-ant-one", headers = {}) => ({
  method: "POST",
  headers: { "content-type": "application/json", "x-api-key": apiKey, ...headers },
  body: JSON.stringify({ model, max_tokens: 16, messages: [{ role: "user", content: "hi" }] }),
});

const anthropicHeaders = (rpm, rpmLeft, itpm, itpmLeft) => ({
  "anthropic-ratelimit-requests-limit": String(rpm),
  "anthropic-ratelimit-requests-remaining": String(rpmLeft),
  "anthropic-ratelimit-input-tokens-limit": String(itpm),
  "anthropic-ratelimit-input-tokens-remaining": String(itpmLeft),
});

const byModel = (pacer) => Object.fromEntries(pacer.limits().map((k) => [k.model, k]));
const ok = async (p) => {
  const r = await p;
  await r.text();
  return r.status;
};

describe("limit keys", () => {
  test("each event of a call names its key and model class, as limits() shows them", async () => {
    const clock = new VirtualClock();
    const s = server(clock);
    const events = [];
    const pacer = new Pacer({ clock, fetch: s.fetch, seed: 1, onEvent: (e) => events.push(e) });
    await Promise.all([
      ok(pacer.fetch(URL_A, init("claude-opus-4-1"))),
      ok(pacer.fetch(URL_A, init("claude-haiku-4-5"))),
    ]);
    await drained(pacer);
    const keys = byModel(pacer);
    assert.deepEqual(Object.keys(keys).sort(), ["haiku", "opus"]);
    const calls = events.filter((e) => e.id !== undefined && e.type !== "warning");
    assert.ok(calls.length >= 6, "queued, admitted and settled for each call");
    for (const e of calls) {
      assert.ok(e.model === "opus" || e.model === "haiku", `${e.type}: model ${e.model}`);
      assert.equal(e.key, keys[e.model].key, `${e.type}: the key limits() shows for ${e.model}`);
    }
    assert.notEqual(keys.opus.key, keys.haiku.key);
    const text = JSON.stringify(events);
    assert.ok(!text.includes("sk-ant-one"), "never the API key");
  });

  test("with more keys than the events remember, each call's events still name its own key", async () => {
    const clock = new VirtualClock();
    const s = server(clock);
    const events = [];
    const pacer = new Pacer({ clock, fetch: s.fetch, seed: 1, onEvent: (e) => events.push(e) });
    // Twelve API keys, in two rounds, in turn and then in reverse: more than the few kept.
    const apiKeys = Array.from({ length: 12 }, (_, i) => `sk-ant-key-${i}`);
    const callKey = new Map();
    for (const order of [apiKeys, [...apiKeys].reverse(), apiKeys])
      for (const apiKey of order) {
        const before = events.length;
        await ok(pacer.fetch(URL_A, init("claude-haiku-4-5", apiKey)));
        await drained(pacer);
        const ids = new Set(events.slice(before).map((e) => e.id));
        assert.equal(ids.size, 1);
        callKey.set([...ids][0], apiKey);
      }
    const shownFor = new Map();
    for (const e of events.filter((e) => e.id !== undefined && e.type !== "warning")) {
      const apiKey = callKey.get(e.id);
      if (!shownFor.has(apiKey)) shownFor.set(apiKey, e.key);
      assert.equal(e.key, shownFor.get(apiKey), `${e.type} of call ${e.id}: the key of ${apiKey}`);
    }
    const shown = [...shownFor.values()];
    assert.equal(new Set(shown).size, 12, "twelve API keys, twelve keys");
    assert.deepEqual(
      shown.sort(),
      pacer
        .limits()
        .map((k) => k.key)
        .sort(),
    );
    pacer.close();
  });

  test("a 429 on one model does not delay another", async () => {
    const clock = new VirtualClock();
    const s = server(clock, ({ model, n }) =>
      model === "claude-opus-4-1" && n === 1 ? { status: 429, headers: { "retry-after": "30" } } : {},
    );
    const pacer = new Pacer({ clock, fetch: s.fetch, seed: 1 });
    const a = ok(pacer.fetch(URL_A, init("claude-opus-4-1")));
    await until(() => pacer.stats().rateLimited === 1, "the 429");
    const b = ok(pacer.fetch(URL_A, init("claude-haiku-4-5")));
    assert.deepEqual(await Promise.all([a, b]), [200, 200]);
    const [a1, a2] = s.log.filter((e) => e.model === "claude-opus-4-1");
    const [b1] = s.log.filter((e) => e.model === "claude-haiku-4-5");
    assert.ok(b1.t - a1.t < 1_000, `model B went at ${b1.t - a1.t} ms, not after A's pause`);
    assert.ok(a2.t - a1.t >= 30_000, `model A waited its pause: ${a2.t - a1.t} ms`);
    pacer.close();
  });

  test("one model's headers never change another's learned limits", async () => {
    const clock = new VirtualClock();
    const s = server(clock, ({ model }) => ({
      headers:
        model === "claude-sonnet-4-5"
          ? anthropicHeaders(50, 49, 30_000, 29_000)
          : anthropicHeaders(1_000, 0, 450_000, 0),
    }));
    const pacer = new Pacer({ clock, fetch: s.fetch });
    assert.equal(await ok(pacer.fetch(URL_A, init("claude-sonnet-4-5"))), 200);
    const before = byModel(pacer).sonnet;
    assert.equal(await ok(pacer.fetch(URL_A, init("claude-haiku-4-5"))), 200);
    await drained(pacer);
    const m = byModel(pacer);
    assert.deepEqual(Object.keys(m).sort(), ["haiku", "sonnet"]);
    assert.deepEqual([m.sonnet.requests.limit, m.sonnet.inputTokens.limit], [50, 30_000]);
    assert.deepEqual(
      [m.haiku.requests.limit, m.haiku.inputTokens.limit, m.haiku.requests.source],
      [1_000, 450_000, "headers"],
    );
    assert.equal(m.sonnet.requests.limit, before.requests.limit);
    // Haiku's 0 remaining requests hold haiku, not sonnet.
    const t0 = clock.t;
    await ok(pacer.fetch(URL_A, init("claude-sonnet-4-5")));
    assert.ok(clock.t - t0 < 100, `sonnet was not held by haiku's bucket (${clock.t - t0} ms)`);
    pacer.close();
  });

  test("two API keys through one pacer are isolated", async () => {
    const clock = new VirtualClock();
    const s = server(clock, ({ apiKey, n }) =>
      apiKey === "sk-ant-one" && n === 1 ? { status: 429, headers: { "retry-after": "20" } } : {},
    );
    const pacer = new Pacer({ clock, fetch: s.fetch, seed: 1 });
    const one = ok(pacer.fetch(URL_A, init("claude-sonnet-4-5", "sk-ant-one")));
    await until(() => pacer.stats().rateLimited === 1, "the 429");
    const two = ok(pacer.fetch(URL_A, init("claude-sonnet-4-5", "sk-ant-two")));
    assert.deepEqual(await Promise.all([one, two]), [200, 200]);
    const second = s.log.find((e) => e.apiKey === "sk-ant-two");
    assert.ok(second.t - s.log[0].t < 1_000, `the other organisation went at once (${second.t - s.log[0].t} ms)`);
    const keys = pacer.limits();
    assert.equal(keys.length, 2);
    assert.deepEqual(
      keys.map((k) => k.model),
      ["sonnet", "sonnet"],
    );
    assert.notEqual(keys[0].key, keys[1].key);
    for (const k of keys) assert.match(k.key, /^[0-9a-f]{12}$/);
    // Another origin is another key too.
    await ok(pacer.fetch("https://other.example/v1/messages", init("claude-sonnet-4-5", "sk-ant-one")));
    assert.equal(pacer.limits().length, 3);
    pacer.close();
  });

  test("a model the URL names (Gemini, Vertex AI, Bedrock, Azure) is the key's, and Gemini's ?key= its credential", async () => {
    // The body names no model there: a 429 on one model, or on one API key, holds that one only.
    const clock = new VirtualClock();
    const log = [];
    const fetch = async (input) => {
      const url = String(input);
      log.push({ url, t: clock.t });
      const first = log.filter((e) => e.url === url).length === 1;
      const refuse = first && (url.includes("gemini-2.0-flash") || url.includes("key=AIza-one"));
      return new Response(refuse ? '{"error":{"code":429}}' : "{}", {
        status: refuse ? 429 : 200,
        headers: { "content-type": "application/json", ...(refuse ? { "retry-after": "30" } : {}) },
      });
    };
    const pacer = new Pacer({ clock, fetch, seed: 1 });
    const gemini = (model, query = "") =>
      `https://generativelanguage.googleapis.com/v1beta/models/${model}:generateContent${query}`;
    const post = (url, headers = { "x-goog-api-key": "AIza-k" }) =>
      ok(
        pacer.fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: JSON.stringify({ contents: [{ parts: [{ text: "hi" }] }] }),
        }),
      );
    const flash = post(gemini("gemini-2.0-flash"));
    await until(() => pacer.stats().rateLimited === 1, "the 429");
    const pro = post(gemini("gemini-1.5-pro"));
    const one = post(gemini("gemini-1.5-pro", "?key=AIza-one"), {});
    await until(() => pacer.stats().rateLimited === 2, "the second 429");
    const two = post(gemini("gemini-1.5-pro", "?alt=sse&key=AIza-two"), {});
    assert.deepEqual(await Promise.all([flash, pro, one, two]), [200, 200, 200, 200]);
    const at = (part) => log.filter((e) => e.url.includes(part)).map((e) => e.t - log[0].t);
    assert.ok(at("gemini-1.5-pro:generateContent")[0] < 1_000, `another model went at once: ${at("1.5-pro")}`);
    assert.ok(at("key=AIza-two")[0] - at("key=AIza-one")[0] < 1_000, "another API key went at once");
    assert.ok(at("gemini-2.0-flash")[1] >= 30_000, "the refused model waited its pause");
    assert.ok(at("key=AIza-one")[1] - at("key=AIza-one")[0] >= 30_000, "the refused API key waited its pause");
    // The class is the model's name as for a body's `model`; the keys are opaque.
    const models = pacer.limits().map((k) => k.model);
    assert.deepEqual([...new Set(models)].sort(), ["gemini-1.5-pro", "gemini-2.0-flash"]);
    assert.ok(!JSON.stringify(pacer.limits()).includes("AIza"), "no credential in limits()");
    // Vertex AI, Bedrock (its id percent-encoded) and an Azure deployment: their classes.
    for (const url of [
      "https://us-east5-aiplatform.googleapis.com/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-haiku-4-5@20251001:rawPredict",
      "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke",
      "https://my.openai.azure.com/openai/deployments/prod-gpt/chat/completions?api-version=2024-10-21",
    ])
      await post(url, { authorization: "Bearer t" });
    const classes = pacer.limits().map((k) => k.model);
    for (const c of ["haiku", "sonnet", "prod-gpt"]) assert.ok(classes.includes(c), `${c} in ${classes}`);
    pacer.close();
  });

  test("one key sent for two OpenAI organisations or projects draws on two sets of limits", async () => {
    // OpenAI meters per organisation (and project): a user key sent with another
    // `OpenAI-Organization` draws on that one's limits. A 429 on one holds that one only.
    const clock = new VirtualClock();
    const s = server(clock, ({ n }) => (n === 1 ? { status: 429, headers: { "retry-after": "20" } } : {}));
    const pacer = new Pacer({ clock, fetch: s.fetch, seed: 1 });
    const scoped = (h) => ok(pacer.fetch(URL_A, init("gpt-4o", "sk-proj-one", h)));
    const one = scoped({ "OpenAI-Organization": "org-a" });
    await until(() => pacer.stats().rateLimited === 1, "the 429");
    const other = [
      scoped({ "OpenAI-Organization": "org-b" }),
      scoped({ "OpenAI-Organization": "org-a", "OpenAI-Project": "proj_2" }),
    ];
    assert.deepEqual(await Promise.all([one, ...other]), [200, 200, 200]);
    const t = s.log.map((e) => e.t - s.log[0].t);
    assert.ok(t[1] < 1_000 && t[2] < 1_000, `the other organisation and project went at once: ${t}`);
    assert.ok(t[3] >= 20_000, `the refused one waited its pause: ${t}`);
    assert.equal(pacer.limits().length, 3);
    assert.ok(!JSON.stringify(pacer.limits()).includes("org-"), "no organisation in limits()");
    pacer.close();
  });

  test("Bedrock application inference profiles are two keys, with no account id in their class", async () => {
    const clock = new VirtualClock();
    const s = server(clock);
    const pacer = new Pacer({ clock, fetch: s.fetch, seed: 1 });
    const arn = (id) =>
      "https://bedrock-runtime.us-east-1.amazonaws.com/model/" +
      encodeURIComponent(`arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/${id}`) +
      "/invoke";
    for (const id of ["opusprof0001", "haikuprof001"])
      await ok(
        pacer.fetch(arn(id), { ...init(undefined, "AKIA-k"), body: JSON.stringify({ max_tokens: 16, messages: [] }) }),
      );
    assert.deepEqual(
      pacer
        .limits()
        .map((k) => k.model)
        .sort(),
      ["application-inference-profile/haikuprof001", "application-inference-profile/opusprof0001"],
    );
    pacer.close();
  });

  test("no head-of-line blocking across keys", async () => {
    const clock = new VirtualClock();
    const s = server(clock);
    const pacer = new Pacer({ clock, fetch: s.fetch, limits: { models: { "model-a": { rpm: 1 } } } });
    const a1 = ok(pacer.fetch(URL_A, init("model-a")));
    const a2 = ok(pacer.fetch(URL_A, init("model-a")));
    const b1 = ok(pacer.fetch(URL_A, init("model-b")));
    assert.deepEqual(await Promise.all([a1, a2, b1]), [200, 200, 200]);
    const times = Object.fromEntries(
      ["model-a", "model-b"].map((m) => [m, s.log.filter((e) => e.model === m).map((e) => e.t - s.log[0].t)]),
    );
    assert.ok(times["model-b"][0] < 100, `model-b was not held behind model-a's queue: ${times["model-b"]}`);
    assert.ok(times["model-a"][1] >= 59_000, `model-a's second call waited for its token: ${times["model-a"]}`);
    const m = byModel(pacer);
    assert.deepEqual([m["model-a"].requests.limit, m["model-a"].requests.source], [1, "configured"]);
    assert.equal(m["model-b"].requests, undefined, "the class limit is model-a's only");
    pacer.close();
  });

  test("the credential is the same in every form of headers: a record in any case, a Headers, pairs, x-api-key or Bearer", async () => {
    const clock = new VirtualClock();
    const s = server(clock);
    const pacer = new Pacer({ clock, fetch: s.fetch });
    const call = (headers) =>
      ok(
        pacer.fetch(URL_A, {
          ...init("claude-sonnet-4-5"),
          headers: { "content-type": "application/json", ...headers },
        }),
      );
    await call({ "x-api-key": "sk-ant-one" });
    await call({ "X-Api-Key": " sk-ant-one " });
    const body = init("claude-sonnet-4-5").body;
    await ok(pacer.fetch(URL_A, { method: "POST", body, headers: new Headers({ "x-api-key": "sk-ant-one" }) }));
    await ok(pacer.fetch(URL_A, { method: "POST", body, headers: [["X-API-KEY", "sk-ant-one"]] }));
    assert.equal(pacer.limits().length, 1, "one credential, one key");
    // Anthropic's SDK sends its key as `Authorization: Bearer`, fetch and the Vercel AI SDK
    // as `x-api-key`: one key, one organisation's limits.
    await call({ authorization: "Bearer sk-ant-one" });
    await call({ Authorization: "bearer   sk-ant-one" });
    assert.equal(pacer.limits().length, 1, "x-api-key: K and Bearer K are one credential");
    await call({ "x-api-key": "sk-ant-two" });
    await call({ authorization: "Basic c2stYW50LW9uZQ==" });
    assert.equal(pacer.limits().length, 3, "another credential, another key");
    pacer.close();
  });

  test("limitKey replaces the origin and credential; the model class stays part of the key", async () => {
    const clock = new VirtualClock();
    const s = server(clock);
    const seen = [];
    const pacer = new Pacer({
      clock,
      fetch: s.fetch,
      limitKey: ({ url, model, headers }) => {
        seen.push([url, model, headers instanceof Headers]);
        return headers.get("x-workspace") ?? "default";
      },
    });
    await ok(pacer.fetch(URL_A, init("claude-sonnet-4-5", "sk-ant-one", { "x-workspace": "ws-1" })));
    await ok(pacer.fetch(URL_A, init("claude-sonnet-4-5", "sk-ant-two", { "x-workspace": "ws-1" })));
    assert.equal(pacer.limits().length, 1, "one workspace, one key, whatever the API key");
    await ok(pacer.fetch(URL_A, init("claude-sonnet-4-5", "sk-ant-one", { "x-workspace": "ws-2" })));
    await ok(pacer.fetch(URL_A, init("claude-haiku-4-5", "sk-ant-one", { "x-workspace": "ws-2" })));
    assert.deepEqual(
      pacer.limits().map((k) => k.model),
      ["sonnet", "sonnet", "haiku"],
    );
    assert.deepEqual(seen[0], [URL_A, "claude-sonnet-4-5", true]);
    for (const k of pacer.limits()) assert.ok(!JSON.stringify(k).includes("ws-"), "the key is opaque");
    pacer.close();

    const bad = new Pacer({ clock, fetch: s.fetch, limitKey: () => 42 });
    const r = await outcome(bad.fetch(URL_A, init("m")));
    assert.ok(r.error instanceof TypeError && /`limitKey`/.test(r.error.message), String(r.error));
    const boom = new Error("boom");
    const throwing = new Pacer({
      clock,
      fetch: s.fetch,
      limitKey: () => {
        throw boom;
      },
    });
    assert.equal((await outcome(throwing.fetch(URL_A, init("m")))).error, boom);
  });

  test("per-class limits and whole-tier presets", async () => {
    const clock = new VirtualClock();
    const s = server(clock);
    const pacer = new Pacer({
      clock,
      fetch: s.fetch,
      preset: "anthropic:tier-1",
      // A model id names its class (`claude-sonnet-4-5` is `sonnet`'s), unless the class is named.
      limits: {
        rpm: 40,
        models: { haiku: { otpm: 5_000 }, "claude-haiku-4-5": { otpm: 1 }, "claude-sonnet-4-5": { itpm: 20_000 } },
      },
    });
    for (const model of ["claude-sonnet-4-5-20250929", "claude-haiku-4-5", "my-own-model"])
      await ok(pacer.fetch(URL_A, init(model)));
    await drained(pacer);
    const m = byModel(pacer);
    const dims = (k) =>
      Object.fromEntries(["requests", "inputTokens", "outputTokens"].filter((d) => k[d]).map((d) => [d, k[d].limit]));
    assert.deepEqual(dims(m.sonnet), { requests: 40, inputTokens: 20_000, outputTokens: 8_000 });
    assert.deepEqual(dims(m.haiku), { requests: 40, inputTokens: 50_000, outputTokens: 5_000 });
    assert.deepEqual(dims(m["my-own-model"]), { requests: 40 }, "a class the tier does not list: the top-level limits");
    for (const k of pacer.limits())
      for (const d of ["requests", "inputTokens", "outputTokens"]) if (k[d]) assert.equal(k[d].source, "configured");
    pacer.close();
  });

  test("bad per-class limits, limitKey and tier names throw naming the option", () => {
    const throwsNaming = (options, type, name) =>
      assert.throws(
        () => new Pacer(options),
        (e) => e instanceof type && e.message.includes(`\`${name}\``),
        JSON.stringify(options),
      );
    throwsNaming({ limits: { models: { haiku: { rpm: -1 } } } }, RangeError, "limits.models.haiku.rpm");
    throwsNaming({ limits: { models: { haiku: { itpm: "1000" } } } }, TypeError, "limits.models.haiku.itpm");
    throwsNaming({ limits: { models: { haiku: 5 } } }, TypeError, "limits.models.haiku");
    throwsNaming({ limits: { models: 5 } }, TypeError, "limits.models");
    throwsNaming({ limitKey: "x" }, TypeError, "limitKey");
    throwsNaming({ preset: "anthropic:tier-9" }, RangeError, "preset");
    new Pacer({ preset: "openai:tier-1", limits: { models: { "gpt-4o": { tpm: 1 } } } }).close();
  });

  test("the keys held stay bounded: idle and full keys are dropped", async () => {
    const clock = new VirtualClock();
    const s = server(clock);
    let i = 0;
    const pacer = new Pacer({ clock, fetch: s.fetch, limitKey: () => `k${i}` });
    const N = 10_000;
    const all = [];
    for (; i < N; i++) all.push(ok(pacer.fetch(URL_A, init("m"))));
    assert.deepEqual(new Set(await Promise.all(all)), new Set([200]));
    await drained(pacer);
    assert.equal(pacer.limits().length, N);
    await clock.advance(11 * 60_000);
    await ok(pacer.fetch(URL_A, init("m")));
    assert.equal(pacer.limits().length, 1, "only the key in use lately is held");
    pacer.close();
  });
});

test("Gemini: a stream without alt=sse (one JSON array of chunks) settles on its chunks' usageMetadata, however it is read", async () => {
  const chunks = [
    {
      candidates: [{ content: { parts: [{ text: "Hel" }], role: "model" } }],
      usageMetadata: { promptTokenCount: 3_010 },
    },
    {
      candidates: [{ content: { parts: [{ text: "lo" }], role: "model" }, finishReason: "STOP" }],
      usageMetadata: { promptTokenCount: 3_010, candidatesTokenCount: 40, thoughtsTokenCount: 10 },
    },
  ];
  // As the server writes it: the array's elements on lines of their own, a comma between.
  const body = `[${chunks.map((c) => JSON.stringify(c, null, 2)).join("\r\n,\r\n")}]`;
  for (const read of ["text", "json", "reader"]) {
    /** @type {any[]} */
    const events = [];
    const pacer = new Pacer({
      clock: new VirtualClock(),
      fetch: async () => new Response(body, { headers: { "content-type": "application/json; charset=UTF-8" } }),
      limits: { tpm: 100_000 },
      onEvent: (e) => events.push(e),
    });
    const res = await pacer.fetch(
      "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent",
      {
        method: "POST",
        headers: { "content-type": "application/json", "x-goog-api-key": "AIza-k" },
        body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "Hello" }] }] }),
      },
    );
    if (read === "text") assert.equal(await res.text(), body);
    else if (read === "json") assert.deepEqual(await res.json(), chunks);
    else {
      const reader = res.body.getReader();
      let n = 0;
      for (let r = await reader.read(); !r.done; r = await reader.read()) n += r.value.byteLength;
      assert.equal(n, new TextEncoder().encode(body).byteLength);
    }
    await drained(pacer);
    const settled = events.filter((e) => e.type === "settled");
    assert.deepEqual(
      settled.map((e) => [e.reason, e.usage?.inputTokens, e.usage?.outputTokens]),
      [["usage", 3_010, 50]],
      `read with ${read}`,
    );
    pacer.close();
  }
});

test("Gemini: a generateContent body is priced (contents, maxOutputTokens) and its usageMetadata settles it, JSON or stream", async () => {
  // A probe: every Gemini call reserved 0 tokens and settled as `no_usage`, so `limits.tpm`
  // paced nothing and 4 of 8 concurrent calls drew 429s.
  const text = "word ".repeat(3_000);
  const usageMetadata = { promptTokenCount: 3_010, candidatesTokenCount: 40, thoughtsTokenCount: 10 };
  for (const stream of [false, true]) {
    /** @type {any[]} */
    const events = [];
    const fetch = async () =>
      stream
        ? new Response(
            `data: ${JSON.stringify({ candidates: [{ content: { parts: [{ text: "Hi" }] } }], usageMetadata: { promptTokenCount: 3_010 } })}\r\n\r\n` +
              `data: ${JSON.stringify({ candidates: [{ finishReason: "STOP" }], usageMetadata })}\r\n\r\n`,
            { headers: { "content-type": "text/event-stream" } },
          )
        : Response.json({
            candidates: [{ content: { parts: [{ text: "Hi" }] }, finishReason: "STOP" }],
            usageMetadata,
          });
    const pacer = new Pacer({
      clock: new VirtualClock(),
      fetch,
      limits: { tpm: 100_000 },
      onEvent: (e) => events.push(e),
    });
    const verb = stream ? "streamGenerateContent?alt=sse" : "generateContent";
    const res = await pacer.fetch(`https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:${verb}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-goog-api-key": "AIza-k" },
      body: JSON.stringify({
        contents: [{ role: "user", parts: [{ text }] }],
        generationConfig: { maxOutputTokens: 256 },
      }),
    });
    await res.text();
    await drained(pacer);
    const s = pacer.stats();
    assert.ok(s.inputTokensReserved >= 5_000, `reserved ${s.inputTokensReserved} (stream ${stream})`);
    assert.equal(s.outputTokensReserved, 256);
    const settled = events.filter((e) => e.type === "settled");
    assert.deepEqual(
      settled.map((e) => [e.reason, e.usage?.inputTokens, e.usage?.outputTokens]),
      [["usage", 3_010, 50]],
      `stream ${stream}`,
    );
    pacer.close();
  }
});
