/**
 * One evaluation item: replay the logged request for the candidate through this server's own proxy (so the
 * call is logged and tagged with the run), run the checks and judges on the answer, and store the judges'
 * verdicts as annotations (`source: "judge"`) so they sit beside the humans'.
 *
 * `processItem` is the sequence; its parts are tested alone: the proxy client (`proxy-client.ts`), the checks
 * (`run-checks.ts`, `checks.ts`) and the judges (`judge.ts`).
 */

import { createHash } from "node:crypto";
import { firstMessage, usageOf } from "intersebd/chat";
import { callById, costUsd, okResponseOf } from "../calls/index.ts";
import { type AnnotationInput, insertAnnotations } from "../graph/index.ts";
import type { CallRow } from "../store/index.ts";
import { readJsonObject } from "../store/json.ts";
import type { Claimed } from "../store/leases.ts";
import { clip } from "../util/clip.ts";
import { answerText, type CheckDef, type CheckOutcome, type CustomCheck, type JudgeDef } from "./checks.ts";
import { PermanentError } from "./errors.ts";
import { floorAnnotation, floorRunner, floorThroughProxy } from "./floor.ts";
import {
  type AskJudge,
  baselineFirst,
  type JudgeOutcome,
  type JudgeSubject,
  renderConversation,
  runJudge,
} from "./judge.ts";
import { type CallOptions, errorMessage, postThroughProxy, stillFailing } from "./proxy-client.ts";
import { type ItemSubject, runChecks } from "./run-checks.ts";
import { candidateRequest, type EvalDeps } from "./runs.ts";
import type { Candidate } from "./schemas.ts";

/** A run as a worker needs it. */
export interface LoadedRun {
  id: string;
  candidate: Candidate;
  checks: CheckDef[];
  seed: number;
  concurrency: number;
}

/**
 * An item as the worker claimed it (store/leases.ts): its key, lease and attempt, its baseline, and the candidate
 * call an earlier attempt made (`eval_items.attempt_call_id`).
 */
export type ClaimedItem = Claimed<"evalItems", "runId" | "itemIndex" | "baselineCallId" | "attemptCallId">;

interface Side {
  callId: string | null;
  model: string | null;
  costUsd: number | null;
  latencyMs: number | null;
  tokens: { prompt: number | null; completion: number | null; total: number | null };
  /** The answer's text, shortened, for the report. */
  answer: string | null;
}

/** What an item stores as its `results`. */
export interface ItemResults {
  baseline: Side;
  candidate: Side & { reused?: boolean };
  /** Every check's verdict, absolute judges included (pass when the reward is 0.5 or more). */
  checks: CheckOutcome[];
  judges: JudgeOutcome[];
  /** What the judges cost; null when a judge model's price is unknown (never a guess). */
  judgeCostUsd: number | null;
}

export interface ItemOutcome {
  candidateCallId: string | null;
  results: ItemResults;
  costUsd: number | null;
}

export interface ItemContext extends CallOptions {
  /** The functions of the run's custom checks, when this process was given them. */
  custom: ReadonlyMap<string, CustomCheck>;
}

/**
 * Processes one item to its results. Throws `PermanentError` when retrying cannot help, `TransientError` when
 * this server's proxy is unreachable, anything else for a failure worth another attempt.
 */
