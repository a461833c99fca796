import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("calls")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("completion_id", "text")
    .addColumn("started_at", "bigint", (c) => c.notNull())
    .addColumn("ended_at", "bigint")
    .addColumn("duration_ms", "integer")
    .addColumn("ttft_ms", "integer")
    .addColumn("upstream", "text", (c) => c.notNull())
    .addColumn("path", "text", (c) => c.notNull())
    .addColumn("requested_model", "text")
    .addColumn("served_model", "text")
    .addColumn("stream", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("status", "integer")
    .addColumn("outcome", "text", (c) => c.notNull())
    .addColumn("error", "text")
    .addColumn("request", "text")
    .addColumn("response", "text")
    .addColumn("prompt_tokens", "integer")
    .addColumn("completion_tokens", "integer")
    .addColumn("cached_tokens", "integer")
    .addColumn("reasoning_tokens", "integer")
    .addColumn("total_tokens", "integer")
    .addColumn("cost_usd", "double precision")
    .addColumn("session_id", "text")
    .addColumn("user_id", "text")
    .addColumn("tags", "text", (c) => c.notNull().defaultTo("[]"))
    .addColumn("metadata", "text", (c) => c.notNull().defaultTo("{}"))
    .addColumn("capture", "text", (c) => c.notNull())
    .addColumn("source", "text", (c) => c.notNull())
    .execute();
  // The list is paged newest first by (started_at, id); selective filters get an index that keeps that order.
  // Model, upstream and status have few distinct values: walking the time index finds a page of them quickly,
  // while an index on them tempts the planner into sorting every match (the model filter is an OR over the
  // requested and served model, which no index returns in time order). Every index also costs each insert.
  await db.schema.createIndex("calls_started").on("calls").columns(["started_at", "id"]).execute();
  await db.schema.createIndex("calls_completion").on("calls").column("completion_id").execute();
  for (const col of ["outcome", "session_id", "user_id"]) {
    await db.schema.createIndex(`calls_${col}`).on("calls").columns([col, "started_at"]).execute();
  }

  await db.schema
    .createTable("call_tags")
    .addColumn("tag", "text", (c) => c.notNull())
    .addColumn("call_id", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("call_tags_pk", ["tag", "call_id"])
    .execute();
  await db.schema.createIndex("call_tags_call").on("call_tags").column("call_id").execute();
}
