/**
 * An LLM span into a call: which spans are model calls, and their chat-shaped request and response, read from
 * the attribute sets instrumentations write today: the OpenTelemetry GenAI semantic conventions (current
 * `gen_ai.input.messages` / `gen_ai.output.messages`, the older `gen_ai.prompt.N.*` / `gen_ai.completion.N.*`
 * also written by OpenLLMetry, and the `gen_ai.*.message` / `gen_ai.choice` span events), OpenInference
 * (`llm.input_messages.N.message.*`, `llm.token_count.*`) and the AI SDK's `ai.*`.
 */
import type { CapturedCall } from "../calls/index.ts";
import type { Attributes, AttrValue, OtlpSpan } from "./decode.ts";

type Json = Record<string, unknown>;
type ChatMessage = Json & { role: string };

/** What a span becomes: a call as the proxy would capture it, with the span itself as its original. */
export type SpanCall = CapturedCall & {
  protocol: "otlp";
  originalRequest: Json;
  originalResponse: null;
};

const LLM_OPERATIONS = new Set(["chat", "text_completion", "generate_content"]);

/**
 * Whether a span is a call to a model. A convention's own kind decides where it has one (OpenInference's span
 * kind, GenAI's operation name, OpenLLMetry's request type), since agents, tools, retrievers and embeddings
 * carry model names too; a span with none of them is a call when it names a model or a provider.
 */
export function isLlmSpan(a: Attributes): boolean {
  const kind = str(a["openinference.span.kind"]);
  if (kind) return kind.toUpperCase() === "LLM";
  const op = str(a["gen_ai.operation.name"]);
  if (op) return LLM_OPERATIONS.has(op);
  const type = str(a["llm.request.type"]);
  if (type) return type === "chat" || type === "completion";
  if (a["traceloop.span.kind"] !== undefined) return false;
  return [
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.system",
    "gen_ai.provider.name",
    "llm.model_name",
  ].some((k) => str(a[k]) !== null);
}

/** The call a span is, or undefined for a span that is not a model call. Never throws on odd attribute values. */
export function spanToCall(span: OtlpSpan): SpanCall | undefined {
  const a = span.attributes;
  if (!isLlmSpan(a)) return undefined;
  const startedAt = nanosToMs(span.startTimeUnixNano);
  const endedAt = Math.max(startedAt, nanosToMs(span.endTimeUnixNano));
  const requestModel =
    str(a["gen_ai.request.model"]) ?? str(a["llm.model_name"]) ?? str(a["ai.model.id"]) ?? null;
  const responseModel =
    str(a["gen_ai.response.model"]) ??
    str(a["ai.response.model"]) ??
    str(a["llm.model_name"]) ??
    requestModel;
  const output = outputMessages(span);
  const usage = usageOf(a);
  const failed = span.status.code === 2;
  const finishReasons = strings(a["gen_ai.response.finish_reasons"]);
  const request: Json = {
    ...(requestModel ? { model: requestModel } : {}),
    messages: inputMessages(span),
    ...requestParams(a),
  };
  const tools = toolsOf(a);
  if (tools.length) request.tools = tools;
  const responseId = str(a["gen_ai.response.id"]) ?? str(a["ai.response.id"]);
  const hasResponse = output.length > 0 || usage !== undefined || responseId !== null;
  const response: Json | null =
    !hasResponse && failed
      ? null
      : {
          ...(responseId ? { id: responseId } : {}),
          object: "chat.completion",
          created: Math.floor(endedAt / 1000),
          ...(responseModel ? { model: responseModel } : {}),
          choices: output.map(({ finishReason, ...message }, index) => ({
            index,
            message,
            finish_reason: finishReason ?? finishReasons[index] ?? null,
          })),
          ...(usage ? { usage } : {}),
        };
  const error = failed
    ? span.status.message || str(a["error.type"]) || str(a["exception.message"]) || "span status ERROR"
    : null;
  return {
    // The same span sent twice (an exporter's retry) is one call: the insert skips an id it already has.
    id: `call_otlp_${span.traceId}_${span.spanId}`,
    startedAt,
    endedAt,
    ttftMs: num(a["ai.response.msToFirstChunk"]) ?? null,
    upstream:
      str(a["gen_ai.provider.name"]) ??
      str(a["gen_ai.system"]) ??
      str(a["llm.provider"]) ??
      str(a["llm.system"]) ??
      str(a["ai.model.provider"]) ??
      "otlp",
    path: "/v1/traces",
    stream: a["gen_ai.request.stream"] === true || a["llm.is_streaming"] === true,
    status: null,
    outcome: failed ? "upstream_error" : "ok",
    error,
    request,
    response,
    sessionId:
      str(a["session.id"]) ??
      str(a["gen_ai.conversation.id"]) ??
      str(a["traceloop.association.properties.session_id"]) ??
      str(a["ai.telemetry.metadata.sessionId"]),
    userId:
      str(a["user.id"]) ??
      str(a["enduser.id"]) ??
      str(a["traceloop.association.properties.user_id"]) ??
      str(a["ai.telemetry.metadata.userId"]),
    // The bare ids, as a tracing UI shows them, so `link` and `annotate` take what a user copies from it.
    tags: [...new Set([span.traceId, span.spanId, ...strings(a["tag.tags"])])],
    metadata: metadataOf(span),
    source: "api",
    protocol: "otlp",
    originalRequest: span as unknown as Json,
    originalResponse: null,
  };
}

