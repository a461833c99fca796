/**
 * What other domains read of the `calls` table, named by what they need, so that no domain writes SQL over a
 * table it does not own. Ids are looked up in chunks (bound parameters are limited: SQLite's 32766, and long
 * IN lists plan badly); bodies are read only where a caller needs them, parsed by store/json.ts's readers.
 */
import { type ExpressionBuilder, sql } from "kysely";
import type { CallListRow, CallRow, Database, Store } from "../store/index.ts";
import { readJsonObject } from "../store/json.ts";
import { callListColumns } from "./queries.ts";

const CHUNK = 500;

function* chunks<T>(items: T[]): Generator<T[]> {
  for (let i = 0; i < items.length; i += CHUNK) yield items.slice(i, i + CHUNK);
}

/** The listed columns of these calls (never their bodies), by id; ids not stored are absent. */
export async function callListRowsByIds(store: Store, ids: string[]): Promise<Map<string, CallListRow>> {
  const out = new Map<string, CallListRow>();
  for (const chunk of chunks([...new Set(ids)])) {
    const rows = await store.db
      .selectFrom("calls")
      .select(callListColumns)
      .where("calls.id", "in", chunk)
      .execute();
    for (const r of rows) out.set(r.id, r);
  }
  return out;
}

/** One call by its intersebd id (not its completion id: see `findCall`), with its bodies. */
export function callById(store: Store, id: string): Promise<CallRow | undefined> {
  return store.db.selectFrom("calls").selectAll().where("id", "=", id).executeTakeFirst();
}

/** What a cost estimate needs of a call: its request and the tokens and models it was answered with. */
export interface CallForReplay {
  id: string;
  request: Record<string, unknown> | null;
  promptTokens: number | null;
  completionTokens: number | null;
  requestedModel: string | null;
  servedModel: string | null;
  /** Why a Responses or Messages call has no chat-shaped request (its originals could not be converted). */
  conversionError: string | null;
}

/** The requests, tokens and models of these calls, by id; ids not stored are absent. */
export async function requestsOf(store: Store, ids: string[]): Promise<Map<string, CallForReplay>> {
  const out = new Map<string, CallForReplay>();
  for (const chunk of chunks([...new Set(ids)])) {
    const rows = await store.db
      .selectFrom("calls")
      .select([
        "id",
        "request",
        "promptTokens",
        "completionTokens",
        "requestedModel",
        "servedModel",
        "conversionError",
      ])
      .where("id", "in", chunk)
      .execute();
    for (const r of rows) out.set(r.id, { ...r, request: readJsonObject(r.request) });
  }
  return out;
}

/** The response of a call that was answered ok, and how long it took; undefined for any other call. */
export async function okResponseOf(
  store: Store,
  id: string,
): Promise<{ id: string; response: Record<string, unknown>; durationMs: number | null } | undefined> {
  const row = await store.db
    .selectFrom("calls")
    .select(["id", "response", "durationMs"])
    .where("id", "=", id)
    .where("outcome", "=", "ok")
    .where("response", "is not", null)
    .executeTakeFirst();
  const response = readJsonObject(row?.response);
  return row && response ? { id: row.id, response, durationMs: row.durationMs } : undefined;
}

/** For each tag that names a stored call (its id, completion id or a custom tag), the newest call's preview. */
export async function previewsByTag(
  store: Store,
  tags: string[],
): Promise<Map<string, { callId: string; input: string | null; output: string | null }>> {
  const out = new Map<string, { callId: string; input: string | null; output: string | null }>();
  for (const chunk of chunks([...new Set(tags)])) {
    const rows = await store.db
      .selectFrom("callKeys")
      .innerJoin("calls", "calls.id", "callKeys.callId")
      // The preview stored with the call: the bodies are never read here.
      .select(["callKeys.tag", "calls.id", "calls.previewInput", "calls.previewOutput", "calls.startedAt"])
      .where("callKeys.tag", "in", chunk)
      .orderBy("calls.startedAt", "asc")
      .execute();
    for (const r of rows) out.set(r.tag, { callId: r.id, input: r.previewInput, output: r.previewOutput });
  }
  return out;
}

