/**
 * Reading the graph around a call or a tag: the annotations that apply to a call, the calls a tag leads back to,
 * and the two detail pages (`GET /api/calls/{id}`, `GET /api/tags/{tag}`).
 */
import { type CallView, callListRowsByIds, findCall, tagsOf, toCallView } from "../calls/index.ts";
import type { AppContext } from "../context.ts";
import type { CallRow, Store } from "../store/index.ts";
import { walk } from "./resolve.ts";
import {
  annotationView,
  type ComparisonView,
  comparisonView,
  type LinkView,
  linkView,
  type ResolvedAnnotation,
} from "./views.ts";

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

async function newestCallTagged(store: Store, tag: string): Promise<CallRow | undefined> {
  const hit = await store.db
    .selectFrom("callKeys")
    .innerJoin("calls", "calls.id", "callKeys.callId")
    .select("calls.id")
    .where("callKeys.tag", "=", tag)
    .orderBy("calls.startedAt", "desc")
    .limit(1)
    .executeTakeFirst();
  return hit ? findCall(store, hit.id) : undefined;
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

/**
 * One call with everything that resolves to it: `GET /api/calls/{callId, completionId or a tag of the call}`. A tag
 * several calls carry (an OpenTelemetry trace id, an experiment's) names the newest of them.
 */
export async function callDetail(ctx: AppContext, idOrTag: string): Promise<CallDetail | undefined> {
  const { store, config } = ctx;
  const row = (await findCall(store, idOrTag)) ?? (await newestCallTagged(store, idOrTag));
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
