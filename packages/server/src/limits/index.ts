/**
 * The proxy's rate limits (INTERSEBD_RATE_LIMITS, config/rate-limits.ts): per API key, per user id and per
 * upstream, in requests and tokens per window. The proxy asks `admit` before it forwards a request: refused, it is
 * answered 429 here as OpenAI answers (answer.ts); admitted, it goes on, and its tokens (the upstream's `usage`,
 * read from the call's record) are charged once the call is recorded, so a call over the token budget is refused
 * at the next request. Buckets live in this process, or in Redis when REDIS_URL is set (redis.ts), which never
 * fails a request: away, requests go through unlimited.
 */
import { createHash } from "node:crypto";
import type { ServerResponse } from "node:http";
import { Counter, type Registry } from "prom-client";
import type { CapturedCall } from "../calls/index.ts";
import type { RateLimitsConfig, RateRule, RateScope } from "../config/rate-limits.ts";
import type { Logger } from "../util/log.ts";
import { refuse } from "./answer.ts";
import { type Bucket, type BucketStore, LocalBuckets, type Verdict } from "./bucket.ts";
import { RedisBuckets } from "./redis.ts";

export { LocalBuckets } from "./bucket.ts";

/** What a request is limited by: the key it presented, its user id, the upstream it goes to. */
export interface Subjects {
  key: string | undefined;
  userId: string | null;
  upstream: string;
}

/** Charges a recorded call's tokens to the buckets of the request that made it. */
export type Charge = (call: CapturedCall) => void;

export interface LimitsOptions {
  log: Logger;
  registry?: Registry;
  /** The id of a presented key, as rules name it (`key:<id>=...`); undefined, or no function: a SHA-256 of it. */
  keyId?: (presented: string) => string | undefined;
  /** The store of buckets; default: Redis when the config names one, else this process. */
  store?: BucketStore;
}

/** The rules of one scope: the general ones, and for each named subject its own plus the general ones left. */
interface ScopeRules {
  general: RateRule[];
  named: Map<string, RateRule[]>;
}

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

export class Limits {
  readonly #scopes = new Map<RateScope, ScopeRules>();
  readonly #store: BucketStore;
  readonly #log: Logger;
  readonly #keyId: (presented: string) => string | undefined;
  /** Hashes of keys and user ids seen lately: hashing is most of the cost of a request that passes. */
  readonly #ids = new Map<string, string>();
  readonly #refused: Counter<"scope" | "unit"> | undefined;

