// llm-pacer/slim: the same API, for callers who load the Wasm module themselves.
export * from "./index.js";

/** Where the Wasm module comes from: a URL, a fetch Response, bytes, or a compiled module. */
export type WasmSource = string | URL | Response | BufferSource | WebAssembly.Module;

/** Load the Wasm module (by default the `.wasm` file of this package). Call once before `new Pacer()`. */
export declare function init(input?: WasmSource | Promise<WasmSource>): Promise<void>;
/** Instantiate synchronously from a compiled module or the module's bytes. */
export declare function initSync(module: BufferSource | WebAssembly.Module): void;
export default init;
