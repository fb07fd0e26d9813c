// llm-pacer/redis: a PacerStore in Redis, shared by every process of a fleet. Plain
// JavaScript, no Wasm and no dependency: the caller passes its own client (ioredis, also
// Cluster; node-redis `redis` v4+ / `@redis/client`; a client shaped like `@upstash/redis`).
//
// One Lua script does the arithmetic of the Rust core's `core::store` (src/core/store.rs:
// token buckets of core::bucket, all-or-nothing across dimensions) atomically inside Redis,
// at Redis's clock (`TIME`), so processes whose clocks disagree still agree. A differential
// test (tests/js/store-redis.test.mjs against examples/store_ops.rs) holds the two equal.
//
// State of one limit key: a hash at `{prefix:key}` (hash-tagged: Redis Cluster keeps it in
// one slot), fields c1..c4 (capacity), l1..l4 (level), a1..a4 (time of that level, ms),
// q1..q4 and b1..b4 (the queue bucket's level and its time: the level less the turns booked,
// see core::store), p (end of a 429 pause, ms), r (end of the opening probe's lease, ms), n
// (the probes out, none answered) and o (1: the key is open, its server sends no figures), for
// the dimensions requests, inputTokens, outputTokens, tokens.
// The key expires two windows after its last use (a full bucket again by then).
import { storeFace } from "../store-face.js";
import { checkKeys, isRecord } from "../strict.js";