function metadataOf(span: OtlpSpan): Json {
  const a = span.attributes;
  const out: Json = { "otel.span.name": span.name };
  const service = str(span.resource["service.name"]);
  if (service) out["service.name"] = service;
  if (span.scope.name) out["otel.scope.name"] = span.scope.name;
  const given = parsed(a.metadata);
  if (isObject(given)) Object.assign(out, given);
  for (const [k, v] of Object.entries(a)) {
    const m = /^(?:traceloop\.association\.properties|ai\.telemetry\.metadata)\.(.+)$/.exec(k);
    if (m?.[1] && !/^(user_?id|session_?id)$/i.test(m[1])) out[m[1]] = v;
  }
  return out;
}

function requestParams(a: Attributes): Json {
  const out: Json = {};
  const invocation = parsed(a["llm.invocation_parameters"]);
  if (isObject(invocation)) Object.assign(out, invocation);
  const params: Array<[string, string]> = [
    ["temperature", "gen_ai.request.temperature"],
    ["top_p", "gen_ai.request.top_p"],
    ["max_tokens", "gen_ai.request.max_tokens"],
    ["frequency_penalty", "gen_ai.request.frequency_penalty"],
    ["presence_penalty", "gen_ai.request.presence_penalty"],
    ["seed", "gen_ai.request.seed"],
  ];
  for (const [field, key] of params) {
    const v = num(a[key]);
    if (v !== undefined) out[field] = v;
  }
  const stop = strings(a["gen_ai.request.stop_sequences"]);
  if (stop.length) out.stop = stop;
  if (a["gen_ai.request.stream"] === true || a["llm.is_streaming"] === true) out.stream = true;
  // The instrumentation's own `metadata` and `user` belong to the call, not to the body sent to the model.
  delete out.metadata;
  return out;
}

/** Chat's usage shape, or undefined when the span counts no tokens. */
function usageOf(a: Attributes): Json | undefined {
  const first = (...keys: string[]) => {
    for (const k of keys) {
      const v = num(a[k]);
      if (v !== undefined) return v;
    }
    return undefined;
  };
  const prompt = first(
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.usage.prompt_tokens",
    "llm.token_count.prompt",
    "ai.usage.inputTokens",
    "ai.usage.promptTokens",
  );
  const completion = first(
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.usage.completion_tokens",
    "llm.token_count.completion",
    "ai.usage.outputTokens",
    "ai.usage.completionTokens",
  );
  const total = first("llm.usage.total_tokens", "llm.token_count.total", "ai.usage.totalTokens");
  const cached = first(
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",
    "ai.usage.cachedInputTokens",
  );
  const reasoning = first(
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.reasoning_tokens",
    "llm.token_count.completion_details.reasoning",
    "ai.usage.reasoningTokens",
  );
  if (prompt === undefined && completion === undefined && total === undefined) return undefined;
  return {
    prompt_tokens: prompt ?? 0,
    completion_tokens: completion ?? 0,
    total_tokens: total ?? (prompt ?? 0) + (completion ?? 0),
    ...(cached !== undefined ? { prompt_tokens_details: { cached_tokens: cached } } : {}),
    ...(reasoning !== undefined ? { completion_tokens_details: { reasoning_tokens: reasoning } } : {}),
  };
}

// ---- messages ---------------------------------------------------------------------------------------------

