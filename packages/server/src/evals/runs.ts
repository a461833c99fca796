/**
 * Evaluation runs and their items in the store: planning (which calls, which checks, what it will cost),
 * creation, reading, cancelling and resuming. The worker that processes items is in `worker.ts`.
 */
import { randomInt } from "node:crypto";
import type { Transaction } from "kysely";
import { costUsd, requestsOf } from "../calls/index.ts";
import type { Config } from "../config/index.ts";
import { datasetCallIds, snapshotDataset } from "../exports/index.ts";
import { HttpError } from "../http/error.ts";
import type { Store } from "../store/index.ts";
import { readJson } from "../store/json.ts";
import type { Database } from "../store/schema.ts";
import type { EvalRunsTable } from "../store/schema-evals.ts";
import { newId } from "../util/ids.ts";
import type { Logger } from "../util/log.ts";
import { isoTime, isoTimeOrNull } from "../util/time.ts";
import { type CheckDef, type JudgeDef, normalizeChecks } from "./checks.ts";
import { type Candidate, type CreateEvalInput, type JudgeInput, looksLikeCredential } from "./schemas.ts";

/** What the evals domain needs from a running server (an `AppContext` has it all). */
export interface EvalDeps {
  store: Store;
  config: Pick<Config, "upstreams" | "apiKey" | "linkDepth">;
  /** Where this server's proxy is reached: replayed and judge calls go through it, so they are logged. */
  baseUrl(): string;
  log: Logger;
}

export const runStatuses = ["queued", "running", "done", "failed", "cancelled"] as const;
export type RunStatus = (typeof runStatuses)[number];
export const ACTIVE: RunStatus[] = ["queued", "running"];

/** A run as the API shows it: its row's counts and costs as stored, the rest read for the API. */
export interface RunView
  extends Pick<
    EvalRunsTable,
    | "id"
    | "dataset"
    | "snapshotId"
    | "seed"
    | "concurrency"
    | "total"
    | "done"
    | "failed"
    | "estimateUsd"
    | "costUsd"
    | "error"
  > {
  candidate: Candidate;
  checks: CheckDef[];
  /** Its checks include functions given in code: only the process that has them runs its items. */
  needsCode: boolean;
  status: RunStatus;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** The group it was started in with other candidates (`candidates`), else null. */
  group: string | null;
  /** Its candidate's name in the group, else null. */
  candidateName: string | null;
}

/** What a run would cost, before it starts. Rough: the baseline's token counts at the candidate's price. */
export interface Estimate {
  items: number;
  /** USD of the candidate calls; null when a model's price is unknown (see `unpricedModels`). */
  candidateUsd: number | null;
  /** USD of the judge calls (prompt ≈ conversation + answers + 200 tokens, reply ≈ 60 tokens). */
  judgeUsd: number | null;
  totalUsd: number | null;
  /** The part that could be priced, when some could not. */
  knownUsd: number;
  unpricedModels: string[];
  /** Calls that cannot be replayed (no stored request), left out of the run. */
  skipped: Array<{ callId: string; reason: string }>;
}

export interface Plan {
  dataset: string | null;
  snapshotId: string | null;
  callIds: string[];
  candidate: Candidate;
  checks: CheckDef[];
  seed: number;
  concurrency: number;
  needsCode: boolean;
  estimate: Estimate;
}

/**
 * A candidate as it may be shown. The edge refuses credential-like headers now, but a run created before it did
 * may hold one (`x-goog-api-key`...): its value is never shown again.
 */
function withoutCredentials(candidate: Candidate): Candidate {
  if (!candidate.headers) return candidate;
  const headers = Object.fromEntries(
    Object.entries(candidate.headers).map(([k, v]) => [
      k,
      looksLikeCredential(k) ? "[hidden: looks like a credential]" : v,
    ]),
  );
  return { ...candidate, headers };
}

export function runView(r: EvalRunsTable): RunView {
  return {
    id: r.id,
    dataset: r.dataset,
    snapshotId: r.snapshotId,
    candidate: withoutCredentials(readJson(r.candidate) as Candidate),
    checks: readJson(r.checks) as CheckDef[],
    seed: Number(r.seed),
    concurrency: r.concurrency,
    needsCode: Boolean(r.needsCode),
    status: r.status as RunStatus,
    total: r.total,
    done: r.done,
    failed: r.failed,
    estimateUsd: r.estimateUsd,
    costUsd: r.costUsd,
    error: r.error,
    createdAt: isoTime(r.createdAt),
    startedAt: isoTimeOrNull(r.startedAt),
    finishedAt: isoTimeOrNull(r.finishedAt),
    group: r.groupId ?? null,
    candidateName: r.candidateName ?? null,
  };
}

