/**
 * Review clusters: the review queue's candidates grouped by what they share that is safe to show (model,
 * upstream, outcome, failed checks, floor flags, reward band, experiment and variant; never text). A repeated
 * cluster is stronger evidence than a one-off, so clusters of two or more come first, largest then newest, and
 * single calls after them, newest first.
 */
import { z } from "zod";
import { toCallView } from "../calls/index.ts";
import type { Store } from "../store/index.ts";
import { annotationStats, type ReviewItem, reviewCandidates, reviewKinds } from "./review.ts";

/** How many candidates each evidence source gives to the clustering: enough for counts to mean something. */
export const CLUSTER_POOL = 500;

/** The reward bands (mean reward of the annotations resolved to a call); `none` without a numeric reward. */
export const rewardBands = ["none", "0-0.25", "0.25-0.5", "0.5-0.75", "0.75-1"] as const;
export type RewardBand = (typeof rewardBands)[number];

export function rewardBand(mean: number | null): RewardBand {
  if (mean === null) return "none";
  if (mean < 0.25) return "0-0.25";
  if (mean < 0.5) return "0.25-0.5";
  if (mean < 0.75) return "0.5-0.75";
  return "0.75-1";
}

export const clusterKeySchema = z.object({
  model: z.string().nullable(),
  upstream: z.string(),
  outcome: z.string(),
  /** The checks that failed, sorted and comma-separated (`response_format` for a schema failure); null: none. */
  checkFailed: z.string().nullable(),
  /** The floor flags raised, sorted and comma-separated; null: none. */
  flag: z.string().nullable(),
  rewardBand: z.enum(rewardBands),
  experiment: z.string().nullable(),
  variant: z.string().nullable(),
});
export type ClusterKey = z.infer<typeof clusterKeySchema>;

export interface ReviewCluster {
  /** The key as one string (stable: the same calls give the same id), for links and React keys. */
  id: string;
  key: ClusterKey;
  count: number;
  /** When the newest call of the cluster started (ISO 8601). */
  newestAt: string;
  /** The reasons' codes found in the cluster. */
  kinds: Array<(typeof reviewKinds)[number]>;
  /** The newest calls of the cluster, up to `examples`. */
  items: ReviewItem[];
}

const csv = (values: Iterable<string>) => {
  const sorted = [...new Set(values)].sort();
  return sorted.length ? sorted.join(",") : null;
};

/** Each call's failed checks (`check:<name>` annotations with reward 0) and floor flags, read in one query. */
async function verdicts(store: Store, ids: string[]) {
  const out = new Map<string, { checks: string[]; flags: string[] }>();
  if (ids.length === 0) return out;
  const rows = await store.db
    .selectFrom("callAnnotations")
    .innerJoin("annotations", "annotations.id", "callAnnotations.annotationId")
    .select(["callAnnotations.callId", "annotations.name", "annotations.data"])
    .where("callAnnotations.callId", "in", ids)
    .where("annotations.numericReward", "=", 0)
    .where((eb) => eb.or([eb("annotations.name", "like", "check:%"), eb("annotations.name", "=", "floor")]))
    .execute();
  for (const r of rows) {
    const v = out.get(r.callId) ?? { checks: [], flags: [] };
    if (r.name === "floor") v.flags.push(...floorFlags(r.data));
    else v.checks.push(r.name.slice("check:".length));
    out.set(r.callId, v);
  }
  return out;
}

/** The flag names of a floor annotation's data (evals/floor.ts writes `{ flags: [...] }`); none if unreadable. */
function floorFlags(data: string | null): string[] {
  try {
    const v: unknown = data ? JSON.parse(data) : undefined;
    const flags = (v as { flags?: unknown } | undefined)?.flags;
    return Array.isArray(flags) ? flags.filter((f): f is string => typeof f === "string") : [];
  } catch {
    return [];
  }
}

/**
 * The candidates grouped by their safe metadata: up to `limit` clusters (those of two or more calls first, by
 * size then recency; then single calls, newest first), each with up to `examples` of its newest calls.
 */
export async function reviewClusters(
  store: Store,
  opts: { limit: number; examples: number; pool?: number },
): Promise<ReviewCluster[]> {
  const candidates = await reviewCandidates(store, opts.pool ?? CLUSTER_POOL);
  if (candidates.length === 0) return [];
  const ids = candidates.map((c) => c.row.id);
  // Both reads bind every id; chunked so that neither reaches a driver's limit on bound parameters.
  const stats = new Map<string, { n: number; mean: number | null }>();
  const found = new Map<string, { checks: string[]; flags: string[] }>();
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    const [s, v] = await Promise.all([annotationStats(store, chunk), verdicts(store, chunk)]);
    for (const [k, x] of s) stats.set(k, x);
    for (const [k, x] of v) found.set(k, x);
  }
  const groups = new Map<string, { key: ClusterKey; members: typeof candidates }>();
  for (const c of candidates) {
    const v = found.get(c.row.id);
    const checks = [...(v?.checks ?? [])];
    if (c.kinds.includes("schema")) checks.push("response_format");
    const key: ClusterKey = {
      model: c.row.requestedModel ?? c.row.servedModel,
      upstream: c.row.upstream,
      outcome: c.row.outcome,
      checkFailed: csv(checks),
      flag: csv(v?.flags ?? []),
      rewardBand: rewardBand(stats.get(c.row.id)?.mean ?? null),
      experiment: c.row.experiment,
      variant: c.row.variant,
    };
    const id = JSON.stringify(Object.values(key));
    const g = groups.get(id) ?? { key, members: [] };
    g.members.push(c);
    groups.set(id, g);
  }
  const clusters = [...groups.entries()].map(([id, g]) => {
    const members = g.members.sort(
      (a, b) => b.row.startedAt - a.row.startedAt || (a.row.id < b.row.id ? 1 : -1),
    );
    return { id, key: g.key, members, newest: members[0]?.row.startedAt ?? 0 };
  });
  clusters.sort((a, b) => {
    const repeatedA = a.members.length > 1;
    const repeatedB = b.members.length > 1;
    if (repeatedA !== repeatedB) return repeatedA ? -1 : 1;
    if (repeatedA && a.members.length !== b.members.length) return b.members.length - a.members.length;
    return b.newest - a.newest || (a.id < b.id ? -1 : 1);
  });
  return clusters.slice(0, opts.limit).map((c) => ({
    id: c.id,
    key: c.key,
    count: c.members.length,
    newestAt: new Date(c.newest).toISOString(),
    kinds: reviewKinds.filter((k) => c.members.some((m) => m.kinds.includes(k))),
    items: c.members.slice(0, opts.examples).map((m) => ({
      call: {
        ...toCallView(m.row, false),
        annotationCount: stats.get(m.row.id)?.n ?? 0,
        meanReward: stats.get(m.row.id)?.mean ?? null,
      },
      reasons: m.reasons,
      kinds: m.kinds,
    })),
  }));
}
