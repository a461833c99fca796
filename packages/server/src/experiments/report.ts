/**
 * The experiment report (`GET /api/experiments/{name}/report`): per variant volume, rewards, checks, pairwise
 * judgements, error rate, cost and latency, each treatment's difference to the control with an always-valid
 * interval (stats.ts), a verdict, the sample-ratio check and a daily sequence for plots.
 *
 * What counts:
 * - live calls: the experiment's calls that are not shadows; they carry the units, the error rate, cost,
 *   latency and the rewards (people and code react to answers they were shown, never to a shadow's);
 * - checks (annotations named `check:<name>`, pass = a reward of 1) count on live and shadow calls alike: a check
 *   reads the answer, whoever saw it;
 * - pairwise: comparisons between a control call and a variant call of this experiment (a shadow pair, or any
 *   two answers someone compared), win 1 / tie 0.5 / loss 0 from the variant's side, by judge (annotatorId).
 *
 * The analysis unit is the assignment unit, as randomised: each metric is averaged per unit first, then over
 * units, so a chatty user weighs as much as a quiet one and the units are the independent observations.
 */
import { BUCKETS } from "intersebd/experiments";
import { z } from "zod";
import { percentile } from "../evals/stats.ts";
import { HttpError } from "../http/error.ts";
import type { Store } from "../store/index.ts";
import { allocationChangedAt, requireExperiment, unsplitPeriods } from "./book.ts";
import type { Difference, ExperimentReport, VariantReport, Verdict } from "./responses.ts";
import type { Experiment } from "./schemas.ts";
import {
  type CsOptions,
  chiSquareGoodnessOfFit,
  clip,
  DEFAULT_ALPHA,
  differenceCS,
  type Estimate,
  type Moments,
  meanCS,
  moments,
  moreUnitsForDifference,
  moreUnitsForMean,
  T_STAR,
  withRateFloor,
} from "./stats.ts";

export interface ReportOptions {
  alpha?: number;
  /** The primary metric (`reward:<name>`, `check:<name>`, `pairwise:<judge>`, `errorRate`); default: see below. */
  metric?: string;
  now?: number;
}

/** p below this is a sample-ratio mismatch: rare by chance, common when assignment or logging is broken. */
export const SRM_P = 0.001;
const DAY = 86_400_000;
/** The plot's sequence keeps at most this many days (the latest). */
const MAX_DAYS = 400;

export const METRIC = /^(?:(?:reward|check|pairwise):.+|errorRate)$/;

/** The report's query (`?alpha=0.05&metric=reward:thumbs`). */
export const reportQuerySchema = z.object({
  alpha: z.coerce
    .number({ error: "alpha must be a number" })
    .gt(0, "alpha must be above 0 (e.g. 0.05 for 95% intervals)")
    .lt(0.5, "alpha must be below 0.5 (e.g. 0.05 for 95% intervals)")
    .optional(),
  metric: z
    .string()
    .regex(METRIC, "metric must be reward:<name>, check:<name>, pairwise:<judge> or errorRate")
    .optional(),
});

interface Observation {
  variant: string;
  unit: string;
  value: number;
  /** When the value became known (ms): the later of the call and its judgement. */
  at: number;
}

interface CallRow {
  id: string;
  variant: string;
  unit: string;
  outcome: string;
  costUsd: number | null;
  durationMs: number | null;
  startedAt: number;
  shadow: boolean;
  /** A live call with an assignment unit, made while the experiment was splitting traffic (`unsplitPeriods`). */
  split: boolean;
}

interface Pair {
  judge: string;
  variant: string;
  outcome: "win" | "tie" | "loss";
}

interface Data {
  calls: Map<string, CallRow>;
  /** Observations by metric name (`reward:x`, `check:x`, `pairwise:judge`, `errorRate`). */
  metrics: Map<string, Observation[]>;
  pairs: Pair[];
}

