/**
 * One evaluation item: replay the logged request for the candidate through this server's own proxy (so the
 * call is logged and tagged with the run), run the checks and judges on the answer, and store the judges'
 * verdicts as annotations (`source: "judge"`) so they sit beside the humans'.
 */
import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { firstMessage, usageOf } from "intersebd/chat";
import { costUsd } from "../calls/index.ts";
import { type AnnotationInput, insertAnnotations } from "../graph/index.ts";
import type { CallRow } from "../store/index.ts";
import { clip } from "../util/clip.ts";
import {
  answerText,
  type CheckDef,
  type CheckOutcome,
  type CheckSubject,
  type CustomCheck,
  type JudgeDef,
  runBuiltinCheck,
} from "./checks.ts";
import {
  absolutePrompt,
  baselineFirst,
  outcomeOf,
  pairwisePrompt,
  parseAbsolute,
  parsePairwise,
  renderConversation,
} from "./judge.ts";
import { candidateRequest, type EvalDeps } from "./runs.ts";
import type { Candidate } from "./schemas.ts";

/** The proxy could not be reached (this server is stopping, or misconfigured): retry later, not the item's fault. */
export class TransientError extends Error {
  override name = "TransientError";
}
/** Retrying cannot help (the baseline call is gone, the candidate rejects the request): the item fails now. */
export class PermanentError extends Error {
  override name = "PermanentError";
}

/** A run as a worker needs it. */
export interface LoadedRun {
  id: string;
  candidate: Candidate;
  checks: CheckDef[];
  seed: number;
  concurrency: number;
}

export interface ClaimedItem {
  runId: string;
  itemIndex: number;
  baselineCallId: string;
  attempts: number;
  lease: string;
}

interface Side {
  callId: string | null;
  model: string | null;
  costUsd: number | null;
  latencyMs: number | null;
  tokens: { prompt: number | null; completion: number | null; total: number | null };
  /** The answer's text, shortened, for the report. */
  answer: string | null;
}

export type JudgeVerdict =
  | { ok: true; score: number; reward: number; reason: string }
  | { ok: false; error: string };

export type JudgeOutcome =
  | {
      name: string;
      mode: "absolute";
      model: string;
      candidate: JudgeVerdict;
      /** Null when the baseline has no answer to judge. */
      baseline: JudgeVerdict | null;
    }
  | {
      name: string;
      mode: "pairwise";
      model: string;
      /** Whether the baseline was shown as answer A (drawn from the run's seed). */
      baselineFirst: boolean;
      choice?: "a" | "b" | "tie";
      /** The candidate's result against the baseline. */
      outcome?: "win" | "tie" | "loss";
      reason?: string;
      error?: string;
    };

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

const MAX_RATE_LIMIT_WAITS = 8;
const MAX_WAIT_MS = 5 * 60_000;
const clipAnswer = (s: string | null) => (s === null ? s : clip(s, 500));

