// Pick a small committed corpus from a libFuzzer merge control file: the files kept by name
// (hand-made seeds `seed-*`, crashes turned regressions `crash-*`), then, greedily, the inputs that add the most coverage edges not yet covered
// (ties: the smaller input), until nothing adds any or the corpus holds `max` files.
// `cargo fuzz cmin` keeps every input with a new feature (thousands here); a greedy set
// cover on edges keeps the corpus small enough to commit and to replay on every test run.
//
//   node tests/fuzz/select.mjs <control-file> <corpus-dir> [max=150]
//
// The control file comes from a merge run over the committed corpus and the new inputs
// (`-merge=1 -merge_control_file=...`, see scripts/fuzz.sh). The corpus directory is
// rewritten: the files kept by name stay, every other file is replaced by the selection,
// named by the SHA-1 of its content as libFuzzer names them.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";

const [control, dir, maxArg] = process.argv.slice(2);
if (!control || !dir) {
  console.error("usage: node tests/fuzz/select.mjs <control-file> <corpus-dir> [max=150]");
  process.exit(2);
}
const max = Number(maxArg ?? 150);

const lines = readFileSync(control, "utf8").split("\n");
const count = Number(lines[0]);
const files = lines.slice(2, 2 + count);
const edges = new Map(); // file index -> edge ids
for (const line of lines.slice(2 + count)) {
  const [tag, idx, ...rest] = line.split(" ");
  if (tag === "COV") edges.set(Number(idx), rest.filter(Boolean));
}

const kept = (name) => name.startsWith("seed-") || name.startsWith("crash-");
const isSeed = (i) => kept(basename(files[i]));
const size = (i) => statSync(files[i]).size;
const covered = new Set();
const chosen = [];
const take = (i) => {
  chosen.push(i);
  for (const e of edges.get(i) ?? []) covered.add(e);
};
// The files kept by name first (from any directory, once each).
const seedNames = new Set();
for (let i = 0; i < files.length; i++) {
  if (isSeed(i) && !seedNames.has(basename(files[i]))) {
    seedNames.add(basename(files[i]));
    take(i);
  }
}
const left = new Set([...edges.keys()].filter((i) => !isSeed(i)));
while (chosen.length < max) {
  let best = -1;
  let gain = 0;
  for (const i of left) {
    let g = 0;
    for (const e of edges.get(i)) if (!covered.has(e)) g++;
    if (g > gain || (g === gain && g > 0 && size(i) < size(best))) {
      best = i;
      gain = g;
    }
  }
  if (gain === 0) break;
  left.delete(best);
  take(best);
}

// Rewrite the corpus: the files kept by name stay as they are, the rest is the selection.
const picked = chosen.filter((i) => !isSeed(i)).map((i) => files[i]);
const data = picked.map((f) => readFileSync(f));
for (const name of readdirSync(dir)) {
  if (!kept(name)) rmSync(join(dir, name));
}
const seedHashes = new Set(
  readdirSync(dir).map((n) => createHash("sha1").update(readFileSync(join(dir, n))).digest("hex")),
);
let added = 0;
picked.forEach((_, k) => {
  const hash = createHash("sha1").update(data[k]).digest("hex");
  if (seedHashes.has(hash)) return;
  writeFileSync(join(dir, hash), data[k]);
  added++;
});
const total = new Set([...edges.values()].flat()).size;
console.log(
  `${dir}: ${seedNames.size} kept + ${added} picked: ${covered.size} of ${total} edges`,
);
