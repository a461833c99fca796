/**
 * Calls captured elsewhere (`POST /api/calls`, the SDKs' exporters): built into rows and stored, or spooled
 * while the store does not answer.
 */
import { completionIdOf } from "intersebd/chat";
import type { CaptureMode } from "../config/index.ts";
import type { Store } from "../store/index.ts";
import { newId } from "../util/ids.ts";
import { type CapturedCall, toCallRow } from "./record.ts";
import type { Recorder } from "./recorder.ts";
import type { RedactPattern } from "./redact.ts";
import type { IngestCall } from "./schemas.ts";

/**
 * Stores calls captured elsewhere (`POST /api/calls`). Written at once when the store answers; otherwise
 * handed to the recorder, whose spool keeps them until it does. Returns the ids and whether they are stored yet.
 * `admit` applies the same sampling, user id hashing and provenance as the proxy's (calls/capture-policy.ts): an
 * SDK's call is sampled by the server, not the SDK, so one setting governs both; one left out answers
 * `sampledOut: true` and is not stored.
 */
export async function ingestCalls(
  store: Store,
  recorder: Recorder,
  calls: IngestCall[],
  capture: CaptureMode,
  patterns: RedactPattern[],
  admit: (call: CapturedCall) => CapturedCall | undefined = (call) => call,
): Promise<{
  stored: boolean;
  items: Array<{ id: string; completionId: string | null; sampledOut?: true }>;
}> {
  const left: Array<{ id: string; completionId: string | null; sampledOut: true }> = [];
  const rows = calls.flatMap((c) => {
    const startedAt = c.startedAt ?? Date.now();
    const captured: CapturedCall = {
      id: c.id ?? newId("call"),
      startedAt,
      endedAt: c.endedAt ?? startedAt,
      ttftMs: c.ttftMs ?? null,
      upstream: c.upstream,
      path: c.path,
      stream: c.stream,
      status: c.status,
      outcome: c.outcome,
      error: c.error ?? null,
      request: c.request ?? null,
      response: c.response ?? null,
      // Another protocol's bodies are stored as sent and converted to chat by toCallRow.
      protocol: c.protocol,
      ...(c.originalRequest !== undefined
        ? { originalRequest: c.originalRequest, originalResponse: c.originalResponse ?? null }
        : {}),
      sessionId: c.sessionId ?? null,
      userId: c.userId ?? null,
      tags: c.tags,
      metadata: c.metadata,
      source: c.source,
      experiment: c.experiment ?? null,
      variant: c.variant ?? null,
      assignmentUnit: c.assignmentUnit ?? null,
      shadowOf: c.shadowOf ?? null,
    };
    const kept = admit(captured);
    if (!kept) {
      left.push({ id: captured.id, completionId: completionIdOf(captured.response), sampledOut: true });
      return [];
    }
    return [toCallRow(kept, capture, patterns)];
  });
  const items = [...rows.map((r) => ({ id: r.id, completionId: r.completionId ?? null })), ...left];
  try {
    await recorder.insert(rows);
    return { stored: true, items };
  } catch (err) {
    // Only an unreachable store sends the calls to the spool. If the store answers, it refused these rows
    // themselves, and the recorder would retry them forever, holding every later call in the spool behind them.
    if (await store.ping()) throw err;
    for (const r of rows) recorder.record(r);
    return { stored: false, items };
  }
}
