/**
 * Bounded zod primitives, shared by every schema at the edge (API bodies and queries, evaluation inputs,
 * checks files). Each bound is what both databases AND every reader accept, so that any write the API takes
 * can be read back: a value one store or one reader cannot handle is a 400 naming the field, never a row that
 * breaks a list for good.
 *
 * - Strings: no NUL (PostgreSQL `text` and `jsonb` cannot hold one; the insert, or a later `->>` on it, fails)
 *   and a maximum length.
 * - Times: whole ms from 1970-01-01 to 9999-12-31 (see `MIN_TIME_MS`).
 * - Numbers: finite and within ±`MAX_ABS_NUMBER`.
 * - Free JSON (metadata, data, content, request bodies): no NUL in any string or key, finite numbers, nesting at
 *   most `MAX_JSON_DEPTH` deep, and (where given) at most `MAX_JSON_BYTES` once serialised.
 */
import { z } from "zod";

import { MAX_TIME_MS, MIN_TIME_MS } from "./time-range.ts";

export { MAX_TIME_MS, MIN_TIME_MS };

/**
 * Largest magnitude of a number field (rewards, thresholds, check bounds). Far above any reward or metric
 * people use, and small enough that sums and averages over any number of rows a database can hold stay finite
 * in a double (1e12 × 1e15 rows = 1e27, nowhere near 1.8e308): two rewards of 1.7e308 overflowed
 * PostgreSQL's `avg` into a 500.
 */
export const MAX_ABS_NUMBER = 1e12;

/** Largest JSON value (metadata, data, content) accepted in one field, in bytes when serialised. */
export const MAX_JSON_BYTES = 256 * 1024;

/**
 * Deepest nesting accepted in a body or a JSON field (an object or array counts one level). Real payloads are a
 * handful deep; recursive code (zod, `JSON.stringify`, the stores' JSON functions) overflows the stack at a few
 * thousand.
 */
export const MAX_JSON_DEPTH = 64;

export const NO_NUL = "must not contain NUL characters";

/** True when `s` holds a NUL character (U+0000). */
export const hasNul = (s: string): boolean => s.includes("\u0000");

export const NOT_WELL_FORMED =
  "must be valid Unicode (it holds half of a surrogate pair, e.g. \\ud800, alone)";

/**
 * Why a string cannot be stored as it is, or undefined: a NUL (PostgreSQL `text` and `jsonb` hold none) or a
 * lone surrogate (`jsonb` refuses its `\ud800` escape, so every query casting the row to JSON would fail).
 */
export function stringProblem(s: string): string | undefined {
  if (hasNul(s)) return NO_NUL;
  if (!s.isWellFormed()) return NOT_WELL_FORMED;
  return undefined;
}

/**
 * A string field: at most `max` characters (`min`, default 0), no NUL character.
 * `what` prefixes the messages (`upstreamTag must not be empty`); `trim` trims before the length checks.
 *
 * @example
 * text(500, { min: 1 })                          // an id
 * text(1000, { min: 1, trim: true, what: "tag" }) // "tag must not be empty" for "  "
 */
export function text(max: number, opts: { min?: number; trim?: boolean; what?: string } = {}) {
  const what = opts.what ? `${opts.what} ` : "";
  let s = opts.what ? z.string({ error: `${opts.what} must be a string` }) : z.string();
  if (opts.trim) s = s.trim();
  const min = opts.min ?? 0;
  if (min > 0)
    s = s.min(min, min === 1 ? `${what}must not be empty` : `${what}must be at least ${min} characters`);
  return s.max(max, `${what}is longer than ${max} characters`).superRefine((v, ctx) => {
    const problem = stringProblem(v);
    if (problem) ctx.addIssue({ code: "custom", message: `${what}${problem}` });
  });
}

const TIME_RANGE = "from 1970-01-01 to 9999-12-31";
const timeMessage = (what: string) =>
  `${what ? `${what} ` : ""}must be ms since epoch or an ISO 8601 date-time with an offset, ${TIME_RANGE}`;

function timeInRange(ms: number, what: string, ctx: z.RefinementCtx): number {
  if (Number.isInteger(ms) && ms >= MIN_TIME_MS && ms <= MAX_TIME_MS) return ms;
  ctx.addIssue({ code: "custom", message: timeMessage(what) });
  return z.NEVER;
}

/**
 * A time in a JSON body: whole ms since epoch, or an ISO 8601 date-time with an offset
 * (`2025-01-31T12:00:00Z`), within `MIN_TIME_MS`..`MAX_TIME_MS`. Parsed to ms.
 */
export function timestamp(what = "") {
  return z
    .union([z.number(), z.iso.datetime({ offset: true, error: timeMessage(what) })], {
      error: timeMessage(what),
    })
    .transform((v, ctx) => timeInRange(typeof v === "number" ? v : Date.parse(v), what, ctx));
}

/**
 * A time in a query string (`?from=`, `?to=`): whole ms since epoch written in digits, or an ISO 8601
 * date-time with an offset, within `MIN_TIME_MS`..`MAX_TIME_MS`. Parsed to ms. A number is taken too: a
 * dataset's filter, written as JSON, is read through the same schema.
 */
export function queryTimestamp(what = "") {
  return z.union([z.string(), z.number()], { error: timeMessage(what) }).transform((v, ctx) => {
    if (typeof v === "number") return timeInRange(v, what, ctx);
    const s = v.trim();
    if (/^\d{1,16}$/.test(s)) return timeInRange(Number(s), what, ctx);
    if (z.iso.datetime({ offset: true }).safeParse(s).success) return timeInRange(Date.parse(s), what, ctx);
    ctx.addIssue({ code: "custom", message: timeMessage(what) });
    return z.NEVER;
  });
}

