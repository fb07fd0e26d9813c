import cells from "./cells.mjs";
import { runCells } from "./harness.mjs";
const re = new RegExp(process.argv[2] || ".");
const sel = cells.filter((c) => re.test(c.name));
console.error(`running ${sel.length} cells`);
await runCells(sel, Number(process.argv[3] || 2));
process.exit(0);
