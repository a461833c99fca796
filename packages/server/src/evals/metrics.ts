/**
 * Metrics over time for the app's plots (`GET /api/metrics/timeseries`): reward, check pass rate, cost,
 * latency and volume per hour or day, optionally split by model, upstream or prompt version (call metadata
 * `promptVersion`), so a regression after a change shows at a glance.
 *
 * Buckets are computed in SQL on millisecond BIGINTs (`t - t % size`, UTC), which SQLite and PostgreSQL
 * evaluate alike. What each metric means:
 * - `volume`: calls started in the bucket (value = n).
 * - `cost`: total USD of the bucket's priced calls (n = priced calls).
 * - `latency`: mean `durationMs` of the bucket's calls.
 * - `reward`: mean numeric reward of the annotations resolved to the bucket's calls (n = annotations);
 *   `name` and `source` narrow it (e.g. `source=judge`).
 * - `passRate`: share of evaluation check verdicts that passed, bucketed by when the check ran, split by the
 *   judged (candidate) call's model, upstream or prompt version; `name` (a check) and `run` narrow it.
 */
import { type RawBuilder, sql } from "kysely";
import { HttpError } from "../http/error.ts";
import type { Store } from "../store/index.ts";
import { isoTime } from "../util/time.ts";
import type { TimeseriesQuery } from "./schemas.ts";

export interface Bucket {
  /** Start of the bucket, ISO 8601 (UTC). */
  t: string;
  /** The group's value (model, upstream or prompt version); null when not grouped or unknown. */
  group: string | null;
  value: number;
  n: number;
}

const HOUR = 3_600_000;
const DAY = 86_400_000;
const MAX_BUCKETS = 5000;

function groupExpr(store: Store, groupBy: TimeseriesQuery["groupBy"]): RawBuilder<string | null> {
  switch (groupBy) {
    case "model":
      return sql`coalesce(c.served_model, c.requested_model)`;
    case "upstream":
      return sql`c.upstream`;
    case "promptVersion":
      // Metadata is JSON text in both dialects; each has its own JSON accessor.
      return store.dialect.name === "postgres"
        ? sql`(c.metadata::jsonb ->> 'promptVersion')`
        : sql`cast(json_extract(c.metadata, '$.promptVersion') as text)`;
    default:
      return sql`null`;
  }
}

/**
 * The buckets of one metric, oldest first.
 * @throws HttpError 400 naming `from` when the range is empty or has too many buckets.
 *
 * @example
 * ```ts
 * await timeseries(store, { metric: "cost", bucket: "day", groupBy: "model" });
 * // { buckets: [{ t: "2025-05-01T00:00:00.000Z", group: "gpt-4.1", value: 1.27, n: 311 }, ...] }
 * ```
 */
export async function timeseries(
  store: Store,
  q: TimeseriesQuery,
  now = Date.now(),
): Promise<{ buckets: Bucket[] }> {
  const size = q.bucket === "day" ? DAY : HOUR;
  const to = q.to ?? now;
  const from = q.from ?? to - (q.bucket === "day" ? 90 * DAY : 7 * DAY);
  if (from >= to) throw new HttpError(400, "query field from: must be before to", { field: "from" });
  if ((to - from) / size > MAX_BUCKETS)
    throw new HttpError(400, `query field from: the range spans more than ${MAX_BUCKETS} ${q.bucket}s`, {
      field: "from",
    });
  const g = groupExpr(store, q.groupBy);
  let query: RawBuilder<{ t: number; g: string | null; value: number | string | null; n: number | string }>;
  if (q.metric === "reward") {
    query = sql`
      select c.started_at - c.started_at % ${sql.lit(size)} as t, ${g} as g,
             avg(a.numeric_reward) as value, count(*) as n
      from calls c
      join call_annotations ca on ca.call_id = c.id
      join annotations a on a.id = ca.annotation_id
      where c.started_at >= ${from} and c.started_at < ${to} and a.numeric_reward is not null
        ${q.name ? sql`and a.name = ${q.name}` : sql``}
        ${q.source ? sql`and a.source = ${q.source}` : sql``}
      group by 1, 2`;
  } else if (q.metric === "passRate") {
    query = sql`
      select r.created_at - r.created_at % ${sql.lit(size)} as t, ${g} as g,
             avg(r.pass * 1.0) as value, count(*) as n
      from eval_check_results r
      left join calls c on c.id = r.call_id
      where r.created_at >= ${from} and r.created_at < ${to} and r.pass is not null
        ${q.name ? sql`and r.check_name = ${q.name}` : sql``}
        ${q.run ? sql`and r.run_id = ${q.run}` : sql``}
      group by 1, 2`;
  } else {
    const [value, where] =
      q.metric === "cost"
        ? [sql`sum(c.cost_usd)`, sql`and c.cost_usd is not null`]
        : q.metric === "latency"
          ? [sql`avg(c.duration_ms)`, sql`and c.duration_ms is not null`]
          : [sql`count(*)`, sql``];
    query = sql`
      select c.started_at - c.started_at % ${sql.lit(size)} as t, ${g} as g, ${value} as value, count(*) as n
      from calls c
      where c.started_at >= ${from} and c.started_at < ${to} ${where}
      group by 1, 2`;
  }
  const { rows } = await query.execute(store.db);
  const buckets = rows.map((r) => ({
    t: isoTime(r.t),
    group: r.g === null || r.g === undefined ? null : String(r.g),
    value: Number(r.value),
    n: Number(r.n),
  }));
  // Oldest first, ungrouped (null) before named groups, in one order for both dialects.
  const key = (b: Bucket) => `${b.t}\u0000${b.group === null ? "" : `\u0001${b.group}`}`;
  buckets.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return { buckets };
}
