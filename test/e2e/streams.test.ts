/**
 * Streams through the proxy as clients and providers really end them (issue 14): `[DONE]` followed by a late end
 * of body, a client that closes at `[DONE]` (as the official Python client does), errors in the middle of a
 * stream, truncated streams, and the Azure-, OpenRouter- and Groq-shaped streams of the provider fixtures, stored
 * as the official `openai` client assembles them. Every case runs on SQLite and PostgreSQL.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import {
  DIALECTS,
  eventually,
  type FakeUpstream,
  PROVIDER_STREAMS_DIR,
  postgresAvailable,
  startFakeUpstream,
  startTestServer,
  type TestServer,
} from "../../packages/server/src/testing/index.ts";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
type Body = Record<string, any>;

const chatBody = (content: string) =>
  JSON.stringify({ model: "gpt-4o", stream: true, messages: [{ role: "user", content }] });

/**
 * Posts a streamed chat completion with a raw HTTP client that stops reading at `data: [DONE]` and closes the
 * connection there, as the official Python client does. Resolves with the call id and the text read.
 */
function closeAtDone(
  url: string,
  headers: Record<string, string>,
): Promise<{ callId: string; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      agent: false,
    });
    req.on("response", (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        text += chunk;
        if (text.includes("data: [DONE]")) {
          res.destroy();
          req.destroy();
          resolve({ callId: String(res.headers["x-intersebd-call-id"]), text });
        }
      });
      res.on("end", () => reject(new Error("the body ended before the client closed at [DONE]")));
    });
    req.on("error", (err) => {
      if (!req.destroyed) reject(err);
    });
    req.end(chatBody("close at done"));
  });
}

