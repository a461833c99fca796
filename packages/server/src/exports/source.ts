/**
 * Reading what exports and datasets need from the store: the selected calls in keyset-paged batches
 * (oldest first, so an export is reproducible and never holds more than one batch), their resolved
 * annotations from the materialized `call_annotations`, and the pairwise comparisons.
 */
import type { Expression, ExpressionBuilder, SqlBool } from "kysely";
import { type CallFilter, callConditions } from "../calls/index.ts";
import { annotationView, callIdsOfTag } from "../graph/index.ts";
import type { AnnotationRow, ComparisonRow, Database, Store } from "../store/index.ts";
import { readJsonObject } from "../store/json.ts";
import type { ExportAnnotation, ExportCall, ExportItem } from "./model.ts";
import type { Condition } from "./where.ts";

/** Which calls a dataset or export covers: call filters (as `GET /api/calls`) and annotation conditions. */
export interface Selection {
  /** Each applies, as with `GET /api/calls`; several (a dataset's, the request's) all must hold. */
  filters: CallFilter[];
  conditions: Condition[];
  /** true: only calls with (false: without) a correction / a pairwise choice on one of their tags. */
  hasCorrection?: boolean;
  hasComparison?: boolean;
}

type Eb = ExpressionBuilder<Database, "calls">;

function annotationExists(eb: Eb, c: Exclude<Condition, { kind: "correction" | "comparison" }>) {
  let q = eb
    .selectFrom("callAnnotations")
    .innerJoin("annotations", "annotations.id", "callAnnotations.annotationId")
    .select("callAnnotations.callId")
    .whereRef("callAnnotations.callId", "=", "calls.id");
  if (c.kind === "reward") {
    q = q.where("annotations.name", "=", c.name).where("annotations.numericReward", c.op, c.value);
    if (c.source) q = q.where("annotations.source", "=", c.source);
  } else if (c.kind === "source") q = q.where("annotations.source", "=", c.source);
  else if (c.kind === "named") q = q.where("annotations.name", "=", c.name);
  return eb.exists(q);
}

export function correctionExists(eb: Eb) {
  return eb.exists(
    eb
      .selectFrom("callAnnotations")
      .innerJoin("annotations", "annotations.id", "callAnnotations.annotationId")
      .select("callAnnotations.callId")
      .whereRef("callAnnotations.callId", "=", "calls.id")
      .where("annotations.correction", "is not", null),
  );
}

/** Some annotation resolves to the call. */
export function annotatedExists(eb: Eb) {
  return eb.exists(
    eb
      .selectFrom("callAnnotations")
      .select("callAnnotations.callId")
      .whereRef("callAnnotations.callId", "=", "calls.id"),
  );
}

/** A comparison names one of the call's own tags (its id, completion id, or a custom tag). */
export function comparisonExists(eb: Eb) {
  return eb.exists(
    eb
      .selectFrom("callKeys")
      .select("callKeys.callId")
      .whereRef("callKeys.callId", "=", "calls.id")
      .where((e) =>
        e.or([
          e.exists(
            e
              .selectFrom("comparisons")
              .select("comparisons.id")
              .whereRef("comparisons.a", "=", "callKeys.tag"),
          ),
          e.exists(
            e
              .selectFrom("comparisons")
              .select("comparisons.id")
              .whereRef("comparisons.b", "=", "callKeys.tag"),
          ),
        ]),
      ),
  );
}

/** The WHERE of a selection, for `selectFrom("calls")`. */
export function selectionWhere(store: Store, sel: Selection) {
  return (eb: Eb): Expression<SqlBool> => {
    const and: Expression<SqlBool>[] = sel.filters.map((f) => callConditions(store, f)(eb));
    for (const c of sel.conditions) {
      if (c.kind === "correction") and.push(correctionExists(eb));
      else if (c.kind === "comparison") and.push(comparisonExists(eb));
      else if (c.kind === "annotated") and.push(annotatedExists(eb));
      else and.push(annotationExists(eb, c));
    }
    if (sel.hasCorrection !== undefined)
      and.push(sel.hasCorrection ? correctionExists(eb) : eb.not(correctionExists(eb)));
    if (sel.hasComparison !== undefined)
      and.push(sel.hasComparison ? comparisonExists(eb) : eb.not(comparisonExists(eb)));
    return eb.and(and);
  };
}

