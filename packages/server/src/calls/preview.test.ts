/**
 * Lists show a preview stored with each call (issue 12: listing parsed every listed call's bodies). Here: the
 * preview of odd bodies, the columns `toCallRow` writes, lists that keep working when the bodies are not JSON
 * at all (so they never read them), and the migration that fills the columns of calls stored before it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Kysely, sql } from "kysely";
import { PREVIEW_CHARS, previewColumnsOfText, previewOf, previewText, withPreview } from "../chat/preview.ts";
import {
  capturedCall,
  DIALECTS,
  freshDatabase,
  openStoreOn,
  postgresAvailable,
  serverForSuite,
} from "../testing/index.ts";
import { olderStore } from "../testing/older-store.ts";
import { type CapturedCall, toCallRow } from "./record.ts";

const chat = (content: unknown) => ({ model: "m", messages: [{ role: "user", content }] });
const answer = (message: Record<string, unknown>) => ({ choices: [{ index: 0, message }] });
const codePoints = (s: string | null) => [...(s ?? "")].length;

describe("previewOf", () => {
  it("shows the last user message and the first answer", () => {
    const request = {
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "first" },
        { role: "assistant", content: "ok" },
        { role: "user", content: "second" },
        { role: "tool", content: "tool output" },
      ],
    };
    assert.deepEqual(previewOf(request, answer({ role: "assistant", content: "done" })), {
      input: "second",
      output: "done",
    });
  });

  it("never throws, whatever the bodies are", () => {
    const odd: unknown[] = [
      null,
      undefined,
      42,
      "text",
      [1, 2],
      { _raw: "<html>not json</html>" },
      { messages: "not a list" },
      { messages: [null, 7, "x", { role: "user" }, { role: "user", content: { text: 1 } }] },
      { messages: [{ role: "user", content: [null, 5, { text: { nested: true } }, { type: "weird" }] }] },
      { choices: "no" },
      { choices: [null] },
      { choices: [{ message: { tool_calls: [null, { function: null }, { function: { name: 5 } }] } }] },
      { error: 5 },
      { output: [null, { type: "message", content: 3 }] },
      Object.create(null),
    ];
    for (const a of odd) {
      for (const b of odd) {
        const p = previewOf(a, b);
        assert.ok(p.input === null || typeof p.input === "string");
        assert.ok(p.output === null || typeof p.output === "string");
      }
    }
    assert.deepEqual(previewOf({ _raw: "x" }, { _raw: "y" }), { input: null, output: null });
    assert.deepEqual(
      previewOf({ messages: [null, { role: "user" }] }, { choices: [{ message: { tool_calls: [null] } }] }),
      { input: null, output: "→ ?()" },
    );
  });

  it("names images, audio and files among content parts, and skips what has no text", () => {
    const p = previewOf(
      chat([
        { type: "text", text: "what is" },
        { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } },
        { type: "input_audio", input_audio: { data: "AAAA" } },
        { type: "file", file: { file_id: "f" } },
        { type: "unknown" },
        { type: "text", text: { not: "a string" } },
      ]),
      null,
    );
    assert.equal(p.input, "what is [image] [audio] [file]");
  });

  it("shows tool calls, refusals and errors when there is no answer text", () => {
    const tools = answer({
      role: "assistant",
      content: null,
      tool_calls: [{ function: { name: "get_weather" } }, { function: { name: "get_time" } }],
    });
    assert.equal(previewOf(null, tools).output, "→ get_weather, get_time()");
    assert.equal(previewOf(null, answer({ content: null, refusal: "I can't" })).output, "I can't");
    assert.equal(previewOf(null, { error: { message: "overloaded" } }).output, "error: overloaded");
    assert.equal(previewOf(null, { error: "bad gateway" }).output, "error: bad gateway");
  });

  it("reads completions, embeddings and responses bodies too", () => {
    assert.equal(previewOf({ prompt: "once upon" }, { choices: [{ text: "a time" }] }).input, "once upon");
    assert.equal(previewOf({ prompt: "once upon" }, { choices: [{ text: "a time" }] }).output, "a time");
    assert.equal(previewOf({ input: ["a", "b"] }, null).input, "a b");
    assert.deepEqual(
      previewOf(
        { input: [{ role: "user", content: [{ type: "input_text", text: "hi" }] }] },
        { output: [{ type: "message", content: [{ type: "output_text", text: "hello" }] }] },
      ),
      { input: "hi", output: "hello" },
    );
  });

  it("bounds the preview, cutting between code points, without NUL or lone surrogates", () => {
    const long = `${"a".repeat(PREVIEW_CHARS - 1)}😀${"b".repeat(1_000_000)}`;
    const p = previewOf(chat(long), answer({ content: `x\u0000y\ud800z` }));
    assert.equal(p.input, `${"a".repeat(PREVIEW_CHARS - 1)}😀…`);
    assert.equal(codePoints(p.input), PREVIEW_CHARS + 1);
    assert.equal(p.output, "xy\ufffdz");
    // A cut that falls inside a surrogate pair keeps the whole pair or none of it.
    assert.equal(previewText("😀😀😀", 2), "😀😀…");
    assert.equal(previewText("\u0000\u0000"), null, "nothing left: no preview");
    // Thousands of parts: joined only as far as the preview goes.
    const parts = Array.from({ length: 100_000 }, () => ({ type: "text", text: "word" }));
    assert.equal(codePoints(previewOf(chat(parts), null).input), PREVIEW_CHARS + 1);
  });
});

const captured = (overrides: Partial<CapturedCall> = {}): CapturedCall =>
  capturedCall({
    id: "call_preview",
    request: chat("write to ana@example.com"),
    response: answer({ role: "assistant", content: "sent to ana@example.com" }),
    source: "api",
    ...overrides,
  });

describe("toCallRow's list columns", () => {
  it("previews the bodies as stored: redacted in redacted mode, placeholders in metadata mode", () => {
    const full = toCallRow(captured(), "full");
    assert.equal(full.previewInput, "write to ana@example.com");
    const redacted = toCallRow(captured(), "redacted");
    assert.equal(redacted.previewInput, "write to [EMAIL]");
    assert.equal(redacted.previewOutput, "sent to [EMAIL]");
    const metadata = toCallRow(captured(), "metadata");
    assert.equal(metadata.previewInput, "[24 chars]");
  });

  it("checks the output against the request's response_format, in every capture mode", () => {
    const request = { ...chat("city?"), response_format: { type: "json_object" } };
    for (const mode of ["full", "redacted", "metadata"] as const) {
      const bad = toCallRow(captured({ request, response: answer({ content: "Paris" }) }), mode);
      assert.match(bad.schemaFailure ?? "", /not valid JSON/, mode);
      const good = toCallRow(captured({ request, response: answer({ content: '{"city":"Paris"}' }) }), mode);
      assert.equal(good.schemaFailure, null, mode);
    }
    assert.equal(toCallRow(captured(), "full").schemaFailure, null, "no response_format: nothing to check");
  });

  it("are given, in the same order, to rows spooled by a version without them", () => {
    const row = toCallRow(captured(), "full");
    // Columns are appended in the order they were added, so a row spooled by a version without the previews
    // lacks them and every column added after them (configHash, protocol...).
    const entries = Object.entries(row);
    const at = entries.findIndex(([k]) => k === "previewInput");
    assert.deepEqual(
      entries.slice(at, at + 3).map(([k]) => k),
      ["previewInput", "previewOutput", "schemaFailure"],
    );
    const old = Object.fromEntries(entries.slice(0, at)) as typeof row;
    const restored = withPreview(old);
    assert.deepEqual(Object.keys(restored), Object.keys(row).slice(0, at + 3));
    assert.deepEqual(restored, Object.fromEntries(entries.slice(0, at + 3)));
    assert.equal(withPreview(row), row, "rows that have them are kept as they are");
  });

  it("from stored text: text that is not JSON gives an empty preview", () => {
    assert.deepEqual(previewColumnsOfText("{not json", "[1,"), {
      previewInput: null,
      previewOutput: null,
      schemaFailure: null,
    });
    assert.deepEqual(previewColumnsOfText(null, undefined), {
      previewInput: null,
      previewOutput: null,
      schemaFailure: null,
    });
  });
});

interface ListedCall {
  id: string;
  preview?: { input: string | null; output: string | null };
  request?: unknown;
}

for (const dialect of DIALECTS) {
  describe(`lists on ${dialect} never read the bodies`, () => {
    const server = serverForSuite(dialect);

    it("list a call whose stored bodies are no longer JSON, from its stored preview", async (t) => {
      const s = server(t);
      if (!s) return;
      const id = "call_unparseable";
      const stored = await s.api("/api/calls", {
        body: {
          id,
          sessionId: "sess_unparseable",
          upstream: "default",
          path: "/chat/completions",
          outcome: "upstream_error",
          status: 500,
          request: chat("what is the capital of France?"),
          response: { id: "chatcmpl-unparseable", ...answer({ role: "assistant", content: "Paris" }) },
        },
      });
      assert.equal(stored.status, 201, JSON.stringify(stored.body));
      const notified = await s.api("/api/notifications", {
        body: { completionId: "chatcmpl-unparseable", sendNotificationTo: "ana" },
      });
      assert.equal(notified.status, 201, JSON.stringify(notified.body));
      // What a list that parsed the bodies would choke on: text that is not JSON, and a megabyte of it.
      await sql`update calls set request = ${"{not json".repeat(100_000)}, response = ${"<html>"}
        where id = ${id}`.execute(s.ctx.store.db);

      const preview = { input: "what is the capital of France?", output: "Paris" };
      const list = await s.api<{ data: ListedCall[] }>("/api/calls");
      assert.equal(list.status, 200, JSON.stringify(list.body));
      assert.deepEqual(list.body.data.find((c) => c.id === id)?.preview, preview);
      assert.equal(list.body.data[0]?.request, undefined, "no bodies in a list");

      const review = await s.api<{ data: Array<{ call: ListedCall }> }>("/api/review-queue");
      assert.equal(review.status, 200, JSON.stringify(review.body));
      assert.deepEqual(review.body.data.find((x) => x.call.id === id)?.call.preview, preview);

      const inbox = await s.api<{ data: Array<{ preview: unknown }> }>("/api/notifications?recipient=ana");
      assert.equal(inbox.status, 200, JSON.stringify(inbox.body));
      assert.deepEqual(inbox.body.data[0]?.preview, { callId: id, ...preview });

      const tag = await s.api<{ calls: ListedCall[] }>("/api/tags/chatcmpl-unparseable");
      assert.equal(tag.status, 200, JSON.stringify(tag.body));
      assert.deepEqual(tag.body.calls[0]?.preview, preview);

      const sessions = await s.api<{ data: Array<{ sessionId: string }> }>("/api/sessions");
      assert.equal(sessions.status, 200, JSON.stringify(sessions.body));
      assert.ok(sessions.body.data.some((x) => x.sessionId === "sess_unparseable"));

      // A call's own pages show the bodies: text that is not JSON is shown as text, not as a 500.
      const session = await s.api<{ calls: ListedCall[] }>("/api/sessions/sess_unparseable");
      assert.equal(session.status, 200, JSON.stringify(session.body).slice(0, 300));
      assert.deepEqual(session.body.calls[0]?.request && Object.keys(session.body.calls[0].request), [
        "_raw",
      ]);
      const detail = await s.api<{ response: unknown }>(`/api/calls/${id}`);
      assert.equal(detail.status, 200);
      assert.deepEqual(detail.body.response, { _raw: "<html>" });
    });

    it("give a session's bodies up to a budget, and previews beyond it", async (t) => {
      const s = server(t);
      if (!s) return;
      // Three calls of 5 MB: the first two fit the 8 MB budget (the second starts under it), the third does not.
      const big = "x".repeat(5 * 1024 * 1024);
      const calls = [0, 1, 2].map((i) => ({
        id: `call_budget_${i}`,
        sessionId: "sess_budget",
        startedAt: 1_700_000_000_000 + i,
        upstream: "default",
        path: "/chat/completions",
        outcome: "ok",
        request: chat(`question ${i} ${big}`),
        response: answer({ role: "assistant", content: `answer ${i}` }),
      }));
      const stored = await s.api("/api/calls", { body: calls });
      assert.equal(stored.status, 201, JSON.stringify(stored.body).slice(0, 300));
      const session = await s.api<{ calls: ListedCall[]; bodiesOmitted: number }>(
        "/api/sessions/sess_budget",
      );
      assert.equal(session.status, 200);
      assert.deepEqual(
        session.body.calls.map((c) => [c.id, c.request !== undefined, c.preview?.output ?? null]),
        [
          ["call_budget_0", true, null],
          ["call_budget_1", true, null],
          ["call_budget_2", false, "answer 2"],
        ],
      );
      assert.equal(session.body.bodiesOmitted, 1);
    });
  });
}

for (const dialect of DIALECTS) {
  describe(`migration 0007_call_previews on ${dialect}`, () => {
    it("fills the preview of every call stored before it; bodies that do not parse get none", async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      const fresh = await freshDatabase(dialect);
      try {
        const old = await olderStore(dialect, fresh.db, "0006_call_keys");
        const base = {
          started_at: 1_700_000_000_000,
          upstream: "default",
          path: "/chat/completions",
          outcome: "ok",
          capture: "full",
          source: "proxy",
        };
        const schemaRequest = { ...chat("city?"), response_format: { type: "json_object" } };
        const special = [
          { id: "m_good", request: chat("hello"), response: answer({ content: "hi" }) },
          { id: "m_unparseable", request: "{not json", response: "<html>" },
          { id: "m_empty", request: null, response: null },
          { id: "m_schema", request: schemaRequest, response: answer({ content: "Paris" }) },
          // Metadata mode stored placeholders: its output is not checked against the schema.
          {
            id: "m_metadata",
            request: schemaRequest,
            response: answer({ content: "[5 chars]" }),
            capture: "metadata",
          },
          // Large enough that the bodies are fetched in several groups.
          ...[1, 2, 3].map((i) => ({
            id: `m_large_${i}`,
            request: chat(`large ${i} ${"y".repeat(7 * 1024 * 1024)}`),
            response: answer({ content: `answer ${i}` }),
          })),
        ];
        // More calls than one batch of the migration reads.
        const many = Array.from({ length: 1100 }, (_, i) => ({
          id: `m_${String(i).padStart(5, "0")}`,
          request: chat(`question ${i}`),
          response: answer({ content: `answer ${i}` }),
        }));
        const rows = [...special, ...many].map((c) => ({
          ...base,
          ...c,
          request:
            c.request === null || typeof c.request === "string" ? c.request : JSON.stringify(c.request),
          response:
            c.response === null || typeof c.response === "string" ? c.response : JSON.stringify(c.response),
        }));
        for (let i = 0; i < rows.length; i += 100) {
          await (old as Kysely<{ calls: (typeof rows)[number] }>)
            .insertInto("calls")
            .values(rows.slice(i, i + 100))
            .execute();
        }
        await old.destroy();

        const store = await openStoreOn(dialect, fresh.db);
        try {
          const got = await store.db
            .selectFrom("calls")
            .select(["id", "previewInput", "previewOutput", "schemaFailure"])
            .execute();
          const byId = new Map(got.map((r) => [r.id, r]));
          const columns = (id: string) => {
            const r = byId.get(id);
            return r && [r.previewInput, r.previewOutput, r.schemaFailure];
          };
          assert.equal(got.length, rows.length);
          assert.deepEqual(columns("m_good"), ["hello", "hi", null]);
          assert.deepEqual(columns("m_unparseable"), [null, null, null]);
          assert.deepEqual(columns("m_empty"), [null, null, null]);
          assert.match(String(columns("m_schema")?.[2]), /not valid JSON/);
          assert.deepEqual(columns("m_metadata"), ["city?", "[5 chars]", null]);
          for (const i of [1, 2, 3]) {
            assert.equal(codePoints(byId.get(`m_large_${i}`)?.previewInput ?? null), PREVIEW_CHARS + 1);
            assert.equal(byId.get(`m_large_${i}`)?.previewOutput, `answer ${i}`);
          }
          for (let i = 0; i < many.length; i++) {
            const id = `m_${String(i).padStart(5, "0")}`;
            assert.deepEqual(columns(id), [`question ${i}`, `answer ${i}`, null], id);
          }
        } finally {
          await store.close();
        }
      } finally {
        await fresh.drop();
      }
    });
  });
}