/** The request and response text of these calls, by id; ids not stored are absent. */
export async function bodiesOf(
  store: Store,
  ids: string[],
): Promise<Map<string, { request: string | null; response: string | null }>> {
  const out = new Map<string, { request: string | null; response: string | null }>();
  for (const chunk of chunks([...new Set(ids)])) {
    const rows = await store.db
      .selectFrom("calls")
      .select(["id", "request", "response"])
      .where("id", "in", chunk)
      .execute();
    for (const r of rows) out.set(r.id, { request: r.request, response: r.response });
  }
  return out;
}

/** A session as counted over its calls; times are epoch ms. */
export interface SessionCounts {
  sessionId: string;
  calls: number;
  firstAt: number;
  lastAt: number;
}

/**
 * Sessions, most recently active first (then by id, descending), after `after` when given; `limit` at most.
 */
export async function sessionsByActivity(
  store: Store,
  page: { after?: { t: number; id: string }; limit: number },
): Promise<SessionCounts[]> {
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
  const { after } = page;
  if (after) {
    q = q.having((eb) =>
      eb.or([eb(lastAt, "<", after.t), eb.and([eb(lastAt, "=", after.t), eb("sessionId", "<", after.id)])]),
    );
  }
  const rows = await q.orderBy(lastAt, "desc").orderBy("sessionId", "desc").limit(page.limit).execute();
  return rows.map((r) => ({
    sessionId: r.sessionId as string,
    calls: Number(r.n),
    firstAt: Number(r.firstAt),
    lastAt: Number(r.lastAt),
  }));
}

/** The models (served, else requested) and user ids seen in each of these sessions, each sorted. */
export async function sessionMembers(
  store: Store,
  sessionIds: string[],
): Promise<Map<string, { models: string[]; userIds: string[] }>> {
  const models = new Map<string, Set<string>>();
  const users = new Map<string, Set<string>>();
  for (const chunk of chunks([...new Set(sessionIds)])) {
    const rows = await store.db
      .selectFrom("calls")
      .select(["sessionId", "requestedModel", "servedModel", "userId"])
      .distinct()
      .where("sessionId", "in", chunk)
      .execute();
    for (const d of rows) {
      const id = d.sessionId as string;
      const model = d.servedModel ?? d.requestedModel;
      if (model) models.set(id, (models.get(id) ?? new Set()).add(model));
      if (d.userId) users.set(id, (users.get(id) ?? new Set()).add(d.userId));
    }
  }
  const out = new Map<string, { models: string[]; userIds: string[] }>();
  for (const id of sessionIds) {
    out.set(id, { models: [...(models.get(id) ?? [])].sort(), userIds: [...(users.get(id) ?? [])].sort() });
  }
  return out;
}

/**
 * One session's first `limit` calls, oldest first, by their listed columns, each with the size of its bodies
 * (`bodyChars`, measured by the database, so a caller can choose which bodies to read).
 */
export function sessionCalls(
  store: Store,
  sessionId: string,
  limit: number,
): Promise<Array<CallListRow & { bodyChars: number }>> {
  return store.db
    .selectFrom("calls")
    .select(callListColumns)
    .select(sql<number>`coalesce(length(request), 0) + coalesce(length(response), 0)`.as("bodyChars"))
    .where("calls.sessionId", "=", sessionId)
    .orderBy("calls.startedAt", "asc")
    .orderBy("calls.id", "asc")
    .limit(limit)
    .execute();
}

/** When the `n`-th most recent call started (0 with fewer calls): the start of a window of recent calls. */
export async function startOfRecentCalls(store: Store, n: number): Promise<number> {
  const row = await store.db
    .selectFrom("calls")
    .select("startedAt")
    .orderBy("startedAt", "desc")
    .offset(n - 1)
    .limit(1)
    .executeTakeFirst();
  return row?.startedAt ?? 0;
}

