// llm-pacer/redis: a PacerStore in Redis, shared by every process of a fleet.

/** The four metered dimensions of a limit key. */
export type StoreDim = "requests" | "inputTokens" | "outputTokens" | "tokens";

/** Levels of a limit key's shared buckets at the store's clock (absent: no limit known). */
export interface StoreLevels {
  /** The store's clock when it answered, epoch ms (Redis `TIME`). */
  readonly now: number;
  readonly levels: Readonly<Partial<Record<StoreDim, number>>>;
}

/** Limits per minute the caller knows (configured or learned); they create missing buckets only. */
export interface StoreLimits {
  readonly rpm?: number;
  readonly itpm?: number;
  readonly otpm?: number;
  readonly tpm?: number;
}

/** Tokens one request reserves or used (the request dimension always counts 1). */
export interface StoreTokens {
  /** Input tokens that count against ITPM (input + cache creation). */
  readonly input: number;
  /** Output tokens. */
  readonly output: number;
}

/** The answer to a reservation: all dimensions taken, or none. */
export type StoreDecision =
  | (StoreLevels & { readonly admit: true })
  | (StoreLevels & {
      readonly admit: false;
      /** Milliseconds to wait from now (a duration: immune to clock skew between processes). */
      readonly waitMs: number;
      /** What holds it: a bucket, or a 429's fleet-wide pause. */
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

/**
 * A shared store of limit-key state: each operation is atomic and uses the store's own clock.
 * Keys are limit-key ids (a one-way credential fingerprint, origin and model class; never a
 * secret).
 */
export interface PacerStore {
  reserve(key: string, request: { readonly limits?: StoreLimits } & StoreTokens): Promise<StoreDecision>;
  settle(key: string, reserved: StoreTokens, actual: StoreTokens): Promise<void>;
  refund(key: string, reserved: StoreTokens): Promise<void>;
  learn(key: string, dims: readonly StoreLearned[]): Promise<void>;
  pause(key: string, retryAfterMs: number): Promise<void>;
}

/** The Redis store: a PacerStore, plus inspection. */
export interface RedisStore extends PacerStore {
  /** The shared levels of a key now. */
  levels(key: string): Promise<StoreLevels>;
  /** Script invocations so far: by EVALSHA, by EVAL, and NOSCRIPT replies that fell back to EVAL. */
  stats(): { readonly evalsha: number; readonly eval: number; readonly noscript: number };
}

export interface RedisStoreOptions {
  /** Prefix of every Redis key (`{prefix:key}`, hash-tagged for Cluster); no `{` or `}`. Default `"llm-pacer"`. */
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
