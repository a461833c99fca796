/**
 * An Anthropic Messages call (`POST /v1/messages`) in the chat shape (convert.ts says the conventions).
 *
 * Request: `system` (text or text blocks) is the system message; each message's blocks map to chat's: `text` ->
 * text part, `image` / `document` -> `image_url` (a data: URL for base64) / `file`, an assistant's `tool_use`
 * (and `server_tool_use`) -> tool calls with the input as JSON arguments, `thinking` -> `reasoning_content`,
 * a user's `tool_result` -> a `tool` message before the rest of that user turn; `tools` with an `input_schema`
 * become function tools, server tools are kept as given; `tool_choice` any -> required, tool -> function;
 * `stop_sequences` -> `stop`; `metadata.user_id` -> `user`.
 * Response: the content blocks are one choice's message; `stop_reason` gives the finish reason (end_turn,
 * stop_sequence, pause_turn -> stop; max_tokens -> length; tool_use -> tool_calls; refusal -> content_filter);
 * usage is chat's: Anthropic's `input_tokens` leave out the cache, so `prompt_tokens` adds the tokens read from and
 * written to it, and `prompt_tokens_details` tells them apart (`cached_tokens`, `cache_creation_tokens`).
 * `redacted_thinking` holds no text and the results of server tools have no place in a chat answer: both stay in
 * the original only. Blocks chat cannot represent at all throw a ConversionError.
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

/** A base64, URL, file or text source as a chat part (`image` makes image parts, anything else file parts). */
function sourcePart(kind: "image" | "document", block: JsonObject, where: string): JsonObject {
  const source = objectAt(block.source, `${where}.source`);
  if (source.type === "base64") {
    const url = `data:${str(source.media_type) ?? "application/octet-stream"};base64,${str(source.data) ?? ""}`;
    if (kind === "image") return { type: "image_url", image_url: { url } };
    const file: JsonObject = { file_data: url };
    if (typeof block.title === "string") file.filename = block.title;
    return { type: "file", file };
  }
  if (source.type === "url") {
    if (kind === "image") return { type: "image_url", image_url: { url: str(source.url) ?? "" } };
    return { type: "file", file: { file_url: str(source.url) ?? "" } };
  }
  if (source.type === "file") return { type: "file", file: { file_id: str(source.file_id) ?? "" } };
  if (source.type === "text") return { type: "text", text: str(source.data) ?? "" };
  if (source.type === "content" && Array.isArray(source.content)) {
    const text = source.content
      .flatMap((b) => (isJsonObject(b) && typeof b.text === "string" ? [b.text] : []))
      .join("\n");
    return { type: "text", text };
  }
  throw new ConversionError(
    `${where}: a ${kind} source of type ${JSON.stringify(source.type)} has no chat equivalent`,
  );
}

/** A user-side content block (text, image, document) as a chat part. */
function userPart(raw: unknown, where: string): JsonObject {
  const b = objectAt(raw, where);
  if (b.type === "text") return { type: "text", text: str(b.text) ?? "" };
  if (b.type === "image") return sourcePart("image", b, where);
  if (b.type === "document") return sourcePart("document", b, where);
  throw new ConversionError(`${where}: a block of type ${JSON.stringify(b.type)} has no chat equivalent`);
}

/** A tool result's content: its text, or its parts when it holds more than text. */
function toolResultContent(content: unknown, where: string): string | JsonObject[] {
  if (typeof content === "string") return content;
  if (content === undefined || content === null) return "";
  if (!Array.isArray(content))
    throw new ConversionError(`${where}.content is neither text nor a list of blocks`);
  const parts = content.map((b, i) => userPart(b, `${where}.content[${i}]`));
  if (parts.every((p) => p.type === "text")) return parts.map((p) => p.text as string).join("");
  return parts;
}

/** The parts of an assistant turn: its text, reasoning and tool calls. */
interface AssistantParts {
  texts: string[];
  reasoning: string[];
  toolCalls: ChatToolCall[];
}

