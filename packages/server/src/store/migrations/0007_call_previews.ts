import { type Kysely, sql } from "kysely";
// The chat kit (chat/preview.ts), below the store: the same function fills the columns at insert, so rows stored
// before and after this migration agree.
import { type PreviewColumns, previewColumnsOfText } from "../../chat/preview.ts";

/** Calls whose ids are read per step; their bodies are then fetched in groups of at most `GROUP_CHARS`. */
const BATCH = 500;
/**
 * Body characters fetched at once: one group holds a few calls of 15 MB or hundreds of small ones, so memory
 * stays bounded whatever the calls hold (a group of one call may exceed it).
 */
const GROUP_CHARS = 16 * 1024 * 1024;
/** Rows per UPDATE: 4 parameters each, under SQLite's and PostgreSQL's limits. */
const UPDATE_ROWS = 200;

/**
 * Lists read a call's preview from bounded columns written at insert, not from its bodies (issue 12: parsing
 * every listed call's bodies took seconds and hundreds of MB with large calls). Adds them, and fills them for
 * the calls already stored, in keyset-ordered batches. A body that does not parse gives an empty preview; it
 * never fails the migration.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Atomic on SQLite too (Kysely runs SQLite migrations outside a transaction): a restart halfway through
  // would otherwise find the columns added and the migration not recorded, and fail to add them again.
  if (db.isTransaction) await run(db);
  else await db.transaction().execute(run);
}

async function run(db: Kysely<unknown>): Promise<void> {
  for (const column of ["preview_input", "preview_output", "schema_failure"]) {
    await db.schema.alterTable("calls").addColumn(column, "text").execute();
  }
  let after = "";
  for (;;) {
    // Sizes only: the database measures the bodies, nothing large reaches this process yet.
    const { rows } = await sql<{ id: string; size: number | string; capture: string }>`
      select id, capture,
        coalesce(length(request), 0) + coalesce(length(response), 0) as size
      from calls where id > ${after} order by id limit ${BATCH}`.execute(db);
    if (rows.length === 0) break;
    after = (rows.at(-1) as { id: string }).id;
    let group: typeof rows = [];
    let chars = 0;
    for (const r of rows) {
      const size = Number(r.size);
      if (group.length && chars + size > GROUP_CHARS) {
        await fill(db, group);
        group = [];
        chars = 0;
      }
      group.push(r);
      chars += size;
    }
    if (group.length) await fill(db, group);
  }
}

async function fill(db: Kysely<unknown>, calls: Array<{ id: string; capture: string }>): Promise<void> {
  const bodies = await sql<{ id: string; request: string | null; response: string | null }>`
    select id, request, response from calls
    where id in (${sql.join(calls.map((c) => c.id))})`.execute(db);
  const capture = new Map(calls.map((c) => [c.id, c.capture]));
  const values: Array<[string, PreviewColumns]> = bodies.rows.map((b) => [
    b.id,
    // `metadata` mode stored placeholders, not the output: the schema check would only see those.
    previewColumnsOfText(b.request, b.response, capture.get(b.id) !== "metadata"),
  ]);
  for (let i = 0; i < values.length; i += UPDATE_ROWS) {
    const chunk = values.slice(i, i + UPDATE_ROWS);
    // One statement per chunk (UPDATE ... FROM VALUES, which both databases accept) rather than one per call:
    // on PostgreSQL each statement is a round trip, and a store may hold millions of calls.
    await sql`
      update calls set
        preview_input = v.column2, preview_output = v.column3, schema_failure = v.column4
      from (values ${sql.join(
        chunk.map(([id, p]) => sql`(${id}, ${p.previewInput}, ${p.previewOutput}, ${p.schemaFailure})`),
      )}) as v
      where calls.id = v.column1`.execute(db);
  }
}
