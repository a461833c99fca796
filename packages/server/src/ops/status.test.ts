/**
 * `GET /api/status` and `GET /api/status/config-changes` (issue 18 item 7): the runtime's shape without secrets or
 * paths, behind the key when one is set, and each call's `config_hash` listed as a configuration change.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { configHash } from "../calls/index.ts";
import { DIALECTS, serverForSuite } from "../testing/index.ts";
import type { StatusView } from "./status.ts";

const KEY = "status-test-admin-key-0123456789";
const UPSTREAM_KEY = "sk-upstream-secret-for-status";
const USER_SECRET = "user-id-secret-for-status-test";

for (const dialect of DIALECTS) {
  describe(`status (${dialect})`, () => {
    const server = serverForSuite(
      dialect,
      {
        INTERSEBD_API_KEY: KEY,
        INTERSEBD_UPSTREAM_KEY: UPSTREAM_KEY,
        INTERSEBD_UPSTREAMS: "other=http://127.0.0.1:9/v1",
        INTERSEBD_HASH_USER_IDS: "1",
        INTERSEBD_USER_ID_SECRET: USER_SECRET,
        INTERSEBD_SAMPLE_RATE: "0.5",
      },
      { inProcess: true },
    );
    const auth = { "x-intersebd-key": KEY };

    it("answers the runtime's shape, with no secret and no path, and only with the key", async (t) => {
      const s = server(t);
      if (!s) return;
      assert.equal((await s.api("/api/status")).status, 401);
      const r = await s.api<StatusView>("/api/status", { headers: auth });
      assert.equal(r.status, 200);
      assert.equal(r.body.store, dialect);
      assert.equal(r.body.capture, "full");
      assert.deepEqual([...r.body.upstreams].sort(), ["default", "other"]);
      assert.equal(r.body.configHash, configHash(s.config));
      assert.match(r.body.configHash, /^[0-9a-f]{16}$/);
      assert.deepEqual(r.body.sampling, { rate: 0.5, rules: 0, hashUserIds: true });
      assert.equal(r.body.auth, true);
      assert.equal(r.body.queue.max, s.config.queueMax);
      assert.deepEqual(r.body.spool, { files: 0, bytes: 0 });
      assert.deepEqual(r.body.jobs, { evals: { inFlight: 0 }, live: { inFlight: 0 } });
      const text = JSON.stringify(r.body);
      for (const secret of [KEY, UPSTREAM_KEY, USER_SECRET, s.config.dataDir, "127.0.0.1"])
        assert.ok(!text.includes(secret), `status shows ${secret}`);
    });

    it("lists each configuration hash of the stored calls, the current one marked", async (t) => {
      const s = server(t);
      if (!s) return;
      const ingest = (configNote: string) =>
        s.api("/api/calls", {
          headers: auth,
          body: {
            upstream: "sdk",
            path: "/chat/completions",
            request: { model: "m" },
            status: 500,
            outcome: "upstream_error",
            metadata: { configNote },
          },
        });
      assert.equal((await ingest("now")).status, 201);
      // A call stored by an earlier configuration, as the store would hold it after a config change.
      await s.ctx.store.db
        .updateTable("calls")
        .set({ configHash: "0123456789abcdef", startedAt: 1_000 })
        .where(({ eb, ref }) => eb(ref("calls.metadata"), "like", '%"configNote":"now"%'))
        .execute();
      assert.equal((await ingest("later")).status, 201);
      const r = await s.api<{
        data: Array<{ configHash: string; firstSeen: number; calls: number; current: boolean }>;
      }>("/api/status/config-changes", { headers: auth });
      assert.equal(r.status, 200);
      assert.deepEqual(
        r.body.data.map((c) => [c.configHash, c.calls, c.current]),
        [
          ["0123456789abcdef", 1, false],
          [configHash(s.config), 1, true],
        ],
      );
      assert.equal(r.body.data[0]?.firstSeen, 1_000);
      const none = await s.api<{ data: unknown[] }>("/api/status/config-changes?from=2000&to=3000", {
        headers: auth,
      });
      assert.deepEqual(none.body.data, []);
    });
  });
}
