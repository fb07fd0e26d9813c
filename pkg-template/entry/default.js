// llm-pacer for browsers, bundlers and any other runtime that can fetch a file URL (the
// `browser` and `default` conditions): the module is ready as soon as it is imported
// (top-level await on the Wasm instantiation).
import init, * as glue from "./llm_pacer.js";
import { bind } from "../binding.js";

await init({ module_or_path: new URL("../llm_pacer_bg.wasm", import.meta.url) });
bind(glue);

export * from "../api.js";
