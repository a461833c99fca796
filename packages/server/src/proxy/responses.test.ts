/**
 * The OpenAI Responses API through the proxy, with the official `openai` client: for each documented event
 * sequence (replayed byte for byte by the fake upstream) the stored original response equals the client's
 * `finalResponse()` and the bytes equal going direct; the response id finds the call; a chain of
 * `previous_response_id`s reads as one session; `GET /v1/responses/{id}` and background responses pass through
 * without a second record; the record is journaled before the terminal event reaches the client.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import OpenAI from "openai";
import { RESPONSES_STREAMS_DIR } from "../fake-upstream/responses.ts";
import {
  DIALECTS,
  fakeUpstreamSuite,
  journaledBeforeTerminal,
  storedCall,
  type TestServer,
} from "../testing/index.ts";

type Json = Record<string, unknown>;

interface StoredCall {
  outcome: string;
  error: string | null;
  protocol: string;
  sessionId: string | null;
  tags: string[];
  costUsd: number | null;
  originalResponse?: Json | null;
}

/** The client's final response less what it adds for structured outputs (`parsed*`), which no server sends. */
function wire(response: object): Json {
  const out = JSON.parse(JSON.stringify(response)) as Json;
  delete out.output_parsed;
  for (const item of out.output as Json[]) {
    delete item.parsed_arguments;
    for (const part of (item.content as Json[] | undefined) ?? []) delete part.parsed;
  }
  return out;
}

const FIXTURES = ["text", "function-call", "parallel-function-calls", "reasoning", "refusal", "incomplete"];

