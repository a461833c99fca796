/**
 * `insertCalls`, the write both the recorder and `POST /api/calls` use: chunks bound to compiled INSERTs, the
 * Kysely-built fallback for rows of another shape, and repeats that must never store a call twice.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { capturedCall, DIALECTS, postgresAvailable, withStore } from "../testing/index.ts";
import { type InsertHook, insertCalls } from "./insert.ts";
import { toCallRow } from "./record.ts";

function row(i: number) {
  return toCallRow(
    capturedCall({
      id: `call_insert_${String(i).padStart(4, "0")}`,
      startedAt: 1_700_000_000_000 + i,
      endedAt: 1_700_000_000_000 + i + 120,
      request: { model: "gpt-4o-mini", messages: [{ role: "user", content: `question ${i}` }] },
      response: {
        id: `chatcmpl-insert${i}`,
        model: "gpt-4o-mini",
        choices: [
          { index: 0, message: { role: "assistant", content: `answer ${i}` }, finish_reason: "stop" },
        ],
        usage: { prompt_tokens: 10 + i, completion_tokens: 2, total_tokens: 12 + i },
      },
      sessionId: i % 2 ? `s${i}` : null,
      tags: i % 3 ? [] : [`tag-${i}`],
    }),
    "full",
  );
}

for (const dialect of DIALECTS) {
  describe(`insertCalls (${dialect})`, () => {
    it("stores every row of a batch that spans several chunk sizes, with its values, once", async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      await withStore(dialect, async (store) => {
        // 301 rows: chunks of 128, 128, 32, 8, 4 and 1.
        const rows = Array.from({ length: 301 }, (_, i) => row(i));
        await insertCalls(store, rows);
        await insertCalls(store, rows.slice(100, 200));
        const stored = await store.db.selectFrom("calls").selectAll().orderBy("id").execute();
        assert.equal(stored.length, 301, "a repeated batch adds nothing");
        for (const i of [0, 127, 128, 255, 256, 300]) {
          const got = stored[i];
          assert.equal(got?.id, rows[i]?.id);
          assert.equal(got?.completionId, `chatcmpl-insert${i}`);
          assert.equal(got?.promptTokens, 10 + i);
          assert.equal(got?.sessionId, i % 2 ? `s${i}` : null);
          assert.equal(got?.request, rows[i]?.request);
        }
        const tags = await store.db.selectFrom("callTags").select(["tag", "callId"]).execute();
        assert.equal(tags.length, 101, "one custom tag for every third call");
      });
    });

    it("stores rows whose columns come in another order, and keeps the first of two rows with one id", async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      await withStore(dialect, async (store) => {
        const reordered = Object.fromEntries(Object.entries(row(1)).reverse()) as ReturnType<typeof row>;
        const first = row(2);
        const second = { ...row(2), error: "a later row with the same id" };
        await insertCalls(store, [row(0), reordered, first, second]);
        const stored = await store.db.selectFrom("calls").select(["id", "error"]).orderBy("id").execute();
        assert.deepEqual(
          stored.map((r) => [r.id, r.error]),
          [
            ["call_insert_0000", null],
            ["call_insert_0001", null],
            ["call_insert_0002", null],
          ],
        );
      });
    });

    it("runs the hook in the insert's transaction: begin first, then afterInsert with only the calls it stored", async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      await withStore(dialect, async (store) => {
        const seen: string[] = [];
        const hook: InsertHook = {
          begin: async () => {
            seen.push("begin");
          },
          afterInsert: async (trx, ids) => {
            // Inside the transaction: the rows it just wrote are visible through `trx`.
            const rows = await trx.selectFrom("calls").select("id").where("id", "in", ids).execute();
            seen.push(`after ${ids.join(",")} (${rows.length} visible)`);
          },
        };
        await insertCalls(store, [row(0), row(1)], hook);
        await insertCalls(store, [row(1), row(2)], hook);
        await insertCalls(store, [row(2)], hook);
        assert.deepEqual(seen, [
          "begin",
          "after call_insert_0000,call_insert_0001 (2 visible)",
          "begin",
          "after call_insert_0002 (1 visible)",
          "begin",
        ]);
      });
    });

    it("stores nothing when the hook fails: the calls and the hook's work commit together", async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      await withStore(dialect, async (store) => {
        const failing: InsertHook = {
          begin: async () => {},
          afterInsert: async () => {
            throw new Error("the hook failed");
          },
        };
        await assert.rejects(insertCalls(store, [row(0), row(3)], failing), /the hook failed/);
        assert.deepEqual(await store.db.selectFrom("calls").select("id").execute(), []);
        assert.deepEqual(await store.db.selectFrom("callTags").select("tag").execute(), []);
      });
    });
  });
}
