/**
 * Resolution (PRODUCT.md "Concepts"): the annotations of a call are those on any tag reachable downstream
 * from the call's tags; the calls of a tag are those reachable upstream from it. Cycles, fan-in and fan-out
 * are allowed, every walk stops at the depth bound, and order of arrival does not matter.
 *
 * Walks are recursive CTEs that run unchanged on SQLite and PostgreSQL: `UNION` (not `UNION ALL`) drops
 * repeated (tag, depth) rows, and the depth bound ends cycles. Raw SQL here uses snake_case names.
 * Joins from a walk are written `from walk cross join t where t.x = walk.tag`: SQLite then keeps the walk as
 * the outer loop and searches `t` by index (with `join ... on` and a GROUP BY it chose to scan all of `t`);
 * PostgreSQL plans both forms alike.
 *
 * The pairs (call, annotation) are also materialized in `call_annotations`, maintained incrementally:
 * - a new annotation on key k applies to every call reaching k;
 * - a new link u → d joins every call reaching u to every annotation reachable from d, when the two walks
 *   plus the link fit in the depth bound (shortest paths on each side give the shortest path through the link);
 * - a new call takes every annotation reachable from its tags.
 * Links and annotations are never deleted, so pairs only ever appear: insertion is the whole story.
 * This is complete only if writers do not overlap: see `lockGraphWrites`.
 */
import { type Kysely, sql } from "kysely";
// From the file, not the calls door: the writer thread (writer.ts) runs this module's insert hook, and the door
// would bring the calls' routes, the HTTP layer and zod into its memory.
import { experimentTagConditions, experimentTags } from "../calls/experiment-tags.ts";
import type { Database, DialectName } from "../store/index.ts";

type Db = Kysely<Database>;

/** Key of the PostgreSQL advisory lock that serializes writers of the graph ("intersebd graph"). */
const GRAPH_WRITE_LOCK = 0x1e75_eb_9a;

/**
 * Takes the graph's write lock for the rest of the transaction; every transaction that inserts calls, links or
 * annotations takes it first. Each materializer joins what it writes with what the others wrote, so two
 * concurrent writers must not both miss each other: under PostgreSQL's READ COMMITTED a link u → d and an
 * annotation on d committed at the same moment would each see nothing to join, and the pair would be lost for
 * good. The lock makes graph writes run one after another, across instances. SQLite has a single writer.
 */
export async function lockGraphWrites(db: Db, dialect: DialectName): Promise<void> {
  if (dialect === "postgres")
    await sql`select pg_advisory_xact_lock(${sql.lit(GRAPH_WRITE_LOCK)})`.execute(db);
}

/**
 * The calls that the tags of walk `w` name, as rows of `columns` (columns of `w`) followed by the call id.
 * A tag names a call by its id, by its completion id, as one of its `call_tags`, or as its experiment's or
 * variant's tag (calls/experiment-tags.ts). This is the `call_keys` view spelled out: joined to a walk, the view
 * would be materialized whole, where each branch here is an index search per tag.
 */
export function callsNamedBy(w: string, columns: string) {
  const [experiment, variant] = experimentTagConditions("c", `${w}.tag`);
  return sql.raw(`
    select ${columns}, c.id from ${w} cross join calls c where c.id = ${w}.tag
    union all
    select ${columns}, c.id from ${w} cross join calls c where c.completion_id = ${w}.tag
    union all
    select ${columns}, ct.call_id from ${w} cross join call_tags ct where ct.tag = ${w}.tag
    union all
    select ${columns}, c.id from ${w} cross join calls c where ${experiment}
    union all
    select ${columns}, c.id from ${w} cross join calls c where ${variant}`);
}

/** Materializes the pairs for annotations just inserted. */
export async function materializeForAnnotations(
  db: Db,
  annotationIds: string[],
  maxDepth: number,
): Promise<void> {
  if (annotationIds.length === 0) return;
  await sql`
    with recursive up(annotation_id, tag, depth) as (
      select id, key, 0 from annotations where id in (${sql.join(annotationIds)})
      union
      select up.annotation_id, l.upstream_tag, up.depth + 1
      from links l join up on l.downstream_tag = up.tag
      where up.depth < ${maxDepth}
    ),
    hit(annotation_id, call_id) as (${callsNamedBy("up", "up.annotation_id")})
    insert into call_annotations (call_id, annotation_id)
    select distinct call_id, annotation_id from hit where true
    on conflict do nothing`.execute(db);
}

/**
 * Materializes the pairs that links just inserted create, for a whole batch in one statement: each link is
 * walked upstream from its source and downstream from its target, and the two sides are joined per link.
 */
export async function materializeForLinks(
  db: Db,
  links: Array<{ upstreamTag: string; downstreamTag: string }>,
  maxDepth: number,
): Promise<void> {
  for (let i = 0; i < links.length; i += 300) {
    const chunk = links.slice(i, i + 300);
    const seeds = sql.join(
      chunk.map((l, j) => sql`(${i + j}, cast(${l.upstreamTag} as text), cast(${l.downstreamTag} as text))`),
    );
    await sql`
      with recursive seeds(link, src, dst) as (values ${seeds}),
      up(link, tag, depth) as (
        select link, src, 0 from seeds
        union
        select up.link, l.upstream_tag, up.depth + 1 from up cross join links l
        where l.downstream_tag = up.tag and up.depth < ${maxDepth - 1}
      ),
      down(link, tag, depth) as (
        select link, dst, 0 from seeds
        union
        select down.link, l.downstream_tag, down.depth + 1 from down cross join links l
        where l.upstream_tag = down.tag and down.depth < ${maxDepth - 1}
      ),
      hit(link, depth, call_id) as (${callsNamedBy("up", "up.link, up.depth")}),
      c as (select link, call_id, min(depth) as depth from hit group by link, call_id),
      a as (
        select down.link, an.id, min(down.depth) as depth from down cross join annotations an
        where an.key = down.tag group by down.link, an.id
      )
      insert into call_annotations (call_id, annotation_id)
      select distinct c.call_id, a.id from c cross join a
      where a.link = c.link and c.depth + 1 + a.depth <= ${maxDepth}
      on conflict do nothing`.execute(db);
  }
}

