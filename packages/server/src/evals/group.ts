/**
 * A group of runs, one per candidate, over the same items (`candidates`): each candidate against the logged
 * baseline (its run's report) and the candidates against each other, on the items every candidate answered so
 * the comparisons are paired. Differences are paired means with Student's t intervals (`stats.ts`); a "best"
 * is named only when it leads the runner-up beyond that interval.
 */
import type { z } from "zod";
import { HttpError } from "../http/error.ts";
import type { Store } from "../store/index.ts";
import type { ItemResults } from "./item.ts";
import { computeReport } from "./report.ts";
import type { groupReportSchema } from "./responses.ts";
import { ACTIVE, type Progress, progressOf, type RunStatus, type RunView, runView } from "./runs.ts";
import { mean, summarize, tInterval, wilson } from "./stats.ts";

export type GroupReport = z.infer<typeof groupReportSchema>;

type Results = Map<number, ItemResults>;
/** A value of one metric for one candidate on one item, or null where it does not apply. */
type Metric = { key: string; higherIsBetter: boolean; value(r: ItemResults): number | null };

const REWARD = { win: 1, tie: 0.5, loss: 0 } as const;

function metricsOf(run: RunView): { ranking: Metric & { describe: string }; all: Metric[] } {
  const checks = run.checks.filter((c) => !(c.type === "judge" && c.mode === "pairwise"));
  const judges = run.checks.filter((c) => c.type === "judge");
  const all: Metric[] = [
    ...checks.map((c) => ({
      key: `check:${c.name}`,
      higherIsBetter: true,
      value: (r: ItemResults) => {
        const o = r.checks.find((x) => x.name === c.name);
        return o && !o.error && o.pass !== null ? Number(o.pass) : null;
      },
    })),
    ...judges.map((j) => ({
      key: `judge:${j.name}`,
      higherIsBetter: true,
      value: (r: ItemResults) => {
        const o = r.judges.find((x) => x.name === j.name);
        if (o?.mode === "absolute") return o.candidate.ok ? o.candidate.score : null;
        if (o?.mode === "pairwise") return o.outcome ? REWARD[o.outcome] : null;
        return null;
      },
    })),
    { key: "cost", higherIsBetter: false, value: (r) => r.candidate.costUsd },
    { key: "latencyMs", higherIsBetter: false, value: (r) => r.candidate.latencyMs },
  ];
  const judge = judges[0];
  if (judge) {
    const m = all.find((x) => x.key === `judge:${judge.name}`) as Metric;
    return {
      ranking: {
        ...m,
        describe:
          judge.mode === "pairwise"
            ? `judge ${judge.name}: the share against the baseline (win 1, tie 0.5, loss 0)`
            : `judge ${judge.name}: the mean score`,
      },
      all,
    };
  }
  if (checks.length)
    return {
      ranking: {
        key: "checks",
        higherIsBetter: true,
        describe: "the share of checks passed per item (checks that applied)",
        value: checksShare,
      },
      all,
    };
  return {
    ranking: {
      ...(all.find((x) => x.key === "cost") as Metric),
      describe: "no checks or judges: the mean cost",
    },
    all,
  };
}

async function resultsOf(store: Store, runId: string): Promise<Results> {
  const rows = await store.db
    .selectFrom("evalItems")
    .select(["itemIndex", "results"])
    .where("runId", "=", runId)
    .where("status", "=", "done")
    .execute();
  const out: Results = new Map();
  for (const r of rows) if (r.results) out.set(r.itemIndex, JSON.parse(r.results) as ItemResults);
  return out;
}

function groupStatus(statuses: RunStatus[]): RunStatus {
  if (statuses.some((s) => ACTIVE.includes(s)))
    return statuses.every((s) => s === "queued") ? "queued" : "running";
  if (statuses.every((s) => s === "done")) return "done";
  return statuses.includes("cancelled") ? "cancelled" : statuses.includes("done") ? "done" : "failed";
}

/** The share of applied checks an item passed (absolute judges included), null when none applied. */
const checksShare = (r: ItemResults): number | null => {
  const applied = r.checks.filter((c) => !c.error && c.pass !== null);
  return applied.length ? applied.filter((c) => c.pass).length / applied.length : null;
};

const values = (results: Results, common: number[], m: Pick<Metric, "value">) =>
  common.map((i) => m.value(results.get(i) as ItemResults)).filter((x): x is number => x !== null);

/** Paired a − b over the common items where both have a value. */
function difference(a: Results, b: Results, common: number[], m: Metric) {
  const diffs: number[] = [];
  for (const i of common) {
    const x = m.value(a.get(i) as ItemResults);
    const y = m.value(b.get(i) as ItemResults);
    if (x !== null && y !== null) diffs.push(x - y);
  }
  return { metric: m.key, n: diffs.length, mean: mean(diffs), ci: tInterval(diffs) };
}

const fmt = (x: number | null) => (x === null ? "—" : String(Math.round(x * 1000) / 1000));

/**
 * The group's report: its runs' reports, and the candidates ranked and compared over the common items.
 * @throws HttpError 404 when no run has this group id.
 */