function inputMessages(span: OtlpSpan): ChatMessage[] {
  const a = span.attributes;
  const system = partsText(parsed(a["gen_ai.system_instructions"]));
  const withSystem = (messages: ChatMessage[]) =>
    system !== null && !messages.some((m) => m.role === "system")
      ? [{ role: "system", content: system }, ...messages]
      : messages;
  const current = parsed(a["gen_ai.input.messages"]);
  if (Array.isArray(current)) return withSystem(current.flatMap(fromSemconvMessage));
  const fromEvents = span.events.flatMap(inputEventMessages);
  if (fromEvents.length) return withSystem(fromEvents);
  const indexed = indexedMessages(a, "gen_ai.prompt");
  if (indexed.length) return withSystem(indexed.map(({ finishReason: _, ...m }) => m));
  const openInference = openInferenceMessages(a, "llm.input_messages");
  if (openInference.length) return withSystem(openInference.map(({ finishReason: _, ...m }) => m));
  const aiSdk = parsed(a["ai.prompt.messages"]);
  if (Array.isArray(aiSdk)) return withSystem(aiSdk.flatMap(fromAiSdkMessage));
  return withSystem([]);
}

type OutputMessage = ChatMessage & { finishReason?: string };

function outputMessages(span: OtlpSpan): OutputMessage[] {
  const a = span.attributes;
  const current = parsed(a["gen_ai.output.messages"]);
  if (Array.isArray(current))
    return current.flatMap((m) =>
      fromSemconvMessage(m).map((msg) => ({
        ...msg,
        ...(isObject(m) && typeof m.finish_reason === "string" ? { finishReason: m.finish_reason } : {}),
      })),
    );
  const fromEvents = span.events.flatMap(outputEventMessages);
  if (fromEvents.length) return fromEvents;
  const indexed = indexedMessages(a, "gen_ai.completion");
  if (indexed.length) return indexed.map((m) => ({ ...m, role: m.role || "assistant" }));
  const openInference = openInferenceMessages(a, "llm.output_messages");
  if (openInference.length) return openInference;
  const text = str(a["ai.response.text"]);
  const toolCalls = parsed(a["ai.response.toolCalls"]);
  if (text !== null || Array.isArray(toolCalls)) {
    const calls = Array.isArray(toolCalls) ? toolCalls.flatMap(aiSdkToolCall) : [];
    const finish = str(a["ai.response.finishReason"]);
    return [
      {
        role: "assistant",
        content: text,
        ...(calls.length ? { tool_calls: calls } : {}),
        ...(finish ? { finishReason: finish.replaceAll("-", "_") } : {}),
      },
    ];
  }
  return [];
}

/** A message of `gen_ai.input.messages` / `gen_ai.output.messages`: a role and typed parts. */
function fromSemconvMessage(m: unknown): ChatMessage[] {
  if (!isObject(m)) return [];
  const role = typeof m.role === "string" ? m.role : "user";
  const parts = Array.isArray(m.parts) ? m.parts.filter(isObject) : [];
  const text = parts
    .filter((p) => p.type === "text")
    .map((p) => String(p.content ?? ""))
    .join("");
  const reasoning = parts
    .filter((p) => p.type === "reasoning")
    .map((p) => String(p.content ?? ""))
    .join("");
  const toolCalls = parts
    .filter((p) => p.type === "tool_call")
    .map((p) => toolCall(p.id, p.name, p.arguments));
  const results = parts.filter((p) => p.type === "tool_call_response");
  const out: ChatMessage[] = [];
  if (text || toolCalls.length || reasoning || !results.length) {
    out.push({
      role,
      content: text || (toolCalls.length ? null : ""),
      ...(toolCalls.length ? { tool_calls: toolCalls } : {}),
      ...(reasoning ? { reasoning_content: reasoning } : {}),
    });
  }
  for (const r of results)
    out.push({ role: "tool", tool_call_id: String(r.id ?? ""), content: asText(r.response) });
  return out;
}

/** The older GenAI span events: one per input message, `gen_ai.content.prompt` with them all as JSON. */
function inputEventMessages(e: OtlpSpan["events"][number]): ChatMessage[] {
  const m = /^gen_ai\.(system|user|assistant|tool)\.message$/.exec(e.name);
  if (m?.[1]) return [eventMessage(m[1], e.attributes)];
  if (e.name === "gen_ai.content.prompt") {
    const list = parsed(e.attributes["gen_ai.prompt"]);
    return Array.isArray(list) ? list.filter(isObject).map(chatMessage) : [];
  }
  return [];
}

