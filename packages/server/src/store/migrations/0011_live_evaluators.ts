import type { Kysely } from "kysely";

/**
 * Live evaluators (issue 17 item 1): rules that evaluate new calls in the background, and one job per
 * (evaluator, call). The job's primary key is what makes a call evaluated at most once per evaluator, whichever
 * instance enqueued it or backfilled it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Atomic on SQLite too (Kysely runs SQLite migrations outside a transaction), as in 0008.
  if (db.isTransaction) await run(db);
  else await db.transaction().execute(run);
}

async function run(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("live_evaluators")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull().unique())
    .addColumn("enabled", "integer", (c) => c.notNull())
    .addColumn("definition", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema
    .createTable("live_jobs")
    .addColumn("evaluator_id", "text", (c) => c.notNull())
    .addColumn("call_id", "text", (c) => c.notNull())
    // queued | running | done | failed | skipped (the daily cost cap was reached)
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("origin", "text", (c) => c.notNull())
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("lease", "text")
    .addColumn("locked_until", "bigint")
    .addColumn("enqueued_at", "bigint", (c) => c.notNull())
    .addColumn("finished_at", "bigint")
    .addColumn("cost_usd", "double precision")
    .addColumn("error", "text")
    .addPrimaryKeyConstraint("live_jobs_pk", ["evaluator_id", "call_id"])
    .execute();
  // The worker claims by evaluator and status; the cost of today sums finished jobs by evaluator and time.
  await db.schema
    .createIndex("live_jobs_claim")
    .on("live_jobs")
    .columns(["evaluator_id", "status", "locked_until"])
    .execute();
  await db.schema
    .createIndex("live_jobs_finished")
    .on("live_jobs")
    .columns(["evaluator_id", "finished_at"])
    .execute();
}
