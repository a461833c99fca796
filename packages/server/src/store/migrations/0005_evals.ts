import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("eval_runs")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("dataset", "text")
    .addColumn("snapshot_id", "text")
    .addColumn("candidate", "text", (c) => c.notNull())
    .addColumn("checks", "text", (c) => c.notNull())
    .addColumn("seed", "bigint", (c) => c.notNull())
    .addColumn("concurrency", "integer", (c) => c.notNull())
    .addColumn("needs_code", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("total", "integer", (c) => c.notNull())
    .addColumn("done", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("failed", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("estimate_usd", "double precision")
    .addColumn("cost_usd", "double precision")
    .addColumn("error", "text")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("started_at", "bigint")
    .addColumn("finished_at", "bigint")
    .execute();
  // Workers look for active runs on every poll; the list pages newest first.
  await db.schema.createIndex("eval_runs_status").on("eval_runs").columns(["status", "created_at"]).execute();
  await db.schema.createIndex("eval_runs_created").on("eval_runs").column("created_at").execute();

  await db.schema
    .createTable("eval_items")
    .addColumn("run_id", "text", (c) => c.notNull())
    .addColumn("item_index", "integer", (c) => c.notNull())
    .addColumn("baseline_call_id", "text", (c) => c.notNull())
    .addColumn("candidate_call_id", "text")
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("locked_until", "bigint")
    .addColumn("lease", "text")
    .addColumn("results", "text")
    .addColumn("cost_usd", "double precision")
    .addColumn("error", "text")
    .addColumn("finished_at", "bigint")
    .addPrimaryKeyConstraint("eval_items_pk", ["run_id", "item_index"])
    .execute();
  // Claims scan one run's pending (or expired) items in index order.
  await db.schema
    .createIndex("eval_items_claim")
    .on("eval_items")
    .columns(["run_id", "status", "item_index"])
    .execute();
  await db.schema.createIndex("eval_items_lease").on("eval_items").column("lease").execute();

  await db.schema
    .createTable("eval_check_results")
    .addColumn("run_id", "text", (c) => c.notNull())
    .addColumn("item_index", "integer", (c) => c.notNull())
    .addColumn("check_name", "text", (c) => c.notNull())
    .addColumn("call_id", "text")
    .addColumn("pass", "integer")
    .addColumn("score", "double precision")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("eval_check_results_pk", ["run_id", "item_index", "check_name"])
    .execute();
  await db.schema
    .createIndex("eval_check_results_created")
    .on("eval_check_results")
    .column("created_at")
    .execute();
}
