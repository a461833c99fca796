/**
 * Request schemas of the tag graph API (links, annotations, comparisons): validated at the
 * edge, reused for types and for the OpenAPI document. Field names are PRODUCT.md's, camelCase.
 */
import { z } from "zod";
import { boundedNumber, jsonObject as boundedObject, jsonProblem, jsonValue, text } from "../util/bounds.ts";

export { MAX_JSON_BYTES } from "../util/bounds.ts";
export const MAX_TAG_LENGTH = 1000;

/** A tag (completion id, call id, your own id): trimmed, non-empty, bounded, no NUL. */
export const tag = (what: string) => text(MAX_TAG_LENGTH, { min: 1, trim: true, what });

const jsonObject = boundedObject();
const anyJson = jsonValue();

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
  text(100_000, { min: 1, what: "correction" }),
  z
    .object({
      role: z.literal("assistant").default("assistant"),
      content: text(100_000).nullable().optional(),
      tool_calls: z.array(z.unknown()).max(1000).optional(),
    })
    .loose()
    // The rest of the message (tool calls, any other field) is free JSON: walked like metadata.
    .superRefine((m, ctx) => {
      const problem = jsonProblem(m);
      if (problem) ctx.addIssue({ code: "custom", ...problem });
    }),
]);

export const annotationSchema = z
  .object({
    id: text(200, { min: 1 }).optional().describe("client id: a retry with the same id is stored once"),
    annotationKey: tag("annotationKey").describe("the tag judged: a completion id, a call id or your own id"),
    name: text(200, { min: 1, trim: true }).default("reward"),
    numericReward: boundedNumber("numericReward").nullable().optional(),
    content: anyJson.optional(),
    data: anyJson.optional(),
    comment: text(100_000).nullable().optional(),
    correction: correctionSchema.nullable().optional(),
    source: z.enum(annotationSources).default("code"),
    annotatorId: text(500, { min: 1 }).nullable().optional(),
    notificationId: text(200, { min: 1 }).nullable().optional(),
  })
  .strict();
export type AnnotationInput = z.infer<typeof annotationSchema>;

export const comparisonSchema = z
  .object({
    id: text(200, { min: 1 }).optional(),
    a: tag("a"),
    b: tag("b"),
    choice: z.enum(["a", "b", "tie"], { error: 'choice must be "a", "b" or "tie"' }),
    reason: text(10_000).nullable().optional(),
    annotatorId: text(500, { min: 1 }).nullable().optional(),
    source: z.enum(annotationSources).default("human"),
  })
  .strict()
  // Choosing between an answer and itself says nothing, and would pair a call with itself in preference exports.
  .refine((c) => c.a !== c.b, {
    message: "b must differ from a (a comparison is between two answers)",
    path: ["b"],
  });
export type ComparisonInput = z.infer<typeof comparisonSchema>;
