/** Small pieces shared by the experiments pages: a status badge, shares, an interval and a verdict in words. */
import type { Experiment, ExperimentDifference, ExperimentInterval, ExperimentStatus } from "../types.ts";

/** The assignment kernel's bucket count (intersebd/experiments BUCKETS): an allocation's ranges split it. */
const BUCKETS = 10_000;

const STATUS_CLASS: Record<ExperimentStatus, string> = {
  draft: "neutral",
  shadow: "warn",
  running: "ok",
  stopped: "neutral",
  promoted: "ok",
};

export function ExperimentStatusBadge({ status }: { status: ExperimentStatus }) {
  return (
    <span className={`badge ${STATUS_CLASS[status] ?? "neutral"}`} data-status={status}>
      {status}
    </span>
  );
}

/**
 * Each variant's share of units (0..1): its bucket ranges in the allocation, which is what assignment reads
 * (after sticky weight changes the ranges, not the weights' ratio, are the truth); the weights when there is none.
 */
export function sharesOf(x: Pick<Experiment, "allocation" | "variants">): Record<string, number> {
  const out: Record<string, number> = {};
  if (x.allocation.length > 0) {
    for (const r of x.allocation) out[r.variant] = (out[r.variant] ?? 0) + (r.to - r.from) / BUCKETS;
    return out;
  }
  const total = x.variants.reduce((s, v) => s + v.weight, 0);
  for (const v of x.variants) out[v.name] = total > 0 ? v.weight / total : 0;
  return out;
}

/** A number for a table: up to 3 significant digits. */
export function num(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "—";
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(3)));
}

const signed = (v: number) => (v > 0 ? `+${num(v)}` : num(v));

/** "0.62 [0.55, 0.70]", or "0.62" while the interval is not known; `diff` shows a sign. */
export function IntervalText({
  i,
  diff = false,
  pct = false,
}: {
  i: ExperimentInterval;
  diff?: boolean;
  pct?: boolean;
}) {
  const f = (v: number) => {
    if (pct) return `${diff && v > 0 ? "+" : ""}${num(v * 100)}%`;
    return diff ? signed(v) : num(v);
  };
  if (i.estimate === null) return <span className="muted">—</span>;
  return (
    <span className="interval">
      {f(i.estimate)}
      {i.low !== null && i.high !== null ? (
        <span className="muted small">
          {" "}
          [{f(i.low)}, {f(i.high)}]
        </span>
      ) : null}
    </span>
  );
}

const VERDICT_CLASS: Record<ExperimentDifference["verdict"], string> = {
  better: "ok",
  worse: "bad",
  "not yet known": "neutral",
};

export function VerdictBadge({ d }: { d: Pick<ExperimentDifference, "verdict"> }) {
  return (
    <span className={`badge ${VERDICT_CLASS[d.verdict] ?? "neutral"}`} data-verdict={d.verdict}>
      {d.verdict}
    </span>
  );
}

/** A metric's name for people: `reward:helpful` → "reward helpful", `reward:reward` → "reward", `errorRate` → "error rate". */
export function metricLabel(metric: string): string {
  if (metric === "errorRate") return "error rate";
  const [kind, ...rest] = metric.split(":");
  const name = rest.join(":");
  if (!rest.length || name === kind) return metric.replace(/:.*/, "");
  return `${kind} ${name}`;
}
