/**
 * What the views' routes answer, as zod schemas (the wire contract: documented, and checked against every
 * answer in tests).
 */
import { z } from "zod";
import { callViewSchema } from "../calls/index.ts";
import { reviewKinds } from "./review.ts";
import { clusterKeySchema } from "./review-clusters.ts";

const reviewItemSchema = z.object({
  call: callViewSchema,
  reasons: z.array(z.string()),
  kinds: z.array(z.enum(reviewKinds)),
});

/** `GET /api/review-queue`: calls worth a person's look, each with why, and the same evidence grouped. */
export const reviewQueueSchema = z.object({
  data: z.array(reviewItemSchema),
  clusters: z
    .array(
      z.object({
        id: z.string(),
        key: clusterKeySchema,
        count: z.number(),
        newestAt: z.string(),
        kinds: z.array(z.enum(reviewKinds)),
        items: z.array(reviewItemSchema).describe("the cluster's newest calls, up to `examples`"),
      }),
    )
    .describe(
      "the candidates grouped by model, upstream, outcome, failed checks, floor flags, reward band, experiment and variant: clusters of two or more first (largest, then newest), then single calls (newest first)",
    ),
});

const sessionSummarySchema = z.object({
  sessionId: z.string(),
  calls: z.number(),
  firstAt: z.string(),
  lastAt: z.string(),
  models: z.array(z.string()),
  userIds: z.array(z.string()),
});

/** `GET /api/sessions`: most recently active first. */
export const sessionsPageSchema = z.object({
  data: z.array(sessionSummarySchema),
  nextCursor: z.string().nullable(),
});

/** `GET /api/sessions/{id}`: the calls oldest first, bodies up to a budget (`bodiesOmitted` beyond it). */
export const sessionDetailSchema = z.object({
  sessionId: z.string(),
  calls: z.array(callViewSchema),
  truncated: z.boolean(),
  bodiesOmitted: z.number(),
});

/** `GET /api/settings`: how this server is configured, no secret. */
export const settingsViewSchema = z.object({
  version: z.string(),
  upstreams: z.array(z.object({ name: z.string(), baseUrl: z.string(), hasKey: z.boolean() })),
  capture: z.string(),
  webhook: z.object({ configured: z.boolean(), url: z.string().optional(), signing: z.boolean() }),
  publicUrl: z.string().nullable(),
  auth: z.boolean(),
  tokenTtlSeconds: z.number(),
  store: z
    .object({
      kind: z.enum(["sqlite", "postgres"]),
      bytes: z.number().nullable(),
      retention: z.object({
        bodiesDays: z.number().nullable(),
        callsDays: z.number().nullable(),
        keptDays: z.number().nullable(),
      }),
    })
    .optional(),
});
