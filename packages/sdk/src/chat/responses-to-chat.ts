/**
 * An OpenAI Responses API call (`POST /v1/responses`) in the chat shape (convert.ts says the conventions).
 *
 * Request: `instructions` is the system message; `input` (a string, or items) becomes the messages: message items
 * keep their role (developer included) and parts (`input_text` -> `text`, `input_image` -> `image_url`,
 * `input_file` -> `file`), consecutive output items of one turn (reasoning, message, function calls) are one
 * assistant message, `function_call_output` is a `tool` message; `tools` of type function become chat's function
 * tools, others (built-in tools) are kept as given; `text.format` is `response_format`, `reasoning.effort`
 * `reasoning_effort`, `max_output_tokens` `max_completion_tokens`.
 * Response: the output items are one choice's message (text joined, refusals, function and built-in tool calls,
 * reasoning summaries as `reasoning_content`, citations as `annotations`); `status` and `incomplete_details` give
 * the finish reason; usage is chat's. `previous_response_id` has no chat equivalent: the conversation it continues
 * lives in the earlier call; the original keeps the field.
 * Items chat cannot represent (`item_reference`, MCP listings and approvals...) throw a ConversionError.
 */
import { isJsonObject } from "./access.ts";
import {
  type ChatCall,
  ConversionError,
  chatError,
  copyFields,
  functionCall,
  num,
  objectAt,
  str,
} from "./convert.ts";
import type { ChatToolCall, JsonObject } from "./types.ts";

type Message = JsonObject & { role: string; tool_calls?: ChatToolCall[] };

/** Fields with the same name and meaning in both requests. */
const SAME_REQUEST_FIELDS = [
  "model",
  "temperature",
  "top_p",
  "parallel_tool_calls",
  "user",
  "metadata",
  "store",
  "stream",
  "service_tier",
  "top_logprobs",
  "safety_identifier",
  "prompt_cache_key",
] as const;

/** A request content part in chat's shape. */
function chatPart(part: unknown, where: string): JsonObject {
  const p = objectAt(part, where);
  switch (p.type) {
    case "input_text":
    case "output_text":
    case "text":
      return { type: "text", text: str(p.text) ?? "" };
    case "input_image": {
      const url = str(p.image_url);
      if (url !== undefined) {
        const image: JsonObject = { url };
        if (p.detail !== undefined) image.detail = p.detail;
        return { type: "image_url", image_url: image };
      }
      if (str(p.file_id)) return { type: "file", file: { file_id: p.file_id } };
      throw new ConversionError(`${where}: an input_image without image_url or file_id`);
    }
    case "input_file": {
      const file: JsonObject = {};
      copyFields(file, p, ["file_id", "file_data", "filename", "file_url"]);
      return { type: "file", file };
    }
    case "input_audio":
      return { type: "input_audio", input_audio: p.input_audio };
    default:
      throw new ConversionError(
        `${where}: content part of type ${JSON.stringify(p.type)} has no chat equivalent`,
      );
  }
}

/** A message's content in chat's shape: a string stays one, parts are mapped. */
function chatContent(content: unknown, where: string): string | JsonObject[] | null {
  if (typeof content === "string") return content;
  if (content === undefined || content === null) return null;
  if (!Array.isArray(content))
    throw new ConversionError(`${where}.content is neither text nor a list of parts`);
  return content.map((p, i) => chatPart(p, `${where}.content[${i}]`));
}

/** The text and refusal of an assistant message's output parts, and its citations. */
function assistantParts(
  content: unknown,
  where: string,
): { text?: string; refusal?: string; annotations: JsonObject[] } {
  if (typeof content === "string") return { text: content, annotations: [] };
  if (!Array.isArray(content)) return { annotations: [] };
  const texts: string[] = [];
  const refusals: string[] = [];
  const annotations: JsonObject[] = [];
  content.forEach((raw, i) => {
    const p = objectAt(raw, `${where}.content[${i}]`);
    if (p.type === "refusal") refusals.push(str(p.refusal) ?? "");
    else if (p.type === "output_text" || p.type === "input_text" || p.type === "text") {
      texts.push(str(p.text) ?? "");
      if (Array.isArray(p.annotations)) annotations.push(...p.annotations.flatMap(citation));
    } else {
      throw new ConversionError(
        `${where}.content[${i}]: content part of type ${JSON.stringify(p.type)} has no chat equivalent`,
      );
    }
  });
  return {
    text: texts.length ? texts.join("") : undefined,
    refusal: refusals.length ? refusals.join("") : undefined,
    annotations,
  };
}

