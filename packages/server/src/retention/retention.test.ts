/**
 * Retention on both stores: exact counts deleted, kept calls (annotated, compared, in a snapshot) and what hangs
 * on them untouched, batches bounded, the job surviving a store error, and the store's size reported and (SQLite)
 * given back.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it, type TestContext } from "node:test";
import { insertCalls, toCallRow } from "../calls/index.ts";
import { ConfigError, loadConfig, type RetentionConfig } from "../config/index.ts";
import type { AppContext } from "../context.ts";
import { createMetrics } from "../metrics/index.ts";
import type { Store } from "../store/index.ts";
import {
  capturedCall,
  DIALECTS,
  type Dialect,
  eventually,
  postgresAvailable,
  serverForSuite,
  withStore,
} from "../testing/index.ts";
import type { Logger } from "../util/log.ts";
import { reclaimSpace, runRetention, start } from "./index.ts";

const DAY = 24 * 3600 * 1000;
// The job under test reads the real clock: the seeded ages are counted from now.
const NOW = Date.now();

const cfg = (over: Partial<RetentionConfig> = {}): RetentionConfig => ({
  bodiesMs: 7 * DAY,
  callsMs: 30 * DAY,
  keptMs: 90 * DAY,
  intervalMs: 60_000,
  batch: 3,
  pauseMs: 0,
  ...over,
});

async function onStore(t: TestContext, dialect: Dialect, fn: (store: Store) => Promise<void>) {
  if (dialect === "postgres" && !(await postgresAvailable())) {
    t.skip("PostgreSQL unreachable (see the message above): this test did NOT run on postgres");
    return;
  }
  await withStore(dialect, fn);
}

/** A call `ageDays` old, with a completion id `cmpl_<id>`, its own tags and a unique body text. */
function call(id: string, ageDays: number, tags: string[] = []) {
  return toCallRow(
    capturedCall({
      id,
      startedAt: NOW - ageDays * DAY,
      endedAt: NOW - ageDays * DAY + 100,
      tags,
      request: { model: "m", messages: [{ role: "user", content: `question of ${id}` }] },
      response: {
        id: `cmpl_${id}`,
        choices: [{ index: 0, message: { role: "assistant", content: `answer of ${id}` } }],
      },
    }),
    "full",
  );
}

async function annotate(store: Store, id: string, key: string, callIds: string[]) {
  await store.db
    .insertInto("annotations")
    .values({ id, key, name: "quality", numericReward: 1, source: "human", createdAt: NOW - 50 * DAY })
    .execute();
  if (callIds.length) {
    await store.db
      .insertInto("callAnnotations")
      .values(callIds.map((callId) => ({ callId, annotationId: id })))
      .execute();
  }
}

async function notify(store: Store, id: string, completionId: string) {
  await store.db
    .insertInto("notifications")
    .values({
      id,
      completionId,
      recipient: "ann",
      status: "pending",
      createdAt: NOW - 40 * DAY,
      expiresAt: NOW + DAY,
    })
    .execute();
  await store.db
    .insertInto("webhookJobs")
    .values({
      id: `job_${id}`,
      notificationId: id,
      payload: "{}",
      status: "delivered",
      attempts: 1,
      nextAttemptAt: NOW,
      createdAt: NOW - 40 * DAY,
    })
    .execute();
}

/**
 * r*: recent; m*: 10 days (bodies due), m1 annotated; o*: 40 days (calls due), o1 annotated through its completion
 * id, o2 in a snapshot, o3 compared; a*: 100 days (past the kept horizon), a1 annotated, a2 in a snapshot.
 */
