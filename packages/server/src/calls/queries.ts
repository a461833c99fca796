/**
 * Reading calls: the filtered, cursor-paged list and one call by id or completion id.
 */
import type { Expression, ExpressionBuilder, SelectQueryBuilder, SqlBool } from "kysely";
import type { z } from "zod";
import type { CallListRow, CallRow, Database, Store } from "../store/index.ts";
import { readJsonObject, readStringArray } from "../store/json.ts";
import { decodeCursor, encodeCursor } from "../util/cursor.ts";
import { isoTime, isoTimeOrNull } from "../util/time.ts";
import type { callViewSchema } from "./responses.ts";
import type { CallFilter } from "./schemas.ts";

/** A call as the API shows it (camelCase JSON, PRODUCT.md "Concepts"): the calls routes' wire contract. */
export type CallView = z.infer<typeof callViewSchema>;

// Every column of `calls` but the bodies, as a record so that a column added to the table and forgotten here
// fails the type check instead of vanishing from lists.
const listColumnNames: Record<keyof CallListRow, true> = {
  id: true,
  completionId: true,
  startedAt: true,
  endedAt: true,
  durationMs: true,
  ttftMs: true,
  upstream: true,
  path: true,
  requestedModel: true,
  servedModel: true,
  stream: true,
  status: true,
  outcome: true,
  error: true,
  promptTokens: true,
  completionTokens: true,
  cachedTokens: true,
  reasoningTokens: true,
  totalTokens: true,
  costUsd: true,
  sessionId: true,
  userId: true,
  tags: true,
  metadata: true,
  capture: true,
  source: true,
  previewInput: true,
  previewOutput: true,
  schemaFailure: true,
  experiment: true,
  variant: true,
  assignmentUnit: true,
  shadowOf: true,
  bodiesExpiredAt: true,
  configHash: true,
  protocol: true,
  conversionError: true,
};

/**
 * What every list selects: the bounded columns, never `request` and `response`. A list that parsed the bodies
 * of its page took seconds and hundreds of MB when calls were large (issue 12); the preview was stored at insert.
 */
export const callListColumns = Object.keys(listColumnNames).map(
  (c) => `calls.${c}` as `calls.${keyof CallListRow}`,
);

/**
 * Turns a stored row into its API view: with `full`, the bodies (a row with them is required); otherwise the
 * preview stored with the call, and no body is read or parsed.
 */
export function toCallView(
  row: CallListRow &
    Pick<CallRow, "request" | "response"> &
    Partial<Pick<CallRow, "originalRequest" | "originalResponse">>,
  full: true,
): CallView;
export function toCallView(row: CallListRow, full: false): CallView;
export function toCallView(
  row: CallListRow & Partial<Pick<CallRow, "request" | "response" | "originalRequest" | "originalResponse">>,
  full: boolean,
): CallView {
  const view: CallView = {
    id: row.id,
    completionId: row.completionId,
    startedAt: isoTime(row.startedAt),
    endedAt: isoTimeOrNull(row.endedAt),
    durationMs: row.durationMs,
    ttftMs: row.ttftMs,
    upstream: row.upstream,
    path: row.path,
    requestedModel: row.requestedModel,
    servedModel: row.servedModel,
    stream: Boolean(row.stream),
    status: row.status,
    outcome: row.outcome,
    error: row.error,
    usage: {
      promptTokens: row.promptTokens,
      completionTokens: row.completionTokens,
      cachedTokens: row.cachedTokens,
      reasoningTokens: row.reasoningTokens,
      totalTokens: row.totalTokens,
    },
    costUsd: row.costUsd,
    sessionId: row.sessionId,
    userId: row.userId,
    tags: readStringArray(row.tags),
    metadata: readJsonObject(row.metadata) ?? {},
    capture: row.capture,
    source: row.source,
    experiment: row.experiment ?? null,
    variant: row.variant ?? null,
    assignmentUnit: row.assignmentUnit ?? null,
    shadowOf: row.shadowOf ?? null,
    bodiesExpired: row.bodiesExpiredAt != null,
    // Rows read by a query that predates the column (or a spooled row) are chat.
    protocol: row.protocol ?? "chat",
    conversionError: row.conversionError ?? null,
  };
  if (full) {
    // A body that does not parse shows as `{ _raw }`: a call's page must open whatever its row holds.
    view.request = readJsonObject(row.request);
    view.response = readJsonObject(row.response);
    if (view.protocol !== "chat") {
      view.originalRequest = readJsonObject(row.originalRequest);
      view.originalResponse = readJsonObject(row.originalResponse);
    }
  } else {
    view.preview = { input: row.previewInput, output: row.previewOutput };
  }
  return view;
}

type CallsQuery<O> = SelectQueryBuilder<Database, "calls", O>;

