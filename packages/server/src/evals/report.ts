/**
 * An evaluation's report, computed from its items (so a running run has a partial report):
 * per check pass rates, judge scores, pairwise win/tie/loss against the logged baseline, judge–human
 * agreement, cost and latency of baseline and candidate, and the worst items linked to their calls.
 * Intervals are 95%: Wilson for proportions, Student's t for means (see `stats.ts`).
 */
import type { z } from "zod";
import type { Store } from "../store/index.ts";
import type { ItemResults } from "./item.ts";
import type { JudgeOutcome } from "./judge.ts";
import type {
  agreementReportSchema,
  checkReportSchema,
  judgeReportSchema,
  meanReportSchema,
  rateSchema,
  reportSchema,
  worstItemSchema,
} from "./responses.ts";
import type { RunView } from "./runs.ts";
import { cohenKappa, mean, summarize, tInterval, wilson } from "./stats.ts";

export type Rate = z.infer<typeof rateSchema>;
export type CheckReport = z.infer<typeof checkReportSchema>;
export type MeanReport = z.infer<typeof meanReportSchema>;
export type AgreementReport = z.infer<typeof agreementReportSchema>;
export type JudgeReport = z.infer<typeof judgeReportSchema>;
export type WorstItem = z.infer<typeof worstItemSchema>;
/** The report's shape is its wire schema's (`responses.ts`), so the two cannot drift. */
export type Report = z.infer<typeof reportSchema>;

const rate = (x: number, n: number): Rate => ({ rate: n ? x / n : null, ci: wilson(x, n) });
const meanReport = (xs: number[]): MeanReport => ({ n: xs.length, mean: mean(xs), ci: tInterval(xs) });

/** Mean human reward per baseline call for the given annotation names: name → callId → reward. */
async function humanRewards(
  store: Store,
  callIds: string[],
  names: string[],
): Promise<Map<string, Map<string, number>>> {
  const out = new Map<string, Map<string, number>>();
  if (names.length === 0) return out;
  const sums = new Map<string, { s: number; n: number }>();
  for (let i = 0; i < callIds.length; i += 500) {
    const rows = await store.db
      .selectFrom("callAnnotations")
      .innerJoin("annotations", "annotations.id", "callAnnotations.annotationId")
      .select(["callAnnotations.callId", "annotations.name", "annotations.numericReward"])
      .where("callAnnotations.callId", "in", callIds.slice(i, i + 500))
      .where("annotations.name", "in", names)
      .where("annotations.source", "in", ["human", "user"])
      .where("annotations.numericReward", "is not", null)
      .execute();
    for (const r of rows) {
      const key = `${r.name}\n${r.callId}`;
      const acc = sums.get(key) ?? { s: 0, n: 0 };
      acc.s += Number(r.numericReward);
      acc.n++;
      sums.set(key, acc);
    }
  }
  for (const [key, { s, n }] of sums) {
    const [name, callId] = key.split("\n") as [string, string];
    const m = out.get(name) ?? new Map<string, number>();
    m.set(callId, s / n);
    out.set(name, m);
  }
  return out;
}

/**
 * Computes a run's report from its finished items.
 *
 * @example
 * ```ts
 * const report = await computeReport(store, await requireRun(store, "evl_..."));
 * report.judges[0]; // { mode: "pairwise", wins, ties, losses, win: { rate, ci }, ... }
 * ```
 */
