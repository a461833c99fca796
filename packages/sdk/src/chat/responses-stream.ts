/**
 * The OpenAI Responses API's stream reassembler: rebuilds the `response` object a stream of typed events
 * (`response.created`, `response.output_item.added`, `response.output_text.delta`, ..., `response.completed`)
 * stands for. The server stores proxied Responses streams with it.
 *
 * It follows the official `openai` client's own accumulator (`accumulateResponse`, behind
 * `responses.stream(...).finalResponse()`) event by event: a lifecycle event (`response.created`,
 * `.in_progress`, `.completed`, `.failed`, `.incomplete`, `.queued`) replaces the snapshot with the response it
 * carries, items and parts are added and replaced by index, deltas are appended, and `output_text` is the
 * concatenation of the messages' `output_text` parts, as the client computes it. It parts from the client only
 * where the client throws (a delta for an item or part it has not seen, a first event other than
 * `response.created`): the event is skipped and the rest is still read, so a record keeps what can be kept. It
 * leaves out what the client adds for structured outputs (`output_parsed`, `parsed`, `parsed_arguments`), which
 * depend on the caller's schema, not on what the server sent.
 */
import { SseDecoder } from "./sse.ts";
import type { ChatError, JsonObject } from "./types.ts";

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);
type Copy = <T>(v: T) => T;
const clone: Copy = (v) => structuredClone(v);
const asIs: Copy = (v) => v;

export interface ResponsesAssemblerOptions {
  /**
   * Whether the assembler copies what it keeps of each event (default true). It builds the response by changing
   * what it kept (a delta appends to a part's text), so without a copy the caller's events would change under
   * it. A reader that parses its own events, which nobody else sees, passes false: the copies were most of the
   * cost of reading a stream (intersebd's proxy reads every Responses stream before forwarding its last bytes).
   */
  copyEvents?: boolean;
}

/** Events whose `response` replaces the snapshot. */
const LIFECYCLE = new Set([
  "response.created",
  "response.queued",
  "response.in_progress",
  "response.completed",
  "response.failed",
  "response.incomplete",
]);
/** Events that end a stream. */
const TERMINAL = new Set(["response.completed", "response.failed", "response.incomplete"]);

/** Status changes of hosted tools' items: the event's suffix is the item's new status. */
const TOOL_STATUS: Record<string, string> = {
  code_interpreter_call: "response.code_interpreter_call.",
  file_search_call: "response.file_search_call.",
  web_search_call: "response.web_search_call.",
  image_generation_call: "response.image_generation_call.",
  mcp_call: "response.mcp_call.",
};
const STATUSES = new Set(["in_progress", "interpreting", "completed", "searching", "generating", "failed"]);

/** Text deltas: the item type they apply to, the field they extend and the `.done` event's field. */
const ITEM_TEXT: Record<string, { item: string; field: string; done: string }> = {
  "response.function_call_arguments": { item: "function_call", field: "arguments", done: "arguments" },
  "response.custom_tool_call_input": { item: "custom_tool_call", field: "input", done: "input" },
  "response.mcp_call_arguments": { item: "mcp_call", field: "arguments", done: "arguments" },
  "response.code_interpreter_call_code": { item: "code_interpreter_call", field: "code", done: "code" },
};

function addOutputText(snapshot: JsonObject): void {
  const texts: string[] = [];
  for (const item of Array.isArray(snapshot.output) ? snapshot.output : []) {
    if (!isObject(item) || item.type !== "message" || !Array.isArray(item.content)) continue;
    for (const part of item.content)
      if (isObject(part) && part.type === "output_text") texts.push(String(part.text ?? ""));
  }
  snapshot.output_text = texts.join("");
}

function responseOf(event: JsonObject, copy: Copy): JsonObject | undefined {
  if (!isObject(event.response)) return undefined;
  const snapshot = copy(event.response);
  if (!Array.isArray(snapshot.output)) snapshot.output = [];
  if (snapshot.output_text == null) addOutputText(snapshot);
  return snapshot;
}

/**
 * Feed it every parsed event with `push`, then read `result()`.
 *
 * @example
 * ```ts
 * const acc = new ResponsesAssembler();
 * for await (const event of stream) acc.push(event);
 * const response = acc.result(); // { id: "resp_...", object: "response", output: [...], usage, output_text }
 * ```
 */
