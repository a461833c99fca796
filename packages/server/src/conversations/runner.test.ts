/**
 * The conversation runner's lease and cost cap, on each dialect. Runners are built here on a store of their own
 * (the test server only lends its proxy, to a slow fake upstream, and its own runner never sees these items), so
 * the test decides which runner claims what: one that stops without handing its lease back is a killed
 * instance, whose item another runner takes once the short lease ends, and not while the heartbeat runs.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { AppContext } from "../context.ts";
import type { Store } from "../store/index.ts";
import {
  DIALECTS,
  eventually,
  type FakeUpstream,
  freshDatabase,
  openStoreOn,
  postgresAvailable,
  startFakeUpstream,
  startTestServer,
  type TestServer,
} from "../testing/index.ts";
import { conversationEvalReport } from "./book.ts";
import { ConversationRunner } from "./runner.ts";
import type { ConversationEvalDefinition } from "./schemas.ts";

/** Every upstream answer takes this long: an item is in flight at least twice this (regeneration, judge). */
const UPSTREAM_MS = 1200;

const definition: ConversationEvalDefinition = {
  sessions: ["s"],
  candidates: [{ name: "plain" }],
  criteria: [{ name: "scenario", description: "Which answer follows the scenario?" }],
  contextLengths: [null],
  sliceLength: 20,
  stride: 5,
  judge: { model: "fake-judge" },
};

