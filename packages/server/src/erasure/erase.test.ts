/**
 * Erasure on both stores: exact counts per kind, nothing else touched, dataset snapshots updated, the audit row
 * (hashed selector, never the clear id), a dry run that changes nothing, and on SQLite the erased text gone from
 * the database file and its WAL (their bytes searched).
 */
import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import fs from "node:fs";
import { describe, it } from "node:test";
import { chatCallBody } from "../testing/calls.ts";
import { DIALECTS, postCreated, serverForSuite, type TestServer } from "../testing/harness.ts";
import type { AuditEntry, ErasureResultView } from "./schemas.ts";

/** Row counts of every table erasure touches, keyed by table. */
const TABLES = [
  "calls",
  "callTags",
  "callAnnotations",
  "annotations",
  "links",
  "comparisons",
  "notifications",
  "webhookJobs",
  "datasetSnapshotCalls",
] as const;

async function tableCounts(s: TestServer): Promise<Record<(typeof TABLES)[number], number>> {
  const db = s.ctx.store.db;
  const out = {} as Record<(typeof TABLES)[number], number>;
  for (const t of TABLES) {
    const r = await db
      .selectFrom(t)
      .select((eb) => eb.fn.countAll<number | string>().as("n"))
      .executeTakeFirstOrThrow();
    out[t] = Number(r.n);
  }
  return out;
}

/**
 * Alice's two calls (one of them holding `secret`), Bob's one; a graph around them where some tags lead only to
 * Alice's calls and some to Bob's too; two notifications, two comparisons, a snapshot of one call of each.
 */
async function seed(s: TestServer, secret: string): Promise<void> {
  await postCreated(
    s,
    "/api/calls",
    chatCallBody("a1", { userId: "alice", sessionId: "s1", tags: ["thread-a"], question: secret }),
  );
  await postCreated(
    s,
    "/api/calls",
    chatCallBody("a2", { userId: "alice", sessionId: "s1", tags: ["thread-a", "shared"] }),
  );
  await postCreated(
    s,
    "/api/calls",
    chatCallBody("c1", { userId: "bob", sessionId: "s2", tags: ["shared"] }),
  );
  // Only Alice: cmpl-a1 → msg-a. Bob's: cmpl-c1 → msg-c. Both: msg-a → conv, msg-c → conv.
  for (const [upstreamTag, downstreamTag] of [
    ["cmpl-a1", "msg-a"],
    ["cmpl-c1", "msg-c"],
    ["msg-a", "conv"],
    ["msg-c", "conv"],
  ])
    await postCreated(s, "/api/links", { upstreamTag, downstreamTag });
  for (const key of ["msg-a", "cmpl-a2", "a1", "thread-a", "shared", "conv", "msg-c"])
    await postCreated(s, "/api/annotations", { annotationKey: key, name: "reward", numericReward: 1 });
  await postCreated(s, "/api/comparisons", { a: "cmpl-a1", b: "cmpl-c1", choice: "a", reason: "better" });
  await postCreated(s, "/api/comparisons", { a: "cmpl-c1", b: "msg-c", choice: "tie" });
  const db = s.ctx.store.db;
  const now = Date.now();
  for (const [id, completionId] of [
    ["n-a", "cmpl-a1"],
    ["n-c", "cmpl-c1"],
  ] as const) {
    await db
      .insertInto("notifications")
      .values({ id, completionId, recipient: "rev", status: "pending", createdAt: now, expiresAt: now + 1e6 })
      .execute();
    await db
      .insertInto("webhookJobs")
      .values({
        id: `wh-${id}`,
        notificationId: id,
        payload: "{}",
        status: "pending",
        nextAttemptAt: now,
        createdAt: now,
        attempts: 0,
      })
      .execute();
  }
  await db
    .insertInto("datasetSnapshots")
    .values({
      id: "snap1",
      datasetId: "d1",
      datasetName: "d",
      purpose: "export",
      callCount: 2,
      rowCount: 2,
      createdAt: now,
      completedAt: now,
    })
    .execute();
  await db
    .insertInto("datasetSnapshotCalls")
    .values([
      { snapshotId: "snap1", callId: "a1", position: 0 },
      { snapshotId: "snap1", callId: "c1", position: 1 },
    ])
    .execute();
}

