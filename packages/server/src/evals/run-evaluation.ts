/**
 * Running an evaluation from code (`runEvaluation`): start it (or resume it) and wait for its report, with the
 * worker of the server it runs on, or one started for this run alone.
 */
import type { CheckDef, CheckSpec, CustomCheck } from "./checks.ts";
import { computeGroupReport, type GroupReport } from "./group.ts";
import type { Report } from "./report.ts";
import { ACTIVE, type EvalDeps, getRun, type Progress, progressOf, type RunView, resumeRun } from "./runs.ts";
import {
  type Candidate,
  createEvalSchema,
  type JudgeInput,
  type NamedCandidate,
  parseInput,
} from "./schemas.ts";
import { startEvaluation, startGroup } from "./start-evaluation.ts";
import { runState } from "./state.ts";
import { EvalWorker } from "./worker.ts";

/** What `runEvaluation` runs on: a started server (`startServer`'s result), or a context and no worker. */
export interface EvaluationTarget {
  ctx: EvalDeps;
  /** The server's worker; without one, a worker is started for this run and stopped when it ends. */
  evalWorker?: EvalWorker;
}

export interface RunEvaluationInput {
  /** A saved dataset's name, or… */
  dataset?: string;
  /** …the baseline calls' ids. */
  callIds?: string[];
  candidate?: Candidate;
  /** Several candidates at once (2..10, unique names): resolves with the group's report instead. */
  candidates?: NamedCandidate[];
  /** Check declarations, shorthands, names of declared checks, or custom checks (`defineCheck`). */
  checks?: Array<string | CheckSpec | CustomCheck>;
  judge?: JudgeInput;
  concurrency?: number;
  seed?: number;
  maxCostUsd?: number;
  /** Continue this run instead of starting one (give its custom checks again). */
  resume?: string;
  /** Named checks that `checks` may refer to (a checks file, `loadChecksFile`). */
  declared?: ReadonlyMap<string, CheckDef>;
  onProgress?(progress: Progress, run: RunView): void;
  /** How often progress is read, ms (default 250). */
  pollMs?: number;
}

const isCustom = (c: unknown): c is CustomCheck =>
  typeof c === "object" && c !== null && typeof (c as CustomCheck).run === "function";

/**
 * Runs an evaluation from code and resolves when it ends, with its report. Custom checks are functions, so
 * such a run is processed only by this process (resume it with `resume` and the same checks).
 * Uses the worker of the server given (what `startServer` returns), or starts one for this run when there is none.
 *
 * @example
 * ```ts
 * import { defineCheck } from "intersebd";
 * const server = await startServer(loadConfig());
 * const { report } = await runEvaluation(server, {
 *   dataset: "titles",
 *   candidate: { model: "gpt-4.1-mini" },
 *   checks: ["json-schema", defineCheck("short", ({ response }) => ({ pass: JSON.stringify(response).length < 4000 }))],
 *   judge: { model: "gpt-4.1", mode: "pairwise" },
 * });
 * ```
 */
export async function runEvaluation(
  target: EvaluationTarget,
  input: RunEvaluationInput & { candidates: NamedCandidate[] },
): Promise<GroupReport>;
export async function runEvaluation(
  target: EvaluationTarget,
  input: RunEvaluationInput,
): Promise<{ run: RunView; progress: Progress; report: Report }>;
export async function runEvaluation(
  target: EvaluationTarget,
  input: RunEvaluationInput,
): Promise<{ run: RunView; progress: Progress; report: Report } | GroupReport> {
  if (input.candidates && !input.resume) return runGroup(target, input);
  const deps = target.ctx;
  const custom = (input.checks ?? []).filter(isCustom);
  // The worker is woken by `follow`, once it has this run's custom checks.
  const run = input.resume
    ? await resumeRun(deps.store, input.resume)
    : (await startEvaluation(deps, bodyOf(input, { candidate: input.candidate }), declaredOf(input, custom)))
        .run;
  await follow(target, new Set([run.id]), custom, input);
  return runState(deps.store, run.id);
}

/** The API's body for what `runEvaluation` was given, validated as the API validates it. */
function bodyOf(input: RunEvaluationInput, candidates: Pick<RunEvaluationInput, "candidate" | "candidates">) {
  return parseInput(createEvalSchema, {
    dataset: input.dataset,
    callIds: input.callIds,
    ...candidates,
    checks: input.checks?.map((c) => (isCustom(c) ? c.name : c)),
    judge: input.judge,
    concurrency: input.concurrency,
    seed: input.seed,
    maxCostUsd: input.maxCostUsd,
  });
}

const declaredOf = (input: RunEvaluationInput, custom: CustomCheck[]) => ({
  declared: input.declared,
  custom: new Set(custom.map((c) => c.name)),
});

/**
 * Runs the runs `ids` to their end: on the server's worker when given one, else on a worker of this process's own
 * that runs only them; reports progress on the way.
 */
async function follow(
  target: EvaluationTarget,
  ids: ReadonlySet<string>,
  custom: CustomCheck[],
  input: RunEvaluationInput,
): Promise<void> {
  const { store } = target.ctx;
  let worker = target.evalWorker;
  const own = !worker;
  if (!worker) {
    worker = new EvalWorker(target.ctx, { onlyRuns: ids });
    worker.start();
  }
  try {
    if (custom.length) for (const id of ids) worker.provideCode(id, custom);
    worker.poke();
    for (;;) {
      let active = false;
      for (const id of ids) {
        const current = await getRun(store, id);
        if (!current) throw new Error(`run ${id} disappeared from the store`);
        input.onProgress?.(await progressOf(store, id), current);
        if (ACTIVE.includes(current.status)) active = true;
      }
      if (!active) return;
      await new Promise((r) => setTimeout(r, input.pollMs ?? 250));
    }
  } finally {
    if (own) await worker.stop();
  }
}

/** `runEvaluation` with `candidates`: one run per candidate, followed together, then the group's report. */
async function runGroup(target: EvaluationTarget, input: RunEvaluationInput): Promise<GroupReport> {
  const custom = (input.checks ?? []).filter(isCustom);
  const { group, runs } = await startGroup(
    target.ctx,
    bodyOf(input, { candidates: input.candidates }),
    declaredOf(input, custom),
  );
  await follow(target, new Set(runs.map((r) => r.id)), custom, input);
  return computeGroupReport(target.ctx.store, group as string);
}
