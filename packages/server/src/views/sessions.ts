/**
 * Sessions: the calls that share an `x-intersebd-session-id`, read as one conversation.
 */
import {
  bodiesOf,
  type CallView,
  sessionCalls,
  sessionMembers,
  sessionsByActivity,
  toCallView,
} from "../calls/index.ts";
import { HttpError } from "../http/error.ts";
import type { Store } from "../store/index.ts";
import { decodeCursor, encodeCursor } from "../util/cursor.ts";
import { isoTime } from "../util/time.ts";

export interface SessionSummary {
  sessionId: string;
  calls: number;
  firstAt: string;
  lastAt: string;
  /** Served models (requested where none was served), distinct, sorted. */
  models: string[];
  userIds: string[];
}

/** At most this many calls of one session are returned. */
export const SESSION_MAX_CALLS = 1000;

/** Sessions, most recently active first. */
export async function listSessions(
  store: Store,
  page: { cursor?: string; limit: number },
): Promise<{ data: SessionSummary[]; nextCursor: string | null }> {
  const rows = await sessionsByActivity(store, {
    after: page.cursor ? decodeCursor(page.cursor) : undefined,
    limit: page.limit + 1,
  });
  const more = rows.length > page.limit;
  if (more) rows.pop();
  const members = await sessionMembers(
    store,
    rows.map((r) => r.sessionId),
  );
  const last = rows.at(-1);
  return {
    data: rows.map((r) => ({
      sessionId: r.sessionId,
      calls: r.calls,
      firstAt: isoTime(r.firstAt),
      lastAt: isoTime(r.lastAt),
      models: members.get(r.sessionId)?.models ?? [],
      userIds: members.get(r.sessionId)?.userIds ?? [],
    })),
    nextCursor: more && last ? encodeCursor(last.lastAt, last.sessionId) : null,
  };
}

/**
 * Body characters one session page returns at most (a call is given its bodies while less than this was given
 * before it): a session may hold hundreds of calls, each resending the whole conversation, and large ones.
 * Later calls come with their stored preview instead, which the page shows in their place.
 */
export const SESSION_MAX_BODY_CHARS = 8 * 1024 * 1024;

/**
 * One session's calls, oldest first, with their bodies (the first `SESSION_MAX_CALLS`; `truncated` says
 * when there are more), as far as `SESSION_MAX_BODY_CHARS` allows: `bodiesOmitted` counts the calls shown by
 * their preview only. @throws HttpError 404 when no call has this session id.
 */
export async function getSession(
  store: Store,
  sessionId: string,
): Promise<{ sessionId: string; calls: CallView[]; truncated: boolean; bodiesOmitted: number }> {
  // First the bounded columns and the bodies' sizes, which the database measures; then only the bodies that fit.
  const rows = await sessionCalls(store, sessionId, SESSION_MAX_CALLS + 1);
  if (rows.length === 0) {
    throw new HttpError(404, `no calls with session id "${sessionId}"`, { field: "id" });
  }
  const truncated = rows.length > SESSION_MAX_CALLS;
  if (truncated) rows.pop();
  const withBodies: string[] = [];
  let chars = 0;
  for (const r of rows) {
    if (chars >= SESSION_MAX_BODY_CHARS) break;
    withBodies.push(r.id);
    chars += Number(r.bodyChars);
  }
  const bodies = await bodiesOf(store, withBodies);
  const calls = rows.map(({ bodyChars: _, ...r }) => {
    const b = bodies.get(r.id);
    return b ? toCallView({ ...r, ...b }, true) : toCallView(r, false);
  });
  return { sessionId, calls, truncated, bodiesOmitted: rows.length - bodies.size };
}