export async function computeReport(store: Store, run: RunView): Promise<Report> {
  const rows = await store.db
    .selectFrom("evalItems")
    .select(["itemIndex", "baselineCallId", "candidateCallId", "status", "results", "error"])
    .where("runId", "=", run.id)
    .where("status", "in", ["done", "failed"])
    .orderBy("itemIndex")
    .execute();
  const done = rows
    .filter((r) => r.status === "done" && r.results)
    .map((r) => ({ row: r, results: JSON.parse(r.results as string) as ItemResults }));
  const failedRows = rows.filter((r) => r.status === "failed");

  const checks: CheckReport[] = [];
  for (const def of run.checks) {
    if (def.type === "judge" && def.mode === "pairwise") continue;
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    let errors = 0;
    const scores: number[] = [];
    for (const { results } of done) {
      const c = results.checks.find((x) => x.name === def.name);
      if (!c) continue;
      if (c.error) errors++;
      else if (c.pass === null) skipped++;
      else if (c.pass) passed++;
      else failed++;
      if (typeof c.score === "number" && (def.type === "judge" || def.type === "custom"))
        scores.push(c.score);
    }
    checks.push({
      name: def.name,
      type: def.type,
      n: passed + failed,
      passed,
      failed,
      skipped,
      errors,
      passRate: rate(passed, passed + failed),
      meanScore: mean(scores),
    });
  }

  const absoluteNames = run.checks
    .filter((c) => c.type === "judge" && c.mode === "absolute")
    .map((c) => c.name);
  const humans = await humanRewards(
    store,
    done.map((d) => d.row.baselineCallId),
    absoluteNames,
  );

  const judges: JudgeReport[] = [];
  for (const def of run.checks) {
    if (def.type !== "judge") continue;
    const outcomes = done
      .map((d) => ({ d, j: d.results.judges.find((j) => j.name === def.name) }))
      .filter((x): x is { d: (typeof done)[number]; j: JudgeOutcome } => x.j !== undefined);
    if (def.mode === "absolute") {
      const cand: number[] = [];
      const base: number[] = [];
      const diff: number[] = [];
      const pairs: Array<{ a: boolean; b: boolean }> = [];
      let errors = 0;
      const human = humans.get(def.name);
      for (const { d, j } of outcomes) {
        if (j.mode !== "absolute") continue;
        if (j.candidate.ok) cand.push(j.candidate.score);
        else errors++;
        if (j.baseline?.ok) base.push(j.baseline.score);
        else if (j.baseline && !j.baseline.ok) errors++;
        if (j.candidate.ok && j.baseline?.ok) diff.push(j.candidate.score - j.baseline.score);
        const h = human?.get(d.row.baselineCallId);
        if (j.baseline?.ok && h !== undefined) pairs.push({ a: j.baseline.reward >= 0.5, b: h >= 0.5 });
      }
      const agree = pairs.filter((p) => p.a === p.b).length;
      judges.push({
        name: def.name,
        mode: "absolute",
        model: def.model,
        scale: def.scale,
        candidate: meanReport(cand),
        baseline: meanReport(base),
        difference: meanReport(diff),
        errors,
        agreement: { n: pairs.length, agree, rate: rate(agree, pairs.length), kappa: cohenKappa(pairs) },
      });
    } else {
      let wins = 0;
      let ties = 0;
      let losses = 0;
      let errors = 0;
      for (const { j } of outcomes) {
        if (j.mode !== "pairwise") continue;
        if (j.outcome === "win") wins++;
        else if (j.outcome === "tie") ties++;
        else if (j.outcome === "loss") losses++;
        else errors++;
      }
      const n = wins + ties + losses;
      judges.push({
        name: def.name,
        mode: "pairwise",
        model: def.model,
        n,
        wins,
        ties,
        losses,
        win: rate(wins, n),
        tie: rate(ties, n),
        loss: rate(losses, n),
        score: n ? (wins + ties / 2) / n : null,
        errors,
      });
    }
  }

  const nums = (xs: Array<number | null | undefined>) => xs.filter((x): x is number => typeof x === "number");
  const judgeTotal = done.reduce((s, d) => s + (d.results.judgeCostUsd ?? 0), 0);
  // One judge call of unknown price makes the total unknown: reporting what is known as the total would mislead.
  const judgeUnpriced = done.some((d) => d.results.judgeCostUsd === null);

  const ranked = done
    .map(({ row, results }) => {
      const failedChecks = results.checks
        .filter((c) => c.pass === false)
        .map((c) => ({ name: c.name, ...(c.reason ? { reason: c.reason } : {}) }));
      const pairwise = results.judges
        .filter((j) => j.mode === "pairwise" && j.outcome)
        .map((j) => ({
          name: j.name,
          outcome: (j as { outcome: string }).outcome,
          ...((j as { reason?: string }).reason ? { reason: (j as { reason: string }).reason } : {}),
        }));
      const losses = pairwise.filter((p) => p.outcome === "loss").length;
      const judgeScores = results.judges
        .filter((j) => j.mode === "absolute")
        .map((j) => {
          const a = j as Extract<JudgeOutcome, { mode: "absolute" }>;
          return {
            name: a.name,
            candidate: a.candidate.ok ? a.candidate.score : null,
            baseline: a.baseline?.ok ? a.baseline.score : null,
          };
        });
      const lowest = Math.min(...judgeScores.map((s) => s.candidate ?? Number.POSITIVE_INFINITY));
      const item: WorstItem = {
        index: row.itemIndex,
        baselineCallId: row.baselineCallId,
        candidateCallId: row.candidateCallId,
        baselineUrl: `/calls/${row.baselineCallId}`,
        candidateUrl: row.candidateCallId ? `/calls/${row.candidateCallId}` : null,
        failedChecks,
        ...(pairwise.length ? { pairwise } : {}),
        ...(judgeScores.length ? { judgeScores } : {}),
      };
      return { item, badness: failedChecks.length + losses, lowest };
    })
    .filter((x) => x.badness > 0)
    .sort((a, b) => b.badness - a.badness || a.lowest - b.lowest || a.item.index - b.item.index)
    .map((x) => x.item);
  const failures: WorstItem[] = failedRows.map((r) => ({
    index: r.itemIndex,
    baselineCallId: r.baselineCallId,
    candidateCallId: r.candidateCallId,
    baselineUrl: `/calls/${r.baselineCallId}`,
    candidateUrl: r.candidateCallId ? `/calls/${r.candidateCallId}` : null,
    failedChecks: [],
    error: r.error ?? "failed",
  }));

  return {
    items: { total: run.total, done: done.length, failed: failedRows.length },
    checks,
    judges,
    cost: {
      baseline: summarize(nums(done.map((d) => d.results.baseline.costUsd))),
      candidate: summarize(nums(done.map((d) => d.results.candidate.costUsd))),
      judgeTotalUsd: judgeUnpriced ? null : Math.round(judgeTotal * 1e10) / 1e10,
    },
    latency: {
      baseline: summarize(nums(done.map((d) => d.results.baseline.latencyMs))),
      candidate: summarize(nums(done.map((d) => d.results.candidate.latencyMs))),
    },
    worst: [...failures, ...ranked].slice(0, 10),
    methods: {
      proportions: "Wilson score interval, 95%",
      means: "Student's t interval, 95% (mean ± t(0.975, n−1)·s/√n; null below 2 values)",
      percentiles: "linear interpolation between order statistics (type 7)",
    },
  };
}
