/**
 * The in-memory model exports are built from, and the normalisation of stored Chat Completions bodies into
 * training messages. Pure functions: no store, no I/O.
 *
 * What is kept of a message (everything else, e.g. `refusal`, `audio`, `annotations`, `index`, is dropped,
 * because fine-tuning validators reject unknown keys):
 * - system/user: `role`, `content` (text or content parts), `name`
 * - assistant: `role`, `content` (text; omitted when null and there are tool calls), `name`, `tool_calls`
 * - tool: `role`, `tool_call_id`, `content` (text), and for TRL the function `name` it answers
 * `developer` messages become `system` (fine-tuning formats and chat templates know only `system`).
 * Tool call `arguments` stay a JSON string for OpenAI; for TRL they are parsed into an object, the shape
 * chat templates expect (TRL "Tool Calling" dataset docs).
 */
import { finishReasonOf, firstMessage } from "intersebd/chat";
import type { AnnotationView } from "../graph/index.ts";
import type { DropReason } from "./reasons.ts";

/** OpenAI formats keep provider JSON strings; TRL formats follow Hugging Face chat-template conventions. */
export type Target = "openai" | "trl";

export interface ToolCall {
  id: string;
  type: string;
  function: { name: string; arguments: string | Record<string, unknown> };
}

/** A training message. Keys appear in this order when serialised. */
export interface Message {
  role: string;
  content?: unknown;
  name?: string;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
}

/** A stored call, as much of it as exports read. */
export interface ExportCall {
  id: string;
  completionId: string | null;
  sessionId: string | null;
  userId: string | null;
  startedAt: number;
  request: Record<string, unknown> | null;
  response: Record<string, unknown> | null;
  /** Why a call of another protocol has no chat bodies (calls.conversion_error), else null or absent. */
  conversionError?: string | null;
}

/** A resolved annotation of a call (PRODUCT.md "Annotation"). */
export interface ExportAnnotation
  extends Omit<AnnotationView, "annotationKey" | "notificationId" | "createdAt" | "correction"> {
  key: string;
  /** A string or an assistant message object. */
  correction: unknown;
  createdAt: number;
}

/** One call with everything that resolves to it. */
export interface ExportItem {
  call: ExportCall;
  annotations: ExportAnnotation[];
}

/** What the model was given: the request's messages and tools. */
export interface Prompt {
  messages: Message[];
  tools?: unknown[];
  parallelToolCalls?: boolean;
}

export type Result<T> = { ok: true; value: T } | { ok: false; reason: DropReason };
const ok = <T>(value: T): Result<T> => ({ ok: true, value });
const fail = <T>(reason: DropReason): Result<T> => ({ ok: false, reason });

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Text parts joined into one string; other content (images, audio) is returned unchanged. */
function flattenText(content: unknown): unknown {
  if (!Array.isArray(content)) return content;
  if (!content.every((p) => isObject(p) && p.type === "text" && typeof p.text === "string")) return content;
  return content.map((p) => (p as { text: string }).text).join("");
}

function normalizeToolCall(raw: unknown, target: Target): ToolCall | unknown {
  if (!isObject(raw) || !isObject(raw.function)) return raw;
  const fn = raw.function;
  let args: unknown = fn.arguments;
  if (target === "trl" && typeof args === "string") {
    try {
      const parsed: unknown = JSON.parse(args);
      if (isObject(parsed)) args = parsed;
    } catch {
      // Left as the string it was: the validator reports invalid_tool_arguments.
    }
  }
  return { id: raw.id, type: raw.type ?? "function", function: { name: fn.name, arguments: args } };
}

/** Normalises one message of a request or response; the validator judges what comes out. */
export function normalizeMessage(raw: unknown, target: Target): Message {
  if (!isObject(raw)) return { role: "", content: raw };
  const role = raw.role === "developer" ? "system" : typeof raw.role === "string" ? raw.role : "";
  const out: Message = { role };
  if (role === "assistant") {
    const calls = Array.isArray(raw.tool_calls)
      ? raw.tool_calls.map((c) => normalizeToolCall(c, target) as ToolCall)
      : [];
    const content = flattenText(raw.content);
    if (!(content === null || content === undefined) || calls.length === 0) out.content = content ?? null;
    if (typeof raw.name === "string") out.name = raw.name;
    if (calls.length) out.tool_calls = calls;
    return out;
  }
  if (role === "tool") {
    out.content = flattenText(raw.content);
    if (typeof raw.tool_call_id === "string") out.tool_call_id = raw.tool_call_id;
    return out;
  }
  out.content = raw.content;
  if (typeof raw.name === "string") out.name = raw.name;
  return out;
}

