/** The erasure API's query and answers, validated at the edge (routes.ts) and read by the CLI and the app. */
import { z } from "zod";

/** `?dryRun=true`: count what would be erased, erase nothing (the CLI shows these counts before it asks). */
export const eraseQuerySchema = z.object({
  dryRun: z
    .enum(["true", "false", "1", "0"])
    .optional()
    .transform((v) => v === "true" || v === "1"),
});

export const erasureCountsSchema = z.object({
  calls: z.number(),
  derivedCalls: z.number(),
  callTags: z.number(),
  callAnnotations: z.number(),
  annotations: z.number(),
  links: z.number(),
  comparisons: z.number(),
  notifications: z.number(),
  webhookJobs: z.number(),
  reviewQueueItems: z.number(),
  liveJobs: z.number(),
  evalItems: z.number(),
  evalCheckResults: z.number(),
  conversationItems: z.number(),
  snapshotRows: z.number(),
  snapshotsUpdated: z.number(),
});

export const selectorKinds = ["userId", "sessionId", "tag"] as const;

/** `DELETE /api/users/{userId}` and the others: the counts, the selector's kind and hash, the audit row's id. */
export const erasureResultSchema = z.object({
  selector: z.object({ kind: z.enum(selectorKinds), hash: z.string() }),
  dryRun: z.boolean(),
  counts: erasureCountsSchema,
  auditId: z.string().nullable(),
});

export const auditQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  /** The `nextCursor` of the previous page. */
  cursor: z.string().optional(),
});

export const auditEntrySchema = z.object({
  id: z.string(),
  at: z.string(),
  actor: z.string(),
  action: z.string(),
  selectorKind: z.string(),
  selectorHash: z.string(),
  counts: z.record(z.string(), z.number()),
});

export const auditListSchema = z.object({
  entries: z.array(auditEntrySchema),
  nextCursor: z.string().nullable(),
});

export type AuditEntry = z.infer<typeof auditEntrySchema>;
export type ErasureResultView = z.infer<typeof erasureResultSchema>;