export class ResponsesAssembler {
  #snapshot: JsonObject | undefined;
  readonly #copy: Copy;
  /** Events read (JSON objects); zero means the stream carried nothing readable. */
  events = 0;
  /** The terminal event's type (`response.completed` / `.failed` / `.incomplete`), once read. */
  terminal: string | undefined;
  /** The first `error` event (or `{"error": ...}` data), which the official client does not accumulate. */
  streamError: ChatError | undefined;

  constructor(options: ResponsesAssemblerOptions = {}) {
    this.#copy = options.copyEvents === false ? asIs : clone;
  }

  push(event: unknown): void {
    if (!isObject(event)) return;
    this.events++;
    const type = typeof event.type === "string" ? event.type : undefined;
    if (type === undefined) {
      if (isObject(event.error)) this.streamError ??= event.error as ChatError;
      return;
    }
    if (type === "error") {
      const { type: _t, sequence_number: _s, ...error } = event;
      this.streamError ??= (isObject(error.error) ? error.error : error) as ChatError;
      return;
    }
    if (LIFECYCLE.has(type)) {
      const snapshot = responseOf(event, this.#copy);
      if (snapshot) this.#snapshot = snapshot;
      if (TERMINAL.has(type)) this.terminal ??= type;
      return;
    }
    const snapshot = this.#snapshot;
    if (!snapshot) return; // the client throws: a stream must begin with response.created
    this.#apply(snapshot, type, event);
  }

  #apply(snapshot: JsonObject, type: string, e: JsonObject): void {
    const output = snapshot.output as unknown[];
    const item = typeof e.output_index === "number" ? output[e.output_index] : undefined;
    const items = isObject(item) ? item : undefined;
    switch (type) {
      case "response.output_item.added":
        if (!isObject(e.item)) return;
        output.push(this.#copy(e.item));
        if (e.item.type === "message") addOutputText(snapshot);
        return;
      case "response.output_item.done":
        if (!items || !isObject(e.item)) return;
        output[e.output_index as number] = this.#copy(e.item);
        if (e.item.type === "message") addOutputText(snapshot);
        return;
      case "response.content_part.added":
      case "response.content_part.done": {
        const part = e.part;
        if (!items || !isObject(part)) return;
        const added = type === "response.content_part.added";
        let list: unknown[] | undefined;
        if (items.type === "message" && part.type !== "reasoning_text") list = arrayOf(items, "content");
        else if (items.type === "reasoning" && part.type === "reasoning_text") {
          if (added && !Array.isArray(items.content)) items.content = [];
          list = Array.isArray(items.content) ? items.content : undefined;
        }
        if (!list) return;
        if (added) list.push(this.#copy(part));
        else if (typeof e.content_index === "number" && list[e.content_index])
          list[e.content_index] = this.#copy(part);
        else return;
        if (items.type === "message" && part.type === "output_text") addOutputText(snapshot);
        return;
      }
      case "response.output_text.delta":
      case "response.output_text.done": {
        const part = items?.type === "message" ? partOf(items, "content", e.content_index) : undefined;
        if (part?.type !== "output_text") return;
        if (type.endsWith(".delta")) {
          part.text = String(part.text ?? "") + String(e.delta ?? "");
          snapshot.output_text = String(snapshot.output_text ?? "") + String(e.delta ?? "");
        } else {
          part.text = e.text;
          addOutputText(snapshot);
        }
        return;
      }
      case "response.output_text.annotation.added": {
        const part = items?.type === "message" ? partOf(items, "content", e.content_index) : undefined;
        if (part?.type !== "output_text" || typeof e.annotation_index !== "number") return;
        arrayOf(part, "annotations")[e.annotation_index] = this.#copy(e.annotation);
        return;
      }
      case "response.refusal.delta":
      case "response.refusal.done": {
        const part = items?.type === "message" ? partOf(items, "content", e.content_index) : undefined;
        if (part?.type !== "refusal") return;
        part.refusal = type.endsWith(".delta")
          ? String(part.refusal ?? "") + String(e.delta ?? "")
          : e.refusal;
        return;
      }
      case "response.reasoning_text.delta":
      case "response.reasoning_text.done": {
        const part = items?.type === "reasoning" ? partOf(items, "content", e.content_index) : undefined;
        if (part?.type !== "reasoning_text") return;
        part.text = type.endsWith(".delta") ? String(part.text ?? "") + String(e.delta ?? "") : e.text;
        return;
      }
      case "response.reasoning_summary_part.added":
        if (items?.type === "reasoning" && isObject(e.part))
          arrayOf(items, "summary").push(this.#copy(e.part));
        return;
      case "response.reasoning_summary_part.done":
        if (items?.type !== "reasoning" || !isObject(e.part) || typeof e.summary_index !== "number") return;
        if (!partOf(items, "summary", e.summary_index)) return;
        arrayOf(items, "summary")[e.summary_index] = this.#copy(e.part);
        return;
      case "response.reasoning_summary_text.delta":
      case "response.reasoning_summary_text.done": {
        const part = items?.type === "reasoning" ? partOf(items, "summary", e.summary_index) : undefined;
        if (!part) return;
        part.text = type.endsWith(".delta") ? String(part.text ?? "") + String(e.delta ?? "") : e.text;
        return;
      }
    }
    const dot = type.lastIndexOf(".");
    const text = ITEM_TEXT[type.slice(0, dot)];
    if (text && items?.type === text.item) {
      const kind = type.slice(dot + 1);
      if (kind === "delta") items[text.field] = String(items[text.field] ?? "") + String(e.delta ?? "");
      else if (kind === "done") items[text.field] = e[text.done];
      return;
    }
    const status = type.slice(dot + 1);
    if (items && typeof items.type === "string" && STATUSES.has(status)) {
      const prefix = TOOL_STATUS[items.type];
      if (prefix && type === prefix + status) items.status = status;
    }
    // Anything else (audio, partial images, MCP tool lists, keep-alives) is not part of the response object.
  }

  /** The response so far (a partial one if the stream was cut short), or undefined before `response.created`. */
  result(): JsonObject | undefined {
    return this.#snapshot;
  }
}

function arrayOf(o: JsonObject, key: string): unknown[] {
  if (!Array.isArray(o[key])) o[key] = [];
  return o[key] as unknown[];
}

function partOf(o: JsonObject, key: string, index: unknown): JsonObject | undefined {
  const list = o[key];
  if (!Array.isArray(list) || typeof index !== "number") return undefined;
  const part = list[index];
  return isObject(part) ? part : undefined;
}

/**
 * Reads a streamed Responses answer's text (SSE) into the assembler. There is no `[DONE]`: the terminal event
 * (`response.completed`, `.failed` or `.incomplete`) ends the stream. Comments and data that are not JSON
 * objects are skipped.
 */
export class ResponsesStreamReader {
  /** Its events are parsed here and seen by nobody else: the assembler keeps them without copying. */
  readonly assembler = new ResponsesAssembler({ copyEvents: false });
  readonly #sse = new SseDecoder((e) => {
    let value: unknown;
    try {
      value = JSON.parse(e.data);
    } catch {
      return;
    }
    if (e.event === "error" && isObject(value) && value.type === undefined && !("error" in value))
      value = { type: "error", ...value };
    this.assembler.push(value);
  });

  feed(text: string): void {
    this.#sse.feed(text);
  }

  end(): void {
    this.#sse.end();
  }

  /** The terminal event was read: the answer is complete, whether or not the body has ended. */
  get done(): boolean {
    return this.assembler.terminal !== undefined;
  }

  get complete(): boolean {
    return this.done;
  }

  /**
   * What went wrong, if anything: an `error` event, or a terminal `response.failed` (its `response.error`).
   * A `response.incomplete` (max_output_tokens, a content filter) is an answer, as a chat `length` is.
   */
  get error(): ChatError | undefined {
    if (this.assembler.streamError) return this.assembler.streamError;
    if (this.assembler.terminal !== "response.failed") return undefined;
    const err = this.assembler.result()?.error;
    return isObject(err) ? (err as ChatError) : { message: "the upstream ended the response as failed" };
  }

  result(): JsonObject | undefined {
    return this.assembler.result();
  }
}

/** The `response` a whole stream of parsed events stands for, as the official client's `finalResponse()`. */
export function accumulateResponsesStream(events: Iterable<unknown>): JsonObject | undefined {
  const acc = new ResponsesAssembler();
  for (const e of events) acc.push(e);
  return acc.result();
}
