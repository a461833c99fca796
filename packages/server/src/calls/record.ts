/**
 * Turns what the proxy (or an SDK, or POST /api/calls) saw into the row the store keeps:
 * capture mode applied, usage extracted, cost computed. Runs after the response is done, off the hot path.
 */
import {
  ConversionError,
  completionIdOf,
  messagesRequestToChat,
  messagesResponseToChat,
  responsesRequestToChat,
  responsesResponseToChat,
  usageOf,
} from "intersebd/chat";
import { previewColumns } from "../chat/preview.ts";
import type { CaptureMode } from "../config/index.ts";
import type { CallProtocol, NewCallRow } from "../store/index.ts";
import { readStringArray } from "../store/json.ts";
import { experimentTags } from "./experiment-tags.ts";
import { costUsd } from "./pricing.ts";
import { applyCaptureMode, type RedactPattern, redactText } from "./redact.ts";

export const outcomes = ["ok", "upstream_error", "network_error", "client_aborted", "timeout"] as const;
export type Outcome = (typeof outcomes)[number];

/** Everything known about one call when it ends. */
export interface CapturedCall {
  id: string;
  startedAt: number;
  endedAt: number;
  ttftMs: number | null;
  upstream: string;
  path: string;
  stream: boolean;
  status: number | null;
  outcome: Outcome;
  error: string | null;
  request: Record<string, unknown> | null;
  response: Record<string, unknown> | null;
  /** The bodies' JSON text as received, when known: stored as is in `full` mode instead of re-serialising. */
  requestText?: string;
  responseText?: string;
  sessionId: string | null;
  userId: string | null;
  tags: string[];
  metadata: Record<string, unknown>;
  source: "proxy" | "sdk" | "api";
  /** The experiment the call went through and its variant (experiments/router.ts, or the SDK that applied it). */
  experiment?: string | null;
  variant?: string | null;
  /** `userId:<id>`, `sessionId:<id>` or `request:<call id>`; null when the request lacked the unit's id. */
  assignmentUnit?: string | null;
  /** For a shadow call: the id of the call it shadows. */
  shadowOf?: string | null;
  /** The hash of the configuration that captured it (calls/provenance.ts), set by `admitCall`. */
  configHash?: string | null;
  /**
   * The protocol the call spoke; chat when absent. For `responses` and `messages`, `originalRequest` /
   * `originalResponse` are the bodies as received (a stream's final object as its official client builds it) and
   * `toCallRow` converts them to the chat shape it stores as `request` / `response`; a capturer that only has
   * `request` / `response` may leave the originals out: those are then taken as the originals. An `otlp` call
   * comes with `request` / `response` already in chat shape, and its span's attributes as the originals.
   */
  protocol?: CallProtocol;
  originalRequest?: Record<string, unknown> | null;
  originalResponse?: Record<string, unknown> | null;
  /** The originals' JSON text as received, when known: stored as is in `full` mode. */
  originalRequestText?: string;
  originalResponseText?: string;
}

/**
 * A call's tags with its experiment's (experiment-tags.ts), so that its `tags` JSON shows every tag it answers to.
 */
function tagsWithExperiment(call: CapturedCall): string[] {
  if (!call.experiment) return call.tags;
  return [...new Set([...call.tags, ...experimentTags(call.experiment, call.variant)])];
}

// Values taken from the bodies must fit their columns whatever the client or upstream sent: on PostgreSQL 1.5
// or 3e10 in an integer column fails the insert, and the write-behind queue would retry that batch forever.
// Such values are dropped, not stored. NUL characters are replaced in the whole row at the end (`storable`).
const INT_MAX = 2_147_483_647;
const int = (v: unknown): number | null =>
  typeof v === "number" && Number.isInteger(v) && Math.abs(v) <= INT_MAX ? v : null;
const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);

const NUL = "\u0000";
const REPLACEMENT = "\ufffd";
/** Columns holding JSON text, where a NUL is written as the escape `\u0000`. */
const JSON_COLUMNS = new Set<string>([
  "request",
  "response",
  "tags",
  "metadata",
  "originalRequest",
  "originalResponse",
]);
/**
 * An escape PostgreSQL's `jsonb` refuses: `\u0000`, or half of a surrogate pair without its other half
 * (`\ud800` alone; JSON.stringify writes a lone surrogate that way). Preceded by an even number of backslashes
 * (`\\u0000` is a backslash, then `u0000`).
 */
const UNSTORABLE_ESCAPE =
  /(?<!\\)((?:\\\\)*)(?:\\u0000|\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2})/g;

