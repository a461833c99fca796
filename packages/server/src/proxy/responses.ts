/**
 * What the proxy adds to an OpenAI Responses call's record: its protocol, its `response.id` as a tag (so
 * `GET /api/calls/resp_...`, links and annotations find it), and the session of the conversation it continues.
 *
 * A conversation on the Responses API is a chain of `previous_response_id`s. Its calls read as one session:
 * the session is the chain's first response id, unless the client sent its own (`x-intersebd-session-id`).
 * The chain is followed in memory (response id → session, the newest `MAX_CHAINS`), so nothing waits on the
 * store; a continuation whose previous response is not remembered (after a restart, or on another instance)
 * starts its session at that previous response's id.
 */
import type { CapturedCall } from "../calls/index.ts";

const MAX_CHAINS = 50_000;
/** Response id → the session of its conversation; a Map keeps insertion order, so the oldest go first. */
const sessions = new Map<string, string>();

const responseId = (v: unknown): string | undefined =>
  typeof v === "string" && v.length > 0 && v.length <= 200 ? v : undefined;

export function continueResponses(
  call: CapturedCall,
  request: Record<string, unknown> | null,
  response: Record<string, unknown> | null,
): void {
  call.protocol = "responses";
  const id = responseId(response?.id);
  if (id && !call.tags.includes(id)) call.tags = [...call.tags, id];
  const previous = responseId(request?.previous_response_id);
  if (!call.sessionId) {
    const session = previous ? (sessions.get(previous) ?? previous) : id;
    if (session) call.sessionId = session;
  }
  if (id && call.sessionId) {
    sessions.delete(id);
    sessions.set(id, call.sessionId);
    if (sessions.size > MAX_CHAINS) {
      const oldest = sessions.keys().next().value;
      if (oldest !== undefined) sessions.delete(oldest);
    }
  }
}
