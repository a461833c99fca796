/**
 * The web app's read-side views, on every dialect: the review queue (each kind of reason,
 * human-judged calls left out), sessions (grouping, order, paging, one session as a conversation) and settings
 * (what is configured, and no secret).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ChatCallFields, chatCallBody } from "../testing/calls.ts";
import {
  DIALECTS,
  postCreated,
  serverForSuite,
  startTestServer,
  type TestServer,
} from "../testing/harness.ts";
import { schemaFailure } from "./review.ts";
import type { SessionSummary } from "./sessions.ts";

interface CallOut {
  id: string;
  sessionId: string | null;
  request?: unknown;
  preview?: unknown;
  annotationCount?: number;
}
interface ReviewOut {
  data: Array<{ call: CallOut; reasons: string[]; kinds: string[] }>;
}
interface SessionsOut {
  data: SessionSummary[];
  nextCursor: string | null;
}

const T0 = Date.parse("2025-03-01T10:00:00Z");

/** A call answered `content`; `request` adds to the request (a response_format, say). */
function call(
  id: string,
  opts: { durationMs?: number; startedAt?: number; request?: Record<string, unknown> } & ChatCallFields = {},
  content = `answer ${id}`,
) {
  const { durationMs = 100, startedAt = T0, request = {}, ...fields } = opts;
  const body = chatCallBody(id, { startedAt, endedAt: startedAt + durationMs, answer: content, ...fields });
  return { ...body, request: { ...body.request, ...request } };
}

const jsonSchemaRequest = {
  response_format: {
    type: "json_schema",
    json_schema: { name: "city", schema: { type: "object", required: ["city", "country"] } },
  },
};

