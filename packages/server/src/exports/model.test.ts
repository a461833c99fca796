import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  answerOf,
  correctionMessage,
  correctionOf,
  type ExportAnnotation,
  type ExportCall,
  normalizeMessage,
  promptOf,
  rewardOf,
} from "./model.ts";

const ann = (over: Partial<ExportAnnotation>): ExportAnnotation => ({
  id: "a",
  key: "k",
  name: "reward",
  numericReward: null,
  content: null,
  data: null,
  comment: null,
  correction: null,
  source: "code",
  annotatorId: null,
  createdAt: 0,
  ...over,
});

const callWith = (request: unknown, response: unknown): ExportCall => ({
  id: "call_1",
  completionId: null,
  sessionId: null,
  userId: null,
  startedAt: 0,
  request: request as Record<string, unknown>,
  response: response as Record<string, unknown>,
});

describe("normalizeMessage", () => {
  it("should drop keys fine-tuning validators reject and omit null content beside tool calls", () => {
    const m = normalizeMessage(
      {
        role: "assistant",
        content: null,
        refusal: null,
        annotations: [],
        audio: null,
        tool_calls: [{ index: 0, id: "c1", type: "function", function: { name: "f", arguments: "{}" } }],
      },
      "openai",
    );
    assert.deepEqual(m, {
      role: "assistant",
      tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }],
    });
  });

  it("should turn developer into system and join an assistant's text parts", () => {
    assert.deepEqual(normalizeMessage({ role: "developer", content: "Be brief." }, "openai"), {
      role: "system",
      content: "Be brief.",
    });
    assert.deepEqual(
      normalizeMessage(
        {
          role: "assistant",
          content: [
            { type: "text", text: "a" },
            { type: "text", text: "b" },
          ],
        },
        "trl",
      ),
      { role: "assistant", content: "ab" },
    );
  });

  it("should parse tool arguments into an object for TRL only, and keep unparseable ones as text", () => {
    const raw = {
      role: "assistant",
      tool_calls: [{ id: "c", type: "function", function: { name: "f", arguments: '{"x":1}' } }],
    };
    assert.deepEqual(normalizeMessage(raw, "trl").tool_calls?.[0]?.function.arguments, { x: 1 });
    assert.equal(normalizeMessage(raw, "openai").tool_calls?.[0]?.function.arguments, '{"x":1}');
    const broken = { role: "assistant", tool_calls: [{ id: "c", function: { name: "f", arguments: "{x" } }] };
    assert.equal(normalizeMessage(broken, "trl").tool_calls?.[0]?.function.arguments, "{x");
  });
});

describe("promptOf", () => {
  it("should name the function each tool message answers for TRL", () => {
    const call = callWith(
      {
        messages: [
          { role: "user", content: "w?" },
          {
            role: "assistant",
            tool_calls: [{ id: "c1", type: "function", function: { name: "get_weather", arguments: "{}" } }],
          },
          { role: "tool", tool_call_id: "c1", content: "18C" },
        ],
        tools: [],
      },
      null,
    );
    const trl = promptOf(call, "trl");
    assert.ok(trl.ok);
    assert.deepEqual(trl.value.messages[2], {
      role: "tool",
      name: "get_weather",
      content: "18C",
      tool_call_id: "c1",
    });
    assert.equal(trl.value.tools, undefined, "an empty tools list is left out");
    const openai = promptOf(call, "openai");
    assert.ok(openai.ok);
    assert.deepEqual(openai.value.messages[2], { role: "tool", content: "18C", tool_call_id: "c1" });
  });

  it("should refuse a call without messages as not_chat", () => {
    assert.deepEqual(promptOf(callWith({ input: "x" }, null), "openai"), { ok: false, reason: "not_chat" });
  });
});

describe("answerOf", () => {
  const response = (finish: string) => ({
    choices: [{ finish_reason: finish, message: { role: "assistant", content: "x" } }],
  });
  it("should take the first choice and refuse cut-off, filtered and missing answers", () => {
    assert.deepEqual(answerOf(callWith({}, response("stop")), "openai"), {
      ok: true,
      value: { role: "assistant", content: "x" },
    });
    assert.deepEqual(answerOf(callWith({}, response("length")), "openai"), {
      ok: false,
      reason: "answer_truncated",
    });
    assert.deepEqual(answerOf(callWith({}, response("content_filter")), "openai"), {
      ok: false,
      reason: "answer_filtered",
    });
    assert.deepEqual(answerOf(callWith({}, { error: { message: "boom" } }), "openai"), {
      ok: false,
      reason: "no_answer",
    });
    assert.deepEqual(answerOf(callWith({}, null), "openai"), { ok: false, reason: "no_answer" });
  });
});

describe("correctionOf", () => {
  it("should prefer a human's correction over newer ones from other sources, then the newest", () => {
    const list = [
      ann({ id: "j", source: "judge", correction: "judge", createdAt: 30 }),
      ann({ id: "h1", source: "human", correction: "old human", createdAt: 10 }),
      ann({ id: "h2", source: "human", correction: "new human", createdAt: 20 }),
      ann({ id: "u", source: "user", correction: "user", createdAt: 40 }),
      ann({ id: "n", source: "human", createdAt: 50 }),
    ];
    assert.equal(correctionOf(list)?.id, "h2");
    assert.equal(correctionOf(list.filter((a) => a.source !== "human"))?.id, "u");
    assert.equal(correctionOf([ann({})]), undefined);
  });

  it("should turn a text or message correction into an assistant message", () => {
    assert.deepEqual(correctionMessage("Bonjour", "openai"), { role: "assistant", content: "Bonjour" });
    assert.deepEqual(correctionMessage({ content: "Hi", weight: 1 }, "openai"), {
      role: "assistant",
      content: "Hi",
    });
  });
});

describe("rewardOf", () => {
  it("should average the numeric rewards of annotations with the given name only", () => {
    const list = [
      ann({ numericReward: 1 }),
      ann({ numericReward: 0 }),
      ann({ numericReward: null }),
      ann({ name: "helpful", numericReward: 5 }),
    ];
    assert.equal(rewardOf(list, "reward"), 0.5);
    assert.equal(rewardOf(list, "helpful"), 5);
    assert.equal(rewardOf(list, "other"), undefined);
  });
});