export async function processItem(
  deps: EvalDeps,
  run: LoadedRun,
  item: ClaimedItem,
  ctx: ItemContext,
): Promise<ItemOutcome> {
  const baseline = await loadBaseline(deps, item.baselineCallId);
  const request = candidateRequest(baseline.request, run.candidate);
  const candidate = (await earlierAnswer(deps, item)) ?? (await askCandidate(deps, run, item, request, ctx));
  const subject = itemSubject(request, candidate, baseline);
  const judges = judgeCalls(deps, run, item, ctx);
  const judged: JudgeSubject = {
    conversation: renderConversation(baseline.request.messages),
    answer: subject.answer,
    baselineAnswer: subject.baselineAnswer,
    baselineFirst: baselineFirst(run.seed, item.itemIndex),
  };
  const verdicts = await runChecks(
    run.checks,
    subject,
    (def) => runJudge(def, judged, judges.ask),
    ctx.custom,
    floorRunner(floorThroughProxy(deps, judgeHeaders(run, item, "floor"), ctx)),
  );
  const annotations = judgeAnnotations(run, item, verdicts.judges, {
    candidate: candidate.callId,
    baseline: baseline.row.id,
  });
  // Floor verdicts on the candidate's call, where the floor view lists them beside live traffic's.
  for (const c of verdicts.checks) {
    const a =
      candidate.callId &&
      floorAnnotation(candidate.callId, c, {
        scope: `${run.id}:${item.itemIndex}`,
        annotatorId: `eval:${run.id}`,
      });
    if (a) annotations.push(a);
  }
  if (annotations.length) await insertAnnotations(deps.store, annotations, deps.config.linkDepth);
  return outcomeOf(baseline, candidate, subject, verdicts, judges.cost());
}

/** The logged call an item replays, with what its checks compare against. */
interface Baseline {
  row: CallRow;
  request: Record<string, unknown>;
  response: Record<string, unknown> | null;
  answer: string | null;
  /** The correction annotated on it: its text for equals/contains, as given for custom checks. */
  reference: { text: string | null; raw: unknown };
}

async function loadBaseline(deps: EvalDeps, callId: string): Promise<Baseline> {
  const row = await callById(deps.store, callId);
  if (!row) throw new PermanentError(`baseline call ${callId} is no longer stored`);
  const request = readJsonObject(row.request);
  if (!request) throw new PermanentError(`baseline call ${callId} has no stored request`);
  const response = readJsonObject(row.response);
  return {
    row,
    request,
    response,
    answer: answerText(firstMessage(response)),
    reference: await referenceOf(deps, row.id),
  };
}

/** The correction a human (else anyone) gave for the call, as text: the reference of equals/contains. */
async function referenceOf(deps: EvalDeps, callId: string): Promise<{ text: string | null; raw: unknown }> {
  const rows = await deps.store.db
    .selectFrom("callAnnotations")
    .innerJoin("annotations", "annotations.id", "callAnnotations.annotationId")
    .select(["annotations.correction", "annotations.source", "annotations.createdAt"])
    .where("callAnnotations.callId", "=", callId)
    .where("annotations.correction", "is not", null)
    .execute();
  if (rows.length === 0) return { text: null, raw: undefined };
  const rank = (s: string) => (s === "human" || s === "user" ? 0 : 1);
  rows.sort((a, b) => rank(a.source) - rank(b.source) || b.createdAt - a.createdAt);
  const raw = JSON.parse(rows[0]?.correction as string) as unknown;
  return { text: answerText(raw), raw };
}

/** The candidate's answer to the replayed request. */
interface CandidateAnswer {
  response: Record<string, unknown>;
  callId: string | null;
  latencyMs: number;
  /** Taken from a call an earlier attempt made, not asked again. */
  reused: boolean;
}

/**
 * The candidate call an earlier attempt of this item already made, when the proxy logged it ok: reused, not
 * paid twice. Read by its id, which the attempt wrote on the item (`rememberAttempt`).
 */
async function earlierAnswer(deps: EvalDeps, item: ClaimedItem): Promise<CandidateAnswer | undefined> {
  if (item.attempts <= 1 || !item.attemptCallId) return undefined;
  const earlier = await okResponseOf(deps.store, item.attemptCallId);
  if (!earlier) return undefined;
  return {
    response: earlier.response,
    callId: earlier.id,
    latencyMs: earlier.durationMs ?? 0,
    reused: true,
  };
}

