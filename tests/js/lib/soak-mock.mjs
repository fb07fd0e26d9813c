// The soak's server (tests/js/lib/soak.mjs), in its own process so that its request log and
// buckets neither share the pacer's CPU nor count in the pacer's memory samples. Forked with
// `{ limits, scale, epoch, enforce }` as JSON in argv[2]: it runs the Anthropic mock (no
// latency) on a clock dilated like the pacer's. It enforces its limits like the API (a request
// over a bucket gets a 429 with the bucket's retry-after, counted as `limited`), unless
// `enforce` is false (then it admits and records each over-limit admission in `violations()`).
// The clock is `T0 + (real epoch ms - epoch) * scale`. It sends `{ url }`, answers `"report"`
// with its stats and violations, and exits on `"close"`.
import { startAnthropicMock } from "../mock/index.mjs";
import { T0 } from "./harness.mjs";

const { limits, scale, epoch, enforce = true } = JSON.parse(process.argv[2]);
const now = () => T0 + (performance.timeOrigin + performance.now() - epoch) * scale;
const mock = await startAnthropicMock({ now, limits, enforce, latencyMs: 0, eventDelayMs: 0 });
// Keep the log from growing with the run (entries in progress are still updated by the mock).
const trim = setInterval(() => (mock.log.length = 0), 100);
process.on("message", async (m) => {
  if (m === "report") {
    const v = mock.violations();
    process.send({ stats: mock.stats, violations: v.length, firstViolations: v.slice(0, 3) });
  } else if (m === "close") {
    clearInterval(trim);
    await mock.close();
    process.disconnect();
  }
});
process.send({ url: mock.url });