const push = <K, V>(m: Map<K, V[]>, k: K, v: V) => {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
};

async function load(store: Store, experiment: Experiment): Promise<Data> {
  const known = new Set(experiment.variants.map((v) => v.name));
  const unsplit = await unsplitPeriods(store, experiment.name);
  const splitting = (at: number) => !unsplit.some(([from, to]) => at >= from && at < to);
  const rows = await store.db
    .selectFrom("calls")
    .select(["id", "variant", "assignmentUnit", "outcome", "costUsd", "durationMs", "startedAt", "shadowOf"])
    .where("experiment", "=", experiment.name)
    .execute();
  const calls = new Map<string, CallRow>();
  const metrics = new Map<string, Observation[]>();
  for (const r of rows) {
    // A call under a variant the definition no longer has cannot be placed; it is left out rather than guessed.
    if (r.variant === null || !known.has(r.variant)) continue;
    const call: CallRow = {
      id: r.id,
      variant: r.variant,
      unit: r.assignmentUnit ?? `request:${r.id}`,
      outcome: r.outcome,
      costUsd: r.costUsd === null ? null : Number(r.costUsd),
      durationMs: r.durationMs === null ? null : Number(r.durationMs),
      startedAt: Number(r.startedAt),
      shadow: r.shadowOf !== null,
      // Without a unit the call was not randomised: the proxy and the SDKs give the control to a request that
      // lacks the experiment's unit id (no user id in a per-user experiment). Counted as one more control unit
      // each, such calls would bias the comparison toward whatever anonymous traffic does and fail the
      // sample-ratio check on any service with some of it.
      split: r.shadowOf === null && r.assignmentUnit !== null && splitting(Number(r.startedAt)),
    };
    calls.set(call.id, call);
    if (call.split)
      push(metrics, "errorRate", {
        variant: call.variant,
        unit: call.unit,
        value: call.outcome === "ok" ? 0 : 1,
        at: call.startedAt,
      });
  }

  const annotations = await store.db
    .selectFrom("callAnnotations")
    .innerJoin("annotations", "annotations.id", "callAnnotations.annotationId")
    .innerJoin("calls", "calls.id", "callAnnotations.callId")
    .select([
      "callAnnotations.callId",
      "annotations.name",
      "annotations.numericReward",
      "annotations.createdAt",
    ])
    .where("calls.experiment", "=", experiment.name)
    .where("annotations.numericReward", "is not", null)
    .execute();
  for (const a of annotations) {
    const call = calls.get(a.callId);
    if (!call) continue;
    const value = Number(a.numericReward);
    const at = Math.max(call.startedAt, Number(a.createdAt));
    if (a.name.startsWith("check:"))
      push(metrics, a.name, { variant: call.variant, unit: call.unit, value: value === 1 ? 1 : 0, at });
    else if (call.split)
      push(metrics, `reward:${a.name}`, { variant: call.variant, unit: call.unit, value, at });
  }

  // A comparison names its answers by tag (call id, completion id or a tag of the call): each side is looked up
  // among this experiment's calls, then the two sides are paired by the comparison's id.
  const side = (col: "a" | "b") =>
    store.db
      .selectFrom("comparisons")
      .innerJoin("callKeys", "callKeys.tag", `comparisons.${col}`)
      .innerJoin("calls", "calls.id", "callKeys.callId")
      .select([
        "comparisons.id as id",
        "comparisons.choice as choice",
        "comparisons.annotatorId as annotatorId",
        "comparisons.createdAt as createdAt",
        "calls.id as callId",
      ])
      .where("calls.experiment", "=", experiment.name)
      .execute();
  const [aSide, bSide] = await Promise.all([side("a"), side("b")]);
  const aOf = new Map(aSide.map((r) => [r.id, r]));
  const pairs: Pair[] = [];
  const seen = new Set<string>();
  for (const b of bSide) {
    const a = aOf.get(b.id);
    if (!a || seen.has(b.id)) continue;
    seen.add(b.id);
    const ca = calls.get(a.callId);
    const cb = calls.get(b.callId);
    if (!ca || !cb) continue;
    const aIsControl = ca.variant === experiment.control;
    const bIsControl = cb.variant === experiment.control;
    if (aIsControl === bIsControl) continue;
    const [variantCall, variantSide] = aIsControl ? [cb, "b"] : [ca, "a"];
    const outcome = b.choice === "tie" ? "tie" : b.choice === variantSide ? "win" : "loss";
    const judge = b.annotatorId ?? "unnamed";
    pairs.push({ judge, variant: variantCall.variant, outcome });
    push(metrics, `pairwise:${judge}`, {
      variant: variantCall.variant,
      unit: variantCall.unit,
      value: outcome === "win" ? 1 : outcome === "tie" ? 0.5 : 0,
      at: Math.max(Number(b.createdAt), ca.startedAt, cb.startedAt),
    });
  }
  return { calls, metrics, pairs };
}

