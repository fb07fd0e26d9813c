// `llm-pacer simulate`: the simulator's strategy comparison (llm-pacer against the usual retry
// recipes, in virtual time). It runs the package's own simulator module (the one behind
// `llm-pacer/simulate`), whose command line is the Rust binary's (`cargo run --bin simulate`):
// one flag parser, one help text and one report format, in src/sim/cli.rs.

import { createRequire } from "node:module";
import { UsageError } from "./util.mjs";

const require = createRequire(import.meta.url);
/** @type {{ cli(args: string[], prog: string): string }} the simulator's Wasm module (Node glue) */
const sim = require("../simulate/llm_pacer_sim.cjs");

const PROG = "llm-pacer simulate";

export const HELP = sim.cli(["--help"], PROG);

/**
 * @param {string[]} argv
 * @returns {Promise<number>} the exit code
 */
export async function simulate(argv) {
  const started = performance.now();
  let out;
  try {
    out = sim.cli(argv, PROG);
  } catch (e) {
    // A bad flag: the simulator throws its message as a string.
    if (typeof e === "string") throw new UsageError(e, "simulate");
    throw e;
  }
  process.stdout.write(out);
  if (out !== HELP) process.stderr.write(`(simulated in ${Math.round(performance.now() - started)} ms of wall time)\n`);
  return 0;
}
