/**
 * Every accepted write can be read back (issue 12): values one store or one reader cannot handle are refused
 * at the edge with a 400 naming the field, and the lists that used to answer 500 forever after them keep
 * answering. On every dialect: several of these only failed on PostgreSQL (NUL, out-of-range cursors).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { snapshotDataset } from "../exports/datasets.ts";
import { DIALECTS, eventually, serverForSuite, type TestServer } from "../testing/harness.ts";
import { MAX_JSON_DEPTH } from "../util/bounds.ts";

interface ErrorBody {
  error?: { message?: string; field?: string };
}

const call = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  request: { model: "gpt-4o-mini", messages: [{ role: "user", content: `question ${id}` }] },
  response: {
    id: `${id}-cmpl`,
    object: "chat.completion",
    model: "gpt-4o-mini",
    choices: [{ index: 0, message: { role: "assistant", content: "answer" }, finish_reason: "stop" }],
  },
  ...extra,
});

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

/** A JSON text nested `n` arrays deep around `inner` (built as text: JSON.stringify would recurse). */
const nested = (n: number, inner = "1") => `${"[".repeat(n)}${inner}${"]".repeat(n)}`;

async function expect400(
  s: TestServer,
  path: string,
  field: string,
  init: { method?: string; body?: unknown } = {},
) {
  const r = await s.api<ErrorBody>(path, init);
  const what = `${init.method ?? (init.body === undefined ? "GET" : "POST")} ${path.slice(0, 120)}`;
  assert.equal(r.status, 400, `${what}: ${JSON.stringify(r.body).slice(0, 300)}`);
  assert.equal(r.body.error?.field, field, `${what}: error.field in ${JSON.stringify(r.body).slice(0, 300)}`);
  return r.body.error?.message ?? "";
}

/** The reads that broke for good after one bad write still answer. */
async function readsStillWork(s: TestServer, after: string) {
  for (const path of ["/api/calls", "/api/review-queue", "/api/sessions", "/api/notifications"]) {
    const r = await s.api(path);
    assert.equal(r.status, 200, `GET ${path} after ${after}: ${JSON.stringify(r.body).slice(0, 300)}`);
  }
}

