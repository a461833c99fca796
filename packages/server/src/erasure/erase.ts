/**
 * Erasure (issue 18 item 4): every call of a user id, a session id or a tag goes, with what only concerns them.
 *
 * "Only concerns them", as resolution (graph/resolve.ts) defines who a tag is about: a tag's calls are those
 * reachable upstream from it within the depth bound. A tag is *erased* when it has calls and all of them are
 * erased. Then:
 * - an annotation goes when its key is an erased tag (a call's id or completion id always is; a tag shared with a
 *   kept call is not, and its annotations stay);
 * - a link goes when both its ends are erased tags;
 * - a comparison goes when either side is an erased tag: a choice between two answers with one of them gone
 *   compares nothing, and its reason may quote the erased answer;
 * - a notification goes when its completion id is an erased tag, with its webhook job (whose payload holds its
 *   message) and its review-queue rows.
 * Copies of an erased call's request go too, as erased calls: its shadow calls (experiments), the regenerations
 * of conversation evaluations of it, and the candidate calls of evaluation items whose baseline it is (those
 * items and their check results, and the conversation evaluation items, are erased with them).
 * Dataset snapshots stop listing erased calls: their rows go, `call_count` drops and `erased_calls` says by how
 * many. Live evaluator jobs of erased calls go.
 *
 * Everything runs in one transaction with the graph's write lock (no call, link or annotation lands halfway),
 * and the audit row is written in it. SQLite runs it with `secure_delete` on (deleted cells and freed pages are
 * zeroed) and truncates the WAL after, so the erased text is in neither file; PostgreSQL vacuums the tables after
 * (README, "Erased means gone from the files").
 */
import { createHash } from "node:crypto";
import { type Kysely, sql } from "kysely";
import { callsNamedBy, lockGraphWrites } from "../graph/index.ts";
import { type DependentRowCounts, noDependentRows } from "../retention/index.ts";
import type { Database, Store } from "../store/index.ts";
import { newId } from "../util/ids.ts";

type Db = Kysely<Database>;

export type SelectorKind = "userId" | "sessionId" | "tag";

/** What to erase: the value as the store holds it (a user id already hashed where ids are hashed). */
export interface Selector {
  kind: SelectorKind;
  value: string;
}

/** Rows erased, per kind. */
export interface ErasureCounts extends DependentRowCounts {
  /** Calls erased, their copies included. */
  calls: number;
  /** Of those, copies of a selected call's request (shadows, regenerations, evaluation candidates). */
  derivedCalls: number;
  reviewQueueItems: number;
  evalItems: number;
  evalCheckResults: number;
  conversationItems: number;
  /** How many dataset snapshots lost rows. */
  snapshotsUpdated: number;
}

/** How the files are cleaned after: `plain` (default), `full` (VACUUM FULL / VACUUM: the whole file rewritten), `off`. */
export type VacuumMode = "off" | "plain" | "full";

export interface EraseOptions {
  /** The link depth bound (INTERSEBD_LINK_DEPTH), which resolution uses. */
  maxDepth: number;
  /** Who asked: the API key's name, or `admin`. */
  actor: string;
  /** Count what would go, erase nothing, write no audit row. */
  dryRun?: boolean;
  vacuum?: VacuumMode;
  /** Told when the cleaning after the erasure fails (the erasure itself is committed by then). */
  warn?: (message: string) => void;
}

export interface ErasureResult {
  selector: { kind: SelectorKind; hash: string };
  dryRun: boolean;
  counts: ErasureCounts;
  /** The audit row's id; null for a dry run. */
  auditId: string | null;
}

/** Rows per `in (...)` list: far under SQLite's and PostgreSQL's parameter limits. */
const CHUNK = 500;

/** Hex SHA-256 of the selector's value: what the audit log keeps instead of it. */
export function selectorHash(sel: Selector): string {
  return createHash("sha256").update(`${sel.kind}:${sel.value}`).digest("hex");
}

function emptyCounts(): ErasureCounts {
  return {
    ...noDependentRows(),
    calls: 0,
    derivedCalls: 0,
    reviewQueueItems: 0,
    evalItems: 0,
    evalCheckResults: 0,
    conversationItems: 0,
    snapshotsUpdated: 0,
  };
}

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

