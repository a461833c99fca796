/**
 * Rubrics: named feedback forms. A built-in `default` (thumbs, comment, correction) so notify works with no
 * setup; more from `INTERSEBD_RUBRICS_FILE` (a JSON array) and from the app (`PUT /api/rubrics/{name}`).
 *
 * The file is loaded at every start. A rubric edited in the app keeps its edits across restarts until the file's
 * own definition of it changes: the store remembers what the file last said (`file_definition`).
 */
import fs from "node:fs";
import { z } from "zod";
import { ConfigError } from "../config/index.ts";
import { HttpError } from "../http/error.ts";
import type { Store } from "../store/index.ts";
import { text } from "../util/bounds.ts";
import { isoTime } from "../util/time.ts";

export const rubricFieldTypes = ["scale", "boolean", "choice", "text", "correction"] as const;
export type RubricFieldType = (typeof rubricFieldTypes)[number];

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const name = (what: string) =>
  z
    .string({ error: `${what} must be a string` })
    .trim()
    .min(1, `${what} must not be empty`)
    .max(100, `${what} is longer than 100 characters`)
    .regex(NAME, `${what} must be letters, digits, _, . or - (starting with a letter or digit)`);

const fieldSchema = z
  .object({
    name: name("name"),
    type: z.enum(rubricFieldTypes, { error: `type must be one of ${rubricFieldTypes.join(", ")}` }),
    label: text(500).optional(),
    description: text(5000).optional(),
    min: z.number().int("min must be a whole number").min(-1e6).max(1e6).optional(),
    max: z.number().int("max must be a whole number").min(-1e6).max(1e6).optional(),
    labels: z.array(text(200)).max(101).optional().describe("scale labels, from min to max"),
    options: z
      .array(text(200, { min: 1, what: "an option" }))
      .max(100)
      .optional(),
    required: z.boolean().optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    if (f.type === "scale") {
      const min = f.min ?? 1;
      const max = f.max ?? 5;
      if (min >= max)
        ctx.addIssue({ code: "custom", path: ["max"], message: "max must be greater than min" });
      else if (max - min > 100)
        ctx.addIssue({ code: "custom", path: ["max"], message: "a scale has at most 101 steps" });
      else if (f.labels && f.labels.length > max - min + 1)
        ctx.addIssue({
          code: "custom",
          path: ["labels"],
          message: `a scale from ${min} to ${max} has at most ${max - min + 1} labels`,
        });
    } else {
      for (const k of ["min", "max", "labels"] as const) {
        if (f[k] !== undefined)
          ctx.addIssue({ code: "custom", path: [k], message: `${k} applies only to scale fields` });
      }
    }
    if (f.type === "choice") {
      if (!f.options?.length)
        ctx.addIssue({ code: "custom", path: ["options"], message: "a choice field needs options" });
      else if (new Set(f.options).size !== f.options.length)
        ctx.addIssue({ code: "custom", path: ["options"], message: "options must be distinct" });
    } else if (f.options !== undefined) {
      ctx.addIssue({ code: "custom", path: ["options"], message: "options apply only to choice fields" });
    }
  });
export type RubricField = z.infer<typeof fieldSchema>;

/** A rubric as given (in the file, or as the body of `PUT /api/rubrics/{name}`). */
export const rubricSchema = z
  .object({
    name: name("name"),
    description: text(5000).optional(),
    fields: z
      .array(fieldSchema, { error: "fields must be an array" })
      .min(1, "a rubric needs at least one field")
      .max(50),
  })
  .strict()
  .superRefine((r, ctx) => {
    const seen = new Set<string>();
    r.fields.forEach((f, i) => {
      if (seen.has(f.name))
        ctx.addIssue({ code: "custom", path: ["fields", i, "name"], message: `duplicate field "${f.name}"` });
      seen.add(f.name);
    });
  });
export type RubricDefinition = z.infer<typeof rubricSchema>;

/** A rubric as the API shows it. */
export interface RubricView extends RubricDefinition {
  /** `builtin` (the untouched default), `file` or `app`. */
  source: "builtin" | "file" | "app";
  updatedAt: string | null;
}

export const DEFAULT_RUBRIC: RubricDefinition = {
  name: "default",
  description: "Was the answer good? Optionally say why, or correct it.",
  fields: [
    { name: "reward", type: "boolean", label: "Good answer?" },
    { name: "comment", type: "text", label: "Comment" },
    { name: "correction", type: "correction", label: "Correction" },
  ],
};

