// The demo page: runs the simulator and the backoff sampler from the page's Wasm module
// (www/pkg, built by scripts/www.sh with the `simulator` feature) and draws the results.
import init, { simulate, backoffSamples, presets as presetsJson } from "./pkg/llm_pacer.js";
import { lineChart, stripChart, compact } from "./plot.js";

/** How each strategy is drawn: a colour and a dash pattern (told apart without colour too). */
const STYLE = {
  "llm-pacer": { color: "#0a58ca", dash: undefined, className: "pacer" },
  "naive-backoff": { color: "#d9480f", dash: "7 4" },
  "token-window": { color: "#2b8a3e", dash: "2 3" },
  "sdk-default": { color: "#862e9c", dash: "9 3 2 3" },
};
const DESCRIBE = {
  "llm-pacer": "this library: the provider's buckets, headers, backoff with jitter",
  "naive-backoff": "exponential backoff, 1 s doubling + up to 1 s, 7 attempts, no pacing",
  "token-window": "the OpenAI cookbook's 60 s window of its own requests, 15 s pause after a 429",
  "sdk-default": "the official SDKs: 2 retries, short backoff or retry-after",
};
const MAX_POINTS = 360;

const $ = (sel, root = document) => root.querySelector(sel);
const state = { presets: [], result: null, hidden: new Set(), backoff: null };

/** The drawing width of one plot in `grid` (one or two columns), so text is drawn at 1:1. */
function plotWidth(grid, minColumn) {
  const w = grid.clientWidth || 640;
  const gap = 16;
  const cols = w >= 2 * minColumn + gap ? 2 : 1;
  return Math.max(280, Math.round((w - gap * (cols - 1)) / cols - 18));
}

/** Seconds with one decimal, as the CLI's table prints them; "-" when unknown. */
function secs(ms) {
  return ms === null || !Number.isFinite(ms) ? "-" : `${(ms / 1000).toFixed(1)} s`;
}

function status(out, text, isError = false) {
  out.textContent = text;
  out.classList.toggle("error", isError);
}

function h(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k in e && typeof v !== "string") e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

// --- presets ---------------------------------------------------------------------------

function presetGroups(presets) {
  const groups = new Map();
  for (const p of presets) {
    const scheme =
      p.provider === "anthropic"
        ? p.tier.startsWith("tier-")
          ? "Anthropic, tiers 1-4 (earlier)"
          : "Anthropic, current tiers"
        : "OpenAI";
    if (!groups.has(scheme)) groups.set(scheme, []);
    groups.get(scheme).push(p);
  }
  return groups;
}

function fillPresetSelect(select, presets) {
  for (const [label, rows] of presetGroups(presets)) {
    const g = h("optgroup", { label });
    for (const p of rows) g.append(h("option", { value: p.name }, `${p.tier} · ${p.class} (${p.models})`));
    select.append(g);
  }
}

const LIMIT_KEYS = ["rpm", "itpm", "otpm", "tpm"];

function applyPreset(form, name) {
  const p = state.presets.find((x) => x.name === name);
  const source = $("#preset-source");
  if (!p) {
    source.textContent = "Empty field: not limited in that dimension.";
    return;
  }
  for (const k of LIMIT_KEYS) form.elements[k].value = p.limits[k] ?? "";
  if (p.metering) form.elements.metering.value = p.metering;
  source.replaceChildren(
    `${p.name}: `,
    h("a", { href: p.source, rel: "noopener" }, "source"),
    `, read ${p.read} (${p.note}).${p.metering === "realtime" ? " This revision counts output in real time." : ""}`,
  );
}

// --- simulation ------------------------------------------------------------------------

function numberOrNull(input) {
  const v = input.value.trim();
  return v === "" ? null : Number(v);
}

/** The scenario the form describes, as `simulate` takes it. */
function scenarioFromForm(form) {
  const e = form.elements;
  const limits = {};
  for (const k of LIMIT_KEYS) limits[k] = numberOrNull(e[k]);
  return {
    seed: Number(e.seed.value),
    clients: Number(e.clients.value),
    concurrency: Number(e.concurrency.value),
    limits,
    p529: Number(e.p529.value),
    metering: e.metering.value,
    learnLimits: e.learnLimits.checked,
    models: e.models?.checked ?? false,
    ...(e.store?.checked ? { storeMs: 2 } : {}),
    workload: {
      requests: Number(e.requests.value),
      inputMedian: Number(e.inputMedian.value),
      maxTokens: Number(e.maxTokens.value),
    },
  };
}