const deleted = (r: Array<{ numDeletedRows: bigint }> | { numDeletedRows: bigint }): number =>
  Array.isArray(r) ? r.reduce((n, x) => n + Number(x.numDeletedRows), 0) : Number(r.numDeletedRows);

/** Thrown inside a dry run's transaction so that everything it did is rolled back. */
class DryRun extends Error {
  readonly counts: ErasureCounts;
  constructor(counts: ErasureCounts) {
    super("dry run");
    this.counts = counts;
  }
}

/**
 * Erases what `sel` selects (see the file's comment) and records it in the audit log, or with `dryRun` only
 * counts it.
 * @example
 * ```ts
 * const { counts } = await erase(store, { kind: "userId", value: "u-42" }, { maxDepth: 10, actor: "admin" });
 * ```
 */
export async function erase(store: Store, sel: Selector, opts: EraseOptions): Promise<ErasureResult> {
  const sqlite = store.dialect.name === "sqlite";
  const hash = selectorHash(sel);
  const auditId = opts.dryRun ? null : newId("aud");
  let counts: ErasureCounts;
  try {
    counts = await store.db.connection().execute(async (conn) => {
      // On the connection the transaction runs on (SQLite has one): deleted cells and freed pages are zeroed.
      if (sqlite && !opts.dryRun) await sql`pragma secure_delete = on`.execute(conn);
      try {
        return await conn.transaction().execute(async (trx) => {
          await lockGraphWrites(trx, store.dialect.name);
          const c = await eraseIn(trx, sel, opts.maxDepth);
          if (opts.dryRun) throw new DryRun(c);
          await trx
            .insertInto("auditLog")
            .values({
              id: auditId as string,
              at: Date.now(),
              actor: opts.actor,
              action: "erase",
              selectorKind: sel.kind,
              selectorHash: hash,
              counts: JSON.stringify(c),
            })
            .execute();
          return c;
        });
      } finally {
        if (sqlite && !opts.dryRun) await sql`pragma secure_delete = off`.execute(conn);
      }
    });
  } catch (err) {
    if (err instanceof DryRun)
      return { selector: { kind: sel.kind, hash }, dryRun: true, counts: err.counts, auditId: null };
    throw err;
  }
  await cleanFiles(store, opts.vacuum ?? "plain").catch((err: unknown) =>
    opts.warn?.(
      `erasure ${auditId}: committed, but cleaning the database files failed (${(err as Error).message}); ` +
        "run VACUUM on the store",
    ),
  );
  return { selector: { kind: sel.kind, hash }, dryRun: false, counts, auditId };
}

/** The tables an erasure deletes from, vacuumed after it on PostgreSQL. */
const TOUCHED = [
  "calls",
  "call_tags",
  "call_annotations",
  "annotations",
  "links",
  "comparisons",
  "notifications",
  "webhook_jobs",
  "review_queue_items",
  "live_jobs",
  "eval_items",
  "eval_check_results",
  "conversation_eval_items",
  "dataset_snapshot_calls",
];

/**
 * SQLite: the WAL still holds the pages as they were before the erasure (the text included) until a checkpoint
 * copies the new pages into the database file and truncates it. PostgreSQL: deleted tuples stay in their pages
 * until VACUUM (plain: the space is reclaimed for reuse; full: the tables are rewritten to new files).
 */
async function cleanFiles(store: Store, mode: VacuumMode): Promise<void> {
  if (mode === "off") return;
  if (store.dialect.name === "sqlite") {
    if (mode === "full") await sql`vacuum`.execute(store.db);
    await sql`pragma wal_checkpoint(TRUNCATE)`.execute(store.db);
    return;
  }
  const tables = sql.join(TOUCHED.map((t) => sql.id(t)));
  await (mode === "full" ? sql`vacuum full ${tables}` : sql`vacuum ${tables}`).execute(store.db);
}

/** The calls `sel` names directly. */
async function selectedCalls(db: Db, sel: Selector): Promise<string[]> {
  if (sel.kind === "tag") {
    const rows = await db
      .selectFrom("callKeys")
      .select("callId")
      .distinct()
      .where("tag", "=", sel.value)
      .execute();
    return rows.map((r) => r.callId);
  }
  const column = sel.kind === "userId" ? "userId" : "sessionId";
  const rows = await db.selectFrom("calls").select("id").where(column, "=", sel.value).execute();
  return rows.map((r) => r.id);
}