/** Whether the selection is every call (no filter narrows it). */
export function selectsEverything(sel: Selection): boolean {
  return (
    sel.conditions.length === 0 &&
    sel.hasCorrection === undefined &&
    sel.hasComparison === undefined &&
    sel.filters.every((f) =>
      Object.values(f).every((v) => v === undefined || (Array.isArray(v) && v.length === 0)),
    )
  );
}

const callColumns = [
  "calls.id",
  "calls.completionId",
  "calls.sessionId",
  "calls.userId",
  "calls.startedAt",
  "calls.request",
  "calls.response",
  "calls.conversionError",
] as const;

type CallPick = {
  id: string;
  completionId: string | null;
  sessionId: string | null;
  userId: string | null;
  startedAt: number;
  request: string | null;
  response: string | null;
  conversionError: string | null;
};

function toExportCall(r: CallPick): ExportCall {
  return {
    id: r.id,
    completionId: r.completionId,
    sessionId: r.sessionId,
    userId: r.userId,
    startedAt: Number(r.startedAt),
    request: readJsonObject(r.request),
    response: readJsonObject(r.response),
    conversionError: r.conversionError,
  };
}

export function toExportAnnotation(r: AnnotationRow): ExportAnnotation {
  const { annotationKey, notificationId: _, ...view } = annotationView(r);
  return {
    ...view,
    key: annotationKey,
    numericReward: r.numericReward === null ? null : Number(r.numericReward),
    createdAt: Number(r.createdAt),
  };
}

/** The resolved annotations of each call, oldest first. */
export async function annotationsOf(
  store: Store,
  callIds: string[],
): Promise<Map<string, ExportAnnotation[]>> {
  const out = new Map<string, ExportAnnotation[]>();
  for (let i = 0; i < callIds.length; i += 1000) {
    const rows = await store.db
      .selectFrom("callAnnotations")
      .innerJoin("annotations", "annotations.id", "callAnnotations.annotationId")
      .selectAll("annotations")
      .select("callAnnotations.callId as forCall")
      .where("callAnnotations.callId", "in", callIds.slice(i, i + 1000))
      .orderBy("annotations.createdAt")
      .orderBy("annotations.id")
      .execute();
    for (const r of rows) {
      const list = out.get(r.forCall);
      if (list) list.push(toExportAnnotation(r));
      else out.set(r.forCall, [toExportAnnotation(r)]);
    }
  }
  return out;
}

async function withAnnotations(store: Store, rows: CallPick[]): Promise<ExportItem[]> {
  if (rows.length === 0) return [];
  const annotations = await annotationsOf(
    store,
    rows.map((r) => r.id),
  );
  return rows.map((r) => ({ call: toExportCall(r), annotations: annotations.get(r.id) ?? [] }));
}

/**
 * The selected calls with their annotations, oldest first, `batchSize` at a time. Keyset paging on
 * (startedAt, id) holds one batch in memory. The row-value comparison `(started_at, id) > (?, ?)` matters:
 * SQLite turns it into a range on the `calls_started` index, whereas the equivalent
 * `started_at > ? or (started_at = ? and id > ?)` scans the index from the start on every batch
 * (quadratic: 25 ms per batch instead of 1 ms after 300k rows).
 */
