/**
 * The reads other domains make of the calls table (calls/reads.ts): lookups by many ids, bodies parsed without
 * throwing, and only ok answers offered for reuse.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { capturedCall, DIALECTS, postgresAvailable, withStore } from "../testing/index.ts";
import { insertCalls } from "./insert.ts";
import { callById, callListRowsByIds, okResponseOf, requestsOf } from "./reads.ts";
import { type Outcome, toCallRow } from "./record.ts";

function row(i: number, outcome: Outcome = "ok") {
  return toCallRow(
    capturedCall({
      id: `call_reads_${String(i).padStart(4, "0")}`,
      startedAt: 1_700_000_000_000 + i,
      endedAt: 1_700_000_000_000 + i + 50,
      status: outcome === "ok" ? 200 : 500,
      outcome,
      request: { model: "m", messages: [{ role: "user", content: `q${i}` }] },
      response: { choices: [{ index: 0, message: { role: "assistant", content: `a${i}` } }] },
      source: "api",
    }),
    "full",
  );
}

for (const dialect of DIALECTS) {
  describe(`calls read by other domains (${dialect})`, () => {
    it("finds the listed columns of more calls than one chunk holds, without their bodies", async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      await withStore(dialect, async (store) => {
        const rows = Array.from({ length: 620 }, (_, i) => row(i));
        await insertCalls(store, rows);
        const ids = [...rows.map((r) => r.id), "call_missing", rows[0]?.id ?? ""];
        const found = await callListRowsByIds(store, ids);
        assert.equal(found.size, 620);
        const last = found.get("call_reads_0619");
        assert.equal(last?.previewInput, "q619");
        assert.equal("request" in (last ?? {}), false, "no body in a list row");
      });
    });

    it("reads a request that is not JSON as { _raw } and an unknown id as absent", async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      await withStore(dialect, async (store) => {
        await insertCalls(store, [row(1), { ...row(2), request: "not json" }]);
        const got = await requestsOf(store, ["call_reads_0001", "call_reads_0002", "call_none"]);
        assert.deepEqual(got.get("call_reads_0001")?.request, {
          model: "m",
          messages: [{ role: "user", content: "q1" }],
        });
        assert.deepEqual(got.get("call_reads_0002")?.request, { _raw: "not json" });
        assert.equal(got.has("call_none"), false);
        assert.equal((await callById(store, "call_reads_0001"))?.id, "call_reads_0001");
        assert.equal(await callById(store, "call_none"), undefined);
      });
    });

    it("offers the response of an ok call for reuse, and nothing for a failed one", async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      await withStore(dialect, async (store) => {
        await insertCalls(store, [row(1), row(2, "upstream_error")]);
        const ok = await okResponseOf(store, "call_reads_0001");
        assert.equal(ok?.durationMs, 50);
        assert.deepEqual(ok?.response, {
          choices: [{ index: 0, message: { role: "assistant", content: "a1" } }],
        });
        assert.equal(await okResponseOf(store, "call_reads_0002"), undefined);
        assert.equal(await okResponseOf(store, "call_none"), undefined);
      });
    });
  });
}
