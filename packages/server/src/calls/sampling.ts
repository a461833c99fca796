/**
 * Sampling at capture: whether a finished call is stored. Decided once the call has ended (so errors and slow
 * calls are known) and before its record is queued; deterministic from the call id (a shadow call's from the
 * call it shadows), so a replay or a second instance decides the same. A call left out is counted in /metrics
 * (`intersebd_calls_sampled_out_total`, its tokens and cost as any call's), never stored, never spooled.
 *
 * Always kept, whatever the rate: the reasons in INTERSEBD_SAMPLE_KEEP (errors by default; session, user,
 * experiment), calls slower than INTERSEBD_SAMPLE_KEEP_SLOW_MS, calls carrying a tag of
 * INTERSEBD_SAMPLE_KEEP_TAGS, and intersebd's own calls (evaluations, judges, shadows), which its reports read.
 */
import { BUCKETS, bucketOf } from "intersebd/experiments";
import {
  type KeepReason,
  type SampleRule,
  type SampleRuleField,
  type SamplingConfig,
  samplesEverything,
} from "../config/sampling.ts";
import type { CapturedCall } from "./record.ts";

/** Tags intersebd's own calls carry (evals/item.ts, live/worker.ts, experiments/shadow-judge.ts, conversations/). */
const INTERNAL_TAG = /^(?:eval|eval-judge|live-judge|exp-judge|conversation-eval):/;

export type SampleDecision =
  | { keep: true; reason: KeepReason | "slow" | "tag" | "internal" | "sampled" | "all" }
  | { keep: false; rule: string };

interface CompiledRule {
  label: string;
  tests: Array<[SampleRuleField, RegExp]>;
  rate: number;
}

const compiled = new WeakMap<SamplingConfig, CompiledRule[]>();

const glob = (pattern: string) =>
  new RegExp(
    `^${pattern
      .split("*")
      .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
      .join(".*")}$`,
  );

function compile(s: SamplingConfig): CompiledRule[] {
  let rules = compiled.get(s);
  if (!rules) {
    rules = s.rules.map((r: SampleRule) => {
      const entries = Object.entries(r.match) as Array<[SampleRuleField, string]>;
      return {
        label: entries.map(([f, p]) => `${f}=${p}`).join(","),
        tests: entries.map(([f, p]) => [f, glob(p)] as [SampleRuleField, RegExp]),
        rate: r.rate,
      };
    });
    compiled.set(s, rules);
  }
  return rules;
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

function fieldOf(call: CapturedCall, field: SampleRuleField): string | undefined {
  switch (field) {
    case "model":
      return (
        str(call.request?.model) ??
        str(call.originalRequest?.model) ??
        str(call.response?.model) ??
        str(call.originalResponse?.model)
      );
    case "upstream":
      return call.upstream;
    case "path":
      return call.path;
    case "experiment":
      return call.experiment ?? undefined;
  }
}

function hasUser(call: CapturedCall): boolean {
  const md = call.request?.metadata;
  return Boolean(
    call.userId ||
      str(call.request?.user) ||
      str(call.metadata.userId) ||
      (md && typeof md === "object" && str((md as Record<string, unknown>).userId)),
  );
}

/** The reason a call is kept whatever its rate, if any. */
function keptBecause(s: SamplingConfig, call: CapturedCall): SampleDecision | undefined {
  if (call.shadowOf || call.tags.some((t) => INTERNAL_TAG.test(t))) return { keep: true, reason: "internal" };
  for (const k of s.keep) {
    if (k === "errors" && (call.outcome !== "ok" || (call.status ?? 0) >= 400))
      return { keep: true, reason: k };
    if (k === "session" && call.sessionId) return { keep: true, reason: k };
    if (k === "user" && hasUser(call)) return { keep: true, reason: k };
    if (k === "experiment" && call.experiment) return { keep: true, reason: k };
  }
  if (s.keepSlowMs > 0 && call.endedAt - call.startedAt > s.keepSlowMs) return { keep: true, reason: "slow" };
  if (s.keepTags.length && call.tags.some((t) => s.keepTags.includes(t)))
    return { keep: true, reason: "tag" };
  return undefined;
}

/** Where in [0, 1) a call id falls: the same function as experiments' buckets, so an SDK can compute it too. */
export function sampleFraction(callId: string): number {
  return bucketOf("intersebd-sample", "", callId) / BUCKETS;
}

/** Whether to store this call, and why. */
export function decideSample(s: SamplingConfig, call: CapturedCall): SampleDecision {
  if (samplesEverything(s)) return { keep: true, reason: "all" };
  const kept = keptBecause(s, call);
  if (kept) return kept;
  const rule = compile(s).find((r) => r.tests.every(([f, re]) => re.test(fieldOf(call, f) ?? "")));
  const rate = rule ? rule.rate : s.rate;
  return sampleFraction(call.shadowOf ?? call.id) < rate
    ? { keep: true, reason: "sampled" }
    : { keep: false, rule: rule?.label ?? "rate" };
}