for (const dialect of DIALECTS) {
  describe(`the conversation runner's lease and cost cap (${dialect})`, async () => {
    const skip = dialect === "postgres" && !(await postgresAvailable());
    let fake: FakeUpstream;
    let s: TestServer;
    let fresh: Awaited<ReturnType<typeof freshDatabase>>;
    let store: Store;
    let ctx: AppContext;

    before(async () => {
      if (skip) return;
      fake = await startFakeUpstream({ delayMs: UPSTREAM_MS });
      s = await startTestServer(dialect, { upstream: fake.url, inProcess: true });
      fresh = await freshDatabase(dialect);
      store = await openStoreOn(dialect, fresh.db);
      ctx = { ...s.ctx, store };
    });
    after(async () => {
      await store?.close();
      await fresh?.drop();
      await s?.stop();
      await fake?.close();
    });

    /** An evaluation of `n` pending items, or with `spent`, item 0 already done at that cost. */
    async function seed(id: string, n: number, opts: { maxCostUsd?: number; spent?: number } = {}) {
      await store.db
        .insertInto("conversationEvals")
        .values({
          id,
          status: "running",
          definition: JSON.stringify(definition),
          total: n,
          createdAt: Date.now(),
          finishedAt: null,
          maxCostUsd: opts.maxCostUsd ?? null,
          estimateUsd: null,
        })
        .execute();
      await store.db
        .insertInto("conversationEvalItems")
        .values(
          Array.from({ length: n }, (_, k) => ({
            evalId: id,
            itemIndex: k,
            sessionId: "s",
            sliceStart: 0,
            targetIndex: 1,
            candidate: "plain",
            contextLength: null,
            request: JSON.stringify({
              model: "gpt-4.1-mini",
              messages: [{ role: "user", content: `question ${k}` }],
            }),
            judgeContext: `user: question ${k}`,
            original: "answer",
            originalCallId: null,
            regenCallId: null,
            regen: null,
            status: k === 0 && opts.spent !== undefined ? "done" : "pending",
            attempts: 0,
            lease: null,
            lockedUntil: null,
            error: null,
            costUsd: k === 0 && opts.spent !== undefined ? opts.spent : null,
            unpricedCalls: 0,
          })),
        )
        .execute();
    }
    const itemOf = (id: string, index = 0) =>
      store.db
        .selectFrom("conversationEvalItems")
        .selectAll()
        .where("evalId", "=", id)
        .where("itemIndex", "=", index)
        .executeTakeFirstOrThrow();
    const statusOf = async (id: string) =>
      (
        await store.db
          .selectFrom("conversationEvals")
          .select("status")
          .where("id", "=", id)
          .executeTakeFirstOrThrow()
      ).status;

    /** A started runner that claims only when a test ticks it (its own poll is an hour away). */
    const byHand = (opts: { leaseMs?: number } = {}) => {
      const runner = new ConversationRunner(ctx, { pollMs: 3_600_000, ...opts });
      runner.start();
      return runner;
    };

    it("should lock a claimed item for 30 s by default, not minutes", { skip }, async () => {
      await seed("conv_default", 1);
      const runner = byHand();
      await runner.tick();
      const item = await itemOf("conv_default");
      assert.equal(item.status, "running");
      assert.ok(item.lease);
      const lockedFor = Number(item.lockedUntil) - Date.now();
      assert.ok(lockedFor > 0 && lockedFor <= 30_000, `locked for ${lockedFor} ms`);
      await runner.stop();
      // Out of the way of the runners below.
      await store.db
        .updateTable("conversationEvalItems")
        .set({ status: "failed", lease: null })
        .where("evalId", "=", "conv_default")
        .execute();
    });

    it("should keep a running item's lease alive, and hand a killed runner's item to another once it ends", {
      skip,
    }, async () => {
      await seed("conv_kill", 1);
      // Heartbeats every 200 ms keep it through a loaded machine's stalls; 2.5 leases stay within the item's first
      // upstream call (UPSTREAM_MS), so the item is still in flight when the test looks.
      const leaseMs = 600;
      const a = byHand({ leaseMs });
      const b = byHand({ leaseMs });
      const claimedAt = Date.now();
      await a.tick();
      const claimed = await itemOf("conv_kill");
      assert.equal(claimed.status, "running");
      const leaseA = claimed.lease as string;
      assert.ok(Number(claimed.lockedUntil) <= claimedAt + leaseMs + 1000);

      // Two and a half leases later the item is still in flight in A (the upstream is slow): the heartbeat has
      // moved its lock on, and B finds nothing to claim.
      await sleep(leaseMs * 2.5);
      const beating = await itemOf("conv_kill");
      assert.equal(beating.lease, leaseA);
      assert.ok(Number(beating.lockedUntil) > Number(claimed.lockedUntil), "the heartbeat extended the lock");
      await b.tick();
      assert.equal((await itemOf("conv_kill")).lease, leaseA);

      // A dies: no heartbeat, no hand-back. Its lease stays until it ends; then B claims the item and finishes it.
      await a.kill();
      const dead = await itemOf("conv_kill");
      assert.equal(dead.status, "running");
      assert.equal(dead.lease, leaseA);
      await eventually(
        async () => {
          await b.tick();
          const it = await itemOf("conv_kill");
          return it.lease !== leaseA;
        },
        10_000,
        "B to reclaim the item",
      );
      const done = await eventually(
        async () => {
          const it = await itemOf("conv_kill");
          return it.status === "done" ? it : undefined;
        },
        20_000,
        "B to finish the item",
      );
      assert.equal(Number(done.attempts), 2);
      assert.ok(done.regenCallId);
      // The evaluation's own status follows its last item's, in the runner's next statement: wait for it.
      await eventually(
        async () => (await statusOf("conv_kill")) === "done",
        10_000,
        "the evaluation to be done",
      );
      const verdicts = await store.db
        .selectFrom("comparisons")
        .select("a")
        .where("a", "=", done.regenCallId)
        .execute();
      assert.equal(verdicts.length, 1);
      await b.stop();
    });

    it("should start no item of an evaluation whose calls' cost has reached its cap", { skip }, async () => {
      await seed("conv_capped", 3, { maxCostUsd: 0.01, spent: 0.01 });
      const sent = fake.requests.length;
      const runner = byHand();
      await runner.tick();
      await runner.stop();
      assert.equal(fake.requests.length, sent, "no call was made");
      assert.deepEqual(await Promise.all([1, 2].map(async (k) => (await itemOf("conv_capped", k)).status)), [
        "skipped",
        "skipped",
      ]);
      assert.equal(await statusOf("conv_capped"), "stopped");
      const report = await conversationEvalReport(store, "conv_capped");
      assert.deepEqual(report.cost, {
        estimateUsd: null,
        spentUsd: 0.01,
        unpricedCalls: 0,
        maxCostUsd: 0.01,
        capReached: true,
      });
      assert.deepEqual(report.progress, { total: 3, pending: 0, running: 0, done: 1, failed: 0, skipped: 2 });
    });

    it("should stop claiming once the running total reaches the cap", { skip }, async () => {
      // Any priced call passes this cap: the first item runs, the two others are never started.
      await seed("conv_total", 3, { maxCostUsd: 1e-9 });
      const runner = new ConversationRunner(ctx, { concurrency: 1 });
      runner.start();
      await eventually(
        async () => (await statusOf("conv_total")) !== "running",
        20_000,
        "the cap to stop it",
      );
      await runner.stop();
      const items = await Promise.all([0, 1, 2].map((k) => itemOf("conv_total", k)));
      assert.deepEqual(
        items.map((i) => i.status),
        ["done", "skipped", "skipped"],
      );
      assert.ok(Number(items[0]?.costUsd) > 1e-9);
      // The regeneration (gpt-4.1-mini) is priced; the fake judge has no price.
      assert.equal(Number(items[0]?.unpricedCalls), 1);
      assert.equal(await statusOf("conv_total"), "stopped");
      const report = await conversationEvalReport(store, "conv_total");
      assert.equal(report.cost.capReached, true);
      assert.equal(report.cost.spentUsd, Math.round(Number(items[0]?.costUsd) * 1e8) / 1e8);
    });
  });
}