function judgeDef(j: JudgeInput): JudgeDef {
  const common = {
    type: "judge" as const,
    model: j.model,
    ...(j.upstream ? { upstream: j.upstream } : {}),
    ...(j.rubric ? { rubric: j.rubric } : {}),
  };
  return j.mode === "pairwise"
    ? { ...common, mode: "pairwise", name: j.name ?? "pairwise" }
    : { ...common, mode: "absolute", name: j.name ?? "judge", scale: j.scale ?? [1, 5] };
}

function checkUpstream(config: EvalDeps["config"], upstream: string | undefined, field: string): void {
  if (upstream !== undefined && !config.upstreams.has(upstream)) {
    throw new HttpError(
      400,
      `${field}: unknown upstream "${upstream}" (configured: ${[...config.upstreams.keys()].join(", ")})`,
      { field },
    );
  }
}

/** The chat messages with the candidate's system prompt in place of the first system (or developer) one. */
export function withSystemPrompt(messages: unknown[], systemPrompt: string | undefined): unknown[] {
  if (systemPrompt === undefined) return messages;
  const i = messages.findIndex((m) => {
    const role = (m as { role?: string } | null)?.role;
    return role === "system" || role === "developer";
  });
  if (i < 0) return [{ role: "system", content: systemPrompt }, ...messages];
  const out = [...messages];
  out[i] = { ...(messages[i] as Record<string, unknown>), content: systemPrompt };
  return out;
}

/**
 * The request replayed for the candidate: the logged request with the candidate's model, system prompt and
 * parameters (a `null` parameter removes the field), never streamed (the answer is what is judged).
 */
export function candidateRequest(baseline: Record<string, unknown>, c: Candidate): Record<string, unknown> {
  const body: Record<string, unknown> = { ...baseline };
  delete body.stream;
  delete body.stream_options;
  if (c.model) body.model = c.model;
  if (c.systemPrompt !== undefined)
    body.messages = withSystemPrompt((body.messages as unknown[]) ?? [], c.systemPrompt);
  for (const [k, v] of Object.entries(c.params ?? {})) {
    if (v === null) delete body[k];
    else body[k] = v;
  }
  return body;
}

const systemLength = (messages: unknown[]) => {
  const m = messages.find((x) => ["system", "developer"].includes((x as { role?: string })?.role ?? ""));
  const content = (m as { content?: unknown } | undefined)?.content;
  return typeof content === "string" ? content.length : content ? JSON.stringify(content).length : 0;
};

/** Judge tokens per item, from the item's prompt and answer tokens (see `Estimate.judgeUsd`). */
function judgeTokens(def: JudgeDef, prompt: number, completion: number) {
  return def.mode === "pairwise"
    ? [{ promptTokens: prompt + 2 * completion + 220, completionTokens: 60, cachedTokens: 0 }]
    : [
        { promptTokens: prompt + completion + 200, completionTokens: 60, cachedTokens: 0 },
        { promptTokens: prompt + completion + 200, completionTokens: 60, cachedTokens: 0 },
      ];
}

/**
 * Works out what a run would do: resolves the dataset (snapshotting it) or the given call ids, normalizes the
 * checks, and estimates the cost. Writes nothing but the dataset snapshot.
 * @throws HttpError 400 naming the field; 404 for an unknown dataset.
 */
