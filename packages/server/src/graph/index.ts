/**
 * The tag graph: links between tags, annotations on tags, pairwise comparisons, and their resolution to calls.
 */
import type { Kysely } from "kysely";
import { type CallView, callListRowsByIds, findCall, tagsOf, toCallView } from "../calls/index.ts";
import type { AppContext } from "../context.ts";
import type { AnnotationRow, ComparisonRow, Database, LinkRow, Store } from "../store/index.ts";
import { readJson, readJsonObject } from "../store/json.ts";
import { newId } from "../util/ids.ts";
import type { Logger } from "../util/log.ts";
import { isoTime } from "../util/time.ts";
import { lockGraphWrites, materializeForAnnotations, materializeForLinks, walk } from "./resolve.ts";
import type { AnnotationInput, ComparisonInput, LinkInput } from "./schemas.ts";

export { materializeForCalls, resolutionOnInsert } from "./resolve.ts";
export * from "./schemas.ts";

/** An annotation as the API shows it. */
export interface AnnotationView {
  id: string;
  annotationKey: string;
  name: string;
  numericReward: number | null;
  content: unknown;
  data: unknown;
  comment: string | null;
  correction: unknown;
  source: string;
  annotatorId: string | null;
  notificationId: string | null;
  createdAt: string;
}

/** An annotation that applies to a call, with the chain of tags that connects them (call's tag first). */
export interface ResolvedAnnotation extends AnnotationView {
  path: string[];
  depth: number;
}

export interface LinkView {
  upstreamTag: string;
  downstreamTag: string;
  metadata: Record<string, unknown> | null;
  createdAt: string;
}

export interface ComparisonView {
  id: string;
  a: string;
  b: string;
  choice: string;
  reason: string | null;
  annotatorId: string | null;
  source: string;
  createdAt: string;
}

const json = (v: unknown): string | null => (v === undefined || v === null ? null : JSON.stringify(v));

export function annotationView(r: AnnotationRow): AnnotationView {
  return {
    id: r.id,
    annotationKey: r.key,
    name: r.name,
    numericReward: r.numericReward,
    content: readJson(r.content),
    data: readJson(r.data),
    comment: r.comment,
    correction: readJson(r.correction),
    source: r.source,
    annotatorId: r.annotatorId,
    notificationId: r.notificationId,
    createdAt: isoTime(r.createdAt),
  };
}

export function linkView(r: LinkRow): LinkView {
  return {
    upstreamTag: r.upstreamTag,
    downstreamTag: r.downstreamTag,
    metadata: readJsonObject(r.metadata),
    createdAt: isoTime(r.createdAt),
  };
}

export function comparisonView(r: ComparisonRow): ComparisonView {
  return { ...r, createdAt: isoTime(r.createdAt) };
}

/**
 * Adds links (idempotent: the same pair again keeps one link, with the newer metadata when given) and
 * resolves what they connect. A link from a tag to itself connects nothing and is ignored.
 */
export async function insertLinks(store: Store, links: LinkInput[], maxDepth: number): Promise<void> {
  const now = Date.now();
  // One row per pair: PostgreSQL refuses to upsert the same row twice in one statement.
  const unique = new Map<
    string,
    { upstreamTag: string; downstreamTag: string; metadata: string | null; createdAt: number }
  >();
  for (const l of links) {
    if (l.upstreamTag === l.downstreamTag) continue;
    const key = JSON.stringify([l.upstreamTag, l.downstreamTag]);
    const metadata = json(l.metadata) ?? unique.get(key)?.metadata ?? null;
    unique.set(key, { upstreamTag: l.upstreamTag, downstreamTag: l.downstreamTag, metadata, createdAt: now });
  }
  const rows = [...unique.values()];
  if (rows.length === 0) return;
  await store.db.transaction().execute(async (trx) => {
    await lockGraphWrites(trx, store.dialect.name);
    for (let i = 0; i < rows.length; i += 500) {
      await trx
        .insertInto("links")
        .values(rows.slice(i, i + 500))
        .onConflict((oc) =>
          oc.columns(["upstreamTag", "downstreamTag"]).doUpdateSet((eb) => ({
            metadata: eb.fn.coalesce(eb.ref("excluded.metadata"), eb.ref("links.metadata")),
          })),
        )
        .execute();
    }
    await materializeForLinks(trx, rows, maxDepth);
  });
}

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

