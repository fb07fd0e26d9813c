// A tiny static file server for the demo page, on 127.0.0.1 only.
//
//   node www/serve.mjs [--port N]     serves www/ (and the npm package build pkg/ under /npm/)
//
// Used by scripts/www.sh and by tests/js/www.test.mjs (import { startServer }).
import { createServer } from "node:http";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ts": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
};

/** The file under `root` for a URL path, or null when it would leave `root`. */
function under(root, path) {
  let rel;
  try {
    rel = decodeURIComponent(path);
  } catch {
    return null;
  }
  if (rel.includes("\0")) return null;
  const file = resolve(root, "." + (rel.endsWith("/") ? rel + "index.html" : rel));
  return file === root || file.startsWith(root + sep) ? file : null;
}

/**
 * Serve `root` at `/` and, when given, `npmDir` at `/npm/`.
 * @param {{ root: string, npmDir?: string, port?: number, host?: string }} options
 * @returns {Promise<{ server: import("node:http").Server, url: string, close(): Promise<void> }>}
 */
export async function startServer({ root, npmDir, port = 0, host = "127.0.0.1" }) {
  const roots = [["/npm/", npmDir && resolve(npmDir)], ["/", resolve(root)]];
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    const [prefix, dir] = roots.find(([p]) => path.startsWith(p)) ?? [];
    const file = dir ? under(dir, "/" + path.slice(prefix.length)) : null;
    const info = file && (await stat(file).catch(() => null));
    if (!info?.isFile()) {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found\n");
      return;
    }
    res.writeHead(200, {
      "content-type": TYPES[extname(file)] ?? "application/octet-stream",
      "content-length": info.size,
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
    });
    if (req.method === "HEAD") res.end();
    else createReadStream(file).pipe(res);
  });
  await new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, host, ok);
  });
  const url = `http://${host}:${server.address().port}/`;
  return {
    server,
    url,
    close: () => new Promise((ok) => server.close(() => ok())),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const i = args.indexOf("--port");
  const port = i >= 0 ? Number(args[i + 1]) : 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error("serve: --port must be an integer from 0 to 65535");
    process.exit(2);
  }
  const here = fileURLToPath(new URL(".", import.meta.url));
  const { url } = await startServer({ root: here, npmDir: join(here, "..", "pkg"), port });
  console.log(`llm-pacer demo page: ${url}  (Ctrl-C stops)`);
}
