#!/usr/bin/env node
// The `llm-pacer` command: `npx llm-pacer [demo|probe|simulate] [OPTIONS]`. Node 18+, no
// dependencies beyond this package. Exit status: 0 success, 1 failure, 2 bad command line.

import { readFileSync } from "node:fs";
import { CliError, UsageError } from "./util.mjs";

const COMMANDS = ["demo", "probe", "simulate"];

const HELP = `\
llm-pacer: retry and rate-limit policy for LLM APIs, as a drop-in fetch

USAGE:
    npx llm-pacer [COMMAND] [OPTIONS]

COMMANDS:
    demo        (default) a batch of requests through pacer.fetch against a local server that
                rate-limits like the Anthropic API (or the real API with --live): live
                progress, then makespan against the lower bound, 429s, retries, latency
    probe       one minimal request; prints your current rate limits from the headers
    simulate    the simulator's strategy comparison: llm-pacer against the usual retry
                recipes on a simulated rate-limited API (virtual time, seeded)
    help [CMD]  this help, or a command's

OPTIONS:
    -h, --help      help (after a command: that command's help)
    -V, --version   the package version

Examples:
    npx llm-pacer
    npx llm-pacer demo --requests 500 --seconds 60
    ANTHROPIC_API_KEY=... npx llm-pacer probe --model claude-sonnet-4-5
`;

/** @param {string} name */
async function load(name) {
  switch (name) {
    case "demo":
      return import("./demo.mjs").then((m) => ({ run: m.demo, help: m.HELP }));
    case "probe":
      return import("./probe.mjs").then((m) => ({ run: m.probe, help: m.HELP }));
    default:
      return import("./simulate.mjs").then((m) => ({ run: m.simulate, help: m.HELP }));
  }
}

/** @param {string[]} argv @returns {Promise<number>} */
async function main(argv) {
  const [first, ...rest] = argv;
  if (first === "-h" || first === "--help") {
    process.stdout.write(HELP);
    return 0;
  }
  if (first === "-V" || first === "--version") {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
    process.stdout.write(`llm-pacer ${pkg.version}\n`);
    return 0;
  }
  if (first === "help") {
    if (rest.length === 0) {
      process.stdout.write(HELP);
      return 0;
    }
    if (!COMMANDS.includes(rest[0]))
      throw new UsageError(`unknown command \`${rest[0]}\` (commands: ${COMMANDS.join(", ")})`);
    process.stdout.write((await load(rest[0])).help);
    return 0;
  }
  // No command, or options first: the demo.
  if (first === undefined || first.startsWith("-")) return (await load("demo")).run(argv);
  if (!COMMANDS.includes(first))
    throw new UsageError(`unknown command \`${first}\` (commands: ${COMMANDS.join(", ")})`);
  return (await load(first)).run(rest);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  if (e instanceof UsageError) {
    const cmd = e.command ? ` ${e.command}` : "";
    process.stderr.write(`llm-pacer${cmd}: ${e.message}\nTry \`llm-pacer${cmd} --help\`.\n`);
    process.exitCode = 2;
  } else if (e instanceof CliError) {
    process.stderr.write(`llm-pacer: ${e.message}\n`);
    process.exitCode = 1;
  } else {
    // A bug: say so, with the stack, for a report.
    process.stderr.write(`llm-pacer: unexpected error (please report it):\n${/** @type {Error} */ (e)?.stack ?? e}\n`);
    process.exitCode = 1;
  }
}