/** The annotations that apply to a call, each with the chain of tags from the call to its key. */
export async function resolveCallAnnotations(
  store: Store,
  callId: string,
  maxDepth: number,
): Promise<ResolvedAnnotation[]> {
  const tags = await store.db.selectFrom("callKeys").select("tag").where("callId", "=", callId).execute();
  const [paths, rows] = await Promise.all([
    walk(
      store.db,
      tags.map((t) => t.tag),
      "down",
      maxDepth,
    ),
    store.db
      .selectFrom("callAnnotations")
      .innerJoin("annotations", "annotations.id", "callAnnotations.annotationId")
      .selectAll("annotations")
      .where("callAnnotations.callId", "=", callId)
      .orderBy("annotations.createdAt")
      .execute(),
  ]);
  return rows.map((r) => {
    const path = paths.get(r.key) ?? [r.key];
    return { ...annotationView(r), path, depth: path.length - 1 };
  });
}

/** The calls a tag leads back to (upstream), with the chain from the call's tag to this one. */
export async function callIdsOfTag(
  store: Store,
  tag: string,
  maxDepth: number,
): Promise<Array<{ callId: string; depth: number; path: string[] }>> {
  const paths = await walk(store.db, [tag], "up", maxDepth);
  const reached = [...paths.keys()];
  const found = new Map<string, { callId: string; depth: number; path: string[] }>();
  for (let i = 0; i < reached.length; i += 500) {
    const rows = await store.db
      .selectFrom("callKeys")
      .selectAll()
      .where("tag", "in", reached.slice(i, i + 500))
      .execute();
    for (const r of rows) {
      const path = [...(paths.get(r.tag) ?? [r.tag])].reverse();
      const prev = found.get(r.callId);
      if (!prev || path.length - 1 < prev.depth)
        found.set(r.callId, { callId: r.callId, depth: path.length - 1, path });
    }
  }
  return [...found.values()].sort((a, b) => a.depth - b.depth);
}

async function linksFrom(
  store: Store,
  tags: string[],
  column: "upstreamTag" | "downstreamTag",
  limit = 1000,
) {
  if (tags.length === 0) return [];
  const rows = await store.db
    .selectFrom("links")
    .selectAll()
    .where(column, "in", tags.slice(0, 1000))
    .limit(limit)
    .execute();
  return rows.map(linkView);
}

async function comparisonsOf(store: Store, tags: string[]): Promise<ComparisonView[]> {
  if (tags.length === 0) return [];
  const t = tags.slice(0, 1000);
  const rows = await store.db
    .selectFrom("comparisons")
    .selectAll()
    .where((eb) => eb.or([eb("a", "in", t), eb("b", "in", t)]))
    .orderBy("createdAt", "desc")
    .limit(200)
    .execute();
  return rows.map(comparisonView);
}

export interface CallDetail extends CallView {
  annotations: ResolvedAnnotation[];
  /** The links reachable downstream from the call, each with its depth (1 = leaves a tag of the call). */
  links: Array<LinkView & { depth: number }>;
  comparisons: ComparisonView[];
}