/** Calls that copy a request of `ids`: shadows, regenerations, evaluation candidates. */
async function copiesOf(db: Db, ids: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const part of chunks(ids)) {
    const shadows = await db.selectFrom("calls").select("id").where("shadowOf", "in", part).execute();
    const regens = await db
      .selectFrom("conversationEvalItems")
      .select("regenCallId as id")
      .where("originalCallId", "in", part)
      .where("regenCallId", "is not", null)
      .execute();
    const candidates = await db
      .selectFrom("evalItems")
      .select(["candidateCallId", "attemptCallId"])
      .where("baselineCallId", "in", part)
      .execute();
    for (const r of shadows) out.push(r.id);
    for (const r of regens) if (r.id) out.push(r.id);
    for (const r of candidates) {
      if (r.candidateCallId) out.push(r.candidateCallId);
      if (r.attemptCallId) out.push(r.attemptCallId);
    }
  }
  return out;
}

/** `values` rows of one text column, typed on both databases. */
const valuesOf = (tags: string[]) => sql.join(tags.map((t) => sql`(cast(${t} as text))`));

/** Tags with every call reachable upstream from them (within the bound) in `erased`, and at least one. */
async function erasedTags(db: Db, erased: Set<string>, maxDepth: number): Promise<string[]> {
  const keys = new Set<string>();
  for (const part of chunks([...erased])) {
    const rows = await db.selectFrom("callKeys").select("tag").where("callId", "in", part).execute();
    for (const r of rows) keys.add(r.tag);
  }
  // Only tags downstream of an erased call's keys can lead to it.
  const candidates = new Set<string>();
  for (const part of chunks([...keys])) {
    const { rows } = await sql<{ tag: string }>`
      with recursive seeds(tag) as (values ${valuesOf(part)}),
      down(tag, depth) as (
        select tag, 0 from seeds
        union
        select l.downstream_tag, down.depth + 1 from down cross join links l
        where l.upstream_tag = down.tag and down.depth < ${maxDepth}
      )
      select distinct tag from down`.execute(db);
    for (const r of rows) candidates.add(r.tag);
  }
  const out: string[] = [];
  for (const part of chunks([...candidates])) {
    const { rows } = await sql<{ seed: string; cid: string }>`
      with recursive seeds(tag) as (values ${valuesOf(part)}),
      up(seed, tag, depth) as (
        select tag, tag, 0 from seeds
        union
        select up.seed, l.upstream_tag, up.depth + 1 from up cross join links l
        where l.downstream_tag = up.tag and up.depth < ${maxDepth}
      ),
      hit(seed, cid) as (${callsNamedBy("up", "up.seed")})
      select distinct seed, cid from hit`.execute(db);
    const kept = new Set<string>();
    const reached = new Set<string>();
    for (const r of rows) {
      reached.add(r.seed);
      if (!erased.has(r.cid)) kept.add(r.seed);
    }
    for (const t of reached) if (!kept.has(t)) out.push(t);
  }
  return out;
}

