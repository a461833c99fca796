/**
 * The 429 answer, shaped as OpenAI's so that official clients retry it on their own: `retry-after` (seconds) and
 * `retry-after-ms`, which they read, the `x-ratelimit-*` headers, and an error body with `type` requests or
 * tokens and `code: "rate_limit_exceeded"`.
 */
import type { ServerResponse } from "node:http";
import type { RateRule } from "../config/rate-limits.ts";
import { type Bucket, resetMs, waitMs } from "./bucket.ts";

const PER: Record<number, [string, string]> = {
  1000: ["second", "S"],
  60000: ["minute", "M"],
  3600000: ["hour", "H"],
  86400000: ["day", "D"],
};

/** `6m0s`, `1.5s`, `20ms`: the duration format of OpenAI's `x-ratelimit-reset-*` headers. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  const totalS = ms / 1000;
  const h = Math.floor(totalS / 3600);
  const m = Math.floor((totalS % 3600) / 60);
  const s = Math.round((totalS % 60) * 1000) / 1000;
  return `${h ? `${h}h` : ""}${h || m ? `${m}m` : ""}${s}s`;
}

function whose(rule: RateRule, upstream: string): string {
  if (rule.scope === "key") return "this API key";
  if (rule.scope === "user") return "this user id";
  return `upstream "${upstream}"`;
}

/** Writes the 429 for a refused request: `levels` are its buckets' levels, as the store saw them. */
export function refuse(res: ServerResponse, buckets: Bucket[], levels: number[], upstream: string): void {
  const headers: Record<string, string> = { "content-type": "application/json" };
  let wait = 0;
  let binding: { rule: RateRule; level: number } | undefined;
  const tightest: Partial<Record<RateRule["unit"], { rule: RateRule; level: number }>> = {};
  for (let i = 0; i < buckets.length; i++) {
    const { rule } = buckets[i] as Bucket;
    const level = levels[i] as number;
    const w = waitMs(level, rule);
    const refused = rule.unit === "requests" ? level < 1 : level <= 0;
    if (refused && w >= wait) {
      wait = w;
      binding = { rule, level };
    }
    const prev = tightest[rule.unit];
    if (!prev || Math.floor(level) < Math.floor(prev.level)) tightest[rule.unit] = { rule, level };
  }
  for (const [unit, t] of Object.entries(tightest)) {
    if (!t) continue;
    headers[`x-ratelimit-limit-${unit}`] = String(t.rule.limit);
    headers[`x-ratelimit-remaining-${unit}`] = String(Math.max(0, Math.floor(t.level)));
    headers[`x-ratelimit-reset-${unit}`] = duration(resetMs(t.level, t.rule));
  }
  headers["retry-after"] = String(Math.max(1, Math.ceil(wait / 1000)));
  headers["retry-after-ms"] = String(Math.max(1, wait));
  const rule = binding?.rule;
  const [per, letter] = (rule && PER[rule.windowMs]) ?? ["window", ""];
  const what = rule?.unit ?? "requests";
  const message = rule
    ? `Rate limit reached for ${whose(rule, upstream)} on ${what} per ${per} (${what === "requests" ? "R" : "T"}P${letter}): ` +
      `Limit ${rule.limit}, Used ${Math.max(0, Math.ceil(rule.limit - (binding?.level ?? 0)))}${what === "requests" ? ", Requested 1" : ""}. ` +
      `Please try again in ${duration(wait)}. (intersebd: INTERSEBD_RATE_LIMITS ${rule.text})`
    : "Rate limit reached. (intersebd: INTERSEBD_RATE_LIMITS)";
  const body = JSON.stringify({
    error: { message, type: what, param: null, code: "rate_limit_exceeded" },
  });
  if (res.headersSent) {
    res.destroy();
    return;
  }
  headers["content-length"] = String(Buffer.byteLength(body));
  res.writeHead(429, headers);
  res.end(body);
}
