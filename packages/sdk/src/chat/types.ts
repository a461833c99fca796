/**
 * The shapes of Chat Completions as OpenAI-compatible servers send them: loose on purpose. Every object keeps
 * the fields a provider adds (`[field: string]: unknown`): Azure's content filter results, OpenRouter's
 * `provider` and `native_finish_reason`, Groq's `x_groq`, DeepSeek's `reasoning_content`... A record keeps them.
 */

export type JsonObject = Record<string, unknown>;

/** An error a provider sends inside a stream (`data: {"error": {...}}`), or in an error body. */
export interface ChatError {
  message?: string;
  type?: string;
  code?: string | number | null;
  [field: string]: unknown;
}

export interface ChatUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number; [field: string]: unknown } | null;
  completion_tokens_details?: { reasoning_tokens?: number; [field: string]: unknown } | null;
  /** OpenRouter: what the call cost, in USD (its credits). */
  cost?: number;
  [field: string]: unknown;
}

export interface ChatToolCall {
  id: string;
  type: string;
  function: { name: string; arguments: string; [field: string]: unknown };
  [field: string]: unknown;
}

export interface ChatLogprobs {
  content: unknown[] | null;
  refusal: unknown[] | null;
  [field: string]: unknown;
}

/** The answer of one choice (also the shape of an assistant message in a request). */
export interface ChatMessage {
  role: string;
  content: string | null;
  refusal?: string | null;
  tool_calls?: ChatToolCall[];
  function_call?: { name: string; arguments: string };
  /** DeepSeek, vLLM: the reasoning streamed before the answer. */
  reasoning_content?: string | null;
  /** Ollama, OpenRouter, newer vLLM: the same, under another name. */
  reasoning?: string | null;
  annotations?: unknown[];
  [field: string]: unknown;
}

export interface ChatChoice {
  index: number;
  message: ChatMessage;
  finish_reason: string | null;
  logprobs: ChatLogprobs | null;
  [field: string]: unknown;
}

/** A `chat.completion`: what a call answered, or what a stream stands for once reassembled. */
export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: ChatChoice[];
  usage?: ChatUsage | null;
  system_fingerprint?: string;
  /** A reassembled stream that carried an error (mid-stream) keeps it here, beside the partial answer. */
  error?: ChatError;
  [field: string]: unknown;
}

export interface ChatToolCallDelta {
  index?: number;
  id?: string | null;
  type?: string | null;
  function?: { name?: string | null; arguments?: string | null; [field: string]: unknown } | null;
  [field: string]: unknown;
}

export interface ChatDelta {
  role?: string | null;
  content?: string | null;
  refusal?: string | null;
  tool_calls?: ChatToolCallDelta[] | null;
  function_call?: { name?: string | null; arguments?: string | null } | null;
  reasoning_content?: string | null;
  reasoning?: string | null;
  annotations?: unknown[] | null;
  [field: string]: unknown;
}

export interface ChatChunkChoice {
  index?: number;
  delta?: ChatDelta | null;
  finish_reason?: string | null;
  logprobs?: Partial<ChatLogprobs> | null;
  [field: string]: unknown;
}

/** One `chat.completion.chunk` of a stream. */
export interface ChatCompletionChunk {
  id?: string;
  object?: string;
  created?: number;
  model?: string;
  choices?: ChatChunkChoice[];
  usage?: ChatUsage | null;
  error?: ChatError;
  [field: string]: unknown;
}

/** Token counts as columns want them: a number, or null when the provider did not say. */
export interface TokenUsage {
  promptTokens: number | null;
  completionTokens: number | null;
  totalTokens: number | null;
  cachedTokens: number | null;
  reasoningTokens: number | null;
  /** What the provider says the call cost (OpenRouter's `usage.cost`), or null. */
  providerCost: number | null;
}
