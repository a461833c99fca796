/**
 * Migration 0022 on each dialect: the indexes on `session_id`, `user_id` and `shadow_of` leave out the calls without
 * one, and every kind of query the server runs on those columns still finds its rows through its index (a partial
 * index is used only where the query implies its predicate; a query that did not would scan every call).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Kysely, type RawBuilder, sql } from "kysely";
import { DIALECTS, freshDatabase, postgresAvailable } from "../../testing/harness.ts";
import { olderCall, olderStore } from "../../testing/older-store.ts";
import { openStoreOn } from "../../testing/store.ts";

/** The shapes of the server's queries on these columns (calls/reads.ts, calls/queries.ts, erasure/, experiments/). */
const QUERIES: Array<[index: string, query: RawBuilder<unknown>]> = [
  [
    "calls_session_id",
    sql`select id from calls where session_id = ${"s-1"} order by started_at desc limit 50`,
  ],
  ["calls_session_id", sql`select id from calls where session_id in (${"s-1"}, ${"s-2"})`],
  [
    "calls_session_id",
    sql`select session_id, max(started_at) from calls where session_id is not null group by session_id`,
  ],
  ["calls_user_id", sql`select id from calls where user_id = ${"u-1"} order by started_at desc limit 50`],
  ["calls_shadow_of", sql`select id from calls where shadow_of in (${"c-1"}, ${"c-2"})`],
  ["calls_shadow_of", sql`select id from calls where shadow_of is not null`],
];

for (const dialect of DIALECTS) {
  describe(`migration 0022_sparse_call_indexes on ${dialect}`, () => {
    it("keeps the calls and every lookup on session, user and shadow on its index", async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      const fresh = await freshDatabase(dialect);
      try {
        // biome-ignore lint/suspicious/noExplicitAny: rows written as an older version wrote them
        const old = (await olderStore(dialect, fresh.db, "0021_experiment_tags")) as Kysely<any>;
        const call = (id: string, sessionId: string | null, userId: string | null, shadowOf: string | null) =>
          olderCall(id, { sessionId, userId, shadowOf });
        await old
          .insertInto("calls")
          .values([
            call("c-1", "s-1", "u-1", null),
            call("c-2", null, null, "c-1"),
            call("c-3", null, null, null),
          ])
          .execute();
        await old.destroy();

        const store = await openStoreOn(dialect, fresh.db);
        try {
          const rows = await store.db
            .selectFrom("calls")
            .select(["id", "sessionId", "userId", "shadowOf"])
            .orderBy("id")
            .execute();
          assert.deepEqual(
            rows.map((r) => [r.id, r.sessionId, r.userId, r.shadowOf]),
            [
              ["c-1", "s-1", "u-1", null],
              ["c-2", null, null, "c-1"],
              ["c-3", null, null, null],
            ],
          );
          for (const index of new Set(QUERIES.map(([name]) => name))) {
            const definition = await sql<{ def: string }>`${
              dialect === "sqlite"
                ? sql`select sql as def from sqlite_master where name = ${index}`
                : sql`select indexdef as def from pg_indexes where indexname = ${index}`
            }`.execute(store.db);
            assert.match(definition.rows[0]?.def ?? "", /where .* is not null/i, index);
          }
          // PostgreSQL prefers a sequential scan of a small table; with it priced out, it takes any usable index.
          if (dialect === "postgres") await sql`set enable_seqscan = off`.execute(store.db);
          for (const [index, query] of QUERIES) {
            const plan = await sql<
              Record<string, unknown>
            >`explain ${dialect === "sqlite" ? sql`query plan` : sql``} ${query}`.execute(store.db);
            const text = plan.rows.map((r) => Object.values(r).join(" ")).join("\n");
            assert.match(text, new RegExp(`\\b${index}\\b`), `${query.compile(store.db).sql}\n${text}`);
          }
        } finally {
          await store.close();
        }
      } finally {
        await fresh.drop();
      }
    });
  });
}
