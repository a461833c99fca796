/**
 * Bad input to every write endpoint (`POST /api/calls`, `/api/links`, `/api/annotations`, `/api/comparisons`)
 * and to the call list's query, on every dialect. Each rejection must be a 4xx whose JSON `error.message` names
 * the field, must store nothing (a batch with one bad item stores none of its items), and must leave the server
 * serving, its store reachable, and the data it accepted before intact.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { chatCallBody } from "../testing/calls.ts";
import { DIALECTS, serverForSuite, type TestServer } from "../testing/harness.ts";

const MAX_BODY = 1024 * 1024;
const FIELD_LIMIT = 256 * 1024;

type Res<T> = { status: number; body: T; headers: Headers };

interface ErrorBody {
  error?: { message?: unknown; field?: unknown; code?: unknown };
}

/** Endpoint, and a valid item to start each bad case from. */
const ENDPOINTS = {
  "/api/calls": () => chatCallBody("val-ok-call", { completionId: "val-ok-cmpl" }),
  "/api/links": () => ({ upstreamTag: "val-ok-u", downstreamTag: "val-ok-d" }),
  "/api/annotations": () => ({ annotationKey: "val-ok-key", numericReward: 1 }),
  "/api/comparisons": () => ({ a: "val-ok-a", b: "val-ok-b", choice: "a" }),
} as const;
type Endpoint = keyof typeof ENDPOINTS;

/** A bad body: what is sent, the status, the text the message must contain, and `error.field` if named. */
interface Case {
  what: string;
  body: unknown;
  status?: number;
  mentions: string;
  field?: string | null;
}

/** The valid item of the endpoint with some fields replaced (undefined removes one). */
function withFields(endpoint: Endpoint, fields: Record<string, unknown>): Record<string, unknown> {
  const item: Record<string, unknown> = { ...ENDPOINTS[endpoint](), ...fields };
  for (const [k, v] of Object.entries(fields)) if (v === undefined) delete item[k];
  return item;
}

const bigString = (bytes: number) => "x".repeat(bytes);

/**
 * A bad field, one line each: what it is, the fields replaced in the endpoint's valid item (or a raw body, sent as
 * it is), the text the message must contain, and `error.field` if named.
 */
type FieldCase = [what: string, fields: Record<string, unknown> | string, mentions: string, field?: string];

function fieldCases(endpoint: Endpoint, cases: FieldCase[]): Case[] {
  return cases.map(([what, fields, mentions, field]) => ({
    what,
    body: typeof fields === "string" ? fields : withFields(endpoint, fields),
    mentions,
    field,
  }));
}

/** Cases every write endpoint shares: the body itself is wrong. */
function bodyCases(endpoint: Endpoint): Case[] {
  return [
    { what: "malformed JSON", body: '{"upstreamTag": "a",', mentions: "not valid JSON", field: null },
    { what: "an empty body", body: "", mentions: "empty", field: null },
    { what: "a whitespace-only body", body: "  \n ", mentions: "empty", field: null },
    { what: "JSON null", body: "null", mentions: "body" },
    { what: "a JSON string", body: '"hello"', mentions: "body" },
    { what: "a JSON number", body: "42", mentions: "body" },
    { what: "an empty batch", body: "[]", mentions: "batch is empty", field: null },
    { what: "a batch holding null", body: "[null]", mentions: "[0]", field: "[0]" },
    {
      what: "an unknown field (strict schema)",
      body: withFields(endpoint, { surpriseField: 1 }),
      mentions: "surpriseField",
    },
    {
      what: `a body over INTERSEBD_MAX_BODY_BYTES (${MAX_BODY})`,
      body: { ...ENDPOINTS[endpoint](), pad: bigString(MAX_BODY + 1024) },
      status: 413,
      mentions: "INTERSEBD_MAX_BODY_BYTES",
    },
  ];
}

