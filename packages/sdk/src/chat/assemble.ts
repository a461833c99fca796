/**
 * The one stream reassembler: rebuilds the `chat.completion` a stream of `chat.completion.chunk`s stands for.
 * The server stores proxied streams with it and the SDK records wrapped streams with it.
 *
 * It follows the official `openai` client's own accumulator (`ChatCompletionStream`, `finalChatCompletion()`):
 * the same fields, merged the same way, so that a stored stream equals what that client gives its caller. It
 * parts from it only where the client loses what the provider meant (each case has a fixture and a test; see
 * the fixtures' README):
 * - `reasoning_content` / `reasoning` (DeepSeek, vLLM, Ollama, OpenRouter) are text deltas and are concatenated;
 *   the client keeps only the last delta (often `null`).
 * - `annotations` and `reasoning_details` deltas are appended; the client keeps only the last one.
 * - a `null` never erases a value sent earlier (the client's `Object.assign` lets a later `null` win:
 *   OpenRouter's `native_finish_reason`, a `usage: null` after the usage); an empty `id`, `model` or
 *   `created` (Azure's first chunk, its content filter chunks) never replaces a real one.
 * - a tool call without an `index` (whole calls, one per position) is placed by its position; the client
 *   files it under `undefined`. A tool call without `type` is a `"function"`; without `id`, its id is `""`
 *   (the client makes one up at random). A choice without `role` is the `"assistant"`'s.
 * - a stream that ends without a finish reason, or with an error, still gives its partial answer (the client
 *   throws), with the error kept in `error`: see `error` and `finished`.
 */
import { SseDecoder } from "./sse.ts";
import type {
  ChatChoice,
  ChatCompletion,
  ChatError,
  ChatLogprobs,
  ChatToolCall,
  JsonObject,
} from "./types.ts";

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

/** Fields that identify a completion: an empty value (Azure sends `""` and `0`) never replaces a real one. */
const IDENTITY = new Set(["id", "model", "created", "object", "system_fingerprint"]);
/** Message fields streamed as text deltas besides content and refusal. */
const TEXT_FIELDS = new Set(["reasoning_content", "reasoning"]);
/** Message fields streamed as list deltas. */
const LIST_FIELDS = new Set(["annotations", "reasoning_details"]);

/** Copies fields; a null or absent value never erases one sent earlier (it only marks the field as sent). */
function merge(into: JsonObject, from: JsonObject, identity = false): void {
  for (const key of Object.keys(from)) {
    const value = from[key];
    if (value === null || value === undefined) {
      if (!(key in into)) into[key] = null;
    } else if (identity && IDENTITY.has(key) && (value === "" || value === 0) && into[key]) {
      // keep the real id/model/created
    } else into[key] = value;
  }
}

interface ToolCallState {
  id: string;
  type: string;
  name: string;
  arguments: string;
  rest: JsonObject;
  fnRest: JsonObject;
}

interface ChoiceState {
  index: number;
  finishReason: string | null;
  logprobs: ChatLogprobs | null;
  rest: JsonObject;
  role: string | undefined;
  content: string | undefined;
  refusal: string | undefined;
  message: JsonObject;
  toolCalls: Map<number, ToolCallState>;
  functionCall: { name: string; arguments: string } | undefined;
  audio: JsonObject | undefined;
}

/**
 * Feed it every parsed chunk with `push`, then read `result()`.
 *
 * @example
 * ```ts
 * const acc = new ChatCompletionAssembler();
 * for await (const chunk of stream) acc.push(chunk);
 * const completion = acc.result(); // { object: "chat.completion", choices: [{ message: {...} }], usage }
 * ```
 */
export class ChatCompletionAssembler {
  #top: JsonObject | undefined;
  readonly #choices = new Map<number, ChoiceState>();
  /** Chunks read (JSON objects); zero means the stream carried nothing readable. */
  chunks = 0;

