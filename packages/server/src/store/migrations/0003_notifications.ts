import type { Kysely } from "kysely";

/**
 * The notifications domain's own tables (the `notifications` table itself is in 0002_graph):
 * webhook delivery jobs, rubrics, and a small key/value table for generated server settings.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // One delivery job per notification, claimed by any instance: `locked_until` is the lease, `locked_by`
  // the claim that holds it (so a worker whose lease ran out cannot record over a newer claim).
  await db.schema
    .createTable("webhook_jobs")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("notification_id", "text", (c) => c.notNull().unique())
    .addColumn("payload", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("next_attempt_at", "bigint", (c) => c.notNull())
    .addColumn("locked_until", "bigint")
    .addColumn("locked_by", "text")
    .addColumn("last_error", "text")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("delivered_at", "bigint")
    .execute();
  await db.schema
    .createIndex("webhook_jobs_due")
    .on("webhook_jobs")
    .columns(["status", "next_attempt_at"])
    .execute();

  await db.schema
    .createTable("rubrics")
    .addColumn("name", "text", (c) => c.primaryKey())
    .addColumn("definition", "text", (c) => c.notNull())
    .addColumn("source", "text", (c) => c.notNull())
    // What the rubrics file said when last loaded: an edit in the app survives restarts until the file changes.
    .addColumn("file_definition", "text")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("settings")
    .addColumn("key", "text", (c) => c.primaryKey())
    .addColumn("value", "text", (c) => c.notNull())
    .execute();
}
