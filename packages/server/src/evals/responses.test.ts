/**
 * The evals wire schemas against the domain types they describe. The compile-time half: a schema written to
 * match a domain type (`RunView`, `Candidate`, `CheckDef`) must agree with it both ways, and `runState`'s
 * answer must be what `runStateSchema` infers, so `tsc` fails when one side changes alone. The run-time half:
 * a report computed from nothing, and one of every judge and check kind, parse.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { z } from "zod";
import type { CheckDef, JudgeDef } from "./checks.ts";
import type { Report } from "./report.ts";
import {
  type candidateViewSchema,
  checkDefSchema,
  type judgeDefSchema,
  type reportSchema,
  runStateSchema,
  type runViewSchema,
} from "./responses.ts";
import type { RunView } from "./runs.ts";
import type { Candidate } from "./schemas.ts";
import type { runState } from "./state.ts";

/** True when each type is assignable to the other (optional keys read as `?: T | undefined` either way). */
type Agree<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const agree = <T extends true>(_: T) => _;

agree<Agree<z.infer<typeof candidateViewSchema>, Candidate>>(true);
agree<Agree<z.infer<typeof checkDefSchema>, CheckDef>>(true);
agree<Agree<z.infer<typeof judgeDefSchema>, JudgeDef>>(true);
agree<Agree<z.infer<typeof runViewSchema>, RunView>>(true);
agree<Agree<z.infer<typeof reportSchema>, Report>>(true);
agree<Agree<z.infer<typeof runStateSchema>, Awaited<ReturnType<typeof runState>>>>(true);

const run: RunView = {
  id: "evl_1",
  dataset: null,
  snapshotId: null,
  candidate: { model: "m", params: { temperature: 0 }, headers: { "x-a": "1" } },
  checks: [
    { type: "json-schema", name: "json-schema" },
    { type: "regex", name: "r", pattern: "^a", flags: "i" },
    { type: "contains", name: "c", against: "baseline", ignoreCase: true },
    { type: "bound", name: "b", metric: "cost", op: "<=", value: 0.1 },
    { type: "judge", mode: "absolute", name: "q", model: "j", scale: [1, 5] },
    { type: "judge", mode: "pairwise", name: "p", model: "j", upstream: "u" },
    { type: "custom", name: "x" },
  ],
  seed: 1,
  concurrency: 4,
  needsCode: true,
  status: "done",
  total: 1,
  done: 1,
  failed: 0,
  estimateUsd: null,
  costUsd: 0.001,
  error: null,
  createdAt: "2025-01-01T00:00:00.000Z",
  startedAt: null,
  finishedAt: null,
  group: "evg_1",
  candidateName: "cheap",
};
const empty = { n: 0, mean: null, p50: null, p95: null, total: 0 };
const report: Report = {
  items: { total: 1, done: 1, failed: 0 },
  checks: [
    {
      name: "r",
      type: "regex",
      n: 1,
      passed: 1,
      failed: 0,
      skipped: 0,
      errors: 0,
      passRate: { rate: 1, ci: [0.2, 1] },
      meanScore: null,
    },
  ],
  judges: [
    {
      name: "q",
      mode: "absolute",
      model: "j",
      scale: [1, 5],
      candidate: { n: 1, mean: 4, ci: null },
      baseline: { n: 1, mean: 3, ci: null },
      difference: { n: 1, mean: 1, ci: null },
      errors: 0,
      agreement: { n: 0, agree: 0, rate: { rate: null, ci: null }, kappa: null },
    },
    {
      name: "p",
      mode: "pairwise",
      model: "j",
      n: 1,
      wins: 1,
      ties: 0,
      losses: 0,
      win: { rate: 1, ci: [0.2, 1] },
      tie: { rate: 0, ci: [0, 0.8] },
      loss: { rate: 0, ci: [0, 0.8] },
      score: 1,
      errors: 0,
    },
  ],
  cost: { baseline: empty, candidate: empty, judgeTotalUsd: null },
  latency: { baseline: empty, candidate: empty },
  worst: [
    {
      index: 0,
      baselineCallId: "b",
      candidateCallId: null,
      baselineUrl: "/calls/b",
      candidateUrl: null,
      failedChecks: [{ name: "r", reason: "no match" }],
      pairwise: [{ name: "p", outcome: "loss" }],
      judgeScores: [{ name: "q", candidate: null, baseline: 3 }],
      error: "boom",
    },
  ],
  methods: { proportions: "Wilson", means: "t", percentiles: "type 7" },
};
const progress = { total: 1, done: 1, failed: 0, pending: 0, running: 0 };

describe("evals wire schemas", () => {
  it("should accept a run state with every kind of check, judge and worst item", () => {
    assert.deepEqual(runStateSchema.parse({ run, progress, report }), { run, progress, report });
  });

  it("should refuse a report whose judge lacks a field its mode requires", () => {
    const [absolute] = report.judges;
    const { agreement: _, ...withoutAgreement } = absolute as Extract<typeof absolute, { mode: "absolute" }>;
    const bad = { run, progress, report: { ...report, judges: [withoutAgreement] } };
    const r = runStateSchema.safeParse(bad);
    assert.equal(r.success, false);
    assert.deepEqual(r.error?.issues[0]?.path, ["report", "judges", 0, "agreement"]);
  });

  it("should refuse a check of an unknown type and a bound on an unknown metric", () => {
    assert.equal(checkDefSchema.safeParse({ type: "nope", name: "n" }).success, false);
    assert.equal(
      checkDefSchema.safeParse({ type: "bound", name: "b", metric: "speed", op: "<=", value: 1 }).success,
      false,
    );
  });
});