async function seed(store: Store) {
  await insertCalls(store, [
    call("r1", 1, ["ticket:1"]),
    call("r2", 1),
    ...["m1", "m2", "m3", "m4", "m5"].map((id) => call(id, 10, [`t-${id}`])),
    ...["o1", "o2", "o3", "o4", "o5", "o6", "o7"].map((id) => call(id, 40, [`t-${id}`])),
    call("a1", 100),
    call("a2", 100, ["t-a2"]),
  ]);
  await annotate(store, "ann_m1", "m1", ["m1"]);
  await annotate(store, "ann_o1", "cmpl_o1", ["o1"]);
  await annotate(store, "ann_a1", "a1", ["a1"]);
  // Applies to a deleted call and a kept one: it stays, with the kept call's row.
  await annotate(store, "ann_shared", "ticket:1", ["a1", "r1"]);
  // Keyed to o6's tag but never resolved: it hangs only on o6.
  await annotate(store, "ann_o6", "t-o6", []);
  await store.db
    .insertInto("comparisons")
    .values([
      { id: "cmp_o3", a: "t-o3", b: "r1", choice: "a", source: "human", createdAt: NOW },
      { id: "cmp_a1", a: "a1", b: "cmpl_a2", choice: "b", source: "human", createdAt: NOW },
    ])
    .execute();
  await store.db
    .insertInto("datasetSnapshotCalls")
    .values([
      { snapshotId: "snap1", callId: "o2", position: 0 },
      { snapshotId: "snap1", callId: "a2", position: 1 },
    ])
    .execute();
  await store.db
    .insertInto("links")
    .values([
      // o4 to a tag no call carries: hangs only on o4.
      { upstreamTag: "cmpl_o4", downstreamTag: "order:9", metadata: null, createdAt: NOW - 40 * DAY },
      // o5 to a kept call: stays.
      { upstreamTag: "o5", downstreamTag: "r1", metadata: null, createdAt: NOW - 40 * DAY },
      // Between two tags of no call: not ours to judge.
      { upstreamTag: "x", downstreamTag: "y", metadata: null, createdAt: NOW - 40 * DAY },
    ])
    .execute();
  await notify(store, "note_o4", "cmpl_o4");
  await notify(store, "note_r1", "cmpl_r1");
  await store.db
    .insertInto("liveJobs")
    .values(
      ["o4", "r1"].map((callId) => ({
        evaluatorId: "ev1",
        callId,
        status: "done",
        origin: "live",
        attempts: 1,
        enqueuedAt: NOW - 40 * DAY,
      })),
    )
    .execute();
  await store.db
    .insertInto("reviewQueueItems")
    .values(
      ["o6", "r2"].map((callId) => ({
        queueId: "q1",
        callId,
        reviewer: "ann",
        position: 0,
        notificationId: `n_${callId}`,
      })),
    )
    .execute();
}

const ids = async (store: Store, table: "calls") =>
  (await store.db.selectFrom(table).select("id").orderBy("id").execute()).map((r) => r.id);