function view(row: { definition: string; source: string; updatedAt: number }): RubricView {
  const def = JSON.parse(row.definition) as RubricDefinition;
  return {
    ...def,
    source: row.source === "file" ? "file" : "app",
    updatedAt: isoTime(row.updatedAt),
  };
}

const builtinView = (): RubricView => ({ ...DEFAULT_RUBRIC, source: "builtin", updatedAt: null });

/** Reads and validates the rubrics file. @throws ConfigError naming the file and the entry. */
export function readRubricsFile(file: string): RubricDefinition[] {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new ConfigError(`INTERSEBD_RUBRICS_FILE ${file}: ${(err as Error).message}`);
  }
  if (!Array.isArray(raw)) throw new ConfigError(`INTERSEBD_RUBRICS_FILE ${file}: expected a JSON array`);
  const names = new Set<string>();
  return raw.map((item, i) => {
    const r = rubricSchema.safeParse(item);
    if (!r.success) {
      const issue = r.error.issues[0];
      throw new ConfigError(
        `INTERSEBD_RUBRICS_FILE ${file}: [${i}].${issue?.path.join(".")}: ${issue?.message}`,
      );
    }
    if (names.has(r.data.name))
      throw new ConfigError(`INTERSEBD_RUBRICS_FILE ${file}: rubric "${r.data.name}" is defined twice`);
    names.add(r.data.name);
    return r.data;
  });
}

/**
 * Writes the file's rubrics to the store: new names are added, and a name whose definition in the file changed
 * since the last load is overwritten (even if edited in the app since). Safe when several instances start at once.
 */
export async function syncFileRubrics(store: Store, rubrics: RubricDefinition[]): Promise<void> {
  const now = Date.now();
  for (const r of rubrics) {
    const def = JSON.stringify(r);
    const existing = await store.db
      .selectFrom("rubrics")
      .select(["fileDefinition"])
      .where("name", "=", r.name)
      .executeTakeFirst();
    if (existing?.fileDefinition === def) continue;
    await store.db
      .insertInto("rubrics")
      .values({
        name: r.name,
        definition: def,
        source: "file",
        fileDefinition: def,
        createdAt: now,
        updatedAt: now,
      })
      .onConflict((oc) =>
        oc
          .column("name")
          .doUpdateSet({ definition: def, source: "file", fileDefinition: def, updatedAt: now }),
      )
      .execute();
  }
}

/** Every rubric, `default` first, then by name. */
export async function listRubrics(store: Store): Promise<RubricView[]> {
  const rows = await store.db.selectFrom("rubrics").selectAll().orderBy("name").execute();
  const out = rows.map(view);
  if (!out.some((r) => r.name === DEFAULT_RUBRIC.name)) out.unshift(builtinView());
  return out.sort((a, b) => (a.name === "default" ? -1 : b.name === "default" ? 1 : 0));
}

/** One rubric by name (the built-in default unless it was redefined), or undefined. */
export async function getRubric(store: Store, rubricName: string): Promise<RubricView | undefined> {
  const row = await store.db
    .selectFrom("rubrics")
    .selectAll()
    .where("name", "=", rubricName)
    .executeTakeFirst();
  if (row) return view(row);
  return rubricName === DEFAULT_RUBRIC.name ? builtinView() : undefined;
}

/** Creates or replaces a rubric from the app. */
export async function putRubric(store: Store, rubric: RubricDefinition): Promise<RubricView> {
  const now = Date.now();
  const def = JSON.stringify(rubric);
  await store.db
    .insertInto("rubrics")
    .values({
      name: rubric.name,
      definition: def,
      source: "app",
      fileDefinition: null,
      createdAt: now,
      updatedAt: now,
    })
    .onConflict((oc) => oc.column("name").doUpdateSet({ definition: def, source: "app", updatedAt: now }))
    .execute();
  return { ...rubric, source: "app", updatedAt: isoTime(now) };
}

/** Throws the 400 that names `field` when `rubricName` is not a known rubric. */
export async function requireRubric(store: Store, rubricName: string, field: string): Promise<RubricView> {
  const r = await getRubric(store, rubricName);
  if (!r)
    throw new HttpError(400, `${field}: no rubric named "${rubricName}" (see GET /api/rubrics)`, { field });
  return r;
}
