/**
 * Notifications: a request that a named person judge a call (PRODUCT.md "Notification"). Stored with an
 * expiry, listed per recipient (the inbox), revocable; each has a signed link (`/a/{token}`).
 */
import type { ExpressionBuilder } from "kysely";
import { previewsByTag } from "../calls/index.ts";
import { HttpError } from "../http/error.ts";
import type { Database, NotificationRow, Store } from "../store/index.ts";
import { readJsonObject } from "../store/json.ts";
import { decodeCursor, encodeCursor } from "../util/cursor.ts";
import { newId } from "../util/ids.ts";
import { isoTime, isoTimeOrNull } from "../util/time.ts";
import { DEFAULT_RUBRIC, requireRubric } from "./rubrics.ts";
import type { NotificationInput } from "./schemas.ts";
import { signToken } from "./tokens.ts";

export type NotificationStatus = "open" | "done" | "revoked" | "expired";

export interface DeliveryView {
  status: "pending" | "delivered" | "failed";
  attempts: number;
  lastError: string | null;
  deliveredAt: string | null;
}

/** A notification as the API shows it. */
export interface NotificationView {
  id: string;
  completionId: string;
  recipient: string;
  message: string | null;
  rubric: string;
  status: NotificationStatus;
  createdAt: string;
  expiresAt: string;
  doneAt: string | null;
  revokedAt: string | null;
  metadata: Record<string, unknown> | null;
  /** The webhook delivery; null when no webhook was configured when it was created. */
  delivery: DeliveryView | null;
}

/** What the notifications code needs from the running server. */
export interface NotificationsDeps {
  store: Store;
  /** The token signing key (see `tokens.ts`). */
  key(): Promise<Buffer>;
  /** Absolute base URL of the server as people reach it. */
  baseUrl(): string;
  tokenTtlSeconds: number;
  /** Set when a webhook is configured: creating a notification enqueues its delivery. */
  webhook?: { enqueued(): void };
}

type Row = NotificationRow & {
  jobStatus: string | null;
  jobAttempts: number | null;
  jobLastError: string | null;
  jobDeliveredAt: number | null;
};

export function statusOf(row: Pick<NotificationRow, "status" | "expiresAt">, now = Date.now()) {
  if (row.status === "open" && row.expiresAt <= now) return "expired";
  return row.status as NotificationStatus;
}

export function toNotificationView(row: Row, now = Date.now()): NotificationView {
  return {
    id: row.id,
    completionId: row.completionId,
    recipient: row.recipient,
    message: row.message,
    rubric: row.rubric ?? DEFAULT_RUBRIC.name,
    status: statusOf(row, now),
    createdAt: isoTime(row.createdAt),
    expiresAt: isoTime(row.expiresAt),
    doneAt: isoTimeOrNull(row.doneAt),
    revokedAt: isoTimeOrNull(row.revokedAt),
    metadata: readJsonObject(row.metadata),
    delivery:
      row.jobStatus === null
        ? null
        : {
            status: row.jobStatus as DeliveryView["status"],
            attempts: row.jobAttempts ?? 0,
            lastError: row.jobLastError,
            deliveredAt: isoTimeOrNull(row.jobDeliveredAt),
          },
  };
}

/** Notifications with their delivery state (one webhook job per notification, if any). */
export function selectNotifications(store: Store) {
  return store.db
    .selectFrom("notifications")
    .leftJoin("webhookJobs", "webhookJobs.notificationId", "notifications.id")
    .selectAll("notifications")
    .select([
      "webhookJobs.status as jobStatus",
      "webhookJobs.attempts as jobAttempts",
      "webhookJobs.lastError as jobLastError",
      "webhookJobs.deliveredAt as jobDeliveredAt",
    ]);
}

/** The notifications asking for a judgement of a call, given the call's own tags (id, completion id), newest first. */
export async function notificationsOf(store: Store, tags: string[]): Promise<NotificationView[]> {
  if (tags.length === 0) return [];
  const rows = await selectNotifications(store)
    .where("notifications.completionId", "in", tags)
    .orderBy("notifications.createdAt", "desc")
    .limit(100)
    .execute();
  const now = Date.now();
  return rows.map((r) => toNotificationView(r, now));
}

