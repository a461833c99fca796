/**
 * Request schemas of datasets and exports, validated at the edge. A selection filter is `GET /api/calls`'s
 * (reused, not copied) plus `where` (see `where.ts`), `hasCorrection` and `hasComparison`.
 */
import { z } from "zod";
import { callFilterSchema } from "../calls/index.ts";
import { jsonObject, queryNumber, text } from "../util/bounds.ts";
import { formats } from "./formats.ts";
import { groupKeys } from "./split.ts";
import { parseWhere, WhereError } from "./where.ts";

const flag = (what: string) =>
  z
    .enum(["true", "false", "1", "0"], { error: `${what} must be true or false` })
    .transform((v) => v === "true" || v === "1");

const whereSchema = text(2000)
  .transform((s, ctx) => {
    try {
      return parseWhere(s);
    } catch (err) {
      if (!(err instanceof WhereError)) throw err;
      ctx.addIssue({ code: "custom", message: err.message });
      return z.NEVER;
    }
  })
  .describe('annotation conditions joined by "and", e.g. "reward >= 1 and has correction"');

/** A dataset's filter, in its query-string form. */
export const selectionFilterSchema = callFilterSchema.extend({
  where: whereSchema.optional(),
  hasCorrection: flag("hasCorrection").optional().describe("only calls with (true) or without a correction"),
  hasComparison: flag("hasComparison")
    .optional()
    .describe("only calls a pairwise choice names (by id, completion id or tag), or (false) none"),
});
export type SelectionFilter = z.infer<typeof selectionFilterSchema>;

/**
 * Brings a filter written as JSON (`{ "model": ["a", "b"], "annotated": true }`) to the query-string form the
 * schema reads (`model=a,b&annotated=true`), so one schema serves both and stored filters re-parse the same.
 */
export function normalizeFilterInput(input: unknown): unknown {
  if (typeof input !== "object" || input === null || Array.isArray(input)) return input;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input)) {
    if (v === undefined || v === null) continue;
    out[k] = Array.isArray(v) ? v.join(",") : typeof v === "boolean" ? String(v) : v;
  }
  return out;
}

export const datasetNameSchema = z
  .string()
  .min(1, "name must not be empty")
  .max(100, "name is longer than 100 characters")
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
    "name must be letters, digits, '.', '_' or '-' (and start with a letter or digit)",
  );

const filterObject = jsonObject({ error: "filter must be a JSON object" });

export const createDatasetSchema = z
  .object({
    name: datasetNameSchema,
    description: text(10_000).nullable().optional(),
    filter: filterObject.default({}),
  })
  .strict();
export type CreateDatasetInput = z.infer<typeof createDatasetSchema>;

export const updateDatasetSchema = z
  .object({
    name: datasetNameSchema.optional().describe("renames the dataset"),
    description: text(10_000).nullable().optional(),
    filter: filterObject.optional().describe("replaces the whole filter"),
  })
  .strict();
export type UpdateDatasetInput = z.infer<typeof updateDatasetSchema>;

/** `GET /api/export`: the selection, plus the format and how to write it. */
export const exportQuerySchema = selectionFilterSchema
  .extend({
    format: z.enum(formats, { error: `format must be one of ${formats.join(", ")}` }),
    dataset: datasetNameSchema.optional().describe("a saved dataset; the other filters narrow it further"),
    split: z.coerce
      .number()
      .min(0, "split must be from 0 to 1")
      .max(1, "split must be from 0 to 1")
      .optional()
      .describe("fraction of groups sent to validation (0.1 = about 10%)"),
    part: z
      .enum(["train", "validation"])
      .optional()
      .describe("which side of the split to stream (default train)"),
    groupBy: z.enum(groupKeys).default("session").describe("what one side must keep together"),
    threshold: queryNumber("threshold").default(0.5).describe("trl-kto: label = reward >= threshold"),
    report: flag("report").optional().describe("answer with the JSON report (counts, drops) instead of rows"),
    manifest: flag("manifest").optional().describe("stream each row's provenance instead of the row"),
  })
  .strict();
export type ExportQuery = z.infer<typeof exportQuerySchema>;

export const snapshotPageSchema = z.object({
  // A position in the snapshot: bounded to its integer column (2^53 was a 500 on PostgreSQL).
  cursor: z.coerce.number().int().min(0).max(2_147_483_647).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(1000),
});
