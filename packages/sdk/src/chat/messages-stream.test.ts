import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { accumulateMessagesStream, MessagesStreamReader } from "./messages-stream.ts";

const start = {
  type: "message_start",
  message: {
    id: "msg_1",
    type: "message",
    role: "assistant",
    model: "claude-sonnet-4-5",
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: 10, output_tokens: 1 },
  },
};
const toolStart = {
  type: "content_block_start",
  index: 0,
  content_block: { type: "tool_use", id: "toolu_1", name: "f", input: {} },
};
const json = (partial_json: string) => ({
  type: "content_block_delta",
  index: 0,
  delta: { type: "input_json_delta", partial_json },
});

describe("accumulateMessagesStream", () => {
  it("skips events before message_start and a second message_start, where the client throws", () => {
    const second = { ...start, message: { ...start.message, id: "msg_2" } };
    const m = accumulateMessagesStream([{ type: "message_stop" }, start, second]);
    assert.equal(m?.id, "msg_1");
    assert.equal(accumulateMessagesStream([{ type: "content_block_start", index: 0 }]), undefined);
  });

  it("closes a tool's input JSON cut off mid-way, and gives {} when it cannot", () => {
    const cut = accumulateMessagesStream([start, toolStart, json('{"city": "Par')]);
    assert.deepEqual(cut?.content[0]?.input, { city: "Par" });
    const nested = accumulateMessagesStream([start, toolStart, json('{"a": [1, {"b": "x\\"')]);
    assert.deepEqual(
      nested?.content[0]?.input,
      { a: [1, { b: 'x"' }] },
      "an escaped quote stays in the string",
    );
    const lone = accumulateMessagesStream([start, toolStart, json('{"b": "x\\')]);
    assert.deepEqual(lone?.content[0]?.input, { b: "x" }, "a lone backslash at the cut is dropped");
    const afterKey = accumulateMessagesStream([start, toolStart, json('{"city":')]);
    assert.deepEqual(afterKey?.content[0]?.input, {});
  });

  it("takes message_delta's usage totals and drops a stop field it leaves out", () => {
    const m = accumulateMessagesStream([
      start,
      {
        type: "message_delta",
        delta: { stop_reason: "end_turn" },
        usage: { output_tokens: 7, cache_read_input_tokens: 3 },
      },
    ]);
    assert.equal(m?.stop_reason, "end_turn");
    assert.equal(
      "stop_sequence" in (m ?? {}),
      false,
      "absent in the delta: absent, as the client's undefined",
    );
    assert.deepEqual(m?.usage, { input_tokens: 10, output_tokens: 7, cache_read_input_tokens: 3 });
  });

  it("does not change the events it is given", () => {
    const events = [
      start,
      { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
    ];
    const before = JSON.stringify(events);
    accumulateMessagesStream([
      ...events,
      { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "hi" } },
    ]);
    assert.equal(JSON.stringify(events), before);
  });
});

describe("MessagesStreamReader", () => {
  const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

  it("is done at message_stop, skips pings and unnamed events, and keeps an error event", () => {
    const r = new MessagesStreamReader();
    r.feed(sse("message_start", start) + sse("ping", { type: "ping" }));
    r.feed(`data: ${JSON.stringify({ type: "message_delta", delta: { stop_reason: "x" }, usage: {} })}\n\n`);
    assert.equal(r.done, false);
    assert.equal(r.result()?.stop_reason, null, "an event without a name is skipped, as the client skips it");
    r.feed(sse("error", { type: "error", error: { type: "overloaded_error", message: "Overloaded" } }));
    assert.equal(r.error?.type, "overloaded_error");
    r.feed(sse("message_stop", { type: "message_stop" }));
    r.end();
    assert.equal(r.done, true);
    assert.equal(r.complete, true);
  });

  it("is incomplete when the body ends without message_stop", () => {
    const r = new MessagesStreamReader();
    r.feed(sse("message_start", start).slice(0, -1));
    r.end();
    assert.equal(r.result()?.id, "msg_1", "the last event without its blank line is still read");
    assert.equal(r.complete, false);
  });
});
