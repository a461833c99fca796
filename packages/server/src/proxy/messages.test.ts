/**
 * Anthropic Messages through the proxy on a named upstream (`/anthropic/v1/messages`), with the official
 * `@anthropic-ai/sdk` client: the stored original response equals its `finalMessage()` for each documented event
 * sequence (replayed byte for byte by the fake upstream), the bytes equal going direct, the message id finds the
 * call, and neither the client's `x-api-key` nor the upstream's configured key reaches the data dir, the store or
 * the logs.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import { accumulateMessagesStream } from "intersebd/chat";
import { MESSAGES_STREAMS_DIR } from "../fake-upstream/messages.ts";
import {
  DIALECTS,
  type FakeUpstream,
  filesUnder,
  journaledBeforeTerminal,
  postgresAvailable,
  startFakeUpstream,
  startTestServer,
  storedCall,
  type TestServer,
} from "../testing/index.ts";

const CLIENT_KEY = "sk-ant-client-4f1c9e0d7b2a";
const UPSTREAM_KEY = "sk-ant-upstream-8e3b5a6c1d09";
const MODEL = "claude-sonnet-4-5-20250929";
const FIXTURES = ["text", "tool-use", "parallel-tool-use", "thinking"];

interface StoredCall {
  outcome: string;
  error: string | null;
  protocol: string;
  completionId: string | null;
  costUsd: number | null;
  originalResponse?: Record<string, unknown> | null;
  originalRequest?: Record<string, unknown> | null;
  response?: Record<string, unknown> | null;
}

/** What the API sends: `finalMessage()` less `parsed_output`, the client's own parse (null without a format). */
function wire(message: object): Record<string, unknown> {
  const { parsed_output: _parsed, ...rest } = JSON.parse(JSON.stringify(message)) as Record<string, unknown>;
  return rest;
}

function eventsOf(sse: string): unknown[] {
  return sse
    .split("\n")
    .filter((l) => l.startsWith("data: "))
    .map((l) => JSON.parse(l.slice(6)));
}

describe("Anthropic Messages stream accumulator", () => {
  for (const name of FIXTURES) {
    it(`rebuilds ${name}.sse as the client does`, async () => {
      const raw = fs.readFileSync(path.join(MESSAGES_STREAMS_DIR, `${name}.sse`), "utf8");
      const fake = await startFakeUpstream();
      try {
        const client = new Anthropic({
          baseURL: fake.url.replace(/\/v1$/, ""),
          apiKey: CLIENT_KEY,
          defaultHeaders: { "x-fake-fixture": name },
        });
        const final = await client.messages
          .stream({ model: MODEL, max_tokens: 64, messages: [{ role: "user", content: "hi" }] })
          .finalMessage();
        assert.deepEqual(accumulateMessagesStream(eventsOf(raw)), wire(final));
      } finally {
        await fake.close();
      }
    });
  }
});

