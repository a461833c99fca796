/** Request schemas of the conversations API, validated at the edge. */
import { z } from "zod";
import { candidateSchema } from "../evals/index.ts";
import { boundedNumber } from "../util/bounds.ts";

const name = (what: string) =>
  z
    .string({ error: `${what} must be a string` })
    .trim()
    .min(1, `${what} must not be empty`)
    .max(200, `${what}: at most 200 characters`);

/** The seed's three criteria, each with the rubric its judge is given. */
export const DEFAULT_CRITERIA: Criterion[] = [
  {
    name: "in character",
    description:
      "Which answer stays in character: the persona, voice, knowledge and limits the system prompt and the " +
      "conversation have set?",
  },
  {
    name: "scenario",
    description:
      "Which answer follows and advances the scenario the conversation has set up, consistent with what " +
      "happened before?",
  },
  {
    name: "engagement",
    description:
      "Which answer is more engaging: does it give the user something to respond to, with substance rather " +
      "than filler?",
  },
];

export interface Criterion {
  name: string;
  description: string;
}

const criterionSchema = z.union([
  name("criteria[]"),
  z.object({ name: name("criteria[].name"), description: z.string().max(5000).optional() }).strict(),
]);

export const createConversationEvalSchema = z
  .object({
    sessions: z.array(name("sessions[]")).min(1).max(1000).optional().describe("session ids"),
    sessionIds: z.array(name("sessionIds[]")).min(1).max(1000).optional().describe("same as sessions"),
    candidates: z
      .array(candidateSchema.extend({ name: name("candidates[].name") }))
      .min(1, "candidates: give at least one")
      .max(10, "candidates: at most 10")
      .refine((cs) => new Set(cs.map((c) => c.name)).size === cs.length, "candidates: names must differ"),
    criteria: z
      .array(criterionSchema)
      .min(1)
      .max(10)
      .optional()
      .describe("named criteria (default: in character, scenario, engagement)"),
    contextLengths: z
      .array(z.number().int().min(1).max(1000).nullable())
      .min(1)
      .max(5)
      .optional()
      .describe("turns of context before the regenerated one; null: the whole slice (default [null, 4])"),
    sliceLength: z.number().int().min(2).max(500).default(20),
    stride: z.number().int().min(1).max(500).default(5),
    judge: z.object({ model: name("judge.model"), upstream: name("judge.upstream").optional() }).strict(),
    maxCostUsd: boundedNumber("maxCostUsd")
      .refine((n) => n >= 0, "maxCostUsd must not be negative")
      .optional()
      .describe(
        "refuse to start when the estimate exceeds it; stop claiming items once the calls' cost reaches it",
      ),
  })
  .strict()
  .refine((b) => b.sessions || b.sessionIds, {
    message: "sessions: give the session ids",
    path: ["sessions"],
  });
export type CreateConversationEvalInput = z.infer<typeof createConversationEvalSchema>;

/** The definition as stored: defaults filled in. */
export interface ConversationEvalDefinition {
  sessions: string[];
  candidates: CreateConversationEvalInput["candidates"];
  criteria: Criterion[];
  contextLengths: Array<number | null>;
  sliceLength: number;
  stride: number;
  judge: { model: string; upstream?: string };
}

export const choicesSchema = z
  .object({
    /** The tag shown as A on the compare page: the regeneration's call id or the original's. */
    a: name("a"),
    choices: z.record(
      name("choices key"),
      z.enum(["a", "b", "tie"], { error: 'a choice is "a", "b" or "tie"' }),
    ),
    annotatorId: name("annotatorId").optional(),
    reason: z.string().max(10_000).optional(),
  })
  .strict();
export type ChoicesInput = z.infer<typeof choicesSchema>;

export const itemsQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});
