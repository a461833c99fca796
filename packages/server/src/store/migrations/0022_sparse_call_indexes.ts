import { type Kysely, sql } from "kysely";

/**
 * The indexes on columns most calls leave empty become partial (`where <column> is not null`): `session_id` and
 * `user_id` (a service that sends neither header) and `shadow_of` (every call that is not a shadow copy). Both
 * databases index NULLs, so every call added an entry to each (on disk, and in each insert) for lookups that never
 * ask for NULL. On SQLite, a call with none of them is inserted in about 28 µs of CPU instead of 31.5 (batches of 16,
 * as the writer thread commits them at c=50; best of five interleaved runs).
 *
 * Every query on these columns compares the column with a value (`=`, `in`) or says it is not null, which both
 * planners take as implying the index's predicate; the test beside this file checks that each still uses its index.
 * `completion_id` stays whole (most calls have one): the graph's walk from a batch of new calls selects
 * `where id in (...) and completion_id is not null`, for which SQLite preferred a partial index on completion_id,
 * every call that has one, to the primary key: each insert scanned the table.
 *
 * On PostgreSQL the migration holds the `calls` table's lock from the first `drop index` to its commit, while it
 * builds the three indexes (seconds per million calls): another instance on the same database waits for it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Atomic on SQLite too (Kysely runs SQLite migrations outside a transaction), as in 0008.
  if (db.isTransaction) await run(db);
  else await db.transaction().execute(run);
}

const SPARSE: Array<[index: string, columns: string]> = [
  ["calls_session_id", "session_id, started_at"],
  ["calls_user_id", "user_id, started_at"],
  ["calls_shadow_of", "shadow_of"],
];

async function run(db: Kysely<unknown>): Promise<void> {
  for (const [index, columns] of SPARSE) {
    const column = columns.split(",")[0] as string;
    await sql`drop index ${sql.id(index)}`.execute(db);
    await sql`create index ${sql.id(index)} on calls (${sql.raw(columns)}) where ${sql.id(column)} is not null`.execute(
      db,
    );
  }
}
