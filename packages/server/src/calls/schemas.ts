/**
 * Request schemas of the calls API: validated at the edge, reused for the TypeScript types and the
 * OpenAPI document (`GET /api/openapi.json`). Every field is bounded (util/bounds.ts) to what both stores and
 * every reader accept, so any call the API takes can be listed and read back.
 */
import { z } from "zod";
import { jsonObject, queryNumber, queryTimestamp, text, timestamp } from "../util/bounds.ts";
import { outcomes } from "./record.ts";

// Request and response bodies are bounded by the body limit (INTERSEBD_MAX_BODY_BYTES), not by the per-field
// size of metadata: an image in base64 makes a request of megabytes. They are still walked for NUL and depth.
const body = (what: string) => jsonObject({ maxBytes: null, error: `${what} must be a JSON object` });

/** A call captured outside the proxy (SDK wrapper, another gateway), for `POST /api/calls`. */
export const ingestCallSchema = z
  .object({
    id: text(200, { min: 1 }).optional().describe("intersebd call id; generated when absent"),
    startedAt: timestamp("startedAt").optional().describe("ms since epoch or ISO 8601; default now"),
    endedAt: timestamp("endedAt").optional().describe("not before startedAt"),
    ttftMs: z.number().int().nonnegative().max(2_147_483_647).nullable().optional(),
    upstream: text(200, { min: 1 }).default("sdk"),
    path: text(500).default("/chat/completions"),
    stream: z.boolean().default(false),
    status: z.number().int().min(100).max(599).nullable().default(200),
    outcome: z.enum(outcomes).default("ok"),
    error: text(10_000).nullable().optional(),
    protocol: z
      .enum(["chat", "responses", "messages"])
      .default("chat")
      .describe(
        "the protocol of the bodies: chat, or responses / messages whose bodies go as originalRequest / originalResponse",
      ),
    request: body("request").optional().describe("the Chat Completions request body (required for chat)"),
    response: body("response")
      .nullable()
      .optional()
      .describe("the chat.completion object (a stream reassembled)"),
    originalRequest: body("originalRequest")
      .optional()
      .describe("for responses / messages: the request body as sent (converted to chat by the server)"),
    originalResponse: body("originalResponse")
      .nullable()
      .optional()
      .describe("for responses / messages: the response object as received (a stream's final one)"),
    sessionId: text(500, { min: 1 }).nullable().optional(),
    userId: text(500, { min: 1 }).nullable().optional(),
    // Trimmed like the tags of links and annotations, or a tag with spaces around it could never be linked.
    tags: z
      .array(text(500, { min: 1, trim: true }))
      .max(100)
      .default([]),
    metadata: jsonObject().default({}),
    source: z.enum(["sdk", "api"]).default("api"),
    experiment: text(64, { min: 1 })
      .nullable()
      .optional()
      .describe("the experiment the call went through (an SDK's variant()); tags it exp:<name>"),
    variant: text(64, { min: 1 }).nullable().optional().describe("its variant; tags it exp:<name>:<variant>"),
    assignmentUnit: text(600, { min: 1 })
      .nullable()
      .optional()
      .describe("userId:<id>, sessionId:<id> or request:<call id>"),
    shadowOf: text(200, { min: 1 }).nullable().optional().describe("for a shadow call, the call it shadows"),
  })
  .strict()
  .refine((c) => c.endedAt === undefined || c.startedAt === undefined || c.endedAt >= c.startedAt, {
    message: "endedAt must not be before startedAt",
    path: ["endedAt"],
  })
  .refine((c) => c.protocol !== "chat" || c.request !== undefined, {
    message: "request is required for a chat call",
    path: ["request"],
  })
  .refine(
    (c) => c.protocol !== "chat" || (c.originalRequest === undefined && c.originalResponse === undefined),
    {
      message:
        "originalRequest and originalResponse are for a responses or messages call: a chat call sends request and response",
      path: ["originalRequest"],
    },
  )
  .refine((c) => c.protocol === "chat" || c.originalRequest !== undefined || c.request !== undefined, {
    message: "originalRequest is required for a responses or messages call",
    path: ["originalRequest"],
  });
export type IngestCall = z.infer<typeof ingestCallSchema>;

const csv = text(20_000)
  .transform((s) =>
    s
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .optional();

/** Query parameters of `GET /api/calls` (and of exports, which add their own). */
export const callFilterSchema = z.object({
  from: queryTimestamp("from").optional().describe("startedAt >= this (ms or ISO 8601)"),
  to: queryTimestamp("to").optional().describe("startedAt < this"),
  model: csv.describe("requested or served model, comma-separated for several"),
  upstream: csv,
  status: z.coerce.number().int().min(100).max(599).optional(),
  outcome: text(1000)
    .optional()
    .transform((s, ctx) => {
      const list = s?.split(",").filter(Boolean);
      for (const o of list ?? []) {
        if (!(outcomes as readonly string[]).includes(o)) {
          ctx.addIssue({ code: "custom", message: `unknown outcome "${o}" (one of ${outcomes.join(", ")})` });
        }
      }
      return list;
    }),
  sessionId: text(500).optional(),
  userId: text(500).optional(),
  tag: text(1000).optional(),
  q: text(500).optional().describe("text search in the request and response"),
  source: text(200).optional(),
  experiment: text(200).optional().describe("calls routed through this experiment"),
  variant: text(200).optional().describe("calls of this variant (with experiment)"),
  annotated: z
    .enum(["true", "false"], { error: 'annotated must be "true" or "false"' })
    .transform((v) => v === "true")
    .optional()
    .describe("only calls with (true) or without (false) a resolved annotation"),
  name: text(200, { min: 1 }).optional().describe("annotation name the reward conditions apply to"),
  minReward: queryNumber("minReward").optional(),
  maxReward: queryNumber("maxReward").optional(),
  annotationSource: z.enum(["code", "human", "user", "judge"]).optional(),
});
export type CallFilter = z.infer<typeof callFilterSchema>;

export const pageSchema = z.object({
  cursor: text(4000).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
});

/** Query parameters of `GET /api/calls`: the filters and the page. */
export const callListQuerySchema = callFilterSchema.extend(pageSchema.shape);
