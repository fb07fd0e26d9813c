// llm-pacer/opentelemetry (issue 14, point 3): a pacer's events as OpenTelemetry metrics,
// read back through the SDK's in-memory exporter.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import {
  MeterProvider,
  PeriodicExportingMetricReader,
  InMemoryMetricExporter,
  AggregationTemporality,
} from "@opentelemetry/sdk-metrics";
import { Pacer } from "llm-pacer";
import { instrument } from "llm-pacer/opentelemetry";
import { startAnthropicMock } from "./mock/index.mjs";
import { anthropicInit, mockEnv, drained } from "./lib/harness.mjs";

/** The metrics exported so far, by name: the sum of a counter's points, a histogram's count and sum, a gauge's last value. */
async function collect(reader, exporter) {
  await reader.forceFlush();
  const out = {};
  const batches = exporter.getMetrics();
  for (const m of batches.at(-1).scopeMetrics.flatMap((s) => s.metrics)) {
    const name = m.descriptor.name;
    const points = m.dataPoints;
    if (m.dataPointType === 0 /* HISTOGRAM */) {
      out[name] = {
        count: points.reduce((a, p) => a + p.value.count, 0),
        sum: points.reduce((a, p) => a + p.value.sum, 0),
      };
    } else {
      out[name] = points.reduce((a, p) => a + p.value, 0);
      out[`${name}/points`] = points.map((p) => [p.attributes, p.value]);
    }
  }
  return out;
}

test("instrument(pacer) counts requests, attempts, 429s, 529s, retries and tokens, times waits and latency, gauges the queue", async (t) => {
  const env = await mockEnv(t, startAnthropicMock, {
    limits: { rpm: 50, itpm: 30_000, otpm: 8_000 },
    virtualLatencyMs: 40,
  });
  env.mock.script([{ status: 429, retryAfter: 1 }, 529, "ok", "ok"]);
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  t.after(() => meterProvider.shutdown());
  const pacer = env.make({ seed: 1, retry: { initialDelayMs: 10, maxDelayMs: 10 } });
  const stop = instrument(pacer, { meterProvider });
  for (let i = 0; i < 2; i++) await (await pacer.fetch(env.url, anthropicInit())).text();
  await drained(pacer);
  const m = await collect(reader, exporter);
  assert.equal(m["llm_pacer.requests"], 2);
  assert.equal(m["llm_pacer.attempts"], 4);
  assert.equal(m["llm_pacer.retries"], 2);
  assert.equal(m["llm_pacer.rate_limited"], 1);
  assert.equal(m["llm_pacer.overloaded"], 1);
  const used = env.mock.log
    .filter((e) => e.usage)
    .reduce((a, e) => [a[0] + e.usage.input, a[1] + e.usage.output], [0, 0]);
  assert.deepEqual(m["llm_pacer.tokens/points"].map(([attrs, v]) => [attrs.type, v]).sort(), [
    ["input", used[0]],
    ["output", used[1]],
  ]);
  assert.equal(m["llm_pacer.latency"].count, 4, "one per response");
  assert.equal(m["llm_pacer.latency"].sum, 4 * 40);
  assert.equal(m["llm_pacer.wait"].count, 4, "one per attempt");
  assert.ok(m["llm_pacer.wait"].sum >= 1000, "the 429's retry-after was waited");
  assert.equal(m["llm_pacer.queue"], 0);

  // Stopped: nothing more is recorded.
  stop();
  await (await pacer.fetch(env.url, anthropicInit())).text();
  await drained(pacer);
  assert.equal((await collect(reader, exporter))["llm_pacer.requests"], 2);
});

test("the gauge reads the queue as it is", async (t) => {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  t.after(() => meterProvider.shutdown());
  const { Pacer } = await import("llm-pacer");
  let release;
  const gate = new Promise((r) => (release = r));
  const pacer = new Pacer({ concurrency: 1, fetch: async () => (await gate, new Response("{}")) });
  instrument(pacer, { meterProvider });
  const calls = [1, 2, 3].map(() => pacer.fetch("https://api.example/v1/messages"));
  await new Promise((r) => setImmediate(r));
  assert.equal((await collect(reader, exporter))["llm_pacer.queue"], 2);
  release();
  await Promise.all(calls.map(async (c) => (await c).text()));
});

test("instrument() wants a Pacer and known options; the entry does not grow the main one, and works from require", () => {
  assert.throws(() => instrument({}), TypeError);
  // A misspelt option would record nothing, on the global no-op provider: it throws, naming it.
  const pacer = new Pacer({ fetch: async () => new Response("{}") });
  assert.throws(
    () => instrument(pacer, { meterprovider: {} }),
    (e) => e instanceof TypeError && /"meterprovider"; did you mean "meterProvider"\?/.test(e.message),
  );
  assert.throws(
    () => instrument(pacer, { meterProvider: {} }),
    (e) => e instanceof TypeError && /`meterProvider`/.test(e.message),
  );
  assert.throws(() => instrument(pacer, "x"), TypeError);
  const pkgDir = join(import.meta.dirname, "..", "..", "node_modules", "llm-pacer");
  const main = readFileSync(join(pkgDir, "web", "index.js"), "utf8");
  assert.doesNotMatch(main, /opentelemetry|createCounter/);
  const require = createRequire(import.meta.url);
  assert.equal(typeof require("llm-pacer/opentelemetry").instrument, "function");
});
