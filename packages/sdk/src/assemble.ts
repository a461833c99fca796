/**
 * Rebuilds the `chat.completion` object a stream stands for, one `chat.completion.chunk` at a time, the way
 * the server stores a proxied stream: content and refusal concatenated, tool calls merged by index with their
 * arguments concatenated, finish reason, usage, and every choice when `n > 1`.
 */

type Json = Record<string, unknown>;

interface ToolCallAcc {
  index: number;
  id?: string;
  type?: string;
  name?: string;
  args: string;
}

interface ChoiceAcc {
  index: number;
  role?: string;
  content?: string;
  refusal?: string;
  toolCalls: ToolCallAcc[];
  functionCall?: { name?: string; args: string };
  annotations?: unknown[];
  finishReason: unknown;
  logprobs?: { content: unknown[] | null; refusal: unknown[] | null };
}

const asRecord = (v: unknown): Json | undefined =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : undefined;

/**
 * Feed it every chunk with `add`, then read `result()`.
 *
 * @example
 * ```ts
 * const acc = new CompletionAssembler();
 * for await (const chunk of stream) acc.add(chunk);
 * const completion = acc.result(); // { object: "chat.completion", choices: [{ message: {...} }], usage }
 * ```
 */
export class CompletionAssembler {
  #head: Json | undefined;
  #usage: unknown;
  readonly #choices: ChoiceAcc[] = [];
  /** Chunks seen. */
  count = 0;

  add(chunk: unknown): void {
    const c = asRecord(chunk);
    if (!c) return;
    this.count++;
    // Azure opens with a chunk carrying only content-filter results and an empty id.
    if (this.#head === undefined || (!this.#head.id && c.id)) this.#head = c;
    if (c.usage != null) this.#usage = c.usage;
    if (!Array.isArray(c.choices)) return;
    for (const raw of c.choices) {
      const choice = asRecord(raw);
      if (!choice) continue;
      const index = typeof choice.index === "number" ? choice.index : 0;
      let acc = this.#choices.find((x) => x.index === index);
      if (!acc) {
        acc = { index, toolCalls: [], finishReason: null };
        this.#choices.push(acc);
      }
      if (choice.finish_reason != null) acc.finishReason = choice.finish_reason;
      const lp = asRecord(choice.logprobs);
      if (lp) {
        // Like the openai client's own accumulator: a list stays null until some chunk carries one.
        acc.logprobs ??= { content: null, refusal: null };
        if (Array.isArray(lp.content)) {
          acc.logprobs.content ??= [];
          acc.logprobs.content.push(...lp.content);
        }
        if (Array.isArray(lp.refusal)) {
          acc.logprobs.refusal ??= [];
          acc.logprobs.refusal.push(...lp.refusal);
        }
      }
      const delta = asRecord(choice.delta);
      if (!delta) continue;
      if (typeof delta.role === "string") acc.role = delta.role;
      if (typeof delta.content === "string") acc.content = (acc.content ?? "") + delta.content;
      if (typeof delta.refusal === "string") acc.refusal = (acc.refusal ?? "") + delta.refusal;
      if (Array.isArray(delta.annotations)) {
        acc.annotations ??= [];
        acc.annotations.push(...delta.annotations);
      }
      const fc = asRecord(delta.function_call);
      if (fc) {
        acc.functionCall ??= { args: "" };
        if (typeof fc.name === "string") acc.functionCall.name ??= fc.name;
        if (typeof fc.arguments === "string") acc.functionCall.args += fc.arguments;
      }
      if (Array.isArray(delta.tool_calls)) {
        delta.tool_calls.forEach((rawCall, position) => {
          const tc = asRecord(rawCall);
          if (!tc) return;
          // Some OpenAI-compatible servers omit the index; their calls arrive whole, one per position.
          const tIndex = typeof tc.index === "number" ? tc.index : position;
          let t = acc.toolCalls.find((x) => x.index === tIndex);
          if (!t) {
            t = { index: tIndex, args: "" };
            acc.toolCalls.push(t);
          }
          if (typeof tc.id === "string") t.id ??= tc.id;
          if (typeof tc.type === "string") t.type ??= tc.type;
          const fn = asRecord(tc.function);
          if (fn) {
            if (typeof fn.name === "string") t.name ??= fn.name;
            if (typeof fn.arguments === "string") t.args += fn.arguments;
          }
        });
      }
    }
  }

  /** The `chat.completion` object so far (a partial one if the stream was cut short). */
  result(): Json {
    const h = this.#head ?? {};
    const choices = [...this.#choices]
      .sort((a, b) => a.index - b.index)
      .map((acc) => {
        const message: Json = {
          role: acc.role ?? "assistant",
          content: acc.content ?? null,
          refusal: acc.refusal ?? null,
        };
        if (acc.annotations) message.annotations = acc.annotations;
        if (acc.functionCall) {
          message.function_call = { name: acc.functionCall.name ?? "", arguments: acc.functionCall.args };
        }
        if (acc.toolCalls.length > 0) {
          message.tool_calls = [...acc.toolCalls]
            .sort((a, b) => a.index - b.index)
            .map((t) => ({
              id: t.id ?? "",
              type: t.type ?? "function",
              function: { name: t.name ?? "", arguments: t.args },
            }));
        }
        return {
          index: acc.index,
          message,
          logprobs: acc.logprobs ?? null,
          finish_reason: acc.finishReason,
        };
      });
    const out: Json = {
      id: h.id ?? null,
      object: "chat.completion",
      created: h.created ?? Math.floor(Date.now() / 1000),
      model: h.model ?? null,
      choices,
    };
    if (this.#usage !== undefined) out.usage = this.#usage;
    if (h.system_fingerprint !== undefined) out.system_fingerprint = h.system_fingerprint;
    if (h.service_tier !== undefined) out.service_tier = h.service_tier;
    return out;
  }
}
