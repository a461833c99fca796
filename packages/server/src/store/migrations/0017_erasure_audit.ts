import type { Kysely } from "kysely";

/**
 * Erasure (erasure/): the audit log that records each erasure (who, when, the selector's kind and a hash of its
 * value, the counts; never content), and how many calls erasure took out of each dataset snapshot, so a snapshot
 * says it no longer lists every call it was made of.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Atomic on SQLite too (Kysely runs SQLite migrations outside a transaction), as in 0008.
  if (db.isTransaction) await run(db);
  else await db.transaction().execute(run);
}

async function run(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("audit_log")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("at", "bigint", (c) => c.notNull())
    .addColumn("actor", "text", (c) => c.notNull())
    .addColumn("action", "text", (c) => c.notNull())
    .addColumn("selector_kind", "text", (c) => c.notNull())
    .addColumn("selector_hash", "text", (c) => c.notNull())
    .addColumn("counts", "text", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("audit_log_at").on("audit_log").columns(["at", "id"]).execute();
  await db.schema
    .alterTable("dataset_snapshots")
    .addColumn("erased_calls", "integer", (c) => c.notNull().defaultTo(0))
    .execute();
}
