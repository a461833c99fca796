/**
 * The reads other domains make of the calls table (calls/reads.ts): lookups by many ids, bodies parsed without
 * throwing, and only ok answers offered for reuse.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { capturedCall, DIALECTS, postgresAvailable, withStore } from "../testing/index.ts";
import { insertCalls } from "./insert.ts";
// The module as one namespace: the test calls every read in it, and calls/index.ts holds their list.
import * as reads from "./reads.ts";
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
        const found = await reads.callListRowsByIds(store, ids);
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
        const got = await reads.requestsOf(store, ["call_reads_0001", "call_reads_0002", "call_none"]);
        assert.deepEqual(got.get("call_reads_0001")?.request, {
          model: "m",
          messages: [{ role: "user", content: "q1" }],
        });
        assert.deepEqual(got.get("call_reads_0002")?.request, { _raw: "not json" });
        assert.equal(got.has("call_none"), false);
        assert.equal((await reads.callById(store, "call_reads_0001"))?.id, "call_reads_0001");
        assert.equal(await reads.callById(store, "call_none"), undefined);
      });
    });

    it("offers the response of an ok call for reuse, and nothing for a failed one", async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      await withStore(dialect, async (store) => {
        await insertCalls(store, [row(1), row(2, "upstream_error")]);
        const ok = await reads.okResponseOf(store, "call_reads_0001");
        assert.equal(ok?.durationMs, 50);
        assert.deepEqual(ok?.response, {
          choices: [{ index: 0, message: { role: "assistant", content: "a1" } }],
        });
        assert.equal(await reads.okResponseOf(store, "call_reads_0002"), undefined);
        assert.equal(await reads.okResponseOf(store, "call_none"), undefined);
      });
    });
    it("reads sessions by activity, page by page, with their models, users, calls and bodies", async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      await withStore(dialect, async (store) => {
        const inSession = (i: number, sessionId: string, userId: string | null) => ({
          ...row(i),
          sessionId,
          userId,
        });
        await insertCalls(store, [
          inSession(1, "s_a", "u1"),
          inSession(2, "s_b", null),
          inSession(3, "s_a", "u2"),
          { ...inSession(4, "s_a", "u1"), servedModel: "served" },
          row(5),
        ]);
        const first = await reads.sessionsByActivity(store, { limit: 1 });
        assert.deepEqual(first, [
          { sessionId: "s_a", calls: 3, firstAt: 1_700_000_000_001, lastAt: 1_700_000_000_004 },
        ]);
        const next = await reads.sessionsByActivity(store, {
          after: { t: 1_700_000_000_004, id: "s_a" },
          limit: 5,
        });
        assert.deepEqual(
          next.map((s) => s.sessionId),
          ["s_b"],
        );
        const members = await reads.sessionMembers(store, ["s_a", "s_b", "s_none"]);
        assert.deepEqual(members.get("s_a"), { models: ["m", "served"], userIds: ["u1", "u2"] });
        assert.deepEqual(members.get("s_none"), { models: [], userIds: [] });
        const calls = await reads.sessionCalls(store, "s_a", 2);
        assert.deepEqual(
          calls.map((c) => c.id),
          ["call_reads_0001", "call_reads_0003"],
        );
        assert.ok(Number(calls[0]?.bodyChars) > 0, "the bodies' size is measured");
        assert.equal("request" in (calls[0] ?? {}), false, "no body in a session row");
        const bodies = await reads.bodiesOf(store, ["call_reads_0003", "call_none"]);
        assert.match(bodies.get("call_reads_0003")?.request ?? "", /q3/);
        assert.equal(bodies.has("call_none"), false);
      });
    });

    it("finds the newest call's preview for each tag that names a call", async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      await withStore(dialect, async (store) => {
        await insertCalls(store, [
          { ...row(1), tags: JSON.stringify(["shared"]) },
          { ...row(2), tags: JSON.stringify(["shared"]) },
        ]);
        const found = await reads.previewsByTag(store, ["shared", "call_reads_0001", "shared", "nothing"]);
        assert.deepEqual(found.get("shared"), { callId: "call_reads_0002", input: "q2", output: "a2" });
        assert.equal(found.get("call_reads_0001")?.callId, "call_reads_0001");
        assert.equal(found.has("nothing"), false);
      });
    });

    it("reads the review queue's windows: recent starts and durations, unjudged calls by kind, low rewards", async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      await withStore(dialect, async (store) => {
        await insertCalls(store, [
          row(1),
          row(2, "upstream_error"),
          { ...row(3), schemaFailure: "not valid JSON", durationMs: 900 },
          { ...row(4), durationMs: 5000 },
          row(5),
        ]);
        assert.equal(await reads.startOfRecentCalls(store, 2), 1_700_000_000_004);
        assert.equal(await reads.startOfRecentCalls(store, 50), 0, "fewer calls than the window");
        assert.deepEqual(await reads.recentDurations(store, 3), [50, 5000, 900]);
        // A person judged call 5 (reward 1) and a judge call 4 (reward 0.2); call 1 has two disagreeing rewards.
        const annotation = (id: string, source: string, numericReward: number) => ({
          id,
          key: id,
          name: "quality",
          numericReward,
          content: null,
          data: null,
          comment: null,
          correction: null,
          source,
          annotatorId: null,
          notificationId: null,
          createdAt: 1,
        });
        await store.db
          .insertInto("annotations")
          .values([
            annotation("ann_h", "human", 1),
            annotation("ann_j", "judge", 0.2),
            annotation("ann_lo", "code", 0.1),
            annotation("ann_hi", "code", 0.9),
          ])
          .execute();
        await store.db
          .insertInto("callAnnotations")
          .values([
            { callId: "call_reads_0005", annotationId: "ann_h" },
            { callId: "call_reads_0004", annotationId: "ann_j" },
            { callId: "call_reads_0001", annotationId: "ann_lo" },
            { callId: "call_reads_0001", annotationId: "ann_hi" },
          ])
          .execute();
        const page = { since: 0, limit: 10 };
        const ids = (rows: Array<{ id: string }>) => rows.map((r) => r.id);
        assert.deepEqual(ids(await reads.unjudgedCalls(store, { failed: true }, page)), ["call_reads_0002"]);
        assert.deepEqual(ids(await reads.unjudgedCalls(store, { schemaFailed: true }, page)), [
          "call_reads_0003",
        ]);
        assert.deepEqual(ids(await reads.unjudgedCalls(store, { slowerThanMs: 800 }, page)), [
          "call_reads_0004",
          "call_reads_0003",
        ]);
        assert.deepEqual(await reads.unjudgedCallIds(store, { since: 1_700_000_000_002, limit: 10 }), [
          "call_reads_0004",
          "call_reads_0003",
          "call_reads_0002",
        ]);
        assert.deepEqual(await reads.lowRewardCalls(store, { ...page, below: 0.5 }), [
          { id: "call_reads_0004", lo: 0.2, hi: 0.2, n: 1 },
          { id: "call_reads_0001", lo: 0.1, hi: 0.9, n: 2 },
        ]);
      });
    });
  });
}
