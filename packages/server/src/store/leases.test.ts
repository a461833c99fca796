/**
 * The lease protocol (leases.ts) on each dialect, on the live evaluators' jobs table: claims in order, never the
 * same job twice under concurrent claimers, ends a job only under its lease, hands jobs back with or without their
 * attempt, reclaims a job whose lease ended, and the worker loop keeps a running job's lease alive.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { describe, it } from "node:test";
import { sql } from "kysely";
import {
  DIALECTS,
  eventually,
  freshDatabase,
  openStoreOn,
  postgresAvailable,
  withStore,
} from "../testing/index.ts";
import type { Store } from "./index.ts";
import { type Claimed, LeasedWorker, LeaseQueue } from "./leases.ts";

const silent = { debug() {}, info() {}, warn() {}, error() {} };

const queueOf = (store: Store) =>
  new LeaseQueue(store, {
    table: "liveJobs",
    waiting: "queued",
    key: ["evaluatorId", "callId"],
    orderBy: ["enqueuedAt"],
    returning: ["origin"],
  });

async function enqueue(store: Store, evaluatorId: string, n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => `call-${String(i).padStart(3, "0")}`);
  await store.db
    .insertInto("liveJobs")
    .values(
      // Enqueued newest first, so claim order (oldest first) is not insertion order.
      ids.map((callId, i) => ({
        evaluatorId,
        callId,
        status: "queued",
        origin: "live",
        attempts: 0,
        enqueuedAt: 1_000_000 - i,
      })),
    )
    .execute();
  return ids;
}

type Job = Claimed<"liveJobs", "evaluatorId" | "callId" | "origin">;

const rowOf = (store: Store, evaluatorId: string, callId: string) =>
  store.db
    .selectFrom("liveJobs")
    .selectAll()
    .where("evaluatorId", "=", evaluatorId)
    .where("callId", "=", callId)
    .executeTakeFirstOrThrow();

for (const dialect of DIALECTS) {
  describe(`leased jobs (${dialect})`, async () => {
    const skip = dialect === "postgres" && !(await postgresAvailable());

    it(
      "should claim the oldest jobs of a scope, answer the returned columns and count the attempt",
      { skip },
      () =>
        withStore(dialect, async (store) => {
          const q = queueOf(store);
          const ids = await enqueue(store, "ev1", 5);
          await enqueue(store, "ev2", 2);
          const got = await q.claim(2, "L1", 60_000, { evaluatorId: "ev1" });
          // Oldest first: the last enqueued ids have the smallest enqueuedAt.
          assert.deepEqual(
            got.map((j) => j.callId),
            [ids[4], ids[3]],
          );
          for (const j of got) {
            assert.equal(j.evaluatorId, "ev1");
            assert.equal(j.origin, "live");
            assert.equal(j.lease, "L1");
            assert.equal(j.attempts, 1);
          }
          const row = await rowOf(store, "ev1", ids[4] as string);
          assert.equal(row.status, "running");
          assert.ok(Number(row.lockedUntil) > Date.now() + 50_000);
          // The other scope's jobs are untouched.
          assert.equal((await q.claim(10, "L2", 60_000, { evaluatorId: "ev1" })).length, 3);
          assert.equal((await rowOf(store, "ev2", "call-000")).status, "queued");
        }),
    );

    it("should never give one job to two concurrent claimers", { skip }, () =>
      withStore(dialect, async (store) => {
        const q = queueOf(store);
        const ids = await enqueue(store, "ev", 40);
        const claims = await Promise.all(
          Array.from({ length: 8 }, (_, i) => q.claim(7, `L${i}`, 60_000, { evaluatorId: "ev" })),
        );
        const claimed = claims.flat().map((j) => j.callId);
        assert.equal(new Set(claimed).size, claimed.length, "a job was claimed twice");
        assert.deepEqual(new Set(claimed), new Set(ids));
        for (const [i, c] of claims.entries()) assert.ok(c.every((j) => j.lease === `L${i}`));
      }),
    );

    it("should end a job only under its lease, and hand one back with or without its attempt", { skip }, () =>
      withStore(dialect, async (store) => {
        const q = queueOf(store);
        await enqueue(store, "ev", 2);
        const [a, b] = (await q.claim(2, "L1", 60_000)) as [Job, Job];
        assert.equal(await q.settle({ ...a, lease: "someone else's" }, { status: "done" }), false);
        assert.equal((await rowOf(store, "ev", a.callId)).status, "running");
        assert.equal(await q.settle(a, { status: "done", finishedAt: 5 }), true);
        const done = await rowOf(store, "ev", a.callId);
        assert.deepEqual(
          [done.status, done.lease, done.lockedUntil, Number(done.finishedAt)],
          ["done", null, null, 5],
        );
        // Ended once: the lease is gone, so a second end does nothing.
        assert.equal(await q.settle(a, { status: "failed" }), false);

        assert.equal(await q.release(b, 0, false, { error: "the server closed" }), true);
        const back = await rowOf(store, "ev", b.callId);
        assert.deepEqual(
          [back.status, back.attempts, back.lease, back.error],
          ["queued", 0, null, "the server closed"],
        );
        const [again] = await q.claim(1, "L2", 60_000);
        assert.equal(again?.attempts, 1);
        await q.release(again as typeof b, 60_000, true);
        const waiting = await rowOf(store, "ev", b.callId);
        assert.equal(waiting.attempts, 1);
        // Backing off: not claimable before its time.
        assert.deepEqual(await q.claim(1, "L3", 60_000), []);
      }),
    );

    it(
      "should reclaim a running job whose lease ended, and let its heartbeat keep a live one",
      { skip },
      () =>
        withStore(dialect, async (store) => {
          const q = queueOf(store);
          await enqueue(store, "ev", 2);
          const [dead, live] = await q.claim(2, "L1", 60_000);
          await store.db
            .updateTable("liveJobs")
            .set({ lockedUntil: Date.now() - 1 })
            .where("callId", "in", [dead?.callId ?? "", live?.callId ?? ""])
            .execute();
          await q.extend([live?.lease ?? ""], 60_000);
          // Both were under L1; the heartbeat moved both locks on: nothing is claimable.
          assert.deepEqual(await q.claim(2, "L2", 60_000), []);
          await store.db
            .updateTable("liveJobs")
            .set({ lockedUntil: Date.now() - 1 })
            .where("callId", "=", dead?.callId ?? "")
            .execute();
          const [taken] = await q.claim(2, "L2", 60_000);
          assert.equal(taken?.callId, dead?.callId);
          assert.equal(taken?.attempts, 2);
          assert.equal(
            await q.settle(dead as NonNullable<typeof dead>, { status: "done" }),
            false,
            "the old lease",
          );
        }),
    );

    it(
      "should run every job once through the worker loop, its lease kept alive while it runs",
      { skip },
      () =>
        withStore(dialect, async (store) => {
          const q = queueOf(store);
          const ids = await enqueue(store, "ev", 6);
          const ran: string[] = [];
          const leaseMs = 150;
          class Worker extends LeasedWorker {
            constructor() {
              super("test worker", "tw", silent, { leaseMs, pollMs: 10 });
            }
            protected heartbeat(leases: string[]) {
              return q.extend(leases, this.leaseMs);
            }
            protected async claimAll() {
              const free = 2 - this.inFlight;
              if (free <= 0) return;
              for (const job of await q.claim(free, this.nextLease(), this.leaseMs))
                this.runTask(job.callId, job.evaluatorId, job.lease, async () => {
                  // Longer than a lease: only the heartbeat keeps the job from being claimed again.
                  await new Promise((r) => setTimeout(r, leaseMs * 2));
                  ran.push(job.callId);
                  await q.settle(job, { status: "done" });
                });
            }
          }
          const w = new Worker();
          w.start();
          try {
            await eventually(() => ran.length === ids.length, 20_000, "every job to run");
          } finally {
            await w.stop();
          }
          assert.deepEqual([...ran].sort(), ids, "each job ran exactly once");
          const rows = await store.db.selectFrom("liveJobs").select(["status", "attempts"]).execute();
          assert.ok(rows.every((r) => r.status === "done" && r.attempts === 1));
        }),
    );
  });
}

describe("leased jobs on SQLite, beside the writer thread", () => {
  it("should poll an empty queue without taking the write lock, so that a writer's open transaction never stalls it", async () => {
    // The writer thread holds SQLite's one write lock while it commits a batch of calls; a claim that took the
    // lock to find nothing waited for it on the server's event loop (busy_timeout, sleeping), every poll.
    const fresh = await freshDatabase("sqlite");
    const store = await openStoreOn("sqlite", fresh.db);
    const writer = new DatabaseSync(fresh.db);
    try {
      // Without any wait, so that a claim needing the lock fails at once rather than after the busy timeout.
      await sql`pragma busy_timeout = 0`.execute(store.db);
      writer.exec("begin immediate");
      const q = queueOf(store);
      assert.deepEqual(
        await q.claim(5, "L1", 60_000),
        [],
        "an idle poll answers at once, while the lock is held",
      );
      writer.exec(
        "insert into live_jobs (evaluator_id, call_id, status, origin, attempts, enqueued_at) values ('ev', 'c1', 'queued', 'live', 0, 1)",
      );
      writer.exec("commit");
      const got = await q.claim(5, "L1", 60_000);
      assert.deepEqual(
        got.map((j) => j.callId),
        ["c1"],
        "a job there is claimed once the lock is free",
      );
    } finally {
      writer.close();
      await store.close();
      await fresh.drop();
    }
  });
});

describe("an idle worker's polls", () => {
  it("spread out while they find nothing (up to 8 × pollMs), and come back to pollMs once a poke brings work", async () => {
    const polls: number[] = [];
    let work = 0;
    class Worker extends LeasedWorker {
      constructor() {
        super("test worker", "tw", silent, { pollMs: 20 });
      }
      protected async heartbeat() {}
      protected async claimAll() {
        polls.push(performance.now());
        for (; work > 0; work--) this.runTask(`job${work}`, "g", this.nextLease(), async () => {});
      }
    }
    const w = new Worker();
    w.start();
    try {
      await eventually(() => polls.length >= 8, 10_000, "eight polls");
      const gaps = polls.slice(1).map((t, i) => t - (polls[i] as number));
      // 20, 40, 80, 160, then 160 (8 × 20): timers fire late, never early.
      assert.ok((gaps.at(-1) as number) >= 155, `the last gaps reach 8 × pollMs: ${gaps.map(Math.round)}`);
      assert.ok((gaps[0] as number) < 120, `the first is about pollMs: ${gaps.map(Math.round)}`);
      // Work arrives with a poke: it is claimed at once, and the next polls are pollMs apart again.
      work = 1;
      const before = polls.length;
      w.poke();
      await eventually(() => polls.length >= before + 3, 10_000, "polls after the poke");
      const after = polls.slice(before);
      assert.ok((after[2] as number) - (after[1] as number) < 120, "back to pollMs after work was found");
    } finally {
      await w.stop();
    }
  });
});
