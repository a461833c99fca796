/**
 * What the evals routes answer, as zod schemas: the wire contract, documented in the OpenAPI document and
 * checked against every answer in tests (`INTERSEBD_CHECK_RESPONSES`). The report's types (`report.ts`) are
 * inferred from these schemas; a run's view, candidate and checks are written to match their domain types, and
 * `responses.test.ts` asserts at compile time that each pair agrees both ways.
 */
import { z } from "zod";
import { boundMetrics, boundOps } from "./checks.ts";
import { runStatuses } from "./runs.ts";

const jsonObject = z.record(z.string(), z.unknown());

/** A run's candidate as shown (`Candidate`; a header value that looks like a credential is hidden). */
export const candidateViewSchema = z.object({
  model: z.string().optional(),
  upstream: z.string().optional(),
  systemPrompt: z.string().optional(),
  params: jsonObject.optional(),
  headers: z.record(z.string(), z.string()).optional(),
});

const judgeCommon = {
  type: z.literal("judge"),
  name: z.string(),
  model: z.string(),
  upstream: z.string().optional(),
  rubric: z.string().optional(),
};

/** A judge as a run stores it (`JudgeDef`). */
export const judgeDefSchema = z.discriminatedUnion("mode", [
  z.object({ ...judgeCommon, mode: z.literal("absolute"), scale: z.tuple([z.number(), z.number()]) }),
  z.object({ ...judgeCommon, mode: z.literal("pairwise") }),
]);

/** A check with its defaults applied and its name fixed, as a run stores it (`CheckDef`). */
export const checkDefSchema = z.union([
  z.object({ type: z.literal("json-schema"), name: z.string(), schema: jsonObject.optional() }),
  z.object({ type: z.literal("regex"), name: z.string(), pattern: z.string(), flags: z.string().optional() }),
  z.object({
    type: z.enum(["equals", "contains"]),
    name: z.string(),
    against: z.enum(["reference", "baseline"]),
    ignoreCase: z.boolean(),
  }),
  z.object({
    type: z.literal("bound"),
    name: z.string(),
    metric: z.enum(boundMetrics),
    op: z.enum(boundOps),
    value: z.number(),
  }),
  judgeDefSchema,
  z.object({ type: z.literal("custom"), name: z.string() }),
  z.object({
    type: z.literal("moderation"),
    name: z.string(),
    upstream: z.string().optional(),
    model: z.string().optional(),
    includeUser: z.boolean(),
  }),
  z.object({
    type: z.literal("floor"),
    name: z.string(),
    model: z.string(),
    upstream: z.string().optional(),
    rubric: z.string().optional(),
    flags: z.array(z.string()),
  }),
]);

export const runViewSchema = z.object({
  id: z.string(),
  dataset: z.string().nullable(),
  snapshotId: z.string().nullable(),
  candidate: candidateViewSchema,
  checks: z.array(checkDefSchema),
  seed: z.number(),
  concurrency: z.number(),
  needsCode: z.boolean(),
  status: z.enum(runStatuses),
  total: z.number(),
  done: z.number(),
  failed: z.number(),
  estimateUsd: z.number().nullable(),
  costUsd: z.number().nullable(),
  error: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  group: z.string().nullable().describe("the group it was started in with other candidates (`candidates`)"),
  candidateName: z.string().nullable().describe("its candidate's name in the group"),
});

export const estimateSchema = z.object({
  items: z.number(),
  candidateUsd: z.number().nullable(),
  judgeUsd: z.number().nullable(),
  totalUsd: z.number().nullable(),
  knownUsd: z.number(),
  unpricedModels: z.array(z.string()),
  skipped: z.array(z.object({ callId: z.string(), reason: z.string() })),
});

/** `POST /api/evals`: the run started (201), or with `dryRun` the estimate and checks only (`id: null`). */
export const startedSchema = z.union([
  z.object({ id: z.string(), estimate: estimateSchema, run: runViewSchema }),
  z.object({ id: z.null(), estimate: estimateSchema, checks: z.array(checkDefSchema) }),
  z
    .object({
      group: z.string(),
      estimate: estimateSchema.describe("all candidates together"),
      candidates: z.array(z.object({ name: z.string(), estimate: estimateSchema })),
      runs: z.array(runViewSchema),
    })
    .describe("with `candidates`: one run per candidate, in one group (`GET /api/evals/groups/{group}`)"),
  z.object({
    group: z.null(),
    estimate: estimateSchema,
    candidates: z.array(z.object({ name: z.string(), estimate: estimateSchema })),
    checks: z.array(checkDefSchema),
  }),
]);

export const progressSchema = z.object({
  total: z.number(),
  done: z.number(),
  failed: z.number(),
  pending: z.number(),
  running: z.number(),
});

/** A [low, high] 95% interval, or null when there is nothing to estimate from (`stats.ts`). */
export const intervalSchema = z.tuple([z.number(), z.number()]).nullable();

/** Successes / n (null when n = 0) with its Wilson interval. */
export const rateSchema = z.object({ rate: z.number().nullable(), ci: intervalSchema });

/** A mean (null without values) with its Student's t interval (null below two values). */
export const meanReportSchema = z.object({ n: z.number(), mean: z.number().nullable(), ci: intervalSchema });

/** n, mean, p50, p95 (type 7) and total of a sample (`summarize`). */
export const summarySchema = z.object({
  n: z.number(),
  mean: z.number().nullable(),
  p50: z.number().nullable(),
  p95: z.number().nullable(),
  total: z.number(),
});

