/**
 * `wrapOpenAI` with the official `openai` client pointed directly at the fake upstream (no proxy): the caller
 * gets what an unwrapped client gives, and each call arrives at the real server through `POST /api/calls`,
 * findable by its completion id, which then works as a tag for links and annotations.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, it } from "node:test";
import {
  type FakeUpstream,
  RECORDED_STREAMS_DIR,
  startFakeUpstream,
  startTestServer,
  type TestServer,
} from "@intersebd/server/testing";
import { Intersebd, type IntersebdError } from "intersebd";
import OpenAI from "openai";
import { Stream } from "openai/streaming";
import { type Body, errorSink, uniqueTag } from "./helpers.ts";

const WEATHER_TOOL = {
  type: "function" as const,
  function: {
    name: "get_weather",
    description: "Current weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

/** Chunks with what differs between two calls (the completion id and its timestamp) blanked out. */
const comparable = (chunks: unknown[]) => chunks.map((c) => ({ ...(c as Body), id: "X", created: 0 }));

describe("wrapOpenAI with the official openai client", () => {
  let fake: FakeUpstream;
  let server: TestServer;
  let sdk: Intersebd;
  let errors: IntersebdError[];
  let plain: OpenAI;

  const newClient = (baseURL = fake.url) =>
    new OpenAI({ baseURL, apiKey: "sk-test-not-stored", maxRetries: 0 });

  /** Flushes the SDK, then reads the call the server stored. */
  async function storedCall(idOrCompletionId: string): Promise<Body> {
    await sdk.flush();
    const r = await server.api<Body>(`/api/calls/${encodeURIComponent(idOrCompletionId)}`);
    assert.equal(r.status, 200, `call ${idOrCompletionId} should be stored: ${JSON.stringify(r.body)}`);
    return r.body;
  }

  /** Flushes, then lists the calls carrying a tag. */
  async function callsTagged(tag: string): Promise<Body[]> {
    await sdk.flush();
    const r = await server.api<Body>(`/api/calls?tag=${encodeURIComponent(tag)}`);
    assert.equal(r.status, 200);
    return r.body.data;
  }

  before(async () => {
    fake = await startFakeUpstream({ fixturesDir: RECORDED_STREAMS_DIR });
    server = await startTestServer("sqlite", { upstream: fake.url });
    const sink = errorSink();
    errors = sink.errors;
    sdk = new Intersebd({ baseURL: server.url, onError: sink.onError, flushIntervalMs: 60_000 });
    plain = newClient();
  });
  after(async () => {
    await server.stop();
    await fake.close();
  });

  it("returns the same completion for a non-streaming call and records it with its context", async () => {
    const client = newClient();
    const wrapped = sdk.wrapOpenAI(client, {
      sessionId: "sess-1",
      userId: "user-1",
      tags: ["sdk-test"],
      metadata: { feature: "titles" },
    });
    assert.equal(wrapped, client, "wrapOpenAI returns the client it was given");
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "hello there" }];
    const { data: r, response } = await wrapped.chat.completions
      .create({ model: "gpt-4o-mini", messages })
      .withResponse();
    const unwrapped = await plain.chat.completions.create({ model: "gpt-4o-mini", messages });
    assert.equal(response.status, 200, "the APIPromise helpers still work");
    assert.deepEqual({ ...r, id: "X", created: 0 }, { ...unwrapped, id: "X", created: 0 });
    // The caller keeps using its messages array; the record must hold the request as it was sent.
    messages.push({ role: "assistant", content: r.choices[0]?.message.content ?? "" });

    const call = await storedCall(r.id);
    assert.equal(call.completionId, r.id);
    assert.equal(call.source, "sdk");
    assert.equal(call.upstream, "sdk");
    assert.equal(call.path, "/chat/completions");
    assert.equal(call.stream, false);
    assert.equal(call.status, 200);
    assert.equal(call.outcome, "ok");
    assert.match(call.id, /^call_/);
    assert.deepEqual(call.request, {
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hello there" }],
    });
    assert.equal(call.response.choices[0].message.content, "echo: hello there");
    assert.equal(call.usage.totalTokens, r.usage?.total_tokens);
    assert.equal(call.sessionId, "sess-1");
    assert.equal(call.userId, "user-1");
    assert.ok(call.tags.includes("sdk-test"), `tags ${call.tags}`);
    assert.deepEqual(call.metadata, { feature: "titles" });
    assert.ok(!JSON.stringify(call).includes("sk-test-not-stored"), "the API key is not captured");
  });

  it("streams the same chunks as an unwrapped client, keeps the Stream object, and records the reassembly", async () => {
    const tag = uniqueTag("stream");
    const wrapped = sdk.wrapOpenAI(newClient(), () => ({ tags: [tag] }));
    const params = {
      model: "gpt-4o-mini",
      messages: [{ role: "user" as const, content: "stream me a few words please" }],
      stream: true as const,
      stream_options: { include_usage: true },
    };
    const stream = await wrapped.chat.completions.create(params);
    assert.ok(stream instanceof Stream, "still an openai Stream");
    assert.ok(stream.controller instanceof AbortController);
    const got: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) got.push(chunk);
    const expected: unknown[] = [];
    for await (const chunk of await plain.chat.completions.create(params)) expected.push(chunk);
    assert.ok(got.length > 3);
    assert.deepEqual(comparable(got), comparable(expected));

    const call = await storedCall(got[0]?.id ?? "");
    assert.equal(call.stream, true);
    assert.equal(call.outcome, "ok");
    assert.equal(typeof call.ttftMs, "number");
    assert.ok(call.tags.includes(tag));
    const choice = call.response.choices[0];
    assert.equal(choice.message.content, "echo: stream me a few words please");
    assert.equal(choice.finish_reason, "stop");
    assert.equal(call.response.object, "chat.completion");
    assert.deepEqual(call.response.usage, got.at(-1)?.usage);
    assert.equal((await callsTagged(tag)).length, 1, "one record per call");
  });

  it("keeps toReadableStream() working on a wrapped stream and still records the call", async () => {
    const tag = uniqueTag("readable");
    const wrapped = sdk.wrapOpenAI(newClient(), { tags: [tag] });
    const stream = await wrapped.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "as a readable stream" }],
      stream: true,
    });
    const text = await new Response(stream.toReadableStream()).text();
    const chunks = text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as OpenAI.ChatCompletionChunk);
    const content = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
    assert.equal(content, "echo: as a readable stream");
    const [call] = await callsTagged(tag);
    const full = await storedCall(call?.id);
    assert.equal(full.response.choices[0].message.content, "echo: as a readable stream");
  });

  it("reassembles n > 1 streamed choices", async () => {
    const stream = await sdk.wrapOpenAI(newClient()).chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "three ways" }],
      stream: true,
      n: 3,
    });
    let id = "";
    for await (const chunk of stream) id = chunk.id;
    const call = await storedCall(id);
    assert.deepEqual(
      call.response.choices.map((c: Body) => [c.index, c.message.content, c.finish_reason]),
      [0, 1, 2].map((i) => [i, "echo: three ways", "stop"]),
    );
  });

  it("captures tool calls, streamed (arguments merged) and not", async () => {
    const wrapped = sdk.wrapOpenAI(newClient());
    const params = {
      model: "gpt-4o-mini",
      messages: [{ role: "user" as const, content: "what is the weather in Paris?" }],
      tools: [WEATHER_TOOL],
    };
    const r = await wrapped.chat.completions.create(params);
    const toolCalls = r.choices[0]?.message.tool_calls;
    assert.equal(toolCalls?.[0]?.type === "function" && toolCalls[0].function.name, "get_weather");

    const stream = await wrapped.chat.completions.create({ ...params, stream: true });
    let id = "";
    let pieces = 0;
    for await (const chunk of stream) {
      id = chunk.id;
      if (chunk.choices[0]?.delta.tool_calls) pieces++;
    }
    assert.ok(pieces > 2, "the arguments arrived in several pieces");
    const streamed = await storedCall(id);
    assert.equal(streamed.response.choices[0].finish_reason, "tool_calls");
    assert.deepEqual(streamed.response.choices[0].message.tool_calls, toolCalls);
    const direct = await storedCall(r.id);
    assert.deepEqual(direct.response.choices[0].message.tool_calls, toolCalls);
  });

  it("re-throws an upstream error unchanged and records it as upstream_error", async () => {
    const tag = uniqueTag("error");
    const wrapped = sdk.wrapOpenAI(newClient(), { tags: [tag] });
    const params = { model: "gpt-4o-mini", messages: [{ role: "user" as const, content: "fail please" }] };
    const options = { headers: { "x-fake-status": "429" } };
    const unwrappedError = await plain.chat.completions.create(params, options).catch((e: unknown) => e);
    await assert.rejects(wrapped.chat.completions.create(params, options), (err: unknown) => {
      assert.ok(err instanceof OpenAI.RateLimitError);
      assert.equal(err.constructor, (unwrappedError as object).constructor);
      assert.equal(err.status, 429);
      assert.equal(err.message, (unwrappedError as Error).message);
      return true;
    });
    const calls = await callsTagged(tag);
    assert.equal(calls.length, 1);
    const call = await storedCall(calls[0]?.id);
    assert.equal(call.outcome, "upstream_error");
    assert.equal(call.status, 429);
    assert.match(call.error, /fake upstream error 429/);
    assert.equal(call.response, null);
    assert.deepEqual(call.request.messages, params.messages);
  });

  it("records a connection failure as network_error and a stream left early as client_aborted", async () => {
    const tag = uniqueTag("failures");
    const gone = await startFakeUpstream();
    const goneUrl = gone.url;
    await gone.close();
    const offline = sdk.wrapOpenAI(newClient(goneUrl), { tags: [tag, "offline"] });
    await assert.rejects(
      offline.chat.completions.create({ model: "m", messages: [{ role: "user", content: "x" }] }),
      (err: unknown) => err instanceof OpenAI.APIConnectionError,
    );

    const wrapped = sdk.wrapOpenAI(newClient(), { tags: [tag, "aborted"] });
    const stream = await wrapped.chat.completions.create({
      model: "m",
      messages: [{ role: "user", content: "one two three four five six" }],
      stream: true,
    });
    for await (const chunk of stream) {
      assert.ok(chunk.id);
      break;
    }
    const calls = await callsTagged(tag);
    const byTag = (t: string) => calls.find((c) => c.tags.includes(t));
    assert.equal(byTag("offline")?.outcome, "network_error");
    assert.equal(byTag("offline")?.status, null);
    assert.equal(byTag("aborted")?.outcome, "client_aborted");
    assert.equal(byTag("aborted")?.stream, true);
  });

  it("an annotation reaches the captured call through two links of the service's own ids", async () => {
    const r = await sdk.wrapOpenAI(newClient()).chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "title for my document" }],
    });
    const reply = uniqueTag("reply");
    const selection = uniqueTag("selection");
    sdk.link({ upstreamTag: r.id, downstreamTag: reply });
    sdk.link({ upstreamTag: reply, downstreamTag: selection, metadata: { title: "picked" } });
    sdk.annotate({ annotationKey: selection, numericReward: 1, data: { clicked: true } });
    const call = await storedCall(r.id);
    assert.equal(call.annotations.length, 1);
    assert.equal(call.annotations[0].numericReward, 1);
    assert.deepEqual(call.annotations[0].data, { clicked: true });
    assert.equal(call.annotations[0].annotationKey, selection);
  });

  it("records nothing while disabled, and wrapping twice records each call once", async () => {
    const tag = uniqueTag("toggle");
    const client = newClient();
    sdk.wrapOpenAI(client, { tags: [tag] });
    const wrapped = sdk.wrapOpenAI(client, { tags: [tag] });
    const params = { model: "m", messages: [{ role: "user" as const, content: "toggle" }] };
    sdk.enabled = false;
    try {
      const r = await wrapped.chat.completions.create(params);
      assert.equal(r.choices[0]?.message.content, "echo: toggle", "the call itself still works");
    } finally {
      sdk.enabled = true;
    }
    assert.equal((await callsTagged(tag)).length, 0);
    await wrapped.chat.completions.create(params);
    assert.equal((await callsTagged(tag)).length, 1);
  });

  it("rebuilds recorded OpenAI streams exactly as the openai client's own stream helper does", async () => {
    const names = fs
      .readdirSync(RECORDED_STREAMS_DIR)
      .filter((f) => f.endsWith(".sse"))
      .map((f) => f.slice(0, -4));
    assert.ok(names.length >= 10);
    const wrapped = sdk.wrapOpenAI(newClient());
    for (const name of names) {
      const final = await wrapped.chat.completions
        .stream(
          { model: "gpt-4o-2024-08-06", messages: [{ role: "user", content: name }] },
          { headers: { "x-fake-fixture": name } },
        )
        .finalChatCompletion();
      const call = await storedCall(final.id);
      const got = call.response;
      assert.equal(got.id, final.id, name);
      assert.equal(got.model, final.model, name);
      assert.deepEqual(got.usage, final.usage, name);
      assert.equal(got.choices.length, final.choices.length, name);
      for (const [i, want] of final.choices.entries()) {
        const have = got.choices[i];
        assert.equal(have.index, want.index, `${name} choice ${i}`);
        assert.equal(have.finish_reason, want.finish_reason, `${name} choice ${i}`);
        assert.equal(have.message.content ?? null, want.message.content ?? null, `${name} content ${i}`);
        assert.equal(have.message.refusal ?? null, want.message.refusal ?? null, `${name} refusal ${i}`);
        assert.deepEqual(
          have.message.tool_calls ?? [],
          (want.message.tool_calls ?? []).map((t) => ({
            id: t.id,
            type: t.type,
            function: t.type === "function" ? { name: t.function.name, arguments: t.function.arguments } : {},
          })),
          `${name} tool calls ${i}`,
        );
        assert.deepEqual(
          have.logprobs?.content ?? null,
          want.logprobs?.content ?? null,
          `${name} logprobs ${i}`,
        );
      }
    }
    assert.deepEqual(errors, []);
  });
});