/** The erasure itself, inside the transaction; answers the counts. */
async function eraseIn(db: Db, sel: Selector, maxDepth: number): Promise<ErasureCounts> {
  const counts = emptyCounts();
  const selected = await selectedCalls(db, sel);
  const erased = new Set(selected);
  // Copies of copies (a shadow's regeneration...) until none is new.
  let frontier = selected;
  while (frontier.length) {
    frontier = (await copiesOf(db, frontier)).filter((id) => !erased.has(id));
    for (const id of frontier) erased.add(id);
  }
  const ids = [...erased];
  if (ids.length === 0 && sel.kind !== "sessionId") return counts;
  counts.derivedCalls = ids.length - selected.length;

  // Read before anything is deleted: the walk needs the calls and their tags.
  const tags = await erasedTags(db, erased, maxDepth);

  for (const part of chunks(tags)) {
    const annotations = await db.selectFrom("annotations").select("id").where("key", "in", part).execute();
    const annotationIds = annotations.map((a) => a.id);
    for (const a of chunks(annotationIds)) {
      counts.callAnnotations += deleted(
        await db.deleteFrom("callAnnotations").where("annotationId", "in", a).execute(),
      );
      counts.annotations += deleted(await db.deleteFrom("annotations").where("id", "in", a).execute());
    }
    counts.comparisons += deleted(
      await db
        .deleteFrom("comparisons")
        .where((eb) => eb.or([eb("a", "in", part), eb("b", "in", part)]))
        .execute(),
    );
    const notifications = await db
      .selectFrom("notifications")
      .select("id")
      .where("completionId", "in", part)
      .execute();
    for (const n of chunks(notifications.map((r) => r.id))) {
      counts.webhookJobs += deleted(
        await db.deleteFrom("webhookJobs").where("notificationId", "in", n).execute(),
      );
      counts.reviewQueueItems += deleted(
        await db.deleteFrom("reviewQueueItems").where("notificationId", "in", n).execute(),
      );
      counts.notifications += deleted(await db.deleteFrom("notifications").where("id", "in", n).execute());
    }
  }
  // Links need both ends erased: the whole set of erased tags, looked up one end at a time.
  const erasedTagSet = new Set(tags);
  for (const part of chunks(tags)) {
    const links = await db
      .selectFrom("links")
      .select(["upstreamTag", "downstreamTag"])
      .where("upstreamTag", "in", part)
      .execute();
    for (const l of links) {
      if (!erasedTagSet.has(l.downstreamTag)) continue;
      counts.links += deleted(
        await db
          .deleteFrom("links")
          .where("upstreamTag", "=", l.upstreamTag)
          .where("downstreamTag", "=", l.downstreamTag)
          .execute(),
      );
    }
  }

  const snapshotRows = new Map<string, number>();
  for (const part of chunks(ids)) {
    counts.callAnnotations += deleted(
      await db.deleteFrom("callAnnotations").where("callId", "in", part).execute(),
    );
    counts.reviewQueueItems += deleted(
      await db.deleteFrom("reviewQueueItems").where("callId", "in", part).execute(),
    );
    counts.liveJobs += deleted(await db.deleteFrom("liveJobs").where("callId", "in", part).execute());
    const items = await db
      .selectFrom("evalItems")
      .select(["runId", "itemIndex"])
      .where("baselineCallId", "in", part)
      .execute();
    for (const it of items) {
      counts.evalCheckResults += deleted(
        await db
          .deleteFrom("evalCheckResults")
          .where("runId", "=", it.runId)
          .where("itemIndex", "=", it.itemIndex)
          .execute(),
      );
    }
    counts.evalItems += deleted(
      await db.deleteFrom("evalItems").where("baselineCallId", "in", part).execute(),
    );
    counts.conversationItems += deleted(
      await db
        .deleteFrom("conversationEvalItems")
        .where((eb) => eb.or([eb("originalCallId", "in", part), eb("regenCallId", "in", part)]))
        .execute(),
    );
    const perSnapshot = await db
      .selectFrom("datasetSnapshotCalls")
      .select((eb) => ["snapshotId", eb.fn.countAll<number | string>().as("n")])
      .where("callId", "in", part)
      .groupBy("snapshotId")
      .execute();
    for (const r of perSnapshot)
      snapshotRows.set(r.snapshotId, (snapshotRows.get(r.snapshotId) ?? 0) + Number(r.n));
    counts.snapshotRows += deleted(
      await db.deleteFrom("datasetSnapshotCalls").where("callId", "in", part).execute(),
    );
    counts.callTags += deleted(await db.deleteFrom("callTags").where("callId", "in", part).execute());
    counts.calls += deleted(await db.deleteFrom("calls").where("id", "in", part).execute());
  }
  // A session's conversation evaluation items copy its turns even when no call id was kept with them.
  if (sel.kind === "sessionId")
    counts.conversationItems += deleted(
      await db.deleteFrom("conversationEvalItems").where("sessionId", "=", sel.value).execute(),
    );
  for (const [snapshotId, n] of snapshotRows) {
    await db
      .updateTable("datasetSnapshots")
      .set((eb) => ({
        callCount: sql<
          number | null
        >`case when ${eb.ref("callCount")} is null then null else ${eb.ref("callCount")} - ${n} end`,
        erasedCalls: eb("erasedCalls", "+", n),
      }))
      .where("id", "=", snapshotId)
      .execute();
  }
  counts.snapshotsUpdated = snapshotRows.size;
  return counts;
}
