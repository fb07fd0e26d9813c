// llm-pacer for Cloudflare Workers (workerd): the Wasm file is imported as a compiled
// `WebAssembly.Module` (wrangler and Miniflare treat `.wasm` imports as CompiledWasm modules)
// and instantiated synchronously, so the module is ready as soon as it is imported.
// Its module is the main one plus the `storeOp` export of llm-pacer/cloudflare's Durable
// Object: one instance serves both entries.
import wasm from "../llm_pacer_do_bg.wasm";
import { initSync, RawPacer, RawLow, onTrap, panicForTests } from "./llm_pacer_do.js";
import { bind } from "../binding.js";

initSync({ module: wasm });

bind({ RawPacer, RawLow, onTrap, panicForTests });

export * from "../api.js";
