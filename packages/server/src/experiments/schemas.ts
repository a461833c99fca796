/**
 * The experiments API's request and response schemas (validated at the edge; a failure is a 400 naming the
 * field), and the stored definition's shape. Public names: ../../../../../shared/PRODUCT.md, "Names for what comes
 * next" (a copy of the relevant part is in the README's Experiments section).
 */
import { z } from "zod";
import { candidateSchema, judgeSchema } from "../evals/index.ts";
import { boundedNumber, jsonObject, text } from "../util/bounds.ts";

export const EXPERIMENT_STATUSES = ["draft", "shadow", "running", "stopped", "promoted"] as const;
export type ExperimentStatus = (typeof EXPERIMENT_STATUSES)[number];

export const UNITS = ["userId", "sessionId", "request"] as const;
export type AssignmentUnitKind = (typeof UNITS)[number];

/** Experiment and variant names appear in a model alias (`exp:<name>`), headers, tags and URLs. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const name = (what: string) =>
  z
    .string({ error: `${what} must be a string` })
    .regex(NAME, `${what} must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`);

/** A message of a prompt version's template; `{{key}}` is replaced by the request's metadata value of that key. */
const templateMessageSchema = z
  .object({
    role: z.enum(["system", "developer", "user", "assistant"], {
      error: "role must be system, developer, user or assistant",
    }),
    content: text(100_000),
  })
  .strict();

/** A variant: a weight and the overrides applied to a matching request (the control usually has none). */
export const variantSchema = candidateSchema
  .omit({ headers: true })
  .extend({
    name: name("variant name"),
    weight: boundedNumber("weight")
      .refine((n) => n >= 0, "weight must not be negative")
      .default(1)
      .describe("relative: 80/20 and 0.8/0.2 split alike"),
    promptVersion: text(200, { min: 1, trim: true })
      .optional()
      .describe("a label recorded as the call's metadata.promptVersion (metrics group by it)"),
    messages: z
      .array(templateMessageSchema)
      .min(1)
      .max(50)
      .optional()
      .describe(
        "the prompt version's messages: they replace the request's system and developer messages and go first; " +
          "{{key}} is filled from the request's metadata",
      ),
  })
  .strict();
export type Variant = z.infer<typeof variantSchema>;

/** Which requests an experiment applies to besides those naming it (`exp:<name>` or the header). */
export const matchSchema = z
  .object({
    upstream: text(100, { min: 1 }).optional(),
    model: text(200, { min: 1 }).optional().describe("the model the request asks for"),
    tags: z
      .array(text(200, { min: 1 }))
      .max(20)
      .optional()
      .describe("every one must be on the request"),
    metadata: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
      .optional()
      .describe("every key must have this value in the request's metadata"),
  })
  .strict();
export type Match = z.infer<typeof matchSchema>;

export const shadowSchema = z
  .object({
    sample: z
      .number()
      .min(0)
      .max(1)
      .default(1)
      .describe("share of matching requests copied to the candidates"),
    concurrency: z.number().int().min(1).max(256).default(4).describe("shadow calls in flight per instance"),
    dailyCostUsd: boundedNumber("dailyCostUsd")
      .refine((n) => n >= 0, "dailyCostUsd must not be negative")
      .optional()
      .describe("shadow calls stop for the day (UTC) once their cost reaches it"),
    timeoutMs: z.number().int().min(100).max(600_000).default(60_000),
    judge: judgeSchema
      .extend({ sample: z.number().min(0).max(1).default(1).describe("share of shadow pairs judged") })
      .optional()
      .describe("a judge run on shadow pairs (pairwise: control's answer against the candidate's)"),
    checks: z.array(z.unknown()).max(100).optional().describe("checks run on both answers of a shadow pair"),
  })
  .strict();
export type ShadowSettings = z.infer<typeof shadowSchema>;

const by = text(200, { min: 1, trim: true, what: "by" }).describe("who made the change (recorded)");

