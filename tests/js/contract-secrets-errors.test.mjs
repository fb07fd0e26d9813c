// Secrets never leak through the platform's own errors: when `pacer.fetch` rejects with what
// `fetch` threw (a malformed URL, an invalid header value, a URL with a password, a network
// failure whose error shows the URL), or a body the pacer hands over (a stream it resumed, a
// JSON body it watches) fails, the call's credentials (credential headers, the URL's `?key=`
// and password) are scrubbed from the error's message, stack, own properties, cause chain and
// `errors`, in place: the same object, its class and name as the platform made them. The
// caller's own abort reason is passed on untouched, and the pacer's own errors are clean.
import { test } from "node:test";
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { Pacer, PacerError } from "llm-pacer";
import { anthropicInit, bounded, outcome } from "./lib/harness.mjs";

const KEY = "sk-ant-api03-SECRETKEY-7f3a9c2e";
const URL_KEY = "SECRETQUERY-55aa";
const PASSWORD = "SECRETPASSWORD-0c1d";
const MARKERS = ["SECRETKEY", "SECRETQUERY", "SECRETPASSWORD", "7f3a9c2e", "55aa", "0c1d"];
const API = "https://api.anthropic.com/v1/messages";
const SSE = { "content-type": "text/event-stream" };

/** Every string an error could show: printed, its stack and message, own properties, causes. */
function renderings(value, seen = new Set()) {
  if (typeof value !== "object" || value === null) return typeof value === "string" ? [value] : [];
  if (seen.has(value)) return [];
  seen.add(value);
  const out = [inspect(value, { depth: Infinity, showHidden: true, getters: true })];
  for (const k of ["message", "stack"]) {
    try {
      out.push(String(value[k]));
    } catch {}
  }
  for (const key of [...Reflect.ownKeys(value), "cause", "errors"]) {
    try {
      out.push(...renderings(value[key], seen));
    } catch {}
  }
  return out;
}

function assertClean(what, error) {
  for (const text of renderings(error))
    for (const marker of MARKERS) assert.ok(!text.includes(marker), `${what} leaks ${marker}: ${text.slice(0, 400)}`);
}

/** How `pacer.fetch(input, init)` rejects (it must). */
async function rejection(pacer, input, init) {
  const r = await bounded(outcome(pacer.fetch(input, init)), "the call");
  assert.equal(r.ok, false, "the call rejects");
  return r.error;
}

const plain = () => new Pacer({ retry: { maxRetries: 0 } });

test("a malformed URL with ?key= rejects with the platform's TypeError, the key scrubbed", async () => {
  const e = await rejection(plain(), `http://exa mple.com/v1beta/models/x:generateContent?key=${URL_KEY}`, {
    method: "POST",
    body: "{}",
  });
  assert.ok(e instanceof TypeError, `a TypeError: ${e}`);
  assert.equal(e.name, "TypeError");
  assert.match(e.message, /\[redacted\]/, "the message still says what failed");
  assertClean("malformed URL", e);
});

test("an invalid header value holding the key (NUL, CR) rejects without the key", async () => {
  for (const headers of [
    { "x-api-key": `${KEY}\0` },
    { authorization: `Bearer ${KEY}\rX` },
    [["Authorization", `Bearer ${KEY}\nX`]],
  ]) {
    const e = await rejection(plain(), "http://127.0.0.1:9/v1/messages", { method: "POST", headers, body: "{}" });
    assert.ok(e instanceof TypeError, `a TypeError: ${e}`);
    assertClean(`header ${JSON.stringify(headers)}`, e);
  }
});

test("a URL with a password rejects without the password", async () => {
  const e = await rejection(plain(), `http://user:${PASSWORD}@127.0.0.1:9/v1/messages`, anthropicInit());
  assert.ok(e instanceof TypeError, `a TypeError: ${e}`);
  assertClean("URL password", e);
});

