// llm-pacer/cloudflare: the shared store (the `store` option) as a Durable Object, for
// Cloudflare Workers (the workerd runtime: wrangler, Miniflare).

import type { PacerStore, StoreDim, StoreLimits, StoreTokens } from "llm-pacer";
import type { StoreDecision, StoreLearned, StoreLevels } from "llm-pacer/redis";
export type { PacerStore, StoreDecision, StoreDim, StoreLearned, StoreLevels, StoreLimits, StoreTokens };

/** The part of a Durable Object's state (`ctx`) the class uses. */
export interface DurableObjectStateLike {
  readonly storage: {
    get(key: string): Promise<unknown>;
    put(key: string, value: unknown): Promise<void>;
  };
  blockConcurrencyWhile<T>(callback: () => Promise<T>): Promise<T>;
}

/** A Durable Object namespace binding (`env.PACER_LIMITS`), as far as the store uses it. */
export interface DurableObjectNamespaceLike {
  idFromName(name: string): unknown;
  get(id: never): unknown;
}

/**
 * The Durable Object class that holds the shared limits: one object per limit key. Bind it in
 * your wrangler config (`durable_objects.bindings`, with a migration that creates the class)
 * and export it from your Worker's main module: `export { PacerLimits } from "llm-pacer/cloudflare"`.
 * Its arithmetic is the Wasm core's (the same module as the pacer's), at the object's clock.
 */
export declare class PacerLimits {
  /**
   * The brand `@cloudflare/workers-types` (and `wrangler types`) give a `DurableObject`, a type
   * only: `DurableObjectNamespace<PacerLimits>` and the Worker's exported class check.
   */
  readonly __DURABLE_OBJECT_BRAND: never;
  constructor(ctx: DurableObjectStateLike, env: unknown);
  /**
   * One store operation, over RPC from {@link durableObjectStore} (its protocol, not an API):
   * `[kind, waitMs, dim, now, level × 4]`.
   */
  op(op: "levels" | "reserve" | "settle" | "refund" | "learn" | "pause", args: readonly number[], now?: number): number[];
}

/** The Durable Object store: a PacerStore, plus the rest of the protocol and inspection. */
export interface DurableObjectStore extends PacerStore {
  reserve(
    key: string,
    request: {
      readonly limits?: StoreLimits;
      readonly turn?: boolean;
      readonly expectedOutput?: number;
    } & StoreTokens,
  ): Promise<StoreDecision>;
  /** Give back a reservation (with `turnOnly`: only the turn it booked when told to wait). */
  refund(key: string, reserved: StoreTokens & { readonly turnOnly?: boolean }): Promise<void>;
  /** Limits and remaining levels from a response's headers (fleet-wide). */
  learn(key: string, dims: readonly StoreLearned[]): Promise<void>;
  /** A 429's retry-after, fleet-wide. */
  pause(key: string, retryAfterMs: number): Promise<void>;
  /** The shared levels of a key now (`now`: the object's clock). */
  levels(key: string): Promise<StoreLevels>;
}

/**
 * A PacerStore over a `PacerLimits` namespace binding: each limit key is the object
 * `namespace.idFromName(key)`. A failed or slow call rejects or times out, and the pacer goes
 * on with its local limits (`store_unavailable`) until the object answers again.
 */
export function durableObjectStore(namespace: DurableObjectNamespaceLike): DurableObjectStore;
