/**
 * `wrapAnthropic` with the official `@anthropic-ai/sdk` client pointed directly at the fake upstream (no proxy):
 * the caller gets what an unwrapped client gives, and each call arrives at the real server through
 * `POST /api/calls` with `protocol: "messages"`, its bodies as sent and received (a stream's as the client's
 * `finalMessage()` builds it), converted to the chat shape beside them, and findable by its message id.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import {
  DIALECTS,
  type FakeUpstream,
  startFakeUpstream,
  startTestServer,
  type TestServer,
} from "@intersebd/server/testing";
import { Intersebd, type IntersebdError } from "intersebd";
import { type Body, errorSink, uniqueTag } from "./helpers.ts";

const WEATHER_TOOL = {
  name: "get_weather",
  description: "Current weather in a city",
  input_schema: { type: "object" as const, properties: { city: { type: "string" } }, required: ["city"] },
};

/** What differs between two calls of the fake (the message id) blanked out. */
const comparable = (m: unknown) => ({ ...(m as Body), id: "X" });
/** What `finalMessage()` adds from its own parsing, which no server sends. */
const asSent = (m: unknown) => {
  const { parsed_output: _, ...rest } = m as Body;
  return rest;
};

for (const dialect of DIALECTS) {
  describe(`wrapAnthropic with the official @anthropic-ai/sdk client (${dialect})`, () => {
    let fake: FakeUpstream;
    let server: TestServer;
    let sdk: Intersebd;
    let errors: IntersebdError[];
    let plain: Anthropic;

    const newClient = (baseURL = fake.url.replace(/\/v1$/, "")) =>
      new Anthropic({ baseURL, apiKey: "sk-ant-test-not-stored", maxRetries: 0 });

    async function storedCall(idOrTag: string): Promise<Body> {
      await sdk.flush();
      const r = await server.api<Body>(`/api/calls/${encodeURIComponent(idOrTag)}`);
      assert.equal(r.status, 200, `call ${idOrTag} should be stored: ${JSON.stringify(r.body)}`);
      return r.body;
    }

    async function callsTagged(tag: string): Promise<Body[]> {
      await sdk.flush();
      const r = await server.api<Body>(`/api/calls?tag=${encodeURIComponent(tag)}`);
      assert.equal(r.status, 200);
      return r.body.data;
    }

    /** The one call carrying `tag`, in full. */
    async function onlyCallTagged(tag: string): Promise<Body> {
      const calls = await callsTagged(tag);
      assert.equal(calls.length, 1, `one call tagged ${tag}`);
      return storedCall(calls[0]?.id);
    }

    before(async () => {
      fake = await startFakeUpstream();
      server = await startTestServer(dialect, { upstream: fake.url });
      const sink = errorSink();
      errors = sink.errors;
      sdk = new Intersebd({ baseURL: server.url, onError: sink.onError, flushIntervalMs: 60_000 });
      plain = newClient();
    });
    after(async () => {
      await server.stop();
      await fake.close();
    });

    it("returns the same message, and records it as a messages call with its originals and chat shape", async () => {
      const client = newClient();
      const wrapped = sdk.wrapAnthropic(client, {
        sessionId: "sess-a",
        userId: "user-a",
        tags: ["anthropic-test"],
        metadata: { feature: "support" },
      });
      assert.equal(wrapped, client, "wrapAnthropic returns the client it was given");
      const messages: Anthropic.MessageParam[] = [{ role: "user", content: "hello claude" }];
      const params = { model: "claude-sonnet-4-5", max_tokens: 256, system: "Be brief.", messages };
      const { data: m, response } = await wrapped.messages.create(params).withResponse();
      const unwrapped = await plain.messages.create(params);
      assert.equal(response.status, 200, "the APIPromise helpers still work");
      assert.deepEqual(comparable(m), comparable(unwrapped));
      // The caller keeps using its array; the record must hold the request as it was sent.
      messages.push({ role: "assistant", content: m.content });

      const call = await storedCall(m.id);
      assert.equal(call.protocol, "messages");
      assert.equal(call.source, "sdk");
      assert.equal(call.path, "/v1/messages");
      assert.equal(call.stream, false);
      assert.equal(call.outcome, "ok");
      assert.deepEqual(call.originalRequest, {
        model: "claude-sonnet-4-5",
        max_tokens: 256,
        system: "Be brief.",
        messages: [{ role: "user", content: "hello claude" }],
      });
      assert.deepEqual(call.originalResponse, JSON.parse(JSON.stringify(m)));
      // The chat shape every feature reads: the system prompt first, the answer as the assistant's message.
      assert.deepEqual(call.request.messages[0], { role: "system", content: "Be brief." });
      assert.equal(call.response.choices[0].message.content, "echo: hello claude");
      assert.equal(call.completionId, m.id, "the message id is the call's tag");
      assert.equal(call.sessionId, "sess-a");
      assert.equal(call.userId, "user-a");
      assert.ok(call.tags.includes("anthropic-test"));
      assert.deepEqual(call.metadata, { feature: "support" });
      assert.ok(!JSON.stringify(call).includes("sk-ant-test-not-stored"), "the API key is not captured");
    });

    it("streams the same events as an unwrapped client and records what finalMessage() builds", async () => {
      const tag = uniqueTag("stream");
      const wrapped = sdk.wrapAnthropic(newClient(), () => ({ tags: [tag] }));
      const params = {
        model: "claude-sonnet-4-5",
        max_tokens: 256,
        messages: [{ role: "user" as const, content: "stream a few words" }],
        stream: true as const,
      };
      const got: Anthropic.RawMessageStreamEvent[] = [];
      for await (const event of await wrapped.messages.create(params)) got.push(event);
      const expected: Anthropic.RawMessageStreamEvent[] = [];
      for await (const event of await plain.messages.create(params)) expected.push(event);
      const blank = (events: Anthropic.RawMessageStreamEvent[]) =>
        events.map((e) => (e.type === "message_start" ? { ...e, message: comparable(e.message) } : e));
      assert.ok(got.length > 4);
      assert.deepEqual(blank(got), blank(expected));

      const call = await onlyCallTagged(tag);
      assert.equal(call.protocol, "messages");
      assert.equal(call.stream, true);
      assert.equal(call.outcome, "ok");
      assert.equal(typeof call.ttftMs, "number");
      const start = got[0];
      assert.ok(start?.type === "message_start");
      assert.equal(call.originalResponse.id, start.message.id);
      assert.deepEqual(call.originalResponse.content, [{ type: "text", text: "echo: stream a few words" }]);
      assert.equal(call.response.choices[0].message.content, "echo: stream a few words");
    });

    it("captures beta.messages.create and beta.messages.stream() alike, without the betas sent as a header", async () => {
      const tag = uniqueTag("beta");
      const wrapped = sdk.wrapAnthropic(newClient(), () => ({ tags: [tag] }));
      const base = { model: "claude-sonnet-4-5", max_tokens: 64, betas: ["context-management-2025-06-27"] };
      const created = await wrapped.beta.messages.create({
        ...base,
        messages: [{ role: "user", content: "beta hello" }],
      });
      const streamed = await wrapped.beta.messages
        .stream({ ...base, messages: [{ role: "user", content: "beta stream" }] })
        .finalMessage();
      assert.equal((await callsTagged(tag)).length, 2);

      const one = await storedCall(created.id);
      assert.equal(one.protocol, "messages");
      assert.equal(one.stream, false);
      assert.deepEqual(one.originalRequest, {
        model: "claude-sonnet-4-5",
        max_tokens: 64,
        messages: [{ role: "user", content: "beta hello" }],
      });
      assert.equal(one.response.choices[0].message.content, "echo: beta hello");
      const two = await storedCall(streamed.id);
      assert.equal(two.stream, true);
      assert.equal(two.outcome, "ok");
      assert.equal(two.originalRequest.betas, undefined);
      assert.deepEqual(two.originalResponse.content, [{ type: "text", text: "echo: beta stream" }]);
    });

    it("records every documented event sequence as messages.stream().finalMessage() gives it", async () => {
      const wrapped = sdk.wrapAnthropic(newClient());
      for (const name of ["text", "tool-use", "parallel-tool-use", "thinking"]) {
        const stream = wrapped.messages.stream(
          {
            model: "claude-sonnet-4-5",
            max_tokens: 1024,
            messages: [{ role: "user", content: name }],
            tools: [WEATHER_TOOL],
          },
          { headers: { "x-fake-fixture": name } },
        );
        const final = await stream.finalMessage();
        // Each fixture has its own message id, so it finds this call.
        const call = await storedCall(final.id);
        assert.equal(call.outcome, "ok", name);
        assert.deepEqual(call.originalResponse, JSON.parse(JSON.stringify(asSent(final))), name);
        if (name.includes("tool")) {
          const toolUses = final.content.filter((b) => b.type === "tool_use");
          assert.deepEqual(
            call.response.choices[0].message.tool_calls.map((t: Body) => [
              t.id,
              JSON.parse(t.function.arguments),
            ]),
            toolUses.map((b) => [b.id, b.input]),
            `${name}: tool calls in the chat shape`,
          );
        }
      }
      assert.deepEqual(errors, []);
    });

    it("re-throws an error event mid-stream unchanged and records the partial message as upstream_error", async () => {
      const tag = uniqueTag("midstream");
      const wrapped = sdk.wrapAnthropic(newClient(), { tags: [tag] });
      const params = {
        model: "claude-sonnet-4-5",
        max_tokens: 256,
        messages: [{ role: "user" as const, content: "tell me a story" }],
        stream: true as const,
      };
      const options = { headers: { "x-fake-fixture": "error-midstream" } };
      const read = async (client: Anthropic) => {
        let text = "";
        try {
          for await (const e of await client.messages.create(params, options))
            if (e.type === "content_block_delta" && e.delta.type === "text_delta") text += e.delta.text;
        } catch (err) {
          return { text, err };
        }
        return { text, err: undefined };
      };
      const unwrapped = await read(plain);
      const got = await read(wrapped);
      assert.ok(got.err instanceof Anthropic.APIError);
      assert.equal(got.err.constructor, (unwrapped.err as object).constructor);
      assert.equal(got.err.message, (unwrapped.err as Error).message);
      assert.equal(got.text, unwrapped.text);

      const call = await onlyCallTagged(tag);
      assert.equal(call.outcome, "upstream_error");
      assert.equal(call.status, 200);
      assert.match(call.error, /Overloaded/);
      assert.deepEqual(call.originalResponse.content, [{ type: "text", text: got.text }]);
    });

    it("records an HTTP error as upstream_error with its status and a refused connection as network_error", async () => {
      const tag = uniqueTag("errors");
      const wrapped = sdk.wrapAnthropic(newClient(), { tags: [tag, "http"] });
      await assert.rejects(
        // The fake answers 400 to a body whose messages are not a list, as Anthropic does.
        wrapped.messages.create({ model: "claude-sonnet-4-5", max_tokens: 10 } as never),
        (err: unknown) => err instanceof Anthropic.BadRequestError,
      );
      const gone = await startFakeUpstream();
      const goneUrl = gone.url.replace(/\/v1$/, "");
      await gone.close();
      await assert.rejects(
        sdk
          .wrapAnthropic(newClient(goneUrl), { tags: [tag, "offline"] })
          .messages.create({ model: "m", max_tokens: 1, messages: [{ role: "user", content: "x" }] }),
        (err: unknown) => err instanceof Anthropic.APIConnectionError,
      );
      const calls = await callsTagged(tag);
      const byTag = (t: string) => calls.find((c) => c.tags.includes(t));
      assert.equal(byTag("http")?.outcome, "upstream_error");
      assert.equal(byTag("http")?.status, 400);
      assert.equal(byTag("offline")?.outcome, "network_error");
      assert.equal(byTag("offline")?.status, null);
    });

    it("records nothing while disabled, once when wrapped twice, and leaves a client without messages alone", async () => {
      const tag = uniqueTag("toggle");
      const client = newClient();
      sdk.wrapAnthropic(client, { tags: [tag] });
      const wrapped = sdk.wrapAnthropic(client, { tags: [tag] });
      const params = { model: "m", max_tokens: 8, messages: [{ role: "user" as const, content: "toggle" }] };
      sdk.enabled = false;
      try {
        const m = await wrapped.messages.create(params);
        assert.deepEqual(m.content, [{ type: "text", text: "echo: toggle" }], "the call itself still works");
      } finally {
        sdk.enabled = true;
      }
      assert.equal((await callsTagged(tag)).length, 0);
      await wrapped.messages.create(params);
      assert.equal((await callsTagged(tag)).length, 1);

      const seen: IntersebdError[] = [];
      const other = new Intersebd({ baseURL: server.url, onError: (e) => seen.push(e) });
      const notAClient = { messages: {} } as unknown as Anthropic;
      assert.equal(other.wrapAnthropic(notAClient), notAClient);
      assert.equal(seen.length, 1);
      assert.match(seen[0]?.message ?? "", /wrapAnthropic: the client has no messages\.create/);
      await other.shutdown();
    });
  });
}
