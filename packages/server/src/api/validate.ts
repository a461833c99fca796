/**
 * Validation at the edge: every body and query goes through its zod schema here, and a failure becomes a
 * 400 naming the field (`[2].numericReward` for the third item of a batch).
 */
import type { Context } from "hono";
import type { z } from "zod";
import { HttpError } from "../util/http-error.ts";
import { fieldPath, issueMessage } from "../util/zod-issues.ts";

export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, where = "body"): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue?.path ?? [];
  // In a batch, `where` is the item's index, so the field reads `[2].numericReward`.
  const field = where.startsWith("[") ? fieldPath(path, where) : fieldPath(path) || where;
  const message = issueMessage(issue);
  throw new HttpError(400, `${where.startsWith("[") ? "" : `${where} `}field ${field}: ${message}`, {
    field,
  });
}

/** Reads a JSON body; a malformed one is a 400, not a crash. */
export async function jsonBody(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (!text.trim()) throw new HttpError(400, "request body is empty (expected JSON)");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `request body is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Reads a body that may be one item or an array of them (a batch), validating each.
 * Returns the items and whether it was a batch.
 */
export async function oneOrBatch<S extends z.ZodType>(
  c: Context,
  schema: S,
  maxBatch = 10_000,
): Promise<{ items: z.infer<S>[]; batch: boolean }> {
  const body = await jsonBody(c);
  if (Array.isArray(body)) {
    if (body.length === 0) throw new HttpError(400, "batch is empty");
    if (body.length > maxBatch) throw new HttpError(413, `batch of ${body.length} exceeds ${maxBatch} items`);
    return { items: body.map((item, i) => parseOrThrow(schema, item, `[${i}]`)), batch: true };
  }
  return { items: [parseOrThrow(schema, body)], batch: false };
}

/**
 * Reads the query string through its schema. An empty parameter (`?minReward=`, as an empty form field sends it)
 * counts as absent rather than as 0; a parameter the schema does not know is a 400 listing those it does, so a
 * typo (`?modle=`) cannot silently widen a list or an export to every call.
 */
export function queryOf<S extends z.ZodObject>(c: Context, schema: S): z.infer<S> {
  const query = Object.fromEntries(Object.entries(c.req.query()).filter(([, v]) => v !== ""));
  const known = Object.keys(schema.shape);
  const unknown = Object.keys(query).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw new HttpError(
      400,
      `query: unknown parameter${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")} (known: ${known.join(", ")})`,
      { field: unknown[0] },
    );
  }
  return parseOrThrow(schema, query, "query");
}
