import type { Kysely } from "kysely";

/**
 * Review queues (notifications/queues.ts): items given to several reviewers each, and which reviewer got which
 * item through which notification (their answers are the annotations of that notification).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("review_queues")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull())
    // JSON: the source as given ({ dataset } | { callIds } | { sample }).
    .addColumn("source", "text", (c) => c.notNull())
    // JSON array of the reviewers' names, in the order items were dealt.
    .addColumn("reviewers", "text", (c) => c.notNull())
    .addColumn("per_item", "integer", (c) => c.notNull())
    .addColumn("rubric", "text", (c) => c.notNull())
    // JSON: field name → agreement level, where the queue overrides the one its field type implies.
    .addColumn("levels", "text")
    .addColumn("item_count", "integer", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema
    .createTable("review_queue_items")
    .addColumn("queue_id", "text", (c) => c.notNull())
    .addColumn("position", "integer", (c) => c.notNull())
    .addColumn("call_id", "text", (c) => c.notNull())
    .addColumn("reviewer", "text", (c) => c.notNull())
    .addColumn("notification_id", "text", (c) => c.notNull().unique())
    .addPrimaryKeyConstraint("review_queue_items_pk", ["queue_id", "call_id", "reviewer"])
    .execute();
  await db.schema.createIndex("review_queue_items_call").on("review_queue_items").column("call_id").execute();
}
