/**
 * The review queue: what a person should judge next, among the calls no person has judged yet (no annotation
 * with `source: "human"` resolves to them; automated `code`, `user` and `judge` annotations do not count, so
 * that their low or disagreeing rewards can be checked by a person).
 *
 * Six sources, interleaved so that one kind cannot fill the queue: upstream errors, low or disagreeing rewards,
 * outputs that fail their `response_format`, slow calls (above the p90 of recent calls), calls whose reviewers
 * in a review queue disagree (these were judged by people, and wait for one to settle them) and a random sample
 * of recent calls. Each item says why it was picked; a call picked for several reasons is listed once with all.
 * Only the most recent `REVIEW_WINDOW` calls are considered.
 */
import { sql } from "kysely";
import {
  type CallView,
  callListRowsByIds,
  lowRewardCalls,
  recentDurations,
  startOfRecentCalls,
  toCallView,
  unjudgedCallIds,
  unjudgedCalls,
} from "../calls/index.ts";
import { disagreeingCalls } from "../notifications/index.ts";
import type { CallListRow, Store } from "../store/index.ts";
import { clip } from "../util/clip.ts";

// The check moved to the calls domain, which runs it once at insert; still exported here for its callers.
export { schemaFailure } from "../chat/preview.ts";

export const reviewKinds = ["error", "reward", "schema", "slow", "disagreement", "random"] as const;
export type ReviewKind = (typeof reviewKinds)[number];

export interface ReviewItem {
  call: CallView;
  /** Why it was picked, in words. */
  reasons: string[];
  /** The same, as codes: `error`, `reward`, `schema`, `slow`, `disagreement`, `random`. */
  kinds: ReviewKind[];
}

/** Only the most recent calls are considered, so the queue costs the same on a store of any size. */
export const REVIEW_WINDOW = 10_000;
/** How many recent calls the p90 and the random sample look at. */
const RECENT = 1000;

const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;

type Candidate = { row: CallListRow; reason: string };

async function errors(store: Store, since: number, limit: number): Promise<Candidate[]> {
  const rows = await unjudgedCalls(store, { failed: true }, { since, limit });
  return rows.map((row) => ({
    row,
    reason:
      `upstream error: ${row.outcome}${row.status ? ` (HTTP ${row.status})` : ""}` +
      (row.error ? `: ${clip(row.error, 160)}` : ""),
  }));
}

async function rewards(store: Store, since: number, limit: number): Promise<Candidate[]> {
  const agg = await lowRewardCalls(store, { since, limit, below: 0.5 });
  return withCalls(
    store,
    agg,
    (a) => a.id,
    ({ lo, hi, n }) =>
      hi >= 0.5
        ? `disagreeing rewards: from ${lo} to ${hi} over ${n} annotations`
        : `low reward: ${n === 1 ? lo : `at most ${hi} over ${n} annotations`}`,
  );
}

/** Each finding with its call's list row and the reason it is worth a look; findings whose call is gone drop out. */
async function withCalls<F>(
  store: Store,
  found: F[],
  callIdOf: (f: F) => string,
  reasonOf: (f: F) => string,
): Promise<Candidate[]> {
  if (found.length === 0) return [];
  const byId = await callListRowsByIds(store, found.map(callIdOf));
  return found.flatMap((f) => {
    const row = byId.get(callIdOf(f));
    return row ? [{ row, reason: reasonOf(f) }] : [];
  });
}

/**
 * Outputs that fail the JSON their request asked for. The check ran when each call was stored
 * (`calls/preview.ts`): the queue reads its verdict, not the bodies.
 */
async function schemaFailures(store: Store, since: number, limit: number): Promise<Candidate[]> {
  const rows = await unjudgedCalls(store, { schemaFailed: true }, { since, limit });
  return rows.map((row) => ({ row, reason: row.schemaFailure as string }));
}

async function slow(store: Store, since: number, limit: number): Promise<Candidate[]> {
  const recent = await recentDurations(store, RECENT);
  // Below 10 calls a p90 says nothing.
  if (recent.length < 10) return [];
  const sorted = [...recent].sort((a, b) => a - b);
  const p90 = sorted[Math.ceil(sorted.length * 0.9) - 1] as number;
  const rows = await unjudgedCalls(store, { slowerThanMs: p90 }, { since, limit });
  return rows.map((row) => ({
    row,
    reason: `slow: ${seconds(row.durationMs as number)}, above the p90 of ${seconds(p90)} over the last ${recent.length} calls`,
  }));
}

/**
 * Calls whose reviewers in a review queue answered differently (notifications/queues.ts). Judged by people
 * already, so not limited to unjudged calls: they wait for someone to settle them.
 */
async function disagreements(store: Store, limit: number): Promise<Candidate[]> {
  return withCalls(
    store,
    await disagreeingCalls(store, limit),
    (f) => f.callId,
    (f) => f.reason,
  );
}