/** Per variant, the moments of the units' means (each unit's values averaged first). */
function unitMoments(obs: readonly Observation[] | undefined): Map<string, Moments> {
  const byUnit = new Map<string, { variant: string; sum: number; n: number }>();
  for (const o of obs ?? []) {
    const key = `${o.variant}\u0000${o.unit}`;
    const u = byUnit.get(key);
    if (u) {
      u.sum += o.value;
      u.n++;
    } else byUnit.set(key, { variant: o.variant, sum: o.value, n: 1 });
  }
  const means = new Map<string, number[]>();
  for (const u of byUnit.values()) push(means, u.variant, u.sum / u.n);
  return new Map([...means].map(([v, xs]) => [v, moments(xs)]));
}

const EMPTY: Moments = { n: 0, mean: 0, variance: 0 };

export function verdictOf(d: Estimate, higherIsBetter: boolean): Verdict {
  if (d.low === null || d.high === null) return "not yet known";
  if (d.low > 0) return higherIsBetter ? "better" : "worse";
  if (d.high < 0) return higherIsBetter ? "worse" : "better";
  return "not yet known";
}

/**
 * A treatment's difference to the control on one metric. Pairwise metrics are already relative (the variant's
 * answer against the control's): their difference is the win rate minus 0.5, on the variant's units alone.
 */
function difference(metric: string, treatmentRaw: Moments, controlRaw: Moments, opts: CsOptions): Difference {
  const higherIsBetter = metric !== "errorRate";
  const rate = isRate(metric);
  const treatment = rate ? withRateFloor(treatmentRaw) : treatmentRaw;
  const control = rate ? withRateFloor(controlRaw) : controlRaw;
  let d: Estimate;
  let more: () => number | null;
  if (metric.startsWith("pairwise:")) {
    const m = meanCS(treatment, opts);
    const shift = (x: number | null) => (x === null ? null : x - 0.5);
    d = clip({ n: m.n, estimate: shift(m.estimate), low: shift(m.low), high: shift(m.high) }, -0.5, 0.5);
    more = () => moreUnitsForMean(treatment, 0.5, opts);
  } else {
    d = differenceCS(treatment, control, opts);
    if (rate) d = clip(d, -1, 1);
    more = () => moreUnitsForDifference(treatment, control, opts);
  }
  const verdict = verdictOf(d, higherIsBetter);
  return { ...d, metric, verdict, higherIsBetter, moreUnits: verdict === "not yet known" ? more() : null };
}

/** Rates live in [0, 1]: their intervals are cut to it, and a sample without spread gets a floor variance. */
const isRate = (metric: string) =>
  metric === "errorRate" || metric.startsWith("check:") || metric.startsWith("pairwise:");

/** A variant's own interval on a metric. */
function estimateOf(metric: string, m: Moments, opts: CsOptions): Estimate {
  return isRate(metric) ? clip(meanCS(withRateFloor(m), opts), 0, 1) : meanCS(m, opts);
}

