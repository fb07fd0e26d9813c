// The PacerStore face of a store that runs core::store's operations (`llm-pacer/redis`'s Lua
// script, `llm-pacer/cloudflare`'s Durable Object), imported by each of those entries. It turns the pacer's objects
// into the operations' positional arguments and the answers back; `call(op, key, args)` carries one
// operation to the store and answers `{ kind, waitMs, dim, now, levels }` (dim: 1-based, 0 the
// pause; a level undefined where no bucket exists), and `enc` writes one number for that
// transport (a missing one as the transport's "not given").
const DIMS = ["requests", "inputTokens", "outputTokens", "tokens"];

/**
 * @param {string} entry the entry's name, for errors
 * @param {(op: string, key: string, args: unknown[]) => Promise<{ kind: string, waitMs: number, dim?: number, now: number, levels: (number | undefined)[] }>} call
 * @param {(x: unknown) => unknown} enc
 */
export function storeFace(entry, call, enc) {
  const reply = (r) => ({
    now: r.now,
    levels: Object.fromEntries(DIMS.flatMap((d, i) => (r.levels[i] === undefined ? [] : [[d, r.levels[i]]]))),
  });
  const dimNo = (d) => {
    const i = DIMS.indexOf(d.dim);
    if (i < 0) throw new TypeError(`${entry}: unknown dimension ${d.dim}`);
    return enc(i + 1);
  };
  return {
    async reserve(key, request) {
      const l = request.limits ?? {};
      const turn = request.turn === true ? 1 : 0;
      const r = await call(
        "reserve",
        key,
        [l.rpm, l.itpm, l.otpm, l.tpm, request.input, request.output, turn, request.expectedOutput].map(enc),
      );
      if (r.kind === "admit") return { admit: true, ...reply(r) };
      if (r.kind === "never") return { admit: false, never: DIMS[r.dim - 1], ...reply(r) };
      const blocker = r.dim === 0 ? "paused" : r.dim === 5 ? "probe" : DIMS[r.dim - 1];
      return { admit: false, waitMs: r.waitMs, blocker, ...reply(r) };
    },
    async settle(key, reserved, actual) {
      await call("settle", key, [reserved.input, reserved.output, actual.input, actual.output].map(enc));
    },
    async refund(key, reserved) {
      await call("refund", key, [reserved.input, reserved.output, reserved.turnOnly === true ? 1 : 0].map(enc));
    },
    async learn(key, dims) {
      const args = [];
      for (const d of dims) args.push(dimNo(d), enc(d.limit), enc(d.remaining));
      if (args.length) await call("learn", key, args);
    },
    async giveBack(key, dims) {
      const args = [];
      for (const d of dims) args.push(dimNo(d), enc(d.given), enc(d.upTo));
      if (args.length) await call("giveback", key, args);
    },
    async pause(key, retryAfterMs) {
      await call("pause", key, [enc(retryAfterMs)]);
    },
    async probed(key, open) {
      await call("probed", key, [enc(open === true ? 1 : 0)]);
    },
    async levels(key) {
      return reply(await call("levels", key, []));
    },
  };
}