/** Replays the request for the candidate, tagged with the run so the call can be found from it. */
async function askCandidate(
  deps: EvalDeps,
  run: LoadedRun,
  item: ClaimedItem,
  request: Record<string, unknown>,
  ctx: CallOptions,
): Promise<CandidateAnswer> {
  const posted = await postThroughProxy(
    deps,
    run.candidate.upstream,
    request,
    {
      ...run.candidate.headers,
      "x-intersebd-tags": `eval:${run.id}`,
      "x-intersebd-metadata": JSON.stringify({ evalRun: run.id, evalItem: item.itemIndex }),
    },
    ctx,
  );
  if (stillFailing(posted)) throw new Error(`candidate call failed after retries: ${errorMessage(posted)}`);
  if (posted.status !== 200 || !posted.body)
    throw new PermanentError(`candidate call failed: ${errorMessage(posted)}`);
  if (posted.callId) await rememberAttempt(deps, item, posted.callId);
  return { response: posted.body, callId: posted.callId, latencyMs: posted.latencyMs, reused: false };
}

/** Writes the attempt's candidate call on the item, while this attempt holds its lease, for a later attempt. */
async function rememberAttempt(deps: EvalDeps, item: ClaimedItem, callId: string): Promise<void> {
  await deps.store.db
    .updateTable("evalItems")
    .set({ attemptCallId: callId })
    .where("runId", "=", item.runId)
    .where("itemIndex", "=", item.itemIndex)
    .where("lease", "=", item.lease)
    .execute();
}

function priceOfCall(model: string | null, response: Record<string, unknown> | null): number | null {
  const u = usageOf(response);
  return costUsd(model, {
    promptTokens: u.promptTokens,
    completionTokens: u.completionTokens,
    cachedTokens: u.cachedTokens,
  });
}

const modelOf = (response: Record<string, unknown>, request: Record<string, unknown>): string | null =>
  (response.model as string | undefined) ?? (request.model as string | undefined) ?? null;

/** What the item's checks look at. */
function itemSubject(
  request: Record<string, unknown>,
  candidate: CandidateAnswer,
  baseline: Baseline,
): ItemSubject {
  const usage = usageOf(candidate.response);
  return {
    request,
    answer: answerText(firstMessage(candidate.response)),
    reference: baseline.reference.text,
    baselineAnswer: baseline.answer,
    costUsd: priceOfCall(modelOf(candidate.response, request), candidate.response),
    latencyMs: candidate.latencyMs,
    tokens: { prompt: usage.promptTokens, completion: usage.completionTokens, total: usage.totalTokens },
    custom: {
      request,
      response: candidate.response,
      reference: baseline.reference.raw ?? firstMessage(baseline.response) ?? undefined,
      baseline: { request: baseline.request, response: baseline.response },
    },
  };
}

/** What an item's judge calls cost: the priced part, and whether every call could be priced. */
interface JudgeCost {
  pricedUsd: number;
  complete: boolean;
}

/** The item's judge calls through the proxy, tagged with the run and the check, and what they cost. */
function judgeCalls(
  deps: EvalDeps,
  run: LoadedRun,
  item: ClaimedItem,
  ctx: CallOptions,
): { ask: AskJudge; cost(): JudgeCost } {
  const cost: JudgeCost = { pricedUsd: 0, complete: true };
  const ask: AskJudge = async (def: JudgeDef, messages) => {
    const posted = await postThroughProxy(
      deps,
      def.upstream,
      { model: def.model, messages, temperature: 0 },
      {
        "x-intersebd-tags": `eval-judge:${run.id}`,
        "x-intersebd-metadata": JSON.stringify({
          evalRun: run.id,
          evalItem: item.itemIndex,
          evalRole: "judge",
          evalCheck: def.name,
        }),
      },
      ctx,
    );
    if (stillFailing(posted))
      throw new Error(`judge ${def.model} failed after retries: ${errorMessage(posted)}`);
    if (posted.status !== 200) return { error: `judge ${def.model} answered ${errorMessage(posted)}` };
    const price = priceOfCall((posted.body?.model as string) ?? def.model, posted.body);
    if (price === null) cost.complete = false;
    else cost.pricedUsd += price;
    return answerText(firstMessage(posted.body)) ?? "";
  };
  return { ask, cost: () => ({ ...cost }) };
}

/** The tags and metadata of a check's calls through the proxy (judges', floor checks'). */
function judgeHeaders(run: LoadedRun, item: ClaimedItem, check: string): Record<string, string> {
  return {
    "x-intersebd-tags": `eval-judge:${run.id}`,
    "x-intersebd-metadata": JSON.stringify({
      evalRun: run.id,
      evalItem: item.itemIndex,
      evalRole: "judge",
      evalCheck: check,
    }),
  };
}

