/**
 * What the evals routes answer, as zod schemas (the wire contract: documented, and checked against every
 * answer in tests). A report's inner shapes (evals/report.ts) are described as objects here.
 */
import { z } from "zod";
import { runStatuses } from "./runs.ts";

/** A JSON object whose shape is the domain's type (evals/report.ts, checks.ts), described here as any object. */
const object = z.custom<object>((v) => typeof v === "object" && v !== null && !Array.isArray(v), {
  error: "expected an object",
});

export const runViewSchema = z.object({
  id: z.string(),
  dataset: z.string().nullable(),
  snapshotId: z.string().nullable(),
  candidate: object,
  checks: z.array(object),
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
  z.object({ id: z.null(), estimate: estimateSchema, checks: z.array(object) }),
]);

export const progressSchema = z.object({
  total: z.number(),
  done: z.number(),
  failed: z.number(),
  pending: z.number(),
  running: z.number(),
});

/** `GET /api/evals/{id}`: the run, its progress and its (partial while running) report. */
export const runStateSchema = z.object({
  run: runViewSchema,
  progress: progressSchema,
  report: z.object({
    items: z.object({ total: z.number(), done: z.number(), failed: z.number() }),
    checks: z.array(object),
    judges: z.array(object),
    cost: object,
    latency: object,
    worst: z.array(object),
    methods: z.object({ proportions: z.string(), means: z.string(), percentiles: z.string() }),
  }),
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
