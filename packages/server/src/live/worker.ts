/**
 * The live evaluators' worker: claims jobs from the store and runs each one's checks and judge on its call, with
 * each rule's concurrency (per instance) and daily cost cap. One runs in every server process; any number share
 * the jobs, which are leased as evaluation items are (store/leases.ts): only the lease holder finishes a job, and
 * a worker that dies leaves its leases to expire, and the jobs are claimed again.
 *
 * - Judge and floor-judge calls go through this server's proxy (logged, priced, tagged `live-judge:<id>`); what they
 *   cost is added to the job, and the day's sum stops the rule's jobs once it reaches `dailyCostUsd` (jobs in
 *   flight finish: the cap is exceeded by at most what they spend).
 * - A judge the proxy cannot reach, or that keeps answering 429 or 5xx, is retried with back-off up to
 *   `maxAttempts` claims; then the job fails. Results are stored with ids derived from (evaluator, call, check),
 *   so a job run twice (a lease lost mid-run) stores each result once.
 */
import { createHash } from "node:crypto";
import { firstMessage, usageOf } from "intersebd/chat";
import type { ExpressionBuilder } from "kysely";
import { callById, costUsd } from "../calls/index.ts";
import type { AppContext } from "../context.ts";
import { answerText, type CheckDef, type CheckSubject } from "../evals/checks.ts";
import { TransientError } from "../evals/errors.ts";
import { floorAnnotation, floorRunner, floorThroughProxy } from "../evals/floor.ts";
import { type AskJudge, renderConversation, runJudge } from "../evals/judge.ts";
import { errorMessage, postThroughProxy, stillFailing } from "../evals/proxy-client.ts";
import { type ItemSubject, runChecks } from "../evals/run-checks.ts";
import { type AnnotationInput, insertAnnotations } from "../graph/index.ts";
import { type CallRow, type Database, storeUnavailableReason } from "../store/index.ts";
import { readJsonObject } from "../store/json.ts";
import { type Claimed, LeasedWorker, type LeasedWorkerOptions, LeaseQueue } from "../store/leases.ts";
import { costsToday, defsOf, listEvaluators } from "./book.ts";
import type { Evaluator } from "./schemas.ts";

export type LiveDeps = Pick<AppContext, "store" | "config" | "baseUrl" | "log">;

export interface LiveWorkerOptions extends LeasedWorkerOptions {
  /** Claims per job before it fails (default 3). */
  maxAttempts?: number;
  /** The first retry waits this long, each next one twice as long (default 1 s). */
  retryBaseMs?: number;
}

const jobsQueue = (deps: LiveDeps) =>
  new LeaseQueue(deps.store, {
    table: "liveJobs",
    waiting: "queued",
    key: ["evaluatorId", "callId"],
    orderBy: ["enqueuedAt"],
  });
type Job = Claimed<"liveJobs", "evaluatorId" | "callId">;
type Spent = { usd: number; priced: boolean };

const digest = (...parts: string[]) =>
  createHash("sha256").update(parts.join("\n")).digest("hex").slice(0, 32);

/** A header value is Latin-1 at most (fetch refuses more): JSON with everything else escaped. */
const asciiJson = (v: unknown) =>
  JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

export class LiveWorker extends LeasedWorker {
  readonly #deps: LiveDeps;
  readonly #jobs: ReturnType<typeof jobsQueue>;
  readonly #maxAttempts: number;
  readonly #retryBaseMs: number;
  /** A rule's checks parsed once per version (its updatedAt). */
  readonly #defs = new Map<string, { at: number; defs: CheckDef[] }>();

  constructor(deps: LiveDeps, opts: LiveWorkerOptions = {}) {
    super("live evaluators worker", "lwk", deps.log, opts);
    this.#deps = deps;
    this.#jobs = jobsQueue(deps);
    this.#maxAttempts = opts.maxAttempts ?? 3;
    this.#retryBaseMs = opts.retryBaseMs ?? 1000;
  }

  protected heartbeat(leases: string[]): Promise<void> {
    return this.#jobs.extend(leases, this.leaseMs);
  }

