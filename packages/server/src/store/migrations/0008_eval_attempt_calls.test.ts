/**
 * Migration 0008 on each dialect: items stored before it get the candidate call of their latest attempt in
 * `attempt_call_id` where it can be told (a finished item's call; the newest ok candidate call logged for an
 * item that may be claimed again), and nothing where it cannot.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Kysely } from "kysely";
import { DIALECTS, freshDatabase, postgresAvailable } from "../../testing/harness.ts";
import { olderCall, olderStore } from "../../testing/older-store.ts";
import { openStoreOn } from "../../testing/store.ts";

const RUN = "evl_old";

for (const dialect of DIALECTS) {
  describe(`migration 0008_eval_attempt_calls on ${dialect}`, () => {
    it("fills the attempt's call of items stored before it, where one can be told", async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      const fresh = await freshDatabase(dialect);
      try {
        // biome-ignore lint/suspicious/noExplicitAny: rows written as an older version wrote them
        const old = (await olderStore(dialect, fresh.db, "0007_call_previews")) as Kysely<any>;
        const call = (id: string, startedAt: number, metadata: object, extra: object = {}) =>
          olderCall(id, {
            startedAt,
            response: '{"choices":[]}',
            metadata: JSON.stringify(metadata),
            ...extra,
          });
        const item = { evalRun: RUN };
        await old
          .insertInto("calls")
          .values([
            call("base", 1, {}),
            call("done_call", 10, { ...item, evalItem: 0 }),
            call("older_1", 10, { ...item, evalItem: 1 }),
            call("newer_1", 20, { ...item, evalItem: 1 }),
            // A judge's call for the item is not a candidate call, even when newer.
            call("judge_1", 30, { ...item, evalItem: 1, evalRole: "judge", evalCheck: "quality" }),
            // Another item whose metadata text holds "evalItem":1 as a prefix.
            call("c_12", 25, { ...item, evalItem: 12 }),
            call("failed_2", 10, { ...item, evalItem: 2 }, { outcome: "upstream_error" }),
            call("untagged_3", 10, { ...item, evalItem: 3 }),
            call("c_4", 10, { ...item, evalItem: 4 }),
          ])
          .execute();
        await old
          .insertInto("callTags")
          .values(
            ["done_call", "older_1", "newer_1", "c_12", "failed_2", "c_4"]
              .map((callId) => ({ tag: `eval:${RUN}`, callId }))
              .concat([{ tag: `eval-judge:${RUN}`, callId: "judge_1" }]),
          )
          .execute();
        await old
          .insertInto("evalRuns")
          .values({
            id: RUN,
            candidate: "{}",
            checks: "[]",
            seed: 1,
            concurrency: 1,
            status: "running",
            total: 6,
            createdAt: 1,
          })
          .execute();
        const evalItem = (itemIndex: number, status: string, attempts: number, candidateCallId?: string) => ({
          runId: RUN,
          itemIndex,
          baselineCallId: "base",
          status,
          attempts,
          candidateCallId: candidateCallId ?? null,
        });
        await old
          .insertInto("evalItems")
          .values([
            evalItem(0, "done", 1, "done_call"),
            evalItem(1, "running", 1),
            evalItem(2, "pending", 1),
            evalItem(3, "pending", 1),
            evalItem(4, "pending", 0),
            evalItem(12, "pending", 2),
          ])
          .execute();
        await old.destroy();

        const store = await openStoreOn(dialect, fresh.db);
        try {
          const rows = await store.db
            .selectFrom("evalItems")
            .select(["itemIndex", "attemptCallId"])
            .orderBy("itemIndex")
            .execute();
          assert.deepEqual(
            rows.map((r) => [r.itemIndex, r.attemptCallId]),
            [
              [0, "done_call"],
              [1, "newer_1"],
              [2, null], // its call failed: nothing to reuse
              [3, null], // the call is not tagged with the run
              [4, null], // never attempted
              [12, "c_12"],
            ],
          );
        } finally {
          await store.close();
        }
      } finally {
        await fresh.drop();
      }
    });
  });
}