/** The Lua script (exported for inspection and tests). */
export const redisScript = `
local K = KEYS[1]
local op = ARGV[1]
local now = tonumber(ARGV[2])
if now == nil then
  if redis.replicate_commands then pcall(redis.replicate_commands) end
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
local W = 60000
local f = function(x) return string.format('%.17g', x) end
local h = redis.call('HGETALL', K)
local s = {}
for i = 1, #h, 2 do s[h[i]] = tonumber(h[i + 1]) end
local c, l, a, q, b = {}, {}, {}, {}, {}
for d = 1, 4 do
  c[d] = s['c' .. d]; l[d] = s['l' .. d]; a[d] = s['a' .. d]; q[d] = s['q' .. d]; b[d] = s['b' .. d]
  if c[d] ~= nil and (q[d] == nil or b[d] == nil) then q[d] = l[d]; b[d] = a[d] end
end
local p = s['p'] or 0
local r, o = s['r'] or 0, s['o'] or 0
local n = s['n'] or (r > 0 and 1 or 0)
local dirty = {}
-- One bucket of dimension d: its level in L[d] at time A[d] (the bucket l, a or its queue q, b).
local function level(L, A, d, t)
  local dt = t - A[d]
  if dt < 0 then dt = 0 end
  if L[d] >= c[d] then return c[d] end
  local v = L[d] + dt * (c[d] / W)
  if v > c[d] then v = c[d] end
  return v
end
local function advance(L, A, d, t)
  if t > A[d] then L[d] = level(L, A, d, t); A[d] = t end
  dirty[d] = true
end
local function create(d, cap, t) c[d] = cap; l[d] = cap; a[d] = t; q[d] = cap; b[d] = t; dirty[d] = true end
local function take(L, A, d, t, n) advance(L, A, d, t); local v = L[d] - n; if v < -c[d] then v = -c[d] end; L[d] = v end
local function give(L, A, d, t, n) advance(L, A, d, t); local v = L[d] + n; if v > c[d] then v = c[d] end; L[d] = v end
local function both(f, d, t, n) f(l, a, d, t, n); f(q, b, d, t, n) end
-- A queue is never above its bucket (core::store's cap_queue).
local function capq(d)
  local lv = level(l, a, d, now)
  if level(q, b, d, now) > lv then advance(q, b, d, now); q[d] = lv end
end
local function valid(x) return x ~= nil and x == x and x > 0 and x < math.huge end
local function nn(x) if x ~= nil and x >= 0 then return x end return 0 end
local function amounts(i, o) i = nn(i); o = nn(o); return {1, i, o, i + o} end
local kind, wait, dim = 'ok', 0, ''
if op == 'reserve' then
  for d = 1, 4 do
    local lim = tonumber(ARGV[2 + d])
    if c[d] == nil and valid(lim) then create(d, lim, now) end
  end
  local cost = amounts(tonumber(ARGV[7]), tonumber(ARGV[8]))
  local turn = tonumber(ARGV[9]) == 1
  -- What a turn books of the output (core::store's reserve_booking): absent or NaN, all of it.
  local bo = tonumber(ARGV[10])
  local book = cost
  if bo ~= nil and bo == bo and bo >= 0 then book = amounts(tonumber(ARGV[7]), bo) end
  for d = 1, 4 do if book[d] > cost[d] then book[d] = cost[d] end end
  for d = 1, 4 do
    if kind == 'ok' and c[d] ~= nil and cost[d] > c[d] then kind = 'never'; dim = d end
  end
  if kind == 'ok' then
    local blocker = nil
    for d = 1, 4 do
      if c[d] ~= nil then
        local need = cost[d]
        if need > 0 then
          need = need + (c[d] / W) * 250
          if need > c[d] then need = c[d] end
        end
        local lines = turn and {{l, a}} or {{l, a}, {q, b}}
        for _, line in ipairs(lines) do
          local lv = level(line[1], line[2], d, now)
          if lv < need then
            local w = (need - lv) / (c[d] / W) + 1
            if w > wait then wait = w; blocker = d end
          end
        end
      end
    end
    if p > now and p - now >= wait then
      kind = 'wait'; dim = 0; wait = p - now
    elseif blocker ~= nil then
      kind = 'wait'; dim = blocker
    elseif c[1] == nil and c[2] == nil and c[3] == nil and c[4] == nil and o ~= 1 then
      -- No limit known: one request goes as the opening probe, the others wait for its
      -- figures (core::store's probe); a lease run out lets one more go, and twice as many
      -- as are out each step after (the next waits a step when the count is a power of two).
      if r > now then
        kind = 'wait'; dim = 5; wait = r - now
      elseif r > 0 and n > 0 then
        n = n + 1
        local m = n
        while m % 2 == 0 do m = m / 2 end
        if m == 1 then r = now + 2500 end
        kind = 'admit'; dirty[5] = true
      else
        n = 1; r = now + 10000
        kind = 'admit'; dirty[5] = true
      end
    else
      kind = 'admit'
    end
    for d = 1, 4 do
      if c[d] ~= nil then
        if kind == 'admit' then take(l, a, d, now, cost[d]) end
        if not turn and kind == 'admit' then take(q, b, d, now, cost[d])
        elseif not turn then take(q, b, d, now, book[d])
        elseif kind == 'admit' then take(q, b, d, now, cost[d] - book[d]) end
        capq(d)
      end
    end
  end
elseif op == 'settle' then
  local r = amounts(tonumber(ARGV[3]), tonumber(ARGV[4]))
  local u = amounts(tonumber(ARGV[5]), tonumber(ARGV[6]))
  for d = 2, 4 do
    if c[d] ~= nil then
      local x = u[d] - r[d]
      if x > 0 then both(take, d, now, x) elseif x < 0 then both(give, d, now, -x) end
    end
  end
elseif op == 'refund' then
  local r = amounts(tonumber(ARGV[3]), tonumber(ARGV[4]))
  local only = tonumber(ARGV[5]) == 1 -- the turn only (unbook): the queue's cost given back
  for d = 1, 4 do
    if c[d] ~= nil then
      if only then
        give(q, b, d, now, r[d])
        capq(d)
      else
        both(give, d, now, r[d])
      end
    end
  end
elseif op == 'learn' then
  local i = 3
  while ARGV[i] ~= nil do
    local d = tonumber(ARGV[i])
    local lim = tonumber(ARGV[i + 1])
    local rem = tonumber(ARGV[i + 2])
    if d ~= nil and d >= 1 and d <= 4 then
      if valid(lim) then
        if c[d] == nil then create(d, lim, now)
        elseif c[d] ~= lim then
          advance(l, a, d, now); advance(q, b, d, now); c[d] = lim
          for _, L in ipairs({l, q}) do
            if L[d] > lim then L[d] = lim elseif L[d] < -lim then L[d] = -lim end
          end
        end
      end
      if c[d] ~= nil and rem ~= nil and rem == rem and rem >= 0 and rem < math.huge then
        local lv = level(l, a, d, now)
        if rem < lv then
          advance(l, a, d, now); if rem < c[d] then l[d] = rem else l[d] = c[d] end
          take(q, b, d, now, lv - level(l, a, d, now))
        end
      end
    end
    i = i + 3
  end
elseif op == 'giveback' then
  -- What the settlement of a request the store never held gave back, up to its own figure
  -- (core::store's give_back): triples [dim, given, up to].
  local i = 3
  while ARGV[i] ~= nil do
    local d = tonumber(ARGV[i])
    local g = tonumber(ARGV[i + 1])
    local up = tonumber(ARGV[i + 2])
    if d ~= nil and d >= 1 and d <= 4 and c[d] ~= nil and g ~= nil and g > 0
      and up ~= nil and up == up and up < math.huge then
      local lv = level(l, a, d, now)
      if up > lv then
        if g > up - lv then g = up - lv end
        both(give, d, now, g)
        capq(d)
      end
    end
    i = i + 3
  end
elseif op == 'pause' then
  local ra = tonumber(ARGV[3])
  if ra ~= nil and ra == ra and ra > 0 and ra < math.huge and now + ra > p then
    p = now + ra; dirty[0] = true
  end
elseif op == 'probed' then
  -- The probe's answer carried no limit: the lease ends; a 2xx opens the key.
  r = 0; n = 0
  if tonumber(ARGV[3]) == 1 then o = 1 end
  dirty[5] = true
elseif op ~= 'levels' then
  return redis.error_reply('llm-pacer: unknown store operation')
end
local set = {}
for d = 1, 4 do
  if dirty[d] then
    set[#set + 1] = 'c' .. d; set[#set + 1] = f(c[d])
    set[#set + 1] = 'l' .. d; set[#set + 1] = f(l[d])
    set[#set + 1] = 'a' .. d; set[#set + 1] = f(a[d])
    set[#set + 1] = 'q' .. d; set[#set + 1] = f(q[d])
    set[#set + 1] = 'b' .. d; set[#set + 1] = f(b[d])
  end
end
if dirty[0] then set[#set + 1] = 'p'; set[#set + 1] = f(p) end
if dirty[5] then
  set[#set + 1] = 'r'; set[#set + 1] = f(r); set[#set + 1] = 'o'; set[#set + 1] = f(o)
  set[#set + 1] = 'n'; set[#set + 1] = f(n)
end
if #set > 0 then redis.call('HSET', K, unpack(set)) end
if #set > 0 or op == 'reserve' then
  local ttl = 2 * W
  if p > now then ttl = ttl + (p - now) end
  redis.call('PEXPIRE', K, math.ceil(ttl))
end
local out = {kind, f(wait), tostring(dim), f(now)}
for d = 1, 4 do
  if c[d] ~= nil then out[#out + 1] = f(level(l, a, d, now)) else out[#out + 1] = '' end
end
return out
`;