function renderTable(reports) {
  const body = $("#results tbody");
  body.replaceChildren(
    ...reports.flatMap((r) => {
      const style = STYLE[r.strategy] ?? {};
      const name = h(
        "th",
        { scope: "row", title: DESCRIBE[r.strategy] ?? "" },
        h("span", { class: "swatch", style: `color:${style.color}` }),
        r.strategy,
      );
      const cells = [
        secs(r.makespanMs) + (r.truncated ? " (stopped)" : ""),
        secs(r.lowerBoundMs),
        r.ratio === null ? "-" : r.ratio.toFixed(3),
        String(r.rateLimited),
        String(r.overloaded),
        String(r.retries),
        String(r.failures),
        secs(r.latencyP50Ms),
        secs(r.latencyP99Ms),
      ];
      const row = h(
        "tr",
        { class: r.failures > 0 ? "gave-up" : "", "data-strategy": r.strategy },
        name,
        ...cells.map((c) => h("td", {}, c)),
      );
      // With two model classes: a row per class (its makespan against its own lower bound).
      const classRows = (r.classes ?? []).map((c) =>
        h(
          "tr",
          { class: "class-row", "data-class": c.name },
          h("th", { scope: "row" }, `· ${c.name}`),
          ...[
            secs(c.makespanMs),
            secs(c.lowerBoundMs),
            c.ratio === null ? "-" : c.ratio.toFixed(3),
            String(c.rateLimited),
            "",
            "",
            "",
            "",
            "",
          ].map((x) => h("td", {}, x)),
        ),
      );
      return [row, ...classRows];
    }),
  );
  const note = [];
  if (reports.some((r) => r.failures > 0))
    note.push(
      "Failures are requests given up on: a strategy that gives up finishes sooner, so its makespan and ratio do not compare.",
    );
  if (reports.some((r) => r.truncated))
    note.push("(stopped): the run hit its safety limit before every request finished.");
  $("#sim-note").textContent = note.join(" ");
}

/**
 * One slot field over time: with `perMinute`, the amount in the trailing 60 s at the end of
 * each slot (what a per-minute limit is compared with); otherwise the value at the slot's end.
 * Downsampled to at most MAX_POINTS points by averaging neighbours.
 */
function rates(report, pick, perMinute = true) {
  const slotMin = report.slotMs / 60000;
  const w = perMinute ? Math.max(1, Math.round(1 / slotMin)) : 1;
  const raw = report.series.map((x) => pick(x) ?? 0);
  const values = [];
  let sum = 0;
  raw.forEach((v, i) => {
    sum += v - (i >= w ? raw[i - w] : 0);
    values.push(sum);
  });
  const k = Math.max(1, Math.ceil(values.length / MAX_POINTS));
  const out = [[0, 0]];
  for (let i = 0; i < values.length; i += k) {
    const group = values.slice(i, i + k);
    out.push([(i + group.length) * slotMin, group.reduce((a, b) => a + b, 0) / group.length]);
  }
  return out;
}

function figure(title, note, svg, id) {
  return h("figure", { id }, h("figcaption", {}, title, note ? h("span", {}, ` — ${note}`) : null), svg);
}

function chart(id, title, note, reports, pick, limit, perMinute = true) {
  const series = reports
    .filter((r) => !state.hidden.has(r.strategy))
    .map((r) => ({ key: r.strategy, label: r.strategy, ...STYLE[r.strategy], points: rates(r, pick, perMinute) }));
  const peaks = series.map((s) => `${s.key} peak ${compact(Math.max(0, ...s.points.map((p) => p[1])))}`).join(", ");
  const svg = lineChart({
    width: plotWidth($("#plots"), 480),
    height: 220,
    title,
    desc: `${title} over time in minutes, one line per strategy: ${peaks || "no strategy shown"}.${limit ? ` ${limit.label}.` : ""}`,
    xLabel: "minutes",
    series,
    limit,
  });
  return figure(title, note, svg, id);
}

function renderPlots() {
  const result = state.result;
  if (!result) return;
  const { reports, scenario } = result;
  const L = scenario.limits;
  const line = (v, name) => (v ? { value: v, label: `${name} ${compact(v)}` } : undefined);
  const figs = [
    chart(
      "plot-input",
      "Input tokens per minute",
      "admitted in the trailing 60 s",
      reports,
      (x) => x.inputTokens,
      line(L.itpm, "ITPM"),
    ),
    chart(
      "plot-output",
      "Output tokens per minute",
      "produced in the trailing 60 s, counted at completion",
      reports,
      (x) => x.outputTokens,
      line(L.otpm, "OTPM"),
    ),
  ];
  if (L.tpm)
    figs.push(
      chart(
        "plot-tokens",
        "Tokens per minute",
        "input + output in the trailing 60 s",
        reports,
        (x) => x.inputTokens + x.outputTokens,
        line(L.tpm, "TPM"),
      ),
    );
  figs.push(
    chart(
      "plot-requests",
      "Requests per minute",
      "attempts sent in the trailing 60 s, 429s included",
      reports,
      (x) => x.sent,
      line(L.rpm, "RPM"),
    ),
    chart("plot-429", "429s per minute", "refusals in the trailing 60 s", reports, (x) => x.rateLimited),
    chart("plot-queue", "Queue length", "requests waiting at their client", reports, (x) => x.queued, undefined, false),
  );
  $("#plots").replaceChildren(...figs);
}

