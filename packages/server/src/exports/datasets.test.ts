import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DIALECTS, storeSuite } from "../testing/index.ts";
import { snapshotDataset } from "./datasets.ts";
import { loadFixture } from "./golden-fixture.ts";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
type Body = Record<string, any>;

for (const dialect of DIALECTS) {
  describe(`datasets API (${dialect})`, async () => {
    const suite = await storeSuite(dialect, { seed: loadFixture });
    const { skip } = suite;

    it("should save a filter and report its size, reward histogram and how much is judged", {
      skip,
    }, async () => {
      const created = await suite.s.api<Body>("/api/datasets", {
        body: {
          name: "capitals",
          description: "Questions about capitals",
          filter: { q: "Capital", model: ["gpt-4o-mini"], annotated: true },
        },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.deepEqual(created.body.filter, { q: "Capital", model: "gpt-4o-mini", annotated: "true" });
      const d = await suite.s.api<Body>("/api/datasets/capitals");
      assert.equal(d.status, 200);
      // Calls 4 (reward 1), 5 (reward 0, corrected) and 15 (reward 1) ask for a capital.
      assert.equal(d.body.size, 3);
      assert.equal(d.body.annotated, 3);
      assert.equal(d.body.corrections, 1);
      assert.equal(d.body.pairwise, 1, "call 4 is named by comparison cmp_4");
      const nonEmpty = (d.body.rewardHistogram as Body[]).filter((b) => b.count > 0);
      assert.deepEqual(nonEmpty, [
        { bucket: 0, count: 1 },
        { bucket: 1, count: 2 },
      ]);
      assert.equal(d.body.description, "Questions about capitals");
    });

    it("should select by annotation conditions, corrections and pairwise choices", { skip }, async () => {
      const sizes: Record<string, number> = {};
      const filters: Record<string, Body> = {
        "human-rated": { where: "reward >= 0 by human" },
        corrected: { hasCorrection: true },
        uncorrected: { hasCorrection: false, annotated: true },
        compared: { hasComparison: true },
        helpful: { name: "helpful", minReward: 4 },
        "judge-or-user": { where: "source = judge" },
      };
      for (const [name, filter] of Object.entries(filters)) {
        const r = await suite.s.api<Body>("/api/datasets", { body: { name, filter } });
        assert.equal(r.status, 201, `${name}: ${JSON.stringify(r.body)}`);
        sizes[name] = (await suite.s.api<Body>(`/api/datasets/${name}`)).body.size;
      }
      assert.deepEqual(sizes, {
        "human-rated": 3, // calls 2, 3, 5
        corrected: 2, // 3, 5
        uncorrected: 10, // 13 annotated calls, less 3 and 5
        compared: 3, // 4, 6 and 7 by their completion ids (cmp_3's ghost tag names no call)
        helpful: 1, // 2
        "judge-or-user": 1, // 12
      });
      const list = await suite.s.api<Body>("/api/datasets");
      assert.ok((list.body.data as Body[]).some((d) => d.name === "helpful"));
    });

    it("should refuse a taken name, a bad name, a bad filter and an unknown dataset", { skip }, async () => {
      assert.equal((await suite.s.api<Body>("/api/datasets", { body: { name: "dupe" } })).status, 201);
      const taken = await suite.s.api<Body>("/api/datasets", { body: { name: "dupe" } });
      assert.equal(taken.status, 409);
      assert.equal(taken.body.error.field, "name");
      const badName = await suite.s.api<Body>("/api/datasets", { body: { name: "a/b" } });
      assert.equal(badName.status, 400);
      const badFilter = await suite.s.api<Body>("/api/datasets", {
        body: { name: "x", filter: { where: "reward >" } },
      });
      assert.equal(badFilter.status, 400);
      assert.equal(badFilter.body.error.field, "where");
      const typo = await suite.s.api<Body>("/api/datasets", { body: { name: "x", filter: { modle: "a" } } });
      assert.equal(typo.status, 400);
      assert.match(typo.body.error.message, /modle/);
      assert.equal((await suite.s.api<Body>("/api/datasets/nope")).status, 404);
      assert.equal((await suite.s.api<Body>("/api/datasets/nope", { method: "DELETE" })).status, 404);
    });

    it("should rename, refilter and delete a dataset, keeping its snapshots", { skip }, async () => {
      assert.equal(
        (await suite.s.api("/api/datasets", { body: { name: "tmp", filter: { sessionId: "s-a" } } })).status,
        201,
      );
      const renamed = await suite.s.api<Body>("/api/datasets/tmp", {
        method: "PUT",
        body: { name: "weather", filter: { sessionId: "s-a", where: "has annotation" } },
      });
      assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
      assert.equal((await suite.s.api("/api/datasets/tmp")).status, 404);
      const d = await suite.s.api<Body>("/api/datasets/weather");
      assert.equal(d.body.size, 2);
      const conflict = await suite.s.api<Body>("/api/datasets/weather", {
        method: "PUT",
        body: { name: "capitals" },
      });
      assert.equal(conflict.status, 409);

      const exported = await fetch(`${suite.s.url}/api/export?format=openai-sft&dataset=weather`);
      const rows = (await exported.text()).trim().split("\n");
      assert.equal(rows.length, 2);
      const snaps = await suite.s.api<Body>("/api/datasets/weather/snapshots");
      assert.equal(snaps.body.data.length, 1);
      const snap = snaps.body.data[0];
      assert.equal(snap.purpose, "export");
      assert.equal(snap.format, "openai-sft");
      assert.equal(snap.rowCount, 2);
      assert.equal(snap.callCount, 2);
      assert.equal(snap.complete, true);
      assert.deepEqual(snap.params.datasetFilter, { sessionId: "s-a", where: "has annotation" });

      assert.equal((await suite.s.api("/api/datasets/weather", { method: "DELETE" })).status, 204);
      assert.equal((await suite.s.api("/api/datasets/weather")).status, 404);
      const kept = await suite.s.api<Body>(`/api/snapshots/${snap.id}`);
      assert.equal(kept.status, 200);
      assert.deepEqual(kept.body.callIds, ["call_01", "call_02"]);
      assert.equal(kept.body.datasetName, "weather");
    });

    it("should snapshot a dataset for an evaluation and page its call ids", { skip }, async () => {
      const { snapshotId, callIds } = await snapshotDataset(suite.s.ctx, "capitals");
      assert.deepEqual(callIds, ["call_04", "call_05", "call_15"]);
      const page1 = await suite.s.api<Body>(`/api/snapshots/${snapshotId}?limit=2`);
      assert.deepEqual(page1.body.callIds, ["call_04", "call_05"]);
      assert.equal(page1.body.purpose, "evaluation");
      assert.equal(page1.body.callCount, 3);
      assert.equal(page1.body.rowCount, null);
      const page2 = await suite.s.api<Body>(
        `/api/snapshots/${snapshotId}?limit=2&cursor=${page1.body.nextCursor}`,
      );
      assert.deepEqual(page2.body.callIds, ["call_15"]);
      assert.equal(page2.body.nextCursor, null);
      await assert.rejects(snapshotDataset(suite.s.ctx, "missing"), /no dataset named "missing"/);
    });

    it("should narrow a dataset's export with the query's own filters and record the split part", {
      skip,
    }, async () => {
      const r = await fetch(
        `${suite.s.url}/api/export?format=trl-kto&dataset=capitals&minReward=1&split=0.5&part=validation`,
      );
      assert.equal(r.status, 200);
      assert.match(r.headers.get("content-disposition") ?? "", /capitals-trl-kto\.validation\.jsonl/);
      // The snapshot is complete once the body has been read to its end.
      const rows = (await r.text()).split("\n").filter(Boolean);
      const snaps = await suite.s.api<Body>("/api/datasets/capitals/snapshots");
      const latest = snaps.body.data[0];
      assert.equal(latest.format, "trl-kto");
      assert.equal(latest.params.part, "validation");
      assert.equal(latest.params.split, 0.5);
      assert.ok(rows.length > 0);
      assert.equal(latest.rowCount, rows.length);
    });
  });
}
