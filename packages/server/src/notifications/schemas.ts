/**
 * Request schema of `POST /api/notifications`: validated at the edge, reused for types and for the OpenAPI
 * document. Field names are PRODUCT.md's, camelCase.
 */
import { z } from "zod";
import { tag } from "../graph/index.ts";
import { jsonObject, text } from "../util/bounds.ts";

/** How long a judge link stays valid, at most a year (a queue's invitations and a notification's alike). */
export const expiresInSecondsSchema = z
  .number()
  .int()
  .positive()
  .max(366 * 24 * 3600);

export const notificationSchema = z
  .object({
    id: text(200, { min: 1 }).optional(),
    completionId: tag("completionId").describe("the call to judge: completion id, call id or any tag of it"),
    sendNotificationTo: text(500, { min: 1, trim: true, what: "sendNotificationTo" }),
    message: text(10_000).nullable().optional(),
    rubric: text(200, { min: 1 }).nullable().optional(),
    metadata: jsonObject().optional(),
    expiresInSeconds: expiresInSecondsSchema.optional(),
  })
  .strict();
export type NotificationInput = z.infer<typeof notificationSchema>;