function assistantParts(content: unknown, where: string): AssistantParts {
  const out: AssistantParts = { texts: [], reasoning: [], toolCalls: [] };
  if (typeof content === "string") {
    out.texts.push(content);
    return out;
  }
  if (!Array.isArray(content)) throw new ConversionError(`${where} is neither text nor a list of blocks`);
  content.forEach((raw, i) => {
    const at = `${where}[${i}]`;
    const b = objectAt(raw, at);
    const type = str(b.type) ?? "";
    if (type === "text") out.texts.push(str(b.text) ?? "");
    else if (type === "thinking") out.reasoning.push(str(b.thinking) ?? "");
    else if (type === "tool_use" || type === "server_tool_use" || type === "mcp_tool_use") {
      out.toolCalls.push(functionCall(str(b.id) ?? "", str(b.name) ?? "", b.input ?? {}));
    } else if (type === "redacted_thinking" || type.endsWith("_tool_result")) {
      // Encrypted reasoning, and what a server tool found: nothing chat can show; the original keeps them.
    } else {
      throw new ConversionError(`${at}: a block of type ${JSON.stringify(b.type)} has no chat equivalent`);
    }
  });
  return out;
}

/** An assistant turn as a chat message. */
function assistantMessage(parts: AssistantParts): JsonObject {
  const m: JsonObject = { role: "assistant", content: parts.texts.length ? parts.texts.join("") : null };
  if (parts.reasoning.length) m.reasoning_content = parts.reasoning.join("\n\n");
  if (parts.toolCalls.length) m.tool_calls = parts.toolCalls;
  return m;
}

/** One Messages message as chat messages: a user turn's tool results come first, as `tool` messages. */
function chatMessagesOf(raw: unknown, where: string): JsonObject[] {
  const m = objectAt(raw, where);
  if (m.role === "assistant") return [assistantMessage(assistantParts(m.content, `${where}.content`))];
  if (m.role !== "user") throw new ConversionError(`${where}: a message with role ${JSON.stringify(m.role)}`);
  if (typeof m.content === "string") return [{ role: "user", content: m.content }];
  if (!Array.isArray(m.content))
    throw new ConversionError(`${where}.content is neither text nor a list of blocks`);
  const tools: JsonObject[] = [];
  const parts: JsonObject[] = [];
  m.content.forEach((block, i) => {
    const at = `${where}.content[${i}]`;
    if (isJsonObject(block) && block.type === "tool_result") {
      tools.push({
        role: "tool",
        tool_call_id: str(block.tool_use_id) ?? "",
        content: toolResultContent(block.content, at),
      });
    } else parts.push(userPart(block, at));
  });
  return parts.length ? [...tools, { role: "user", content: parts }] : tools;
}

function systemMessage(system: unknown): JsonObject | undefined {
  if (typeof system === "string") return system ? { role: "system", content: system } : undefined;
  if (system === undefined || system === null) return undefined;
  if (!Array.isArray(system)) throw new ConversionError("system is neither text nor a list of blocks");
  const parts = system.map((b, i) => {
    const block = objectAt(b, `system[${i}]`);
    if (block.type !== "text") {
      throw new ConversionError(
        `system[${i}]: a block of type ${JSON.stringify(block.type)} has no chat equivalent`,
      );
    }
    return { type: "text", text: str(block.text) ?? "" };
  });
  return parts.length ? { role: "system", content: parts } : undefined;
}

function chatTool(raw: unknown, where: string): JsonObject {
  const t = objectAt(raw, where);
  if (t.input_schema !== undefined && (t.type === undefined || t.type === "custom")) {
    const fn: JsonObject = { name: str(t.name) ?? "", parameters: t.input_schema };
    if (t.description !== undefined) fn.description = t.description;
    if (t.strict !== undefined) fn.strict = t.strict;
    return { type: "function", function: fn };
  }
  // Server tools (web_search_20250305, bash_..., text_editor_...) have no chat form: kept as given.
  return t;
}

