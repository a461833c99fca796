/**
 * Erasure waits for the calls still on their way to the store: a call answered just before the request (recorded,
 * queued by the write-behind path, not yet inserted) is erased with the rest instead of being inserted after it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { toCallRow } from "../calls/index.ts";
import { capturedCall } from "../testing/calls.ts";
import { DIALECTS, serverForSuite } from "../testing/harness.ts";
import type { ErasureResultView } from "./schemas.ts";

for (const dialect of DIALECTS) {
  describe(`erasure and the write-behind queue (${dialect})`, () => {
    const server = serverForSuite(dialect, {}, { inProcess: true });

    it("should erase a user's calls that were answered but not yet stored", async (t) => {
      const s = server(t);
      if (!s) return;
      for (const id of ["q1", "q2"])
        s.ctx.recorder.record(
          toCallRow(capturedCall({ id, userId: "carol", startedAt: Date.now() }), "full"),
        );
      s.ctx.recorder.record(
        toCallRow(capturedCall({ id: "q3", userId: "dave", startedAt: Date.now() }), "full"),
      );
      const r = await s.api<ErasureResultView>("/api/users/carol", { method: "DELETE" });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.counts.calls, 2);
      await s.ctx.recorder.flush();
      const left = await s.ctx.store.db.selectFrom("calls").select("id").orderBy("id").execute();
      assert.deepEqual(
        left.map((c) => c.id),
        ["q3"],
      );
    });
  });
}