/** A URL citation in chat's shape (other annotation kinds have none). */
function citation(a: unknown): JsonObject[] {
  if (!isJsonObject(a) || a.type !== "url_citation") return [];
  const c: JsonObject = {};
  copyFields(c, a, ["url", "title", "start_index", "end_index"]);
  return [{ type: "url_citation", url_citation: c }];
}

/** The reasoning text of a reasoning item: its summary, else its raw reasoning text (open-weight models). */
function reasoningText(item: JsonObject): string | undefined {
  return joinedPieces(item.summary) ?? joinedPieces(item.content);
}

function joinedPieces(parts: unknown): string | undefined {
  if (!Array.isArray(parts)) return undefined;
  const texts = parts.flatMap((p) => (isJsonObject(p) && typeof p.text === "string" ? [p.text] : []));
  return texts.length ? texts.join("\n\n") : undefined;
}

/**
 * A tool call item as a chat tool call: a function or custom tool's with its arguments; a built-in tool's
 * (`web_search_call`, `code_interpreter_call`...) named after its tool, with what the item says of it
 * (action, queries, code, results) as its arguments. Undefined for an item that is no tool call.
 */
function toolCallOf(item: JsonObject, where: string): ChatToolCall | undefined {
  const type = str(item.type) ?? "";
  const id = str(item.call_id) ?? str(item.id) ?? "";
  if (type === "function_call") {
    const name = str(item.name);
    if (name === undefined) throw new ConversionError(`${where}: a function_call without a name`);
    return functionCall(id, name, item.arguments ?? "");
  }
  if (type === "custom_tool_call") return functionCall(id, str(item.name) ?? "", str(item.input) ?? "");
  if (type === "mcp_call") return functionCall(id, str(item.name) ?? "", item.arguments ?? "");
  if (type.endsWith("_call")) {
    const { type: _t, id: _i, call_id: _c, status: _s, ...rest } = item;
    return functionCall(id, type.slice(0, -"_call".length), rest);
  }
  return undefined;
}

/** Whether a tool call is one the caller must answer (a function or custom tool), not one the provider ran. */
const callerTool = (item: JsonObject) => item.type === "function_call" || item.type === "custom_tool_call";

/** The `input` items as chat messages, after the system message made of `instructions`. */
function chatMessages(request: JsonObject): JsonObject[] {
  const messages: Message[] = [];
  const instructions = request.instructions;
  if (typeof instructions === "string" && instructions !== "")
    messages.push({ role: "system", content: instructions });
  else if (Array.isArray(instructions)) {
    // Instructions given as input items (a reusable prompt's) are messages like any other.
    messages.push(...itemsToMessages(instructions, "instructions"));
  }
  const input = request.input;
  if (typeof input === "string") messages.push({ role: "user", content: input });
  else if (Array.isArray(input)) messages.push(...itemsToMessages(input, "input"));
  else if (input !== undefined && input !== null)
    throw new ConversionError("input is neither text nor a list of items");
  return messages;
}

