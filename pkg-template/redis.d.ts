// llm-pacer/redis: a PacerStore in Redis, shared by every process of a fleet.

import type { PacerStore, StoreDim, StoreLimits, StoreTokens } from "llm-pacer";
export type { PacerStore, StoreDim, StoreLimits, StoreTokens };

/** Levels of a limit key's shared buckets at the store's clock (absent: no limit known). */
export interface StoreLevels {
  /** The store's clock when it answered, epoch ms (Redis `TIME`). */
  readonly now: number;
  readonly levels: Readonly<Partial<Record<StoreDim, number>>>;
}

/** The answer to a reservation: all dimensions taken, or none. */
export type StoreDecision =
  | (StoreLevels & { readonly admit: true })
  | (StoreLevels & {
      readonly admit: false;
      /** Milliseconds to wait from now (a duration: immune to clock skew between processes). */
      readonly waitMs: number;
      /** What holds it: a bucket, or a 429's fleet-wide pause when the pause is the longer wait. */
      readonly blocker: StoreDim | "paused";
    })
  | (StoreLevels & {
      readonly admit: false;
      /** The request's cost exceeds this dimension's capacity: no wait can help. */
      readonly never: StoreDim;
    });

/** One dimension as a response's headers describe it. */
export interface StoreLearned {
  readonly dim: StoreDim;
  /** Capacity per minute. */
  readonly limit?: number;
  /** The level the server reports; lowers the shared level, never raises it. */
  readonly remaining?: number;
}
export interface StoreGiven {
  readonly dim: StoreDim;
  /** Tokens the server gave back at the settlement of a request the store never held. */
  readonly given: number;
  /** That request's own `remaining`: the level rises to no more than this. */
  readonly upTo: number;
}

/** The Redis store: a PacerStore, plus the rest of the protocol and inspection. */
export interface RedisStore extends PacerStore {
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
  /** What a request the store never held gave back on the server, up to its own figure. */
  giveBack(key: string, dims: readonly StoreGiven[]): Promise<void>;
  /** A 429's retry-after, fleet-wide. */
  pause(key: string, retryAfterMs: number): Promise<void>;
  /** The opening probe's answer carried no limit: the probe is over, and `open` opens the key. */
  probed(key: string, open: boolean): Promise<void>;
  /** The shared levels of a key now. */
  levels(key: string): Promise<StoreLevels>;
  /** Script invocations so far: by EVALSHA, by EVAL, and NOSCRIPT replies that fell back to EVAL. */
  stats(): { readonly evalsha: number; readonly eval: number; readonly noscript: number };
}

export interface RedisStoreOptions {
  /** Prefix of every Redis key (`{prefix:key}`, hash-tagged for Cluster): not empty, no `{` or `}`. @default "llm-pacer" */
  readonly prefix?: string;
}

/**
 * A structural view of the clients accepted: ioredis (`Redis`, `Cluster`), node-redis v4+
 * (`redis`, `@redis/client`), `@upstash/redis`. The package depends on none of them.
 */
export type RedisClientLike = object;

/** A PacerStore over your own connected Redis client. */
export function redisStore(client: RedisClientLike, options?: RedisStoreOptions): RedisStore;

/** The Lua script that does the shared arithmetic (the Rust core's `core::store`). */
export const redisScript: string;
