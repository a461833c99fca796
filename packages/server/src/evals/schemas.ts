/**
 * Request schemas of the evals API, validated at the edge (a failure is a 400 naming the field).
 */
import { z } from "zod";
import { parseOrThrow } from "../http/validate.ts";
import { boundedNumber, jsonObject, queryTimestamp, text } from "../util/bounds.ts";

// Credentials are never stored (PRODUCT.md "Privacy"), and a run's candidate is stored: upstream keys belong
// in the server's configuration (INTERSEBD_UPSTREAM_KEY_<NAME>), which the proxy injects.
const FORBIDDEN_HEADERS = new Set([
  "authorization",
  "api-key",
  "x-api-key",
  "cookie",
  "host",
  "content-length",
  "content-type",
  "connection",
  "transfer-encoding",
]);

/**
 * Header names that carry credentials, by pattern rather than by list: a list misses the next vendor's
 * (`x-goog-api-key`, `anthropic-api-key`, `openai-api-key`, `x-auth-token`, `proxy-authorization` all got
 * through one). Matches any name containing key, token, auth, secret, password, passwd, credential, session
 * or cookie (`set-cookie` included).
 */
const CREDENTIAL_HEADER = /key|token|auth|secret|passw(?:or)?d|credential|session|cookie/i;

/** Whether a header name looks like it carries a credential (see `CREDENTIAL_HEADER`). */
export const looksLikeCredential = (name: string): boolean => CREDENTIAL_HEADER.test(name);

/** Why a candidate header name is refused, or undefined when it may be forwarded. */
export function headerProblem(name: string): string | undefined {
  const lower = name.toLowerCase();
  if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) return "is not a valid header name";
  if (looksLikeCredential(lower))
    return "looks like a credential, and credentials are never stored: configure the upstream's key (INTERSEBD_UPSTREAM_KEY_<NAME>)";
  if (FORBIDDEN_HEADERS.has(lower) || lower.startsWith("x-intersebd-"))
    return "is set by intersebd and cannot be overridden";
  return undefined;
}

export const candidateSchema = z
  .object({
    model: text(200, { min: 1, trim: true, what: "model" }).optional(),
    upstream: text(100, { min: 1 }).optional().describe("a configured upstream; the default when absent"),
    systemPrompt: text(100_000)
      .optional()
      .describe("replaces the first system (or developer) message; added first when there is none"),
    params: jsonObject()
      .optional()
      .describe("request body fields to set (temperature, max_tokens...); null removes one")
      .superRefine((params, ctx) => {
        for (const k of ["messages", "stream", "stream_options", "model"]) {
          if (params && k in params)
            ctx.addIssue({
              code: "custom",
              path: [k],
              message:
                k === "model"
                  ? "set the model with candidate.model"
                  : `${k} cannot be overridden (items are replayed with the logged messages, without streaming)`,
            });
        }
      }),
    headers: z
      .record(
        z.string(),
        // CR and LF would split the header; fetch refuses them, but only when the run starts.
        text(4000).refine((v) => !/[\r\n]/.test(v), "must not contain line breaks"),
      )
      .optional()
      .describe(
        "extra HTTP headers forwarded to the upstream (not credentials: names with key, token, auth...)",
      )
      .superRefine((headers, ctx) => {
        for (const k of Object.keys(headers ?? {})) {
          const problem = headerProblem(k);
          if (problem) ctx.addIssue({ code: "custom", path: [k], message: problem });
        }
      }),
  })
  .strict();
export type Candidate = z.infer<typeof candidateSchema>;

/** A candidate of a group (`candidates`): a candidate with the name the group's report shows. */
export const namedCandidateSchema = candidateSchema.extend({
  name: text(100, { min: 1, trim: true, what: "name" }).describe("how the group's report names it"),
});
export type NamedCandidate = z.infer<typeof namedCandidateSchema>;

