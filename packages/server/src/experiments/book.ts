/**
 * The experiments' definitions in the store: create, read, change, promote, roll back. Every change raises the
 * version and is kept in `experiment_changes` with who made it, when, what was asked and what it produced. A
 * change is a compare-and-set on the version, so two instances changing one experiment at once cannot lose
 * either change (the second gets a 409 and retries on the new version).
 */
import { allocate, reallocate } from "intersebd/experiments";
import { HttpError } from "../http/error.ts";
import type { Store } from "../store/index.ts";
import { readJsonObject } from "../store/json.ts";
import type {
  CreateExperimentInput,
  Experiment,
  ExperimentChange,
  PromoteInput,
  RollbackInput,
  UpdateExperimentInput,
} from "./schemas.ts";

type Action = ExperimentChange["action"];

const notFound = (name: string) =>
  new HttpError(404, `no experiment named ${name} (GET /api/experiments lists them)`, { code: "not_found" });

/** Reads a stored definition; one that does not parse is a 500 that names it, not a wrong routing. */
function definitionOf(text: string, name: string): Experiment {
  const v = readJsonObject(text);
  if (!v || "_raw" in v) throw new HttpError(500, `experiment ${name}'s stored definition is not valid JSON`);
  return v as unknown as Experiment;
}

export async function createExperiment(
  store: Store,
  input: CreateExperimentInput,
  now = Date.now(),
): Promise<Experiment> {
  const { by, ...rest } = input;
  const experiment: Experiment = {
    name: input.name,
    version: 1,
    status: input.status,
    ...(input.description !== undefined ? { description: input.description } : {}),
    unit: input.unit,
    salt: input.salt ?? input.name,
    control: input.control ?? (input.variants[0]?.name as string),
    variants: input.variants,
    allocation: allocate(input.variants.map((v) => ({ variant: v.name, weight: v.weight }))),
    ...(input.match ? { match: input.match } : {}),
    ...(input.shadow ? { shadow: input.shadow } : {}),
    createdBy: by,
    createdAt: now,
    updatedAt: now,
  };
  const definition = JSON.stringify(experiment);
  try {
    await store.db.transaction().execute(async (tx) => {
      await tx
        .insertInto("experiments")
        .values({
          name: experiment.name,
          version: 1,
          status: experiment.status,
          definition,
          createdBy: by,
          createdAt: now,
          updatedAt: now,
        })
        .execute();
      await tx
        .insertInto("experimentChanges")
        .values({
          name: experiment.name,
          version: 1,
          action: "create",
          by,
          at: now,
          change: JSON.stringify(rest),
          definition,
        })
        .execute();
    });
  } catch (err) {
    if (
      await store.db
        .selectFrom("experiments")
        .select("name")
        .where("name", "=", input.name)
        .executeTakeFirst()
    )
      throw new HttpError(
        409,
        `an experiment named ${input.name} exists already (PATCH it, or pick another name)`,
        {
          field: "name",
          code: "exists",
        },
      );
    throw err;
  }
  return experiment;
}

export async function getExperiment(store: Store, name: string): Promise<Experiment | undefined> {
  const row = await store.db
    .selectFrom("experiments")
    .select("definition")
    .where("name", "=", name)
    .executeTakeFirst();
  return row ? definitionOf(row.definition, name) : undefined;
}

export async function requireExperiment(store: Store, name: string): Promise<Experiment> {
  const found = await getExperiment(store, name);
  if (!found) throw notFound(name);
  return found;
}

/**
 * Every experiment, newest first. With `onBroken`, a stored definition that does not parse is handed to it and
 * left out instead of failing the whole list (the live view must keep seeing the others' changes).
 */
export async function listExperiments(
  store: Store,
  onBroken?: (name: string, err: unknown) => void,
): Promise<Experiment[]> {
  const rows = await store.db
    .selectFrom("experiments")
    .select(["name", "definition"])
    .orderBy("createdAt", "desc")
    .execute();
  if (!onBroken) return rows.map((r) => definitionOf(r.definition, r.name));
  return rows.flatMap((r) => {
    try {
      return [definitionOf(r.definition, r.name)];
    } catch (err) {
      onBroken(r.name, err);
      return [];
    }
  });
}

/** The experiment's changes, oldest first. */
export async function changesOf(store: Store, name: string): Promise<ExperimentChange[]> {
  const rows = await store.db
    .selectFrom("experimentChanges")
    .select(["version", "action", "by", "at", "change"])
    .where("name", "=", name)
    .orderBy("version", "asc")
    .execute();
  return rows.map((r) => ({
    version: r.version,
    action: r.action as Action,
    by: r.by,
    at: Number(r.at),
    change: readJsonObject(r.change) ?? {},
  }));
}

/** Each version's definition (JSON) and when it was made, oldest first. */
const definitionsOverTime = (store: Store, name: string) =>
  store.db
    .selectFrom("experimentChanges")
    .select(["at", "definition"])
    .where("name", "=", name)
    .orderBy("version", "asc")
    .execute();

/**
 * When the experiment was not splitting traffic: the periods, since it was created, in which its status was
 * anything but running (draft, shadow, stopped, promoted), as `[from, to)` in ms (`to` is Infinity for the
 * current one). A live call in such a period got its variant by status, not by the split, so it does not belong
 * in the comparison of variants. Calls from before the experiment existed (backfilled through POST /api/calls
 * with their variant) are not in any period.
 */
