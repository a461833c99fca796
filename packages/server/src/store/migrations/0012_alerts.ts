import type { Kysely } from "kysely";

/**
 * Alerts (issue 17): rules, and the episodes they open and resolve. A rule has at most one open episode,
 * enforced by the store (`open_key` is the rule's name while open, null once resolved; nulls are distinct), so
 * two instances evaluating at once open it once. Webhooks for alerts ride on the notifications' `webhook_jobs`,
 * each job carrying its own URL (a rule's `webhookUrl`); a null URL is a notification's job, sent to
 * INTERSEBD_WEBHOOK_URL as before.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Atomic on SQLite too (Kysely runs SQLite migrations outside a transaction).
  if (db.isTransaction) await run(db);
  else await db.transaction().execute(run);
}

async function run(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("alert_rules")
    .addColumn("name", "text", (c) => c.primaryKey())
    .addColumn("definition", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema
    .createTable("alert_episodes")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("rule", "text", (c) => c.notNull())
    .addColumn("open_key", "text", (c) => c.unique())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("condition", "text", (c) => c.notNull())
    .addColumn("value", "double precision", (c) => c.notNull())
    .addColumn("last_value", "double precision")
    .addColumn("threshold", "double precision", (c) => c.notNull())
    .addColumn("window", "text", (c) => c.notNull())
    .addColumn("calls", "integer", (c) => c.notNull())
    .addColumn("clear_count", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("started_at", "bigint", (c) => c.notNull())
    .addColumn("resolved_at", "bigint")
    .execute();
  await db.schema
    .createIndex("alert_episodes_rule")
    .on("alert_episodes")
    .columns(["rule", "started_at"])
    .execute();
  await db.schema.alterTable("webhook_jobs").addColumn("url", "text").execute();
}