function outputEventMessages(e: OtlpSpan["events"][number]): OutputMessage[] {
  if (e.name === "gen_ai.choice") {
    const body = parsed(e.attributes.message);
    const message = isObject(body)
      ? chatMessage({ role: "assistant", ...body })
      : eventMessage("assistant", e.attributes);
    const finish = str(e.attributes.finish_reason);
    return [{ ...message, ...(finish ? { finishReason: finish } : {}) }];
  }
  if (e.name === "gen_ai.content.completion") {
    const list = parsed(e.attributes["gen_ai.completion"]);
    if (!Array.isArray(list)) return [];
    return list.filter(isObject).map((c) => {
      const body = isObject(c.message) ? c.message : c;
      const finish = typeof c.finish_reason === "string" ? c.finish_reason : undefined;
      return { ...chatMessage({ role: "assistant", ...body }), ...(finish ? { finishReason: finish } : {}) };
    });
  }
  return [];
}

function eventMessage(role: string, a: Attributes): ChatMessage {
  const calls = parsed(a.tool_calls);
  return chatMessage({
    role,
    content: parsed(a.content) ?? null,
    ...(Array.isArray(calls) ? { tool_calls: calls } : {}),
    ...(str(a.id) && role === "tool" ? { tool_call_id: str(a.id) } : {}),
  });
}

/** A message already in chat's shape (or near it): tool calls normalised, content kept. */
function chatMessage(m: Json): ChatMessage {
  const role = typeof m.role === "string" ? m.role : "user";
  const out: ChatMessage = {
    role,
    content:
      typeof m.content === "string" || Array.isArray(m.content)
        ? m.content
        : m.content == null
          ? null
          : asText(m.content),
  };
  if (Array.isArray(m.tool_calls)) {
    out.tool_calls = m.tool_calls.filter(isObject).map((c) => {
      const fn = isObject(c.function) ? c.function : c;
      return toolCall(c.id, fn.name, fn.arguments);
    });
  }
  if (typeof m.tool_call_id === "string") out.tool_call_id = m.tool_call_id;
  if (typeof m.name === "string") out.name = m.name;
  return out;
}

/** `<prefix>.N.role`, `.content`, `.tool_call_id`, `.finish_reason`, `.tool_calls.M.{id,name,arguments}`. */
function indexedMessages(a: Attributes, prefix: string): OutputMessage[] {
  return [...indexed(a, prefix)].map(([, m]) => {
    const calls = [...indexed(m, "tool_calls")].map(([, c]) => toolCall(c.id, c.name, c.arguments));
    const finish = str(m.finish_reason);
    return {
      role: str(m.role) ?? "user",
      content: m.content === undefined ? (calls.length ? null : "") : asText(m.content),
      ...(calls.length ? { tool_calls: calls } : {}),
      ...(str(m.tool_call_id) ? { tool_call_id: str(m.tool_call_id) } : {}),
      ...(finish ? { finishReason: finish } : {}),
    };
  });
}

/** OpenInference: `<prefix>.N.message.role`, `.content` or `.contents.M.message_content.text`, `.tool_calls.M.tool_call.*`. */
function openInferenceMessages(a: Attributes, prefix: string): OutputMessage[] {
  return [...indexed(a, prefix)].map(([, m]) => {
    const parts = [...indexed(m, "message.contents")]
      .map(([, p]) => str(p["message_content.text"]))
      .filter((t): t is string => t !== null);
    const calls = [...indexed(m, "message.tool_calls")].map(([, c]) =>
      toolCall(c["tool_call.id"], c["tool_call.function.name"], c["tool_call.function.arguments"]),
    );
    const content = m["message.content"] !== undefined ? asText(m["message.content"]) : parts.join("");
    return {
      role: str(m["message.role"]) ?? "user",
      content: content === "" && calls.length ? null : content,
      ...(calls.length ? { tool_calls: calls } : {}),
      ...(str(m["message.tool_call_id"]) ? { tool_call_id: str(m["message.tool_call_id"]) } : {}),
      ...(str(m["message.name"]) ? { name: str(m["message.name"]) } : {}),
    };
  });
}