for (const dialect of DIALECTS) {
  describe(`retention (${dialect})`, () => {
    it("deletes exactly the due calls and what hangs only on them, in bounded batches", async (t) => {
      await onStore(t, dialect, async (store) => {
        await seed(store);
        const batches: Array<[string, number]> = [];
        const counts = await runRetention(store, cfg(), {
          now: NOW,
          onBatch: (k, n) => batches.push([k, n]),
        });

        assert.deepEqual(batches, [
          ["calls", 3],
          ["calls", 3],
          ["bodies", 3],
          ["bodies", 1],
        ]);
        assert.deepEqual(counts, {
          bodiesExpired: 4,
          callsDeleted: 6,
          callTags: 5, // t-o4 to t-o7 and t-a2
          callAnnotations: 2,
          annotations: 2,
          links: 1,
          comparisons: 1,
          notifications: 1,
          webhookJobs: 1,
          snapshotRows: 1,
          liveJobs: 1,
          reviewItems: 1,
          batches: 4,
        });
        assert.deepEqual(await ids(store, "calls"), [
          "m1",
          "m2",
          "m3",
          "m4",
          "m5",
          "o1",
          "o2",
          "o3",
          "r1",
          "r2",
        ]);
        const calls = await store.db
          .selectFrom("calls")
          .select(["id", "request", "response", "previewInput", "previewOutput", "bodiesExpiredAt"])
          .orderBy("id")
          .execute();
        for (const c of calls) {
          const expired = ["m2", "m3", "m4", "m5"].includes(c.id);
          assert.equal(c.bodiesExpiredAt, expired ? NOW : null, c.id);
          for (const body of [c.request, c.response, c.previewInput, c.previewOutput]) {
            if (expired) assert.equal(body, null, c.id);
            else assert.ok(body?.includes(`of ${c.id}`), `${c.id} keeps its bodies`);
          }
        }
        const tags = await store.db.selectFrom("callTags").select("tag").orderBy("tag").execute();
        assert.deepEqual(
          tags.map((r) => r.tag),
          ["t-m1", "t-m2", "t-m3", "t-m4", "t-m5", "t-o1", "t-o2", "t-o3", "ticket:1"],
        );
        const anns = await store.db.selectFrom("annotations").select("id").orderBy("id").execute();
        assert.deepEqual(
          anns.map((r) => r.id),
          ["ann_m1", "ann_o1", "ann_shared"],
        );
        const applied = await store.db
          .selectFrom("callAnnotations")
          .select(["callId", "annotationId"])
          .orderBy("callId")
          .execute();
        assert.deepEqual(applied, [
          { callId: "m1", annotationId: "ann_m1" },
          { callId: "o1", annotationId: "ann_o1" },
          { callId: "r1", annotationId: "ann_shared" },
        ]);
        const links = await store.db.selectFrom("links").select(["upstreamTag", "downstreamTag"]).execute();
        assert.deepEqual(links.map((l) => `${l.upstreamTag}>${l.downstreamTag}`).sort(), ["o5>r1", "x>y"]);
        assert.deepEqual(
          (await store.db.selectFrom("comparisons").select("id").execute()).map((r) => r.id),
          ["cmp_o3"],
        );
        assert.deepEqual(
          (await store.db.selectFrom("notifications").select("id").execute()).map((r) => r.id),
          ["note_r1"],
        );
        assert.deepEqual(
          (await store.db.selectFrom("webhookJobs").select("notificationId").execute()).map(
            (r) => r.notificationId,
          ),
          ["note_r1"],
        );
        assert.deepEqual(
          (await store.db.selectFrom("datasetSnapshotCalls").select("callId").execute()).map((r) => r.callId),
          ["o2"],
        );
        assert.deepEqual(
          (await store.db.selectFrom("liveJobs").select("callId").execute()).map((r) => r.callId),
          ["r1"],
        );
        assert.deepEqual(
          (await store.db.selectFrom("reviewQueueItems").select("callId").execute()).map((r) => r.callId),
          ["r2"],
        );

        // Nothing is due any more: a second run touches nothing.
        const again = await runRetention(store, cfg(), { now: NOW });
        assert.equal(again.batches, 0);
        assert.equal(again.callsDeleted + again.bodiesExpired, 0);
      });
    });

    it("keeps annotated calls and calls in a snapshot for good without a kept horizon", async (t) => {
      await onStore(t, dialect, async (store) => {
        await seed(store);
        const counts = await runRetention(store, cfg({ keptMs: undefined, batch: 1000 }), { now: NOW });
        // a1 (annotated) and a2 (in a snapshot) stay this time.
        assert.equal(counts.callsDeleted, 4);
        assert.deepEqual(
          (await ids(store, "calls")).filter((id) => id.startsWith("a")),
          ["a1", "a2"],
        );
        const a1 = await store.db
          .selectFrom("calls")
          .select(["request", "bodiesExpiredAt"])
          .where("id", "=", "a1")
          .executeTakeFirstOrThrow();
        assert.equal(a1.bodiesExpiredAt, null);
        assert.ok(a1.request?.includes("question of a1"));
      });
    });

    it("with only a bodies horizon, drops bodies and deletes no call", async (t) => {
      await onStore(t, dialect, async (store) => {
        await seed(store);
        const counts = await runRetention(store, cfg({ callsMs: undefined, batch: 2 }), { now: NOW });
        // Due: m2-m5, o4-o7 and, past the kept horizon, a1 and a2: ten calls in batches of two.
        assert.equal(counts.bodiesExpired, 10);
        assert.equal(counts.batches, 5);
        assert.equal(counts.callsDeleted, 0);
        assert.equal((await ids(store, "calls")).length, 16);
      });
    });

    it("the job logs a store error and succeeds at a later run", async (t) => {
      await onStore(t, dialect, async (store) => {
        await seed(store);
        // A table the delete needs is missing: every run fails until it is back.
        await store.db.schema.alterTable("review_queue_items").renameTo("review_queue_items_away").execute();
        const errors: string[] = [];
        const log: Logger = {
          error: (m) => errors.push(m),
          warn: (m) => errors.push(m),
          info: () => {},
          debug: () => {},
        };
        const config = loadConfig({
          INTERSEBD_RETENTION_CALLS_DAYS: "30",
          INTERSEBD_RETENTION_INTERVAL_MS: "20",
          INTERSEBD_RETENTION_PAUSE_MS: "0",
        });
        const job = start({ store, config, log, metrics: createMetrics() } as unknown as AppContext);
        try {
          await eventually(() => (errors.length >= 2 ? errors : undefined));
          assert.match(errors[0] ?? "", /^retention: /);
          await store.db.schema
            .alterTable("review_queue_items_away")
            .renameTo("review_queue_items")
            .execute();
          // The real clock: every seeded call older than 30 days goes (the kept ones stay, there is no kept
          // horizon); the job keeps running on its timer.
          await eventually(async () => ((await ids(store, "calls")).includes("o4") ? undefined : true));
          assert.ok(!(await ids(store, "calls")).includes("o7"));
          assert.ok((await ids(store, "calls")).includes("o1"));
        } finally {
          await job.stop();
        }
      });
    });

    it("measures the store and, on SQLite, gives deleted pages back", async (t) => {
      await onStore(t, dialect, async (store) => {
        // Hex of random bytes: PostgreSQL's TOAST compresses a repeated letter to nothing.
        const big = () => randomBytes(2000).toString("hex");
        const rows = Array.from({ length: 1500 }, (_, i) =>
          toCallRow(
            capturedCall({
              id: `big${i}`,
              startedAt: NOW - 40 * DAY,
              request: { model: "m", messages: [{ role: "user", content: `${big()}${i}` }] },
            }),
            "full",
          ),
        );
        for (let i = 0; i < rows.length; i += 500) await insertCalls(store, rows.slice(i, i + 500));
        const full = await store.sizeBytes();
        assert.ok(full > 1500 * 2000, `size ${full}`);
        const counts = await runRetention(store, cfg({ batch: 1000 }), { now: NOW });
        assert.equal(counts.callsDeleted, 1500);
        const reclaimed = await reclaimSpace(store);
        const after = await store.sizeBytes();
        if (dialect === "sqlite") {
          assert.ok(reclaimed.pages > 0);
          assert.ok(after < full / 2, `SQLite file shrank: ${full} -> ${after}`);
        } else {
          assert.equal(reclaimed.pages, 0);
          assert.ok(after > 0);
        }
      });
    });
  });

  describe(`retention through the server (${dialect})`, () => {
    const server = serverForSuite(
      dialect,
      { INTERSEBD_RETENTION_BODIES_DAYS: "7", INTERSEBD_RETENTION_INTERVAL_MS: "3600000" },
      { inProcess: true },
    );
    it("shows bodiesExpired on a call, the store's size in settings and /metrics", async (t) => {
      const s = server(t);
      if (!s) return;
      await insertCalls(s.ctx.store, [call("old1", 10)]);
      await runRetention(s.ctx.store, s.ctx.config.retention, { now: NOW });
      const detail = await s.api<{ bodiesExpired: boolean; request: unknown }>("/api/calls/old1");
      assert.equal(detail.status, 200);
      assert.equal(detail.body.bodiesExpired, true);
      assert.equal(detail.body.request, null);
      const settings = await s.api<{
        store: { bytes: number | null; retention: { bodiesDays: number | null } };
      }>("/api/settings");
      assert.equal(settings.status, 200);
      assert.ok((settings.body.store.bytes ?? 0) > 0);
      assert.equal(settings.body.store.retention.bodiesDays, 7);
      const metrics = await (await s.fetch(new Request(`${s.url}/metrics`))).text();
      const m = /^intersebd_store_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(metrics);
      assert.ok(m && Number(m[1]) > 0, "intersebd_store_bytes is exported");
    });
  });
}

describe("retention settings", () => {
  it("are off by default and refuse a kept horizon shorter than the ones it extends", () => {
    const d = loadConfig({}).retention;
    assert.equal(d.bodiesMs, undefined);
    assert.equal(d.callsMs, undefined);
    assert.equal(d.batch, 1000);
    const c = loadConfig({
      INTERSEBD_RETENTION_BODIES_DAYS: "0.5",
      INTERSEBD_RETENTION_KEPT_DAYS: "2",
    }).retention;
    assert.equal(c.bodiesMs, 12 * 3600 * 1000);
    assert.equal(c.keptMs, 2 * DAY);
    assert.throws(
      () => loadConfig({ INTERSEBD_RETENTION_CALLS_DAYS: "30", INTERSEBD_RETENTION_KEPT_DAYS: "7" }),
      (err: unknown) => err instanceof ConfigError && /INTERSEBD_RETENTION_KEPT_DAYS/.test(err.message),
    );
  });
});