/**
 * The row with every NUL character and every lone surrogate, in every string column and in every string and key
 * of its JSON columns, replaced by U+FFFD. PostgreSQL's `text` cannot hold a NUL, nor its `jsonb` a `\u0000` escape: the insert
 * fails, or a later `metadata::jsonb ->> 'promptVersion'` fails for every query that meets the row. The proxy
 * must forward whatever it is sent, so it cannot refuse such a call; it stores it readable on both databases.
 * Works on the text (no parse, any depth) and costs one scan per string when there is nothing to replace.
 */
export function storable(row: NewCallRow): NewCallRow {
  const out: Record<string, unknown> = row;
  for (const [k, v] of Object.entries(row)) {
    if (typeof v !== "string") continue;
    let text = v.includes(NUL) ? v.replaceAll(NUL, REPLACEMENT) : v;
    // A lone surrogate in a text column is written as U+FFFD by the drivers' UTF-8 encoding anyway; here it
    // is explicit, and the same on both databases.
    if (!text.isWellFormed()) text = text.toWellFormed();
    if (JSON_COLUMNS.has(k) && text.includes("\\u")) text = text.replace(UNSTORABLE_ESCAPE, "$1\\ufffd");
    if (text !== v) out[k] = text;
  }
  return row;
}

/** A body as stored (capture mode applied): its value, for the preview, and its text. */
function storedBody(
  body: Record<string, unknown> | null,
  text: string | undefined,
  capture: CaptureMode,
  patterns: RedactPattern[],
): { value: unknown; text: string | null } {
  if (!body) return { value: null, text: null };
  if (capture === "full" && text !== undefined) return { value: body, text };
  const value = applyCaptureMode(body, capture, patterns);
  return { value, text: JSON.stringify(value) };
}

type Body = Record<string, unknown> | null;

/** A call in the chat shape with, for another protocol, its originals and why they could not be converted. */
interface ChatModel {
  chat: { request: Body; response: Body; requestText?: string; responseText?: string };
  originals: { request: Body; response: Body; requestText?: string; responseText?: string };
  conversionError: string | null;
}

/**
 * The chat shape of a call (intersebd/chat's converters for Responses and Messages; a chat or OTLP call already
 * is chat). Never throws: a body the converters refuse leaves null chat bodies and the reason, and the originals
 * are stored all the same.
 */
function chatModel(call: CapturedCall): ChatModel {
  const protocol = call.protocol ?? "chat";
  const given = {
    request: call.request,
    response: call.response,
    requestText: call.requestText,
    responseText: call.responseText,
  };
  if (protocol !== "responses" && protocol !== "messages") {
    const originals =
      protocol === "chat"
        ? { request: null, response: null }
        : {
            request: call.originalRequest ?? null,
            response: call.originalResponse ?? null,
            requestText: call.originalRequestText,
            responseText: call.originalResponseText,
          };
    return { chat: given, originals, conversionError: null };
  }
  // A capturer that had only `request` / `response` handed the originals there.
  const originals =
    call.originalRequest !== undefined || call.originalResponse !== undefined
      ? {
          request: call.originalRequest ?? null,
          response: call.originalResponse ?? null,
          requestText: call.originalRequestText,
          responseText: call.originalResponseText,
        }
      : given;
  const [toRequest, toResponse] =
    protocol === "responses"
      ? [responsesRequestToChat, responsesResponseToChat]
      : [messagesRequestToChat, messagesResponseToChat];
  try {
    return {
      chat: {
        request: originals.request === null ? null : toRequest(originals.request),
        response: toResponse(originals.response),
      },
      originals,
      conversionError: null,
    };
  } catch (err) {
    const why = err instanceof ConversionError ? err.message : `conversion failed: ${String(err)}`;
    return { chat: { request: null, response: null }, originals, conversionError: why.slice(0, 2000) };
  }
}

