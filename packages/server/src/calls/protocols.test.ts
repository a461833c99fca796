/**
 * Calls of other protocols (issue 19 item 1): `toCallRow` stores the originals as received and the chat shape
 * converted from them, or why they could not be converted; `POST /api/calls` takes them as the SDKs send them;
 * the list and the detail show the protocol; an export over chat, Responses and Messages calls writes valid rows
 * and counts an unconvertible call under its own reason.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DIALECTS, serverForSuite } from "../testing/index.ts";
import { type CapturedCall, toCallRow } from "./record.ts";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
type Body = Record<string, any>;

const base: CapturedCall = {
  id: "call_p",
  startedAt: 1_000,
  endedAt: 1_500,
  ttftMs: null,
  upstream: "openai",
  path: "/v1/responses",
  stream: false,
  status: 200,
  outcome: "ok",
  error: null,
  request: null,
  response: null,
  sessionId: null,
  userId: null,
  tags: [],
  metadata: {},
  source: "proxy",
};

const responsesRequest = {
  model: "gpt-4.1",
  instructions: "Be brief.",
  input: "Capital of France?",
  user: "user-7",
  metadata: { feature: "geo" },
};
const responsesResponse = {
  id: "resp_abc",
  object: "response",
  created_at: 1741476542,
  status: "completed",
  model: "gpt-4.1-2025-04-14",
  output: [
    {
      type: "message",
      id: "msg_1",
      role: "assistant",
      status: "completed",
      content: [{ type: "output_text", text: "Paris.", annotations: [] }],
    },
  ],
  usage: {
    input_tokens: 20,
    input_tokens_details: { cached_tokens: 8 },
    output_tokens: 3,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: 23,
  },
};
const messagesRequest = {
  model: "claude-sonnet-4-5",
  max_tokens: 100,
  system: "Be brief.",
  metadata: { user_id: "user-9" },
  messages: [{ role: "user", content: "Capital of Italy?" }],
};
const messagesResponse = {
  id: "msg_01XFDUDYJgAACzvnptvVoYEL",
  type: "message",
  role: "assistant",
  model: "claude-sonnet-4-5-20250929",
  content: [{ type: "text", text: "Rome." }],
  stop_reason: "end_turn",
  usage: { input_tokens: 10, output_tokens: 2, cache_read_input_tokens: 30, cache_creation_input_tokens: 5 },
};

const parse = (text: string | null | undefined) => (text ? JSON.parse(text) : null);

describe("toCallRow for other protocols", () => {
  it("stores a Responses call's originals as received and its chat shape, read like any chat call", () => {
    const requestText = JSON.stringify(responsesRequest, null, 2);
    const row = toCallRow(
      {
        ...base,
        protocol: "responses",
        originalRequest: responsesRequest,
        originalResponse: responsesResponse,
        originalRequestText: requestText,
      },
      "full",
    );
    assert.equal(row.protocol, "responses");
    assert.equal(row.originalRequest, requestText, "the original text is kept byte for byte");
    assert.deepEqual(parse(row.originalResponse), responsesResponse);
    assert.equal(row.conversionError, null);
    assert.deepEqual(parse(row.request).messages, [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Capital of France?" },
    ]);
    assert.equal(parse(row.response).choices[0].message.content, "Paris.");
    assert.equal(row.completionId, "resp_abc");
    assert.equal(row.requestedModel, "gpt-4.1");
    assert.equal(row.servedModel, "gpt-4.1-2025-04-14");
    assert.deepEqual(
      [row.promptTokens, row.completionTokens, row.cachedTokens, row.totalTokens],
      [20, 3, 8, 23],
    );
    assert.equal(row.userId, "user-7");
    assert.deepEqual(parse(row.metadata), { feature: "geo" });
    assert.equal(row.previewInput, "Capital of France?");
    assert.equal(row.previewOutput, "Paris.");
  });

  it("takes request / response as the originals when a capturer handed only those", () => {
    const row = toCallRow(
      { ...base, protocol: "messages", request: messagesRequest, response: messagesResponse },
      "full",
    );
    assert.deepEqual(parse(row.originalRequest), messagesRequest);
    assert.equal(parse(row.response).choices[0].message.content, "Rome.");
    assert.equal(row.completionId, "msg_01XFDUDYJgAACzvnptvVoYEL");
    assert.deepEqual([row.promptTokens, row.completionTokens, row.cachedTokens], [45, 2, 30]);
    assert.equal(row.userId, "user-9");
    assert.deepEqual(parse(row.metadata), {}, "Anthropic's metadata is the user id, not the call's metadata");
  });

  it("applies the capture mode to the originals as to the chat bodies", () => {
    const call = {
      ...base,
      protocol: "messages" as const,
      originalRequest: messagesRequest,
      originalResponse: messagesResponse,
    };
    const row = toCallRow(call, "metadata");
    assert.ok(!row.originalRequest?.includes("Capital of Italy"), row.originalRequest ?? "");
    assert.ok(!row.originalResponse?.includes("Rome"), row.originalResponse ?? "");
    assert.ok(!row.request?.includes("Capital of Italy"));
    assert.equal(row.requestedModel, "claude-sonnet-4-5");
  });

  it("keeps the originals of a call it cannot convert, with null chat bodies and why", () => {
    const original = { model: "gpt-4.1", input: [{ type: "item_reference", id: "msg_old" }] };
    const row = toCallRow(
      { ...base, protocol: "responses", originalRequest: original, originalResponse: responsesResponse },
      "full",
    );
    assert.equal(row.request, null);
    assert.equal(row.response, null);
    assert.match(row.conversionError ?? "", /input\[0\]: an item of type "item_reference"/);
    assert.deepEqual(parse(row.originalRequest), original);
    assert.equal(row.previewOutput, "Paris.", "the preview reads what it can of the originals");
  });

  it("leaves a chat call's columns as before: protocol chat, no originals", () => {
    const row = toCallRow(
      {
        ...base,
        path: "/v1/chat/completions",
        request: { model: "m", messages: [{ role: "user", content: "hi" }] },
        response: {
          id: "chatcmpl-1",
          choices: [{ index: 0, message: { role: "assistant", content: "yo" } }],
        },
      },
      "full",
    );
    assert.deepEqual(
      [row.protocol, row.originalRequest, row.originalResponse, row.conversionError],
      ["chat", null, null, null],
    );
  });
});

for (const dialect of DIALECTS) {
  describe(`calls of other protocols through the API (${dialect})`, () => {
    const server = serverForSuite(dialect, {}, { inProcess: true });

    it("ingests responses and messages calls as the SDKs send them; the list and detail show their protocol", async (t) => {
      const s = server(t);
      if (!s) return;
      const r = await s.api<Body>("/api/calls", {
        body: [
          {
            id: "call_resp",
            protocol: "responses",
            path: "/v1/responses",
            originalRequest: responsesRequest,
            originalResponse: responsesResponse,
            sessionId: "mixed",
          },
          {
            id: "call_msg",
            protocol: "messages",
            path: "/v1/messages",
            originalRequest: messagesRequest,
            originalResponse: messagesResponse,
            sessionId: "mixed",
          },
          {
            id: "call_chat",
            request: { model: "gpt-4o-mini", messages: [{ role: "user", content: "Capital of Spain?" }] },
            response: {
              id: "chatcmpl-9",
              object: "chat.completion",
              model: "gpt-4o-mini",
              choices: [
                { index: 0, message: { role: "assistant", content: "Madrid." }, finish_reason: "stop" },
              ],
            },
            sessionId: "mixed",
          },
          {
            id: "call_bad",
            protocol: "responses",
            originalRequest: { model: "gpt-4.1", input: [{ type: "item_reference", id: "x" }] },
            originalResponse: responsesResponse,
            sessionId: "mixed",
          },
        ],
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));

      const detail = await s.api<Body>("/api/calls/call_msg");
      assert.equal(detail.body.protocol, "messages");
      assert.deepEqual(detail.body.originalRequest, messagesRequest);
      assert.deepEqual(detail.body.originalResponse, messagesResponse);
      assert.equal(detail.body.response.choices[0].message.content, "Rome.");
      assert.equal(detail.body.usage.cachedTokens, 30);
      // The message id is a tag of its call, as a completion id is.
      assert.equal((await s.api<Body>("/api/calls/msg_01XFDUDYJgAACzvnptvVoYEL")).body.id, "call_msg");

      const chatDetail = await s.api<Body>("/api/calls/call_chat");
      assert.equal(chatDetail.body.protocol, "chat");
      assert.equal(chatDetail.body.originalRequest, undefined);

      const list = await s.api<Body>("/api/calls?sessionId=mixed&limit=10");
      const byId = new Map<string, Body>(list.body.data.map((c: Body) => [c.id, c]));
      assert.equal(byId.get("call_resp")?.protocol, "responses");
      assert.equal(byId.get("call_resp")?.preview.output, "Paris.");
      assert.equal(byId.get("call_chat")?.protocol, "chat");
      assert.match(byId.get("call_bad")?.conversionError ?? "", /item_reference/);
      assert.equal(byId.get("call_resp")?.originalRequest, undefined, "lists never carry the bodies");

      const report = await s.api<Body>("/api/export?format=openai-sft&sessionId=mixed&report=1");
      assert.equal(report.status, 200);
      assert.equal(report.body.dropped.not_convertible, 1, JSON.stringify(report.body));
      const rows = await s.api<string>("/api/export?format=openai-sft&sessionId=mixed");
      const lines = String(rows.body)
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l));
      assert.equal(lines.length, 3);
      const answers = lines.map((l) => l.messages.at(-1).content).sort();
      assert.deepEqual(answers, ["Madrid.", "Paris.", "Rome."]);
      for (const l of lines) assert.equal(l.messages.at(-1).role, "assistant");
    });

    it("refuses a chat call without request, and originals on a chat call, naming the field", async (t) => {
      const s = server(t);
      if (!s) return;
      const noRequest = await s.api<Body>("/api/calls", { body: { response: null } });
      assert.equal(noRequest.status, 400);
      assert.match(JSON.stringify(noRequest.body), /request/);
      const chatWithOriginals = await s.api<Body>("/api/calls", {
        body: { request: { messages: [] }, originalRequest: { input: "x" } },
      });
      assert.equal(chatWithOriginals.status, 400);
      assert.match(JSON.stringify(chatWithOriginals.body), /originalRequest/);
    });
  });
}