for (const dialect of DIALECTS) {
  describe(`review queue on ${dialect}`, () => {
    const server = serverForSuite(dialect, {}, { inProcess: true });

    it("proposes unjudged calls, each with why", async (t) => {
      const s = server(t);
      if (!s) return;
      const calls = [
        // Ten ordinary calls of 100 ms make the p90 100 ms.
        ...Array.from({ length: 10 }, (_, i) => call(`ok_${i}`, { startedAt: T0 + i })),
        call("slow_1", { startedAt: T0 + 20, durationMs: 9000 }),
        call("err_1", {
          startedAt: T0 + 21,
          outcome: "upstream_error",
          status: 500,
          error: "model overloaded",
        }),
        call("err_judged", { startedAt: T0 + 22, outcome: "upstream_error", status: 502 }),
        call("badjson_1", { startedAt: T0 + 23, request: jsonSchemaRequest }, "Paris, France"),
        call("missing_1", { startedAt: T0 + 24, request: jsonSchemaRequest }, '{"city":"Paris"}'),
        call(
          "goodjson_1",
          { startedAt: T0 + 25, request: jsonSchemaRequest },
          '{"city":"Paris","country":"FR"}',
        ),
        call("low_1", { startedAt: T0 + 26 }),
        call("split_1", { startedAt: T0 + 27 }),
        call("high_1", { startedAt: T0 + 28 }),
      ];
      await postCreated(s, "/api/calls", calls);
      const ann = await s.api("/api/annotations", {
        body: [
          { annotationKey: "cmpl-low_1", numericReward: 0, source: "code" },
          { annotationKey: "cmpl-split_1", numericReward: 1, source: "user", annotatorId: "u1" },
          { annotationKey: "cmpl-split_1", numericReward: 0, source: "user", annotatorId: "u2" },
          { annotationKey: "cmpl-high_1", numericReward: 1, source: "code" },
          { annotationKey: "cmpl-err_judged", numericReward: 0, source: "human", annotatorId: "ana" },
        ],
      });
      assert.equal(ann.status, 201, JSON.stringify(ann.body));

      const r = await s.api<ReviewOut>("/api/review-queue?limit=50");
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const byId = new Map(r.body.data.map((x) => [x.call.id, x]));
      const reasons = (id: string) => byId.get(id)?.reasons.join(" | ") ?? "(not proposed)";
      assert.match(reasons("err_1"), /upstream error: upstream_error \(HTTP 500\): model overloaded/);
      assert.deepEqual(byId.get("err_1")?.kinds.slice(0, 1), ["error"]);
      assert.match(reasons("slow_1"), /slow: 9\.00 s, above the p90 of 0\.10 s/);
      assert.match(reasons("badjson_1"), /not valid JSON though response_format asks for json_schema/);
      assert.match(reasons("missing_1"), /misses required key\(s\) country of the json_schema "city"/);
      assert.match(reasons("low_1"), /low reward: 0/);
      assert.match(reasons("split_1"), /disagreeing rewards: from 0 to 1 over 2 annotations/);
      assert.ok(!byId.has("err_judged"), "a call a person judged is not proposed again");
      for (const id of ["goodjson_1", "high_1", "ok_0"]) {
        const kinds = byId.get(id)?.kinds ?? [];
        assert.ok(
          kinds.every((k) => k === "random"),
          `${id} only as a random pick: ${reasons(id)}`,
        );
      }
      assert.ok(
        r.body.data.some((x) => x.kinds.includes("random")),
        "a random sample of the rest is included",
      );
      for (const item of r.body.data) {
        assert.ok(item.reasons.length > 0 && item.reasons.length === item.kinds.length);
        assert.ok(item.call.preview, "list view of the call");
        assert.equal(item.call.request, undefined, "no bodies in the list view");
      }
      assert.equal(byId.get("split_1")?.call.annotationCount, 2);
      assert.equal(new Set(r.body.data.map((x) => x.call.id)).size, r.body.data.length, "each call once");

      const small = await s.api<ReviewOut>("/api/review-queue?limit=3");
      assert.equal(small.body.data.length, 3);
      assert.deepEqual(
        small.body.data.map((x) => x.kinds[0]),
        ["error", "reward", "schema"],
        "kinds are interleaved so one cannot fill the queue",
      );
      assert.equal((await s.api("/api/review-queue?limit=0")).status, 400);
    });
  });

  describe(`sessions on ${dialect}`, () => {
    const server = serverForSuite(dialect, {}, { inProcess: true });

    it("groups calls by session, most recent first, with paging; one session reads oldest first", async (t) => {
      const s = server(t);
      if (!s) return;
      await postCreated(s, "/api/calls", [
        call("s1_b", { sessionId: "s1", userId: "u1", startedAt: T0 + 2000, model: "gpt-4o" }),
        call("s1_a", { sessionId: "s1", userId: "u1", startedAt: T0 + 1000 }),
        call("s1_c", { sessionId: "s1", userId: "u2", startedAt: T0 + 3000 }),
        call("s2_a", { sessionId: "s2", startedAt: T0 + 5000 }),
        call("s3_a", { sessionId: "s3", startedAt: T0 + 500 }),
        call("nosession", { startedAt: T0 + 9000 }),
      ]);
      const all = await s.api<SessionsOut>("/api/sessions");
      assert.equal(all.status, 200, JSON.stringify(all.body));
      assert.deepEqual(
        all.body.data.map((x) => x.sessionId),
        ["s2", "s1", "s3"],
      );
      assert.deepEqual(all.body.data[1], {
        sessionId: "s1",
        calls: 3,
        firstAt: new Date(T0 + 1000).toISOString(),
        lastAt: new Date(T0 + 3000).toISOString(),
        models: ["gpt-4o", "gpt-4o-mini"],
        userIds: ["u1", "u2"],
      });
      assert.equal(all.body.nextCursor, null);

      const seen: string[] = [];
      let cursor: string | null = null;
      for (let i = 0; i < 5; i++) {
        const page: { status: number; body: SessionsOut } = await s.api<SessionsOut>(
          `/api/sessions?limit=1${cursor ? `&cursor=${cursor}` : ""}`,
        );
        assert.equal(page.status, 200, JSON.stringify(page.body));
        seen.push(...page.body.data.map((x) => x.sessionId));
        cursor = page.body.nextCursor;
        if (!cursor) break;
      }
      assert.deepEqual(seen, ["s2", "s1", "s3"]);

      const one = await s.api<{ sessionId: string; calls: CallOut[] }>("/api/sessions/s1");
      assert.equal(one.status, 200);
      assert.deepEqual(
        one.body.calls.map((c) => c.id),
        ["s1_a", "s1_b", "s1_c"],
      );
      assert.ok(one.body.calls[0]?.request, "full calls, with their bodies");
      const missing = await s.api<{ error: { field: string } }>("/api/sessions/nope");
      assert.equal(missing.status, 404);
      assert.equal((await s.api("/api/sessions?cursor=zzz")).status, 400);
    });
  });
}