const numberMessage = (what: string) =>
  `${what ? `${what} ` : ""}must be a finite number from -${MAX_ABS_NUMBER} to ${MAX_ABS_NUMBER}`;

/** A number in a JSON body: finite, within ±`MAX_ABS_NUMBER`. */
export function boundedNumber(what = "") {
  return z
    .number({ error: numberMessage(what) })
    .refine((n) => Number.isFinite(n) && Math.abs(n) <= MAX_ABS_NUMBER, numberMessage(what));
}

/**
 * A number in a query string: parsed from its text, then bounded as `boundedNumber`. A number is taken as it
 * is (a dataset's filter, written as JSON, is read through the same schema).
 */
export function queryNumber(what = "") {
  return z.union([z.string(), z.number()], { error: numberMessage(what) }).transform((v, ctx) => {
    const n = typeof v === "number" ? v : v.trim() === "" ? Number.NaN : Number(v);
    if (Number.isFinite(n) && Math.abs(n) <= MAX_ABS_NUMBER) return n;
    ctx.addIssue({ code: "custom", message: numberMessage(what) });
    return z.NEVER;
  });
}

/** What is wrong with a JSON value, and where in it (a path under the field). */
export interface JsonProblem {
  path: Array<string | number>;
  message: string;
}

/**
 * Walks a JSON value once, without recursion, and returns its first problem: a NUL in a string or a key, a
 * number that is not finite (`1e999` parses to Infinity), nesting deeper than `maxDepth`, or anything that
 * is not JSON (when the value comes from code rather than `JSON.parse`). Undefined when it is fine.
 */
export function jsonProblem(value: unknown, maxDepth = MAX_JSON_DEPTH): JsonProblem | undefined {
  const stack: Array<{ v: unknown; path: Array<string | number>; depth: number }> = [
    { v: value, path: [], depth: 0 },
  ];
  while (stack.length > 0) {
    const { v, path, depth } = stack.pop() as (typeof stack)[number];
    if (v === null || typeof v === "boolean") continue;
    if (typeof v === "string") {
      const problem = stringProblem(v);
      if (problem) return { path, message: problem };
      continue;
    }
    if (typeof v === "number") {
      if (!Number.isFinite(v)) return { path, message: "must be a finite number" };
      continue;
    }
    if (typeof v !== "object") {
      // `undefined` stands for an absent field at the top; anywhere else it, a function or a bigint is no JSON.
      if (v === undefined && path.length === 0) continue;
      return { path, message: `is not a JSON value (${typeof v})` };
    }
    if (depth + 1 > maxDepth) return { path, message: `is nested more than ${maxDepth} levels deep` };
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: [...path, i], depth: depth + 1 });
      continue;
    }
    const entries = Object.entries(v);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [k, child] = entries[i] as [string, unknown];
      const problem = stringProblem(k);
      if (problem) return { path, message: `has a key that ${problem}` };
      stack.push({ v: child, path: [...path, k], depth: depth + 1 });
    }
  }
  return undefined;
}

/**
 * How deep a parsed JSON value is nested (a scalar is 0, `[]` is 1, `[[1]]` is 2), measured without recursion
 * so that a body nested 100,000 deep is measured, not a stack overflow. Stops counting past `stopAbove`.
 */
export function jsonDepth(value: unknown, stopAbove = Number.POSITIVE_INFINITY): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== "object") continue;
    const d = depth + 1;
    if (d > max) max = d;
    if (max > stopAbove) return max;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === "object") stack.push([child, d]);
    }
  }
  return max;
}

function checkJson(v: unknown, ctx: z.RefinementCtx, maxBytes: number | undefined): void {
  const problem = jsonProblem(v);
  if (problem) {
    ctx.addIssue({ code: "custom", path: problem.path, message: problem.message });
    return;
  }
  // Serialising is safe once the depth is bounded.
  if (maxBytes !== undefined && v !== undefined && Buffer.byteLength(JSON.stringify(v)) > maxBytes)
    ctx.addIssue({ code: "custom", message: `is larger than ${maxBytes} bytes` });
}

/**
 * Any JSON value (metadata, data, content...), checked by `jsonProblem` and, unless `maxBytes` is null,
 * at most `maxBytes` (default `MAX_JSON_BYTES`) once serialised.
 */
export function jsonValue(opts: { maxBytes?: number | null } = {}) {
  const maxBytes = opts.maxBytes === null ? undefined : (opts.maxBytes ?? MAX_JSON_BYTES);
  return z.unknown().superRefine((v, ctx) => checkJson(v, ctx, maxBytes));
}

/**
 * A JSON object (metadata, a request body), checked like `jsonValue`. `maxBytes: null` leaves the size to the
 * body limit (`INTERSEBD_MAX_BODY_BYTES`), for request and response bodies.
 */
export function jsonObject(opts: { maxBytes?: number | null; error?: string } = {}) {
  const maxBytes = opts.maxBytes === null ? undefined : (opts.maxBytes ?? MAX_JSON_BYTES);
  return z
    .record(z.string(), z.unknown(), { error: opts.error ?? "must be a JSON object" })
    .superRefine((v, ctx) => checkJson(v, ctx, maxBytes));
}
