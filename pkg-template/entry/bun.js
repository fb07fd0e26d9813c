// llm-pacer for Bun: the Wasm file is imported as a file (so `bun build` and `bun build
// --compile` carry it along) and instantiated synchronously on import, which also lets
// `require("llm-pacer")` load this module.
import wasmPath from "../llm_pacer_bg.wasm" with { type: "file" };
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { initSync, RawPacer, RawLow, onTrap, panicForTests } from "./llm_pacer.js";
import { bind } from "../binding.js";

// Unbundled the path is absolute; bundled it is relative to the bundle, not to the cwd.
initSync({ module: readFileSync(resolve(import.meta.dir, wasmPath)) });

bind({ RawPacer, RawLow, onTrap, panicForTests });

export * from "../api.js";