  #defsOf(e: Evaluator): CheckDef[] | undefined {
    const cached = this.#defs.get(e.id);
    if (cached && cached.at === e.updatedAt) return cached.defs;
    try {
      const defs = defsOf(e);
      this.#defs.set(e.id, { at: e.updatedAt, defs });
      return defs;
    } catch (err) {
      // Validated when created or changed; a rule stored by a newer version may still not parse here.
      this.#deps.log.warn(`live evaluator ${e.name}: its checks cannot run here: ${(err as Error).message}`);
      return undefined;
    }
  }

  protected async claimAll(): Promise<void> {
    const rules = (await listEvaluators(this.#deps.store)).filter((e) => e.enabled);
    const capped = rules.filter((e) => e.dailyCostUsd !== undefined);
    const spent = await costsToday(
      this.#deps.store,
      capped.map((e) => e.id),
    );
    for (const e of rules) {
      if (this.stopped) return;
      const defs = this.#defsOf(e);
      if (!defs) continue;
      if (e.dailyCostUsd !== undefined && (spent.get(e.id) ?? 0) >= e.dailyCostUsd) {
        await this.#skipForToday(e.id);
        continue;
      }
      const free = e.concurrency - this.inFlightOf(e.id);
      if (free <= 0) continue;
      const claimed = await this.#jobs.claim(free, this.nextLease(), this.leaseMs, { evaluatorId: e.id });
      for (const job of claimed)
        this.runTask(`${job.evaluatorId}:${job.callId}`, e.id, job.lease, (signal) =>
          this.#runJob(e, defs, job, signal),
        );
    }
  }

  /** The cap is reached: the rule's waiting jobs are skipped, counted as such, never run. */
  async #skipForToday(evaluatorId: string): Promise<void> {
    await this.#deps.store.db
      .updateTable("liveJobs")
      .set({
        status: "skipped",
        error: "the daily cost cap was reached",
        finishedAt: Date.now(),
        lockedUntil: null,
      })
      .where("evaluatorId", "=", evaluatorId)
      .where("status", "=", "queued")
      .execute();
  }

  async #runJob(e: Evaluator, defs: CheckDef[], job: Job, signal: AbortSignal): Promise<void> {
    const log = this.log;
    const spent = { usd: 0, priced: false };
    try {
      if (job.attempts > this.#maxAttempts) {
        await this.#finish(job, "failed", spent, `gave up after ${this.#maxAttempts} attempts`);
        return;
      }
      const call = await callById(this.#deps.store, job.callId);
      if (this.killed) return;
      if (!call) {
        await this.#finish(job, "failed", spent, "the call is not in the store");
        return;
      }
      const annotations = await this.#evaluate(e, defs, call, signal, spent);
      if (this.killed) return;
      if (signal.aborted) {
        await this.#release(job, 0, false, spent);
        return;
      }
      if (annotations.length)
        await insertAnnotations(this.#deps.store, annotations, this.#deps.config.linkDepth);
      if (!(await this.#finish(job, "done", spent, null)))
        log.warn(`live evaluator ${e.name}: ${job.callId} finished after its lease passed to another worker`);
    } catch (err) {
      if (this.killed) return;
      try {
        if (signal.aborted) await this.#release(job, 0, false, spent);
        else if (storeUnavailableReason(err)) await this.#release(job, 2000, false, spent);
        else if (job.attempts < this.#maxAttempts) {
          log.warn(
            `live evaluator ${e.name}: ${job.callId} attempt ${job.attempts}: ${(err as Error).message}`,
          );
          await this.#release(job, this.#retryBaseMs * 2 ** (job.attempts - 1), true, spent);
        } else await this.#finish(job, "failed", spent, (err as Error).message);
      } catch (storeErr) {
        // The store is unreachable: the job stays leased and is claimed again when the lease ends.
        if (!storeUnavailableReason(storeErr))
          log.error(`live evaluator ${e.name}: cannot record ${job.callId}: ${(storeErr as Error).message}`);
      }
    }
  }

  /** Runs the rule's checks and judge on the call; what they find, as annotations on the call. */
  async #evaluate(
    e: Evaluator,
    defs: CheckDef[],
    call: CallRow,
    signal: AbortSignal,
    spent: Spent,
  ): Promise<AnnotationInput[]> {
    const request = readJsonObject(call.request) ?? {};
    const response = readJsonObject(call.response) ?? {};
    const answer = answerText(firstMessage(response));
    const checkSubject: CheckSubject = {
      request,
      answer,
      reference: null,
      baselineAnswer: null,
      costUsd: call.costUsd,
      latencyMs: call.durationMs ?? 0,
      tokens: { prompt: call.promptTokens, completion: call.completionTokens, total: call.totalTokens },
    };
    const subject: ItemSubject = {
      ...checkSubject,
      custom: { request, response, baseline: { request, response: null } },
    };
    const conversation = renderConversation(request.messages);
    const ask = this.#ask(e, call.id, signal, spent);
    // Floor checks (moderation, a floor judge) through the proxy too, tagged like this evaluator's judge calls;
    // what they cost counts toward the rule's daily cap as its judge's calls do.
    const client = floorThroughProxy(
      this.#deps,
      {
        "x-intersebd-tags": `live-judge:${e.id}`,
        "x-intersebd-metadata": asciiJson({ liveEvaluator: e.name, evaluatedCall: call.id }),
      },
      { signal, onRateLimited: () => {} },
    );
    const floor = floorRunner({
      moderate: async (def, body) => priced(await client.moderate(def, body), def.model, spent),
      judge: async (def, messages) => priced(await client.judge(def, messages), def.model, spent),
    });
    const result = await runChecks(
      defs,
      subject,
      (def) => runJudge(def, { conversation, answer, baselineAnswer: null, baselineFirst: true }, ask),
      new Map(),
      floor,
    );
    const judgeNamed = e.judge ? defs[defs.length - 1]?.name : undefined;
    const who = { evaluator: e.name, evaluatorId: e.id };
    const out: AnnotationInput[] = [];
    for (const c of result.checks) {
      // A check that does not apply (n/a, or a judge that gave no verdict) stores nothing.
      if (c.pass === null) continue;
      const detail = {
        type: c.type,
        pass: c.pass,
        ...(c.score === undefined ? {} : { score: c.score }),
        ...(c.reason === undefined ? {} : { reason: c.reason }),
      };
      out.push({
        id: `lchk_${digest(e.id, call.id, c.name)}`,
        annotationKey: call.id,
        name: `check:${c.name}`,
        numericReward: c.pass ? 1 : 0,
        source: c.type === "judge" ? "judge" : "code",
        annotatorId: `live:${e.name}`,
        data: { ...who, detail },
        comment: c.reason ?? null,
      });
      // A floor check's verdict is also the `floor` annotation the floor view lists (i17's contract).
      const fl = floorAnnotation(call.id, c, {
        scope: `live:${e.id}`,
        annotatorId: `live:${e.name}`,
        evaluator: e.name,
      });
      if (fl) out.push(fl);
    }
    for (const j of result.judges) {
      if (j.mode !== "absolute" || !j.candidate.ok) {
        if (j.mode === "absolute" && !j.candidate.ok)
          this.#deps.log.debug(
            `live evaluator ${e.name}: judge ${j.name} gave no verdict: ${j.candidate.error}`,
          );
        continue;
      }
      const def = defs.find((d) => d.name === j.name);
      // The rule's `judge` scores the call as evaluations store a judge's score (named by the judge).
      if (j.name !== judgeNamed) continue;
      out.push({
        id: `ljdg_${digest(e.id, call.id, j.name)}`,
        annotationKey: call.id,
        name: j.name,
        numericReward: j.candidate.reward,
        source: "judge",
        annotatorId: j.model,
        content: {
          verdict: "score",
          score: j.candidate.score,
          scale: def?.type === "judge" && def.mode === "absolute" ? def.scale : undefined,
        },
        data: { ...who, detail: { score: j.candidate.score, reason: j.candidate.reason } },
        comment: j.candidate.reason || null,
      });
    }
    return out;
  }

  /**
   * Judge calls through this server's proxy. A judge the proxy cannot reach, or that keeps failing (429, 5xx),
   * throws to retry the job; any other refusal is that judge's error (no verdict), not worth another attempt.
   */
  #ask(e: Evaluator, callId: string, signal: AbortSignal, spent: Spent): AskJudge {
    return async (def, messages) => {
      const posted = await postThroughProxy(
        this.#deps,
        def.upstream,
        { model: def.model, messages, temperature: 0 },
        {
          "x-intersebd-tags": `live-judge:${e.id}`,
          "x-intersebd-metadata": asciiJson({
            liveEvaluator: e.name,
            evaluatedCall: callId,
            judgeCheck: def.name,
          }),
        },
        { signal, onRateLimited: () => {} },
      );
      priced(posted, def.model, spent);
      if (stillFailing(posted))
        throw new TransientError(`judge ${def.model} answered ${errorMessage(posted)}`);
      if (posted.status !== 200) return { error: `judge ${def.model} answered ${errorMessage(posted)}` };
      return answerText(firstMessage(posted.body)) ?? "";
    };
  }

  /** Ends the job, if this worker still holds its lease; adds what its judge calls cost. */
  #finish(job: Job, status: "done" | "failed", spent: Spent, error: string | null): Promise<boolean> {
    return this.#jobs.settle(job, (eb) => ({
      status,
      error,
      finishedAt: Date.now(),
      ...costAdded(eb, spent),
    }));
  }

  /** Hands a job back, claimable after `delayMs`; `counted: false` gives back the attempt too. */
  async #release(job: Job, delayMs: number, counted: boolean, spent: Spent): Promise<void> {
    await this.#jobs.release(job, delayMs, counted, (eb) => costAdded(eb, spent));
  }
}

/** What the job's judge calls cost, added to its `costUsd`, when any of them was priced. */
const costAdded = (eb: ExpressionBuilder<Database, "liveJobs">, spent: Spent) =>
  spent.priced ? { costUsd: eb(eb.fn.coalesce("costUsd", eb.val(0)), "+", spent.usd) } : {};

/**
 * Adds what a judge's or floor check's call cost to the job's spending, when its price is known; answers the
 * call as it came. A moderation answer has no usage (OpenAI's endpoint is free), so it adds nothing.
 */
function priced<P extends { body: Record<string, unknown> | null }>(
  posted: P,
  declaredModel: string | undefined,
  spent: Spent,
): P {
  if (!posted.body) return posted;
  const usage = usageOf(posted.body);
  const cost =
    costUsd((posted.body.model as string | undefined) ?? declaredModel, usage) ??
    // The upstream may answer under another name (a dated snapshot) than the one the price table knows.
    costUsd(declaredModel, usage);
  if (cost !== null) {
    spent.usd += cost;
    spent.priced = true;
  }
  return posted;
}
