import { type Kysely, sql } from "kysely";

/**
 * A call routed through an experiment answers to the tags `exp:<name>` and `exp:<name>:<variant>`. They were
 * stored as two `call_tags` rows per call, which cost about 15 µs of CPU per call on SQLite (two multi-row
 * INSERTs built per batch, six B-tree inserts per call), most of what routing through an experiment added to
 * the proxy. The call's `experiment` and `variant` columns already say them: `call_keys` now derives them from
 * those, as it derives the id and completion id (0006), and two partial expression indexes let a tag be looked
 * up by value (the expressions are those of calls/experiment-tags.ts, written the same in every query so that
 * both databases use the indexes). The tags stay in the call's `tags` JSON, which lists and exports show.
 * The view's arms leave calls outside an experiment out by the expression, not by `experiment is not null`: SQLite
 * would take that for a range over `calls_experiment` (every routed call) instead of searching the tag's index.
 * The indexes' predicates still hold: the concatenation is null when a column is.
 *
 * `calls_experiment` becomes partial: calls outside any experiment (most) no longer each add a NULL entry.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Atomic on SQLite too (Kysely runs SQLite migrations outside a transaction), as in 0008.
  if (db.isTransaction) await run(db);
  else await db.transaction().execute(run);
}

async function run(db: Kysely<unknown>): Promise<void> {
  await sql`
    delete from call_tags where exists (
      select 1 from calls c where c.id = call_tags.call_id and c.experiment is not null
        and (call_tags.tag = 'exp:' || c.experiment
          or (c.variant is not null and call_tags.tag = 'exp:' || c.experiment || ':' || c.variant))
    )`.execute(db);
  await sql`drop view call_keys`.execute(db);
  await sql`
    create view call_keys (tag, call_id) as
      select id, id from calls
      union all select completion_id, id from calls where completion_id is not null
      union all select tag, call_id from call_tags
      union all select 'exp:' || experiment, id from calls where ('exp:' || experiment) is not null
      union all select 'exp:' || experiment || ':' || variant, id from calls
        where ('exp:' || experiment || ':' || variant) is not null`.execute(db);
  await sql`
    create index calls_experiment_tag on calls (('exp:' || experiment))
      where experiment is not null`.execute(db);
  await sql`
    create index calls_variant_tag on calls (('exp:' || experiment || ':' || variant))
      where experiment is not null and variant is not null`.execute(db);
  await sql`drop index calls_experiment`.execute(db);
  await sql`
    create index calls_experiment on calls (experiment, variant, started_at)
      where experiment is not null`.execute(db);
}
