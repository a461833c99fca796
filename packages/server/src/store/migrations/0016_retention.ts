import { type Kysely, sql } from "kysely";

/**
 * Retention (retention/): when a call's bodies were dropped by age, and the indexes its job walks so that a run
 * costs the rows it touches, not the table.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Null while the call still holds whatever bodies its capture mode kept.
  await db.schema.alterTable("calls").addColumn("bodies_expired_at", "bigint").execute();
  // Only calls whose bodies are still held: the job finds the oldest of them without stepping over the expired
  // ones, which under a long metadata horizon are most of the table.
  await sql`create index calls_bodies_held on calls (started_at) where bodies_expired_at is null`.execute(db);
  // "Is this call in a snapshot?" is asked of every call the job considers; the primary key starts with the
  // snapshot.
  await db.schema
    .createIndex("dataset_snapshot_calls_call")
    .on("dataset_snapshot_calls")
    .column("call_id")
    .execute();
  // Deleting a call deletes its live evaluators' jobs, found by call.
  await db.schema.createIndex("live_jobs_call").on("live_jobs").column("call_id").execute();
}
