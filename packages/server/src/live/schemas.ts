/**
 * The live evaluator as the API takes it (validated at the edge: a failure is a 400 naming the field) and as it
 * answers it. Checks and the judge are declared exactly as an evaluation's (evals/checks.ts, evals/schemas.ts).
 */
import { z } from "zod";
import { judgeSchema } from "../evals/index.ts";
import { boundedNumber, text, timestamp } from "../util/bounds.ts";

/** Which calls a rule evaluates; every given field must hold. */
export const filterSchema = z
  .object({
    model: text(200, { min: 1 }).optional().describe("the requested or served model"),
    upstream: text(100, { min: 1 }).optional(),
    tags: z
      .array(text(500, { min: 1 }))
      .max(20)
      .optional()
      .describe("every one must be a tag of the call"),
    metadata: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
      .optional()
      .describe("every key must have this value in the call's metadata"),
    experiment: text(64, { min: 1 }).optional(),
    variant: text(64, { min: 1 }).optional(),
    source: z.enum(["proxy", "sdk", "api"], { error: "source must be proxy, sdk or api" }).optional(),
  })
  .strict();
export type Filter = z.infer<typeof filterSchema>;

const sample = boundedNumber("sample")
  .refine((n) => n >= 0 && n <= 1, "sample must be between 0 and 1")
  .describe("the share of matching calls evaluated, drawn by the call id's hash (every instance agrees)");
const concurrency = z
  .number()
  .int("concurrency must be an integer")
  .min(1, "concurrency must be at least 1")
  .max(64, "concurrency must be at most 64")
  .describe("jobs in flight per server instance");
const dailyCostUsd = boundedNumber("dailyCostUsd")
  .refine((n) => n >= 0, "dailyCostUsd must not be negative")
  .describe("once its judge calls cost this much today (UTC), further jobs of the day are skipped");
const checks = z
  .array(z.unknown())
  .max(50, "checks: at most 50")
  .describe("check objects or shorthands, as evaluations take them");

export const createEvaluatorSchema = z
  .object({
    name: text(200, { min: 1, trim: true, what: "name" }),
    filter: filterSchema.default({}),
    sample: sample.default(1),
    checks: checks.optional(),
    judge: judgeSchema.optional().describe("an absolute judge: a live call has no baseline to compare with"),
    concurrency: concurrency.default(2),
    dailyCostUsd: dailyCostUsd.optional(),
    enabled: z.boolean().default(true),
  })
  .strict();
export type CreateEvaluatorInput = z.infer<typeof createEvaluatorSchema>;

export const updateEvaluatorSchema = z
  .object({
    name: text(200, { min: 1, trim: true, what: "name" }).optional(),
    filter: filterSchema.optional(),
    sample: sample.optional(),
    checks: checks.optional(),
    judge: judgeSchema.nullable().optional().describe("null removes the judge"),
    concurrency: concurrency.optional(),
    dailyCostUsd: dailyCostUsd.nullable().optional().describe("null removes the cap"),
    enabled: z.boolean().optional().describe("false pauses it"),
  })
  .strict();
export type UpdateEvaluatorInput = z.infer<typeof updateEvaluatorSchema>;

export const backfillSchema = z
  .object({
    from: timestamp("from").describe("calls started at or after this (ms or ISO 8601)"),
    to: timestamp("to").describe("and before this"),
  })
  .strict()
  .refine((b) => b.to > b.from, { message: "to must be after from", path: ["to"] });

/** What is stored as `definition`: the rule as declared. */
export interface Definition {
  filter: Filter;
  sample: number;
  checks: unknown[];
  judge?: z.infer<typeof judgeSchema>;
  concurrency: number;
  dailyCostUsd?: number;
}

export interface Evaluator extends Definition {
  id: string;
  name: string;
  enabled: boolean;
  createdAt: number;
  updatedAt: number;
}

export const countersSchema = z.object({
  queued: z.number().int().describe("waiting, or waiting out a retry's back-off"),
  running: z.number().int(),
  done: z.number().int(),
  failed: z.number().int().describe("gave up after its attempts"),
  skippedByCap: z.number().int().describe("not run: the daily cost cap was reached"),
  costTodayUsd: z.number().describe("what its judge calls cost since midnight UTC"),
});
export type Counters = z.infer<typeof countersSchema>;

export const evaluatorSchema = z.object({
  id: z.string(),
  name: z.string(),
  enabled: z.boolean(),
  filter: filterSchema,
  sample: z.number(),
  checks: z.array(z.unknown()),
  judge: judgeSchema.optional(),
  concurrency: z.number().int(),
  dailyCostUsd: z.number().optional(),
  createdAt: z.number(),
  updatedAt: z.number(),
  counters: countersSchema,
});
export type EvaluatorView = z.infer<typeof evaluatorSchema>;

export const evaluatorListSchema = z.object({ evaluators: z.array(evaluatorSchema) });

export const backfillResultSchema = z.object({
  scanned: z.number().int().describe("calls in the range that match the filter"),
  enqueued: z.number().int().describe("new jobs: sampled, and not already evaluated or queued"),
});