export const createExperimentSchema = z
  .object({
    name: name("name"),
    description: text(2000).optional(),
    unit: z.enum(UNITS, { error: "unit must be userId, sessionId or request" }).default("userId"),
    variants: z.array(variantSchema).min(2, "an experiment needs at least two variants").max(20),
    control: name("control").optional().describe("the control variant; default: the first"),
    match: matchSchema.optional(),
    shadow: shadowSchema.optional(),
    status: z
      .enum(["draft", "shadow", "running"], { error: "status must be draft, shadow or running" })
      .default("draft"),
    salt: text(100, { min: 1 }).optional().describe("default: the name; a new salt reshuffles every unit"),
    by,
  })
  .strict()
  .superRefine((v, ctx) => {
    const seen = new Set<string>();
    v.variants.forEach((variant, i) => {
      if (seen.has(variant.name))
        ctx.addIssue({
          code: "custom",
          path: ["variants", i, "name"],
          message: `duplicate variant ${variant.name}`,
        });
      seen.add(variant.name);
    });
    if (v.control !== undefined && !seen.has(v.control))
      ctx.addIssue({ code: "custom", path: ["control"], message: `control ${v.control} is not a variant` });
  });
export type CreateExperimentInput = z.infer<typeof createExperimentSchema>;

export const updateExperimentSchema = z
  .object({
    status: z
      .enum(["draft", "shadow", "running", "stopped"], {
        error: "status must be draft, shadow, running or stopped",
      })
      .optional(),
    weights: z
      .record(
        name("variant"),
        boundedNumber("weight").refine((n) => n >= 0, "weight must not be negative"),
      )
      .optional()
      .describe("new weights by variant name; units keep their variant where the new weights allow"),
    description: text(2000).optional(),
    match: matchSchema.nullable().optional(),
    shadow: shadowSchema.nullable().optional(),
    by,
  })
  .strict();
export type UpdateExperimentInput = z.infer<typeof updateExperimentSchema>;

export const promoteSchema = z
  .object({
    variant: name("variant"),
    approvedBy: text(200, { min: 1, trim: true, what: "approvedBy" }).describe(
      "the person who approved the promotion (recorded)",
    ),
    comment: text(2000).optional(),
  })
  .strict();
export type PromoteInput = z.infer<typeof promoteSchema>;

export const rollbackSchema = z.object({ by, comment: text(2000).optional() }).strict();
export type RollbackInput = z.infer<typeof rollbackSchema>;

const rangeSchema = z.object({ variant: z.string(), from: z.number().int(), to: z.number().int() });

/** What is stored and served (also to the SDKs, which assign from `salt`, `allocation` and `status`). */
export const experimentSchema = z.object({
  name: z.string(),
  version: z.number().int(),
  status: z.enum(EXPERIMENT_STATUSES),
  description: z.string().optional(),
  unit: z.enum(UNITS),
  salt: z.string(),
  control: z.string(),
  variants: z.array(variantSchema.extend({ weight: z.number() }).describe("weights as last set, relative")),
  allocation: z
    .array(rangeSchema)
    .describe("bucket ranges [from, to) of 10,000 by variant (intersebd/experiments)"),
  match: matchSchema.optional(),
  shadow: shadowSchema.optional(),
  promoted: z
    .object({ variant: z.string(), approvedBy: z.string(), at: z.number(), comment: z.string().optional() })
    .optional()
    .describe("set while promoted: every matching request goes to this variant"),
  createdBy: z.string(),
  createdAt: z.number(),
  updatedAt: z.number(),
});
export type Experiment = z.infer<typeof experimentSchema>;

export const changeSchema = z.object({
  version: z.number().int(),
  action: z.enum(["create", "update", "promote", "rollback"]),
  by: z.string(),
  at: z.number(),
  change: jsonObject(),
});
export type ExperimentChange = z.infer<typeof changeSchema>;

export const experimentDetailSchema = experimentSchema.extend({ changes: z.array(changeSchema) });
export const experimentListSchema = z.object({ experiments: z.array(experimentSchema) });