/** Milliseconds the server asks us to wait (`retry-after-ms`, `retry-after` in seconds or as a date). */
export function retryAfterMs(headers: Headers, now = Date.now()): number | undefined {
  const ms = Number(headers.get("retry-after-ms"));
  if (headers.get("retry-after-ms") && Number.isFinite(ms) && ms >= 0) return ms;
  const raw = headers.get("retry-after");
  if (!raw) return undefined;
  const s = Number(raw);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const date = Date.parse(raw);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

interface Posted {
  status: number;
  body: Record<string, unknown> | null;
  callId: string | null;
  latencyMs: number;
}

export interface CallOptions {
  signal: AbortSignal;
  /** Told of every 429 and how long we wait, so the worker can hold back the run's other items too. */
  onRateLimited(waitMs: number): void;
}

/**
 * POSTs a Chat Completions body to this server's proxy. Waits out 429s (honouring `retry-after`, else
 * exponential back-off with jitter) and retries 5xx and connection errors twice.
 */
export async function postThroughProxy(
  deps: EvalDeps,
  upstream: string | undefined,
  body: Record<string, unknown>,
  headers: Record<string, string>,
  opts: CallOptions,
): Promise<Posted> {
  const prefix = upstream && upstream !== "default" ? `/${upstream}` : "";
  const url = `${deps.baseUrl()}${prefix}/v1/chat/completions`;
  const allHeaders: Record<string, string> = { ...headers, "content-type": "application/json" };
  if (deps.config.apiKey) allHeaders["x-intersebd-key"] = deps.config.apiKey;
  const payload = JSON.stringify(body);
  let rateLimited = 0;
  let failures = 0;
  for (;;) {
    const t0 = performance.now();
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, { method: "POST", headers: allHeaders, body: payload, signal: opts.signal });
      text = await res.text();
    } catch (err) {
      if (opts.signal.aborted) throw err;
      if (failures++ < 2) {
        await sleep(250 * 2 ** failures, undefined, { signal: opts.signal, ref: false });
        continue;
      }
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new TransientError(`cannot reach this server's proxy at ${url} (${cause})`);
    }
    const latencyMs = Math.round((performance.now() - t0) * 10) / 10;
    if (res.status === 429 && rateLimited < MAX_RATE_LIMIT_WAITS) {
      const wait = Math.min(
        MAX_WAIT_MS,
        retryAfterMs(res.headers) ?? 1000 * 2 ** rateLimited * (0.5 + Math.random() / 2),
      );
      rateLimited++;
      opts.onRateLimited(wait);
      await sleep(wait, undefined, { signal: opts.signal, ref: false });
      continue;
    }
    if (res.status >= 500 && failures < 2) {
      failures++;
      await sleep(500 * 2 ** failures, undefined, { signal: opts.signal, ref: false });
      continue;
    }
    let parsed: Record<string, unknown> | null = null;
    try {
      const v = JSON.parse(text) as unknown;
      if (v && typeof v === "object" && !Array.isArray(v)) parsed = v as Record<string, unknown>;
    } catch {}
    return { status: res.status, body: parsed, callId: res.headers.get("x-intersebd-call-id"), latencyMs };
  }
}

function errorMessage(p: Posted): string {
  const e = (p.body?.error as { message?: string } | undefined)?.message;
  return `HTTP ${p.status}${e ? `: ${e}` : ""}`;
}