function shareOf(experiment: Experiment, variant: string): number {
  let buckets = 0;
  for (const r of experiment.allocation) if (r.variant === variant) buckets += r.to - r.from;
  return buckets / BUCKETS;
}

/** The default primary metric: the reward with the most annotated units, else the first judge, else errors. */
function primaryMetric(metrics: Map<string, Observation[]>): string {
  let best: { name: string; units: number } | undefined;
  for (const [name, obs] of [...metrics].sort(([a], [b]) => a.localeCompare(b))) {
    if (!name.startsWith("reward:")) continue;
    const units = new Set(obs.map((o) => `${o.variant}\u0000${o.unit}`)).size;
    if (!best || units > best.units) best = { name, units };
  }
  if (best) return best.name;
  const judge = [...metrics.keys()].filter((m) => m.startsWith("pairwise:")).sort()[0];
  return judge ?? "errorRate";
}

/** A number for the verdict line: signed, with enough decimals for two significant digits (at least two). */
function signed(x: number, decimals: number): string {
  return `${x > 0 ? "+" : x < 0 ? "−" : "±"}${Math.abs(x).toFixed(decimals)}`;
}
const decimalsFor = (x: number) =>
  x === 0 ? 2 : Math.min(6, Math.max(2, 1 - Math.floor(Math.log10(Math.abs(x)))));
const count = (n: number) => n.toLocaleString("en-US");
/** "about 3,100": two significant digits are all an estimate of this kind deserves. */
const roughly = (n: number) => {
  if (n < 100) return count(Math.max(1, Math.ceil(n)));
  const p = 10 ** (Math.floor(Math.log10(n)) - 1);
  return count(Math.ceil(n / p) * p);
};

function clause(variant: string, control: string, d: Difference, alpha: number): string {
  const level = `${Math.round((1 - alpha) * 1000) / 10}%`;
  if (d.verdict !== "not yet known" && d.estimate !== null && d.low !== null && d.high !== null) {
    const k = decimalsFor(d.estimate);
    return (
      `${variant} is ${d.verdict} than ${control} on ${d.metric} (${signed(d.estimate, k)}, ${level} CS ` +
      `[${signed(d.low, k)}, ${signed(d.high, k)}], ${count(d.n)} units)`
    );
  }
  if (d.moreUnits !== null)
    return `not yet known: about ${roughly(d.moreUnits)} more units would settle ${variant} vs ${control} on ${d.metric}`;
  if (d.estimate === 0 && d.low !== null)
    return `not yet known: ${variant} and ${control} are even on ${d.metric} so far (${count(d.n)} units)`;
  return `not yet known: too few units yet to compare ${variant} with ${control} on ${d.metric}`;
}

/**
 * The daily sequence on the primary metric: for each UTC day, each treatment's cumulative difference to the
 * control with what its interval was at the end of that day. Per-unit sums are kept as observations arrive, and
 * each variant's moments over units are updated as a unit's mean moves, so a year of days costs one pass.
 */