function chatToolChoice(choice: JsonObject, out: JsonObject): void {
  if (choice.type === "auto") out.tool_choice = "auto";
  else if (choice.type === "any") out.tool_choice = "required";
  else if (choice.type === "none") out.tool_choice = "none";
  else if (choice.type === "tool") out.tool_choice = { type: "function", function: { name: choice.name } };
  else out.tool_choice = choice;
  if (choice.disable_parallel_tool_use === true) out.parallel_tool_calls = false;
}

/** The request in chat's shape. */
export function messagesRequestToChat(request: unknown): JsonObject {
  const r = objectAt(request, "request");
  const out: JsonObject = {};
  copyFields(out, r, ["model", "temperature", "top_p", "stream", "service_tier"]);
  const messages: JsonObject[] = [];
  const system = systemMessage(r.system);
  if (system) messages.push(system);
  if (r.messages !== undefined) {
    if (!Array.isArray(r.messages)) throw new ConversionError("messages is not a list");
    r.messages.forEach((m, i) => {
      messages.push(...chatMessagesOf(m, `messages[${i}]`));
    });
  }
  out.messages = messages;
  if (r.max_tokens !== undefined) out.max_completion_tokens = r.max_tokens;
  if (r.stop_sequences !== undefined) out.stop = r.stop_sequences;
  if (Array.isArray(r.tools)) out.tools = r.tools.map((t, i) => chatTool(t, `tools[${i}]`));
  if (isJsonObject(r.tool_choice)) chatToolChoice(r.tool_choice, out);
  // Anthropic's metadata holds only the end user's id: it is chat's `user`, not the call's metadata.
  if (isJsonObject(r.metadata) && typeof r.metadata.user_id === "string") out.user = r.metadata.user_id;
  return out;
}

/** Chat's usage for a Messages usage: prompt tokens count the cache's too, as OpenAI's do. */
export function messagesUsage(usage: unknown): JsonObject | undefined {
  if (!isJsonObject(usage)) return undefined;
  const input = num(usage.input_tokens) ?? 0;
  const read = num(usage.cache_read_input_tokens) ?? 0;
  const written = num(usage.cache_creation_input_tokens) ?? 0;
  const output = num(usage.output_tokens) ?? 0;
  const prompt = input + read + written;
  return {
    prompt_tokens: prompt,
    completion_tokens: output,
    total_tokens: prompt + output,
    prompt_tokens_details: { cached_tokens: read, cache_creation_tokens: written },
  };
}

const FINISH_REASONS: Record<string, string> = {
  end_turn: "stop",
  stop_sequence: "stop",
  pause_turn: "stop",
  max_tokens: "length",
  model_context_window_exceeded: "length",
  tool_use: "tool_calls",
  refusal: "content_filter",
};

/** The response (a `message`, or an error body) in chat's shape. */
export function messagesResponseToChat(response: unknown): JsonObject | null {
  if (response === null || response === undefined) return null;
  const r = objectAt(response, "response");
  // `{"type": "error", "error": {"type": "overloaded_error", "message": ...}}`
  if (r.type === "error" || (r.type !== "message" && r.error !== undefined && r.content === undefined)) {
    return { error: chatError(r.error) };
  }
  const message = assistantMessage(assistantParts(r.content ?? [], "response.content"));
  const stop = str(r.stop_reason);
  const out: JsonObject = {
    id: str(r.id) ?? "",
    object: "chat.completion",
    model: str(r.model) ?? "",
    choices: [
      {
        index: 0,
        message,
        finish_reason: stop === undefined ? null : (FINISH_REASONS[stop] ?? null),
        logprobs: null,
      },
    ],
  };
  const usage = messagesUsage(r.usage);
  if (usage) out.usage = usage;
  // A stream that failed midway: what came, and the error.
  if (r.error !== undefined && r.error !== null) out.error = chatError(r.error);
  return out;
}

/**
 * A Messages call in the chat shape: `request` a `POST /v1/messages` body, `response` the message it answered
 * (a stream's final one) or its error body, or null. Throws a ConversionError naming what chat cannot hold.
 */
export function messagesToChat(request: unknown, response: unknown): ChatCall {
  return { request: messagesRequestToChat(request), response: messagesResponseToChat(response) };
}
