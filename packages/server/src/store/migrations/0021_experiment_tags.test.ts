/**
 * Migration 0021 on each dialect: the experiment tags a store kept as `call_tags` rows go (the call's columns say
 * them now), the tags the service gave stay, and every call still answers to all of its tags through `call_keys`.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Kysely } from "kysely";
import { DIALECTS, freshDatabase, postgresAvailable } from "../../testing/harness.ts";
import { olderCall, olderStore } from "../../testing/older-store.ts";
import { openStoreOn } from "../../testing/store.ts";

for (const dialect of DIALECTS) {
  describe(`migration 0021_experiment_tags on ${dialect}`, () => {
    it("drops the stored experiment tags and keeps every tag a call answers to", async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      const fresh = await freshDatabase(dialect);
      try {
        // biome-ignore lint/suspicious/noExplicitAny: rows written as an older version wrote them
        const old = (await olderStore(dialect, fresh.db, "0020_conversation_costs")) as Kysely<any>;
        const call = (id: string, experiment: string | null, variant: string | null) =>
          olderCall(id, { experiment, variant });
        await old
          .insertInto("calls")
          .values([call("routed", "titles", "a"), call("plain", null, null)])
          .execute();
        await old
          .insertInto("callTags")
          .values([
            { tag: "exp:titles", callId: "routed" },
            { tag: "exp:titles:a", callId: "routed" },
            { tag: "thread-1", callId: "routed" },
            // A service's own tag that looks like an experiment's, on a call outside it: kept.
            { tag: "exp:titles", callId: "plain" },
          ])
          .execute();
        await old.destroy();

        const store = await openStoreOn(dialect, fresh.db);
        try {
          const rows = await store.db.selectFrom("callTags").select(["callId", "tag"]).execute();
          assert.deepEqual(rows.map((r) => `${r.callId} ${r.tag}`).sort(), [
            "plain exp:titles",
            "routed thread-1",
          ]);
          const keys = await store.db.selectFrom("callKeys").select(["callId", "tag"]).execute();
          assert.deepEqual(keys.map((r) => `${r.callId} ${r.tag}`).sort(), [
            "plain exp:titles",
            "plain plain",
            "routed exp:titles",
            "routed exp:titles:a",
            "routed routed",
            "routed thread-1",
          ]);
        } finally {
          await store.close();
        }
      } finally {
        await fresh.drop();
      }
    });
  });
}
