/**
 * Writing annotations on tags (idempotent by client id) and comparisons between two tags. Annotations are
 * resolved to the calls they apply to in the same transaction.
 */
import type { Kysely } from "kysely";
import type { Database, Store } from "../store/index.ts";
import { newId } from "../util/ids.ts";
import { lockGraphWrites, materializeForAnnotations } from "./resolve.ts";
import type { AnnotationInput, ComparisonInput } from "./schemas.ts";
import { type AnnotationView, annotationView, type ComparisonView, comparisonView, json } from "./views.ts";

/**
 * Stores annotations. One with a client `id` is stored once however often it is retried (the first wins).
 * Returns the stored annotations, in input order.
 */
export async function insertAnnotations(
  store: Store,
  items: AnnotationInput[],
  maxDepth: number,
): Promise<AnnotationView[]> {
  const now = Date.now();
  const rows = items.map((a) => ({
    id: a.id ?? newId("ann"),
    key: a.annotationKey,
    name: a.name,
    numericReward: a.numericReward ?? null,
    content: json(a.content),
    data: json(a.data),
    comment: a.comment ?? null,
    correction: json(a.correction),
    source: a.source,
    annotatorId: a.annotatorId ?? null,
    notificationId: a.notificationId ?? null,
    createdAt: now,
  }));
  const ids = rows.map((r) => r.id);
  const stored = await store.db.transaction().execute(async (trx) => {
    await lockGraphWrites(trx, store.dialect.name);
    const inserted: string[] = [];
    for (let i = 0; i < rows.length; i += 200) {
      const res = await trx
        .insertInto("annotations")
        .values(rows.slice(i, i + 200))
        .onConflict((oc) => oc.column("id").doNothing())
        .returning("id")
        .execute();
      inserted.push(...res.map((r) => r.id));
    }
    await materializeForAnnotations(trx, inserted, maxDepth);
    return selectByIds(trx, ids);
  });
  return ids.map((id) => stored.get(id)).filter((a): a is AnnotationView => a !== undefined);
}

async function selectByIds(db: Kysely<Database>, ids: string[]): Promise<Map<string, AnnotationView>> {
  const out = new Map<string, AnnotationView>();
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await db
      .selectFrom("annotations")
      .selectAll()
      .where("id", "in", ids.slice(i, i + 500))
      .execute();
    for (const r of rows) out.set(r.id, annotationView(r));
  }
  return out;
}

export async function insertComparisons(store: Store, items: ComparisonInput[]): Promise<ComparisonView[]> {
  const now = Date.now();
  const rows = items.map((c) => ({
    id: c.id ?? newId("cmp"),
    a: c.a,
    b: c.b,
    choice: c.choice,
    reason: c.reason ?? null,
    annotatorId: c.annotatorId ?? null,
    source: c.source,
    // Per-criterion comparisons are written by conversation evaluations (conversations/), not through here.
    criterion: null,
    createdAt: now,
  }));
  // In chunks: a batch may hold 10,000 items, more bound parameters than one statement takes.
  await store.db.transaction().execute(async (trx) => {
    for (let i = 0; i < rows.length; i += 500) {
      await trx
        .insertInto("comparisons")
        .values(rows.slice(i, i + 500))
        .onConflict((oc) => oc.column("id").doNothing())
        .execute();
    }
  });
  return rows.map(comparisonView);
}