function sequenceOf(
  experiment: Experiment,
  metric: string,
  obs: readonly Observation[] | undefined,
  opts: CsOptions,
): ExperimentReport["sequence"] {
  if (!obs?.length) return [];
  const sorted = [...obs].sort((a, b) => a.at - b.at);
  const units = new Map<string, { sum: number; n: number }>();
  const agg = new Map<string, { n: number; sum: number; sumSquares: number }>();
  const aggOf = (v: string) => {
    let a = agg.get(v);
    if (!a) {
      a = { n: 0, sum: 0, sumSquares: 0 };
      agg.set(v, a);
    }
    return a;
  };
  const momentsOf = (v: string): Moments => {
    const a = agg.get(v);
    if (!a || a.n === 0) return EMPTY;
    const mean = a.sum / a.n;
    const variance = a.n > 1 ? Math.max(0, (a.sumSquares - a.n * mean * mean) / (a.n - 1)) : 0;
    return { n: a.n, mean, variance };
  };
  const treatments = experiment.variants.map((v) => v.name).filter((v) => v !== experiment.control);
  const firstDay = Math.floor((sorted[0] as Observation).at / DAY);
  const lastDay = Math.floor((sorted[sorted.length - 1] as Observation).at / DAY);
  const out: ExperimentReport["sequence"] = [];
  let i = 0;
  for (let day = Math.max(firstDay, lastDay - MAX_DAYS + 1); day <= lastDay; day++) {
    const end = (day + 1) * DAY;
    for (; i < sorted.length && (sorted[i] as Observation).at < end; i++) {
      const o = sorted[i] as Observation;
      const key = `${o.variant}\u0000${o.unit}`;
      const a = aggOf(o.variant);
      const u = units.get(key);
      if (u) {
        const before = u.sum / u.n;
        u.sum += o.value;
        u.n++;
        const after = u.sum / u.n;
        a.sum += after - before;
        a.sumSquares += after * after - before * before;
      } else {
        units.set(key, { sum: o.value, n: 1 });
        a.n++;
        a.sum += o.value;
        a.sumSquares += o.value * o.value;
      }
    }
    for (const v of treatments) {
      const d = difference(metric, momentsOf(v), momentsOf(experiment.control), opts);
      out.push({ at: end, variant: v, metric, n: d.n, estimate: d.estimate, low: d.low, high: d.high });
    }
  }
  return out;
}

