// `llm-pacer simulate`: the simulator's strategy comparison (llm-pacer against the usual retry
// recipes, in virtual time). The simulator is Rust (src/sim/ of the source checkout); it is
// not shipped in the npm package, whose size is budgeted for the pacer alone. So this command
// runs `cargo run --release --bin simulate` when the package sits inside a source checkout
// (as pkg/ does after scripts/build-pkg.sh), and says how to get one otherwise.

import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CliError, parseOptions } from "./util.mjs";

/** The flags of the Rust `simulate` binary (checked here, passed on as given). */
export const OPTIONS = {
  clients: { type: "int", min: 1, max: 10_000 },
  requests: { type: "int", min: 1, max: 10_000_000 },
  rpm: { type: "number", min: 0 },
  itpm: { type: "number", min: 0 },
  otpm: { type: "number", min: 0 },
  concurrency: { type: "int", min: 1, max: 1_000_000 },
  seed: { type: "int", min: 0 },
  p529: { type: "number", min: 0, max: 1 },
  metering: { type: "string", choices: ["reservation", "realtime"] },
  "learn-limits": { type: "boolean" },
  "skew-ms": { type: "number" },
};

export const HELP = `\
llm-pacer simulate: llm-pacer against the usual retry recipes on a simulated rate-limited API
(virtual time, seeded: the same flags always print the same numbers)

USAGE:
    npx llm-pacer simulate [OPTIONS]

Runs the Rust simulator of a source checkout (cargo run --release --bin simulate); the npm
package does not ship it. Without --clients it runs the 1-client and the 4-client scenario.

OPTIONS:
    --clients K         clients sharing the organisation's limits (default: run 1, then 4)
    --requests N        requests in the workload (default 1000)
    --rpm R             requests per minute (default 50)
    --itpm I            input tokens per minute (default 30000)
    --otpm O            output tokens per minute (default 8000)
    --concurrency C     requests in progress per client, every strategy (default 5)
    --seed S            seed of every random draw (default 1)
    --p529 P            probability that an admissible request gets a 529 (default 0)
    --metering M        OTPM metering: reservation (default) or realtime
    --learn-limits      llm-pacer is not told the limits: it learns them from headers
    --skew-ms MS        the server's clock runs MS ms ahead (negative: behind; default 0)
    -h, --help          print this help
`;

/**
 * The root of the source checkout this package was built in (a directory with the crate's
 * Cargo.toml and src/bin/simulate.rs), looking up to three levels above the package.
 * @returns {string | null}
 */
export function findCheckout() {
  let dir = dirname(dirname(fileURLToPath(import.meta.url))); // the package
  for (let i = 0; i < 4; i++) {
    const manifest = join(dir, "Cargo.toml");
    if (existsSync(manifest) && existsSync(join(dir, "src", "bin", "simulate.rs"))) {
      if (/^name\s*=\s*"llm-pacer"/m.test(readFileSync(manifest, "utf8"))) return dir;
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return null;
}

/**
 * @param {string[]} argv
 * @returns {Promise<number>} the exit code
 */
export async function simulate(argv) {
  const o = parseOptions(argv, /** @type {any} */ (OPTIONS), "simulate");
  if (o.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const root = findCheckout();
  if (!root) {
    throw new CliError(
      "simulate runs the Rust simulator of a source checkout, and this package was not built in one " +
        "(the npm package does not ship the simulator, to stay small). In a clone of the llm-pacer " +
        "repository run: cargo run --release --bin simulate -- [OPTIONS]",
    );
  }
  const args = ["run", "--quiet", "--release", "--bin", "simulate", "--", ...argv];
  process.stderr.write(`llm-pacer simulate: cargo ${args.join(" ")} (in ${root}; the first run compiles it)\n`);
  return new Promise((resolve, reject) => {
    const child = spawn("cargo", args, { cwd: root, stdio: "inherit" });
    child.on("error", (e) => {
      const err = /** @type {NodeJS.ErrnoException} */ (e);
      reject(
        new CliError(
          err.code === "ENOENT"
            ? "simulate needs cargo (the Rust toolchain, https://rustup.rs) to build the simulator; it is not on PATH"
            : `could not start cargo: ${err.message}`,
        ),
      );
    });
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}