/** Builds the stored row. `capture` and `patterns` apply the privacy mode to both bodies. */
export function toCallRow(
  call: CapturedCall,
  capture: CaptureMode,
  patterns: RedactPattern[] = [],
): NewCallRow {
  const protocol = call.protocol ?? "chat";
  const model = chatModel(call);
  const originalRequest =
    protocol === "chat"
      ? { value: null, text: null }
      : storedBody(model.originals.request, model.originals.requestText, capture, patterns);
  const originalResponse =
    protocol === "chat"
      ? { value: null, text: null }
      : storedBody(model.originals.response, model.originals.responseText, capture, patterns);
  const { conversionError } = model;
  const chat = model.chat;
  const usage = usageOf(chat.response);
  const requestedModel = str(chat.request?.model);
  const servedModel = str(chat.response?.model);
  const tokens = {
    promptTokens: int(usage.promptTokens),
    completionTokens: int(usage.completionTokens),
    cachedTokens: int(usage.cachedTokens),
  };
  // The body's own `user` and `metadata` fields are the service's, so they count as the call's too.
  const bodyMetadata = chat.request?.metadata;
  const metadata =
    bodyMetadata && typeof bodyMetadata === "object" && !Array.isArray(bodyMetadata)
      ? { ...(bodyMetadata as Record<string, unknown>), ...call.metadata }
      : call.metadata;
  const request = storedBody(chat.request, chat.requestText, capture, patterns);
  const response = storedBody(chat.response, chat.responseText, capture, patterns);
  // A call that could not be converted shows what its originals let the preview read (it knows Responses' fields).
  const preview =
    conversionError === null
      ? previewColumns({ request: request.value, response: response.value }, chat)
      : previewColumns(
          { request: originalRequest.value, response: originalResponse.value },
          { request: null, response: null },
        );
  return storable({
    id: call.id,
    completionId: completionIdOf(chat.response),
    startedAt: call.startedAt,
    endedAt: call.endedAt,
    durationMs: int(call.endedAt - call.startedAt),
    ttftMs: int(call.ttftMs),
    upstream: call.upstream,
    path: call.path,
    requestedModel,
    servedModel,
    stream: call.stream ? 1 : 0,
    status: call.status,
    outcome: call.outcome,
    error: call.error,
    request: request.text,
    response: response.text,
    ...tokens,
    reasoningTokens: int(usage.reasoningTokens),
    totalTokens: int(usage.totalTokens),
    costUsd: costUsd(servedModel ?? requestedModel, tokens),
    sessionId: call.sessionId,
    userId: call.userId ?? str(chat.request?.user),
    tags: JSON.stringify(tagsWithExperiment(call)),
    metadata: JSON.stringify(metadata),
    capture,
    source: call.source,
    // Always present, null or not, so that every row has the same columns (one cached INSERT: insert.ts).
    experiment: call.experiment ?? null,
    variant: call.experiment ? (call.variant ?? null) : null,
    assignmentUnit: call.experiment ? (call.assignmentUnit ?? null) : null,
    shadowOf: call.shadowOf ?? null,
    // Last, in this order: rows spooled by a version without them get them appended (`withPreview`).
    ...preview,
    // After the preview columns: rows spooled before it existed keep their column order, only lacking it.
    configHash: call.configHash ?? null,
    // Last again, for the same reason (0019): rows spooled before lack them and are stored as chat.
    protocol,
    originalRequest: originalRequest.text,
    originalResponse: originalResponse.text,
    conversionError,
  });
}

/**
 * What the proxy still knows of a call whose record could not be built (`toCallRow` or the record's assembly
 * threw): plain values and the bodies' raw text, which can always be serialised.
 */
export interface UnbuiltCall {
  id: string;
  startedAt: number;
  endedAt: number;
  upstream: string;
  path: string;
  status: number | null;
  outcome: Outcome;
  error: string | null;
  requestText: string | null;
  /** Null for a streamed answer, whose events were parsed as they came and are not kept as text. */
  responseText: string | null;
  sessionId: string | null;
  userId: string | null;
  tags: string[];
}

/**
 * The line kept in `rejected-*.jsonl` for a call that could not be built: its values, and its raw bodies with
 * the capture mode applied as text (redacted, or reduced to their length), so that nothing is kept that the
 * store would not have kept. Credentials are never part of it: headers are not captured.
 */
export function unbuiltRow(
  call: UnbuiltCall,
  capture: CaptureMode,
  patterns: RedactPattern[] = [],
): Record<string, unknown> {
  const body = (text: string | null) =>
    text === null || capture === "full"
      ? text
      : capture === "redacted"
        ? redactText(text, patterns)
        : `[${text.length} chars]`;
  return {
    ...call,
    requestText: body(call.requestText),
    responseText: body(call.responseText),
    capture,
    source: "proxy",
  };
}

/** The tags a call answers to: its id, its completion id, the tags it was given and its experiment's. */
export function tagsOf(row: Pick<NewCallRow, "id" | "completionId" | "tags">): string[] {
  const tags = new Set<string>([row.id]);
  if (row.completionId) tags.add(row.completionId);
  // The `tags` JSON lists every tag it was given and its experiment's.
  for (const t of readStringArray(row.tags)) tags.add(t);
  return [...tags];
}

/**
 * The tags stored as `call_tags` rows: those a call was given, without its id and completion id and without its
 * experiment's tags, all of which `call_keys` derives from the call's own columns.
 */
export function customTagsOf(
  row: Pick<NewCallRow, "id" | "completionId" | "tags"> & Partial<Pick<NewCallRow, "experiment" | "variant">>,
): string[] {
  const given = new Set(readStringArray(row.tags));
  given.delete(row.id);
  if (row.completionId) given.delete(row.completionId);
  for (const t of experimentTags(row.experiment, row.variant)) given.delete(t);
  return [...given];
}
