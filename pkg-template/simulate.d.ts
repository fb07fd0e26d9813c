// llm-pacer/simulate: the simulator in virtual time. Hand-written, like index.d.ts. Loads a
// Wasm module of its own (the crate built with the `simulator` feature), never the main one.
import type { PresetName } from "llm-pacer";

/** Per-minute limits of the simulated server (and of llm-pacer, unless `learnLimits`). */
export interface SimulateLimits {
  /** Requests per minute. @default 50 (when neither `limits` nor `preset` is given) */
  readonly rpm?: number | null;
  /** Combined tokens per minute. @default none */
  readonly tpm?: number | null;
  /** Input tokens per minute. @default 30000 */
  readonly itpm?: number | null;
  /** Output tokens per minute. @default 8000 */
  readonly otpm?: number | null;
}

/** The requests: every one is generated from the seed. */
export interface SimulateWorkload {
  /** Requests in all, an integer from 1 to 100000. @default 1000 */
  readonly requests?: number;
  /** Input tokens are lognormal with this median. @default 1500 */
  readonly inputMedian?: number;
  /** ...and this sigma (0 to 5). @default 0.5 */
  readonly inputSigma?: number;
  /** Every request's `max_tokens`. @default 1024 */
  readonly maxTokens?: number;
  /** Output tokens are uniform in [outputMin, min(outputMax, maxTokens)]. @default 100 */
  readonly outputMin?: number;
  /** @default 1024 */
  readonly outputMax?: number;
  /** Poisson arrivals at this many requests per second. @default all at the start */
  readonly arrivalPerS?: number;
}

/** The strategies the simulator compares. */
export type SimulateStrategy = "llm-pacer" | "naive-backoff" | "token-window" | "sdk-default";

/**
 * A scenario. Every key is optional (the defaults are the scenario, as `cargo run
 * --bin simulate` runs it); `null` means the default too. A value of the wrong type throws a
 * `TypeError`, one out of range a `RangeError`, naming the key (`workload.maxTokens`).
 */
export interface SimulateConfig {
  /** Seeds every random draw: the workload, the server, each client (a safe integer from 0). @default 1 */
  readonly seed?: number;
  /** Clients sharing the organisation's limits, each with its own strategy instance (1 to 10000). @default 1 */
  readonly clients?: number;
  /** Requests in progress at once per client, for every strategy. @default 5 */
  readonly concurrency?: number;
  /**
   * The server's limits; given alone they replace the default limits (an absent key is then unlimited).
   * @default { rpm: 50, itpm: 30000, otpm: 8000 }
   */
  readonly limits?: SimulateLimits;
  /** One model class's preset, e.g. `"anthropic:tier-1:sonnet"`; `limits` override it. @default none */
  readonly preset?: PresetName;
  /** The requests. @default {} (each field's own default) */
  readonly workload?: SimulateWorkload;
  /** The chance that an admissible request gets a 529 (0 to 1). @default 0 */
  readonly p529?: number;
  /** How the server meters output tokens: reserved from `max_tokens` at the start, or as generated. @default "reservation" */
  readonly metering?: "reservation" | "realtime";
  /** llm-pacer is not told the limits: it learns them from the response headers. @default false */
  readonly learnLimits?: boolean;
  /** The server's clock runs this many ms ahead (negative: behind). @default 0 */
  readonly skewMs?: number;
  /**
   * llm-pacer's clients share their limits through a store (the `store` option, as
   * `llm-pacer/redis`) that answers a reservation this many ms after it is asked (0 to 999).
   * @default none: each client on its own
   */
  readonly storeMs?: number;
  /**
   * With `storeMs`: this many of the clients (the last ones) stay outside the store, each
   * llm-pacer on its own beside the fleet: other traffic on the same limits, which the store
   * never sees. Fewer than `clients`. @default 0
   */
  readonly outside?: number;
  /**
   * Two model classes (Anthropic tier-1 `sonnet` and `haiku`), each with its own buckets and
   * headers, taken in turn by the requests; each report then has per-class figures
   * (`classes`). `limits` and `preset` are then the classes' own. @default false
   */
  readonly models?: boolean;
  /** With `models`: this many organisations (API keys), each with buckets of its own (1 to 64). @default 1 */
  readonly orgs?: number;
  /** The strategies to run, in this order (duplicates dropped). @default every strategy, llm-pacer first */
  readonly strategies?: readonly SimulateStrategy[];
}