for (const dialect of DIALECTS) {
  describe(`bounded input on ${dialect}`, () => {
    const server = serverForSuite(dialect, {}, { inProcess: true });

    it("refuses times outside 1970..9999 (startedAt 9e15 used to make every list answer 500)", async (t) => {
      const s = server(t);
      if (!s) return;
      assert.equal(
        (await s.api("/api/calls", { body: call("bt-ok", { sessionId: "bt-session" }) })).status,
        201,
      );
      for (const startedAt of [
        9e15,
        -1,
        8.64e15,
        "+275760-09-13T00:00:00.000Z",
        "0000-01-01T00:00:00Z",
        1.5,
      ]) {
        await expect400(s, "/api/calls", "startedAt", { body: call("bt-bad", { startedAt }) });
      }
      await expect400(s, "/api/calls", "endedAt", { body: call("bt-bad", { endedAt: 9e15 }) });
      // The latest time accepted is stored and read back, in lists too.
      const last = "9999-12-31T23:59:59.999Z";
      const r = await s.api("/api/calls", { body: call("bt-last", { startedAt: last, endedAt: last }) });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const list = await s.api<{ data: Array<{ id: string; startedAt: string }> }>("/api/calls?limit=1");
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.body.data.map((c) => [c.id, c.startedAt]),
        [["bt-last", last]],
      );
      for (const q of ["from=9000000000000000", "to=-5", "from=0000-01-01T00:00:00Z"])
        await expect400(s, `/api/calls?${q}`, q.split("=")[0] as string);
      await expect400(s, "/api/metrics/timeseries?metric=volume&to=9000000000000000", "to");
      await readsStillWork(s, "out-of-range times");
    });

    it("refuses a lone surrogate in a string, a key or free JSON with a 400 naming the field", async (t) => {
      const s = server(t);
      if (!s) return;
      const lone = "\ud800";
      const msg = await expect400(s, "/api/calls", "metadata.promptVersion", {
        body: call("bt-lone", { metadata: { promptVersion: `v${lone}` } }),
      });
      assert.match(msg, /valid Unicode/);
      await expect400(s, "/api/annotations", "annotationKey", {
        body: { annotationKey: `k${lone}`, numericReward: 1 },
      });
      await expect400(s, "/api/links", "metadata", {
        body: { upstreamTag: "a", downstreamTag: "b", metadata: { [`k${lone}`]: 1 } },
      });
      await readsStillWork(s, "lone surrogates");
    });

    it("still lists a call stored with an out-of-range time before the edge bounded it", async (t) => {
      const s = server(t);
      if (!s) return;
      assert.equal(
        (await s.api("/api/calls", { body: call("bt-legacy", { sessionId: "bt-legacy" }) })).status,
        201,
      );
      await eventually(
        async () => (await s.api("/api/calls/bt-legacy")).status === 200,
        5000,
        "bt-legacy stored",
      );
      // What an earlier version accepted: written straight into the store, as it would be found after an upgrade.
      await s.ctx.store.db
        .updateTable("calls")
        .set({ startedAt: 9e15, endedAt: 9e15 })
        .where("id", "=", "bt-legacy")
        .execute();
      const list = await s.api<{ data: Array<{ id: string; startedAt: string }> }>(
        "/api/calls?sessionId=bt-legacy",
      );
      assert.equal(list.status, 200, JSON.stringify(list.body).slice(0, 300));
      assert.deepEqual(
        list.body.data.map((c) => [c.id, c.startedAt]),
        [["bt-legacy", "9999-12-31T23:59:59.999Z"]],
      );
      assert.equal((await s.api("/api/calls/bt-legacy")).status, 200);
      await readsStillWork(s, "a legacy out-of-range time");
      await s.ctx.store.db.deleteFrom("calls").where("id", "=", "bt-legacy").execute();
    });

    it("refuses a NUL in any path parameter, query parameter or body string with a 400 naming it", async (t) => {
      const s = server(t);
      if (!s) return;
      const paths: Array<[string, string?]> = [
        ["/api/calls/%00"],
        ["/api/tags/a%00b"],
        ["/api/datasets/%00"],
        ["/api/datasets/%00", "PUT"],
        ["/api/datasets/%00", "DELETE"],
        ["/api/datasets/%00/snapshots"],
        ["/api/snapshots/%00"],
        ["/api/notifications/%00"],
        ["/api/notifications/%00/revoke", "POST"],
        ["/api/a/%00"],
        ["/api/a/%00/answers", "POST"],
        ["/api/rubrics/%00"],
        ["/api/rubrics/%00", "PUT"],
        ["/api/sessions/%00"],
        ["/api/evals/%00"],
        ["/api/evals/%00/items"],
        ["/api/evals/%00/cancel", "POST"],
        ["/api/evals/%00/resume", "POST"],
      ];
      for (const [path, method] of paths) {
        const body = method && method !== "DELETE" ? {} : undefined;
        await expect400(s, path, "path", { method, body });
      }
      const queries: Array<[string, string]> = [
        ["/api/calls?userId=%00", "userId"],
        ["/api/calls?sessionId=a%00", "sessionId"],
        ["/api/calls?name=%00", "name"],
        ["/api/notifications?recipient=%00", "recipient"],
        ["/api/metrics/timeseries?metric=reward&name=%00", "name"],
        ["/api/export?format=openai-chat&tag=%00", "tag"],
      ];
      for (const [path, field] of queries) await expect400(s, path, field);
      const bodies: Array<[string, unknown, string]> = [
        ["/api/notifications", { id: "n\u0000", completionId: "x", sendNotificationTo: "a@b.c" }, "id"],
        [
          "/api/notifications",
          { completionId: "x", sendNotificationTo: "a\u0000@b.c" },
          "sendNotificationTo",
        ],
        [
          "/api/notifications",
          { completionId: "x", sendNotificationTo: "a@b.c", message: "\u0000" },
          "message",
        ],
        [
          "/api/notifications",
          { completionId: "x", sendNotificationTo: "a@b.c", rubric: "r\u0000" },
          "rubric",
        ],
        [
          "/api/notifications",
          { completionId: "x", sendNotificationTo: "a@b.c", metadata: { "k\u0000": 1 } },
          "metadata",
        ],
        ["/api/datasets", { name: "nul", description: "d\u0000" }, "description"],
        ["/api/datasets", { name: "nul", filter: { tag: "t\u0000" } }, "filter.tag"],
        ["/api/a/not-a-token/answers", { answers: { comment: "c\u0000" } }, "answers.comment"],
        [
          "/api/links",
          { upstreamTag: "u", downstreamTag: "d", metadata: { v: ["a\u0000b"] } },
          "metadata.v[0]",
        ],
        ["/api/annotations", { annotationKey: "k", data: { x: "\u0000" } }, "data.x"],
        ["/api/annotations", { annotationKey: "k", correction: { content: "\u0000" } }, "correction.content"],
        [
          "/api/calls",
          call("nul-meta", { metadata: { promptVersion: "a\u0000b" } }),
          "metadata.promptVersion",
        ],
        ["/api/comparisons", { a: "a", b: "b", choice: "a", reason: "\u0000" }, "reason"],
        ["/api/evals", { callIds: ["c\u0000"] }, "callIds[0]"],
      ];
      for (const [path, body, field] of bodies) {
        const message = await expect400(s, path, field, { body });
        assert.match(message, /NUL/, `${path} ${field}: ${message}`);
      }
      await readsStillWork(s, "NUL characters");
      const ts = await s.api("/api/metrics/timeseries?metric=volume&groupBy=promptVersion");
      assert.equal(ts.status, 200, JSON.stringify(ts.body));
    });

    it("refuses a cursor holding an out-of-range time or a NUL, naming cursor", async (t) => {
      const s = server(t);
      if (!s) return;
      for (const cursor of [b64([9e15, "x"]), b64([-1, "x"]), b64([1.5, "x"]), b64([1, "a\u0000"])]) {
        for (const path of ["/api/calls", "/api/sessions", "/api/notifications"]) {
          await expect400(s, `${path}?cursor=${cursor}`, "cursor");
        }
      }
    });

    it("refuses rewards beyond ±1e12, and averages of the largest ones stay finite", async (t) => {
      const s = server(t);
      if (!s) return;
      for (const numericReward of [1.7e308, -1e13]) {
        await expect400(s, "/api/annotations", "numericReward", {
          body: { annotationKey: "bt-reward", numericReward },
        });
      }
      await expect400(s, "/api/calls?minReward=1e300", "minReward");
      const at = Date.parse("2025-06-01T10:00:00Z");
      const stored = await s.api("/api/calls", { body: call("bt-big", { startedAt: at, endedAt: at + 5 }) });
      assert.equal(stored.status, 201);
      const r = await s.api("/api/annotations", {
        body: [
          { annotationKey: "bt-big", numericReward: 1e12 },
          { annotationKey: "bt-big", numericReward: 1e12 },
        ],
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const q = `metric=reward&from=${at - 3_600_000}&to=${at + 3_600_000}`;
      const ts = await s.api<{ buckets: Array<{ value: number; n: number }> }>(
        `/api/metrics/timeseries?${q}`,
      );
      assert.equal(ts.status, 200, JSON.stringify(ts.body));
      assert.deepEqual(
        ts.body.buckets.map((b) => [b.value, b.n]),
        [[1e12, 2]],
      );
    });

    it(`refuses a body nested deeper than ${MAX_JSON_DEPTH} levels before any schema sees it`, async (t) => {
      const s = server(t);
      if (!s) return;
      const endpoints = [
        "/api/calls",
        "/api/links",
        "/api/annotations",
        "/api/comparisons",
        "/api/notifications",
        "/api/datasets",
        "/api/evals",
      ];
      for (const path of endpoints) {
        const bodies: string[] = [nested(5000), `{"request":${nested(5000)}}`, `[${nested(100_000)}]`];
        for (const body of bodies) {
          const r: { status: number; body: ErrorBody } = await s.api<ErrorBody>(path, { body });
          assert.equal(r.status, 400, `${path}: ${JSON.stringify(r.body).slice(0, 300)}`);
          assert.match(String(r.body.error?.message), /nested \d+ levels deep; at most 64/, path);
        }
      }
      // At the bound exactly (the body, metadata, 61 arrays and the innermost object: 64 levels), it is stored.
      const deep = JSON.parse(nested(MAX_JSON_DEPTH - 3, '{"ok":true}'));
      const ok = await s.api("/api/links", {
        body: { upstreamTag: "bt-deep-u", downstreamTag: "bt-deep-d", metadata: { deep } },
      });
      assert.equal(ok.status, 201, JSON.stringify(ok.body).slice(0, 300));
      await readsStillWork(s, "deep bodies");
    });

    it("refuses credential-like headers for evaluation candidates, naming the header, and stores nothing", async (t) => {
      const s = server(t);
      if (!s) return;
      const credentials = [
        "x-goog-api-key",
        "anthropic-api-key",
        "proxy-authorization",
        "openai-api-key",
        "x-auth-token",
        "Cookie",
        "set-cookie",
        "x-session-id",
        "x-client-secret",
        "x-db-password",
      ];
      for (const name of credentials) {
        const message = await expect400(s, "/api/evals", `candidate.headers.${name}`, {
          body: { callIds: ["bt-ok"], candidate: { headers: { [name]: "secret-value-123" } } },
        });
        assert.match(message, /credential/, name);
        assert.doesNotMatch(message, /secret-value-123/, "the value is never echoed");
      }
      await expect400(s, "/api/evals", "candidate.headers.x-trace", {
        body: { callIds: ["bt-ok"], candidate: { headers: { "x-trace": "a\r\nb" } } },
      });
      const list = await s.api<{ data: unknown[] }>("/api/evals");
      assert.equal(list.status, 200);
      assert.deepEqual(list.body.data, [], "no run was created");
    });

    it("refuses a regex check RE2 cannot run (backreference, lookaround) with a 400 naming the pattern", async (t) => {
      const s = server(t);
      if (!s) return;
      for (const pattern of ["(a)\\1", "(?=a)b", "(?<!a)b"]) {
        const message = await expect400(s, "/api/evals", "checks[0].pattern", {
          body: { callIds: ["bt-ok"], checks: [{ type: "regex", pattern }], dryRun: true },
        });
        assert.ok(message.includes(pattern), `${pattern}: ${message}`);
        assert.match(message, /RE2/);
      }
    });

    it("refuses an evaluation's items offset beyond the integer column (a 500 on PostgreSQL)", async (t) => {
      const s = server(t);
      if (!s) return;
      const stored = await s.api("/api/calls", { body: call("bt-eval") });
      assert.equal(stored.status, 201);
      const created = await s.api<{ run: { id: string } }>("/api/evals", { body: { callIds: ["bt-eval"] } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.run.id;
      for (const offset of ["1e300", "3000000000", "-1"])
        await expect400(s, `/api/evals/${id}/items?offset=${offset}`, "offset");
      assert.equal((await s.api(`/api/evals/${id}/items?offset=2147483647`)).status, 200);
    });

    it("refuses a snapshot cursor beyond the integer column (a 500 on PostgreSQL)", async (t) => {
      const s = server(t);
      if (!s) return;
      assert.equal((await s.api("/api/calls", { body: call("bt-snap") })).status, 201);
      assert.equal(
        (await s.api("/api/datasets", { body: { name: "bt-snap", filter: { tag: "bt-snap" } } })).status,
        201,
      );
      const { snapshotId } = await snapshotDataset(s.ctx, "bt-snap");
      await expect400(s, `/api/snapshots/${snapshotId}?cursor=9007199254740991`, "cursor");
      const last = await s.api<{ callIds: unknown[] }>(`/api/snapshots/${snapshotId}?cursor=2147483647`);
      assert.equal(last.status, 200);
      assert.deepEqual(last.body.callIds, []);
    });

    it("still serves the OpenAPI document built from the bounded schemas", async (t) => {
      const s = server(t);
      if (!s) return;
      const r = await s.api<{ paths: Record<string, unknown> }>("/api/openapi.json");
      assert.equal(r.status, 200);
      const text = JSON.stringify(r.body);
      for (const field of ["startedAt", "numericReward", "sendNotificationTo", "minReward"])
        assert.ok(text.includes(field), field);
    });
  });
}
