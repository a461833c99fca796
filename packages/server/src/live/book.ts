/**
 * The live evaluators' rules in the store (create, read, change) and their jobs' counters. A rule's checks and
 * judge are read with the evaluations' normalizers when it is created or changed, so a bad one is a 400 naming
 * its field, never a rule that silently evaluates nothing.
 */
import { type CheckDef, normalizeChecks } from "../evals/checks.ts";
import { HttpError } from "../http/index.ts";
import type { Database, Store } from "../store/index.ts";
import { newId } from "../util/ids.ts";
import type {
  Counters,
  CreateEvaluatorInput,
  Definition,
  Evaluator,
  EvaluatorView,
  UpdateEvaluatorInput,
} from "./schemas.ts";

/** Midnight UTC of `now`'s day: daily caps count from here. */
export const startOfDayUtc = (now = Date.now()): number => now - (now % 86_400_000);

/**
 * The checks a rule runs, in order: its `checks`, then its `judge` (absolute). Custom checks are functions given
 * in code to an evaluation; a rule lives in the store and has none, so `normalizeChecks` refuses them.
 * @throws HttpError 400 naming the field.
 */
export function defsOf(
  def: Pick<Definition, "checks" | "judge">,
  upstreams?: ReadonlyMap<string, unknown>,
): CheckDef[] {
  const defs: Array<{ field: string; def: CheckDef }> = normalizeChecks(def.checks, { field: "checks" }).map(
    (d, i) => ({ field: `checks[${i}]`, def: d }),
  );
  if (def.judge) {
    if (def.judge.mode === "pairwise")
      throw new HttpError(
        400,
        'judge.mode: a live call has no baseline to compare with, so its judge must be "absolute"',
        { field: "judge.mode" },
      );
    try {
      const [d] = normalizeChecks([{ type: "judge", ...def.judge }], { field: "judge" });
      if (d) defs.push({ field: "judge", def: d });
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      // One judge, not a list: `judge[0].scale` reads as `judge.scale`.
      const unindex = (s: string) => s.replaceAll("judge[0]", "judge");
      throw new HttpError(err.status, unindex(err.message), {
        field: err.field === undefined ? "judge" : unindex(err.field),
      });
    }
  }
  if (defs.length === 0)
    throw new HttpError(400, "checks: give at least one check or a judge", { field: "checks" });
  if (upstreams)
    for (const { field, def: d } of defs)
      if (d.type === "judge" && d.upstream !== undefined && !upstreams.has(d.upstream))
        throw new HttpError(
          400,
          `${field}.upstream: ${d.upstream} is not a configured upstream (configured: ${[...upstreams.keys()].join(", ")}; INTERSEBD_UPSTREAMS)`,
          { field: `${field}.upstream` },
        );
  return defs.map((d) => d.def);
}

type Row = Database["liveEvaluators"];

function fromRow(r: Row): Evaluator {
  const d = JSON.parse(r.definition) as Definition;
  return {
    id: r.id,
    name: r.name,
    enabled: r.enabled === 1,
    ...d,
    createdAt: Number(r.createdAt),
    updatedAt: Number(r.updatedAt),
  };
}

function definitionOf(e: Definition): string {
  const d: Definition = {
    filter: e.filter,
    sample: e.sample,
    checks: e.checks,
    concurrency: e.concurrency,
    ...(e.judge ? { judge: e.judge } : {}),
    ...(e.dailyCostUsd === undefined ? {} : { dailyCostUsd: e.dailyCostUsd }),
  };
  return JSON.stringify(d);
}

const nameTaken = (name: string) =>
  new HttpError(409, `name: an evaluator named "${name}" exists`, { field: "name", code: "conflict" });

async function nameFree(store: Store, name: string, except?: string): Promise<boolean> {
  const found = await store.db
    .selectFrom("liveEvaluators")
    .select("id")
    .where("name", "=", name)
    .executeTakeFirst();
  return !found || found.id === except;
}

export async function createEvaluator(
  store: Store,
  input: CreateEvaluatorInput,
  upstreams?: ReadonlyMap<string, unknown>,
): Promise<Evaluator> {
  const checks = input.checks ?? [];
  defsOf({ checks, judge: input.judge }, upstreams);
  if (!(await nameFree(store, input.name))) throw nameTaken(input.name);
  const now = Date.now();
  const row: Row = {
    id: newId("lev"),
    name: input.name,
    enabled: input.enabled ? 1 : 0,
    definition: definitionOf({ ...input, checks }),
    createdAt: now,
    updatedAt: now,
  };
  const inserted = await store.db
    .insertInto("liveEvaluators")
    .values(row)
    .onConflict((oc) => oc.column("name").doNothing())
    .returning("id")
    .executeTakeFirst();
  if (!inserted) throw nameTaken(input.name);
  return fromRow(row);
}

export async function listEvaluators(store: Store): Promise<Evaluator[]> {
  const rows = await store.db.selectFrom("liveEvaluators").selectAll().orderBy("createdAt").execute();
  return rows.map(fromRow);
}