const FIELD_CASES: Record<Endpoint, Case[]> = {
  "/api/links": fieldCases("/api/links", [
    ["a missing upstreamTag", { upstreamTag: undefined }, "upstreamTag", "upstreamTag"],
    ["a numeric upstreamTag", { upstreamTag: 5 }, "upstreamTag must be a string", "upstreamTag"],
    ["an empty upstreamTag", { upstreamTag: "" }, "upstreamTag must not be empty", "upstreamTag"],
    [
      "a whitespace-only downstreamTag",
      { downstreamTag: " \t\n " },
      "downstreamTag must not be empty",
      "downstreamTag",
    ],
    ["an object as downstreamTag", { downstreamTag: { id: 1 } }, "downstreamTag", "downstreamTag"],
    ["a tag over 1000 characters", { upstreamTag: "t".repeat(1001) }, "upstreamTag", "upstreamTag"],
    ["a NUL character in a tag", { upstreamTag: "a\u0000b" }, "upstreamTag", "upstreamTag"],
    ["metadata that is an array", { metadata: [1, 2] }, "metadata", "metadata"],
    ["metadata that is a string", { metadata: "{}" }, "metadata", "metadata"],
    ["metadata that is null", { metadata: null }, "metadata", "metadata"],
    ["metadata that is a number", { metadata: 7 }, "metadata", "metadata"],
    [
      `metadata over ${FIELD_LIMIT} bytes`,
      { metadata: { pad: bigString(FIELD_LIMIT + 10) } },
      "metadata",
      "metadata",
    ],
  ]),
  "/api/annotations": fieldCases("/api/annotations", [
    ["a missing annotationKey", { annotationKey: undefined }, "annotationKey", "annotationKey"],
    ["an empty annotationKey", { annotationKey: "" }, "annotationKey must not be empty", "annotationKey"],
    [
      "a whitespace-only annotationKey",
      { annotationKey: "   " },
      "annotationKey must not be empty",
      "annotationKey",
    ],
    ["a numeric annotationKey", { annotationKey: 12 }, "annotationKey must be a string", "annotationKey"],
    ["a NUL character in annotationKey", { annotationKey: "k\u0000" }, "annotationKey", "annotationKey"],
    [
      "a numericReward of 1e999 (Infinity once parsed)",
      '{"annotationKey":"val-k","numericReward":1e999}',
      "numericReward must be a finite number",
      "numericReward",
    ],
    [
      "a numericReward of -1e999",
      '{"annotationKey":"val-k","numericReward":-1e999}',
      "numericReward",
      "numericReward",
    ],
    ['a numericReward of "NaN"', { numericReward: "NaN" }, "numericReward", "numericReward"],
    ['a numericReward of "1" (a string)', { numericReward: "1" }, "numericReward", "numericReward"],
    ["a boolean numericReward", { numericReward: true }, "numericReward", "numericReward"],
    ["an empty name", { name: " " }, "name", "name"],
    ["an unknown source", { source: "robot" }, "source", "source"],
    ["a numeric comment", { comment: 5 }, "comment", "comment"],
    ["an empty correction", { correction: "" }, "correction", "correction"],
    ["an empty client id", { id: "" }, "id", "id"],
    [`data over ${FIELD_LIMIT} bytes`, { data: { pad: bigString(FIELD_LIMIT + 10) } }, "data", "data"],
    [`content over ${FIELD_LIMIT} bytes`, { content: bigString(FIELD_LIMIT + 10) }, "content", "content"],
    [
      `data over ${FIELD_LIMIT} bytes in UTF-8 though under it in characters`,
      { data: { pad: "€".repeat(100_000) } },
      "data",
      "data",
    ],
    ["the reward under the wrong name", { numericReward: undefined, reward: 1 }, "reward"],
  ]),
  "/api/comparisons": fieldCases("/api/comparisons", [
    ["a missing choice", { choice: undefined }, "choice", "choice"],
    ['a choice of "c"', { choice: "c" }, 'choice must be "a", "b" or "tie"', "choice"],
    ["an empty a", { a: "" }, "a must not be empty", "a"],
    ["a whitespace-only b", { b: "   " }, "b must not be empty", "b"],
    ["a tag compared with itself", { b: "val-ok-a" }, "b must differ from a", "b"],
    ["a numeric b", { b: 3 }, "b must be a string", "b"],
    ["an unknown source", { source: "robot" }, "source", "source"],
    ["a numeric reason", { reason: 1 }, "reason", "reason"],
  ]),
  "/api/calls": fieldCases("/api/calls", [
    ["a missing request", { request: undefined }, "request", "request"],
    ["a request that is an array", { request: [] }, "request", "request"],
    ["a request that is a string", { request: "hi" }, "request", "request"],
    ["a response that is a string", { response: "hi" }, "response", "response"],
    ["an empty id", { id: "" }, "id", "id"],
    ["a NUL character in the id", { id: "call\u0000x" }, "id", "id"],
    ["tags that are a string", { tags: "a,b" }, "tags", "tags"],
    ["an empty tag", { tags: ["ok", ""] }, "tags[1]", "tags[1]"],
    ["a whitespace-only tag", { tags: [" "] }, "tags[0]", "tags[0]"],
    ["a NUL character in a tag", { tags: ["a\u0000"] }, "tags[0]", "tags[0]"],
    ["metadata that is an array", { metadata: [] }, "metadata", "metadata"],
    ["metadata that is null", { metadata: null }, "metadata", "metadata"],
    ["metadata that is a string", { metadata: "x" }, "metadata", "metadata"],
    ["a negative ttftMs", { ttftMs: -1 }, "ttftMs", "ttftMs"],
    ["a fractional ttftMs", { ttftMs: 1.5 }, "ttftMs", "ttftMs"],
    ["a ttftMs beyond a 32-bit integer", { ttftMs: 3e9 }, "ttftMs", "ttftMs"],
    ["a status of 99", { status: 99 }, "status", "status"],
    ['a status of "200"', { status: "200" }, "status", "status"],
    ["an unknown outcome", { outcome: "exploded" }, "outcome", "outcome"],
    ["a startedAt that is no date", { startedAt: "yesterday" }, "startedAt", "startedAt"],
    ["a stream flag that is a string", { stream: "yes" }, "stream", "stream"],
    // PostgreSQL's jsonb and its `->>` cannot hold a NUL: refused at the edge, wherever it is in the body.
    [
      "a NUL character in the request's model",
      { request: { model: "gpt-4o-mini\u0000", messages: [{ role: "user", content: "hi" }] } },
      "NUL",
      "request.model",
    ],
    [
      "a NUL character in a message's text",
      { request: { model: "m", messages: [{ role: "user", content: "nul \u0000 in text" }] } },
      "NUL",
      "request.messages[0].content",
    ],
    [
      "a startedAt beyond year 9999 (9e15 made every list answer 500)",
      { startedAt: 9e15 },
      "startedAt",
      "startedAt",
    ],
    [
      "an endedAt before startedAt",
      { startedAt: 2000, endedAt: 1000 },
      "endedAt must not be before startedAt",
      "endedAt",
    ],
    ["a completionId at the top level", { completionId: "chatcmpl-1" }, "completionId"],
  ]),
};

