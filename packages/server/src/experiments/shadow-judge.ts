/**
 * Judging a shadow pair while the experiment runs: the control's answer (what the client got) against the
 * candidate's (what the shadow call got), with the experiment's judge and checks. It reuses the evaluations'
 * machinery (prompts, reply parsing, seeded order, built-in checks, the proxy client) so a shadow pair is judged
 * exactly as an evaluation item is, and stores what it finds where the report reads it:
 * - a pairwise judge: a `comparisons` row, a = the control call, b = the shadow call, source `judge`,
 *   annotatorId the judge's name;
 * - an absolute judge: an annotation on each call, as evaluations store it (name the judge's, source `judge`);
 * - checks: an annotation `check:<name>` on each call, numericReward 1 (pass) or 0 (fail), source `code`; a
 *   check that does not apply (n/a) stores nothing.
 * Ids are derived from (experiment, calls, judge or check), so a pair judged twice is stored once.
 */
import { createHash } from "node:crypto";
import { firstMessage, usageOf } from "intersebd/chat";
import { costUsd } from "../calls/index.ts";
import type { AppContext } from "../context.ts";
import {
  answerText,
  type CheckDef,
  type CheckOutcome,
  type CheckSubject,
  type JudgeDef,
  normalizeChecks,
} from "../evals/checks.ts";
import { type FloorRunner, floorAnnotation, floorRunner, floorThroughProxy } from "../evals/floor.ts";
import { type AskJudge, baselineFirst, renderConversation, runJudge } from "../evals/judge.ts";
import { errorMessage, postThroughProxy, stillFailing } from "../evals/proxy-client.ts";
import { type ItemSubject, runChecks } from "../evals/run-checks.ts";
import { type AnnotationInput, insertAnnotations, insertComparisons } from "../graph/index.ts";
import type { Experiment, Variant } from "./schemas.ts";

/** One side of a pair: the call, the request it was sent and what it answered. */
export interface PairSide {
  callId: string;
  request: Record<string, unknown>;
  response: Record<string, unknown>;
  latencyMs: number;
}

export interface ShadowPair {
  experiment: Experiment;
  variant: Variant;
  control: PairSide;
  shadow: PairSide;
}

export interface JudgeOptions {
  /** Whether the judge runs on this pair (its sample drew it); checks run on every pair. */
  judge: boolean;
  signal: AbortSignal;
  /**
   * The client's Authorization, for judge calls to the upstream the client's own call went to (never another:
   * the proxy would send it there instead of that upstream's configured key).
   */
  authorization?: { upstream: string; value: string };
}

export type JudgeDeps = Pick<AppContext, "store" | "config" | "baseUrl" | "log">;

/** What an experiment declares, parsed once; a bad declaration is logged once and left out. */
interface Declared {
  judge?: JudgeDef;
  checks: CheckDef[];
}
const declaredCache = new Map<string, Declared>();

/**
 * The judge and checks of the experiment's shadow settings as evaluations' definitions. Custom checks are
 * functions given in code to an evaluation: a live experiment has none, so they are refused here like any
 * invalid declaration.
 */
export function declaredOf(experiment: Experiment, log: JudgeDeps["log"]): Declared {
  // Keyed by what is declared, not by name and version: a name can be reused on another store in one process.
  const key = JSON.stringify([experiment.name, experiment.shadow?.judge, experiment.shadow?.checks]);
  const cached = declaredCache.get(key);
  if (cached) return cached;
  const out: Declared = { checks: [] };
  const shadow = experiment.shadow;
  if (shadow?.judge) {
    const { sample: _sample, ...judge } = shadow.judge;
    try {
      out.judge = normalizeChecks([{ type: "judge", ...judge }], { field: "shadow.judge" })[0] as JudgeDef;
    } catch (err) {
      log.warn(`experiment ${experiment.name}: shadow judge left out: ${(err as Error).message}`);
    }
  }
  if (shadow?.checks?.length) {
    try {
      out.checks = normalizeChecks(shadow.checks, { field: "shadow.checks" });
    } catch (err) {
      log.warn(`experiment ${experiment.name}: shadow checks left out: ${(err as Error).message}`);
    }
  }
  if (declaredCache.size >= 500) declaredCache.delete(declaredCache.keys().next().value as string);
  declaredCache.set(key, out);
  return out;
}