export const checkReportSchema = z.object({
  name: z.string(),
  type: z.string(),
  n: z.number().describe("items the check applied to (passed + failed)"),
  passed: z.number(),
  failed: z.number(),
  skipped: z.number().describe("did not apply (no schema, no reference, unknown cost)"),
  errors: z.number(),
  passRate: rateSchema,
  meanScore: z.number().nullable().describe("mean of the scores custom checks and judges gave"),
});

export const agreementReportSchema = z.object({
  n: z.number().describe("baseline calls with both a judge verdict and a human annotation of the same name"),
  agree: z.number(),
  rate: rateSchema,
  kappa: z.number().nullable().describe("Cohen's kappa; null when undefined"),
});

export const judgeReportSchema = z.discriminatedUnion("mode", [
  z.object({
    name: z.string(),
    mode: z.literal("absolute"),
    model: z.string(),
    scale: z.tuple([z.number(), z.number()]),
    candidate: meanReportSchema,
    baseline: meanReportSchema,
    difference: meanReportSchema.describe("candidate minus baseline, on items where both were scored"),
    errors: z.number(),
    agreement: agreementReportSchema,
  }),
  z.object({
    name: z.string(),
    mode: z.literal("pairwise"),
    model: z.string(),
    n: z.number().describe("items the judge decided"),
    wins: z.number(),
    ties: z.number(),
    losses: z.number(),
    win: rateSchema,
    tie: rateSchema,
    loss: rateSchema,
    score: z.number().nullable().describe("(wins + ties / 2) / n"),
    errors: z.number(),
  }),
]);

export const worstItemSchema = z.object({
  index: z.number(),
  baselineCallId: z.string(),
  candidateCallId: z.string().nullable(),
  baselineUrl: z.string().describe("the web app's call page"),
  candidateUrl: z.string().nullable(),
  failedChecks: z.array(z.object({ name: z.string(), reason: z.string().optional() })),
  pairwise: z
    .array(z.object({ name: z.string(), outcome: z.string(), reason: z.string().optional() }))
    .optional(),
  judgeScores: z
    .array(z.object({ name: z.string(), candidate: z.number().nullable(), baseline: z.number().nullable() }))
    .optional(),
  error: z.string().optional(),
});

/** An evaluation's report (`computeReport`), over the items finished so far. */
export const reportSchema = z.object({
  items: z.object({ total: z.number(), done: z.number(), failed: z.number() }),
  checks: z.array(checkReportSchema),
  judges: z.array(judgeReportSchema),
  cost: z.object({
    baseline: summarySchema,
    candidate: summarySchema,
    judgeTotalUsd: z.number().nullable().describe("null when a judge model's price is unknown"),
  }),
  latency: z.object({ baseline: summarySchema, candidate: summarySchema }),
  worst: z
    .array(worstItemSchema)
    .describe("failed items, then the most failed checks and pairwise losses; ≤ 10"),
  methods: z.object({ proportions: z.string(), means: z.string(), percentiles: z.string() }),
});

/** `GET /api/evals/{id}`: the run, its progress and its (partial while running) report. */
export const runStateSchema = z.object({
  run: runViewSchema,
  progress: progressSchema,
  report: reportSchema,
});

/** `GET /api/evals/{id}/items`: a page of items in index order. */
export const itemsPageSchema = z.object({
  data: z.array(
    z.object({
      index: z.number(),
      status: z.string(),
      attempts: z.number(),
      baselineCallId: z.string(),
      candidateCallId: z.string().nullable(),
      costUsd: z.number().nullable(),
      error: z.string().nullable(),
      results: z.unknown(),
    }),
  ),
  nextOffset: z.number().nullable(),
});

/** `GET /api/metrics/timeseries`: buckets, oldest first. */
export const timeseriesResponseSchema = z.object({
  buckets: z.array(
    z.object({ t: z.string(), group: z.string().nullable(), value: z.number(), n: z.number() }),
  ),
});

const differenceSchema = z.object({
  metric: z
    .string()
    .describe("`score` (the ranking metric), `check:<name>`, `judge:<name>`, `cost`, `latencyMs`"),
  n: z.number().describe("items where both candidates have a value"),
  mean: z.number().nullable().describe("a minus b"),
  ci: intervalSchema,
});

/** `GET /api/evals/groups/{id}`: several candidates against the baseline and against each other. */
export const groupReportSchema = z.object({
  group: z.string(),
  status: z.enum(runStatuses),
  dataset: z.string().nullable(),
  items: z.object({
    total: z.number(),
    common: z.number().describe("items every candidate answered: the sample of the comparisons"),
  }),
  ranking: z.object({
    metric: z.string(),
    higherIsBetter: z.boolean(),
    describe: z.string(),
  }),
  candidates: z.array(
    z.object({
      name: z.string(),
      rank: z
        .number()
        .describe("1 is best; by the ranking metric, then the share of checks passed, then lower mean cost"),
      run: runViewSchema,
      progress: progressSchema,
      score: meanReportSchema.describe("the ranking metric over the common items"),
      checks: z.array(
        z.object({ name: z.string(), n: z.number(), passed: z.number(), passRate: rateSchema }),
      ),
      judges: z.array(
        z.object({
          name: z.string(),
          mode: z.enum(["absolute", "pairwise"]),
          mean: meanReportSchema.describe("absolute: the score; pairwise: the share against the baseline"),
        }),
      ),
      cost: summarySchema,
      latency: summarySchema,
      report: reportSchema.describe("its run's report against the logged baseline, over all its items"),
    }),
  ),
  comparisons: z.array(z.object({ a: z.string(), b: z.string(), differences: z.array(differenceSchema) })),
  best: z.object({
    name: z.string().nullable().describe("null until one candidate is ahead beyond its interval"),
    leader: z.string().nullable(),
    clear: z.boolean(),
    line: z.string(),
  }),
  methods: z.object({ proportions: z.string(), differences: z.string() }),
});