  /** Feeds one parsed chunk (anything not a JSON object is ignored). */
  push(chunk: unknown): void {
    if (!isObject(chunk)) return;
    this.chunks++;
    const { choices, ...rest } = chunk;
    this.#top ??= {};
    merge(this.#top, rest, true);
    if (!Array.isArray(choices)) return;
    for (const [position, c] of choices.entries()) this.#pushChoice(c, position);
  }

  /** The error the stream carried: an `error` object, or a choice finished with `finish_reason: "error"`. */
  get error(): ChatError | undefined {
    if (isObject(this.#top?.error)) return this.#top.error as ChatError;
    for (const c of this.#choices.values()) {
      if (c.finishReason === "error")
        return { message: `the upstream ended choice ${c.index} with finish_reason "error"` };
    }
    return undefined;
  }

  /** Whether every choice has its finish reason (a stream cut short has at least one without). */
  get finished(): boolean {
    if (this.#choices.size === 0) return false;
    for (const c of this.#choices.values()) if (c.finishReason === null) return false;
    return true;
  }

  #pushChoice(raw: unknown, position: number): void {
    if (!isObject(raw)) return;
    const { delta, finish_reason, index, logprobs, ...rest } = raw;
    const i = typeof index === "number" ? index : position;
    let c = this.#choices.get(i);
    if (!c) {
      c = {
        index: i,
        finishReason: null,
        logprobs: null,
        rest: {},
        role: undefined,
        content: undefined,
        refusal: undefined,
        message: {},
        toolCalls: new Map(),
        functionCall: undefined,
        audio: undefined,
      };
      this.#choices.set(i, c);
    }
    if (typeof finish_reason === "string" && finish_reason) c.finishReason = finish_reason;
    merge(c.rest, rest);
    if (isObject(logprobs)) {
      if (!c.logprobs) {
        c.logprobs = { content: null, refusal: null, ...logprobs } as ChatLogprobs;
        if (Array.isArray(logprobs.content)) c.logprobs.content = [...logprobs.content];
        if (Array.isArray(logprobs.refusal)) c.logprobs.refusal = [...logprobs.refusal];
      } else {
        const lp = c.logprobs;
        if (Array.isArray(logprobs.content)) lp.content = [...(lp.content ?? []), ...logprobs.content];
        if (Array.isArray(logprobs.refusal)) lp.refusal = [...(lp.refusal ?? []), ...logprobs.refusal];
      }
    }
    if (isObject(delta)) this.#pushDelta(c, delta);
  }

  #pushDelta(c: ChoiceState, delta: JsonObject): void {
    const { role, content, refusal, tool_calls, function_call, audio, ...rest } = delta;
    if (typeof role === "string" && role) c.role = role;
    if (typeof content === "string" && content) c.content = (c.content ?? "") + content;
    if (typeof refusal === "string" && refusal) c.refusal = (c.refusal ?? "") + refusal;
    for (const key of Object.keys(rest)) {
      const value = rest[key];
      const had = c.message[key];
      if (TEXT_FIELDS.has(key) && typeof value === "string")
        c.message[key] = typeof had === "string" ? had + value : value;
      else if (LIST_FIELDS.has(key) && Array.isArray(value))
        c.message[key] = Array.isArray(had) ? [...had, ...value] : [...value];
      else merge(c.message, { [key]: value });
    }
    if (isObject(function_call)) {
      c.functionCall ??= { name: "", arguments: "" };
      if (typeof function_call.name === "string" && function_call.name)
        c.functionCall.name = function_call.name;
      if (typeof function_call.arguments === "string") c.functionCall.arguments += function_call.arguments;
    }
    if (isObject(audio)) {
      c.audio ??= {};
      const a = c.audio;
      if (audio.id != null) a.id = audio.id;
      if (typeof audio.data === "string") a.data = String(a.data ?? "") + audio.data;
      if (typeof audio.transcript === "string") a.transcript = String(a.transcript ?? "") + audio.transcript;
      if (audio.expires_at != null) a.expires_at = audio.expires_at;
    }
    if (!Array.isArray(tool_calls)) return;
    for (const [position, d] of tool_calls.entries()) this.#pushToolCall(c, d, position);
  }

  #pushToolCall(c: ChoiceState, raw: unknown, position: number): void {
    if (!isObject(raw)) return;
    const { index, id, type, function: fn, ...rest } = raw;
    // Servers that send whole calls may leave out the index: one call per position then.
    const i = typeof index === "number" ? index : position;
    let t = c.toolCalls.get(i);
    if (!t) {
      t = { id: "", type: "", name: "", arguments: "", rest: {}, fnRest: {} };
      c.toolCalls.set(i, t);
    }
    merge(t.rest, rest);
    if (typeof id === "string" && id) t.id = id;
    if (typeof type === "string" && type) t.type = type;
    if (isObject(fn)) {
      const { name, arguments: args, ...fnRest } = fn;
      // A name is replaced, never concatenated: some servers repeat it in every delta ("get", "get", ...).
      if (typeof name === "string" && name) t.name = name;
      if (typeof args === "string") t.arguments += args;
      merge(t.fnRest, fnRest);
    }
  }

  /** The `chat.completion` so far (a partial one if the stream was cut short), or undefined before any chunk. */
  result(): ChatCompletion | undefined {
    if (!this.#top) return undefined;
    const { id, created, model, system_fingerprint, object: _object, ...rest } = this.#top;
    const choices = [...this.#choices.values()].sort((a, b) => a.index - b.index).map(choiceOf);
    const out: JsonObject = { ...rest, id, choices, created, model, object: "chat.completion" };
    if (system_fingerprint) out.system_fingerprint = system_fingerprint;
    return out as ChatCompletion;
  }
}

function choiceOf(c: ChoiceState): ChatChoice {
  const message: JsonObject = {
    ...c.message,
    role: c.role ?? "assistant",
    content: c.content ?? null,
    refusal: c.refusal ?? null,
  };
  if (c.audio) message.audio = c.audio;
  if (c.functionCall) message.function_call = { ...c.functionCall };
  if (c.toolCalls.size > 0) {
    message.tool_calls = [...c.toolCalls.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(
        ([, t]): ChatToolCall => ({
          ...t.rest,
          id: t.id,
          type: t.type || "function",
          function: { ...t.fnRest, name: t.name, arguments: t.arguments },
        }),
      );
  }
  return {
    ...c.rest,
    index: c.index,
    message: message as ChatChoice["message"],
    finish_reason: c.finishReason,
    logprobs: c.logprobs,
  };
}

/**
 * Reads a streamed answer's text (SSE) into the assembler: `[DONE]` ends it (whatever follows is ignored, as
 * the official clients do), comments and events that are not JSON objects are skipped. An `event: error` whose
 * data is not wrapped in `{"error": ...}` is kept as the stream's error.
 */
export class ChatStreamReader {
  readonly assembler = new ChatCompletionAssembler();
  /** `data: [DONE]` was read: the stream is complete, whether or not its body has ended. */
  done = false;
  readonly #sse = new SseDecoder((e) => {
    if (this.done) return;
    if (e.data.startsWith("[DONE]")) {
      this.done = true;
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(e.data);
    } catch {
      return; // not JSON: the client still got it, the record skips it
    }
    if (e.event === "error" && isObject(value) && !("error" in value)) value = { error: value };
    this.assembler.push(value);
  });

  feed(text: string): void {
    this.#sse.feed(text);
  }

  /** The body ended: reads what was left without a line end. */
  end(): void {
    this.#sse.end();
  }

  get error(): ChatError | undefined {
    return this.assembler.error;
  }

  /** Ended as a stream should: `[DONE]` read, or every choice given its finish reason. */
  get complete(): boolean {
    return this.done || this.assembler.finished;
  }

  result(): ChatCompletion | undefined {
    return this.assembler.result();
  }
}