export const judgeSchema = z
  .object({
    model: text(200, { min: 1, trim: true, what: "model" }),
    upstream: text(100, { min: 1 }).optional(),
    mode: z.enum(["absolute", "pairwise"], { error: 'mode must be "absolute" or "pairwise"' }),
    rubric: text(20_000).optional(),
    name: text(200, { min: 1, trim: true }).optional(),
    scale: z
      .tuple([z.number().int(), z.number().int()])
      .refine(([lo, hi]) => lo < hi, "scale must be [low, high] with low < high")
      .optional(),
  })
  .strict();
export type JudgeInput = z.infer<typeof judgeSchema>;

export const createEvalSchema = z
  .object({
    dataset: text(200, { min: 1, trim: true }).optional().describe("a saved dataset's name"),
    callIds: z
      .array(text(200, { min: 1 }))
      .min(1, "callIds must not be empty")
      .max(100_000)
      .optional()
      .describe("the baseline calls, when not from a dataset"),
    candidate: candidateSchema
      .optional()
      .describe("what is replayed; default: the logged requests unchanged"),
    candidates: z
      .array(namedCandidateSchema)
      .min(2, "candidates: give at least 2 (or one candidate)")
      .max(10, "candidates: at most 10")
      .optional()
      .describe("several candidates evaluated together: one run each, one group report (not with candidate)"),
    checks: z
      .array(z.unknown())
      .max(100)
      .optional()
      .describe("check objects or shorthands; default: every check of the checks file"),
    judge: judgeSchema.optional(),
    concurrency: z.number().int().min(1).max(64).default(4),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .optional()
      .describe("seeds the pairwise order; random when absent"),
    maxCostUsd: boundedNumber("maxCostUsd")
      .refine((n) => n >= 0, "maxCostUsd must not be negative")
      .optional()
      .describe("refuse to start when the estimate exceeds it"),
    dryRun: z.boolean().default(false).describe("only estimate; create nothing"),
  })
  .strict()
  .superRefine((v, ctx) => {
    if ((v.dataset === undefined) === (v.callIds === undefined))
      ctx.addIssue({ code: "custom", path: ["dataset"], message: "give exactly one of dataset or callIds" });
    if (v.candidates && v.candidate)
      ctx.addIssue({
        code: "custom",
        path: ["candidates"],
        message: "give candidate or candidates, not both",
      });
    const seen = new Set<string>();
    v.candidates?.forEach((c, i) => {
      if (seen.has(c.name))
        ctx.addIssue({
          code: "custom",
          path: ["candidates", i, "name"],
          message: `"${c.name}" is named twice`,
        });
      seen.add(c.name);
    });
  });
export type CreateEvalInput = z.infer<typeof createEvalSchema>;

export const listEvalsSchema = z.object({
  status: z.enum(["queued", "running", "done", "failed", "cancelled"]).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

export const timeseriesSchema = z
  .object({
    metric: z.enum(["reward", "passRate", "cost", "latency", "volume"], {
      error: "metric must be one of reward, passRate, cost, latency, volume",
    }),
    bucket: z.enum(["hour", "day"], { error: 'bucket must be "hour" or "day"' }).default("hour"),
    groupBy: z
      .enum(["model", "upstream", "promptVersion"], {
        error: "groupBy must be one of model, upstream, promptVersion",
      })
      .optional(),
    from: queryTimestamp("from")
      .optional()
      .describe("ms since epoch or ISO 8601; default: 7 days (hour) or 90 days (day) before to"),
    to: queryTimestamp("to").optional().describe("default: now"),
    name: text(200, { min: 1 }).optional().describe("reward: the annotation name; passRate: the check name"),
    source: z.enum(["code", "human", "user", "judge"]).optional().describe("reward: the annotation source"),
    run: text(200, { min: 1 }).optional().describe("passRate: one evaluation run"),
  })
  .strict();
export type TimeseriesQuery = z.infer<typeof timeseriesSchema>;

/**
 * Validates a domain entry point's input (`runEvaluation`, the CLI), a 400 naming the first bad field
 * (`candidate.model`): the HTTP kit's one `parseOrThrow`, with no "body" prefix.
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  return parseOrThrow(schema, value, "");
}