/** The notification's token and its absolute link. */
export async function linkOf(
  deps: NotificationsDeps,
  n: { id: string; expiresAt: number },
): Promise<{ token: string; url: string }> {
  const token = signToken(await deps.key(), { n: n.id, exp: n.expiresAt });
  return { token, url: `${deps.baseUrl()}/a/${token}` };
}

export type NotificationWithUrl = NotificationView & { url: string };

async function withUrl(deps: NotificationsDeps, row: Row): Promise<NotificationWithUrl> {
  return { ...toNotificationView(row), url: (await linkOf(deps, row)).url };
}

/** The body of the webhook POST for one notification (Standard Webhooks payload shape). */
export function webhookPayload(view: NotificationView, url: string): string {
  return JSON.stringify({
    type: "notification.created",
    timestamp: view.createdAt,
    data: { notification: { ...view, delivery: null }, url },
  });
}

/**
 * Stores notifications (one with a client `id` is stored once however often it is retried: the first wins) and,
 * when a webhook is configured, their delivery jobs in the same transaction.
 * @throws HttpError 400 naming `rubric` (`[i].rubric` in a batch) when a rubric does not exist.
 */
export async function notify(
  deps: NotificationsDeps,
  items: NotificationInput[],
  batch: boolean,
): Promise<NotificationWithUrl[]> {
  const { store } = deps;
  const known = new Set<string>();
  for (const [i, item] of items.entries()) {
    if (!item.rubric || known.has(item.rubric)) continue;
    // One by one, so that the first bad item is the one named.
    await requireRubric(store, item.rubric, batch ? `[${i}].rubric` : "rubric");
    known.add(item.rubric);
  }
  const now = Date.now();
  const rows: NotificationRow[] = items.map((item) => ({
    id: item.id ?? newId("ntf", now),
    completionId: item.completionId,
    recipient: item.sendNotificationTo,
    message: item.message ?? null,
    rubric: item.rubric ?? DEFAULT_RUBRIC.name,
    status: "open",
    metadata: item.metadata === undefined ? null : JSON.stringify(item.metadata),
    createdAt: now,
    expiresAt: now + (item.expiresInSeconds ?? deps.tokenTtlSeconds) * 1000,
    doneAt: null,
    revokedAt: null,
  }));
  // One row per id: a batch that repeats a client id stores it once, like a retry would.
  const unique = [...new Map(rows.map((r) => [r.id, r])).values()];
  const jobs = deps.webhook
    ? await Promise.all(
        unique.map(async (r) => {
          const view = toNotificationView({
            ...r,
            jobStatus: null,
            jobAttempts: null,
            jobLastError: null,
            jobDeliveredAt: null,
          });
          return {
            id: newId("msg", now),
            notificationId: r.id,
            payload: webhookPayload(view, (await linkOf(deps, r)).url),
            status: "pending",
            attempts: 0,
            nextAttemptAt: now,
            lockedUntil: null,
            lockedBy: null,
            lastError: null,
            createdAt: now,
            deliveredAt: null,
          };
        }),
      )
    : [];
  let enqueued = 0;
  await store.db.transaction().execute(async (trx) => {
    for (let i = 0; i < unique.length; i += 200) {
      const chunk = unique.slice(i, i + 200);
      const inserted = await trx
        .insertInto("notifications")
        .values(chunk)
        .onConflict((oc) => oc.column("id").doNothing())
        .returning("id")
        .execute();
      const fresh = new Set(inserted.map((r) => r.id));
      const chunkJobs = jobs.filter((j) => fresh.has(j.notificationId));
      if (chunkJobs.length) {
        await trx.insertInto("webhookJobs").values(chunkJobs).execute();
        enqueued += chunkJobs.length;
      }
    }
  });
  if (enqueued) deps.webhook?.enqueued();
  const stored = await byIds(
    store,
    rows.map((r) => r.id),
  );
  return Promise.all(rows.map((r) => withUrl(deps, stored.get(r.id) as Row)));
}

async function byIds(store: Store, ids: string[]): Promise<Map<string, Row>> {
  const out = new Map<string, Row>();
  const unique = [...new Set(ids)];
  for (let i = 0; i < unique.length; i += 500) {
    const rows = await selectNotifications(store)
      .where("notifications.id", "in", unique.slice(i, i + 500))
      .execute();
    for (const r of rows) out.set(r.id, r);
  }
  return out;
}

export async function findNotification(store: Store, id: string): Promise<Row | undefined> {
  return selectNotifications(store).where("notifications.id", "=", id).executeTakeFirst();
}

