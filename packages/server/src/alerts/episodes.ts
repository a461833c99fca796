/**
 * Evaluating the rules: an episode opens when a rule's condition holds (once: the store allows one open episode
 * per rule, so two instances evaluating at once open it once and only the one that opened it sends the webhook),
 * and resolves after the condition has failed to hold at RESOLVE_AFTER evaluations in a row (hysteresis: a value
 * hovering at the threshold does not fire and resolve at every evaluation). Each fire and resolve enqueues one
 * signed webhook, in the same transaction as the episode's change, on the notifications' `webhook_jobs`.
 */
import type { Database, Store } from "../store/index.ts";
import { newId } from "../util/ids.ts";
import { measure } from "./measure.ts";
import { listRules } from "./rules.ts";
import type { AlertRule, AlertView } from "./schemas.ts";

/** Evaluations in a row that must find the condition not holding before its episode resolves. */
export const RESOLVE_AFTER = 2;

/** An episode as the views read it (without the bookkeeping of its opening and clearing). */
type EpisodeRow = Omit<Database["alertEpisodes"], "openKey" | "clearCount">;

const iso = (ms: number) => new Date(Number(ms)).toISOString();

export function alertView(r: EpisodeRow): AlertView {
  return {
    id: r.id,
    rule: r.rule,
    status: r.status === "open" ? "open" : "resolved",
    condition: r.condition,
    value: Number(r.value),
    lastValue: r.lastValue === null ? null : Number(r.lastValue),
    threshold: Number(r.threshold),
    window: r.window,
    calls: Number(r.calls),
    startedAt: iso(r.startedAt),
    resolvedAt: r.resolvedAt === null ? null : iso(r.resolvedAt),
  };
}

export interface EvaluateDeps {
  store: Store;
  /** The default webhook (INTERSEBD_ALERTS_WEBHOOK_URL) for rules that name none. */
  webhookUrl?: string;
  /** A webhook job was enqueued: deliver it now. */
  enqueued?: () => void;
}

export interface Transition {
  rule: string;
  event: "fired" | "resolved";
  alert: AlertView;
}

/** Evaluates every rule at `now` (ms; tests drive it), returning the episodes opened and resolved. */
export async function evaluateRules(deps: EvaluateDeps, now = Date.now()): Promise<Transition[]> {
  const { store } = deps;
  const rules = await listRules(store);
  const out: Transition[] = [];
  for (const rule of rules) {
    const m = await measure(store, rule, now);
    const t = await apply(deps, rule, m, now);
    if (t) out.push(t);
  }
  // A deleted rule's open episode would stay open forever: resolve it.
  const names = new Set(rules.map((r) => r.name));
  const orphans = await store.db
    .selectFrom("alertEpisodes")
    .select("rule")
    .where("openKey", "is not", null)
    .execute();
  for (const { rule } of orphans)
    if (!names.has(rule)) {
      const t = await resolve(deps, undefined, rule, null, now);
      if (t) out.push(t);
    }
  if (out.length) deps.enqueued?.();
  return out;
}

