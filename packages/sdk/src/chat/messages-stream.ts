/**
 * Rebuilds the Anthropic `message` a Messages API stream stands for, as the official `@anthropic-ai/sdk` client
 * does (`MessageStream`, `messages.stream(...).finalMessage()`): the `message_start` message, content blocks
 * appended by `content_block_start`, their text, thinking, signature, citations and tool input JSON merged by
 * `content_block_delta`, `message_delta`'s stop reason and usage. The server stores proxied Messages streams with
 * it, so that a stored message equals what that client gives its caller (less `parsed_output`, a field the
 * client adds from its own parsing that no server sends).
 *
 * It parts from the client only where the client throws, so that a record still keeps what arrived: an event
 * before `message_start` or a second `message_start` is skipped, an `error` event is kept in `error` with the
 * partial message, and a stream cut short (no `message_stop`) gives its partial message. A tool's input JSON
 * cut off mid-way is closed as far as it can be (the client parses it partially); if it still does not parse,
 * the input is `{}`.
 */
import { SseDecoder } from "./sse.ts";
import type { JsonObject } from "./types.ts";

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

/** An Anthropic Messages API message (`type: "message"`), as the API sends it; fields kept as they come. */
export interface AnthropicMessage extends JsonObject {
  id: string;
  type: "message";
  role: "assistant";
  model: string;
  content: JsonObject[];
  stop_reason: string | null;
  stop_sequence: string | null;
  usage: JsonObject;
}

/** The `error` of an Anthropic `error` event: `{ type: "overloaded_error", message: "Overloaded" }`. */
export interface AnthropicStreamError extends JsonObject {
  type: string;
  message: string;
}

/** Blocks whose `input` is streamed as JSON text (`input_json_delta`). */
const TRACKS_INPUT = new Set(["tool_use", "server_tool_use"]);

/**
 * Feed it every parsed event (the data of each SSE event, whose `type` names it) with `push`, then read
 * `result()`.
 *
 * @example
 * ```ts
 * const acc = new MessagesStreamAccumulator();
 * for await (const event of stream) acc.push(event);
 * const message = acc.result(); // { id: "msg_…", type: "message", content: [...], usage, stop_reason }
 * ```
 */
export class MessagesStreamAccumulator {
  #message: AnthropicMessage | undefined;
  /** The input JSON text received so far, per block position (blocks that track their input). */
  readonly #json = new Map<number, string>();
  /** `message_stop` was read: the message is complete. */
  stopped = false;
  /** The stream's `error` event, if it carried one. */
  error: AnthropicStreamError | undefined;

  /** Feeds one parsed event; anything not a JSON object with a known `type` is ignored. */
  push(event: unknown): void {
    if (!isObject(event)) return;
    if (event.type === "error") {
      this.error = isObject(event.error)
        ? (event.error as AnthropicStreamError)
        : { type: "error", message: JSON.stringify(event) };
      return;
    }
    if (event.type === "message_start") {
      if (this.#message || !isObject(event.message)) return;
      const m = event.message;
      this.#message = {
        ...m,
        content: Array.isArray(m.content) ? m.content.filter(isObject).map((b) => ({ ...b })) : [],
        usage: isObject(m.usage) ? { ...m.usage } : {},
      } as AnthropicMessage;
      return;
    }
    const message = this.#message;
    if (!message) return;
    switch (event.type) {
      case "message_stop":
        this.stopped = true;
        return;
      case "message_delta":
        this.#delta(message, event);
        return;
      case "content_block_start":
        if (isObject(event.content_block)) message.content.push({ ...event.content_block });
        return;
      case "content_block_delta":
        this.#blockDelta(message, event);
        return;
      case "content_block_stop":
        return;
    }
  }