for (const dialect of DIALECTS) {
  describe(`Anthropic Messages through the proxy (${dialect})`, () => {
    let fake: FakeUpstream;
    let s: TestServer | undefined;
    const logs: string[] = [];
    const stderrWrite = process.stderr.write.bind(process.stderr);
    before(async () => {
      fake = await startFakeUpstream();
      if (dialect === "postgres" && !(await postgresAvailable())) return;
      // The server's logger writes to stderr: kept here so the keys can be looked for in every line.
      process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
        logs.push(String(chunk));
        return rest.length ? stderrWrite(chunk, ...rest) : true;
      }) as typeof process.stderr.write;
      s = await startTestServer(dialect, {
        env: {
          INTERSEBD_UPSTREAMS: `anthropic=${fake.url}`,
          INTERSEBD_UPSTREAM_KEY_ANTHROPIC: UPSTREAM_KEY,
          INTERSEBD_LOG_LEVEL: "debug",
          INTERSEBD_CAPTURE: "full",
        },
      });
    });
    after(async () => {
      process.stderr.write = stderrWrite;
      await s?.stop();
      await fake.close();
    });

    const client = (server: TestServer, headers: Record<string, string> = {}) =>
      new Anthropic({ baseURL: `${server.url}/anthropic`, apiKey: CLIENT_KEY, defaultHeaders: headers });

    for (const name of FIXTURES) {
      it(`stores ${name} as finalMessage() builds it, and forwards the bytes as they came`, async (t) => {
        if (!s) return t.skip("PostgreSQL unreachable");
        const stream = client(s, { "x-fake-fixture": name }).messages.stream({
          model: MODEL,
          max_tokens: 64,
          messages: [{ role: "user", content: "hi" }],
        });
        const { response } = await stream.withResponse();
        const final = await stream.finalMessage();
        const call = await storedCall<StoredCall>(s, response.headers.get("x-intersebd-call-id"));
        assert.equal(call.outcome, "ok", call.error ?? "");
        assert.equal(call.protocol, "messages");
        assert.deepEqual(call.originalResponse, wire(final));
        assert.equal(call.completionId, final.id, "the message id is the call's tag");

        const body = JSON.stringify({ model: MODEL, max_tokens: 64, stream: true, messages: [] });
        const headers = { "content-type": "application/json", "x-fake-fixture": name };
        const via = await (
          await fetch(`${s.url}/anthropic/v1/messages`, { method: "POST", headers, body })
        ).text();
        const direct = await (await fetch(`${fake.url}/messages`, { method: "POST", headers, body })).text();
        assert.equal(via, direct);
        assert.equal(via, fs.readFileSync(path.join(MESSAGES_STREAMS_DIR, `${name}.sse`), "utf8"));
      });
    }

    it("has the call in the journal before the client reads message_stop", async (t) => {
      if (!s) return t.skip("PostgreSQL unreachable");
      const seenAtStop = await journaledBeforeTerminal(
        s,
        "/anthropic/v1/messages",
        { model: MODEL, max_tokens: 8, stream: true, messages: [] },
        "message_stop",
      );
      assert.equal(seenAtStop, true, "the record was journaled before the terminal event reached the client");
    });

    it("records an error mid-stream as an upstream error with the partial message", async (t) => {
      if (!s) return t.skip("PostgreSQL unreachable");
      const stream = client(s, { "x-fake-fixture": "error-midstream" }).messages.stream({
        model: MODEL,
        max_tokens: 64,
        messages: [{ role: "user", content: "tell me a story" }],
      });
      const { response } = await stream.withResponse();
      await assert.rejects(stream.finalMessage(), /Overloaded/);
      const call = await storedCall<StoredCall>(s, response.headers.get("x-intersebd-call-id"));
      assert.equal(call.outcome, "upstream_error");
      assert.match(call.error ?? "", /overloaded_error/);
      const content = call.originalResponse?.content as Array<{ text?: string }>;
      assert.equal(content[0]?.text, "Once upon a time");
    });

    it("stores a plain and a streamed answer of the fake's own, found by their message ids", async (t) => {
      if (!s) return t.skip("PostgreSQL unreachable");
      const anthropic = client(s);
      const plain = await anthropic.messages
        .create({ model: MODEL, max_tokens: 64, messages: [{ role: "user", content: "hello there" }] })
        .withResponse();
      assert.equal(plain.data.content[0]?.type === "text" && plain.data.content[0].text, "echo: hello there");
      const call = await storedCall<StoredCall>(s, plain.response.headers.get("x-intersebd-call-id"));
      assert.equal(call.protocol, "messages");
      assert.deepEqual(call.originalResponse ?? call.response, JSON.parse(JSON.stringify(plain.data)));
      const byTag = await s.api<{ data: Array<{ id: string }> }>(
        `/api/calls?tag=${encodeURIComponent(plain.data.id)}`,
      );
      assert.deepEqual(
        byTag.body.data.map((c) => c.id),
        [plain.response.headers.get("x-intersebd-call-id")],
      );

      const stream = anthropic.messages.stream({
        model: MODEL,
        max_tokens: 64,
        tools: [{ name: "get_weather", input_schema: { type: "object", properties: {} } }],
        messages: [{ role: "user", content: "weather in Paris?" }],
      });
      const { response } = await stream.withResponse();
      const final = await stream.finalMessage();
      assert.deepEqual(final.content[0]?.type === "tool_use" && final.content[0].input, {
        city: "Paris",
        unit: "c",
      });
      const streamed = await storedCall<StoredCall>(s, response.headers.get("x-intersebd-call-id"));
      assert.deepEqual(streamed.originalResponse ?? streamed.response, wire(final));
    });

    it("forwards x-api-key and anthropic-version, injects the upstream's key, and stores and logs neither", async (t) => {
      if (!s) return t.skip("PostgreSQL unreachable");
      await fetch(`${fake.url.replace(/\/v1$/, "")}/__requests`, { method: "DELETE" });
      await client(s, { "anthropic-beta": "fake-beta-2025" }).messages.create({
        model: MODEL,
        max_tokens: 8,
        messages: [{ role: "user", content: "with the client's key" }],
      });
      // The client sends its key as it does (this version: a bearer token); a raw request sends `x-api-key`,
      // another none, which gets the upstream's configured key as `x-api-key`.
      const raw = (headers: Record<string, string>) =>
        fetch(`${s?.url}/anthropic/v1/messages`, {
          method: "POST",
          headers: { "content-type": "application/json", "anthropic-version": "2023-06-01", ...headers },
          body: JSON.stringify({ model: MODEL, max_tokens: 8, messages: [{ role: "user", content: "raw" }] }),
        });
      assert.equal((await raw({ "x-api-key": CLIENT_KEY })).status, 200);
      assert.equal((await raw({})).status, 200);
      const seen = fake.requests.filter((q) => q.url === "/v1/messages").map((q) => q.headers);
      assert.equal(seen.length, 3);
      const [sdk, withKey, without] = seen;
      assert.ok(
        sdk?.["x-api-key"] === CLIENT_KEY || sdk?.authorization === `Bearer ${CLIENT_KEY}`,
        "the client's own credential goes upstream",
      );
      assert.ok(sdk?.["anthropic-version"], "the client's anthropic-version goes upstream");
      assert.equal(sdk?.["anthropic-beta"], "fake-beta-2025");
      assert.equal(withKey?.["x-api-key"], CLIENT_KEY, "a client's x-api-key is not replaced");
      assert.equal(withKey?.authorization, undefined);
      assert.equal(withKey?.["anthropic-version"], "2023-06-01");
      assert.equal(without?.["x-api-key"], UPSTREAM_KEY, "the configured key, as Anthropic takes it");
      assert.equal(without?.authorization, undefined);

      await s.ctx.recorder.flush();
      const list = await s.api<{ data: Array<{ id: string }> }>("/api/calls?limit=200");
      const details = await Promise.all(list.body.data.map((c) => s?.api(`/api/calls/${c.id}`)));
      const everything = [
        JSON.stringify(list.body),
        JSON.stringify(details.map((d) => d?.body)),
        ...filesUnder(s.config.dataDir).map((f) => fs.readFileSync(f).toString("latin1")),
        logs.join(""),
      ].join("\n");
      assert.ok(logs.length > 0, "the server logged something at debug level");
      for (const key of [CLIENT_KEY, UPSTREAM_KEY]) assert.ok(!everything.includes(key), `${key} was kept`);
    });
  });
}