const digest = (...parts: string[]) =>
  createHash("sha256").update(parts.join("\n")).digest("hex").slice(0, 32);

/** Judges and checks one pair and stores the verdicts. Never throws for a bad judge reply; store errors do throw. */
export async function judgePair(deps: JudgeDeps, pair: ShadowPair, opts: JudgeOptions): Promise<void> {
  const declared = declaredOf(pair.experiment, deps.log);
  const { experiment, variant, control, shadow } = pair;
  const ask = askThroughProxy(deps, pair, opts);
  const annotations: AnnotationInput[] = [];
  const conversation = renderConversation(control.request.messages);
  const controlAnswer = answerText(firstMessage(control.response));
  const shadowAnswer = answerText(firstMessage(shadow.response));
  const tag = { experiment: experiment.name, variant: variant.name };

  if (declared.checks.length) {
    // Floor checks (moderation, a floor judge) through the proxy, tagged like this experiment's judge calls so
    // they are never taken for the experiment's own calls nor evaluated live.
    // Headers per check: the client's Authorization goes along only to the upstream its own call went to.
    const floor: FloorRunner = (def, subject) =>
      floorRunner(
        floorThroughProxy(deps, judgeHeaders(pair, def.name, opts, def.upstream), {
          signal: opts.signal,
          onRateLimited: () => {},
        }),
      )(def, subject);
    for (const [role, side, answer, other] of [
      ["control", control, controlAnswer, null],
      ["shadow", shadow, shadowAnswer, controlAnswer],
    ] as const) {
      const subject = checkSubject(side, answer, other);
      // An absolute judge among the checks scores this side alone; a pairwise one has no pair here (that is
      // `shadow.judge`) and so gives no verdict.
      const judged = { conversation, answer, baselineAnswer: null, baselineFirst: true };
      const result = await runChecks(
        declared.checks,
        subject,
        (def) => runJudge(def, judged, ask),
        new Map(),
        floor,
      );
      for (const c of result.checks) {
        if (c.pass === null) continue;
        annotations.push(
          checkAnnotation(experiment, side.callId, c, { ...tag, role, shadowOf: control.callId }),
        );
        // Also the `floor` annotation (i17's contract), so the floor view lists shadow answers' flags too.
        const fl = floorAnnotation(side.callId, c, {
          scope: `experiment:${experiment.name}`,
          annotatorId: `experiment:${experiment.name}`,
        });
        if (fl) annotations.push(fl);
      }
    }
  }

  const judge = declared.judge;
  if (judge && opts.judge) {
    // The seeded coin of evaluations, drawn from the pair: the same pair is shown in the same order by any
    // instance, and the order is a fair coin over pairs, so a judge's position bias cancels out.
    const seed = Number.parseInt(digest(experiment.salt, variant.name).slice(0, 8), 16);
    const index = Number.parseInt(digest(control.callId).slice(0, 8), 16);
    const r = await runJudge(
      judge,
      {
        conversation,
        answer: shadowAnswer,
        baselineAnswer: controlAnswer,
        baselineFirst: baselineFirst(seed, index),
      },
      ask,
    );
    const j = r.judge;
    if (j.mode === "pairwise" && j.outcome) {
      await insertComparisons(deps.store, [
        {
          id: `cmp_${digest(experiment.name, control.callId, shadow.callId, j.name)}`,
          a: control.callId,
          b: shadow.callId,
          // Stored with a = control, b = candidate, whichever order the judge saw them in.
          choice: j.outcome === "win" ? "b" : j.outcome === "loss" ? "a" : "tie",
          reason: j.reason || null,
          annotatorId: j.name,
          source: "judge",
        },
      ]);
    } else if (j.mode === "absolute") {
      const scale = judge.mode === "absolute" ? judge.scale : undefined;
      for (const [role, v, callId] of [
        ["shadow", j.candidate, shadow.callId],
        ["control", j.baseline, control.callId],
      ] as const) {
        if (!v?.ok) continue;
        annotations.push({
          id: `jdg_${digest(experiment.name, callId, j.name)}`,
          annotationKey: callId,
          name: j.name,
          source: "judge",
          annotatorId: j.model,
          numericReward: v.reward,
          content: { verdict: "score", score: v.score, scale, role, ...tag, shadowOf: control.callId },
          comment: v.reason || null,
        });
      }
    } else if (j.error)
      deps.log.debug(`experiment ${experiment.name}: shadow judge gave no verdict: ${j.error}`);
  }
  if (annotations.length) await insertAnnotations(deps.store, annotations, deps.config.linkDepth);
}

