/**
 * Starting an evaluation, the one way every entry point does it (`POST /api/evals`, `runEvaluation`,
 * `intersebd eval`): plan it (which calls, which checks, what it will cost), hold it to its cost cap, store it
 * with its items, and wake the worker that runs them.
 */

import { newId } from "../util/ids.ts";
import type { CheckDef } from "./checks.ts";
import {
  createRun,
  type Estimate,
  type EvalDeps,
  enforceMaxCost,
  type Plan,
  planRun,
  type RunView,
} from "./runs.ts";
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

/** Several candidates started together: one run each, in one group; `group` and `runs` are empty for a dry run. */
export interface StartedGroup {
  group: string | null;
  runs: RunView[];
  /** All candidates together: what `maxCostUsd` is held to. */
  estimate: Estimate;
  candidates: Array<{ name: string; estimate: Estimate }>;
  checks: CheckDef[];
}

/** The estimates of a group's runs added up: unknown when any part is unknown, as for one run. */
export function sumEstimates(parts: Estimate[]): Estimate {
  const round = (x: number) => Math.round(x * 1e8) / 1e8;
  const sum = (pick: (e: Estimate) => number | null) =>
    parts.some((e) => pick(e) === null) ? null : round(parts.reduce((s, e) => s + (pick(e) ?? 0), 0));
  return {
    items: parts.reduce((s, e) => s + e.items, 0),
    candidateUsd: sum((e) => e.candidateUsd),
    judgeUsd: sum((e) => e.judgeUsd),
    totalUsd: sum((e) => e.totalUsd),
    knownUsd: round(parts.reduce((s, e) => s + e.knownUsd, 0)),
    unpricedModels: [...new Set(parts.flatMap((e) => e.unpricedModels))].sort(),
    skipped: parts[0]?.skipped ?? [],
  };
}

/**
 * Starts one run per candidate of `input.candidates` over the same items (one dataset snapshot, one seed, so
 * the pairwise judges see each item in the same order for every candidate), tied by a group id, after holding
 * their estimates together to `input.maxCostUsd`. All runs are stored in one transaction, or none.
 * @throws HttpError 400 naming the field (`candidates[1].upstream`, `maxCostUsd`...); 404 for an unknown dataset.
 */
export async function startGroup(
  deps: EvalDeps,
  input: CreateEvalInput,
  opts: StartOptions = {},
): Promise<StartedGroup> {
  const candidates = input.candidates ?? [];
  const plans: Plan[] = [];
  for (const [i, named] of candidates.entries()) {
    const { name: _, ...candidate } = named;
    const first = plans[0];
    // The first plan resolves the dataset (and snapshots it); the others replay exactly its items.
    const own: CreateEvalInput = first
      ? {
          ...input,
          dataset: undefined,
          callIds: first.callIds,
          seed: first.seed,
          candidate,
          candidates: undefined,
        }
      : { ...input, candidate, candidates: undefined };
    const plan = await planRun(deps, own, {
      declared: opts.declared,
      custom: opts.custom,
      dryRun: opts.dryRun,
      candidateField: `candidates[${i}].upstream`,
    });
    plans.push(first ? { ...plan, dataset: first.dataset, snapshotId: first.snapshotId } : plan);
  }
  const estimate = sumEstimates(plans.map((p) => p.estimate));
  const perCandidate = plans.map((p, i) => ({ name: candidates[i]?.name ?? `${i}`, estimate: p.estimate }));
  const checks = plans[0]?.checks ?? [];
  if (opts.dryRun) return { group: null, runs: [], estimate, candidates: perCandidate, checks };
  enforceMaxCost(estimate, input.maxCostUsd);
  const group = newId("evg");
  const runs = await deps.store.db.transaction().execute(async (trx) => {
    const out: RunView[] = [];
    for (const [index, p] of plans.entries())
      out.push(await createRun(trx, p, { id: group, index, name: perCandidate[index]?.name ?? "" }));
    return out;
  });
  opts.worker?.poke();
  return { group, runs, estimate, candidates: perCandidate, checks };
}
