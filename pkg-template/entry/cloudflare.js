// llm-pacer/cloudflare: the shared store (the `store` option) as a Durable Object, for
// Cloudflare Workers. Every isolate of every Worker that binds the class reaches the same
// object per limit key (`idFromName(key)`), and that object does the arithmetic with the same
// Wasm core as the pacers (`core::store` through the `storeOp` export), at its own clock.
//
// The object's state is the 24 numbers of `KeyState::save` (per dimension a capacity, a level
// and the time of that level, and its queue's level and time; the pause's end; the opening
// probe's lease, whether the key is open and the probes out), plus when it expires: kept in memory, written
// to the object's storage after each operation that changed it (the output gate holds the
// answer until the write is durable), read once when the object starts. Like the Redis key,
// it expires two windows after its last use (plus a pause still in force): the buckets are
// full again by then, and a limit configured anew takes effect. An alarm at that time deletes
// the stored state, so an idle key costs no storage.
import * as workers from "cloudflare:workers";
import wasm from "../llm_pacer_do_bg.wasm";
import { initSync, storeOp } from "./llm_pacer_do.js";
import { storeFace } from "../store-face.js";
import { keeper } from "../binding.js";

const { DurableObject } = workers;
/**
 * A store operation goes on after the response: a settlement at a body's end comes when the
 * request is over (`waitUntil`).
 */
const keep = keeper(workers.waitUntil);

initSync({ module: wasm }); // one instance with the workerd entry's (the glue keeps the first)

const OPS = { levels: 0, reserve: 1, settle: 2, refund: 3, learn: 4, pause: 5, giveback: 6, probed: 7 };
const KINDS = ["ok", "admit", "wait", "never"];
const WINDOW_MS = 60_000;
const EMPTY = Array.from(storeOp([], 0, 0, []).subarray(7)); // a key that knows nothing

/** The Durable Object class: bind it (durable_objects) and export it from your Worker. */
export class PacerLimits extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.state = EMPTY;
    this.expires = 0;
    ctx.blockConcurrencyWhile(async () => {
      const saved = await ctx.storage.get("s");
      // Its state and expiry; 22 or 24 numbers: saved before the opening probe or before its
      // count (still read).
      if (Array.isArray(saved) && [EMPTY.length + 1, 22, 24].includes(saved.length)) {
        this.state = saved.slice(0, -1);
        this.expires = saved[saved.length - 1];
      }
    });
  }

  /**
   * One store operation (what `durableObjectStore` calls over RPC): `op` by name, `args` in
   * core::store's compact form (NaN: not given). `now` replaces the object's clock; for
   * tests only. Returns `[kind, waitMs, dim, now, level × 4]` (NaN level: no bucket).
   */
  op(op, args, now) {
    const code = OPS[op];
    if (typeof code !== "number" || !Array.isArray(args) || args.length > 12) {
      throw new TypeError("llm-pacer/cloudflare: unknown store operation");
    }
    const t = typeof now === "number" && Number.isFinite(now) ? now : Date.now();
    if (t >= this.expires) this.state = EMPTY;
    const out = storeOp(this.state, code, t, Float64Array.from(args, Number));
    const next = Array.from(out.subarray(7));
    const changed = next.some((x, i) => !Object.is(x, this.state[i]));
    if (changed || code === OPS.reserve) {
      const pausedUntil = next[20]; // the pause's end (KeyState::save)
      this.expires = t + 2 * WINDOW_MS + Math.max(0, pausedUntil - t);
    }
    if (changed) {
      this.state = next;
      this.ctx.storage.put("s", [...next, this.expires]);
      // On the real clock (`now` is for tests): as long from now as the expiry is from `t`.
      this.ctx.storage.setAlarm(Date.now() + (this.expires - t));
    }
    return [out[0], out[1], out[2], t, out[3], out[4], out[5], out[6]];
  }

  /** The key's expiry: its state goes (or, used since, the alarm moves to the new expiry). */
  async alarm() {
    if (Date.now() < this.expires) {
      await this.ctx.storage.setAlarm(this.expires);
      return;
    }
    this.state = EMPTY;
    this.expires = 0;
    await this.ctx.storage.deleteAll();
  }
}

const num = (x) => (typeof x === "number" && Number.isFinite(x) ? x : Number.NaN);

/**
 * A PacerStore in Durable Objects (see cloudflare.d.ts): one `PacerLimits` object per limit key.
 * @param {{ idFromName(name: string): unknown, get(id: unknown): any }} namespace the binding
 */
export function durableObjectStore(namespace) {
  if (namespace == null || typeof namespace.idFromName !== "function" || typeof namespace.get !== "function") {
    throw new TypeError("llm-pacer/cloudflare: durableObjectStore(namespace) needs a Durable Object namespace binding (env.PACER_LIMITS)");
  }
  async function call(op, key, args, now) {
    // A stub per call: one that saw an exception may stay broken, and making one is local.
    const stub = namespace.get(namespace.idFromName(String(key)));
    const p = stub.op(op, args, now);
    keep?.(p);
    const r = await p;
    if (!Array.isArray(r) || r.length !== 8 || KINDS[r[0]] === undefined) {
      throw new Error("llm-pacer/cloudflare: unexpected answer from PacerLimits");
    }
    return { kind: KINDS[r[0]], waitMs: r[1], dim: r[2], now: r[3], levels: r.slice(4).map((l) => (Number.isNaN(l) ? undefined : l)) };
  }
  return {
    ...storeFace("llm-pacer/cloudflare", call, num),
    /** Test hook: one operation with the object's clock replaced by `now` (ms). Not for use. */
    _op: (op, key, args, now) => call(op, key, args.map((a) => (a === "" ? Number.NaN : Number(a))), now),
  };
}
