// A TCP proxy on a free loopback port that holds every chunk, in both directions, for
// `delayMs` before passing it on (in order): a slow Redis for the store fault tests.
import { createServer, connect } from "node:net";

/**
 * @typedef {object} DelayProxy
 * @property {number} port
 * @property {number} delayMs the delay of chunks received from now on (settable)
 * @property {number} chunks chunks passed on so far
 * @property {() => Promise<void>} close stop listening, cut every connection
 */

/**
 * @param {number} targetPort where to forward (127.0.0.1)
 * @param {{ delayMs?: number }} [options]
 * @returns {Promise<DelayProxy>}
 */
export async function startDelayProxy(targetPort, { delayMs = 0 } = {}) {
  /** @type {Set<import("node:net").Socket>} */
  const sockets = new Set();
  /** @type {DelayProxy} */
  const proxy = {
    port: 0,
    delayMs,
    chunks: 0,
    close: async () => {},
  };
  /**
   * Pass `from`'s chunks to `to`, each held `proxy.delayMs` (as it was when it came), never
   * overtaking an earlier one.
   * @param {import("node:net").Socket} from @param {import("node:net").Socket} to
   */
  const pipe = (from, to) => {
    let last = 0;
    from.on("data", (chunk) => {
      const at = Math.max(Date.now() + proxy.delayMs, last);
      last = at;
      setTimeout(() => {
        proxy.chunks++;
        if (!to.destroyed) to.write(chunk);
      }, at - Date.now());
    });
    from.on("close", () => setTimeout(() => to.destroy(), Math.max(0, last - Date.now())));
    from.on("error", () => {});
  };
  const server = createServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    sockets.add(client);
    sockets.add(upstream);
    client.on("close", () => sockets.delete(client));
    upstream.on("close", () => sockets.delete(upstream));
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(undefined)));
  const address = server.address();
  proxy.port = typeof address === "object" && address ? address.port : 0;
  proxy.close = () =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return proxy;
}