/** A batch of valid items with one bad one: the field is named with its index and nothing is stored. */
const BATCHES: Record<
  Endpoint,
  {
    items: (prefix: string) => unknown[];
    badIndex: number;
    field: string;
    storedNothing: (s: TestServer, prefix: string) => Promise<void>;
  }
> = {
  "/api/links": {
    items: (p) => [
      { upstreamTag: `${p}-u0`, downstreamTag: `${p}-d0` },
      { upstreamTag: `${p}-u1`, downstreamTag: `${p}-d1`, metadata: { ok: true } },
      { upstreamTag: `${p}-u2`, downstreamTag: `${p}-d2`, metadata: [1] },
    ],
    badIndex: 2,
    field: "[2].metadata",
    storedNothing: async (s, p) => {
      for (const i of [0, 1, 2]) {
        const tag = await getJson<{ downstreamLinks: unknown[] }>(s, `/api/tags/${p}-u${i}`);
        assert.deepEqual(tag.downstreamLinks, [], `link ${i} of the rejected batch`);
      }
    },
  },
  "/api/annotations": {
    items: (p) => [
      { id: `${p}-a0`, annotationKey: `${p}-k0`, numericReward: 1 },
      { id: `${p}-a1`, annotationKey: `${p}-k1`, numericReward: Number.POSITIVE_INFINITY },
      { id: `${p}-a2`, annotationKey: `${p}-k2`, numericReward: 0 },
    ],
    badIndex: 1,
    field: "[1].numericReward",
    storedNothing: async (s, p) => {
      for (const i of [0, 1, 2]) {
        const tag = await getJson<{ annotations: unknown[] }>(s, `/api/tags/${p}-k${i}`);
        assert.deepEqual(tag.annotations, [], `annotation ${i} of the rejected batch`);
      }
    },
  },
  "/api/comparisons": {
    items: (p) => [
      { id: `${p}-c0`, a: `${p}-a0`, b: `${p}-b0`, choice: "a" },
      { id: `${p}-c1`, a: `${p}-a1`, b: `${p}-b1`, choice: "tie" },
      { id: `${p}-c2`, a: `${p}-a2`, b: " ", choice: "b" },
    ],
    badIndex: 2,
    field: "[2].b",
    storedNothing: async (s, p) => {
      for (const i of [0, 1, 2]) {
        const tag = await getJson<{ comparisons: unknown[] }>(s, `/api/tags/${p}-a${i}`);
        assert.deepEqual(tag.comparisons, [], `comparison ${i} of the rejected batch`);
      }
    },
  },
  "/api/calls": {
    items: (p) => [
      chatCallBody(`${p}-call0`, { completionId: `${p}-cmpl0` }),
      chatCallBody(`${p}-call1`, { completionId: `${p}-cmpl1`, tags: ["fine", ""] }),
      chatCallBody(`${p}-call2`, { completionId: `${p}-cmpl2` }),
    ],
    badIndex: 1,
    field: "[1].tags[1]",
    storedNothing: async (s, p) => {
      for (const i of [0, 1, 2]) {
        const r = await s.api(`/api/calls/${p}-call${i}`);
        assert.equal(r.status, 404, `call ${i} of the rejected batch`);
      }
    },
  },
};