/** A judge annotation's id: the same item, check and judged call give the same id, so a retry stores it once. */
function annotationId(runId: string, index: number, check: string, callId: string): string {
  return `jdg_${createHash("sha256").update(`${runId}\n${index}\n${check}\n${callId}`).digest("hex").slice(0, 32)}`;
}

/**
 * The judges' verdicts as annotations on the calls they judged: an absolute judge's score on the candidate's
 * call and on the baseline's, a pairwise judge's win, tie or loss on the candidate's.
 */
function judgeAnnotations(
  run: LoadedRun,
  item: ClaimedItem,
  judges: ReadonlyArray<JudgeOutcome>,
  calls: { candidate: string | null; baseline: string },
): AnnotationInput[] {
  const out: AnnotationInput[] = [];
  const tag = { evalRun: run.id, evalItem: item.itemIndex };
  const annotation = (j: JudgeOutcome, callId: string) => ({
    id: annotationId(run.id, item.itemIndex, j.name, callId),
    annotationKey: callId,
    name: j.name,
    source: "judge" as const,
    annotatorId: j.model,
  });
  for (const j of judges) {
    if (j.mode === "absolute") {
      const def = run.checks.find((c) => c.type === "judge" && c.name === j.name);
      const scale = def?.type === "judge" && def.mode === "absolute" ? def.scale : undefined;
      for (const [role, v, callId] of [
        ["candidate", j.candidate, calls.candidate],
        ["baseline", j.baseline, calls.baseline],
      ] as const) {
        if (!v?.ok || !callId) continue;
        out.push({
          ...annotation(j, callId),
          numericReward: v.reward,
          content: { verdict: "score", score: v.score, scale, role, ...tag },
          comment: v.reason || null,
        });
      }
    } else if (j.outcome && j.choice && calls.candidate) {
      out.push({
        ...annotation(j, calls.candidate),
        numericReward: j.outcome === "win" ? 1 : j.outcome === "tie" ? 0.5 : 0,
        content: {
          verdict: j.outcome,
          choice: j.choice,
          baselineFirst: j.baselineFirst,
          against: calls.baseline,
          ...tag,
        },
        comment: j.reason || null,
      });
    }
  }
  return out;
}

const clipAnswer = (s: string | null) => (s === null ? s : clip(s, 500));

/** The item's results and cost, as the worker records them. */
function outcomeOf(
  baseline: Baseline,
  candidate: CandidateAnswer,
  subject: ItemSubject,
  verdicts: { checks: CheckOutcome[]; judges: JudgeOutcome[] },
  judgeCost: JudgeCost,
): ItemOutcome {
  const { row } = baseline;
  const candidateCost = subject.costUsd;
  const judgeUsd = judgeCost.pricedUsd;
  return {
    candidateCallId: candidate.callId,
    // Unknown only when nothing could be priced: a priced judge is counted even when the candidate is not.
    costUsd: candidateCost === null && judgeUsd === 0 ? null : (candidateCost ?? 0) + judgeUsd,
    results: {
      baseline: {
        callId: row.id,
        model: row.servedModel ?? row.requestedModel,
        costUsd: row.costUsd,
        latencyMs: row.durationMs,
        tokens: { prompt: row.promptTokens, completion: row.completionTokens, total: row.totalTokens },
        answer: clipAnswer(baseline.answer),
      },
      candidate: {
        callId: candidate.callId,
        model: modelOf(candidate.response, subject.request),
        costUsd: candidateCost,
        latencyMs: candidate.latencyMs,
        tokens: subject.tokens,
        answer: clipAnswer(subject.answer),
        ...(candidate.reused ? { reused: true } : {}),
      },
      checks: verdicts.checks,
      judges: verdicts.judges,
      judgeCostUsd: judgeCost.complete ? Math.round(judgeUsd * 1e10) / 1e10 : null,
    },
  };
}