async function randomSample(
  store: Store,
  since: number,
  limit: number,
  exclude: Set<string>,
): Promise<Candidate[]> {
  const ids = await unjudgedCallIds(store, { since, limit: RECENT });
  const pool = ids.filter((id) => !exclude.has(id));
  // Partial Fisher–Yates: the first `limit` places get a uniform sample.
  for (let i = 0; i < Math.min(limit, pool.length); i++) {
    const j = i + Math.floor(Math.random() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j] as string, pool[i] as string];
  }
  const chosen = pool.slice(0, limit);
  if (chosen.length === 0) return [];
  const byId = await callListRowsByIds(store, chosen);
  return chosen.flatMap((id) => {
    const row = byId.get(id);
    return row ? [{ row, reason: `random sample of the last ${ids.length} unjudged calls` }] : [];
  });
}

/** Each evidence source's candidates (every source but the random sample), up to `limit` each. */
/** What each evidence source picks, by kind, in the order the queue deals them. */
async function evidence(
  store: Store,
  since: number,
  limit: number,
): Promise<Array<[ReviewKind, Candidate[]]>> {
  const [e, r, s, sl, d] = await Promise.all([
    errors(store, since, limit),
    rewards(store, since, limit),
    schemaFailures(store, since, limit),
    slow(store, since, limit),
    disagreements(store, limit),
  ]);
  return [
    ["error", e],
    ["reward", r],
    ["schema", s],
    ["slow", sl],
    ["disagreement", d],
  ];
}

/** A candidate call with every reason it was picked for. */
export interface Candidates {
  row: CallListRow;
  reasons: string[];
  kinds: ReviewKind[];
}

/**
 * Every call some evidence source picks among the recent ones, up to `perSource` from each, with all its reasons
 * (review-clusters.ts groups them). The random sample is left out: it is no evidence.
 */
export async function reviewCandidates(store: Store, perSource: number): Promise<Candidates[]> {
  const since = await startOfRecentCalls(store, REVIEW_WINDOW);
  const out = new Map<string, Candidates>();
  for (const [kind, list] of await evidence(store, since, perSource)) {
    for (const p of list) {
      const c = out.get(p.row.id) ?? { row: p.row, reasons: [], kinds: [] };
      c.reasons.push(p.reason);
      c.kinds.push(kind);
      out.set(p.row.id, c);
    }
  }
  return [...out.values()];
}

/** Proposes up to `limit` calls to judge, each with why. */
export async function reviewQueue(store: Store, limit: number): Promise<ReviewItem[]> {
  const since = await startOfRecentCalls(store, REVIEW_WINDOW);
  const found = await evidence(store, since, limit);
  const picked = new Set(found.flatMap(([, list]) => list.map((p) => p.row.id)));
  const lists: Array<[ReviewKind, Candidate[]]> = [
    ...found,
    ["random", await randomSample(store, since, limit, picked)],
  ];
  const items = new Map<string, { row: CallListRow; reasons: string[]; kinds: ReviewKind[] }>();
  // Every reason a listed call has, even those found in a list after the queue filled up.
  const all = new Map<string, Array<[ReviewKind, string]>>();
  for (const [kind, list] of lists) {
    for (const p of list) all.set(p.row.id, [...(all.get(p.row.id) ?? []), [kind, p.reason]]);
  }
  for (let i = 0; items.size < limit; i++) {
    let any = false;
    for (const [, list] of lists) {
      const p = list[i];
      if (!p) continue;
      any = true;
      if (items.size >= limit || items.has(p.row.id)) continue;
      const reasons = all.get(p.row.id) ?? [];
      items.set(p.row.id, { row: p.row, reasons: reasons.map((x) => x[1]), kinds: reasons.map((x) => x[0]) });
    }
    if (!any) break;
  }
  const stats = await annotationStats(store, [...items.keys()]);
  return [...items.values()].map((it) => ({
    call: {
      ...toCallView(it.row, false),
      annotationCount: stats.get(it.row.id)?.n ?? 0,
      meanReward: stats.get(it.row.id)?.mean ?? null,
    },
    reasons: it.reasons,
    kinds: it.kinds,
  }));
}

/** Count and mean reward of the annotations that resolve to each call (as the calls list shows). */
export async function annotationStats(store: Store, ids: string[]) {
  const out = new Map<string, { n: number; mean: number | null }>();
  if (ids.length === 0) return out;
  const rows = await store.db
    .selectFrom("callAnnotations")
    .innerJoin("annotations", "annotations.id", "callAnnotations.annotationId")
    .select([
      "callAnnotations.callId",
      sql<number>`count(*)`.as("n"),
      sql<number | null>`avg(annotations.numeric_reward)`.as("mean"),
    ])
    .where("callAnnotations.callId", "in", ids)
    .groupBy("callAnnotations.callId")
    .execute();
  for (const r of rows) out.set(r.callId, { n: Number(r.n), mean: r.mean === null ? null : Number(r.mean) });
  return out;
}