async function getJson<T>(s: TestServer, path: string): Promise<T> {
  const r = await s.api<T>(path);
  assert.equal(r.status, 200, `GET ${path} → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** The body JSON-encoded, except strings, which are sent as they are (malformed JSON, 1e999...). */
const raw = (body: unknown) => (typeof body === "string" ? body : JSON.stringify(body));

for (const dialect of DIALECTS) {
  describe(`bad input to the write endpoints on ${dialect}`, () => {
    const server = serverForSuite(
      dialect,
      { INTERSEBD_MAX_BODY_BYTES: String(MAX_BODY) },
      { inProcess: true },
    );
    let sentinelReady = false;

    /** Data accepted before any bad input: it must survive every rejection. */
    async function sentinel(s: TestServer) {
      if (sentinelReady) return;
      const ok = async (path: string, body: unknown) => {
        const r = await s.api(path, { body });
        assert.equal(r.status, 201, `${path}: ${JSON.stringify(r.body)}`);
      };
      await ok(
        "/api/calls",
        chatCallBody("val-sentinel", { completionId: "val-sentinel-cmpl", tags: ["val-sentinel-tag"] }),
      );
      await ok("/api/links", {
        upstreamTag: "val-sentinel-cmpl",
        downstreamTag: "val-sentinel-reply",
        metadata: { m: 1 },
      });
      await ok("/api/annotations", {
        id: "val-sentinel-ann",
        annotationKey: "val-sentinel-reply",
        numericReward: 0.75,
      });
      await ok("/api/comparisons", {
        id: "val-sentinel-cmp",
        a: "val-sentinel-reply",
        b: "val-other",
        choice: "tie",
      });
      sentinelReady = true;
    }

    /** The server answers, its store is reachable, and the sentinel data is intact and not duplicated. */
    async function stillServing(s: TestServer, after: string) {
      const health = await getJson<{ status: string; storeReachable: boolean }>(s, "/healthz");
      assert.deepEqual([health.status, health.storeReachable], ["ok", true], `health after ${after}`);
      const call = await getJson<{
        id: string;
        annotations: Array<{ id: string; depth: number; numericReward: number }>;
      }>(s, "/api/calls/val-sentinel-cmpl");
      assert.deepEqual(
        call.annotations.map((a) => [a.id, a.depth, a.numericReward]),
        [["val-sentinel-ann", 1, 0.75]],
        `sentinel call after ${after}`,
      );
      const tag = await getJson<{
        upstreamLinks: Array<{ metadata: unknown }>;
        comparisons: Array<{ id: string }>;
      }>(s, "/api/tags/val-sentinel-reply");
      assert.deepEqual(
        tag.upstreamLinks.map((l) => l.metadata),
        [{ m: 1 }],
        `sentinel link after ${after}`,
      );
      assert.deepEqual(
        tag.comparisons.map((c) => c.id),
        ["val-sentinel-cmp"],
        `sentinel comparison after ${after}`,
      );
    }

    async function expectRejected(s: TestServer, path: string, c: Case) {
      const label = `POST ${path} with ${c.what}`;
      const r = await s.api<ErrorBody>(path, { body: raw(c.body) });
      assert.equal(
        r.status,
        c.status ?? 400,
        `${label}: status (body ${JSON.stringify(r.body).slice(0, 300)})`,
      );
      const message = r.body?.error?.message;
      assert.equal(
        typeof message,
        "string",
        `${label}: error.message in ${JSON.stringify(r.body).slice(0, 300)}`,
      );
      assert.ok(
        (message as string).includes(c.mentions),
        `${label}: message ${JSON.stringify(message)} should mention ${JSON.stringify(c.mentions)}`,
      );
      if (c.field !== undefined) assert.equal(r.body.error?.field, c.field, `${label}: error.field`);
      await stillServing(s, label);
    }

    for (const endpoint of Object.keys(ENDPOINTS) as Endpoint[]) {
      it(`rejects a malformed, empty, oversize or unknown-field body to ${endpoint} and keeps serving`, async (t) => {
        const s = server(t);
        if (!s) return;
        await sentinel(s);
        for (const c of bodyCases(endpoint)) await expectRejected(s, endpoint, c);
      });

      it(`rejects wrong, empty and out-of-range fields in ${endpoint} with a 400 naming the field`, async (t) => {
        const s = server(t);
        if (!s) return;
        await sentinel(s);
        for (const c of FIELD_CASES[endpoint]) await expectRejected(s, endpoint, c);
        // The valid item the cases were made from is accepted: the 400s came from the changed field.
        const ok = await s.api(endpoint, { body: ENDPOINTS[endpoint]() });
        assert.equal(ok.status, 201, JSON.stringify(ok.body));
      });

      it(`rejects a batch to ${endpoint} with one bad item, names it by index, and stores none of the batch`, async (t) => {
        const s = server(t);
        if (!s) return;
        await sentinel(s);
        const b = BATCHES[endpoint];
        const prefix = `vb-${endpoint.split("/").at(-1)}`;
        const items = b.items(prefix);
        // Infinity cannot be JSON-encoded: write it as 1e999, which parses back to Infinity.
        const body = JSON.stringify(items, (_k, v) =>
          v === Number.POSITIVE_INFINITY ? "__INF__" : v,
        ).replace('"__INF__"', "1e999");
        await expectRejected(s, endpoint, {
          what: `a bad item at [${b.badIndex}]`,
          body,
          mentions: b.field,
          field: b.field,
        });
        await b.storedNothing(s, prefix);
        // Without the bad item the same batch is accepted (so the rejection was that item's alone).
        const good = items.filter((_, i) => i !== b.badIndex);
        const r = await s.api(endpoint, { body: good });
        assert.equal(r.status, 201, JSON.stringify(r.body).slice(0, 300));
      });
    }

    it("accepts the largest batch the API allows to /api/comparisons and /api/annotations", async (t) => {
      const s = server(t);
      if (!s) return;
      await sentinel(s);
      const n = 10_000;
      const cmp = await s.api<{ data: unknown[] }>("/api/comparisons", {
        body: Array.from({ length: n }, (_, i) => ({ a: `bulk-a${i}`, b: `bulk-b${i}`, choice: "a" })),
      });
      assert.equal(cmp.status, 201, JSON.stringify(cmp.body).slice(0, 300));
      assert.equal(cmp.body.data.length, n);
      const tag = await getJson<{ comparisons: unknown[] }>(s, `/api/tags/bulk-a${n - 1}`);
      assert.equal(tag.comparisons.length, 1);
      const ann = await s.api<{ data: unknown[] }>("/api/annotations", {
        body: Array.from({ length: n }, (_, i) => ({ annotationKey: `bulk-k${i}`, numericReward: i % 2 })),
      });
      assert.equal(ann.status, 201, JSON.stringify(ann.body).slice(0, 300));
      assert.equal(ann.body.data.length, n);
      const over = await s.api<ErrorBody>("/api/links", {
        body: Array.from({ length: n + 1 }, (_, i) => ({ upstreamTag: `o${i}`, downstreamTag: "x" })),
      });
      assert.equal(over.status, 413);
      assert.match(String(over.body.error?.message), /batch of 10001/);
      await stillServing(s, "the largest batches");
    });

    it("stores calls whose bodies carry values the database columns cannot hold, without wedging capture", async (t) => {
      const s = server(t);
      if (!s) return;
      await sentinel(s);
      const odd = [
        chatCallBody("odd-tokens", { completionId: "odd-tokens-cmpl" }),
        chatCallBody("odd-duration", {
          completionId: "odd-duration-cmpl",
          startedAt: 0,
          endedAt: 5_000_000_000,
        }),
      ];
      (odd[0]?.response as { usage: unknown }).usage = {
        prompt_tokens: 1.5,
        completion_tokens: 3e10,
        total_tokens: 2,
      };
      for (const body of odd) {
        const r: Res<{ stored: boolean }> = await s.api("/api/calls", { body });
        assert.equal(r.status, 201, `${body.id}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.stored, true, body.id);
        await stillServing(s, body.id);
      }
      const tokens = await getJson<{ usage: Record<string, unknown> }>(s, "/api/calls/odd-tokens");
      assert.deepEqual(
        [tokens.usage.promptTokens, tokens.usage.completionTokens, tokens.usage.totalTokens],
        [null, null, 2],
        "token counts that are not 32-bit integers are dropped, the others kept",
      );
      const duration = await getJson<{ durationMs: number | null }>(s, "/api/calls/odd-duration");
      assert.equal(duration.durationMs, null);
      // Capture still reaches the store after them.
      const next = await s.api<{ stored: boolean }>("/api/calls", {
        body: chatCallBody("odd-after", { completionId: "odd-after-cmpl" }),
      });
      assert.deepEqual([next.status, next.body.stored], [201, true]);
    });

    it("rejects bad filters and cursors on GET /api/calls with a 400 naming the parameter", async (t) => {
      const s = server(t);
      if (!s) return;
      await sentinel(s);
      const b64 = (x: string) => Buffer.from(x).toString("base64url");
      const cases: Array<[string, string, string]> = [
        ["outcome=exploded", "outcome", "exploded"],
        ["outcome=ok,exploded", "outcome", "exploded"],
        ["annotated=yes", "annotated", "annotated"],
        ["minReward=abc", "minReward", "minReward"],
        ["minReward=1e999", "minReward", "minReward"],
        ["maxReward=NaN", "maxReward", "maxReward"],
        ["modle=gpt-4o", "modle", "unknown parameter modle"],
        ["annotationSource=robot", "annotationSource", "annotationSource"],
        ["limit=0", "limit", "limit"],
        ["limit=abc", "limit", "limit"],
        ["limit=1000000", "limit", "limit"],
        ["status=99", "status", "status"],
        ["from=not-a-date", "from", "from"],
        ["cursor=%21%21%21", "cursor", "cursor"],
        [`cursor=${b64("no-colon-here")}`, "cursor", "cursor"],
        [`cursor=${b64("abc:call_1")}`, "cursor", "cursor"],
        [`cursor=${b64("1e999:call_1")}`, "cursor", "cursor"],
        [`cursor=${b64(":call_1")}`, "cursor", "cursor"],
      ];
      for (const [query, field, mentions] of cases) {
        const r: Res<ErrorBody> = await s.api(`/api/calls?${query}`);
        assert.equal(r.status, 400, `?${query}: ${JSON.stringify(r.body)}`);
        assert.ok(String(r.body.error?.message).includes(mentions), `?${query}: ${r.body.error?.message}`);
        assert.equal(r.body.error?.field, field, `?${query}: error.field`);
        await stillServing(s, `?${query}`);
      }
      // An empty parameter, as an empty form field sends it, is no filter at all (not a reward of 0, not a 400).
      const all = await getJson<{ data: Array<{ id: string }> }>(s, "/api/calls");
      const blank = await getJson<{ data: Array<{ id: string }> }>(
        s,
        "/api/calls?minReward=&maxReward=&status=&name=&limit=",
      );
      assert.ok(all.data.length > 0);
      assert.deepEqual(
        blank.data.map((c) => c.id),
        all.data.map((c) => c.id),
      );
      // A cursor the server issued works (so the rejections above are about the cursor's content).
      const p1 = await getJson<{ data: Array<{ id: string }>; nextCursor: string | null }>(
        s,
        "/api/calls?limit=1",
      );
      assert.ok(p1.nextCursor, "more than one call is stored");
      const p2 = await getJson<{ data: Array<{ id: string }> }>(
        s,
        `/api/calls?limit=1&cursor=${encodeURIComponent(p1.nextCursor)}`,
      );
      assert.equal(p2.data.length, 1);
      assert.notEqual(p2.data[0]?.id, p1.data[0]?.id);
    });
  });
}
