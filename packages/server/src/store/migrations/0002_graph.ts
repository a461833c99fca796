import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("links")
    .addColumn("upstream_tag", "text", (c) => c.notNull())
    .addColumn("downstream_tag", "text", (c) => c.notNull())
    .addColumn("metadata", "text")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("links_pk", ["upstream_tag", "downstream_tag"])
    .execute();
  // Resolution walks both ways: downstream from a call's tags, upstream from an annotation's key.
  await db.schema
    .createIndex("links_downstream")
    .on("links")
    .columns(["downstream_tag", "upstream_tag"])
    .execute();

  await db.schema
    .createTable("annotations")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("key", "text", (c) => c.notNull())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("numeric_reward", "double precision")
    .addColumn("content", "text")
    .addColumn("data", "text")
    .addColumn("comment", "text")
    .addColumn("correction", "text")
    .addColumn("source", "text", (c) => c.notNull())
    .addColumn("annotator_id", "text")
    .addColumn("notification_id", "text")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("annotations_key").on("annotations").columns(["key", "created_at"]).execute();

  // Resolution, materialized: annotation X applies to call Y (reachable within the depth bound).
  // Maintained on every new call, link and annotation, so filters and exports need no graph walk.
  await db.schema
    .createTable("call_annotations")
    .addColumn("call_id", "text", (c) => c.notNull())
    .addColumn("annotation_id", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("call_annotations_pk", ["call_id", "annotation_id"])
    .execute();
  await db.schema
    .createIndex("call_annotations_annotation")
    .on("call_annotations")
    .column("annotation_id")
    .execute();
  await db.schema.createIndex("annotations_created").on("annotations").column("created_at").execute();

  await db.schema
    .createTable("notifications")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("completion_id", "text", (c) => c.notNull())
    .addColumn("recipient", "text", (c) => c.notNull())
    .addColumn("message", "text")
    .addColumn("rubric", "text")
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("metadata", "text")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("expires_at", "bigint", (c) => c.notNull())
    .addColumn("done_at", "bigint")
    .addColumn("revoked_at", "bigint")
    .execute();
  await db.schema
    .createIndex("notifications_recipient")
    .on("notifications")
    .columns(["recipient", "status", "created_at"])
    .execute();
  await db.schema
    .createIndex("notifications_completion")
    .on("notifications")
    .column("completion_id")
    .execute();

  await db.schema
    .createTable("comparisons")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("a", "text", (c) => c.notNull())
    .addColumn("b", "text", (c) => c.notNull())
    .addColumn("choice", "text", (c) => c.notNull())
    .addColumn("reason", "text")
    .addColumn("annotator_id", "text")
    .addColumn("source", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("comparisons_a").on("comparisons").column("a").execute();
  await db.schema.createIndex("comparisons_b").on("comparisons").column("b").execute();
}
