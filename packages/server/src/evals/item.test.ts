/**
 * processItem against a store, on each dialect, with a scripted proxy: an attempt writes the candidate call it
 * made on the item, and a later attempt reuses that call by its id instead of paying for it again (found
 * before by a LIKE over the run's calls' metadata).
 */
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../config/index.ts";
import { openStore, type Store } from "../store/index.ts";
import { DIALECTS, freshDatabase, postgresAvailable } from "../testing/harness.ts";
import { createLogger } from "../util/log.ts";
import { type ClaimedItem, type LoadedRun, processItem } from "./item.ts";
import { createRun } from "./runs.ts";

const answer = (content: string) =>
  JSON.stringify({
    object: "chat.completion",
    model: "cand",
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
  });

for (const dialect of DIALECTS) {
  describe(`an evaluation item's attempts (${dialect})`, async () => {
    const skip = dialect === "postgres" && !(await postgresAvailable());
    let fresh: Awaited<ReturnType<typeof freshDatabase>>;
    let store: Store;
    let proxy: http.Server;
    let posted = 0;
    let run: LoadedRun;
    const deps = () => ({
      store,
      config: { upstreams: new Map(), apiKey: undefined, linkDepth: 10 },
      baseUrl: () => `http://127.0.0.1:${(proxy.address() as { port: number }).port}`,
      log: createLogger("silent"),
    });
    const ctx = { signal: new AbortController().signal, onRateLimited: () => {}, custom: new Map() };

    before(async () => {
      if (skip) return;
      fresh = await freshDatabase(dialect);
      store = await openStore(loadConfig({}, { db: fresh.db, dataDir: fresh.dataDir }).db);
      // This server's proxy, as the item sees it: it answers and names the call it logged.
      proxy = http.createServer((req, res) => {
        req.resume();
        req.on("end", () => {
          posted++;
          res.writeHead(200, {
            "content-type": "application/json",
            "x-intersebd-call-id": `call_new_${posted}`,
          });
          res.end(answer("fresh answer"));
        });
      });
      await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", () => r()));
      const call = (id: string, outcome: string, response: string | null) => ({
        id,
        startedAt: 1_700_000_000_000,
        durationMs: 42,
        stream: 0,
        upstream: "default",
        path: "/chat/completions",
        outcome,
        capture: "full",
        source: "proxy",
        request: JSON.stringify({ model: "base", messages: [{ role: "user", content: "hi" }] }),
        response,
        // Nothing ties these to a run but the item's column.
        metadata: "{}",
        tags: "[]",
      });
      await store.db
        .insertInto("calls")
        .values([
          call("base", "ok", answer("baseline answer")),
          call("earlier", "ok", answer("earlier answer")),
          call("broken", "upstream_error", null),
        ])
        .execute();
      const view = await createRun(store, {
        dataset: null,
        snapshotId: null,
        callIds: ["base", "base", "base"],
        candidate: { model: "cand" },
        checks: [{ type: "regex", name: "answer", pattern: "answer$" }],
        seed: 1,
        concurrency: 1,
        needsCode: false,
        estimate: {
          items: 3,
          candidateUsd: null,
          judgeUsd: null,
          totalUsd: null,
          knownUsd: 0,
          unpricedModels: [],
          skipped: [],
        },
      });
      run = { id: view.id, candidate: view.candidate, checks: view.checks, seed: 1, concurrency: 1 };
    });
    after(async () => {
      proxy?.close();
      await store?.close();
      await fresh?.drop();
    });

    /** Claims item `index` as a worker would, with the lease `lease`. */
    const claim = async (
      index: number,
      attempts: number,
      attemptCallId: string | null,
    ): Promise<ClaimedItem> => {
      const lease = `lease_${index}_${attempts}`;
      await store.db
        .updateTable("evalItems")
        .set({ status: "running", lease, attempts, attemptCallId })
        .where("runId", "=", run.id)
        .where("itemIndex", "=", index)
        .execute();
      return { runId: run.id, itemIndex: index, baselineCallId: "base", attempts, lease, attemptCallId };
    };
    const attemptCallOf = async (index: number) =>
      (
        await store.db
          .selectFrom("evalItems")
          .select("attemptCallId")
          .where("runId", "=", run.id)
          .where("itemIndex", "=", index)
          .executeTakeFirstOrThrow()
      ).attemptCallId;

    it("should write the candidate call of an attempt on the item as soon as the proxy answers", {
      skip,
    }, async () => {
      const before = posted;
      const out = await processItem(deps(), run, await claim(0, 1, null), ctx);
      assert.equal(posted, before + 1);
      assert.equal(out.candidateCallId, `call_new_${posted}`);
      assert.equal(await attemptCallOf(0), `call_new_${posted}`);
      assert.equal(out.results.candidate.reused, undefined);
    });

    it("should reuse the call an earlier attempt wrote on the item, by its id, without asking again", {
      skip,
    }, async () => {
      const before = posted;
      const out = await processItem(deps(), run, await claim(1, 2, "earlier"), ctx);
      assert.equal(posted, before, "the candidate was not asked again");
      assert.equal(out.candidateCallId, "earlier");
      assert.equal(out.results.candidate.reused, true);
      assert.equal(out.results.candidate.answer, "earlier answer");
      assert.equal(out.results.candidate.latencyMs, 42);
      assert.deepEqual(
        out.results.checks.map((c) => c.pass),
        [true],
      );
    });

    it("should ask again when the earlier attempt's call did not end ok", { skip }, async () => {
      const before = posted;
      const out = await processItem(deps(), run, await claim(2, 2, "broken"), ctx);
      assert.equal(posted, before + 1);
      assert.equal(out.candidateCallId, `call_new_${posted}`);
      assert.equal(await attemptCallOf(2), `call_new_${posted}`);
    });

    it("should leave the item alone when the attempt lost its lease", { skip }, async () => {
      const item = await claim(0, 3, "earlier");
      await store.db
        .updateTable("evalItems")
        .set({ lease: "another worker's" })
        .where("runId", "=", run.id)
        .where("itemIndex", "=", 0)
        .execute();
      // Reused calls are not written again; a fresh one is written only under the attempt's own lease.
      await processItem(deps(), run, { ...item, attemptCallId: null }, ctx);
      assert.equal(await attemptCallOf(0), "earlier");
    });
  });
}
