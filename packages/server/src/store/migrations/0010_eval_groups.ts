import type { Kysely } from "kysely";

/**
 * Several candidates evaluated together (`POST /api/evals` with `candidates`): one run per candidate, each
 * exactly as a single run, tied by a group id, with the candidate's name and its place in the request so the
 * group's report lists them as they were given. Runs stored before have no group (nulls).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Atomic on SQLite too (Kysely runs SQLite migrations outside a transaction), so a restart halfway through
  // does not find a column added and the migration unrecorded.
  if (db.isTransaction) await run(db);
  else await db.transaction().execute(run);
}

async function run(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("eval_runs").addColumn("group_id", "text").execute();
  await db.schema.alterTable("eval_runs").addColumn("group_index", "integer").execute();
  await db.schema.alterTable("eval_runs").addColumn("candidate_name", "text").execute();
  await db.schema
    .createIndex("eval_runs_group")
    .on("eval_runs")
    .columns(["group_id", "group_index"])
    .execute();
}