function checkAnnotation(
  experiment: Experiment,
  callId: string,
  c: CheckOutcome,
  content: Record<string, unknown>,
): AnnotationInput {
  return {
    id: `chk_${digest(experiment.name, callId, c.name)}`,
    annotationKey: callId,
    name: `check:${c.name}`,
    numericReward: c.pass ? 1 : 0,
    // i17's contract: `judge` when an LLM gave the verdict (an absolute judge among the checks, a floor judge).
    source: c.type === "judge" || c.type === "floor" ? "judge" : "code",
    annotatorId: `experiment:${experiment.name}`,
    content: {
      check: c.name,
      type: c.type,
      pass: c.pass,
      ...(c.score === undefined ? {} : { score: c.score }),
      ...content,
    },
    comment: c.reason ?? c.error ?? null,
  };
}

/** What built-in checks look at on one side; `equals:baseline` compares the candidate with the control's answer. */
function checkSubject(side: PairSide, answer: string | null, baselineAnswer: string | null): ItemSubject {
  const usage = usageOf(side.response);
  const model =
    (side.response.model as string | undefined) ?? (side.request.model as string | undefined) ?? null;
  const subject: CheckSubject = {
    request: side.request,
    answer,
    reference: null,
    baselineAnswer,
    costUsd: costUsd(model, {
      promptTokens: usage.promptTokens,
      completionTokens: usage.completionTokens,
      cachedTokens: usage.cachedTokens,
    }),
    latencyMs: side.latencyMs,
    tokens: { prompt: usage.promptTokens, completion: usage.completionTokens, total: usage.totalTokens },
  };
  return {
    ...subject,
    custom: {
      request: side.request,
      response: side.response,
      baseline: { request: side.request, response: null },
    },
  };
}

/**
 * Judge calls through this server's proxy, tagged `exp-judge:<experiment>` like evaluations' judge calls. They
 * carry no `x-intersebd-experiment` header: they are not calls of the experiment and never count as its shadow
 * calls. A judge that keeps failing gives no verdict; nothing is thrown to the runner.
 */
function askThroughProxy(deps: JudgeDeps, pair: ShadowPair, opts: JudgeOptions): AskJudge {
  return async (def, messages) => {
    const headers = judgeHeaders(pair, def.name, opts, def.upstream);
    try {
      const posted = await postThroughProxy(
        deps,
        def.upstream,
        { model: def.model, messages, temperature: 0 },
        headers,
        {
          signal: opts.signal,
          onRateLimited: () => {},
        },
      );
      if (stillFailing(posted) || posted.status !== 200)
        return { error: `judge ${def.model} answered ${errorMessage(posted)}` };
      return answerText(firstMessage(posted.body)) ?? "";
    } catch (err) {
      return { error: `judge ${def.model} could not be reached: ${(err as Error).message}` };
    }
  };
}

/**
 * The headers of a judge's or floor check's call for a pair (to `upstream`, the default one when undefined):
 * the client's Authorization goes along only when that is the upstream its own call went to.
 */
function judgeHeaders(
  pair: ShadowPair,
  check: string,
  opts: JudgeOptions,
  upstream: string | undefined,
): Record<string, string> {
  const headers: Record<string, string> = {
    "x-intersebd-tags": `exp-judge:${pair.experiment.name}`,
    "x-intersebd-metadata": headerJson({
      experiment: pair.experiment.name,
      experimentRole: "judge",
      variant: pair.variant.name,
      shadowOf: pair.control.callId,
      judgeCheck: check,
    }),
  };
  if (opts.authorization && opts.authorization.upstream === (upstream ?? "default"))
    headers.authorization = opts.authorization.value;
  return headers;
}

/**
 * JSON for a header value: characters past U+007E as `\uXXXX` escapes. A header carries bytes, and fetch refuses
 * a value with a character past U+00FF (a prompt version or metadata in Japanese), which failed every shadow or
 * judge call of such a request; the proxy's JSON.parse reads the escapes back as the same text.
 */
export function headerJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
