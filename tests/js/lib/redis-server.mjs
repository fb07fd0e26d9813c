// A real redis-server (Debian's) on a free loopback port, for the store tests: no Docker, no
// persistence, stopped by the test. `start()` again on the same port restarts it (a fault test).
// `startRedisCluster()`: three such servers as a Redis Cluster (3 masters, no replicas), made
// with Debian's redis-cli (redis-tools).
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, connect } from "node:net";

/**
 * A free loopback port whose cluster bus port (the port + 10000, which a cluster node also
 * listens on) is free too and exists: the ephemeral range reaches 60999, and a node on a port
 * above 55535 does not start.
 */
async function freeClusterPort() {
  for (;;) {
    const port = await freePort();
    if (port + 10_000 > 65_535) continue;
    const bus = await new Promise((resolve) => {
      const s = createServer();
      s.once("error", () => resolve(false));
      s.listen(port + 10_000, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (bus) return port;
  }
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * One inline command's reply (its first chunk), or null when the server does not answer.
 * @param {number} port @param {string} command
 * @returns {Promise<string | null>}
 */
function ask(port, command) {
  return new Promise((resolve) => {
    const c = connect(port, "127.0.0.1");
    c.once("connect", () => c.write(`${command}\r\n`));
    c.once("data", (d) => {
      c.destroy();
      resolve(String(d));
    });
    c.once("error", () => resolve(null));
  });
}

/** @param {number} port */
const ping = async (port) => (await ask(port, "PING"))?.startsWith("+PONG") ?? false;

/**
 * Start redis-server; resolves once it answers PING.
 * @param {number} [port] @param {string[]} [extraArgs] more `--option value` arguments
 */
export async function startRedis(port, extraArgs = []) {
  port ??= await freePort();
  const proc = spawn(
    "redis-server",
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--protected-mode",
      "yes",
      ...extraArgs,
    ],
    { stdio: "ignore" },
  );
  let exited = false;
  proc.once("exit", () => (exited = true));
  for (let i = 0; i < 200 && !exited; i++) {
    if (await ping(port)) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  if (exited) throw new Error("redis-server did not start (is it installed? scripts/setup.sh installs it)");
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (exited) return;
      const done = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await done;
    },
  };
}

/**
 * A Redis Cluster of three masters on free loopback ports (slots split by `redis-cli --cluster
 * create`); resolves once every node reports `cluster_state:ok`. Its config files live in a
 * temporary directory that `stop()` removes.
 */
export async function startRedisCluster() {
  const dir = mkdtempSync(join(tmpdir(), "llm-pacer-cluster-"));
  const ports = [await freeClusterPort(), await freeClusterPort(), await freeClusterPort()];
  const nodes = [];
  try {
    for (const port of ports) {
      nodes.push(
        await startRedis(port, [
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          join(dir, `nodes-${port}.conf`),
          "--cluster-node-timeout",
          "5000",
          "--dir",
          dir,
        ]),
      );
    }
    await new Promise((resolve, reject) =>
      execFile(
        "redis-cli",
        ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes"],
        { timeout: 30_000 },
        (err, _stdout, stderr) =>
          err
            ? reject(
                new Error(
                  `redis-cli --cluster create failed (is redis-tools installed? scripts/setup.sh installs it): ${stderr || err.message}`,
                ),
              )
            : resolve(undefined),
      ),
    );
    for (let i = 0; i < 400; i++) {
      const states = await Promise.all(ports.map((p) => ask(p, "CLUSTER INFO")));
      if (states.every((s) => s?.includes("cluster_state:ok"))) break;
      if (i === 399) throw new Error("the cluster did not become ready");
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (e) {
    await Promise.all(nodes.map((n) => n.stop()));
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    ports,
    /** Seed nodes for `new Redis.Cluster(nodes)`. */
    nodes: ports.map((port) => ({ host: "127.0.0.1", port })),
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