/** By id, or by name. */
export async function findEvaluator(store: Store, idOrName: string): Promise<Evaluator | undefined> {
  const row = await store.db
    .selectFrom("liveEvaluators")
    .selectAll()
    .where((eb) => eb.or([eb("id", "=", idOrName), eb("name", "=", idOrName)]))
    .orderBy((eb) => eb.case().when("id", "=", idOrName).then(0).else(1).end())
    .executeTakeFirst();
  return row ? fromRow(row) : undefined;
}

export async function requireEvaluator(store: Store, idOrName: string): Promise<Evaluator> {
  const e = await findEvaluator(store, idOrName);
  if (!e) throw new HttpError(404, `no evaluator ${idOrName}`, { code: "not_found" });
  return e;
}

export async function updateEvaluator(
  store: Store,
  idOrName: string,
  change: UpdateEvaluatorInput,
  upstreams?: ReadonlyMap<string, unknown>,
): Promise<Evaluator> {
  const current = await requireEvaluator(store, idOrName);
  const next: Evaluator = {
    ...current,
    ...(change.name === undefined ? {} : { name: change.name }),
    ...(change.filter === undefined ? {} : { filter: change.filter }),
    ...(change.sample === undefined ? {} : { sample: change.sample }),
    ...(change.checks === undefined ? {} : { checks: change.checks }),
    ...(change.concurrency === undefined ? {} : { concurrency: change.concurrency }),
    ...(change.enabled === undefined ? {} : { enabled: change.enabled }),
    updatedAt: Date.now(),
  };
  if (change.judge === null) delete next.judge;
  else if (change.judge !== undefined) next.judge = change.judge;
  if (change.dailyCostUsd === null) delete next.dailyCostUsd;
  else if (change.dailyCostUsd !== undefined) next.dailyCostUsd = change.dailyCostUsd;
  defsOf(next, upstreams);
  if (next.name !== current.name && !(await nameFree(store, next.name, current.id)))
    throw nameTaken(next.name);
  await store.db
    .updateTable("liveEvaluators")
    .set({
      name: next.name,
      enabled: next.enabled ? 1 : 0,
      definition: definitionOf(next),
      updatedAt: next.updatedAt,
    })
    .where("id", "=", current.id)
    .execute();
  return next;
}

/** What an evaluator's jobs stand at; `costTodayUsd` includes what retried jobs spent so far. */
export async function countersOf(
  store: Store,
  ids: string[],
  now = Date.now(),
): Promise<Map<string, Counters>> {
  const out = new Map<string, Counters>(
    ids.map((id) => [id, { queued: 0, running: 0, done: 0, failed: 0, skippedByCap: 0, costTodayUsd: 0 }]),
  );
  if (ids.length === 0) return out;
  const rows = await store.db
    .selectFrom("liveJobs")
    .select((eb) => ["evaluatorId", "status", eb.fn.countAll<number>().as("n")])
    .where("evaluatorId", "in", ids)
    .groupBy(["evaluatorId", "status"])
    .execute();
  for (const r of rows) {
    const c = out.get(r.evaluatorId);
    if (!c) continue;
    const n = Number(r.n);
    if (r.status === "queued") c.queued += n;
    else if (r.status === "running") c.running += n;
    else if (r.status === "done") c.done += n;
    else if (r.status === "failed") c.failed += n;
    else if (r.status === "skipped") c.skippedByCap += n;
  }
  for (const [id, cost] of await costsToday(store, ids, now)) {
    const c = out.get(id);
    if (c) c.costTodayUsd = cost;
  }
  return out;
}

/**
 * What each evaluator's judge calls cost today: jobs finished since midnight UTC, and jobs not finished that
 * already spent something (a retry's earlier attempts), which would otherwise escape the cap.
 */
export async function costsToday(
  store: Store,
  ids: string[],
  now = Date.now(),
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (ids.length === 0) return out;
  const rows = await store.db
    .selectFrom("liveJobs")
    .select((eb) => ["evaluatorId", eb.fn.sum<number | null>("costUsd").as("cost")])
    .where("evaluatorId", "in", ids)
    .where("costUsd", "is not", null)
    .where((eb) => eb.or([eb("finishedAt", ">=", startOfDayUtc(now)), eb("finishedAt", "is", null)]))
    .groupBy("evaluatorId")
    .execute();
  for (const r of rows) out.set(r.evaluatorId, Math.round(Number(r.cost ?? 0) * 1e10) / 1e10);
  return out;
}

export async function viewsOf(store: Store, evaluators: Evaluator[]): Promise<EvaluatorView[]> {
  const counters = await countersOf(
    store,
    evaluators.map((e) => e.id),
  );
  return evaluators.map((e) => ({
    ...e,
    counters: counters.get(e.id) ?? {
      queued: 0,
      running: 0,
      done: 0,
      failed: 0,
      skippedByCap: 0,
      costTodayUsd: 0,
    },
  }));
}
