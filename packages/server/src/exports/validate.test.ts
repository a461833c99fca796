import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Format, Row } from "./formats.ts";
import { dropReasons } from "./reasons.ts";
import { validateRow } from "./validate.ts";

const u = (content: unknown = "Hi") => ({ role: "user", content });
const a = (content: unknown = "Hello") => ({ role: "assistant", content });
const sys = (content = "Be brief.") => ({ role: "system", content });
const toolCall = (id = "c1", name = "get_weather", args: unknown = '{"city":"Paris"}') => ({
  id,
  type: "function",
  function: { name, arguments: args },
});
const callsTool = (...calls: unknown[]) => ({ role: "assistant", tool_calls: calls });
const toolMsg = (id = "c1", content = "18C") => ({ role: "tool", tool_call_id: id, content });
const weather = [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }];

const sft = (messages: unknown[], extra: Row = {}): Row => ({ messages, ...extra });
const dpo = (prompt: unknown[], chosen: unknown, rejected: unknown): Row => ({
  input: { messages: prompt },
  preferred_output: chosen,
  non_preferred_output: rejected,
});
const trlDpo = (prompt: unknown[], chosen: unknown, rejected: unknown): Row => ({ prompt, chosen, rejected });

describe("validateRow", () => {
  it("should accept a well-formed row of every format", () => {
    const good: Array<[Format, Row]> = [
      [
        "openai-sft",
        sft([sys(), u(), callsTool(toolCall()), toolMsg(), a("18C in Paris")], { tools: weather }),
      ],
      [
        "trl-sft",
        sft([sys(), u(), callsTool(toolCall("c1", "get_weather", { city: "Paris" })), toolMsg(), a()]),
      ],
      ["openai-dpo", dpo([u()], [a("Good")], [a("Bad")])],
      ["trl-dpo", trlDpo([u()], [a("Good")], [a("Bad")])],
      ["trl-kto", { prompt: [u()], completion: [a()], label: false }],
      ["rewards", { messages: [u()], completion: [a()], reward: 0.25, annotations: [] }],
    ];
    for (const [format, row] of good) assert.equal(validateRow(format, row), null, format);
  });

  it("should accept a tool call as the answer without a tool message after it", () => {
    assert.equal(validateRow("openai-sft", sft([u(), callsTool(toolCall())], { tools: weather })), null);
  });

  it("should allow consecutive user turns for OpenAI but not for TRL", () => {
    const row = sft([u("Hi"), u("Still there?"), a()]);
    assert.equal(validateRow("openai-sft", row), null);
    assert.equal(validateRow("trl-sft", row), "not_alternating");
  });

  // Each malformed case the validator claims to reject, with the reason it must give.
  const bad: Array<[string, Format, Row, keyof typeof dropReasons]> = [
    ["no messages", "openai-sft", {}, "invalid_row"],
    ["empty messages", "trl-sft", sft([]), "invalid_row"],
    [
      "DPO without input",
      "openai-dpo",
      { preferred_output: [a()], non_preferred_output: [a("x")] },
      "invalid_row",
    ],
    [
      "rewards without annotations",
      "rewards",
      { messages: [u()], completion: [a()], reward: 1 },
      "invalid_row",
    ],
    ["a message that is a string", "openai-sft", sft(["hello", a()]), "invalid_message"],
    ["an unknown role", "openai-sft", sft([{ role: "bot", content: "x" }, a()]), "invalid_role"],
    [
      "the deprecated function role",
      "openai-sft",
      sft([u(), { role: "function", name: "f", content: "1" }, a()]),
      "invalid_role",
    ],
    ["user content a number", "openai-sft", sft([u(42), a()]), "invalid_content"],
    ["assistant content parts", "openai-sft", sft([u(), a([{ type: "image_url" }])]), "invalid_content"],
    [
      "tool content an object",
      "openai-sft",
      sft([u(), callsTool(toolCall()), { role: "tool", tool_call_id: "c1", content: { t: 1 } }, a()]),
      "invalid_content",
    ],
    ["no user message", "openai-sft", sft([sys(), a()]), "missing_user_message"],
    ["TRL opening with the assistant", "trl-sft", sft([a("Hi!"), u(), a()]), "not_alternating"],
    ["TRL with two assistant turns in a row", "trl-sft", sft([u(), a("One"), a("Two")]), "not_alternating"],
    [
      "TRL with a system message mid-conversation",
      "trl-sft",
      sft([u(), a(), sys(), u(), a()]),
      "system_not_first",
    ],
    [
      "a tool call without id",
      "openai-sft",
      sft([u(), callsTool({ type: "function", function: { name: "f", arguments: "{}" } })]),
      "invalid_tool_call",
    ],
    [
      "a tool call without a function name",
      "openai-sft",
      sft([u(), callsTool({ id: "c1", type: "function", function: { arguments: "{}" } })]),
      "invalid_tool_call",
    ],
    [
      "an empty tool_calls array",
      "openai-sft",
      sft([u(), { role: "assistant", content: "x", tool_calls: [] }]),
      "invalid_tool_call",
    ],
    [
      "tool arguments that are not JSON",
      "openai-sft",
      sft([u(), callsTool(toolCall("c1", "get_weather", "{city: Paris"))]),
      "invalid_tool_arguments",
    ],
    [
      "tool arguments a JSON array",
      "trl-sft",
      sft([u(), callsTool(toolCall("c1", "get_weather", "[1]"))]),
      "invalid_tool_arguments",
    ],
    [
      "OpenAI tool arguments as an object",
      "openai-sft",
      sft([u(), callsTool(toolCall("c1", "get_weather", { city: "Paris" }))]),
      "invalid_tool_arguments",
    ],
    [
      "a call to a tool not in tools",
      "openai-sft",
      sft([u(), callsTool(toolCall("c1", "send_email", "{}"))], { tools: weather }),
      "unknown_tool",
    ],
    [
      "a tool call left unanswered before the next turn",
      "openai-sft",
      sft([u(), callsTool(toolCall()), u("Never mind"), a()]),
      "unanswered_tool_call",
    ],
    [
      "a tool call left unanswered at the end of a prompt",
      "openai-dpo",
      dpo([u(), callsTool(toolCall("c1"), toolCall("c2")), toolMsg("c1")], [a("x")], [a("y")]),
      "unanswered_tool_call",
    ],
    ["a tool message answering nothing", "openai-sft", sft([u(), toolMsg("c9"), a()]), "orphan_tool_message"],
    [
      "a tool message answering another id",
      "openai-sft",
      sft([u(), callsTool(toolCall("c1")), toolMsg("c2"), a()]),
      "orphan_tool_message",
    ],
    ["an empty answer", "openai-sft", sft([u(), a("  ")]), "empty_assistant_turn"],
    ["a null answer without tool calls", "trl-sft", sft([u(), a(null)]), "empty_assistant_turn"],
    [
      "an empty assistant turn in the history",
      "openai-sft",
      sft([u(), a(""), u(), a()]),
      "empty_assistant_turn",
    ],
    ["a conversation ending with the user", "openai-sft", sft([u(), a(), u()]), "last_not_assistant"],
    [
      "a DPO prompt ending with the assistant",
      "openai-dpo",
      dpo([u(), a()], [a("x")], [a("y")]),
      "prompt_ends_with_assistant",
    ],
    [
      "two preferred messages",
      "openai-dpo",
      dpo([u()], [a("x"), a("y")], [a("z")]),
      "output_not_single_assistant",
    ],
    [
      "a user message as the rejected output",
      "trl-dpo",
      trlDpo([u()], [a("x")], [u("y")]),
      "output_not_single_assistant",
    ],
    [
      "an output that is not a list",
      "trl-dpo",
      trlDpo([u()], a("x"), [a("y")]),
      "output_not_single_assistant",
    ],
    [
      "a KTO completion of two messages",
      "trl-kto",
      { prompt: [u()], completion: [a(), a()], label: true },
      "output_not_single_assistant",
    ],
    [
      "identical preferred and rejected",
      "openai-dpo",
      dpo([u()], [a("Same")], [a("Same")]),
      "identical_outputs",
    ],
    [
      "a KTO label that is a number",
      "trl-kto",
      { prompt: [u()], completion: [a()], label: 1 },
      "label_not_boolean",
    ],
    [
      "a reward that is not finite",
      "rewards",
      { messages: [u()], completion: [a()], reward: Number.NaN, annotations: [] },
      "reward_not_number",
    ],
    [
      "a reward given as text",
      "rewards",
      { messages: [u()], completion: [a()], reward: "1", annotations: [] },
      "reward_not_number",
    ],
  ];
  for (const [what, format, row, reason] of bad) {
    it(`should reject ${what} (${format}) as ${reason}`, () => {
      assert.equal(validateRow(format, row), reason);
    });
  }

  it("should name a rule for every validator reason it documents", () => {
    const claimed = new Set(bad.map(([, , , r]) => r));
    const validatorReasons = Object.keys(dropReasons).filter(
      (r) =>
        !r.startsWith("pair_") &&
        // Decided before validation, by the model (model.ts; not_convertible: calls/protocols.test.ts).
        ![
          "not_chat",
          "not_convertible",
          "no_answer",
          "answer_truncated",
          "answer_filtered",
          "no_reward",
          "duplicate",
        ].includes(r),
    );
    for (const r of validatorReasons)
      assert.ok(claimed.has(r as keyof typeof dropReasons), `no test rejects ${r}`);
  });
});
