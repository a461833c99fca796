/**
 * Sessions: the calls that share an `x-intersebd-session-id`, read as one conversation.
 */
import { sql } from "kysely";
import { type CallView, callListColumns, toCallView } from "../calls/index.ts";
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
  const lastAt = sql<number>`max(started_at)`;
  let q = store.db
    .selectFrom("calls")
    .select((eb) => [
      "sessionId",
      eb.fn.countAll<number>().as("n"),
      eb.fn.min<number>("startedAt").as("firstAt"),
      lastAt.as("lastAt"),
    ])
    .where("sessionId", "is not", null)
    .groupBy("sessionId");
  if (page.cursor) {
    const c = decodeCursor(page.cursor);
    q = q.having((eb) =>
      eb.or([eb(lastAt, "<", c.t), eb.and([eb(lastAt, "=", c.t), eb("sessionId", "<", c.id)])]),
    );
  }
  const rows = await q
    .orderBy(lastAt, "desc")
    .orderBy("sessionId", "desc")
    .limit(page.limit + 1)
    .execute();
  const more = rows.length > page.limit;
  if (more) rows.pop();
  const ids = rows.map((r) => r.sessionId as string);
  const details = ids.length
    ? await store.db
        .selectFrom("calls")
        .select(["sessionId", "requestedModel", "servedModel", "userId"])
        .distinct()
        .where("sessionId", "in", ids)
        .execute()
    : [];
  const models = new Map<string, Set<string>>();
  const users = new Map<string, Set<string>>();
  for (const d of details) {
    const id = d.sessionId as string;
    const model = d.servedModel ?? d.requestedModel;
    if (model) models.set(id, (models.get(id) ?? new Set()).add(model));
    if (d.userId) users.set(id, (users.get(id) ?? new Set()).add(d.userId));
  }
  const last = rows.at(-1);
  return {
    data: rows.map((r) => ({
      sessionId: r.sessionId as string,
      calls: Number(r.n),
      firstAt: isoTime(r.firstAt),
      lastAt: isoTime(r.lastAt),
      models: [...(models.get(r.sessionId as string) ?? [])].sort(),
      userIds: [...(users.get(r.sessionId as string) ?? [])].sort(),
    })),
    nextCursor: more && last ? encodeCursor(Number(last.lastAt), last.sessionId as string) : null,
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
  const rows = await store.db
    .selectFrom("calls")
    .select(callListColumns)
    .select(sql<number>`coalesce(length(request), 0) + coalesce(length(response), 0)`.as("bodyChars"))
    .where("calls.sessionId", "=", sessionId)
    .orderBy("calls.startedAt", "asc")
    .orderBy("calls.id", "asc")
    .limit(SESSION_MAX_CALLS + 1)
    .execute();
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
  const bodies = new Map<string, { request: string | null; response: string | null }>();
  for (let i = 0; i < withBodies.length; i += 500) {
    const found = await store.db
      .selectFrom("calls")
      .select(["id", "request", "response"])
      .where("id", "in", withBodies.slice(i, i + 500))
      .execute();
    for (const b of found) bodies.set(b.id, b);
  }
  const calls = rows.map(({ bodyChars: _, ...r }) => {
    const b = bodies.get(r.id);
    return b ? toCallView({ ...r, ...b }, true) : toCallView(r, false);
  });
  return { sessionId, calls, truncated, bodiesOmitted: rows.length - bodies.size };
}