export async function planRun(
  deps: EvalDeps,
  input: CreateEvalInput,
  opts: {
    declared?: ReadonlyMap<string, CheckDef>;
    custom?: ReadonlySet<string>;
    dryRun?: boolean;
    /** The field an unknown candidate upstream is reported on (`candidates[1].upstream` in a group). */
    candidateField?: string;
  } = {},
): Promise<Plan> {
  const { store, config } = deps;
  const candidate = input.candidate ?? {};
  checkUpstream(config, candidate.upstream, opts.candidateField ?? "candidate.upstream");
  const declared = opts.declared ?? new Map<string, CheckDef>();
  const checks = normalizeChecks(input.checks ?? [...declared.keys()], { declared, custom: opts.custom });
  checks.forEach((c, i) => {
    if (c.type === "judge") checkUpstream(config, c.upstream, `checks[${i}].upstream`);
  });
  if (input.judge) {
    checkUpstream(config, input.judge.upstream, "judge.upstream");
    const j = judgeDef(input.judge);
    if (checks.some((c) => c.name === j.name))
      throw new HttpError(400, `judge.name: a check is already named "${j.name}"; name the judge`, {
        field: "judge.name",
      });
    checks.push(j);
  }

  let callIds: string[];
  let snapshotId: string | null = null;
  if (input.dataset !== undefined) {
    // An estimate creates nothing: it reads the selection without recording a snapshot.
    if (opts.dryRun) callIds = await datasetCallIds(deps, input.dataset);
    else {
      const snap = await snapshotDataset(deps, input.dataset, { purpose: "evaluation" });
      snapshotId = snap.snapshotId;
      callIds = snap.callIds;
    }
    if (callIds.length === 0)
      throw new HttpError(400, `dataset: "${input.dataset}" selects no calls`, { field: "dataset" });
  } else {
    callIds = [...new Set(input.callIds)];
  }

  const judges = checks.filter((c): c is JudgeDef => c.type === "judge");
  const unpricedCandidate = new Set<string>();
  const unpricedJudge = new Set<string>();
  const skipped: Estimate["skipped"] = [];
  const replayable: string[] = [];
  let candidateUsd = 0;
  let judgeUsd = 0;
  const found = new Set<string>();
  for (let i = 0; i < callIds.length; i += 500) {
    const chunk = callIds.slice(i, i + 500);
    const byId = await requestsOf(store, chunk);
    for (const id of chunk) {
      const row = byId.get(id);
      if (!row) continue;
      found.add(id);
      const request = row.request;
      if (!request || !Array.isArray(request.messages)) {
        const reason = row.conversionError
          ? `not convertible to chat: ${row.conversionError}`
          : "no stored request messages (captured in metadata mode?)";
        skipped.push({ callId: id, reason });
        continue;
      }
      replayable.push(id);
      let prompt = row.promptTokens ?? Math.ceil(JSON.stringify(request.messages).length / 4);
      const completion = row.completionTokens ?? 0;
      if (candidate.systemPrompt !== undefined)
        prompt = Math.max(
          0,
          prompt + Math.round((candidate.systemPrompt.length - systemLength(request.messages)) / 4),
        );
      const model = candidate.model ?? row.requestedModel ?? row.servedModel ?? "unknown";
      const c = costUsd(model, { promptTokens: prompt, completionTokens: completion, cachedTokens: 0 });
      if (c === null) unpricedCandidate.add(model);
      else candidateUsd += c;
      for (const j of judges) {
        for (const usage of judgeTokens(j, prompt, completion)) {
          const jc = costUsd(j.model, usage);
          if (jc === null) unpricedJudge.add(j.model);
          else judgeUsd += jc;
        }
      }
    }
  }
  if (input.callIds) {
    const missing = input.callIds.findIndex((id) => !found.has(id));
    if (missing >= 0)
      throw new HttpError(400, `callIds[${missing}]: no call "${input.callIds[missing]}"`, {
        field: `callIds[${missing}]`,
      });
  }
  if (replayable.length === 0)
    throw new HttpError(400, `${input.dataset !== undefined ? "dataset" : "callIds"}: no replayable calls`, {
      field: input.dataset !== undefined ? "dataset" : "callIds",
    });

  const round = (x: number) => Math.round(x * 1e8) / 1e8;
  const estimate: Estimate = {
    items: replayable.length,
    candidateUsd: unpricedCandidate.size ? null : round(candidateUsd),
    judgeUsd: unpricedJudge.size ? null : round(judgeUsd),
    totalUsd: unpricedCandidate.size + unpricedJudge.size ? null : round(candidateUsd + judgeUsd),
    knownUsd: round(candidateUsd + judgeUsd),
    unpricedModels: [...new Set([...unpricedCandidate, ...unpricedJudge])].sort(),
    skipped,
  };
  return {
    dataset: input.dataset ?? null,
    snapshotId,
    callIds: replayable,
    candidate,
    checks,
    seed: input.seed ?? randomInt(0, 2 ** 32 - 1),
    concurrency: input.concurrency,
    needsCode: checks.some((c) => c.type === "custom"),
    estimate,
  };
}

/**
 * Refuses a plan whose estimate is over `maxCostUsd`, or cannot be priced at all.
 * @throws HttpError 400 on field `maxCostUsd`.
 */
export function enforceMaxCost(estimate: Estimate, maxCostUsd: number | undefined): void {
  if (maxCostUsd === undefined) return;
  if (estimate.totalUsd === null)
    throw new HttpError(
      400,
      `maxCostUsd: cannot enforce, no price known for ${estimate.unpricedModels.join(", ")} (known part: $${estimate.knownUsd})`,
      { field: "maxCostUsd", code: "cost_unknown" },
    );
  if (estimate.totalUsd > maxCostUsd)
    throw new HttpError(400, `maxCostUsd: the estimate $${estimate.totalUsd} exceeds $${maxCostUsd}`, {
      field: "maxCostUsd",
      code: "over_budget",
    });
}

