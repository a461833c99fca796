/**
 * Datasets (PRODUCT.md "Dataset"): saved, named filters over calls and their resolved annotations, and
 * their snapshots: the exact call ids one export or evaluation used.
 */
import type { Kysely, Selectable } from "kysely";
import { HttpError } from "../http/error.ts";
import { parseOrThrow } from "../http/validate.ts";
import type { Database, Store } from "../store/index.ts";
import { readJsonObject } from "../store/json.ts";
import type { DatasetSnapshotsTable, DatasetsTable } from "../store/schema-exports.ts";
import { newId } from "../util/ids.ts";
import { isoTime } from "../util/time.ts";
import {
  type CreateDatasetInput,
  normalizeFilterInput,
  type SelectionFilter,
  selectionFilterSchema,
  type UpdateDatasetInput,
} from "./schemas.ts";
import {
  annotatedExists,
  comparisonExists,
  correctionExists,
  type Selection,
  selectedIds,
  selectionWhere,
} from "./source.ts";

export interface DatasetView {
  id: string;
  name: string;
  description: string | null;
  /** The filter as saved (query-string form). */
  filter: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

export interface DatasetDetail extends DatasetView {
  /** Calls the filter selects now. */
  size: number;
  /** Per-call mean reward (annotation name from the filter's `name`, default `reward`), in equal-width buckets. */
  rewardHistogram: Array<{ bucket: number; count: number }>;
  /** Of those calls: how many have an annotation, a correction, a pairwise choice. */
  annotated: number;
  corrections: number;
  pairwise: number;
}

export interface SnapshotView {
  id: string;
  datasetId: string;
  datasetName: string;
  purpose: string;
  format: string | null;
  params: Record<string, unknown> | null;
  callCount: number | null;
  rowCount: number | null;
  /** Calls erasure took out of the snapshot since it was written (no longer in `callCount` or its call ids). */
  erasedCalls: number;
  /** False while being written, or when the export that wrote it was interrupted. */
  complete: boolean;
  createdAt: string;
  completedAt: string | null;
}

function datasetView(r: DatasetsTable): DatasetView {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    filter: readJsonObject(r.filter) ?? {},
    createdAt: isoTime(r.createdAt),
    updatedAt: isoTime(r.updatedAt),
  };
}

function snapshotView(r: Selectable<DatasetSnapshotsTable>): SnapshotView {
  return {
    id: r.id,
    datasetId: r.datasetId,
    datasetName: r.datasetName,
    purpose: r.purpose,
    format: r.format,
    params: readJsonObject(r.params),
    callCount: r.callCount === null ? null : Number(r.callCount),
    rowCount: r.rowCount === null ? null : Number(r.rowCount),
    erasedCalls: Number(r.erasedCalls),
    complete: r.completedAt !== null,
    createdAt: isoTime(r.createdAt),
    completedAt: r.completedAt === null ? null : isoTime(r.completedAt),
  };
}

/** A parsed filter as a selection. */
export function selectionOf(f: SelectionFilter): Selection {
  const { where, hasCorrection, hasComparison, ...callFilter } = f;
  return { filters: [callFilter], conditions: where ?? [], hasCorrection, hasComparison };
}

/** Validates a filter given as JSON; returns it parsed and in the form to save. @throws HttpError 400 */
export function parseFilter(input: unknown): { parsed: SelectionFilter; saved: Record<string, unknown> } {
  const saved = normalizeFilterInput(input) as Record<string, unknown>;
  return { parsed: parseOrThrow(selectionFilterSchema.strict(), saved, "filter"), saved };
}

async function datasetRow(store: Store, name: string): Promise<DatasetsTable> {
  const row = await store.db.selectFrom("datasets").selectAll().where("name", "=", name).executeTakeFirst();
  if (!row) throw new HttpError(404, `no dataset named "${name}"`, { field: "name" });
  return row;
}

async function nameFree(db: Kysely<Database>, name: string): Promise<void> {
  const taken = await db.selectFrom("datasets").select("id").where("name", "=", name).executeTakeFirst();
  if (taken)
    throw new HttpError(409, `a dataset named "${name}" already exists`, { field: "name", code: "conflict" });
}

/** Saves a new dataset. @throws HttpError 409 when the name is taken, 400 for a bad filter. */
export async function createDataset(store: Store, input: CreateDatasetInput): Promise<DatasetView> {
  const { saved } = parseFilter(input.filter);
  const now = Date.now();
  const row: DatasetsTable = {
    id: newId("ds"),
    name: input.name,
    description: input.description ?? null,
    filter: JSON.stringify(saved),
    createdAt: now,
    updatedAt: now,
  };
  await nameFree(store.db, input.name);
  try {
    await store.db.insertInto("datasets").values(row).execute();
  } catch (err) {
    // Two requests raced past the check: the unique index decides.
    await nameFree(store.db, input.name);
    throw err;
  }
  return datasetView(row);
}

