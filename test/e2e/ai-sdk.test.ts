/**
 * The Vercel AI SDK (`ai` + `@ai-sdk/openai`) on its defaults: `openai("gpt-4.1")` sends `POST /v1/responses`.
 * Pointed at the proxy, its calls are stored (protocol `responses`, findable by the response id) and what it
 * reads is byte for byte what the upstream sent: a tap between the proxy and the fake upstream keeps the bytes
 * the upstream sent, and a recording `fetch` the bytes the AI SDK read. A stream replayed from a fixture also
 * reads the same through the proxy as directly from the upstream.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { createOpenAI } from "@ai-sdk/openai";
import {
  DIALECTS,
  type FakeUpstream,
  startFakeUpstream,
  startTestServer,
  type TestServer,
} from "@intersebd/server/testing";
import { generateText, streamText } from "ai";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
type Body = Record<string, any>;

/** A `fetch` that keeps the raw bytes of every response body it hands over. */
function recordingFetch(): { fetch: typeof globalThis.fetch; bodies: Buffer[]; paths: string[] } {
  const bodies: Buffer[] = [];
  const paths: string[] = [];
  return {
    bodies,
    paths,
    fetch: async (input, init) => {
      const res = await globalThis.fetch(input, init);
      paths.push(new URL(input instanceof Request ? input.url : String(input)).pathname);
      const bytes = Buffer.from(await res.arrayBuffer());
      bodies.push(bytes);
      return new Response(bytes, { status: res.status, statusText: res.statusText, headers: res.headers });
    },
  };
}

/** Forwards everything to `target` and keeps the bytes of each response it passed back. */
async function startTap(target: string): Promise<{ url: string; sent: Buffer[]; close(): Promise<void> }> {
  const sent: Buffer[] = [];
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers))
      if (typeof v === "string" && k !== "host" && k !== "content-length") headers.set(k, v);
    const upstream = await fetch(new URL(req.url ?? "/", target), {
      method: req.method,
      headers,
      body: chunks.length ? Buffer.concat(chunks) : undefined,
    });
    const bytes = Buffer.from(await upstream.arrayBuffer());
    sent.push(bytes);
    const out: Record<string, string> = {};
    upstream.headers.forEach((v, k) => {
      if (k !== "content-length" && k !== "content-encoding" && k !== "transfer-encoding") out[k] = v;
    });
    res.writeHead(upstream.status, out);
    res.end(bytes);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    sent,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

for (const dialect of DIALECTS) {
  describe(`the AI SDK's default OpenAI provider through the proxy (${dialect})`, () => {
    let fake: FakeUpstream;
    let tap: Awaited<ReturnType<typeof startTap>>;
    let server: TestServer;

    before(async () => {
      fake = await startFakeUpstream();
      tap = await startTap(fake.url.replace(/\/v1$/, ""));
      server = await startTestServer(dialect, { upstream: `${tap.url}/v1` });
    });
    after(async () => {
      await server.stop();
      await tap.close();
      await fake.close();
    });

    async function storedCall(id: string): Promise<Body> {
      // The proxy hands the call to the recorder before the answer's last bytes; flushing writes it.
      await server.ctx.recorder.flush();
      const r = await server.api<Body>(`/api/calls/${encodeURIComponent(id)}`);
      assert.equal(r.status, 200, `call ${id} should be stored: ${JSON.stringify(r.body)}`);
      return r.body;
    }

    it("generateText: POST /v1/responses is stored, and the AI SDK reads the upstream's bytes", async () => {
      const rec = recordingFetch();
      const openai = createOpenAI({
        baseURL: `${server.url}/v1`,
        apiKey: "sk-test-ai-sdk",
        fetch: rec.fetch,
      });
      const sentBefore = tap.sent.length;
      const result = await generateText({ model: openai("gpt-4.1"), prompt: "hello from the AI SDK" });
      assert.equal(result.text, "echo: hello from the AI SDK");
      assert.deepEqual(rec.paths, ["/v1/responses"], "the default provider speaks the Responses API");
      assert.equal(tap.sent.length, sentBefore + 1);
      assert.ok(
        rec.bodies[0]?.equals(tap.sent.at(-1) ?? Buffer.alloc(0)),
        "byte-identical to the upstream's",
      );

      const id = result.response.id;
      assert.match(id, /^resp_/);
      const call = await storedCall(id);
      assert.equal(call.protocol, "responses");
      assert.equal(call.outcome, "ok");
      assert.equal(call.originalResponse.id, id);
      assert.equal(call.response.choices[0].message.content, "echo: hello from the AI SDK");
      assert.ok(!JSON.stringify(call).includes("sk-test-ai-sdk"), "the API key is not stored");
    });

    it("streamText: the stream reads the same through the proxy as directly, and is stored", async () => {
      const run = async (baseURL: string) => {
        const rec = recordingFetch();
        const openai = createOpenAI({ baseURL, apiKey: "sk-test-ai-sdk", fetch: rec.fetch });
        const result = streamText({
          model: openai("gpt-4.1"),
          prompt: "tell me something",
          headers: { "x-fake-fixture": "text" },
        });
        const text = await result.text;
        return { text, id: (await result.response).id, bytes: rec.bodies[0] ?? Buffer.alloc(0) };
      };
      const proxied = await run(`${server.url}/v1`);
      const direct = await run(fake.url);
      assert.ok(proxied.text.length > 0);
      assert.equal(proxied.text, direct.text);
      assert.ok(proxied.bytes.length > 0);
      assert.ok(proxied.bytes.equals(direct.bytes), "the proxied stream is byte-identical to the direct one");

      const call = await storedCall(proxied.id);
      assert.equal(call.protocol, "responses");
      assert.equal(call.stream, true);
      assert.equal(call.outcome, "ok");
      assert.equal(call.response.choices[0].message.content, proxied.text);
    });
  });
}
