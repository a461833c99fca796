/**
 * What the notifications routes answer, as zod schemas (the wire contract: documented, and checked against
 * every answer in tests).
 */
import { z } from "zod";

export const deliveryViewSchema = z.object({
  status: z.enum(["pending", "delivered", "failed"]),
  attempts: z.number(),
  lastError: z.string().nullable(),
  deliveredAt: z.string().nullable(),
});

export const notificationViewSchema = z.object({
  id: z.string(),
  completionId: z.string(),
  recipient: z.string(),
  message: z.string().nullable(),
  rubric: z.string(),
  status: z.enum(["open", "done", "revoked", "expired"]),
  createdAt: z.string(),
  expiresAt: z.string(),
  doneAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  metadata: z.record(z.string(), z.unknown()).nullable(),
  delivery: deliveryViewSchema.nullable(),
});

/** A notification with its annotation link. */
export const notificationWithUrlSchema = notificationViewSchema.extend({ url: z.string() });

export const notifiedSchema = z.union([
  notificationWithUrlSchema,
  z.object({ data: z.array(notificationWithUrlSchema) }),
]);

/** `GET /api/notifications`: an inbox page, each item with its link and the call's preview, and the counts. */
export const inboxPageSchema = z.object({
  data: z.array(
    notificationWithUrlSchema.extend({
      preview: z
        .object({ callId: z.string(), input: z.string().nullable(), output: z.string().nullable() })
        .nullable(),
    }),
  ),
  nextCursor: z.string().nullable(),
  counts: z.object({ open: z.number(), done: z.number() }),
});

const annotateItemSchema = z.object({
  message: z.string().nullable(),
  status: z.enum(["open", "done"]),
  expiresAt: z.string(),
  doneAt: z.string().nullable(),
});

/** `GET /api/a/{token}`: one item's message, state, conversation and rubric, nothing else. */
export const annotateTaskSchema = z.object({
  notification: annotateItemSchema,
  conversation: z
    .object({
      messages: z.array(z.unknown()).nullable(),
      choices: z
        .array(z.object({ index: z.number(), message: z.unknown(), finish_reason: z.string().nullable() }))
        .nullable(),
    })
    .nullable(),
  rubric: z.object({
    name: z.string(),
    description: z.string().optional(),
    fields: z.array(z.record(z.string(), z.unknown())),
  }),
});

export const answerResultSchema = z.object({
  notification: annotateItemSchema,
  answered: z.array(z.string()),
  unchanged: z.array(z.string()),
});

/** A rubric as the API shows it: its definition, where it comes from, and when it last changed. */
export const rubricViewSchema = z.object({
  name: z.string(),
  description: z.string().optional(),
  fields: z.array(z.record(z.string(), z.unknown())),
  source: z.enum(["builtin", "file", "app"]),
  updatedAt: z.string().nullable(),
});