export async function computeGroupReport(store: Store, group: string): Promise<GroupReport> {
  const rows = await store.db
    .selectFrom("evalRuns")
    .selectAll()
    .where("groupId", "=", group)
    .orderBy("groupIndex")
    .execute();
  if (rows.length === 0) throw new HttpError(404, `no evaluation group "${group}"`, { field: "id" });
  const runs = rows.map(runView);
  const first = runs[0] as RunView;
  const { ranking, all } = metricsOf(first);
  const loaded = await Promise.all(
    runs.map(async (run) => {
      const [progress, report, results] = await Promise.all([
        progressOf(store, run.id),
        computeReport(store, run),
        resultsOf(store, run.id),
      ]);
      return { run, progress: progress as Progress, report, results };
    }),
  );
  const common = [...(loaded[0]?.results.keys() ?? [])]
    .filter((i) => loaded.every((l) => l.results.has(i)))
    .sort((a, b) => a - b);

  const candidates = loaded.map(({ run, progress, report, results }) => {
    const score = values(results, common, ranking);
    const checkMetrics = all.filter((m) => m.key.startsWith("check:"));
    return {
      name: run.candidateName ?? run.id,
      rank: 0,
      run,
      progress,
      score: { n: score.length, mean: mean(score), ci: tInterval(score) },
      checks: checkMetrics.map((m) => {
        const xs = values(results, common, m);
        const passed = xs.filter((x) => x === 1).length;
        return {
          name: m.key.slice("check:".length),
          n: xs.length,
          passed,
          passRate: { rate: xs.length ? passed / xs.length : null, ci: wilson(passed, xs.length) },
        };
      }),
      judges: first.checks.flatMap((c) => {
        if (c.type !== "judge") return [];
        const xs = values(results, common, all.find((m) => m.key === `judge:${c.name}`) as Metric);
        return [{ name: c.name, mode: c.mode, mean: { n: xs.length, mean: mean(xs), ci: tInterval(xs) } }];
      }),
      checksPassed: mean(values(results, common, { value: checksShare })),
      cost: summarize(values(results, common, { value: (r) => r.candidate.costUsd })),
      latency: summarize(values(results, common, { value: (r) => r.candidate.latencyMs })),
      report,
      results,
    };
  });

  const sign = ranking.higherIsBetter ? -1 : 1;
  const order = [...candidates].sort(
    (a, b) =>
      (a.score.mean === null ? 1 : 0) - (b.score.mean === null ? 1 : 0) ||
      sign * ((a.score.mean ?? 0) - (b.score.mean ?? 0)) ||
      (b.checksPassed ?? -1) - (a.checksPassed ?? -1) ||
      (a.cost.mean ?? Number.POSITIVE_INFINITY) - (b.cost.mean ?? Number.POSITIVE_INFINITY),
  );
  order.forEach((c, i) => {
    c.rank = i + 1;
  });

  const rankingMetric: Metric = { ...ranking, key: "score" };
  const comparisons = [];
  for (let i = 0; i < order.length; i++)
    for (let j = i + 1; j < order.length; j++) {
      const a = order[i] as (typeof order)[number];
      const b = order[j] as (typeof order)[number];
      comparisons.push({
        a: a.name,
        b: b.name,
        differences: [rankingMetric, ...all].map((m) => difference(a.results, b.results, common, m)),
      });
    }

  const [leader, second] = order;
  let best: GroupReport["best"];
  if (!leader || leader.score.mean === null || common.length === 0)
    best = { name: null, leader: null, clear: false, line: "no item answered by every candidate yet" };
  else if (!second)
    best = { name: leader.name, leader: leader.name, clear: true, line: `best: ${leader.name}` };
  else {
    const d = difference(leader.results, second.results, common, ranking);
    const clear = d.ci !== null && (ranking.higherIsBetter ? d.ci[0] > 0 : d.ci[1] < 0);
    const detail = `${ranking.key} ${fmt(leader.score.mean)} vs ${fmt(second.score.mean)} for ${second.name}; difference ${fmt(d.mean)} ${d.ci ? `[${fmt(d.ci[0])}, ${fmt(d.ci[1])}]` : "(no interval)"} over ${d.n} items`;
    best = clear
      ? { name: leader.name, leader: leader.name, clear, line: `best: ${leader.name} (${detail})` }
      : {
          name: null,
          leader: leader.name,
          clear,
          line: `no clear best yet: ${leader.name} leads (${detail}); the interval includes no difference, more items would settle it`,
        };
  }

  return {
    group,
    status: groupStatus(runs.map((r) => r.status)),
    dataset: first.dataset,
    items: { total: first.total, common: common.length },
    ranking: { metric: ranking.key, higherIsBetter: ranking.higherIsBetter, describe: ranking.describe },
    candidates: candidates.map(({ results: _, checksPassed: __, ...c }) => c),
    comparisons,
    best,
    methods: {
      proportions: "Wilson score interval, 95%",
      differences:
        "paired differences over the items both candidates answered; Student's t interval, 95% (null below 2 items)",
    },
  };
}
