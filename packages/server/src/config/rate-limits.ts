/**
 * `INTERSEBD_RATE_LIMITS`: the proxy's rate limits (enforced by limits/), as a comma-separated list of rules
 * `<scope>:[<name>=]<amount><unit>`:
 *
 *   key:600rpm, key:200k tpm, user:60rpm, upstream:3000rpm, upstream:openai=10000rpm, user:batch-job=600rpm
 *
 * scope: `key` (each API key presented in `x-intersebd-key`), `user` (each user id), `upstream` (each upstream);
 * a name narrows the rule to one key id, user id or upstream name, and replaces the scope's general rule of the
 * same unit for it. unit: `r` (requests) or `t` (tokens), then `p` and `s`, `m`, `h` or `d` (per second, minute,
 * hour, day): rpm and tpm as OpenAI states its limits, rps to smooth bursts. amount: a whole number, optionally
 * `k` (thousand) or `m` (million).
 */
export type RateScope = "key" | "user" | "upstream";
export type RateUnit = "requests" | "tokens";

export interface RateRule {
  scope: RateScope;
  /** The one key id, user id or upstream name the rule is for; absent: each of them. */
  name?: string;
  unit: RateUnit;
  /** How many requests or tokens per window. */
  limit: number;
  windowMs: number;
  /** The rule as written, for messages. */
  text: string;
}

export interface RateLimitsConfig {
  rules: RateRule[];
  /** `REDIS_URL`: limits shared by every instance that points at it; unset: each process counts its own. */
  redisUrl?: string;
  /** How long a request waits for Redis before it goes through unlimited, ms. */
  redisTimeoutMs: number;
  /** Prefix of the Redis keys, so deployments (or tests) can share one Redis without sharing limits. */
  redisPrefix: string;
}

const WINDOWS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const MULTIPLIERS: Record<string, number> = { "": 1, k: 1000, m: 1_000_000 };
const RULE = /^(key|user|upstream):(?:([^=]+)=)?\s*(\d+(?:\.\d+)?)\s*([km]?)\s*([rt])p([smhd])$/i;

/**
 * Parses the rules.
 * @throws Error naming the rule and the syntax expected (loadConfig adds the variable).
 */
export function parseRateLimits(raw: string): RateRule[] {
  const rules: RateRule[] = [];
  const seen = new Set<string>();
  for (const part of raw.split(",")) {
    const text = part.trim();
    if (!text) continue;
    const m = RULE.exec(text);
    if (!m) {
      throw new Error(
        `"${text}" is not a rule; expected <key|user|upstream>:[<name>=]<amount><rpm|tpm|rps|...>, e.g. key:600rpm, user:60rpm, upstream:openai=3000rpm`,
      );
    }
    const [, scope, name, amount, multiplier, unit, per] = m as unknown as string[];
    const limit = Math.round(Number(amount) * (MULTIPLIERS[(multiplier as string).toLowerCase()] ?? 1));
    if (!(limit >= 1)) throw new Error(`"${text}" must allow at least 1`);
    const rule: RateRule = {
      scope: (scope as string).toLowerCase() as RateScope,
      unit: (unit as string).toLowerCase() === "r" ? "requests" : "tokens",
      limit,
      windowMs: WINDOWS[(per as string).toLowerCase()] as number,
      text,
    };
    if (name?.trim()) rule.name = name.trim();
    const id = `${rule.scope}\0${rule.name ?? ""}\0${rule.unit}\0${rule.windowMs}`;
    if (seen.has(id)) throw new Error(`"${text}" repeats an earlier rule`);
    seen.add(id);
    rules.push(rule);
  }
  return rules;
}