  constructor(config: RateLimitsConfig, opts: LimitsOptions) {
    this.#log = opts.log;
    this.#keyId = opts.keyId ?? (() => undefined);
    this.#store =
      opts.store ??
      (config.redisUrl
        ? new RedisBuckets({
            url: config.redisUrl,
            timeoutMs: config.redisTimeoutMs,
            prefix: config.redisPrefix,
            log: opts.log,
          })
        : new LocalBuckets());
    for (const scope of ["key", "user", "upstream"] as const) {
      const rules = config.rules.filter((r) => r.scope === scope);
      if (!rules.length) continue;
      const general = rules.filter((r) => r.name === undefined);
      const named = new Map<string, RateRule[]>();
      for (const r of rules) if (r.name !== undefined) named.set(r.name, [...(named.get(r.name) ?? []), r]);
      for (const [name, own] of named) {
        // A named rule replaces the general rule of its unit and window for that subject.
        const left = general.filter((g) => !own.some((o) => o.unit === g.unit && o.windowMs === g.windowMs));
        named.set(name, [...own, ...left]);
      }
      this.#scopes.set(scope, { general, named });
    }
    if (opts.registry) {
      this.#refused = new Counter({
        name: "intersebd_rate_limited_total",
        help: "Proxy requests refused with 429 by INTERSEBD_RATE_LIMITS, by the scope (key, user, upstream) and unit (requests, tokens) of the rule that refused",
        labelNames: ["scope", "unit"] as const,
        registers: [opts.registry],
      });
    }
  }

  /** Waits (bounded) for Redis to connect, so the first requests are limited too; at once in process. */
  async ready(ms = 2000): Promise<void> {
    if (this.#store instanceof RedisBuckets) await this.#store.ready(ms);
  }

  /**
   * Admits a request (calls `go`, with a charge for its tokens when token limits apply) or answers it 429. In
   * process, at once; with Redis, once Redis answered (or failed: then it goes through). An error thrown by `go`
   * after an asynchronous wait is answered 500 here, since no caller is left to catch it.
   */
  admit(res: ServerResponse, subjects: Subjects, go: (charge: Charge | undefined) => void): void {
    const buckets = this.#bucketsFor(subjects);
    if (!buckets.length) {
      go(undefined);
      return;
    }
    const verdict = this.#store.take(buckets);
    if (!(verdict instanceof Promise)) {
      this.#decide(res, buckets, verdict, subjects.upstream, go);
      return;
    }
    verdict.then(
      (v) => {
        // The client left while Redis answered: nothing to send upstream.
        if (res.destroyed) return;
        try {
          this.#decide(res, buckets, v, subjects.upstream, go);
        } catch (err) {
          this.#log.error(`proxy: forwarding after the rate limit check failed: ${String(err)}`);
          if (!res.headersSent) {
            res.writeHead(500, { "content-type": "application/json" });
            res.end(
              JSON.stringify({ error: { message: "internal error in the proxy", type: "intersebd_error" } }),
            );
          } else res.destroy();
        }
      },
      // RedisBuckets.take does not reject; should another store, the request goes through all the same.
      () => go(undefined),
    );
  }

  #decide(
    res: ServerResponse,
    buckets: Bucket[],
    v: Verdict,
    upstream: string,
    go: (charge: Charge | undefined) => void,
  ): void {
    if (v.ok) {
      go(this.#chargeFor(buckets));
      return;
    }
    refuse(res, buckets, v.levels, upstream);
    if (this.#refused) {
      const first = buckets.find((b, i) =>
        b.rule.unit === "requests" ? (v.levels[i] as number) < 1 : (v.levels[i] as number) <= 0,
      );
      if (first) this.#refused.inc({ scope: first.rule.scope, unit: first.rule.unit });
    }
  }

  #chargeFor(buckets: Bucket[]): Charge | undefined {
    const charged = buckets.filter((b) => b.rule.unit === "tokens");
    if (!charged.length) return undefined;
    const store = this.#store;
    const log = this.#log;
    return (call) => {
      // Runs inside the recorder's hand-over: it must never throw, or the call would be set aside.
      try {
        const n = tokensOf(call);
        if (n > 0) store.charge(charged, n);
      } catch (err) {
        log.error(`rate limits: charging a call's tokens failed: ${String(err)}`);
      }
    };
  }

  #bucketsFor(s: Subjects): Bucket[] {
    const out: Bucket[] = [];
    const key = this.#scopes.get("key");
    if (key) {
      const id =
        s.key === undefined
          ? "none"
          : this.#cached("k", s.key, (k) => this.#keyId(k) ?? `sha256-${sha(k).slice(0, 32)}`);
      this.#add(out, key, "key", id, id);
    }
    const user = this.#scopes.get("user");
    if (user && s.userId !== null) {
      this.#add(
        out,
        user,
        "user",
        s.userId,
        this.#cached("u", s.userId, (u) => sha(u).slice(0, 32)),
      );
    }
    const upstream = this.#scopes.get("upstream");
    if (upstream) this.#add(out, upstream, "upstream", s.upstream, s.upstream);
    return out;
  }

  /** Adds a subject's buckets: `name` matches named rules; `id` names its buckets (never a clear user id). */
  #add(out: Bucket[], rules: ScopeRules, scope: RateScope, name: string, id: string): void {
    for (const rule of rules.named.get(name) ?? rules.general) {
      out.push({ id: `${scope}:${rule.unit === "requests" ? "r" : "t"}${rule.windowMs}:${id}`, rule });
    }
  }

  #cached(kind: string, value: string, hash: (v: string) => string): string {
    const k = kind + value;
    let id = this.#ids.get(k);
    if (id === undefined) {
      // Bounded: a flood of distinct user ids costs a rehash each, never memory.
      if (this.#ids.size >= 10_000) this.#ids.clear();
      id = hash(value);
      this.#ids.set(k, id);
    }
    return id;
  }

  close(): Promise<void> {
    return this.#store.close();
  }
}

/**
 * A recorded call's tokens: the upstream's `usage` (`total_tokens`, else prompt plus completion), or, when it sent
 * none (a stream without `stream_options.include_usage`), about 4 characters a token of the messages and answer.
 */
export function tokensOf(call: CapturedCall): number {
  const usage = call.response?.usage as Record<string, unknown> | undefined;
  if (usage && typeof usage === "object") {
    if (typeof usage.total_tokens === "number") return usage.total_tokens;
    const sum = Number(usage.prompt_tokens ?? 0) + Number(usage.completion_tokens ?? 0);
    if (sum > 0) return sum;
  }
  let chars = 0;
  const messages = call.request?.messages;
  if (messages !== undefined) chars += JSON.stringify(messages).length;
  const choices = call.response?.choices;
  if (Array.isArray(choices))
    for (const c of choices) {
      const m = (c as { message?: { content?: unknown; tool_calls?: unknown } } | null)?.message;
      if (typeof m?.content === "string") chars += m.content.length;
      if (m?.tool_calls !== undefined) chars += JSON.stringify(m.tool_calls).length;
    }
  return Math.ceil(chars / 4);
}

/**
 * The rate limits for a server's proxy, or undefined when INTERSEBD_RATE_LIMITS sets none (the proxy then asks
 * nothing). With Redis, waits (at most 2 s) for it to connect.
 */
export async function startLimits(
  config: RateLimitsConfig,
  opts: LimitsOptions,
): Promise<Limits | undefined> {
  if (!config.rules.length) return undefined;
  const limits = new Limits(config, opts);
  await limits.ready();
  return limits;
}

/** The sink a watcher hands its record to, charging the call's tokens first when `charge` is given. */
export function charging<S extends { onCall: (call: CapturedCall, ...rest: never[]) => void }>(
  sink: S,
  charge: Charge | undefined,
): S {
  if (!charge) return sink;
  return {
    ...sink,
    onCall: (call: CapturedCall, ...rest: never[]) => {
      charge(call);
      sink.onCall(call, ...rest);
    },
  };
}
