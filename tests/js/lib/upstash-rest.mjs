// A local stand-in for Upstash's Redis REST API in front of a real redis-server, for the
// @upstash/redis tests (no real Upstash is reachable here). What @upstash/redis 1.x sends
// (node_modules/@upstash/redis, its HttpClient and Pipeline):
// - POST / with a JSON command array (`["evalsha", sha, 1, key, ...args]`) → `{ result }`,
//   or HTTP 400 `{ error }` when Redis answers an error;
// - POST /pipeline (the client's auto-pipelining, on by default) and /multi-exec with an array
//   of command arrays → an array of `{ result }` / `{ error }`, HTTP 200;
// - `Authorization: Bearer <token>`: anything else is HTTP 401 `{ error }`;
// - `Upstash-Encoding: base64`: every bulk string of the result is base64 (UTF-8), nested in
//   arrays too; numbers, nulls and the status "OK" are left as they are.
// Each command is forwarded through ioredis `call` (so replies are Redis's own).
import { createServer } from "node:http";
import Redis from "ioredis";

/**
 * @typedef {object} UpstashShim
 * @property {string} url base URL for `new Redis({ url, token })` of @upstash/redis
 * @property {string} token
 * @property {{ requests: number, pipelines: number, commands: Record<string, number>, unauthorized: number, base64: number }} stats
 * @property {() => Promise<void>} close
 */

/** @param {unknown} v @returns {unknown} */
function encode(v) {
  if (typeof v === "string") return v === "OK" ? v : Buffer.from(v, "utf8").toString("base64");
  if (Buffer.isBuffer(v)) return v.toString("base64");
  if (Array.isArray(v)) return v.map(encode);
  return v;
}

/**
 * @param {number} redisPort a redis-server on 127.0.0.1
 * @param {{ token?: string }} [options]
 * @returns {Promise<UpstashShim>}
 */
export async function startUpstashShim(redisPort, { token = "test-token" } = {}) {
  const redis = new Redis(redisPort, "127.0.0.1", { maxRetriesPerRequest: 0 });
  const stats = {
    requests: 0,
    pipelines: 0,
    commands: /** @type {Record<string, number>} */ ({}),
    unauthorized: 0,
    base64: 0,
  };

  /** @param {unknown} cmd @returns {Promise<{ result?: unknown, error?: string }>} */
  async function run(cmd) {
    if (!Array.isArray(cmd) || cmd.length === 0) return { error: "ERR malformed command" };
    const [name, ...args] = cmd.map((x) => (typeof x === "string" ? x : JSON.stringify(x)));
    const lower = name.toLowerCase();
    stats.commands[lower] = (stats.commands[lower] ?? 0) + 1;
    try {
      return { result: await redis.call(name, ...args) };
    } catch (e) {
      return { error: String(/** @type {Error} */ (e)?.message ?? e) };
    }
  }

  const server = createServer((req, res) => {
    const chunks = /** @type {Buffer[]} */ ([]);
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      stats.requests++;
      /** @param {number} status @param {unknown} body */
      const send = (status, body) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (req.method !== "POST") return send(405, { error: "ERR only POST" });
      if (req.headers.authorization !== `Bearer ${token}`) {
        stats.unauthorized++;
        return send(401, { error: "Unauthorized" });
      }
      const b64 = String(req.headers["upstash-encoding"] ?? "").toLowerCase() === "base64";
      if (b64) stats.base64++;
      /** @param {{ result?: unknown, error?: string }} r */
      const out = (r) => (r.error !== undefined ? { error: r.error } : { result: b64 ? encode(r.result) : r.result });
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        return send(400, { error: "ERR failed to parse the request body" });
      }
      const path = (req.url ?? "/").split("?")[0].replace(/\/+$/, "");
      if (path === "" || path === "/") {
        const r = await run(body);
        return send(r.error !== undefined ? 400 : 200, out(r));
      }
      if (path === "/pipeline" || path === "/multi-exec") {
        if (!Array.isArray(body)) return send(400, { error: "ERR a pipeline is an array of commands" });
        stats.pipelines++;
        const results = [];
        // Forwarded one by one (a MULTI over ioredis `call` would interleave with other
        // requests on the same connection); enough for the store, which sends single scripts.
        for (const cmd of body) results.push(out(await run(cmd)));
        return send(200, results);
      }
      return send(404, { error: `ERR unknown path ${path}` });
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(undefined)));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    stats,
    async close() {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(() => resolve(undefined)));
      redis.disconnect();
    },
  };
}