/** One call with everything that resolves to it: `GET /api/calls/{callId or completionId}`. */
export async function callDetail(ctx: AppContext, idOrCompletionId: string): Promise<CallDetail | undefined> {
  const { store, config } = ctx;
  const row = await findCall(store, idOrCompletionId);
  if (!row) return undefined;
  const own = tagsOf(row);
  const paths = await walk(store.db, own, "down", config.linkDepth);
  const reachable = [...paths.keys()];
  const [annotations, links, comparisons] = await Promise.all([
    resolveCallAnnotations(store, row.id, config.linkDepth),
    linksFrom(store, reachable, "upstreamTag"),
    comparisonsOf(store, reachable),
  ]);
  return {
    ...toCallView(row, true),
    annotations,
    links: links
      .map((l) => ({ ...l, depth: paths.get(l.upstreamTag)?.length ?? 1 }))
      .sort((a, b) => a.depth - b.depth),
    comparisons,
  };
}

/** Everything about one tag: `GET /api/tags/{tag}`. */
export async function tagDetail(ctx: AppContext, tag: string) {
  const { store, config } = ctx;
  const [calls, down] = await Promise.all([
    callIdsOfTag(store, tag, config.linkDepth),
    walk(store.db, [tag], "down", config.linkDepth),
  ]);
  // Up to 200 calls, each shown by its stored preview: their bodies are never read here.
  const byId = await callListRowsByIds(
    store,
    calls.slice(0, 200).map((c) => c.callId),
  );
  const reached = [...down.keys()];
  const annRows = reached.length
    ? await store.db
        .selectFrom("annotations")
        .selectAll()
        .where("key", "in", reached.slice(0, 1000))
        .orderBy("createdAt")
        .execute()
    : [];
  const [upstreamLinks, downstreamLinks, comparisons] = await Promise.all([
    linksFrom(store, [tag], "downstreamTag"),
    linksFrom(store, [tag], "upstreamTag"),
    comparisonsOf(store, reached),
  ]);
  return {
    tag,
    calls: calls.flatMap((c) => {
      const r = byId.get(c.callId);
      return r ? [{ ...toCallView(r, false), depth: c.depth, path: c.path }] : [];
    }),
    upstreamLinks,
    downstreamLinks,
    annotations: annRows.map((r) => {
      const path = down.get(r.key) ?? [r.key];
      return { ...annotationView(r), path, depth: path.length - 1 };
    }),
    comparisons,
  };
}

const DEPTH_SETTING = "graph.linkDepth";

/**
 * Makes the materialized resolution (`call_annotations`) match the depth bound in force. It records the bound
 * it was built with; when the server starts with another one, the pairs are rebuilt from every annotation, so
 * a smaller bound drops pairs and a larger one adds them. All instances sharing a store must use one bound.
 * @returns the number of annotations re-resolved (0 when nothing had to change).
 */
export async function ensureResolutionDepth(store: Store, maxDepth: number, log?: Logger): Promise<number> {
  const recorded = await store.db
    .selectFrom("settings")
    .select("value")
    .where("key", "=", DEPTH_SETTING)
    .executeTakeFirst();
  if (recorded?.value === String(maxDepth)) return 0;
  let resolved = 0;
  await store.db.transaction().execute(async (trx) => {
    await lockGraphWrites(trx, store.dialect.name);
    if (recorded !== undefined) {
      log?.info(
        `INTERSEBD_LINK_DEPTH changed from ${recorded.value} to ${maxDepth}: re-resolving annotations`,
      );
      await trx.deleteFrom("callAnnotations").execute();
      let after = "";
      for (;;) {
        const ids = (
          await trx
            .selectFrom("annotations")
            .select("id")
            .where("id", ">", after)
            .orderBy("id")
            .limit(1000)
            .execute()
        ).map((r) => r.id);
        if (ids.length === 0) break;
        await materializeForAnnotations(trx, ids, maxDepth);
        resolved += ids.length;
        after = ids.at(-1) as string;
      }
    }
    await trx
      .insertInto("settings")
      .values({ key: DEPTH_SETTING, value: String(maxDepth) })
      .onConflict((oc) => oc.column("key").doUpdateSet({ value: String(maxDepth) }))
      .execute();
  });
  return resolved;
}
