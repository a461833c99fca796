/**
 * Starting an evaluation, the one way every entry point does it (`POST /api/evals`, `runEvaluation`,
 * `intersebd eval`): plan it (which calls, which checks, what it will cost), hold it to its cost cap, store it
 * with its items, and wake the worker that runs them.
 */
import type { CheckDef } from "./checks.ts";
import { createRun, type Estimate, type EvalDeps, enforceMaxCost, planRun, type RunView } from "./runs.ts";
import type { CreateEvalInput } from "./schemas.ts";

export interface StartOptions {
  /** Only estimate: nothing is stored (not even the dataset's snapshot), the cost cap is not applied. */
  dryRun?: boolean;
  /** Named checks the input's `checks` may refer to (the checks file). */
  declared?: ReadonlyMap<string, CheckDef>;
  /** Names of the custom checks given in code, which the input's `checks` may name. */
  custom?: ReadonlySet<string>;
  /** Woken once the run is stored (a worker that would otherwise find it on its next poll). */
  worker?: { poke(): void };
}

/** A started run with its plan's estimate; `run` is null for a dry run. */
export type Started =
  | { run: RunView; estimate: Estimate; checks: CheckDef[] }
  | { run: null; estimate: Estimate; checks: CheckDef[] };

/**
 * Plans the evaluation `input` describes and, unless `dryRun`, refuses it over `input.maxCostUsd`, stores it
 * queued and wakes `worker`.
 * @throws HttpError 400 naming the field (a bad check, an unknown upstream, over the cost cap or unpriced
 *   with one); 404 for an unknown dataset.
 */
export async function startEvaluation(
  deps: EvalDeps,
  input: CreateEvalInput,
  opts: StartOptions & { dryRun: true },
): Promise<Extract<Started, { run: null }>>;
export async function startEvaluation(
  deps: EvalDeps,
  input: CreateEvalInput,
  opts?: StartOptions & { dryRun?: false },
): Promise<Extract<Started, { run: RunView }>>;
export async function startEvaluation(
  deps: EvalDeps,
  input: CreateEvalInput,
  opts?: StartOptions,
): Promise<Started>;
export async function startEvaluation(
  deps: EvalDeps,
  input: CreateEvalInput,
  opts: StartOptions = {},
): Promise<Started> {
  const plan = await planRun(deps, input, {
    declared: opts.declared,
    custom: opts.custom,
    dryRun: opts.dryRun,
  });
  if (opts.dryRun) return { run: null, estimate: plan.estimate, checks: plan.checks };
  enforceMaxCost(plan.estimate, input.maxCostUsd);
  const run = await createRun(deps.store, plan);
  opts.worker?.poke();
  return { run, estimate: plan.estimate, checks: plan.checks };
}
