/**
 * What lists show of a call, computed once when it is stored: its preview (the last user message and the
 * answer, shortened) and whether its output fails the JSON its request asked for. Lists read these bounded
 * columns and never the bodies: parsing a page of 15 MB bodies to show 200 characters of each cost seconds of
 * event loop and hundreds of MB (issue 12).
 *
 * A kit below the store and the domains (it imports only the SDK's chat kernel and util/clip.ts): calls/ fills the
 * columns with it at insert, and the store's migration 0007 filled those of calls stored before, with the same
 * function, so old and new rows agree.
 * Nothing here throws, whatever the body: a client, an upstream or an old row may hold anything.
 */
import { firstChoice, firstMessage } from "intersebd/chat";
import { clip } from "../util/clip.ts";

/** Characters (code points) of each preview; longer text is cut and ends with `…`. */
export const PREVIEW_CHARS = 200;

/** The columns `toCallRow` adds to a call and the migration fills in for older ones. */
export interface PreviewColumns {
  previewInput: string | null;
  previewOutput: string | null;
  schemaFailure: string | null;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Shortens `s` to `n` code points (`clip`), without NUL characters (PostgreSQL refuses them in text) and lone
 * surrogates (which UTF-8 cannot carry); null for empty text.
 */
export function previewText(s: string | null | undefined, n = PREVIEW_CHARS): string | null {
  if (!s) return null;
  let cut = false;
  const out = clip(s, n, () => {
    cut = true;
    return "";
  })
    .replaceAll("\u0000", "")
    .toWellFormed();
  if (!out) return null;
  return cut ? `${out}…` : out;
}

/** The words of a message's content: text parts joined, other parts named, stopping once the preview is full. */
function textOf(content: unknown): string | null {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return null;
  const parts: string[] = [];
  let length = 0;
  for (const p of content) {
    if (length > PREVIEW_CHARS) break;
    let t: string | undefined;
    if (typeof p === "string") t = p;
    else if (isObject(p)) {
      if (typeof p.text === "string") t = p.text;
      else if (p.type === "image_url" || p.type === "input_image" || p.type === "image") t = "[image]";
      else if (p.type === "input_audio") t = "[audio]";
      else if (p.type === "file" || p.type === "input_file") t = "[file]";
    }
    if (t) {
      parts.push(t);
      length += t.length + 1;
    }
  }
  return parts.length ? parts.join(" ") : null;
}

/** The last user message of a chat request, or a completions / embeddings / responses request's input. */
function inputOf(request: Json): string | null {
  const messages = Array.isArray(request.messages)
    ? request.messages
    : Array.isArray(request.input) && request.input.some((m) => isObject(m) && "role" in m)
      ? request.input
      : undefined;
  if (messages) {
    for (let i = messages.length - 1; i >= 0; i--) {
      const m = messages[i];
      if (isObject(m) && m.role === "user") return textOf(m.content);
    }
    return null;
  }
  // A completions prompt or an embeddings input: a string, or a list of strings.
  for (const value of [request.input, request.prompt]) {
    if (typeof value === "string") return value;
    if (Array.isArray(value)) return textOf(value);
  }
  return null;
}

/** The answer: the first choice's text, its refusal or the tools it calls, or the error. */
function outputOf(response: Json): string | null {
  const choice = firstChoice(response);
  if (choice) {
    const message = firstMessage(response);
    if (message) {
      const text = textOf(message.content);
      if (text) return text;
      if (typeof message.refusal === "string" && message.refusal) return message.refusal;
      // Every entry counts, a malformed one as "?": the preview says the answer was tool calls.
      const calls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
      const names = calls.map((c) =>
        isObject(c) && isObject(c.function) && typeof c.function.name === "string" ? c.function.name : "?",
      );
      // The arrow marks a tool call; the web app drops it where the column already says so.
      if (names.length) return `→ ${names.slice(0, 20).join(", ")}()`;
    }
    if (typeof choice.text === "string" && choice.text) return choice.text;
  }
  if (typeof response.output_text === "string" && response.output_text) return response.output_text;
  if (Array.isArray(response.output)) {
    for (const item of response.output) {
      if (isObject(item) && item.type === "message") {
        const text = textOf(item.content);
        if (text) return text;
      }
    }
  }
  const error = response.error;
  const message = isObject(error) ? error.message : typeof error === "string" ? error : undefined;
  return typeof message === "string" && message ? `error: ${message}` : null;
}

/** A call's preview from its stored bodies (after the capture mode): both ends shortened, or null. */
export function previewOf(
  request: unknown,
  response: unknown,
): { input: string | null; output: string | null } {
  let input: string | null = null;
  let output: string | null = null;
  try {
    if (isObject(request)) input = previewText(inputOf(request));
  } catch {}
  try {
    if (isObject(response)) output = previewText(outputOf(response));
  } catch {}
  return { input, output };
}

/** Why an output fails the JSON its request asked for, or undefined when it does not (or cannot be checked). */
export function schemaFailure(request: unknown, response: unknown): string | undefined {
  if (!isObject(request) || !isObject(request.response_format)) return undefined;
  const format = request.response_format as { type?: unknown; json_schema?: Json };
  if (format.type !== "json_schema" && format.type !== "json_object") return undefined;
  const message = firstMessage(response);
  if (!message) return undefined;
  if (typeof message.refusal === "string" && message.refusal)
    return `the model refused instead of answering in ${format.type}`;
  if (typeof message.content !== "string") return undefined;
  let value: unknown;
  try {
    value = JSON.parse(message.content);
  } catch {
    return `output is not valid JSON though response_format asks for ${format.type}`;
  }
  if (format.type === "json_object") {
    return isObject(value)
      ? undefined
      : "output is JSON but not an object, though response_format asks for json_object";
  }
  const jsonSchema = isObject(format.json_schema) ? format.json_schema : undefined;
  const schema = isObject(jsonSchema?.schema)
    ? (jsonSchema.schema as { type?: unknown; required?: unknown })
    : undefined;
  const name = typeof jsonSchema?.name === "string" ? ` "${jsonSchema.name}"` : "";
  if (!schema) return undefined;
  if (schema.type === "object" && !isObject(value)) {
    return `output is not an object, though the json_schema${name} asks for one`;
  }
  if (Array.isArray(schema.required) && isObject(value)) {
    const missing = schema.required.filter((k): k is string => typeof k === "string" && !(k in value));
    if (missing.length)
      return `output misses required key(s) ${missing.join(", ")} of the json_schema${name}`;
  }
  return undefined;
}

/**
 * The list columns of a call. `stored` are the bodies as stored (after the capture mode: the preview shows
 * nothing the store does not keep); `original` the bodies as captured, for the schema check, which `metadata`
 * mode's placeholders would fail. The check's reason quotes only the request's schema, never the conversation.
 */
export function previewColumns(
  stored: { request: unknown; response: unknown },
  original: { request: unknown; response: unknown } = stored,
): PreviewColumns {
  const p = previewOf(stored.request, stored.response);
  let failure: string | undefined;
  try {
    failure = schemaFailure(original.request, original.response);
  } catch {}
  return { previewInput: p.input, previewOutput: p.output, schemaFailure: previewText(failure, 500) };
}

/** Parses a stored body; anything that is not JSON (or too deep to parse) counts as no body. */
function parseStored(text: string | null | undefined): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * The list columns of a call known only by its stored text (older rows, rows spooled by an older version).
 * `checkSchema` is false for calls stored in `metadata` mode, whose placeholders are not the real output.
 */
export function previewColumnsOfText(
  request: string | null | undefined,
  response: string | null | undefined,
  checkSchema = true,
): PreviewColumns {
  const stored = { request: parseStored(request), response: parseStored(response) };
  const columns = previewColumns(stored);
  return checkSchema ? columns : { ...columns, schemaFailure: null };
}

/**
 * A row as `toCallRow` makes it now: rows spooled by a version before the list columns existed lack them, and
 * get them here, from their stored bodies, appended last as `toCallRow` places them (the compiled INSERTs bind
 * columns by position).
 */
export function withPreview<
  R extends { request?: string | null; response?: string | null; capture: string; previewInput?: unknown },
>(row: R): R {
  if ("previewInput" in row) return row;
  return { ...row, ...previewColumnsOfText(row.request, row.response, row.capture !== "metadata") };
}
