/**
 * What a conversation evaluation costs: the estimate made before it starts (checked against `maxCostUsd`, as
 * evaluations' planRun checks theirs), and the price of each regeneration and judge call from the usage it
 * answered with (calls/pricing.ts, as the proxy prices the call it logs), which the runner adds up per item.
 */
import { usageOf } from "intersebd/chat";
import { costUsd } from "../calls/index.ts";
import type { Estimate } from "../evals/index.ts";
import { HttpError } from "../http/error.ts";

/** A rough estimate, in the shape of evaluations' (evals/runs.ts `Estimate`), without skipped calls. */
export type ConversationEstimate = Omit<Estimate, "skipped">;

/** What the estimate reads of one item. */
export interface ItemToEstimate {
  request: { model?: unknown; messages?: unknown };
  judgeContext: string;
  original: string;
}

// Tokens are guessed at four characters each; the judge's reply is a short JSON verdict.
const tokens = (chars: number) => Math.ceil(chars / 4);
const JUDGE_INSTRUCTIONS = 220;
const JUDGE_REPLY = 60;
const round = (x: number) => Math.round(x * 1e8) / 1e8;

/**
 * Each regeneration as long as the original turn it replaces, sent the item's messages; each judge call reads
 * the slice's context and both answers.
 */
export function estimateCost(
  items: readonly ItemToEstimate[],
  judgeModel: string,
  criteria: number,
): ConversationEstimate {
  let candidateUsd = 0;
  let judgeUsd = 0;
  const unpricedCandidate = new Set<string>();
  let judgeUnpriced = false;
  for (const it of items) {
    const answer = Math.max(1, tokens(it.original.length));
    const model = typeof it.request.model === "string" ? it.request.model : "unknown";
    const c = costUsd(model, {
      promptTokens: tokens(JSON.stringify(it.request.messages ?? []).length),
      completionTokens: answer,
      cachedTokens: 0,
    });
    if (c === null) unpricedCandidate.add(model);
    else candidateUsd += c;
    const j = costUsd(judgeModel, {
      promptTokens: tokens(it.judgeContext.length) + 2 * answer + JUDGE_INSTRUCTIONS,
      completionTokens: JUDGE_REPLY,
      cachedTokens: 0,
    });
    if (j === null) judgeUnpriced = true;
    else judgeUsd += j * criteria;
  }
  const unpriced = [...unpricedCandidate, ...(judgeUnpriced ? [judgeModel] : [])];
  return {
    items: items.length,
    candidateUsd: unpricedCandidate.size ? null : round(candidateUsd),
    judgeUsd: judgeUnpriced ? null : round(judgeUsd),
    totalUsd: unpriced.length ? null : round(candidateUsd + judgeUsd),
    knownUsd: round(candidateUsd + judgeUsd),
    unpricedModels: [...new Set(unpriced)].sort(),
  };
}

/**
 * Refuses an estimate over `maxCostUsd`. The priced part alone over the cap is refused as over budget (a model
 * without a price cannot make it cheaper); otherwise a model without a price makes the cap unenforceable.
 * @throws HttpError 400 on field `maxCostUsd`, code `over_budget` or `cost_unknown`.
 */
export function enforceCap(estimate: ConversationEstimate, maxCostUsd: number | undefined): void {
  if (maxCostUsd === undefined) return;
  if (estimate.knownUsd > maxCostUsd)
    throw new HttpError(
      400,
      `maxCostUsd: the estimate $${estimate.totalUsd ?? `${estimate.knownUsd} or more`} exceeds $${maxCostUsd}`,
      { field: "maxCostUsd", code: "over_budget" },
    );
  if (estimate.totalUsd === null)
    throw new HttpError(
      400,
      `maxCostUsd: cannot enforce, no price known for ${estimate.unpricedModels.join(", ")} ` +
        `(known part: $${estimate.knownUsd})`,
      { field: "maxCostUsd", code: "cost_unknown" },
    );
}

/**
 * The price of one call from the body it answered with, by the model that served it (else the one asked for),
 * as the proxy prices the call it logs: null when the model has no price, undefined when the answer has no
 * usage (an error answer: nothing to price).
 */
export function callCost(
  requestModel: unknown,
  body: Record<string, unknown> | null,
): number | null | undefined {
  const u = usageOf(body);
  if (u.promptTokens === null && u.completionTokens === null) return undefined;
  const model =
    typeof body?.model === "string" ? body.model : typeof requestModel === "string" ? requestModel : null;
  return costUsd(model, {
    promptTokens: u.promptTokens ?? 0,
    completionTokens: u.completionTokens ?? 0,
    cachedTokens: u.cachedTokens,
  });
}