export async function listDatasets(store: Store): Promise<DatasetView[]> {
  const rows = await store.db.selectFrom("datasets").selectAll().orderBy("name").execute();
  return rows.map(datasetView);
}

/** A dataset with its filter parsed as a selection. @throws HttpError 404 */
export async function loadDataset(
  store: Store,
  name: string,
): Promise<{ view: DatasetView; filter: SelectionFilter; selection: Selection }> {
  const row = await datasetRow(store, name);
  const { parsed } = parseFilter(JSON.parse(row.filter));
  return { view: datasetView(row), filter: parsed, selection: selectionOf(parsed) };
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

/** Equal-width buckets (about ten, at round boundaries) over per-call values, empty ones included. */
export function histogram(
  values: Array<{ value: number; count: number }>,
): Array<{ bucket: number; count: number }> {
  if (values.length === 0) return [];
  const min = Math.min(...values.map((v) => v.value));
  const max = Math.max(...values.map((v) => v.value));
  if (min === max) return [{ bucket: min, count: values.reduce((a, v) => a + v.count, 0) }];
  const step = niceStep((max - min) / 10);
  // Rounding first keeps 0.3 / 0.1 in bucket 3, not 2.
  const index = (v: number) => Math.floor(Math.round((v / step) * 1e9) / 1e9);
  const first = index(min);
  const out = Array.from({ length: index(max) - first + 1 }, (_, i) => ({
    bucket: Number(((first + i) * step).toPrecision(12)),
    count: 0,
  }));
  for (const v of values) (out[index(v.value) - first] as { count: number }).count += v.count;
  return out;
}

/** The dataset with its size, reward distribution and how much of it is judged. */
export async function datasetDetail(store: Store, name: string): Promise<DatasetDetail> {
  const { view, filter, selection } = await loadDataset(store, name);
  const where = selectionWhere(store, selection);
  const counts = await store.db
    .selectFrom("calls")
    .select((eb) => {
      const count = (e: ReturnType<typeof annotatedExists>) =>
        eb.fn.coalesce(eb.fn.sum<number>(eb.case().when(e).then(1).else(0).end()), eb.lit(0));
      return [
        eb.fn.countAll<number>().as("size"),
        count(annotatedExists(eb)).as("annotated"),
        count(correctionExists(eb)).as("corrections"),
        count(comparisonExists(eb)).as("pairwise"),
      ];
    })
    .where(where)
    .executeTakeFirstOrThrow();
  const perCall = store.db
    .selectFrom("callAnnotations")
    .innerJoin("annotations", "annotations.id", "callAnnotations.annotationId")
    .select((eb) => ["callAnnotations.callId", eb.fn.avg<number>("annotations.numericReward").as("r")])
    .where("annotations.name", "=", filter.name ?? "reward")
    .where("annotations.numericReward", "is not", null)
    .where("callAnnotations.callId", "in", store.db.selectFrom("calls").select("calls.id").where(where))
    .groupBy("callAnnotations.callId");
  const values = await store.db
    .selectFrom(perCall.as("m"))
    .select((eb) => ["m.r", eb.fn.countAll<number>().as("n")])
    .groupBy("m.r")
    .execute();
  return {
    ...view,
    size: Number(counts.size),
    rewardHistogram: histogram(values.map((v) => ({ value: Number(v.r), count: Number(v.n) }))),
    annotated: Number(counts.annotated),
    corrections: Number(counts.corrections),
    pairwise: Number(counts.pairwise),
  };
}

/** Changes a dataset's name, description or filter (the filter is replaced whole). */
export async function updateDataset(
  store: Store,
  name: string,
  input: UpdateDatasetInput,
): Promise<DatasetView> {
  const row = await datasetRow(store, name);
  const patch: Partial<DatasetsTable> = { updatedAt: Date.now() };
  if (input.filter !== undefined) patch.filter = JSON.stringify(parseFilter(input.filter).saved);
  if (input.description !== undefined) patch.description = input.description;
  if (input.name !== undefined && input.name !== name) {
    await nameFree(store.db, input.name);
    patch.name = input.name;
  }
  await store.db.updateTable("datasets").set(patch).where("id", "=", row.id).execute();
  return datasetView({ ...row, ...patch });
}

/** Deletes a dataset; its snapshots stay, so past exports and evaluations can still be traced. */
export async function deleteDataset(store: Store, name: string): Promise<void> {
  const row = await datasetRow(store, name);
  await store.db.deleteFrom("datasets").where("id", "=", row.id).execute();
}

export async function listSnapshots(store: Store, name: string): Promise<SnapshotView[]> {
  const row = await datasetRow(store, name);
  const rows = await store.db
    .selectFrom("datasetSnapshots")
    .selectAll()
    .where("datasetId", "=", row.id)
    .orderBy("createdAt", "desc")
    .orderBy("id", "desc")
    .execute();
  return rows.map(snapshotView);
}

/** One snapshot and a page of its call ids, in the order the export used them. @throws HttpError 404 */
export async function getSnapshot(
  store: Store,
  id: string,
  page: { cursor?: number; limit: number },
): Promise<SnapshotView & { callIds: string[]; nextCursor: number | null }> {
  const row = await store.db
    .selectFrom("datasetSnapshots")
    .selectAll()
    .where("id", "=", id)
    .executeTakeFirst();
  if (!row) throw new HttpError(404, `no snapshot "${id}"`, { field: "id" });
  const calls = await store.db
    .selectFrom("datasetSnapshotCalls")
    .select(["callId", "position"])
    .where("snapshotId", "=", id)
    .where("position", ">=", page.cursor ?? 0)
    .orderBy("position")
    .limit(page.limit + 1)
    .execute();
  const more = calls.length > page.limit;
  if (more) calls.pop();
  const last = calls.at(-1);
  return {
    ...snapshotView(row),
    callIds: calls.map((c) => c.callId),
    nextCursor: more && last ? Number(last.position) + 1 : null,
  };
}

/**
 * Records a snapshot while an export streams: `add` the call ids of each row written, `finish` at the end.
 * A snapshot never finished (the client went away) stays marked incomplete.
 */
export class SnapshotWriter {
  readonly id: string;
  readonly #store: Store;
  #buffer: Array<{ snapshotId: string; callId: string; position: number }> = [];
  #position = 0;

  private constructor(store: Store, id: string) {
    this.#store = store;
    this.id = id;
  }

  static async begin(
    store: Store,
    dataset: { id: string; name: string },
    meta: { purpose: string; format?: string | null; params?: Record<string, unknown> | null },
  ): Promise<SnapshotWriter> {
    const id = newId("snap");
    await store.db
      .insertInto("datasetSnapshots")
      .values({
        id,
        datasetId: dataset.id,
        datasetName: dataset.name,
        purpose: meta.purpose,
        format: meta.format ?? null,
        params: meta.params ? JSON.stringify(meta.params) : null,
        callCount: null,
        rowCount: null,
        createdAt: Date.now(),
        completedAt: null,
      })
      .execute();
    return new SnapshotWriter(store, id);
  }

  /** Adds call ids (a call used by several rows is recorded once, at its first use); writes in batches. */
  async add(callIds: string[]): Promise<void> {
    for (const callId of callIds)
      this.#buffer.push({ snapshotId: this.id, callId, position: this.#position++ });
    if (this.#buffer.length >= 500) await this.#flush();
  }

  async #flush(): Promise<void> {
    if (this.#buffer.length === 0) return;
    const rows = this.#buffer;
    this.#buffer = [];
    await this.#store.db
      .insertInto("datasetSnapshotCalls")
      .values(rows)
      .onConflict((oc) => oc.columns(["snapshotId", "callId"]).doNothing())
      .execute();
  }

  async finish(rowCount: number | null): Promise<void> {
    await this.#flush();
    const { n } = await this.#store.db
      .selectFrom("datasetSnapshotCalls")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("snapshotId", "=", this.id)
      .executeTakeFirstOrThrow();
    await this.#store.db
      .updateTable("datasetSnapshots")
      .set({ callCount: Number(n), rowCount, completedAt: Date.now() })
      .where("id", "=", this.id)
      .execute();
  }
}

/**
 * Records which calls the dataset selects now, for an evaluation: returns the snapshot id and the call ids,
 * oldest first. @throws HttpError 404 when there is no such dataset.
 * @example const { snapshotId, callIds } = await snapshotDataset(ctx, "titles");
 */
/** The ids a dataset selects now, without recording a snapshot (for estimates, which create nothing). */
export async function datasetCallIds(ctx: { store: Store }, name: string): Promise<string[]> {
  const { selection } = await loadDataset(ctx.store, name);
  const callIds: string[] = [];
  for await (const ids of selectedIds(ctx.store, selection)) callIds.push(...ids);
  return callIds;
}

export async function snapshotDataset(
  ctx: { store: Store },
  name: string,
  opts: { purpose?: string; params?: Record<string, unknown> } = {},
): Promise<{ snapshotId: string; callIds: string[] }> {
  const { store } = ctx;
  const { view, selection } = await loadDataset(store, name);
  const writer = await SnapshotWriter.begin(store, view, {
    purpose: opts.purpose ?? "evaluation",
    params: opts.params ?? null,
  });
  const callIds: string[] = [];
  for await (const ids of selectedIds(store, selection)) {
    callIds.push(...ids);
    await writer.add(ids);
  }
  await writer.finish(null);
  return { snapshotId: writer.id, callIds };
}
