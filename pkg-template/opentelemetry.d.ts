// Types of llm-pacer/opentelemetry.
import type { MeterProvider } from "@opentelemetry/api";
import type { Pacer } from "llm-pacer";

/** Options of {@link instrument}. */
export interface InstrumentOptions {
  /** Where the instruments are created. @default the global provider (`metrics.getMeterProvider()`) */
  readonly meterProvider?: MeterProvider;
}

/**
 * Record a pacer's activity as OpenTelemetry metrics, on the meter `llm-pacer`:
 *
 * - counters `llm_pacer.requests` (calls), `llm_pacer.attempts` (sent), `llm_pacer.retries`
 *   (attribute `reason`), `llm_pacer.rate_limited` (429s), `llm_pacer.overloaded` (529s),
 *   `llm_pacer.tokens` (attribute `type`: `input` or `output`; input counts cache creation);
 * - histograms `llm_pacer.wait` (ms a call waited before each attempt) and
 *   `llm_pacer.latency` (ms from sending an attempt to its response's head; attribute
 *   `status`);
 * - an observable gauge `llm_pacer.queue` (calls waiting now).
 *
 * Every instrument has the attribute `model` when the event knows it. No URL, header, body or
 * key is ever an attribute.
 * @returns a function that stops recording.
 */
export declare function instrument(pacer: Pacer, options?: InstrumentOptions): () => void;
