/** What the review-queue routes answer, as zod schemas (the wire contract, checked against every answer in tests). */
import { z } from "zod";

const ratingSchema = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const estimateSchema = z.object({
  value: z.number().nullable(),
  interval: z.object({ lo: z.number(), hi: z.number() }).nullable(),
  items: z.number(),
});

export const reviewQueueSummarySchema = z.object({
  id: z.string(),
  name: z.string(),
  rubric: z.string(),
  reviewers: z.array(z.string()),
  perItem: z.number(),
  itemCount: z.number(),
  createdAt: z.string(),
  done: z.number(),
  assigned: z.number(),
});

export const reviewQueueViewSchema = reviewQueueSummarySchema.extend({
  source: z.record(z.string(), z.unknown()),
  levels: z.record(z.string(), z.enum(["nominal", "ordinal", "interval"])).nullable(),
  progress: z.array(
    z.object({
      reviewer: z.string(),
      assigned: z.number(),
      done: z.number(),
      open: z.number(),
      lapsed: z.number(),
    }),
  ),
  agreement: z.array(
    z.object({
      field: z.string(),
      type: z.string(),
      level: z.enum(["nominal", "ordinal", "interval"]),
      alpha: estimateSchema,
      kappa: estimateSchema.nullable(),
      disagreements: z.number(),
    }),
  ),
  disagreements: z.array(
    z.object({
      callId: z.string(),
      position: z.number(),
      fields: z.array(z.object({ field: z.string(), answers: z.record(z.string(), ratingSchema) })),
    }),
  ),
});