  /** `message_delta`: the stop reason and sequence replace the start's (absent ones are dropped, as the client's). */
  #delta(message: AnthropicMessage, event: JsonObject): void {
    const delta = isObject(event.delta) ? event.delta : {};
    const usage = isObject(event.usage) ? event.usage : {};
    assign(message, "stop_reason", delta.stop_reason);
    assign(message, "stop_sequence", delta.stop_sequence);
    assign(message, "stop_details", delta.stop_details);
    assign(message.usage, "output_tokens", usage.output_tokens);
    if (delta.container != null) message.container = delta.container;
    // The other counters are whole-message totals, sent only when they apply: replaced, never added.
    for (const key of [
      "input_tokens",
      "cache_creation_input_tokens",
      "cache_read_input_tokens",
      "server_tool_use",
      "output_tokens_details",
    ]) {
      if (usage[key] != null) message.usage[key] = usage[key];
    }
  }

  #blockDelta(message: AnthropicMessage, event: JsonObject): void {
    const index = typeof event.index === "number" ? event.index : -1;
    const delta = event.delta;
    // The client reads the block by position in its list (`content.at(index)`), as here.
    const block = message.content.at(index);
    if (!block || !isObject(delta)) return;
    const at = index < 0 ? message.content.length + index : index;
    switch (delta.type) {
      case "text_delta":
        if (block.type === "text" && typeof delta.text === "string")
          message.content[at] = { ...block, text: String(block.text ?? "") + delta.text };
        return;
      case "citations_delta":
        if (block.type === "text")
          message.content[at] = {
            ...block,
            citations: [...(Array.isArray(block.citations) ? block.citations : []), delta.citation ?? null],
          };
        return;
      case "input_json_delta":
        if (TRACKS_INPUT.has(String(block.type)) && typeof delta.partial_json === "string") {
          const text = (this.#json.get(at) ?? "") + delta.partial_json;
          this.#json.set(at, text);
          message.content[at] = { ...block, input: text ? parseInput(text) : {} };
        }
        return;
      case "thinking_delta":
        if (block.type === "thinking" && typeof delta.thinking === "string")
          message.content[at] = { ...block, thinking: String(block.thinking ?? "") + delta.thinking };
        return;
      case "signature_delta":
        if (block.type === "thinking") message.content[at] = { ...block, signature: delta.signature ?? null };
        return;
    }
  }

  /** The message so far (a partial one if the stream was cut short), or undefined before `message_start`. */
  result(): AnthropicMessage | undefined {
    const m = this.#message;
    if (!m) return undefined;
    return { ...m, content: m.content.map((b) => ({ ...b })), usage: { ...m.usage } };
  }
}

/** Sets a field as the client's assignment does: a value sent replaces, an absent one leaves no field. */
function assign(into: JsonObject, key: string, value: unknown): void {
  if (value === undefined) delete into[key];
  else into[key] = value;
}

/**
 * A tool's input from its JSON text: parsed whole, or, cut off mid-way, closed (an open string, then open arrays
 * and objects) and parsed; `{}` when even that fails (a cut after a key or a comma).
 */
function parseInput(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {}
  const open: string[] = [];
  let inString = false;
  let escaped = false;
  for (const ch of text) {
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === "\\") escaped = true;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === "{") open.push("}");
    else if (ch === "[") open.push("]");
    else if (ch === "}" || ch === "]") open.pop();
  }
  let closed = inString ? `${escaped ? text.slice(0, -1) : text}"` : text;
  closed += open.reverse().join("");
  try {
    return JSON.parse(closed);
  } catch {
    return {};
  }
}

/** Reassembles a whole list of events at once (see `MessagesStreamAccumulator`). */
export function accumulateMessagesStream(events: Iterable<unknown>): AnthropicMessage | undefined {
  const acc = new MessagesStreamAccumulator();
  for (const e of events) acc.push(e);
  return acc.result();
}

/**
 * Reads a Messages stream's text (SSE) into the accumulator, as the client reads it: events without an `event:`
 * name and `ping`s are skipped, an `event: error` is the stream's error, and `message_stop` ends the stream
 * (whatever follows is ignored).
 */
export class MessagesStreamReader {
  readonly accumulator = new MessagesStreamAccumulator();
  readonly #sse = new SseDecoder((e) => {
    if (this.done || e.event === null || e.event === "ping" || !e.data) return;
    let value: unknown;
    try {
      value = JSON.parse(e.data);
    } catch {
      if (e.event === "error") this.accumulator.error = { type: "error", message: e.data };
      return; // not JSON: the client still got it, the record skips it
    }
    if (e.event === "error" && isObject(value) && value.type !== "error")
      value = { type: "error", error: value };
    this.accumulator.push(value);
  });

  /** `message_stop` was read: the stream is complete, whether or not its body has ended. */
  get done(): boolean {
    return this.accumulator.stopped;
  }

  feed(text: string): void {
    this.#sse.feed(text);
  }

  /** The body ended: reads what was left without a line end. */
  end(): void {
    this.#sse.end();
  }

  get error(): AnthropicStreamError | undefined {
    return this.accumulator.error;
  }

  /** Ended as a stream should: `message_stop` read. */
  get complete(): boolean {
    return this.done;
  }

  result(): AnthropicMessage | undefined {
    return this.accumulator.result();
  }
}
