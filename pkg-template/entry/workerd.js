// llm-pacer for Cloudflare Workers (workerd): the Wasm file is imported as a compiled
// `WebAssembly.Module` (wrangler and Miniflare treat `.wasm` imports as CompiledWasm modules)
// and instantiated synchronously, so the module is ready as soon as it is imported.
// Its module is the main one plus the `storeOp` export of llm-pacer/cloudflare's Durable
// Object: one instance serves both entries.
import * as workers from "cloudflare:workers";
import wasm from "../llm_pacer_do_bg.wasm";
import { initSync, RawPacer, RawLow, onTrap, panicForTests } from "./llm_pacer_do.js";
import { bind, keeper } from "../binding.js";
import { beating, ownContext, sweep } from "../own-context.js";

initSync({ module: wasm });

// Each request has a context of its own: a call's attempts are sent, and its waits timed, from
// its caller's (pacer-class.js), and a stream delivered is watched from there (`beating`);
// what must outlive the response (the read of a JSON body's
// usage) is kept with `waitUntil` (in workerd since 2025; without it, not kept).
bind({ RawPacer, RawLow, onTrap, panicForTests }, undefined, { own: ownContext, beating, sweep, keep: keeper(workers.waitUntil) });

export * from "../api.js";
