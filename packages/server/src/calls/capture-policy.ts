/**
 * What happens to a finished call between its capture and its record, for the proxy and for ingest alike:
 * sampled (calls/sampling.ts), its user ids hashed (calls/pseudonym.ts), stamped with the configuration's hash
 * (calls/provenance.ts). Pure but for the counters; never throws on a call's content.
 */
import { usageOf } from "intersebd/chat";
import type { Config } from "../config/index.ts";
import { samplesEverything } from "../config/sampling.ts";
import { costUsd } from "./pricing.ts";
import { configHash } from "./provenance.ts";
import { pseudonymize } from "./pseudonym.ts";
import type { CapturedCall } from "./record.ts";
import { decideSample } from "./sampling.ts";

/** The counters a decision feeds (metrics/index.ts); `tokens` and `costUsd` only for calls left out. */
export interface CaptureMetrics {
  sampledOut: { inc(labels: { upstream: string; rule: string }): void };
  sampleDecisions: { inc(labels: { decision: string; reason: string }): void };
  tokens: { inc(labels: { upstream: string; model: string; kind: string }, by: number): void };
  costUsd: { inc(labels: { upstream: string; model: string }, by: number): void };
}

/**
 * The call as it is to be recorded, or undefined when sampling leaves it out (then counted: decision, tokens and
 * cost, as `countCall` counts a stored one). `countTokens` is false for ingested calls, which /metrics does not
 * count either way.
 */
export function admitCall(
  config: Config,
  metrics: CaptureMetrics,
  call: CapturedCall,
  countTokens = true,
): CapturedCall | undefined {
  if (!samplesEverything(config.sampling)) {
    const d = decideSample(config.sampling, call);
    if (d.keep) metrics.sampleDecisions.inc({ decision: "kept", reason: d.reason });
    else {
      metrics.sampleDecisions.inc({ decision: "dropped", reason: "rate" });
      metrics.sampledOut.inc({ upstream: call.upstream, rule: d.rule });
      if (countTokens) countLeftOut(metrics, call);
      return undefined;
    }
  }
  const out = pseudonymize(config, call);
  return { ...out, configHash: configHash(config) };
}

function countLeftOut(metrics: CaptureMetrics, call: CapturedCall): void {
  const usage = usageOf(call.response);
  const model =
    (typeof call.response?.model === "string" && call.response.model) ||
    (typeof call.request?.model === "string" && call.request.model) ||
    "unknown";
  const tokens = {
    promptTokens: usage.promptTokens ?? null,
    completionTokens: usage.completionTokens ?? null,
    cachedTokens: usage.cachedTokens ?? null,
  };
  if (tokens.promptTokens)
    metrics.tokens.inc({ upstream: call.upstream, model, kind: "prompt" }, tokens.promptTokens);
  if (tokens.completionTokens)
    metrics.tokens.inc({ upstream: call.upstream, model, kind: "completion" }, tokens.completionTokens);
  const cost = costUsd(model, tokens);
  if (cost) metrics.costUsd.inc({ upstream: call.upstream, model }, cost);
}