function notFound(id: string): never {
  throw new HttpError(404, `no notification with id "${id}"`, { field: "id" });
}

/** One notification with its link. @throws HttpError 404 */
export async function getNotification(deps: NotificationsDeps, id: string): Promise<NotificationWithUrl> {
  const row = await findNotification(deps.store, id);
  if (!row) notFound(id);
  return withUrl(deps, row);
}

/**
 * Revokes a notification: its link stops working (410). Revoking twice is harmless.
 * @throws HttpError 404, or 409 when it was already answered.
 */
export async function revokeNotification(deps: NotificationsDeps, id: string): Promise<NotificationWithUrl> {
  const now = Date.now();
  await deps.store.db
    .updateTable("notifications")
    .set({ status: "revoked", revokedAt: now })
    .where("id", "=", id)
    .where("status", "=", "open")
    .execute();
  const row = await findNotification(deps.store, id);
  if (!row) notFound(id);
  if (row.status === "done") {
    throw new HttpError(409, `notification "${id}" was already answered; an answered one cannot be revoked`, {
      field: "id",
      code: "already_done",
    });
  }
  return withUrl(deps, row);
}

export const listStatuses = ["open", "done", "revoked", "expired"] as const;

/** Conditions for an inbox tab; `open` and `expired` both depend on the clock. */
function statusCondition(status: (typeof listStatuses)[number], now: number) {
  return (eb: ExpressionBuilder<Database, "notifications">) => {
    switch (status) {
      case "open":
        return eb.and([eb("notifications.status", "=", "open"), eb("notifications.expiresAt", ">", now)]);
      case "expired":
        return eb.and([eb("notifications.status", "=", "open"), eb("notifications.expiresAt", "<=", now)]);
      default:
        return eb("notifications.status", "=", status);
    }
  };
}

export interface ListQuery {
  recipient?: string;
  /** Only notifications about these tags (a call's id, completion id and custom tags). */
  completionId?: string[];
  status?: (typeof listStatuses)[number];
  cursor?: string;
  limit: number;
}

/**
 * A recipient's inbox, newest first, with the counts of open and done items. Each item has its link and, when
 * the call is stored, a short preview of it.
 */
export async function listNotifications(deps: NotificationsDeps, q: ListQuery) {
  const { store } = deps;
  const now = Date.now();
  let query = selectNotifications(store);
  if (q.recipient !== undefined) query = query.where("notifications.recipient", "=", q.recipient);
  if (q.completionId?.length) query = query.where("notifications.completionId", "in", q.completionId);
  if (q.status) query = query.where(statusCondition(q.status, now));
  if (q.cursor) {
    const c = decodeCursor(q.cursor);
    query = query.where((eb) =>
      eb(eb.refTuple("notifications.createdAt", "notifications.id"), "<", eb.tuple(c.t, c.id)),
    );
  }
  const rows = await query
    .orderBy("notifications.createdAt", "desc")
    .orderBy("notifications.id", "desc")
    .limit(q.limit + 1)
    .execute();
  const more = rows.length > q.limit;
  if (more) rows.pop();
  const last = rows.at(-1);

  const count = async (status: "open" | "done") => {
    let c = store.db
      .selectFrom("notifications")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where(statusCondition(status, now));
    if (q.recipient !== undefined) c = c.where("notifications.recipient", "=", q.recipient);
    if (q.completionId?.length) c = c.where("notifications.completionId", "in", q.completionId);
    return Number((await c.executeTakeFirst())?.n ?? 0);
  };
  const [open, done, previews] = await Promise.all([
    count("open"),
    count("done"),
    previewsByTag(
      store,
      rows.map((r) => r.completionId),
    ),
  ]);
  return {
    data: await Promise.all(
      rows.map(async (r) => ({
        ...(await withUrl(deps, r)),
        preview: previews.get(r.completionId) ?? null,
      })),
    ),
    nextCursor: more && last ? encodeCursor(last.createdAt, last.id) : null,
    counts: { open, done },
  };
}

/** Marks a notification done (once: an already done one keeps its first `doneAt`). */
export async function markDone(store: Store, id: string): Promise<void> {
  await store.db
    .updateTable("notifications")
    .set({ status: "done", doneAt: Date.now() })
    .where("id", "=", id)
    .where("status", "=", "open")
    .execute();
}
