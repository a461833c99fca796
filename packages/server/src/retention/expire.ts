/**
 * Retention by age, in bounded batches: each transaction takes at most `batch` calls, oldest first, so that
 * neither database holds a lock for long and the proxy's writes interleave. Two kinds of expiry:
 * - bodies: the request, the response and the previews of calls older than the bodies horizon become null and
 *   the call is marked (`bodies_expired_at`); the row, its tags and its graph stay;
 * - calls: calls older than the calls horizon are deleted with what hangs only on them (see `deleteBatch`).
 * Annotated or compared calls and calls in a dataset snapshot ("kept" calls) are exempt from both until the kept
 * horizon, or for good without one. Every step is idempotent, so two instances running it at once only share
 * the work (PostgreSQL: an advisory lock makes the second one stop instead).
 */
import {
  type Expression,
  type ExpressionBuilder,
  type Kysely,
  type SqlBool,
  sql,
  type Transaction,
} from "kysely";
import { experimentTagSql, experimentTags } from "../calls/index.ts";
import type { RetentionConfig } from "../config/index.ts";
import type { Database, Store } from "../store/index.ts";

/**
 * The rows that hang off calls and go with them, whoever removes the calls: retention here, erasure
 * (erasure/erase.ts) on request. Counted by kind.
 */
export interface DependentRowCounts {
  callTags: number;
  callAnnotations: number;
  annotations: number;
  links: number;
  comparisons: number;
  notifications: number;
  webhookJobs: number;
  liveJobs: number;
  /** Rows taken out of dataset snapshots. */
  snapshotRows: number;
}

/** What one run did, row counts by kind. */
export interface RetentionCounts extends DependentRowCounts {
  bodiesExpired: number;
  callsDeleted: number;
  reviewItems: number;
  /** Transactions committed (one per batch). */
  batches: number;
}

/** Nothing removed yet, for retention and erasure alike. */
export function noDependentRows(): DependentRowCounts {
  return {
    callTags: 0,
    callAnnotations: 0,
    annotations: 0,
    links: 0,
    comparisons: 0,
    notifications: 0,
    webhookJobs: 0,
    liveJobs: 0,
    snapshotRows: 0,
  };
}

export function emptyCounts(): RetentionCounts {
  return { ...noDependentRows(), bodiesExpired: 0, callsDeleted: 0, reviewItems: 0, batches: 0 };
}

export interface RunOptions {
  now?: number;
  /** Called after each committed batch with its kind and the number of calls it took (tests: bounded batches). */
  onBatch?(kind: "bodies" | "calls", calls: number): void;
  /** Whether to keep going (false when the server is stopping): checked between batches. */
  running?(): boolean;
}

// An IN list stays well under both databases' bound on parameters (SQLite 32,766; PostgreSQL 65,535).
const IN_CHUNK = 500;

