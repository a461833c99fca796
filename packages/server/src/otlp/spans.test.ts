/** Which spans are model calls, and the chat shape read from the attribute sets not covered by otlp.test.ts. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { toolCallChoices } from "../testing/calls.ts";
import type { OtlpSpan } from "./decode.ts";
import { isLlmSpan, spanToCall } from "./spans.ts";

const span = (attributes: OtlpSpan["attributes"], events: OtlpSpan["events"] = []): OtlpSpan => ({
  traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
  spanId: "00f067aa0ba902b7",
  parentSpanId: null,
  name: "llm",
  kind: 3,
  startTimeUnixNano: "1700000000000000000",
  endTimeUnixNano: "1700000001500000000",
  attributes,
  events,
  status: { code: 0, message: "" },
  resource: {},
  scope: { name: "", version: "" },
});

describe("OTLP spans", () => {
  it("takes a convention's own kind over the model name it carries", () => {
    assert.equal(isLlmSpan({ "gen_ai.operation.name": "execute_tool", "gen_ai.request.model": "m" }), false);
    assert.equal(isLlmSpan({ "gen_ai.operation.name": "embeddings", "gen_ai.request.model": "m" }), false);
    assert.equal(isLlmSpan({ "openinference.span.kind": "EMBEDDING", "llm.model_name": "m" }), false);
    assert.equal(isLlmSpan({ "llm.request.type": "embedding", "gen_ai.system": "openai" }), false);
    assert.equal(isLlmSpan({ "traceloop.span.kind": "task" }), false);
    assert.equal(isLlmSpan({ "ai.model.id": "gpt-4.1", "ai.operationId": "ai.generateText" }), false);
    assert.equal(isLlmSpan({ "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4.1" }), true);
    assert.equal(spanToCall(span({ "http.request.method": "GET" })), undefined);
  });

  it("reads the GenAI span events and the span's times", () => {
    const call = spanToCall(
      span({ "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4.1" }, [
        { name: "gen_ai.system.message", timeUnixNano: "0", attributes: { content: "Be terse." } },
        { name: "gen_ai.user.message", timeUnixNano: "0", attributes: { content: "2+2?" } },
        {
          name: "gen_ai.choice",
          timeUnixNano: "0",
          attributes: { index: 0, finish_reason: "stop", message: '{"role":"assistant","content":"4"}' },
        },
      ]),
    );
    assert.ok(call);
    assert.deepEqual(call.request?.messages, [
      { role: "system", content: "Be terse." },
      { role: "user", content: "2+2?" },
    ]);
    assert.deepEqual(call.response?.choices, [
      { index: 0, message: { role: "assistant", content: "4" }, finish_reason: "stop" },
    ]);
    assert.equal(call.startedAt, 1_700_000_000_000);
    assert.equal(call.endedAt, 1_700_000_001_500);
    assert.deepEqual(call.tags, ["4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"]);
    assert.equal(call.id, "call_otlp_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7");
  });

  it("reads the AI SDK's doGenerate span: prompt parts, tool calls, usage and time to first chunk", () => {
    const call = spanToCall(
      span({
        "gen_ai.system": "openai.responses",
        "gen_ai.request.model": "gpt-4.1",
        "ai.prompt.messages": JSON.stringify([
          { role: "system", content: "You plan trips." },
          { role: "user", content: [{ type: "text", text: "Weather in Oslo?" }] },
        ]),
        "ai.response.toolCalls": JSON.stringify([
          { toolCallId: "tc1", toolName: "weather", input: '{"city":"Oslo"}' },
        ]),
        "ai.response.finishReason": "tool-calls",
        "ai.usage.inputTokens": 20,
        "ai.usage.outputTokens": 5,
        "ai.response.msToFirstChunk": 120,
        "ai.telemetry.metadata.userId": "u-1",
        "ai.telemetry.metadata.tenant": "acme",
      }),
    );
    assert.ok(call);
    assert.deepEqual(call.request?.messages, [
      { role: "system", content: "You plan trips." },
      { role: "user", content: "Weather in Oslo?" },
    ]);
    assert.deepEqual(call.response?.choices, toolCallChoices("tc1", "weather", '{"city":"Oslo"}'));
    assert.deepEqual(call.response?.usage, { prompt_tokens: 20, completion_tokens: 5, total_tokens: 25 });
    assert.equal(call.ttftMs, 120);
    assert.equal(call.userId, "u-1");
    assert.equal(call.metadata.tenant, "acme");
  });
});
