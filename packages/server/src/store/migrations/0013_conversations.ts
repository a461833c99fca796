import type { Kysely } from "kysely";

/**
 * Conversation evaluations (conversations/): an evaluation and its items (one per slice, candidate and context
 * length, claimed with a lease like evaluation items), and the criterion a pairwise comparison was made on
 * (`comparisons.criterion`, null for a comparison of the whole answer as before).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Atomic on SQLite too (Kysely runs SQLite migrations outside a transaction).
  if (db.isTransaction) await run(db);
  else await db.transaction().execute(run);
}

async function run(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("comparisons").addColumn("criterion", "text").execute();
  await db.schema
    .createTable("conversation_evals")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("definition", "text", (c) => c.notNull())
    .addColumn("total", "integer", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("finished_at", "bigint")
    .execute();
  await db.schema
    .createTable("conversation_eval_items")
    .addColumn("eval_id", "text", (c) => c.notNull())
    .addColumn("item_index", "integer", (c) => c.notNull())
    .addColumn("session_id", "text", (c) => c.notNull())
    .addColumn("slice_start", "integer", (c) => c.notNull())
    .addColumn("target_index", "integer", (c) => c.notNull())
    .addColumn("candidate", "text", (c) => c.notNull())
    .addColumn("context_length", "integer")
    .addColumn("request", "text", (c) => c.notNull())
    .addColumn("judge_context", "text", (c) => c.notNull())
    .addColumn("original", "text", (c) => c.notNull())
    .addColumn("original_call_id", "text")
    .addColumn("regen_call_id", "text")
    .addColumn("regen", "text")
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("lease", "text")
    .addColumn("locked_until", "bigint")
    .addColumn("error", "text")
    .addPrimaryKeyConstraint("conversation_eval_items_pk", ["eval_id", "item_index"])
    .execute();
  await db.schema
    .createIndex("conversation_eval_items_status")
    .on("conversation_eval_items")
    .columns(["status", "locked_until"])
    .execute();
  await db.schema
    .createIndex("comparisons_criterion")
    .on("comparisons")
    .columns(["criterion", "a"])
    .execute();
}
