import { type ReactNode, useMemo, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { withQuery } from "../api.ts";
import type { TimeMarker } from "../components/Charts.tsx";
import { TimeChart } from "../components/LazyCharts.tsx";
import { ErrorBox, Loading, PageHead } from "../components/ui.tsx";
import { fmtCost, fmtDateTime, fmtInt, fmtMs, fmtNum, fmtPct } from "../format.ts";
import { useApi } from "../hooks.ts";
import type { ConfigChange, ConfigChanges, MetricBucket, MetricName } from "../types.ts";

const HOUR = 3_600_000;
const DAY = 86_400_000;
/** Most lines drawn on one chart; the smaller groups are summed into "other" (volume, cost) or left out. */
const MAX_GROUPS = 8;

const RANGES = {
  "24h": { label: "last 24 hours", ms: DAY, bucket: "hour" },
  "7d": { label: "last 7 days", ms: 7 * DAY, bucket: "hour" },
  "30d": { label: "last 30 days", ms: 30 * DAY, bucket: "day" },
  "90d": { label: "last 90 days", ms: 90 * DAY, bucket: "day" },
} as const;
type RangeKey = keyof typeof RANGES;

const GROUPS = {
  "": "nothing",
  model: "model",
  promptVersion: "prompt version",
  upstream: "upstream",
} as const;

interface MetricInfo {
  title: string;
  unit: string;
  /** Missing buckets are 0 (counts, sums) rather than gaps (means, rates). */
  zeroFill: boolean;
  format(v: number): string;
  empty: ReactNode;
  /** The whole range in one number, from the buckets. */
  total(b: MetricBucket[]): string;
}

const weighted = (b: MetricBucket[]) => {
  const n = b.reduce((s, x) => s + x.n, 0);
  return n ? b.reduce((s, x) => s + x.value * x.n, 0) / n : null;
};

const METRICS: Record<MetricName, MetricInfo> = {
  volume: {
    title: "Volume",
    unit: "calls",
    zeroFill: true,
    format: (v) => fmtInt(Math.round(v)),
    empty: "No calls in this range.",
    total: (b) => `${fmtInt(b.reduce((s, x) => s + x.value, 0))} calls`,
  },
  reward: {
    title: "Reward",
    unit: "mean reward",
    zeroFill: false,
    format: (v) => fmtNum(v),
    empty: (
      <>
        No numeric rewards on calls of this range. Annotations appear here as they come in (the SDK's{" "}
        <code>annotate</code>, the <Link to="/review">review queue</Link>, the inbox).
      </>
    ),
    total: (b) => `mean ${fmtNum(weighted(b))} over ${fmtInt(b.reduce((s, x) => s + x.n, 0))} annotations`,
  },
  passRate: {
    title: "Check pass rate",
    unit: "passed",
    zeroFill: false,
    format: (v) => fmtPct(v),
    empty: (
      <>
        No check verdicts in this range. They come from <Link to="/evals">evaluations</Link>.
      </>
    ),
    total: (b) => `${fmtPct(weighted(b))} of ${fmtInt(b.reduce((s, x) => s + x.n, 0))} verdicts`,
  },
  cost: {
    title: "Cost",
    unit: "USD",
    zeroFill: true,
    format: (v) => fmtCost(v),
    empty: "No priced calls in this range (a model's price must be known to count its cost).",
    total: (b) => `${fmtCost(b.reduce((s, x) => s + x.value, 0))} in all`,
  },
  latency: {
    title: "Latency",
    unit: "ms (mean)",
    zeroFill: false,
    format: (v) => fmtMs(v),
    empty: "No calls with a duration in this range.",
    total: (b) => `mean ${fmtMs(weighted(b))}`,
  },
};

const ORDER: MetricName[] = ["volume", "reward", "passRate", "cost", "latency"];

/** A group's palette index, the same on every chart of the page (given in order of first sight). */
type ColorOf = (group: string) => number;

/** The buckets as chart columns: every bucket of the range on x, one series per group. */
function toSeries(
  buckets: MetricBucket[],
  from: number,
  to: number,
  size: number,
  info: MetricInfo,
  grouped: boolean,
  colorOf: ColorOf,
) {
  const start = from - (from % size);
  const xs: number[] = [];
  for (let t = start; t < to; t += size) xs.push(t / 1000);
  const index = new Map(xs.map((x, i) => [x * 1000, i]));
  const byGroup = new Map<string, MetricBucket[]>();
  for (const b of buckets) {
    // Ungrouped, one line for all calls; grouped, the calls without the value (no promptVersion...).
    const g = b.group ?? (grouped ? "(none)" : "all");
    byGroup.set(g, [...(byGroup.get(g) ?? []), b]);
  }
  const weight = (bs: MetricBucket[]) => bs.reduce((s, b) => s + b.n, 0);
  const groups = [...byGroup.entries()].sort((a, b) => weight(b[1]) - weight(a[1]));
  const shown = groups.slice(0, MAX_GROUPS);
  const rest = groups.slice(MAX_GROUPS);
  const column = (bs: MetricBucket[]) => {
    const values: Array<number | null> = xs.map(() => (info.zeroFill ? 0 : null));
    for (const b of bs) {
      const i = index.get(Date.parse(b.t));
      if (i === undefined) continue;
      values[i] = info.zeroFill ? (values[i] ?? 0) + b.value : b.value;
    }
    return values;
  };
  const series = shown.map(([label, bs]) => ({ label, values: column(bs), color: colorOf(label) }));
  if (rest.length && info.zeroFill) {
    const label = `${rest.length} other`;
    series.push({ label, values: column(rest.flatMap(([, bs]) => bs)), color: colorOf(label) });
  }
  return { xs, series, hidden: info.zeroFill ? 0 : rest.length };
}

/** A configuration hash's first call, as the timeline's marker: the short hash by the line, all of it on hover. */
const markerOf = (c: ConfigChange): TimeMarker => ({
  x: c.firstSeen / 1000,
  label: c.configHash.slice(0, 8),
  title: `configuration ${c.configHash} from ${fmtDateTime(new Date(c.firstSeen).toISOString())}`,
});

/**
 * The configuration hashes first seen in [from, to). Asked without `from`, so that a hash already in use before
 * the range is not taken for a change at its start. A server without the route, or a key that may not read it,
 * leaves the charts unmarked rather than showing an error on a page that works without it.
 */
function useConfigChanges(from: number, to: number): ConfigChange[] {
  const { data } = useApi<ConfigChanges>(withQuery("/api/status/config-changes", { to }));
  return useMemo(
    () => (data?.data ?? []).filter((c) => c.firstSeen >= from && c.firstSeen < to),
    [data, from, to],
  );
}

function ConfigChangeList({ changes }: { changes: ConfigChange[] }) {
  if (changes.length === 0) return null;
  return (
    <section className="card config-changes" data-testid="config-changes">
      <h2>Configuration changes</h2>
      <p className="muted small">
        A dashed line on each chart marks when calls first carried a new configuration hash (the effective
        non-secret configuration: capture mode, upstreams, sampling, limits…), so a change in the lines can be
        traced to it.
      </p>
      <ul>
        {changes.map((c) => (
          <li key={c.configHash} data-config-hash={c.configHash}>
            <code>{c.configHash}</code> from{" "}
            <span className="nowrap">{fmtDateTime(new Date(c.firstSeen).toISOString())}</span>{" "}
            <span className="muted small">
              {fmtInt(c.calls)} call{c.calls === 1 ? "" : "s"}, last{" "}
              {fmtDateTime(new Date(c.lastSeen).toISOString())}
              {c.current ? " · this server's configuration now" : ""}
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}

function MetricChart({
  metric,
  bucket,
  groupBy,
  from,
  to,
  colorOf,
  markers,
}: {
  metric: MetricName;
  bucket: "hour" | "day";
  groupBy: string;
  from: number;
  to: number;
  colorOf: ColorOf;
  markers: TimeMarker[];
}) {
  const info = METRICS[metric];
  const url = withQuery("/api/metrics/timeseries", { metric, bucket, groupBy, from, to });
  const { data, error, loading } = useApi<{ buckets: MetricBucket[] }>(url);
  const size = bucket === "day" ? DAY : HOUR;
  const chart = useMemo(
    () =>
      data?.buckets.length ? toSeries(data.buckets, from, to, size, info, groupBy !== "", colorOf) : null,
    [data, from, to, size, info, groupBy, colorOf],
  );
  return (
    <section className="card metric" data-testid={`metric-${metric}`} data-metric={metric}>
      <header className="card-head">
        <h2>{info.title}</h2>
        {data?.buckets.length ? (
          <span className="muted small" data-testid="metric-total">
            {info.total(data.buckets)}
          </span>
        ) : null}
      </header>
      {error ? <ErrorBox error={error} /> : null}
      {loading && !data ? <Loading what={`Loading ${info.title.toLowerCase()}`} /> : null}
      {data && !chart ? (
        <p className="muted" data-testid="metric-empty">
          {info.empty}
        </p>
      ) : null}
      {chart ? (
        <>
          <TimeChart
            xs={chart.xs}
            series={chart.series}
            unit={info.unit}
            format={info.format}
            testId={`chart-${metric}`}
            height={200}
            integer={metric === "volume"}
            points={!info.zeroFill}
            yRange={metric === "passRate" ? [0, 1] : undefined}
            markers={markers}
          />
          {chart.hidden ? (
            <p className="muted small">
              {chart.hidden} smaller group{chart.hidden === 1 ? "" : "s"} not drawn.
            </p>
          ) : null}
        </>
      ) : null}
    </section>
  );
}

export default function MetricsPage() {
  const [params, setParams] = useSearchParams();
  const range = (params.get("range") ?? "7d") in RANGES ? ((params.get("range") ?? "7d") as RangeKey) : "7d";
  const bucketParam = params.get("bucket");
  const bucket: "hour" | "day" =
    bucketParam === "hour" || bucketParam === "day" ? bucketParam : RANGES[range].bucket;
  const groupParam = params.get("groupBy") ?? "";
  const groupBy = groupParam in GROUPS ? groupParam : "";
  const [nonce, setNonce] = useState(0);
  // The range ends with the current bucket, so the latest calls are in it; recomputed on a change or a refresh.
  // biome-ignore lint/correctness/useExhaustiveDependencies: nonce forces a new range ending now
  const { from, to } = useMemo(() => {
    const size = bucket === "day" ? DAY : HOUR;
    const now = Date.now();
    const end = now - (now % size) + size;
    return { from: end - RANGES[range].ms, to: end };
  }, [range, bucket, nonce]);

  // One color per group across the five charts; a new split starts over.
  // biome-ignore lint/correctness/useExhaustiveDependencies: groupBy resets the colors
  const colorOf = useMemo<ColorOf>(() => {
    const seen = new Map<string, number>();
    return (g) => {
      if (!seen.has(g)) seen.set(g, seen.size);
      return seen.get(g) as number;
    };
  }, [groupBy]);

  const changes = useConfigChanges(from, to);
  const markers = useMemo(() => changes.map(markerOf), [changes]);

  const update = (k: string, v: string) => {
    const next = new URLSearchParams(params);
    if (v) next.set(k, v);
    else next.delete(k);
    if (k === "range") next.delete("bucket");
    setParams(next);
  };

  return (
    <div className="page wide">
      <PageHead
        title="Metrics over time"
        explanation="Reward, check pass rate, cost, latency and volume over time, so a change that made things worse shows at a glance. Times are UTC buckets."
      />
      <form className="filters" aria-label="metrics" onSubmit={(e) => e.preventDefault()}>
        <label className="field">
          <span>Range</span>
          <select name="range" value={range} onChange={(e) => update("range", e.target.value)}>
            {Object.entries(RANGES).map(([k, r]) => (
              <option key={k} value={k}>
                {r.label}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Per</span>
          <select name="bucket" value={bucket} onChange={(e) => update("bucket", e.target.value)}>
            <option value="hour">hour</option>
            <option value="day">day</option>
          </select>
        </label>
        <label className="field">
          <span>Split by</span>
          <select name="groupBy" value={groupBy} onChange={(e) => update("groupBy", e.target.value)}>
            {Object.entries(GROUPS).map(([k, label]) => (
              <option key={k} value={k}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <div className="filter-actions">
          <button type="button" onClick={() => setNonce((n) => n + 1)}>
            Refresh
          </button>
        </div>
      </form>
      {groupBy === "promptVersion" ? (
        <p className="muted small">
          The prompt version is the calls' metadata <code>promptVersion</code>: send it with{" "}
          <code>x-intersebd-metadata: {'{"promptVersion": "v3"}'}</code>.
        </p>
      ) : null}
      <div className="metrics-grid">
        {ORDER.map((m) => (
          <MetricChart
            key={`${m}-${nonce}`}
            metric={m}
            bucket={bucket}
            groupBy={groupBy}
            from={from}
            to={to}
            colorOf={colorOf}
            markers={markers}
          />
        ))}
      </div>
      <ConfigChangeList changes={changes} />
    </div>
  );
}
