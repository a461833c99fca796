/**
 * startEvaluation alone, on each dialect, against a store (no server): a dry run stores nothing, a start stores
 * the run with its items and wakes the worker once, and a run over its cost cap is refused before anything is
 * stored.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../config/index.ts";
import { HttpError } from "../http/index.ts";
import { openStore, type Store } from "../store/index.ts";
import { DIALECTS, freshDatabase, postgresAvailable } from "../testing/harness.ts";
import { createLogger } from "../util/log.ts";
import { createEvalSchema, parseInput } from "./schemas.ts";
import { startEvaluation } from "./start-evaluation.ts";

for (const dialect of DIALECTS) {
  describe(`startEvaluation (${dialect})`, async () => {
    const skip = dialect === "postgres" && !(await postgresAvailable());
    let fresh: Awaited<ReturnType<typeof freshDatabase>>;
    let store: Store;
    const deps = () => ({
      store,
      config: { upstreams: new Map([["default", {} as never]]), apiKey: undefined, linkDepth: 10 },
      baseUrl: () => "http://127.0.0.1:9",
      log: createLogger("silent"),
    });
    const runs = async () => (await store.db.selectFrom("evalRuns").select("id").execute()).length;

    before(async () => {
      if (skip) return;
      fresh = await freshDatabase(dialect);
      store = await openStore(loadConfig({}, { db: fresh.db, dataDir: fresh.dataDir }).db);
      await store.db
        .insertInto("calls")
        .values(
          ["s1", "s2"].map((id) => ({
            id,
            startedAt: 1_700_000_000_000,
            upstream: "default",
            path: "/chat/completions",
            stream: 0,
            outcome: "ok",
            capture: "full",
            source: "proxy",
            request: JSON.stringify({ model: "gpt-4.1-mini", messages: [{ role: "user", content: id }] }),
            promptTokens: 1000,
            completionTokens: 1000,
            tags: "[]",
            metadata: "{}",
          })),
        )
        .execute();
    });
    after(async () => {
      await store?.close();
      await fresh?.drop();
    });

    const input = (extra: object = {}) =>
      parseInput(createEvalSchema, {
        callIds: ["s1", "s2"],
        candidate: { model: "gpt-4.1-mini" },
        checks: ["regex:^ok"],
        ...extra,
      });

    it("should estimate a dry run and store nothing, whatever its cost cap", { skip }, async () => {
      let pokes = 0;
      const dry = await startEvaluation(deps(), input({ maxCostUsd: 0 }), {
        dryRun: true,
        worker: { poke: () => pokes++ },
      });
      assert.equal(dry.run, null);
      assert.equal(dry.estimate.items, 2);
      assert.deepEqual(
        dry.checks.map((c) => c.name),
        ["regex:^ok"],
      );
      assert.equal(await runs(), 0);
      assert.equal(pokes, 0);
    });

    it("should refuse a run over its cost cap before storing it", { skip }, async () => {
      await assert.rejects(
        startEvaluation(deps(), input({ maxCostUsd: 0 })),
        (err) => err instanceof HttpError && err.status === 400 && err.field === "maxCostUsd",
      );
      assert.equal(await runs(), 0);
    });

    it("should store the run queued with its items and wake the worker once", { skip }, async () => {
      let pokes = 0;
      const started = await startEvaluation(deps(), input({ maxCostUsd: 100 }), {
        worker: { poke: () => pokes++ },
      });
      assert.equal(started.run.status, "queued");
      assert.equal(started.run.total, 2);
      assert.equal(pokes, 1);
      const items = await store.db
        .selectFrom("evalItems")
        .select(["itemIndex", "baselineCallId", "status"])
        .where("runId", "=", started.run.id)
        .orderBy("itemIndex")
        .execute();
      assert.deepEqual(items, [
        { itemIndex: 0, baselineCallId: "s1", status: "pending" },
        { itemIndex: 1, baselineCallId: "s2", status: "pending" },
      ]);
    });
  });
}