describe("settings", () => {
  let s: TestServer;
  const secrets = {
    INTERSEBD_API_KEY: "api-key-very-secret",
    INTERSEBD_UPSTREAM_KEY: "sk-upstream-very-secret",
    INTERSEBD_UPSTREAMS: "local=http://user:pw-very-secret@127.0.0.1:9/v1",
    INTERSEBD_WEBHOOK_URL: "https://hooks.example.com/services/T000/very-secret-path?token=very-secret",
    INTERSEBD_WEBHOOK_SECRET: `whsec_${Buffer.from("very-secret-signing-key").toString("base64")}`,
    INTERSEBD_TOKEN_SECRET: "token-secret-very-secret",
    INTERSEBD_PUBLIC_URL: "https://intersebd.example.com",
  };
  before(async () => {
    s = await startTestServer("sqlite", { env: secrets, inProcess: true });
  });
  after(async () => {
    await s.stop();
  });

  it("shows the configuration and never a secret", async () => {
    const r = await s.api<Record<string, unknown>>("/api/settings", {
      headers: { "x-intersebd-key": secrets.INTERSEBD_API_KEY },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    // The store's size varies with the run; its shape and the retention settings (off by default) do not.
    const { store, ...rest } = r.body as { store: { kind: string; bytes: number; retention: unknown } };
    assert.equal(store.kind, "sqlite");
    assert.ok(store.bytes > 0);
    assert.deepEqual(store.retention, { bodiesDays: null, callsDays: null, keptDays: null });
    assert.deepEqual(rest, {
      version: "0.1.0",
      upstreams: [
        { name: "default", baseUrl: "http://127.0.0.1:9/v1", hasKey: true },
        { name: "local", baseUrl: "http://127.0.0.1:9/v1", hasKey: false },
      ],
      capture: "full",
      webhook: { configured: true, url: "hooks.example.com", signing: true },
      publicUrl: "https://intersebd.example.com",
      auth: true,
      tokenTtlSeconds: 604800,
    });
    const text = JSON.stringify(r.body);
    assert.ok(!/very-secret|pw-/.test(text), text);
    assert.equal((await s.api("/api/settings")).status, 401, "behind the API key");
  });
});

describe(schemaFailure.name, () => {
  const res = (content: unknown, refusal?: string) => ({ choices: [{ message: { content, refusal } }] });
  it("passes outputs that match, and calls that asked for no JSON", () => {
    assert.equal(schemaFailure({}, res("not json")), undefined);
    assert.equal(schemaFailure({ response_format: { type: "text" } }, res("x")), undefined);
    assert.equal(schemaFailure({ response_format: { type: "json_object" } }, res('{"a":1}')), undefined);
    assert.equal(schemaFailure(jsonSchemaRequest, res('{"city":"a","country":"b"}')), undefined);
    assert.equal(schemaFailure(jsonSchemaRequest, null), undefined, "no response: nothing to check");
  });
  it("names what is wrong", () => {
    assert.match(
      schemaFailure({ response_format: { type: "json_object" } }, res("{")) ?? "",
      /not valid JSON/,
    );
    assert.match(
      schemaFailure({ response_format: { type: "json_object" } }, res("[1]")) ?? "",
      /not an object/,
    );
    assert.match(
      schemaFailure(jsonSchemaRequest, res("[]")) ?? "",
      /not an object, though the json_schema "city"/,
    );
    assert.match(schemaFailure(jsonSchemaRequest, res("{}")) ?? "", /misses required key\(s\) city, country/);
    assert.match(schemaFailure(jsonSchemaRequest, res(null, "I can't")) ?? "", /refused/);
  });
});
