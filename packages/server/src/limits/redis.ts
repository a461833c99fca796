/**
 * Buckets in Redis, shared by every instance pointed at it: one Lua script per request reads, refills, checks and
 * takes from all of its buckets atomically, on Redis's clock (so instances' clocks need not agree). Each bucket
 * is a hash {l: level, t: ms} that expires once it would be full again, so Redis holds only active subjects.
 *
 * Redis away (down, restarting, unreachable, slower than the timeout) never fails a request: the request goes
 * through unlimited, and one warning is logged per outage, then one line when Redis answers again.
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import type { Logger } from "../util/log.ts";
import { onFirstUse } from "../util/on-first-use.ts";
import { type Bucket, type BucketStore, costOf, type Verdict } from "./bucket.ts";

const ioredis = onFirstUse<typeof import("ioredis")>("ioredis");

// Refill as bucket.ts's `refilled`, on Redis's clock; levels go back as strings (a Lua number would be truncated
// to an integer). Each ARGV triple is limit, window ms, cost; cost -1 charges ARGV[#] tokens without checking.
const REFILL = `
local function level_of(key, limit, win, now)
  local v = redis.call('HMGET', key, 'l', 't')
  if not v[1] then return limit end
  return math.min(limit, tonumber(v[1]) + math.max(0, now - tonumber(v[2])) * limit / win)
end
local function store(key, level, limit, win, now)
  redis.call('HSET', key, 'l', tostring(level), 't', now)
  redis.call('PEXPIRE', key, math.ceil((limit - level) * win / limit) + 1000)
end
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

const TAKE = `${REFILL}
local levels, ok = {}, 1
for i = 1, #KEYS do
  local limit, win, cost = tonumber(ARGV[3*i-2]), tonumber(ARGV[3*i-1]), tonumber(ARGV[3*i])
  local level = level_of(KEYS[i], limit, win, now)
  levels[i] = level
  if (cost > 0 and level < cost) or (cost == 0 and level <= 0) then ok = 0 end
end
local out = {ok}
for i = 1, #KEYS do
  local limit, win, cost = tonumber(ARGV[3*i-2]), tonumber(ARGV[3*i-1]), tonumber(ARGV[3*i])
  if ok == 1 and cost > 0 then store(KEYS[i], levels[i] - cost, limit, win, now) end
  out[i + 1] = tostring(levels[i])
end
return out
`;

const CHARGE = `${REFILL}
local amount = tonumber(ARGV[#ARGV])
for i = 1, #KEYS do
  local limit, win = tonumber(ARGV[2*i-1]), tonumber(ARGV[2*i])
  store(KEYS[i], level_of(KEYS[i], limit, win, now) - amount, limit, win, now)
end
return 1
`;

interface Script {
  text: string;
  sha: string;
}
const script = (text: string): Script => ({ text, sha: createHash("sha1").update(text).digest("hex") });
const TAKE_SCRIPT = script(TAKE);
const CHARGE_SCRIPT = script(CHARGE);

export interface RedisBucketsOptions {
  url: string;
  timeoutMs: number;
  prefix: string;
  log: Logger;
}

export class RedisBuckets implements BucketStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #log: Logger;
  /** Where Redis is, for messages: never the URL, which may carry a password. */
  readonly #where: string;
  #down = false;

  constructor(opts: RedisBucketsOptions) {
    this.#prefix = opts.prefix;
    this.#log = opts.log;
    const u = new URL(opts.url);
    this.#where = `${u.hostname}:${u.port || 6379}`;
    this.#redis = new (ioredis().Redis)(opts.url, {
      // A command while disconnected fails at once (the request goes through) instead of waiting in a queue.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: opts.timeoutMs,
      connectTimeout: Math.max(1000, opts.timeoutMs),
      // Reconnects for as long as the process runs, at most every 2 s.
      retryStrategy: (times) => Math.min(times * 100, 2000),
      connectionName: "intersebd-limits",
    });
    this.#redis.on("error", (err: Error) => this.#failed(err));
    this.#redis.on("ready", () => this.#recovered());
  }

  /** Resolves once connected, or after `ms` (requests go through unlimited until it connects). */
  ready(ms: number): Promise<void> {
    if (this.#redis.status === "ready") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#redis.off("ready", done);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#failed(new Error(`no connection within ${ms} ms`));
        done();
      }, ms);
      timer.unref();
      this.#redis.once("ready", done);
    });
  }

  async take(buckets: Bucket[]): Promise<Verdict> {
    if (this.#redis.status !== "ready") {
      this.#failed(new Error(`connection ${this.#redis.status}`));
      return { ok: true, levels: [] };
    }
    const args: Array<string | number> = [];
    for (const b of buckets) args.push(b.rule.limit, b.rule.windowMs, costOf(b.rule));
    try {
      const out = (await this.#run(TAKE_SCRIPT, buckets, args)) as [number, ...string[]];
      this.#recovered();
      return { ok: out[0] === 1, levels: out.slice(1).map(Number) };
    } catch (err) {
      this.#failed(err);
      return { ok: true, levels: [] };
    }
  }

  charge(buckets: Bucket[], amount: number): void {
    if (this.#redis.status !== "ready") return;
    const args: Array<string | number> = [];
    for (const b of buckets) args.push(b.rule.limit, b.rule.windowMs);
    args.push(amount);
    this.#run(CHARGE_SCRIPT, buckets, args).then(
      () => this.#recovered(),
      (err: unknown) => this.#failed(err),
    );
  }

  async #run(s: Script, buckets: Bucket[], args: Array<string | number>): Promise<unknown> {
    const keys = buckets.map((b) => this.#prefix + b.id);
    try {
      return await this.#redis.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (err) {
      // The first run on a Redis (or after its restart): load the script with it.
      if (!String((err as Error).message).startsWith("NOSCRIPT")) throw err;
      return this.#redis.eval(s.text, keys.length, ...keys, ...args);
    }
  }

  #failed(err: unknown): void {
    if (this.#down) return;
    this.#down = true;
    this.#log.warn(
      `rate limits: Redis at ${this.#where} is unavailable (${(err as Error)?.message ?? String(err)}); requests go through without limits until it answers again`,
    );
  }

  #recovered(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#log.info(`rate limits: Redis at ${this.#where} answers again; limits apply`);
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }
}