for (const dialect of DIALECTS) {
  describe(`OpenAI Responses through the proxy (${dialect})`, async () => {
    const suite = await fakeUpstreamSuite(dialect, { env: { INTERSEBD_CAPTURE: "full" } });
    const { server } = suite;

    const client = (server: TestServer, headers: Record<string, string> = {}) =>
      new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "sk-test", maxRetries: 0, defaultHeaders: headers });

    for (const name of FIXTURES) {
      it(`stores ${name} as finalResponse() builds it, and forwards the bytes as they came`, async (t) => {
        const s = server(t);
        if (!s) return;
        const stream = client(s, { "x-fake-fixture": name }).responses.stream({
          model: "gpt-4.1",
          input: "hi",
        });
        const final = await stream.finalResponse();
        const call = await storedCall<StoredCall>(s, await idByTag(s, final.id));
        assert.equal(call.outcome, "ok", call.error ?? "");
        assert.equal(call.protocol, "responses");
        assert.deepEqual(call.originalResponse, wire(final));
        assert.ok(call.tags.includes(final.id), "the response id is a tag");
        assert.equal(call.sessionId, final.id, "a first response starts its own session");
        const found = await s.api<{ id: string }>(`/api/calls/${final.id}`);
        assert.equal(found.status, 200, "GET /api/calls/resp_... finds it");

        const body = JSON.stringify({ model: "gpt-4.1", input: "hi", stream: true });
        const headers = { "content-type": "application/json", "x-fake-fixture": name };
        const via = await (await fetch(`${s.url}/v1/responses`, { method: "POST", headers, body })).text();
        const direct = await (
          await fetch(`${suite.fake.url}/responses`, { method: "POST", headers, body })
        ).text();
        assert.equal(via, direct);
        assert.equal(via, fs.readFileSync(path.join(RESPONSES_STREAMS_DIR, `${name}.sse`), "utf8"));
      });
    }

    /** Streams a fixture through the proxy as a raw client would; answers the call's id. */
    async function post(server: TestServer, fixture: string): Promise<string | null> {
      const res = await fetch(`${server.url}/v1/responses`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-fake-fixture": fixture },
        body: JSON.stringify({ model: "gpt-4.1", input: "hi", stream: true }),
      });
      await res.text();
      return res.headers.get("x-intersebd-call-id");
    }

    async function idByTag(server: TestServer, tag: string): Promise<string | null> {
      await server.ctx.recorder.flush();
      const r = await server.api<{ data: Array<{ id: string }> }>(
        `/api/calls?tag=${encodeURIComponent(tag)}`,
      );
      return r.body.data[0]?.id ?? null;
    }

    it("records an error mid-stream and a failed response as upstream errors, keeping the partial response", async (t) => {
      const s = server(t);
      if (!s) return;
      const midstream = client(s, { "x-fake-fixture": "error-midstream" }).responses.stream({
        model: "gpt-4.1",
        input: "hi",
      });
      // The client rejects with the error event itself.
      await assert.rejects(midstream.finalResponse(), (e) => /server had an error/.test(JSON.stringify(e)));
      const call = await storedCall<StoredCall>(s, await post(s, "error-midstream"));
      assert.equal(call.outcome, "upstream_error");
      assert.match(call.error ?? "", /server_error/);
      assert.equal(call.originalResponse?.output_text, "The first part");

      const failedCall = await storedCall<StoredCall>(s, await post(s, "failed"));
      assert.equal(failedCall.outcome, "upstream_error");
      assert.match(failedCall.error ?? "", /model failed/);
    });

    it("reads a previous_response_id chain as one session, unless the client names its session", async (t) => {
      const s = server(t);
      if (!s) return;
      const openai = client(s);
      const first = await openai.responses.create({ model: "gpt-4.1", input: "first" });
      assert.equal(first.output_text, "echo: first");
      const second = await openai.responses.create({
        model: "gpt-4.1",
        input: "second",
        previous_response_id: first.id,
        stream: false,
      });
      const third = openai.responses.stream({
        model: "gpt-4.1",
        input: "third",
        previous_response_id: second.id,
      });
      const thirdFinal = await third.finalResponse();
      for (const id of [first.id, second.id, thirdFinal.id]) {
        const call: StoredCall = await storedCall(s, await idByTag(s, id));
        assert.equal(call.protocol, "responses");
        assert.equal(call.sessionId, first.id, `${id} is in the chain's session`);
      }
      const named = await client(s, { "x-intersebd-session-id": "my-session" }).responses.create({
        model: "gpt-4.1",
        input: "fourth",
        previous_response_id: thirdFinal.id,
      });
      assert.equal((await storedCall<StoredCall>(s, await idByTag(s, named.id))).sessionId, "my-session");
    });

    it("prices a Responses call by its model, as chat", async (t) => {
      const s = server(t);
      if (!s) return;
      const r = await client(s).responses.create({ model: "gpt-4.1", input: "priced" });
      const call = await storedCall<StoredCall>(s, await idByTag(s, r.id));
      assert.ok((call.costUsd ?? 0) > 0, "priced by model as chat is");
    });

    it("passes GET /v1/responses/{id} and background responses through, recorded once", async (t) => {
      const s = server(t);
      if (!s) return;
      const openai = client(s);
      const bg = await openai.responses.create({ model: "gpt-4.1", input: "later", background: true });
      assert.equal(bg.status, "queued");
      const got = await openai.responses.retrieve(bg.id);
      assert.equal(got.status, "completed");
      assert.equal(got.output_text, "echo: later");
      await s.ctx.recorder.flush();
      const byTag = await s.api<{ data: Array<{ id: string }> }>(`/api/calls?tag=${bg.id}`);
      assert.equal(byTag.body.data.length, 1, "the create is recorded, the retrieve is not");
    });

    it("has the call in the journal before the client reads response.completed", async (t) => {
      const s = server(t);
      if (!s) return;
      const seenAtEnd = await journaledBeforeTerminal(
        s,
        "/v1/responses",
        { model: "gpt-4.1", input: "x", stream: true },
        "response.completed",
      );
      assert.equal(seenAtEnd, true, "the record was journaled before the terminal event reached the client");
    });
  });
}