function itemsToMessages(items: unknown[], where: string): Message[] {
  const messages: Message[] = [];
  // The assistant message the current turn's output items go into; any other message ends the turn.
  let turn: Message | undefined;
  const assistant = (): Message => {
    if (!turn) {
      turn = { role: "assistant", content: null };
      messages.push(turn);
    }
    return turn;
  };
  items.forEach((raw, i) => {
    const at = `${where}[${i}]`;
    const item = objectAt(raw, at);
    const type = item.type ?? "message";
    if (type === "message") {
      const role = str(item.role);
      if (!role) throw new ConversionError(`${at}: a message without a role`);
      if (role === "assistant") {
        const parts = assistantParts(item.content, at);
        // Text after tool calls starts another assistant message, as chat orders them.
        if (turn && (turn.content !== null || turn.tool_calls)) turn = undefined;
        const m = assistant();
        m.content = parts.text ?? null;
        if (parts.refusal !== undefined) m.refusal = parts.refusal;
        if (parts.annotations.length) m.annotations = parts.annotations;
        return;
      }
      turn = undefined;
      messages.push({ role, content: chatContent(item.content, at) });
      return;
    }
    if (type === "reasoning") {
      if (turn && (turn.content !== null || turn.tool_calls)) turn = undefined;
      const text = reasoningText(item);
      if (text !== undefined) {
        const m = assistant();
        m.reasoning_content =
          typeof m.reasoning_content === "string" ? `${m.reasoning_content}\n\n${text}` : text;
      } else assistant();
      return;
    }
    const call = toolCallOf(item, at);
    if (call) {
      const m = assistant();
      m.tool_calls = [...(m.tool_calls ?? []), call];
      return;
    }
    if (typeof type === "string" && type.endsWith("_call_output")) {
      turn = undefined;
      const output = item.output;
      const content =
        typeof output === "string"
          ? output
          : Array.isArray(output) && output.every((p) => isJsonObject(p) && typeof p.type === "string")
            ? output.map((p, j) => chatPart(p, `${at}.output[${j}]`))
            : JSON.stringify(output ?? null);
      messages.push({ role: "tool", tool_call_id: str(item.call_id) ?? str(item.id) ?? "", content });
      return;
    }
    throw new ConversionError(`${at}: an item of type ${JSON.stringify(type)} has no chat equivalent`);
  });
  return messages;
}

/** Chat's `response_format` for `text.format`, or undefined for plain text. */
function responseFormat(text: unknown): JsonObject | undefined {
  if (!isJsonObject(text) || !isJsonObject(text.format)) return undefined;
  const f = text.format;
  if (f.type === "json_object") return { type: "json_object" };
  if (f.type !== "json_schema") return undefined;
  const schema: JsonObject = {};
  copyFields(schema, f, ["name", "description", "schema", "strict"]);
  return { type: "json_schema", json_schema: schema };
}

function chatTool(tool: unknown, where: string): JsonObject {
  const t = objectAt(tool, where);
  if (t.type === "function") {
    const fn: JsonObject = {};
    copyFields(fn, t, ["name", "description", "parameters", "strict"]);
    return { type: "function", function: fn };
  }
  if (t.type === "custom") {
    const custom: JsonObject = {};
    copyFields(custom, t, ["name", "description", "format"]);
    return { type: "custom", custom };
  }
  // Built-in tools (web_search, file_search, code_interpreter, mcp...) have no chat form: kept as given.
  return t;
}

function chatToolChoice(choice: unknown): unknown {
  if (isJsonObject(choice) && choice.type === "function")
    return { type: "function", function: { name: choice.name } };
  if (isJsonObject(choice) && choice.type === "custom")
    return { type: "custom", custom: { name: choice.name } };
  return choice;
}

/** The request in chat's shape. */
export function responsesRequestToChat(request: unknown): JsonObject {
  const r = objectAt(request, "request");
  const out: JsonObject = {};
  copyFields(out, r, SAME_REQUEST_FIELDS);
  out.messages = chatMessages(r);
  if (Array.isArray(r.tools)) out.tools = r.tools.map((t, i) => chatTool(t, `tools[${i}]`));
  if (r.tool_choice !== undefined) out.tool_choice = chatToolChoice(r.tool_choice);
  if (r.max_output_tokens !== undefined) out.max_completion_tokens = r.max_output_tokens;
  if (isJsonObject(r.reasoning) && r.reasoning.effort !== undefined)
    out.reasoning_effort = r.reasoning.effort;
  const format = responseFormat(r.text);
  if (format) out.response_format = format;
  if (isJsonObject(r.text) && r.text.verbosity !== undefined) out.verbosity = r.text.verbosity;
  return out;
}