function renderLegend(reports) {
  const legend = $("#legend");
  for (const l of legend.querySelectorAll("label")) l.remove();
  for (const r of reports) {
    const box = h("input", { type: "checkbox", checked: !state.hidden.has(r.strategy), value: r.strategy });
    box.addEventListener("change", () => {
      if (box.checked) state.hidden.delete(r.strategy);
      else state.hidden.add(r.strategy);
      renderPlots();
    });
    legend.append(
      h(
        "label",
        { title: DESCRIBE[r.strategy] ?? "" },
        box,
        h("span", { class: "swatch", style: `color:${STYLE[r.strategy]?.color}` }),
        r.strategy,
      ),
    );
  }
}

async function runSimulation(form) {
  const out = $("#sim-status");
  const button = $("#sim-run");
  button.disabled = true;
  status(out, "Running…");
  // Let the status paint before the (synchronous) simulation starts.
  await new Promise((ok) => requestAnimationFrame(() => setTimeout(ok, 0)));
  try {
    const scenario = scenarioFromForm(form);
    const t0 = performance.now();
    const result = JSON.parse(simulate(JSON.stringify(scenario)));
    const ms = performance.now() - t0;
    state.result = result;
    $("#sim-results").hidden = false; // first: the plots take their width from the layout
    $("#sim-summary").textContent = result.scenario.summary;
    renderTable(result.reports);
    renderLegend(result.reports);
    renderPlots();
    status(out, `Simulated ${result.reports.length} strategies in ${ms.toFixed(0)} ms of wall time.`);
    document.body.dataset.simulated = String(Number(document.body.dataset.simulated ?? 0) + 1);
  } catch (e) {
    status(out, e instanceof Error ? e.message : String(e), true);
  } finally {
    button.disabled = false;
  }
}

// --- backoff ---------------------------------------------------------------------------

function quantile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

function runBackoff(form) {
  const out = $("#backoff-status");
  const e = form.elements;
  try {
    const opts = {};
    for (const k of ["initialDelayMs", "maxDelayMs", "multiplier", "attempts", "samples", "seed"])
      opts[k] = Number(e[k].value);
    state.backoff = JSON.parse(backoffSamples(JSON.stringify(opts)));
    renderBackoff();
    const b = state.backoff;
    status(out, `${b.samples} samples × ${b.attempts} retries per mode; the dark tick is the base delay.`);
  } catch (err) {
    status(out, err instanceof Error ? err.message : String(err), true);
  }
}

function renderBackoff() {
  const b = state.backoff;
  if (!b) return;
  let xMax = 0;
  for (const m of b.modes) for (const d of m.delays) for (const v of d) if (v > xMax) xMax = v;
  const figs = b.modes.map((m) => {
    // Decorrelated jitter ignores the base delay: no tick for it.
    const rows = m.delays.map((values, i) => ({
      label: `retry ${i + 1}`,
      values,
      base: m.jitter === "decorrelated" ? undefined : b.base[i],
    }));
    const medians = m.delays.map((d) =>
      quantile(
        [...d].sort((x, y) => x - y),
        0.5,
      ),
    );
    const svg = stripChart({
      width: plotWidth($("#backoff-plots"), 480),
      title: `Jitter "${m.jitter}"`,
      desc: `Delays of retries 1 to ${b.attempts}, ${b.samples} samples each; medians ${medians.map((v) => `${(v / 1000).toFixed(2)} s`).join(", ")}.`,
      rows,
      xMax,
    });
    return figure(`jitter: ${m.jitter}`, JITTER_NOTE[m.jitter], svg, `backoff-${m.jitter}`);
  });
  // The numbers behind the strips, for reading without the picture.
  const head = h(
    "tr",
    {},
    h("th", { scope: "col" }, "retry"),
    h("th", { scope: "col" }, "base"),
    ...b.modes.map((m) => h("th", { scope: "col" }, m.jitter)),
  );
  const rows = b.base.map((base, i) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, String(i + 1)),
      h("td", {}, secs(base)),
      ...b.modes.map((m) => {
        const d = [...m.delays[i]].sort((x, y) => x - y);
        return h(
          "td",
          {},
          `${secs(quantile(d, 0.5))} (${(quantile(d, 0.05) / 1000).toFixed(1)}–${(quantile(d, 0.95) / 1000).toFixed(1)})`,
        );
      }),
    ),
  );
  const table = h(
    "details",
    {},
    h("summary", {}, "Medians and 5th–95th percentiles per retry"),
    h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, head), h("tbody", {}, ...rows))),
  );
  $("#backoff-plots").replaceChildren(...figs);
  const old = document.querySelector("#backoff details");
  table.open = old?.open ?? false;
  old?.remove();
  $("#backoff-plots").after(table);
}