function noscript(err) {
  return /NOSCRIPT/.test(String(err?.message ?? err));
}

/** How to run the script on this client: `(sha|null, key, args) => reply`, by shape. */
function adapter(client) {
  if (client == null || typeof client !== "object") {
    throw new TypeError("llm-pacer/redis: redisStore(client) needs a Redis client (ioredis, redis, @upstash/redis)");
  }
  // ioredis (Redis and Cluster): evalsha(sha, numkeys, ...keys, ...args). A Cluster's
  // `SCRIPT LOAD` would reach one node: it is sent to every master (the others would each
  // answer NOSCRIPT once, then be loaded by the EVAL fallback).
  if (typeof client.defineCommand === "function" && typeof client.evalsha === "function") {
    return {
      evalsha: (sha, key, args) => client.evalsha(sha, 1, key, ...args),
      eval: (key, args) => client.eval(redisScript, 1, key, ...args),
      load: () =>
        typeof client.nodes === "function"
          ? Promise.all(client.nodes("master").map((n) => n.script("LOAD", redisScript))).then((shas) => shas[0])
          : client.script("LOAD", redisScript),
    };
  }
  // node-redis v4+ (`redis`, `@redis/client`): evalSha(sha, { keys, arguments }).
  if (typeof client.evalSha === "function" && typeof client.eval === "function") {
    return {
      evalsha: (sha, key, args) => client.evalSha(sha, { keys: [key], arguments: args }),
      eval: (key, args) => client.eval(redisScript, { keys: [key], arguments: args }),
      load: () => (typeof client.scriptLoad === "function" ? client.scriptLoad(redisScript) : null),
    };
  }
  // @upstash/redis (REST): evalsha(sha, keys, args).
  if (typeof client.evalsha === "function" && typeof client.eval === "function") {
    return {
      evalsha: (sha, key, args) => client.evalsha(sha, [key], args),
      eval: (key, args) => client.eval(redisScript, [key], args),
      load: () => (typeof client.scriptLoad === "function" ? client.scriptLoad(redisScript) : null),
    };
  }
  throw new TypeError("llm-pacer/redis: unrecognised Redis client (expected ioredis, redis v4+ or @upstash/redis)");
}

