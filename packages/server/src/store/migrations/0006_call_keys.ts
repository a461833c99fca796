import { type Kysely, sql } from "kysely";

/**
 * A call's own id and completion id are columns of `calls`; `call_tags` keeps only the tags it was given.
 * Writing both again as tag rows cost three more B-tree inserts each, one of them at a random place
 * (completion ids are random), and was the larger part of storing a call.
 * `call_keys` shows every tag a call answers to, for the queries that look a tag up by value or by call.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`delete from call_tags where tag = call_id`.execute(db);
  await sql`
    delete from call_tags where exists (
      select 1 from calls c where c.id = call_tags.call_id and c.completion_id = call_tags.tag
    )`.execute(db);
  await sql`
    create view call_keys (tag, call_id) as
      select id, id from calls
      union all select completion_id, id from calls where completion_id is not null
      union all select tag, call_id from call_tags`.execute(db);
}
