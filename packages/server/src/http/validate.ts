/**
 * Validation at the edge: every body and query goes through its zod schema here, and a failure becomes a
 * 400 naming the field (`[2].numericReward` for the third item of a batch). The one "parse or 400" of the
 * server: route tables (`route.ts`) call it for what they declare, domains for their own entry points.
 */
import type { Context, Next } from "hono";
import type { z } from "zod";
import { hasNul, jsonDepth, MAX_JSON_DEPTH, NO_NUL } from "../util/bounds.ts";
import { fieldPath, issueMessage } from "../util/zod-issues.ts";
import { HttpError } from "./error.ts";

/**
 * Validates `value`, throwing a 400 that names the first bad field. `where` says what was read: `body` (the
 * default) and `query` prefix the message, a batch item's index (`[2]`) prefixes the field
 * (`[2].numericReward`), and `""` (a domain's own entry point, such as an evaluation started from code or the
 * CLI) names the field alone (`field candidate.model: ...`).
 */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, where = "body"): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue?.path ?? [];
  const message = issueMessage(issue);
  if (where === "") {
    const field = fieldPath(path);
    throw new HttpError(400, `field ${field || "(root)"}: ${message}`, { field: field || undefined });
  }
  // In a batch, `where` is the item's index, so the field reads `[2].numericReward`.
  const field = where.startsWith("[") ? fieldPath(path, where) : fieldPath(path) || where;
  throw new HttpError(400, `${where.startsWith("[") ? "" : `${where} `}field ${field}: ${message}`, {
    field,
  });
}

/**
 * Reads a JSON body; a malformed one is a 400, not a crash. So is one nested deeper than `MAX_JSON_DEPTH`:
 * `JSON.parse` takes any depth, but zod, `JSON.stringify` and the stores recurse, and overflowed the stack
 * (a 500) at a few thousand levels. The depth is measured without recursion, before any schema sees the body.
 */
export async function jsonBody(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (!text.trim()) throw new HttpError(400, "request body is empty (expected JSON)");
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `request body is not valid JSON: ${(err as Error).message}`);
  }
  const depth = jsonDepth(body);
  if (depth > MAX_JSON_DEPTH)
    throw new HttpError(400, `request body is nested ${depth} levels deep; at most ${MAX_JSON_DEPTH}`);
  return body;
}

/**
 * Middleware for `/api/*`: a NUL character (decoded) in the path or in a query parameter is a 400 naming it.
 * PostgreSQL cannot compare text with a NUL in it, so `GET /api/calls/%00` or `?userId=%00` failed the query
 * with a 500; no id, tag or filter value ever holds one.
 */
export async function refuseNul(c: Context, next: Next): Promise<void> {
  const url = new URL(c.req.url);
  if (/%00/.test(url.pathname) || hasNul(url.pathname))
    throw new HttpError(400, `path ${NO_NUL}`, { field: "path" });
  // URLSearchParams decodes without throwing (a malformed escape stays as written).
  for (const [name, value] of url.searchParams) {
    if (hasNul(name)) throw new HttpError(400, `query: a parameter name ${NO_NUL}`, { field: "query" });
    if (hasNul(value)) throw new HttpError(400, `query field ${name}: ${NO_NUL}`, { field: name });
  }
  await next();
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
