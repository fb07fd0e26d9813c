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
    const given = await input;
    // Bytes compiled here, asynchronously (a browser's main thread compiles no more than 4 KB
    // synchronously), to be checked before the glue sees them.
    const source = isBytes(given) ? await WebAssembly.compile(given) : given;
    await initGlue({ module_or_path: isModule(source) ? checked(source) : (source ?? own) });
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
  glue.initSync({ module: checked(module) });
  ready = true;
}

const isModule = (x) => typeof WebAssembly === "object" && x instanceof WebAssembly.Module;
const isBytes = (x) => x instanceof ArrayBuffer || ArrayBuffer.isView(x);

/**
 * `module` compiled, if it is llm-pacer's: the glue keeps the first instance it is given,
 * even one that then fails to start, so another module (one with no imports instantiates)
 * would leave every later `init` with it.
 */
function checked(module) {
  const m = isModule(module) ? module : new WebAssembly.Module(module);
  if (!WebAssembly.Module.exports(m).some((e) => e.name === "__wbindgen_start"))
    throw new TypeError("llm-pacer/slim: not llm-pacer's Wasm module (llm_pacer_bg.wasm)");
  return m;
}

export default init;

bind(glue, () => ready);

export * from "../api.js";
