// A server with a hidden capacity and no rate-limit headers (a self-hosted model server, a
// gateway): at most `maxConcurrent` requests in progress, each answered after `latencyMs`
// (real ms) with a small JSON body; beyond, a bare 503 at once (no header, no hint, no body).
// Node built-ins only. Counts what it saw.
import { createServer } from "node:http";

/**
 * @param {{ maxConcurrent?: number, latencyMs?: number }} [options]
 */
export async function startHiddenCapacityServer({ maxConcurrent = 3, latencyMs = 20 } = {}) {
  const stats = { requests: 0, served: 0, refused: 0, inFlight: 0, maxInFlight: 0 };
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      stats.requests++;
      if (stats.inFlight >= maxConcurrent) {
        stats.refused++;
        res.writeHead(503, { "content-length": "0" });
        return res.end();
      }
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      setTimeout(() => {
        stats.inFlight--;
        stats.served++;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ id: stats.served, usage: { prompt_tokens: 1, completion_tokens: 1 } }));
      }, latencyMs);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = /** @type {import("node:net").AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${port}/v1/chat/completions`,
    stats,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
