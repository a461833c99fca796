/**
 * Reading a stored `chat.completion` (or anything claiming to be one): the first choice's message, its tool
 * calls, the usage, the completion id and the error. Bodies come from providers and clients, so nothing is
 * trusted to have its documented shape: each accessor checks what it reads and answers undefined, [] or null.
 */
import type { ChatError, ChatMessage, ChatToolCall, JsonObject, TokenUsage } from "./types.ts";

export const isJsonObject = (v: unknown): v is JsonObject =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const count = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** The first choice of a completion (the one a caller reads as the answer), if it is an object. */
export function firstChoice(
  completion: unknown,
): (JsonObject & { message?: unknown; finish_reason?: unknown; text?: unknown }) | undefined {
  if (!isJsonObject(completion) || !Array.isArray(completion.choices)) return undefined;
  const choice: unknown = completion.choices[0];
  return isJsonObject(choice) ? choice : undefined;
}

/** The first choice's message: the answer the model gave, as sent (fields unchecked beyond being an object). */
export function firstMessage(completion: unknown): (JsonObject & Partial<ChatMessage>) | undefined {
  const message = firstChoice(completion)?.message;
  return isJsonObject(message) ? message : undefined;
}

/** The first choice's finish reason, or null. */
export function finishReasonOf(completion: unknown): string | null {
  const reason = firstChoice(completion)?.finish_reason;
  return typeof reason === "string" ? reason : null;
}

/** A message's tool calls that have a function name; `arguments` is always a string ("" when absent). */
export function toolCallsOf(message: unknown): ChatToolCall[] {
  if (!isJsonObject(message) || !Array.isArray(message.tool_calls)) return [];
  const calls: ChatToolCall[] = [];
  for (const raw of message.tool_calls) {
    if (!isJsonObject(raw) || !isJsonObject(raw.function)) continue;
    const fn = raw.function;
    if (typeof fn.name !== "string") continue;
    calls.push({
      ...raw,
      id: typeof raw.id === "string" ? raw.id : "",
      type: typeof raw.type === "string" ? raw.type : "function",
      function: { ...fn, name: fn.name, arguments: typeof fn.arguments === "string" ? fn.arguments : "" },
    });
  }
  return calls;
}

/**
 * The token counts of a completion: `usage` (OpenAI and most providers), else `x_groq.usage` (Groq's streams
 * put it there). Counts that are not finite numbers are null; `providerCost` is OpenRouter's `usage.cost`.
 */
export function usageOf(completion: unknown): TokenUsage {
  let usage: unknown;
  if (isJsonObject(completion)) {
    usage = completion.usage;
    if (!isJsonObject(usage) && isJsonObject(completion.x_groq)) usage = completion.x_groq.usage;
  }
  const u = isJsonObject(usage) ? usage : {};
  const prompt = isJsonObject(u.prompt_tokens_details) ? u.prompt_tokens_details : {};
  const completionDetails = isJsonObject(u.completion_tokens_details) ? u.completion_tokens_details : {};
  return {
    promptTokens: count(u.prompt_tokens),
    completionTokens: count(u.completion_tokens),
    totalTokens: count(u.total_tokens),
    cachedTokens: count(prompt.cached_tokens),
    reasoningTokens: count(completionDetails.reasoning_tokens),
    providerCost: count(u.cost),
  };
}

/** The completion id, the tag `link` and `annotate` find a call by; an empty id (Azure's first chunk) is none. */
export function completionIdOf(completion: unknown): string | null {
  return isJsonObject(completion) && typeof completion.id === "string" && completion.id !== ""
    ? completion.id
    : null;
}

/** The error a body carries (`{"error": {...}}`, or a reassembled stream's), or undefined. */
export function errorOf(body: unknown): ChatError | undefined {
  if (!isJsonObject(body)) return undefined;
  if (isJsonObject(body.error)) return body.error as ChatError;
  if (typeof body.error === "string" && body.error) return { message: body.error };
  return undefined;
}
