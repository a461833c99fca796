/**
 * What the calls routes answer, as zod schemas: the wire contract, documented in the OpenAPI document and
 * checked against every answer in tests (`INTERSEBD_CHECK_RESPONSES`).
 */
import { z } from "zod";

const jsonObject = z.record(z.string(), z.unknown());

/** A stored call as the API shows it (`CallView`); bodies only where a route reads them. */
export const callViewSchema = z.object({
  id: z.string(),
  completionId: z.string().nullable(),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
  durationMs: z.number().nullable(),
  ttftMs: z.number().nullable(),
  upstream: z.string(),
  path: z.string(),
  requestedModel: z.string().nullable(),
  servedModel: z.string().nullable(),
  stream: z.boolean(),
  status: z.number().nullable(),
  outcome: z.string(),
  error: z.string().nullable(),
  usage: z.object({
    promptTokens: z.number().nullable(),
    completionTokens: z.number().nullable(),
    cachedTokens: z.number().nullable(),
    reasoningTokens: z.number().nullable(),
    totalTokens: z.number().nullable(),
  }),
  costUsd: z.number().nullable(),
  sessionId: z.string().nullable(),
  userId: z.string().nullable(),
  tags: z.array(z.string()),
  metadata: jsonObject,
  capture: z.string(),
  source: z.string(),
  experiment: z.string().nullable().describe("the experiment the call went through"),
  variant: z.string().nullable(),
  assignmentUnit: z.string().nullable().describe("userId:<id>, sessionId:<id> or request:<call id>"),
  shadowOf: z.string().nullable().describe("for a shadow call, the id of the call it shadows"),
  bodiesExpired: z
    .boolean()
    .optional()
    .describe("retention dropped its request, response and preview (INTERSEBD_RETENTION_BODIES_DAYS)"),
  protocol: z
    .enum(["chat", "responses", "messages", "otlp"])
    .describe("the protocol the call spoke; request and response are in the chat shape whatever it is"),
  conversionError: z
    .string()
    .nullable()
    .describe("why its original bodies could not be converted to chat (request and response are then null)"),
  request: jsonObject.nullable().optional(),
  response: jsonObject.nullable().optional(),
  originalRequest: jsonObject
    .nullable()
    .optional()
    .describe("on the detail of a call that is not chat: the request body as received"),
  originalResponse: jsonObject
    .nullable()
    .optional()
    .describe("on the detail of a call that is not chat: the response as received (a stream's final object)"),
  preview: z.object({ input: z.string().nullable(), output: z.string().nullable() }).optional(),
  annotationCount: z.number().optional(),
  meanReward: z.number().nullable().optional(),
});

/** `GET /api/calls`: newest first, with each call's preview, annotation count and mean reward. */
export const callsPageSchema = z.object({
  data: z.array(callViewSchema),
  nextCursor: z.string().nullable(),
});

const ingested = z.object({
  id: z.string(),
  completionId: z.string().nullable(),
  sampledOut: z
    .literal(true)
    .optional()
    .describe("sampling left this call out (INTERSEBD_SAMPLE_RATE): counted, not stored"),
});

/** `POST /api/calls`: the stored ids, and whether they are stored yet (false: spooled, the store is down). */
export const ingestedSchema = z.union([
  ingested.extend({ stored: z.boolean() }),
  z.object({ data: z.array(ingested), stored: z.boolean() }),
]);
