/**
 * The capture settings that decide which calls are stored (sampling) and how user ids are stored (pseudonyms):
 * parsed here, at start, so that a mistake stops the start naming its variable. calls/sampling.ts and
 * calls/pseudonym.ts apply them.
 */
import { z } from "zod";

/** What a sampling rule can match on; each given field must match (`*` in a value matches any run of characters). */
export const sampleRuleFields = ["model", "upstream", "path", "experiment"] as const;
export type SampleRuleField = (typeof sampleRuleFields)[number];

export interface SampleRule {
  match: Partial<Record<SampleRuleField, string>>;
  /** The share of matching calls stored, 0..1. */
  rate: number;
}

/** Reasons a call is stored whatever its rate. */
export const keepReasons = ["errors", "session", "user", "experiment"] as const;
export type KeepReason = (typeof keepReasons)[number];

export interface SamplingConfig {
  /** The share of calls stored when no rule matches, 0..1. */
  rate: number;
  /** The first rule that matches a call gives its rate. */
  rules: SampleRule[];
  keep: KeepReason[];
  /** Calls that took longer than this are kept; 0: off. */
  keepSlowMs: number;
  /** Calls carrying any of these tags are kept. */
  keepTags: string[];
}

export interface UserIdConfig {
  /** Store user ids as `uh_<HMAC-SHA256 hex>` instead of as sent. */
  hash: boolean;
  /** The HMAC key; required when `hash`. */
  secret?: string;
}

/** True when every call is stored: the capture path then skips the decision entirely. */
export function samplesEverything(s: SamplingConfig): boolean {
  return s.rate >= 1 && s.rules.every((r) => r.rate >= 1);
}

const rate = z.number().min(0).max(1);
const jsonRules = z.array(
  z
    .object({
      model: z.string().min(1).optional(),
      upstream: z.string().min(1).optional(),
      path: z.string().min(1).optional(),
      experiment: z.string().min(1).optional(),
      rate,
    })
    .strict(),
);

/**
 * `INTERSEBD_SAMPLE_RULES`: a JSON array (`[{"model": "gpt-4o*", "upstream": "openai", "rate": 0.1}]`, every
 * field given must match) or the short form `field=pattern:rate` separated by `;` or new lines
 * (`model=gpt-4o-mini:0.1; path=*embeddings*:0`). The rate follows the last colon, so patterns may hold colons.
 * @throws Error naming the entry that does not parse.
 */
export function parseSampleRules(raw: string): SampleRule[] {
  const text = raw.trim();
  if (!text) return [];
  if (text.startsWith("[")) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new Error(`not valid JSON: ${(err as Error).message}`);
    }
    const parsed = jsonRules.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`[${issue?.path.join(".")}]: ${issue?.message}`);
    }
    return parsed.data.map(({ rate, ...match }) => {
      if (Object.keys(match).length === 0)
        throw new Error("a rule needs model, upstream, path or experiment");
      return { match, rate };
    });
  }
  return text
    .split(/;|\n/)
    .map((e) => e.trim())
    .filter(Boolean)
    .map((entry) => {
      const m = /^(\w+)=(.+):([0-9.]+)$/.exec(entry);
      const field = m?.[1] as SampleRuleField | undefined;
      const r = Number(m?.[3]);
      if (!m || !field || !sampleRuleFields.includes(field) || !(r >= 0 && r <= 1))
        throw new Error(
          `"${entry}" should be field=pattern:rate with field one of ${sampleRuleFields.join(", ")} and rate from 0 to 1`,
        );
      return { match: { [field]: m[2] }, rate: r };
    });
}

/** A comma-separated list of keep reasons; an unknown one throws naming it. */
export function parseKeepReasons(raw: string): KeepReason[] {
  const out: KeepReason[] = [];
  for (const item of raw.split(",").map((s) => s.trim())) {
    if (!item) continue;
    if (!(keepReasons as readonly string[]).includes(item))
      throw new Error(`"${item}" is not one of ${keepReasons.join(", ")}`);
    out.push(item as KeepReason);
  }
  return out;
}