function priceOfCall(model: string | null, response: Record<string, unknown> | null): number | null {
  const u = usageOf(response);
  return costUsd(model, {
    promptTokens: u.promptTokens,
    completionTokens: u.completionTokens,
    cachedTokens: u.cachedTokens,
  });
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

/** A candidate call an earlier attempt of this item already made and the proxy logged: reused, not paid twice. */
async function loggedCandidate(deps: EvalDeps, item: ClaimedItem): Promise<CallRow | undefined> {
  const rows = await deps.store.db
    .selectFrom("calls")
    .innerJoin("callTags", "callTags.callId", "calls.id")
    .selectAll("calls")
    .where("callTags.tag", "=", `eval:${item.runId}`)
    .where("calls.outcome", "=", "ok")
    .where((eb) => deps.store.dialect.containsText(eb.ref("calls.metadata"), `"evalItem":${item.itemIndex}`))
    .orderBy("calls.startedAt", "desc")
    .execute();
  return rows.find((r) => {
    const m = JSON.parse(r.metadata) as { evalRun?: string; evalItem?: number; evalRole?: string };
    return (
      m.evalRun === item.runId && m.evalItem === item.itemIndex && m.evalRole === undefined && r.response
    );
  });
}

/** A judge annotation's id: the same item, check and judged call give the same id, so a retry stores it once. */
function annotationId(runId: string, index: number, check: string, callId: string): string {
  return `jdg_${createHash("sha256").update(`${runId}\n${index}\n${check}\n${callId}`).digest("hex").slice(0, 32)}`;
}

export interface ItemContext extends CallOptions {
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
  const baselineRow = await deps.store.db
    .selectFrom("calls")
    .selectAll()
    .where("id", "=", item.baselineCallId)
    .executeTakeFirst();
  if (!baselineRow) throw new PermanentError(`baseline call ${item.baselineCallId} is no longer stored`);
  if (!baselineRow.request)
    throw new PermanentError(`baseline call ${item.baselineCallId} has no stored request`);
  const baselineRequest = JSON.parse(baselineRow.request) as Record<string, unknown>;
  const baselineResponse = baselineRow.response
    ? (JSON.parse(baselineRow.response) as Record<string, unknown>)
    : null;
  const baselineAnswer = answerText(firstMessage(baselineResponse));
  const reference = await referenceOf(deps, baselineRow.id);

  const request = candidateRequest(baselineRequest, run.candidate);
  const meta = { evalRun: run.id, evalItem: item.itemIndex };
  let response: Record<string, unknown> | null;
  let candidateCallId: string | null;
  let latencyMs: number;
  let reused = false;
  const earlier = item.attempts > 1 ? await loggedCandidate(deps, item) : undefined;
  if (earlier) {
    response = JSON.parse(earlier.response as string) as Record<string, unknown>;
    candidateCallId = earlier.id;
    latencyMs = earlier.durationMs ?? 0;
    reused = true;
  } else {
    const posted = await postThroughProxy(
      deps,
      run.candidate.upstream,
      request,
      {
        ...run.candidate.headers,
        "x-intersebd-tags": `eval:${run.id}`,
        "x-intersebd-metadata": JSON.stringify(meta),
      },
      ctx,
    );
    if (posted.status === 429 || posted.status >= 500)
      throw new Error(`candidate call failed after retries: ${errorMessage(posted)}`);
    if (posted.status !== 200 || !posted.body)
      throw new PermanentError(`candidate call failed: ${errorMessage(posted)}`);
    response = posted.body;
    candidateCallId = posted.callId;
    latencyMs = posted.latencyMs;
  }
  const candidateModel =
    (response?.model as string | undefined) ?? (request.model as string | undefined) ?? null;
  const usage = usageOf(response);
  const answer = answerText(firstMessage(response));
  const subject: CheckSubject = {
    request,
    answer,
    reference: reference.text,
    baselineAnswer,
    costUsd: priceOfCall(candidateModel, response),
    latencyMs,
    tokens: { prompt: usage.promptTokens, completion: usage.completionTokens, total: usage.totalTokens },
  };

  const checks: CheckOutcome[] = [];
  const judges: JudgeOutcome[] = [];
  const annotations: AnnotationInput[] = [];
  let judgeCostUsd = 0;
  let judgeUnpriced = false;
  const conversation = renderConversation(baselineRequest.messages);

  const askJudge = async (def: JudgeDef, messages: unknown[]): Promise<string | { error: string }> => {
    const posted = await postThroughProxy(
      deps,
      def.upstream,
      { model: def.model, messages, temperature: 0 },
      {
        "x-intersebd-tags": `eval-judge:${run.id}`,
        "x-intersebd-metadata": JSON.stringify({ ...meta, evalRole: "judge", evalCheck: def.name }),
      },
      ctx,
    );
    if (posted.status === 429 || posted.status >= 500)
      throw new Error(`judge ${def.model} failed after retries: ${errorMessage(posted)}`);
    if (posted.status !== 200) return { error: `judge ${def.model} answered ${errorMessage(posted)}` };
    const price = priceOfCall((posted.body?.model as string) ?? def.model, posted.body);
    if (price === null) judgeUnpriced = true;
    else judgeCostUsd += price;
    return answerText(firstMessage(posted.body)) ?? "";
  };

  for (const def of run.checks) {
    if (def.type === "custom") {
      const fn = ctx.custom.get(def.name);
      if (!fn) throw new PermanentError(`custom check "${def.name}" is not available in this process`);
      try {
        const r = await fn.run({
          request,
          response: response ?? {},
          reference: reference.raw ?? firstMessage(baselineResponse) ?? undefined,
          baseline: { request: baselineRequest, response: baselineResponse },
        });
        checks.push({
          name: def.name,
          type: "custom",
          pass: Boolean(r.pass),
          ...(typeof r.score === "number" ? { score: r.score } : {}),
          ...(r.reason ? { reason: String(r.reason) } : {}),
        });
      } catch (err) {
        checks.push({
          name: def.name,
          type: "custom",
          pass: null,
          error: `threw: ${(err as Error).message}`,
        });
      }
      continue;
    }
    if (def.type !== "judge") {
      checks.push(runBuiltinCheck(def, subject));
      continue;
    }
    if (def.mode === "absolute") {
      const judgeOne = async (text: string | null): Promise<JudgeVerdict> => {
        if (text === null) return { ok: false, error: "no answer to judge" };
        const reply = await askJudge(def, absolutePrompt(def, conversation, text));
        return typeof reply === "string"
          ? parseAbsolute(reply, def.scale)
          : { ok: false, error: reply.error };
      };
      const cand = await judgeOne(answer);
      const base = baselineAnswer === null ? null : await judgeOne(baselineAnswer);
      judges.push({ name: def.name, mode: "absolute", model: def.model, candidate: cand, baseline: base });
      checks.push(
        cand.ok
          ? {
              name: def.name,
              type: "judge",
              pass: cand.reward >= 0.5,
              score: cand.score,
              reason: cand.reason,
            }
          : { name: def.name, type: "judge", pass: null, error: cand.error },
      );
      for (const [role, v, callId] of [
        ["candidate", cand, candidateCallId],
        ["baseline", base, baselineRow.id],
      ] as const) {
        if (!v?.ok || !callId) continue;
        annotations.push({
          id: annotationId(run.id, item.itemIndex, def.name, callId),
          annotationKey: callId,
          name: def.name,
          numericReward: v.reward,
          content: {
            verdict: "score",
            score: v.score,
            scale: def.scale,
            role,
            evalRun: run.id,
            evalItem: item.itemIndex,
          },
          comment: v.reason || null,
          source: "judge",
          annotatorId: def.model,
        });
      }
      continue;
    }
    const first = baselineFirst(run.seed, item.itemIndex);
    if (answer === null || baselineAnswer === null) {
      judges.push({
        name: def.name,
        mode: "pairwise",
        model: def.model,
        baselineFirst: first,
        error: answer === null ? "the candidate has no answer" : "the baseline has no answer",
      });
      continue;
    }
    const [a, b] = first ? [baselineAnswer, answer] : [answer, baselineAnswer];
    const reply = await askJudge(def, pairwisePrompt(def, conversation, a, b));
    const parsed =
      typeof reply === "string" ? parsePairwise(reply) : { ok: false as const, error: reply.error };
    if (!parsed.ok) {
      judges.push({
        name: def.name,
        mode: "pairwise",
        model: def.model,
        baselineFirst: first,
        error: parsed.error,
      });
      continue;
    }
    const outcome = outcomeOf(parsed.choice, first);
    judges.push({
      name: def.name,
      mode: "pairwise",
      model: def.model,
      baselineFirst: first,
      choice: parsed.choice,
      outcome,
      reason: parsed.reason,
    });
    if (candidateCallId)
      annotations.push({
        id: annotationId(run.id, item.itemIndex, def.name, candidateCallId),
        annotationKey: candidateCallId,
        name: def.name,
        numericReward: outcome === "win" ? 1 : outcome === "tie" ? 0.5 : 0,
        content: {
          verdict: outcome,
          choice: parsed.choice,
          baselineFirst: first,
          against: baselineRow.id,
          evalRun: run.id,
          evalItem: item.itemIndex,
        },
        comment: parsed.reason || null,
        source: "judge",
        annotatorId: def.model,
      });
  }
  if (annotations.length) await insertAnnotations(deps.store, annotations, deps.config.linkDepth);

  const baselineUsage = {
    prompt: baselineRow.promptTokens,
    completion: baselineRow.completionTokens,
    total: baselineRow.totalTokens,
  };
  const candidateCost = subject.costUsd;
  return {
    candidateCallId,
    costUsd: candidateCost === null && judgeCostUsd === 0 ? null : (candidateCost ?? 0) + judgeCostUsd,
    results: {
      baseline: {
        callId: baselineRow.id,
        model: baselineRow.servedModel ?? baselineRow.requestedModel,
        costUsd: baselineRow.costUsd,
        latencyMs: baselineRow.durationMs,
        tokens: baselineUsage,
        answer: clipAnswer(baselineAnswer),
      },
      candidate: {
        callId: candidateCallId,
        model: candidateModel,
        costUsd: candidateCost,
        latencyMs,
        tokens: subject.tokens,
        answer: clipAnswer(answer),
        ...(reused ? { reused } : {}),
      },
      checks,
      judges,
      judgeCostUsd: judgeUnpriced ? null : Math.round(judgeCostUsd * 1e10) / 1e10,
    },
  };
}
