import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("datasets")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull().unique())
    .addColumn("description", "text")
    .addColumn("filter", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("dataset_snapshots")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("dataset_id", "text", (c) => c.notNull())
    .addColumn("dataset_name", "text", (c) => c.notNull())
    .addColumn("purpose", "text", (c) => c.notNull())
    .addColumn("format", "text")
    .addColumn("params", "text")
    .addColumn("call_count", "integer")
    .addColumn("row_count", "integer")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("completed_at", "bigint")
    .execute();
  await db.schema
    .createIndex("dataset_snapshots_dataset")
    .on("dataset_snapshots")
    .columns(["dataset_id", "created_at"])
    .execute();

  // One row per call of a snapshot: a million-call export is a million small rows, not one huge JSON value.
  await db.schema
    .createTable("dataset_snapshot_calls")
    .addColumn("snapshot_id", "text", (c) => c.notNull())
    .addColumn("call_id", "text", (c) => c.notNull())
    .addColumn("position", "integer", (c) => c.notNull())
    .addPrimaryKeyConstraint("dataset_snapshot_calls_pk", ["snapshot_id", "call_id"])
    .execute();
  await db.schema
    .createIndex("dataset_snapshot_calls_position")
    .on("dataset_snapshot_calls")
    .columns(["snapshot_id", "position"])
    .execute();
}