test("a network error whose message, cause and path show the URL is scrubbed in place", async () => {
  const url = `${API}?key=${URL_KEY}`;
  let thrown;
  const pacer = new Pacer({
    retry: { maxRetries: 1, initialDelayMs: 1, maxDelayMs: 2 },
    fetch: async (input) => {
      const cause = new Error(`connect ECONNREFUSED ${input}`);
      cause.input = String(input);
      thrown = new TypeError(`fetch failed: ${input}`, { cause });
      thrown.path = String(input);
      thrown.errors = [new Error(`attempt to ${input}`)];
      // Read-only (but configurable): defined anew.
      Object.defineProperty(thrown, "url", { value: String(input), enumerable: true, configurable: true });
      cause.cause = thrown; // a cycle
      return Promise.reject(thrown);
    },
  });
  const e = await rejection(pacer, url, anthropicInit({ apiKey: KEY }));
  assert.equal(e, thrown, "the platform's own error object");
  assert.ok(e instanceof TypeError);
  assert.equal(e.name, "TypeError");
  assert.match(e.path, /^https:\/\/api\.anthropic\.com\/v1\/messages\?key=\[redacted\]$/);
  assert.match(e.url, /\?key=\[redacted\]$/);
  assertClean("network error", e);

  // The key in a header echoed by the error, and an AggregateError.
  const agg = new Pacer({
    retry: { maxRetries: 0 },
    fetch: async () => Promise.reject(new AggregateError([new Error(`bad key ${KEY}`)], `bearer ${KEY}`)),
  });
  const a = await rejection(agg, API, anthropicInit({ apiKey: KEY }));
  assert.ok(a instanceof AggregateError);
  assertClean("AggregateError", a);
});

test("the caller's abort reason and the pacer's own errors pass through untouched", async () => {
  const url = `${API}?key=${URL_KEY}`;
  const reason = new Error(`my own reason, about ${url}`);
  const message = reason.message;
  const e = await rejection(plain(), url, anthropicInit({ apiKey: KEY, signal: AbortSignal.abort(reason) }));
  assert.equal(e, reason, "the very reason");
  assert.equal(e.message, message, "untouched");
  // In flight, through the `fetch` option that rejects with the signal's reason.
  const ac = new AbortController();
  const pacer = new Pacer({
    fetch: (_, init) =>
      new Promise((_r, reject) => init.signal.addEventListener("abort", () => reject(init.signal.reason))),
  });
  const p = outcome(pacer.fetch(url, anthropicInit({ apiKey: KEY, signal: ac.signal })));
  ac.abort(reason);
  const r = await bounded(p, "the aborted call");
  assert.equal(r.error, reason);
  assert.equal(r.error.message, message);
  // A PacerError (closed).
  const closed = plain();
  closed.close();
  const c = await rejection(closed, url, anthropicInit({ apiKey: KEY }));
  assert.ok(c instanceof PacerError);
  assert.equal(c.code, "CLOSED");
});

const enc = new TextEncoder();
/** A body that gives `first`, then fails with an error that shows `url`. */
const failing = (url, first) =>
  new ReadableStream({
    start(c) {
      if (first) c.enqueue(enc.encode(first));
    },
    pull(c) {
      const e = new TypeError(`read failed for ${url}`);
      e.path = url;
      c.error(e);
    },
  });

test("a resumed stream's read error is scrubbed", async () => {
  const url = `${API}?key=${URL_KEY}`;
  const start =
    `event: message_start\ndata: ${JSON.stringify({ type: "message_start", message: { usage: { input_tokens: 5, output_tokens: 1 } } })}\n\n` +
    `event: content_block_start\ndata: ${JSON.stringify({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } })}\n\n`;
  const streams = new Pacer({ fetch: async () => new Response(failing(url, start), { headers: SSE }) });
  const res = await streams.fetch(url, anthropicInit({ apiKey: KEY, body: { stream: true } }));
  const read = await outcome(res.text());
  assert.equal(read.ok, false);
  assert.ok(read.error instanceof TypeError);
  assert.match(read.error.path, /\?key=\[redacted\]$/);
  assertClean("stream read", read.error);
});

test("a watched JSON body's read error is scrubbed", async () => {
  const url = `${API}?key=${URL_KEY}`;
  const json = new Pacer({
    fetch: async () => new Response(failing(url, ""), { headers: { "content-type": "application/json" } }),
  });
  const res = await json.fetch(url, anthropicInit({ apiKey: KEY }));
  const read = await outcome(res.json());
  assert.equal(read.ok, false);
  assertClean("JSON read", read.error);
  // Read through its `body`: a reader, a pipe, a Response made of it.
  for (const how of ["reader", "pipe", "response"]) {
    const res = await json.fetch(url, anthropicInit({ apiKey: KEY }));
    const reads = {
      reader: async () => {
        const r = res.body.getReader();
        for (;;) if ((await r.read()).done) return;
      },
      pipe: () => res.body.pipeTo(new WritableStream()),
      response: () => new Response(res.body).text(),
    };
    const read = await outcome(reads[how]());
    assert.equal(read.ok, false, how);
    assertClean(`JSON body read by a ${how}`, read.error);
  }
});