const num = (x) => (x === "" || x == null ? undefined : Number(x));
const arg = (x) => (typeof x === "number" && Number.isFinite(x) ? String(x) : "");

/**
 * A PacerStore in Redis (see redis.d.ts).
 * @param {object} client ioredis, node-redis v4+ or @upstash/redis client (yours, connected)
 * @param {{ prefix?: string }} [options]
 */
export function redisStore(client, options) {
  if (options != null) {
    if (!isRecord(options)) throw new TypeError("llm-pacer/redis: options must be an object");
    // `keyPrefix` is ioredis's own option: a typo here would go unseen.
    checkKeys(options, "prefix", "");
  }
  const run = adapter(client);
  const prefix = options?.prefix ?? "llm-pacer";
  if (typeof prefix !== "string" || prefix === "" || /[{}]/.test(prefix)) {
    throw new TypeError("llm-pacer/redis: prefix must be a non-empty string without { or }");
  }
  let sha = null;
  let loading = null;
  const stats = { evalsha: 0, eval: 0, noscript: 0 };
  const redisKey = (key) => `{${prefix}:${String(key).replace(/[{}]/g, "_")}}`;

  async function call(op, key, args, now) {
    const argv = [op, now === undefined ? "" : String(now), ...args];
    const k = redisKey(key);
    if (sha === null && loading === null) {
      loading = Promise.resolve()
        .then(run.load)
        .then((s) => {
          if (typeof s === "string") sha = s;
        })
        .catch(() => {})
        .finally(() => {
          loading = null;
        });
    }
    if (loading) await loading;
    let reply;
    if (sha !== null) {
      try {
        stats.evalsha++;
        reply = await run.evalsha(sha, k, argv);
      } catch (err) {
        if (!noscript(err)) throw err;
        stats.noscript++;
        stats.eval++;
        reply = await run.eval(k, argv); // EVAL caches the script again on that node
      }
    } else {
      stats.eval++;
      reply = await run.eval(k, argv);
    }
    const [kind, wait, dim, at, ...levels] = reply.map(String);
    return {
      kind,
      waitMs: Number(wait),
      dim: dim === "" ? undefined : Number(dim),
      now: Number(at),
      levels: levels.map(num),
    };
  }

  return {
    ...storeFace("llm-pacer/redis", call, arg),
    /** Counters of script invocations: `{ evalsha, eval, noscript }`. */
    stats() {
      return { ...stats };
    },
    /** Test hook: one operation with the store's clock replaced by `now` (ms). Not for use. */
    _op: (op, key, args, now) => call(op, key, args.map(String), now),
  };
}