const EXPECTED = {
  calls: 2,
  derivedCalls: 0,
  // a1: thread-a; a2: thread-a, shared.
  callTags: 3,
  // a1 takes msg-a, a1, thread-a, conv; a2 takes cmpl-a2, thread-a, shared.
  callAnnotations: 7,
  // On msg-a, cmpl-a2, a1 and thread-a: each leads only to Alice's calls. shared, conv, msg-c stay.
  annotations: 4,
  // cmpl-a1 → msg-a; msg-a → conv stays (conv leads to Bob's call too).
  links: 1,
  comparisons: 1,
  notifications: 1,
  webhookJobs: 1,
  reviewQueueItems: 0,
  liveJobs: 0,
  evalItems: 0,
  evalCheckResults: 0,
  conversationItems: 0,
  snapshotRows: 1,
  snapshotsUpdated: 1,
};

for (const dialect of DIALECTS) {
  describe(`erasure (${dialect})`, () => {
    const server = serverForSuite(dialect, {}, { inProcess: true });

    it("erases a user's calls and what only concerns them, counts them, audits it, and leaves the rest", async (t) => {
      const s = server(t);
      if (!s) return;
      const secret = `ERASE-ME-${randomUUID()}`;
      await seed(s, secret);
      const before = await tableCounts(s);
      const inFiles = () => {
        if (s.config.db.kind !== "sqlite") return undefined;
        const file = s.config.db.file;
        return [file, `${file}-wal`].some((f) => fs.existsSync(f) && fs.readFileSync(f).includes(secret));
      };
      // Else the search after the erasure proves nothing.
      if (dialect === "sqlite") assert.equal(inFiles(), true, "the text is in the SQLite files before");

      const dry = await s.api<ErasureResultView>("/api/users/alice?dryRun=true", { method: "DELETE" });
      assert.equal(dry.status, 200, JSON.stringify(dry.body));
      assert.deepEqual(dry.body.counts, EXPECTED);
      assert.equal(dry.body.dryRun, true);
      assert.deepEqual(await tableCounts(s), before, "a dry run changes nothing");

      const r = await s.api<ErasureResultView>("/api/users/alice", { method: "DELETE" });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body.counts, EXPECTED);
      const after = await tableCounts(s);
      assert.deepEqual(after, {
        calls: before.calls - 2,
        callTags: before.callTags - 3,
        callAnnotations: before.callAnnotations - 7,
        annotations: before.annotations - 4,
        links: before.links - 1,
        comparisons: before.comparisons - 1,
        notifications: before.notifications - 1,
        webhookJobs: before.webhookJobs - 1,
        datasetSnapshotCalls: before.datasetSnapshotCalls - 1,
      });

      const db = s.ctx.store.db;
      assert.deepEqual(
        (await db.selectFrom("calls").select("id").orderBy("id").execute()).map((c) => c.id),
        ["c1"],
      );
      assert.deepEqual(
        (await db.selectFrom("annotations").select("key").orderBy("key").execute()).map((a) => a.key),
        ["conv", "msg-c", "shared"],
      );
      assert.deepEqual(
        (
          await db
            .selectFrom("links")
            .select(["upstreamTag", "downstreamTag"])
            .orderBy("upstreamTag")
            .execute()
        ).map((l) => `${l.upstreamTag}>${l.downstreamTag}`),
        ["cmpl-c1>msg-c", "msg-a>conv", "msg-c>conv"],
      );
      // Bob's call still resolves its annotations.
      assert.equal(
        (await db.selectFrom("callAnnotations").select("annotationId").where("callId", "=", "c1").execute())
          .length,
        3,
      );
      assert.deepEqual(
        (await db.selectFrom("notifications").select("id").execute()).map((n) => n.id),
        ["n-c"],
      );

      const snap = await s.api<{ callCount: number; erasedCalls: number; callIds: string[] }>(
        "/api/snapshots/snap1",
      );
      assert.equal(snap.status, 200, JSON.stringify(snap.body));
      assert.equal(snap.body.callCount, 1);
      assert.equal(snap.body.erasedCalls, 1);
      assert.deepEqual(snap.body.callIds, ["c1"]);

      const audit = await s.api<{ entries: AuditEntry[] }>("/api/audit");
      assert.equal(audit.status, 200, JSON.stringify(audit.body));
      assert.equal(audit.body.entries.length, 1, "a dry run writes no audit row");
      const [entry] = audit.body.entries;
      assert.equal(entry?.id, r.body.auditId);
      assert.equal(entry?.actor, "admin");
      assert.equal(entry?.action, "erase");
      assert.equal(entry?.selectorKind, "userId");
      assert.equal(entry?.selectorHash, createHash("sha256").update("userId:alice").digest("hex"));
      assert.deepEqual(entry?.counts, EXPECTED);
      const auditRows = JSON.stringify(await db.selectFrom("auditLog").selectAll().execute());
      assert.ok(!auditRows.includes("alice"), "the audit log never holds the clear id");

      if (dialect === "sqlite")
        assert.equal(inFiles(), false, "the erased text is in neither the file nor its WAL");
      const again = await s.api<ErasureResultView>("/api/users/alice", { method: "DELETE" });
      assert.equal(again.body.counts.calls, 0, "erasing again finds nothing");
    });

    it("erases by session id and by tag; an unknown selector erases nothing", async (t) => {
      const s = server(t);
      if (!s) return;
      await postCreated(s, "/api/calls", chatCallBody("x1", { sessionId: "sess-x", tags: ["doc:9"] }));
      await postCreated(s, "/api/calls", chatCallBody("x2", { sessionId: "sess-x" }));
      await postCreated(s, "/api/calls", chatCallBody("y1", { sessionId: "sess-y", tags: ["doc:9"] }));
      await postCreated(s, "/api/calls", chatCallBody("z1", { tags: ["doc:7"] }));
      const bySession = await s.api<ErasureResultView>("/api/sessions/sess-x", { method: "DELETE" });
      assert.equal(bySession.status, 200, JSON.stringify(bySession.body));
      assert.equal(bySession.body.counts.calls, 2);
      assert.equal(bySession.body.counts.callTags, 1);
      const byTag = await s.api<ErasureResultView>(`/api/tags/${encodeURIComponent("doc:9")}`, {
        method: "DELETE",
      });
      assert.equal(byTag.body.counts.calls, 1);
      const none = await s.api<ErasureResultView>("/api/tags/nothing-here", { method: "DELETE" });
      assert.equal(none.body.counts.calls, 0);
      const left = await s.ctx.store.db
        .selectFrom("calls")
        .select("id")
        .where("id", "in", ["x1", "x2", "y1", "z1"])
        .execute();
      assert.deepEqual(
        left.map((c) => c.id),
        ["z1"],
      );
      const audit = await s.api<{ entries: AuditEntry[] }>("/api/audit?limit=2");
      assert.deepEqual(
        audit.body.entries.map((e) => e.selectorKind),
        ["tag", "tag"],
      );
    });
    // Last in the suite: once a key exists, every request needs one.
    it("records the name of the key that erased, never the clear selector", async (t) => {
      const s = server(t);
      if (!s) return;
      const created = await s.api<{ secret: string }>("/api/keys", {
        body: { name: "privacy-officer", scopes: ["admin"] },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const headers = { "x-intersebd-key": created.body.secret };
      const erased = await s.api("/api/users/nobody-here", { method: "DELETE", headers });
      assert.equal(erased.status, 200, JSON.stringify(erased.body));
      const audit = await s.api<{ entries: AuditEntry[] }>("/api/audit", { headers });
      assert.equal(audit.body.entries[0]?.actor, "privacy-officer");
      assert.ok(!JSON.stringify(audit.body).includes("nobody-here"));
    });
  });
}