/**
 * Materializes the pairs for calls just inserted (their tags may already have links and annotations). The walk
 * goes from each distinct tag once, not once per call: a tag many calls of the batch share (an experiment's, a
 * feature's) costs its lookups once. Most walks reach no annotation, and then nothing is joined back.
 */
export async function materializeForCalls(
  db: Db,
  callIds: string[],
  maxDepth: number,
  withExperimentTags = true,
): Promise<void> {
  if (callIds.length === 0) return;
  const ids = sql.join(callIds);
  // `call_keys` without its experiment arms (migration 0021) when those tags lead nowhere.
  const seeds = withExperimentTags
    ? sql`select call_id, tag from call_keys where call_id in (${ids})`
    : sql`select id, id from calls where id in (${ids})
      union all select id, completion_id from calls where id in (${ids}) and completion_id is not null
      union all select call_id, tag from call_tags where call_id in (${ids})`;
  await sql`
    with recursive seeds(call_id, tag) as (${seeds}),
    down(seed, tag, depth) as (
      select distinct tag, tag, 0 from seeds
      union
      select down.seed, l.downstream_tag, down.depth + 1
      from links l join down on l.upstream_tag = down.tag
      where down.depth < ${maxDepth}
    ),
    reached(seed, annotation_id) as (
      select distinct down.seed, an.id from down cross join annotations an where an.key = down.tag
    )
    insert into call_annotations (call_id, annotation_id)
    select distinct seeds.call_id, reached.annotation_id from reached cross join seeds
    where seeds.tag = reached.seed
    on conflict do nothing`.execute(db);
}

/**
 * The graph's part of every insert of calls (calls/insert.ts's `InsertHook`, wired in server.ts): take the
 * write lock before the rows, then materialize the pairs of the calls just stored, in the same transaction.
 */
export function resolutionOnInsert(
  dialect: DialectName,
  maxDepth: number,
): {
  begin(trx: Db): Promise<void>;
  afterInsert(trx: Db, callIds: string[], rows: ExperimentColumns[]): Promise<void>;
} {
  return {
    begin: (trx) => lockGraphWrites(trx, dialect),
    afterInsert: async (trx, callIds, rows) =>
      materializeForCalls(trx, callIds, maxDepth, await experimentTagsLead(trx, rows)),
  };
}

type ExperimentColumns = { experiment?: string | null; variant?: string | null };

/**
 * Whether an experiment tag of the batch (every routed call has two, most batches share them) can lead anywhere:
 * a link leaves it or an annotation names it. Mostly none does, and the batch's walk then leaves the experiment
 * tags out: one lookup of a few tags per batch, where walking them cost index searches per call and tag.
 */
async function experimentTagsLead(db: Db, rows: ExperimentColumns[]): Promise<boolean> {
  const tags = new Set<string>();
  for (const r of rows) for (const t of experimentTags(r.experiment, r.variant)) tags.add(t);
  if (tags.size === 0) return false;
  const list = sql.join([...tags]);
  const { rows: used } = await sql`
    select 1 from links where upstream_tag in (${list})
    union all select 1 from annotations where key in (${list})`.execute(db);
  return used.length > 0;
}

export interface WalkStep {
  tag: string;
  depth: number;
  /** The tag this one was reached from (null at the start). */
  via: string | null;
}

/**
 * Every tag reachable from `start` (downstream, or upstream), with a shortest path back to the start.
 * Returns a map tag → path (start first).
 */
export async function walk(
  db: Db,
  start: string[],
  direction: "down" | "up",
  maxDepth: number,
): Promise<Map<string, string[]>> {
  if (start.length === 0) return new Map();
  const [from, to] =
    direction === "down"
      ? [sql.ref("l.upstream_tag"), sql.ref("l.downstream_tag")]
      : [sql.ref("l.downstream_tag"), sql.ref("l.upstream_tag")];
  const seeds = sql.join(
    start.map((t) => sql`select cast(${t} as text) as tag, 0 as depth, cast(null as text) as via`),
    sql` union all `,
  );
  const { rows } = await sql<WalkStep>`
    with recursive w(tag, depth, via) as (
      ${seeds}
      union
      select ${to}, w.depth + 1, w.tag from links l join w on ${from} = w.tag
      where w.depth < ${maxDepth}
    )
    select tag, depth, via from w order by depth`.execute(db);
  // Breadth-first order means the first time a tag appears is at its shortest depth.
  const paths = new Map<string, string[]>();
  for (const r of rows) {
    if (paths.has(r.tag)) continue;
    const prev = r.via === null ? undefined : paths.get(r.via);
    paths.set(r.tag, prev ? [...prev, r.tag] : [r.tag]);
  }
  return paths;
}
