/**
 * What the exports routes answer, as zod schemas (the wire contract: documented, and checked against every
 * answer in tests).
 */
import { z } from "zod";

export const datasetViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  filter: z.record(z.string(), z.unknown()),
  createdAt: z.string(),
  updatedAt: z.string(),
});

/** A dataset with its size, reward histogram and counts of annotated, corrected and compared calls. */
export const datasetDetailSchema = datasetViewSchema.extend({
  size: z.number(),
  rewardHistogram: z.array(z.object({ bucket: z.number(), count: z.number() })),
  annotated: z.number(),
  corrections: z.number(),
  pairwise: z.number(),
});

export const snapshotViewSchema = z.object({
  id: z.string(),
  datasetId: z.string(),
  datasetName: z.string(),
  purpose: z.string(),
  format: z.string().nullable(),
  params: z.record(z.string(), z.unknown()).nullable(),
  callCount: z.number().nullable(),
  rowCount: z.number().nullable(),
  erasedCalls: z.number(),
  complete: z.boolean(),
  createdAt: z.string(),
  completedAt: z.string().nullable(),
});

/** `GET /api/snapshots/{id}`: the snapshot and a page of its call ids, in the order they were used. */
export const snapshotPageSchema = snapshotViewSchema.extend({
  callIds: z.array(z.string()),
  nextCursor: z.number().nullable(),
});

/** `GET /api/export?report=1`: rows written and dropped, by reason. */
export const exportReportSchema = z.object({
  format: z.string(),
  split: z.number(),
  groupBy: z.string(),
  scanned: z.object({ calls: z.number(), comparisons: z.number() }),
  written: z.object({ train: z.number(), validation: z.number(), total: z.number() }),
  bySource: z.record(z.string(), z.number()),
  dropped: z.record(z.string(), z.number()),
  droppedTotal: z.number(),
});
