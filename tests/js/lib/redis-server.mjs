// A real redis-server (Debian's) on a free loopback port, for the store tests: no Docker, no
// persistence, stopped by the test. `start()` again on the same port restarts it (a fault test).
import { spawn } from "node:child_process";
import { createServer, connect } from "node:net";

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

function ping(port) {
  return new Promise((resolve) => {
    const c = connect(port, "127.0.0.1");
    c.once("connect", () => c.write("PING\r\n"));
    c.once("data", (d) => {
      c.destroy();
      resolve(String(d).startsWith("+PONG"));
    });
    c.once("error", () => resolve(false));
  });
}

/** Start redis-server; resolves once it answers PING. */
export async function startRedis(port) {
  port ??= await freePort();
  const proc = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
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
