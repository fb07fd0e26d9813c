// A process of the fleet for tests/js/store-faults.test.mjs (forked): its own pacer on the
// shared Redis store sends one quick call (its first response ends the blind start), then
// `count` calls that the mock holds for a minute, so it holds their reservations in the store
// until the test kills it. Reports "warm" after the first call, then never exits on its own.
//
//   node store-child.mjs <redis port> <mock url> <rpm> <prefix> <count>
import Redis from "ioredis";
import { Pacer } from "llm-pacer";
import { redisStore } from "llm-pacer/redis";
import { anthropicInit } from "./harness.mjs";

const [port, url, rpm, prefix, count] = process.argv.slice(2);
const client = new Redis(Number(port), "127.0.0.1", { maxRetriesPerRequest: 0 });
const pacer = new Pacer({ limits: { rpm: Number(rpm) }, store: redisStore(client, { prefix }) });
const first = await pacer.fetch(`${url}/v1/messages`, anthropicInit());
await first.text();
process.send?.("warm");
for (let i = 0; i < Number(count); i++) {
  pacer.fetch(`${url}/v1/messages`, anthropicInit({ headers: { "x-mock-latency-ms": "60000" } })).catch(() => {});
}
