/**
 * The chat kernel against its ground truth, the official `openai` client's own accumulator
 * (`ChatCompletionStream.finalChatCompletion()`), fed the same bytes: the 12 recorded OpenAI streams and the
 * provider-shaped streams (fixtures/provider-chat-streams, whose README says where each shape comes from).
 * Each row says where the kernel parts from the client on purpose, and what it stores there instead.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { PROVIDER_STREAMS_DIR, RECORDED_STREAMS_DIR } from "@intersebd/server/testing";
import fc from "fast-check";
import OpenAI from "openai";
import {
  ChatStreamReader,
  completionIdOf,
  finishReasonOf,
  firstMessage,
  toolCallsOf,
  usageOf,
} from "./index.ts";

type Json = Record<string, unknown>;

/** What the official client's stream helper builds from these bytes, delivered in these pieces. */
async function official(pieces: Uint8Array[]): Promise<{ completion?: Json; error?: string }> {
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
  const stream = client.chat.completions.stream({ model: "m", messages: [{ role: "user", content: "x" }] });
  try {
    const completion = (await stream.finalChatCompletion()) as unknown as Json;
    // `parsed` is the client's own addition (structured outputs), not something the server sent.
    for (const c of completion.choices as Array<{ message: Json }>) delete c.message.parsed;
    return { completion };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** What the kernel stores from these bytes, decoded and fed in these pieces. */
function kernel(pieces: Uint8Array[]): ChatStreamReader {
  const reader = new ChatStreamReader();
  const decoder = new TextDecoder();
  for (const p of pieces) reader.feed(decoder.decode(p, { stream: true }));
  reader.feed(decoder.decode());
  reader.end();
  return reader;
}

/** Sets a value at a dotted path (numeric parts index arrays). */
function setPath(target: Json, dotted: string, value: unknown): void {
  const parts = dotted.split(".");
  let at: Record<string, unknown> = target;
  for (const part of parts.slice(0, -1)) at = at[part] as Record<string, unknown>;
  at[parts.at(-1) as string] = value;
}

interface Row {
  file: string;
  dir: string;
  /** Where the kernel stores something else than the client, on purpose: dotted path → what it stores. */
  differs?: Record<string, unknown>;
  /** The client throws on this stream; the kernel's result is checked against `expect` instead. */
  clientThrows?: RegExp;
  expect?: (reader: ChatStreamReader) => void;
}

const recorded: Row[] = fs
  .readdirSync(RECORDED_STREAMS_DIR)
  .filter((f) => f.endsWith(".sse"))
  .map((file) => ({ file, dir: RECORDED_STREAMS_DIR }));

const P = PROVIDER_STREAMS_DIR;
const providers: Row[] = [
  {
    file: "azure-content-filter.sse",
    dir: P,
    expect: (r) => {
      const c = r.result() as Json;
      assert.equal(c.id, "chatcmpl-AzUrE5xQm3c9tRrO1o2hEmPtyId0", "the empty first id is replaced");
      assert.equal(c.model, "gpt-4o-2024-11-20");
      assert.ok(Array.isArray(c.prompt_filter_results), "prompt filter results kept");
      assert.equal(usageOf(c).totalTokens, 21);
    },
  },
  {
    file: "azure-async-filter-tools.sse",
    dir: P,
    expect: (r) => {
      const c = r.result() as Json;
      assert.equal(
        completionIdOf(c),
        "chatcmpl-AzUrEaSyNcF1lTeR2toolCalls0",
        "trailing empty ids change nothing",
      );
      const calls = toolCallsOf(firstMessage(c));
      assert.deepEqual(
        calls.map((t) => [t.id, t.function.name, t.function.arguments]),
        [
          ["call_azure_weather_1", "get_current_weather", '{"location": "Boston, MA"}'],
          ["call_azure_time_2", "get_local_time", '{"city": "Boston"}'],
        ],
      );
      assert.equal(finishReasonOf(c), "tool_calls", "a filter chunk's null finish reason erases nothing");
    },
  },
  {
    file: "openrouter-processing-cost.sse",
    dir: P,
    // OpenRouter's last chunk (usage) repeats the choice with nulls; the client lets them erase the values.
    differs: { "choices.0.native_finish_reason": "stop" },
    expect: (r) => {
      const u = usageOf(r.result());
      assert.equal(u.providerCost, 0.0000102);
      assert.equal(u.totalTokens, 29);
      assert.equal(finishReasonOf(r.result()), "stop");
    },
  },
  {
    file: "deepseek-reasoning-content.sse",
    dir: P,
    differs: { "choices.0.message.reasoning_content": "Compare 9.11 and 9.8: 9.8 is 9.80, and 0.80 > 0.11." },
    expect: (r) => assert.equal(usageOf(r.result()).reasoningTokens, 30),
  },
  {
    file: "vllm-reasoning-tool-call.sse",
    dir: P,
    differs: {
      "choices.0.message.reasoning_content": "The user wants the weather in Paris; call get_weather.",
    },
    expect: (r) =>
      assert.deepEqual(toolCallsOf(firstMessage(r.result()))[0]?.function, {
        name: "get_weather",
        arguments: '{"city": "Paris", "unit": "celsius"}',
      }),
  },
  {
    file: "ollama-reasoning-tool-calls.sse",
    dir: P,
    differs: { "choices.0.message.reasoning": "Two commands are needed: ls and ls -la." },
    expect: (r) => assert.equal(toolCallsOf(firstMessage(r.result())).length, 2),
  },
  {
    file: "groq-x-groq-usage.sse",
    dir: P,
    expect: (r) => {
      const u = usageOf(r.result());
      assert.deepEqual([u.promptTokens, u.completionTokens, u.totalTokens], [45, 8, 53], "usage from x_groq");
    },
  },
  {
    file: "mistral-usage-last-chunk.sse",
    dir: P,
    expect: (r) => {
      assert.equal(finishReasonOf(r.result()), "length");
      assert.equal(usageOf(r.result()).completionTokens, 100);
    },
  },
  {
    file: "mistral-tool-call-no-type.sse",
    dir: P,
    clientThrows: /missing choices\[0\]\.tool_calls\[0\]\.type/,
    expect: (r) => {
      assert.ok(r.complete && !r.error);
      assert.deepEqual(toolCallsOf(firstMessage(r.result())), [
        {
          id: "D681PevKs",
          type: "function",
          function: { name: "retrieve_payment_status", arguments: '{"transaction_id": "T1001"}' },
        },
      ]);
    },
  },
  {
    file: "keepalive-crlf.sse",
    dir: P,
    expect: (r) => assert.equal(firstMessage(r.result())?.content, "Lines may end in CR LF."),
  },
  {
    file: "tool-name-repeated.sse",
    dir: P,
    expect: (r) =>
      assert.equal(toolCallsOf(firstMessage(r.result()))[0]?.function.name, "get", "not getgetget"),
  },
  {
    file: "annotations-split.sse",
    dir: P,
    differs: {
      "choices.0.message.annotations": [
        {
          type: "url_citation",
          url_citation: {
            url: "https://en.wikipedia.org/wiki/Paris",
            title: "Paris",
            content: "",
            start_index: 0,
            end_index: 9,
          },
        },
        {
          type: "url_citation",
          url_citation: {
            url: "https://en.wikipedia.org/wiki/Lyon",
            title: "Lyon",
            content: "",
            start_index: 14,
            end_index: 22,
          },
        },
      ],
    },
  },
  {
    file: "openrouter-midstream-error.sse",
    dir: P,
    clientThrows: /Provider disconnected unexpectedly/,
    expect: (r) => {
      assert.deepEqual(r.error, { code: "server_error", message: "Provider disconnected unexpectedly" });
      const c = r.result() as Json;
      assert.deepEqual(c.error, r.error, "the error is kept in the reassembled response");
      assert.equal(firstMessage(c)?.content, "The tallest building would need", "the partial answer is kept");
      assert.equal(finishReasonOf(c), "error");
    },
  },
  {
    file: "openai-midstream-error.sse",
    dir: P,
    clientThrows: /The server had an error/,
    expect: (r) => {
      assert.equal(r.error?.type, "server_error");
      assert.equal(firstMessage(r.result())?.content, 'The question "');
      assert.equal(r.complete, false);
    },
  },
  {
    file: "truncated-no-finish.sse",
    dir: P,
    clientThrows: /missing finish_reason/,
    expect: (r) => {
      assert.equal(r.done, false);
      assert.equal(r.complete, false, "no [DONE], no finish reason: truncated");
      assert.equal(r.error, undefined);
      assert.equal(firstMessage(r.result())?.content, "This answer stops in the mid");
    },
  },
];

describe("chat kernel: the stream reassembler against the official openai client", () => {
  const providerFiles = fs.readdirSync(P).filter((f) => f.endsWith(".sse"));
  it("has a row for every provider-shaped fixture", () => {
    assert.deepEqual(providerFiles.sort(), providers.map((r) => r.file).sort());
  });

  for (const row of [...recorded, ...providers]) {
    it(`${path.basename(row.dir)}/${row.file}`, async () => {
      const bytes = new Uint8Array(fs.readFileSync(path.join(row.dir, row.file)));
      const reader = kernel([bytes]);
      const ours = reader.result() as Json;
      const theirs = await official([bytes]);
      if (row.clientThrows) {
        assert.match(theirs.error ?? "(no error)", row.clientThrows, "the official client throws here");
      } else {
        assert.ok(theirs.completion, `the official client assembles it: ${theirs.error}`);
        const expected = structuredClone(theirs.completion);
        for (const [at, value] of Object.entries(row.differs ?? {})) setPath(expected, at, value);
        assert.deepEqual(ours, expected);
        assert.ok(reader.done && reader.complete && !reader.error);
      }
      row.expect?.(reader);
    });
  }
});

describe("chat kernel: bytes split anywhere, CRLF or CR line endings", () => {
  const rows = [...recorded, ...providers];
  const bytesOf = (row: Row) => new Uint8Array(fs.readFileSync(path.join(row.dir, row.file)));
  const split = (bytes: Uint8Array, cuts: number[]) => {
    const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
    const pieces: Uint8Array[] = [];
    let from = 0;
    for (const to of [...at, bytes.length]) {
      pieces.push(bytes.subarray(from, to));
      from = to;
    }
    return pieces;
  };

  it("gives the same completion, [DONE] and error whatever the chunk boundaries", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: rows.length - 1 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (i, cuts) => {
          const bytes = bytesOf(rows[i] as Row);
          const whole = kernel([bytes]);
          const pieces = kernel(split(bytes, cuts));
          assert.deepEqual(pieces.result(), whole.result());
          assert.equal(pieces.done, whole.done);
          assert.deepEqual(pieces.error, whole.error);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("cut into single bytes (multi-byte characters split too), it still equals the official client", async () => {
    for (const row of [recorded[0] as Row, ...providers.filter((r) => !r.clientThrows)]) {
      const bytes = bytesOf(row);
      const ones = Array.from(bytes, (b) => Uint8Array.of(b));
      const theirs = await official(ones);
      const expected = structuredClone(theirs.completion) as Json;
      for (const [at, value] of Object.entries(row.differs ?? {})) setPath(expected, at, value);
      assert.deepEqual(kernel(ones).result(), expected, row.file);
    }
  });

  it("reads CRLF and CR line endings as LF, split anywhere", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: rows.length - 1 }),
        fc.constantFrom("\r\n", "\r"),
        fc.array(fc.nat(), { maxLength: 20 }),
        (i, eol, cuts) => {
          const text = new TextDecoder().decode(bytesOf(rows[i] as Row)).replace(/\r\n/g, "\n");
          const lf = kernel([new TextEncoder().encode(text)]);
          const other = kernel(split(new TextEncoder().encode(text.replace(/\n/g, eol)), cuts));
          assert.deepEqual(other.result(), lf.result());
          assert.equal(other.done, lf.done);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("skips comments and keep-alives anywhere, and ignores what follows [DONE]", () => {
    const text =
      'data: {"id":"a","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}\n\n';
    const r = kernel([
      new TextEncoder().encode(
        `: hello\n\n${text}: OPENROUTER PROCESSING\n\ndata: [DONE]\n\n${text.replace('"x"', '"y"')}`,
      ),
    ]);
    assert.equal(firstMessage(r.result())?.content, "x");
    assert.equal(r.done, true);
  });
});

describe("chat kernel: accessors", () => {
  it("read the first message, tool calls, usage and completion id defensively", () => {
    assert.equal(firstMessage(null), undefined);
    assert.equal(firstMessage({ choices: "no" }), undefined);
    assert.equal(
      firstMessage({ choices: [{ message: { role: "assistant", content: "hi" } }] })?.content,
      "hi",
    );
    assert.deepEqual(toolCallsOf({ tool_calls: [{ function: { name: "f" } }, { function: {} }, 3] }), [
      { id: "", type: "function", function: { name: "f", arguments: "" } },
    ]);
    assert.equal(completionIdOf({ id: "" }), null, "Azure's empty id is no id");
    assert.equal(completionIdOf({ id: "chatcmpl-1" }), "chatcmpl-1");
    assert.deepEqual(
      usageOf({ usage: { prompt_tokens: "3", total_tokens: 5, prompt_tokens_details: null } }),
      {
        promptTokens: null,
        completionTokens: null,
        totalTokens: 5,
        cachedTokens: null,
        reasoningTokens: null,
        providerCost: null,
      },
    );
  });
});