/** The WHERE conditions of a call filter, shared by the list, exports and datasets. */
export function callConditions(store: Store, f: CallFilter) {
  return (eb: ExpressionBuilder<Database, "calls">): Expression<SqlBool> => {
    const and: Expression<SqlBool>[] = [];
    if (f.from !== undefined) and.push(eb("calls.startedAt", ">=", f.from));
    if (f.to !== undefined) and.push(eb("calls.startedAt", "<", f.to));
    if (f.model?.length) {
      and.push(eb.or([eb("calls.requestedModel", "in", f.model), eb("calls.servedModel", "in", f.model)]));
    }
    if (f.upstream?.length) and.push(eb("calls.upstream", "in", f.upstream));
    if (f.status !== undefined) and.push(eb("calls.status", "=", f.status));
    if (f.outcome?.length) and.push(eb("calls.outcome", "in", f.outcome));
    if (f.sessionId) and.push(eb("calls.sessionId", "=", f.sessionId));
    if (f.userId) and.push(eb("calls.userId", "=", f.userId));
    if (f.source) and.push(eb("calls.source", "=", f.source));
    if (f.experiment) and.push(eb("calls.experiment", "=", f.experiment));
    if (f.variant) and.push(eb("calls.variant", "=", f.variant));
    if (f.tag) {
      and.push(
        eb.exists(
          eb
            .selectFrom("callKeys")
            .select("callKeys.callId")
            .where("callKeys.tag", "=", f.tag)
            .whereRef("callKeys.callId", "=", "calls.id"),
        ),
      );
    }
    if (f.annotated !== undefined) {
      const any = eb.exists(
        eb
          .selectFrom("callAnnotations")
          .select("callAnnotations.callId")
          .whereRef("callAnnotations.callId", "=", "calls.id"),
      );
      and.push(f.annotated ? any : eb.not(any));
    }
    if (
      f.name !== undefined ||
      f.minReward !== undefined ||
      f.maxReward !== undefined ||
      f.annotationSource
    ) {
      and.push(
        eb.exists(
          eb
            .selectFrom("callAnnotations")
            .innerJoin("annotations", "annotations.id", "callAnnotations.annotationId")
            .select("callAnnotations.callId")
            .whereRef("callAnnotations.callId", "=", "calls.id")
            .$if(f.name !== undefined, (q) => q.where("annotations.name", "=", f.name as string))
            .$if(f.minReward !== undefined, (q) =>
              q.where("annotations.numericReward", ">=", f.minReward as number),
            )
            .$if(f.maxReward !== undefined, (q) =>
              q.where("annotations.numericReward", "<=", f.maxReward as number),
            )
            .$if(Boolean(f.annotationSource), (q) =>
              q.where("annotations.source", "=", f.annotationSource as string),
            ),
        ),
      );
    }
    if (f.q) {
      and.push(
        eb.or([
          store.dialect.containsText(eb.ref("calls.request"), f.q),
          store.dialect.containsText(eb.ref("calls.response"), f.q),
        ]),
      );
    }
    return eb.and(and);
  };
}

/** Applies newest-first keyset paging; returns the page and the cursor of the next one. */
export async function pageNewestFirst<O extends { id: string; startedAt: number }>(
  query: CallsQuery<O>,
  cursor: string | undefined,
  limit: number,
): Promise<{ rows: O[]; nextCursor: string | null }> {
  let q = query;
  if (cursor) {
    const c = decodeCursor(cursor);
    // A row-value comparison, which both SQLite and PostgreSQL answer from the (started_at, id) index;
    // the equivalent OR of two conditions made SQLite scan the index from the top on every page.
    q = q.where((eb) => eb(eb.refTuple("calls.startedAt", "calls.id"), "<", eb.tuple(c.t, c.id)));
  }
  const rows = (await q
    .orderBy("calls.startedAt", "desc")
    .orderBy("calls.id", "desc")
    .limit(limit + 1)
    .execute()) as O[];
  const more = rows.length > limit;
  if (more) rows.pop();
  const last = rows.at(-1);
  return { rows, nextCursor: more && last ? encodeCursor(last.startedAt, last.id) : null };
}

export async function listCalls(store: Store, filter: CallFilter, page: { cursor?: string; limit: number }) {
  const query = store.db.selectFrom("calls").select(callListColumns).where(callConditions(store, filter));
  const { rows, nextCursor } = await pageNewestFirst(query, page.cursor, page.limit);
  const stats = new Map<string, { n: number; mean: number | null }>();
  if (rows.length) {
    const agg = await store.db
      .selectFrom("callAnnotations")
      .innerJoin("annotations", "annotations.id", "callAnnotations.annotationId")
      .select((eb) => [
        "callAnnotations.callId",
        eb.fn.countAll<number>().as("n"),
        eb.fn.avg<number | null>("annotations.numericReward").as("mean"),
      ])
      .where(
        "callAnnotations.callId",
        "in",
        rows.map((r) => r.id),
      )
      .groupBy("callAnnotations.callId")
      .execute();
    for (const a of agg)
      stats.set(a.callId, { n: Number(a.n), mean: a.mean === null ? null : Number(a.mean) });
  }
  return {
    data: rows.map((r) => ({
      ...toCallView(r, false),
      annotationCount: stats.get(r.id)?.n ?? 0,
      meanReward: stats.get(r.id)?.mean ?? null,
    })),
    nextCursor,
  };
}

/** Finds a call by its intersebd id or its completion id (the newest, if a provider reused one). */
export async function findCall(store: Store, idOrCompletionId: string): Promise<CallRow | undefined> {
  const byId = await store.db
    .selectFrom("calls")
    .selectAll()
    .where("id", "=", idOrCompletionId)
    .executeTakeFirst();
  if (byId) return byId;
  return store.db
    .selectFrom("calls")
    .selectAll()
    .where("completionId", "=", idOrCompletionId)
    .orderBy("startedAt", "desc")
    .limit(1)
    .executeTakeFirst();
}
