/**
 * The Responses stream reassembler against its ground truth, the official `openai` client's
 * `responses.stream(...).finalResponse()`, fed the same bytes: the documented event sequences of
 * fixtures/openai-responses-streams, whole and split at every few bytes.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { RESPONSES_STREAMS_DIR } from "@intersebd/server/testing";
import OpenAI from "openai";
import { accumulateResponsesStream, ResponsesAssembler, ResponsesStreamReader } from "./index.ts";

type Json = Record<string, unknown>;

/** The client's final response without what it adds for structured outputs (`parsed*`), which no server sends. */
export function withoutParsed(response: Json): Json {
  const out = JSON.parse(JSON.stringify(response)) as Json;
  delete out.output_parsed;
  for (const item of out.output as Json[]) {
    delete item.parsed_arguments;
    for (const part of (item.content as Json[] | undefined) ?? []) delete part.parsed;
  }
  return out;
}

async function official(pieces: Uint8Array[]): Promise<{ response?: Json; error?: string }> {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const p of pieces) controller.enqueue(p);
      controller.close();
    },
  });
  const client = new OpenAI({
    apiKey: "sk-test",
    baseURL: "http://fixture.invalid/v1",
    maxRetries: 0,
    fetch: async () => new Response(body, { headers: { "content-type": "text/event-stream" } }),
  });
  try {
    const stream = client.responses.stream({ model: "m", input: "x" });
    return { response: withoutParsed((await stream.finalResponse()) as unknown as Json) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function kernel(pieces: Uint8Array[]): ResponsesStreamReader {
  const reader = new ResponsesStreamReader();
  const decoder = new TextDecoder();
  for (const p of pieces) reader.feed(decoder.decode(p, { stream: true }));
  reader.feed(decoder.decode());
  reader.end();
  return reader;
}

const fixtures = fs.readdirSync(RESPONSES_STREAMS_DIR).filter((f) => f.endsWith(".sse"));

/** How each fixture ends: complete, and with which error if any. */
const endings: Record<string, { done: boolean; error?: RegExp }> = {
  "text.sse": { done: true },
  "function-call.sse": { done: true },
  "parallel-function-calls.sse": { done: true },
  "reasoning.sse": { done: true },
  "refusal.sse": { done: true },
  "incomplete.sse": { done: true },
  "failed.sse": { done: true, error: /model failed/ },
  "error-midstream.sse": { done: false, error: /server_error/ },
};

describe("ResponsesStreamReader against the official client's finalResponse()", () => {
  it("covers every fixture", () => {
    assert.deepEqual(fixtures.sort(), Object.keys(endings).sort());
  });

  for (const name of fixtures) {
    it(`${name}: the same response, whole and in pieces of 7 bytes`, async () => {
      const bytes = new Uint8Array(fs.readFileSync(path.join(RESPONSES_STREAMS_DIR, name)));
      const whole = [bytes];
      const split = Array.from({ length: Math.ceil(bytes.length / 7) }, (_, i) =>
        bytes.slice(i * 7, i * 7 + 7),
      );
      let expected = await official(whole);
      if (name === "error-midstream.sse") {
        // The client throws on the error event; what it had built is the same bytes without that event.
        assert.match(String(expected.error), /server had an error/);
        const text = new TextDecoder().decode(bytes).replace(/event: error\n[^\n]*\n\n/, "");
        expected = await official([new TextEncoder().encode(text)]);
      }
      assert.ok(expected.response, `the client built a response (${expected.error})`);
      for (const pieces of [whole, split]) {
        const reader = kernel(pieces);
        assert.deepEqual(reader.result(), expected.response);
        assert.equal(reader.done, endings[name]?.done);
        const error = endings[name]?.error;
        if (error) assert.match(JSON.stringify(reader.error), error);
        else assert.equal(reader.error, undefined);
      }
    });
  }

  it("reads what a stream says even where the client throws: a delta before its item is skipped", () => {
    const events = [
      {
        type: "response.created",
        response: { id: "resp_1", object: "response", output: [], status: "in_progress" },
      },
      { type: "response.output_text.delta", output_index: 3, content_index: 0, delta: "lost" },
      {
        type: "response.output_item.added",
        output_index: 0,
        item: { id: "msg_1", type: "message", role: "assistant", content: [] },
      },
      {
        type: "response.content_part.added",
        output_index: 0,
        content_index: 0,
        part: { type: "output_text", text: "", annotations: [] },
      },
      { type: "response.output_text.delta", output_index: 0, content_index: 0, delta: "kept" },
    ];
    const response = accumulateResponsesStream(events) as Json;
    assert.equal(response.output_text, "kept");
    const [message] = response.output as Json[];
    assert.deepEqual(
      (message?.content as Json[] | undefined)?.map((p) => p.text),
      ["kept"],
    );
    assert.equal(accumulateResponsesStream(events.slice(1)), undefined, "nothing before response.created");
  });

  it("leaves the caller's events as they were, unless told they are its own (copyEvents: false)", () => {
    const events = () => [
      { type: "response.created", response: { id: "resp_1", object: "response", output: [] } },
      {
        type: "response.output_item.added",
        output_index: 0,
        item: { id: "msg_1", type: "message", role: "assistant", content: [] },
      },
      {
        type: "response.content_part.added",
        output_index: 0,
        content_index: 0,
        part: { type: "output_text", text: "", annotations: [] },
      },
      { type: "response.output_text.delta", output_index: 0, content_index: 0, delta: "Hello" },
    ];
    const given = events();
    const copied = new ResponsesAssembler();
    for (const e of given) copied.push(e);
    assert.deepEqual(given, events(), "the default copies what it keeps");
    const owned = new ResponsesAssembler({ copyEvents: false });
    const handed = events();
    for (const e of handed) owned.push(e);
    assert.deepEqual(owned.result(), copied.result());
    // What "its own" means: the assembler built the answer in the events' objects.
    assert.equal((handed[2] as { part: { text: string } }).part.text, "Hello");
  });
});
