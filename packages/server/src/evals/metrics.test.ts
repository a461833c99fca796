import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DIALECTS, postgresAvailable, startTestServer, type TestServer } from "../testing/index.ts";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
type Body = Record<string, any>;

const at = (iso: string) => Date.parse(iso);

/** Four calls over two days: model, upstream, prompt version, duration and (priced) usage known. */
const CALLS = [
  { id: "m-1", t: "2025-05-01T10:15:00Z", model: "gpt-4.1", upstream: "default", v: "v1", ms: 100 },
  { id: "m-2", t: "2025-05-01T10:45:00Z", model: "gpt-4.1", upstream: "default", v: "v1", ms: 300 },
  { id: "m-3", t: "2025-05-01T11:05:00Z", model: "gpt-4.1-mini", upstream: "openrouter", v: "v2", ms: 200 },
  { id: "m-4", t: "2025-05-02T09:00:00Z", model: "gpt-4.1-mini", upstream: "openrouter", v: "v2", ms: 400 },
];
// 1000 prompt + 100 completion tokens: gpt-4.1 ($2 / $8 per M) $0.0028, gpt-4.1-mini ($0.4 / $1.6) $0.00056.
const COST = { "gpt-4.1": 0.0028, "gpt-4.1-mini": 0.00056 };
const RANGE = `from=${encodeURIComponent("2025-05-01T00:00:00Z")}&to=${encodeURIComponent("2025-05-03T00:00:00Z")}`;

