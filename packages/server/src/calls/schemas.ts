/**
 * Request schemas of the calls API: validated at the edge, reused for the TypeScript types and the
 * OpenAPI document (`GET /api/openapi.json`).
 */
import { z } from "zod";
import { outcomes } from "./record.ts";

const jsonObject = z.record(z.string(), z.unknown());
/** PostgreSQL text cannot hold a NUL character: refused here rather than failing the insert. */
const text = (min: number, max: number) =>
  z
    .string()
    .min(min)
    .max(max)
    .refine((s) => !s.includes("\u0000"), "must not contain NUL characters");
const time = z.union([
  z.number().int().nonnegative(),
  z.iso.datetime({ offset: true }).transform((s) => Date.parse(s)),
]);

/** A call captured outside the proxy (SDK wrapper, another gateway), for `POST /api/calls`. */
export const ingestCallSchema = z
  .object({
    id: text(1, 200).optional().describe("intersebd call id; generated when absent"),
    startedAt: time.optional().describe("ms since epoch or ISO 8601; default now"),
    endedAt: time.optional(),
    ttftMs: z.number().int().nonnegative().max(2_147_483_647).nullable().optional(),
    upstream: text(1, 200).default("sdk"),
    path: text(0, 500).default("/chat/completions"),
    stream: z.boolean().default(false),
    status: z.number().int().min(100).max(599).nullable().default(200),
    outcome: z.enum(outcomes).default("ok"),
    error: text(0, 10_000).nullable().optional(),
    request: jsonObject.describe("the Chat Completions request body"),
    response: jsonObject.nullable().optional().describe("the chat.completion object (a stream reassembled)"),
    sessionId: text(1, 500).nullable().optional(),
    userId: text(1, 500).nullable().optional(),
    // Trimmed like the tags of links and annotations, or a tag with spaces around it could never be linked.
    tags: z
      .array(z.string().trim().pipe(text(1, 500)))
      .max(100)
      .default([]),
    metadata: jsonObject.default({}),
    source: z.enum(["sdk", "api"]).default("api"),
  })
  .strict();
export type IngestCall = z.infer<typeof ingestCallSchema>;

const csv = z
  .string()
  .transform((s) =>
    s
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .optional();

/** Query parameters of `GET /api/calls` (and of exports, which add their own). */
export const callFilterSchema = z.object({
  from: time.or(z.coerce.number().int()).optional().describe("startedAt >= this (ms or ISO 8601)"),
  to: time.or(z.coerce.number().int()).optional().describe("startedAt < this"),
  model: csv.describe("requested or served model, comma-separated for several"),
  upstream: csv,
  status: z.coerce.number().int().min(100).max(599).optional(),
  outcome: z
    .string()
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
  sessionId: z.string().optional(),
  userId: z.string().optional(),
  tag: z.string().optional(),
  q: z.string().max(500).optional().describe("text search in the request and response"),
  source: z.string().optional(),
  annotated: z
    .enum(["true", "false"], { error: 'annotated must be "true" or "false"' })
    .transform((v) => v === "true")
    .optional()
    .describe("only calls with (true) or without (false) a resolved annotation"),
  name: z.string().min(1).optional().describe("annotation name the reward conditions apply to"),
  minReward: z.coerce.number().refine(Number.isFinite, "must be a finite number").optional(),
  maxReward: z.coerce.number().refine(Number.isFinite, "must be a finite number").optional(),
  annotationSource: z.enum(["code", "human", "user", "judge"]).optional(),
});
export type CallFilter = z.infer<typeof callFilterSchema>;

export const pageSchema = z.object({
  cursor: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
});

/** Query parameters of `GET /api/calls`: the filters and the page. */
export const callListQuerySchema = callFilterSchema.extend(pageSchema.shape);