export async function* selectedBatches(
  store: Store,
  sel: Selection,
  batchSize = 1000,
): AsyncGenerator<ExportItem[]> {
  let after: { t: number; id: string } | undefined;
  for (;;) {
    let q = store.db.selectFrom("calls").select(callColumns).where(selectionWhere(store, sel));
    if (after) {
      const { t, id } = after;
      q = q.where((eb) => eb(eb.refTuple("calls.startedAt", "calls.id"), ">", eb.tuple(t, id)));
    }
    const rows = await q.orderBy("calls.startedAt").orderBy("calls.id").limit(batchSize).execute();
    if (rows.length === 0) return;
    yield await withAnnotations(store, rows);
    if (rows.length < batchSize) return;
    const last = rows[rows.length - 1] as CallPick;
    after = { t: Number(last.startedAt), id: last.id };
  }
}

/** The selected call ids, oldest first (for snapshots of small datasets, e.g. evaluations). */
export async function* selectedIds(store: Store, sel: Selection, batchSize = 5000): AsyncGenerator<string[]> {
  let after: { t: number; id: string } | undefined;
  for (;;) {
    let q = store.db
      .selectFrom("calls")
      .select(["calls.id", "calls.startedAt"])
      .where(selectionWhere(store, sel));
    if (after) {
      const { t, id } = after;
      q = q.where((eb) => eb(eb.refTuple("calls.startedAt", "calls.id"), ">", eb.tuple(t, id)));
    }
    const rows = await q.orderBy("calls.startedAt").orderBy("calls.id").limit(batchSize).execute();
    if (rows.length === 0) return;
    yield rows.map((r) => r.id);
    if (rows.length < batchSize) return;
    const last = rows[rows.length - 1] as { id: string; startedAt: number };
    after = { t: Number(last.startedAt), id: last.id };
  }
}

/** How many calls the selection holds. */
export async function countSelection(store: Store, sel: Selection): Promise<number> {
  const r = await store.db
    .selectFrom("calls")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where(selectionWhere(store, sel))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

export async function countComparisons(store: Store): Promise<number> {
  const r = await store.db
    .selectFrom("comparisons")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** Which of `ids` are in the selection. */
export async function inSelection(store: Store, sel: Selection, ids: string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await store.db
      .selectFrom("calls")
      .select("calls.id")
      .where("calls.id", "in", ids.slice(i, i + 500))
      .where(selectionWhere(store, sel))
      .execute();
    for (const r of rows) out.add(r.id);
  }
  return out;
}

/** Calls by id, with their annotations. */
export async function itemsByIds(store: Store, ids: string[]): Promise<Map<string, ExportItem>> {
  const out = new Map<string, ExportItem>();
  const unique = [...new Set(ids)];
  for (let i = 0; i < unique.length; i += 500) {
    const rows = await store.db
      .selectFrom("calls")
      .select(callColumns)
      .where("calls.id", "in", unique.slice(i, i + 500))
      .execute();
    for (const item of await withAnnotations(store, rows)) out.set(item.call.id, item);
  }
  return out;
}

/** Every comparison, oldest first, `batchSize` at a time. */
export async function* comparisonBatches(store: Store, batchSize = 200): AsyncGenerator<ComparisonRow[]> {
  let after: { t: number; id: string } | undefined;
  for (;;) {
    let q = store.db.selectFrom("comparisons").selectAll();
    if (after) {
      const { t, id } = after;
      q = q.where((eb) => eb(eb.refTuple("createdAt", "id"), ">", eb.tuple(t, id)));
    }
    const rows = await q.orderBy("createdAt").orderBy("id").limit(batchSize).execute();
    if (rows.length === 0) return;
    yield rows;
    if (rows.length < batchSize) return;
    const last = rows[rows.length - 1] as ComparisonRow;
    after = { t: Number(last.createdAt), id: last.id };
  }
}

/**
 * The call a compared tag stands for: the nearest call upstream of it. `none` when it leads to no call,
 * `ambiguous` when several are equally near (a tag shared by two answers names neither).
 */
export async function callOfTag(
  store: Store,
  tag: string,
  maxDepth: number,
): Promise<{ callId: string } | "none" | "ambiguous"> {
  const found = await callIdsOfTag(store, tag, maxDepth);
  const first = found[0];
  if (!first) return "none";
  if (found[1] && found[1].depth === first.depth) return "ambiguous";
  return { callId: first.callId };
}
