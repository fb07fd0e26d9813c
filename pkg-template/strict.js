// Strict options, shared by every entry (read-options.js, low-level.js and simulate-options.js import it): an
// unknown key is a TypeError naming it and the closest known key.

/** An object of named options: not an array (`limits: []` is a mistake, not "no limits"). */
export const isRecord = (v) => typeof v == "object" && v !== null && !Array.isArray(v);

/**
 * Throw a TypeError for the first key of `o` not in `known` (space-separated), naming a key
 * of that very name in a group inside (`inner`: each group's path and keys; `maxRetries` at
 * the top, as the SDKs spell it: `retry.maxRetries`), else the closest known one.
 * @param {object} o
 * @param {string} known
 * @param {string} path
 * @param {Record<string, string>} [inner]
 */
export function checkKeys(o, known, path, inner = {}) {
  const names = known.split(" ");
  for (const k of Object.keys(o)) {
    if (names.includes(k)) continue;
    const deeper = Object.entries(inner).find(([, keys]) =>
      keys.split(" ").some((n) => n.toLowerCase() == k.toLowerCase()),
    );
    const near = deeper
      ? `${deeper[0]}${deeper[1].split(" ").find((n) => n.toLowerCase() == k.toLowerCase())}`
      : closest(k, names);
    throw new TypeError(
      `llm-pacer: unknown option "${path}${k}"; ` +
        (near
          ? `did you mean "${path}${near}"?`
          : `the options here are ${names.map((n) => `"${path}${n}"`).join(", ")}`),
    );
  }
}

/** The name in `names` nearest `k` (edit distance, case ignored), if near enough to be a typo. */
function closest(k, names) {
  const a = k.toLowerCase();
  let best,
    bestD = Infinity;
  for (const name of names) {
    const b = name.toLowerCase();
    let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const cur = [i];
      for (let j = 1; j <= b.length; j++) {
        cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]));
      }
      prev = cur;
    }
    if (prev[b.length] < bestD) [best, bestD] = [name, prev[b.length]];
  }
  return bestD <= Math.max(3, a.length / 3) ? best : undefined;
}
