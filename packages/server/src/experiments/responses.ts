/**
 * The experiment report's wire shape (`GET /api/experiments/{name}/report`): what the CLI prints and the app
 * plots. Every interval is an always-valid confidence sequence at level 1 - alpha (see stats.ts and the README's
 * Experiments section): it may be read every day without inflating the error rate.
 */
import { z } from "zod";

/** An estimate with its interval; `low`/`high` are null while there is too little data (n < 2). */
export const intervalSchema = z.object({
  n: z.number().int(),
  estimate: z.number().nullable(),
  low: z.number().nullable(),
  high: z.number().nullable(),
});
export type Interval = z.infer<typeof intervalSchema>;

export const verdictSchema = z.enum(["better", "worse", "not yet known"]);
export type Verdict = z.infer<typeof verdictSchema>;

/** A treatment's difference to the control on one metric. */
export const differenceSchema = intervalSchema.extend({
  metric: z.string().describe("`reward:<name>`, `check:<name>`, `pairwise:<judge>`, `errorRate`"),
  verdict: verdictSchema,
  /** Higher is better for this metric (false for errorRate). */
  higherIsBetter: z.boolean(),
  moreUnits: z
    .number()
    .int()
    .nullable()
    .describe(
      "while not yet known: about how many more units would settle it if the difference held; else null",
    ),
});
export type Difference = z.infer<typeof differenceSchema>;

export const variantReportSchema = z.object({
  name: z.string(),
  control: z.boolean(),
  /** The share of units the allocation gives it (0..1). */
  share: z.number(),
  units: z
    .number()
    .int()
    .describe(
      "distinct assignment units with a live call made while the experiment split traffic (status running); " +
        "rewards and the error rate count those calls only",
    ),
  calls: z.number().int().describe("live calls (shadow calls excluded)"),
  shadowCalls: z.number().int(),
  errorRate: intervalSchema,
  costUsd: z.object({ total: z.number(), perCall: z.number().nullable() }),
  latencyMs: z.object({ p50: z.number().nullable(), p95: z.number().nullable() }),
  rewards: z.array(intervalSchema.extend({ name: z.string() })),
  checks: z.array(intervalSchema.extend({ name: z.string() }).describe("estimate: pass rate")),
  /** Pairwise judgements against the control (shadow pairs and comparisons): win = 1, tie = 0.5, loss = 0. */
  pairwise: z.array(
    intervalSchema.extend({
      judge: z.string(),
      wins: z.number().int(),
      ties: z.number().int(),
      losses: z.number().int(),
    }),
  ),
  /** Empty for the control. */
  vsControl: z.array(differenceSchema),
});
export type VariantReport = z.infer<typeof variantReportSchema>;

export const experimentReportSchema = z.object({
  experiment: z.string(),
  version: z.number().int(),
  status: z.string(),
  control: z.string(),
  unit: z.string(),
  generatedAt: z.number(),
  alpha: z.number(),
  method: z.string().describe("the interval method, named"),
  variants: z.array(variantReportSchema),
  sampleRatio: z.object({
    expected: z.record(z.string(), z.number()).describe("share by variant"),
    observed: z
      .record(z.string(), z.number())
      .describe("units by variant, seen since the shares last changed (the check compares these)"),
    pValue: z.number().nullable(),
    mismatch: z
      .boolean()
      .describe("true when p < 0.001: the split is not what was configured; distrust the report"),
  }),
  verdict: z.object({
    line: z.string().describe("one sentence: which variant is better, worse, or what is not yet known"),
    metric: z.string().nullable().describe("the primary metric the verdict is on"),
  }),
  /** Daily points for plots: each treatment's difference to the control on the primary metric, cumulative. */
  sequence: z.array(
    intervalSchema.extend({
      at: z.number().describe("end of the day, ms"),
      variant: z.string(),
      metric: z.string(),
    }),
  ),
});
export type ExperimentReport = z.infer<typeof experimentReportSchema>;