/** What happened in one slot of virtual time (`slotMs` wide). */
export interface SimulateSlot {
  /** Attempts sent. */
  readonly sent: number;
  /** Input tokens the server admitted. */
  readonly inputTokens: number;
  /** Output tokens the server produced. */
  readonly outputTokens: number;
  /** 429s the server sent. */
  readonly rateLimited: number;
  /** 529s the server sent. */
  readonly overloaded: number;
  /** Requests waiting at their client at the end of the slot. */
  readonly queued: number;
}

/** One strategy's result. A figure that does not exist (no latency when nothing succeeded) is `null`. */
export interface SimulateReport {
  readonly strategy: SimulateStrategy;
  readonly clients: number;
  readonly requests: number;
  /** Requests that succeeded. */
  readonly completed: number;
  /** Requests that never succeeded (given up on, or unfinished when the run stopped). */
  readonly failures: number;
  /** Attempts sent to the server. */
  readonly attempts: number;
  /** Attempts beyond each request's first. */
  readonly retries: number;
  /** 429s the server sent. */
  readonly rateLimited: number;
  /** 529s the server sent. */
  readonly overloaded: number;
  /** From the start until the last request finished, ms. */
  readonly makespanMs: number;
  /** No strategy that completes every request can finish sooner, given the limits and what the requests really used, ms. */
  readonly lowerBoundMs: number;
  /** `makespanMs / lowerBoundMs`: below 1 only when requests failed (a strategy that gives up finishes sooner, and its ratio does not compare). */
  readonly ratio: number | null;
  /** Median latency (completion - arrival) of the requests that succeeded, ms. */
  readonly latencyP50Ms: number | null;
  /** Its 99th percentile, ms. */
  readonly latencyP99Ms: number | null;
  /** The run hit its safety limit before every request finished. */
  readonly truncated: boolean;
  /** The width of a `series` slot, ms. */
  readonly slotMs: number;
  /** Per slot of virtual time, from the start. */
  readonly series: readonly SimulateSlot[];
  /** Per model class, with `models: true` (absent otherwise). */
  readonly classes?: readonly SimulateClassReport[];
  /** Reservations llm-pacer's clients asked of their store, with `storeMs` (absent otherwise). */
  readonly storeReserves?: number;
  /** With `outside`: the requests of the clients that share the store. */
  readonly fleetRequests?: number;
  /** With `outside`: the 429s those clients drew (of `rateLimited`, which counts every client's). */
  readonly fleetRateLimited?: number;
}

/** What one model class of a `models: true` run measured. */
export interface SimulateClassReport {
  /** The class, e.g. `sonnet`. */
  readonly name: string;
  readonly requests: number;
  readonly completed: number;
  /** 429s its buckets' servers sent. */
  readonly rateLimited: number;
  /** From the start until its last request finished, ms. */
  readonly makespanMs: number;
  /** Its own lower bound (the largest over its organisations' buckets), ms. */
  readonly lowerBoundMs: number;
  readonly ratio: number | null;
}

/** The scenario as run (every default filled in), and one report per strategy. */
export interface SimulateResult {
  readonly scenario: {
    readonly seed: number;
    readonly clients: number;
    readonly concurrency: number;
    readonly limits: { readonly rpm: number | null; readonly itpm: number | null; readonly otpm: number | null; readonly tpm: number | null };
    readonly metering: "reservation" | "realtime";
    readonly p529: number;
    readonly learnLimits: boolean;
    readonly skewMs: number;
    /** The store's round trip, ms, or `null` without a store. */
    readonly storeMs: number | null;
    /** The clients outside the store. */
    readonly outside: number;
    readonly workload: {
      readonly requests: number;
      readonly inputMedian: number;
      readonly inputSigma: number;
      readonly maxTokens: number;
      readonly outputMin: number;
      readonly outputMax: number;
      readonly arrivalPerS: number | null;
    };
    /** The scenario in words, as `cargo run --bin simulate` prints it. */
    readonly summary: string;
  };
  readonly reports: readonly SimulateReport[];
}

/**
 * Run llm-pacer and the usual retry recipes against a simulated rate-limited LLM API, in
 * virtual time: the same config always gives the same figures, the figures of `cargo run
 * --release --bin simulate` for the same scenario. Synchronous; 1,000 requests take well
 * under a second per strategy.
 * `config` may also be given as its JSON text.
 * @throws {TypeError | RangeError} naming the first bad key.
 */
export declare function simulate(config?: SimulateConfig | string): SimulateResult;
