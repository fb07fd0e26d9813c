// The live batch: a few real requests through the real npm package (pkg/, served at /npm/).
// Loaded only when a person runs it. The API key is a function argument: it goes into the
// request headers and nowhere else (not stored, not logged, not in any event).

const PACKAGE = "./npm/web/index.js";

/** Load the npm package's browser entry, or explain how to build it. */
async function loadPackage() {
  const head = await fetch(new URL(PACKAGE, import.meta.url), { method: "HEAD" }).catch(() => null);
  if (!head?.ok) {
    throw new Error("The live batch needs the npm package build: run scripts/build-pkg.mjs, then reload this page.");
  }
  return import(PACKAGE);
}

function request({ provider, baseUrl, key, model, maxTokens, prompt }, i) {
  const base = baseUrl.replace(/\/+$/, "");
  const content = `${prompt} (request ${i + 1})`;
  if (provider === "anthropic") {
    return [
      `${base}/v1/messages`,
      {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-api-key": key,
          "anthropic-version": "2023-06-01",
          // Anthropic answers browsers only when asked explicitly (the key is the user's own).
          "anthropic-dangerous-direct-browser-access": "true",
        },
        body: JSON.stringify({ model, max_tokens: maxTokens, messages: [{ role: "user", content }] }),
      },
    ];
  }
  return [
    `${base}/v1/chat/completions`,
    {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify({ model, max_tokens: maxTokens, messages: [{ role: "user", content }] }),
    },
  ];
}

/**
 * Run `requests` calls through one Pacer and report what happened.
 * @param {{ provider: "anthropic" | "openai", baseUrl: string, key: string, model: string,
 *   requests: number, concurrency: number, maxTokens: number, preset?: string, prompt: string }} job
 * @param {{ status(text: string, isError?: boolean): void, log(text: string): void }} ui
 */
export async function runLive(job, ui) {
  if (!job.key) throw new Error("Enter an API key first.");
  if (!/^https?:\/\//.test(job.baseUrl))
    throw new Error("The API base URL must start with https:// (or http:// for a local server).");
  ui.status("Loading the npm package…");
  const { Pacer } = await loadPackage();
  const t0 = performance.now();
  const at = () => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
  // Events carry ids, attempts, reasons and delays only: never a header or a body.
  const pacer = new Pacer({
    preset: job.preset,
    concurrency: job.concurrency,
    onEvent: (e) => {
      if (e.type === "queued" || e.type === "settled") return;
      ui.log(
        `${at()}  #${e.id} ${e.type}${e.attempt ? ` (attempt ${e.attempt})` : ""}${e.reason ? `: ${e.reason}` : ""}${e.delayMs ? `, ${Math.round(e.delayMs)} ms` : ""}`,
      );
    },
  });
  ui.status(`Sending ${job.requests} requests…`);
  const calls = Array.from({ length: job.requests }, async (_, i) => {
    const started = performance.now();
    try {
      const res = await pacer.fetch(...request(job, i));
      const body = await res.json().catch(() => null);
      const usage = body?.usage ? ` usage ${JSON.stringify(body.usage)}` : "";
      const error = res.ok ? "" : ` ${body?.error?.type ?? body?.error?.code ?? ""}`;
      ui.log(
        `${at()}  #${i + 1} done: HTTP ${res.status}${error} in ${((performance.now() - started) / 1000).toFixed(1)} s${usage}`,
      );
      return res.ok;
    } catch (e) {
      ui.log(`${at()}  #${i + 1} failed: ${e?.code ?? e?.name ?? "error"}: ${e?.message ?? e}`);
      return false;
    }
  });
  const ok = (await Promise.all(calls)).filter(Boolean).length;
  const s = pacer.stats();
  pacer.close();
  ui.status(
    `${ok} of ${job.requests} succeeded in ${at()}: ${s.attempts} attempts, ${s.retries} retries, ${s.rateLimited} 429s, ${s.overloaded} 529s, waited ${(s.waitMs / 1000).toFixed(1)} s in all.`,
    ok < job.requests,
  );
}