const JITTER_NOTE = {
  none: "the base delay exactly: clients that failed together retry together",
  full: "uniform in [0, base): the AWS recommendation, and llm-pacer's default",
  equal: "base/2 plus uniform in [0, base/2)",
  decorrelated: "uniform in [initial, 3 × previous), capped; never piles up on the cap",
  additive: "base plus uniform in [0, 1 s): the common Python recipe",
};

// --- live batch --------------------------------------------------------------------------

const LIVE_DEFAULTS = {
  anthropic: { baseUrl: "https://api.anthropic.com", model: "claude-haiku-4-5" },
  openai: { baseUrl: "https://api.openai.com", model: "gpt-4o-mini" },
};

function wireLive(form) {
  const e = form.elements;
  e.provider.addEventListener("change", () => {
    const d = LIVE_DEFAULTS[e.provider.value];
    const other = LIVE_DEFAULTS[e.provider.value === "anthropic" ? "openai" : "anthropic"];
    if (e.baseUrl.value === other.baseUrl) e.baseUrl.value = d.baseUrl;
    if (e.model.value === other.model) e.model.value = d.model;
  });
  $("#live-forget").addEventListener("click", () => {
    e.key.value = "";
    status($("#live-status"), "Key forgotten.");
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = $("#live-status");
    const button = $("#live-run");
    button.disabled = true;
    const log = $("#live-log");
    log.replaceChildren();
    try {
      const { runLive } = await import("./live.js");
      await runLive(
        {
          provider: e.provider.value,
          baseUrl: e.baseUrl.value.trim(),
          // Read at the moment of use; passed down, never stored by the page.
          key: e.key.value,
          model: e.model.value.trim(),
          requests: Number(e.requests.value),
          concurrency: Number(e.concurrency.value),
          maxTokens: Number(e.maxTokens.value),
          preset: e.preset.value || undefined,
          prompt: e.prompt.value,
        },
        {
          status: (text, isError) => status(out, text, isError),
          log: (text) => {
            log.append(h("li", {}, text));
            log.scrollTop = log.scrollHeight;
          },
        },
      );
    } catch (err) {
      status(out, err instanceof Error ? err.message : String(err), true);
    } finally {
      button.disabled = false;
    }
  });
}

// --- start -----------------------------------------------------------------------------

async function main() {
  try {
    await init();
  } catch (e) {
    const p = $("#load-error");
    p.textContent = `Could not load the simulator's WebAssembly module (www/pkg): ${e instanceof Error ? e.message : e}. Build it with scripts/www.sh.`;
    p.hidden = false;
    return;
  }
  state.presets = JSON.parse(presetsJson());
  const simForm = $("#sim-form");
  const select = $("#preset");
  fillPresetSelect(select, state.presets);
  fillPresetSelect($("#live-preset"), state.presets);
  select.value = "anthropic:tier-1:sonnet";
  applyPreset(simForm, select.value);
  select.addEventListener("change", () => applyPreset(simForm, select.value));
  for (const k of LIMIT_KEYS) {
    simForm.elements[k].addEventListener("input", () => {
      if (select.value) {
        select.value = "";
        $("#preset-source").textContent = "Custom limits. Empty field: not limited in that dimension.";
      }
    });
  }
  simForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    runSimulation(simForm);
  });
  const backoffForm = $("#backoff-form");
  backoffForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    runBackoff(backoffForm);
  });
  wireLive($("#live-form"));
  runBackoff(backoffForm);
  // Redraw at the new size (plots are drawn at 1:1 so their text stays readable).
  let pending = 0;
  let lastWidth = window.innerWidth;
  window.addEventListener("resize", () => {
    if (window.innerWidth === lastWidth) return;
    lastWidth = window.innerWidth;
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(() => {
      renderPlots();
      renderBackoff();
    });
  });
  document.body.dataset.ready = "true";
}

main();
