// `llm-pacer/simulate`: the simulator, from its own entry and its own Wasm module. The figures
// are the native `simulate` binary's for the same scenario; the entry is one instance for
// `import` and `require`; bad keys throw naming the key. (Packed consumers: packaging and
// consumers tests.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { simulate } from "llm-pacer/simulate";
import { reportRow } from "./lib/harness.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));

/** `fn()` throws an error of class `C` whose message names the key `name` (in backticks). */
function throwsNaming(fn, C, name) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof C, `${e?.constructor?.name}: ${e?.message}`);
    assert.match(e.message, new RegExp(`\`${name.replace(".", "\\.")}\``), e.message);
    return true;
  });
}

test("the same figures as the native `simulate` binary for the same small scenario", () => {
  const config = { clients: 2, seed: 3, concurrency: 2, workload: { requests: 60 }, p529: 0.05 };
  const result = simulate(config);
  assert.deepEqual(
    result.reports.map((r) => r.strategy),
    ["llm-pacer", "naive-backoff", "token-window", "sdk-default"],
  );
  const cli = execFileSync(
    "cargo",
    [
      "run",
      "--quiet",
      "--bin",
      "simulate",
      "--",
      "--clients",
      "2",
      "--seed",
      "3",
      "--concurrency",
      "2",
      "--requests",
      "60",
      "--p529",
      "0.05",
    ],
    { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
  );
  // Compared word by word: "12.3 s" is two words on both sides.
  const words = (s) => s.trim().split(/\s+/);
  const table = cli
    .split("\n")
    .filter((l) => /^(llm-pacer|naive-backoff|token-window|sdk-default) /.test(l))
    .map((l) => words(l.replace("(stopped)", "")));
  assert.equal(table.length, 4, cli);
  assert.deepEqual(
    table,
    result.reports.map((r) => words(reportRow(r).join(" ").replace("(stopped)", ""))),
  );
  assert.equal(cli.split("\n")[0], result.scenario.summary.split("\n")[0], "the scenario's summary line");
  assert.ok(result.reports[0].series.length > 0);
  assert.deepEqual(simulate(JSON.stringify(config)), result, "a JSON string gives the same run");
});

test("one module for import and require; defaults; errors naming the key", () => {
  const required = createRequire(import.meta.url)("llm-pacer/simulate");
  assert.equal(required.simulate, simulate);
  const one = simulate({ workload: { requests: 20 }, strategies: ["llm-pacer"] });
  assert.equal(one.reports.length, 1);
  assert.deepEqual(one.scenario.limits, { rpm: 50, itpm: 30000, otpm: 8000, tpm: null });
  assert.equal(one.reports[0].failures, 0);
  assert.equal(one.reports[0].rateLimited, 0);
  throwsNaming(() => simulate({ workload: { maxTokens: -1 } }), RangeError, "workload.maxTokens");
  throwsNaming(() => simulate({ clients: "two" }), TypeError, "clients");
  throwsNaming(() => simulate({ metering: "daily" }), RangeError, "metering");
  throwsNaming(() => simulate({ preset: "nope" }), RangeError, "preset");
  // The scenario's own range checks name the config's key too.
  for (const [config, key] of [
    [{ limits: { rpm: -1 } }, "limits.rpm"],
    // Below 1 no request fits (as the pacer's own option): a scenario could never run.
    [{ limits: { rpm: 0.5 } }, "limits.rpm"],
    [{ limits: { otpm: 1e13 } }, "limits.otpm"],
    [{ skewMs: 1e308 }, "skewMs"],
    [{ storeMs: 1000 }, "storeMs"],
    [{ storeMs: -1 }, "storeMs"],
    [{ outside: 1 }, "outside"],
    [{ clients: 2, storeMs: 2, outside: 2 }, "outside"],
    [{ outside: 1.5 }, "outside"],
    [{ workload: { maxTokens: 0 } }, "workload.maxTokens"],
    [{ workload: { inputMedian: 0 } }, "workload.inputMedian"],
    [{ workload: { inputSigma: 9 } }, "workload.inputSigma"],
    [{ workload: { outputMin: 9, outputMax: 8 } }, "workload.outputMin"],
    [{ workload: { arrivalPerS: -1 } }, "workload.arrivalPerS"],
    [{ p529: 2 }, "p529"],
    [{ strategies: [] }, "strategies"],
  ]) {
    throwsNaming(() => simulate(config), RangeError, key);
  }
});

test("models and orgs, as documented: a report per class", () => {
  const r = simulate({ models: true, orgs: 2, workload: { requests: 40 }, strategies: ["llm-pacer"] });
  const classes = r.reports[0].classes;
  assert.ok(Array.isArray(classes) && classes.length === 2, JSON.stringify(classes));
  assert.equal(
    classes.reduce((n, c) => n + c.requests, 0),
    40,
  );
  throwsNaming(() => simulate({ orgs: 2 }), RangeError, "orgs");
});

test("a preset of a plan that counts output as generated meters so, and the pacer sends a max_tokens above its OTPM", () => {
  // anthropic:start:sonnet: OTPM 400,000, output counted as generated (a probe: llm-pacer
  // completed 0 of 5 while every baseline completed 5).
  const config = {
    preset: "anthropic:start:sonnet",
    workload: { requests: 5, maxTokens: 500_000 },
    strategies: ["llm-pacer"],
  };
  const { scenario, reports } = simulate(config);
  assert.equal(scenario.metering, "realtime");
  assert.equal(reports[0].completed, 5);
  assert.equal(reports[0].failures, 0);
  // `metering` still says otherwise when given.
  assert.equal(simulate({ ...config, metering: "reservation" }).scenario.metering, "reservation");
});

test("storeMs: the llm-pacer clients share their limits through a store", () => {
  // Eight clients learning their limits: on their own they draw 429s here; through the
  // store, none (the fleet's aims: at most 0.5%, and 1.05 times the bound).
  const config = { clients: 8, learnLimits: true, workload: { requests: 300 }, strategies: ["llm-pacer"] };
  const alone = simulate(config);
  const shared = simulate({ ...config, storeMs: 2 });
  assert.equal(alone.scenario.storeMs, null);
  assert.equal(shared.scenario.storeMs, 2);
  assert.match(shared.scenario.summary, /share their limits through a store \(2 ms a reservation\)/);
  const [a] = alone.reports;
  const [s] = shared.reports;
  assert.equal(a.storeReserves, undefined);
  assert.ok(s.storeReserves >= s.requests, String(s.storeReserves));
  assert.ok(a.rateLimited > 0, "alone, the fleet draws 429s");
  assert.equal(s.rateLimited, 0);
  assert.equal(s.failures, 0);
  assert.ok(s.ratio <= 1.05, String(s.ratio));
  throwsNaming(() => simulate({ storeMs: "2" }), TypeError, "storeMs");
  // `outside`: one of three clients stays off the store, beside the fleet.
  const beside = simulate({ ...config, clients: 3, storeMs: 2, outside: 1 });
  assert.equal(beside.scenario.outside, 1);
  assert.equal(shared.scenario.outside, 0);
  assert.match(beside.scenario.summary, /but 1 of them on their own beside it/);
  assert.equal(beside.reports[0].completed, 300);
  assert.equal(beside.reports[0].fleetRequests, 200, "two of the three clients' requests");
  assert.ok(beside.reports[0].fleetRateLimited <= beside.reports[0].rateLimited);
  assert.equal(s.fleetRequests, undefined);
});
