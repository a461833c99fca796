import type { Kysely } from "kysely";

/**
 * Costs of conversation evaluations (conversations/): the cap and the estimate it was checked against on the
 * evaluation, and on each item the USD its regeneration and judge calls cost (priced from their usage) and how
 * many of them had no known price, so the runner can stop claiming once the running total reaches the cap.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Atomic on SQLite too (Kysely runs SQLite migrations outside a transaction).
  if (db.isTransaction) await run(db);
  else await db.transaction().execute(run);
}

async function run(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("conversation_evals").addColumn("max_cost_usd", "double precision").execute();
  await db.schema.alterTable("conversation_evals").addColumn("estimate_usd", "double precision").execute();
  await db.schema.alterTable("conversation_eval_items").addColumn("cost_usd", "double precision").execute();
  await db.schema
    .alterTable("conversation_eval_items")
    .addColumn("unpriced_calls", "integer", (c) => c.notNull().defaultTo(0))
    .execute();
}
