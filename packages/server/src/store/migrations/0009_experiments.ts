import type { Kysely } from "kysely";

/**
 * Experiments (A/B splits and shadow runs): their definitions, every change to them with who and when, and on
 * each call the experiment and variant it was routed through, its assignment unit, and for a shadow call the
 * call it shadows.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Atomic on SQLite too (Kysely runs SQLite migrations outside a transaction), as in 0008.
  if (db.isTransaction) await run(db);
  else await db.transaction().execute(run);
}

async function run(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("experiments")
    .addColumn("name", "text", (c) => c.primaryKey())
    .addColumn("version", "integer", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("definition", "text", (c) => c.notNull())
    .addColumn("created_by", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema
    .createTable("experiment_changes")
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("version", "integer", (c) => c.notNull())
    .addColumn("action", "text", (c) => c.notNull())
    .addColumn("by", "text", (c) => c.notNull())
    .addColumn("at", "bigint", (c) => c.notNull())
    .addColumn("change", "text", (c) => c.notNull())
    .addColumn("definition", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("experiment_changes_pk", ["name", "version"])
    .execute();
  await db.schema.alterTable("calls").addColumn("experiment", "text").execute();
  await db.schema.alterTable("calls").addColumn("variant", "text").execute();
  await db.schema.alterTable("calls").addColumn("assignment_unit", "text").execute();
  await db.schema.alterTable("calls").addColumn("shadow_of", "text").execute();
  // The report reads one experiment's calls; a call's detail finds its shadows.
  await db.schema
    .createIndex("calls_experiment")
    .on("calls")
    .columns(["experiment", "variant", "started_at"])
    .execute();
  await db.schema.createIndex("calls_shadow_of").on("calls").column("shadow_of").execute();
}
