/**
 * What the converters of other protocols (responses-to-chat.ts, messages-to-chat.ts) share: the error they throw
 * and the pieces of the chat shape they build. The chat shape is intersebd's one model of an LLM call: every
 * reader of a stored call (previews, search, exports, evaluations, checks, judges, the web app) reads chat.
 *
 * Conventions of the model beyond what Chat Completions itself defines, used for every protocol:
 * - reasoning the provider gave as text (a Responses reasoning summary, an Anthropic thinking block) is the
 *   message's `reasoning_content` (as DeepSeek and vLLM send it);
 * - instructions / system are the first message, with role `system`;
 * - a tool result is a `tool` message with the `tool_call_id` of the call it answers;
 * - usage is chat's: `prompt_tokens` counts every input token (cached ones included),
 *   `prompt_tokens_details.cached_tokens` those read from the cache, and for Anthropic
 *   `prompt_tokens_details.cache_creation_tokens` those written to it (a field of intersebd's, not OpenAI's).
 */
import { isJsonObject } from "./access.ts";
import type { ChatToolCall, JsonObject } from "./types.ts";

/** A body of another protocol that cannot be represented in the chat shape; the message names what and where. */
export class ConversionError extends Error {
  override name = "ConversionError";
}

/** The protocols the converters read. */
export type ConvertedProtocol = "responses" | "messages";

/** A call in the chat shape: its request, and its response (null when there was none). */
export interface ChatCall {
  request: JsonObject;
  response: JsonObject | null;
}

export const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
export const num = (v: unknown): number | undefined =>
  typeof v === "number" && Number.isFinite(v) ? v : undefined;

/** Copies the fields of `from` named in `names` that are present (not undefined) onto `to`. */
export function copyFields(to: JsonObject, from: JsonObject, names: readonly string[]): void {
  for (const n of names) if (from[n] !== undefined) to[n] = from[n];
}

/** A function tool call in chat's shape; `input` that is not already JSON text is serialised. */
export function functionCall(id: string, name: string, input: unknown): ChatToolCall {
  return {
    id,
    type: "function",
    function: { name, arguments: typeof input === "string" ? input : JSON.stringify(input ?? {}) },
  };
}

/** The object `v` at `where`, or a ConversionError saying it is not one. */
export function objectAt(v: unknown, where: string): JsonObject {
  if (!isJsonObject(v)) throw new ConversionError(`${where} is not an object`);
  return v;
}

/** The text of a list of text parts (`{type, text}`), or of a string. */
export function joinedText(parts: unknown): string | undefined {
  if (typeof parts === "string") return parts;
  if (!Array.isArray(parts)) return undefined;
  const texts = parts.flatMap((p) => (isJsonObject(p) && typeof p.text === "string" ? [p.text] : []));
  return texts.length ? texts.join("") : undefined;
}

/** An error body (`{"error": {...}}`) whatever the protocol, in chat's shape (`{ error: { message, type, code } }`). */
export function chatError(error: unknown): JsonObject {
  if (typeof error === "string") return { message: error };
  if (!isJsonObject(error)) return { message: "unknown error" };
  const out: JsonObject = { message: str(error.message) ?? "unknown error" };
  copyFields(out, error, ["type", "code", "param"]);
  return out;
}
