// llm-pacer for Deno (2.2 and later): Deno imports the .wasm as an ES module and links it to
// the bindings it imports (../llm_pacer_bg.js, wasm-bindgen's bundler glue), with no file
// read (so no --allow-read); the module is ready as soon as it is imported.
import * as wasm from "../llm_pacer_bg.wasm";
import { __wbg_set_wasm, RawPacer, RawLow, onTrap, panicForTests } from "../llm_pacer_bg.js";
import { bind } from "../binding.js";

__wbg_set_wasm(wasm);
wasm.__wbindgen_start();

bind({ RawPacer, RawLow, onTrap, panicForTests });

export * from "../api.js";