/** The durations of the `n` most recent calls that have one, newest first. */
export async function recentDurations(store: Store, n: number): Promise<number[]> {
  const rows = await store.db
    .selectFrom("calls")
    .select("durationMs")
    .where("durationMs", "is not", null)
    .orderBy("startedAt", "desc")
    .limit(n)
    .execute();
  return rows.map((r) => r.durationMs as number);
}

/**
 * No annotation with `source: "human"` resolves to the call. Reads the graph's materialized resolution
 * (`call_annotations`, keyed by call id): which calls a person has judged is asked of the calls, in one query.
 */
const noHumanJudgement = (eb: ExpressionBuilder<Database, "calls">) =>
  eb.not(
    eb.exists(
      eb
        .selectFrom("callAnnotations")
        .innerJoin("annotations", "annotations.id", "callAnnotations.annotationId")
        .select("callAnnotations.callId")
        .whereRef("callAnnotations.callId", "=", "calls.id")
        .where("annotations.source", "=", "human"),
    ),
  );

/** Which unjudged calls `unjudgedCalls` returns: failed ones, ok ones whose output failed its schema, slow ones. */
export type UnjudgedKind = { failed: true } | { schemaFailed: true } | { slowerThanMs: number };

/**
 * Calls started at or after `since` that no person has judged (no `human` annotation resolves to them), of one
 * kind, newest first, by their listed columns.
 */
export function unjudgedCalls(
  store: Store,
  kind: UnjudgedKind,
  page: { since: number; limit: number },
): Promise<CallListRow[]> {
  let q = store.db
    .selectFrom("calls")
    .select(callListColumns)
    .where("calls.startedAt", ">=", page.since)
    .where(noHumanJudgement);
  if ("failed" in kind) q = q.where("calls.outcome", "!=", "ok");
  else if ("schemaFailed" in kind)
    q = q.where("calls.outcome", "=", "ok").where("calls.schemaFailure", "is not", null);
  else q = q.where("calls.durationMs", ">", kind.slowerThanMs);
  return q.orderBy("calls.startedAt", "desc").limit(page.limit).execute();
}

/** The ids of the most recent calls started at or after `since` that no person has judged, newest first. */
export async function unjudgedCallIds(
  store: Store,
  page: { since: number; limit: number },
): Promise<string[]> {
  const rows = await store.db
    .selectFrom("calls")
    .select("calls.id")
    .where("calls.startedAt", ">=", page.since)
    .where(noHumanJudgement)
    .orderBy("calls.startedAt", "desc")
    .limit(page.limit)
    .execute();
  return rows.map((r) => r.id);
}

/**
 * Unjudged calls started at or after `since` whose lowest numeric reward (over the annotations that resolve to
 * them) is below `below`, newest first, with their lowest and highest reward and how many rewards they have.
 */
export async function lowRewardCalls(
  store: Store,
  page: { since: number; limit: number; below: number },
): Promise<Array<{ id: string; lo: number; hi: number; n: number }>> {
  const rows = await store.db
    .selectFrom("calls")
    .innerJoin("callAnnotations", "callAnnotations.callId", "calls.id")
    .innerJoin("annotations", "annotations.id", "callAnnotations.annotationId")
    .select((eb) => [
      "calls.id",
      eb.fn.min<number>("annotations.numericReward").as("lo"),
      eb.fn.max<number>("annotations.numericReward").as("hi"),
      eb.fn.count<number>("annotations.numericReward").as("n"),
      eb.fn.max<number>("calls.startedAt").as("t"),
    ])
    .where("annotations.numericReward", "is not", null)
    .where("calls.startedAt", ">=", page.since)
    .where(noHumanJudgement)
    .groupBy("calls.id")
    .having((eb) => eb.fn.min("annotations.numericReward"), "<", page.below)
    .orderBy("t", "desc")
    .limit(page.limit)
    .execute();
  return rows.map((r) => ({ id: r.id, lo: Number(r.lo), hi: Number(r.hi), n: Number(r.n) }));
}
