import { checkKeys, isRecord } from "./strict.js";
import { low } from "./trap-guard.js";

// --- The options, read and validated here (the Wasm side takes them as a flat list of
// numbers, src/wasm/options.rs, plus the functions): `undefined` and `null` mean "not given";
// a wrong type is a TypeError, a value out of range a RangeError, each naming the option as
// written (`retry.maxRetries`); type checks first, in reading order, then the ranges;
// an unknown key is a TypeError naming it and the closest known one (see OPTIONS). Each
// option is read once.

/**
 * Every option key, per options object (the path as the errors spell it; `*` is any key):
 * adding an option is one line here, and its reader below.
 */
const OPTIONS = {
  "": "limits preset retry budget concurrency timeoutMs outputReservation estimate fetch clock seed onEvent debug limitKey store",
  "limits.": "rpm tpm itpm otpm models",
  "limits.models.*.": "rpm tpm itpm otpm",
  "retry.": "maxRetries initialDelayMs maxDelayMs multiplier jitter maxRetryAfterMs retryOn",
  "budget.": "ratio maxTokens",
  // The lower-level exports' own options.
  Backoff: "initialDelayMs maxDelayMs multiplier jitter maxRetries maxRetryAfterMs seed",
  Limiter: "limits preset outputReservation latencyMs",
};

/** The TypeError (`type`) or RangeError naming `path`. */
const optionError = (type, path, expected) =>
  new (type ? TypeError : RangeError)(`llm-pacer: option \`${path}\` must be ${expected}`);
const MS = "a number of ms from 0 to 86400000";
const RESERVATION = '"max_tokens", "none" or a number from 0 to 1e12';
const STATUSES = "an array of HTTP statuses";
/** The smallest positive normal double (Rust's `f64::MIN_POSITIVE`). */
const MIN_POSITIVE = 2.2250738585072014e-308;
const JITTERS = ["none", "full", "equal", "decorrelated", "additive"];
/** `v` absent (`undefined` or `null`). */
const absent = (v) => v === undefined || v === null;
/** `v` as JavaScript's typeof, with `null` apart (the Wasm side's `is_object`). */
const isObject = (v) => typeof v == "object" && v !== null;

/**
 * `options` as `[numbers, functions]` for the Wasm side, or a throw naming a bad option.
 * @returns {[number[], object]}
 */
