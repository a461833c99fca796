/**
 * Rebuilds the `chat.completion` object that a streamed answer is equivalent to, from its
 * `chat.completion.chunk` events: content and refusal concatenated, tool calls merged by index with
 * their arguments concatenated, logprobs appended, one choice per index (n > 1), usage when sent.
 */

type Json = Record<string, unknown>;

interface ToolCallAcc {
  index: number;
  id?: string;
  type: string;
  function: { name: string; arguments: string };
}

interface ChoiceAcc {
  index: number;
  message: {
    role: string;
    content: string | null;
    refusal: string | null;
    tool_calls?: ToolCallAcc[];
    function_call?: { name: string; arguments: string };
    [extra: string]: unknown;
  };
  logprobs: { content: unknown[] | null; refusal: unknown[] | null } | null;
  finish_reason: string | null;
}

export class ChatCompletionAssembler {
  #head: Json | undefined;
  #choices = new Map<number, ChoiceAcc>();
  #usage: unknown;
  /** Number of chunks seen; zero means the stream carried nothing we could read. */
  chunks = 0;

  /** Feeds one parsed `chat.completion.chunk`. */
  push(chunk: Json): void {
    this.chunks++;
    if (!this.#head) {
      const { choices: _c, usage: _u, object: _o, ...head } = chunk;
      this.#head = head;
    } else if (chunk.system_fingerprint && !this.#head.system_fingerprint) {
      this.#head.system_fingerprint = chunk.system_fingerprint;
    }
    if (chunk.usage) this.#usage = chunk.usage;
    const choices = chunk.choices;
    if (!Array.isArray(choices)) return;
    for (const raw of choices as Json[]) this.#pushChoice(raw);
  }

  #pushChoice(raw: Json): void {
    const index = typeof raw.index === "number" ? raw.index : 0;
    let acc = this.#choices.get(index);
    if (!acc) {
      acc = {
        index,
        message: { role: "assistant", content: null, refusal: null },
        logprobs: null,
        finish_reason: null,
      };
      this.#choices.set(index, acc);
    }
    if (raw.finish_reason) acc.finish_reason = raw.finish_reason as string;
    const delta = (raw.delta ?? {}) as Json;
    const msg = acc.message;
    for (const [k, v] of Object.entries(delta)) {
      if (v === null || v === undefined) continue;
      if (k === "role") msg.role = v as string;
      else if (k === "content") msg.content = (msg.content ?? "") + (v as string);
      else if (k === "refusal") msg.refusal = (msg.refusal ?? "") + (v as string);
      else if (k === "tool_calls") this.#pushToolCalls(msg, v as Json[]);
      else if (k === "function_call") {
        const fc = v as { name?: string; arguments?: string };
        msg.function_call ??= { name: "", arguments: "" };
        if (fc.name) msg.function_call.name += fc.name;
        if (fc.arguments) msg.function_call.arguments += fc.arguments;
      } else msg[k] = v;
    }
    const lp = raw.logprobs as { content?: unknown[] | null; refusal?: unknown[] | null } | null | undefined;
    if (lp) {
      acc.logprobs ??= { content: null, refusal: null };
      if (lp.content) acc.logprobs.content = [...(acc.logprobs.content ?? []), ...lp.content];
      if (lp.refusal) acc.logprobs.refusal = [...(acc.logprobs.refusal ?? []), ...lp.refusal];
    }
  }

  #pushToolCalls(msg: ChoiceAcc["message"], deltas: Json[]): void {
    msg.tool_calls ??= [];
    for (const d of deltas) {
      const index = typeof d.index === "number" ? d.index : 0;
      let tc = msg.tool_calls.find((t) => t.index === index);
      if (!tc) {
        tc = { index, type: "function", function: { name: "", arguments: "" } };
        msg.tool_calls.push(tc);
      }
      if (d.id) tc.id = d.id as string;
      if (d.type) tc.type = d.type as string;
      const fn = d.function as { name?: string; arguments?: string } | undefined;
      if (fn?.name) tc.function.name += fn.name;
      if (fn?.arguments) tc.function.arguments += fn.arguments;
    }
  }

  /** The equivalent `chat.completion`, or undefined when no chunk was read. */
  result(): Json | undefined {
    if (!this.#head) return undefined;
    const choices = [...this.#choices.values()]
      .sort((a, b) => a.index - b.index)
      .map((c) => {
        const { tool_calls, ...message } = c.message;
        const out: Json = { ...message };
        if (tool_calls?.length) {
          out.tool_calls = tool_calls.map(({ index: _i, ...tc }) => tc);
        }
        return { index: c.index, message: out, logprobs: c.logprobs, finish_reason: c.finish_reason };
      });
    const result: Json = { ...this.#head, object: "chat.completion", choices };
    if (this.#usage) result.usage = this.#usage;
    return result;
  }
}
