// llm-pacer/opentelemetry: a pacer's events as OpenTelemetry metrics, through
// `@opentelemetry/api` (a peer dependency: the application brings its SDK and exporter).
// Plain JavaScript, no Wasm: an entry of its own, so the main entries never load it. The
// build also writes a CommonJS copy (opentelemetry/index.cjs).
import { metrics } from "@opentelemetry/api";
import { checkKeys, isRecord } from "../strict.js";

const LISTEN = Symbol.for("llm-pacer.listen");

/**
 * Record the pacer's activity as metrics (see opentelemetry.d.ts for the instruments).
 * @param {import("llm-pacer").Pacer} pacer
 * @param {{ meterProvider?: import("@opentelemetry/api").MeterProvider }} [options]
 * @returns {() => void} stops recording
 */
export function instrument(pacer, options) {
  if (typeof pacer?.[LISTEN] !== "function") {
    throw new TypeError("llm-pacer/opentelemetry: instrument(pacer) needs a Pacer of llm-pacer");
  }
  if (options !== undefined && options !== null) {
    if (!isRecord(options)) throw new TypeError("llm-pacer/opentelemetry: instrument(pacer, options): options must be an object");
    checkKeys(options, "meterProvider", "");
    const p = options.meterProvider;
    if (p != null && typeof p.getMeter != "function")
      throw new TypeError("llm-pacer: option `meterProvider` must be a MeterProvider (with getMeter)");
  }
  const provider = options?.meterProvider ?? metrics.getMeterProvider();
  const meter = provider.getMeter("llm-pacer");
  const counter = (name, description, unit) => meter.createCounter(name, { description, unit });
  const histogram = (name, description) => meter.createHistogram(name, { description, unit: "ms" });
  const requests = counter("llm_pacer.requests", "Calls to pacer.fetch", "{request}");
  const attempts = counter("llm_pacer.attempts", "Requests sent to the server", "{request}");
  const retries = counter("llm_pacer.retries", "Retries scheduled", "{retry}");
  const rateLimited = counter("llm_pacer.rate_limited", "429 responses", "{response}");
  const overloaded = counter("llm_pacer.overloaded", "529 responses", "{response}");
  const tokens = counter("llm_pacer.tokens", "Tokens used, as the responses reported (or the pacer estimated)", "{token}");
  const waits = histogram("llm_pacer.wait", "Time a call waited before an attempt was sent (queue and backoff)");
  const latency = histogram("llm_pacer.latency", "From sending an attempt to its response's head");
  const queue = meter.createObservableGauge("llm_pacer.queue", {
    description: "Calls waiting now (queued, backing off, or held by a spent retry budget)",
    unit: "{request}",
  });
  const observe = (r) => r.observe(pacer.stats().queued);
  queue.addCallback(observe);

  const unlisten = pacer[LISTEN]((e) => {
    const attrs = e.model ? { model: e.model } : {};
    switch (e.type) {
      case "queued":
        requests.add(1, attrs);
        break;
      case "admitted":
        attempts.add(1, attrs);
        waits.record(e.delayMs, attrs);
        break;
      case "settled":
        if (e.usage) {
          tokens.add(e.usage.inputTokens + e.usage.cacheCreationInputTokens, { ...attrs, type: "input" });
          tokens.add(e.usage.outputTokens, { ...attrs, type: "output" });
        }
        break;
    }
    // One of retry, giveup or settled ends each response: its status and latency count once.
    if (e.type == "retry" || e.type == "giveup" || e.type == "settled") {
      if (e.type == "retry") retries.add(1, { ...attrs, reason: e.reason });
      if (e.status == 429) rateLimited.add(1, attrs);
      if (e.status == 529) overloaded.add(1, attrs);
      if (e.latencyMs !== undefined) latency.record(e.latencyMs, { ...attrs, status: e.status });
    }
  });
  return () => {
    unlisten();
    queue.removeCallback(observe);
  };
}