async function apply(
  deps: EvaluateDeps,
  rule: AlertRule,
  m: { holds: boolean; value: number; threshold: number; calls: number },
  now: number,
): Promise<Transition | undefined> {
  const { store } = deps;
  const open = await store.db
    .selectFrom("alertEpisodes")
    .select(["id", "clearCount"])
    .where("openKey", "=", rule.name)
    .executeTakeFirst();
  if (m.holds) {
    if (open) {
      await store.db
        .updateTable("alertEpisodes")
        .set({ lastValue: m.value, clearCount: 0 })
        .where("id", "=", open.id)
        .execute();
      return undefined;
    }
    return store.db.transaction().execute(async (trx) => {
      const row: EpisodeRow & { openKey: string; clearCount: number } = {
        id: newId("alr"),
        rule: rule.name,
        openKey: rule.name,
        status: "open",
        condition: rule.condition.kind,
        value: m.value,
        lastValue: m.value,
        threshold: m.threshold,
        window: rule.window,
        calls: m.calls,
        clearCount: 0,
        startedAt: now,
        resolvedAt: null,
      };
      const r = await trx
        .insertInto("alertEpisodes")
        .values(row)
        .onConflict((oc) => oc.column("openKey").doNothing())
        .returning("id")
        .executeTakeFirst();
      // Another instance opened it first: its webhook is the one.
      if (!r) return undefined;
      const alert = alertView(row);
      await enqueue(trx, rule.webhookUrl ?? deps.webhookUrl, "fired", alert, rule);
      return { rule: rule.name, event: "fired" as const, alert };
    });
  }
  if (!open) return undefined;
  if (open.clearCount + 1 < RESOLVE_AFTER) {
    await store.db
      .updateTable("alertEpisodes")
      .set({ lastValue: m.value, clearCount: open.clearCount + 1 })
      .where("id", "=", open.id)
      .execute();
    return undefined;
  }
  return resolve(deps, rule, rule.name, m.value, now);
}

async function resolve(
  deps: EvaluateDeps,
  rule: AlertRule | undefined,
  name: string,
  value: number | null,
  now: number,
): Promise<Transition | undefined> {
  return deps.store.db.transaction().execute(async (trx) => {
    const open = await trx
      .selectFrom("alertEpisodes")
      .selectAll()
      .where("openKey", "=", name)
      .executeTakeFirst();
    if (!open) return undefined;
    const r = await trx
      .updateTable("alertEpisodes")
      .set({ status: "resolved", openKey: null, resolvedAt: now, lastValue: value ?? open.lastValue })
      .where("id", "=", open.id)
      .where("openKey", "=", name)
      .executeTakeFirst();
    // Another instance resolved it first.
    if (Number(r.numUpdatedRows) === 0) return undefined;
    const alert = alertView({
      ...open,
      status: "resolved",
      resolvedAt: now,
      lastValue: value ?? open.lastValue,
    });
    await enqueue(trx, rule?.webhookUrl ?? deps.webhookUrl, "resolved", alert, rule);
    return { rule: name, event: "resolved" as const, alert };
  });
}

async function enqueue(
  db: Store["db"],
  url: string | undefined,
  event: "fired" | "resolved",
  alert: AlertView,
  rule: AlertRule | undefined,
): Promise<void> {
  if (!url) return;
  const now = Date.now();
  const payload = JSON.stringify({
    type: `alert.${event}`,
    timestamp: new Date(now).toISOString(),
    data: { alert, rule: rule ?? null },
  });
  await db
    .insertInto("webhookJobs")
    .values({
      id: newId("msg"),
      // Unique per episode and event: an episode's fire and its resolve are each enqueued once.
      notificationId: `alert:${alert.id}:${event}`,
      payload,
      status: "pending",
      attempts: 0,
      nextAttemptAt: now,
      createdAt: now,
      url,
    })
    .execute();
}

/** Alerts, open first, then resolved; newest first within each. */
export async function listAlerts(
  store: Store,
  q: { status?: "open" | "resolved"; limit: number },
): Promise<{ open: number; alerts: AlertView[] }> {
  const rows = await store.db
    .selectFrom("alertEpisodes")
    .select([
      "id",
      "rule",
      "status",
      "condition",
      "value",
      "lastValue",
      "threshold",
      "window",
      "calls",
      "startedAt",
      "resolvedAt",
    ])
    .$if(q.status !== undefined, (b) => b.where("status", "=", q.status as string))
    .orderBy("status")
    .orderBy("startedAt", "desc")
    .orderBy("id", "desc")
    .limit(q.limit)
    .execute();
  const open = await store.db
    .selectFrom("alertEpisodes")
    .select((eb) => eb.fn.countAll<number | string>().as("n"))
    .where("openKey", "is not", null)
    .executeTakeFirst();
  return { open: Number(open?.n ?? 0), alerts: rows.map(alertView) };
}