/** Where a run sits in a group of candidates. */
export interface GroupPlace {
  id: string;
  index: number;
  name: string;
}

/** Stores a planned run and its items, queued for the workers (inside `trx` when given, with a group's other runs). */
export async function createRun(
  store: Store | Transaction<Database>,
  plan: Plan,
  group?: GroupPlace,
): Promise<RunView> {
  const now = Date.now();
  const row: EvalRunsTable = {
    id: newId("evl", now),
    dataset: plan.dataset,
    snapshotId: plan.snapshotId,
    candidate: JSON.stringify(plan.candidate),
    checks: JSON.stringify(plan.checks),
    seed: plan.seed,
    concurrency: plan.concurrency,
    needsCode: plan.needsCode ? 1 : 0,
    status: "queued",
    total: plan.callIds.length,
    done: 0,
    failed: 0,
    estimateUsd: plan.estimate.totalUsd,
    costUsd: null,
    error: null,
    createdAt: now,
    startedAt: null,
    finishedAt: null,
    groupId: group?.id ?? null,
    groupIndex: group?.index ?? null,
    candidateName: group?.name ?? null,
  };
  const insert = async (trx: Transaction<Database>) => {
    await trx.insertInto("evalRuns").values(row).execute();
    for (let i = 0; i < plan.callIds.length; i += 500) {
      await trx
        .insertInto("evalItems")
        .values(
          plan.callIds.slice(i, i + 500).map((baselineCallId, j) => ({
            runId: row.id,
            itemIndex: i + j,
            baselineCallId,
            status: "pending",
            attempts: 0,
          })),
        )
        .execute();
    }
  };
  if ("db" in store) await store.db.transaction().execute(insert);
  else await insert(store);
  return runView(row);
}

export async function getRun(store: Store, id: string): Promise<RunView | undefined> {
  const row = await store.db.selectFrom("evalRuns").selectAll().where("id", "=", id).executeTakeFirst();
  return row ? runView(row) : undefined;
}

export async function requireRun(store: Store, id: string): Promise<RunView> {
  const run = await getRun(store, id);
  if (!run) throw new HttpError(404, `no evaluation run "${id}"`, { field: "id" });
  return run;
}

export async function listRuns(store: Store, q: { status?: RunStatus; limit: number }): Promise<RunView[]> {
  const rows = await store.db
    .selectFrom("evalRuns")
    .selectAll()
    .$if(q.status !== undefined, (b) => b.where("status", "=", q.status as string))
    .orderBy("createdAt", "desc")
    .orderBy("id", "desc")
    .limit(q.limit)
    .execute();
  return rows.map(runView);
}

export interface Progress {
  total: number;
  done: number;
  failed: number;
  pending: number;
  running: number;
}

/** Counts a run's items by status (live, while the run goes on). */
export async function progressOf(store: Store, runId: string): Promise<Progress> {
  const rows = await store.db
    .selectFrom("evalItems")
    .select((eb) => ["status", eb.fn.countAll<number>().as("n")])
    .where("runId", "=", runId)
    .groupBy("status")
    .execute();
  const p: Progress = { total: 0, done: 0, failed: 0, pending: 0, running: 0 };
  for (const r of rows) {
    const n = Number(r.n);
    p.total += n;
    if (r.status in p) p[r.status as "done"] += n;
  }
  return p;
}

/** Stops a run: no more items are claimed; those in flight are abandoned by their workers. */
export async function cancelRun(store: Store, id: string): Promise<RunView> {
  const run = await requireRun(store, id);
  const r = await store.db
    .updateTable("evalRuns")
    .set({ status: "cancelled", finishedAt: Date.now() })
    .where("id", "=", id)
    .where("status", "in", ACTIVE)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) === 0)
    throw new HttpError(409, `run ${id} is ${run.status}: only a queued or running run can be cancelled`, {
      code: "conflict",
    });
  return requireRun(store, id);
}

/**
 * Queues a cancelled (or interrupted) run again: its pending items are claimed where they stopped. A running
 * run needs nothing (any worker picks it up, and a dead worker's items are reclaimed when their lease ends).
 */
export async function resumeRun(store: Store, id: string): Promise<RunView> {
  const run = await requireRun(store, id);
  if (run.status === "done" || run.status === "failed") {
    const p = await progressOf(store, id);
    if (p.pending + p.running === 0)
      throw new HttpError(409, `run ${id} is ${run.status}: every item has a result`, { code: "conflict" });
  }
  if (run.status !== "queued" && run.status !== "running") {
    await store.db
      .updateTable("evalRuns")
      .set({ status: run.startedAt ? "running" : "queued", finishedAt: null })
      .where("id", "=", id)
      .execute();
  }
  return requireRun(store, id);
}
