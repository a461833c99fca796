/**
 * Review clusters (GET /api/review-queue's `clusters`), on every dialect: candidates grouped by their safe
 * metadata, repeated clusters first (largest, then newest), single calls after (newest first), examples newest
 * first, and calls a person judged left out.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type ChatCallFields, chatCallBody } from "../testing/calls.ts";
import { DIALECTS, postCreated, serverForSuite } from "../testing/harness.ts";
import { rewardBand } from "./review-clusters.ts";

const T0 = Date.parse("2025-03-01T10:00:00Z");

function call(id: string, startedAt: number, opts: { durationMs?: number } & ChatCallFields = {}) {
  const { durationMs = 100, ...fields } = opts;
  return chatCallBody(id, { startedAt, endedAt: startedAt + durationMs, ...fields });
}

const failed = (id: string, startedAt: number, model: string) =>
  call(id, startedAt, { model, outcome: "upstream_error", status: 500, error: "overloaded" });

interface Cluster {
  id: string;
  key: Record<string, unknown>;
  count: number;
  newestAt: string;
  kinds: string[];
  items: Array<{ call: { id: string; request?: unknown }; reasons: string[]; kinds: string[] }>;
}

describe("reward bands", () => {
  it("bands the mean reward, none without one", () => {
    assert.deepEqual([null, 0, 0.24, 0.25, 0.5, 0.74, 0.75, 1].map(rewardBand), [
      "none",
      "0-0.25",
      "0-0.25",
      "0.25-0.5",
      "0.5-0.75",
      "0.5-0.75",
      "0.75-1",
      "0.75-1",
    ]);
  });
});

for (const dialect of DIALECTS) {
  describe(`review clusters on ${dialect}`, () => {
    const server = serverForSuite(dialect, {}, { inProcess: true });

    it("groups candidates by safe metadata and orders repeated clusters by size and recency before single calls", async (t) => {
      const s = server(t);
      if (!s) return;
      await postCreated(s, "/api/calls", [
        // Ten ordinary calls of 100 ms make the p90 100 ms; none is evidence of anything. Ingested: upstream `sdk`.
        ...Array.from({ length: 10 }, (_, i) => call(`ok_${i}`, T0 + i)),
        call("slow_1", T0 + 50, { durationMs: 9000 }),
        failed("mini_err_1", T0 + 100, "gpt-4o-mini"),
        failed("mini_err_2", T0 + 101, "gpt-4o-mini"),
        failed("mini_err_3", T0 + 102, "gpt-4o-mini"),
        failed("mini_err_judged", T0 + 103, "gpt-4o-mini"),
        failed("big_err_1", T0 + 200, "gpt-4o"),
        failed("big_err_2", T0 + 201, "gpt-4o"),
        call("title_b_1", T0 + 300, { experiment: "titles", variant: "b" }),
        call("title_b_2", T0 + 301, { experiment: "titles", variant: "b" }),
        call("title_a_1", T0 + 302, { experiment: "titles", variant: "a" }),
        call("flagged_1", T0 + 400),
      ]);
      await postCreated(s, "/api/annotations", [
        { annotationKey: "cmpl-title_b_1", name: "check:format", numericReward: 0, source: "code" },
        { annotationKey: "cmpl-title_b_2", name: "check:format", numericReward: 0, source: "code" },
        // The same failed check on another variant is another cluster: the variant is part of the key.
        { annotationKey: "cmpl-title_a_1", name: "check:format", numericReward: 0, source: "code" },
        {
          annotationKey: "cmpl-flagged_1",
          name: "floor",
          numericReward: 0,
          data: { flags: ["pii", "abuse"] },
        },
        { annotationKey: "cmpl-mini_err_judged", numericReward: 0, source: "human", annotatorId: "ana" },
      ]);

      const r = await s.api<{ data: unknown[]; clusters: Cluster[] }>(
        "/api/review-queue?limit=50&examples=2",
      );
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const { clusters } = r.body;
      assert.deepEqual(
        clusters.map((c) => [c.count, c.items.map((i) => i.call.id)]),
        [
          [3, ["mini_err_3", "mini_err_2"]],
          [2, ["title_b_2", "title_b_1"]],
          [2, ["big_err_2", "big_err_1"]],
          [1, ["flagged_1"]],
          [1, ["title_a_1"]],
          [1, ["slow_1"]],
        ],
        "size first, then the newest call; single calls last, newest first; a person's judged call left out",
      );
      const [mini, titles, , flagged, , slow] = clusters;
      assert.deepEqual(mini?.key, {
        model: "gpt-4o-mini",
        upstream: "sdk",
        outcome: "upstream_error",
        checkFailed: null,
        flag: null,
        rewardBand: "none",
        experiment: null,
        variant: null,
      });
      assert.deepEqual(mini?.kinds, ["error"]);
      assert.equal(mini?.newestAt, new Date(T0 + 102).toISOString());
      assert.deepEqual(titles?.key, {
        model: "gpt-4o-mini",
        upstream: "sdk",
        outcome: "ok",
        checkFailed: "format",
        flag: null,
        rewardBand: "0-0.25",
        experiment: "titles",
        variant: "b",
      });
      assert.deepEqual(titles?.kinds, ["reward"]);
      assert.equal(flagged?.key.flag, "abuse,pii");
      assert.deepEqual(slow?.kinds, ["slow"]);
      for (const c of clusters) {
        assert.ok(
          c.items.every((i) => i.call.request === undefined),
          "no bodies in a cluster's items",
        );
        assert.ok(c.items.every((i) => i.reasons.length > 0));
      }
      assert.equal(new Set(clusters.map((c) => c.id)).size, clusters.length, "one cluster per key");

      const two = await s.api<{ clusters: Cluster[] }>("/api/review-queue?limit=2");
      assert.deepEqual(
        two.body.clusters.map((c) => c.count),
        [3, 2],
      );
      assert.equal(two.body.clusters[0]?.items.length, 3, "three examples by default");
      assert.equal((await s.api("/api/review-queue?examples=0")).status, 400);
    });
  });
}