for (const dialect of DIALECTS) {
  describe(`streams through the proxy on ${dialect}`, async () => {
    const skip = dialect === "postgres" && !(await postgresAvailable()) ? "PostgreSQL unreachable" : false;
    let fake: FakeUpstream;
    let server: TestServer;
    let client: OpenAI;

    async function stored(id: string): Promise<Body> {
      await server.ctx.recorder.flush();
      const r = await server.api<Body>(`/api/calls/${encodeURIComponent(id)}`);
      assert.equal(r.status, 200, `call ${id} should be stored`);
      return r.body;
    }

    /** What the official client assembles from a fixture, and the call the proxy stored for the same bytes. */
    async function replay(fixture: string): Promise<{ expected: Body; call: Body; bytes: Buffer }> {
      const raw = await fetch(`${server.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-fake-fixture": fixture },
        body: chatBody(fixture),
      });
      const bytes = Buffer.from(await raw.arrayBuffer());
      const expected = (await client.chat.completions
        .stream(
          { model: "gpt-4o", messages: [{ role: "user", content: fixture }] },
          { headers: { "x-fake-fixture": fixture } },
        )
        .finalChatCompletion()) as unknown as Body;
      for (const c of expected.choices) delete c.message.parsed; // the client's own field
      return { expected, call: await stored(raw.headers.get("x-intersebd-call-id") as string), bytes };
    }

    before(async () => {
      if (skip) return;
      fake = await startFakeUpstream();
      server = await startTestServer(dialect, { upstream: fake.url });
      client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "sk-test-streams", maxRetries: 0 });
    });
    after(async () => {
      if (skip) return;
      await server.stop();
      await fake.close();
    });

    it("[DONE] followed by a late end of body: the official Node client gets it all, the call is ok", {
      skip,
    }, async () => {
      const stream = await client.chat.completions.create(
        { model: "gpt-4o", stream: true, messages: [{ role: "user", content: "late end" }] },
        { headers: { "x-fake-end-delay-ms": "300" } },
      );
      let text = "";
      let id = "";
      for await (const chunk of stream) {
        id = chunk.id;
        text += chunk.choices[0]?.delta?.content ?? "";
      }
      assert.equal(text, "echo: late end");
      const call = await stored(id);
      assert.equal(call.outcome, "ok");
      assert.equal(call.error, null);
    });

    it("a client that closes at [DONE] leaves an ok call, and the upstream socket is released, not destroyed", {
      skip,
    }, async () => {
      const fresh = await startFakeUpstream();
      const named = await startTestServer(dialect, { upstream: fresh.url });
      try {
        const { callId, text } = await closeAtDone(named.url, { "x-fake-end-delay-ms": "400" });
        assert.ok(
          text.trimEnd().endsWith("data: [DONE]"),
          "the client read up to [DONE], not the end of body",
        );
        await named.ctx.recorder.flush();
        const call = (await eventually(async () => {
          await named.ctx.recorder.flush();
          const r = await named.api<Body>(`/api/calls/${callId}`);
          return r.status === 200 ? r.body : undefined;
        })) as Body;
        assert.equal(call.outcome, "ok", `stored as ${call.outcome}: ${call.error}`);
        assert.equal(call.error, null);
        assert.equal(call.response.choices[0].message.content, "echo: close at done");
        assert.equal(call.response.choices[0].finish_reason, "stop");

        // The proxy read the rest of the upstream's body: its response ended, nothing was torn down...
        await eventually(() => fresh.finished === 1, 5000, "the upstream response to end");
        assert.equal(fresh.aborted, 0, "the upstream connection was not destroyed");
        // ...and its socket went back to the keep-alive pool: the next call reuses it.
        const again = await fetch(`${named.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: chatBody("again"),
        });
        await again.text();
        assert.equal(fresh.connections, 1, "one upstream connection for both calls");
      } finally {
        await named.stop();
        await fresh.close();
      }
    });

    for (const [fixture, message] of [
      ["openrouter-midstream-error", "Provider disconnected unexpectedly"],
      ["openai-midstream-error", "The server had an error while processing your request. Sorry about that!"],
    ] as const) {
      it(`a mid-stream error (${fixture}) is an upstream_error with the error object and the partial answer`, {
        skip,
      }, async () => {
        const stream = await client.chat.completions
          .create(
            { model: "gpt-4o", stream: true, messages: [{ role: "user", content: fixture }] },
            { headers: { "x-fake-fixture": fixture } },
          )
          .withResponse();
        const callId = stream.response.headers.get("x-intersebd-call-id") as string;
        await assert.rejects(
          async () => {
            for await (const _ of stream.data);
          },
          new RegExp(message.slice(0, 20)),
        );
        const call = await stored(callId);
        assert.equal(call.status, 200);
        assert.equal(call.outcome, "upstream_error");
        assert.match(call.error, /^upstream error mid-stream: \{/);
        assert.equal(JSON.parse(call.error.replace("upstream error mid-stream: ", "")).message, message);
        assert.equal(call.response.error.message, message, "the error object is in the reassembled response");
        assert.ok(call.response.choices[0].message.content.length > 0, "the partial answer is kept");
      });
    }

    it("a stream that ends without [DONE] and without a finish reason is an upstream_error (truncated)", {
      skip,
    }, async () => {
      const res = await fetch(`${server.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-fake-fixture": "truncated-no-finish" },
        body: chatBody("truncated"),
      });
      await res.text();
      const call = await stored(res.headers.get("x-intersebd-call-id") as string);
      assert.equal(call.outcome, "upstream_error");
      assert.equal(call.error, "stream ended without [DONE] or a finish reason");
      assert.equal(call.response.choices[0].message.content, "This answer stops in the mid");
    });

    it("Azure-shaped streams are stored as the official client assembles them, findable by completion id", {
      skip,
    }, async () => {
      for (const fixture of ["azure-content-filter", "azure-async-filter-tools"]) {
        const { expected, call, bytes } = await replay(fixture);
        assert.ok(bytes.equals(fs.readFileSync(path.join(PROVIDER_STREAMS_DIR, `${fixture}.sse`))));
        assert.equal(call.outcome, "ok");
        assert.deepEqual(call.response, expected, fixture);
        assert.ok(expected.id, "Azure's first chunk has an empty id; the completion has the real one");
        const found = await stored(expected.id);
        assert.equal(
          found.response.id,
          expected.id,
          "the completion id finds its call (a link to it resolves)",
        );
      }
    });

    it("OpenRouter-shaped streams are stored as the official client assembles them, cost included", {
      skip,
    }, async () => {
      const { expected, call } = await replay("openrouter-processing-cost");
      // Documented difference: the usage chunk's `native_finish_reason: null` does not erase "stop".
      expected.choices[0].native_finish_reason = "stop";
      assert.equal(call.outcome, "ok");
      assert.deepEqual(call.response, expected);
      assert.equal(call.response.usage.cost, 0.0000102);
      assert.equal(call.usage.totalTokens, 29);
    });

    it("Groq's usage inside x_groq fills the call's token counts", { skip }, async () => {
      const { expected, call } = await replay("groq-x-groq-usage");
      assert.deepEqual(call.response, expected);
      assert.equal(call.usage.promptTokens, 45);
      assert.equal(call.usage.totalTokens, 53);
    });
  });
}
