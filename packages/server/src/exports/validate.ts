/**
 * The validator: checks every row against its format's rules before it is written, and names the first rule
 * a row breaks (see `reasons.ts`). Rules:
 * - all formats: every message an object with role system, user, assistant or tool; text content (user and
 *   system messages may also carry content parts); at least one user message; every assistant turn has text
 *   or tool calls; every tool call has an id, a function name and JSON-object arguments (a JSON string for
 *   OpenAI), names a function listed in `tools` when tools are given, and is answered by a tool message with
 *   its id before the next turn; every tool message answers an earlier call;
 * - TRL and rewards formats also: system messages only at the start, and the conversation opens with a user
 *   turn and then alternates user and assistant (an assistant turn may be split by tool messages);
 * - SFT: the conversation ends with the assistant's answer;
 * - preference: the prompt does not end with an assistant turn; each output is exactly one assistant message
 *   and the two differ; KTO: `label` is a boolean; rewards: `reward` is a finite number.
 */
import { type Format, formatInfo, type Row } from "./formats.ts";
import type { Message } from "./model.ts";
import type { DropReason } from "./reasons.ts";

const ROLES = new Set(["system", "user", "assistant", "tool"]);

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const hasText = (v: unknown) => typeof v === "string" && v.trim().length > 0;

function contentValid(m: Message): boolean {
  const c = m.content;
  if (m.role === "assistant") return c === undefined || c === null || typeof c === "string";
  if (m.role === "tool") return typeof c === "string";
  if (typeof c === "string") return true;
  return Array.isArray(c) && c.length > 0 && c.every((p) => isObject(p) && typeof p.type === "string");
}

function toolCallReason(
  call: unknown,
  stringArgs: boolean,
  toolNames: Set<string> | null,
): DropReason | null {
  if (!isObject(call) || typeof call.id !== "string" || call.id === "" || !isObject(call.function))
    return "invalid_tool_call";
  const fn = call.function;
  if (typeof fn.name !== "string" || fn.name === "" || fn.arguments === undefined) return "invalid_tool_call";
  let args: unknown = fn.arguments;
  if (typeof args === "string") {
    try {
      args = JSON.parse(args);
    } catch {
      return "invalid_tool_arguments";
    }
  } else if (stringArgs) return "invalid_tool_arguments";
  if (!isObject(args)) return "invalid_tool_arguments";
  if (toolNames && !toolNames.has(fn.name)) return "unknown_tool";
  return null;
}

function toolNamesOf(tools: unknown): Set<string> | null {
  if (!Array.isArray(tools) || tools.length === 0) return null;
  const names = new Set<string>();
  for (const t of tools) {
    const name = isObject(t) && isObject(t.function) ? t.function.name : undefined;
    if (typeof name === "string") names.add(name);
  }
  return names;
}

interface ConversationRules {
  strictTurns: boolean;
  stringArgs: boolean;
  toolNames: Set<string> | null;
  /** Tool calls of the last message are what the model should emit: nothing answers them yet. */
  lastAnswersPending: boolean;
}

/** Checks a message list; returns the first rule it breaks, or null. */
export function conversationReason(messages: unknown, rules: ConversationRules): DropReason | null {
  if (!Array.isArray(messages) || messages.length === 0) return "invalid_row";
  let pending = new Set<string>();
  let started = false;
  let previous: string | null = null;
  let sawUser = false;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as Message;
    if (!isObject(m)) return "invalid_message";
    if (!ROLES.has(m.role)) return "invalid_role";
    if (!contentValid(m)) return "invalid_content";
    if (m.role === "tool") {
      if (m.tool_call_id === undefined || !pending.delete(m.tool_call_id)) return "orphan_tool_message";
      continue;
    }
    if (pending.size > 0) return "unanswered_tool_call";
    if (m.role === "system") {
      if (rules.strictTurns && started) return "system_not_first";
      continue;
    }
    if (m.role === "user") sawUser = true;
    if (rules.strictTurns) {
      // An assistant turn split by tool messages is one turn: previous is only reset by user/assistant.
      if (!started && m.role !== "user") return "not_alternating";
      if (previous === m.role && !(m.role === "assistant" && messages[i - 1]?.role === "tool"))
        return "not_alternating";
    }
    started = true;
    previous = m.role;
    if (m.role === "assistant") {
      const calls = m.tool_calls;
      if (calls !== undefined && (!Array.isArray(calls) || calls.length === 0)) return "invalid_tool_call";
      if (!hasText(m.content) && !calls?.length) return "empty_assistant_turn";
      const isLast = i === messages.length - 1;
      pending = new Set();
      for (const c of calls ?? []) {
        const reason = toolCallReason(c, rules.stringArgs, rules.toolNames);
        if (reason) return reason;
        if (!(isLast && rules.lastAnswersPending)) pending.add((c as { id: string }).id);
      }
    }
  }
  if (pending.size > 0) return "unanswered_tool_call";
  if (!sawUser) return "missing_user_message";
  return null;
}

function singleAssistant(output: unknown): Message | null {
  if (!Array.isArray(output) || output.length !== 1) return null;
  const m = output[0] as Message;
  return isObject(m) && m.role === "assistant" ? m : null;
}

function outputsReason(prompt: unknown, outputs: unknown[], rules: ConversationRules): DropReason | null {
  if (!Array.isArray(prompt)) return "invalid_row";
  const last = prompt.at(-1) as Message | undefined;
  if (isObject(last) && last.role === "assistant") return "prompt_ends_with_assistant";
  const promptReason = conversationReason(prompt, { ...rules, lastAnswersPending: false });
  if (promptReason) return promptReason;
  for (const output of outputs) {
    const answer = singleAssistant(output);
    if (!answer) return "output_not_single_assistant";
    const reason = conversationReason([...prompt, answer], rules);
    if (reason) return reason;
  }
  return null;
}

/** Validates one row of `format`; returns the first rule it breaks, or null when it is fit to train on. */
export function validateRow(format: Format, row: Row): DropReason | null {
  if (!isObject(row)) return "invalid_row";
  const info = formatInfo[format];
  const input = format === "openai-dpo" ? row.input : row;
  if (!isObject(input)) return "invalid_row";
  const rules: ConversationRules = {
    strictTurns: info.strictTurns,
    stringArgs: info.target === "openai",
    toolNames: toolNamesOf(input.tools),
    lastAnswersPending: true,
  };
  switch (format) {
    case "openai-sft":
    case "trl-sft": {
      const messages = row.messages;
      if (!Array.isArray(messages) || messages.length === 0) return "invalid_row";
      const last = messages.at(-1) as Message;
      if (!isObject(last) || last.role !== "assistant") return "last_not_assistant";
      return conversationReason(messages, rules);
    }
    case "openai-dpo":
    case "trl-dpo": {
      const [prompt, chosen, rejected] =
        format === "openai-dpo"
          ? [input.messages, row.preferred_output, row.non_preferred_output]
          : [row.prompt, row.chosen, row.rejected];
      const reason = outputsReason(prompt, [chosen, rejected], rules);
      if (reason) return reason;
      return JSON.stringify(chosen) === JSON.stringify(rejected) ? "identical_outputs" : null;
    }
    case "trl-kto": {
      if (typeof row.label !== "boolean") return "label_not_boolean";
      return outputsReason(row.prompt, [row.completion], rules);
    }
    case "rewards": {
      if (typeof row.reward !== "number" || !Number.isFinite(row.reward)) return "reward_not_number";
      if (!Array.isArray(row.annotations)) return "invalid_row";
      return outputsReason(row.messages, [row.completion], rules);
    }
  }
}
