// Runs the scenarios in a browser page (tests/js/runtimes.test.mjs serves it from 127.0.0.1
// with an import map for "llm-pacer", resolved through the package's exports map). The mocks
// are on other ports: every call is cross-origin, so the pacer sees only the headers CORS exposes.
import * as pkg from "llm-pacer";
import * as slim from "llm-pacer/slim";
import { runScenarios, slimScenario } from "./scenarios.mjs";

const env = JSON.parse(new URLSearchParams(location.search).get("env"));
globalThis.results = runScenarios(pkg.Pacer, env, {
  // `init()` with no argument fetches the package's .wasm file next to the module.
  slim: () => slimScenario(slim, () => slim.init(), env),
});