test("a cookie, a password header, OAuth's code, AWS's credential and a fragment's token are scrubbed; so is a thrown string", async () => {
  const secret = (name) => `SECRET${name.toUpperCase()}-8e4f`;
  const url =
    `${API}?code=${secret("code")}&X-Amz-Credential=${secret("amz")}&jwt=${secret("jwt")}` +
    `&session=${secret("session")}#access_token=${secret("fragment")}`;
  const headers = { cookie: `sid=${secret("cookie")}`, "x-password": secret("password") };
  const all = ["code", "amz", "jwt", "session", "fragment", "cookie", "password"].map(secret);
  const shown = `failed: ${url} with ${headers.cookie} and ${headers["x-password"]}`;
  const leaks = (text) => all.filter((m) => text.includes(m));
  // An Error, and a string thrown by a `fetch` of the caller's.
  for (const thrown of [new TypeError(shown), shown]) {
    const pacer = new Pacer({
      retry: { maxRetries: 0 },
      fetch: async () => {
        throw thrown;
      },
    });
    const e = await rejection(pacer, url, { method: "POST", body: "{}", headers });
    const texts = typeof e == "string" ? [e] : renderings(e);
    for (const text of texts) assert.deepEqual(leaks(text), [], text.slice(0, 400));
    assert.match(typeof e == "string" ? e : e.message, /\[redacted\]/);
  }
});

test("a URL's user name, a password= parameter and a signature header are scrubbed", async () => {
  // Node refuses a URL with user information, its message showing the whole URL; a key may
  // be the user name (`https://KEY@host`, `KEY:`).
  for (const url of [`http://${PASSWORD}@127.0.0.1:9/v1/messages`, `http://${PASSWORD}:@127.0.0.1:9/v1/messages`]) {
    const e = await rejection(plain(), url, { method: "POST", body: "{}" });
    assert.ok(e instanceof TypeError, String(e));
    assertClean(url, e);
  }
  const e = await rejection(plain(), `http://exa mple.com/v1/messages?password=${URL_KEY}`, { method: "POST" });
  assertClean("password=", e);
  const signed = new Pacer({
    retry: { maxRetries: 0 },
    fetch: async (_u, init) => {
      throw new TypeError(`invalid header value ${new Headers(init.headers).get("x-signature")}`);
    },
  });
  assertClean("x-signature", await rejection(signed, API, { method: "POST", headers: { "x-signature": KEY } }));
});

test("the data an error holds is scrubbed: axios' config.headers, a Headers, an args array, a Map, a thrown object", async () => {
  const headers = (init) => Object.fromEntries(new Headers(init.headers));
  const makers = [
    (u, i) => Object.assign(new Error("Request failed"), { config: { url: String(u), headers: headers(i) } }),
    (_u, i) => Object.assign(new Error("x"), { headers: new Headers(i.headers) }),
    (u, i) => Object.assign(new Error("x"), { args: [String(u), new Headers(i.headers).get("x-api-key")] }),
    (_u, i) => Object.assign(new Error("x"), { meta: new Map([["key", headers(i)["x-api-key"]]]) }),
    (_u, i) => new TypeError("fetch failed", { cause: { headers: headers(i) } }),
    (_u, i) => ({ message: "x", headers: headers(i) }),
  ];
  for (const [n, make] of makers.entries()) {
    const pacer = new Pacer({
      retry: { maxRetries: 0 },
      fetch: async (u, i) => {
        throw make(u, i);
      },
    });
    assertClean(`maker ${n}`, await rejection(pacer, `${API}?key=${URL_KEY}`, anthropicInit({ apiKey: KEY })));
    pacer.close();
  }
});

test("a TIMEOUT's cause (the last network error) is scrubbed", async () => {
  const pacer = new Pacer({
    timeoutMs: 500,
    retry: { jitter: "none", initialDelayMs: 1000 },
    fetch: async (u) => {
      throw new TypeError(`fetch failed for ${u}`);
    },
  });
  const e = await rejection(pacer, `${API}?key=${URL_KEY}`, anthropicInit({ apiKey: KEY }));
  assert.equal(e.code, "TIMEOUT");
  assert.ok(e.cause instanceof TypeError);
  assertClean("TIMEOUT's cause", e);
});
