/**
 * An evaluation over a dataset that mixes protocols (issue 19): Chat Completions, Responses and Messages calls
 * ingested as the SDKs send them (protocol and originals). Each item replays the chat-shaped request the server
 * converted (instructions / system as the system message, the input as the user message) through the proxy, and
 * its rows read as any chat item's. A call whose originals could not be converted is not in the dataset; named
 * by id, the estimate lists it among the skipped with its conversion error.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { DIALECTS, evalWhenDone, fakeUpstreamSuite } from "../testing/index.ts";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
type Body = Record<string, any>;

const TAG = "mixed-protocols";

const calls = [
  {
    id: "mix-chat",
    tags: [TAG],
    request: {
      model: "gpt-4.1-nano",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Capital of Spain?" },
      ],
    },
    response: {
      id: "chatcmpl-mix",
      object: "chat.completion",
      model: "gpt-4.1-nano",
      choices: [{ index: 0, message: { role: "assistant", content: "Madrid." }, finish_reason: "stop" }],
      usage: { prompt_tokens: 12, completion_tokens: 2, total_tokens: 14 },
    },
  },
  {
    id: "mix-responses",
    tags: [TAG],
    protocol: "responses",
    path: "/v1/responses",
    originalRequest: { model: "gpt-4.1-nano", instructions: "Be brief.", input: "Capital of France?" },
    originalResponse: {
      id: "resp_mix",
      object: "response",
      created_at: 1741476542,
      status: "completed",
      model: "gpt-4.1-nano",
      output: [
        {
          type: "message",
          id: "msg_out",
          role: "assistant",
          status: "completed",
          content: [{ type: "output_text", text: "Paris.", annotations: [] }],
        },
      ],
      usage: { input_tokens: 12, output_tokens: 2, total_tokens: 14 },
    },
  },
  {
    id: "mix-messages",
    tags: [TAG],
    protocol: "messages",
    upstream: "default",
    path: "/v1/messages",
    originalRequest: {
      model: "claude-sonnet-4-5",
      max_tokens: 64,
      system: "Be brief.",
      messages: [{ role: "user", content: [{ type: "text", text: "Capital of Italy?" }] }],
    },
    originalResponse: {
      id: "msg_mix",
      type: "message",
      role: "assistant",
      model: "claude-sonnet-4-5",
      content: [{ type: "text", text: "Rome." }],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: { input_tokens: 12, output_tokens: 2 },
    },
  },
  {
    // An input item the chat shape cannot hold: stored with its originals and its conversion error.
    id: "mix-unconvertible",
    tags: [TAG],
    protocol: "responses",
    path: "/v1/responses",
    originalRequest: { model: "gpt-4.1-nano", input: [{ type: "item_reference", id: "x" }] },
    originalResponse: { id: "resp_bad", object: "response", status: "completed", output: [] },
  },
];

/** The user message each convertible call asks, which the fake upstream echoes. */
const questions: Record<string, string> = {
  "mix-chat": "Capital of Spain?",
  "mix-responses": "Capital of France?",
  "mix-messages": "Capital of Italy?",
};

for (const dialect of DIALECTS) {
  describe(`an evaluation over chat, Responses and Messages calls (${dialect})`, async () => {
    const suite = await fakeUpstreamSuite(dialect, { inProcess: true });
    const { skip } = suite;

    before(async () => {
      if (skip) return;
      const r = await suite.s.api("/api/calls", { body: calls });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const ds = await suite.s.api("/api/datasets", { body: { name: "mixed", filter: { tag: TAG } } });
      assert.equal(ds.status, 201, JSON.stringify(ds.body));
    });

    it("replays each call's chat-shaped request and reports its rows as chat's", { skip }, async () => {
      const created = await suite.s.api<Body>("/api/evals", {
        body: {
          dataset: "mixed",
          candidate: { model: "gpt-4.1-mini" },
          checks: ["regex:^echo: Capital of", "tokens.completion <= 100"],
          concurrency: 2,
        },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.id as string;
      const state = await evalWhenDone<Body>(suite.s, id);
      assert.deepEqual(state.progress, { total: 3, done: 3, failed: 0, pending: 0, running: 0 });
      const regex = state.report.checks.find((c: Body) => c.name === "regex:^echo: Capital of");
      assert.deepEqual([regex.passed, regex.failed, regex.errors], [3, 0, 0]);
      assert.equal(state.report.latency.baseline.n, 3);

      const items = await suite.s.api<Body>(`/api/evals/${id}/items?limit=10`);
      assert.equal(items.status, 200, JSON.stringify(items.body));
      const byBaseline = new Map<string, Body>(items.body.data.map((i: Body) => [i.baselineCallId, i]));
      assert.deepEqual(
        [...byBaseline.keys()].sort(),
        Object.keys(questions).sort(),
        "the dataset leaves out the call it could not convert",
      );

      // The replays went through the proxy, whose calls are written behind.
      await suite.s.ctx.recorder.flush();
      for (const [baseline, question] of Object.entries(questions)) {
        const item = byBaseline.get(baseline);
        assert.equal(item?.status, "done", `${baseline}: ${item?.error}`);
        assert.ok(item?.candidateCallId, baseline);
        const candidate = await suite.s.api<Body>(`/api/calls/${item.candidateCallId}`);
        assert.equal(candidate.status, 200);
        // The replay is a Chat Completions call whatever the baseline spoke, asking the converted messages.
        assert.equal(candidate.body.protocol, "chat", baseline);
        assert.equal(candidate.body.requestedModel, "gpt-4.1-mini", baseline);
        const original = await suite.s.api<Body>(`/api/calls/${baseline}`);
        assert.ok(Array.isArray(original.body.request?.messages), baseline);
        assert.deepEqual(candidate.body.request.messages, original.body.request.messages, baseline);
        assert.equal(
          original.body.request.messages[0].content,
          "Be brief.",
          `${baseline}: the system message`,
        );
        assert.equal(candidate.body.response.choices[0].message.content, `echo: ${question}`, baseline);
      }
    });

    it("leaves out an unconvertible call named by id, saying why, and runs the others", {
      skip,
    }, async () => {
      const created = await suite.s.api<Body>("/api/evals", {
        body: {
          callIds: ["mix-unconvertible", "mix-messages"],
          candidate: { model: "gpt-4.1-mini" },
          checks: ["regex:^echo: Capital of"],
        },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const { skipped } = created.body.estimate;
      assert.deepEqual(
        skipped.map((x: Body) => x.callId),
        ["mix-unconvertible"],
      );
      assert.match(skipped[0].reason, /^not convertible to chat: .*item_reference/);
      const id = created.body.id as string;
      const state = await evalWhenDone<Body>(suite.s, id);
      assert.deepEqual(state.progress, { total: 1, done: 1, failed: 0, pending: 0, running: 0 });
      const items = await suite.s.api<Body>(`/api/evals/${id}/items?limit=10`);
      assert.deepEqual(
        items.body.data.map((i: Body) => [i.baselineCallId, i.status]),
        [["mix-messages", "done"]],
      );
    });
  });
}
