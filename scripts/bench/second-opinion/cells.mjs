// The measurement matrix. node run.mjs <regex> [parallel]
export const T1 = { rpm: 50, itpm: 30000, otpm: 8000 };
const A = (extra = {}) => ({
  family: "anthropic",
  limits: T1,
  outputMode: "reserve",
  outLo: 50,
  outHi: 150,
  latLo: 50,
  latHi: 800,
  ...extra,
});
const W = {
  WS: { kind: "burst", n: 60, promptChars: [400, 2000], maxTokens: 1024 }, // small prompts, rpm-ish bound
  WM: { kind: "burst", n: 45, promptChars: [400, 2000], maxTokens: 4096 }, // large max_tokens, small outputs
  WL: { kind: "burst", n: 12, promptChars: [15000, 17000], maxTokens: 512 }, // large prompts, itpm bound
  WT: { kind: "steady", n: 60, rate: 1.5, promptChars: [400, 2000], maxTokens: 512 }, // steady stream
};
const out = (w, o) => ({ ...W[w], ...o });
const C = {
  cfg: { kind: "pacer", opts: { limits: T1 } },
  learn: { kind: "pacer", opts: {} },
  preset: { kind: "pacer", opts: { preset: "anthropic:tier-1:sonnet" } },
  naive: { kind: "naive" },
};
const cells = [];
const add = (name, server, client, workload, capS) =>
  cells.push({ name, server, client: C[client] ?? client, workload, capS });

// Anthropic, small prompts burst
for (const c of ["cfg", "learn", "naive"]) add(`A.WS.base.${c}`, A(), c, W.WS);
add("A.WS.headAfter.cfg", A({ headAfterSettle: true }), "cfg", W.WS);
add("A.WS.headAfter.learn", A({ headAfterSettle: true }), "learn", W.WS);
for (const c of ["cfg", "learn"]) add(`A.WS.stream.${c}`, A(), c, out("WS", { stream: true }));
add("A.WS.end.cfg", A({ outputMode: "end" }), "cfg", W.WS);
add("A.WS.end.naive", A({ outputMode: "end" }), "naive", W.WS);
add("A.WS.round1000.cfg", A({ roundTokens: 1000 }), "cfg", W.WS);
add("A.WS.delay2s.cfg", A({ headerDelayMs: 2000 }), "cfg", W.WS);
for (const c of ["cfg", "naive"]) add(`A.WS.others30.${c}`, A({ others: 0.3 }), c, W.WS);
for (const c of ["cfg", "naive"])
  add(`A.WS.lower70.${c}`, A({ limits: { rpm: 35, itpm: 21000, otpm: 5600 } }), c, W.WS);
for (const c of ["cfg", "naive"]) add(`A.WS.p529.${c}`, A({ p529: 0.1 }), c, W.WS);
add("A.WS.dense.cfg", A({ charsPerToken: 2.5 }), "cfg", W.WS);
add("A.WS.preset.same", A(), "preset", W.WS);
add("A.WS.preset.serverHigher", A({ limits: { rpm: 100, itpm: 60000, otpm: 16000 } }), "preset", W.WS);
add("A.WS.serverHigher.learn", A({ limits: { rpm: 100, itpm: 60000, otpm: 16000 } }), "learn", W.WS);
// Anthropic, large max_tokens small outputs
for (const c of ["cfg", "learn", "naive"]) add(`A.WM.base.${c}`, A({ outLo: 100, outHi: 300 }), c, W.WM);
add("A.WM.headAfter.cfg", A({ outLo: 100, outHi: 300, headAfterSettle: true }), "cfg", W.WM);
add("A.WM.stream.cfg", A({ outLo: 100, outHi: 300 }), "cfg", out("WM", { stream: true }));
add("A.WM.end.cfg", A({ outLo: 100, outHi: 300, outputMode: "end" }), "cfg", W.WM);
add("A.WM.others30.cfg", A({ outLo: 100, outHi: 300, others: 0.3 }), "cfg", W.WM);
// Anthropic, large prompts
for (const c of ["cfg", "naive"]) add(`A.WL.base.${c}`, A({ outLo: 100, outHi: 300 }), c, W.WL);
for (const c of ["cfg", "naive"])
  add(
    `A.WL.dense.${c}`,
    A({ outLo: 100, outHi: 300, charsPerToken: 2.5, limits: { ...T1, itpm: 40000 } }),
    c,
    out("WL", { n: 10 }),
  );
// Anthropic, steady stream on a half-spent bucket
for (const c of ["cfg", "naive"]) add(`A.WT.base.${c}`, A({ startLevel: 0.5 }), c, W.WT);
add("A.WT.stream.cfg", A({ startLevel: 0.5 }), "cfg", out("WT", { stream: true }));
add("A.WT.others30.cfg", A({ startLevel: 0.5, others: 0.3 }), "cfg", W.WT);

// OpenAI-style
const OL = { rpm: 60, tpm: 30000 };
const O = (extra = {}) => ({ family: "openai", limits: OL, outLo: 50, outHi: 150, latLo: 50, latHi: 800, ...extra });
const WO = { kind: "burst", n: 70, promptChars: [400, 2000], maxTokens: 256, model: "gpt-4o-mini" };
add("O.base.cfg", O(), { kind: "pacer", opts: { limits: OL } }, WO);
add("O.base.learn", O(), "learn", WO);
add("O.base.naive", O(), "naive", WO);
add("O.round1000.learn", O({ roundTokens: 1000 }), "learn", WO);
add("O.stream.learn", O(), "learn", { ...WO, stream: true });
add("O.others30.learn", O({ others: 0.3 }), "learn", WO);
add("O.others30.naive", O({ others: 0.3 }), "naive", WO);
add("O.noGiveBack.learn", O({ giveBack: false }), "learn", WO);

// No headers at all, bare 429s
const BL = { rpm: 60, tpm: 30000 };
const Bs = (extra = {}) => ({ family: "bare", limits: BL, outLo: 50, outHi: 150, latLo: 50, latHi: 800, ...extra });
const WB = { kind: "burst", n: 70, promptChars: [400, 2000], maxTokens: 256, model: "llama-3" };
add("B.cfg", Bs(), { kind: "pacer", opts: { limits: BL } }, WB);
add("B.cfgTooHigh", Bs(), { kind: "pacer", opts: { limits: { rpm: 90, tpm: 45000 } } }, WB);
add("B.auto", Bs(), { kind: "pacer", opts: { concurrency: "auto" } }, WB);
add("B.default", Bs(), "learn", WB);
add("B.naive", Bs(), "naive", WB);
add("B.naive.c4", Bs(), { kind: "naive", concurrency: 4 }, WB);

export default cells;