for (const dialect of DIALECTS) {
  describe(`GET /api/metrics/timeseries (${dialect})`, async () => {
    const skip = dialect === "postgres" && !(await postgresAvailable());
    let s: TestServer;
    const series = async (q: string) => {
      const r = await s.api<Body>(`/api/metrics/timeseries?${q}&${RANGE}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return (r.body.buckets as Body[]).map((b) => [b.t, b.group, Math.round(b.value * 1e9) / 1e9, b.n]);
    };

    before(async () => {
      if (skip) return;
      s = await startTestServer(dialect);
      const r = await s.api("/api/calls", {
        body: CALLS.map((c) => ({
          id: c.id,
          startedAt: at(c.t),
          endedAt: at(c.t) + c.ms,
          upstream: c.upstream,
          metadata: { promptVersion: c.v },
          request: { model: c.model, messages: [{ role: "user", content: "hi" }] },
          response: {
            model: c.model,
            choices: [{ index: 0, message: { role: "assistant", content: "ok" } }],
            usage: { prompt_tokens: 1000, completion_tokens: 100, total_tokens: 1100 },
          },
        })),
      });
      assert.equal(r.status, 201);
      await s.api("/api/annotations", {
        body: [
          { annotationKey: "m-1", numericReward: 1, source: "human" },
          { annotationKey: "m-2", numericReward: 0, source: "human" },
          { annotationKey: "m-3", numericReward: 1, source: "human" },
          { annotationKey: "m-3", name: "judge", numericReward: 0.5, source: "judge" },
        ],
      });
      // Check verdicts as an evaluation stores them: on m-1 (pass) and m-2 (fail), and one that did not apply.
      await s.ctx.store.db
        .insertInto("evalCheckResults")
        .values([
          {
            runId: "evl_x",
            itemIndex: 0,
            checkName: "json-schema",
            callId: "m-1",
            pass: 1,
            score: null,
            createdAt: at("2025-05-01T10:20:00Z"),
          },
          {
            runId: "evl_x",
            itemIndex: 1,
            checkName: "json-schema",
            callId: "m-2",
            pass: 0,
            score: null,
            createdAt: at("2025-05-01T10:50:00Z"),
          },
          {
            runId: "evl_x",
            itemIndex: 2,
            checkName: "json-schema",
            callId: "m-3",
            pass: null,
            score: null,
            createdAt: at("2025-05-01T11:10:00Z"),
          },
          {
            runId: "evl_x",
            itemIndex: 2,
            checkName: "regex",
            callId: "m-3",
            pass: 1,
            score: null,
            createdAt: at("2025-05-01T11:10:00Z"),
          },
        ])
        .execute();
    });
    after(async () => s?.stop());

    it("should count calls per hour and model, and per day", { skip }, async () => {
      assert.deepEqual(await series("metric=volume&bucket=hour&groupBy=model"), [
        ["2025-05-01T10:00:00.000Z", "gpt-4.1", 2, 2],
        ["2025-05-01T11:00:00.000Z", "gpt-4.1-mini", 1, 1],
        ["2025-05-02T09:00:00.000Z", "gpt-4.1-mini", 1, 1],
      ]);
      assert.deepEqual(await series("metric=volume&bucket=day"), [
        ["2025-05-01T00:00:00.000Z", null, 3, 3],
        ["2025-05-02T00:00:00.000Z", null, 1, 1],
      ]);
    });

    it("should sum cost per upstream and average latency per prompt version", { skip }, async () => {
      assert.deepEqual(await series("metric=cost&bucket=day&groupBy=upstream"), [
        ["2025-05-01T00:00:00.000Z", "default", 2 * COST["gpt-4.1"], 2],
        ["2025-05-01T00:00:00.000Z", "openrouter", COST["gpt-4.1-mini"], 1],
        ["2025-05-02T00:00:00.000Z", "openrouter", COST["gpt-4.1-mini"], 1],
      ]);
      assert.deepEqual(await series("metric=latency&bucket=day&groupBy=promptVersion"), [
        ["2025-05-01T00:00:00.000Z", "v1", 200, 2],
        ["2025-05-01T00:00:00.000Z", "v2", 200, 1],
        ["2025-05-02T00:00:00.000Z", "v2", 400, 1],
      ]);
    });

    it("should average the rewards resolved to each bucket's calls, by name and source", {
      skip,
    }, async () => {
      assert.deepEqual(await series("metric=reward&bucket=hour"), [
        ["2025-05-01T10:00:00.000Z", null, 0.5, 2],
        ["2025-05-01T11:00:00.000Z", null, 0.75, 2],
      ]);
      assert.deepEqual(await series("metric=reward&bucket=hour&source=human&groupBy=promptVersion"), [
        ["2025-05-01T10:00:00.000Z", "v1", 0.5, 2],
        ["2025-05-01T11:00:00.000Z", "v2", 1, 1],
      ]);
      assert.deepEqual(await series("metric=reward&bucket=day&name=judge"), [
        ["2025-05-01T00:00:00.000Z", null, 0.5, 1],
      ]);
    });

    it("should give the share of check verdicts that passed, leaving out those that did not apply", {
      skip,
    }, async () => {
      assert.deepEqual(await series("metric=passRate&bucket=hour&groupBy=model"), [
        ["2025-05-01T10:00:00.000Z", "gpt-4.1", 0.5, 2],
        ["2025-05-01T11:00:00.000Z", "gpt-4.1-mini", 1, 1],
      ]);
      assert.deepEqual(await series("metric=passRate&bucket=day&name=json-schema&run=evl_x"), [
        ["2025-05-01T00:00:00.000Z", null, 0.5, 2],
      ]);
    });

    it("should answer bad queries with a 400 naming the field", { skip }, async () => {
      const field = async (q: string) => {
        const r = await s.api<Body>(`/api/metrics/timeseries?${q}`);
        assert.equal(r.status, 400, JSON.stringify(r.body));
        return r.body.error.field;
      };
      assert.equal(await field("bucket=hour"), "metric");
      assert.equal(await field("metric=speed"), "metric");
      assert.equal(await field("metric=volume&bucket=week"), "bucket");
      assert.equal(await field("metric=volume&groupBy=user"), "groupBy");
      assert.equal(await field("metric=volume&from=2000&to=1000"), "from");
      assert.equal(await field("metric=volume&bucket=hour&from=0&to=99999999999999"), "from");
      assert.equal(await field("metric=volume&from=yesterday"), "from");
      assert.equal(await field("metric=volume&colour=red"), "colour");
    });
  });
}
