/**
 * Token buckets: each holds up to its rule's limit and refills continuously at limit per window, so a client
 * gets its whole budget in a burst and then a steady rate, as OpenAI's limits behave. A request takes 1 from each
 * of its request buckets when every one holds 1 (all or none: a refused request costs nothing). Tokens are known
 * only after the call: they are charged then and may overdraw a bucket, and the next request is refused until it
 * refills above zero.
 */
import type { RateRule } from "../config/rate-limits.ts";

/** One rule applied to one subject (a key, a user, an upstream). */
export interface Bucket {
  /** Unique per rule and subject; never a clear user id or key (it may be a Redis key). */
  id: string;
  rule: RateRule;
}

export interface Verdict {
  ok: boolean;
  /** Each bucket's level when asked (before this request took from it); empty when unknown (Redis away). */
  levels: number[];
}

/** Where bucket levels live: this process (LocalBuckets), or Redis for instances that share them. */
export interface BucketStore {
  take(buckets: Bucket[]): Verdict | Promise<Verdict>;
  charge(buckets: Bucket[], amount: number): void;
  close(): Promise<void>;
}

/** What a request takes from a bucket: 1 from a request bucket; nothing from a token bucket, which must be > 0. */
export const costOf = (rule: RateRule): number => (rule.unit === "requests" ? 1 : 0);

export const admits = (level: number, cost: number): boolean => (cost > 0 ? level >= cost : level > 0);

/** The level `elapsed` ms after it was `level`, refilled at limit per window, capped at the limit. */
export function refilled(level: number, elapsed: number, rule: RateRule): number {
  return Math.min(rule.limit, level + (Math.max(0, elapsed) * rule.limit) / rule.windowMs);
}

/** How long until a bucket at `level` admits a request, ms. */
export function waitMs(level: number, rule: RateRule): number {
  const cost = costOf(rule);
  const missing = cost > 0 ? cost - level : -level;
  // A token bucket must rise strictly above zero: one more ms does it.
  return Math.max(0, Math.ceil((missing * rule.windowMs) / rule.limit)) + (cost > 0 ? 0 : 1);
}

/** How long until a bucket at `level` is full again (OpenAI's `x-ratelimit-reset-*`), ms. */
export const resetMs = (level: number, rule: RateRule): number =>
  Math.max(0, Math.ceil(((rule.limit - level) * rule.windowMs) / rule.limit));

interface State {
  level: number;
  at: number;
  rule: RateRule;
}

/** Buckets in this process: a Map lookup and some arithmetic per bucket, no allocation for a known subject. */
export class LocalBuckets implements BucketStore {
  readonly #states = new Map<string, State>();
  readonly #sweeper: NodeJS.Timeout;
  readonly #now: () => number;

  constructor(now: () => number = Date.now, sweepMs = 60_000) {
    this.#now = now;
    // Full buckets are forgotten: one per user id seen would otherwise grow for as long as the process runs.
    this.#sweeper = setInterval(() => this.sweep(), sweepMs);
    this.#sweeper.unref();
  }

  take(buckets: Bucket[]): Verdict {
    const now = this.#now();
    const levels: number[] = new Array(buckets.length);
    let ok = true;
    for (let i = 0; i < buckets.length; i++) {
      const { id, rule } = buckets[i] as Bucket;
      const s = this.#states.get(id);
      const level = s ? refilled(s.level, now - s.at, rule) : rule.limit;
      levels[i] = level;
      if (!admits(level, costOf(rule))) ok = false;
    }
    if (ok) {
      for (let i = 0; i < buckets.length; i++) {
        const b = buckets[i] as Bucket;
        const cost = costOf(b.rule);
        if (cost > 0) this.#set(b, (levels[i] as number) - cost, now);
      }
    }
    return { ok, levels };
  }

  charge(buckets: Bucket[], amount: number): void {
    const now = this.#now();
    for (const b of buckets) {
      const s = this.#states.get(b.id);
      this.#set(b, (s ? refilled(s.level, now - s.at, b.rule) : b.rule.limit) - amount, now);
    }
  }

  #set(b: Bucket, level: number, at: number): void {
    const s = this.#states.get(b.id);
    if (s) {
      s.level = level;
      s.at = at;
    } else this.#states.set(b.id, { level, at, rule: b.rule });
  }

  /** Forgets the buckets that are full again. */
  sweep(): void {
    const now = this.#now();
    for (const [id, s] of this.#states)
      if (refilled(s.level, now - s.at, s.rule) >= s.rule.limit) this.#states.delete(id);
  }

  get size(): number {
    return this.#states.size;
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
  }
}
