// llm-pacer/slim: for callers who load the Wasm module themselves. Call `await init()` (or
// `initSync(module)`) once before `new Pacer()`.
import initGlue, * as glue from "./llm_pacer.js";
import { bind } from "../binding.js";

let ready = false;

/**
 * Load the Wasm module: by default from the `.wasm` file next to this package, else from what
 * is given (a URL, a Response, bytes, or a compiled `WebAssembly.Module`).
 */
export async function init(input) {
  const own = new URL("../llm_pacer_bg.wasm", import.meta.url);
  try {
    await initGlue({ module_or_path: input ?? own });
  } catch (e) {
    // A runtime whose fetch cannot read files (Node): say what to do instead.
    if (input == null && own.protocol === "file:")
      throw new TypeError(
        "llm-pacer/slim: init() cannot fetch the package's own .wasm here (a file: URL); pass its bytes: init(await readFile(new URL(import.meta.resolve('llm-pacer/llm_pacer_bg.wasm'))))",
        { cause: e },
      );
    throw e;
  }
  ready = true;
}

/** Instantiate synchronously from a compiled `WebAssembly.Module` or the module's bytes. */
export function initSync(module) {
  glue.initSync({ module });
  ready = true;
}

export default init;

bind(glue, () => ready);

export * from "../api.js";