/** The AI SDK's prompt messages: content as text or typed parts (`text`, `tool-call`, `tool-result`). */
function fromAiSdkMessage(m: unknown): ChatMessage[] {
  if (!isObject(m)) return [];
  const role = typeof m.role === "string" ? m.role : "user";
  if (typeof m.content === "string") return [{ role, content: m.content }];
  const parts = Array.isArray(m.content) ? m.content.filter(isObject) : [];
  if (role === "tool")
    return parts.map((p) => ({
      role: "tool",
      tool_call_id: String(p.toolCallId ?? ""),
      content: asText(p.output ?? p.result),
    }));
  const text = parts
    .filter((p) => p.type === "text")
    .map((p) => String(p.text ?? ""))
    .join("");
  const calls = parts.filter((p) => p.type === "tool-call").flatMap(aiSdkToolCall);
  return [
    { role, content: text || (calls.length ? null : ""), ...(calls.length ? { tool_calls: calls } : {}) },
  ];
}

function aiSdkToolCall(c: unknown): Json[] {
  if (!isObject(c)) return [];
  return [toolCall(c.toolCallId, c.toolName, c.input ?? c.args)];
}

/** Tools offered: OpenInference's `llm.tools.N.tool.json_schema`, OpenLLMetry's `llm.request.functions.N.*`. */
function toolsOf(a: Attributes): Json[] {
  const fromSchemas = [...indexed(a, "llm.tools")]
    .map(([, t]) => parsed(t["tool.json_schema"]))
    .filter(isObject);
  const fromFunctions = [...indexed(a, "llm.request.functions")].map(([, f]) => ({
    type: "function",
    function: {
      name: str(f.name) ?? "",
      ...(str(f.description) ? { description: str(f.description) } : {}),
      ...(f.parameters !== undefined ? { parameters: parsed(f.parameters) } : {}),
    },
  }));
  return [...fromSchemas, ...fromFunctions];
}

function toolCall(id: unknown, name: unknown, args: unknown): Json {
  return {
    id: typeof id === "string" ? id : String(id ?? ""),
    type: "function",
    function: { name: typeof name === "string" ? name : String(name ?? ""), arguments: asText(args ?? {}) },
  };
}

// ---- values ---------------------------------------------------------------------------------------------

/**
 * The attributes under `<prefix>.N.` grouped by N (in N's order), each group keyed by the rest of its names:
 * `gen_ai.prompt.0.role` is group 0's `role`.
 */
function indexed(a: Attributes, prefix: string): Map<number, Attributes> {
  const groups = new Map<number, Attributes>();
  const head = `${prefix}.`;
  for (const [k, v] of Object.entries(a)) {
    if (!k.startsWith(head)) continue;
    const m = /^(\d+)\.(.+)$/.exec(k.slice(head.length));
    if (!m?.[1] || !m[2]) continue;
    const n = Number(m[1]);
    const group = groups.get(n) ?? {};
    groups.set(n, group);
    group[m[2]] = v;
  }
  return new Map([...groups].sort(([x], [y]) => x - y));
}

/** The text of `gen_ai.system_instructions` (typed parts), or null. */
function partsText(v: unknown): string | null {
  if (typeof v === "string") return v;
  if (!Array.isArray(v)) return null;
  const text = v
    .filter(isObject)
    .map((p) => (typeof p.content === "string" ? p.content : ""))
    .join("");
  return text || null;
}

/** A value that instrumentations write as JSON text (OTel attributes hold no objects), parsed; anything else as is. */
function parsed(v: AttrValue | unknown): unknown {
  if (typeof v !== "string") return v;
  const t = v.trimStart();
  if (!t.startsWith("{") && !t.startsWith("[")) return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

function asText(v: unknown): string {
  if (typeof v === "string") return v;
  if (v === undefined || v === null) return "";
  return JSON.stringify(v);
}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | null {
  return typeof v === "string" && v !== "" ? v : null;
}

function num(v: unknown): number | undefined {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "string" && /^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  return undefined;
}

function strings(v: unknown): string[] {
  const value = parsed(v);
  if (Array.isArray(value)) return value.filter((s): s is string => typeof s === "string");
  return typeof value === "string" && value ? [value] : [];
}

/** Nanoseconds since the epoch (text, possibly past 2^53) to milliseconds. */
function nanosToMs(nanos: string): number {
  if (!/^\d+$/.test(nanos)) return 0;
  return Number(BigInt(nanos) / 1_000_000n);
}
