/**
 * Turns what the proxy (or an SDK, or POST /api/calls) saw into the row the store keeps:
 * capture mode applied, usage extracted, cost computed. Runs after the response is done, off the hot path.
 */
import type { CaptureMode } from "../config/index.ts";
import type { NewCallRow } from "../store/index.ts";
import { previewColumns } from "./preview.ts";
import { costUsd } from "./pricing.ts";
import { applyCaptureMode, type RedactPattern } from "./redact.ts";

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
}

type Usage = {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
  completion_tokens_details?: { reasoning_tokens?: number } | null;
};

// Values taken from the bodies must fit their columns whatever the client or upstream sent: on PostgreSQL a
// NUL character in a text column, or 1.5 or 3e10 in an integer one, fails the insert, and the write-behind
// queue would retry that batch forever. Such values are dropped (NUL characters removed), not stored.
const INT_MAX = 2_147_483_647;
const int = (v: unknown): number | null =>
  typeof v === "number" && Number.isInteger(v) && Math.abs(v) <= INT_MAX ? v : null;
const str = (v: unknown): string | null =>
  typeof v === "string" && v !== "" ? v.replaceAll("\u0000", "") || null : null;

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

/** Builds the stored row. `capture` and `patterns` apply the privacy mode to both bodies. */
export function toCallRow(
  call: CapturedCall,
  capture: CaptureMode,
  patterns: RedactPattern[] = [],
): NewCallRow {
  const usage = (call.response?.usage ?? {}) as Usage;
  const requestedModel = str(call.request?.model);
  const servedModel = str(call.response?.model);
  const tokens = {
    promptTokens: int(usage.prompt_tokens),
    completionTokens: int(usage.completion_tokens),
    cachedTokens: int(usage.prompt_tokens_details?.cached_tokens),
  };
  // The body's own `user` and `metadata` fields are the service's, so they count as the call's too.
  const bodyMetadata = call.request?.metadata;
  const metadata =
    bodyMetadata && typeof bodyMetadata === "object" && !Array.isArray(bodyMetadata)
      ? { ...(bodyMetadata as Record<string, unknown>), ...call.metadata }
      : call.metadata;
  const request = storedBody(call.request, call.requestText, capture, patterns);
  const response = storedBody(call.response, call.responseText, capture, patterns);
  return {
    id: call.id,
    completionId: str(call.response?.id),
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
    error: call.error === null ? null : call.error.replaceAll("\u0000", ""),
    request: request.text,
    response: response.text,
    ...tokens,
    reasoningTokens: int(usage.completion_tokens_details?.reasoning_tokens),
    totalTokens: int(usage.total_tokens),
    costUsd: costUsd(servedModel ?? requestedModel, tokens),
    sessionId: call.sessionId,
    userId: call.userId ?? str(call.request?.user),
    tags: JSON.stringify(call.tags),
    metadata: JSON.stringify(metadata),
    capture,
    source: call.source,
    // Last, in this order: rows spooled by a version without them get them appended (`withPreview`).
    ...previewColumns({ request: request.value, response: response.value }, call),
  };
}

/** The tags a call answers to: its id, its completion id, and its custom tags. */
export function tagsOf(row: Pick<NewCallRow, "id" | "completionId" | "tags">): string[] {
  const tags = new Set<string>([row.id]);
  if (row.completionId) tags.add(row.completionId);
  for (const t of customTagsOf(row)) tags.add(t);
  return [...tags];
}

/** The tags a call was given, without its id and completion id (which `call_keys` shows from `calls`). */
export function customTagsOf(row: Pick<NewCallRow, "id" | "completionId" | "tags">): string[] {
  const given = new Set(JSON.parse(row.tags ?? "[]") as string[]);
  given.delete(row.id);
  if (row.completionId) given.delete(row.completionId);
  return [...given];
}