/** Chat's usage for a Responses usage (whose input tokens already count the cached ones, as chat's do). */
export function responsesUsage(usage: unknown): JsonObject | undefined {
  if (!isJsonObject(usage)) return undefined;
  const input = num(usage.input_tokens);
  const output = num(usage.output_tokens);
  const out: JsonObject = {
    prompt_tokens: input ?? 0,
    completion_tokens: output ?? 0,
    total_tokens: num(usage.total_tokens) ?? (input ?? 0) + (output ?? 0),
  };
  const cached = isJsonObject(usage.input_tokens_details)
    ? num(usage.input_tokens_details.cached_tokens)
    : undefined;
  if (cached !== undefined) out.prompt_tokens_details = { cached_tokens: cached };
  const reasoning = isJsonObject(usage.output_tokens_details)
    ? num(usage.output_tokens_details.reasoning_tokens)
    : undefined;
  if (reasoning !== undefined) out.completion_tokens_details = { reasoning_tokens: reasoning };
  return out;
}

/** The finish reason a response's status stands for; null while it runs, when it failed or was cancelled. */
function finishReason(r: JsonObject, callsForCaller: boolean): string | null {
  if (r.status === "completed") return callsForCaller ? "tool_calls" : "stop";
  if (r.status === "incomplete") {
    const reason = isJsonObject(r.incomplete_details) ? r.incomplete_details.reason : undefined;
    if (reason === "max_output_tokens") return "length";
    if (reason === "content_filter") return "content_filter";
  }
  return null;
}

/** The response (a `response` object, or an error body) in chat's shape. */
export function responsesResponseToChat(response: unknown): JsonObject | null {
  if (response === null || response === undefined) return null;
  const r = objectAt(response, "response");
  // An error answer (`{"error": {...}}` with a 4xx or 5xx) has the same shape in both protocols.
  if (r.object !== "response" && r.error !== undefined && r.output === undefined)
    return { error: chatError(r.error) };
  const output = r.output ?? [];
  if (!Array.isArray(output)) throw new ConversionError("response.output is not a list");
  const message: Message = { role: "assistant", content: null };
  const texts: string[] = [];
  const refusals: string[] = [];
  const reasoning: string[] = [];
  const annotations: JsonObject[] = [];
  const toolCalls: ChatToolCall[] = [];
  let callsForCaller = false;
  output.forEach((raw, i) => {
    const at = `response.output[${i}]`;
    const item = objectAt(raw, at);
    if (item.type === "message") {
      const parts = assistantParts(item.content, at);
      if (parts.text !== undefined) texts.push(parts.text);
      if (parts.refusal !== undefined) refusals.push(parts.refusal);
      annotations.push(...parts.annotations);
      return;
    }
    if (item.type === "reasoning") {
      const text = reasoningText(item);
      if (text !== undefined) reasoning.push(text);
      return;
    }
    const call = toolCallOf(item, at);
    if (call) {
      toolCalls.push(call);
      if (callerTool(item)) callsForCaller = true;
      return;
    }
    throw new ConversionError(`${at}: an item of type ${JSON.stringify(item.type)} has no chat equivalent`);
  });
  if (texts.length) message.content = texts.join("");
  if (refusals.length) message.refusal = refusals.join("");
  if (reasoning.length) message.reasoning_content = reasoning.join("\n\n");
  if (toolCalls.length) message.tool_calls = toolCalls;
  if (annotations.length) message.annotations = annotations;
  const out: JsonObject = {
    id: str(r.id) ?? "",
    object: "chat.completion",
    created: num(r.created_at) ?? 0,
    model: str(r.model) ?? "",
    choices: [{ index: 0, message, finish_reason: finishReason(r, callsForCaller), logprobs: null }],
  };
  const usage = responsesUsage(r.usage);
  if (usage) out.usage = usage;
  if (r.service_tier !== undefined) out.service_tier = r.service_tier;
  if (r.error !== undefined && r.error !== null) out.error = chatError(r.error);
  return out;
}

/**
 * A Responses call in the chat shape: `request` a `POST /v1/responses` body, `response` the `response` object it
 * answered (a stream's final one) or its error body, or null. Throws a ConversionError naming what chat cannot hold.
 */
export function responsesToChat(request: unknown, response: unknown): ChatCall {
  return { request: responsesRequestToChat(request), response: responsesResponseToChat(response) };
}
