// llm-pacer/slim: the same API, for callers who load the Wasm module themselves.
export * from "./index.js";

/** The module's bytes (what the DOM library calls a `BufferSource`). */
export type WasmBytes = ArrayBuffer | ArrayBufferView;

/**
 * A compiled `WebAssembly.Module`. Typed as any object, so that these types need no DOM
 * library (Node's own types have no `WebAssembly`).
 */
export type WasmModule = object;

/** Where the Wasm module comes from: a URL, a fetch Response, bytes, or a compiled module. */
export type WasmSource = string | URL | Response | WasmBytes | WasmModule;

/**
 * Load the Wasm module (by default the `.wasm` file of this package, where `fetch` reads a
 * `file:` URL: not in Node, where you pass its bytes). Call once before `new Pacer()`.
 */
export declare function init(input?: WasmSource | Promise<WasmSource>): Promise<void>;
/** Instantiate synchronously from a compiled module or the module's bytes. */
export declare function initSync(module: WasmBytes | WasmModule): void;
export default init;
