import { type Kysely, sql } from "kysely";

/**
 * An evaluation item keeps the id of the candidate call its latest attempt made (`attempt_call_id`), written
 * as soon as the proxy answers, so a later attempt of the item reuses that call instead of paying for it twice.
 * Before, the later attempt searched the run's calls with a LIKE over their metadata's JSON text.
 *
 * Fills the column for items stored before it: a finished item's candidate call, and for an item that may be
 * claimed again (pending or running after an attempt), the newest ok candidate call the proxy logged for it,
 * found once here the way the search found it (the run's tag, then the metadata read as JSON).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Atomic on SQLite too (Kysely runs SQLite migrations outside a transaction): a restart halfway through
  // would otherwise find the column added and the migration not recorded, and fail to add it again.
  if (db.isTransaction) await run(db);
  else await db.transaction().execute(run);
}

async function run(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("eval_items").addColumn("attempt_call_id", "text").execute();
  await sql`update eval_items set attempt_call_id = candidate_call_id
    where candidate_call_id is not null`.execute(db);
  const { rows: runs } = await sql<{ runId: string }>`
    select distinct run_id as "runId" from eval_items
    where attempt_call_id is null and attempts > 0 and status in ('pending', 'running')`.execute(db);
  for (const { runId } of runs) {
    // Metadata only (small); the bodies stay in the database.
    const { rows: calls } = await sql<{ id: string; metadata: string }>`
      select calls.id as id, calls.metadata as metadata from calls
      join call_tags on call_tags.call_id = calls.id
      where call_tags.tag = ${`eval:${runId}`} and calls.outcome = 'ok' and calls.response is not null
      order by calls.started_at desc, calls.id desc`.execute(db);
    const newest = new Map<number, string>();
    for (const c of calls) {
      const m = metadataOf(c.metadata);
      // Judge calls carry evalRole; a candidate call has none.
      if (m?.evalRun !== runId || typeof m.evalItem !== "number" || m.evalRole !== undefined) continue;
      if (!newest.has(m.evalItem)) newest.set(m.evalItem, c.id);
    }
    for (const [index, callId] of newest) {
      await sql`update eval_items set attempt_call_id = ${callId}
        where run_id = ${runId} and item_index = ${index} and attempt_call_id is null
          and attempts > 0 and status in ('pending', 'running')`.execute(db);
    }
  }
}

function metadataOf(text: string): { evalRun?: unknown; evalItem?: unknown; evalRole?: unknown } | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === "object" ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