export async function unsplitPeriods(store: Store, name: string): Promise<Array<[number, number]>> {
  const rows = await definitionsOverTime(store, name);
  const periods: Array<[number, number]> = [];
  let openedAt: number | undefined;
  for (const r of rows) {
    const at = Number(r.at);
    const running = readJsonObject(r.definition)?.status === "running";
    if (running && openedAt !== undefined) {
      periods.push([openedAt, at]);
      openedAt = undefined;
    } else if (!running && openedAt === undefined) openedAt = at;
  }
  if (openedAt !== undefined) periods.push([openedAt, Number.POSITIVE_INFINITY]);
  return periods;
}

/**
 * When the experiment's allocation last changed after its creation (a weight change), in ms; undefined when it
 * never did. Units seen before then were split by other shares: the sample-ratio check leaves them out.
 */
export async function allocationChangedAt(store: Store, name: string): Promise<number | undefined> {
  const rows = await definitionsOverTime(store, name);
  let previous: string | undefined;
  let changedAt: number | undefined;
  for (const r of rows) {
    const allocation = JSON.stringify(readJsonObject(r.definition)?.allocation ?? null);
    if (previous !== undefined && allocation !== previous) changedAt = Number(r.at);
    previous = allocation;
  }
  return changedAt;
}

/** Writes the next version if nobody wrote one since `before` was read. */
async function commit(
  store: Store,
  before: Experiment,
  after: Experiment,
  action: Action,
  by: string,
  change: Record<string, unknown>,
): Promise<Experiment> {
  const definition = JSON.stringify(after);
  const written = await store.db.transaction().execute(async (tx) => {
    const res = await tx
      .updateTable("experiments")
      .set({ version: after.version, status: after.status, definition, updatedAt: after.updatedAt })
      .where("name", "=", before.name)
      .where("version", "=", before.version)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) return false;
    await tx
      .insertInto("experimentChanges")
      .values({
        name: after.name,
        version: after.version,
        action,
        by,
        at: after.updatedAt,
        change: JSON.stringify(change),
        definition,
      })
      .execute();
    return true;
  });
  if (!written)
    throw new HttpError(
      409,
      `experiment ${before.name} was changed meanwhile (now past version ${before.version}); read it again and retry`,
      {
        code: "version_conflict",
      },
    );
  return after;
}

const next = (e: Experiment, now: number): Experiment => ({ ...e, version: e.version + 1, updatedAt: now });

export async function updateExperiment(
  store: Store,
  name: string,
  input: UpdateExperimentInput,
  now = Date.now(),
): Promise<Experiment> {
  const before = await requireExperiment(store, name);
  if (before.status === "promoted")
    throw new HttpError(
      409,
      `experiment ${name} is promoted; roll it back first (POST /api/experiments/${name}/rollback)`,
      {
        code: "promoted",
      },
    );
  const { by, ...change } = input;
  const after = next(before, now);
  if (input.status) after.status = input.status;
  if (input.description !== undefined) after.description = input.description;
  if (input.match === null) delete after.match;
  else if (input.match) after.match = input.match;
  if (input.shadow === null) delete after.shadow;
  else if (input.shadow) after.shadow = input.shadow;
  if (input.weights) {
    const known = new Set(before.variants.map((v) => v.name));
    for (const v of Object.keys(input.weights))
      if (!known.has(v))
        throw new HttpError(400, `weights.${v}: no such variant (variants: ${[...known].join(", ")})`, {
          field: `weights.${v}`,
        });
    after.variants = before.variants.map((v) => ({ ...v, weight: input.weights?.[v.name] ?? v.weight }));
    after.allocation = reallocate(
      before.allocation,
      after.variants.map((v) => ({ variant: v.name, weight: v.weight })),
    );
  }
  return commit(store, before, after, "update", by, change);
}

export async function promoteExperiment(
  store: Store,
  name: string,
  input: PromoteInput,
  now = Date.now(),
): Promise<Experiment> {
  const before = await requireExperiment(store, name);
  if (!before.variants.some((v) => v.name === input.variant))
    throw new HttpError(
      400,
      `variant: ${name} has no variant ${input.variant} (variants: ${before.variants.map((v) => v.name).join(", ")})`,
      {
        field: "variant",
      },
    );
  if (before.status === "promoted")
    throw new HttpError(
      409,
      `experiment ${name} is already promoted (to ${before.promoted?.variant}); roll it back first`,
      {
        code: "promoted",
      },
    );
  const after = next(before, now);
  after.status = "promoted";
  after.promoted = {
    variant: input.variant,
    approvedBy: input.approvedBy,
    at: now,
    ...(input.comment !== undefined ? { comment: input.comment } : {}),
  };
  return commit(store, before, after, "promote", input.approvedBy, { ...input });
}

/** Undoes a promotion: the experiment stops (every matching request goes to the control) until changed again. */
export async function rollbackExperiment(
  store: Store,
  name: string,
  input: RollbackInput,
  now = Date.now(),
): Promise<Experiment> {
  const before = await requireExperiment(store, name);
  if (before.status !== "promoted")
    throw new HttpError(
      409,
      `experiment ${name} is not promoted (status ${before.status}): nothing to roll back`,
      {
        code: "not_promoted",
      },
    );
  const after = next(before, now);
  after.status = "stopped";
  delete after.promoted;
  return commit(store, before, after, "rollback", input.by, { ...input, from: before.promoted });
}