/** TRL chat templates name the function a tool message answers; OpenAI messages carry only its id. */
function nameToolMessages(messages: Message[]): void {
  const names = new Map<string, string>();
  for (const m of messages) {
    for (const c of m.tool_calls ?? []) {
      if (typeof c?.id === "string" && typeof c.function?.name === "string") names.set(c.id, c.function.name);
    }
    if (m.role === "tool" && m.tool_call_id !== undefined) {
      const name = names.get(m.tool_call_id);
      if (name !== undefined) {
        const { content, tool_call_id } = m;
        delete m.content;
        delete m.tool_call_id;
        Object.assign(m, { name, content, tool_call_id });
      }
    }
  }
}

/** Whether the call is a Chat Completions call: its request has a `messages` array. */
export function isChat(call: ExportCall): boolean {
  return Array.isArray(call.request?.messages);
}

/** The request's messages and tools, normalised for `target`. */
export function promptOf(call: ExportCall, target: Target): Result<Prompt> {
  const req = call.request;
  if (call.conversionError) return fail("not_convertible");
  if (!req || !Array.isArray(req.messages)) return fail("not_chat");
  const messages = req.messages.map((m) => normalizeMessage(m, target));
  if (target === "trl") nameToolMessages(messages);
  const prompt: Prompt = { messages };
  if (Array.isArray(req.tools) && req.tools.length > 0) prompt.tools = req.tools;
  if (typeof req.parallel_tool_calls === "boolean") prompt.parallelToolCalls = req.parallel_tool_calls;
  return ok(prompt);
}

/** The first choice's message: the answer the model gave. */
export function answerOf(call: ExportCall, target: Target): Result<Message> {
  const message = firstMessage(call.response);
  if (!message) return fail("no_answer");
  const finish = finishReasonOf(call.response);
  if (finish === "length") return fail("answer_truncated");
  if (finish === "content_filter") return fail("answer_filtered");
  return ok(normalizeMessage({ ...message, role: "assistant" }, target));
}

const sourceRank = (s: string) => (s === "human" ? 0 : s === "user" ? 1 : 2);

/**
 * The correction that replaces the answer: a human's first, then an end user's, then any other source;
 * among those the newest. Undefined when no annotation carries one.
 */
export function correctionOf(annotations: ExportAnnotation[]): ExportAnnotation | undefined {
  let best: ExportAnnotation | undefined;
  for (const a of annotations) {
    if (a.correction === null || a.correction === undefined) continue;
    if (
      !best ||
      sourceRank(a.source) < sourceRank(best.source) ||
      (sourceRank(a.source) === sourceRank(best.source) &&
        (a.createdAt > best.createdAt || (a.createdAt === best.createdAt && a.id > best.id)))
    )
      best = a;
  }
  return best;
}

/** A correction (text or message object) as an assistant message. */
export function correctionMessage(correction: unknown, target: Target): Message {
  if (typeof correction === "string") return { role: "assistant", content: correction };
  return normalizeMessage({ ...(isObject(correction) ? correction : {}), role: "assistant" }, target);
}

/** Mean numeric reward of the annotations named `name`; undefined when none has one. */
export function rewardOf(annotations: ExportAnnotation[], name: string): number | undefined {
  let sum = 0;
  let n = 0;
  for (const a of annotations) {
    if (a.name === name && typeof a.numericReward === "number") {
      sum += a.numericReward;
      n++;
    }
  }
  return n ? sum / n : undefined;
}

/** The conversation without its system messages: what two compared answers must share. */
export function conversationKey(prompt: Prompt): string {
  return JSON.stringify(prompt.messages.filter((m) => m.role !== "system"));
}

/** Identical request messages and tools. */
export function inputKey(prompt: Prompt): string {
  return JSON.stringify([prompt.messages, prompt.tools ?? null]);
}