function readOptions(options, top = "") {
  const n = Array(19);
  const fns = {};
  if (absent(options)) return [n.fill(NaN), fns];
  if (!isRecord(options)) throw new TypeError("llm-pacer: options must be an object");
  const o = options;
  checkKeys(
    o,
    OPTIONS[top],
    "",
    top ? {} : { "retry.": OPTIONS["retry."], "limits.": OPTIONS["limits."], "budget.": OPTIONS["budget."] },
  );
  /** `obj[key]` if a number (NaN included), `undefined` if absent; else a TypeError naming `path` and what it takes (`expected`). */
  const num = (obj, key, path, expected = "a number") => {
    const v = obj[key];
    if (absent(v)) return undefined;
    if (typeof v != "number") throw optionError(1, path, expected);
    return v;
  };
  const obj = (key, expected = "an object") => {
    const v = o[key];
    if (absent(v)) return undefined;
    if (!isRecord(v)) throw optionError(1, key, expected);
    return v;
  };
  const fn = (from, key, path) => {
    const v = from[key];
    if (absent(v)) return undefined;
    if (typeof v != "function") throw optionError(1, path, "a function");
    return v;
  };
  const integer = (v, lo, hi) => Number.isInteger(v) && v >= lo && v <= hi;

  const limits = obj("limits");
  const DIMS4 = ["rpm", "tpm", "itpm", "otpm"];
  // Below 1, a bucket never holds one request or one token: every call would be refused.
  const LIMIT = "a number from 1 to 1e12";
  if (limits) {
    checkKeys(limits, OPTIONS["limits."], "limits.");
    for (const [i, k] of DIMS4.entries()) n[i] = num(limits, k, `limits.${k}`);
  }
  // `limits.models`: per model class, flat for the Wasm side (class, rpm, tpm, itpm, otpm).
  const models = limits?.models;
  if (!absent(models)) {
    if (!isRecord(models)) throw optionError(1, "limits.models", "an object of limits by model class");
    fns.models = [];
    for (const [name, m] of Object.entries(models)) {
      const path = `limits.models.${name}`;
      if (!isRecord(m)) throw optionError(1, path, "an object");
      checkKeys(m, OPTIONS["limits.models.*."], `${path}.`);
      fns.models.push(name);
      for (const k of DIMS4) {
        const v = num(m, k, `${path}.${k}`);
        if (v !== undefined && !(v >= 1 && v <= 1e12)) throw optionError(0, `${path}.${k}`, LIMIT);
        fns.models.push(v ?? NaN);
      }
    }
  }
  const preset = o.preset;
  if (!absent(preset)) {
    if (typeof preset != "string") throw optionError(1, "preset", "a string");
    n[4] = low().op(11, preset);
  }
  const retry = obj("retry");
  if (retry) {
    checkKeys(retry, OPTIONS["retry."], "retry.");
    n[5] = num(retry, "maxRetries", "retry.maxRetries");
    if (n[5] !== undefined && !integer(n[5], 0, 100))
      throw optionError(0, "retry.maxRetries", "an integer from 0 to 100");
    n[6] = num(retry, "initialDelayMs", "retry.initialDelayMs");
    n[7] = num(retry, "maxDelayMs", "retry.maxDelayMs");
    n[8] = num(retry, "multiplier", "retry.multiplier");
    const jitter = retry.jitter;
    if (!absent(jitter)) {
      if (typeof jitter != "string") throw optionError(1, "retry.jitter", "a string");
      n[9] = JITTERS.indexOf(jitter);
      if (n[9] < 0) throw optionError(0, "retry.jitter", `one of ${JITTERS.map((j) => `"${j}"`).join(", ")}`);
    }
    n[10] = num(retry, "maxRetryAfterMs", "retry.maxRetryAfterMs");
    const list = retry.retryOn;
    if (!absent(list)) {
      if (!Array.isArray(list)) throw optionError(1, "retry.retryOn", STATUSES);
      n[18] = list.length;
      for (let i = 0; i < list.length; i++) {
        const s = list[i];
        if (typeof s != "number")
          throw optionError(1, "retry.retryOn", `${STATUSES} as numbers, not a ${typeof s} at [${i}]`);
        if (!integer(s, 400, 599))
          throw optionError(
            0,
            "retry.retryOn",
            `a list of HTTP error statuses (integers from 400 to 599), not ${s} at [${i}]`,
          );
        n.push(s);
      }
    }
  }
  const budget = o.budget;
  if (budget === false) n[11] = 0;
  else if (isRecord(budget)) {
    checkKeys(budget, OPTIONS["budget."], "budget.");
    n[11] = 1;
    n[12] = num(budget, "ratio", "budget.ratio");
    n[13] = num(budget, "maxTokens", "budget.maxTokens");
  } else if (!absent(budget)) throw optionError(1, "budget", "an object or false");
  // "auto": adaptive window and rate while no limit is known (-1 on the Wasm side).
  const auto = o.concurrency === "auto";
  n[14] = auto ? undefined : num(o, "concurrency", "concurrency", 'a number or "auto"');
  if (n[14] !== undefined && n[14] !== Infinity && !integer(n[14], 1, 1e6)) {
    throw optionError(0, "concurrency", 'an integer from 1 to 1000000, Infinity, or "auto"');
  }
  if (auto) n[14] = -1;
  n[15] = num(o, "timeoutMs", "timeoutMs");
  const reservation = o.outputReservation;
  /** -1 `"max_tokens"`, -2 `"none"` (the Wasm side's codes), after the range checks. */
  let named;
  if (typeof reservation == "string") {
    named = -1 - ["max_tokens", "none"].indexOf(reservation);
    if (named == 0) throw optionError(0, "outputReservation", RESERVATION);
  } else if (typeof reservation == "number") n[16] = reservation;
  else if (!absent(reservation)) throw optionError(1, "outputReservation", RESERVATION);
  fns.estimate = fn(o, "estimate", "estimate");
  fns.limitKey = fn(o, "limitKey", "limitKey");
  fns.fetch = fn(o, "fetch", "fetch");
  fns.onEvent = fn(o, "onEvent", "onEvent");
  const store = obj("store", "a PacerStore (e.g. redisStore from llm-pacer/redis)");
  if (store) {
    // A Redis client given as it is: the store is made from it.
    if (
      typeof store.reserve != "function" &&
      ["evalsha", "sendCommand", "eval"].some((m) => typeof store[m] == "function")
    )
      throw optionError(1, "store", "a PacerStore: wrap a Redis client in redisStore(client) from llm-pacer/redis");
    fn(store, "reserve", "store.reserve") ?? throwError(optionError(1, "store.reserve", "a function"));
    fn(store, "settle", "store.settle") ?? throwError(optionError(1, "store.settle", "a function"));
    // The optional operations: a function, or absent.
    for (const op of ["learn", "giveBack", "probed", "pause", "refund"]) fn(store, op, `store.${op}`);
    fns.store = store;
  }
  const clock = obj("clock", "an object with now() and sleep(ms, signal)");
  if (clock) {
    fns.clock = clock;
    fns.now = fn(clock, "now", "clock.now") ?? throwError(optionError(1, "clock.now", "a function"));
    fns.sleep = fn(clock, "sleep", "clock.sleep") ?? throwError(optionError(1, "clock.sleep", "a function"));
  }
  const debug = o.debug;
  if (!absent(debug) && typeof debug != "boolean") throw optionError(1, "debug", "a boolean");
  fns.debug = debug;
  n[17] = num(o, "seed", "seed");
  if (n[17] !== undefined && !Number.isSafeInteger(n[17])) throw optionError(0, "seed", "a safe integer");

  // The ranges, in the core's order (Config::validate); `undefined` (not given) passes.
  const range = (i, path, lo, hi, expected) => {
    const v = n[i];
    if (v !== undefined && !(v >= lo && v <= hi)) throw optionError(0, path, expected);
  };
  for (const [i, k] of DIMS4.entries()) range(i, `limits.${k}`, 1, 1e12, LIMIT);
  range(6, "retry.initialDelayMs", 0, 864e5, MS);
  range(7, "retry.maxDelayMs", 0, 864e5, MS);
  if ((n[7] ?? 6e4) < (n[6] ?? 1e3)) {
    throw optionError(0, "retry.maxDelayMs", "at least retry.initialDelayMs");
  }
  range(8, "retry.multiplier", 1, 100, "a number from 1 to 100");
  range(10, "retry.maxRetryAfterMs", 0, 864e5, MS);
  range(12, "budget.ratio", 0, 1000, "a number from 0 to 1000");
  range(13, "budget.maxTokens", 1, 1e6, "a number from 1 to 1000000");
  range(15, "timeoutMs", MIN_POSITIVE, 864e5, "a number of ms greater than 0 and at most 86400000");
  range(16, "outputReservation", 0, 1e12, RESERVATION);
  n[16] ??= named;
  return [Array.from(n, (v) => v ?? NaN), fns];
}
const throwError = (e) => {
  throw e;
};

export { OPTIONS, optionError, isObject, absent, readOptions };