function chunks<T>(xs: T[], size = IN_CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

/**
 * Kept calls: annotated (a `call_annotations` row, however the annotation reached it), compared (a comparison
 * naming one of its own keys) or listed in a dataset snapshot. Each test walks an index.
 */
function isKept(eb: ExpressionBuilder<Database, "calls">) {
  const compared = (side: "comparisons.a" | "comparisons.b") => [
    eb.exists(eb.selectFrom("comparisons").select(sql`1`.as("x")).whereRef(side, "=", "calls.id")),
    eb.exists(eb.selectFrom("comparisons").select(sql`1`.as("x")).whereRef(side, "=", "calls.completionId")),
    eb.exists(
      eb
        .selectFrom("callTags")
        .innerJoin("comparisons", side, "callTags.tag")
        .select(sql`1`.as("x"))
        .whereRef("callTags.callId", "=", "calls.id"),
    ),
    // A comparison naming the call's experiment or variant tag (calls/experiment-tags.ts: not `call_tags` rows).
    ...experimentTagSql("calls").map((tag) =>
      eb.exists(
        eb.selectFrom("comparisons").select(sql`1`.as("x")).where(sql.ref(side), "=", sql.raw<string>(tag)),
      ),
    ),
  ];
  return eb.or([
    eb.exists(
      eb
        .selectFrom("callAnnotations")
        .select(sql`1`.as("x"))
        .whereRef("callAnnotations.callId", "=", "calls.id"),
    ),
    eb.exists(
      eb
        .selectFrom("datasetSnapshotCalls")
        .select(sql`1`.as("x"))
        .whereRef("datasetSnapshotCalls.callId", "=", "calls.id"),
    ),
    ...compared("comparisons.a"),
    ...compared("comparisons.b"),
  ]);
}

/** Older than `cutoff` and, unless older than the kept cutoff too, not kept. */
function due(cutoff: number, keptCutoff: number | undefined) {
  return (eb: ExpressionBuilder<Database, "calls">): Expression<SqlBool> => {
    const exempt = eb.not(isKept(eb));
    return eb.and([
      eb("calls.startedAt", "<", cutoff),
      keptCutoff === undefined ? exempt : eb.or([eb("calls.startedAt", "<", keptCutoff), exempt]),
    ]);
  };
}

/**
 * PostgreSQL: one instance at a time, per transaction; the loser answers false and its run ends (the winner
 * does the work). SQLite has a single writer: there is nothing to take.
 */
async function takeTurn(trx: Transaction<Database>, store: Store): Promise<boolean> {
  if (store.dialect.name !== "postgres") return true;
  const { rows } = await sql<{ ok: boolean }>`
    select pg_try_advisory_xact_lock(hashtext('intersebd-retention')) as ok`.execute(trx);
  return rows[0]?.ok === true;
}

/**
 * One batch of bodies: answers how many calls it took and how many of them it marked (another instance may have
 * marked some first), or undefined when another instance holds the turn.
 */
async function expireBodiesBatch(
  store: Store,
  cutoff: number,
  keptCutoff: number | undefined,
  batch: number,
  now: number,
): Promise<{ taken: number; marked: number } | undefined> {
  return store.db.transaction().execute(async (trx) => {
    if (!(await takeTurn(trx, store))) return undefined;
    const ids = (
      await trx
        .selectFrom("calls")
        .select("calls.id")
        // Spelled as the partial index's predicate, so both planners walk `calls_bodies_held`.
        .where("calls.bodiesExpiredAt", "is", null)
        .where(due(cutoff, keptCutoff))
        .orderBy("calls.startedAt")
        .limit(batch)
        .execute()
    ).map((r) => r.id);
    let n = 0;
    for (const part of chunks(ids)) {
      const r = await trx
        .updateTable("calls")
        .set({
          request: null,
          response: null,
          originalRequest: null,
          originalResponse: null,
          previewInput: null,
          previewOutput: null,
          bodiesExpiredAt: now,
        })
        .where("id", "in", part)
        .where("bodiesExpiredAt", "is", null)
        .executeTakeFirst();
      n += Number(r.numUpdatedRows);
    }
    return { taken: ids.length, marked: n };
  });
}

/** Rows deleted by a statement. */
const deleted = (r: { numDeletedRows: bigint }) => Number(r.numDeletedRows);

/** Which of `keys` still resolve to a call (its id, its completion id or one of its tags). */
async function liveKeys(trx: Kysely<Database>, keys: string[]): Promise<Set<string>> {
  const live = new Set<string>();
  for (const part of chunks(keys)) {
    const rows = await trx
      .selectFrom("callKeys")
      .select("callKeys.tag")
      .where("callKeys.tag", "in", part)
      .execute();
    for (const r of rows) live.add(r.tag);
  }
  return live;
}

/**
 * Deletes the calls `ids` and what hangs only on them: their tags, annotation rows, snapshot rows, live jobs and
 * review items; then, among the keys they answered to that no call answers to any more, the notifications on
 * those keys (with their webhook jobs), the links and comparisons neither end of which resolves to a call, and
 * the annotations left applying to no call.
 */
async function deleteCalls(
  trx: Kysely<Database>,
  rows: Array<{ id: string; completionId: string | null; experiment: string | null; variant: string | null }>,
  counts: RetentionCounts,
): Promise<void> {
  const ids = rows.map((r) => r.id);
  const keys = new Set<string>();
  const annotationIds = new Set<string>();
  for (const r of rows) {
    keys.add(r.id);
    if (r.completionId) keys.add(r.completionId);
    for (const t of experimentTags(r.experiment, r.variant)) keys.add(t);
  }
  for (const part of chunks(ids)) {
    for (const t of await trx.selectFrom("callTags").select("tag").where("callId", "in", part).execute()) {
      keys.add(t.tag);
    }
    for (const a of await trx
      .selectFrom("callAnnotations")
      .select("annotationId")
      .where("callId", "in", part)
      .execute()) {
      annotationIds.add(a.annotationId);
    }
    counts.callTags += deleted(
      await trx.deleteFrom("callTags").where("callId", "in", part).executeTakeFirst(),
    );
    counts.callAnnotations += deleted(
      await trx.deleteFrom("callAnnotations").where("callId", "in", part).executeTakeFirst(),
    );
    counts.snapshotRows += deleted(
      await trx.deleteFrom("datasetSnapshotCalls").where("callId", "in", part).executeTakeFirst(),
    );
    counts.liveJobs += deleted(
      await trx.deleteFrom("liveJobs").where("callId", "in", part).executeTakeFirst(),
    );
    counts.reviewItems += deleted(
      await trx.deleteFrom("reviewQueueItems").where("callId", "in", part).executeTakeFirst(),
    );
    counts.callsDeleted += deleted(await trx.deleteFrom("calls").where("id", "in", part).executeTakeFirst());
  }

  const live = await liveKeys(trx, [...keys]);
  const dead = [...keys].filter((k) => !live.has(k));
  const resolves = (eb: ExpressionBuilder<Database, "links" | "comparisons">, ref: "links.upstreamTag") =>
    eb.exists(eb.selectFrom("callKeys").select("callKeys.callId").whereRef("callKeys.tag", "=", ref));
  for (const part of chunks(dead)) {
    counts.links += deleted(
      await trx
        .deleteFrom("links")
        .where((eb) =>
          eb.and([
            eb.or([eb("upstreamTag", "in", part), eb("downstreamTag", "in", part)]),
            eb.not(resolves(eb, "links.upstreamTag")),
            eb.not(resolves(eb, "links.downstreamTag" as "links.upstreamTag")),
          ]),
        )
        .executeTakeFirst(),
    );
    counts.comparisons += deleted(
      await trx
        .deleteFrom("comparisons")
        .where((eb) =>
          eb.and([
            eb.or([eb("a", "in", part), eb("b", "in", part)]),
            eb.not(resolves(eb, "comparisons.a" as "links.upstreamTag")),
            eb.not(resolves(eb, "comparisons.b" as "links.upstreamTag")),
          ]),
        )
        .executeTakeFirst(),
    );
    const notes = (
      await trx.selectFrom("notifications").select("id").where("completionId", "in", part).execute()
    ).map((n) => n.id);
    if (notes.length) {
      counts.webhookJobs += deleted(
        await trx.deleteFrom("webhookJobs").where("notificationId", "in", notes).executeTakeFirst(),
      );
      counts.notifications += deleted(
        await trx.deleteFrom("notifications").where("id", "in", notes).executeTakeFirst(),
      );
    }
  }
  // An annotation goes when it applied to a deleted call, or was keyed to a dead key, and applies to no call now.
  const orphan = (eb: ExpressionBuilder<Database, "annotations">) =>
    eb.not(
      eb.exists(
        eb
          .selectFrom("callAnnotations")
          .select("callAnnotations.callId")
          .whereRef("callAnnotations.annotationId", "=", "annotations.id"),
      ),
    );
  for (const part of chunks([...annotationIds])) {
    counts.annotations += deleted(
      await trx
        .deleteFrom("annotations")
        .where((eb) => eb.and([eb("id", "in", part), orphan(eb)]))
        .executeTakeFirst(),
    );
  }
  for (const part of chunks(dead)) {
    counts.annotations += deleted(
      await trx
        .deleteFrom("annotations")
        .where((eb) => eb.and([eb("key", "in", part), orphan(eb)]))
        .executeTakeFirst(),
    );
  }
}

/** One batch of calls: answers how many it deleted, or -1 when another instance holds the turn. */
async function deleteCallsBatch(
  store: Store,
  cutoff: number,
  keptCutoff: number | undefined,
  batch: number,
  counts: RetentionCounts,
): Promise<number> {
  return store.db.transaction().execute(async (trx) => {
    if (!(await takeTurn(trx, store))) return -1;
    const rows = await trx
      .selectFrom("calls")
      .select(["calls.id", "calls.completionId", "calls.experiment", "calls.variant"])
      .where(due(cutoff, keptCutoff))
      .orderBy("calls.startedAt")
      .limit(batch)
      .execute();
    if (rows.length) await deleteCalls(trx, rows, counts);
    return rows.length;
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs retention until nothing is due: batches of bodies, then batches of calls, a pause between two. Throws
 * what the store throws (the job logs it and tries again at its next run); what committed stays committed.
 */
export async function runRetention(
  store: Store,
  cfg: RetentionConfig,
  opts: RunOptions = {},
): Promise<RetentionCounts> {
  const now = opts.now ?? Date.now();
  const counts = emptyCounts();
  const going = opts.running ?? (() => true);
  const keptCutoff = cfg.keptMs === undefined ? undefined : now - cfg.keptMs;
  // Calls first: those about to be deleted need not lose their bodies on the way.
  if (cfg.callsMs !== undefined) {
    const cutoff = now - cfg.callsMs;
    while (going()) {
      const n = await deleteCallsBatch(store, cutoff, keptCutoff, cfg.batch, counts);
      if (n < 0) return counts;
      if (n > 0) {
        counts.batches++;
        opts.onBatch?.("calls", n);
      }
      if (n < cfg.batch) break;
      await sleep(cfg.pauseMs);
    }
  }
  if (cfg.bodiesMs !== undefined) {
    const cutoff = now - cfg.bodiesMs;
    while (going()) {
      const r = await expireBodiesBatch(store, cutoff, keptCutoff, cfg.batch, now);
      if (!r) return counts;
      if (r.taken > 0) {
        counts.bodiesExpired += r.marked;
        counts.batches++;
        opts.onBatch?.("bodies", r.taken);
      }
      if (r.taken < cfg.batch) break;
      await sleep(cfg.pauseMs);
    }
  }
  return counts;
}
