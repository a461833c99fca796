/**
 * What the graph routes answer, as zod schemas (the wire contract: documented, and checked against every
 * answer in tests).
 */
import { z } from "zod";
import { callViewSchema } from "../calls/index.ts";

const jsonObject = z.record(z.string(), z.unknown());

export const annotationViewSchema = z.object({
  id: z.string(),
  annotationKey: z.string(),
  name: z.string(),
  numericReward: z.number().nullable(),
  content: z.unknown(),
  data: z.unknown(),
  comment: z.string().nullable(),
  correction: z.unknown(),
  source: z.string(),
  annotatorId: z.string().nullable(),
  notificationId: z.string().nullable(),
  createdAt: z.string(),
});

/** An annotation that applies to a call, with the chain of tags that connects them (call's tag first). */
export const resolvedAnnotationSchema = annotationViewSchema.extend({
  path: z.array(z.string()),
  depth: z.number(),
});

export const linkViewSchema = z.object({
  upstreamTag: z.string(),
  downstreamTag: z.string(),
  metadata: jsonObject.nullable(),
  createdAt: z.string(),
});

export const comparisonViewSchema = z.object({
  id: z.string(),
  a: z.string(),
  b: z.string(),
  choice: z.string(),
  reason: z.string().nullable(),
  annotatorId: z.string().nullable(),
  source: z.string(),
  createdAt: z.string(),
});

/** One call with everything that resolves to it (`CallDetail`). */
export const callDetailSchema = callViewSchema.extend({
  annotations: z.array(resolvedAnnotationSchema),
  links: z.array(linkViewSchema.extend({ depth: z.number() })),
  comparisons: z.array(comparisonViewSchema),
});

/** `POST /api/links`: how many were accepted (one link is echoed back). */
export const linksAcceptedSchema = z.union([
  z.object({ accepted: z.number() }).loose(),
  z.object({ accepted: z.literal(1), upstreamTag: z.string(), downstreamTag: z.string() }).loose(),
]);

const oneOrData = <S extends z.ZodType>(item: S) => z.union([item, z.object({ data: z.array(item) })]);
export const annotationsStoredSchema = oneOrData(annotationViewSchema);
export const comparisonsStoredSchema = oneOrData(comparisonViewSchema);

/** `GET /api/tags/{tag}`. */
export const tagDetailSchema = z.object({
  tag: z.string(),
  calls: z.array(callViewSchema.extend({ depth: z.number(), path: z.array(z.string()) })),
  upstreamLinks: z.array(linkViewSchema),
  downstreamLinks: z.array(linkViewSchema),
  annotations: z.array(resolvedAnnotationSchema),
  comparisons: z.array(comparisonViewSchema),
});
