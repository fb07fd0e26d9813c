// Hand-written SVG plots: a line chart with an optional limit line, and a strip of
// histograms (one row per retry). No dependencies; every chart is an <svg role="img"> with a
// <title> and <desc>, and the numbers it shows are also in a table or text next to it.

const NS = "http://www.w3.org/2000/svg";
let uid = 0;

/** Create an SVG element with attributes, appended to `parent` when given. */
function el(name, attrs = {}, parent) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

/** A short number: 950, 1.2k, 30k, 1.5M. */
export function compact(n) {
  const a = Math.abs(n);
  const fmt = (v, unit) => `${Number(v.toFixed(v < 10 ? 1 : 0))}${unit}`;
  if (a >= 1e9) return fmt(n / 1e9, "G");
  if (a >= 1e6) return fmt(n / 1e6, "M");
  if (a >= 1e3) return fmt(n / 1e3, "k");
  return String(Number(n.toFixed(a < 10 ? 1 : 0)));
}

/** Round tick values from 0 to at least `max`: [0, step, 2 step, ...]. */
export function ticks(max, count = 5) {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  if (out[out.length - 1] < max) out.push(Number((out.length * step).toPrecision(12)));
  return out;
}

function frame(svg, { title, desc }) {
  const id = `plot-${++uid}`;
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-labelledby", `${id}-t ${id}-d`);
  el("title", { id: `${id}-t` }, svg).textContent = title;
  el("desc", { id: `${id}-d` }, svg).textContent = desc;
}

/**
 * A line chart.
 * @param {{ title: string, desc: string, xLabel: string, series: { key: string, label: string,
 *   className?: string, color: string, dash?: string, points: [number, number][] }[],
 *   limit?: { value: number, label: string }, width?: number, height?: number }} spec
 * @returns {SVGSVGElement}
 */
export function lineChart(spec) {
  const { series, limit, xLabel, width = 640, height = 240 } = spec;
  const m = { l: 52, r: 14, t: 14, b: 34 };
  const svg = el("svg", { class: "plot", viewBox: `0 0 ${width} ${height}` });
  frame(svg, spec);
  let xMax = 0;
  let yMax = limit?.value ?? 0;
  for (const s of series) {
    for (const [x, y] of s.points) {
      if (x > xMax) xMax = x;
      if (y > yMax) yMax = y;
    }
  }
  const xt = ticks(xMax || 1, 6);
  const yt = ticks((yMax || 1) * 1.05, 4);
  const X1 = xt[xt.length - 1];
  const Y1 = yt[yt.length - 1];
  const pw = width - m.l - m.r;
  const ph = height - m.t - m.b;
  const sx = (x) => m.l + (x / X1) * pw;
  const sy = (y) => m.t + ph - (y / Y1) * ph;

  const axes = el("g", {}, svg);
  for (const v of yt) {
    el("line", { class: "grid", x1: m.l, x2: m.l + pw, y1: sy(v), y2: sy(v) }, axes);
    el("text", { x: m.l - 6, y: sy(v) + 4, "text-anchor": "end" }, axes).textContent = compact(v);
  }
  for (const v of xt) {
    el("line", { class: "axis", x1: sx(v), x2: sx(v), y1: m.t + ph, y2: m.t + ph + 4 }, axes);
    el("text", { x: sx(v), y: m.t + ph + 16, "text-anchor": "middle" }, axes).textContent = compact(v);
  }
  el("line", { class: "axis", x1: m.l, x2: m.l + pw, y1: m.t + ph, y2: m.t + ph }, axes);
  el("line", { class: "axis", x1: m.l, x2: m.l, y1: m.t, y2: m.t + ph }, axes);
  el("text", { x: m.l + pw, y: height - 4, "text-anchor": "end" }, axes).textContent = xLabel;

  const lines = el("g", {}, svg);
  for (const s of series) {
    if (s.points.length === 0) continue;
    const d = s.points.map(([x, y], i) => `${i ? "L" : "M"}${sx(x).toFixed(1)} ${sy(y).toFixed(1)}`).join("");
    el(
      "path",
      {
        d,
        class: `series ${s.className ?? ""}`,
        stroke: s.color,
        "stroke-dasharray": s.dash,
        "data-series": s.key,
        "data-points": s.points.length,
      },
      lines,
    );
  }
  if (limit && limit.value > 0) {
    el("line", { class: "limit", x1: m.l, x2: m.l + pw, y1: sy(limit.value), y2: sy(limit.value) }, svg);
    el(
      "text",
      { class: "limit-label", x: m.l + pw - 4, y: sy(limit.value) - 5, "text-anchor": "end" },
      svg,
    ).textContent = limit.label;
  }
  return svg;
}

/**
 * Histograms stacked by row on one shared x axis (ms), with a tick at each row's base delay.
 * @param {{ title: string, desc: string, rows: { label: string, values: number[], base?: number }[],
 *   xMax: number, bins?: number, width?: number }} spec
 * @returns {SVGSVGElement}
 */
export function stripChart(spec) {
  const { rows, bins = 48, width = 420 } = spec;
  const rowH = 26;
  const m = { l: 58, r: 12, t: 8, b: 30 };
  const height = m.t + m.b + rows.length * rowH;
  const svg = el("svg", { class: "plot", viewBox: `0 0 ${width} ${height}` });
  frame(svg, spec);
  const xt = ticks((spec.xMax || 1) / 1000, 5); // seconds
  const X1 = xt[xt.length - 1] * 1000;
  const pw = width - m.l - m.r;
  const sx = (ms) => m.l + (ms / X1) * pw;
  for (const v of xt) {
    el("line", { class: "grid", x1: sx(v * 1000), x2: sx(v * 1000), y1: m.t, y2: height - m.b }, svg);
    el("text", { x: sx(v * 1000), y: height - m.b + 14, "text-anchor": "middle" }, svg).textContent = compact(v);
  }
  el("text", { x: m.l + pw, y: height - 4, "text-anchor": "end" }, svg).textContent = "delay, s";
  const binW = X1 / bins;
  rows.forEach((row, r) => {
    const y0 = m.t + r * rowH;
    el("text", { x: m.l - 6, y: y0 + rowH / 2 + 4, "text-anchor": "end" }, svg).textContent = row.label;
    el("line", { class: "axis", x1: m.l, x2: m.l + pw, y1: y0 + rowH - 2, y2: y0 + rowH - 2 }, svg);
    const counts = new Array(bins).fill(0);
    for (const v of row.values) counts[Math.min(bins - 1, Math.max(0, Math.floor(v / binW)))]++;
    const peak = Math.max(...counts, 1);
    const g = el("g", { "data-row": r + 1, "data-samples": row.values.length }, svg);
    counts.forEach((c, i) => {
      if (!c) return;
      const h = Math.max(1, (c / peak) * (rowH - 5));
      el(
        "rect",
        {
          class: "bar",
          x: sx(i * binW) + 0.5,
          y: y0 + rowH - 2 - h,
          width: Math.max(1, sx(binW) - m.l - 1),
          height: h,
        },
        g,
      );
    });
    if (row.base !== undefined) {
      const x = sx(Math.min(row.base, X1));
      el("line", { class: "base", x1: x, x2: x, y1: y0 + 2, y2: y0 + rowH - 2 }, svg);
    }
  });
  return svg;
}
