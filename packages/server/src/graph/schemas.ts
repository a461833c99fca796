/**
 * Request schemas of the tag graph API (links, annotations, notifications, comparisons): validated at the
 * edge, reused for types and for the OpenAPI document. Field names are PRODUCT.md's, camelCase.
 */
import { z } from "zod";

export const MAX_TAG_LENGTH = 1000;
/** Largest JSON value (metadata, data, content) accepted in one field, in bytes when serialised. */
export const MAX_JSON_BYTES = 256 * 1024;

/** PostgreSQL text cannot hold a NUL character: refused here rather than failing the insert with a 500. */
const noNul = (s: string) => !s.includes("\u0000");
const NO_NUL = "must not contain NUL characters";

const tag = (what: string) =>
  z
    .string({ error: `${what} must be a string` })
    .trim()
    .min(1, `${what} must not be empty`)
    .max(MAX_TAG_LENGTH, `${what} is longer than ${MAX_TAG_LENGTH} characters`)
    .refine(noNul, `${what} ${NO_NUL}`);

/** A string field other than a tag, bounded in length, with no NUL character. */
const text = (min: number, max: number) => z.string().min(min).max(max).refine(noNul, NO_NUL);

const utf8 = new TextEncoder();
const boundedJson = <T extends z.ZodType>(schema: T) =>
  schema.refine((v) => v === undefined || utf8.encode(JSON.stringify(v)).length <= MAX_JSON_BYTES, {
    message: `is larger than ${MAX_JSON_BYTES} bytes`,
  });

const jsonObject = boundedJson(z.record(z.string(), z.unknown(), { error: "must be a JSON object" }));
const anyJson = boundedJson(z.unknown());

export const annotationSources = ["code", "human", "user", "judge"] as const;

export const linkSchema = z
  .object({
    upstreamTag: tag("upstreamTag"),
    downstreamTag: tag("downstreamTag"),
    metadata: jsonObject.optional(),
  })
  .strict();
export type LinkInput = z.infer<typeof linkSchema>;

/** The assistant message an answer should have been: a message object or just its text. */
export const correctionSchema = z.union([
  z.string().min(1, "correction must not be empty"),
  z
    .object({
      role: z.literal("assistant").default("assistant"),
      content: z.string().nullable().optional(),
      tool_calls: z.array(z.unknown()).optional(),
    })
    .loose(),
]);

export const annotationSchema = z
  .object({
    id: text(1, 200).optional().describe("client id: a retry with the same id is stored once"),
    annotationKey: tag("annotationKey").describe("the tag judged: a completion id, a call id or your own id"),
    name: z.string().trim().pipe(text(1, 200)).default("reward"),
    numericReward: z
      .number({ error: "numericReward must be a finite number" })
      .refine(Number.isFinite, "numericReward must be a finite number")
      .nullable()
      .optional(),
    content: anyJson.optional(),
    data: anyJson.optional(),
    comment: text(0, 100_000).nullable().optional(),
    correction: correctionSchema.nullable().optional(),
    source: z.enum(annotationSources).default("code"),
    annotatorId: text(1, 500).nullable().optional(),
    notificationId: text(1, 200).nullable().optional(),
  })
  .strict();
export type AnnotationInput = z.infer<typeof annotationSchema>;

export const notificationSchema = z
  .object({
    id: z.string().min(1).max(200).optional(),
    completionId: tag("completionId").describe("the call to judge: completion id, call id or any tag of it"),
    sendNotificationTo: z.string().trim().min(1, "sendNotificationTo must not be empty").max(500),
    message: z.string().max(10_000).nullable().optional(),
    rubric: z.string().min(1).max(200).nullable().optional(),
    metadata: jsonObject.optional(),
    expiresInSeconds: z
      .number()
      .int()
      .positive()
      .max(366 * 24 * 3600)
      .optional(),
  })
  .strict();
export type NotificationInput = z.infer<typeof notificationSchema>;

export const comparisonSchema = z
  .object({
    id: text(1, 200).optional(),
    a: tag("a"),
    b: tag("b"),
    choice: z.enum(["a", "b", "tie"], { error: 'choice must be "a", "b" or "tie"' }),
    reason: text(0, 10_000).nullable().optional(),
    annotatorId: text(1, 500).nullable().optional(),
    source: z.enum(annotationSources).default("human"),
  })
  .strict()
  // Choosing between an answer and itself says nothing, and would pair a call with itself in preference exports.
  .refine((c) => c.a !== c.b, {
    message: "b must differ from a (a comparison is between two answers)",
    path: ["b"],
  });
export type ComparisonInput = z.infer<typeof comparisonSchema>;