/** Builds the report of experiment `name` (404 when there is none). */
export async function experimentReport(
  store: Store,
  name: string,
  options: ReportOptions = {},
): Promise<ExperimentReport> {
  const alpha = options.alpha ?? DEFAULT_ALPHA;
  if (!(alpha > 0 && alpha < 0.5))
    throw new HttpError(400, "alpha: must be between 0 and 0.5 (e.g. 0.05 for 95% intervals)", {
      field: "alpha",
    });
  if (options.metric !== undefined && !METRIC.test(options.metric))
    throw new HttpError(
      400,
      `metric: "${options.metric}" is not a metric; use reward:<name>, check:<name>, pairwise:<judge> or errorRate`,
      { field: "metric" },
    );
  const experiment = await requireExperiment(store, name);
  const data = await load(store, experiment);
  const opts: CsOptions = { alpha, tStar: T_STAR };
  const { control } = experiment;
  const metricNames = [...data.metrics.keys()].sort();
  const rewardNames = metricNames.filter((m) => m.startsWith("reward:"));
  const checkNames = metricNames.filter((m) => m.startsWith("check:"));
  const judgeNames = metricNames.filter((m) => m.startsWith("pairwise:"));
  const byMetric = new Map(metricNames.map((m) => [m, unitMoments(data.metrics.get(m))]));
  const momentsFor = (metric: string, variant: string) => byMetric.get(metric)?.get(variant) ?? EMPTY;

  const live = new Map<string, CallRow[]>();
  const shadowCalls = new Map<string, number>();
  for (const c of data.calls.values()) {
    if (c.shadow) shadowCalls.set(c.variant, (shadowCalls.get(c.variant) ?? 0) + 1);
    else push(live, c.variant, c);
  }

  const variants: VariantReport[] = experiment.variants.map((v) => {
    const calls = live.get(v.name) ?? [];
    const isControl = v.name === control;
    const cost = calls.reduce((s, c) => s + (c.costUsd ?? 0), 0);
    const durations = calls.flatMap((c) => (c.durationMs === null ? [] : [c.durationMs]));
    const pairsOf = (judge: string) => data.pairs.filter((p) => p.variant === v.name && p.judge === judge);
    const vsControl: Difference[] = isControl
      ? []
      : [...rewardNames, ...checkNames, ...judgeNames, "errorRate"].map((m) =>
          difference(m, momentsFor(m, v.name), momentsFor(m, control), opts),
        );
    return {
      name: v.name,
      control: isControl,
      share: shareOf(experiment, v.name),
      units: new Set(calls.filter((c) => c.split).map((c) => c.unit)).size,
      calls: calls.length,
      shadowCalls: shadowCalls.get(v.name) ?? 0,
      errorRate: estimateOf("errorRate", momentsFor("errorRate", v.name), opts),
      costUsd: { total: cost, perCall: calls.length ? cost / calls.length : null },
      latencyMs: { p50: percentile(durations, 0.5), p95: percentile(durations, 0.95) },
      rewards: rewardNames.map((m) => ({
        name: m.slice("reward:".length),
        ...meanCS(momentsFor(m, v.name), opts),
      })),
      checks: checkNames.map((m) => ({
        name: m.slice("check:".length),
        ...estimateOf(m, momentsFor(m, v.name), opts),
      })),
      pairwise: isControl
        ? []
        : judgeNames.map((m) => {
            const judge = m.slice("pairwise:".length);
            const ps = pairsOf(judge);
            return {
              judge,
              wins: ps.filter((p) => p.outcome === "win").length,
              ties: ps.filter((p) => p.outcome === "tie").length,
              losses: ps.filter((p) => p.outcome === "loss").length,
              ...estimateOf(m, momentsFor(m, v.name), opts),
            };
          }),
      vsControl,
    };
  });

  // The split is checked only while running (in a shadow or draft there is no split), and against the units
  // seen under the current shares: since the last weight change, units of the old shares are a mix of both (a
  // moved unit is in two variants), which fails the check on any experiment whose weights were changed. Calls
  // dated before the experiment existed (backfilled) have no shares of their own and count as current.
  const changedAt = await allocationChangedAt(store, experiment.name);
  const current = (c: CallRow) =>
    changedAt === undefined || c.startedAt >= changedAt || c.startedAt < experiment.createdAt;
  const observed = new Map(
    variants.map((v) => [
      v.name,
      new Set((live.get(v.name) ?? []).filter((c) => c.split && current(c)).map((c) => c.unit)).size,
    ]),
  );
  const inSplit = variants.filter((v) => v.share > 0);
  const srm =
    experiment.status === "running"
      ? chiSquareGoodnessOfFit(
          inSplit.map((v) => observed.get(v.name) ?? 0),
          inSplit.map((v) => v.share),
        )
      : { pValue: null };
  const mismatch = srm.pValue !== null && srm.pValue < SRM_P;

  const metric = options.metric ?? primaryMetric(data.metrics);
  const treatments = experiment.variants.filter((v) => v.name !== control);
  const clauses = treatments.map((t) =>
    clause(
      t.name,
      control,
      difference(metric, momentsFor(metric, t.name), momentsFor(metric, control), opts),
      alpha,
    ),
  );
  const srmNote = mismatch
    ? `sample-ratio mismatch (p = ${(srm.pValue as number).toExponential(1)}): units are not split as configured, ` +
      "so assignment or logging is broken and the comparison is suspect; "
    : "";
  const line = `${srmNote}${clauses.join("; ") || "no treatment to compare"}`;

  return {
    experiment: experiment.name,
    version: experiment.version,
    status: experiment.status,
    control,
    unit: experiment.unit,
    generatedAt: options.now ?? Date.now(),
    alpha,
    method:
      "asymptotic confidence sequence (Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas, Annals of Statistics 2024, " +
      `arXiv:2103.06476), tightest at ${count(T_STAR)} units, over per-${experiment.unit} means; ` +
      "valid however often it is read",
    variants,
    sampleRatio: {
      expected: Object.fromEntries(variants.map((v) => [v.name, v.share])),
      observed: Object.fromEntries(observed),
      pValue: srm.pValue,
      mismatch,
    },
    verdict: { line, metric },
    sequence: sequenceOf(experiment, metric, data.metrics.get(metric), opts),
  };
}
